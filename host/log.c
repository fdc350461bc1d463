/* The host's log lines (see log.h). */
#include "log.h"

#include <stdio.h>

static int verbose;

void host_log_set_verbose(int on)
{
    verbose = on;
}

void host_logv(mtl_log_level level, const char *who, const char *fmt, va_list ap)
{
    FILE *f = level >= MTL_LOG_WARN ? stderr : stdout;

    if (level == MTL_LOG_DEBUG && !verbose)
        return;
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
