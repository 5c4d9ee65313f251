#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "feed.h"
#include "download.h"
#include "extension_owner.h"

static void
field_error_context(void *arg)
{
	errcontext("spec field \"%s\"", (const char *) arg);
}

static Datum
array_datum(Datum *elements, int count, Oid type)
{
	int16		length;
	bool		by_value;
	char		align;

	get_typlenbyvalalign(type, &length, &by_value, &align);
	return PointerGetDatum(construct_array(elements, count, type, length, by_value, align));
}

/* A table's columns need distinct names, a select's do not. */
static void
check_distinct_names(TupleDesc desc)
{
	for (int i = 0; i < desc->natts; i++)
		for (int j = 0; j < i; j++)
			if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), NameStr(TupleDescAttr(desc, j)->attname)) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("spec field \"download\": the select returns two columns named \"%s\", which a "
								"snapshot table cannot hold", NameStr(TupleDescAttr(desc, i)->attname)),
						 errhint("Name them apart with AS.")));
}

/* An empty snapshot table with the columns of `desc`, owned by the calling role. Roles may
 * not create tables in schema pinnacle, nor run the helper that does: this backend runs it
 * as the extension's owner, for the role it acts as. */
static char *
create_table(int64 run_id, const char *part, TupleDesc desc)
{
	Datum	   *names = palloc(sizeof(Datum) * desc->natts);
	Datum	   *types = palloc(sizeof(Datum) * desc->natts);
	Datum	   *typmods = palloc(sizeof(Datum) * desc->natts);
	Oid			arg_types[6] = {INT8OID, TEXTOID, NAMEOID, TEXTARRAYOID, REGTYPEARRAYOID, INT4ARRAYOID};
	Datum		args[6];
	PtActingRole caller;
	bool		created;

	for (int i = 0; i < desc->natts; i++)
	{
		names[i] = CStringGetTextDatum(NameStr(TupleDescAttr(desc, i)->attname));
		types[i] = ObjectIdGetDatum(TupleDescAttr(desc, i)->atttypid);
		typmods[i] = Int32GetDatum(TupleDescAttr(desc, i)->atttypmod);
	}
	args[0] = Int64GetDatum(run_id);
	args[1] = CStringGetTextDatum(part);
	args[2] = DirectFunctionCall1(namein, CStringGetDatum(pt_acting_role_name()));
	args[3] = array_datum(names, desc->natts, TEXTOID);
	args[4] = array_datum(types, desc->natts, REGTYPEOID);
	args[5] = array_datum(typmods, desc->natts, INT4OID);
	caller = pt_act_as_extension_owner();
	created = SPI_execute_with_args("SELECT pinnacle.create_snapshot($1, $2, $3, $4, $5, $6)", 6, arg_types, args,
									NULL, false, 1) == SPI_OK_SELECT;
	pt_act_as(caller);
	if (!created)
		elog(ERROR, "could not create the snapshot of run " INT64_FORMAT, run_id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The text of the one statement in `sql`, without a trailing semicolon, to nest in a query. */
static char *
statement_text(const char *sql)
{
	RawStmt    *statement = linitial_node(RawStmt, pg_parse_query(sql));

	if (statement->stmt_len == 0)
		return pstrdup(sql + statement->stmt_location);
	return pnstrdup(sql + statement->stmt_location, statement->stmt_len);
}

/* Inserts the rows of `source` as the calling role sees them in the statement's snapshot,
 * the same rows a feed without a snapshot would read. */
static uint64
fill_table(const char *table, const char *source)
{
	/* the newlines keep a trailing comment of the select from swallowing the parenthesis */
	char	   *sql = psprintf("INSERT INTO %s SELECT * FROM (\n%s\n) AS selected", table, statement_text(source));
	SPIPlanPtr	plan = SPI_prepare(sql, 0, NULL);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_execute_snapshot(plan, NULL, NULL, GetActiveSnapshot(), InvalidSnapshot, false, true, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not fill the snapshot %s", table);
	return SPI_processed;
}

/* The snapshot `part` of an earlier run, or NULL when it kept none. */
static char *
snapshot_of_run(int64 run_id, const char *part)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(run_id), CStringGetTextDatum(part)};
	char	   *name;
	bool		isnull;

	if (SPI_execute_with_args("SELECT name, to_regclass(name) IS NOT NULL FROM (SELECT CASE $2 WHEN 'train' "
							  "THEN snapshot ELSE validation_snapshot END AS name FROM pinnacle.runs WHERE id = $1) r",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		return NULL;
	name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (name != NULL && !DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("spec field \"download\": run " INT64_FORMAT " kept its rows in %s, which is gone", run_id,
						name),
				 errdetail("A run that continues a run with a snapshot trains on the same rows; the table was "
						   "dropped, or the transaction that made it rolled back."),
				 errhint("Set \"download\": false to train on the current rows of the spec's select.")));
	return name;
}

static void
report_source(int64 run_id, const char *part, const char *table, uint64 rows, const char *field,
			  int64 resume_run_id, const char *earlier)
{
	const char *what = strcmp(part, "train") == 0 ? "training" : "validation";

	if (earlier != NULL)
		ereport(NOTICE,
				(errmsg("run " INT64_FORMAT " trains on the %s rows of run " INT64_FORMAT " (%s), not on spec field "
						"\"%s\": " UINT64_FORMAT " rows, kept in %s",
						run_id, what, resume_run_id, earlier, field, rows, table)));
	else if (resume_run_id != 0)
		ereport(NOTICE,
				(errmsg("run " INT64_FORMAT " continues run " INT64_FORMAT ", which kept no snapshot of its %s rows: "
						"it keeps the " UINT64_FORMAT " rows of spec field \"%s\" in %s",
						run_id, resume_run_id, what, rows, field, table)));
	else
		ereport(NOTICE,
				(errmsg("run " INT64_FORMAT " keeps its " UINT64_FORMAT " %s rows (spec field \"%s\") in %s",
						run_id, rows, what, field, table)));
}

const char *
pt_download_rows(int64 run_id, const char *part, const PtSpec *spec, const char *sql, const char *field,
				 int64 resume_run_id)
{
	char	   *earlier = resume_run_id != 0 ? snapshot_of_run(resume_run_id, part) : NULL;
	const char *source = earlier != NULL ? psprintf("SELECT * FROM %s", earlier) : sql;
	const char *source_field = earlier != NULL ? "download" : field;
	SPIPlanPtr	plan = pt_feed_check(spec, source, source_field);
	ErrorContextCallback context = {.previous = error_context_stack, .callback = field_error_context,
	.arg = "download"};
	char	   *table;
	uint64		rows;

	check_distinct_names(pt_plan_result(plan));
	/* a column type no table can have is the snapshot's problem */
	error_context_stack = &context;
	table = create_table(run_id, part, pt_plan_result(plan));
	/* while an error in the rows is the select's */
	context.arg = (void *) source_field;
	rows = fill_table(table, source);
	error_context_stack = context.previous;
	report_source(run_id, part, table, rows, field, resume_run_id, earlier);
	return psprintf("SELECT * FROM %s", table);
}
