/*
 * NYUv2 data preparation and evaluation against PyTorch: the augmentation
 * (random scale-crop + flip) and the metrics, on the values
 * tools/make_nyuv2_sample.py wrote into nyuv2_fixture.txt; plus hand-made
 * cases with known answers, the random draws, the average of the last
 * epochs with its Delta_m, and the task's checkpoint state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nyuv2_test.h"

#define FIXTURE MTL_TEST_SOURCE_DIR "/tests/nyuv2/nyuv2_fixture.txt"

/*
 * Float32 tolerance for bilinear values, which lie in [-1, 1]: PyTorch's
 * kernel orders the products differently, and some values differ by one
 * rounding (6e-8 measured).  Nearest-neighbour fields (label, depth) and
 * the depth's division by the scale must match exactly.
 */
#define TOL 1e-6

/* ---- the fixture ---------------------------------------------------------- */

static fixture fx;

static int load_fixture(void **state)
{
    (void)state;
    return fixture_load(&fx, FIXTURE);
}

static int free_fixture(void **state)
{
    (void)state;
    fixture_free(&fx);
    return 0;
}

static const fixture_entry *next(size_t *pos, const char *name)
{
    return fixture_next(&fx, pos, name);
}

static void to_float(const fixture_entry *e, float *dst, size_t n)
{
    assert_int_equal(e->n, n);
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)e->v[i];
}

/* The fixture holds float32 values written with 9 digits: they read back exactly as floats. */
static void compare(const char *what, const float *got, const fixture_entry *want, double tol)
{
    for (size_t i = 0; i < want->n; i++) {
        if (fabs((double)got[i] - (double)(float)want->v[i]) > tol) {
            print_error("%s[%zu]: got %.9g, PyTorch %.9g\n", what, i, (double)got[i], want->v[i]);
            fail();
        }
    }
}

/* ---- augmentation ----------------------------------------------------------- */

static void test_augment_fixture(void **state)
{
    size_t pos = 0;
    const fixture_entry *size = next(&pos, "size");
    int64_t h = (int64_t)size->v[0], w = (int64_t)size->v[1], hw = h * w;
    nyu_scene orig, s;
    float *tmp = malloc((size_t)(3 * hw) * sizeof *tmp);
    int cases = 0;

    (void)state;
    assert_int_equal(nyu_scene_alloc(&orig, h, w), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&s, h, w), MTL_OK);
    to_float(next(&pos, "image"), orig.image, (size_t)(3 * hw));
    to_float(next(&pos, "label"), orig.label, (size_t)hw);
    to_float(next(&pos, "depth"), orig.depth, (size_t)hw);
    to_float(next(&pos, "normal"), orig.normal, (size_t)(3 * hw));

    while (pos < fx.n && strcmp(fx.e[pos].name, "case") == 0) {
        const fixture_entry *c = next(&pos, "case");
        nyu_augment_draw d = {c->v[0], (int64_t)c->v[1], (int64_t)c->v[2], 0, 0, (int)c->v[3]};

        d.ch = (int64_t)((double)h / d.scale);
        d.cw = (int64_t)((double)w / d.scale);
        memcpy(s.image, orig.image, (size_t)(3 * hw) * sizeof(float));
        memcpy(s.label, orig.label, (size_t)hw * sizeof(float));
        memcpy(s.depth, orig.depth, (size_t)hw * sizeof(float));
        memcpy(s.normal, orig.normal, (size_t)(3 * hw) * sizeof(float));
        nyu_augment_apply(&d, &s, tmp);
        compare("image", s.image, next(&pos, "aug_image"), TOL);
        compare("label", s.label, next(&pos, "aug_label"), 0);
        compare("depth", s.depth, next(&pos, "aug_depth"), 0);
        compare("normal", s.normal, next(&pos, "aug_normal"), TOL);
        cases++;
    }
    assert_int_equal(cases, 7);
    nyu_scene_free(&orig);
    nyu_scene_free(&s);
    free(tmp);
}

/* The reference's crop sizes at 288 x 384: int(288 / 1.2) = 240, int(384 / 1.5) = 256, ... */
static void test_augment_draws(void **state)
{
    mtl_rng rng, again;
    int seen[3] = {0, 0, 0}, flips = 0;
    const int n = 3000;

    (void)state;
    mtl_rng_seed(&rng, 11, 3);
    mtl_rng_seed(&again, 11, 3);
    for (int i = 0; i < n; i++) {
        nyu_augment_draw d, e;
        int k;

        nyu_augment_draw_random(&rng, 288, 384, &d);
        nyu_augment_draw_random(&again, 288, 384, &e);
        assert_true(d.scale == e.scale && d.top == e.top && d.left == e.left && d.flip == e.flip);
        k = d.scale == 1.0 ? 0 : d.scale == 1.2 ? 1 : 2;
        assert_true(d.scale == 1.0 || d.scale == 1.2 || d.scale == 1.5);
        seen[k]++;
        assert_int_equal(d.ch, k == 0 ? 288 : k == 1 ? 240 : 192);
        assert_int_equal(d.cw, k == 0 ? 384 : k == 1 ? 320 : 256);
        assert_true(d.top >= 0 && d.top + d.ch <= 288);
        assert_true(d.left >= 0 && d.left + d.cw <= 384);
        flips += d.flip;
    }
    /* Each scale about n / 3 times, the flip about half the time (6 sigma bounds). */
    for (int k = 0; k < 3; k++)
        assert_true(abs(seen[k] - n / 3) < 160);
    assert_true(abs(flips - n / 2) < 170);
}

/* Equal values (+0 and -0 compare equal: the resize's arithmetic may turn one into the other). */
static void assert_values_equal(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_true(a[i] == b[i]);
}

/* Scale 1 without a flip changes nothing; a flip twice restores everything. */
static void test_augment_identity(void **state)
{
    nyu_scene s, orig;
    float tmp[3 * 8 * 6];
    nyu_augment_draw same = {1.0, 0, 0, 8, 6, 0}, flip = {1.0, 0, 0, 8, 6, 1};

    (void)state;
    assert_int_equal(nyu_scene_alloc(&s, 8, 6), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&orig, 8, 6), MTL_OK);
    for (int i = 0; i < 3 * 48; i++)
        s.image[i] = orig.image[i] = s.normal[i] = orig.normal[i] = (float)i / 7.0f - 3.0f;
    for (int i = 0; i < 48; i++) {
        s.label[i] = orig.label[i] = (float)(i % 14 - 1);
        s.depth[i] = orig.depth[i] = (float)i * 0.25f;
    }
    nyu_augment_apply(&same, &s, tmp);
    assert_values_equal(s.image, orig.image, 3 * 48);
    assert_values_equal(s.normal, orig.normal, 3 * 48);
    assert_values_equal(s.label, orig.label, 48);
    assert_values_equal(s.depth, orig.depth, 48);

    nyu_augment_apply(&flip, &s, tmp);
    /* row 2, column 1 came from column 4; the normal's x component is negated */
    assert_true(s.image[2 * 6 + 1] == orig.image[2 * 6 + 4]);
    assert_true(s.normal[2 * 6 + 1] == -orig.normal[2 * 6 + 4]);
    assert_true(s.normal[48 + 2 * 6 + 1] == orig.normal[48 + 2 * 6 + 4]);
    nyu_augment_apply(&flip, &s, tmp);
    assert_values_equal(s.image, orig.image, 3 * 48);
    assert_values_equal(s.normal, orig.normal, 3 * 48);
    assert_values_equal(s.label, orig.label, 48);
    assert_values_equal(s.depth, orig.depth, 48);
    nyu_scene_free(&s);
    nyu_scene_free(&orig);
}

/* ---- metrics ------------------------------------------------------------------ */

static void test_metrics_fixture(void **state)
{
    size_t pos = 0;
    const fixture_entry *dims = next(&pos, "mbatch");
    int64_t n = (int64_t)dims->v[0], hw = (int64_t)(dims->v[1] * dims->v[2]);
    size_t big = (size_t)(n * NYU_N_CLASSES * hw);
    float *logp = malloc(big * sizeof *logp), *label = malloc((size_t)(n * hw) * sizeof(float));
    float *dp = malloc((size_t)(n * hw) * sizeof(float)), *dt = malloc((size_t)(n * hw) * 4);
    float *np_ = malloc((size_t)(3 * n * hw) * 4), *nt = malloc((size_t)(3 * n * hw) * 4);
    nyu_metrics m = {0};
    double v[NYU_N_METRICS];
    const fixture_entry *want;

    (void)state;
    nyu_metrics_reset(&m);
    for (int b = 0; b < 2; b++) {
        to_float(next(&pos, "logp"), logp, big);
        to_float(next(&pos, "label"), label, (size_t)(n * hw));
        to_float(next(&pos, "depth_pred"), dp, (size_t)(n * hw));
        to_float(next(&pos, "depth_true"), dt, (size_t)(n * hw));
        to_float(next(&pos, "normal_pred"), np_, (size_t)(3 * n * hw));
        to_float(next(&pos, "normal_true"), nt, (size_t)(3 * n * hw));
        assert_int_equal(nyu_metrics_add(&m, n, hw, logp, label, dp, dt, np_, nt), MTL_OK);
    }
    nyu_metrics_values(&m, v);
    want = next(&pos, "expected");
    for (int j = 0; j < NYU_N_METRICS; j++) {
        /* angles in degrees: float32 acos and sums in another order; the rest tighter */
        double tol = j == 4 || j == 5 ? 1e-4 : 1e-6;
        if (fabs(v[j] - want->v[j]) > tol)
            print_error("metric %d: got %.9g, PyTorch %.9g\n", j, v[j], want->v[j]);
        assert_true(fabs(v[j] - want->v[j]) <= tol);
    }
    nyu_metrics_free(&m);
    free(logp);
    free(label);
    free(dp);
    free(dt);
    free(np_);
    free(nt);
}

/* Sets the class scores of pixel p of a one-scene batch so that `cls` wins. */
static void predict(float *logp, int64_t hw, int64_t p, int cls)
{
    for (int c = 0; c < NYU_N_CLASSES; c++)
        logp[c * hw + p] = c == cls ? -0.1f : -5.0f;
}

/*
 * One scene of four pixels, worked by hand:
 *   labels 0, 0, 1, -1; predicted 0, 1, 1, 2 (the last pixel is ignored).
 *   class 0: TP 1, FP 0, FN 1 -> IoU 1/2; class 1: TP 1, FP 1, FN 0 -> 1/2;
 *   classes 2..12 never occur and are never predicted on a labelled pixel:
 *   left out of the mean (NaN in the reference) -> mIoU 1/2, accuracy 2/3.
 *   depth: truths 2, 0, 4, 1 (pixel 1 has none), predictions 3, 9, 2, 1:
 *   abs (1 + 2 + 0) / 3 = 1, rel (1/2 + 2/4 + 0) / 3 = 1/3.
 *   normals: truths x, x, 0 (none), z; predictions x, y, x, (x+z)/sqrt2:
 *   angles 0, 90, 45 -> mean 45, median 45, within 11.25: 1/3, 22.5: 1/3,
 *   30: 1/3.
 */
static void test_metrics_by_hand(void **state)
{
    const int64_t hw = 4;
    float logp[NYU_N_CLASSES * 4], label[4] = {0, 0, 1, -1};
    float dp[4] = {3, 9, 2, 1}, dt[4] = {2, 0, 4, 1};
    float r = (float)(1 / sqrt(2.0));
    /* planar [3, 4]: x components, then y, then z */
    float nt[12] = {1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    float np_[12] = {1, 0, 1, r, 0, 1, 0, 0, 0, 0, 0, r};
    nyu_metrics m = {0};
    double v[NYU_N_METRICS];
    const double want[NYU_N_METRICS] = {0.5, 2.0 / 3, 1,       1.0 / 3, 45,
                                        45,  1.0 / 3, 1.0 / 3, 1.0 / 3};

    (void)state;
    predict(logp, hw, 0, 0);
    predict(logp, hw, 1, 1);
    predict(logp, hw, 2, 1);
    predict(logp, hw, 3, 2);
    nyu_metrics_reset(&m);
    assert_int_equal(nyu_metrics_add(&m, 1, hw, logp, label, dp, dt, np_, nt), MTL_OK);
    nyu_metrics_values(&m, v);
    for (int j = 0; j < NYU_N_METRICS; j++) {
        if (fabs(v[j] - want[j]) > 1e-5)
            print_error("metric %d: got %.9g, expected %.9g\n", j, v[j], want[j]);
        assert_true(fabs(v[j] - want[j]) <= 1e-5);
    }

    /*
     * A second batch with every depth and normal exact, and every pixel right:
     * the depth and angle values average over the two batches (reference:
     * avg_cost += cost / n_batches), the confusion matrix sums pixels.
     */
    for (int p = 0; p < 4; p++) {
        predict(logp, hw, p, (int)(label[p] < 0 ? 0 : label[p]));
        dp[p] = dt[p];
    }
    memcpy(np_, nt, sizeof nt);
    assert_int_equal(nyu_metrics_add(&m, 1, hw, logp, label, dp, dt, np_, nt), MTL_OK);
    nyu_metrics_values(&m, v);
    /* class 0: TP 3, FN 1 -> 3/4; class 1: TP 2, FP 1 -> 2/3; accuracy 5/6 */
    assert_true(fabs(v[0] - (0.75 + 2.0 / 3) / 2) < 1e-12);
    assert_true(fabs(v[1] - 5.0 / 6) < 1e-12);
    assert_true(fabs(v[2] - 0.5) < 1e-6 && fabs(v[3] - 1.0 / 6) < 1e-6);
    assert_true(fabs(v[4] - 22.5) < 1e-4 && fabs(v[5] - 22.5) < 1e-4);
    assert_true(fabs(v[6] - 2.0 / 3) < 1e-12);

    /* reset: nothing measured -> NaN */
    nyu_metrics_reset(&m);
    nyu_metrics_values(&m, v);
    for (int j = 0; j < NYU_N_METRICS; j++)
        assert_true(isnan(v[j]));
    nyu_metrics_free(&m);
}

/* The median of an even count is the mean of the middle two, as np.median. */
static void test_metrics_even_median(void **state)
{
    const int64_t hw = 4;
    float logp[NYU_N_CLASSES * 4] = {0}, label[4] = {-1, -1, -1, -1}, d[4] = {0};
    float c10 = (float)cos(10 * 3.14159265358979323846 / 180);
    float s10 = (float)sin(10 * 3.14159265358979323846 / 180);
    float c40 = (float)cos(40 * 3.14159265358979323846 / 180);
    float s40 = (float)sin(40 * 3.14159265358979323846 / 180);
    /* truths all x; predictions at 0, 10, 40 and 90 degrees in the x-y plane */
    float nt[12] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    float np_[12] = {1, c10, c40, 0, 0, s10, s40, 1, 0, 0, 0, 0};
    nyu_metrics m = {0};
    double v[NYU_N_METRICS];

    (void)state;
    nyu_metrics_reset(&m);
    assert_int_equal(nyu_metrics_add(&m, 1, hw, logp, label, d, d, np_, nt), MTL_OK);
    nyu_metrics_values(&m, v);
    assert_true(isnan(v[0]) && isnan(v[1])); /* no labelled pixel */
    assert_true(isnan(v[2]));                /* no depth */
    assert_true(fabs(v[4] - 35) < 1e-4);
    assert_true(fabs(v[5] - 25) < 1e-4);
    assert_true(fabs(v[6] - 0.5) < 1e-12 && fabs(v[7] - 0.5) < 1e-12);
    assert_true(fabs(v[8] - 0.5) < 1e-12);
    nyu_metrics_free(&m);
}

/* ---- the reported average ---------------------------------------------------- */

static const mtl_metric table[NYU_N_METRICS] = {
    {"mIoU", 0, 1, 0.3830, ""},         {"pix_acc", 0, 1, 0.6376, ""},
    {"abs_err", 1, 0, 0.6754, ""},      {"rel_err", 1, 0, 0.2780, ""},
    {"angle_mean", 2, 0, 25.01, ""},    {"angle_median", 2, 0, 19.21, ""},
    {"within_11.25", 2, 1, 0.3014, ""}, {"within_22.5", 2, 1, 0.5720, ""},
    {"within_30", 2, 1, 0.6915, ""},
};

static void test_final_average(void **state)
{
    nyu_final f = {0};
    double v[NYU_N_METRICS], paper[NYU_N_METRICS] = {0.4013, 0.6593, 0.5261, 0.2171, 25.26,
                                                     20.08,  0.2840, 0.5547, 0.6815};
    int64_t first, last;

    (void)state;
    /* epochs 0..19 of 20: metric j of epoch e is e + j; the last 10 average 14.5 + j */
    for (int e = 0; e < 20; e++) {
        for (int j = 0; j < NYU_N_METRICS; j++)
            v[j] = e + j;
        assert_int_equal(nyu_final_add(&f, e, v), MTL_OK);
    }
    assert_int_equal(nyu_final_average(&f, 20, 10, v, &first, &last), 10);
    assert_int_equal(first, 10);
    assert_int_equal(last, 19);
    for (int j = 0; j < NYU_N_METRICS; j++)
        assert_true(fabs(v[j] - (14.5 + j)) < 1e-12);
    /* fewer epochs than asked: all of them */
    assert_int_equal(nyu_final_average(&f, 20, 50, v, &first, &last), 20);
    assert_int_equal(first, 0);
    nyu_final_clear(&f);
    assert_int_equal(nyu_final_average(&f, 20, 10, v, &first, &last), 0);
    assert_true(isnan(v[0]));
    nyu_final_free(&f);

    /* The paper's Nash-MTL numbers give its Delta_m, -4.04 (REFERENCE.md). */
    assert_true(fabs(nyu_delta_m(table, paper) - -4.04) < 0.01);
}

/* ---- checkpoint state ---------------------------------------------------------- */

static void fill_metrics(nyu_metrics *m, int seed)
{
    nyu_metrics_reset(m);
    for (int i = 0; i < NYU_N_CLASSES * NYU_N_CLASSES; i++)
        m->conf[i] = (i * 31 + seed) % 97;
    m->depth_sum[0] = 1.5 + seed;
    m->depth_sum[1] = 0.25 * seed;
    m->depth_batches = 3 + seed;
    for (int k = 0; k < 5; k++)
        m->normal_sum[k] = k * 1.125 + seed;
    m->normal_batches = 4 + seed;
}

static void test_state_roundtrip(void **state)
{
    nyu_final f = {0}, g = {0};
    nyu_metrics acc[NYU_N_SPLITS], back[NYU_N_SPLITS];
    double v[NYU_N_METRICS];
    unsigned char *buf;
    size_t len;
    int trial = -1;

    (void)state;
    memset(acc, 0, sizeof acc);
    memset(back, 0, sizeof back);
    for (int e = 0; e < 5; e++) {
        for (int j = 0; j < NYU_N_METRICS; j++)
            v[j] = e * 10 + j + 0.5;
        assert_int_equal(nyu_final_add(&f, e * 2, v), MTL_OK);
    }
    for (int s = 0; s < NYU_N_SPLITS; s++)
        fill_metrics(&acc[s], s + 1);
    len = nyu_state_size(&f);
    assert_int_equal(len, 20 + 5 * 80 + 3 * (8 * 169 + 16 + 8 + 40 + 8));
    buf = malloc(len);
    nyu_state_write(buf, 2, &f, acc);

    assert_int_equal(nyu_state_read(buf, len, &trial, &g, back), MTL_OK);
    assert_int_equal(trial, 2);
    assert_int_equal(g.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(g.records[i].epoch, f.records[i].epoch);
        assert_memory_equal(g.records[i].values, f.records[i].values, sizeof v);
    }
    for (int s = 0; s < NYU_N_SPLITS; s++) {
        assert_memory_equal(back[s].conf, acc[s].conf, sizeof acc[s].conf);
        assert_memory_equal(back[s].depth_sum, acc[s].depth_sum, sizeof acc[s].depth_sum);
        assert_memory_equal(back[s].normal_sum, acc[s].normal_sum, sizeof acc[s].normal_sum);
        assert_int_equal(back[s].depth_batches, acc[s].depth_batches);
        assert_int_equal(back[s].normal_batches, acc[s].normal_batches);
    }

    /* refusals change nothing */
    assert_int_equal(nyu_state_read(buf, len - 1, &trial, &g, back), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "state_load: nyuv2 state of 4691 bytes does not hold 5 epochs' records "
                        "and 3 splits' metrics");
    assert_int_equal(g.n, 5);
    buf[4] = 7;
    assert_int_equal(nyu_state_read(buf, len, &trial, &g, back), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "state_load: unsupported nyuv2 state version (expected 1, got 7)");
    buf[0] = 'T';
    assert_int_equal(nyu_state_read(buf, len, &trial, &g, back), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "state_load: not an nyuv2 state (expected the magic 'NYUS' and at least "
                        "20 bytes, got 4692 bytes)");
    assert_int_equal(trial, 2);

    free(buf);
    nyu_final_free(&f);
    nyu_final_free(&g);
    for (int s = 0; s < NYU_N_SPLITS; s++) {
        nyu_metrics_free(&acc[s]);
        nyu_metrics_free(&back[s]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_augment_fixture),  cmocka_unit_test(test_augment_draws),
        cmocka_unit_test(test_augment_identity), cmocka_unit_test(test_metrics_fixture),
        cmocka_unit_test(test_metrics_by_hand),  cmocka_unit_test(test_metrics_even_median),
        cmocka_unit_test(test_final_average),    cmocka_unit_test(test_state_roundtrip),
    };

    return cmocka_run_group_tests_name("nyuv2 augmentation and metrics", tests, load_fixture,
                                       free_fixture);
}
