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
 * The inner problem (the reference calls scipy's SLSQP) is a small
 * second-order cone program: minimise  w^T M 1/k + c' s  over the simplex
 * with s >= |J w|.  We solve it by a primal barrier method on M divided by
 * its mean diagonal (w does not change: F is homogeneous in M):
 *
 *   Phi_t(w, s) = t (w^T M 1/k + c' s) - sum_i log w_i - log(s^2 - w^T M w),
 *
 * self-concordant, minimised for t = 1, 10, 100, ... by damped Newton steps
 * (1 / (1 + lambda) while the Newton decrement lambda > 0.25) in the
 * coordinates that eliminate the largest weight, until the barrier's bound
 * on the objective gap, (k + 2) / t, is below 1e-10 (beyond, s^2 - w^T M w
 * cancels to too few digits).  The cone variable s keeps the problem smooth
 * where J w = 0, where F itself has a kink.
 *
 * Deviations (plugins/README.md): the reference adds 1e-8 in four places
 * (inside both square roots, to c' and to |gw|), which makes the update
 * depend on the gradients' scale when they are small; we use the exact
 * formulas, and treat the two degenerate cases explicitly: a zero mean
 * gradient (c' = 0, F linear with zero slope: w = 1/k) and a zero combined
 * gradient (|gw|^2 <= 1e-24 of the mean |g_i|^2: the c' gw / |gw| term,
 * whose direction is undefined, is dropped).  A c' below 1e-12 of the mean
 * gradient norm (c = 1e-300, say) is c' = 0 exactly: w = 1/k and c_i = 1 / (1 + c^2).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "method_util.h"

#define CAGRAD_GAP_TOL    1e-10 /* (k + 2) / t at the last centering */
#define CAGRAD_T_GROWTH   10.0  /* t grows by this between centerings */
#define CAGRAD_CENTER_TOL 1e-14 /* squared Newton decrement ending a centering */
/* Below this, a decrement that does not shrink 4-fold is at the rounding floor. */
#define CAGRAD_FLOOR_TOL  1e-8
#define CAGRAD_FULL_STEP  0.25  /* Newton decrement below which steps are full */
#define CAGRAD_MAX_NEWTON 600   /* Newton steps over all centerings */
#define CAGRAD_ZERO_REL   1e-24 /* |x|^2 below this times the mean |g_i|^2 is 0 */
/*
 * c' (relative to the mean gradient norm) below this is taken as 0: the barrier's
 * t c' s term no longer bounds s within the Newton budget, and the c' gw / |gw| term
 * would move each coefficient by about k c' / |gw|, below double rounding.
 */
#define CAGRAD_C_ZERO 1e-12

typedef struct cagrad_method {
    int k;
    double c;
    double *mn;   /* M divided by its mean diagonal */
    double *hess; /* (k+1) x (k+1): w then s */
    double *red;  /* k x k, the reduced Hessian */
    double *w, *mb, *mw, *grad, *dz, *step, *coef;
    double s; /* the cone variable */
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
    free(m->red);
    free(m->w);
    free(m->mb);
    free(m->mw);
    free(m->grad);
    free(m->dz);
    free(m->step);
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
        !(m->hess = calloc((k + 1) * (k + 1), sizeof(double))) ||
        !(m->red = calloc(k * k, sizeof(double))) || !(m->w = calloc(k, sizeof(double))) ||
        !(m->mb = calloc(k, sizeof(double))) || !(m->mw = calloc(k, sizeof(double))) ||
        !(m->grad = calloc(k + 1, sizeof(double))) || !(m->dz = calloc(k + 1, sizeof(double))) ||
        !(m->step = calloc(k, sizeof(double))) || !(m->coef = calloc(k, sizeof(double)))) {
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

static double cagrad_quad(const cagrad_method *m, const double *w)
{
    double q = 0.0;

    for (int i = 0; i < m->k; i++)
        for (int j = 0; j < m->k; j++)
            q += w[i] * m->mn[i * m->k + j] * w[j];
    return q;
}

/* Gradient and Hessian of Phi_t at (w, s) into m->grad and m->hess. */
static void cagrad_derivatives(cagrad_method *m, double t, double cp)
{
    int k = m->k, n = k + 1;
    double s = m->s, q, u;

    linalg_matvec(m->mn, k, m->w, m->mw);
    q = linalg_dot(m->w, m->mw, k);
    u = s * s - q;

    for (int i = 0; i < k; i++) {
        m->grad[i] = t * m->mb[i] - 1.0 / m->w[i] + 2.0 * m->mw[i] / u;
        for (int j = 0; j < k; j++)
            m->hess[i * n + j] = 2.0 * m->mn[i * k + j] / u + 4.0 * m->mw[i] * m->mw[j] / (u * u);
        m->hess[i * n + i] += 1.0 / (m->w[i] * m->w[i]);
        m->hess[i * n + k] = m->hess[k * n + i] = -4.0 * s * m->mw[i] / (u * u);
    }
    m->grad[k] = t * cp - 2.0 * s / u;
    m->hess[k * n + k] = (2.0 * s * s + 2.0 * q) / (u * u);
}

/*
 * The Newton direction on sum(dw) = 0 into m->dz, eliminating the largest
 * weight w_p (dw_p = -sum of the others): reduced Hessian Z^T H Z and
 * gradient Z^T grad.  Eliminating through H^-1 1 instead cancels
 * catastrophically once some w_i are ~1 / t.  Returns lambda^2, or -1 when
 * the reduced Hessian is not positive definite.
 */
static double cagrad_direction(cagrad_method *m)
{
    int k = m->k, n = k + 1, p = 0;
    double *y = m->step, lam2;

    for (int i = 1; i < k; i++)
        if (m->w[i] > m->w[p])
            p = i;

    /* Reduced coordinates: the weights other than p, then s (index k - 1). */
    for (int r = 0, i = 0; i <= k; i++) {
        if (i == p)
            continue;
        y[r] = 0.0;
        m->dz[r] = -(i < k ? m->grad[i] - m->grad[p] : m->grad[k]);
        for (int c2 = 0, j = 0; j <= k; j++) {
            double h;
            if (j == p)
                continue;
            h = m->hess[i * n + j];
            if (i < k)
                h -= m->hess[p * n + j];
            if (j < k)
                h -= m->hess[i * n + p];
            if (i < k && j < k)
                h += m->hess[p * n + p];
            m->red[r * k + c2] = h;
            c2++;
        }
        r++;
    }
    if (linalg_cholesky(m->red, k) != 0)
        return -1.0;
    memcpy(y, m->dz, (size_t)k * sizeof *y);
    linalg_cholesky_solve(m->red, k, y);
    lam2 = fmax(linalg_dot(y, m->dz, k), 0.0);

    /* Back to (dw, ds). */
    m->dz[p] = 0.0;
    for (int r = 0, i = 0; i <= k; i++) {
        if (i == p)
            continue;
        if (i < k) {
            m->dz[i] = y[r];
            m->dz[p] -= y[r];
        } else {
            m->dz[k] = y[r];
        }
        r++;
    }
    return lam2;
}

/* Moves (w, s) by a damped Newton step inside the domain. */
static void cagrad_move(cagrad_method *m, double lam2)
{
    int k = m->k;
    double a = sqrt(lam2) > CAGRAD_FULL_STEP ? 1.0 / (1.0 + sqrt(lam2)) : 1.0;

    /* Self-concordance keeps the damped step inside; this guards rounding. */
    for (int tries = 0; tries < 60; tries++, a *= 0.5) {
        int inside = 1;
        double s;
        for (int i = 0; i < k; i++) {
            m->step[i] = m->w[i] + a * m->dz[i];
            inside &= m->step[i] > 0.0;
        }
        s = m->s + a * m->dz[k];
        if (inside && s > 0.0 && s * s > cagrad_quad(m, m->step)) {
            memcpy(m->w, m->step, (size_t)k * sizeof *m->w);
            m->s = s;
            return;
        }
    }
}

/* The inner weights w into m->w; returns 0, or -1 when the budget ran out. */
static int cagrad_inner(cagrad_method *m, double cp)
{
    int k = m->k, steps = 0;
    double sum = 0.0;

    for (int i = 0; i < k; i++)
        m->w[i] = 1.0 / k;
    if (k == 1 || cp == 0.0)
        return 0;
    m->s = sqrt(fmax(cagrad_quad(m, m->w), 0.0)) + 1.0;

    for (double t = 1.0;; t *= CAGRAD_T_GROWTH) {
        for (double prev = INFINITY;;) {
            double lam2;
            cagrad_derivatives(m, t, cp);
            lam2 = cagrad_direction(m);
            if (lam2 < 0.0 || ++steps > CAGRAD_MAX_NEWTON)
                return -1;
            if (lam2 <= CAGRAD_CENTER_TOL || (lam2 <= CAGRAD_FLOOR_TOL && lam2 > 0.25 * prev))
                break;
            cagrad_move(m, lam2);
            prev = lam2;
        }
        if ((k + 2) / t <= CAGRAD_GAP_TOL)
            break;
    }
    for (int i = 0; i < k; i++)
        sum += m->w[i];
    for (int i = 0; i < k; i++)
        m->w[i] /= sum;
    return 0;
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
    if (cp < CAGRAD_C_ZERO)
        cp = 0.0;

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
