/*
 * Helpers of the NYUv2 tests: .npy files written byte by byte, tiny data
 * folders in exactly the MTAN layout, and temporary folders.
 */
#ifndef NYUV2_TEST_H
#define NYUV2_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "nyuv2.h"

/* A .npy file's header text and version, for writing bad files on purpose. */
typedef struct npy_spec {
    int major;         /* 1 or 2 (or anything, to test refusals) */
    const char *descr; /* "<f4", "<f8", "<i4", ... */
    int fortran;       /* 'fortran_order': True */
    int ndim;
    int64_t shape[4];
} npy_spec;

/*
 * Writes path as a .npy file with this header and `numel` values of
 * `values` (as float64 for "<f8", as their float32 bytes for any other
 * descr).  `truncate` (<= 0) is added to the file's length: a negative
 * value drops that many bytes from the end, for truncation tests.
 */
void npy_write(const char *path, const npy_spec *spec, const float *values, size_t numel,
               long truncate);

/* Writes raw bytes (for files that are not .npy at all). */
void file_write_bytes(const char *path, const void *bytes, size_t n);

/*
 * Writes a layout under `root`: n_train scenes in train/, n_val in val/,
 * every field of h x w, deterministic values from `seed` (image in [0, 1],
 * labels in -1..12, depths with zeros, unit normals with zero pixels),
 * stored as float64 when `f8` (to exercise the conversion).
 */
void layout_write(const char *root, int n_train, int n_val, int64_t h, int64_t w, uint64_t seed,
                  int f8);

/* The values layout_write() stores for one field of a scene, in the file's HWC order. */
void layout_values(int split, int index, nyu_field field, int64_t h, int64_t w, uint64_t seed,
                   float *out);

/* A fixture file of tools/make_nyuv2_sample.py: lines `NAME COUNT v1 v2 ...`. */
typedef struct fixture_entry {
    char name[48];
    size_t n;
    double *v;
} fixture_entry;

typedef struct fixture {
    fixture_entry *e;
    size_t n;
} fixture;

/* Reads a fixture file ('#' lines are comments); 0 on success. */
int fixture_load(fixture *fx, const char *path);
void fixture_free(fixture *fx);
/* The next entry named `name` at or after *pos (fails the test when none). */
const fixture_entry *fixture_next(const fixture *fx, size_t *pos, const char *name);

/* Value i of a 64-bit mix of (stream, i), uniform in [-1, 1): the fixture tool's hash_uniform(). */
double hash_uniform(uint64_t stream, uint64_t i);

/* mkdtemp under /tmp; the caller removes it with tree_remove(). */
void temp_dir(char *buf, size_t cap, const char *tag);
void tree_remove(const char *dir);
void make_dirs(const char *path);

#endif /* NYUV2_TEST_H */
