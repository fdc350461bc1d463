/*
 * The dense and index ops of mtl/nn.h: affine maps, bias, concatenation,
 * MSE, gathers and scatters over an index, per-row products and the segment
 * softmax.  Each op checks its operands, computes through the backend's
 * kernels and, when a gradient is needed, tapes a node whose backward adds
 * the inputs' contributions.
 */
#include <string.h>

#include "nn_internal.h"

/* ---- affine: x W^T + b ------------------------------------------------- */

static void affine_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2];
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    float *dx = nn_grad(g, x), *dw = nn_grad(g, w), *db = nn_grad(g, b);

    if (dx)
        g->be->gemm(0, 0, n, in, out, 1.0f, dy, out, w->data, in, 1.0f, dx, in);
    if (dw)
        g->be->gemm(1, 0, out, in, n, 1.0f, dy, out, x->data, in, 1.0f, dw, in);
    if (db)
        nn_kernels(g)->bias_backward(n, out, dy, db);
}

mtl_tensor *mtl_affine(mtl_graph *g, mtl_tensor *x, mtl_tensor *w, mtl_tensor *b)
{
    static const char op[] = "mtl_affine";
    mtl_tensor *y;
    mtl_node *node;
    int64_t n, in, out;

    if (!g || !x || !w || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, op, "input", x, -1, -1) ||
        !nn_check_matrix(g, op, "weight", w, -1, x->shape[1]) ||
        (b && !nn_check_vector(g, op, "bias", b, w->shape[0])))
        return NULL;
    n = x->shape[0];
    in = x->shape[1];
    out = w->shape[0];

    y = nn_result(g, n, out);
    if (!y)
        return NULL;
    g->be->gemm(0, 1, n, out, in, 1.0f, x->data, in, w->data, in, 0.0f, y->data, out);
    if (b)
        nn_kernels(g)->add_bias(n, out, y->data, b->data, y->data);

    if (nn_needs_grad(g, 3, (mtl_tensor *[]){x, w, b})) {
        node = mtl_graph_record(g, affine_backward, y, 3);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = w;
        node->in[2] = b;
    }
    return y;
}

/* ---- bias added to every row ------------------------------------------- */

static void add_bias_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0], *b = node->in[1];
    float *dx = nn_grad(g, x), *db = nn_grad(g, b);

    if (dx)
        g->be->axpy(x->numel, 1.0f, dy, dx);
    if (db)
        nn_kernels(g)->bias_backward(x->shape[0], x->shape[1], dy, db);
}

mtl_tensor *mtl_add_bias(mtl_graph *g, mtl_tensor *x, mtl_tensor *b)
{
    static const char op[] = "mtl_add_bias";
    mtl_tensor *y;
    mtl_node *node;

    if (!g || !x || !b || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, op, "input", x, -1, -1) ||
        !nn_check_vector(g, op, "bias", b, x->shape[1]))
        return NULL;

    y = nn_result(g, x->shape[0], x->shape[1]);
    if (!y)
        return NULL;
    nn_kernels(g)->add_bias(x->shape[0], x->shape[1], x->data, b->data, y->data);

    if (nn_needs_grad(g, 2, (mtl_tensor *[]){x, b})) {
        node = mtl_graph_record(g, add_bias_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = b;
    }
    return y;
}

/* ---- concatenation along the last dimension ---------------------------- */

static void concat_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    const mtl_tensor *y = node->out;
    int64_t width = y->shape[y->ndim - 1], rows = y->numel / width, offset = 0;

    for (int i = 0; i < node->n_in; i++) {
        mtl_tensor *x = node->in[i];
        int64_t f = x->shape[x->ndim - 1];
        float *dx = nn_grad(g, x);

        if (dx)
            nn_kernels(g)->scatter_add_rows(rows, f, dy + offset, width, NULL, dx, f);
        offset += f;
    }
}

static int concat_check(mtl_graph *g, int n, mtl_tensor *const *items, int64_t *width)
{
    const mtl_tensor *first = items[0];
    char want[64], got[64];

    *width = 0;
    for (int i = 0; i < n; i++) {
        const mtl_tensor *x = items[i];
        int same = x->ndim == first->ndim && x->ndim >= 1;

        for (int d = 0; same && d + 1 < x->ndim; d++)
            same = x->shape[d] == first->shape[d];
        if (!same) {
            mtl_shape_format(first, want, sizeof want);
            mtl_shape_format(x, got, sizeof got);
            mtl_graph_fail(g, MTL_ERR_INVALID,
                           "nn: mtl_concat: item %d differs before the last dimension (expected "
                           "the leading dimensions of %s, got %s)",
                           i, want, got);
            return 0;
        }
        *width += x->shape[x->ndim - 1];
    }
    return 1;
}

mtl_tensor *mtl_concat(mtl_graph *g, int n, mtl_tensor *const *items)
{
    int64_t shape[MTL_MAX_DIMS], width, rows, offset = 0;
    mtl_tensor *y;
    mtl_node *node;
    int ndim;

    if (!g || g->status != MTL_OK)
        return NULL;
    if (n < 1 || !items) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "nn: mtl_concat: no items (expected n >= 1 and an array of them, "
                       "got n = %d%s)",
                       n, items ? "" : " and NULL");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!items[i])
            return NULL;
    if (!nn_check_backend(g, "mtl_concat") || !concat_check(g, n, items, &width))
        return NULL;

    ndim = items[0]->ndim;
    memcpy(shape, items[0]->shape, sizeof shape);
    shape[ndim - 1] = width;
    rows = items[0]->numel / items[0]->shape[ndim - 1];
    y = mtl_graph_new_shaped(g, MTL_TENSOR_RESULT, ndim, shape);
    if (!y)
        return NULL;
    for (int i = 0; i < n; i++) {
        int64_t f = items[i]->shape[ndim - 1];
        nn_kernels(g)->gather_rows(rows, f, items[i]->data, f, NULL, y->data + offset, width, 0);
        offset += f;
    }

    if (nn_needs_grad(g, n, items)) {
        node = mtl_graph_record(g, concat_backward, y, n);
        if (!node)
            return NULL;
        for (int i = 0; i < n; i++)
            node->in[i] = items[i];
    }
    return y;
}

/* ---- mean squared error -------------------------------------------------- */

static void mse_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *p = node->in[0], *t = node->in[1];

    nn_kernels(g)->mse_backward(p->numel, p->data, t->data, dy, nn_grad(g, p), nn_grad(g, t));
}

mtl_tensor *mtl_mse_loss(mtl_graph *g, mtl_tensor *pred, mtl_tensor *target)
{
    char want[64], got[64];
    mtl_tensor *y;
    mtl_node *node;
    int same;

    if (!g || !pred || !target || g->status != MTL_OK || !nn_check_backend(g, "mtl_mse_loss"))
        return NULL;
    same = pred->ndim == target->ndim;
    for (int d = 0; same && d < pred->ndim; d++)
        same = pred->shape[d] == target->shape[d];
    if (!same) {
        mtl_shape_format(pred, want, sizeof want);
        mtl_shape_format(target, got, sizeof got);
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "nn: mtl_mse_loss: target shape mismatch (expected %s, got %s)", want,
                              got);
    }

    y = mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, 0, NULL, 1);
    if (!y)
        return NULL;
    nn_kernels(g)->mse(pred->numel, pred->data, target->data, y->data);

    if (nn_needs_grad(g, 2, (mtl_tensor *[]){pred, target})) {
        node = mtl_graph_record(g, mse_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = pred;
        node->in[1] = target;
    }
    return y;
}

/* ---- gathers and scatters over an index --------------------------------- */

static void gather_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_index *ix = nn_node_index(node, 1);
    float *dx = nn_grad(g, x);

    if (dx)
        nn_kernels(g)->scatter_add_rows(ix->n, x->shape[1], dy, x->shape[1], ix->values, dx,
                                        x->shape[1]);
}

mtl_tensor *mtl_gather_rows(mtl_graph *g, mtl_tensor *x, const mtl_index *index)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!g || !x || !index || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, "mtl_gather_rows", "input", x, index->range, -1))
        return NULL;

    y = nn_result(g, index->n, x->shape[1]);
    if (!y)
        return NULL;
    nn_kernels(g)->gather_rows(index->n, x->shape[1], x->data, x->shape[1], index->values, y->data,
                               x->shape[1], 0);

    if (nn_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, gather_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = (mtl_tensor *)&index->base;
    }
    return y;
}

static void scatter_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_index *ix = nn_node_index(node, 1);
    int64_t f = x->shape[1];
    float *dx = nn_grad(g, x);
    const float *src = dy;
    mtl_arena_mark mark = mtl_arena_get_mark(&g->data);

    if (!dx)
        return;
    /* The mean's backward: each row's share is dy / count (PyG's scatter_mean). */
    if (node->op == 1) {
        float *scaled = nn_scratch(g, ix->range * f);
        if (!scaled) {
            g->backward_nomem = 1;
            return;
        }
        nn_kernels(g)->scale_rows(ix->range, f, dy, ix->inv_count, scaled, 0);
        src = scaled;
    }
    nn_kernels(g)->gather_rows(ix->n, f, src, f, ix->values, dx, f, 1);
    mtl_arena_release(&g->data, mark);
}

static mtl_tensor *scatter(mtl_graph *g, const char *op, mtl_tensor *x, const mtl_index *index,
                           int mean)
{
    mtl_index *ix = (mtl_index *)index;
    const float *inv_count = NULL;
    mtl_tensor *y;
    mtl_node *node;
    int64_t f;

    if (!g || !x || !index || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, op, "input", x, index->n, -1))
        return NULL;
    if (mean && !(inv_count = nn_index_inv_count(g, ix)))
        return NULL;

    f = x->shape[1];
    y = nn_result(g, index->range, f);
    if (!y)
        return NULL;
    g->be->fill(y->numel, 0.0f, y->data);
    nn_kernels(g)->scatter_add_rows(index->n, f, x->data, f, index->values, y->data, f);
    if (mean)
        nn_kernels(g)->scale_rows(index->range, f, y->data, inv_count, y->data, 0);

    if (nn_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, scatter_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = &ix->base;
        node->op = mean;
    }
    return y;
}

mtl_tensor *mtl_scatter_sum(mtl_graph *g, mtl_tensor *x, const mtl_index *index)
{
    return scatter(g, "mtl_scatter_sum", x, index, 0);
}

mtl_tensor *mtl_scatter_mean(mtl_graph *g, mtl_tensor *x, const mtl_index *index)
{
    return scatter(g, "mtl_scatter_mean", x, index, 1);
}

/* ---- per-row products ------------------------------------------------------ */

static void row_dot_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *a = node->in[0], *b = node->in[1];
    float *da = nn_grad(g, a), *db = nn_grad(g, b);

    if (da)
        nn_kernels(g)->scale_rows(a->shape[0], a->shape[1], b->data, dy, da, 1);
    if (db)
        nn_kernels(g)->scale_rows(a->shape[0], a->shape[1], a->data, dy, db, 1);
}

mtl_tensor *mtl_row_dot(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!g || !a || !b || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, "mtl_row_dot", "first operand", a, -1, -1) ||
        !nn_check_matrix(g, "mtl_row_dot", "second operand", b, a->shape[0], a->shape[1]))
        return NULL;

    y = nn_result(g, a->shape[0], 0);
    if (!y)
        return NULL;
    nn_kernels(g)->row_dot(a->shape[0], a->shape[1], a->data, b->data, y->data, 0);

    if (nn_needs_grad(g, 2, (mtl_tensor *[]){a, b})) {
        node = mtl_graph_record(g, row_dot_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = a;
        node->in[1] = b;
    }
    return y;
}

static void scale_rows_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0], *s = node->in[1];
    float *dx = nn_grad(g, x), *ds = nn_grad(g, s);

    if (dx)
        nn_kernels(g)->scale_rows(x->shape[0], x->shape[1], dy, s->data, dx, 1);
    if (ds)
        nn_kernels(g)->row_dot(x->shape[0], x->shape[1], dy, x->data, ds, 1);
}

mtl_tensor *mtl_scale_rows(mtl_graph *g, mtl_tensor *x, mtl_tensor *s)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!g || !x || !s || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, "mtl_scale_rows", "input", x, -1, -1) ||
        !nn_check_vector(g, "mtl_scale_rows", "scale", s, x->shape[0]))
        return NULL;

    y = nn_result(g, x->shape[0], x->shape[1]);
    if (!y)
        return NULL;
    nn_kernels(g)->scale_rows(x->shape[0], x->shape[1], x->data, s->data, y->data, 0);

    if (nn_needs_grad(g, 2, (mtl_tensor *[]){x, s})) {
        node = mtl_graph_record(g, scale_rows_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = s;
    }
    return y;
}

/* ---- softmax within groups ------------------------------------------------ */

static void segment_softmax_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *e = node->in[0];
    const mtl_index *ix = nn_node_index(node, 1);
    float *de = nn_grad(g, e), *work;
    mtl_arena_mark mark = mtl_arena_get_mark(&g->data);

    if (!de)
        return;
    work = nn_scratch(g, ix->range);
    if (!work) {
        g->backward_nomem = 1;
        return;
    }
    nn_kernels(g)->segment_softmax_backward(ix->n, node->out->data, dy, ix->values, ix->range, work,
                                            de);
    mtl_arena_release(&g->data, mark);
}

mtl_tensor *mtl_segment_softmax(mtl_graph *g, mtl_tensor *e, const mtl_index *index)
{
    mtl_arena_mark mark;
    mtl_tensor *y;
    mtl_node *node;
    float *work;

    if (!g || !e || !index || g->status != MTL_OK)
        return NULL;
    if (!nn_check_vector(g, "mtl_segment_softmax", "input", e, index->n))
        return NULL;

    y = nn_result(g, index->n, 0);
    if (!y)
        return NULL;
    mark = mtl_arena_get_mark(&g->data);
    work = nn_scratch(g, 2 * index->range);
    if (!work)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: mtl_segment_softmax: out of memory");
    nn_kernels(g)->segment_softmax(index->n, e->data, index->values, index->range, work, y->data);
    mtl_arena_release(&g->data, mark);

    if (nn_needs_grad(g, 1, &e)) {
        node = mtl_graph_record(g, segment_softmax_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = e;
        node->in[1] = (mtl_tensor *)&index->base;
    }
    return y;
}
