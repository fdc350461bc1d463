/* The checkpoint file and its encoding (see ckpt.h). */
#include "ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc.h"

#define MAGIC       "MTLCKPT"
#define HEADER_SIZE 32u

/* ---- encoding --------------------------------------------------------- */

static void put_le(host_buf *b, uint64_t v, int n)
{
    char bytes[8];

    for (int i = 0; i < n; i++)
        bytes[i] = (char)((v >> (8 * i)) & 0xffu);
    host_buf_append(b, bytes, (size_t)n);
}

void host_put_u32(host_buf *b, uint32_t v)
{
    put_le(b, v, 4);
}

void host_put_u64(host_buf *b, uint64_t v)
{
    put_le(b, v, 8);
}

void host_put_i64(host_buf *b, int64_t v)
{
    put_le(b, (uint64_t)v, 8);
}

void host_put_f64(host_buf *b, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, 8);
    put_le(b, bits, 8);
}

void host_put_f32s(host_buf *b, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        put_le(b, bits, 4);
    }
}

void host_put_f64s(host_buf *b, const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        host_put_f64(b, v[i]);
}

void host_put_blob(host_buf *b, const void *data, size_t n)
{
    host_put_u64(b, n);
    if (n)
        host_buf_append(b, data, n);
}

void host_put_str(host_buf *b, const char *s)
{
    host_put_blob(b, s, strlen(s));
}

static uint64_t get_le(host_reader *r, int n)
{
    uint64_t v = 0;

    if (r->failed || r->len - r->at < (size_t)n) {
        r->failed = 1;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[r->at + (size_t)i] << (8 * i);
    r->at += (size_t)n;
    return v;
}

uint32_t host_get_u32(host_reader *r)
{
    return (uint32_t)get_le(r, 4);
}

uint64_t host_get_u64(host_reader *r)
{
    return get_le(r, 8);
}

int64_t host_get_i64(host_reader *r)
{
    return (int64_t)get_le(r, 8);
}

double host_get_f64(host_reader *r)
{
    uint64_t bits = get_le(r, 8);
    double v;

    memcpy(&v, &bits, 8);
    return v;
}

void host_get_f32s(host_reader *r, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)get_le(r, 4);
        memcpy(&v[i], &bits, 4);
    }
}

void host_get_f64s(host_reader *r, double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = host_get_f64(r);
}

const void *host_get_blob(host_reader *r, size_t *n)
{
    uint64_t len = get_le(r, 8);
    const void *p;

    *n = 0;
    if (r->failed || r->len - r->at < len) {
        r->failed = 1;
        return NULL;
    }
    p = r->p + r->at;
    r->at += (size_t)len;
    *n = (size_t)len;
    return p;
}

void host_get_str(host_reader *r, char *buf, size_t cap)
{
    size_t n;
    const char *s = host_get_blob(r, &n);

    if (!s)
        n = 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(buf, s, n);
    buf[n] = '\0';
}

/* ---- writing ---------------------------------------------------------- */

void host_ckpt_begin(host_buf *b)
{
    static const char zeros[HEADER_SIZE] = {0};

    host_buf_clear(b);
    host_buf_append(b, zeros, HEADER_SIZE);
}

void host_ckpt_section(host_buf *b, const char tag[4], const host_buf *payload)
{
    host_buf_append(b, tag, 4);
    host_put_u32(b, 0);
    host_put_u64(b, payload->len);
    host_buf_append(b, host_buf_str(payload), payload->len);
}

static void poke_le(char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (char)((v >> (8 * i)) & 0xffu);
}

mtl_status host_ckpt_end(host_buf *b)
{
    mtl_status st = host_buf_status(b, "checkpoint");
    size_t body;

    if (st != MTL_OK)
        return st;
    body = b->len - HEADER_SIZE;
    memcpy(b->data, MAGIC, 8);
    poke_le(b->data + 8, HOST_CKPT_VERSION, 4);
    poke_le(b->data + 16, body, 8);
    poke_le(b->data + 24, host_crc32c(0, b->data + HEADER_SIZE, body), 4);
    return MTL_OK;
}

/* ---- reading ---------------------------------------------------------- */

static uint64_t peek_le(const unsigned char *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static mtl_status read_whole(host_ckpt *ck, const char *path)
{
    char why[128];
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t got = 0;

    if (fd < 0 || fstat(fd, &sb) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        errno = err;
        return mtl_error_set(MTL_ERR_IO, "checkpoint: cannot read file: %s: %s", path,
                             host_strerror(err, why, sizeof why));
    }
    ck->len = (size_t)sb.st_size;
    ck->data = malloc(ck->len ? ck->len : 1);
    if (!ck->data) {
        close(fd);
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory: %zu bytes for %s", ck->len,
                             path);
    }
    while (got < ck->len) {
        ssize_t n = read(fd, ck->data + got, ck->len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    ck->len = got;
    return MTL_OK;
}

static mtl_status check_frame(const host_ckpt *ck, const char *path)
{
    const unsigned char *d = ck->data;
    uint64_t version, body;
    uint32_t want, got;

    if (ck->len < 8 || memcmp(d, MAGIC, 8) != 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: not a checkpoint: %s (expected a file starting with "
                             "'%s', got %zu bytes of something else)",
                             path, MAGIC, ck->len);
    if (ck->len < HEADER_SIZE)
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: truncated: %s (expected at least %u bytes, got %zu)",
                             path, HEADER_SIZE, ck->len);
    version = peek_le(d + 8, 4);
    if (version != HOST_CKPT_VERSION)
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: unsupported format version: %s (expected %u, got %llu)",
                             path, HOST_CKPT_VERSION, (unsigned long long)version);
    body = peek_le(d + 16, 8);
    if (body != ck->len - HEADER_SIZE)
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: truncated: %s (expected %llu bytes, got %zu)", path,
                             (unsigned long long)(body + HEADER_SIZE), ck->len);
    want = (uint32_t)peek_le(d + 24, 4);
    got = host_crc32c(0, d + HEADER_SIZE, (size_t)body);
    if (want != got)
        return mtl_error_set(MTL_ERR_DATA,
                             "checkpoint: corrupt: %s (expected CRC-32C %08x, got %08x)", path,
                             want, got);
    return MTL_OK;
}

mtl_status host_ckpt_read(host_ckpt *ck, const char *path)
{
    mtl_status st;

    memset(ck, 0, sizeof *ck);
    ck->path = host_strdup(path);
    if (!ck->path)
        return mtl_error_set(MTL_ERR_NOMEM, "checkpoint: out of memory");
    st = read_whole(ck, path);
    if (st == MTL_OK)
        st = check_frame(ck, path);
    if (st != MTL_OK) {
        int err = errno;
        host_ckpt_free(ck);
        errno = err;
    }
    return st;
}

void host_ckpt_free(host_ckpt *ck)
{
    free(ck->path);
    free(ck->data);
    memset(ck, 0, sizeof *ck);
}

/* Finds a section; 1 with r set, 0 when absent. */
static int find(const host_ckpt *ck, const char tag[4], host_reader *r)
{
    size_t at = HEADER_SIZE;

    while (ck->len - at >= 16) {
        uint64_t n = peek_le(ck->data + at + 8, 8);
        if (n > ck->len - at - 16)
            return 0;
        if (memcmp(ck->data + at, tag, 4) == 0) {
            *r = (host_reader){ck->data + at + 16, (size_t)n, 0, 0};
            return 1;
        }
        at += 16 + (size_t)n;
    }
    return 0;
}

int host_ckpt_has(const host_ckpt *ck, const char tag[4])
{
    host_reader r;

    return find(ck, tag, &r);
}

mtl_status host_ckpt_find(const host_ckpt *ck, const char tag[4], host_reader *r)
{
    if (find(ck, tag, r))
        return MTL_OK;
    return mtl_error_set(MTL_ERR_DATA, "checkpoint: missing section: %s (expected '%.4s')",
                         ck->path, tag);
}

mtl_status host_reader_status(const host_reader *r, const host_ckpt *ck, const char tag[4])
{
    if (!r->failed)
        return MTL_OK;
    return mtl_error_set(MTL_ERR_DATA,
                         "checkpoint: bad section: %s: '%.4s' is shorter than its contents "
                         "(expected more than %zu bytes)",
                         ck->path, tag, r->len);
}
