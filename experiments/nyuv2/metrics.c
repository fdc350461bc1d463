/*
 * metrics.c - the NYUv2 evaluation of the reference (Nash-MTL
 * experiments/nyuv2/utils.py and trainer.py, from MTAN):
 *
 *   mIoU, pixel accuracy   one confusion matrix over every labelled pixel of
 *                          the pass; IoU_c = TP / (TP + FP + FN), averaged
 *                          over the classes; accuracy = trace / total.
 *   depth abs, rel error   per batch: the mean over pixels with a true depth
 *                          (sum over channels != 0) of |d - t| and of
 *                          |d - t| / t; the pass reports the mean of the
 *                          batch values (trainer.py adds cost / n_batches).
 *   normal angles          per batch: over pixels whose true normal's
 *                          components do not sum to 0, the angle
 *                          acos(clamp(<n, t>, -1, 1)) in degrees; its mean,
 *                          median, and the fractions below 11.25, 22.5 and
 *                          30 degrees; the pass reports the mean of the
 *                          batch values (so "median" is a mean of medians).
 *
 * Deviations, both for cases the real test set never meets: a class that
 * neither occurs nor is predicted (IoU 0 / 0, NaN in the reference, which
 * makes its mIoU NaN) is left out of the mean; a batch with no valid depth
 * or normal pixel (NaN in the reference) is left out of those averages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nyuv2.h"

#define NYU_PI 3.14159265358979323846

void nyu_metrics_reset(nyu_metrics *m)
{
    float *angles = m->angles;
    size_t cap = m->angles_cap;

    memset(m, 0, sizeof *m);
    m->angles = angles;
    m->angles_cap = cap;
}

void nyu_metrics_free(nyu_metrics *m)
{
    free(m->angles);
    memset(m, 0, sizeof *m);
}

/* torch.argmax over the classes: the first maximum; a NaN counts as the maximum. */
static int argmax_class(const float *logp, int64_t hw)
{
    int best = 0;
    float v = logp[0];

    for (int c = 1; c < NYU_N_CLASSES && !isnan(v); c++) {
        float x = logp[(int64_t)c * hw];
        if (x > v || isnan(x)) {
            v = x;
            best = c;
        }
    }
    return best;
}

static void add_confusion(nyu_metrics *m, int64_t n, int64_t hw, const float *logp,
                          const float *label)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t p = 0; p < hw; p++) {
            float t = label[i * hw + p];
            int pred;

            /* ConfMatrix.update keeps 0 <= target < n: -1 (unlabelled) drops out. */
            if (!(t >= 0.0f && t < (float)NYU_N_CLASSES))
                continue;
            pred = argmax_class(logp + i * NYU_N_CLASSES * hw + p, hw);
            m->conf[(int64_t)t * NYU_N_CLASSES + pred]++;
        }
    }
}

/* depth_error(): one batch's mean absolute and relative error over valid pixels. */
static void add_depth(nyu_metrics *m, int64_t n, int64_t hw, const float *pred, const float *truth)
{
    double abs_sum = 0, rel_sum = 0;
    int64_t count = 0;

    for (int64_t i = 0; i < n * hw; i++) {
        float t = truth[i];
        float e;

        if (t == 0.0f)
            continue;
        e = fabsf(pred[i] - t);
        abs_sum += e;
        rel_sum += e / t;
        count++;
    }
    if (count == 0)
        return;
    m->depth_sum[0] += abs_sum / (double)count;
    m->depth_sum[1] += rel_sum / (double)count;
    m->depth_batches++;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* np.median: the middle value, or the mean of the two middle values. */
static double median(float *x, size_t n)
{
    qsort(x, n, sizeof *x, cmp_float);
    if (n % 2)
        return x[n / 2];
    return 0.5 * ((double)x[n / 2 - 1] + (double)x[n / 2]);
}

static mtl_status add_normal(nyu_metrics *m, int64_t n, int64_t hw, const float *pred,
                             const float *truth)
{
    static const float limits[3] = {11.25f, 22.5f, 30.0f};
    int64_t within[3] = {0, 0, 0};
    double sum = 0;
    size_t count = 0;

    if ((size_t)(n * hw) > m->angles_cap) {
        float *grown = realloc(m->angles, (size_t)(n * hw) * sizeof *grown);
        if (!grown)
            return mtl_error_set(MTL_ERR_NOMEM, "metrics: out of memory for %lld angles",
                                 (long long)(n * hw));
        m->angles = grown;
        m->angles_cap = (size_t)(n * hw);
    }
    for (int64_t i = 0; i < n; i++) {
        const float *pp = pred + i * 3 * hw, *tt = truth + i * 3 * hw;

        for (int64_t p = 0; p < hw; p++) {
            float t0 = tt[p], t1 = tt[hw + p], t2 = tt[2 * hw + p];
            float dot, deg;

            if (t0 + t1 + t2 == 0.0f)
                continue;
            dot = pp[p] * t0 + pp[hw + p] * t1 + pp[2 * hw + p] * t2;
            /* np.degrees(acos(clamp(...))) in float32, as the reference's arrays */
            deg = acosf(fminf(fmaxf(dot, -1.0f), 1.0f)) * (float)(180.0 / NYU_PI);
            m->angles[count++] = deg;
            sum += deg;
            for (int k = 0; k < 3; k++)
                within[k] += deg < limits[k];
        }
    }
    if (count == 0)
        return MTL_OK;
    m->normal_sum[0] += sum / (double)count;
    m->normal_sum[1] += median(m->angles, count);
    for (int k = 0; k < 3; k++)
        m->normal_sum[2 + k] += (double)within[k] / (double)count;
    m->normal_batches++;
    return MTL_OK;
}

mtl_status nyu_metrics_add(nyu_metrics *m, int64_t n, int64_t hw, const float *logp,
                           const float *label, const float *depth_pred, const float *depth_true,
                           const float *normal_pred, const float *normal_true)
{
    add_confusion(m, n, hw, logp, label);
    add_depth(m, n, hw, depth_pred, depth_true);
    return add_normal(m, n, hw, normal_pred, normal_true);
}

void nyu_metrics_values(const nyu_metrics *m, double v[NYU_N_METRICS])
{
    int64_t total = 0, diag = 0;
    double iou_sum = 0;
    int classes = 0;

    for (int c = 0; c < NYU_N_CLASSES; c++) {
        int64_t tp = m->conf[c * NYU_N_CLASSES + c], row = 0, col = 0;

        for (int k = 0; k < NYU_N_CLASSES; k++) {
            row += m->conf[c * NYU_N_CLASSES + k];
            col += m->conf[k * NYU_N_CLASSES + c];
        }
        total += row;
        diag += tp;
        if (row + col - tp > 0) {
            iou_sum += (double)tp / (double)(row + col - tp);
            classes++;
        }
    }
    v[0] = classes ? iou_sum / classes : NAN;
    v[1] = total ? (double)diag / (double)total : NAN;
    for (int k = 0; k < 2; k++)
        v[2 + k] = m->depth_batches ? m->depth_sum[k] / (double)m->depth_batches : NAN;
    for (int k = 0; k < 5; k++)
        v[4 + k] = m->normal_batches ? m->normal_sum[k] / (double)m->normal_batches : NAN;
}
