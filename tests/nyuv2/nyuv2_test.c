/* Helpers of the NYUv2 tests (see nyuv2_test.h). */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, lstat */

#include "nyuv2_test.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void die(const char *what, const char *path)
{
    fprintf(stderr, "nyuv2 test: %s '%s': %s\n", what, path, strerror(errno));
    abort();
}

void file_write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0)
        die("cannot write", path);
}

/* The header dict padded so that magic + version + length + text is a multiple of 64. */
static size_t header_text(const npy_spec *spec, char *buf, size_t cap, size_t prefix)
{
    size_t len = 0, total;

    len += (size_t)snprintf(buf + len, cap - len, "{'descr': '%s', 'fortran_order': %s, 'shape': (",
                            spec->descr, spec->fortran ? "True" : "False");
    for (int i = 0; i < spec->ndim; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%lld%s", (long long)spec->shape[i],
                                spec->ndim == 1 || i + 1 < spec->ndim ? ", " : "");
    len += (size_t)snprintf(buf + len, cap - len, "), }");
    total = (prefix + len + 1 + 63) / 64 * 64;
    while (prefix + len + 1 < total)
        buf[len++] = ' ';
    buf[len++] = '\n';
    return len;
}

void npy_write(const char *path, const npy_spec *spec, const float *values, size_t numel,
               long truncate)
{
    int v2 = spec->major != 1;
    size_t prefix = v2 ? 12 : 10, hlen, item = strcmp(spec->descr, "<f8") == 0 ? 8 : 4;
    size_t total;
    char text[1024];
    unsigned char *buf, *p;

    hlen = header_text(spec, text, sizeof text, prefix);
    total = prefix + hlen + numel * item;
    buf = malloc(total);
    if (!buf)
        abort();
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)spec->major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (v2) {
        buf[10] = (unsigned char)(hlen >> 16);
        buf[11] = (unsigned char)(hlen >> 24);
    }
    memcpy(buf + prefix, text, hlen);
    p = buf + prefix + hlen;
    for (size_t i = 0; i < numel; i++) {
        if (item == 8) {
            double d = values[i];
            memcpy(p + 8 * i, &d, 8);
        } else {
            memcpy(p + 4 * i, &values[i], 4);
        }
    }
    file_write_bytes(path, buf, (size_t)((long)total + truncate));
    free(buf);
}

void make_dirs(const char *path)
{
    char tmp[1024];

    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            die("cannot make", tmp);
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        die("cannot make", tmp);
}

/* A deterministic value in [0, 1) of (seed, split, index, field, element). */
static double hash01(uint64_t seed, int split, int index, int field, int64_t i)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)split << 56) ^ ((uint64_t)index << 40) ^
                 ((uint64_t)field << 32) ^ (uint64_t)i;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return (double)(x >> 11) * 0x1.0p-53;
}

void layout_values(int split, int index, nyu_field field, int64_t h, int64_t w, uint64_t seed,
                   float *out)
{
    int64_t hw = h * w;

    for (int64_t p = 0; p < hw; p++) {
        double u = hash01(seed, split, index, (int)field, p);

        switch (field) {
        case NYU_IMAGE:
            for (int c = 0; c < 3; c++)
                out[3 * p + c] = (float)hash01(seed, split, index, 10 + c, p);
            break;
        case NYU_LABEL:
            out[p] = (float)((int)(u * 14.0) - 1);
            break;
        case NYU_DEPTH:
            out[p] = u < 0.1 ? 0.0f : (float)(0.5 + 4.0 * u);
            break;
        default: {
            double v[3], n = 0;
            for (int c = 0; c < 3; c++) {
                v[c] = hash01(seed, split, index, 20 + c, p) - 0.5;
                n += v[c] * v[c];
            }
            for (int c = 0; c < 3; c++)
                out[3 * p + c] = u < 0.1 ? 0.0f : (float)(v[c] / sqrt(n));
        }
        }
    }
}

void layout_write(const char *root, int n_train, int n_val, int64_t h, int64_t w, uint64_t seed,
                  int f8)
{
    static const char *const splits[2] = {"train", "val"};
    float *buf = malloc((size_t)(3 * h * w) * sizeof *buf);
    char path[1024];

    if (!buf)
        abort();
    for (int s = 0; s < 2; s++) {
        int n = s == 0 ? n_train : n_val;

        for (int f = 0; f < NYU_N_FIELDS; f++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, splits[s], nyu_field_name((nyu_field)f));
            make_dirs(path);
        }
        for (int i = 0; i < n; i++) {
            for (int f = 0; f < NYU_N_FIELDS; f++) {
                npy_spec spec = {1, f8 ? "<f8" : "<f4", 0, 3, {h, w, nyu_field_channels(f)}};

                if (f == NYU_LABEL)
                    spec.ndim = 2;
                layout_values(s, i, (nyu_field)f, h, w, seed, buf);
                snprintf(path, sizeof path, "%s/%s/%s/%d.npy", root, splits[s],
                         nyu_field_name((nyu_field)f), i);
                npy_write(path, &spec, buf, (size_t)(h * w * nyu_field_channels(f)), 0);
            }
        }
    }
    free(buf);
}

void temp_dir(char *buf, size_t cap, const char *tag)
{
    snprintf(buf, cap, "/tmp/mtl_nyuv2_%s_XXXXXX", tag);
    if (!mkdtemp(buf))
        die("cannot make", buf);
}

void tree_remove(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return;
    while ((e = readdir(d))) {
        char sub[1024];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            tree_remove(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(dir);
}

int fixture_load(fixture *fx, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;

    memset(fx, 0, sizeof *fx);
    if (!f)
        return -1;
    while (getline(&line, &cap, f) > 0) {
        fixture_entry e;
        char *p = line, *end;
        int used;

        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (sscanf(p, "%47s %zu%n", e.name, &e.n, &used) != 2)
            return -1;
        p += used;
        e.v = malloc((e.n ? e.n : 1) * sizeof *e.v);
        for (size_t i = 0; i < e.n; i++) {
            e.v[i] = strtod(p, &end);
            if (end == p)
                return -1;
            p = end;
        }
        fx->e = realloc(fx->e, (fx->n + 1) * sizeof *fx->e);
        fx->e[fx->n++] = e;
    }
    free(line);
    fclose(f);
    return 0;
}

void fixture_free(fixture *fx)
{
    for (size_t i = 0; i < fx->n; i++)
        free(fx->e[i].v);
    free(fx->e);
    memset(fx, 0, sizeof *fx);
}

const fixture_entry *fixture_next(const fixture *fx, size_t *pos, const char *name)
{
    while (*pos < fx->n && strcmp(fx->e[*pos].name, name) != 0)
        (*pos)++;
    if (*pos >= fx->n) {
        fprintf(stderr, "nyuv2 test: no fixture entry '%s'\n", name);
        abort();
    }
    return &fx->e[(*pos)++];
}

double hash_uniform(uint64_t stream, uint64_t i)
{
    uint64_t x = i * 0x9E3779B97F4A7C15ull + stream * 0xBF58476D1CE4E5B9ull;

    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return (double)(x >> 11) * 0x1.0p-53 * 2.0 - 1.0;
}
