/*
 * pinnacle_import(identifier, torchscript) and pinnacle_export(identifier): TorchScript in and
 * out. An imported module is checked to be TorchScript before it is stored; a spec trains it
 * with "model": {"torchscript": identifier}. An exported model loads with torch.jit.load and
 * gives what pinnacle_predict gives; its archive carries the version's metadata, weights and
 * optimizer state, so that pinnacle_import of it in another database adds a version that
 * predicts the same and continues training with the same optimizer state.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "extension_owner.h"
#include "helper.h"
#include "model_ref.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "runtime.h"

PG_FUNCTION_INFO_V1(pinnacle_import);
PG_FUNCTION_INFO_V1(pinnacle_export);

/* The stored model an archive's metadata describes, with the archive's weights: its spec,
 * fitted transform and column widths, checked (nothing in an archive is trusted). Call inside
 * SPI; the strings live in the current memory context. */
static PtStoredModel
read_metadata(Datum metadata, bytea *weights)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {metadata};
	PtStoredModel model = {.weights = VARDATA(weights), .weights_size = VARSIZE(weights) - VARHDRSZ};
	Datum	   *datums;
	bool	   *nulls;
	bool		isnull;
	PtSpec	   *spec;
	int64	   *widths;

	if (SPI_execute_with_args("SELECT m ->> 'spec', CASE WHEN m ? 'transform' THEN m ->> 'transform' ELSE '{}' END, "
							  "ARRAY(SELECT w::bigint FROM jsonb_array_elements_text(m -> 'column_widths') AS w) "
							  "FROM (SELECT $1::jsonb AS m) AS metadata",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the archive's metadata");
	model.spec_json = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	model.transform_json = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	/* (a JSON null reads as SQL NULL too) */
	if (model.spec_json == NULL || model.transform_json == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pinnacle_import: the archive's metadata has no %s", model.spec_json == NULL ? "spec" : "transform")));
	spec = pt_parse_spec_or_error(model.spec_json);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)),
					  INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &datums, &nulls, &model.columns);
	if (model.columns != pt_spec_column_count(spec))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("pinnacle_import: the archive stores %d column widths for %d key columns", model.columns,
						pt_spec_column_count(spec))));
	widths = palloc(sizeof(int64) * Max(model.columns, 1));
	for (int i = 0; i < model.columns; i++)
	{
		widths[i] = nulls[i] ? 0 : DatumGetInt64(datums[i]);
		if (widths[i] <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("pinnacle_import: the archive stores a column width of " INT64_FORMAT, widths[i])));
	}
	model.column_widths = widths;
	return model;
}

/* An archive of pinnacle_export: its model version, loaded in a helper as predict would load it,
 * is added as the next version of `identifier`, with its weights and optimizer state as that
 * helper saved them. Call inside SPI. */
static void
import_version(text *identifier, const PtArchiveFiles *archive)
{
	Datum		metadata = PointerGetDatum(archive->metadata_json);	/* text and bytea share a layout */
	PtStoredModel model;
	Oid			types[5] = {TEXTOID, TEXTOID, BYTEAOID, BYTEAOID, NAMEOID};
	Datum		values[5];
	bytea	   *weights;
	bytea	   *optimizer_state;
	PtActingRole caller;
	bool		isnull;
	int32		version;

	/* text in the catalog must be valid in the database's encoding, or a dump of it would
	 * not restore: SPI takes a text parameter's bytes as they are */
	if (!pg_verifymbstr(VARDATA(archive->metadata_json), VARSIZE(archive->metadata_json) - VARHDRSZ, true))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("pinnacle_import: the archive's metadata is not valid text in the database's encoding")));
	model = read_metadata(metadata, archive->weights);
	pt_helper_import(&model, archive->optimizer_state, &weights, &optimizer_state);
	values[0] = PointerGetDatum(identifier);
	values[1] = metadata;
	values[2] = PointerGetDatum(weights);
	values[3] = PointerGetDatum(optimizer_state);
	values[4] = DirectFunctionCall1(namein, CStringGetDatum(pt_acting_role_name()));
	caller = pt_act_as_extension_owner();
	if (SPI_execute_with_args("SELECT pinnacle.import_version($1, $2::jsonb, $3, $4, $5)", 5, types, values, NULL,
							  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not record the imported model version");
	version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_act_as(caller);
	ereport(NOTICE,
			(errmsg("pinnacle_import: model \"%s\" version %d", text_to_cstring(identifier), version)));
}

/* A plain module, for specs with "model": {"torchscript": identifier}. */
static void
store_module(text *identifier, bytea *module)
{
	Oid			types[3] = {TEXTOID, BYTEAOID, TEXTOID};
	Datum		values[3] = {PointerGetDatum(identifier), PointerGetDatum(module),
	CStringGetTextDatum(pt_acting_role_name())};
	PtActingRole caller;
	bool		stored;

	/* the catalog is the extension's: stored as its owner, for this role; a module of another
	 * role with this name is not replaced */
	caller = pt_act_as_extension_owner();
	stored = SPI_execute_with_args("INSERT INTO pinnacle.modules (identifier, torchscript, owner) VALUES ($1, $2, $3) "
								   "ON CONFLICT (identifier) DO UPDATE SET torchscript = EXCLUDED.torchscript, "
								   "created_at = clock_timestamp() WHERE pinnacle.modules.owner = EXCLUDED.owner",
								   3, types, values, NULL, false, 0) == SPI_OK_INSERT && SPI_processed == 1;
	pt_act_as(caller);
	if (!stored)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("pinnacle_import: module \"%s\" belongs to another role", text_to_cstring(identifier))));
}

Datum
pinnacle_import(PG_FUNCTION_ARGS)
{
	text	   *identifier = PG_GETARG_TEXT_PP(0);
	bytea	   *module = PG_GETARG_BYTEA_PP(1);
	PtArchiveFiles archive;

	/* a module is a user's code: it is loaded in a helper process, never here */
	archive = pt_helper_check_module(VARDATA_ANY(module), VARSIZE_ANY_EXHDR(module));
	pt_spi_connect();
	pt_check_schema();
	if (VARSIZE(archive.metadata_json) > VARHDRSZ)
		import_version(identifier, &archive);
	else
		store_module(identifier, module);
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
pinnacle_export(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(pt_export_model(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
