#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "extension_owner.h"

/* Read from the catalog directly, not through SQL that a role's search_path could redirect. */
static Oid
extension_owner(void)
{
	Oid			extension = get_extension_oid("pinnacle_train", false);
	Relation	relation = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(extension));
	scan = systable_beginscan(relation, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "could not find extension pinnacle_train");
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(relation, AccessShareLock);
	return owner;
}

PtActingRole
pt_act_as_extension_owner(void)
{
	PtActingRole previous;
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(&previous.user, &previous.security_context);
	previous.guc_nest_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	SetUserIdAndSecContext(owner, previous.security_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	return previous;
}

void
pt_act_as(PtActingRole role)
{
	AtEOXact_GUC(true, role.guc_nest_level);
	SetUserIdAndSecContext(role.user, role.security_context);
}

char *
pt_acting_role_name(void)
{
	return GetUserNameFromId(GetUserId(), false);
}
