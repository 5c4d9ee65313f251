/*
 * pinnacle_predict_batch(identifier, select): the model over a read-only select's rows, in the
 * caller's snapshot and privileges. The select's rows are fetched through an SPI cursor a
 * batch at a time (as many rows as one run of the model takes: at most PT_MAX_BATCH_ROWS, and
 * fewer for a model whose activations are large), the model runs once per batch (a layer list
 * on a thread of the core's while the next batch is fetched; a TorchScript module: one round
 * trip to its helper), and the batch's rows go to the result's tuplestore, which spills to
 * disk past work_mem. So memory is bounded by two batches, whatever the select returns; the executor materializes a set-returning function in FROM into a tuplestore in any
 * case, so returning a row per call would hold no less.
 *
 * A row with a NULL input gets a NULL prediction, as pinnacle_predict (strict) gives for it.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "feed.h"
#include "pinnacle.h"
#include "predict.h"

PG_FUNCTION_INFO_V1(pinnacle_predict_batch);

/* How the select's columns are used: the model's inputs (by name), and the others, which pass
 * through in order before the prediction. Attribute numbers are 1-based. */
typedef struct BatchColumns
{
	int		   *input_attnums;
	Oid		   *input_types;
	int			npassed;
	int		   *passed_attnums;
} BatchColumns;

static void
find_inputs(TupleDesc select, const LoadedModel *loaded, BatchColumns *columns)
{
	columns->input_attnums = palloc0(sizeof(int) * Max(loaded->ninputs, 1));
	columns->input_types = palloc0(sizeof(Oid) * Max(loaded->ninputs, 1));
	for (int i = 0; i < loaded->ninputs; i++)
	{
		columns->input_attnums[i] = SPI_fnumber(select, loaded->input_names[i]);
		if (columns->input_attnums[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("pinnacle_predict_batch: the select returns no column \"%s\", an input of model \"%s\"",
							loaded->input_names[i], loaded->identifier)));
		columns->input_types[i] = SPI_gettypeid(select, columns->input_attnums[i]);
	}
}

static void
find_passed(TupleDesc select, const LoadedModel *loaded, BatchColumns *columns)
{
	columns->npassed = 0;
	columns->passed_attnums = palloc0(sizeof(int) * Max(select->natts, 1));
	for (int a = 1; a <= select->natts; a++)
	{
		bool		is_input = TupleDescAttr(select, a - 1)->attisdropped;

		for (int i = 0; i < loaded->ninputs && !is_input; i++)
			is_input = columns->input_attnums[i] == a;
		if (!is_input)
			columns->passed_attnums[columns->npassed++] = a;
	}
}

/* The column definition list must name the passed columns, with their types, then prediction. */
static void
check_definition_list(TupleDesc select, const LoadedModel *loaded, const BatchColumns *columns, TupleDesc expected)
{
	if (expected->natts != columns->npassed + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("pinnacle_predict_batch returns %d columns here: the select's %d columns that are not inputs "
						"of model \"%s\", then prediction real[]; the column definition list has %d",
						columns->npassed + 1, columns->npassed, loaded->identifier, expected->natts)));
	for (int j = 0; j < columns->npassed; j++)
		if (TupleDescAttr(expected, j)->atttypid != SPI_gettypeid(select, columns->passed_attnums[j]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("pinnacle_predict_batch: column %d of the column definition list is %s, but the select's \"%s\" is %s",
							j + 1, format_type_be(TupleDescAttr(expected, j)->atttypid),
							SPI_fname(select, columns->passed_attnums[j]),
							format_type_be(SPI_gettypeid(select, columns->passed_attnums[j])))));
	if (TupleDescAttr(expected, columns->npassed)->atttypid != FLOAT4ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("pinnacle_predict_batch: the last column of the column definition list is the prediction, real[]")));
}

static BatchColumns
batch_columns(TupleDesc select, const LoadedModel *loaded, TupleDesc expected)
{
	BatchColumns columns;

	find_inputs(select, loaded, &columns);
	find_passed(select, loaded, &columns);
	check_definition_list(select, loaded, &columns, expected);
	return columns;
}

/* A fetched batch of the select's rows: per row, its row among the model's rows, or -1 when an
 * input is NULL. */
typedef struct Fetched
{
	SPITupleTable *tuples;
	uint64		count;
	int		   *model_row;
} Fetched;

/* One call's state. */
typedef struct Batch
{
	PredictRows rows;
	BatchColumns columns;
	Tuplestorestate *store;
	TupleDesc	result;
	int64		rows_done;		/* of the select, in the result */
	Fetched		started;		/* the batch the model runs on (tuples NULL when none) */
	int		   *model_rows[2];	/* the started batch's and the next one's */
	/* one fetched row, deformed */
	Datum	   *fields;
	bool	   *field_nulls;
	Datum	   *inputs;
	/* one result row */
	Datum	   *values;
	bool	   *nulls;
} Batch;

static void
init_batch(Batch *batch, LoadedModel *loaded, TupleDesc select, TupleDesc result, Tuplestorestate *store)
{
	batch->columns = batch_columns(select, loaded, result);
	pt_predict_rows_init(&batch->rows, loaded, batch->columns.input_types, PT_MAX_BATCH_ROWS);
	batch->store = store;
	batch->result = result;
	batch->rows_done = 0;
	batch->started = (Fetched) {NULL, 0, NULL};
	for (int i = 0; i < 2; i++)
		batch->model_rows[i] = palloc(sizeof(int) * batch->rows.max_rows);
	batch->fields = palloc(sizeof(Datum) * Max(select->natts, 1));
	batch->field_nulls = palloc(sizeof(bool) * Max(select->natts, 1));
	batch->inputs = palloc(sizeof(Datum) * Max(loaded->ninputs, 1));
	batch->values = palloc(sizeof(Datum) * result->natts);
	batch->nulls = palloc(sizeof(bool) * result->natts);
}

/* Adds a fetched row's inputs to the model's rows; false, adding nothing, when one is NULL. */
static bool
add_inputs(Batch *batch, HeapTuple tuple, TupleDesc desc, int64 row_number)
{
	heap_deform_tuple(tuple, desc, batch->fields, batch->field_nulls);
	for (int i = 0; i < batch->rows.loaded->ninputs; i++)
	{
		int			field = batch->columns.input_attnums[i] - 1;

		if (batch->field_nulls[field])
			return false;
		batch->inputs[i] = batch->fields[field];
	}
	pt_predict_rows_add(&batch->rows, batch->inputs, row_number);
	return true;
}

/* Appends a fetched row to the result: its passed columns, then its prediction. */
static void
store_row(Batch *batch, HeapTuple tuple, TupleDesc desc, int model_row)
{
	int			npassed = batch->columns.npassed;
	int64		width = batch->rows.output_width;

	heap_deform_tuple(tuple, desc, batch->fields, batch->field_nulls);
	for (int j = 0; j < npassed; j++)
	{
		batch->values[j] = batch->fields[batch->columns.passed_attnums[j] - 1];
		batch->nulls[j] = batch->field_nulls[batch->columns.passed_attnums[j] - 1];
	}
	batch->nulls[npassed] = model_row < 0;
	if (model_row >= 0)
		batch->values[npassed] = pt_float_array(batch->rows.output + model_row * width, width);
	tuplestore_putvalues(batch->store, batch->result, batch->values, batch->nulls);
}

/* Adds a fetched batch's inputs to the model's rows. */
static Fetched
add_fetched(Batch *batch, SPITupleTable *tuples, uint64 count, int *model_row)
{
	int64		first_row = batch->rows_done + (batch->started.tuples ? batch->started.count : 0) + 1;
	int			added = 0;

	for (uint64 r = 0; r < count; r++)
		model_row[r] = add_inputs(batch, tuples->vals[r], tuples->tupdesc, first_row + r) ? added++ : -1;
	return (Fetched) {tuples, count, model_row};
}

/* Waits for the model's outputs of the started batch and appends its rows to the result. */
static void
store_started(Batch *batch)
{
	Fetched    *started = &batch->started;

	if (started->tuples == NULL)
		return;
	pt_predict_rows_finish(&batch->rows);
	for (uint64 r = 0; r < started->count; r++)
		store_row(batch, started->tuples->vals[r], started->tuples->tupdesc, started->model_row[r]);
	batch->rows_done += started->count;
	SPI_freetuptable(started->tuples);
	started->tuples = NULL;
}

/* The model runs on a batch (on the core's thread, for a layer list) while the next one is
 * fetched and its inputs converted, which for a TOASTed real[] column costs about as much. */
static void
predict_fetched(Batch *batch, SPITupleTable *tuples, uint64 count)
{
	int		   *model_row = batch->model_rows[batch->started.model_row == batch->model_rows[0] ? 1 : 0];
	Fetched		fetched = add_fetched(batch, tuples, count, model_row);

	store_started(batch);
	pt_predict_rows_start(&batch->rows);
	batch->started = fetched;
}

static void
predict_all(Batch *batch, Portal cursor)
{
	MemoryContext batch_context = AllocSetContextCreate(CurrentMemoryContext, "pinnacle_predict_batch batch",
														ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		for (SPI_cursor_fetch(cursor, true, batch->rows.max_rows); SPI_processed > 0;
			 SPI_cursor_fetch(cursor, true, batch->rows.max_rows))
		{
			MemoryContext previous = MemoryContextSwitchTo(batch_context);

			predict_fetched(batch, SPI_tuptable, SPI_processed);
			MemoryContextSwitchTo(previous);
			MemoryContextReset(batch_context);
			CHECK_FOR_INTERRUPTS();
		}
		store_started(batch);
	}
	PG_CATCH();
	{
		pt_predict_rows_drop(&batch->rows);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

Datum
pinnacle_predict_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LoadedModel *loaded;
	Batch		batch;
	SPIPlanPtr	plan;
	Portal		cursor;
	MemoryContext caller_context;
	Tuplestorestate *store;
	TupleDesc	result;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize) ||
		rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("pinnacle_predict_batch must be called in FROM, with a column definition list"),
				 errhint("SELECT * FROM pinnacle_predict_batch('m', 'SELECT id, features FROM items') "
						 "AS p(id integer, prediction real[])")));
	loaded = pt_find_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	caller_context = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	result = CreateTupleDescCopy(rsinfo->expectedDesc);
	store = tuplestore_begin_heap(false, false, work_mem);	/* rows beyond work_mem go to disk */
	MemoryContextSwitchTo(caller_context);

	pt_spi_connect();
	plan = pt_check_select(text_to_cstring(PG_GETARG_TEXT_PP(1)), "the select of pinnacle_predict_batch");
	init_batch(&batch, loaded, pt_plan_result(plan), result, store);
	cursor = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	predict_all(&batch, cursor);
	SPI_cursor_close(cursor);
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = result;
	return (Datum) 0;
}
