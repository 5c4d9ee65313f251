/*
 * A run across servers (compute_kwargs.servers), on the calling server: its supervisor holds
 * one libpq connection per listed server, on which pinnacle.train_shard runs that server's
 * part of the run (its select, its ranks) for as long as the run lasts. The supervisor
 * outlives the caller, so this works with wait => false too.
 */
#ifndef PINNACLE_REMOTE_SHARDS_H
#define PINNACLE_REMOTE_SHARDS_H

#include "postgres.h"

typedef struct PtRemoteShard
{
	char	   *name;
	char	   *conninfo;
	void	   *conn;			/* PGconn; NULL once closed */
	bool		done;			/* its call returned */
} PtRemoteShard;

typedef void (*PtStopCheck) (void *arg);

typedef struct PtRemoteShards
{
	int			count;
	PtRemoteShard *shards;
	int			timeout_seconds;	/* compute_kwargs.timeout: for a connection too */
	PtStopCheck check_for_stop; /* ERRORs on a cancel, a shutdown, a caller gone */
	void	   *check_arg;
} PtRemoteShards;

/* Reads the servers' names and connection strings the caller put in the session. While it
 * connects and sends the calls, the supervisor calls `check_for_stop(check_arg)` at least
 * once a second. */
extern void pt_remote_shards_init(PtRemoteShards *remotes, const char *servers, Size size, int count,
								  int timeout_seconds, PtStopCheck check_for_stop, void *check_arg);
/* Connects to each server and starts its part: `spec_json`, and the rendezvous of the run
 * whose ranks 0..workers-1 are this server's (server i's are workers * (i + 1) ...). */
extern void pt_remote_shards_start(PtRemoteShards *remotes, const char *spec_json, int64 run_id, int workers,
								   const char *store_host, int store_port, const char *run_key,
								   bool require_password);
/* Reads what the servers sent; ERROR when one failed or its connection was lost. */
extern void pt_remote_shards_poll(PtRemoteShards *remotes);
/* After the run succeeded: waits a few seconds at most for the servers' calls to return
 * (their ranks have ended), less when `asked_to_stop()` says so. */
extern void pt_remote_shards_finish(PtRemoteShards *remotes, bool (*asked_to_stop) (void));
/* Closes every connection; a server's call still running sees its caller gone within a
 * second (client_connection_check_interval) and ends its part. */
extern void pt_remote_shards_close(PtRemoteShards *remotes);

#endif
