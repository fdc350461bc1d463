/*
 * bench_gnn: time of the QM9 model's message passing on a synthetic batch.
 *
 *   build/tools/bench_gnn [MOLECULES [ATOMS [REPEATS]]]      defaults 120 18 5
 *
 * A batch of MOLECULES complete graphs of ATOMS nodes (QM9's mean size), 64
 * node features, 5 edge features, an edge network 5 -> 128 -> 4096 (mtl/nn.h,
 * NNConv) and a GRU(64, 64), with random parameters.  Reported, best of
 * REPEATS after one warm-up step:
 *   - the edge network's hidden layer (once per batch);
 *   - one round, forward and forward + backward: relu(NNConv) then GRU;
 *   - three rounds sharing the hidden layer (the QM9 model's trunk without
 *     Set2Set), forward + backward, and the graph's peak memory.
 * The loss is sum(h * r) for a fixed random r, so the backward pass reaches
 * every parameter.  Ratios against PyTorch are the job of a script beside
 * this one; these are absolute times.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mtl/mtl.h"

enum { DIM = 64, EDGE = 5, HIDDEN = 128 };

typedef struct bench {
    int64_t nodes, edges;
    int64_t *src, *dst;
    float *x, *edge_attr, *r;
    mtl_model *m;
    mtl_nnconv conv;
    mtl_gru gru;
    mtl_graph *g;
} bench;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_gnn: %s: %s\n", what, mtl_error_message());
    exit(1);
}

static void fill(float *v, int64_t n, mtl_rng *rng, double scale)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((2.0 * mtl_rng_uniform(rng) - 1.0) * scale);
}

/* Complete graphs without self loops, edges sorted by source as PyG builds them. */
static void make_batch(bench *b, int molecules, int atoms, mtl_rng *rng)
{
    int64_t e = 0;

    b->nodes = (int64_t)molecules * atoms;
    b->edges = (int64_t)molecules * atoms * (atoms - 1);
    b->src = malloc((size_t)b->edges * sizeof *b->src);
    b->dst = malloc((size_t)b->edges * sizeof *b->dst);
    b->x = malloc((size_t)(b->nodes * DIM) * sizeof *b->x);
    b->edge_attr = malloc((size_t)(b->edges * EDGE) * sizeof *b->edge_attr);
    b->r = malloc((size_t)(b->nodes * DIM) * sizeof *b->r);
    if (!b->src || !b->dst || !b->x || !b->edge_attr || !b->r) {
        fprintf(stderr, "bench_gnn: out of memory\n");
        exit(1);
    }
    for (int mol = 0; mol < molecules; mol++)
        for (int j = 0; j < atoms; j++)
            for (int i = 0; i < atoms; i++)
                if (i != j) {
                    b->src[e] = (int64_t)mol * atoms + j;
                    b->dst[e] = (int64_t)mol * atoms + i;
                    e++;
                }
    fill(b->x, b->nodes * DIM, rng, 1.0);
    fill(b->edge_attr, b->edges * EDGE, rng, 1.0);
    fill(b->r, b->nodes * DIM, rng, 1.0);
}

static mtl_tensor *input(bench *b, int64_t rows, int64_t cols, const float *v)
{
    mtl_tensor *t = mtl_graph_input(b->g, 2, (int64_t[]){rows, cols});

    if (!t || mtl_tensor_write(t, v, (size_t)(rows * cols)) != MTL_OK)
        die("input");
    return t;
}

/* rounds of relu(NNConv) + GRU from the batch; backward when asked. Returns seconds. */
static double step(bench *b, int rounds, int backward, int hidden_only)
{
    double t0 = now();
    mtl_index *src, *dst;
    mtl_tensor *out, *h, *hidden, *loss;
    float one = 1.0f;

    mtl_graph_reset(b->g);
    mtl_graph_set_recording(b->g, backward);
    src = mtl_graph_index(b->g, b->edges, b->src, b->nodes);
    dst = mtl_graph_index(b->g, b->edges, b->dst, b->nodes);
    out = input(b, b->nodes, DIM, b->x);
    hidden = mtl_nnconv_hidden(b->g, &b->conv, input(b, b->edges, EDGE, b->edge_attr));
    if (hidden_only)
        return mtl_graph_status(b->g) == MTL_OK ? now() - t0 : (die("hidden"), 0.0);
    h = out;
    for (int i = 0; i < rounds; i++) {
        mtl_tensor *msg = mtl_relu(b->g, mtl_nnconv_forward(b->g, &b->conv, out, hidden, src, dst));
        h = mtl_gru_forward(b->g, &b->gru, msg, h);
        out = h;
    }
    loss = mtl_sum(b->g, mtl_mul(b->g, h, input(b, b->nodes, DIM, b->r)));
    if (mtl_graph_status(b->g) != MTL_OK)
        die("forward");
    if (backward) {
        mtl_model_zero_grad(b->m);
        if (mtl_graph_backward(b->g, 1, &loss, &one) != MTL_OK)
            die("backward");
    }
    return now() - t0;
}

static double best_of(bench *b, int repeats, int rounds, int backward, int hidden_only)
{
    double best = 1e30;

    step(b, rounds, backward, hidden_only); /* warm-up: the arena reaches its size */
    for (int i = 0; i < repeats; i++) {
        double t = step(b, rounds, backward, hidden_only);
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    int molecules = argc > 1 ? atoi(argv[1]) : 120;
    int atoms = argc > 2 ? atoi(argv[2]) : 18;
    int repeats = argc > 3 ? atoi(argv[3]) : 5;
    double t_hidden, t_fwd1, t_step1, t_step3, gflop;
    bench b = {0};
    mtl_rng rng;

    if (molecules < 1 || atoms < 2 || repeats < 1) {
        fprintf(stderr, "usage: bench_gnn [MOLECULES >= 1 [ATOMS >= 2 [REPEATS >= 1]]]\n");
        return 2;
    }
    mtl_rng_seed(&rng, 2022, 0);
    make_batch(&b, molecules, atoms, &rng);
    if (mtl_model_create(&b.m) != MTL_OK || mtl_graph_create(&b.g) != MTL_OK)
        die("create");
    if (mtl_nnconv_init(&b.conv, b.m, "conv", MTL_ROLE_SHARED, -1, 0, DIM, DIM, EDGE, HIDDEN,
                        &rng) != MTL_OK ||
        mtl_gru_init(&b.gru, b.m, "gru", MTL_ROLE_SHARED, -1, 0, DIM, DIM, &rng) != MTL_OK)
        die("init");

    t_hidden = best_of(&b, repeats, 0, 0, 1);
    t_fwd1 = best_of(&b, repeats, 1, 0, 0);
    t_step1 = best_of(&b, repeats, 1, 1, 0);
    t_step3 = best_of(&b, repeats, 3, 1, 0);

    /* X A and H_j P_j^T per round, forward; the backward does twice that. */
    gflop = 2.0 * ((double)b.nodes * DIM * DIM * HIDDEN + (double)b.edges * DIM * HIDDEN) * 1e-9;
    printf("batch: %d molecules x %d atoms = %lld nodes, %lld edges; dim %d, edge net %d -> %d "
           "-> %d\n",
           molecules, atoms, (long long)b.nodes, (long long)b.edges, DIM, EDGE, HIDDEN, DIM * DIM);
    printf("edge network hidden layer (once per batch)     %8.2f ms\n", 1e3 * t_hidden);
    printf("one round NNConv + GRU, forward                %8.2f ms  (%.2f GFLOP in messages, "
           "%.0f GFLOP/s)\n",
           1e3 * t_fwd1, gflop, gflop / (t_fwd1 - t_hidden));
    printf("one round NNConv + GRU, forward + backward     %8.2f ms\n", 1e3 * t_step1);
    printf("three rounds (shared hidden), forward + backward %6.2f ms, %.1f molecules/s of this "
           "part\n",
           1e3 * t_step3, molecules / t_step3);
    printf("graph peak memory (arena)                      %8.1f MB\n",
           (double)mtl_graph_peak_bytes(b.g) / 1e6);

    mtl_graph_destroy(b.g);
    mtl_model_destroy(b.m);
    free(b.src);
    free(b.dst);
    free(b.x);
    free(b.edge_attr);
    free(b.r);
    return 0;
}
