/*
 * compute_kwargs.servers, in the caller's backend: each named foreign server (postgres_fdw)
 * and the caller's user mapping for it become a libpq connection string for the run's
 * supervisor, which connects to the servers (see supervisor/remote_shards.c). The strings
 * go through the session's shared memory only: no password is in a spec, a log or the
 * catalog of the run.
 */
#include "postgres.h"

#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/syscache.h"

#include "pinnacle_core.h"
#include "servers.h"

/* The libpq options a server's OPTIONS may give (postgres_fdw's own ones are not libpq's). */
static const char *const server_keywords[] = {
	"host", "hostaddr", "port", "dbname", "sslmode", "sslrootcert", "sslcrl", "sslcert", "sslkey",
	"sslcompression", "gssencmode", "krbsrvname", "channel_binding", "target_session_attrs", "keepalives",
	"keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", NULL
};
/* ... and a user mapping's */
static const char *const mapping_keywords[] = {"user", "password", "sslcert", "sslkey", "sslpassword", NULL};

static bool
is_keyword(const char *const *keywords, const char *name)
{
	for (int i = 0; keywords[i] != NULL; i++)
		if (strcmp(keywords[i], name) == 0)
			return true;
	return false;
}

static void
append_option(StringInfo out, const char *key, const char *value)
{
	appendStringInfo(out, "%s='", key);
	for (const char *c = value; *c; c++)
	{
		if (*c == '\'' || *c == '\\')
			appendStringInfoChar(out, '\\');
		appendStringInfoChar(out, *c);
	}
	appendStringInfoString(out, "' ");
}

static bool
has_user_mapping(Oid role, Oid server)
{
	return SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(role), ObjectIdGetDatum(server)) ||
		SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid), ObjectIdGetDatum(server));
}

static ForeignServer *
checked_server(const char *name)
{
	ForeignServer *server = GetForeignServerByName(name, true);
	ForeignDataWrapper *wrapper;

	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("spec field \"compute_kwargs.servers\": server \"%s\" does not exist", name),
				 errhint("Create it with CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host, port, dbname), "
						 "and CREATE USER MAPPING for your role.")));
	wrapper = GetForeignDataWrapper(server->fdwid);
	if (strcmp(wrapper->fdwname, "postgres_fdw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("spec field \"compute_kwargs.servers\": server \"%s\" uses foreign-data wrapper \"%s\", not postgres_fdw",
						name, wrapper->fdwname)));
	if (pg_foreign_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("spec field \"compute_kwargs.servers\": permission denied for server \"%s\"", name),
				 errhint("A superuser or the server's owner grants it: GRANT USAGE ON FOREIGN SERVER %s TO ...", name)));
	if (!has_user_mapping(GetUserId(), server->serverid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("spec field \"compute_kwargs.servers\": server \"%s\" has no user mapping for role %s",
						name, GetUserNameFromId(GetUserId(), false)),
				 errhint("Create one: CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (user '...', password '...').",
						 name)));
	return server;
}

char *
pt_servers_connections(const PtSpec *spec, Size *size)
{
	StringInfoData out;
	int			count = pt_spec_server_count(spec);

	initStringInfo(&out);
	for (int i = 0; i < count; i++)
	{
		const char *name = pt_spec_server_name(spec, i);
		ForeignServer *server = checked_server(name);
		UserMapping *mapping = GetUserMapping(GetUserId(), server->serverid);
		StringInfoData conninfo;
		bool		has_password = false;
		ListCell   *cell;

		initStringInfo(&conninfo);
		foreach(cell, server->options)
		{
			DefElem    *option = lfirst(cell);

			if (is_keyword(server_keywords, option->defname))
				append_option(&conninfo, option->defname, defGetString(option));
		}
		foreach(cell, mapping->options)
		{
			DefElem    *option = lfirst(cell);

			if (!is_keyword(mapping_keywords, option->defname))
				continue;
			append_option(&conninfo, option->defname, defGetString(option));
			if (strcmp(option->defname, "password") == 0 && defGetString(option)[0] != '\0')
				has_password = true;
		}
		/* as postgres_fdw: the connection comes from the server's operating-system account,
		 * whose own credentials (a .pgpass, peer or trust) only a superuser may use */
		if (!superuser() && !has_password)
			ereport(ERROR,
					(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
					 errmsg("spec field \"compute_kwargs.servers\": the user mapping for server \"%s\" has no password",
							name),
					 errdetail("A role other than a superuser must give the remote role's password in its user mapping, as postgres_fdw requires.")));
		append_option(&conninfo, "application_name", "pinnacle_train");
		/* the remote call notices within a second that this side went away */
		append_option(&conninfo, "options", "-c client_connection_check_interval=1000");
		appendBinaryStringInfo(&out, name, strlen(name) + 1);
		appendBinaryStringInfo(&out, conninfo.data, conninfo.len + 1);
		pfree(conninfo.data);
	}
	*size = out.len;
	return out.data;
}
