#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "pinnacle.h"

/* The worker's pg_stat_activity entry carries its progress (see pinnacle.progress), so these
 * short transactions do not report an activity of their own. */
static void
begin_transaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static void
commit_transaction(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}

static void
execute(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "pinnacle catalog statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

static Datum
bytes_datum(const char *data, size_t size)
{
	bytea	   *value = palloc(VARHDRSZ + size);

	SET_VARSIZE(value, VARHDRSZ + size);
	memcpy(VARDATA(value), data, size);
	return PointerGetDatum(value);
}

void
pt_catalog_insert_run(int64 run_id, const char *identifier, const char *spec_json, bool train_snapshot,
					  bool validation_snapshot)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, BOOLOID};
	Datum		values[6] = {Int64GetDatum(run_id), CStringGetTextDatum(identifier),
		CStringGetTextDatum(spec_json), Int32GetDatum(MyProcPid), BoolGetDatum(train_snapshot),
	BoolGetDatum(validation_snapshot)};

	begin_transaction();
	execute("INSERT INTO pinnacle.runs (id, identifier, spec, status, worker_pid, snapshot, validation_snapshot) "
			"VALUES ($1, $2, $3::jsonb, 'running', $4, CASE WHEN $5 THEN pinnacle.snapshot_name($1, 'train') END, "
			"CASE WHEN $6 THEN pinnacle.snapshot_name($1, 'validation') END)",
			6, types, values, NULL, SPI_OK_INSERT);
	commit_transaction();
}

void
pt_catalog_set_rows(int64 run_id, int64 train_rows, int64 validation_rows)
{
	Oid			types[3] = {INT8OID, INT8OID, INT8OID};
	Datum		values[3] = {Int64GetDatum(run_id), Int64GetDatum(train_rows), Int64GetDatum(validation_rows)};

	begin_transaction();
	execute("UPDATE pinnacle.runs SET train_rows = $2, validation_rows = $3 WHERE id = $1",
			3, types, values, NULL, SPI_OK_UPDATE);
	commit_transaction();
}

static void
insert_metrics(int64 run_id, PtTrainer *trainer)
{
	int			count = pt_trainer_metric_count(trainer);
	Oid			types[5] = {INT8OID, INT8OID, TEXTOID, TEXTOID, FLOAT8OID};

	for (int i = 0; i < count; i++)
	{
		const char *name = pt_trainer_metric_name(trainer, i);
		bool		is_train = strcmp(name, "train_objective") == 0;
		Datum		values[5] = {Int64GetDatum(run_id), Int64GetDatum(pt_trainer_iteration(trainer)),
			CStringGetTextDatum(is_train ? "train" : "validation"),
			CStringGetTextDatum(is_train ? "objective" : name),
		Float8GetDatum(pt_trainer_metric_value(trainer, i))};

		execute("INSERT INTO pinnacle.metrics (run_id, iteration, split, name, value) VALUES ($1, $2, $3, $4, $5)",
				5, types, values, NULL, SPI_OK_INSERT);
	}
}

static void
insert_checkpoint(int64 run_id, PtTrainer *trainer, bool is_best)
{
	const char *weights,
			   *optimizer_state;
	size_t		weights_size,
				optimizer_size;
	Oid			types[5] = {INT8OID, INT8OID, BYTEAOID, BYTEAOID, BOOLOID};
	Datum		values[5];

	if (!pt_trainer_checkpoint(trainer, &weights, &weights_size, &optimizer_state, &optimizer_size))
		ereport(ERROR, (errmsg("could not serialize the checkpoint: %s", pt_last_error())));
	values[0] = Int64GetDatum(run_id);
	values[1] = Int64GetDatum(pt_trainer_iteration(trainer));
	values[2] = bytes_datum(weights, weights_size);
	values[3] = bytes_datum(optimizer_state, optimizer_size);
	values[4] = BoolGetDatum(is_best);
	if (is_best)
		execute("UPDATE pinnacle.checkpoints SET is_best = false WHERE run_id = $1 AND is_best",
				1, types, values, NULL, SPI_OK_UPDATE);
	/* a run keeps its best checkpoint and its latest one */
	execute("DELETE FROM pinnacle.checkpoints WHERE run_id = $1 AND NOT is_best",
			1, types, values, NULL, SPI_OK_DELETE);
	execute("INSERT INTO pinnacle.checkpoints (run_id, iteration, weights, optimizer_state, is_best) "
			"VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, iteration) DO NOTHING",
			5, types, values, NULL, SPI_OK_INSERT);
}

/* iterations, best, metric_values: the run's state after a validation */
static void
update_run_progress(int64 run_id, PtTrainer *trainer)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, FLOAT8OID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(run_id), Int64GetDatum(pt_trainer_iteration(trainer)),
		Int64GetDatum(pt_trainer_best_iteration(trainer)), Float8GetDatum(pt_trainer_best_value(trainer)),
	CStringGetTextDatum(pt_trainer_history_json(trainer))};

	execute("UPDATE pinnacle.runs SET iterations = $2, best_iteration = $3, best_value = $4, "
			"metric_values = $5::jsonb WHERE id = $1",
			5, types, values, NULL, SPI_OK_UPDATE);
}

void
pt_catalog_record_validation(int64 run_id, PtTrainer *trainer)
{
	begin_transaction();
	insert_metrics(run_id, trainer);
	insert_checkpoint(run_id, trainer, pt_trainer_last_was_best(trainer));
	update_run_progress(run_id, trainer);
	commit_transaction();
}

void
pt_catalog_record_checkpoint(int64 run_id, PtTrainer *trainer)
{
	begin_transaction();
	insert_checkpoint(run_id, trainer, false);
	update_run_progress(run_id, trainer);
	commit_transaction();
}

bool
pt_catalog_try_advisory_lock(int32 space, int32 key)
{
	Oid			types[2] = {INT4OID, INT4OID};
	Datum		values[2] = {Int32GetDatum(space), Int32GetDatum(key)};
	bool		isnull,
				locked;

	begin_transaction();
	execute("SELECT pg_try_advisory_lock($1, $2)", 2, types, values, NULL, SPI_OK_SELECT);
	locked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	commit_transaction();
	return locked;
}

void
pt_catalog_set_status(int64 run_id, const char *status)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(status)};

	begin_transaction();
	execute("UPDATE pinnacle.runs SET status = $2 WHERE id = $1", 2, types, values, NULL, SPI_OK_UPDATE);
	commit_transaction();
}

static char *
copy_bytes(Datum value, size_t *size, MemoryContext context)
{
	bytea	   *bytes = DatumGetByteaPP(value);

	*size = VARSIZE_ANY_EXHDR(bytes);
	return memcpy(MemoryContextAlloc(context, *size + 1), VARDATA_ANY(bytes), *size);
}

PtCheckpoint
pt_catalog_load_checkpoint(int64 run_id, int64 iteration)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(run_id), Int64GetDatum(iteration)};
	MemoryContext caller_context = CurrentMemoryContext;
	PtCheckpoint checkpoint = {.iteration = iteration};
	HeapTuple	tuple;
	bool		isnull;

	begin_transaction();
	execute("SELECT c.weights, c.optimizer_state, r.metric_values::text FROM pinnacle.checkpoints c "
			"JOIN pinnacle.runs r ON r.id = c.run_id WHERE c.run_id = $1 AND c.iteration = $2",
			2, types, values, NULL, SPI_OK_SELECT);
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
	commit_transaction();
	return checkpoint;
}

static Datum
column_widths_datum(PtTrainer *trainer)
{
	int			count = pt_trainer_column_count(trainer);
	Datum	   *widths = palloc(sizeof(Datum) * count);

	for (int i = 0; i < count; i++)
		widths[i] = Int64GetDatum(pt_trainer_column_width(trainer, i));
	return PointerGetDatum(construct_array(widths, count, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

void
pt_catalog_record_success(int64 run_id, const char *identifier, PtTrainer *trainer)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT8ARRAYOID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(run_id), CStringGetTextDatum(identifier),
		Int64GetDatum(pt_trainer_best_iteration(trainer)), column_widths_datum(trainer),
	CStringGetTextDatum(pt_trainer_transform_json(trainer))};
	Oid			end_types[3] = {INT8OID, TEXTOID, INT4OID};
	Datum		end_values[3];
	bool		isnull;

	begin_transaction();
	update_run_progress(run_id, trainer);
	execute("INSERT INTO pinnacle.models (identifier, version, run_id, iteration, column_widths, transform) "
			"VALUES ($2, pinnacle.next_version($2), $1, $3, $4, $5::jsonb) RETURNING version",
			5, types, values, NULL, SPI_OK_INSERT_RETURNING);
	end_values[0] = Int64GetDatum(run_id);
	end_values[1] = CStringGetTextDatum(pt_trainer_stop_reason(trainer));
	end_values[2] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	execute("UPDATE pinnacle.runs SET status = 'succeeded', finished_at = clock_timestamp(), "
			"stop_reason = $2, version = $3, worker_pid = NULL WHERE id = $1",
			3, end_types, end_values, NULL, SPI_OK_UPDATE);
	commit_transaction();
}

void
pt_catalog_record_end(int64 run_id, const char *status, const char *error)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(run_id), CStringGetTextDatum(status), CStringGetTextDatum(error)};

	begin_transaction();
	execute("UPDATE pinnacle.runs SET status = $2, error = $3, finished_at = clock_timestamp(), "
			"worker_pid = NULL WHERE id = $1 AND status IN ('queued', 'running')",
			3, types, values, NULL, SPI_OK_UPDATE);
	commit_transaction();
}

bytea *
pt_catalog_load_module(const PtSpec *spec)
{
	MemoryContext caller_context = CurrentMemoryContext;
	bytea	   *module;

	begin_transaction();
	module = pt_spec_module(spec);
	if (module != NULL)
	{
		Size		size = VARSIZE(module);
		bytea	   *copy = MemoryContextAlloc(caller_context, size);

		memcpy(copy, module, size);
		module = copy;
	}
	commit_transaction();
	return module;
}
