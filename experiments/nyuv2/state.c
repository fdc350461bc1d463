/*
 * state.c - what the NYUv2 task keeps between calls, as bytes for the host's
 * checkpoints (task.h, state_save / state_load): the test metrics of every
 * evaluated epoch of the trial (the reported result averages the last 10 of
 * them, so a run resumed at epoch 195 must still know epochs 190 to 194),
 * and the metrics accumulated so far in the pass over each split (a
 * checkpoint may be taken between two training batches).  The model's
 * parameters and batch-norm statistics are saved by the host; the batch
 * order is drawn again by epoch_begin(TRAIN) from the stream the epoch
 * started with.
 *
 * Layout, little-endian as the host: "NYUS", version (u32), trial (i32),
 * the number of records (i64), each record's epoch (i64) and nine values
 * (f64), then for each split the confusion matrix (169 i64), the depth sums
 * (2 f64) and batches (i64), the normal sums (5 f64) and batches (i64).
 */
#include <string.h>

#include "nyuv2.h"

#define NYU_STATE_MAGIC   "NYUS"
#define NYU_STATE_VERSION 1u
#define NYU_HEAD_BYTES    (4 + 4 + 4 + 8)
#define NYU_RECORD_BYTES  (8 + 8 * NYU_N_METRICS)
#define NYU_SPLIT_BYTES   (8 * NYU_N_CLASSES * NYU_N_CLASSES + 8 * 2 + 8 + 8 * 5 + 8)

size_t nyu_state_size(const nyu_final *f)
{
    return NYU_HEAD_BYTES + f->n * NYU_RECORD_BYTES + NYU_N_SPLITS * NYU_SPLIT_BYTES;
}

static unsigned char *put(unsigned char *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

static unsigned char *put_metrics(unsigned char *p, const nyu_metrics *m)
{
    p = put(p, m->conf, sizeof m->conf);
    p = put(p, m->depth_sum, sizeof m->depth_sum);
    p = put(p, &m->depth_batches, 8);
    p = put(p, m->normal_sum, sizeof m->normal_sum);
    return put(p, &m->normal_batches, 8);
}

void nyu_state_write(unsigned char *p, int trial, const nyu_final *f,
                     const nyu_metrics acc[NYU_N_SPLITS])
{
    uint32_t version = NYU_STATE_VERSION;
    int32_t t = trial;
    int64_t n = (int64_t)f->n;

    p = put(p, NYU_STATE_MAGIC, 4);
    p = put(p, &version, 4);
    p = put(p, &t, 4);
    p = put(p, &n, 8);
    for (size_t i = 0; i < f->n; i++) {
        p = put(p, &f->records[i].epoch, 8);
        p = put(p, f->records[i].values, sizeof f->records[i].values);
    }
    for (int s = 0; s < NYU_N_SPLITS; s++)
        p = put_metrics(p, &acc[s]);
}

static const unsigned char *get(const unsigned char *p, void *v, size_t n)
{
    memcpy(v, p, n);
    return p + n;
}

static const unsigned char *get_metrics(const unsigned char *p, nyu_metrics *m)
{
    nyu_metrics_reset(m);
    p = get(p, m->conf, sizeof m->conf);
    p = get(p, m->depth_sum, sizeof m->depth_sum);
    p = get(p, &m->depth_batches, 8);
    p = get(p, m->normal_sum, sizeof m->normal_sum);
    return get(p, &m->normal_batches, 8);
}

/* Checks the header and the length before anything is changed. */
static mtl_status check(const unsigned char *p, size_t len, int64_t *n)
{
    uint32_t version;

    if (len < NYU_HEAD_BYTES || memcmp(p, NYU_STATE_MAGIC, 4) != 0)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: not an nyuv2 state (expected the magic 'NYUS' and at "
                             "least %d bytes, got %zu bytes)",
                             NYU_HEAD_BYTES, len);
    memcpy(&version, p + 4, 4);
    if (version != NYU_STATE_VERSION)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: unsupported nyuv2 state version (expected %u, got %u)",
                             NYU_STATE_VERSION, (unsigned)version);
    memcpy(n, p + 12, 8);
    if (*n < 0 || (uint64_t)*n > (len - NYU_HEAD_BYTES) / NYU_RECORD_BYTES ||
        len != NYU_HEAD_BYTES + (size_t)*n * NYU_RECORD_BYTES + NYU_N_SPLITS * NYU_SPLIT_BYTES)
        return mtl_error_set(MTL_ERR_DATA,
                             "state_load: nyuv2 state of %zu bytes does not hold %lld epochs' "
                             "records and %d splits' metrics",
                             len, (long long)*n, NYU_N_SPLITS);
    return MTL_OK;
}

mtl_status nyu_state_read(const unsigned char *p, size_t len, int *trial, nyu_final *f,
                          nyu_metrics acc[NYU_N_SPLITS])
{
    int64_t n = 0;
    int32_t t;
    mtl_status st = check(p, len, &n);

    if (st != MTL_OK)
        return st;
    memcpy(&t, p + 8, 4);
    p += NYU_HEAD_BYTES;
    nyu_final_clear(f);
    for (int64_t i = 0; i < n; i++) {
        nyu_record r;

        p = get(p, &r.epoch, 8);
        p = get(p, r.values, sizeof r.values);
        if ((st = nyu_final_add(f, r.epoch, r.values)) != MTL_OK)
            return st;
    }
    for (int s = 0; s < NYU_N_SPLITS; s++)
        p = get_metrics(p, &acc[s]);
    *trial = t;
    return MTL_OK;
}
