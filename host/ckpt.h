/*
 * host/ckpt.h - the checkpoint file: a versioned, checksummed list of
 * tagged sections, and the little-endian encoding of their contents.
 *
 *   offset  size  field
 *        0     8  magic "MTLCKPT\0"
 *        8     4  format version (HOST_CKPT_VERSION)
 *       12     4  reserved, 0
 *       16     8  length of the body in bytes
 *       24     4  CRC-32C of the body
 *       28     4  reserved, 0
 *       32     -  body: sections, each a 4-character tag, 4 reserved bytes,
 *                 the payload's length (8 bytes) and the payload
 *
 * Every integer is little-endian; doubles and floats are their IEEE-754 bits
 * in little-endian order.  The whole file is written atomically (checkpoint
 * .tmp, fsync, rename), and read whole: a file of another magic, version or
 * length, or whose checksum differs, is refused before any section is read.
 * What the sections hold is the trainer's business (train.c).
 */
#ifndef MTL_HOST_CKPT_H
#define MTL_HOST_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/status.h"
#include "text.h"

#define HOST_CKPT_VERSION 1u
#define HOST_CKPT_FILE    "checkpoint.mtlckpt"

/* ---- encoding --------------------------------------------------------- */

void host_put_u32(host_buf *b, uint32_t v);
void host_put_u64(host_buf *b, uint64_t v);
void host_put_i64(host_buf *b, int64_t v);
void host_put_f64(host_buf *b, double v);
void host_put_f32s(host_buf *b, const float *v, size_t n);
void host_put_f64s(host_buf *b, const double *v, size_t n);
/* A length (u64) then the bytes. */
void host_put_blob(host_buf *b, const void *data, size_t n);
void host_put_str(host_buf *b, const char *s);

/* A reader over one section; the first overrun sets `failed` and reads zeros. */
typedef struct host_reader {
    const unsigned char *p;
    size_t len, at;
    int failed;
} host_reader;

uint32_t host_get_u32(host_reader *r);
uint64_t host_get_u64(host_reader *r);
int64_t host_get_i64(host_reader *r);
double host_get_f64(host_reader *r);
void host_get_f32s(host_reader *r, float *v, size_t n);
void host_get_f64s(host_reader *r, double *v, size_t n);
/* A blob's bytes, pointing into the section (NULL with failed set on overrun). */
const void *host_get_blob(host_reader *r, size_t *n);
/* A string copied into buf (cut at cap - 1). */
void host_get_str(host_reader *r, char *buf, size_t cap);

/* ---- the file --------------------------------------------------------- */

/* Starts a checkpoint in b (cleared first). */
void host_ckpt_begin(host_buf *b);
/* Appends a section whose payload is `payload`'s text. */
void host_ckpt_section(host_buf *b, const char tag[4], const host_buf *payload);
/* Fills in the body's length and checksum; then write b's bytes to the file. */
mtl_status host_ckpt_end(host_buf *b);

typedef struct host_ckpt {
    char *path;
    unsigned char *data;
    size_t len;
} host_ckpt;

/*
 * Reads and checks a checkpoint file.  MTL_ERR_IO when it cannot be read
 * (errno is kept, ENOENT for a missing file); MTL_ERR_DATA, with one line
 * naming the path, for another magic or version, a wrong length or a
 * checksum mismatch.
 */
mtl_status host_ckpt_read(host_ckpt *ck, const char *path);
void host_ckpt_free(host_ckpt *ck);

/* A reader over section `tag`; MTL_ERR_DATA when the file has none. */
mtl_status host_ckpt_find(const host_ckpt *ck, const char tag[4], host_reader *r);
/* Nonzero when the file has section `tag`. */
int host_ckpt_has(const host_ckpt *ck, const char tag[4]);

/* MTL_OK, or MTL_ERR_DATA "checkpoint: ... section 'TAG' is truncated" when r failed. */
mtl_status host_reader_status(const host_reader *r, const host_ckpt *ck, const char tag[4]);

#endif /* MTL_HOST_CKPT_H */
