/*
 * End-to-end runs of the toy through the real host:
 *
 *   test_toy_run METHOD STEPS decrease   every start's l1 + l2 went down
 *   test_toy_run METHOD STEPS front      every start ended on the Pareto front
 *
 * runs `mtlhost --method METHOD --task toy --set task.steps=STEPS --out DIR`
 * and reads DIR's toy_trajectories.csv and toy_final.csv.  While mtlhost or
 * the method's plugin is not built, the program exits with 77, which ctest
 * reports as skipped (SKIP_RETURN_CODE).
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
#include <sys/stat.h>
#include <unistd.h>

#ifndef MTL_TEST_BINARY_DIR
#error "MTL_TEST_BINARY_DIR must be defined"
#endif

#define SKIP_CODE 77
#define N_STARTS  5

/* The Pareto front is the segment x1 in [-7, 7] at x2 = -8.3552 (REFERENCE.md). */
#define FRONT_X2  -8.3552
#define FRONT_TOL 0.05

static const char *method;
static long steps;
static int want_front;
static char run_root[] = "/tmp/mtl_test_toy_run_XXXXXX";

/* First and last recorded point of each start. */
typedef struct trace_ends {
    int rows;
    long long last_step;
    double first[4], last[4]; /* x1, x2, l1, l2 */
} trace_ends;

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Finds `name` in dir or its subfolders (the host may make a run folder). */
static int find_file(const char *dir, const char *name, char *out, size_t cap, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;

    if (!d)
        return 0;
    snprintf(out, cap, "%s/%s", dir, name);
    if (exists(out)) {
        closedir(d);
        return 1;
    }
    while (!found && depth > 0 && (e = readdir(d))) {
        char sub[1024];
        struct stat st;

        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            found = find_file(sub, name, out, cap, depth - 1);
    }
    closedir(d);
    return found;
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char sub[1024];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(dir);
}

static void print_file_tail(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n;

    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    fseek(f, ftell(f) > 3000 ? -3000 : 0, ftell(f) > 3000 ? SEEK_END : SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    print_error("--- end of the host's output ---\n%s\n", buf);
}

static void run_host(void)
{
    char cmd[2048], log[512];
    int rc;

    snprintf(log, sizeof log, "%s/host.log", run_root);
    snprintf(cmd, sizeof cmd,
             "'%s/mtlhost' --method %s --task toy --set task.steps=%ld --out '%s/out' >'%s' 2>&1",
             MTL_TEST_BINARY_DIR, method, steps, run_root, log);
    print_message("toy: %s\n", cmd);
    rc = system(cmd);
    if (rc != 0)
        print_file_tail(log);
    assert_int_equal(rc, 0);
}

static void read_trajectories(trace_ends ends[N_STARTS])
{
    char path[1024], line[512];
    FILE *f;

    assert_true(find_file(run_root, "toy_trajectories.csv", path, sizeof path, 3));
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "start,step,x1,x2,l1,l2\n");
    memset(ends, 0, N_STARTS * sizeof ends[0]);
    while (fgets(line, sizeof line, f)) {
        int s;
        long long step;
        double v[4];

        assert_int_equal(
            sscanf(line, "%d,%lld,%lf,%lf,%lf,%lf", &s, &step, &v[0], &v[1], &v[2], &v[3]), 6);
        assert_true(s >= 0 && s < N_STARTS);
        for (int i = 0; i < 4; i++)
            assert_true(isfinite(v[i]));
        if (ends[s].rows == 0)
            memcpy(ends[s].first, v, sizeof v);
        else
            assert_true(step > ends[s].last_step);
        memcpy(ends[s].last, v, sizeof v);
        ends[s].last_step = step;
        ends[s].rows++;
    }
    fclose(f);
}

static void test_run(void **state)
{
    trace_ends ends[N_STARTS];
    char path[1024];

    (void)state;
    run_host();
    read_trajectories(ends);
    assert_true(find_file(run_root, "toy_final.csv", path, sizeof path, 3));

    for (int s = 0; s < N_STARTS; s++) {
        const double *a = ends[s].first, *b = ends[s].last;

        print_message("toy: %s start %d (%g, %g): x = (%.4f, %.4f), losses (%.4f, %.4f) after "
                      "%lld steps\n",
                      method, s, a[0], a[1], b[0], b[1], b[2], b[3], ends[s].last_step);
        assert_true(ends[s].rows >= 2);
        assert_int_equal(ends[s].last_step, steps);
        if (want_front) {
            assert_true(fabs(b[1] - FRONT_X2) <= FRONT_TOL);
            assert_true(b[0] >= -7.0 - FRONT_TOL && b[0] <= 7.0 + FRONT_TOL);
        } else {
            assert_true(b[2] + b[3] < a[2] + a[3]);
        }
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_run)};
    char need[1024];
    int rc;

    if (argc != 4 || (strcmp(argv[3], "decrease") != 0 && strcmp(argv[3], "front") != 0)) {
        fprintf(stderr, "usage: test_toy_run METHOD STEPS decrease|front\n");
        return 2;
    }
    method = argv[1];
    steps = strtol(argv[2], NULL, 10);
    want_front = strcmp(argv[3], "front") == 0;

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
    rc = cmocka_run_group_tests_name("toy_run", tests, NULL, NULL);
    remove_tree(run_root);
    return rc;
}
