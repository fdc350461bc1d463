/* Status names, phrases and the per-thread error message. */
#include "mtl/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MTL_ERROR_CAP 1024

static _Thread_local char error_message[MTL_ERROR_CAP];

static const struct {
    const char *name;
    const char *phrase;
} status_text[] = {
    [MTL_OK] = {"MTL_OK", "success"},
    [MTL_ERR_NOMEM] = {"MTL_ERR_NOMEM", "out of memory"},
    [MTL_ERR_INVALID] = {"MTL_ERR_INVALID", "invalid argument"},
    [MTL_ERR_CONFIG] = {"MTL_ERR_CONFIG", "configuration error"},
    [MTL_ERR_IO] = {"MTL_ERR_IO", "input/output error"},
    [MTL_ERR_DATA] = {"MTL_ERR_DATA", "bad data"},
    [MTL_ERR_ABI] = {"MTL_ERR_ABI", "incompatible plugin ABI"},
    [MTL_ERR_PLUGIN] = {"MTL_ERR_PLUGIN", "plugin failure"},
    [MTL_ERR_NUMERIC] = {"MTL_ERR_NUMERIC", "numerical failure"},
    [MTL_ERR_UNSUPPORTED] = {"MTL_ERR_UNSUPPORTED", "not supported"},
    [MTL_ERR_INTERRUPTED] = {"MTL_ERR_INTERRUPTED", "interrupted"},
};

static int status_known(mtl_status status)
{
    return (unsigned)status < sizeof status_text / sizeof status_text[0];
}

const char *mtl_status_name(mtl_status status)
{
    return status_known(status) ? status_text[status].name : "MTL_UNKNOWN";
}

const char *mtl_status_phrase(mtl_status status)
{
    return status_known(status) ? status_text[status].phrase : "unknown status";
}

/*
 * A message cut to fit ends in "..." so that the cut shows, placed after the
 * last whole UTF-8 character (a character cut in half would make the line
 * invalid text).
 */
static void mark_cut(void)
{
    size_t end = sizeof error_message - 4, lead = end;

    while (lead > 0 && lead > end - 4 && ((unsigned char)error_message[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead > 0) {
        unsigned char c = (unsigned char)error_message[lead - 1];
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

        if (lead - 1 + len > end) /* the character at lead - 1 does not fit whole */
            end = lead - 1;
    }
    memcpy(error_message + end, "...", 4);
}

mtl_status mtl_error_set(mtl_status status, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof error_message)
        mark_cut();
    return status;
}

mtl_status mtl_error_wrap(mtl_status status, const char *fmt, ...)
{
    char old[MTL_ERROR_CAP];
    size_t used;
    va_list ap;
    int n;

    memcpy(old, error_message, sizeof old);
    va_start(ap, fmt);
    n = vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    used = strlen(error_message);
    if (n >= (int)sizeof error_message) {
        mark_cut();
    } else if (used + 2 < sizeof error_message) {
        size_t room = sizeof error_message - used - 3;
        size_t len = strlen(old);

        /* Truncates a long message rather than overflowing the buffer. */
        memcpy(error_message + used, ": ", 2);
        memcpy(error_message + used + 2, old, len > room ? room : len);
        error_message[used + 2 + (len > room ? room : len)] = '\0';
        if (len > room)
            mark_cut();
    } else {
        mark_cut();
    }
    return status;
}

const char *mtl_error_message(void)
{
    return error_message;
}

void mtl_error_clear(void)
{
    error_message[0] = '\0';
}
