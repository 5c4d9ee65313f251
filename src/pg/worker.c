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
#include "postmaster/interrupt.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "pinnacle.h"
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
	TimestampTz training_started;
	TimestampTz last_notice;
	TimestampTz last_published;
} WorkerState;

/* advisory lock key space of the training slots (pinnacle.max_workers) */
#define TRAINING_SLOT_LOCK_SPACE 0x70696e6e
#define QUEUE_POLL_MS 250
#define NOTICE_INTERVAL_MS 1000
#define PUBLISH_INTERVAL_MS 250

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
	{
		/* a fast shutdown or pg_terminate_backend: keep the state reached so far */
		if (state->trainer != NULL && pt_trainer_steps_this_run(state->trainer) > 0)
			pt_catalog_record_checkpoint(state->header->run_id, state->trainer);
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("training was interrupted by a server shutdown or pg_terminate_backend()")));
	}
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

/* Where the run stands: its step, the step it ends at (0 when max_iterations is not set),
 * rows/s so far and the ETA in seconds (< 0 when unknown). */
typedef struct Progress
{
	int64		iteration;
	int64		last_iteration;
	double		rows_per_second;
	double		eta_seconds;
} Progress;

static Progress
measure_progress(WorkerState *state)
{
	Progress	p = {.iteration = pt_trainer_iteration(state->trainer), .eta_seconds = -1};
	int64		max_steps = pt_spec_max_iterations(state->spec);
	int64		steps = pt_trainer_steps_this_run(state->trainer);
	long		secs;
	int			usecs;
	double		elapsed;

	TimestampDifference(state->training_started, GetCurrentTimestamp(), &secs, &usecs);
	elapsed = Max(secs + usecs / 1e6, 1e-3);
	p.rows_per_second = pt_trainer_samples_seen(state->trainer) / elapsed;
	if (max_steps > 0)
	{
		p.last_iteration = p.iteration - steps + max_steps;
		if (steps > 0)
			p.eta_seconds = (max_steps - steps) * elapsed / steps;
	}
	return p;
}

/* The latest validation's values as "name value" pairs, or as a JSON object. */
static void
append_validation(StringInfo out, PtTrainer *trainer, bool as_json)
{
	if (as_json)
		appendStringInfoChar(out, '{');
	for (int i = 0; i < pt_trainer_metric_count(trainer); i++)
	{
		double		value = pt_trainer_metric_value(trainer, i);

		if (as_json)
			appendStringInfo(out, "%s\"%s\": %s", i ? ", " : "", pt_trainer_metric_name(trainer, i),
							 isfinite(value) ? psprintf("%.6g", value) : "null");
		else
			appendStringInfo(out, " %s %.6g", pt_trainer_metric_name(trainer, i), value);
	}
	if (as_json)
		appendStringInfoChar(out, '}');
}

/* Publishes progress as JSON in this worker's pg_stat_activity entry (pinnacle.progress). */
static void
publish_progress(WorkerState *state)
{
	StringInfoData json;
	Progress	p = measure_progress(state);
	double		loss = pt_trainer_last_loss(state->trainer);

	initStringInfo(&json);
	appendStringInfo(&json, "{\"run_id\": " INT64_FORMAT ", \"iteration\": " INT64_FORMAT, state->header->run_id,
					 p.iteration);
	if (p.last_iteration > 0)
		appendStringInfo(&json, ", \"max_iterations\": " INT64_FORMAT ", \"eta_seconds\": %.1f",
						 p.last_iteration, Max(p.eta_seconds, 0));
	appendStringInfo(&json, ", \"train_loss\": %s, \"rows_per_second\": %.0f, \"validation\": ",
					 isfinite(loss) ? psprintf("%.6g", loss) : "null", p.rows_per_second);
	append_validation(&json, state->trainer, true);
	appendStringInfoChar(&json, '}');
	pgstat_report_activity(STATE_RUNNING, json.data);
	pfree(json.data);
	state->last_published = GetCurrentTimestamp();
}

/* A progress NOTICE for a waiting caller: step, loss, validation values, speed, ETA. */
static void
send_progress_notice(WorkerState *state, bool validated)
{
	StringInfoData line;
	Progress	p = measure_progress(state);

	initStringInfo(&line);
	appendStringInfo(&line, "step " INT64_FORMAT, p.iteration);
	if (p.last_iteration > 0)
		appendStringInfo(&line, "/" INT64_FORMAT, p.last_iteration);
	appendStringInfo(&line, ": train loss %.6g, %.0f rows/s", pt_trainer_last_loss(state->trainer), p.rows_per_second);
	if (p.eta_seconds >= 0)
		appendStringInfo(&line, ", ETA %.0f s", p.eta_seconds);
	if (pt_trainer_metric_count(state->trainer) > 0)
	{
		appendStringInfoString(&line, validated ? "; validation:" : "; last validation:");
		append_validation(&line, state->trainer, false);
		if (validated && pt_trainer_last_was_best(state->trainer))
			appendStringInfoString(&line, " (best)");
	}
	send_notice(state, line.data);
	pfree(line.data);
}

/* Waits for one of the pinnacle.max_workers training slots (session advisory locks, which
 * the server releases when this worker exits, however it exits). */
static void
acquire_training_slot(WorkerState *state)
{
	bool		queued = false;

	for (;;)
	{
		for (int slot = 0; slot < pinnacle_max_workers; slot++)
			if (pt_catalog_try_advisory_lock(TRAINING_SLOT_LOCK_SPACE, slot))
			{
				if (queued)
					pt_catalog_set_status(state->header->run_id, "running");
				return;
			}
		if (!queued)
		{
			pt_catalog_set_status(state->header->run_id, "queued");
			send_notice(state, "queued: waiting for a training slot (pinnacle.max_workers)");
			queued = true;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, QUEUE_POLL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		check_for_stop(state);
	}
}

static void
resume_from_checkpoint(WorkerState *state)
{
	PtCheckpoint checkpoint = pt_catalog_load_checkpoint(state->header->resume_run_id,
														  state->header->resume_iteration);

	if (!pt_trainer_resume(state->trainer, checkpoint.weights, checkpoint.weights_size,
						   checkpoint.optimizer_state, checkpoint.optimizer_size, checkpoint.iteration,
						   checkpoint.history_json))
		ereport(ERROR, (errmsg("%s", pt_last_error())));
}

static void
train(WorkerState *state)
{
	PtEvent		event;
	bytea	   *module = pt_catalog_load_module(state->spec);

	state->trainer = pt_trainer_new(state->spec, state->train, state->validation,
									module ? VARDATA_ANY(module) : NULL, module ? VARSIZE_ANY_EXHDR(module) : 0);
	state->train = state->validation = NULL;	/* the trainer owns them now */
	if (state->trainer == NULL)
		ereport(ERROR, (errmsg("%s", pt_last_error())));
	/* after a validation.split, which the trainer makes */
	pt_catalog_set_rows(state->header->run_id, pt_trainer_train_rows(state->trainer),
						pt_trainer_validation_rows(state->trainer));
	if (state->header->resume_run_id != 0)
		resume_from_checkpoint(state);
	acquire_training_slot(state);

	state->training_started = state->last_notice = GetCurrentTimestamp();
	while ((event = pt_trainer_advance(state->trainer)) != PT_FINISHED)
	{
		TimestampTz now;

		if (event == PT_FAILED)
			ereport(ERROR, (errmsg("%s", pt_last_error())));
		if (event == PT_VALIDATED)
			pt_catalog_record_validation(state->header->run_id, state->trainer);
		/* at most about one notice a second, however often it validates */
		now = GetCurrentTimestamp();
		if (TimestampDifferenceExceeds(state->last_notice, now, NOTICE_INTERVAL_MS))
			send_progress_notice(state, event == PT_VALIDATED);
		if (event == PT_VALIDATED || TimestampDifferenceExceeds(state->last_published, now, PUBLISH_INTERVAL_MS))
			publish_progress(state);
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
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
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
	/* pinnacle.mark_lost_runs() knows a run's worker is alive by this name */
	pgstat_report_appname(psprintf("pinnacle_train run " INT64_FORMAT, state.header->run_id));

	state.spec = pt_spec_parse(state.spec_json);
	if (state.spec == NULL)
		ereport(ERROR, (errmsg("%s", pt_last_error())));
	pt_runtime_ensure(pt_spec_threads(state.spec));
	pt_runtime_keep_step_tensors_on_the_heap();

	/* The run is on record before the caller may return its id (the caller waits for our
	 * attach to the rows queue, which comes after this commit). */
	pt_catalog_insert_run(state.header->run_id, pt_spec_identifier(state.spec), state.spec_json,
						  pt_spec_download(state.spec),
						  pt_spec_download(state.spec) && pt_spec_validation_select(state.spec) != NULL);
	attach_queues(&state, segment, toc);

	work_context = AllocSetContextCreate(TopMemoryContext, "pinnacle_train worker", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work_context);
	PG_TRY();
	{
		state.train = pt_data_new(state.spec, state.header->memory_limit, true);
		state.validation = pt_data_new(state.spec, state.header->memory_limit, false);
		if (state.train == NULL || state.validation == NULL)
			ereport(ERROR, (errmsg("%s", pt_last_error())));
		pt_data_expect_rows(state.train, state.header->expected_rows);
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
