/*
 * pinnacle_predict(identifier, VARIADIC inputs) and pinnacle_classify(...): inference for the
 * calling backend, one row a call (see predict.h). A loaded model is kept per backend, keyed by
 * identifier, version and run; each query resolves the identifier once (per call site), so a
 * newly deployed version is picked up by the next statement without a reconnect.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#include "helper.h"
#include "model_ref.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "torch_core.h"
#include "predict.h"
#include "runtime.h"

PG_FUNCTION_INFO_V1(pinnacle_predict);
PG_FUNCTION_INFO_V1(pinnacle_classify);

/* The widest column a stored model may claim: catalog values are checked before use. */
#define MAX_COLUMN_WIDTH (INT64CONST(1) << 28)

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
		pt_torch.pt_model_free(loaded->model);
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

/* Finds the version (the deployed one unless given) and its run. Read at each statement's first
 * call, so a version another backend deploys is used from this backend's next statement on. */
static bool
resolve_version(const char *name, int32 version, int32 *found_version, int64 *run_id)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT version, run_id FROM pinnacle.models "
							  "WHERE identifier = $1 AND CASE WHEN $2 = 0 THEN deployed ELSE version = $2 END",
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
	loaded->model = pt_torch.pt_model_load(stored->spec_json, stored->column_widths, stored->columns, stored->weights,
								  stored->weights_size, stored->transform_json);
	if (loaded->model == NULL)
		ereport(ERROR,
				(errcode(pt_sqlstate_of(pt_last_error_kind())),
				 errmsg("could not load model \"%s\" version %d: %s", loaded->identifier, loaded->version,
						pt_last_error())));
	loaded->output_width = pt_torch.pt_model_output_width(loaded->model);
	loaded->batch_rows = (int) pt_torch.pt_model_batch_rows(loaded->model);
}

/* A TorchScript module predicts in a helper, started when first needed (again after a
 * failure killed it). */
static void
ensure_helper(LoadedModel *loaded)
{
	if (loaded->model != NULL || loaded->helper != NULL)
		return;
	loaded->helper = pt_helper_start_predictor(&loaded->stored, pinnacle_predict_threads, &loaded->output_width,
											   &loaded->batch_rows);
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

LoadedModel *
pt_find_model(const char *arg)
{
	PtModelRef	ref = pt_parse_model_ref(arg);
	const char *name = ref.identifier;
	int32		version = ref.version,
				found_version;
	int64		run_id;
	LoadedModel *loaded;

	pt_spi_connect();
	pt_check_schema();
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

void
pt_predict_rows_init(PredictRows *rows, LoadedModel *loaded, const Oid *types, int max_rows)
{
	ensure_helper(loaded);
	rows->loaded = loaded;
	rows->max_rows = Min(max_rows, loaded->batch_rows);
	rows->rows = 0;
	rows->prediction = NULL;
	rows->columns = palloc0(sizeof(PtColumn) * Max(loaded->ninputs, 1));
	for (int i = 0; i < loaded->ninputs; i++)
	{
		pt_column_init(&rows->columns[i], pstrdup(loaded->input_names[i]), types[i], false, NULL);
		rows->columns[i].width = loaded->stored.column_widths[i];
		rows->columns[i].padded = loaded->padded;
	}
	rows->values = palloc(sizeof(float) * rows->max_rows * loaded->input_width);
	rows->lengths = loaded->padded ? palloc(sizeof(int64) * rows->max_rows * loaded->ninputs) : NULL;
	rows->output_width = loaded->output_width;
	rows->output = palloc(sizeof(float) * rows->max_rows * rows->output_width);
}

void
pt_predict_rows_add(PredictRows *rows, const Datum *inputs, int64 row_number)
{
	LoadedModel *loaded = rows->loaded;
	float	   *next = rows->values + rows->rows * loaded->input_width;

	Assert(rows->rows < rows->max_rows);
	for (int i = 0; i < loaded->ninputs; i++)
	{
		PtColumn   *column = &rows->columns[i];
		uint32		count = pt_copy_values(next, column, inputs[i], row_number);

		/* a padded model's input is right-padded with zeros to the column's width */
		if (column->padded)
		{
			memset(next + count, 0, (column->width - count) * sizeof(float));
			rows->lengths[rows->rows * loaded->ninputs + i] = count;
		}
		next += column->width;
	}
	rows->rows++;
}

/* Runs a TorchScript module in its helper. A failure there ends the helper (it may still be
 * running the module), and the next run starts another. */
static void
run_in_helper(PredictRows *rows, int count)
{
	LoadedModel *loaded = rows->loaded;

	ensure_helper(loaded);
	PG_TRY();
	{
		pt_helper_predict(loaded->helper, rows->values, count, loaded->input_width, rows->lengths, loaded->ninputs,
						  rows->output, rows->output_width);
	}
	PG_CATCH();
	{
		stop_helper(loaded);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The torch core's error of a layer list's run. */
static void
pg_attribute_noreturn()
could_not_predict(const LoadedModel *loaded)
{
	ereport(ERROR,
			(errcode(pt_sqlstate_of(pt_last_error_kind())),
			 errmsg("model \"%s\" could not predict: %s", loaded->identifier, pt_last_error())));
}

int
pt_predict_rows_run(PredictRows *rows)
{
	LoadedModel *loaded = rows->loaded;
	int			count = rows->rows;

	rows->rows = 0;
	if (count == 0)
		return 0;
	if (loaded->model == NULL)
		run_in_helper(rows, count);
	else if (!pt_torch.pt_model_predict(loaded->model, rows->values, count, rows->lengths, rows->output))
		could_not_predict(loaded);
	return count;
}

void
pt_predict_wait_for_started(void)
{
	for (LoadedModel *loaded = loaded_models; loaded != NULL; loaded = loaded->next)
		if (loaded->model != NULL)
			pt_torch.pt_model_wait_for_started(loaded->model);
}

/* A process that exits while a model's thread runs it would tear libtorch down under that
 * thread (the exit's destructors), and a crash there restarts the server: the exit waits for
 * the runs started on every loaded model. (A model evicted from the cache ended its thread.) */
static void
wait_for_started_at_exit(int code, Datum arg)
{
	pt_predict_wait_for_started();
}

void
pt_predict_rows_start(PredictRows *rows)
{
	static bool exit_waits = false;
	LoadedModel *loaded = rows->loaded;
	int			count = rows->rows;

	Assert(rows->prediction == NULL);
	rows->rows = 0;
	if (count == 0)
		return;
	if (loaded->model == NULL)
	{
		/* a module's helper is a process of its own: it runs now, while this one waits */
		run_in_helper(rows, count);
		return;
	}
	if (!exit_waits)
	{
		on_proc_exit(wait_for_started_at_exit, (Datum) 0);
		exit_waits = true;
	}
	rows->prediction = pt_torch.pt_model_predict_start(loaded->model, rows->values, count, rows->lengths);
	if (rows->prediction == NULL)
		could_not_predict(loaded);
}

void
pt_predict_rows_finish(PredictRows *rows)
{
	PtPrediction *prediction = rows->prediction;

	rows->prediction = NULL;
	if (prediction != NULL && !pt_torch.pt_prediction_finish(rows->loaded->model, prediction, rows->output))
		could_not_predict(rows->loaded);
}

void
pt_predict_rows_drop(PredictRows *rows)
{
	if (rows->prediction != NULL)
		pt_torch.pt_prediction_drop(rows->prediction);
	rows->prediction = NULL;
}

/* One call site's state for the length of a query (fn_extra). */
typedef struct CallSite
{
	text	   *identifier_arg;
	PredictRows rows;			/* one row a call */
	Datum	   *inputs;
} CallSite;

static void
check_arguments(FunctionCallInfo fcinfo, const LoadedModel *loaded)
{
	int			given = PG_NARGS() - 1;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass the model's inputs as separate arguments, not as a VARIADIC array")));
	if (given != loaded->ninputs)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" takes %d inputs, %d given", loaded->identifier, loaded->ninputs, given)));
}

static CallSite *
call_site(FunctionCallInfo fcinfo)
{
	CallSite   *site = fcinfo->flinfo->fn_extra;
	text	   *identifier = PG_GETARG_TEXT_PP(0);
	LoadedModel *loaded;
	Oid		   *types;
	MemoryContext old;

	if (site != NULL && VARSIZE_ANY(identifier) == VARSIZE_ANY(site->identifier_arg) &&
		memcmp(identifier, site->identifier_arg, VARSIZE_ANY(identifier)) == 0)
		return site;

	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	site = palloc0(sizeof(CallSite));
	site->identifier_arg = (text *) pg_detoast_datum_copy((struct varlena *) identifier);
	loaded = pt_find_model(text_to_cstring(identifier));
	check_arguments(fcinfo, loaded);
	types = palloc(sizeof(Oid) * Max(loaded->ninputs, 1));
	for (int i = 0; i < loaded->ninputs; i++)
		types[i] = get_fn_expr_argtype(fcinfo->flinfo, i + 1);
	pt_predict_rows_init(&site->rows, loaded, types, 1);
	site->inputs = palloc(sizeof(Datum) * Max(loaded->ninputs, 1));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = site;
	return site;
}

/* pinnacle_predict's and pinnacle_classify's arguments after the identifier, as one row (the
 * functions are strict: none is NULL); returns the model's output. */
static const float *
predict_arguments(FunctionCallInfo fcinfo, CallSite *site)
{
	for (int i = 0; i < site->rows.loaded->ninputs; i++)
		site->inputs[i] = PG_GETARG_DATUM(i + 1);
	pt_predict_rows_add(&site->rows, site->inputs, 0);
	pt_predict_rows_run(&site->rows);
	return site->rows.output;
}

Datum
pt_float_array(const float *values, int64 count)
{
	Datum	   *datums = palloc(sizeof(Datum) * count);

	for (int64 i = 0; i < count; i++)
		datums[i] = Float4GetDatum(values[i]);
	return PointerGetDatum(construct_array(datums, count, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

Datum
pinnacle_predict(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = predict_arguments(fcinfo, site);

	PG_RETURN_DATUM(pt_float_array(output, site->rows.output_width));
}

Datum
pinnacle_classify(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = predict_arguments(fcinfo, site);
	int64		width = site->rows.output_width;
	int64		best = 0;

	if (width == 1)				/* one logit: a binary classifier */
		PG_RETURN_INT64(output[0] > 0 ? 1 : 0);
	for (int64 i = 1; i < width; i++)
		if (output[i] > output[best])
			best = i;
	PG_RETURN_INT64(best);
}

/* What pinnacle_import needs to add the version elsewhere: its spec, fitted transform, column
 * widths, version and metrics, and (in *optimizer_state) its checkpoint's optimizer state, so
 * that training continues there with the same moments (the weights travel beside them). */
static char *
export_metadata(const LoadedModel *loaded, bytea **optimizer_state)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(loaded->identifier), Int32GetDatum(loaded->version)};
	MemoryContext caller_context = CurrentMemoryContext;
	char	   *metadata;
	bool		isnull;

	pt_spi_connect();
	if (SPI_execute_with_args("SELECT jsonb_build_object('pinnacle_train', '" PT_SCHEMA_VERSION "', "
							  "'identifier', m.identifier, 'version', m.version, 'uuid', m.uuid, "
							  "'spec', r.spec, 'transform', m.transform, 'column_widths', m.column_widths, "
							  "'iteration', m.iteration, 'iterations', r.iterations, "
							  "'best_iteration', r.best_iteration, 'best_value', r.best_value, "
							  "'metric_values', r.metric_values)::text, c.optimizer_state "
							  "FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id "
							  "JOIN pinnacle.checkpoints c ON c.run_id = m.run_id AND c.iteration = m.iteration "
							  "WHERE m.identifier = $1 AND m.version = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" version %d is gone", loaded->identifier, loaded->version)));
	metadata = MemoryContextStrdup(caller_context, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	/* copied where the caller's context keeps it past SPI_finish */
	MemoryContextSwitchTo(caller_context);
	*optimizer_state = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	return metadata;
}

bytea *
pt_export_model(const char *identifier)
{
	LoadedModel *loaded = pt_find_model(identifier);
	bytea	   *optimizer_state;
	char	   *metadata = export_metadata(loaded, &optimizer_state);

	return pt_helper_export(&loaded->stored, metadata, optimizer_state);
}
