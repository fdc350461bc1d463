/* Running helper programs (see proc.h). */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int host_run_program(char *const argv[], int quiet, int no_stdout)
{
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int status = 0, rc;

    posix_spawn_file_actions_init(&actions);
    if (quiet || no_stdout)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    if (quiet)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
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
