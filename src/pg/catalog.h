/*
 * The worker's writes to the pinnacle.* tables. Each call is its own transaction, so what
 * it records survives a later failure of the run. Values are always passed as SPI
 * parameters, never spliced into SQL text.
 */
#ifndef PINNACLE_CATALOG_H
#define PINNACLE_CATALOG_H

#include "postgres.h"

#include "pinnacle_core.h"

extern void pt_catalog_insert_run(int64 run_id, const char *identifier, const char *spec_json);
extern void pt_catalog_set_rows(int64 run_id, int64 train_rows, int64 validation_rows);
/* The latest validation's metrics and a checkpoint; keeps only the best and the latest. */
extern void pt_catalog_record_validation(int64 run_id, PtTrainer *trainer);
/* Adds the model version (the best checkpoint) and marks the run succeeded. */
extern void pt_catalog_record_success(int64 run_id, const char *identifier, PtTrainer *trainer);
/* Ends the run with `status` and `error`, in a fresh transaction. */
extern void pt_catalog_record_end(int64 run_id, const char *status, const char *error);

#endif
