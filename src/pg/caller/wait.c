/*
 * pinnacle_wait(run_id, timeout): waits for a run to end and returns its status. It only
 * reads: each poll reads pinnacle.runs with a fresh snapshot (so it needs READ COMMITTED) and
 * asks the lifecycle whether the run's supervisor is alive, so it works in a read-only
 * transaction and on a hot standby.
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "pgstat.h"

#include "pinnacle.h"
#include "run_lifecycle.h"

PG_FUNCTION_INFO_V1(pinnacle_wait);


#define POLL_MS 100

/* The run's status in pinnacle.runs, read with a fresh snapshot. */
static char *
read_status(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *status;

	pt_spi_connect();
	pt_check_schema();
	/* not read_only: in READ COMMITTED that takes a new snapshot for each read */
	if (SPI_execute_with_args("SELECT status FROM pinnacle.runs WHERE id = $1", 1, types, values, NULL,
							  false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pinnacle.runs");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", run_id)));
	status = MemoryContextStrdup(caller_context,
								 SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	SPI_finish();
	return status;
}

/* The run's status as the world is now: a live status whose supervisor is gone reads
 * interrupted, as pinnacle.mark_lost_runs() will record it. On a standby the primary's
 * processes cannot be seen, so the replicated status is the answer. */
static char *
run_status(int64 run_id)
{
	char	   *status = read_status(run_id);

	if (pt_run_status_is_final(status) || RecoveryInProgress() || pt_run_is_live(run_id))
		return status;
	/* a supervisor commits the run's end before its exit frees the lock: read again */
	status = read_status(run_id);
	return pt_run_status_is_final(status) ? status : pstrdup(PT_STATUS_INTERRUPTED);
}

Datum
pinnacle_wait(PG_FUNCTION_ARGS)
{
	int64		run_id;
	TimestampTz deadline = 0;
	char	   *status;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("pinnacle_wait: run_id must not be NULL")));
	run_id = PG_GETARG_INT64(0);
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pinnacle_wait needs READ COMMITTED isolation"),
				 errdetail("Under REPEATABLE READ or SERIALIZABLE the run's status cannot change within the transaction.")));
	if (!PG_ARGISNULL(1))
	{
		Interval   *timeout = PG_GETARG_INTERVAL_P(1);

		deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(GetCurrentTimestamp()),
														   IntervalPGetDatum(timeout)));
	}

	for (;;)
	{
		status = run_status(run_id);
		if (pt_run_status_is_final(status) || (deadline != 0 && GetCurrentTimestamp() >= deadline))
			break;
		pfree(status);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		/* nobody would read the answer: stop polling for a client that is gone */
		if (pt_client_connection_lost())
			ereport(FATAL,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pinnacle_wait: the client connection is gone")));
	}
	PG_RETURN_TEXT_P(cstring_to_text(status));
}
