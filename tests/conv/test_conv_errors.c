/*
 * Error paths of mtl/conv.h: bad shapes and arguments give NULL and the
 * exact message, errors are sticky, and layer initialisation reports bad
 * sizes.  Also the properties of the initialisation (PyTorch's bounds,
 * Xavier's spread, batch norm's starting values) and of the loss edge
 * cases (nothing counted gives NaN, as in PyTorch).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test.h"

/* The graph, model and rng (seeded with 5) of each test. */
typedef mtl_test_env env;

/*
 * A zero-filled graph input of up to four dimensions (trailing zeros: fewer).
 */
static mtl_tensor *zeros(env *e, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t shape[4] = {d0, d1, d2, d3};
    int ndim = d3 > 0 ? 4 : d2 > 0 ? 3 : d1 > 0 ? 2 : 1;
    mtl_tensor *t = mtl_graph_input(e->g, ndim, shape);

    assert_non_null(t);
    memset(mtl_tensor_data(t), 0, (size_t)mtl_tensor_numel(t) * sizeof(float));
    return t;
}

/*
 * The op returned NULL and the graph holds exactly this message; then a fresh
 * step.
 */
static void expect_error(env *e, const mtl_tensor *result, const char *message)
{
    assert_null(result);
    assert_int_equal(mtl_graph_status(e->g), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), message);
    mtl_graph_reset(e->g);
}

static void test_conv_errors(void **state)
{
    env *e = *state;

    expect_error(e, mtl_conv2d(e->g, zeros(e, 2, 3, 4, 0), zeros(e, 4, 3, 3, 3), NULL, 1, 1),
                 "conv: mtl_conv2d: input is not an image (expected [n, c, h, w], got [2, 3, 4])");
    expect_error(e, mtl_conv2d(e->g, zeros(e, 1, 3, 4, 4), zeros(e, 4, 2, 3, 3), NULL, 1, 1),
                 "conv: mtl_conv2d: weight has shape [4, 2, 3, 3] (expected [out, 3, kh, kw])");
    expect_error(
        e, mtl_conv2d(e->g, zeros(e, 1, 3, 4, 4), zeros(e, 4, 3, 3, 3), zeros(e, 5, 0, 0, 0), 1, 1),
        "conv: mtl_conv2d: bias has shape [5] (expected [4])");
    expect_error(e, mtl_conv2d(e->g, zeros(e, 1, 3, 4, 4), zeros(e, 4, 3, 3, 3), NULL, 0, 1),
                 "conv: mtl_conv2d: bad stride or padding (expected stride >= 1 and padding >= 0, "
                 "got 0 and 1)");
    expect_error(e, mtl_conv2d(e->g, zeros(e, 1, 3, 2, 4), zeros(e, 4, 3, 5, 3), NULL, 1, 1),
                 "conv: mtl_conv2d: kernel larger than the padded input (expected at most 4 x 6, "
                 "got 5 x 3)");
    expect_error(e, mtl_conv2d(e->g, NULL, zeros(e, 4, 3, 3, 3), NULL, 1, 1),
                 "conv: mtl_conv2d: operand 1 is NULL");
}

static void test_sticky(void **state)
{
    env *e = *state;
    mtl_tensor *bad = mtl_max_pool2d(e->g, zeros(e, 1, 2, 1, 4), NULL);
    mtl_tensor *later = mtl_conv2d(e->g, bad, zeros(e, 4, 3, 3, 3), NULL, 1, 1);

    /*
     * The first error stays; ops given its NULL result return NULL without a
     * new message.
     */
    expect_error(e, later,
                 "conv: mtl_max_pool2d: input smaller than the 2 x 2 window (expected h, w >= 2, "
                 "got 1 x 4)");
}

static void test_batch_norm_errors(void **state)
{
    env *e = *state;
    mtl_tensor *x;

    expect_error(e,
                 mtl_batch_norm2d(e->g, zeros(e, 2, 3, 2, 2), zeros(e, 4, 0, 0, 0), NULL, NULL,
                                  NULL, 1, 0.1f, 1e-5f),
                 "conv: mtl_batch_norm2d: weight has shape [4] (expected [3])");
    expect_error(
        e, mtl_batch_norm2d(e->g, zeros(e, 2, 3, 2, 2), NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f),
        "conv: mtl_batch_norm2d: running statistics missing (expected both "
        "running_mean and running_var in evaluation)");
    expect_error(e,
                 mtl_batch_norm2d(e->g, zeros(e, 2, 3, 2, 2), NULL, NULL, zeros(e, 3, 0, 0, 0),
                                  NULL, 1, 0.1f, 1e-5f),
                 "conv: mtl_batch_norm2d: running statistics missing (expected both "
                 "running_mean and running_var, or neither)");
    expect_error(
        e, mtl_batch_norm2d(e->g, zeros(e, 1, 3, 1, 1), NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f),
        "conv: mtl_batch_norm2d: one value per channel in training (expected more than "
        "1, got input [1, 3, 1, 1])");
    expect_error(
        e, mtl_batch_norm2d(e->g, zeros(e, 2, 3, 2, 2), NULL, NULL, NULL, NULL, 1, 1.5f, 1e-5f),
        "conv: mtl_batch_norm2d: bad eps or momentum (expected eps > 0 and momentum in "
        "[0, 1], got 1e-05 and 1.5)");
    expect_error(e,
                 mtl_batch_norm2d_act(e->g, zeros(e, 2, 3, 2, 2), NULL, NULL, NULL, NULL, 1, 0.1f,
                                      1e-5f, (mtl_activation)7),
                 "conv: mtl_batch_norm2d_act: unknown activation (expected 0, 1 or 2, got 7)");
    x = zeros(e, 2, 3, 2, 2);
    expect_error(e,
                 mtl_batch_norm2d(e->g, x, NULL, NULL,
                                  mtl_add_scalar(e->g, zeros(e, 3, 0, 0, 0), 1),
                                  zeros(e, 3, 0, 0, 0), 1, 0.1f, 1e-5f),
                 "conv: mtl_batch_norm2d: running_mean is the result of an op (expected a model "
                 "buffer or a graph input, which the running update writes)");
}

static void test_pool_errors(void **state)
{
    env *e = *state;
    mtl_pool_indices *ix;
    int64_t out[4];

    assert_non_null(mtl_max_pool2d(e->g, zeros(e, 1, 2, 4, 5), &ix));
    expect_error(e, mtl_max_unpool2d(e->g, zeros(e, 1, 2, 2, 3), ix),
                 "conv: mtl_max_unpool2d: input does not have the pooled shape of the indices "
                 "(expected [1, 2, 2, 2], got [1, 2, 2, 3])");
    expect_error(e, mtl_max_unpool2d(e->g, zeros(e, 1, 2, 2, 3), NULL),
                 "conv: mtl_max_unpool2d: operand 2 (indices) is NULL");

    assert_non_null(mtl_max_pool2d(e->g, zeros(e, 1, 1, 4, 4), &ix));
    assert_int_equal(mtl_pool_indices_read(ix, out, 3), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "conv: mtl_pool_indices_read: element count differs "
                                             "(expected 4, got 3)");
    /* Ties: the first position in row-major order wins, as in PyTorch. */
    assert_int_equal(mtl_pool_indices_read(ix, out, 4), MTL_OK);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 2);
    assert_int_equal(out[2], 8);
    assert_int_equal(out[3], 10);
    mtl_graph_reset(e->g);

    expect_error(e, mtl_resize_bilinear(e->g, zeros(e, 1, 2, 4, 5), 0, 3),
                 "conv: mtl_resize_bilinear: bad output size (expected h, w >= 1, got 0 x 3)");
    expect_error(e, mtl_crop2d(e->g, zeros(e, 1, 2, 4, 5), 1, 2, 4, 2),
                 "conv: mtl_crop2d: window outside the image (expected rows and columns within "
                 "4 x 5, got rows 1..4, columns 2..3)");
}

static void test_channel_errors(void **state)
{
    env *e = *state;

    expect_error(
        e,
        mtl_concat_channels(e->g, 2, (mtl_tensor *[]){zeros(e, 2, 3, 4, 5), zeros(e, 2, 1, 4, 6)}),
        "conv: mtl_concat_channels: item 1 differs outside the channels (expected the shape of "
        "[2, 3, 4, 5] but for dimension 1, got [2, 1, 4, 6])");
    expect_error(e, mtl_concat_channels(e->g, 0, NULL),
                 "conv: mtl_concat_channels: no items (expected n >= 1 and an array of "
                 "them, got n = 0 and NULL)");
    expect_error(e, mtl_add_channel_bias(e->g, zeros(e, 2, 3, 4, 5), zeros(e, 2, 0, 0, 0)),
                 "conv: mtl_add_channel_bias: bias has shape [2] (expected [3])");
}

static void test_conv1x1_concat_errors(void **state)
{
    env *e = *state;
    mtl_conv2d_layer conv;

    expect_error(e,
                 mtl_conv2d_1x1_concat(e->g, 2,
                                       (mtl_tensor *[]){zeros(e, 2, 3, 4, 5), zeros(e, 2, 1, 4, 6)},
                                       zeros(e, 2, 4, 1, 1), NULL),
                 "conv: mtl_conv2d_1x1_concat: item 1 differs outside the channels (expected the "
                 "shape of [2, 3, 4, 5] but for dimension 1, got [2, 1, 4, 6])");
    expect_error(e,
                 mtl_conv2d_1x1_concat(e->g, 2,
                                       (mtl_tensor *[]){zeros(e, 2, 3, 4, 5), zeros(e, 2, 1, 4, 5)},
                                       zeros(e, 2, 3, 1, 1), NULL),
                 "conv: mtl_conv2d_1x1_concat: weight has shape [2, 3, 1, 1] (expected [out, 4, "
                 "1, 1]: the items' channels together)");
    expect_error(e,
                 mtl_conv2d_1x1_concat(e->g, 1, (mtl_tensor *[]){zeros(e, 2, 3, 4, 5)},
                                       zeros(e, 2, 3, 3, 3), NULL),
                 "conv: mtl_conv2d_1x1_concat: weight has shape [2, 3, 3, 3] (expected [out, 3, "
                 "1, 1]: the items' channels together)");
    expect_error(e,
                 mtl_conv2d_1x1_concat(e->g, 1, (mtl_tensor *[]){zeros(e, 2, 3, 4, 5)},
                                       zeros(e, 2, 3, 1, 1), zeros(e, 3, 0, 0, 0)),
                 "conv: mtl_conv2d_1x1_concat: bias has shape [3] (expected [2])");
    expect_error(e,
                 mtl_conv2d_1x1_concat(e->g, 2, (mtl_tensor *[]){zeros(e, 2, 3, 4, 5), NULL},
                                       zeros(e, 2, 3, 1, 1), NULL),
                 "conv: mtl_conv2d_1x1_concat: item 1 is NULL");
    expect_error(e, mtl_conv2d_1x1_concat(e->g, 0, NULL, NULL, NULL),
                 "conv: mtl_conv2d_1x1_concat: no items (expected n >= 1 and an array of "
                 "them, got n = 0 and NULL)");
    expect_error(e, mtl_conv2d_1x1_concat(e->g, 2, NULL, zeros(e, 2, 3, 1, 1), NULL),
                 "conv: mtl_conv2d_1x1_concat: no items (expected n >= 1 and an array of "
                 "them, got n = 2 and NULL)");
    assert_int_equal(mtl_conv2d_layer_init(&conv, e->m, "k3", MTL_ROLE_SHARED, -1, 0, 4, 2, 3, 1, 1,
                                           MTL_CONV_INIT_XAVIER_NORMAL, &e->rng),
                     MTL_OK);
    expect_error(
        e, mtl_conv2d_layer_forward_concat(e->g, &conv, 1, (mtl_tensor *[]){zeros(e, 2, 4, 4, 5)}),
        "conv: mtl_conv2d_layer_forward_concat: the layer is not a plain 1 x 1 "
        "convolution (expected kernel 1, stride 1, padding 0, got 3, 1, 1)");
}

static void test_loss_errors(void **state)
{
    env *e = *state;
    mtl_tensor *logp = zeros(e, 2, 3, 2, 2), *target = zeros(e, 2, 2, 2, 0);

    mtl_tensor_data(target)[5] = 3.0f;
    expect_error(e, mtl_nll_loss(e->g, logp, target, -1),
                 "conv: mtl_nll_loss: target 5 is not a class (expected an integer in [0, 3) or "
                 "-1, got 3)");
    logp = zeros(e, 2, 3, 2, 2);
    target = zeros(e, 2, 2, 2, 0);
    mtl_tensor_data(target)[1] = 0.5f;
    expect_error(e, mtl_nll_loss(e->g, logp, target, -1),
                 "conv: mtl_nll_loss: target 1 is not a class (expected an integer in [0, 3) or "
                 "-1, got 0.5)");
    expect_error(e, mtl_nll_loss(e->g, zeros(e, 2, 3, 2, 2), zeros(e, 2, 2, 3, 0), -1),
                 "conv: mtl_nll_loss: target shape mismatch (expected the input's shape "
                 "[2, 3, 2, 2] without dimension 1, got [2, 2, 3])");
    expect_error(e, mtl_masked_l1_loss(e->g, zeros(e, 2, 1, 2, 2), zeros(e, 2, 1, 2, 3)),
                 "conv: mtl_masked_l1_loss: target shape mismatch (expected [2, 1, 2, 2], got "
                 "[2, 1, 2, 3])");
    expect_error(e, mtl_log_softmax(e->g, zeros(e, 6, 0, 0, 0)),
                 "conv: mtl_log_softmax: input is not an image (expected [n, c, h, w] or [n, c], "
                 "got [6])");
}

/*
 * With nothing counted the losses are NaN (PyTorch's 0 / 0) and the gradients
 * zero.
 */
static void test_loss_nothing_counted(void **state)
{
    env *e = *state;
    mtl_tensor *x = zeros(e, 2, 3, 2, 2), *labels = zeros(e, 2, 2, 2, 0);
    mtl_tensor *pred = zeros(e, 2, 1, 2, 2), *depth = zeros(e, 2, 1, 2, 2);
    mtl_tensor *nll, *l1, *total;
    float one = 1.0f;

    for (int i = 0; i < 8; i++)
        mtl_tensor_data(labels)[i] = -1.0f;
    mtl_graph_retain_grad(e->g, x);
    mtl_graph_retain_grad(e->g, pred);
    nll = mtl_nll_loss(e->g, mtl_log_softmax(e->g, x), labels, -1);
    l1 = mtl_masked_l1_loss(e->g, pred, depth);
    assert_int_equal(mtl_graph_status(e->g), MTL_OK);
    assert_true(isnan(mtl_tensor_item(nll)));
    assert_true(isnan(mtl_tensor_item(l1)));
    total = mtl_add(e->g, nll, l1);
    assert_int_equal(mtl_graph_backward(e->g, 1, &total, &one), MTL_OK);
    for (int i = 0; i < 24; i++)
        assert_true(mtl_tensor_grad(x)[i] == 0.0f);
    for (int i = 0; i < 8; i++)
        assert_true(mtl_tensor_grad(pred)[i] == 0.0f);
    mtl_graph_reset(e->g);
}

static void test_layer_init(void **state)
{
    env *e = *state;
    mtl_conv2d_layer conv;
    mtl_batch_norm2d_layer bn;
    const float *w, *b;
    double sum = 0.0, sq = 0.0, bound = 1.0 / sqrt(16.0 * 9.0), std;
    int64_t n;

    assert_int_equal(mtl_conv2d_layer_init(&conv, e->m, "c", MTL_ROLE_SHARED, -1, 0, 16, 0, 3, 1, 1,
                                           MTL_CONV_INIT_DEFAULT, &e->rng),
                     MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "conv: mtl_conv2d_layer_init: 'c': bad size (expected in, out, kernel, "
                        "stride >= 1 and padding >= 0, got 16, 0, 3, 1, 1)");
    assert_int_equal(mtl_batch_norm2d_layer_init(&bn, e->m, "bn", MTL_ROLE_SHARED, -1, 0, 0),
                     MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "conv: mtl_batch_norm2d_layer_init: 'bn': bad channel "
                                             "count (expected >= 1, got 0)");

    /* PyTorch's default: weight and bias uniform within 1 / sqrt(fan_in). */
    assert_int_equal(mtl_conv2d_layer_init(&conv, e->m, "d", MTL_ROLE_TASK, 1, 0, 16, 32, 3, 1, 1,
                                           MTL_CONV_INIT_DEFAULT, &e->rng),
                     MTL_OK);
    w = mtl_tensor_data(conv.weight);
    b = mtl_tensor_data(conv.bias);
    assert_int_equal(mtl_tensor_dim(conv.weight, 0), 32);
    assert_int_equal(mtl_tensor_dim(conv.weight, 1), 16);
    assert_int_equal(mtl_tensor_dim(conv.weight, 3), 3);
    for (int64_t i = 0; i < mtl_tensor_numel(conv.weight); i++)
        assert_true(fabs(w[i]) <= bound);
    for (int i = 0; i < 32; i++)
        assert_true(fabs(b[i]) <= bound && b[i] != 0.0f);

    /*
     * Xavier normal: zero bias, std sqrt(2 / (fan_in + fan_out)) = sqrt(2 /
     * (144 + 288)).
     */
    assert_int_equal(mtl_conv2d_layer_init(&conv, e->m, "x", MTL_ROLE_SHARED, -1, 0, 16, 32, 3, 1,
                                           1, MTL_CONV_INIT_XAVIER_NORMAL, &e->rng),
                     MTL_OK);
    w = mtl_tensor_data(conv.weight);
    n = mtl_tensor_numel(conv.weight);
    for (int64_t i = 0; i < n; i++) {
        sum += w[i];
        sq += (double)w[i] * w[i];
    }
    std = sqrt(sq / (double)n - (sum / (double)n) * (sum / (double)n));
    assert_true(fabs(std / sqrt(2.0 / 432.0) - 1.0) < 0.03);
    assert_true(fabs(sum / (double)n) < 0.003);
    for (int i = 0; i < 32; i++)
        assert_true(mtl_tensor_data(conv.bias)[i] == 0.0f);

    /*
     * Batch norm: scale 1, shift 0, running mean 0, running variance 1;
     * PyTorch's names.
     */
    assert_int_equal(mtl_batch_norm2d_layer_init(&bn, e->m, "bn", MTL_ROLE_SHARED, -1, 0, 5),
                     MTL_OK);
    assert_true(bn.momentum == 0.1f && bn.eps == 1e-5f);
    for (int i = 0; i < 5; i++) {
        assert_true(mtl_tensor_data(bn.weight)[i] == 1.0f);
        assert_true(mtl_tensor_data(bn.bias)[i] == 0.0f);
        assert_true(mtl_tensor_data(bn.running_mean)[i] == 0.0f);
        assert_true(mtl_tensor_data(bn.running_var)[i] == 1.0f);
    }
    assert_int_equal(mtl_model_n_buffers(e->m), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conv_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_sticky, mtl_test_env_setup, mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_batch_norm_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_pool_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_conv1x1_concat_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_channel_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_loss_errors, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_loss_nothing_counted, mtl_test_env_setup,
                                        mtl_test_env_teardown),
        cmocka_unit_test_setup_teardown(test_layer_init, mtl_test_env_setup, mtl_test_env_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
