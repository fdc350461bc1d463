/*
 * host/log.h - the host's log lines.
 *
 *   plain progress lines            stdout, no prefix
 *   "<who>: text"                   stdout, a plugin's info (debug: --verbose only)
 *   "<who>: warning: text"          stderr
 *   "<who>: error: text"            stderr
 *
 * The host's own warnings use who = "mtlhost".  Fatal errors are printed by
 * main.c alone, as one line "mtlhost: <message>".  In quiet mode (--quiet)
 * only errors and host_summary() lines are printed.  A progress bar on the
 * terminal (progress.h) is erased before a line is printed and redrawn by
 * the next update.
 */
#ifndef MTL_HOST_LOG_H
#define MTL_HOST_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "mtl/plugin.h"

/*
 * Writes text to f with each control character (other than a tab; the C1
 * characters of UTF-8 included) as \xNN bytes: a value from a file or the
 * command line cannot move the cursor, set the terminal's title or end a
 * line.  Every line of the host goes through it.
 */
void host_put_shown(FILE *f, const char *text);

/* The same for text of several lines: its newlines are kept. */
void host_put_shown_lines(FILE *f, const char *text);

/* The same into out (cap bytes with the NUL; cut between whole characters). */
void host_shown_copy(const char *text, char *out, size_t cap);

void host_log_set_verbose(int on);
void host_log_set_quiet(int on);
int host_log_quiet(void);

void host_logv(mtl_log_level level, const char *who, const char *fmt, va_list ap);

void host_log(mtl_log_level level, const char *who, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A progress line on stdout (not in quiet mode). */
void host_say(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* The run's final summary on stdout, printed in quiet mode too. */
void host_summary(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif /* MTL_HOST_LOG_H */
