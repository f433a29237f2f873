/* Conv2DTranspose, channels last: y = activation(conv_transpose(x, W) + b).
 *
 * Keras' kernel W is (kh, kw, filters, in): the kernel of a Conv2D that maps an image of the
 * output's size (oh', ow', filters) to one of the input's size (h, w, in). The transposed
 * convolution is that Conv2D's adjoint, so the geometry g below describes the adjoint Conv2D
 * (its "input" is our output, its "output" our input) and the kernels are Conv2D's own:
 *   forward:  cols (n*h*w, kh*kw*filters) = x (n*h*w, in) . W^T (in, kh*kw*filters);
 *             y = col2im(cols)                                 (Conv2D's input gradient)
 *   backward: cols = im2col(dz);  dx = cols . W;  dW = cols^T . x;  db = column sums of dz
 *             (dx is Conv2D's forward, dW its kernel gradient with x in place of dz).
 * The im2col matrix is made in tiles of rows, as Conv2D does.
 *
 * Output size per axis (Keras 3, backend_utils.compute_conv_transpose_output_shape):
 *   valid: (in - 1) * s + k + p, p = output_padding or, when None, max(k, s) - k;
 *   same:  in * s when output_padding is None, else (in - 1) * s + k % 2 + p.
 * The output is placed as TensorFlow's conv2d_transpose (the gradient of a conv2d with that
 * output shape) places it: first row at the leading padding of that conv2d, max((in - 1) * s + k
 * - out, 0) / 2 (0 for valid). The JAX backend agrees; Keras' torch backend shifts the output by
 * one where k - s is odd with 'same' padding (Keras warns "inconsistencies across backends").
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

#define CT_TILE_TARGET ((int64_t)1 << 19)
#define CT_TILE_MIN_ROWS 256
#define CT_TILE_MAX ((int64_t)16 << 20)

static const ck_field conv2d_transpose_fields[] = {
    {"filters", CK_INT, NULL, NULL, "number of output channels"},
    {"kernel_size", CK_INTS, NULL, NULL, "window (kh, kw), or one int for both"},
    {"strides", CK_INTS, "1,1", NULL, "strides (sh, sw)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"output_padding", CK_INTS, NULL, NULL, "extra rows/columns at the far side (each < its stride), or None"},
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},
    {"dilation_rate", CK_INTS, "1,1", NULL, "only 1"},
    /* tf.keras 2 writes groups (1), Keras 3 refuses the key: never written, so both load the file */
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    {"activation", CK_STR, "linear", NULL, "activation function"},
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},
    {"activity_regularizer", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"kernel_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"bias_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

typedef struct ct_priv {
    ck_act act;
    ck_conv_geom g;  /* the adjoint Conv2D: h, w = our output, oh, ow = our input, c = filters */
    int64_t cin;     /* input channels */
    int64_t K;       /* kh*kw*filters: columns of the im2col matrix, rows of W viewed (K, cin) */
    int64_t pos;     /* h*w of the input: im2col rows per image */
    int64_t opos;    /* output positions per image */
    int64_t tile;    /* im2col rows per tile */
} ct_priv;

static void ct_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

/* Reads a setting of two ints (one int is repeated), each >= min, and stores it back at full
 * length as Keras' get_config() shows it. */
static ckeras_status pair(ckeras_layer *l, const char *name, int64_t min, int64_t *v)
{
    const ck_value *t = ck_cfg_value(&l->cfg, name);
    if (t->is_none || (t->n != 1 && t->n != 2))
        return ck_error(CKERAS_EINVAL, "Conv2DTranspose '%s': %s must be 2 ints (or one for both), got %s%d values",
                        l->name, name, t->is_none ? "None, " : "", t->is_none ? 0 : t->n);
    for (int i = 0; i < 2; i++) {
        v[i] = t->v[t->n == 1 ? 0 : i];
        if (v[i] < min)
            return ck_error(CKERAS_EINVAL, "Conv2DTranspose '%s': %s must be %s, got %lld", l->name, name,
                            min > 0 ? "positive" : "non-negative", (long long)v[i]);
    }
    return ck_config_set_ints(&l->cfg, "Conv2DTranspose", name, 2, v);
}

/* Output length and leading offset of one axis (see the top of the file); op < 0: None. */
static void ct_axis(bool same, int64_t in, int64_t k, int64_t s, int64_t op, int64_t *out, int64_t *before)
{
    /* saturating (core.h): an overflowing length stays CK_SIZE_OVERFLOW, which the geometry
     * check refuses */
    int64_t span = ck_size_add(ck_size_mul(in - 1, s), k);
    if (!same) {
        *out = ck_size_add(span, op >= 0 ? op : (k > s ? k : s) - k);
        *before = 0;
        return;
    }
    *out = op >= 0 ? ck_size_add(ck_size_mul(in - 1, s), k % 2 + op) : ck_size_mul(in, s);
    int64_t total = span == CK_SIZE_OVERFLOW || *out == CK_SIZE_OVERFLOW ? 0 : span - *out;
    *before = total > 0 ? total / 2 : 0;
}

static ckeras_status ct_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *f = ck_cfg_value(&l->cfg, "filters");
    if (f->is_none || f->i <= 0)
        return ck_error(CKERAS_EINVAL, "Conv2DTranspose '%s': filters must be a positive integer, got %lld", l->name,
                        f->is_none ? 0LL : (long long)f->i);
    int64_t k[2], s[2], d[2], op[2] = {-1, -1};
    ckeras_status st;
    if ((st = pair(l, "kernel_size", 1, k)) != CKERAS_OK || (st = pair(l, "strides", 1, s)) != CKERAS_OK ||
        (st = pair(l, "dilation_rate", 1, d)) != CKERAS_OK)
        return st;
    if (!ck_cfg_value(&l->cfg, "output_padding")->is_none) {
        if ((st = pair(l, "output_padding", 0, op)) != CKERAS_OK)
            return st;
        for (int i = 0; i < 2; i++)
            if (op[i] >= s[i])
                return ck_error(CKERAS_EINVAL,
                                "Conv2DTranspose '%s': output_padding (%lld, %lld) must be smaller than strides "
                                "(%lld, %lld) on each axis",
                                l->name, (long long)op[0], (long long)op[1], (long long)s[0], (long long)s[1]);
    }
    if (d[0] != 1 || d[1] != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "Conv2DTranspose '%s': dilation_rate (%lld, %lld) is not supported (only 1)",
                        l->name, (long long)d[0], (long long)d[1]);
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    bool same;
    if (pad && strcasecmp(pad, "valid") == 0)
        same = false;
    else if (pad && strcasecmp(pad, "same") == 0)
        same = true;
    else
        return ck_error(CKERAS_EINVAL, "Conv2DTranspose '%s': padding must be 'valid' or 'same', got '%s'", l->name,
                        pad ? pad : "None");
    const char *df = ck_cfg_str(&l->cfg, "data_format");
    if (df && strcmp(df, "channels_last") != 0) {
        if (strcmp(df, "channels_first") == 0)
            return ck_error(CKERAS_EUNSUPPORTED, "Conv2DTranspose '%s': data_format 'channels_first' is not supported "
                            "(only channels_last)", l->name);
        return ck_error(CKERAS_EINVAL, "Conv2DTranspose '%s': data_format must be 'channels_last', got '%s'", l->name,
                        df);
    }
    if (ck_cfg_int(&l->cfg, "groups") != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "Conv2DTranspose '%s': groups = %lld is not supported (only 1)", l->name,
                        (long long)ck_cfg_int(&l->cfg, "groups"));
    static const char *const unsupported[] = {"activity_regularizer", "kernel_constraint", "bias_constraint"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (ck_cfg_str(&l->cfg, unsupported[i]))
            return ck_error(CKERAS_EUNSUPPORTED, "Conv2DTranspose '%s': %s is not supported yet", l->name,
                            unsupported[i]);
    if (in->ndim != 3) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE,
                        "Conv2DTranspose '%s': needs per-sample inputs of rank 3 (height, width, channels), got %s",
                        l->name, ck_shape_str(in, false, buf, sizeof buf));
    }
    if ((st = ck_layer_check_axes(l, in)) != CKERAS_OK)
        return st;

    ct_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("Conv2DTranspose '%s'", l->name);
        return st;
    }
    ck_conv_geom *g = &p->g;
    memset(g, 0, sizeof *g);
    g->oh = in->d[0], g->ow = in->d[1], p->cin = in->d[2];
    g->c = f->i;
    g->kh = k[0], g->kw = k[1], g->sh = s[0], g->sw = s[1], g->dh = 1, g->dw = 1;
    ct_axis(same, g->oh, g->kh, g->sh, op[0], &g->h, &g->pt);
    ct_axis(same, g->ow, g->kw, g->sw, op[1], &g->w, &g->pl);
    if (g->h <= 0 || g->w <= 0)
        return ck_error(CKERAS_ESHAPE, "Conv2DTranspose '%s': output size (%lld, %lld) for input (%lld, %lld) is empty",
                        l->name, (long long)g->h, (long long)g->w, (long long)g->oh, (long long)g->ow);
    if ((st = ck_conv_geom_check(l, g)) != CKERAS_OK)
        return st;
    p->K = g->kh * g->kw * g->c; /* the three checked by ck_conv_geom_check */
    p->pos = g->oh * g->ow;
    p->opos = g->h * g->w;
    p->tile = CT_TILE_TARGET / p->K;
    if (p->tile < CT_TILE_MIN_ROWS)
        p->tile = CT_TILE_MIN_ROWS;
    if (p->tile > CT_TILE_MAX / p->K)
        p->tile = CT_TILE_MAX / p->K > 0 ? CT_TILE_MAX / p->K : 1;

    *out = (ck_shape){3, {g->h, g->w, g->c}};
    ck_shape ks = {4, {g->kh, g->kw, g->c, p->cin}};
    ck_layer_add_weight(l, "kernel", &ks, true, "kernel_initializer", NULL);
    if (ck_cfg_bool(&l->cfg, "use_bias")) {
        ck_shape bs = {1, {g->c}};
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

/* saved: the pre-activation z (n, oh', ow', filters) when the activation's backward needs it */
static int64_t ct_saved(const ckeras_layer *l, int64_t n)
{
    const ct_priv *p = l->priv;
    if (p->act.kind == CK_ACT_LINEAR || !ck_act_backward_needs_x(&p->act))
        return 0;
    return n * p->opos * p->g.c;
}

/* work: one tile of the im2col matrix (tile rows, K) */
static int64_t ct_work(const ckeras_layer *l, int64_t n)
{
    const ct_priv *p = l->priv;
    return (n * p->pos < p->tile ? n * p->pos : p->tile) * p->K;
}

static void ct_forward(ckeras_layer *l, const ck_fwd *f)
{
    const ct_priv *p = l->priv;
    const int64_t F = p->g.c, K = p->K, C = p->cin, rows = f->n * p->pos, orows = f->n * p->opos;
    const float *W = l->w[0].data;
    memset(f->y, 0, (size_t)(orows * F) * sizeof(float));
    for (int64_t r0 = 0; r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile;
        /* cols (r1-r0, K) = x rows [r0, r1) (., C) . W^T (C, K); y += col2im(cols) */
        ck_gemm(false, true, r1 - r0, K, C, 1.0f, f->x + r0 * C, C, W, C, 0.0f, f->work, K);
        ck_col2im(&p->g, f->work, r0, r1, f->y);
    }
    if (l->nw > 1)
        ck_add_bias(f->y, l->w[1].data, orows, F);
    if (p->act.kind != CK_ACT_LINEAR) {
        if (f->saved && f->training && ck_act_backward_needs_x(&p->act))
            memcpy(f->saved, f->y, (size_t)(orows * F) * sizeof(float));
        ck_act_forward(&p->act, f->y, f->y, orows, F);
    }
}

static void ct_backward(ckeras_layer *l, const ck_bwd *b)
{
    const ct_priv *p = l->priv;
    const int64_t F = p->g.c, K = p->K, C = p->cin, rows = b->n * p->pos, orows = b->n * p->opos;
    const float *W = l->w[0].data;
    const bool wgrad = b->train_weights && l->w[0].grad;
    float *dz = b->dy; /* dz (n, oh', ow', F) = dy * act'(z), in place */
    float *db = wgrad && l->nw > 1 ? l->w[1].grad : NULL;
    if (p->act.kind == CK_ACT_LINEAR) {
        if (db)
            ck_bias_grad(dz, db, orows, F);
    } else if (ck_act_backward_needs_x(&p->act) || !ck_act_backward_bias_grad(&p->act, b->y, dz, db, orows, F)) {
        ck_act_backward(&p->act, b->saved, b->y, b->dy, dz, orows, F);
        if (db)
            ck_bias_grad(dz, db, orows, F);
    }
    if (!wgrad && !b->dx)
        return;
    for (int64_t r0 = 0; r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile, m = r1 - r0;
        ck_im2col(&p->g, dz, r0, r1, b->work); /* cols (m, K) */
        if (wgrad) /* dW (K, C) (+)= cols^T (K, m) . x (m, C) */
            ck_gemm(true, false, K, C, m, 1.0f, b->work, K, b->x + r0 * C, C, r0 ? 1.0f : 0.0f, l->w[0].grad, C);
        if (b->dx) /* dx (m, C) = cols (m, K) . W (K, C) */
            ck_gemm(false, false, m, C, K, 1.0f, b->work, K, W, C, 0.0f, b->dx + r0 * C, C);
    }
}

const ck_layer_vt ck_conv2d_transpose_vt = {
    .class_name = "Conv2DTranspose",
    .base_name = "conv2d_transpose",
    .fields = conv2d_transpose_fields,
    .nfields = sizeof conv2d_transpose_fields / sizeof conv2d_transpose_fields[0],
    .build = ct_build,
    .saved_floats = ct_saved,
    .work_floats = ct_work,
    .forward = ct_forward,
    .backward = ct_backward,
    .free_priv = ct_free,
};
