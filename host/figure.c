/* Drawing the run's figures (see figure.h). */
#include "figure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proc.h"
#include "text.h"

void host_figure_draw(const char *tools_dir, const char *task_tool, const char *run_dir)
{
    host_buf plot = {0}, task = {0};
    const char *python = host_find_python("matplotlib");
    int rc;

    host_buf_printf(&plot, "%s/plot_run.py", tools_dir);
    if (task_tool)
        host_buf_printf(&task, "%s/%s", tools_dir, task_tool);
    if (plot.failed || task.failed) {
        host_buf_free(&plot);
        host_buf_free(&task);
        return;
    }
    if (!python) {
        host_log(MTL_LOG_WARN, "mtlhost",
                 "figure: no python3 with matplotlib (tried $MTL_PYTHON, python3, "
                 "/usr/bin/python3); to draw it: apt-get install python3-matplotlib (or pip "
                 "install matplotlib), then run: python3 %s %s%s%s",
                 host_buf_str(&plot), run_dir, task_tool ? " --task-figure " : "",
                 host_buf_str(&task));
    } else {
        char *argv[] = {(char *)python, plot.data, (char *)run_dir, NULL, NULL, NULL};
        if (task_tool) {
            argv[3] = "--task-figure";
            argv[4] = task.data;
        }
        rc = host_run_program(argv, 0, host_log_quiet());
        if (rc != 0)
            host_log(MTL_LOG_WARN, "mtlhost",
                     "figure: %s %s %s%s%s failed (expected exit status 0, got %d); the run's "
                     "files are complete",
                     python, host_buf_str(&plot), run_dir, task_tool ? " --task-figure " : "",
                     host_buf_str(&task), rc);
        else
            host_say("figure: drawn by plot_run.py%s%s into %s", task_tool ? " and " : "",
                     task_tool ? task_tool : "", run_dir);
    }
    host_buf_free(&plot);
    host_buf_free(&task);
}
