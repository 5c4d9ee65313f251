/*
 * The trainer process: a child the run's supervisor forks, which does all of the run's
 * libtorch work. It is not a PostgreSQL process: it leaves the supervisor's process group,
 * never touches shared memory, locks, latches or the catalog, calls no PostgreSQL function,
 * and talks to its supervisor only over the trainer channel. The postmaster does not watch
 * it, so its death by any signal ends its run alone (see ../README.md).
 */
#ifndef PINNACLE_TRAINER_PROCESS_H
#define PINNACLE_TRAINER_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pinnacle_core.h"

/* What the supervisor hands its trainer at the fork: the rows it received, the module and
 * the checkpoint it read from the catalog. The trainer's copies are copy-on-write. */
typedef struct PtTrainerJob
{
	int			channel;		/* the trainer's end of the socketpair, set in the child */
	pid_t		supervisor;
	const PtSpec *spec;
	PtData	   *train;			/* the trainer takes both data sets */
	PtData	   *validation;
	const char *module;			/* TorchScript bytes, or NULL for a layer list */
	size_t		module_size;
	/* the checkpoint to continue from; resume_weights NULL for none */
	const char *resume_weights;
	size_t		resume_weights_size;
	const char *resume_optimizer;
	size_t		resume_optimizer_size;
	int64_t		resume_iteration;
	const char *resume_history;
	int			threads;
	int64_t		memory_limit;	/* bytes the run may add once libtorch started; 0 for none */
	/* a data-parallel run (compute_kwargs.workers): this trainer's rank of `world`, and the
	 * run's store file, in a directory of the supervisor's that only the server's OS user opens */
	int			rank;
	int			world;
	int			timeout;		/* compute_kwargs.timeout, seconds */
	char		run_key[65];
	char		store_path[1024];
	/* a run across servers (compute_kwargs.servers): the TCPStore of the calling server's
	 * rank 0 (store_port 0 for rank 0 itself, which reports the port the kernel picked), the
	 * address this server's ranks listen on, and this rank's place among this server's
	 * `local_world` ranks, which share its rows (row i to local rank i mod local_world) */
	bool		across_servers;
	char		store_host[256];
	int			store_port;
	char		gloo_address[256];
	int			local_rank;
	int			local_world;
	bool		reports_shard_end;	/* the first rank of a listed server */
} PtTrainerJob;

/* The trainer's main function (a PtChildMain, `arg` a PtTrainerJob), run in the forked child;
 * it never returns. */
extern void pt_trainer_main(int channel, pid_t supervisor, void *arg) __attribute__((noreturn));

#endif
