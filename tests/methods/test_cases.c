/*
 * The method cases with known answers (cases/methods.md, C1-C8), each also
 * checked on the whole kind of input it stands for: many seeded random
 * matrices of several sizes, against closed forms or optimality conditions.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define TOL 1e-6

/* Runs one step of `name` on J (k x d) and losses; returns the shared update in u. */
static void run_on(mh_method *m, const char *name, const char *const *overrides, const double *J,
                   int k, int d, const double *losses, double *u)
{
    double M[MH_MAX_K * MH_MAX_K];

    mh_gram(J, k, d, M);
    mh_open(m, name, k, overrides, 1);
    mh_step_ok(m, 0, losses, M);
    if (u)
        mh_update(J, k, d, m->shared, u);
}

static void expect(const char *name, const char *const *overrides, const double *J, int k, int d,
                   const double *weights, const double *update, double tol)
{
    static const double ones[MH_MAX_K] = {1, 1, 1, 1, 1, 1, 1, 1};
    mh_method m;
    double u[MH_MAX_D];
    char what[96];

    run_on(&m, name, overrides, J, k, d, ones, u);
    for (int i = 0; weights && i < k; i++) {
        snprintf(what, sizeof what, "%s weight %d", name, i);
        mh_assert_close(m.shared[i], weights[i], tol, what);
    }
    for (int p = 0; update && p < d; p++) {
        snprintf(what, sizeof what, "%s update[%d]", name, p);
        mh_assert_close(u[p], update[p], tol, what);
    }
    mh_close(&m);
}

/* ---- C1 / C2: the two tables ------------------------------------------- */

static void test_c1_orthogonal(void **state)
{
    static const double J[] = {1, 0, 0, 2};
    (void)state;

    expect("ls", NULL, J, 2, 2, (double[]){1, 1}, (double[]){1, 2}, TOL);
    expect("mgda", NULL, J, 2, 2, (double[]){1.6, 0.4}, (double[]){1.6, 0.8}, TOL);
    expect("nashmtl", NULL, J, 2, 2, (double[]){1, 0.5}, (double[]){1, 1}, TOL);
    expect("imtl", NULL, J, 2, 2, (double[]){2.0 / 3, 1.0 / 3}, (double[]){2.0 / 3, 2.0 / 3}, TOL);
    expect("cagrad", NULL, J, 2, 2, NULL, (double[]){1.6331269, 1.7241379}, TOL);
    expect("pcgrad", NULL, J, 2, 2, (double[]){1, 1}, (double[]){1, 2}, TOL);
}

static void test_c2_conflicting(void **state)
{
    static const double J[] = {1, 0, -1, 1};
    mh_method m;
    double M[4];
    (void)state;

    expect("ls", NULL, J, 2, 2, (double[]){1, 1}, (double[]){0, 1}, TOL);
    expect("mgda", NULL, J, 2, 2, (double[]){1.2, 0.8}, (double[]){0.4, 0.8}, TOL);
    expect("nashmtl", NULL, J, 2, 2, (double[]){1.8477591, 1.3065630},
           (double[]){0.5411961, 1.3065630}, TOL);
    expect("imtl", NULL, J, 2, 2, (double[]){0.5857864, 0.4142136},
           (double[]){0.1715729, 0.4142136}, TOL);
    expect("cagrad", NULL, J, 2, 2, NULL, (double[]){0.3448276, 0.8620690}, TOL);
    expect("pcgrad", NULL, J, 2, 2, NULL, (double[]){0.5, 1.5}, TOL);

    /* Nash's update has squared norm k = 2 (before the host's clip to 1). */
    mh_gram(J, 2, 2, M);
    mh_open(&m, "nashmtl", 2, NULL, 1);
    mh_step_ok(&m, 0, (double[]){1, 1}, M);
    mh_assert_close(m.shared[0] * m.shared[0] * M[0] + 2 * m.shared[0] * m.shared[1] * M[1] +
                        m.shared[1] * m.shared[1] * M[3],
                    2.0, TOL, "nash |update|^2");
    assert_true(m.out.max_norm == 1.0);
    mh_close(&m);
}

/* CAGrad's inner weights, recovered from c_i = (1 + k lambda w_i) / (1 + c^2). */
static void cagrad_inner(const double *coef, int k, double c, double *w)
{
    double total = 0.0;

    for (int i = 0; i < k; i++) {
        w[i] = (1.0 + c * c) * coef[i] - 1.0;
        total += w[i];
    }
    for (int i = 0; i < k; i++)
        w[i] /= total;
}

static void test_c1_c2_cagrad_inner_weights(void **state)
{
    static const double J1[] = {1, 0, 0, 2}, J2[] = {1, 0, -1, 1};
    const double *Js[] = {J1, J2};
    (void)state;

    for (int t = 0; t < 2; t++) {
        mh_method m;
        double w[2];
        run_on(&m, "cagrad", NULL, Js[t], 2, 2, (double[]){1, 1}, NULL);
        cagrad_inner(m.shared, 2, 0.4, w);
        mh_assert_close(w[0], 1.0, TOL, "cagrad inner w_1");
        mh_assert_close(w[1], 0.0, TOL, "cagrad inner w_2");
        for (int i = 0; i < 2; i++)
            assert_true(m.head[i] == 1.0);
        mh_close(&m);
    }
}

/* Orthonormal rows (Gram-Schmidt of seeded normals) scaled by random norms. */
static void random_orthogonal(mtl_rng *rng, double *J, int k, int d, double *norms)
{
    mh_random_matrix(rng, J, k, d);
    for (int i = 0; i < k; i++) {
        double n = 0.0;
        for (int j = 0; j < i; j++) {
            double dot = 0.0;
            for (int p = 0; p < d; p++)
                dot += J[i * d + p] * J[j * d + p];
            for (int p = 0; p < d; p++)
                J[i * d + p] -= dot * J[j * d + p];
        }
        for (int p = 0; p < d; p++)
            n += J[i * d + p] * J[i * d + p];
        n = sqrt(n);
        for (int p = 0; p < d; p++)
            J[i * d + p] /= n;
    }
    for (int i = 0; i < k; i++) {
        norms[i] = exp(4.0 * mtl_rng_uniform(rng) - 2.0);
        for (int p = 0; p < d; p++)
            J[i * d + p] *= norms[i];
    }
}

/* C1's kind: orthogonal gradients of any norms, k = 2..8. */
static void test_c1_kind_orthogonal(void **state)
{
    mtl_rng rng;
    int mgda_stopped = 0;
    (void)state;

    mtl_rng_seed(&rng, 11, 0);
    for (int k = 2; k <= 8; k++)
        for (int rep = 0; rep < 5; rep++) {
            int d = k + 2;
            double J[8 * 10], n[8], w[8], sum_inv = 0.0, sum_inv2 = 0.0;
            double ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};

            random_orthogonal(&rng, J, k, d, n);
            for (int i = 0; i < k; i++) {
                sum_inv += 1.0 / n[i];
                sum_inv2 += 1.0 / (n[i] * n[i]);
            }

            expect("ls", NULL, J, k, d, ones, NULL, TOL);
            expect("pcgrad", NULL, J, k, d, ones, NULL, TOL);
            for (int i = 0; i < k; i++)
                w[i] = 1.0 / n[i];
            expect("nashmtl", NULL, J, k, d, w, NULL, TOL);
            for (int i = 0; i < k; i++)
                w[i] = 1.0 / n[i] / sum_inv;
            expect("imtl", NULL, J, k, d, w, NULL, TOL);
            /*
             * The min-norm point of orthogonal g_i: w_i proportional to 1/|g_i|^2.
             * Sener and Koltun's stopping rule (L1 change < 1e-5 per step)
             * leaves errors up to ~1e-3 of the largest weight for k >= 3.
             */
            for (int i = 0; i < k; i++)
                w[i] = k / (n[i] * n[i]) / sum_inv2;
            if (k == 2) {
                expect("mgda", NULL, J, k, d, w, NULL, TOL);
            } else {
                mh_method m;
                double top = 0.0;
                run_on(&m, "mgda", NULL, J, k, d, ones, NULL);
                for (int i = 0; i < k; i++)
                    top = fmax(top, w[i]);
                for (int i = 0; i < k && !m.out.solve_failed; i++)
                    if (fabs(m.shared[i] - w[i]) > 5e-3 * top)
                        fail_msg("mgda orthogonal k = %d: w_%d = %g, expected %g", k, i,
                                 m.shared[i], w[i]);
                mgda_stopped += m.out.solve_failed;
                mh_close(&m);
            }
        }
    /* Ill-conditioned, but within the default max_iter. */
    assert_int_equal(mgda_stopped, 0);
}

/* A direct vector-space PCGrad with the plugin's documented order draws. */
static void pcgrad_reference(const double *J, int k, int d, uint64_t seed, double *u)
{
    mtl_rng rng;
    int64_t order[MH_MAX_K];
    double v[MH_MAX_D];

    mtl_rng_seed(&rng, seed, 0);
    memset(u, 0, (size_t)d * sizeof *u);
    for (int i = 0; i < k; i++) {
        memcpy(v, J + i * d, (size_t)d * sizeof *v);
        for (int t = 0; t < k; t++)
            order[t] = t;
        mtl_rng_shuffle(&rng, order, (size_t)k);
        for (int t = 0; t < k; t++) {
            const double *g = J + order[t] * d;
            double dot = 0.0, nn = 0.0;
            for (int p = 0; p < d; p++) {
                dot += v[p] * g[p];
                nn += g[p] * g[p];
            }
            if (dot < 0.0)
                for (int p = 0; p < d; p++)
                    v[p] -= dot / nn * g[p];
        }
        for (int p = 0; p < d; p++)
            u[p] += v[p];
    }
}

/* C2's kind for PCGrad: random J (conflicts likely), k = 2..8, vs the vector form. */
static void test_c2_kind_pcgrad(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 12, 0);
    for (int k = 2; k <= 8; k++)
        for (int rep = 0; rep < 5; rep++) {
            int d = 3 + rep;
            double J[8 * 8], M[64], u[8], ref[8], losses[8] = {0};
            mh_method m;

            mh_random_matrix(&rng, J, k, d);
            mh_gram(J, k, d, M);
            mh_open(&m, "pcgrad", k, NULL, 77);
            mh_step_ok(&m, 0, losses, M);
            mh_update(J, k, d, m.shared, u);
            pcgrad_reference(J, k, d, 77, ref);
            for (int p = 0; p < d; p++)
                mh_assert_close(u[p], ref[p], 1e-9, "pcgrad vs vector form");
            mh_close(&m);
        }
}

/*
 * C2's kind for MGDA: weights on the simplex (times k) for every k, and the
 * two-task closed form (k >= 3: test_c2_kind_mgda_reference).
 */
static void test_c2_kind_mgda(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 13, 0);
    for (int k = 2; k <= 8; k++)
        for (int rep = 0; rep < 8; rep++) {
            int d = 2 + rep;
            double J[8 * 9], M[64], w[8], losses[8] = {0}, sum = 0.0;
            mh_method m;

            mh_random_matrix(&rng, J, k, d);
            mh_gram(J, k, d, M);
            mh_open(&m, "mgda", k, NULL, 1);
            mh_step_ok(&m, 0, losses, M);
            for (int i = 0; i < k; i++) {
                assert_true(m.shared[i] >= 0.0);
                w[i] = m.shared[i] / k;
                sum += w[i];
            }
            mh_assert_close(sum, 1.0, 1e-12, "mgda weights sum to k");
            if (k == 2) {
                double gamma = (M[3] - M[1]) / (M[0] + M[3] - 2 * M[1]);
                gamma = M[1] >= M[0] ? 0.999 : M[1] >= M[3] ? 0.001 : gamma;
                mh_assert_close(w[0], gamma, 1e-12, "mgda pair gamma");
            }
            assert_false(m.out.solve_failed);
            mh_close(&m);
        }
}

/*
 * C2's kind for MGDA, k >= 3: the weights of the reference's own solver
 * (mgda_fixture.txt, written by make_mgda_fixture.py from the reference
 * code), for all four normalizations.  Its stopping rule ends some solves
 * well before the exact minimum, so only a port of the same algorithm
 * matches these numbers.
 */
static void test_c2_kind_mgda_reference(void **state)
{
    FILE *f = fopen(MTL_TEST_SOURCE_DIR "/tests/methods/mgda_fixture.txt", "r");
    char line[256], norm[16], opt[48];
    int k, d, n = 0;
    double worst = 0.0;
    (void)state;

    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        double J[16 * 24], M[256], losses[16], expected[16];
        const char *overrides[] = {opt, NULL};
        mh_method m;

        if (line[0] == '#' || sscanf(line, "%d %d %15s", &k, &d, norm) != 3)
            continue;
        assert_true(k <= 16 && d <= 24);
        for (int i = 0; i < k * d; i++)
            assert_int_equal(fscanf(f, "%lf", &J[i]), 1);
        for (int i = 0; i < k; i++)
            assert_int_equal(fscanf(f, "%lf", &losses[i]), 1);
        for (int i = 0; i < k; i++)
            assert_int_equal(fscanf(f, "%lf", &expected[i]), 1);
        snprintf(opt, sizeof opt, "normalization=%s", norm);

        mh_gram(J, k, d, M);
        mh_open(&m, "mgda", k, overrides, 1);
        mh_step_ok(&m, 0, losses, M);
        assert_false(m.out.solve_failed);
        for (int i = 0; i < k; i++) {
            worst = fmax(worst, fabs(m.shared[i] - expected[i]));
            mh_assert_close(m.shared[i], expected[i], 1e-8, "mgda vs the reference solver");
        }
        mh_close(&m);
        n++;
    }
    fclose(f);
    print_message("mgda: %d reference cases, largest difference %.3g\n", n, worst);
    assert_int_equal(n, 48);
}

/* C2's kind for IMTL-G: sum a = 1 and equal projections on the unit gradients. */
static void test_c2_kind_imtl(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 14, 0);
    for (int k = 2; k <= 8; k++)
        for (int rep = 0; rep < 5; rep++) {
            int d = k + rep;
            double J[8 * 12], M[64], u[12], losses[8] = {0}, sum = 0.0, proj0 = 0.0;
            mh_method m;

            mh_random_matrix(&rng, J, k, d);
            mh_gram(J, k, d, M);
            mh_open(&m, "imtl", k, NULL, 1);
            mh_step_ok(&m, 0, losses, M);
            assert_false(m.out.solve_failed);
            mh_update(J, k, d, m.shared, u);
            for (int i = 0; i < k; i++) {
                double proj = 0.0;
                sum += m.shared[i];
                for (int p = 0; p < d; p++)
                    proj += u[p] * J[i * d + p];
                proj /= sqrt(M[i * k + i]);
                if (i == 0)
                    proj0 = proj;
                mh_assert_close(proj, proj0, 1e-8, "imtl equal projections");
            }
            mh_assert_close(sum, 1.0, 1e-10, "imtl weights sum to 1");
            mh_close(&m);
        }
}

/* CAGrad's objective F(w) = w^T M 1/k + c |g0| sqrt(w^T M w). */
static double cagrad_objective(const double *M, int k, const double *w, double c)
{
    double lin = 0.0, q = 0.0, mean = 0.0;

    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            lin += w[i] * M[i * k + j] / k;
            q += w[i] * M[i * k + j] * w[j];
            mean += M[i * k + j] / (k * k);
        }
    return lin + c * sqrt(mean) * sqrt(fmax(q, 0.0));
}

/* C1/C2's kind for CAGrad: the inner w is no worse than a fine grid, k = 3. */
/* A tiny c is c = 0 (c' below 1e-12 of the mean gradient norm): no solver fallback. */
static void test_cagrad_tiny_c(void **state)
{
    static const char *const cs[] = {"c=0", "c=1e-300", "c=1e-13"};
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 16, 0);
    for (int rep = 0; rep < 6; rep++) {
        double J[3 * 4], M[9], losses[3] = {0}, zero[3];
        mh_random_matrix(&rng, J, 3, 4);
        mh_gram(J, 3, 4, M);
        for (int c = 0; c < 3; c++) {
            const char *const over[] = {cs[c], NULL};
            mh_method m;
            mh_open(&m, "cagrad", 3, over, 1);
            mh_step_ok(&m, 0, losses, M);
            assert_false(m.out.solve_failed);
            for (int i = 0; i < 3; i++) {
                if (c == 0)
                    zero[i] = m.shared[i];
                assert_true(m.shared[i] == zero[i]);
                assert_true(m.shared[i] == 1.0);
            }
            mh_close(&m);
        }
    }
}

static void test_c2_kind_cagrad_optimal(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 15, 0);
    for (int rep = 0; rep < 12; rep++) {
        int k = 3, d = 2 + rep % 4;
        double J[3 * 5], M[9], w[3], losses[3] = {0}, best = INFINITY, f;
        mh_method m;

        mh_random_matrix(&rng, J, k, d);
        mh_gram(J, k, d, M);
        mh_open(&m, "cagrad", k, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        assert_false(m.out.solve_failed);
        cagrad_inner(m.shared, k, 0.4, w);
        for (int i = 0; i < k; i++)
            assert_true(w[i] >= -1e-9);
        f = cagrad_objective(M, k, w, 0.4);
        for (int a = 0; a <= 400; a++)
            for (int b = 0; a + b <= 400; b++) {
                double g[3] = {a / 400.0, b / 400.0, (400 - a - b) / 400.0};
                best = fmin(best, cagrad_objective(M, k, g, 0.4));
            }
        /* The barrier's gap bound is 1e-12 of the mean squared gradient norm. */
        if (f > best + 1e-10 * (fabs(best) + M[0] + M[4] + M[8]))
            fail_msg("cagrad: F(w) = %.15g above the grid's %.15g", f, best);
        mh_close(&m);
    }
}

/* ---- C3: Nash-MTL invariants ------------------------------------------- */

static double nash_residual(const double *M, int k, const double *a)
{
    double r = 0.0;

    for (int i = 0; i < k; i++) {
        double ma = 0.0;
        for (int j = 0; j < k; j++)
            ma += M[i * k + j] * a[j];
        r = fmax(r, fabs(a[i] * ma - 1.0));
    }
    return r;
}

static void test_c3_nash_invariants(void **state)
{
    static const int ks[] = {2, 3, 4, 5, 8, 11, 16};
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 31, 0);
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++)
        for (int rep = 0; rep < 4; rep++) {
            int k = ks[t], d = k + 4 + rep;
            double J[16 * 23], M[256], losses[16] = {0}, q = 0.0;
            mh_method m;

            mh_random_matrix(&rng, J, k, d);
            mh_gram(J, k, d, M);
            mh_open(&m, "nashmtl", k, NULL, 1);
            mh_step_ok(&m, 0, losses, M);
            assert_false(m.out.solve_failed);
            if (nash_residual(M, k, m.shared) > 1e-9)
                fail_msg("nash residual %g for k = %d", nash_residual(M, k, m.shared), k);
            for (int i = 0; i < k; i++) {
                assert_true(m.shared[i] > 0.0);
                for (int j = 0; j < k; j++)
                    q += m.shared[i] * M[i * k + j] * m.shared[j];
            }
            mh_assert_close(q, k, 1e-8, "nash |update|^2 = k");
            mh_close(&m);
        }
}

static void test_c3_nash_scaling(void **state)
{
    static const double scales[] = {1e-3, 1.0, 1e3};
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 32, 0);
    for (int k = 2; k <= 6; k++) {
        int d = k + 3;
        double J[6 * 9], Js[6 * 9], M[36], u0[9], u[9], a0[6], losses[6] = {0};

        mh_random_matrix(&rng, J, k, d);
        for (size_t s = 0; s < 3; s++) {
            mh_method m;
            for (int p = 0; p < k * d; p++)
                Js[p] = scales[s] * J[p];
            mh_gram(Js, k, d, M);
            mh_open(&m, "nashmtl", k, NULL, 1);
            mh_step_ok(&m, 0, losses, M);
            mh_update(Js, k, d, m.shared, u);
            if (s == 0) {
                memcpy(u0, u, sizeof u);
                for (int i = 0; i < k; i++)
                    a0[i] = m.shared[i] * scales[0];
            }
            for (int p = 0; p < d; p++)
                mh_assert_close(u[p], u0[p], 1e-8, "nash update under J -> cJ");
            for (int i = 0; i < k; i++)
                mh_assert_close(m.shared[i] * scales[s], a0[i], 1e-8, "nash alpha * c");
            mh_close(&m);
        }
    }
}

static void test_c3_nash_large_weights(void **state)
{
    double M[4] = {4.48e-4, 0, 0, 1.865e-6};
    mh_method m;
    (void)state;

    mh_open(&m, "nashmtl", 2, NULL, 1);
    mh_step_ok(&m, 0, (double[]){1, 1}, M);
    assert_false(m.out.solve_failed);
    mh_assert_close(m.shared[0], 1.0 / sqrt(4.48e-4), 1e-9, "alpha_1");
    mh_assert_close(m.shared[1], 1.0 / sqrt(1.865e-6), 1e-9, "alpha_2");
    mh_assert_close(m.shared[0], 47.24, 1e-3, "alpha_1 ~ 47.24");
    mh_assert_close(m.shared[1], 732.27, 1e-3, "alpha_2 ~ 732.27");
    mh_close(&m);
}

static void test_c3_nash_update_every(void **state)
{
    static const char *const every3[] = {"update_weights_every=3", NULL};
    mtl_rng rng;
    double J[3 * 5], M[9], first[3];
    mh_method m;
    (void)state;

    mtl_rng_seed(&rng, 33, 0);
    mh_open(&m, "nashmtl", 3, every3, 1);
    for (int64_t step = 0; step < 7; step++) {
        double losses[3] = {1.0 + step, 2.0, 3.0};

        mh_random_matrix(&rng, J, 3, 5);
        mh_gram(J, 3, 5, M);
        mh_step_ok(&m, step, losses, M);
        assert_int_equal(m.plan.need, step % 3 == 0 ? MTL_NEED_GRAM : MTL_NEED_LOSSES);
        if (step % 3 == 0) {
            /* A new solve: different from the previous weights. */
            if (step > 0)
                assert_true(memcmp(first, m.shared, sizeof first) != 0);
            memcpy(first, m.shared, sizeof first);
            assert_true(nash_residual(M, 3, m.shared) <= 1e-9);
        } else {
            /* Reused exactly: same bits for shared, head and reported weights. */
            assert_memory_equal(first, m.shared, sizeof first);
            assert_memory_equal(first, m.head, sizeof first);
            assert_memory_equal(first, m.weights, sizeof first);
        }
        assert_true(m.out.max_norm == 1.0);
        mh_assert_close(m.out.loss, first[0] * losses[0] + first[1] * 2.0 + first[2] * 3.0, 1e-12,
                        "nash loss");
    }
    mh_close(&m);
}

static void test_c3_nash_failure_reported(void **state)
{
    /* Exactly opposite gradients: no positive solution. */
    static const double Jgood[] = {1, 0, 0, 1}, Jbad[] = {1, 2, -2, -4};
    double M[4], before[2];
    mh_method m;
    (void)state;

    mh_open(&m, "nashmtl", 2, NULL, 1);
    /* The first solve fails too: the weights are the initial ones. */
    mh_gram(Jbad, 2, 2, M);
    mh_step_ok(&m, 0, (double[]){1, 1}, M);
    assert_int_equal(m.out.solve_failed, 1);
    assert_string_equal(m.out.warning,
                        "no positive solution: the unit gradients sum to 0 (0 is in the "
                        "gradients' convex hull); keeping the last weights");
    assert_true(m.shared[0] == 1.0 && m.shared[1] == 1.0);

    mh_gram(Jgood, 2, 2, M);
    mh_step_ok(&m, 1, (double[]){1, 1}, M);
    assert_int_equal(m.out.solve_failed, 0);
    memcpy(before, m.shared, sizeof before);

    mh_gram(Jbad, 2, 2, M);
    mh_step_ok(&m, 2, (double[]){1, 1}, M);
    assert_int_equal(m.out.solve_failed, 1);
    assert_memory_equal(before, m.shared, sizeof before);
    assert_true(m.out.max_norm == 1.0);
    mh_close(&m);
}

/*
 * A singular M with a positive solution (0 outside the gradients' convex
 * hull): duplicate gradients, or more tasks than dimensions in a half-space.
 * The Hessian M + diag(1/a^2) stays positive definite: solved exactly.
 */
static void test_c3_nash_singular_gram(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 36, 0);
    for (int rep = 0; rep < 20; rep++) {
        int k = 3 + rep % 6, d = rep % 2 ? 2 : 4;
        double J[8 * 4], M[64], losses[8] = {0};
        mh_method m;

        mh_random_matrix(&rng, J, k, d);
        for (int i = 0; i < k; i++)
            J[i * d] = fabs(J[i * d]) + 3.0; /* a common half-space */
        if (d == 4)
            memcpy(J + d, J, (size_t)d * sizeof *J); /* a duplicate */
        mh_gram(J, k, d, M);
        mh_open(&m, "nashmtl", k, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        assert_false(m.out.solve_failed);
        if (nash_residual(M, k, m.shared) > 1e-9)
            fail_msg("nash singular M, k = %d, d = %d: residual %g", k, d,
                     nash_residual(M, k, m.shared));
        if (d == 4)
            mh_assert_close(m.shared[0], m.shared[1], 1e-9, "duplicates share a weight");
        mh_close(&m);
    }
}

/* Warm and cold starts reach the same solution along a training-like sequence. */
static void test_c3_nash_warm_equals_cold(void **state)
{
    static const char *const cold[] = {"warm_start=false", NULL};
    double J[8 * 12], M[64], losses[8] = {0};
    mtl_rng rng;
    mh_method warm, fresh;
    (void)state;

    mtl_rng_seed(&rng, 35, 0);
    mh_random_matrix(&rng, J, 8, 12);
    mh_open(&warm, "nashmtl", 8, NULL, 1);
    mh_open(&fresh, "nashmtl", 8, cold, 1);
    for (int64_t step = 0; step < 50; step++) {
        for (int p = 0; p < 8 * 12; p++)
            J[p] += 0.05 * mtl_rng_normal(&rng);
        mh_gram(J, 8, 12, M);
        mh_step_ok(&warm, step, losses, M);
        mh_step_ok(&fresh, step, losses, M);
        assert_false(warm.out.solve_failed || fresh.out.solve_failed);
        for (int i = 0; i < 8; i++)
            mh_assert_close(warm.shared[i], fresh.shared[i], 1e-9, "nash warm vs cold");
    }
    mh_close(&warm);
    mh_close(&fresh);
}

/*
 * optim_niter bounds the Newton steps (5 per reference iteration): a cold
 * k = 16 solve needs about 9, so one iteration (5 steps) is too few and is
 * reported, while four (20 steps) converge.
 */
static void test_c3_nash_budget(void **state)
{
    static const char *const tight[] = {"optim_niter=1", "warm_start=false", NULL};
    static const char *const enough[] = {"optim_niter=4", "warm_start=false", NULL};
    static const char prefix[] =
        "not converged after 5 Newton steps (max |alpha_i (M alpha)_i - 1| = ";
    double J[16 * 20], M[256], losses[16] = {0};
    mtl_rng rng;
    mh_method m;
    (void)state;

    mtl_rng_seed(&rng, 34, 0);
    mh_random_matrix(&rng, J, 16, 20);
    mh_gram(J, 16, 20, M);

    mh_open(&m, "nashmtl", 16, tight, 1);
    mh_step_ok(&m, 0, losses, M);
    assert_int_equal(m.out.solve_failed, 1);
    assert_int_equal(strncmp(m.out.warning, prefix, sizeof prefix - 1), 0);
    assert_non_null(strstr(m.out.warning, ", expected <= 1e-06); keeping the last weights"));
    for (int i = 0; i < 16; i++)
        assert_true(m.shared[i] == 1.0);
    mh_close(&m);

    mh_open(&m, "nashmtl", 16, enough, 1);
    mh_step_ok(&m, 0, losses, M);
    assert_int_equal(m.out.solve_failed, 0);
    assert_true(nash_residual(M, 16, m.shared) <= 1e-9);
    mh_close(&m);
}

/* Nearly opposite: solved while the weights stay resolvable in double, then reported. */
static void test_c3_nash_nearly_opposite(void **state)
{
    mh_method m;
    double last[2] = {0, 0};
    int failed_at = -1;
    (void)state;

    mh_open(&m, "nashmtl", 2, NULL, 1);
    for (int e = 1; e <= 14; e++) {
        double eps = pow(10.0, -e);
        /* g1 = (1, 0), g2 = 3 (-cos t, sin t) with 1 + cos(angle) = eps. */
        double ct = 1.0 - eps, st = sqrt(1.0 - ct * ct);
        double J[4] = {1, 0, -3 * ct, 3 * st}, M[4];

        mh_gram(J, 2, 2, M);
        mh_step_ok(&m, e, (double[]){1, 1}, M);
        if (!m.out.solve_failed) {
            assert_int_equal(failed_at, -1);
            assert_true(nash_residual(M, 2, m.shared) <= 1e-6);
            memcpy(last, m.shared, sizeof last);
        } else {
            if (failed_at < 0)
                failed_at = e;
            assert_memory_equal(last, m.shared, sizeof last);
            assert_non_null(strstr(m.out.warning, "no reliable positive solution"));
        }
    }
    /* 1 + cos down to 1e-9 is solved; at 1e-10 and beyond the weights pass 1e4.7. */
    assert_int_equal(failed_at, 10);
    mh_close(&m);
}

/* ---- C4: a zero task gradient ------------------------------------------ */

static void test_c4_zero_gradient(void **state)
{
    static const double J[] = {1, 2, 0, 0}, losses[] = {0.7, 0.0};
    double M[4];
    (void)state;

    mh_gram(J, 2, 2, M);
    for (int t = 0; t < mh_n_methods; t++) {
        mh_method m;
        mh_open(&m, mh_method_names[t], 2, NULL, 1);
        mh_step_ok(&m, 0, losses, M); /* finite outputs: checked by the harness */
        mh_close(&m);
    }

    /* Nash: solve over task 1 (alpha = 1/|g1|), weight 0 for task 2, logged once. */
    {
        mh_method m;
        mh_open(&m, "nashmtl", 2, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        assert_false(m.out.solve_failed);
        mh_assert_close(m.shared[0], 1.0 / sqrt(5.0), 1e-12, "nash alpha_1");
        assert_true(m.shared[1] == 0.0);
        assert_int_equal(m.th.log_count, 1);
        assert_string_equal(m.th.last_log,
                            "step 0: task 1 has a zero gradient: weight 0 (logged once)");
        mh_step_ok(&m, 1, losses, M);
        assert_int_equal(m.th.log_count, 1);
        mh_close(&m);
    }
    /* IMTL-G: the same rule. */
    {
        mh_method m;
        mh_open(&m, "imtl", 2, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        assert_true(m.shared[0] == 1.0 && m.shared[1] == 0.0);
        assert_false(m.out.solve_failed);
        mh_close(&m);
    }
    /* MGDA none: the zero vector is in the hull (the reference's 0.001 quirk). */
    {
        mh_method m;
        mh_open(&m, "mgda", 2, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        mh_assert_close(m.shared[0], 0.002, 1e-12, "mgda w_1");
        mh_assert_close(m.shared[1], 1.998, 1e-12, "mgda w_2");
        mh_close(&m);
    }
    /* MGDA's normalizers of 0 are replaced by 1 and logged once, never divided by. */
    {
        static const char *const norms[][2] = {{"normalization=l2", NULL},
                                               {"normalization=loss", NULL},
                                               {"normalization=loss+", NULL}};
        for (int n = 0; n < 3; n++) {
            mh_method m;
            mh_open(&m, "mgda", 2, norms[n], 1);
            mh_step_ok(&m, 5, losses, M);
            assert_int_equal(m.th.log_count, 1);
            assert_string_equal(m.th.last_log,
                                "step 5: task 1's normalizer is 0 (zero gradient or zero loss): "
                                "its gradient is used unnormalized (logged once)");
            mh_step_ok(&m, 6, losses, M);
            assert_int_equal(m.th.log_count, 1);
            mh_close(&m);
        }
    }
    /* scaleinvls: loss 0 has no log; weight 0 and a reported failure. */
    {
        mh_method m;
        mh_open(&m, "scaleinvls", 2, NULL, 1);
        mh_step_ok(&m, 0, losses, M);
        mh_assert_close(m.shared[0], 1.0 / 0.7, 1e-12, "scaleinvls c_1");
        assert_true(m.shared[1] == 0.0);
        assert_int_equal(m.out.solve_failed, 1);
        assert_string_equal(
            m.out.warning, "task 1 has loss 0: log needs a loss > 0, so its weight is 0 this step");
        mh_assert_close(m.out.loss, log(0.7), 1e-12, "scaleinvls loss");
        mh_close(&m);
    }
}

/* C4's kind: zero gradients among k = 3..6, in any position, all zero too. */
static void test_c4_kind_zero_gradients(void **state)
{
    mtl_rng rng;
    (void)state;

    mtl_rng_seed(&rng, 41, 0);
    for (int k = 1; k <= 6; k++)
        for (int mask = 1; mask < (1 << k); mask++) {
            int d = k + 2;
            double J[6 * 8], M[36], losses[6] = {1, 1, 1, 1, 1, 1};
            mh_method nash, imtl;

            mh_random_matrix(&rng, J, k, d);
            for (int i = 0; i < k; i++)
                if (mask & (1 << i))
                    memset(J + i * d, 0, (size_t)d * sizeof *J);
            mh_gram(J, k, d, M);

            mh_open(&nash, "nashmtl", k, NULL, 1);
            mh_step_ok(&nash, 0, losses, M);
            assert_false(nash.out.solve_failed);
            mh_open(&imtl, "imtl", k, NULL, 1);
            mh_step_ok(&imtl, 0, losses, M);
            for (int i = 0; i < k; i++) {
                if (mask & (1 << i)) {
                    assert_true(nash.shared[i] == 0.0);
                    assert_true(imtl.shared[i] == 0.0);
                } else {
                    /* alpha_i (M alpha)_i = 1 over the non-zero tasks. */
                    double ma = 0.0;
                    for (int j = 0; j < k; j++)
                        ma += M[i * k + j] * nash.shared[j];
                    mh_assert_close(nash.shared[i] * ma, 1.0, 1e-9, "nash on non-zero tasks");
                }
            }
            mh_close(&nash);
            mh_close(&imtl);
        }
}

/* IMTL-G on duplicate gradients: D U^T is singular; the ridge is reported. */
static void test_c4_kind_imtl_duplicates(void **state)
{
    double J[3 * 3] = {1, 2, 0, 1, 2, 0, -1, 0.5, 1}, M[9], l[3] = {1, 1, 1}, sum = 0.0;
    mh_method m;
    (void)state;

    mh_gram(J, 3, 3, M);
    mh_open(&m, "imtl", 3, NULL, 1);
    mh_step_ok(&m, 0, l, M);
    assert_int_equal(m.out.solve_failed, 1);
    assert_string_equal(m.out.warning, "D U^T is singular (duplicate or linearly dependent "
                                       "gradients): solved with a ridge of 1e-8 times its "
                                       "largest entry");
    for (int i = 0; i < 3; i++)
        sum += m.shared[i];
    mh_assert_close(sum, 1.0, 1e-12, "imtl weights still sum to 1");
    mh_close(&m);
}

/* ---- C5: a single task ------------------------------------------------- */

static void test_c5_single_task(void **state)
{
    double M[1] = {25.0}, loss[1] = {2.0};
    struct {
        const char *name;
        double c, weight;
    } expected[] = {
        {"ls", 1, 1},          {"scaleinvls", 0.5, 1}, /* d log(l) / dl = 1/l */
        {"stl", 1, 1},         {"uw", 0.5, 1},         /* 0.5 exp(-s), reported exp(-s) */
        {"rlw", 1, 1},         {"dwa", 1, 1},          {"mgda", 1, 1},
        {"imtl", 1, 1},        {"pcgrad", 1, 1},       {"cagrad", 1.4 / 1.16, 1.4 / 1.16},
        {"nashmtl", 0.2, 0.2},
    };
    (void)state;

    for (size_t t = 0; t < sizeof expected / sizeof expected[0]; t++) {
        mh_method m;
        mh_open(&m, expected[t].name, 1, NULL, 1);
        for (int64_t step = 0; step < 3; step++) {
            mh_step_ok(&m, step, loss, M);
            mh_assert_close(m.shared[0], expected[t].c, 1e-9, expected[t].name);
            mh_assert_close(m.weights[0], expected[t].weight, 1e-9, expected[t].name);
            assert_false(m.out.solve_failed);
        }
        if (strcmp(expected[t].name, "uw") == 0)
            mh_assert_close(m.param_grads[0], 0.5 * (1.0 - 2.0), 1e-7, "uw still learns");
        mh_close(&m);
    }
}

/* ---- C6: pcgrad reduction ---------------------------------------------- */

static void test_c6_pcgrad_reduction(void **state)
{
    static const double J[] = {1, 0, 0, 1};
    static const char *const sum[] = {"reduction=sum", NULL}, *const mean[] = {"reduction=mean",
                                                                               NULL};
    (void)state;

    expect("pcgrad", sum, J, 2, 2, NULL, (double[]){1, 1}, 1e-12);
    expect("pcgrad", mean, J, 2, 2, NULL, (double[]){0.5, 0.5}, 1e-12);
}

/* ---- C7: uncertainty weighting can go negative -------------------------- */

static void test_c7_uw_negative(void **state)
{
    double losses[2] = {0.01, 0.1};
    mh_method m;
    (void)state;

    mh_open(&m, "uw", 2, NULL, 1);
    mh_assert_close(m.info.param_lr, 0.025, 1e-15, "uw param_lr");
    assert_int_equal(m.info.n_params, 2);
    /* Gradient descent on s alone (the optimum is s_i = log l_i). */
    for (int64_t step = 0; step < 400; step++) {
        mh_step_ok(&m, step, losses, NULL);
        for (int i = 0; i < 2; i++)
            m.params[i] -= 1.0f * m.param_grads[i];
    }
    mh_step_ok(&m, 400, losses, NULL);
    for (int i = 0; i < 2; i++) {
        double s = m.params[i];
        double per_task = 0.5 * (exp(-s) * losses[i] + s);
        mh_assert_close(s, log(losses[i]), 1e-5, "uw s -> log l");
        mh_assert_close(per_task, i == 0 ? -1.80 : -0.65, 0.01, "uw per-task total");
        mh_assert_close(m.weights[i], 1.0 / losses[i], 1e-4, "uw reported exp(-s)");
    }
    mh_assert_close(m.out.loss, 0.5 * (2 + log(0.01) + log(0.1)), 1e-5, "uw total");
    assert_true(m.out.loss < 0.0);
    mh_close(&m);
}

/* ---- C8: random loss weighting ----------------------------------------- */

static void test_c8_rlw(void **state)
{
    double losses[3] = {1, 2, 3}, mean[3] = {0, 0, 0};
    mh_method a, b, c;
    int differs = 0;
    (void)state;

    mh_open(&a, "rlw", 3, NULL, 2024);
    mh_open(&b, "rlw", 3, NULL, 2024);
    mh_open(&c, "rlw", 3, NULL, 2025);
    for (int64_t step = 0; step < 10000; step++) {
        double sum = 0.0;
        mh_step_ok(&a, step, losses, NULL);
        mh_step_ok(&b, step, losses, NULL);
        mh_step_ok(&c, step, losses, NULL);
        for (int i = 0; i < 3; i++) {
            assert_true(a.shared[i] > 0.0);
            sum += a.shared[i];
            mean[i] += a.shared[i] / 10000;
            differs |= a.shared[i] != c.shared[i];
        }
        mh_assert_close(sum, 1.0, 1e-12, "rlw weights sum to 1");
        assert_memory_equal(a.shared, b.shared, 3 * sizeof(double));
    }
    for (int i = 0; i < 3; i++)
        mh_assert_close(mean[i], 1.0 / 3.0, 0.01, "rlw mean weight");
    assert_true(differs);
    mh_close(&a);
    mh_close(&b);
    mh_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c1_orthogonal),
        cmocka_unit_test(test_c2_conflicting),
        cmocka_unit_test(test_c1_c2_cagrad_inner_weights),
        cmocka_unit_test(test_c1_kind_orthogonal),
        cmocka_unit_test(test_c2_kind_pcgrad),
        cmocka_unit_test(test_c2_kind_mgda),
        cmocka_unit_test(test_c2_kind_mgda_reference),
        cmocka_unit_test(test_c2_kind_imtl),
        cmocka_unit_test(test_c2_kind_cagrad_optimal),
        cmocka_unit_test(test_cagrad_tiny_c),
        cmocka_unit_test(test_c3_nash_invariants),
        cmocka_unit_test(test_c3_nash_scaling),
        cmocka_unit_test(test_c3_nash_large_weights),
        cmocka_unit_test(test_c3_nash_update_every),
        cmocka_unit_test(test_c3_nash_failure_reported),
        cmocka_unit_test(test_c3_nash_singular_gram),
        cmocka_unit_test(test_c3_nash_warm_equals_cold),
        cmocka_unit_test(test_c3_nash_budget),
        cmocka_unit_test(test_c3_nash_nearly_opposite),
        cmocka_unit_test(test_c4_zero_gradient),
        cmocka_unit_test(test_c4_kind_zero_gradients),
        cmocka_unit_test(test_c4_kind_imtl_duplicates),
        cmocka_unit_test(test_c5_single_task),
        cmocka_unit_test(test_c6_pcgrad_reduction),
        cmocka_unit_test(test_c7_uw_negative),
        cmocka_unit_test(test_c8_rlw),
    };
    return cmocka_run_group_tests_name("methods: cases C1-C8", tests, NULL, NULL);
}
