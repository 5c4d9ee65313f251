/*
 * pinnacle_cancel(run_id): asks a queued or running run's supervisor to stop; the run ends
 * 'cancelled' and keeps its checkpoints. Only the run's owner sees the run (row-level
 * security), so only the owner (or a superuser) can cancel it. It writes nothing, so it works
 * in a read-only transaction.
 */
#include "postgres.h"

#include <signal.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/builtins.h"

#include "pinnacle.h"
#include "run_lifecycle.h"

PG_FUNCTION_INFO_V1(pinnacle_cancel);

Datum
pinnacle_cancel(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	char	   *status;
	bool		isnull;
	int			supervisor_pid;
	PGPROC	   *supervisor;

	pt_spi_connect();
	pt_check_schema();
	if (SPI_execute_with_args("SELECT status, worker_pid FROM pinnacle.runs WHERE id = $1", 1, types, values,
							  NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pinnacle.runs");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", run_id)));
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	supervisor_pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (pt_run_status_is_final(status) || isnull || !pt_run_is_live(run_id))
	{
		SPI_finish();
		PG_RETURN_BOOL(false);
	}
	SPI_finish();
	/* the liveness lock says the run's supervisor runs; the process array says it is this pid */
	supervisor = BackendPidGetProc(supervisor_pid);
	if (supervisor == NULL || supervisor->databaseId != MyDatabaseId || supervisor->roleId == InvalidOid)
		PG_RETURN_BOOL(false);
	/* the supervisor stops its trainer at once and ends the run 'cancelled' */
	PG_RETURN_BOOL(kill(supervisor_pid, SIGINT) == 0);
}
