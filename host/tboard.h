/*
 * host/tboard.h - TensorBoard event files written from C.
 *
 * RUN_DIR/tensorboard/events.out.tfevents.<seconds>.<host>.<pid> holds
 * TFRecord-framed Event protocol buffers:
 *
 *   record   uint64 length, uint32 masked CRC-32C of the length, the data,
 *            uint32 masked CRC-32C of the data (all little-endian)
 *   Event    1: wall_time (double), 2: step (int64), 3: file_version
 *            (string, "brain.Event:2" in the first event), 5: summary
 *   Summary  1: value (repeated)
 *   Value    1: tag (string), 2: simple_value (float)
 *
 * which is the subset of the protocol TensorBoard's scalar dashboard reads.
 * The events are kept in memory and the file is rewritten whole and
 * atomically on each flush, like the metrics files, so a killed run never
 * leaves a torn record; the events and the file's name are part of the
 * checkpoint, so a resumed run goes on writing the same file.
 */
#ifndef MTL_HOST_TBOARD_H
#define MTL_HOST_TBOARD_H

#include <stdint.h>

#include "ckpt.h"
#include "mtl/status.h"
#include "text.h"

typedef struct host_tboard host_tboard;

/* Creates RUN_DIR/tensorboard and a writer whose first event names the format. */
mtl_status host_tboard_create(host_tboard **tb, const char *run_dir);
void host_tboard_destroy(host_tboard *tb);

/* One event at `step` with the n scalars whose values are finite. */
void host_tboard_scalars(host_tboard *tb, int64_t step, int n, const char *const *tags,
                         const double *values);

/* Rewrites the event file when events were added since the last flush. */
mtl_status host_tboard_flush(host_tboard *tb);

/* The file's name and events, for checkpoints. */
void host_tboard_state_save(const host_tboard *tb, host_buf *out);
mtl_status host_tboard_state_load(host_tboard *tb, host_reader *r);

/* The encoded record of one event (exposed for tests). */
void host_tboard_encode_event(host_buf *out, double wall_time, int64_t step,
                              const char *file_version, int n, const char *const *tags,
                              const double *values);

#endif /* MTL_HOST_TBOARD_H */
