/*
 * host/engine.h - the per-task gradient engine and the optimizer step.
 *
 * One engine serves one trial: it owns the trial's Adam optimizer (the
 * model's parameters in group 0, the method's parameters, if any, in group
 * 1) and the buffers of the per-task gradients.  Each training step:
 *
 *   host_engine_gradients()  losses -> plan -> (k backward passes, Gram
 *                            matrix) -> weigh -> the parameters' gradients:
 *                            shared = sum_i c_i g_i, head i = h_i * its own,
 *                            clipped; or one backward of sum_i c_i l_i
 *   host_engine_apply()      the Adam step, unless the step was skipped
 *
 * A step is skipped, leaving parameters, optimizer and method state as they
 * were, when a loss, a task gradient or the Gram matrix is not finite: the
 * method is called only with finite inputs.  When the method's OUTPUT is
 * not finite (or the weighted gradients overflow), the step is skipped as
 * well, but the method has already run and may have advanced its own state
 * (its step counter, its last weights); the host does not roll it back.
 */
#ifndef MTL_HOST_ENGINE_H
#define MTL_HOST_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/method.h"
#include "mtl/optim.h"
#include "mtl/task.h"

typedef struct host_engine host_engine;

typedef struct host_engine_config {
    mtl_model *model;
    int n_tasks;
    const char *const *task_names;
    const mtl_method_plugin *method;
    void *method_self;
    const mtl_method_info *method_info;
    double lr;           /* group 0 */
    double weight_decay; /* group 0 */
} host_engine_config;

/* What one step did; arrays are the engine's, valid until the next step. */
typedef struct host_step {
    int skipped;          /* nonzero: nothing was applied */
    char why[256];        /* the reason, when skipped */
    const double *losses; /* n_tasks */
    const double *shared_weights;
    const double *head_weights;
    const double *weights; /* the method's reported weights, for the log */
    double loss;           /* the method's loss to log */
    int used_gram;         /* the step ran k backward passes */
    double grad_norm;      /* shared gradient norm before clipping */
    int solve_failed;
    const char *warning; /* the method's, valid until the next step */
} host_step;

mtl_status host_engine_create(host_engine **engine, const host_engine_config *cfg);
void host_engine_destroy(host_engine *engine);

/*
 * Turns the losses of one forward pass (recorded in g) into the parameters'
 * gradients.  A skipped step returns MTL_OK with step->skipped set; an error
 * (a plugin breaking its contract, a failed backward pass) stops the run.
 */
mtl_status host_engine_gradients(host_engine *engine, mtl_graph *g, const mtl_task_output *out,
                                 int64_t step, host_step *result);

/* The optimizer step from the gradients host_engine_gradients() formed. */
mtl_status host_engine_apply(host_engine *engine);

/* The optimizer, and its number of groups (1, or 2 with method parameters). */
mtl_adam *host_engine_adam(host_engine *engine);
int host_engine_n_groups(const host_engine *engine);

/* The method's parameters (NULL when it has none). */
mtl_tensor *host_engine_method_params(host_engine *engine);

#endif /* MTL_HOST_ENGINE_H */
