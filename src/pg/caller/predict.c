/*
 * pinnacle_predict(identifier, VARIADIC inputs) and pinnacle_classify(...): inference in the
 * calling backend. A loaded model is kept per backend, keyed by identifier, version and run;
 * each query resolves the identifier once (per call site), so a newer version is picked up
 * by the next statement without a reconnect.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#include "model_ref.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "row_values.h"
#include "runtime.h"

PG_FUNCTION_INFO_V1(pinnacle_predict);
PG_FUNCTION_INFO_V1(pinnacle_classify);

typedef struct LoadedModel
{
	char	   *identifier;
	int32		version;
	int64		run_id;
	PtModel    *model;
	LocalTransactionId used_in; /* a call site of this transaction may hold it */
	struct LoadedModel *next;
} LoadedModel;

/* The backend's loaded models (TopMemoryContext), the most recently used first. */
static LoadedModel *loaded_models = NULL;

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
		pfree(loaded->identifier);
		pfree(loaded);
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
	float	   *output;
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

static PtModel *
load_model(const char *name, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(name), Int32GetDatum(version)};
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	ArrayType  *widths_array;
	Datum	   *width_datums;
	int64	   *widths;
	int			nwidths;
	bytea	   *weights;
	PtModel    *model;

	if (SPI_execute_with_args("SELECT m.column_widths, r.spec::text, c.weights, m.transform::text "
							  "FROM pinnacle.models m "
							  "JOIN pinnacle.runs r ON r.id = m.run_id "
							  "JOIN pinnacle.checkpoints c ON c.run_id = m.run_id AND c.iteration = m.iteration "
							  "WHERE m.identifier = $1 AND m.version = $2",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the weights of model \"%s\" version %d are missing", name, version)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	widths_array = DatumGetArrayTypeP(SPI_getbinval(tuple, desc, 1, &isnull));
	deconstruct_array(widths_array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &width_datums, NULL, &nwidths);
	widths = palloc(sizeof(int64) * nwidths);
	for (int i = 0; i < nwidths; i++)
		widths[i] = DatumGetInt64(width_datums[i]);
	weights = DatumGetByteaPP(SPI_getbinval(tuple, desc, 3, &isnull));

	model = pt_model_load(SPI_getvalue(tuple, desc, 2), widths, nwidths, VARDATA_ANY(weights),
						  VARSIZE_ANY_EXHDR(weights), SPI_getvalue(tuple, desc, 4));
	if (model == NULL)
		ereport(ERROR,
				(errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("could not load model \"%s\" version %d: %s", name, version, pt_last_error())));
	return model;
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
		PtModel    *model;

		pt_runtime_ensure(pinnacle_predict_threads);
		model = load_model(name, found_version);
		loaded = MemoryContextAllocZero(TopMemoryContext, sizeof(LoadedModel));
		loaded->identifier = MemoryContextStrdup(TopMemoryContext, name);
		loaded->version = found_version;
		loaded->run_id = run_id;
		loaded->model = model;
		loaded->next = loaded_models;
		loaded_models = loaded;
	}
	mark_used(loaded);
	evict_models();
	SPI_finish();
	return loaded;
}

static void
prepare_inputs(CallSite *site, FunctionCallInfo fcinfo)
{
	PtModel    *model = site->loaded->model;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pass the model's inputs as separate arguments, not as a VARIADIC array")));
	site->ninputs = PG_NARGS() - 1;
	if (site->ninputs != pt_model_input_columns(model))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" takes %d inputs, %d given", site->loaded->identifier,
						pt_model_input_columns(model), site->ninputs)));
	site->columns = palloc0(sizeof(PtColumn) * site->ninputs);
	for (int i = 0; i < site->ninputs; i++)
	{
		pt_column_init(&site->columns[i], pstrdup(pt_model_input_name(model, i)),
					   get_fn_expr_argtype(fcinfo->flinfo, i + 1), false, NULL);
		site->columns[i].padded = pt_model_padded(model);
	}
	site->lengths = palloc(sizeof(int64) * site->ninputs);
	initStringInfo(&site->values);
	site->row = palloc(sizeof(float) * pt_model_input_width(model));
	site->output = palloc(sizeof(float) * pt_model_output_width(model));
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

/* Converts the arguments to one input row and runs the model; returns the output values. */
static const float *
run_model(FunctionCallInfo fcinfo, CallSite *site)
{
	PtModel    *model = site->loaded->model;
	float	   *next = site->row;
	bool		ok;

	for (int i = 0; i < site->ninputs; i++)
	{
		uint32		count;

		resetStringInfo(&site->values);
		site->columns[i].width = pt_model_column_width(model, i);
		pt_append_values(&site->values, &site->columns[i], PG_GETARG_DATUM(i + 1), false, 0);
		memcpy(&count, site->values.data, sizeof(uint32));
		if (site->columns[i].padded)
			pad_input(site, i, count, next);
		memcpy(next, site->values.data + sizeof(uint32), count * sizeof(float));
		next += site->columns[i].width;
	}
	ok = pt_model_padded(model) ? pt_model_predict_padded(model, site->row, site->lengths, site->output)
		: pt_model_predict(model, site->row, site->output);
	if (!ok)
		ereport(ERROR,
				(errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("model \"%s\" could not predict: %s", site->loaded->identifier, pt_last_error())));
	return site->output;
}

Datum
pinnacle_predict(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = run_model(fcinfo, site);
	int64		width = pt_model_output_width(site->loaded->model);
	Datum	   *values = palloc(sizeof(Datum) * width);

	for (int64 i = 0; i < width; i++)
		values[i] = Float4GetDatum(output[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(values, width, FLOAT4OID, sizeof(float4), true, TYPALIGN_INT));
}

Datum
pinnacle_classify(PG_FUNCTION_ARGS)
{
	CallSite   *site = call_site(fcinfo);
	const float *output = run_model(fcinfo, site);
	int64		width = pt_model_output_width(site->loaded->model);
	int64		best = 0;

	if (width == 1)				/* one logit: a binary classifier */
		PG_RETURN_INT64(output[0] > 0 ? 1 : 0);
	for (int64 i = 1; i < width; i++)
		if (output[i] > output[best])
			best = i;
	PG_RETURN_INT64(best);
}

PtModel *
pt_loaded_model(const char *identifier)
{
	return find_model(identifier)->model;
}
