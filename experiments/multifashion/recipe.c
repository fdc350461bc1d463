/*
 * The Multi-Fashion recipe (README.md): the official splits, the held-out
 * validation items, the seeded pairing and the composition of each pair
 * into one 28 x 28 image.
 */
#define _POSIX_C_SOURCE 200809L /* lstat */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mfashion.h"

/* Streams of the recipe's generator, one per decision. */
enum { STREAM_HOLDOUT = 1, STREAM_PAIR_TRAIN = 2, STREAM_PAIR_VAL = 3, STREAM_PAIR_TEST = 4 };

/* ---- the official files -------------------------------------------------- */

mf_path_state mf_path_look(const char *path, struct stat *sb, int *err)
{
    char name[4096];
    size_t n = strlen(path);

    *err = 0;
    if (stat(path, sb) == 0)
        return MF_PATH_FOUND;
    if (errno != ENOENT) {
        *err = errno;
        return MF_PATH_UNREADABLE;
    }
    /* lstat of "link/" would follow the link: the name without its trailing slashes */
    while (n > 1 && path[n - 1] == '/')
        n--;
    snprintf(name, sizeof name, "%.*s", (int)n, path);
    if (lstat(name, sb) == 0)
        return MF_PATH_DANGLING;
    if (errno != ENOENT) {
        *err = errno;
        return MF_PATH_UNREADABLE;
    }
    return MF_PATH_MISSING;
}

/*
 * Whether path exists, into *found: MTL_OK with *found 0 only when nothing
 * is there in any form.  A path stat() cannot look at (no search permission
 * on a folder, a symbolic link loop, a file where a folder is expected...)
 * and a symbolic link to a missing file are refused, naming path, so that
 * they never pass for "not there".
 */
static mtl_status probe(const char *path, int *found)
{
    struct stat sb;
    int err;

    *found = 0;
    switch (mf_path_look(path, &sb, &err)) {
    case MF_PATH_FOUND:
        *found = 1;
        return MTL_OK;
    case MF_PATH_MISSING:
        return MTL_OK;
    case MF_PATH_DANGLING:
        return mtl_error_set(MTL_ERR_DATA, "data: '%s' is a symbolic link to a missing file", path);
    default:
        return mtl_error_set(MTL_ERR_IO, "data: cannot read '%s': %s", path, strerror(err));
    }
}

/*
 * dir/name.gz, else dir/name, into path (the first that exists); a refusal
 * from probe() for the first one stops there (a broken name.gz does not fall
 * back to name), and neither existing gives the missing-package message.
 */
static mtl_status find_file(const char *dir, const char *name, char *path, size_t cap)
{
    static const char *const suffixes[] = {".gz", ""};
    mtl_status st;
    int found;

    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(path, cap, "%s/%s%s", dir, name, suffixes[i]);
        if ((st = probe(path, &found)) != MTL_OK || found)
            return st;
    }
    return mtl_error_set(MTL_ERR_DATA,
                         "data: Fashion-MNIST not found: no '%s' or '%s.gz' in '%s' (install "
                         "the Debian package dataset-fashion-mnist, or set task.data_dir)",
                         name, name, dir);
}

/* Loads dir/name(.gz) into out; path receives the file read, for later messages. */
static mtl_status load_file(const char *dir, const char *name, int ndim, mf_idx *out, char *path,
                            size_t cap)
{
    mtl_status st = find_file(dir, name, path, cap);

    return st != MTL_OK ? st : mf_idx_load(path, ndim, out);
}

/*
 * The images are n x 28 x 28, one label per image, each below 10; messages
 * name the files as read (with ".gz" where that is the one found).
 */
static mtl_status check_source(const char *images, const char *labels, const mf_source *s)
{
    const mf_idx *im = &s->images, *lb = &s->labels;

    if (im->dims[1] != MF_SIDE || im->dims[2] != MF_SIDE)
        return mtl_error_set(MTL_ERR_DATA, "data: '%s': images of %lld x %lld (expected 28 x 28)",
                             images, (long long)im->dims[1], (long long)im->dims[2]);
    if (lb->dims[0] != im->dims[0])
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': %lld labels for %lld images (expected one per "
                             "image)",
                             labels, (long long)lb->dims[0], (long long)im->dims[0]);
    for (int64_t i = 0; i < lb->numel; i++)
        if (lb->data[i] >= MF_N_CLASSES)
            return mtl_error_set(MTL_ERR_DATA, "data: '%s': label %lld is %d (expected 0 to 9)",
                                 labels, (long long)i, lb->data[i]);
    return MTL_OK;
}

mtl_status mf_source_load(const char *dir, int test, mf_source *out)
{
    const char *prefix = test ? "t10k" : "train";
    char name[64], images[4096], labels[4096];
    mtl_status st;

    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    st = load_file(dir, name, 3, &out->images, images, sizeof images);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    if (st == MTL_OK)
        st = load_file(dir, name, 1, &out->labels, labels, sizeof labels);
    if (st == MTL_OK)
        st = check_source(images, labels, out);
    if (st != MTL_OK)
        mf_source_free(out);
    return st;
}

void mf_source_free(mf_source *src)
{
    if (!src)
        return;
    mf_idx_free(&src->images);
    mf_idx_free(&src->labels);
}

/* ---- composition --------------------------------------------------------- */

/*
 * Area resize 36 -> 28 in exact integers: in units of 1/7 of an input pixel,
 * input pixel r spans [7 r, 7 r + 7) and output pixel o spans [9 o, 9 o + 9)
 * (36 / 28 = 9 / 7).  The weight of r in o is their overlap / 9, and output
 * o reads at most the three inputs from 9 o / 7.
 */
static int overlap(int o, int r)
{
    int lo = 9 * o > 7 * r ? 9 * o : 7 * r;
    int hi = 9 * o + 9 < 7 * r + 7 ? 9 * o + 9 : 7 * r + 7;

    return hi > lo ? hi - lo : 0;
}

void mf_compose(const uint8_t *left, const uint8_t *right, uint8_t *out)
{
    uint8_t canvas[MF_CANVAS][MF_CANVAS];
    uint32_t rows[MF_CANVAS][MF_SIDE]; /* the columns resized: sums of 9ths */
    int weight[MF_SIDE][3];

    for (int o = 0; o < MF_SIDE; o++)
        for (int k = 0; k < 3; k++)
            weight[o][k] = 9 * o / 7 + k < MF_CANVAS ? overlap(o, 9 * o / 7 + k) : 0;

    memset(canvas, 0, sizeof canvas);
    for (int y = 0; y < MF_SIDE; y++)
        for (int x = 0; x < MF_SIDE; x++)
            canvas[y][x] = left[y * MF_SIDE + x];
    for (int y = 0; y < MF_SIDE; y++)
        for (int x = 0; x < MF_SIDE; x++) {
            uint8_t v = right[y * MF_SIDE + x], *c = &canvas[y + MF_OFFSET][x + MF_OFFSET];
            if (v > *c)
                *c = v;
        }

    /*
     * Separable: columns, then rows; (sum + 40) / 81 is each output pixel's
     * mean, rounded.
     */
    for (int r = 0; r < MF_CANVAS; r++)
        for (int o = 0; o < MF_SIDE; o++) {
            int c0 = 9 * o / 7;
            uint32_t acc = 0;

            for (int k = 0; k < 3; k++)
                if (weight[o][k])
                    acc += (uint32_t)weight[o][k] * canvas[r][c0 + k];
            rows[r][o] = acc;
        }
    for (int oy = 0; oy < MF_SIDE; oy++)
        for (int ox = 0; ox < MF_SIDE; ox++) {
            int r0 = 9 * oy / 7;
            uint32_t acc = 0;

            for (int k = 0; k < 3; k++)
                if (weight[oy][k])
                    acc += (uint32_t)weight[oy][k] * rows[r0 + k][ox];
            out[oy * MF_SIDE + ox] = (uint8_t)((acc + 40) / 81);
        }
}

/* ---- pairing ------------------------------------------------------------- */

/* A permutation of 0 .. n-1 without fixed points (n >= 2), from the stream. */
static void derangement(uint64_t seed, uint64_t stream, int64_t *perm, int64_t n)
{
    mtl_rng rng;

    mtl_rng_seed(&rng, seed, stream);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    mtl_rng_shuffle(&rng, perm, (size_t)n);
    /*
     * A fixed point swaps with the next position; neither can be fixed
     * afterwards.
     */
    for (int64_t i = 0; i < n; i++)
        if (perm[i] == i) {
            int64_t j = (i + 1) % n, t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
}

/*
 * The first `count` pairs of the pool (item indices into src): left
 * pool[k], right pool[perm[k]].
 */
static mtl_status make_pairs(const mf_source *src, const int64_t *pool, int64_t n, uint64_t seed,
                             uint64_t stream, int64_t count, mf_split_data *out)
{
    int64_t *perm = malloc((size_t)n * sizeof *perm);

    out->n = count;
    out->images = malloc((size_t)(count * MF_PIXELS));
    out->labels = malloc((size_t)(count * 2));
    out->sources = malloc((size_t)(count * 2) * sizeof *out->sources);
    if (!perm || !out->images || !out->labels || !out->sources) {
        free(perm);
        return mtl_error_set(MTL_ERR_NOMEM, "data: out of memory for %lld pairs", (long long)count);
    }
    derangement(seed, stream, perm, n);
    for (int64_t k = 0; k < count; k++) {
        int64_t a = pool[k], b = pool[perm[k]];

        mf_compose(src->images.data + a * MF_PIXELS, src->images.data + b * MF_PIXELS,
                   out->images + k * MF_PIXELS);
        out->labels[2 * k] = src->labels.data[a];
        out->labels[2 * k + 1] = src->labels.data[b];
        out->sources[2 * k] = (int32_t)a;
        out->sources[2 * k + 1] = (int32_t)b;
    }
    free(perm);
    return MTL_OK;
}

static int64_t pairs_used(int64_t available, int64_t limit)
{
    return limit > 0 ? limit : available;
}

/* A split has as many pairs as its pool has items: more cannot be asked for. */
static mtl_status check_pairs(const char *key, const char *pool, int64_t available, int64_t limit)
{
    if (limit > available)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "data: task.%s is more than the split has (expected 0 for all, or "
                             "1 to %lld: one pair per %s, got %lld)",
                             key, (long long)available, pool, (long long)limit);
    return MTL_OK;
}

mtl_status mf_build(const mf_source *train, const mf_source *test, const mf_recipe *r,
                    mf_split_data out[3])
{
    int64_t n_train = train->labels.numel, n_test = test->labels.numel, n_fit;
    int64_t *order = NULL, *test_pool = NULL;
    mtl_rng rng;
    mtl_status st;

    memset(out, 0, 3 * sizeof *out);
    n_fit = n_train - r->val_items;
    if (r->val_items < 2 || n_fit < 2 || n_test < 2)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "data: bad task.val_items (expected 2 to %lld, leaving at least 2 "
                             "training items, got %lld)",
                             (long long)(n_train - 2), (long long)r->val_items);
    if ((st = check_pairs("train_pairs", "training item left after task.val_items", n_fit,
                          r->max_pairs[MTL_SPLIT_TRAIN])) != MTL_OK ||
        (st = check_pairs("val_pairs", "held-out item (task.val_items)", r->val_items,
                          r->max_pairs[MTL_SPLIT_VAL])) != MTL_OK ||
        (st = check_pairs("test_pairs", "official test item", n_test,
                          r->max_pairs[MTL_SPLIT_TEST])) != MTL_OK)
        return st;
    order = malloc((size_t)n_train * sizeof *order);
    test_pool = malloc((size_t)n_test * sizeof *test_pool);
    if (!order || !test_pool) {
        free(order);
        free(test_pool);
        return mtl_error_set(MTL_ERR_NOMEM, "data: out of memory");
    }

    /*
     * A seeded shuffle of the training items: the first val_items are held out.
     */
    for (int64_t i = 0; i < n_train; i++)
        order[i] = i;
    mtl_rng_seed(&rng, r->seed, STREAM_HOLDOUT);
    mtl_rng_shuffle(&rng, order, (size_t)n_train);
    for (int64_t i = 0; i < n_test; i++)
        test_pool[i] = i;

    st = make_pairs(train, order + r->val_items, n_fit, r->seed, STREAM_PAIR_TRAIN,
                    pairs_used(n_fit, r->max_pairs[MTL_SPLIT_TRAIN]), &out[MTL_SPLIT_TRAIN]);
    if (st == MTL_OK)
        st = make_pairs(train, order, r->val_items, r->seed, STREAM_PAIR_VAL,
                        pairs_used(r->val_items, r->max_pairs[MTL_SPLIT_VAL]), &out[MTL_SPLIT_VAL]);
    if (st == MTL_OK)
        st = make_pairs(test, test_pool, n_test, r->seed, STREAM_PAIR_TEST,
                        pairs_used(n_test, r->max_pairs[MTL_SPLIT_TEST]), &out[MTL_SPLIT_TEST]);
    free(order);
    free(test_pool);
    if (st != MTL_OK)
        for (int s = 0; s < 3; s++)
            mf_split_free(&out[s]);
    return st;
}

void mf_split_free(mf_split_data *s)
{
    if (!s)
        return;
    free(s->images);
    free(s->labels);
    free(s->sources);
    memset(s, 0, sizeof *s);
}
