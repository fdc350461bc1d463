/*
 * host/sched.h - learning-rate schedules, stepped once after each epoch,
 * with torch.optim.lr_scheduler's rules:
 *
 *   none     the lr stays train.lr
 *   plateau  ReduceLROnPlateau(mode=min, factor, patience, min_lr,
 *            threshold=1e-4 relative, cooldown=0) on the validation
 *            Delta_m (the model-selection score); when a task gives no such
 *            score, on the epoch's mean training loss of the method
 *   step     StepLR(step_size, gamma): the lr times gamma every step_size
 *            epochs
 *
 * Every optimizer group is scaled, as torch does (the method's parameters
 * too).
 */
#ifndef MTL_HOST_SCHED_H
#define MTL_HOST_SCHED_H

#include <stdint.h>

#include "config.h"
#include "mtl/optim.h"

typedef enum host_sched_kind {
    HOST_SCHED_NONE,
    HOST_SCHED_PLATEAU,
    HOST_SCHED_STEP
} host_sched_kind;

typedef struct host_sched {
    host_sched_kind kind;
    double factor, min_lr, gamma;
    int64_t patience, step_size;
    double best;
    int64_t bad_epochs, epochs_done;
    int64_t refused; /* lr changes refused as non-finite or not > 0 (not checkpointed) */
} host_sched;

mtl_status host_sched_init(host_sched *s, const host_config *cfg);

/* Forgets the history, for a new trial. */
void host_sched_reset(host_sched *s);

/* After an epoch; `metric` is what plateau watches (NaN: not measured, no step). */
void host_sched_epoch_end(host_sched *s, mtl_adam *adam, int n_groups, double metric);

#endif /* MTL_HOST_SCHED_H */
