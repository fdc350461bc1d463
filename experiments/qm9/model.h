/*
 * The QM9 network of the Nash-MTL reference (Gilmer et al.'s MPNN as PyG's
 * example builds it; REFERENCE.md, QM9):
 *
 *   out = relu(lin0(x))                                   11 -> 64
 *   3 x { m = relu(NNConv_mean(out; edge net 5 -> 128 -> relu -> 4096))
 *         out = h = GRU(m, h) }                           h starts at out
 *   r = Set2Set(out, 3 steps)                             64 -> 128
 *   rep = relu(lin1(r))                                   128 -> 64, last shared layer
 *   pred_i = head_i(rep)                                  64 -> 1, one per task
 *
 * The edge network's hidden layer is computed once per batch and serves the
 * three rounds.  Parameters carry PyTorch's names ("lin0.weight",
 * "conv.nn.0.weight", "head_3.bias", ...) and PyTorch's initialisations.
 */
#ifndef QM9_MODEL_H
#define QM9_MODEL_H

#include "graph.h"
#include "mtl/mtl.h"
#include "protocol.h"

#define QM9_DIM           64
#define QM9_EDGE_HIDDEN   128
#define QM9_ROUNDS        3
#define QM9_SET2SET_STEPS 3

typedef struct qm9_net {
    mtl_model *model; /* owns every parameter */
    mtl_linear lin0;
    mtl_nnconv conv;
    mtl_gru gru;
    mtl_set2set set2set;
    mtl_linear lin1;
    mtl_linear heads[QM9_N_TASKS];
} qm9_net;

/* Creates the model and draws its parameters from rng. */
mtl_status qm9_net_init(qm9_net *net, mtl_rng *rng);
void qm9_net_deinit(qm9_net *net);

/*
 * Records the forward pass of batch b into g: preds[i] is task i's
 * prediction [n_graphs, 1], *rep the representation [n_graphs, 64].  Errors
 * are left in g's status.
 */
void qm9_net_forward(mtl_graph *g, const qm9_net *net, const qm9_batch *b,
                     mtl_tensor *preds[QM9_N_TASKS], mtl_tensor **rep);

#endif /* QM9_MODEL_H */
