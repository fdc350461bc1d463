/*
 * Checkpoints: for every method, saving at step S (the method's state_save,
 * when it keeps state, plus the host's copies of its rng stream and its
 * parameters) and loading into a fresh instance continues exactly as the
 * original run; and the state loader's refusals, with their messages.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define K       4
#define D       6
#define STEPS   40
#define SAVE_AT 23

/* The inputs of step t: seeded by t alone, so both runs see the same. */
static void step_inputs(int64_t t, double *l, double *M)
{
    mtl_rng rng;
    double J[K * D];

    mtl_rng_seed(&rng, 500 + (uint64_t)t, 0);
    mh_random_matrix(&rng, J, K, D);
    for (int i = 0; i < K; i++) {
        J[i * D] += 0.5;
        l[i] = 0.1 + mtl_rng_uniform(&rng);
    }
    /* Exactly opposite gradients now and then: nashmtl's fallback path. */
    if (t % 11 == 10)
        for (int p = 0; p < D; p++)
            J[D + p] = -J[p];
    mh_gram(J, K, D, M);
}

static void run_step(mh_method *m, int64_t t, double *trace)
{
    double l[K], M[K * K];

    step_inputs(t, l, M);
    mh_step_ok(m, t, l, M);
    memcpy(trace, m->shared, K * sizeof *trace);
    memcpy(trace + K, m->head, K * sizeof *trace);
    memcpy(trace + 2 * K, m->weights, K * sizeof *trace);
    trace[3 * K] = m->out.loss;
    trace[3 * K + 1] = m->out.solve_failed;
    /* A stand-in optimizer for uw's parameters. */
    for (size_t p = 0; p < m->info.n_params; p++)
        m->params[p] -= 0.3f * m->param_grads[p];
}

#define TRACE (3 * K + 2)

static void check_round_trip(const char *name, const char *const *opts)
{
    static double first[STEPS][TRACE], second[STEPS][TRACE];
    mh_method a, b;
    void *buf = NULL;
    size_t len = 0;
    mtl_rng rng_at_save = {{0}};
    float params_at_save[K] = {0};

    mh_open(&a, name, K, opts, 9);
    for (int64_t t = 0; t < STEPS; t++) {
        if (t == SAVE_AT) {
            if (a.plugin->state_save) {
                assert_int_equal(a.plugin->state_save(a.self, NULL, 0, &len), MTL_OK);
                buf = malloc(len);
                assert_non_null(buf);
                assert_int_equal(a.plugin->state_save(a.self, buf, len, &len), MTL_OK);
            }
            rng_at_save = a.th.rng;
            memcpy(params_at_save, a.params, sizeof params_at_save);
        }
        run_step(&a, t, first[t]);
    }
    mh_close(&a);

    mh_open(&b, name, K, opts, 1234); /* another seed: the restored stream must win */
    if (buf)
        assert_int_equal(b.plugin->state_load(b.self, buf, len), MTL_OK);
    b.th.rng = rng_at_save;
    memcpy(b.params, params_at_save, sizeof params_at_save);
    for (int64_t t = SAVE_AT; t < STEPS; t++)
        run_step(&b, t, second[t]);
    mh_close(&b);
    free(buf);

    for (int64_t t = SAVE_AT; t < STEPS; t++)
        if (memcmp(first[t], second[t], sizeof first[t]) != 0)
            fail_msg("%s: step %lld differs after the state round trip", name, (long long)t);
}

static void test_round_trip_every_method(void **state)
{
    static const char *const every3[] = {"update_weights_every=3", NULL};
    static const char *const cold[] = {"warm_start=false", NULL};
    static const char *const window[] = {"iteration_window=5", NULL};
    (void)state;

    for (int t = 0; t < mh_n_methods; t++)
        check_round_trip(mh_method_names[t], NULL);
    check_round_trip("nashmtl", every3);
    check_round_trip("nashmtl", cold);
    check_round_trip("dwa", window);
}

/* The methods that keep state between steps say so. */
static void test_stateful_methods(void **state)
{
    (void)state;

    for (int t = 0; t < mh_n_methods; t++) {
        const mtl_method_plugin *p = mtl_test_load_method(mh_method_names[t]);
        int stateful = strcmp(p->name, "nashmtl") == 0 || strcmp(p->name, "dwa") == 0;
        assert_int_equal(p->state_save != NULL, stateful);
    }
}

static void test_load_refusals(void **state)
{
    static const char *const names[] = {"nashmtl", "dwa"};
    (void)state;

    for (int t = 0; t < 2; t++) {
        mh_method a, b;
        size_t len;
        unsigned char buf[4096], bad[4096];
        char want[160];

        mh_open(&a, names[t], K, NULL, 1);
        assert_int_equal(a.plugin->state_save(a.self, NULL, 0, &len), MTL_OK);
        assert_true(len <= sizeof buf);

        /* Too small a buffer. */
        assert_int_equal(a.plugin->state_save(a.self, buf, len - 1, &len), MTL_ERR_INVALID);
        snprintf(want, sizeof want, "state_save: buffer too small (expected %zu bytes, got %zu)",
                 len, len - 1);
        assert_string_equal(mtl_error_message(), want);
        assert_int_equal(a.plugin->state_save(a.self, buf, sizeof buf, &len), MTL_OK);

        /* Another method's state, or garbage. */
        memcpy(bad, buf, len);
        bad[4] ^= 0x20;
        assert_int_equal(a.plugin->state_load(a.self, bad, len), MTL_ERR_DATA);
        snprintf(want, sizeof want, "state_load: not a saved %s state", t == 0 ? "nash" : "dwa ");
        assert_string_equal(mtl_error_message(), want);

        /* A layout version we do not know. */
        memcpy(bad, buf, len);
        bad[8] = 7;
        assert_int_equal(a.plugin->state_load(a.self, bad, len), MTL_ERR_DATA);
        assert_string_equal(mtl_error_message(),
                            "state_load: unknown layout version (expected 1, got 7)");

        /* Saved for another number of tasks. */
        mh_open(&b, names[t], K + 1, NULL, 1);
        assert_int_equal(b.plugin->state_load(b.self, buf, len), MTL_ERR_DATA);
        snprintf(want, sizeof want,
                 "state_load: state saved for another number of tasks (expected %d, got %d)", K + 1,
                 K);
        assert_string_equal(mtl_error_message(), want);
        mh_close(&b);

        /* Truncated. */
        assert_int_equal(a.plugin->state_load(a.self, buf, len - 8), MTL_ERR_DATA);
        snprintf(want, sizeof want, "state_load: wrong size (expected %zu bytes, got %zu)", len,
                 len - 8);
        assert_string_equal(mtl_error_message(), want);

        /* The intact state still loads. */
        assert_int_equal(a.plugin->state_load(a.self, buf, len), MTL_OK);
        mh_close(&a);
    }
}

static void test_nash_refuses_bad_weights(void **state)
{
    mh_method m;
    size_t len;
    unsigned char buf[256];
    double minus = -1.0;
    (void)state;

    mh_open(&m, "nashmtl", 2, NULL, 1);
    assert_int_equal(m.plugin->state_save(m.self, buf, sizeof buf, &len), MTL_OK);
    /* Header (16 bytes), has_solution, then alpha_0. */
    memcpy(buf + 16 + sizeof(double), &minus, sizeof minus);
    assert_int_equal(m.plugin->state_load(m.self, buf, len), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "state_load: weight of task 0 is -1 (expected finite, >= 0)");
    mh_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_method),
        cmocka_unit_test(test_stateful_methods),
        cmocka_unit_test(test_load_refusals),
        cmocka_unit_test(test_nash_refuses_bad_weights),
    };
    return cmocka_run_group_tests_name("methods: state", tests, NULL, NULL);
}
