/*
 * Adam (Kingma and Ba, 2015) as torch.optim.Adam computes it, with
 * parameter groups and a versioned state blob for checkpoints.
 *
 * Per group, at step t (from 1):
 *   g = grad + weight_decay * p                 (L2 decay added to the gradient)
 *   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
 *   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * eps is added after the bias correction of sqrt(v), as PyTorch does.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "mtl/optim.h"

typedef struct adam_group {
    mtl_adam_config cfg;
    int64_t step;
    size_t n;
    mtl_tensor **params;
    float **m, **v; /* the moments, backend memory, one per parameter */
} adam_group;

struct mtl_adam {
    const mtl_backend *be;
    adam_group *groups;
    size_t n_groups;
};

mtl_adam_config mtl_adam_defaults(void)
{
    mtl_adam_config c = {1e-3, 0.9, 0.999, 1e-8, 0.0};
    return c;
}

mtl_status mtl_adam_create(mtl_adam **opt)
{
    mtl_adam *o;

    if (!opt)
        return mtl_error_set(MTL_ERR_INVALID, "adam: mtl_adam_create: NULL argument");
    o = calloc(1, sizeof *o);
    if (!o)
        return mtl_error_set(MTL_ERR_NOMEM, "adam: mtl_adam_create: out of memory");
    o->be = mtl_backend_default();
    *opt = o;
    return MTL_OK;
}

static void group_free(const mtl_backend *be, adam_group *gr)
{
    for (size_t i = 0; i < gr->n; i++) {
        if (gr->m)
            be->mem_free(gr->m[i]);
        if (gr->v)
            be->mem_free(gr->v[i]);
    }
    free(gr->params);
    free(gr->m);
    free(gr->v);
}

void mtl_adam_destroy(mtl_adam *opt)
{
    if (!opt)
        return;
    for (size_t i = 0; i < opt->n_groups; i++)
        group_free(opt->be, &opt->groups[i]);
    free(opt->groups);
    free(opt);
}

static mtl_status check_config(const mtl_adam_config *c)
{
    if (!(c->lr > 0.0) || !isfinite(c->lr))
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: mtl_adam_add_group: bad learning rate (expected > 0, got %g)",
                             c->lr);
    if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: mtl_adam_add_group: bad beta1 (expected in [0, 1), got %g)",
                             c->beta1);
    if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: mtl_adam_add_group: bad beta2 (expected in [0, 1), got %g)",
                             c->beta2);
    if (!(c->eps > 0.0))
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: mtl_adam_add_group: bad eps (expected > 0, got %g)", c->eps);
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: mtl_adam_add_group: bad weight decay (expected >= 0, got %g)",
                             c->weight_decay);
    return MTL_OK;
}

mtl_status mtl_adam_add_group(mtl_adam *opt, const mtl_adam_config *cfg, size_t n,
                              mtl_tensor *const *params, int *group)
{
    adam_group gr = {0};
    adam_group *groups;
    mtl_status st;

    if (!opt || !cfg || (n > 0 && !params))
        return mtl_error_set(MTL_ERR_INVALID, "adam: mtl_adam_add_group: NULL argument");
    st = check_config(cfg);
    if (st != MTL_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        if (!params[i] || params[i]->kind != MTL_TENSOR_PARAM)
            return mtl_error_set(MTL_ERR_INVALID,
                                 "adam: mtl_adam_add_group: tensor %zu is not a parameter", i);

    gr.cfg = *cfg;
    gr.n = n;
    gr.params = calloc(n ? n : 1, sizeof *gr.params);
    gr.m = calloc(n ? n : 1, sizeof *gr.m);
    gr.v = calloc(n ? n : 1, sizeof *gr.v);
    if (!gr.params || !gr.m || !gr.v)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        size_t bytes = (size_t)params[i]->numel * sizeof(float);

        gr.params[i] = params[i];
        gr.m[i] = opt->be->mem_alloc(bytes);
        gr.v[i] = opt->be->mem_alloc(bytes);
        if (!gr.m[i] || !gr.v[i])
            goto nomem;
        opt->be->fill(params[i]->numel, 0.0f, gr.m[i]);
        opt->be->fill(params[i]->numel, 0.0f, gr.v[i]);
    }

    groups = realloc(opt->groups, (opt->n_groups + 1) * sizeof *groups);
    if (!groups)
        goto nomem;
    opt->groups = groups;
    opt->groups[opt->n_groups] = gr;
    if (group)
        *group = (int)opt->n_groups;
    opt->n_groups++;
    return MTL_OK;

nomem:
    group_free(opt->be, &gr);
    return mtl_error_set(MTL_ERR_NOMEM, "adam: mtl_adam_add_group: out of memory");
}

void mtl_adam_set_lr(mtl_adam *opt, int group, double lr)
{
    if (opt && group >= 0 && (size_t)group < opt->n_groups)
        opt->groups[group].cfg.lr = lr;
}

double mtl_adam_get_lr(const mtl_adam *opt, int group)
{
    if (opt && group >= 0 && (size_t)group < opt->n_groups)
        return opt->groups[group].cfg.lr;
    return NAN;
}

static void group_step(const mtl_backend *be, adam_group *gr)
{
    const mtl_adam_config *c = &gr->cfg;
    double bc1, bc2;
    mtl_adam_coef coef;

    gr->step++;
    bc1 = 1.0 - pow(c->beta1, (double)gr->step);
    bc2 = 1.0 - pow(c->beta2, (double)gr->step);
    coef.beta1 = (float)c->beta1;
    coef.beta2 = (float)c->beta2;
    coef.one_minus_beta1 = (float)(1.0 - c->beta1);
    coef.one_minus_beta2 = (float)(1.0 - c->beta2);
    coef.step_size = (float)(c->lr / bc1);
    coef.bias_correction2_sqrt = (float)sqrt(bc2);
    coef.eps = (float)c->eps;
    coef.weight_decay = (float)c->weight_decay;
    for (size_t i = 0; i < gr->n; i++) {
        mtl_tensor *p = gr->params[i];
        be->adam(p->numel, p->data, p->gacc, gr->m[i], gr->v[i], &coef);
    }
}

mtl_status mtl_adam_step(mtl_adam *opt)
{
    if (!opt)
        return mtl_error_set(MTL_ERR_INVALID, "adam: mtl_adam_step: NULL optimizer");
    for (size_t i = 0; i < opt->n_groups; i++)
        group_step(opt->be, &opt->groups[i]);
    return MTL_OK;
}

/* ---- state blob ------------------------------------------------------------
 *
 * Native byte order (checkpoints stay on the machine kind that wrote them):
 *   char magic[8] "mtladam"; u32 version; u32 n_groups;
 *   per group: u64 n_params, i64 step, f64 lr, then u64 numel per parameter;
 *   per group, per parameter: float m[numel], float v[numel];
 *   u64 FNV-1a checksum of every byte before it.
 */

#define STATE_MAGIC   "mtladam"
#define STATE_VERSION 1u

static size_t state_size(const mtl_adam *opt)
{
    size_t bytes = 8 + 4 + 4 + 8;

    for (size_t i = 0; i < opt->n_groups; i++) {
        const adam_group *gr = &opt->groups[i];
        bytes += 8 + 8 + 8 + 8 * gr->n;
        for (size_t j = 0; j < gr->n; j++)
            bytes += 2 * (size_t)gr->params[j]->numel * sizeof(float);
    }
    return bytes;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;

    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static unsigned char *put(unsigned char *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

mtl_status mtl_adam_state_save(const mtl_adam *opt, void *buf, size_t cap, size_t *len)
{
    unsigned char *p = buf;
    uint32_t version = STATE_VERSION, n_groups;
    size_t need;
    uint64_t sum;

    if (!opt || !len)
        return mtl_error_set(MTL_ERR_INVALID, "adam: state save: NULL argument");
    need = state_size(opt);
    *len = need;
    if (!buf)
        return MTL_OK;
    if (cap < need)
        return mtl_error_set(MTL_ERR_INVALID,
                             "adam: state save: buffer too small (expected %zu bytes, got %zu)",
                             need, cap);

    n_groups = (uint32_t)opt->n_groups;
    p = put(p, STATE_MAGIC "", 8);
    p = put(p, &version, 4);
    p = put(p, &n_groups, 4);
    for (size_t i = 0; i < opt->n_groups; i++) {
        const adam_group *gr = &opt->groups[i];
        uint64_t n = gr->n;

        p = put(p, &n, 8);
        p = put(p, &gr->step, 8);
        p = put(p, &gr->cfg.lr, 8);
        for (size_t j = 0; j < gr->n; j++) {
            uint64_t numel = (uint64_t)gr->params[j]->numel;
            p = put(p, &numel, 8);
        }
    }
    for (size_t i = 0; i < opt->n_groups; i++) {
        const adam_group *gr = &opt->groups[i];
        for (size_t j = 0; j < gr->n; j++) {
            size_t numel = (size_t)gr->params[j]->numel;
            opt->be->to_host((float *)(void *)p, gr->m[j], numel);
            p += numel * sizeof(float);
            opt->be->to_host((float *)(void *)p, gr->v[j], numel);
            p += numel * sizeof(float);
        }
    }
    sum = fnv1a(buf, need - 8);
    put(p, &sum, 8);
    return MTL_OK;
}

static const unsigned char *get(const unsigned char *p, void *v, size_t n)
{
    memcpy(v, p, n);
    return p + n;
}

/* Checks that the blob describes this optimizer's groups and parameters. */
static mtl_status check_layout(const mtl_adam *opt, const unsigned char *p,
                               const unsigned char *end)
{
    uint32_t n_groups;
    size_t header = 4;

    for (size_t i = 0; i < opt->n_groups; i++)
        header += 24 + 8 * opt->groups[i].n;
    p = get(p, &n_groups, 4);
    if (n_groups != opt->n_groups)
        return mtl_error_set(MTL_ERR_DATA,
                             "adam: state load: group count differs (expected %zu, got %u)",
                             opt->n_groups, (unsigned)n_groups);
    if ((size_t)(end - p) + 4 < header)
        return mtl_error_set(MTL_ERR_DATA, "adam: state load: truncated state");
    for (size_t i = 0; i < opt->n_groups; i++) {
        const adam_group *gr = &opt->groups[i];
        uint64_t n, numel;

        p = get(p, &n, 8);
        if (n != gr->n)
            return mtl_error_set(MTL_ERR_DATA,
                                 "adam: state load: group %zu: parameter count differs (expected "
                                 "%zu, got %llu)",
                                 i, gr->n, (unsigned long long)n);
        p += 16;
        for (size_t j = 0; j < gr->n; j++) {
            p = get(p, &numel, 8);
            if (numel != (uint64_t)gr->params[j]->numel)
                return mtl_error_set(MTL_ERR_DATA,
                                     "adam: state load: group %zu, parameter %zu: size differs "
                                     "(expected %lld elements, got %llu)",
                                     i, j, (long long)gr->params[j]->numel,
                                     (unsigned long long)numel);
        }
    }
    return MTL_OK;
}

mtl_status mtl_adam_state_load(mtl_adam *opt, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint32_t version;
    uint64_t sum;
    size_t need;
    mtl_status st;

    if (!opt || !buf)
        return mtl_error_set(MTL_ERR_INVALID, "adam: state load: NULL argument");
    if (len < 24 || memcmp(p, STATE_MAGIC "", 8) != 0)
        return mtl_error_set(MTL_ERR_DATA, "adam: state load: not an optimizer state (bad magic)");
    memcpy(&version, p + 8, 4);
    if (version != STATE_VERSION)
        return mtl_error_set(MTL_ERR_DATA,
                             "adam: state load: unsupported version (expected %u, got %u)",
                             STATE_VERSION, (unsigned)version);
    memcpy(&sum, p + len - 8, 8);
    if (sum != fnv1a(p, len - 8))
        return mtl_error_set(MTL_ERR_DATA, "adam: state load: checksum mismatch (corrupt state)");
    st = check_layout(opt, p + 12, p + len - 8);
    if (st != MTL_OK)
        return st;
    need = state_size(opt);
    if (len != need)
        return mtl_error_set(MTL_ERR_DATA,
                             "adam: state load: size differs (expected %zu bytes, got %zu)", need,
                             len);

    /* Everything checked: now overwrite the state. */
    p += 16;
    for (size_t i = 0; i < opt->n_groups; i++) {
        adam_group *gr = &opt->groups[i];
        p += 8;
        p = get(p, &gr->step, 8);
        p = get(p, &gr->cfg.lr, 8);
        p += 8 * gr->n;
    }
    for (size_t i = 0; i < opt->n_groups; i++) {
        adam_group *gr = &opt->groups[i];
        for (size_t j = 0; j < gr->n; j++) {
            size_t numel = (size_t)gr->params[j]->numel;
            opt->be->from_host(gr->m[j], (const float *)(const void *)p, numel);
            p += numel * sizeof(float);
            opt->be->from_host(gr->v[j], (const float *)(const void *)p, numel);
            p += numel * sizeof(float);
        }
    }
    return MTL_OK;
}
