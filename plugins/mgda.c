/*
 * mgda - MGDA-UB (Sener and Koltun, "Multi-Task Learning as Multi-Objective
 * Optimization", NeurIPS 2018), as in the reference's MGDA class: the
 * minimum-norm point of the convex hull of the (optionally normalized) task
 * gradients, found in Gram space by Sener and Koltun's solver (their
 * Algorithm 2 / MinNormSolver.find_min_norm_element):
 *
 *   1. the best pair: for each i < j the closed-form minimum of
 *      |gamma x_i + (1 - gamma) x_j| (Sener and Koltun, Algorithm 1);
 *   2. for k >= 3, projected gradient steps on the simplex with an exact
 *      line search, until the L1 change of the weights is below 1e-5.
 *
 * The weights sum to 1; they are multiplied by k and applied to the raw
 * losses (loss sum_i k w_i l_i), as in the reference.  Normalizations
 * divide task i's gradient by 1 (none), its L2 norm (l2; the reference
 * spells it `norm`), its loss (loss) or both (loss+).
 *
 * Deviations, all documented in plugins/README.md:
 *   - the reference declares MAX_ITER = 250 but never increments its
 *     iteration counter, so its loop only stops on the tolerance (ill-
 *     conditioned problems take thousands of steps).  We follow what the code
 *     does, with a safety cap `max_iter` (10000); reaching it is reported as
 *     a failed solve and the iterate is kept (max_iter = 250 gives the
 *     stated cap);
 *   - the best pair starts from an infinite cost (the reference starts at
 *     1e8 and crashes when every pair costs more);
 *   - k = 1 gives the weight 1 (the reference has no pair to start from);
 *   - a normalizer of 0 (a zero gradient under l2 or loss+, a zero loss
 *     under loss or loss+) would divide by zero: that task's gradient is used
 *     unnormalized, and the first occurrence is logged.
 * The solver's own quirk is kept: a pair where one point dominates gets
 * gamma = 0.999 or 0.001, not 1 or 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "method_util.h"

#define MGDA_MAX_ITER  250
#define MGDA_STOP_CRIT 1e-5
/* Steps to a face of the simplex shorter than this are skipped (reference). */
#define MGDA_MIN_STEP 1e-7

enum mgda_norm { MGDA_NORM_NONE, MGDA_NORM_L2, MGDA_NORM_LOSS, MGDA_NORM_LOSS_PLUS };

typedef struct mgda_method {
    int k;
    int max_iter;
    mtl_grad_source source;
    enum mgda_norm norm;
    const mtl_host *host;
    int warned_normalizer;
    double *mn;   /* the normalized Gram matrix, k x k */
    double *work; /* 6 k scratch values */
    double *c;
    char warning[160];
} mgda_method;

static const mtl_option mgda_options[] = {
    {"params", MTL_OPT_ENUM, "shared", "shared|last|rep", 0, 0, 0,
     "gradients of: all shared parameters, the last shared layer, or the shared "
     "representation"},
    {"max_iter", MTL_OPT_INT, "10000", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 1, 1e7,
     "at most this many projected gradient steps of the min-norm solver"},
    {"normalization", MTL_OPT_ENUM, "none", "none|l2|loss|loss+", 0, 0, 0,
     "divide each task's gradient by 1, its L2 norm, its loss, or loss times norm"},
};

/*
 * min over gamma in [0, 1] of |gamma x1 + (1 - gamma) x2|^2 from the inner
 * products (Sener and Koltun, Algorithm 1, with the reference's 0.999/0.001).
 */
static void mgda_pair(double v11, double v12, double v22, double *gamma, double *cost)
{
    if (v12 >= v11) {
        *gamma = 0.999;
        *cost = v11;
        return;
    }
    if (v12 >= v22) {
        *gamma = 0.001;
        *cost = v22;
        return;
    }
    *gamma = -(v12 - v22) / (v11 + v22 - 2.0 * v12);
    *cost = v22 + *gamma * (v12 - v22);
}

/* The best two-point combination as the starting weights. */
static void mgda_best_pair(const double *M, int k, double *sol)
{
    double best = INFINITY, best_gamma = 1.0;
    int bi = 0, bj = 0;

    for (int i = 0; i < k; i++)
        for (int j = i + 1; j < k; j++) {
            double gamma, cost;
            mgda_pair(M[i * k + i], M[i * k + j], M[j * k + j], &gamma, &cost);
            if (cost < best) {
                best = cost;
                best_gamma = gamma;
                bi = i;
                bj = j;
            }
        }
    memset(sol, 0, (size_t)k * sizeof *sol);
    sol[bi] = best_gamma;
    sol[bj] = 1.0 - best_gamma;
}

static int mgda_descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x < y) - (x > y);
}

/* Euclidean projection of y onto the simplex, in place (sorted: k scratch). */
static void mgda_project_simplex(double *y, int k, double *sorted)
{
    double sum = 0.0, partial = 0.0, shift;

    for (int i = 0; i < k; i++)
        sum += y[i];
    memcpy(sorted, y, (size_t)k * sizeof *y);
    qsort(sorted, (size_t)k, sizeof *sorted, mgda_descending);

    shift = (sum - 1.0) / k;
    for (int i = 0; i < k - 1; i++) {
        double t;
        partial += sorted[i];
        t = (partial - 1.0) / (i + 1);
        if (t > sorted[i + 1]) {
            shift = t;
            break;
        }
    }
    for (int i = 0; i < k; i++)
        y[i] = fmax(y[i] - shift, 0.0);
}

/*
 * The next point from `cur` along the descent direction `dir` projected on
 * the simplex's plane, stepping to the nearest face that is at least
 * MGDA_MIN_STEP away (or by 1), then projected on the simplex.
 */
static void mgda_next_point(const double *cur, const double *dir, int k, double *next,
                            double *sorted)
{
    double mean = 0.0, to_zero = INFINITY, to_one = INFINITY, t;

    for (int i = 0; i < k; i++)
        mean += dir[i];
    mean /= k;

    /* The steps at which a weight reaches 0 (falling) or 1 (rising). */
    for (int i = 0; i < k; i++) {
        double p = dir[i] - mean, tm;
        if (p < 0.0 && (tm = -cur[i] / p) > MGDA_MIN_STEP)
            to_zero = fmin(to_zero, tm);
        if (p > 0.0 && (tm = (1.0 - cur[i]) / p) > MGDA_MIN_STEP)
            to_one = fmin(to_one, tm);
    }
    /* As the reference: 1 when no weight falls to 0, which also caps a rise. */
    t = isfinite(to_zero) ? to_zero : 1.0;
    t = fmin(t, to_one);

    for (int i = 0; i < k; i++)
        next[i] = (dir[i] - mean) * t + cur[i];
    mgda_project_simplex(next, k, sorted);
}

static double mgda_quad(const double *M, int k, const double *x, const double *y)
{
    double s = 0.0;

    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            s += x[i] * y[j] * M[i * k + j];
    return s;
}

/*
 * Minimum-norm weights (on the simplex) of the Gram matrix M into sol.
 * Returns 0, or -1 when max_iter iterations did not meet the
 * tolerance (sol then holds the last iterate).
 */
static int mgda_min_norm(const double *M, int k, int max_iter, double *sol, double *work,
                         double *change_out)
{
    double *dir = work, *next = work + k, *sorted = work + 2 * k, *cand = work + 3 * k;

    *change_out = 0.0;
    if (k == 1) {
        sol[0] = 1.0;
        return 0;
    }
    mgda_best_pair(M, k, sol);
    if (k == 2)
        return 0;

    for (int iter = 0; iter < max_iter; iter++) {
        double gamma, cost, change = 0.0;

        linalg_matvec(M, k, sol, dir);
        for (int i = 0; i < k; i++)
            dir[i] = -dir[i];
        mgda_next_point(sol, dir, k, next, sorted);

        mgda_pair(mgda_quad(M, k, sol, sol), mgda_quad(M, k, sol, next),
                  mgda_quad(M, k, next, next), &gamma, &cost);
        for (int i = 0; i < k; i++) {
            cand[i] = gamma * sol[i] + (1.0 - gamma) * next[i];
            change += fabs(cand[i] - sol[i]);
        }
        *change_out = change;
        /* As the reference: on convergence return the point before the step. */
        if (change < MGDA_STOP_CRIT)
            return 0;
        memcpy(sol, cand, (size_t)k * sizeof *sol);
    }
    return -1;
}

static void mgda_destroy(void *self)
{
    mgda_method *m = self;

    if (!m)
        return;
    free(m->mn);
    free(m->work);
    free(m->c);
    free(m);
}

static mtl_status mgda_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    int source, norm;
    int64_t max_iter;
    mgda_method *m;
    size_t n_options = sizeof mgda_options / sizeof mgda_options[0];
    mtl_status st = mu_enum_read(host, mgda_options, n_options, "params", &source);

    (void)info;
    if (st == MTL_OK)
        st = mu_enum_read(host, mgda_options, n_options, "normalization", &norm);
    if (st == MTL_OK)
        st = host->config_int(host, "max_iter", &max_iter);
    if (st != MTL_OK)
        return st;

    m = calloc(1, sizeof *m);
    if (!m || !(m->mn = calloc((size_t)n_tasks * n_tasks, sizeof *m->mn)) ||
        !(m->work = calloc((size_t)n_tasks * 6, sizeof *m->work)) ||
        !(m->c = calloc((size_t)n_tasks, sizeof *m->c))) {
        mgda_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->max_iter = (int)max_iter;
    m->host = host;
    /* The choices are declared in the order of the enums. */
    m->source = (mtl_grad_source)source;
    m->norm = (enum mgda_norm)norm;
    *self = m;
    return MTL_OK;
}

static mtl_status mgda_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    mgda_method *m = self;

    (void)step;
    plan->need = MTL_NEED_GRAM;
    plan->source = m->source;
    return MTL_OK;
}

/* The divisor of task i's gradient under the chosen normalization. */
static double mgda_normalizer(const mgda_method *m, const mtl_method_input *in, int i)
{
    double norm = sqrt(fmax(in->gram[i * m->k + i], 0.0));

    switch (m->norm) {
    case MGDA_NORM_L2:
        return norm;
    case MGDA_NORM_LOSS:
        return in->losses[i];
    case MGDA_NORM_LOSS_PLUS:
        return in->losses[i] * norm;
    case MGDA_NORM_NONE:
        break;
    }
    return 1.0;
}

static mtl_status mgda_normalize(mgda_method *m, const mtl_method_input *in)
{
    int k = m->k;
    double *d = m->work + 4 * k;

    for (int i = 0; i < k; i++) {
        d[i] = mgda_normalizer(m, in, i);
        if (d[i] == 0.0 || !isfinite(d[i])) {
            if (!m->warned_normalizer)
                m->host->log(m->host, MTL_LOG_WARN,
                             "step %lld: task %d's normalizer is %g (zero gradient or zero "
                             "loss): its gradient is used unnormalized (logged once)",
                             (long long)in->step, i, d[i]);
            m->warned_normalizer = 1;
            d[i] = 1.0;
        }
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double v = in->gram[i * k + j] / d[i] / d[j];
            if (!isfinite(v))
                return mtl_error_set(MTL_ERR_NUMERIC,
                                     "weigh: the normalized Gram matrix overflows at row %d, "
                                     "column %d (normalizers %g and %g)",
                                     i, j, d[i], d[j]);
            m->mn[i * k + j] = v;
        }
    return MTL_OK;
}

static mtl_status mgda_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    mgda_method *m = self;
    int k = m->k;
    double change, loss = 0.0;
    mtl_status st = mu_gram_check(in);

    if (st == MTL_OK)
        st = mgda_normalize(m, in);
    if (st != MTL_OK)
        return st;

    if (mgda_min_norm(m->mn, k, m->max_iter, m->c, m->work, &change) != 0) {
        snprintf(m->warning, sizeof m->warning,
                 "min-norm solver stopped after %d iterations (L1 change %.3g > %g); using its "
                 "last iterate",
                 m->max_iter, change, MGDA_STOP_CRIT);
        out->solve_failed = 1;
        out->warning = m->warning;
    }
    for (int i = 0; i < k; i++) {
        m->c[i] *= k;
        loss += m->c[i] * in->losses[i];
    }
    mu_output_loss_weighted(out, m->c, k, loss);
    return mu_output_check(out, k, 0);
}

static const mtl_method_plugin mgda_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "mgda",
    .version = "1.0",
    .description = "MGDA-UB: minimum-norm point of the gradients' convex hull, weights x k",
    .reference = "Sener and Koltun, NeurIPS 2018",
    .options = mgda_options,
    .n_options = sizeof mgda_options / sizeof mgda_options[0],
    .create = mgda_create,
    .destroy = mgda_destroy,
    .plan = mgda_plan,
    .weigh = mgda_weigh,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &mgda_plugin;
}
