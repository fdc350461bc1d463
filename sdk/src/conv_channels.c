/*
 * Ops along the channel dimension (mtl/conv.h): concatenation (the MTAN
 * attention modules read the shared features and the previous attention
 * output side by side) and a per-channel bias.
 */
#include "conv_internal.h"

/* ---- concatenation along dimension 1 ------------------------------------- */

static void concat_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    const mtl_tensor *y = node->out;
    int64_t n = y->shape[0], row = y->numel / n, offset = 0;

    for (int i = 0; i < node->n_in; i++) {
        mtl_tensor *x = node->in[i];
        int64_t block = x->numel / n;
        float *dx = conv_grad(g, x);

        if (dx)
            conv_kernels(g)->copy_block(n, block, dy + offset, row, dx, block, 1);
        offset += block;
    }
}

mtl_tensor *mtl_concat_channels(mtl_graph *g, int n, mtl_tensor *const *items)
{
    static const char op[] = "mtl_concat_channels";
    int64_t shape[MTL_MAX_DIMS], channels, rows, row, offset = 0;
    mtl_tensor *y;
    mtl_node *node;

    if (!g || g->status != MTL_OK)
        return NULL;
    if (n < 1 || !items)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: no items (expected n >= 1 and an array of them, "
                              "got n = %d%s)",
                              op, n, items ? "" : " and NULL");
    if (!conv_operands_ok(g, op, n, items) || !conv_check_items(g, op, n, items, 1, &channels))
        return NULL;

    for (int d = 0; d < items[0]->ndim; d++)
        shape[d] = items[0]->shape[d];
    shape[1] = channels;
    y = conv_result(g, items[0]->ndim, shape);
    if (!y)
        return NULL;
    rows = shape[0];
    row = y->numel / rows;
    for (int i = 0; i < n; i++) {
        int64_t block = items[i]->numel / rows;

        conv_kernels(g)->copy_block(rows, block, items[i]->data, block, y->data + offset, row, 0);
        offset += block;
    }

    if (conv_needs_grad(g, n, items)) {
        node = mtl_graph_record(g, concat_backward, y, n);
        if (!node)
            return NULL;
        for (int i = 0; i < n; i++)
            node->in[i] = items[i];
    }
    return y;
}

/* ---- per-channel bias ---------------------------------------------------- */

static void channel_bias_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0], *b = node->in[1];
    float *dx = conv_grad(g, x), *db = conv_grad(g, b);

    if (dx)
        g->be->axpy(x->numel, 1.0f, dy, dx);
    if (db)
        conv_kernels(g)->channel_sum(x->shape[0], x->shape[1], conv_pixels(x), dy, db);
}

mtl_tensor *mtl_add_channel_bias(mtl_graph *g, mtl_tensor *x, mtl_tensor *b)
{
    static const char op[] = "mtl_add_channel_bias";
    mtl_tensor *ops[2] = {x, b};
    mtl_tensor *y;
    mtl_node *node;

    if (!conv_operands_ok(g, op, 2, ops) || !conv_check_image(g, op, "input", x, 1) ||
        !conv_check_vector(g, op, "bias", b, x->shape[1]))
        return NULL;
    y = conv_result(g, x->ndim, x->shape);
    if (!y)
        return NULL;
    conv_kernels(g)->add_channel_bias(x->shape[0], x->shape[1], conv_pixels(x), x->data, b->data,
                                      y->data);

    if (conv_needs_grad(g, 2, ops)) {
        node = mtl_graph_record(g, channel_bias_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = b;
    }
    return y;
}
