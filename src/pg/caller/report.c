/*
 * pinnacle_report(run_id): an SVG chart of a run's metric history, drawn by the core from
 * runs.metric_values. psql can write it to a file: \pset format unaligned, \o chart.svg.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "pinnacle.h"
#include "pinnacle_core.h"

PG_FUNCTION_INFO_V1(pinnacle_report);

Datum
pinnacle_report(PG_FUNCTION_ARGS)
{
	int64		run_id = PG_GETARG_INT64(0);
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	HeapTuple	tuple;
	bool		isnull;
	int64		best_iteration;
	char	   *title;
	const char *svg;
	text	   *result;

	pt_spi_connect();
	pt_check_schema();
	if (SPI_execute_with_args("SELECT metric_values::text, best_iteration, identifier, status "
							  "FROM pinnacle.runs WHERE id = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pinnacle.runs");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("run " INT64_FORMAT " does not exist", run_id)));
	tuple = SPI_tuptable->vals[0];
	best_iteration = DatumGetInt64(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull));
	if (isnull)
		best_iteration = 0;
	title = psprintf("run " INT64_FORMAT " of \"%s\" (%s)", run_id, SPI_getvalue(tuple, SPI_tuptable->tupdesc, 3),
					 SPI_getvalue(tuple, SPI_tuptable->tupdesc, 4));
	svg = pt_report_svg(SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1), best_iteration, title);
	if (svg == NULL)
		ereport(ERROR, (errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("could not draw the report of run " INT64_FORMAT ": %s", run_id, pt_last_error())));
	result = cstring_to_text(svg);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
