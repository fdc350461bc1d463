/*
 * nn_internal.h - what the graph-network ops (nn_*.c) share.  Internal to
 * libmtl.
 */
#ifndef MTL_NN_INTERNAL_H
#define MTL_NN_INTERNAL_H

#include <stdint.h>

#include "core.h"
#include "mtl/nn.h"
#include "nn_backend.h"

/*
 * An index array of a graph step (mtl/nn.h).  It starts with a tensor header
 * so that an op's tape node can list the index among its inputs (node->in[])
 * and its backward find it again; that header has no data and never
 * requires a gradient.
 */
struct mtl_index {
    mtl_tensor base;
    int64_t *values; /* n values in [0, range), host memory */
    int64_t n, range;
    /*
     * The positions grouped by value, made on first use: positions of value
     * v are order[offsets[v] .. offsets[v + 1]), ascending.
     */
    int64_t *offsets;
    int64_t *order;
    float *inv_count; /* 1 / max(1, count of v), backend memory, on first use */
    int sorted;       /* the values never decrease (order is the identity) */
};

/* The index stored in a node's input slot i. */
static inline const mtl_index *nn_node_index(const mtl_node *node, int i)
{
    return (const mtl_index *)(const void *)node->in[i];
}

static inline const mtl_nn_backend *nn_kernels(const mtl_graph *g)
{
    return g->be->nn;
}

/* Builds the grouping of an index by value (once); MTL_OK or NOMEM recorded in g. */
mtl_status nn_index_group(mtl_graph *g, mtl_index *ix);

/* 1 / max(1, count) per value, made once; NULL (recorded) when out of memory. */
const float *nn_index_inv_count(mtl_graph *g, mtl_index *ix);

/* Whether an op on these inputs must be taped (recording, and one needs a gradient). */
int nn_needs_grad(const mtl_graph *g, int n, mtl_tensor *const *inputs);

/* The gradient accumulator of an input that wants one in this pass, else NULL. */
float *nn_grad(mtl_graph *g, mtl_tensor *t);

/* Scratch of `count` floats in the data arena (forward: kept; backward: until the pass ends). */
float *nn_scratch(mtl_graph *g, int64_t count);

/* A result tensor [d0] or [d0, d1] (d1 <= 0: one dimension); NULL (recorded) on failure. */
mtl_tensor *nn_result(mtl_graph *g, int64_t d0, int64_t d1);

/*
 * Whether the graph's backend has the kernels (a backend that lacks them
 * leaves its table's nn entry NULL); records MTL_ERR_UNSUPPORTED otherwise.
 * The shape checks below make this check first, so every op that checks a
 * shape is covered.
 */
int nn_check_backend(mtl_graph *g, const char *op);

/*
 * Checks that t is a matrix [rows, cols] (rows or cols < 0: any); records
 * "nn: OP: WHAT has shape [..] (expected [r, c])" and returns 0 otherwise.
 */
int nn_check_matrix(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t,
                    int64_t rows, int64_t cols);
/* The same for a vector [n] (n < 0: any length). */
int nn_check_vector(mtl_graph *g, const char *op, const char *what, const mtl_tensor *t, int64_t n);

#endif /* MTL_NN_INTERNAL_H */
