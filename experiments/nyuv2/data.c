/*
 * data.c - the MTAN NYUv2 layout on disk: scanning, checking and reading
 * scenes (see nyuv2.h for the layout).
 *
 * Scenes are read from disk for every batch, as the reference's Dataset
 * does: the 795 training scenes take 2.8 GB as float32, and reading one
 * scene (3.5 MB) costs far less than a training step.
 */
#define _POSIX_C_SOURCE 200809L /* opendir */

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nyuv2.h"

#define NYU_PATH_MAX 4096

static const char *const field_names[NYU_N_FIELDS] = {"image", "label", "depth", "normal"};
static const int field_channels[NYU_N_FIELDS] = {3, 1, 1, 3};

const char *nyu_field_name(nyu_field f)
{
    return field_names[f];
}

int nyu_field_channels(nyu_field f)
{
    return field_channels[f];
}

/*
 * The shape a field's file must have: H x W x 3 for image and normal,
 * H x W for the label, H x W x 1 for depth (the MTAN files).
 */
static int field_shape(nyu_field f, int64_t h, int64_t w, int64_t shape[3])
{
    shape[0] = h;
    shape[1] = w;
    shape[2] = field_channels[f];
    return f == NYU_LABEL ? 2 : 3;
}

static void scene_path(char *buf, const nyu_folder *folder, nyu_field f, int64_t i)
{
    snprintf(buf, NYU_PATH_MAX, "%s/%s/%lld.npy", folder->dir, field_names[f], (long long)i);
}

static mtl_status no_data(const char *root, const char *what)
{
    return mtl_error_set(MTL_ERR_DATA,
                         "data: no NYUv2 data at '%s': %s (expected the MTAN layout "
                         "%s/{train,val}/{image,label,depth,normal}/<i>.npy; NYUv2 has no "
                         "offline source: place the files there, see experiments/nyuv2/README.md)",
                         root, what, root);
}

/* The number of *.npy files in <dir>/image, as the reference counts scenes. */
static mtl_status count_scenes(const char *root, nyu_folder *folder)
{
    char path[NYU_PATH_MAX], what[NYU_PATH_MAX + 64];
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof path, "%s/image", folder->dir);
    d = opendir(path);
    if (!d) {
        snprintf(what, sizeof what, "cannot open '%s': %s", path, strerror(errno));
        return no_data(root, what);
    }
    folder->n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 4 && strcmp(e->d_name + len - 4, ".npy") == 0)
            folder->n++;
    }
    closedir(d);
    if (folder->n == 0) {
        snprintf(what, sizeof what, "no .npy file in '%s'", path);
        return no_data(root, what);
    }
    return MTL_OK;
}

/* Every field of every scene: present, a float .npy file, of the right shape. */
static mtl_status check_folder(const nyu_dataset *ds, const nyu_folder *folder)
{
    char path[NYU_PATH_MAX];

    for (int64_t i = 0; i < folder->n; i++) {
        for (int f = 0; f < NYU_N_FIELDS; f++) {
            nyu_npy_header hdr;
            int64_t shape[3];
            int ndim = field_shape((nyu_field)f, ds->h, ds->w, shape);
            mtl_status st;

            scene_path(path, folder, (nyu_field)f, i);
            st = nyu_npy_read_header(path, &hdr);
            if (st == MTL_OK)
                st = nyu_npy_check_shape(path, &hdr, ndim, shape);
            if (st != MTL_OK)
                return st;
        }
    }
    return MTL_OK;
}

/* H x W from train/image/0.npy, which must be H x W x 3. */
static mtl_status read_size(nyu_dataset *ds)
{
    static const int64_t any_image[3] = {-1, -1, 3};
    char path[NYU_PATH_MAX];
    nyu_npy_header hdr;
    mtl_status st;

    scene_path(path, &ds->train, NYU_IMAGE, 0);
    st = nyu_npy_read_header(path, &hdr);
    if (st == MTL_OK)
        st = nyu_npy_check_shape(path, &hdr, 3, any_image);
    if (st != MTL_OK)
        return st;
    if (hdr.shape[0] < 1 || hdr.shape[1] < 1)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': empty image (expected H x W x 3 with H, W >= 1, got "
                             "%lld x %lld x 3)",
                             path, (long long)hdr.shape[0], (long long)hdr.shape[1]);
    ds->h = hdr.shape[0];
    ds->w = hdr.shape[1];
    return MTL_OK;
}

static char *join(const char *root, const char *sub)
{
    size_t n = strlen(root) + strlen(sub) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s/%s", root, sub);
    return s;
}

mtl_status nyu_dataset_open(nyu_dataset *ds, const char *root)
{
    struct stat sb;
    mtl_status st;

    memset(ds, 0, sizeof *ds);
    if (strlen(root) + 64 > NYU_PATH_MAX)
        return mtl_error_set(MTL_ERR_CONFIG, "data: path too long (expected at most %d bytes)",
                             NYU_PATH_MAX - 64);
    if (stat(root, &sb) == 0 && !S_ISDIR(sb.st_mode))
        return mtl_error_set(MTL_ERR_DATA,
                             "data: task.data '%s' is not a directory (expected the folder of "
                             "the MTAN-prepared NYUv2)",
                             root);
    ds->train.dir = join(root, "train");
    ds->test.dir = join(root, "val");
    if (!ds->train.dir || !ds->test.dir) {
        nyu_dataset_close(ds);
        return mtl_error_set(MTL_ERR_NOMEM, "data: out of memory");
    }

    st = count_scenes(root, &ds->train);
    if (st == MTL_OK)
        st = count_scenes(root, &ds->test);
    if (st == MTL_OK)
        st = read_size(ds);
    if (st == MTL_OK)
        st = check_folder(ds, &ds->train);
    if (st == MTL_OK)
        st = check_folder(ds, &ds->test);
    if (st != MTL_OK)
        nyu_dataset_close(ds);
    return st;
}

void nyu_dataset_close(nyu_dataset *ds)
{
    free(ds->train.dir);
    free(ds->test.dir);
    memset(ds, 0, sizeof *ds);
}

/* ---- scenes ----------------------------------------------------------- */

mtl_status nyu_scene_alloc(nyu_scene *s, int64_t h, int64_t w)
{
    size_t hw;

    memset(s, 0, sizeof *s);
    /* Three channels of the size: the largest field. */
    if (nyu_size_bytes(3, h, w) == SIZE_MAX)
        return mtl_error_set(MTL_ERR_CONFIG,
                             "data: a scene of %lld x %lld is too large (expected at most %zu "
                             "bytes a field)",
                             (long long)h, (long long)w, (size_t)NYU_MAX_BUFFER_BYTES);
    hw = (size_t)(h * w);
    s->h = h;
    s->w = w;
    s->image = malloc(3 * hw * sizeof(float));
    s->label = malloc(hw * sizeof(float));
    s->depth = malloc(hw * sizeof(float));
    s->normal = malloc(3 * hw * sizeof(float));
    if (!s->image || !s->label || !s->depth || !s->normal) {
        nyu_scene_free(s);
        return mtl_error_set(MTL_ERR_NOMEM, "data: out of memory for a %lld x %lld scene",
                             (long long)h, (long long)w);
    }
    return MTL_OK;
}

void nyu_scene_free(nyu_scene *s)
{
    free(s->image);
    free(s->label);
    free(s->depth);
    free(s->normal);
    memset(s, 0, sizeof *s);
}

/* A class index of the label files: an integer in [-1, 12], -1 for unlabelled pixels. */
static int is_label(float v)
{
    return v >= -1.0f && v <= (float)(NYU_N_CLASSES - 1) && v == (float)(int)v;
}

/*
 * [hw, c] -> [c, hw], checking each value on the way (a class index for the
 * label, finite otherwise): scenes are read for every batch, so the check
 * shares the copy's single pass.  Returns the file-order index of the first
 * bad value, or -1.
 */
static int64_t channels_first(const float *src, int64_t hw, int c, int label, float *dst)
{
    int64_t bad = -1;

    for (int64_t p = 0; p < hw; p++) {
        for (int k = 0; k < c; k++) {
            float v = src[p * c + k];
            int ok = label ? is_label(v) : isfinite(v);

            if (!ok && bad < 0)
                bad = p * c + k;
            dst[(int64_t)k * hw + p] = v;
        }
    }
    return bad;
}

static mtl_status bad_value(const char *path, nyu_field f, int64_t element, float v)
{
    if (f == NYU_LABEL)
        return mtl_error_set(MTL_ERR_DATA,
                             "data: '%s': element %lld is not a class (expected an integer in "
                             "[-1, %d], got %g)",
                             path, (long long)element, NYU_N_CLASSES - 1, (double)v);
    return mtl_error_set(MTL_ERR_DATA,
                         "data: '%s': element %lld is not finite (expected a finite %s value, "
                         "got %g)",
                         path, (long long)element, field_names[f], (double)v);
}

static float *field_buffer(nyu_scene *s, nyu_field f)
{
    switch (f) {
    case NYU_IMAGE:
        return s->image;
    case NYU_LABEL:
        return s->label;
    case NYU_DEPTH:
        return s->depth;
    default:
        return s->normal;
    }
}

mtl_status nyu_scene_read(const nyu_dataset *ds, const nyu_folder *folder, int64_t index,
                          nyu_scene *s)
{
    size_t hw = (size_t)(ds->h * ds->w);
    char path[NYU_PATH_MAX];
    float *tmp = malloc(3 * hw * sizeof *tmp);
    mtl_status st = MTL_OK;

    if (!tmp)
        return mtl_error_set(MTL_ERR_NOMEM, "data: out of memory reading scene %lld",
                             (long long)index);
    for (int f = 0; st == MTL_OK && f < NYU_N_FIELDS; f++) {
        nyu_npy_header hdr;
        int64_t shape[3];
        int ndim = field_shape((nyu_field)f, ds->h, ds->w, shape);
        int c = field_channels[f];

        /* Checked when the dataset was opened; checked again in case the files changed. */
        scene_path(path, folder, (nyu_field)f, index);
        st = nyu_npy_read_header(path, &hdr);
        if (st == MTL_OK)
            st = nyu_npy_check_shape(path, &hdr, ndim, shape);
        if (st == MTL_OK)
            st = nyu_npy_read_data(path, &hdr, tmp, (size_t)c * hw);
        if (st == MTL_OK) {
            int64_t bad =
                channels_first(tmp, (int64_t)hw, c, f == NYU_LABEL, field_buffer(s, (nyu_field)f));
            if (bad >= 0)
                st = bad_value(path, (nyu_field)f, bad, tmp[bad]);
        }
    }
    free(tmp);
    return st;
}
