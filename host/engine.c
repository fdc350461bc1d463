/*
 * The per-task gradient engine (see engine.h): the host's step 3 and 4 of
 * DESIGN.md.  For a Gram step it runs one backward pass per task through
 * the retained graph, keeps each task's gradient of the shared parameters
 * (and of its own head), forms M = J J^T in double, asks the method for the
 * weights, and writes shared = sum_i c_i g_i and head_i = h_i g_i^head into
 * the parameters' gradients, with no further backward pass.
 */
#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A run of the flattened shared vector: the parameters of one tensor. */
typedef struct range {
    size_t off, len;
} range;

struct host_engine {
    host_engine_config cfg;
    int k;
    const char *method_name;

    /* shared parameters, flattened in model order into d_shared values */
    size_t n_shared, d_shared;
    mtl_tensor **shared;
    range *shared_at;
    size_t n_last; /* the ranges of the last shared layer */
    range *last_at;

    /* task heads, flattened into d_heads values */
    size_t n_heads, d_heads;
    mtl_tensor **heads;
    int *head_task;
    range *head_at;

    /*
     * Per-task gradients of a Gram step: k rows of d_shared values.
     * TODO: for the LAST and REP sources only the Gram matrix needs the
     * per-task rows of the source; the shared update could be formed by one
     * more backward pass of sum_i c_i l_i instead of storing k full rows.
     * Storing them is correct and costs k x d_shared floats, which the
     * current experiments afford.
     */
    float *task_grads;
    float *head_grads; /* each head's gradient from its own task's pass */
    float *rep_grads;  /* k rows of d_rep values (source REP) */
    size_t d_rep, rep_cap;

    double *gram, *losses, *c, *h, *w;
    float *seeds;

    /* the method's parameters, trained in their own optimizer group */
    mtl_model *method_model;
    mtl_tensor *method_params;
    size_t n_mparams;
    float *param_values, *param_grads;
    mtl_method_output mout;

    mtl_adam *adam;
    int n_groups;
};

static const char *task_name(const host_engine *e, int i)
{
    static _Thread_local char fallback[32];

    if (e->cfg.task_names && e->cfg.task_names[i])
        return e->cfg.task_names[i];
    snprintf(fallback, sizeof fallback, "task %d", i);
    return fallback;
}

/* ---- creation --------------------------------------------------------- */

static void *zalloc(size_t n, size_t size)
{
    return calloc(n ? n : 1, size);
}

static mtl_status add_param(host_engine *e, mtl_tensor *p)
{
    mtl_param_info info;
    size_t n = (size_t)mtl_tensor_numel(p);
    mtl_status st = mtl_param_get_info(p, &info);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "engine: reading the model's parameters");
    if (info.role == MTL_ROLE_SHARED) {
        if (info.flags & MTL_PARAM_LAST_SHARED)
            e->last_at[e->n_last++] = (range){e->d_shared, n};
        e->shared_at[e->n_shared] = (range){e->d_shared, n};
        e->shared[e->n_shared++] = p;
        e->d_shared += n;
        return MTL_OK;
    }
    if (info.role == MTL_ROLE_TASK && info.task >= 0 && info.task < e->k) {
        e->head_at[e->n_heads] = (range){e->d_heads, n};
        e->head_task[e->n_heads] = info.task;
        e->heads[e->n_heads++] = p;
        e->d_heads += n;
        return MTL_OK;
    }
    return mtl_error_set(MTL_ERR_PLUGIN,
                         "engine: bad parameter role: '%s' has role %d, task %d (expected a "
                         "shared parameter or the head of a task in 0..%d)",
                         info.name ? info.name : "?", (int)info.role, info.task, e->k - 1);
}

static mtl_status collect_params(host_engine *e)
{
    size_t n = mtl_model_n_params(e->cfg.model);

    if (n == 0)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "engine: the model has no parameters (expected at least 1, got 0)");
    e->shared = zalloc(n, sizeof *e->shared);
    e->shared_at = zalloc(n, sizeof *e->shared_at);
    e->last_at = zalloc(n, sizeof *e->last_at);
    e->heads = zalloc(n, sizeof *e->heads);
    e->head_task = zalloc(n, sizeof *e->head_task);
    e->head_at = zalloc(n, sizeof *e->head_at);
    if (!e->shared || !e->shared_at || !e->last_at || !e->heads || !e->head_task || !e->head_at)
        return mtl_error_set(MTL_ERR_NOMEM, "engine: out of memory: parameter lists");
    for (size_t i = 0; i < n; i++) {
        mtl_status st = add_param(e, mtl_model_param_at(e->cfg.model, i));
        if (st != MTL_OK)
            return st;
    }
    return MTL_OK;
}

static mtl_status alloc_buffers(host_engine *e)
{
    size_t k = (size_t)e->k;
    size_t np = e->cfg.method_info->n_params;

    e->task_grads = zalloc(k * e->d_shared, sizeof *e->task_grads);
    e->head_grads = zalloc(e->d_heads, sizeof *e->head_grads);
    e->gram = zalloc(k * k, sizeof *e->gram);
    e->losses = zalloc(k, sizeof *e->losses);
    e->c = zalloc(k, sizeof *e->c);
    e->h = zalloc(k, sizeof *e->h);
    e->w = zalloc(k, sizeof *e->w);
    e->seeds = zalloc(k, sizeof *e->seeds);
    e->param_values = zalloc(np, sizeof *e->param_values);
    e->param_grads = zalloc(np, sizeof *e->param_grads);
    if (!e->task_grads || !e->head_grads || !e->gram || !e->losses || !e->c || !e->h || !e->w ||
        !e->seeds || !e->param_values || !e->param_grads)
        return mtl_error_set(MTL_ERR_NOMEM,
                             "engine: out of memory: per-task gradients (%zu tasks x %zu values)",
                             k, e->d_shared);
    return MTL_OK;
}

static mtl_status create_method_params(host_engine *e)
{
    const mtl_method_info *info = e->cfg.method_info;
    int64_t shape[1] = {(int64_t)info->n_params};
    mtl_status st;

    e->n_mparams = info->n_params;
    if (e->n_mparams == 0)
        return MTL_OK;
    if (!info->param_init || !(info->param_lr > 0))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "engine: %s broke its contract: %zu parameters need param_init and "
                             "param_lr > 0 (got param_init %s, param_lr %g)",
                             e->method_name, e->n_mparams, info->param_init ? "set" : "NULL",
                             info->param_lr);
    st = mtl_model_create(&e->method_model);
    if (st != MTL_OK)
        return st;
    e->method_params =
        mtl_model_param(e->method_model, "method.params", MTL_ROLE_SHARED, -1, 0, 1, shape);
    if (!e->method_params)
        return mtl_error_wrap(MTL_ERR_NOMEM, "engine: the method's parameters");
    return mtl_tensor_write(e->method_params, info->param_init, e->n_mparams);
}

static mtl_status create_optimizer(host_engine *e)
{
    mtl_adam_config cfg = mtl_adam_defaults();
    size_t n = mtl_model_n_params(e->cfg.model);
    mtl_tensor **all = zalloc(n, sizeof *all);
    mtl_status st;
    int group;

    if (!all)
        return mtl_error_set(MTL_ERR_NOMEM, "engine: out of memory: optimizer");
    for (size_t i = 0; i < n; i++)
        all[i] = mtl_model_param_at(e->cfg.model, i);
    cfg.lr = e->cfg.lr;
    cfg.weight_decay = e->cfg.weight_decay;
    st = mtl_adam_create(&e->adam);
    if (st == MTL_OK)
        st = mtl_adam_add_group(e->adam, &cfg, n, all, &group);
    free(all);
    e->n_groups = 1;
    if (st != MTL_OK || e->n_mparams == 0)
        return st;
    /* The reference trains the method's parameters undecayed, at their own lr. */
    cfg.lr = e->cfg.method_info->param_lr;
    cfg.weight_decay = 0;
    st = mtl_adam_add_group(e->adam, &cfg, 1, &e->method_params, &group);
    e->n_groups = 2;
    return st;
}

mtl_status host_engine_create(host_engine **engine, const host_engine_config *cfg)
{
    host_engine *e = calloc(1, sizeof *e);
    mtl_status st;

    *engine = NULL;
    if (!e)
        return mtl_error_set(MTL_ERR_NOMEM, "engine: out of memory");
    e->cfg = *cfg;
    e->k = cfg->n_tasks;
    e->method_name = cfg->method->name;
    st = collect_params(e);
    if (st == MTL_OK)
        st = alloc_buffers(e);
    if (st == MTL_OK)
        st = create_method_params(e);
    if (st == MTL_OK)
        st = create_optimizer(e);
    if (st != MTL_OK) {
        host_engine_destroy(e);
        return st;
    }
    *engine = e;
    return MTL_OK;
}

void host_engine_destroy(host_engine *e)
{
    if (!e)
        return;
    mtl_adam_destroy(e->adam);
    mtl_model_destroy(e->method_model);
    free(e->shared);
    free(e->shared_at);
    free(e->last_at);
    free(e->heads);
    free(e->head_task);
    free(e->head_at);
    free(e->task_grads);
    free(e->head_grads);
    free(e->rep_grads);
    free(e->gram);
    free(e->losses);
    free(e->c);
    free(e->h);
    free(e->w);
    free(e->seeds);
    free(e->param_values);
    free(e->param_grads);
    free(e);
}

mtl_adam *host_engine_adam(host_engine *e)
{
    return e->adam;
}

int host_engine_n_groups(const host_engine *e)
{
    return e->n_groups;
}

mtl_tensor *host_engine_method_params(host_engine *e)
{
    return e->method_params;
}

/* ---- gradient buffers ------------------------------------------------- */

/*
 * The gradient buffer of a parameter, made to exist when the last backward
 * pass did not reach it: back-propagating sum(p * 0) gives it a zero
 * gradient through the public API alone, on any backend.
 */
static float *grad_buffer(mtl_graph *g, mtl_tensor *p)
{
    int64_t shape[MTL_MAX_DIMS];
    int nd = mtl_tensor_ndim(p);
    const float one = 1.0f;
    mtl_tensor *zero, *s;
    float *data;

    if (mtl_tensor_grad(p))
        return mtl_tensor_grad(p);
    for (int i = 0; i < nd; i++)
        shape[i] = mtl_tensor_dim(p, i);
    zero = mtl_graph_input(g, nd, shape);
    data = zero ? mtl_tensor_data(zero) : NULL;
    if (!data)
        return NULL;
    memset(data, 0, (size_t)mtl_tensor_numel(p) * sizeof *data);
    s = mtl_sum(g, mtl_mul(g, p, zero));
    if (!s || mtl_graph_backward(g, 1, &s, &one) != MTL_OK)
        return NULL;
    return mtl_tensor_grad(p);
}

static mtl_status no_buffer(mtl_tensor *p)
{
    mtl_param_info info = {0};

    mtl_param_get_info(p, &info);
    return mtl_error_set(MTL_ERR_INVALID,
                         "engine: cannot write a gradient: parameter '%s' has no gradient buffer",
                         info.name ? info.name : "?");
}

/* Copies p's gradient (zeros when it has none); 0 when a value is not finite. */
static int copy_grad(mtl_tensor *p, float *dst, size_t n)
{
    const float *src = mtl_tensor_grad(p);
    int finite = 1;

    if (!src) {
        memset(dst, 0, n * sizeof *dst);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        dst[i] = src[i];
        finite &= isfinite(src[i]) != 0;
    }
    return finite;
}

static int grads_finite(mtl_tensor *const *params, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const float *gp = mtl_tensor_grad(params[j]);
        size_t len = (size_t)mtl_tensor_numel(params[j]);
        for (size_t i = 0; gp && i < len; i++)
            if (!isfinite(gp[i]))
                return 0;
    }
    return 1;
}

/* ---- the k backward passes -------------------------------------------- */

/*
 * The step's last pass releases the step's intermediate values as it goes
 * (mtl_graph_backward_last): the losses were read before it, and nothing
 * after it reads the graph's values.
 */
static mtl_status backward_task(host_engine *e, mtl_graph *g, const mtl_task_output *out, int i)
{
    const float one = 1.0f;
    mtl_status st;

    mtl_model_zero_grad(e->cfg.model);
    st = i == e->k - 1 ? mtl_graph_backward_last(g, 1, &out->losses[i], &one)
                       : mtl_graph_backward(g, 1, &out->losses[i], &one);
    if (st != MTL_OK)
        return mtl_error_wrap(st, "engine: backward pass of task '%s'", task_name(e, i));
    return MTL_OK;
}

static mtl_status prepare_rep(host_engine *e, mtl_graph *g, const mtl_task_output *out)
{
    size_t n, need;

    if (!out->rep)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "engine: no shared representation: the task marks none (expected "
                             "a rep tensor from forward for the method's gradients 'rep')");
    n = (size_t)mtl_tensor_numel(out->rep);
    need = n * (size_t)e->k;
    if (need > e->rep_cap) {
        float *grown = realloc(e->rep_grads, need * sizeof *grown);
        if (!grown)
            return mtl_error_set(MTL_ERR_NOMEM, "engine: out of memory: representation gradients");
        e->rep_grads = grown;
        e->rep_cap = need;
    }
    e->d_rep = n;
    mtl_graph_retain_grad(g, out->rep);
    return MTL_OK;
}

/* Keeps task i's gradients; 0 when one is not finite. */
static int keep_task_grads(host_engine *e, const mtl_task_output *out, int i,
                           mtl_grad_source source)
{
    float *row = e->task_grads + (size_t)i * e->d_shared;
    int finite = 1;

    for (size_t j = 0; j < e->n_shared; j++)
        finite &= copy_grad(e->shared[j], row + e->shared_at[j].off, e->shared_at[j].len);
    /* A head only takes its own task's gradient; other tasks' losses do not use it. */
    for (size_t j = 0; j < e->n_heads; j++)
        if (e->head_task[j] == i)
            finite &= copy_grad(e->heads[j], e->head_grads + e->head_at[j].off, e->head_at[j].len);
    if (source == MTL_GRADS_REP)
        finite &= copy_grad(out->rep, e->rep_grads + (size_t)i * e->d_rep, e->d_rep);
    return finite;
}

static double dot_ranges(const float *a, const float *b, const range *at, size_t n)
{
    double acc = 0;

    for (size_t r = 0; r < n; r++)
        for (size_t x = at[r].off; x < at[r].off + at[r].len; x++)
            acc += (double)a[x] * (double)b[x];
    return acc;
}

/* M = J J^T of the chosen gradients, accumulated in double; 0 if not finite. */
static int compute_gram(host_engine *e, mtl_grad_source source)
{
    const float *base = e->task_grads;
    size_t stride = e->d_shared;
    range whole = {0, e->d_shared};
    const range *at = &whole;
    size_t n = 1;
    int finite = 1;

    if (source == MTL_GRADS_LAST) {
        at = e->last_at;
        n = e->n_last;
    } else if (source == MTL_GRADS_REP) {
        base = e->rep_grads;
        stride = whole.len = e->d_rep;
    }
    for (int i = 0; i < e->k; i++) {
        for (int j = 0; j <= i; j++) {
            double m = dot_ranges(base + (size_t)i * stride, base + (size_t)j * stride, at, n);
            e->gram[i * e->k + j] = e->gram[j * e->k + i] = m;
            finite &= isfinite(m) != 0;
        }
    }
    return finite;
}

static void skip(host_step *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void skip(host_step *r, const char *fmt, ...)
{
    va_list ap;

    r->skipped = 1;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static mtl_status gram_passes(host_engine *e, mtl_graph *g, const mtl_task_output *out,
                              mtl_grad_source source, host_step *r)
{
    mtl_status st;

    if (source == MTL_GRADS_LAST && e->n_last == 0)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "engine: no last shared layer: the task marks no parameter "
                             "MTL_PARAM_LAST_SHARED (expected some for the method's gradients "
                             "'last')");
    if (source == MTL_GRADS_REP && (st = prepare_rep(e, g, out)) != MTL_OK)
        return st;
    for (int i = 0; i < e->k; i++) {
        if ((st = backward_task(e, g, out, i)) != MTL_OK)
            return st;
        if (!keep_task_grads(e, out, i, source)) {
            skip(r, "the gradient of task '%s' is not finite", task_name(e, i));
            return MTL_OK;
        }
    }
    if (!compute_gram(e, source))
        skip(r, "the Gram matrix is not finite");
    return MTL_OK;
}

/* ---- the method ------------------------------------------------------- */

static mtl_status read_losses(host_engine *e, const mtl_task_output *out, host_step *r)
{
    for (int i = 0; i < e->k; i++) {
        if (!out->losses[i] || mtl_tensor_numel(out->losses[i]) != 1)
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "engine: the task broke its contract: loss of task '%s' (expected "
                                 "a one-element tensor, got %s)",
                                 task_name(e, i), out->losses[i] ? "a larger tensor" : "NULL");
        e->losses[i] = mtl_tensor_item(out->losses[i]);
        if (!isfinite(e->losses[i])) {
            skip(r, "task '%s' has a non-finite loss (%g)", task_name(e, i), e->losses[i]);
            return MTL_OK;
        }
    }
    return MTL_OK;
}

static mtl_status ask_plan(host_engine *e, int64_t step, mtl_method_plan *plan)
{
    mtl_status st = e->cfg.method->plan(e->cfg.method_self, step, plan);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s", e->method_name);
    if ((unsigned)plan->need > MTL_NEED_GRAM ||
        (plan->need == MTL_NEED_GRAM && (unsigned)plan->source > MTL_GRADS_REP))
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "engine: %s broke its contract: bad plan (expected need 0..1 and "
                             "source 0..2, got need %d, source %d)",
                             e->method_name, (int)plan->need, (int)plan->source);
    return MTL_OK;
}

static mtl_status call_weigh(host_engine *e, int64_t step, int use_gram, host_step *r)
{
    mtl_method_input in = {step, e->k, e->losses, use_gram ? e->gram : NULL, NULL};
    mtl_status st;

    memset(e->c, 0, (size_t)e->k * sizeof *e->c);
    memset(e->h, 0, (size_t)e->k * sizeof *e->h);
    memset(e->w, 0, (size_t)e->k * sizeof *e->w);
    memset(e->param_grads, 0, e->n_mparams * sizeof *e->param_grads);
    e->mout = (mtl_method_output){e->c, e->h, e->param_grads, 0, 0, 0, NULL, e->w};
    if (e->n_mparams) {
        st = mtl_tensor_read(e->method_params, e->param_values, e->n_mparams);
        if (st != MTL_OK)
            return st;
        in.params = e->param_values;
    }
    st = e->cfg.method->weigh(e->cfg.method_self, &in, &e->mout);
    /*
     * A method that refuses its own non-finite output (MTL_ERR_NUMERIC: weights of 1e308
     * overflow the weighted loss) is a non-finite method output: the step is skipped.
     */
    if (st == MTL_ERR_NUMERIC) {
        skip(r, "%s: %s", e->method_name, mtl_error_message());
        mtl_error_clear();
        return MTL_OK;
    }
    if (st != MTL_OK)
        return mtl_error_wrap(st, "%s", e->method_name);
    return MTL_OK;
}

static int output_finite(const host_engine *e)
{
    for (int i = 0; i < e->k; i++)
        if (!isfinite(e->c[i]) || !isfinite(e->h[i]) || !isfinite(e->w[i]))
            return 0;
    for (size_t i = 0; i < e->n_mparams; i++)
        if (!isfinite(e->param_grads[i]))
            return 0;
    return isfinite(e->mout.max_norm) && isfinite(e->mout.loss);
}

static mtl_status check_output(const host_engine *e, int use_gram)
{
    if (e->mout.max_norm < 0)
        return mtl_error_set(MTL_ERR_PLUGIN,
                             "engine: %s broke its contract: max_norm (expected >= 0, got %g)",
                             e->method_name, e->mout.max_norm);
    if (use_gram)
        return MTL_OK;
    for (int i = 0; i < e->k; i++)
        if (e->c[i] != e->h[i])
            return mtl_error_set(MTL_ERR_PLUGIN,
                                 "engine: %s broke its contract: shared and head weights differ "
                                 "on a losses-only step (expected c[%d] == h[%d], got %.17g and "
                                 "%.17g)",
                                 e->method_name, i, i, e->c[i], e->h[i]);
    return MTL_OK;
}

/* ---- forming the update ----------------------------------------------- */

/* shared = sum_i c_i g_i and head_i = h_i g_i^head, into the parameters' gradients. */
static mtl_status write_combination(host_engine *e, mtl_graph *g)
{
    for (size_t j = 0; j < e->n_shared; j++) {
        float *dst = grad_buffer(g, e->shared[j]);
        const float *col = e->task_grads + e->shared_at[j].off;
        if (!dst)
            return no_buffer(e->shared[j]);
        for (size_t x = 0; x < e->shared_at[j].len; x++) {
            double acc = 0;
            for (int i = 0; i < e->k; i++)
                acc += e->c[i] * (double)col[(size_t)i * e->d_shared + x];
            dst[x] = (float)acc;
        }
    }
    for (size_t j = 0; j < e->n_heads; j++) {
        float *dst = grad_buffer(g, e->heads[j]);
        const float *src = e->head_grads + e->head_at[j].off;
        double w = e->h[e->head_task[j]];
        if (!dst)
            return no_buffer(e->heads[j]);
        for (size_t x = 0; x < e->head_at[j].len; x++)
            dst[x] = (float)(w * (double)src[x]);
    }
    return MTL_OK;
}

static mtl_status weighted_backward(host_engine *e, mtl_graph *g, const mtl_task_output *out)
{
    mtl_status st;

    for (int i = 0; i < e->k; i++)
        e->seeds[i] = (float)e->c[i];
    mtl_model_zero_grad(e->cfg.model);
    st = mtl_graph_backward_last(g, e->k, out->losses, e->seeds);
    if (st != MTL_OK)
        return mtl_error_wrap(st, "engine: backward pass of the weighted loss");
    return MTL_OK;
}

static double shared_norm(const host_engine *e)
{
    double acc = 0;

    for (size_t j = 0; j < e->n_shared; j++) {
        const float *gp = mtl_tensor_grad(e->shared[j]);
        for (size_t x = 0; gp && x < e->shared_at[j].len; x++)
            acc += (double)gp[x] * (double)gp[x];
    }
    return sqrt(acc);
}

/* As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when below 1. */
static void clip_shared(host_engine *e, double norm, double max_norm)
{
    double coef = max_norm / (norm + 1e-6);

    if (!(max_norm > 0) || coef >= 1)
        return;
    for (size_t j = 0; j < e->n_shared; j++) {
        float *gp = mtl_tensor_grad(e->shared[j]);
        for (size_t x = 0; gp && x < e->shared_at[j].len; x++)
            gp[x] = (float)((double)gp[x] * coef);
    }
}

static mtl_status write_param_grads(host_engine *e, mtl_graph *g)
{
    float *dst;

    if (e->n_mparams == 0)
        return MTL_OK;
    mtl_model_zero_grad(e->method_model);
    dst = grad_buffer(g, e->method_params);
    if (!dst)
        return no_buffer(e->method_params);
    memcpy(dst, e->param_grads, e->n_mparams * sizeof *dst);
    return MTL_OK;
}

static void fill_result(const host_engine *e, host_step *r, int use_gram)
{
    r->losses = e->losses;
    r->shared_weights = e->c;
    r->head_weights = e->h;
    r->weights = e->w;
    r->used_gram = use_gram;
    r->loss = e->mout.loss;
    r->solve_failed = e->mout.solve_failed != 0;
    r->warning = e->mout.warning;
}

/* After weigh: the update into the gradients, checked and clipped. */
static mtl_status form_update(host_engine *e, mtl_graph *g, const mtl_task_output *out,
                              int use_gram, host_step *r)
{
    mtl_status st;

    if (!output_finite(e)) {
        skip(r, "%s returned non-finite weights, parameter gradients or loss", e->method_name);
        return MTL_OK;
    }
    if ((st = check_output(e, use_gram)) != MTL_OK)
        return st;
    st = use_gram ? write_combination(e, g) : weighted_backward(e, g, out);
    if (st != MTL_OK)
        return st;
    r->grad_norm = shared_norm(e);
    if (!isfinite(r->grad_norm) || !grads_finite(e->heads, e->n_heads)) {
        skip(r, "the weighted gradient is not finite");
        return MTL_OK;
    }
    clip_shared(e, r->grad_norm, e->mout.max_norm);
    return write_param_grads(e, g);
}

mtl_status host_engine_gradients(host_engine *e, mtl_graph *g, const mtl_task_output *out,
                                 int64_t step, host_step *r)
{
    mtl_method_plan plan = {MTL_NEED_LOSSES, MTL_GRADS_SHARED};
    int use_gram;
    mtl_status st;

    memset(r, 0, sizeof *r);
    fill_result(e, r, 0);
    if ((st = read_losses(e, out, r)) != MTL_OK || r->skipped)
        return st;
    if ((st = ask_plan(e, step, &plan)) != MTL_OK)
        return st;
    use_gram = plan.need == MTL_NEED_GRAM;
    if (use_gram && ((st = gram_passes(e, g, out, plan.source, r)) != MTL_OK || r->skipped))
        return st;
    if ((st = call_weigh(e, step, use_gram, r)) != MTL_OK || r->skipped)
        return st;
    fill_result(e, r, use_gram);
    return form_update(e, g, out, use_gram, r);
}

mtl_status host_engine_apply(host_engine *e)
{
    mtl_status st = mtl_adam_step(e->adam);

    if (st != MTL_OK)
        return mtl_error_wrap(st, "engine: optimizer step");
    return MTL_OK;
}
