#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/proc.h"
#include "storage/shm_toc.h"
#include "utils/memutils.h"

#include "pinnacle.h"
#include "session.h"
#include "wire.h"

#define SESSION_MAGIC 0x70696e32

/* shm_toc keys */
#define KEY_HEADER 1
#define KEY_SPEC 2
#define KEY_ROWS_QUEUE 3
#define KEY_REPLY_QUEUE 4
#define KEY_SERVERS 5
#define KEY_WIDTHS 6

#define ROWS_QUEUE_SIZE (16 * 1024 * 1024)
#define REPLY_QUEUE_SIZE (64 * 1024)

#define REPLY_NOTICE 'N'
#define REPLY_RESULT 'R'

static BackgroundWorkerHandle *
register_supervisor(dsm_segment *segment, int64 run_id)
{
	char		name[BGW_MAXLEN];

	/* (a run's supervisor draws its id when the caller has none yet, see PtSessionHeader) */
	if (run_id != 0)
		snprintf(name, sizeof(name), "pinnacle_train run " INT64_FORMAT, run_id);
	else
		snprintf(name, sizeof(name), "pinnacle_train run");
	return pt_register_worker(segment, "pinnacle_worker_main", name, "pinnacle_train worker", "to train in");
}

/* In the caller, as it detaches the segment (at the end of its call, or on an error). */
static void
note_caller_detached(dsm_segment *segment, Datum header)
{
	((PtSessionHeader *) DatumGetPointer(header))->caller_detached = true;
}

/* The supervisor's model check failed (see PtSessionHeader): its error, as the caller's. */
static void
raise_check_error(const PtSessionHeader *header)
{
	ereport(ERROR,
			(errcode(header->check_sqlerrcode),
			 errmsg("%s", header->check_error),
			 header->check_hint[0] ? errhint("%s", header->check_hint) : 0));
}

PtSession
pt_session_start(const PtSessionHeader *header, const char *spec_json, const int64 *widths, const char *servers,
				 Size servers_size)
{
	shm_toc_estimator estimator;
	Size		size;
	PtSession	session;
	shm_toc    *toc;
	PtSessionHeader *shared_header;
	char	   *spec_copy;
	shm_mq	   *rows_queue,
			   *reply_queue;
	BackgroundWorkerHandle *handle;
	volatile bool attached = false;

	shm_toc_initialize_estimator(&estimator);
	shm_toc_estimate_chunk(&estimator, sizeof(PtSessionHeader));
	shm_toc_estimate_chunk(&estimator, strlen(spec_json) + 1);
	shm_toc_estimate_chunk(&estimator, ROWS_QUEUE_SIZE);
	shm_toc_estimate_chunk(&estimator, REPLY_QUEUE_SIZE);
	if (servers_size > 0)
		shm_toc_estimate_chunk(&estimator, servers_size);
	if (header->columns > 0)
		shm_toc_estimate_chunk(&estimator, sizeof(int64) * header->columns);
	shm_toc_estimate_keys(&estimator, 6);
	size = shm_toc_estimate(&estimator);

	session.run_id = header->run_id;
	session.segment = dsm_create(size, 0);
	toc = shm_toc_create(SESSION_MAGIC, dsm_segment_address(session.segment), size);

	shared_header = shm_toc_allocate(toc, sizeof(PtSessionHeader));
	*shared_header = *header;
	shared_header->caller_detached = false;
	shared_header->check_sqlerrcode = 0;
	shared_header->check_error[0] = shared_header->check_hint[0] = '\0';
	shared_header->start_error[0] = '\0';
	shm_toc_insert(toc, KEY_HEADER, shared_header);
	on_dsm_detach(session.segment, note_caller_detached, PointerGetDatum(shared_header));

	spec_copy = shm_toc_allocate(toc, strlen(spec_json) + 1);
	strcpy(spec_copy, spec_json);
	shm_toc_insert(toc, KEY_SPEC, spec_copy);
	if (servers_size > 0)
	{
		char	   *servers_copy = shm_toc_allocate(toc, servers_size);

		memcpy(servers_copy, servers, servers_size);
		shm_toc_insert(toc, KEY_SERVERS, servers_copy);
	}
	if (header->columns > 0)
	{
		int64	   *widths_copy = shm_toc_allocate(toc, sizeof(int64) * header->columns);

		memcpy(widths_copy, widths, sizeof(int64) * header->columns);
		shm_toc_insert(toc, KEY_WIDTHS, widths_copy);
	}

	rows_queue = shm_mq_create(shm_toc_allocate(toc, ROWS_QUEUE_SIZE), ROWS_QUEUE_SIZE);
	shm_toc_insert(toc, KEY_ROWS_QUEUE, rows_queue);
	shm_mq_set_sender(rows_queue, MyProc);
	reply_queue = shm_mq_create(shm_toc_allocate(toc, REPLY_QUEUE_SIZE), REPLY_QUEUE_SIZE);
	shm_toc_insert(toc, KEY_REPLY_QUEUE, reply_queue);
	shm_mq_set_receiver(reply_queue, MyProc);
	session.rows = shm_mq_attach(rows_queue, session.segment, NULL);
	session.reply = shm_mq_attach(reply_queue, session.segment, NULL);

	handle = register_supervisor(session.segment, header->run_id);
	shm_mq_set_handle(session.rows, handle);
	shm_mq_set_handle(session.reply, handle);

	/* The supervisor attaches once the run is on record, so the id we return is visible. A
	 * caller cancelled before then ends its supervisor too: no run is on record for anyone to
	 * cancel, and the model check it waits for might never end. */
	PG_TRY();
	{
		attached = shm_mq_wait_for_attach(session.rows) == SHM_MQ_SUCCESS;
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!attached)
	{
		if (shared_header->check_sqlerrcode != 0)
			raise_check_error(shared_header);
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the supervisor of run " INT64_FORMAT " exited before it took the rows", shared_header->run_id),
				 shared_header->start_error[0] ? errdetail("%s", shared_header->start_error)
				 : errhint("See the server log for its reason.")));
	}
	session.run_id = shared_header->run_id;
	return session;
}

PtReply
pt_session_next_reply(PtSession *session)
{
	Size		size;
	void	   *data;
	const char *bytes;
	PtReply		reply = {0};

	/* a busy queue never waits, and waiting is where interrupts are otherwise seen */
	CHECK_FOR_INTERRUPTS();
	if (shm_mq_receive(session->reply, &size, &data, false) != SHM_MQ_SUCCESS || size < 2)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("the supervisor of run " INT64_FORMAT " exited without a result", session->run_id),
				 errhint("See pinnacle.runs and the server log.")));
	bytes = data;
	if (bytes[0] == REPLY_NOTICE)
	{
		reply.text = bytes + 1;
		return reply;
	}
	reply.is_result = true;
	memcpy(&reply.sqlerrcode, bytes + 1, sizeof(int32));
	reply.text = bytes + 1 + sizeof(int32);
	reply.error = reply.text + strlen(reply.text) + 1;
	return reply;
}

dsm_segment *
pt_session_attach(dsm_handle handle, PtSessionHeader **header, const char **spec_json)
{
	dsm_segment *segment = dsm_attach(handle);
	shm_toc    *toc;

	if (segment == NULL)
		ereport(ERROR, (errmsg("pinnacle_train supervisor: the caller's shared memory is gone")));
	toc = shm_toc_attach(SESSION_MAGIC, dsm_segment_address(segment));
	if (toc == NULL)
		ereport(ERROR, (errmsg("pinnacle_train supervisor: bad shared memory segment")));
	*header = shm_toc_lookup(toc, KEY_HEADER, false);
	*spec_json = shm_toc_lookup(toc, KEY_SPEC, false);
	return segment;
}

const int64 *
pt_session_widths(dsm_segment *segment)
{
	shm_toc    *toc = shm_toc_attach(SESSION_MAGIC, dsm_segment_address(segment));

	return shm_toc_lookup(toc, KEY_WIDTHS, false);
}

const char *
pt_session_servers(dsm_segment *segment, Size *size)
{
	shm_toc    *toc = shm_toc_attach(SESSION_MAGIC, dsm_segment_address(segment));
	const char *servers = shm_toc_lookup(toc, KEY_SERVERS, true);

	*size = 0;
	if (servers == NULL)
		return NULL;
	/* the strings end where the chunk does: count them from the header's server_count */
	{
		PtSessionHeader *header = shm_toc_lookup(toc, KEY_HEADER, false);
		const char *at = servers;

		for (int i = 0; i < 2 * header->server_count; i++)
			at += strlen(at) + 1;
		*size = at - servers;
	}
	return servers;
}

void
pt_session_attach_queues(dsm_segment *segment, shm_mq_handle **rows, PtSessionReplies *replies)
{
	shm_toc    *toc = shm_toc_attach(SESSION_MAGIC, dsm_segment_address(segment));
	PtSessionHeader *header = shm_toc_lookup(toc, KEY_HEADER, false);
	shm_mq	   *rows_queue = shm_toc_lookup(toc, KEY_ROWS_QUEUE, false);
	shm_mq	   *reply_queue = shm_toc_lookup(toc, KEY_REPLY_QUEUE, false);
	MemoryContext previous = MemoryContextSwitchTo(TopMemoryContext);

	shm_mq_set_receiver(rows_queue, MyProc);
	*rows = shm_mq_attach(rows_queue, segment, NULL);
	shm_mq_set_sender(reply_queue, MyProc);
	replies->queue = shm_mq_attach(reply_queue, segment, NULL);
	replies->wait = header->wait;
	replies->header = header;
	replies->caller_gone = false;
	initStringInfo(&replies->pending);
	MemoryContextSwitchTo(previous);
}

/* Sends `pending`; true once it is all sent (or nobody reads), false while the queue is full. */
static bool
flush_pending(PtSessionReplies *replies, bool nowait)
{
	shm_mq_result result;

	if (replies->pending.len == 0 || replies->caller_gone)
		return true;
	result = shm_mq_send(replies->queue, replies->pending.len, replies->pending.data, nowait, true);
	if (result == SHM_MQ_WOULD_BLOCK)
		return false;
	if (result == SHM_MQ_DETACHED)
		replies->caller_gone = true;
	resetStringInfo(&replies->pending);
	return true;
}

static void
send_reply(PtSessionReplies *replies, const char *message, int size, bool nowait)
{
	if (!replies->wait || replies->caller_gone || !flush_pending(replies, nowait))
		return;
	appendBinaryStringInfo(&replies->pending, message, size);
	(void) flush_pending(replies, nowait);
}

void
pt_session_send_notice(PtSessionReplies *replies, const char *line)
{
	StringInfoData message;

	initStringInfo(&message);
	appendStringInfoChar(&message, REPLY_NOTICE);
	appendBinaryStringInfo(&message, line, strlen(line) + 1);
	send_reply(replies, message.data, message.len, true);
	pfree(message.data);
}

bool
pt_session_caller_gone(PtSessionReplies *replies)
{
	if (replies->header->caller_detached)
		replies->caller_gone = true;
	return replies->caller_gone;
}

void
pt_session_send_result(PtSessionReplies *replies, const char *status, int sqlerrcode, const char *error)
{
	StringInfoData message;
	int32		code = sqlerrcode;

	initStringInfo(&message);
	appendStringInfoChar(&message, REPLY_RESULT);
	appendBinaryStringInfo(&message, (const char *) &code, sizeof(code));
	appendBinaryStringInfo(&message, status, strlen(status) + 1);
	appendBinaryStringInfo(&message, error, strlen(error) + 1);
	send_reply(replies, message.data, message.len, false);
	pfree(message.data);
}

bool
pt_session_is_end(const void *data, Size size, int64 *total_rows)
{
	uint64		total;

	if (((const char *) data)[0] != PT_MSG_END)
		return false;
	if (size < PT_END_SIZE)
		elog(ERROR, "a truncated end message on the rows queue");
	memcpy(&total, (const char *) data + 8, sizeof(uint64));
	*total_rows = (int64) total;
	return true;
}

bool
pt_session_rows(const void *data, Size size, const char **body, Size *body_size)
{
	char		kind = ((const char *) data)[0];

	if (kind != PT_MSG_TRAIN_ROWS && kind != PT_MSG_VALID_ROWS)
		elog(ERROR, "unexpected message kind %d on the rows queue", kind);
	if (size < PT_ROWS_HEADER_SIZE)
		elog(ERROR, "a truncated rows message on the rows queue");
	/* the core reads from the row count on (see wire.h) */
	*body = (const char *) data + PT_ROWS_BODY_OFFSET;
	*body_size = size - PT_ROWS_BODY_OFFSET;
	return kind == PT_MSG_TRAIN_ROWS;
}
