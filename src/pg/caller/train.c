/*
 * pinnacle_train(spec jsonb, wait boolean): the caller's half of a run. It validates the
 * whole spec before anything starts (the model is built once on the first rows' widths by the
 * run's supervisor, before it records the run: this backend does not load libtorch to train),
 * starts the worker, streams the rows to it in its own snapshot and privileges (with
 * "download", from the snapshot tables it fills first, see snapshot.c), and with
 * wait => true relays the worker's progress and result.
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "tcop/tcopprot.h"

#include "feed.h"
#include "model_ref.h"
#include "pinnacle.h"
#include "pinnacle_core.h"
#include "run_lifecycle.h"
#include "session.h"
#include "download.h"
#include "extension_owner.h"
#include "servers.h"
#include "train.h"
#include "wire.h"

PG_FUNCTION_INFO_V1(pinnacle_train);
PG_FUNCTION_INFO_V1(pinnacle_train_shard);


static void
free_spec(void *arg)
{
	pt_spec_free((PtSpec *) arg);
}

/* Parses the spec; it is freed with the current memory context, even on error. */
PtSpec *
pt_parse_spec_or_error(const char *spec_json)
{
	PtSpec	   *spec = pt_spec_parse(spec_json);
	MemoryContextCallback *callback;

	if (spec == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pinnacle_train spec: %s", pt_last_error())));
	callback = palloc(sizeof(MemoryContextCallback));
	callback->func = free_spec;
	callback->arg = spec;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, callback);
	return spec;
}

/* Each rank of a run takes a training slot; a run that needs more than there are would wait
 * for ever. */
void
pt_check_training_slots(const PtSpec *spec)
{
	if (pt_spec_workers(spec) > pinnacle_max_workers)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("spec field \"compute_kwargs.workers\": %d ranks need %d training slots, and pinnacle.max_workers is %d",
						pt_spec_workers(spec), pt_spec_workers(spec), pinnacle_max_workers)));
}

/* A new run id, drawn as the extension's owner: no role may draw them itself. */
int64
pt_next_run_id(void)
{
	PtActingRole caller = pt_act_as_extension_owner();
	bool		isnull;
	int64		run_id;

	if (SPI_execute("SELECT pg_catalog.nextval('pinnacle.runs_id_seq')", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not allocate a run id");
	run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_act_as(caller);
	return run_id;
}

static bool
first_checkpoint(const char *sql, Datum first, Oid first_type, int32 version, PtResumePoint *point)
{
	Oid			types[2] = {first_type, INT4OID};
	Datum		values[2] = {first, Int32GetDatum(version)};
	bool		isnull;

	if (SPI_execute_with_args(sql, version >= 0 ? 2 : 1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the starting checkpoint");
	if (SPI_processed == 0)
		return false;
	point->run_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	point->iteration = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* Finds the checkpoint that optimizer_state or init_from names; ERROR if there is none. */
static PtResumePoint
find_resume_point(const PtSpec *spec)
{
	PtResumePoint point = {0, 0};

	switch (pt_spec_resume(spec))
	{
		case PT_RESUME_NOTHING:
			break;
		case PT_RESUME_LATEST:
			if (!first_checkpoint("SELECT c.run_id, c.iteration FROM pinnacle.checkpoints c "
								  "JOIN pinnacle.runs r ON r.id = c.run_id WHERE r.identifier = $1 "
								  "ORDER BY c.created_at DESC, c.iteration DESC LIMIT 1",
								  CStringGetTextDatum(pt_spec_identifier(spec)), TEXTOID, -1, &point))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("spec field \"optimizer_state\": model \"%s\" has no checkpoint to continue from",
								pt_spec_identifier(spec))));
			break;
		case PT_RESUME_RUN:
			if (!first_checkpoint("SELECT run_id, iteration FROM pinnacle.checkpoints WHERE run_id = $1 "
								  "ORDER BY iteration DESC LIMIT 1",
								  Int64GetDatum(pt_spec_resume_run(spec)), INT8OID, -1, &point))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("spec field \"optimizer_state\": run " INT64_FORMAT " has no checkpoint to continue from",
								pt_spec_resume_run(spec))));
			break;
		case PT_RESUME_MODEL:
			{
				PtModelRef	ref = pt_parse_model_ref(pt_spec_resume_model(spec));

				/* a bare identifier is its deployed version */
				if (!first_checkpoint("SELECT run_id, iteration FROM pinnacle.models WHERE identifier = $1 "
									  "AND CASE WHEN $2 = 0 THEN deployed ELSE version = $2 END",
									  CStringGetTextDatum(ref.identifier), TEXTOID, ref.version, &point))
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_OBJECT),
							 errmsg("spec field \"init_from\": model \"%s\" does not exist",
									pt_spec_resume_model(spec))));
				break;
			}
	}
	return point;
}

/* Where a run reads its rows: the spec's selects, or with "download" its snapshot tables. */
typedef struct RowSources
{
	const char *train;
	const char *validation;		/* NULL without validation.select */
	bool		snapshots;		/* tables this call wrote */
} RowSources;

static RowSources
row_sources(const PtSpec *spec, int64 run_id, PtResumePoint resume)
{
	RowSources	sources = {pt_spec_select(spec), pt_spec_validation_select(spec), pt_spec_download(spec)};

	if (!sources.snapshots)
		return sources;
	sources.train = pt_download_rows(run_id, "train", spec, sources.train, "select", resume.run_id);
	if (sources.validation != NULL)
		sources.validation = pt_download_rows(run_id, "validation", spec, sources.validation,
											  "validation.select", resume.run_id);
	return sources;
}

/* An identifier belongs to the role that first trained it. The run's supervisor claims it
 * when it records the run; this check only refuses early what that claim would refuse. */
void
pt_check_identifier_owner(const char *identifier)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(identifier)};
	char	   *owner;

	if (SPI_execute_with_args("SELECT pinnacle.identifier_owner($1)", 1, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look up the owner of model \"%s\"", identifier);
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (owner != NULL && strcmp(owner, pt_acting_role_name()) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("spec field \"identifier\": model \"%s\" belongs to role %s", identifier, owner),
				 errhint("Choose another identifier.")));
}

/* compute_kwargs.memory_limit may only ask for less than pinnacle.memory_limit, the ceiling a
 * superuser sets. */
int64
pt_memory_limit_bytes(const PtSpec *spec)
{
	int64		ceiling = (int64) pinnacle_memory_limit_mb * 1024 * 1024;
	int64		from_spec = pt_spec_memory_limit(spec);

	if (from_spec > ceiling)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("spec field \"compute_kwargs.memory_limit\": " INT64_FORMAT " bytes is above pinnacle.memory_limit (%d MB)",
						from_spec, pinnacle_memory_limit_mb),
				 errhint("A superuser sets pinnacle.memory_limit, the ceiling of every run's memory.")));
	return from_spec > 0 ? from_spec : ceiling;
}

/* The bytes of the imported TorchScript module the spec trains, or NULL for a layer list. */
bytea *
pt_spec_module(const PtSpec *spec)
{
	const char *name = pt_spec_torchscript(spec);
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	if (name == NULL)
		return NULL;
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT torchscript FROM pinnacle.modules WHERE identifier = $1",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("spec field \"model.torchscript\": no module \"%s\" was imported", name),
				 errhint("Import it with pinnacle_import('%s', bytes of torch.jit.save).", name)));
	return DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The select must give rows to train on; whether the model fits them the supervisor checks
 * (pt_session_start), where libtorch is loaded anyway: this backend does not load it to train. */
void
pt_check_rows_to_train_on(const PtFeed *feed)
{
	if (feed->rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("spec field \"select\" returned no rows to train on")));
}

/* Sends the feed's rows to the worker. Rows it will hold in memory are counted in
 * `bytes_held` (NULL for streamed rows) and fail early past the memory limit. */
void
pt_stream_rows(PtFeed *feed, PtSession *session, int64 memory_limit, int64 *bytes_held)
{
	do
	{
		if (bytes_held != NULL)
			*bytes_held += feed->message.len;
		if (bytes_held != NULL && memory_limit > 0 && *bytes_held > memory_limit)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the training rows need more than the memory limit of " INT64_FORMAT " kB",
							memory_limit / 1024),
					 errhint("Raise compute_kwargs.memory_limit or pinnacle.memory_limit, or set \"in_memory\": false.")));
		pt_feed_flush(feed, session->rows);
		/* a client that went away gets no run: the supervisor fails it for the missing rows */
		if (pt_client_connection_lost())
			ereport(FATAL,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the client went away while its rows were streaming to run " INT64_FORMAT,
							session->run_id)));
	} while (pt_feed_next(feed));
}

/* Relays the supervisor's progress as NOTICEs until its result; a run that did not succeed
 * is an ERROR here, with the run's SQLSTATE. */
static void
await_result(PtSession *session, int64 run_id)
{
	for (;;)
	{
		PtReply		reply = pt_session_next_reply(session);

		if (!reply.is_result)
		{
			ereport(NOTICE, (errmsg("run " INT64_FORMAT " %s", run_id, reply.text)));
			continue;
		}
		if (strcmp(reply.text, PT_STATUS_SUCCEEDED) != 0)
			ereport(ERROR,
					(errcode(reply.sqlerrcode != 0 ? reply.sqlerrcode : ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("pinnacle_train run " INT64_FORMAT " %s: %s", run_id, reply.text, reply.error)));
		return;
	}
}

/* The supervisor acts as the caller's role, and a background worker can only act as a role
 * that may log in: say so here, not as a worker that failed to start. */
void
pt_check_role_can_log_in(void)
{
	HeapTuple	tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	bool		can_login;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for role %u", GetUserId());
	can_login = ((Form_pg_authid) GETSTRUCT(tuple))->rolcanlogin;
	ReleaseSysCache(tuple);
	if (!can_login)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role %s cannot log in, so no run's supervisor can act as it", pt_acting_role_name()),
				 errhint("Train as a role with LOGIN: a run's background worker acts as the calling role.")));
}

/* Creates the session and starts the run's supervisor, which checks the model on the widths
 * of `first_rows` (NULL: the caller checked it). */
static PtSession
start_supervisor(const char *spec_json, int64 run_id, bool wait, int64 memory_limit, PtResumePoint resume,
				 int64 expected_rows, const PtFeed *first_rows, const PtRunPlace *place)
{
	PtSessionHeader header = {
		.database = MyDatabaseId,
		.role = GetUserId(),
		.run_id = run_id,
		.wait = wait,
		.memory_limit = memory_limit,
		.resume_run_id = resume.run_id,
		.resume_iteration = resume.iteration,
		.expected_rows = expected_rows,
		.caller_is_superuser = superuser(),
	};
	int64	   *widths = first_rows != NULL ? pt_feed_widths(first_rows) : NULL;

	if (first_rows != NULL)
		header.columns = first_rows->ncolumns;
	if (place == NULL)
		return pt_session_start(&header, spec_json, widths, NULL, 0);
	header.server_count = place->server_count;
	if (place->shard != NULL)
		header.shard = *place->shard;
	return pt_session_start(&header, spec_json, widths, place->servers, place->servers_size);
}

/* Every run holds a background worker while it lives: a role other than a superuser may have
 * at most pinnacle.max_runs_per_role of them queued or running, so that it cannot take every
 * worker slot from the others. The count reads the newest committed rows (not this
 * transaction's snapshot, which a REPEATABLE READ caller would keep stale), and the role's
 * other sessions wait (pt_run_lock_role) until this run is on record. */
static void
check_runs_per_role(void)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(pt_acting_role_name())};
	PtActingRole caller;
	SPIPlanPtr	plan;
	bool		isnull;
	int64		live;

	caller = pt_act_as_extension_owner();
	plan = SPI_prepare("SELECT count(*) FROM pinnacle.runs WHERE owner = $1 AND status IN ('queued', 'running')",
					   1, types);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not count the runs of role %s", TextDatumGetCString(values[0]));
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_act_as(caller);
	if (live >= pinnacle_max_runs_per_role)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("role %s already has " INT64_FORMAT " runs queued or running", TextDatumGetCString(values[0]),
						live),
				 errhint("Wait for one to end, or cancel one; a superuser sets pinnacle.max_runs_per_role (now %d).",
						 pinnacle_max_runs_per_role)));
}

/* Starts the run's supervisor, counted against the role's runs (see check_runs_per_role). */
PtSession
pt_start_counted_supervisor(const char *spec_json, int64 run_id, bool wait, int64 memory_limit, PtResumePoint resume,
							int64 expected_rows, const PtFeed *first_rows, const PtRunPlace *place)
{
	PtSession	session;
	MemoryContext session_context = CurrentMemoryContext;

	if (superuser())
		return start_supervisor(spec_json, run_id, wait, memory_limit, resume, expected_rows, first_rows, place);
	pt_run_lock_role(GetUserId());
	PG_TRY();
	{
		check_runs_per_role();
		/* (an SPI call leaves SPI's own context current) */
		MemoryContextSwitchTo(session_context);
		session = start_supervisor(spec_json, run_id, wait, memory_limit, resume, expected_rows, first_rows, place);
	}
	PG_FINALLY();
	{
		pt_run_unlock_role(GetUserId());
	}
	PG_END_TRY();
	return session;
}

/* A run: on this server alone, across servers (compute_kwargs.servers, resolved here), or
 * as this server's part of a run called on another (`shard`, from pinnacle.train_shard). */
static int64
train(const char *spec_json, bool wait, const PtShard *shard)
{
	PtSpec	   *spec;
	PtFeed		train_feed,
				validation_feed;
	int64		run_id,
				memory_limit,
				bytes_held = 0;
	PtSession	session;
	PtResumePoint resume = {0, 0};
	RowSources	sources;
	PtRunPlace	place = {.shard = shard};
	/* the session's queue handles outlive SPI_finish: a waiting call reads its replies after it */
	MemoryContext call_context = CurrentMemoryContext,
				spi_context;

	spec = pt_parse_spec_or_error(spec_json);
	memory_limit = pt_memory_limit_bytes(spec);
	pt_check_training_slots(spec);
	place.server_count = shard ? 0 : pt_spec_server_count(spec);
	/* the servers' connections, read as the calling role (its user mappings) */
	if (place.server_count > 0)
		place.servers = pt_servers_connections(spec, &place.servers_size);

	pt_spi_connect();
	pt_check_schema();
	SPI_execute("SELECT pinnacle.mark_lost_runs()", false, 0);
	/* a part of a run elsewhere claims no identifier here, and starts from no checkpoint of
	 * this server's: the calling server's rank 0 hands every rank its checkpoint */
	if (shard == NULL)
	{
		pt_check_identifier_owner(pt_spec_identifier(spec));
		resume = find_resume_point(spec);
	}
	/* snapshot tables are named after their run; other runs' supervisors draw their id */
	run_id = pt_spec_download(spec) ? pt_next_run_id() : 0;
	sources = row_sources(spec, run_id, resume);
	pt_feed_open(&train_feed, spec, sources.train, "select", PT_MSG_TRAIN_ROWS, sources.snapshots);
	if (sources.validation != NULL)
		pt_feed_open(&validation_feed, spec, sources.validation, "validation.select", PT_MSG_VALID_ROWS,
					 sources.snapshots);
	/* Across servers, a server whose select returns no rows joins with none: its ranks take
	 * the others' widths, and the run fails only when no server has a row (Trainer). The model
	 * is checked where there are rows. */
	pt_feed_next(&train_feed);
	if (shard == NULL && place.server_count == 0)
		pt_check_rows_to_train_on(&train_feed);

	pt_check_role_can_log_in();
	/* without "download" the supervisor draws the run id, once the model fits the rows */
	spi_context = MemoryContextSwitchTo(call_context);
	session = pt_start_counted_supervisor(spec_json, run_id, wait, memory_limit, resume,
										  pt_feed_estimated_rows(&train_feed), train_feed.rows > 0 ? &train_feed : NULL,
										  shard != NULL || place.server_count > 0 ? &place : NULL);
	MemoryContextSwitchTo(spi_context);
	run_id = session.run_id;
	/* streamed training rows go to the worker's spill file: only rows held in memory count */
	pt_stream_rows(&train_feed, &session, memory_limit, pt_spec_in_memory(spec) ? &bytes_held : NULL);
	if (sources.validation != NULL)
	{
		/* validation rows must match the training rows' widths */
		for (int c = 0; c < validation_feed.ncolumns; c++)
			validation_feed.columns[c].width = train_feed.columns[c].width;
		if (!pt_feed_next(&validation_feed))
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("spec field \"validation.select\" returned no rows")));
		pt_stream_rows(&validation_feed, &session, memory_limit, &bytes_held);
	}
	pt_feed_send_end(session.rows, train_feed.rows + (sources.validation != NULL ? validation_feed.rows : 0));
	SPI_finish();

	if (wait)
		await_result(&session, run_id);
	dsm_detach(session.segment);
	return run_id;
}

Datum
pinnacle_train(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec_jsonb;
	bool		wait = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("the spec must not be NULL")));
	spec_jsonb = PG_GETARG_JSONB_P(0);
	PG_RETURN_INT64(train(JsonbToCString(NULL, &spec_jsonb->root, VARSIZE(spec_jsonb)), wait, NULL));
}

/* A field of pinnacle.train_shard's second argument; ERROR when it is missing or not a
 * value of the kind asked. */
static char *
shard_field(Jsonb *shard, const char *field)
{
	JsonbValue	key = {.type = jbvString, .val.string = {strlen(field), (char *) field}};
	JsonbValue *value = findJsonbValueFromContainer(&shard->root, JB_FOBJECT, &key);

	if (value == NULL || (value->type != jbvString && value->type != jbvNumeric))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pinnacle.train_shard: field \"%s\" is missing", field)));
	if (value->type == jbvString)
		return pnstrdup(value->val.string.val, value->val.string.len);
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(value->val.numeric)));
}

static int64
shard_number(Jsonb *shard, const char *field, int64 least, int64 most)
{
	char	   *text = shard_field(shard, field);
	char	   *end;
	long long	value = strtoll(text, &end, 10);

	if (*end != '\0' || end == text || value < least || value > most)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pinnacle.train_shard: field \"%s\" must be an integer from " INT64_FORMAT " to " INT64_FORMAT,
						field, least, most)));
	return value;
}

/*
 * pinnacle.train_shard(spec jsonb, shard jsonb): this server's part of a run across servers,
 * called by the calling server's supervisor over libpq as the role of the caller's user
 * mapping. It runs the spec's select here, in that role's privileges and row-level security,
 * records a run in this server's pinnacle.runs that points to the coordinating run, and
 * starts this server's ranks, which join the run's rendezvous; it returns when the run ends.
 */
Datum
pinnacle_train_shard(PG_FUNCTION_ARGS)
{
	Jsonb	   *spec_jsonb,
			   *shard_jsonb;
	char	   *spec_json;
	PtSpec	   *spec;
	PtShard		shard = {0};
	int			workers;
	char	   *text;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("pinnacle.train_shard: no argument may be NULL")));
	spec_jsonb = PG_GETARG_JSONB_P(0);
	shard_jsonb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(shard_jsonb))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pinnacle.train_shard: the shard must be an object")));
	spec_json = JsonbToCString(NULL, &spec_jsonb->root, VARSIZE(spec_jsonb));
	spec = pt_parse_spec_or_error(spec_json);
	workers = pt_spec_workers(spec);
	if (pt_spec_server_count(spec) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pinnacle.train_shard: the spec names no compute_kwargs.servers")));
	shard.world = (int) shard_number(shard_jsonb, "world", 2, 64);
	shard.first_rank = (int) shard_number(shard_jsonb, "first_rank", 1, shard.world - 1);
	if (shard.world != workers * (1 + pt_spec_server_count(spec)) || shard.first_rank % workers != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pinnacle.train_shard: ranks %d.. of %d do not fit compute_kwargs.workers %d and %d servers",
						shard.first_rank, shard.world, workers, pt_spec_server_count(spec))));
	shard.store_port = (int) shard_number(shard_jsonb, "store_port", 1, 65535);
	shard.coordinator_run = shard_number(shard_jsonb, "coordinator_run", 1, PG_INT64_MAX);
	text = shard_field(shard_jsonb, "store_host");
	if (strlen(text) == 0 || strlen(text) >= sizeof(shard.store_host))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pinnacle.train_shard: bad store_host")));
	strlcpy(shard.store_host, text, sizeof(shard.store_host));
	text = shard_field(shard_jsonb, "run_key");
	if (strlen(text) != 32 || strspn(text, "0123456789abcdef") != 32)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pinnacle.train_shard: bad run_key")));
	strlcpy(shard.run_key, text, sizeof(shard.run_key));
	snprintf(shard.coordinator, sizeof(shard.coordinator), "run " INT64_FORMAT " at %s:%d", shard.coordinator_run,
			 shard.store_host, shard.store_port);
	/* the whole run waits for this part: it ends with the call (cancel, a closed connection) */
	PG_RETURN_INT64(train(spec_json, true, &shard));
}
