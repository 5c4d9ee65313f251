/*
 * The trainer process's main loop: trains one step at a time with the core, and reports to
 * its supervisor over the trainer channel (see child_channel.h). No PostgreSQL header is
 * included here on purpose: nothing in this process may use PostgreSQL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "child_channel.h"
#include "child_setup.h"
#include "torch_core.h"
#include "trainer_process.h"

#define PROGRESS_INTERVAL_NS 250000000L

/* Exit codes; a trainer that reported its end exits 0 even when the run failed. */
#define EXIT_REPORTED 0

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* compute_kwargs.memory_limit bounds what the run adds to this process once libtorch has
 * started: the rows it holds (received before the fork), the model, the optimizer state and
 * the batches. */
static void
limit_memory(const PtTrainerJob *job)
{
	pt_child_limit_memory(job->memory_limit,
						  pt_torch.pt_data_memory_bytes(job->train) + pt_torch.pt_data_memory_bytes(job->validation));
}

static void
send_or_exit(int channel, uint32_t kind, const PtChannelPart *parts, uint32_t nparts)
{
	if (!pt_channel_send(channel, kind, parts, nparts))
		_exit(PT_CHILD_EXIT_PARENT_GONE);
}

static void __attribute__((noreturn))
fail(const PtTrainerJob *job, const char *context)
{
	char		message[4096];
	int32_t		kind = (int32_t) pt_last_error_kind();
	PtChannelPart parts[2] = {{&kind, sizeof(kind)}, {message, 0}};
	char		rank[64] = "";

	/* a rank of several says which (a batch's rows split over ranks can fail on one alone) */
	if (job->world > 1)
		snprintf(rank, sizeof(rank), "rank %d of %d (compute_kwargs.workers): ", job->rank, job->world);
	if (kind == PT_ERROR_MEMORY && job->memory_limit > 0)
		snprintf(message, sizeof(message),
				 "%sthe trainer needs more memory than compute_kwargs.memory_limit (%lld kB) allows: %s", rank,
				 (long long) ((job->memory_limit + 1023) >> 10), pt_last_error());
	else if (context != NULL)
		snprintf(message, sizeof(message), "%s%s: %s", rank, context, pt_last_error());
	else
		snprintf(message, sizeof(message), "%s%s", rank, pt_last_error());
	parts[1].size = strlen(message) + 1;
	send_or_exit(job->channel, PT_CHANNEL_FAILED, parts, 2);
	_exit(EXIT_REPORTED);
}

static PtTrainerState
state_of(const PtTrainer *trainer)
{
	PtTrainerState state = {
		.iteration = pt_torch.pt_trainer_iteration(trainer),
		.steps_this_run = pt_torch.pt_trainer_steps_this_run(trainer),
		.samples_seen = pt_torch.pt_trainer_samples_seen(trainer),
		.local_samples_seen = pt_torch.pt_trainer_local_samples_seen(trainer),
		.allreduce_seconds = pt_torch.pt_trainer_allreduce_seconds(trainer),
		.allreduce_bytes = pt_torch.pt_trainer_allreduce_bytes(trainer),
		.best_iteration = pt_torch.pt_trainer_best_iteration(trainer),
		.last_loss = pt_torch.pt_trainer_last_loss(trainer),
		.best_value = pt_torch.pt_trainer_best_value(trainer),
		.last_was_best = pt_torch.pt_trainer_last_was_best(trainer),
	};
	int			count = pt_torch.pt_trainer_metric_count(trainer);

	for (int i = 0; i < count && i < PT_CHANNEL_MAX_METRICS; i++)
	{
		const char *name = pt_torch.pt_trainer_metric_name(trainer, i);

		snprintf(state.metric_names[i], PT_CHANNEL_METRIC_NAME, "%s", name ? name : "?");
		state.metric_values[i] = pt_torch.pt_trainer_metric_value(trainer, i);
		state.metric_count++;
	}
	return state;
}

static const char *
text_or_fail(const PtTrainerJob *job, const char *text, const char *what)
{
	if (text == NULL)
		fail(job, what);
	return text;
}

/* A validation ('V') or the answer to a stop ('C'): the state with a checkpoint. */
static void
send_checkpoint(const PtTrainerJob *job, PtTrainer *trainer, uint32_t kind)
{
	PtTrainerState state = state_of(trainer);
	const char *history = text_or_fail(job, pt_torch.pt_trainer_history_json(trainer), "could not write the metric history");
	const char *weights,
			   *optimizer;
	size_t		weights_size,
				optimizer_size;

	if (!pt_torch.pt_trainer_checkpoint(trainer, &weights, &weights_size, &optimizer, &optimizer_size))
		fail(job, "could not serialize the checkpoint");
	send_or_exit(job->channel, kind, (PtChannelPart[]) {
		{&state, sizeof(state)}, {history, strlen(history) + 1}, {weights, weights_size},
		{optimizer, optimizer_size}}, 4);
}

static void
send_progress(const PtTrainerJob *job, PtTrainer *trainer)
{
	PtTrainerState state = state_of(trainer);

	send_or_exit(job->channel, PT_CHANNEL_PROGRESS, (PtChannelPart[]) {{&state, sizeof(state)}}, 1);
}

static void
send_finished(const PtTrainerJob *job, PtTrainer *trainer)
{
	PtTrainerState state = state_of(trainer);
	const char *history = text_or_fail(job, pt_torch.pt_trainer_history_json(trainer), "could not write the metric history");
	const char *transform = text_or_fail(job, pt_torch.pt_trainer_transform_json(trainer), "could not write the transform");
	const char *stop_reason = pt_torch.pt_trainer_stop_reason(trainer);
	int			columns = pt_torch.pt_trainer_column_count(trainer);
	int64_t    *widths = calloc(columns > 0 ? columns : 1, sizeof(int64_t));

	if (widths == NULL)
		_exit(PT_CHILD_EXIT_PARENT_GONE);
	for (int c = 0; c < columns; c++)
		widths[c] = pt_torch.pt_trainer_column_width(trainer, c);
	send_or_exit(job->channel, PT_CHANNEL_FINISHED, (PtChannelPart[]) {
		{&state, sizeof(state)}, {history, strlen(history) + 1}, {stop_reason, strlen(stop_reason) + 1},
		{transform, strlen(transform) + 1}, {widths, sizeof(int64_t) * columns}}, 5);
}

/* A stop request from the supervisor; a closed channel means it is gone. */
static bool
stop_requested(const PtTrainerJob *job)
{
	char		command;
	ssize_t		got = recv(job->channel, &command, 1, MSG_DONTWAIT);

	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		_exit(PT_CHILD_EXIT_PARENT_GONE);
	return got == 1 && command == PT_CHANNEL_STOP;
}

static PtRendezvous *
open_rendezvous(const PtTrainerJob *job)
{
	PtRendezvous *rendezvous;

	if (!job->across_servers)
		rendezvous = pt_torch.pt_rendezvous_open(job->rank, job->world, job->store_path, job->run_key, job->timeout);
	else
		rendezvous = pt_torch.pt_rendezvous_open_tcp(job->rank, job->world, job->store_host, job->store_port,
											job->gloo_address, job->run_key, job->timeout);
	if (rendezvous == NULL)
		fail(job, NULL);
	if (job->across_servers && job->rank == 0)
	{
		/* the supervisor starts the other ranks once it knows where the store listens */
		int32_t		port = pt_torch.pt_rendezvous_port(rendezvous);

		if (port <= 0)
			fail(job, "could not start the run's store");
		send_or_exit(job->channel, PT_CHANNEL_RENDEZVOUS, (PtChannelPart[]) {{&port, sizeof(port)}}, 1);
	}
	/* a rank across servers holds only its share of its own server's rows */
	if (job->across_servers && job->local_world > 1 &&
		!pt_torch.pt_data_keep_shard(job->train, job->local_rank, job->local_world))
		fail(job, NULL);
	return rendezvous;
}

static PtTrainer *
start_trainer(const PtTrainerJob *job)
{
	PtRendezvous *rendezvous = job->world > 1 ? open_rendezvous(job) : NULL;
	PtTrainer  *trainer = pt_torch.pt_trainer_new(job->spec, job->train, job->validation, job->module, job->module_size,
										 rendezvous);
	PtTrainerRows rows;

	if (trainer == NULL)
		fail(job, NULL);
	rows = (PtTrainerRows) {pt_torch.pt_trainer_train_rows(trainer), pt_torch.pt_trainer_validation_rows(trainer)};
	if (job->rank == 0 || job->reports_shard_end)
		send_or_exit(job->channel, PT_CHANNEL_STARTED, (PtChannelPart[]) {{&rows, sizeof(rows)}}, 1);
	if (job->resume_weights != NULL &&
		!pt_torch.pt_trainer_resume(trainer, job->resume_weights, job->resume_weights_size, job->resume_optimizer,
						   job->resume_optimizer_size, job->resume_iteration, job->resume_history))
		fail(job, NULL);
	/* across servers only rank 0 has the checkpoint: the others take it from there */
	if (job->across_servers && !pt_torch.pt_trainer_share_resume(trainer))
		fail(job, NULL);
	return trainer;
}

/* A rank other than 0 has nothing to report at the end: it waits for its supervisor to end
 * it, so that its exit never reads as a failure before rank 0's report has arrived. */
static void __attribute__((noreturn))
await_end(const PtTrainerJob *job)
{
	char		ignored;
	ssize_t		got;

	while ((got = recv(job->channel, &ignored, 1, 0)) > 0 || (got < 0 && errno == EINTR))
		;
	_exit(EXIT_REPORTED);
}

void
pt_trainer_main(int channel, pid_t supervisor, void *arg)
{
	PtTrainerJob *job = arg;
	PtTrainer  *trainer;
	PtEvent		event;
	int64_t		last_progress = now_ns();
	bool		reports_the_run;

	job->channel = channel;
	job->supervisor = supervisor;
	reports_the_run = job->rank == 0;

	pt_child_detach_from_server(job->supervisor);
	pt_child_close_server_files(channel);
	pt_child_volunteer_for_the_oom_killer();
	pt_torch.pt_runtime_keep_step_tensors_on_the_heap();
	if (!pt_torch.pt_runtime_init(job->threads))
		fail(job, "could not start libtorch");
	limit_memory(job);
	trainer = start_trainer(job);

	while ((event = pt_torch.pt_trainer_advance(trainer)) != PT_FINISHED)
	{
		if (event == PT_FAILED)
			fail(job, NULL);
		if (event == PT_VALIDATED && reports_the_run)
			send_checkpoint(job, trainer, PT_CHANNEL_VALIDATED);
		else if (now_ns() - last_progress >= PROGRESS_INTERVAL_NS)
		{
			send_progress(job, trainer);
			last_progress = now_ns();
		}
		if (stop_requested(job))
		{
			send_checkpoint(job, trainer, PT_CHANNEL_CHECKPOINT);
			_exit(EXIT_REPORTED);
		}
	}
	if (job->reports_shard_end)
		send_or_exit(job->channel, PT_CHANNEL_SHARD_DONE, NULL, 0);
	if (!reports_the_run)
		await_end(job);
	send_finished(job, trainer);
	_exit(EXIT_REPORTED);
}
