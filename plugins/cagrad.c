/*
 * cagrad - conflict-averse gradient descent (Liu et al., "Conflict-Averse
 * Gradient Descent for Multi-task Learning", NeurIPS 2021), as in the
 * reference's CAGrad with rescale = 1:
 *
 *   g0 = mean gradient (|g0|^2 = mean(M)),  c' = c |g0|,
 *   w = argmin over the simplex of  F(w) = w^T M 1/k + c' sqrt(w^T M w),
 *   gw = J^T w,  update = (g0 + c' gw / |gw|) / (1 + c^2),
 *
 * multiplied by k to match a summed loss, so the shared coefficients are
 * c_i = (1 + k c' w_i / |gw|) / (1 + c^2).  The heads get the plain sum of
 * the task gradients (h_i = 1).
 *
 * The inner problem (the reference calls scipy's SLSQP) is solved here by a
 * primal barrier method: minimise t F(w) - sum_i log w_i on sum_i w_i = 1 by
 * Newton steps with the equality constraint eliminated through the KKT
 * system and a backtracking line search, for t = 1, 10, 100, ... until the
 * barrier's bound on the objective gap, k / t, is below 1e-12 (on M divided
 * by its mean diagonal, which leaves w unchanged: F is homogeneous in M).
 *
 * Deviations (plugins/README.md): the reference adds 1e-8 in four places
 * (inside both square roots, to c' and to |gw|), which makes the update
 * depend on the gradients' scale when they are small; we use the exact
 * formulas, and treat the two degenerate cases explicitly: a zero mean
 * gradient (c' = 0, F constant: w = 1/k) and a zero combined gradient
 * (|gw| <= 1e-12 of the gradients' RMS norm: the c' gw / |gw| term, whose
 * direction is undefined, is dropped).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "method_util.h"

#define CAGRAD_GAP_TOL    1e-12 /* k / t at the last centering */
#define CAGRAD_T_GROWTH   10.0  /* t grows by this between centerings */
#define CAGRAD_CENTER_TOL 1e-14 /* half the squared Newton decrement */
#define CAGRAD_MAX_NEWTON 400   /* Newton steps over all centerings */
#define CAGRAD_SMOOTH     1e-30 /* under the square root, on the normalized scale */
#define CAGRAD_ZERO_REL   1e-24 /* |x|^2 below this times the mean |g_i|^2 is 0 */

typedef struct cagrad_method {
    int k;
    double c;
    double *mn;   /* M divided by its mean diagonal */
    double *hess; /* k x k */
    double *w, *trial, *mb, *mw, *grad, *x, *y, *coef;
    char warning[160];
} cagrad_method;

static const mtl_option cagrad_options[] = {
    {"c", MTL_OPT_DOUBLE, "0.4", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "radius of the ball around the mean gradient, relative to its norm"},
};

static void cagrad_destroy(void *self)
{
    cagrad_method *m = self;

    if (!m)
        return;
    free(m->mn);
    free(m->hess);
    free(m->w);
    free(m->trial);
    free(m->mb);
    free(m->mw);
    free(m->grad);
    free(m->x);
    free(m->y);
    free(m->coef);
    free(m);
}

static mtl_status cagrad_create(const mtl_host *host, int n_tasks, void **self,
                                mtl_method_info *info)
{
    cagrad_method *m;
    double c;
    size_t k = (size_t)n_tasks;
    mtl_status st = host->config_double(host, "c", &c);

    (void)info;
    if (st != MTL_OK)
        return st;
    m = calloc(1, sizeof *m);
    if (!m || !(m->mn = calloc(k * k, sizeof(double))) ||
        !(m->hess = calloc(k * k, sizeof(double))) || !(m->w = calloc(k, sizeof(double))) ||
        !(m->trial = calloc(k, sizeof(double))) || !(m->mb = calloc(k, sizeof(double))) ||
        !(m->mw = calloc(k, sizeof(double))) || !(m->grad = calloc(k, sizeof(double))) ||
        !(m->x = calloc(k, sizeof(double))) || !(m->y = calloc(k, sizeof(double))) ||
        !(m->coef = calloc(k, sizeof(double)))) {
        cagrad_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->c = c;
    *self = m;
    return MTL_OK;
}

static mtl_status cagrad_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_GRAM;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

/* The barrier objective t F(w) - sum log w (+inf outside the simplex's interior). */
static double cagrad_phi(const cagrad_method *m, const double *w, double t, double cp)
{
    int k = m->k;
    double lin = 0.0, q = 0.0, barrier = 0.0;

    for (int i = 0; i < k; i++) {
        if (!(w[i] > 0.0))
            return INFINITY;
        lin += m->mb[i] * w[i];
        barrier += log(w[i]);
        for (int j = 0; j < k; j++)
            q += w[i] * m->mn[i * k + j] * w[j];
    }
    return t * (lin + cp * sqrt(fmax(q, 0.0) + CAGRAD_SMOOTH)) - barrier;
}

/*
 * One Newton step of the centering problem at t.  Returns the half squared
 * Newton decrement before the step, or -1 when the Hessian is not positive
 * definite.
 */
static double cagrad_newton_step(cagrad_method *m, double t, double cp)
{
    int k = m->k;
    double *w = m->w, q, r, lam2, one_x = 0.0, one_y = 0.0, slope, slack, s = 1.0;
    double phi0 = cagrad_phi(m, w, t, cp);

    linalg_matvec(m->mn, k, w, m->mw);
    q = linalg_dot(w, m->mw, k);
    r = sqrt(fmax(q, 0.0) + CAGRAD_SMOOTH);

    /* Gradient and Hessian of t F - sum log w (F'' = c' (M / r - M w w^T M / r^3)). */
    for (int i = 0; i < k; i++) {
        m->grad[i] = t * (m->mb[i] + cp * m->mw[i] / r) - 1.0 / w[i];
        for (int j = 0; j < k; j++)
            m->hess[i * k + j] =
                t * cp * (m->mn[i * k + j] / r - m->mw[i] * m->mw[j] / (r * r * r));
        m->hess[i * k + i] += 1.0 / (w[i] * w[i]);
    }
    if (linalg_cholesky(m->hess, k) != 0)
        return -1.0;

    /* Step on sum(dw) = 0:  dw = x - (1.x / 1.y) y,  H x = -grad,  H y = 1. */
    for (int i = 0; i < k; i++) {
        m->x[i] = -m->grad[i];
        m->y[i] = 1.0;
    }
    linalg_cholesky_solve(m->hess, k, m->x);
    linalg_cholesky_solve(m->hess, k, m->y);
    for (int i = 0; i < k; i++) {
        one_x += m->x[i];
        one_y += m->y[i];
    }
    for (int i = 0; i < k; i++)
        m->x[i] -= one_x / one_y * m->y[i];
    slope = linalg_dot(m->grad, m->x, k);
    lam2 = -slope;

    /*
     * Backtracking (Armijo, factor 1/2) inside the simplex.  Near the end phi
     * is of order t, so its rounding error (a few ulps of phi0) is allowed:
     * there the full Newton step is taken.
     */
    slack = 8.0 * DBL_EPSILON * fabs(phi0);
    for (int halvings = 0; halvings < 60; halvings++, s *= 0.5) {
        double sum = 0.0;
        for (int i = 0; i < k; i++) {
            m->trial[i] = w[i] + s * m->x[i];
            sum += m->trial[i];
        }
        for (int i = 0; i < k; i++)
            m->trial[i] /= sum;
        if (cagrad_phi(m, m->trial, t, cp) <= phi0 + 0.25 * s * slope + slack) {
            memcpy(w, m->trial, (size_t)k * sizeof *w);
            break;
        }
    }
    return 0.5 * lam2;
}

/* The inner weights w into m->w; returns 0, or -1 when the budget ran out. */
static int cagrad_inner(cagrad_method *m, double cp)
{
    int k = m->k, steps = 0;

    for (int i = 0; i < k; i++)
        m->w[i] = 1.0 / k;
    if (k == 1 || cp == 0.0)
        return 0;

    for (double t = 1.0;; t *= CAGRAD_T_GROWTH) {
        for (;;) {
            double dec = cagrad_newton_step(m, t, cp);
            if (dec < 0.0 || ++steps > CAGRAD_MAX_NEWTON)
                return -1;
            if (dec <= CAGRAD_CENTER_TOL)
                break;
        }
        if (k / t <= CAGRAD_GAP_TOL)
            return 0;
    }
}

static mtl_status cagrad_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    cagrad_method *m = self;
    int k = m->k;
    const double *M = in->gram;
    double scale = 0.0, mean = 0.0, q = 0.0, cp, lambda = 0.0, loss = 0.0;
    mtl_status st = mu_gram_check(in);

    if (st != MTL_OK)
        return st;
    for (int i = 0; i < k; i++) {
        scale += M[i * k + i] / k;
        for (int j = 0; j < k; j++)
            mean += M[i * k + j] / ((double)k * k);
    }

    /* Normalize by the mean squared gradient norm; w does not change. */
    if (scale > 0.0) {
        for (int i = 0; i < k * k; i++)
            m->mn[i] = M[i] / scale;
        for (int i = 0; i < k; i++) {
            m->mb[i] = 0.0;
            for (int j = 0; j < k; j++)
                m->mb[i] += m->mn[i * k + j] / k;
        }
    }
    cp = scale > 0.0 && mean > CAGRAD_ZERO_REL * scale ? m->c * sqrt(mean / scale) : 0.0;

    if (cagrad_inner(m, cp) != 0) {
        snprintf(m->warning, sizeof m->warning,
                 "inner problem not solved within %d Newton steps; using the last iterate",
                 CAGRAD_MAX_NEWTON);
        out->solve_failed = 1;
        out->warning = m->warning;
    }

    /* c_i = (1 + k c' w_i / |gw|) / (1 + c^2), on the original scale. */
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            q += m->w[i] * M[i * k + j] * m->w[j];
    if (q > CAGRAD_ZERO_REL * scale && cp > 0.0)
        lambda = m->c * sqrt(mean) / sqrt(q);
    for (int i = 0; i < k; i++) {
        m->coef[i] = (1.0 + k * lambda * m->w[i]) / (1.0 + m->c * m->c);
        out->head_weights[i] = 1.0;
        loss += in->losses[i];
    }
    memcpy(out->shared_weights, m->coef, (size_t)k * sizeof *m->coef);
    mu_output_report(out, m->coef, k);
    out->loss = loss;
    return mu_output_check(out, k, 0);
}

static const mtl_method_plugin cagrad_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "cagrad",
    .version = "1.0",
    .description = "CAGrad: the best worst-task improvement near the mean gradient",
    .reference = "Liu et al., NeurIPS 2021",
    .options = cagrad_options,
    .n_options = sizeof cagrad_options / sizeof cagrad_options[0],
    .create = cagrad_create,
    .destroy = cagrad_destroy,
    .plan = cagrad_plan,
    .weigh = cagrad_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &cagrad_plugin;
}
