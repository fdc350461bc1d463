/* The QM9 network (see model.h). */
#include "model.h"

#include <stdio.h>
#include <string.h>

/* Layers in the order the reference's Net.__init__ makes them. */
mtl_status qm9_net_init(qm9_net *net, mtl_rng *rng)
{
    mtl_status st;
    const unsigned last = MTL_PARAM_LAST_SHARED;
    const mtl_role shared = MTL_ROLE_SHARED;

    memset(net, 0, sizeof *net);
    if ((st = mtl_model_create(&net->model)) != MTL_OK)
        return st;
    if ((st = mtl_linear_init(&net->lin0, net->model, "lin0", shared, -1, 0, QM9_N_NODE_FEATURES,
                              QM9_DIM, rng)) != MTL_OK ||
        (st = mtl_nnconv_init(&net->conv, net->model, "conv", shared, -1, 0, QM9_DIM, QM9_DIM,
                              QM9_EDGE_FEATURES, QM9_EDGE_HIDDEN, rng)) != MTL_OK ||
        (st = mtl_gru_init(&net->gru, net->model, "gru", shared, -1, 0, QM9_DIM, QM9_DIM, rng)) !=
            MTL_OK ||
        (st = mtl_set2set_init(&net->set2set, net->model, "set2set", shared, -1, 0, QM9_DIM,
                               QM9_SET2SET_STEPS, rng)) != MTL_OK ||
        (st = mtl_linear_init(&net->lin1, net->model, "lin1", shared, -1, last, 2 * QM9_DIM,
                              QM9_DIM, rng)) != MTL_OK)
        return st;
    for (int t = 0; t < QM9_N_TASKS; t++) {
        char name[16];

        snprintf(name, sizeof name, "head_%d", t);
        if ((st = mtl_linear_init(&net->heads[t], net->model, name, MTL_ROLE_TASK, t, 0, QM9_DIM, 1,
                                  rng)) != MTL_OK)
            return st;
    }
    return MTL_OK;
}

void qm9_net_deinit(qm9_net *net)
{
    mtl_model_destroy(net->model);
    memset(net, 0, sizeof *net);
}

static mtl_tensor *matrix_input(mtl_graph *g, int64_t rows, int64_t cols, const float *v)
{
    mtl_tensor *t = mtl_graph_input(g, 2, (int64_t[]){rows, cols});

    if (t && mtl_tensor_write(t, v, (size_t)(rows * cols)) != MTL_OK)
        return NULL;
    return t;
}

void qm9_net_forward(mtl_graph *g, const qm9_net *net, const qm9_batch *b,
                     mtl_tensor *preds[QM9_N_TASKS], mtl_tensor **rep)
{
    mtl_index *src = mtl_graph_index(g, b->n_edges, b->src, b->n_nodes);
    mtl_index *dst = mtl_graph_index(g, b->n_edges, b->dst, b->n_nodes);
    mtl_index *batch = mtl_graph_index(g, b->n_nodes, b->batch, b->n_graphs);
    mtl_tensor *x = matrix_input(g, b->n_nodes, QM9_N_NODE_FEATURES, b->x);
    mtl_tensor *edge_attr = matrix_input(g, b->n_edges, QM9_EDGE_FEATURES, b->edge_attr);
    mtl_tensor *out, *h, *hidden, *pooled;

    out = mtl_relu(g, mtl_linear_forward(g, &net->lin0, x));
    hidden = mtl_nnconv_hidden(g, &net->conv, edge_attr);
    h = out;
    for (int r = 0; r < QM9_ROUNDS; r++) {
        mtl_tensor *m = mtl_relu(g, mtl_nnconv_forward(g, &net->conv, out, hidden, src, dst));
        /* torch.nn.GRU over one time step: its output and new state are the same tensor. */
        h = mtl_gru_forward(g, &net->gru, m, h);
        out = h;
    }
    pooled = mtl_set2set_forward(g, &net->set2set, out, batch);
    *rep = mtl_relu(g, mtl_linear_forward(g, &net->lin1, pooled));
    for (int t = 0; t < QM9_N_TASKS; t++)
        preds[t] = mtl_linear_forward(g, &net->heads[t], *rep);
}
