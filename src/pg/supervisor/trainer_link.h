/*
 * The supervisor's side of its trainer process: forks it, reads its reports while watching
 * the supervisor's own latch (cancels, shutdown), asks it to stop, and tells how it ended.
 */
#ifndef PINNACLE_TRAINER_LINK_H
#define PINNACLE_TRAINER_LINK_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "storage/latch.h"

#include "trainer_channel.h"
#include "trainer_process.h"

typedef struct PtTrainerLink
{
	pid_t		pid;			/* 0 once reaped */
	int			channel;		/* the supervisor's end, non-blocking */
	WaitEventSet *events;		/* the latch, postmaster death and the channel */
	StringInfoData inbox;		/* bytes received, from `consumed` on not yet handled */
	int			consumed;
	bool		closed;			/* the trainer closed its end: it exited */
	int			exit_status;	/* waitpid's, once reaped */
} PtTrainerLink;

/* Forks the trainer process for `job` (everything in it is copied into the child). */
extern void pt_trainer_link_start(PtTrainerLink *link, PtTrainerJob *job);

/* The trainer's next message, waiting up to timeout_ms (or until the latch is set);
 * false on a timeout, a set latch, or when the channel closed (link->closed). The message
 * points into the link's buffer and stays valid until the next call. */
extern bool pt_trainer_link_next(PtTrainerLink *link, PtChannelMessage *message, long timeout_ms);

/* Asks the trainer to send a checkpoint of the step it reached and exit. */
extern void pt_trainer_link_request_stop(PtTrainerLink *link);

/* Kills the trainer if it still runs, and reaps it. Safe to call more than once. */
extern void pt_trainer_link_end(PtTrainerLink *link);

/* After the channel closed without a final report: reaps the trainer and describes its end
 * as a run status (interrupted or failed) and an error that names the signal or exit code. */
extern const char *pt_trainer_link_describe_exit(PtTrainerLink *link, char **error);

/* Part `i` of a message as a NUL-terminated string; ERROR when it is not one. */
extern const char *pt_channel_text(const PtChannelMessage *message, uint32 i);

#endif
