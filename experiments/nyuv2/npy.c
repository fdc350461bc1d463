/*
 * npy.c - a reader for the .npy files of the MTAN NYUv2 layout.
 *
 * The format (numpy's NEP 1): the magic "\x93NUMPY", a major and a minor
 * version byte, the header's length (2 bytes little-endian in version 1.0,
 * 4 bytes in 2.0), then the header: the text of a Python dict with the keys
 * 'descr' (the dtype), 'fortran_order' and 'shape', padded with spaces and
 * ended by a newline.  The array follows.  We read what the MTAN files hold:
 * little-endian float32 or float64 in C order; float64 is converted.
 */
#define _POSIX_C_SOURCE 200809L /* fseeko, off_t */

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nyuv2.h"

#define NPY_MAGIC_LEN 6
/*
 * The longest header we parse.  Version 1.0 holds at most 65535 bytes in its
 * 2-byte length; numpy writes 2.0 (a 4-byte length) only for longer headers,
 * so version 2.0 must allow more.  A header is a short dict: 1 MiB bounds the
 * malloc against a corrupt length.
 */
#define NPY_MAX_HEADER (1024 * 1024)

static const char npy_magic[NPY_MAGIC_LEN] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* "(24, 32, 3)" or "(5,)", as numpy prints a shape; a negative size prints `any`. */
static void shape_text(char *buf, size_t cap, int ndim, const int64_t *shape, const char *any)
{
    size_t len = 0;

    len += (size_t)snprintf(buf + len, cap - len, "(");
    for (int i = 0; i < ndim && len < cap; i++) {
        if (shape[i] < 0)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", any);
        else
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld", i ? ", " : "",
                                    (long long)shape[i]);
    }
    if (len < cap)
        snprintf(buf + len, cap - len, ndim == 1 ? ",)" : ")");
}

static mtl_status malformed(const char *path, const char *what)
{
    return mtl_error_set(MTL_ERR_DATA,
                         "data: '%s': malformed .npy header: %s (expected a dict with 'descr', "
                         "'fortran_order' and 'shape')",
                         path, what);
}

/* Python's blanks between tokens: a dict's literal may span lines. */
static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\n' || c == '\r';
}

static const char *skip_blanks(const char *p)
{
    while (blank(*p))
        p++;
    return p;
}

/*
 * A header's text as it may be shown in a message: a byte that is not
 * printable ASCII (a control character, a terminal escape) as \xNN.
 */
static const char *shown(const char *in, char *out, size_t cap)
{
    size_t n = 0;

    for (; *in && n + 5 <= cap; in++) {
        unsigned char c = (unsigned char)*in;

        if (c >= 0x20 && c < 0x7f)
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", c);
    }
    out[n] = '\0';
    return out;
}

/*
 * A quoted string at *p ('...' or "..."), at most cap - 1 characters, into
 * out; *p moves past it.  0 when there is none or it is not closed.
 */
static int quoted(const char **p, char *out, size_t cap)
{
    const char *s = *p;
    char quote = *s;
    size_t n = 0;

    if (quote != '\'' && quote != '"')
        return 0;
    s++;
    while (s[n] && s[n] != quote && n + 1 < cap) {
        out[n] = s[n];
        n++;
    }
    out[n] = '\0';
    if (s[n] != quote)
        return 0;
    *p = s + n + 1;
    return 1;
}

/* The end of a Python word: what may follow True, False or a number. */
static int word_ends(char c)
{
    return blank(c) || c == ',' || c == '}' || c == ')';
}

/* 'descr': a quoted dtype string. */
static mtl_status parse_descr(const char *path, const char **p, nyu_npy_header *hdr)
{
    char descr[32], text[4 * sizeof descr + 1];

    if (**p != '\'' && **p != '"')
        return malformed(path, "'descr' is not a quoted type string (a structured dtype?)");
    if (!quoted(p, descr, sizeof descr))
        return malformed(path, "unterminated 'descr'");
    if (strcmp(descr, "<f4") == 0)
        hdr->item_size = 4;
    else if (strcmp(descr, "<f8") == 0)
        hdr->item_size = 8;
    else
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': wrong dtype (expected '<f4' or '<f8', got '%s')", path,
                             shown(descr, text, sizeof text));
    return MTL_OK;
}

static mtl_status parse_order(const char *path, const char **p)
{
    if (strncmp(*p, "False", 5) == 0 && word_ends((*p)[5])) {
        *p += 5;
        return MTL_OK;
    }
    if (strncmp(*p, "True", 4) == 0 && word_ends((*p)[4]))
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': wrong memory order (expected C order, got Fortran "
                             "order)",
                             path);
    return malformed(path, "'fortran_order' is neither True nor False");
}

/*
 * 'shape': a tuple of sizes as Python writes it: "()", "(5,)", "(24, 32, 3)"
 * (a one-element tuple needs its comma; no leading zeros).
 */
static mtl_status parse_shape(const char *path, const char **pp, nyu_npy_header *hdr)
{
    const char *p = *pp;
    int max = (int)(sizeof hdr->shape / sizeof hdr->shape[0]), comma = 0;

    if (*p != '(')
        return malformed(path, "no 'shape' tuple");
    p = skip_blanks(p + 1);
    hdr->ndim = 0;
    while (*p != ')') {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(p, &end, 10);
        if (*p < '0' || *p > '9' || end == p || errno == ERANGE || (*p == '0' && end - p > 1) ||
            !word_ends(*end))
            return malformed(path, "'shape' is not a tuple of sizes");
        if (hdr->ndim == max)
            return malformed(path, "'shape' has too many dimensions");
        hdr->shape[hdr->ndim++] = v;
        p = skip_blanks(end);
        comma = *p == ',';
        if (comma)
            p = skip_blanks(p + 1);
        else if (*p != ')')
            return malformed(path, "'shape' is not a tuple of sizes");
    }
    if (hdr->ndim == 1 && !comma)
        return malformed(path, "'shape' is not a tuple of sizes");
    *pp = p + 1;
    return MTL_OK;
}

/*
 * The header's dict: exactly the keys 'descr', 'fortran_order' and 'shape',
 * each once, in any order, as numpy.load requires; blanks (spaces, tabs,
 * newlines) between the tokens, and after the closing brace only blanks.
 */
static mtl_status parse_dict(const char *path, const char *text, nyu_npy_header *hdr)
{
    static const char *const keys[3] = {"descr", "fortran_order", "shape"};
    static const char *const missing[3] = {"no 'descr'", "no 'fortran_order'", "no 'shape' tuple"};
    const char *p = skip_blanks(text);
    int seen[3] = {0, 0, 0};
    char key[32], key_shown[4 * sizeof key + 1], what[192];
    mtl_status st;

    if (*p != '{')
        return malformed(path, "no '{'");
    p = skip_blanks(p + 1);
    while (*p != '}') {
        int k = -1;

        if (!quoted(&p, key, sizeof key))
            return malformed(path, "a key is not a quoted name");
        for (int i = 0; i < 3; i++)
            if (strcmp(key, keys[i]) == 0)
                k = i;
        if (k < 0 || seen[k]) {
            snprintf(what, sizeof what, k < 0 ? "unknown key '%s'" : "key '%s' given twice",
                     shown(key, key_shown, sizeof key_shown));
            return malformed(path, what);
        }
        seen[k] = 1;
        p = skip_blanks(p);
        if (*p != ':')
            return malformed(path, "no ':' after a key");
        p = skip_blanks(p + 1);
        st = k == 0   ? parse_descr(path, &p, hdr)
             : k == 1 ? parse_order(path, &p)
                      : parse_shape(path, &p, hdr);
        if (st != MTL_OK)
            return st;
        p = skip_blanks(p);
        if (*p == ',')
            p = skip_blanks(p + 1);
        else if (*p != '}')
            return malformed(path, "no ',' or '}' after a value");
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i])
            return malformed(path, missing[i]);
    p = skip_blanks(p + 1);
    if (*p != '\0')
        return malformed(path, "text after the dict");
    return MTL_OK;
}

/* The magic, the version and the header's text (malloc'd into *text). */
static mtl_status read_preamble(const char *path, FILE *f, char **text, long *offset)
{
    unsigned char pre[NPY_MAGIC_LEN + 2], len[4];
    size_t len_bytes, n;

    if (fread(pre, 1, sizeof pre, f) != sizeof pre || memcmp(pre, npy_magic, NPY_MAGIC_LEN) != 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s' is not a .npy file (expected the magic string "
                             "\\x93NUMPY at its start)",
                             path);
    if ((pre[6] != 1 && pre[6] != 2) || pre[7] != 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': unsupported .npy format version %u.%u (expected 1.0 "
                             "or 2.0)",
                             path, pre[6], pre[7]);
    len_bytes = pre[6] == 1 ? 2 : 4;
    if (fread(len, 1, len_bytes, f) != len_bytes)
        return malformed(path, "the file ends inside the header length");
    n = (size_t)len[0] | (size_t)len[1] << 8;
    if (len_bytes == 4)
        n |= (size_t)len[2] << 16 | (size_t)len[3] << 24;
    if (n > NPY_MAX_HEADER)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': malformed .npy header: the header is too long "
                             "(expected at most %d bytes, got %zu)",
                             path, NPY_MAX_HEADER, n);

    *text = malloc(n + 1);
    if (!*text)
        return mtl_error_set(MTL_ERR_NOMEM, "data: '%s': out of memory for the header", path);
    if (fread(*text, 1, n, f) != n) {
        free(*text);
        *text = NULL;
        return malformed(path, "the file ends inside the header");
    }
    (*text)[n] = '\0';
    if (memchr(*text, '\0', n)) {
        free(*text);
        *text = NULL;
        return malformed(path, "a NUL byte in the header");
    }
    *offset = (long)(sizeof pre + len_bytes + n);
    return MTL_OK;
}

/* The file holds the whole array and nothing after it. */
static mtl_status check_size(const char *path, FILE *f, const nyu_npy_header *hdr)
{
    struct stat st;
    long long numel = 1, need, have;

    if (fstat(fileno(f), &st) != 0)
        return mtl_error_set(MTL_ERR_IO, "data: cannot stat '%s': %s", path, strerror(errno));
    /* A shape whose size wraps is larger than any file. */
    for (int i = 0; i < hdr->ndim; i++)
        if (__builtin_mul_overflow(numel, hdr->shape[i], &numel))
            return mtl_error_set(MTL_ERR_DATA,
                                 "data: '%s': 'shape' is too large (expected at most %lld "
                                 "elements, got a dimension of %lld)",
                                 path, (long long)(INT64_MAX / hdr->item_size),
                                 (long long)hdr->shape[i]);
    if (__builtin_mul_overflow(numel, (long long)hdr->item_size, &need))
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': 'shape' is too large (expected at most %lld elements, "
                             "got %lld)",
                             path, (long long)(INT64_MAX / hdr->item_size), numel);
    have = (long long)st.st_size - hdr->data_offset;
    if (have < need)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': truncated (expected %lld bytes of data, got %lld)", path,
                             need, have);
    if (have > need)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': bytes after the array (expected %lld bytes of data, "
                             "got %lld)",
                             path, need, have);
    return MTL_OK;
}

/* A directory opens for reading on Linux: refuse it (and devices) by name. */
static mtl_status check_regular(const char *path, FILE *f)
{
    struct stat sb;

    if (fstat(fileno(f), &sb) != 0)
        return mtl_error_set(MTL_ERR_IO, "data: cannot stat '%s': %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return mtl_error_set(MTL_ERR_DATA, "data: '%s' is a directory (expected a .npy file)",
                             path);
    if (!S_ISREG(sb.st_mode))
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s' is not a regular file (expected a .npy file)", path);
    return MTL_OK;
}

/*
 * Opened without blocking (a FIFO in the layout would wait for a writer
 * forever), so that check_regular can refuse what is not a file.
 */
static FILE *open_nonblocking(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK);
    FILE *f;

    if (fd < 0)
        return NULL;
    f = fdopen(fd, "rb");
    if (!f) {
        int err = errno;
        close(fd);
        errno = err;
    }
    return f;
}

mtl_status nyu_npy_read_header(const char *path, nyu_npy_header *hdr)
{
    FILE *f = open_nonblocking(path);
    char *text = NULL;
    mtl_status st;

    memset(hdr, 0, sizeof *hdr);
    if (!f)
        return mtl_error_set(errno == ENOENT ? MTL_ERR_DATA : MTL_ERR_IO,
                             "data: cannot open '%s': %s", path, strerror(errno));
    st = check_regular(path, f);
    if (st == MTL_OK)
        st = read_preamble(path, f, &text, &hdr->data_offset);
    if (st == MTL_OK)
        st = parse_dict(path, text, hdr);
    if (st == MTL_OK)
        st = check_size(path, f, hdr);
    free(text);
    fclose(f);
    return st;
}

mtl_status nyu_npy_check_shape(const char *path, const nyu_npy_header *hdr, int ndim,
                               const int64_t *shape)
{
    char want[128], got[128];
    int ok = hdr->ndim == ndim;

    for (int i = 0; ok && i < ndim; i++)
        ok = shape[i] < 0 || shape[i] == hdr->shape[i];
    if (ok)
        return MTL_OK;
    shape_text(want, sizeof want, ndim, shape, "any");
    shape_text(got, sizeof got, hdr->ndim, hdr->shape, "?");
    return mtl_error_set(MTL_ERR_DATA, "data: '%s': wrong shape (expected %s, got %s)", path, want,
                         got);
}

/* float64 values converted in chunks, so no second full-size buffer is needed. */
/*
 * float64 values into float32; 0 on a short read.  *beyond is the index of
 * the first finite value too large for float32 (it would become infinite),
 * SIZE_MAX when there is none.
 */
static int read_doubles(FILE *f, float *dst, size_t numel, size_t *beyond, double *value)
{
    double chunk[4096];
    size_t done = 0;

    *beyond = SIZE_MAX;
    while (done < numel) {
        size_t n = numel - done < 4096 ? numel - done : 4096;

        if (fread(chunk, sizeof(double), n, f) != n)
            return 0;
        for (size_t i = 0; i < n; i++) {
            dst[done + i] = (float)chunk[i];
            if (*beyond == SIZE_MAX && isinf(dst[done + i]) && isfinite(chunk[i])) {
                *beyond = done + i;
                *value = chunk[i];
            }
        }
        done += n;
    }
    return 1;
}

mtl_status nyu_npy_read_data(const char *path, const nyu_npy_header *hdr, float *dst, size_t numel)
{
    FILE *f = fopen(path, "rb");
    size_t beyond = SIZE_MAX;
    double value = 0.0;
    int ok;

    if (!f)
        return mtl_error_set(errno == ENOENT ? MTL_ERR_DATA : MTL_ERR_IO,
                             "data: cannot open '%s': %s", path, strerror(errno));
    /* The host is little-endian (x86-64, aarch64), like the files. */
    ok = fseeko(f, (off_t)hdr->data_offset, SEEK_SET) == 0;
    if (ok && hdr->item_size == 4)
        ok = fread(dst, sizeof(float), numel, f) == numel;
    else if (ok)
        ok = read_doubles(f, dst, numel, &beyond, &value);
    fclose(f);
    if (!ok)
        return mtl_error_set(MTL_ERR_IO, "data: cannot read %zu values from '%s'", numel, path);
    if (beyond != SIZE_MAX)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': element %zu is %g, beyond float32's range (expected a "
                             "magnitude of at most %g)",
                             path, beyond, value, (double)FLT_MAX);
    return MTL_OK;
}
