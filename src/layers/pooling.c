/* Pooling, channels last: MaxPooling3D/2D/1D, AveragePooling3D/2D/1D (windowed, padding valid
 * or same) and the global poolings GlobalAveragePooling3D/2D/1D, GlobalMaxPooling3D/2D/1D.
 *
 * A 1D pooling is the 2D one on a single row. A 3D pooling is two 2D ones, because a window is
 * a box and both the maximum and the mean over a box (of the cells inside the volume) are taken
 * axis by axis: first over (h, w) in every depth slice, into the workspace, then over the depth
 * axis, which is the 2D kernel on the image (d, 1, oh*ow*c). The first maximum in (z, y, x)
 * order wins, as in a direct scan.
 *
 * "same" follows TensorFlow: padded cells never enter a window, so an average divides by the
 * number of cells inside the image. Max pooling keeps, per output, the index of the first
 * maximum (saved, as int32) and routes the gradient there.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

static const ck_field pool2d_fields[] = {
    {"pool_size", CK_INTS, "2,2", "(0,)", "window (ph, pw), or one int for both"},
    {"strides", CK_INTS, NULL, "(0,)", "strides (default: pool_size)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},
    INPUT_SHAPE_FIELD,
};

static const ck_field pool3d_fields[] = {
    {"pool_size", CK_INTS, "2,2,2", "(0,)", "window (pd, ph, pw), or one int for all"},
    {"strides", CK_INTS, NULL, "(0,)", "strides (default: pool_size)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},
    INPUT_SHAPE_FIELD,
};

static const ck_field pool1d_fields[] = {
    {"pool_size", CK_INTS, "2", "(0,)", "window length"},
    {"strides", CK_INTS, NULL, "(0,)", "stride (default: pool_size)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},
    INPUT_SHAPE_FIELD,
};

static const ck_field global_fields[] = {
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},
    {"keepdims", CK_BOOL, "false", NULL, "keep the pooled axes with size 1"},
    INPUT_SHAPE_FIELD,
};

typedef struct pool_priv {
    ck_conv_geom g;  /* over (h, w) of each slice */
    ck_conv_geom gz; /* 3D: over the depth, the image (d, 1, oh*ow*c) */
    int rank;
} pool_priv;

static void pool_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static bool is_max(const ckeras_layer *l)
{
    return strstr(l->vt->class_name, "Max") != NULL;
}

static ckeras_status check_rank(const ckeras_layer *l, const ck_shape *in, int rank)
{
    bool ok = in->ndim == rank + 1;
    for (int i = 0; ok && i < in->ndim; i++)
        ok = in->d[i] > 0;
    if (ok)
        return CKERAS_OK;
    char buf[96];
    return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (%s), got %s", l->vt->class_name,
                    l->name, rank + 1, rank == 3 ? "depth, height, width, channels" :
                    rank == 2 ? "height, width, channels" : "steps, channels",
                    ck_shape_str(in, false, buf, sizeof buf));
}

static pool_priv *priv_of(ckeras_layer *l)
{
    if (!l->priv)
        l->priv = ck_calloc(1, sizeof(pool_priv));
    return l->priv;
}

/* ---- windowed pooling ----------------------------------------------------------------------- */

/* Reads pool_size / strides (one int is repeated; strides None means pool_size) and stores
 * them back at full length, as Keras' get_config() shows them. */
static ckeras_status read_tuple(ckeras_layer *l, const char *name, int rank, const int64_t *dflt, int64_t *v)
{
    const ck_value *t = ck_cfg_value(&l->cfg, name);
    if (t->is_none && dflt) {
        for (int i = 0; i < rank; i++)
            v[i] = dflt[i];
    } else {
        if (t->is_none || (t->n != 1 && t->n != rank))
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %d positive int%s", l->vt->class_name, l->name,
                            name, rank, rank > 1 ? "s (or one for all)" : "");
        for (int i = 0; i < rank; i++)
            v[i] = t->v[t->n == 1 ? 0 : i];
    }
    for (int i = 0; i < rank; i++)
        if (v[i] <= 0)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be positive, got %lld", l->vt->class_name, l->name,
                            name, (long long)v[i]);
    return ck_config_set_ints(&l->cfg, l->vt->class_name, name, rank, v);
}

static ckeras_status pool_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    const char *cls = l->vt->class_name;
    int64_t k[3], s[3];
    ckeras_status st;
    if ((st = read_tuple(l, "pool_size", rank, NULL, k)) != CKERAS_OK ||
        (st = read_tuple(l, "strides", rank, k, s)) != CKERAS_OK)
        return st;
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    ck_pad_mode mode;
    if (pad && strcasecmp(pad, "valid") == 0)
        mode = CK_PAD_VALID;
    else if (pad && strcasecmp(pad, "same") == 0)
        mode = CK_PAD_SAME;
    else
        return ck_error(CKERAS_EINVAL, "%s '%s': padding must be 'valid' or 'same', got '%s'", cls, l->name,
                        pad ? pad : "None");
    if ((st = ck_layer_channels_last(l)) != CKERAS_OK || (st = check_rank(l, in, rank)) != CKERAS_OK)
        return st;
    pool_priv *p = priv_of(l);
    if (!p)
        return CKERAS_ENOMEM;
    p->rank = rank;
    ck_conv_geom *g = &p->g;
    memset(g, 0, sizeof *g);
    g->dh = g->dw = 1;
    const int a = rank - 2; /* the index of the height in k, s (rank 2 and 3) */
    if (rank >= 2) {
        g->h = in->d[rank - 2], g->w = in->d[rank - 1], g->c = in->d[rank];
        g->kh = k[a], g->kw = k[a + 1], g->sh = s[a], g->sw = s[a + 1];
    } else {
        g->h = 1, g->w = in->d[0], g->c = in->d[1];
        g->kh = 1, g->kw = k[0], g->sh = 1, g->sw = s[0];
    }
    ck_conv_depth z = {rank == 3 ? in->d[0] : 1, rank == 3 ? k[0] : 1, rank == 3 ? s[0] : 1, 1, 0, 0};
    if ((st = ck_conv_depth_fit(l, g, &z, mode)) != CKERAS_OK)
        return st;
    if (z.od <= 0 || g->oh <= 0 || g->ow <= 0) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': pool_size is larger than the input %s with padding 'valid'", cls,
                        l->name, ck_shape_str(in, false, buf, sizeof buf));
    }
    if (z.d * g->h * g->w * g->c > INT32_MAX) /* checked by ck_conv_depth_fit */
        return ck_error(CKERAS_ESHAPE, "%s '%s': input of %lld values per sample is too large", cls, l->name,
                        (long long)(z.d * g->h * g->w * g->c));
    p->gz = (ck_conv_geom){.h = z.d, .w = 1, .c = g->oh * g->ow * g->c, .kh = z.kd, .kw = 1, .sh = z.sd, .sw = 1,
                           .dh = 1, .dw = 1, .pt = z.pf, .pl = 0, .oh = z.od, .ow = 1};
    out->ndim = rank + 1;
    if (rank == 3) {
        out->d[0] = z.od, out->d[1] = g->oh, out->d[2] = g->ow, out->d[3] = g->c;
    } else if (rank == 2) {
        out->d[0] = g->oh, out->d[1] = g->ow, out->d[2] = g->c;
    } else {
        out->d[0] = g->ow, out->d[1] = g->c;
    }
    return CKERAS_OK;
}

static ckeras_status pool2d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return pool_build_rank(l, in, out, 2);
}

static ckeras_status pool1d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return pool_build_rank(l, in, out, 1);
}

static ckeras_status pool3d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return pool_build_rank(l, in, out, 3);
}

/* 3D: the (h, w)-pooled slices t (n*d, oh, ow, c) between the two passes */
static int64_t slices_floats(const pool_priv *p, int64_t n)
{
    return p->rank == 3 ? n * p->gz.h * p->gz.c : 0;
}

/* work (3D): t in the forward, dL/dt in the backward */
static int64_t pool_work(const ckeras_layer *l, int64_t n)
{
    return slices_floats(l->priv, n);
}

/* saved (max pooling): the argmax of each output, (n, out) int32; 3D: then that of t */
static int64_t maxpool_saved(const ckeras_layer *l, int64_t n)
{
    return n * ck_shape_size(&l->out_shape) + slices_floats(l->priv, n);
}

static void maxpool_forward(ckeras_layer *l, const ck_fwd *f)
{
    const pool_priv *p = l->priv;
    int32_t *arg = (int32_t *)f->saved;
    if (p->rank < 3) {
        ck_maxpool_forward(&p->g, f->x, f->n, f->y, arg);
        return;
    }
    ck_maxpool_forward(&p->g, f->x, f->n * p->gz.h, f->work, arg ? arg + f->n * ck_shape_size(&l->out_shape) : NULL);
    ck_maxpool_forward(&p->gz, f->work, f->n, f->y, arg);
}

/* ck_layer_vt.pool2x2 */
static const ck_conv_geom *maxpool_2x2(const ckeras_layer *l)
{
    const pool_priv *p = l->priv;
    return p && p->rank == 2 && ck_maxpool_is_2x2(&p->g) ? &p->g : NULL;
}

static void maxpool_backward(ckeras_layer *l, const ck_bwd *b)
{
    const pool_priv *p = l->priv;
    const int32_t *arg = (const int32_t *)b->saved;
    if (!b->dx)
        return;
    if (p->rank == 2 && b->relu_below &&
        ck_maxpool2x2_relu_backward(&p->g, b->dy, arg, b->x, b->n, b->dx, b->relu_db)) {
        *b->relu_done = true; /* the layer below's relu backward and bias gradient too */
        return;
    }
    if (p->rank < 3) {
        ck_maxpool_backward(&p->g, b->dy, arg, b->n, b->dx);
        return;
    }
    ck_maxpool_backward(&p->gz, b->dy, arg, b->n, b->work);
    ck_maxpool_backward(&p->g, b->work, arg + b->n * ck_shape_size(&l->out_shape), b->n * p->gz.h, b->dx);
}

static void avgpool_forward(ckeras_layer *l, const ck_fwd *f)
{
    const pool_priv *p = l->priv;
    if (p->rank < 3) {
        ck_avgpool_forward(&p->g, f->x, f->n, f->y);
        return;
    }
    ck_avgpool_forward(&p->g, f->x, f->n * p->gz.h, f->work);
    ck_avgpool_forward(&p->gz, f->work, f->n, f->y);
}

static void avgpool_backward(ckeras_layer *l, const ck_bwd *b)
{
    const pool_priv *p = l->priv;
    if (!b->dx)
        return;
    if (p->rank < 3) {
        ck_avgpool_backward(&p->g, b->dy, b->n, b->dx);
        return;
    }
    ck_avgpool_backward(&p->gz, b->dy, b->n, b->work);
    ck_avgpool_backward(&p->g, b->work, b->n * p->gz.h, b->dx);
}

/* ---- global pooling ------------------------------------------------------------------------- */

static ckeras_status global_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    ckeras_status st;
    if ((st = ck_layer_channels_last(l)) != CKERAS_OK || (st = check_rank(l, in, rank)) != CKERAS_OK)
        return st;
    if (is_max(l) && ck_shape_size(in) / in->d[rank] > INT32_MAX)
        return ck_error(CKERAS_ESHAPE, "%s '%s': too many positions per sample", l->vt->class_name, l->name);
    if (ck_cfg_bool(&l->cfg, "keepdims")) {
        *out = *in;
        for (int i = 0; i < rank; i++)
            out->d[i] = 1;
    } else {
        out->ndim = 1;
        out->d[0] = in->d[rank];
    }
    return CKERAS_OK;
}

static ckeras_status global2d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return global_build_rank(l, in, out, 2);
}

static ckeras_status global1d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return global_build_rank(l, in, out, 1);
}

static ckeras_status global3d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return global_build_rank(l, in, out, 3);
}

/* positions s and channels c of a per-sample input (..., c) */
static void global_dims(const ckeras_layer *l, int64_t *s, int64_t *c)
{
    *c = l->in_shape.d[l->in_shape.ndim - 1];
    *s = ck_shape_size(&l->in_shape) / *c;
}

/* Keras' GlobalAveragePooling1D with a mask (n, s): the mean of the kept steps only,
 * sum(x * mask) / sum(mask) (NaN for a sample whose steps are all masked, as in Keras) */
static void gap_masked_forward(const float *x, const float *mask, int64_t n, int64_t s, int64_t c, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float *yi = y + i * c, kept = 0.0f;
        memset(yi, 0, (size_t)c * sizeof(float));
        for (int64_t t = 0; t < s; t++) {
            float m = mask[i * s + t];
            kept += m;
            const float *xt = x + (i * s + t) * c;
            for (int64_t k = 0; k < c; k++)
                yi[k] += m * xt[k];
        }
        for (int64_t k = 0; k < c; k++)
            yi[k] /= kept;
    }
}

static void gap_masked_backward(const float *dy, const float *mask, int64_t n, int64_t s, int64_t c, float *dx)
{
    for (int64_t i = 0; i < n; i++) {
        float kept = 0.0f;
        for (int64_t t = 0; t < s; t++)
            kept += mask[i * s + t];
        for (int64_t t = 0; t < s; t++) {
            float w = mask[i * s + t] / kept;
            float *dxt = dx + (i * s + t) * c;
            for (int64_t k = 0; k < c; k++)
                dxt[k] = w * dy[i * c + k];
        }
    }
}

static void gap_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t s, c;
    global_dims(l, &s, &c);
    if (f->mask && l->in_shape.ndim == 2)
        gap_masked_forward(f->x, f->mask, f->n, s, c, f->y);
    else
        ck_global_avgpool_forward(f->x, f->n, s, c, f->y);
}

static void gap_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t s, c;
    global_dims(l, &s, &c);
    if (b->dx && b->mask && l->in_shape.ndim == 2)
        gap_masked_backward(b->dy, b->mask, b->n, s, c, b->dx);
    else if (b->dx)
        ck_global_avgpool_backward(b->dy, b->n, s, c, b->dx);
}

/* saved (global max): the argmax position of each channel, (n, c) int32 */
static int64_t gmp_saved(const ckeras_layer *l, int64_t n)
{
    return n * l->in_shape.d[l->in_shape.ndim - 1];
}

static void gmp_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t s, c;
    global_dims(l, &s, &c);
    ck_global_maxpool_forward(f->x, f->n, s, c, f->y, (int32_t *)f->saved);
}

static void gmp_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t s, c;
    global_dims(l, &s, &c);
    if (b->dx)
        ck_global_maxpool_backward(b->dy, (const int32_t *)b->saved, b->n, s, c, b->dx);
}

/* ---- the classes ---------------------------------------------------------------------------- */

#define POOL_VT(NAME, CLS, BASE, FIELDS, BUILD, SAVED, FWD, BWD, WORK, POOL2X2)                        \
    const ck_layer_vt NAME = {                                                                         \
        .class_name = CLS,                                                                             \
        .base_name = BASE,                                                                             \
        .fields = FIELDS,                                                                              \
        .nfields = sizeof FIELDS / sizeof FIELDS[0],                                                   \
        .build = BUILD,                                                                                \
        .saved_floats = SAVED,                                                                         \
        .work_floats = WORK,                                                                           \
        .forward = FWD,                                                                                \
        .backward = BWD,                                                                               \
        .free_priv = pool_free,                                                                        \
        .rows_apart = ck_layer_rows_apart,                                                             \
        .pool2x2 = POOL2X2,                                                                            \
    }

POOL_VT(ck_maxpool2d_vt, "MaxPooling2D", "max_pooling2d", pool2d_fields, pool2d_build, maxpool_saved,
        maxpool_forward, maxpool_backward, NULL, maxpool_2x2);
POOL_VT(ck_avgpool2d_vt, "AveragePooling2D", "average_pooling2d", pool2d_fields, pool2d_build, NULL,
        avgpool_forward, avgpool_backward, NULL, NULL);
POOL_VT(ck_maxpool1d_vt, "MaxPooling1D", "max_pooling1d", pool1d_fields, pool1d_build, maxpool_saved,
        maxpool_forward, maxpool_backward, NULL, NULL);
POOL_VT(ck_avgpool1d_vt, "AveragePooling1D", "average_pooling1d", pool1d_fields, pool1d_build, NULL,
        avgpool_forward, avgpool_backward, NULL, NULL);
POOL_VT(ck_gap2d_vt, "GlobalAveragePooling2D", "global_average_pooling2d", global_fields, global2d_build, NULL,
        gap_forward, gap_backward, NULL, NULL);
POOL_VT(ck_gmp2d_vt, "GlobalMaxPooling2D", "global_max_pooling2d", global_fields, global2d_build, gmp_saved,
        gmp_forward, gmp_backward, NULL, NULL);
POOL_VT(ck_gap1d_vt, "GlobalAveragePooling1D", "global_average_pooling1d", global_fields, global1d_build, NULL,
        gap_forward, gap_backward, NULL, NULL);
POOL_VT(ck_gmp1d_vt, "GlobalMaxPooling1D", "global_max_pooling1d", global_fields, global1d_build, gmp_saved,
        gmp_forward, gmp_backward, NULL, NULL);
POOL_VT(ck_maxpool3d_vt, "MaxPooling3D", "max_pooling3d", pool3d_fields, pool3d_build, maxpool_saved,
        maxpool_forward, maxpool_backward, pool_work, NULL);
POOL_VT(ck_avgpool3d_vt, "AveragePooling3D", "average_pooling3d", pool3d_fields, pool3d_build, NULL,
        avgpool_forward, avgpool_backward, pool_work, NULL);
POOL_VT(ck_gap3d_vt, "GlobalAveragePooling3D", "global_average_pooling3d", global_fields, global3d_build, NULL,
        gap_forward, gap_backward, NULL, NULL);
POOL_VT(ck_gmp3d_vt, "GlobalMaxPooling3D", "global_max_pooling3d", global_fields, global3d_build, gmp_saved,
        gmp_forward, gmp_backward, NULL, NULL);
