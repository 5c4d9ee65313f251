#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"

#include "extension_owner.h"

static Oid
extension_owner(void)
{
	bool		isnull;

	if (SPI_execute("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'pinnacle_train'", true, 1)
		!= SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not find the owner of extension pinnacle_train");
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

PtActingRole
pt_act_as_extension_owner(void)
{
	PtActingRole previous;
	Oid			owner = extension_owner();

	GetUserIdAndSecContext(&previous.user, &previous.security_context);
	SetUserIdAndSecContext(owner, previous.security_context | SECURITY_LOCAL_USERID_CHANGE);
	return previous;
}

void
pt_act_as(PtActingRole role)
{
	SetUserIdAndSecContext(role.user, role.security_context);
}

char *
pt_acting_role_name(void)
{
	return GetUserNameFromId(GetUserId(), false);
}
