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
PG_FUNCTION_INFO_V1(pinnacle_report_search);

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

/* pinnacle_report_search(search_id): every trial's listen curve in one chart, the best marked. */
Datum
pinnacle_report_search(PG_FUNCTION_ARGS)
{
	int64		search_id = PG_GETARG_INT64(0);
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(search_id)};
	HeapTuple	tuple;
	char	   *title;
	const char *svg;
	text	   *result;

	pt_spi_connect();
	if (SPI_execute_with_args("SELECT jsonb_agg(jsonb_build_object("
							  "'label', format('run %s: %s (%s)', t.run_id, (SELECT string_agg(p.key || ' = ' || p.value, ', ') "
							  "FROM jsonb_each(t.params) AS p), r.status), "
							  "'best', t.run_id IS NOT DISTINCT FROM s.best_run_id, "
							  "'iteration', coalesce(r.metric_values -> 'iteration', '[]'), "
							  "'values', coalesce(r.metric_values -> s.listen, '[]')) ORDER BY t.trial)::text, "
							  "s.listen, s.identifier, s.method, s.status "
							  "FROM pinnacle.searches s JOIN pinnacle.search_trials t ON t.search_id = s.id "
							  "JOIN pinnacle.runs r ON r.id = t.run_id WHERE s.id = $1 GROUP BY s.id",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pinnacle.searches");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("search " INT64_FORMAT " does not exist", search_id)));
	tuple = SPI_tuptable->vals[0];
	title = psprintf("search " INT64_FORMAT " of \"%s\" (%s, %s)", search_id, SPI_getvalue(tuple, SPI_tuptable->tupdesc, 3),
					 SPI_getvalue(tuple, SPI_tuptable->tupdesc, 4), SPI_getvalue(tuple, SPI_tuptable->tupdesc, 5));
	svg = pt_search_report_svg(SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1),
							   SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2), title);
	if (svg == NULL)
		ereport(ERROR, (errcode(pt_sqlstate_of(pt_last_error_kind())),
						errmsg("could not draw the report of search " INT64_FORMAT ": %s", search_id, pt_last_error())));
	result = cstring_to_text(svg);
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}
