/*
 * Tests of the toy task plugin (experiments/toy/toy.c): the objectives and
 * their autograd gradients against tools/toy_fixture.py's independent
 * values, PyTorch's rules at the kinks, the starts, the options and the
 * files a run writes.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, lstat */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_host.h"

#define FIXTURE    MTL_TEST_SOURCE_DIR "/tests/toy/toy_fixture.txt"
#define MAX_POINTS 64

/*
 * float32 tolerance, relative to max(1, |value|): every op rounds to float32,
 * and the worst-conditioned fixture points (|u| = 0.05 inside the log)
 * amplify a rounding of ~1e-7 about 20 times.  Measured: about 1e-6.
 */
#define TOL 1e-5

typedef struct fixture_point {
    char name[64];
    double x[2];
    double f[2];
    double df[2][2]; /* df[i][j] = d f_(i+1) / d x_(j+1) */
} fixture_point;

static const float starts[5][2] = {
    {-8.5f, 7.5f}, {0.0f, 0.0f}, {9.0f, 9.0f}, {-7.5f, -0.5f}, {9.0f, -1.0f}};

static size_t read_fixture(fixture_point *pts, size_t cap)
{
    FILE *f = fopen(FIXTURE, "r");
    char line[1024];
    size_t n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        fixture_point *p = &pts[n];

        if (line[0] == '#' || line[0] == '\n')
            continue;
        assert_true(n < cap);
        assert_int_equal(sscanf(line, "%63s %lf %lf %lf %lf %lf %lf %lf %lf", p->name, &p->x[0],
                                &p->x[1], &p->f[0], &p->f[1], &p->df[0][0], &p->df[0][1],
                                &p->df[1][0], &p->df[1][1]),
                         9);
        n++;
    }
    fclose(f);
    return n;
}

/* A created toy instance with its stand-in host. */
typedef struct toy_fixture {
    const mtl_task_plugin *plugin;
    mtl_test_host th;
    void *self;
    mtl_task_info info;
} toy_fixture;

static void toy_open(toy_fixture *t, const char *const *overrides)
{
    memset(t, 0, sizeof *t);
    t->plugin = mtl_test_load_task("toy");
    mtl_test_host_init(&t->th, t->plugin->options, t->plugin->n_options, overrides, 1);
    assert_int_equal(t->plugin->create(&t->th.host, &t->self, &t->info), MTL_OK);
    assert_non_null(t->self);
}

static void toy_close(toy_fixture *t)
{
    t->plugin->destroy(t->self);
}

static mtl_tensor *toy_x(const toy_fixture *t)
{
    assert_int_equal(mtl_model_n_params(t->info.model), 1);
    return mtl_model_param_at(t->info.model, 0);
}

/* Forward at x, then one backward pass per objective: values and gradients. */
static void eval_at(toy_fixture *t, mtl_graph *g, const float x[2], double f[2], double df[2][2])
{
    mtl_tensor *xt = toy_x(t);
    mtl_tensor *losses[2];
    mtl_task_output out = {losses, NULL};

    assert_int_equal(mtl_tensor_write(xt, x, 2), MTL_OK);
    mtl_graph_reset(g);
    assert_int_equal(t->plugin->forward(t->self, MTL_SPLIT_TRAIN, 0, 1, g, &out), MTL_OK);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    assert_null(out.rep);

    for (int i = 0; i < 2; i++) {
        float seeds[2] = {i == 0, i == 1};
        float grad[2];

        f[i] = mtl_tensor_item(losses[i]);
        mtl_model_zero_grad(t->info.model);
        assert_int_equal(mtl_graph_backward(g, 2, losses, seeds), MTL_OK);
        memcpy(grad, mtl_tensor_grad(xt), sizeof grad);
        df[i][0] = grad[0];
        df[i][1] = grad[1];
    }
}

static double rel_err(double got, double want)
{
    return fabs(got - want) / fmax(1.0, fabs(want));
}

static void test_entry_and_options(void **state)
{
    const mtl_task_plugin *p = mtl_test_load_task("toy");
    static const char *const keys[] = {"steps", "scale", "record_every", "starts"};
    static const mtl_option_type types[] = {MTL_OPT_INT, MTL_OPT_DOUBLE, MTL_OPT_INT,
                                            MTL_OPT_DOUBLE_LIST};
    static const char *const defaults[] = {"35000", "0.1", "10", "0,1,2,3,4"};
    int epochs = 0, lr = 0;

    (void)state;
    assert_int_equal(p->header.abi_major, MTL_ABI_MAJOR);
    assert_int_equal(p->header.kind, MTL_PLUGIN_TASK);
    assert_int_equal(p->header.size, sizeof(mtl_task_plugin));
    assert_string_equal(p->name, "toy");
    assert_int_equal(p->n_options, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(p->options[i].key, keys[i]);
        assert_int_equal(p->options[i].type, types[i]);
        assert_string_equal(p->options[i].default_value, defaults[i]);
        assert_non_null(p->options[i].help);
    }
    assert_true(p->options[3].flags & MTL_OPT_HAS_MIN);
    assert_true(p->options[3].flags & MTL_OPT_HAS_MAX);
    assert_true(p->options[3].max == 4.0);

    assert_non_null(p->defaults);
    for (size_t i = 0; p->defaults[i]; i++) {
        epochs += strcmp(p->defaults[i], "train.epochs=1") == 0;
        lr += strcmp(p->defaults[i], "train.lr=1e-3") == 0;
    }
    assert_int_equal(epochs, 1);
    assert_int_equal(lr, 1);
}

static void test_create_info(void **state)
{
    toy_fixture t;
    mtl_param_info pi;
    mtl_tensor *x;

    (void)state;
    toy_open(&t, NULL);
    assert_int_equal(t.info.n_tasks, 2);
    assert_int_equal(t.info.n_trials, 5);
    assert_int_equal(t.info.n_metrics, 4);
    assert_string_equal(t.info.metrics[0].name, "l1");
    assert_string_equal(t.info.metrics[1].name, "l2");
    assert_string_equal(t.info.metrics[2].name, "x1");
    assert_string_equal(t.info.metrics[3].name, "x2");
    assert_int_equal(t.info.metrics[0].task, 0);
    assert_int_equal(t.info.metrics[1].task, 1);
    assert_string_equal(t.info.figure_tool, "plot_toy.py");

    x = toy_x(&t);
    assert_int_equal(mtl_tensor_numel(x), 2);
    assert_int_equal(mtl_param_get_info(x, &pi), MTL_OK);
    assert_int_equal(pi.role, MTL_ROLE_SHARED);
    assert_int_equal(mtl_model_n_buffers(t.info.model), 0);
    toy_close(&t);
}

static void test_trial_begin_sets_starts(void **state)
{
    toy_fixture t;
    float x[2];

    (void)state;
    toy_open(&t, NULL);
    for (int trial = 0; trial < 5; trial++) {
        assert_int_equal(t.plugin->trial_begin(t.self, trial), MTL_OK);
        assert_int_equal(mtl_tensor_read(toy_x(&t), x, 2), MTL_OK);
        assert_true(x[0] == starts[trial][0]);
        assert_true(x[1] == starts[trial][1]);
    }
    assert_int_equal(t.plugin->trial_begin(t.self, 5), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "trial_begin: no such trial (expected 0 to 4, got 5)");
    toy_close(&t);
}

static void test_epochs_have_no_eval_splits(void **state)
{
    toy_fixture t;
    static const char *const o[] = {"steps=1234", NULL};
    int64_t n = -1;

    (void)state;
    toy_open(&t, o);
    assert_int_equal(t.plugin->epoch_begin(t.self, MTL_SPLIT_TRAIN, 0, &n), MTL_OK);
    assert_int_equal(n, 1234);
    assert_int_equal(t.plugin->epoch_begin(t.self, MTL_SPLIT_VAL, 0, &n), MTL_OK);
    assert_int_equal(n, 0);
    assert_int_equal(t.plugin->epoch_begin(t.self, MTL_SPLIT_TEST, 0, &n), MTL_OK);
    assert_int_equal(n, 0);
    toy_close(&t);
}

static void test_fixture_values_and_gradients(void **state)
{
    static fixture_point pts[MAX_POINTS];
    size_t n = read_fixture(pts, MAX_POINTS);
    toy_fixture t;
    mtl_graph *g;
    double max_f = 0, max_df = 0;

    (void)state;
    assert_true(n >= 20);
    toy_open(&t, NULL);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    for (size_t k = 0; k < n; k++) {
        const fixture_point *p = &pts[k];
        float x[2] = {(float)p->x[0], (float)p->x[1]};
        double f[2], df[2][2];

        /* The fixture's points are float32 values. */
        assert_true((double)x[0] == p->x[0] && (double)x[1] == p->x[1]);
        eval_at(&t, g, x, f, df);
        for (int i = 0; i < 2; i++) {
            double e = rel_err(f[i], p->f[i]);

            if (e > TOL)
                print_error("%s: f%d = %.9g, fixture %.9g\n", p->name, i + 1, f[i], p->f[i]);
            assert_true(e <= TOL);
            max_f = fmax(max_f, e);
            for (int j = 0; j < 2; j++) {
                e = rel_err(df[i][j], p->df[i][j]);
                if (e > TOL)
                    print_error("%s: df%d/dx%d = %.9g, fixture %.9g\n", p->name, i + 1, j + 1,
                                df[i][j], p->df[i][j]);
                assert_true(e <= TOL);
                max_df = fmax(max_df, e);
            }
        }
    }
    print_message("toy: %zu fixture points, max error %.3g (values), %.3g (gradients)\n", n, max_f,
                  max_df);
    mtl_graph_destroy(g);
    toy_close(&t);
}

/* With a strict clamp rule the start (0, 0) would have a zero gradient. */
static void test_start_zero_moves(void **state)
{
    toy_fixture t;
    mtl_graph *g;
    double f[2], df[2][2];

    (void)state;
    toy_open(&t, NULL);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    assert_int_equal(t.plugin->trial_begin(t.self, 1), MTL_OK);
    eval_at(&t, g, starts[1], f, df);
    assert_true(f[0] == 0.0 && f[1] == 0.0);
    assert_true(df[0][1] > 1.0);
    assert_true(df[1][1] > 10.0);
    mtl_graph_destroy(g);
    toy_close(&t);
}

static void test_scale_option(void **state)
{
    static const char *const o[] = {"scale=1", NULL};
    static fixture_point pts[MAX_POINTS];
    size_t n = read_fixture(pts, MAX_POINTS);
    toy_fixture t;
    mtl_graph *g;
    double f[2], df[2][2];

    (void)state;
    toy_open(&t, o);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    for (size_t k = 0; k < n; k++) {
        const float x[2] = {(float)pts[k].x[0], (float)pts[k].x[1]};

        eval_at(&t, g, x, f, df);
        assert_true(rel_err(f[0], 10.0 * pts[k].f[0]) <= TOL);
        assert_true(rel_err(df[0][0], 10.0 * pts[k].df[0][0]) <= TOL);
        assert_true(rel_err(f[1], pts[k].f[1]) <= TOL);
    }
    mtl_graph_destroy(g);
    toy_close(&t);
}

static void test_starts_subset(void **state)
{
    static const char *const o[] = {"starts=4,1", NULL};
    toy_fixture t;
    float x[2];

    (void)state;
    toy_open(&t, o);
    assert_int_equal(t.info.n_trials, 2);
    assert_int_equal(t.plugin->trial_begin(t.self, 0), MTL_OK);
    assert_int_equal(mtl_tensor_read(toy_x(&t), x, 2), MTL_OK);
    assert_true(x[0] == 9.0f && x[1] == -1.0f);
    assert_int_equal(t.plugin->trial_begin(t.self, 1), MTL_OK);
    assert_int_equal(mtl_tensor_read(toy_x(&t), x, 2), MTL_OK);
    assert_true(x[0] == 0.0f && x[1] == 0.0f);
    toy_close(&t);
}

static void expect_create_error(const char *override, const char *message)
{
    const mtl_task_plugin *p = mtl_test_load_task("toy");
    const char *o[] = {override, NULL};
    mtl_test_host th;
    mtl_task_info info;
    void *self = (void *)&th;

    memset(&info, 0, sizeof info);
    mtl_test_host_init(&th, p->options, p->n_options, o, 1);
    assert_int_equal(p->create(&th.host, &self, &info), MTL_ERR_CONFIG);
    assert_null(self);
    assert_string_equal(mtl_error_message(), message);
}

static void test_starts_errors(void **state)
{
    (void)state;
    expect_create_error("starts=1,2.5", "options: bad task.starts: item 2 is not a start index "
                                        "(expected an integer from 0 to 4, got 2.5)");
    expect_create_error("starts=7", "options: bad task.starts: item 1 is not a start index "
                                    "(expected an integer from 0 to 4, got 7)");
    expect_create_error("starts=3,0,3", "options: bad task.starts: start 3 is listed twice "
                                        "(expected each index at most once)");
    expect_create_error("starts=", "options: bad task.starts: wrong number of starts (expected 1 "
                                   "to 5, got 0)");
}

static void test_metrics_are_the_current_point(void **state)
{
    static fixture_point pts[MAX_POINTS];
    toy_fixture t;
    double v[4];

    (void)state;
    read_fixture(pts, MAX_POINTS);
    toy_open(&t, NULL);
    assert_string_equal(pts[0].name, "start0");
    assert_int_equal(t.plugin->trial_begin(t.self, 0), MTL_OK);
    assert_int_equal(t.plugin->metrics(t.self, MTL_SPLIT_VAL, v), MTL_OK);
    assert_true(rel_err(v[0], pts[0].f[0]) <= TOL);
    assert_true(rel_err(v[1], pts[0].f[1]) <= TOL);
    assert_true(v[2] == -8.5 && v[3] == 7.5);
    toy_close(&t);
}

/* Reads a whole small file into a static buffer. */
static const char *slurp(const char *path)
{
    static char buf[1 << 16];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/*
 * A stand-in training loop: plain gradient descent on f1 + f2, enough to
 * move x, then the files trial_end writes.
 */
static void test_trajectory_files(void **state)
{
    static const char *const o[] = {"steps=25", "record_every=10", "starts=2,1", NULL};
    char dir[] = "/tmp/mtl_test_toy_XXXXXX";
    char path[512];
    toy_fixture t;
    mtl_graph *g;
    float x[2];
    const char *csv;
    int n_rows = 0, last_start = -1;

    (void)state;
    assert_non_null(mkdtemp(dir));
    toy_open(&t, o);
    t.th.host.run_dir = dir;
    assert_int_equal(mtl_graph_create(&g), MTL_OK);

    for (int trial = 0; trial < t.info.n_trials; trial++) {
        int64_t n;
        mtl_tensor *xt = toy_x(&t);

        assert_int_equal(t.plugin->trial_begin(t.self, trial), MTL_OK);
        assert_int_equal(t.plugin->epoch_begin(t.self, MTL_SPLIT_TRAIN, 0, &n), MTL_OK);
        for (int64_t b = 0; b < n; b++) {
            mtl_tensor *losses[2];
            mtl_task_output out = {losses, NULL};
            const float seeds[2] = {1.0f, 1.0f};

            mtl_graph_reset(g);
            assert_int_equal(t.plugin->forward(t.self, MTL_SPLIT_TRAIN, b, 1, g, &out), MTL_OK);
            mtl_model_zero_grad(t.info.model);
            assert_int_equal(mtl_graph_backward(g, 2, losses, seeds), MTL_OK);
            for (int i = 0; i < 2; i++)
                mtl_tensor_data(xt)[i] -= 0.01f * mtl_tensor_grad(xt)[i];
        }
        assert_int_equal(t.plugin->trial_end(t.self, trial), MTL_OK);
    }

    /* Steps 0, 10, 20 and the point after the 25th step, per start, in trial order. */
    snprintf(path, sizeof path, "%s/toy_trajectories.csv", dir);
    csv = slurp(path);
    assert_true(strncmp(csv, "start,step,x1,x2,l1,l2\n", 23) == 0);
    for (const char *line = strchr(csv, '\n') + 1; *line; line = strchr(line, '\n') + 1) {
        int start;
        long long step;
        double v[4];
        static const long long want_steps[4] = {0, 10, 20, 25};

        assert_int_equal(
            sscanf(line, "%d,%lld,%lf,%lf,%lf,%lf", &start, &step, &v[0], &v[1], &v[2], &v[3]), 6);
        assert_int_equal(start, n_rows < 4 ? 2 : 1);
        assert_int_equal(step, want_steps[n_rows % 4]);
        if (n_rows % 4 == 0)
            assert_true(v[0] == starts[start][0] && v[1] == starts[start][1]);
        for (int i = 0; i < 4; i++)
            assert_true(isfinite(v[i]));
        last_start = start;
        n_rows++;
    }
    assert_int_equal(n_rows, 8);
    assert_int_equal(last_start, 1);

    snprintf(path, sizeof path, "%s/toy_final.csv", dir);
    csv = slurp(path);
    assert_true(strncmp(csv, "start,start_x1,start_x2,step,x1,x2,l1,l2\n2,9,9,25,", 49) == 0);
    assert_non_null(strstr(csv, "\n1,0,0,25,"));
    assert_int_equal(mtl_tensor_read(toy_x(&t), x, 2), MTL_OK);
    assert_false(x[0] == 0.0f && x[1] == 0.0f);

    /* Nothing else is left in the run folder (no temporary files). */
    {
        DIR *d = opendir(dir);
        struct dirent *e;
        int files = 0;

        assert_non_null(d);
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                files++;
                snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
                unlink(path);
            }
        closedir(d);
        assert_int_equal(files, 2);
    }
    rmdir(dir);
    mtl_graph_destroy(g);
    toy_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_and_options),
        cmocka_unit_test(test_create_info),
        cmocka_unit_test(test_trial_begin_sets_starts),
        cmocka_unit_test(test_epochs_have_no_eval_splits),
        cmocka_unit_test(test_fixture_values_and_gradients),
        cmocka_unit_test(test_start_zero_moves),
        cmocka_unit_test(test_scale_option),
        cmocka_unit_test(test_starts_subset),
        cmocka_unit_test(test_starts_errors),
        cmocka_unit_test(test_metrics_are_the_current_point),
        cmocka_unit_test(test_trajectory_files),
    };

    return cmocka_run_group_tests_name("toy", tests, NULL, NULL);
}
