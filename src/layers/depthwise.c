/* DepthwiseConv2D and SeparableConv2D, channels last.
 *
 * DepthwiseConv2D: y = activation(depthwise(x, D) + b), D is Keras' kernel (kh, kw, in, dm) and
 * output channel ch*dm + m is input channel ch convolved with D[:, :, ch, m]; b is (in*dm).
 * SeparableConv2D: t = depthwise(x, D) (no bias), then the pointwise 1x1 convolution
 * y = activation(t P + b), P (1, 1, in*dm, filters) read as the matrix (in*dm, filters): one GEMM
 * on the batch's (n*oh*ow, in*dm) rows. Weights in Keras order: DepthwiseConv2D kernel, bias;
 * SeparableConv2D depthwise_kernel, pointwise_kernel, bias.
 *
 * Buffers (rows = n*oh*ow, C = in*dm, F = filters):
 *   DepthwiseConv2D  saved: z (rows, C) when the activation's backward reads it; no work.
 *   SeparableConv2D  saved: t (rows, C), then z (rows, F) when needed; work: dt (rows, C).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

/* ONE: "1,1" (2D) or "1" (1D); WHAT: the axes the tuples hold */
#define DW_SHAPE_FIELDS_(ONE, WHAT)                                                                    \
    {"kernel_size", CK_INTS, NULL, "(0,)", "window " WHAT ", or one int for all"},                       \
    {"strides", CK_INTS, ONE, "(0,)", "strides " WHAT},                                                  \
    {"padding", CK_STR, "valid", NULL, "valid or same"},                                               \
    {"depth_multiplier", CK_INT, "1", "(0,)", "output channels per input channel of the depthwise step"}, \
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},                              \
    {"dilation_rate", CK_INTS, ONE, "(0,)", "dilation " WHAT},                                           \
    {"activation", CK_STR, "linear", NULL, "activation function"},                                     \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},                                      \
    {"depthwise_initializer", CK_STR, "glorot_uniform", NULL, "depthwise kernel initializer"}

#define DW_TAIL_FIELDS                                                                                 \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},                                   \
    {"depthwise_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the depthwise kernel"},            \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                             \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},    \
    {"depthwise_constraint", CK_STR, NULL, NULL, "constraint on depthwise after each update"},         \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                   \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

#define DW_SHAPE_FIELDS DW_SHAPE_FIELDS_("1,1", "(h, w)")
#define DW_SHAPE_FIELDS_1D DW_SHAPE_FIELDS_("1", "(length)")

static const ck_field depthwise_fields[] = {
    DW_SHAPE_FIELDS,
    /* tf.keras 2 DepthwiseConv2D inherits Conv2D's config and writes "groups": 1; Keras 3 has none */
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    DW_TAIL_FIELDS,
};

#define SEP_FIELDS(SHAPE)                                                                              \
    {"filters", CK_INT, NULL, "(0,)", "number of output channels"},                                      \
    SHAPE,                                                                                             \
    {"pointwise_initializer", CK_STR, "glorot_uniform", NULL, "pointwise kernel initializer"},         \
    {"pointwise_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the pointwise kernel"},            \
    {"pointwise_constraint", CK_STR, NULL, NULL, "constraint on pointwise after each update"},         \
    DW_TAIL_FIELDS

static const ck_field separable_fields[] = {SEP_FIELDS(DW_SHAPE_FIELDS)};

static const ck_field depthwise1d_fields[] = {
    DW_SHAPE_FIELDS_1D,
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    DW_TAIL_FIELDS,
};

static const ck_field separable1d_fields[] = {SEP_FIELDS(DW_SHAPE_FIELDS_1D)};

typedef struct dw_priv {
    ck_act act;
    ck_conv_geom g;
    int64_t dm;
    int64_t C;        /* in * dm: depthwise output channels */
    int64_t filters;  /* SeparableConv2D: pointwise outputs; 0 for DepthwiseConv2D */
    int64_t pos;      /* oh * ow */
} dw_priv;

static void dw_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status dw_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    const char *cls = l->vt->class_name;
    const bool sep = ck_config_find(&l->cfg, "filters") >= 0;
    int64_t filters = 0;
    if (sep) {
        const ck_value *f = ck_cfg_value(&l->cfg, "filters");
        if (f->is_none || f->i <= 0)
            return ck_error(CKERAS_EINVAL, "%s '%s': filters must be a positive integer, got %lld", cls, l->name,
                            f->is_none ? 0LL : (long long)f->i);
        filters = f->i;
    }
    if (!sep && ck_config_find(&l->cfg, "groups") >= 0 && ck_cfg_int(&l->cfg, "groups") != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': groups must be 1, got %lld", cls, l->name,
                        (long long)ck_cfg_int(&l->cfg, "groups"));
    const int64_t dm = ck_cfg_int(&l->cfg, "depth_multiplier");
    if (dm <= 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': depth_multiplier must be a positive integer, got %lld", cls, l->name,
                        (long long)dm);
    int64_t k[2], s[2], d[2];
    ckeras_status st;
    if ((st = ck_layer_tuple(l, "kernel_size", rank, 1, k)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "strides", rank, 1, s)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "dilation_rate", rank, 1, d)) != CKERAS_OK)
        return st;
    if (rank == 1) { /* the 2D case with one row */
        k[1] = k[0], s[1] = s[0], d[1] = d[0];
        k[0] = s[0] = d[0] = 1;
    }
    if ((s[0] > 1 || s[1] > 1) && (d[0] > 1 || d[1] > 1))
        return ck_error(CKERAS_EINVAL, "%s '%s': strides > 1 cannot be combined with dilation_rate > 1 (as in Keras)",
                        cls, l->name);
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    ck_pad_mode mode;
    if (pad && strcasecmp(pad, "valid") == 0)
        mode = CK_PAD_VALID;
    else if (pad && strcasecmp(pad, "same") == 0)
        mode = CK_PAD_SAME;
    else
        return ck_error(CKERAS_EINVAL, "%s '%s': padding must be 'valid' or 'same', got '%s'", cls, l->name,
                        pad ? pad : "None");
    if ((st = ck_layer_channels_last(l)) != CKERAS_OK)
        return st;
    if (in->ndim != rank + 1) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (%s), got %s", cls, l->name,
                        rank + 1, rank == 2 ? "height, width, channels" : "steps, channels",
                        ck_shape_str(in, false, buf, sizeof buf));
    }
    if ((st = ck_layer_check_axes(l, in)) != CKERAS_OK)
        return st;

    dw_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "depthwise_initializer"))) != CKERAS_OK ||
        (sep && (st = ck_init_check(ck_cfg_str(&l->cfg, "pointwise_initializer"))) != CKERAS_OK) ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("%s '%s'", cls, l->name);
        return st;
    }

    ck_conv_geom *g = &p->g;
    memset(g, 0, sizeof *g);
    g->h = rank == 2 ? in->d[0] : 1, g->w = in->d[rank - 1], g->c = in->d[rank];
    g->kh = k[0], g->kw = k[1], g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1];
    if ((st = ck_conv_geom_fit(l, g, mode)) != CKERAS_OK)
        return st;
    if (g->oh <= 0 || g->ow <= 0) {
        int ax = g->oh <= 0 ? 0 : 1;
        int64_t kk = ax == 0 ? g->kh : g->kw, dd = ax == 0 ? g->dh : g->dw, nn = ax == 0 ? g->h : g->w;
        return ck_error(CKERAS_ESHAPE,
                        "%s '%s': kernel size %lld (dilated span %lld) is larger than input size %lld on spatial "
                        "axis %d with padding 'valid'",
                        cls, l->name, (long long)kk, (long long)((kk - 1) * dd + 1), (long long)nn, ax + rank - 2);
    }
    p->dm = dm;
    p->C = ck_size_mul(g->c, dm); /* checked with the output shape (check_built_sizes) */
    p->filters = filters;
    p->pos = g->oh * g->ow; /* checked by ck_conv_geom_fit */

    const int64_t outc = sep ? filters : p->C;
    *out = rank == 2 ? (ck_shape){3, {g->oh, g->ow, outc}} : (ck_shape){2, {g->ow, outc}};
    ck_shape ds = rank == 2 ? (ck_shape){4, {g->kh, g->kw, g->c, dm}} : (ck_shape){3, {g->kw, g->c, dm}};
    ck_layer_add_weight(l, sep ? "depthwise_kernel" : "kernel", &ds, true, "depthwise_initializer", NULL);
    if (sep) {
        ck_shape ps = rank == 2 ? (ck_shape){4, {1, 1, p->C, filters}} : (ck_shape){3, {1, p->C, filters}};
        ck_layer_add_weight(l, "pointwise_kernel", &ps, true, "pointwise_initializer", NULL);
    }
    if (ck_cfg_bool(&l->cfg, "use_bias")) {
        ck_shape bs = {1, {outc}};
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

static ckeras_status dw_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return dw_build_rank(l, in, out, 2);
}

static ckeras_status dw1d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return dw_build_rank(l, in, out, 1);
}

static bool keeps_z(const dw_priv *p)
{
    return p->act.kind != CK_ACT_LINEAR && ck_act_backward_needs_x(&p->act);
}

static int64_t out_channels(const dw_priv *p)
{
    return p->filters ? p->filters : p->C;
}

static int64_t dw_saved(const ckeras_layer *l, int64_t n)
{
    const dw_priv *p = l->priv;
    const int64_t rows = n * p->pos; /* n x an axis of the checked output */
    return ck_size_add(p->filters ? ck_size_mul(rows, p->C) : 0, keeps_z(p) ? ck_size_mul(rows, out_channels(p)) : 0);
}

static int64_t dw_work(const ckeras_layer *l, int64_t n)
{
    const dw_priv *p = l->priv;
    return p->filters ? ck_size_mul3(n, p->pos, p->C) : 0;
}

/* The bias weight, or NULL. */
static ck_weight *bias_of(ckeras_layer *l)
{
    return l->nw > 0 && strcmp(l->w[l->nw - 1].name, "bias") == 0 ? &l->w[l->nw - 1] : NULL;
}

static void dw_forward(ckeras_layer *l, const ck_fwd *f)
{
    const dw_priv *p = l->priv;
    const int64_t rows = f->n * p->pos, F = out_channels(p);
    float *z_save = f->saved; /* where z goes when kept */
    if (p->filters) {
        /* t (rows, C) = depthwise(x); y (rows, F) = t . P (C, F) */
        float *t = f->saved ? f->saved : f->work;
        ck_depthwise_forward(&p->g, p->dm, f->x, l->w[0].data, f->n, t);
        ck_gemm(false, false, rows, F, p->C, 1.0f, t, p->C, l->w[1].data, F, 0.0f, f->y, F);
        z_save = f->saved ? f->saved + rows * p->C : NULL;
    } else {
        ck_depthwise_forward(&p->g, p->dm, f->x, l->w[0].data, f->n, f->y);
    }
    const ck_weight *b = bias_of(l);
    if (b)
        ck_add_bias(f->y, b->data, rows, F);
    if (p->act.kind != CK_ACT_LINEAR) {
        if (z_save && f->training && keeps_z(p))
            memcpy(z_save, f->y, (size_t)(rows * F) * sizeof(float));
        ck_act_forward(&p->act, f->y, f->y, rows, F);
    }
}

static void dw_backward(ckeras_layer *l, const ck_bwd *b)
{
    const dw_priv *p = l->priv;
    const int64_t rows = b->n * p->pos, F = out_channels(p);
    const float *z = p->filters ? b->saved + rows * p->C : b->saved;
    float *dz = b->dy; /* dz (rows, F) = dy * act'(z), in place */
    if (p->act.kind != CK_ACT_LINEAR)
        ck_act_backward(&p->act, keeps_z(p) ? z : NULL, b->y, b->dy, dz, rows, F);
    const bool wgrad = b->train_weights && l->w[0].grad;
    ck_weight *bias = bias_of(l);
    if (wgrad && bias)
        ck_bias_grad(dz, bias->grad, rows, F);
    const float *ddw = dz; /* the gradient at the depthwise output (rows, C) */
    if (p->filters) {
        const float *t = b->saved, *P = l->w[1].data;
        /* dP (C, F) = t^T (C, rows) . dz (rows, F) */
        if (wgrad)
            ck_gemm(true, false, p->C, F, rows, 1.0f, t, p->C, dz, F, 0.0f, l->w[1].grad, F);
        if (!wgrad && !b->dx)
            return;
        /* dt (rows, C) = dz (rows, F) . P^T (F, C) */
        ck_gemm(false, true, rows, p->C, F, 1.0f, dz, F, P, F, 0.0f, b->work, p->C);
        ddw = b->work;
    }
    if (wgrad)
        ck_depthwise_backward_kernel(&p->g, p->dm, b->x, ddw, b->n, l->w[0].grad);
    if (b->dx)
        ck_depthwise_backward_input(&p->g, p->dm, ddw, l->w[0].data, b->n, b->dx);
}

const ck_layer_vt ck_depthwise_conv2d_vt = {
    .class_name = "DepthwiseConv2D",
    .base_name = "depthwise_conv2d",
    .fields = depthwise_fields,
    .nfields = sizeof depthwise_fields / sizeof depthwise_fields[0],
    .build = dw_build,
    .saved_floats = dw_saved,
    .work_floats = dw_work,
    .forward = dw_forward,
    .backward = dw_backward,
    .free_priv = dw_free,
};

const ck_layer_vt ck_separable_conv2d_vt = {
    .class_name = "SeparableConv2D",
    .base_name = "separable_conv2d",
    .fields = separable_fields,
    .nfields = sizeof separable_fields / sizeof separable_fields[0],
    .build = dw_build,
    .saved_floats = dw_saved,
    .work_floats = dw_work,
    .forward = dw_forward,
    .backward = dw_backward,
    .free_priv = dw_free,
};

const ck_layer_vt ck_depthwise_conv1d_vt = {
    .class_name = "DepthwiseConv1D",
    .base_name = "depthwise_conv1d",
    .fields = depthwise1d_fields,
    .nfields = sizeof depthwise1d_fields / sizeof depthwise1d_fields[0],
    .build = dw1d_build,
    .saved_floats = dw_saved,
    .work_floats = dw_work,
    .forward = dw_forward,
    .backward = dw_backward,
    .free_priv = dw_free,
};

const ck_layer_vt ck_separable_conv1d_vt = {
    .class_name = "SeparableConv1D",
    .base_name = "separable_conv1d",
    .fields = separable1d_fields,
    .nfields = sizeof separable1d_fields / sizeof separable1d_fields[0],
    .build = dw1d_build,
    .saved_floats = dw_saved,
    .work_floats = dw_work,
    .forward = dw_forward,
    .backward = dw_backward,
    .free_priv = dw_free,
};
