/*
 * rlw - random loss weighting (Lin et al., "A Closer Look at Loss Weighting
 * in Multi-Task Learning", arXiv 2111.10603), as in the reference's RLW:
 * every step w = softmax(z) with z ~ N(0, I), loss sum_i w_i l_i (the
 * weights sum to 1).
 *
 * The draws come from the host's seeded stream for this plugin (host->rng,
 * k normals per step in task order), which the host checkpoints; the method
 * itself keeps no state.
 */
#include <stdlib.h>

#include "method_util.h"

typedef struct rlw_method {
    int k;
    mtl_rng *rng;
    double *z;
    double *w;
} rlw_method;

static void rlw_destroy(void *self)
{
    rlw_method *m = self;

    if (!m)
        return;
    free(m->z);
    free(m->w);
    free(m);
}

static mtl_status rlw_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    rlw_method *m = calloc(1, sizeof *m);

    (void)info;
    if (!m || !(m->z = calloc((size_t)n_tasks, sizeof *m->z)) ||
        !(m->w = calloc((size_t)n_tasks, sizeof *m->w))) {
        rlw_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->rng = host->rng;
    *self = m;
    return MTL_OK;
}

static mtl_status rlw_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

static mtl_status rlw_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    rlw_method *m = self;
    double loss = 0.0;

    for (int i = 0; i < m->k; i++)
        m->z[i] = mtl_rng_normal(m->rng);
    mu_softmax(m->z, m->k, 1.0, m->w);
    for (int i = 0; i < m->k; i++)
        loss += m->w[i] * in->losses[i];
    mu_output_loss_weighted(out, m->w, m->k, loss);
    return mu_output_check(out, m->k, 0);
}

static const mtl_method_plugin rlw_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "rlw",
    .version = "1.0",
    .description = "random loss weighting: w = softmax(z), z ~ N(0, I) each step",
    .reference = "Lin et al., arXiv 2111.10603",
    .options = NULL,
    .n_options = 0,
    .create = rlw_create,
    .destroy = rlw_destroy,
    .plan = rlw_plan,
    .weigh = rlw_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &rlw_plugin;
}
