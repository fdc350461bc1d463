/*
 * mtl/conv.h - convolutional layers for dense prediction (the NYUv2
 * SegNet-MTAN model) and image classification (Multi-Fashion), and the ops
 * they are made of.
 *
 * Images are NCHW float32 tensors [n, c, h, w], row-major: element
 * ((i * c + k) * h + y) * w + x is sample i, channel k, row y, column x.
 * "Channels" is dimension 1; the channel ops also take [n, c] (a 1 x 1
 * image per sample) where the description says so.
 *
 * Ops follow tensor.h: the graph comes first, the result lives in the
 * graph's arena, errors are sticky (the first bad argument records a
 * message "conv: OP: what (expected X, got Y)" in the graph and the op
 * returns NULL; a NULL operand records "conv: OP: operand N is NULL"
 * (mtl_conv2d_1x1_concat: "item I is NULL", "weight is NULL") unless an
 * error is already recorded, as in tensor.h).  Each op
 * computes what the PyTorch function named beside it computes (1.13), with
 * the same gradients; differences are stated where they exist.
 *
 * Scratch memory (im2col columns, per-channel statistics) comes from the
 * graph's arena and is returned to it before the op returns, so a training
 * loop holds a constant amount of memory after its first step.
 *
 * Layers that own parameters are small structs the caller allocates, as in
 * nn.h: *_init() creates their parameters (and buffers) in a model, named
 * "<name>.<parameter>" with PyTorch's names and layouts, with one role,
 * task and flags for all of them; the model owns them.
 */
#ifndef MTL_CONV_H
#define MTL_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/rng.h"
#include "mtl/status.h"
#include "mtl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- convolution ------------------------------------------------------- */

/*
 * torch.nn.functional.conv2d(x, w, b, stride, padding): x [n, c, h, w],
 * w [out, c, kh, kw], b [out] or NULL; the same stride and zero padding in
 * both directions (stride >= 1, 0 <= padding).  Result [n, out, oh, ow] with
 * oh = (h + 2 padding - kh) / stride + 1 (rounded down), likewise ow; both
 * must be at least 1.
 *
 * Computed as im2col and one matrix product per sample (OpenBLAS on the
 * CPU), in column blocks that stay in cache; a 1 x 1 kernel with stride 1
 * and no padding needs no im2col.
 */
mtl_tensor *mtl_conv2d(mtl_graph *g, mtl_tensor *x, mtl_tensor *w,
                       mtl_tensor *b, int stride, int padding);

/*
 * mtl_conv2d(mtl_concat_channels(g, n, xs), w, b, 1, 0) for a 1 x 1 kernel,
 * w [out, sum c_i, 1, 1], without making the concatenated image: the items
 * [n, c_i, h, w] (equal but for the channels) are read in place, and only
 * the result is stored.  The same values and gradients.
 */
mtl_tensor *mtl_conv2d_1x1_concat(mtl_graph *g, int n, mtl_tensor *const *xs,
                                  mtl_tensor *w, mtl_tensor *b);

/* ---- normalisation ----------------------------------------------------- */

/*
 * torch.nn.functional.batch_norm over the channels of x [n, c, h, w] or
 * [n, c], with weight and bias [c] (either may be NULL: scale 1, shift 0)
 * and running statistics running_mean, running_var [c]:
 *
 *   training: normalises with the batch mean and the biased batch variance
 *     over n h w values per channel, and updates the running statistics in
 *     place, during this call, with the unbiased variance:
 *       running = (1 - momentum) running + momentum batch statistic.
 *     The running tensors may be NULL (track_running_stats=False).  Needs
 *     more than one value per channel.
 *   evaluation: normalises with the running statistics (both required).
 *
 * y = (x - mean) / sqrt(var + eps) * weight + bias.  The running tensors
 * must be writable (model buffers or graph inputs); they get no gradient.
 */
mtl_tensor *mtl_batch_norm2d(mtl_graph *g, mtl_tensor *x, mtl_tensor *weight,
                             mtl_tensor *bias, mtl_tensor *running_mean,
                             mtl_tensor *running_var, int training,
                             float momentum, float eps);

/* Activations that mtl_batch_norm2d_act() applies to its result. */
typedef enum mtl_activation {
    MTL_ACT_NONE = 0,
    MTL_ACT_RELU = 1,   /* as mtl_relu(): gradient where the output > 0 */
    MTL_ACT_SIGMOID = 2 /* as mtl_sigmoid() */
} mtl_activation;

/*
 * act(mtl_batch_norm2d(...)) as one op: the same values and gradients as
 * mtl_relu() or mtl_sigmoid() applied to the batch norm's result, without
 * keeping that intermediate image (a SegNet block of conv, batch norm and
 * ReLU keeps two images instead of three, and its backward pass needs one
 * gradient accumulator less).
 */
mtl_tensor *mtl_batch_norm2d_act(mtl_graph *g, mtl_tensor *x,
                                 mtl_tensor *weight, mtl_tensor *bias,
                                 mtl_tensor *running_mean,
                                 mtl_tensor *running_var, int training,
                                 float momentum, float eps, mtl_activation act);

/*
 * x / ||x|| per pixel, the norm taken over the channels of x [n, c, h, w]
 * or [n, c] (x / torch.norm(x, p=2, dim=1, keepdim=True), as the MTAN code
 * normalises its surface normals: no epsilon, so a zero vector gives NaN).
 */
mtl_tensor *mtl_l2_normalize(mtl_graph *g, mtl_tensor *x);

/* ---- pooling and resizing ---------------------------------------------- */

/*
 * The positions of the maxima of one mtl_max_pool2d() call, to unpool with
 * (torch's return_indices=True).  Lives in the graph's arena until
 * mtl_graph_reset(), like a tensor.
 */
typedef struct mtl_pool_indices mtl_pool_indices;

/*
 * torch.nn.functional.max_pool2d(x, kernel_size=2, stride=2): x [n, c, h, w]
 * with h, w >= 2 -> [n, c, h / 2, w / 2] (rounded down: an odd last row or
 * column is dropped).  The first maximum in row-major order wins ties; NaN
 * counts as a maximum.  When `indices` is not NULL it receives the indices
 * (NULL on failure).
 */
mtl_tensor *mtl_max_pool2d(mtl_graph *g, mtl_tensor *x,
                           mtl_pool_indices **indices);

/*
 * torch.nn.functional.max_unpool2d(x, indices, 2, 2, output_size=[h, w]):
 * x has the pooled shape [n, c, h / 2, w / 2] of the call that made the
 * indices; the result [n, c, h, w] (the size of that call's input) is zero
 * except at the recorded positions, which receive x.
 */
mtl_tensor *mtl_max_unpool2d(mtl_graph *g, mtl_tensor *x,
                             const mtl_pool_indices *indices);

/*
 * Copies the indices into dst as PyTorch stores them: for each pooled
 * element (in [n, c, h / 2, w / 2] order) the flat position y * w + x of
 * its maximum within its input plane.  n must be the pooled element count.
 */
mtl_status mtl_pool_indices_read(const mtl_pool_indices *ix, int64_t *dst,
                                 size_t n);

/*
 * torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear",
 * align_corners=True): x [n, c, ih, iw] -> [n, c, h, w], h, w >= 1.
 * Upsampling by scale_factor=2 with align_corners=True is the same as
 * size=(2 ih, 2 iw).
 */
mtl_tensor *mtl_resize_bilinear(mtl_graph *g, mtl_tensor *x, int64_t h,
                                int64_t w);

/*
 * torch.nn.functional.interpolate(x, size=(h, w), mode="nearest"): output
 * row y reads input row min(floor(y * (ih / h)), ih - 1), the ratio in
 * float32 as PyTorch computes it (likewise for columns).  The gradient
 * adds each output's gradient to the input element it read.
 */
mtl_tensor *mtl_resize_nearest(mtl_graph *g, mtl_tensor *x, int64_t h,
                               int64_t w);

/*
 * x[:, :, top:top + h, left:left + w] (a copy): the window must lie inside
 * x [n, c, ih, iw].
 */
mtl_tensor *mtl_crop2d(mtl_graph *g, mtl_tensor *x, int64_t top, int64_t left,
                       int64_t h, int64_t w);

/* ---- channels ---------------------------------------------------------- */

/*
 * torch.cat(items, dim=1): n >= 1 tensors [n, c_i, h, w] (or [n, c_i]),
 * equal but for the channel count -> [n, sum c_i, h, w].
 */
mtl_tensor *mtl_concat_channels(mtl_graph *g, int n, mtl_tensor *const *items);

/* x + b[c] at every pixel of channel c: x [n, c, h, w] or [n, c], b [c]. */
mtl_tensor *mtl_add_channel_bias(mtl_graph *g, mtl_tensor *x, mtl_tensor *b);

/* ---- losses ------------------------------------------------------------ */

/*
 * torch.nn.functional.log_softmax(x, dim=1) over the channels of
 * x [n, c, h, w] or [n, c] (the classes of a batch of logits).
 */
mtl_tensor *mtl_log_softmax(mtl_graph *g, mtl_tensor *x);

/*
 * torch.nn.functional.nll_loss(logp, target, ignore_index=ignore_index),
 * reduction mean: logp [n, c, h, w] or [n, c] (log-probabilities), target
 * [n, h, w] or [n] holding class numbers as float values: each is an
 * integer in [0, c) or ignore_index (-1 for NYUv2's unlabelled pixels).
 * The loss is minus the mean over the counted pixels of logp at the target
 * class; with no counted pixel it is NaN, as in PyTorch (and its gradient
 * zero).  The target gets no gradient.
 */
mtl_tensor *mtl_nll_loss(mtl_graph *g, mtl_tensor *logp, mtl_tensor *target,
                         int ignore_index);

/*
 * The NYUv2 depth loss of the MTAN / Nash-MTL code: pred, target
 * [n, c, h, w]; a pixel counts when the sum of target over its channels is
 * not zero; the loss is sum over counted pixels and channels of
 * |pred - target|, divided by the number of counted pixels (for c = 1, the
 * mean absolute error over pixels with a depth).  NaN when no pixel counts.
 * The gradient of |u| at u = 0 is 0.  The target gets no gradient.
 */
mtl_tensor *mtl_masked_l1_loss(mtl_graph *g, mtl_tensor *pred,
                               mtl_tensor *target);

/*
 * The NYUv2 surface-normal loss of the same code: 1 - (sum over counted
 * pixels of <pred, target> over channels) / (number of counted pixels),
 * with the same mask as mtl_masked_l1_loss (sum of target over channels not
 * zero).  pred should be unit vectors (mtl_l2_normalize); NaN when no pixel
 * counts.  The target gets no gradient.
 */
mtl_tensor *mtl_masked_cosine_loss(mtl_graph *g, mtl_tensor *pred,
                                   mtl_tensor *target);

/* ---- layers ------------------------------------------------------------ */

/* How a convolution's parameters are drawn. */
typedef enum mtl_conv_init {
    /*
     * torch.nn.Conv2d.reset_parameters: weight and bias uniform in
     * +-1/sqrt(fan_in), fan_in = in kh kw.
     */
    MTL_CONV_INIT_DEFAULT = 0,
    /*
     * The MTAN models: torch.nn.init.xavier_normal_ on the weight (normal,
     * std sqrt(2 / (fan_in + fan_out)), fan_out = out kh kw) and zero bias.
     */
    MTL_CONV_INIT_XAVIER_NORMAL = 1
} mtl_conv_init;

/*
 * torch.nn.Conv2d(in, out, kernel, stride, padding) with bias:
 * "<name>.weight" [out, in, kernel, kernel], "<name>.bias" [out].
 */
typedef struct mtl_conv2d_layer {
    mtl_tensor *weight, *bias;
    int in, out, kernel, stride, padding;
} mtl_conv2d_layer;

mtl_status mtl_conv2d_layer_init(mtl_conv2d_layer *l, mtl_model *m,
                                 const char *name, mtl_role role, int task,
                                 unsigned flags, int in, int out, int kernel,
                                 int stride, int padding, mtl_conv_init init,
                                 mtl_rng *rng);
/* Draws the parameters again (a new trial). */
mtl_status mtl_conv2d_layer_reset(mtl_conv2d_layer *l, mtl_conv_init init,
                                  mtl_rng *rng);
mtl_tensor *mtl_conv2d_layer_forward(mtl_graph *g, const mtl_conv2d_layer *l,
                                     mtl_tensor *x);
/*
 * The layer applied to the channel concatenation of n items, which it does
 * not make: a layer of kernel 1, stride 1 and no padding only
 * (mtl_conv2d_1x1_concat).
 */
mtl_tensor *mtl_conv2d_layer_forward_concat(mtl_graph *g,
                                            const mtl_conv2d_layer *l, int n,
                                            mtl_tensor *const *xs);

/*
 * torch.nn.BatchNorm2d(channels) (affine, tracking running statistics):
 * parameters "<name>.weight" (ones) and "<name>.bias" (zeros) [channels],
 * buffers "<name>.running_mean" (zeros) and "<name>.running_var" (ones).
 * momentum 0.1 and eps 1e-5 as PyTorch's defaults; the caller may change
 * the fields after init.  PyTorch's num_batches_tracked is not kept (it
 * only matters when momentum is None).
 */
typedef struct mtl_batch_norm2d_layer {
    mtl_tensor *weight, *bias, *running_mean, *running_var;
    int channels;
    float momentum, eps;
} mtl_batch_norm2d_layer;

mtl_status mtl_batch_norm2d_layer_init(mtl_batch_norm2d_layer *l, mtl_model *m,
                                       const char *name, mtl_role role,
                                       int task, unsigned flags, int channels);
/* Scale 1, shift 0, running mean 0, running variance 1 again. */
mtl_status mtl_batch_norm2d_layer_reset(mtl_batch_norm2d_layer *l);
/* Batch statistics (and a running update) when training, running ones else. */
mtl_tensor *mtl_batch_norm2d_layer_forward(mtl_graph *g,
                                           const mtl_batch_norm2d_layer *l,
                                           mtl_tensor *x, int training);
/* The same, followed by a fused activation (mtl_batch_norm2d_act). */
mtl_tensor *mtl_batch_norm2d_layer_forward_act(mtl_graph *g,
                                               const mtl_batch_norm2d_layer *l,
                                               mtl_tensor *x, int training,
                                               mtl_activation act);

#ifdef __cplusplus
}
#endif

#endif /* MTL_CONV_H */
