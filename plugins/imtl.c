/*
 * imtl - IMTL-G (Liu et al., "Towards Impartial Multi-task Learning", ICLR
 * 2021), the closed form of the reference's IMTLG class: the update
 * g = sum_i a_i g_i with sum_i a_i = 1 whose projections on every unit
 * gradient u_i are equal.  With D the rows g_1 - g_j and U the rows
 * u_1 - u_j (j = 2..k),
 *
 *     a_{2..k} = g_1 U^T (D U^T)^-1,   a_1 = 1 - sum_{j>=2} a_j,
 *
 * and the loss is sum_i a_i l_i.  Every product is read from the Gram
 * matrix: g_a . u_b = M_ab / |g_b| with |g_b| = sqrt(M_bb).
 *
 * Degenerate inputs (plugins/README.md):
 *   - a task with a zero gradient (method_util.h) has no unit gradient: it
 *     gets weight 0 and the closed form runs over the other tasks (all zero:
 *     every weight 0); one non-zero task gets weight 1;
 *   - a singular D U^T (duplicate gradients, for instance): the reference
 *     adds 1e-8 I when the inverse fails; we add 1e-8 times the largest
 *     entry of D U^T (so that the fix does not depend on the gradients'
 *     scale) and report the step as a failed solve.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "method_util.h"

/* Pivots below this fraction of the largest entry count as singular. */
#define IMTL_PIVOT_TOL 1e-14
#define IMTL_RIDGE     1e-8

typedef struct imtl_method {
    int k;
    unsigned char *zero;
    int *active; /* indices of the tasks with a non-zero gradient */
    double *norm;
    double *a;   /* (k-1) x (k-1) */
    double *a2;  /* copy, for the ridge retry */
    double *rhs; /* k-1 */
    double *rhs2;
    double *c;
    char warning[160];
} imtl_method;

static void imtl_destroy(void *self)
{
    imtl_method *m = self;

    if (!m)
        return;
    free(m->zero);
    free(m->active);
    free(m->norm);
    free(m->a);
    free(m->a2);
    free(m->rhs);
    free(m->rhs2);
    free(m->c);
    free(m);
}

static mtl_status imtl_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    imtl_method *m = calloc(1, sizeof *m);
    size_t k = (size_t)n_tasks;

    (void)host;
    (void)info;
    if (!m || !(m->zero = calloc(k, 1)) || !(m->active = calloc(k, sizeof *m->active)) ||
        !(m->norm = calloc(k, sizeof *m->norm)) || !(m->a = calloc(k * k, sizeof *m->a)) ||
        !(m->a2 = calloc(k * k, sizeof *m->a2)) || !(m->rhs = calloc(k, sizeof *m->rhs)) ||
        !(m->rhs2 = calloc(k, sizeof *m->rhs2)) || !(m->c = calloc(k, sizeof *m->c))) {
        imtl_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    *self = m;
    return MTL_OK;
}

static mtl_status imtl_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_GRAM;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

/*
 * Builds (D U^T)^T and (g_1 U^T)^T over the m active tasks, so that the
 * system (D U^T)^T x = (g_1 U^T)^T gives a_{2..m}.  Task active[0] plays g_1.
 */
static void imtl_system(imtl_method *m, const double *M, int n)
{
    int k = m->k, f = m->active[0];
    double gf_uf = M[f * k + f] / m->norm[f];

    for (int s = 1; s < n; s++) {
        int js = m->active[s];
        double g1_us = M[f * k + js] / m->norm[js];

        m->rhs[s - 1] = gf_uf - g1_us;
        for (int r = 1; r < n; r++) {
            int jr = m->active[r];
            /* (g_1 - g_r) . (u_1 - u_s), stored transposed at [s][r]. */
            double v = gf_uf - g1_us - M[jr * k + f] / m->norm[f] + M[jr * k + js] / m->norm[js];
            m->a[(s - 1) * (n - 1) + (r - 1)] = v;
        }
    }
}

/* Solves the system of size n - 1; with a ridge when it is singular. */
static int imtl_solve(imtl_method *m, int n, int *ridged)
{
    int q = n - 1;
    double scale = 0.0;

    memcpy(m->a2, m->a, (size_t)q * q * sizeof *m->a);
    memcpy(m->rhs2, m->rhs, (size_t)q * sizeof *m->rhs);
    *ridged = 0;
    if (linalg_lu_solve(m->a2, q, m->rhs2, IMTL_PIVOT_TOL) == 0)
        return 0;

    *ridged = 1;
    for (int i = 0; i < q * q; i++)
        scale = fmax(scale, fabs(m->a[i]));
    if (scale == 0.0)
        scale = 1.0;
    memcpy(m->a2, m->a, (size_t)q * q * sizeof *m->a);
    memcpy(m->rhs2, m->rhs, (size_t)q * sizeof *m->rhs);
    for (int i = 0; i < q; i++)
        m->a2[i * q + i] += IMTL_RIDGE * scale;
    return linalg_lu_solve(m->a2, q, m->rhs2, 0.0);
}

/* The closed form over n >= 2 active tasks into m->c; 1 when it fell back. */
static int imtl_closed_form(imtl_method *m, const double *M, int n)
{
    int ridged, failed;
    double rest = 0.0;

    imtl_system(m, M, n);
    failed = imtl_solve(m, n, &ridged) != 0;
    for (int s = 1; s < n && !failed; s++)
        failed = !isfinite(m->rhs2[s - 1]);

    for (int s = 1; s < n; s++) {
        m->c[m->active[s]] = failed ? 1.0 / n : m->rhs2[s - 1];
        rest += m->c[m->active[s]];
    }
    m->c[m->active[0]] = 1.0 - rest;

    if (ridged || failed)
        snprintf(m->warning, sizeof m->warning,
                 "D U^T is singular (duplicate or linearly dependent gradients): %s",
                 failed ? "equal weights 1/n over the non-zero tasks"
                        : "solved with a ridge of 1e-8 times its largest entry");
    return ridged || failed;
}

static mtl_status imtl_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    imtl_method *m = self;
    int k = m->k, n = 0;
    double loss = 0.0;
    mtl_status st = mu_gram_check(in);

    if (st != MTL_OK)
        return st;
    mu_zero_tasks(in->gram, k, m->zero);
    for (int i = 0; i < k; i++) {
        m->c[i] = 0.0;
        m->norm[i] = sqrt(in->gram[i * k + i]);
        if (!m->zero[i])
            m->active[n++] = i;
    }

    if (n == 1)
        m->c[m->active[0]] = 1.0;
    if (n >= 2 && imtl_closed_form(m, in->gram, n)) {
        out->solve_failed = 1;
        out->warning = m->warning;
    }

    for (int i = 0; i < k; i++)
        loss += m->c[i] * in->losses[i];
    mu_output_loss_weighted(out, m->c, k, loss);
    return mu_output_check(out, k, 0);
}

static const mtl_method_plugin imtl_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "imtl",
    .version = "1.0",
    .description = "IMTL-G: equal projections of the update on every unit gradient",
    .reference = "Liu et al., ICLR 2021",
    .options = NULL,
    .n_options = 0,
    .create = imtl_create,
    .destroy = imtl_destroy,
    .plan = imtl_plan,
    .weigh = imtl_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &imtl_plugin;
}
