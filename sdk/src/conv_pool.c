/*
 * Pooling, unpooling, resizing and cropping of images (mtl/conv.h): the
 * SegNet encoder's 2 x 2 max pooling with indices and the decoder's
 * unpooling with them (Badrinarayanan et al. 2017), the MTAN attention
 * decoder's bilinear upsampling, and the resizes and crops of the NYUv2
 * augmentation.
 */
#include <stdio.h>
#include <string.h>

#include "conv_internal.h"

/* ---- max pooling with indices -------------------------------------------- */

static void max_pool_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_pool_indices *ix = conv_node_indices(node, 1);
    float *dx = conv_grad(g, x);

    if (dx)
        conv_kernels(g)->max_pool2_backward(ix->n * ix->c, ix->h / 2, ix->w / 2, ix->h * ix->w,
                                            ix->idx, dy, dx);
}

static mtl_pool_indices *indices_new(mtl_graph *g, const mtl_tensor *x)
{
    mtl_pool_indices *ix = mtl_arena_alloc(&g->meta, sizeof *ix);
    int64_t count = x->shape[0] * x->shape[1] * (x->shape[2] / 2) * (x->shape[3] / 2);

    if (!ix)
        return NULL;
    *ix = (mtl_pool_indices){0};
    ix->base.kind = MTL_TENSOR_INPUT;
    ix->idx = mtl_arena_alloc(&g->data, (size_t)count * sizeof *ix->idx);
    if (!ix->idx)
        return NULL;
    ix->n = x->shape[0];
    ix->c = x->shape[1];
    ix->h = x->shape[2];
    ix->w = x->shape[3];
    return ix;
}

mtl_tensor *mtl_max_pool2d(mtl_graph *g, mtl_tensor *x, mtl_pool_indices **indices)
{
    static const char op[] = "mtl_max_pool2d";
    mtl_pool_indices *ix;
    mtl_tensor *y;
    mtl_node *node;

    if (indices)
        *indices = NULL;
    if (!conv_operands_ok(g, op, 1, &x) || !conv_check_image(g, op, "input", x, 0))
        return NULL;
    if (x->shape[2] < 2 || x->shape[3] < 2)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: input smaller than the 2 x 2 window (expected h, w >= 2, "
                              "got %lld x %lld)",
                              op, (long long)x->shape[2], (long long)x->shape[3]);
    y = conv_result(g, 4, (int64_t[]){x->shape[0], x->shape[1], x->shape[2] / 2, x->shape[3] / 2});
    ix = y ? indices_new(g, x) : NULL;
    if (!ix)
        return y ? mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: %s: out of memory", op) : NULL;
    conv_kernels(g)->max_pool2(ix->n * ix->c, ix->h, ix->w, x->data, y->data, ix->idx);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, max_pool_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = &ix->base;
    }
    if (indices)
        *indices = ix;
    return y;
}

static void max_unpool_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_pool_indices *ix = conv_node_indices(node, 1);
    float *dx = conv_grad(g, x);

    if (dx)
        conv_kernels(g)->max_unpool2_backward(ix->n * ix->c, ix->h / 2, ix->w / 2, ix->h * ix->w,
                                              ix->idx, dy, dx);
}

mtl_tensor *mtl_max_unpool2d(mtl_graph *g, mtl_tensor *x, const mtl_pool_indices *indices)
{
    static const char op[] = "mtl_max_unpool2d";
    mtl_tensor *y;
    mtl_node *node;
    const mtl_pool_indices *ix = indices;

    if (!conv_operands_ok(g, op, 1, &x))
        return NULL;
    if (!ix)
        return mtl_graph_fail(g, MTL_ERR_INVALID, "conv: %s: operand 2 (indices) is NULL", op);
    if (!conv_check_image(g, op, "input", x, 0))
        return NULL;
    if (x->shape[0] != ix->n || x->shape[1] != ix->c || x->shape[2] != ix->h / 2 ||
        x->shape[3] != ix->w / 2) {
        char got[128];
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: input does not have the pooled shape of the indices "
                              "(expected [%lld, %lld, %lld, %lld], got %s)",
                              op, (long long)ix->n, (long long)ix->c, (long long)(ix->h / 2),
                              (long long)(ix->w / 2), mtl_shape_format(x, got, sizeof got));
    }
    y = conv_result(g, 4, (int64_t[]){ix->n, ix->c, ix->h, ix->w});
    if (!y)
        return NULL;
    conv_kernels(g)->max_unpool2(ix->n * ix->c, ix->h / 2, ix->w / 2, ix->h * ix->w, ix->idx,
                                 x->data, y->data);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, max_unpool_backward, y, 2);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->in[1] = (mtl_tensor *)(void *)&((mtl_pool_indices *)(void *)ix)->base;
    }
    return y;
}

mtl_status mtl_pool_indices_read(const mtl_pool_indices *ix, int64_t *dst, size_t n)
{
    int64_t count;
    unsigned char *bytes;

    if (!ix || !dst)
        return mtl_error_set(MTL_ERR_INVALID, "conv: mtl_pool_indices_read: NULL argument");
    count = ix->n * ix->c * (ix->h / 2) * (ix->w / 2);
    if ((int64_t)n != count)
        return mtl_error_set(MTL_ERR_INVALID,
                             "conv: mtl_pool_indices_read: element count differs (expected "
                             "%lld, got %zu)",
                             (long long)count, n);
    /*
     * The int32 words are copied raw into the first half of dst, then
     * widened in place from the end (memcpy: no aliasing of int32 and int64).
     */
    bytes = (unsigned char *)dst;
    mtl_backend_default()->to_host((float *)(void *)bytes, (const float *)(const void *)ix->idx, n);
    for (size_t i = n; i-- > 0;) {
        int32_t v;
        memcpy(&v, bytes + 4 * i, sizeof v);
        dst[i] = v;
    }
    return MTL_OK;
}

/* ---- resizing ------------------------------------------------------------ */

typedef enum resize_mode { RESIZE_BILINEAR = 0, RESIZE_NEAREST = 1 } resize_mode;

static void resize_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_tensor *y = node->out;
    int64_t planes = x->shape[0] * x->shape[1];
    float *dx = conv_grad(g, x);

    if (!dx)
        return;
    if (node->op == RESIZE_BILINEAR)
        conv_kernels(g)->resize_bilinear_backward(planes, x->shape[2], x->shape[3], y->shape[2],
                                                  y->shape[3], dy, dx);
    else
        conv_kernels(g)->resize_nearest_backward(planes, x->shape[2], x->shape[3], y->shape[2],
                                                 y->shape[3], dy, dx);
}

static mtl_tensor *resize(mtl_graph *g, const char *op, resize_mode mode, mtl_tensor *x, int64_t h,
                          int64_t w)
{
    mtl_tensor *y;
    mtl_node *node;
    int64_t planes;

    if (!conv_operands_ok(g, op, 1, &x) || !conv_check_image(g, op, "input", x, 0))
        return NULL;
    if (h < 1 || w < 1)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: bad output size (expected h, w >= 1, got %lld x %lld)", op,
                              (long long)h, (long long)w);
    y = conv_result(g, 4, (int64_t[]){x->shape[0], x->shape[1], h, w});
    if (!y)
        return NULL;
    planes = x->shape[0] * x->shape[1];
    if (mode == RESIZE_BILINEAR)
        conv_kernels(g)->resize_bilinear(planes, x->shape[2], x->shape[3], h, w, x->data, y->data);
    else
        conv_kernels(g)->resize_nearest(planes, x->shape[2], x->shape[3], h, w, x->data, y->data);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, resize_backward, y, 1);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->op = mode;
    }
    return y;
}

mtl_tensor *mtl_resize_bilinear(mtl_graph *g, mtl_tensor *x, int64_t h, int64_t w)
{
    return resize(g, "mtl_resize_bilinear", RESIZE_BILINEAR, x, h, w);
}

mtl_tensor *mtl_resize_nearest(mtl_graph *g, mtl_tensor *x, int64_t h, int64_t w)
{
    return resize(g, "mtl_resize_nearest", RESIZE_NEAREST, x, h, w);
}

/* ---- cropping ------------------------------------------------------------ */

static void crop_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[0];
    const mtl_tensor *y = node->out;
    int64_t top = node->index, left = (int64_t)node->p0;
    float *dx = conv_grad(g, x);

    if (dx)
        conv_kernels(g)->crop_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], top,
                                       left, y->shape[2], y->shape[3], dy, dx);
}

mtl_tensor *mtl_crop2d(mtl_graph *g, mtl_tensor *x, int64_t top, int64_t left, int64_t h, int64_t w)
{
    static const char op[] = "mtl_crop2d";
    mtl_tensor *y;
    mtl_node *node;

    if (!conv_operands_ok(g, op, 1, &x) || !conv_check_image(g, op, "input", x, 0))
        return NULL;
    if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > x->shape[2] || left + w > x->shape[3])
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: %s: window outside the image (expected rows and columns "
                              "within %lld x %lld, got rows %lld..%lld, columns %lld..%lld)",
                              op, (long long)x->shape[2], (long long)x->shape[3], (long long)top,
                              (long long)(top + h - 1), (long long)left, (long long)(left + w - 1));
    y = conv_result(g, 4, (int64_t[]){x->shape[0], x->shape[1], h, w});
    if (!y)
        return NULL;
    conv_kernels(g)->crop(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], top, left, h, w,
                          x->data, y->data);

    if (conv_needs_grad(g, 1, &x)) {
        node = mtl_graph_record(g, crop_backward, y, 1);
        if (!node)
            return NULL;
        node->in[0] = x;
        node->index = top;
        /*
         * Exact: a float holds every integer up to 2^24, far beyond an image
         * width.
         */
        node->p0 = (float)left;
    }
    return y;
}
