/* The host's log lines (see log.h). */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "text.h"

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
 * The form of the character at p: a C0 control byte (but a tab, and a
 * newline where keep_newlines), DEL, or a C1 control character in UTF-8
 * (c2 80 to c2 9f) as \xNN bytes into rep, anything else as it is.  The
 * bytes of p it stands for.
 */
static size_t shown_char(const unsigned char *p, int keep_newlines, char rep[9])
{
    size_t n = host_control_len((const char *)p, p[0] ? (p[1] ? 2 : 1) : 0);

    if (n == 2)
        snprintf(rep, 9, "\\x%02x\\x%02x", p[0], p[1]);
    else if (n == 1 && !(keep_newlines && p[0] == '\n'))
        snprintf(rep, 9, "\\x%02x", p[0]);
    else
        snprintf(rep, 9, "%c", p[0]);
    return n == 2 ? 2 : 1;
}

static void put_shown(FILE *f, const char *text, int keep_newlines)
{
    char rep[9];

    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        p += shown_char(p, keep_newlines, rep);
        fputs(rep, f);
    }
}

void host_shown_copy(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    char rep[9];

    if (cap == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)text; *p;) {
        size_t used = shown_char(p, 0, rep), len = strlen(rep);

        if (n + len >= cap) {
            /* a character of several bytes copied in part goes, whole */
            size_t k = n;
            while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
                k--;
            if (k > 0 && (unsigned char)out[k - 1] >= 0xc0) {
                unsigned char lead = (unsigned char)out[k - 1];
                size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
                if (n - (k - 1) < want)
                    n = k - 1;
            }
            break;
        }
        memcpy(out + n, rep, len);
        n += len;
        p += used;
    }
    out[n] = '\0';
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
