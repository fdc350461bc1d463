/*
 * bench_conv: times of the convolutional ops at SegNet-MTAN's first level.
 *
 *   build/tools/bench_conv [N [H [W [CHANNELS [REPEATS [cpu]]]]]]
 *
 * (defaults 2 288 384 64 5).  With "cpu", times are the process's CPU time
 * (all threads together) instead of wall time: with one thread, a measure
 * that other jobs on a shared machine disturb much less.
 *
 * On a batch [N, CHANNELS, H, W] of random values, for each op: the forward
 * time, and the time of its backward pass (a pass from sum(y * r) for a
 * fixed random r, less a pass from the same loss of a stand-in input of y's
 * shape).  Best of REPEATS after one warm-up.
 *
 *   conv3x3   3 x 3 convolution CHANNELS -> CHANNELS, padding 1, with bias
 *   conv1x1   1 x 1 convolution CHANNELS -> CHANNELS (MTAN's attention layers)
 *   bn        batch normalisation in training mode (batch statistics)
 *   relu
 *   pool      2 x 2 max pooling with indices
 *   unpool    max unpooling with those indices
 *   block     conv3x3 + bn + relu, the SegNet conv_layer
 *
 * One line per op: "NAME FORWARD_MS BACKWARD_MS", then the graph's peak
 * memory of the block step.  tools/bench/bench_conv.py runs this and the same
 * ops in PyTorch side by side and prints the ratios.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtl/mtl.h"

typedef struct bench {
    int64_t n, c, h, w;
    int repeats;
    mtl_model *m;
    mtl_graph *g;
    mtl_conv2d_layer conv3, conv1;
    mtl_batch_norm2d_layer bn;
    float *x, *r;
    mtl_pool_indices *ix; /* of the last pooling, for unpool */
} bench;

typedef mtl_tensor *(*op_fn)(bench *b, mtl_tensor *x);

/* The clock: wall time, or the process's CPU time (all threads) with "cpu". */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now(void)
{
    struct timespec ts;

    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_conv: %s: %s\n", what, mtl_error_message());
    exit(1);
}

static float *random_values(int64_t n, mtl_rng *rng)
{
    float *v = malloc((size_t)n * sizeof *v);

    if (!v) {
        fprintf(stderr, "bench_conv: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(2.0 * mtl_rng_uniform(rng) - 1.0);
    return v;
}

static mtl_tensor *op_conv3(bench *b, mtl_tensor *x)
{
    return mtl_conv2d_layer_forward(b->g, &b->conv3, x);
}

static mtl_tensor *op_conv1(bench *b, mtl_tensor *x)
{
    return mtl_conv2d_layer_forward(b->g, &b->conv1, x);
}

static mtl_tensor *op_bn(bench *b, mtl_tensor *x)
{
    return mtl_batch_norm2d_layer_forward(b->g, &b->bn, x, 1);
}

static mtl_tensor *op_relu(bench *b, mtl_tensor *x)
{
    return mtl_relu(b->g, x);
}

static mtl_tensor *op_pool(bench *b, mtl_tensor *x)
{
    return mtl_max_pool2d(b->g, x, &b->ix);
}

static mtl_tensor *op_block(bench *b, mtl_tensor *x)
{
    return mtl_relu(b->g, op_bn(b, op_conv3(b, x)));
}

/*
 * An image [n, c, h, w] as a graph input whose gradient the backward pass
 * computes.
 */
static mtl_tensor *image(bench *b, const int64_t *shape, const float *values)
{
    mtl_tensor *x = mtl_graph_input(b->g, 4, shape);

    if (!x || mtl_tensor_write(x, values, (size_t)mtl_tensor_numel(x)) != MTL_OK)
        die("input");
    mtl_graph_retain_grad(b->g, x);
    return x;
}

/* sum(y * r) for the fixed cotangent r, recorded in the graph. */
static mtl_tensor *loss_of(bench *b, mtl_tensor *y)
{
    int64_t shape[4];
    mtl_tensor *rt;

    for (int d = 0; d < 4; d++)
        shape[d] = mtl_tensor_dim(y, d);
    rt = mtl_graph_input(b->g, 4, shape);
    if (!rt || mtl_tensor_write(rt, b->r, (size_t)mtl_tensor_numel(y)) != MTL_OK)
        die("cotangent");
    return mtl_sum(b->g, mtl_mul(b->g, y, rt));
}

/* The time of one backward pass from `loss`. */
static double backward_time(bench *b, mtl_tensor *loss)
{
    float one = 1.0f;
    double t0 = now();

    if (mtl_graph_backward(b->g, 1, &loss, &one) != MTL_OK)
        die("backward");
    return now() - t0;
}

/*
 * Best forward and backward times of op over the repeats (one warm-up
 * first).  `unpool`: the op is max unpooling of a pooled image, with the
 * indices of pooling the full one.  The backward time is that of a pass
 * from sum(y * r) less that of a pass from the same loss of a stand-in
 * input of y's shape, both in the same step (same memory): the best of each
 * over the repeats, so that a busy machine disturbs the difference less.
 */
static void time_op(bench *b, const char *name, op_fn op, int unpool)
{
    const int64_t full[4] = {b->n, b->c, b->h, b->w};
    const int64_t half[4] = {b->n, b->c, b->h / 2, b->w / 2};
    double best_fwd = 1e30, best_total = 1e30, best_base = 1e30;

    for (int rep = 0; rep <= b->repeats; rep++) {
        int64_t out[4];
        mtl_tensor *x, *y, *loss, *stand_in_loss;
        double t0, fwd, total, base;

        mtl_graph_reset(b->g);
        if (unpool)
            op_pool(b, image(b, full, b->x));
        x = unpool ? image(b, half, b->r) : image(b, full, b->x);
        t0 = now();
        y = unpool ? mtl_max_unpool2d(b->g, x, b->ix) : op(b, x);
        fwd = now() - t0;
        if (mtl_graph_status(b->g) != MTL_OK)
            die(name);
        for (int d = 0; d < 4; d++)
            out[d] = mtl_tensor_dim(y, d);
        loss = loss_of(b, y);
        stand_in_loss = loss_of(b, image(b, out, b->x));
        total = backward_time(b, loss);
        base = backward_time(b, stand_in_loss);
        if (rep == 0)
            continue;
        best_fwd = fwd < best_fwd ? fwd : best_fwd;
        best_total = total < best_total ? total : best_total;
        best_base = base < best_base ? base : best_base;
    }
    printf("%-8s %9.2f %9.2f\n", name, 1e3 * best_fwd, 1e3 * (best_total - best_base));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    bench b;
    mtl_rng rng;
    int64_t size;

    memset(&b, 0, sizeof b);
    b.n = argc > 1 ? atoll(argv[1]) : 2;
    b.h = argc > 2 ? atoll(argv[2]) : 288;
    b.w = argc > 3 ? atoll(argv[3]) : 384;
    b.c = argc > 4 ? atoll(argv[4]) : 64;
    b.repeats = argc > 5 ? atoi(argv[5]) : 5;
    if (argc > 6 && strcmp(argv[6], "cpu") == 0)
        bench_clock = CLOCK_PROCESS_CPUTIME_ID;
    if (b.n < 2 || b.h < 2 || b.w < 2 || b.c < 1 || b.repeats < 1) {
        fprintf(stderr, "usage: bench_conv [N>=2 [H>=2 [W>=2 [CHANNELS [REPEATS [cpu]]]]]]\n");
        return 2;
    }

    mtl_rng_seed(&rng, 1, 0);
    size = b.n * b.c * b.h * b.w;
    b.x = random_values(size, &rng);
    b.r = random_values(size, &rng);
    if (mtl_model_create(&b.m) != MTL_OK || mtl_graph_create(&b.g) != MTL_OK ||
        mtl_conv2d_layer_init(&b.conv3, b.m, "conv3", MTL_ROLE_SHARED, -1, 0, (int)b.c, (int)b.c, 3,
                              1, 1, MTL_CONV_INIT_XAVIER_NORMAL, &rng) != MTL_OK ||
        mtl_conv2d_layer_init(&b.conv1, b.m, "conv1", MTL_ROLE_SHARED, -1, 0, (int)b.c, (int)b.c, 1,
                              1, 0, MTL_CONV_INIT_XAVIER_NORMAL, &rng) != MTL_OK ||
        mtl_batch_norm2d_layer_init(&b.bn, b.m, "bn", MTL_ROLE_SHARED, -1, 0, (int)b.c) != MTL_OK)
        die("setup");

    printf("# bench_conv: batch [%lld, %lld, %lld, %lld], best of %d; milliseconds\n",
           (long long)b.n, (long long)b.c, (long long)b.h, (long long)b.w, b.repeats);
    printf("%-8s %9s %9s\n", "op", "forward", "backward");
    time_op(&b, "conv3x3", op_conv3, 0);
    time_op(&b, "conv1x1", op_conv1, 0);
    time_op(&b, "bn", op_bn, 0);
    time_op(&b, "relu", op_relu, 0);
    time_op(&b, "pool", op_pool, 0);
    time_op(&b, "unpool", NULL, 1);
    time_op(&b, "block", op_block, 0);
    printf("# peak graph memory %.1f MB\n", (double)mtl_graph_peak_bytes(b.g) / 1e6);

    mtl_graph_destroy(b.g);
    mtl_model_destroy(b.m);
    free(b.x);
    free(b.r);
    return 0;
}
