/*
 * The QM9 protocol of the Nash-MTL paper (REFERENCE.md, QM9): the 11 tasks,
 * their units and single-task baselines, the seeded split and the
 * standardisation of the targets.
 */
#ifndef QM9_PROTOCOL_H
#define QM9_PROTOCOL_H

#include <stdint.h>

#include "dataset.h"
#include "mtl/status.h"
#include "mtl/task.h"

#define QM9_N_TASKS 11

/* The file's (PyG's) column of each task: mu alpha homo lumo r2 zpve U0 U H G cv. */
extern const int qm9_task_columns[QM9_N_TASKS];
extern const char *const qm9_task_names[QM9_N_TASKS];
/* 1000 for the tasks reported in meV (homo, lumo, zpve, U0, U, H, G), else 1. */
extern const double qm9_task_report_scale[QM9_N_TASKS];
/*
 * One metric per task: its MAE in reported units (lower is better), with the
 * reference's single-task MAE as the Delta_m baseline.
 */
extern const mtl_metric qm9_task_metrics[QM9_N_TASKS];

/*
 * A seeded shuffle of all molecules: the first n_test are the test split,
 * the next n_val validation, the rest training.
 */
typedef struct qm9_split {
    int64_t *order; /* n_molecules indices into the file */
    int64_t n_test, n_val, n_train;
} qm9_split;

mtl_status qm9_split_make(qm9_split *s, int64_t n_molecules, int64_t n_test, int64_t n_val,
                          uint64_t seed);
void qm9_split_free(qm9_split *s);

static inline const int64_t *qm9_split_test(const qm9_split *s)
{
    return s->order;
}

static inline const int64_t *qm9_split_val(const qm9_split *s)
{
    return s->order + s->n_test;
}

static inline const int64_t *qm9_split_train(const qm9_split *s)
{
    return s->order + s->n_test + s->n_val;
}

/*
 * Mean and standard deviation (n - 1 in the denominator, as torch.std) of
 * each task's target over molecules `mols[0..n)`, in double.
 */
mtl_status qm9_target_stats(const qm9_dataset *ds, const int64_t *mols, int64_t n,
                            double mean[QM9_N_TASKS], double std[QM9_N_TASKS]);

/*
 * Every molecule's 11 standardised targets, (y - mean) / std, as float32:
 * [n_molecules, 11], owned by the caller.
 */
mtl_status qm9_targets_standardise(const qm9_dataset *ds, const double mean[QM9_N_TASKS],
                                   const double std[QM9_N_TASKS], float **out);

#endif /* QM9_PROTOCOL_H */
