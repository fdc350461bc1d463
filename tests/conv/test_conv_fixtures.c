/*
 * The convolutional ops against PyTorch: each test loads the values
 * tools/make_conv_fixtures.py wrote, runs our op on the same inputs and
 * parameters forward and backward, and compares the outputs and every
 * gradient (float32 against the float64 reference, or float32 where the
 * fixture says so).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conv_test.h"

/*
 * Relative deviation allowed against the float64 reference: float32
 * rounding of sums of a few hundred terms.  The largest measured is printed
 * by each comparison (about 1e-6).
 */
#define TOL 1e-5

typedef struct env {
    mtl_graph *g;
    mtl_model *m;
    mtl_test_fixture *fx;
} env;

static void env_open(env *e, const char *file)
{
    assert_int_equal(mtl_graph_create(&e->g), MTL_OK);
    assert_int_equal(mtl_model_create(&e->m), MTL_OK);
    e->fx = mtl_test_fixture_load(MTL_CONV_FIXTURE_DIR, file);
}

static void env_close(env *e)
{
    mtl_test_fixture_free(e->fx);
    mtl_model_destroy(e->m);
    mtl_graph_destroy(e->g);
}

static void check(env *e, const char *label, const float *got, const char *ref)
{
    assert_true(mtl_test_compare(label, got, mtl_test_fixture_get(e->fx, ref)) <= TOL);
}

/* ---- convolution --------------------------------------------------------- */

static void run_conv(const char *file)
{
    env e;
    mtl_tensor *x, *w, *b, *y;
    int stride, padding;

    print_message("%s\n", file);
    env_open(&e, file);
    stride = (int)mtl_test_fixture_scalar(e.fx, "stride");
    padding = (int)mtl_test_fixture_scalar(e.fx, "padding");
    x = mtl_test_input_grad(e.g, e.fx, "x");
    w = mtl_test_input_grad(e.g, e.fx, "weight");
    b = mtl_test_input_grad(e.g, e.fx, "bias");
    y = mtl_conv2d(e.g, x, w, b, stride, padding);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    for (int d = 0; d < 4; d++)
        assert_int_equal(mtl_tensor_dim(y, d), mtl_test_fixture_get(e.fx, "y")->shape[d]);
    check(&e, "y", mtl_tensor_data(y), "y");
    mtl_test_backprop(e.g, y, e.fx, "dy");
    check(&e, "dx", mtl_tensor_grad(x), "dx");
    check(&e, "dweight", mtl_tensor_grad(w), "dweight");
    check(&e, "dbias", mtl_tensor_grad(b), "dbias");
    env_close(&e);
}

static void test_conv_k3(void **state)
{
    (void)state;
    run_conv("conv_k3.txt");
    run_conv("conv_k3_single.txt");
}

static void test_conv_k1(void **state)
{
    (void)state;
    run_conv("conv_k1.txt");
}

static void test_conv_k5(void **state)
{
    (void)state;
    run_conv("conv_k5.txt");
}

static void test_conv_strided(void **state)
{
    (void)state;
    run_conv("conv_k3_s2.txt");
    run_conv("conv_k2_s3.txt");
}

/* ---- batch normalisation ------------------------------------------------- */

static void run_batch_norm(const char *file, int training)
{
    env e;
    mtl_tensor *x, *w, *b, *rm, *rv, *y;

    print_message("%s\n", file);
    env_open(&e, file);
    x = mtl_test_input_grad(e.g, e.fx, "x");
    w = mtl_test_input_grad(e.g, e.fx, "weight");
    b = mtl_test_input_grad(e.g, e.fx, "bias");
    rm = mtl_test_input(e.g, e.fx, "running_mean");
    rv = mtl_test_input(e.g, e.fx, "running_var");
    y = mtl_batch_norm2d(e.g, x, w, b, rm, rv, training, 0.1f, 1e-5f);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    check(&e, "y", mtl_tensor_data(y), "y");
    check(&e, "running_mean", mtl_tensor_data(rm), "running_mean_after");
    check(&e, "running_var", mtl_tensor_data(rv), "running_var_after");
    mtl_test_backprop(e.g, y, e.fx, "dy");
    check(&e, "dx", mtl_tensor_grad(x), "dx");
    check(&e, "dweight", mtl_tensor_grad(w), "dweight");
    check(&e, "dbias", mtl_tensor_grad(b), "dbias");
    env_close(&e);
}

static void test_batch_norm(void **state)
{
    (void)state;
    run_batch_norm("bn_train.txt", 1);
    run_batch_norm("bn_eval.txt", 0);
    run_batch_norm("bn_train_flat.txt", 1);
}

/* ---- pooling ------------------------------------------------------------- */

static void test_max_pool(void **state)
{
    env e;
    mtl_tensor *x, *y, *z, *u;
    mtl_pool_indices *ix;
    const mtl_test_ftensor *ref;
    int64_t *idx;

    (void)state;
    env_open(&e, "max_pool.txt");
    x = mtl_test_input_grad(e.g, e.fx, "x");
    y = mtl_max_pool2d(e.g, x, &ix);
    assert_non_null(ix);
    check(&e, "y", mtl_tensor_data(y), "y");

    ref = mtl_test_fixture_get(e.fx, "indices");
    idx = malloc((size_t)ref->numel * sizeof *idx);
    assert_non_null(idx);
    assert_int_equal(mtl_pool_indices_read(ix, idx, (size_t)ref->numel), MTL_OK);
    for (int64_t i = 0; i < ref->numel; i++)
        assert_int_equal(idx[i], (int64_t)ref->values[i]);
    free(idx);

    z = mtl_test_input_grad(e.g, e.fx, "z");
    u = mtl_max_unpool2d(e.g, z, ix);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    assert_int_equal(mtl_tensor_dim(u, 2), 6);
    assert_int_equal(mtl_tensor_dim(u, 3), 7);
    check(&e, "u", mtl_tensor_data(u), "u");
    mtl_test_backprop(e.g, y, e.fx, "dy");
    check(&e, "dx", mtl_tensor_grad(x), "dx");
    mtl_test_backprop(e.g, u, e.fx, "du");
    check(&e, "dz", mtl_tensor_grad(z), "dz");
    env_close(&e);
}

/* ---- resizing ------------------------------------------------------------ */

static void run_resize(const char *file, int bilinear)
{
    env e;
    char name[32], label[64];

    print_message("%s\n", file);
    env_open(&e, file);
    for (int k = 0; k < 5; k++) {
        const mtl_test_ftensor *size;
        mtl_tensor *x, *y;

        mtl_graph_reset(e.g);
        snprintf(name, sizeof name, "size%d", k);
        size = mtl_test_fixture_get(e.fx, name);
        x = mtl_test_input_grad(e.g, e.fx, "x");
        if (bilinear)
            y = mtl_resize_bilinear(e.g, x, (int64_t)size->values[0], (int64_t)size->values[1]);
        else
            y = mtl_resize_nearest(e.g, x, (int64_t)size->values[0], (int64_t)size->values[1]);
        assert_int_equal(mtl_graph_status(e.g), MTL_OK);
        snprintf(label, sizeof label, "y to %gx%g", size->values[0], size->values[1]);
        snprintf(name, sizeof name, "y%d", k);
        check(&e, label, mtl_tensor_data(y), name);
        snprintf(name, sizeof name, "dy%d", k);
        mtl_test_backprop(e.g, y, e.fx, name);
        snprintf(label, sizeof label, "dx from %gx%g", size->values[0], size->values[1]);
        snprintf(name, sizeof name, "dx%d", k);
        check(&e, label, mtl_tensor_grad(x), name);
    }
    env_close(&e);
}

static void test_resize_bilinear(void **state)
{
    (void)state;
    run_resize("resize_bilinear.txt", 1);
}

static void test_resize_nearest(void **state)
{
    (void)state;
    run_resize("resize_nearest.txt", 0);
}

/* ---- losses -------------------------------------------------------------- */

static void run_nll(const char *file)
{
    env e;
    mtl_tensor *x, *target, *logp, *loss;
    float one = 1.0f;

    print_message("%s\n", file);
    env_open(&e, file);
    x = mtl_test_input_grad(e.g, e.fx, "x");
    target = mtl_test_input(e.g, e.fx, "target");
    logp = mtl_log_softmax(e.g, x);
    mtl_graph_retain_grad(e.g, logp);
    loss = mtl_nll_loss(e.g, logp, target, -1);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    check(&e, "logp", mtl_tensor_data(logp), "logp");
    check(&e, "loss", mtl_tensor_data(loss), "loss");
    assert_int_equal(mtl_graph_backward(e.g, 1, &loss, &one), MTL_OK);
    check(&e, "dlogp", mtl_tensor_grad(logp), "dlogp");
    check(&e, "dx", mtl_tensor_grad(x), "dx");
    env_close(&e);
}

static void test_nll(void **state)
{
    (void)state;
    run_nll("nll_image.txt");
    run_nll("nll_flat.txt");
}

static void test_masked_l1(void **state)
{
    env e;
    mtl_tensor *pred, *target, *loss;
    float one = 1.0f;

    (void)state;
    env_open(&e, "masked_l1.txt");
    pred = mtl_test_input_grad(e.g, e.fx, "pred");
    target = mtl_test_input(e.g, e.fx, "target");
    loss = mtl_masked_l1_loss(e.g, pred, target);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    check(&e, "loss", mtl_tensor_data(loss), "loss");
    assert_int_equal(mtl_graph_backward(e.g, 1, &loss, &one), MTL_OK);
    check(&e, "dpred", mtl_tensor_grad(pred), "dpred");
    env_close(&e);
}

static void test_normals(void **state)
{
    env e;
    mtl_tensor *x, *target, *y, *loss;
    float one = 1.0f;

    (void)state;
    env_open(&e, "normals.txt");
    x = mtl_test_input_grad(e.g, e.fx, "x");
    target = mtl_test_input(e.g, e.fx, "target");
    y = mtl_l2_normalize(e.g, x);
    mtl_graph_retain_grad(e.g, y);
    loss = mtl_masked_cosine_loss(e.g, y, target);
    assert_int_equal(mtl_graph_status(e.g), MTL_OK);
    check(&e, "y", mtl_tensor_data(y), "y");
    check(&e, "loss", mtl_tensor_data(loss), "loss");
    assert_int_equal(mtl_graph_backward(e.g, 1, &loss, &one), MTL_OK);
    check(&e, "dy", mtl_tensor_grad(y), "dy");
    check(&e, "dx", mtl_tensor_grad(x), "dx");
    env_close(&e);
}

/* ---- an MTAN attention block, with the layers' parameter names ----------- */

static void test_attention_block(void **state)
{
    static const char *const names[] = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                        "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias"};
    env e;
    mtl_conv2d_layer c1, c2;
    mtl_batch_norm2d_layer b1, b2;
    mtl_tensor *a, *b, *f, *h, *y;
    mtl_param_info info;
    mtl_rng rng;
    char ref[64];

    (void)state;
    env_open(&e, "attention.txt");
    mtl_rng_seed(&rng, 3, 0);
    assert_int_equal(mtl_conv2d_layer_init(&c1, e.m, "conv1", MTL_ROLE_SHARED, -1, 0, 5, 4, 1, 1, 0,
                                           MTL_CONV_INIT_DEFAULT, &rng),
                     MTL_OK);
    assert_int_equal(mtl_batch_norm2d_layer_init(&b1, e.m, "bn1", MTL_ROLE_SHARED, -1, 0, 4),
                     MTL_OK);
    assert_int_equal(mtl_conv2d_layer_init(&c2, e.m, "conv2", MTL_ROLE_SHARED, -1, 0, 4, 4, 1, 1, 0,
                                           MTL_CONV_INIT_DEFAULT, &rng),
                     MTL_OK);
    assert_int_equal(mtl_batch_norm2d_layer_init(&b2, e.m, "bn2", MTL_ROLE_SHARED, -1, 0, 4),
                     MTL_OK);
    /* The layers' parameters carry PyTorch's names, in its order. */
    assert_int_equal(mtl_model_n_params(e.m), 8);
    for (size_t i = 0; i < 8; i++) {
        mtl_tensor *p = mtl_model_param_at(e.m, i);
        assert_int_equal(mtl_param_get_info(p, &info), MTL_OK);
        assert_string_equal(info.name, names[i]);
        mtl_test_fill(p, mtl_test_fixture_get(e.fx, names[i]));
    }

    /* Unfused (relu and sigmoid ops after batch norm), then fused: both against PyTorch. */
    for (int fused = 0; fused <= 1; fused++) {
        mtl_tensor *cat, *z1, *z2;

        mtl_graph_reset(e.g);
        mtl_model_zero_grad(e.m);
        a = mtl_test_input_grad(e.g, e.fx, "a");
        b = mtl_test_input_grad(e.g, e.fx, "b");
        f = mtl_test_input_grad(e.g, e.fx, "f");
        cat = mtl_concat_channels(e.g, 2, (mtl_tensor *[]){a, b});
        z1 = mtl_conv2d_layer_forward(e.g, &c1, cat);
        h = fused ? mtl_batch_norm2d_layer_forward_act(e.g, &b1, z1, 1, MTL_ACT_RELU)
                  : mtl_relu(e.g, mtl_batch_norm2d_layer_forward(e.g, &b1, z1, 1));
        z2 = mtl_conv2d_layer_forward(e.g, &c2, h);
        y = mtl_mul(e.g,
                    fused ? mtl_batch_norm2d_layer_forward_act(e.g, &b2, z2, 1, MTL_ACT_SIGMOID)
                          : mtl_sigmoid(e.g, mtl_batch_norm2d_layer_forward(e.g, &b2, z2, 1)),
                    f);
        assert_int_equal(mtl_graph_status(e.g), MTL_OK);
        print_message("%s\n", fused ? "fused batch norm + activation" : "separate ops");
        check(&e, "y", mtl_tensor_data(y), "y");
        mtl_test_backprop(e.g, y, e.fx, "dy");
        check(&e, "da", mtl_tensor_grad(a), "da");
        check(&e, "db", mtl_tensor_grad(b), "db");
        check(&e, "df", mtl_tensor_grad(f), "df");
        for (size_t i = 0; i < 8; i++) {
            snprintf(ref, sizeof ref, "d%s", names[i]);
            check(&e, ref, mtl_tensor_grad(mtl_model_param_at(e.m, i)), ref);
        }
    }
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_k3),
        cmocka_unit_test(test_conv_k1),
        cmocka_unit_test(test_conv_k5),
        cmocka_unit_test(test_conv_strided),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_max_pool),
        cmocka_unit_test(test_resize_bilinear),
        cmocka_unit_test(test_resize_nearest),
        cmocka_unit_test(test_nll),
        cmocka_unit_test(test_masked_l1),
        cmocka_unit_test(test_normals),
        cmocka_unit_test(test_attention_block),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
