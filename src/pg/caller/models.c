/*
 * pinnacle_deploy(identifier, target) and pinnacle_drop_model(identifier, version): an
 * identifier's versions, managed by its owner (DESIGN.md section 10). The catalog is the
 * extension's: the work is done by SQL functions that the extension's owner runs for the role
 * this backend acts for, and that check it against the identifier's owner.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "extension_owner.h"
#include "pinnacle.h"

PG_FUNCTION_INFO_V1(pinnacle_deploy);
PG_FUNCTION_INFO_V1(pinnacle_drop_model);

/* Runs `query` (returning one int4; $1 the identifier, $2 `arg`, $3 the caller's role) as the
 * extension's owner. Returns its result; *isnull when it is NULL. */
static int32
run_as_owner(const char *query, Datum identifier, Oid arg_type, Datum arg, bool arg_isnull, bool *isnull)
{
	Oid			types[3] = {TEXTOID, arg_type, NAMEOID};
	Datum		values[3] = {identifier, arg, DirectFunctionCall1(namein, CStringGetDatum(pt_acting_role_name()))};
	char		nulls[3] = {' ', arg_isnull ? 'n' : ' ', ' '};
	PtActingRole caller;
	int32		result;

	pt_spi_connect();
	pt_check_schema();
	caller = pt_act_as_extension_owner();
	if (SPI_execute_with_args(query, 3, types, values, nulls, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not run %s", query);
	result = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull));
	pt_act_as(caller);
	SPI_finish();
	return result;
}

Datum
pinnacle_deploy(PG_FUNCTION_ARGS)
{
	bool		isnull;
	int32		version = run_as_owner("SELECT pinnacle.deploy($1, $2, $3)", PG_GETARG_DATUM(0), TEXTOID,
									   PG_GETARG_DATUM(1), false, &isnull);

	PG_RETURN_INT32(version);
}

Datum
pinnacle_drop_model(PG_FUNCTION_ARGS)
{
	bool		isnull;
	int32		dropped;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("pinnacle_drop_model: the identifier is NULL")));
	dropped = run_as_owner("SELECT pinnacle.drop_model($1, $2, $3)", PG_GETARG_DATUM(0), INT4OID,
						   PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1), PG_ARGISNULL(1), &isnull);
	PG_RETURN_INT32(dropped);
}
