/*
 * CPU kernels of the graph-network ops (nn_backend.h).  The dense products
 * of those ops go through the backend's gemm (OpenBLAS); what is here is
 * row copies, reductions and the pointwise parts of the recurrent cells,
 * written as plain loops over contiguous rows that the compiler vectorises.
 */
#include <math.h>
#include <string.h>

#include "../nn_backend.h"

static void gather_rows(int64_t n, int64_t f, const float *x, int64_t ldx, const int64_t *idx,
                        float *y, int64_t ldy, int accumulate)
{
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + (idx ? idx[i] : i) * ldx;
        float *dst = y + i * ldy;

        if (accumulate) {
            for (int64_t k = 0; k < f; k++)
                dst[k] += src[k];
        } else {
            memcpy(dst, src, (size_t)f * sizeof *dst);
        }
    }
}

static void scatter_add_rows(int64_t n, int64_t f, const float *x, int64_t ldx, const int64_t *idx,
                             float *y, int64_t ldy)
{
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + i * ldx;
        float *dst = y + (idx ? idx[i] : i) * ldy;

        for (int64_t k = 0; k < f; k++)
            dst[k] += src[k];
    }
}

static void scale_rows(int64_t n, int64_t f, const float *x, const float *s, float *y,
                       int accumulate)
{
    for (int64_t i = 0; i < n; i++) {
        const float *src = x + i * f;
        float *dst = y + i * f;
        float si = s[i];

        if (accumulate) {
            for (int64_t k = 0; k < f; k++)
                dst[k] += si * src[k];
        } else {
            for (int64_t k = 0; k < f; k++)
                dst[k] = si * src[k];
        }
    }
}

static void row_dot(int64_t n, int64_t f, const float *a, const float *b, float *y, int accumulate)
{
    for (int64_t i = 0; i < n; i++) {
        float acc = 0.0f;

        for (int64_t k = 0; k < f; k++)
            acc += a[i * f + k] * b[i * f + k];
        y[i] = accumulate ? y[i] + acc : acc;
    }
}

static void add_bias(int64_t n, int64_t f, const float *x, const float *b, float *y)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < f; k++)
            y[i * f + k] = x[i * f + k] + b[k];
}

static void bias_backward(int64_t n, int64_t f, const float *dy, float *db)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < f; k++)
            db[k] += dy[i * f + k];
}

static void mse(int64_t n, const float *p, const float *t, float *y)
{
    double acc = 0.0;

    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - (double)t[i];
        acc += d * d;
    }
    y[0] = (float)(acc / (double)n);
}

static void mse_backward(int64_t n, const float *p, const float *t, const float *dy, float *dp,
                         float *dt)
{
    float c = 2.0f * dy[0] / (float)n;

    for (int64_t i = 0; i < n; i++) {
        float d = c * (p[i] - t[i]);
        if (dp)
            dp[i] += d;
        if (dt)
            dt[i] -= d;
    }
}

static void segment_softmax(int64_t n, const float *e, const int64_t *idx, int64_t range,
                            float *work, float *y)
{
    float *max = work, *sum = work + range;

    for (int64_t s = 0; s < range; s++) {
        max[s] = -INFINITY;
        sum[s] = 0.0f;
    }
    for (int64_t i = 0; i < n; i++)
        max[idx[i]] = fmaxf(max[idx[i]], e[i]);
    for (int64_t i = 0; i < n; i++) {
        y[i] = expf(e[i] - max[idx[i]]);
        sum[idx[i]] += y[i];
    }
    /* Every group that holds an element has a sum >= 1 (its maximum gives exp(0)). */
    for (int64_t i = 0; i < n; i++)
        y[i] /= sum[idx[i]];
}

static void segment_softmax_backward(int64_t n, const float *y, const float *dy, const int64_t *idx,
                                     int64_t range, float *work, float *de)
{
    for (int64_t s = 0; s < range; s++)
        work[s] = 0.0f;
    for (int64_t i = 0; i < n; i++)
        work[idx[i]] += y[i] * dy[i];
    for (int64_t i = 0; i < n; i++)
        de[i] += y[i] * (dy[i] - work[idx[i]]);
}

static float sigmoid(float v)
{
    return 1.0f / (1.0f + expf(-v));
}

static void gru_combine(int64_t n, int64_t h, const float *gi, const float *gh, const float *hp,
                        float *h_new)
{
    for (int64_t b = 0; b < n; b++) {
        const float *i_r = gi + b * 3 * h, *i_z = i_r + h, *i_n = i_z + h;
        const float *h_r = gh + b * 3 * h, *h_z = h_r + h, *h_n = h_z + h;

        for (int64_t k = 0; k < h; k++) {
            float r = sigmoid(i_r[k] + h_r[k]);
            float z = sigmoid(i_z[k] + h_z[k]);
            float nn = tanhf(i_n[k] + r * h_n[k]);
            h_new[b * h + k] = nn + z * (hp[b * h + k] - nn);
        }
    }
}

static void gru_combine_backward(int64_t n, int64_t h, const float *gi, const float *gh,
                                 const float *hp, const float *dh_new, float *dgi, float *dgh,
                                 float *dhp)
{
    for (int64_t b = 0; b < n; b++) {
        int64_t row = b * 3 * h;
        const float *i_r = gi + row, *i_z = i_r + h, *i_n = i_z + h;
        const float *h_r = gh + row, *h_z = h_r + h, *h_n = h_z + h;

        for (int64_t k = 0; k < h; k++) {
            float r = sigmoid(i_r[k] + h_r[k]);
            float z = sigmoid(i_z[k] + h_z[k]);
            float nn = tanhf(i_n[k] + r * h_n[k]);
            float d = dh_new[b * h + k];
            /* h_new = (1 - z) n + z h_prev */
            float dn = d * (1.0f - z) * (1.0f - nn * nn);
            float dz = d * (hp[b * h + k] - nn) * z * (1.0f - z);
            float dr = dn * h_n[k] * r * (1.0f - r);

            if (dgi) {
                dgi[row + k] += dr;
                dgi[row + h + k] += dz;
                dgi[row + 2 * h + k] += dn;
            }
            if (dgh) {
                dgh[row + k] += dr;
                dgh[row + h + k] += dz;
                dgh[row + 2 * h + k] += dn * r;
            }
            if (dhp)
                dhp[b * h + k] += d * z;
        }
    }
}

static void lstm_state(int64_t n, int64_t h, const float *gi, const float *gh, const float *c,
                       float *c_new)
{
    for (int64_t b = 0; b < n; b++) {
        const float *ai = gi + b * 4 * h, *hi = gh + b * 4 * h;

        for (int64_t k = 0; k < h; k++) {
            float ig = sigmoid(ai[k] + hi[k]);
            float fg = sigmoid(ai[h + k] + hi[h + k]);
            float gg = tanhf(ai[2 * h + k] + hi[2 * h + k]);
            c_new[b * h + k] = fg * c[b * h + k] + ig * gg;
        }
    }
}

static void lstm_state_backward(int64_t n, int64_t h, const float *gi, const float *gh,
                                const float *c, const float *dc_new, float *dgi, float *dgh,
                                float *dc)
{
    for (int64_t b = 0; b < n; b++) {
        int64_t row = b * 4 * h;
        const float *ai = gi + row, *hi = gh + row;

        for (int64_t k = 0; k < h; k++) {
            float ig = sigmoid(ai[k] + hi[k]);
            float fg = sigmoid(ai[h + k] + hi[h + k]);
            float gg = tanhf(ai[2 * h + k] + hi[2 * h + k]);
            float d = dc_new[b * h + k];
            float da_i = d * gg * ig * (1.0f - ig);
            float da_f = d * c[b * h + k] * fg * (1.0f - fg);
            float da_g = d * ig * (1.0f - gg * gg);

            if (dgi) {
                dgi[row + k] += da_i;
                dgi[row + h + k] += da_f;
                dgi[row + 2 * h + k] += da_g;
            }
            if (dgh) {
                dgh[row + k] += da_i;
                dgh[row + h + k] += da_f;
                dgh[row + 2 * h + k] += da_g;
            }
            if (dc)
                dc[b * h + k] += d * fg;
        }
    }
}

static void lstm_output(int64_t n, int64_t h, const float *gi, const float *gh, const float *c_new,
                        float *h_new)
{
    for (int64_t b = 0; b < n; b++) {
        const float *ao = gi + b * 4 * h + 3 * h, *ho = gh + b * 4 * h + 3 * h;

        for (int64_t k = 0; k < h; k++)
            h_new[b * h + k] = sigmoid(ao[k] + ho[k]) * tanhf(c_new[b * h + k]);
    }
}

static void lstm_output_backward(int64_t n, int64_t h, const float *gi, const float *gh,
                                 const float *c_new, const float *dh_new, float *dgi, float *dgh,
                                 float *dc_new)
{
    for (int64_t b = 0; b < n; b++) {
        int64_t row = b * 4 * h + 3 * h;

        for (int64_t k = 0; k < h; k++) {
            float og = sigmoid(gi[row + k] + gh[row + k]);
            float tc = tanhf(c_new[b * h + k]);
            float d = dh_new[b * h + k];
            float da_o = d * tc * og * (1.0f - og);

            if (dgi)
                dgi[row + k] += da_o;
            if (dgh)
                dgh[row + k] += da_o;
            if (dc_new)
                dc_new[b * h + k] += d * og * (1.0f - tc * tc);
        }
    }
}

const mtl_nn_backend mtl_cpu_nn_backend = {
    .gather_rows = gather_rows,
    .scatter_add_rows = scatter_add_rows,
    .scale_rows = scale_rows,
    .row_dot = row_dot,
    .add_bias = add_bias,
    .bias_backward = bias_backward,
    .mse = mse,
    .mse_backward = mse_backward,
    .segment_softmax = segment_softmax,
    .segment_softmax_backward = segment_softmax_backward,
    .gru_combine = gru_combine,
    .gru_combine_backward = gru_combine_backward,
    .lstm_state = lstm_state,
    .lstm_state_backward = lstm_state_backward,
    .lstm_output = lstm_output,
    .lstm_output_backward = lstm_output_backward,
};
