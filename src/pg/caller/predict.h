/*
 * Inference for the calling backend, shared by pinnacle_predict (one row a call, predict.c)
 * and pinnacle_predict_batch (a select's rows, a batch at a time, predict_batch.c): the
 * backend's cache of loaded models, and rows of a model's inputs converted for one run of the
 * model. A layer list runs in the backend; an imported TorchScript module in a helper process
 * (helper.h), one request per run.
 */
#ifndef PINNACLE_PREDICT_H
#define PINNACLE_PREDICT_H

#include "postgres.h"

#include "helper.h"
#include "pinnacle_core.h"
#include "row_values.h"

typedef struct LoadedModel
{
	MemoryContext context;		/* holds this struct and all it points to */
	char	   *identifier;
	int32		version;
	int64		run_id;
	PtStoredModel stored;		/* as read from the catalog */
	PtModel    *model;			/* a layer list, loaded here; or NULL */
	PtChildLink *helper;		/* a TorchScript module's helper; NULL until started */
	/* the inputs and outputs, for both kinds */
	int			ninputs;
	char	  **input_names;
	int64		input_width;
	int64		output_width;	/* a TorchScript module's: known once its helper started */
	int			batch_rows;		/* the most rows one run takes; likewise */
	bool		padded;
	LocalTransactionId used_in; /* a call site of this transaction may hold it */
	struct LoadedModel *next;
} LoadedModel;

/* The loaded model that "identifier[@version]" names, from the backend's cache when it is
 * current; ERROR when there is none. Connects to SPI and finishes itself. */
extern LoadedModel *pt_find_model(const char *arg);

/* Rows of a model's inputs, converted for one run of the model, and that run's outputs. */
typedef struct PredictRows
{
	LoadedModel *loaded;
	PtColumn   *columns;		/* the model's inputs, in key order */
	int			max_rows;
	int			rows;			/* added since the last run or start */
	PtPrediction *prediction;	/* a layer list's run started on the model's thread, or NULL */
	float	   *values;			/* max_rows x input_width */
	int64	   *lengths;		/* a padded model's: max_rows x inputs; else NULL */
	int64		output_width;	/* as the outputs were sized: a restarted helper must agree */
	float	   *output;			/* max_rows x output_width */
} PredictRows;

/* Readies rows for inputs of these types (in the model's input order), at most `max_rows` of
 * them a run, fewer when the model says so. Starts a TorchScript module's helper. */
extern void pt_predict_rows_init(PredictRows *rows, LoadedModel *loaded, const Oid *types, int max_rows);

/* Converts one row's non-NULL inputs (in the model's input order) into the next row;
 * `row_number` names the row in an error, 0 for predict's arguments. */
extern void pt_predict_rows_add(PredictRows *rows, const Datum *inputs, int64 row_number);

/* Runs the model once on the rows added, whose outputs are then in rows->output, and starts
 * the next run's rows afresh; returns how many rows it ran. */
extern int	pt_predict_rows_run(PredictRows *rows);

/* pt_predict_rows_run in two halves, for a caller that fetches its next rows meanwhile. Start
 * takes the rows added (a layer list's are copied and run on the model's thread; a TorchScript
 * module runs in its helper now), and rows can be added again at once; finish waits for the
 * run, whose outputs are then in rows->output. An error
 * between the two must reach pt_predict_rows_drop, which waits for the run and drops its
 * output. */
extern void pt_predict_rows_start(PredictRows *rows);
extern void pt_predict_rows_finish(PredictRows *rows);
extern void pt_predict_rows_drop(PredictRows *rows);

/* Waits until no loaded model's thread runs or has runs queued (before the process exits or
 * forks). */
extern void pt_predict_wait_for_started(void);

/* A real[] of `count` values. */
extern Datum pt_float_array(const float *values, int64 count);

#endif
