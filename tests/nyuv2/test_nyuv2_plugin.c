/*
 * The nyuv2 task plugin through the stand-in host (tests/support): its
 * declaration (tasks, metrics with baselines, defaults), the refusals of
 * create() with their exact messages, the passes over the splits (batches,
 * the optional validation hold-out), training steps where the loss falls,
 * the metrics of a test pass, and the files trial_end() writes.
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

#include "nyuv2_test.h"
#include "test_host.h"

#define H 32
#define W 32

static const mtl_task_plugin *tp;
static char root[256];
static char data_opt[300];
static char msg[2048];

static int setup(void **state)
{
    (void)state;
    tp = mtl_test_load_task("nyuv2");
    temp_dir(root, sizeof root, "plugin");
    layout_write(root, 4, 2, H, W, 9, 0);
    snprintf(data_opt, sizeof data_opt, "data=%s", root);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tree_remove(root);
    return 0;
}

/* The host's keys the plugin reads, as the task's defaults set them. */
static void host_init(mtl_test_host *th, const char *const *extra)
{
    const char *over[MTL_TEST_MAX_OVERRIDES];
    size_t n = 0;

    for (size_t i = 0; tp->defaults[i]; i++)
        over[n++] = tp->defaults[i];
    over[n++] = data_opt;
    for (size_t i = 0; extra && extra[i]; i++)
        over[n++] = extra[i];
    over[n] = NULL;
    mtl_test_host_init(th, tp->options, tp->n_options, over, 1);
}

static mtl_status create(mtl_test_host *th, const char *const *extra, void **self,
                         mtl_task_info *info)
{
    host_init(th, extra);
    memset(info, 0, sizeof *info);
    return tp->create(&th->host, self, info);
}

static void expect_create_error(const char *const *extra, mtl_status want, const char *message)
{
    mtl_test_host th;
    mtl_task_info info;
    void *self = NULL;
    mtl_status st = create(&th, extra, &self, &info);

    if (st != want || strcmp(mtl_error_message(), message) != 0)
        print_error("got %d: %s\nexpected %d: %s\n", (int)st, mtl_error_message(), (int)want,
                    message);
    assert_int_equal(st, want);
    assert_string_equal(mtl_error_message(), message);
    assert_null(self);
}

/* ---- declaration ------------------------------------------------------------ */

static void test_declaration(void **state)
{
    static const char *const want_defaults[] = {
        "train.epochs=200",     "train.lr=1e-4",       "train.batch_size=2", "train.weight_decay=0",
        "train.scheduler=step", "train.step_size=100", "train.gamma=0.5",    NULL};
    static const double baselines[NYU_N_METRICS] = {0.3830, 0.6376, 0.6754, 0.2780, 25.01,
                                                    19.21,  0.3014, 0.5720, 0.6915};
    static const int higher[NYU_N_METRICS] = {1, 1, 0, 0, 0, 0, 1, 1, 1};
    mtl_test_host th;
    mtl_task_info info;
    void *self;

    (void)state;
    assert_string_equal(tp->name, "nyuv2");
    for (int i = 0; want_defaults[i]; i++)
        assert_string_equal(tp->defaults[i], want_defaults[i]);
    assert_int_equal(create(&th, NULL, &self, &info), MTL_OK);
    assert_int_equal(info.n_tasks, 3);
    assert_string_equal(info.task_names[0], "segmentation");
    assert_string_equal(info.task_names[1], "depth");
    assert_string_equal(info.task_names[2], "normal");
    assert_int_equal(info.n_metrics, NYU_N_METRICS);
    for (int j = 0; j < NYU_N_METRICS; j++) {
        assert_true(info.metrics[j].baseline == baselines[j]);
        assert_int_equal(info.metrics[j].higher_is_better, higher[j]);
        assert_int_equal(info.metrics[j].task, j < 2 ? 0 : j < 4 ? 1 : 2);
    }
    assert_string_equal(info.metrics[0].name, "mIoU");
    assert_non_null(info.model);
    assert_int_equal(info.n_trials, 1);
    assert_int_equal(th.log_count, 1);
    assert_string_equal(th.last_log,
                        "4 training scenes (0 held out as validation), 2 test scenes, 32 x 32; "
                        "model SegNet-MTAN, 44.2 M parameters; augmentation on");
    tp->destroy(self);
}

/* ---- refusals ------------------------------------------------------------------ */

static void test_create_refusals(void **state)
{
    char dir[256], other[300];
    const char *missing[] = {other, NULL};
    const char *one_side[] = {"height=64", NULL};
    const char *odd[] = {"height=48", "width=64", NULL};
    const char *too_many[] = {"val_scenes=4", NULL};
    const char *empty[] = {"data=", NULL};
    const char *big_batch[] = {"train.batch_size=288230376151711744", NULL};

    (void)state;
    snprintf(other, sizeof other, "data=%s/nowhere", root);
    snprintf(msg, sizeof msg,
             "data: no NYUv2 data at '%s/nowhere': cannot open '%s/nowhere/train/image': No such "
             "file or directory (expected the MTAN layout %s/nowhere/{train,val}/{image,label,"
             "depth,normal}/<i>.npy; NYUv2 has no offline source: place the files there, see "
             "experiments/nyuv2/README.md)",
             root, root, root);
    expect_create_error(missing, MTL_ERR_DATA, msg);

    expect_create_error(empty, MTL_ERR_CONFIG,
                        "options: task.data is empty (expected the folder of the MTAN-prepared "
                        "NYUv2; see experiments/nyuv2/README.md)");
    expect_create_error(one_side, MTL_ERR_CONFIG,
                        "options: bad task.height and task.width: only one is set (expected both "
                        "0 or both multiples of 32, got 64 x 0)");
    expect_create_error(odd, MTL_ERR_CONFIG,
                        "options: bad task.height and task.width: not multiples of 32 (expected "
                        "sizes the five 2 x 2 poolings divide, got 48 x 64)");
    expect_create_error(too_many, MTL_ERR_CONFIG,
                        "options: bad task.val_scenes: no training scene would be left (expected "
                        "at most 3, got 4)");
    expect_create_error(big_batch, MTL_ERR_CONFIG,
                        "options: train.batch_size is larger than the dataset (expected at most 4 "
                        "scenes, got 288230376151711744)");

    /* scenes of 24 x 32 do not fit the model, unless resized */
    temp_dir(dir, sizeof dir, "small");
    layout_write(dir, 2, 1, 24, 32, 3, 0);
    snprintf(other, sizeof other, "data=%s", dir);
    expect_create_error(missing, MTL_ERR_DATA,
                        "data: scenes of 24 x 32 are not multiples of 32 (expected sizes the "
                        "model's five 2 x 2 poolings divide, as 288 x 384; set task.height and "
                        "task.width to resize them)");
    {
        const char *resized[] = {other, "height=32", "width=64", "model=segnet", NULL};
        mtl_test_host th;
        mtl_task_info info;
        void *self;

        assert_int_equal(create(&th, resized, &self, &info), MTL_OK);
        assert_non_null(strstr(th.last_log, "32 x 64 (resized from the files' size)"));
        tp->destroy(self);
    }
    tree_remove(dir);

    /*
     * A label that is not a class in a test scene: found when the task starts
     * (every scene is read once), or only when that scene loads with
     * check_values=false.
     */
    temp_dir(dir, sizeof dir, "values");
    layout_write(dir, 2, 2, H, W, 5, 0);
    {
        static float labels[H * W];
        const npy_spec spec = {1, "<f4", 0, 2, {H, W}};
        const char *unchecked[] = {other, "check_values=false", NULL};
        char path[512];
        mtl_test_host th;
        mtl_task_info info;
        void *self;

        labels[7] = 13.0f;
        snprintf(path, sizeof path, "%s/val/label/1.npy", dir);
        npy_write(path, &spec, labels, H * W, 0);
        snprintf(other, sizeof other, "data=%s", dir);
        snprintf(msg, sizeof msg,
                 "data: '%s': element 7 is not a class (expected an integer in [-1, 12], got "
                 "13)",
                 path);
        expect_create_error(missing, MTL_ERR_DATA, msg);
        assert_int_equal(create(&th, unchecked, &self, &info), MTL_OK);
        tp->destroy(self);
    }
    tree_remove(dir);
}

/* ---- passes ---------------------------------------------------------------------- */

static void test_passes(void **state)
{
    /* the split SegNet: the passes do not depend on the model, and it is built faster */
    const char *plain[] = {"model=segnet", NULL};
    const char *hold[] = {"model=segnet", "val_scenes=1", "max_eval_batches=1", NULL};
    mtl_test_host th;
    mtl_task_info info;
    void *self;
    int64_t n;

    (void)state;
    assert_int_equal(create(&th, plain, &self, &info), MTL_OK);
    assert_non_null(strstr(th.last_log, "model split SegNet, 25.1 M parameters"));
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_TRAIN, 0, &n), MTL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_VAL, 0, &n), MTL_OK);
    assert_int_equal(n, 0); /* no validation split, as the reference */
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_TEST, 0, &n), MTL_OK);
    assert_int_equal(n, 1);
    tp->destroy(self);

    /* 3 training scenes: batches of 2 and 1; one validation scene */
    assert_int_equal(create(&th, hold, &self, &info), MTL_OK);
    assert_non_null(strstr(th.last_log, "3 training scenes (1 held out as validation)"));
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_TRAIN, 0, &n), MTL_OK);
    assert_int_equal(n, 2);
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_VAL, 0, &n), MTL_OK);
    assert_int_equal(n, 1);
    tp->destroy(self);
}

/* ---- training ----------------------------------------------------------------------- */

/* One step of LS through the plugin: forward, one backward of the sum, Adam. */
static double train_step(void *self, mtl_graph *g, mtl_model *model, mtl_adam *adam, int64_t b)
{
    mtl_tensor *losses[3];
    mtl_task_output out = {losses, NULL};
    const float ones[3] = {1, 1, 1};
    double sum = 0;

    mtl_graph_reset(g);
    assert_int_equal(tp->forward(self, MTL_SPLIT_TRAIN, b, 1, g, &out), MTL_OK);
    assert_non_null(out.rep);
    for (int t = 0; t < 3; t++) {
        assert_true(isfinite(mtl_tensor_item(losses[t])));
        sum += mtl_tensor_item(losses[t]);
    }
    mtl_model_zero_grad(model);
    assert_int_equal(mtl_graph_backward(g, 3, losses, ones), MTL_OK);
    assert_int_equal(mtl_adam_step(adam), MTL_OK);
    return sum;
}

static void test_training_and_metrics(void **state)
{
    /*
     * Two scenes held out as validation leave one training batch of the other
     * two; without augmentation the loss of that batch must fall.
     */
    const char *extra[] = {"augment=false", "val_scenes=2", "train.epochs=4", NULL};
    mtl_test_host th;
    mtl_task_info info;
    mtl_adam_config cfg = mtl_adam_defaults();
    mtl_adam *adam;
    mtl_graph *g;
    mtl_tensor **params;
    size_t np;
    int group;
    void *self;
    double first = 0, last = 0, v[NYU_N_METRICS];
    int64_t n;
    char dir[256], path[512];
    FILE *f;

    (void)state;
    assert_int_equal(create(&th, extra, &self, &info), MTL_OK);
    assert_int_equal(tp->trial_begin(self, 0), MTL_OK);
    np = mtl_model_n_params(info.model);
    params = malloc(np * sizeof *params);
    for (size_t i = 0; i < np; i++)
        params[i] = mtl_model_param_at(info.model, i);
    cfg.lr = 1e-3;
    assert_int_equal(mtl_adam_create(&adam), MTL_OK);
    assert_int_equal(mtl_adam_add_group(adam, &cfg, np, params, &group), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);

    for (int step = 0; step < 4; step++) {
        double loss;

        assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_TRAIN, step, &n), MTL_OK);
        assert_int_equal(n, 1);
        loss = train_step(self, g, info.model, adam, 0);
        print_message("  step %d: summed loss %.4f\n", step, loss);
        if (step == 0)
            first = loss;
        last = loss;
    }
    assert_true(last < first);

    /* training metrics of the last pass, then a test pass in evaluation mode */
    assert_int_equal(tp->metrics(self, MTL_SPLIT_TRAIN, v), MTL_OK);
    assert_true(v[1] >= 0 && v[1] <= 1);
    assert_int_equal(tp->epoch_begin(self, MTL_SPLIT_TEST, 3, &n), MTL_OK);
    assert_int_equal(n, 1);
    {
        mtl_tensor *losses[3];
        mtl_task_output out = {losses, NULL};

        mtl_graph_reset(g);
        mtl_graph_set_recording(g, 0);
        assert_int_equal(tp->forward(self, MTL_SPLIT_TEST, 0, 0, g, &out), MTL_OK);
        mtl_graph_reset(g);
    }
    assert_int_equal(tp->metrics(self, MTL_SPLIT_TEST, v), MTL_OK);
    for (int j = 0; j < NYU_N_METRICS; j++)
        assert_true(isfinite(v[j]));
    assert_true(v[0] >= 0 && v[0] <= 1 && v[1] >= 0 && v[1] <= 1);
    assert_true(v[4] >= 0 && v[4] <= 180 && v[6] <= v[7] && v[7] <= v[8]);

    /* trial_end: the average of the last epochs, here the one test pass (epoch 3) */
    temp_dir(dir, sizeof dir, "run");
    th.host.run_dir = dir;
    assert_int_equal(tp->trial_end(self, 0), MTL_OK);
    snprintf(path, sizeof path, "%s/nyuv2_final.csv", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(msg, sizeof msg, f));
    assert_string_equal(msg, "trial,epochs_averaged,first_epoch,last_epoch,mIoU,pix_acc,abs_err,"
                             "rel_err,angle_mean,angle_median,within_11.25,within_22.5,"
                             "within_30,delta_m\n");
    assert_non_null(fgets(msg, sizeof msg, f));
    assert_true(strncmp(msg, "0,1,3,3,", 8) == 0);
    fclose(f);
    snprintf(path, sizeof path, "%s/nyuv2_final.md", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    fclose(f);
    tree_remove(dir);

    mtl_graph_destroy(g);
    mtl_adam_destroy(adam);
    free(params);
    tp->destroy(self);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_declaration),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_passes),
        cmocka_unit_test(test_training_and_metrics),
    };

    return cmocka_run_group_tests_name("nyuv2 plugin", tests, setup, teardown);
}
