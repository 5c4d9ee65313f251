/*
 * Successive halving (pinnacle_search with "method": "halving"): after each validation of a
 * search's trial, the catalog decides whether the trial stops at a rung
 * (pinnacle.search_rung, which also stops the trials it outranks there).
 */
#ifndef PINNACLE_SEARCH_RUNG_H
#define PINNACLE_SEARCH_RUNG_H

#include "postgres.h"

/* Call after a validation of the run is stored. ERROR (a cancel: the run ends 'cancelled',
 * with stop_reason search_halving) when halving stops the run at this rung. A run that is not
 * a halving trial costs one query, on its first validation. */
extern void pt_search_rung_reached(int64 run_id);

#endif
