/*
 * The supervisor's writes to the pinnacle.* tables: checkpoints, metrics and model versions,
 * from what its trainer reports (statuses are the lifecycle's, see run_lifecycle.h). Each call
 * is its own transaction, so what it records survives a later failure of the run, and leaves
 * the caller's memory context current. Values are always SPI parameters, never SQL text.
 */
#ifndef PINNACLE_RUN_STORE_H
#define PINNACLE_RUN_STORE_H

#include "postgres.h"

#include "executor/spi.h"

#include "child_channel.h"

/* A checkpoint as the trainer sends it: where training stands, the metric history, the
 * weights and the optimizer state (torch::save archives). */
typedef struct PtCheckpointReport
{
	PtTrainerState state;
	const char *history_json;
	const char *weights;
	size_t		weights_size;
	const char *optimizer_state;
	size_t		optimizer_size;
} PtCheckpointReport;

/* The end of a successful training: the model to record. */
typedef struct PtFinishReport
{
	PtTrainerState state;
	const char *history_json;
	const char *stop_reason;
	const char *transform_json;
	const int64_t *column_widths;
	int			columns;
} PtFinishReport;

/* A checkpoint to continue from, with the metric history of its run. */
typedef struct PtStoredCheckpoint
{
	int64		iteration;
	char	   *weights;
	size_t		weights_size;
	char	   *optimizer_state;
	size_t		optimizer_size;
	char	   *history_json;
} PtStoredCheckpoint;

/* One transaction of catalog writes through SPI; commit returns to the memory context that
 * was current at begin (CommitTransactionCommand leaves TopMemoryContext current). */
extern void pt_store_begin(void);
extern void pt_store_commit(void);
/* The role the supervisor acts for (the run's owner), inside a store transaction. */
extern char *pt_store_run_owner_name(void);
extern void pt_store_execute(const char *sql, int nargs, Oid *types, Datum *values, int expected);

/* A new run id, drawn as the extension's owner in a transaction of its own. */
extern int64 pt_store_next_run_id(void);
extern void pt_store_set_rows(int64 run_id, int64 train_rows, int64 validation_rows);
extern void pt_store_shard_end(int64 run_id, int64 iterations);
/* A validation's metrics and checkpoint; a run keeps only its best and its latest checkpoint. */
extern void pt_store_validation(int64 run_id, const PtCheckpointReport *report);
/* A checkpoint of the step reached, not a best one (at an interruption). */
extern void pt_store_checkpoint(int64 run_id, const PtCheckpointReport *report);
extern PtStoredCheckpoint pt_store_load_checkpoint(int64 run_id, int64 iteration);
/* The TorchScript module the spec trains, or NULL for a layer list. */
extern bytea *pt_store_load_module(const PtSpec *spec);
/* Adds the model version (the best checkpoint) and marks the run succeeded. */
extern void pt_store_success(int64 run_id, const char *identifier, const PtFinishReport *report);

#endif
