/*
 * The C interface of the training core: the one door between the PostgreSQL layer (C) and
 * the core (C++). It is the exception boundary: no C++ exception passes it. A function
 * that fails returns NULL, false or a negative value and leaves its message in
 * pt_last_error(). The PostgreSQL layer never calls back into this side with a longjmp
 * pending, and this side never calls PostgreSQL, so no ereport() unwinds through C++ frames.
 *
 * The interface lives in two objects. The spec, reports and search plans need no torch: they
 * are linked into pinnacle_train.so, which every process that uses the extension loads. The
 * rest, PT_TORCH_ENTRIES below, is the torch core, pinnacle_train_torch.so, loaded (with
 * libtorch, about 0.7 s and 150 MB) only by a process that trains, predicts or loads a module:
 * the PostgreSQL layer reaches it through a table of these entries (src/pg/torch_core.h). Its
 * failures are reported through the same pt_last_error().
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
/* No exception leaves an entry: each one's body runs inside the guard of c_api_guard.hpp. */
#define PT_NOEXCEPT noexcept
extern "C" {
#else
#define PT_NOEXCEPT
#endif

typedef struct PtSpec PtSpec;
typedef struct PtData PtData;
typedef struct PtTrainer PtTrainer;
typedef struct PtModel PtModel;
typedef struct PtPrediction PtPrediction;
typedef struct PtRendezvous PtRendezvous;

/* What an export's archive carries beside its module (pinnacle/metadata.json, pinnacle/weights,
 * pinnacle/optimizer_state): a model version's metadata, its stored weights and optimizer state. */
typedef struct PtExportFiles
{
	const char *metadata_json;
	size_t		metadata_size;	/* 0: an archive without them (a plain module) */
	const char *weights;
	size_t		weights_size;
	const char *optimizer_state;
	size_t		optimizer_size; /* 0: none */
} PtExportFiles;

/* What one pt_trainer_advance did. */
typedef enum PtEvent
{
	PT_FAILED = -1,
	PT_STEPPED = 0,
	PT_VALIDATED = 1,
	PT_FINISHED = 2
} PtEvent;

/* The most rows pt_model_batch_rows offers a pt_model_predict call. */
#define PT_MAX_BATCH_ROWS 1024

/* ---- the torch-free entries (pinnacle_train.so) ---- */

/* The message of the latest failure on this thread, and what caused it. */
const char *pt_last_error(void) PT_NOEXCEPT;
typedef enum PtErrorKind
{
	PT_ERROR_INTERNAL = 0,		/* a bug of ours */
	PT_ERROR_SPEC,				/* the spec, the model or a module does not fit (a user's error) */
	PT_ERROR_DATA,				/* the rows or a stored value are unusable (NaN loss, bad JSON, ...) */
	PT_ERROR_MEMORY,			/* an allocation failed: the process's memory limit was reached */
	PT_ERROR_PEER				/* another rank of a data-parallel run died or stopped answering */
} PtErrorKind;
PtErrorKind pt_last_error_kind(void) PT_NOEXCEPT;

/* ---- the spec ---- */
PtSpec *pt_spec_parse(const char *json_text) PT_NOEXCEPT;
void pt_spec_free(PtSpec *spec) PT_NOEXCEPT;
const char *pt_spec_identifier(const PtSpec *spec) PT_NOEXCEPT;
const char *pt_spec_select(const PtSpec *spec) PT_NOEXCEPT;
const char *pt_spec_validation_select(const PtSpec *spec) PT_NOEXCEPT; /* NULL without one */
int pt_spec_column_count(const PtSpec *spec) PT_NOEXCEPT;              /* inputs, then the target */
int pt_spec_input_count(const PtSpec *spec) PT_NOEXCEPT;
const char *pt_spec_column_name(const PtSpec *spec, int column) PT_NOEXCEPT;
bool pt_spec_column_is_class_index(const PtSpec *spec, int column) PT_NOEXCEPT;
bool pt_spec_column_is_padded(const PtSpec *spec, int column) PT_NOEXCEPT; /* collate_fn "pad": any length */
int pt_spec_threads(const PtSpec *spec) PT_NOEXCEPT;
int pt_spec_workers(const PtSpec *spec) PT_NOEXCEPT;  /* data-parallel ranks (compute_kwargs.workers) */
int pt_spec_timeout(const PtSpec *spec) PT_NOEXCEPT;  /* compute_kwargs.timeout, seconds */
int pt_spec_server_count(const PtSpec *spec) PT_NOEXCEPT;	/* compute_kwargs.servers */
const char *pt_spec_server_name(const PtSpec *spec, int i) PT_NOEXCEPT;
const char *pt_spec_listen(const PtSpec *spec) PT_NOEXCEPT; /* the metric "best" follows */
int64_t pt_spec_max_iterations(const PtSpec *spec) PT_NOEXCEPT; /* -1: unbounded */
/* Continued training: where the starting checkpoint comes from. */
typedef enum PtResume
{
	PT_RESUME_NOTHING = 0,
	PT_RESUME_LATEST,			/* the newest checkpoint of this identifier */
	PT_RESUME_RUN,				/* the newest checkpoint of pt_spec_resume_run() */
	PT_RESUME_MODEL				/* the checkpoint of model version pt_spec_resume_model() */
} PtResume;
PtResume pt_spec_resume(const PtSpec *spec) PT_NOEXCEPT;
int64_t pt_spec_resume_run(const PtSpec *spec) PT_NOEXCEPT;
const char *pt_spec_resume_model(const PtSpec *spec) PT_NOEXCEPT;
int64_t pt_spec_memory_limit(const PtSpec *spec) PT_NOEXCEPT; /* bytes; 0: not given */
bool pt_spec_in_memory(const PtSpec *spec) PT_NOEXCEPT;        /* false: training rows are streamed */
/* "download": the rows are snapshotted into tables of the run, see src/pg/snapshot.c */
bool pt_spec_download(const PtSpec *spec) PT_NOEXCEPT;
/* The identifier of the imported TorchScript module the spec trains, or NULL for a layer list. */
const char *pt_spec_torchscript(const PtSpec *spec) PT_NOEXCEPT;

/* ---- reports ---- */
/* An SVG chart of a metric history (runs.metric_values), the best iteration marked. */
const char *pt_report_svg(const char *history_json, int64_t best_iteration, const char *title) PT_NOEXCEPT;
/* A search's chart: every trial's listen curve in one panel, the best one marked. `trials_json`:
 * [{"label", "best", "iteration": [...], "values": [...]}, ...]. */
const char *pt_search_report_svg(const char *trials_json, const char *listen, const char *title) PT_NOEXCEPT;

/* A search's trials (DESIGN.md section 11) as JSON text, valid until the next call on this
 * thread: {"method", "rungs", "trials": [{"params", "spec"}]}; every trial's spec is checked.
 * NULL on error: the message names the search field, or the path and value at fault. */
const char *pt_search_plan(const char *spec_json, const char *search_json) PT_NOEXCEPT;

/* ---- the torch core (pinnacle_train_torch.so): X(return type, name, (parameters)) ---- */
#define PT_TORCH_ENTRIES(X) \
/* Starts libtorch's thread pools with every signal blocked, so PostgreSQL's handlers only ever \
 * run on the backend's own thread. Call once per process before any other pt_ call. */ \
	X(bool, pt_runtime_init, (int threads)) \
/* For a training worker only (it changes malloc for the process's life): keeps the tensors a \
 * step allocates and frees, 128 kB to a few MB, on the heap instead of mapping and \
 * page-faulting them anew at every step. */ \
	X(void, pt_runtime_keep_step_tensors_on_the_heap, (void)) \
	\
/* Builds the model once for these key-column widths (from `module`, the TorchScript bytes, when \
 * the spec names one) and checks that its output fits the target and, when given, that `weights` \
 * load into it; the error names what is at fault. */ \
	X(bool, pt_spec_check_model, (const PtSpec *spec, const int64_t *column_widths, const char *module, size_t module_size, const char *weights, size_t weights_size)) \
	\
/* The bytes a training run of this spec needs beyond its rows, estimated on the model built for \
 * these widths: its parameters, their gradients, the optimizer's state, and one batch's \
 * activations, kept for the backward pass (a TorchScript module's count its output only). \
 * -1 on failure. */ \
	X(int64_t, pt_spec_estimate_training_bytes, (const PtSpec *spec, const int64_t *column_widths, const char *module, size_t module_size)) \
	\
/* Checks that bytes are a TorchScript module with a forward method (pinnacle_import). */ \
	X(bool, pt_torchscript_check, (const char *bytes, size_t size)) \
/* The files an export carries (pt_model_export), for pinnacle_import to add the archive as a \
 * model version. The buffers stay valid until the thread's next call. */ \
	X(bool, pt_torchscript_export_metadata, (const char *bytes, size_t size, PtExportFiles *files)) \
	\
/* ---- rows received from the feed ---- */ \
/* Training rows of a spec with "in_memory": false go to a spill file as they arrive. */ \
	X(PtData *, pt_data_new, (const PtSpec *spec, int64_t memory_limit, bool training_rows)) \
	X(void, pt_data_free, (PtData *data)) \
/* The planner's estimate of the rows to come, to size the buffer once instead of growing it. */ \
	X(void, pt_data_expect_rows, (PtData *data, int64_t rows)) \
/* Appends one rows message body (after the kind byte and padding, see wire.h). */ \
	X(bool, pt_data_append, (PtData *data, const char *body, size_t size)) \
/* Keeps row i for every i with i mod world == rank (a rank of a run across servers keeps its \
 * share of its own server's rows; in memory only). */ \
	X(bool, pt_data_keep_shard, (PtData *data, int rank, int world)) \
	/* received so far, spilled or held out included */ \
	X(int64_t, pt_data_rows, (const PtData *data)) \
	/* the memory its rows occupy */ \
	X(int64_t, pt_data_memory_bytes, (const PtData *data)) \
	\
/* ---- data-parallel ranks (compute_kwargs.workers) ---- */ \
/* Opens the run's c10d store for rank `rank` of `world`: a file at `store_path`, in a \
 * directory only this server's OS user can open, that every rank of the run opens. `run_key` \
 * keeps one run's keys apart from another's; the rendezvous and a collective wait \
 * `timeout_seconds` for the other ranks. */ \
	X(PtRendezvous *, pt_rendezvous_open, (int rank, int world, const char *store_path, const char *run_key, int timeout_seconds)) \
	\
/* The same for a run across servers (compute_kwargs.servers): a c10d TCPStore at \
 * store_host:store_port, which rank 0 serves (store_port 0: the kernel picks one, see \
 * pt_rendezvous_port); this rank's Gloo connections listen on gloo_address. Each rank then \
 * holds only its own rows. */ \
	X(PtRendezvous *, pt_rendezvous_open_tcp, (int rank, int world, const char *store_host, int store_port, const char *gloo_address, const char *run_key, int timeout_seconds)) \
	X(int, pt_rendezvous_port, (const PtRendezvous *rendezvous)) \
	\
/* Takes ownership of both data sets (validation may hold no rows) and of `rendezvous` (NULL \
 * for a run of one rank; else this rank joins the others before it returns); `module` is \
 * the TorchScript module's bytes when the spec names one, else NULL. */ \
	X(PtTrainer *, pt_trainer_new, (const PtSpec *spec, PtData *train, PtData *validation, const char *module, size_t module_size, PtRendezvous *rendezvous)) \
	X(void, pt_trainer_free, (PtTrainer *trainer)) \
/* Continues from a checkpoint (see Trainer::resume); history_json may be NULL. */ \
	X(bool, pt_trainer_resume, (PtTrainer *trainer, const char *weights, size_t weights_size, const char *optimizer_state, size_t optimizer_size, int64_t iteration, const char *history_json)) \
/* On a run across servers every rank calls this after rank 0's pt_trainer_resume (if any): \
 * the others take rank 0's checkpoint. */ \
	X(bool, pt_trainer_share_resume, (PtTrainer *trainer)) \
	X(PtEvent, pt_trainer_advance, (PtTrainer *trainer)) \
	X(int64_t, pt_trainer_iteration, (const PtTrainer *trainer)) \
	X(int64_t, pt_trainer_steps_this_run, (const PtTrainer *trainer)) \
	/* every rank's */ \
	X(int64_t, pt_trainer_samples_seen, (const PtTrainer *trainer)) \
	/* this rank's */ \
	X(int64_t, pt_trainer_local_samples_seen, (const PtTrainer *trainer)) \
	/* waiting for the ranks' sums */ \
	X(double, pt_trainer_allreduce_seconds, (const PtTrainer *trainer)) \
	X(int64_t, pt_trainer_allreduce_bytes, (const PtTrainer *trainer)) \
	X(int64_t, pt_trainer_train_rows, (const PtTrainer *trainer)) \
	X(int64_t, pt_trainer_validation_rows, (const PtTrainer *trainer)) \
	X(double, pt_trainer_last_loss, (const PtTrainer *trainer)) \
	/* of the latest validation */ \
	X(int, pt_trainer_metric_count, (const PtTrainer *trainer)) \
	X(const char *, pt_trainer_metric_name, (const PtTrainer *trainer, int i)) \
	X(double, pt_trainer_metric_value, (const PtTrainer *trainer, int i)) \
	X(bool, pt_trainer_last_was_best, (const PtTrainer *trainer)) \
/* Serializes the current weights and optimizer state. */ \
	X(bool, pt_trainer_checkpoint, (PtTrainer *trainer, const char **weights, size_t *weights_size, const char **optimizer_state, size_t *optimizer_size)) \
	X(int64_t, pt_trainer_best_iteration, (const PtTrainer *trainer)) \
	X(double, pt_trainer_best_value, (const PtTrainer *trainer)) \
	X(const char *, pt_trainer_stop_reason, (const PtTrainer *trainer)) \
	/* metric_values */ \
	X(const char *, pt_trainer_history_json, (PtTrainer *trainer)) \
	/* the fitted transform, for predict */ \
	X(const char *, pt_trainer_transform_json, (PtTrainer *trainer)) \
	X(int, pt_trainer_column_count, (const PtTrainer *trainer)) \
	X(int64_t, pt_trainer_column_width, (const PtTrainer *trainer, int column)) \
	\
/* ---- inference ---- */ \
	X(PtModel *, pt_model_load, (const char *spec_json, const int64_t *column_widths, int columns, const char *weights, size_t weights_size, const char *transform_json)) \
	X(void, pt_model_free, (PtModel *model)) \
	X(int64_t, pt_model_input_width, (const PtModel *model)) \
	X(int64_t, pt_model_output_width, (const PtModel *model)) \
/* The most rows one pt_model_predict call should take (1 to PT_MAX_BATCH_ROWS): that many rows' \
 * inputs and activations stay within about a MB. */ \
	X(int64_t, pt_model_batch_rows, (const PtModel *model)) \
	X(int, pt_model_input_columns, (const PtModel *model)) \
/* collate_fn "pad": inputs of any length up to their stored column widths */ \
	X(bool, pt_model_padded, (const PtModel *model)) \
/* `rows` rows of input_width floats (the input columns as stored, before the transform, side \
 * by side), row after row, in; rows x output_width floats out. A padded model takes each input \
 * column right-padded with zeros to its stored width, and `lengths`: each row's real length \
 * of each input column (rows x input columns); NULL for another model. One row of a layer \
 * list of Linear layers and elementwise activations takes a path without torch. */ \
	X(bool, pt_model_predict, (PtModel *model, const float *values, int64_t rows, const int64_t *lengths, float *out)) \
/* pt_model_predict in two halves, for a caller that reads its next rows meanwhile: start \
 * copies the rows and queues the model's run on them to a thread of the model's, which takes \
 * no signal and touches nothing of the caller's; NULL on failure. Finish waits for that run, \
 * writes its output and frees the prediction; drop (after an error) skips the run if it has \
 * not begun, else waits for it, and frees the prediction. Runs go one after another; pt_model_predict waits until none is left, \
 * and so does pt_model_wait_for_started (for a process about to exit). */ \
	X(PtPrediction *, pt_model_predict_start, (PtModel *model, const float *values, int64_t rows, const int64_t *lengths)) \
	X(bool, pt_prediction_finish, (PtModel *model, PtPrediction *prediction, float *out)) \
	X(void, pt_prediction_drop, (PtPrediction *prediction)) \
	X(void, pt_model_wait_for_started, (PtModel *model)) \
/* The model's weights as this core saves them (a layer list's torch::save archive, a TorchScript \
 * module's own archive): pinnacle_import stores these for an archive's version rather than the \
 * archive's bytes, so that a backend only ever loads weights this code wrote. */ \
	X(const char *, pt_model_weights, (PtModel *model, size_t *size)) \
/* An optimizer state for the model (an imported version's), checked against its parameters \
 * (each state tensor of its parameter's shape) and saved anew, as for pt_model_weights; an \
 * empty state stays empty. The buffer stays valid until the model's next call of this. */ \
	X(const char *, pt_model_optimizer_state, (PtModel *model, const char *state, size_t state_size, size_t *size)) \
/* The model and its transform as a scripted TorchScript module for torch.jit.load (forward \
 * takes one tensor per input column), with `files` (the version's metadata: spec, transform, \
 * column widths, version and metrics; its stored weights and optimizer state) as extra files of \
 * the archive, so that pinnacle_import can add it as a version elsewhere; NULL on failure. */ \
	X(const char *, pt_model_export, (PtModel *model, const PtExportFiles *files, size_t *size))

/* The PostgreSQL layer calls these through its table (PT_TORCH_BY_TABLE); the core and its
 * unit tests call them directly. */
#ifndef PT_TORCH_BY_TABLE
#define PT_DECLARE_ENTRY(type, name, parameters) type name parameters PT_NOEXCEPT;
PT_TORCH_ENTRIES(PT_DECLARE_ENTRY)
#undef PT_DECLARE_ENTRY
#endif

#ifdef __cplusplus
}
#endif

#endif
