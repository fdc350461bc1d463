/* TensorBoard event files (see tboard.h). */
#include "tboard.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crc.h"
#include "run.h"

struct host_tboard {
    char *dir;
    char name[256];
    host_buf events; /* the file's whole contents */
    int dirty;
};

/* ---- protocol buffers ------------------------------------------------- */

static void put_varint(host_buf *b, uint64_t v)
{
    char bytes[10];
    int n = 0;

    do {
        bytes[n] = (char)(v & 0x7fu);
        v >>= 7;
        if (v)
            bytes[n] = (char)(bytes[n] | 0x80);
        n++;
    } while (v);
    host_buf_append(b, bytes, (size_t)n);
}

static void put_fixed(host_buf *b, uint64_t v, int n)
{
    char bytes[8];

    for (int i = 0; i < n; i++)
        bytes[i] = (char)((v >> (8 * i)) & 0xffu);
    host_buf_append(b, bytes, (size_t)n);
}

/* Field `field` of wire type 2 (length-delimited): key, length, bytes. */
static void put_bytes_field(host_buf *b, int field, const char *data, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | 2u);
    put_varint(b, n);
    host_buf_append(b, data, n);
}

/* Value { tag = 1; simple_value = 2 } */
static void encode_value(host_buf *b, const char *tag, float value)
{
    uint32_t bits;

    memcpy(&bits, &value, 4);
    put_bytes_field(b, 1, tag, strlen(tag));
    put_varint(b, 2u << 3 | 5u); /* fixed32 */
    put_fixed(b, bits, 4);
}

static void encode_summary(host_buf *b, int n, const char *const *tags, const double *values)
{
    host_buf value = {0};

    for (int i = 0; i < n; i++) {
        if (!isfinite(values[i]))
            continue;
        host_buf_clear(&value);
        encode_value(&value, tags[i], (float)values[i]);
        put_bytes_field(b, 1, host_buf_str(&value), value.len);
    }
    if (value.failed)
        b->failed = 1;
    host_buf_free(&value);
}

/* TFRecord framing around `data`. */
static void put_record(host_buf *out, const host_buf *data)
{
    char len_bytes[8];

    for (int i = 0; i < 8; i++)
        len_bytes[i] = (char)(((uint64_t)data->len >> (8 * i)) & 0xffu);
    host_buf_append(out, len_bytes, 8);
    put_fixed(out, host_crc32c_masked(len_bytes, 8), 4);
    host_buf_append(out, host_buf_str(data), data->len);
    put_fixed(out, host_crc32c_masked(host_buf_str(data), data->len), 4);
}

void host_tboard_encode_event(host_buf *out, double wall_time, int64_t step,
                              const char *file_version, int n, const char *const *tags,
                              const double *values)
{
    host_buf event = {0}, summary = {0};
    uint64_t bits;

    memcpy(&bits, &wall_time, 8);
    put_varint(&event, 1u << 3 | 1u); /* fixed64 */
    put_fixed(&event, bits, 8);
    put_varint(&event, 2u << 3 | 0u);
    put_varint(&event, (uint64_t)step);
    if (file_version)
        put_bytes_field(&event, 3, file_version, strlen(file_version));
    if (n > 0) {
        encode_summary(&summary, n, tags, values);
        put_bytes_field(&event, 5, host_buf_str(&summary), summary.len);
    }
    if (event.failed || summary.failed)
        out->failed = 1;
    else
        put_record(out, &event);
    host_buf_free(&event);
    host_buf_free(&summary);
}

/* ---- the writer ------------------------------------------------------- */

static double wall_clock(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

mtl_status host_tboard_create(host_tboard **out, const char *run_dir)
{
    host_tboard *tb = calloc(1, sizeof *tb);
    char hostname[64] = "localhost";
    size_t n = strlen(run_dir) + 16;
    double now = wall_clock();

    *out = NULL;
    if (!tb || !(tb->dir = malloc(n))) {
        free(tb);
        return mtl_error_set(MTL_ERR_NOMEM, "tensorboard: out of memory");
    }
    snprintf(tb->dir, n, "%s/tensorboard", run_dir);
    if (mkdir(tb->dir, 0755) != 0 && !host_dir_exists(tb->dir)) {
        char why[128];
        mtl_status st = mtl_error_set(MTL_ERR_IO, "tensorboard: cannot create folder: %s: %s",
                                      tb->dir, host_strerror(errno, why, sizeof why));
        host_tboard_destroy(tb);
        return st;
    }
    gethostname(hostname, sizeof hostname - 1);
    hostname[strcspn(hostname, "/")] = '\0';
    snprintf(tb->name, sizeof tb->name, "events.out.tfevents.%010lld.%s.%ld", (long long)now,
             hostname, (long)getpid());
    host_tboard_encode_event(&tb->events, now, 0, "brain.Event:2", 0, NULL, NULL);
    tb->dirty = 1;
    *out = tb;
    return host_buf_status(&tb->events, "tensorboard");
}

void host_tboard_destroy(host_tboard *tb)
{
    if (!tb)
        return;
    host_buf_free(&tb->events);
    free(tb->dir);
    free(tb);
}

void host_tboard_scalars(host_tboard *tb, int64_t step, int n, const char *const *tags,
                         const double *values)
{
    host_tboard_encode_event(&tb->events, wall_clock(), step, NULL, n, tags, values);
    tb->dirty = 1;
}

mtl_status host_tboard_flush(host_tboard *tb)
{
    size_t n = strlen(tb->dir) + strlen(tb->name) + 2;
    char *path = malloc(n);
    mtl_status st;

    if (!tb->dirty)
        return MTL_OK;
    if ((st = host_buf_status(&tb->events, "tensorboard")) != MTL_OK)
        return st;
    if (!path)
        return mtl_error_set(MTL_ERR_NOMEM, "tensorboard: out of memory");
    snprintf(path, n, "%s/%s", tb->dir, tb->name);
    st = host_write_atomic(path, host_buf_str(&tb->events), tb->events.len);
    free(path);
    tb->dirty = st != MTL_OK;
    return st;
}

void host_tboard_state_save(const host_tboard *tb, host_buf *out)
{
    host_put_str(out, tb->name);
    host_put_blob(out, host_buf_str(&tb->events), tb->events.len);
}

mtl_status host_tboard_state_load(host_tboard *tb, host_reader *r)
{
    char name[256];
    size_t n;
    const void *events;

    host_get_str(r, name, sizeof name);
    events = host_get_blob(r, &n);
    if (r->failed || !*name || strchr(name, '/'))
        return MTL_ERR_DATA;
    snprintf(tb->name, sizeof tb->name, "%s", name);
    host_buf_clear(&tb->events);
    host_buf_append(&tb->events, events, n);
    tb->dirty = 1;
    return host_buf_status(&tb->events, "tensorboard");
}
