/*
 * The paths of mtl_conv2d that the small fixtures cannot reach, against a
 * direct convolution computed here in double: images large enough to be
 * cut into several column blocks (with a partial last block), batches of
 * small images grouped side by side (with a partial last group), the 1 x 1
 * convolution without im2col, and strided ones.  Also: a training step
 * repeated on one graph holds a constant amount of memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test.h"

/*
 * Relative to 1 + |value|: float32 sums of up to 23,520 products of values in
 * [-1, 1) (the weight gradient of the 5 x 5 layer); measured 1.7e-5 at most.
 */
#define TOL 1e-4

typedef struct geometry {
    const char *label;
    int64_t n, c, h, w, out, k;
    int stride, pad;
} geometry;

typedef struct reference {
    double *y, *dx, *dw, *db;
} reference;

/* y = conv(x, w) + b and the gradients of sum(y * dy), directly, in double. */
static reference direct_conv(const geometry *s, const float *x, const float *w, const float *b,
                             const float *dy, int64_t oh, int64_t ow)
{
    reference r;
    int64_t ny = s->n * s->out * oh * ow;

    r.y = calloc((size_t)ny, sizeof *r.y);
    r.dx = calloc((size_t)(s->n * s->c * s->h * s->w), sizeof *r.dx);
    r.dw = calloc((size_t)(s->out * s->c * s->k * s->k), sizeof *r.dw);
    r.db = calloc((size_t)s->out, sizeof *r.db);
    assert_true(r.y && r.dx && r.dw && r.db);

    for (int64_t i = 0; i < s->n; i++)
        for (int64_t o = 0; o < s->out; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    int64_t at = ((i * s->out + o) * oh + oy) * ow + ox;
                    double acc = b[o], g = dy[at];

                    for (int64_t ci = 0; ci < s->c; ci++)
                        for (int64_t ki = 0; ki < s->k; ki++)
                            for (int64_t kj = 0; kj < s->k; kj++) {
                                int64_t iy = oy * s->stride - s->pad + ki;
                                int64_t ix = ox * s->stride - s->pad + kj;
                                int64_t xi = ((i * s->c + ci) * s->h + iy) * s->w + ix;
                                int64_t wi = ((o * s->c + ci) * s->k + ki) * s->k + kj;

                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                acc += (double)w[wi] * x[xi];
                                r.dx[xi] += (double)w[wi] * g;
                                r.dw[wi] += (double)x[xi] * g;
                            }
                    r.y[at] = acc;
                    r.db[o] += g;
                }
    return r;
}

static double deviation(const float *got, const double *ref, int64_t n)
{
    double worst = 0.0;

    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]) / (1.0 + fabs(ref[i]));
        if (!(d <= worst))
            worst = d;
    }
    return worst;
}

static mtl_tensor *random_input(mtl_graph *g, int ndim, const int64_t *shape, mtl_rng *rng)
{
    mtl_tensor *t = mtl_graph_input(g, ndim, shape);

    assert_non_null(t);
    mtl_test_fill_uniform(t, rng, 1.0);
    mtl_graph_retain_grad(g, t);
    return t;
}

static void check_geometry(const geometry *s)
{
    mtl_graph *g;
    mtl_rng rng;
    mtl_tensor *x, *w, *b, *y, *dy, *loss;
    reference r;
    int64_t oh, ow;
    float one = 1.0f;
    double dev[4];

    mtl_rng_seed(&rng, 7, (uint64_t)s->n);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    x = random_input(g, 4, (int64_t[]){s->n, s->c, s->h, s->w}, &rng);
    w = random_input(g, 4, (int64_t[]){s->out, s->c, s->k, s->k}, &rng);
    b = random_input(g, 1, (int64_t[]){s->out}, &rng);
    y = mtl_conv2d(g, x, w, b, s->stride, s->pad);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    oh = mtl_tensor_dim(y, 2);
    ow = mtl_tensor_dim(y, 3);
    dy = mtl_graph_input(g, 4, (int64_t[]){s->n, s->out, oh, ow});
    assert_non_null(dy);
    mtl_test_fill_uniform(dy, &rng, 1.0);
    loss = mtl_sum(g, mtl_mul(g, y, dy));
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);

    r = direct_conv(s, mtl_tensor_data(x), mtl_tensor_data(w), mtl_tensor_data(b),
                    mtl_tensor_data(dy), oh, ow);
    dev[0] = deviation(mtl_tensor_data(y), r.y, mtl_tensor_numel(y));
    dev[1] = deviation(mtl_tensor_grad(x), r.dx, mtl_tensor_numel(x));
    dev[2] = deviation(mtl_tensor_grad(w), r.dw, mtl_tensor_numel(w));
    dev[3] = deviation(mtl_tensor_grad(b), r.db, mtl_tensor_numel(b));
    print_message("  %-34s y %.1e  dx %.1e  dw %.1e  db %.1e\n", s->label, dev[0], dev[1], dev[2],
                  dev[3]);
    for (int i = 0; i < 4; i++)
        assert_true(dev[i] <= TOL);

    free(r.y);
    free(r.dx);
    free(r.dw);
    free(r.db);
    mtl_graph_destroy(g);
}

static void test_column_blocks(void **state)
{
    /*
     * 576 im2col rows: blocks of 910 columns, 2,304 columns in 3 blocks (the
     * last partial).
     */
    static const geometry big = {"3x3, 64 channels, 48x48", 1, 64, 48, 48, 8, 3, 1, 1};
    /*
     * 1,152 rows: blocks of 512 columns (the fewest), 960 output positions,
     * stride 2.
     */
    static const geometry strided = {"3x3 stride 2, 128 channels", 1, 128, 64, 60, 4, 3, 2, 1};
    /* No im2col: the input is its own matrix. */
    static const geometry direct = {"1x1, one sample", 1, 16, 40, 30, 8, 1, 1, 0};

    (void)state;
    check_geometry(&big);
    check_geometry(&strided);
    check_geometry(&direct);
}

static void test_sample_groups(void **state)
{
    /*
     * 72 rows, 400 columns per sample: groups of 18 samples, 40 = 18 + 18 + 4.
     */
    static const geometry groups = {"3x3, groups of 18 of 40 samples", 40, 8, 20, 20, 4, 3, 1, 1};
    /* Multi-Fashion's first layer: 5x5, no padding, 28x28. */
    static const geometry mnist = {"5x5 on 28x28, 30 samples", 30, 1, 28, 28, 10, 5, 1, 0};
    static const geometry pointwise = {"1x1 in groups", 9, 6, 7, 5, 3, 1, 1, 0};

    (void)state;
    check_geometry(&groups);
    check_geometry(&mnist);
    check_geometry(&pointwise);
}

/*
 * mtl_conv2d_1x1_concat against mtl_conv2d of the concatenation: values and
 * every gradient (items, weight, bias), the items of several channel counts.
 */
static void concat_pass(int fused, float *out[6], size_t count[6])
{
    static const int64_t c[3] = {3, 5, 2};
    mtl_graph *g;
    mtl_rng rng;
    mtl_tensor *xs[3], *w, *b, *y, *dy, *loss;
    float one = 1.0f;

    mtl_rng_seed(&rng, 21, 0);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    for (int i = 0; i < 3; i++)
        xs[i] = random_input(g, 4, (int64_t[]){2, c[i], 9, 7}, &rng);
    w = random_input(g, 4, (int64_t[]){4, 10, 1, 1}, &rng);
    b = random_input(g, 1, (int64_t[]){4}, &rng);
    y = fused ? mtl_conv2d_1x1_concat(g, 3, xs, w, b)
              : mtl_conv2d(g, mtl_concat_channels(g, 3, xs), w, b, 1, 0);
    dy = mtl_graph_input(g, 4, (int64_t[]){2, 4, 9, 7});
    assert_non_null(dy);
    mtl_test_fill_uniform(dy, &rng, 1.0);
    loss = mtl_sum(g, mtl_mul(g, y, dy));
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
    {
        mtl_tensor *t[6] = {y, xs[0], xs[1], xs[2], w, b};

        for (int i = 0; i < 6; i++) {
            size_t n = (size_t)mtl_tensor_numel(t[i]);
            const float *v = i ? mtl_tensor_grad(t[i]) : mtl_tensor_data(t[i]);

            out[i] = malloc(n * sizeof(float));
            assert_non_null(out[i]);
            assert_non_null(v);
            memcpy(out[i], v, n * sizeof(float));
            count[i] = n;
        }
    }
    mtl_graph_destroy(g);
}

static void test_conv1x1_concat(void **state)
{
    static const char *const what[6] = {"y", "dx0", "dx1", "dx2", "dw", "db"};
    float *want[6], *got[6];
    size_t n[6], n_got[6];

    (void)state;
    concat_pass(0, want, n);
    concat_pass(1, got, n_got);
    for (int i = 0; i < 6; i++) {
        double worst = 0.0;

        assert_int_equal(n[i], n_got[i]);
        for (size_t j = 0; j < n[i]; j++) {
            double d = fabs((double)got[i][j] - want[i][j]) / (1.0 + fabs((double)want[i][j]));
            if (!(d <= worst))
                worst = d;
        }
        print_message("  conv2d_1x1_concat %-3s against conv2d(concat): %.1e\n", what[i], worst);
        assert_true(worst <= 1e-6);
        free(want[i]);
        free(got[i]);
    }
}

/* One SegNet-like training step: conv, batch norm, ReLU, pool, unpool, loss. */
static void training_step(mtl_graph *g, mtl_model *m, const mtl_conv2d_layer *conv,
                          const mtl_batch_norm2d_layer *bn, mtl_rng *rng)
{
    mtl_tensor *x = mtl_graph_input(g, 4, (int64_t[]){2, 3, 32, 24});
    mtl_tensor *h, *p, *u, *loss;
    mtl_pool_indices *ix;
    float one = 1.0f;

    assert_non_null(x);
    mtl_test_fill_uniform(x, rng, 1.0);
    h = mtl_relu(g, mtl_batch_norm2d_layer_forward(g, bn, mtl_conv2d_layer_forward(g, conv, x), 1));
    p = mtl_max_pool2d(g, h, &ix);
    u = mtl_max_unpool2d(g, p, ix);
    loss = mtl_mean(g, mtl_mul(g, u, u));
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    mtl_model_zero_grad(m);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
    mtl_graph_reset(g);
}

static void test_steady_memory(void **state)
{
    mtl_model *m;
    mtl_graph *g;
    mtl_conv2d_layer conv;
    mtl_batch_norm2d_layer bn;
    mtl_rng rng;
    size_t after[4];

    (void)state;
    mtl_rng_seed(&rng, 11, 0);
    assert_int_equal(mtl_model_create(&m), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    assert_int_equal(mtl_conv2d_layer_init(&conv, m, "conv", MTL_ROLE_SHARED, -1, 0, 3, 64, 3, 1, 1,
                                           MTL_CONV_INIT_XAVIER_NORMAL, &rng),
                     MTL_OK);
    assert_int_equal(mtl_batch_norm2d_layer_init(&bn, m, "bn", MTL_ROLE_SHARED, -1, 0, 64), MTL_OK);
    for (int i = 0; i < 4; i++) {
        training_step(g, m, &conv, &bn, &rng);
        after[i] = mtl_graph_bytes(g);
    }
    print_message("  graph bytes after steps 1-4: %zu %zu %zu %zu\n", after[0], after[1], after[2],
                  after[3]);
    assert_true(after[1] == after[2] && after[2] == after[3]);
    mtl_graph_destroy(g);
    mtl_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_column_blocks),
        cmocka_unit_test(test_sample_groups),
        cmocka_unit_test(test_conv1x1_concat),
        cmocka_unit_test(test_steady_memory),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
