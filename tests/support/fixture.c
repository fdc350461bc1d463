/* Fixture files for the op and layer tests (fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* ---- fixtures ---------------------------------------------------------- */

/*
 * Reads the next "tensor NAME NDIM D0 ..." line into t; 0 at the end of the
 * file.
 */
static int next_header(FILE *f, mtl_test_ftensor *t)
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

mtl_test_fixture *mtl_test_fixture_load(const char *dir, const char *file)
{
    char path[1024];
    mtl_test_fixture *fx = calloc(1, sizeof *fx);
    mtl_test_ftensor t = {0};
    FILE *f;

    assert_non_null(fx);
    snprintf(path, sizeof path, "%s/%s", dir, file);
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

void mtl_test_fixture_free(mtl_test_fixture *fx)
{
    if (!fx)
        return;
    for (int i = 0; i < fx->n; i++)
        free(fx->tensors[i].values);
    free(fx->tensors);
    free(fx);
}

const mtl_test_ftensor *mtl_test_fixture_get(const mtl_test_fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->tensors[i].name, name) == 0)
            return &fx->tensors[i];
    fail_msg("fixture: no tensor '%s'", name);
    return NULL;
}

double mtl_test_fixture_scalar(const mtl_test_fixture *fx, const char *name)
{
    const mtl_test_ftensor *t = mtl_test_fixture_get(fx, name);

    assert_int_equal(t->numel, 1);
    return t->values[0];
}

void mtl_test_fill(mtl_tensor *t, const mtl_test_ftensor *ft)
{
    float *v = malloc((size_t)ft->numel * sizeof *v);

    assert_non_null(v);
    assert_int_equal(mtl_tensor_numel(t), ft->numel);
    for (int64_t i = 0; i < ft->numel; i++)
        v[i] = (float)ft->values[i];
    assert_int_equal(mtl_tensor_write(t, v, (size_t)ft->numel), MTL_OK);
    free(v);
}

mtl_tensor *mtl_test_input(mtl_graph *g, const mtl_test_fixture *fx, const char *name)
{
    const mtl_test_ftensor *ft = mtl_test_fixture_get(fx, name);
    mtl_tensor *t = mtl_graph_input(g, ft->ndim, ft->shape);

    assert_non_null(t);
    mtl_test_fill(t, ft);
    return t;
}

mtl_tensor *mtl_test_input_grad(mtl_graph *g, const mtl_test_fixture *fx, const char *name)
{
    mtl_tensor *t = mtl_test_input(g, fx, name);

    mtl_graph_retain_grad(g, t);
    return t;
}

mtl_tensor *mtl_test_model_param(mtl_model *m, const char *name)
{
    mtl_param_info info;

    for (size_t i = 0; i < mtl_model_n_params(m); i++) {
        mtl_tensor *p = mtl_model_param_at(m, i);
        assert_int_equal(mtl_param_get_info(p, &info), MTL_OK);
        if (strcmp(info.name, name) == 0)
            return p;
    }
    fail_msg("model: no parameter '%s'", name);
    return NULL;
}

void mtl_test_set_param(mtl_model *m, const char *prefix, const mtl_test_fixture *fx,
                        const char *name)
{
    char full[256];
    const mtl_test_ftensor *ft = mtl_test_fixture_get(fx, name);
    mtl_tensor *p;

    snprintf(full, sizeof full, "%s%s", prefix, name);
    p = mtl_test_model_param(m, full);
    assert_int_equal(mtl_tensor_ndim(p), ft->ndim);
    for (int d = 0; d < ft->ndim; d++)
        assert_int_equal(mtl_tensor_dim(p, d), ft->shape[d]);
    mtl_test_fill(p, ft);
}

double mtl_test_compare(const char *label, const float *got, const mtl_test_ftensor *ref)
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

void mtl_test_backprop(mtl_graph *g, mtl_tensor *y, const mtl_test_fixture *fx, const char *dy_name)
{
    mtl_tensor *dy = mtl_test_input(g, fx, dy_name);
    mtl_tensor *loss = mtl_sum(g, mtl_mul(g, y, dy));
    float one = 1.0f;

    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_int_equal(mtl_graph_backward(g, 1, &loss, &one), MTL_OK);
}
