/*
 * Multi-Fashion without the dataset: the idx reader on small files written
 * here (plain and gzip-compressed, and each refusal with its exact
 * message), the missing-package message, and the composition of a pair
 * against an independent computation in double.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "mfashion.h"

static char dir[] = "/tmp/mtl_test_mfashion_XXXXXX";

static void path_of(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Removes `path` and the files (and symbolic links) in it; 0 on success. */
static int remove_folder(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char file[1024];

    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        unlink(file);
    }
    closedir(d);
    return rmdir(path);
}

/* Writes bytes to dir/name, gzip-compressed when the name ends in ".gz". */
static void write_file(const char *name, const uint8_t *bytes, size_t n)
{
    char path[512];
    size_t len = strlen(name);

    path_of(name, path, sizeof path);
    if (len > 3 && strcmp(name + len - 3, ".gz") == 0) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, bytes, (unsigned)n), (int)n);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(bytes, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
    }
}

/* An idx1 header (magic 0x00000801, count) followed by the values. */
static size_t labels_file(uint8_t *buf, const uint8_t *values, uint32_t n)
{
    const uint8_t head[8] = {
        0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

    memcpy(buf, head, 8);
    memcpy(buf + 8, values, n);
    return 8 + n;
}

static void expect_refusal(const char *name, int ndim, mtl_status status, const char *fmt)
{
    char path[512], want[1024];
    mf_idx idx;

    path_of(name, path, sizeof path);
    snprintf(want, sizeof want, fmt, path);
    assert_int_equal(mf_idx_load(path, ndim, &idx), status);
    assert_string_equal(mtl_error_message(), want);
    assert_null(idx.data);
}

static void test_idx_valid(void **state)
{
    static const uint8_t values[5] = {3, 1, 4, 1, 5};
    uint8_t buf[64], images[16 + 2 * 2 * 3];
    char path[512];
    mf_idx idx;

    (void)state;
    write_file("labels", buf, labels_file(buf, values, 5));
    path_of("labels", path, sizeof path);
    assert_int_equal(mf_idx_load(path, 1, &idx), MTL_OK);
    assert_int_equal(idx.ndim, 1);
    assert_int_equal(idx.dims[0], 5);
    assert_memory_equal(idx.data, values, 5);
    mf_idx_free(&idx);

    /* Two 2 x 3 images, gzip-compressed. */
    memcpy(images, (const uint8_t[]){0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3}, 16);
    for (int i = 0; i < 12; i++)
        images[16 + i] = (uint8_t)(10 * i);
    write_file("images.gz", images, sizeof images);
    path_of("images.gz", path, sizeof path);
    assert_int_equal(mf_idx_load(path, 3, &idx), MTL_OK);
    assert_int_equal(idx.dims[0], 2);
    assert_int_equal(idx.dims[1], 2);
    assert_int_equal(idx.dims[2], 3);
    assert_int_equal(idx.numel, 12);
    assert_memory_equal(idx.data, images + 16, 12);
    mf_idx_free(&idx);
}

static void test_idx_refusals(void **state)
{
    static const uint8_t values[5] = {3, 1, 4, 1, 5};
    uint8_t buf[64];
    size_t n = labels_file(buf, values, 5);

    (void)state;
    /* images where labels are expected: magic 0x00000803 */
    buf[3] = 3;
    write_file("bad_magic", buf, n);
    expect_refusal("bad_magic", 1, MTL_ERR_DATA,
                   "idx: '%s': bad magic number (expected 0x00000801, unsigned bytes in 1 "
                   "dimension, got 0x00000803)");
    /* float data (type 0x0d) */
    buf[3] = 1;
    buf[2] = 0x0d;
    write_file("bad_type.gz", buf, n);
    expect_refusal("bad_type.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': bad magic number (expected 0x00000801, unsigned bytes in 1 "
                   "dimension, got 0x00000d01)");
    buf[2] = 8;

    write_file("short_header", buf, 6);
    expect_refusal("short_header", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated header (expected 8 bytes, got 6)");
    write_file("short_data", buf, n - 2);
    expect_refusal("short_data", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated data (expected 5 bytes, got 3)");
    write_file("short_data.gz", buf, n - 2);
    expect_refusal("short_data.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated data (expected 5 bytes, got 3)");
    buf[n] = 9;
    write_file("long", buf, n + 1);
    expect_refusal("long", 1, MTL_ERR_DATA,
                   "idx: '%s': bytes after the data (expected the end of the file after 5 bytes "
                   "of data)");
    buf[7] = 0; /* no items */
    write_file("empty", buf, 8);
    expect_refusal("empty", 1, MTL_ERR_DATA,
                   "idx: '%s': bad size of dimension 0 (expected 1 to 16777216, got 0)");
    expect_refusal("missing", 1, MTL_ERR_IO, "idx: cannot open '%s': No such file or directory");
}

/* Dimensions whose product wraps int64, and a folder where a file is expected. */
static void test_idx_sizes_and_folders(void **state)
{
    static const uint8_t huge[16] = {0, 0, 8, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0};
    char path[512];

    (void)state;
    write_file("huge", huge, sizeof huge);
    expect_refusal("huge", 3, MTL_ERR_DATA,
                   "idx: '%s': too large (more than 9223372036854775807 bytes, at most 4 GiB)");
    path_of("folder", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    expect_refusal("folder", 1, MTL_ERR_DATA, "idx: '%s' is a directory (expected an idx file)");
    assert_int_equal(rmdir(path), 0);
}

/* Writes n raw bytes to dir/name, as they are (no compression). */
static void write_raw(const char *name, const uint8_t *bytes, size_t n)
{
    char path[512];
    FILE *f;

    path_of(name, path, sizeof path);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/*
 * A damaged gzip file is refused with the reason: the stream cut in the
 * middle or just before its trailer ends, a wrong CRC-32, and bytes after
 * the stream (text, or a second gzip member) -- what gzread() lets pass.
 */
static void test_idx_broken_gzip(void **state)
{
    static const uint8_t values[200] = {1, 2, 3};
    uint8_t buf[256], gz[512], bad[1100];
    char path[512];
    size_t n = labels_file(buf, values, 200), got;
    FILE *f;
    mf_idx idx;

    (void)state;
    write_file("whole.gz", buf, n);
    path_of("whole.gz", path, sizeof path);
    f = fopen(path, "rb");
    assert_non_null(f);
    got = fread(gz, 1, sizeof gz, f);
    fclose(f);
    assert_true(got > 20 && got < 500);
    /* the whole file reads back */
    assert_int_equal(mf_idx_load(path, 1, &idx), MTL_OK);
    assert_int_equal(idx.numel, 200);
    assert_memory_equal(idx.data, values, 200);
    mf_idx_free(&idx);

    write_raw("cut.gz", gz, got - 10); /* in the middle of the trailer */
    expect_refusal("cut.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated gzip stream (the file ends before the stream and its "
                   "trailer do)");
    write_raw("no_trailer.gz", gz, got - 8); /* all the data, no CRC-32 nor length */
    expect_refusal("no_trailer.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated gzip stream (the file ends before the stream and its "
                   "trailer do)");
    write_raw("no_length.gz", gz, got - 4); /* the CRC-32, not the length */
    expect_refusal("no_length.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated gzip stream (the file ends before the stream and its "
                   "trailer do)");

    memcpy(bad, gz, got);
    bad[got - 8] ^= 0x01; /* the CRC-32's first byte */
    write_raw("bad_crc.gz", bad, got);
    expect_refusal("bad_crc.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': damaged gzip stream: incorrect data check");
    memcpy(bad, gz, got);
    bad[got - 4] ^= 0x01; /* the length */
    write_raw("bad_length.gz", bad, got);
    expect_refusal("bad_length.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': damaged gzip stream: incorrect length check");

    memcpy(bad, gz, got);
    memcpy(bad + got, "garbage\n", 8);
    write_raw("garbage.gz", bad, got + 8);
    expect_refusal("garbage.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': bytes after the gzip stream (expected the end of the file)");
    memcpy(bad, gz, got);
    memcpy(bad + got, gz, got); /* two members: valid to gzip -d, not an idx file */
    write_raw("two_members.gz", bad, 2 * got);
    expect_refusal("two_members.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': bytes after the gzip stream (expected the end of the file)");
    bad[0] = 0x1f; /* the magic alone */
    bad[1] = 0x8b;
    write_raw("magic_only.gz", bad, 2);
    expect_refusal("magic_only.gz", 1, MTL_ERR_DATA,
                   "idx: '%s': truncated gzip stream (the file ends before the stream and its "
                   "trailer do)");
}

static void test_missing_package(void **state)
{
    char want[1024];
    mf_source src;

    (void)state;
    snprintf(want, sizeof want,
             "data: Fashion-MNIST not found: no 'train-images-idx3-ubyte' or "
             "'train-images-idx3-ubyte.gz' in '%s' (install the Debian package "
             "dataset-fashion-mnist, or set task.data_dir)",
             dir);
    assert_int_equal(mf_source_load(dir, 0, &src), MTL_ERR_DATA);
    assert_string_equal(mtl_error_message(), want);
}

/* An idx3 header for n images of h x w pixels, the pixels zero. */
static size_t images_file(uint8_t *buf, uint32_t n, uint32_t h, uint32_t w)
{
    const uint32_t dims[3] = {n, h, w};

    buf[0] = buf[1] = 0;
    buf[2] = 8;
    buf[3] = 3;
    for (int d = 0; d < 3; d++)
        for (int b = 0; b < 4; b++)
            buf[4 + 4 * d + b] = (uint8_t)(dims[d] >> (24 - 8 * b));
    memset(buf + 16, 0, (size_t)n * h * w);
    return 16 + (size_t)n * h * w;
}

/* mf_source_load of the test split in `sub` fails with status and fmt, whose %s is `sub`. */
static void expect_source_refusal(const char *sub, mtl_status status, const char *fmt)
{
    char want[1200];
    mf_source src;

    snprintf(want, sizeof want, fmt, sub);
    assert_int_equal(mf_source_load(sub, 1, &src), status);
    assert_string_equal(mtl_error_message(), want);
}

/*
 * The split's checks name the file as read: the ".gz" one when that is
 * what was found, the plain one otherwise.
 */
static void test_source_checks(void **state)
{
    static const uint8_t good[2] = {0, 9}, bad[2] = {0, 10}, three[3] = {0, 1, 2};
    static uint8_t images[16 + 2 * 28 * 28], labels[16];
    char sub[512];
    mf_source src;

    (void)state;
    path_of("split", sub, sizeof sub);
    assert_int_equal(mkdir(sub, 0700), 0);

    /* images of 28 x 27, gzip-compressed */
    write_file("split/t10k-images-idx3-ubyte.gz", images, images_file(images, 2, 28, 27));
    write_file("split/t10k-labels-idx1-ubyte", labels, labels_file(labels, good, 2));
    expect_source_refusal(
        sub, MTL_ERR_DATA,
        "data: '%s/t10k-images-idx3-ubyte.gz': images of 28 x 27 (expected 28 x 28)");

    /* the right images; a label of 10, in the plain file */
    write_file("split/t10k-images-idx3-ubyte.gz", images, images_file(images, 2, 28, 28));
    write_file("split/t10k-labels-idx1-ubyte", labels, labels_file(labels, bad, 2));
    expect_source_refusal(sub, MTL_ERR_DATA,
                          "data: '%s/t10k-labels-idx1-ubyte': label 1 is 10 (expected 0 to 9)");

    /* name.gz is read where both exist: three labels there, for two images */
    write_file("split/t10k-labels-idx1-ubyte.gz", labels, labels_file(labels, three, 3));
    expect_source_refusal(sub, MTL_ERR_DATA,
                          "data: '%s/t10k-labels-idx1-ubyte.gz': 3 labels for 2 images "
                          "(expected one per image)");

    /* and the good labels load */
    write_file("split/t10k-labels-idx1-ubyte.gz", labels, labels_file(labels, good, 2));
    assert_int_equal(mf_source_load(sub, 1, &src), MTL_OK);
    assert_int_equal(src.images.dims[0], 2);
    assert_int_equal(src.labels.data[1], 9);
    mf_source_free(&src);

    assert_int_equal(remove_folder(sub), 0);
}

/*
 * What stat() cannot see through is refused, naming the file, and never
 * taken for a missing file: a symbolic link to a missing file (a dangling
 * name.gz does not fall back to a valid name), a symbolic link loop, and a
 * data folder that is a file.  (No search permission on the folder is
 * refused the same way, with "Permission denied"; it cannot be tested as
 * root.)
 */
static void test_source_links(void **state)
{
    static const uint8_t good[2] = {0, 9};
    static uint8_t images[16 + 2 * 28 * 28], labels[16];
    char sub[512], path[1024], file[512];
    mf_source src;

    (void)state;
    path_of("links", sub, sizeof sub);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file("links/t10k-images-idx3-ubyte", images, images_file(images, 2, 28, 28));
    write_file("links/t10k-labels-idx1-ubyte", labels, labels_file(labels, good, 2));
    assert_int_equal(mf_source_load(sub, 1, &src), MTL_OK);
    mf_source_free(&src);

    /* a dangling images .gz beside valid plain images */
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", sub);
    assert_int_equal(symlink("nowhere.gz", path), 0);
    expect_source_refusal(
        sub, MTL_ERR_DATA,
        "data: '%s/t10k-images-idx3-ubyte.gz' is a symbolic link to a missing file");
    assert_int_equal(unlink(path), 0);

    /* a dangling plain labels file, no labels .gz */
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte", sub);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(symlink("nowhere", path), 0);
    expect_source_refusal(sub, MTL_ERR_DATA,
                          "data: '%s/t10k-labels-idx1-ubyte' is a symbolic link to a missing "
                          "file");
    assert_int_equal(unlink(path), 0);
    write_file("links/t10k-labels-idx1-ubyte", labels, labels_file(labels, good, 2));

    /* a labels .gz that is a link to itself, beside valid plain labels */
    snprintf(path, sizeof path, "%s/t10k-labels-idx1-ubyte.gz", sub);
    assert_int_equal(symlink("t10k-labels-idx1-ubyte.gz", path), 0);
    expect_source_refusal(sub, MTL_ERR_IO,
                          "data: cannot read '%s/t10k-labels-idx1-ubyte.gz': Too many levels of "
                          "symbolic links");

    /* a data folder that is a file */
    path_of("links/t10k-images-idx3-ubyte", file, sizeof file);
    expect_source_refusal(file, MTL_ERR_IO,
                          "data: cannot read '%s/t10k-images-idx3-ubyte.gz': Not a directory");

    assert_int_equal(remove_folder(sub), 0);
}

/* ---- composition --------------------------------------------------------- */

/*
 * The composition again, in double: overlaps of [o 36/28, (o+1) 36/28) with
 * each pixel.
 */
static void compose_reference(const uint8_t *left, const uint8_t *right, double *out)
{
    double canvas[MF_CANVAS][MF_CANVAS] = {{0}};
    const double s = (double)MF_CANVAS / MF_SIDE;

    for (int y = 0; y < MF_SIDE; y++)
        for (int x = 0; x < MF_SIDE; x++)
            canvas[y][x] = left[y * MF_SIDE + x];
    for (int y = 0; y < MF_SIDE; y++)
        for (int x = 0; x < MF_SIDE; x++)
            canvas[y + 8][x + 8] = fmax(canvas[y + 8][x + 8], right[y * MF_SIDE + x]);
    for (int oy = 0; oy < MF_SIDE; oy++)
        for (int ox = 0; ox < MF_SIDE; ox++) {
            double acc = 0.0;

            for (int r = 0; r < MF_CANVAS; r++)
                for (int c = 0; c < MF_CANVAS; c++) {
                    double wy = fmin(r + 1.0, (oy + 1) * s) - fmax((double)r, oy * s);
                    double wx = fmin(c + 1.0, (ox + 1) * s) - fmax((double)c, ox * s);
                    if (wy > 0 && wx > 0)
                        acc += wy * wx * canvas[r][c];
                }
            out[oy * MF_SIDE + ox] = acc / (s * s);
        }
}

static void test_compose(void **state)
{
    uint8_t left[MF_PIXELS], right[MF_PIXELS], out[MF_PIXELS];
    double ref[MF_PIXELS];
    mtl_rng rng;

    (void)state;
    mtl_rng_seed(&rng, 3, 0);
    for (int trial = 0; trial < 20; trial++) {
        for (int p = 0; p < MF_PIXELS; p++) {
            left[p] = (uint8_t)mtl_rng_below(&rng, 256);
            right[p] = trial % 2 ? (uint8_t)mtl_rng_below(&rng, 256) : 0;
        }
        mf_compose(left, right, out);
        compose_reference(left, right, ref);
        for (int p = 0; p < MF_PIXELS; p++)
            assert_true(fabs((double)out[p] - ref[p]) <= 0.5 + 1e-9);
    }

    /* Both items white: the canvas's uncovered corners stay black. */
    memset(left, 255, sizeof left);
    memset(right, 255, sizeof right);
    mf_compose(left, right, out);
    assert_int_equal(out[0], 255);
    assert_int_equal(out[MF_PIXELS - 1], 255);
    /* bottom-left: canvas rows 34.7-36, columns 0-1.3 */
    assert_int_equal(out[27 * MF_SIDE], 0);
    assert_int_equal(out[27], 0); /* top-right */
    memset(left, 0, sizeof left);
    memset(right, 0, sizeof right);
    mf_compose(left, right, out);
    for (int p = 0; p < MF_PIXELS; p++)
        assert_int_equal(out[p], 0);
}

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

/* The tests' folder goes with the files they wrote in it. */
static int remove_dir(void **state)
{
    (void)state;
    return remove_folder(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_valid),       cmocka_unit_test(test_idx_refusals),
        cmocka_unit_test(test_idx_broken_gzip), cmocka_unit_test(test_missing_package),
        cmocka_unit_test(test_compose),         cmocka_unit_test(test_idx_sizes_and_folders),
        cmocka_unit_test(test_source_checks),   cmocka_unit_test(test_source_links),
    };

    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
