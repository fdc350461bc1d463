/*
 * mtl/nn.h - layers for graph neural networks (the QM9 model), and the ops
 * they are made of.
 *
 * Ops follow tensor.h: the graph comes first, the result lives in the
 * graph's arena, errors are sticky (the first bad argument records a message
 * "nn: OP: what (expected X, got Y)" in the graph and the op returns NULL;
 * a NULL operand makes an op return NULL quietly).  Matrices are row-major:
 * a tensor [n, f] holds n rows (nodes, edges, graphs) of f features.
 *
 * Index arrays (edge sources and targets, the graph of each node) are
 * mtl_index objects made in a graph by mtl_graph_index(): the values are
 * copied into the graph's arena and checked once, and the index stays valid
 * until mtl_graph_reset(), like a tensor.  Each value lies in [0, range):
 * range is the number of rows of what the index points into (nodes for an
 * edge's source, graphs for a node's batch index), and for the scatter ops it
 * is the number of rows of the result.
 *
 * Layers that own parameters are small structs the caller allocates:
 * *_init() creates their parameters in a model, named "<name>.<parameter>"
 * with PyTorch's names and layouts (so a checkpoint maps one to one), with
 * one role, task and flags for all of them (see tensor.h), and draws them as
 * PyTorch's reset_parameters() does.  The struct only points at the
 * parameters: the model owns them, and there is nothing to deinit.
 */
#ifndef MTL_NN_H
#define MTL_NN_H

#include <stdint.h>

#include "mtl/rng.h"
#include "mtl/status.h"
#include "mtl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- index arrays ------------------------------------------------------ */

typedef struct mtl_index mtl_index;

/*
 * Copies n values (n > 0), each in [0, range), into the graph and returns
 * the index, or NULL with the reason recorded in the graph (a value out of
 * range names its position and value).  `values` may be freed afterwards.
 */
mtl_index *mtl_graph_index(mtl_graph *g, int64_t n, const int64_t *values,
                           int64_t range);

/* The number of values and the range; -1 for NULL. */
int64_t mtl_index_size(const mtl_index *ix);
int64_t mtl_index_range(const mtl_index *ix);

/* ---- ops --------------------------------------------------------------- */

/*
 * x W^T + b (torch.nn.functional.linear): x [n, in], w [out, in], b [out] or
 * NULL; result [n, out].  One matrix product.
 */
mtl_tensor *mtl_affine(mtl_graph *g, mtl_tensor *x, mtl_tensor *w,
                       mtl_tensor *b);

/* x + b with b [f] added to every row of x [n, f]. */
mtl_tensor *mtl_add_bias(mtl_graph *g, mtl_tensor *x, mtl_tensor *b);

/*
 * The n tensors side by side along the last dimension (torch.cat(dim=-1)):
 * all have the same leading dimensions; n >= 1.
 */
mtl_tensor *mtl_concat(mtl_graph *g, int n, mtl_tensor *const *items);

/* mean((pred - target)^2) over all elements, a one-element tensor. */
mtl_tensor *mtl_mse_loss(mtl_graph *g, mtl_tensor *pred, mtl_tensor *target);

/* Rows of x [range, f] picked by the index: y[e] = x[index[e]], [n, f]. */
mtl_tensor *mtl_gather_rows(mtl_graph *g, mtl_tensor *x,
                            const mtl_index *index);

/*
 * Rows of x [n, f] added (sum) or averaged (mean) into the row their index
 * names: result [range, f].  A row that no index names is 0, as in PyG's
 * scatter(reduce='mean').
 */
mtl_tensor *mtl_scatter_sum(mtl_graph *g, mtl_tensor *x,
                            const mtl_index *index);
mtl_tensor *mtl_scatter_mean(mtl_graph *g, mtl_tensor *x,
                             const mtl_index *index);

/* Per-row inner products of a and b [n, f]: result [n]. */
mtl_tensor *mtl_row_dot(mtl_graph *g, mtl_tensor *a, mtl_tensor *b);

/* Row i of x [n, f] times s[i], s [n]. */
mtl_tensor *mtl_scale_rows(mtl_graph *g, mtl_tensor *x, mtl_tensor *s);

/*
 * Softmax of e [n] within each group of equal index values (PyG's
 * softmax(e, index)), with the group's maximum subtracted first.
 */
mtl_tensor *mtl_segment_softmax(mtl_graph *g, mtl_tensor *e,
                                const mtl_index *index);

/*
 * The messages of an edge-conditioned convolution (NNConv, Gilmer et al.
 * 2017, eq. for the edge network): for each edge e from node j = src[e],
 *
 *     m_e = x_j^T reshape(w h_e + b, [in, out])
 *
 * where h_e [k] is the edge network's last hidden layer, w [in * out, k] and
 * b [in * out] its last linear layer, and the reshape is PyG's: element
 * i * out + o of the 4096-vector is row i, column o.  x [range, in],
 * hidden [n_edges, k]; result [n_edges, out].
 *
 * The per-edge in x out matrices are never formed (PERFORMANCE.md): each
 * node first multiplies x_j by w viewed as [in, out * k] (one matrix
 * product for all nodes), and the edges leaving a node then take one
 * product of their hidden vectors with that node's [out, k] block.
 */
mtl_tensor *mtl_edge_message(mtl_graph *g, mtl_tensor *x, mtl_tensor *hidden,
                             mtl_tensor *w, mtl_tensor *b,
                             const mtl_index *src);

/*
 * One step of torch.nn.GRU (gates r, z, n; weights [3 h, in] and [3 h, h],
 * biases [3 h]): x [n, in], h [n, h]; returns the new hidden state [n, h].
 */
mtl_tensor *mtl_gru_cell(mtl_graph *g, mtl_tensor *x, mtl_tensor *h,
                         mtl_tensor *w_ih, mtl_tensor *w_hh, mtl_tensor *b_ih,
                         mtl_tensor *b_hh);

/*
 * One step of torch.nn.LSTM (gates i, f, g, o; weights [4 h, in] and
 * [4 h, h], biases [4 h]): x [n, in], h and c [n, h].  Sets *h_out and
 * *c_out (both NULL on failure) and returns *h_out.
 */
mtl_tensor *mtl_lstm_cell(mtl_graph *g, mtl_tensor *x, mtl_tensor *h,
                          mtl_tensor *c, mtl_tensor *w_ih, mtl_tensor *w_hh,
                          mtl_tensor *b_ih, mtl_tensor *b_hh,
                          mtl_tensor **h_out, mtl_tensor **c_out);

/* ---- layers ------------------------------------------------------------ */

/*
 * torch.nn.Linear: "<name>.weight" [out, in], "<name>.bias" [out], both
 * uniform in +-1/sqrt(in) (kaiming_uniform with a = sqrt(5)).
 */
typedef struct mtl_linear {
    mtl_tensor *weight, *bias;
    int in, out;
} mtl_linear;

mtl_status mtl_linear_init(mtl_linear *l, mtl_model *m, const char *name,
                           mtl_role role, int task, unsigned flags, int in,
                           int out, mtl_rng *rng);
/* x [n, in] -> [n, out]. */
mtl_tensor *mtl_linear_forward(mtl_graph *g, const mtl_linear *l,
                               mtl_tensor *x);

/*
 * torch.nn.GRU(in, hidden), one layer, used one step at a time:
 * "<name>.weight_ih_l0" [3 hidden, in], "<name>.weight_hh_l0",
 * "<name>.bias_ih_l0", "<name>.bias_hh_l0", all uniform in
 * +-1/sqrt(hidden).
 */
typedef struct mtl_gru {
    mtl_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    int in, hidden;
} mtl_gru;

mtl_status mtl_gru_init(mtl_gru *l, mtl_model *m, const char *name,
                        mtl_role role, int task, unsigned flags, int in,
                        int hidden, mtl_rng *rng);
mtl_tensor *mtl_gru_forward(mtl_graph *g, const mtl_gru *l, mtl_tensor *x,
                            mtl_tensor *h);

/* torch.nn.LSTM(in, hidden), one layer; parameters named as for mtl_gru. */
typedef struct mtl_lstm {
    mtl_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    int in, hidden;
} mtl_lstm;

mtl_status mtl_lstm_init(mtl_lstm *l, mtl_model *m, const char *name,
                         mtl_role role, int task, unsigned flags, int in,
                         int hidden, mtl_rng *rng);
/* Returns the new h and sets *h_out, *c_out (see mtl_lstm_cell). */
mtl_tensor *mtl_lstm_forward(mtl_graph *g, const mtl_lstm *l, mtl_tensor *x,
                             mtl_tensor *h, mtl_tensor *c, mtl_tensor **h_out,
                             mtl_tensor **c_out);

/*
 * PyG's NNConv(in, out, Sequential(Linear(edge, hidden), ReLU(),
 * Linear(hidden, in * out)), aggr='mean') with root weight and bias:
 *
 *     y_i = W_root x_i + mean over edges (j -> i) of m_e + bias
 *
 * Parameters "<name>.nn.0.weight" [hidden, edge], "<name>.nn.0.bias",
 * "<name>.nn.2.weight" [in * out, hidden], "<name>.nn.2.bias",
 * "<name>.lin.weight" [out, in] (uniform +-1/sqrt(in)), "<name>.bias" [out]
 * (zeros), as PyG draws them.
 *
 * The edge network's hidden layer relu(nn.0(edge_attr)) depends only on the
 * edge features: compute it once per batch with mtl_nnconv_hidden() and pass
 * it to every round (the QM9 model runs the same convolution three times).
 */
typedef struct mtl_nnconv {
    mtl_linear nn0, nn2;
    mtl_tensor *root, *bias;
    int in, out, edge, hidden;
} mtl_nnconv;

mtl_status mtl_nnconv_init(mtl_nnconv *l, mtl_model *m, const char *name,
                           mtl_role role, int task, unsigned flags, int in,
                           int out, int edge, int hidden, mtl_rng *rng);
/* relu(nn.0(edge_attr)): edge_attr [n_edges, edge] -> [n_edges, hidden]. */
mtl_tensor *mtl_nnconv_hidden(mtl_graph *g, const mtl_nnconv *l,
                              mtl_tensor *edge_attr);
/*
 * x [n_nodes, in], hidden from mtl_nnconv_hidden(), src and dst the edges'
 * source and target nodes (range n_nodes, size n_edges) -> [n_nodes, out].
 */
mtl_tensor *mtl_nnconv_forward(mtl_graph *g, const mtl_nnconv *l, mtl_tensor *x,
                               mtl_tensor *hidden, const mtl_index *src,
                               const mtl_index *dst);

/*
 * PyG's Set2Set(dim, processing_steps): an LSTM(2 dim, dim) named
 * "<name>.lstm" run `steps` times from zero states on q* (zeros at first);
 * each step attends over the nodes of each graph (a = softmax within the
 * graph of <x_i, q>) and reads out r = sum a_i x_i; q* = [q, r].
 */
typedef struct mtl_set2set {
    mtl_lstm lstm;
    int dim, steps;
} mtl_set2set;

mtl_status mtl_set2set_init(mtl_set2set *l, mtl_model *m, const char *name,
                            mtl_role role, int task, unsigned flags, int dim,
                            int steps, mtl_rng *rng);
/*
 * x [n_nodes, dim], batch: the graph of each node (size n_nodes, range
 * n_graphs; any order, empty graphs allowed) -> [n_graphs, 2 dim].
 */
mtl_tensor *mtl_set2set_forward(mtl_graph *g, const mtl_set2set *l,
                                mtl_tensor *x, const mtl_index *batch);

#ifdef __cplusplus
}
#endif

#endif /* MTL_NN_H */
