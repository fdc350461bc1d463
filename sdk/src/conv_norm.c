/*
 * Normalisation over channels (mtl/conv.h): batch normalisation (Ioffe &
 * Szegedy 2015, Algorithm 1, with PyTorch's running statistics), optionally
 * followed by a fused ReLU or sigmoid, and the per-pixel L2 normalisation of
 * the MTAN surface-normal head.
 *
 * The fused activation keeps only the batch norm's input and the final
 * output: the backward pass forms the gradient at the normalised values from
 * the output (ReLU: where y > 0; sigmoid: y (1 - y)), tile by tile, so a
 * SegNet block (conv, batch norm, ReLU) keeps two images instead of three
 * and needs one gradient accumulator less.
 */
#include <stdio.h>

#include "conv_internal.h"

/* ---- batch normalisation ------------------------------------------------- */

enum { BN_X = 0, BN_WEIGHT, BN_BIAS, BN_STATS, BN_N_IN };

/* Rows of the statistics tensor [3, c] kept for the backward pass. */
enum { STAT_MEAN = 0, STAT_INVSTD = 1, STAT_VAR = 2 };

static void bn_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[BN_X], *w = node->in[BN_WEIGHT], *b = node->in[BN_BIAS];
    const mtl_tensor *stats = node->in[BN_STATS];
    int64_t c = x->shape[1];
    float *dx = conv_grad(g, x), *dw = conv_grad(g, w), *db = conv_grad(g, b);

    if (!dx && !dw && !db)
        return;
    conv_kernels(g)->bn_backward(x->shape[0], c, conv_pixels(x), x->data, node->out->data,
                                 stats->data + STAT_MEAN * c, stats->data + STAT_INVSTD * c,
                                 w ? w->data : NULL, dy, (int)node->index, node->op, dx, dw, db);
}

static int bn_writable(mtl_graph *g, const char *what, const mtl_tensor *t)
{
    if (t->kind != MTL_TENSOR_RESULT)
        return 1;
    mtl_graph_fail(g, MTL_ERR_INVALID,
                   "conv: mtl_batch_norm2d: %s is the result of an op (expected a model buffer "
                   "or a graph input, which the running update writes)",
                   what);
    return 0;
}

static int bn_check(mtl_graph *g, const mtl_tensor *x, const mtl_tensor *w, const mtl_tensor *b,
                    const mtl_tensor *rm, const mtl_tensor *rv, int training, float momentum,
                    float eps)
{
    static const char op[] = "mtl_batch_norm2d";
    int64_t c;

    if (!conv_check_image(g, op, "input", x, 1))
        return 0;
    c = x->shape[1];
    if ((w && !conv_check_vector(g, op, "weight", w, c)) ||
        (b && !conv_check_vector(g, op, "bias", b, c)) ||
        (rm && !conv_check_vector(g, op, "running_mean", rm, c)) ||
        (rv && !conv_check_vector(g, op, "running_var", rv, c)))
        return 0;
    if (!rm != !rv || (!training && !rm)) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: running statistics missing (expected both running_mean and "
                       "running_var%s)",
                       op, training ? ", or neither" : " in evaluation");
        return 0;
    }
    if (training && rm &&
        (!bn_writable(g, "running_mean", rm) || !bn_writable(g, "running_var", rv)))
        return 0;
    if (!(eps > 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f)) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: bad eps or momentum (expected eps > 0 and momentum in [0, 1], "
                       "got %g and %g)",
                       op, (double)eps, (double)momentum);
        return 0;
    }
    if (training && x->shape[0] * conv_pixels(x) < 2) {
        char got[128];
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: one value per channel in training (expected more than 1, got "
                       "input %s)",
                       op, mtl_shape_format(x, got, sizeof got));
        return 0;
    }
    return 1;
}

/* The per-channel mean and 1 / std used by this call, into stats [3, c]. */
static void bn_statistics(mtl_graph *g, const mtl_tensor *x, mtl_tensor *rm, mtl_tensor *rv,
                          int training, float momentum, float eps, float *stats)
{
    const mtl_conv_backend *k = conv_kernels(g);
    int64_t n = x->shape[0], c = x->shape[1], hw = conv_pixels(x);
    float *mean = stats + STAT_MEAN * c, *invstd = stats + STAT_INVSTD * c;
    float *var = stats + STAT_VAR * c;

    if (training) {
        k->bn_stats(n, c, hw, x->data, mean, var);
        if (rm)
            k->bn_update_running(c, mean, var, n * hw, momentum, rm->data, rv->data);
    } else {
        g->be->copy(c, rm->data, mean);
        g->be->copy(c, rv->data, var);
    }
    k->bn_invstd(c, var, eps, invstd);
}

mtl_tensor *mtl_batch_norm2d(mtl_graph *g, mtl_tensor *x, mtl_tensor *weight, mtl_tensor *bias,
                             mtl_tensor *running_mean, mtl_tensor *running_var, int training,
                             float momentum, float eps)
{
    return mtl_batch_norm2d_act(g, x, weight, bias, running_mean, running_var, training, momentum,
                                eps, MTL_ACT_NONE);
}

mtl_tensor *mtl_batch_norm2d_act(mtl_graph *g, mtl_tensor *x, mtl_tensor *weight, mtl_tensor *bias,
                                 mtl_tensor *running_mean, mtl_tensor *running_var, int training,
                                 float momentum, float eps, mtl_activation act)
{
    mtl_tensor *ops[BN_N_IN] = {x, weight, bias, NULL};
    mtl_tensor *y, *stats;
    mtl_node *node;
    int64_t c;

    if (!conv_operands_ok(g, "mtl_batch_norm2d", 1, ops) ||
        !bn_check(g, x, weight, bias, running_mean, running_var, training, momentum, eps))
        return NULL;
    if (act != MTL_ACT_NONE && act != MTL_ACT_RELU && act != MTL_ACT_SIGMOID)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: mtl_batch_norm2d_act: unknown activation (expected 0, 1 or "
                              "2, got %d)",
                              (int)act);
    c = x->shape[1];
    y = conv_result(g, x->ndim, x->shape);
    stats = conv_result(g, 2, (int64_t[]){3, c});
    if (!y || !stats)
        return NULL;

    bn_statistics(g, x, running_mean, running_var, training, momentum, eps, stats->data);
    conv_kernels(g)->bn_forward(x->shape[0], c, conv_pixels(x), x->data, stats->data,
                                stats->data + STAT_INVSTD * c, weight ? weight->data : NULL,
                                bias ? bias->data : NULL, (int)act, y->data);

    if (conv_needs_grad(g, 3, ops)) {
        node = mtl_graph_record(g, bn_backward, y, BN_N_IN);
        if (!node)
            return NULL;
        node->in[BN_X] = x;
        node->in[BN_WEIGHT] = weight;
        node->in[BN_BIAS] = bias;
        node->in[BN_STATS] = stats;
        node->op = training != 0;
        node->index = act;
    }
    return y;
}

/* ---- L2 normalisation over channels -------------------------------------- */

static void l2_normalize_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx = conv_grad(g, x), *work;
    int64_t hw = conv_pixels(x);
    mtl_arena_mark mark;

    if (!dx)
        return;
    mark = mtl_arena_get_mark(&g->data);
    work = conv_scratch(g, 2 * hw);
    if (!work) {
        g->backward_nomem = 1;
        return;
    }
    conv_kernels(g)->l2_normalize_backward(x->shape[0], x->shape[1], hw, x->data, node->out->data,
                                           dy, work, dx);
    mtl_arena_release(&g->data, mark);
}

mtl_tensor *mtl_l2_normalize(mtl_graph *g, mtl_tensor *x)
{
    mtl_tensor *y;
    mtl_node *node;
    mtl_arena_mark mark;
    float *work;
    int64_t hw;

    if (!conv_operands_ok(g, "mtl_l2_normalize", 1, &x) ||
        !conv_check_image(g, "mtl_l2_normalize", "input", x, 1))
        return NULL;
    hw = conv_pixels(x);
    y = conv_result(g, x->ndim, x->shape);
    if (!y)
        return NULL;
    mark = mtl_arena_get_mark(&g->data);
    work = conv_scratch(g, hw);
    if (!work)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: mtl_l2_normalize: out of memory");
    conv_kernels(g)->l2_normalize(x->shape[0], x->shape[1], hw, x->data, work, y->data);
    mtl_arena_release(&g->data, mark);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, l2_normalize_backward, y, 1);
        if (!node)
            return NULL;
        node->in[0] = x;
    }
    return y;
}
