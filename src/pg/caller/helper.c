#include "postgres.h"

#include "miscadmin.h"

#include "helper.h"
#include "helper_process.h"
#include "pinnacle.h"
#include "predict.h"
#include "torch_core.h"

/* Outputs wider than this are not believed: a helper runs a user's code. */
#define MAX_OUTPUT_WIDTH (INT64CONST(1) << 28)

/* A helper forked with the torch core loaded here first: it inherits the mapping, and a
 * process that forks several loads libtorch once. Not while a model's thread runs (a call in
 * a pinnacle_predict_batch's select): the child could inherit a lock that thread holds,
 * OpenBLAS's or libtorch's, and hang at its first product. */
static PtChildLink *
start_helper(PtHelperJob *job)
{
	pt_torch_require();
	pt_predict_wait_for_started();
	return pt_child_start("helper", pt_helper_main, job);
}

/* Runs one task in a new helper and returns the first `nparts` parts of its result as bytea
 * (NULL for a part it did not send). Any ERROR on the way, an interrupt's included, kills the
 * helper. */
static void
run_task(PtHelperJob *job, const char *context, bytea **parts, uint32 nparts)
{
	PtChildLink *volatile helper = start_helper(job);

	PG_TRY();
	{
		PtChannelMessage reply = pt_child_reply(helper, context);

		if (reply.kind != PT_CHANNEL_RESULT)
			elog(ERROR, "a helper process sent a message of kind %u instead of its result", reply.kind);
		for (uint32 i = 0; i < nparts; i++)
		{
			parts[i] = NULL;
			if (i >= reply.nparts)
				continue;
			parts[i] = palloc(VARHDRSZ + reply.parts[i].size);
			SET_VARSIZE(parts[i], VARHDRSZ + reply.parts[i].size);
			memcpy(VARDATA(parts[i]), reply.parts[i].data, reply.parts[i].size);
		}
	}
	PG_FINALLY();
	{
		pt_child_end(helper);
		pfree(helper);
	}
	PG_END_TRY();
}

static int64
helper_memory_limit(void)
{
	return (int64) pinnacle_memory_limit_mb * 1024 * 1024;
}

PtArchiveFiles
pt_helper_check_module(const char *bytes, size_t size)
{
	PtHelperJob job = {.task = PT_HELPER_CHECK_MODULE, .threads = 1, .memory_limit = helper_memory_limit(),
	.module = bytes, .module_size = size};
	bytea	   *parts[3];

	run_task(&job, "pinnacle_import: ", parts, 3);
	if (parts[0] == NULL || parts[1] == NULL || parts[2] == NULL)
		elog(ERROR, "a helper process sent a malformed answer");
	return (PtArchiveFiles) {parts[0], parts[1], parts[2]};
}

void
pt_helper_check_model(const char *spec_json, const int64 *column_widths, int columns, const char *module,
					  size_t module_size, const char *weights, size_t weights_size, int64 memory_limit)
{
	PtHelperJob job = {.task = PT_HELPER_CHECK_MODEL, .threads = 1, .memory_limit = memory_limit,
		.spec_json = spec_json, .column_widths = column_widths, .columns = columns, .module = module,
	.module_size = module_size, .weights = weights, .weights_size = weights_size};

	run_task(&job, "invalid pinnacle_train spec: ", NULL, 0);
}

static PtHelperJob
stored_model_job(PtHelperTask task, const PtStoredModel *model, int threads)
{
	PtHelperJob job = {.task = task, .threads = threads, .memory_limit = helper_memory_limit(),
		.spec_json = model->spec_json, .column_widths = model->column_widths, .columns = model->columns,
	.weights = model->weights, .weights_size = model->weights_size, .transform_json = model->transform_json};

	return job;
}

bytea *
pt_helper_export(const PtStoredModel *model, const char *metadata_json, const bytea *optimizer_state)
{
	PtHelperJob job = stored_model_job(PT_HELPER_EXPORT, model, 1);
	bytea	   *exported;

	job.metadata_json = metadata_json;
	job.optimizer_state = VARDATA_ANY(optimizer_state);
	job.optimizer_size = VARSIZE_ANY_EXHDR(optimizer_state);
	run_task(&job, "could not export the model: ", &exported, 1);

	if (exported == NULL)
		elog(ERROR, "a helper process exported nothing");
	return exported;
}

void
pt_helper_import(const PtStoredModel *model, const bytea *archive_optimizer_state, bytea **weights,
				 bytea **optimizer_state)
{
	PtHelperJob job = stored_model_job(PT_HELPER_IMPORT, model, 1);
	bytea	   *parts[2];

	job.optimizer_state = VARDATA_ANY(archive_optimizer_state);
	job.optimizer_size = VARSIZE_ANY_EXHDR(archive_optimizer_state);
	run_task(&job, "pinnacle_import: the archive's model does not load: ", parts, 2);
	if (parts[0] == NULL || parts[1] == NULL)
		elog(ERROR, "a helper process sent a malformed answer");
	/* what the archive had, the helper saved anew: a state that vanished is not a state */
	if ((VARSIZE_ANY_EXHDR(archive_optimizer_state) == 0) != (VARSIZE(parts[1]) == VARHDRSZ))
		elog(ERROR, "a helper process sent a malformed answer");
	*weights = parts[0];
	*optimizer_state = parts[1];
}

/* The loaded model's output width and the most rows a request may carry, checked: a helper
 * runs a user's code. */
static void
read_predictor_sizes(const PtChannelMessage *reply, int64 *output_width, int *batch_rows)
{
	int64		rows;

	if (reply->kind != PT_CHANNEL_RESULT || !pt_channel_part_is(reply, 0, sizeof(int64)) ||
		!pt_channel_part_is(reply, 1, sizeof(int64)))
		elog(ERROR, "a helper process sent a malformed answer");
	memcpy(output_width, reply->parts[0].data, sizeof(int64));
	memcpy(&rows, reply->parts[1].data, sizeof(int64));
	if (*output_width <= 0 || *output_width > MAX_OUTPUT_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model returns " INT64_FORMAT " values for a row", *output_width)));
	if (rows < 1 || rows > PT_MAX_BATCH_ROWS)
		elog(ERROR, "a helper process offered to predict " INT64_FORMAT " rows a request", rows);
	*batch_rows = (int) rows;
}

PtChildLink *
pt_helper_start_predictor(const PtStoredModel *model, int threads, int64 *output_width, int *batch_rows)
{
	PtHelperJob job = stored_model_job(PT_HELPER_PREDICT, model, threads);
	PtChildLink *volatile helper = start_helper(&job);

	PG_TRY();
	{
		PtChannelMessage reply = pt_child_reply(helper, "could not load the model: ");

		read_predictor_sizes(&reply, output_width, batch_rows);
	}
	PG_CATCH();
	{
		pt_child_end(helper);
		pfree(helper);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return helper;
}

void
pt_helper_predict(PtChildLink *helper, const float *values, int rows, int64 input_width, const int64 *lengths,
				  int columns, float *out, int64 output_width)
{
	PtChannelMessage reply;
	size_t		out_size = sizeof(float) * rows * output_width;

	pt_child_send(helper, PT_CHANNEL_REQUEST, (PtChannelPart[]) {
		{values, sizeof(float) * rows * input_width}, {lengths, lengths ? sizeof(int64) * rows * columns : 0}}, 2);
	reply = pt_child_reply(helper, "the model could not predict: ");
	/* a helper runs a user's code: nothing it sends is copied before its size is checked */
	if (reply.kind != PT_CHANNEL_RESULT || !pt_channel_part_is(&reply, 0, out_size))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the model did not return " INT64_FORMAT " values for each of %d rows", output_width, rows)));
	memcpy(out, reply.parts[0].data, out_size);
}
