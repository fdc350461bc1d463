/*
 * The Multi-Fashion model (mfashion.h): the LeNet-style trunk of the
 * Multi-MNIST experiments (Sener & Koltun, NeurIPS 2018) shared by both
 * tasks, and one linear head per task.
 */
#include <string.h>

#include "mfashion.h"

enum { C1 = 10, C2 = 20, FLAT = C2 * 4 * 4, REP = 50, KERNEL = 5 };

mtl_status mf_model_init(mf_model *m, mtl_rng *rng)
{
    static const char *const heads[2] = {"heads.left", "heads.right"};
    mtl_status st;

    memset(m, 0, sizeof *m);
    st = mtl_model_create(&m->model);
    if (st == MTL_OK)
        st = mtl_conv2d_layer_init(&m->conv1, m->model, "conv1", MTL_ROLE_SHARED, -1, 0, 1, C1,
                                   KERNEL, 1, 0, MTL_CONV_INIT_DEFAULT, rng);
    if (st == MTL_OK)
        st = mtl_conv2d_layer_init(&m->conv2, m->model, "conv2", MTL_ROLE_SHARED, -1, 0, C1, C2,
                                   KERNEL, 1, 0, MTL_CONV_INIT_DEFAULT, rng);
    if (st == MTL_OK)
        st = mtl_linear_init(&m->fc, m->model, "fc", MTL_ROLE_SHARED, -1, MTL_PARAM_LAST_SHARED,
                             FLAT, REP, rng);
    for (int t = 0; t < 2 && st == MTL_OK; t++)
        st = mtl_linear_init(&m->head[t], m->model, heads[t], MTL_ROLE_TASK, t, 0, REP,
                             MF_N_CLASSES, rng);
    if (st != MTL_OK)
        mf_model_deinit(m);
    return st;
}

void mf_model_deinit(mf_model *m)
{
    if (!m)
        return;
    mtl_model_destroy(m->model);
    m->model = NULL;
}

/* conv, 2 x 2 max pool, ReLU: the order of the reference trunk. */
static mtl_tensor *conv_stage(mtl_graph *g, const mtl_conv2d_layer *conv, mtl_tensor *x)
{
    return mtl_relu(g, mtl_max_pool2d(g, mtl_conv2d_layer_forward(g, conv, x), NULL));
}

void mf_model_forward(mtl_graph *g, const mf_model *m, mtl_tensor *x, mtl_tensor *logits[2],
                      mtl_tensor **rep)
{
    int64_t b = mtl_tensor_dim(x, 0);
    mtl_tensor *h = conv_stage(g, &m->conv2, conv_stage(g, &m->conv1, x));
    mtl_tensor *flat = mtl_reshape(g, h, 2, (int64_t[]){b, FLAT});

    *rep = mtl_relu(g, mtl_linear_forward(g, &m->fc, flat));
    for (int t = 0; t < 2; t++)
        logits[t] = mtl_linear_forward(g, &m->head[t], *rep);
}
