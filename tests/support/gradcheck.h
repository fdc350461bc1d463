/*
 * Test support for op and layer tests: a finite-difference gradient check
 * over every parameter of a model, seeded random fills, and the graph, model
 * and rng that error-path tests set up around each test.
 */
#ifndef MTL_TEST_GRADCHECK_H
#define MTL_TEST_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/mtl.h"

/*
 * Builds the op under test in g from the parameters of the model; returns its
 * output.
 */
typedef mtl_tensor *(*mtl_test_build_fn)(mtl_graph *g, void *ctx);

/*
 * Checks the gradients of L = sum(y * r), r a seeded random cotangent in
 * [-1, 1), with respect to every parameter of m, against central
 * differences of step h (L evaluated in double from the float32 y).  An
 * element passes when |fd - analytic| <= tol * max(1, |analytic|).
 * Returns the largest such ratio and prints it with `label`.
 */
double mtl_test_gradcheck(const char *label, mtl_model *m, mtl_test_build_fn build, void *ctx,
                          double h, double tol);

/* Fills t with values uniform in [-scale, scale) from rng. */
void mtl_test_fill_uniform(mtl_tensor *t, mtl_rng *rng, double scale);

/*
 * A shared parameter of the given shape (ndim <= MTL_MAX_DIMS), filled
 * uniform in [-1, 1).
 */
mtl_tensor *mtl_test_new_param(mtl_model *m, const char *name, int ndim, const int64_t *shape,
                               mtl_rng *rng);

/* Creates *m (failing the test when it cannot) and seeds rng with (seed, 0). */
void mtl_test_model_open(mtl_model **m, mtl_rng *rng, uint64_t seed);

/* A graph, a model and an rng seeded with (5, 0), for cmocka's setup/teardown. */
typedef struct mtl_test_env {
    mtl_graph *g;
    mtl_model *m;
    mtl_rng rng;
} mtl_test_env;

/* cmocka group or test setup: *state becomes a new mtl_test_env. */
int mtl_test_env_setup(void **state);
/* Destroys what mtl_test_env_setup made. */
int mtl_test_env_teardown(void **state);

#endif /* MTL_TEST_GRADCHECK_H */
