/*
 * Error paths of mtl/nn.h: bad shapes and indexes give NULL and the exact
 * message, errors are sticky, and layer initialisation reports bad sizes
 * and duplicate names.  Also the properties of the initialisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gnn_test.h"

/* The graph, model and rng (seeded with 5) of each test. */
typedef mtl_test_env env;

static mtl_tensor *matrix(env *e, int64_t rows, int64_t cols)
{
    mtl_tensor *t = mtl_graph_input(e->g, 2, (int64_t[]){rows, cols});

    assert_non_null(t);
    memset(mtl_tensor_data(t), 0, (size_t)(rows * cols) * sizeof(float));
    return t;
}

static mtl_tensor *vector(env *e, int64_t n)
{
    mtl_tensor *t = mtl_graph_input(e->g, 1, &n);

    assert_non_null(t);
    memset(mtl_tensor_data(t), 0, (size_t)n * sizeof(float));
    return t;
}

/* The step failed with exactly this message. */
static void expect_error(env *e, mtl_status status, const char *message)
{
    assert_int_equal(mtl_graph_status(e->g), status);
    assert_string_equal(mtl_error_message(), message);
    mtl_graph_reset(e->g);
}

static void test_affine_shapes(void **state)
{
    env *e = *state;

    assert_null(mtl_affine(e->g, matrix(e, 5, 7), matrix(e, 4, 6), NULL));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_affine: weight shape mismatch (expected [?, 7], got [4, 6])");

    assert_null(mtl_affine(e->g, matrix(e, 5, 7), matrix(e, 4, 7), vector(e, 5)));
    expect_error(e, MTL_ERR_INVALID, "nn: mtl_affine: bias shape mismatch (expected [4], got [5])");

    assert_null(mtl_affine(e->g, vector(e, 7), matrix(e, 4, 7), NULL));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_affine: input shape mismatch (expected [?, ?], got [7])");
}

static void test_sticky(void **state)
{
    env *e = *state;
    mtl_tensor *bad = mtl_add_bias(e->g, matrix(e, 2, 3), vector(e, 4));

    /* Later ops return NULL and keep the first message. */
    assert_null(bad);
    assert_null(mtl_affine(e->g, bad, matrix(e, 2, 3), NULL));
    assert_null(mtl_concat(e->g, 2, (mtl_tensor *[]){matrix(e, 2, 2), matrix(e, 3, 2)}));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_add_bias: bias shape mismatch (expected [3], got [4])");
}

static void test_concat_errors(void **state)
{
    env *e = *state;

    assert_null(mtl_concat(e->g, 2, (mtl_tensor *[]){matrix(e, 2, 2), matrix(e, 3, 2)}));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_concat: item 1 differs before the last dimension (expected the "
                 "leading dimensions of [2, 2], got [3, 2])");
    assert_null(mtl_concat(e->g, 0, NULL));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_concat: no items (expected n >= 1 and an array of them, got n = 0 "
                 "and NULL)");
}

static void test_mse_errors(void **state)
{
    env *e = *state;

    assert_null(mtl_mse_loss(e->g, matrix(e, 2, 3), matrix(e, 3, 2)));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_mse_loss: target shape mismatch (expected [2, 3], got [3, 2])");
}

static void test_index_errors(void **state)
{
    env *e = *state;
    static const int64_t values[] = {0, 5, 9, 1};
    mtl_index *ix;

    assert_null(mtl_graph_index(e->g, 4, values, 6));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_graph_index: value 9 at position 2 is out of range (expected 0 to 5)");

    assert_null(mtl_graph_index(e->g, 0, values, 6));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_graph_index: bad arguments (expected n > 0, range > 0 and values, got "
                 "n = 0, range = 6)");

    ix = mtl_graph_index(e->g, 4, values, 10);
    assert_int_equal(mtl_index_size(ix), 4);
    assert_int_equal(mtl_index_range(ix), 10);
    assert_int_equal(mtl_index_size(NULL), -1);

    assert_null(mtl_gather_rows(e->g, matrix(e, 9, 2), ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_gather_rows: input shape mismatch (expected [10, ?], got [9, 2])");

    ix = mtl_graph_index(e->g, 4, values, 10);
    assert_null(mtl_scatter_mean(e->g, matrix(e, 5, 2), ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_scatter_mean: input shape mismatch (expected [4, ?], got [5, 2])");

    ix = mtl_graph_index(e->g, 4, values, 10);
    assert_null(mtl_segment_softmax(e->g, matrix(e, 4, 1), ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_segment_softmax: input shape mismatch (expected [4], got [4, 1])");
}

static void test_message_errors(void **state)
{
    env *e = *state;
    static const int64_t src[] = {0, 1, 2};
    mtl_index *ix = mtl_graph_index(e->g, 3, src, 4);

    assert_null(
        mtl_edge_message(e->g, matrix(e, 4, 3), matrix(e, 3, 5), matrix(e, 7, 5), NULL, ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_edge_message: weight rows are not a multiple of the node features "
                 "(expected a multiple of 3, got 7)");

    ix = mtl_graph_index(e->g, 3, src, 4);
    assert_null(
        mtl_edge_message(e->g, matrix(e, 4, 3), matrix(e, 2, 5), matrix(e, 6, 5), NULL, ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_edge_message: hidden shape mismatch (expected [3, ?], got [2, 5])");

    ix = mtl_graph_index(e->g, 3, src, 4);
    assert_null(mtl_edge_message(e->g, matrix(e, 4, 3), matrix(e, 3, 5), matrix(e, 6, 5),
                                 vector(e, 5), ix));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_edge_message: bias shape mismatch (expected [6], got [5])");
}

static void test_cell_errors(void **state)
{
    env *e = *state;
    mtl_tensor *h, *c;

    assert_null(mtl_gru_cell(e->g, matrix(e, 2, 4), matrix(e, 2, 3), matrix(e, 9, 4),
                             matrix(e, 9, 2), NULL, NULL));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_gru_cell: weight_hh shape mismatch (expected [9, 3], got [9, 2])");

    assert_null(mtl_lstm_cell(e->g, matrix(e, 2, 4), matrix(e, 2, 3), matrix(e, 1, 3),
                              matrix(e, 12, 4), matrix(e, 12, 3), NULL, NULL, &h, &c));
    assert_null(h);
    assert_null(c);
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_lstm_cell: cell state shape mismatch (expected [2, 3], got [1, 3])");
}

static void test_layer_errors(void **state)
{
    env *e = *state;
    static const int64_t src[] = {0, 1, 2};
    static const int64_t dst[] = {1, 2, 0};
    mtl_linear lin;
    mtl_nnconv conv;

    assert_int_equal(mtl_linear_init(&lin, e->m, "lin", MTL_ROLE_SHARED, -1, 0, 0, 4, &e->rng),
                     MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "nn: mtl_linear_init: 'lin': size 0 is not positive (got 0)");
    assert_int_equal(mtl_linear_init(&lin, e->m, "lin", MTL_ROLE_SHARED, -1, 0, 3, 4, &e->rng),
                     MTL_OK);
    assert_int_equal(mtl_linear_init(&lin, e->m, "lin", MTL_ROLE_SHARED, -1, 0, 3, 4, &e->rng),
                     MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "model: mtl_model_param: duplicate name 'lin.weight'");

    assert_int_equal(
        mtl_nnconv_init(&conv, e->m, "conv", MTL_ROLE_SHARED, -1, 0, 3, 2, 2, 4, &e->rng), MTL_OK);
    assert_null(mtl_nnconv_forward(e->g, &conv, matrix(e, 3, 3), matrix(e, 3, 4),
                                   mtl_graph_index(e->g, 3, src, 3),
                                   mtl_graph_index(e->g, 3, dst, 4)));
    expect_error(e, MTL_ERR_INVALID,
                 "nn: mtl_nnconv_forward: targets do not match the sources (expected 3 edges "
                 "over 3 nodes, got 3 over 4)");
}

/* PyTorch's initialisation: names, shapes, bounds, PyG's zero bias. */
static void test_init(void **state)
{
    env *e = *state;
    mtl_nnconv conv;
    mtl_set2set s2s;
    mtl_param_info info;
    const float *v;
    double bound = 1.0 / sqrt(5.0), worst = 0.0;

    assert_int_equal(mtl_nnconv_init(&conv, e->m, "c", MTL_ROLE_TASK, 2, MTL_PARAM_LAST_SHARED, 4,
                                     3, 5, 6, &e->rng),
                     MTL_OK);
    assert_int_equal(mtl_tensor_dim(conv.nn2.weight, 0), 12);
    assert_int_equal(mtl_tensor_dim(conv.nn2.weight, 1), 6);
    assert_int_equal(mtl_param_get_info(conv.root, &info), MTL_OK);
    assert_string_equal(info.name, "c.lin.weight");
    assert_int_equal(info.role, MTL_ROLE_TASK);
    assert_int_equal(info.task, 2);
    assert_int_equal(info.flags, MTL_PARAM_LAST_SHARED);
    assert_ptr_equal(mtl_test_model_param(e->m, "c.nn.0.weight"), conv.nn0.weight);
    assert_ptr_equal(mtl_test_model_param(e->m, "c.bias"), conv.bias);

    /* nn.0: Linear(5, 6), uniform in +-1/sqrt(5), not all equal */
    v = mtl_tensor_data(conv.nn0.weight);
    for (int i = 0; i < 30; i++)
        worst = fmax(worst, fabs(v[i]));
    assert_true(worst <= bound && worst > 0.5 * bound);
    v = mtl_tensor_data(conv.bias);
    for (int i = 0; i < 3; i++)
        assert_true(v[i] == 0.0f);

    assert_int_equal(mtl_set2set_init(&s2s, e->m, "s", MTL_ROLE_SHARED, -1, 0, 3, 3, &e->rng),
                     MTL_OK);
    assert_ptr_equal(mtl_test_model_param(e->m, "s.lstm.weight_ih_l0"), s2s.lstm.weight_ih);
    assert_int_equal(mtl_tensor_dim(s2s.lstm.weight_ih, 0), 12);
    assert_int_equal(mtl_tensor_dim(s2s.lstm.weight_ih, 1), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affine_shapes), cmocka_unit_test(test_sticky),
        cmocka_unit_test(test_concat_errors), cmocka_unit_test(test_mse_errors),
        cmocka_unit_test(test_index_errors),  cmocka_unit_test(test_message_errors),
        cmocka_unit_test(test_cell_errors),   cmocka_unit_test(test_layer_errors),
        cmocka_unit_test(test_init),
    };
    return cmocka_run_group_tests_name("gnn_errors", tests, mtl_test_env_setup,
                                       mtl_test_env_teardown);
}
