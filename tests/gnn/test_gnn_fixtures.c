/*
 * The QM9 model's layers against PyTorch / PyTorch Geometric: each test
 * loads the values tools/make_gnn_fixtures.py wrote, puts the inputs and the
 * parameters into our tensors, runs the layer forward and backward, and
 * compares the outputs and every gradient (float32 against the float64
 * reference).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>

#include "gnn_test.h"

/* Relative deviation allowed against the float64 reference: float32 rounding. */
#define TOL 2e-5

typedef struct env {
    mtl_graph *g;
    mtl_model *m;
    mtl_rng rng;
    gnn_fixture *fx;
} env;

static void env_open(env *e, const char *file)
{
    assert_int_equal(mtl_graph_create(&e->g), MTL_OK);
    assert_int_equal(mtl_model_create(&e->m), MTL_OK);
    mtl_rng_seed(&e->rng, 1, 0);
    e->fx = gnn_fixture_load(file);
}

static void env_close(env *e)
{
    gnn_fixture_free(e->fx);
    mtl_model_destroy(e->m);
    mtl_graph_destroy(e->g);
}

/* A graph input from the fixture whose gradient the backward pass keeps. */
static mtl_tensor *input_with_grad(env *e, const char *name)
{
    mtl_tensor *t = gnn_input(e->g, e->fx, name);
    mtl_graph_retain_grad(e->g, t);
    return t;
}

static void check(env *e, const char *label, const float *got, const char *ref)
{
    assert_true(gnn_compare(label, got, gnn_fixture_get(e->fx, ref)) <= TOL);
}

static void check_param_grads(env *e, const char *prefix, const char *const *names)
{
    char full[128], ref[128];

    for (int i = 0; names[i]; i++) {
        snprintf(full, sizeof full, "%s%s", prefix, names[i]);
        snprintf(ref, sizeof ref, "d%s", names[i]);
        check(e, ref, mtl_tensor_grad(gnn_param(e->m, full)), ref);
    }
}

static void set_params(env *e, const char *prefix, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        gnn_set_param(e->m, prefix, e->fx, names[i]);
}

static void test_linear(void **state)
{
    static const char *const names[] = {"weight", "bias", NULL};
    mtl_linear lin;
    mtl_tensor *x, *y;
    env e;

    (void)state;
    env_open(&e, "linear.txt");
    assert_int_equal(mtl_linear_init(&lin, e.m, "lin", MTL_ROLE_SHARED, -1, 0, 7, 4, &e.rng),
                     MTL_OK);
    set_params(&e, "lin.", names);
    x = input_with_grad(&e, "x");
    y = mtl_linear_forward(e.g, &lin, x);
    gnn_backprop(e.g, y, e.fx, "dy");

    check(&e, "linear y", mtl_tensor_data(y), "y");
    check(&e, "linear dx", mtl_tensor_grad(x), "dx");
    check_param_grads(&e, "lin.", names);
    env_close(&e);
}

static void test_cat_relu_mse(void **state)
{
    mtl_tensor *a, *b, *c, *r, *target, *loss;
    float one = 1.0f;
    env e;

    (void)state;
    env_open(&e, "cat_relu_mse.txt");
    a = input_with_grad(&e, "a");
    b = input_with_grad(&e, "b");
    target = gnn_input(e.g, e.fx, "target");
    c = mtl_concat(e.g, 2, (mtl_tensor *[]){a, b});
    r = mtl_relu(e.g, c);
    loss = mtl_mse_loss(e.g, r, target);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    assert_int_equal(mtl_graph_backward(e.g, 1, &loss, &one), MTL_OK);

    check(&e, "cat", mtl_tensor_data(c), "cat");
    check(&e, "relu", mtl_tensor_data(r), "relu");
    check(&e, "mse loss", mtl_tensor_data(loss), "loss");
    check(&e, "cat/relu/mse da", mtl_tensor_grad(a), "da");
    check(&e, "cat/relu/mse db", mtl_tensor_grad(b), "db");
    env_close(&e);
}

static void test_gather_scatter_mean(void **state)
{
    mtl_tensor *x, *gathered, *y;
    mtl_index *src, *dst;
    env e;

    (void)state;
    env_open(&e, "gather_scatter_mean.txt");
    x = input_with_grad(&e, "x");
    src = gnn_index(e.g, e.fx, "src", 6);
    dst = gnn_index(e.g, e.fx, "dst", 6);
    gathered = mtl_gather_rows(e.g, x, src);
    y = mtl_scatter_mean(e.g, gathered, dst);
    gnn_backprop(e.g, y, e.fx, "dy");

    check(&e, "gather", mtl_tensor_data(gathered), "gathered");
    check(&e, "scatter mean y", mtl_tensor_data(y), "y");
    check(&e, "gather/scatter dx", mtl_tensor_grad(x), "dx");
    env_close(&e);
}

/* PyG's NNConv, with the edge network's hidden layer computed by mtl_nnconv_hidden(). */
static void test_nnconv(void **state)
{
    static const char *const names[] = {"bias",      "nn.0.weight", "nn.0.bias", "nn.2.weight",
                                        "nn.2.bias", "lin.weight",  NULL};
    mtl_tensor *x, *edge_attr, *hidden, *y;
    mtl_index *src, *dst;
    mtl_nnconv conv;
    env e;

    (void)state;
    env_open(&e, "nnconv.txt");
    assert_int_equal(
        mtl_nnconv_init(&conv, e.m, "conv", MTL_ROLE_SHARED, -1, 0, 4, 3, 5, 6, &e.rng), MTL_OK);
    set_params(&e, "conv.", names);
    x = input_with_grad(&e, "x");
    edge_attr = input_with_grad(&e, "edge_attr");
    src = gnn_index(e.g, e.fx, "edge_src", 7);
    dst = gnn_index(e.g, e.fx, "edge_dst", 7);
    hidden = mtl_nnconv_hidden(e.g, &conv, edge_attr);
    mtl_graph_retain_grad(e.g, hidden);
    y = mtl_nnconv_forward(e.g, &conv, x, hidden, src, dst);
    gnn_backprop(e.g, y, e.fx, "dy");

    check(&e, "nnconv hidden", mtl_tensor_data(hidden), "hidden");
    check(&e, "nnconv y", mtl_tensor_data(y), "y");
    check(&e, "nnconv dx", mtl_tensor_grad(x), "dx");
    check(&e, "nnconv dhidden", mtl_tensor_grad(hidden), "dhidden");
    check(&e, "nnconv dedge_attr", mtl_tensor_grad(edge_attr), "dedge_attr");
    check_param_grads(&e, "conv.", names);
    env_close(&e);
}

static void test_gru(void **state)
{
    static const char *const names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                        NULL};
    mtl_tensor *x, *h, *y;
    mtl_gru gru;
    env e;

    (void)state;
    env_open(&e, "gru.txt");
    assert_int_equal(mtl_gru_init(&gru, e.m, "gru", MTL_ROLE_SHARED, -1, 0, 4, 3, &e.rng), MTL_OK);
    set_params(&e, "gru.", names);
    x = input_with_grad(&e, "x");
    h = input_with_grad(&e, "h");
    y = mtl_gru_forward(e.g, &gru, x, h);
    gnn_backprop(e.g, y, e.fx, "dy");

    check(&e, "gru y", mtl_tensor_data(y), "y");
    check(&e, "gru dx", mtl_tensor_grad(x), "dx");
    check(&e, "gru dh", mtl_tensor_grad(h), "dh");
    check_param_grads(&e, "gru.", names);
    env_close(&e);
}

static void test_lstm(void **state)
{
    static const char *const names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                        NULL};
    mtl_tensor *x, *h, *c, *y, *h1, *c1, *loss, *dh1, *dc1;
    float one = 1.0f;
    mtl_lstm lstm;
    env e;

    (void)state;
    env_open(&e, "lstm.txt");
    assert_int_equal(mtl_lstm_init(&lstm, e.m, "lstm", MTL_ROLE_SHARED, -1, 0, 4, 3, &e.rng),
                     MTL_OK);
    set_params(&e, "lstm.", names);
    x = input_with_grad(&e, "x");
    h = input_with_grad(&e, "h");
    c = input_with_grad(&e, "c");
    y = mtl_lstm_forward(e.g, &lstm, x, h, c, &h1, &c1);
    assert_ptr_equal(y, h1);
    dh1 = gnn_input(e.g, e.fx, "dh_out");
    dc1 = gnn_input(e.g, e.fx, "dc_out");
    loss = mtl_add(e.g, mtl_sum(e.g, mtl_mul(e.g, h1, dh1)), mtl_sum(e.g, mtl_mul(e.g, c1, dc1)));
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    assert_int_equal(mtl_graph_backward(e.g, 1, &loss, &one), MTL_OK);

    check(&e, "lstm h", mtl_tensor_data(h1), "h_out");
    check(&e, "lstm c", mtl_tensor_data(c1), "c_out");
    check(&e, "lstm dx", mtl_tensor_grad(x), "dx");
    check(&e, "lstm dh", mtl_tensor_grad(h), "dh");
    check(&e, "lstm dc", mtl_tensor_grad(c), "dc");
    check_param_grads(&e, "lstm.", names);
    env_close(&e);
}

static void test_set2set(void **state)
{
    static const char *const names[] = {"lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0",
                                        "lstm.bias_hh_l0", NULL};
    mtl_set2set s2s;
    mtl_tensor *x, *y;
    mtl_index *batch;
    env e;

    (void)state;
    env_open(&e, "set2set.txt");
    assert_int_equal(mtl_set2set_init(&s2s, e.m, "s2s", MTL_ROLE_SHARED, -1, 0, 3, 3, &e.rng),
                     MTL_OK);
    set_params(&e, "s2s.", names);
    x = input_with_grad(&e, "x");
    batch = gnn_index(e.g, e.fx, "batch", 4);
    y = mtl_set2set_forward(e.g, &s2s, x, batch);
    gnn_backprop(e.g, y, e.fx, "dy");

    check(&e, "set2set y", mtl_tensor_data(y), "y");
    check(&e, "set2set dx", mtl_tensor_grad(x), "dx");
    check_param_grads(&e, "s2s.", names);
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_cat_relu_mse),
        cmocka_unit_test(test_gather_scatter_mean),
        cmocka_unit_test(test_nnconv),
        cmocka_unit_test(test_gru),
        cmocka_unit_test(test_lstm),
        cmocka_unit_test(test_set2set),
    };
    return cmocka_run_group_tests_name("gnn_fixtures", tests, NULL, NULL);
}
