/*
 * fx_linear: the host tests' task, a linear model whose per-task gradients
 * are known in closed form.
 *
 *   shared  w [d], b [d] (b is the last shared layer)
 *   rep     z = b * (w * x)                 (elementwise, x the batch input)
 *   heads   a_i [1], one per task
 *   loss    l_i = 0.5 r_i^2,  r_i = a_i s_i - y_i,  s_i = sum_j z_j v_ij
 *
 * so that dl_i/dz = r_i a_i v_i, dl_i/db = dl_i/dz * (w * x),
 * dl_i/dw = dl_i/dz * b * x and dl_i/da_i = r_i s_i (see test_host_engine.c).
 *
 * Options make it misbehave on purpose: nan_from/nan_count give task 0 a NaN
 * loss on those training forwards (counted over the whole run).  The batch
 * order of each training epoch is shuffled with host->rng, so the seed
 * matters.  Metrics per split: the mean loss of each task (err_<task>, with
 * a baseline, lower is better) and fit = 1 / (1 + mean total loss) (higher
 * is better, baseline 0.5).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/task.h"

#define FX_MAX_TASKS 4
#define FX_MAX_DIM   8

static const char *const fx_task_names[FX_MAX_TASKS] = {"a", "b", "c", "d"};

static const mtl_option fx_linear_options[] = {
    {"n_tasks", MTL_OPT_INT, "2", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 1, FX_MAX_TASKS,
     "number of tasks"},
    {"dim", MTL_OPT_INT, "3", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 1, FX_MAX_DIM,
     "size of w, b and x"},
    {"n_batches", MTL_OPT_INT, "4", NULL, MTL_OPT_HAS_MIN, 0, 0, "training batches per epoch"},
    {"nan_from", MTL_OPT_INT, "-1", NULL, 0, 0, 0,
     "first training forward (over the run) whose task-0 loss is NaN; -1: never"},
    {"nan_count", MTL_OPT_INT, "1000000", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "how many forwards in a row get the NaN"},
    {"eval", MTL_OPT_BOOL, "true", NULL, 0, 0, 0, "give validation and test splits"},
    {"trials", MTL_OPT_INT, "1", NULL, MTL_OPT_HAS_MIN, 1, 0, "number of trials"},
    {"figure", MTL_OPT_STRING, "", NULL, 0, 0, 0, "figure_tool to report; empty: none"},
};

static const char *const fx_linear_defaults[] = {"train.epochs=2", "train.lr=0.05", NULL};

typedef struct fx_linear {
    const mtl_host *host;
    int k, d;
    int64_t n_batches, nan_from, nan_count, forwards;
    int eval, trials;
    const char *figure;
    mtl_model *model;
    mtl_tensor *w, *b, *a[FX_MAX_TASKS];
    /* data: batch x (n_batches train + 2 val + 2 test), per-task v and y */
    float (*x)[FX_MAX_DIM];
    float v[FX_MAX_TASKS][FX_MAX_DIM];
    float y[FX_MAX_TASKS];
    int64_t *order;
    mtl_metric metrics[FX_MAX_TASKS + 1];
    char metric_names[FX_MAX_TASKS][16];
    double sum[3][FX_MAX_TASKS];
    int64_t count[3];
} fx_linear;

static mtl_status fx_read_options(fx_linear *s)
{
    const mtl_host *h = s->host;
    int64_t k, d, trials;
    mtl_status st;

    if ((st = h->config_int(h, "n_tasks", &k)) != MTL_OK ||
        (st = h->config_int(h, "dim", &d)) != MTL_OK ||
        (st = h->config_int(h, "n_batches", &s->n_batches)) != MTL_OK ||
        (st = h->config_int(h, "nan_from", &s->nan_from)) != MTL_OK ||
        (st = h->config_int(h, "nan_count", &s->nan_count)) != MTL_OK ||
        (st = h->config_bool(h, "eval", &s->eval)) != MTL_OK ||
        (st = h->config_int(h, "trials", &trials)) != MTL_OK ||
        (st = h->config_string(h, "figure", &s->figure)) != MTL_OK)
        return st;
    s->k = (int)k;
    s->d = (int)d;
    s->trials = (int)trials;
    return MTL_OK;
}

static mtl_status fx_build_model(fx_linear *s)
{
    int64_t shape[1] = {s->d}, one[1] = {1};
    mtl_status st = mtl_model_create(&s->model);

    if (st != MTL_OK)
        return st;
    s->w = mtl_model_param(s->model, "w", MTL_ROLE_SHARED, -1, 0, 1, shape);
    s->b = mtl_model_param(s->model, "b", MTL_ROLE_SHARED, -1, MTL_PARAM_LAST_SHARED, 1, shape);
    for (int i = 0; i < s->k; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%d", i);
        s->a[i] = mtl_model_param(s->model, name, MTL_ROLE_TASK, i, 0, 1, one);
        if (!s->a[i])
            return MTL_ERR_NOMEM;
    }
    return s->w && s->b ? MTL_OK : MTL_ERR_NOMEM;
}

/* Fixed data drawn from the task's stream: the same for the same seed. */
static mtl_status fx_make_data(fx_linear *s)
{
    int64_t n = s->n_batches + 4;

    s->x = calloc((size_t)n, sizeof *s->x);
    s->order = calloc((size_t)s->n_batches + 1, sizeof *s->order);
    if (!s->x || !s->order)
        return mtl_error_set(MTL_ERR_NOMEM, "fx_linear: out of memory");
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < s->d; j++)
            s->x[i][j] = (float)mtl_rng_normal(s->host->rng);
    for (int i = 0; i < s->k; i++) {
        for (int j = 0; j < s->d; j++)
            s->v[i][j] = (float)mtl_rng_normal(s->host->rng);
        s->y[i] = (float)(1.0 + i);
    }
    return MTL_OK;
}

static void fx_make_metrics(fx_linear *s)
{
    for (int i = 0; i < s->k; i++) {
        snprintf(s->metric_names[i], sizeof s->metric_names[i], "err_%s", fx_task_names[i]);
        s->metrics[i] = (mtl_metric){s->metric_names[i], i, 0, 0.5 + 0.25 * i, ""};
    }
    s->metrics[s->k] = (mtl_metric){"fit", -1, 1, 0.5, ""};
}

static void fx_linear_destroy(void *ptr)
{
    fx_linear *s = ptr;

    if (!s)
        return;
    mtl_model_destroy(s->model);
    free(s->x);
    free(s->order);
    free(s);
}

static mtl_status fx_linear_create(const mtl_host *host, void **out, mtl_task_info *info)
{
    fx_linear *s = calloc(1, sizeof *s);
    mtl_status st;

    *out = NULL;
    if (!s)
        return mtl_error_set(MTL_ERR_NOMEM, "fx_linear: out of memory");
    s->host = host;
    st = fx_read_options(s);
    if (st == MTL_OK)
        st = fx_build_model(s);
    if (st == MTL_OK)
        st = fx_make_data(s);
    if (st != MTL_OK) {
        fx_linear_destroy(s);
        return st;
    }
    fx_make_metrics(s);
    info->n_tasks = s->k;
    info->task_names = fx_task_names;
    info->n_metrics = s->k + 1;
    info->metrics = s->metrics;
    info->model = s->model;
    info->n_trials = s->trials;
    info->figure_tool = *s->figure ? s->figure : NULL;
    *out = s;
    return MTL_OK;
}

static mtl_status fx_linear_trial_begin(void *ptr, int trial)
{
    fx_linear *s = ptr;
    float w[FX_MAX_DIM], b[FX_MAX_DIM], a;
    mtl_status st;

    for (int j = 0; j < s->d; j++) {
        w[j] = (float)(1.0 + 0.1 * j + 0.01 * trial);
        b[j] = (float)(0.5 + 0.05 * j);
    }
    st = mtl_tensor_write(s->w, w, (size_t)s->d);
    if (st == MTL_OK)
        st = mtl_tensor_write(s->b, b, (size_t)s->d);
    for (int i = 0; st == MTL_OK && i < s->k; i++) {
        a = (float)(1.0 + 0.5 * i);
        st = mtl_tensor_write(s->a[i], &a, 1);
    }
    return st;
}

static mtl_status fx_linear_epoch_begin(void *ptr, mtl_split split, int64_t epoch,
                                        int64_t *n_batches)
{
    fx_linear *s = ptr;

    (void)epoch;
    memset(s->sum[split], 0, sizeof s->sum[split]);
    s->count[split] = 0;
    if (split == MTL_SPLIT_TRAIN) {
        for (int64_t i = 0; i < s->n_batches; i++)
            s->order[i] = i;
        mtl_rng_shuffle(s->host->rng, s->order, (size_t)s->n_batches);
        *n_batches = s->n_batches;
    } else {
        *n_batches = s->eval ? 2 : 0;
    }
    return MTL_OK;
}

/* The row of x that batch `batch` of `split` uses. */
static int64_t fx_row(const fx_linear *s, mtl_split split, int64_t batch)
{
    if (split == MTL_SPLIT_TRAIN)
        return s->order[batch];
    return s->n_batches + (split == MTL_SPLIT_VAL ? 0 : 2) + batch;
}

static mtl_tensor *fx_input(mtl_graph *g, const float *values, int d)
{
    int64_t shape[1] = {d};
    mtl_tensor *t = mtl_graph_input(g, 1, shape);

    if (t)
        memcpy(mtl_tensor_data(t), values, (size_t)d * sizeof *values);
    return t;
}

static int fx_nan_now(fx_linear *s, mtl_split split, int training)
{
    int64_t n;

    if (split != MTL_SPLIT_TRAIN || !training)
        return 0;
    n = s->forwards++;
    return s->nan_from >= 0 && n >= s->nan_from && n < s->nan_from + s->nan_count;
}

static mtl_status fx_linear_forward(void *ptr, mtl_split split, int64_t batch, int training,
                                    mtl_graph *g, mtl_task_output *out)
{
    fx_linear *s = ptr;
    mtl_tensor *x = fx_input(g, s->x[fx_row(s, split, batch)], s->d);
    mtl_tensor *z = mtl_mul(g, s->b, mtl_mul(g, s->w, x));
    int nan_now = fx_nan_now(s, split, training);

    for (int i = 0; i < s->k; i++) {
        mtl_tensor *si = mtl_sum(g, mtl_mul(g, z, fx_input(g, s->v[i], s->d)));
        mtl_tensor *r = mtl_add_scalar(g, mtl_mul(g, s->a[i], si), -s->y[i]);
        mtl_tensor *l = mtl_mul_scalar(g, mtl_mul(g, r, r), 0.5f);
        if (i == 0 && nan_now)
            l = mtl_mul_scalar(g, l, NAN);
        out->losses[i] = l;
        s->sum[split][i] += mtl_tensor_item(l);
    }
    s->count[split]++;
    out->rep = z;
    return mtl_graph_status(g);
}

static mtl_status fx_linear_metrics(void *ptr, mtl_split split, double *values)
{
    fx_linear *s = ptr;
    double total = 0, n = s->count[split] ? (double)s->count[split] : 1;

    for (int i = 0; i < s->k; i++) {
        values[i] = s->sum[split][i] / n;
        total += values[i];
    }
    values[s->k] = 1 / (1 + total);
    memset(s->sum[split], 0, sizeof s->sum[split]);
    s->count[split] = 0;
    return MTL_OK;
}

#ifndef FX_OLD_SIZE
/* State: "FXLS", the forward count, then the metric sums and counts of every split. */
#define FX_STATE_BYTES (4 + 8 + sizeof(((fx_linear *)0)->sum) + sizeof(((fx_linear *)0)->count))

static mtl_status fx_linear_state_save(void *ptr, void *buf, size_t cap, size_t *len)
{
    fx_linear *s = ptr;
    unsigned char *p = buf;

    *len = FX_STATE_BYTES;
    if (!buf)
        return MTL_OK;
    if (cap < FX_STATE_BYTES)
        return mtl_error_set(MTL_ERR_INVALID, "fx_linear: state buffer too small");
    memcpy(p, "FXLS", 4);
    memcpy(p + 4, &s->forwards, 8);
    memcpy(p + 12, s->sum, sizeof s->sum);
    memcpy(p + 12 + sizeof s->sum, s->count, sizeof s->count);
    return MTL_OK;
}

static mtl_status fx_linear_state_load(void *ptr, const void *buf, size_t len)
{
    fx_linear *s = ptr;
    const unsigned char *p = buf;

    if (len != FX_STATE_BYTES || memcmp(p, "FXLS", 4) != 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "fx_linear: not a fx_linear state (expected %zu bytes starting "
                             "'FXLS', got %zu)",
                             (size_t)FX_STATE_BYTES, len);
    memcpy(&s->forwards, p + 4, 8);
    memcpy(s->sum, p + 12, sizeof s->sum);
    memcpy(s->count, p + 12 + sizeof s->sum, sizeof s->count);
    return MTL_OK;
}
#else
/*
 * A task built before state_save/state_load were appended to the struct: its
 * header's size stops before them, and the fields hold traps that the host
 * must never call.
 */
static mtl_status fx_trap_save(void *ptr, void *buf, size_t cap, size_t *len)
{
    (void)ptr, (void)buf, (void)cap, (void)len;
    abort();
}

static mtl_status fx_trap_load(void *ptr, const void *buf, size_t len)
{
    (void)ptr, (void)buf, (void)len;
    abort();
}
#endif

static const mtl_task_plugin fx_linear_plugin = {
#ifndef FX_OLD_SIZE
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin),
#else
    .header = {MTL_ABI_MAJOR, MTL_ABI_MINOR, (uint32_t)offsetof(mtl_task_plugin, state_save),
               MTL_PLUGIN_TASK},
#endif
    .name = "fx_linear",
    .version = "1.0",
    .description = "host test task: a linear model with closed-form gradients",
    .reference = NULL,
    .options = fx_linear_options,
    .n_options = sizeof fx_linear_options / sizeof fx_linear_options[0],
    .defaults = fx_linear_defaults,
    .create = fx_linear_create,
    .destroy = fx_linear_destroy,
    .trial_begin = fx_linear_trial_begin,
    .epoch_begin = fx_linear_epoch_begin,
    .forward = fx_linear_forward,
    .metrics = fx_linear_metrics,
    .trial_end = NULL,
#ifndef FX_OLD_SIZE
    .state_save = fx_linear_state_save,
    .state_load = fx_linear_state_load,
#else
    .state_save = fx_trap_save,
    .state_load = fx_trap_load,
#endif
};

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void);

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void)
{
    return &fx_linear_plugin;
}
