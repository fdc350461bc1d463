/*
 * conv_backend.h - the kernels of the convolutional ops (mtl/conv.h) that a
 * backend provides, reached through the `conv` entry of its mtl_backend
 * table.
 *
 * Internal to libmtl.  Same conventions as backend.h: backend memory,
 * float32 counts, and "_backward" entries that ACCUMULATE into gradients
 * (dx += ...), skipping any gradient pointer that is NULL.  Images are NCHW;
 * a "plane" is the h x w image of one channel of one sample, and kernels
 * that treat every plane alike take the number of planes (n c).  Pooling
 * indices are int32 values in backend memory: the flat position y * w + x
 * of a maximum within its input plane.
 */
#ifndef MTL_CONV_BACKEND_H
#define MTL_CONV_BACKEND_H

#include <stdint.h>

/* Internal symbols stay out of libmtl's exported ABI. */
#pragma GCC visibility push(hidden)

/* Activations fused into batch norm (the values of mtl_activation, conv.h). */
enum { MTL_CONV_ACT_NONE = 0, MTL_CONV_ACT_RELU = 1, MTL_CONV_ACT_SIGMOID = 2 };

/* The geometry of a convolution of one sample. */
typedef struct mtl_conv_geom {
    int64_t c, h, w;     /* input channels and size */
    int64_t kh, kw;      /* kernel size */
    int64_t stride, pad; /* the same in both directions */
    int64_t oh, ow;      /* output size */
} mtl_conv_geom;

typedef struct mtl_conv_backend {
    /*
     * The im2col matrix of one sample x [c, h, w], columns j0 .. j0 + n - 1
     * only (output positions oy * ow + ox): col[r, j - j0], row
     * r = (ci kh + ki) kw + kj, holds x[ci, oy s - p + ki, ox s - p + kj]
     * or 0 outside the image; col is row-major with ld floats from one row
     * to the next (ld >= n).
     */
    void (*im2col)(const mtl_conv_geom *geo, const float *x, int64_t j0, int64_t n, float *col,
                   int64_t ld);
    /* The adjoint of im2col: dx += the columns j0 .. j0 + n - 1 folded back. */
    void (*col2im)(const mtl_conv_geom *geo, const float *col, int64_t ld, int64_t j0, int64_t n,
                   float *dx);
    /*
     * dst = src (or dst += src with accumulate) for a rows x cols block with
     * leading dims
     */
    void (*copy_block)(int64_t rows, int64_t cols, const float *src, int64_t ld_src, float *dst,
                       int64_t ld_dst, int accumulate);
    /* y[r, j] += b[r] for a rows x cols block with leading dimension ld */
    void (*add_row_bias)(int64_t rows, int64_t cols, const float *b, float *y, int64_t ld);

    /* y[i, k, :] = x[i, k, :] + b[k] (x == y allowed); hw values per plane */
    void (*add_channel_bias)(int64_t n, int64_t c, int64_t hw, const float *x, const float *b,
                             float *y);
    /* db[k] += sum over samples and pixels of dy[i, k, :] */
    void (*channel_sum)(int64_t n, int64_t c, int64_t hw, const float *dy, float *db);

    /* ---- batch normalisation ------------------------------------------ */
    /*
     * Per channel: mean and biased variance over n hw values (double
     * accumulation).
     */
    void (*bn_stats)(int64_t n, int64_t c, int64_t hw, const float *x, float *mean, float *var);
    /*
     * running = (1 - momentum) running + momentum stat, with the variance
     * made unbiased (times count / (count - 1)) first.
     */
    void (*bn_update_running)(int64_t c, const float *mean, const float *var, int64_t count,
                              float momentum, float *running_mean, float *running_var);
    /* invstd[k] = 1 / sqrt(var[k] + eps) */
    void (*bn_invstd)(int64_t c, const float *var, float eps, float *invstd);
    /*
     * y = act((x - mean) invstd weight + bias) per channel; weight, bias
     * NULL: 1, 0; act an MTL_CONV_ACT_ value
     */
    void (*bn_forward)(int64_t n, int64_t c, int64_t hw, const float *x, const float *mean,
                       const float *invstd, const float *weight, const float *bias, int act,
                       float *y);
    /*
     * Gradients of bn_forward, from its input x and output y.  With batch
     * statistics (`training`), dx also flows through the mean and the
     * variance; with g = dy act'(y): dweight += sum g xhat, dbias += sum g.
     */
    void (*bn_backward)(int64_t n, int64_t c, int64_t hw, const float *x, const float *y,
                        const float *mean, const float *invstd, const float *weight,
                        const float *dy, int act, int training, float *dx, float *dweight,
                        float *dbias);

    /* ---- pooling, resizing ------------------------------------------- */
    /* 2 x 2, stride 2 max pooling of `planes` planes h x w into h/2 x w/2 */
    void (*max_pool2)(int64_t planes, int64_t h, int64_t w, const float *x, float *y, int32_t *idx);
    /* dx[plane, idx] += dy (pooled size oh x ow, input plane size hw) */
    void (*max_pool2_backward)(int64_t planes, int64_t oh, int64_t ow, int64_t hw,
                               const int32_t *idx, const float *dy, float *dx);
    /* y = 0; y[plane, idx] = x */
    void (*max_unpool2)(int64_t planes, int64_t oh, int64_t ow, int64_t hw, const int32_t *idx,
                        const float *x, float *y);
    /* dx += dy[plane, idx] */
    void (*max_unpool2_backward)(int64_t planes, int64_t oh, int64_t ow, int64_t hw,
                                 const int32_t *idx, const float *dy, float *dx);

    /* Bilinear, align_corners=True: planes ih x iw -> oh x ow. */
    void (*resize_bilinear)(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                            const float *x, float *y);
    void (*resize_bilinear_backward)(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                     const float *dy, float *dx);
    /* PyTorch's "nearest": planes ih x iw -> oh x ow. */
    void (*resize_nearest)(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                           const float *x, float *y);
    void (*resize_nearest_backward)(int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                    const float *dy, float *dx);
    /*
     * y = the window [top, top + oh) x [left, left + ow) of each plane ih x iw
     */
    void (*crop)(int64_t planes, int64_t ih, int64_t iw, int64_t top, int64_t left, int64_t oh,
                 int64_t ow, const float *x, float *y);
    void (*crop_backward)(int64_t planes, int64_t ih, int64_t iw, int64_t top, int64_t left,
                          int64_t oh, int64_t ow, const float *dy, float *dx);

    /* ---- per-pixel functions of the channels ---------------------------- */
    /*
     * log_softmax over c for each of n samples of hw pixels; work holds 2 hw
     * floats
     */
    void (*log_softmax)(int64_t n, int64_t c, int64_t hw, const float *x, float *work, float *y);
    /* dx += dy - exp(y) sum_c dy; work holds hw floats */
    void (*log_softmax_backward)(int64_t n, int64_t c, int64_t hw, const float *y, const float *dy,
                                 float *work, float *dx);
    /* x / ||x|| over c; work holds hw floats (the inverse norms) */
    void (*l2_normalize)(int64_t n, int64_t c, int64_t hw, const float *x, float *work, float *y);
    /* dx += (dy - y <y, dy>) / ||x||; work holds 2 hw floats */
    void (*l2_normalize_backward)(int64_t n, int64_t c, int64_t hw, const float *x, const float *y,
                                  const float *dy, float *work, float *dx);

    /* ---- losses --------------------------------------------------------- */
    /*
     * The sum over counted pixels of -logp[target] and the count of those
     * pixels (exact below 2^24), into result[0] and result[1].  Returns -1,
     * or the flat position of the first target that is neither an integer
     * in [0, c) nor `ignore` (result is then undefined).
     */
    int64_t (*nll)(int64_t n, int64_t c, int64_t hw, const float *logp, const float *target,
                   int ignore, float *result);
    /* dlogp[target] -= dy[0] scale at each counted pixel */
    void (*nll_backward)(int64_t n, int64_t c, int64_t hw, const float *target, int ignore,
                         const float *dy, float scale, float *dlogp);
    /*
     * The masked sums of the NYUv2 losses: a pixel counts when the sum of
     * target over its c channels is not 0.  mode 0: sum |p - t| (L1), mode 1:
     * sum p t (cosine).  result[0] = the sum, result[1] = the number of
     * counted pixels (exact below 2^24).
     */
    void (*masked_sum)(int mode, int64_t n, int64_t c, int64_t hw, const float *p, const float *t,
                       float *result);
    /* dp += dy[0] scale d(sum)/dp at counted pixels (mode as above) */
    void (*masked_sum_backward)(int mode, int64_t n, int64_t c, int64_t hw, const float *p,
                                const float *t, const float *dy, float scale, float *dp);
} mtl_conv_backend;

/* The CPU kernels (sdk/src/cpu/conv_kernels.c). */
extern const mtl_conv_backend mtl_cpu_conv_backend;

#pragma GCC visibility pop

#endif /* MTL_CONV_BACKEND_H */
