/*
 * pinnacle_search(spec, search, wait): a hyperparameter search (DESIGN.md section 11). The
 * core expands the search into trials and checks every trial's spec; this caller then reads
 * the select once, into the snapshot tables of the first trial's run ("download"), checks
 * every trial's model on those rows, starts every trial's supervisor (each trial is a run,
 * queued behind pinnacle.max_workers like any other), records the search, and reads the
 * snapshot once, sending each encoded batch to every trial, so every trial trains and
 * validates on the same rows, in the same order, with the same validation.split. The search ends with its last trial, in the
 * catalog (pinnacle.search_trial_ended), so it needs no process of its own.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "download.h"
#include "feed.h"
#include "helper.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "run_lifecycle.h"
#include "search_record.h"
#include "session.h"
#include "train.h"
#include "wire.h"

PG_FUNCTION_INFO_V1(pinnacle_search);

/* One trial: its spec, and once started its run and session. */
typedef struct Trial
{
	char	   *spec_json;
	PtSpec	   *spec;
	int64		run_id;
	int64		memory_limit;
	int64		bytes_held;		/* of its rows held in memory, against memory_limit */
	PtSession	session;
} Trial;

typedef struct Search
{
	const char *spec_json;
	const char *search_json;
	char	   *plan_json;
	int			ntrials;
	Trial	   *trials;
	const char *train_rows;		/* the snapshot's selects */
	const char *validation_rows;	/* NULL without validation.select */
	PtFeed		train;			/* read and encoded once, sent to every trial */
	PtFeed		validation;
	shm_mq_handle **queues;		/* every trial's rows queue */
} Search;

static char *
jsonb_argument(FunctionCallInfo fcinfo, int n, const char *name)
{
	Jsonb	   *value;

	if (PG_ARGISNULL(n))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the %s must not be NULL", name)));
	value = PG_GETARG_JSONB_P(n);
	return JsonbToCString(NULL, &value->root, VARSIZE(value));
}

/* The core's plan, with every trial's spec checked; the trials' specs taken out of it. */
static void
plan_trials(Search *search)
{
	const char *plan = pt_search_plan(search->spec_json, search->search_json);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (plan == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid pinnacle_search: %s", pt_last_error())));
	search->plan_json = pstrdup(plan);
	values[0] = CStringGetTextDatum(search->plan_json);
	if (SPI_execute_with_args("SELECT t ->> 'spec' FROM jsonb_array_elements($1::jsonb -> 'trials') AS t",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the search's plan");
	search->ntrials = (int) SPI_processed;
	search->trials = palloc0(sizeof(Trial) * search->ntrials);
	for (int i = 0; i < search->ntrials; i++)
		search->trials[i].spec_json = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	/* (drawing run ids runs queries: the plan's rows are read first) */
	for (int i = 0; i < search->ntrials; i++)
	{
		Trial	   *trial = &search->trials[i];

		trial->spec = pt_parse_spec_or_error(trial->spec_json);
		pt_check_training_slots(trial->spec);
		if (pt_spec_server_count(trial->spec) > 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("spec field \"compute_kwargs.servers\": a search's trials train on this server only")));
		trial->memory_limit = pt_memory_limit_bytes(trial->spec);
		trial->run_id = pt_next_run_id();
	}
}

/* Reads the select (and validation.select) once, into the snapshot of the first trial. */
static void
snapshot_rows(Search *search)
{
	Trial	   *first = &search->trials[0];
	const char *validation = pt_spec_validation_select(first->spec);

	search->train_rows = pt_download_rows(first->run_id, "train", first->spec, pt_spec_select(first->spec),
										  "select", 0);
	search->validation_rows = validation == NULL ? NULL
		: pt_download_rows(first->run_id, "validation", first->spec, validation, "validation.select", 0);
	/* every trial reads the snapshot in the same order (a synchronized scan may start
	 * mid-table), so a seeded validation.split holds out the same rows for each */
	SPI_execute("SELECT pg_catalog.set_config('synchronize_seqscans', 'off', true)", false, 0);
}

static void
trial_context(void *arg)
{
	Trial	   *trial = arg;

	errcontext("search trial with run " INT64_FORMAT, trial->run_id);
}

/* Every trial is fed the same encoded rows, so every trial must read them alike: the spec
 * decides whether a target is a class index and an input is padded. */
static void
check_reads_alike(const PtSpec *first, const PtSpec *trial)
{
	for (int c = 0; c < pt_spec_column_count(first); c++)
		if (pt_spec_column_is_class_index(first, c) != pt_spec_column_is_class_index(trial, c) ||
			pt_spec_column_is_padded(first, c) != pt_spec_column_is_padded(trial, c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid pinnacle_search: the trials read column \"%s\" differently",
							pt_spec_column_name(first, c)),
					 errdetail("The search varies what makes a target a class index (objective) or an input "
							   "padded (collate_fn); its trials share one read of the rows."),
					 errhint("Search such values in separate searches.")));
}

/* Builds a trial's model once for the first rows' widths, in a helper process: a layer list
 * may ask for more memory than the run may use, and a TorchScript module is a user's code.
 * (The trials' supervisors are told it was checked: their errors name no trial.) */
static void
check_model_fits_rows(const Trial *trial, const PtFeed *feed)
{
	bytea	   *module = pt_spec_module(trial->spec);

	pt_check_rows_to_train_on(feed);
	pt_helper_check_model(trial->spec_json, pt_feed_widths(feed), feed->ncolumns, module ? VARDATA_ANY(module) : NULL,
						  module ? VARSIZE_ANY_EXHDR(module) : 0, NULL, 0, trial->memory_limit);
}

/* Opens the feeds on the snapshot and builds every trial's model on their first rows. */
static void
check_trials(Search *search)
{
	const PtSpec *first = search->trials[0].spec;

	pt_feed_open(&search->train, first, search->train_rows, "select", PT_MSG_TRAIN_ROWS, true);
	if (search->validation_rows != NULL)
		pt_feed_open(&search->validation, first, search->validation_rows, "validation.select",
					 PT_MSG_VALID_ROWS, true);
	pt_feed_next(&search->train);
	for (int i = 0; i < search->ntrials; i++)
	{
		Trial	   *trial = &search->trials[i];
		ErrorContextCallback context = {.previous = error_context_stack, .callback = trial_context, .arg = trial};

		error_context_stack = &context;
		check_reads_alike(first, trial->spec);
		check_model_fits_rows(trial, &search->train);
		error_context_stack = context.previous;
	}
}

/* Rows a trial holds in memory count against its memory limit, as pinnacle_train counts a
 * run's (training rows that it streams from a spill file do not). */
static void
count_held_bytes(Trial *trial, int64 bytes, bool training)
{
	if (training && !pt_spec_in_memory(trial->spec))
		return;
	trial->bytes_held += bytes;
	if (trial->memory_limit > 0 && trial->bytes_held > trial->memory_limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the training rows of search trial run " INT64_FORMAT " need more than its memory limit of "
						INT64_FORMAT " kB", trial->run_id, trial->memory_limit / 1024),
				 errhint("Raise compute_kwargs.memory_limit or pinnacle.memory_limit, or set \"in_memory\": false.")));
}

/* Sends the feed's rows, encoded once (the first batch already), to every trial. */
static void
stream_to_all(Search *search, PtFeed *feed, bool training)
{
	do
	{
		for (int i = 0; i < search->ntrials; i++)
			count_held_bytes(&search->trials[i], feed->message.len, training);
		pt_feed_flush_all(feed, search->queues, search->ntrials);
		if (pt_client_connection_lost())
			ereport(FATAL,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the client went away while its rows were streaming to a search's trials")));
	} while (pt_feed_next(feed));
}

static void
stream_rows(Search *search)
{
	int64		rows;

	stream_to_all(search, &search->train, true);
	rows = search->train.rows;
	if (search->validation_rows != NULL)
	{
		for (int c = 0; c < search->validation.ncolumns; c++)
			search->validation.columns[c].width = search->train.columns[c].width;
		if (!pt_feed_next(&search->validation))
			ereport(ERROR, (errcode(ERRCODE_NO_DATA_FOUND), errmsg("spec field \"validation.select\" returned no rows")));
		stream_to_all(search, &search->validation, false);
		rows += search->validation.rows;
	}
	for (int i = 0; i < search->ntrials; i++)
		pt_feed_send_end(search->queues[i], rows);
}

/* The plan pinnacle.record_search takes: the core's, with the base spec, the search and
 * each trial's run. */
static char *
record_plan(Search *search)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, INT8ARRAYOID};
	Datum		values[4];
	Datum	   *run_ids = palloc(sizeof(Datum) * search->ntrials);

	for (int i = 0; i < search->ntrials; i++)
		run_ids[i] = Int64GetDatum(search->trials[i].run_id);
	values[0] = CStringGetTextDatum(search->plan_json);
	values[1] = CStringGetTextDatum(search->spec_json);
	values[2] = CStringGetTextDatum(search->search_json);
	values[3] = PointerGetDatum(construct_array(run_ids, search->ntrials, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args("SELECT p - 'trials' || jsonb_build_object('identifier', $2::jsonb ->> 'identifier', "
							  "'spec', $2::jsonb, 'search', $3::jsonb, 'trials', "
							  "(SELECT jsonb_agg(jsonb_build_object('run_id', r.id, 'params', t.value -> 'params') ORDER BY r.n) "
							  "FROM unnest($4) WITH ORDINALITY AS r(id, n) "
							  "JOIN jsonb_array_elements(p -> 'trials') WITH ORDINALITY AS t(value, n) ON t.n = r.n)) "
							  "FROM (SELECT $1::jsonb AS p) AS plan", 4, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not build the search's record");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* Relays a waited trial's progress until its result; a trial that did not succeed is a
 * NOTICE, not an error: the search goes on with the others. */
static void
await_trial(int64 search_id, Trial *trial)
{
	for (;;)
	{
		PtReply		reply = pt_session_next_reply(&trial->session);

		if (!reply.is_result)
			ereport(NOTICE, (errmsg("search " INT64_FORMAT " run " INT64_FORMAT " %s", search_id, trial->run_id,
									reply.text)));
		else
		{
			if (strcmp(reply.text, PT_STATUS_SUCCEEDED) != 0)
				ereport(NOTICE, (errmsg("search " INT64_FORMAT " run " INT64_FORMAT " %s: %s", search_id, trial->run_id,
										reply.text, reply.error)));
			return;
		}
	}
}

/* The search's status once its last trial ended, read with a fresh snapshot. */
static char *
search_status(int64 search_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(search_id)};

	if (SPI_execute_with_args("SELECT status FROM pinnacle.searches WHERE id = $1", 1, types, values, NULL, false,
							  1) != SPI_OK_SELECT || SPI_processed == 0)
		elog(ERROR, "search " INT64_FORMAT " is not on record", search_id);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

static void
start_trials(Search *search, bool wait)
{
	search->queues = palloc(sizeof(shm_mq_handle *) * search->ntrials);
	for (int i = 0; i < search->ntrials; i++)
	{
		Trial	   *trial = &search->trials[i];
		ErrorContextCallback context = {.previous = error_context_stack, .callback = trial_context, .arg = trial};

		error_context_stack = &context;
		trial->session = pt_start_counted_supervisor(trial->spec_json, trial->run_id, wait, trial->memory_limit,
													 (PtResumePoint) {0, 0},
													 pt_feed_estimated_rows(&search->train), NULL, NULL);
		search->queues[i] = trial->session.rows;
		error_context_stack = context.previous;
	}
}

Datum
pinnacle_search(PG_FUNCTION_ARGS)
{
	Search		search = {0};
	bool		wait = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	int64		search_id;
	char	   *status;

	search.spec_json = jsonb_argument(fcinfo, 0, "spec");
	search.search_json = jsonb_argument(fcinfo, 1, "search");
	(void) pt_parse_spec_or_error(search.spec_json);

	pt_spi_connect();
	pt_check_schema();
	SPI_execute("SELECT pinnacle.mark_lost_runs()", false, 0);
	plan_trials(&search);
	pt_check_identifier_owner(pt_spec_identifier(search.trials[0].spec));
	pt_check_role_can_log_in();
	snapshot_rows(&search);
	/* every trial's model is built before any trial starts */
	check_trials(&search);
	/* every trial's run is on record before any can end, so the last to end finishes it */
	start_trials(&search, wait);
	search_id = pt_search_record(record_plan(&search));
	stream_rows(&search);

	if (wait)
	{
		for (int i = 0; i < search.ntrials; i++)
			await_trial(search_id, &search.trials[i]);
		status = search_status(search_id);
		if (strcmp(status, PT_STATUS_SUCCEEDED) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("pinnacle_search " INT64_FORMAT " ended %s", search_id, status),
					 errhint("See pinnacle.search_trials and the trials' runs in pinnacle.runs.")));
	}
	SPI_finish();
	for (int i = 0; i < search.ntrials; i++)
		dsm_detach(search.trials[i].session.segment);
	PG_RETURN_INT64(search_id);
}
