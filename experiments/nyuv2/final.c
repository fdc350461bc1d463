/*
 * final.c - the number the paper reports for NYUv2: the test metrics
 * averaged over the last 10 epochs (Navon et al. 2022, section 6.1, after
 * MTAN and CAGrad), and the files that hold it.
 *
 * The host selects one epoch per trial (the best validation Delta_m, or the
 * last epoch without a validation split); it cannot express an average over
 * epochs, so the task keeps the test metrics of every evaluated epoch and
 * writes the average at the end of the trial.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nyuv2.h"

mtl_status nyu_final_add(nyu_final *f, int64_t epoch, const double values[NYU_N_METRICS])
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 256;
        nyu_record *grown = realloc(f->records, cap * sizeof *grown);

        if (!grown)
            return mtl_error_set(MTL_ERR_NOMEM, "final: out of memory for %zu epochs", cap);
        f->records = grown;
        f->cap = cap;
    }
    f->records[f->n].epoch = epoch;
    memcpy(f->records[f->n].values, values, NYU_N_METRICS * sizeof *values);
    f->n++;
    return MTL_OK;
}

void nyu_final_clear(nyu_final *f)
{
    f->n = 0;
}

void nyu_final_free(nyu_final *f)
{
    free(f->records);
    memset(f, 0, sizeof *f);
}

int nyu_final_average(const nyu_final *f, int64_t epochs, int64_t last,
                      double values[NYU_N_METRICS], int64_t *first_epoch, int64_t *last_epoch)
{
    int used = 0;

    *first_epoch = *last_epoch = -1;
    for (int j = 0; j < NYU_N_METRICS; j++)
        values[j] = 0;
    for (size_t i = 0; i < f->n; i++) {
        const nyu_record *r = &f->records[i];

        if (r->epoch < epochs - last)
            continue;
        for (int j = 0; j < NYU_N_METRICS; j++)
            values[j] += r->values[j];
        if (*first_epoch < 0)
            *first_epoch = r->epoch;
        *last_epoch = r->epoch;
        used++;
    }
    for (int j = 0; j < NYU_N_METRICS; j++)
        values[j] = used ? values[j] / used : NAN;
    return used;
}

double nyu_delta_m(const mtl_metric *metrics, const double values[NYU_N_METRICS])
{
    double acc = 0;

    for (int j = 0; j < NYU_N_METRICS; j++) {
        double rel = (values[j] - metrics[j].baseline) / metrics[j].baseline;
        acc += metrics[j].higher_is_better ? -rel : rel;
    }
    return 100.0 * acc / NYU_N_METRICS;
}

/* ---- files -------------------------------------------------------------- */

typedef struct final_view {
    int trial, used;
    int64_t epochs, last, first_epoch, last_epoch;
    double values[NYU_N_METRICS];
    double delta_m;
    const mtl_metric *metrics;
} final_view;

static void write_csv(const final_view *v, FILE *f)
{
    fprintf(f, "trial,epochs_averaged,first_epoch,last_epoch");
    for (int j = 0; j < NYU_N_METRICS; j++)
        fprintf(f, ",%s", v->metrics[j].name);
    fprintf(f, ",delta_m\n%d,%d,%lld,%lld", v->trial, v->used, (long long)v->first_epoch,
            (long long)v->last_epoch);
    for (int j = 0; j < NYU_N_METRICS; j++)
        fprintf(f, ",%.9g", v->values[j]);
    fprintf(f, ",%.9g\n", v->delta_m);
}

static void write_md(const final_view *v, FILE *f)
{
    fprintf(f, "# NYUv2: test metrics averaged over the last epochs\n\n");
    fprintf(f,
            "Trial %d: the mean of the test metrics of the %d evaluated epochs among the last "
            "%lld of %lld, epochs %lld to %lld (0-based, as in metrics.csv).  The paper reports "
            "this average over the last 10 of 200 epochs.\n\n",
            v->trial, v->used, (long long)(v->last < v->epochs ? v->last : v->epochs),
            (long long)v->epochs, (long long)v->first_epoch, (long long)v->last_epoch);
    fprintf(f, "| metric | task | value | single-task baseline | better |\n");
    fprintf(f, "| --- | --- | --- | --- | --- |\n");
    for (int j = 0; j < NYU_N_METRICS; j++) {
        const mtl_metric *m = &v->metrics[j];
        fprintf(f, "| %s | %d | %.4f | %.4f | %s |\n", m->name, m->task, v->values[j], m->baseline,
                m->higher_is_better ? "higher" : "lower");
    }
    fprintf(f, "\nDelta_m = %.2f %% (lower is better; REFERENCE.md's definition).\n", v->delta_m);
}

typedef void (*write_fn)(const final_view *v, FILE *f);

static mtl_status write_atomic(const char *dir, const char *name, write_fn write,
                               const final_view *v)
{
    char path[4096], tmp[4096 + 8];
    FILE *f;
    int failed;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f)
        return mtl_error_set(MTL_ERR_IO, "output: cannot create '%s': %s", tmp, strerror(errno));
    write(v, f);
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

mtl_status nyu_final_write(const nyu_final *f, const char *dir, int trial, int64_t epochs,
                           int64_t last, const mtl_metric *metrics)
{
    final_view v;
    mtl_status st;

    v.trial = trial;
    v.epochs = epochs;
    v.last = last;
    v.metrics = metrics;
    v.used = nyu_final_average(f, epochs, last, v.values, &v.first_epoch, &v.last_epoch);
    v.delta_m = nyu_delta_m(metrics, v.values);
    st = write_atomic(dir, "nyuv2_final.csv", write_csv, &v);
    if (st == MTL_OK)
        st = write_atomic(dir, "nyuv2_final.md", write_md, &v);
    return st;
}
