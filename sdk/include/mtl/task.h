/*
 * mtl/task.h - the interface of a task (experiment) plugin.
 *
 * A task owns its model and its data.  It builds the model with the runtime
 * (tensor.h), giving each parameter its role (shared, or the head of task i,
 * or part of the last shared layer), and the host drives it:
 *
 *   create                                  once
 *   for each trial:  trial_begin            (re)initialise the parameters
 *     for each epoch:
 *       epoch_begin(TRAIN) ; forward ...    training steps
 *       epoch_begin(VAL)   ; forward ... ; metrics(VAL)
 *       epoch_begin(TEST)  ; forward ... ; metrics(TEST)
 *     trial_end                             write artefacts
 *   destroy
 *
 * Most experiments have one trial; the toy has five (one per start).
 *
 * Entry point: export `const mtl_task_plugin *mtl_task_entry(void)`.
 */
#ifndef MTL_TASK_H
#define MTL_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/plugin.h"
#include "mtl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MTL_TASK_ENTRY_SYMBOL "mtl_task_entry"

typedef enum mtl_split {
    MTL_SPLIT_TRAIN = 0,
    MTL_SPLIT_VAL = 1,
    MTL_SPLIT_TEST = 2
} mtl_split;

/* One reported number. */
typedef struct mtl_metric {
    const char *name;     /* "mIoU", "mu" */
    int task;             /* the task it measures, or -1 */
    int higher_is_better; /* the sign in Delta_m */
    double baseline;  /* single-task value for Delta_m; 0 when it has none */
    const char *unit; /* "meV", "deg", or "" */
} mtl_metric;

/* Filled by create(); the host zero-fills it first. */
typedef struct mtl_task_info {
    int n_tasks;
    const char *const *task_names; /* n_tasks names, owned by the task */
    int n_metrics;
    const mtl_metric *metrics; /* owned by the task */
    mtl_model *model;          /* owned by the task */
    int n_trials;              /* independent trainings; 0 means 1 */
    /*
     * A script in the project's tools folder that the host runs as
     * `python3 TOOL RUN_DIR` after the run to draw the experiment's figure,
     * or NULL.
     */
    const char *figure_tool;
} mtl_task_info;

/* What forward() returns; the host allocates `losses` with n_tasks slots. */
typedef struct mtl_task_output {
    mtl_tensor **losses; /* one one-element tensor per task */
    mtl_tensor *rep;     /* the shared representation, or NULL if not marked */
} mtl_task_output;

typedef struct mtl_task_plugin {
    /* MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin) */
    mtl_plugin_header header;

    const char *name; /* "toy", "qm9", "nyuv2" */
    const char *version;
    const char *description; /* one line */
    const char *reference;   /* the paper or dataset, or NULL */

    /* Keys of the [task] section. */
    const mtl_option *options;
    size_t n_options;

    /*
     * The task's defaults for the host's own sections, NULL-terminated
     * "section.key=value" strings ("train.lr=1e-3").  INI files and --set
     * override them.  May be NULL.
     */
    const char *const *defaults;

    mtl_status (*create)(const mtl_host *host, void **self,
                         mtl_task_info *info);
    void (*destroy)(void *self);

    /* Optional: (re)initialise the parameters for trial `trial` (0-based). */
    mtl_status (*trial_begin)(void *self, int trial);

    /*
     * Starts a pass over a split and gives its number of batches (0 when the
     * task has no such split).  For MTL_SPLIT_TRAIN the task draws the batch
     * order from host->rng.
     */
    mtl_status (*epoch_begin)(void *self, mtl_split split, int64_t epoch,
                              int64_t *n_batches);

    /*
     * Forward pass of batch `batch` of the current pass over `split`, ops
     * recorded into g.  `training` selects training behaviour (batch-norm
     * statistics, augmentation).  The task accumulates the split's metrics
     * as it goes.
     */
    mtl_status (*forward)(void *self, mtl_split split, int64_t batch,
                          int training, mtl_graph *g, mtl_task_output *out);

    /* The n_metrics values since epoch_begin(split); resets them. */
    mtl_status (*metrics)(void *self, mtl_split split, double *values);

    /* Optional: the trial is over; write artefacts into host->run_dir. */
    mtl_status (*trial_end)(void *self, int trial);

    /*
     * Optional (NULL when the task keeps no state between calls beyond its
     * model's parameters and buffers, which the host saves itself): the
     * task's own state as bytes, for checkpoints: what it accumulated in
     * the current trial (a trajectory, the metrics of the split being
     * passed over, counters).  Same contract as the method's: with buf
     * NULL, state_save puts the size it needs in *len.  The host calls
     * state_save between two training batches or after an epoch, and
     * state_load when it resumes, after trial_begin(trial) and, when the
     * checkpoint was taken inside an epoch, after epoch_begin(TRAIN) of
     * that epoch (given the random stream that epoch started with): the
     * loaded state overrides what those calls set.  A task without
     * state_save is checkpointed at the end of epochs only.  A state of
     * another layout must be refused with MTL_ERR_DATA.  Added in ABI 1.0
     * before its first release; the host reads these two fields only when
     * header.size covers them.
     */
    mtl_status (*state_save)(void *self, void *buf, size_t cap, size_t *len);
    mtl_status (*state_load)(void *self, const void *buf, size_t len);
} mtl_task_plugin;

typedef const mtl_task_plugin *(*mtl_task_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MTL_TASK_H */
