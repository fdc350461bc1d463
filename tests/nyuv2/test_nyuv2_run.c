/*
 * End-to-end: the NYUv2 task with the real architecture through mtlhost on
 * a tiny data folder in the MTAN layout (4 training and 2 test scenes of
 * 32 x 32), two epochs:
 *
 *   test_nyuv2_run METHOD [segnet]
 *
 * runs `mtlhost --method METHOD --task nyuv2 --set task.data=DIR ...` and
 * checks the run folder: two epochs in metrics.csv, and nyuv2_final.csv
 * averaging the two test evaluations.  While mtlhost or the method's plugin
 * is not built, the program exits with 77 (skipped).
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

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run)};
    char path[1024];
    int rc;

    if (argc < 2) {
        fprintf(stderr, "usage: test_nyuv2_run METHOD [segnet]\n");
        return 2;
    }
    method = argv[1];
    if (argc > 2)
        model = argv[2];
    snprintf(path, sizeof path, "%s/mtlhost", MTL_TEST_BINARY_DIR);
    if (!exists(path))
        return SKIP_CODE;
    snprintf(path, sizeof path, "%s/plugins/%s.so", MTL_TEST_BINARY_DIR, method);
    if (!exists(path))
        return SKIP_CODE;
    temp_dir(root, sizeof root, "run");
    rc = cmocka_run_group_tests_name("nyuv2 through mtlhost", tests, NULL, NULL);
    tree_remove(root);
    return rc;
}
