/*
 * host/text.h - small text helpers of the host: a growable string buffer,
 * owned copies, and the edit distance behind "did you mean ...?" hints.
 */
#ifndef MTL_HOST_TEXT_H
#define MTL_HOST_TEXT_H

#include <stddef.h>

#include "mtl/status.h"

/* A growable NUL-terminated string; zero-initialise, then append. */
typedef struct host_buf {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} host_buf;

void host_buf_printf(host_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void host_buf_append(host_buf *b, const char *s, size_t n);
/* The text so far ("" when empty); valid until the next append. */
const char *host_buf_str(const host_buf *b);
/* MTL_OK, or MTL_ERR_NOMEM with the reason set when an append failed. */
mtl_status host_buf_status(const host_buf *b, const char *what);
void host_buf_clear(host_buf *b);
void host_buf_free(host_buf *b);

/*
 * s as a JSON string, quotes included.  Quotes, backslashes and control
 * characters are escaped; a byte that is not part of valid UTF-8 (a path in
 * another encoding) is written as the code point of the same value, \u00XX,
 * so that the file stays valid JSON and the byte can still be read off.
 */
void host_buf_json_string(host_buf *b, const char *s);

/*
 * Appends s as a POSIX shell word: as it is when it has only characters no
 * shell treats specially, in single quotes otherwise (a quote as '\'').  For
 * the commands that messages tell the user to run.
 */
void host_buf_shell_word(host_buf *b, const char *s);

/*
 * The offset of the first control character in s[0, n): a C0 byte other
 * than a tab, DEL, or a C1 character in UTF-8 (c2 80 to c2 9f); -1 when
 * there is none.  What no value, path or INI line may hold.
 */
long host_control_at(const char *s, size_t n);

/* The bytes of the control character at p (of `left` bytes), 0 when it is none. */
size_t host_control_len(const char *p, size_t left);

/* "the control byte 0x1b" or "the control character U+0085", for the one at `at`. */
const char *host_control_name(const char *at, char *buf, size_t cap);

/*
 * MTL_OK, or `status` with "<what> has <the control character> at offset N:
 * <path> (expected a path without control characters, ...)": for a path a
 * run's config.ini records, which must read back as it was written.
 */
mtl_status host_refuse_control(mtl_status status, const char *what, const char *path);

/* A malloc'ed copy of s (NULL for NULL or when out of memory). */
char *host_strdup(const char *s);

/* Damerau (optimal string alignment) edit distance, for suggestions. */
size_t host_edit_distance(const char *a, const char *b);

/*
 * The candidate nearest to `word`, or NULL when none is close enough to be
 * a likely typo (distance at most 2, or a third of the word's length).
 */
const char *host_nearest(const char *word, const char *const *candidates, size_t n);

/* strerror(err) with its first letter lowercased, per the message shape. */
const char *host_strerror(int err, char *buf, size_t cap);

/*
 * `path` itself, or for one over 200 characters its first and last 96 with "..." between,
 * written into buf (at least 200 bytes): the SDK's 1024-byte message must keep the reason
 * that follows a path.
 */
const char *host_path_short(const char *path, char *buf, size_t cap);

/* What a stat() mode is, for messages: "a directory", "a FIFO", "a regular file"... */
const char *host_file_kind(unsigned mode);

#endif /* MTL_HOST_TEXT_H */
