/* The host's log lines (see log.h). */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

#include "progress.h"

static int verbose, quiet;

void host_log_set_verbose(int on)
{
    verbose = on;
}

void host_log_set_quiet(int on)
{
    quiet = on;
}

int host_log_quiet(void)
{
    return quiet;
}

/*
 * A C0 control byte (but a tab, and a newline where keep_newlines), DEL, or a
 * C1 control character in UTF-8 (c2 80 to c2 9f) as \xNN bytes.
 */
static void put_shown(FILE *f, const char *text, int keep_newlines)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            fprintf(f, "\\x%02x\\x%02x", p[0], p[1]);
            p++;
        } else if ((*p < 0x20 && *p != '\t' && !(keep_newlines && *p == '\n')) || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
}

void host_put_shown(FILE *f, const char *text)
{
    put_shown(f, text, 0);
}

void host_put_shown_lines(FILE *f, const char *text)
{
    put_shown(f, text, 1);
}

static void print_line(FILE *f, mtl_log_level level, const char *who, const char *fmt, va_list ap)
{
    char small[1024], *text = small;
    va_list again;
    int n;

    host_progress_clear();
    va_copy(again, ap);
    n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (text = malloc((size_t)n + 1)) != NULL)
        vsnprintf(text, (size_t)n + 1, fmt, again);
    else if (!text)
        text = small; /* out of memory: the line cut at its first 1023 bytes */
    va_end(again);
    if (who) {
        host_put_shown(f, who);
        fputs(": ", f);
    }
    if (level == MTL_LOG_WARN)
        fputs("warning: ", f);
    else if (level >= MTL_LOG_ERROR)
        fputs("error: ", f);
    host_put_shown(f, text);
    fputc('\n', f);
    fflush(f);
    if (text != small)
        free(text);
}

void host_logv(mtl_log_level level, const char *who, const char *fmt, va_list ap)
{
    if (level == MTL_LOG_DEBUG && !verbose)
        return;
    if (quiet && level < MTL_LOG_ERROR)
        return;
    print_line(level >= MTL_LOG_WARN ? stderr : stdout, level, who, fmt, ap);
}

void host_log(mtl_log_level level, const char *who, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv(level, who, fmt, ap);
    va_end(ap);
}

void host_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    host_logv(MTL_LOG_INFO, NULL, fmt, ap);
    va_end(ap);
}

void host_summary(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    print_line(stdout, MTL_LOG_INFO, NULL, fmt, ap);
    va_end(ap);
}
