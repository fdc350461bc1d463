/*
 * toy - the illustrative two-task problem of the Nash-MTL paper (Navon et al.,
 * ICML 2022, Figure 1), itself a modification of the example in CAGrad (Liu
 * et al., NeurIPS 2021).
 *
 * The model is one shared parameter x = (x1, x2) and no heads.  With
 * c1 = max(tanh(x2/2), 0) and c2 = max(tanh(-x2/2), 0):
 *
 *   f1 = scale * (c1 (log max(|0.5(-x1 - 7) - tanh(-x2)|, 5e-6) + 6)
 *                 + c2 (((-x1 + 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20))
 *   f2 =          c1 (log max(|0.5(-x1 + 3) + tanh(-x2) + 2|, 5e-6) + 6)
 *                 + c2 (((-x1 - 7)^2 + 0.1(-x2 - 8)^2) / 10 - 20)
 *
 * The expression is built op by op in the order of the reference's PyTorch
 * code, so that float32 rounding and the gradients at the kinks follow the
 * same rules: the clamps pass the gradient at their bound (at the start
 * (0, 0), tanh(x2/2) is exactly 0 and x must still move), and |u| has
 * gradient 0 at u = 0.
 *
 * One trial per start, one epoch of `steps` batches, no validation or test
 * split.  Every trial's trajectory is kept in memory; trial_end writes all
 * trajectories so far to <run_dir>/toy_trajectories.csv and the final
 * points to <run_dir>/toy_final.csv, each through a temporary file renamed
 * into place, so a reader never sees a half-written file.  The trial, the
 * step count and every trajectory so far are the task's state in the host's
 * checkpoints (state_save/state_load), so that a resumed run writes the same
 * files as an uninterrupted one.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/mtl.h"

#define TOY_N_STARTS 5

/* The reference's starting points, in its order (paper, Figure 1). */
static const float toy_starts[TOY_N_STARTS][2] = {
    {-8.5f, 7.5f}, {0.0f, 0.0f}, {9.0f, 9.0f}, {-7.5f, -0.5f}, {9.0f, -1.0f}};

/* Lower bound of the log's argument in the reference (LOWER). */
#define TOY_LOG_FLOOR 5e-6f

enum { TOY_METRIC_L1, TOY_METRIC_L2, TOY_METRIC_X1, TOY_METRIC_X2, TOY_N_METRICS };

static const char *const toy_task_names[2] = {"f1", "f2"};

/* The final point of a trial; no single-task baseline exists for the toy. */
static const mtl_metric toy_metrics[TOY_N_METRICS] = {
    {"l1", 0, 0, 0.0, ""},
    {"l2", 1, 0, 0.0, ""},
    {"x1", -1, 0, 0.0, ""},
    {"x2", -1, 0, 0.0, ""},
};

static const mtl_option toy_options[] = {
    {"steps", MTL_OPT_INT, "35000", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "optimizer steps per start (the batches of the single epoch)"},
    {"scale", MTL_OPT_DOUBLE, "0.1", NULL, MTL_OPT_HAS_MIN | MTL_OPT_MIN_EXCLUSIVE, 0, 0,
     "factor of the first objective"},
    {"record_every", MTL_OPT_INT, "10", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "steps between two recorded points of a trajectory (the last point is always kept)"},
    {"starts", MTL_OPT_DOUBLE_LIST, "0,1,2,3,4", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0,
     TOY_N_STARTS - 1,
     "indices of the starts to run, one trial each: 0 (-8.5, 7.5), 1 (0, 0), 2 (9, 9), "
     "3 (-7.5, -0.5), 4 (9, -1)"},
};

/*
 * The protocol of the paper: one epoch of 35,000 plain Adam steps at lr 1e-3
 * (no weight decay, no schedule).
 */
static const char *const toy_defaults[] = {"train.epochs=1", "train.lr=1e-3",
                                           "train.weight_decay=0", "train.scheduler=none", NULL};

/* One recorded point of a trajectory. */
typedef struct toy_point {
    int64_t step; /* optimizer steps taken before this point */
    float x1, x2, l1, l2;
} toy_point;

typedef struct toy_trace {
    int start; /* index into toy_starts */
    toy_point *points;
    size_t n, cap;
} toy_trace;

typedef struct toy {
    const mtl_host *host;
    mtl_model *model;
    mtl_tensor *x;
    mtl_graph *eval; /* evaluates the current point outside the host's steps */

    int64_t steps, record_every;
    float scale;
    int n_starts;
    int starts[TOY_N_STARTS];

    int trial;     /* current trial, -1 before the first */
    int64_t epoch; /* current training epoch */
    int64_t taken; /* training forwards seen in this trial */
    toy_trace traces[TOY_N_STARTS];
} toy;

/* ---- the objectives ------------------------------------------------------ */

/* log(max(|u|, 5e-6)) + 6, the log branch of both objectives. */
static mtl_tensor *toy_log_branch(mtl_graph *g, mtl_tensor *u)
{
    mtl_tensor *a = mtl_clamp(g, mtl_abs(g, u), TOY_LOG_FLOOR, INFINITY);

    return mtl_add_scalar(g, mtl_log(g, a), 6.0f);
}

/* ((-x1 + shift)^2 + 0.1 (-x2 - 8)^2) / 10 - 20, the quadratic branch. */
static mtl_tensor *toy_quad_branch(mtl_graph *g, mtl_tensor *nx1, mtl_tensor *nx2, float shift)
{
    mtl_tensor *p = mtl_pow_scalar(g, mtl_add_scalar(g, nx1, shift), 2.0f);
    mtl_tensor *q = mtl_pow_scalar(g, mtl_add_scalar(g, nx2, -8.0f), 2.0f);
    mtl_tensor *s = mtl_add(g, p, mtl_mul_scalar(g, q, 0.1f));

    /* A true division, as the reference's "/ 10" (x * 0.1f rounds differently). */
    return mtl_add_scalar(g, mtl_div(g, s, mtl_graph_scalar(g, 10.0f)), -20.0f);
}

/*
 * Records f1 (scaled) and f2 of the parameter x into g; NULL results leave
 * the reason in the graph's status.
 */
static void toy_objectives(mtl_graph *g, mtl_tensor *x, float scale, mtl_tensor **f1,
                           mtl_tensor **f2)
{
    mtl_tensor *x1 = mtl_select(g, x, 0);
    mtl_tensor *x2 = mtl_select(g, x, 1);
    mtl_tensor *nx1 = mtl_neg(g, x1);
    mtl_tensor *nx2 = mtl_neg(g, x2);
    mtl_tensor *t = mtl_tanh(g, nx2);

    /* 0.5 (-x1 - 7) - tanh(-x2) and 0.5 (-x1 + 3) + tanh(-x2) + 2 */
    mtl_tensor *u1 = mtl_sub(g, mtl_mul_scalar(g, mtl_add_scalar(g, nx1, -7.0f), 0.5f), t);
    mtl_tensor *u2 = mtl_add_scalar(
        g, mtl_add(g, mtl_mul_scalar(g, mtl_add_scalar(g, nx1, 3.0f), 0.5f), t), 2.0f);
    mtl_tensor *log1 = toy_log_branch(g, u1);
    mtl_tensor *log2 = toy_log_branch(g, u2);

    /* The clamps at 0 pass the gradient where tanh(+-x2/2) == 0 (x2 == 0). */
    mtl_tensor *c1 = mtl_clamp(g, mtl_tanh(g, mtl_mul_scalar(g, x2, 0.5f)), 0.0f, INFINITY);
    mtl_tensor *quad1 = toy_quad_branch(g, nx1, nx2, 7.0f);
    mtl_tensor *quad2 = toy_quad_branch(g, nx1, nx2, -7.0f);
    mtl_tensor *c2 = mtl_clamp(g, mtl_tanh(g, mtl_mul_scalar(g, nx2, 0.5f)), 0.0f, INFINITY);

    mtl_tensor *g1 = mtl_add(g, mtl_mul(g, log1, c1), mtl_mul(g, quad1, c2));
    *f1 = mtl_mul_scalar(g, g1, scale);
    *f2 = mtl_add(g, mtl_mul(g, log2, c1), mtl_mul(g, quad2, c2));
}

/* The current x and its two objectives, evaluated in the task's own graph. */
static mtl_status toy_evaluate(toy *self, toy_point *p)
{
    mtl_tensor *f1, *f2;
    float x[2];
    mtl_status st;

    mtl_graph_reset(self->eval);
    mtl_graph_set_recording(self->eval, 0);
    toy_objectives(self->eval, self->x, self->scale, &f1, &f2);
    st = mtl_graph_status(self->eval);
    if (st != MTL_OK)
        return st;
    st = mtl_tensor_read(self->x, x, 2);
    if (st != MTL_OK)
        return st;

    p->x1 = x[0];
    p->x2 = x[1];
    p->l1 = mtl_tensor_item(f1);
    p->l2 = mtl_tensor_item(f2);
    return MTL_OK;
}

/* ---- trajectories -------------------------------------------------------- */

static mtl_status toy_trace_push(toy_trace *tr, const toy_point *p)
{
    if (tr->n == tr->cap) {
        size_t cap = tr->cap ? 2 * tr->cap : 256;
        toy_point *pts = realloc(tr->points, cap * sizeof *pts);

        if (!pts)
            return mtl_error_set(MTL_ERR_NOMEM, "trajectory: cannot grow to %zu points", cap);
        tr->points = pts;
        tr->cap = cap;
    }
    tr->points[tr->n++] = *p;
    return MTL_OK;
}

typedef void (*toy_write_fn)(const toy *self, FILE *f);

/* Writes <run_dir>/<name> through <name>.tmp and a rename. */
static mtl_status toy_write_atomic(const toy *self, const char *name, toy_write_fn write)
{
    char path[4096], tmp[4096 + 8];
    FILE *f;
    int failed;

    snprintf(path, sizeof path, "%s/%s", self->host->run_dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return mtl_error_set(MTL_ERR_IO, "output: cannot create '%s': %s", tmp, strerror(errno));

    write(self, f);
    failed = ferror(f);
    if (fclose(f) != 0 || failed) {
        remove(tmp);
        return mtl_error_set(MTL_ERR_IO, "output: cannot write '%s'", tmp);
    }
    if (rename(tmp, path) != 0) {
        mtl_status st = mtl_error_set(MTL_ERR_IO, "output: cannot rename '%s' to '%s': %s", tmp,
                                      path, strerror(errno));
        remove(tmp);
        return st;
    }
    return MTL_OK;
}

/* %.9g prints a float32 so that it reads back exactly. */
static void toy_write_trajectories(const toy *self, FILE *f)
{
    fprintf(f, "start,step,x1,x2,l1,l2\n");
    for (int t = 0; t <= self->trial; t++) {
        const toy_trace *tr = &self->traces[t];

        for (size_t i = 0; i < tr->n; i++) {
            const toy_point *p = &tr->points[i];
            fprintf(f, "%d,%lld,%.9g,%.9g,%.9g,%.9g\n", tr->start, (long long)p->step,
                    (double)p->x1, (double)p->x2, (double)p->l1, (double)p->l2);
        }
    }
}

static void toy_write_final(const toy *self, FILE *f)
{
    fprintf(f, "start,start_x1,start_x2,step,x1,x2,l1,l2\n");
    for (int t = 0; t <= self->trial; t++) {
        const toy_trace *tr = &self->traces[t];
        const toy_point *p = &tr->points[tr->n - 1];

        fprintf(f, "%d,%.9g,%.9g,%lld,%.9g,%.9g,%.9g,%.9g\n", tr->start,
                (double)toy_starts[tr->start][0], (double)toy_starts[tr->start][1],
                (long long)p->step, (double)p->x1, (double)p->x2, (double)p->l1, (double)p->l2);
    }
}

/* ---- plugin callbacks ---------------------------------------------------- */

/* Reads task.starts: distinct integer indices into toy_starts. */
static mtl_status toy_read_starts(toy *self)
{
    const double *v;
    size_t n;
    int seen[TOY_N_STARTS] = {0};
    mtl_status st = self->host->config_doubles(self->host, "starts", &v, &n);

    if (st != MTL_OK)
        return st;
    if (n == 0 || n > TOY_N_STARTS)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: bad task.starts: wrong number of starts (expected 1 to "
                             "%d, got %zu)",
                             TOY_N_STARTS, n);
    for (size_t i = 0; i < n; i++) {
        int s = (int)v[i];

        if (v[i] != (double)s || s < 0 || s >= TOY_N_STARTS)
            return mtl_error_set(MTL_ERR_CONFIG,
                                 "options: bad task.starts: item %zu is not a start index "
                                 "(expected an integer from 0 to %d, got %g)",
                                 i + 1, TOY_N_STARTS - 1, v[i]);
        if (seen[s]++)
            return mtl_error_set(MTL_ERR_CONFIG,
                                 "options: bad task.starts: start %d is listed twice "
                                 "(expected each index at most once)",
                                 s);
        self->starts[self->n_starts++] = s;
    }
    return MTL_OK;
}

static mtl_status toy_read_options(toy *self)
{
    double scale;
    mtl_status st;

    st = self->host->config_int(self->host, "steps", &self->steps);
    if (st == MTL_OK)
        st = self->host->config_int(self->host, "record_every", &self->record_every);
    if (st == MTL_OK)
        st = self->host->config_double(self->host, "scale", &scale);
    if (st != MTL_OK)
        return st;
    self->scale = (float)scale;
    return toy_read_starts(self);
}

static void toy_destroy(void *ptr)
{
    toy *self = ptr;

    if (!self)
        return;
    for (int t = 0; t < TOY_N_STARTS; t++)
        free(self->traces[t].points);
    mtl_graph_destroy(self->eval);
    mtl_model_destroy(self->model);
    free(self);
}

/* The model: x, shared by both objectives; no heads. */
static mtl_status toy_build_model(toy *self)
{
    static const int64_t shape[1] = {2};
    mtl_status st = mtl_model_create(&self->model);

    if (st != MTL_OK)
        return st;
    self->x = mtl_model_param(self->model, "x", MTL_ROLE_SHARED, -1, 0, 1, shape);
    if (!self->x)
        return mtl_error_wrap(MTL_ERR_NOMEM, "model: parameter x");
    return mtl_graph_create(&self->eval);
}

static mtl_status toy_create(const mtl_host *host, void **out, mtl_task_info *info)
{
    toy *self = calloc(1, sizeof *self);
    mtl_status st;

    *out = NULL;
    if (!self)
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    self->host = host;
    self->trial = -1;

    st = toy_read_options(self);
    if (st == MTL_OK)
        st = toy_build_model(self);
    if (st != MTL_OK) {
        toy_destroy(self);
        return st;
    }

    info->n_tasks = 2;
    info->task_names = toy_task_names;
    info->n_metrics = TOY_N_METRICS;
    info->metrics = toy_metrics;
    info->model = self->model;
    info->n_trials = self->n_starts;
    info->figure_tool = "plot_toy.py";
    *out = self;
    return MTL_OK;
}

static mtl_status toy_trial_begin(void *ptr, int trial)
{
    toy *self = ptr;
    toy_trace *tr;

    if (trial < 0 || trial >= self->n_starts)
        return mtl_error_set(MTL_ERR_INVALID,
                             "trial_begin: no such trial (expected 0 to %d, "
                             "got %d)",
                             self->n_starts - 1, trial);
    self->trial = trial;
    self->epoch = 0;
    self->taken = 0;
    tr = &self->traces[trial];
    tr->start = self->starts[trial];
    tr->n = 0;
    return mtl_tensor_write(self->x, toy_starts[tr->start], 2);
}

/* One batch per step in training; nothing to evaluate on. */
static mtl_status toy_epoch_begin(void *ptr, mtl_split split, int64_t epoch, int64_t *n_batches)
{
    toy *self = ptr;

    if (split == MTL_SPLIT_TRAIN) {
        self->epoch = epoch;
        *n_batches = self->steps;
    } else {
        *n_batches = 0;
    }
    return MTL_OK;
}

static mtl_status toy_forward(void *ptr, mtl_split split, int64_t batch, int training, mtl_graph *g,
                              mtl_task_output *out)
{
    toy *self = ptr;
    mtl_tensor *f1, *f2;
    mtl_status st;
    int64_t step = self->epoch * self->steps + batch;

    toy_objectives(g, self->x, self->scale, &f1, &f2);
    st = mtl_graph_status(g);
    if (st != MTL_OK)
        return st;
    out->losses[0] = f1;
    out->losses[1] = f2;
    out->rep = NULL;

    if (split != MTL_SPLIT_TRAIN || !training || self->trial < 0)
        return MTL_OK;
    self->taken = step + 1;
    if (step % self->record_every == 0) {
        float x[2];
        toy_point p;

        st = mtl_tensor_read(self->x, x, 2);
        if (st != MTL_OK)
            return st;
        p = (toy_point){step, x[0], x[1], mtl_tensor_item(f1), mtl_tensor_item(f2)};
        return toy_trace_push(&self->traces[self->trial], &p);
    }
    return MTL_OK;
}

/* The objectives and coordinates of the current point, whatever the split. */
static mtl_status toy_metrics_get(void *ptr, mtl_split split, double *values)
{
    toy *self = ptr;
    toy_point p;
    mtl_status st = toy_evaluate(self, &p);

    (void)split;
    if (st != MTL_OK)
        return st;
    values[TOY_METRIC_L1] = p.l1;
    values[TOY_METRIC_L2] = p.l2;
    values[TOY_METRIC_X1] = p.x1;
    values[TOY_METRIC_X2] = p.x2;
    return MTL_OK;
}

static mtl_status toy_trial_end(void *ptr, int trial)
{
    toy *self = ptr;
    toy_point p;
    mtl_status st;

    if (trial != self->trial)
        return mtl_error_set(MTL_ERR_INVALID,
                             "trial_end: not the current trial (expected %d, "
                             "got %d)",
                             self->trial, trial);

    /* The point after the last step, which no forward pass has seen. */
    st = toy_evaluate(self, &p);
    if (st != MTL_OK)
        return st;
    p.step = self->taken;
    st = toy_trace_push(&self->traces[trial], &p);
    if (st != MTL_OK || !self->host->run_dir)
        return st;

    st = toy_write_atomic(self, "toy_trajectories.csv", toy_write_trajectories);
    if (st == MTL_OK)
        st = toy_write_atomic(self, "toy_final.csv", toy_write_final);
    return st;
}

/* ---- checkpoints --------------------------------------------------------- */

/*
 * The state: "TOYS", version 1, then trial (int32), epoch and taken (int64),
 * the number of traces (int32, trial + 1), and each trace: its start
 * (int32), its number of points (int64) and the points (step int64, then
 * x1, x2, l1, l2 as float32), all in the machine's byte order.
 */
#define TOY_STATE_MAGIC   "TOYS"
#define TOY_STATE_VERSION 1u
#define TOY_POINT_BYTES   (8 + 4 * 4)

static size_t toy_state_size(const toy *self)
{
    size_t n = 4 + 4 + 4 + 8 + 8 + 4;

    for (int t = 0; t <= self->trial; t++)
        n += 4 + 8 + self->traces[t].n * TOY_POINT_BYTES;
    return n;
}

static unsigned char *toy_put(unsigned char *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

static mtl_status toy_state_save(void *ptr, void *buf, size_t cap, size_t *len)
{
    toy *self = ptr;
    unsigned char *p = buf;
    uint32_t version = TOY_STATE_VERSION;
    int32_t trial = self->trial, n_traces = self->trial + 1;

    *len = toy_state_size(self);
    if (!buf)
        return MTL_OK;
    if (cap < *len)
        return mtl_error_set(MTL_ERR_INVALID,
                             "state_save: buffer too small (expected %zu bytes, got %zu)", *len,
                             cap);
    p = toy_put(p, TOY_STATE_MAGIC, 4);
    p = toy_put(p, &version, 4);
    p = toy_put(p, &trial, 4);
    p = toy_put(p, &self->epoch, 8);
    p = toy_put(p, &self->taken, 8);
    p = toy_put(p, &n_traces, 4);
    for (int t = 0; t < n_traces; t++) {
        const toy_trace *tr = &self->traces[t];
        int32_t start = tr->start;
        int64_t n = (int64_t)tr->n;

        p = toy_put(p, &start, 4);
        p = toy_put(p, &n, 8);
        for (size_t i = 0; i < tr->n; i++) {
            const toy_point *q = &tr->points[i];
            p = toy_put(p, &q->step, 8);
            p = toy_put(p, &q->x1, 4);
            p = toy_put(p, &q->x2, 4);
            p = toy_put(p, &q->l1, 4);
            p = toy_put(p, &q->l2, 4);
        }
    }
    return MTL_OK;
}

/* Reads n bytes at *at of a state of len bytes; 0 when it would overrun. */
static int toy_get(const unsigned char *buf, size_t len, size_t *at, void *v, size_t n)
{
    if (len - *at < n)
        return 0;
    memcpy(v, buf + *at, n);
    *at += n;
    return 1;
}

static mtl_status toy_state_bad(const char *what)
{
    return mtl_error_set(MTL_ERR_DATA, "state_load: %s", what);
}

/* Checks the header and every trace's length before anything is changed. */
static mtl_status toy_state_check(const toy *self, const unsigned char *b, size_t len,
                                  int32_t *trial)
{
    size_t at = 0;
    char magic[4];
    uint32_t version = 0;
    int64_t epoch, taken;
    int32_t n_traces = 0;

    if (!toy_get(b, len, &at, magic, 4) || memcmp(magic, TOY_STATE_MAGIC, 4) != 0)
        return toy_state_bad("not a toy state (expected the magic 'TOYS')");
    if (!toy_get(b, len, &at, &version, 4) || version != TOY_STATE_VERSION)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: unsupported toy state version (expected %u, got %u)",
                             TOY_STATE_VERSION, (unsigned)version);
    if (!toy_get(b, len, &at, trial, 4) || !toy_get(b, len, &at, &epoch, 8) ||
        !toy_get(b, len, &at, &taken, 8) || !toy_get(b, len, &at, &n_traces, 4))
        return toy_state_bad("truncated toy state");
    if (*trial < 0 || *trial >= self->n_starts || n_traces != *trial + 1)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: toy state of trial %d with %d trajectories (expected a "
                             "trial from 0 to %d and one more trajectory)",
                             (int)*trial, (int)n_traces, self->n_starts - 1);
    for (int32_t t = 0; t < n_traces; t++) {
        int32_t start = 0;
        int64_t n = 0;
        if (!toy_get(b, len, &at, &start, 4) || !toy_get(b, len, &at, &n, 8))
            return toy_state_bad("truncated toy state");
        if (start != self->starts[t] || n < 0 || (uint64_t)n > (len - at) / TOY_POINT_BYTES)
            return mtl_error_set(MTL_ERR_DATA,
                                 "state_load: trajectory %d of the toy state does not fit "
                                 "(expected start %d and at most %zu points, got start %d and "
                                 "%lld)",
                                 (int)t, self->starts[t], (len - at) / TOY_POINT_BYTES, (int)start,
                                 (long long)n);
        at += (size_t)n * TOY_POINT_BYTES;
    }
    if (at != len)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: toy state has %zu bytes too many (expected %zu, got "
                             "%zu)",
                             len - at, at, len);
    return MTL_OK;
}

static mtl_status toy_state_load(void *ptr, const void *buf, size_t len)
{
    toy *self = ptr;
    const unsigned char *b = buf;
    size_t at = 12;
    int32_t trial = 0, n_traces = 0;
    mtl_status st = toy_state_check(self, b, len, &trial);

    if (st != MTL_OK)
        return st;
    toy_get(b, len, &at, &self->epoch, 8);
    toy_get(b, len, &at, &self->taken, 8);
    toy_get(b, len, &at, &n_traces, 4);
    self->trial = trial;
    for (int32_t t = 0; t < n_traces; t++) {
        toy_trace *tr = &self->traces[t];
        int32_t start = 0;
        int64_t n = 0;

        toy_get(b, len, &at, &start, 4);
        toy_get(b, len, &at, &n, 8);
        tr->start = start;
        tr->n = 0;
        for (int64_t i = 0; i < n; i++) {
            toy_point q;
            toy_get(b, len, &at, &q.step, 8);
            toy_get(b, len, &at, &q.x1, 4);
            toy_get(b, len, &at, &q.x2, 4);
            toy_get(b, len, &at, &q.l1, 4);
            toy_get(b, len, &at, &q.l2, 4);
            if ((st = toy_trace_push(tr, &q)) != MTL_OK)
                return st;
        }
    }
    return MTL_OK;
}

static const mtl_task_plugin toy_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin),
    .name = "toy",
    .version = "1.0.0",
    .description = "two objectives of two shared parameters, five starts (Nash-MTL Figure 1)",
    .reference = "Navon et al., ICML 2022, Figure 1; objectives from Liu et al., NeurIPS 2021",
    .options = toy_options,
    .n_options = sizeof toy_options / sizeof toy_options[0],
    .defaults = toy_defaults,
    .create = toy_create,
    .destroy = toy_destroy,
    .trial_begin = toy_trial_begin,
    .epoch_begin = toy_epoch_begin,
    .forward = toy_forward,
    .metrics = toy_metrics_get,
    .trial_end = toy_trial_end,
    .state_save = toy_state_save,
    .state_load = toy_state_load,
};

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void);

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void)
{
    return &toy_plugin;
}
