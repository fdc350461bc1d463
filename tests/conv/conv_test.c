/* Helpers of the convolutional tests (conv_test.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test.h"

/* ---- fixtures ---------------------------------------------------------- */

/*
 * Reads the next "tensor NAME NDIM D0 ..." line into t; 0 at the end of the
 * file.
 */
static int next_header(FILE *f, ct_tensor *t)
{
    char line[512];

    while (fgets(line, sizeof line, f)) {
        int used = 0;

        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(line, "tensor %63s %d%n", t->name, &t->ndim, &used) != 2)
            fail_msg("fixture: not a tensor header: %s", line);
        assert_true(t->ndim >= 0 && t->ndim <= MTL_MAX_DIMS);
        t->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            long long dim;
            int more = 0;

            if (sscanf(line + used, "%lld%n", &dim, &more) != 1)
                fail_msg("fixture: %s: dimension %d missing", t->name, d);
            used += more;
            t->shape[d] = dim;
            t->numel *= dim;
        }
        return 1;
    }
    return 0;
}

ct_fixture *ct_fixture_load(const char *file)
{
    char path[1024];
    ct_fixture *fx = calloc(1, sizeof *fx);
    ct_tensor t = {0};
    FILE *f;

    assert_non_null(fx);
    snprintf(path, sizeof path, "%s/%s", MTL_CONV_FIXTURE_DIR, file);
    f = fopen(path, "r");
    if (!f)
        fail_msg("fixture: cannot open %s", path);
    while (next_header(f, &t)) {
        t.values = malloc((size_t)(t.numel > 0 ? t.numel : 1) * sizeof *t.values);
        assert_non_null(t.values);
        for (int64_t i = 0; i < t.numel; i++)
            if (fscanf(f, "%lf", &t.values[i]) != 1)
                fail_msg("fixture: %s: %s: value %lld missing", file, t.name, (long long)i);
        fx->tensors = realloc(fx->tensors, (size_t)(fx->n + 1) * sizeof *fx->tensors);
        assert_non_null(fx->tensors);
        fx->tensors[fx->n++] = t;
        memset(&t, 0, sizeof t);
    }
    fclose(f);
    assert_true(fx->n > 0);
    return fx;
}

void ct_fixture_free(ct_fixture *fx)
{
    if (!fx)
        return;
    for (int i = 0; i < fx->n; i++)
        free(fx->tensors[i].values);
    free(fx->tensors);
    free(fx);
}

const ct_tensor *ct_get(const ct_fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->tensors[i].name, name) == 0)
            return &fx->tensors[i];
    fail_msg("fixture: no tensor '%s'", name);
    return NULL;
}

double ct_scalar(const ct_fixture *fx, const char *name)
{
    const ct_tensor *t = ct_get(fx, name);

    assert_int_equal(t->numel, 1);
    return t->values[0];
}

void ct_fill(mtl_tensor *t, const ct_tensor *ft)
{
    float *v = malloc((size_t)ft->numel * sizeof *v);

    assert_non_null(v);
    assert_int_equal(mtl_tensor_numel(t), ft->numel);
    for (int64_t i = 0; i < ft->numel; i++)
        v[i] = (float)ft->values[i];
    assert_int_equal(mtl_tensor_write(t, v, (size_t)ft->numel), MTL_OK);
    free(v);
}

mtl_tensor *ct_input(mtl_graph *g, const ct_fixture *fx, const char *name)
{
    const ct_tensor *ft = ct_get(fx, name);
    mtl_tensor *t = mtl_graph_input(g, ft->ndim, ft->shape);

    assert_non_null(t);
    ct_fill(t, ft);
    return t;
}

mtl_tensor *ct_input_grad(mtl_graph *g, const ct_fixture *fx, const char *name)
{
    mtl_tensor *t = ct_input(g, fx, name);

    mtl_graph_retain_grad(g, t);
    return t;
}

double ct_compare(const char *label, const float *got, const ct_tensor *ref)
{
    double worst = 0.0;

    assert_non_null(got);
    for (int64_t i = 0; i < ref->numel; i++) {
        double dev = fabs((double)got[i] - ref->values[i]) / (1.0 + fabs(ref->values[i]));
        if (!(dev <= worst))
            worst = dev; /* NaN stays the worst */
    }
    print_message("  %-30s max deviation %.2e (%lld values)\n", label, worst,
                  (long long)ref->numel);
    return worst;
}

void ct_backprop(mtl_graph *g, mtl_tensor *y, const ct_fixture *fx, const char *dy_name)
{
    mtl_tensor *dy = ct_input(g, fx, dy_name);
    mtl_tensor *loss = mtl_sum(g, mtl_mul(g, y, dy));
    float one = 1.0f;

    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
}

/* ---- finite differences -------------------------------------------------- */

void ct_fill_uniform(mtl_tensor *t, mtl_rng *rng, double scale)
{
    int64_t n = mtl_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);

    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((2.0 * mtl_rng_uniform(rng) - 1.0) * scale);
    assert_int_equal(mtl_tensor_write(t, v, (size_t)n), MTL_OK);
    free(v);
}

void ct_fill_spread(mtl_tensor *t, mtl_rng *rng, double offset, double spacing)
{
    int64_t n = mtl_tensor_numel(t);
    int64_t *order = malloc((size_t)n * sizeof *order);
    float *v = malloc((size_t)n * sizeof *v);

    assert_non_null(order);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    mtl_rng_shuffle(rng, order, (size_t)n);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(offset + spacing * (double)order[i]);
    assert_int_equal(mtl_tensor_write(t, v, (size_t)n), MTL_OK);
    free(v);
    free(order);
}

mtl_tensor *ct_new_param(mtl_model *m, const char *name, int ndim, const int64_t *shape,
                         mtl_rng *rng)
{
    mtl_tensor *p = mtl_model_param(m, name, MTL_ROLE_SHARED, -1, 0, ndim, shape);

    assert_non_null(p);
    ct_fill_uniform(p, rng, 1.0);
    return p;
}

/* sum(y * r) in double, from a forward pass without taping. */
static double loss_value(mtl_graph *g, ct_build_fn build, void *ctx, const float *r, int64_t n)
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
static float **analytic_grads(mtl_graph *g, mtl_model *m, ct_build_fn build, void *ctx, float **r,
                              int64_t *n)
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
    ct_fill_uniform(rt, &rng, 1.0);
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

double ct_gradcheck(const char *label, mtl_model *m, ct_build_fn build, void *ctx, double h,
                    double tol)
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
