/*
 * host/figure.h - drawing the run's figures after it ends.
 *
 * The host runs `PY <tools dir>/plot_run.py <run dir> [--task-figure
 * <tools dir>/<figure_tool>]`, with PY the first of $MTL_PYTHON, python3 and
 * /usr/bin/python3 that has matplotlib: plot_run.py draws the training
 * curves and the method's weights (training.png) and then, in the same
 * process, runs the task's own figure tool when it names one.  Without such
 * a python the run still succeeds: the host prints one line saying how to
 * get the figures.
 */
#ifndef MTL_HOST_FIGURE_H
#define MTL_HOST_FIGURE_H

#include "text.h"

/*
 * Appends the shell command that draws the figures with `python` (NULL:
 * "python3"), its words quoted as needed.
 */
void host_figure_command(host_buf *b, const char *python, const char *tools_dir,
                         const char *task_tool, const char *run_dir);

/*
 * Draws the figures or explains how; never fails the run.  task_tool may be
 * NULL.  1 when every figure was written, 0 otherwise (the reason printed).
 */
int host_figure_draw(const char *tools_dir, const char *task_tool, const char *run_dir);

#endif /* MTL_HOST_FIGURE_H */
