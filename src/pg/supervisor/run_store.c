#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "extension_owner.h"
#include "pinnacle.h"
#include "run_lifecycle.h"
#include "run_store.h"

static MemoryContext context_before_transaction = NULL;
static PtActingRole run_owner;

/* The supervisor's pg_stat_activity entry carries its progress (see pinnacle.progress), so
 * these short transactions do not report an activity of their own. The supervisor acts as
 * the run's owner, and writes the catalog as the extension's owner. */
void
pt_store_begin(void)
{
	context_before_transaction = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pt_spi_connect();
	run_owner = pt_act_as_extension_owner();
}

char *
pt_store_run_owner_name(void)
{
	return GetUserNameFromId(run_owner.user, false);
}

void
pt_store_commit(void)
{
	pt_act_as(run_owner);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(context_before_transaction);
}

void
pt_store_execute(const char *sql, int nargs, Oid *types, Datum *values, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "pinnacle catalog statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

int64
pt_store_next_run_id(void)
{
	bool		isnull;
	int64		run_id;

	pt_store_begin();
	pt_store_execute("SELECT pg_catalog.nextval('pinnacle.runs_id_seq')", 0, NULL, NULL, SPI_OK_SELECT);
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_store_commit();
	return run_id;
}

static Datum
bytes_datum(const char *data, size_t size)
{
	bytea	   *value = palloc(VARHDRSZ + size);

	SET_VARSIZE(value, VARHDRSZ + size);
	memcpy(VARDATA(value), data, size);
	return PointerGetDatum(value);
}

/* This server's part of a run across servers ended with the run: no model here, the calling
 * server's run made it. */
void
pt_store_shard_end(int64 run_id, int64 iterations)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int64GetDatum(iterations)};

	pt_store_begin();
	pt_store_execute("UPDATE pinnacle.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
					 "stop_reason = 'the coordinating run ended', iterations = $2, worker_pid = NULL, trainer_pid = NULL "
					 "WHERE id = $1 AND status IN ('queued', 'running')",
					 2, types, values, SPI_OK_UPDATE);
	pt_store_commit();
}

void
pt_store_set_rows(int64 run_id, int64 train_rows, int64 validation_rows)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(run_id), Int64GetDatum(train_rows), Int64GetDatum(validation_rows)};

	pt_store_begin();
	pt_store_execute("UPDATE pinnacle.runs SET train_rows = $2, validation_rows = $3 WHERE id = $1",
					 3, types, values, SPI_OK_UPDATE);
	pt_store_commit();
}

static void
insert_metrics(int64 run_id, const PtTrainerState *state)
{
	Oid			types[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, FLOAT8OID};

	for (int i = 0; i < state->metric_count; i++)
	{
		const char *name = state->metric_names[i];
		bool		is_train = strcmp(name, "train_objective") == 0;
		Datum		values[5] = {Int64GetDatum(run_id), Int64GetDatum(state->iteration),
			CStringGetTextDatum(is_train ? "train" : "validation"),
			CStringGetTextDatum(is_train ? "objective" : name),
		Float8GetDatum(state->metric_values[i])};

		pt_store_execute("INSERT INTO pinnacle.metrics (run_id, iteration, split, name, value) "
						 "VALUES ($1, $2, $3, $4, $5)", 5, types, values, SPI_OK_INSERT);
	}
}

static void
insert_checkpoint(int64 run_id, const PtCheckpointReport *report, bool is_best)
{
	Oid			types[5] = {INT8OID, INT8OID, BYTEAOID, BYTEAOID, BOOLOID};
	Datum		values[5] = {Int64GetDatum(run_id), Int64GetDatum(report->state.iteration),
		bytes_datum(report->weights, report->weights_size),
		bytes_datum(report->optimizer_state, report->optimizer_size), BoolGetDatum(is_best)};

	if (is_best)
		pt_store_execute("UPDATE pinnacle.checkpoints SET is_best = false WHERE run_id = $1 AND is_best",
						 1, types, values, SPI_OK_UPDATE);
	/* a run keeps its best checkpoint and its latest one */
	pt_store_execute("DELETE FROM pinnacle.checkpoints WHERE run_id = $1 AND NOT is_best",
					 1, types, values, SPI_OK_DELETE);
	pt_store_execute("INSERT INTO pinnacle.checkpoints (run_id, iteration, weights, optimizer_state, is_best) "
					 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, iteration) DO NOTHING",
					 5, types, values, SPI_OK_INSERT);
}

/* iterations, best, metric_values: the run's state after a validation */
static void
update_run_progress(int64 run_id, const PtTrainerState *state, const char *history_json)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, FLOAT8OID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(run_id), Int64GetDatum(state->iteration),
		Int64GetDatum(state->best_iteration), Float8GetDatum(state->best_value),
	CStringGetTextDatum(history_json)};

	pt_store_execute("UPDATE pinnacle.runs SET iterations = $2, best_iteration = $3, best_value = $4, "
					 "metric_values = $5::jsonb WHERE id = $1",
					 5, types, values, SPI_OK_UPDATE);
}

void
pt_store_validation(int64 run_id, const PtCheckpointReport *report)
{
	pt_store_begin();
	insert_metrics(run_id, &report->state);
	insert_checkpoint(run_id, report, report->state.last_was_best);
	update_run_progress(run_id, &report->state, report->history_json);
	pt_store_commit();
}

void
pt_store_checkpoint(int64 run_id, const PtCheckpointReport *report)
{
	pt_store_begin();
	insert_checkpoint(run_id, report, false);
	update_run_progress(run_id, &report->state, report->history_json);
	pt_store_commit();
}

static char *
copy_bytes(Datum value, size_t *size, MemoryContext context)
{
	bytea	   *bytes = DatumGetByteaPP(value);

	*size = VARSIZE_ANY_EXHDR(bytes);
	return memcpy(MemoryContextAlloc(context, *size + 1), VARDATA_ANY(bytes), *size);
}

PtStoredCheckpoint
pt_store_load_checkpoint(int64 run_id, int64 iteration)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int64GetDatum(iteration)};
	MemoryContext caller_context = CurrentMemoryContext;
	PtStoredCheckpoint checkpoint = {.iteration = iteration};
	HeapTuple	tuple;
	bool		isnull;

	pt_store_begin();
	pt_store_execute("SELECT c.weights, c.optimizer_state, r.metric_values::text FROM pinnacle.checkpoints c "
					 "JOIN pinnacle.runs r ON r.id = c.run_id WHERE c.run_id = $1 AND c.iteration = $2",
					 2, types, values, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the checkpoint of run " INT64_FORMAT " at step " INT64_FORMAT " to continue from is gone",
						run_id, iteration)));
	tuple = SPI_tuptable->vals[0];
	checkpoint.weights = copy_bytes(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull),
									&checkpoint.weights_size, caller_context);
	checkpoint.optimizer_state = copy_bytes(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull),
											&checkpoint.optimizer_size, caller_context);
	checkpoint.history_json = MemoryContextStrdup(caller_context, SPI_getvalue(tuple, SPI_tuptable->tupdesc, 3));
	pt_store_commit();
	return checkpoint;
}

static Datum
column_widths_datum(const PtFinishReport *report)
{
	Datum	   *widths = palloc(sizeof(Datum) * Max(report->columns, 1));

	for (int i = 0; i < report->columns; i++)
		widths[i] = Int64GetDatum(report->column_widths[i]);
	return PointerGetDatum(construct_array(widths, report->columns, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

void
pt_store_success(int64 run_id, const char *identifier, const PtFinishReport *report)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT8ARRAYOID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(run_id), CStringGetTextDatum(identifier),
		Int64GetDatum(report->state.best_iteration), column_widths_datum(report),
	CStringGetTextDatum(report->transform_json)};
	bool		isnull;

	pt_store_begin();
	update_run_progress(run_id, &report->state, report->history_json);
	pt_store_execute("INSERT INTO pinnacle.models (identifier, version, run_id, iteration, column_widths, transform, owner) "
					 "SELECT $2, pinnacle.next_version($2, r.owner), $1, $3, $4, $5::jsonb, r.owner "
					 "FROM pinnacle.runs r WHERE r.id = $1 RETURNING version",
					 5, types, values, SPI_OK_INSERT_RETURNING);
	pt_run_mark_succeeded(run_id, report->stop_reason,
						  SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_store_commit();
}

bytea *
pt_store_load_module(const PtSpec *spec)
{
	MemoryContext caller_context = CurrentMemoryContext;
	bytea	   *module;

	pt_store_begin();
	module = pt_spec_module(spec);
	if (module != NULL)
	{
		Size		size = VARSIZE(module);
		bytea	   *copy = MemoryContextAlloc(caller_context, size);

		memcpy(copy, module, size);
		module = copy;
	}
	pt_store_commit();
	return module;
}
