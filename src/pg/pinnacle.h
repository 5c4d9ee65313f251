/* Settings and helpers shared by the PostgreSQL-side files of pinnacle_train. */
#ifndef PINNACLE_H
#define PINNACLE_H

#include "postgres.h"

#include "postmaster/bgworker.h"
#include "storage/dsm.h"

#include "pinnacle_core.h"

extern int	pinnacle_memory_limit_mb;
extern int	pinnacle_predict_threads;
extern int	pinnacle_max_workers;
extern char *pinnacle_rendezvous_address;
extern int	pinnacle_predict_cache_size;
extern int	pinnacle_max_runs_per_role;

/* Parses a spec or raises an ERROR naming the field; freed with the current memory context. */
extern PtSpec *pt_parse_spec_or_error(const char *spec_json);

/* The bytes of the imported TorchScript module a spec trains, or NULL for a layer list
 * (ERROR if it was never imported). Call inside SPI. */
extern bytea *pt_spec_module(const PtSpec *spec);

/* Whether this backend's client closed its connection (never, for a process without a client,
 * such as pg_cron's background workers). */
extern bool pt_client_connection_lost(void);

/* SPI_connect, or an ERROR. */
extern void pt_spi_connect(void);

/* The schema version this library needs (the control file's default_version). */
#define PT_SCHEMA_VERSION "0.2.0"

/* An ERROR unless the database's pinnacle_train schema is the one this library was built for:
 * after new binaries are installed, every SQL entry point refuses to run until ALTER EXTENSION
 * pinnacle_train UPDATE. Call inside SPI, before reading the catalog. */
extern void pt_check_schema(void);

/* The SQLSTATE of a core failure: a user's spec or data error is not an internal error. */
extern int	pt_sqlstate_of(PtErrorKind kind);

/* Starts a background worker of this library that connects to a database, runs `function`
 * with `segment`'s handle and notifies this backend; ERROR, saying what no free slot leaves
 * undone (`purpose`, e.g. "to train in"), when every worker slot is taken. */
extern BackgroundWorkerHandle *pt_register_worker(dsm_segment *segment, const char *function, const char *name,
												  const char *type, const char *purpose);

#endif
