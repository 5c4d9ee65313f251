/*
 * A helper process: a child a backend forks to run a user's TorchScript, which is code, outside
 * every PostgreSQL process (DESIGN.md section 7). Like a trainer it leaves the server (see
 * child_setup.h) and talks only over the child channel, so a module that loops, allocates
 * without bound or crashes libtorch costs one statement: the backend kills the helper on a
 * cancel, and its death is an ERROR.
 *
 * Tasks, and the parts of their 'R' result:
 *   PT_HELPER_CHECK_MODULE  the bytes load as TorchScript with a forward   (an export's metadata
 *                                                                           JSON, weights and
 *                                                                           optimizer state, or
 *                                                                           empty parts)
 *   PT_HELPER_CHECK_MODEL   the spec's model builds for the column widths,
 *                           fits the target and loads the given weights    (no part)
 *   PT_HELPER_EXPORT        the model version as TorchScript               (the bytes)
 *   PT_HELPER_IMPORT        an imported version loads as for predict, and  (its weights and
 *                           its optimizer state fits its parameters         optimizer state, saved
 *                                                                           anew)
 *   PT_HELPER_PREDICT       the model version loaded                       (int64 output width,
 *                                                                           int64 rows a request)
 *                           then, for each 'Q' request (rows of float values, and a padded
 *                           model's int64 lengths, one per input column a row): an 'R' of
 *                           output-width floats a row, or an 'E'
 */
#ifndef PINNACLE_HELPER_PROCESS_H
#define PINNACLE_HELPER_PROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum PtHelperTask
{
	PT_HELPER_CHECK_MODULE,
	PT_HELPER_CHECK_MODEL,
	PT_HELPER_EXPORT,
	PT_HELPER_IMPORT,
	PT_HELPER_PREDICT
} PtHelperTask;

/* What the backend hands its helper at the fork; the helper's copies are copy-on-write. */
typedef struct PtHelperJob
{
	PtHelperTask task;
	int64_t		memory_limit;	/* bytes the task may add once libtorch started; 0 for none */
	int			threads;
	const char *spec_json;		/* every task but CHECK_MODULE */
	const int64_t *column_widths;
	int			columns;
	const char *module;			/* CHECK_MODULE, CHECK_MODEL: TorchScript bytes or NULL */
	size_t		module_size;
	const char *weights;		/* CHECK_MODEL (NULL for none), EXPORT, IMPORT, PREDICT */
	size_t		weights_size;
	const char *transform_json; /* EXPORT, IMPORT, PREDICT */
	const char *optimizer_state;	/* EXPORT, IMPORT: the version's (size 0 for none) */
	size_t		optimizer_size;
	const char *metadata_json;	/* EXPORT: the version's metadata, saved in the archive */
} PtHelperJob;

/* The helper's main function (a PtChildMain, `arg` a PtHelperJob); it never returns. */
extern void pt_helper_main(int channel, pid_t backend, void *arg) __attribute__((noreturn));

#endif
