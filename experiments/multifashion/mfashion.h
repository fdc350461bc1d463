/*
 * mfashion.h - the parts of the Multi-Fashion experiment that the plugin
 * (multifashion.c) and the tests (tests/multifashion) share: the idx file
 * reader, the dataset recipe and the model.  See README.md for the recipe.
 */
#ifndef MTL_MFASHION_H
#define MTL_MFASHION_H

#include <stdint.h>
#include <sys/stat.h>

#include "mtl/mtl.h"

/* ---- idx files ----------------------------------------------------------- */

/*
 * An idx file of unsigned bytes (the MNIST format): a big-endian magic
 * number 0x0000 08 NDIM, NDIM big-endian uint32 dimensions, then the bytes in
 * row-major order.
 */
typedef struct mf_idx {
    int ndim;
    int64_t dims[3];
    int64_t numel;
    uint8_t *data; /* numel bytes, malloc'd */
} mf_idx;

/*
 * Reads the idx file at path (inflated when it starts with the gzip magic,
 * as it is otherwise) and checks that it has `ndim` dimensions.  Refuses a
 * bad magic number, a truncated header or body, bytes after the data, a
 * gzip stream cut before its trailer or with a wrong CRC-32 or length, and
 * bytes after the gzip stream, with MTL_ERR_DATA and a message naming the
 * file; a file that cannot be opened gives MTL_ERR_IO.
 */
mtl_status mf_idx_load(const char *path, int ndim, mf_idx *out);
void mf_idx_free(mf_idx *idx);

/* ---- the dataset --------------------------------------------------------- */

#define MF_SIDE      28 /* the side of an item and of a composed image */
#define MF_CANVAS    36 /* the canvas the two items are placed on */
#define MF_OFFSET    8  /* the right item's row and column on the canvas */
#define MF_PIXELS    (MF_SIDE * MF_SIDE)
#define MF_N_CLASSES 10

/* One official split of Fashion-MNIST: images [n, 28, 28] and labels [n]. */
typedef struct mf_source {
    mf_idx images, labels;
} mf_source;

/* What is at a path, for the data lookup's messages. */
typedef enum mf_path_state {
    MF_PATH_FOUND,      /* stat() succeeds (symbolic links followed); *sb holds it */
    MF_PATH_MISSING,    /* nothing there, in any form */
    MF_PATH_DANGLING,   /* a symbolic link to nothing (trailing slashes ignored) */
    MF_PATH_UNREADABLE, /* stat() or lstat() failed otherwise; *err is its errno */
} mf_path_state;

mf_path_state mf_path_look(const char *path, struct stat *sb, int *err);

/*
 * Loads the official training (test = 0) or test (test = 1) split from
 * `dir`: train-images-idx3-ubyte and train-labels-idx1-ubyte (t10k-* for
 * the test split), each name.gz when it exists, else name.  A file missing
 * in both forms gives one MTL_ERR_DATA line that names the Debian package to
 * install; a path that stat() cannot look at (a folder without search
 * permission, a symbolic link loop...) gives MTL_ERR_IO and a symbolic link
 * to a missing file MTL_ERR_DATA, each naming the path (never a fallback to
 * name).
 */
mtl_status mf_source_load(const char *dir, int test, mf_source *out);
void mf_source_free(mf_source *src);

/* The recipe's parameters (README.md). */
typedef struct mf_recipe {
    uint64_t seed;        /* the recipe's own seed: the same data each run */
    int64_t val_items;    /* training items held out for validation */
    int64_t max_pairs[3]; /* pairs used per split (train, val, test); 0: all */
} mf_recipe;

/* The composed pairs of one split. */
typedef struct mf_split_data {
    int64_t n;
    uint8_t *images;  /* [n, 28, 28] */
    uint8_t *labels;  /* [n, 2]: the left and the right item's class */
    int32_t *sources; /* [n, 2]: the items' indices in their official split */
} mf_split_data;

/*
 * Builds the three splits (MTL_SPLIT_TRAIN, _VAL, _TEST order): training
 * and validation pairs from the official training split, test pairs from
 * the official test split only.
 */
mtl_status mf_build(const mf_source *train, const mf_source *test, const mf_recipe *recipe,
                    mf_split_data out[3]);
void mf_split_free(mf_split_data *s);

/*
 * Composes one image: `left` at the canvas's top-left corner, `right` at
 * (8, 8), overlapping, their pixel-wise maximum, resized from 36 x 36 to
 * 28 x 28 by exact area averaging and rounded to a byte.
 */
void mf_compose(const uint8_t *left, const uint8_t *right, uint8_t *out);

/* ---- the model ----------------------------------------------------------- */

/*
 * The shared trunk: conv 1 -> 10 (5 x 5), 2 x 2 max pool, ReLU; conv
 * 10 -> 20 (5 x 5), max pool, ReLU; linear 320 -> 50, ReLU (the shared
 * representation, and the last shared layer).  One linear 50 -> 10 head
 * per task.  PyTorch's default initialisation.
 */
typedef struct mf_model {
    mtl_model *model;
    mtl_conv2d_layer conv1, conv2;
    mtl_linear fc;
    mtl_linear head[2];
} mf_model;

mtl_status mf_model_init(mf_model *m, mtl_rng *rng);
void mf_model_deinit(mf_model *m);

/*
 * x [b, 1, 28, 28] -> the logits of each task [b, 10] and the shared
 * representation [b, 50]; errors are recorded in g.
 */
void mf_model_forward(mtl_graph *g, const mf_model *m, mtl_tensor *x, mtl_tensor *logits[2],
                      mtl_tensor **rep);

#endif /* MTL_MFASHION_H */
