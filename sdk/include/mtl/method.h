/*
 * mtl/method.h - the interface of a task-weighting method plugin.
 *
 * A method sees small matrices, never the model.  At every optimizer step
 * the host asks what the method needs (plan), computes it, and asks for the
 * weights (weigh):
 *
 *   in:  the step number, the k task losses and, when the plan asked for
 *        it, the k x k Gram matrix M = J J^T of the task gradients (double,
 *        accumulated in double by the host);
 *   out: coefficients c for the shared parameters, so that their update
 *        direction is sum_i c_i g_i; coefficients h for the task heads, so
 *        that head i receives h_i times its task's gradient; an optional
 *        norm clip of the shared gradient; the value to log as the loss.
 *
 * Loss-weighted methods (sum_i w_i f(l_i)) return c_i = h_i = w_i f'(l_i).
 * Methods whose update is a combination of gradients (PCGrad, CAGrad)
 * return its coefficients, computed from M.  When a step asked for losses
 * only, the host runs a single backward pass of sum_i c_i l_i, so c and h
 * must then be equal.
 *
 * A method is plain CPU arithmetic on tiny arrays: the same binary serves
 * every backend and every task.
 *
 * Entry point: export `const mtl_method_plugin *mtl_method_entry(void)`.
 */
#ifndef MTL_METHOD_H
#define MTL_METHOD_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MTL_METHOD_ENTRY_SYMBOL "mtl_method_entry"

/* What a step needs from the host. */
typedef enum mtl_method_need {
    MTL_NEED_LOSSES = 0, /* the losses only: one backward pass */
    MTL_NEED_GRAM =
        1 /* the Gram matrix of the task gradients: k backward passes */
} mtl_method_need;

/* Which gradients the Gram matrix is made of (the reference's `params`). */
typedef enum mtl_grad_source {
    MTL_GRADS_SHARED = 0, /* all shared parameters */
    MTL_GRADS_LAST = 1,   /* the parameters of the last shared layer */
    MTL_GRADS_REP = 2     /* the shared representation (activations) */
} mtl_grad_source;

typedef struct mtl_method_plan {
    mtl_method_need need;
    mtl_grad_source source; /* read only when need == MTL_NEED_GRAM */
} mtl_method_plan;

/* Filled by create(); the host zero-fills it first. */
typedef struct mtl_method_info {
    /*
     * Learnable parameters of the method (uncertainty weighting's s_i), that
     * the host's optimizer trains in their own group with learning rate
     * param_lr.  param_init points to n_params initial values owned by the
     * method; the host copies them.
     */
    size_t n_params;
    const float *param_init;
    double param_lr;

    /*
     * Nonzero for single-task training (stl): model selection then uses the
     * metrics of task main_task alone instead of Delta_m.
     */
    int single_task;
    int main_task;
} mtl_method_info;

typedef struct mtl_method_input {
    int64_t step; /* optimizer steps taken so far in this trial (0 first) */
    int n_tasks;
    const double *losses; /* n_tasks values, all finite */
    /* n_tasks x n_tasks, row-major, symmetric; NULL unless the plan asked for
     * it */
    const double *gram;
    const float
        *params; /* the method's parameters, n_params values; NULL if none */
} mtl_method_input;

/*
 * Arrays are allocated by the host with n_tasks (n_params) elements and
 * zero-filled before each call; max_norm starts at 0 (no clip).
 */
typedef struct mtl_method_output {
    double *shared_weights; /* c: shared update = sum_i c_i g_i */
    double *head_weights;   /* h: head i gets h_i * (its task's gradient) */
    float *param_grads; /* gradient of the method's objective wrt its params */
    double max_norm;    /* > 0: clip the shared gradient's L2 norm to this */
    double loss;        /* what to log as the step's loss */
    /*
     * Set to 1 when the method's solver failed or did not converge this step
     * and it fell back (say, to its last weights); `warning` then says why in
     * one line (owned by the method, valid until the next call).  The host
     * counts these, reports the first with its step, and sums them up.
     */
    int solve_failed;
    const char *warning;
    /*
     * The task weights to log, n_tasks values: what the reference code
     * reports as `weights` (w_i of a loss-weighted method, which may differ
     * from c_i: exp(-s_i) for uw, k * softmax for dwa, alpha for nashmtl;
     * pcgrad and cagrad, which report none there, give c).  Allocated and
     * zero-filled by the host like the arrays above, or NULL when the host
     * logs no weights: methods check before writing.  Added in ABI 1.0
     * before its first release.
     */
    double *weights;
} mtl_method_output;

typedef struct mtl_method_plugin {
    /* MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin) */
    mtl_plugin_header header;

    const char *name;        /* the code name users type: "nashmtl" */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line */
    const char *reference;   /* the paper, "Navon et al., ICML 2022", or NULL */

    /* Keys of the [method] section; n_options entries. */
    const mtl_option *options;
    size_t n_options;

    /*
     * Creates an instance for n_tasks tasks; options are read through
     * host->config_*.  On failure return a status and set the reason with
     * mtl_error_set(); the host prints it prefixed with the plugin's name.
     */
    mtl_status (*create)(const mtl_host *host, int n_tasks, void **self,
                         mtl_method_info *info);
    void (*destroy)(void *self);

    /* What step `step` needs.  Called once per step, before weigh(). */
    mtl_status (*plan)(void *self, int64_t step, mtl_method_plan *plan);

    /* The weights of one step.  A failure here stops the run. */
    mtl_status (*weigh)(void *self, const mtl_method_input *in,
                        mtl_method_output *out);

    /*
     * Optional (NULL when the method keeps no state between steps beyond its
     * parameters): the state as bytes, for checkpoints.  With buf NULL,
     * state_save puts the size it needs in *len.
     */
    mtl_status (*state_save)(void *self, void *buf, size_t cap, size_t *len);
    mtl_status (*state_load)(void *self, const void *buf, size_t len);
} mtl_method_plugin;

typedef const mtl_method_plugin *(*mtl_method_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MTL_METHOD_H */
