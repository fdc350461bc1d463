/*
 * nyuv2.h - internals of the NYUv2 task plugin, shared by its source files
 * and its unit tests (tests/nyuv2).  Nothing here is part of the SDK.
 *
 * Data: the files the MTAN authors prepared (Liu et al., CVPR 2019), one
 * .npy file per scene and field:
 *
 *   <root>/train/image/<i>.npy    H x W x 3  float  RGB in [0, 1]
 *   <root>/train/label/<i>.npy    H x W      float  13 classes, -1 unlabelled
 *   <root>/train/depth/<i>.npy    H x W x 1  float  0 where unknown
 *   <root>/train/normal/<i>.npy   H x W x 3  float  0 where unknown
 *   <root>/val/...                the same for the test scenes
 *
 * In memory every field is planar (channels first), as the model reads it:
 * image [3, H, W], label [H, W], depth [1, H, W], normal [3, H, W].
 */
#ifndef NYUV2_H
#define NYUV2_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/conv.h"
#include "mtl/mtl.h"

#define NYU_N_TASKS   3
#define NYU_N_CLASSES 13
#define NYU_N_METRICS 9
#define NYU_N_SPLITS  3 /* MTL_SPLIT_TRAIN, VAL, TEST */
/* Five 2 x 2 poolings: the model needs H and W divisible by 32. */
#define NYU_SIZE_MULTIPLE 32

/* ---- .npy files ------------------------------------------------------- */

/* What a .npy header says. */
typedef struct nyu_npy_header {
    int ndim;
    int64_t shape[8];
    int item_size;    /* 4 ('<f4') or 8 ('<f8') */
    long data_offset; /* bytes before the array */
} nyu_npy_header;

/*
 * Reads and checks the header of `path`: format version 1.0 or 2.0,
 * little-endian float32 or float64, C order.  On failure the message names
 * the file: "data: 'PATH': ... (expected X, got Y)".
 */
mtl_status nyu_npy_read_header(const char *path, nyu_npy_header *hdr);

/*
 * Checks a header's shape against `ndim` dimensions `shape` (any value < 0
 * matches every size): "data: 'PATH': wrong shape (expected (H, W, 3), got
 * (H, W))".
 */
mtl_status nyu_npy_check_shape(const char *path, const nyu_npy_header *hdr, int ndim,
                               const int64_t *shape);

/*
 * Reads the values of a checked file (header from nyu_npy_read_header)
 * into dst as float32: numel values, float64 files converted (a finite
 * value beyond float32's range is refused, naming the element).
 */
mtl_status nyu_npy_read_data(const char *path, const nyu_npy_header *hdr, float *dst, size_t numel);

/* ---- the dataset ------------------------------------------------------ */

typedef enum nyu_field { NYU_IMAGE, NYU_LABEL, NYU_DEPTH, NYU_NORMAL, NYU_N_FIELDS } nyu_field;

/* "image", "label", "depth", "normal" */
const char *nyu_field_name(nyu_field f);
/* Channels of a field: 3, 1 (the label plane), 1, 3. */
int nyu_field_channels(nyu_field f);

/* One folder of scenes: <root>/train or <root>/val. */
typedef struct nyu_folder {
    char *dir;
    int64_t n; /* scenes 0 .. n - 1 */
} nyu_folder;

typedef struct nyu_dataset {
    nyu_folder train, test;
    int64_t h, w; /* the size of every scene in the files */
} nyu_dataset;

/*
 * Opens the layout under `root`: counts the scenes of train/ and val/ (the
 * .npy files in image/, as the reference does) and checks the header, dtype
 * and shape of every file of every scene, so that a bad file is found now
 * and not in epoch 57.  The size of train/image/0.npy sets H x W for all.
 */
mtl_status nyu_dataset_open(nyu_dataset *ds, const char *root);
void nyu_dataset_close(nyu_dataset *ds);

/* One scene, planar, float32; buffers sized for h x w. */
typedef struct nyu_scene {
    int64_t h, w;
    float *image;  /* [3, h, w] */
    float *label;  /* [h, w] */
    float *depth;  /* [h, w] */
    float *normal; /* [3, h, w] */
} nyu_scene;

mtl_status nyu_scene_alloc(nyu_scene *s, int64_t h, int64_t w);

/* The largest side of a scene task.height and task.width may ask for. */
#define NYU_MAX_SIDE 8192
/* The most bytes one buffer of scenes may take: far above any machine's memory. */
#define NYU_MAX_BUFFER_BYTES ((size_t)1 << 48)

/*
 * a * b * c float32 values in bytes, every product checked for overflow, or
 * SIZE_MAX when one wraps, a factor is negative or the size exceeds
 * NYU_MAX_BUFFER_BYTES.
 */
static inline size_t nyu_size_bytes(int64_t a, int64_t b, int64_t c)
{
    int64_t n;
    size_t bytes;

    if (a < 0 || b < 0 || c < 0 || __builtin_mul_overflow(a, b, &n) ||
        __builtin_mul_overflow(n, c, &n) ||
        __builtin_mul_overflow((size_t)n, sizeof(float), &bytes) || bytes > NYU_MAX_BUFFER_BYTES)
        return SIZE_MAX;
    return bytes;
}
void nyu_scene_free(nyu_scene *s);

/*
 * Reads scene `index` of a folder into s (sized ds->h x ds->w), moving the
 * channels first as the reference's np.moveaxis(x, -1, 0) does.
 */
mtl_status nyu_scene_read(const nyu_dataset *ds, const nyu_folder *folder, int64_t index,
                          nyu_scene *s);

/* ---- resizing and augmentation (plain C, no autograd) ---------------- */

/*
 * F.interpolate(mode="bilinear", align_corners=True) of `planes` planes of
 * ih x iw (row stride `istride`, so a crop can be read in place) into
 * oh x ow, in float32 with PyTorch's CPU arithmetic.
 */
void nyu_resize_bilinear(int64_t planes, const float *src, int64_t ih, int64_t iw, int64_t istride,
                         int64_t iplane, float *dst, int64_t oh, int64_t ow);

/*
 * F.interpolate(mode="nearest"): output row y reads input row
 * min(floor(y * (ih / oh)), ih - 1), the ratio in float32.
 */
void nyu_resize_nearest(int64_t planes, const float *src, int64_t ih, int64_t iw, int64_t istride,
                        int64_t iplane, float *dst, int64_t oh, int64_t ow);

/* Resizes a whole scene from s (its size) into out (its size): for smoke tests. */
void nyu_scene_resize(const nyu_scene *s, nyu_scene *out);

/* The random draws of one augmentation, kept so tests can replay them. */
typedef struct nyu_augment_draw {
    double scale;      /* 1.0, 1.2 or 1.5 */
    int64_t top, left; /* the crop's corner */
    int64_t ch, cw;    /* the crop's size: (int)(H / scale), (int)(W / scale) */
    int flip;          /* horizontal flip */
} nyu_augment_draw;

/*
 * Draws one augmentation for an h x w scene from rng, in the reference's
 * order: the scale, the crop's row, its column, then the flip (p = 0.5).
 */
void nyu_augment_draw_random(mtl_rng *rng, int64_t h, int64_t w, nyu_augment_draw *d);

/*
 * Applies it in place (tmp: scratch of 3 h w floats): RandomScaleCrop of the
 * reference (crop, resize back: bilinear with aligned corners for the image
 * and normals, nearest for label and depth, depth divided by the scale),
 * then the flip, which also negates the normals' x component.
 */
void nyu_augment_apply(const nyu_augment_draw *d, nyu_scene *s, float *tmp);

/* ---- metrics ---------------------------------------------------------- */

/*
 * The reference's evaluation (experiments/nyuv2/utils.py of Nash-MTL):
 * a confusion matrix over every pixel of the pass (mIoU, pixel accuracy),
 * and per batch the depth errors and the normal angle statistics, averaged
 * over the batches of the pass with equal weight.
 */
typedef struct nyu_metrics {
    int64_t conf[NYU_N_CLASSES * NYU_N_CLASSES]; /* [true][predicted] */
    double depth_sum[2];                         /* abs, rel: sums of batch values */
    int64_t depth_batches;
    double normal_sum[5]; /* mean, median, < 11.25, < 22.5, < 30 */
    int64_t normal_batches;
    float *angles; /* scratch for one batch's angles */
    size_t angles_cap;
} nyu_metrics;

void nyu_metrics_reset(nyu_metrics *m);
void nyu_metrics_free(nyu_metrics *m);

/*
 * Adds one batch of n scenes of hw pixels: logp [n, 13, hw] (the
 * prediction is the argmax class), label [n, hw]; depth pred and truth
 * [n, hw]; normals pred and truth [n, 3, hw].
 */
mtl_status nyu_metrics_add(nyu_metrics *m, int64_t n, int64_t hw, const float *logp,
                           const float *label, const float *depth_pred, const float *depth_true,
                           const float *normal_pred, const float *normal_true);

/*
 * The nine values, in REFERENCE.md's order: mIoU, pixel accuracy, depth
 * abs and rel error, angle mean and median (degrees), fractions within
 * 11.25, 22.5 and 30 degrees.  NaN for a value no batch measured.
 */
void nyu_metrics_values(const nyu_metrics *m, double values[NYU_N_METRICS]);

/* ---- the models ------------------------------------------------------- */

typedef enum nyu_arch { NYU_ARCH_MTAN = 0, NYU_ARCH_SEGNET = 1 } nyu_arch;

/* 3 x 3 conv + batch norm + ReLU (the reference's conv_layer). */
typedef struct nyu_conv_block {
    mtl_conv2d_layer conv;
    mtl_batch_norm2d_layer bn;
} nyu_conv_block;

/* 1 x 1 conv + BN + ReLU, 1 x 1 conv + BN + sigmoid (att_layer). */
typedef struct nyu_att_block {
    mtl_conv2d_layer conv1, conv2;
    mtl_batch_norm2d_layer bn1, bn2;
} nyu_att_block;

/* A task head: 3 x 3 conv 64 -> 64, then 1 x 1 conv 64 -> channels. */
typedef struct nyu_head {
    mtl_conv2d_layer conv1, conv2;
} nyu_head;

#define NYU_STAGES 5

typedef struct nyu_net {
    nyu_arch arch;
    mtl_model *model;

    /* the shared SegNet: encoder_block, conv_block_enc, ... of the reference */
    nyu_conv_block enc[NYU_STAGES], dec[NYU_STAGES];
    nyu_conv_block enc_conv[NYU_STAGES][2], dec_conv[NYU_STAGES][2];
    int n_enc_conv[NYU_STAGES], n_dec_conv[NYU_STAGES];

    /* MTAN only */
    nyu_att_block enc_att[NYU_N_TASKS][NYU_STAGES], dec_att[NYU_N_TASKS][NYU_STAGES];
    nyu_conv_block enc_block_att[NYU_STAGES], dec_block_att[NYU_STAGES];

    nyu_head heads[NYU_N_TASKS];
} nyu_net;

/* The predictions of one forward pass, NCHW. */
typedef struct nyu_pred {
    mtl_tensor *logp;   /* [n, 13, h, w] log-probabilities */
    mtl_tensor *depth;  /* [n, 1, h, w] */
    mtl_tensor *normal; /* [n, 3, h, w] unit vectors */
    mtl_tensor *rep;    /* [n, 64, h, w]: the shared decoder's last block */
} nyu_pred;

/*
 * Creates the parameters in a new model (Xavier-normal conv weights, zero
 * biases, batch-norm scale 1 and shift 0), named as PyTorch names them in
 * the reference's SegNetMtan / SegNet ("segnet.encoder_block.0.0.weight").
 */
mtl_status nyu_net_create(nyu_net *net, nyu_arch arch, mtl_rng *rng);
void nyu_net_destroy(nyu_net *net);
/* Draws every parameter again and resets the running statistics. */
mtl_status nyu_net_reset(nyu_net *net, mtl_rng *rng);

/* The forward pass of x [n, 3, h, w], h and w multiples of 32. */
void nyu_net_forward(mtl_graph *g, const nyu_net *net, mtl_tensor *x, int training, nyu_pred *out);

/* ---- the reported result: test metrics of the last epochs ------------- */

/* The test metrics of one evaluated epoch. */
typedef struct nyu_record {
    int64_t epoch; /* 0-based, as the host's metrics.csv */
    double values[NYU_N_METRICS];
} nyu_record;

typedef struct nyu_final {
    nyu_record *records;
    size_t n, cap;
} nyu_final;

mtl_status nyu_final_add(nyu_final *f, int64_t epoch, const double values[NYU_N_METRICS]);
void nyu_final_clear(nyu_final *f);
void nyu_final_free(nyu_final *f);

/*
 * The mean of the records of the last `last` epochs of an `epochs`-epoch
 * trial (epoch >= epochs - last): the paper's reported numbers.  Returns how
 * many records it averaged (0: values NaN) and their first and last epoch.
 */
int nyu_final_average(const nyu_final *f, int64_t epochs, int64_t last,
                      double values[NYU_N_METRICS], int64_t *first_epoch, int64_t *last_epoch);

/* Delta_m (REFERENCE.md) of nine values against the metrics' baselines. */
double nyu_delta_m(const mtl_metric *metrics, const double values[NYU_N_METRICS]);

/*
 * Writes <dir>/nyuv2_final.csv and <dir>/nyuv2_final.md (through a
 * temporary file and a rename each) with the average of the last epochs.
 */
mtl_status nyu_final_write(const nyu_final *f, const char *dir, int trial, int64_t epochs,
                           int64_t last, const mtl_metric *metrics);

/* ---- checkpoint state (state.c) ----------------------------------------- */

/* Bytes of the task's state with these records. */
size_t nyu_state_size(const nyu_final *f);

/* Writes nyu_state_size(f) bytes at p. */
void nyu_state_write(unsigned char *p, int trial, const nyu_final *f,
                     const nyu_metrics acc[NYU_N_SPLITS]);

/*
 * Reads a state of len bytes into the trial, the records and the splits'
 * metrics, or refuses it (MTL_ERR_DATA, "state_load: ...") changing
 * nothing.
 */
mtl_status nyu_state_read(const unsigned char *p, size_t len, int *trial, nyu_final *f,
                          nyu_metrics acc[NYU_N_SPLITS]);

#endif /* NYUV2_H */
