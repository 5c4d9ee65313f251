#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/dsm.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "extension_owner.h"
#include "pinnacle.h"
#include "search_record.h"

PGDLLEXPORT void pinnacle_search_recorder_main(Datum main_arg);

typedef struct RecordRequest
{
	Oid			database;
	Oid			role;
	int64		search_id;		/* the answer; 0 until recorded */
	char		error[512];		/* why not */
	char		plan[FLEXIBLE_ARRAY_MEMBER];
} RecordRequest;

int64
pt_search_record(const char *plan_json)
{
	Size		size = offsetof(RecordRequest, plan) + strlen(plan_json) + 1;
	dsm_segment *segment = dsm_create(size, 0);
	RecordRequest *request = dsm_segment_address(segment);
	BackgroundWorkerHandle *handle;
	int64		search_id;

	request->database = MyDatabaseId;
	request->role = GetUserId();
	request->search_id = 0;
	request->error[0] = '\0';
	strcpy(request->plan, plan_json);
	handle = pt_register_worker(segment, "pinnacle_search_recorder_main", "pinnacle_train search recorder",
								"pinnacle_train search recorder", "to record the search");
	if (WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		ereport(ERROR, (errcode(ERRCODE_ADMIN_SHUTDOWN), errmsg("the server stopped while recording the search")));
	search_id = request->search_id;
	if (search_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not record the search: %s", request->error[0] ? request->error : "see the server log")));
	dsm_detach(segment);
	return search_id;
}

/* The recorder: acts as the caller's role and writes as the extension's owner, as a run's
 * supervisor does. */
void
pinnacle_search_recorder_main(Datum main_arg)
{
	dsm_segment *segment;
	RecordRequest *request;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		isnull;

	BackgroundWorkerUnblockSignals();
	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		ereport(ERROR, (errmsg("the caller of pinnacle_search left before its search was recorded")));
	request = dsm_segment_address(segment);
	BackgroundWorkerInitializeConnectionByOid(request->database, request->role, 0);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		PtActingRole caller;

		pt_spi_connect();
		values[0] = CStringGetTextDatum(request->plan);
		values[1] = CStringGetTextDatum(pt_acting_role_name());
		caller = pt_act_as_extension_owner();
		if (SPI_execute_with_args("SELECT pinnacle.record_search($1::jsonb, $2::name)", 2, types, values, NULL,
								  false, 1) != SPI_OK_SELECT)
			elog(ERROR, "pinnacle.record_search failed");
		request->search_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		pt_act_as(caller);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(TopMemoryContext);
		error = CopyErrorData();

		request->search_id = 0;
		strlcpy(request->error, error->message, sizeof(request->error));
		PG_RE_THROW();
	}
	PG_END_TRY();
	dsm_detach(segment);
	proc_exit(0);
}
