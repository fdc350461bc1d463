/* tests/methods/harness.c - see harness.h. */
#include "harness.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

const char *const mh_method_names[] = {"ls",   "scaleinvls", "stl",    "uw",     "rlw",    "dwa",
                                       "mgda", "imtl",       "pcgrad", "cagrad", "nashmtl"};
const int mh_n_methods = (int)(sizeof mh_method_names / sizeof mh_method_names[0]);

mtl_status mh_try_open(mh_method *m, const char *name, int k, const char *const *overrides,
                       uint64_t seed)
{
    mtl_status st;

    memset(m, 0, sizeof *m);
    assert_true(k >= 1 && k <= MH_MAX_K);
    m->plugin = mtl_test_load_method(name);
    m->k = k;
    mtl_test_host_init(&m->th, m->plugin->options, m->plugin->n_options, overrides, seed);
    mtl_error_clear();
    st = m->plugin->create(&m->th.host, k, &m->self, &m->info);
    if (st != MTL_OK)
        return st;
    assert_true(m->info.n_params == 0 || m->info.n_params == (size_t)k);
    for (size_t p = 0; p < m->info.n_params; p++)
        m->params[p] = m->info.param_init[p];
    return MTL_OK;
}

void mh_open(mh_method *m, const char *name, int k, const char *const *overrides, uint64_t seed)
{
    mtl_status st = mh_try_open(m, name, k, overrides, seed);

    if (st != MTL_OK)
        fail_msg("%s: create failed: %s", name, mtl_error_message());
}

void mh_close(mh_method *m)
{
    if (m->self)
        m->plugin->destroy(m->self);
    m->self = NULL;
}

void mh_gram(const double *J, int k, int d, double *M)
{
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            double s = 0.0;
            for (int p = 0; p < d; p++)
                s += J[i * d + p] * J[j * d + p];
            M[i * k + j] = s;
        }
}

void mh_update(const double *J, int k, int d, const double *c, double *u)
{
    for (int p = 0; p < d; p++) {
        u[p] = 0.0;
        for (int i = 0; i < k; i++)
            u[p] += c[i] * J[i * d + p];
    }
}

mtl_status mh_step(mh_method *m, int64_t step, const double *losses, const double *gram)
{
    mtl_method_input in;
    mtl_status st;

    memset(&m->plan, 0, sizeof m->plan);
    assert_int_equal(m->plugin->plan(m->self, step, &m->plan), MTL_OK);
    assert_true(m->plan.need == MTL_NEED_LOSSES || m->plan.need == MTL_NEED_GRAM);
    if (m->plan.need == MTL_NEED_GRAM && !gram)
        fail_msg("%s: step %lld asks for the Gram matrix", m->plugin->name, (long long)step);

    memset(&in, 0, sizeof in);
    in.step = step;
    in.n_tasks = m->k;
    in.losses = losses;
    in.gram = m->plan.need == MTL_NEED_GRAM ? gram : NULL;
    in.params = m->info.n_params ? m->params : NULL;

    memset(&m->out, 0, sizeof m->out);
    memset(m->shared, 0, sizeof m->shared);
    memset(m->head, 0, sizeof m->head);
    memset(m->weights, 0, sizeof m->weights);
    memset(m->param_grads, 0, sizeof m->param_grads);
    m->out.shared_weights = m->shared;
    m->out.head_weights = m->head;
    m->out.weights = m->no_report ? NULL : m->weights;
    m->out.param_grads = m->param_grads;
    mtl_error_clear();
    st = m->plugin->weigh(m->self, &in, &m->out);
    if (st != MTL_OK)
        return st;

    /* The contract every method keeps. */
    for (int i = 0; i < m->k; i++) {
        assert_true(isfinite(m->shared[i]));
        assert_true(isfinite(m->head[i]));
        assert_true(isfinite(m->weights[i]));
        if (m->plan.need == MTL_NEED_LOSSES)
            assert_true(m->shared[i] == m->head[i]);
    }
    assert_true(isfinite(m->out.loss));
    assert_true(isfinite(m->out.max_norm) && m->out.max_norm >= 0.0);
    if (m->out.solve_failed)
        assert_non_null(m->out.warning);
    return MTL_OK;
}

void mh_step_ok(mh_method *m, int64_t step, const double *losses, const double *gram)
{
    mtl_status st = mh_step(m, step, losses, gram);

    if (st != MTL_OK)
        fail_msg("%s: weigh failed at step %lld: %s", m->plugin->name, (long long)step,
                 mtl_error_message());
}

void mh_random_matrix(mtl_rng *rng, double *J, int k, int d)
{
    for (int i = 0; i < k * d; i++)
        J[i] = mtl_rng_normal(rng);
}

void mh_assert_close(double a, double b, double tol, const char *what)
{
    if (!(fabs(a - b) <= tol * fmax(1.0, fabs(b))))
        fail_msg("%s: got %.12g, expected %.12g (tolerance %g)", what, a, b, tol);
}
