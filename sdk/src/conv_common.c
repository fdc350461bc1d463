/* Helpers shared by the convolutional ops (conv_internal.h). */
#include "conv_internal.h"

int conv_operands_ok(mtl_graph *g, const char *op, int n, mtl_tensor *const *ops)
{
    if (!g || g->status != MTL_OK)
        return 0;
    for (int i = 0; i < n; i++) {
        if (!ops[i]) {
            mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: operand %d is NULL", op, i + 1);
            return 0;
        }
    }
    return 1;
}

int conv_needs_grad(const mtl_graph *g, int n, mtl_tensor *const *inputs)
{
    if (!g->recording)
        return 0;
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad)
            return 1;
    return 0;
}

float *conv_grad(mtl_graph *g, mtl_tensor *t)
{
    return t && t->requires_grad ? mtl_grad_acc(g, t) : NULL;
}

mtl_tensor *conv_result(mtl_graph *g, int ndim, const int64_t *shape)
{
    return mtl_graph_new_shaped(g, MTL_TENSOR_RESULT, ndim, shape);
}

mtl_tensor *conv_scalar_result(mtl_graph *g)
{
    return mtl_graph_new_tensor(g, MTL_TENSOR_RESULT, 0, NULL, 1);
}

float *conv_scratch(mtl_graph *g, int64_t count)
{
    return mtl_arena_alloc(&g->data, mtl_array_bytes(count, sizeof(float)));
}

int conv_check_image(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                     int allow_flat)
{
    char got[128];

    if (t->ndim == 4 || (allow_flat && t->ndim == 2))
        return 1;
    mtl_shape_format(t, got, sizeof got);
    mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: %s is not an image (expected %s, got %s)", op,
                   what, allow_flat ? "[n, c, h, w] or [n, c]" : "[n, c, h, w]", got);
    return 0;
}

int conv_check_items(mtl_graph *g, const char *op, int n, mtl_tensor *const *items, int allow_flat,
                     int64_t *channels)
{
    const mtl_tensor *first = items[0];

    if (!conv_check_image(g, op, "item 0", first, allow_flat))
        return 0;
    *channels = 0;
    for (int i = 0; i < n; i++) {
        const mtl_tensor *x = items[i];
        int same = x->ndim == first->ndim;

        for (int d = 0; same && d < x->ndim; d++)
            same = d == 1 || x->shape[d] == first->shape[d];
        if (!same) {
            char want[128], got[128];
            mtl_shape_format(first, want, sizeof want);
            mtl_shape_format(x, got, sizeof got);
            mtl_graph_fail(g, MTL_ERR_INVALID,
                           "conv: %s: item %d differs outside the channels (expected the shape "
                           "of %s but for dimension 1, got %s)",
                           op, i, want, got);
            return 0;
        }
        *channels += x->shape[1];
    }
    return 1;
}

int conv_check_vector(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                      int64_t n)
{
    char got[128];

    if (t->ndim == 1 && t->shape[0] == n)
        return 1;
    mtl_shape_format(t, got, sizeof got);
    mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: %s has shape %s (expected [%lld])", op, what, got,
                   (long long)n);
    return 0;
}

int conv_check_same(mtl_graph *g, const char *op, const char *what, const mtl_tensor *a,
                    const mtl_tensor *b)
{
    char want[128], got[128];
    int same = a->ndim == b->ndim;

    for (int d = 0; same && d < a->ndim; d++)
        same = a->shape[d] == b->shape[d];
    if (same)
        return 1;
    mtl_shape_format(a, want, sizeof want);
    mtl_shape_format(b, got, sizeof got);
    mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: %s shape mismatch (expected %s, got %s)", op,
                   what, want, got);
    return 0;
}

int64_t conv_pixels(const mtl_tensor *t)
{
    int64_t p = 1;

    for (int d = 2; d < t->ndim; d++)
        p *= t->shape[d];
    return p;
}
