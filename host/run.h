/*
 * host/run.h - the run directory and what the host writes into it.
 *
 *   config.ini     the resolved configuration (written once, at the start)
 *   run.json       what the tools need to read the run: the method and task
 *                  (names and plugin paths), the seed, the tasks, and each
 *                  metric's column label, task, direction, baseline and unit
 *   metrics.jsonl  one JSON object per epoch
 *   metrics.csv    the same rows as CSV, with the header
 *                    trial,epoch,steps,loss_<task>...,weight_<task>...,method_loss,
 *                    train_<metric>...,val_<metric>...,val_delta_m,
 *                    test_<metric>...,test_delta_m,lr,seconds,skipped_steps,
 *                    solver_failures
 *                  (loss_ and weight_: means over the epoch's applied steps of
 *                  the task losses and of the method's reported weights;
 *                  <metric> is the metric's name, or <task>/<name> when two
 *                  metrics share a name)
 *                  (empty cells, and null in JSON, where a value is not available)
 *   steps.csv      with output.log_every_steps = N > 0: every N-th training step
 *                    trial,epoch,batch,step,loss_<task>...,weight_<task>...,
 *                    method_loss,lr
 *   results.md     the final table: each trial's selected epoch and its numbers
 *   results.csv    (test metrics, or training metrics for a task without a
 *                  test split), and their mean over trials when there are several
 *   tensorboard/   with output.tensorboard: the same scalars as TensorBoard events
 *
 * Every file is written whole and atomically (name.tmp, fsync, rename), so a
 * reader never sees half a file; a run killed while writing may leave a
 * name.tmp beside it, which --resume removes.  The metrics files are
 * rewritten at most once a second while epochs come in, and always at the
 * end of a trial and when a checkpoint is written; their contents so far are
 * part of the checkpoint (host_run_state_save).
 */
#ifndef MTL_HOST_RUN_H
#define MTL_HOST_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt.h"
#include "mtl/task.h"
#include "text.h"

struct host_wandb;

typedef struct host_run host_run;

/* The columns: the task's names and metrics. */
typedef struct host_run_layout {
    const char *task;   /* the task plugin's name */
    const char *method; /* the method plugin's name */
    int n_tasks;
    const char *const *task_names;
    int n_metrics;
    const mtl_metric *metrics;
} host_run_layout;

/* One epoch of one trial; NaN where a value is not available. */
typedef struct host_epoch_record {
    int trial;
    int64_t epoch;
    int64_t steps;            /* optimizer steps applied in the epoch */
    const double *train_loss; /* n_tasks: mean over the applied steps */
    const double *weights;    /* n_tasks: mean of the method's reported weights */
    double method_loss;       /* mean of the method's loss */
    /* n_metrics each, or NULL when the split has no batches or was not evaluated */
    const double *train, *val, *test;
    double val_delta_m, test_delta_m;
    double lr;
    double seconds;
    int64_t skipped, solver_failures;
    int64_t global_step; /* training batches of the whole run so far: tracking's step */
} host_epoch_record;

/* One logged training step (output.log_every_steps). */
typedef struct host_step_record {
    int trial;
    int64_t epoch, batch;
    int64_t global_step;
    const double *losses;  /* n_tasks */
    const double *weights; /* n_tasks, the method's reported weights */
    double method_loss;
    double lr;
} host_step_record;

/* Where the run came from, for run.json and tracking. */
typedef struct host_run_info {
    const char *method_path, *task_path;
    int64_t seed;
    const char *wandb_id; /* "" when the run is not tracked */
    const char *status;   /* "running", "finished", "failed" or "interrupted" */
    const char *error;    /* why it failed, or NULL */
} host_run_info;

/*
 * One process writes a run directory at a time: an exclusive flock() on the
 * existing folder `dir`, held while *fd stays open (close it to release; the
 * kernel releases it however the process ends).  A folder another process
 * holds is refused with MTL_ERR_CONFIG.
 */
mtl_status host_run_lock(const char *dir, int *fd);

/* Creates the folder (and its parents) when missing. */
mtl_status host_run_create(host_run **run, const char *dir, const host_run_layout *layout);
void host_run_destroy(host_run *run);
const char *host_run_dir(const host_run *run);

/* runs/<task>-<method>-<YYYYmmdd-HHMMSS> into buf: the name, not yet the folder. */
void host_run_default_dir(const char *task, const char *method, char *buf, size_t cap);

/*
 * Creates the folder buf names (and its parents), or, where it exists,
 * buf-2, buf-3, ... and puts the name created into buf: mkdir decides, so
 * runs started together get different folders.
 */
mtl_status host_run_claim_dir(char *buf, size_t cap);

/* Writes <run dir>/<name> atomically. */
mtl_status host_run_write(const host_run *run, const char *name, const char *text, size_t len);

mtl_status host_run_add_epoch(host_run *run, const host_epoch_record *rec);

/* Writes the metrics files now. */
mtl_status host_run_flush(host_run *run);

/* Records a trial's selected epoch (a copy of its record) for results.md. */
mtl_status host_run_add_result(host_run *run, const host_epoch_record *selected);

/* Writes results.md; `about` is a paragraph on seed, trials and selection. */
mtl_status host_run_finish(host_run *run, const char *about);

/* Writes `len` bytes to `path` atomically (path.tmp, fsync, rename). */
mtl_status host_write_atomic(const char *path, const char *text, size_t len);

/* Writes run.json. */
mtl_status host_run_write_info(host_run *run, const host_run_info *info);

/* Keeps steps.csv (and the tracking's step scalars). */
mtl_status host_run_add_step(host_run *run, const host_step_record *rec);

/* Writes TensorBoard events too (RUN_DIR/tensorboard). */
mtl_status host_run_enable_tensorboard(host_run *run);

/* Sends epochs and steps to this wandb bridge too (the run finishes it). */
void host_run_set_wandb(host_run *run, struct host_wandb *wandb);
struct host_wandb *host_run_wandb(host_run *run);

/* The metrics so far (rows, results, events), for checkpoints. */
void host_run_state_save(const host_run *run, host_buf *out);
/* Restores them; MTL_ERR_DATA when the section does not fit this run. */
mtl_status host_run_state_load(host_run *run, host_reader *r);

/* One epoch record in checkpoints; v has room for 2 n_tasks + 3 n_metrics values. */
void host_run_save_record(host_buf *b, const host_run *run, const host_epoch_record *rec);
mtl_status host_run_load_record(host_reader *r, const host_run *run, host_epoch_record *rec,
                                double *v);

/* Removes name.tmp files a killed run left in the run directory. */
void host_run_remove_tmp(const host_run *run);

/* Nonzero when `path` is an existing folder. */
int host_dir_exists(const char *path);

#endif /* MTL_HOST_RUN_H */
