/* The QM9 protocol: tasks, split, standardisation (see protocol.h). */
#include "protocol.h"

#include <math.h>
#include <stdlib.h>

#include "mtl/rng.h"

/* REFERENCE.md, QM9: PyG columns 0, 1, 2, 3, 5, 6, 12, 13, 14, 15, 11 (gap, 4, left out). */
const int qm9_task_columns[QM9_N_TASKS] = {0, 1, 2, 3, 5, 6, 12, 13, 14, 15, 11};

/* U0 .. G are the atomization energies (PyG's _atom columns), as the reference names them. */
const char *const qm9_task_names[QM9_N_TASKS] = {"mu", "alpha", "homo", "lumo", "r2", "zpve",
                                                 "U0", "U",     "H",    "G",    "cv"};

/* homo, lumo, zpve, U0, U, H, G: eV in the file, meV in the report. */
const double qm9_task_report_scale[QM9_N_TASKS] = {1,    1,    1000, 1000, 1, 1000,
                                                   1000, 1000, 1000, 1000, 1};

/* MAE in reported units, lower is better; baselines: the reference's single-task MAEs. */
const mtl_metric qm9_task_metrics[QM9_N_TASKS] = {
    {"mu", 0, 0, 0.0671, "D"},           {"alpha", 1, 0, 0.1814, "a0^3"},
    {"homo", 2, 0, 60.576, "meV"},       {"lumo", 3, 0, 53.915, "meV"},
    {"r2", 4, 0, 0.5027, "a0^2"},        {"zpve", 5, 0, 4.539, "meV"},
    {"U0", 6, 0, 58.838, "meV"},         {"U", 7, 0, 64.244, "meV"},
    {"H", 8, 0, 63.852, "meV"},          {"G", 9, 0, 66.223, "meV"},
    {"cv", 10, 0, 0.07212, "cal/mol/K"},
};

/* The split's own random stream, apart from every stream the host derives. */
#define QM9_SPLIT_STREAM 0x716d39u

mtl_status qm9_split_make(qm9_split *s, int64_t n_molecules, int64_t n_test, int64_t n_val,
                          uint64_t seed)
{
    mtl_rng rng;
    int64_t sum;

    s->order = NULL;
    /* The sum is checked for overflow: sizes near INT64_MAX are as wrong as any too large. */
    if (n_test < 0 || n_val < 0 || __builtin_add_overflow(n_test, n_val, &sum) ||
        sum >= n_molecules)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "split: task.test_size + task.val_size leave no training molecule "
                             "(expected a sum below %lld, got %lld + %lld)",
                             (long long)n_molecules, (long long)n_test, (long long)n_val);
    s->order = malloc((size_t)n_molecules * sizeof *s->order);
    if (!s->order)
        return mtl_error_set(MTL_ERR_NOMEM, "split: out of memory");
    for (int64_t i = 0; i < n_molecules; i++)
        s->order[i] = i;
    mtl_rng_seed(&rng, seed, QM9_SPLIT_STREAM);
    mtl_rng_shuffle(&rng, s->order, (size_t)n_molecules);
    s->n_test = n_test;
    s->n_val = n_val;
    s->n_train = n_molecules - n_test - n_val;
    return MTL_OK;
}

void qm9_split_free(qm9_split *s)
{
    free(s->order);
    s->order = NULL;
}

mtl_status qm9_target_stats(const qm9_dataset *ds, const int64_t *mols, int64_t n,
                            double mean[QM9_N_TASKS], double std[QM9_N_TASKS])
{
    for (int t = 0; t < QM9_N_TASKS; t++) {
        int c = qm9_task_columns[t];
        double sum = 0, sq = 0;

        for (int64_t i = 0; i < n; i++)
            sum += ds->targets[mols[i] * QM9_N_TARGETS + c];
        mean[t] = n > 0 ? sum / (double)n : 0.0;
        /* Two passes: the energies' mean is large against their spread. */
        for (int64_t i = 0; i < n; i++) {
            double d = ds->targets[mols[i] * QM9_N_TARGETS + c] - mean[t];
            sq += d * d;
        }
        std[t] = n > 1 ? sqrt(sq / (double)(n - 1)) : 0.0;
        if (!(std[t] > 0))
            return mtl_error_set(MTL_ERR_DATA,
                                 "standardisation: target %s has no spread over the %lld "
                                 "training molecules (expected a positive standard deviation, "
                                 "got %g)",
                                 qm9_task_names[t], (long long)n, std[t]);
    }
    return MTL_OK;
}

mtl_status qm9_targets_standardise(const qm9_dataset *ds, const double mean[QM9_N_TASKS],
                                   const double std[QM9_N_TASKS], float **out)
{
    float *y = malloc((size_t)(ds->n_molecules * QM9_N_TASKS) * sizeof *y);

    *out = NULL;
    if (!y)
        return mtl_error_set(MTL_ERR_NOMEM, "standardisation: out of memory");
    for (int64_t m = 0; m < ds->n_molecules; m++)
        for (int t = 0; t < QM9_N_TASKS; t++) {
            double v = ds->targets[m * QM9_N_TARGETS + qm9_task_columns[t]];
            y[m * QM9_N_TASKS + t] = (float)((v - mean[t]) / std[t]);
        }
    *out = y;
    return MTL_OK;
}
