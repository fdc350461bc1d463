/*
 * multifashion - two Fashion-MNIST items on one image, one classification
 * task per item (the Multi-MNIST protocol of Sener & Koltun, NeurIPS 2018,
 * on Fashion-MNIST, Xiao et al. 2017).
 *
 * The data are built at create() from the four official idx files that the
 * Debian package dataset-fashion-mnist installs, by the seeded recipe of
 * README.md: training and validation pairs from the official training
 * split, test pairs from the official test split only.  The model is a
 * small shared convolutional trunk with one linear head per task
 * (mfashion.h); each task's loss is the cross-entropy of its item's class.
 * Metrics per task: accuracy (%, higher is better) and mean loss.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mfashion.h"

enum { M_ACC_LEFT, M_ACC_RIGHT, M_LOSS_LEFT, M_LOSS_RIGHT, N_METRICS };

static const char *const task_names[2] = {"left", "right"};

/*
 * No single-task baselines are published for Multi-Fashion: Delta_m is not
 * defined.
 */
static const mtl_metric metrics[N_METRICS] = {
    {"acc_left", 0, 1, 0.0, "%"},
    {"acc_right", 1, 1, 0.0, "%"},
    {"loss_left", 0, 0, 0.0, ""},
    {"loss_right", 1, 0, 0.0, ""},
};

/* The largest idx dimension mf_idx_load() accepts bounds every count of items and pairs. */
#define MF_MAX_ITEMS (1 << 24)

static const mtl_option options[] = {
    {"data_dir", MTL_OPT_STRING, "/usr/share/datasets/fashion-mnist", NULL, 0, 0, 0,
     "folder of the four Fashion-MNIST idx files, gzip-compressed or not (Debian package "
     "dataset-fashion-mnist)"},
    {"data_seed", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "seed of the recipe (held-out items, pairing): the same data for every run by default"},
    {"val_items", MTL_OPT_INT, "10000", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 2, MF_MAX_ITEMS,
     "official training items held out for validation pairs"},
    {"train_pairs", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, MF_MAX_ITEMS,
     "training pairs used, the recipe's first ones (0: all 50,000)"},
    {"val_pairs", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, MF_MAX_ITEMS,
     "validation pairs used, the first ones (0: all 10,000)"},
    {"test_pairs", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, MF_MAX_ITEMS,
     "test pairs used, the first ones (0: all 10,000)"},
};

/* The protocol of README.md: Adam at 1e-3, batches of 256, ten epochs. */
static const char *const defaults[] = {"train.epochs=10",      "train.lr=1e-3",
                                       "train.batch_size=256", "train.weight_decay=0",
                                       "train.scheduler=none", NULL};

/* What a pass over a split has accumulated. */
typedef struct pass_sums {
    int64_t seen;
    int64_t correct[2];
    double loss[2]; /* sum over batches of the mean loss times the batch size */
} pass_sums;

typedef struct mfashion {
    const mtl_host *host;
    mf_model net;
    mf_split_data data[3];
    int64_t batch_size;
    int64_t *order;   /* the training pairs' order in this epoch */
    float *pixels;    /* one batch of inputs, [batch, 28 * 28] */
    float *labels[2]; /* its labels per task, [batch] */
    float *logits;    /* one batch of one head's logits, [batch, 10] */
    pass_sums sums[3];
} mfashion;

/* ---- create / destroy ---------------------------------------------------- */

static void mf_destroy(void *ptr)
{
    mfashion *self = ptr;

    if (!self)
        return;
    for (int s = 0; s < 3; s++)
        mf_split_free(&self->data[s]);
    mf_model_deinit(&self->net);
    free(self->order);
    free(self->pixels);
    free(self->labels[0]);
    free(self->labels[1]);
    free(self->logits);
    free(self);
}

static mtl_status read_options(const mtl_host *host, const char **dir, mf_recipe *r,
                               int64_t *batch_size)
{
    int64_t seed;
    mtl_status st = host->config_string(host, "data_dir", dir);

    if (st == MTL_OK)
        st = host->config_int(host, "data_seed", &seed);
    if (st == MTL_OK)
        st = host->config_int(host, "val_items", &r->val_items);
    if (st == MTL_OK)
        st = host->config_int(host, "train_pairs", &r->max_pairs[MTL_SPLIT_TRAIN]);
    if (st == MTL_OK)
        st = host->config_int(host, "val_pairs", &r->max_pairs[MTL_SPLIT_VAL]);
    if (st == MTL_OK)
        st = host->config_int(host, "test_pairs", &r->max_pairs[MTL_SPLIT_TEST]);
    if (st == MTL_OK)
        st = host->config_int(host, "train.batch_size", batch_size);
    r->seed = (uint64_t)seed;
    return st;
}

/* Reads both official splits and builds the three splits of pairs. */
static mtl_status load_data(mfashion *self, const char *dir, const mf_recipe *r)
{
    mf_source train, test;
    mtl_status st = mf_source_load(dir, 0, &train);

    if (st != MTL_OK)
        return st;
    st = mf_source_load(dir, 1, &test);
    if (st == MTL_OK)
        st = mf_build(&train, &test, r, self->data);
    mf_source_free(&train);
    mf_source_free(&test);
    return st;
}

/* A batch holds at most the pairs of the largest split (checked before any size is computed). */
static mtl_status check_batch_size(const mfashion *self)
{
    int64_t most = 0;

    for (int s = 0; s < 3; s++)
        if (self->data[s].n > most)
            most = self->data[s].n;
    if (self->batch_size > most)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: train.batch_size is larger than the largest split "
                             "(expected at most %lld pairs, got %lld)",
                             (long long)most, (long long)self->batch_size);
    return MTL_OK;
}

/* task.data_dir: a folder, named as the problem when it is not one. */
static mtl_status check_dir(const char *dir)
{
    struct stat sb;
    int err;

    if (!dir[0])
        return mtl_error_set(MTL_ERR_CONFIG,
                             "data: task.data_dir is an empty path (expected the folder of the "
                             "Fashion-MNIST idx files)");
    switch (mf_path_look(dir, &sb, &err)) {
    case MF_PATH_FOUND:
        if (!S_ISDIR(sb.st_mode))
            return mtl_error_set(MTL_ERR_DATA,
                                 "data: task.data_dir '%s' is not a directory (expected the "
                                 "folder of the Fashion-MNIST idx files)",
                                 dir);
        return MTL_OK;
    case MF_PATH_MISSING: /* the files' lookup says which package provides them */
        return MTL_OK;
    case MF_PATH_DANGLING:
        return mtl_error_set(MTL_ERR_DATA,
                             "data: task.data_dir '%s' is a symbolic link to a missing folder "
                             "(expected the folder of the Fashion-MNIST idx files)",
                             dir);
    default:
        return mtl_error_set(MTL_ERR_IO, "data: cannot read task.data_dir '%s': %s", dir,
                             strerror(err));
    }
}

static mtl_status buffers_new(mfashion *self)
{
    int64_t b = self->batch_size;

    self->order = malloc((size_t)self->data[MTL_SPLIT_TRAIN].n * sizeof *self->order);
    self->pixels = malloc((size_t)(b * MF_PIXELS) * sizeof *self->pixels);
    self->logits = malloc((size_t)(b * MF_N_CLASSES) * sizeof *self->logits);
    self->labels[0] = malloc((size_t)b * sizeof *self->labels[0]);
    self->labels[1] = malloc((size_t)b * sizeof *self->labels[1]);
    if (!self->order || !self->pixels || !self->logits || !self->labels[0] || !self->labels[1])
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory for batches of %lld",
                             (long long)b);
    return MTL_OK;
}

static mtl_status mf_create(const mtl_host *host, void **out, mtl_task_info *info)
{
    mfashion *self = calloc(1, sizeof *self);
    mf_recipe recipe = {0};
    const char *dir = NULL;
    mtl_status st;

    *out = NULL;
    if (!self)
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    self->host = host;
    st = read_options(host, &dir, &recipe, &self->batch_size);
    if (st == MTL_OK)
        st = check_dir(dir);
    if (st == MTL_OK)
        st = load_data(self, dir, &recipe);
    if (st == MTL_OK)
        st = check_batch_size(self);
    if (st == MTL_OK)
        st = buffers_new(self);
    if (st == MTL_OK)
        st = mf_model_init(&self->net, host->rng);
    if (st != MTL_OK) {
        mf_destroy(self);
        return st;
    }
    host->log(host, MTL_LOG_INFO,
              "Multi-Fashion from '%s': %lld training, %lld validation, %lld test pairs (recipe "
              "seed %llu)",
              dir, (long long)self->data[0].n, (long long)self->data[1].n,
              (long long)self->data[2].n, (unsigned long long)recipe.seed);

    info->n_tasks = 2;
    info->task_names = task_names;
    info->n_metrics = N_METRICS;
    info->metrics = metrics;
    info->model = self->net.model;
    info->n_trials = 1;
    info->figure_tool = NULL;
    *out = self;
    return MTL_OK;
}

/* ---- passes -------------------------------------------------------------- */

static mtl_status mf_epoch_begin(void *ptr, mtl_split split, int64_t epoch, int64_t *n_batches)
{
    mfashion *self = ptr;
    int64_t n;

    (void)epoch;
    if (split < MTL_SPLIT_TRAIN || split > MTL_SPLIT_TEST)
        return mtl_error_set(MTL_ERR_INVALID, "epoch_begin: unknown split %d", (int)split);
    n = self->data[split].n;
    if (split == MTL_SPLIT_TRAIN) {
        /*
         * From the identity each time: the order depends only on the stream,
         * which the host restores when it resumes from a checkpoint.
         */
        for (int64_t i = 0; i < n; i++)
            self->order[i] = i;
        mtl_rng_shuffle(self->host->rng, self->order, (size_t)n);
    }
    memset(&self->sums[split], 0, sizeof self->sums[split]);
    *n_batches = (n + self->batch_size - 1) / self->batch_size;
    return MTL_OK;
}

/*
 * The batch's pixels (scaled to [0, 1]) and labels into graph inputs (and
 * self's buffers).
 */
static mtl_status batch_inputs(mfashion *self, mtl_split split, int64_t first, int64_t b,
                               mtl_graph *g, mtl_tensor **x, mtl_tensor *labels[2])
{
    const mf_split_data *d = &self->data[split];
    mtl_status st;

    *x = mtl_graph_input(g, 4, (int64_t[]){b, 1, MF_SIDE, MF_SIDE});
    labels[0] = mtl_graph_input(g, 1, &b);
    labels[1] = mtl_graph_input(g, 1, &b);
    if (!*x || !labels[0] || !labels[1])
        return mtl_graph_status(g);

    for (int64_t i = 0; i < b; i++) {
        int64_t k = split == MTL_SPLIT_TRAIN ? self->order[first + i] : first + i;
        const uint8_t *px = d->images + k * MF_PIXELS;

        for (int p = 0; p < MF_PIXELS; p++)
            self->pixels[i * MF_PIXELS + p] = (float)px[p] / 255.0f;
        self->labels[0][i] = d->labels[2 * k];
        self->labels[1][i] = d->labels[2 * k + 1];
    }
    st = mtl_tensor_write(*x, self->pixels, (size_t)(b * MF_PIXELS));
    for (int t = 0; t < 2 && st == MTL_OK; t++)
        st = mtl_tensor_write(labels[t], self->labels[t], (size_t)b);
    return st;
}

/*
 * Adds the batch's correct predictions and loss of task t to the pass's sums.
 */
static mtl_status accumulate(mfashion *self, mtl_split split, int t, mtl_tensor *logits,
                             mtl_tensor *loss, int64_t b)
{
    pass_sums *s = &self->sums[split];
    mtl_status st = mtl_tensor_read(logits, self->logits, (size_t)(b * MF_N_CLASSES));

    if (st != MTL_OK)
        return st;
    for (int64_t i = 0; i < b; i++) {
        const float *row = self->logits + i * MF_N_CLASSES;
        int best = 0;

        /* The first largest logit, as torch.argmax picks it. */
        for (int c = 1; c < MF_N_CLASSES; c++)
            if (row[c] > row[best])
                best = c;
        s->correct[t] += best == (int)self->labels[t][i];
    }
    s->loss[t] += (double)mtl_tensor_item(loss) * (double)b;
    return MTL_OK;
}

static mtl_status mf_forward(void *ptr, mtl_split split, int64_t batch, int training, mtl_graph *g,
                             mtl_task_output *out)
{
    mfashion *self = ptr;
    int64_t n = self->data[split].n, first = batch * self->batch_size, b;
    mtl_tensor *x, *labels[2], *logits[2], *rep;
    mtl_status st;

    (void)training; /* no dropout or batch norm in this model */
    if (batch < 0 || first >= n)
        return mtl_error_set(MTL_ERR_INVALID,
                             "forward: no such batch (expected 0 to %lld, got %lld)",
                             (long long)((n - 1) / self->batch_size), (long long)batch);
    b = n - first < self->batch_size ? n - first : self->batch_size;

    st = batch_inputs(self, split, first, b, g, &x, labels);
    if (st != MTL_OK)
        return st;
    mf_model_forward(g, &self->net, x, logits, &rep);
    for (int t = 0; t < 2; t++)
        out->losses[t] = mtl_nll_loss(g, mtl_log_softmax(g, logits[t]), labels[t], -100);
    out->rep = rep;
    st = mtl_graph_status(g);
    for (int t = 0; t < 2 && st == MTL_OK; t++)
        st = accumulate(self, split, t, logits[t], out->losses[t], b);
    if (st == MTL_OK)
        self->sums[split].seen += b;
    return st;
}

static mtl_status mf_metrics(void *ptr, mtl_split split, double *values)
{
    mfashion *self = ptr;
    pass_sums *s = &self->sums[split];
    double n = (double)s->seen;

    for (int t = 0; t < 2; t++) {
        values[M_ACC_LEFT + t] = s->seen ? 100.0 * (double)s->correct[t] / n : NAN;
        values[M_LOSS_LEFT + t] = s->seen ? s->loss[t] / n : NAN;
    }
    memset(s, 0, sizeof *s);
    return MTL_OK;
}

static const mtl_task_plugin plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin),
    .name = "multifashion",
    .version = "1.0.0",
    .description = "two Fashion-MNIST items per image, one 10-class task per item",
    .reference = "Multi-MNIST protocol of Sener & Koltun, NeurIPS 2018, on Fashion-MNIST (Xiao "
                 "et al., 2017)",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .defaults = defaults,
    .create = mf_create,
    .destroy = mf_destroy,
    .trial_begin = NULL,
    .epoch_begin = mf_epoch_begin,
    .forward = mf_forward,
    .metrics = mf_metrics,
    .trial_end = NULL,
};

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void);

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void)
{
    return &plugin;
}
