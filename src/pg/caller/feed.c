#include "postgres.h"

#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/builtins.h"
#include "utils/plancache.h"

#include "feed.h"
#include "wire.h"

/* Rows fetched from the cursor at a time, and at most in a message; the size from which a
 * message is sent. */
#define FETCH_ROWS 1000
#define MESSAGE_BYTES (1024 * 1024)

static void
select_error_context(void *arg)
{
	errcontext("spec field \"%s\"", (const char *) arg);
}

static void
subject_error_context(void *arg)
{
	errcontext("%s", (const char *) arg);
}

/* A select that writes, locks rows or is not a query at all is refused before it runs. */
static void
check_read_only(SPIPlanPtr plan, const char *subject)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	ListCell   *lc;

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a single query", subject)));
	foreach(lc, ((CachedPlanSource *) linitial(sources))->query_list)
	{
		Query	   *query = lfirst_node(Query, lc);

		if (query->commandType != CMD_SELECT || query->hasModifyingCTE || query->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
					 errmsg("%s must be a read-only SELECT", subject),
					 errdetail("INSERT, UPDATE, DELETE, data-modifying WITH, SELECT INTO and FOR UPDATE/SHARE are not allowed.")));
	}
}

static char *
column_list(TupleDesc desc)
{
	StringInfoData names;

	initStringInfo(&names);
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			appendStringInfo(&names, "%s%s", names.len ? ", " : "", NameStr(TupleDescAttr(desc, i)->attname));
	return names.data;
}

static void
resolve_columns(PtFeed *feed, const PtSpec *spec, TupleDesc desc)
{
	feed->ncolumns = pt_spec_column_count(spec);
	feed->columns = palloc0(sizeof(PtColumn) * feed->ncolumns);
	feed->attnums = palloc0(sizeof(int) * feed->ncolumns);
	for (int c = 0; c < feed->ncolumns; c++)
	{
		const char *name = pstrdup(pt_spec_column_name(spec, c));
		int			attnum = SPI_fnumber(desc, name);

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" is not returned by spec field \"%s\"", name, feed->field),
					 errdetail("The select returns: %s.", column_list(desc))));
		pt_column_init(&feed->columns[c], name, SPI_gettypeid(desc, attnum),
					   pt_spec_column_is_class_index(spec, c), "a classification objective");
		feed->columns[c].padded = pt_spec_column_is_padded(spec, c);
		feed->attnums[c] = attnum;
	}
}

static void
start_message(PtFeed *feed)
{
	resetStringInfo(&feed->message);
	appendStringInfoChar(&feed->message, feed->kind);
	appendStringInfoSpaces(&feed->message, PT_ROWS_HEADER_SIZE - 1);
	feed->rows_in_message = 0;
}

TupleDesc
pt_plan_result(SPIPlanPtr plan)
{
	return ((CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan)))->resultDesc;
}

/* Plans `sql`, checks that it is a read-only query returning the key columns and, when
 * `cursor_read_only` is given, opens a cursor on it (where permissions are checked). */
static SPIPlanPtr
plan_select(PtFeed *feed, const PtSpec *spec, const char *sql, const bool *cursor_read_only)
{
	ErrorContextCallback context = {.previous = error_context_stack, .callback = select_error_context,
	.arg = (void *) feed->field};
	SPIPlanPtr	plan = pt_check_select(sql, psprintf("spec field \"%s\"", feed->field));

	error_context_stack = &context;
	resolve_columns(feed, spec, pt_plan_result(plan));
	if (cursor_read_only != NULL)
		feed->cursor = SPI_cursor_open(NULL, plan, NULL, NULL, *cursor_read_only);
	error_context_stack = context.previous;
	return plan;
}

int64 *
pt_feed_widths(const PtFeed *feed)
{
	int64	   *widths = palloc(sizeof(int64) * feed->ncolumns);

	for (int c = 0; c < feed->ncolumns; c++)
		widths[c] = feed->columns[c].width;
	return widths;
}

int64
pt_feed_estimated_rows(const PtFeed *feed)
{
	PlannedStmt *statement = linitial_node(PlannedStmt, feed->cursor->stmts);
	double		rows = statement->planTree->plan_rows;

	return rows < (double) PG_INT64_MAX ? (int64) rows : PG_INT64_MAX;	/* estimates reach 1e100 */
}

SPIPlanPtr
pt_check_select(const char *sql, const char *subject)
{
	ErrorContextCallback context = {.previous = error_context_stack, .callback = subject_error_context,
	.arg = (void *) subject};
	SPIPlanPtr	plan;

	error_context_stack = &context;
	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	check_read_only(plan, subject);
	error_context_stack = context.previous;
	return plan;
}

SPIPlanPtr
pt_feed_check(const PtSpec *spec, const char *sql, const char *field)
{
	PtFeed		feed = {.field = field};

	return plan_select(&feed, spec, sql, NULL);
}

void
pt_feed_open(PtFeed *feed, const PtSpec *spec, const char *sql, const char *field, char kind,
			 bool reads_own_writes)
{
	/* a read-only cursor keeps the statement's snapshot, which predates this call's writes */
	bool		read_only = !reads_own_writes;

	memset(feed, 0, sizeof(*feed));
	feed->field = field;
	feed->kind = kind;
	plan_select(feed, spec, sql, &read_only);

	initStringInfo(&feed->message);
	start_message(feed);
}

/* The next fetched row, fetching another batch when this one is used up; NULL at the end. */
static HeapTuple
next_tuple(PtFeed *feed)
{
	ErrorContextCallback context = {.previous = error_context_stack, .callback = select_error_context,
	.arg = (void *) feed->field};

	if (feed->batch != NULL && feed->next_row < feed->batch_rows)
		return feed->batch->vals[feed->next_row++];
	if (feed->batch != NULL)
		SPI_freetuptable(feed->batch);
	feed->batch = NULL;
	if (feed->exhausted)
		return NULL;
	error_context_stack = &context;
	SPI_cursor_fetch(feed->cursor, true, FETCH_ROWS);
	error_context_stack = context.previous;
	feed->batch = SPI_tuptable;
	feed->batch_rows = SPI_processed;
	feed->next_row = 0;
	feed->exhausted = SPI_processed == 0;
	return next_tuple(feed);
}

bool
pt_feed_next(PtFeed *feed)
{
	bool		encoded = false;
	HeapTuple	tuple;

	/* a message is sized by its bytes, so wide rows never overflow a StringInfo, and holds at
	 * most a fetch of rows, so narrow ones reach the supervisor (and the model check) soon */
	while (feed->message.len < MESSAGE_BYTES && feed->rows_in_message < FETCH_ROWS &&
		   (tuple = next_tuple(feed)) != NULL)
	{
		feed->rows++;
		for (int c = 0; c < feed->ncolumns; c++)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(tuple, feed->batch->tupdesc, feed->attnums[c], &isnull);

			pt_append_values(&feed->message, &feed->columns[c], value, isnull, feed->rows);
		}
		feed->rows_in_message++;
		encoded = true;
	}
	return encoded;
}

static void
send_message(shm_mq_handle *queue, const char *data, Size size)
{
	if (shm_mq_send(queue, size, data, false, true) != SHM_MQ_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the training worker stopped while receiving rows"),
				 errhint("See pinnacle.runs and the server log for its reason.")));
}

void
pt_feed_flush(PtFeed *feed, shm_mq_handle *queue)
{
	if (feed->rows_in_message == 0)
		return;
	memcpy(feed->message.data + PT_ROWS_BODY_OFFSET, &feed->rows_in_message, sizeof(uint32));
	send_message(queue, feed->message.data, feed->message.len);
	start_message(feed);
}

void
pt_feed_flush_all(PtFeed *feed, shm_mq_handle **queues, int nqueues)
{
	if (feed->rows_in_message == 0)
		return;
	memcpy(feed->message.data + PT_ROWS_BODY_OFFSET, &feed->rows_in_message, sizeof(uint32));
	for (int i = 0; i < nqueues; i++)
		send_message(queues[i], feed->message.data, feed->message.len);
	start_message(feed);
}

void
pt_feed_send_end(shm_mq_handle *queue, int64 total_rows)
{
	char		message[PT_END_SIZE] = {PT_MSG_END};
	uint64		total = (uint64) total_rows;

	memcpy(message + 8, &total, sizeof(uint64));
	send_message(queue, message, sizeof(message));
}
