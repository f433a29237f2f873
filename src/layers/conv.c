/* Conv2D and Conv1D, channels last: y = activation(conv(x, W) + b).
 *
 * Kernel W is (kh, kw, in, filters) (Conv1D: (k, in, filters)) as Keras stores it, which read
 * row-major is the matrix (kh*kw*in, filters) whose rows match the im2col window order
 * (ky, kx, channel). Forward: im2col of a tile of rows (output positions of the batch) into the
 * shared workspace, then one GEMM per tile; a 1x1 kernel with stride 1 and no padding is one GEMM
 * on the input itself. Backward recomputes the tile's columns (the workspace is shared between
 * layers), then dW += cols^T dz, dcols = dz W^T over the same buffer, and col2im into dx. */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>
#include <strings.h>

/* The batch's im2col matrix is made and consumed in tiles of rows: about CONV_TILE_TARGET floats
 * (2 MB, so the GEMM reads its columns from cache: measured faster than one large tile), at least
 * CONV_TILE_MIN_ROWS rows (GEMM efficiency), never more than CONV_TILE_MAX floats (64 MB). */
#define CONV_TILE_TARGET ((int64_t)1 << 19)
#define CONV_TILE_MIN_ROWS 256
#define CONV_TILE_MAX ((int64_t)16 << 20)

#define CONV_COMMON_FIELDS                                                                             \
    {"filters", CK_INT, NULL, NULL, "number of output channels"},                                      \
    {"activation", CK_STR, "linear", NULL, "activation function"},                                     \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},                                      \
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},                              \
    {"groups", CK_INT, "1", NULL, "only 1"},                                                           \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},                      \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},                                   \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                        \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                            \
    {"activity_regularizer", CK_STR, NULL, NULL, "not supported yet (must be None)"},                  \
    {"kernel_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},                     \
    {"bias_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},                       \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential"}

static const ck_field conv2d_fields[] = {
    {"kernel_size", CK_INTS, NULL, NULL, "window (kh, kw), or one int for both"},
    {"strides", CK_INTS, "1,1", NULL, "strides (sh, sw)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"dilation_rate", CK_INTS, "1,1", NULL, "dilation (dh, dw)"},
    CONV_COMMON_FIELDS,
};

static const ck_field conv1d_fields[] = {
    {"kernel_size", CK_INTS, NULL, NULL, "window length"},
    {"strides", CK_INTS, "1", NULL, "stride"},
    {"padding", CK_STR, "valid", NULL, "valid, same or causal"},
    {"dilation_rate", CK_INTS, "1", NULL, "dilation"},
    CONV_COMMON_FIELDS,
};

typedef struct conv_priv {
    ck_act act;
    ck_conv_geom g;
    int64_t filters;
    int64_t K;      /* kh*kw*in: rows of the kernel matrix */
    int64_t pos;    /* oh*ow: output positions per image */
    int64_t tile;   /* rows of the im2col matrix per tile */
    bool direct;    /* 1x1, stride 1, no padding: the input is the column matrix */
} conv_priv;

static void conv_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

/* Reads a tuple setting of `rank` ints (one int is repeated), each >= 1, and stores it back
 * at full length as Keras' get_config() shows it. */
static ckeras_status tuple(ckeras_layer *l, const char *cls, const char *name, int rank, int64_t *v)
{
    const ck_value *t = ck_cfg_value(&l->cfg, name);
    if (t->is_none || (t->n != 1 && t->n != rank))
        return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %d positive int%s, got %s%d values", cls, l->name, name,
                        rank, rank > 1 ? "s (or one for all)" : "", t->is_none ? "None, " : "",
                        t->is_none ? 0 : t->n);
    for (int i = 0; i < rank; i++) {
        v[i] = t->v[t->n == 1 ? 0 : i];
        if (v[i] <= 0)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be positive, got %lld", cls, l->name, name,
                            (long long)v[i]);
    }
    return ck_config_set_ints(&l->cfg, cls, name, rank, v);
}

static ckeras_status conv_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    const char *cls = l->vt->class_name;
    const ck_value *f = ck_cfg_value(&l->cfg, "filters");
    if (f->is_none || f->i <= 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': filters must be a positive integer, got %lld", cls, l->name,
                        f->is_none ? 0LL : (long long)f->i);
    int64_t k[2], s[2], d[2];
    ckeras_status st;
    if ((st = tuple(l, cls, "kernel_size", rank, k)) != CKERAS_OK ||
        (st = tuple(l, cls, "strides", rank, s)) != CKERAS_OK ||
        (st = tuple(l, cls, "dilation_rate", rank, d)) != CKERAS_OK)
        return st;
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    ck_pad_mode mode;
    if (pad && strcasecmp(pad, "valid") == 0)
        mode = CK_PAD_VALID;
    else if (pad && strcasecmp(pad, "same") == 0)
        mode = CK_PAD_SAME;
    else if (pad && rank == 1 && strcasecmp(pad, "causal") == 0)
        mode = CK_PAD_CAUSAL;
    else
        return ck_error(CKERAS_EINVAL, "%s '%s': padding must be %s, got '%s'", cls, l->name,
                        rank == 1 ? "'valid', 'same' or 'causal'" : "'valid' or 'same'", pad ? pad : "None");
    const char *df = ck_cfg_str(&l->cfg, "data_format");
    if (df && strcmp(df, "channels_last") != 0) {
        if (strcmp(df, "channels_first") == 0)
            return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': data_format 'channels_first' is not supported (only "
                            "channels_last)", cls, l->name);
        return ck_error(CKERAS_EINVAL, "%s '%s': data_format must be 'channels_last', got '%s'", cls, l->name, df);
    }
    if (ck_cfg_int(&l->cfg, "groups") != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': groups = %lld is not supported (only 1)", cls, l->name,
                        (long long)ck_cfg_int(&l->cfg, "groups"));
    static const char *const unsupported[] = {"activity_regularizer", "kernel_constraint", "bias_constraint"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (ck_cfg_str(&l->cfg, unsupported[i]))
            return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': %s is not supported yet", cls, l->name, unsupported[i]);
    if (in->ndim != rank + 1) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (%s), got %s", cls, l->name,
                        rank + 1, rank == 2 ? "height, width, channels" : "steps, channels",
                        ck_shape_str(in, false, buf, sizeof buf));
    }
    for (int i = 0; i <= rank; i++)
        if (in->d[i] <= 0)
            return ck_error(CKERAS_ESHAPE, "%s '%s': input axis %d has size %lld", cls, l->name, i,
                            (long long)in->d[i]);

    conv_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("%s '%s'", cls, l->name);
        return st;
    }

    ck_conv_geom *g = &p->g;
    memset(g, 0, sizeof *g);
    if (rank == 2) {
        g->h = in->d[0], g->w = in->d[1], g->c = in->d[2];
        g->kh = k[0], g->kw = k[1], g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1];
    } else {
        g->h = 1, g->w = in->d[0], g->c = in->d[1];
        g->kh = 1, g->kw = k[0], g->sh = 1, g->sw = s[0], g->dh = 1, g->dw = d[0];
    }
    ck_conv_axis(mode, g->h, g->kh, g->sh, g->dh, &g->oh, &g->pt);
    ck_conv_axis(mode, g->w, g->kw, g->sw, g->dw, &g->ow, &g->pl);
    if (g->oh <= 0 || g->ow <= 0) {
        int ax = g->oh <= 0 ? 0 : 1;
        int64_t kk = ax == 0 ? g->kh : g->kw, dd = ax == 0 ? g->dh : g->dw, nn = ax == 0 ? g->h : g->w;
        return ck_error(CKERAS_ESHAPE,
                        "%s '%s': kernel size %lld (dilated span %lld) is larger than input size %lld on spatial "
                        "axis %d with padding 'valid'",
                        cls, l->name, (long long)kk, (long long)((kk - 1) * dd + 1), (long long)nn,
                        rank == 2 ? ax : 0);
    }
    p->filters = f->i;
    p->K = g->kh * g->kw * g->c;
    p->pos = g->oh * g->ow;
    p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0;
    p->tile = CONV_TILE_TARGET / p->K;
    if (p->tile < CONV_TILE_MIN_ROWS)
        p->tile = CONV_TILE_MIN_ROWS;
    if (p->tile > CONV_TILE_MAX / p->K)
        p->tile = CONV_TILE_MAX / p->K > 0 ? CONV_TILE_MAX / p->K : 1;

    out->ndim = rank + 1;
    if (rank == 2) {
        out->d[0] = g->oh, out->d[1] = g->ow, out->d[2] = p->filters;
    } else {
        out->d[0] = g->ow, out->d[1] = p->filters;
    }
    ck_shape ks = rank == 2 ? (ck_shape){4, {g->kh, g->kw, g->c, p->filters}}
                            : (ck_shape){3, {g->kw, g->c, p->filters}};
    ck_layer_add_weight(l, "kernel", &ks, true, "kernel_initializer", NULL);
    if (ck_cfg_bool(&l->cfg, "use_bias")) {
        ck_shape bs = {1, {p->filters}};
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

static ckeras_status conv2d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return conv_build_rank(l, in, out, 2);
}

static ckeras_status conv1d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return conv_build_rank(l, in, out, 1);
}

/* saved: the pre-activation z (n*oh*ow, filters) when the activation's backward needs it */
static int64_t conv_saved(const ckeras_layer *l, int64_t n)
{
    const conv_priv *p = l->priv;
    if (p->act.kind == CK_ACT_LINEAR || !ck_act_backward_needs_x(&p->act))
        return 0;
    return n * p->pos * p->filters;
}

/* work: one im2col tile (tile rows, kh*kw*in) */
static int64_t conv_work(const ckeras_layer *l, int64_t n)
{
    const conv_priv *p = l->priv;
    if (p->direct)
        return 0;
    return (n * p->pos < p->tile ? n * p->pos : p->tile) * p->K;
}

static void conv_forward(ckeras_layer *l, const ck_fwd *f)
{
    const conv_priv *p = l->priv;
    const int64_t F = p->filters, K = p->K, rows = f->n * p->pos;
    const float *W = l->w[0].data;
    if (p->direct) /* y (rows, F) = x (rows, K) . W (K, F) */
        ck_gemm(false, false, rows, F, K, 1.0f, f->x, K, W, F, 0.0f, f->y, F);
    for (int64_t r0 = 0; !p->direct && r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile;
        /* y rows [r0, r1) (., F) = cols (r1-r0, K) . W (K, F) */
        ck_im2col(&p->g, f->x, r0, r1, f->work);
        ck_gemm(false, false, r1 - r0, F, K, 1.0f, f->work, K, W, F, 0.0f, f->y + r0 * F, F);
    }
    if (l->nw > 1)
        ck_add_bias(f->y, l->w[1].data, rows, F);
    if (p->act.kind != CK_ACT_LINEAR) {
        if (f->saved && f->training && ck_act_backward_needs_x(&p->act))
            memcpy(f->saved, f->y, (size_t)(rows * F) * sizeof(float));
        ck_act_forward(&p->act, f->y, f->y, rows, F);
    }
}

static void conv_backward(ckeras_layer *l, const ck_bwd *b)
{
    const conv_priv *p = l->priv;
    const int64_t F = p->filters, K = p->K, rows = b->n * p->pos;
    const float *W = l->w[0].data;
    float *dz = b->dy; /* dz (rows, F) = dy * act'(z), in place */
    if (p->act.kind != CK_ACT_LINEAR)
        ck_act_backward(&p->act, b->saved, b->y, b->dy, dz, rows, F);
    const bool wgrad = b->train_weights && l->w[0].grad;
    if (wgrad && l->nw > 1)
        ck_bias_grad(dz, l->w[1].grad, rows, F);
    if (p->direct) {
        /* dW (K, F) = x^T (K, rows) . dz (rows, F); dx (rows, K) = dz (rows, F) . W^T (F, K) */
        if (wgrad)
            ck_gemm(true, false, K, F, rows, 1.0f, b->x, K, dz, F, 0.0f, l->w[0].grad, F);
        if (b->dx)
            ck_gemm(false, true, rows, K, F, 1.0f, dz, F, W, F, 0.0f, b->dx, K);
        return;
    }
    if (!wgrad && !b->dx)
        return;
    if (b->dx)
        memset(b->dx, 0, (size_t)(b->n * p->g.h * p->g.w * p->g.c) * sizeof(float));
    for (int64_t r0 = 0; r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile, m = r1 - r0;
        const float *dzt = dz + r0 * F;
        if (wgrad) { /* dW (K, F) (+)= cols^T (K, m) . dz (m, F) */
            ck_im2col(&p->g, b->x, r0, r1, b->work);
            ck_gemm(true, false, K, F, m, 1.0f, b->work, K, dzt, F, r0 ? 1.0f : 0.0f, l->w[0].grad, F);
        }
        if (b->dx) { /* dcols (m, K) = dz (m, F) . W^T (F, K), over the columns just used */
            ck_gemm(false, true, m, K, F, 1.0f, dzt, F, W, F, 0.0f, b->work, K);
            ck_col2im(&p->g, b->work, r0, r1, b->dx);
        }
    }
}

const ck_layer_vt ck_conv2d_vt = {
    .class_name = "Conv2D",
    .base_name = "conv2d",
    .fields = conv2d_fields,
    .nfields = sizeof conv2d_fields / sizeof conv2d_fields[0],
    .build = conv2d_build,
    .saved_floats = conv_saved,
    .work_floats = conv_work,
    .forward = conv_forward,
    .backward = conv_backward,
    .free_priv = conv_free,
};

const ck_layer_vt ck_conv1d_vt = {
    .class_name = "Conv1D",
    .base_name = "conv1d",
    .fields = conv1d_fields,
    .nfields = sizeof conv1d_fields / sizeof conv1d_fields[0],
    .build = conv1d_build,
    .saved_floats = conv_saved,
    .work_floats = conv_work,
    .forward = conv_forward,
    .backward = conv_backward,
    .free_priv = conv_free,
};
