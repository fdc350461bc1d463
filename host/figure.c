/* Drawing the run's figures (see figure.h). */
#include "figure.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "proc.h"
#include "text.h"

#define FIGURE_MAX_PNGS 64

/* The .png files of the run directory and when each was last written. */
typedef struct png_list {
    int n;
    char name[FIGURE_MAX_PNGS][256];
    struct timespec mtime[FIGURE_MAX_PNGS];
} png_list;

static int is_png(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && strcmp(name + n - 4, ".png") == 0;
}

static void png_scan(const char *run_dir, png_list *l)
{
    DIR *d = opendir(run_dir);
    struct dirent *e;
    char path[4096 + 256];
    struct stat sb;

    l->n = 0;
    while (d && (e = readdir(d)) != NULL && l->n < FIGURE_MAX_PNGS) {
        if (!is_png(e->d_name) || strlen(e->d_name) >= sizeof l->name[0])
            continue;
        snprintf(path, sizeof path, "%s/%s", run_dir, e->d_name);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        snprintf(l->name[l->n], sizeof l->name[0], "%s", e->d_name);
        l->mtime[l->n++] = sb.st_mtim;
    }
    if (d)
        closedir(d);
}

/* Whether `name` (or, for NULL, any .png but training.png) is new or rewritten since `before`. */
static int png_written(const png_list *before, const png_list *after, const char *name)
{
    for (int i = 0; i < after->n; i++) {
        int changed = 1;
        if (name ? strcmp(after->name[i], name) != 0 : strcmp(after->name[i], "training.png") == 0)
            continue;
        for (int j = 0; j < before->n; j++)
            if (strcmp(before->name[j], after->name[i]) == 0)
                changed = before->mtime[j].tv_sec != after->mtime[i].tv_sec ||
                          before->mtime[j].tv_nsec != after->mtime[i].tv_nsec;
        if (changed)
            return 1;
    }
    return 0;
}

/* A tool that exits 0 without its figure (a stub python, a tool that skipped it) is a warning. */
static int report_drawn(const char *task_tool, const char *run_dir, const png_list *before)
{
    static png_list after;
    int run_ok, task_ok;

    png_scan(run_dir, &after);
    run_ok = png_written(before, &after, "training.png");
    task_ok = !task_tool || png_written(before, &after, NULL);
    if (run_ok && task_ok)
        host_say("figure: drawn by plot_run.py%s%s into %s", task_tool ? " and " : "",
                 task_tool ? task_tool : "", run_dir);
    else
        host_log(MTL_LOG_WARN, "mtlhost",
                 "figure: no figure written: %s%s%s exited 0 but %s/%s is missing or unchanged "
                 "(expected a new .png); the run's files are complete",
                 run_ok ? "" : "plot_run.py", !run_ok && !task_ok ? " and " : "",
                 task_ok ? "" : task_tool, run_dir,
                 run_ok ? "<the task's figure>" : "training.png");
    return run_ok && task_ok;
}

void host_figure_command(host_buf *b, const char *python, const char *tools_dir,
                         const char *task_tool, const char *run_dir)
{
    host_buf path = {0};

    host_buf_printf(&path, "%s/plot_run.py", tools_dir);
    host_buf_shell_word(b, python ? python : "python3"); /* the one that can draw them */
    host_buf_printf(b, " ");
    host_buf_shell_word(b, host_buf_str(&path));
    host_buf_printf(b, " ");
    host_buf_shell_word(b, run_dir);
    if (task_tool) {
        host_buf_clear(&path);
        host_buf_printf(&path, "%s/%s", tools_dir, task_tool);
        host_buf_printf(b, " --task-figure ");
        host_buf_shell_word(b, host_buf_str(&path));
    }
    host_buf_free(&path);
}

int host_figure_draw(const char *tools_dir, const char *task_tool, const char *run_dir)
{
    host_buf plot = {0}, task = {0}, cmd = {0};
    const char *python = host_find_python("matplotlib");
    int rc, drawn = 0;

    host_buf_printf(&plot, "%s/plot_run.py", tools_dir);
    if (task_tool)
        host_buf_printf(&task, "%s/%s", tools_dir, task_tool);
    if (plot.failed || task.failed) {
        host_buf_free(&plot);
        host_buf_free(&task);
        return 0;
    }
    host_figure_command(&cmd, python, tools_dir, task_tool, run_dir);
    if (!python) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "figure: no python3 with matplotlib (tried $MTL_PYTHON, python3, "
                 "/usr/bin/python3); to draw it: apt-get install python3-matplotlib (or pip "
                 "install matplotlib), then run: %s",
                 host_buf_str(&cmd));
    } else {
        static png_list before;
        char *argv[] = {(char *)python, plot.data, (char *)run_dir, NULL, NULL, NULL};
        if (task_tool) {
            argv[3] = "--task-figure";
            argv[4] = task.data;
        }
        png_scan(run_dir, &before);
        rc = host_run_program(argv, 0, host_log_quiet());
        if (rc != 0) {
            char got[64];
            if (rc < 0)
                snprintf(got, sizeof got, "no process (it could not be started)");
            else if (rc >= 256)
                snprintf(got, sizeof got, "signal %d", rc - 256);
            else
                snprintf(got, sizeof got, "exit status %d", rc);
            host_log(MTL_LOG_WARN, "mtlhost",
                     "figure: %s failed (expected exit status 0, got %s); the run's files are "
                     "complete",
                     host_buf_str(&cmd), got);
        } else
            drawn = report_drawn(task_tool, run_dir, &before);
    }
    host_buf_free(&plot);
    host_buf_free(&task);
    host_buf_free(&cmd);
    return drawn;
}
