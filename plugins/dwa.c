/*
 * dwa - dynamic weight average (Liu, Johns and Davison, "End-to-End
 * Multi-Task Learning with Attention", CVPR 2019), in the reference's
 * iteration-window variant (DynamicWeightAverage):
 *
 *   keep the last 2W loss vectors, a FIFO that starts filled with ones;
 *   push this step's losses; from the (W + 2)-th step on (the reference
 *   compares with W a step counter that does not yet count the current
 *   step) set r_i = mean of the newer W / mean of the older W and
 *   w = k softmax(r / T);  the loss is mean_i(w_i l_i), so c_i = w_i / k.
 *
 * Until then w keeps its initial ones (c_i = 1 / k).  Before 2W steps the
 * older half still holds some of the initial ones, exactly as in the
 * reference.  The reference keeps the window in float32; we use double.
 * When an older mean is 0 (the ratio is undefined) the previous weights are
 * kept and the step is reported as a failed solve.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method_util.h"

typedef struct dwa_method {
    int k;
    int window; /* W */
    double temp;
    /* the state (saved): */
    int64_t seen;  /* steps weighed so far (the reference's running_iterations) */
    double *costs; /* 2W x k, oldest first */
    double *w;     /* current weights, sum k */
    /* scratch: */
    double *r;
    double *c;
    char warning[160];
} dwa_method;

static const mtl_option dwa_options[] = {
    {"iteration_window", MTL_OPT_INT, "25", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 1, 100000,
     "W: the loss ratio compares the means of the last W steps and the W before"},
    {"temp", MTL_OPT_DOUBLE, "2.0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE, 0, 0,
     "T: softmax temperature of the loss ratios"},
};

static void dwa_destroy(void *self)
{
    dwa_method *m = self;

    if (!m)
        return;
    free(m->costs);
    free(m->w);
    free(m->r);
    free(m->c);
    free(m);
}

static void dwa_reset(dwa_method *m)
{
    m->seen = 0;
    for (int i = 0; i < 2 * m->window * m->k; i++)
        m->costs[i] = 1.0;
    for (int i = 0; i < m->k; i++)
        m->w[i] = 1.0;
}

static mtl_status dwa_create(const mtl_host *host, int n_tasks, void **self, mtl_method_info *info)
{
    dwa_method *m;
    int64_t window;
    double temp;
    mtl_status st = host->config_int(host, "iteration_window", &window);

    (void)info;
    if (st == MTL_OK)
        st = host->config_double(host, "temp", &temp);
    if (st != MTL_OK)
        return st;

    m = calloc(1, sizeof *m);
    if (!m || !(m->costs = calloc((size_t)(2 * window * n_tasks), sizeof *m->costs)) ||
        !(m->w = calloc((size_t)n_tasks, sizeof *m->w)) ||
        !(m->r = calloc((size_t)n_tasks, sizeof *m->r)) ||
        !(m->c = calloc((size_t)n_tasks, sizeof *m->c))) {
        dwa_destroy(m);
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    m->k = n_tasks;
    m->window = (int)window;
    m->temp = temp;
    dwa_reset(m);
    *self = m;
    return MTL_OK;
}

static mtl_status dwa_plan(void *self, int64_t step, mtl_method_plan *plan)
{
    (void)self;
    (void)step;
    plan->need = MTL_NEED_LOSSES;
    return MTL_OK;
}

/* r_i = mean of the newer W costs / mean of the older W; -1 when undefined. */
static int dwa_ratios(dwa_method *m)
{
    int k = m->k, W = m->window;

    for (int i = 0; i < k; i++) {
        double older = 0.0, newer = 0.0;

        for (int t = 0; t < W; t++) {
            older += m->costs[t * k + i];
            newer += m->costs[(W + t) * k + i];
        }
        m->r[i] = (newer / W) / (older / W);
        if (!isfinite(m->r[i]))
            return i;
    }
    return -1;
}

static mtl_status dwa_weigh(void *self, const mtl_method_input *in, mtl_method_output *out)
{
    dwa_method *m = self;
    int k = m->k;
    double loss = 0.0;

    memmove(m->costs, m->costs + k, (size_t)(2 * m->window - 1) * k * sizeof *m->costs);
    memcpy(m->costs + (size_t)(2 * m->window - 1) * k, in->losses, (size_t)k * sizeof *m->costs);

    if (m->seen > m->window) {
        int bad = dwa_ratios(m);

        if (bad < 0) {
            mu_softmax(m->r, k, m->temp, m->w);
            for (int i = 0; i < k; i++)
                m->w[i] *= k;
        } else {
            snprintf(m->warning, sizeof m->warning,
                     "task %d: loss ratio undefined (mean of the older %d losses is 0); keeping "
                     "the last weights",
                     bad, m->window);
            out->solve_failed = 1;
            out->warning = m->warning;
        }
    }
    m->seen++;

    for (int i = 0; i < k; i++) {
        m->c[i] = m->w[i] / k;
        loss += m->c[i] * in->losses[i];
    }
    mu_output_loss_weighted(out, m->c, k, loss);
    mu_output_report(out, m->w, k);
    return mu_output_check(out, k, 0);
}

/* State: seen (as a double, exact below 2^53), the weights, the window. */
static size_t dwa_state_doubles(const dwa_method *m)
{
    return 1 + (size_t)m->k + (size_t)(2 * m->window * m->k);
}

static mtl_status dwa_state_save(void *self, void *buf, size_t cap, size_t *len)
{
    dwa_method *m = self;
    size_t n = dwa_state_doubles(m);
    double *payload = malloc(n * sizeof *payload);
    mtl_status st;

    if (!payload)
        return mtl_error_set(MTL_ERR_NOMEM, "state_save: out of memory");
    payload[0] = (double)m->seen;
    memcpy(payload + 1, m->w, (size_t)m->k * sizeof *payload);
    memcpy(payload + 1 + m->k, m->costs, (size_t)(2 * m->window * m->k) * sizeof *payload);
    st = mu_state_save("dwa ", 1, m->k, payload, n * sizeof *payload, buf, cap, len);
    free(payload);
    return st;
}

static mtl_status dwa_state_load(void *self, const void *buf, size_t len)
{
    dwa_method *m = self;
    size_t n = dwa_state_doubles(m);
    const unsigned char *p;
    double seen;
    mtl_status st = mu_state_open("dwa ", 1, m->k, buf, len, n * sizeof(double), &p);

    if (st != MTL_OK)
        return st;
    memcpy(&seen, p, sizeof seen);
    m->seen = (int64_t)seen;
    memcpy(m->w, p + sizeof(double), (size_t)m->k * sizeof(double));
    memcpy(m->costs, p + (1 + (size_t)m->k) * sizeof(double),
           (size_t)(2 * m->window * m->k) * sizeof(double));
    return MTL_OK;
}

static const mtl_method_plugin dwa_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_METHOD, mtl_method_plugin),
    .name = "dwa",
    .version = "1.0",
    .description = "dynamic weight average, iteration-window variant",
    .reference = "Liu, Johns and Davison, CVPR 2019",
    .options = dwa_options,
    .n_options = sizeof dwa_options / sizeof dwa_options[0],
    .create = dwa_create,
    .destroy = dwa_destroy,
    .plan = dwa_plan,
    .weigh = dwa_weigh,
    .state_save = dwa_state_save,
    .state_load = dwa_state_load,
};

MTL_EXPORT const mtl_method_plugin *mtl_method_entry(void);

const mtl_method_plugin *mtl_method_entry(void)
{
    return &dwa_plugin;
}
