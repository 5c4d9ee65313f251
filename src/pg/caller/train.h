/*
 * The steps of pinnacle_train (train.c) that a search (search/search.c) takes for each of its
 * trials: the same checks, the same supervisor start and the same row stream.
 */
#ifndef PINNACLE_TRAIN_H
#define PINNACLE_TRAIN_H

#include "postgres.h"

#include "feed.h"
#include "pinnacle_core.h"
#include "session.h"

/* A checkpoint to continue training from; run_id 0 for none. */
typedef struct PtResumePoint
{
	int64		run_id;
	int64		iteration;
} PtResumePoint;

/* ERROR when the spec's ranks need more training slots than pinnacle.max_workers. */
extern void pt_check_training_slots(const PtSpec *spec);
/* A new run id, drawn as the extension's owner. Inside SPI. */
extern int64 pt_next_run_id(void);
/* ERROR unless the identifier is new or the calling role's. Inside SPI. */
extern void pt_check_identifier_owner(const char *identifier);
/* The trainer's memory limit in bytes; ERROR above pinnacle.memory_limit. */
extern int64 pt_memory_limit_bytes(const PtSpec *spec);
/* ERROR when the feed found no rows to train on. */
extern void pt_check_rows_to_train_on(const PtFeed *feed);
/* ERROR unless the calling role may log in (a supervisor acts as it). */
extern void pt_check_role_can_log_in(void);
/* Where a run's ranks are, beyond this server: NULL for a run on this server alone. */
typedef struct PtRunPlace
{
	const char *servers;		/* compute_kwargs.servers: names and connections (servers.h) */
	Size		servers_size;
	int			server_count;
	const PtShard *shard;		/* this server's part of a run called on another, or NULL */
} PtRunPlace;

/* Starts a run's supervisor, counted against pinnacle.max_runs_per_role; returns once the
 * run is on record. The supervisor first builds the model for the widths of `first_rows`
 * (NULL: the caller did), and its error is raised here. The session lives in the memory
 * context current at the call. */
extern PtSession pt_start_counted_supervisor(const char *spec_json, int64 run_id, bool wait, int64 memory_limit,
											 PtResumePoint resume, int64 expected_rows, const PtFeed *first_rows,
											 const PtRunPlace *place);
/* Sends the feed's rows (the first batch already encoded) to the supervisor; rows held in
 * memory count in *bytes_held against memory_limit (NULL for streamed rows). */
extern void pt_stream_rows(PtFeed *feed, PtSession *session, int64 memory_limit, int64 *bytes_held);

#endif
