/*
 * pinnacle_train: train PyTorch models on the rows of a SQL query, inside PostgreSQL.
 * The module's settings. This library does not link libtorch: a process loads the torch core
 * when it first needs it (torch_core.h). Preloaded, the postmaster loads it here, so that every
 * process forked from it starts with libtorch mapped; it runs no torch code (DESIGN.md section 5).
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include <limits.h>

#include "lost_runs.h"
#include "pinnacle.h"
#include "torch_core.h"

PG_MODULE_MAGIC;

int			pinnacle_memory_limit_mb = 4096;
int			pinnacle_predict_threads = 1;
int			pinnacle_max_workers = 2;
char	   *pinnacle_rendezvous_address = NULL;
int			pinnacle_predict_cache_size = 8;
int			pinnacle_max_runs_per_role = 4;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("pinnacle.memory_limit",
							"The memory a run's trainer may use: the default and the ceiling of compute_kwargs.memory_limit.",
							"Only a superuser sets it (also per role, with ALTER ROLE ... SET); a spec may only ask for less.",
							&pinnacle_memory_limit_mb, 4096, 1, INT_MAX / 2,
							PGC_SUSET, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.predict_threads",
							"Intra-op threads pinnacle_predict uses in a backend.",
							NULL,
							&pinnacle_predict_threads, 1, 1, 64,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.predict_cache_size",
							"Models a backend keeps loaded for pinnacle_predict.",
							"The least recently used beyond it are freed, but none in use by the current transaction.",
							&pinnacle_predict_cache_size, 8, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.max_runs_per_role",
							"Runs a role other than a superuser may have queued or running at once.",
							"Each holds a background worker: no role may take them all.",
							&pinnacle_max_runs_per_role, 4, 1, 1024,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pinnacle.max_workers",
							"Runs that train at once; more wait as 'queued' until one ends.",
							"Each run also needs a background worker slot (max_worker_processes).",
							&pinnacle_max_workers, 2, 1, 1024,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pinnacle.rendezvous_address",
							   "The address of this host that the ranks of a run across servers (compute_kwargs.servers) reach it at.",
							   "On the calling server the run's TCPStore is reached there, and on every server its ranks listen for the others' there.",
							   &pinnacle_rendezvous_address, "127.0.0.1",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pinnacle");
	if (process_shared_preload_libraries_in_progress)
	{
		pt_register_monitor();
		pt_torch_require();
	}
}

/* From libpq/libpq.h, whose includes need the GSSAPI headers, which a build has no other use for. */
extern bool pq_check_connection(void);

bool
pt_client_connection_lost(void)
{
	/* a background worker that runs SQL (pg_cron's) may send its output to a queue: only a
	 * process with a client socket has a connection to lose */
	return MyProcPort != NULL && whereToSendOutput == DestRemote && !pq_check_connection();
}

void
pt_spi_connect(void)
{
	int			rc = SPI_connect();

	if (rc != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(rc));
}

void
pt_check_schema(void)
{
	/* a schema once seen current stays so: an extension cannot be downgraded in place */
	static bool current = false;
	char	   *version;

	if (current)
		return;
	if (SPI_execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'pinnacle_train'", true, 1) !=
		SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the version of extension pinnacle_train");
	version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (strcmp(version, PT_SCHEMA_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pinnacle_train's schema in this database is version %s and its library version %s: "
						"run ALTER EXTENSION pinnacle_train UPDATE", version, PT_SCHEMA_VERSION)));
	current = true;
}

int
pt_sqlstate_of(PtErrorKind kind)
{
	switch (kind)
	{
		case PT_ERROR_SPEC:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case PT_ERROR_DATA:
			return ERRCODE_DATA_EXCEPTION;
		case PT_ERROR_MEMORY:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case PT_ERROR_PEER:
			return ERRCODE_CONNECTION_EXCEPTION;
		case PT_ERROR_INTERNAL:
			break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

BackgroundWorkerHandle *
pt_register_worker(dsm_segment *segment, const char *function, const char *name, const char *type,
				   const char *purpose)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pinnacle_train");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", type);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(segment));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no background worker slot is free %s", purpose),
				 errhint("Raise max_worker_processes (now %d) or wait for running workers to end.",
						 max_worker_processes)));
	return handle;
}
