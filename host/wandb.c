/* Experiment tracking through the wandb bridge (see wandb.h). */
#include "wandb.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"
#include "text.h"

extern char **environ;

/* The bridge's exit status after it reported its own failure in one line. */
#define BRIDGE_REPORTED 3
/* Lines kept while the bridge is slow; past this, lines are dropped. */
#define PENDING_CAP (16u << 20)

struct host_wandb {
    pid_t pid;
    int fd;           /* the pipe's write end, non-blocking; -1 once closed */
    host_buf pending; /* bytes not written yet, from `sent` on */
    size_t sent;
    int dead;    /* the bridge is gone: nothing more is sent */
    int dropped; /* lines were dropped (warned once) */
};

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

void host_wandb_new_id(char id[9])
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char bytes[8] = {0};
    FILE *f = fopen("/dev/urandom", "rb");

    if (!f || fread(bytes, 1, sizeof bytes, f) != sizeof bytes) {
        uint64_t x = (uint64_t)time(NULL) * 6364136223846793005u + (uint64_t)getpid();
        for (int i = 0; i < 8; i++, x >>= 8)
            bytes[i] = (unsigned char)(x ^ (x >> 29));
    }
    if (f)
        fclose(f);
    for (int i = 0; i < 8; i++)
        id[i] = digits[bytes[i] % 36];
    id[8] = '\0';
}

/* ---- the bridge's end ------------------------------------------------- */

/* Says why the bridge stopped, unless it said so itself. */
static void report_exit(int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == BRIDGE_REPORTED)
        return;
    if (WIFEXITED(status))
        host_log(MTL_LOG_WARN, "mtlhost",
                 "wandb: the bridge stopped (exit status %d); the run goes on without tracking",
                 WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        host_log(MTL_LOG_WARN, "mtlhost",
                 "wandb: the bridge stopped (killed by signal %d); the run goes on without "
                 "tracking",
                 WTERMSIG(status));
}

static void close_pipe(host_wandb *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* The bridge is gone or unusable: reap it when it has exited, and stop sending. */
static void mark_dead(host_wandb *w)
{
    int status;

    if (w->dead)
        return;
    w->dead = 1;
    close_pipe(w);
    host_buf_free(&w->pending);
    w->sent = 0;
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(w->pid, &status, WNOHANG);
        if (r == w->pid) {
            w->pid = 0;
            report_exit(status);
            return;
        }
        if (r < 0 && errno != EINTR)
            break;
        sleep_ms(20);
    }
    host_log(MTL_LOG_WARN, "mtlhost",
             "wandb: the bridge stopped reading; the run goes on without tracking");
}

/* Writes what the pipe takes now; never blocks. */
static void try_write(host_wandb *w)
{
    while (!w->dead && w->sent < w->pending.len) {
        ssize_t n = write(w->fd, w->pending.data + w->sent, w->pending.len - w->sent);
        if (n > 0) {
            w->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        mark_dead(w); /* EPIPE: the bridge has exited */
        return;
    }
    if (!w->dead && w->sent == w->pending.len) {
        host_buf_clear(&w->pending);
        w->sent = 0;
    }
}

/* ---- starting it ------------------------------------------------------ */

static void init_line(const host_wandb_config *cfg, host_buf *b)
{
    host_buf_printf(b, "{\"event\":\"init\",\"project\":");
    host_buf_json_string(b, cfg->project);
    host_buf_printf(b, ",\"entity\":");
    if (*cfg->entity)
        host_buf_json_string(b, cfg->entity);
    else
        host_buf_printf(b, "null");
    host_buf_printf(b, ",\"name\":");
    host_buf_json_string(b, cfg->name);
    host_buf_printf(b, ",\"id\":");
    host_buf_json_string(b, cfg->id);
    host_buf_printf(b, ",\"dir\":");
    host_buf_json_string(b, cfg->run_dir);
    host_buf_printf(b, ",\"resume\":%s,\"tags\":%s,\"config\":%s}", cfg->resume ? "true" : "false",
                    cfg->tags_json, cfg->config_json);
}

static int spawn_bridge(host_wandb *w, const char *python, const char *script)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    char *argv[] = {(char *)python, (char *)script, NULL, NULL};
    int fds[2], rc;

    if (host_log_quiet())
        argv[2] = "--quiet";
    if (pipe2(fds, O_CLOEXEC) != 0)
        return errno;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    host_spawn_attr(&attr);
    rc = posix_spawnp(&w->pid, python, &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        return rc;
    }
    w->fd = fds[1];
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

host_wandb *host_wandb_start(const host_wandb_config *cfg)
{
    const char *python = host_find_python("wandb");
    host_wandb *w;
    host_buf script = {0}, line = {0};
    char why[128];
    int err;

    if (!python) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "wandb: no python3 with the wandb package (tried $MTL_PYTHON, python3, "
                 "/usr/bin/python3); to track runs: python3 -m pip install wandb; the run goes "
                 "on without tracking");
        return NULL;
    }
    w = calloc(1, sizeof *w);
    host_buf_printf(&script, "%s/wandb_bridge.py", cfg->tools_dir);
    if (!w || script.failed) {
        free(w);
        host_buf_free(&script);
        host_log(MTL_LOG_WARN, "mtlhost", "wandb: out of memory; the run goes on without tracking");
        return NULL;
    }
    w->fd = -1;
    err = spawn_bridge(w, python, host_buf_str(&script));
    if (err) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "wandb: cannot start the bridge: %s %s: %s; the run goes on without tracking",
                 python, host_buf_str(&script), host_strerror(err, why, sizeof why));
        host_buf_free(&script);
        free(w);
        return NULL;
    }
    host_buf_free(&script);
    init_line(cfg, &line);
    host_wandb_send(w, host_buf_str(&line));
    host_buf_free(&line);
    return w;
}

/* ---- lines ------------------------------------------------------------ */

void host_wandb_send(host_wandb *w, const char *line)
{
    size_t n = strlen(line);

    if (!w || w->dead)
        return;
    if (w->pending.len - w->sent + n + 1 > PENDING_CAP) {
        if (!w->dropped)
            host_log(MTL_LOG_WARN, "mtlhost",
                     "wandb: the bridge is not keeping up; metrics are dropped while %u MiB "
                     "wait for it",
                     PENDING_CAP >> 20);
        w->dropped = 1;
        try_write(w);
        return;
    }
    host_buf_append(&w->pending, line, n);
    host_buf_append(&w->pending, "\n", 1);
    if (w->pending.failed) {
        mark_dead(w);
        return;
    }
    try_write(w);
}

/* Waits up to `deadline` for the pending lines to go out. */
static void drain(host_wandb *w, double deadline)
{
    while (!w->dead && w->sent < w->pending.len && now_seconds() < deadline) {
        struct pollfd p = {w->fd, POLLOUT, 0};
        poll(&p, 1, 100);
        try_write(w);
    }
}

/* Waits for the bridge to exit until `deadline`, then stops it. */
static void reap(host_wandb *w, double deadline)
{
    int status;

    while (w->pid > 0) {
        pid_t r = waitpid(w->pid, &status, WNOHANG);
        if (r == w->pid) {
            w->pid = 0;
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                report_exit(status);
            return;
        }
        if (r < 0 && errno != EINTR)
            return;
        if (now_seconds() >= deadline)
            break;
        sleep_ms(50);
    }
    host_log(MTL_LOG_WARN, "mtlhost",
             "wandb: the bridge did not finish in time; stopping it (the tracked run may be "
             "incomplete)");
    kill(w->pid, SIGTERM);
    sleep_ms(500);
    if (waitpid(w->pid, &status, WNOHANG) != w->pid) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, &status, 0);
    }
    w->pid = 0;
}

void host_wandb_finish(host_wandb *w, int exit_code, double timeout)
{
    double deadline = now_seconds() + timeout;
    char line[64];

    if (!w)
        return;
    snprintf(line, sizeof line, "{\"event\":\"finish\",\"exit_code\":%d}", exit_code);
    host_wandb_send(w, line);
    drain(w, deadline);
    close_pipe(w);
    if (w->pid > 0)
        reap(w, deadline);
    host_buf_free(&w->pending);
    free(w);
}
