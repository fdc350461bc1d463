/*
 * scaleinvls - the scale-invariant baseline of Navon et al., ICML 2022
 * (Section 6): the loss sum_i w_i log(l_i), so that rescaling any task's
 * loss leaves the update unchanged.  Its derivative gives c_i = w_i / l_i.
 *
 * log needs l_i > 0.  A task whose loss is not positive (or so small that
 * w_i / l_i overflows) gets weight 0 for that step, and the step is reported
 * as a failed solve (solve_failed, with the task and its loss in the
 * warning): the reference would produce NaN there.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "method_util.h"

typedef struct scaleinvls_method {
    int k;
    double *w; /* the task weights */
    double *c; /* this step's coefficients */
    char warning[160];
} scaleinvls_method;

static const mtl_option scaleinvls_options[] = {
    {"weights", MTL_OPT_DOUBLE_LIST, "", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "task weights w_1,...,w_k (>= 0) of sum_i w_i log(l_i); empty: all ones"},
};

static void scaleinvls_destroy(void *self)
{
    scaleinvls_method *m = self;

    if (!m)
        return;
    free(m->w);
    free(m->c);
    free(m);
}

static mtl_status scaleinvls_create(const mtl_host *host, int n_tasks, void **self,
                                    mtl_method_info *info)
{
    scaleinvls_method *m = calloc(1, sizeof *m);
    mtl_status st;

    (void)info;
    if (!m || !(m->w = calloc((size_t)n_tasks, sizeof *m->w)) ||
        !(m->c = calloc((size_t)n_tasks, sizeof *m->c))) {
        scaleinvls_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    st = mu_task_weights_read(host, "weights", n_tasks, m->w);
    if (st != MTL_OK) {
        scaleinvls_destroy(m);
        return st;
    }
    *self = m;
    return MTL_OK;
}

static mtl_status scaleinvls_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

static mtl_status scaleinvls_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    scaleinvls_method *m = self;
    double loss = 0.0;
    int bad = -1;

    for (int i = 0; i < m->k; i++) {
        double l = in->losses[i];

        m->c[i] = m->w[i] / l;
        if (!(l > 0.0) || !isfinite(m->c[i])) {
            m->c[i] = 0.0;
            if (bad < 0)
                bad = i;
            continue;
        }
        loss += m->w[i] * log(l);
    }
    mu_output_loss_weighted(out, m->c, m->k, loss);
    mu_output_report(out, m->w, m->k);

    if (bad >= 0) {
        snprintf(m->warning, sizeof m->warning,
                 "task %d has loss %g: log needs a loss > 0, so its weight is 0 this step", bad,
                 in->losses[bad]);
        out->solve_failed = 1;
        out->warning = m->warning;
    }
    return mu_output_check(out, m->k, 0);
}

static const mtl_method_plugin scaleinvls_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "scaleinvls",
    .version = "1.0",
    .description = "scale-invariant linear scalarization: sum_i w_i log(l_i)",
    .reference = "Navon et al., ICML 2022",
    .options = scaleinvls_options,
    .n_options = sizeof scaleinvls_options / sizeof scaleinvls_options[0],
    .create = scaleinvls_create,
    .destroy = scaleinvls_destroy,
    .plan = scaleinvls_plan,
    .weigh = scaleinvls_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &scaleinvls_plugin;
}
