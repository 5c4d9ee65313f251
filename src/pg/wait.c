/*
 * pinnacle_wait(run_id, timeout): waits for a run to end and returns its status. It polls
 * pinnacle.runs with a fresh snapshot each time, so it needs READ COMMITTED.
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "pgstat.h"

PG_FUNCTION_INFO_V1(pinnacle_wait);

#define POLL_MS 100

static bool
is_final(const char *status)
{
	return strcmp(status, "queued") != 0 && strcmp(status, "running") != 0;
}

static char *
run_status(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *status;

	SPI_connect();
	/* a run whose worker died is 'interrupted', not 'running' forever */
	SPI_execute("SELECT pinnacle.mark_lost_runs()", false, 0);
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

Datum
pinnacle_wait(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	TimestampTz deadline = 0;
	char	   *status;

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
		if (is_final(status) || (deadline != 0 && GetCurrentTimestamp() >= deadline))
			break;
		pfree(status);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(status));
}
