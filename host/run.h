/*
 * host/run.h - the run directory and what the host writes into it.
 *
 *   config.ini     the resolved configuration (written once, at the start)
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
 *   results.md     the final table: each trial's selected epoch and its numbers
 *                  (test metrics, or training metrics for a task without a
 *                  test split)
 *
 * Every file is written whole and atomically (name.tmp, fsync, rename), so a
 * reader never sees half a file.  The metrics files are rewritten at most
 * once a second while epochs come in, and always at the end of a trial.
 * Checkpoints, a progress bar and experiment tracking will join this module.
 */
#ifndef MTL_HOST_RUN_H
#define MTL_HOST_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/task.h"

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
} host_epoch_record;

/* Creates the folder (and its parents) when missing. */
mtl_status host_run_create(host_run **run, const char *dir, const host_run_layout *layout);
void host_run_destroy(host_run *run);
const char *host_run_dir(const host_run *run);

/* runs/<task>-<method>-<YYYYmmdd-HHMMSS>, with -2, -3, ... if it exists. */
void host_run_default_dir(const char *task, const char *method, char *buf, size_t cap);

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

#endif /* MTL_HOST_RUN_H */
