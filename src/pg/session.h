/*
 * The dynamic shared memory segment a training call shares with its worker: who the worker
 * acts as, the spec, the rows queue (caller to worker) and the reply queue (worker to caller).
 */
#ifndef PINNACLE_SESSION_H
#define PINNACLE_SESSION_H

#include "postgres.h"

#include "storage/dsm.h"
#include "storage/shm_mq.h"

#define PT_SESSION_MAGIC 0x70696e31

/* shm_toc keys */
#define PT_KEY_HEADER 1
#define PT_KEY_SPEC 2
#define PT_KEY_ROWS_QUEUE 3
#define PT_KEY_REPLY_QUEUE 4

#define PT_ROWS_QUEUE_SIZE (16 * 1024 * 1024)
#define PT_REPLY_QUEUE_SIZE (64 * 1024)

/* reply message kinds, worker to caller */
#define PT_REPLY_NOTICE 'N'	/* a progress line */
#define PT_REPLY_RESULT 'R'	/* final status, '\0', error message (maybe empty) */

typedef struct PtSessionHeader
{
	Oid			database;
	Oid			role;
	int64		run_id;
	bool		wait;			/* the caller stays attached and reads replies */
	int64		memory_limit;	/* bytes for the in-memory rows; 0 for none */
	int64		resume_run_id;	/* the checkpoint to continue from; 0 for none */
	int64		resume_iteration;
	int64		expected_rows;	/* the planner's estimate of the training rows */
} PtSessionHeader;

#endif
