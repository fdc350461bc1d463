/* Progress reports (see progress.h). */
#include "progress.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define BAR_CELLS     20
#define BAR_PERIOD    0.1 /* seconds between two redraws of the bar */
#define DEFAULT_WIDTH 80

static host_progress_mode mode;
static double period, last_shown = -1e300;
static int bar_visible;

static double now_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- formatting ------------------------------------------------------- */

void host_progress_duration(char *buf, size_t cap, double seconds)
{
    long long s;

    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, cap, "?");
        return;
    }
    s = (long long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%lld:%02lld", s / 60, s % 60);
}

/* Appends to buf at *len, keeping it terminated and never past cap. */
static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len + 1 >= cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

static void add_rate(char *buf, size_t cap, size_t *len, double rate, const char *unit)
{
    if (!(rate > 0) || !isfinite(rate))
        add(buf, cap, len, "? %s/s", unit);
    else if (rate >= 100)
        add(buf, cap, len, "%.0f %s/s", rate, unit);
    else if (rate >= 1)
        add(buf, cap, len, "%.1f %s/s", rate, unit);
    else
        add(buf, cap, len, "%.1f s/%s", 1 / rate, unit);
}

static void add_losses(char *buf, size_t cap, size_t *len, const host_progress_view *v,
                       const char *sep)
{
    if (!v->losses)
        return;
    add(buf, cap, len, " | loss");
    for (int i = 0; i < v->n_tasks; i++) {
        char name[256];
        host_shown_copy(v->task_names[i], name, sizeof name); /* a plugin's words */
        add(buf, cap, len, " %s%s%.4g", name, sep, v->losses[i]);
    }
}

static void add_bar(char *buf, size_t cap, size_t *len, const host_progress_view *v, int cells)
{
    double frac = v->n_batches > 0 ? (double)v->batch / (double)v->n_batches : 0;
    int full = (int)(frac * cells);

    if (full > cells)
        full = cells;
    add(buf, cap, len, " [");
    for (int i = 0; i < cells; i++)
        add(buf, cap, len, "%c", i < full ? '=' : i == full ? '>' : ' ');
    add(buf, cap, len, "]");
}

/* The terminal form with a bar of `cells` cells; its length. */
static size_t format_bar(char *buf, size_t cap, const host_progress_view *v, int cells,
                         const char *left, double pct)
{
    size_t len = 0;

    buf[0] = '\0';
    add(buf, cap, &len, "trial %d/%d epoch %lld/%lld", v->trial + 1, v->n_trials,
        (long long)v->epoch + 1, (long long)v->n_epochs);
    add_bar(buf, cap, &len, v, cells);
    add(buf, cap, &len, " %lld/%lld %3.0f%% ", (long long)v->batch, (long long)v->n_batches, pct);
    add_rate(buf, cap, &len, v->rate, "it");
    add(buf, cap, &len, " %s left", left);
    add_losses(buf, cap, &len, v, " ");
    return len;
}

size_t host_progress_format(char *buf, size_t cap, const host_progress_view *v, int width, int bar)
{
    double pct = v->n_batches > 0 ? 100.0 * (double)v->batch / (double)v->n_batches : 0;
    char left[32];
    size_t len = 0;

    if (cap == 0)
        return 0;
    buf[0] = '\0';
    host_progress_duration(left, sizeof left, v->seconds_left);
    if (bar) {
        /* A narrow terminal shortens the bar first (down to 5 cells), then cuts the line. */
        len = format_bar(buf, cap, v, BAR_CELLS, left, pct);
        if (width > 0 && len > (size_t)width - 1) {
            size_t over = len - ((size_t)width - 1);
            int cells = over >= BAR_CELLS - 5 ? 5 : BAR_CELLS - (int)over;
            len = format_bar(buf, cap, v, cells, left, pct);
        }
        if (width > 0 && len > (size_t)width - 1) {
            len = (size_t)width - 1;
            while (len > 0 && ((unsigned char)buf[len] & 0xc0) == 0x80)
                len--; /* between whole UTF-8 characters */
            buf[len] = '\0';
        }
        return len;
    }
    add(buf, cap, &len, "trial %d/%d epoch %lld/%lld", v->trial + 1, v->n_trials,
        (long long)v->epoch + 1, (long long)v->n_epochs);
    add(buf, cap, &len, " batch %lld/%lld (%.0f%%) ", (long long)v->batch, (long long)v->n_batches,
        pct);
    add_rate(buf, cap, &len, v->rate, "batch");
    add(buf, cap, &len, ", %s left", left);
    add_losses(buf, cap, &len, v, "=");
    return len;
}

/* ---- showing ---------------------------------------------------------- */

host_progress_mode host_progress_auto(void)
{
    return isatty(STDERR_FILENO) ? HOST_PROGRESS_BAR : HOST_PROGRESS_LINES;
}

void host_progress_start(host_progress_mode m, double line_seconds)
{
    mode = m;
    period = m == HOST_PROGRESS_BAR ? BAR_PERIOD : line_seconds;
    last_shown = now_seconds(); /* the first report comes one period in */
    bar_visible = 0;
}

int host_progress_due(void)
{
    return mode != HOST_PROGRESS_OFF && now_seconds() - last_shown >= period;
}

static int terminal_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return DEFAULT_WIDTH;
}

void host_progress_show(const host_progress_view *v)
{
    char line[1024];

    last_shown = now_seconds();
    if (mode == HOST_PROGRESS_BAR) {
        host_progress_format(line, sizeof line, v, terminal_width(), 1);
        fprintf(stderr, "\r%s\033[K", line);
        fflush(stderr);
        bar_visible = 1;
    } else if (mode == HOST_PROGRESS_LINES) {
        host_progress_format(line, sizeof line, v, 0, 0);
        printf("%s\n", line);
        fflush(stdout);
    }
}

void host_progress_clear(void)
{
    if (!bar_visible)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    bar_visible = 0;
}
