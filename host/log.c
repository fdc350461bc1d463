/* The host's log lines (see log.h). */
#include "log.h"

#include <stdio.h>

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

static void print_line(FILE *f, mtl_log_level level, const char *who, const char *fmt, va_list ap)
{
    host_progress_clear();
    if (who)
        fprintf(f, "%s: ", who);
    if (level == MTL_LOG_WARN)
        fputs("warning: ", f);
    else if (level >= MTL_LOG_ERROR)
        fputs("error: ", f);
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fflush(f);
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
