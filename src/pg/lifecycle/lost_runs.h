/* The sweep of runs lost in a crash or an immediate shutdown (see lost_runs.c). */
#ifndef PINNACLE_LOST_RUNS_H
#define PINNACLE_LOST_RUNS_H

/* From _PG_init of a preloaded library: the monitor that sweeps at every start. */
extern void pt_register_monitor(void);

#endif
