/*
 * How a forked child (a trainer, or a backend's helper) leaves the PostgreSQL process it was
 * forked from, so that nothing it does or suffers reaches the server. Plain C without
 * PostgreSQL headers: a child calls no PostgreSQL function.
 */
#ifndef PINNACLE_CHILD_SETUP_H
#define PINNACLE_CHILD_SETUP_H

#include <stdint.h>
#include <sys/types.h>

/* Exit code of a child whose parent went away, or whose channel broke. */
#define PT_CHILD_EXIT_PARENT_GONE 3
/* Exit code of a child that could not leave the server's shared memory. */
#define PT_CHILD_EXIT_SETUP_FAILED 4

/* Drops the parent's signal handlers (PostgreSQL's would set the parent's latch) and its
 * process group (the postmaster and pg_signal_backend signal a backend's whole group), and
 * ties the child's life to the parent's: the kernel kills it when the parent dies, however
 * the parent dies, and unmaps the server's shared memory. Exits at once if the parent is
 * already gone. */
extern void pt_child_detach_from_server(pid_t parent);

/* Closes the server's files a trainer inherits: relation files, the WAL segment, the
 * postmaster's pipe, sockets and event descriptors, but not `keep` (its channel) nor the
 * rows' spill file, which lies in the temporary directory. */
extern void pt_child_close_server_files(int keep);

/* Closes every file descriptor but stdin, stdout, stderr and `keep`: a helper needs none of
 * its backend's (the client's socket among them). */
extern void pt_child_close_other_files(int keep);

/* The kernel's OOM killer takes this process before any PostgreSQL process. */
extern void pt_child_volunteer_for_the_oom_killer(void);

/* Caps the private memory this process may map from now on at what it has now, less
 * `held_bytes` (memory it holds that should count), plus `limit_bytes` (RLIMIT_DATA). An
 * allocation past it fails, and the core reports it as PT_ERROR_MEMORY. No cap for a limit
 * of 0 or below. */
extern void pt_child_limit_memory(int64_t limit_bytes, int64_t held_bytes);

#endif
