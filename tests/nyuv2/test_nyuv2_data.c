/*
 * The NYUv2 data layout: the .npy reader and the dataset on tiny files the
 * test writes in exactly the MTAN layout (train/ and val/, image/, label/,
 * depth/, normal/, <i>.npy), the happy path and every refusal with its
 * exact message.
 */
#define _POSIX_C_SOURCE 200809L /* unlink */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nyuv2_test.h"

#define H    24
#define W    32
#define SEED 7

static char root[256];
static char msg[2048];

static int setup(void **state)
{
    (void)state;
    temp_dir(root, sizeof root, "data");
    layout_write(root, 4, 2, H, W, SEED, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tree_remove(root);
    return 0;
}

/* Opens the layout expecting a failure, and checks the message. */
static void expect_open_error(const char *dir, mtl_status want, const char *message)
{
    nyu_dataset ds;
    mtl_status st = nyu_dataset_open(&ds, dir);

    if (st != want || strcmp(mtl_error_message(), message) != 0)
        print_error("got status %d, message\n  %s\nexpected %d,\n  %s\n", (int)st,
                    mtl_error_message(), (int)want, message);
    assert_int_equal(st, want);
    assert_string_equal(mtl_error_message(), message);
}

static void expect_open_ok(const char *dir)
{
    nyu_dataset ds;
    mtl_status st = nyu_dataset_open(&ds, dir);

    if (st != MTL_OK)
        print_error("got status %d, message\n  %s\n", (int)st, mtl_error_message());
    assert_int_equal(st, MTL_OK);
    nyu_dataset_close(&ds);
}

/* A copy of the good layout in a fresh folder, to break one file in. */
static void fresh_layout(char *dir, size_t cap, int f8)
{
    temp_dir(dir, cap, "bad");
    layout_write(dir, 3, 2, H, W, SEED, f8);
}

/* ---- happy path ----------------------------------------------------------- */

static void check_scene(const nyu_dataset *ds, int split, int index, const nyu_scene *s)
{
    float want[3 * H * W];

    for (int f = 0; f < NYU_N_FIELDS; f++) {
        int c = nyu_field_channels((nyu_field)f);
        const float *got = f == NYU_IMAGE   ? s->image
                           : f == NYU_LABEL ? s->label
                           : f == NYU_DEPTH ? s->depth
                                            : s->normal;

        layout_values(split, index, (nyu_field)f, ds->h, ds->w, SEED, want);
        /* The file is H x W x C; the scene is C x H x W (np.moveaxis(x, -1, 0)). */
        for (int k = 0; k < c; k++)
            for (int p = 0; p < H * W; p++)
                assert_true(got[k * H * W + p] == want[p * c + k]);
    }
}

static void test_open_and_read(void **state)
{
    nyu_dataset ds;
    nyu_scene s;

    (void)state;
    assert_int_equal(nyu_dataset_open(&ds, root), MTL_OK);
    assert_int_equal(ds.train.n, 4);
    assert_int_equal(ds.test.n, 2);
    assert_int_equal(ds.h, H);
    assert_int_equal(ds.w, W);
    assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(nyu_scene_read(&ds, &ds.train, i, &s), MTL_OK);
        check_scene(&ds, 0, i, &s);
    }
    assert_int_equal(nyu_scene_read(&ds, &ds.test, 1, &s), MTL_OK);
    check_scene(&ds, 1, 1, &s);
    nyu_scene_free(&s);
    nyu_dataset_close(&ds);
}

/* float64 files ('<f8') are read and converted to float32. */
static void test_float64_files(void **state)
{
    char dir[256];
    nyu_dataset ds;
    nyu_scene s;

    (void)state;
    fresh_layout(dir, sizeof dir, 1);
    assert_int_equal(nyu_dataset_open(&ds, dir), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
    assert_int_equal(nyu_scene_read(&ds, &ds.train, 2, &s), MTL_OK);
    check_scene(&ds, 0, 2, &s);
    nyu_scene_free(&s);
    nyu_dataset_close(&ds);
    tree_remove(dir);
}

/* Version 2.0 headers (4-byte length) are read like 1.0. */
static void test_version2_header(void **state)
{
    char dir[256], path[512];
    float v[H * W];
    npy_spec spec = {2, "<f4", 0, 2, {H, W}};
    nyu_dataset ds;
    nyu_scene s;

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    layout_values(0, 1, NYU_LABEL, H, W, SEED, v);
    snprintf(path, sizeof path, "%s/train/label/1.npy", dir);
    npy_write(path, &spec, v, H * W, 0);
    assert_int_equal(nyu_dataset_open(&ds, dir), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
    assert_int_equal(nyu_scene_read(&ds, &ds.train, 1, &s), MTL_OK);
    check_scene(&ds, 0, 1, &s);
    nyu_scene_free(&s);
    nyu_dataset_close(&ds);
    tree_remove(dir);
}

/* ---- refusals ------------------------------------------------------------- */

static void test_no_data(void **state)
{
    char dir[256];

    (void)state;
    temp_dir(dir, sizeof dir, "empty");
    snprintf(msg, sizeof msg,
             "data: no NYUv2 data at '%s': cannot open '%s/train/image': No such file or "
             "directory (expected the MTAN layout %s/{train,val}/{image,label,depth,normal}/"
             "<i>.npy; NYUv2 has no offline source: place the files there, see "
             "experiments/nyuv2/README.md)",
             dir, dir, dir);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* train/image exists but holds no .npy file */
    snprintf(msg, sizeof msg, "%s/train/image", dir);
    make_dirs(msg);
    snprintf(msg, sizeof msg,
             "data: no NYUv2 data at '%s': no .npy file in '%s/train/image' (expected the MTAN "
             "layout %s/{train,val}/{image,label,depth,normal}/<i>.npy; NYUv2 has no offline "
             "source: place the files there, see experiments/nyuv2/README.md)",
             dir, dir, dir);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

static void test_missing_file(void **state)
{
    char dir[256], path[512];

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/val/depth/1.npy", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(msg, sizeof msg, "data: cannot open '%s': No such file or directory", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

static void test_wrong_shape(void **state)
{
    char dir[256], path[512];
    float v[3 * H * W] = {0};
    npy_spec spec = {1, "<f4", 0, 3, {H, W, 2}};

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/train/normal/2.npy", dir);
    npy_write(path, &spec, v, 2 * H * W, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong shape (expected (24, 32, 3), got (24, 32, 2))",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* a label with a channel axis */
    spec = (npy_spec){1, "<f4", 0, 3, {H, W, 1}};
    layout_write(dir, 3, 2, H, W, SEED, 0);
    snprintf(path, sizeof path, "%s/val/label/0.npy", dir);
    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong shape (expected (24, 32), got (24, 32, 1))", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* the first image sets the size; it must be H x W x 3 */
    spec = (npy_spec){1, "<f4", 0, 2, {H, W}};
    layout_write(dir, 3, 2, H, W, SEED, 0);
    snprintf(path, sizeof path, "%s/train/image/0.npy", dir);
    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong shape (expected (any, any, 3), got (24, 32))",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* a scene of another size than the first */
    spec = (npy_spec){1, "<f4", 0, 3, {H, 16, 1}};
    layout_write(dir, 3, 2, H, W, SEED, 0);
    snprintf(path, sizeof path, "%s/train/depth/1.npy", dir);
    npy_write(path, &spec, v, H * 16, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong shape (expected (24, 32, 1), got (24, 16, 1))",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

static void test_wrong_dtype(void **state)
{
    char dir[256], path[512];
    float v[H * W] = {0};
    npy_spec spec = {1, "<i4", 0, 2, {H, W}};

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/train/label/1.npy", dir);
    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong dtype (expected '<f4' or '<f8', got '<i4')", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* big-endian float32 */
    spec.descr = ">f4";
    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg, "data: '%s': wrong dtype (expected '<f4' or '<f8', got '>f4')", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* Fortran order */
    spec.descr = "<f4";
    spec.fortran = 1;
    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg,
             "data: '%s': wrong memory order (expected C order, got Fortran order)", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

static void test_bad_header(void **state)
{
    static const char not_npy[] = "PK\x03\x04 a zip file, not an array";
    char dir[256], path[512];
    float v[H * W] = {0};
    npy_spec spec = {3, "<f4", 0, 2, {H, W}};
    unsigned char no_shape[64] =
        "\x93NUMPY\x01\x00\x36\x00{'descr': '<f4', 'fortran_order': False}";
    static const char sdict[] =
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (24, 32), }";
    unsigned char structured[128];
    float more[H * W + 2] = {0};

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/val/label/1.npy", dir);

    file_write_bytes(path, not_npy, sizeof not_npy - 1);
    snprintf(msg, sizeof msg,
             "data: '%s' is not a .npy file (expected the magic string \\x93NUMPY at its start)",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    npy_write(path, &spec, v, H * W, 0);
    snprintf(msg, sizeof msg,
             "data: '%s': unsupported .npy format version 3.0 (expected 1.0 or 2.0)", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* a header dict without 'shape', padded to its declared 54 bytes */
    memset(no_shape + 50, ' ', 13);
    no_shape[63] = '\n';
    file_write_bytes(path, no_shape, sizeof no_shape);
    snprintf(msg, sizeof msg,
             "data: '%s': malformed .npy header: no 'shape' tuple (expected a dict with 'descr', "
             "'fortran_order' and 'shape')",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* the file ends inside the header */
    file_write_bytes(path, no_shape, 20);
    snprintf(msg, sizeof msg,
             "data: '%s': malformed .npy header: the file ends inside the header (expected a "
             "dict with 'descr', 'fortran_order' and 'shape')",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* a structured dtype: 'descr' is there but is not a type string */
    memset(structured, ' ', sizeof structured);
    memcpy(structured, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(structured + 10, sdict, sizeof sdict - 1);
    structured[sizeof structured - 1] = '\n';
    file_write_bytes(path, structured, sizeof structured);
    snprintf(msg, sizeof msg,
             "data: '%s': malformed .npy header: 'descr' is not a quoted type string (a "
             "structured dtype?) (expected a dict with 'descr', 'fortran_order' and 'shape')",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* the array is cut short */
    spec.major = 1;
    npy_write(path, &spec, v, H * W, -8);
    snprintf(msg, sizeof msg, "data: '%s': truncated (expected 3072 bytes of data, got 3064)",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);

    /* more values than the shape holds (two files joined, say) */
    npy_write(path, &spec, more, H * W + 2, 0);
    snprintf(msg, sizeof msg,
             "data: '%s': bytes after the array (expected 3072 bytes of data, got 3080)", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

/* Writes a version 1.0 file: `dict` padded to a multiple of 64 bytes, then H x W floats. */
/* A .npy file whose header holds the len bytes of dict (NUL bytes too), padded as numpy pads. */
static void write_dict_bytes(const char *path, const char *dict, size_t len)
{
    static unsigned char bytes[1024 + H * W * 4];
    size_t hlen = (10 + len + 1 + 63) / 64 * 64 - 10;

    assert_true(10 + hlen + H * W * 4 <= sizeof bytes);
    memset(bytes, 0, sizeof bytes);
    memcpy(bytes, "\x93NUMPY\x01\x00", 8);
    bytes[8] = (unsigned char)(hlen & 0xff);
    bytes[9] = (unsigned char)(hlen >> 8);
    memset(bytes + 10, ' ', hlen);
    memcpy(bytes + 10, dict, len);
    bytes[10 + hlen - 1] = '\n';
    file_write_bytes(path, bytes, 10 + hlen + H * W * 4);
}

static void write_dict(const char *path, const char *dict)
{
    write_dict_bytes(path, dict, strlen(dict));
}

/* Headers numpy.load refuses (or reads otherwise) are refused, naming the fault. */
static void test_strict_header(void **state)
{
    static const struct {
        const char *dict, *why;
    } cases[] = {
        {"{'descr': '<f4', 'descr': '<f8', 'fortran_order': False, 'shape': (24, 32), }",
         "key 'descr' given twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), 'shape': (768,), }",
         "key 'shape' given twice"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), 'x': 1, }",
         "unknown key 'x'"},
        {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (24, 32), }",
         "'fortran_order' is neither True nor False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 032), }",
         "'shape' is not a tuple of sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (768), }",
         "'shape' is not a tuple of sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24 32), }",
         "'shape' is not a tuple of sizes"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), } x", "text after the dict"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), ",
         "a key is not a quoted name"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (24, 32)}",
         "no ',' or '}' after a value"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (24, 32)}", "no ':' after a key"},
        {"{'fortran_order': False, 'shape': (24, 32)}", "no 'descr'"},
        {"{'descr': '<f4', 'shape': (24, 32)}", "no 'fortran_order'"},
        /* a terminal escape in the file is shown as bytes, not sent to the terminal */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), '\x1b[31m\x7f\xe9': 1}",
         "unknown key '\\x1b[31m\\x7f\\xe9'"},
    };
    static const char nul_after[] =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32)}\0x";
    char dir[256], path[512];

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/val/label/1.npy", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_dict(path, cases[i].dict);
        snprintf(msg, sizeof msg,
                 "data: '%s': malformed .npy header: %s (expected a dict with 'descr', "
                 "'fortran_order' and 'shape')",
                 path, cases[i].why);
        expect_open_error(dir, MTL_ERR_DATA, msg);
    }
    write_dict_bytes(path, nul_after, sizeof nul_after - 1);
    snprintf(msg, sizeof msg,
             "data: '%s': malformed .npy header: a NUL byte in the header (expected a dict with "
             "'descr', 'fortran_order' and 'shape')",
             path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    write_dict(path, "{'descr': '<f4\x1b[0m', 'fortran_order': False, 'shape': (24, 32)}");
    snprintf(msg, sizeof msg,
             "data: '%s': wrong dtype (expected '<f4' or '<f8', got '<f4\\x1b[0m')", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    /* What numpy writes, keys in another order, double quotes: all read. */
    write_dict(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), }");
    expect_open_ok(dir);
    write_dict(path, "{\"shape\": (24,32), \"fortran_order\": False, \"descr\": \"<f4\"}");
    expect_open_ok(dir);
    /* Python's blanks between the tokens, as numpy.load takes them */
    write_dict(path, "{'descr':\t'<f4',\n 'fortran_order':\fFalse,\t'shape': (24,\t32)\t}");
    expect_open_ok(dir);
    tree_remove(dir);
}

/* A version 2.0 header longer than version 1.0 can hold (numpy writes 2.0 only then). */
static void test_long_version2_header(void **state)
{
    enum { LEN = 70000 };
    static const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (24, 32), }";
    char dir[256], path[512];
    float v[H * W];
    unsigned char *bytes = malloc(12 + LEN + sizeof v);
    nyu_dataset ds;
    nyu_scene s;

    (void)state;
    assert_non_null(bytes);
    fresh_layout(dir, sizeof dir, 0);
    layout_values(0, 1, NYU_LABEL, H, W, SEED, v);
    memcpy(bytes, "\x93NUMPY\x02\x00", 8);
    bytes[8] = LEN & 0xff;
    bytes[9] = (LEN >> 8) & 0xff;
    bytes[10] = (LEN >> 16) & 0xff;
    bytes[11] = 0;
    memset(bytes + 12, ' ', LEN);
    memcpy(bytes + 12, dict, sizeof dict - 1);
    bytes[12 + LEN - 1] = '\n';
    memcpy(bytes + 12 + LEN, v, sizeof v);
    snprintf(path, sizeof path, "%s/train/label/1.npy", dir);
    file_write_bytes(path, bytes, 12 + LEN + sizeof v);
    free(bytes);
    assert_int_equal(nyu_dataset_open(&ds, dir), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
    assert_int_equal(nyu_scene_read(&ds, &ds.train, 1, &s), MTL_OK);
    check_scene(&ds, 0, 1, &s);
    nyu_scene_free(&s);
    nyu_dataset_close(&ds);
    tree_remove(dir);
}

/* Folders and files where the other is expected are named as such. */
static void test_not_files(void **state)
{
    char dir[256], path[512];

    (void)state;
    fresh_layout(dir, sizeof dir, 0);
    snprintf(path, sizeof path, "%s/val/depth/1.npy", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(msg, sizeof msg, "data: '%s' is a directory (expected a .npy file)", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    assert_int_equal(rmdir(path), 0);

    /* A FIFO is refused at once, not waited on for a writer. */
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(msg, sizeof msg, "data: '%s' is not a regular file (expected a .npy file)", path);
    expect_open_error(dir, MTL_ERR_DATA, msg);
    assert_int_equal(unlink(path), 0);

    snprintf(path, sizeof path, "%s/val/depth/0.npy", dir);
    snprintf(msg, sizeof msg,
             "data: task.data '%s' is not a directory (expected the folder of the MTAN-prepared "
             "NYUv2)",
             path);
    expect_open_error(path, MTL_ERR_DATA, msg);
    tree_remove(dir);
}

/* Reads scene `index` of val/ with one value of `field` replaced, expecting the message. */
static void expect_bad_value(nyu_field field, int64_t element, float value, const char *want)
{
    char dir[256], path[512];
    int c = nyu_field_channels(field);
    float *v = malloc((size_t)(H * W * c) * sizeof *v);
    npy_spec spec = {1, "<f4", 0, field == NYU_LABEL ? 2 : 3, {H, W, c}};
    nyu_dataset ds;
    nyu_scene s;

    assert_non_null(v);
    fresh_layout(dir, sizeof dir, 0);
    layout_values(1, 1, field, H, W, SEED, v);
    v[element] = value;
    snprintf(path, sizeof path, "%s/val/%s/1.npy", dir, nyu_field_name(field));
    npy_write(path, &spec, v, (size_t)(H * W * c), 0);
    free(v);
    assert_int_equal(nyu_dataset_open(&ds, dir), MTL_OK);
    assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
    assert_int_equal(nyu_scene_read(&ds, &ds.test, 1, &s), MTL_ERR_DATA);
    snprintf(msg, sizeof msg, want, path);
    assert_string_equal(mtl_error_message(), msg);
    nyu_scene_free(&s);
    nyu_dataset_close(&ds);
    tree_remove(dir);
}

/* Labels are class indices in [-1, 12]; depth, normals and images are finite. */
static void test_bad_values(void **state)
{
    (void)state;
    expect_bad_value(NYU_LABEL, 5, 13.0f,
                     "data: '%s': element 5 is not a class (expected an integer in [-1, 12], got "
                     "13)");
    expect_bad_value(NYU_LABEL, 700, 2.5f,
                     "data: '%s': element 700 is not a class (expected an integer in [-1, 12], "
                     "got 2.5)");
    expect_bad_value(NYU_LABEL, 0, 1e30f,
                     "data: '%s': element 0 is not a class (expected an integer in [-1, 12], got "
                     "1e+30)");
    expect_bad_value(NYU_LABEL, 767, NAN,
                     "data: '%s': element 767 is not a class (expected an integer in [-1, 12], "
                     "got nan)");
    expect_bad_value(NYU_LABEL, 3, -2.0f,
                     "data: '%s': element 3 is not a class (expected an integer in [-1, 12], got "
                     "-2)");
    expect_bad_value(NYU_DEPTH, 10, NAN,
                     "data: '%s': element 10 is not finite (expected a finite depth value, got "
                     "nan)");
    expect_bad_value(NYU_NORMAL, 2000, INFINITY,
                     "data: '%s': element 2000 is not finite (expected a finite normal value, got "
                     "inf)");
    expect_bad_value(NYU_IMAGE, 1, -INFINITY,
                     "data: '%s': element 1 is not finite (expected a finite image value, got "
                     "-inf)");
}

/*
 * A float64 value too large for float32 is refused as such, with the file's
 * value (it would otherwise be reported as the infinity it converts to).
 */
static void test_float64_beyond_float32(void **state)
{
    static const double huge[2] = {1e300, -3.5e38};
    char dir[256], path[512];
    nyu_dataset ds;
    nyu_scene s;

    (void)state;
    for (int i = 0; i < 2; i++) {
        FILE *f;

        fresh_layout(dir, sizeof dir, 1);
        snprintf(path, sizeof path, "%s/val/depth/1.npy", dir);
        f = fopen(path, "r+b");
        assert_non_null(f);
        /* element 7 of H x W: 8 bytes each, counted back from the end */
        assert_int_equal(fseek(f, -(long)((H * W - 7) * 8), SEEK_END), 0);
        assert_int_equal(fwrite(&huge[i], sizeof huge[i], 1, f), 1);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(nyu_dataset_open(&ds, dir), MTL_OK);
        assert_int_equal(nyu_scene_alloc(&s, H, W), MTL_OK);
        assert_int_equal(nyu_scene_read(&ds, &ds.test, 1, &s), MTL_ERR_DATA);
        snprintf(msg, sizeof msg,
                 "data: '%s': element 7 is %s, beyond float32's range (expected a magnitude of "
                 "at most 3.40282e+38)",
                 path, i == 0 ? "1e+300" : "-3.5e+38");
        assert_string_equal(mtl_error_message(), msg);
        nyu_scene_free(&s);
        nyu_dataset_close(&ds);
        tree_remove(dir);
    }
}

/* Scene sizes whose buffers' byte counts would wrap are refused. */
static void test_scene_too_large(void **state)
{
    nyu_scene s;

    (void)state;
    assert_int_equal(nyu_scene_alloc(&s, 2147483648, 2147483648), MTL_ERR_CONFIG);
    assert_string_equal(mtl_error_message(),
                        "data: a scene of 2147483648 x 2147483648 is too large (expected at most "
                        "281474976710656 bytes a field)");
    assert_null(s.image);
    assert_int_equal(nyu_size_bytes(INT64_MAX, 2, 1), SIZE_MAX);
    assert_int_equal(nyu_size_bytes(13, 288, 384), 13 * 288 * 384 * 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_and_read),
        cmocka_unit_test(test_float64_files),
        cmocka_unit_test(test_float64_beyond_float32),
        cmocka_unit_test(test_version2_header),
        cmocka_unit_test(test_no_data),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_strict_header),
        cmocka_unit_test(test_long_version2_header),
        cmocka_unit_test(test_not_files),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_scene_too_large),
    };

    return cmocka_run_group_tests_name("nyuv2 data", tests, setup, teardown);
}
