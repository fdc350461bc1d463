/*
 * model.c - SegNet-MTAN (Liu et al., "End-to-End Multi-Task Learning with
 * Attention", CVPR 2019) and the split SegNet, as the Nash-MTL code builds
 * them (experiments/nyuv2/models.py: _SegNet and SegNetSplit "standard").
 *
 * The shared SegNet, widths f = 64, 128, 256, 512, 512, every block a
 * 3 x 3 conv + batch norm + ReLU:
 *
 *   encoder stage i:  encoder_block[i] (f[i-1] -> f[i], 3 -> 64 first), then
 *                     conv_block_enc[i]: one block at stages 0 and 1, two at
 *                     2, 3, 4 (VGG-16's 2, 2, 3, 3, 3 convolutions), then
 *                     2 x 2 max pooling with indices;
 *   decoder stage i:  max unpooling with the indices of encoder stage 4 - i,
 *                     decoder_block[4 - i] (f[4-i] -> f[3-i], 64 -> 64 last),
 *                     conv_block_dec[4 - i] (two blocks, one at the last two).
 *
 * MTAN adds, for each task t, attention modules (1 x 1 conv + BN + ReLU,
 * 1 x 1 conv + BN + sigmoid) that mask the shared features of every stage:
 *
 *   encoder:  mask = encoder_att[t][j](stage j's first output, concatenated
 *             from j = 1 on with the previous attended features), times the
 *             stage's last output, through encoder_block_att[j] (a conv block
 *             shared by the tasks), then 2 x 2 max pooling;
 *   decoder:  the previous attended features upsampled 2x (bilinear, aligned
 *             corners), through decoder_block_att[4 - j], concatenated with
 *             the unpooled shared features, decoder_att[t][4 - j] gives the
 *             mask of the stage's last output.
 *
 * Heads (task-specific): 3 x 3 conv 64 -> 64, then 1 x 1 conv to 13, 1 or 3
 * channels, both with bias, no normalisation or activation between them;
 * segmentation takes a log-softmax, normals are L2-normalised per pixel.
 *
 * Roles, as the reference's shared_parameters(): everything but the heads
 * is shared, the attention modules included.  The last shared layer is
 * conv_block_dec[0] (the shared decoder's last conv block, the split
 * SegNet's last_shared_parameters() in the reference; the reference gives
 * none for MTAN) and the shared representation is its output, which every
 * task's branch reads (the split SegNet's representation in the reference).
 */
#include <stdio.h>
#include <string.h>

#include "nyuv2.h"

/* Parameter names: a prefix of at most NYU_PREFIX bytes and a short suffix. */
#define NYU_PREFIX 96
#define NYU_NAME   (NYU_PREFIX + 32)

static const int nyu_filters[NYU_STAGES] = {64, 128, 256, 512, 512};
static const int nyu_head_channels[NYU_N_TASKS] = {NYU_N_CLASSES, 1, 3};

/* conv_block_enc[i] runs at f[i]; conv_block_dec[i] at f[i - 1] (64 at 0). */
static int enc_conv_width(int i)
{
    return nyu_filters[i];
}

static int dec_conv_width(int i)
{
    return i == 0 ? nyu_filters[0] : nyu_filters[i - 1];
}

static int n_stage_convs(int i)
{
    return i < 2 ? 1 : 2;
}

/* ---- building ---------------------------------------------------------- */

typedef struct builder {
    mtl_model *model;
    mtl_rng *rng;
    mtl_status st;
} builder;

static void conv_init(builder *b, mtl_conv2d_layer *l, const char *name, mtl_role role, int task,
                      unsigned flags, int in, int out, int kernel)
{
    if (b->st != MTL_OK)
        return;
    b->st = mtl_conv2d_layer_init(l, b->model, name, role, task, flags, in, out, kernel, 1,
                                  kernel / 2, MTL_CONV_INIT_XAVIER_NORMAL, b->rng);
}

static void bn_init(builder *b, mtl_batch_norm2d_layer *l, const char *name, unsigned flags,
                    int channels)
{
    if (b->st != MTL_OK)
        return;
    b->st = mtl_batch_norm2d_layer_init(l, b->model, name, MTL_ROLE_SHARED, -1, flags, channels);
}

/* conv_layer: "<prefix>.0" the conv, "<prefix>.1" the batch norm. */
static void block_init(builder *b, nyu_conv_block *blk, const char *prefix, unsigned flags, int in,
                       int out)
{
    char name[NYU_NAME];

    snprintf(name, sizeof name, "%s.0", prefix);
    conv_init(b, &blk->conv, name, MTL_ROLE_SHARED, -1, flags, in, out, 3);
    snprintf(name, sizeof name, "%s.1", prefix);
    bn_init(b, &blk->bn, name, flags, out);
}

/* att_layer: Sequential(conv 1x1, BN, ReLU, conv 1x1, BN, Sigmoid): .0 .1 .3 .4 */
static void att_init(builder *b, nyu_att_block *att, const char *prefix, int in, int mid, int out)
{
    char name[NYU_NAME];

    snprintf(name, sizeof name, "%s.0", prefix);
    conv_init(b, &att->conv1, name, MTL_ROLE_SHARED, -1, 0, in, mid, 1);
    snprintf(name, sizeof name, "%s.1", prefix);
    bn_init(b, &att->bn1, name, 0, mid);
    snprintf(name, sizeof name, "%s.3", prefix);
    conv_init(b, &att->conv2, name, MTL_ROLE_SHARED, -1, 0, mid, out, 1);
    snprintf(name, sizeof name, "%s.4", prefix);
    bn_init(b, &att->bn2, name, 0, out);
}

/* encoder_block, decoder_block, conv_block_enc, conv_block_dec, in PyTorch's order. */
static void build_segnet(builder *b, nyu_net *net)
{
    char name[NYU_PREFIX];

    for (int i = 0; i < NYU_STAGES; i++) {
        snprintf(name, sizeof name, "segnet.encoder_block.%d", i);
        block_init(b, &net->enc[i], name, 0, i == 0 ? 3 : nyu_filters[i - 1], nyu_filters[i]);
    }
    for (int i = 0; i < NYU_STAGES; i++) {
        snprintf(name, sizeof name, "segnet.decoder_block.%d", i);
        block_init(b, &net->dec[i], name, 0, nyu_filters[i], i == 0 ? 64 : nyu_filters[i - 1]);
    }
    for (int i = 0; i < NYU_STAGES; i++) {
        int c = enc_conv_width(i);

        net->n_enc_conv[i] = n_stage_convs(i);
        for (int k = 0; k < net->n_enc_conv[i]; k++) {
            if (net->n_enc_conv[i] == 1)
                snprintf(name, sizeof name, "segnet.conv_block_enc.%d", i);
            else
                snprintf(name, sizeof name, "segnet.conv_block_enc.%d.%d", i, k);
            block_init(b, &net->enc_conv[i][k], name, 0, c, c);
        }
    }
    for (int i = 0; i < NYU_STAGES; i++) {
        int c = dec_conv_width(i);
        /* conv_block_dec[0] ends the shared trunk: the last shared layer. */
        unsigned flags = i == 0 ? MTL_PARAM_LAST_SHARED : 0;

        net->n_dec_conv[i] = n_stage_convs(i);
        for (int k = 0; k < net->n_dec_conv[i]; k++) {
            if (net->n_dec_conv[i] == 1)
                snprintf(name, sizeof name, "segnet.conv_block_dec.%d", i);
            else
                snprintf(name, sizeof name, "segnet.conv_block_dec.%d.%d", i, k);
            block_init(b, &net->dec_conv[i][k], name, flags, c, c);
        }
    }
}

/* encoder_att, decoder_att, encoder_block_att, decoder_block_att. */
static void build_attention(builder *b, nyu_net *net)
{
    static const int enc_att_out[NYU_STAGES] = {128, 256, 512, 512, 512};
    static const int dec_att_out[NYU_STAGES] = {64, 64, 128, 256, 512};
    const int *f = nyu_filters;
    char name[NYU_PREFIX];

    for (int t = 0; t < NYU_N_TASKS; t++) {
        for (int j = 0; j < NYU_STAGES; j++) {
            int in = j == 0 ? f[0] : 2 * f[j];
            snprintf(name, sizeof name, "segnet.encoder_att.%d.%d", t, j);
            att_init(b, &net->enc_att[t][j], name, in, f[j], f[j]);
        }
    }
    for (int t = 0; t < NYU_N_TASKS; t++) {
        for (int j = 0; j < NYU_STAGES; j++) {
            int in = j == 0 ? 2 * f[0] : f[j] + f[j - 1];
            int out = j == 0 ? f[0] : f[j - 1];
            snprintf(name, sizeof name, "segnet.decoder_att.%d.%d", t, j);
            att_init(b, &net->dec_att[t][j], name, in, out, out);
        }
    }
    for (int j = 0; j < NYU_STAGES; j++) {
        snprintf(name, sizeof name, "segnet.encoder_block_att.%d", j);
        block_init(b, &net->enc_block_att[j], name, 0, f[j], enc_att_out[j]);
    }
    for (int j = 0; j < NYU_STAGES; j++) {
        snprintf(name, sizeof name, "segnet.decoder_block_att.%d", j);
        block_init(b, &net->dec_block_att[j], name, 0, j == 4 ? f[4] : f[j], dec_att_out[j]);
    }
}

/* pred_task1..3: the only task-specific parameters. */
static void build_heads(builder *b, nyu_net *net)
{
    char name[NYU_PREFIX];

    for (int t = 0; t < NYU_N_TASKS; t++) {
        snprintf(name, sizeof name, "segnet.pred_task%d.0", t + 1);
        conv_init(b, &net->heads[t].conv1, name, MTL_ROLE_TASK, t, 0, 64, 64, 3);
        snprintf(name, sizeof name, "segnet.pred_task%d.1", t + 1);
        conv_init(b, &net->heads[t].conv2, name, MTL_ROLE_TASK, t, 0, 64, nyu_head_channels[t], 1);
    }
}

mtl_status nyu_net_create(nyu_net *net, nyu_arch arch, mtl_rng *rng)
{
    builder b = {NULL, rng, MTL_OK};

    memset(net, 0, sizeof *net);
    net->arch = arch;
    b.st = mtl_model_create(&net->model);
    b.model = net->model;
    build_segnet(&b, net);
    if (arch == NYU_ARCH_MTAN)
        build_attention(&b, net);
    build_heads(&b, net);
    if (b.st != MTL_OK) {
        mtl_status st = mtl_error_wrap(b.st, "model");
        nyu_net_destroy(net);
        return st;
    }
    return MTL_OK;
}

void nyu_net_destroy(nyu_net *net)
{
    mtl_model_destroy(net->model);
    memset(net, 0, sizeof *net);
}

/* ---- re-initialising (a new trial) ------------------------------------- */

static void block_reset(builder *b, nyu_conv_block *blk)
{
    if (b->st == MTL_OK)
        b->st = mtl_conv2d_layer_reset(&blk->conv, MTL_CONV_INIT_XAVIER_NORMAL, b->rng);
    if (b->st == MTL_OK)
        b->st = mtl_batch_norm2d_layer_reset(&blk->bn);
}

static void att_reset(builder *b, nyu_att_block *att)
{
    if (b->st == MTL_OK)
        b->st = mtl_conv2d_layer_reset(&att->conv1, MTL_CONV_INIT_XAVIER_NORMAL, b->rng);
    if (b->st == MTL_OK)
        b->st = mtl_batch_norm2d_layer_reset(&att->bn1);
    if (b->st == MTL_OK)
        b->st = mtl_conv2d_layer_reset(&att->conv2, MTL_CONV_INIT_XAVIER_NORMAL, b->rng);
    if (b->st == MTL_OK)
        b->st = mtl_batch_norm2d_layer_reset(&att->bn2);
}

/* The same order as creation, so a trial draws what create() would draw. */
mtl_status nyu_net_reset(nyu_net *net, mtl_rng *rng)
{
    builder b = {net->model, rng, MTL_OK};

    for (int i = 0; i < NYU_STAGES; i++)
        block_reset(&b, &net->enc[i]);
    for (int i = 0; i < NYU_STAGES; i++)
        block_reset(&b, &net->dec[i]);
    for (int i = 0; i < NYU_STAGES; i++)
        for (int k = 0; k < net->n_enc_conv[i]; k++)
            block_reset(&b, &net->enc_conv[i][k]);
    for (int i = 0; i < NYU_STAGES; i++)
        for (int k = 0; k < net->n_dec_conv[i]; k++)
            block_reset(&b, &net->dec_conv[i][k]);
    if (net->arch == NYU_ARCH_MTAN) {
        for (int t = 0; t < NYU_N_TASKS; t++)
            for (int j = 0; j < NYU_STAGES; j++)
                att_reset(&b, &net->enc_att[t][j]);
        for (int t = 0; t < NYU_N_TASKS; t++)
            for (int j = 0; j < NYU_STAGES; j++)
                att_reset(&b, &net->dec_att[t][j]);
        for (int j = 0; j < NYU_STAGES; j++)
            block_reset(&b, &net->enc_block_att[j]);
        for (int j = 0; j < NYU_STAGES; j++)
            block_reset(&b, &net->dec_block_att[j]);
    }
    for (int t = 0; t < NYU_N_TASKS && b.st == MTL_OK; t++) {
        b.st = mtl_conv2d_layer_reset(&net->heads[t].conv1, MTL_CONV_INIT_XAVIER_NORMAL, rng);
        if (b.st == MTL_OK)
            b.st = mtl_conv2d_layer_reset(&net->heads[t].conv2, MTL_CONV_INIT_XAVIER_NORMAL, rng);
    }
    return b.st;
}

/* ---- forward ----------------------------------------------------------- */

/*
 * Batch norm and its activation run as one op (mtl_batch_norm2d_act): the
 * same values and gradients, without keeping the normalised image, so a
 * block keeps two images as PyTorch's in-place ReLU does.
 */
static mtl_tensor *block_forward(mtl_graph *g, const nyu_conv_block *blk, mtl_tensor *x,
                                 int training)
{
    mtl_tensor *y = mtl_conv2d_layer_forward(g, &blk->conv, x);

    return mtl_batch_norm2d_layer_forward_act(g, &blk->bn, y, training, MTL_ACT_RELU);
}

/*
 * An attention module on the channel concatenation of its n inputs: its
 * first convolution is 1 x 1 and reads them in place
 * (mtl_conv2d_layer_forward_concat), so the concatenation and its gradient
 * are never stored.
 */
static mtl_tensor *att_forward(mtl_graph *g, const nyu_att_block *att, int n, mtl_tensor *const *xs,
                               int training)
{
    mtl_tensor *h = mtl_conv2d_layer_forward_concat(g, &att->conv1, n, xs);

    h = mtl_batch_norm2d_layer_forward_act(g, &att->bn1, h, training, MTL_ACT_RELU);
    h = mtl_conv2d_layer_forward(g, &att->conv2, h);
    return mtl_batch_norm2d_layer_forward_act(g, &att->bn2, h, training, MTL_ACT_SIGMOID);
}

/* What the shared SegNet computes, kept for the attention branches. */
typedef struct trunk {
    mtl_tensor *enc_first[NYU_STAGES]; /* g_encoder[i][0] */
    mtl_tensor *enc_last[NYU_STAGES];  /* g_encoder[i][1] */
    mtl_tensor *up[NYU_STAGES];        /* g_upsampl[i] */
    mtl_tensor *dec_last[NYU_STAGES];  /* g_decoder[i][1] */
} trunk;

static void trunk_forward(mtl_graph *g, const nyu_net *net, mtl_tensor *x, int training, trunk *tr)
{
    mtl_pool_indices *idx[NYU_STAGES] = {NULL};
    mtl_tensor *h = x;

    for (int i = 0; i < NYU_STAGES; i++) {
        h = block_forward(g, &net->enc[i], h, training);
        tr->enc_first[i] = h;
        for (int k = 0; k < net->n_enc_conv[i]; k++)
            h = block_forward(g, &net->enc_conv[i][k], h, training);
        tr->enc_last[i] = h;
        h = mtl_max_pool2d(g, h, &idx[i]);
    }
    for (int i = 0; i < NYU_STAGES; i++) {
        int s = NYU_STAGES - 1 - i;

        h = mtl_max_unpool2d(g, h, idx[s]);
        tr->up[i] = h;
        h = block_forward(g, &net->dec[s], h, training);
        for (int k = 0; k < net->n_dec_conv[s]; k++)
            h = block_forward(g, &net->dec_conv[s][k], h, training);
        tr->dec_last[i] = h;
    }
}

/* The attended features of task t at full resolution (atten_decoder[t][-1][-1]). */
static mtl_tensor *attention_forward(mtl_graph *g, const nyu_net *net, const trunk *tr, int t,
                                     int training)
{
    mtl_tensor *a = NULL;

    for (int j = 0; j < NYU_STAGES; j++) {
        mtl_tensor *in[2] = {tr->enc_first[j], a};
        mtl_tensor *mask = att_forward(g, &net->enc_att[t][j], j == 0 ? 1 : 2, in, training);

        a = mtl_mul(g, mask, tr->enc_last[j]);
        a = block_forward(g, &net->enc_block_att[j], a, training);
        a = mtl_max_pool2d(g, a, NULL);
    }
    for (int j = 0; j < NYU_STAGES; j++) {
        int s = NYU_STAGES - 1 - j;
        mtl_tensor *in[2], *mask;

        a = mtl_resize_bilinear(g, a, 2 * mtl_tensor_dim(a, 2), 2 * mtl_tensor_dim(a, 3));
        a = block_forward(g, &net->dec_block_att[s], a, training);
        in[0] = tr->up[j];
        in[1] = a;
        mask = att_forward(g, &net->dec_att[t][s], 2, in, training);
        a = mtl_mul(g, mask, tr->dec_last[j]);
    }
    return a;
}

static mtl_tensor *head_forward(mtl_graph *g, const nyu_head *head, mtl_tensor *x)
{
    return mtl_conv2d_layer_forward(g, &head->conv2, mtl_conv2d_layer_forward(g, &head->conv1, x));
}

void nyu_net_forward(mtl_graph *g, const nyu_net *net, mtl_tensor *x, int training, nyu_pred *out)
{
    mtl_tensor *features[NYU_N_TASKS];
    trunk tr;

    memset(&tr, 0, sizeof tr);
    trunk_forward(g, net, x, training, &tr);
    out->rep = tr.dec_last[NYU_STAGES - 1];
    for (int t = 0; t < NYU_N_TASKS; t++)
        features[t] =
            net->arch == NYU_ARCH_MTAN ? attention_forward(g, net, &tr, t, training) : out->rep;

    out->logp = mtl_log_softmax(g, head_forward(g, &net->heads[0], features[0]));
    out->depth = head_forward(g, &net->heads[1], features[1]);
    out->normal = mtl_l2_normalize(g, head_forward(g, &net->heads[2], features[2]));
}
