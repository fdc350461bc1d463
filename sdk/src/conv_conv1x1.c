/*
 * A 1 x 1 convolution of channel-concatenated inputs without the
 * concatenation (mtl_conv2d_1x1_concat, mtl/conv.h).
 *
 * With the weight viewed as [out, K], K the sum of the items' channels, and
 * W_s its columns off_s .. off_s + c_s - 1 that read item s, one sample's
 * output is Y = sum_s W_s X_s: a product per item, the first writing Y and
 * the others adding to it, each reading its block of W in place (leading
 * dimension K).  The backward pass is the same split: dW_s += dY X_s^T and
 * dX_s += W_s^T dY.  The MTAN attention modules apply such a convolution
 * to [shared features, previous attention]; this keeps that image (and its
 * gradient) out of memory.
 */
#include "conv_internal.h"

/* The node's inputs: the n items, then the weight and the bias (NULL allowed). */
static void conv1x1_concat_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    const mtl_backend *be = g->be;
    int n = (int)node->index;
    mtl_tensor *w = node->in[n], *b = node->in[n + 1];
    const mtl_tensor *y = node->out;
    int64_t batch = y->shape[0], out = y->shape[1], hw = conv_pixels(y), k = w->shape[1];
    float *dw = conv_grad(g, w), *db = conv_grad(g, b);
    int64_t off = 0;

    if (db)
        be->conv->channel_sum(batch, out, hw, dy, db);
    for (int s = 0; s < n; s++) {
        mtl_tensor *x = node->in[s];
        int64_t c = x->shape[1];
        float *dx = conv_grad(g, x);

        for (int64_t i = 0; i < batch; i++) {
            const float *dyi = dy + i * out * hw, *xi = x->data + i * c * hw;

            if (dw)
                be->gemm(0, 1, out, c, hw, 1.0f, dyi, hw, xi, hw, 1.0f, dw + off, k);
            if (dx)
                be->gemm(1, 0, c, hw, out, 1.0f, w->data + off, k, dyi, hw, 1.0f, dx + i * c * hw,
                         hw);
        }
        off += c;
    }
}

static int conv1x1_concat_check(mtl_graph *g, int n, mtl_tensor *const *xs, const mtl_tensor *w,
                                const mtl_tensor *b)
{
    static const char op[] = "mtl_conv2d_1x1_concat";
    int64_t channels;
    char got[128];

    if (!conv_check_items(g, op, n, xs, 0, &channels))
        return 0;
    if (w->ndim != 4 || w->shape[1] != channels || w->shape[2] != 1 || w->shape[3] != 1) {
        mtl_shape_format(w, got, sizeof got);
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: weight has shape %s (expected [out, %lld, 1, 1]: the items' "
                       "channels together)",
                       op, got, (long long)channels);
        return 0;
    }
    return !b || conv_check_vector(g, op, "bias", b, w->shape[0]);
}

mtl_tensor *mtl_conv2d_1x1_concat(mtl_graph *g, int n, mtl_tensor *const *xs, mtl_tensor *w,
                                  mtl_tensor *b)
{
    static const char op[] = "mtl_conv2d_1x1_concat";
    mtl_tensor *ops[2] = {w, b};
    int64_t shape[4], hw, off = 0;
    mtl_tensor *y;
    mtl_node *node;

    if (!g || g->status != MTL_OK)
        return NULL;
    if (n < 1 || !xs)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: no items (expected n >= 1 and an array of them, "
                              "got n = %d%s)",
                              op, n, xs ? "" : " and NULL");
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: item %d is NULL", op, i);
    if (!w)
        return mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: weight is NULL", op);
    if (!conv1x1_concat_check(g, n, xs, w, b))
        return NULL;

    shape[0] = xs[0]->shape[0];
    shape[1] = w->shape[0];
    shape[2] = xs[0]->shape[2];
    shape[3] = xs[0]->shape[3];
    y = conv_result(g, 4, shape);
    if (!y)
        return NULL;
    hw = shape[2] * shape[3];
    for (int s = 0; s < n; s++) {
        int64_t c = xs[s]->shape[1];

        for (int64_t i = 0; i < shape[0]; i++)
            g->be->gemm(0, 0, shape[1], hw, c, 1.0f, w->data + off, w->shape[1],
                        xs[s]->data + i * c * hw, hw, s ? 1.0f : 0.0f, y->data + i * shape[1] * hw,
                        hw);
        off += c;
    }
    if (b)
        g->be->conv->add_channel_bias(shape[0], shape[1], hw, y->data, b->data, y->data);

    if (conv_needs_grad(g, n, xs) || conv_needs_grad(g, 2, ops)) {
        node = mtl_graph_record(g, conv1x1_concat_backward, y, n + 2);
        if (!node)
            return NULL;
        for (int i = 0; i < n; i++)
            node->in[i] = xs[i];
        node->in[n] = w;
        node->in[n + 1] = b;
        node->index = n;
    }
    return y;
}
