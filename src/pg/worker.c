/*
 * The training worker: a dynamic background worker that acts as the caller's role in the
 * caller's database, records the run, receives the rows, trains with the core, and writes
 * checkpoints, metrics and the model version, each in its own transaction.
 *
 * Every failure ends here as a run status: a PostgreSQL ERROR is caught in the worker's
 * main function (no C++ frame is ever between the throw and the catch, since the core is
 * only reached through pinnacle_core.h), and a core failure comes back as a return value.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "pinnacle_core.h"
#include "runtime.h"
#include "session.h"
#include "wire.h"

PGDLLEXPORT void pinnacle_worker_main(Datum main_arg);

typedef struct WorkerState
{
	PtSessionHeader *header;
	const char *spec_json;
	PtSpec	   *spec;
	shm_mq_handle *rows;
	shm_mq_handle *reply;
	bool		caller_gone;
	PtData	   *train;
	PtData	   *validation;
	PtTrainer  *trainer;
	TimestampTz last_notice;
} WorkerState;

static volatile sig_atomic_t shutdown_requested = false;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Between two batches: a server shutdown or a cancel stops the run with an error whose
 * code decides its status. */
static void
check_for_stop(WorkerState *state)
{
	CHECK_FOR_INTERRUPTS();
	if (shutdown_requested)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("training was interrupted by a server shutdown")));
	if (state->header->wait && state->caller_gone)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("training was cancelled: the waiting caller went away")));
}

/* Sends a reply to a waiting caller; notices the caller leaving. */
static void
reply(WorkerState *state, char kind, const char *text, Size text_size, bool nowait)
{
	shm_mq_iovec parts[2] = {{.data = &kind, .len = 1}, {.data = text, .len = text_size}};

	if (!state->header->wait || state->caller_gone)
		return;
	if (shm_mq_sendv(state->reply, parts, 2, nowait, true) == SHM_MQ_DETACHED)
		state->caller_gone = true;
}

static void
send_notice(WorkerState *state, const char *text)
{
	reply(state, PT_REPLY_NOTICE, text, strlen(text) + 1, true);
	state->last_notice = GetCurrentTimestamp();
}

static void
receive_rows(WorkerState *state)
{
	int64		rows_expected = -1;

	while (rows_expected < 0)
	{
		Size		size;
		void	   *data;
		shm_mq_result result = shm_mq_receive(state->rows, &size, &data, true);

		if (result == SHM_MQ_WOULD_BLOCK)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			check_for_stop(state);
			continue;
		}
		if (result == SHM_MQ_DETACHED)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the caller stopped sending rows before the end of the data"),
					 errdetail("Its statement failed, was cancelled, or its session ended; no model version was made.")));

		switch (((const char *) data)[0])
		{
			case PT_MSG_TRAIN_ROWS:
			case PT_MSG_VALID_ROWS:
				{
					PtData	   *target = ((const char *) data)[0] == PT_MSG_TRAIN_ROWS ? state->train : state->validation;

					if (!pt_data_append(target, (const char *) data + 4, size - 4))
						ereport(ERROR, (errmsg("%s", pt_last_error())));
					break;
				}
			case PT_MSG_END:
				memcpy(&rows_expected, (const char *) data + 8, sizeof(int64));
				break;
			default:
				elog(ERROR, "unexpected message kind %d on the rows queue", ((const char *) data)[0]);
		}
	}
	if (rows_expected != pt_data_rows(state->train) + pt_data_rows(state->validation))
		elog(ERROR, "received " INT64_FORMAT " rows, the caller sent " INT64_FORMAT,
			 pt_data_rows(state->train) + pt_data_rows(state->validation), rows_expected);
}

static void
report_validation(WorkerState *state)
{
	StringInfoData line;

	initStringInfo(&line);
	appendStringInfo(&line, "step " INT64_FORMAT ":", pt_trainer_iteration(state->trainer));
	for (int i = 0; i < pt_trainer_metric_count(state->trainer); i++)
		appendStringInfo(&line, " %s %.6g", pt_trainer_metric_name(state->trainer, i),
						 pt_trainer_metric_value(state->trainer, i));
	if (pt_trainer_last_was_best(state->trainer))
		appendStringInfoString(&line, " (best)");
	send_notice(state, line.data);
	pfree(line.data);
}

static void
report_step(WorkerState *state)
{
	char		line[128];

	snprintf(line, sizeof(line), "step " INT64_FORMAT ": train loss %.6g",
			 pt_trainer_iteration(state->trainer), pt_trainer_last_loss(state->trainer));
	send_notice(state, line);
}

static void
train(WorkerState *state)
{
	PtEvent		event;

	state->trainer = pt_trainer_new(state->spec, state->train, state->validation);
	state->train = state->validation = NULL;	/* the trainer owns them now */
	if (state->trainer == NULL)
		ereport(ERROR, (errmsg("%s", pt_last_error())));
	state->last_notice = GetCurrentTimestamp();
	/* after a validation.split, which the trainer makes */
	pt_catalog_set_rows(state->header->run_id, pt_trainer_train_rows(state->trainer),
						pt_trainer_validation_rows(state->trainer));

	while ((event = pt_trainer_advance(state->trainer)) != PT_FINISHED)
	{
		if (event == PT_FAILED)
			ereport(ERROR, (errmsg("%s", pt_last_error())));
		if (event == PT_VALIDATED)
		{
			pt_catalog_record_validation(state->header->run_id, state->trainer);
			report_validation(state);
		}
		else if (TimestampDifferenceExceeds(state->last_notice, GetCurrentTimestamp(), 1000))
			report_step(state);
		check_for_stop(state);
	}
	pt_catalog_record_success(state->header->run_id, pt_spec_identifier(state->spec), state->trainer);
}

static const char *
status_for(int sqlerrcode)
{
	if (sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
		return "interrupted";
	if (sqlerrcode == ERRCODE_QUERY_CANCELED)
		return "cancelled";
	return "failed";
}

static void
send_result(WorkerState *state, const char *status, const char *error)
{
	StringInfoData text;

	initStringInfo(&text);
	appendStringInfoString(&text, status);
	appendBinaryStringInfo(&text, "", 1);
	appendStringInfoString(&text, error);
	reply(state, PT_REPLY_RESULT, text.data, text.len + 1, false);
}

static void
release_core_objects(WorkerState *state)
{
	pt_trainer_free(state->trainer);
	pt_data_free(state->train);
	pt_data_free(state->validation);
	state->trainer = NULL;
	state->train = state->validation = NULL;
}

static void
attach_queues(WorkerState *state, dsm_segment *segment, shm_toc *toc)
{
	shm_mq	   *rows_queue,
			   *reply_queue;

	rows_queue = shm_toc_lookup(toc, PT_KEY_ROWS_QUEUE, false);
	reply_queue = shm_toc_lookup(toc, PT_KEY_REPLY_QUEUE, false);
	shm_mq_set_receiver(rows_queue, MyProc);
	state->rows = shm_mq_attach(rows_queue, segment, NULL);
	shm_mq_set_sender(reply_queue, MyProc);
	state->reply = shm_mq_attach(reply_queue, segment, NULL);
}

void
pinnacle_worker_main(Datum main_arg)
{
	WorkerState state = {0};
	dsm_segment *segment;
	shm_toc    *toc;
	MemoryContext work_context;

	pqsignal(SIGTERM, handle_sigterm);
	BackgroundWorkerUnblockSignals();

	segment = dsm_attach(DatumGetUInt32(main_arg));
	if (segment == NULL)
		ereport(ERROR, (errmsg("pinnacle_train worker: the caller's shared memory is gone")));
	toc = shm_toc_attach(PT_SESSION_MAGIC, dsm_segment_address(segment));
	if (toc == NULL)
		ereport(ERROR, (errmsg("pinnacle_train worker: bad shared memory segment")));
	state.header = shm_toc_lookup(toc, PT_KEY_HEADER, false);
	state.spec_json = shm_toc_lookup(toc, PT_KEY_SPEC, false);

	BackgroundWorkerInitializeConnectionByOid(state.header->database, state.header->role, 0);
	pgstat_report_appname("pinnacle_train");

	state.spec = pt_spec_parse(state.spec_json);
	if (state.spec == NULL)
		ereport(ERROR, (errmsg("%s", pt_last_error())));
	pt_runtime_ensure(pt_spec_threads(state.spec));

	/* The run is on record before the caller may return its id (the caller waits for our
	 * attach to the rows queue, which comes after this commit). */
	pt_catalog_insert_run(state.header->run_id, pt_spec_identifier(state.spec), state.spec_json);
	attach_queues(&state, segment, toc);

	work_context = AllocSetContextCreate(TopMemoryContext, "pinnacle_train worker", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_context);
	PG_TRY();
	{
		state.train = pt_data_new(state.spec, state.header->memory_limit);
		state.validation = pt_data_new(state.spec, state.header->memory_limit);
		if (state.train == NULL || state.validation == NULL)
			ereport(ERROR, (errmsg("%s", pt_last_error())));
		receive_rows(&state);
		train(&state);
		send_result(&state, "succeeded", "");
	}
	PG_CATCH();
	{
		ErrorData  *error;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(work_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		RESUME_INTERRUPTS();
		ereport(LOG,
				(errmsg("pinnacle_train run " INT64_FORMAT " %s: %s", state.header->run_id,
						status_for(error->sqlerrcode), error->message)));

		release_core_objects(&state);
		pt_catalog_record_end(state.header->run_id, status_for(error->sqlerrcode), error->message);
		send_result(&state, status_for(error->sqlerrcode), error->message);
	}
	PG_END_TRY();

	release_core_objects(&state);
	pt_spec_free(state.spec);
	dsm_detach(segment);
	proc_exit(0);
}
