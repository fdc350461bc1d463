/* Running helper programs (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void host_spawn_attr(posix_spawnattr_t *attr)
{
    sigset_t mask;

    posix_spawnattr_init(attr);
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    posix_spawnattr_setsigmask(attr, &mask);
    posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGMASK);
}

int host_run_program(char *const argv[], int quiet, int no_stdout)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    pid_t pid;
    int status = 0, rc;

    posix_spawn_file_actions_init(&actions);
    if (quiet || no_stdout)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (quiet)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    host_spawn_attr(&attr);
    rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(status))
        return 256 + WTERMSIG(status);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int has_module(const char *python, const char *module)
{
    char code[256];
    char *argv[] = {(char *)python, "-c", code, NULL};

    snprintf(code, sizeof code,
             "import importlib.util, sys; sys.exit(importlib.util.find_spec('%s') is None)",
             module);
    return host_run_program(argv, 1, 1) == 0;
}

const char *host_find_python(const char *module)
{
    const char *env = getenv("MTL_PYTHON");

    if (env && *env && has_module(env, module))
        return env;
    if (has_module("python3", module))
        return "python3";
    if (has_module("/usr/bin/python3", module))
        return "/usr/bin/python3";
    return NULL;
}
