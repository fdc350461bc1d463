/*
 * Convolutional layers with parameters (mtl/conv.h): Conv2d and
 * BatchNorm2d, named and initialised as PyTorch (or the MTAN code) does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "conv_internal.h"

/* ---- parameters ---------------------------------------------------------- */

typedef struct layer_spec {
    mtl_model *m;
    const char *name;
    mtl_role role;
    int task;
    unsigned flags;
} layer_spec;

/*
 * Adds "<name>.<suffix>" (a parameter, or a buffer with `buffer`) of the given
 * shape.
 */
static mtl_status tensor_new(const layer_spec *s, const char *suffix, int buffer, int ndim,
                             const int64_t *shape, mtl_tensor **out)
{
    char full[256];

    if (snprintf(full, sizeof full, "%s.%s", s->name, suffix) >= (int)sizeof full)
        return mtl_error_set(MTL_ERR_INVALID, "conv: parameter name too long: '%s.%s'", s->name,
                             suffix);
    *out = buffer ? mtl_model_buffer(s->m, full, ndim, shape)
                  : mtl_model_param(s->m, full, s->role, s->task, s->flags, ndim, shape);
    return *out ? MTL_OK : MTL_ERR_INVALID;
}

typedef enum draw_kind { DRAW_UNIFORM = 0, DRAW_NORMAL = 1, DRAW_CONSTANT = 2 } draw_kind;

/*
 * Fills t with values uniform in [-a, a), normal with standard deviation a,
 * or all equal to a.
 */
static mtl_status tensor_draw(mtl_tensor *t, draw_kind kind, double a, mtl_rng *rng)
{
    int64_t n = mtl_tensor_numel(t);
    float *v = malloc((size_t)n * sizeof *v);
    mtl_status st;

    if (!v)
        return mtl_error_set(MTL_ERR_NOMEM, "conv: out of memory initialising %lld values",
                             (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (kind == DRAW_UNIFORM)
            v[i] = (float)((2.0 * mtl_rng_uniform(rng) - 1.0) * a);
        else if (kind == DRAW_NORMAL)
            v[i] = (float)(mtl_rng_normal(rng) * a);
        else
            v[i] = (float)a;
    }
    st = mtl_tensor_write(t, v, (size_t)n);
    free(v);
    return st;
}

/* ---- Conv2d -------------------------------------------------------------- */

mtl_status mtl_conv2d_layer_reset(mtl_conv2d_layer *l, mtl_conv_init init, mtl_rng *rng)
{
    double fan_in, fan_out;
    mtl_status st;

    if (!l || !l->weight || !l->bias || !rng)
        return mtl_error_set(MTL_ERR_INVALID, "conv: mtl_conv2d_layer_reset: NULL argument");
    fan_in = (double)l->in * l->kernel * l->kernel;
    fan_out = (double)l->out * l->kernel * l->kernel;

    switch (init) {
    case MTL_CONV_INIT_DEFAULT:
        /*
         * kaiming_uniform_(a = sqrt(5)) gives bound 1 / sqrt(fan_in); the bias
         * uses the same.
         */
        st = tensor_draw(l->weight, DRAW_UNIFORM, 1.0 / sqrt(fan_in), rng);
        if (st == MTL_OK)
            st = tensor_draw(l->bias, DRAW_UNIFORM, 1.0 / sqrt(fan_in), rng);
        return st;
    case MTL_CONV_INIT_XAVIER_NORMAL:
        st = tensor_draw(l->weight, DRAW_NORMAL, sqrt(2.0 / (fan_in + fan_out)), rng);
        if (st == MTL_OK)
            st = tensor_draw(l->bias, DRAW_CONSTANT, 0.0, rng);
        return st;
    }
    return mtl_error_set(MTL_ERR_INVALID,
                         "conv: mtl_conv2d_layer_reset: unknown initialisation (expected 0 or 1, "
                         "got %d)",
                         (int)init);
}

mtl_status mtl_conv2d_layer_init(mtl_conv2d_layer *l, mtl_model *m, const char *name, mtl_role role,
                                 int task, unsigned flags, int in, int out, int kernel, int stride,
                                 int padding, mtl_conv_init init, mtl_rng *rng)
{
    layer_spec s = {m, name, role, task, flags};
    mtl_status st;

    if (!l || !m || !name || !rng)
        return mtl_error_set(MTL_ERR_INVALID, "conv: mtl_conv2d_layer_init: NULL argument");
    if (in < 1 || out < 1 || kernel < 1 || stride < 1 || padding < 0)
        return mtl_error_set(MTL_ERR_INVALID,
                             "conv: mtl_conv2d_layer_init: '%s': bad size (expected in, out, "
                             "kernel, stride >= 1 and padding >= 0, got %d, %d, %d, %d, %d)",
                             name, in, out, kernel, stride, padding);
    *l = (mtl_conv2d_layer){NULL, NULL, in, out, kernel, stride, padding};
    st = tensor_new(&s, "weight", 0, 4, (int64_t[]){out, in, kernel, kernel}, &l->weight);
    if (st == MTL_OK)
        st = tensor_new(&s, "bias", 0, 1, (int64_t[]){out}, &l->bias);
    if (st == MTL_OK)
        st = mtl_conv2d_layer_reset(l, init, rng);
    return st;
}

mtl_tensor *mtl_conv2d_layer_forward(mtl_graph *g, const mtl_conv2d_layer *l, mtl_tensor *x)
{
    return l ? mtl_conv2d(g, x, l->weight, l->bias, l->stride, l->padding) : NULL;
}

mtl_tensor *mtl_conv2d_layer_forward_concat(mtl_graph *g, const mtl_conv2d_layer *l, int n,
                                            mtl_tensor *const *xs)
{
    if (!g || !l || g->status != MTL_OK)
        return NULL;
    if (l->kernel != 1 || l->stride != 1 || l->padding != 0)
        return mtl_graph_fail(g, MTL_ERR_INVALID,
                              "conv: mtl_conv2d_layer_forward_concat: the layer is not a plain "
                              "1 x 1 convolution (expected kernel 1, stride 1, padding 0, got "
                              "%d, %d, %d)",
                              l->kernel, l->stride, l->padding);
    return mtl_conv2d_1x1_concat(g, n, xs, l->weight, l->bias);
}

/* ---- BatchNorm2d --------------------------------------------------------- */

mtl_status mtl_batch_norm2d_layer_reset(mtl_batch_norm2d_layer *l)
{
    mtl_status st;

    if (!l || !l->weight || !l->bias || !l->running_mean || !l->running_var)
        return mtl_error_set(MTL_ERR_INVALID, "conv: mtl_batch_norm2d_layer_reset: NULL argument");
    st = tensor_draw(l->weight, DRAW_CONSTANT, 1.0, NULL);
    if (st == MTL_OK)
        st = tensor_draw(l->bias, DRAW_CONSTANT, 0.0, NULL);
    if (st == MTL_OK)
        st = tensor_draw(l->running_mean, DRAW_CONSTANT, 0.0, NULL);
    if (st == MTL_OK)
        st = tensor_draw(l->running_var, DRAW_CONSTANT, 1.0, NULL);
    return st;
}

mtl_status mtl_batch_norm2d_layer_init(mtl_batch_norm2d_layer *l, mtl_model *m, const char *name,
                                       mtl_role role, int task, unsigned flags, int channels)
{
    layer_spec s = {m, name, role, task, flags};
    int64_t shape[1] = {channels};
    mtl_status st;

    if (!l || !m || !name)
        return mtl_error_set(MTL_ERR_INVALID, "conv: mtl_batch_norm2d_layer_init: NULL argument");
    if (channels < 1)
        return mtl_error_set(MTL_ERR_INVALID,
                             "conv: mtl_batch_norm2d_layer_init: '%s': bad channel count "
                             "(expected >= 1, got %d)",
                             name, channels);
    *l = (mtl_batch_norm2d_layer){NULL, NULL, NULL, NULL, channels, 0.1f, 1e-5f};
    st = tensor_new(&s, "weight", 0, 1, shape, &l->weight);
    if (st == MTL_OK)
        st = tensor_new(&s, "bias", 0, 1, shape, &l->bias);
    if (st == MTL_OK)
        st = tensor_new(&s, "running_mean", 1, 1, shape, &l->running_mean);
    if (st == MTL_OK)
        st = tensor_new(&s, "running_var", 1, 1, shape, &l->running_var);
    if (st == MTL_OK)
        st = mtl_batch_norm2d_layer_reset(l);
    return st;
}

mtl_tensor *mtl_batch_norm2d_layer_forward(mtl_graph *g, const mtl_batch_norm2d_layer *l,
                                           mtl_tensor *x, int training)
{
    return mtl_batch_norm2d_layer_forward_act(g, l, x, training, MTL_ACT_NONE);
}

mtl_tensor *mtl_batch_norm2d_layer_forward_act(mtl_graph *g, const mtl_batch_norm2d_layer *l,
                                               mtl_tensor *x, int training, mtl_activation act)
{
    if (!l)
        return NULL;
    return mtl_batch_norm2d_act(g, x, l->weight, l->bias, l->running_mean, l->running_var, training,
                                l->momentum, l->eps, act);
}
