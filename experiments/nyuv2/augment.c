/*
 * augment.c - resizing and the training augmentation of NYUv2, on plain
 * float arrays (data preparation: no graph, no gradient).
 *
 * The augmentation is the reference's (Nash-MTL experiments/nyuv2/data.py,
 * from CAGrad, after MTAN issue 34): RandomScaleCrop with scales 1.0, 1.2
 * and 1.5, then a horizontal flip with probability 0.5.  Both resizes
 * follow PyTorch 1.13's CPU kernels of F.interpolate in float32, so a
 * scene augmented here matches the reference's to rounding
 * (tests/nyuv2/augment_fixture.txt, written by tools/make_nyuv2_sample.py).
 */
#include <math.h>
#include <string.h>

#include "nyuv2.h"

static const double nyu_scales[3] = {1.0, 1.2, 1.5};

/* Source index and weight of output position i (align_corners=True). */
static void linear_index(int64_t i, float scale, int64_t in, int64_t *i0, int64_t *i1, float *l1)
{
    float real = scale * (float)i;
    int64_t lo = (int64_t)real;

    *i0 = lo;
    *i1 = lo + (lo < in - 1 ? 1 : 0);
    *l1 = fminf(fmaxf(real - (float)lo, 0.0f), 1.0f);
}

void nyu_resize_bilinear(int64_t planes, const float *src, int64_t ih, int64_t iw, int64_t istride,
                         int64_t iplane, float *dst, int64_t oh, int64_t ow)
{
    float sh = oh > 1 ? (float)(ih - 1) / (float)(oh - 1) : 0.0f;
    float sw = ow > 1 ? (float)(iw - 1) / (float)(ow - 1) : 0.0f;

    for (int64_t p = 0; p < planes; p++) {
        const float *in = src + p * iplane;
        float *out = dst + p * oh * ow;

        for (int64_t y = 0; y < oh; y++) {
            int64_t y0, y1;
            float hl1, hl0;

            linear_index(y, sh, ih, &y0, &y1, &hl1);
            hl0 = 1.0f - hl1;
            for (int64_t x = 0; x < ow; x++) {
                int64_t x0, x1;
                float wl1, wl0;

                linear_index(x, sw, iw, &x0, &x1, &wl1);
                wl0 = 1.0f - wl1;
                out[y * ow + x] =
                    hl0 * (wl0 * in[y0 * istride + x0] + wl1 * in[y0 * istride + x1]) +
                    hl1 * (wl0 * in[y1 * istride + x0] + wl1 * in[y1 * istride + x1]);
            }
        }
    }
}

/* PyTorch's nearest_idx: identity, halving, or floor(i * (in / out)) in float32. */
static int64_t nearest_index(int64_t i, int64_t in, int64_t out)
{
    float scale;
    int64_t src;

    if (out == in)
        return i;
    if (out == 2 * in)
        return i >> 1;
    scale = (float)in / (float)out;
    src = (int64_t)floorf((float)i * scale);
    return src < in - 1 ? src : in - 1;
}

void nyu_resize_nearest(int64_t planes, const float *src, int64_t ih, int64_t iw, int64_t istride,
                        int64_t iplane, float *dst, int64_t oh, int64_t ow)
{
    for (int64_t p = 0; p < planes; p++) {
        const float *in = src + p * iplane;
        float *out = dst + p * oh * ow;

        for (int64_t y = 0; y < oh; y++) {
            const float *row = in + nearest_index(y, ih, oh) * istride;

            for (int64_t x = 0; x < ow; x++)
                out[y * ow + x] = row[nearest_index(x, iw, ow)];
        }
    }
}

void nyu_scene_resize(const nyu_scene *s, nyu_scene *out)
{
    int64_t hw = s->h * s->w;

    nyu_resize_bilinear(3, s->image, s->h, s->w, s->w, hw, out->image, out->h, out->w);
    nyu_resize_nearest(1, s->label, s->h, s->w, s->w, hw, out->label, out->h, out->w);
    nyu_resize_nearest(1, s->depth, s->h, s->w, s->w, hw, out->depth, out->h, out->w);
    nyu_resize_bilinear(3, s->normal, s->h, s->w, s->w, hw, out->normal, out->h, out->w);
}

void nyu_augment_draw_random(mtl_rng *rng, int64_t h, int64_t w, nyu_augment_draw *d)
{
    d->scale = nyu_scales[mtl_rng_below(rng, 3)];
    /* int(height / sc) of the reference: a double division, truncated. */
    d->ch = (int64_t)((double)h / d->scale);
    d->cw = (int64_t)((double)w / d->scale);
    d->top = (int64_t)mtl_rng_below(rng, (uint64_t)(h - d->ch + 1));
    d->left = (int64_t)mtl_rng_below(rng, (uint64_t)(w - d->cw + 1));
    d->flip = mtl_rng_uniform(rng) < 0.5;
}

/* Reverses every row of `planes` planes of h x w. */
static void flip_rows(int64_t planes, int64_t h, int64_t w, float *x)
{
    for (int64_t r = 0; r < planes * h; r++) {
        float *row = x + r * w;

        for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}

/* Crops `planes` planes of s's size at the draw's window and resizes back, via tmp. */
static void crop_resize(const nyu_augment_draw *d, int64_t h, int64_t w, int64_t planes, float *x,
                        float *tmp, int bilinear)
{
    const float *corner = x + d->top * w + d->left;

    if (bilinear)
        nyu_resize_bilinear(planes, corner, d->ch, d->cw, w, h * w, tmp, h, w);
    else
        nyu_resize_nearest(planes, corner, d->ch, d->cw, w, h * w, tmp, h, w);
    memcpy(x, tmp, (size_t)(planes * h * w) * sizeof *x);
}

void nyu_augment_apply(const nyu_augment_draw *d, nyu_scene *s, float *tmp)
{
    int64_t h = s->h, w = s->w, hw = h * w;
    float inv = (float)d->scale;

    crop_resize(d, h, w, 3, s->image, tmp, 1);
    crop_resize(d, h, w, 1, s->label, tmp, 0);
    crop_resize(d, h, w, 1, s->depth, tmp, 0);
    crop_resize(d, h, w, 3, s->normal, tmp, 1);
    /* depth_ / sc: a float32 tensor divided by a Python float. */
    for (int64_t i = 0; i < hw; i++)
        s->depth[i] /= inv;

    if (!d->flip)
        return;
    flip_rows(3, h, w, s->image);
    flip_rows(1, h, w, s->label);
    flip_rows(1, h, w, s->depth);
    flip_rows(3, h, w, s->normal);
    for (int64_t i = 0; i < hw; i++)
        s->normal[i] = -s->normal[i];
}
