/*
 * uw - uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018), as in
 * the reference's Uncertainty class: the loss
 *
 *     sum_i 0.5 (exp(-s_i) l_i + s_i),
 *
 * with s_i = log sigma_i^2 learned (initialised at 0) by the host's
 * optimizer in its own parameter group, learning rate `param_lr` (the
 * reference's --method-params-lr, 0.025).  Hence c_i = h_i = 0.5 exp(-s_i),
 * d loss / d s_i = 0.5 (1 - exp(-s_i) l_i), and the reported weight is
 * exp(-s_i), as the reference logs it.  The total can go negative (small
 * losses drive s_i to log l_i < 0): that is correct.
 */
#include <math.h>
#include <stdlib.h>

#include "method_util.h"

typedef struct uw_method {
    int k;
    float *s_init; /* zeros, lent to the host through info->param_init */
    double *c;
    double *w;
} uw_method;

static const mtl_option uw_options[] = {
    {"param_lr", MTL_OPT_DOUBLE, "0.025", NULL, MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE, 0, 0,
     "learning rate of the log-variances s_i (the reference's method-params-lr)"},
};

static void uw_destroy(void *self)
{
    uw_method *m = self;

    if (!m)
        return;
    free(m->s_init);
    free(m->c);
    free(m->w);
    free(m);
}

static mtl_status uw_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    uw_method *m;
    double lr;
    mtl_status st = host->config_double(host, "param_lr", &lr);

    if (st != MTL_OK)
        return st;
    m = calloc(1, sizeof *m);
    if (!m || !(m->s_init = calloc((size_t)n_tasks, sizeof *m->s_init)) ||
        !(m->c = calloc((size_t)n_tasks, sizeof *m->c)) ||
        !(m->w = calloc((size_t)n_tasks, sizeof *m->w))) {
        uw_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    info->n_params = (size_t)n_tasks;
    info->param_init = m->s_init;
    info->param_lr = lr;
    *self = m;
    return MTL_OK;
}

static mtl_status uw_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

static mtl_status uw_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    uw_method *m = self;
    double loss = 0.0;

    if (!in->params)
        return mtl_error_set(MTL_ERR_INVALID,
                             "weigh: the method's parameters are missing (expected %d values, "
                             "got NULL)",
                             m->k);
    for (int i = 0; i < m->k; i++) {
        double s = in->params[i];
        double precision = exp(-s);

        m->w[i] = precision;
        m->c[i] = 0.5 * precision;
        out->param_grads[i] = (float)(0.5 * (1.0 - precision * in->losses[i]));
        loss += 0.5 * (precision * in->losses[i] + s);
    }
    mu_output_loss_weighted(out, m->c, m->k, loss);
    mu_output_report(out, m->w, m->k);
    return mu_output_check(out, m->k, (size_t)m->k);
}

static const mtl_method_plugin uw_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "uw",
    .version = "1.0",
    .description = "uncertainty weighting: sum_i 0.5 (exp(-s_i) l_i + s_i), s learned",
    .reference = "Kendall, Gal and Cipolla, CVPR 2018",
    .options = uw_options,
    .n_options = sizeof uw_options / sizeof uw_options[0],
    .create = uw_create,
    .destroy = uw_destroy,
    .plan = uw_plan,
    .weigh = uw_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &uw_plugin;
}
