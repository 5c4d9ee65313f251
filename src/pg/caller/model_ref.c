#include "postgres.h"

#include "utils/builtins.h"

#include "model_ref.h"

PtModelRef
pt_parse_model_ref(const char *text)
{
	PtModelRef	ref = {.identifier = pstrdup(text), .version = 0};
	char	   *at = strchr(ref.identifier, '@');

	if (at == NULL)
		return ref;
	*at = '\0';
	ref.version = pg_strtoint32(at + 1);
	if (ref.version <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version in \"%s\" must be a positive integer", text)));
	return ref;
}
