/*
 * Op front-ends: argument checks, result allocation, one backend call, and
 * the tape entry with its backward function.
 *
 * Rules every op follows (keep them when adding one, here or in another
 * file of the core such as nn_ops.c):
 *   - check operands first: NULL in, NULL out, and a bad argument records
 *     the step's first error with mtl_graph_fail() in the shape
 *     "tensor: mtl_<op>: what (expected X, got Y)";
 *   - allocate only from the graph's arena (mtl_graph_new_tensor(), or
 *     mtl_graph_new_tensor_at() for a view of existing values) and compute
 *     eagerly through g->be: no malloc, no strings, no backend test;
 *   - record a node (mtl_graph_record()) only when the graph records and an
 *     operand requires a gradient; the backward function receives dy, ADDS
 *     into the accumulators of the operands that require a gradient
 *     (mtl_grad_acc(), NULL when out of memory: return at once), and may
 *     read the operands' and the output's values, which are immutable;
 *   - give it a finite-difference check in tests/runtime.
 */
#include <math.h>
#include <stdio.h>

#include "core.h"

static int operands_ok(mtl_graph *g, const char *fn, int n, mtl_tensor *const *ops)
{
    if (!g)
        return 0;
    for (int i = 0; i < n; i++) {
        if (!ops[i]) {
            mtl_graph_fail(g, MTL_ERR_INVALID, "tensor: %s: operand %d is NULL", fn, i + 1);
            return 0;
        }
    }
    return 1;
}

static int needs_tape(const mtl_graph *g, int n, mtl_tensor *const *ops)
{
    if (!g->recording)
        return 0;
    for (int i = 0; i < n; i++)
        if (ops[i]->requires_grad)
            return 1;
    return 0;
}

static int same_shape(const mtl_tensor *a, const mtl_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

static mtl_tensor *result_like(mtl_graph *g, const mtl_tensor *like)
{
    return mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, like->ndim, like->shape, like->numel);
}

/* ---- elementwise, one operand ------------------------------------------ */

static void unary_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx;

    if (!x->requires_grad)
        return;
    dx = mtl_grad_acc(g, x);
    if (dx)
        g->be->unary_backward((mtl_unary_op)node->op, x->numel, x->data, node->out->data, dy, dx,
                              node->p0, node->p1);
}

static mtl_tensor *unary(mtl_graph *g, const char *fn, mtl_unary_op op, mtl_tensor *a, float p0,
                         float p1)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!operands_ok(g, fn, 1, &a))
        return NULL;
    y = result_like(g, a);
    if (!y)
        return NULL;
    g->be->unary(op, a->numel, a->data, y->data, p0, p1);
    if (needs_tape(g, 1, &a)) {
        node = mtl_graph_record(g, unary_backward, y, 1);
        if (!node)
            return NULL;
        node->op = op;
        node->p0 = p0;
        node->p1 = p1;
        node->in[0] = a;
    }
    return y;
}

mtl_tensor *mtl_add_scalar(mtl_graph *g, mtl_tensor *a, float s)
{
    return unary(g, "mtl_add_scalar", MTL_UNARY_ADD_SCALAR, a, s, 0.0f);
}

mtl_tensor *mtl_mul_scalar(mtl_graph *g, mtl_tensor *a, float s)
{
    return unary(g, "mtl_mul_scalar", MTL_UNARY_MUL_SCALAR, a, s, 0.0f);
}

mtl_tensor *mtl_pow_scalar(mtl_graph *g, mtl_tensor *a, float p)
{
    return unary(g, "mtl_pow_scalar", MTL_UNARY_POW_SCALAR, a, p, 0.0f);
}

mtl_tensor *mtl_neg(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_neg", MTL_UNARY_NEG, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_tanh(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_tanh", MTL_UNARY_TANH, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_exp(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_exp", MTL_UNARY_EXP, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_log(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_log", MTL_UNARY_LOG, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_sigmoid(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_sigmoid", MTL_UNARY_SIGMOID, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_relu(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_relu", MTL_UNARY_RELU, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_abs(mtl_graph *g, mtl_tensor *a)
{
    return unary(g, "mtl_abs", MTL_UNARY_ABS, a, 0.0f, 0.0f);
}

mtl_tensor *mtl_clamp(mtl_graph *g, mtl_tensor *a, float lo, float hi)
{
    if (g && g->status == MTL_OK && !(lo <= hi))
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_clamp: bounds out of order (expected lo <= hi, got "
                              "lo = %g, hi = %g)",
                              (double)lo, (double)hi);
    return unary(g, "mtl_clamp", MTL_UNARY_CLAMP, a, lo, hi);
}

/* ---- elementwise, two operands ----------------------------------------- */

static void binary_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *a = node->in[0], *b = node->in[1];
    float *da = NULL, *db = NULL;

    if (a->requires_grad && !(da = mtl_grad_acc(g, a)))
        return;
    if (b->requires_grad && !(db = mtl_grad_acc(g, b)))
        return;
    g->be->binary_backward((mtl_binary_op)node->op, node->out->numel, a->data,
                           a->numel == 1 ? 0 : 1, b->data, b->numel == 1 ? 0 : 1, node->out->data,
                           dy, da, db);
}

static mtl_tensor *binary(mtl_graph *g, const char *fn, mtl_binary_op op, mtl_tensor *a,
                          mtl_tensor *b)
{
    mtl_tensor *ops[2] = {a, b};
    const mtl_tensor *like;
    mtl_tensor *y;
    mtl_node *node;

    if (!operands_ok(g, fn, 2, ops))
        return NULL;

    /* Same shapes, or one single-element operand broadcast to the other's shape. */
    if (same_shape(a, b) || b->numel == 1) {
        like = a->numel == 1 && b->ndim > a->ndim ? b : a;
    } else if (a->numel == 1) {
        like = b;
    } else {
        char sa[128], sb[128];
        return mtl_graph_fail(g, MTL_ERR_INVALID, "tensor: %s: shapes differ (expected %s, got %s)",
                              fn, mtl_shape_format(a, sa, sizeof sa),
                              mtl_shape_format(b, sb, sizeof sb));
    }

    y = result_like(g, like);
    if (!y)
        return NULL;
    g->be->binary(op, y->numel, a->data, a->numel == 1 ? 0 : 1, b->data, b->numel == 1 ? 0 : 1,
                  y->data);
    if (needs_tape(g, 2, ops)) {
        node = mtl_graph_record(g, binary_backward, y, 2);
        if (!node)
            return NULL;
        node->op = op;
        node->in[0] = a;
        node->in[1] = b;
    }
    return y;
}

mtl_tensor *mtl_add(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    return binary(g, "mtl_add", MTL_BINARY_ADD, a, b);
}

mtl_tensor *mtl_sub(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    return binary(g, "mtl_sub", MTL_BINARY_SUB, a, b);
}

mtl_tensor *mtl_mul(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    return binary(g, "mtl_mul", MTL_BINARY_MUL, a, b);
}

mtl_tensor *mtl_div(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    return binary(g, "mtl_div", MTL_BINARY_DIV, a, b);
}

/* ---- reductions --------------------------------------------------------- */

static void reduce_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx;

    if (!x->requires_grad)
        return;
    dx = mtl_grad_acc(g, x);
    if (dx)
        g->be->reduce_backward((mtl_reduce_op)node->op, x->numel, dy, dx);
}

static mtl_tensor *reduce(mtl_graph *g, const char *fn, mtl_reduce_op op, mtl_tensor *a)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!operands_ok(g, fn, 1, &a))
        return NULL;
    y = mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, 0, NULL, 1);
    if (!y)
        return NULL;
    g->be->reduce(op, a->numel, a->data, y->data);
    if (needs_tape(g, 1, &a)) {
        node = mtl_graph_record(g, reduce_backward, y, 1);
        if (!node)
            return NULL;
        node->op = op;
        node->in[0] = a;
    }
    return y;
}

mtl_tensor *mtl_sum(mtl_graph *g, mtl_tensor *a)
{
    return reduce(g, "mtl_sum", MTL_REDUCE_SUM, a);
}

mtl_tensor *mtl_mean(mtl_graph *g, mtl_tensor *a)
{
    return reduce(g, "mtl_mean", MTL_REDUCE_MEAN, a);
}

/* ---- indexing and shapes ------------------------------------------------ */

/*
 * select and reshape return views: the result's values are the operand's
 * (op results are immutable, so sharing is safe), with a gradient of their own.
 */
static void select_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx;

    if (!x->requires_grad)
        return;
    dx = mtl_grad_acc(g, x);
    if (dx)
        g->be->axpy(1, 1.0f, dy, dx + node->index);
}

mtl_tensor *mtl_select(mtl_graph *g, mtl_tensor *a, int64_t i)
{
    mtl_tensor *y;
    mtl_node *node;

    if (!operands_ok(g, "mtl_select", 1, &a))
        return NULL;
    if (i < 0 || i >= a->numel)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_select: index out of range (expected 0 <= i < %lld, "
                              "got %lld)",
                              (long long)a->numel, (long long)i);
    y = mtl_graph_new_tensor_at(g, MTL_TENSOR_RESULT, 0, NULL, 1, a->data + i);
    if (!y)
        return NULL;
    if (needs_tape(g, 1, &a)) {
        node = mtl_graph_record(g, select_backward, y, 1);
        if (!node)
            return NULL;
        node->index = i;
        node->in[0] = a;
    }
    return y;
}

static void stack_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    for (int j = 0; j < node->n_in; j++) {
        mtl_tensor *x = node->in[j];
        float *dx;

        if (!x->requires_grad)
            continue;
        dx = mtl_grad_acc(g, x);
        if (!dx)
            return;
        g->be->axpy(1, 1.0f, dy + j, dx);
    }
}

mtl_tensor *mtl_stack(mtl_graph *g, int n, mtl_tensor *const *items)
{
    int64_t shape[1] = {n};
    mtl_tensor *y;
    mtl_node *node;

    if (!g)
        return NULL;
    if (n < 1 || !items)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_stack: no items (expected n >= 1 and an array of them, "
                              "got n = %d%s)",
                              n, items ? "" : " and NULL");
    if (!operands_ok(g, "mtl_stack", n, items))
        return NULL;
    for (int j = 0; j < n; j++)
        if (items[j]->numel != 1)
            return mtl_graph_fail(g, MTL_ERR_INVALID,
                                  "tensor: mtl_stack: item %d is not a one-element tensor "
                                  "(expected 1 element, got %lld)",
                                  j, (long long)items[j]->numel);
    y = mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, 1, shape, n);
    if (!y)
        return NULL;
    for (int j = 0; j < n; j++)
        g->be->copy(1, items[j]->data, y->data + j);
    if (needs_tape(g, n, items)) {
        node = mtl_graph_record(g, stack_backward, y, n);
        if (!node)
            return NULL;
        for (int j = 0; j < n; j++)
            node->in[j] = items[j];
    }
    return y;
}

static void reshape_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    float *dx;

    if (!x->requires_grad)
        return;
    dx = mtl_grad_acc(g, x);
    if (dx)
        g->be->axpy(x->numel, 1.0f, dy, dx);
}

mtl_tensor *mtl_reshape(mtl_graph *g, mtl_tensor *a, int ndim, const int64_t *shape)
{
    mtl_tensor *y;
    mtl_node *node;
    int64_t numel;

    if (!operands_ok(g, "mtl_reshape", 1, &a))
        return NULL;
    numel = mtl_shape_numel("tensor: mtl_reshape", ndim, shape);
    if (numel < 0)
        return mtl_graph_fail(g, MTL_ERR_INVALID, "%s", mtl_error_message());
    if (numel != a->numel)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_reshape: element count differs (expected %lld, got "
                              "%lld)",
                              (long long)a->numel, (long long)numel);
    y = mtl_graph_new_tensor_at(g, MTL_TENSOR_RESULT, ndim, shape, numel, a->data);
    if (!y)
        return NULL;
    if (needs_tape(g, 1, &a)) {
        node = mtl_graph_record(g, reshape_backward, y, 1);
        if (!node)
            return NULL;
        node->in[0] = a;
    }
    return y;
}

/* ---- linear algebra ----------------------------------------------------- */

static void matmul_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *a = node->in[0], *b = node->in[1];
    int64_t m = a->shape[0], k = a->shape[1], n = b->shape[1];
    float *da, *db;

    /* y = a b:  da += dy b^T,  db += a^T dy */
    if (a->requires_grad) {
        da = mtl_grad_acc(g, a);
        if (!da)
            return;
        g->be->gemm(0, 1, m, k, n, 1.0f, dy, n, b->data, n, 1.0f, da, k);
    }
    if (b->requires_grad) {
        db = mtl_grad_acc(g, b);
        if (!db)
            return;
        g->be->gemm(1, 0, k, n, m, 1.0f, a->data, k, dy, n, 1.0f, db, n);
    }
}

mtl_tensor *mtl_matmul(mtl_graph *g, mtl_tensor *a, mtl_tensor *b)
{
    mtl_tensor *ops[2] = {a, b};
    int64_t shape[2];
    mtl_tensor *y;
    mtl_node *node;

    if (!operands_ok(g, "mtl_matmul", 2, ops))
        return NULL;
    if (a->ndim != 2 || b->ndim != 2)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_matmul: operands are not matrices (expected 2-D and "
                              "2-D, got %d-D and %d-D)",
                              a->ndim, b->ndim);
    if (a->shape[1] != b->shape[0]) {
        char sb[128];
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "tensor: mtl_matmul: inner dimensions differ (expected [%lld, "
                              "%lld], got %s)",
                              (long long)a->shape[1], (long long)b->shape[1],
                              mtl_shape_format(b, sb, sizeof sb));
    }
    shape[0] = a->shape[0];
    shape[1] = b->shape[1];
    y = mtl_graph_new_shaped(g, MTL_TENSOR_RESULT, 2, shape);
    if (!y)
        return NULL;
    g->be->gemm(0, 0, shape[0], shape[1], a->shape[1], 1.0f, a->data, a->shape[1], b->data,
                shape[1], 0.0f, y->data, shape[1]);
    if (needs_tape(g, 2, ops)) {
        node = mtl_graph_record(g, matmul_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = a;
        node->in[1] = b;
    }
    return y;
}
