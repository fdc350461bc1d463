/*
 * What a run leaves behind: the progress line's format, the checkpoint file's
 * frame and its refusals, --resume giving bit-identical results after a
 * SIGKILL (toy; fx_linear with methods that keep a random stream, learnable
 * parameters or state), every file parsing after kills at random moments,
 * tasks of the struct before state_save, --quiet and plain progress lines,
 * results.csv and run.json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ckpt.h"
#include "crc.h"
#include "host_harness.h"
#include "progress.h"
#include "run_checks.h"

static char good[PATH_MAX], old[PATH_MAX], plugins[PATH_MAX];

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", hh_tmpdir(), name);
}

/* ---- progress --------------------------------------------------------- */

static void test_progress_format(void **state)
{
    static const char *const names[] = {"a", "b"};
    const double losses[] = {0.1234, 0.5};
    host_progress_view v = {0, 5, 2, 100, 120, 500, 5.1, 62, 2, names, losses};
    char line[512], when[32];

    (void)state;
    host_progress_format(line, sizeof line, &v, 200, 1);
    assert_string_equal(line, "trial 1/5 epoch 3/100 [====>               ] 120/500  24% 5.1 it/s "
                              "1:02 left | loss a 0.1234 b 0.5");
    host_progress_format(line, sizeof line, &v, 0, 0);
    assert_string_equal(line, "trial 1/5 epoch 3/100 batch 120/500 (24%) 5.1 batch/s, 1:02 left "
                              "| loss a=0.1234 b=0.5");
    /* Narrower: the bar shrinks first, then the line is cut. */
    assert_int_equal(host_progress_format(line, sizeof line, &v, 90, 1), 89);
    assert_string_equal(line, "trial 1/5 epoch 3/100 [==>        ] 120/500  24% 5.1 it/s 1:02 "
                              "left | loss a 0.1234 b 0.5");
    assert_int_equal(host_progress_format(line, sizeof line, &v, 30, 1), 29);
    assert_string_equal(line, "trial 1/5 epoch 3/100 [=>   ]");

    v = (host_progress_view){1, 2, 0, 1, 500, 500, 0.5, NAN, 2, names, NULL};
    host_progress_format(line, sizeof line, &v, 200, 1);
    assert_string_equal(line, "trial 2/2 epoch 1/1 [====================] 500/500 100% 2.0 s/it "
                              "? left");
    v.rate = NAN;
    host_progress_format(line, sizeof line, &v, 0, 0);
    assert_string_equal(line, "trial 2/2 epoch 1/1 batch 500/500 (100%) ? batch/s, ? left");

    /* A plugin's task names: control characters shown, a cut between whole characters. */
    {
        static const char *const odd[] = {"f\x1b[31m1", "g\xc4\x81"};
        v = (host_progress_view){0, 5, 2, 100, 120, 500, 5.1, 62, 2, odd, losses};
        host_progress_format(line, sizeof line, &v, 0, 0);
        assert_string_equal(line, "trial 1/5 epoch 3/100 batch 120/500 (24%) 5.1 batch/s, 1:02 "
                                  "left | loss f\\x1b[31m1=0.1234 g\xc4\x81=0.5");
        /* a name longer than the 255 bytes kept is cut between whole characters */
        {
            static char long_name[2 + 2 * 200 + 1];
            const char *const long_names[] = {long_name, "b"};
            host_progress_view w = v;
            char *at;
            memcpy(long_name, "ab", 2);
            for (int i = 0; i < 200; i++)
                memcpy(long_name + 2 + 2 * i, "\xc3\xa9", 2);
            w.task_names = long_names;
            host_progress_format(line, sizeof line, &w, 0, 0);
            at = strstr(line, "| loss ab");
            assert_non_null(at);
            assert_int_equal(strcspn(at + 9, "="), 2 * 126); /* 126 whole e-acutes */
        }
        /* at 90 columns the cut falls inside the two bytes of U+0101 */
        assert_int_equal(host_progress_format(line, sizeof line, &v, 90, 1), 88);
        assert_string_equal(line, "trial 1/5 epoch 3/100 [=>   ] 120/500  24% 5.1 it/s 1:02 left "
                                  "| loss f\\x1b[31m1 0.1234 g");
    }

    host_progress_duration(when, sizeof when, 3725);
    assert_string_equal(when, "1:02:05");
    host_progress_duration(when, sizeof when, 65.4);
    assert_string_equal(when, "1:05");
    host_progress_duration(when, sizeof when, -1);
    assert_string_equal(when, "?");
}

/* ---- the checkpoint frame --------------------------------------------- */

static void test_crc32c(void **state)
{
    (void)state;
    /* The check value of CRC-32C (RFC 3720, appendix B.4). */
    assert_int_equal(host_crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(host_crc32c(host_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
}

static void write_bytes(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void expect_read_error(const char *path, const char *message)
{
    host_ckpt ck;

    assert_int_equal(host_ckpt_read(&ck, path), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), message);
}

static void test_checkpoint_frame(void **state)
{
    host_buf file = {0}, payload = {0};
    host_reader r;
    host_ckpt ck;
    char path[PATH_MAX], msg[8192];
    char text[64];

    (void)state;
    tmp_path(path, sizeof path, "frame.mtlckpt");
    host_ckpt_begin(&file);
    host_put_u32(&payload, 7);
    host_put_f64(&payload, -2.5);
    host_put_str(&payload, "hello");
    host_ckpt_section(&file, "TEST", &payload);
    assert_int_equal(host_ckpt_end(&file), MTL_OK);
    write_bytes(path, file.data, file.len);

    assert_int_equal(host_ckpt_read(&ck, path), MTL_OK);
    assert_int_equal(host_ckpt_find(&ck, "TEST", &r), MTL_OK);
    assert_int_equal(host_get_u32(&r), 7);
    assert_true(host_get_f64(&r) == -2.5);
    host_get_str(&r, text, sizeof text);
    assert_string_equal(text, "hello");
    host_get_u32(&r); /* past the end */
    assert_int_equal(host_reader_status(&r, &ck, "TEST"), MTL_ERR_DATA);
    assert_int_equal(host_ckpt_find(&ck, "NONE", &r), MTL_ERR_DATA);
    snprintf(msg, sizeof msg, "checkpoint: missing section: %s (expected 'NONE')", path);
    assert_string_equal(mtl_error_message(), msg);
    host_ckpt_free(&ck);

    /* One flipped bit in the body. */
    {
        uint32_t stored = host_crc32c(0, file.data + 32, file.len - 32);
        file.data[file.len - 2] ^= 0x10;
        write_bytes(path, file.data, file.len);
        snprintf(msg, sizeof msg, "checkpoint: corrupt: %s (expected CRC-32C %08x, got %08x)", path,
                 stored, host_crc32c(0, file.data + 32, file.len - 32));
        expect_read_error(path, msg);
        file.data[file.len - 2] ^= 0x10;
    }

    /* Cut short, and not a checkpoint at all, and a version from the future. */
    write_bytes(path, file.data, file.len - 5);
    snprintf(msg, sizeof msg, "checkpoint: truncated: %s (expected %zu bytes, got %zu)", path,
             file.len, file.len - 5);
    expect_read_error(path, msg);
    write_bytes(path, "trial,epoch\n0,0\n", 16);
    snprintf(msg, sizeof msg,
             "checkpoint: not a checkpoint: %s (expected a file starting with 'MTLCKPT', got 16 "
             "bytes of something else)",
             path);
    expect_read_error(path, msg);
    file.data[8] = 9;
    write_bytes(path, file.data, file.len);
    snprintf(msg, sizeof msg, "checkpoint: unsupported format version: %s (expected 1, got 9)",
             path);
    expect_read_error(path, msg);
    host_buf_free(&file);
    host_buf_free(&payload);
}

/* ---- runs ------------------------------------------------------------- */

/* Runs mtlhost with args (NULL-terminated, at most 40); kill_after > 0 sets the test kill. */
static int run_host(hh_result *r, long kill_after, const char *const *args)
{
    char value[32];

    if (kill_after > 0) {
        snprintf(value, sizeof value, "%ld", kill_after);
        setenv("MTL_TEST_KILL_AFTER_STEPS", value, 1);
    }
    hh_run(r, good, NULL, args);
    unsetenv("MTL_TEST_KILL_AFTER_STEPS");
    return r->code;
}

static int run_quiet(long kill_after, const char *const *args)
{
    hh_result r;
    int code = run_host(&r, kill_after, args);

    if (code != 0 && kill_after == 0)
        fprintf(stderr, "mtlhost failed (%d): %s", code, r.err);
    hh_free(&r);
    return code;
}

static int resume(const char *dir, hh_result *r)
{
    const char *args[] = {"--resume", dir, NULL};

    return run_host(r, 0, args);
}

static char *file_in(const char *dir, const char *name)
{
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return hh_read(path);
}

static void expect_same_file(const char *a, const char *b, const char *name)
{
    char *ta = file_in(a, name), *tb = file_in(b, name);

    assert_non_null(ta);
    assert_non_null(tb);
    if (strcmp(ta, tb) != 0)
        fail_msg("%s differs between %s and %s", name, a, b);
    free(ta);
    free(tb);
}

/* metrics.csv and metrics.jsonl are the same but for the seconds column. */
static void expect_same_metrics(const char *a, const char *b)
{
    const char *files[] = {"metrics.csv", "metrics.jsonl"};

    for (int i = 0; i < 2; i++) {
        char *ta = file_in(a, files[i]), *tb = file_in(b, files[i]);
        char *sa = hh_without_seconds(ta, i), *sb = hh_without_seconds(tb, i);
        assert_non_null(sa);
        assert_non_null(sb);
        assert_string_equal(sa, sb);
        free(ta), free(tb), free(sa), free(sb);
    }
}

/* The final checkpoints hold the same parameters, optimizer, states and streams. */
static void expect_same_state(const char *a, const char *b)
{
    static const char *const tags[] = {"MODL", "MPAR", "ADAM", "MSTA", "TSTA", "RNGS", "SCHD"};
    char pa[PATH_MAX], pb[PATH_MAX];
    host_ckpt ca, cb;

    snprintf(pa, sizeof pa, "%s/%s", a, HOST_CKPT_FILE);
    snprintf(pb, sizeof pb, "%s/%s", b, HOST_CKPT_FILE);
    assert_int_equal(host_ckpt_read(&ca, pa), MTL_OK);
    assert_int_equal(host_ckpt_read(&cb, pb), MTL_OK);
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        host_reader ra, rb;
        int has = host_ckpt_has(&ca, tags[i]);
        assert_int_equal(has, host_ckpt_has(&cb, tags[i]));
        if (!has)
            continue;
        host_ckpt_find(&ca, tags[i], &ra);
        host_ckpt_find(&cb, tags[i], &rb);
        assert_int_equal(ra.len, rb.len);
        if (memcmp(ra.p, rb.p, ra.len) != 0)
            fail_msg("section %s differs between %s and %s", tags[i], a, b);
    }
    host_ckpt_free(&ca);
    host_ckpt_free(&cb);
}

static void expect_same_run(const char *a, const char *b, const char *const *files)
{
    expect_same_metrics(a, b);
    expect_same_state(a, b);
    for (int i = 0; files[i]; i++)
        expect_same_file(a, b, files[i]);
}

/* The toy's args for run directory `dir`, into args (room for 24). */
static void toy_args(const char **args, const char *dir, const char *method, const char *steps,
                     const char *starts)
{
    const char *a[] = {"--method",
                       method,
                       "--task",
                       "toy",
                       "--out",
                       dir,
                       "--set",
                       steps,
                       "--set",
                       starts,
                       "--set",
                       "output.figures=false",
                       "--set",
                       "output.checkpoint_every=500",
                       "--set",
                       "output.log_every_steps=100",
                       "--tensorboard",
                       "--quiet",
                       NULL};

    memcpy(args, a, sizeof a);
}

static void test_resume_toy_bit_identical(void **state)
{
    static const char *const files[] = {
        "toy_final.csv", "toy_trajectories.csv", "results.md", "results.csv", "steps.csv", NULL};
    char ref[PATH_MAX], cut[PATH_MAX];
    const char *args[24];
    hh_result r;

    (void)state;
    tmp_path(ref, sizeof ref, "toy-ref");
    tmp_path(cut, sizeof cut, "toy-cut");
    toy_args(args, ref, "nashmtl", "task.steps=3000", "task.starts=0,2,4");
    assert_int_equal(run_quiet(0, args), 0);
    toy_args(args, cut, "nashmtl", "task.steps=3000", "task.starts=0,2,4");
    /* Killed in trial 2 at step 4321, 321 steps after its last checkpoint. */
    assert_int_equal(run_quiet(4321, args), -1);
    {
        char results[PATH_MAX + 16];
        snprintf(results, sizeof results, "%s/results.md", cut);
        assert_false(hh_exists(results));
    }
    assert_int_equal(resume(cut, &r), 0);
    assert_string_equal(r.err, "");
    hh_free(&r);
    expect_same_run(ref, cut, files);
}

/*
 * SIGINT or SIGTERM during training: the host stops after the batch, writes
 * a checkpoint of it where it can, marks run.json "interrupted", exits with
 * 128 + the signal, and --resume ends as an uninterrupted run.
 */
static void test_stop_signals(void **state)
{
    static const char *const files[] = {"toy_final.csv", "results.md", "results.csv", NULL};
    static const struct {
        const char *name;
        long step;
        int code;
        const char *why;
    } cases[] = {
        /* inside trial 1, between checkpoints: one is written for this step */
        {"INT", 4321, 130,
         "SIGINT after training step 4321 (trial 1, epoch 0, batch 1320); a checkpoint of "
         "this step was written: continue with mtlhost --resume %s"},
        /* the last batch of trial 0: back to its last checkpoint (step 2500) */
        {"TERM", 3000, 143,
         "SIGTERM after training step 3000 (trial 0, epoch 0, batch 2999); continue from the "
         "last checkpoint with mtlhost --resume %s"},
    };
    char ref[PATH_MAX], cut[PATH_MAX], want[1024], line[1200];
    const char *args[24];
    hh_result r;

    (void)state;
    tmp_path(ref, sizeof ref, "toy-sig-ref");
    toy_args(args, ref, "nashmtl", "task.steps=3000", "task.starts=0,2,4");
    assert_int_equal(run_quiet(0, args), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *info;

        snprintf(cut, sizeof cut, "%s-%s", ref, cases[i].name);
        toy_args(args, cut, "nashmtl", "task.steps=3000", "task.starts=0,2,4");
        setenv("MTL_TEST_KILL_SIGNAL", cases[i].name, 1);
        assert_int_equal(run_host(&r, cases[i].step, args), cases[i].code);
        unsetenv("MTL_TEST_KILL_SIGNAL");
        snprintf(want, sizeof want, cases[i].why, cut);
        snprintf(line, sizeof line, "mtlhost: train: stopped by %s\n", want);
        assert_string_equal(r.err, line);
        hh_free(&r);
        info = file_in(cut, "run.json");
        assert_non_null(info);
        snprintf(line, sizeof line, "\"status\":\"interrupted\",\"error\":\"train: stopped by %s\"",
                 want);
        if (!strstr(info, line))
            fail_msg("run.json lacks %s: %s", line, info);
        free(info);
        assert_int_equal(resume(cut, &r), 0);
        assert_string_equal(r.err, "");
        hh_free(&r);
        info = file_in(cut, "run.json");
        assert_non_null(strstr(info, "\"status\":\"finished\",\"error\":null"));
        free(info);
        expect_same_run(ref, cut, files);
    }
}

/*
 * The stop line says what --resume will do: fx_linear built without
 * state_save (fx_linear_old.so) has checkpoints at the ends of epochs only; before the first one,
 * and with checkpoints off, the run starts again from its beginning.
 */
static void test_stop_lines(void **state)
{
    static const struct {
        const char *name, *checkpoint;
        long step;
        const char *why;
    } cases[] = {
        {"stop-first", "output.checkpoint=true", 2,
         "after training step 2 (trial 0, epoch 0, batch 1); no checkpoint was written yet (one "
         "is written at the end of each epoch): mtlhost --resume %s starts the run again from "
         "its beginning"},
        {"stop-second", "output.checkpoint=true", 6,
         "after training step 6 (trial 0, epoch 1, batch 1); continue from the last checkpoint "
         "with mtlhost --resume %s"},
        {"stop-off", "output.checkpoint=false", 6,
         "after training step 6 (trial 0, epoch 1, batch 1); checkpoints are off "
         "(output.checkpoint = false): mtlhost --resume %s starts the run again from its "
         "beginning"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[PATH_MAX], task[PATH_MAX], want[PATH_MAX + 512], line[PATH_MAX + 600];
        const char *args[] = {"--method", "fx_weights",
                              "--task",   task,
                              "--out",    dir,
                              "--set",    cases[i].checkpoint,
                              "--set",    "output.figures=false",
                              "--quiet",  NULL};
        hh_result r;
        char *info;

        snprintf(task, sizeof task, "%s/fx_linear_old.so", old);
        tmp_path(dir, sizeof dir, cases[i].name);
        setenv("MTL_TEST_KILL_SIGNAL", "INT", 1);
        assert_int_equal(run_host(&r, cases[i].step, args), 130);
        unsetenv("MTL_TEST_KILL_SIGNAL");
        snprintf(want, sizeof want, cases[i].why, dir);
        snprintf(line, sizeof line, "mtlhost: train: stopped by SIGINT %s\n", want);
        assert_string_equal(r.err, line);
        hh_free(&r);
        info = file_in(dir, "run.json");
        assert_non_null(strstr(info, "\"status\":\"interrupted\""));
        free(info);
        /* and --resume does what the line said */
        assert_int_equal(resume(dir, &r), 0);
        hh_free(&r);
        info = file_in(dir, "run.json");
        assert_non_null(strstr(info, "\"status\":\"finished\",\"error\":null"));
        free(info);
    }
}

/*
 * A stop signal after training (here from the figure helper, which stands
 * in for python): the results are complete and run.json says "finished",
 * the exit status says the process was stopped.  The helper itself starts
 * with SIGINT blocked: a Ctrl-C to the process group does not kill it.
 */
static void test_signal_after_training(void **state)
{
    /* $2 is the run directory; the first helper draws training.png, the second nothing */
    static const char *const scripts[2] = {"#!/bin/sh\n"
                                           "[ \"$1\" = -c ] && exit 0\n"
                                           "kill -INT $$\n"
                                           "echo 'helper alive after SIGINT' >&2\n"
                                           "echo png > \"$2/training.png\"\n"
                                           "kill -TERM $PPID\n"
                                           "exit 0\n",
                                           "#!/bin/sh\n"
                                           "[ \"$1\" = -c ] && exit 0\n"
                                           "kill -TERM $PPID\n"
                                           "exit 0\n"};
    char dir[PATH_MAX], fake[PATH_MAX], want[2 * PATH_MAX + 256];
    const char *args[] = {"--method", "fx_weights", "--task", "fx_linear", "--out", dir, NULL};

    (void)state;
    for (int i = 0; i < 2; i++) {
        hh_result r;
        char *info;
        FILE *f;

        tmp_path(fake, sizeof fake, i ? "fake-python-2.sh" : "fake-python-1.sh");
        f = fopen(fake, "w");
        assert_non_null(f);
        fputs(scripts[i], f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(fake, 0755), 0);
        tmp_path(dir, sizeof dir, i ? "stop-after-2" : "stop-after-1");
        setenv("MTL_PYTHON", fake, 1);
        assert_int_equal(run_host(&r, 0, args), 143);
        unsetenv("MTL_PYTHON");
        if (i == 0) {
            assert_non_null(strstr(r.err, "helper alive after SIGINT\n"));
            snprintf(want, sizeof want,
                     "mtlhost: stopped by SIGTERM after training ended; the results are "
                     "complete\n");
        } else {
            /* the command names the python the host found (here the stand-in) */
            snprintf(want, sizeof want,
                     "mtlhost: stopped by SIGTERM after training ended; the results are "
                     "complete, the figures not drawn (to draw them: %s /",
                     fake);
            if (!strstr(r.err, want))
                fail_msg("stderr lacks '%s': '%s'", want, r.err);
            snprintf(want, sizeof want, "/tools/plot_run.py %s)\n", dir);
        }
        if (!strstr(r.err, want))
            fail_msg("stderr lacks '%s': '%s'", want, r.err);
        hh_free(&r);
        info = file_in(dir, "run.json");
        assert_non_null(strstr(info, "\"status\":\"finished\",\"error\":null"));
        free(info);
        info = file_in(dir, "results.md");
        assert_non_null(info);
        free(info);
    }
}

/* fx_linear over several epochs, killed inside an epoch, with real methods. */
static void test_resume_methods_bit_identical(void **state)
{
    static const char *const methods[] = {"rlw", "uw", "nashmtl"};
    static const char *const files[] = {"results.md", "results.csv", "steps.csv", NULL};

    (void)state;
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        char ref[PATH_MAX], cut[PATH_MAX], name[64];
        const char *args[] = {"--method", methods[m],
                              "--task",   "fx_linear",
                              "--out",    ref,
                              "--set",    "train.epochs=5",
                              "--set",    "task.n_batches=6",
                              "--set",    "train.scheduler=plateau",
                              "--set",    "train.patience=0",
                              "--set",    "output.checkpoint_every=4",
                              "--set",    "output.log_every_steps=1",
                              "--set",    "output.figures=false",
                              "--quiet",  NULL};
        hh_result r;

        snprintf(name, sizeof name, "fx-%s-ref", methods[m]);
        tmp_path(ref, sizeof ref, name);
        assert_int_equal(run_quiet(0, args), 0);
        snprintf(name, sizeof name, "fx-%s-cut", methods[m]);
        tmp_path(cut, sizeof cut, name);
        args[5] = cut;
        /* Killed in epoch 2 after its batch 5, 2 steps after the checkpoint before batch 4. */
        assert_int_equal(run_quiet(18, args), -1);
        assert_int_equal(resume(cut, &r), 0);
        hh_free(&r);
        expect_same_run(ref, cut, files);
    }
}

/* ---- killed at random moments ----------------------------------------- */

static pid_t spawn_host(const char *const *args)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        char *argv[48];
        int n = 0;
        FILE *null = freopen("/dev/null", "w", stdout);
        (void)null;
        setenv("MTL_PLUGIN_PATH", good, 1);
        argv[n++] = (char *)MTLHOST;
        for (int i = 0; args[i] && n < 47; i++)
            argv[n++] = (char *)args[i];
        argv[n] = NULL;
        execv(MTLHOST, argv);
        _exit(127);
    }
    return pid;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void expect_files_parse(const char *dir)
{
    char bad[PATH_MAX];
    int n = rc_check_run_dir(dir, bad, sizeof bad);

    if (n < 0)
        fail_msg("a file of the killed run does not parse: %s", bad);
}

static void test_killed_at_random_moments(void **state)
{
    static const char *const files[] = {
        "toy_final.csv", "toy_trajectories.csv", "results.md", "results.csv", "steps.csv", NULL};
    char ref[PATH_MAX], cut[PATH_MAX];
    const char *args[24];
    unsigned seed = 20240607;
    hh_result r;

    (void)state;
    tmp_path(ref, sizeof ref, "kill-ref");
    toy_args(args, ref, "nashmtl", "task.steps=40000", "task.starts=0,1,2");
    args[13] = "output.checkpoint_every=5000";
    args[15] = "output.log_every_steps=1000";
    assert_int_equal(run_quiet(0, args), 0);
    expect_files_parse(ref);

    tmp_path(cut, sizeof cut, "kill-cut");
    args[5] = cut;
    for (int attempt = 0; attempt < 5; attempt++) {
        const char *again[] = {"--resume", cut, NULL};
        pid_t pid = spawn_host(attempt == 0 ? args : again);
        int status;

        sleep_ms(30 + (long)(rand_r(&seed) % 300));
        kill(pid, SIGKILL);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        expect_files_parse(cut);
    }
    assert_int_equal(resume(cut, &r), 0);
    hh_free(&r);
    expect_files_parse(cut);
    expect_same_run(ref, cut, files);
}

/* ---- refusals --------------------------------------------------------- */

static void expect_resume_error(const char *dir, const char *line)
{
    char want[8192];
    hh_result r;

    snprintf(want, sizeof want, "%s\n", line);
    resume(dir, &r);
    assert_string_equal(r.err, want);
    assert_int_equal(r.code, 2);
    hh_free(&r);
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    char *data = rc_read(from, &n);

    assert_non_null(data);
    write_bytes(to, data, n);
    free(data);
}

static void test_resume_refusals(void **state)
{
    char dir[PATH_MAX], other[PATH_MAX], ck[PATH_MAX], saved[PATH_MAX], msg[8192];
    const char *args[] = {"--method", "fx_weights",           "--task",  "fx_linear", "--out", dir,
                          "--set",    "output.figures=false", "--quiet", NULL};
    const char *toy[] = {"--method", "ls",
                         "--task",   "toy",
                         "--out",    other,
                         "--set",    "task.steps=10",
                         "--set",    "task.starts=0",
                         "--set",    "output.figures=false",
                         "--quiet",  NULL};
    char *config, *at;
    size_t n;
    hh_result r;

    (void)state;
    tmp_path(dir, sizeof dir, "refuse");
    tmp_path(other, sizeof other, "refuse-toy");
    assert_int_equal(run_quiet(0, args), 0);
    assert_int_equal(run_quiet(0, toy), 0);
    snprintf(ck, sizeof ck, "%s/%s", dir, HOST_CKPT_FILE);
    snprintf(saved, sizeof saved, "%s/saved.mtlckpt", dir);
    copy_file(ck, saved);

    /* A byte flipped in the middle, then the file cut short. */
    {
        char *data = rc_read(saved, &n);
        data[n / 2] ^= 0x40;
        write_bytes(ck, data, n);
        snprintf(msg, sizeof msg, "mtlhost: checkpoint: corrupt: %s (expected CRC-32C ", ck);
        resume(dir, &r);
        assert_int_equal(r.code, 2);
        assert_int_equal(hh_count_lines(r.err), 1);
        assert_non_null(strstr(r.err, msg));
        hh_free(&r);
        data[n / 2] ^= 0x40;
        write_bytes(ck, data, n - 100);
        snprintf(msg, sizeof msg,
                 "mtlhost: checkpoint: truncated: %s (expected %zu bytes, got %zu)", ck, n,
                 n - 100);
        expect_resume_error(dir, msg);
        free(data);
    }

    /* Another run's checkpoint. */
    snprintf(msg, sizeof msg, "%s/%s", other, HOST_CKPT_FILE);
    copy_file(msg, ck);
    snprintf(msg, sizeof msg,
             "mtlhost: checkpoint: does not fit this run: %s: written by method ls on task toy "
             "(expected method fx_weights on task fx_linear)",
             ck);
    expect_resume_error(dir, msg);

    /* config.ini edited after the checkpoint. */
    copy_file(saved, ck);
    snprintf(msg, sizeof msg, "%s/config.ini", dir);
    config = hh_read(msg);
    at = strstr(config, "\nlr = 0.05\n");
    assert_non_null(at);
    memcpy(at, "\nlr = 0.07\n", 11);
    hh_write(msg, config);
    free(config);
    snprintf(msg, sizeof msg,
             "mtlhost: checkpoint: does not fit this run: %s: the configuration differs: "
             "train.lr = 0.07 (the checkpoint has train.lr = 0.05)",
             ck);
    expect_resume_error(dir, msg);

    /* Flags that would change the run, and a folder that is no run. */
    {
        const char *seed[] = {"--resume", dir, "--seed", "3", NULL};
        const char *set[] = {"--resume", dir, "--set", "train.epochs=9", NULL};
        const char *method[] = {"--resume", dir, "--method", "ls", NULL};
        run_host(&r, 0, seed);
        assert_string_equal(r.err,
                            "mtlhost: usage: --resume continues a run with its own configuration: "
                            "--seed is not allowed with it (expected only output options: "
                            "--quiet, --tensorboard, --wandb-project, --wandb-entity, --set "
                            "output.KEY=VALUE)\n");
        assert_int_equal(r.code, 2);
        hh_free(&r);
        run_host(&r, 0, set);
        assert_non_null(strstr(r.err, ": --set train.epochs=9 is not allowed with it"));
        hh_free(&r);
        run_host(&r, 0, method);
        assert_non_null(strstr(r.err, ": --method is not allowed with it"));
        hh_free(&r);
    }
    snprintf(msg, sizeof msg,
             "mtlhost: resume: not a run directory: %s (expected %s/config.ini written by "
             "mtlhost)",
             hh_tmpdir(), hh_tmpdir());
    expect_resume_error(hh_tmpdir(), msg);
}

/* A run directory another mtlhost holds (its flock) is refused before anything is written. */
static void test_run_dir_lock(void **state)
{
    char dir[PATH_MAX], line[PATH_MAX + 200];
    const char *args[] = {"--method", "fx_weights",           "--task",  "fx_linear", "--out", dir,
                          "--set",    "output.figures=false", "--quiet", NULL};
    hh_result r;
    int fd;

    (void)state;
    tmp_path(dir, sizeof dir, "locked");
    assert_int_equal(run_quiet(0, args), 0);
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    snprintf(line, sizeof line,
             "mtlhost: run: '%s' is in use by another mtlhost process (expected a run directory "
             "no other run is writing; wait for that run to end)",
             dir);
    expect_resume_error(dir, line);
    close(fd);

    /* a new run given an empty folder that another process holds */
    tmp_path(dir, sizeof dir, "locked-new");
    assert_int_equal(mkdir(dir, 0700), 0);
    fd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(run_host(&r, 0, args), 2);
    snprintf(line, sizeof line,
             "mtlhost: run: '%s' is in use by another mtlhost process (expected a run directory "
             "no other run is writing; wait for that run to end)\n",
             dir);
    assert_string_equal(r.err, line);
    hh_free(&r);
    close(fd);
    assert_int_equal(rmdir(dir), 0); /* still empty: nothing was written */
}

/* ---- a task built before state_save ----------------------------------- */

static void test_old_task_struct(void **state)
{
    char ref[PATH_MAX], cut[PATH_MAX], task[PATH_MAX];
    static const char *const files[] = {"results.md", "results.csv", NULL};
    const char *args[] = {"--method", "nashmtl",
                          "--task",   task,
                          "--out",    ref,
                          "--set",    "train.epochs=4",
                          "--set",    "output.checkpoint_every=2",
                          "--set",    "output.figures=false",
                          NULL};
    hh_result r;

    (void)state;
    snprintf(task, sizeof task, "%s/fx_linear_old.so", old);
    tmp_path(ref, sizeof ref, "old-ref");
    tmp_path(cut, sizeof cut, "old-cut");
    /* The traps in its state fields abort the process if the host calls them. */
    assert_int_equal(run_host(&r, 0, args), 0);
    assert_string_equal(r.err,
                        "mtlhost: warning: checkpoint: fx_linear does not save its own state (no "
                        "state_save), so checkpoints are written at the end of epochs only "
                        "(output.checkpoint_every = 2 is not used)\n");
    hh_free(&r);
    args[5] = cut;
    assert_int_equal(run_quiet(10, args), -1); /* epoch 2, after the checkpoint at 8 */
    assert_int_equal(resume(cut, &r), 0);
    hh_free(&r);
    expect_same_run(ref, cut, files);
}

/* ---- output ----------------------------------------------------------- */

static void test_quiet(void **state)
{
    char dir[PATH_MAX], want[PATH_MAX + 64];
    const char *args[] = {
        "--method", "fx_weights",      "--task", "fx_linear",        "--out",   dir,
        "--set",    "task.nan_from=1", "--set",  "task.nan_count=1", "--quiet", NULL};
    hh_result r;

    (void)state;
    tmp_path(dir, sizeof dir, "quiet");
    assert_int_equal(run_host(&r, 0, args), 0);
    snprintf(want, sizeof want, "mtlhost: done: %s/results.md\n", dir);
    assert_string_equal(r.out, want);
    assert_string_equal(r.err, ""); /* the skipped step's warning too */
    hh_free(&r);
}

static void test_progress_lines_when_not_a_terminal(void **state)
{
    char dir[PATH_MAX];
    const char *args[] = {"--method", "fx_weights",
                          "--task",   "fx_linear",
                          "--out",    dir,
                          "--set",    "output.progress_seconds=0",
                          "--set",    "output.figures=false",
                          NULL};
    hh_result r;

    (void)state;
    tmp_path(dir, sizeof dir, "lines");
    assert_int_equal(run_host(&r, 0, args), 0);
    /* Every batch is due with a period of 0; the rate and losses vary, the start does not. */
    assert_non_null(strstr(r.out, "\ntrial 1/1 epoch 1/2 batch 1/4 (25%) "));
    assert_non_null(strstr(r.out, "\ntrial 1/1 epoch 2/2 batch 4/4 (100%) "));
    assert_non_null(strstr(r.out, " left | loss a="));
    assert_null(strchr(r.out, '\r'));
    assert_null(strchr(r.err, '\r'));
    assert_null(strchr(r.out, '\033'));
    hh_free(&r);
}

static void test_results_csv_and_run_json(void **state)
{
    char dir[PATH_MAX], bad[PATH_MAX];
    const char *args[] = {
        "--method", "fx_weights", "--task",        "fx_linear", "--out",
        dir,        "--set",      "task.trials=2", "--set",     "output.figures=false",
        "--quiet",  NULL};
    char *csv, *json;

    (void)state;
    tmp_path(dir, sizeof dir, "tables");
    assert_int_equal(run_quiet(0, args), 0);
    csv = file_in(dir, "results.csv");
    assert_non_null(csv);
    assert_true(rc_csv_valid(csv));
    assert_memory_equal(csv,
                        "trial,selected_epoch,val_delta_m,test_delta_m,loss_a,loss_b,metrics_from,"
                        "err_a,err_b,fit,skipped_steps,solver_failures\n0,",
                        strlen("trial,selected_epoch,val_delta_m,test_delta_m,loss_a,loss_b,"
                               "metrics_from,err_a,err_b,fit,skipped_steps,solver_failures\n0,"));
    assert_non_null(strstr(csv, "\n1,"));
    assert_non_null(strstr(csv, "\nmean,,"));
    assert_non_null(strstr(csv, ",test,"));
    free(csv);
    json = file_in(dir, "run.json");
    assert_non_null(json);
    assert_true(rc_json_valid(json, strlen(json)));
    assert_non_null(strstr(json, "\"tasks\":[\"a\",\"b\"],\"metrics\":[{\"label\":\"err_a\","
                                 "\"name\":\"err_a\",\"task\":\"a\",\"higher_is_better\":false,"
                                 "\"baseline\":0.5,\"unit\":\"\"}"));
    assert_non_null(strstr(json, "\"wandb_id\":\"\"}"));
    assert_non_null(strstr(json, "\"status\":\"finished\",\"error\":null,\"tasks\":"));
    free(json);
    assert_true(rc_check_run_dir(dir, bad, sizeof bad) >= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_format),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_checkpoint_frame),
        cmocka_unit_test(test_resume_toy_bit_identical),
        cmocka_unit_test(test_stop_signals),
        cmocka_unit_test(test_stop_lines),
        cmocka_unit_test(test_signal_after_training),
        cmocka_unit_test(test_resume_methods_bit_identical),
        cmocka_unit_test(test_killed_at_random_moments),
        cmocka_unit_test(test_resume_refusals),
        cmocka_unit_test(test_run_dir_lock),
        cmocka_unit_test(test_old_task_struct),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_progress_lines_when_not_a_terminal),
        cmocka_unit_test(test_results_csv_and_run_json),
    };
    const char *need[] = {"/plugins/nashmtl.so", "/plugins/rlw.so", "/plugins/uw.so",
                          "/plugins/ls.so", "/plugins/toy.so"};

    if (!realpath(FX_GOOD, good) || !realpath(FX_OLD, old)) {
        fprintf(stderr, "test_run: the fixture folders are missing\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        snprintf(plugins, sizeof plugins, "%s%s", MTL_TEST_BINARY_DIR, need[i]);
        if (!hh_exists(plugins)) {
            printf("skipped: %s is not built\n", plugins);
            return 77;
        }
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
