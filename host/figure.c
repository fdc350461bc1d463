/* Drawing a task's figure after the run (see figure.h). */
#include "figure.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

extern char **environ;

/* Runs argv (searched in PATH); quiet hides its output.  Its exit status, or -1. */
static int run_program(char *const argv[], int quiet)
{
    posix_spawn_file_actions_t actions;
    pid_t pid;
    int status = 0, rc;

    posix_spawn_file_actions_init(&actions);
    if (quiet) {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
    rc = posix_spawnp(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return -1;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int has_matplotlib(const char *python)
{
    char *argv[] = {(char *)python, "-c", "import matplotlib", NULL};

    return run_program(argv, 1) == 0;
}

static const char *find_python(void)
{
    const char *env = getenv("MTL_PYTHON");

    if (env && *env && has_matplotlib(env))
        return env;
    if (has_matplotlib("python3"))
        return "python3";
    if (has_matplotlib("/usr/bin/python3"))
        return "/usr/bin/python3";
    return NULL;
}

void host_figure_draw(const char *tools_dir, const char *tool, const char *run_dir)
{
    size_t n = strlen(tools_dir) + strlen(tool) + 2;
    char *script = malloc(n);
    const char *python;
    int rc;

    if (!script)
        return;
    snprintf(script, n, "%s/%s", tools_dir, tool);
    python = find_python();
    if (!python) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "figure: no python3 with matplotlib (tried $MTL_PYTHON, python3, "
                 "/usr/bin/python3); to draw it: apt-get install python3-matplotlib (or pip "
                 "install matplotlib), then run: python3 %s %s",
                 script, run_dir);
        free(script);
        return;
    }
    {
        char *argv[] = {(char *)python, script, (char *)run_dir, NULL};
        rc = run_program(argv, 0);
    }
    if (rc != 0)
        host_log(MTL_LOG_WARN, "mtlhost",
                 "figure: %s %s %s failed (expected exit status 0, got %d); the run's files are "
                 "complete",
                 python, script, run_dir, rc);
    else
        host_say("figure: drawn by %s into %s", tool, run_dir);
    free(script);
}
