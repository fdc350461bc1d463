/* Text helpers of the host (see text.h). */
#include "text.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int buf_reserve(host_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;
    char *data;

    if (b->failed)
        return 0;
    if (need <= b->cap)
        return 1;
    while (cap < need)
        cap *= 2;
    data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return 0;
    }
    b->data = data;
    b->cap = cap;
    return 1;
}

void host_buf_append(host_buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void host_buf_printf(host_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *host_buf_str(const host_buf *b)
{
    return b->data ? b->data : "";
}

mtl_status host_buf_status(const host_buf *b, const char *what)
{
    if (b->failed)
        return mtl_error_set(MTL_ERR_NOMEM, "host: out of memory: %s", what);
    return MTL_OK;
}

void host_buf_clear(host_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void host_buf_free(host_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not one. */
static size_t utf8_length(const unsigned char *p)
{
    size_t n;
    uint32_t cp;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1fu;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3, cp = p[0] & 0x0fu;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0u) != 0x80u) /* also stops at the terminating NUL */
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    /* overlong forms, UTF-16 surrogates and code points past U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void host_buf_json_string(host_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    host_buf_append(b, "\"", 1);
    while (*p) {
        size_t n = utf8_length(p);

        if (*p == '"' || *p == '\\')
            host_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f || n == 0)
            host_buf_printf(b, "\\u%04x", *p);
        else
            host_buf_append(b, (const char *)p, n);
        p += n ? n : 1;
    }
    host_buf_append(b, "\"", 1);
}

char *host_strdup(const char *s)
{
    size_t n;
    char *copy;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t host_edit_distance(const char *a, const char *b)
{
    enum { CAP = 64 };
    size_t d[CAP + 1][CAP + 1];
    size_t n = strlen(a), m = strlen(b);

    /* Words this long are never typos of one another worth suggesting. */
    if (n > CAP || m > CAP)
        return (size_t)-1;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            d[i][j] = min3(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < d[i][j])
                d[i][j] = d[i - 2][j - 2] + 1;
        }
    }
    return d[n][m];
}

const char *host_nearest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    size_t len = strlen(word);

    for (size_t i = 0; i < n; i++) {
        size_t d = host_edit_distance(word, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    if (best && (best_d <= 2 || best_d * 3 <= len) && best_d < len)
        return best;
    return NULL;
}

const char *host_strerror(int err, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", strerror(err));
    if (buf[0] && isupper((unsigned char)buf[0]) && !isupper((unsigned char)buf[1]))
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

const char *host_file_kind(unsigned mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    return "a special file";
}

const char *host_path_short(const char *path, char *buf, size_t cap)
{
    size_t n = strlen(path);

    if (n <= 200)
        return path;
    snprintf(buf, cap, "%.96s...%s", path, path + n - 96);
    return buf;
}

void host_buf_shell_word(host_buf *b, const char *s)
{
    if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                        "_./+-=:,@%") == strlen(s)) {
        host_buf_append(b, s, strlen(s));
        return;
    }
    host_buf_append(b, "'", 1);
    for (const char *q; (q = strchr(s, '\'')) != NULL; s = q + 1) {
        host_buf_append(b, s, (size_t)(q - s));
        host_buf_append(b, "'\\''", 4);
    }
    host_buf_append(b, s, strlen(s));
    host_buf_append(b, "'", 1);
}

size_t host_control_len(const char *p, size_t left)
{
    unsigned char c = left ? (unsigned char)p[0] : 0;

    if (left == 0)
        return 0;
    if ((c < 0x20 && c != '\t') || c == 0x7f)
        return 1;
    if (c == 0xc2 && left > 1 && (unsigned char)p[1] >= 0x80 && (unsigned char)p[1] <= 0x9f)
        return 2;
    return 0;
}

long host_control_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (host_control_len(s + i, n - i))
            return (long)i;
    return -1;
}

const char *host_control_name(const char *at, char *buf, size_t cap)
{
    unsigned char c = (unsigned char)at[0];

    if (c == 0xc2)
        snprintf(buf, cap, "the control character U+%04X", (unsigned char)at[1]);
    else
        snprintf(buf, cap, "the control byte 0x%02x", c);
    return buf;
}

mtl_status host_refuse_control(mtl_status status, const char *what, const char *path)
{
    char shown[256], name[64];
    long bad = host_control_at(path, strlen(path));

    if (bad < 0)
        return MTL_OK;
    return mtl_error_set(status,
                         "%s has %s at offset %ld: %s (expected a path without control "
                         "characters, as config.ini records it)",
                         what, host_control_name(path + bad, name, sizeof name), bad,
                         host_path_short(path, shown, sizeof shown));
}
