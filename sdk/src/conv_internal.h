/*
 * conv_internal.h - what the convolutional ops (conv_*.c) share.  Internal
 * to libmtl.
 */
#ifndef MTL_CONV_INTERNAL_H
#define MTL_CONV_INTERNAL_H

#include <stdint.h>

#include "conv_backend.h"
#include "core.h"
#include "mtl/conv.h"

/* Internal symbols stay out of libmtl's exported ABI. */
#pragma GCC visibility push(hidden)

/*
 * The indices of one max pooling (mtl/conv.h).  It starts with a tensor
 * header so that an op's tape node can list it among its inputs (node->in[])
 * and its backward find it again; that header has no data and never
 * requires a gradient.
 */
struct mtl_pool_indices {
    mtl_tensor base;
    int32_t *idx;       /* one per pooled element, backend memory */
    int64_t n, c, h, w; /* the shape of the pooled input */
};

static inline const mtl_conv_backend *conv_kernels(const mtl_graph *g)
{
    return g->be->conv;
}

/* The indices stored in a node's input slot i. */
static inline const mtl_pool_indices *conv_node_indices(const mtl_node *node, int i)
{
    return (const mtl_pool_indices *)(const void *)node->in[i];
}

/*
 * Whether an op may run: a graph without a recorded error and no NULL among
 * the n required operands; a NULL one records "conv: OP: operand N is NULL"
 * (a step that already failed keeps its first message).
 */
int conv_operands_ok(mtl_graph *g, const char *op, int n, mtl_tensor *const *ops);

/*
 * Whether an op on these inputs must be taped (recording, and one needs a
 * gradient).
 */
int conv_needs_grad(const mtl_graph *g, int n, mtl_tensor *const *inputs);

/*
 * The gradient accumulator of an input that wants one in this pass, else NULL.
 */
float *conv_grad(mtl_graph *g, mtl_tensor *t);

/* A result tensor of the given shape; NULL (recorded) on failure. */
mtl_tensor *conv_result(mtl_graph *g, int ndim, const int64_t *shape);

/* A one-element result; NULL (recorded) on failure. */
mtl_tensor *conv_scalar_result(mtl_graph *g);

/*
 * Scratch of `count` floats in the data arena; NULL when out of memory (not
 * recorded).
 */
float *conv_scratch(mtl_graph *g, int64_t count);

/*
 * Checks that t is an image [n, c, h, w] (with `allow_flat`, also [n, c]);
 * records "conv: OP: WHAT is not an image (expected [n, c, h, w], got
 * [..])" and returns 0 otherwise.
 */
int conv_check_image(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                     int allow_flat);

/*
 * Checks the n items of a channel concatenation: item 0 an image (as
 * conv_check_image), every item of its shape but for dimension 1; sets
 * *channels to their channels together.  Records "conv: OP: item I differs
 * outside the channels (..)" on a mismatch.
 */
int conv_check_items(mtl_graph *g, const char *op, int n, mtl_tensor *const *items, int allow_flat,
                     int64_t *channels);

/*
 * Checks that t is a vector [n]; records "conv: OP: WHAT has shape [..]
 * (expected [n])".
 */
int conv_check_vector(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                      int64_t n);

/*
 * Checks that a and b have the same shape; records "conv: OP: WHAT shape
 * mismatch (..)".
 */
int conv_check_same(mtl_graph *g, const char *op, const char *what, const mtl_tensor *a,
                    const mtl_tensor *b);

/* Product of the dimensions after the first two (1 for [n, c]). */
int64_t conv_pixels(const mtl_tensor *t);

#pragma GCC visibility pop

#endif /* MTL_CONV_INTERNAL_H */
