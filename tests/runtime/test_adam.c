/*
 * Adam against values computed by hand from torch.optim.Adam's update
 * (bias corrections, eps added after the bias-corrected sqrt(v), L2 decay
 * added to the gradient), parameter groups, and the state blob.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtl/optim.h"

typedef struct fixture {
    mtl_model *model;
    mtl_tensor *p, *q; /* p [2], q [3] */
    mtl_adam *opt;
} fixture;

static const float p0[2] = {1.0f, -2.0f};
static const float grads[3][2] = {{0.5f, -1.0f}, {0.25f, 2.0f}, {-1.0f, 0.0f}};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    assert_non_null(f);
    assert_int_equal(mtl_model_create(&f->model), MTL_OK);
    f->p = mtl_model_param(f->model, "p", MTL_ROLE_SHARED, -1, 0, 1, (int64_t[]){2});
    f->q = mtl_model_param(f->model, "q", MTL_ROLE_TASK, 0, 0, 1, (int64_t[]){3});
    assert_int_equal(mtl_tensor_write(f->p, p0, 2), MTL_OK);
    assert_int_equal(mtl_adam_create(&f->opt), MTL_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    mtl_adam_destroy(f->opt);
    mtl_model_destroy(f->model);
    free(f);
    return 0;
}

static void set_grad(mtl_tensor *t, const float *g)
{
    memcpy(mtl_tensor_grad(t), g, (size_t)mtl_tensor_numel(t) * sizeof(float));
}

/* Three steps of one group on p, compared with the hand-computed values. */
static void check_three_steps(fixture *f, const mtl_adam_config *cfg, const double want[3][2])
{
    int group = -1;

    assert_int_equal(mtl_adam_add_group(f->opt, cfg, 1, &f->p, &group), MTL_OK);
    assert_int_equal(group, 0);
    for (int t = 0; t < 3; t++) {
        set_grad(f->p, grads[t]);
        assert_int_equal(mtl_adam_step(f->opt), MTL_OK);
        for (int i = 0; i < 2; i++)
            assert_true(fabs(mtl_tensor_data(f->p)[i] - want[t][i]) < 1e-6);
    }
}

static void test_defaults(void **state)
{
    mtl_adam_config c = mtl_adam_defaults();

    (void)state;
    assert_true(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999);
    assert_true(c.eps == 1e-8 && c.weight_decay == 0.0);
}

static void test_plain(void **state)
{
    /*
     * Step 1 by hand: m = 0.05, v = 0.00025, m^ = 0.5, sqrt(v^) = 0.5,
     * p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002.
     */
    static const double want[3][2] = {
        {0.900000002, -1.9}, {0.80678204, -1.93661035}, {0.827417743, -1.96491026}};
    mtl_adam_config cfg = mtl_adam_defaults();

    cfg.lr = 0.1;
    check_three_steps(*state, &cfg, want);
}

static void test_weight_decay(void **state)
{
    static const double want[3][2] = {
        {0.900000002, -1.9}, {0.805009766, -1.92501788}, {0.812098261, -1.93863698}};
    mtl_adam_config cfg = mtl_adam_defaults();

    cfg.lr = 0.1;
    cfg.weight_decay = 0.1;
    check_three_steps(*state, &cfg, want);
}

static void test_eps_after_bias_correction(void **state)
{
    /*
     * A large eps shows where it goes.  Step 1: m = 0.25, v = 0.025,
     * sqrt(v) / sqrt(1 - 0.9) = 0.5, p = 1 - 0.01 / 0.5 * 0.25 / (0.5 + 0.1).
     */
    static const double want[3][2] = {
        {0.991666667, -1.99090909}, {0.984849941, -1.99677106}, {0.990333688, -1.99988645}};
    mtl_adam_config cfg = {0.01, 0.5, 0.9, 0.1, 0.0};

    check_three_steps(*state, &cfg, want);
}

static void test_groups_have_their_own_lr(void **state)
{
    fixture *f = *state;
    mtl_adam_config a = mtl_adam_defaults(), b = mtl_adam_defaults();
    const float gq[3] = {1.0f, -1.0f, 0.5f};
    int ga, gb;

    a.lr = 0.1;
    b.lr = 0.025;
    assert_int_equal(mtl_adam_add_group(f->opt, &a, 1, &f->p, &ga), MTL_OK);
    assert_int_equal(mtl_adam_add_group(f->opt, &b, 1, &f->q, &gb), MTL_OK);
    assert_int_equal(ga, 0);
    assert_int_equal(gb, 1);
    assert_true(mtl_adam_get_lr(f->opt, 1) == 0.025);

    /* The first step moves each coordinate by lr (up to eps), against the gradient. */
    set_grad(f->p, grads[0]);
    set_grad(f->q, gq);
    assert_int_equal(mtl_adam_step(f->opt), MTL_OK);
    assert_true(fabs(mtl_tensor_data(f->p)[1] - (-1.9)) < 1e-6);
    assert_true(fabs(mtl_tensor_data(f->q)[0] - (-0.025)) < 1e-6);
    assert_true(fabs(mtl_tensor_data(f->q)[2] - (-0.025)) < 1e-6);

    mtl_adam_set_lr(f->opt, 1, 0.5);
    assert_true(mtl_adam_get_lr(f->opt, 1) == 0.5);
    assert_true(mtl_adam_get_lr(f->opt, 0) == 0.1);
    assert_true(isnan(mtl_adam_get_lr(f->opt, 2)));
    assert_true(isnan(mtl_adam_get_lr(f->opt, -1)));
}

static void test_config_errors(void **state)
{
    fixture *f = *state;
    mtl_adam_config c = mtl_adam_defaults();

    c.lr = 0;
    assert_int_equal(mtl_adam_add_group(f->opt, &c, 1, &f->p, NULL), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: mtl_adam_add_group: bad learning rate (expected > 0, got 0)");
    c = mtl_adam_defaults();
    c.beta2 = 1.0;
    assert_int_equal(mtl_adam_add_group(f->opt, &c, 1, &f->p, NULL), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: mtl_adam_add_group: bad beta2 (expected in [0, 1), got 1)");
    c = mtl_adam_defaults();
    c.eps = 0;
    assert_int_equal(mtl_adam_add_group(f->opt, &c, 1, &f->p, NULL), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: mtl_adam_add_group: bad eps (expected > 0, got 0)");
    c = mtl_adam_defaults();
    c.weight_decay = -1;
    assert_int_equal(mtl_adam_add_group(f->opt, &c, 1, &f->p, NULL), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: mtl_adam_add_group: bad weight decay (expected >= 0, got -1)");
}

static void test_not_a_parameter(void **state)
{
    fixture *f = *state;
    mtl_adam_config c = mtl_adam_defaults();
    mtl_tensor *b = mtl_model_buffer(f->model, "stats", 1, (int64_t[]){2});
    mtl_tensor *ts[2] = {f->p, b};

    assert_int_equal(mtl_adam_add_group(f->opt, &c, 2, ts, NULL), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: mtl_adam_add_group: tensor 1 is not a parameter");
}

/* ---- state ---------------------------------------------------------------- */

static void two_groups(fixture *f)
{
    mtl_adam_config a = mtl_adam_defaults(), b = mtl_adam_defaults();

    a.lr = 0.1;
    b.lr = 0.05;
    b.weight_decay = 0.01;
    assert_int_equal(mtl_adam_add_group(f->opt, &a, 1, &f->p, NULL), MTL_OK);
    assert_int_equal(mtl_adam_add_group(f->opt, &b, 1, &f->q, NULL), MTL_OK);
}

static void steps(fixture *f, int from, int n)
{
    for (int t = from; t < from + n; t++) {
        const float gq[3] = {0.1f * (float)t, -1.0f, 0.5f + (float)t};
        set_grad(f->p, grads[t % 3]);
        set_grad(f->q, gq);
        assert_int_equal(mtl_adam_step(f->opt), MTL_OK);
    }
}

static void *save(const mtl_adam *opt, size_t *len)
{
    void *buf;

    assert_int_equal(mtl_adam_state_save(opt, NULL, 0, len), MTL_OK);
    buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(mtl_adam_state_save(opt, buf, *len, len), MTL_OK);
    return buf;
}

static void test_state_round_trip(void **state)
{
    fixture *f = *state;
    float p_saved[2], q_saved[3], p_after[2], q_after[3];
    size_t len;
    void *blob;

    two_groups(f);
    steps(f, 0, 3);
    mtl_adam_set_lr(f->opt, 1, 0.04); /* a scheduler's change is part of the state */
    blob = save(f->opt, &len);
    mtl_tensor_read(f->p, p_saved, 2);
    mtl_tensor_read(f->q, q_saved, 3);
    steps(f, 3, 2);
    mtl_tensor_read(f->p, p_after, 2);
    mtl_tensor_read(f->q, q_after, 3);

    /* A fresh optimizer restored from the blob continues identically. */
    mtl_adam_destroy(f->opt);
    assert_int_equal(mtl_adam_create(&f->opt), MTL_OK);
    two_groups(f);
    mtl_tensor_write(f->p, p_saved, 2);
    mtl_tensor_write(f->q, q_saved, 3);
    assert_int_equal(mtl_adam_state_load(f->opt, blob, len), MTL_OK);
    assert_true(mtl_adam_get_lr(f->opt, 1) == 0.04);
    steps(f, 3, 2);
    assert_memory_equal(mtl_tensor_data(f->p), p_after, sizeof p_after);
    assert_memory_equal(mtl_tensor_data(f->q), q_after, sizeof q_after);
    free(blob);
}

static void test_state_refused(void **state)
{
    fixture *f = *state;
    mtl_adam *other;
    mtl_adam_config c = mtl_adam_defaults();
    unsigned char *blob, small[8];
    size_t len;

    two_groups(f);
    steps(f, 0, 2);
    blob = save(f->opt, &len);
    assert_int_equal(mtl_adam_state_save(f->opt, small, sizeof small, &len), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "adam: state save: buffer too small (expected 128 bytes, got 8)");

    /* One flipped bit in the moments. */
    blob[len - 20] ^= 0x10;
    assert_int_equal(mtl_adam_state_load(f->opt, blob, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), "adam: state load: checksum mismatch (corrupt state)");
    blob[len - 20] ^= 0x10;

    assert_int_equal(mtl_adam_state_load(f->opt, blob, len - 4), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), "adam: state load: checksum mismatch (corrupt state)");
    assert_int_equal(mtl_adam_state_load(f->opt, blob, 10), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "adam: state load: not an optimizer state (bad magic)");
    blob[0] = 'X';
    assert_int_equal(mtl_adam_state_load(f->opt, blob, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "adam: state load: not an optimizer state (bad magic)");
    blob[0] = 'm';
    blob[8] = 9;
    assert_int_equal(mtl_adam_state_load(f->opt, blob, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "adam: state load: unsupported version (expected 1, got 9)");
    blob[8] = 1;

    /* Another optimizer's layout. */
    assert_int_equal(mtl_adam_create(&other), MTL_OK);
    assert_int_equal(mtl_adam_add_group(other, &c, 1, &f->p, NULL), MTL_OK);
    assert_int_equal(mtl_adam_state_load(other, blob, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "adam: state load: group count differs (expected 1, got 2)");
    assert_int_equal(mtl_adam_add_group(other, &c, 1, &f->p, NULL), MTL_OK);
    assert_int_equal(mtl_adam_state_load(other, blob, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "adam: state load: group 1, parameter 0: size differs (expected 2 "
                        "elements, got 3)");
    mtl_adam_destroy(other);

    /* The refused loads changed nothing: the original blob still loads. */
    assert_int_equal(mtl_adam_state_load(f->opt, blob, len), MTL_OK);
    free(blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weight_decay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eps_after_bias_correction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_have_their_own_lr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_parameter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
