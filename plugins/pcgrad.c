/*
 * pcgrad - projecting conflicting gradients (Yu et al., "Gradient Surgery
 * for Multi-Task Learning", NeurIPS 2020), as in the reference's PCGrad:
 *
 *   for each task i: v_i = g_i; for each task j in a random order (all k
 *   tasks, i included), if v_i . g_j < 0 (the ORIGINAL g_j), remove from
 *   v_i its component along g_j;
 *   shared update = sum_i v_i (reduction sum) or its mean;
 *   the heads get the plain sum of the task gradients (h_i = 1).
 *
 * Every v_i stays a combination of the original gradients, so we track its
 * coefficients P_i (v_i = sum_m P_im g_m) and read the inner products from
 * the Gram matrix: v_i . g_j = sum_m P_im M_mj.  The shared coefficients
 * are c = sum_i P_i (divided by k for mean).
 *
 * The order: a fresh uniformly random permutation for each task i, by a
 * Fisher-Yates shuffle of 0..k-1 (k - 1 draws from host->rng).  The
 * reference shuffles one list in place again and again, which gives the
 * same distribution; starting from 0..k-1 each time keeps the method free
 * of state, so a checkpoint needs only the host's rng.
 */
#include <stdlib.h>
#include <string.h>

#include "method_util.h"

typedef struct pcgrad_method {
    int k;
    int mean; /* reduction mean (else sum) */
    mtl_rng *rng;
    int64_t *order;
    double *p; /* coefficients of v_i, k */
    double *c;
    double *h;
} pcgrad_method;

static const mtl_option pcgrad_options[] = {
    {"reduction", MTL_OPT_ENUM, "sum", "sum|mean", 0, 0, 0,
     "shared update: the sum or the mean of the projected gradients"},
};

static void pcgrad_destroy(void *self)
{
    pcgrad_method *m = self;

    if (!m)
        return;
    free(m->order);
    free(m->p);
    free(m->c);
    free(m->h);
    free(m);
}

static mtl_status pcgrad_create(const mtl_host *host, int n_tasks, void **self,
                                mtl_method_info *info)
{
    pcgrad_method *m;
    int reduction;
    size_t k = (size_t)n_tasks;
    mtl_status st = mu_enum_read(host, pcgrad_options, 1, "reduction", &reduction);

    (void)info;
    if (st != MTL_OK)
        return st;
    m = calloc(1, sizeof *m);
    if (!m || !(m->order = calloc(k, sizeof *m->order)) || !(m->p = calloc(k, sizeof *m->p)) ||
        !(m->c = calloc(k, sizeof *m->c)) || !(m->h = calloc(k, sizeof *m->h))) {
        pcgrad_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->mean = reduction == 1;
    m->rng = host->rng;
    *self = m;
    return MTL_OK;
}

static mtl_status pcgrad_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_GRAM;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

/* Projects v_i (coefficients m->p, starting at e_i) against conflicting g_j. */
static void pcgrad_project(pcgrad_method *m, const double *M, int i)
{
    int k = m->k;

    memset(m->p, 0, (size_t)k * sizeof *m->p);
    m->p[i] = 1.0;
    for (int t = 0; t < k; t++)
        m->order[t] = t;
    mtl_rng_shuffle(m->rng, m->order, (size_t)k);

    for (int t = 0; t < k; t++) {
        int j = (int)m->order[t];
        double dot = 0.0;

        for (int q = 0; q < k; q++)
            dot += m->p[q] * M[q * k + j];
        /* dot < 0 implies g_j != 0; the test on M_jj guards rounding. */
        if (dot < 0.0 && M[j * k + j] > 0.0)
            m->p[j] -= dot / M[j * k + j];
    }
}

static mtl_status pcgrad_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    pcgrad_method *m = self;
    int k = m->k;
    double loss = 0.0;
    mtl_status st = mu_gram_check(in);

    if (st != MTL_OK)
        return st;
    memset(m->c, 0, (size_t)k * sizeof *m->c);
    for (int i = 0; i < k; i++) {
        pcgrad_project(m, in->gram, i);
        for (int q = 0; q < k; q++)
            m->c[q] += m->p[q];
    }
    for (int i = 0; i < k; i++) {
        if (m->mean)
            m->c[i] /= k;
        m->h[i] = 1.0;
        loss += in->losses[i];
    }

    memcpy(out->shared_weights, m->c, (size_t)k * sizeof *m->c);
    memcpy(out->head_weights, m->h, (size_t)k * sizeof *m->h);
    mu_output_report(out, m->c, k);
    out->loss = loss;
    return mu_output_check(out, k, 0);
}

static const mtl_method_plugin pcgrad_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "pcgrad",
    .version = "1.0",
    .description = "PCGrad: project each gradient off the task gradients it conflicts with",
    .reference = "Yu et al., NeurIPS 2020",
    .options = pcgrad_options,
    .n_options = sizeof pcgrad_options / sizeof pcgrad_options[0],
    .create = pcgrad_create,
    .destroy = pcgrad_destroy,
    .plan = pcgrad_plan,
    .weigh = pcgrad_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &pcgrad_plugin;
}
