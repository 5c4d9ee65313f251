/*
 * The catalog belongs to the extension: no role may write pinnacle.* itself. The extension's
 * own code writes it as the extension's owner, for the role it acts for, the way a SECURITY
 * DEFINER function with a pinned search_path would: while acting as the owner, search_path is
 * "pg_catalog, pg_temp" (a role's own functions and operators are never found) and the
 * security context is restricted. Leaving that role is explicit; an ERROR leaves it too, since
 * a transaction's abort restores the user and the settings it started with.
 */
#ifndef PINNACLE_EXTENSION_OWNER_H
#define PINNACLE_EXTENSION_OWNER_H

#include "postgres.h"

typedef struct PtActingRole
{
	Oid			user;
	int			security_context;
	int			guc_nest_level;
} PtActingRole;

/* Starts acting as the extension's owner; returns the role to go back to. */
extern PtActingRole pt_act_as_extension_owner(void);
extern void pt_act_as(PtActingRole role);

/* The name of the role this process acts for (the caller's role, or a supervisor's run owner). */
extern char *pt_acting_role_name(void);

#endif
