/*
 * tests/methods/harness.h - drives a method plugin the way the host does
 * (plan, then weigh with the Gram matrix only when the plan asks for it),
 * from task gradients given as the rows of J.
 */
#ifndef MTL_TESTS_METHODS_HARNESS_H
#define MTL_TESTS_METHODS_HARNESS_H

#include <stdint.h>

#include "test_host.h"

#define MH_MAX_K 64
#define MH_MAX_D 256

typedef struct mh_method {
    const mtl_method_plugin *plugin;
    mtl_test_host th;
    void *self;
    mtl_method_info info;
    int k;
    mtl_method_plan plan;
    mtl_method_output out;
    double shared[MH_MAX_K];
    double head[MH_MAX_K];
    double weights[MH_MAX_K];
    float params[MH_MAX_K];
    float param_grads[MH_MAX_K];
    int no_report; /* pass out.weights = NULL, as a host that logs no weights */
} mh_method;

/* The method plugins, in the order of plugins/CMakeLists.txt. */
extern const char *const mh_method_names[];
extern const int mh_n_methods;

/* Creates `name` for k tasks; returns create()'s status (m is usable on MTL_OK). */
mtl_status mh_try_open(mh_method *m, const char *name, int k, const char *const *overrides,
                       uint64_t seed);

/* As mh_try_open, failing the test when create() fails. */
void mh_open(mh_method *m, const char *name, int k, const char *const *overrides, uint64_t seed);
void mh_close(mh_method *m);

/* M = J J^T for J of k rows and d columns. */
void mh_gram(const double *J, int k, int d, double *M);

/* u = J^T c: the shared update of coefficients c. */
void mh_update(const double *J, int k, int d, const double *c, double *u);

/*
 * One step: plan, then weigh with `gram` when the plan asks for it (failing
 * the test when gram is NULL then).  Returns weigh's status; the outputs
 * are in m->shared, m->head, m->weights, m->out.
 */
mtl_status mh_step(mh_method *m, int64_t step, const double *losses, const double *gram);

/* As mh_step, failing the test unless it returns MTL_OK. */
void mh_step_ok(mh_method *m, int64_t step, const double *losses, const double *gram);

/* Fills J (k x d) with seeded standard normal entries. */
void mh_random_matrix(mtl_rng *rng, double *J, int k, int d);

/* Fails the test unless |a - b| <= tol * max(1, |b|). */
void mh_assert_close(double a, double b, double tol, const char *what);

#endif /* MTL_TESTS_METHODS_HARNESS_H */
