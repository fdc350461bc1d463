/*
 * The idx reader (mfashion.h).  The Debian package dataset-fashion-mnist
 * installs the four files gzip-compressed; zlib's inflate() decodes them
 * (a file without the gzip magic is read as it is), and the reader refuses
 * a stream without its trailer and bytes after the stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mfashion.h"

/*
 * The file's bytes, inflated when it starts with the gzip magic (1f 8b).
 * zlib's inflate() does the decoding; this reader adds what gzread() lets
 * pass: a stream that ends without its trailer, and bytes after the stream.
 */
typedef struct idx_stream {
    FILE *f;
    const char *path;
    int gz;    /* gzip-compressed */
    int ended; /* gz: the stream's end (trailer checked) was reached */
    z_stream z;
    unsigned char in[1 << 16];
} idx_stream;

static mtl_status stream_open(idx_stream *s, const char *path)
{
    int c0, c1;

    memset(s, 0, sizeof *s);
    s->path = path;
    errno = 0;
    s->f = fopen(path, "rb");
    if (!s->f)
        return mtl_error_set(MTL_ERR_IO, "idx: cannot open '%s': %s", path,
                             errno ? strerror(errno) : "out of memory");
    c0 = getc(s->f);
    c1 = getc(s->f);
    s->gz = c0 == 0x1f && c1 == 0x8b;
    rewind(s->f);
    /* 16 + MAX_WBITS: a gzip wrapper, its CRC-32 and length checked at the end */
    if (s->gz && inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK) {
        fclose(s->f);
        s->f = NULL;
        return mtl_error_set(MTL_ERR_NOMEM, "idx: '%s': out of memory for the gzip decoder", path);
    }
    return MTL_OK;
}

static void stream_close(idx_stream *s)
{
    if (s->gz)
        inflateEnd(&s->z);
    if (s->f)
        fclose(s->f);
    s->f = NULL;
}

/* Up to n bytes of a gzip stream; the count, or -1 with the reason set. */
static int64_t inflate_bytes(idx_stream *s, uint8_t *dst, int64_t n)
{
    int64_t got = 0;

    while (got < n && !s->ended) {
        int ret;

        if (s->z.avail_in == 0) {
            size_t r = fread(s->in, 1, sizeof s->in, s->f);
            if (r == 0 && ferror(s->f)) {
                mtl_error_set(MTL_ERR_IO, "idx: '%s': unreadable: %s", s->path, strerror(errno));
                return -1;
            }
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)r;
        }
        s->z.next_out = dst + got;
        s->z.avail_out = n - got > (1 << 30) ? 1u << 30 : (uInt)(n - got);
        ret = inflate(&s->z, Z_NO_FLUSH);
        got = (int64_t)(s->z.next_out - dst);
        if (ret == Z_STREAM_END)
            s->ended = 1;
        else if (ret == Z_BUF_ERROR) { /* no input left, and the stream goes on */
            mtl_error_set(MTL_ERR_DATA,
                          "idx: '%s': truncated gzip stream (the file ends before the stream "
                          "and its trailer do)",
                          s->path);
            return -1;
        } else if (ret != Z_OK) {
            mtl_error_set(MTL_ERR_DATA, "idx: '%s': damaged gzip stream: %s", s->path,
                          s->z.msg ? s->z.msg : zError(ret));
            return -1;
        }
    }
    return got;
}

/* Reads up to n bytes; the count read, or -1 on a stream error (message set). */
static int64_t read_bytes(idx_stream *s, uint8_t *dst, int64_t n)
{
    if (s->gz)
        return inflate_bytes(s, dst, n);
    {
        size_t got = fread(dst, 1, (size_t)n, s->f);
        if (got < (size_t)n && ferror(s->f)) {
            mtl_error_set(MTL_ERR_IO, "idx: '%s': unreadable: %s", s->path, strerror(errno));
            return -1;
        }
        return (int64_t)got;
    }
}

/* A gzip file ends with its stream: what follows (text, another member) is refused. */
static mtl_status check_stream_end(idx_stream *s)
{
    if (s->gz && (s->z.avail_in > 0 || getc(s->f) != EOF))
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': bytes after the gzip stream (expected the end of the "
                             "file)",
                             s->path);
    return MTL_OK;
}

static uint32_t big_endian(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* The magic number and dimensions; MTL_OK or the reason. */
static mtl_status read_header(idx_stream *s, int ndim, mf_idx *out)
{
    const char *path = s->path;
    uint8_t head[4 + 4 * 3];
    int64_t want = 4 + 4 * (int64_t)ndim, got = read_bytes(s, head, want);
    uint32_t magic, expected = 0x00000800u | (uint32_t)ndim;

    if (got < 0)
        return MTL_ERR_DATA;
    if (got >= 4 && (magic = big_endian(head)) != expected)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': bad magic number (expected 0x%08x, unsigned bytes in %d "
                             "dimension%s, got 0x%08x)",
                             path, expected, ndim, ndim == 1 ? "" : "s", magic);
    if (got < want)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': truncated header (expected %lld bytes, got %lld)", path,
                             (long long)want, (long long)got);

    out->ndim = ndim;
    out->numel = 1;
    for (int d = 0; d < ndim; d++) {
        out->dims[d] = big_endian(head + 4 + 4 * d);
        if (out->dims[d] < 1 || out->dims[d] > (1 << 24))
            return mtl_error_set(MTL_ERR_DATA,
                                 "idx: '%s': bad size of dimension %d (expected 1 to %d, got "
                                 "%lld)",
                                 path, d, 1 << 24, (long long)out->dims[d]);
        /* Three dimensions of up to 2^24 could wrap int64: a wrapped size is too large. */
        if (__builtin_mul_overflow(out->numel, out->dims[d], &out->numel))
            return mtl_error_set(MTL_ERR_DATA,
                                 "idx: '%s': too large (more than %lld bytes, at most 4 GiB)", path,
                                 (long long)INT64_MAX);
    }
    if (out->numel > ((int64_t)1 << 32))
        return mtl_error_set(MTL_ERR_DATA, "idx: '%s': too large (%lld bytes, at most 4 GiB)", path,
                             (long long)out->numel);
    return MTL_OK;
}

static mtl_status read_body(idx_stream *s, mf_idx *out)
{
    const char *path = s->path;
    uint8_t extra;
    int64_t got;

    out->data = malloc((size_t)out->numel);
    if (!out->data)
        return mtl_error_set(MTL_ERR_NOMEM, "idx: '%s': out of memory for %lld bytes", path,
                             (long long)out->numel);
    got = read_bytes(s, out->data, out->numel);
    if (got < 0)
        return MTL_ERR_DATA;
    if (got < out->numel)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': truncated data (expected %lld bytes, got %lld)", path,
                             (long long)out->numel, (long long)got);
    got = read_bytes(s, &extra, 1);
    if (got < 0)
        return MTL_ERR_DATA;
    if (got > 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': bytes after the data (expected the end of the file "
                             "after %lld bytes of data)",
                             path, (long long)out->numel);
    return MTL_OK;
}

mtl_status mf_idx_load(const char *path, int ndim, mf_idx *out)
{
    struct stat sb;
    idx_stream s;
    mtl_status st;

    memset(out, 0, sizeof *out);
    if (ndim < 1 || ndim > 3)
        return mtl_error_set(MTL_ERR_INVALID,
                             "idx: '%s': bad dimension count (expected 1 to 3, "
                             "got %d)",
                             path, ndim);
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return mtl_error_set(MTL_ERR_DATA, "idx: '%s' is %s (expected an idx file)", path,
                             S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
    if ((st = stream_open(&s, path)) != MTL_OK)
        return st;
    st = read_header(&s, ndim, out);
    if (st == MTL_OK)
        st = read_body(&s, out);
    if (st == MTL_OK)
        st = check_stream_end(&s);
    stream_close(&s);
    if (st != MTL_OK)
        mf_idx_free(out);
    return st;
}

void mf_idx_free(mf_idx *idx)
{
    if (!idx)
        return;
    free(idx->data);
    idx->data = NULL;
}
