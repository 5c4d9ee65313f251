/*
 * The calling server's side of a run across servers: see remote_shards.h. What a server
 * sends back is not trusted: only its call's status and a bounded error message are read.
 */
#include "postgres.h"

#include "libpq-fe.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "remote_shards.h"

#define MAX_REMOTE_MESSAGE 1000
/* After a run's success, how long its servers' calls may take to return (their ranks ended) */
#define FINISH_GRACE_S 5

void
pt_remote_shards_init(PtRemoteShards *remotes, const char *servers, Size size, int count,
					  int timeout_seconds, PtStopCheck check_for_stop, void *check_arg)
{
	const char *at = servers;
	const char *end = servers + size;

	remotes->count = 0;
	remotes->timeout_seconds = timeout_seconds;
	remotes->check_for_stop = check_for_stop;
	remotes->check_arg = check_arg;
	remotes->shards = MemoryContextAllocZero(TopMemoryContext, sizeof(PtRemoteShard) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		PtRemoteShard *shard = &remotes->shards[i];

		if (at >= end)
			elog(ERROR, "the session holds fewer servers than the spec names");
		shard->name = MemoryContextStrdup(TopMemoryContext, at);
		at += strlen(at) + 1;
		if (at >= end)
			elog(ERROR, "the session holds fewer servers than the spec names");
		shard->conninfo = MemoryContextStrdup(TopMemoryContext, at);
		at += strlen(at) + 1;
		remotes->count++;
	}
}

static void
ignore_notice(void *arg, const char *message)
{
	/* the remote call's progress lines: this server reports the run */
}

/* A remote message, bounded and on one line. */
static char *
remote_text(const char *text)
{
	char	   *copy = pnstrdup(text != NULL ? text : "", MAX_REMOTE_MESSAGE);

	for (char *c = copy; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	return copy;
}

static void
close_shard(PtRemoteShard *shard)
{
	if (shard->conn != NULL)
		PQfinish((PGconn *) shard->conn);
	shard->conn = NULL;
}

/* Closes the server's connection and fails the run: `failure` says what could not be done. */
static void
shard_failed(PtRemoteShard *shard, int sqlerrcode, const char *failure, const char *message)
{
	char	   *text = remote_text(message);

	close_shard(shard);
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("could not %s server \"%s\" (compute_kwargs.servers): %s", failure, shard->name, text)));
}

static void
connection_failed(PtRemoteShard *shard, const char *message)
{
	shard_failed(shard, ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, "connect to", message);
}

static void
call_failed(PtRemoteShard *shard, const char *message)
{
	shard_failed(shard, ERRCODE_CONNECTION_EXCEPTION, "start the run on", message);
}

/* Waits up to `deadline`, a second at most, for the connection's socket to be ready for
 * `awaited` (WL_SOCKET_READABLE, WL_SOCKET_WRITEABLE or both), then runs the supervisor's
 * stop checks (a shutdown's grace ends by the clock, not by a latch); returns the socket
 * events that came, or -1 at the deadline. */
static int
wait_for_socket(PtRemoteShards *remotes, PGconn *conn, int awaited, TimestampTz deadline)
{
	long		left_ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	int			events;

	if (left_ms <= 0)
		return -1;
	events = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | awaited,
							   PQsocket(conn), Min(left_ms, 1000L), PG_WAIT_EXTENSION);
	if (events & WL_LATCH_SET)
		ResetLatch(MyLatch);
	remotes->check_for_stop(remotes->check_arg);
	return events & awaited;
}

/* Parses what a server sent besides results, so that libpq does not keep it: notices go to
 * ignore_notice, notifications are freed. (A server that floods them otherwise grows this
 * process's memory without end.) */
static void
discard_async_messages(PGconn *conn)
{
	PGnotify   *notify;

	(void) PQisBusy(conn);
	while ((notify = PQnotifies(conn)) != NULL)
		PQfreemem(notify);
}

static TimestampTz
deadline_of(const PtRemoteShards *remotes)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), remotes->timeout_seconds * 1000L);
}

/* Connects without blocking: PQconnectdb would hold the supervisor deaf to a cancel, a
 * shutdown or its caller's going for as long as a silent server makes it wait. */
static void
connect_shard(PtRemoteShards *remotes, PtRemoteShard *shard)
{
	TimestampTz deadline = deadline_of(remotes);
	PostgresPollingStatusType polled = PGRES_POLLING_WRITING;	/* (libpq: as if it had said so) */
	PGconn	   *conn = PQconnectStart(shard->conninfo);

	shard->conn = conn;
	if (conn == NULL)
		connection_failed(shard, "out of memory");
	while (polled != PGRES_POLLING_OK)
	{
		int			awaited = polled == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		int			ready;

		if (polled == PGRES_POLLING_FAILED || PQstatus(conn) == CONNECTION_BAD)
			connection_failed(shard, PQerrorMessage(conn));
		ready = wait_for_socket(remotes, conn, awaited, deadline);
		if (ready < 0)
			connection_failed(shard, "no answer within compute_kwargs.timeout");
		if (ready)
			polled = PQconnectPoll(conn);
	}
}

/* Sends the call without blocking: a server that stops reading (or is no PostgreSQL at all)
 * would otherwise hold the supervisor in send() for as long as TCP keeps trying. */
static void
send_call(PtRemoteShards *remotes, PtRemoteShard *shard, const char *const *values)
{
	PGconn	   *conn = shard->conn;
	TimestampTz deadline = deadline_of(remotes);
	int			unsent;

	if (PQsetnonblocking(conn, 1) != 0 ||
		!PQsendQueryParams(conn, "SELECT pinnacle.train_shard($1::jsonb, $2::jsonb)", 2, NULL, values, NULL, NULL, 0))
		call_failed(shard, PQerrorMessage(conn));
	while ((unsent = PQflush(conn)) == 1)
	{
		/* (libpq: while output is pending, input must be read too, or both sides may wait) */
		int			ready = wait_for_socket(remotes, conn, WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE, deadline);

		if (ready < 0)
			call_failed(shard, "it took no more of the call within compute_kwargs.timeout");
		if ((ready & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			call_failed(shard, PQerrorMessage(conn));
		discard_async_messages(conn);
	}
	if (unsent < 0)
		call_failed(shard, PQerrorMessage(conn));
}

static void
start_shard(PtRemoteShards *remotes, PtRemoteShard *shard, const char *spec_json, const char *shard_json,
			bool require_password)
{
	PGconn	   *conn;
	const char *values[2] = {spec_json, shard_json};

	connect_shard(remotes, shard);
	conn = shard->conn;
	if (require_password && !PQconnectionUsedPassword(conn))
	{
		close_shard(shard);
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("server \"%s\" (compute_kwargs.servers) did not ask for the user mapping's password", shard->name),
				 errdetail("A role other than a superuser may only connect with a password, as with postgres_fdw.")));
	}
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	send_call(remotes, shard, values);
}

void
pt_remote_shards_start(PtRemoteShards *remotes, const char *spec_json, int64 run_id, int workers,
					   const char *store_host, int store_port, const char *run_key, bool require_password)
{
	int			world = workers * (1 + remotes->count);

	for (int i = 0; i < remotes->count; i++)
	{
		StringInfoData shard;

		initStringInfo(&shard);
		appendStringInfo(&shard, "{\"world\": %d, \"first_rank\": %d, \"store_port\": %d, \"coordinator_run\": " INT64_FORMAT
						 ", \"store_host\": ", world, workers * (i + 1), store_port, run_id);
		escape_json(&shard, store_host);
		appendStringInfoString(&shard, ", \"run_key\": ");
		escape_json(&shard, run_key);
		appendStringInfoChar(&shard, '}');
		start_shard(remotes, &remotes->shards[i], spec_json, shard.data, require_password);
	}
}

/* A server's call failed: its SQLSTATE says how the run ends here. A server that lost the
 * others, was shut down or cancelled interrupts the run; its own error (no rights on the
 * table, bad rows) fails it, with its SQLSTATE. */
static void
raise_remote_error(PtRemoteShard *shard, const char *sqlstate, const char *message)
{
	int			code = ERRCODE_CONNECTION_EXCEPTION;

	if (sqlstate != NULL && strlen(sqlstate) == 5 && strspn(sqlstate, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2], sqlstate[3], sqlstate[4]);
	if (ERRCODE_TO_CATEGORY(code) == ERRCODE_CONNECTION_EXCEPTION || code == ERRCODE_ADMIN_SHUTDOWN ||
		code == ERRCODE_CRASH_SHUTDOWN || code == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(code) == ERRCODE_OPERATOR_INTERVENTION)
		code = ERRCODE_ADMIN_SHUTDOWN;
	ereport(ERROR,
			(errcode(code),
			 errmsg("server \"%s\" (compute_kwargs.servers): %s", shard->name, remote_text(message))));
}

static void
poll_shard(PtRemoteShard *shard)
{
	PGconn	   *conn = shard->conn;

	if (conn == NULL || shard->done)
		return;
	if (!PQconsumeInput(conn))
	{
		char	   *message = remote_text(PQerrorMessage(conn));

		close_shard(shard);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_EXCEPTION),
				 errmsg("lost the connection to server \"%s\" (compute_kwargs.servers): %s", shard->name, message)));
	}
	discard_async_messages(conn);
	while (!PQisBusy(conn))
	{
		PGresult   *result = PQgetResult(conn);

		if (result == NULL)
		{
			shard->done = true;
			return;
		}
		if (PQresultStatus(result) == PGRES_FATAL_ERROR)
		{
			char	   *sqlstate = remote_text(PQresultErrorField(result, PG_DIAG_SQLSTATE));
			char	   *message = remote_text(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));

			PQclear(result);
			close_shard(shard);
			raise_remote_error(shard, sqlstate, message[0] ? message : "its call failed");
		}
		/* a COPY reply, say, would be handed back on every call, never ending this loop */
		if (PQresultStatus(result) != PGRES_TUPLES_OK && PQresultStatus(result) != PGRES_COMMAND_OK)
		{
			char	   *status = pstrdup(PQresStatus(PQresultStatus(result)));

			PQclear(result);
			close_shard(shard);
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("server \"%s\" (compute_kwargs.servers) answered its call with %s", shard->name, status)));
		}
		PQclear(result);
	}
}

void
pt_remote_shards_poll(PtRemoteShards *remotes)
{
	for (int i = 0; i < remotes->count; i++)
		poll_shard(&remotes->shards[i]);
}

/* (the run has succeeded here: a server's late error is only logged) */
static void
poll_quietly(PtRemoteShard *shard)
{
	MemoryContext context = CurrentMemoryContext;

	PG_TRY();
	{
		poll_shard(shard);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(context);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

void
pt_remote_shards_finish(PtRemoteShards *remotes, bool (*asked_to_stop) (void))
{
	for (int tenths = 0; tenths < Min(remotes->timeout_seconds, FINISH_GRACE_S) * 10 && !asked_to_stop(); tenths++)
	{
		bool		all_done = true;

		for (int i = 0; i < remotes->count; i++)
		{
			PtRemoteShard *shard = &remotes->shards[i];

			if (shard->conn == NULL || shard->done)
				continue;
			poll_quietly(shard);
			if (shard->conn != NULL && !shard->done)
				all_done = false;
		}
		if (all_done)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

void
pt_remote_shards_close(PtRemoteShards *remotes)
{
	for (int i = 0; i < remotes->count; i++)
		close_shard(&remotes->shards[i]);
}
