/*
 * Records a search in a transaction of its own. The trials' supervisors write their runs'
 * ends, and with them the search's (pinnacle.search_trial_ended), while the caller's
 * transaction may still be open (wait => true): the search must be committed before it, so a
 * short-lived background worker acting as the caller's role records it.
 */
#ifndef PINNACLE_SEARCH_RECORD_H
#define PINNACLE_SEARCH_RECORD_H

#include "postgres.h"

/* Calls pinnacle.record_search(plan, <the calling role>) in a worker and returns the search
 * id; ERROR with the worker's message if it failed. */
extern int64 pt_search_record(const char *plan_json);

#endif
