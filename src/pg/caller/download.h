/*
 * "download": true. The caller's backend materializes the rows of a run into snapshot tables
 * of the run (pinnacle.run_<id>_train and pinnacle.run_<id>_validation), in its own
 * transaction, snapshot and privileges, and feeds the worker from those tables: the rows
 * trained on are exactly the rows kept. A run that continues an earlier run with a snapshot
 * takes its rows from that snapshot, so it trains on the same data.
 */
#ifndef PINNACLE_DOWNLOAD_H
#define PINNACLE_DOWNLOAD_H

#include "postgres.h"

#include "pinnacle_core.h"

/* Fills the snapshot table `part` ("train" or "validation") of run `run_id` from the run that
 * it continues (`resume_run_id`, 0 for none) when that run kept a snapshot of this part, else
 * from `sql`, the spec's `field`; says which in a NOTICE. Returns the select that reads the
 * snapshot. Call inside SPI, after the run id was allocated in this session. */
extern const char *pt_download_rows(int64 run_id, const char *part, const PtSpec *spec, const char *sql,
									const char *field, int64 resume_run_id);

#endif
