/*
 * The idx reader (mfashion.h).  The Debian package dataset-fashion-mnist
 * installs the four files gzip-compressed; zlib's gzread() inflates them,
 * and reads an uncompressed file as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "mfashion.h"

/*
 * Reads up to n bytes; the count read, or -1 on a stream error (message set).
 */
static int64_t read_bytes(gzFile f, const char *path, uint8_t *dst, int64_t n)
{
    int64_t got = 0;

    while (got < n) {
        unsigned chunk = n - got > (1 << 30) ? 1u << 30 : (unsigned)(n - got);
        int r = gzread(f, dst + got, chunk);
        int err;

        if (r < 0) {
            const char *why = gzerror(f, &err);
            mtl_error_set(MTL_ERR_DATA, "idx: '%s': unreadable: %s", path, why);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    return got;
}

static uint32_t big_endian(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* The magic number and dimensions; MTL_OK or the reason. */
static mtl_status read_header(gzFile f, const char *path, int ndim, mf_idx *out)
{
    uint8_t head[4 + 4 * 3];
    int64_t want = 4 + 4 * (int64_t)ndim, got = read_bytes(f, path, head, want);
    uint32_t magic, expected = 0x00000800u | (uint32_t)ndim;

    if (got < 0)
        return MTL_ERR_DATA;
    if (got >= 4 && (magic = big_endian(head)) != expected)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': bad magic number (expected 0x%08x, unsigned bytes in %d "
                             "dimensions, got 0x%08x)",
                             path, expected, ndim, magic);
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

static mtl_status read_body(gzFile f, const char *path, mf_idx *out)
{
    uint8_t extra;
    int64_t got;

    out->data = malloc((size_t)out->numel);
    if (!out->data)
        return mtl_error_set(MTL_ERR_NOMEM, "idx: '%s': out of memory for %lld bytes", path,
                             (long long)out->numel);
    got = read_bytes(f, path, out->data, out->numel);
    if (got < 0)
        return MTL_ERR_DATA;
    if (got < out->numel)
        return mtl_error_set(MTL_ERR_DATA,
                             "idx: '%s': truncated data (expected %lld bytes, got %lld)", path,
                             (long long)out->numel, (long long)got);
    got = read_bytes(f, path, &extra, 1);
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
    gzFile f;
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
    errno = 0;
    f = gzopen(path, "rb");
    if (!f)
        return mtl_error_set(MTL_ERR_IO, "idx: cannot open '%s': %s", path,
                             errno ? strerror(errno) : "out of memory");
    st = read_header(f, path, ndim, out);
    if (st == MTL_OK)
        st = read_body(f, path, out);
    gzclose(f);
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
