/*
 * The binary row format streamed from the caller's backend to the training worker
 * through a shm_mq. Shared by the C feed (which writes it) and the C++ core (which
 * reads it), so it is plain C.
 *
 * Every message starts with one kind byte:
 *   'T' / 'V'  rows for training / validation: the byte, 3 padding bytes, uint32 row count,
 *              then per row, per key column in key order: uint32 value count, float32 values
 *   'E'        end of data: the byte, 7 padding bytes, uint64 total rows sent
 * Values are in the host's byte order: both ends are the same server.
 */
#ifndef PINNACLE_WIRE_H
#define PINNACLE_WIRE_H

#include <stdint.h>

#define PT_MSG_TRAIN_ROWS 'T'
#define PT_MSG_VALID_ROWS 'V'
#define PT_MSG_END 'E'

#define PT_ROWS_HEADER_SIZE 8
#define PT_ROWS_BODY_OFFSET 4	/* what pt_data_append reads starts at the row count */
#define PT_END_SIZE 16

#endif
