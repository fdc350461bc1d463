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
    mtl_test_fixture *fx;
} env;

static void env_open(env *e, const char *file)
{
    assert_int_equal(mtl_graph_create(&e->g), MTL_OK);
    assert_int_equal(mtl_model_create(&e->m), MTL_OK);
    mtl_rng_seed(&e->rng, 1, 0);
    e->fx = mtl_test_fixture_load(MTL_GNN_FIXTURE_DIR, file);
}

static void env_close(env *e)
{
    mtl_test_fixture_free(e->fx);
    mtl_model_destroy(e->m);
    mtl_graph_destroy(e->g);
}

/* A graph input from the fixture whose gradient the backward pass keeps. */
static mtl_tensor *input_with_grad(env *e, const char *name)
{
    mtl_tensor *t = mtl_test_input(e->g, e->fx, name);
    mtl_graph_retain_grad(e->g, t);
    return t;
}

static void check(env *e, const char *label, const float *got, const char *ref)
{
    assert_true(mtl_test_compare(label, got, mtl_test_fixture_get(e->fx, ref)) <= TOL);
}

static void check_param_grads(env *e, const char *prefix, const char *const *names)
{
    char full[128], ref[128];

    for (int i = 0; names[i]; i++) {
        snprintf(full, sizeof full, "%s%s", prefix, names[i]);
        snprintf(ref, sizeof ref, "d%s", names[i]);
        check(e, ref, mtl_tensor_grad(mtl_test_model_param(e->m, full)), ref);
    }
}

static void set_params(env *e, const char *prefix, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        mtl_test_set_param(e->m, prefix, e->fx, names[i]);
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
    mtl_test_backprop(e.g, y, e.fx, "dy");

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
    target = mtl_test_input(e.g, e.fx, "target");
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
    mtl_test_backprop(e.g, y, e.fx, "dy");

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
    mtl_test_backprop(e.g, y, e.fx, "dy");

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
    mtl_test_backprop(e.g, y, e.fx, "dy");

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
    dh1 = mtl_test_input(e.g, e.fx, "dh_out");
    dc1 = mtl_test_input(e.g, e.fx, "dc_out");
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
    mtl_test_backprop(e.g, y, e.fx, "dy");

    check(&e, "set2set y", mtl_tensor_data(y), "y");
    check(&e, "set2set dx", mtl_tensor_grad(x), "dx");
    check_param_grads(&e, "s2s.", names);
    env_close(&e);
}

/* A column of a fixture matrix as a graph input [rows, 1]. */
static mtl_tensor *column(env *e, const char *name, int col)
{
    const mtl_test_ftensor *ft = mtl_test_fixture_get(e->fx, name);
    mtl_tensor *t = mtl_graph_input(e->g, 2, (int64_t[]){ft->shape[0], 1});
    float *v = mtl_tensor_data(t);

    for (int64_t r = 0; r < ft->shape[0]; r++)
        v[r] = (float)ft->values[r * ft->shape[1] + col];
    return t;
}

/*
 * The reference QM9 model end to end (narrower: dim 4, edge-network hidden
 * 8, two tasks), wired as the QM9 task does: the edge network's hidden layer
 * once for the three rounds, one loss per task, and one backward pass with
 * the task weights as seeds.
 */
static void test_qm9_net(void **state)
{
    static const char *const names[] = {
        "lin0.weight",
        "lin0.bias",
        "conv.bias",
        "conv.nn.0.weight",
        "conv.nn.0.bias",
        "conv.nn.2.weight",
        "conv.nn.2.bias",
        "conv.lin.weight",
        "gru.weight_ih_l0",
        "gru.weight_hh_l0",
        "gru.bias_ih_l0",
        "gru.bias_hh_l0",
        "set2set.lstm.weight_ih_l0",
        "set2set.lstm.weight_hh_l0",
        "set2set.lstm.bias_ih_l0",
        "set2set.lstm.bias_hh_l0",
        "lin1.weight",
        "lin1.bias",
        "heads.0.weight",
        "heads.0.bias",
        "heads.1.weight",
        "heads.1.bias",
        NULL,
    };
    const mtl_test_ftensor *weights;
    mtl_linear lin0, lin1, heads[2];
    mtl_nnconv conv;
    mtl_gru gru;
    mtl_set2set s2s;
    mtl_tensor *out, *h, *hidden, *features, *pred[2], *losses[2], *both;
    mtl_index *src, *dst, *batch;
    float seeds[2], loss_values[2];
    env e;

    (void)state;
    env_open(&e, "qm9_net.txt");
    assert_int_equal(mtl_linear_init(&lin0, e.m, "lin0", MTL_ROLE_SHARED, -1, 0, 11, 4, &e.rng),
                     MTL_OK);
    assert_int_equal(
        mtl_nnconv_init(&conv, e.m, "conv", MTL_ROLE_SHARED, -1, 0, 4, 4, 5, 8, &e.rng), MTL_OK);
    assert_int_equal(mtl_gru_init(&gru, e.m, "gru", MTL_ROLE_SHARED, -1, 0, 4, 4, &e.rng), MTL_OK);
    assert_int_equal(mtl_set2set_init(&s2s, e.m, "set2set", MTL_ROLE_SHARED, -1, 0, 4, 3, &e.rng),
                     MTL_OK);
    assert_int_equal(mtl_linear_init(&lin1, e.m, "lin1", MTL_ROLE_SHARED, -1, MTL_PARAM_LAST_SHARED,
                                     8, 4, &e.rng),
                     MTL_OK);
    for (int t = 0; t < 2; t++) {
        char name[32];
        snprintf(name, sizeof name, "heads.%d", t);
        assert_int_equal(mtl_linear_init(&heads[t], e.m, name, MTL_ROLE_TASK, t, 0, 4, 1, &e.rng),
                         MTL_OK);
    }
    set_params(&e, "", names);

    src = gnn_index(e.g, e.fx, "edge_src", 7);
    dst = gnn_index(e.g, e.fx, "edge_dst", 7);
    batch = gnn_index(e.g, e.fx, "batch", 2);
    out = mtl_relu(e.g, mtl_linear_forward(e.g, &lin0, mtl_test_input(e.g, e.fx, "x")));
    hidden = mtl_nnconv_hidden(e.g, &conv, mtl_test_input(e.g, e.fx, "edge_attr"));
    h = out;
    for (int round = 0; round < 3; round++) {
        mtl_tensor *m = mtl_relu(e.g, mtl_nnconv_forward(e.g, &conv, out, hidden, src, dst));
        h = mtl_gru_forward(e.g, &gru, m, h);
        out = h;
    }
    features =
        mtl_relu(e.g, mtl_linear_forward(e.g, &lin1, mtl_set2set_forward(e.g, &s2s, out, batch)));
    weights = mtl_test_fixture_get(e.fx, "weights");
    for (int t = 0; t < 2; t++) {
        pred[t] = mtl_linear_forward(e.g, &heads[t], features);
        losses[t] = mtl_mse_loss(e.g, pred[t], column(&e, "target", t));
        seeds[t] = (float)weights->values[t];
    }
    both = mtl_concat(e.g, 2, pred);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    assert_int_equal(mtl_graph_backward(e.g, 2, losses, seeds), MTL_OK);

    check(&e, "qm9 features", mtl_tensor_data(features), "features");
    check(&e, "qm9 predictions", mtl_tensor_data(both), "pred");
    for (int t = 0; t < 2; t++)
        loss_values[t] = mtl_tensor_item(losses[t]);
    check(&e, "qm9 losses", loss_values, "losses");
    check_param_grads(&e, "", names);
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
        cmocka_unit_test(test_qm9_net),
    };
    return cmocka_run_group_tests_name("gnn_fixtures", tests, NULL, NULL);
}
