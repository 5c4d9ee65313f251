#include "postgres.h"

#include "pinnacle_core.h"
#include "runtime.h"

void
pt_runtime_ensure(int threads)
{
	static int	started_threads = 0;

	if (started_threads == threads)
		return;
	if (!pt_runtime_init(threads))
		ereport(ERROR, (errmsg("could not start libtorch: %s", pt_last_error())));
	started_threads = threads;
}
