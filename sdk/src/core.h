/*
 * core.h - the layout of tensors, graphs and models, shared by the core's
 * source files (tensor.c, graph.c, ops.c, adam.c).  Internal to libmtl.
 */
#ifndef MTL_CORE_H
#define MTL_CORE_H

#include <stdint.h>

#include "arena.h"
#include "backend.h"
#include "mtl/tensor.h"

/* Internal symbols stay out of libmtl's exported ABI. */
#pragma GCC visibility push(hidden)

typedef enum mtl_tensor_kind {
    MTL_TENSOR_PARAM = 0,  /* owned by a model, with a gradient buffer */
    MTL_TENSOR_BUFFER = 1, /* owned by a model, no gradient */
    MTL_TENSOR_INPUT = 2,  /* made by mtl_graph_input/scalar, writable */
    MTL_TENSOR_RESULT = 3  /* made by an op, read-only */
} mtl_tensor_kind;

struct mtl_tensor {
    float *data; /* backend memory */
    /*
     * The gradient accumulator: a parameter's gradient buffer, a retained
     * tensor's buffer, or scratch of the current backward pass (valid only
     * while `pass` equals the graph's pass).
     */
    float *gacc;
    int64_t numel;
    int64_t shape[MTL_MAX_DIMS];
    uint32_t pass; /* the backward pass that last reached the tensor */
    uint8_t ndim;
    uint8_t kind;          /* an mtl_tensor_kind */
    uint8_t requires_grad; /* a recorded op depends on it through a parameter */
    uint8_t retained;      /* mtl_graph_retain_grad() was called */
    uint8_t view;          /* its values belong to another tensor */
};

/* A parameter or buffer of a model. */
typedef struct mtl_param {
    mtl_tensor t; /* first, so that a tensor of kind PARAM/BUFFER is an mtl_param */
    char *name;
    mtl_role role;
    int task;
    unsigned flags;
} mtl_param;

typedef struct mtl_node mtl_node;

/*
 * Back-propagates one recorded op: dy is the gradient of its output; the
 * function adds the inputs' contributions to their accumulators, obtained
 * with mtl_grad_acc().
 */
typedef void (*mtl_backward_fn)(mtl_graph *g, const mtl_node *node, const float *dy);

/* One recorded op on the tape, in the graph's arena. */
struct mtl_node {
    mtl_node *prev; /* the op recorded before this one */
    mtl_backward_fn backward;
    mtl_tensor *out;
    float p0, p1; /* the op's float constants */
    int32_t op;   /* the backend op enum, when the backward needs it */
    int32_t n_in;
    int64_t index; /* the op's integer constant (select) */
    mtl_tensor *in[];
};

typedef struct mtl_retained {
    struct mtl_retained *next;
    mtl_tensor *t;
} mtl_retained;

/* A gradient accumulator of the current backward pass that is free for reuse. */
typedef struct mtl_free_acc {
    struct mtl_free_acc *next;
    float *mem;
    size_t bytes;
} mtl_free_acc;

struct mtl_graph {
    const mtl_backend *be;
    mtl_arena meta;           /* tensors, nodes: host memory */
    mtl_arena data;           /* tensor values and gradients: backend memory */
    mtl_node *tape;           /* the most recent node */
    mtl_retained *retained;   /* tensors whose gradient is kept */
    mtl_free_acc *free_accs;  /* accumulators whose tensor's producer has run, this pass */
    mtl_free_acc *spare_accs; /* unused records for free_accs (meta memory) */
    uint32_t pass;            /* the current (or last) backward pass, from 1 */
    int recording;
    int backward_nomem; /* an allocation failed in the current backward pass */
    mtl_status status;  /* the first error since the last reset */
    char message[512];  /* its reason */
};

struct mtl_model {
    const mtl_backend *be;
    mtl_param **params;
    size_t n_params, cap_params;
    mtl_param **buffers;
    size_t n_buffers, cap_buffers;
};

/* Records the first error of the step (printf-style); returns NULL. */
mtl_tensor *mtl_graph_fail(mtl_graph *g, mtl_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * The most bytes one tensor (or one scratch buffer) may take.  Far above any
 * memory a machine has, and low enough that sizes derived from it (arena
 * blocks, byte offsets) cannot wrap.
 */
#define MTL_MAX_TENSOR_BYTES ((size_t)1 << 48)

/*
 * The element count of a shape and its size in float32 bytes, each product
 * checked for overflow; 0 with *numel and *bytes unset when a product wraps
 * or the size exceeds MTL_MAX_TENSOR_BYTES.  Dimensions must be positive.
 */
static inline int mtl_shape_size(int ndim, const int64_t *shape, int64_t *numel, size_t *bytes)
{
    int64_t n = 1;
    size_t b;

    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || __builtin_mul_overflow(n, shape[i], &n))
            return 0;
    if (__builtin_mul_overflow((size_t)n, sizeof(float), &b) || b > MTL_MAX_TENSOR_BYTES)
        return 0;
    *numel = n;
    *bytes = b;
    return 1;
}

/* count elements of elem bytes, or SIZE_MAX (which no arena grants) when it wraps. */
static inline size_t mtl_array_bytes(int64_t count, size_t elem)
{
    size_t b;

    if (count < 0 || __builtin_mul_overflow((size_t)count, elem, &b))
        return SIZE_MAX;
    return b;
}

/* Records "graph: shape [..] is too large (expected at most N bytes)"; returns NULL. */
mtl_tensor *mtl_graph_fail_size(mtl_graph *g, const char *fn, int ndim, const int64_t *shape);

/*
 * A tensor header in the graph's arena for the values at `data` (NULL: fresh
 * values in the arena, uninitialised); NULL (recorded) on failure.  The
 * element count of fresh values is recomputed from the shape with overflow
 * checks, so an op whose shape arithmetic wraps fails instead of getting a
 * short buffer.
 */
static inline mtl_tensor *mtl_graph_new_tensor_at(mtl_graph *g, mtl_tensor_kind kind, int ndim,
                                                  const int64_t *shape, int64_t numel, float *data)
{
    mtl_tensor *t;
    size_t bytes;
    uint8_t viewing = data != NULL;

    if (!data) {
        if (!mtl_shape_size(ndim, shape, &numel, &bytes))
            return mtl_graph_fail_size(g, "graph", ndim, shape);
        data = mtl_arena_alloc(&g->data, bytes);
    }
    t = mtl_arena_alloc(&g->meta, sizeof *t);
    if (!t || !data)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "graph: out of memory (%lld elements)",
                              (long long)numel);
    t->data = data;
    t->gacc = NULL;
    t->numel = numel;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->pass = 0;
    t->ndim = (uint8_t)ndim;
    t->kind = (uint8_t)kind;
    t->requires_grad = 0;
    t->retained = 0;
    t->view = viewing;
    return t;
}

/*
 * A new tensor of the given shape in the graph's arena, values uninitialised,
 * its element count computed with overflow checks; NULL (recorded) on failure.
 */
static inline mtl_tensor *mtl_graph_new_shaped(mtl_graph *g, mtl_tensor_kind kind, int ndim,
                                               const int64_t *shape)
{
    return mtl_graph_new_tensor_at(g, kind, ndim, shape, 0, NULL);
}

/* A new tensor in the graph's arena, values uninitialised; NULL (recorded) on failure. */
static inline mtl_tensor *mtl_graph_new_tensor(mtl_graph *g, mtl_tensor_kind kind, int ndim,
                                               const int64_t *shape, int64_t numel)
{
    return mtl_graph_new_tensor_at(g, kind, ndim, shape, numel, NULL);
}

/*
 * Appends a node with n_in inputs (to be filled by the caller) to the tape,
 * producing `out`; NULL (recorded) on failure.
 */
static inline mtl_node *mtl_graph_record(mtl_graph *g, mtl_backward_fn backward, mtl_tensor *out,
                                         int n_in)
{
    mtl_node *n = mtl_arena_alloc(&g->meta, sizeof *n + (size_t)n_in * sizeof n->in[0]);

    if (!n) {
        mtl_graph_fail(g, MTL_ERR_NOMEM, "graph: out of memory for the tape");
        return NULL;
    }
    n->prev = g->tape;
    n->backward = backward;
    n->out = out;
    n->n_in = n_in;
    out->requires_grad = 1;
    g->tape = n;
    return n;
}

/* The slow path of mtl_grad_acc(): the first use of t in this pass. */
float *mtl_grad_acc_first(mtl_graph *g, mtl_tensor *t);

/*
 * The accumulator of t's gradient in the current backward pass, zero-filled
 * scratch on first use; NULL when out of memory (the pass then fails).
 */
static inline float *mtl_grad_acc(mtl_graph *g, mtl_tensor *t)
{
    if (t->kind == MTL_TENSOR_PARAM || t->pass == g->pass)
        return t->gacc;
    return mtl_grad_acc_first(g, t);
}

/*
 * Checks ndim and shape and returns the element count, or -1 with the reason
 * set as "<prefix>: detail".
 */
int64_t mtl_shape_numel(const char *prefix, int ndim, const int64_t *shape);

/* "[3, 4]" into buf. */
const char *mtl_shape_format(const mtl_tensor *t, char *buf, size_t cap);
const char *mtl_shape_format_dims(int ndim, const int64_t *shape, char *buf, size_t cap);

#pragma GCC visibility pop

#endif /* MTL_CORE_H */
