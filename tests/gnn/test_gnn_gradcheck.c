/*
 * Finite-difference gradient checks of every op and layer of mtl/nn.h: the
 * backward pass of L = sum(y * r) against central differences, for every
 * element of every input (all inputs are model parameters here so that the
 * check can perturb them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "gnn_test.h"

/* Step and tolerance of the central differences (float32 forward, double loss). */
#define H   1e-2
#define TOL 5e-4

typedef struct ctx {
    mtl_model *m;
    mtl_rng rng;
    mtl_tensor *p[8];
    const int64_t *idx[2];
    int64_t n_idx, range;
    int flag;
    /* layers */
    mtl_linear lin;
    mtl_nnconv conv;
    mtl_gru gru;
    mtl_set2set s2s;
} ctx;

static void ctx_open(ctx *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    mtl_test_model_open(&c->m, &c->rng, seed);
}

static void ctx_close(ctx *c)
{
    mtl_model_destroy(c->m);
}

static mtl_tensor *param(ctx *c, int slot, const char *name, int64_t d0, int64_t d1)
{
    c->p[slot] = gnn_new_param(c->m, name, d0, d1, &c->rng);
    return c->p[slot];
}

static mtl_index *index_of(mtl_graph *g, const ctx *c, int which)
{
    return mtl_graph_index(g, c->n_idx, c->idx[which], c->range);
}

/* ---- dense ops ------------------------------------------------------------ */

static mtl_tensor *build_affine(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_affine(g, c->p[0], c->p[1], c->flag ? c->p[2] : NULL);
}

static void test_affine(void **state)
{
    ctx c;

    (void)state;
    for (int with_bias = 0; with_bias <= 1; with_bias++) {
        ctx_open(&c, 1);
        param(&c, 0, "x", 5, 4);
        param(&c, 1, "w", 3, 4);
        if (with_bias)
            param(&c, 2, "b", 3, 0);
        c.flag = with_bias;
        mtl_test_gradcheck(with_bias ? "affine" : "affine, no bias", c.m, build_affine, &c, H, TOL);
        ctx_close(&c);
    }
}

static mtl_tensor *build_add_bias(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_add_bias(g, c->p[0], c->p[1]);
}

static void test_add_bias(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 2);
    param(&c, 0, "x", 4, 3);
    param(&c, 1, "b", 3, 0);
    mtl_test_gradcheck("add_bias", c.m, build_add_bias, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_concat(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_concat(g, 3, c->p);
}

static void test_concat(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 3);
    param(&c, 0, "a", 3, 2);
    param(&c, 1, "b", 3, 4);
    param(&c, 2, "c", 3, 1);
    mtl_test_gradcheck("concat", c.m, build_concat, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_mse(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_mse_loss(g, c->p[0], c->p[1]);
}

static void test_mse(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 4);
    param(&c, 0, "pred", 3, 4);
    param(&c, 1, "target", 3, 4);
    mtl_test_gradcheck("mse_loss", c.m, build_mse, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_row_dot(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_row_dot(g, c->p[0], c->p[1]);
}

static mtl_tensor *build_scale_rows(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_scale_rows(g, c->p[0], c->p[1]);
}

static void test_row_products(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 5);
    param(&c, 0, "a", 4, 3);
    param(&c, 1, "b", 4, 3);
    mtl_test_gradcheck("row_dot", c.m, build_row_dot, &c, H, TOL);
    ctx_close(&c);

    ctx_open(&c, 6);
    param(&c, 0, "x", 4, 3);
    param(&c, 1, "s", 4, 0);
    mtl_test_gradcheck("scale_rows", c.m, build_scale_rows, &c, H, TOL);
    ctx_close(&c);
}

/* ---- index ops --------------------------------------------------------------- */

/* Seven positions over five rows, unsorted, with repeats; row 3 never named. */
static const int64_t idx7[] = {2, 0, 4, 2, 1, 0, 2};

static mtl_tensor *build_gather(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_gather_rows(g, c->p[0], index_of(g, c, 0));
}

static mtl_tensor *build_scatter(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_index *ix = index_of(g, c, 0);
    return c->flag ? mtl_scatter_mean(g, c->p[0], ix) : mtl_scatter_sum(g, c->p[0], ix);
}

static mtl_tensor *build_softmax(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_segment_softmax(g, c->p[0], index_of(g, c, 0));
}

static void test_index_ops(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 7);
    c.idx[0] = idx7;
    c.n_idx = 7;
    c.range = 5;
    param(&c, 0, "x", 5, 3);
    mtl_test_gradcheck("gather_rows", c.m, build_gather, &c, H, TOL);
    ctx_close(&c);

    for (int mean = 0; mean <= 1; mean++) {
        ctx_open(&c, 8);
        c.idx[0] = idx7;
        c.n_idx = 7;
        c.range = 5;
        c.flag = mean;
        param(&c, 0, "x", 7, 3);
        mtl_test_gradcheck(mean ? "scatter_mean" : "scatter_sum", c.m, build_scatter, &c, H, TOL);
        ctx_close(&c);
    }

    ctx_open(&c, 9);
    c.idx[0] = idx7;
    c.n_idx = 7;
    c.range = 5;
    param(&c, 0, "e", 7, 0);
    mtl_test_fill_uniform(c.p[0], &c.rng, 3.0);
    mtl_test_gradcheck("segment_softmax", c.m, build_softmax, &c, H, TOL);
    ctx_close(&c);
}

/* ---- edge messages ------------------------------------------------------------ */

/* Nine edges over five nodes; node 3 sends nothing. */
static const int64_t src_sorted[] = {0, 0, 1, 1, 1, 2, 4, 4, 4};
static const int64_t src_shuffled[] = {4, 1, 0, 2, 4, 1, 0, 4, 1};

static mtl_tensor *build_message(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_edge_message(g, c->p[0], c->p[1], c->p[2], c->flag ? c->p[3] : NULL,
                            index_of(g, c, 0));
}

static void test_edge_message(void **state)
{
    static const char *const labels[2][2] = {
        {"edge_message, sorted", "edge_message, sorted, bias"},
        {"edge_message, shuffled", "edge_message, shuffled, bias"}};
    ctx c;

    (void)state;
    for (int shuffled = 0; shuffled <= 1; shuffled++) {
        for (int with_bias = 0; with_bias <= 1; with_bias++) {
            ctx_open(&c, 10);
            c.idx[0] = shuffled ? src_shuffled : src_sorted;
            c.n_idx = 9;
            c.range = 5;
            c.flag = with_bias;
            /* in 3, out 2, hidden 4: in != out catches a transposed reshape */
            param(&c, 0, "x", 5, 3);
            param(&c, 1, "hidden", 9, 4);
            param(&c, 2, "w", 6, 4);
            if (with_bias)
                param(&c, 3, "b", 6, 0);
            mtl_test_gradcheck(labels[shuffled][with_bias], c.m, build_message, &c, H, TOL);
            ctx_close(&c);
        }
    }
}

/* The messages equal the per-edge matrices of PyG's reshape, formed explicitly. */
static void test_edge_message_explicit(void **state)
{
    enum { N = 5, E = 9, IN = 3, OUT = 2, K = 4 };
    mtl_graph *g;
    mtl_model *m;
    mtl_rng rng;
    mtl_tensor *x, *hid, *w, *b, *y;
    const float *xv, *hv, *wv, *bv, *yv;

    (void)state;
    assert_int_equal(mtl_model_create(&m), MTL_OK);
    assert_int_equal(mtl_graph_create(&g), MTL_OK);
    mtl_rng_seed(&rng, 11, 0);
    x = gnn_new_param(m, "x", N, IN, &rng);
    hid = gnn_new_param(m, "hidden", E, K, &rng);
    w = gnn_new_param(m, "w", IN * OUT, K, &rng);
    b = gnn_new_param(m, "b", IN * OUT, 0, &rng);
    y = mtl_edge_message(g, x, hid, w, b, mtl_graph_index(g, E, src_shuffled, N));
    assert_non_null(y);
    xv = mtl_tensor_data(x);
    hv = mtl_tensor_data(hid);
    wv = mtl_tensor_data(w);
    bv = mtl_tensor_data(b);
    yv = mtl_tensor_data(y);

    for (int e = 0; e < E; e++) {
        for (int o = 0; o < OUT; o++) {
            double ref = 0.0;
            for (int i = 0; i < IN; i++) {
                /* W(h_e)[i, o] = element i * OUT + o of w h_e + b */
                double we = bv[i * OUT + o];
                for (int k = 0; k < K; k++)
                    we += (double)wv[(i * OUT + o) * K + k] * hv[e * K + k];
                ref += xv[src_shuffled[e] * IN + i] * we;
            }
            assert_float_equal(yv[e * OUT + o], ref, 1e-5 * (1.0 + fabs(ref)));
        }
    }
    mtl_graph_destroy(g);
    mtl_model_destroy(m);
}

/* ---- recurrent cells ------------------------------------------------------------ */

static mtl_tensor *build_gru(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_gru_cell(g, c->p[0], c->p[1], c->p[2], c->p[3], c->p[4], c->p[5]);
}

static mtl_tensor *build_lstm(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_tensor *h, *cs;

    mtl_lstm_cell(g, c->p[0], c->p[1], c->p[6], c->p[2], c->p[3], c->p[4], c->p[5], &h, &cs);
    return mtl_concat(g, 2, (mtl_tensor *[]){h, cs});
}

static void test_cells(void **state)
{
    ctx c;

    (void)state;
    for (int lstm = 0; lstm <= 1; lstm++) {
        int gates = lstm ? 4 : 3;
        ctx_open(&c, 12);
        param(&c, 0, "x", 3, 4);
        param(&c, 1, "h", 3, 2);
        param(&c, 2, "w_ih", gates * 2, 4);
        param(&c, 3, "w_hh", gates * 2, 2);
        param(&c, 4, "b_ih", gates * 2, 0);
        param(&c, 5, "b_hh", gates * 2, 0);
        if (lstm)
            param(&c, 6, "c", 3, 2);
        mtl_test_gradcheck(lstm ? "lstm_cell" : "gru_cell", c.m, lstm ? build_lstm : build_gru, &c,
                           H, TOL);
        ctx_close(&c);
    }
}

/* ---- layers ---------------------------------------------------------------------- */

/* Two small complete graphs (3 and 2 nodes) plus an isolated node: 8 edges. */
static const int64_t conv_src[] = {0, 0, 1, 1, 2, 2, 3, 4};
static const int64_t conv_dst[] = {1, 2, 0, 2, 0, 1, 4, 3};
static const int64_t conv_batch[] = {0, 0, 0, 1, 1, 2};

static mtl_tensor *build_nnconv(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_tensor *hidden = mtl_nnconv_hidden(g, &c->conv, c->p[1]);
    return mtl_nnconv_forward(g, &c->conv, c->p[0], hidden, index_of(g, c, 0), index_of(g, c, 1));
}

static void test_nnconv_layer(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 13);
    c.idx[0] = conv_src;
    c.idx[1] = conv_dst;
    c.n_idx = 8;
    c.range = 6;
    param(&c, 0, "x", 6, 3);
    param(&c, 1, "edge_attr", 8, 2);
    assert_int_equal(
        mtl_nnconv_init(&c.conv, c.m, "conv", MTL_ROLE_SHARED, -1, 0, 3, 2, 2, 4, &c.rng), MTL_OK);
    /* PyG starts the bias at zero; any value will do for the check. */
    mtl_test_fill_uniform(c.conv.bias, &c.rng, 1.0);
    mtl_test_gradcheck("nnconv layer", c.m, build_nnconv, &c, H, TOL);
    ctx_close(&c);
}

static mtl_tensor *build_set2set(mtl_graph *g, void *p)
{
    ctx *c = p;
    return mtl_set2set_forward(g, &c->s2s, c->p[0], index_of(g, c, 0));
}

static void test_set2set_layer(void **state)
{
    static const int64_t batch[] = {1, 0, 1, 3, 0, 1, 3};
    ctx c;

    (void)state;
    ctx_open(&c, 14);
    c.idx[0] = batch; /* graph 2 is empty */
    c.n_idx = 7;
    c.range = 4;
    param(&c, 0, "x", 7, 3);
    assert_int_equal(mtl_set2set_init(&c.s2s, c.m, "s2s", MTL_ROLE_SHARED, -1, 0, 3, 3, &c.rng),
                     MTL_OK);
    mtl_test_gradcheck("set2set layer", c.m, build_set2set, &c, H, TOL);
    ctx_close(&c);
}

/*
 * The QM9 model's shape in miniature: two rounds of the same convolution
 * sharing one edge-network hidden layer, GRU updates, Set2Set, a linear
 * head and the MSE loss.
 */
static mtl_tensor *build_model(mtl_graph *g, void *p)
{
    ctx *c = p;
    mtl_index *src = index_of(g, c, 0), *dst = index_of(g, c, 1);
    mtl_index *batch = mtl_graph_index(g, 6, conv_batch, 3);
    mtl_tensor *out = mtl_relu(g, c->p[0]);
    mtl_tensor *h = out;
    mtl_tensor *hidden = mtl_nnconv_hidden(g, &c->conv, c->p[1]);

    for (int round = 0; round < 2; round++) {
        mtl_tensor *msg = mtl_relu(g, mtl_nnconv_forward(g, &c->conv, out, hidden, src, dst));
        h = mtl_gru_forward(g, &c->gru, msg, h);
        out = h;
    }
    out = mtl_linear_forward(g, &c->lin, mtl_set2set_forward(g, &c->s2s, out, batch));
    return mtl_mse_loss(g, out, c->p[2]);
}

static void test_model(void **state)
{
    ctx c;

    (void)state;
    ctx_open(&c, 15);
    c.idx[0] = conv_src;
    c.idx[1] = conv_dst;
    c.n_idx = 8;
    c.range = 6;
    param(&c, 0, "x", 6, 3);
    param(&c, 1, "edge_attr", 8, 2);
    param(&c, 2, "target", 3, 1);
    assert_int_equal(
        mtl_nnconv_init(&c.conv, c.m, "conv", MTL_ROLE_SHARED, -1, 0, 3, 3, 2, 4, &c.rng), MTL_OK);
    mtl_test_fill_uniform(c.conv.bias, &c.rng, 1.0);
    assert_int_equal(mtl_gru_init(&c.gru, c.m, "gru", MTL_ROLE_SHARED, -1, 0, 3, 3, &c.rng),
                     MTL_OK);
    assert_int_equal(mtl_set2set_init(&c.s2s, c.m, "s2s", MTL_ROLE_SHARED, -1, 0, 3, 2, &c.rng),
                     MTL_OK);
    assert_int_equal(mtl_linear_init(&c.lin, c.m, "head", MTL_ROLE_TASK, 0, 0, 6, 1, &c.rng),
                     MTL_OK);
    mtl_test_gradcheck("qm9-shaped model", c.m, build_model, &c, H, TOL);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affine),        cmocka_unit_test(test_add_bias),
        cmocka_unit_test(test_concat),        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_row_products),  cmocka_unit_test(test_index_ops),
        cmocka_unit_test(test_edge_message),  cmocka_unit_test(test_edge_message_explicit),
        cmocka_unit_test(test_cells),         cmocka_unit_test(test_nnconv_layer),
        cmocka_unit_test(test_set2set_layer), cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests_name("mtl_test_gradcheck", tests, NULL, NULL);
}
