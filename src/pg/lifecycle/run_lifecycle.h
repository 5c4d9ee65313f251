/*
 * The run lifecycle: a run's statuses, the transitions between them, and how anyone tells
 * whether a run's processes are alive. The state diagram is in README.md beside this file;
 * every status a run takes is written by a function of this module (or by
 * pinnacle.mark_lost_runs(), which follows the same rule).
 */
#ifndef PINNACLE_RUN_LIFECYCLE_H
#define PINNACLE_RUN_LIFECYCLE_H

#include "postgres.h"

#define PT_STATUS_QUEUED "queued"
#define PT_STATUS_RUNNING "running"
#define PT_STATUS_SUCCEEDED "succeeded"
#define PT_STATUS_FAILED "failed"
#define PT_STATUS_CANCELLED "cancelled"
#define PT_STATUS_INTERRUPTED "interrupted"

/* queued and running are the live statuses; the others are final. */
extern bool pt_run_status_is_final(const char *status);

/* The final status of a run that ended with this SQLSTATE (a shutdown interrupts, a cancel
 * cancels, anything else fails). */
extern const char *pt_run_status_for_error(int sqlerrcode);

/* ---- liveness: a lock only the run's supervisor holds ---- */

/* The supervisor holds its run's liveness lock from before the run is on record until its
 * process exits, however it exits. No SQL function can take this lock (see README.md). */
extern void pt_run_hold_liveness(int64 run_id);

/* Whether the run's supervisor is alive, seen now (not through a transaction's snapshot). */
extern bool pt_run_is_live(int64 run_id);

/* Serializes the starts of one role's runs across its sessions (a session lock, waited for
 * with interrupts seen), so that counting its runs and starting one is one step. */
extern void pt_run_lock_role(Oid role);
extern void pt_run_unlock_role(Oid role);

/* `count` training slots (pinnacle.max_workers), one per rank, for the rest of this process's
 * life, if that many are free; else none. */
extern bool pt_run_try_training_slots(int count);

/* ---- transitions, each in its own transaction (supervisor only) ---- */

/* none -> running: the run is on record, owned by the calling role, and its identifier is
 * claimed for that role unless another role has it: then returns that role's name, else NULL. */
extern void pt_run_record_shard_start(int64 run_id, const char *identifier, const char *spec_json,
									  const char *coordinator, int64 coordinator_run, int first_rank, int world);
extern char *pt_run_record_start(int64 run_id, const char *identifier, const char *spec_json, bool train_snapshot,
								bool validation_snapshot);
/* running <-> queued, waiting for a training slot */
extern void pt_run_set_queued(int64 run_id, bool queued);
/* the trainer process of a running run */
extern void pt_run_set_trainer(int64 run_id, int trainer_pid);
/* running/queued -> failed, cancelled or interrupted, with the error */
extern void pt_run_record_end(int64 run_id, const char *status, const char *error);
/* running -> succeeded, inside the transaction that records the model version */
extern void pt_run_mark_succeeded(int64 run_id, const char *stop_reason, Datum version);

#endif
