/*
 * 2-D convolution as im2col and matrix products (mtl_conv2d, mtl/conv.h).
 *
 * With K = c kh kw and the im2col matrix C [K, oh ow] of one sample, the
 * output of that sample is Y = W C (W viewed as [out, K]), and the backward
 * pass is dW += dY C^T and dC = W^T dY, folded back into dx by col2im.
 *
 * The columns are processed in blocks of about CONV_BLOCK_BYTES of im2col
 * matrix, so that the block is still in cache when the product reads it
 * and the scratch stays small (a 3 x 3 convolution of 64 channels at
 * 288 x 384 would otherwise need a 255 MB matrix per sample), but of at
 * least CONV_MIN_COLUMNS columns, so that a product with many rows (512
 * channels: K = 4,608) does not repack W for a thin slice of columns.
 * Both were tuned on SegNet's layers (2 MiB and 512: 140-190 GFLOP/s per
 * core with OpenBLAS's AVX-512 kernels, against 120-140 for 2 MiB alone).
 * Large images take blocks of columns of one sample, and the product writes
 * straight into the output; small images (Multi-Fashion's 28 x 28) group
 * whole samples side by side into one wider product, whose result is then
 * copied to the samples' places.  A 1 x 1 convolution with stride 1 and no
 * padding needs no im2col: the input is its own matrix.
 */
#include "conv_internal.h"

/*
 * Bytes of im2col matrix per block (a core's L2), and the fewest columns of a
 * block.
 */
#define CONV_BLOCK_BYTES (2u * 1024u * 1024u)
#define CONV_MIN_COLUMNS 512

enum { IN_X = 0, IN_W, IN_B, N_IN };

typedef struct conv_plan {
    mtl_conv_geom geo;
    int64_t n, out, k, ohw;
    int64_t cols;  /* columns per block of one sample (group == 1) */
    int64_t group; /* samples per block: > 1 only for small images */
    int direct;    /* 1 x 1, stride 1, no padding */
} conv_plan;

static conv_plan plan_of(const mtl_tensor *x, const mtl_tensor *w, int64_t stride, int64_t pad)
{
    conv_plan p;
    int64_t block;

    p.geo.c = x->shape[1];
    p.geo.h = x->shape[2];
    p.geo.w = x->shape[3];
    p.geo.kh = w->shape[2];
    p.geo.kw = w->shape[3];
    p.geo.stride = stride;
    p.geo.pad = pad;
    p.geo.oh = (p.geo.h + 2 * pad - p.geo.kh) / stride + 1;
    p.geo.ow = (p.geo.w + 2 * pad - p.geo.kw) / stride + 1;
    p.n = x->shape[0];
    p.out = w->shape[0];
    p.k = p.geo.c * p.geo.kh * p.geo.kw;
    p.ohw = p.geo.oh * p.geo.ow;
    p.direct = p.geo.kh == 1 && p.geo.kw == 1 && stride == 1 && pad == 0;

    block = (int64_t)CONV_BLOCK_BYTES / (p.k * (int64_t)sizeof(float));
    if (block < CONV_MIN_COLUMNS)
        block = CONV_MIN_COLUMNS;
    p.group = 1;
    p.cols = p.direct ? p.ohw : (block < p.ohw ? block : p.ohw);
    if (p.ohw < block && p.n > 1) {
        p.group = block / p.ohw;
        if (p.group > p.n)
            p.group = p.n;
    }
    return p;
}

/* ---- forward ------------------------------------------------------------- */

/* Blocks of columns of one sample; the product writes into y directly. */
static void forward_columns(mtl_graph *g, const conv_plan *p, const float *x, const float *w,
                            float *y, float *col)
{
    const mtl_backend *be = g->be;

    for (int64_t i = 0; i < p->n; i++) {
        const float *xi = x + i * p->geo.c * p->geo.h * p->geo.w;
        float *yi = y + i * p->out * p->ohw;

        for (int64_t j0 = 0; j0 < p->ohw; j0 += p->cols) {
            int64_t nc = p->ohw - j0 < p->cols ? p->ohw - j0 : p->cols;

            if (p->direct) {
                be->gemm(0, 0, p->out, nc, p->k, 1.0f, w, p->k, xi + j0, p->ohw, 0.0f, yi + j0,
                         p->ohw);
            } else {
                be->conv->im2col(&p->geo, xi, j0, nc, col, nc);
                be->gemm(0, 0, p->out, nc, p->k, 1.0f, w, p->k, col, nc, 0.0f, yi + j0, p->ohw);
            }
        }
    }
}

/*
 * Groups of whole samples side by side: one wider product, then a copy per
 * sample.
 */
static void forward_groups(mtl_graph *g, const conv_plan *p, const float *x, const float *w,
                           float *y, float *col, float *tmp)
{
    const mtl_backend *be = g->be;
    int64_t in_size = p->geo.c * p->geo.h * p->geo.w;

    for (int64_t i0 = 0; i0 < p->n; i0 += p->group) {
        int64_t nb = p->n - i0 < p->group ? p->n - i0 : p->group;
        int64_t width = nb * p->ohw;

        for (int64_t s = 0; s < nb; s++)
            be->conv->im2col(&p->geo, x + (i0 + s) * in_size, 0, p->ohw, col + s * p->ohw, width);
        be->gemm(0, 0, p->out, width, p->k, 1.0f, w, p->k, col, width, 0.0f, tmp, width);
        for (int64_t s = 0; s < nb; s++)
            be->conv->copy_block(p->out, p->ohw, tmp + s * p->ohw, width,
                                 y + (i0 + s) * p->out * p->ohw, p->ohw, 0);
    }
}

/* The output values; scratch is returned to the arena. */
static int conv_compute(mtl_graph *g, const conv_plan *p, const float *x, const float *w,
                        const float *b, float *y)
{
    mtl_arena_mark mark = mtl_arena_get_mark(&g->data);
    float *col = NULL, *tmp = NULL;

    if (p->group > 1) {
        col = conv_scratch(g, p->k * p->group * p->ohw);
        tmp = conv_scratch(g, p->out * p->group * p->ohw);
    } else if (!p->direct) {
        col = conv_scratch(g, p->k * p->cols);
    }
    if ((p->group > 1 || !p->direct) && (!col || (p->group > 1 && !tmp))) {
        mtl_arena_release(&g->data, mark);
        mtl_graph_fail(g, MTL_ERR_NOMEM, "conv: mtl_conv2d: out of memory for im2col");
        return 0;
    }

    if (p->group > 1)
        forward_groups(g, p, x, w, y, col, tmp);
    else
        forward_columns(g, p, x, w, y, col);
    if (b)
        g->be->conv->add_channel_bias(p->n, p->out, p->ohw, y, b, y);
    mtl_arena_release(&g->data, mark);
    return 1;
}

/* ---- backward ------------------------------------------------------------ */

typedef struct conv_grads {
    float *dx, *dw; /* either may be NULL */
} conv_grads;

static void backward_columns(mtl_graph *g, const conv_plan *p, const float *x, const float *w,
                             const float *dy, const conv_grads *d, float *col, float *dcol)
{
    const mtl_backend *be = g->be;
    int64_t in_size = p->geo.c * p->geo.h * p->geo.w;

    for (int64_t i = 0; i < p->n; i++) {
        const float *xi = x + i * in_size, *dyi = dy + i * p->out * p->ohw;
        float *dxi = d->dx ? d->dx + i * in_size : NULL;

        for (int64_t j0 = 0; j0 < p->ohw; j0 += p->cols) {
            int64_t nc = p->ohw - j0 < p->cols ? p->ohw - j0 : p->cols;

            if (p->direct) {
                /* dW += dY X^T and dX += W^T dY, with no im2col */
                if (d->dw)
                    be->gemm(0, 1, p->out, p->k, nc, 1.0f, dyi + j0, p->ohw, xi + j0, p->ohw, 1.0f,
                             d->dw, p->k);
                if (dxi)
                    be->gemm(1, 0, p->k, nc, p->out, 1.0f, w, p->k, dyi + j0, p->ohw, 1.0f,
                             dxi + j0, p->ohw);
                continue;
            }
            if (d->dw) {
                be->conv->im2col(&p->geo, xi, j0, nc, col, nc);
                be->gemm(0, 1, p->out, p->k, nc, 1.0f, dyi + j0, p->ohw, col, nc, 1.0f, d->dw,
                         p->k);
            }
            if (dxi) {
                be->gemm(1, 0, p->k, nc, p->out, 1.0f, w, p->k, dyi + j0, p->ohw, 0.0f, dcol, nc);
                be->conv->col2im(&p->geo, dcol, nc, j0, nc, dxi);
            }
        }
    }
}

static void backward_groups(mtl_graph *g, const conv_plan *p, const float *x, const float *w,
                            const float *dy, const conv_grads *d, float *col, float *dcol,
                            float *dyt)
{
    const mtl_backend *be = g->be;
    int64_t in_size = p->geo.c * p->geo.h * p->geo.w;

    for (int64_t i0 = 0; i0 < p->n; i0 += p->group) {
        int64_t nb = p->n - i0 < p->group ? p->n - i0 : p->group;
        int64_t width = nb * p->ohw;

        /*
         * The group's output gradients side by side, as the forward's product
         * made them.
         */
        for (int64_t s = 0; s < nb; s++)
            be->conv->copy_block(p->out, p->ohw, dy + (i0 + s) * p->out * p->ohw, p->ohw,
                                 dyt + s * p->ohw, width, 0);
        if (d->dw) {
            for (int64_t s = 0; s < nb; s++)
                be->conv->im2col(&p->geo, x + (i0 + s) * in_size, 0, p->ohw, col + s * p->ohw,
                                 width);
            be->gemm(0, 1, p->out, p->k, width, 1.0f, dyt, width, col, width, 1.0f, d->dw, p->k);
        }
        if (d->dx) {
            be->gemm(1, 0, p->k, width, p->out, 1.0f, w, p->k, dyt, width, 0.0f, dcol, width);
            for (int64_t s = 0; s < nb; s++)
                be->conv->col2im(&p->geo, dcol + s * p->ohw, width, 0, p->ohw,
                                 d->dx + (i0 + s) * in_size);
        }
    }
}

static void conv2d_backward(mtl_graph *g, const mtl_node *node, const float *dy)
{
    mtl_tensor *x = node->in[IN_X], *w = node->in[IN_W], *b = node->in[IN_B];
    conv_plan p = plan_of(x, w, node->index, (int64_t)node->p0);
    conv_grads d = {conv_grad(g, x), conv_grad(g, w)};
    float *db = conv_grad(g, b);
    mtl_arena_mark mark;
    float *col = NULL, *dcol = NULL, *dyt = NULL;
    int64_t width = p.group > 1 ? p.group * p.ohw : p.cols;

    /* Accumulators first: they must outlive the scratch released below. */
    if (db)
        g->be->conv->channel_sum(p.n, p.out, p.ohw, dy, db);
    if (!d.dx && !d.dw)
        return;

    mark = mtl_arena_get_mark(&g->data);
    if (p.group > 1 || !p.direct) {
        col = d.dw ? conv_scratch(g, p.k * width) : NULL;
        dcol = d.dx ? conv_scratch(g, p.k * width) : NULL;
        dyt = p.group > 1 ? conv_scratch(g, p.out * width) : NULL;
        if ((d.dw && !col) || (d.dx && !dcol) || (p.group > 1 && !dyt)) {
            g->backward_nomem = 1;
            mtl_arena_release(&g->data, mark);
            return;
        }
    }
    if (p.group > 1)
        backward_groups(g, &p, x->data, w->data, dy, &d, col, dcol, dyt);
    else
        backward_columns(g, &p, x->data, w->data, dy, &d, col, dcol);
    mtl_arena_release(&g->data, mark);
}

/* ---- front end ----------------------------------------------------------- */

static int conv2d_check(mtl_graph *g, const mtl_tensor *x, const mtl_tensor *w, const mtl_tensor *b,
                        int stride, int padding)
{
    static const char op[] = "mtl_conv2d";
    char got[128];

    if (!conv_check_image(g, op, "input", x, 0))
        return 0;
    if (w->ndim != 4 || w->shape[1] != x->shape[1]) {
        mtl_shape_format(w, got, sizeof got);
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: weight has shape %s (expected [out, %lld, kh, kw])", op, got,
                       (long long)x->shape[1]);
        return 0;
    }
    if (b && !conv_check_vector(g, op, "bias", b, w->shape[0]))
        return 0;
    if (stride < 1 || padding < 0) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: bad stride or padding (expected stride >= 1 and padding >= 0, "
                       "got %d and %d)",
                       op, stride, padding);
        return 0;
    }
    if (x->shape[2] + 2 * (int64_t)padding < w->shape[2] ||
        x->shape[3] + 2 * (int64_t)padding < w->shape[3]) {
        mtl_graph_fail(g, MTL_ERR_INVALID,
                       "conv: %s: kernel larger than the padded input (expected at most %lld x "
                       "%lld, got %lld x %lld)",
                       op, (long long)(x->shape[2] + 2 * padding),
                       (long long)(x->shape[3] + 2 * padding), (long long)w->shape[2],
                       (long long)w->shape[3]);
        return 0;
    }
    return 1;
}

mtl_tensor *mtl_conv2d(mtl_graph *g, mtl_tensor *x, mtl_tensor *w, mtl_tensor *b, int stride,
                       int padding)
{
    mtl_tensor *ops[N_IN] = {x, w, b};
    int64_t shape[4];
    conv_plan p;
    mtl_tensor *y;
    mtl_node *node;

    if (!conv_operands_ok(g, "mtl_conv2d", 2, ops) || !conv2d_check(g, x, w, b, stride, padding))
        return NULL;
    p = plan_of(x, w, stride, padding);
    shape[0] = p.n;
    shape[1] = p.out;
    shape[2] = p.geo.oh;
    shape[3] = p.geo.ow;
    y = conv_result(g, 4, shape);
    if (!y || !conv_compute(g, &p, x->data, w->data, b ? b->data : NULL, y->data))
        return NULL;

    if (conv_needs_grad(g, N_IN, ops)) {
        node = mtl_graph_record(g, conv2d_backward, y, N_IN);
        if (!node)
            return NULL;
        for (int i = 0; i < N_IN; i++)
            node->in[i] = ops[i];
        node->index = stride;
        node->p0 = (float)padding;
    }
    return y;
}
