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

void host_put_shown(FILE *f, const char *text)
{
    for (; *text; text++) {
        unsigned char c = (unsigned char)*text;

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
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
