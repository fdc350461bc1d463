/*
 * The graphs the QM9 model sees (REFERENCE.md, QM9): per molecule the
 * complete directed graph without self loops, node features the 11 stored
 * ones, edge features one-hot bond type (single, double, triple, aromatic;
 * all zero for non-bonded pairs) then the Euclidean distance, not
 * normalised.  Edges are listed as PyG's Complete transform lists them:
 * source-major, targets ascending, so sources are sorted.
 */
#ifndef QM9_GRAPH_H
#define QM9_GRAPH_H

#include <stdint.h>

#include "dataset.h"
#include "mtl/status.h"

#define QM9_EDGE_FEATURES 5

/*
 * full: the file's RDKit features and bond types.  pyg: what PyG's QM9 holds
 * after reading the SDF with sanitize=False: columns 6-9 (aromatic, sp, sp2,
 * sp3) zero and no aromatic bond, each aromatic ring in a Kekule form.
 */
typedef enum qm9_features { QM9_FEATURES_FULL = 0, QM9_FEATURES_PYG = 1 } qm9_features;

/* One batch of molecules, in host memory, grown as needed and reused. */
typedef struct qm9_batch {
    int64_t n_graphs, n_nodes, n_edges;
    float *x;           /* [n_nodes, 11] */
    float *edge_attr;   /* [n_edges, 5] */
    int64_t *src, *dst; /* n_edges each; src ascending */
    int64_t *batch;     /* n_nodes: the graph of each node */
    int64_t node_cap, edge_cap, graph_cap;
    int8_t *pair; /* n x n bond table of the molecule being built */
    int64_t pair_cap;
} qm9_batch;

/*
 * Bond types the model uses, one per bond of the file: the stored ones
 * (full), or with aromatic bonds turned into single and double ones (pyg).
 * *unmatched counts the molecules whose aromatic atoms could not all be
 * given a double bond (their leftover aromatic bonds become single): in
 * QM9, the 55 aromatic anions of zwitterions, where an odd number of ring
 * atoms has a free valence and the unpaired one carries the charge.
 */
mtl_status qm9_bond_types(const qm9_dataset *ds, qm9_features mode, uint8_t **types,
                          int64_t *unmatched);

/* Builds the batch of molecules `mols[0..n)` (indices into the file). */
mtl_status qm9_batch_build(qm9_batch *b, const qm9_dataset *ds, const uint8_t *types,
                           qm9_features mode, const int64_t *mols, int64_t n);
void qm9_batch_free(qm9_batch *b);

#endif /* QM9_GRAPH_H */
