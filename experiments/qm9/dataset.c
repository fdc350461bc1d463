/*
 * Reader of the .mtlq QM9 file (DATA.md, section 2), checked in the order
 * DATA.md lists: header fields, the section table, the exact file size, the
 * hash, then the contents.  `read_mtlq()` in tools/qm9_prepare.py is the
 * reference reader; messages here name the file, the field and both values.
 */
#include "dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The arrays point into the file's bytes, so they must mean the same here. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "qm9: the .mtlq reader maps little-endian arrays in place and needs a little-endian host"
#endif

static const unsigned char qm9_magic[8] = {'M', 'T', 'L', 'Q', 'M', '9', 0, 0};

enum {
    SEC_ATOM_OFFSETS,
    SEC_BOND_OFFSETS,
    SEC_ATOMIC_NUMBERS,
    SEC_POSITIONS,
    SEC_NODE_FEATURES,
    SEC_BONDS,
    SEC_TARGETS,
    SEC_MOL_IDS
};

static const char *const section_names[QM9_N_SECTIONS] = {
    "atom_offsets",  "bond_offsets", "atomic_numbers", "positions",
    "node_features", "bonds",        "targets",        "mol_ids"};

uint64_t qm9_fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint32_t read_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t read_u64(const unsigned char *p)
{
    return (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
}

static uint64_t round_up8(uint64_t v)
{
    return (v + 7u) & ~(uint64_t)7u;
}

/* ---- reading the bytes -------------------------------------------------- */

static mtl_status read_file(qm9_dataset *ds)
{
    FILE *f = fopen(ds->path, "rb");
    long end;
    size_t got;

    if (!f)
        return mtl_error_set(MTL_ERR_DATA, "dataset: cannot open '%s': %s", ds->path,
                             strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0 || (end = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return mtl_error_set(MTL_ERR_IO, "dataset: cannot find the size of '%s'", ds->path);
    }
    ds->size = (size_t)end;
    ds->bytes = malloc(ds->size ? ds->size : 1);
    if (!ds->bytes) {
        fclose(f);
        return mtl_error_set(MTL_ERR_NOMEM, "dataset: cannot hold '%s' in memory (%zu bytes)",
                             ds->path, ds->size);
    }
    got = fread(ds->bytes, 1, ds->size, f);
    fclose(f);
    if (got != ds->size)
        return mtl_error_set(MTL_ERR_IO, "dataset: cannot read '%s' (expected %zu bytes, got %zu)",
                             ds->path, ds->size, got);
    return MTL_OK;
}

/* ---- 1. header ---------------------------------------------------------- */

static mtl_status check_header(qm9_dataset *ds)
{
    const unsigned char *b = ds->bytes;
    char got[17];
    uint32_t v;

    if (ds->size < QM9_HEADER_SIZE)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' is truncated: shorter than the header (expected at "
                             "least %d bytes, got %zu)",
                             ds->path, QM9_HEADER_SIZE, ds->size);
    if (memcmp(b, qm9_magic, sizeof qm9_magic) != 0) {
        for (int i = 0; i < 8; i++)
            snprintf(got + 2 * i, 3, "%02x", b[i]);
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' is not a QM9 .mtlq file: bad magic (expected "
                             "4d544c514d390000, got %s)",
                             ds->path, got);
    }
    if ((v = read_u32(b + 8)) != QM9_FILE_VERSION)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' has an unsupported format version (expected %d, got "
                             "%u); rebuild it with tools/qm9_prepare.py",
                             ds->path, QM9_FILE_VERSION, v);
    if ((v = read_u32(b + 12)) != QM9_HEADER_SIZE)
        return mtl_error_set(MTL_ERR_DATA, "dataset: '%s': bad header size (expected %d, got %u)",
                             ds->path, QM9_HEADER_SIZE, v);
    if ((v = read_u32(b + 40)) != QM9_N_TARGETS)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s': bad number of targets (expected %d, got %u)", ds->path,
                             QM9_N_TARGETS, v);
    if ((v = read_u32(b + 44)) != QM9_N_NODE_FEATURES)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s': bad number of node features (expected %d, got %u)",
                             ds->path, QM9_N_NODE_FEATURES, v);
    return MTL_OK;
}

/* ---- 2. sections and size ----------------------------------------------- */

/* A count read from the header; no count can exceed the file's size. */
static mtl_status read_count(qm9_dataset *ds, int at, const char *name, int64_t *out)
{
    uint64_t v = read_u64(ds->bytes + at);

    if (v > (uint64_t)ds->size)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s': %s is larger than the file (expected at most %zu, "
                             "got %llu)",
                             ds->path, name, ds->size, (unsigned long long)v);
    *out = (int64_t)v;
    return MTL_OK;
}

/* Expected byte length of each section, from the header's counts. */
static void section_lengths(const qm9_dataset *ds, uint64_t len[QM9_N_SECTIONS])
{
    uint64_t n = (uint64_t)ds->n_molecules, a = (uint64_t)ds->n_atoms;

    len[SEC_ATOM_OFFSETS] = 8 * (n + 1);
    len[SEC_BOND_OFFSETS] = 8 * (n + 1);
    len[SEC_ATOMIC_NUMBERS] = a;
    len[SEC_POSITIONS] = 12 * a;
    len[SEC_NODE_FEATURES] = QM9_N_NODE_FEATURES * a;
    len[SEC_BONDS] = 3 * (uint64_t)ds->n_bonds;
    len[SEC_TARGETS] = 4 * QM9_N_TARGETS * n;
    len[SEC_MOL_IDS] = 4 * n;
}

static void point_sections(qm9_dataset *ds, const uint64_t off[QM9_N_SECTIONS])
{
    const unsigned char *b = ds->bytes;

    ds->atom_offsets = (const uint64_t *)(const void *)(b + off[SEC_ATOM_OFFSETS]);
    ds->bond_offsets = (const uint64_t *)(const void *)(b + off[SEC_BOND_OFFSETS]);
    ds->atomic_numbers = b + off[SEC_ATOMIC_NUMBERS];
    ds->positions = (const float *)(const void *)(b + off[SEC_POSITIONS]);
    ds->node_features = b + off[SEC_NODE_FEATURES];
    ds->bonds = b + off[SEC_BONDS];
    ds->targets = (const float *)(const void *)(b + off[SEC_TARGETS]);
    ds->mol_ids = (const uint32_t *)(const void *)(b + off[SEC_MOL_IDS]);
}

static mtl_status check_sections(qm9_dataset *ds)
{
    uint64_t want_len[QM9_N_SECTIONS], off[QM9_N_SECTIONS], expect = QM9_HEADER_SIZE, end = 0;
    mtl_status st;

    if ((st = read_count(ds, 16, "n_molecules", &ds->n_molecules)) != MTL_OK ||
        (st = read_count(ds, 24, "n_atoms", &ds->n_atoms)) != MTL_OK ||
        (st = read_count(ds, 32, "n_bonds", &ds->n_bonds)) != MTL_OK)
        return st;
    section_lengths(ds, want_len);

    for (int k = 0; k < QM9_N_SECTIONS; k++) {
        uint64_t o = read_u64(ds->bytes + 48 + 16 * k), len = read_u64(ds->bytes + 56 + 16 * k);

        if (o != expect)
            return mtl_error_set(MTL_ERR_DATA,
                                 "dataset: '%s': section %d (%s) starts at the wrong offset "
                                 "(expected %llu, got %llu)",
                                 ds->path, k, section_names[k], (unsigned long long)expect,
                                 (unsigned long long)o);
        if (len != want_len[k])
            return mtl_error_set(MTL_ERR_DATA,
                                 "dataset: '%s': section %d (%s) has the wrong length for the "
                                 "header's counts (expected %llu bytes, got %llu)",
                                 ds->path, k, section_names[k], (unsigned long long)want_len[k],
                                 (unsigned long long)len);
        off[k] = o;
        end = o + len;
        expect = round_up8(end);
    }

    if ((uint64_t)ds->size < end)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' is truncated (expected %llu bytes, got "
                             "%zu)",
                             ds->path, (unsigned long long)end, ds->size);
    if ((uint64_t)ds->size > end)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' has trailing bytes (expected %llu bytes, got %zu)",
                             ds->path, (unsigned long long)end, ds->size);
    point_sections(ds, off);
    return MTL_OK;
}

/* ---- 3. hash ------------------------------------------------------------ */

static mtl_status check_hash(qm9_dataset *ds)
{
    uint64_t want = read_u64(ds->bytes + 176);

    ds->hash = qm9_fnv1a(QM9_FNV_OFFSET, ds->bytes + QM9_HEADER_SIZE, ds->size - QM9_HEADER_SIZE);
    if (ds->hash != want)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s' is corrupt: FNV-1a hash of the bytes after the header "
                             "differs from the header's (expected %016llx, got %016llx)",
                             ds->path, (unsigned long long)want, (unsigned long long)ds->hash);
    return MTL_OK;
}

/* ---- 4. offsets --------------------------------------------------------- */

static mtl_status check_offsets(const qm9_dataset *ds, const uint64_t *v, const char *name,
                                int64_t total, const char *total_name)
{
    int64_t n = ds->n_molecules;

    if (v[0] != 0)
        return mtl_error_set(MTL_ERR_DATA, "dataset: '%s': %s[0] is not 0 (expected 0, got %llu)",
                             ds->path, name, (unsigned long long)v[0]);
    for (int64_t m = 0; m < n; m++)
        if (v[m + 1] < v[m])
            return mtl_error_set(MTL_ERR_DATA,
                                 "dataset: '%s': %s decrease at molecule %lld (expected at "
                                 "least %llu, got %llu)",
                                 ds->path, name, (long long)m, (unsigned long long)v[m],
                                 (unsigned long long)v[m + 1]);
    if (v[n] != (uint64_t)total)
        return mtl_error_set(MTL_ERR_DATA,
                             "dataset: '%s': %s end at the wrong place (expected %s = %lld, got "
                             "%llu)",
                             ds->path, name, total_name, (long long)total,
                             (unsigned long long)v[n]);
    return MTL_OK;
}

/* ---- 5. contents -------------------------------------------------------- */

static mtl_status check_atoms(const qm9_dataset *ds)
{
    for (int64_t m = 0; m < ds->n_molecules; m++) {
        int64_t first = qm9_mol_first_atom(ds, m), n = qm9_mol_n_atoms(ds, m);

        if (n == 0)
            return mtl_error_set(MTL_ERR_DATA,
                                 "dataset: '%s': molecule %lld has no atoms (expected at least 1)",
                                 ds->path, (long long)m);
        for (int64_t a = first; a < first + n; a++) {
            unsigned z = ds->atomic_numbers[a];

            if (z != 1 && z != 6 && z != 7 && z != 8 && z != 9)
                return mtl_error_set(MTL_ERR_DATA,
                                     "dataset: '%s': atom %lld of molecule %lld has atomic number "
                                     "%u (expected 1, 6, 7, 8 or 9)",
                                     ds->path, (long long)(a - first), (long long)m, z);
        }
    }
    return MTL_OK;
}

static mtl_status check_bonds(const qm9_dataset *ds)
{
    for (int64_t m = 0; m < ds->n_molecules; m++) {
        int64_t atoms = qm9_mol_n_atoms(ds, m);

        for (uint64_t b = ds->bond_offsets[m]; b < ds->bond_offsets[m + 1]; b++) {
            const uint8_t *r = ds->bonds + 3 * b;
            long long local = (long long)(b - ds->bond_offsets[m]);

            if (!(r[0] < r[1] && r[1] < atoms))
                return mtl_error_set(MTL_ERR_DATA,
                                     "dataset: '%s': bond %lld of molecule %lld joins atoms %u and "
                                     "%u (expected i < j < %lld)",
                                     ds->path, local, (long long)m, r[0], r[1], (long long)atoms);
            if (r[2] > QM9_BOND_AROMATIC)
                return mtl_error_set(MTL_ERR_DATA,
                                     "dataset: '%s': bond %lld of molecule %lld has type %u "
                                     "(expected 0 to 3)",
                                     ds->path, local, (long long)m, r[2]);
        }
    }
    return MTL_OK;
}

/* Not in DATA.md's list, but a NaN target would poison the standardisation. */
static mtl_status check_targets(const qm9_dataset *ds)
{
    for (int64_t m = 0; m < ds->n_molecules; m++)
        for (int t = 0; t < QM9_N_TARGETS; t++)
            if (!isfinite(ds->targets[m * QM9_N_TARGETS + t]))
                return mtl_error_set(MTL_ERR_DATA,
                                     "dataset: '%s': target %d of molecule %lld is not finite "
                                     "(expected a number, got %g)",
                                     ds->path, t, (long long)m,
                                     (double)ds->targets[m * QM9_N_TARGETS + t]);
    return MTL_OK;
}

/* ---- load ---------------------------------------------------------------- */

mtl_status qm9_dataset_load(const char *path, qm9_dataset **out)
{
    qm9_dataset *ds = calloc(1, sizeof *ds);
    mtl_status st;

    *out = NULL;
    if (!ds || !(ds->path = malloc(strlen(path) + 1))) {
        free(ds);
        return mtl_error_set(MTL_ERR_NOMEM, "dataset: out of memory");
    }
    strcpy(ds->path, path);

    if ((st = read_file(ds)) != MTL_OK || (st = check_header(ds)) != MTL_OK ||
        (st = check_sections(ds)) != MTL_OK || (st = check_hash(ds)) != MTL_OK ||
        (st = check_offsets(ds, ds->atom_offsets, "atom_offsets", ds->n_atoms, "n_atoms")) !=
            MTL_OK ||
        (st = check_offsets(ds, ds->bond_offsets, "bond_offsets", ds->n_bonds, "n_bonds")) !=
            MTL_OK ||
        (st = check_atoms(ds)) != MTL_OK || (st = check_bonds(ds)) != MTL_OK ||
        (st = check_targets(ds)) != MTL_OK) {
        qm9_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return MTL_OK;
}

void qm9_dataset_destroy(qm9_dataset *ds)
{
    if (!ds)
        return;
    free(ds->bytes);
    free(ds->path);
    free(ds);
}
