/*
 * Every op of tensor.h against central finite differences in float32, the
 * gradient conventions at the kinks (clamp, abs, relu), broadcasting of a
 * one-element operand, and the exact messages of bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mtl/rng.h"
#include "mtl/tensor.h"

#define MAX_IN 4

/*
 * A test case: an op applied to up to MAX_IN parameters.  The check
 * back-propagates L = sum(w * y) for random weights w (so that every output
 * element gets its own upstream gradient) and compares each parameter's
 * gradient with the central difference of L, computed in double from the
 * op's float32 outputs.
 */
typedef mtl_tensor *(*op_fn)(mtl_graph *g, mtl_tensor **in, const void *ctx);

typedef struct grad_case {
    const char *name;
    int n_in;
    int ndim[MAX_IN];
    int64_t shape[MAX_IN][MTL_MAX_DIMS];
    double lo, hi; /* inputs drawn uniformly in [lo, hi] ... */
    double avoid;  /* ... and at least `avoid` away from every kink */
    double kinks[2];
    int n_kinks;
    op_fn op;
    const void *ctx;
} grad_case;

typedef struct fixture {
    mtl_model *model;
    mtl_graph *g;
    mtl_tensor *in[MAX_IN];
    mtl_tensor *w; /* weights of the loss, an input of y's shape */
    mtl_rng rng;
} fixture;

static int setup(void **state)
{
    static fixture f;

    memset(&f, 0, sizeof f);
    assert_int_equal(mtl_model_create(&f.model), MTL_OK);
    assert_int_equal(mtl_graph_create(&f.g), MTL_OK);
    mtl_rng_seed(&f.rng, 1234, 7);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    mtl_graph_destroy(f->g);
    mtl_model_destroy(f->model);
    return 0;
}

static int near_kink(const grad_case *c, double x)
{
    for (int k = 0; k < c->n_kinks; k++)
        if (fabs(x - c->kinks[k]) < c->avoid)
            return 1;
    return 0;
}

static void make_inputs(fixture *f, const grad_case *c)
{
    mtl_model_destroy(f->model);
    assert_int_equal(mtl_model_create(&f->model), MTL_OK);
    for (int i = 0; i < c->n_in; i++) {
        char name[16];
        float *v;

        snprintf(name, sizeof name, "in%d", i);
        f->in[i] = mtl_model_param(f->model, name, MTL_ROLE_SHARED, -1, 0, c->ndim[i], c->shape[i]);
        assert_non_null(f->in[i]);
        v = mtl_tensor_data(f->in[i]);
        for (int64_t j = 0; j < mtl_tensor_numel(f->in[i]); j++) {
            double x;
            do
                x = c->lo + (c->hi - c->lo) * mtl_rng_uniform(&f->rng);
            while (near_kink(c, x));
            v[j] = (float)x;
        }
    }
}

/* L = sum(w * y) in double from the values of a forward pass without tape. */
static double loss_value(fixture *f, const grad_case *c, const float *w)
{
    mtl_tensor *y;
    const float *yv;
    double sum = 0;

    mtl_graph_reset(f->g);
    mtl_graph_set_recording(f->g, 0);
    y = c->op(f->g, f->in, c->ctx);
    assert_non_null(y);
    yv = mtl_tensor_data(y);
    for (int64_t j = 0; j < mtl_tensor_numel(y); j++)
        sum += (double)w[j] * (double)yv[j];
    return sum;
}

/*
 * Runs the check; returns the worst ratio |numeric - analytic| / tolerance
 * (the check passes below 1) and the largest analytic gradient in *max_grad.
 * With `scale` != 1 the analytic gradients are multiplied by it first, to
 * show that the check catches a wrong derivative.
 */
static double grad_check_ratio(fixture *f, const grad_case *c, double scale, double *max_grad)
{
    float w[4096], grads[MAX_IN][256];
    mtl_tensor *y, *loss;
    int64_t ny;
    float one = 1.0f;
    double worst = 0;

    make_inputs(f, c);

    /* Analytic: one backward pass of sum(w * y). */
    mtl_graph_reset(f->g);
    y = c->op(f->g, f->in, c->ctx);
    assert_non_null(y);
    ny = mtl_tensor_numel(y);
    assert_true(ny <= 4096);
    f->w = mtl_graph_input(f->g, mtl_tensor_ndim(y),
                           (int64_t[]){mtl_tensor_dim(y, 0), mtl_tensor_dim(y, 1),
                                       mtl_tensor_dim(y, 2), mtl_tensor_dim(y, 3),
                                       mtl_tensor_dim(y, 4), mtl_tensor_dim(y, 5)});
    assert_non_null(f->w);
    for (int64_t j = 0; j < ny; j++)
        w[j] = (float)(0.5 + mtl_rng_uniform(&f->rng)) * (j % 2 ? -1.0f : 1.0f);
    assert_int_equal(mtl_tensor_write(f->w, w, (size_t)ny), MTL_OK);
    loss = mtl_sum(f->g, mtl_mul(f->g, y, f->w));
    assert_int_equal(mtl_graph_status(f->g), MTL_OK);
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 1, &loss, &one), MTL_OK);
    for (int i = 0; i < c->n_in; i++) {
        assert_true(mtl_tensor_numel(f->in[i]) <= 256);
        memcpy(grads[i], mtl_tensor_grad(f->in[i]),
               (size_t)mtl_tensor_numel(f->in[i]) * sizeof(float));
    }

    /* Numeric: central differences, relative step 1e-3. */
    *max_grad = 0;
    for (int i = 0; i < c->n_in; i++) {
        float *v = mtl_tensor_data(f->in[i]);
        for (int64_t j = 0; j < mtl_tensor_numel(f->in[i]); j++) {
            float x = v[j];
            double h = 1e-3 * fmax(1.0, fabs(x));
            float xp = (float)(x + h), xm = (float)(x - h);
            double lp, lm, num, ana, tol;

            v[j] = xp;
            lp = loss_value(f, c, w);
            v[j] = xm;
            lm = loss_value(f, c, w);
            v[j] = x;
            num = (lp - lm) / ((double)xp - (double)xm);
            ana = scale * grads[i][j];
            tol = 2e-3 * (1.0 + fabs(num));
            if (fabs(num - ana) / tol > worst)
                worst = fabs(num - ana) / tol;
            if (fabs(ana) > *max_grad)
                *max_grad = fabs(ana);
            if (scale == 1.0 && fabs(num - ana) > tol)
                print_message("%s: input %d element %lld at %g: numeric %.6g, analytic %.6g\n",
                              c->name, i, (long long)j, (double)x, num, ana);
        }
    }
    return worst;
}

static void grad_check(fixture *f, const grad_case *c)
{
    double max_grad;
    double worst = grad_check_ratio(f, c, 1.0, &max_grad);

    assert_true(worst < 1.0);
    /* The check has teeth only if some gradient is far from zero. */
    assert_true(max_grad > 0.05);
}

/* ---- the ops, as op_fn ---------------------------------------------------- */

static mtl_tensor *op_add(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_add(g, in[0], in[1]);
}

static mtl_tensor *op_sub(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_sub(g, in[0], in[1]);
}

static mtl_tensor *op_mul(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_mul(g, in[0], in[1]);
}

static mtl_tensor *op_div(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_div(g, in[0], in[1]);
}

static mtl_tensor *op_add_scalar(mtl_graph *g, mtl_tensor **in, const void *c)
{
    return mtl_add_scalar(g, in[0], *(const float *)c);
}

static mtl_tensor *op_mul_scalar(mtl_graph *g, mtl_tensor **in, const void *c)
{
    return mtl_mul_scalar(g, in[0], *(const float *)c);
}

static mtl_tensor *op_pow_scalar(mtl_graph *g, mtl_tensor **in, const void *c)
{
    return mtl_pow_scalar(g, in[0], *(const float *)c);
}

static mtl_tensor *op_clamp(mtl_graph *g, mtl_tensor **in, const void *c)
{
    const float *b = c;
    return mtl_clamp(g, in[0], b[0], b[1]);
}

typedef mtl_tensor *(*unary_fn)(mtl_graph *, mtl_tensor *);

static mtl_tensor *op_unary(mtl_graph *g, mtl_tensor **in, const void *c)
{
    unary_fn fn;

    memcpy(&fn, c, sizeof fn);
    return fn(g, in[0]);
}

static mtl_tensor *op_sum(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_sum(g, in[0]);
}

static mtl_tensor *op_mean(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_mean(g, in[0]);
}

static mtl_tensor *op_select(mtl_graph *g, mtl_tensor **in, const void *c)
{
    /* Two selections of one tensor, used twice, stacked: both paths add up. */
    mtl_tensor *a = mtl_select(g, in[0], *(const int64_t *)c);
    mtl_tensor *b = mtl_select(g, in[0], 0);
    mtl_tensor *items[3] = {a, b, a};
    return mtl_stack(g, 3, items);
}

static mtl_tensor *op_stack(mtl_graph *g, mtl_tensor **in, const void *c)
{
    mtl_tensor *items[4] = {in[0], in[1], in[0], in[2]};
    (void)c;
    return mtl_stack(g, 4, items);
}

static mtl_tensor *op_reshape(mtl_graph *g, mtl_tensor **in, const void *c)
{
    /* A reshape feeding a shape-sensitive op, so that the order matters. */
    const int64_t shape[2] = {3, 2};
    (void)c;
    return mtl_matmul(g, mtl_reshape(g, in[0], 2, shape), in[1]);
}

static mtl_tensor *op_matmul(mtl_graph *g, mtl_tensor **in, const void *c)
{
    (void)c;
    return mtl_matmul(g, in[0], in[1]);
}

static mtl_tensor *op_matmul_shared(mtl_graph *g, mtl_tensor **in, const void *c)
{
    /* a a^T: both operands are one tensor. */
    const int64_t shape[2] = {3, 4};
    (void)c;
    mtl_tensor *t = mtl_reshape(g, in[0], 2, shape);
    mtl_tensor *tt = mtl_reshape(g, in[1], 2, (int64_t[]){4, 3});
    return mtl_matmul(g, t, mtl_add(g, tt, mtl_reshape(g, in[1], 2, (int64_t[]){4, 3})));
}

/* ---- cases ---------------------------------------------------------------- */

#define SHAPE2(a, b)                                                                               \
    2,                                                                                             \
    {                                                                                              \
        a, b                                                                                       \
    }
#define CASE_1(nm, fn, ctx_, lo_, hi_)                                                             \
    {                                                                                              \
        .name = nm, .n_in = 1, .ndim = {2}, .shape = {{3, 4}}, .lo = lo_, .hi = hi_, .op = fn,     \
        .ctx = ctx_                                                                                \
    }

static void run_unary(void **state, unary_fn fn, const char *name, double lo, double hi,
                      double kink)
{
    grad_case c = CASE_1(name, op_unary, &fn, lo, hi);

    if (!isnan(kink)) {
        c.n_kinks = 1;
        c.kinks[0] = kink;
        c.avoid = 0.05;
    }
    grad_check(*state, &c);
}

static void test_grad_neg(void **state)
{
    run_unary(state, mtl_neg, "neg", -2, 2, NAN);
}

static void test_grad_tanh(void **state)
{
    run_unary(state, mtl_tanh, "tanh", -2, 2, NAN);
}

static void test_grad_exp(void **state)
{
    run_unary(state, mtl_exp, "exp", -2, 1.5, NAN);
}

static void test_grad_log(void **state)
{
    run_unary(state, mtl_log, "log", 0.5, 3, NAN);
}

static void test_grad_sigmoid(void **state)
{
    run_unary(state, mtl_sigmoid, "sigmoid", -3, 3, NAN);
}

static void test_grad_relu(void **state)
{
    run_unary(state, mtl_relu, "relu", -2, 2, 0.0);
}

static void test_grad_abs(void **state)
{
    run_unary(state, mtl_abs, "abs", -2, 2, 0.0);
}

static void test_grad_scalar_ops(void **state)
{
    static const float s = -1.75f;
    grad_case add = CASE_1("add_scalar", op_add_scalar, &s, -2, 2);
    grad_case mul = CASE_1("mul_scalar", op_mul_scalar, &s, -2, 2);

    grad_check(*state, &add);
    grad_check(*state, &mul);
}

static void test_grad_pow_scalar(void **state)
{
    static const float p[] = {2.0f, 3.0f, 0.5f, -0.5f, -1.0f, -2.0f, -1.5f, 1.0f, 2.5f};

    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        /* Non-integer exponents need positive bases. */
        grad_case c = CASE_1("pow_scalar", op_pow_scalar, &p[i], 0.5, 2);
        if (p[i] == 2.0f || p[i] == 3.0f)
            c.lo = -2;
        grad_check(*state, &c);
    }
}

static void test_grad_clamp(void **state)
{
    static const float both[2] = {-0.5f, 0.75f};
    static const float lower[2] = {0.25f, INFINITY};
    static const float upper[2] = {-INFINITY, -0.25f};
    grad_case c = CASE_1("clamp", op_clamp, both, -2, 2);

    c.n_kinks = 2;
    c.avoid = 0.05;
    c.kinks[0] = both[0];
    c.kinks[1] = both[1];
    grad_check(*state, &c);
    c.ctx = lower;
    c.kinks[0] = c.kinks[1] = lower[0];
    grad_check(*state, &c);
    c.ctx = upper;
    c.kinks[0] = c.kinks[1] = upper[1];
    grad_check(*state, &c);
}

static void test_grad_binary(void **state)
{
    op_fn ops[] = {op_add, op_sub, op_mul, op_div};
    const char *names[] = {"add", "sub", "mul", "div"};

    for (int k = 0; k < 4; k++) {
        grad_case same = {.name = names[k],
                          .n_in = 2,
                          .ndim = {2, 2},
                          .shape = {{3, 4}, {3, 4}},
                          .lo = 0.5,
                          .hi = 2,
                          .op = ops[k]};
        grad_case b_one = same, a_one = same, both_one = same;

        grad_check(*state, &same);
        /* A one-element operand is broadcast; its gradient is the sum. */
        b_one.ndim[1] = 0;
        grad_check(*state, &b_one);
        a_one.ndim[0] = 1;
        a_one.shape[0][0] = 1;
        grad_check(*state, &a_one);
        both_one.ndim[0] = 0;
        both_one.ndim[1] = 1;
        both_one.shape[1][0] = 1;
        grad_check(*state, &both_one);
    }
}

static void test_grad_reductions(void **state)
{
    grad_case sum = CASE_1("sum", op_sum, NULL, -2, 2);
    grad_case mean = CASE_1("mean", op_mean, NULL, -2, 2);

    /* mean's gradient is 1/12 per element: weights scale it over the teeth. */
    mean.shape[0][0] = 1;
    mean.shape[0][1] = 4;
    grad_check(*state, &sum);
    grad_check(*state, &mean);
}

static void test_grad_select_stack(void **state)
{
    static const int64_t index = 5;
    grad_case sel = CASE_1("select", op_select, &index, -2, 2);
    grad_case stk = {.name = "stack",
                     .n_in = 3,
                     .ndim = {0, 1, 2},
                     .shape = {{0}, {1}, {1, 1}},
                     .lo = -2,
                     .hi = 2,
                     .op = op_stack};

    grad_check(*state, &sel);
    grad_check(*state, &stk);
}

static void test_grad_reshape_matmul(void **state)
{
    grad_case rs = {.name = "reshape",
                    .n_in = 2,
                    .ndim = {1, 2},
                    .shape = {{6}, {2, 5}},
                    .lo = -2,
                    .hi = 2,
                    .op = op_reshape};
    grad_case mm = {.name = "matmul",
                    .n_in = 2,
                    .ndim = {2, 2},
                    .shape = {{3, 4}, {4, 5}},
                    .lo = -2,
                    .hi = 2,
                    .op = op_matmul};
    grad_case shared = {.name = "matmul_shared",
                        .n_in = 2,
                        .ndim = {1, 1},
                        .shape = {{12}, {12}},
                        .lo = -2,
                        .hi = 2,
                        .op = op_matmul_shared};
    grad_case vec = {.name = "matmul_vec",
                     .n_in = 2,
                     .ndim = {2, 2},
                     .shape = {{1, 7}, {7, 1}},
                     .lo = -2,
                     .hi = 2,
                     .op = op_matmul};

    grad_check(*state, &rs);
    grad_check(*state, &mm);
    grad_check(*state, &shared);
    grad_check(*state, &vec);
}

/* The check must reject a derivative off by a factor of 2 (or 1/2). */
static void test_grad_check_has_teeth(void **state)
{
    grad_case c = CASE_1("tanh", op_unary, NULL, -2, 2);
    unary_fn fn = mtl_tanh;
    double max_grad;

    c.ctx = &fn;
    assert_true(grad_check_ratio(*state, &c, 2.0, &max_grad) > 1.0);
    assert_true(grad_check_ratio(*state, &c, 0.5, &max_grad) > 1.0);
    assert_true(grad_check_ratio(*state, &c, 1.0, &max_grad) < 1.0);
}

/* ---- conventions at the kinks ------------------------------------------- */

/* Gradients of y = op(x) at given points, one backward pass of sum(y). */
static void point_grads(fixture *f, unary_fn fn, const float *x, int n, float *grad)
{
    int64_t shape[1] = {n};
    mtl_tensor *p, *loss;
    float one = 1.0f;

    mtl_model_destroy(f->model);
    assert_int_equal(mtl_model_create(&f->model), MTL_OK);
    p = mtl_model_param(f->model, "x", MTL_ROLE_SHARED, -1, 0, 1, shape);
    assert_int_equal(mtl_tensor_write(p, x, (size_t)n), MTL_OK);
    mtl_graph_reset(f->g);
    loss = mtl_sum(f->g, fn(f->g, p));
    assert_int_equal(mtl_graph_backward(f->g, 1, &loss, &one), MTL_OK);
    memcpy(grad, mtl_tensor_grad(p), (size_t)n * sizeof(float));
}

static mtl_tensor *clamp_0_1(mtl_graph *g, mtl_tensor *a)
{
    return mtl_clamp(g, a, 0.0f, 1.0f);
}

static mtl_tensor *clamp_lower(mtl_graph *g, mtl_tensor *a)
{
    return mtl_clamp(g, a, 0.0f, INFINITY);
}

static mtl_tensor *pow0(mtl_graph *g, mtl_tensor *a)
{
    return mtl_pow_scalar(g, a, 0.0f);
}

static void test_clamp_bounds_pass_gradient(void **state)
{
    const float x[5] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
    const float expect[5] = {0, 1, 1, 1, 0};
    float grad[5];

    point_grads(*state, clamp_0_1, x, 5, grad);
    for (int i = 0; i < 5; i++)
        assert_true(grad[i] == expect[i]);

    /* The toy's max(tanh(x2 / 2), 0) at x2 = 0 must move (REFERENCE.md). */
    point_grads(*state, clamp_lower, x, 5, grad);
    assert_true(grad[0] == 0.0f && grad[1] == 1.0f && grad[4] == 1.0f);
}

static void test_clamp_values(void **state)
{
    fixture *f = *state;
    const float x[5] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
    const float expect[5] = {0, 0, 0.5f, 1, 1};
    mtl_tensor *in, *y;

    mtl_graph_reset(f->g);
    in = mtl_graph_input(f->g, 1, (int64_t[]){5});
    assert_int_equal(mtl_tensor_write(in, x, 5), MTL_OK);
    y = clamp_0_1(f->g, in);
    for (int i = 0; i < 5; i++)
        assert_true(mtl_tensor_data(y)[i] == expect[i]);
}

static void test_abs_relu_at_zero(void **state)
{
    const float x[3] = {-2.0f, 0.0f, 3.0f};
    float grad[3];

    point_grads(*state, mtl_abs, x, 3, grad);
    assert_true(grad[0] == -1.0f && grad[1] == 0.0f && grad[2] == 1.0f);
    point_grads(*state, mtl_relu, x, 3, grad);
    assert_true(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 1.0f);
}

static void test_pow_zero_exponent(void **state)
{
    const float x[3] = {-2.0f, 0.0f, 3.0f};
    float grad[3];

    /* PyTorch: x^0 = 1 and its gradient is exactly 0, even at 0. */
    point_grads(*state, pow0, x, 3, grad);
    assert_true(grad[0] == 0.0f && grad[1] == 0.0f && grad[2] == 0.0f);
}

/* ---- broadcasting --------------------------------------------------------- */

static void test_broadcast_shapes_and_grads(void **state)
{
    fixture *f = *state;
    mtl_tensor *a, *s, *y, *loss;
    const float av[6] = {1, 2, 3, 4, 5, 6};
    const float sv = 2.0f, one = 1.0f;

    mtl_model_destroy(f->model);
    assert_int_equal(mtl_model_create(&f->model), MTL_OK);
    a = mtl_model_param(f->model, "a", MTL_ROLE_SHARED, -1, 0, 2, (int64_t[]){2, 3});
    s = mtl_model_param(f->model, "s", MTL_ROLE_SHARED, -1, 0, 0, NULL);
    mtl_tensor_write(a, av, 6);
    mtl_tensor_write(s, &sv, 1);
    mtl_graph_reset(f->g);

    /* s - a: the result takes a's shape, s's gradient is sum(dy). */
    y = mtl_sub(f->g, s, a);
    assert_int_equal(mtl_tensor_ndim(y), 2);
    assert_int_equal(mtl_tensor_dim(y, 0), 2);
    assert_int_equal(mtl_tensor_dim(y, -1), 3);
    assert_true(mtl_tensor_data(y)[5] == -4.0f);
    loss = mtl_sum(f->g, y);
    assert_int_equal(mtl_graph_backward(f->g, 1, &loss, &one), MTL_OK);
    assert_true(mtl_tensor_grad(s)[0] == 6.0f);
    assert_true(mtl_tensor_grad(a)[0] == -1.0f);

    /* a * s: s's gradient is sum(a) = 21. */
    mtl_model_zero_grad(f->model);
    loss = mtl_sum(f->g, mtl_mul(f->g, a, s));
    assert_int_equal(mtl_graph_backward(f->g, 1, &loss, &one), MTL_OK);
    assert_true(mtl_tensor_grad(s)[0] == 21.0f);
    assert_true(mtl_tensor_grad(a)[4] == 2.0f);

    /* One-element operands of different shapes: the result has more dimensions. */
    y = mtl_add(f->g, s, mtl_reshape(f->g, s, 2, (int64_t[]){1, 1}));
    assert_int_equal(mtl_tensor_ndim(y), 2);
    assert_true(mtl_tensor_item(y) == 4.0f);
}

/* ---- errors --------------------------------------------------------------- */

static void assert_fails(mtl_graph *g, mtl_tensor *result, mtl_status status, const char *msg)
{
    assert_null(result);
    assert_int_equal(mtl_graph_status(g), status);
    assert_string_equal(mtl_error_message(), msg);
    mtl_graph_reset(g);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
}

static void test_error_messages(void **state)
{
    fixture *f = *state;
    mtl_graph *g = f->g;
    mtl_tensor *a, *b, *items[2];

    mtl_graph_reset(g);
    a = mtl_graph_input(g, 2, (int64_t[]){3, 4});
    b = mtl_graph_input(g, 2, (int64_t[]){3, 5});
    assert_fails(g, mtl_add(g, a, b), MTL_ERR_INVALID,
                 "tensor: mtl_add: shapes differ (expected [3, 4], got [3, 5])");

    a = mtl_graph_input(g, 1, (int64_t[]){2});
    b = mtl_graph_input(g, 2, (int64_t[]){1, 2});
    assert_fails(g, mtl_div(g, a, b), MTL_ERR_INVALID,
                 "tensor: mtl_div: shapes differ (expected [2], got [1, 2])");

    assert_fails(g, mtl_tanh(g, NULL), MTL_ERR_INVALID, "tensor: mtl_tanh: operand 1 is NULL");

    a = mtl_graph_input(g, 1, (int64_t[]){4});
    assert_fails(g, mtl_select(g, a, 4), MTL_ERR_INVALID,
                 "tensor: mtl_select: index out of range (expected 0 <= i < 4, got 4)");
    a = mtl_graph_input(g, 1, (int64_t[]){4});
    assert_fails(g, mtl_select(g, a, -1), MTL_ERR_INVALID,
                 "tensor: mtl_select: index out of range (expected 0 <= i < 4, got -1)");

    items[0] = mtl_graph_scalar(g, 1.0f);
    items[1] = mtl_graph_input(g, 1, (int64_t[]){3});
    assert_fails(g, mtl_stack(g, 2, items), MTL_ERR_INVALID,
                 "tensor: mtl_stack: item 1 is not a one-element tensor (expected 1 element, "
                 "got 3)");
    assert_fails(g, mtl_stack(g, 0, items), MTL_ERR_INVALID,
                 "tensor: mtl_stack: no items (expected n >= 1 and an array of them, got n = 0)");
    assert_fails(g, mtl_stack(g, 2, NULL), MTL_ERR_INVALID,
                 "tensor: mtl_stack: no items (expected n >= 1 and an array of them, got n = 2 "
                 "and NULL)");

    a = mtl_graph_input(g, 2, (int64_t[]){2, 3});
    assert_fails(g, mtl_reshape(g, a, 1, (int64_t[]){5}), MTL_ERR_INVALID,
                 "tensor: mtl_reshape: element count differs (expected 6, got 5)");
    a = mtl_graph_input(g, 2, (int64_t[]){2, 3});
    assert_fails(g, mtl_reshape(g, a, 2, (int64_t[]){-2, -3}), MTL_ERR_INVALID,
                 "tensor: mtl_reshape: dimension 0 is not positive (got -2)");
    a = mtl_graph_input(g, 2, (int64_t[]){2, 3});
    assert_fails(g, mtl_reshape(g, a, 7, (int64_t[]){1, 1, 1, 1, 1, 2, 3}), MTL_ERR_INVALID,
                 "tensor: mtl_reshape: bad number of dimensions (expected 0 to 6, got 7)");

    a = mtl_graph_input(g, 2, (int64_t[]){4, 5});
    b = mtl_graph_input(g, 2, (int64_t[]){6, 3});
    assert_fails(g, mtl_matmul(g, a, b), MTL_ERR_INVALID,
                 "tensor: mtl_matmul: inner dimensions differ (expected [5, 3], got [6, 3])");
    a = mtl_graph_input(g, 1, (int64_t[]){4});
    b = mtl_graph_input(g, 2, (int64_t[]){4, 3});
    assert_fails(g, mtl_matmul(g, a, b), MTL_ERR_INVALID,
                 "tensor: mtl_matmul: operands are not matrices (expected 2-D and 2-D, got 1-D "
                 "and 2-D)");

    a = mtl_graph_input(g, 1, (int64_t[]){4});
    assert_fails(g, mtl_clamp(g, a, 1.0f, 0.0f), MTL_ERR_INVALID,
                 "tensor: mtl_clamp: bounds out of order (expected lo <= hi, got lo = 1, hi = "
                 "0)");

    assert_fails(g, mtl_graph_input(g, 2, (int64_t[]){3, 0}), MTL_ERR_INVALID,
                 "graph: mtl_graph_input: dimension 1 is not positive (got 0)");
}

/* Element and byte counts that wrap are refused, never turned into a short buffer. */
static void test_sizes_that_overflow(void **state)
{
    fixture *f = *state;
    mtl_graph *g = f->g;
    mtl_model *m = NULL;

    mtl_graph_reset(g);
    assert_fails(g, mtl_graph_input(g, 2, (int64_t[]){2147483648, 2147483648}), MTL_ERR_INVALID,
                 "graph: mtl_graph_input: shape [2147483648, 2147483648] is too large (expected "
                 "at most 281474976710656 bytes)");
    assert_fails(g, mtl_graph_input(g, 2, (int64_t[]){INT64_MAX / 2 + 1, 3}), MTL_ERR_INVALID,
                 "graph: mtl_graph_input: shape [4611686018427387904, 3] is too large (expected "
                 "at most 281474976710656 bytes)");
    assert_fails(g, mtl_graph_input(g, 1, (int64_t[]){((int64_t)1 << 46) + 1}), MTL_ERR_INVALID,
                 "graph: mtl_graph_input: shape [70368744177665] is too large (expected at most "
                 "281474976710656 bytes)");

    assert_int_equal(mtl_model_create(&m), MTL_OK);
    assert_null(
        mtl_model_param(m, "w", MTL_ROLE_SHARED, -1, 0, 3, (int64_t[]){1 << 20, 1 << 20, 1 << 20}));
    assert_string_equal(mtl_error_message(),
                        "model: mtl_model_param: 'w': shape [1048576, 1048576, 1048576] is too "
                        "large (expected at most 281474976710656 bytes)");
    mtl_model_destroy(m);
}

static void test_errors_are_sticky(void **state)
{
    fixture *f = *state;
    mtl_graph *g = f->g;
    mtl_tensor *a, *b, *bad, *later;

    mtl_graph_reset(g);
    a = mtl_graph_input(g, 1, (int64_t[]){3});
    b = mtl_graph_input(g, 1, (int64_t[]){2});
    bad = mtl_mul(g, a, b);
    assert_null(bad);

    /* Later ops on the NULL return NULL and keep the first error ... */
    later = mtl_exp(g, mtl_add(g, bad, a));
    assert_null(later);
    assert_null(mtl_sum(g, later));
    /* ... and so does a second, different error. */
    assert_null(mtl_select(g, a, 99));
    mtl_error_set(MTL_ERR_IO, "something else");
    assert_int_equal(mtl_graph_status(g), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "tensor: mtl_mul: shapes differ (expected [3], got [2])");

    /* Valid ops still compute. */
    assert_non_null(mtl_neg(g, a));

    /* NULL graphs give NULL and never crash. */
    assert_null(mtl_add(NULL, a, a));
    assert_null(mtl_graph_input(NULL, 1, (int64_t[]){2}));
    assert_null(mtl_stack(NULL, 1, &a));

    mtl_graph_reset(g);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_neg),
        cmocka_unit_test(test_grad_tanh),
        cmocka_unit_test(test_grad_exp),
        cmocka_unit_test(test_grad_log),
        cmocka_unit_test(test_grad_sigmoid),
        cmocka_unit_test(test_grad_relu),
        cmocka_unit_test(test_grad_abs),
        cmocka_unit_test(test_grad_scalar_ops),
        cmocka_unit_test(test_grad_pow_scalar),
        cmocka_unit_test(test_grad_clamp),
        cmocka_unit_test(test_grad_binary),
        cmocka_unit_test(test_grad_reductions),
        cmocka_unit_test(test_grad_select_stack),
        cmocka_unit_test(test_grad_reshape_matmul),
        cmocka_unit_test(test_grad_check_has_teeth),
        cmocka_unit_test(test_clamp_bounds_pass_gradient),
        cmocka_unit_test(test_clamp_values),
        cmocka_unit_test(test_abs_relu_at_zero),
        cmocka_unit_test(test_pow_zero_exponent),
        cmocka_unit_test(test_broadcast_shapes_and_grads),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_sizes_that_overflow),
        cmocka_unit_test(test_errors_are_sticky),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
