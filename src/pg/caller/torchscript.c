/*
 * pinnacle_import(identifier, torchscript) and pinnacle_export(identifier): TorchScript in and
 * out. An imported module is checked to be TorchScript before it is stored; a spec trains it
 * with "model": {"torchscript": identifier}. An exported model loads with torch.jit.load and
 * gives what pinnacle_predict gives.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
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

Datum
pinnacle_import(PG_FUNCTION_ARGS)
{
	text	   *identifier = PG_GETARG_TEXT_PP(0);
	bytea	   *module = PG_GETARG_BYTEA_PP(1);
	Oid			types[3] = {TEXTOID, BYTEAOID, TEXTOID};
	Datum		values[3] = {PointerGetDatum(identifier), PointerGetDatum(module)};
	PtActingRole caller;
	bool		stored;

	/* a module is a user's code: it is loaded in a helper process, never here */
	pt_helper_check_module(VARDATA_ANY(module), VARSIZE_ANY_EXHDR(module));
	pt_spi_connect();
	pt_check_schema();
	values[2] = CStringGetTextDatum(pt_acting_role_name());
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
	SPI_finish();
	PG_RETURN_VOID();
}

Datum
pinnacle_export(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(pt_export_model(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
