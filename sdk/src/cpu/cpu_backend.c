/*
 * The CPU backend: plain loops for elementwise ops and reductions, OpenBLAS
 * for matrix products.  It is the oracle other backends are compared with,
 * so the gradient rules here are the reference ones (PyTorch's).
 */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../backend.h"
#include "../conv_backend.h"
#include "../nn_backend.h"

static void *cpu_mem_alloc(size_t bytes)
{
    void *p = NULL;

    /* 64-byte alignment suits AVX-512 loads; never ask for 0 bytes. */
    bytes = (bytes + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0)
        return NULL;
    return p;
}

static void cpu_mem_free(void *p)
{
    free(p);
}

static void cpu_to_host(float *dst, const float *src, size_t n)
{
    if (n)
        memmove(dst, src, n * sizeof *dst);
}

static void cpu_copy(int64_t n, const float *src, float *dst)
{
    if (n > 0)
        memmove(dst, src, (size_t)n * sizeof *dst);
}

static void cpu_fill(int64_t n, float value, float *dst)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = value;
}

static void cpu_add_constant(int64_t n, float c, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += c;
}

static void cpu_axpy(int64_t n, float alpha, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

/* ---- elementwise, one operand ------------------------------------------ */

/* x^p with PyTorch's special cases, so that results match it bit for bit. */
static float pow_value(float x, float p)
{
    if (p == 2.0f)
        return x * x;
    if (p == 3.0f)
        return x * x * x;
    if (p == 1.0f)
        return x;
    if (p == 0.5f)
        return sqrtf(x);
    if (p == -0.5f)
        return 1.0f / sqrtf(x);
    if (p == -1.0f)
        return 1.0f / x;
    if (p == -2.0f)
        return 1.0f / (x * x);
    return powf(x, p);
}

static void cpu_unary(mtl_unary_op op, int64_t n, const float *x, float *y, float p0, float p1)
{
    int64_t i;

    switch (op) {
    case MTL_UNARY_NEG:
        for (i = 0; i < n; i++)
            y[i] = -x[i];
        break;
    case MTL_UNARY_TANH:
        for (i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case MTL_UNARY_EXP:
        for (i = 0; i < n; i++)
            y[i] = expf(x[i]);
        break;
    case MTL_UNARY_LOG:
        for (i = 0; i < n; i++)
            y[i] = logf(x[i]);
        break;
    case MTL_UNARY_SIGMOID:
        for (i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case MTL_UNARY_RELU:
        for (i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case MTL_UNARY_ABS:
        for (i = 0; i < n; i++)
            y[i] = fabsf(x[i]);
        break;
    case MTL_UNARY_ADD_SCALAR:
        for (i = 0; i < n; i++)
            y[i] = x[i] + p0;
        break;
    case MTL_UNARY_MUL_SCALAR:
        for (i = 0; i < n; i++)
            y[i] = x[i] * p0;
        break;
    case MTL_UNARY_POW_SCALAR:
        for (i = 0; i < n; i++)
            y[i] = pow_value(x[i], p0);
        break;
    case MTL_UNARY_CLAMP:
        /* NaN stays NaN, as in PyTorch. */
        for (i = 0; i < n; i++)
            y[i] = x[i] < p0 ? p0 : (x[i] > p1 ? p1 : x[i]);
        break;
    case MTL_UNARY_COUNT:
        break;
    }
}

static void cpu_unary_backward(mtl_unary_op op, int64_t n, const float *x, const float *y,
                               const float *dy, float *dx, float p0, float p1)
{
    int64_t i;

    switch (op) {
    case MTL_UNARY_NEG:
        for (i = 0; i < n; i++)
            dx[i] -= dy[i];
        break;
    case MTL_UNARY_TANH:
        for (i = 0; i < n; i++)
            dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case MTL_UNARY_EXP:
        for (i = 0; i < n; i++)
            dx[i] += dy[i] * y[i];
        break;
    case MTL_UNARY_LOG:
        for (i = 0; i < n; i++)
            dx[i] += dy[i] / x[i];
        break;
    case MTL_UNARY_SIGMOID:
        for (i = 0; i < n; i++)
            dx[i] += dy[i] * (1.0f - y[i]) * y[i];
        break;
    case MTL_UNARY_RELU:
        for (i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case MTL_UNARY_ABS:
        /* sign(x), with sign(0) = 0 */
        for (i = 0; i < n; i++)
            dx[i] += x[i] > 0.0f ? dy[i] : (x[i] < 0.0f ? -dy[i] : 0.0f);
        break;
    case MTL_UNARY_ADD_SCALAR:
        for (i = 0; i < n; i++)
            dx[i] += dy[i];
        break;
    case MTL_UNARY_MUL_SCALAR:
        for (i = 0; i < n; i++)
            dx[i] += dy[i] * p0;
        break;
    case MTL_UNARY_POW_SCALAR:
        /* PyTorch: p x^(p-1), and exactly 0 for p = 0 */
        if (p0 == 0.0f)
            break;
        for (i = 0; i < n; i++)
            dx[i] += dy[i] * (p0 * pow_value(x[i], p0 - 1.0f));
        break;
    case MTL_UNARY_CLAMP:
        /* PyTorch's rule: the gradient passes where lo <= x <= hi, bounds included */
        for (i = 0; i < n; i++)
            dx[i] += x[i] >= p0 && x[i] <= p1 ? dy[i] : 0.0f;
        break;
    case MTL_UNARY_COUNT:
        break;
    }
}

/* ---- elementwise, two operands ----------------------------------------- */

static void cpu_binary(mtl_binary_op op, int64_t n, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *y)
{
    int64_t i;

    switch (op) {
    case MTL_BINARY_ADD:
        for (i = 0; i < n; i++)
            y[i] = a[i * sa] + b[i * sb];
        break;
    case MTL_BINARY_SUB:
        for (i = 0; i < n; i++)
            y[i] = a[i * sa] - b[i * sb];
        break;
    case MTL_BINARY_MUL:
        for (i = 0; i < n; i++)
            y[i] = a[i * sa] * b[i * sb];
        break;
    case MTL_BINARY_DIV:
        for (i = 0; i < n; i++)
            y[i] = a[i * sa] / b[i * sb];
        break;
    case MTL_BINARY_COUNT:
        break;
    }
}

/*
 * The partial derivatives of y = a op b, times dy, at element i.  A broadcast
 * operand (stride 0) receives the sum over i.
 */
static void cpu_binary_backward(mtl_binary_op op, int64_t n, const float *a, int64_t sa,
                                const float *b, int64_t sb, const float *y, const float *dy,
                                float *da, float *db)
{
    (void)y;
    for (int64_t i = 0; i < n; i++) {
        float av = a[i * sa], bv = b[i * sb], g = dy[i];
        float ga, gb;

        switch (op) {
        case MTL_BINARY_ADD:
            ga = g;
            gb = g;
            break;
        case MTL_BINARY_SUB:
            ga = g;
            gb = -g;
            break;
        case MTL_BINARY_MUL:
            ga = g * bv;
            gb = g * av;
            break;
        case MTL_BINARY_DIV:
            /* PyTorch: da = g / b, db = -g * ((a / b) / b) */
            ga = g / bv;
            gb = -g * ((av / bv) / bv);
            break;
        default:
            ga = gb = 0.0f;
            break;
        }
        if (da)
            da[i * sa] += ga;
        if (db)
            db[i * sb] += gb;
    }
}

/* ---- reductions --------------------------------------------------------- */

static void cpu_reduce(mtl_reduce_op op, int64_t n, const float *x, float *y)
{
    /* Accumulated in double: exact enough for any batch we sum. */
    double s = 0.0;

    for (int64_t i = 0; i < n; i++)
        s += x[i];
    if (op == MTL_REDUCE_MEAN)
        s /= (double)n;
    y[0] = (float)s;
}

static void cpu_reduce_backward(mtl_reduce_op op, int64_t n, const float *dy, float *dx)
{
    float g = op == MTL_REDUCE_MEAN ? dy[0] / (float)n : dy[0];

    for (int64_t i = 0; i < n; i++)
        dx[i] += g;
}

/* ---- linear algebra ----------------------------------------------------- */

static void cpu_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                     int64_t ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

/* ---- optimizers --------------------------------------------------------- */

/* torch.optim.Adam's single-tensor update, in float32 as PyTorch does it. */
static void cpu_adam(int64_t n, float *p, const float *g, float *m, float *v,
                     const mtl_adam_coef *c)
{
    for (int64_t i = 0; i < n; i++) {
        float grad = g[i];
        float denom;

        if (c->weight_decay != 0.0f)
            grad += c->weight_decay * p[i];
        m[i] = m[i] * c->beta1 + c->one_minus_beta1 * grad;
        v[i] = v[i] * c->beta2 + c->one_minus_beta2 * grad * grad;
        denom = sqrtf(v[i]) / c->bias_correction2_sqrt + c->eps;
        p[i] += -c->step_size * (m[i] / denom);
    }
}

const mtl_backend mtl_cpu_backend = {
    .name = "cpu",
    .host_visible = 1,
    .mem_alloc = cpu_mem_alloc,
    .mem_free = cpu_mem_free,
    .to_host = cpu_to_host,
    .from_host = cpu_to_host,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .add_constant = cpu_add_constant,
    .axpy = cpu_axpy,
    .unary = cpu_unary,
    .unary_backward = cpu_unary_backward,
    .binary = cpu_binary,
    .binary_backward = cpu_binary_backward,
    .reduce = cpu_reduce,
    .reduce_backward = cpu_reduce_backward,
    .gemm = cpu_gemm,
    .adam = cpu_adam,
    .nn = &mtl_cpu_nn_backend,
    .conv = &mtl_cpu_conv_backend,
};
