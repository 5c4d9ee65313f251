/*
 * The caller's side of the data path: plans the spec's select through SPI (read-only,
 * in the caller's snapshot and privileges), finds the key columns, and encodes fetched
 * rows into wire messages (see core/wire.h) for the worker's shm_mq.
 */
#ifndef PINNACLE_FEED_H
#define PINNACLE_FEED_H

#include "postgres.h"

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "storage/shm_mq.h"

#include "pinnacle_core.h"
#include "row_values.h"

typedef struct PtFeed
{
	const char *field;			/* the spec field of this select, for messages */
	char		kind;			/* PT_MSG_TRAIN_ROWS or PT_MSG_VALID_ROWS */
	Portal		cursor;
	int			ncolumns;
	PtColumn   *columns;		/* the key columns, in key order */
	int		   *attnums;		/* their positions in the select's result */
	StringInfoData message;		/* rows encoded, not yet sent */
	uint32		rows_in_message;
	int64		rows;			/* rows encoded so far */
	SPITupleTable *batch;		/* the rows fetched last, from next_row on not yet encoded */
	uint64		batch_rows;
	uint64		next_row;
	bool		exhausted;		/* the cursor returned no more rows */
} PtFeed;

/* Plans `sql`, checks it is a read-only query returning the key columns in usable types,
 * and opens a cursor on it. Errors name `field` and the column. Call inside SPI.
 * `reads_own_writes`: the query reads rows this transaction wrote during the call (a
 * snapshot table), so the cursor takes a snapshot that sees them. */
extern void pt_feed_open(PtFeed *feed, const PtSpec *spec, const char *sql, const char *field, char kind,
						 bool reads_own_writes);

/* Plans `sql` and checks that it is a single read-only query; errors name `subject`. */
extern SPIPlanPtr pt_check_select(const char *sql, const char *subject);

/* The checks of pt_feed_open without a cursor: returns the plan. */
extern SPIPlanPtr pt_feed_check(const PtSpec *spec, const char *sql, const char *field);

/* The planner's estimate of the rows the feed's cursor returns. */
extern int64 pt_feed_estimated_rows(const PtFeed *feed);

/* The columns a planned query returns. */
extern TupleDesc pt_plan_result(SPIPlanPtr plan);

/* The width of each column in the rows encoded so far (palloc'd, ncolumns of them). */
extern int64 *pt_feed_widths(const PtFeed *feed);

/* Encodes rows into the feed's message until it holds about a megabyte, or a thousand rows,
 * or the select has no more rows; false when there was no row left to encode. */
extern bool pt_feed_next(PtFeed *feed);

/* Sends the rows encoded so far. */
extern void pt_feed_flush(PtFeed *feed, shm_mq_handle *queue);

/* Sends the rows encoded so far to every queue: rows encoded once, for several runs. */
extern void pt_feed_flush_all(PtFeed *feed, shm_mq_handle **queues, int nqueues);

/* Sends the end-of-data message. */
extern void pt_feed_send_end(shm_mq_handle *queue, int64 total_rows);

#endif
