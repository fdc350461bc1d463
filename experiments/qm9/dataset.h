/*
 * The QM9 dataset file (.mtlq, format version 1; experiments/qm9/DATA.md).
 *
 * qm9_dataset_load() reads the whole file into memory and checks it in the
 * order DATA.md gives (header, section table, exact size, FNV-1a hash, then
 * the contents); the arrays below point into that one buffer.  Any fault is
 * refused with one line naming the file and what is wrong.
 */
#ifndef QM9_DATASET_H
#define QM9_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "mtl/status.h"

#define QM9_FILE_VERSION    1
#define QM9_HEADER_SIZE     184
#define QM9_N_SECTIONS      8
#define QM9_N_TARGETS       19 /* PyG's target columns, PyG's order and units */
#define QM9_N_NODE_FEATURES 11

/* Bond types as stored (section 5). */
enum { QM9_BOND_SINGLE = 0, QM9_BOND_DOUBLE = 1, QM9_BOND_TRIPLE = 2, QM9_BOND_AROMATIC = 3 };

typedef struct qm9_dataset {
    char *path;
    int64_t n_molecules, n_atoms, n_bonds;

    const uint64_t *atom_offsets;  /* n_molecules + 1 */
    const uint64_t *bond_offsets;  /* n_molecules + 1 */
    const uint8_t *atomic_numbers; /* n_atoms: 1, 6, 7, 8 or 9 */
    const float *positions;        /* 3 per atom, Angstrom */
    const uint8_t *node_features;  /* 11 per atom, DATA.md section 4 */
    const uint8_t *bonds;          /* 3 per bond: i < j within the molecule, type */
    const float *targets;          /* 19 per molecule, DATA.md section 3 */
    const uint32_t *mol_ids;       /* gdb index per molecule */

    uint64_t hash; /* FNV-1a 64 of bytes [184, size) */
    size_t size;   /* file size in bytes */
    unsigned char *bytes;
} qm9_dataset;

/* Loads and validates `path`; *out is NULL on failure. */
mtl_status qm9_dataset_load(const char *path, qm9_dataset **out);
void qm9_dataset_destroy(qm9_dataset *ds);

/* Atoms of molecule m: [first, first + count). */
static inline int64_t qm9_mol_first_atom(const qm9_dataset *ds, int64_t m)
{
    return (int64_t)ds->atom_offsets[m];
}

static inline int64_t qm9_mol_n_atoms(const qm9_dataset *ds, int64_t m)
{
    return (int64_t)(ds->atom_offsets[m + 1] - ds->atom_offsets[m]);
}

/* FNV-1a 64 of n bytes, continuing from h (start with QM9_FNV_OFFSET). */
#define QM9_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t qm9_fnv1a(uint64_t h, const unsigned char *p, size_t n);

#endif /* QM9_DATASET_H */
