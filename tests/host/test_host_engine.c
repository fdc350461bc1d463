/*
 * The gradient engine, the training loop, Delta_m, the schedules and the
 * configuration getters, in-process, with the fixture task (fx_linear.c)
 * and method (fx_weights.c) compiled in.  fx_linear's gradients are known in
 * closed form; everything is compared against them, computed here in double.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "run.h"
#include "sched.h"
#include "services.h"
#include "text.h"
#include "train.h"

#include "fx_linear.c"
#include "fx_weights.c"

/* ---- a task, a method and an engine, set up as the host does ----------- */

typedef struct rig {
    host_config cfg;
    host_env env;
    host_task_slot task;
    host_method_slot method;
    host_engine *engine;
    mtl_graph *g;
    fx_linear *fx;
    mtl_tensor *losses[FX_MAX_TASKS];
    mtl_task_output out;
    int64_t step;
} rig;

static void rig_open(rig *r, const char *const *sets)
{
    const mtl_task_plugin *tp = mtl_task_entry();
    const mtl_method_plugin *mp = mtl_method_entry();
    host_engine_config ec;
    int64_t n;

    memset(r, 0, sizeof *r);
    assert_int_equal(host_config_init(&r->cfg, mp->name, mp->options, mp->n_options, tp->name,
                                      tp->options, tp->n_options),
                     MTL_OK);
    assert_int_equal(host_config_apply_defaults(&r->cfg, tp->defaults, "fx_linear defaults"),
                     MTL_OK);
    for (size_t i = 0; sets && sets[i]; i++)
        assert_int_equal(host_config_assign(&r->cfg, sets[i], "--set"), MTL_OK);
    r->env = (host_env){&r->cfg, 42, NULL, "."};
    assert_int_equal(host_task_open(&r->task, tp, &r->env), MTL_OK);
    assert_int_equal(host_method_open(&r->method, mp, &r->env, 0, r->task.info.n_tasks), MTL_OK);
    r->fx = r->task.self;
    assert_int_equal(tp->trial_begin(r->fx, 0), MTL_OK);
    assert_int_equal(tp->epoch_begin(r->fx, MTL_SPLIT_TRAIN, 0, &n), MTL_OK);
    ec = (host_engine_config){r->task.info.model,
                              r->task.info.n_tasks,
                              r->task.info.task_names,
                              mp,
                              r->method.self,
                              &r->method.info,
                              0.05,
                              0};
    assert_int_equal(host_engine_create(&r->engine, &ec), MTL_OK);
    assert_int_equal(mtl_graph_create(&r->g), MTL_OK);
}

static void rig_close(rig *r)
{
    mtl_graph_destroy(r->g);
    host_engine_destroy(r->engine);
    host_method_close(&r->method);
    host_task_close(&r->task);
    host_config_deinit(&r->cfg);
}

/* Forward of training batch `batch` of the epoch rig_open began, then the engine. */
static mtl_status rig_step(rig *r, int64_t batch, host_step *res)
{
    mtl_graph_reset(r->g);
    r->out = (mtl_task_output){r->losses, NULL};
    assert_int_equal(fx_linear_forward(r->fx, MTL_SPLIT_TRAIN, batch, 1, r->g, &r->out), MTL_OK);
    return host_engine_gradients(r->engine, r->g, &r->out, r->step, res);
}

/* ---- the closed form -------------------------------------------------- */

typedef struct closed {
    int k, d;
    double dw[FX_MAX_TASKS][FX_MAX_DIM], db[FX_MAX_TASKS][FX_MAX_DIM], dz[FX_MAX_TASKS][FX_MAX_DIM];
    double da[FX_MAX_TASKS];
} closed;

/* Per-task gradients of batch `batch` at the current parameters. */
static void closed_form(const rig *r, int64_t batch, closed *c)
{
    const fx_linear *s = r->fx;
    const float *x = s->x[fx_row(s, MTL_SPLIT_TRAIN, batch)];
    const float *w = mtl_tensor_data(s->w), *b = mtl_tensor_data(s->b);
    double z[FX_MAX_DIM];

    c->k = s->k;
    c->d = s->d;
    for (int j = 0; j < s->d; j++)
        z[j] = (double)b[j] * w[j] * x[j];
    for (int i = 0; i < s->k; i++) {
        double si = 0, a = mtl_tensor_data(s->a[i])[0], res;
        for (int j = 0; j < s->d; j++)
            si += z[j] * s->v[i][j];
        res = a * si - s->y[i];
        c->da[i] = res * si;
        for (int j = 0; j < s->d; j++) {
            c->dz[i][j] = res * a * s->v[i][j];
            c->db[i][j] = c->dz[i][j] * w[j] * x[j];
            c->dw[i][j] = c->dz[i][j] * b[j] * x[j];
        }
    }
}

static double dot(const double *a, const double *b, int n)
{
    double acc = 0;

    for (int j = 0; j < n; j++)
        acc += a[j] * b[j];
    return acc;
}

static void expect_close(double got, double want, double rel)
{
    if (fabs(got - want) > rel * fmax(1.0, fabs(want)))
        fail_msg("got %.9g, expected %.9g (relative tolerance %g)", got, want, rel);
}

static void expect_gram(const closed *c, mtl_grad_source source)
{
    for (int i = 0; i < c->k; i++) {
        for (int j = 0; j < c->k; j++) {
            double want = source == MTL_GRADS_REP ? dot(c->dz[i], c->dz[j], c->d)
                          : source == MTL_GRADS_LAST
                              ? dot(c->db[i], c->db[j], c->d)
                              : dot(c->dw[i], c->dw[j], c->d) + dot(c->db[i], c->db[j], c->d);
            expect_close(fx_weights_record.gram[i * c->k + j], want, 1e-5);
        }
    }
}

/* Shared gradient = sum_i c_i g_i (times `scale`), head i = h_i * its gradient. */
static void expect_update(const rig *r, const closed *c, const double *cw, const double *hw,
                          double scale)
{
    const float *gw = mtl_tensor_grad(r->fx->w), *gb = mtl_tensor_grad(r->fx->b);

    for (int j = 0; j < c->d; j++) {
        double want_w = 0, want_b = 0;
        for (int i = 0; i < c->k; i++) {
            want_w += cw[i] * c->dw[i][j];
            want_b += cw[i] * c->db[i][j];
        }
        expect_close(gw[j], scale * want_w, 1e-5);
        expect_close(gb[j], scale * want_b, 1e-5);
    }
    for (int i = 0; i < c->k; i++)
        expect_close(mtl_tensor_grad(r->fx->a[i])[0], hw[i] * c->da[i], 1e-5);
}

/* ---- the engine ------------------------------------------------------- */

static const double c_w[2] = {0.5, 2.0}, h_w[2] = {3.0, -1.0};

static void test_gram_shared(void **state)
{
    const char *sets[] = {"method.weights=0.5,2", "method.heads=3,-1", NULL};
    host_step res;
    closed c;
    rig r;

    (void)state;
    rig_open(&r, sets);
    closed_form(&r, 1, &c);
    assert_int_equal(rig_step(&r, 1, &res), MTL_OK);
    assert_false(res.skipped);
    assert_true(res.used_gram);
    assert_true(fx_weights_record.had_gram);
    expect_gram(&c, MTL_GRADS_SHARED);
    expect_update(&r, &c, c_w, h_w, 1.0);
    rig_close(&r);
}

static void test_gram_last_and_rep(void **state)
{
    const char *last[] = {"method.source=last", "method.weights=0.5,2", "method.heads=3,-1", NULL};
    const char *rep[] = {"method.source=rep", "method.weights=0.5,2", "method.heads=3,-1", NULL};
    host_step res;
    closed c;
    rig r;

    (void)state;
    rig_open(&r, last);
    closed_form(&r, 2, &c);
    assert_int_equal(rig_step(&r, 2, &res), MTL_OK);
    expect_gram(&c, MTL_GRADS_LAST);
    expect_update(&r, &c, c_w, h_w, 1.0);
    rig_close(&r);

    rig_open(&r, rep);
    closed_form(&r, 2, &c);
    assert_int_equal(rig_step(&r, 2, &res), MTL_OK);
    expect_gram(&c, MTL_GRADS_REP);
    expect_update(&r, &c, c_w, h_w, 1.0);
    rig_close(&r);
}

static void test_three_tasks(void **state)
{
    const char *sets[] = {"task.n_tasks=3", "task.dim=5", "method.weights=1,0.25,4",
                          "method.heads=0,1,2", NULL};
    const double c3[3] = {1, 0.25, 4}, h3[3] = {0, 1, 2};
    host_step res;
    closed c;
    rig r;

    (void)state;
    rig_open(&r, sets);
    closed_form(&r, 0, &c);
    assert_int_equal(rig_step(&r, 0, &res), MTL_OK);
    expect_gram(&c, MTL_GRADS_SHARED);
    expect_update(&r, &c, c3, h3, 1.0);
    rig_close(&r);
}

static void test_clip(void **state)
{
    const char *sets[] = {"method.weights=0.5,2", "method.heads=3,-1", "method.max_norm=0.01",
                          NULL};
    host_step res;
    double norm = 0, after = 0;
    closed c;
    rig r;

    (void)state;
    rig_open(&r, sets);
    closed_form(&r, 3, &c);
    for (int j = 0; j < c.d; j++) {
        double gw = 0, gb = 0;
        for (int i = 0; i < c.k; i++) {
            gw += c_w[i] * c.dw[i][j];
            gb += c_w[i] * c.db[i][j];
        }
        norm += gw * gw + gb * gb;
    }
    norm = sqrt(norm);
    assert_true(norm > 0.01);
    assert_int_equal(rig_step(&r, 3, &res), MTL_OK);
    expect_close(res.grad_norm, norm, 1e-5);
    /* torch.nn.utils.clip_grad_norm_: scaled by max_norm / (norm + 1e-6); heads untouched */
    expect_update(&r, &c, c_w, h_w, 0.01 / (norm + 1e-6));
    for (int j = 0; j < c.d; j++)
        after += pow(mtl_tensor_grad(r.fx->w)[j], 2) + pow(mtl_tensor_grad(r.fx->b)[j], 2);
    expect_close(sqrt(after), 0.01, 1e-4);
    rig_close(&r);
}

static void test_losses_path_is_one_weighted_backward(void **state)
{
    const char *sets[] = {"method.need=losses", "method.weights=0.5,2", NULL};
    host_step res;
    closed c;
    rig r;

    (void)state;
    rig_open(&r, sets);
    closed_form(&r, 1, &c);
    assert_int_equal(rig_step(&r, 1, &res), MTL_OK);
    assert_false(res.used_gram);
    assert_false(fx_weights_record.had_gram);
    expect_update(&r, &c, c_w, c_w, 1.0);
    rig_close(&r);
}

static void test_losses_path_needs_equal_weights(void **state)
{
    const char *sets[] = {"method.need=losses", "method.weights=0.5,2", "method.heads=0.5,3", NULL};
    host_step res;
    rig r;

    (void)state;
    rig_open(&r, sets);
    assert_int_equal(rig_step(&r, 0, &res), MTL_ERR_PLUGIN);
    assert_string_equal(mtl_error_message(),
                        "engine: fx_weights broke its contract: shared and head weights differ "
                        "on a losses-only step (expected c[1] == h[1], got 2 and 3)");
    rig_close(&r);
}

static void test_nan_loss_skips_before_the_method(void **state)
{
    const char *sets[] = {"task.nan_from=0", NULL};
    float before[FX_MAX_DIM], after[FX_MAX_DIM];
    host_step res;
    rig r;

    (void)state;
    rig_open(&r, sets);
    memcpy(before, mtl_tensor_data(r.fx->w), sizeof before);
    assert_int_equal(rig_step(&r, 0, &res), MTL_OK);
    assert_true(res.skipped);
    assert_string_equal(res.why, "task 'a' has a non-finite loss (nan)");
    assert_int_equal(fx_weights_record.plan_calls, 0);
    assert_int_equal(fx_weights_record.weigh_calls, 0);
    memcpy(after, mtl_tensor_data(r.fx->w), sizeof after);
    assert_memory_equal(before, after, sizeof before);
    rig_close(&r);
}

static void test_nan_weights_skip(void **state)
{
    const char *sets[] = {"method.nan_at=0", NULL};
    host_step res;
    rig r;

    (void)state;
    rig_open(&r, sets);
    assert_int_equal(rig_step(&r, 0, &res), MTL_OK);
    assert_true(res.skipped);
    assert_string_equal(res.why,
                        "fx_weights returned non-finite weights, parameter gradients or loss");
    /* Documented: the method ran (its state may have advanced); nothing else did. */
    assert_int_equal(fx_weights_record.weigh_calls, 1);
    rig_close(&r);
}

static void test_method_params_trained(void **state)
{
    const char *sets[] = {"method.n_params=2", "method.param_lr=0.1", NULL};
    mtl_tensor *p;
    host_step res;
    rig r;

    (void)state;
    rig_open(&r, sets);
    assert_int_equal(host_engine_n_groups(r.engine), 2);
    expect_close(mtl_adam_get_lr(host_engine_adam(r.engine), 1), 0.1, 1e-12);
    assert_int_equal(rig_step(&r, 0, &res), MTL_OK);
    assert_int_equal(host_engine_apply(r.engine), MTL_OK);
    p = host_engine_method_params(r.engine);
    /* Adam's first step moves each parameter by lr against its gradient's sign. */
    expect_close(mtl_tensor_data(p)[0], -0.1, 1e-6);
    expect_close(mtl_tensor_data(p)[1], 0.1, 1e-6);
    rig_close(&r);
}

/* ---- the training loop ------------------------------------------------ */

static char run_dir[] = "/tmp/mtl_test_host_engine_XXXXXX";

static mtl_status train_rig(rig *r, host_run **run)
{
    host_run_layout layout = {"fx_linear",
                              "fx_weights",
                              r->task.info.n_tasks,
                              r->task.info.task_names,
                              r->task.info.n_metrics,
                              r->task.info.metrics};
    host_train_ctx ctx = {&r->task, &r->method, &r->env, NULL, NULL};

    assert_int_equal(host_run_create(run, run_dir, &layout), MTL_OK);
    ctx.run = *run;
    return host_train(&ctx);
}

static void test_all_steps_skipped_leave_parameters_bit_identical(void **state)
{
    const char *sets[] = {"task.nan_from=0", "train.max_bad_steps=100", NULL};
    float w0[FX_MAX_DIM], b0[FX_MAX_DIM], a0[2];
    host_run *run;
    rig r;

    (void)state;
    rig_open(&r, sets);
    memcpy(w0, mtl_tensor_data(r.fx->w), sizeof w0);
    memcpy(b0, mtl_tensor_data(r.fx->b), sizeof b0);
    a0[0] = mtl_tensor_data(r.fx->a[0])[0];
    a0[1] = mtl_tensor_data(r.fx->a[1])[0];
    assert_int_equal(train_rig(&r, &run), MTL_OK);
    assert_memory_equal(w0, mtl_tensor_data(r.fx->w), sizeof w0);
    assert_memory_equal(b0, mtl_tensor_data(r.fx->b), sizeof b0);
    assert_memory_equal(&a0[0], mtl_tensor_data(r.fx->a[0]), sizeof a0[0]);
    assert_memory_equal(&a0[1], mtl_tensor_data(r.fx->a[1]), sizeof a0[1]);
    assert_int_equal(fx_weights_record.weigh_calls, 0);
    host_run_destroy(run);
    rig_close(&r);
}

static void test_training_moves_parameters(void **state)
{
    float w0[FX_MAX_DIM];
    host_run *run;
    rig r;

    (void)state;
    rig_open(&r, NULL);
    memcpy(w0, mtl_tensor_data(r.fx->w), sizeof w0);
    assert_int_equal(train_rig(&r, &run), MTL_OK);
    assert_memory_not_equal(w0, mtl_tensor_data(r.fx->w), sizeof w0);
    assert_int_equal(fx_weights_record.weigh_calls, 2 * 4);
    host_run_destroy(run);
    rig_close(&r);
}

static void test_max_bad_steps_stops(void **state)
{
    const char *sets[] = {"task.nan_from=2", "train.max_bad_steps=2", NULL};
    host_run *run;
    rig r;

    (void)state;
    rig_open(&r, sets);
    assert_int_equal(train_rig(&r, &run), MTL_ERR_NUMERIC);
    assert_non_null(strstr(mtl_error_message(),
                           "train: stopped after 2 skipped steps in a row: trial 0, epoch 0, "
                           "batch 3: task 'a' has a non-finite loss (nan)"));
    host_run_destroy(run);
    rig_close(&r);
}

/* ---- Delta_m, schedules, configuration --------------------------------- */

static void test_delta_m(void **state)
{
    /* err_a (baseline 0.5), err_b (0.75), both lower-is-better; fit (0.5) higher-is-better */
    const mtl_metric metrics[3] = {
        {"err_a", 0, 0, 0.5, ""}, {"err_b", 1, 0, 0.75, ""}, {"fit", -1, 1, 0.5, ""}};
    const mtl_metric with_none[2] = {{"err_a", 0, 0, 0.5, ""}, {"count", -1, 1, 0, ""}};
    mtl_task_info info = {2, NULL, 3, metrics, NULL, 0, NULL};
    const double values[3] = {0.5, 0.375, 0.75};

    (void)state;
    expect_close(host_delta_m(&info, values, -1), 100.0 / 3 * (0 - 0.5 - 0.5), 1e-12);
    expect_close(host_delta_m(&info, values, 1), -50, 1e-12);
    info.metrics = with_none;
    info.n_metrics = 2;
    expect_close(host_delta_m(&info, (const double[]){0.6, 7}, -1), 20, 1e-12);
    assert_true(isnan(host_delta_m(&info, (const double[]){0.6, 7}, 1)));
}

typedef struct sched_rig {
    host_config cfg;
    mtl_model *model;
    mtl_adam *adam;
    host_sched sched;
} sched_rig;

static void sched_open(sched_rig *s, const char *const *sets)
{
    int64_t shape[1] = {1};
    mtl_tensor *p;
    mtl_adam_config ac = mtl_adam_defaults();
    int group;

    assert_int_equal(host_config_init(&s->cfg, "m", NULL, 0, "t", NULL, 0), MTL_OK);
    for (size_t i = 0; sets[i]; i++)
        assert_int_equal(host_config_assign(&s->cfg, sets[i], "--set"), MTL_OK);
    assert_int_equal(mtl_model_create(&s->model), MTL_OK);
    p = mtl_model_param(s->model, "p", MTL_ROLE_SHARED, -1, 0, 1, shape);
    assert_non_null(p);
    ac.lr = 1.0;
    assert_int_equal(mtl_adam_create(&s->adam), MTL_OK);
    assert_int_equal(mtl_adam_add_group(s->adam, &ac, 1, &p, &group), MTL_OK);
    assert_int_equal(host_sched_init(&s->sched, &s->cfg), MTL_OK);
}

static void sched_close(sched_rig *s)
{
    mtl_adam_destroy(s->adam);
    mtl_model_destroy(s->model);
    host_config_deinit(&s->cfg);
}

static void test_plateau(void **state)
{
    const char *sets[] = {"train.scheduler=plateau", "train.patience=1", "train.factor=0.5",
                          "train.min_lr=0.3", NULL};
    const double metric[] = {1.0, 0.5, 0.5, 0.49999, 0.5, 0.1, 0.2, 0.2, 0.2, 0.2};
    const double lr[] = {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3};
    sched_rig s;

    (void)state;
    sched_open(&s, sets);
    for (int e = 0; e < 10; e++) {
        host_sched_epoch_end(&s.sched, s.adam, 1, metric[e]);
        expect_close(mtl_adam_get_lr(s.adam, 0), lr[e], 1e-12);
    }
    host_sched_epoch_end(&s.sched, s.adam, 1, NAN); /* not measured: no step */
    expect_close(mtl_adam_get_lr(s.adam, 0), 0.3, 1e-12);
    sched_close(&s);
}

static void test_step_schedule(void **state)
{
    const char *sets[] = {"train.scheduler=step", "train.step_size=2", "train.gamma=0.5", NULL};
    const double lr[] = {1.0, 0.5, 0.5, 0.25, 0.25};
    sched_rig s;

    (void)state;
    sched_open(&s, sets);
    for (int e = 0; e < 5; e++) {
        host_sched_epoch_end(&s.sched, s.adam, 1, NAN);
        expect_close(mtl_adam_get_lr(s.adam, 0), lr[e], 1e-12);
    }
    sched_close(&s);
}

/* lr stays finite and > 0: a step to 0 or to inf is refused, counted, and the lr kept. */
static void test_step_schedule_bounded(void **state)
{
    const char *small[] = {"train.scheduler=step", "train.step_size=1", "train.gamma=1e-300", NULL};
    const char *big[] = {"train.scheduler=step", "train.step_size=1", "train.gamma=1e300", NULL};
    sched_rig s;

    (void)state;
    sched_open(&s, small);
    for (int e = 0; e < 3; e++)
        host_sched_epoch_end(&s.sched, s.adam, 1, NAN);
    expect_close(mtl_adam_get_lr(s.adam, 0), 1e-300, 1e-312);
    assert_int_equal(s.sched.refused, 2);
    sched_close(&s);
    sched_open(&s, big);
    for (int e = 0; e < 3; e++)
        host_sched_epoch_end(&s.sched, s.adam, 1, NAN);
    assert_true(mtl_adam_get_lr(s.adam, 0) == 1e300);
    assert_int_equal(s.sched.refused, 2);
    sched_close(&s);
}

static void test_config_getters(void **state)
{
    const mtl_method_plugin *mp = mtl_method_entry();
    const mtl_task_plugin *tp = mtl_task_entry();
    host_config cfg;
    const double *list;
    const char *text;
    int64_t i;
    double d;
    size_t n;

    (void)state;
    assert_int_equal(host_config_init(&cfg, mp->name, mp->options, mp->n_options, tp->name,
                                      tp->options, tp->n_options),
                     MTL_OK);
    assert_int_equal(host_config_assign(&cfg, "method.weights=1, 2.5", "--set"), MTL_OK);
    assert_int_equal(host_config_doubles(&cfg, HOST_SEC_METHOD, "fx_weights", "weights", &list, &n),
                     MTL_OK);
    assert_int_equal(n, 2);
    expect_close(list[1], 2.5, 0);
    assert_int_equal(host_config_int(&cfg, HOST_SEC_METHOD, "fx_weights", "train.batch_size", &i),
                     MTL_OK);
    assert_int_equal(i, 32);
    assert_int_equal(host_config_string(&cfg, HOST_SEC_TASK, "fx_linear", "method.need", &text),
                     MTL_OK);
    assert_string_equal(text, "gram");
    assert_int_equal(host_config_int(&cfg, HOST_SEC_METHOD, "fx_weights", "max_norm", &i),
                     MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "config: wrong getter: asked by fx_weights: method.max_norm (expected "
                        "config_double, got config_int)");
    assert_int_equal(host_config_double(&cfg, HOST_SEC_METHOD, "fx_weights", "max_nrom", &d),
                     MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "config: unknown key: asked by fx_weights: method.max_nrom (expected a key "
                        "of [method]; did you mean 'max_norm'?)");
    assert_int_equal(host_config_double(&cfg, HOST_SEC_TASK, "fx_linear", "trian.lr", &d),
                     MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "config: unknown key: asked by fx_linear: trian (expected section.key "
                        "with a section of train, method, task or output)");
    host_config_deinit(&cfg);
}

static void test_config_format_round_trip(void **state)
{
    const mtl_method_plugin *mp = mtl_method_entry();
    const mtl_task_plugin *tp = mtl_task_entry();
    host_config a, b;
    host_buf text = {0}, again = {0};
    char path[64];
    int fd;

    (void)state;
    assert_int_equal(host_config_init(&a, mp->name, mp->options, mp->n_options, tp->name,
                                      tp->options, tp->n_options),
                     MTL_OK);
    assert_int_equal(host_config_assign(&a, "method.weights=0.25,4", "--set"), MTL_OK);
    assert_int_equal(host_config_assign(&a, "output.dir=", "--set"), MTL_OK);
    assert_int_equal(host_config_assign(&a, "train.min_lr=1.5e-7", "--set"), MTL_OK);
    assert_int_equal(host_config_format(&a, "# header\n", &text), MTL_OK);
    snprintf(path, sizeof path, "%s/round.ini", run_dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text.data, text.len), (ssize_t)text.len);
    close(fd);
    assert_int_equal(host_config_init(&b, mp->name, mp->options, mp->n_options, tp->name,
                                      tp->options, tp->n_options),
                     MTL_OK);
    assert_int_equal(host_config_load_ini(&b, path), MTL_OK);
    for (int s = 0; s < HOST_N_SECTIONS; s++)
        for (size_t k = 0; k < a.sec[s].n_options; k++)
            assert_string_equal(a.sec[s].values[k].text, b.sec[s].values[k].text);
    host_buf_free(&text);
    host_buf_free(&again);
    host_config_deinit(&a);
    host_config_deinit(&b);
}

static void test_edit_distance(void **state)
{
    const char *keys[] = {"epochs", "lr", "batch_size"};

    (void)state;
    assert_int_equal(host_edit_distance("trian", "train"), 1);
    assert_int_equal(host_edit_distance("", "abc"), 3);
    assert_string_equal(host_nearest("batchsize", keys, 3), "batch_size");
    assert_string_equal(host_nearest("lrr", keys, 3), "lr");
    assert_null(host_nearest("momentum", keys, 3));
}

static void expect_json(const char *in, const char *want)
{
    host_buf b = {0};

    host_buf_json_string(&b, in);
    assert_int_equal(host_buf_status(&b, "json"), MTL_OK);
    assert_string_equal(host_buf_str(&b), want);
    host_buf_free(&b);
}

/* JSON strings stay valid whatever bytes a path or message holds. */
static void expect_shell_word(const char *s, const char *want)
{
    host_buf b = {0};

    host_buf_shell_word(&b, s);
    assert_string_equal(host_buf_str(&b), want);
    host_buf_free(&b);
}

/* Words of the commands messages suggest: quoted only when a shell would split or expand. */
static void test_shell_word(void **state)
{
    (void)state;
    expect_shell_word("runs/toy-ls-20261204-1", "runs/toy-ls-20261204-1");
    expect_shell_word("G 2", "'G 2'");
    expect_shell_word("it's", "'it'\\''s'");
    expect_shell_word("$HOME;rm", "'$HOME;rm'");
    expect_shell_word("", "''");
}

static void test_json_string(void **state)
{
    (void)state;
    expect_json("plain", "\"plain\"");
    expect_json("a\"b\\c\n\x7f", "\"a\\\"b\\\\c\\u000a\\u007f\"");
    /* valid UTF-8 passes through: 2, 3 and 4 bytes */
    expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* a Latin-1 byte, a cut sequence, an overlong form, a surrogate, past U+10FFFF */
    expect_json("caf\xe9/x", "\"caf\\u00e9/x\"");
    expect_json("\xe2\x82", "\"\\u00e2\\u0082\"");
    expect_json("\xc0\xaf", "\"\\u00c0\\u00af\"");
    expect_json("\xed\xa0\x80", "\"\\u00ed\\u00a0\\u0080\"");
    expect_json("\xf4\x90\x80\x80", "\"\\u00f4\\u0090\\u0080\\u0080\"");
    expect_json("\xe0\x80\x80", "\"\\u00e0\\u0080\\u0080\"");
}

static int setup_dir(void **state)
{
    (void)state;
    return mkdtemp(run_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gram_shared),
        cmocka_unit_test(test_gram_last_and_rep),
        cmocka_unit_test(test_three_tasks),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_losses_path_is_one_weighted_backward),
        cmocka_unit_test(test_losses_path_needs_equal_weights),
        cmocka_unit_test(test_nan_loss_skips_before_the_method),
        cmocka_unit_test(test_nan_weights_skip),
        cmocka_unit_test(test_method_params_trained),
        cmocka_unit_test(test_all_steps_skipped_leave_parameters_bit_identical),
        cmocka_unit_test(test_training_moves_parameters),
        cmocka_unit_test(test_max_bad_steps_stops),
        cmocka_unit_test(test_delta_m),
        cmocka_unit_test(test_plateau),
        cmocka_unit_test(test_step_schedule),
        cmocka_unit_test(test_step_schedule_bounded),
        cmocka_unit_test(test_config_getters),
        cmocka_unit_test(test_config_format_round_trip),
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_shell_word),
    };

    return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
