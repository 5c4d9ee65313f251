/* libtorch's start in a PostgreSQL process: once, with signals blocked (see pinnacle_core.h). */
#ifndef PINNACLE_RUNTIME_H
#define PINNACLE_RUNTIME_H

extern void pt_runtime_ensure(int threads);

#endif
