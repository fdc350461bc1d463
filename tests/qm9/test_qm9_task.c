/*
 * The qm9 task plugin through the stand-in host (tests/support), on the
 * committed 1,000-molecule subset: what create() declares, the batches of
 * each split, the metrics' units (MAE in meV for the energies), a short
 * training whose loss falls, determinism, and the configuration errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "protocol.h"
#include "test_host.h"

#define SUBSET "experiments/qm9/data/qm9-subset-1000.mtlq"

static const mtl_task_plugin *plugin;

typedef struct task_run {
    mtl_test_host th;
    void *self;
    mtl_task_info info;
} task_run;

/* Creates the task on the subset: 100 test, 100 validation, 800 training molecules. */
static mtl_status open_task(task_run *r, const char *const *extra, uint64_t seed)
{
    const char *over[MTL_TEST_MAX_OVERRIDES] = {"data=" SUBSET, "test_size=100", "val_size=100",
                                                "train.batch_size=50", "train.seed=5"};
    int n = 5;

    for (int i = 0; extra && extra[i]; i++)
        over[n++] = extra[i];
    over[n] = NULL;
    memset(r, 0, sizeof *r);
    mtl_test_host_init(&r->th, plugin->options, plugin->n_options, over, seed);
    return plugin->create(&r->th.host, &r->self, &r->info);
}

static void close_task(task_run *r)
{
    plugin->destroy(r->self);
}

static int64_t begin(task_run *r, mtl_split split)
{
    int64_t n = -1;

    assert_int_equal(plugin->epoch_begin(r->self, split, 0, &n), MTL_OK);
    return n;
}

/* Forward of one batch into g; returns the sum of the 11 losses. */
static float forward(task_run *r, mtl_graph *g, mtl_split split, int64_t batch,
                     mtl_tensor *losses[QM9_N_TASKS], mtl_tensor **rep)
{
    mtl_task_output out = {losses, NULL};
    float sum = 0;

    mtl_graph_reset(g);
    mtl_graph_set_recording(g, split == MTL_SPLIT_TRAIN);
    assert_int_equal(plugin->forward(r->self, split, batch, split == MTL_SPLIT_TRAIN, g, &out),
                     MTL_OK);
    assert_int_equal(mtl_graph_status(g), MTL_OK);
    for (int t = 0; t < QM9_N_TASKS; t++)
        sum += mtl_tensor_item(losses[t]);
    if (rep)
        *rep = out.rep;
    return sum;
}

/* Mean over the validation split of the summed losses. */
static double val_loss(task_run *r, mtl_graph *g)
{
    mtl_tensor *losses[QM9_N_TASKS];
    double values[QM9_N_TASKS], sum = 0;
    int64_t n = begin(r, MTL_SPLIT_VAL);

    for (int64_t b = 0; b < n; b++)
        sum += forward(r, g, MTL_SPLIT_VAL, b, losses, NULL);
    assert_int_equal(plugin->metrics(r->self, MTL_SPLIT_VAL, values), MTL_OK);
    return sum / (double)n;
}

static int setup(void **state)
{
    (void)state;
    plugin = mtl_test_load_task("qm9");
    /* Relative paths are resolved from the current folder first. */
    return chdir(MTL_TEST_SOURCE_DIR);
}

/* ---- what the task declares ------------------------------------------------------ */

static void test_create(void **state)
{
    task_run r;
    size_t n_last = 0, n_heads = 0, n_shared = 0;
    mtl_model *m;

    (void)state;
    assert_int_equal(open_task(&r, NULL, 1), MTL_OK);
    assert_int_equal(r.info.n_tasks, 11);
    assert_int_equal(r.info.n_metrics, 11);
    assert_int_equal(r.info.n_trials, 1);
    assert_string_equal(r.info.task_names[0], "mu");
    assert_string_equal(r.info.task_names[6], "U0");
    assert_string_equal(r.info.task_names[10], "cv");
    assert_string_equal(r.info.metrics[2].unit, "meV");
    assert_true(r.info.metrics[3].baseline == 53.915);
    assert_string_equal(r.th.last_log, "dataset " SUBSET ": 1000 molecules, split test 100 / "
                                       "val 100 / train 800 (seed 5), node features full");

    m = r.info.model;
    for (size_t i = 0; i < mtl_model_n_params(m); i++) {
        mtl_param_info pi;

        assert_int_equal(mtl_param_get_info(mtl_model_param_at(m, i), &pi), MTL_OK);
        if (pi.role == MTL_ROLE_TASK) {
            char want[16];
            snprintf(want, sizeof want, "head_%d.", pi.task);
            assert_memory_equal(pi.name, want, strlen(want));
            n_heads++;
        } else {
            n_shared++;
        }
        if (pi.flags & MTL_PARAM_LAST_SHARED) {
            assert_memory_equal(pi.name, "lin1.", 5);
            n_last++;
        }
    }
    assert_int_equal(n_heads, 22); /* a weight and a bias per task */
    assert_int_equal(n_last, 2);
    /* lin0 2, conv 6, gru 4, set2set's LSTM 4, lin1 2 */
    assert_int_equal(n_shared, 18);
    close_task(&r);
}

/* Batches per split: all of it, or what max_train_batches / max_eval_molecules leave. */
static void test_batches(void **state)
{
    static const char *const capped[] = {"max_train_batches=5", "max_eval_molecules=30", NULL};
    task_run r;

    (void)state;
    assert_int_equal(open_task(&r, NULL, 1), MTL_OK);
    assert_int_equal(begin(&r, MTL_SPLIT_TRAIN), 16); /* 800 / 50 */
    assert_int_equal(begin(&r, MTL_SPLIT_VAL), 2);
    assert_int_equal(begin(&r, MTL_SPLIT_TEST), 2);
    close_task(&r);

    assert_int_equal(open_task(&r, capped, 1), MTL_OK);
    assert_int_equal(begin(&r, MTL_SPLIT_TRAIN), 5);
    assert_int_equal(begin(&r, MTL_SPLIT_VAL), 1);
    assert_int_equal(begin(&r, MTL_SPLIT_TEST), 1);
    {
        mtl_graph *g;
        mtl_tensor *losses[QM9_N_TASKS], *rep;

        assert_int_equal(mtl_graph_create(&g), MTL_OK);
        forward(&r, g, MTL_SPLIT_TEST, 0, losses, &rep);
        assert_int_equal(mtl_tensor_dim(rep, 0), 30); /* 30 molecules, not 50 */
        assert_int_equal(mtl_tensor_dim(rep, 1), 64);
        assert_int_equal(mtl_tensor_ndim(losses[0]), 0);
        mtl_graph_destroy(g);
    }
    close_task(&r);
}

/*
 * With every parameter zero the model predicts 0, i.e. the training mean of
 * each target, so the MAE is mean |y - mean| over the validation molecules,
 * recomputed here from the file: in eV x 1000 for homo and the energies.
 */
static void test_metric_units(void **state)
{
    task_run r;
    qm9_dataset *ds;
    qm9_split s;
    mtl_graph *g;
    mtl_tensor *losses[QM9_N_TASKS];
    double mean[QM9_N_TASKS], std[QM9_N_TASKS], values[QM9_N_TASKS];
    int64_t n;

    (void)state;
    assert_int_equal(open_task(&r, NULL, 1), MTL_OK);
    for (size_t i = 0; i < mtl_model_n_params(r.info.model); i++) {
        mtl_tensor *p = mtl_model_param_at(r.info.model, i);
        memset(mtl_tensor_data(p), 0, (size_t)mtl_tensor_numel(p) * sizeof(float));
    }
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    n = begin(&r, MTL_SPLIT_VAL);
    for (int64_t b = 0; b < n; b++)
        forward(&r, g, MTL_SPLIT_VAL, b, losses, NULL);
    assert_int_equal(plugin->metrics(r.self, MTL_SPLIT_VAL, values), MTL_OK);

    /* The same split from the same seed, and the training statistics. */
    assert_int_equal(qm9_dataset_load(SUBSET, &ds), MTL_OK);
    assert_int_equal(qm9_split_make(&s, 1000, 100, 100, 5), MTL_OK);
    assert_int_equal(qm9_target_stats(ds, qm9_split_train(&s), s.n_train, mean, std), MTL_OK);
    for (int t = 0; t < QM9_N_TASKS; t++) {
        int c = qm9_task_columns[t];
        int mev = t == 2 || t == 3 || (t >= 5 && t <= 9);
        double mae = 0;

        for (int64_t i = 0; i < s.n_val; i++)
            mae += fabs(ds->targets[19 * qm9_split_val(&s)[i] + c] - mean[t]);
        mae /= (double)s.n_val;
        if (mev)
            mae *= 1000;
        assert_float_equal(values[t], mae, 1e-5 * mae);
    }
    /* homo in meV: hundreds, where eV would be tenths. */
    assert_true(values[2] > 100 && values[2] < 1000);

    /* The test pass logs its 11 MAEs with their units. */
    n = begin(&r, MTL_SPLIT_TEST);
    for (int64_t b = 0; b < n; b++)
        forward(&r, g, MTL_SPLIT_TEST, b, losses, NULL);
    assert_int_equal(plugin->metrics(r.self, MTL_SPLIT_TEST, values), MTL_OK);
    {
        char want[64];
        snprintf(want, sizeof want, "epoch 1 test MAE: mu %.4g D, alpha ", values[0]);
        assert_memory_equal(r.th.last_log, want, strlen(want));
        snprintf(want, sizeof want, ", homo %.4g meV, ", values[2]);
        assert_non_null(strstr(r.th.last_log, want));
        assert_non_null(strstr(r.th.last_log, " cal/mol/K"));
    }

    /* metrics() resets: the next pass starts from nothing. */
    assert_int_equal(plugin->metrics(r.self, MTL_SPLIT_VAL, values), MTL_OK);
    assert_true(isnan(values[0]));
    qm9_split_free(&s);
    qm9_dataset_destroy(ds);
    mtl_graph_destroy(g);
    close_task(&r);
}

/* A few dozen Adam steps of the plain sum of losses (ls) lower the validation loss. */
static void test_training_lowers_loss(void **state)
{
    static const char *const small[] = {"train.batch_size=32", "max_train_batches=15", NULL};
    mtl_tensor *losses[QM9_N_TASKS];
    float seeds[QM9_N_TASKS];
    task_run r;
    mtl_graph *g;
    mtl_adam *adam;
    mtl_adam_config cfg = mtl_adam_defaults();
    mtl_tensor **params;
    size_t np;
    double before, after, train_first = 0, train_last = 0;
    int group, steps = 0;

    (void)state;
    assert_int_equal(open_task(&r, small, 11), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    np = mtl_model_n_params(r.info.model);
    params = malloc(np * sizeof *params);
    for (size_t i = 0; i < np; i++)
        params[i] = mtl_model_param_at(r.info.model, i);
    cfg.lr = 2e-3;
    assert_int_equal(mtl_adam_create(&adam), MTL_OK);
    assert_int_equal(mtl_adam_add_group(adam, &cfg, np, params, &group), MTL_OK);
    for (int t = 0; t < QM9_N_TASKS; t++)
        seeds[t] = 1.0f;

    before = val_loss(&r, g);
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t n = begin(&r, MTL_SPLIT_TRAIN); /* 15 batches of 32 */

        for (int64_t b = 0; b < n; b++, steps++) {
            float l = forward(&r, g, MTL_SPLIT_TRAIN, b, losses, NULL);

            if (steps < 5)
                train_first += l / 5;
            if (steps >= 25)
                train_last += l / 5;
            mtl_model_zero_grad(r.info.model);
            assert_int_equal(mtl_graph_backward(g, QM9_N_TASKS, losses, seeds), MTL_OK);
            assert_int_equal(mtl_adam_step(adam), MTL_OK);
        }
    }
    after = val_loss(&r, g);
    print_message("qm9: %d steps: validation loss %.3f -> %.3f, training %.3f -> %.3f\n", steps,
                  before, after, train_first, train_last);
    assert_int_equal(steps, 30);
    assert_true(after < 0.8 * before);
    assert_true(train_last < 0.8 * train_first);
    mtl_adam_destroy(adam);
    free(params);
    mtl_graph_destroy(g);
    close_task(&r);
}

/* The same seeds give the same parameters and batches; the split follows split_seed. */
static void test_determinism(void **state)
{
    static const char *const other_split[] = {"split_seed=9", NULL};
    task_run a, b, c;
    mtl_graph *g;
    mtl_tensor *losses[QM9_N_TASKS];
    float la, lb, lc;
    mtl_tensor *wa, *wb;

    (void)state;
    assert_int_equal(open_task(&a, NULL, 1), MTL_OK);
    assert_int_equal(open_task(&b, NULL, 1), MTL_OK);
    assert_int_equal(open_task(&c, other_split, 1), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    wa = mtl_model_param_at(a.info.model, 0);
    wb = mtl_model_param_at(b.info.model, 0);
    assert_memory_equal(mtl_tensor_data(wa), mtl_tensor_data(wb),
                        (size_t)mtl_tensor_numel(wa) * sizeof(float));

    begin(&a, MTL_SPLIT_TRAIN);
    begin(&b, MTL_SPLIT_TRAIN);
    la = forward(&a, g, MTL_SPLIT_TRAIN, 3, losses, NULL);
    lb = forward(&b, g, MTL_SPLIT_TRAIN, 3, losses, NULL);
    assert_true(la == lb);

    /* Same parameters (same host seed), another split: another test batch. */
    begin(&a, MTL_SPLIT_TEST);
    begin(&c, MTL_SPLIT_TEST);
    la = forward(&a, g, MTL_SPLIT_TEST, 0, losses, NULL);
    lc = forward(&c, g, MTL_SPLIT_TEST, 0, losses, NULL);
    assert_true(la != lc);
    assert_string_equal(c.th.last_log, "dataset " SUBSET ": 1000 molecules, split test 100 / "
                                       "val 100 / train 800 (seed 9), node features full");
    mtl_graph_destroy(g);
    close_task(&a);
    close_task(&b);
    close_task(&c);
}

/* node_features = pyg trains too (same shapes), and is reported at create. */
static void test_pyg_option(void **state)
{
    static const char *const pyg[] = {"node_features=pyg", NULL};
    task_run r;
    mtl_graph *g;
    mtl_tensor *losses[QM9_N_TASKS];

    (void)state;
    assert_int_equal(open_task(&r, pyg, 1), MTL_OK);
    assert_string_equal(r.th.last_log, "dataset " SUBSET ": 1000 molecules, split test 100 / "
                                       "val 100 / train 800 (seed 5), node features pyg");
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    begin(&r, MTL_SPLIT_TRAIN);
    assert_true(isfinite(forward(&r, g, MTL_SPLIT_TRAIN, 0, losses, NULL)));
    mtl_graph_destroy(g);
    close_task(&r);
}

/* ---- errors ----------------------------------------------------------------------- */

static void test_errors(void **state)
{
    static const char *const missing[] = {"data=no/such.mtlq", NULL};
    static const char *const too_big[] = {"test_size=500", "val_size=500", NULL};
    static const char *const huge[] = {"test_size=10000000", "val_size=10000000", NULL};
    static const char *const big_batch[] = {"train.batch_size=4611686018427387904", NULL};
    static const char *const empty[] = {"data=", NULL};
    static const char *const folder[] = {"data=" MTL_TEST_SOURCE_DIR "/experiments/qm9", NULL};
    static const char *const device[] = {"data=/dev/null", NULL};
    char want[1024];
    task_run r;
    int64_t n;
    mtl_graph *g;
    mtl_tensor *losses[QM9_N_TASKS];
    mtl_task_output out = {losses, NULL};

    (void)state;
    assert_int_equal(open_task(&r, missing, 1), MTL_ERR_DATA);
    assert_null(r.self);
    snprintf(want, sizeof want,
             "data: no QM9 dataset file 'no/such.mtlq' (looked in the current folder and in "
             "'%s'); make it once, in a few minutes, from the project's root: python3 -m pip "
             "install qm9pack rdkit numpy && python3 tools/qm9_prepare.py --out data/qm9.mtlq",
             MTL_TEST_SOURCE_DIR);
    assert_string_equal(mtl_error_message(), want);

    assert_int_equal(open_task(&r, too_big, 1), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "split: task.test_size + task.val_size leave no training molecule "
                        "(expected a sum below 1000, got 500 + 500)");

    assert_int_equal(open_task(&r, huge, 1), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "split: task.test_size + task.val_size leave no training molecule "
                        "(expected a sum below 1000, got 10000000 + 10000000)");
    assert_int_equal(open_task(&r, big_batch, 1), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "options: train.batch_size is larger than the dataset (expected at most "
                        "1000 molecules, got 4611686018427387904)");
    assert_int_equal(open_task(&r, empty, 1), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "data: task.data is an empty path (expected a .mtlq dataset file)");
    assert_int_equal(open_task(&r, folder, 1), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), "data: '" MTL_TEST_SOURCE_DIR
                                             "/experiments/qm9' is a directory (expected a .mtlq "
                                             "dataset file)");
    assert_int_equal(open_task(&r, device, 1), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(),
                        "data: '/dev/null' is not a regular file (expected a .mtlq dataset file)");

    assert_int_equal(open_task(&r, NULL, 1), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    assert_int_equal(plugin->forward(r.self, MTL_SPLIT_VAL, 0, 0, g, &out), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(),
                        "forward: split 1 has no pass under way (expected epoch_begin first)");
    assert_int_equal(plugin->epoch_begin(r.self, MTL_SPLIT_VAL, 0, &n), MTL_OK);
    assert_int_equal(plugin->forward(r.self, MTL_SPLIT_VAL, 2, 0, g, &out), MTL_ERR_INVALID);
    assert_string_equal(mtl_error_message(), "forward: no such batch (expected 0 to 1, got 2)");
    mtl_graph_destroy(g);
    close_task(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create),       cmocka_unit_test(test_batches),
        cmocka_unit_test(test_metric_units), cmocka_unit_test(test_training_lowers_loss),
        cmocka_unit_test(test_determinism),  cmocka_unit_test(test_pyg_option),
        cmocka_unit_test(test_errors),
    };

    return cmocka_run_group_tests_name("qm9 task", tests, setup, NULL);
}
