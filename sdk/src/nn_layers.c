/*
 * Layers with parameters (mtl/nn.h): Linear, GRU, LSTM, NNConv and Set2Set,
 * initialised as PyTorch and PyG initialise them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn_internal.h"

/* ---- parameters ------------------------------------------------------------ */

typedef struct param_spec {
    mtl_model *m;
    const char *name;
    mtl_role role;
    int task;
    unsigned flags;
    mtl_rng *rng;
} param_spec;

/*
 * Adds "<name>.<suffix>" with the given shape, drawn uniformly in
 * [-bound, bound) (bound 0: zeros).
 */
static mtl_status param_new(const param_spec *s, const char *suffix, int64_t d0, int64_t d1,
                            double bound, mtl_tensor **out)
{
    int64_t shape[2] = {d0, d1};
    int ndim = d1 > 0 ? 2 : 1;
    int64_t n = d1 > 0 ? d0 * d1 : d0;
    char full[256];
    mtl_status st;
    float *v;

    *out = NULL;
    if (snprintf(full, sizeof full, "%s.%s", s->name, suffix) >= (int)sizeof full)
        return mtl_error_set(MTL_ERR_INVALID, "nn: parameter name too long: '%s.%s'", s->name,
                             suffix);
    *out = mtl_model_param(s->m, full, s->role, s->task, s->flags, ndim, shape);
    if (!*out)
        return MTL_ERR_INVALID;
    if (bound == 0.0)
        return MTL_OK; /* the model zero-fills */

    v = malloc((size_t)n * sizeof *v);
    if (!v)
        return mtl_error_set(MTL_ERR_NOMEM, "nn: out of memory initialising '%s'", full);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((2.0 * mtl_rng_uniform(s->rng) - 1.0) * bound);
    st = mtl_tensor_write(*out, v, (size_t)n);
    free(v);
    return st;
}

static mtl_status spec_check(const char *fn, mtl_model *m, const char *name, mtl_rng *rng,
                             int n_dims, const int *dims)
{
    if (!m || !name || !rng)
        return mtl_error_set(MTL_ERR_INVALID, "nn: %s: NULL argument", fn);
    for (int i = 0; i < n_dims; i++)
        if (dims[i] <= 0)
            return mtl_error_set(MTL_ERR_INVALID, "nn: %s: '%s': size %d is not positive (got %d)",
                                 fn, name, i, dims[i]);
    return MTL_OK;
}

/* ---- Linear ---------------------------------------------------------------- */

mtl_status mtl_linear_init(mtl_linear *l, mtl_model *m, const char *name, mtl_role role, int task,
                           unsigned flags, int in, int out, mtl_rng *rng)
{
    param_spec s = {m, name, role, task, flags, rng};
    /* kaiming_uniform_(a = sqrt(5)) gives bound sqrt(6 / (6 in)) = 1 / sqrt(in). */
    double bound = 1.0 / sqrt((double)in);
    mtl_status st = spec_check("mtl_linear_init", m, name, rng, 2, (int[]){in, out});

    if (st == MTL_OK && !l)
        st = mtl_error_set(MTL_ERR_INVALID, "nn: mtl_linear_init: NULL layer");
    if (st != MTL_OK)
        return st;
    l->in = in;
    l->out = out;
    st = param_new(&s, "weight", out, in, bound, &l->weight);
    if (st == MTL_OK)
        st = param_new(&s, "bias", out, 0, bound, &l->bias);
    return st;
}

mtl_tensor *mtl_linear_forward(mtl_graph *g, const mtl_linear *l, mtl_tensor *x)
{
    return l ? mtl_affine(g, x, l->weight, l->bias) : NULL;
}

/* ---- GRU and LSTM ---------------------------------------------------------- */

static mtl_status rnn_init(const char *fn, int gates, mtl_tensor **w, mtl_model *m,
                           const char *name, mtl_role role, int task, unsigned flags, int in,
                           int hidden, mtl_rng *rng)
{
    param_spec s = {m, name, role, task, flags, rng};
    /* torch.nn.RNNBase.reset_parameters: every parameter uniform in +-1/sqrt(hidden). */
    double bound = 1.0 / sqrt((double)hidden);
    mtl_status st = spec_check(fn, m, name, rng, 2, (int[]){in, hidden});

    if (st == MTL_OK)
        st = param_new(&s, "weight_ih_l0", (int64_t)gates * hidden, in, bound, &w[0]);
    if (st == MTL_OK)
        st = param_new(&s, "weight_hh_l0", (int64_t)gates * hidden, hidden, bound, &w[1]);
    if (st == MTL_OK)
        st = param_new(&s, "bias_ih_l0", (int64_t)gates * hidden, 0, bound, &w[2]);
    if (st == MTL_OK)
        st = param_new(&s, "bias_hh_l0", (int64_t)gates * hidden, 0, bound, &w[3]);
    return st;
}

mtl_status mtl_gru_init(mtl_gru *l, mtl_model *m, const char *name, mtl_role role, int task,
                        unsigned flags, int in, int hidden, mtl_rng *rng)
{
    mtl_tensor *w[4] = {NULL};
    mtl_status st;

    if (!l)
        return mtl_error_set(MTL_ERR_INVALID, "nn: mtl_gru_init: NULL layer");
    st = rnn_init("mtl_gru_init", 3, w, m, name, role, task, flags, in, hidden, rng);
    l->weight_ih = w[0];
    l->weight_hh = w[1];
    l->bias_ih = w[2];
    l->bias_hh = w[3];
    l->in = in;
    l->hidden = hidden;
    return st;
}

mtl_tensor *mtl_gru_forward(mtl_graph *g, const mtl_gru *l, mtl_tensor *x, mtl_tensor *h)
{
    if (!l)
        return NULL;
    return mtl_gru_cell(g, x, h, l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh);
}

mtl_status mtl_lstm_init(mtl_lstm *l, mtl_model *m, const char *name, mtl_role role, int task,
                         unsigned flags, int in, int hidden, mtl_rng *rng)
{
    mtl_tensor *w[4] = {NULL};
    mtl_status st;

    if (!l)
        return mtl_error_set(MTL_ERR_INVALID, "nn: mtl_lstm_init: NULL layer");
    st = rnn_init("mtl_lstm_init", 4, w, m, name, role, task, flags, in, hidden, rng);
    l->weight_ih = w[0];
    l->weight_hh = w[1];
    l->bias_ih = w[2];
    l->bias_hh = w[3];
    l->in = in;
    l->hidden = hidden;
    return st;
}

mtl_tensor *mtl_lstm_forward(mtl_graph *g, const mtl_lstm *l, mtl_tensor *x, mtl_tensor *h,
                             mtl_tensor *c, mtl_tensor **h_out, mtl_tensor **c_out)
{
    if (!l) {
        if (h_out)
            *h_out = NULL;
        if (c_out)
            *c_out = NULL;
        return NULL;
    }
    return mtl_lstm_cell(g, x, h, c, l->weight_ih, l->weight_hh, l->bias_ih, l->bias_hh, h_out,
                         c_out);
}

/* ---- NNConv ---------------------------------------------------------------- */

mtl_status mtl_nnconv_init(mtl_nnconv *l, mtl_model *m, const char *name, mtl_role role, int task,
                           unsigned flags, int in, int out, int edge, int hidden, mtl_rng *rng)
{
    param_spec s = {m, name, role, task, flags, rng};
    char sub[256];
    mtl_status st = spec_check("mtl_nnconv_init", m, name, rng, 4, (int[]){in, out, edge, hidden});

    if (st == MTL_OK && !l)
        st = mtl_error_set(MTL_ERR_INVALID, "nn: mtl_nnconv_init: NULL layer");
    if (st != MTL_OK)
        return st;
    l->in = in;
    l->out = out;
    l->edge = edge;
    l->hidden = hidden;

    /* PyG's NNConv.reset_parameters: the edge network's own resets, lin uniform, bias 0. */
    snprintf(sub, sizeof sub, "%s.nn.0", name);
    st = mtl_linear_init(&l->nn0, m, sub, role, task, flags, edge, hidden, rng);
    snprintf(sub, sizeof sub, "%s.nn.2", name);
    if (st == MTL_OK)
        st = mtl_linear_init(&l->nn2, m, sub, role, task, flags, hidden, in * out, rng);
    if (st == MTL_OK)
        st = param_new(&s, "lin.weight", out, in, 1.0 / sqrt((double)in), &l->root);
    if (st == MTL_OK)
        st = param_new(&s, "bias", out, 0, 0.0, &l->bias);
    return st;
}

mtl_tensor *mtl_nnconv_hidden(mtl_graph *g, const mtl_nnconv *l, mtl_tensor *edge_attr)
{
    if (!l)
        return NULL;
    return mtl_relu(g, mtl_linear_forward(g, &l->nn0, edge_attr));
}

mtl_tensor *mtl_nnconv_forward(mtl_graph *g, const mtl_nnconv *l, mtl_tensor *x, mtl_tensor *hidden,
                               const mtl_index *src, const mtl_index *dst)
{
    mtl_tensor *messages, *mean, *root;

    if (!g || !l || !x || !hidden || !src || !dst || g->status != MTL_OK)
        return NULL;
    if (dst->n != src->n || dst->range != src->range) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "nn: mtl_nnconv_forward: targets do not match the sources (expected %lld "
                       "edges over %lld nodes, got %lld over %lld)",
                       (long long)src->n, (long long)src->range, (long long)dst->n,
                       (long long)dst->range);
        return NULL;
    }

    messages = mtl_edge_message(g, x, hidden, l->nn2.weight, l->nn2.bias, src);
    mean = mtl_scatter_mean(g, messages, dst);
    root = mtl_affine(g, x, l->root, l->bias);
    return mtl_add(g, mean, root);
}

/* ---- Set2Set --------------------------------------------------------------- */

mtl_status mtl_set2set_init(mtl_set2set *l, mtl_model *m, const char *name, mtl_role role, int task,
                            unsigned flags, int dim, int steps, mtl_rng *rng)
{
    char sub[256];
    mtl_status st = spec_check("mtl_set2set_init", m, name, rng, 2, (int[]){dim, steps});

    if (st == MTL_OK && !l)
        st = mtl_error_set(MTL_ERR_INVALID, "nn: mtl_set2set_init: NULL layer");
    if (st != MTL_OK)
        return st;
    l->dim = dim;
    l->steps = steps;
    snprintf(sub, sizeof sub, "%s.lstm", name);
    return mtl_lstm_init(&l->lstm, m, sub, role, task, flags, 2 * dim, dim, rng);
}

static mtl_tensor *zeros(mtl_graph *g, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    mtl_tensor *t = mtl_graph_new_shaped(g, MTL_TENSOR_INPUT, 2, shape);

    if (t)
        g->be->fill(t->numel, 0.0f, t->data);
    return t;
}

mtl_tensor *mtl_set2set_forward(mtl_graph *g, const mtl_set2set *l, mtl_tensor *x,
                                const mtl_index *batch)
{
    mtl_tensor *h, *c, *q_star;
    int64_t graphs;

    if (!g || !l || !x || !batch || g->status != MTL_OK)
        return NULL;
    if (!nn_check_matrix(g, "mtl_set2set_forward", "input", x, batch->n, l->dim))
        return NULL;
    graphs = batch->range;

    h = zeros(g, graphs, l->dim);
    c = zeros(g, graphs, l->dim);
    q_star = zeros(g, graphs, 2 * l->dim);
    for (int step = 0; step < l->steps; step++) {
        mtl_tensor *q = mtl_lstm_forward(g, &l->lstm, q_star, h, c, &h, &c);
        /* e_i = <x_i, q_graph(i)>, a = softmax within each graph, r = sum a_i x_i. */
        mtl_tensor *e = mtl_row_dot(g, x, mtl_gather_rows(g, q, batch));
        mtl_tensor *a = mtl_segment_softmax(g, e, batch);
        mtl_tensor *r = mtl_scatter_sum(g, mtl_scale_rows(g, x, a), batch);

        q_star = mtl_concat(g, 2, (mtl_tensor *[]){q, r});
    }
    return q_star;
}
