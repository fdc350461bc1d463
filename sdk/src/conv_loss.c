/*
 * Per-pixel losses over channels (mtl/conv.h): log-softmax with the NLL
 * loss of semantic segmentation (and classification), and the masked depth
 * and surface-normal losses of the NYUv2 experiment as the MTAN / Nash-MTL
 * code computes them (utils.py, compute_loss).
 */
#include <math.h>
#include <stdio.h>

#include "conv_internal.h"

/* ---- log-softmax over channels ------------------------------------------- */

static void log_softmax_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx = conv_grad(g, x), *work;
    int64_t hw = conv_pixels(x);
    mtl_arena_mark mark;

    if (!dx)
        return;
    mark = mtl_arena_get_mark(&g->data);
    work = conv_scratch(g, hw);
    if (!work) {
        g->backward_nomem = 1;
        return;
    }
    conv_kernels(g)->log_softmax_backward(x->shape[0], x->shape[1], hw, node->out->data, dy, work,
                                          dx);
    mtl_arena_release(&g->data, mark);
}

mtl_tensor *mtl_log_softmax(mtl_graph *g, mtl_tensor *x)
{
    static const char op[] = "mtl_log_softmax";
    mtl_tensor *y;
    mtl_node *node;
    mtl_arena_mark mark;
    float *work;
    int64_t hw;

    if (!conv_operands_ok(g, op, 1, &x) || !conv_check_image(g, op, "input", x, 1))
        return NULL;
    hw = conv_pixels(x);
    y = conv_result(g, x->ndim, x->shape);
    if (!y)
        return NULL;
    mark = mtl_arena_get_mark(&g->data);
    work = conv_scratch(g, 2 * hw);
    if (!work)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: %s: out of memory", op);
    conv_kernels(g)->log_softmax(x->shape[0], x->shape[1], hw, x->data, work, y->data);
    mtl_arena_release(&g->data, mark);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, log_softmax_backward, y, 1);
        if (!node)
            return NULL;
        node->in[0] = x;
    }
    return y;
}

/* ---- shared by the reductions to one loss value -------------------------- */

/*
 * The (sum, count) pair a loss kernel wrote into backend memory, on the
 * host.  A count is exact below 2^24 pixels (a float), far above a batch.
 */
static void read_pair(mtl_graph *g, const float *result, float *pair)
{
    g->be->to_host(pair, result, 2);
}

/* The loss value into y (NaN when nothing counted, as PyTorch's 0 / 0). */
static void write_loss(mtl_graph *g, mtl_tensor *y, float value)
{
    g->be->from_host(y->data, &value, 1);
}

/* ---- NLL with an ignored label ------------------------------------------- */

static void nll_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *logp = node->in[0], *target = node->in[1];
    float *dl = conv_grad(g, logp);

    /* No counted pixel: PyTorch's gradient is zero there too. */
    if (dl && node->index > 0)
        conv_kernels(g)->nll_backward(logp->shape[0], logp->shape[1], conv_pixels(logp),
                                      target->data, (int)node->p0, dy, 1.0f / (float)node->index,
                                      dl);
}

static int nll_check(mtl_graph *g, const mtl_tensor *logp, const mtl_tensor *target)
{
    static const char op[] = "mtl_nll_loss";
    int same;

    if (!conv_check_image(g, op, "input", logp, 1))
        return 0;
    same = target->ndim == logp->ndim - 1 && target->shape[0] == logp->shape[0];
    for (int d = 1; same && d < target->ndim; d++)
        same = target->shape[d] == logp->shape[d + 1];
    if (!same) {
        char want[128], got[128];
        mtl_shape_format(logp, want, sizeof want);
        mtl_shape_format(target, got, sizeof got);
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: target shape mismatch (expected the input's shape %s without "
                       "dimension 1, got %s)",
                       op, want, got);
        return 0;
    }
    return 1;
}

mtl_tensor *mtl_nll_loss(mtl_graph *g, mtl_tensor *logp, mtl_tensor *target, int ignore_index)
{
    static const char op[] = "mtl_nll_loss";
    mtl_tensor *ops[2] = {logp, target};
    mtl_tensor *y;
    mtl_node *node;
    float *result, pair[2];
    int64_t bad;

    if (!conv_operands_ok(g, op, 2, ops) || !nll_check(g, logp, target))
        return NULL;
    y = conv_scalar_result(g);
    result = conv_scratch(g, 2);
    if (!y || !result)
        return y ? mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: %s: out of memory", op) : NULL;
    bad = conv_kernels(g)->nll(logp->shape[0], logp->shape[1], conv_pixels(logp), logp->data,
                               target->data, ignore_index, result);
    if (bad >= 0) {
        float v;
        g->be->to_host(&v, target->data + bad, 1);
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: target %lld is not a class (expected an integer in [0, "
                              "%lld) or %d, got %g)",
                              op, (long long)bad, (long long)logp->shape[1], ignore_index,
                              (double)v);
    }
    read_pair(g, result, pair);
    write_loss(g, y, pair[1] > 0.0f ? pair[0] / pair[1] : NAN);

    if (conv_needs_grad(g, 1, ops)) {
        node = mtl_graph_record(g, nll_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = logp;
        node->in[1] = target;
        node->index = (int64_t)pair[1];
        node->p0 = (float)ignore_index;
    }
    return y;
}

/* ---- masked L1 and cosine losses ----------------------------------------- */

typedef enum masked_mode { MASKED_L1 = 0, MASKED_COSINE = 1 } masked_mode;

static void masked_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *p = node->in[0], *t = node->in[1];
    float *dp = conv_grad(g, p);
    /* d loss / d sum: 1 / count for L1, -1 / count for 1 - sum / count */
    float scale = (node->op == MASKED_L1 ? 1.0f : -1.0f) / (float)node->index;

    if (dp && node->index > 0)
        conv_kernels(g)->masked_sum_backward(node->op, p->shape[0], p->shape[1], conv_pixels(p),
                                             p->data, t->data, dy, scale, dp);
}

static mtl_tensor *masked_loss(mtl_graph *g, const char *op, masked_mode mode, mtl_tensor *pred,
                               mtl_tensor *target)
{
    mtl_tensor *ops[2] = {pred, target};
    mtl_tensor *y;
    mtl_node *node;
    float *result, pair[2], loss;

    if (!conv_operands_ok(g, op, 2, ops) || !conv_check_image(g, op, "prediction", pred, 0) ||
        !conv_check_same(g, op, "target", pred, target))
        return NULL;
    y = conv_scalar_result(g);
    result = conv_scratch(g, 2);
    if (!y || !result)
        return y ? mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: %s: out of memory", op) : NULL;
    conv_kernels(g)->masked_sum(mode, pred->shape[0], pred->shape[1], conv_pixels(pred), pred->data,
                                target->data, result);
    read_pair(g, result, pair);
    if (!(pair[1] > 0.0f))
        loss = NAN;
    else
        loss = mode == MASKED_L1 ? pair[0] / pair[1] : 1.0f - pair[0] / pair[1];
    write_loss(g, y, loss);

    if (conv_needs_grad(g, 1, ops)) {
        node = mtl_graph_record(g, masked_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = pred;
        node->in[1] = target;
        node->index = (int64_t)pair[1];
        node->op = mode;
    }
    return y;
}

mtl_tensor *mtl_masked_l1_loss(mtl_graph *g, mtl_tensor *pred, mtl_tensor *target)
{
    return masked_loss(g, "mtl_masked_l1_loss", MASKED_L1, pred, target);
}

mtl_tensor *mtl_masked_cosine_loss(mtl_graph *g, mtl_tensor *pred, mtl_tensor *target)
{
    return masked_loss(g, "mtl_masked_cosine_loss", MASKED_COSINE, pred, target);
}
