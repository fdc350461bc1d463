/*
 * host/train.h - the training loop: trials, epochs, steps, evaluation,
 * Delta_m and model selection.
 *
 *   for each trial:  trial_begin; a fresh method instance (trial 0 uses the
 *                    one the caller created) and a fresh optimizer
 *     for each epoch:
 *       TRAIN pass: per batch, reset the graph, forward, then the engine's
 *                   step (engine.h); skipped steps are counted, the first is
 *                   logged, train.max_bad_steps in a row stop the run
 *       VAL and TEST passes (every train.eval_every epochs and after the
 *                   last; recording off), their metrics and Delta_m
 *       model selection: the epoch of best validation Delta_m (for
 *                   single-task methods, Delta_m over the main task's
 *                   metrics, or its first metric when none has a
 *                   baseline); without a validation score, the last epoch
 *       the scheduler; one row into the run's metrics; one log line
 *     trial_end
 *
 * Checkpoints (train_ckpt.c) are written after every epoch and, for tasks
 * that save their own state, every output.checkpoint_every training
 * batches; host_train with ctx->resume continues from one exactly: the same
 * batches in the same order with the same random numbers, so the final
 * parameters and metrics are those of an uninterrupted run.
 *
 * Delta_m = 100 / K sum_j (-1)^s_j (M_j - B_j) / B_j over the K metrics
 * that have a baseline (B_j != 0), s_j = 1 when higher is better
 * (REFERENCE.md, section 2); lower is better.
 */
#ifndef MTL_HOST_TRAIN_H
#define MTL_HOST_TRAIN_H

#include <signal.h>

#include "ckpt.h"
#include "config.h"
#include "run.h"
#include "services.h"

typedef struct host_train_ctx {
    host_task_slot *task;
    host_method_slot *method; /* trial 0's instance, open; reopened per trial */
    const host_env *env;
    host_run *run;
    const host_ckpt *resume; /* continue from this checkpoint; NULL: from the start */
} host_train_ctx;

mtl_status host_train(host_train_ctx *ctx);

/*
 * A stop requested by a signal (SIGINT, SIGTERM; main.c's handler sets it
 * to the signal's number): training stops after the batch in progress,
 * writes a checkpoint of that point where the task allows one, and
 * host_train returns MTL_ERR_INTERRUPTED with a line saying how to resume.
 */
extern volatile sig_atomic_t host_train_stop_signal;

/*
 * Checks, before training, that a checkpoint belongs to this run: the same
 * method, task and [train]/[method]/[task] configuration, the same model
 * (parameter names and shapes, buffer shapes), the same kind of method and
 * task state.  One MTL_ERR_DATA line naming the file otherwise.
 */
mtl_status host_train_check_checkpoint(const host_train_ctx *ctx, const host_ckpt *ck);

/* Where a checkpoint stands, for messages: "trial 1, epoch 3, batch 120". */
void host_train_checkpoint_position(const host_ckpt *ck, char *buf, size_t cap);

/* Delta_m of `values` over the metrics with a baseline (of task `only`, or all for -1). */
double host_delta_m(const mtl_task_info *info, const double *values, int only);

#endif /* MTL_HOST_TRAIN_H */
