/*
 * pinnacle_predict(identifier, VARIADIC inputs) and pinnacle_classify(...): inference for the
 * calling backend. A layer list is our own code and predicts in the backend; an imported
 * TorchScript module is a user's code and predicts in a helper process of the backend (see
 * helper.h), which a cancel kills. A loaded model is kept per backend, keyed by identifier,
 * version and run; each query resolves the identifier once (per call site), so a newer
 * version is picked up by the next statement without a reconnect.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#include "feed.h"
#include "helper.h"
#include "model_ref.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "row_values.h"
#include "runtime.h"

PG_FUNCTION_INFO_V1(pinnacle_predict);
PG_FUNCTION_INFO_V1(pinnacle_classify);

/* Rows a batch prediction fetches from its select at a time. */
#define FETCH_ROWS 1000

/* The widest column a stored model may claim: catalog values are checked before use. */
#define MAX_COLUMN_WIDTH (INT64CONST(1) << 28)

typedef struct LoadedModel
{
	MemoryContext context;		/* holds this struct and all it points to */
	char	   *identifier;
	int32		version;
	int64		run_id;
	PtStoredModel stored;		/* as read from the catalog */
	PtModel    *model;			/* a layer list, loaded here; or NULL */
	PtChildLink *helper;		/* a TorchScript module's helper; NULL until started */
	/* the inputs and outputs, for both kinds */
	int			ninputs;
	char	  **input_names;
	int64		input_width;
	int64		output_width;
	bool		padded;
	LocalTransactionId used_in; /* a call site of this transaction may hold it */
	struct LoadedModel *next;
} LoadedModel;

/* The backend's loaded models (TopMemoryContext), the most recently used first. */
static LoadedModel *loaded_models = NULL;

static void
stop_helper(LoadedModel *loaded)
{
	if (loaded->helper == NULL)
		return;
	pt_child_end(loaded->helper);
	pfree(loaded->helper);
	loaded->helper = NULL;
}

/* Frees the least recently used models beyond pinnacle.predict_cache_size, but none that this
 * transaction used: a call site of a running query may still point to it. */
static void
evict_models(void)
{
	LoadedModel **link = &loaded_models;
	int			kept = 0;

	while (*link != NULL)
	{
		LoadedModel *loaded = *link;

		if (kept < pinnacle_predict_cache_size || loaded->used_in == MyProc->lxid)
		{
			kept++;
			link = &loaded->next;
			continue;
		}
		elog(DEBUG1, "pinnacle_predict: evicted model \"%s\" version %d from this backend's cache",
			 loaded->identifier, loaded->version);
		*link = loaded->next;
		pt_model_free(loaded->model);
		stop_helper(loaded);
		MemoryContextDelete(loaded->context);
	}
}

/* Moves a model to the front of the cache. */
static void
mark_used(LoadedModel *loaded)
{
	LoadedModel **link = &loaded_models;

	while (*link != loaded)
		link = &(*link)->next;
	*link = loaded->next;
	loaded->next = loaded_models;
	loaded_models = loaded;
	loaded->used_in = MyProc->lxid;
}

/* One call site's state for the length of a query (fn_extra). */
typedef struct CallSite
{
	text	   *identifier_arg;
	LoadedModel *loaded;
	int			ninputs;
	PtColumn   *columns;
	StringInfoData values;
	float	   *row;
	int64	   *lengths;		/* a padded model's: each input's real length */
	float	   *output;			/* allocated once the model's output width is known */
	MemoryContext context;		/* the call site's (fn_mcxt) */
} CallSite;

/* Finds the version (the newest successful one unless given) and its run. */
static bool
resolve_version(const char *name, int32 version, int32 *found_version, int64 *run_id)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT version, run_id FROM pinnacle.models "
							  "WHERE identifier = $1 AND ($2 = 0 OR version = $2) "
							  "ORDER BY version DESC LIMIT 1",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pinnacle.models");
	if (SPI_processed == 0)
		return false;
	*found_version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	*run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* A layer list is our own code: it predicts in this backend. */
static void
load_layer_list(LoadedModel *loaded)
{
	const PtStoredModel *stored = &loaded->stored;

	pt_runtime_ensure(pinnacle_predict_threads);
	loaded->model = pt_model_load(stored->spec_json, stored->column_widths, stored->columns, stored->weights,
								  stored->weights_size, stored->transform_json);
	if (loaded->model == NULL)
		ereport(ERROR,
				(errcode(pt_sqlstate_of(pt_last_error_kind())),
				 errmsg("could not load model \"%s\" version %d: %s", loaded->identifier, loaded->version,
						pt_last_error())));
	loaded->output_width = pt_model_output_width(loaded->model);
}

/* A TorchScript module predicts in a helper, started when first needed (again after a
 * failure killed it). */
static void
ensure_helper(LoadedModel *loaded)
{
	if (loaded->model != NULL || loaded->helper != NULL)
		return;
	loaded->helper = pt_helper_start_predictor(&loaded->stored, pinnacle_predict_threads, &loaded->output_width);
}

/* A stored model version's columns widths, checked against its spec: one positive width per
 * key column. A role cannot edit the catalog, but nothing read back is trusted. */
static int64 *
checked_widths(ArrayType *array, const PtSpec *spec, int *count, const char *name, int32 version,
			   MemoryContext context)
{
	Datum	   *datums;
	bool	   *nulls;
	int64	   *widths;

	if (ARR_NDIM(array) > 1 || ARR_ELEMTYPE(array) != INT8OID)
		elog(ERROR, "model \"%s\" version %d has malformed column widths", name, version);
	deconstruct_array(array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &datums, &nulls, count);
	if (*count != pt_spec_column_count(spec))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("model \"%s\" version %d stores %d column widths for %d key columns", name, version,
						*count, pt_spec_column_count(spec))));
	widths = MemoryContextAlloc(context, sizeof(int64) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		widths[i] = nulls[i] ? 0 : DatumGetInt64(datums[i]);
		if (widths[i] <= 0 || widths[i] > MAX_COLUMN_WIDTH)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("model \"%s\" version %d stores a column width of " INT64_FORMAT, name, version,
							widths[i])));
	}
	return widths;
}

/* Reads a model version from the catalog into `loaded`. Call inside SPI. */
static void
read_model(LoadedModel *loaded)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(loaded->identifier), Int32GetDatum(loaded->version)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	bytea	   *weights;
	PtSpec	   *spec;

	if (SPI_execute_with_args("SELECT m.column_widths, r.spec::text, c.weights, m.transform::text "
							  "FROM pinnacle.models m "
							  "JOIN pinnacle.runs r ON r.id = m.run_id "
							  "JOIN pinnacle.checkpoints c ON c.run_id = m.run_id AND c.iteration = m.iteration "
							  "WHERE m.identifier = $1 AND m.version = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the weights of model \"%s\" version %d are missing", loaded->identifier, loaded->version)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	loaded->stored.spec_json = MemoryContextStrdup(loaded->context, SPI_getvalue(tuple, desc, 2));
	loaded->stored.transform_json = MemoryContextStrdup(loaded->context, SPI_getvalue(tuple, desc, 4));
	weights = DatumGetByteaPP(SPI_getbinval(tuple, desc, 3, &isnull));
	loaded->stored.weights_size = VARSIZE_ANY_EXHDR(weights);
	loaded->stored.weights = memcpy(MemoryContextAlloc(loaded->context, Max(loaded->stored.weights_size, 1)),
									VARDATA_ANY(weights), loaded->stored.weights_size);
	spec = pt_parse_spec_or_error(loaded->stored.spec_json);
	loaded->stored.column_widths = checked_widths(DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 1, &isnull)), spec,
												  &loaded->stored.columns, loaded->identifier, loaded->version,
												  loaded->context);
	loaded->padded = pt_spec_column_is_padded(spec, 0);
	loaded->ninputs = pt_spec_input_count(spec);
	loaded->input_names = MemoryContextAlloc(loaded->context, sizeof(char *) * Max(loaded->ninputs, 1));
	loaded->input_width = 0;
	for (int i = 0; i < loaded->ninputs; i++)
	{
		loaded->input_names[i] = MemoryContextStrdup(loaded->context, pt_spec_column_name(spec, i));
		loaded->input_width += loaded->stored.column_widths[i];
	}
	if (pt_spec_torchscript(spec) == NULL)
		load_layer_list(loaded);
}

/* The loaded model for an identifier argument, from the backend's cache when it is current. */
static LoadedModel *
find_model(const char *arg)
{
	PtModelRef	ref = pt_parse_model_ref(arg);
	const char *name = ref.identifier;
	int32		version = ref.version,
				found_version;
	int64		run_id;
	LoadedModel *loaded;

	pt_spi_connect();
	if (!resolve_version(name, version, &found_version, &run_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 version ? errmsg("model \"%s\" has no version %d", name, version)
				 : errmsg("model \"%s\" does not exist", name),
				 errhint("pinnacle.models lists the trained models.")));
	for (loaded = loaded_models; loaded != NULL; loaded = loaded->next)
		if (strcmp(loaded->identifier, name) == 0 && loaded->version == found_version && loaded->run_id == run_id)
			break;
	if (loaded == NULL)
	{
		MemoryContext context = AllocSetContextCreate(TopMemoryContext, "pinnacle_predict model",
													  ALLOCSET_SMALL_SIZES);

		loaded = MemoryContextAllocZero(context, sizeof(LoadedModel));
		loaded->context = context;
		loaded->identifier = MemoryContextStrdup(context, name);
		loaded->version = found_version;
		loaded->run_id = run_id;
		PG_TRY();
		{
			read_model(loaded);
		}
		PG_CATCH();
		{
			MemoryContextDelete(context);
			PG_RE_THROW();
		}
		PG_END_TRY();
		loaded->next = loaded_models;
		loaded_models = loaded;
	}
	mark_used(loaded);
	evict_models();
	SPI_finish();
	return loaded;
}

/* The call site's columns, for inputs of these types, in the model's input order. */
static void
init_inputs(CallSite *site, const Oid *types)
{
	LoadedModel *loaded = site->loaded;

	site->ninputs = loaded->ninputs;
	site->columns = palloc0(sizeof(PtColumn) * site->ninputs);
	for (int i = 0; i < site->ninputs; i++)
	{
		pt_column_init(&site->columns[i], pstrdup(loaded->input_names[i]), types[i], false, NULL);
		site->columns[i].padded = loaded->padded;
	}
	site->lengths = palloc(sizeof(int64) * site->ninputs);
	initStringInfo(&site->values);
	site->row = palloc(sizeof(float) * loaded->input_width);
}

static void
prepare_inputs(CallSite *site, FunctionCallInfo fcinfo)
{
	LoadedModel *loaded = site->loaded;
	int			given = PG_NARGS() - 1;
	Oid		   *types = palloc(sizeof(Oid) * Max(given, 1));

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass the model's inputs as separate arguments, not as a VARIADIC array")));
	if (given != loaded->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" takes %d inputs, %d given", loaded->identifier, loaded->ninputs, given)));
	for (int i = 0; i < given; i++)
		types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
	init_inputs(site, types);
}

static CallSite *
call_site(FunctionCallInfo fcinfo)
{
	CallSite   *site = fcinfo->flinfo->fn_extra;
	text	   *identifier = PG_GETARG_TEXT_PP(0);
	MemoryContext old;

	if (site != NULL && VARSIZE_ANY(identifier) == VARSIZE_ANY(site->identifier_arg) &&
		memcmp(identifier, site->identifier_arg, VARSIZE_ANY(identifier)) == 0)
		return site;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	site = palloc0(sizeof(CallSite));
	site->identifier_arg = (text *) pg_detoast_datum_copy((struct varlena *) identifier);
	site->context = fcinfo->flinfo->fn_mcxt;
	site->loaded = find_model(text_to_cstring(identifier));
	prepare_inputs(site, fcinfo);
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = site;
	return site;
}

/* A padded model's input of `count` values, right-padded with zeros to the column's width. */
static void
pad_input(CallSite *site, int i, uint32 count, float *values)
{
	int64		width = site->columns[i].width;

	if (count > width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("input \"%s\": has %u values, but model \"%s\" was trained on at most " INT64_FORMAT,
						site->columns[i].name, count, site->loaded->identifier, width)));
	memset(values + count, 0, (width - count) * sizeof(float));
	site->lengths[i] = count;
}

/* Runs the model on the call site's row, in a helper for a TorchScript module. A failure
 * there ends the helper (it may still be running the module), and the next call starts another. */
static void
predict_row(CallSite *site)
{
	LoadedModel *loaded = site->loaded;
	bool		ok;

	if (loaded->model == NULL)
	{
		ensure_helper(loaded);
		if (site->output == NULL)
			site->output = MemoryContextAlloc(site->context, sizeof(float) * loaded->output_width);
		PG_TRY();
		{
			pt_helper_predict(loaded->helper, site->row, loaded->input_width, loaded->padded ? site->lengths : NULL,
							  site->ninputs, site->output, loaded->output_width);
		}
		PG_CATCH();
		{
			stop_helper(loaded);
			PG_RE_THROW();
		}
		PG_END_TRY();
		return;
	}
	if (site->output == NULL)
		site->output = MemoryContextAlloc(site->context, sizeof(float) * loaded->output_width);
	ok = loaded->padded ? pt_model_predict_padded(loaded->model, site->row, site->lengths, site->output)
		: pt_model_predict(loaded->model, site->row, site->output);
	if (!ok)
		ereport(ERROR,
				(errcode(pt_sqlstate_of(pt_last_error_kind())),
				 errmsg("model \"%s\" could not predict: %s", loaded->identifier, pt_last_error())));
}

/* Converts one row's inputs (in the model's input order; `row_number` names the row in an
 * error, 0 for none) and runs the model; returns the output values. */
static const float *
run_model(CallSite *site, const Datum *inputs, const bool *nulls, int64 row_number)
{
	float	   *next = site->row;

	for (int i = 0; i < site->ninputs; i++)
	{
		uint32		count;

		resetStringInfo(&site->values);
		site->columns[i].width = site->loaded->stored.column_widths[i];
		pt_append_values(&site->values, &site->columns[i], inputs[i], nulls[i], row_number);
		memcpy(&count, site->values.data, sizeof(uint32));
		if (site->columns[i].padded)
			pad_input(site, i, count, next);
		memcpy(next, site->values.data + sizeof(uint32), count * sizeof(float));
		next += site->columns[i].width;
	}
	predict_row(site);
	return site->output;
}

/* pinnacle_predict's and pinnacle_classify's arguments after the identifier, as one row. */
static const float *
run_model_on_arguments(FunctionCallInfo fcinfo, CallSite *site)
{
	Datum	   *inputs = palloc(sizeof(Datum) * Max(site->ninputs, 1));
	bool	   *nulls = palloc0(sizeof(bool) * Max(site->ninputs, 1));

	for (int i = 0; i < site->ninputs; i++)
		inputs[i] = PG_GETARG_DATUM(i + 1);
	return run_model(site, inputs, nulls, 0);
}

static Datum
output_array(const float *output, int64 width)
{
	Datum	   *values = palloc(sizeof(Datum) * width);

	for (int64 i = 0; i < width; i++)
		values[i] = Float4GetDatum(output[i]);
	return PointerGetDatum(construct_array(values, width, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

Datum
pinnacle_predict(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = run_model_on_arguments(fcinfo, site);

	PG_RETURN_DATUM(output_array(output, site->loaded->output_width));
}

Datum
pinnacle_classify(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = run_model_on_arguments(fcinfo, site);
	int64		width = site->loaded->output_width;
	int64		best = 0;

	if (width == 1)				/* one logit: a binary classifier */
		PG_RETURN_INT64(output[0] > 0 ? 1 : 0);
	for (int64 i = 1; i < width; i++)
		if (output[i] > output[best])
			best = i;
	PG_RETURN_INT64(best);
}

bytea *
pt_export_model(const char *identifier)
{
	return pt_helper_export(&find_model(identifier)->stored);
}

/* ---- pinnacle_predict_batch(identifier, select): the model over a query's rows ---- */

PG_FUNCTION_INFO_V1(pinnacle_predict_batch);

/* How the select's columns are used: the model's inputs (by name), and the others, which pass
 * through in order before the prediction. */
typedef struct BatchColumns
{
	int		   *input_attnums;
	Oid		   *input_types;
	int			npassed;
	int		   *passed_attnums;
} BatchColumns;

static BatchColumns
batch_columns(TupleDesc select, const LoadedModel *loaded, TupleDesc expected)
{
	BatchColumns columns = {.input_attnums = palloc0(sizeof(int) * Max(loaded->ninputs, 1)),
		.input_types = palloc0(sizeof(Oid) * Max(loaded->ninputs, 1)),
	.passed_attnums = palloc0(sizeof(int) * Max(select->natts, 1))};

	for (int i = 0; i < loaded->ninputs; i++)
	{
		columns.input_attnums[i] = SPI_fnumber(select, loaded->input_names[i]);
		if (columns.input_attnums[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("pinnacle_predict_batch: the select returns no column \"%s\", an input of model \"%s\"",
							loaded->input_names[i], loaded->identifier)));
		columns.input_types[i] = SPI_gettypeid(select, columns.input_attnums[i]);
	}
	for (int a = 1; a <= select->natts; a++)
	{
		bool		is_input = TupleDescAttr(select, a - 1)->attisdropped;

		for (int i = 0; i < loaded->ninputs && !is_input; i++)
			is_input = columns.input_attnums[i] == a;
		if (!is_input)
			columns.passed_attnums[columns.npassed++] = a;
	}
	if (expected->natts != columns.npassed + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("pinnacle_predict_batch returns %d columns here: the select's %d columns that are not inputs "
						"of model \"%s\", then prediction real[]; the column definition list has %d",
						columns.npassed + 1, columns.npassed, loaded->identifier, expected->natts)));
	for (int j = 0; j < columns.npassed; j++)
		if (TupleDescAttr(expected, j)->atttypid != SPI_gettypeid(select, columns.passed_attnums[j]))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("pinnacle_predict_batch: column %d of the column definition list is %s, but the select's \"%s\" is %s",
							j + 1, format_type_be(TupleDescAttr(expected, j)->atttypid),
							SPI_fname(select, columns.passed_attnums[j]),
							format_type_be(SPI_gettypeid(select, columns.passed_attnums[j])))));
	if (TupleDescAttr(expected, columns.npassed)->atttypid != FLOAT4ARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("pinnacle_predict_batch: the last column of the column definition list is the prediction, real[]")));
	return columns;
}

/* Runs the model on every row of the select's cursor into `store`, a batch of rows at a time. */
static void
predict_rows(CallSite *site, Portal cursor, const BatchColumns *columns, Tuplestorestate *store, TupleDesc result)
{
	MemoryContext row_context = AllocSetContextCreate(CurrentMemoryContext, "pinnacle_predict_batch row",
													  ALLOCSET_DEFAULT_SIZES);
	Datum	   *inputs = palloc(sizeof(Datum) * Max(site->ninputs, 1));
	bool	   *input_nulls = palloc(sizeof(bool) * Max(site->ninputs, 1));
	Datum	   *values = palloc(sizeof(Datum) * result->natts);
	bool	   *nulls = palloc0(sizeof(bool) * result->natts);
	int64		row_number = 0;

	for (SPI_cursor_fetch(cursor, true, FETCH_ROWS); SPI_processed > 0; SPI_cursor_fetch(cursor, true, FETCH_ROWS))
	{
		SPITupleTable *batch = SPI_tuptable;

		for (uint64 r = 0; r < SPI_processed; r++)
		{
			MemoryContext previous = MemoryContextSwitchTo(row_context);
			HeapTuple	tuple = batch->vals[r];

			for (int i = 0; i < site->ninputs; i++)
				inputs[i] = SPI_getbinval(tuple, batch->tupdesc, columns->input_attnums[i], &input_nulls[i]);
			for (int j = 0; j < columns->npassed; j++)
				values[j] = SPI_getbinval(tuple, batch->tupdesc, columns->passed_attnums[j], &nulls[j]);
			values[columns->npassed] = output_array(run_model(site, inputs, input_nulls, ++row_number),
													site->loaded->output_width);
			tuplestore_putvalues(store, result, values, nulls);
			MemoryContextSwitchTo(previous);
			MemoryContextReset(row_context);
		}
		SPI_freetuptable(batch);
		CHECK_FOR_INTERRUPTS();
	}
}

Datum
pinnacle_predict_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CallSite	site = {0};
	SPIPlanPtr	plan;
	BatchColumns columns;
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
	site.loaded = find_model(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	caller_context = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	result = CreateTupleDescCopy(rsinfo->expectedDesc);
	store = tuplestore_begin_heap(false, false, work_mem);	/* rows beyond work_mem go to disk */
	MemoryContextSwitchTo(caller_context);

	pt_spi_connect();
	site.context = CurrentMemoryContext;
	plan = pt_check_select(text_to_cstring(PG_GETARG_TEXT_PP(1)), "the select of pinnacle_predict_batch");
	columns = batch_columns(pt_plan_result(plan), site.loaded, result);
	init_inputs(&site, columns.input_types);
	cursor = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	predict_rows(&site, cursor, &columns, store, result);
	SPI_cursor_close(cursor);
	SPI_finish();

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = result;
	return (Datum) 0;
}
