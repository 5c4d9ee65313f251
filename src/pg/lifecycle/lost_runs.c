/*
 * Lost runs after a restart. When the server crashes or stops immediately, no supervisor can
 * record its run's end. With pinnacle_train in shared_preload_libraries, the monitor (a
 * background worker the postmaster starts, and starts again after every crash restart)
 * sweeps each database once recovery is over: every queued or running run whose supervisor
 * is gone becomes 'interrupted' before anyone calls a pinnacle function. Without preloading,
 * the next pinnacle_train call sweeps its database, and pinnacle_wait reads such a run as
 * interrupted.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "lost_runs.h"
#include "pinnacle.h"

PGDLLEXPORT void pinnacle_monitor_main(Datum main_arg);
PGDLLEXPORT void pinnacle_sweep_main(Datum main_arg);

static BackgroundWorker
worker_named(const char *name, const char *function)
{
	BackgroundWorker worker = {0};

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pinnacle_train");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "%s", name);
	return worker;
}

void
pt_register_monitor(void)
{
	BackgroundWorker worker = worker_named("pinnacle_train monitor", "pinnacle_monitor_main");

	/* restarted after a crash restart, which is when it is needed */
	worker.bgw_restart_time = 5;
	RegisterBackgroundWorker(&worker);
}

/* The databases that accept connections. */
static List *
connectable_databases(void)
{
	List	   *databases = NIL;
	MemoryContext outer = CurrentMemoryContext;
	Relation	relation;
	TableScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	relation = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(relation, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database database = (Form_pg_database) GETSTRUCT(tuple);

		if (database->datallowconn)
		{
			MemoryContext previous = MemoryContextSwitchTo(outer);

			databases = lappend_oid(databases, database->oid);
			MemoryContextSwitchTo(previous);
		}
	}
	table_endscan(scan);
	table_close(relation, AccessShareLock);
	CommitTransactionCommand();
	return databases;
}

static void
sweep_database(Oid database)
{
	BackgroundWorker worker = worker_named("pinnacle_train sweep", "pinnacle_sweep_main");
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = ObjectIdGetDatum(database);
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle) ||
		WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
	{
		ereport(WARNING, (errmsg("pinnacle_train monitor: could not sweep database %u for lost runs", database)));
		return;
	}
	(void) WaitForBackgroundWorkerShutdown(handle);
}

void
pinnacle_monitor_main(Datum main_arg)
{
	ListCell   *lc;

	/* a shutdown may come while it waits for a sweep worker the postmaster will not start
	 * any more: die() ends the wait at its next interrupt check */
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	foreach(lc, connectable_databases())
		sweep_database(lfirst_oid(lc));

	/* stay, so that the postmaster starts the monitor again after a crash restart */
	for (;;)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* In one database: pinnacle.mark_lost_runs(), where pinnacle_train is installed. */
void
pinnacle_sweep_main(Datum main_arg)
{
	int			lost = 0;

	/* not the default handler, which raises FATAL inside the signal handler wherever the
	 * worker is (in malloc, holding a lock): a shutdown ends it at an interrupt check */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg), InvalidOid, 0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pt_spi_connect();
	if (SPI_execute("SELECT 1 FROM pg_extension WHERE extname = 'pinnacle_train'", true, 0) == SPI_OK_SELECT &&
		SPI_processed == 1 && SPI_execute("SELECT pinnacle.mark_lost_runs()", false, 0) == SPI_OK_SELECT)
	{
		bool		isnull;

		lost = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (lost > 0)
		ereport(LOG, (errmsg("pinnacle_train: %d run(s) lost in a crash or an immediate shutdown are now interrupted", lost)));
	proc_exit(0);
}
