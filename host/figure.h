/*
 * host/figure.h - drawing a task's figure after the run.
 *
 * The task names a script of the project's tools folder (figure_tool); the
 * host runs `PY <tools dir>/<figure_tool> <run dir>` with PY the first of
 * $MTL_PYTHON, python3 and /usr/bin/python3 that can import matplotlib.
 * Without one the run still succeeds: the host prints one line saying how to
 * get the figure.
 */
#ifndef MTL_HOST_FIGURE_H
#define MTL_HOST_FIGURE_H

/* Draws the figure or explains how; never fails the run. */
void host_figure_draw(const char *tools_dir, const char *tool, const char *run_dir);

#endif /* MTL_HOST_FIGURE_H */
