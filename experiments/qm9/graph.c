/* Batches of complete molecular graphs, and PyG's bond types (see graph.h). */
#include "graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Kekule forms for the pyg features ----------------------------------- */

/*
 * PyG reads MoleculeNet's gdb9.sdf without sanitising it; that file writes
 * aromatic rings as alternating single and double bonds (it has no bond of
 * type 4, DATA.md section 6), so PyG's tensors never carry the aromatic
 * type.  Our file keeps RDKit's aromatic bonds, so the pyg features choose a
 * Kekule form: a set of aromatic bonds made double such that every aromatic
 * atom that has one valence left gets exactly one of them (a perfect
 * matching of those atoms along aromatic bonds).  Which form the SDF wrote,
 * when a ring has several, is not in our file: the one chosen here is the
 * first found in atom and bond order, so single and double bonds may sit
 * on the other alternation than PyG's in rings such as benzene.
 */

enum { ROLE_NONE = 0, ROLE_NEEDS = 1, ROLE_MAY = 2 };

/* Bonds of a neutral atom by element (H, C, N, O, F). */
static int valence(unsigned z)
{
    switch (z) {
    case 6:
        return 4;
    case 7:
        return 3;
    case 8:
        return 2;
    default:
        return 1;
    }
}

typedef struct kekule {
    int n_atoms, n_bonds;
    const uint8_t *bonds; /* the molecule's records, 3 bytes each */
    const uint8_t *z;     /* its atomic numbers */
    int8_t role[256];     /* ROLE_* per atom */
    int mate[256];        /* the bond that makes the atom double, or -1 */
    int best_mate[256];
    int skipped[256]; /* a needing atom the search left without a double */
    int n_needs, covered, best_covered;
    int last_role; /* partners tried: ROLE_NEEDS only, or ROLE_MAY too */
    long budget;   /* search steps left; QM9 needs a handful */
} kekule;

static void kekule_roles(kekule *k)
{
    int used[256] = {0}, aromatic[256] = {0};

    for (int b = 0; b < k->n_bonds; b++) {
        const uint8_t *r = k->bonds + 3 * b;
        if (r[2] == QM9_BOND_AROMATIC) {
            aromatic[r[0]]++;
            aromatic[r[1]]++;
        } else {
            used[r[0]] += r[2] + 1;
            used[r[1]] += r[2] + 1;
        }
    }
    k->n_needs = 0;
    for (int a = 0; a < k->n_atoms; a++) {
        int left = valence(k->z[a]) - used[a] - aromatic[a];

        k->mate[a] = -1;
        k->skipped[a] = 0;
        k->role[a] = ROLE_NONE;
        if (aromatic[a] == 0)
            continue;
        if (left >= 1) {
            k->role[a] = ROLE_NEEDS;
            k->n_needs++;
        } else if (left == 0 && (k->z[a] == 7 || k->z[a] == 8)) {
            /* A charged ring N or O ([nH+], pyridinium) may carry the double bond. */
            k->role[a] = ROLE_MAY;
        }
    }
}

static int kekule_other(const uint8_t *r, int a)
{
    return r[0] == a ? r[1] : r[0];
}

/* Depth-first search for the matching covering the most needing atoms. */
static int kekule_search(kekule *k, int from)
{
    int a = from, left = 0;

    while (a < k->n_atoms && !(k->role[a] == ROLE_NEEDS && k->mate[a] < 0 && !k->skipped[a]))
        a++;
    if (a == k->n_atoms || k->budget-- <= 0) {
        if (k->covered > k->best_covered) {
            k->best_covered = k->covered;
            memcpy(k->best_mate, k->mate, sizeof k->mate);
        }
        return k->best_covered == k->n_needs;
    }
    for (int i = a; i < k->n_atoms; i++)
        left += k->role[i] == ROLE_NEEDS && k->mate[i] < 0 && !k->skipped[i];
    if (k->covered + left <= k->best_covered)
        return 0;

    /* Partners that need a double first, then those that may take one. */
    for (int role = ROLE_NEEDS; role <= k->last_role; role++)
        for (int b = 0; b < k->n_bonds; b++) {
            const uint8_t *r = k->bonds + 3 * b;
            int o;

            if (r[2] != QM9_BOND_AROMATIC || (r[0] != a && r[1] != a))
                continue;
            o = kekule_other(r, a);
            if (k->role[o] != role || k->mate[o] >= 0 || k->skipped[o])
                continue;
            k->mate[a] = k->mate[o] = b;
            k->covered += role == ROLE_NEEDS ? 2 : 1;
            if (kekule_search(k, a + 1))
                return 1;
            k->covered -= role == ROLE_NEEDS ? 2 : 1;
            k->mate[a] = k->mate[o] = -1;
        }

    /* No partner works: leave this atom without a double bond. */
    k->skipped[a] = 1;
    if (kekule_search(k, a + 1))
        return 1;
    k->skipped[a] = 0;
    return 0;
}

/* The molecule's aromatic bonds made single or double; returns 0 when not every atom got one. */
static int kekule_molecule(const qm9_dataset *ds, int64_t m, uint8_t *types)
{
    int64_t b0 = (int64_t)ds->bond_offsets[m];
    kekule k;

    memset(&k, 0, sizeof k);
    k.n_atoms = (int)qm9_mol_n_atoms(ds, m);
    k.n_bonds = (int)((int64_t)ds->bond_offsets[m + 1] - b0);
    k.bonds = ds->bonds + 3 * b0;
    k.z = ds->atomic_numbers + qm9_mol_first_atom(ds, m);
    kekule_roles(&k);

    /* A charged ring N or O takes a double bond only when the neutral atoms cannot pair up. */
    k.best_covered = -1;
    for (k.last_role = ROLE_NEEDS; k.last_role <= ROLE_MAY; k.last_role++) {
        k.budget = 1000000;
        if (kekule_search(&k, 0))
            break;
    }

    for (int b = 0; b < k.n_bonds; b++) {
        const uint8_t *r = k.bonds + 3 * b;
        if (r[2] == QM9_BOND_AROMATIC)
            types[b0 + b] = k.best_mate[r[0]] == b ? QM9_BOND_DOUBLE : QM9_BOND_SINGLE;
    }
    return k.best_covered == k.n_needs;
}

mtl_status qm9_bond_types(const qm9_dataset *ds, qm9_features mode, uint8_t **types,
                          int64_t *unmatched)
{
    uint8_t *t = malloc(ds->n_bonds ? (size_t)ds->n_bonds : 1);

    *types = NULL;
    *unmatched = 0;
    if (!t)
        return mtl_error_set(MTL_ERR_NOMEM, "graphs: out of memory for %lld bond types",
                             (long long)ds->n_bonds);
    for (int64_t b = 0; b < ds->n_bonds; b++)
        t[b] = ds->bonds[3 * b + 2];
    for (int64_t m = 0; mode == QM9_FEATURES_PYG && m < ds->n_molecules; m++) {
        /* Bond indices are bytes, so no molecule of the file has more atoms. */
        if (qm9_mol_n_atoms(ds, m) > 256) {
            free(t);
            return mtl_error_set(MTL_ERR_DATA,
                                 "graphs: molecule %lld is too large for the Kekule search "
                                 "(expected at most 256 atoms, got %lld)",
                                 (long long)m, (long long)qm9_mol_n_atoms(ds, m));
        }
        *unmatched += !kekule_molecule(ds, m, t);
    }
    *types = t;
    return MTL_OK;
}

/* ---- batches -------------------------------------------------------------- */

static mtl_status grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    void *q;
    int64_t c = *cap ? *cap : 64;

    if (need <= *cap)
        return MTL_OK;
    while (c < need)
        c *= 2;
    q = realloc(*p, (size_t)c * elem);
    if (!q)
        return mtl_error_set(MTL_ERR_NOMEM, "graphs: out of memory for a batch (%lld items)",
                             (long long)c);
    *p = q;
    *cap = c;
    return MTL_OK;
}

/* Room for n_nodes, n_edges and the largest molecule's bond table. */
static mtl_status batch_reserve(qm9_batch *b, int64_t nodes, int64_t edges, int64_t largest)
{
    int64_t node_cap = b->node_cap, edge_cap = b->edge_cap, batch_cap = b->node_cap;
    int64_t src_cap = b->edge_cap, dst_cap = b->edge_cap;
    mtl_status st;

    /* Arrays of one kind share a capacity: grow each from the same old value. */
    if ((st = grow((void **)&b->x, &node_cap, nodes, QM9_N_NODE_FEATURES * sizeof(float))) ||
        (st = grow((void **)&b->batch, &batch_cap, nodes, sizeof(int64_t))) ||
        (st = grow((void **)&b->edge_attr, &edge_cap, edges, QM9_EDGE_FEATURES * sizeof(float))) ||
        (st = grow((void **)&b->src, &src_cap, edges, sizeof(int64_t))) ||
        (st = grow((void **)&b->dst, &dst_cap, edges, sizeof(int64_t))) ||
        (st = grow((void **)&b->pair, &b->pair_cap, largest * largest, sizeof(int8_t))))
        return st;
    b->node_cap = node_cap;
    b->edge_cap = edge_cap;
    return MTL_OK;
}

/* Node features of one molecule, from row `node` on. */
static void fill_nodes(qm9_batch *b, const qm9_dataset *ds, qm9_features mode, int64_t m,
                       int64_t graph, int64_t node)
{
    int64_t first = qm9_mol_first_atom(ds, m), n = qm9_mol_n_atoms(ds, m);

    for (int64_t a = 0; a < n; a++) {
        const uint8_t *f = ds->node_features + (first + a) * QM9_N_NODE_FEATURES;
        float *x = b->x + (node + a) * QM9_N_NODE_FEATURES;

        for (int c = 0; c < QM9_N_NODE_FEATURES; c++)
            x[c] = (float)f[c];
        if (mode == QM9_FEATURES_PYG)
            x[6] = x[7] = x[8] = x[9] = 0.0f;
        b->batch[node + a] = graph;
    }
}

/* Complete graph of one molecule: edges j -> i, j major, i ascending, i != j. */
static void fill_edges(qm9_batch *b, const qm9_dataset *ds, const uint8_t *types, int64_t m,
                       int64_t node, int64_t edge)
{
    int64_t first = qm9_mol_first_atom(ds, m), n = qm9_mol_n_atoms(ds, m);
    const float *pos = ds->positions + 3 * first;

    memset(b->pair, -1, (size_t)(n * n));
    for (uint64_t k = ds->bond_offsets[m]; k < ds->bond_offsets[m + 1]; k++) {
        const uint8_t *r = ds->bonds + 3 * k;
        b->pair[r[0] * n + r[1]] = b->pair[r[1] * n + r[0]] = (int8_t)types[k];
    }
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            float *e = b->edge_attr + edge * QM9_EDGE_FEATURES;
            float dx, dy, dz;

            if (i == j)
                continue;
            memset(e, 0, QM9_EDGE_FEATURES * sizeof *e);
            if (b->pair[j * n + i] >= 0)
                e[b->pair[j * n + i]] = 1.0f;
            /* pos[i] - pos[j] in float32, as PyG's Distance transform computes it. */
            dx = pos[3 * i] - pos[3 * j];
            dy = pos[3 * i + 1] - pos[3 * j + 1];
            dz = pos[3 * i + 2] - pos[3 * j + 2];
            e[4] = sqrtf(dx * dx + dy * dy + dz * dz);
            b->src[edge] = node + j;
            b->dst[edge] = node + i;
            edge++;
        }
}

mtl_status qm9_batch_build(qm9_batch *b, const qm9_dataset *ds, const uint8_t *types,
                           qm9_features mode, const int64_t *mols, int64_t n)
{
    int64_t nodes = 0, edges = 0, largest = 1, node = 0, edge = 0;
    mtl_status st;

    for (int64_t g = 0; g < n; g++) {
        int64_t a = qm9_mol_n_atoms(ds, mols[g]);
        nodes += a;
        edges += a * (a - 1);
        if (a > largest)
            largest = a;
    }
    if ((st = batch_reserve(b, nodes, edges, largest)) != MTL_OK)
        return st;

    for (int64_t g = 0; g < n; g++) {
        int64_t a = qm9_mol_n_atoms(ds, mols[g]);
        fill_nodes(b, ds, mode, mols[g], g, node);
        fill_edges(b, ds, types, mols[g], node, edge);
        node += a;
        edge += a * (a - 1);
    }
    b->n_graphs = n;
    b->n_nodes = nodes;
    b->n_edges = edges;
    return MTL_OK;
}

void qm9_batch_free(qm9_batch *b)
{
    free(b->x);
    free(b->edge_attr);
    free(b->src);
    free(b->dst);
    free(b->batch);
    free(b->pair);
    memset(b, 0, sizeof *b);
}
