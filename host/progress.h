/*
 * host/progress.h - how far the run is.
 *
 *   bar    on a terminal (stderr): one line redrawn in place at most ten
 *          times a second: trial, epoch, a bar of the epoch's batches, the
 *          rate, the time left and the epoch's mean losses so far
 *   lines  when stderr is not a terminal: the same facts as a plain line on
 *          stdout every output.progress_seconds (the epoch lines of the
 *          trainer come on top)
 *   off    --quiet, or output.progress = none
 *
 * Log lines (log.h) erase the bar before they print.
 */
#ifndef MTL_HOST_PROGRESS_H
#define MTL_HOST_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef enum host_progress_mode {
    HOST_PROGRESS_OFF = 0,
    HOST_PROGRESS_BAR = 1,
    HOST_PROGRESS_LINES = 2
} host_progress_mode;

/* What one progress report shows; counts are 0-based, `batch` is the batches done. */
typedef struct host_progress_view {
    int trial, n_trials;
    int64_t epoch, n_epochs;
    int64_t batch, n_batches;
    double rate;         /* batches per second; NaN or 0 when not known yet */
    double seconds_left; /* the whole run's; NaN when not known */
    int n_tasks;
    const char *const *task_names;
    const double *losses; /* the epoch's mean losses so far; NULL when none */
} host_progress_view;

/*
 * Formats a report into buf (always NUL-terminated) and returns its length:
 * with bar, the terminal form, cut to `width` - 1 columns; without, the plain
 * line.
 */
size_t host_progress_format(char *buf, size_t cap, const host_progress_view *v, int width, int bar);

/* "1:02:03", "4:05", or "?" for a negative or non-finite time. */
void host_progress_duration(char *buf, size_t cap, double seconds);

/* Chooses the form; `line_seconds` is the period of plain lines. */
void host_progress_start(host_progress_mode mode, double line_seconds);

/* Nonzero when a report is due now (the caller then builds the view). */
int host_progress_due(void);
void host_progress_show(const host_progress_view *v);

/* Erases the bar if it is shown (before other output). */
void host_progress_clear(void);

/* The mode a terminal check gives for output.progress = auto. */
host_progress_mode host_progress_auto(void);

#endif /* MTL_HOST_PROGRESS_H */
