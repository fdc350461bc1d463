/*
 * fx_weights: the host tests' method.  It returns the weights it is told
 * (c from `weights`, h from `heads`), asks for what it is told (`need`,
 * `source`), and can misbehave on purpose: report a failed solve every
 * `fail_every` steps, return a NaN weight at step `nan_at`, expose
 * `n_params` learnable parameters whose gradients are +-0.5.
 *
 * For in-process tests it records what the host gave it (fx_record).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/method.h"

#define FXW_MAX_TASKS 8

/* What the last weigh() saw; read by test_host_engine.c. */
typedef struct fx_record {
    int weigh_calls, plan_calls;
    int had_gram;
    double gram[FXW_MAX_TASKS * FXW_MAX_TASKS];
    double losses[FXW_MAX_TASKS];
    int64_t step;
} fx_record;

fx_record fx_weights_record;

static const mtl_option fx_weights_options[] = {
    {"need", MTL_OPT_ENUM, "gram", "losses|gram", 0, 0, 0, "what every step asks for"},
    {"source", MTL_OPT_ENUM, "shared", "shared|last|rep", 0, 0, 0, "gradients of the Gram matrix"},
    {"weights", MTL_OPT_DOUBLE_LIST, "", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "shared weights c (>= 0); empty: all ones"},
    {"heads", MTL_OPT_DOUBLE_LIST, "", NULL, 0, 0, 0, "head weights h; empty: c"},
    {"max_norm", MTL_OPT_DOUBLE, "0", NULL, MTL_OPT_HAS_MIN, 0, 0, "norm clip; 0: none"},
    {"fail_every", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "report a failed solve on steps 1, 1 + n, ... (every n-th); 0: never"},
    {"nan_at", MTL_OPT_INT, "-1", NULL, 0, 0, 0, "step whose weight c_0 is NaN; -1: none"},
    {"n_params", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, 4,
     "learnable parameters (gradient +0.5, -0.5, ...)"},
    {"param_lr", MTL_OPT_DOUBLE, "0.01", NULL, MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE, 0, 0,
     "their learning rate"},
    {"single_task", MTL_OPT_BOOL, "false", NULL, 0, 0, 0, "select on the main task alone"},
};

typedef struct fx_weights {
    int k;
    int gram;
    mtl_grad_source source;
    double c[FXW_MAX_TASKS], h[FXW_MAX_TASKS];
    double max_norm;
    int64_t fail_every, nan_at, n_params;
    float init[4];
} fx_weights;

static mtl_status fx_read_list(const mtl_host *host, const char *key, int k, double *out,
                               const double *fallback)
{
    const double *v;
    size_t n;
    mtl_status st = host->config_doubles(host, key, &v, &n);

    if (st != MTL_OK)
        return st;
    if (n != 0 && n != (size_t)k)
        return mtl_error_set(MTL_ERR_CONFIG, "fx_weights: %s: wrong length (expected %d, got %zu)",
                             key, k, n);
    for (int i = 0; i < k; i++)
        out[i] = n ? v[i] : fallback ? fallback[i] : 1.0;
    return MTL_OK;
}

static mtl_status fx_read(fx_weights *m, const mtl_host *host, mtl_method_info *info)
{
    const char *need, *source;
    int single;
    mtl_status st;

    if ((st = host->config_string(host, "need", &need)) != MTL_OK ||
        (st = host->config_string(host, "source", &source)) != MTL_OK ||
        (st = fx_read_list(host, "weights", m->k, m->c, NULL)) != MTL_OK ||
        (st = fx_read_list(host, "heads", m->k, m->h, m->c)) != MTL_OK ||
        (st = host->config_double(host, "max_norm", &m->max_norm)) != MTL_OK ||
        (st = host->config_int(host, "fail_every", &m->fail_every)) != MTL_OK ||
        (st = host->config_int(host, "nan_at", &m->nan_at)) != MTL_OK ||
        (st = host->config_int(host, "n_params", &m->n_params)) != MTL_OK ||
        (st = host->config_double(host, "param_lr", &info->param_lr)) != MTL_OK ||
        (st = host->config_bool(host, "single_task", &single)) != MTL_OK)
        return st;
    m->gram = strcmp(need, "gram") == 0;
    m->source = strcmp(source, "last") == 0  ? MTL_GRADS_LAST
                : strcmp(source, "rep") == 0 ? MTL_GRADS_REP
                                             : MTL_GRADS_SHARED;
    info->single_task = single;
    info->main_task = 0;
    return MTL_OK;
}

static mtl_status fx_weights_create(const mtl_host *host, int n_tasks, void **self,
                                    mtl_method_info *info)
{
    fx_weights *m = calloc(1, sizeof *m);
    mtl_status st;

    *self = NULL;
    if (!m)
        return mtl_error_set(MTL_ERR_NOMEM, "fx_weights: out of memory");
    if (n_tasks > FXW_MAX_TASKS) {
        free(m);
        return mtl_error_set(MTL_ERR_INVALID,
                             "fx_weights: too many tasks (expected at most %d, "
                             "got %d)",
                             FXW_MAX_TASKS, n_tasks);
    }
    m->k = n_tasks;
    st = fx_read(m, host, info);
    if (st != MTL_OK) {
        free(m);
        return st;
    }
    info->n_params = (size_t)m->n_params;
    info->param_init = m->init;
    memset(&fx_weights_record, 0, sizeof fx_weights_record);
    *self = m;
    return MTL_OK;
}

static void fx_weights_destroy(void *self)
{
    free(self);
}

static mtl_status fx_weights_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    fx_weights *m = self;

    (void)step;
    fx_weights_record.plan_calls++;
    plan->need = m->gram ? MTL_NEED_GRAM : MTL_NEED_LOSSES;
    plan->source = m->source;
    return MTL_OK;
}

static void fx_remember(const fx_weights *m, const mtl_method_input *in)
{
    fx_record *r = &fx_weights_record;

    r->weigh_calls++;
    r->step = in->step;
    r->had_gram = in->gram != NULL;
    for (int i = 0; i < m->k; i++)
        r->losses[i] = in->losses[i];
    if (in->gram)
        memcpy(r->gram, in->gram, (size_t)(m->k * m->k) * sizeof *in->gram);
}

static mtl_status fx_weights_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    fx_weights *m = self;

    fx_remember(m, in);
    out->loss = 0;
    for (int i = 0; i < m->k; i++) {
        out->shared_weights[i] = m->c[i];
        out->head_weights[i] = m->h[i];
        if (out->weights)
            out->weights[i] = m->c[i];
        out->loss += m->c[i] * in->losses[i];
    }
    if (in->step == m->nan_at)
        out->shared_weights[0] = NAN;
    for (int64_t j = 0; j < m->n_params; j++)
        out->param_grads[j] = j % 2 ? -0.5f : 0.5f;
    out->max_norm = m->max_norm;
    if (m->fail_every && in->step % m->fail_every == 1 % m->fail_every) {
        out->solve_failed = 1;
        out->warning = "fixture solver gave up";
    }
    return MTL_OK;
}

static const mtl_method_plugin fx_weights_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "fx_weights",
    .version = "1.0",
    .description = "host test method: the weights it is told",
    .reference = NULL,
    .options = fx_weights_options,
    .n_options = sizeof fx_weights_options / sizeof fx_weights_options[0],
    .create = fx_weights_create,
    .destroy = fx_weights_destroy,
    .plan = fx_weights_plan,
    .weigh = fx_weights_weigh,
    .state_save = NULL,
    .state_load = NULL,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void)
{
    return &fx_weights_plugin;
}
