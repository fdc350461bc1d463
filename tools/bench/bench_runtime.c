/*
 * bench_runtime: per-op and per-step cost of the runtime on the toy
 * objective of REFERENCE.md section 2 (two scalar losses of two parameters,
 * about 35 scalar ops).  One step is what the host does for a gradient
 * method: reset the graph, forward, k = 2 backward passes with one-hot
 * seeds (zeroing the gradients in between), and an Adam step.
 *
 *   bench_runtime [steps]      (default 175000 = 5 starts x 35,000 steps)
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mtl/optim.h"
#include "mtl/tensor.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* log(max(|u|, 5e-6)) + 6 */
static mtl_tensor *log_branch(mtl_graph *g, mtl_tensor *u)
{
    return mtl_add_scalar(g, mtl_log(g, mtl_clamp(g, mtl_abs(g, u), 5e-6f, INFINITY)), 6.0f);
}

/* ((nx1 + shift)^2 + 0.1 (nx2 - 8)^2) / 10 - 20 */
static mtl_tensor *quad_branch(mtl_graph *g, mtl_tensor *nx1, mtl_tensor *nx2, float shift)
{
    mtl_tensor *p = mtl_pow_scalar(g, mtl_add_scalar(g, nx1, shift), 2.0f);
    mtl_tensor *q = mtl_pow_scalar(g, mtl_add_scalar(g, nx2, -8.0f), 2.0f);

    return mtl_add_scalar(g, mtl_mul_scalar(g, mtl_add(g, p, mtl_mul_scalar(g, q, 0.1f)), 0.1f),
                          -20.0f);
}

/* The two toy objectives; returns the number of ops it ran. */
static int toy_forward(mtl_graph *g, mtl_tensor *x, mtl_tensor **f)
{
    mtl_tensor *x1 = mtl_select(g, x, 0), *x2 = mtl_select(g, x, 1);
    mtl_tensor *nx1 = mtl_neg(g, x1), *nx2 = mtl_neg(g, x2);
    mtl_tensor *t = mtl_tanh(g, nx2);
    mtl_tensor *u1 = mtl_sub(g, mtl_mul_scalar(g, mtl_add_scalar(g, nx1, -7.0f), 0.5f), t);
    mtl_tensor *u2 = mtl_add_scalar(
        g, mtl_add(g, mtl_mul_scalar(g, mtl_add_scalar(g, nx1, 3.0f), 0.5f), t), 2.0f);
    mtl_tensor *c1 = mtl_clamp(g, mtl_tanh(g, mtl_mul_scalar(g, x2, 0.5f)), 0.0f, INFINITY);
    mtl_tensor *c2 = mtl_clamp(g, mtl_tanh(g, mtl_mul_scalar(g, nx2, 0.5f)), 0.0f, INFINITY);
    mtl_tensor *f1 = mtl_add(g, mtl_mul(g, c1, log_branch(g, u1)),
                             mtl_mul(g, c2, quad_branch(g, nx1, nx2, 7.0f)));

    f[0] = mtl_mul_scalar(g, f1, 0.1f);
    f[1] = mtl_add(g, mtl_mul(g, c1, log_branch(g, u2)),
                   mtl_mul(g, c2, quad_branch(g, nx1, nx2, -7.0f)));
    return 49;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 175000;
    static const float starts[5][2] = {{-8.5f, 7.5f}, {0, 0}, {9, 9}, {-7.5f, -0.5f}, {9, -1}};
    int64_t shape[1] = {2};
    mtl_model *model;
    mtl_graph *g;
    mtl_adam *opt;
    mtl_adam_config cfg = mtl_adam_defaults();
    mtl_tensor *x, *f[2];
    double t0, t_fwd = 0, t_bwd = 0, t_opt = 0, total;
    long n_ops = 0;
    float checksum = 0;

    if (mtl_model_create(&model) || mtl_graph_create(&g) || mtl_adam_create(&opt))
        return 1;
    x = mtl_model_param(model, "x", MTL_ROLE_SHARED, -1, 0, 1, shape);
    if (!x || mtl_adam_add_group(opt, &cfg, 1, &x, NULL))
        return 1;

    total = now();
    for (long s = 0; s < steps; s++) {
        static const float onehot[2][2] = {{1, 0}, {0, 1}};
        float gsum[2] = {0, 0};

        if (s % 35000 == 0 && mtl_tensor_write(x, starts[(s / 35000) % 5], 2))
            return 1;

        t0 = now();
        mtl_graph_reset(g);
        n_ops += toy_forward(g, x, f);
        t_fwd += now() - t0;

        t0 = now();
        for (int i = 0; i < 2; i++) {
            mtl_model_zero_grad(model);
            if (mtl_graph_backward(g, 2, f, onehot[i]) != MTL_OK) {
                fprintf(stderr, "%s\n", mtl_error_message());
                return 1;
            }
            gsum[0] += mtl_tensor_grad(x)[0];
            gsum[1] += mtl_tensor_grad(x)[1];
        }
        t_bwd += now() - t0;

        /* LS: the step follows the sum of the task gradients. */
        t0 = now();
        mtl_tensor_grad(x)[0] = gsum[0];
        mtl_tensor_grad(x)[1] = gsum[1];
        mtl_adam_step(opt);
        t_opt += now() - t0;
        checksum += mtl_tensor_item(f[0]) + mtl_tensor_item(f[1]);
    }
    total = now() - total;

    printf("steps %ld, ops per forward %ld, final x (%.4f, %.4f), checksum %g\n", steps,
           n_ops / (steps ? steps : 1), mtl_tensor_data(x)[0], mtl_tensor_data(x)[1],
           (double)checksum);
    printf("forward:  %.1f ns/op, %.0f ns/step\n", 1e9 * t_fwd / (double)n_ops,
           1e9 * t_fwd / (double)steps);
    printf("backward: %.0f ns/step (2 passes)\n", 1e9 * t_bwd / (double)steps);
    printf("adam:     %.0f ns/step\n", 1e9 * t_opt / (double)steps);
    printf("step:     %.0f ns; total %.3f s; graph arena %zu bytes (peak %zu)\n",
           1e9 * total / (double)steps, total, mtl_graph_bytes(g), mtl_graph_peak_bytes(g));

    mtl_adam_destroy(opt);
    mtl_graph_destroy(g);
    mtl_model_destroy(model);
    return 0;
}
