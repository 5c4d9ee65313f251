/*
 * The session between a training call and its run's supervisor: the dynamic shared memory
 * segment they share (who the supervisor acts as, the spec, two queues) and the messages of
 * both queues. The rows queue (caller to supervisor) carries the binary rows of wire.h; the
 * reply queue (supervisor to a waiting caller) carries:
 *   'N' notice  a progress line, NUL-terminated
 *   'R' result  int32 SQLSTATE (0 on success), the final status and the error, each
 *               NUL-terminated
 */
#ifndef PINNACLE_SESSION_H
#define PINNACLE_SESSION_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "storage/dsm.h"
#include "storage/shm_mq.h"

/* This server's part of a run across servers called on another (pinnacle.train_shard). */
typedef struct PtShard
{
	int			world;			/* every server's ranks; 0: not a shard */
	int			first_rank;		/* this server's first rank */
	int			store_port;		/* the coordinating run's TCPStore */
	int64		coordinator_run;	/* its id on the calling server */
	char		store_host[256];
	char		run_key[65];	/* the run's key prefix in the store */
	char		coordinator[320];	/* "run N at host:port", for pinnacle.runs */
} PtShard;

typedef struct PtSessionHeader
{
	Oid			database;
	Oid			role;
	int64		run_id;			/* 0: the supervisor draws it, once the model fits the rows */
	bool		wait;			/* the caller stays attached and reads replies */
	int64		memory_limit;	/* bytes for the trainer; 0 for none */
	int64		resume_run_id;	/* the checkpoint to continue from; 0 for none */
	int64		resume_iteration;
	int64		expected_rows;	/* the planner's estimate of the training rows */
	bool		caller_detached;	/* set by the caller as it leaves the session, however */
	/* compute_kwargs.servers on the calling server: the servers' names and libpq connection
	 * strings follow in the segment (pt_session_servers), with the caller's user mappings */
	int			server_count;
	bool		caller_is_superuser;	/* else a server's connection must use its password */
	PtShard		shard;
	/* the key's columns, whose widths in the first rows follow in the segment
	 * (pt_session_widths) for the supervisor to check the model on; 0 when the caller
	 * checked it (a search's trials) */
	int			columns;
	/* why the supervisor starts no run (its torch core does not load, or the model does not
	 * fit the rows: it checks that before it records the run, for the caller, which does not
	 * load libtorch); the caller raises this error as its own */
	int			check_sqlerrcode;	/* 0: none */
	char		check_error[4096];
	char		check_hint[1024];
	char		start_error[512];	/* why the supervisor could not record the run */
} PtSessionHeader;

/* ---- the caller's side ---- */

typedef struct PtSession
{
	int64		run_id;
	dsm_segment *segment;
	shm_mq_handle *rows;
	shm_mq_handle *reply;
} PtSession;

typedef struct PtReply
{
	bool		is_result;
	const char *text;			/* a notice's line, or the result's status */
	int			sqlerrcode;		/* a result's */
	const char *error;			/* a result's, "" on success */
} PtReply;

/* Creates the segment, registers the supervisor and waits until it has recorded the run (the
 * session's run_id is the run's, drawn by the supervisor when the header had none);
 * `widths`: header->columns widths of the first rows. The supervisor's model check's error
 * is raised here. */
extern PtSession pt_session_start(const PtSessionHeader *header, const char *spec_json, const int64 *widths,
								  const char *servers, Size servers_size);
/* The next reply, waiting for it; ERROR if the supervisor exited without a result. */
extern PtReply pt_session_next_reply(PtSession *session);

/* ---- the supervisor's side ---- */

typedef struct PtSessionReplies
{
	shm_mq_handle *queue;
	PtSessionHeader *header;
	bool		wait;			/* a caller reads them */
	bool		caller_gone;
	StringInfoData pending;		/* a notice the full queue has not taken yet */
} PtSessionReplies;

/* Attaches the segment; ERROR when the caller is gone. */
extern dsm_segment *pt_session_attach(dsm_handle handle, PtSessionHeader **header, const char **spec_json);
/* The first rows' widths, header->columns of them. */
extern const int64 *pt_session_widths(dsm_segment *segment);
/* The servers' names and connection strings: 2 * header->server_count NUL-terminated strings. */
extern const char *pt_session_servers(dsm_segment *segment, Size *size);
extern void pt_session_attach_queues(dsm_segment *segment, shm_mq_handle **rows, PtSessionReplies *replies);
/* Sends a progress line without waiting; a line the queue cannot take now is dropped, but
 * the one partly sent is finished first, as shm_mq requires. */
extern void pt_session_send_notice(PtSessionReplies *replies, const char *line);
/* Whether a waiting caller has left: its statement failed, was cancelled or its session ended. */
extern bool pt_session_caller_gone(PtSessionReplies *replies);
/* Sends the final result, waiting for room. */
extern void pt_session_send_result(PtSessionReplies *replies, const char *status, int sqlerrcode,
								   const char *error);

/* A rows-queue message: the end message (with the total rows sent), or rows: true for
 * training rows, with the body the core appends. */
extern bool pt_session_is_end(const void *data, Size size, int64 *total_rows);
extern bool pt_session_rows(const void *data, Size size, const char **body, Size *body_size);

#endif
