/*
 * The C interface of the training core: the one door between the PostgreSQL layer (C) and
 * the torch core (C++). It is the exception boundary: no C++ exception passes it. A function
 * that fails returns NULL, false or a negative value and leaves its message in
 * pt_last_error(). The PostgreSQL layer never calls back into this side with a longjmp
 * pending, and this side never calls PostgreSQL, so no ereport() unwinds through C++ frames.
 *
 * Strings and byte buffers returned here belong to the object they came from and stay
 * valid until the next call on it.
 */
#ifndef PINNACLE_CORE_H
#define PINNACLE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct PtSpec PtSpec;
typedef struct PtData PtData;
typedef struct PtTrainer PtTrainer;
typedef struct PtModel PtModel;

/* The message of the latest failure on this thread. */
const char *pt_last_error(void);

/* Starts libtorch's thread pools with every signal blocked, so PostgreSQL's handlers only ever
 * run on the backend's own thread. Call once per process before any other pt_ call. */
bool pt_runtime_init(int threads);
/* For a training worker only (it changes malloc for the process's life): keeps the tensors a
 * step allocates and frees, 128 kB to a few MB, on the heap instead of mapping and
 * page-faulting them anew at every step. */
void pt_runtime_keep_step_tensors_on_the_heap(void);

/* ---- the spec ---- */
PtSpec *pt_spec_parse(const char *json_text);
void pt_spec_free(PtSpec *spec);
const char *pt_spec_identifier(const PtSpec *spec);
const char *pt_spec_select(const PtSpec *spec);
const char *pt_spec_validation_select(const PtSpec *spec); /* NULL without one */
int pt_spec_column_count(const PtSpec *spec);              /* inputs, then the target */
const char *pt_spec_column_name(const PtSpec *spec, int column);
bool pt_spec_column_is_class_index(const PtSpec *spec, int column);
bool pt_spec_column_is_padded(const PtSpec *spec, int column); /* collate_fn "pad": any length */
int pt_spec_threads(const PtSpec *spec);
int64_t pt_spec_max_iterations(const PtSpec *spec); /* -1: unbounded */
/* Continued training: where the starting checkpoint comes from. */
typedef enum PtResume
{
	PT_RESUME_NOTHING = 0,
	PT_RESUME_LATEST,			/* the newest checkpoint of this identifier */
	PT_RESUME_RUN,				/* the newest checkpoint of pt_spec_resume_run() */
	PT_RESUME_MODEL				/* the checkpoint of model version pt_spec_resume_model() */
} PtResume;
PtResume pt_spec_resume(const PtSpec *spec);
int64_t pt_spec_resume_run(const PtSpec *spec);
const char *pt_spec_resume_model(const PtSpec *spec);
int64_t pt_spec_memory_limit(const PtSpec *spec); /* bytes; 0: not given */
bool pt_spec_in_memory(const PtSpec *spec);        /* false: training rows are streamed */
/* "download": the rows are snapshotted into tables of the run, see src/pg/snapshot.c */
bool pt_spec_download(const PtSpec *spec);
/* The identifier of the imported TorchScript module the spec trains, or NULL for a layer list. */
const char *pt_spec_torchscript(const PtSpec *spec);
/* Builds the model once for these key-column widths (from `module`, the TorchScript bytes, when
 * the spec names one) and checks that its output fits the target and, when given, that `weights`
 * load into it; the error names what is at fault. */
bool pt_spec_check_model(const PtSpec *spec, const int64_t *column_widths, const char *module,
						 size_t module_size, const char *weights, size_t weights_size);

/* Checks that bytes are a TorchScript module with a forward method (pinnacle_import). */
bool pt_torchscript_check(const char *bytes, size_t size);

/* ---- rows received from the feed ---- */
/* Training rows of a spec with "in_memory": false go to a spill file as they arrive. */
PtData *pt_data_new(const PtSpec *spec, int64_t memory_limit, bool training_rows);
void pt_data_free(PtData *data);
/* The planner's estimate of the rows to come, to size the buffer once instead of growing it. */
void pt_data_expect_rows(PtData *data, int64_t rows);
/* Appends one rows message body (after the kind byte and padding, see wire.h). */
bool pt_data_append(PtData *data, const char *body, size_t size);
int64_t pt_data_rows(const PtData *data); /* received so far, spilled or held out included */

/* ---- training ---- */
typedef enum PtEvent
{
	PT_FAILED = -1,
	PT_STEPPED = 0,
	PT_VALIDATED = 1,
	PT_FINISHED = 2
} PtEvent;

/* Takes ownership of both data sets (validation may hold no rows); `module` is the TorchScript
 * module's bytes when the spec names one, else NULL. */
PtTrainer *pt_trainer_new(const PtSpec *spec, PtData *train, PtData *validation, const char *module,
						  size_t module_size);
void pt_trainer_free(PtTrainer *trainer);
/* Continues from a checkpoint (see Trainer::resume); history_json may be NULL. */
bool pt_trainer_resume(PtTrainer *trainer, const char *weights, size_t weights_size,
					   const char *optimizer_state, size_t optimizer_size, int64_t iteration,
					   const char *history_json);
PtEvent pt_trainer_advance(PtTrainer *trainer);
int64_t pt_trainer_iteration(const PtTrainer *trainer);
int64_t pt_trainer_steps_this_run(const PtTrainer *trainer);
int64_t pt_trainer_samples_seen(const PtTrainer *trainer);
int64_t pt_trainer_train_rows(const PtTrainer *trainer);
int64_t pt_trainer_validation_rows(const PtTrainer *trainer);
double pt_trainer_last_loss(const PtTrainer *trainer);
int pt_trainer_metric_count(const PtTrainer *trainer); /* of the latest validation */
const char *pt_trainer_metric_name(const PtTrainer *trainer, int i);
double pt_trainer_metric_value(const PtTrainer *trainer, int i);
bool pt_trainer_last_was_best(const PtTrainer *trainer);
/* Serializes the current weights and optimizer state. */
bool pt_trainer_checkpoint(PtTrainer *trainer, const char **weights, size_t *weights_size,
						   const char **optimizer_state, size_t *optimizer_size);
int64_t pt_trainer_best_iteration(const PtTrainer *trainer);
double pt_trainer_best_value(const PtTrainer *trainer);
const char *pt_trainer_stop_reason(const PtTrainer *trainer);
const char *pt_trainer_history_json(PtTrainer *trainer);   /* metric_values */
const char *pt_trainer_transform_json(PtTrainer *trainer); /* the fitted transform, for predict */
int pt_trainer_column_count(const PtTrainer *trainer);
int64_t pt_trainer_column_width(const PtTrainer *trainer, int column);

/* ---- reports ---- */
/* An SVG chart of a metric history (runs.metric_values), the best iteration marked. */
const char *pt_report_svg(const char *history_json, int64_t best_iteration, const char *title);

/* ---- inference ---- */
PtModel *pt_model_load(const char *spec_json, const int64_t *column_widths, int columns,
					   const char *weights, size_t weights_size, const char *transform_json);
void pt_model_free(PtModel *model);
int pt_model_input_columns(const PtModel *model);
const char *pt_model_input_name(const PtModel *model, int column);
int64_t pt_model_column_width(const PtModel *model, int column);
int64_t pt_model_input_width(const PtModel *model);
int64_t pt_model_output_width(const PtModel *model);
/* input_width floats (the input columns as stored, before the transform) in, output_width out */
bool pt_model_predict(PtModel *model, const float *row, float *out);
/* collate_fn "pad": each input column right-padded with zeros to pt_model_column_width,
 * with its real length in `lengths` (one per input column) */
bool pt_model_padded(const PtModel *model);
bool pt_model_predict_padded(PtModel *model, const float *row, const int64_t *lengths, float *out);
/* The model and its transform as TorchScript bytes for torch.jit.load (forward takes one
 * tensor per input column); NULL on failure. */
const char *pt_model_export(PtModel *model, size_t *size);

#ifdef __cplusplus
}
#endif

#endif
