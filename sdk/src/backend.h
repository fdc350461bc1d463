/*
 * backend.h - the table of operations a backend (CPU, CUDA, ...) fills.
 *
 * Internal to libmtl.  The core (graph, autograd, op front-ends, Adam) only
 * ever calls through this table and never asks which backend it runs on:
 * adding a backend means filling one more table, nothing in the core.
 *
 * Conventions shared by every entry:
 *   - pointers are backend memory (host memory for the CPU backend; device
 *     memory for CUDA), obtained from mem_alloc() or from a graph arena whose
 *     blocks come from mem_alloc();
 *   - counts are element counts of float32 values;
 *   - "_backward" entries ACCUMULATE (dx += ...), never overwrite, so several
 *     consumers of one tensor and several backward passes add up;
 *   - a stride of 0 for an operand of a binary op means "the single element
 *     broadcast to all n", 1 means contiguous; the gradient of a broadcast
 *     operand is the sum over the n elements.
 */
#ifndef MTL_BACKEND_H
#define MTL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Internal symbols stay out of libmtl's exported ABI. */
#pragma GCC visibility push(hidden)

/* Elementwise ops of one operand; p0 and p1 are the op's constants. */
typedef enum mtl_unary_op {
    MTL_UNARY_NEG = 0,
    MTL_UNARY_TANH,
    MTL_UNARY_EXP,
    MTL_UNARY_LOG,
    MTL_UNARY_SIGMOID,
    MTL_UNARY_RELU,
    MTL_UNARY_ABS,        /* gradient 0 at 0 */
    MTL_UNARY_ADD_SCALAR, /* x + p0 */
    MTL_UNARY_MUL_SCALAR, /* x * p0 */
    MTL_UNARY_POW_SCALAR, /* x ^ p0 */
    MTL_UNARY_CLAMP,      /* min(max(x, p0), p1); gradient where p0 <= x <= p1 */
    MTL_UNARY_COUNT
} mtl_unary_op;

/* Elementwise ops of two operands. */
typedef enum mtl_binary_op {
    MTL_BINARY_ADD = 0,
    MTL_BINARY_SUB,
    MTL_BINARY_MUL,
    MTL_BINARY_DIV,
    MTL_BINARY_COUNT
} mtl_binary_op;

/* Reductions of all n elements to one. */
typedef enum mtl_reduce_op { MTL_REDUCE_SUM = 0, MTL_REDUCE_MEAN, MTL_REDUCE_COUNT } mtl_reduce_op;

/* The per-step constants of one Adam update (see adam.c for their meaning). */
typedef struct mtl_adam_coef {
    float beta1, beta2;
    float one_minus_beta1, one_minus_beta2;
    float step_size;             /* lr / (1 - beta1^t) */
    float bias_correction2_sqrt; /* sqrt(1 - beta2^t) */
    float eps;
    float weight_decay;
} mtl_adam_coef;

typedef struct mtl_backend {
    const char *name;
    /* Nonzero when backend memory is host memory (mtl_tensor_data works). */
    int host_visible;

    /* ---- memory -------------------------------------------------------- */
    void *(*mem_alloc)(size_t bytes); /* NULL on failure */
    void (*mem_free)(void *p);
    void (*to_host)(float *host_dst, const float *src, size_t n);
    void (*from_host)(float *dst, const float *host_src, size_t n);

    /* ---- copies and fills ---------------------------------------------- */
    void (*copy)(int64_t n, const float *src, float *dst);
    void (*fill)(int64_t n, float value, float *dst);
    /* y += c (the seed of a backward pass) */
    void (*add_constant)(int64_t n, float c, float *y);
    /* y += alpha * x */
    void (*axpy)(int64_t n, float alpha, const float *x, float *y);

    /* ---- elementwise ---------------------------------------------------- */
    void (*unary)(mtl_unary_op op, int64_t n, const float *x, float *y, float p0, float p1);
    /* dx += dy * dy/dx, from the input x and the output y of the forward */
    void (*unary_backward)(mtl_unary_op op, int64_t n, const float *x, const float *y,
                           const float *dy, float *dx, float p0, float p1);
    void (*binary)(mtl_binary_op op, int64_t n, const float *a, int64_t stride_a, const float *b,
                   int64_t stride_b, float *y);
    /* da += dy * dy/da and db += dy * dy/db; da or db may be NULL (not needed) */
    void (*binary_backward)(mtl_binary_op op, int64_t n, const float *a, int64_t stride_a,
                            const float *b, int64_t stride_b, const float *y, const float *dy,
                            float *da, float *db);

    /* ---- reductions ----------------------------------------------------- */
    void (*reduce)(mtl_reduce_op op, int64_t n, const float *x, float *y);
    /* dx[i] += dy[0] * d(reduce)/dx[i] */
    void (*reduce_backward)(mtl_reduce_op op, int64_t n, const float *dy, float *dx);

    /* ---- linear algebra ------------------------------------------------- */
    /*
     * C = alpha op(A) op(B) + beta C, row-major, op(X) = X or X^T; C is m x n,
     * op(A) m x k, op(B) k x n (cblas_sgemm's contract).
     */
    void (*gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

    /* ---- optimizers ----------------------------------------------------- */
    /* One Adam update of n parameters p with gradients g and moments m, v. */
    void (*adam)(int64_t n, float *p, const float *g, float *m, float *v,
                 const mtl_adam_coef *coef);

    /* ---- graph-network ops (mtl/nn.h) ------------------------------------ */
    /* The kernels of nn_backend.h. */
    const struct mtl_nn_backend *nn;

    /* ---- convolutional ops (mtl/conv.h) ---------------------------------- */
    /* The kernels of conv_backend.h. */
    const struct mtl_conv_backend *conv;
} mtl_backend;

/* The CPU backend (sdk/src/cpu/). */
extern const mtl_backend mtl_cpu_backend;

/* The backend new models and graphs use. */
const mtl_backend *mtl_backend_default(void);

#pragma GCC visibility pop

#endif /* MTL_BACKEND_H */
