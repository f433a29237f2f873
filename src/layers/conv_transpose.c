/* Conv2DTranspose, Conv1DTranspose and Conv3DTranspose, channels last:
 * y = activation(conv_transpose(x, W) + b). Conv1DTranspose is the 2D case on one row;
 * Conv3DTranspose adds a depth axis (ck_conv_depth) to the geometry below, kernel (kd, kh, kw,
 * filters, in). Dilation d makes the window (k-1)*d + 1 long in the shape rules below and
 * dilates the adjoint convolution's taps.
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

#define CT_COMMON_FIELDS                                                                               \
    {"filters", CK_INT, NULL, "(0,)", "number of output channels"},                                      \
    {"padding", CK_STR, "valid", NULL, "valid or same"},                                               \
    {"output_padding", CK_INTS, NULL, NULL, "extra rows/columns at the far side (each < its stride), or None"}, \
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},                              \
    {"activation", CK_STR, "linear", NULL, "activation function"},                                     \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},                                      \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},                      \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},                                   \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                         \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                             \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},    \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},               \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                   \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

static const ck_field conv2d_transpose_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window (kh, kw), or one int for both"},
    {"strides", CK_INTS, "1,1", "(0,)", "strides (sh, sw)"},
    {"dilation_rate", CK_INTS, "1,1", "(0,)", "dilation (dh, dw); strides must then be 1"},
    /* tf.keras 2 writes groups (1), Keras 3 refuses the key: never written, so both load the file */
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    CT_COMMON_FIELDS,
};

static const ck_field conv1d_transpose_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window length"},
    {"strides", CK_INTS, "1", "(0,)", "stride"},
    {"dilation_rate", CK_INTS, "1", "(0,)", "dilation"},
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    CT_COMMON_FIELDS,
};

static const ck_field conv3d_transpose_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window (kd, kh, kw), or one int for all"},
    {"strides", CK_INTS, "1,1,1", "(0,)", "strides (sd, sh, sw)"},
    {"dilation_rate", CK_INTS, "1,1,1", "(0,)", "dilation (dd, dh, dw)"},
    {"groups", CK_INT, "1", NULL, "tf.keras 2 only; must be 1", CK_W_NEVER},
    CT_COMMON_FIELDS,
};

typedef struct ct_priv {
    ck_act act;
    ck_conv_geom g;  /* the adjoint Conv2D: h, w = our output, oh, ow = our input, c = filters */
    ck_conv_depth z; /* Conv3DTranspose: the adjoint Conv3D's depth axis (d = ours out, od = in) */
    int64_t cin;     /* input channels */
    int64_t K;       /* kd*kh*kw*filters: columns of the im2col matrix, rows of W viewed (K, cin) */
    int64_t pos;     /* od*oh*ow of the input: im2col rows per image */
    int64_t opos;    /* output positions per image */
    int64_t tile;    /* im2col rows per tile */
} ct_priv;

static void ct_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

/* Output length and leading offset of one axis (see the top of the file); k is the dilated
 * window (k-1)*d + 1, op < 0: None. */
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

static ckeras_status ct_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    const char *cls = l->vt->class_name;
    const ck_value *f = ck_cfg_value(&l->cfg, "filters");
    if (f->is_none || f->i <= 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': filters must be a positive integer, got %lld", cls, l->name,
                        f->is_none ? 0LL : (long long)f->i);
    int64_t k[3], s[3], d[3], op[3] = {-1, -1, -1};
    ckeras_status st;
    if ((st = ck_layer_tuple(l, "kernel_size", rank, 1, k)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "strides", rank, 1, s)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "dilation_rate", rank, 1, d)) != CKERAS_OK)
        return st;
    if (!ck_cfg_value(&l->cfg, "output_padding")->is_none) {
        if ((st = ck_layer_tuple(l, "output_padding", rank, 0, op)) != CKERAS_OK)
            return st;
        for (int i = 0; i < rank; i++)
            if (op[i] >= s[i])
                return ck_error(CKERAS_EINVAL,
                                "%s '%s': output_padding %lld must be smaller than the stride %lld on spatial axis %d",
                                cls, l->name, (long long)op[i], (long long)s[i], i);
    }
    for (int i = 0; i < rank; i++)
        if (s[i] > 1 && d[i] > 1) /* as Keras' transposed convolutions refuse it */
            return ck_error(CKERAS_EINVAL, "%s '%s': strides > 1 cannot be combined with dilation_rate > 1", cls,
                            l->name);
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    bool same;
    if (pad && strcasecmp(pad, "valid") == 0)
        same = false;
    else if (pad && strcasecmp(pad, "same") == 0)
        same = true;
    else
        return ck_error(CKERAS_EINVAL, "%s '%s': padding must be 'valid' or 'same', got '%s'", cls, l->name,
                        pad ? pad : "None");
    if ((st = ck_layer_channels_last(l)) != CKERAS_OK)
        return st;
    if (ck_cfg_int(&l->cfg, "groups") != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': groups = %lld is not supported (only 1)", cls, l->name,
                        (long long)ck_cfg_int(&l->cfg, "groups"));
    if (in->ndim != rank + 1) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (%s), got %s", cls, l->name,
                        rank + 1, rank == 3 ? "depth, height, width, channels" :
                        rank == 2 ? "height, width, channels" : "steps, channels",
                        ck_shape_str(in, false, buf, sizeof buf));
    }
    if ((st = ck_layer_check_axes(l, in)) != CKERAS_OK)
        return st;

    ct_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("%s '%s'", cls, l->name);
        return st;
    }
    /* axes (depth, height, width) of the adjoint convolution; a missing one is a single slice */
    int64_t ins[3] = {1, 1, 1}, ks[3] = {1, 1, 1}, ss[3] = {1, 1, 1}, ds[3] = {1, 1, 1}, ops[3] = {-1, -1, -1};
    for (int i = 0; i < rank; i++) {
        const int a = 3 - rank + i;
        ins[a] = in->d[i], ks[a] = k[i], ss[a] = s[i], ds[a] = d[i], ops[a] = op[i];
    }
    int64_t outs[3], before[3];
    for (int a = 0; a < 3; a++) /* the dilated window, checked: at most 2^48 * 2^48 saturates */
        ct_axis(same, ins[a], ck_size_add(ck_size_mul(ks[a] - 1, ds[a]), 1), ss[a], ops[a], &outs[a], &before[a]);
    ck_conv_geom *g = &p->g;
    *g = (ck_conv_geom){.h = outs[1], .w = outs[2], .c = f->i, .kh = ks[1], .kw = ks[2], .sh = ss[1], .sw = ss[2],
                        .dh = ds[1], .dw = ds[2], .pt = before[1], .pl = before[2], .oh = ins[1], .ow = ins[2]};
    p->z = (ck_conv_depth){outs[0], ks[0], ss[0], ds[0], before[0], ins[0]};
    p->cin = in->d[rank];
    if (outs[0] <= 0 || outs[1] <= 0 || outs[2] <= 0)
        return ck_error(CKERAS_ESHAPE, "%s '%s': output size (%lld, %lld, %lld) for input (%lld, %lld, %lld) is empty",
                        cls, l->name, (long long)outs[0], (long long)outs[1], (long long)outs[2], (long long)ins[0],
                        (long long)ins[1], (long long)ins[2]);
    if ((st = ck_conv_depth_check(l, g, &p->z)) != CKERAS_OK)
        return st;
    p->K = p->z.kd * g->kh * g->kw * g->c; /* checked by ck_conv_depth_check */
    p->pos = p->z.od * g->oh * g->ow;
    p->opos = p->z.d * g->h * g->w;
    p->tile = CT_TILE_TARGET / p->K;
    if (p->tile < CT_TILE_MIN_ROWS)
        p->tile = CT_TILE_MIN_ROWS;
    if (p->tile > CT_TILE_MAX / p->K)
        p->tile = CT_TILE_MAX / p->K > 0 ? CT_TILE_MAX / p->K : 1;

    out->ndim = rank + 1;
    ck_shape kshape = {rank + 2, {0}};
    for (int i = 0; i < rank; i++)
        out->d[i] = outs[3 - rank + i], kshape.d[i] = k[i];
    out->d[rank] = g->c;
    kshape.d[rank] = g->c, kshape.d[rank + 1] = p->cin;
    ck_layer_add_weight(l, "kernel", &kshape, true, "kernel_initializer", NULL);
    if (ck_cfg_bool(&l->cfg, "use_bias")) {
        ck_shape bs = {1, {g->c}};
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

static ckeras_status ct_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return ct_build_rank(l, in, out, 2);
}

static ckeras_status ct1d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return ct_build_rank(l, in, out, 1);
}

static ckeras_status ct3d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return ct_build_rank(l, in, out, 3);
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
        ck_col2im3d(&p->g, &p->z, f->work, r0, r1, f->y);
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
        ck_im2col3d(&p->g, &p->z, dz, r0, r1, b->work); /* cols (m, K) */
        if (wgrad) /* dW (K, C) (+)= cols^T (K, m) . x (m, C) */
            ck_gemm(true, false, K, C, m, 1.0f, b->work, K, b->x + r0 * C, C, r0 ? 1.0f : 0.0f, l->w[0].grad, C);
        if (b->dx) /* dx (m, C) = cols (m, K) . W (K, C) */
            ck_gemm(false, false, m, C, K, 1.0f, b->work, K, W, C, 0.0f, b->dx + r0 * C, C);
    }
}

const ck_layer_vt ck_conv1d_transpose_vt = {
    .class_name = "Conv1DTranspose",
    .base_name = "conv1d_transpose",
    .fields = conv1d_transpose_fields,
    .nfields = sizeof conv1d_transpose_fields / sizeof conv1d_transpose_fields[0],
    .build = ct1d_build,
    .saved_floats = ct_saved,
    .work_floats = ct_work,
    .forward = ct_forward,
    .backward = ct_backward,
    .free_priv = ct_free,
};

const ck_layer_vt ck_conv3d_transpose_vt = {
    .class_name = "Conv3DTranspose",
    .base_name = "conv3d_transpose",
    .fields = conv3d_transpose_fields,
    .nfields = sizeof conv3d_transpose_fields / sizeof conv3d_transpose_fields[0],
    .build = ct3d_build,
    .saved_floats = ct_saved,
    .work_floats = ct_work,
    .forward = ct_forward,
    .backward = ct_backward,
    .free_priv = ct_free,
};

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
