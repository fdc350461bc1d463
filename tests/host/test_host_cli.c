/*
 * mtlhost as users meet it, run as a subprocess: every loader and
 * configuration error with its exact one-line message and exit status,
 * listing, precedence of values, the resolved config.ini, skipped steps,
 * solver failures, determinism and the run directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <elf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host_harness.h"
#include "mtl/method.h"
#include "mtl/version.h"

#ifndef MTL_INSTALL_PLUGINDIR
#define MTL_INSTALL_PLUGINDIR "lib/mtl/plugins"
#endif

#define RUN(r, pp, ...)                                                                            \
    do {                                                                                           \
        const char *const args_[] = {__VA_ARGS__, NULL};                                           \
        hh_run(r, pp, NULL, args_);                                                                \
    } while (0)

static char bin_dir[PATH_MAX];
static char good[PATH_MAX];
static char broken[PATH_MAX];

/* The folders searched for a plugin name, as the host prints them. */
static void search_path(char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s, %s/plugins, %s/../lib/mtl/plugins", good, bin_dir, bin_dir);

    if (strcmp(MTL_INSTALL_PLUGINDIR, "lib/mtl/plugins") != 0)
        snprintf(buf + n, cap - (size_t)n, ", %s/../%s", bin_dir, MTL_INSTALL_PLUGINDIR);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", hh_tmpdir(), name);
}

/* Exit status `code` and exactly `line` (plus its newline) on stderr. */
static void expect_error(hh_result *r, int code, const char *line)
{
    char want[4096];

    snprintf(want, sizeof want, "%s\n", line);
    assert_string_equal(r->err, want);
    assert_int_equal(r->code, code);
    hh_free(r);
}

/* ---- version, help, usage --------------------------------------------- */

static void test_version(void **state)
{
    hh_result r;
    char want[128];

    (void)state;
    RUN(&r, NULL, "--version");
    snprintf(want, sizeof want, "mtlhost %s (ABI %d.%d)\n", MTL_VERSION_STRING, MTL_ABI_MAJOR,
             MTL_ABI_MINOR);
    assert_string_equal(r.out, want);
    assert_string_equal(r.err, "");
    assert_int_equal(r.code, 0);
    hh_free(&r);
}

static void test_help_lists_host_keys(void **state)
{
    hh_result r;

    (void)state;
    RUN(&r, NULL, "--help");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "usage: mtlhost --method NAME|PATH --task NAME|PATH"));
    assert_non_null(strstr(r.out, "[train] keys:\n  epochs "));
    assert_non_null(strstr(r.out, "\n  max_bad_steps  consecutive skipped (non-finite) steps"));
    assert_non_null(strstr(r.out, "[output] keys:\n  dir "));
    hh_free(&r);
}

static void test_usage_errors(void **state)
{
    hh_result r;

    (void)state;
    RUN(&r, good, "--seed", "1");
    expect_error(&r, 2,
                 "mtlhost: usage: missing --method (expected --method NAME|PATH and --task "
                 "NAME|PATH; see mtlhost --help)");
    RUN(&r, good, "--method", "fx_weights");
    expect_error(&r, 2,
                 "mtlhost: usage: missing --task (expected --method NAME|PATH and --task "
                 "NAME|PATH; see mtlhost --help)");
    RUN(&r, good, "--metod", "fx_weights");
    expect_error(&r, 2,
                 "mtlhost: usage: unknown option: --metod (expected an option of mtlhost --help; "
                 "did you mean '--method'?)");
    RUN(&r, good, "--method", "a", "--seed");
    expect_error(&r, 2, "mtlhost: usage: missing value: --seed (expected --seed N)");
    RUN(&r, good, "train.lr=1");
    expect_error(&r, 2,
                 "mtlhost: usage: unexpected argument: train.lr=1 (expected options only; see "
                 "mtlhost --help)");
    RUN(&r, good, "--method", "a", "--method=b");
    expect_error(&r, 2, "mtlhost: usage: --method given twice (expected once, got 'a' and 'b')");
    RUN(&r, good, "--method", "--task", "fx_linear");
    expect_error(&r, 2,
                 "mtlhost: usage: --method needs a value (expected --method NAME|PATH, got option "
                 "'--task'; write --method=VALUE for a value starting with '--')");
    RUN(&r, good, "--out", "--seed", "3");
    expect_error(&r, 2,
                 "mtlhost: usage: --out needs a value (expected --out DIR, got option '--seed'; "
                 "write --out=VALUE for a value starting with '--')");
    RUN(&r, good, "--method", "", "--task", "fx_linear");
    expect_error(&r, 2,
                 "mtlhost: usage: --method: empty plugin name (expected --method NAME|PATH, got "
                 "'')");
    RUN(&r, good, "--config=", "--task", "fx_linear");
    expect_error(&r, 2,
                 "mtlhost: usage: --config: empty path (expected --config FILE.ini, got '')");
    RUN(&r, good, "--help=yes");
    expect_error(&r, 2,
                 "mtlhost: usage: --help takes no value (expected --help, got '--help=yes')");
}

/* ---- the loader ------------------------------------------------------- */

static void expect_load_error(const char *method, const char *task, const char *line)
{
    hh_result r;
    char out[PATH_MAX];

    tmp_path(out, sizeof out, "never");
    RUN(&r, good, "--method", method, "--task", task, "--out", out);
    expect_error(&r, 2, line);
    assert_false(hh_exists(out));
}

static void test_loader_missing(void **state)
{
    char msg[8192], search[4096];

    (void)state;
    expect_load_error("/nonexistent/x.so", "fx_linear",
                      "mtlhost: loader: plugin not found: /nonexistent/x.so (expected an existing "
                      "file)");
    search_path(search, sizeof search);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: method plugin not found: fx_weight (expected fx_weight.so in %s; "
             "did you mean 'fx_weights'?)",
             search);
    expect_load_error("fx_weight", "fx_linear", msg);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: task plugin not found: qqqqqqqq (expected qqqqqqqq.so in %s)",
             search);
    expect_load_error("fx_weights", "qqqqqqqq", msg);
    /* A long path is shortened in the message, which keeps its reason. */
    {
        static char longpath[2048];
        hh_result r;
        size_t n = 0;
        for (int i = 0; i < 6; i++) {
            longpath[n++] = '/';
            memset(longpath + n, 'a' + i, 250);
            n += 250;
        }
        snprintf(longpath + n, sizeof longpath - n, "/x.so");
        RUN(&r, good, "--method", longpath, "--task", "fx_linear");
        assert_int_equal(r.code, 2);
        assert_non_null(strstr(r.err, "ffffff/x.so (expected an existing file)\n"));
        assert_true(strlen(r.err) < 400);
        hh_free(&r);
    }
}

static void test_loader_not_shared_object(void **state)
{
    char path[PATH_MAX], msg[8192];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_text.so", broken);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: not a shared object: %s (expected an ELF shared object, got a file "
             "without an ELF header)",
             path);
    expect_load_error(path, "fx_linear", msg);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: not a shared object: %s (expected an ELF shared object, got a "
             "directory)",
             broken);
    expect_load_error(broken, "fx_linear", msg);
}

/* A copy of fx_weights.so cut to `size` bytes, in its own folder; its ELF header in *eh. */
static void cut_copy(char *path, size_t cap, const char *dir_name, size_t size, Elf64_Ehdr *eh)
{
    char src[PATH_MAX], dir[PATH_MAX];
    FILE *in, *out;
    size_t n;
    static char bytes[1 << 20];

    snprintf(src, sizeof src, "%s/fx_weights.so", good);
    tmp_path(dir, sizeof dir, dir_name);
    mkdir(dir, 0755);
    snprintf(path, cap, "%s/fx_cut.so", dir);
    in = fopen(src, "rb");
    assert_non_null(in);
    n = fread(bytes, 1, sizeof bytes, in);
    fclose(in);
    assert_true(n >= sizeof *eh && n < sizeof bytes);
    memcpy(eh, bytes, sizeof *eh);
    out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, size < n ? size : n, out), size < n ? size : n);
    fclose(out);
}

/* dlopen of a file cut short faults (SIGBUS); the loader checks the ELF ranges first. */
static void test_loader_truncated(void **state)
{
    char path[PATH_MAX], msg[8192];
    Elf64_Ehdr eh;
    hh_result r;

    (void)state;
    cut_copy(path, sizeof path, "cut_headers", 64, &eh);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: truncated or corrupt shared object: %s: the program header table "
             "ends past the end of the file (expected a file of at least %llu bytes, got 64)",
             path, (unsigned long long)(eh.e_phoff + eh.e_phnum * sizeof(Elf64_Phdr)));
    expect_load_error(path, "fx_linear", msg);
    cut_copy(path, sizeof path, "cut_sections", (size_t)eh.e_shoff, &eh);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: truncated or corrupt shared object: %s: the section header table "
             "ends past the end of the file (expected a file of at least %llu bytes, got %llu)",
             path,
             (unsigned long long)(eh.e_shoff + (unsigned long long)eh.e_shnum * eh.e_shentsize),
             (unsigned long long)eh.e_shoff);
    expect_load_error(path, "fx_linear", msg);
    /* Listing names the reason for that file and goes on. */
    snprintf(path, sizeof path, "%s/cut_sections:%s", hh_tmpdir(), good);
    RUN(&r, path, "--list-methods");
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "  fx_cut         rejected: loader: truncated or corrupt"));
    assert_non_null(strstr(r.out, "fx_weights"));
    hh_free(&r);
}

static void test_loader_no_entry(void **state)
{
    char path[PATH_MAX], msg[8192];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_noentry.so", broken);
    snprintf(msg, sizeof msg, "mtlhost: loader: no entry symbol: %s (expected mtl_method_entry)",
             path);
    expect_load_error(path, "fx_linear", msg);
    snprintf(msg, sizeof msg, "mtlhost: loader: no entry symbol: %s (expected mtl_task_entry)",
             path);
    expect_load_error("fx_weights", path, msg);
}

static void test_loader_abi_major(void **state)
{
    char path[PATH_MAX], msg[8192];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_abi2.so", broken);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: incompatible plugin ABI: %s: built for ABI 2.0, this host is ABI "
             "%d.%d (expected major %d, got 2)",
             path, MTL_ABI_MAJOR, MTL_ABI_MINOR, MTL_ABI_MAJOR);
    expect_load_error(path, "fx_linear", msg);
}

static void test_loader_struct_too_small(void **state)
{
    char path[PATH_MAX], msg[8192];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_small.so", broken);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: plugin struct too small: %s (expected at least %zu bytes, got 16)",
             path, sizeof(mtl_method_plugin));
    expect_load_error(path, "fx_linear", msg);
}

static void test_loader_wrong_kind(void **state)
{
    char msg[8192];

    (void)state;
    snprintf(msg, sizeof msg,
             "mtlhost: loader: wrong plugin kind: %s/fx_linear.so is a task plugin (expected a "
             "method plugin exporting mtl_method_entry)",
             good);
    expect_load_error("fx_linear", "fx_linear", msg);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: wrong plugin kind: %s/fx_weights.so is a method plugin (expected a "
             "task plugin exporting mtl_task_entry)",
             good);
    expect_load_error("fx_weights", "fx_weights", msg);
}

static void test_loader_create_failed(void **state)
{
    char path[PATH_MAX];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_failcreate.so", broken);
    expect_load_error(path, "fx_linear",
                      "mtlhost: fx_failcreate: create failed: fixture: create refused on purpose "
                      "(expected success, got a fixture built to fail)");
}

static void test_loader_bad_option_declaration(void **state)
{
    char path[PATH_MAX], msg[8192];

    (void)state;
    snprintf(path, sizeof path, "%s/fx_badopt.so", broken);
    snprintf(msg, sizeof msg,
             "mtlhost: loader: bad option declaration: %s: option 'alpha': bad default (expected "
             "a finite number, got 'abc')",
             path);
    expect_load_error(path, "fx_linear", msg);
}

static void test_list(void **state)
{
    char both[2 * PATH_MAX + 2], line[8192];
    hh_result r;

    (void)state;
    snprintf(both, sizeof both, "%s:%s", good, broken);
    RUN(&r, both, "--list-methods");
    assert_int_equal(r.code, 0);
    assert_string_equal(r.err, "");
    assert_true(hh_has_line(
        r.out, "  fx_weights     1.0      ABI 1.0  host test method: the weights it is told"));
    snprintf(line, sizeof line,
             "  fx_abi2        rejected: loader: incompatible plugin ABI: %s/fx_abi2.so: built for "
             "ABI 2.0, this host is ABI %d.%d (expected major %d, got 2)",
             broken, MTL_ABI_MAJOR, MTL_ABI_MINOR, MTL_ABI_MAJOR);
    assert_true(hh_has_line(r.out, line));
    snprintf(line, sizeof line,
             "  fx_text        rejected: loader: not a shared object: %s/fx_text.so (expected an "
             "ELF shared object, got a file without an ELF header)",
             broken);
    assert_true(hh_has_line(r.out, line));
    assert_null(strstr(r.out, "fx_linear"));
    hh_free(&r);

    RUN(&r, both, "--list-tasks");
    assert_int_equal(r.code, 0);
    assert_true(hh_has_line(
        r.out, "  fx_linear      1.0      ABI 1.0  host test task: a linear model with closed-form "
               "gradients"));
    assert_true(hh_has_line(r.out, line));
    assert_null(strstr(r.out, "fx_weights"));
    assert_null(strstr(r.out, "fx_abi2"));
    hh_free(&r);

    /* Two files with one plugin name: the one whose file is not its name shows its path. */
    {
        char twin[PATH_MAX], dirs[2 * PATH_MAX + 2], want[8192];
        Elf64_Ehdr eh;
        cut_copy(twin, sizeof twin, "twin", (size_t)-1, &eh);
        snprintf(dirs, sizeof dirs, "%s/twin:%s", hh_tmpdir(), good);
        RUN(&r, dirs, "--list-methods");
        assert_int_equal(r.code, 0);
        snprintf(want, sizeof want,
                 "  fx_weights     1.0      ABI 1.0  host test method: the weights it is told (in "
                 "%s)",
                 twin);
        assert_true(hh_has_line(r.out, want));
        assert_true(hh_has_line(
            r.out, "  fx_weights     1.0      ABI 1.0  host test method: the weights it is told"));
        hh_free(&r);
    }

    /* A plugin folder and file named with an escape: shown as \x1b, not sent. */
    {
        char odd[PATH_MAX], file[PATH_MAX + 32], want[8192];
        snprintf(odd, sizeof odd, "%s/esc\x1b[2Jdir", hh_tmpdir());
        assert_int_equal(mkdir(odd, 0700), 0);
        snprintf(file, sizeof file, "%s/bad\x1b.so", odd);
        hh_write(file, "junk");
        RUN(&r, odd, "--list-methods");
        assert_int_equal(r.code, 0);
        assert_null(strchr(r.out, '\x1b'));
        /* refused for its name, before it is opened */
        snprintf(want, sizeof want,
                 "  bad\\x1b           rejected: loader: the plugin's path has the control byte "
                 "0x1b at offset %zu: %s/esc\\x1b[2Jdir/bad\\x1b.so (expected a path without "
                 "control characters, as config.ini records it)",
                 strlen(hh_tmpdir()) + 4, hh_tmpdir());
        if (!hh_has_line(r.out, want))
            fail_msg("no line '%s' in:\n%s", want, r.out);
        hh_free(&r);
        assert_int_equal(unlink(file), 0);
        assert_int_equal(rmdir(odd), 0);
    }
}

/* ---- configuration ---------------------------------------------------- */

/* Runs the fixtures with an INI file of `text` (or none) and extra args. */
static void run_config(hh_result *r, const char *text, const char *a1, const char *a2)
{
    char ini[PATH_MAX], out[PATH_MAX];
    const char *args[12] = {"--method", "fx_weights", "--task", "fx_linear", "--out"};
    int n = 5;

    tmp_path(ini, sizeof ini, "test.ini");
    tmp_path(out, sizeof out, "config-run");
    args[n++] = out;
    if (text) {
        hh_write(ini, text);
        args[n++] = "--config";
        args[n++] = ini;
    }
    if (a1)
        args[n++] = a1;
    if (a2)
        args[n++] = a2;
    args[n] = NULL;
    hh_run(r, good, NULL, args);
    assert_false(hh_exists(out));
}

static void expect_ini_error(const char *text, const char *fmt)
{
    char ini[PATH_MAX], msg[8192];
    hh_result r;

    tmp_path(ini, sizeof ini, "test.ini");
    snprintf(msg, sizeof msg, fmt, ini);
    run_config(&r, text, NULL, NULL);
    expect_error(&r, 2, msg);
}

static void expect_set_error(const char *a1, const char *a2, const char *line)
{
    hh_result r;

    run_config(&r, NULL, a1, a2);
    expect_error(&r, 2, line);
}

static void test_config_unknown_keys(void **state)
{
    (void)state;
    expect_ini_error("[train]\nlrr = 1\n",
                     "mtlhost: config: unknown key: %s:2: train.lrr (expected a key of [train]; "
                     "did you mean 'lr'?)");
    expect_ini_error("[output]\ncolour = red\n",
                     "mtlhost: config: unknown key: %s:2: output.colour (expected one of: dir, "
                     "figures, verbose, quiet, progress, progress_seconds, checkpoint, "
                     "checkpoint_every, log_every_steps, tensorboard, wandb_project, "
                     "wandb_entity)");
    expect_ini_error("; runs\n[trian]\nlr = 1\n",
                     "mtlhost: config: unknown section: %s:2: [trian] (expected train, method, "
                     "task or output; did you mean 'train'?)");
    expect_ini_error("lr = 1\n", "mtlhost: config: key outside a section: %s:1: lr (expected a "
                                 "[section] line before it)");
    expect_set_error("--set", "method.nedd=gram",
                     "mtlhost: config: unknown key: --set: method.nedd (expected a key of "
                     "[method]; did you mean 'need'?)");
    expect_set_error("--set", "model.lr=1",
                     "mtlhost: config: unknown section: --set: [model] (expected train, method, "
                     "task or output)");
}

static void test_config_bad_values(void **state)
{
    (void)state;
    expect_ini_error("[train]\nepochs = 1.5\n",
                     "mtlhost: config: bad value: %s:2: train.epochs (expected an integer >= 1, "
                     "got '1.5')");
    expect_ini_error("[train]\n  epochs = 0\n",
                     "mtlhost: config: value out of range: %s:2: train.epochs (expected an "
                     "integer >= 1, got '0')");
    expect_ini_error("[method]\nweights = 1,x\n",
                     "mtlhost: config: bad value: %s:2: method.weights (expected comma-separated "
                     "numbers, each >= 0, got '1,x')");
    expect_ini_error("[task]\ndim = 9\n",
                     "mtlhost: config: value out of range: %s:2: task.dim (expected an integer in "
                     "[1, 8], got '9')");
    expect_set_error("--set", "train.lr=-1",
                     "mtlhost: config: value out of range: --set: train.lr (expected a finite "
                     "number > 0, got '-1')");
    expect_set_error("--set", "train.scheduler=platau",
                     "mtlhost: config: bad value: --set: train.scheduler (expected one of "
                     "none|plateau|step, got 'platau'; did you mean 'plateau'?)");
    expect_set_error("--set", "output.figures=maybe",
                     "mtlhost: config: bad value: --set: output.figures (expected true/false, "
                     "yes/no, on/off or 1/0, got 'maybe')");
    expect_set_error("--set", "trainlr=1",
                     "mtlhost: config: bad assignment: --set: 'trainlr=1' (expected "
                     "section.key=value)");
    expect_set_error("--seed", "x",
                     "mtlhost: config: bad value: --seed: train.seed (expected an integer >= 0, "
                     "got 'x')");
    /* Decimal only, integers and reals alike. */
    expect_set_error("--set", "train.lr=0x10",
                     "mtlhost: config: bad value: --set: train.lr (expected a finite number > 0, "
                     "got '0x10')");
    expect_set_error("--set", "train.epochs=0x3",
                     "mtlhost: config: bad value: --set: train.epochs (expected an integer >= 1, "
                     "got '0x3')");
    expect_ini_error("[task]\n=3\n",
                     "mtlhost: config: empty key: %s:2: [task] (expected key = value, got '= 3')");
}

static void test_config_file_errors(void **state)
{
    char text[4608], missing[PATH_MAX], msg[8192];
    hh_result r;

    (void)state;
    expect_ini_error("[train]\nlr = 1\nlr = 2\n",
                     "mtlhost: config: duplicate key: %s:3: train.lr (expected once per file, "
                     "first set at line 2)");
    expect_ini_error("[train]\nepochs = 2\njunk\n",
                     "mtlhost: config: cannot parse line: %s:3 (expected 'key = value', "
                     "'[section]' or a comment, got 'junk')");
    /* Control bytes: a NUL would cut the value short, an escape reach the terminal. */
    expect_ini_error("[output]\ndir = esc\x1b]0;title\x07_out\n",
                     "mtlhost: config: bad byte in line: %s:2 (expected text or tabs, got the "
                     "control byte 0x1b at column 10)");
    {
        static const char nul[] = "[train]\nepochs = 1\0garbage\n";
        char ini[PATH_MAX];
        FILE *f;

        tmp_path(ini, sizeof ini, "nul.ini");
        f = fopen(ini, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(nul, 1, sizeof nul - 1, f), sizeof nul - 1);
        assert_int_equal(fclose(f), 0);
        snprintf(msg, sizeof msg,
                 "mtlhost: config: bad byte in line: %s:2 (expected text or tabs, got the control "
                 "byte 0x00 at column 11)",
                 ini);
        run_config(&r, NULL, "--config", ini);
        expect_error(&r, 2, msg);
    }
    /* and a control byte of the command line is shown, not sent, in the message */
    expect_set_error("--set", "train.lr=\x1b[31m",
                     "mtlhost: config: bad value: --set: train.lr (expected a finite number > 0, "
                     "got '\\x1b[31m')");
    /* nor a --config or plugin path, which config.ini records in its comments */
    run_config(&r, NULL, "--config", "/nonexistent/c\x1b.ini");
    expect_error(&r, 2,
                 "mtlhost: usage: --config: the path has the control byte 0x1b at offset 14:"
                 " /nonexistent/c\\x1b.ini (expected a path without control "
                 "characters, as config.ini records it)");
    {
        char plugin[PATH_MAX], dir_shown[PATH_MAX];
        const char *args[] = {"--method", plugin, "--task", "fx_linear", NULL};
        Elf64_Ehdr eh;
        cut_copy(plugin, sizeof plugin, "nl\ndir", (size_t)-1, &eh);
        tmp_path(dir_shown, sizeof dir_shown, "nl\\x0adir");
        snprintf(msg, sizeof msg,
                 "mtlhost: loader: the plugin's path has the control byte 0x0a at offset "
                 "%zu: %s/fx_cut.so (expected a path without control characters, as "
                 "config.ini records it)",
                 strlen(hh_tmpdir()) + 3, dir_shown);
        hh_run(&r, good, NULL, args);
        expect_error(&r, 2, msg);
        /* the listing refuses it as well, without opening it */
        tmp_path(dir_shown, sizeof dir_shown, "nl\ndir");
        RUN(&r, dir_shown, "--list-methods");
        assert_int_equal(r.code, 0);
        assert_non_null(
            strstr(r.out, "rejected: loader: the plugin's path has the control byte 0x0a"));
        hh_free(&r);
        /* and a symbolic link named so, whose target is clean: config.ini records both */
        {
            char target[PATH_MAX], link_path[PATH_MAX];
            snprintf(target, sizeof target, "%s/fx_weights.so", good);
            tmp_path(link_path, sizeof link_path, "link\nname.so");
            assert_int_equal(symlink(target, link_path), 0);
            args[1] = link_path;
            hh_run(&r, good, NULL, args);
            assert_int_equal(r.code, 2);
            assert_non_null(strstr(r.err, "mtlhost: loader: the plugin's path has the control "
                                          "byte 0x0a"));
            hh_free(&r);
            assert_int_equal(unlink(link_path), 0);
        }
    }
    /* C1 control characters too (U+009B is a terminal's CSI) */
    run_config(&r, NULL, "--config", "/nonexistent/c\xc2\x9b.ini");
    expect_error(&r, 2,
                 "mtlhost: usage: --config: the path has the control character U+009B at offset "
                 "14: /nonexistent/c\\xc2\\x9b.ini (expected a path without control characters, "
                 "as config.ini records it)");
    expect_set_error("--out", "run\xc2\x85x",
                     "mtlhost: config: bad value: --out: output.dir (expected text without ' ;', "
                     "control characters or blanks at either end, got 'run\\xc2\\x85x')");
    /* a string value could not be written back to config.ini with one */
    expect_set_error("--out", "run\x1b]0;t\x07",
                     "mtlhost: config: bad value: --out: output.dir (expected text without ' ;', "
                     "control characters or blanks at either end, got "
                     "'run\\x1b]0;t\\x07')");
    /* inih would cut the line and read its rest as a line of its own. */
    snprintf(text, sizeof text, "[task]\nfigure = %0250d\n", 0);
    expect_ini_error(text, "mtlhost: config: line too long: %s:2 (expected at most 197 "
                           "characters, got 259)");
    snprintf(text, sizeof text, "[output]\ndir=%0193d\n", 0);
    expect_ini_error(text, "mtlhost: config: value too long: %s:2: output.dir (expected at most "
                           "191 characters, got 193)");
    tmp_path(missing, sizeof missing, "missing.ini");
    snprintf(msg, sizeof msg, "mtlhost: config: cannot open file: %s: no such file or directory",
             missing);
    run_config(&r, NULL, "--config", missing);
    expect_error(&r, 2, msg);
    /* A long path is shortened in the message, which keeps its reason. */
    {
        static char longpath[2048];
        size_t n = (size_t)snprintf(longpath, sizeof longpath, "%s/", hh_tmpdir());
        for (int i = 0; i < 6; i++) {
            memset(longpath + n, 'a' + i, 250);
            n += 250;
            longpath[n++] = '/';
        }
        snprintf(longpath + n, sizeof longpath - n, "x.ini");
        run_config(&r, NULL, "--config", longpath);
        assert_int_equal(r.code, 2);
        assert_non_null(strstr(r.err, "ffffff/x.ini: no such file or directory\n"));
        assert_true(strlen(r.err) < 400);
        hh_free(&r);
    }
    /* Only a regular file: a FIFO blocks, a device never ends, a directory reads as empty. */
    run_config(&r, NULL, "--config", "/dev/zero");
    expect_error(&r, 2,
                 "mtlhost: config: not a regular file: /dev/zero (expected an INI file, got a "
                 "character device)");
    snprintf(msg, sizeof msg,
             "mtlhost: config: not a regular file: %s (expected an INI file, got a directory)",
             hh_tmpdir());
    run_config(&r, NULL, "--config", hh_tmpdir());
    expect_error(&r, 2, msg);
    tmp_path(missing, sizeof missing, "fifo.ini");
    assert_int_equal(mkfifo(missing, 0600), 0);
    snprintf(msg, sizeof msg,
             "mtlhost: config: not a regular file: %s (expected an INI file, got a FIFO)", missing);
    run_config(&r, NULL, "--config", missing);
    expect_error(&r, 2, msg);
    {
        static char big[(1 << 20) + 2];
        memset(big, '#', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        tmp_path(missing, sizeof missing, "big.ini");
        hh_write(missing, big);
        snprintf(msg, sizeof msg,
                 "mtlhost: config: file too large: %s (expected at most 1048576 bytes, got "
                 "1048577)",
                 missing);
        run_config(&r, NULL, "--config", missing);
        expect_error(&r, 2, msg);
    }
}

/* ---- runs ------------------------------------------------------------- */

/*
 * Runs the fixtures into tmp/<name> with up to 8 more args; returns the exit
 * status.  Figures are off unless the args turn them on (python takes a
 * second per run).
 */
static int run_fixture(const char *name, hh_result *r, const char *const *more)
{
    char out[PATH_MAX];
    const char *args[24] = {"--method", "fx_weights",           "--task", "fx_linear",
                            "--set",    "output.figures=false", "--out"};
    int n = 7;

    tmp_path(out, sizeof out, name);
    args[n++] = out;
    for (int i = 0; more && more[i] && n < 23; i++)
        args[n++] = more[i];
    args[n] = NULL;
    hh_run(r, good, NULL, args);
    return r->code;
}

static char *run_file(const char *run, const char *file)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s/%s", hh_tmpdir(), run, file);
    return hh_read(path);
}

static char *run_ini(const char *run, const char *section, const char *key)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s/config.ini", hh_tmpdir(), run);
    return hh_ini_value(path, section, key);
}

static void expect_ini(const char *run, const char *section, const char *key, const char *value)
{
    char *v = run_ini(run, section, key);

    assert_non_null(v);
    assert_string_equal(v, value);
    free(v);
}

static void test_precedence(void **state)
{
    char ini[PATH_MAX];
    const char *args[] = {"--config", ini, "--set", "train.epochs=4", NULL};
    hh_result r;
    char *csv, *config;

    (void)state;
    tmp_path(ini, sizeof ini, "precedence.ini");
    hh_write(ini, "[train]\nepochs = 3\nweight_decay = 0.001\n");
    assert_int_equal(run_fixture("precedence", &r, args), 0);
    hh_free(&r);
    expect_ini("precedence", "train", "epochs", "4");           /* --set over INI */
    expect_ini("precedence", "train", "weight_decay", "0.001"); /* INI over declared */
    expect_ini("precedence", "train", "lr", "0.05");            /* task default over declared */
    expect_ini("precedence", "train", "batch_size", "32");      /* declared */
    config = run_file("precedence", "config.ini");
    assert_non_null(strstr(config, "; set by --set)\nepochs = 4\n"));
    assert_non_null(strstr(config, "; set by fx_linear defaults)\nlr = 0.05\n"));
    free(config);
    csv = run_file("precedence", "metrics.csv");
    assert_int_equal(hh_count_lines(csv), 1 + 4);
    free(csv);

    args[2] = NULL; /* INI over the task's defaults: 3 epochs, not 2 */
    assert_int_equal(run_fixture("precedence2", &r, args), 0);
    hh_free(&r);
    expect_ini("precedence2", "train", "epochs", "3");
    csv = run_file("precedence2", "metrics.csv");
    assert_int_equal(hh_count_lines(csv), 1 + 3);
    free(csv);
}

static void expect_same_metrics(const char *a, const char *b)
{
    const char *files[] = {"metrics.csv", "metrics.jsonl"};

    for (int i = 0; i < 2; i++) {
        char *ta = run_file(a, files[i]), *tb = run_file(b, files[i]);
        char *sa = hh_without_seconds(ta, i), *sb = hh_without_seconds(tb, i);
        assert_non_null(sa);
        assert_non_null(sb);
        assert_string_equal(sa, sb);
        free(ta);
        free(tb);
        free(sa);
        free(sb);
    }
}

static void test_config_ini_accepted_back(void **state)
{
    const char *first[] = {"--seed", "7",
                           "--set",  "method.weights=0.5,2",
                           "--set",  "task.n_batches=3",
                           "--set",  "train.scheduler=step",
                           NULL};
    char config[PATH_MAX];
    const char *again[] = {"--config", config, NULL};
    const char *keys[][2] = {{"train", "seed"},     {"train", "scheduler"}, {"method", "weights"},
                             {"task", "n_batches"}, {"train", "lr"},        {"method", "need"}};
    hh_result r;
    char *results;

    (void)state;
    assert_int_equal(run_fixture("resolved", &r, first), 0);
    hh_free(&r);
    snprintf(config, sizeof config, "%s/resolved/config.ini", hh_tmpdir());
    assert_int_equal(run_fixture("resolved-again", &r, again), 0);
    hh_free(&r);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *a = run_ini("resolved", keys[i][0], keys[i][1]);
        char *b = run_ini("resolved-again", keys[i][0], keys[i][1]);
        assert_non_null(a);
        assert_non_null(b);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    expect_ini("resolved", "method", "weights", "0.5,2");
    expect_same_metrics("resolved", "resolved-again");
    results = run_file("resolved", "results.md");
    assert_non_null(strstr(results, "| trial | selected epoch | val Delta_m | test Delta_m |"));
    free(results);
}

/*
 * config.ini gives back what it holds: every value fits on a line inih reads whole (197
 * characters: `dir = ` and a path of 191), a longer one is refused when it is set; blanks at a
 * value's ends refused.
 */
static void test_config_ini_long_values(void **state)
{
    static char dir[PATH_MAX], config[PATH_MAX + 16], line[PATH_MAX + 16], msg[512];
    const char *again[] = {"--config", config, NULL};
    hh_result r;
    char *text;
    size_t n;

    (void)state;
    n = (size_t)snprintf(dir, sizeof dir, "%s/long/", hh_tmpdir());
    assert_true(n < 191 - 2);
    memset(dir + n, 'a', 191 - n);
    dir[191] = '\0';
    RUN(&r, good, "--method", "fx_weights", "--task", "fx_linear", "--set", "output.figures=false",
        "--out", dir);
    assert_int_equal(r.code, 0);
    hh_free(&r);
    snprintf(config, sizeof config, "%s/config.ini", dir);
    text = hh_read(config);
    assert_non_null(text);
    snprintf(line, sizeof line, "dir = %s", dir);
    assert_true(hh_has_line(text, line));
    /* Every line of it, the comments naming long plugin paths included, reads back whole. */
    for (const char *p = text; *p;) {
        size_t len = strcspn(p, "\n");
        assert_in_range(len, 0, 197);
        p += len + (p[len] == '\n');
    }
    free(text);
    assert_int_equal(run_fixture("long-again", &r, again), 0);
    hh_free(&r);
    /* One character more, or a path of 1000+ characters, is refused when it is set. */
    dir[191] = 'a';
    dir[192] = '\0';
    run_config(&r, NULL, "--out", dir);
    expect_error(&r, 2,
                 "mtlhost: config: value too long: --out: output.dir (expected at most 191 "
                 "characters, got 192)");
    memset(dir + 192, 'b', 820);
    dir[1012] = '\0';
    run_config(&r, NULL, "--out", dir);
    expect_error(&r, 2,
                 "mtlhost: config: value too long: --out: output.dir (expected at most 191 "
                 "characters, got 1012)");
    snprintf(msg, sizeof msg, "train.seed=%0195d", 1);
    run_config(&r, NULL, "--set", msg);
    expect_error(&r, 2,
                 "mtlhost: config: value too long: --set: train.seed (expected at most 190 "
                 "characters, got 195)");
    run_config(&r, NULL, "--out", " x");
    expect_error(&r, 2,
                 "mtlhost: config: bad value: --out: output.dir (expected text without ' ;', "
                 "control characters or blanks at either end, got "
                 "' x')");
}

static void test_same_seed_same_metrics(void **state)
{
    const char *seed1[] = {"--seed", "11", "--set", "train.epochs=3", NULL};
    const char *seed2[] = {"--seed", "12", "--set", "train.epochs=3", NULL};
    hh_result r;
    char *a, *b;

    (void)state;
    assert_int_equal(run_fixture("seed-a", &r, seed1), 0);
    hh_free(&r);
    assert_int_equal(run_fixture("seed-b", &r, seed1), 0);
    hh_free(&r);
    assert_int_equal(run_fixture("seed-c", &r, seed2), 0);
    hh_free(&r);
    expect_same_metrics("seed-a", "seed-b");
    /* Another seed draws other data and batch orders: the check can fail. */
    a = run_file("seed-a", "metrics.csv");
    b = run_file("seed-c", "metrics.csv");
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_max_bad_steps(void **state)
{
    const char *args[] = {"--set", "task.nan_from=0", "--set", "train.max_bad_steps=3", NULL};
    hh_result r;
    char *csv;

    (void)state;
    assert_int_equal(run_fixture("bad-steps", &r, args), 1);
    assert_string_equal(
        r.err, "mtlhost: warning: train: skipped a step at trial 0, epoch 0, batch 0: task 'a' "
               "has a non-finite loss (nan); parameters, optimizer and method state are "
               "unchanged (reported once; every skip is counted in skipped_steps)\n"
               "mtlhost: train: stopped after 3 skipped steps in a row: trial 0, epoch 0, batch "
               "2: task 'a' has a non-finite loss (nan) (expected finite losses and gradients; "
               "train.max_bad_steps = 3)\n");
    hh_free(&r);
    csv = run_file("bad-steps", "metrics.csv");
    assert_non_null(csv);
    assert_int_equal(hh_count_lines(csv), 1);
    free(csv);
}

/* A method refusing its own non-finite output (ls weights 1e308: the loss overflows) skips. */
static void test_method_numeric_error_skips(void **state)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    hh_result r;
    char *json;

    (void)state;
    tmp_path(dir, sizeof dir, "ls-overflow");
    RUN(&r, good, "--method", "ls", "--task", "fx_linear", "--set", "method.weights=1e308,1e308",
        "--set", "train.max_bad_steps=2", "--set", "output.figures=false", "--out", dir);
    assert_int_equal(r.code, 1);
    assert_string_equal(
        r.err, "mtlhost: warning: train: skipped a step at trial 0, epoch 0, batch 0: ls: weigh: "
               "non-finite loss (inf); parameters, optimizer and method state are unchanged "
               "(reported once; every skip is counted in skipped_steps)\n"
               "mtlhost: train: stopped after 2 skipped steps in a row: trial 0, epoch 0, batch "
               "1: ls: weigh: non-finite loss (inf) (expected finite losses and gradients; "
               "train.max_bad_steps = 2)\n");
    /* run.json says the run failed, and why. */
    snprintf(path, sizeof path, "%s/run.json", dir);
    json = hh_read(path);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"status\":\"failed\",\"error\":\"train: stopped after 2 "
                                 "skipped steps in a row: trial 0, epoch 0, batch 1: ls: weigh: "
                                 "non-finite loss (inf) (expected finite losses and gradients; "
                                 "train.max_bad_steps = 2)\","));
    free(json);
    hh_free(&r);
}

static void test_skipped_steps_counted(void **state)
{
    const char *args[] = {"--set", "task.nan_from=1", "--set", "task.nan_count=2", NULL};
    hh_result r;
    char *csv;

    (void)state;
    assert_int_equal(run_fixture("skips", &r, args), 0);
    assert_int_equal(hh_count_lines(r.err), 1);
    assert_non_null(strstr(r.err, "skipped a step at trial 0, epoch 0, batch 1:"));
    hh_free(&r);
    csv = run_file("skips", "metrics.csv");
    assert_int_equal(hh_csv_sum(csv, "skipped_steps"), 2);
    assert_int_equal(hh_csv_sum(csv, "steps"), 2 * 4 - 2);
    free(csv);
}

static void test_solver_failures_reported_once(void **state)
{
    const char *args[] = {"--set", "method.fail_every=2", "--set", "task.trials=2", NULL};
    hh_result r;
    char *csv;

    (void)state;
    assert_int_equal(run_fixture("solver", &r, args), 0);
    assert_string_equal(r.err, "fx_weights: warning: solver fell back at step 1 (trial 0, epoch 0, "
                               "batch 1): fixture solver gave up (reported once; every fallback is "
                               "counted in solver_failures)\n"
                               "fx_weights: warning: solver fell back on 4 of 8 steps (trial 0)\n"
                               "fx_weights: warning: solver fell back on 4 of 8 steps (trial 1)\n");
    hh_free(&r);
    csv = run_file("solver", "metrics.csv");
    assert_int_equal(hh_csv_sum(csv, "solver_failures"), 8);
    free(csv);
}

static void test_contract_violation_fails_run(void **state)
{
    const char *args[] = {"--set", "method.need=losses", "--set", "method.heads=1,2", NULL};
    hh_result r;

    (void)state;
    run_fixture("contract", &r, args);
    expect_error(&r, 1,
                 "mtlhost: train: trial 0, epoch 0, batch 0: engine: fx_weights broke its "
                 "contract: shared and head weights differ "
                 "on a losses-only step (expected c[1] == h[1], got 1 and 2)");
}

static void test_figure_tool(void **state)
{
    const char *draw[] = {"--set", "task.figure=../tests/host/fx_figure.py", "--set",
                          "output.figures=true", NULL};
    const char *nodraw[] = {"--set", "task.figure=../tests/host/fx_figure.py", "--set",
                            "output.figures=false", NULL};
    hh_result r;
    char *text, msg[8192];

    (void)state;
    assert_int_equal(run_fixture("figure", &r, draw), 0);
    text = run_file("figure", "figure.txt");
    if (!text) /* no python3 with matplotlib here: the host must say how to get the figure */
        assert_non_null(strstr(r.err, "no python3 with matplotlib"));
    else
        assert_non_null(strstr(text, "/figure\n"));
    if (text)
        assert_null(strstr(r.err, "no figure written"));
    free(text);
    hh_free(&r);
    /* A python that exits 0 without drawing: a warning, never "drawn". */
    setenv("MTL_PYTHON", "/usr/bin/true", 1);
    assert_int_equal(run_fixture("stubfigure", &r, draw), 0);
    unsetenv("MTL_PYTHON");
    snprintf(
        msg, sizeof msg,
        "mtlhost: warning: figure: no figure written: plot_run.py and ../tests/host/fx_figure.py "
        "exited 0 "
        "but %s/stubfigure/training.png is missing or unchanged (expected a new .png); the "
        "run's files are complete",
        hh_tmpdir());
    assert_true(hh_has_line(r.err, msg));
    assert_null(strstr(r.out, "figure: drawn"));
    hh_free(&r);
    assert_int_equal(run_fixture("nofigure", &r, nodraw), 0);
    hh_free(&r);
    text = run_file("nofigure", "figure.txt");
    assert_null(text);
}

/* A new run never writes into a used folder, a file, or a path the kernel would cut. */
static void test_run_dir_refused(void **state)
{
    static char longdir[PATH_MAX + 64], msg[8192];
    char dir[PATH_MAX], file[PATH_MAX];
    hh_result r;
    size_t n;

    (void)state;
    /* the --resume command it suggests is quoted as a shell word where needed */
    for (int q = 0; q < 2; q++) {
        const char *name = q ? "re used" : "reused";
        assert_int_equal(run_fixture(name, &r, NULL), 0);
        hh_free(&r);
        tmp_path(dir, sizeof dir, name);
        snprintf(msg, sizeof msg,
                 "mtlhost: output: run directory not empty: %s (expected a new or empty folder; "
                 "choose another --out, or continue it with mtlhost --resume %s%s%s)",
                 dir, q ? "'" : "", dir, q ? "'" : "");
        assert_int_equal(run_fixture(name, &r, NULL), 2);
        expect_error(&r, 2, msg);
    }
    tmp_path(file, sizeof file, "afile");
    hh_write(file, "x\n");
    snprintf(msg, sizeof msg,
             "mtlhost: output: --out is not a folder: %s (expected a new or empty folder, got a "
             "regular file)",
             file);
    assert_int_equal(run_fixture("afile", &r, NULL), 2);
    expect_error(&r, 2, msg);
    snprintf(msg, sizeof msg,
             "mtlhost: output: cannot create --out %s/sub: %s is not a folder (expected a "
             "folder, got a regular file)",
             file, file);
    assert_int_equal(run_fixture("afile/sub", &r, NULL), 2);
    expect_error(&r, 2, msg);
    /* Too long for config.ini (and so for the kernel): refused whole, nothing is created. */
    n = (size_t)snprintf(longdir, sizeof longdir, "%s/", hh_tmpdir());
    while (n < PATH_MAX + 10)
        n += (size_t)snprintf(longdir + n, sizeof longdir - n, "d/");
    RUN(&r, good, "--method", "fx_weights", "--task", "fx_linear", "--out", longdir);
    snprintf(msg, sizeof msg,
             "mtlhost: config: value too long: --out: output.dir (expected at most 191 "
             "characters, got %zu)",
             strlen(longdir));
    expect_error(&r, 2, msg);
    tmp_path(dir, sizeof dir, "d");
    assert_false(hh_exists(dir));
}

/* A gradient source the task lacks is refused before the run directory exists. */
static void test_grad_source_refused(void **state)
{
    char dir[PATH_MAX];
    hh_result r;

    (void)state;
    tmp_path(dir, sizeof dir, "source-last");
    RUN(&r, good, "--method", "fx_weights", "--task", "toy", "--set", "method.source=last", "--out",
        dir);
    expect_error(&r, 2,
                 "mtlhost: config: method fx_weights asks for the gradients of the last shared "
                 "layer ('last'), which task toy does not mark (expected a task with "
                 "MTL_PARAM_LAST_SHARED parameters, or the method set to another gradient "
                 "source)");
    assert_false(hh_exists(dir));
}

static void test_default_run_dir(void **state)
{
    char cwd[PATH_MAX], runs[PATH_MAX];
    const char *args[] = {"--method", "fx_weights", "--task", "fx_linear", NULL};
    struct dirent *e;
    hh_result r;
    DIR *d;
    int found = 0;

    (void)state;
    tmp_path(cwd, sizeof cwd, "cwd");
    snprintf(runs, sizeof runs, "%s/runs", cwd);
    assert_int_equal(mkdir(cwd, 0755), 0);
    hh_run(&r, good, cwd, args);
    assert_int_equal(r.code, 0);
    hh_free(&r);
    /* runs/fx_linear-fx_weights-YYYYmmdd-HHMMSS */
    d = opendir(runs);
    assert_non_null(d);
    while ((e = readdir(d)))
        found += strncmp(e->d_name, "fx_linear-fx_weights-", 21) == 0 && strlen(e->d_name) == 36;
    closedir(d);
    assert_int_equal(found, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_help_lists_host_keys),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_loader_missing),
        cmocka_unit_test(test_loader_not_shared_object),
        cmocka_unit_test(test_loader_truncated),
        cmocka_unit_test(test_loader_no_entry),
        cmocka_unit_test(test_loader_abi_major),
        cmocka_unit_test(test_loader_struct_too_small),
        cmocka_unit_test(test_loader_wrong_kind),
        cmocka_unit_test(test_loader_create_failed),
        cmocka_unit_test(test_loader_bad_option_declaration),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_config_unknown_keys),
        cmocka_unit_test(test_config_bad_values),
        cmocka_unit_test(test_config_file_errors),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_config_ini_accepted_back),
        cmocka_unit_test(test_config_ini_long_values),
        cmocka_unit_test(test_same_seed_same_metrics),
        cmocka_unit_test(test_max_bad_steps),
        cmocka_unit_test(test_method_numeric_error_skips),
        cmocka_unit_test(test_skipped_steps_counted),
        cmocka_unit_test(test_solver_failures_reported_once),
        cmocka_unit_test(test_contract_violation_fails_run),
        cmocka_unit_test(test_figure_tool),
        cmocka_unit_test(test_run_dir_refused),
        cmocka_unit_test(test_grad_source_refused),
        cmocka_unit_test(test_default_run_dir),
    };

    if (!realpath(MTL_TEST_BINARY_DIR, bin_dir) || !realpath(FX_GOOD, good) ||
        !realpath(FX_BROKEN, broken)) {
        fprintf(stderr, "test_host_cli: the build folders are missing\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
