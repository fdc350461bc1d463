/*
 * ls - linear scalarization: the loss sum_i w_i l_i (equal weighting with
 * the default w = 1).  The baseline of every table in Navon et al., ICML
 * 2022; the reference's LinearScalarization.
 *
 * Needs the losses only; the heads get the same weights as the shared part.
 */
#include <stdlib.h>

#include "method_util.h"

typedef struct ls_method {
    int k;
    double *w;
} ls_method;

static const mtl_option ls_options[] = {
    {"weights", MTL_OPT_DOUBLE_LIST, "", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "task weights w_1,...,w_k (>= 0); empty: all ones"},
};

static void ls_destroy(void *self)
{
    ls_method *m = self;

    if (!m)
        return;
    free(m->w);
    free(m);
}

static mtl_status ls_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    ls_method *m = calloc(1, sizeof *m);
    mtl_status st;

    (void)info;
    if (!m || !(m->w = calloc((size_t)n_tasks, sizeof *m->w))) {
        ls_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    st = mu_task_weights_read(host, "weights", n_tasks, m->w);
    if (st != MTL_OK) {
        ls_destroy(m);
        return st;
    }
    *self = m;
    return MTL_OK;
}

static mtl_status ls_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

static mtl_status ls_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    ls_method *m = self;
    double loss = 0.0;

    for (int i = 0; i < m->k; i++)
        loss += m->w[i] * in->losses[i];
    mu_output_loss_weighted(out, m->w, m->k, loss);
    return mu_output_check(out, m->k, 0);
}

static const mtl_method_plugin ls_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "ls",
    .version = "1.0",
    .description = "linear scalarization: sum_i w_i l_i",
    .reference = NULL,
    .options = ls_options,
    .n_options = sizeof ls_options / sizeof ls_options[0],
    .create = ls_create,
    .destroy = ls_destroy,
    .plan = ls_plan,
    .weigh = ls_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &ls_plugin;
}
