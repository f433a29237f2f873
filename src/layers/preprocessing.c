/* Image preprocessing and augmentation layers (channels_last, (height, width, channels) per
 * sample): Resizing, CenterCrop, and the random ones RandomFlip, RandomRotation, RandomZoom,
 * RandomTranslation, RandomContrast; at the end Keras 3's RandomCrop, RandomBrightness,
 * RandomHue and RandomSaturation (their semantics are described there).
 *
 * Semantics are tf.keras 2's (TensorFlow kernels):
 *  - Resizing: tf.image.resize without antialiasing, half-pixel centres. Bilinear: source
 *    coordinate (o + 0.5) * in / out - 0.5, corners floor/ceil clamped to the image, weights
 *    from the fractional part. Nearest: min(floor((o + 0.5) * in / out), in - 1).
 *    crop_to_aspect_ratio first crops the centred box of the target aspect ratio (Keras'
 *    smart_resize).
 *  - CenterCrop: the centred window (start (in - out) / 2, rounded down); an input smaller than
 *    the target is resized as Resizing(crop_to_aspect_ratio=True) does.
 *  - Random layers are the identity in inference (predict, evaluate) and random in training
 *    (fit, train_on_batch), drawing from the model's generator (ck_fwd.rng): the "seed" setting
 *    is accepted and ignored. RandomFlip flips each image with probability 1/2 per direction.
 *    RandomRotation, RandomZoom and RandomTranslation map every output pixel (x, y) (column, row)
 *    to a source point by the transforms of Keras' get_rotation_matrix / get_zoom_matrix /
 *    get_translation_matrix and sample it as TensorFlow's ImageProjectiveTransformV3 does
 *    (fill_mode reflect / wrap / nearest / constant with fill_value; bilinear or nearest).
 *    RandomContrast scales each image's deviation from its per-channel mean by a factor drawn
 *    in [1 - lower, 1 + upper] and clips to [0, 255].
 * Ranges: a factor f means [-f, f] (rotation in turns of 2 pi, zoom and translation as fractions
 * of the size); a pair [lower, upper] arrives as "<factor>_lower" and "<factor>".
 *
 * Backward (layers are usually first, when nothing needs it): the transpose of the forward's
 * linear map with the random draws of that forward (a flip is a permutation; an interpolation
 * scatters dy back to the source pixels with the same weights), so gradients are exact for the
 * sampled transform.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}
/* tf.keras 2 refuses data_format on these layers: written for Keras 3 only */
#define DATA_FORMAT_FIELD {"data_format", CK_STR, "channels_last", "channels_last", "only channels_last (NHWC)", CK_W_NO_TF2}
#define SEED_FIELD {"seed", CK_INT, NULL, NULL, "accepted and ignored: the model's generator is used"}
#define FILL_FIELDS                                                                                              \
    {"fill_mode", CK_STR, "reflect", "reflect|wrap|constant|nearest", "how points outside the image are filled"}, \
    {"interpolation", CK_STR, "bilinear", "bilinear|nearest", "bilinear or nearest"},                             \
    {"fill_value", CK_FLOAT, "0", NULL, "value outside the image with fill_mode constant"}

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status need_image(const ckeras_layer *l, const ck_shape *in)
{
    if (in->ndim != 3)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs (height, width, channels) inputs, got rank %d per sample",
                        l->vt->class_name, l->name, in->ndim);
    return CKERAS_OK;
}

static void copy_forward(ckeras_layer *l, const ck_fwd *f)
{
    if (f->y != f->x)
        memcpy(f->y, f->x, (size_t)(f->n * ck_shape_size(&l->in_shape)) * sizeof(float));
}

/* uniform in [lo, hi) */
static double uniform(ck_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ck_rng_uniform(r);
}

/* ---- resampling tables (Resizing, CenterCrop) -------------------------------------------------- */


/* priv of Resizing and CenterCrop: (oh + ow) taps, ys then xs, with the crop offsets applied. */
typedef struct resample {
    bool nearest;
    bool crop;      /* plain crop (CenterCrop with a large enough input) */
    int64_t h0, w0; /* crop offsets */
    ck_tap *ys, *xs;
    ck_tap buf[];
} resample;


/* Builds the taps for resizing (H, W) to (oh, ow), optionally from the centred box of the target's
 * aspect ratio (Keras' smart_resize). */
static ckeras_status make_resample(ckeras_layer *l, int64_t H, int64_t W, int64_t oh, int64_t ow, bool nearest,
                                   bool crop_aspect)
{
    free_priv(l);
    resample *r = ck_calloc(1, sizeof *r + (size_t)(oh + ow) * sizeof(ck_tap));
    if (!r)
        return CKERAS_ENOMEM;
    r->nearest = nearest;
    r->ys = r->buf;
    r->xs = r->buf + oh;
    int64_t ch = H, cw = W, h0 = 0, w0 = 0;
    if (crop_aspect) {
        ch = (int64_t)((float)(W * oh) / (float)ow);
        cw = (int64_t)((float)(H * ow) / (float)oh);
        ch = ch < H ? ch : H;
        cw = cw < W ? cw : W;
        h0 = (int64_t)((float)(H - ch) / 2.0f);
        w0 = (int64_t)((float)(W - cw) / 2.0f);
        if (ch < 1 || cw < 1) {
            ck_free(r);
            return ck_error(CKERAS_ESHAPE, "%s '%s': cannot crop (%lld, %lld) to the aspect ratio of (%lld, %lld)",
                            l->vt->class_name, l->name, (long long)H, (long long)W, (long long)oh, (long long)ow);
        }
    }
    ck_resize_taps(r->ys, oh, ch, h0, nearest);
    ck_resize_taps(r->xs, ow, cw, w0, nearest);
    l->priv = r;
    return CKERAS_OK;
}

/* y (n, oh, ow, C) from x (n, H, W, C) through the taps */
static void resample_forward(ckeras_layer *l, const ck_fwd *f)
{
    const resample *r = l->priv;
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    int64_t oh = l->out_shape.d[0], ow = l->out_shape.d[1];
    for (int64_t s = 0; s < f->n; s++) {
        const float *x = f->x + s * H * W * C;
        float *y = f->y + s * oh * ow * C;
        for (int64_t i = 0; i < oh; i++) {
            const ck_tap *ty = &r->ys[i];
            for (int64_t j = 0; j < ow; j++) {
                const ck_tap *tx = &r->xs[j];
                float *o = y + (i * ow + j) * C;
                if (r->crop) {
                    memcpy(o, x + ((r->h0 + i) * W + r->w0 + j) * C, (size_t)C * sizeof(float));
                    continue;
                }
                const float *tl = x + (ty->lo * W + tx->lo) * C, *tr = x + (ty->lo * W + tx->hi) * C;
                const float *bl = x + (ty->hi * W + tx->lo) * C, *br = x + (ty->hi * W + tx->hi) * C;
                if (r->nearest) {
                    memcpy(o, tl, (size_t)C * sizeof(float));
                    continue;
                }
                for (int64_t c = 0; c < C; c++) {
                    float top = tl[c] + (tr[c] - tl[c]) * tx->lerp;
                    float bot = bl[c] + (br[c] - bl[c]) * tx->lerp;
                    o[c] = top + (bot - top) * ty->lerp;
                }
            }
        }
    }
}

/* dx = the transpose of the resampling applied to dy */
static void resample_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const resample *r = l->priv;
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    int64_t oh = l->out_shape.d[0], ow = l->out_shape.d[1];
    memset(b->dx, 0, (size_t)(b->n * H * W * C) * sizeof(float));
    for (int64_t s = 0; s < b->n; s++) {
        float *dx = b->dx + s * H * W * C;
        const float *dy = b->dy + s * oh * ow * C;
        for (int64_t i = 0; i < oh; i++) {
            const ck_tap *ty = &r->ys[i];
            for (int64_t j = 0; j < ow; j++) {
                const ck_tap *tx = &r->xs[j];
                const float *g = dy + (i * ow + j) * C;
                if (r->crop || r->nearest) {
                    float *d = r->crop ? dx + ((r->h0 + i) * W + r->w0 + j) * C : dx + (ty->lo * W + tx->lo) * C;
                    for (int64_t c = 0; c < C; c++)
                        d[c] += g[c];
                    continue;
                }
                float wy = ty->lerp, wx = tx->lerp;
                float *tl = dx + (ty->lo * W + tx->lo) * C, *tr = dx + (ty->lo * W + tx->hi) * C;
                float *bl = dx + (ty->hi * W + tx->lo) * C, *br = dx + (ty->hi * W + tx->hi) * C;
                for (int64_t c = 0; c < C; c++) {
                    tl[c] += g[c] * (1.0f - wx) * (1.0f - wy);
                    tr[c] += g[c] * wx * (1.0f - wy);
                    bl[c] += g[c] * (1.0f - wx) * wy;
                    br[c] += g[c] * wx * wy;
                }
            }
        }
    }
}

/* ---- Resizing ------------------------------------------------------------------------------- */

static const ck_field resizing_fields[] = {
    {"height", CK_INT, NULL, "(0,)", "output height (> 0)"},
    {"width", CK_INT, NULL, "(0,)", "output width (> 0)"},
    {"interpolation", CK_STR, "bilinear", "bilinear|nearest", "bilinear or nearest"},
    {"crop_to_aspect_ratio", CK_BOOL, "false", NULL, "crop the centred box of the target aspect ratio first"},
    {"pad_to_aspect_ratio", CK_BOOL, "false", NULL, "not supported (must be false)", CK_W_NO_TF2},
    {"antialias", CK_BOOL, "false", NULL, "not supported (must be false)", CK_W_NO_TF2},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status target_size(const ckeras_layer *l, int64_t *h, int64_t *w)
{
    const ck_value *vh = ck_cfg_value(&l->cfg, "height"), *vw = ck_cfg_value(&l->cfg, "width");
    if (vh->is_none || vw->is_none || vh->i <= 0 || vw->i <= 0 || vh->i > (1 << 24) || vw->i > (1 << 24))
        return ck_error(CKERAS_EINVAL, "%s '%s': height and width must be positive integers, got %lld and %lld",
                        l->vt->class_name, l->name, vh->is_none ? -1LL : (long long)vh->i,
                        vw->is_none ? -1LL : (long long)vw->i);
    *h = vh->i;
    *w = vw->i;
    return CKERAS_OK;
}

static ckeras_status resizing_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = need_image(l, in);
    int64_t h = 0, w = 0;
    if (st == CKERAS_OK)
        st = target_size(l, &h, &w);
    if (st != CKERAS_OK)
        return st;
    if (ck_cfg_bool(&l->cfg, "pad_to_aspect_ratio"))
        return ck_error(CKERAS_EUNSUPPORTED, "Resizing '%s': pad_to_aspect_ratio is not supported", l->name);
    if (ck_cfg_bool(&l->cfg, "antialias"))
        return ck_error(CKERAS_EUNSUPPORTED, "Resizing '%s': antialias is not supported", l->name);
    bool nearest = strcmp(ck_cfg_str(&l->cfg, "interpolation"), "nearest") == 0;
    if ((st = make_resample(l, in->d[0], in->d[1], h, w, nearest, ck_cfg_bool(&l->cfg, "crop_to_aspect_ratio"))) !=
        CKERAS_OK)
        return st;
    *out = (ck_shape){3, {h, w, in->d[2]}};
    return CKERAS_OK;
}

const ck_layer_vt ck_resizing_vt = {
    .class_name = "Resizing",
    .base_name = "resizing",
    .fields = resizing_fields,
    .nfields = sizeof resizing_fields / sizeof resizing_fields[0],
    .build = resizing_build,
    .forward = resample_forward,
    .backward = resample_backward,
    .free_priv = free_priv,
};

/* ---- CenterCrop ----------------------------------------------------------------------------- */

static const ck_field center_crop_fields[] = {
    {"height", CK_INT, NULL, "(0,)", "output height (> 0)"},
    {"width", CK_INT, NULL, "(0,)", "output width (> 0)"},
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status center_crop_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = need_image(l, in);
    int64_t h = 0, w = 0;
    if (st == CKERAS_OK)
        st = target_size(l, &h, &w);
    if (st != CKERAS_OK)
        return st;
    int64_t dh = in->d[0] - h, dw = in->d[1] - w;
    bool crop = dh >= 0 && dw >= 0;
    if ((st = make_resample(l, in->d[0], in->d[1], h, w, false, true)) != CKERAS_OK)
        return st;
    resample *r = l->priv;
    r->crop = crop;
    r->h0 = crop ? dh / 2 : 0;
    r->w0 = crop ? dw / 2 : 0;
    *out = (ck_shape){3, {h, w, in->d[2]}};
    return CKERAS_OK;
}

const ck_layer_vt ck_center_crop_vt = {
    .class_name = "CenterCrop",
    .base_name = "center_crop",
    .fields = center_crop_fields,
    .nfields = sizeof center_crop_fields / sizeof center_crop_fields[0],
    .build = center_crop_build,
    .forward = resample_forward,
    .backward = resample_backward,
    .free_priv = free_priv,
};

/* ---- RandomFlip ----------------------------------------------------------------------------- */

static const ck_field random_flip_fields[] = {
    {"mode", CK_STR, "horizontal_and_vertical", "horizontal|vertical|horizontal_and_vertical",
     "which flips: horizontal (left-right), vertical (up-down) or both"},
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status same_image_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = need_image(l, in);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

/* saved: per sample [flip left-right, flip up-down] as 0/1 */
static int64_t random_flip_saved(const ckeras_layer *l, int64_t n)
{
    return 2 * n;
}

/* y = x with the width axis reversed when fx, the height axis when fy (y != x) */
static void flip_image(const float *x, float *y, int64_t H, int64_t W, int64_t C, bool fx, bool fy)
{
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++)
            memcpy(y + (i * W + j) * C, x + ((fy ? H - 1 - i : i) * W + (fx ? W - 1 - j : j)) * C,
                   (size_t)C * sizeof(float));
}

static void random_flip_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    if (!f->training || !f->saved) {
        copy_forward(l, f);
        return;
    }
    const char *mode = ck_cfg_str(&l->cfg, "mode");
    bool hz = strcmp(mode, "vertical") != 0, vt = strcmp(mode, "horizontal") != 0;
    for (int64_t s = 0; s < f->n; s++) {
        bool fx = hz && ck_rng_uniform(f->rng) < 0.5;
        bool fy = vt && ck_rng_uniform(f->rng) < 0.5;
        f->saved[2 * s] = fx;
        f->saved[2 * s + 1] = fy;
        flip_image(f->x + s * H * W * C, f->y + s * H * W * C, H, W, C, fx, fy);
    }
}

static void random_flip_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    for (int64_t s = 0; s < b->n; s++) /* a flip is its own inverse and its own transpose */
        flip_image(b->dy + s * H * W * C, b->dx + s * H * W * C, H, W, C, b->saved[2 * s] != 0.0f,
                   b->saved[2 * s + 1] != 0.0f);
}

const ck_layer_vt ck_random_flip_vt = {
    .class_name = "RandomFlip",
    .base_name = "random_flip",
    .fields = random_flip_fields,
    .nfields = sizeof random_flip_fields / sizeof random_flip_fields[0],
    .build = same_image_build,
    .saved_floats = random_flip_saved,
    .forward = random_flip_forward,
    .backward = random_flip_backward,
};

/* ---- affine resampling (RandomRotation, RandomZoom, RandomTranslation) ------------------------ */

enum { FILL_REFLECT, FILL_WRAP, FILL_CONSTANT, FILL_NEAREST };

/* TensorFlow's map of a source coordinate into [0, len - 1] for each fill mode (constant leaves
 * it: corners outside the image read fill_value). */
static float map_coord(float c, int64_t len, int mode)
{
    float n = (float)len;
    switch (mode) {
    case FILL_REFLECT:
        if (c < 0.0f) {
            if (len <= 1) {
                c = 0.0f;
            } else {
                float sz2 = 2.0f * n;
                if (c < sz2)
                    c = sz2 * (float)(int64_t)(-c / sz2) + c;
                c = c < -n ? c + sz2 : -c - 1.0f;
            }
        } else if (c > n - 1.0f) {
            if (len <= 1) {
                c = 0.0f;
            } else {
                float sz2 = 2.0f * n;
                c -= sz2 * (float)(int64_t)(c / sz2);
                if (c >= n)
                    c = sz2 - c - 1.0f;
            }
        }
        break;
    case FILL_WRAP:
        if (c < 0.0f) {
            if (len <= 1)
                c = 0.0f;
            else
                c += n * (float)((int64_t)(-c / (n - 1.0f)) + 1);
        } else if (c > n - 1.0f) {
            if (len <= 1)
                c = 0.0f;
            else
                c -= n * (float)(int64_t)(c / (n - 1.0f));
        }
        break;
    case FILL_NEAREST:
        break;
    default:
        return c;
    }
    return c < 0.0f ? 0.0f : c > n - 1.0f ? n - 1.0f : c;
}

typedef struct affine_cfg {
    int mode;
    bool nearest;
    float fill;
} affine_cfg;

static affine_cfg affine_settings(const ckeras_layer *l)
{
    const char *m = ck_cfg_str(&l->cfg, "fill_mode");
    affine_cfg a;
    a.mode = strcmp(m, "wrap") == 0 ? FILL_WRAP : strcmp(m, "constant") == 0 ? FILL_CONSTANT
           : strcmp(m, "nearest") == 0 ? FILL_NEAREST : FILL_REFLECT;
    a.nearest = strcmp(ck_cfg_str(&l->cfg, "interpolation"), "nearest") == 0;
    a.fill = (float)ck_cfg_float(&l->cfg, "fill_value");
    return a;
}

/* The source pixels of output pixel (x = column, y = row) under transform t: up to 4 pixel
 * indices (row * W + column) with weights; the weight of fill_value goes to *wfill. */
static int affine_taps(const affine_cfg *a, const float *t, int64_t H, int64_t W, int64_t x, int64_t y,
                       int64_t idx[4], float w[4], float *wfill)
{
    float fx = (float)x, fy = (float)y;
    float sx = map_coord(t[0] * fx + t[1] * fy + t[2], W, a->mode);
    float sy = map_coord(t[3] * fx + t[4] * fy + t[5], H, a->mode);
    int n = 0;
    *wfill = 0.0f;
    if (a->nearest) {
        float rx = roundf(sx), ry = roundf(sy);
        if (rx >= 0.0f && rx < (float)W && ry >= 0.0f && ry < (float)H) {
            idx[0] = (int64_t)ry * W + (int64_t)rx;
            w[0] = 1.0f;
            return 1;
        }
        *wfill = 1.0f;
        return 0;
    }
    float x0 = floorf(sx), y0 = floorf(sy);
    float cx[2] = {x0, x0 + 1.0f}, cy[2] = {y0, y0 + 1.0f};
    float wx[2] = {x0 + 1.0f - sx, sx - x0}, wy[2] = {y0 + 1.0f - sy, sy - y0};
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            float ww = wy[i] * wx[j];
            if (cy[i] >= 0.0f && cy[i] < (float)H && cx[j] >= 0.0f && cx[j] < (float)W) {
                idx[n] = (int64_t)cy[i] * W + (int64_t)cx[j];
                w[n++] = ww;
            } else {
                *wfill += ww;
            }
        }
    return n;
}

/* y = x sampled through the transform t (6 floats: source x = t0 x + t1 y + t2, source y =
 * t3 x + t4 y + t5), one image */
static void affine_image(const affine_cfg *a, const float *t, const float *x, float *y, int64_t H, int64_t W,
                         int64_t C)
{
    int64_t idx[4];
    float w[4], wf;
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            int n = affine_taps(a, t, H, W, j, i, idx, w, &wf);
            float *o = y + (i * W + j) * C;
            for (int64_t c = 0; c < C; c++) {
                float v = wf * a->fill;
                for (int k = 0; k < n; k++)
                    v += w[k] * x[idx[k] * C + c];
                o[c] = v;
            }
        }
}

/* dx += the transpose of affine_image applied to dy, one image */
static void affine_image_t(const affine_cfg *a, const float *t, const float *dy, float *dx, int64_t H, int64_t W,
                           int64_t C)
{
    int64_t idx[4];
    float w[4], wf;
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++) {
            int n = affine_taps(a, t, H, W, j, i, idx, w, &wf);
            const float *g = dy + (i * W + j) * C;
            for (int k = 0; k < n; k++)
                for (int64_t c = 0; c < C; c++)
                    dx[idx[k] * C + c] += w[k] * g[c];
        }
}

/* saved: per sample the 6 numbers of its transform, then a flag "transformed" */
static int64_t affine_saved(const ckeras_layer *l, int64_t n)
{
    return 7 * n;
}

/* Draws a transform for one image of (H, W); fills t[6]. */
typedef void (*draw_fn)(const ckeras_layer *l, ck_rng *r, int64_t H, int64_t W, float *t);

static void affine_forward(ckeras_layer *l, const ck_fwd *f, draw_fn draw)
{
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    if (!f->training || !f->saved) {
        copy_forward(l, f);
        return;
    }
    affine_cfg a = affine_settings(l);
    for (int64_t s = 0; s < f->n; s++) {
        float *t = f->saved + 7 * s;
        draw(l, f->rng, H, W, t);
        t[6] = 1.0f;
        affine_image(&a, t, f->x + s * H * W * C, f->y + s * H * W * C, H, W, C);
    }
}

static void affine_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    affine_cfg a = affine_settings(l);
    memset(b->dx, 0, (size_t)(b->n * H * W * C) * sizeof(float));
    for (int64_t s = 0; s < b->n; s++)
        affine_image_t(&a, b->saved + 7 * s, b->dy + s * H * W * C, b->dx + s * H * W * C, H, W, C);
}

/* [lower, upper] of a factor setting: ["<name>_lower", value] when the lower end is set, else
 * [-|value|, |value|]; NAN when the factor is None. */
static void factor_range(const ckeras_layer *l, const char *name, double *lo, double *hi)
{
    char lower[64];
    snprintf(lower, sizeof lower, "%s_lower", name);
    const ck_value *v = ck_cfg_value(&l->cfg, name), *lv = ck_cfg_value(&l->cfg, lower);
    if (v->is_none) {
        *lo = *hi = NAN;
        return;
    }
    *hi = lv->is_none ? fabs(v->f) : v->f;
    *lo = lv->is_none ? -fabs(v->f) : lv->f;
}

static ckeras_status check_factor(const ckeras_layer *l, const char *name, bool required, double min_lo)
{
    double lo, hi;
    factor_range(l, name, &lo, &hi);
    if (isnan(hi)) {
        if (required)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be set", l->vt->class_name, l->name, name);
        return CKERAS_OK;
    }
    if (!isfinite(lo) || !isfinite(hi) || lo > hi || lo < min_lo)
        return ck_error(CKERAS_EINVAL, "%s '%s': %s range [%g, %g] is not valid (lower <= upper, lower >= %g)",
                        l->vt->class_name, l->name, name, lo, hi, min_lo);
    return CKERAS_OK;
}

/* ---- RandomRotation ------------------------------------------------------------------------- */

static const ck_field random_rotation_fields[] = {
    {"factor", CK_FLOAT, NULL, NULL, "rotation range in turns: f means [-f, f] * 2 pi (counter-clockwise > 0)"},
    {"factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, factor]"},
    FILL_FIELDS,
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status random_rotation_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = check_factor(l, "factor", true, -INFINITY);
    return st == CKERAS_OK ? same_image_build(l, in, out) : st;
}

/* Keras' get_rotation_matrix: rotation by angle about the image centre. */
static void rotation_transform(double angle, int64_t H, int64_t W, float *t)
{
    double c = cos(angle), s = sin(angle), w1 = (double)(W - 1), h1 = (double)(H - 1);
    t[0] = (float)c;
    t[1] = (float)-s;
    t[2] = (float)((w1 - (c * w1 - s * h1)) / 2.0);
    t[3] = (float)s;
    t[4] = (float)c;
    t[5] = (float)((h1 - (s * w1 + c * h1)) / 2.0);
}

static void rotation_draw(const ckeras_layer *l, ck_rng *r, int64_t H, int64_t W, float *t)
{
    double lo, hi;
    factor_range(l, "factor", &lo, &hi);
    rotation_transform(uniform(r, lo, hi) * 2.0 * M_PI, H, W, t);
}

static void random_rotation_forward(ckeras_layer *l, const ck_fwd *f)
{
    affine_forward(l, f, rotation_draw);
}

const ck_layer_vt ck_random_rotation_vt = {
    .class_name = "RandomRotation",
    .base_name = "random_rotation",
    .fields = random_rotation_fields,
    .nfields = sizeof random_rotation_fields / sizeof random_rotation_fields[0],
    .build = random_rotation_build,
    .saved_floats = affine_saved,
    .forward = random_rotation_forward,
    .backward = affine_backward,
};

/* ---- RandomZoom ----------------------------------------------------------------------------- */

static const ck_field random_zoom_fields[] = {
    {"height_factor", CK_FLOAT, NULL, NULL, "zoom range: f means a height scale in [1 - f, 1 + f] (> 1: zoom out)"},
    {"height_factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, height_factor]"},
    {"width_factor", CK_FLOAT, NULL, NULL, "the same for the width; None: the height's scale (aspect kept)"},
    {"width_factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, width_factor]"},
    FILL_FIELDS,
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status random_zoom_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = check_factor(l, "height_factor", true, -1.0);
    if (st == CKERAS_OK)
        st = check_factor(l, "width_factor", false, -1.0);
    return st == CKERAS_OK ? same_image_build(l, in, out) : st;
}

static void zoom_draw(const ckeras_layer *l, ck_rng *r, int64_t H, int64_t W, float *t)
{
    double lo, hi, wlo, whi;
    factor_range(l, "height_factor", &lo, &hi);
    factor_range(l, "width_factor", &wlo, &whi);
    double zy = 1.0 + uniform(r, lo, hi);
    double zx = isnan(whi) ? zy : 1.0 + uniform(r, wlo, whi);
    t[0] = (float)zx;
    t[1] = 0.0f;
    t[2] = (float)((double)(W - 1) / 2.0 * (1.0 - zx));
    t[3] = 0.0f;
    t[4] = (float)zy;
    t[5] = (float)((double)(H - 1) / 2.0 * (1.0 - zy));
}

static void random_zoom_forward(ckeras_layer *l, const ck_fwd *f)
{
    affine_forward(l, f, zoom_draw);
}

const ck_layer_vt ck_random_zoom_vt = {
    .class_name = "RandomZoom",
    .base_name = "random_zoom",
    .fields = random_zoom_fields,
    .nfields = sizeof random_zoom_fields / sizeof random_zoom_fields[0],
    .build = random_zoom_build,
    .saved_floats = affine_saved,
    .forward = random_zoom_forward,
    .backward = affine_backward,
};

/* ---- RandomTranslation ---------------------------------------------------------------------- */

static const ck_field random_translation_fields[] = {
    {"height_factor", CK_FLOAT, NULL, NULL, "vertical shift range: f means [-f, f] * height"},
    {"height_factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, height_factor]"},
    {"width_factor", CK_FLOAT, NULL, NULL, "horizontal shift range: f means [-f, f] * width"},
    {"width_factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, width_factor]"},
    FILL_FIELDS,
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status random_translation_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = check_factor(l, "height_factor", true, -INFINITY);
    if (st == CKERAS_OK)
        st = check_factor(l, "width_factor", true, -INFINITY);
    return st == CKERAS_OK ? same_image_build(l, in, out) : st;
}

static void translation_draw(const ckeras_layer *l, ck_rng *r, int64_t H, int64_t W, float *t)
{
    double lo, hi, wlo, whi;
    factor_range(l, "height_factor", &lo, &hi);
    factor_range(l, "width_factor", &wlo, &whi);
    double dy = uniform(r, lo, hi) * (double)H, dx = uniform(r, wlo, whi) * (double)W;
    t[0] = 1.0f;
    t[1] = 0.0f;
    t[2] = (float)-dx;
    t[3] = 0.0f;
    t[4] = 1.0f;
    t[5] = (float)-dy;
}

static void random_translation_forward(ckeras_layer *l, const ck_fwd *f)
{
    affine_forward(l, f, translation_draw);
}

const ck_layer_vt ck_random_translation_vt = {
    .class_name = "RandomTranslation",
    .base_name = "random_translation",
    .fields = random_translation_fields,
    .nfields = sizeof random_translation_fields / sizeof random_translation_fields[0],
    .build = random_translation_build,
    .saved_floats = affine_saved,
    .forward = random_translation_forward,
    .backward = affine_backward,
};

/* ---- RandomContrast ------------------------------------------------------------------------- */

static const ck_field random_contrast_fields[] = {
    {"factor", CK_FLOAT, NULL, NULL, "contrast range: f means a factor in [1 - f, 1 + f]"},
    {"factor_lower", CK_FLOAT, NULL, NULL, "with it the range is [1 - factor_lower, 1 + factor]"},
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status random_contrast_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *v = ck_cfg_value(&l->cfg, "factor"), *lv = ck_cfg_value(&l->cfg, "factor_lower");
    double hi = v->is_none ? NAN : v->f, lo = lv->is_none ? hi : lv->f;
    if (!(hi >= 0.0 && isfinite(hi)) || !(lo >= 0.0 && lo <= 1.0))
        return ck_error(CKERAS_EINVAL, "RandomContrast '%s': factor must be a number >= 0 (lower part <= 1)", l->name);
    return same_image_build(l, in, out);
}

/* saved: per sample the contrast factor (1 in inference) */
static int64_t random_contrast_saved(const ckeras_layer *l, int64_t n)
{
    return n;
}

static void random_contrast_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t HW = l->in_shape.d[0] * l->in_shape.d[1], C = l->in_shape.d[2];
    if (!f->training || !f->saved) {
        copy_forward(l, f);
        return;
    }
    double hi = ck_cfg_float(&l->cfg, "factor");
    const ck_value *lv = ck_cfg_value(&l->cfg, "factor_lower");
    double lo = lv->is_none ? hi : lv->f;
    for (int64_t s = 0; s < f->n; s++) {
        float k = (float)uniform(f->rng, 1.0 - lo, 1.0 + hi);
        f->saved[s] = k;
        const float *x = f->x + s * HW * C;
        float *y = f->y + s * HW * C;
        for (int64_t c = 0; c < C; c++) {
            double sum = 0.0;
            for (int64_t p = 0; p < HW; p++)
                sum += x[p * C + c];
            float mean = (float)(sum / (double)HW);
            for (int64_t p = 0; p < HW; p++) {
                float v = (x[p * C + c] - mean) * k + mean;
                y[p * C + c] = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            }
        }
    }
}

/* y = clip((x - mean) k + mean): dx = k g + (1 - k) mean(g) per channel, g = dy where unclipped */
static void random_contrast_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t HW = l->in_shape.d[0] * l->in_shape.d[1], C = l->in_shape.d[2];
    for (int64_t s = 0; s < b->n; s++) {
        float k = b->saved[s];
        const float *x = b->x + s * HW * C, *dy = b->dy + s * HW * C;
        float *dx = b->dx + s * HW * C;
        for (int64_t c = 0; c < C; c++) {
            double sum = 0.0, gsum = 0.0;
            for (int64_t p = 0; p < HW; p++)
                sum += x[p * C + c];
            float mean = (float)(sum / (double)HW);
            for (int64_t p = 0; p < HW; p++) {
                float v = (x[p * C + c] - mean) * k + mean;
                gsum += v < 0.0f || v > 255.0f ? 0.0 : dy[p * C + c];
            }
            float gm = (float)(gsum / (double)HW);
            for (int64_t p = 0; p < HW; p++) {
                float v = (x[p * C + c] - mean) * k + mean;
                float g = v < 0.0f || v > 255.0f ? 0.0f : dy[p * C + c];
                dx[p * C + c] = k * g + (1.0f - k) * gm;
            }
        }
    }
}

const ck_layer_vt ck_random_contrast_vt = {
    .class_name = "RandomContrast",
    .base_name = "random_contrast",
    .fields = random_contrast_fields,
    .nfields = sizeof random_contrast_fields / sizeof random_contrast_fields[0],
    .build = random_contrast_build,
    .saved_floats = random_contrast_saved,
    .forward = random_contrast_forward,
    .backward = random_contrast_backward,
};

/* ---- RandomCrop (Keras 3) ---------------------------------------------------------------------
 * Inference, and training when the image is not larger than the target on both axes: the largest
 * centred window of the target's aspect ratio, resized (bilinear) to (height, width), as Keras
 * documents it (Keras 3.11's code returns the input unchanged at inference, with a shape other
 * than the one it declares; ckeras follows the documentation). Training on a larger image: one
 * window of (height, width) at a random offset for the whole batch, as Keras draws it. */

static const ck_field random_crop_fields[] = {
    {"height", CK_INT, NULL, "(0,)", "output height (> 0)"},
    {"width", CK_INT, NULL, "(0,)", "output width (> 0)"},
    SEED_FIELD,
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status random_crop_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = need_image(l, in);
    int64_t h = 0, w = 0;
    if (st == CKERAS_OK)
        st = target_size(l, &h, &w);
    if (st == CKERAS_OK)
        st = make_resample(l, in->d[0], in->d[1], h, w, false, true);
    if (st != CKERAS_OK)
        return st;
    *out = (ck_shape){3, {h, w, in->d[2]}};
    return CKERAS_OK;
}

/* saved: the batch's window offset (h0, w0), -1 when the resampling was used */
static int64_t random_crop_saved(const ckeras_layer *l, int64_t n)
{
    (void)n;
    return 2;
}

static bool random_crop_draws(const ckeras_layer *l)
{
    return l->in_shape.d[0] > l->out_shape.d[0] && l->in_shape.d[1] > l->out_shape.d[1];
}

static void random_crop_forward(ckeras_layer *l, const ck_fwd *f)
{
    if (!f->training || !f->saved || !random_crop_draws(l)) {
        if (f->saved)
            f->saved[0] = f->saved[1] = -1.0f;
        resample_forward(l, f);
        return;
    }
    const int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    const int64_t h = l->out_shape.d[0], w = l->out_shape.d[1];
    const int64_t h0 = (int64_t)ck_rng_below(f->rng, (uint64_t)(H - h + 1));
    const int64_t w0 = (int64_t)ck_rng_below(f->rng, (uint64_t)(W - w + 1));
    f->saved[0] = (float)h0;
    f->saved[1] = (float)w0;
    for (int64_t s = 0; s < f->n; s++)
        for (int64_t i = 0; i < h; i++)
            memcpy(f->y + (s * h + i) * w * C, f->x + ((s * H + h0 + i) * W + w0) * C, (size_t)(w * C) * sizeof(float));
}

static void random_crop_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    if (b->saved[0] < 0.0f) {
        resample_backward(l, b);
        return;
    }
    const int64_t H = l->in_shape.d[0], W = l->in_shape.d[1], C = l->in_shape.d[2];
    const int64_t h = l->out_shape.d[0], w = l->out_shape.d[1];
    const int64_t h0 = (int64_t)b->saved[0], w0 = (int64_t)b->saved[1];
    memset(b->dx, 0, (size_t)(b->n * H * W * C) * sizeof(float));
    for (int64_t s = 0; s < b->n; s++)
        for (int64_t i = 0; i < h; i++)
            memcpy(b->dx + ((s * H + h0 + i) * W + w0) * C, b->dy + (s * h + i) * w * C,
                   (size_t)(w * C) * sizeof(float));
}

const ck_layer_vt ck_random_crop_vt = {
    .class_name = "RandomCrop",
    .base_name = "random_crop",
    .fields = random_crop_fields,
    .nfields = sizeof random_crop_fields / sizeof random_crop_fields[0],
    .build = random_crop_build,
    .saved_floats = random_crop_saved,
    .forward = random_crop_forward,
    .backward = random_crop_backward,
    .free_priv = free_priv,
};

/* ---- RandomBrightness, RandomHue, RandomSaturation (Keras 3) ----------------------------------
 * The identity in inference. In training, per image:
 *  - RandomBrightness: y = clip(x + d (vmax - vmin), vmin, vmax), d uniform in the factor range;
 *  - RandomHue: x scaled from value_range to [0, 1], to HSV (Keras' dm_pix formulas), the hue
 *    shifted by +-f / 2 (f uniform in the factor range, the sign a fair coin) and wrapped into
 *    [0, 1], back to RGB, clipped to [0, 1] and scaled back to value_range;
 *  - RandomSaturation: to HSV (on the raw values, as Keras does), the saturation multiplied by
 *    f / (1 - f + 1e-7) (f uniform in the factor range) and clipped to value_range, back to RGB.
 * The factor is [lower, upper], or f for [max(-f, bound), f] (bound 0 for RandomHue, -1 for the
 * others). Backward: the exact derivative of the sampled map, by forward-mode differentiation
 * (a value and its three partial derivatives through Keras' colour formulas). */

#define COLOR_FIELDS(factor_help)                                                                        \
    {"factor", CK_FLOAT, NULL, NULL, factor_help},                                                        \
    {"factor_lower", CK_FLOAT, NULL, NULL, "lower end of the range when it is [lower, factor]"},          \
    {"value_range", CK_FLOAT, "255", NULL, "upper end of the pixel values' range"},                       \
    {"value_range_lower", CK_FLOAT, "0", NULL, "lower end of the pixel values' range"},                   \
    SEED_FIELD

static const ck_field random_brightness_fields[] = {
    COLOR_FIELDS("brightness change as a fraction of the value range: f means [-f, f]"),
    INPUT_SHAPE_FIELD,
};

static const ck_field random_hue_fields[] = {
    COLOR_FIELDS("hue change range in [0, 1]: f means [0, f] (half a turn at 1)"),
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

static const ck_field random_saturation_fields[] = {
    COLOR_FIELDS("saturation factor range in [-1, 1]: f means [-f, f], mapped to f / (1 - f)"),
    DATA_FORMAT_FIELD,
    INPUT_SHAPE_FIELD,
};

/* the factor range [lo, hi] of a colour layer, and the value range [vlo, vhi] */
static void color_ranges(const ckeras_layer *l, double *lo, double *hi, double *vlo, double *vhi)
{
    const double bound = l->vt == &ck_random_hue_vt ? 0.0 : -1.0;
    const ck_value *v = ck_cfg_value(&l->cfg, "factor"), *lv = ck_cfg_value(&l->cfg, "factor_lower");
    *hi = v->is_none ? NAN : lv->is_none ? fabs(v->f) : v->f;
    *lo = v->is_none ? NAN : lv->is_none ? fmax(-fabs(v->f), bound) : lv->f;
    double a = ck_cfg_float(&l->cfg, "value_range_lower"), b = ck_cfg_float(&l->cfg, "value_range");
    *vlo = fmin(a, b); /* Keras sorts the pair */
    *vhi = fmax(a, b);
}

static ckeras_status color_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    double lo, hi, vlo, vhi;
    color_ranges(l, &lo, &hi, &vlo, &vhi);
    const double bound = l->vt == &ck_random_hue_vt ? 0.0 : -1.0;
    if (!(lo <= hi && lo >= bound && hi <= 1.0))
        return ck_error(CKERAS_EINVAL,
                        "%s '%s': factor must be set, a range [lower, upper] within [%g, 1], got [%g, %g]",
                        l->vt->class_name, l->name, bound, lo, hi);
    if (!(isfinite(vlo) && isfinite(vhi) && vlo < vhi))
        return ck_error(CKERAS_EINVAL, "%s '%s': value_range must be two different finite numbers", l->vt->class_name,
                        l->name);
    ckeras_status st = need_image(l, in);
    if (st == CKERAS_OK && l->vt != &ck_random_brightness_vt && in->d[2] != 3)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs RGB images (3 channels), got %lld", l->vt->class_name, l->name,
                        (long long)in->d[2]);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

/* saved: per image the drawn parameter, NAN in inference (the identity) */
static int64_t color_saved(const ckeras_layer *l, int64_t n)
{
    (void)l;
    return n;
}

/* a value and its partial derivatives with respect to the pixel's r, g, b */
typedef struct dual {
    float v, d[3];
} dual;

static dual dconst(float v)
{
    return (dual){v, {0.0f, 0.0f, 0.0f}};
}
static dual dadd(dual a, dual b)
{
    return (dual){a.v + b.v, {a.d[0] + b.d[0], a.d[1] + b.d[1], a.d[2] + b.d[2]}};
}
static dual dsub(dual a, dual b)
{
    return (dual){a.v - b.v, {a.d[0] - b.d[0], a.d[1] - b.d[1], a.d[2] - b.d[2]}};
}
static dual dmul(dual a, dual b)
{
    dual r = {a.v * b.v, {0}};
    for (int k = 0; k < 3; k++)
        r.d[k] = a.d[k] * b.v + a.v * b.d[k];
    return r;
}
static dual dscale(dual a, float s)
{
    return (dual){a.v * s, {a.d[0] * s, a.d[1] * s, a.d[2] * s}};
}
static dual ddiv(dual a, dual b)
{
    dual r = {a.v / b.v, {0}};
    for (int k = 0; k < 3; k++)
        r.d[k] = (a.d[k] * b.v - a.v * b.d[k]) / (b.v * b.v);
    return r;
}
/* torch's clip: the gradient passes on [lo, hi] */
static dual dclip(dual a, float lo, float hi)
{
    if (a.v < lo)
        return dconst(lo);
    if (a.v > hi)
        return dconst(hi);
    return a;
}
static dual dabs(dual a)
{
    return a.v < 0.0f ? dscale(a, -1.0f) : a.v > 0.0f ? a : dconst(0.0f);
}
static dual dmax(dual a, dual b)
{
    return a.v >= b.v ? a : b;
}
static dual dmin(dual a, dual b)
{
    return a.v <= b.v ? a : b;
}

/* Keras' rgb_to_hsv (torch backend, after dm_pix) */
static void rgb_to_hsv_d(const dual rgb[3], dual hsv[3])
{
    dual c[3];
    for (int k = 0; k < 3; k++)
        c[k] = fabsf(rgb[k].v) < 1.1920929e-07f ? dconst(0.0f) : rgb[k];
    const dual value = dmax(dmax(c[0], c[1]), c[2]), minimum = dmin(dmin(c[0], c[1]), c[2]);
    const dual range = dsub(value, minimum);
    const dual sat = value.v > 0.0f ? ddiv(range, value) : dconst(0.0f);
    const dual norm = ddiv(dconst(1.0f), dscale(range.v > 0.0f ? range : dconst(1.0f), 6.0f));
    dual hue = value.v == c[1].v ? dadd(dmul(norm, dsub(c[2], c[0])), dconst(2.0f / 6.0f))
                                 : dadd(dmul(norm, dsub(c[0], c[1])), dconst(4.0f / 6.0f));
    if (value.v == c[0].v)
        hue = dmul(norm, dsub(c[1], c[2]));
    const bool neg = hue.v < 0.0f;
    hue = range.v > 0.0f ? hue : dconst(0.0f);
    if (neg)
        hue = dadd(hue, dconst(1.0f));
    hsv[0] = hue;
    hsv[1] = sat;
    hsv[2] = value;
}

/* Keras' hsv_to_rgb */
static void hsv_to_rgb_d(const dual hsv[3], dual rgb[3])
{
    const dual dh = dscale(dsub(hsv[0], dconst(floorf(hsv[0].v))), 6.0f); /* remainder(h, 1) * 6 */
    const dual dr = dclip(dsub(dabs(dsub(dh, dconst(3.0f))), dconst(1.0f)), 0.0f, 1.0f);
    const dual dg = dclip(dsub(dconst(2.0f), dabs(dsub(dh, dconst(2.0f)))), 0.0f, 1.0f);
    const dual db = dclip(dsub(dconst(2.0f), dabs(dsub(dh, dconst(4.0f)))), 0.0f, 1.0f);
    const dual oms = dsub(dconst(1.0f), hsv[1]);
    rgb[0] = dmul(hsv[2], dadd(oms, dmul(hsv[1], dr)));
    rgb[1] = dmul(hsv[2], dadd(oms, dmul(hsv[1], dg)));
    rgb[2] = dmul(hsv[2], dadd(oms, dmul(hsv[1], db)));
}

/* one pixel through the layer's colour map with parameter p: out (3) and its Jacobian (3 x 3) */
static void color_pixel(const ckeras_layer *l, float p, float vlo, float vhi, const float *x, float *out,
                        float jac[3][3])
{
    dual c[3], hsv[3], rgb[3];
    const bool hue = l->vt == &ck_random_hue_vt;
    const float span = vhi - vlo;
    for (int k = 0; k < 3; k++) {
        c[k] = dconst(x[k]);
        c[k].d[k] = 1.0f;
        if (hue && !(vlo == 0.0f && vhi == 1.0f))
            c[k] = dscale(dsub(c[k], dconst(vlo)), 1.0f / span);
    }
    rgb_to_hsv_d(c, hsv);
    if (hue) {
        dual h = dadd(hsv[0], dconst(p));
        if (h.v > 1.0f)
            h = dsub(h, dconst(1.0f));
        if (h.v < 0.0f)
            h = dadd(h, dconst(1.0f));
        hsv[0] = h;
    } else {
        hsv[1] = dclip(dscale(hsv[1], p), vlo, vhi);
    }
    hsv_to_rgb_d(hsv, rgb);
    for (int k = 0; k < 3; k++) {
        dual v = rgb[k];
        if (hue) {
            v = dclip(v, 0.0f, 1.0f);
            if (!(vlo == 0.0f && vhi == 1.0f))
                v = dadd(dscale(v, span), dconst(vlo));
        }
        out[k] = v.v;
        for (int j = 0; j < 3; j++)
            jac[k][j] = v.d[j];
    }
}

void ck_color_map(const ckeras_layer *l, float p, const float *x, float *y, int64_t npix)
{
    double lo, hi, vlo, vhi;
    color_ranges(l, &lo, &hi, &vlo, &vhi);
    float jac[3][3];
    for (int64_t i = 0; i < npix; i++) {
        if (l->vt == &ck_random_brightness_vt) {
            for (int64_t c = 0; c < l->in_shape.d[2]; c++) {
                const int64_t e = i * l->in_shape.d[2] + c;
                const float v = x[e] + p;
                y[e] = v < (float)vlo ? (float)vlo : v > (float)vhi ? (float)vhi : v;
            }
        } else {
            color_pixel(l, p, (float)vlo, (float)vhi, x + i * 3, y + i * 3, jac);
        }
    }
}

static void color_forward(ckeras_layer *l, const ck_fwd *f)
{
    const int64_t HW = l->in_shape.d[0] * l->in_shape.d[1], C = l->in_shape.d[2];
    if (!f->training || !f->saved) {
        for (int64_t s = 0; f->saved && s < f->n; s++)
            f->saved[s] = NAN;
        copy_forward(l, f);
        return;
    }
    double lo, hi, vlo, vhi;
    color_ranges(l, &lo, &hi, &vlo, &vhi);
    for (int64_t s = 0; s < f->n; s++) {
        const float *x = f->x + s * HW * C;
        float *y = f->y + s * HW * C;
        float p;
        if (l->vt == &ck_random_brightness_vt) {
            p = (float)(uniform(f->rng, lo, hi) * (vhi - vlo));
        } else if (l->vt == &ck_random_hue_vt) {
            const float sign = ck_rng_uniform(f->rng) > 0.5 ? -1.0f : 1.0f;
            p = sign * (float)uniform(f->rng, lo, hi) * 0.5f;
        } else {
            const float u = (float)uniform(f->rng, lo, hi);
            p = u / (1.0f - u + 1e-7f);
        }
        f->saved[s] = p;
        ck_color_map(l, p, x, y, HW);
    }
}

static void color_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const int64_t HW = l->in_shape.d[0] * l->in_shape.d[1], C = l->in_shape.d[2];
    double lo, hi, vlo, vhi;
    color_ranges(l, &lo, &hi, &vlo, &vhi);
    for (int64_t s = 0; s < b->n; s++) {
        const float p = b->saved[s];
        const float *x = b->x + s * HW * C, *dy = b->dy + s * HW * C;
        float *dx = b->dx + s * HW * C;
        if (isnan(p)) {
            if (dx != dy)
                memcpy(dx, dy, (size_t)(HW * C) * sizeof(float));
            continue;
        }
        if (l->vt == &ck_random_brightness_vt) {
            for (int64_t i = 0; i < HW * C; i++) {
                const float v = x[i] + p;
                dx[i] = v < (float)vlo || v > (float)vhi ? 0.0f : dy[i];
            }
            continue;
        }
        for (int64_t i = 0; i < HW; i++) {
            float out[3], jac[3][3];
            color_pixel(l, p, (float)vlo, (float)vhi, x + i * 3, out, jac);
            const float g0 = dy[i * 3], g1 = dy[i * 3 + 1], g2 = dy[i * 3 + 2];
            for (int j = 0; j < 3; j++)
                dx[i * 3 + j] = g0 * jac[0][j] + g1 * jac[1][j] + g2 * jac[2][j];
        }
    }
}

const ck_layer_vt ck_random_brightness_vt = {
    .class_name = "RandomBrightness",
    .base_name = "random_brightness",
    .fields = random_brightness_fields,
    .nfields = sizeof random_brightness_fields / sizeof random_brightness_fields[0],
    .build = color_build,
    .saved_floats = color_saved,
    .forward = color_forward,
    .backward = color_backward,
};

const ck_layer_vt ck_random_hue_vt = {
    .class_name = "RandomHue",
    .base_name = "random_hue",
    .fields = random_hue_fields,
    .nfields = sizeof random_hue_fields / sizeof random_hue_fields[0],
    .build = color_build,
    .saved_floats = color_saved,
    .forward = color_forward,
    .backward = color_backward,
};

const ck_layer_vt ck_random_saturation_vt = {
    .class_name = "RandomSaturation",
    .base_name = "random_saturation",
    .fields = random_saturation_fields,
    .nfields = sizeof random_saturation_fields / sizeof random_saturation_fields[0],
    .build = color_build,
    .saved_floats = color_saved,
    .forward = color_forward,
    .backward = color_backward,
};
