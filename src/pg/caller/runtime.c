#include "postgres.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include "pinnacle_core.h"
#include "torch_core.h"
#include "runtime.h"

/* libtorch calls the system libblas.so.3: OpenBLAS trains 25 to 50 times faster than the
 * reference BLAS (DESIGN.md section 5), so say so when another one is loaded. */
static void
warn_unless_openblas(void)
{
	void	   *sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
	Dl_info		info;
	char		path[PATH_MAX];

	if (sgemm == NULL || dladdr(sgemm, &info) == 0 || info.dli_fname == NULL)
		return;
	if (realpath(info.dli_fname, path) == NULL)
		strlcpy(path, info.dli_fname, sizeof(path));
	if (strstr(path, "openblas") == NULL)
		ereport(WARNING,
				(errmsg("libtorch is using the BLAS in \"%s\", not OpenBLAS", path),
				 errhint("Install libopenblas0-pthread (and select it with update-alternatives): "
						 "the reference BLAS is about 25 times slower.")));
}

void
pt_runtime_ensure(int threads)
{
	static int	started_threads = 0;

	if (started_threads == threads)
		return;
	pt_torch_require();
	if (!pt_torch.pt_runtime_init(threads))
		ereport(ERROR, (errmsg("could not start libtorch: %s", pt_last_error())));
	if (started_threads == 0)
		warn_unless_openblas();
	started_threads = threads;
}
