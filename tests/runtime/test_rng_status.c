/*
 * The seeded generator (determinism, independent streams, ranges, shuffle,
 * normal moments) and status names, phrases and messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "mtl/rng.h"
#include "mtl/status.h"

#define N 100000

static void test_rng_deterministic(void **state)
{
    mtl_rng a, b;

    (void)state;
    mtl_rng_seed(&a, 42, 3);
    mtl_rng_seed(&b, 42, 3);
    for (int i = 0; i < 1000; i++)
        assert_true(mtl_rng_u64(&a) == mtl_rng_u64(&b));

    /* The state is plain data: a copy continues the same sequence. */
    b = a;
    assert_true(mtl_rng_uniform(&a) == mtl_rng_uniform(&b));
}

static void test_rng_streams_differ(void **state)
{
    mtl_rng a, b, c;
    int same_ab = 0, same_ac = 0;

    (void)state;
    mtl_rng_seed(&a, 42, 0);
    mtl_rng_seed(&b, 42, 1);
    mtl_rng_seed(&c, 43, 0);
    for (int i = 0; i < 1000; i++) {
        uint64_t x = mtl_rng_u64(&a);
        same_ab += x == mtl_rng_u64(&b);
        same_ac += x == mtl_rng_u64(&c);
    }
    assert_int_equal(same_ab, 0);
    assert_int_equal(same_ac, 0);
}

static void test_rng_streams_independent(void **state)
{
    mtl_rng a, b;
    double sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0, r;

    /* Neighbouring streams of one seed are uncorrelated (|r| ~ 1/sqrt(N)). */
    (void)state;
    mtl_rng_seed(&a, 7, 0);
    mtl_rng_seed(&b, 7, 1);
    for (int i = 0; i < N; i++) {
        double x = mtl_rng_uniform(&a), y = mtl_rng_uniform(&b);
        sa += x;
        sb += y;
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    r = (sab / N - (sa / N) * (sb / N)) /
        sqrt((saa / N - (sa / N) * (sa / N)) * (sbb / N - (sb / N) * (sb / N)));
    assert_true(fabs(r) < 0.02);
}

static void test_rng_uniform_and_below(void **state)
{
    mtl_rng rng;
    int counts[7] = {0};
    double sum = 0;

    (void)state;
    mtl_rng_seed(&rng, 1, 0);
    for (int i = 0; i < N; i++) {
        double u = mtl_rng_uniform(&rng);
        uint64_t k = mtl_rng_below(&rng, 7);
        assert_true(u >= 0.0 && u < 1.0);
        assert_true(k < 7);
        sum += u;
        counts[k]++;
    }
    assert_true(fabs(sum / N - 0.5) < 0.01);
    /* Each count is N/7 = 14286 with a standard deviation of about 111. */
    for (int k = 0; k < 7; k++)
        assert_true(counts[k] > 13700 && counts[k] < 14900);
    assert_true(mtl_rng_below(&rng, 1) == 0);
}

static void test_rng_normal_moments(void **state)
{
    mtl_rng rng;
    double s = 0, ss = 0, mean, var;

    (void)state;
    mtl_rng_seed(&rng, 2024, 5);
    for (int i = 0; i < N; i++) {
        double z = mtl_rng_normal(&rng);
        assert_true(isfinite(z));
        s += z;
        ss += z * z;
    }
    mean = s / N;
    var = ss / N - mean * mean;
    /* Standard errors: 0.0032 for the mean, 0.0045 for the variance. */
    assert_true(fabs(mean) < 0.02);
    assert_true(fabs(var - 1.0) < 0.03);
}

static void test_rng_shuffle_permutes(void **state)
{
    mtl_rng a, b;
    int64_t x[100], y[100];
    int seen[100] = {0}, moved = 0;

    (void)state;
    for (int i = 0; i < 100; i++)
        x[i] = y[i] = i;
    mtl_rng_seed(&a, 9, 2);
    mtl_rng_seed(&b, 9, 2);
    mtl_rng_shuffle(&a, x, 100);
    mtl_rng_shuffle(&b, y, 100);
    assert_memory_equal(x, y, sizeof x);
    for (int i = 0; i < 100; i++) {
        assert_true(x[i] >= 0 && x[i] < 100);
        seen[x[i]]++;
        moved += x[i] != i;
    }
    for (int i = 0; i < 100; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > 80);
    mtl_rng_shuffle(&a, x, 0);
    mtl_rng_shuffle(&a, x, 1);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(mtl_status_name(MTL_OK), "MTL_OK");
    assert_string_equal(mtl_status_name(MTL_ERR_NOMEM), "MTL_ERR_NOMEM");
    assert_string_equal(mtl_status_name(MTL_ERR_INVALID), "MTL_ERR_INVALID");
    assert_string_equal(mtl_status_name(MTL_ERR_CONFIG), "MTL_ERR_CONFIG");
    assert_string_equal(mtl_status_name(MTL_ERR_IO), "MTL_ERR_IO");
    assert_string_equal(mtl_status_name(MTL_ERR_DATA), "MTL_ERR_DATA");
    assert_string_equal(mtl_status_name(MTL_ERR_ABI), "MTL_ERR_ABI");
    assert_string_equal(mtl_status_name(MTL_ERR_PLUGIN), "MTL_ERR_PLUGIN");
    assert_string_equal(mtl_status_name(MTL_ERR_NUMERIC), "MTL_ERR_NUMERIC");
    assert_string_equal(mtl_status_name(MTL_ERR_UNSUPPORTED), "MTL_ERR_UNSUPPORTED");
    assert_string_equal(mtl_status_name(MTL_ERR_INTERRUPTED), "MTL_ERR_INTERRUPTED");
    assert_string_equal(mtl_status_name((mtl_status)11), "MTL_UNKNOWN");
    assert_string_equal(mtl_status_name((mtl_status)-1), "MTL_UNKNOWN");
}

static void test_status_phrases(void **state)
{
    (void)state;
    assert_string_equal(mtl_status_phrase(MTL_OK), "success");
    assert_string_equal(mtl_status_phrase(MTL_ERR_CONFIG), "configuration error");
    assert_string_equal(mtl_status_phrase(MTL_ERR_ABI), "incompatible plugin ABI");
    assert_string_equal(mtl_status_phrase((mtl_status)99), "unknown status");
    for (int s = 0; s <= MTL_ERR_INTERRUPTED; s++) {
        const char *p = mtl_status_phrase((mtl_status)s);
        assert_true(p[0] >= 'a' && p[0] <= 'z');
    }
}

static void test_error_set_wrap_clear(void **state)
{
    char long_ctx[2000];

    (void)state;
    assert_int_equal(
        mtl_error_set(MTL_ERR_DATA, "qm9: bad row %d (expected %d, got %d)", 7, 19, 18),
        MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), "qm9: bad row 7 (expected 19, got 18)");
    assert_int_equal(mtl_error_wrap(MTL_ERR_DATA, "task %s", "qm9"), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), "task qm9: qm9: bad row 7 (expected 19, got 18)");
    mtl_error_clear();
    assert_string_equal(mtl_error_message(), "");

    /* Long messages are truncated, never overflowed. */
    memset(long_ctx, 'x', sizeof long_ctx - 1);
    long_ctx[sizeof long_ctx - 1] = '\0';
    mtl_error_set(MTL_ERR_IO, "inner");
    mtl_error_wrap(MTL_ERR_IO, "%s", long_ctx);
    assert_int_equal(strlen(mtl_error_message()), 1023);
    assert_true(mtl_error_message()[0] == 'x');
    assert_string_equal(mtl_error_message() + 1020, "..."); /* the cut shows */
    mtl_error_set(MTL_ERR_IO, "%s (expected short)", long_ctx);
    assert_int_equal(strlen(mtl_error_message()), 1023);
    assert_string_equal(mtl_error_message() + 1020, "...");
    /* the cut falls between UTF-8 characters: 1019 bytes of 'x', then two-byte characters */
    {
        char utf8[1100];
        size_t n = 0;

        memset(utf8, 'x', 1019);
        n = 1019;
        while (n + 2 < sizeof utf8) {
            utf8[n++] = (char)0xc3;
            utf8[n++] = (char)0xa9; /* e acute */
        }
        utf8[n] = '\0';
        mtl_error_set(MTL_ERR_IO, "%s", utf8);
        /* byte 1019 starts a character that would end at 1020, past the 1020 kept */
        assert_int_equal(strlen(mtl_error_message()), 1019 + 3);
        assert_string_equal(mtl_error_message() + 1019, "...");
        utf8[1018] = (char)0xc3; /* now bytes 1018-1019 are one whole character */
        utf8[1019] = (char)0xa9;
        mtl_error_set(MTL_ERR_IO, "%s", utf8);
        assert_int_equal(strlen(mtl_error_message()), 1023);
        assert_true((unsigned char)mtl_error_message()[1019] == 0xa9);
    }
    /* a message that fits is not marked */
    mtl_error_set(MTL_ERR_IO, "%.1022s", long_ctx);
    assert_int_equal(strlen(mtl_error_message()), 1022);
    assert_true(mtl_error_message()[1021] == 'x');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_deterministic),
        cmocka_unit_test(test_rng_streams_differ),
        cmocka_unit_test(test_rng_streams_independent),
        cmocka_unit_test(test_rng_uniform_and_below),
        cmocka_unit_test(test_rng_normal_moments),
        cmocka_unit_test(test_rng_shuffle_permutes),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_status_phrases),
        cmocka_unit_test(test_error_set_wrap_clear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
