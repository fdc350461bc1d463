/*
 * End to end through the real host, on the committed subset:
 *
 *   test_qm9_run METHOD
 *
 * runs `mtlhost --method METHOD --task qm9` for one epoch of 4 batches of 50
 * molecules and checks the run folder: the results table has the 11 MAE
 * columns in their units (meV for the energies) and a finite test Delta_m,
 * metrics.csv has finite per-target test MAEs, and the training batches
 * written with task.write_batches are the ones the epoch ran.  Exits with 77
 * (skipped) while mtlhost or the method's plugin is not built.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MTL_TEST_BINARY_DIR
#error "MTL_TEST_BINARY_DIR must be defined"
#endif

#define SKIP_CODE 77
#define SUBSET    MTL_TEST_SOURCE_DIR "/experiments/qm9/data/qm9-subset-1000.mtlq"

static const char *method;
static char run_root[] = "/tmp/mtl_test_qm9_run_XXXXXX";

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = calloc(1, (size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

/* The index of `name` in the CSV header line, or -1. */
static int column(const char *header, const char *name)
{
    size_t len = strlen(name);
    int col = 0;

    for (const char *p = header; *p; col++) {
        if (strncmp(p, name, len) == 0 && (p[len] == ',' || p[len] == '\n'))
            return col;
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
    }
    return -1;
}

static double field(const char *line, int col)
{
    for (int i = 0; i < col && line; i++) {
        line = strchr(line, ',');
        if (line)
            line++;
    }
    return line ? strtod(line, NULL) : NAN;
}

static void run_host(void)
{
    char cmd[4096], log[512], *out;
    int rc;

    snprintf(log, sizeof log, "%s/host.log", run_root);
    snprintf(cmd, sizeof cmd,
             "'%s/mtlhost' --method %s --task qm9 --set task.data='%s' --set task.test_size=100 "
             "--set task.val_size=100 --set train.batch_size=50 --set train.epochs=1 --set "
             "task.max_train_batches=4 --set task.write_batches=true --set output.figures=false "
             "--out '%s/out' >'%s' 2>&1",
             MTL_TEST_BINARY_DIR, method, SUBSET, run_root, log);
    print_message("qm9: %s\n", cmd);
    rc = system(cmd);
    out = slurp(log);
    if (rc != 0 || !strstr(out ? out : "", "epoch 1/1"))
        print_error("--- the host's output ---\n%s\n", out ? out : "(none)");
    free(out);
    assert_int_equal(rc, 0);
}

static void test_run(void **state)
{
    static const char *const units[] = {"mu D",    "alpha a0^3", "homo meV",    "lumo meV",
                                        "r2 a0^2", "zpve meV",   "U0 meV",      "U meV",
                                        "H meV",   "G meV",      "cv cal/mol/K"};
    char path[1024], *text, *row;
    int delta;

    (void)state;
    run_host();

    snprintf(path, sizeof path, "%s/out/results.md", run_root);
    text = slurp(path);
    assert_non_null(text);
    for (int t = 0; t < 11; t++)
        assert_non_null(strstr(text, units[t]));
    free(text);

    snprintf(path, sizeof path, "%s/out/metrics.csv", run_root);
    text = slurp(path);
    assert_non_null(text);
    row = strchr(text, '\n') + 1;
    delta = column(text, "test_delta_m");
    assert_true(delta > 0);
    print_message("qm9: %s, 4 steps: test Delta_m %.1f %%, homo MAE %.1f meV\n", method,
                  field(row, delta), field(row, column(text, "test_homo")));
    assert_true(isfinite(field(row, delta)));
    assert_true(field(row, column(text, "steps")) == 4);
    /* homo's MAE in meV: hundreds (in eV it would be under 1). */
    assert_true(field(row, column(text, "test_homo")) > 50);
    free(text);

    /* 4 batches of 50 training molecules, each listed once. */
    snprintf(path, sizeof path, "%s/out/qm9_train_batches.csv", run_root);
    text = slurp(path);
    assert_non_null(text);
    {
        int rows = 0;
        for (const char *p = strchr(text, '\n') + 1; *p; p = strchr(p, '\n') + 1)
            rows++;
        assert_int_equal(rows, 200);
        assert_memory_equal(text, "epoch,batch,molecule,gdb_id\n0,0,", 32);
    }
    free(text);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run)};
    char need[1024], cmd[1200];
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: test_qm9_run METHOD\n");
        return 2;
    }
    method = argv[1];
    snprintf(need, sizeof need, "%s/mtlhost", MTL_TEST_BINARY_DIR);
    if (!exists(need)) {
        printf("skipped: %s is not built yet\n", need);
        return SKIP_CODE;
    }
    snprintf(need, sizeof need, "%s/plugins/%s.so", MTL_TEST_BINARY_DIR, method);
    if (!exists(need)) {
        printf("skipped: %s is not built yet\n", need);
        return SKIP_CODE;
    }
    if (!mkdtemp(run_root)) {
        perror("mkdtemp");
        return 1;
    }
    rc = cmocka_run_group_tests_name("qm9_run", tests, NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_root);
    if (system(cmd) != 0)
        fprintf(stderr, "test_qm9_run: could not remove %s\n", run_root);
    return rc;
}
