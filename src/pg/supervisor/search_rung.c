#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"

#include "pinnacle_core.h"
#include "run_store.h"
#include "search_rung.h"

/* learned on the first validation: the run is no halving trial, and never becomes one */
static bool not_a_halving_trial = false;

void
pt_search_rung_reached(int64 run_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(run_id)};
	bool		isnull;
	bool		stop;

	if (not_a_halving_trial)
		return;
	pt_store_begin();
	pt_store_execute("SELECT pinnacle.search_rung($1)", 1, types, values, SPI_OK_SELECT);
	stop = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	pt_store_commit();
	not_a_halving_trial = isnull;
	if (!isnull && stop)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("stopped by successive halving: not among the better half of its search's trials at this rung")));
}
