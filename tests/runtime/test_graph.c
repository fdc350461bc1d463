/*
 * Autograd and graph behaviour: several backward passes on one tape
 * (accumulating into parameters), one-hot seeds per task, retained
 * gradients, recording off, the arena's steady state and consolidation,
 * the reuse of gradient accumulators within a pass, models and tensor
 * accessors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mtl/tensor.h"

typedef struct fixture {
    mtl_model *model;
    mtl_graph *g;
    mtl_tensor *x, *w; /* x [2] shared, w [2] head of task 1 */
} fixture;

static int setup(void **state)
{
    static fixture f;
    const float xv[2] = {0.5f, -1.25f}, wv[2] = {2.0f, 3.0f};

    memset(&f, 0, sizeof f);
    assert_int_equal(mtl_model_create(&f.model), MTL_OK);
    assert_int_equal(mtl_graph_create(&f.g), MTL_OK);
    f.x = mtl_model_param(f.model, "x", MTL_ROLE_SHARED, -1, MTL_PARAM_LAST_SHARED, 1,
                          (int64_t[]){2});
    f.w = mtl_model_param(f.model, "head1.w", MTL_ROLE_TASK, 1, 0, 1, (int64_t[]){2});
    assert_non_null(f.x);
    assert_non_null(f.w);
    assert_int_equal(mtl_tensor_write(f.x, xv, 2), MTL_OK);
    assert_int_equal(mtl_tensor_write(f.w, wv, 2), MTL_OK);
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

/*
 * Two losses of a shared representation r = tanh(x):
 *   l0 = sum(r^2),  l1 = sum(r * w)
 * d l0/dx = 2 r (1 - r^2);  d l1/dx = w (1 - r^2);  d l1/dw = r.
 */
static void forward(fixture *f, mtl_tensor **rep, mtl_tensor **losses)
{
    mtl_graph_reset(f->g);
    *rep = mtl_tanh(f->g, f->x);
    losses[0] = mtl_sum(f->g, mtl_pow_scalar(f->g, *rep, 2.0f));
    losses[1] = mtl_sum(f->g, mtl_mul(f->g, *rep, f->w));
    assert_int_equal(mtl_graph_status(f->g), MTL_OK);
}

static void expected(const fixture *f, float dl0dx[2], float dl1dx[2], float dl1dw[2])
{
    const float *x = mtl_tensor_data(f->x), *w = mtl_tensor_data(f->w);

    for (int i = 0; i < 2; i++) {
        float r = tanhf(x[i]);
        dl0dx[i] = 2.0f * r * (1.0f - r * r);
        dl1dx[i] = w[i] * (1.0f - r * r);
        dl1dw[i] = r;
    }
}

static void assert_close(const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++)
        assert_true(fabsf(got[i] - want[i]) <= 1e-6f * (1.0f + fabsf(want[i])));
}

static void test_one_hot_passes(void **state)
{
    fixture *f = *state;
    mtl_tensor *rep, *l[2];
    float e0[2], e1[2], ew[2], zero[2] = {0, 0};
    const float seed0[2] = {1, 0}, seed1[2] = {0, 1};

    forward(f, &rep, l);
    expected(f, e0, e1, ew);

    /* One pass per task on one forward, gradients zeroed in between. */
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seed0), MTL_OK);
    assert_close(mtl_tensor_grad(f->x), e0, 2);
    assert_close(mtl_tensor_grad(f->w), zero, 2);

    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seed1), MTL_OK);
    assert_close(mtl_tensor_grad(f->x), e1, 2);
    assert_close(mtl_tensor_grad(f->w), ew, 2);
}

static void test_backward_twice_accumulates(void **state)
{
    fixture *f = *state;
    mtl_tensor *rep, *l[2];
    const float seeds[2] = {0.5f, -2.0f};
    float once_x[2], once_w[2];

    forward(f, &rep, l);
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seeds), MTL_OK);
    memcpy(once_x, mtl_tensor_grad(f->x), sizeof once_x);
    memcpy(once_w, mtl_tensor_grad(f->w), sizeof once_w);

    /* The tape survives: the same pass again doubles the gradients exactly. */
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seeds), MTL_OK);
    for (int i = 0; i < 2; i++) {
        assert_true(mtl_tensor_grad(f->x)[i] == 2.0f * once_x[i]);
        assert_true(mtl_tensor_grad(f->w)[i] == 2.0f * once_w[i]);
    }
    assert_true(once_x[0] != 0.0f && once_w[1] != 0.0f);
}

static void test_seeds_are_linear(void **state)
{
    fixture *f = *state;
    mtl_tensor *rep, *l[2];
    const float seeds[2] = {0.25f, 4.0f};
    float e0[2], e1[2], ew[2], want[2];

    forward(f, &rep, l);
    expected(f, e0, e1, ew);
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seeds), MTL_OK);
    for (int i = 0; i < 2; i++)
        want[i] = seeds[0] * e0[i] + seeds[1] * e1[i];
    assert_close(mtl_tensor_grad(f->x), want, 2);
}

static void test_retained_grad(void **state)
{
    fixture *f = *state;
    mtl_tensor *rep, *l[2], *detached;
    const float seed0[2] = {1, 0}, seed1[2] = {0, 1};
    const float *x, *w;
    float want[2];

    mtl_graph_reset(f->g);
    rep = mtl_tanh(f->g, f->x);
    mtl_graph_retain_grad(f->g, rep);
    l[0] = mtl_sum(f->g, mtl_pow_scalar(f->g, rep, 2.0f));
    l[1] = mtl_sum(f->g, mtl_mul(f->g, rep, f->w));
    detached = mtl_graph_scalar(f->g, 3.0f);
    mtl_graph_retain_grad(f->g, detached);
    x = mtl_tensor_data(f->x);
    w = mtl_tensor_data(f->w);

    /* d l0 / d rep = 2 rep */
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seed0), MTL_OK);
    for (int i = 0; i < 2; i++)
        want[i] = 2.0f * tanhf(x[i]);
    assert_close(mtl_tensor_grad(rep), want, 2);

    /* The most recent pass only: d l1 / d rep = w, not accumulated. */
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seed1), MTL_OK);
    assert_close(mtl_tensor_grad(rep), w, 2);

    /* A retained tensor no pass reaches has a zero gradient. */
    assert_non_null(mtl_tensor_grad(detached));
    assert_true(mtl_tensor_grad(detached)[0] == 0.0f);

    /* Other intermediate tensors keep no gradient. */
    assert_null(mtl_tensor_grad(l[0]));
}

static void test_retained_input(void **state)
{
    fixture *f = *state;
    mtl_tensor *in, *loss;
    const float v[2] = {3.0f, -1.0f}, one = 1.0f;

    /* Retaining a graph input makes the ops that follow carry its gradient. */
    mtl_graph_reset(f->g);
    in = mtl_graph_input(f->g, 1, (int64_t[]){2});
    mtl_tensor_write(in, v, 2);
    mtl_graph_retain_grad(f->g, in);
    loss = mtl_sum(f->g, mtl_mul(f->g, in, in));
    assert_int_equal(mtl_graph_backward(f->g, 1, &loss, &one), MTL_OK);
    assert_true(mtl_tensor_grad(in)[0] == 6.0f);
    assert_true(mtl_tensor_grad(in)[1] == -2.0f);
}

static void test_recording_off(void **state)
{
    fixture *f = *state;
    mtl_tensor *on, *off;
    const float one = 1.0f;
    float value_on;

    mtl_graph_reset(f->g);
    on = mtl_sum(f->g, mtl_tanh(f->g, f->x));
    value_on = mtl_tensor_item(on);

    mtl_graph_reset(f->g);
    mtl_graph_set_recording(f->g, 0);
    off = mtl_sum(f->g, mtl_tanh(f->g, f->x));
    assert_true(mtl_tensor_item(off) == value_on);

    /* Nothing was taped: a backward pass changes no gradient. */
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 1, &off, &one), MTL_OK);
    assert_true(mtl_tensor_grad(f->x)[0] == 0.0f && mtl_tensor_grad(f->x)[1] == 0.0f);

    /* A reset turns recording back on. */
    mtl_graph_reset(f->g);
    on = mtl_sum(f->g, mtl_tanh(f->g, f->x));
    assert_int_equal(mtl_graph_backward(f->g, 1, &on, &one), MTL_OK);
    assert_true(mtl_tensor_grad(f->x)[0] != 0.0f);
}

static void test_constant_output(void **state)
{
    fixture *f = *state;
    mtl_tensor *c;
    const float one = 1.0f;

    /* An output that depends on no parameter back-propagates nothing. */
    mtl_graph_reset(f->g);
    c = mtl_exp(f->g, mtl_graph_scalar(f->g, 1.0f));
    mtl_model_zero_grad(f->model);
    assert_int_equal(mtl_graph_backward(f->g, 1, &c, &one), MTL_OK);
    assert_true(mtl_tensor_grad(f->x)[0] == 0.0f);
    assert_int_equal(mtl_graph_backward(f->g, 0, NULL, NULL), MTL_OK);
}

static void test_backward_errors(void **state)
{
    fixture *f = *state;
    mtl_tensor *rep, *l[2], *none = NULL;
    const float one = 1.0f;

    forward(f, &rep, l);
    assert_int_equal(mtl_graph_backward(f->g, 1, &rep, &one), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "graph: mtl_graph_backward: output 0 is not a one-element tensor "
                        "(expected 1 element, got 2)");
    assert_int_equal(mtl_graph_backward(f->g, 1, &none, &one), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "graph: mtl_graph_backward: output 0 is NULL");
    assert_int_equal(mtl_graph_backward(f->g, -1, l, &one), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "graph: mtl_graph_backward: bad outputs (expected n >= 0 with outputs "
                        "and seeds, got n = -1)");
    assert_int_equal(mtl_graph_backward(NULL, 1, l, &one), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "graph: mtl_graph_backward: NULL graph");

    /* A step that failed cannot be back-propagated; the message says why. */
    assert_null(mtl_add(f->g, rep, mtl_graph_input(f->g, 1, (int64_t[]){3})));
    assert_int_equal(mtl_graph_backward(f->g, 2, l, (const float[]){1, 1}), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "graph: mtl_graph_backward: the step failed earlier: tensor: mtl_add: "
                        "shapes differ (expected [2], got [3])");
    mtl_graph_reset(f->g);
}

/* A step with tensors of a few sizes, two backward passes, retained grads. */
static void busy_step(fixture *f, int64_t big)
{
    mtl_tensor *in, *h, *l[2];
    const float seeds[2] = {1, 1};

    mtl_graph_reset(f->g);
    in = mtl_graph_input(f->g, 2, (int64_t[]){big, 2});
    memset(mtl_tensor_data(in), 0, (size_t)(2 * big) * sizeof(float));
    h = mtl_tanh(
        f->g,
        mtl_matmul(f->g, in, mtl_reshape(f->g, mtl_mul(f->g, f->x, f->w), 2, (int64_t[]){2, 1})));
    mtl_graph_retain_grad(f->g, h);
    for (int i = 0; i < 20; i++)
        h = mtl_sigmoid(f->g, mtl_add_scalar(f->g, h, 0.1f));
    l[0] = mtl_mean(f->g, h);
    l[1] = mtl_sum(f->g, mtl_exp(f->g, h));
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seeds), MTL_OK);
    assert_int_equal(mtl_graph_backward(f->g, 2, l, seeds), MTL_OK);
}

static void test_arena_steady_state(void **state)
{
    fixture *f = *state;
    mtl_graph *fresh;
    size_t bytes;

    assert_int_equal(mtl_graph_create(&fresh), MTL_OK);
    assert_int_equal(mtl_graph_bytes(fresh), 0);
    mtl_graph_destroy(fresh);

    /* A step bigger than the first block: the arena grows, then settles. */
    busy_step(f, 20000);
    busy_step(f, 20000);
    bytes = mtl_graph_bytes(f->g);
    assert_true(bytes >= 20 * 20000 * sizeof(float));
    for (int cycle = 0; cycle < 50; cycle++)
        busy_step(f, 20000);
    assert_int_equal(mtl_graph_bytes(f->g), bytes);

    /* Smaller steps reuse the same memory. */
    for (int cycle = 0; cycle < 10; cycle++)
        busy_step(f, 100);
    assert_int_equal(mtl_graph_bytes(f->g), bytes);
    assert_true(mtl_graph_peak_bytes(f->g) >= bytes);
    /* Consolidating blocks briefly holds old and new ones: peak is bounded. */
    assert_true(mtl_graph_peak_bytes(f->g) <= 3 * bytes);
}

static void test_backward_scratch_released(void **state)
{
    fixture *f = *state;
    mtl_graph *g;
    mtl_tensor *in, *h, *loss;
    const float one = 1.0f;
    size_t bytes;

    /* 40 kB of scratch per pass, returned at its end: 200 passes hold no more. */
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    in = mtl_graph_input(g, 1, (int64_t[]){10000});
    memset(mtl_tensor_data(in), 0, 10000 * sizeof(float));
    h = mtl_tanh(g, mtl_mul(g, in, mtl_sum(g, f->x)));
    loss = mtl_sum(g, h);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
    bytes = mtl_graph_bytes(g);
    for (int pass = 0; pass < 200; pass++)
        assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
    assert_int_equal(mtl_graph_bytes(g), bytes);
    assert_true(bytes < 200 * 10000 * sizeof(float));
    mtl_graph_destroy(g);
}

/*
 * A step of 40 one-MiB tensors: the first grows blocks by doubling (whose
 * capacities add up to far more than 40 MiB), the reset then consolidates them
 * into one block sized by what the step used, not by their capacity (blocks
 * summing past the system's commit limit once made every step start over).
 */
static void test_arena_consolidates_to_use(void **state)
{
    const int64_t n = 256 * 1024;
    const size_t used = 40 * (size_t)n * sizeof(float);
    mtl_graph *g;
    size_t bytes;

    (void)state;
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    for (int step = 0; step < 4; step++) {
        mtl_graph_reset(g);
        for (int i = 0; i < 40; i++)
            assert_non_null(mtl_graph_input(g, 1, &n));
        if (step == 0)
            assert_true(mtl_graph_bytes(g) > used + used / 4); /* the doubling's slack */
        if (step == 2)
            bytes = mtl_graph_bytes(g);
    }
    assert_true(bytes >= used);
    assert_true(bytes <= used + used / 4);
    assert_int_equal(mtl_graph_bytes(g), bytes); /* and it stays */
    mtl_graph_destroy(g);
}

/*
 * h_{i+1} = tanh(h_i) + h_i / 2, 60 times, from h_0 = x * 1 (x a parameter):
 * each h_i has two consumers.  Once h_i's producer has back-propagated its
 * accumulator serves a later tensor, so the pass needs a few accumulators
 * instead of 60, and the gradient is unchanged:
 *   dL/dh_i = dL/dh_{i+1} (1 - tanh(h_i)^2 + 1/2).
 */
static void test_backward_reuses_accumulators(void **state)
{
    enum { N = 25000, DEPTH = 60 };
    static float values[DEPTH + 1][N];
    const float one = 1.0f;
    mtl_model *model;
    mtl_graph *g;
    mtl_tensor *x, *h, *loss;
    float *xv;
    size_t bytes = 0, fwd = (size_t)DEPTH * 2 * N * sizeof(float);
    double worst = 0;

    (void)state;
    assert_int_equal(mtl_model_create(&model), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    x = mtl_model_param(model, "x", MTL_ROLE_SHARED, -1, 0, 1, (int64_t[]){N});
    assert_non_null(x);
    xv = mtl_tensor_data(x);
    for (int j = 0; j < N; j++)
        xv[j] = (float)(j % 200 - 100) / 50.0f;
    for (int step = 0; step < 3; step++) {
        mtl_graph_reset(g);
        mtl_model_zero_grad(model);
        h = mtl_mul_scalar(g, x, 1.0f);
        for (int i = 0; i < DEPTH; i++) {
            memcpy(values[i], mtl_tensor_data(h), sizeof values[i]);
            h = mtl_add(g, mtl_tanh(g, h), mtl_mul_scalar(g, h, 0.5f));
        }
        loss = mtl_sum(g, h);
        assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
        bytes = mtl_graph_bytes(g);
    }
    /* Forward: 3 tensors of N per level; the pass: a handful more. */
    assert_true(bytes < fwd * 3 / 2 + fwd / 4);
    for (int j = 0; j < N; j++) {
        double d = 1.0;

        for (int i = DEPTH - 1; i >= 0; i--) {
            double t = tanh((double)values[i][j]);
            d *= 1.0 - t * t + 0.5;
        }
        worst = fmax(worst, fabs(mtl_tensor_grad(x)[j] - d) / fmax(1.0, fabs(d)));
    }
    assert_true(worst < 1e-4);
    mtl_graph_destroy(g);
    mtl_model_destroy(model);
}

/*
 * The last pass gives back each intermediate tensor's values once its
 * producer has run, and they serve the pass's accumulators.  Here 40
 * branches h_k = tanh(c_k (x + in)), all made first, are then summed: an
 * ordinary pass holds the 40 branches' accumulators at once (the sums'
 * backward reaches them all before any tanh), a last pass takes them from the
 * sums' released values, so it needs almost nothing beyond the forward's
 * memory.  Gradients equal an ordinary pass's; the outputs, retained tensors
 * and inputs stay readable, the other intermediates read as NULL.
 */
static void test_backward_last_releases_values(void **state)
{
    enum { N = 25000, K = 40 };
    const float one = 1.0f;
    static float want[N];
    const size_t fwd = (size_t)K * 3 * N * sizeof(float);
    mtl_model *model;
    mtl_graph *g = NULL;
    mtl_tensor *x, *in, *base, *h[K], *sum, *kept = NULL, *mid = NULL, *loss = NULL;
    size_t ordinary = 0, last = 0;

    (void)state;
    assert_int_equal(mtl_model_create(&model), MTL_OK);
    x = mtl_model_param(model, "x", MTL_ROLE_SHARED, -1, 0, 1, (int64_t[]){N});
    assert_non_null(x);
    for (int j = 0; j < N; j++)
        mtl_tensor_data(x)[j] = (float)(j % 97 - 48) / 40.0f;
    for (int variant = 0; variant < 2; variant++) {
        /* a graph each, so that neither inherits the other's arena */
        mtl_graph_destroy(g);
        assert_int_equal(mtl_graph_create(&g), MTL_OK);
        for (int step = 0; step < 3; step++) {
            mtl_graph_reset(g);
            mtl_model_zero_grad(model);
            in = mtl_graph_input(g, 1, (int64_t[]){N});
            for (int j = 0; j < N; j++)
                mtl_tensor_data(in)[j] = 0.25f;
            base = mtl_add(g, x, in);
            for (int k = 0; k < K; k++)
                h[k] = mtl_tanh(g, mtl_mul_scalar(g, base, 0.1f * (float)(k + 1)));
            sum = h[0];
            for (int k = 1; k < K; k++) {
                sum = mtl_add(g, sum, h[k]);
                if (k == K / 2) {
                    kept = sum;
                    mtl_graph_retain_grad(g, kept);
                }
                if (k == K / 4)
                    mid = sum;
            }
            loss = mtl_sum(g, sum);
            if (variant == 0) {
                assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
                ordinary = mtl_graph_bytes(g);
            } else {
                assert_int_equal(mtl_graph_backward_last(g, 1, &loss, &one), MTL_OK);
                last = mtl_graph_bytes(g);
            }
        }
        if (variant == 0) {
            memcpy(want, mtl_tensor_grad(x), sizeof want);
            continue;
        }
        assert_memory_equal(mtl_tensor_grad(x), want, sizeof want);
        assert_null(mtl_tensor_data(mid));
        assert_non_null(mtl_tensor_data(kept));
        assert_non_null(mtl_tensor_grad(kept));
        assert_non_null(mtl_tensor_data(loss));
        assert_true(fabsf(mtl_tensor_item(loss)) > 0.0f);
        assert_float_equal(mtl_tensor_data(in)[N - 1], 0.25f, 0.0f);
    }
    assert_true(ordinary > fwd + fwd / 4);
    assert_true(last < fwd + fwd / 4);
    assert_int_equal(mtl_graph_backward_last(g, -1, &loss, &one), MTL_ERR_INVALID);
    assert_non_null(strstr(mtl_error_message(), "graph: mtl_graph_backward_last: bad outputs"));
    mtl_graph_destroy(g);
    mtl_model_destroy(model);
}

static void test_model_params(void **state)
{
    fixture *f = *state;
    mtl_param_info info;
    mtl_tensor *b;

    assert_int_equal(mtl_model_n_params(f->model), 2);
    assert_ptr_equal(mtl_model_param_at(f->model, 0), f->x);
    assert_ptr_equal(mtl_model_param_at(f->model, 1), f->w);
    assert_null(mtl_model_param_at(f->model, 2));

    assert_int_equal(mtl_param_get_info(f->x, &info), MTL_OK);
    assert_string_equal(info.name, "x");
    assert_int_equal(info.role, MTL_ROLE_SHARED);
    assert_int_equal(info.task, -1);
    assert_int_equal(info.flags, MTL_PARAM_LAST_SHARED);
    assert_int_equal(mtl_param_get_info(f->w, &info), MTL_OK);
    assert_string_equal(info.name, "head1.w");
    assert_int_equal(info.role, MTL_ROLE_TASK);
    assert_int_equal(info.task, 1);

    b = mtl_model_buffer(f->model, "running_mean", 1, (int64_t[]){3});
    assert_non_null(b);
    assert_int_equal(mtl_model_n_buffers(f->model), 1);
    assert_ptr_equal(mtl_model_buffer_at(f->model, 0), b);
    assert_true(mtl_tensor_data(b)[2] == 0.0f);
    assert_null(mtl_tensor_grad(b));
    assert_int_equal(mtl_param_get_info(b, &info), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "model: mtl_param_get_info: not a parameter of a model");

    /* Parameters start at zero, with zero gradients. */
    b = mtl_model_param(f->model, "fresh", MTL_ROLE_SHARED, -1, 0, 2, (int64_t[]){2, 2});
    assert_true(mtl_tensor_data(b)[3] == 0.0f && mtl_tensor_grad(b)[3] == 0.0f);
}

static void test_model_errors(void **state)
{
    fixture *f = *state;
    mtl_model *m = f->model;
    size_t n = mtl_model_n_params(m);

    assert_null(mtl_model_param(m, "x", MTL_ROLE_SHARED, -1, 0, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(), "model: mtl_model_param: duplicate name 'x'");
    assert_null(mtl_model_buffer(m, "x", 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(), "model: mtl_model_buffer: duplicate name 'x'");
    assert_null(mtl_model_param(m, "h", MTL_ROLE_TASK, -1, 0, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(),
                        "model: mtl_model_param: a task parameter needs a task index (expected "
                        ">= 0, got -1)");
    assert_null(mtl_model_param(m, "s", MTL_ROLE_SHARED, 0, 0, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(),
                        "model: mtl_model_param: a shared parameter has no task (expected -1, "
                        "got 0)");
    assert_null(mtl_model_param(m, "r", (mtl_role)5, -1, 0, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(),
                        "model: mtl_model_param: unknown role (expected 0 or 1, got 5)");
    assert_null(mtl_model_param(m, "f", MTL_ROLE_SHARED, -1, 0x8, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(), "model: mtl_model_param: unknown flags 0x8");
    assert_null(mtl_model_param(m, "z", MTL_ROLE_SHARED, -1, 0, 2, (int64_t[]){2, 0}));
    assert_string_equal(mtl_error_message(),
                        "model: mtl_model_param: 'z': dimension 1 is not positive (got 0)");
    assert_null(mtl_model_param(m, "", MTL_ROLE_SHARED, -1, 0, 1, (int64_t[]){2}));
    assert_string_equal(mtl_error_message(), "model: mtl_model_param: empty name");
    assert_int_equal(mtl_model_n_params(m), n);
}

static void test_tensor_access(void **state)
{
    fixture *f = *state;
    mtl_tensor *y;
    float buf[3];

    assert_int_equal(mtl_tensor_ndim(f->x), 1);
    assert_int_equal(mtl_tensor_dim(f->x, 0), 2);
    assert_int_equal(mtl_tensor_dim(f->x, -1), 2);
    assert_int_equal(mtl_tensor_dim(f->x, 1), -1);
    assert_int_equal(mtl_tensor_numel(NULL), 0);
    assert_true(isnan(mtl_tensor_item(f->x)));
    assert_true(isnan(mtl_tensor_item(NULL)));

    assert_int_equal(mtl_tensor_read(f->x, buf, 3), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "tensor: mtl_tensor_read: element count differs (expected 2, got 3)");
    assert_int_equal(mtl_tensor_read(f->x, buf, 2), MTL_OK);
    assert_true(buf[0] == 0.5f && buf[1] == -1.25f);

    mtl_graph_reset(f->g);
    y = mtl_neg(f->g, f->x);
    assert_int_equal(mtl_tensor_write(y, buf, 2), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "tensor: mtl_tensor_write: the result of an op is read-only");
    assert_int_equal(mtl_tensor_write(f->x, buf, 1), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "tensor: mtl_tensor_write: element count differs (expected 2, got 1)");
    assert_true(mtl_tensor_item(mtl_graph_scalar(f->g, 2.5f)) == 2.5f);
    assert_int_equal(mtl_tensor_ndim(mtl_graph_scalar(f->g, 2.5f)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_hot_passes),
        cmocka_unit_test(test_backward_twice_accumulates),
        cmocka_unit_test(test_seeds_are_linear),
        cmocka_unit_test(test_retained_grad),
        cmocka_unit_test(test_retained_input),
        cmocka_unit_test(test_recording_off),
        cmocka_unit_test(test_constant_output),
        cmocka_unit_test(test_backward_errors),
        cmocka_unit_test(test_arena_steady_state),
        cmocka_unit_test(test_backward_scratch_released),
        cmocka_unit_test(test_arena_consolidates_to_use),
        cmocka_unit_test(test_backward_reuses_accumulators),
        cmocka_unit_test(test_backward_last_releases_values),
        cmocka_unit_test(test_model_params),
        cmocka_unit_test(test_model_errors),
        cmocka_unit_test(test_tensor_access),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
