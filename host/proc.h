/*
 * host/proc.h - running helper programs: the python scripts of the tools
 * folder (figures, the wandb bridge).
 */
#ifndef MTL_HOST_PROC_H
#define MTL_HOST_PROC_H

#include <spawn.h>

/*
 * Attributes for posix_spawn of a helper: the child starts with SIGINT
 * blocked, so a Ctrl-C at the terminal (sent to the whole process group)
 * stops mtlhost, which ends its helpers in order, instead of killing a
 * helper mid-file with a Python traceback.  Free with
 * posix_spawnattr_destroy.
 */
void host_spawn_attr(posix_spawnattr_t *attr);

/*
 * Runs argv (argv[0] searched in PATH) and waits for it.  quiet: its stdout
 * and stderr go to /dev/null; no_stdout: its stdout alone does.  Its exit
 * status; -1 when it could not start; 256 + N when signal N ended it.
 */
int host_run_program(char *const argv[], int quiet, int no_stdout);

/*
 * The first of $MTL_PYTHON, python3 and /usr/bin/python3 in which
 * `module` can be found (without importing it), or NULL.
 */
const char *host_find_python(const char *module);

#endif /* MTL_HOST_PROC_H */
