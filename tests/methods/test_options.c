/*
 * Option declarations of every method (exactly the keys, types, defaults and
 * enum choices documented in plugins/README.md), each plugin's own checks
 * with their exact messages, and, when the host's configuration code is
 * built, the host's validation of values against these declarations.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#ifdef MTL_TEST_HAVE_HOST_CONFIG
#include "config.h"
#endif

typedef struct expected_option {
    const char *method, *key;
    mtl_option_type type;
    const char *default_value, *choices;
} expected_option;

static const expected_option expected[] = {
    {"ls", "weights", MTL_OPT_DOUBLE_LIST, "", NULL},
    {"scaleinvls", "weights", MTL_OPT_DOUBLE_LIST, "", NULL},
    {"stl", "main_task", MTL_OPT_INT, "0", NULL},
    {"uw", "param_lr", MTL_OPT_DOUBLE, "0.025", NULL},
    {"dwa", "iteration_window", MTL_OPT_INT, "25", NULL},
    {"dwa", "temp", MTL_OPT_DOUBLE, "2.0", NULL},
    {"mgda", "params", MTL_OPT_ENUM, "shared", "shared|last|rep"},
    {"mgda", "max_iter", MTL_OPT_INT, "10000", NULL},
    {"mgda", "normalization", MTL_OPT_ENUM, "none", "none|l2|loss|loss+"},
    {"pcgrad", "reduction", MTL_OPT_ENUM, "sum", "sum|mean"},
    {"cagrad", "c", MTL_OPT_DOUBLE, "0.4", NULL},
    {"nashmtl", "update_weights_every", MTL_OPT_INT, "1", NULL},
    {"nashmtl", "max_norm", MTL_OPT_DOUBLE, "1.0", NULL},
    {"nashmtl", "optim_niter", MTL_OPT_INT, "20", NULL},
    {"nashmtl", "warm_start", MTL_OPT_BOOL, "true", NULL},
};
#define N_EXPECTED (sizeof expected / sizeof expected[0])

static void test_declarations(void **state)
{
    (void)state;

    for (int t = 0; t < mh_n_methods; t++) {
        const char *name = mh_method_names[t];
        const mtl_method_plugin *p = mtl_test_load_method(name);
        size_t n = 0;

        assert_int_equal(p->header.abi_major, MTL_ABI_MAJOR);
        assert_int_equal(p->header.abi_minor, MTL_ABI_MINOR);
        assert_int_equal(p->header.size, sizeof(mtl_method_plugin));
        assert_int_equal(p->header.kind, MTL_PLUGIN_METHOD);
        assert_string_equal(p->name, name);
        assert_non_null(p->version);
        assert_non_null(p->description);
        assert_non_null(p->create);
        assert_non_null(p->destroy);
        assert_non_null(p->plan);
        assert_non_null(p->weigh);
        assert_true((p->state_save == NULL) == (p->state_load == NULL));

        for (size_t e = 0; e < N_EXPECTED; e++) {
            const mtl_option *o = NULL;
            if (strcmp(expected[e].method, name) != 0)
                continue;
            n++;
            for (size_t i = 0; i < p->n_options; i++)
                if (strcmp(p->options[i].key, expected[e].key) == 0)
                    o = &p->options[i];
            if (!o)
                fail_msg("%s: option '%s' is not declared", name, expected[e].key);
            assert_int_equal(o->type, expected[e].type);
            assert_string_equal(o->default_value, expected[e].default_value);
            if (expected[e].choices)
                assert_string_equal(o->choices, expected[e].choices);
            else
                assert_null(o->choices);
            assert_true(o->help && strlen(o->help) > 10);
            assert_int_equal(strspn(o->key, "abcdefghijklmnopqrstuvwxyz0123456789_"),
                             strlen(o->key));
        }
        if (p->n_options != n)
            fail_msg("%s declares %zu options, expected %zu", name, p->n_options, n);
    }
}

/* Every choice of every enum creates; anything else is refused by the plugin too. */
static void test_enum_values(void **state)
{
    (void)state;

    for (size_t e = 0; e < N_EXPECTED; e++) {
        char opt[64], want[160], choices[64];
        const char *o[] = {opt, NULL};
        mh_method m;

        if (expected[e].type != MTL_OPT_ENUM)
            continue;
        snprintf(choices, sizeof choices, "%s", expected[e].choices);
        for (char *c = strtok(choices, "|"); c; c = strtok(NULL, "|")) {
            snprintf(opt, sizeof opt, "%s=%s", expected[e].key, c);
            mh_open(&m, expected[e].method, 3, o, 1);
            mh_close(&m);
        }
        snprintf(opt, sizeof opt, "%s=bogus", expected[e].key);
        assert_int_equal(mh_try_open(&m, expected[e].method, 3, o, 1), MTL_ERR_CONFIG);
        snprintf(want, sizeof want, "option '%s': unknown value 'bogus' (expected one of %s)",
                 expected[e].key, expected[e].choices);
        assert_string_equal(mtl_error_message(), want);
    }
}

static void test_task_weight_lists(void **state)
{
    static const char *const two[] = {"weights=1,2", NULL};
    static const char *const four[] = {"weights=1,2,3,4", NULL};
    static const char *const three[] = {"weights=0.5,2,0", NULL};
    static const char *const names[] = {"ls", "scaleinvls"};
    double l[3] = {2.0, 4.0, 8.0};
    (void)state;

    for (int t = 0; t < 2; t++) {
        mh_method m;

        assert_int_equal(mh_try_open(&m, names[t], 3, two, 1), MTL_ERR_CONFIG);
        assert_string_equal(mtl_error_message(),
                            "option 'weights': one weight per task is needed (expected 3, got 2)");
        assert_int_equal(mh_try_open(&m, names[t], 3, four, 1), MTL_ERR_CONFIG);
        assert_string_equal(mtl_error_message(),
                            "option 'weights': one weight per task is needed (expected 3, got 4)");

        mh_open(&m, names[t], 3, three, 1);
        mh_step_ok(&m, 0, l, NULL);
        for (int i = 0; i < 3; i++) {
            double w = i == 0 ? 0.5 : i == 1 ? 2.0 : 0.0;
            mh_assert_close(m.shared[i], t == 0 ? w : w / l[i], 1e-15, names[t]);
            mh_assert_close(m.weights[i], w, 1e-15, "reported weight");
        }
        mh_close(&m);
    }
}

static void test_main_task_range(void **state)
{
    static const char *const three[] = {"main_task=3", NULL};
    mh_method m;
    (void)state;

    assert_int_equal(mh_try_open(&m, "stl", 3, three, 1), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "option 'main_task': no such task (expected 0..2, got 3)");
}

static void test_option_values_used(void **state)
{
    static const char *const c0[] = {"c=0", NULL};
    static const char *const lr[] = {"param_lr=0.5", NULL};
    static const char *const clip[] = {"max_norm=0", NULL};
    double M[4] = {1, -0.5, -0.5, 2}, l[2] = {1, 1};
    mh_method m;
    (void)state;

    /* CAGrad with c = 0 is the plain sum of the gradients. */
    mh_open(&m, "cagrad", 2, c0, 1);
    mh_step_ok(&m, 0, l, M);
    assert_true(m.shared[0] == 1.0 && m.shared[1] == 1.0);
    mh_close(&m);

    mh_open(&m, "uw", 2, lr, 1);
    assert_true(m.info.param_lr == 0.5);
    mh_close(&m);

    mh_open(&m, "nashmtl", 2, clip, 1);
    mh_step_ok(&m, 0, l, M);
    assert_true(m.out.max_norm == 0.0);
    mh_close(&m);
}

#ifdef MTL_TEST_HAVE_HOST_CONFIG
/* The host accepts every declaration and refuses values outside it. */
static void test_host_validation(void **state)
{
    static const struct {
        const char *method, *key, *value;
    } refused[] = {
        {"pcgrad", "reduction", "avg"},    {"mgda", "params", "all"},
        {"mgda", "normalization", "norm"}, {"dwa", "temp", "0"},
        {"dwa", "iteration_window", "0"},  {"uw", "param_lr", "-1"},
        {"cagrad", "c", "-0.1"},           {"nashmtl", "update_weights_every", "0"},
        {"nashmtl", "optim_niter", "0"},   {"nashmtl", "max_norm", "-1"},
        {"stl", "main_task", "-1"},        {"ls", "weights", "1,-2"},
        {"scaleinvls", "weights", "1,x"},  {"nashmtl", "warm_start", "maybe"},
        {"mgda", "max_iter", "0"},
    };
    (void)state;

    for (int t = 0; t < mh_n_methods; t++) {
        const mtl_method_plugin *p = mtl_test_load_method(mh_method_names[t]);
        if (host_options_check(p->options, p->n_options) != MTL_OK)
            fail_msg("%s: %s", p->name, mtl_error_message());
    }
    for (size_t r = 0; r < sizeof refused / sizeof refused[0]; r++) {
        const mtl_method_plugin *p = mtl_test_load_method(refused[r].method);
        host_config cfg;

        assert_int_equal(host_config_init(&cfg, p->name, p->options, p->n_options, "task", NULL, 0),
                         MTL_OK);
        if (host_config_set(&cfg, "method", refused[r].key, refused[r].value, "test") !=
            MTL_ERR_CONFIG)
            fail_msg("%s: %s = %s accepted", p->name, refused[r].key, refused[r].value);
        for (size_t i = 0; i < p->n_options; i++)
            if (p->options[i].choices && strcmp(p->options[i].key, refused[r].key) == 0 &&
                !strstr(mtl_error_message(), p->options[i].choices))
                fail_msg("%s: the message does not name the choices: %s", p->name,
                         mtl_error_message());
        host_config_deinit(&cfg);
    }
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declarations),       cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_task_weight_lists),  cmocka_unit_test(test_main_task_range),
        cmocka_unit_test(test_option_values_used),
#ifdef MTL_TEST_HAVE_HOST_CONFIG
        cmocka_unit_test(test_host_validation),
#endif
    };
    return cmocka_run_group_tests_name("methods: options", tests, NULL, NULL);
}
