#include "postgres.h"

#include <dlfcn.h>

#include "miscadmin.h"

#include "torch_core.h"

PtTorchCore pt_torch;

void
pt_torch_require(void)
{
	static bool loaded = false;
	char		path[MAXPGPATH];
	void	   *core;

	if (loaded)
		return;
	/* RTLD_GLOBAL as PostgreSQL loads a library: libtorch's BLAS is then found by name
	 * (runtime.c, compute_threads.cpp), as when pinnacle_train.so linked libtorch itself */
	snprintf(path, sizeof(path), "%s/pinnacle_train_torch.so", pkglib_path);
	core = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (core == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not load pinnacle_train's torch core: %s", dlerror()),
				 errhint("Install pinnacle_train_torch.so with pinnacle_train.so, from the same build.")));
#define PT_TORCH_LOOKUP(type, name, parameters) \
	pt_torch.name = (type (*) parameters) dlsym(core, #name); \
	if (pt_torch.name == NULL) \
		ereport(ERROR, \
				(errcode(ERRCODE_UNDEFINED_FUNCTION), \
				 errmsg("pinnacle_train's torch core \"%s\" has no function %s", path, #name), \
				 errhint("Install pinnacle_train_torch.so with pinnacle_train.so, from the same build.")));
	PT_TORCH_ENTRIES(PT_TORCH_LOOKUP)
#undef PT_TORCH_LOOKUP
	loaded = true;
}
