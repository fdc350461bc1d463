/*
 * The messages of the edge-conditioned convolution (NNConv; Gilmer et al.,
 * "Neural Message Passing for Quantum Chemistry", 2017, the edge network),
 * computed without the per-edge weight matrices (PERFORMANCE.md).
 *
 * With W the edge network's last weight [in * out, k] and b its bias, PyG
 * reshapes w_e = W h_e + b to [in, out] (element i * out + o is row i,
 * column o) and sends m_e = x_j^T w_e.  Viewing W as A [in, out * k]
 * (A[i, o * k + c] = W[i * out + o, c], the same memory) and b as
 * B [in, out]:
 *
 *     m_e[o] = sum_c P_j[o, c] h_e[c] + Q_j[o],   P = X A, Q = X B,
 *
 * so one product X A [nodes, out * k] serves every edge, and the edges
 * leaving node j take one product H_j P_j^T ([edges of j, k] x [k, out]).
 * For the QM9 batch (2,160 nodes, 36,000 edges, in = out = 64, k = 128) that
 * is about 3 GFLOP instead of 38, with no 600 MB tensor of edge matrices.
 *
 * The edges are grouped by source through the index's counting sort; when
 * the sources are already sorted (PyG's complete graphs are) no row moves.
 */
#include "nn_internal.h"

enum {
    IN_X = 0,
    IN_HIDDEN,
    IN_W,
    IN_B,
    IN_SRC,
    IN_P,        /* X A, kept for the backward pass */
    IN_H_SORTED, /* the hidden rows grouped by source (hidden itself when sorted) */
    N_IN
};

/* dims of one call */
typedef struct message_dims {
    int64_t nodes, edges, in, out, k;
} message_dims;

static message_dims dims_of(const mtl_node *node)
{
    const mtl_tensor *x = node->in[IN_X], *hidden = node->in[IN_HIDDEN];
    message_dims d;

    d.nodes = x->shape[0];
    d.in = x->shape[1];
    d.edges = hidden->shape[0];
    d.k = hidden->shape[1];
    d.out = node->out->shape[1];
    return d;
}

/* dP_j = dM_j^T H_j for every node (zero for nodes without edges). */
static void message_backward_p(mtl_graph *g, const message_dims *d, const mtl_index *src,
                               const float *dm_sorted, const float *h_sorted, float *dp)
{
    int64_t block = d->out * d->k;

    for (int64_t j = 0; j < d->nodes; j++) {
        int64_t first = src->offsets[j], count = src->offsets[j + 1] - first;

        if (count == 0)
            g->be->fill(block, 0.0f, dp + j * block);
        else
            g->be->gemm(1, 0, d->out, d->k, count, 1.0f, dm_sorted + first * d->out, d->out,
                        h_sorted + first * d->k, d->k, 0.0f, dp + j * block, d->k);
    }
}

/* dH_j (+)= dM_j P_j for every node, into rows grouped by source. */
static void message_backward_h(mtl_graph *g, const message_dims *d, const mtl_index *src,
                               const float *dm_sorted, const float *p, float *dh_sorted, float beta)
{
    int64_t block = d->out * d->k;

    for (int64_t j = 0; j < d->nodes; j++) {
        int64_t first = src->offsets[j], count = src->offsets[j + 1] - first;

        if (count > 0)
            g->be->gemm(0, 0, count, d->k, d->out, 1.0f, dm_sorted + first * d->out, d->out,
                        p + j * block, d->k, beta, dh_sorted + first * d->k, d->k);
    }
}

static void message_backward(mtl_graph *g, const mtl_node *node, const float *dm)
{
    mtl_tensor *x = node->in[IN_X], *w = node->in[IN_W], *b = node->in[IN_B];
    const mtl_index *src = nn_node_index(node, IN_SRC);
    const float *p = node->in[IN_P]->data, *h_sorted = node->in[IN_H_SORTED]->data;
    const mtl_nn_backend *nn = nn_kernels(g);
    message_dims d = dims_of(node);
    float *dx = nn_grad(g, x), *dhidden = nn_grad(g, node->in[IN_HIDDEN]);
    float *dw = nn_grad(g, w), *db = nn_grad(g, b);
    const float *dm_sorted = dm;
    /* The accumulators above persist; the scratch below is freed on return. */
    mtl_arena_mark mark = mtl_arena_get_mark(&g->data);

    /* The bias part, m_e += Q[src e]: dQ = sum of dm over each node's edges. */
    if (b && (db || dx)) {
        float *dq = nn_scratch(g, d.nodes * d.out);
        if (!dq)
            goto nomem;
        g->be->fill(d.nodes * d.out, 0.0f, dq);
        nn->scatter_add_rows(d.edges, d.out, dm, d.out, src->values, dq, d.out);
        if (db)
            g->be->gemm(1, 0, d.in, d.out, d.nodes, 1.0f, x->data, d.in, dq, d.out, 1.0f, db,
                        d.out);
        if (dx)
            g->be->gemm(0, 1, d.nodes, d.in, d.out, 1.0f, dq, d.out, b->data, d.out, 1.0f, dx,
                        d.in);
    }

    if (!src->sorted) {
        float *s = nn_scratch(g, d.edges * d.out);
        if (!s)
            goto nomem;
        nn->gather_rows(d.edges, d.out, dm, d.out, src->order, s, d.out, 0);
        dm_sorted = s;
    }

    /* The weight part, through dP = d(X A): dA = X^T dP, dX = dP A^T. */
    if (dw || dx) {
        float *dp = nn_scratch(g, d.nodes * d.out * d.k);
        int64_t ok = d.out * d.k;
        if (!dp)
            goto nomem;
        message_backward_p(g, &d, src, dm_sorted, h_sorted, dp);
        if (dw)
            g->be->gemm(1, 0, d.in, ok, d.nodes, 1.0f, x->data, d.in, dp, ok, 1.0f, dw, ok);
        if (dx)
            g->be->gemm(0, 1, d.nodes, d.in, ok, 1.0f, dp, ok, w->data, ok, 1.0f, dx, d.in);
    }

    if (dhidden) {
        if (src->sorted) {
            message_backward_h(g, &d, src, dm_sorted, p, dhidden, 1.0f);
        } else {
            float *dh_sorted = nn_scratch(g, d.edges * d.k);
            if (!dh_sorted)
                goto nomem;
            message_backward_h(g, &d, src, dm_sorted, p, dh_sorted, 0.0f);
            nn->scatter_add_rows(d.edges, d.k, dh_sorted, d.k, src->order, dhidden, d.k);
        }
    }
    mtl_arena_release(&g->data, mark);
    return;

nomem:
    mtl_arena_release(&g->data, mark);
    g->backward_nomem = 1;
}

static int message_check(mtl_graph *g, mtl_tensor *x, mtl_tensor *hidden, mtl_tensor *w,
                         mtl_tensor *b, const mtl_index *src)
{
    static const char op[] = "mtl_edge_message";

    if (!nn_check_matrix(g, op, "node features", x, src->range, -1) ||
        !nn_check_matrix(g, op, "hidden", hidden, src->n, -1) ||
        !nn_check_matrix(g, op, "weight", w, -1, hidden->shape[1]))
        return 0;
    if (w->shape[0] % x->shape[1] != 0) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "nn: %s: weight rows are not a multiple of the node features (expected a "
                       "multiple of %lld, got %lld)",
                       op, (long long)x->shape[1], (long long)w->shape[0]);
        return 0;
    }
    return !b || nn_check_vector(g, op, "bias", b, w->shape[0]);
}

/* M (grouped by source) = H_j P_j^T per node. */
static void message_forward_edges(mtl_graph *g, const message_dims *d, const mtl_index *src,
                                  const float *h_sorted, const float *p, float *m_sorted)
{
    int64_t block = d->out * d->k;

    for (int64_t j = 0; j < d->nodes; j++) {
        int64_t first = src->offsets[j], count = src->offsets[j + 1] - first;

        if (count > 0)
            g->be->gemm(0, 1, count, d->out, d->k, 1.0f, h_sorted + first * d->k, d->k,
                        p + j * block, d->k, 0.0f, m_sorted + first * d->out, d->out);
    }
}

mtl_tensor *mtl_edge_message(mtl_graph *g, mtl_tensor *x, mtl_tensor *hidden, mtl_tensor *w,
                             mtl_tensor *b, const mtl_index *src)
{
    mtl_index *ix = (mtl_index *)src;
    const mtl_nn_backend *nn;
    mtl_tensor *m, *p, *h_sorted;
    mtl_arena_mark mark;
    message_dims d;
    mtl_node *node;
    float *m_sorted;
    int taped;

    if (!g || !x || !hidden || !w || !src || g->status != MTL_OK)
        return NULL;
    if (!message_check(g, x, hidden, w, b, src) || nn_index_group(g, ix) != MTL_OK)
        return NULL;
    nn = nn_kernels(g);
    d.nodes = x->shape[0];
    d.in = x->shape[1];
    d.edges = hidden->shape[0];
    d.k = hidden->shape[1];
    d.out = w->shape[0] / d.in;

    /* P = X A: every node's [out, k] block at once.  Kept only for a backward pass. */
    taped = nn_needs_grad(g, 4, (mtl_tensor *[]){x, hidden, w, b});
    m = nn_result(g, d.edges, d.out);
    if (!m)
        return NULL;
    mark = mtl_arena_get_mark(&g->data);
    p = nn_result(g, d.nodes, d.out * d.k);
    h_sorted = src->sorted ? hidden : nn_result(g, d.edges, d.k);
    if (!p || !h_sorted)
        return NULL;
    if (taped)
        mark = mtl_arena_get_mark(&g->data);
    g->be->gemm(0, 0, d.nodes, d.out * d.k, d.in, 1.0f, x->data, d.in, w->data, d.out * d.k, 0.0f,
                p->data, d.out * d.k);
    if (!src->sorted)
        nn->gather_rows(d.edges, d.k, hidden->data, d.k, src->order, h_sorted->data, d.k, 0);

    m_sorted = src->sorted ? m->data : nn_scratch(g, d.edges * d.out);
    if (!m_sorted)
        return mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: mtl_edge_message: out of memory");
    message_forward_edges(g, &d, src, h_sorted->data, p->data, m_sorted);
    if (!src->sorted) {
        g->be->fill(m->numel, 0.0f, m->data);
        nn->scatter_add_rows(d.edges, d.out, m_sorted, d.out, src->order, m->data, d.out);
    }

    /* The bias part: Q = X B, m_e += Q[src e]. */
    if (b) {
        float *q = nn_scratch(g, d.nodes * d.out);
        if (!q)
            return mtl_graph_fail(g, MTL_ERR_NOMEM, "nn: mtl_edge_message: out of memory");
        g->be->gemm(0, 0, d.nodes, d.out, d.in, 1.0f, x->data, d.in, b->data, d.out, 0.0f, q,
                    d.out);
        nn->gather_rows(d.edges, d.out, q, d.out, src->values, m->data, d.out, 1);
    }
    mtl_arena_release(&g->data, mark);

    if (taped) {
        node = mtl_graph_record(g, message_backward, m, N_IN);
        if (!node)
            return NULL;
        node->in[IN_X] = x;
        node->in[IN_HIDDEN] = hidden;
        node->in[IN_W] = w;
        node->in[IN_B] = b;
        node->in[IN_SRC] = &ix->base;
        node->in[IN_P] = p;
        node->in[IN_H_SORTED] = h_sorted;
    }
    return m;
}
