/*
 * The PostgreSQL side of a forked child (a run's trainer, or a backend's helper): forks it,
 * reads its messages while watching this process's latch (cancels, shutdown), sends it
 * requests, and tells how it ended. Every live child is killed when this process exits.
 */
#ifndef PINNACLE_CHILD_LINK_H
#define PINNACLE_CHILD_LINK_H

#include "postgres.h"

#include "lib/stringinfo.h"
#include "storage/latch.h"

#include "child_channel.h"

/* A child's main function: runs in the forked child and must end with _exit(). */
typedef void (*PtChildMain) (int channel, pid_t parent, void *arg);

typedef struct PtChildLink
{
	const char *name;			/* for messages: "trainer", "helper" */
	pid_t		pid;			/* 0 once reaped */
	int			channel;		/* this end, non-blocking; -1 once closed */
	WaitEventSet *events;		/* the latch, postmaster death and the channel */
	StringInfoData inbox;		/* bytes received, from `consumed` on not yet handled */
	int			consumed;
	bool		closed;			/* the child closed its end: it exited */
	int			exit_status;	/* waitpid's, once reaped */
	struct PtChildLink *next_live;
} PtChildLink;

/* Forks a child that runs main(channel, this process's pid, arg). Everything the child needs
 * must be in memory now: it gets a copy-on-write copy. The link lives in TopMemoryContext. */
extern PtChildLink *pt_child_start(const char *name, PtChildMain main, void *arg);

/* The child's next message, waiting up to timeout_ms (-1: no limit) or until the latch is set;
 * false on a timeout, a set latch, or when the channel closed (link->closed). The message
 * points into the link's buffer and stays valid until the next call. */
extern bool pt_child_next(PtChildLink *link, PtChannelMessage *message, long timeout_ms);

/* The child's reply to a request: waits for it, seeing interrupts (a cancel kills the child
 * with the ERROR's cleanup); ERROR when the child dies or reports a failure, whose kind gives
 * the SQLSTATE, with `context` before its message ("" for none). */
extern PtChannelMessage pt_child_reply(PtChildLink *link, const char *context);

/* Sends a message (a request to a helper) or one command byte (to a trainer). */
extern void pt_child_send(PtChildLink *link, uint32 kind, const PtChannelPart *parts, uint32 nparts);
extern void pt_child_send_byte(PtChildLink *link, char command);

/* Kills the child if it still runs and reaps it; safe to call more than once. */
extern void pt_child_end(PtChildLink *link);

/* After the channel closed without a final report: reaps the child and describes its end as a
 * run status (interrupted for SIGKILL and SIGTERM, else failed) and an error that names the
 * signal or exit code. */
extern const char *pt_child_describe_exit(PtChildLink *link, char **error);

/* Part `i` of a message as a NUL-terminated string; ERROR when it is not one. */
extern const char *pt_channel_text(const PtChannelMessage *message, uint32 i);

#endif
