/*
 * The helper process's main function. No PostgreSQL header is included here on purpose:
 * nothing in this process may use PostgreSQL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child_channel.h"
#include "child_setup.h"
#include "helper_process.h"
#include "pinnacle_core.h"
#include "torch_core.h"

#define EXIT_REPORTED 0

static void
send_or_exit(int channel, uint32_t kind, const PtChannelPart *parts, uint32_t nparts)
{
	if (!pt_channel_send(channel, kind, parts, nparts))
		_exit(PT_CHILD_EXIT_PARENT_GONE);
}

static int64_t memory_limit = 0;

/* The core's latest failure, as an 'E' message; an allocation past the limit names it. */
static void
send_failure(int channel)
{
	int32_t		kind = (int32_t) pt_last_error_kind();
	char		message[4096];

	if (kind == PT_ERROR_MEMORY && memory_limit > 0)
		snprintf(message, sizeof(message), "the model needs more memory than the limit of %lld kB allows: %s",
				 (long long) ((memory_limit + 1023) >> 10), pt_last_error());
	else
		snprintf(message, sizeof(message), "%s", pt_last_error());
	send_or_exit(channel, PT_CHANNEL_FAILED,
				 (PtChannelPart[]) {{&kind, sizeof(kind)}, {message, strlen(message) + 1}}, 2);
}

static void __attribute__((noreturn))
finish(int channel, bool ok, const PtChannelPart *parts, uint32_t nparts)
{
	if (ok)
		send_or_exit(channel, PT_CHANNEL_RESULT, parts, nparts);
	else
		send_failure(channel);
	_exit(EXIT_REPORTED);
}

/* The model builds, fits the target, loads the starting weights, and is estimated to train
 * within the memory limit: a run that would not is refused before it starts. */
static void __attribute__((noreturn))
check_model(int channel, const PtHelperJob *job)
{
	PtSpec	   *spec = pt_spec_parse(job->spec_json);
	int64_t		needed;
	char		message[512];
	int32_t		kind = PT_ERROR_MEMORY;

	if (spec == NULL || !pt_torch.pt_spec_check_model(spec, job->column_widths, job->module, job->module_size,
											 job->weights, job->weights_size))
		finish(channel, false, NULL, 0);
	needed = pt_torch.pt_spec_estimate_training_bytes(spec, job->column_widths, job->module, job->module_size);
	if (needed < 0)
		finish(channel, false, NULL, 0);
	if (job->memory_limit > 0 && needed > job->memory_limit)
	{
		snprintf(message, sizeof(message),
				 "the model needs about %lld MB to train (its parameters, their gradients, the optimizer's state "
				 "and one batch's activations), more than compute_kwargs.memory_limit (%lld MB) allows",
				 (long long) (needed >> 20), (long long) ((job->memory_limit + (1 << 20) - 1) >> 20));
		send_or_exit(channel, PT_CHANNEL_FAILED,
					 (PtChannelPart[]) {{&kind, sizeof(kind)}, {message, strlen(message) + 1}}, 2);
		_exit(EXIT_REPORTED);
	}
	finish(channel, true, NULL, 0);
}

static PtModel *
load_model(const PtHelperJob *job)
{
	return pt_torch.pt_model_load(job->spec_json, job->column_widths, job->columns, job->weights, job->weights_size,
						 job->transform_json);
}

/* The bytes are TorchScript; an archive pinnacle_export wrote also carries its model version,
 * sent back as three parts (metadata JSON, weights, optimizer state), empty for a plain module. */
static void __attribute__((noreturn))
check_module(int channel, const PtHelperJob *job)
{
	PtExportFiles files = {0};
	bool		ok = pt_torch.pt_torchscript_check(job->module, job->module_size) &&
		pt_torch.pt_torchscript_export_metadata(job->module, job->module_size, &files);

	finish(channel, ok, (PtChannelPart[]) {{files.metadata_json, files.metadata_size}, {files.weights, files.weights_size},
		{files.optimizer_state, files.optimizer_size}}, 3);
}

/* The version's model as a scripted module, with its metadata, weights and optimizer state. */
static void __attribute__((noreturn))
export_model(int channel, const PtHelperJob *job)
{
	PtModel    *model = load_model(job);
	PtExportFiles files = {job->metadata_json, strlen(job->metadata_json), job->weights, job->weights_size,
	job->optimizer_state, job->optimizer_size};
	size_t		size = 0;
	const char *exported = model ? pt_torch.pt_model_export(model, &files, &size) : NULL;

	finish(channel, exported != NULL, (PtChannelPart[]) {{exported, size}}, 1);
}

/* An imported version: it loads as for predict; its weights and optimizer state (checked
 * against the model's parameters) are sent back as this code saves them. */
static void __attribute__((noreturn))
import_model(int channel, const PtHelperJob *job)
{
	PtModel    *model = load_model(job);
	size_t		weights_size = 0;
	size_t		optimizer_size = 0;
	const char *weights = model ? pt_torch.pt_model_weights(model, &weights_size) : NULL;
	const char *optimizer = weights ? pt_torch.pt_model_optimizer_state(model, job->optimizer_state, job->optimizer_size,
															   &optimizer_size) : NULL;

	finish(channel, optimizer != NULL, (PtChannelPart[]) {{weights, weights_size}, {optimizer, optimizer_size}}, 2);
}

/* The rows a predict request carries: its values fill whole rows, at most `batch_rows` of them,
 * and its lengths (a padded model's) are one per input column per row; 0 when it does not fit. */
static int64_t
request_rows(const PtChannelMessage *request, PtModel *model, int64_t batch_rows)
{
	size_t		row_size = sizeof(float) * pt_torch.pt_model_input_width(model);
	size_t		lengths_per_row = pt_torch.pt_model_padded(model) ? sizeof(int64_t) * pt_torch.pt_model_input_columns(model) : 0;
	int64_t		rows;

	if (request->kind != PT_CHANNEL_REQUEST || request->nparts != 2 || request->parts[0].size % row_size != 0)
		return 0;
	rows = request->parts[0].size / row_size;
	if (rows < 1 || rows > batch_rows || !pt_channel_part_is(request, 1, lengths_per_row * rows))
		return 0;
	return rows;
}

/* Answers predict requests until the backend closes the channel. */
static void __attribute__((noreturn))
serve_predictions(int channel, PtModel *model)
{
	int64_t		width = pt_torch.pt_model_output_width(model);
	int64_t		batch_rows = pt_torch.pt_model_batch_rows(model);
	float	   *out = calloc(width * batch_rows, sizeof(float));
	/* lengths follow the values in a request, at any offset: they are copied to aligned memory */
	int64_t    *lengths = calloc(batch_rows * pt_torch.pt_model_input_columns(model), sizeof(int64_t));
	char	   *buffer = NULL;
	size_t		capacity = 0;
	PtChannelMessage request;

	if (out == NULL || lengths == NULL)
		_exit(PT_CHILD_EXIT_PARENT_GONE);
	send_or_exit(channel, PT_CHANNEL_RESULT,
				 (PtChannelPart[]) {{&width, sizeof(width)}, {&batch_rows, sizeof(batch_rows)}}, 2);
	while (pt_channel_receive(channel, &buffer, &capacity, &request))
	{
		int64_t		rows = request_rows(&request, model, batch_rows);

		if (rows == 0)
			_exit(PT_CHILD_EXIT_PARENT_GONE);
		memcpy(lengths, request.parts[1].data, request.parts[1].size);
		/* the module never sees the request's memory: predict copies the values into tensors */
		if (pt_torch.pt_model_predict(model, request.parts[0].data, rows, pt_torch.pt_model_padded(model) ? lengths : NULL, out))
			send_or_exit(channel, PT_CHANNEL_RESULT, (PtChannelPart[]) {{out, sizeof(float) * width * rows}}, 1);
		else
			send_failure(channel);
	}
	_exit(EXIT_REPORTED);
}

void
pt_helper_main(int channel, pid_t backend, void *arg)
{
	const PtHelperJob *job = arg;
	PtModel    *model;

	pt_child_detach_from_server(backend);
	pt_child_close_other_files(channel);
	pt_child_volunteer_for_the_oom_killer();
	if (!pt_torch.pt_runtime_init(job->threads))
		finish(channel, false, NULL, 0);
	memory_limit = job->memory_limit;
	pt_child_limit_memory(job->memory_limit, 0);
	switch (job->task)
	{
		case PT_HELPER_CHECK_MODULE:
			check_module(channel, job);
		case PT_HELPER_CHECK_MODEL:
			check_model(channel, job);
		case PT_HELPER_EXPORT:
			export_model(channel, job);
		case PT_HELPER_IMPORT:
			import_model(channel, job);
		case PT_HELPER_PREDICT:
			model = load_model(job);
			if (model == NULL)
				finish(channel, false, NULL, 0);
			serve_predictions(channel, model);
	}
	_exit(PT_CHILD_EXIT_PARENT_GONE);
}
