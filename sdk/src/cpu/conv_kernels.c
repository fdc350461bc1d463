/*
 * CPU kernels of the convolutional ops (conv_backend.h).  The matrix
 * products of the convolutions go through the backend's gemm (OpenBLAS);
 * what is here is data movement (im2col, pooling, resizing) and per-channel
 * or per-pixel arithmetic, written as plain loops over contiguous rows of a
 * plane, with no function call per pixel, so that the compiler vectorises
 * the inner loops.
 */
#include <math.h>
#include <string.h>

#include "../conv_backend.h"

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* ---- im2col / col2im ----------------------------------------------------- */

/*
 * One im2col row (kernel offset ki, kj of one channel plane) for the output
 * positions j0 .. j0 + n - 1, walked one output row at a time.  With stride
 * 1 the input columns of a row segment are contiguous: zeros left of the
 * image, a copy, zeros right of it.
 */
static void im2col_row(const mtl_conv_geom *g, const float *plane, int64_t ki, int64_t kj,
                       int64_t j0, int64_t n, float *restrict dst)
{
    int64_t oy = j0 / g->ow, ox0 = j0 - oy * g->ow;

    for (int64_t left = n; left > 0; oy++, ox0 = 0) {
        int64_t len = min64(g->ow - ox0, left);
        int64_t iy = oy * g->stride - g->pad + ki;

        if (iy < 0 || iy >= g->h) {
            for (int64_t t = 0; t < len; t++)
                dst[t] = 0.0f;
        } else if (g->stride == 1) {
            /* output column ox reads input column ox - pad + kj */
            const float *restrict src = plane + iy * g->w - g->pad + kj;
            int64_t lo = max64(ox0, g->pad - kj), hi = min64(ox0 + len, g->w + g->pad - kj);

            if (hi < lo)
                hi = lo;
            for (int64_t ox = ox0; ox < lo; ox++)
                dst[ox - ox0] = 0.0f;
            for (int64_t ox = lo; ox < hi; ox++)
                dst[ox - ox0] = src[ox];
            for (int64_t ox = hi; ox < ox0 + len; ox++)
                dst[ox - ox0] = 0.0f;
        } else {
            const float *restrict src = plane + iy * g->w;

            for (int64_t t = 0; t < len; t++) {
                int64_t ix = (ox0 + t) * g->stride - g->pad + kj;
                dst[t] = ix >= 0 && ix < g->w ? src[ix] : 0.0f;
            }
        }
        dst += len;
        left -= len;
    }
}

static void cpu_im2col(const mtl_conv_geom *g, const float *x, int64_t j0, int64_t n, float *col,
                       int64_t ld)
{
    for (int64_t ci = 0; ci < g->c; ci++) {
        const float *plane = x + ci * g->h * g->w;

        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++)
                im2col_row(g, plane, ki, kj, j0, n, col + ((ci * g->kh + ki) * g->kw + kj) * ld);
    }
}

/*
 * The adjoint of im2col_row: the row's values added back where they were read.
 */
static void col2im_row(const mtl_conv_geom *g, const float *restrict src, int64_t ki, int64_t kj,
                       int64_t j0, int64_t n, float *plane)
{
    int64_t oy = j0 / g->ow, ox0 = j0 - oy * g->ow;

    for (int64_t left = n; left > 0; oy++, ox0 = 0) {
        int64_t len = min64(g->ow - ox0, left);
        int64_t iy = oy * g->stride - g->pad + ki;

        if (iy >= 0 && iy < g->h && g->stride == 1) {
            float *restrict row = plane + iy * g->w - g->pad + kj;
            int64_t lo = max64(ox0, g->pad - kj), hi = min64(ox0 + len, g->w + g->pad - kj);

            for (int64_t ox = lo; ox < hi; ox++)
                row[ox] += src[ox - ox0];
        } else if (iy >= 0 && iy < g->h) {
            float *row = plane + iy * g->w;

            for (int64_t t = 0; t < len; t++) {
                int64_t ix = (ox0 + t) * g->stride - g->pad + kj;
                if (ix >= 0 && ix < g->w)
                    row[ix] += src[t];
            }
        }
        src += len;
        left -= len;
    }
}

static void cpu_col2im(const mtl_conv_geom *g, const float *col, int64_t ld, int64_t j0, int64_t n,
                       float *dx)
{
    for (int64_t ci = 0; ci < g->c; ci++) {
        float *plane = dx + ci * g->h * g->w;

        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++)
                col2im_row(g, col + ((ci * g->kh + ki) * g->kw + kj) * ld, ki, kj, j0, n, plane);
    }
}

static void cpu_copy_block(int64_t rows, int64_t cols, const float *src, int64_t ld_src, float *dst,
                           int64_t ld_dst, int accumulate)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *s = src + r * ld_src;
        float *d = dst + r * ld_dst;

        if (accumulate) {
            for (int64_t j = 0; j < cols; j++)
                d[j] += s[j];
        } else {
            memcpy(d, s, (size_t)cols * sizeof *d);
        }
    }
}

static void cpu_add_row_bias(int64_t rows, int64_t cols, const float *b, float *y, int64_t ld)
{
    for (int64_t r = 0; r < rows; r++) {
        float *d = y + r * ld;
        float br = b[r];

        for (int64_t j = 0; j < cols; j++)
            d[j] += br;
    }
}

/* ---- per-channel bias ---------------------------------------------------- */

static void cpu_add_channel_bias(int64_t n, int64_t c, int64_t hw, const float *x, const float *b,
                                 float *y)
{
    for (int64_t i = 0; i < n * c; i++) {
        const float *src = x + i * hw;
        float *dst = y + i * hw;
        float bk = b[i % c];

        for (int64_t p = 0; p < hw; p++)
            dst[p] = src[p] + bk;
    }
}

/*
 * Sum of n floats in double, with eight partial sums the compiler can
 * vectorise.
 */
static double sum_d(const float *x, int64_t n)
{
    double acc[8] = {0};
    int64_t p = 0;

    for (; p + 8 <= n; p += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)x[p + k];
    for (; p < n; p++)
        acc[0] += (double)x[p];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* sum (x - m)^2 in double. */
static double sum_sq_dev_d(const float *x, int64_t n, double m)
{
    double acc[8] = {0};
    int64_t p = 0;

    for (; p + 8 <= n; p += 8)
        for (int k = 0; k < 8; k++) {
            double d = (double)x[p + k] - m;
            acc[k] += d * d;
        }
    for (; p < n; p++) {
        double d = (double)x[p] - m;
        acc[0] += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* sum dy (x - m) in double. */
static double sum_dot_dev_d(const float *dy, const float *x, int64_t n, double m)
{
    double acc[8] = {0};
    int64_t p = 0;

    for (; p + 8 <= n; p += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += (double)dy[p + k] * ((double)x[p + k] - m);
    for (; p < n; p++)
        acc[0] += (double)dy[p] * ((double)x[p] - m);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void cpu_channel_sum(int64_t n, int64_t c, int64_t hw, const float *dy, float *db)
{
    for (int64_t k = 0; k < c; k++) {
        double acc = 0.0;

        for (int64_t i = 0; i < n; i++)
            acc += sum_d(dy + (i * c + k) * hw, hw);
        db[k] += (float)acc;
    }
}

/* ---- batch normalisation ------------------------------------------------- */

static void cpu_bn_stats(int64_t n, int64_t c, int64_t hw, const float *x, float *mean, float *var)
{
    double count = (double)(n * hw);

    /*
     * Two passes, as PyTorch's CPU kernel: the mean, then squared deviations
     * from it.
     */
    for (int64_t k = 0; k < c; k++) {
        double s = 0.0, q = 0.0, m;

        for (int64_t i = 0; i < n; i++)
            s += sum_d(x + (i * c + k) * hw, hw);
        m = s / count;
        for (int64_t i = 0; i < n; i++)
            q += sum_sq_dev_d(x + (i * c + k) * hw, hw, m);
        mean[k] = (float)m;
        var[k] = (float)(q / count);
    }
}

static void cpu_bn_update_running(int64_t c, const float *mean, const float *var, int64_t count,
                                  float momentum, float *running_mean, float *running_var)
{
    double unbias = (double)count / (double)(count - 1);

    for (int64_t k = 0; k < c; k++) {
        double m = momentum;

        running_mean[k] = (float)(m * mean[k] + (1.0 - m) * running_mean[k]);
        running_var[k] = (float)(m * (var[k] * unbias) + (1.0 - m) * running_var[k]);
    }
}

static void cpu_bn_invstd(int64_t c, const float *var, float eps, float *invstd)
{
    for (int64_t k = 0; k < c; k++)
        invstd[k] = (float)(1.0 / sqrt((double)var[k] + (double)eps));
}

/* y = act(y) in place, for the activations fused into batch norm. */
static void activate(int act, int64_t n, float *y)
{
    if (act == MTL_CONV_ACT_RELU) {
        for (int64_t p = 0; p < n; p++)
            y[p] = y[p] > 0.0f ? y[p] : 0.0f;
    } else if (act == MTL_CONV_ACT_SIGMOID) {
        /* the formula of the unfused mtl_sigmoid, so that both give the same values */
        for (int64_t p = 0; p < n; p++)
            y[p] = 1.0f / (1.0f + expf(-y[p]));
    }
}

static void cpu_bn_forward(int64_t n, int64_t c, int64_t hw, const float *x, const float *mean,
                           const float *invstd, const float *weight, const float *bias, int act,
                           float *y)
{
    for (int64_t i = 0; i < n * c; i++) {
        int64_t k = i % c;
        /* y = x alpha + beta with alpha = invstd w, beta = b - mean alpha (PyTorch's order). */
        float alpha = invstd[k] * (weight ? weight[k] : 1.0f);
        float beta = (bias ? bias[k] : 0.0f) - mean[k] * alpha;
        const float *src = x + i * hw;
        float *dst = y + i * hw;

        for (int64_t p = 0; p < hw; p++)
            dst[p] = src[p] * alpha + beta;
        activate(act, hw, dst);
    }
}

/* Pixels of a plane whose activation gradient is formed at once (on the stack). */
#define BN_TILE 1024

/*
 * The gradient at the normalised values of one tile: dy act'(y), with the
 * unfused ops' rules (ReLU: where y > 0; sigmoid: y (1 - y)); NULL-free.
 * Returns dy itself when there is no activation.
 */
static const float *act_grad(int act, const float *dy, const float *y, int64_t n, float *tile)
{
    if (act == MTL_CONV_ACT_RELU) {
        for (int64_t p = 0; p < n; p++)
            tile[p] = y[p] > 0.0f ? dy[p] : 0.0f;
    } else if (act == MTL_CONV_ACT_SIGMOID) {
        for (int64_t p = 0; p < n; p++)
            tile[p] = dy[p] * (1.0f - y[p]) * y[p];
    } else {
        return dy;
    }
    return tile;
}

static void cpu_bn_backward(int64_t n, int64_t c, int64_t hw, const float *x, const float *y,
                            const float *mean, const float *invstd, const float *weight,
                            const float *dy, int act, int training, float *dx, float *dweight,
                            float *dbias)
{
    double count = (double)(n * hw);
    float tile[BN_TILE];

    for (int64_t k = 0; k < c; k++) {
        double sum_dy = 0.0, dot = 0.0;
        float w = weight ? weight[k] : 1.0f, is = invstd[k], m = mean[k];

        for (int64_t i = 0; i < n; i++) {
            int64_t at = (i * c + k) * hw;

            for (int64_t p0 = 0; p0 < hw; p0 += BN_TILE) {
                int64_t len = min64(BN_TILE, hw - p0);
                const float *g = act_grad(act, dy + at + p0, y + at + p0, len, tile);

                sum_dy += sum_d(g, len);
                dot += sum_dot_dev_d(g, x + at + p0, len, m);
            }
        }
        if (dweight)
            dweight[k] += (float)(dot * is);
        if (dbias)
            dbias[k] += (float)sum_dy;
        if (!dx)
            continue;

        /*
         * With batch statistics, is = 1 / std:
         *   dx = (g - mean(g) - (x - m) is^2 mean(g (x - m))) is w,  g = dy act'(y);
         * with running ones the statistics are constants: dx = g is w.
         */
        float scale = is * w;
        float grad_mean = training ? (float)(sum_dy / count) : 0.0f;
        float proj = training ? (float)(dot / count) * is * is : 0.0f;
        for (int64_t i = 0; i < n; i++) {
            int64_t at = (i * c + k) * hw;

            for (int64_t p0 = 0; p0 < hw; p0 += BN_TILE) {
                int64_t len = min64(BN_TILE, hw - p0);
                const float *g = act_grad(act, dy + at + p0, y + at + p0, len, tile);
                const float *xs = x + at + p0;
                float *d = dx + at + p0;

                for (int64_t p = 0; p < len; p++)
                    d[p] += (g[p] - grad_mean - (xs[p] - m) * proj) * scale;
            }
        }
    }
}

/* ---- pooling ------------------------------------------------------------- */

static void cpu_max_pool2(int64_t planes, int64_t h, int64_t w, const float *x, float *y,
                          int32_t *idx)
{
    int64_t oh = h / 2, ow = w / 2;

    for (int64_t q = 0; q < planes; q++) {
        const float *src = x + q * h * w;
        float *dst = y + q * oh * ow;
        int32_t *ix = idx + q * oh * ow;

        for (int64_t oy = 0; oy < oh; oy++) {
            const float *r0 = src + 2 * oy * w, *r1 = r0 + w;

            for (int64_t ox = 0; ox < ow; ox++) {
                /*
                 * PyTorch's scan: row-major, a larger value or a NaN replaces
                 * the maximum.
                 */
                const float v[4] = {r0[2 * ox], r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]};
                const int32_t at[4] = {
                    (int32_t)(2 * oy * w + 2 * ox), (int32_t)(2 * oy * w + 2 * ox + 1),
                    (int32_t)((2 * oy + 1) * w + 2 * ox), (int32_t)((2 * oy + 1) * w + 2 * ox + 1)};
                float best = -INFINITY;
                int32_t where = at[0];

                for (int k = 0; k < 4; k++) {
                    if (v[k] > best || isnan(v[k])) {
                        best = v[k];
                        where = at[k];
                    }
                }
                dst[oy * ow + ox] = best;
                ix[oy * ow + ox] = where;
            }
        }
    }
}

static void cpu_max_pool2_backward(int64_t planes, int64_t oh, int64_t ow, int64_t hw,
                                   const int32_t *idx, const float *dy, float *dx)
{
    int64_t m = oh * ow;

    for (int64_t q = 0; q < planes; q++) {
        float *d = dx + q * hw;

        for (int64_t p = 0; p < m; p++)
            d[idx[q * m + p]] += dy[q * m + p];
    }
}

static void cpu_max_unpool2(int64_t planes, int64_t oh, int64_t ow, int64_t hw, const int32_t *idx,
                            const float *x, float *y)
{
    int64_t m = oh * ow;

    memset(y, 0, (size_t)(planes * hw) * sizeof *y);
    for (int64_t q = 0; q < planes; q++) {
        float *d = y + q * hw;

        for (int64_t p = 0; p < m; p++)
            d[idx[q * m + p]] = x[q * m + p];
    }
}

static void cpu_max_unpool2_backward(int64_t planes, int64_t oh, int64_t ow, int64_t hw,
                                     const int32_t *idx, const float *dy, float *dx)
{
    int64_t m = oh * ow;

    for (int64_t q = 0; q < planes; q++) {
        const float *g = dy + q * hw;

        for (int64_t p = 0; p < m; p++)
            dx[q * m + p] += g[idx[q * m + p]];
    }
}

/* ---- resizing ------------------------------------------------------------ */

/*
 * One output coordinate of PyTorch's linear interpolation with aligned
 * corners (UpSample.h, compute_source_index_and_lambda), in float32.
 */
typedef struct lerp {
    int64_t i0, i1;
    float l0, l1;
} lerp;

static lerp lerp_at(int64_t out_index, int64_t in_size, int64_t out_size)
{
    lerp r;

    if (in_size == out_size) {
        r.i0 = r.i1 = out_index;
        r.l0 = 1.0f;
        r.l1 = 0.0f;
        return r;
    }
    float scale = out_size > 1 ? (float)(in_size - 1) / (float)(out_size - 1) : 0.0f;
    float real = scale * (float)out_index;
    r.i0 = (int64_t)real;
    r.i1 = r.i0 + (r.i0 < in_size - 1 ? 1 : 0);
    r.l1 = fminf(fmaxf(real - (float)r.i0, 0.0f), 1.0f);
    r.l0 = 1.0f - r.l1;
    return r;
}

static void cpu_resize_bilinear(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                const float *x, float *y)
{
    for (int64_t q = 0; q < planes; q++) {
        const float *src = x + q * ih * iw;
        float *dst = y + q * oh * ow;

        for (int64_t oy = 0; oy < oh; oy++) {
            lerp ry = lerp_at(oy, ih, oh);
            const float *r0 = src + ry.i0 * iw, *r1 = src + ry.i1 * iw;

            for (int64_t ox = 0; ox < ow; ox++) {
                lerp rx = lerp_at(ox, iw, ow);
                float t0 = r0[rx.i0] * rx.l0 + r0[rx.i1] * rx.l1;
                float t1 = r1[rx.i0] * rx.l0 + r1[rx.i1] * rx.l1;

                dst[oy * ow + ox] = t0 * ry.l0 + t1 * ry.l1;
            }
        }
    }
}

static void cpu_resize_bilinear_backward(int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                         int64_t ow, const float *dy, float *dx)
{
    for (int64_t q = 0; q < planes; q++) {
        const float *g = dy + q * oh * ow;
        float *d = dx + q * ih * iw;

        for (int64_t oy = 0; oy < oh; oy++) {
            lerp ry = lerp_at(oy, ih, oh);
            float *r0 = d + ry.i0 * iw, *r1 = d + ry.i1 * iw;

            for (int64_t ox = 0; ox < ow; ox++) {
                lerp rx = lerp_at(ox, iw, ow);
                float v = g[oy * ow + ox];

                r0[rx.i0] += ry.l0 * rx.l0 * v;
                r0[rx.i1] += ry.l0 * rx.l1 * v;
                r1[rx.i0] += ry.l1 * rx.l0 * v;
                r1[rx.i1] += ry.l1 * rx.l1 * v;
            }
        }
    }
}

/* PyTorch's nearest_idx (UpSample.h): the input index output index i reads. */
static int64_t nearest_at(int64_t i, int64_t in_size, int64_t out_size)
{
    if (out_size == in_size)
        return i;
    if (out_size == 2 * in_size)
        return i >> 1;
    float scale = (float)in_size / (float)out_size;
    return min64((int64_t)floorf((float)i * scale), in_size - 1);
}

static void cpu_resize_nearest(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                               const float *x, float *y)
{
    for (int64_t q = 0; q < planes; q++) {
        const float *src = x + q * ih * iw;
        float *dst = y + q * oh * ow;

        for (int64_t oy = 0; oy < oh; oy++) {
            const float *row = src + nearest_at(oy, ih, oh) * iw;

            for (int64_t ox = 0; ox < ow; ox++)
                dst[oy * ow + ox] = row[nearest_at(ox, iw, ow)];
        }
    }
}

static void cpu_resize_nearest_backward(int64_t planes, int64_t ih, int64_t iw, int64_t oh,
                                        int64_t ow, const float *dy, float *dx)
{
    for (int64_t q = 0; q < planes; q++) {
        const float *g = dy + q * oh * ow;
        float *d = dx + q * ih * iw;

        for (int64_t oy = 0; oy < oh; oy++) {
            float *row = d + nearest_at(oy, ih, oh) * iw;

            for (int64_t ox = 0; ox < ow; ox++)
                row[nearest_at(ox, iw, ow)] += g[oy * ow + ox];
        }
    }
}

static void cpu_crop(int64_t planes, int64_t ih, int64_t iw, int64_t top, int64_t left, int64_t oh,
                     int64_t ow, const float *x, float *y)
{
    for (int64_t q = 0; q < planes; q++)
        for (int64_t oy = 0; oy < oh; oy++)
            memcpy(y + (q * oh + oy) * ow, x + (q * ih + top + oy) * iw + left,
                   (size_t)ow * sizeof *y);
}

static void cpu_crop_backward(int64_t planes, int64_t ih, int64_t iw, int64_t top, int64_t left,
                              int64_t oh, int64_t ow, const float *dy, float *dx)
{
    for (int64_t q = 0; q < planes; q++)
        for (int64_t oy = 0; oy < oh; oy++) {
            const float *g = dy + (q * oh + oy) * ow;
            float *d = dx + (q * ih + top + oy) * iw + left;

            for (int64_t ox = 0; ox < ow; ox++)
                d[ox] += g[ox];
        }
}

/* ---- per-pixel functions of the channels --------------------------------- */

static void cpu_log_softmax(int64_t n, int64_t c, int64_t hw, const float *x, float *work, float *y)
{
    float *mx = work, *sum = work + hw;

    for (int64_t i = 0; i < n; i++) {
        const float *xs = x + i * c * hw;
        float *ys = y + i * c * hw;

        /* Channel-outer loops keep every access contiguous within a plane. */
        memcpy(mx, xs, (size_t)hw * sizeof *mx);
        for (int64_t k = 1; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                mx[p] = xs[k * hw + p] > mx[p] ? xs[k * hw + p] : mx[p];
        memset(sum, 0, (size_t)hw * sizeof *sum);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                sum[p] += expf(xs[k * hw + p] - mx[p]);
        for (int64_t p = 0; p < hw; p++)
            sum[p] = logf(sum[p]);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                ys[k * hw + p] = xs[k * hw + p] - mx[p] - sum[p];
    }
}

static void cpu_log_softmax_backward(int64_t n, int64_t c, int64_t hw, const float *y,
                                     const float *dy, float *work, float *dx)
{
    for (int64_t i = 0; i < n; i++) {
        const float *ys = y + i * c * hw, *g = dy + i * c * hw;
        float *d = dx + i * c * hw;

        memset(work, 0, (size_t)hw * sizeof *work);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                work[p] += g[k * hw + p];
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                d[k * hw + p] += g[k * hw + p] - expf(ys[k * hw + p]) * work[p];
    }
}

static void cpu_l2_normalize(int64_t n, int64_t c, int64_t hw, const float *x, float *work,
                             float *y)
{
    for (int64_t i = 0; i < n; i++) {
        const float *xs = x + i * c * hw;
        float *ys = y + i * c * hw;

        memset(work, 0, (size_t)hw * sizeof *work);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                work[p] += xs[k * hw + p] * xs[k * hw + p];
        for (int64_t p = 0; p < hw; p++)
            work[p] = sqrtf(work[p]);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                ys[k * hw + p] = xs[k * hw + p] / work[p];
    }
}

static void cpu_l2_normalize_backward(int64_t n, int64_t c, int64_t hw, const float *x,
                                      const float *y, const float *dy, float *work, float *dx)
{
    float *norm = work, *dot = work + hw;

    for (int64_t i = 0; i < n; i++) {
        const float *xs = x + i * c * hw, *ys = y + i * c * hw, *g = dy + i * c * hw;
        float *d = dx + i * c * hw;

        memset(norm, 0, (size_t)hw * sizeof *norm);
        memset(dot, 0, (size_t)hw * sizeof *dot);
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++) {
                norm[p] += xs[k * hw + p] * xs[k * hw + p];
                dot[p] += ys[k * hw + p] * g[k * hw + p];
            }
        for (int64_t p = 0; p < hw; p++)
            norm[p] = sqrtf(norm[p]);
        /* dx = (dy - y <y, dy>) / ||x|| */
        for (int64_t k = 0; k < c; k++)
            for (int64_t p = 0; p < hw; p++)
                d[k * hw + p] += (g[k * hw + p] - ys[k * hw + p] * dot[p]) / norm[p];
    }
}

/* ---- losses -------------------------------------------------------------- */

static int64_t cpu_nll(int64_t n, int64_t c, int64_t hw, const float *logp, const float *target,
                       int ignore, float *result)
{
    double sum = 0.0;
    int64_t count = 0;

    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++) {
            float t = target[i * hw + p];
            int64_t k;

            if (t == (float)ignore)
                continue;
            if (!(t >= 0.0f && t < (float)c) || t != floorf(t))
                return i * hw + p;
            k = (int64_t)t;
            sum -= (double)logp[(i * c + k) * hw + p];
            count++;
        }
    result[0] = (float)sum;
    result[1] = (float)count;
    return -1;
}

static void cpu_nll_backward(int64_t n, int64_t c, int64_t hw, const float *target, int ignore,
                             const float *dy, float scale, float *dlogp)
{
    float step = dy[0] * scale;

    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < hw; p++) {
            float t = target[i * hw + p];

            if (t != (float)ignore)
                dlogp[(i * c + (int64_t)t) * hw + p] -= step;
        }
}

/*
 * Whether pixel p of sample i counts: the sum of the target over its channels
 * is not 0.
 */
static int pixel_counts(const float *t, int64_t c, int64_t hw, int64_t p)
{
    float s = 0.0f;

    for (int64_t k = 0; k < c; k++)
        s += t[k * hw + p];
    return s != 0.0f;
}

static void cpu_masked_sum(int mode, int64_t n, int64_t c, int64_t hw, const float *pred,
                           const float *target, float *result)
{
    double sum = 0.0;
    int64_t count = 0;

    for (int64_t i = 0; i < n; i++) {
        const float *ps = pred + i * c * hw, *ts = target + i * c * hw;

        for (int64_t p = 0; p < hw; p++) {
            if (!pixel_counts(ts, c, hw, p))
                continue;
            count++;
            for (int64_t k = 0; k < c; k++) {
                float a = ps[k * hw + p], b = ts[k * hw + p];
                sum += mode == 0 ? (double)fabsf(a - b) : (double)(a * b);
            }
        }
    }
    result[0] = (float)sum;
    result[1] = (float)count;
}

static void cpu_masked_sum_backward(int mode, int64_t n, int64_t c, int64_t hw, const float *pred,
                                    const float *target, const float *dy, float scale, float *dp)
{
    float step = dy[0] * scale;

    for (int64_t i = 0; i < n; i++) {
        const float *ps = pred + i * c * hw, *ts = target + i * c * hw;
        float *d = dp + i * c * hw;

        for (int64_t p = 0; p < hw; p++) {
            if (!pixel_counts(ts, c, hw, p))
                continue;
            for (int64_t k = 0; k < c; k++) {
                float u = ps[k * hw + p] - ts[k * hw + p];
                /* d|u| = sign(u), 0 at 0 (PyTorch's abs); d(p t)/dp = t */
                float g = mode == 0 ? (float)((u > 0.0f) - (u < 0.0f)) : ts[k * hw + p];
                d[k * hw + p] += step * g;
            }
        }
    }
}

const mtl_conv_backend mtl_cpu_conv_backend = {
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .copy_block = cpu_copy_block,
    .add_row_bias = cpu_add_row_bias,
    .add_channel_bias = cpu_add_channel_bias,
    .channel_sum = cpu_channel_sum,
    .bn_stats = cpu_bn_stats,
    .bn_update_running = cpu_bn_update_running,
    .bn_invstd = cpu_bn_invstd,
    .bn_forward = cpu_bn_forward,
    .bn_backward = cpu_bn_backward,
    .max_pool2 = cpu_max_pool2,
    .max_pool2_backward = cpu_max_pool2_backward,
    .max_unpool2 = cpu_max_unpool2,
    .max_unpool2_backward = cpu_max_unpool2_backward,
    .resize_bilinear = cpu_resize_bilinear,
    .resize_bilinear_backward = cpu_resize_bilinear_backward,
    .resize_nearest = cpu_resize_nearest,
    .resize_nearest_backward = cpu_resize_nearest_backward,
    .crop = cpu_crop,
    .crop_backward = cpu_crop_backward,
    .log_softmax = cpu_log_softmax,
    .log_softmax_backward = cpu_log_softmax_backward,
    .l2_normalize = cpu_l2_normalize,
    .l2_normalize_backward = cpu_l2_normalize_backward,
    .nll = cpu_nll,
    .nll_backward = cpu_nll_backward,
    .masked_sum = cpu_masked_sum,
    .masked_sum_backward = cpu_masked_sum_backward,
};
