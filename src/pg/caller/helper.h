/*
 * The backend's side of its helper processes (see helper_process.h): everything that runs a
 * model's code for a backend, other than a layer list's predict, runs in a helper. A cancel, a
 * statement_timeout or a shutdown kills the helper, and its crash is an ERROR for the
 * statement, never a crash of the server.
 */
#ifndef PINNACLE_HELPER_H
#define PINNACLE_HELPER_H

#include "postgres.h"

#include "child_link.h"

/* A stored model version, as read from the catalog. */
typedef struct PtStoredModel
{
	const char *spec_json;
	const int64 *column_widths;
	int			columns;
	const char *weights;
	size_t		weights_size;
	const char *transform_json;
} PtStoredModel;

/* What an archive of pinnacle_export carries beside its module; empty byteas for a plain module
 * (optimizer_state: also for a version without one). */
typedef struct PtArchiveFiles
{
	bytea	   *metadata_json;
	bytea	   *weights;
	bytea	   *optimizer_state;
} PtArchiveFiles;

/* ERROR unless the bytes are a TorchScript module with a forward method; the files beside it. */
extern PtArchiveFiles pt_helper_check_module(const char *bytes, size_t size);

/* ERROR unless the spec's model builds for these widths, fits the target and, when given,
 * loads the starting weights; within `memory_limit` bytes. */
extern void pt_helper_check_model(const char *spec_json, const int64 *column_widths, int columns,
								  const char *module, size_t module_size, const char *weights, size_t weights_size,
								  int64 memory_limit);

/* The model version as TorchScript bytes with its metadata and optimizer state (pinnacle_export). */
extern bytea *pt_helper_export(const PtStoredModel *model, const char *metadata_json, const bytea *optimizer_state);

/* An imported version's weights and optimizer state, loaded as predict loads the model (the
 * state into the spec's optimizer over its parameters, checked to fit them) and saved anew by
 * our code: what a backend or trainer loads must be tensors this code wrote, never an
 * archive's own bytes. `archive_optimizer_state` empty: the version has none, nor has the result. */
extern void pt_helper_import(const PtStoredModel *model, const bytea *archive_optimizer_state, bytea **weights,
							 bytea **optimizer_state);

/* A helper that keeps the model loaded and predicts rows, up to *batch_rows a request. */
extern PtChildLink *pt_helper_start_predictor(const PtStoredModel *model, int threads, int64 *output_width,
											  int *batch_rows);
/* `rows` rows of input_width floats in, rows x output_width floats out, in one round trip;
 * `lengths` (rows x columns) for a padded model, else NULL. */
extern void pt_helper_predict(PtChildLink *helper, const float *values, int rows, int64 input_width,
							  const int64 *lengths, int columns, float *out, int64 output_width);

#endif
