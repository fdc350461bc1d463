/* Finite-difference gradient checks and set-up for the op and layer tests (gradcheck.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* ---- finite differences -------------------------------------------------- */

void mtl_test_fill_uniform(mtl_tensor *t, mtl_rng *rng, double scale)
{
    int64_t n = mtl_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);

    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((2.0 * mtl_rng_uniform(rng) - 1.0) * scale);
    assert_int_equal(mtl_tensor_write(t, v, (size_t)n), MTL_OK);
    free(v);
}

mtl_tensor *mtl_test_new_param(mtl_model *m, const char *name, int ndim, const int64_t *shape,
                               mtl_rng *rng)
{
    mtl_tensor *p = mtl_model_param(m, name, MTL_ROLE_SHARED, -1, 0, ndim, shape);

    assert_non_null(p);
    mtl_test_fill_uniform(p, rng, 1.0);
    return p;
}

/* sum(y * r) in double, from a forward pass without taping. */
static double loss_value(mtl_graph *g, mtl_test_build_fn build, void *ctx, const float *r,
                         int64_t n)
{
    mtl_tensor *y;
    const float *v;
    double acc = 0.0;

    mtl_graph_reset(g);
    mtl_graph_set_recording(g, 0);
    y = build(g, ctx);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_int_equal(mtl_tensor_numel(y), n);
    v = mtl_tensor_data(y);
    for (int64_t i = 0; i < n; i++)
        acc += (double)v[i] * (double)r[i];
    return acc;
}

/*
 * The analytic gradients of sum(y * r), copied out of the model; r and n are
 * set.
 */
static float **analytic_grads(mtl_graph *g, mtl_model *m, mtl_test_build_fn build, void *ctx,
                              float **r, int64_t *n)
{
    size_t np = mtl_model_n_params(m);
    float **grads = calloc(np, sizeof *grads);
    int64_t shape[MTL_MAX_DIMS];
    mtl_tensor *y, *rt, *loss;
    mtl_rng rng;
    float one = 1.0f;

    assert_non_null(grads);
    mtl_graph_reset(g);
    mtl_model_zero_grad(m);
    y = build(g, ctx);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_non_null(y);
    *n = mtl_tensor_numel(y);
    for (int d = 0; d < mtl_tensor_ndim(y); d++)
        shape[d] = mtl_tensor_dim(y, d);
    rt = mtl_graph_input(g, mtl_tensor_ndim(y), shape);
    assert_non_null(rt);
    mtl_rng_seed(&rng, 99, 1);
    mtl_test_fill_uniform(rt, &rng, 1.0);
    *r = malloc((size_t)*n * sizeof **r);
    assert_non_null(*r);
    memcpy(*r, mtl_tensor_data(rt), (size_t)*n * sizeof **r);
    loss = mtl_sum(g, mtl_mul(g, y, rt));
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);

    for (size_t i = 0; i < np; i++) {
        mtl_tensor *p = mtl_model_param_at(m, i);
        int64_t pn = mtl_tensor_numel(p);

        grads[i] = malloc((size_t)pn * sizeof *grads[i]);
        assert_non_null(grads[i]);
        memcpy(grads[i], mtl_tensor_grad(p), (size_t)pn * sizeof *grads[i]);
    }
    return grads;
}

double mtl_test_gradcheck(const char *label, mtl_model *m, mtl_test_build_fn build, void *ctx,
                          double h, double tol)
{
    size_t np = mtl_model_n_params(m);
    mtl_graph *g;
    float **grads, *r;
    int64_t n;
    double worst = 0.0;
    mtl_param_info info;

    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    grads = analytic_grads(g, m, build, ctx, &r, &n);

    for (size_t i = 0; i < np; i++) {
        mtl_tensor *p = mtl_model_param_at(m, i);
        float *v = mtl_tensor_data(p);

        assert_int_equal(mtl_param_get_info(p, &info), MTL_OK);
        for (int64_t k = 0; k < mtl_tensor_numel(p); k++) {
            float saved = v[k];
            float up = (float)(saved + h), down = (float)(saved - h);
            double plus, minus, fd, an = grads[i][k], err;

            /* The step actually taken is the float32 one. */
            v[k] = up;
            plus = loss_value(g, build, ctx, r, n);
            v[k] = down;
            minus = loss_value(g, build, ctx, r, n);
            v[k] = saved;
            fd = (plus - minus) / ((double)up - (double)down);
            err = fabs(fd - an) / fmax(1.0, fabs(an));
            if (!(err <= worst))
                worst = err;
            if (!(err <= tol))
                fail_msg("%s: d/d %s[%lld]: finite difference %.6g, backward %.6g", label,
                         info.name, (long long)k, fd, an);
        }
        free(grads[i]);
    }
    print_message("  %-30s max FD error %.2e (tolerance %.0e)\n", label, worst, tol);
    free(grads);
    free(r);
    mtl_graph_destroy(g);
    return worst;
}

/* ---- set-up ---------------------------------------------------------------- */

void mtl_test_model_open(mtl_model **m, mtl_rng *rng, uint64_t seed)
{
    assert_int_equal(mtl_model_create(m), MTL_OK);
    mtl_rng_seed(rng, seed, 0);
}

int mtl_test_env_setup(void **state)
{
    mtl_test_env *e = calloc(1, sizeof *e);

    if (!e || mtl_graph_create(&e->g) != MTL_OK || mtl_model_create(&e->m) != MTL_OK)
        return -1;
    mtl_rng_seed(&e->rng, 5, 0);
    *state = e;
    return 0;
}

int mtl_test_env_teardown(void **state)
{
    mtl_test_env *e = *state;

    mtl_model_destroy(e->m);
    mtl_graph_destroy(e->g);
    free(e);
    return 0;
}
