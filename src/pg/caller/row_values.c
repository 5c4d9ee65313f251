#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "row_values.h"

static bool
scalar_type_supported(Oid type)
{
	switch (type)
	{
		case FLOAT4OID:
		case FLOAT8OID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case BOOLOID:
			return true;
		default:
			return false;
	}
}

static bool
is_integer_type(Oid type)
{
	return type == INT2OID || type == INT4OID || type == INT8OID;
}

void
pt_column_init(PtColumn *column, const char *name, Oid type, bool class_index,
			   const char *objective_hint)
{
	Oid			element = get_element_type(type);

	memset(column, 0, sizeof(*column));
	column->name = name;
	column->type = type;
	column->width = -1;

	if (class_index)
	{
		if (!is_integer_type(type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("key column \"%s\" is of type %s, but %s needs an integer class index",
							name, format_type_be(type), objective_hint),
					 errhint("Use a smallint, integer or bigint label column, or a regression objective.")));
		return;
	}
	if (type == BYTEAOID || scalar_type_supported(type))
		return;
	if (OidIsValid(element) && scalar_type_supported(element) && element != BOOLOID)
	{
		column->element_type = element;
		get_typlenbyvalalign(element, &column->element_len, &column->element_byval,
							 &column->element_align);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("key column \"%s\" is of type %s, which cannot feed a model", name, format_type_be(type)),
			 errhint("Use real[], float8[], int2[], int4[], int8[], numeric[], bytea, or a numeric or boolean scalar.")));
}

static float
scalar_value(Oid type, Datum value)
{
	switch (type)
	{
		case FLOAT4OID:
			return DatumGetFloat4(value);
		case FLOAT8OID:
			return (float) DatumGetFloat8(value);
		case INT2OID:
			return (float) DatumGetInt16(value);
		case INT4OID:
			return (float) DatumGetInt32(value);
		case INT8OID:
			return (float) DatumGetInt64(value);
		case NUMERICOID:
			return DatumGetFloat4(DirectFunctionCall1(numeric_float4, value));
		case BOOLOID:
			return DatumGetBool(value) ? 1.0f : 0.0f;
		default:
			elog(ERROR, "unexpected type %u", type);
	}
	return 0;					/* keep compiler quiet */
}

/* Where a value came from: a row of the select, or (row 0) an argument of predict. */
static char *
location(const PtColumn *column, int64 row)
{
	if (row > 0)
		return psprintf("key column \"%s\", row " INT64_FORMAT, column->name, row);
	return psprintf("input \"%s\"", column->name);
}

/* Where one row's values of a column go: appended to a message after their count (the feed),
 * or into a buffer with room for the column's width (predict). */
typedef struct ValueTarget
{
	StringInfo	message;		/* or NULL */
	float	   *buffer;
	uint32		count;			/* the values given */
} ValueTarget;

/* Checks the count against the column's width and returns where `count` floats go. */
static float *
reserve_values(ValueTarget *target, PtColumn *column, uint32 count, int64 row)
{
	Size		bytes = sizeof(uint32) + (Size) count * sizeof(float);
	float	   *values;

	if (count == 0 && (column->width < 0 || column->padded))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: an empty value cannot feed a model", location(column, row))));
	if (column->width < 0)
		column->width = count;
	else if ((count != column->width && !column->padded) || (target->buffer != NULL && count > column->width))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: has %u values, but %s " INT64_FORMAT, location(column, row), count,
						target->buffer == NULL ? "the first row had"
						: column->padded ? "the model was trained on at most" : "the model was trained on",
						column->width),
				 column->padded ? 0 : errhint("Every row must give the same number of values.")));
	target->count = count;
	if (target->buffer != NULL)
		return target->buffer;

	enlargeStringInfo(target->message, bytes);
	memcpy(target->message->data + target->message->len, &count, sizeof(uint32));
	values = (float *) (target->message->data + target->message->len + sizeof(uint32));
	target->message->len += bytes;
	return values;
}

static void
convert_array(ValueTarget *target, PtColumn *column, Datum value, int64 row)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	int			count = ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array));
	float	   *values;

	if (ARR_HASNULL(array) && array_contains_nulls(array))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: the array contains a NULL", location(column, row))));

	values = reserve_values(target, column, (uint32) count, row);
	if (column->element_type == FLOAT4OID)
		memcpy(values, ARR_DATA_PTR(array), count * sizeof(float));
	else if (column->element_type == FLOAT8OID)
	{
		const double *source = (const double *) ARR_DATA_PTR(array);

		for (int i = 0; i < count; i++)
			values[i] = (float) source[i];
	}
	else if (column->element_type == INT4OID)
	{
		const int32 *source = (const int32 *) ARR_DATA_PTR(array);

		for (int i = 0; i < count; i++)
			values[i] = (float) source[i];
	}
	else
	{
		Datum	   *elements;
		int			n;

		/* int2, int8 and numeric: few enough users that the general path is fine */
		deconstruct_array(array, column->element_type, column->element_len, column->element_byval,
						  column->element_align, &elements, NULL, &n);
		for (int i = 0; i < n; i++)
			values[i] = scalar_value(column->element_type, elements[i]);
		pfree(elements);
	}
	if ((Pointer) array != DatumGetPointer(value))
		pfree(array);
}

static void
convert_bytea(ValueTarget *target, PtColumn *column, Datum value, int64 row)
{
	bytea	   *bytes = DatumGetByteaPP(value);
	uint32		count = VARSIZE_ANY_EXHDR(bytes);
	const uint8 *source = (const uint8 *) VARDATA_ANY(bytes);
	float	   *values = reserve_values(target, column, count, row);

	for (uint32 i = 0; i < count; i++)
		values[i] = (float) source[i];
	if ((Pointer) bytes != DatumGetPointer(value))
		pfree(bytes);
}

static void
convert_values(ValueTarget *target, PtColumn *column, Datum value, bool isnull, int64 row)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: is NULL", location(column, row)),
				 errhint("Filter out or fill in NULLs in the select.")));

	if (OidIsValid(column->element_type))
		convert_array(target, column, value, row);
	else if (column->type == BYTEAOID)
		convert_bytea(target, column, value, row);
	else
		*reserve_values(target, column, 1, row) = scalar_value(column->type, value);
}

void
pt_append_values(StringInfo out, PtColumn *column, Datum value, bool isnull, int64 row)
{
	ValueTarget target = {.message = out};

	convert_values(&target, column, value, isnull, row);
}

uint32
pt_copy_values(float *buffer, PtColumn *column, Datum value, int64 row)
{
	ValueTarget target = {.buffer = buffer};

	convert_values(&target, column, value, false, row);
	return target.count;
}
