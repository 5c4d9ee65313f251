/*
 * A key column's values as float32, straight from the Datum: arrays are copied from their
 * detoasted data, never through text. Used by the feed (training rows) and by predict.
 */
#ifndef PINNACLE_ROW_VALUES_H
#define PINNACLE_ROW_VALUES_H

#include "postgres.h"

#include "lib/stringinfo.h"

typedef struct PtColumn
{
	const char *name;
	Oid			type;
	Oid			element_type;	/* InvalidOid unless an array */
	int16		element_len;
	bool		element_byval;
	char		element_align;
	int64		width;			/* values per row, fixed by the first row; -1 before it */
	bool		padded;			/* collate_fn "pad": rows may differ in width */
} PtColumn;

/* Checks the type can feed a model and readies the conversion; `class_index` demands a
 * scalar integer (the target of cross_entropy and nll). */
extern void pt_column_init(PtColumn *column, const char *name, Oid type, bool class_index,
						   const char *objective_hint);

/* Appends the value count (uint32) and the values (float32) of one row's column, checking
 * for NULLs and, unless padded, that the width matches the first row's. `row` (1-based) names the row. */
extern void pt_append_values(StringInfo out, PtColumn *column, Datum value, bool isnull, int64 row);

/* Copies one row's non-NULL value of a column, whose width is fixed, as float32 into `buffer`,
 * which has room for that width, and returns the value count: the width, or for a padded
 * column 1 up to it. `row` (1-based, or 0 for predict's arguments) names the row. */
extern uint32 pt_copy_values(float *buffer, PtColumn *column, Datum value, int64 row);

#endif
