/*
 * The child channel: what a PostgreSQL process and a child it forked (a run's trainer, or a
 * backend's helper) say to each other over their socketpair. Plain C without PostgreSQL
 * headers, since a child must never use PostgreSQL (see ../README.md).
 *
 * A framed message: uint32 kind, uint32 part count, uint64 size of the parts, then each part
 * as uint64 length and bytes. Trainer to supervisor, kinds and their parts:
 *   'T' started     PtTrainerRows
 *   'P' progress    PtTrainerState
 *   'V' validated   PtTrainerState, history JSON, weights, optimizer state
 *   'C' checkpoint  PtTrainerState, history JSON, weights, optimizer state (the answer to 'S')
 *   'F' finished    PtTrainerState, history JSON, stop reason, fitted transform JSON, int64 widths
 *   'E' failed      int32 PtErrorKind, message
 *   'A' rendezvous  int32 port (rank 0 of a run across servers: where its TCPStore listens)
 *   'D' shard done  (the first rank of a listed server: training ended)
 * The other ranks of a data-parallel run send only 'P' and 'E': rank 0 reports for the run.
 * Supervisor to trainer, one byte:
 *   'S' stop: send a checkpoint of the step reached, then exit
 * A helper answers its task with one 'R' result (parts by task, see helper_process.h) or 'E';
 * a predicting helper then answers each 'Q' request (a batch of rows: their values, their
 * lengths) with an 'R' (their output values) or an 'E', until its channel closes.
 * Values are in the host's byte order: both ends are one machine, one binary.
 */
#ifndef PINNACLE_CHILD_CHANNEL_H
#define PINNACLE_CHILD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PT_CHANNEL_STARTED 'T'
#define PT_CHANNEL_PROGRESS 'P'
#define PT_CHANNEL_VALIDATED 'V'
#define PT_CHANNEL_CHECKPOINT 'C'
#define PT_CHANNEL_FINISHED 'F'
#define PT_CHANNEL_FAILED 'E'
#define PT_CHANNEL_RENDEZVOUS 'A'
#define PT_CHANNEL_SHARD_DONE 'D'
#define PT_CHANNEL_STOP 'S'
#define PT_CHANNEL_RESULT 'R'
#define PT_CHANNEL_REQUEST 'Q'

#define PT_CHANNEL_MAX_PARTS 5
#define PT_CHANNEL_MAX_METRICS 16
#define PT_CHANNEL_METRIC_NAME 32

typedef struct PtTrainerRows
{
	int64_t		train_rows;
	int64_t		validation_rows;
} PtTrainerRows;

/* Where training stands, after a step or a validation. */
typedef struct PtTrainerState
{
	int64_t		iteration;
	int64_t		steps_this_run;
	int64_t		samples_seen;	/* of every rank */
	int64_t		local_samples_seen; /* of this rank */
	int64_t		best_iteration;
	double		last_loss;
	double		best_value;
	double		allreduce_seconds;	/* waiting for the ranks' gradient sums, since the start */
	int64_t		allreduce_bytes;
	int32_t		last_was_best;
	int32_t		metric_count;	/* of the latest validation */
	char		metric_names[PT_CHANNEL_MAX_METRICS][PT_CHANNEL_METRIC_NAME];
	double		metric_values[PT_CHANNEL_MAX_METRICS];
} PtTrainerState;

typedef struct PtChannelPart
{
	const void *data;
	uint64_t	size;
} PtChannelPart;

typedef struct PtChannelMessage
{
	uint32_t	kind;
	uint32_t	nparts;
	PtChannelPart parts[PT_CHANNEL_MAX_PARTS];
} PtChannelMessage;

/* Writes one whole message, waiting for room as needed; false when the peer is gone. */
extern bool pt_channel_send(int fd, uint32_t kind, const PtChannelPart *parts, uint32_t nparts);

/* The first message in `buffer`: its size in bytes with *message pointing into the buffer,
 * 0 while it is incomplete, or -1 when the bytes are not a message. */
extern int64_t pt_channel_parse(const char *buffer, size_t size, PtChannelMessage *message);

/* Reads one whole message into `*buffer` (grown with realloc as needed), waiting for it; false
 * at the end of the stream or on an error. For a child, which handles one message at a time. */
extern bool pt_channel_receive(int fd, char **buffer, size_t *capacity, PtChannelMessage *message);

/* Part `i` of a message as a fixed-size struct; false when its size differs. */
extern bool pt_channel_part_is(const PtChannelMessage *message, uint32_t i, size_t size);

#endif
