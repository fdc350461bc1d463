/*
 * qm9 - the 11-task molecular property benchmark of the Nash-MTL paper
 * (Navon et al., ICML 2022, section 6.1; REFERENCE.md, QM9) on the real
 * dataset file made by tools/qm9_prepare.py (DATA.md).
 *
 * Protocol: a seeded shuffle of the molecules, the first test_size for
 * testing, the next val_size for validation, the rest for training; targets
 * standardised with the mean and standard deviation of the training split
 * (the reference uses the whole dataset: a deviation, README.md); one MSE
 * loss per task on the standardised targets; MAE per target in the original
 * units, energies in meV, with the reference's single-task MAEs as the
 * Delta_m baselines.  The model is in model.c, the graphs in graph.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "graph.h"
#include "model.h"
#include "mtl/mtl.h"
#include "protocol.h"

/* A bound on split sizes far above QM9's 130,831 molecules; the dataset's own count is checked
 * later. */
#define QM9_MAX_MOLECULES 10000000

static const mtl_option qm9_options[] = {
    {"data", MTL_OPT_STRING, "data/qm9.mtlq", NULL, 0, 0, 0,
     "the .mtlq dataset file; a relative path is looked up in the current folder, then in the "
     "project's data folder"},
    {"node_features", MTL_OPT_ENUM, "full", "full|pyg", 0, 0, 0,
     "full: RDKit's aromatic and hybridization features and aromatic bonds; pyg: as PyG's QM9 "
     "(columns 6-9 zero, aromatic rings as Kekule single/double bonds)"},
    {"test_size", MTL_OPT_INT, "10000", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0,
     QM9_MAX_MOLECULES, "molecules of the test split (the first of the shuffled order)"},
    {"val_size", MTL_OPT_INT, "10000", NULL, MTL_OPT_HAS_MIN | MTL_OPT_HAS_MAX, 0,
     QM9_MAX_MOLECULES, "molecules of the validation split (the next ones); the rest train"},
    {"split_seed", MTL_OPT_INT, "-1", NULL, MTL_OPT_HAS_MIN, -1, 0,
     "seed of the split's shuffle; -1: the run's train.seed"},
    {"max_train_batches", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "training batches per epoch at most (a random part of the training split); 0: all"},
    {"max_eval_molecules", MTL_OPT_INT, "0", NULL, MTL_OPT_HAS_MIN, 0, 0,
     "evaluate only the first N molecules of the validation and test splits; 0: all"},
    {"write_batches", MTL_OPT_BOOL, "false", NULL, 0, 0, 0,
     "write each epoch's training batches (file indices of the molecules) to "
     "<run dir>/qm9_train_batches.csv"},
};

/* The reference's protocol: Adam 1e-3, batch 120, 300 epochs, plateau 0.7 / 5 / 1e-5. */
static const char *const qm9_defaults[] = {
    "train.epochs=300",     "train.lr=1e-3",           "train.batch_size=120",
    "train.weight_decay=0", "train.scheduler=plateau", "train.factor=0.7",
    "train.patience=5",     "train.min_lr=1e-5",       NULL};

enum { N_SPLITS = 3 };

typedef struct qm9_task {
    const mtl_host *host;
    qm9_dataset *ds;
    qm9_features mode;
    uint8_t *bond_types; /* one per bond of the file, as the model sees them */
    qm9_split split;
    double mean[QM9_N_TASKS], std[QM9_N_TASKS];
    float *y; /* standardised targets, [n_molecules, 11] */
    qm9_net net;
    qm9_batch batch;
    float *pred; /* one task's predictions of a batch, read back */

    int64_t batch_size, max_train_batches, max_eval;
    int write_batches;

    /* the pass over each split since its epoch_begin */
    int64_t *train_order;
    const int64_t *mols[N_SPLITS];
    int64_t n_mols[N_SPLITS];
    double abs_err[N_SPLITS][QM9_N_TASKS];
    int64_t seen[N_SPLITS];
    int64_t epoch[N_SPLITS];
} qm9_task;

/* ---- options and data ---------------------------------------------------- */

static mtl_status qm9_read_options(qm9_task *self, int64_t *test_size, int64_t *val_size,
                                   int64_t *seed)
{
    const mtl_host *h = self->host;
    const char *mode;
    mtl_status st;

    if ((st = h->config_int(h, "train.batch_size", &self->batch_size)) != MTL_OK ||
        (st = h->config_int(h, "test_size", test_size)) != MTL_OK ||
        (st = h->config_int(h, "val_size", val_size)) != MTL_OK ||
        (st = h->config_int(h, "split_seed", seed)) != MTL_OK ||
        (st = h->config_int(h, "max_train_batches", &self->max_train_batches)) != MTL_OK ||
        (st = h->config_int(h, "max_eval_molecules", &self->max_eval)) != MTL_OK ||
        (st = h->config_bool(h, "write_batches", &self->write_batches)) != MTL_OK ||
        (st = h->config_string(h, "node_features", &mode)) != MTL_OK)
        return st;
    if (*seed < 0 && (st = h->config_int(h, "train.seed", seed)) != MTL_OK)
        return st;
    self->mode = strcmp(mode, "pyg") == 0 ? QM9_FEATURES_PYG : QM9_FEATURES_FULL;
    if (self->batch_size < 1)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: bad train.batch_size (expected at least 1, got %lld)",
                             (long long)self->batch_size);
    if (self->write_batches && !h->run_dir)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: task.write_batches needs a run directory (expected one "
                             "from the host, got none)");
    return MTL_OK;
}

/* Refuses a directory or a device as the dataset before reading it. */
static mtl_status qm9_check_regular(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return mtl_error_set(MTL_ERR_DATA, "data: cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s' is a directory (expected a .mtlq dataset file)", path);
    if (!S_ISREG(sb.st_mode))
        return mtl_error_set(
            MTL_ERR_DATA, "data: '%s' is not a regular file (expected a .mtlq dataset file)", path);
    return MTL_OK;
}

/*
 * The dataset file: `data` as given when absolute or present from the
 * current folder, else under the project's data folder.
 */
static mtl_status qm9_find_data(const qm9_task *self, const char *data, char *path, size_t cap)
{
    const char *dir = self->host->data_dir;

    if (!data[0])
        return mtl_error_set(MTL_ERR_CONFIG,
                             "data: task.data is an empty path (expected a .mtlq dataset file)");
    snprintf(path, cap, "%s", data);
    if (data[0] == '/' || access(data, F_OK) == 0)
        return qm9_check_regular(path);
    if (dir && *dir) {
        snprintf(path, cap, "%s/%s", dir, data);
        if (access(path, F_OK) == 0)
            return qm9_check_regular(path);
    }
    return mtl_error_set(MTL_ERR_DATA,
                         "data: no QM9 dataset file '%s' (looked in the current folder%s%s%s); "
                         "make it once, in a few minutes, from the project's root: python3 -m "
                         "pip install qm9pack rdkit numpy && python3 tools/qm9_prepare.py --out "
                         "data/qm9.mtlq",
                         data, dir && *dir ? " and in '" : "", dir && *dir ? dir : "",
                         dir && *dir ? "'" : "");
}

/*
 * A batch holds at most the whole dataset; a larger train.batch_size would only
 * size buffers (and batch arithmetic) for molecules that do not exist.
 */
static mtl_status qm9_check_batch_size(const qm9_task *self)
{
    if (self->batch_size > self->ds->n_molecules)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "options: train.batch_size is larger than the dataset (expected at "
                             "most %lld molecules, got %lld)",
                             (long long)self->ds->n_molecules, (long long)self->batch_size);
    return MTL_OK;
}

static mtl_status qm9_load_data(qm9_task *self, int64_t test_size, int64_t val_size, uint64_t seed)
{
    const char *data;
    char path[4096];
    int64_t unmatched;
    mtl_status st;

    if ((st = self->host->config_string(self->host, "data", &data)) != MTL_OK ||
        (st = qm9_find_data(self, data, path, sizeof path)) != MTL_OK ||
        (st = qm9_dataset_load(path, &self->ds)) != MTL_OK ||
        (st = qm9_check_batch_size(self)) != MTL_OK ||
        (st = qm9_bond_types(self->ds, self->mode, &self->bond_types, &unmatched)) != MTL_OK ||
        (st = qm9_split_make(&self->split, self->ds->n_molecules, test_size, val_size, seed)) !=
            MTL_OK ||
        (st = qm9_target_stats(self->ds, qm9_split_train(&self->split), self->split.n_train,
                               self->mean, self->std)) != MTL_OK ||
        (st = qm9_targets_standardise(self->ds, self->mean, self->std, &self->y)) != MTL_OK)
        return st;

    self->host->log(self->host, MTL_LOG_INFO,
                    "dataset %s: %lld molecules, split test %lld / val %lld / train %lld (seed "
                    "%llu), node features %s",
                    path, (long long)self->ds->n_molecules, (long long)self->split.n_test,
                    (long long)self->split.n_val, (long long)self->split.n_train,
                    (unsigned long long)seed, self->mode == QM9_FEATURES_PYG ? "pyg" : "full");
    /* Aromatic anions of zwitterions (gdb 7699, 21479): an odd ring cannot pair every atom. */
    if (unmatched)
        self->host->log(self->host, MTL_LOG_INFO,
                        "pyg features: aromatic rings in Kekule form; in %lld molecules one ring "
                        "atom keeps no double bond (a charged atom, as in aromatic anions)",
                        (long long)unmatched);
    return MTL_OK;
}

/* ---- plugin callbacks ---------------------------------------------------- */

static void qm9_destroy(void *ptr)
{
    qm9_task *self = ptr;

    if (!self)
        return;
    qm9_net_deinit(&self->net);
    qm9_batch_free(&self->batch);
    qm9_split_free(&self->split);
    qm9_dataset_destroy(self->ds);
    free(self->bond_types);
    free(self->y);
    free(self->pred);
    free(self->train_order);
    free(self);
}

static mtl_status qm9_create(const mtl_host *host, void **out, mtl_task_info *info)
{
    qm9_task *self = calloc(1, sizeof *self);
    int64_t test_size, val_size, seed;
    mtl_status st;

    *out = NULL;
    if (!self)
        return mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    self->host = host;

    st = qm9_read_options(self, &test_size, &val_size, &seed);
    if (st == MTL_OK)
        st = qm9_load_data(self, test_size, val_size, (uint64_t)seed);
    if (st == MTL_OK)
        st = qm9_net_init(&self->net, host->rng);
    if (st == MTL_OK) {
        self->pred = malloc((size_t)self->batch_size * sizeof *self->pred);
        self->train_order = malloc((size_t)self->split.n_train * sizeof *self->train_order);
        if (!self->pred || !self->train_order)
            st = mtl_error_set(MTL_ERR_NOMEM, "create: out of memory");
    }
    if (st != MTL_OK) {
        qm9_destroy(self);
        return st;
    }

    info->n_tasks = QM9_N_TASKS;
    info->task_names = qm9_task_names;
    info->n_metrics = QM9_N_TASKS;
    info->metrics = qm9_task_metrics;
    info->model = self->net.model;
    info->n_trials = 1;
    info->figure_tool = NULL;
    *out = self;
    return MTL_OK;
}

/* Appends the epoch's batches to <run_dir>/qm9_train_batches.csv (task.write_batches). */
static mtl_status qm9_write_batches(const qm9_task *self, int64_t epoch, int64_t n_batches)
{
    char path[4096];
    int64_t n = self->n_mols[MTL_SPLIT_TRAIN];
    FILE *f;
    int failed;

    snprintf(path, sizeof path, "%s/qm9_train_batches.csv", self->host->run_dir);
    f = fopen(path, "a");
    if (!f)
        return mtl_error_set(MTL_ERR_IO, "output: cannot open '%s': %s", path, strerror(errno));
    if (ftell(f) == 0)
        fprintf(f, "epoch,batch,molecule,gdb_id\n");
    for (int64_t b = 0; b < n_batches; b++)
        for (int64_t i = b * self->batch_size; i < n && i < (b + 1) * self->batch_size; i++)
            fprintf(f, "%lld,%lld,%lld,%u\n", (long long)epoch, (long long)b,
                    (long long)self->train_order[i], self->ds->mol_ids[self->train_order[i]]);
    failed = ferror(f);
    if (fclose(f) != 0 || failed)
        return mtl_error_set(MTL_ERR_IO, "output: cannot write '%s'", path);
    return MTL_OK;
}

static int64_t batches_of(int64_t n, int64_t size)
{
    return (n + size - 1) / size;
}

static mtl_status qm9_epoch_begin(void *ptr, mtl_split split, int64_t epoch, int64_t *n_batches)
{
    qm9_task *self = ptr;
    int64_t n;

    if (split < MTL_SPLIT_TRAIN || split > MTL_SPLIT_TEST)
        return mtl_error_set(MTL_ERR_INVALID,
                             "epoch_begin: no such split (expected 0 to 2, got "
                             "%d)",
                             (int)split);
    memset(self->abs_err[split], 0, sizeof self->abs_err[split]);
    self->seen[split] = 0;
    self->epoch[split] = epoch;

    if (split == MTL_SPLIT_TRAIN) {
        n = self->split.n_train;
        memcpy(self->train_order, qm9_split_train(&self->split),
               (size_t)n * sizeof *self->train_order);
        mtl_rng_shuffle(self->host->rng, self->train_order, (size_t)n);
        self->mols[split] = self->train_order;
        self->n_mols[split] = n;
        *n_batches = batches_of(n, self->batch_size);
        if (self->max_train_batches > 0 && *n_batches > self->max_train_batches)
            *n_batches = self->max_train_batches;
        return self->write_batches ? qm9_write_batches(self, epoch, *n_batches) : MTL_OK;
    }

    n = split == MTL_SPLIT_VAL ? self->split.n_val : self->split.n_test;
    if (self->max_eval > 0 && n > self->max_eval)
        n = self->max_eval;
    self->mols[split] =
        split == MTL_SPLIT_VAL ? qm9_split_val(&self->split) : qm9_split_test(&self->split);
    self->n_mols[split] = n;
    *n_batches = batches_of(n, self->batch_size);
    return MTL_OK;
}

/* Adds the batch's absolute errors, in reported units, to the split's sums. */
static mtl_status qm9_accumulate(qm9_task *self, mtl_split split, const int64_t *mols, int64_t n,
                                 mtl_tensor *const *preds)
{
    for (int t = 0; t < QM9_N_TASKS; t++) {
        mtl_status st = mtl_tensor_read(preds[t], self->pred, (size_t)n);
        double scale = self->std[t] * qm9_task_report_scale[t], sum = 0;

        if (st != MTL_OK)
            return st;
        /* |pred std - y std|: the reference's MAE of de-standardised values. */
        for (int64_t i = 0; i < n; i++)
            sum += fabs((double)self->pred[i] - (double)self->y[mols[i] * QM9_N_TASKS + t]);
        self->abs_err[split][t] += sum * scale;
    }
    self->seen[split] += n;
    return MTL_OK;
}

static mtl_status qm9_forward(void *ptr, mtl_split split, int64_t batch, int training, mtl_graph *g,
                              mtl_task_output *out)
{
    qm9_task *self = ptr;
    mtl_tensor *preds[QM9_N_TASKS], *rep;
    const int64_t *mols;
    int64_t first, n;
    mtl_status st;

    (void)training; /* no dropout, no batch norm */
    if (split < MTL_SPLIT_TRAIN || split > MTL_SPLIT_TEST || !self->mols[split])
        return mtl_error_set(MTL_ERR_INVALID,
                             "forward: split %d has no pass under way (expected "
                             "epoch_begin first)",
                             (int)split);
    first = batch * self->batch_size;
    if (batch < 0 || first >= self->n_mols[split])
        return mtl_error_set(
            MTL_ERR_INVALID, "forward: no such batch (expected 0 to %lld, got %lld)",
            (long long)batches_of(self->n_mols[split], self->batch_size) - 1, (long long)batch);
    mols = self->mols[split] + first;
    n = self->n_mols[split] - first < self->batch_size ? self->n_mols[split] - first
                                                       : self->batch_size;

    st = qm9_batch_build(&self->batch, self->ds, self->bond_types, self->mode, mols, n);
    if (st != MTL_OK)
        return st;
    qm9_net_forward(g, &self->net, &self->batch, preds, &rep);
    for (int t = 0; t < QM9_N_TASKS; t++) {
        mtl_tensor *y = mtl_graph_input(g, 2, (int64_t[]){n, 1});
        float *v = y ? mtl_tensor_data(y) : NULL;

        for (int64_t i = 0; v && i < n; i++)
            v[i] = self->y[mols[i] * QM9_N_TASKS + t];
        out->losses[t] = mtl_mse_loss(g, preds[t], y);
    }
    out->rep = rep;
    if ((st = mtl_graph_status(g)) != MTL_OK)
        return st;
    return qm9_accumulate(self, split, mols, n, preds);
}

/*
 * One line with the test MAEs and their units: the host's epoch line shows the
 * losses and Delta_m, and the 11 errors are what QM9 results are read by.
 */
static void qm9_log_test(const qm9_task *self, const double *values)
{
    char line[1024];
    int at = snprintf(line, sizeof line,
                      "epoch %lld test MAE:", (long long)self->epoch[MTL_SPLIT_TEST] + 1);

    for (int t = 0; t < QM9_N_TASKS && at > 0 && (size_t)at < sizeof line; t++)
        at += snprintf(line + at, sizeof line - (size_t)at, " %s %.4g %s%s", qm9_task_names[t],
                       values[t], qm9_task_metrics[t].unit, t + 1 < QM9_N_TASKS ? "," : "");
    self->host->log(self->host, MTL_LOG_INFO, "%s", line);
}

static mtl_status qm9_metrics_of(void *ptr, mtl_split split, double *values)
{
    qm9_task *self = ptr;

    if (split < MTL_SPLIT_TRAIN || split > MTL_SPLIT_TEST)
        return mtl_error_set(MTL_ERR_INVALID, "metrics: no such split (expected 0 to 2, got %d)",
                             (int)split);
    for (int t = 0; t < QM9_N_TASKS; t++)
        values[t] =
            self->seen[split] > 0 ? self->abs_err[split][t] / (double)self->seen[split] : NAN;
    memset(self->abs_err[split], 0, sizeof self->abs_err[split]);
    if (split == MTL_SPLIT_TEST && self->seen[split] > 0)
        qm9_log_test(self, values);
    self->seen[split] = 0;
    return MTL_OK;
}

static const mtl_task_plugin qm9_plugin = {
    .header = MTL_PLUGIN_HEADER(MTL_PLUGIN_TASK, mtl_task_plugin),
    .name = "qm9",
    .version = "1.0",
    .description = "QM9: 11 molecular property regressions, MPNN (NNConv + GRU + Set2Set)",
    .reference = "Navon et al., Multi-Task Learning as a Bargaining Game, ICML 2022; QM9: "
                 "Ramakrishnan et al., Scientific Data 1, 140022 (2014)",
    .options = qm9_options,
    .n_options = sizeof qm9_options / sizeof qm9_options[0],
    .defaults = qm9_defaults,
    .create = qm9_create,
    .destroy = qm9_destroy,
    .trial_begin = NULL,
    .epoch_begin = qm9_epoch_begin,
    .forward = qm9_forward,
    .metrics = qm9_metrics_of,
    .trial_end = NULL,
};

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void);

MTL_EXPORT const mtl_task_plugin *mtl_task_entry(void)
{
    return &qm9_plugin;
}
