/*
 * The worker's writes to the pinnacle.* tables. Each call is its own transaction, so what
 * it records survives a later failure of the run. Values are always passed as SPI
 * parameters, never spliced into SQL text.
 */
#ifndef PINNACLE_CATALOG_H
#define PINNACLE_CATALOG_H

#include "postgres.h"

#include "pinnacle_core.h"

/* A checkpoint to continue from, with the metric history of its run. */
typedef struct PtCheckpoint
{
	int64		iteration;
	char	   *weights;
	size_t		weights_size;
	char	   *optimizer_state;
	size_t		optimizer_size;
	char	   *history_json;
} PtCheckpoint;

/* The snapshot flags record the tables the caller fills for "download" (see snapshot.h). */
extern void pt_catalog_insert_run(int64 run_id, const char *identifier, const char *spec_json, bool train_snapshot,
								  bool validation_snapshot);
extern void pt_catalog_set_rows(int64 run_id, int64 train_rows, int64 validation_rows);
/* The latest validation's metrics and a checkpoint; keeps only the best and the latest. */
extern void pt_catalog_record_validation(int64 run_id, PtTrainer *trainer);
/* A checkpoint of the current state, not a best one (at an interruption). */
extern void pt_catalog_record_checkpoint(int64 run_id, PtTrainer *trainer);
/* A session-level advisory lock, held until the worker exits. */
extern bool pt_catalog_try_advisory_lock(int32 space, int32 key);
extern void pt_catalog_set_status(int64 run_id, const char *status);
extern PtCheckpoint pt_catalog_load_checkpoint(int64 run_id, int64 iteration);
/* The TorchScript module the spec trains, or NULL for a layer list. */
extern bytea *pt_catalog_load_module(const PtSpec *spec);
/* Adds the model version (the best checkpoint) and marks the run succeeded. */
extern void pt_catalog_record_success(int64 run_id, const char *identifier, PtTrainer *trainer);
/* Ends the run with `status` and `error`, in a fresh transaction. */
extern void pt_catalog_record_end(int64 run_id, const char *status, const char *error);

#endif
