/*
 * End-to-end: the NYUv2 task with the real architecture through mtlhost on
 * a tiny data folder in the MTAN layout (4 training and 2 test scenes of
 * 32 x 32), two epochs:
 *
 *   test_nyuv2_run METHOD [MODEL [resume]]
 *
 * runs `mtlhost --method METHOD --task nyuv2 --set task.data=DIR ...` and
 * checks the run folder: two epochs in metrics.csv, and nyuv2_final.csv
 * averaging the two test evaluations.  With `resume`, a run of three epochs
 * is killed (SIGKILL, the host's MTL_TEST_KILL_AFTER_STEPS) in the middle of
 * its second epoch, resumed with --resume from its last checkpoint (taken
 * there), and must write the same nyuv2_final.csv, byte for byte, as
 * the same run uninterrupted: the task's state (the test metrics of past
 * epochs, the metrics of the pass under way) goes through state_save and
 * state_load.  While mtlhost or the method's plugin is not built, the
 * program exits with 77 (skipped).
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nyuv2_test.h"

#ifndef MTL_TEST_BINARY_DIR
#error "MTL_TEST_BINARY_DIR must be defined"
#endif

#define SKIP_CODE 77

static const char *method;
static const char *model = "mtan";
static int resume_mode;
static char root[256];

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[8192];
    size_t n;

    if (!f)
        return;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    print_error("--- %s ---\n%s\n", path, buf);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int n = 0;

    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n++;
    fclose(f);
    return n;
}

static void test_run(void **state)
{
    char cmd[2048], log[512], path[512], line[1024];
    FILE *f;
    int rc;

    (void)state;
    layout_write(root, 4, 2, 32, 32, 21, 0);
    snprintf(log, sizeof log, "%s/host.log", root);
    snprintf(cmd, sizeof cmd,
             "'%s/mtlhost' --method %s --task nyuv2 --set task.data='%s' --set task.model=%s "
             "--set train.epochs=2 --set output.figures=false --out '%s/out' >'%s' 2>&1",
             MTL_TEST_BINARY_DIR, method, root, model, root, log);
    print_message("nyuv2: %s\n", cmd);
    rc = system(cmd);
    if (rc != 0)
        print_file(log);
    assert_int_equal(rc, 0);

    /* a header and one row per epoch */
    snprintf(path, sizeof path, "%s/out/metrics.csv", root);
    assert_int_equal(count_lines(path), 3);

    /* the reported result: the mean of the two test evaluations (epochs 0 and 1) */
    snprintf(path, sizeof path, "%s/out/nyuv2_final.csv", root);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(strncmp(line, "trial,epochs_averaged,first_epoch,last_epoch,mIoU,", 50) == 0);
    assert_non_null(fgets(line, sizeof line, f));
    assert_true(strncmp(line, "0,2,0,1,", 8) == 0);
    assert_null(strstr(line, "nan"));
    fclose(f);
    snprintf(path, sizeof path, "%s/out/nyuv2_final.md", root);
    assert_true(exists(path));
}

/* A file's whole text, malloc'd. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 1 << 16);
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/*
 * Three epochs of two steps.  Killed: a checkpoint every 3 steps (and at the
 * end of epochs), so the kill after step 3 resumes from the middle of the
 * second epoch; uninterrupted: no checkpoint (they take seconds each).
 */
static int run_three_epochs(const char *out, int kill_after)
{
    char cmd[4096], log[1024];
    int rc;

    snprintf(log, sizeof log, "%s.log", out);
    snprintf(cmd, sizeof cmd,
             "%s'%s/mtlhost' --method %s --task nyuv2 --set task.data='%s' --set task.model=%s "
             "--set train.epochs=3 %s --set output.figures=false --out '%s' >'%s' 2>&1",
             kill_after > 0 ? "MTL_TEST_KILL_AFTER_STEPS=3 " : "", MTL_TEST_BINARY_DIR, method,
             root, model,
             kill_after > 0 ? "--set output.checkpoint_every=3" : "--set output.checkpoint=false",
             out, log);
    rc = system(cmd);
    if (rc != 0 && kill_after == 0)
        print_file(log);
    return rc;
}

static void test_resume(void **state)
{
    char ref[300], cut[300], cmd[4096], path[1024];
    char *a, *b;
    int rc;

    (void)state;
    layout_write(root, 4, 2, 32, 32, 22, 0);
    snprintf(ref, sizeof ref, "%s/ref", root);
    snprintf(cut, sizeof cut, "%s/cut", root);
    assert_int_equal(run_three_epochs(ref, 0), 0);
    assert_int_not_equal(run_three_epochs(cut, 3), 0);
    snprintf(path, sizeof path, "%s/nyuv2_final.csv", cut);
    assert_false(exists(path));

    snprintf(cmd, sizeof cmd, "'%s/mtlhost' --resume '%s' >'%s.resume.log' 2>&1",
             MTL_TEST_BINARY_DIR, cut, cut);
    rc = system(cmd);
    if (rc != 0) {
        snprintf(path, sizeof path, "%s.resume.log", cut);
        print_file(path);
    }
    assert_int_equal(rc, 0);

    snprintf(path, sizeof path, "%s/nyuv2_final.csv", ref);
    a = slurp(path);
    snprintf(path, sizeof path, "%s/nyuv2_final.csv", cut);
    b = slurp(path);
    if (strcmp(a, b) != 0)
        print_error("uninterrupted:\n%s\nresumed:\n%s\n", a, b);
    assert_string_equal(a, b);
    assert_true(strncmp(strchr(a, '\n') + 1, "0,3,0,2,", 8) == 0);
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run)};
    const struct CMUnitTest resume_tests[] = {cmocka_unit_test(test_resume)};
    char path[1024];
    int rc;

    if (argc < 2) {
        fprintf(stderr, "usage: test_nyuv2_run METHOD [MODEL [resume]]\n");
        return 2;
    }
    method = argv[1];
    if (argc > 2)
        model = argv[2];
    resume_mode = argc > 3 && strcmp(argv[3], "resume") == 0;
    snprintf(path, sizeof path, "%s/mtlhost", MTL_TEST_BINARY_DIR);
    if (!exists(path))
        return SKIP_CODE;
    snprintf(path, sizeof path, "%s/plugins/%s.so", MTL_TEST_BINARY_DIR, method);
    if (!exists(path))
        return SKIP_CODE;
    temp_dir(root, sizeof root, "run");
    if (resume_mode)
        rc = cmocka_run_group_tests_name("nyuv2 resumed through mtlhost", resume_tests, NULL, NULL);
    else
        rc = cmocka_run_group_tests_name("nyuv2 through mtlhost", tests, NULL, NULL);
    tree_remove(root);
    return rc;
}
