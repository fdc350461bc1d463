/*
 * Helpers of the graph-network tests: the fixture files written by
 * tools/make_gnn_fixtures.py, tensors filled from them, comparisons, and a
 * finite-difference gradient check.
 */
#ifndef MTL_GNN_TEST_H
#define MTL_GNN_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/mtl.h"

#ifndef MTL_GNN_FIXTURE_DIR
#error "MTL_GNN_FIXTURE_DIR must be defined"
#endif

/* ---- fixtures ---------------------------------------------------------- */

typedef struct gnn_ftensor {
    char name[64];
    int ndim;
    int64_t shape[MTL_MAX_DIMS];
    int64_t numel;
    double *values;
} gnn_ftensor;

typedef struct gnn_fixture {
    gnn_ftensor *tensors;
    int n;
} gnn_fixture;

/* Loads tests/gnn/fixtures/<file>; fails the test when it cannot. */
gnn_fixture *gnn_fixture_load(const char *file);
void gnn_fixture_free(gnn_fixture *fx);
/* The tensor called name; fails the test when there is none. */
const gnn_ftensor *gnn_fixture_get(const gnn_fixture *fx, const char *name);

/* A graph input with the fixture's shape and values. */
mtl_tensor *gnn_input(mtl_graph *g, const gnn_fixture *fx, const char *name);
/* An index from a fixture tensor of integral values, over `range`. */
mtl_index *gnn_index(mtl_graph *g, const gnn_fixture *fx, const char *name, int64_t range);
/* Copies the fixture tensor `name` into the model parameter prefix + name (shapes must agree). */
void gnn_set_param(mtl_model *m, const char *prefix, const gnn_fixture *fx, const char *name);
/* The parameter of that name in the model; fails the test when missing. */
mtl_tensor *gnn_param(mtl_model *m, const char *name);

/*
 * The largest |got - ref| / (1 + |ref|) over the elements, after checking
 * the element count; prints it with `label`.
 */
double gnn_compare(const char *label, const float *got, const gnn_ftensor *ref);

/* Backpropagates sum(y * dy) with dy from the fixture. */
void gnn_backprop(mtl_graph *g, mtl_tensor *y, const gnn_fixture *fx, const char *dy_name);

/* ---- finite differences -------------------------------------------------- */

/* Builds the op under test in g from the parameters of the model; returns its output. */
typedef mtl_tensor *(*gnn_build_fn)(mtl_graph *g, void *ctx);

/*
 * Checks the gradients of L = sum(y * r), r a seeded random cotangent, with
 * respect to every parameter of m, against central differences of step h
 * (L evaluated in double from the float32 y).  An element passes when
 * |fd - analytic| <= tol * max(1, |analytic|).  Returns the largest such
 * ratio |fd - analytic| / max(1, |analytic|) and prints it with `label`.
 */
double gnn_gradcheck(const char *label, mtl_model *m, gnn_build_fn build, void *ctx, double h,
                     double tol);

/* Fills a parameter with values uniform in [-scale, scale) (seeded by the rng). */
void gnn_fill_uniform(mtl_tensor *t, mtl_rng *rng, double scale);

/* A parameter of the given shape, filled uniform in [-1, 1). */
mtl_tensor *gnn_new_param(mtl_model *m, const char *name, int64_t d0, int64_t d1, mtl_rng *rng);

#endif /* MTL_GNN_TEST_H */
