/*
 * nashmtl - Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining
 * Game", ICML 2022).  The update is sum_i alpha_i g_i with alpha the Nash
 * bargaining solution (the paper's Theorem 5.1): alpha > 0 with
 *
 *     alpha_i (M alpha)_i = 1  for every i,   i.e.  M alpha = 1 / alpha.
 *
 * That is the stationarity condition of the strictly convex
 *
 *     f(a) = 0.5 a^T M a - sum_i log a_i   on a > 0,
 *
 * (Hessian M + diag(1 / a^2)), so instead of the reference's sequence of up
 * to 20 conic sub-problems (cvxpy + ECOS) we minimise f directly with a
 * damped Newton method: a k x k Cholesky per iteration, the step
 * 1 / (1 + lambda) while the Newton decrement lambda is > 0.25 and full
 * steps after; f is self-concordant, so every step stays inside a > 0 and
 * the convergence is quadratic near the solution.
 *
 * Conditioning.  With D = diag(|g_i|) and C = D^-1 M D^-1 (the gradients'
 * cosines), alpha = D^-1 b where b solves b_i (C b)_i = 1: the problem is
 * solved on C, whose unit diagonal makes it invariant to each task's
 * gradient scale (the reference divides M by its Frobenius norm, a single
 * scale), and alpha comes back on the scale of M: alpha_i ~ 1 / |g_i| for
 * orthogonal gradients, and sum_i alpha_i g_i has squared norm k.
 *
 * Start: the previous solution (warm_start) and the all-ones vector, each
 * rescaled to the minimum of f along its ray (s v with s = sqrt(k / v^T C v),
 * which alone solves k = 2), whichever has the lower f.
 *
 * Acceptance.  A solve succeeds when max_i |alpha_i (M alpha)_i - 1| plus
 * the rounding bound of evaluating it in double (k eps max_i b_i^2) is at
 * most 1e-6, within 5 optim_niter Newton steps.  Otherwise the step keeps the
 * last weights (the all-ones vector before the first success), as the
 * reference does when its solver fails, but never silently: solve_failed is
 * set and the warning says why.
 *
 * Degenerate inputs (plugins/README.md): a positive solution exists exactly
 * when 0 is not in the convex hull of the gradients.
 *   - A task with a zero gradient (method_util.h) gets weight 0 and the
 *     problem is solved over the other tasks (all zero: every weight 0); the
 *     first occurrence is logged.
 *   - Otherwise, when 0 is in (or within rounding of) the hull, for instance
 *     exactly opposite gradients, the solution grows without bound: the
 *     solve fails as above, and the host's norm clip bounds the step.  On
 *     the toy's Pareto front the two gradients are nearly opposite, and the
 *     steps where 1 + cos(g_1, g_2) < 4.5e-10 (weights beyond 4.7e4 / |g_i|)
 *     fail this way: more than half of them.
 *
 * Every `update_weights_every` steps (step % update_weights_every == 0) the
 * plan asks for the Gram matrix; in between, for the losses only, and the
 * last alpha is reused unchanged.  max_norm is passed to the host, which
 * clips the shared gradient after the weighted sum, as the reference does.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "method_util.h"

#define NASH_TOL       1e-6  /* accepted max_i |alpha_i (M alpha)_i - 1| */
#define NASH_TARGET    1e-12 /* residual at which the iterations stop early */
#define NASH_FULL_STEP 0.25  /* Newton decrement below which steps are full */
/*
 * Newton steps per optim_niter.  Each of the reference's optim_niter
 * iterations solves a whole conic sub-problem (an interior-point solve of
 * its own); one of ours is a single Newton step.  Measured on random
 * problems: 4-6 steps on average from a warm start (15 at most), 5-9 cold
 * for k <= 16 (13 at most), 13 cold at k = 64 (18 at most); the default 20
 * gives a budget of 100.
 */
#define NASH_NEWTON_PER_ITER 5

typedef struct nash_method {
    int k;
    int64_t every;
    double max_norm;
    int max_newton;
    int warm_start;
    const mtl_host *host;
    int warned_zero;

    /* State (saved): the last weights and whether a solve produced them. */
    double *alpha;
    int has_solution;

    /* Scratch, k or k x k values. */
    unsigned char *zero;
    int *active;
    double *norm, *cos, *hess, *b, *cb, *grad, *dir, *v;
    char warning[256];
} nash_method;

static const mtl_option nash_options[] = {
    {"update_weights_every", MTL_OPT_INT, "1", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "solve for new weights every this many steps, reuse them in between"},
    {"max_norm", MTL_OPT_DOUBLE, "1.0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "clip the shared gradient's L2 norm to this (0: no clipping)"},
    {"optim_niter", MTL_OPT_INT, "20", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 1, 10000,
     "the reference's CCCP iterations per solve; we allow 5 Newton steps for each"},
    {"warm_start", MTL_OPT_BOOL, "true", NULL, 0, 0, 0,
     "start each solve from the last solution when it is the better start"},
};

static void nash_destroy(void *self)
{
    nash_method *m = self;

    if (!m)
        return;
    free(m->alpha);
    free(m->zero);
    free(m->active);
    free(m->norm);
    free(m->cos);
    free(m->hess);
    free(m->b);
    free(m->cb);
    free(m->grad);
    free(m->dir);
    free(m->v);
    free(m);
}

static mtl_status nash_read_options(nash_method *m, const mtl_host *host)
{
    int64_t niter;
    mtl_status st = host->config_int(host, "update_weights_every", &m->every);

    if (st == MTL_OK)
        st = host->config_double(host, "max_norm", &m->max_norm);
    if (st == MTL_OK)
        st = host->config_int(host, "optim_niter", &niter);
    if (st == MTL_OK)
        st = host->config_bool(host, "warm_start", &m->warm_start);
    m->max_newton = NASH_NEWTON_PER_ITER * (int)niter;
    return st;
}

static mtl_status nash_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    nash_method *m = calloc(1, sizeof *m);
    size_t k = (size_t)n_tasks;
    mtl_status st;

    (void)info;
    if (!m || !(m->alpha = calloc(k, sizeof(double))) || !(m->zero = calloc(k, 1)) ||
        !(m->active = calloc(k, sizeof(int))) || !(m->norm = calloc(k, sizeof(double))) ||
        !(m->cos = calloc(k * k, sizeof(double))) || !(m->hess = calloc(k * k, sizeof(double))) ||
        !(m->b = calloc(k, sizeof(double))) || !(m->cb = calloc(k, sizeof(double))) ||
        !(m->grad = calloc(k, sizeof(double))) || !(m->dir = calloc(k, sizeof(double))) ||
        !(m->v = calloc(k, sizeof(double)))) {
        nash_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->host = host;
    st = nash_read_options(m, host);
    if (st != MTL_OK) {
        nash_destroy(m);
        return st;
    }
    for (int i = 0; i < n_tasks; i++)
        m->alpha[i] = 1.0;
    *self = m;
    return MTL_OK;
}

static int nash_is_update(const nash_method *m, int64_t step)
{
    return step % m->every == 0;
}

static mtl_status nash_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    nash_method *m = self;

    plan->need = nash_is_update(m, step) ? MTL_NEED_GRAM : MTL_NEED_LOSSES;
    plan->source = MTL_GRADS_SHARED;
    return MTL_OK;
}

/*
 * f at the minimum along the ray s v (s = sqrt(n / v^T C v)), with v scaled
 * to it in place; +inf when v^T C v <= 0 (no minimum along the ray).
 */
static double nash_ray_start(const nash_method *m, int n, double *v)
{
    double q = 0.0, f, s;

    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            q += v[i] * m->cos[i * n + j] * v[j];
    if (!(q > 0.0) || !isfinite(q))
        return INFINITY;
    s = sqrt(n / q);
    f = 0.5 * n;
    for (int i = 0; i < n; i++) {
        v[i] *= s;
        f -= log(v[i]);
    }
    return f;
}

/* The better of the warm and the cold start into m->b; 0, or -1 when neither exists. */
static int nash_start(nash_method *m, int n)
{
    double f_cold, f_warm = INFINITY;
    int warm = m->warm_start && m->has_solution;

    for (int a = 0; a < n && warm; a++) {
        int i = m->active[a];
        m->v[a] = m->alpha[i] * m->norm[i];
        warm = m->v[a] > 0.0 && isfinite(m->v[a]);
    }
    if (warm)
        f_warm = nash_ray_start(m, n, m->v);

    for (int a = 0; a < n; a++)
        m->b[a] = 1.0;
    f_cold = nash_ray_start(m, n, m->b);
    if (f_warm < f_cold)
        memcpy(m->b, m->v, (size_t)n * sizeof *m->b);
    return isfinite(f_warm) || isfinite(f_cold) ? 0 : -1;
}

/* C b into m->cb; returns max_i |b_i (C b)_i - 1|, and max_i b_i in *bmax. */
static double nash_residual(nash_method *m, int n, double *bmax)
{
    double r = 0.0;

    linalg_matvec(m->cos, n, m->b, m->cb);
    *bmax = 0.0;
    for (int a = 0; a < n; a++) {
        double e = fabs(m->b[a] * m->cb[a] - 1.0);
        /* Written so that a NaN propagates (fmax would drop it). */
        if (!(e <= r))
            r = e;
        if (!(m->b[a] <= *bmax))
            *bmax = m->b[a];
    }
    return isfinite(r) && isfinite(*bmax) ? r : INFINITY;
}

/* One damped Newton step on f; -1 when the Hessian is not positive definite. */
static int nash_newton_step(nash_method *m, int n)
{
    double lam2 = 0.0, step;

    for (int a = 0; a < n; a++) {
        m->grad[a] = m->cb[a] - 1.0 / m->b[a];
        for (int c = 0; c < n; c++)
            m->hess[a * n + c] = m->cos[a * n + c];
        m->hess[a * n + a] += 1.0 / (m->b[a] * m->b[a]);
    }
    if (linalg_cholesky(m->hess, n) != 0)
        return -1;
    for (int a = 0; a < n; a++)
        m->dir[a] = -m->grad[a];
    linalg_cholesky_solve(m->hess, n, m->dir);
    lam2 = -linalg_dot(m->grad, m->dir, n);

    step = sqrt(fmax(lam2, 0.0)) > NASH_FULL_STEP ? 1.0 / (1.0 + sqrt(lam2)) : 1.0;
    /* The theory keeps b > 0; this guards rounding only. */
    for (int a = 0; a < n; a++)
        while (m->b[a] + step * m->dir[a] <= 0.0)
            step *= 0.5;
    for (int a = 0; a < n; a++)
        m->b[a] += step * m->dir[a];
    return 0;
}

/*
 * Solves over the n active tasks, whose cosine matrix is m->cos; b holds the
 * solution on success (0).  On failure (-1) m->warning says why.
 */
static int nash_solve_active(nash_method *m, int n)
{
    double resid = INFINITY, bmax = 0.0, floor_ = 0.0;

    if (nash_start(m, n) != 0) {
        snprintf(m->warning, sizeof m->warning,
                 "no positive solution: the unit gradients sum to 0 (0 is in the gradients' "
                 "convex hull); keeping the last weights");
        return -1;
    }
    for (int iter = 0;; iter++) {
        resid = nash_residual(m, n, &bmax);
        floor_ = n * DBL_EPSILON * bmax * bmax;
        if (resid + floor_ <= NASH_TOL && resid <= fmax(NASH_TARGET, 16.0 * floor_))
            return 0;
        /* Past the rounding floor no step can certify the residual any more. */
        if (floor_ > NASH_TOL || resid <= 16.0 * floor_) {
            snprintf(m->warning, sizeof m->warning,
                     "no reliable positive solution: weights reach %.3g / |g_i|, beyond what "
                     "double precision certifies to 1e-6 (gradients nearly opposite, 0 nearly in "
                     "their convex hull); keeping the last weights",
                     bmax);
            return -1;
        }
        if (iter == m->max_newton)
            break;
        if (nash_newton_step(m, n) != 0) {
            snprintf(m->warning, sizeof m->warning,
                     "Newton step failed: Hessian not positive definite; keeping the last "
                     "weights");
            return -1;
        }
    }
    snprintf(m->warning, sizeof m->warning,
             "not converged after %d Newton steps (max |alpha_i (M alpha)_i - 1| = %.3g plus "
             "rounding bound %.3g, expected <= %g); keeping the last weights",
             m->max_newton, resid, floor_, NASH_TOL);
    return -1;
}

/* The active tasks, their norms and cosine matrix. */
static int nash_prepare(nash_method *m, const mtl_method_input *in)
{
    int k = m->k, n = 0;

    mu_zero_tasks(in->gram, k, m->zero);
    for (int i = 0; i < k; i++)
        if (!m->zero[i]) {
            m->active[n++] = i;
            m->norm[i] = sqrt(in->gram[i * k + i]);
        }
    for (int a = 0; a < n; a++)
        for (int c = 0; c < n; c++) {
            int i = m->active[a], j = m->active[c];
            m->cos[a * n + c] = a == c ? 1.0 : in->gram[i * k + j] / m->norm[i] / m->norm[j];
        }
    return n;
}

static void nash_log_zero(nash_method *m, const mtl_method_input *in)
{
    for (int i = 0; i < m->k && !m->warned_zero; i++)
        if (m->zero[i]) {
            m->host->log(m->host, MTL_LOG_WARN,
                         "step %lld: task %d has a zero gradient: weight 0 (logged once)",
                         (long long)in->step, i);
            m->warned_zero = 1;
        }
}

/* New weights from the Gram matrix; 0, or -1 on a failed solve. */
static int nash_update(nash_method *m, const mtl_method_input *in)
{
    int n = nash_prepare(m, in);

    nash_log_zero(m, in);
    if (n > 0 && nash_solve_active(m, n) != 0)
        return -1;
    for (int i = 0; i < m->k; i++)
        m->alpha[i] = 0.0;
    for (int a = 0; a < n; a++)
        m->alpha[m->active[a]] = m->b[a] / m->norm[m->active[a]];
    m->has_solution = 1;
    return 0;
}

static mtl_status nash_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    nash_method *m = self;
    double loss = 0.0;

    if (nash_is_update(m, in->step)) {
        mtl_status st = mu_gram_check(in);
        if (st != MTL_OK)
            return st;
        if (nash_update(m, in) != 0) {
            out->solve_failed = 1;
            out->warning = m->warning;
        }
    }
    for (int i = 0; i < m->k; i++)
        loss += m->alpha[i] * in->losses[i];
    mu_output_loss_weighted(out, m->alpha, m->k, loss);
    out->max_norm = m->max_norm;
    return mu_output_check(out, m->k, 0);
}

/* State: has_solution, then alpha (k doubles). */
static mtl_status nash_state_save(void *self, void *buf, size_t cap, size_t *len)
{
    nash_method *m = self;
    size_t n = 1 + (size_t)m->k;
    double *payload = malloc(n * sizeof *payload);
    mtl_status st;

    if (!payload)
        return mtl_error_set(MTL_ERR_NOMEM, "state_save: out of memory");
    payload[0] = m->has_solution;
    memcpy(payload + 1, m->alpha, (size_t)m->k * sizeof *payload);
    st = mu_state_save("nash", 1, m->k, payload, n * sizeof *payload, buf, cap, len);
    free(payload);
    return st;
}

static mtl_status nash_state_load(void *self, const void *buf, size_t len)
{
    nash_method *m = self;
    const unsigned char *p;
    double has;
    mtl_status st = mu_state_open("nash", 1, m->k, buf, len, (1 + (size_t)m->k) * sizeof has, &p);

    if (st != MTL_OK)
        return st;
    memcpy(&has, p, sizeof has);
    for (int i = 0; i < m->k; i++) {
        double a;
        memcpy(&a, p + (1 + (size_t)i) * sizeof a, sizeof a);
        if (!isfinite(a) || a < 0.0)
            return mtl_error_set(
                MTL_ERR_DATA, "state_load: weight of task %d is %g (expected finite, >= 0)", i, a);
    }
    m->has_solution = has != 0.0;
    memcpy(m->alpha, p + sizeof has, (size_t)m->k * sizeof has);
    return MTL_OK;
}

static const mtl_method_plugin nash_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "nashmtl",
    .version = "1.0",
    .description = "Nash-MTL: the Nash bargaining solution alpha_i (M alpha)_i = 1",
    .reference = "Navon et al., ICML 2022",
    .options = nash_options,
    .n_options = sizeof nash_options / sizeof nash_options[0],
    .create = nash_create,
    .destroy = nash_destroy,
    .plan = nash_plan,
    .weigh = nash_weigh,
    .state_save = nash_state_save,
    .state_load = nash_state_load,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &nash_plugin;
}
