/*
 * One step of PyTorch's GRU and LSTM.  The input and hidden projections are
 * two affine ops (one matrix product each for the whole batch); the gates
 * are one fused pointwise op, whose backward recomputes the activations
 * from the projections instead of keeping them.
 */
#include "nn_internal.h"

/* Checks x [n, in], h [n, hd], w_ih [gates hd, in], w_hh [gates hd, hd], biases [gates hd]. */
static int cell_check(mtl_graph *g, const char *op, int gates, mtl_tensor *x, mtl_tensor *h,
                      mtl_tensor *c, mtl_tensor *w_ih, mtl_tensor *w_hh, mtl_tensor *b_ih,
                      mtl_tensor *b_hh)
{
    int64_t n, hd;

    if (!nn_check_matrix(g, op, "input", x, -1, -1) ||
        !nn_check_matrix(g, op, "hidden state", h, x->shape[0], -1))
        return 0;
    n = x->shape[0];
    hd = h->shape[1];
    return (!c || nn_check_matrix(g, op, "cell state", c, n, hd)) &&
           nn_check_matrix(g, op, "weight_ih", w_ih, gates * hd, x->shape[1]) &&
           nn_check_matrix(g, op, "weight_hh", w_hh, gates * hd, hd) &&
           (!b_ih || nn_check_vector(g, op, "bias_ih", b_ih, gates * hd)) &&
           (!b_hh || nn_check_vector(g, op, "bias_hh", b_hh, gates * hd));
}

/* A node of a fused pointwise op: out = f(gi, gh, s), s the previous hidden or cell state. */
static mtl_tensor *pointwise(mtl_graph *g, mtl_backward_fn backward, mtl_tensor *gi, mtl_tensor *gh,
                             mtl_tensor *s, mtl_tensor *out)
{
    mtl_node *node;

    if (nn_needs_grad(g, 3, (mtl_tensor *[]){gi, gh, s})) {
        node = mtl_graph_record(g, backward, out, 3);
        if (!node)
            return NULL;
        node->in[0] = gi;
        node->in[1] = gh;
        node->in[2] = s;
    }
    return out;
}

/* ---- GRU ----------------------------------------------------------------- */

static void gru_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *gi = node->in[0], *gh = node->in[1], *h = node->in[2];

    nn_kernels(g)->gru_combine_backward(h->shape[0], h->shape[1], gi->data, gh->data, h->data, dy,
                                        nn_grad(g, gi), nn_grad(g, gh), nn_grad(g, h));
}

mtl_tensor *mtl_gru_cell(mtl_graph *g, mtl_tensor *x, mtl_tensor *h, mtl_tensor *w_ih,
                         mtl_tensor *w_hh, mtl_tensor *b_ih, mtl_tensor *b_hh)
{
    mtl_tensor *gi, *gh, *y;

    if (!g || !x || !h || !w_ih || !w_hh || g->status != MTL_OK)
        return NULL;
    if (!cell_check(g, "mtl_gru_cell", 3, x, h, NULL, w_ih, w_hh, b_ih, b_hh))
        return NULL;

    gi = mtl_affine(g, x, w_ih, b_ih);
    gh = mtl_affine(g, h, w_hh, b_hh);
    y = nn_result(g, h->shape[0], h->shape[1]);
    if (!gi || !gh || !y)
        return NULL;
    nn_kernels(g)->gru_combine(h->shape[0], h->shape[1], gi->data, gh->data, h->data, y->data);
    return pointwise(g, gru_backward, gi, gh, h, y);
}

/* ---- LSTM ---------------------------------------------------------------- */

static void lstm_state_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *gi = node->in[0], *gh = node->in[1], *c = node->in[2];

    nn_kernels(g)->lstm_state_backward(c->shape[0], c->shape[1], gi->data, gh->data, c->data, dy,
                                       nn_grad(g, gi), nn_grad(g, gh), nn_grad(g, c));
}

static void lstm_output_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *gi = node->in[0], *gh = node->in[1], *c_new = node->in[2];

    nn_kernels(g)->lstm_output_backward(c_new->shape[0], c_new->shape[1], gi->data, gh->data,
                                        c_new->data, dy, nn_grad(g, gi), nn_grad(g, gh),
                                        nn_grad(g, c_new));
}

mtl_tensor *mtl_lstm_cell(mtl_graph *g, mtl_tensor *x, mtl_tensor *h, mtl_tensor *c,
                          mtl_tensor *w_ih, mtl_tensor *w_hh, mtl_tensor *b_ih, mtl_tensor *b_hh,
                          mtl_tensor **h_out, mtl_tensor **c_out)
{
    mtl_tensor *gi, *gh, *c_new, *h_new;
    int64_t n, hd;

    if (h_out)
        *h_out = NULL;
    if (c_out)
        *c_out = NULL;
    if (!g || !x || !h || !c || !w_ih || !w_hh || g->status != MTL_OK)
        return NULL;
    if (!cell_check(g, "mtl_lstm_cell", 4, x, h, c, w_ih, w_hh, b_ih, b_hh))
        return NULL;
    n = h->shape[0];
    hd = h->shape[1];

    gi = mtl_affine(g, x, w_ih, b_ih);
    gh = mtl_affine(g, h, w_hh, b_hh);
    c_new = nn_result(g, n, hd);
    h_new = nn_result(g, n, hd);
    if (!gi || !gh || !c_new || !h_new)
        return NULL;
    nn_kernels(g)->lstm_state(n, hd, gi->data, gh->data, c->data, c_new->data);
    nn_kernels(g)->lstm_output(n, hd, gi->data, gh->data, c_new->data, h_new->data);
    /* The state's node first: the tape is walked backwards, and h_new depends on c_new. */
    if (!pointwise(g, lstm_state_backward, gi, gh, c, c_new) ||
        !pointwise(g, lstm_output_backward, gi, gh, c_new, h_new))
        return NULL;
    if (h_out)
        *h_out = h_new;
    if (c_out)
        *c_out = c_new;
    return h_new;
}
