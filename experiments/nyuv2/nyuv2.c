/*
 * nyuv2 - the NYUv2 experiment of the Nash-MTL paper (Navon et al., ICML
 * 2022, Table 2): semantic segmentation (13 classes), depth and surface
 * normals on the MTAN authors' 288 x 384 NYUv2, with SegNet-MTAN (Liu et
 * al., CVPR 2019) or the split SegNet.
 *
 * Splits: TRAIN = <data>/train (795 scenes), TEST = <data>/val (654 scenes),
 * which the reference evaluates on every epoch.  The reference has no
 * validation split; task.val_scenes = N holds the last N training scenes
 * out as VAL (default 0: no VAL, and the host's selected epoch is the last).
 *
 * The paper reports the TEST metrics averaged over the last 10 epochs; the
 * host selects one epoch, so trial_end writes that average itself, into
 * <run_dir>/nyuv2_final.csv and nyuv2_final.md.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nyuv2.h"

static const char *const nyu_task_names[NYU_N_TASKS] = {"segmentation", "depth", "normal"};

/* REFERENCE.md: the metrics in order, with the single-task baselines of CAGrad. */
static const mtl_metric nyu_metrics_table[NYU_N_METRICS] = {
    {"mIoU", 0, 1, 0.3830, ""},         {"pix_acc", 0, 1, 0.6376, ""},
    {"abs_err", 1, 0, 0.6754, ""},      {"rel_err", 1, 0, 0.2780, ""},
    {"angle_mean", 2, 0, 25.01, "deg"}, {"angle_median", 2, 0, 19.21, "deg"},
    {"within_11.25", 2, 1, 0.3014, ""}, {"within_22.5", 2, 1, 0.5720, ""},
    {"within_30", 2, 1, 0.6915, ""},
};

static const mtl_option nyu_options[] = {
    {"data", MTL_OPT_STRING, "data/nyuv2", NULL, 0, 0, 0,
     "folder of the MTAN-prepared NYUv2: train/ and val/, each with image/, label/, depth/, "
     "normal/ holding <i>.npy"},
    {"model", MTL_OPT_ENUM, "mtan", "mtan|segnet", 0, 0, 0,
     "SegNet-MTAN (the paper's) or the split SegNet"},
    {"augment", MTL_OPT_BOOL, "true", NULL, 0, 0, 0,
     "random scale-crop and horizontal flip of the training scenes (the reference's default)"},
    {"val_scenes", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "hold the last N training scenes out as a validation split (0: none, as the reference)"},
    {"height", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, NYU_MAX_SIDE,
     "resize every scene to this height when loading, a multiple of 32 (0: the files' size); "
     "for smoke tests, not the paper's protocol"},
    {"width", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0, NYU_MAX_SIDE,
     "resize every scene to this width (0: the files' size); set with height"},
    {"max_train_batches", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "train on at most this many batches per epoch (0: all); for smoke tests"},
    {"max_eval_batches", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "evaluate at most this many batches of val and test (0: all); for smoke tests"},
    {"final_epochs", MTL_OPT_INT, "10", NULL, MTL_OPT_HAS_MIN, 1, 0,
     "the reported result averages the test metrics of this many last epochs"},
    {"check_values", MTL_OPT_BOOL, "true", NULL, 0, 0, 0,
     "read every scene once when the task starts and check its values (labels, finite "
     "numbers), so a bad value stops the run before it trains; false: as each scene loads"},
};

/*
 * The paper's protocol: Adam lr 1e-4, batch 2, 200 epochs, the lr halved
 * at epoch 100 (torch's StepLR(step_size=100, gamma=0.5)).
 */
static const char *const nyu_defaults[] = {
    "train.epochs=200",     "train.lr=1e-4",       "train.batch_size=2", "train.weight_decay=0",
    "train.scheduler=step", "train.step_size=100", "train.gamma=0.5",    NULL};

typedef struct nyu_task {
    const mtl_host *host;
    nyu_dataset ds;
    nyu_net net;

    /* options */
    int augment, check_values;
    int64_t val_scenes, max_train_batches, max_eval_batches, final_epochs, epochs, batch_size;
    int64_t h, w; /* the model's input size */

    /* scene order of the current passes */
    int64_t n_train; /* training scenes: train/ 0 .. n_train - 1 */
    int64_t *order;
    int64_t pass_scenes[3];

    /* one scene as read, one at the model's size, one batch */
    nyu_scene raw, scene;
    float *aug_tmp;
    float *b_image, *b_label, *b_depth, *b_normal;
    float *p_logp, *p_depth, *p_normal;

    nyu_metrics acc[NYU_N_SPLITS]; /* per split */
    int64_t test_epoch;            /* the epoch of the current test pass */

    nyu_final final;
    int trial;
} nyu_task;

/* ---- options and data --------------------------------------------------- */

static mtl_status read_options(nyu_task *self, const char **data, nyu_arch *arch)
{
    const mtl_host *h = self->host;
    const char *model;
    int64_t height, width;
    mtl_status st;

    if ((st = h->config_string(h, "data", data)) != MTL_OK ||
        (st = h->config_string(h, "model", &model)) != MTL_OK ||
        (st = h->config_bool(h, "augment", &self->augment)) != MTL_OK ||
        (st = h->config_bool(h, "check_values", &self->check_values)) != MTL_OK ||
        (st = h->config_int(h, "val_scenes", &self->val_scenes)) != MTL_OK ||
        (st = h->config_int(h, "height", &height)) != MTL_OK ||
        (st = h->config_int(h, "width", &width)) != MTL_OK ||
        (st = h->config_int(h, "max_train_batches", &self->max_train_batches)) != MTL_OK ||
        (st = h->config_int(h, "max_eval_batches", &self->max_eval_batches)) != MTL_OK ||
        (st = h->config_int(h, "final_epochs", &self->final_epochs)) != MTL_OK ||
        (st = h->config_int(h, "train.epochs", &self->epochs)) != MTL_OK ||
        (st = h->config_int(h, "train.batch_size", &self->batch_size)) != MTL_OK)
        return st;
    *arch = strcmp(model, "segnet") == 0 ? NYU_ARCH_SEGNET : NYU_ARCH_MTAN;
    if ((height == 0) != (width == 0))
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: bad task.height and task.width: only one is set "
                             "(expected both 0 or both multiples of 32, got %lld x %lld)",
                             (long long)height, (long long)width);
    self->h = height;
    self->w = width;
    if (**data == '\0')
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: task.data is empty (expected the folder of the "
                             "MTAN-prepared NYUv2; see experiments/nyuv2/README.md)");
    return MTL_OK;
}

/* The model's size: the files' or the one asked for, a multiple of 32 either way. */
static mtl_status check_size(nyu_task *self)
{
    int resized = self->h != 0;

    if (!resized) {
        self->h = self->ds.h;
        self->w = self->ds.w;
    }
    if (self->h % NYU_SIZE_MULTIPLE == 0 && self->w % NYU_SIZE_MULTIPLE == 0)
        return MTL_OK;
    if (resized)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: bad task.height and task.width: not multiples of %d "
                             "(expected sizes the five 2 x 2 poolings divide, got %lld x %lld)",
                             NYU_SIZE_MULTIPLE, (long long)self->h, (long long)self->w);
    return mtl_error_set(MTL_ERR_DATA,
                         "data: scenes of %lld x %lld are not multiples of %d (expected sizes the "
                         "model's five 2 x 2 poolings divide, as 288 x 384; set task.height and "
                         "task.width to resize them)",
                         (long long)self->h, (long long)self->w, NYU_SIZE_MULTIPLE);
}

static mtl_status split_train(nyu_task *self)
{
    if (self->val_scenes >= self->ds.train.n)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: bad task.val_scenes: no training scene would be left "
                             "(expected at most %lld, got %lld)",
                             (long long)self->ds.train.n - 1, (long long)self->val_scenes);
    self->n_train = self->ds.train.n - self->val_scenes;
    return MTL_OK;
}

/*
 * A batch holds at most the scenes of the larger split, and its largest
 * buffer (the class log-probabilities) must have a size that fits: checked
 * before any size is computed from train.batch_size.
 */
static mtl_status check_batch_size(const nyu_task *self, int64_t most)
{
    size_t bytes;

    if (self->batch_size > most)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: train.batch_size is larger than the dataset (expected at "
                             "most %lld scenes, got %lld)",
                             (long long)most, (long long)self->batch_size);
    bytes = nyu_size_bytes(self->batch_size * NYU_N_CLASSES, self->h, self->w);
    if (bytes == SIZE_MAX)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: batches of %lld scenes of %lld x %lld are too large "
                             "(expected at most %zu bytes a buffer)",
                             (long long)self->batch_size, (long long)self->h, (long long)self->w,
                             (size_t)NYU_MAX_BUFFER_BYTES);
    return MTL_OK;
}

static mtl_status alloc_buffers(nyu_task *self)
{
    int64_t most_scenes = self->ds.train.n > self->ds.test.n ? self->ds.train.n : self->ds.test.n;
    size_t hw, n, most = (size_t)most_scenes;
    mtl_status st = check_batch_size(self, most_scenes);

    if (st != MTL_OK)
        return st;
    /* Both products are below the checked batch buffer's size. */
    hw = (size_t)(self->h * self->w);
    n = (size_t)self->batch_size;
    st = nyu_scene_alloc(&self->raw, self->ds.h, self->ds.w);
    if (st == MTL_OK && (self->h != self->ds.h || self->w != self->ds.w))
        st = nyu_scene_alloc(&self->scene, self->h, self->w);
    if (st != MTL_OK)
        return st;
    self->order = malloc(most * sizeof *self->order);
    self->aug_tmp = malloc(3 * hw * sizeof(float));
    self->b_image = malloc(n * 3 * hw * sizeof(float));
    self->b_label = malloc(n * hw * sizeof(float));
    self->b_depth = malloc(n * hw * sizeof(float));
    self->b_normal = malloc(n * 3 * hw * sizeof(float));
    self->p_logp = malloc(n * NYU_N_CLASSES * hw * sizeof(float));
    self->p_depth = malloc(n * hw * sizeof(float));
    self->p_normal = malloc(n * 3 * hw * sizeof(float));
    if (!self->order || !self->aug_tmp || !self->b_image || !self->b_label || !self->b_depth ||
        !self->b_normal || !self->p_logp || !self->p_depth || !self->p_normal)
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory for batches of %zu scenes", n);
    return MTL_OK;
}

/* ---- create / destroy --------------------------------------------------- */

static void nyu_destroy(void *ptr)
{
    nyu_task *self = ptr;

    if (!self)
        return;
    nyu_net_destroy(&self->net);
    nyu_dataset_close(&self->ds);
    nyu_scene_free(&self->raw);
    nyu_scene_free(&self->scene);
    free(self->order);
    free(self->aug_tmp);
    free(self->b_image);
    free(self->b_label);
    free(self->b_depth);
    free(self->b_normal);
    free(self->p_logp);
    free(self->p_depth);
    free(self->p_normal);
    for (int s = 0; s < NYU_N_SPLITS; s++)
        nyu_metrics_free(&self->acc[s]);
    nyu_final_free(&self->final);
    free(self);
}

static int64_t count_values(const mtl_model *m)
{
    int64_t n = 0;

    for (size_t i = 0; i < mtl_model_n_params(m); i++)
        n += mtl_tensor_numel(mtl_model_param_at(m, i));
    return n;
}

/* Every scene of both folders read once: their values are checked as they load. */
static mtl_status check_all_values(nyu_task *self)
{
    const nyu_folder *folders[] = {&self->ds.train, &self->ds.test};
    mtl_status st;

    for (int f = 0; f < 2; f++)
        for (int64_t i = 0; i < folders[f]->n; i++)
            if ((st = nyu_scene_read(&self->ds, folders[f], i, &self->raw)) != MTL_OK)
                return st;
    return MTL_OK;
}

static mtl_status nyu_setup(nyu_task *self)
{
    const char *data;
    nyu_arch arch;
    mtl_status st;

    if ((st = read_options(self, &data, &arch)) != MTL_OK ||
        (st = nyu_dataset_open(&self->ds, data)) != MTL_OK || (st = check_size(self)) != MTL_OK ||
        (st = split_train(self)) != MTL_OK || (st = alloc_buffers(self)) != MTL_OK ||
        (self->check_values && (st = check_all_values(self)) != MTL_OK) ||
        (st = nyu_net_create(&self->net, arch, self->host->rng)) != MTL_OK)
        return st;
    self->host->log(self->host, MTL_LOG_INFO,
                    "%lld training scenes (%lld held out as validation), %lld test scenes, %lld x "
                    "%lld%s; model %s, %.1f M parameters; augmentation %s",
                    (long long)self->n_train, (long long)self->val_scenes,
                    (long long)self->ds.test.n, (long long)self->h, (long long)self->w,
                    self->scene.image ? " (resized from the files' size)" : "",
                    arch == NYU_ARCH_MTAN ? "SegNet-MTAN" : "split SegNet",
                    (double)count_values(self->net.model) / 1e6, self->augment ? "on" : "off");
    return MTL_OK;
}

static mtl_status nyu_create(const mtl_host *host, void **out, mtl_task_info *info)
{
    nyu_task *self = calloc(1, sizeof *self);
    mtl_status st;

    *out = NULL;
    if (!self)
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    self->host = host;
    st = nyu_setup(self);
    if (st != MTL_OK) {
        nyu_destroy(self);
        return st;
    }
    info->n_tasks = NYU_N_TASKS;
    info->task_names = nyu_task_names;
    info->n_metrics = NYU_N_METRICS;
    info->metrics = nyu_metrics_table;
    info->model = self->net.model;
    info->n_trials = 1;
    *out = self;
    return MTL_OK;
}

static mtl_status nyu_trial_begin(void *ptr, int trial)
{
    nyu_task *self = ptr;

    self->trial = trial;
    nyu_final_clear(&self->final);
    /* create() drew the first trial's parameters; later trials draw new ones. */
    return trial == 0 ? MTL_OK : nyu_net_reset(&self->net, self->host->rng);
}

/* ---- passes ----------------------------------------------------------------- */

static int64_t limit_batches(int64_t scenes, int64_t batch, int64_t max)
{
    int64_t n = (scenes + batch - 1) / batch;

    return max > 0 && n > max ? max : n;
}

static mtl_status check_split(const char *what, mtl_split split)
{
    if (split == MTL_SPLIT_TRAIN || split == MTL_SPLIT_VAL || split == MTL_SPLIT_TEST)
        return MTL_OK;
    return mtl_error_set(MTL_ERR_INVALID, "%s: unknown split (expected 0, 1 or 2, got %d)", what,
                         (int)split);
}

static mtl_status nyu_epoch_begin(void *ptr, mtl_split split, int64_t epoch, int64_t *n_batches)
{
    nyu_task *self = ptr;
    int64_t bs = self->batch_size;

    if (check_split("epoch_begin", split) != MTL_OK)
        return MTL_ERR_INVALID;
    nyu_metrics_reset(&self->acc[split]);
    switch (split) {
    case MTL_SPLIT_TRAIN:
        /* DataLoader(shuffle=True): a new order every epoch, the last batch may be short */
        for (int64_t i = 0; i < self->n_train; i++)
            self->order[i] = i;
        mtl_rng_shuffle(self->host->rng, self->order, (size_t)self->n_train);
        self->pass_scenes[split] = self->n_train;
        *n_batches = limit_batches(self->n_train, bs, self->max_train_batches);
        break;
    case MTL_SPLIT_VAL:
        self->pass_scenes[split] = self->val_scenes;
        *n_batches = limit_batches(self->val_scenes, bs, self->max_eval_batches);
        break;
    default: /* MTL_SPLIT_TEST */
        self->test_epoch = epoch;
        self->pass_scenes[split] = self->ds.test.n;
        *n_batches = limit_batches(self->ds.test.n, bs, self->max_eval_batches);
        break;
    }
    if (split == MTL_SPLIT_TRAIN && self->max_train_batches)
        self->host->log(self->host, MTL_LOG_DEBUG, "training on %lld batches (max_train_batches)",
                        (long long)*n_batches);
    return MTL_OK;
}

/* The folder and index of scene `k` of a pass over `split`. */
static void scene_of(const nyu_task *self, mtl_split split, int64_t k, const nyu_folder **folder,
                     int64_t *index)
{
    *folder = split == MTL_SPLIT_TEST ? &self->ds.test : &self->ds.train;
    if (split == MTL_SPLIT_TRAIN)
        *index = self->order[k];
    else if (split == MTL_SPLIT_VAL)
        *index = self->n_train + k;
    else
        *index = k;
}

/* Reads one scene, resizes it to the model's size, augments it, into slot i of the batch. */
static mtl_status load_scene(nyu_task *self, mtl_split split, int64_t k, int training, int64_t i)
{
    const nyu_folder *folder;
    int64_t index, hw = self->h * self->w;
    nyu_scene *s = &self->raw;
    mtl_status st;

    scene_of(self, split, k, &folder, &index);
    st = nyu_scene_read(&self->ds, folder, index, &self->raw);
    if (st != MTL_OK)
        return st;
    if (self->scene.image) {
        nyu_scene_resize(&self->raw, &self->scene);
        s = &self->scene;
    }
    if (training && self->augment) {
        nyu_augment_draw d;

        nyu_augment_draw_random(self->host->rng, s->h, s->w, &d);
        nyu_augment_apply(&d, s, self->aug_tmp);
    }
    memcpy(self->b_image + i * 3 * hw, s->image, (size_t)(3 * hw) * sizeof(float));
    memcpy(self->b_label + i * hw, s->label, (size_t)hw * sizeof(float));
    memcpy(self->b_depth + i * hw, s->depth, (size_t)hw * sizeof(float));
    memcpy(self->b_normal + i * 3 * hw, s->normal, (size_t)(3 * hw) * sizeof(float));
    return MTL_OK;
}

static mtl_tensor *batch_input(mtl_graph *g, int64_t n, int64_t c, int64_t h, int64_t w,
                               const float *src, int with_channels)
{
    int64_t shape4[4] = {n, c, h, w}, shape3[3] = {n, h, w};
    mtl_tensor *t = with_channels ? mtl_graph_input(g, 4, shape4) : mtl_graph_input(g, 3, shape3);

    if (t && mtl_tensor_write(t, src, (size_t)(n * c * h * w)) != MTL_OK)
        return NULL;
    return t;
}

/* The batch's predictions into the task's buffers, then into the split's metrics. */
static mtl_status accumulate(nyu_task *self, mtl_split split, int64_t n, const nyu_pred *p)
{
    int64_t hw = self->h * self->w;
    mtl_status st;

    if ((st = mtl_tensor_read(p->logp, self->p_logp, (size_t)(n * NYU_N_CLASSES * hw))) != MTL_OK ||
        (st = mtl_tensor_read(p->depth, self->p_depth, (size_t)(n * hw))) != MTL_OK ||
        (st = mtl_tensor_read(p->normal, self->p_normal, (size_t)(n * 3 * hw))) != MTL_OK)
        return st;
    return nyu_metrics_add(&self->acc[split], n, hw, self->p_logp, self->b_label, self->p_depth,
                           self->b_depth, self->p_normal, self->b_normal);
}

static mtl_status nyu_forward(void *ptr, mtl_split split, int64_t batch, int training, mtl_graph *g,
                              mtl_task_output *out)
{
    nyu_task *self = ptr;
    int64_t first = batch * self->batch_size, n;
    mtl_tensor *x, *label, *depth, *normal;
    nyu_pred p;
    mtl_status st;

    if (check_split("forward", split) != MTL_OK)
        return MTL_ERR_INVALID;
    n = self->pass_scenes[split] - first;
    if (batch < 0 || n <= 0)
        return mtl_error_set(MTL_ERR_INVALID, "forward: no batch %lld in this pass",
                             (long long)batch);
    if (n > self->batch_size)
        n = self->batch_size;
    for (int64_t i = 0; i < n; i++)
        if ((st = load_scene(self, split, first + i, training, i)) != MTL_OK)
            return st;

    x = batch_input(g, n, 3, self->h, self->w, self->b_image, 1);
    label = batch_input(g, n, 1, self->h, self->w, self->b_label, 0);
    depth = batch_input(g, n, 1, self->h, self->w, self->b_depth, 1);
    normal = batch_input(g, n, 3, self->h, self->w, self->b_normal, 1);
    nyu_net_forward(g, &self->net, x, training, &p);

    out->losses[0] = mtl_nll_loss(g, p.logp, label, -1);
    out->losses[1] = mtl_masked_l1_loss(g, p.depth, depth);
    out->losses[2] = mtl_masked_cosine_loss(g, p.normal, normal);
    out->rep = p.rep;
    if ((st = mtl_graph_status(g)) != MTL_OK)
        return st;
    return accumulate(self, split, n, &p);
}

static mtl_status nyu_metrics_cb(void *ptr, mtl_split split, double *values)
{
    nyu_task *self = ptr;

    if (check_split("metrics", split) != MTL_OK)
        return MTL_ERR_INVALID;
    nyu_metrics_values(&self->acc[split], values);
    nyu_metrics_reset(&self->acc[split]);
    if (split != MTL_SPLIT_TEST)
        return MTL_OK;
    return nyu_final_add(&self->final, self->test_epoch, values);
}

/* The paper's number: the test metrics averaged over the last final_epochs epochs. */
static mtl_status nyu_trial_end(void *ptr, int trial)
{
    nyu_task *self = ptr;
    double values[NYU_N_METRICS];
    int64_t first, last;
    int used =
        nyu_final_average(&self->final, self->epochs, self->final_epochs, values, &first, &last);

    if (used == 0) {
        self->host->log(self->host, MTL_LOG_WARN,
                        "no test evaluation in the last %lld epochs: nothing to average",
                        (long long)self->final_epochs);
        return MTL_OK;
    }
    self->host->log(self->host, MTL_LOG_INFO,
                    "test metrics averaged over epochs %lld to %lld (%d evaluation%s): mIoU %.4f, "
                    "pix acc %.4f, abs %.4f, rel %.4f, angles %.2f / %.2f, within %.4f / %.4f / "
                    "%.4f; Delta_m %.2f %%",
                    (long long)first, (long long)last, used, used == 1 ? "" : "s", values[0],
                    values[1], values[2], values[3], values[4], values[5], values[6], values[7],
                    values[8], nyu_delta_m(nyu_metrics_table, values));
    if (!self->host->run_dir)
        return MTL_OK;
    return nyu_final_write(&self->final, self->host->run_dir, trial, self->epochs,
                           self->final_epochs, nyu_metrics_table);
}

/* ---- checkpoints --------------------------------------------------------------- */

static mtl_status nyu_state_save(void *ptr, void *buf, size_t cap, size_t *len)
{
    nyu_task *self = ptr;

    *len = nyu_state_size(&self->final);
    if (!buf)
        return MTL_OK;
    if (cap < *len)
        return mtl_error_set(MTL_ERR_INVALID,
                             "state_save: buffer too small (expected %zu bytes, got %zu)", *len,
                             cap);
    nyu_state_write(buf, self->trial, &self->final, self->acc);
    return MTL_OK;
}

static mtl_status nyu_state_load(void *ptr, const void *buf, size_t len)
{
    nyu_task *self = ptr;
    int trial;
    mtl_status st = nyu_state_read(buf, len, &trial, &self->final, self->acc);

    if (st == MTL_OK)
        self->trial = trial;
    return st;
}

static const mtl_task_plugin nyu_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin),
    .name = "nyuv2",
    .version = "0.1.0",
    .description =
        "NYUv2: 13-class segmentation, depth and surface normals with SegNet-MTAN or split SegNet",
    .reference =
        "Navon et al., ICML 2022 (Table 2); data and model from Liu et al., CVPR 2019 (MTAN)",
    .options = nyu_options,
    .n_options = sizeof nyu_options / sizeof nyu_options[0],
    .defaults = nyu_defaults,
    .create = nyu_create,
    .destroy = nyu_destroy,
    .trial_begin = nyu_trial_begin,
    .epoch_begin = nyu_epoch_begin,
    .forward = nyu_forward,
    .metrics = nyu_metrics_cb,
    .trial_end = nyu_trial_end,
    .state_save = nyu_state_save,
    .state_load = nyu_state_load,
};

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void);

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void)
{
    return &nyu_plugin;
}
