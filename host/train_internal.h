/*
 * host/train_internal.h - the trainer's state, shared by train.c (the loop)
 * and train_ckpt.c (writing it into checkpoints and reading it back).
 */
#ifndef MTL_HOST_TRAIN_INTERNAL_H
#define MTL_HOST_TRAIN_INTERNAL_H

#include "engine.h"
#include "sched.h"
#include "text.h"
#include "train.h"

typedef struct trainer {
    host_train_ctx *ctx;
    const mtl_task_plugin *tp;
    const mtl_task_info *ti;
    int k, nm, n_trials;
    int64_t epochs, max_bad, eval_every;
    double lr, weight_decay;
    host_sched sched;
    mtl_graph *graph;
    mtl_tensor **losses;
    host_engine *engine;

    /* this trial */
    int trial;
    int64_t step, bad_in_row, trial_steps, trial_skipped, trial_failures;
    int have_best;
    double best_score;
    host_epoch_record selected;
    double *selected_values; /* train_loss, weights, train, val, test of the selected epoch */

    /* this epoch */
    int64_t epoch, epoch_steps, epoch_skipped, epoch_failures;
    double *loss_sum, *weight_sum, method_loss_sum;
    double *means;              /* train_loss and weights of the epoch */
    double *train, *val, *test; /* the task's metrics of each split */
    int have_train, have_val, have_test;

    /* the whole run: the first skip and the first solver failure are logged once */
    int logged_skip, logged_failure;
    int has_selected; /* `selected` holds an epoch of this trial */

    /* progress, step logging, checkpoints (see train_ckpt.c) */
    int64_t global_step;  /* training batches of the run so far */
    int64_t n_batches;    /* of the current training pass */
    double epoch_t0;      /* when the current epoch started (its seconds) */
    double run_t0;        /* when this process started training */
    int64_t run_batches0; /* global_step then */
    int64_t log_every;    /* output.log_every_steps */
    int checkpoints;      /* output.checkpoint */
    int64_t ckpt_every;   /* output.checkpoint_every */
    int have_ckpt;        /* a checkpoint of this run exists (written, or resumed from) */
    int mid_epoch_ok;     /* the task saves its state: checkpoints inside epochs */
    mtl_rng epoch_rng;    /* the task's stream before the current training pass */
    int64_t kill_after;   /* MTL_TEST_KILL_AFTER_STEPS, 0: never */
    int kill_signal;      /* MTL_TEST_KILL_SIGNAL: the signal it raises (SIGKILL) */
    host_buf ckpt;        /* the checkpoint being written */
} trainer;

/* Writes the checkpoint: inside an epoch before batch `next_batch`, or after the epoch. */
mtl_status host_trainer_checkpoint(trainer *tr, int in_epoch, int64_t next_batch);

/*
 * Restores the trainer from ctx->resume at the start of its trial (after
 * start_trial): inside an epoch, begins that epoch's training pass again
 * from its first random state and gives its number of batches in *n and
 * the next batch in *first; after an epoch, *n is -1 and *first 0.
 */
mtl_status host_trainer_restore(trainer *tr, int64_t *first, int64_t *n);

/* Starts the current epoch's training pass (the task's epoch_begin). */
mtl_status host_trainer_begin_train(trainer *tr, int64_t *n);

#endif /* MTL_HOST_TRAIN_INTERNAL_H */
