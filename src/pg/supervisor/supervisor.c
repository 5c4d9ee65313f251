/*
 * The run's supervisor: a dynamic background worker that acts as the caller's role in the
 * caller's database. It records the run, receives the rows, waits for a training slot, forks
 * the trainer process that does all libtorch work, and writes what the trainer reports
 * (checkpoints, metrics, the model version, the status) in transactions of its own. It runs
 * no model: it holds the rows in the torch core's buffers (so it loads libtorch, which its
 * trainers and helpers inherit), but a trainer or a helper builds and runs every model, so the
 * death of one by any signal ends one run, never the server.
 *
 * Every failure ends here as a run status: a PostgreSQL ERROR is caught in the main function,
 * where the trainer is killed and the run's end recorded in a fresh transaction.
 */
#include "postgres.h"

#include <math.h>
#include <sys/wait.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/ps_status.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/shm_toc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "port.h"

#include "pinnacle.h"
#include "pinnacle_core.h"
#include "torch_core.h"
#include "run_lifecycle.h"
#include "run_store.h"
#include "remote_shards.h"
#include "search_rung.h"
#include "session.h"
#include "child_link.h"
#include "helper.h"
#include "trainer_process.h"
#include "wire.h"

PGDLLEXPORT void pinnacle_worker_main(Datum main_arg);

#define PT_MAX_RANKS 64			/* compute_kwargs.workers at most */

typedef struct Supervisor
{
	PtSessionHeader *header;
	const char *spec_json;
	PtSpec	   *spec;
	PtSessionReplies replies;
	shm_mq_handle *rows;
	PtData	   *train;
	PtData	   *validation;
	bool		rows_received;
	int			world;			/* compute_kwargs.workers: trainer processes, one per rank */
	PtChildLink *ranks[PT_MAX_RANKS];	/* NULL until forked; ranks[0] reports the run */
	PtTrainerState rank_latest[PT_MAX_RANKS];	/* each rank's latest report */
	char		store_dir[MAXPGPATH];	/* of a run of several ranks: their store's, private */
	/* a run across servers (compute_kwargs.servers): every server's ranks, and on the calling
	 * server the connections to the others and the job of its ranks after rank 0, which
	 * start once rank 0's store listens; on a listed server, header->shard says which part */
	bool		across_servers;
	bool		is_shard;
	int			global_world;
	PtRemoteShards remotes;
	PtTrainerJob later_ranks;
	bool		later_ranks_pending;
	bool		starting_remotes;	/* connecting to the listed servers: no rank has stepped */
	PtTrainerState latest;		/* rank 0's latest report */
	TimestampTz latest_at;		/* when it came */
	char	   *stop_reason;	/* of a finished run */
	TimestampTz started;
	TimestampTz training_started;
	TimestampTz last_notice;
	TimestampTz last_published;
	TimestampTz stop_deadline;	/* 0 until a shutdown asked the trainer to stop */
} Supervisor;

#define QUEUE_POLL_MS 250
#define NOTICE_INTERVAL_MS 1000
#define PUBLISH_INTERVAL_MS 250
/* how long a trainer asked to stop has to send its last checkpoint */
#define STOP_GRACE_MS 10000

static volatile sig_atomic_t shutdown_requested = false;

static void
handle_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	shutdown_requested = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
interrupted_by_shutdown(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_ADMIN_SHUTDOWN),
			 errmsg("training was interrupted by a server shutdown or pg_terminate_backend()")));
}

/* Between two messages: a cancel or a caller that went away ends the run; a shutdown asks
 * a running trainer for a last checkpoint first (see handle_message). A shutdown comes
 * first: it ends the waiting caller too, and the run is then interrupted, not cancelled. */
static void
check_for_stop(Supervisor *sv)
{
	CHECK_FOR_INTERRUPTS();
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
	if (shutdown_requested)
	{
		if (sv->ranks[0] == NULL || sv->is_shard || sv->starting_remotes)
			interrupted_by_shutdown();
		if (sv->stop_deadline == 0)
		{
			pt_child_send_byte(sv->ranks[0], PT_CHANNEL_STOP);
			sv->stop_deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), STOP_GRACE_MS);
		}
		else if (GetCurrentTimestamp() >= sv->stop_deadline)
			interrupted_by_shutdown();
		return;
	}
	/* (while the rows stream, a caller that leaves fails the run for its missing rows) */
	if (sv->rows_received && sv->header->wait && pt_session_caller_gone(&sv->replies))
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("training was cancelled: the waiting caller went away")));
}

/* After the run's end: whether anything asks this process to stop waiting. */
static bool
asked_to_stop(void)
{
	return shutdown_requested || InterruptPending;
}

static void
check_for_stop_between_waits(void *sv)
{
	check_for_stop((Supervisor *) sv);
}

static void
receive_rows(Supervisor *sv)
{
	int64		rows_expected = -1;

	while (rows_expected < 0)
	{
		Size		size,
					body_size;
		void	   *data;
		const char *body;
		PtData	   *target;
		shm_mq_result result = shm_mq_receive(sv->rows, &size, &data, true);

		check_for_stop(sv);
		if (result == SHM_MQ_WOULD_BLOCK)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		if (result == SHM_MQ_DETACHED)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the caller stopped sending rows before the end of the data"),
					 errdetail("Its statement failed, was cancelled, or its session ended; no model version was made.")));
		if (pt_session_is_end(data, size, &rows_expected))
			break;
		target = pt_session_rows(data, size, &body, &body_size) ? sv->train : sv->validation;
		if (!pt_torch.pt_data_append(target, body, body_size))
			ereport(ERROR, (errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("%s", pt_last_error())));
	}
	if (rows_expected != pt_torch.pt_data_rows(sv->train) + pt_torch.pt_data_rows(sv->validation))
		elog(ERROR, "received " INT64_FORMAT " rows, the caller sent " INT64_FORMAT,
			 pt_torch.pt_data_rows(sv->train) + pt_torch.pt_data_rows(sv->validation), rows_expected);
	sv->rows_received = true;
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

static double
seconds_between(TimestampTz start, TimestampTz end)
{
	long		secs;
	int			usecs;

	TimestampDifference(start, end, &secs, &usecs);
	return secs + usecs / 1e6;
}

static double
seconds_since(TimestampTz start)
{
	return seconds_between(start, GetCurrentTimestamp());
}

static Progress
measure_progress(Supervisor *sv)
{
	Progress	p = {.iteration = sv->latest.iteration, .eta_seconds = -1};
	int64		max_steps = pt_spec_max_iterations(sv->spec);
	int64		steps = sv->latest.steps_this_run;
	/* to the latest report, not to now: its samples were counted then */
	double		elapsed = Max(seconds_between(sv->training_started, sv->latest_at), 1e-3);

	p.rows_per_second = sv->latest.samples_seen / elapsed;
	if (max_steps > 0)
	{
		p.last_iteration = p.iteration - steps + max_steps;
		if (steps > 0)
			p.eta_seconds = (max_steps - steps) * elapsed / steps;
	}
	return p;
}

static void
append_number(StringInfo out, double value)
{
	if (isfinite(value))
		appendStringInfo(out, "%.6g", value);
	else
		appendStringInfoString(out, "null");
}

/* The latest validation's values as "name value" pairs, or as a JSON object. */
static void
append_validation(StringInfo out, const PtTrainerState *state, bool as_json)
{
	if (as_json)
		appendStringInfoChar(out, '{');
	for (int i = 0; i < state->metric_count; i++)
	{
		if (as_json)
		{
			appendStringInfo(out, "%s\"%s\": ", i ? ", " : "", state->metric_names[i]);
			append_number(out, state->metric_values[i]);
		}
		else
			appendStringInfo(out, " %s %.6g", state->metric_names[i], state->metric_values[i]);
	}
	if (as_json)
		appendStringInfoChar(out, '}');
}

/* Each rank's trainer pid and rows/s (of its own rows), and the time the ranks spent in
 * their gradient sums, with the bytes of one step's. */
static void
append_ranks(StringInfo json, Supervisor *sv)
{
	double		elapsed = Max(seconds_between(sv->training_started, sv->latest_at), 1e-3);

	appendStringInfoString(json, ", \"trainer_pids\": [");
	for (int r = 0; r < sv->world && sv->ranks[r] != NULL; r++)
		appendStringInfo(json, "%s%d", r ? ", " : "", (int) sv->ranks[r]->pid);
	appendStringInfoString(json, "], \"rank_rows_per_second\": [");
	for (int r = 0; r < sv->world && sv->ranks[r] != NULL; r++)
		appendStringInfo(json, "%s%.0f", r ? ", " : "", sv->rank_latest[r].local_samples_seen / elapsed);
	appendStringInfo(json, "], \"allreduce_seconds\": %.3f, \"allreduce_bytes_per_step\": " INT64_FORMAT,
					 sv->latest.allreduce_seconds,
					 sv->latest.steps_this_run > 0 ? sv->latest.allreduce_bytes / sv->latest.steps_this_run : 0);
}

/* Publishes progress as JSON in this supervisor's pg_stat_activity entry (pinnacle.progress). */
static void
publish_progress(Supervisor *sv)
{
	StringInfoData json;
	Progress	p = measure_progress(sv);

	initStringInfo(&json);
	appendStringInfo(&json, "{\"run_id\": " INT64_FORMAT ", \"iteration\": " INT64_FORMAT ", \"world_size\": %d",
					 sv->header->run_id, p.iteration, sv->global_world);
	append_ranks(&json, sv);
	if (p.last_iteration > 0)
		appendStringInfo(&json, ", \"max_iterations\": " INT64_FORMAT ", \"eta_seconds\": %.1f",
						 p.last_iteration, Max(p.eta_seconds, 0));
	appendStringInfoString(&json, ", \"train_loss\": ");
	append_number(&json, sv->latest.last_loss);
	appendStringInfo(&json, ", \"rows_per_second\": %.0f, \"validation\": ", p.rows_per_second);
	append_validation(&json, &sv->latest, true);
	appendStringInfoChar(&json, '}');
	pgstat_report_activity(STATE_RUNNING, json.data);
	sv->last_published = GetCurrentTimestamp();
}

/* A progress NOTICE for a waiting caller: step, loss, validation values, speed, ETA. */
static void
send_progress_notice(Supervisor *sv, bool validated)
{
	StringInfoData line;
	Progress	p = measure_progress(sv);

	initStringInfo(&line);
	appendStringInfo(&line, "step " INT64_FORMAT, p.iteration);
	if (p.last_iteration > 0)
		appendStringInfo(&line, "/" INT64_FORMAT, p.last_iteration);
	appendStringInfo(&line, ": train loss %.6g, %.0f rows/s", sv->latest.last_loss, p.rows_per_second);
	if (p.eta_seconds >= 0)
		appendStringInfo(&line, ", ETA %.0f s", p.eta_seconds);
	if (sv->latest.metric_count > 0)
	{
		appendStringInfoString(&line, validated ? "; validation:" : "; last validation:");
		append_validation(&line, &sv->latest, false);
		if (validated && sv->latest.last_was_best)
			appendStringInfoString(&line, " (best)");
	}
	pt_session_send_notice(&sv->replies, line.data);
	sv->last_notice = GetCurrentTimestamp();
}

/* The summary a waited run always ends with: status, steps, best value, stop reason, time. */
static void
send_summary(Supervisor *sv, const char *status)
{
	StringInfoData line;

	initStringInfo(&line);
	appendStringInfo(&line, "%s after " INT64_FORMAT " steps", status, sv->latest.iteration);
	if (sv->latest.best_iteration > 0 && isfinite(sv->latest.best_value))
		appendStringInfo(&line, ", best %s %.6g at step " INT64_FORMAT, pt_spec_listen(sv->spec),
						 sv->latest.best_value, sv->latest.best_iteration);
	if (sv->stop_reason != NULL)
		appendStringInfo(&line, ", stopped by %s", sv->stop_reason);
	appendStringInfo(&line, ", %.1f s", seconds_since(sv->started));
	pt_session_send_notice(&sv->replies, line.data);
}

/* Waits for a pinnacle.max_workers training slot per rank, held until this process exits. */
static void
acquire_training_slots(Supervisor *sv)
{
	bool		queued = false;

	while (!pt_run_try_training_slots(sv->world))
	{
		if (!queued)
		{
			pt_run_set_queued(sv->header->run_id, true);
			pt_session_send_notice(&sv->replies, "queued: waiting for a training slot (pinnacle.max_workers)");
			queued = true;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, QUEUE_POLL_MS,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		check_for_stop(sv);
	}
	if (queued)
		pt_run_set_queued(sv->header->run_id, false);
}

/* The ranks of a run find each other through a store file in a directory only this server's
 * OS user can open (mkdtemp makes it 0700). */
static void
make_store_directory(Supervisor *sv, PtTrainerJob *job)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(sv->store_dir, sizeof(sv->store_dir), "%s/pinnacle_ranks_%d_XXXXXX",
			 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", MyProcPid);
	if (mkdtemp(sv->store_dir) == NULL)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not create a directory for the run's ranks: %m")));
	snprintf(job->store_path, sizeof(job->store_path), "%s/store", sv->store_dir);
}

static void
remove_store_directory(Supervisor *sv)
{
	char		path[MAXPGPATH + 8];

	if (sv->store_dir[0] == '\0')
		return;
	snprintf(path, sizeof(path), "%s/store", sv->store_dir);
	(void) unlink(path);
	(void) rmdir(sv->store_dir);
	sv->store_dir[0] = '\0';
}

/* A run's key prefix in a TCPStore any host may reach: unguessable, so that no other run's
 * ranks (nor anyone who only guesses) meet this run's keys. */
static void
random_run_key(char *key, size_t size)
{
	uint8		bytes[16];

	if (!pg_strong_random(bytes, sizeof(bytes)))
		elog(ERROR, "could not generate a random key for the run's rendezvous");
	for (size_t i = 0; i < sizeof(bytes) && 2 * i + 2 < size; i++)
		snprintf(key + 2 * i, 3, "%02x", bytes[i]);
}

static void
release_job_rows(Supervisor *sv)
{
	pt_torch.pt_data_free(sv->train);
	pt_torch.pt_data_free(sv->validation);
	sv->train = sv->validation = NULL;
}

/* Across servers, on the calling server: rank 0's store listens on `port`; its other ranks
 * start, then every listed server's part. */
static void
start_later_ranks(Supervisor *sv, int port)
{
	PtTrainerJob *job = &sv->later_ranks;

	if (!sv->later_ranks_pending)
		elog(ERROR, "the trainer process reported its rendezvous twice");
	if (port <= 0 || port > 65535)
		elog(ERROR, "the trainer process reported a bad port %d", port);
	sv->later_ranks_pending = false;
	job->store_port = port;
	for (job->rank = 1; job->rank < sv->world; job->rank++)
	{
		job->local_rank = job->rank;
		sv->ranks[job->rank] = pt_child_start("trainer", pt_trainer_main, job);
	}
	release_job_rows(sv);
	sv->starting_remotes = true;
	pt_remote_shards_start(&sv->remotes, sv->spec_json, sv->header->run_id, sv->world, job->store_host, port,
						   job->run_key, !sv->header->caller_is_superuser);
	sv->starting_remotes = false;
}

/* Forks the trainers, one per rank, with the rows, the module and the starting checkpoint;
 * the supervisor keeps none of them (each trainer's copies are its own, copy-on-write). */
static void
start_trainers(Supervisor *sv)
{
	bytea	   *module = pt_store_load_module(sv->spec);
	PtTrainerJob job = {
		.spec = sv->spec,
		.train = sv->train,
		.validation = sv->validation,
		.module = module ? VARDATA_ANY(module) : NULL,
		.module_size = module ? VARSIZE_ANY_EXHDR(module) : 0,
		.threads = pt_spec_threads(sv->spec),
		.memory_limit = sv->header->memory_limit,
		.world = sv->world,
		.timeout = pt_spec_timeout(sv->spec),
	};

	snprintf(job.run_key, sizeof(job.run_key), "pinnacle_run_" INT64_FORMAT, sv->header->run_id);
	if (sv->across_servers)
	{
		job.across_servers = true;
		job.world = sv->global_world;
		job.local_world = sv->world;
		strlcpy(job.gloo_address, pinnacle_rendezvous_address, sizeof(job.gloo_address));
		if (sv->is_shard)
		{
			strlcpy(job.store_host, sv->header->shard.store_host, sizeof(job.store_host));
			job.store_port = sv->header->shard.store_port;
			strlcpy(job.run_key, sv->header->shard.run_key, sizeof(job.run_key));
		}
		else
		{
			strlcpy(job.store_host, pinnacle_rendezvous_address, sizeof(job.store_host));
			random_run_key(job.run_key, sizeof(job.run_key));
		}
	}
	else if (sv->world > 1)
		make_store_directory(sv, &job);
	if (sv->header->resume_run_id != 0)
	{
		PtStoredCheckpoint checkpoint = pt_store_load_checkpoint(sv->header->resume_run_id,
																 sv->header->resume_iteration);

		job.resume_weights = checkpoint.weights;
		job.resume_weights_size = checkpoint.weights_size;
		job.resume_optimizer = checkpoint.optimizer_state;
		job.resume_optimizer_size = checkpoint.optimizer_size;
		job.resume_iteration = checkpoint.iteration;
		job.resume_history = checkpoint.history_json;
	}
	if (sv->across_servers && !sv->is_shard)
	{
		/* rank 0 first: it serves the store, and reports its port (start_later_ranks) */
		job.rank = job.local_rank = 0;
		sv->ranks[0] = pt_child_start("trainer", pt_trainer_main, &job);
		sv->later_ranks = job;
		sv->later_ranks_pending = true;
	}
	else
	{
		int			first = sv->is_shard ? sv->header->shard.first_rank : 0;

		for (int r = 0; r < sv->world; r++)
		{
			job.rank = first + r;
			job.local_rank = r;
			job.reports_shard_end = sv->is_shard && r == 0;
			sv->ranks[r] = pt_child_start("trainer", pt_trainer_main, &job);
		}
	}
	pt_run_set_trainer(sv->header->run_id, (int) sv->ranks[0]->pid);
	if (!sv->later_ranks_pending)
		release_job_rows(sv);
	sv->training_started = sv->last_notice = GetCurrentTimestamp();
	publish_progress(sv);
}

static void
end_trainers(Supervisor *sv)
{
	for (int r = 0; r < sv->world; r++)
		if (sv->ranks[r] != NULL)
			pt_child_end(sv->ranks[r]);
	remove_store_directory(sv);
}

static PtCheckpointReport
checkpoint_report(const PtChannelMessage *message)
{
	PtCheckpointReport report;

	if (message->nparts != 4 || !pt_channel_part_is(message, 0, sizeof(PtTrainerState)))
		elog(ERROR, "the trainer process sent a malformed checkpoint");
	memcpy(&report.state, message->parts[0].data, sizeof(PtTrainerState));
	report.history_json = pt_channel_text(message, 1);
	report.weights = message->parts[2].data;
	report.weights_size = message->parts[2].size;
	report.optimizer_state = message->parts[3].data;
	report.optimizer_size = message->parts[3].size;
	return report;
}

static void
record_success(Supervisor *sv, const PtChannelMessage *message)
{
	PtFinishReport report;

	if (message->nparts != 5 || !pt_channel_part_is(message, 0, sizeof(PtTrainerState)) ||
		message->parts[4].size % sizeof(int64_t) != 0)
		elog(ERROR, "the trainer process sent a malformed result");
	memcpy(&report.state, message->parts[0].data, sizeof(PtTrainerState));
	report.history_json = pt_channel_text(message, 1);
	report.stop_reason = pt_channel_text(message, 2);
	report.transform_json = pt_channel_text(message, 3);
	report.columns = message->parts[4].size / sizeof(int64_t);
	report.column_widths = palloc(message->parts[4].size);
	memcpy((void *) report.column_widths, message->parts[4].data, message->parts[4].size);
	sv->latest = report.state;
	sv->stop_reason = MemoryContextStrdup(TopMemoryContext, report.stop_reason);
	pt_store_success(sv->header->run_id, pt_spec_identifier(sv->spec), &report);
}

/* A trainer's end as an ERROR (interrupted for SIGKILL and SIGTERM, else failed), once it
 * was described. */
static void
raise_exit(Supervisor *sv, const char *status, char *error)
{
	/* libtorch aborts where an allocation fails outside its error handling */
	if (sv->header->memory_limit > 0 && strstr(error, "(Aborted)") != NULL)
		error = psprintf("%s; it may have needed more memory than compute_kwargs.memory_limit (" INT64_FORMAT
						 " kB) allows", error, (sv->header->memory_limit + 1023) / 1024);
	ereport(ERROR,
			(errcode(strcmp(status, PT_STATUS_INTERRUPTED) == 0 ? ERRCODE_ADMIN_SHUTDOWN : ERRCODE_SYSTEM_ERROR),
			 errmsg("%s", error)));
}

/* A trainer that exited without reporting its end; the error names the signal or code, and
 * the rank of a run of several. */
static void
raise_trainer_exit(Supervisor *sv, int rank)
{
	char	   *error;
	const char *status = pt_child_describe_exit(sv->ranks[rank], &error);

	if (sv->world > 1)
		error = psprintf("rank %d of %d (compute_kwargs.workers): %s", rank, sv->world, error);
	raise_exit(sv, status, error);
}

static void raise_trainer_failure(Supervisor *sv, int rank, const PtChannelMessage *message);
static bool handle_message(Supervisor *sv, const PtChannelMessage *message);

/* A rank's report that it lost the others (PT_ERROR_PEER). */
static bool
is_peer_failure(const PtChannelMessage *message)
{
	int32		kind;

	if (!pt_channel_part_is(message, 0, sizeof(int32)))
		return false;
	memcpy(&kind, message->parts[0].data, sizeof(int32));
	return kind == PT_ERROR_PEER;
}

/* Rank `reporter` lost the others. What another rank says explains more, and is raised
 * instead: its own failure (a batch's rows split over ranks can fail on one alone), or its
 * death by a signal; either comes within a second of the loss. (A rank that only lost the
 * others too reports that, and exits by itself.) */
static void
raise_lost_rank(Supervisor *sv, int reporter)
{
	for (int tries = 0; tries < 10; tries++)
	{
		for (int r = 0; r < sv->world; r++)
		{
			PtChannelMessage message;
			char	   *error;
			const char *status;

			if (r == reporter || sv->ranks[r] == NULL || sv->ranks[r]->pid == 0)
				continue;
			while (pt_child_next(sv->ranks[r], &message, 0))
			{
				if (message.kind == PT_CHANNEL_FAILED && !is_peer_failure(&message))
					raise_trainer_failure(sv, r, &message);
				/* rank 0's answer to a shutdown's stop request: its checkpoint is kept */
				if (r == 0 && message.kind == PT_CHANNEL_CHECKPOINT)
					handle_message(sv, &message);
			}
			if (!sv->ranks[r]->closed)
				continue;
			/* a rank that ended by a signal (one that exited reported first) */
			status = pt_child_describe_exit(sv->ranks[r], &error);
			if (WIFSIGNALED(sv->ranks[r]->exit_status))
				raise_exit(sv, status, psprintf("rank %d of %d (compute_kwargs.workers): %s", r, sv->world, error));
		}
		pg_usleep(100 * 1000L);
	}
}

static void
raise_trainer_failure(Supervisor *sv, int rank, const PtChannelMessage *message)
{
	int32		kind;

	if (message->nparts != 2 || !pt_channel_part_is(message, 0, sizeof(int32)))
		elog(ERROR, "the trainer process sent a malformed error");
	memcpy(&kind, message->parts[0].data, sizeof(int32));
	if (kind == PT_ERROR_PEER)
	{
		raise_lost_rank(sv, rank);
		/* the others were lost because a shutdown asked rank 0 to stop: that is the reason */
		if (sv->stop_deadline != 0)
			interrupted_by_shutdown();
	}
	ereport(ERROR, (errcode(pt_sqlstate_of((PtErrorKind) kind)), errmsg("%s", pt_channel_text(message, 1))));
}

/* Handles one report of the trainer; true once training has ended with a model. */
static bool
handle_message(Supervisor *sv, const PtChannelMessage *message)
{
	PtCheckpointReport report;

	switch (message->kind)
	{
		case PT_CHANNEL_STARTED:
			{
				PtTrainerRows rows;

				if (!pt_channel_part_is(message, 0, sizeof(rows)))
					elog(ERROR, "the trainer process sent a malformed start");
				memcpy(&rows, message->parts[0].data, sizeof(rows));
				/* after a validation.split, which the trainer makes */
				pt_store_set_rows(sv->header->run_id, rows.train_rows, rows.validation_rows);
				/* rows/s and the ETA count from here: the trainer is built, its loop starts */
				sv->training_started = GetCurrentTimestamp();
				return false;
			}
		case PT_CHANNEL_PROGRESS:
			if (!pt_channel_part_is(message, 0, sizeof(PtTrainerState)))
				elog(ERROR, "the trainer process sent a malformed progress report");
			memcpy(&sv->latest, message->parts[0].data, sizeof(PtTrainerState));
			sv->rank_latest[0] = sv->latest;
			sv->latest_at = GetCurrentTimestamp();
			return false;
		case PT_CHANNEL_VALIDATED:
			report = checkpoint_report(message);
			sv->latest = sv->rank_latest[0] = report.state;
			sv->latest_at = GetCurrentTimestamp();
			pt_store_validation(sv->header->run_id, &report);
			pt_search_rung_reached(sv->header->run_id);
			return false;
		case PT_CHANNEL_CHECKPOINT:
			/* the answer to a shutdown's stop request: keep the step reached */
			report = checkpoint_report(message);
			sv->latest = report.state;
			sv->latest_at = GetCurrentTimestamp();
			if (report.state.steps_this_run > 0)
				pt_store_checkpoint(sv->header->run_id, &report);
			interrupted_by_shutdown();
			return false;
		case PT_CHANNEL_FINISHED:
			record_success(sv, message);
			return true;
		case PT_CHANNEL_FAILED:
			raise_trainer_failure(sv, 0, message);
			return false;
		case PT_CHANNEL_RENDEZVOUS:
			{
				int32		port;

				if (!sv->across_servers || sv->is_shard || !pt_channel_part_is(message, 0, sizeof(port)))
					elog(ERROR, "the trainer process sent a malformed rendezvous");
				memcpy(&port, message->parts[0].data, sizeof(port));
				start_later_ranks(sv, port);
				return false;
			}
		case PT_CHANNEL_SHARD_DONE:
			/* this server's part of a run across servers ended with the run */
			if (!sv->is_shard)
				elog(ERROR, "the trainer process sent an unexpected end of its part");
			pt_store_shard_end(sv->header->run_id, sv->latest.iteration);
			return true;
	}
	elog(ERROR, "the trainer process sent a message of unknown kind %u", message->kind);
}

/* The other ranks report progress only; a failure or an exit of one ends the run. */
static void
watch_other_ranks(Supervisor *sv)
{
	for (int r = 1; r < sv->world; r++)
	{
		PtChannelMessage message;

		if (sv->ranks[r] == NULL)	/* not started yet (across servers, before rank 0's store) */
			continue;
		while (pt_child_next(sv->ranks[r], &message, 0))
		{
			if (message.kind == PT_CHANNEL_FAILED)
				raise_trainer_failure(sv, r, &message);
			if (message.kind == PT_CHANNEL_PROGRESS && pt_channel_part_is(&message, 0, sizeof(PtTrainerState)))
				memcpy(&sv->rank_latest[r], message.parts[0].data, sizeof(PtTrainerState));
		}
		if (sv->ranks[r]->closed)
			raise_trainer_exit(sv, r);
	}
}

/* Relays rank 0's reports into the catalog until it finishes, or a rank fails or dies. */
static void
supervise_training(Supervisor *sv, MemoryContext step_context)
{
	bool		finished = false;

	start_trainers(sv);
	while (!finished)
	{
		PtChannelMessage message;
		bool		received;
		TimestampTz now;

		MemoryContextSwitchTo(step_context);
		MemoryContextReset(step_context);
		received = pt_child_next(sv->ranks[0], &message, PUBLISH_INTERVAL_MS);
		check_for_stop(sv);
		if (received)
			finished = handle_message(sv, &message);
		else if (sv->ranks[0]->closed)
			raise_trainer_exit(sv, 0);
		if (!finished)
			watch_other_ranks(sv);
		if (!finished)
			pt_remote_shards_poll(&sv->remotes);
		now = GetCurrentTimestamp();
		if (!finished && TimestampDifferenceExceeds(sv->last_notice, now, NOTICE_INTERVAL_MS))
			send_progress_notice(sv, received && message.kind == PT_CHANNEL_VALIDATED);
		if (!finished && TimestampDifferenceExceeds(sv->last_published, now, PUBLISH_INTERVAL_MS))
			publish_progress(sv);
	}
	end_trainers(sv);
}

static void
release_rows(Supervisor *sv)
{
	pt_torch.pt_data_free(sv->train);
	pt_torch.pt_data_free(sv->validation);
	sv->train = sv->validation = NULL;
}

/* The role's own settings (ALTER ROLE ... SET) apply to this connection, and must not change
 * how the catalog is written: the supervisor runs no user SQL, only its own. */
static void
pin_settings(void)
{
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("idle_in_transaction_session_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
}

/* Inside a PG_CATCH before the run is on record: the caller raises the ERROR being handled as
 * its own (pt_session_start), and this process exits, having recorded nothing. */
static void
pg_attribute_noreturn()
refuse_run(PtSessionHeader *header, dsm_segment *segment)
{
	ErrorData  *error;

	MemoryContextSwitchTo(TopMemoryContext);
	error = CopyErrorData();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	strlcpy(header->check_error, error->message, sizeof(header->check_error));
	if (error->hint != NULL)
		strlcpy(header->check_hint, error->hint, sizeof(header->check_hint));
	/* last: the caller reads the error once this is set and this process has exited */
	header->check_sqlerrcode = error->sqlerrcode != 0 ? error->sqlerrcode : ERRCODE_INTERNAL_ERROR;
	dsm_detach(segment);
	proc_exit(0);
}

/* The model must build for the first rows' widths, fit the target and load the starting
 * weights within the run's memory limit, before the run is on record: the caller's backend
 * does not load libtorch to check it, this process has it. A model that does not fit is the
 * caller's error, raised there as its own (pt_session_start); no run was. In a helper, as the
 * caller checked it before: a layer list may ask for more memory than the run may use, and a
 * TorchScript module is a user's code. */
static void
check_model_fits_rows(Supervisor *sv, dsm_segment *segment)
{
	PG_TRY();
	{
		bytea	   *module = pt_store_load_module(sv->spec);
		PtStoredCheckpoint checkpoint = {0};
		/* the helper unmaps every shared mapping, the session's segment too: it gets copies */
		char	   *spec_json = pstrdup(sv->spec_json);
		int64	   *widths = palloc(sizeof(int64) * sv->header->columns);

		memcpy(widths, pt_session_widths(segment), sizeof(int64) * sv->header->columns);

		/* a padded input's width is its longest row's, known only once the rows are here: the
		 * trainer checks the starting weights then */
		if (sv->header->resume_run_id != 0 && !pt_spec_column_is_padded(sv->spec, 0))
			checkpoint = pt_store_load_checkpoint(sv->header->resume_run_id, sv->header->resume_iteration);
		pt_helper_check_model(spec_json, widths, sv->header->columns,
							  module ? VARDATA_ANY(module) : NULL, module ? VARSIZE_ANY_EXHDR(module) : 0,
							  checkpoint.weights, checkpoint.weights_size, sv->header->memory_limit);
	}
	PG_CATCH();
	{
		refuse_run(sv->header, segment);
	}
	PG_END_TRY();
}

/* Records the run; a failure is told to the caller, which waits for this process to attach. */
static char *
record_run(Supervisor *sv)
{
	char	   *volatile identifier_owner = NULL;

	PG_TRY();
	{
		if (sv->is_shard)	/* a part claims no identifier: the calling server's run makes the model */
			pt_run_record_shard_start(sv->header->run_id, pt_spec_identifier(sv->spec), sv->spec_json,
									  sv->header->shard.coordinator, sv->header->shard.coordinator_run,
									  sv->header->shard.first_rank, sv->header->shard.world);
		else
			identifier_owner = pt_run_record_start(sv->header->run_id, pt_spec_identifier(sv->spec), sv->spec_json,
												   pt_spec_download(sv->spec),
												   pt_spec_download(sv->spec) && pt_spec_validation_select(sv->spec) != NULL);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(TopMemoryContext);
		error = CopyErrorData();
		strlcpy(sv->header->start_error, error->message, sizeof(sv->header->start_error));
		PG_RE_THROW();
	}
	PG_END_TRY();
	return identifier_owner;
}

void
pinnacle_worker_main(Datum main_arg)
{
	Supervisor	sv = {0};
	dsm_segment *segment;
	MemoryContext run_context,
				step_context;
	char	   *identifier_owner;

	/* until the run is on record a SIGTERM ends this process at once (its caller's cancel
	 * ends it so, see pt_session_start): nothing is to be saved */
	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	segment = pt_session_attach(DatumGetUInt32(main_arg), &sv.header, &sv.spec_json);
	/* first: loading libtorch is most of a fresh worker's start, and the caller waits for it */
	PG_TRY();
	{
		pt_torch_require();
	}
	PG_CATCH();
	{
		refuse_run(sv.header, segment);
	}
	PG_END_TRY();
	BackgroundWorkerInitializeConnectionByOid(sv.header->database, sv.header->role, 0);
	pin_settings();
	sv.started = GetCurrentTimestamp();

	sv.spec = pt_spec_parse(sv.spec_json);
	if (sv.spec == NULL)
		ereport(ERROR, (errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("%s", pt_last_error())));
	sv.is_shard = sv.header->shard.world > 0;
	sv.across_servers = sv.is_shard || pt_spec_server_count(sv.spec) > 0;
	if (sv.across_servers && !sv.is_shard)
	{
		Size		size;
		const char *servers = pt_session_servers(segment, &size);

		/* (pinnacle_train resolves the servers; no other caller hands them over) */
		if (sv.header->server_count != pt_spec_server_count(sv.spec) || servers == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("spec field \"compute_kwargs.servers\" is only available to pinnacle_train")));
		pt_remote_shards_init(&sv.remotes, servers, size, sv.header->server_count, pt_spec_timeout(sv.spec),
							  check_for_stop_between_waits, &sv);
	}

	if (sv.header->columns > 0)
		check_model_fits_rows(&sv, segment);
	/* from here a shutdown asks the trainer for a last checkpoint (check_for_stop) */
	pqsignal(SIGTERM, handle_sigterm);
	/* drawn here, once the model fits, so that a spec refused takes no run id */
	if (sv.header->run_id == 0)
	{
		sv.header->run_id = pt_store_next_run_id();
		set_ps_display(psprintf(INT64_FORMAT, sv.header->run_id));	/* "pinnacle_train run <id>" */
	}
	/* The run is on record before the caller may return its id (the caller waits for our
	 * attach to the rows queue, which comes after this commit). */
	identifier_owner = record_run(&sv);
	pt_session_attach_queues(segment, &sv.rows, &sv.replies);

	run_context = AllocSetContextCreate(TopMemoryContext, "pinnacle_train supervisor", ALLOCSET_DEFAULT_SIZES);
	step_context = AllocSetContextCreate(run_context, "pinnacle_train supervisor step", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(run_context);
	PG_TRY();
	{
		if (identifier_owner != NULL && !sv.is_shard)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("spec field \"identifier\": model \"%s\" belongs to role %s",
							pt_spec_identifier(sv.spec), identifier_owner),
					 errhint("Choose another identifier.")));
		sv.world = pt_spec_workers(sv.spec);
		sv.global_world = sv.is_shard ? sv.header->shard.world : sv.world * (1 + pt_spec_server_count(sv.spec));
		sv.train = pt_torch.pt_data_new(sv.spec, sv.header->memory_limit, true);
		sv.validation = pt_torch.pt_data_new(sv.spec, sv.header->memory_limit, false);
		if (sv.train == NULL || sv.validation == NULL)
			ereport(ERROR, (errcode(pt_sqlstate_of(pt_last_error_kind())), errmsg("%s", pt_last_error())));
		pt_torch.pt_data_expect_rows(sv.train, sv.header->expected_rows);
		receive_rows(&sv);
		acquire_training_slots(&sv);
		supervise_training(&sv, step_context);
		MemoryContextSwitchTo(run_context);
		send_summary(&sv, PT_STATUS_SUCCEEDED);
		pt_session_send_result(&sv.replies, PT_STATUS_SUCCEEDED, 0, "");
		/* the listed servers end their parts with the run; their calls return */
		pt_remote_shards_finish(&sv.remotes, asked_to_stop);
		pt_remote_shards_close(&sv.remotes);
	}
	PG_CATCH();
	{
		ErrorData  *error;
		const char *status;

		/* The run's end is recorded whatever comes meanwhile: a cancel that arrived while the
		 * run failed is moot, and a shutdown waits for the record (a short transaction). */
		HOLD_INTERRUPTS();
		QueryCancelPending = false;
		MemoryContextSwitchTo(run_context);
		error = CopyErrorData();
		FlushErrorState();
		AbortOutOfAnyTransaction();
		end_trainers(&sv);
		pt_remote_shards_close(&sv.remotes);
		status = pt_run_status_for_error(error->sqlerrcode);
		ereport(LOG,
				(errmsg("pinnacle_train run " INT64_FORMAT " %s: %s", sv.header->run_id, status, error->message)));

		release_rows(&sv);
		pt_run_record_end(sv.header->run_id, status, error->message);
		RESUME_INTERRUPTS();
		send_summary(&sv, status);
		pt_session_send_result(&sv.replies, status, error->sqlerrcode, error->message);
	}
	PG_END_TRY();

	release_rows(&sv);
	pt_spec_free(sv.spec);
	dsm_detach(segment);
	proc_exit(0);
}
