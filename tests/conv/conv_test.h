/*
 * Helpers of the convolutional tests: the fixture files written by
 * tools/make_conv_fixtures.py, tensors filled from them, comparisons, and a
 * finite-difference gradient check over every parameter of a model.
 */
#ifndef MTL_CONV_TEST_H
#define MTL_CONV_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/mtl.h"

#ifndef MTL_CONV_FIXTURE_DIR
#error "MTL_CONV_FIXTURE_DIR must be defined"
#endif

/* ---- fixtures ---------------------------------------------------------- */

typedef struct ct_tensor {
    char name[64];
    int ndim;
    int64_t shape[MTL_MAX_DIMS];
    int64_t numel;
    double *values;
} ct_tensor;

typedef struct ct_fixture {
    ct_tensor *tensors;
    int n;
} ct_fixture;

/* Loads tests/conv/fixtures/<file>; fails the test when it cannot. */
ct_fixture *ct_fixture_load(const char *file);
void ct_fixture_free(ct_fixture *fx);
/* The tensor called name; fails the test when there is none. */
const ct_tensor *ct_get(const ct_fixture *fx, const char *name);
/* The single value of a one-element fixture tensor. */
double ct_scalar(const ct_fixture *fx, const char *name);

/* A graph input with the fixture's shape and values. */
mtl_tensor *ct_input(mtl_graph *g, const ct_fixture *fx, const char *name);
/* The same, with its gradient retained by backward passes. */
mtl_tensor *ct_input_grad(mtl_graph *g, const ct_fixture *fx, const char *name);
/* Copies the fixture tensor into t (same element count). */
void ct_fill(mtl_tensor *t, const ct_tensor *ft);

/*
 * The largest |got - ref| / (1 + |ref|) over the elements, after checking
 * the element count; prints it with `label`.  NaN compares as the worst.
 */
double ct_compare(const char *label, const float *got, const ct_tensor *ref);

/* Backpropagates sum(y * dy) with dy from the fixture. */
void ct_backprop(mtl_graph *g, mtl_tensor *y, const ct_fixture *fx, const char *dy_name);

/* ---- finite differences -------------------------------------------------- */

/*
 * Builds the op under test in g from the parameters of the model; returns its
 * output.
 */
typedef mtl_tensor *(*ct_build_fn)(mtl_graph *g, void *ctx);

/*
 * Checks the gradients of L = sum(y * r), r a seeded random cotangent in
 * [-1, 1), with respect to every parameter of m, against central
 * differences of step h (L evaluated in double from the float32 y).  An
 * element passes when |fd - analytic| <= tol * max(1, |analytic|).
 * Returns the largest such ratio and prints it with `label`.
 */
double ct_gradcheck(const char *label, mtl_model *m, ct_build_fn build, void *ctx, double h,
                    double tol);

/* Fills t with values uniform in [-scale, scale) from rng. */
void ct_fill_uniform(mtl_tensor *t, mtl_rng *rng, double scale);

/*
 * Fills t with a random permutation of the values offset + spacing * i, so
 * that every two values differ by at least `spacing` (no ties, no kinks
 * within reach of a finite-difference step smaller than spacing / 2).
 */
void ct_fill_spread(mtl_tensor *t, mtl_rng *rng, double offset, double spacing);

/*
 * A shared parameter of the given shape (ndim <= 4), filled uniform in [-1, 1).
 */
mtl_tensor *ct_new_param(mtl_model *m, const char *name, int ndim, const int64_t *shape,
                         mtl_rng *rng);

#endif /* MTL_CONV_TEST_H */
