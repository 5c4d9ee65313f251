/*
 * The torch core (pinnacle_train_torch.so: the entries PT_TORCH_ENTRIES of pinnacle_core.h) as
 * the PostgreSQL layer reaches it: a table of those entries, filled once per process by
 * pt_torch_require(). pinnacle_train.so itself does not link libtorch, so a backend that only
 * checks a spec and streams rows never loads it (about 0.7 s and 150 MB); the processes that
 * train, predict or load a module do. A process forked after the table is filled (a helper, a
 * trainer) inherits it with the mapping; preloaded, the postmaster fills it, and every process
 * starts with it, as when libtorch was linked in.
 *
 * Plain C without PostgreSQL headers, so that the helper and trainer processes use it too.
 */
#ifndef PINNACLE_TORCH_CORE_H
#define PINNACLE_TORCH_CORE_H

#include "pinnacle_core.h"

typedef struct PtTorchCore
{
#define PT_TORCH_FIELD(type, name, parameters) type (*name) parameters;
	PT_TORCH_ENTRIES(PT_TORCH_FIELD)
#undef PT_TORCH_FIELD
} PtTorchCore;

/* All NULL until pt_torch_require() */
extern PtTorchCore pt_torch;

/* Loads the torch core, and libtorch with it, unless this process has it; an ERROR when it
 * cannot. Call it in a PostgreSQL process before an entry of pt_torch is called, there or in a
 * child it forks. */
extern void pt_torch_require(void);

#endif
