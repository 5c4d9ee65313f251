/*
 * pinnacle_train: train PyTorch models on the rows of a SQL query, inside PostgreSQL.
 * The module's settings. Nothing here touches torch: loading this library is safe in any
 * process, and torch starts only when a function first needs it (see runtime.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include <limits.h>

#include "pinnacle.h"

PG_MODULE_MAGIC;

int			pinnacle_memory_limit_mb = 4096;
int			pinnacle_predict_threads = 1;
int			pinnacle_max_workers = 2;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("pinnacle.memory_limit",
							"Default limit for a run's in-memory training rows.",
							"A run's compute_kwargs.memory_limit overrides it.",
							&pinnacle_memory_limit_mb, 4096, 1, INT_MAX / 2,
							PGC_USERSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.predict_threads",
							"Intra-op threads pinnacle_predict uses in a backend.",
							NULL,
							&pinnacle_predict_threads, 1, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.max_workers",
							"Runs that train at once; more wait as 'queued' until one ends.",
							"Each run also needs a background worker slot (max_worker_processes).",
							&pinnacle_max_workers, 2, 1, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pinnacle");
}
