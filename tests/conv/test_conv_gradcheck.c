/*
 * Finite-difference gradient checks of every op and layer of mtl/conv.h:
 * the backward pass of L = sum(y * r) against central differences, for
 * every element of every differentiable input (the inputs are model
 * parameters here so that the check can perturb them).  Inputs near a kink
 * (max pooling, ReLU-like |u|) are spread so that no finite-difference step
 * crosses one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test.h"

/*
 * Step and tolerance of the central differences: a float32 forward read in
 * double.  The truncation error of a step of 1e-2 on the curved ops (batch
 * norm, softmax, normalisation) and the float32 rounding of L stay below
 * 2e-4 here (measured: 1.6e-4 at most, the fused ReLU at a step of 1e-3);
 * each check prints its largest error.
 */
#define H   1e-2
#define TOL 5e-4

typedef struct ctx {
    mtl_model *m;
    mtl_rng rng;
    mtl_tensor *p[6];
    float *aux; /* an input without gradient (targets, an image), host copy */
    int64_t aux_shape[4];
    int aux_ndim;
    int stride, padding, training, flag;
    int64_t size[4];
    mtl_conv2d_layer conv;
    mtl_batch_norm2d_layer bn;
} ctx;

static void ctx_open(ctx *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    mtl_test_model_open(&c->m, &c->rng, seed);
}

static void ctx_close(ctx *c)
{
    free(c->aux);
    mtl_model_destroy(c->m);
}

static mtl_tensor *param4(ctx *c, int slot, const char *name, int64_t d0, int64_t d1, int64_t d2,
                          int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = d3 > 0 ? 4 : d2 > 0 ? 3 : d1 > 0 ? 2 : 1;

    c->p[slot] = mtl_test_new_param(c->m, name, ndim, shape, &c->rng);
    return c->p[slot];
}

/* The non-differentiable input as a graph input of g. */
static mtl_tensor *aux_input(mtl_graph *g, const ctx *c)
{
    mtl_tensor *t = mtl_graph_input(g, c->aux_ndim, c->aux_shape);

    assert_non_null(t);
    assert_int_equal(mtl_tensor_write(t, c->aux, (size_t)mtl_tensor_numel(t)), MTL_OK);
    return t;
}

static void aux_set(ctx *c, int ndim, const int64_t *shape, const float *values)
{
    int64_t n = 1;

    for (int d = 0; d < ndim; d++) {
        c->aux_shape[d] = shape[d];
        n *= shape[d];
    }
    c->aux_ndim = ndim;
    c->aux = malloc((size_t)n * sizeof *c->aux);
    assert_non_null(c->aux);
    memcpy(c->aux, values, (size_t)n * sizeof *c->aux);
}

/* ---- convolution --------------------------------------------------------- */

static mtl_tensor *build_conv(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_conv2d(g, c->p[0], c->p[1], c->flag ? c->p[2] : NULL, c->stride, c->padding);
}

static void check_conv(const char *label, int64_t n, int64_t ch, int64_t h, int64_t w, int64_t out,
                       int64_t k, int stride, int padding, int bias)
{
    ctx c;

    ctx_open(&c, 1);
    param4(&c, 0, "x", n, ch, h, w);
    param4(&c, 1, "weight", out, ch, k, k);
    if (bias)
        param4(&c, 2, "bias", out, 0, 0, 0);
    c.flag = bias;
    c.stride = stride;
    c.padding = padding;
    mtl_test_gradcheck(label, c.m, build_conv, &c, H, TOL);
    ctx_close(&c);
}

static void test_conv2d(void **state)
{
    (void)state;
    check_conv("conv 3x3 pad 1 (group)", 2, 3, 5, 4, 2, 3, 1, 1, 1);
    check_conv("conv 3x3 pad 1 (columns)", 1, 2, 5, 6, 3, 3, 1, 1, 1);
    check_conv("conv 1x1 (direct)", 1, 3, 4, 3, 2, 1, 1, 0, 1);
    check_conv("conv 1x1 (group)", 3, 3, 2, 3, 2, 1, 1, 0, 0);
    check_conv("conv 3x3 stride 2 pad 1", 2, 2, 6, 5, 2, 3, 2, 1, 1);
    check_conv("conv 5x5 no bias", 2, 1, 7, 6, 2, 5, 1, 0, 0);
    check_conv("conv 2x2 stride 3 pad 2", 1, 2, 5, 7, 2, 2, 3, 2, 1);
}

/* ---- normalisation ------------------------------------------------------- */

static mtl_tensor *build_batch_norm(mtl_graph *g, void *p)
{
    ctx *c = p;
    int64_t ch = mtl_tensor_dim(c->p[0], 1);
    mtl_tensor *rm = NULL, *rv = NULL;

    if (!c->training) {
        /*
         * Fresh running statistics each time: they are inputs of the
         * evaluation.
         */
        rm = mtl_graph_input(g, 1, &ch);
        rv = mtl_graph_input(g, 1, &ch);
        for (int64_t k = 0; k < ch; k++) {
            mtl_tensor_data(rm)[k] = 0.1f * (float)k - 0.2f;
            mtl_tensor_data(rv)[k] = 0.5f + 0.25f * (float)k;
        }
    }
    return mtl_batch_norm2d(g, c->p[0], c->flag ? c->p[1] : NULL, c->flag ? c->p[2] : NULL, rm, rv,
                            c->training, 0.1f, 1e-5f);
}

static mtl_tensor *build_batch_norm_act(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_batch_norm2d_act(g, c->p[0], c->p[1], c->p[2], NULL, NULL, 1, 0.1f, 1e-5f,
                                (mtl_activation)c->flag);
}

static void check_batch_norm(const char *label, int64_t n, int64_t ch, int64_t h, int64_t w,
                             int training, int affine)
{
    ctx c;

    ctx_open(&c, 2);
    param4(&c, 0, "x", n, ch, h, w);
    if (affine) {
        param4(&c, 1, "weight", ch, 0, 0, 0);
        param4(&c, 2, "bias", ch, 0, 0, 0);
    }
    c.training = training;
    c.flag = affine;
    mtl_test_gradcheck(label, c.m, build_batch_norm, &c, H, TOL);
    ctx_close(&c);
}

static void test_batch_norm(void **state)
{
    (void)state;
    check_batch_norm("batch_norm training", 2, 3, 3, 2, 1, 1);
    check_batch_norm("batch_norm training, flat", 5, 3, 0, 0, 1, 1);
    check_batch_norm("batch_norm training, no affine", 3, 2, 2, 2, 1, 0);
    check_batch_norm("batch_norm evaluation", 2, 3, 2, 3, 0, 1);
}

static void test_batch_norm_act(void **state)
{
    ctx c;

    (void)state;
    for (int act = MTL_ACT_RELU; act <= MTL_ACT_SIGMOID; act++) {
        ctx_open(&c, 30);
        /* Spread values: no normalised value within a step of ReLU's kink. */
        ct_fill_spread(param4(&c, 0, "x", 2, 3, 3, 2), &c.rng, -0.93, 0.17);
        param4(&c, 1, "weight", 3, 0, 0, 0);
        param4(&c, 2, "bias", 3, 0, 0, 0);
        c.flag = act;
        mtl_test_gradcheck(act == MTL_ACT_RELU ? "batch_norm_act relu" : "batch_norm_act sigmoid",
                           c.m, build_batch_norm_act, &c, 1e-3, TOL);
        ctx_close(&c);
    }
}

static mtl_tensor *build_l2_normalize(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_l2_normalize(g, c->p[0]);
}

static void test_l2_normalize(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 3);
    param4(&c, 0, "x", 2, 3, 2, 3);
    mtl_test_gradcheck("l2_normalize", c.m, build_l2_normalize, &c, H, TOL);
    ctx_close(&c);
}

/* ---- pooling, resizing, cropping ----------------------------------------- */

static mtl_tensor *build_max_pool(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_max_pool2d(g, c->p[0], NULL);
}

static mtl_tensor *build_max_unpool(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_pool_indices *ix;

    mtl_max_pool2d(g, aux_input(g, c), &ix);
    return mtl_max_unpool2d(g, c->p[0], ix);
}

static void test_max_pool(void **state)
{
    ctx c;
    float image[2 * 2 * 5 * 7];

    (void)state;
    ctx_open(&c, 4);
    ct_fill_spread(param4(&c, 0, "x", 2, 2, 5, 7), &c.rng, -3.0, 0.05);
    mtl_test_gradcheck("max_pool2d (odd size)", c.m, build_max_pool, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 5);
    for (int i = 0; i < (int)(sizeof image / sizeof image[0]); i++)
        image[i] = (float)mtl_rng_normal(&c.rng);
    aux_set(&c, 4, (int64_t[]){2, 2, 5, 7}, image);
    param4(&c, 0, "x", 2, 2, 2, 3);
    mtl_test_gradcheck("max_unpool2d", c.m, build_max_unpool, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_resize(mtl_graph *g, void *p)
{
    ctx *c = p;

    if (c->flag)
        return mtl_resize_bilinear(g, c->p[0], c->size[0], c->size[1]);
    return mtl_resize_nearest(g, c->p[0], c->size[0], c->size[1]);
}

static void test_resize(void **state)
{
    static const int64_t sizes[][2] = {{8, 10}, {2, 3}, {6, 4}, {1, 1}, {4, 5}};
    char label[64];
    ctx c;

    (void)state;
    for (int bilinear = 0; bilinear <= 1; bilinear++)
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            ctx_open(&c, 6 + k);
            param4(&c, 0, "x", 2, 2, 4, 5);
            c.flag = bilinear;
            c.size[0] = sizes[k][0];
            c.size[1] = sizes[k][1];
            snprintf(label, sizeof label, "resize %s 4x5 -> %lldx%lld",
                     bilinear ? "bilinear" : "nearest", (long long)sizes[k][0],
                     (long long)sizes[k][1]);
            mtl_test_gradcheck(label, c.m, build_resize, &c, H, TOL);
            ctx_close(&c);
        }
}

static mtl_tensor *build_crop(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_crop2d(g, c->p[0], c->size[0], c->size[1], c->size[2], c->size[3]);
}

static void test_crop(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 12);
    param4(&c, 0, "x", 2, 2, 5, 6);
    c.size[0] = 1;
    c.size[1] = 2;
    c.size[2] = 3;
    c.size[3] = 4;
    mtl_test_gradcheck("crop2d", c.m, build_crop, &c, H, TOL);
    ctx_close(&c);
}

/* ---- channels ------------------------------------------------------------ */

static mtl_tensor *build_concat(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_concat_channels(g, 3, c->p);
}

static mtl_tensor *build_conv1x1_concat(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_conv2d_1x1_concat(g, 2, c->p, c->p[2], c->p[3]);
}

static mtl_tensor *build_conv1x1_concat_layer(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_conv2d_layer_forward_concat(g, &c->conv, 2, c->p);
}

static mtl_tensor *build_channel_bias(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_add_channel_bias(g, c->p[0], c->p[1]);
}

static void test_channels(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 13);
    param4(&c, 0, "a", 2, 1, 2, 3);
    param4(&c, 1, "b", 2, 3, 2, 3);
    param4(&c, 2, "c", 2, 2, 2, 3);
    mtl_test_gradcheck("concat_channels", c.m, build_concat, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 14);
    param4(&c, 0, "a", 3, 2, 0, 0);
    param4(&c, 1, "b", 3, 4, 0, 0);
    param4(&c, 2, "c", 3, 1, 0, 0);
    mtl_test_gradcheck("concat_channels, flat", c.m, build_concat, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 15);
    param4(&c, 0, "x", 2, 3, 2, 2);
    param4(&c, 1, "b", 3, 0, 0, 0);
    mtl_test_gradcheck("add_channel_bias", c.m, build_channel_bias, &c, H, TOL);
    ctx_close(&c);

    /* A 1 x 1 convolution of two items' concatenation, and the layer form. */
    ctx_open(&c, 16);
    param4(&c, 0, "a", 2, 3, 3, 2);
    param4(&c, 1, "b", 2, 2, 3, 2);
    param4(&c, 2, "w", 4, 5, 1, 1);
    param4(&c, 3, "bias", 4, 0, 0, 0);
    mtl_test_gradcheck("conv2d_1x1_concat", c.m, build_conv1x1_concat, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 17);
    param4(&c, 0, "a", 2, 1, 2, 3);
    param4(&c, 1, "b", 2, 3, 2, 3);
    assert_int_equal(mtl_conv2d_layer_init(&c.conv, c.m, "att", MTL_ROLE_SHARED, -1, 0, 4, 3, 1, 1,
                                           0, MTL_CONV_INIT_XAVIER_NORMAL, &c.rng),
                     MTL_OK);
    mtl_test_fill_uniform(c.conv.bias, &c.rng, 1.0);
    mtl_test_gradcheck("conv2d_layer_forward_concat", c.m, build_conv1x1_concat_layer, &c, H, TOL);
    ctx_close(&c);
}

/* ---- losses -------------------------------------------------------------- */

static mtl_tensor *build_log_softmax(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_log_softmax(g, c->p[0]);
}

static mtl_tensor *build_nll(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_nll_loss(g, mtl_log_softmax(g, c->p[0]), aux_input(g, c), -1);
}

static void test_log_softmax_nll(void **state)
{
    static const float labels[2 * 2 * 3] = {0, 3, -1, 2, 1, 1, -1, -1, 0, 3, 2, 0};
    ctx c;

    (void)state;
    ctx_open(&c, 16);
    param4(&c, 0, "x", 2, 4, 2, 3);
    mtl_test_gradcheck("log_softmax", c.m, build_log_softmax, &c, H, TOL);
    aux_set(&c, 3, (int64_t[]){2, 2, 3}, labels);
    mtl_test_gradcheck("log_softmax + nll_loss", c.m, build_nll, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 17);
    param4(&c, 0, "x", 4, 3, 0, 0);
    aux_set(&c, 1, (int64_t[]){4}, (const float[]){2, -1, 0, 1});
    mtl_test_gradcheck("log_softmax + nll_loss, flat", c.m, build_nll, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_masked(mtl_graph *g, void *p)
{
    ctx *c = p;

    if (c->flag)
        return mtl_masked_cosine_loss(g, mtl_l2_normalize(g, c->p[0]), aux_input(g, c));
    return mtl_masked_l1_loss(g, c->p[0], aux_input(g, c));
}

static void test_masked_losses(void **state)
{
    float target[2 * 3 * 2 * 3];
    ctx c;

    (void)state;
    /*
     * Depth: 2 of 12 pixels without depth; |pred - target| >= 0.05 everywhere.
     */
    ctx_open(&c, 18);
    ct_fill_spread(param4(&c, 0, "pred", 2, 1, 2, 3), &c.rng, -1.0, 0.2);
    for (int i = 0; i < 12; i++)
        target[i] = i == 4 || i == 9 ? 0.0f : 0.1f * (float)i + 0.05f;
    aux_set(&c, 4, (int64_t[]){2, 1, 2, 3}, target);
    c.flag = 0;
    mtl_test_gradcheck("masked_l1_loss", c.m, build_masked, &c, H, TOL);
    ctx_close(&c);

    /* Normals: unit targets, two pixels without a normal. */
    ctx_open(&c, 19);
    param4(&c, 0, "x", 2, 3, 2, 3);
    for (int i = 0; i < 2; i++)
        for (int p = 0; p < 6; p++) {
            float v[3] = {(float)mtl_rng_normal(&c.rng), (float)mtl_rng_normal(&c.rng),
                          (float)mtl_rng_normal(&c.rng)};
            float norm = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            int hole = (i == 0 && p == 2) || (i == 1 && p == 5);

            for (int k = 0; k < 3; k++)
                target[(i * 3 + k) * 6 + p] = hole ? 0.0f : v[k] / norm;
        }
    aux_set(&c, 4, (int64_t[]){2, 3, 2, 3}, target);
    c.flag = 1;
    mtl_test_gradcheck("l2_normalize + cosine loss", c.m, build_masked, &c, H, TOL);
    ctx_close(&c);
}

/* ---- layers ------------------------------------------------------------ */

static mtl_tensor *build_layers(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_tensor *y = mtl_conv2d_layer_forward(g, &c->conv, c->p[0]);

    /* sigmoid, not ReLU: no kink for a finite-difference step to cross */
    return mtl_sigmoid(g, mtl_batch_norm2d_layer_forward(g, &c->bn, y, c->training));
}

static void test_layers(void **state)
{
    ctx c;

    (void)state;
    for (int training = 0; training <= 1; training++) {
        ctx_open(&c, 20);
        param4(&c, 0, "x", 2, 2, 4, 3);
        assert_int_equal(mtl_conv2d_layer_init(&c.conv, c.m, "conv", MTL_ROLE_SHARED, -1, 0, 2, 3,
                                               3, 1, 1, MTL_CONV_INIT_XAVIER_NORMAL, &c.rng),
                         MTL_OK);
        assert_int_equal(mtl_batch_norm2d_layer_init(&c.bn, c.m, "bn", MTL_ROLE_SHARED, -1, 0, 3),
                         MTL_OK);
        /*
         * Non-trivial affine parameters; running updates do not change training
         * outputs.
         */
        mtl_test_fill_uniform(c.bn.weight, &c.rng, 1.0);
        mtl_test_fill_uniform(c.bn.bias, &c.rng, 0.2);
        mtl_test_fill_uniform(c.conv.bias, &c.rng, 0.5);
        c.bn.momentum = training ? 0.1f : 0.0f;
        c.training = training;
        mtl_test_gradcheck(training ? "conv + batch norm + sigmoid, train"
                                    : "conv + batch norm + sigmoid, eval",
                           c.m, build_layers, &c, H, TOL);
        ctx_close(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_batch_norm_act),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_l2_normalize),
        cmocka_unit_test(test_max_pool),
        cmocka_unit_test(test_resize),
        cmocka_unit_test(test_crop),
        cmocka_unit_test(test_channels),
        cmocka_unit_test(test_log_softmax_nll),
        cmocka_unit_test(test_masked_losses),
        cmocka_unit_test(test_layers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
