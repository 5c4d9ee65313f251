/* compute_kwargs.servers in the caller's backend: see servers.c. */
#ifndef PINNACLE_SERVERS_H
#define PINNACLE_SERVERS_H

#include "postgres.h"

#include "pinnacle_core.h"

/* Checks every server of the spec (it exists, is postgres_fdw's, the caller may use it and has
 * a user mapping with a password) and returns their names and libpq connection strings, one
 * NUL-terminated string each, name then connection, for the session (`size` bytes). */
extern char *pt_servers_connections(const PtSpec *spec, Size *size);

#endif
