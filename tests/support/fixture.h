/*
 * Test support: the fixture files written by tools/make_*_fixtures.py (blocks
 * of "tensor NAME NDIM D0 ..." followed by the values), tensors and model
 * parameters filled from them, and comparisons against them.
 */
#ifndef MTL_TEST_FIXTURE_H
#define MTL_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/mtl.h"

typedef struct mtl_test_ftensor {
    char name[64];
    int ndim;
    int64_t shape[MTL_MAX_DIMS];
    int64_t numel;
    double *values;
} mtl_test_ftensor;

typedef struct mtl_test_fixture {
    mtl_test_ftensor *tensors;
    int n;
} mtl_test_fixture;

/* Loads <dir>/<file>; fails the test when it cannot. */
mtl_test_fixture *mtl_test_fixture_load(const char *dir, const char *file);
void mtl_test_fixture_free(mtl_test_fixture *fx);
/* The tensor called name; fails the test when there is none. */
const mtl_test_ftensor *mtl_test_fixture_get(const mtl_test_fixture *fx, const char *name);
/* The single value of a one-element fixture tensor. */
double mtl_test_fixture_scalar(const mtl_test_fixture *fx, const char *name);

/* Copies the fixture tensor into t (same element count). */
void mtl_test_fill(mtl_tensor *t, const mtl_test_ftensor *ft);
/* A graph input with the fixture's shape and values. */
mtl_tensor *mtl_test_input(mtl_graph *g, const mtl_test_fixture *fx, const char *name);
/* The same, with its gradient retained by backward passes. */
mtl_tensor *mtl_test_input_grad(mtl_graph *g, const mtl_test_fixture *fx, const char *name);

/* The parameter of that name in the model; fails the test when missing. */
mtl_tensor *mtl_test_model_param(mtl_model *m, const char *name);
/* Copies the fixture tensor `name` into the model parameter prefix + name (shapes must agree). */
void mtl_test_set_param(mtl_model *m, const char *prefix, const mtl_test_fixture *fx,
                        const char *name);

/*
 * The largest |got - ref| / (1 + |ref|) over the elements, after checking
 * the element count; prints it with `label`.  NaN compares as the worst.
 */
double mtl_test_compare(const char *label, const float *got, const mtl_test_ftensor *ref);

/* Backpropagates sum(y * dy) with dy from the fixture. */
void mtl_test_backprop(mtl_graph *g, mtl_tensor *y, const mtl_test_fixture *fx,
                       const char *dy_name);

#endif /* MTL_TEST_FIXTURE_H */
