/* Conv3D, Conv2D and Conv1D, channels last: y = activation(conv(x, W) + b).
 *
 * Kernel W is (kh, kw, in, filters) (Conv1D: (k, in, filters), Conv3D: (kd, kh, kw, in,
 * filters)) as Keras stores it, which read row-major is the matrix (kd*kh*kw*in, filters) whose
 * rows match the im2col window order (kz, ky, kx, channel). Conv1D is Conv2D on one row; Conv3D
 * goes through the im2col path with a depth axis (ck_im2col3d).
 *
 * groups > 1 (Keras: kernel (..., in/groups, filters), output f reading the input channels of
 * group f / (filters/groups)): the kernel is expanded into the block-diagonal (K, filters)
 * matrix it stands for, at the start of the workspace, and every path below runs on that; the
 * kernel gradient is computed for the expanded matrix and its blocks gathered back.
 *
 * Stride 1 (not 1x1), on CPUs with AVX2+FMA or AVX-512: direct convolution by ck_gather_gemm,
 * which reads each (padded) image through offset tables instead of an im2col matrix, with bias
 * and relu fused into the forward's stores; backward: relu and the bias gradient in one pass,
 * dW by the same kernel over taps x pixels, dx as the transposed convolution of padded dz with
 * the flipped kernel, or (narrow inputs, wide 'valid' borders) per-image columns dz W^T and
 * col2im. Threads take whole images (dW: rows of dW). See conv_backward_gg. One input channel
 * and at most 12 filters (LeNet's first layer): the forward and dW vectorise over output
 * pixels instead (ck_pixconv_*), the forward with the same floats.
 *
 * Otherwise (strides > 1, or CKERAS_CONV=im2col): im2col of a tile of rows (output positions of
 * the batch) into the shared workspace, then one GEMM per tile; a 1x1 kernel with stride 1 and
 * no padding is one GEMM on the input itself. Backward recomputes the tile's columns (the
 * workspace is shared between layers), then dW += cols^T dz, dcols = dz W^T over the same buffer,
 * and col2im into dx.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The batch's im2col matrix is made and consumed in tiles of rows: about CONV_TILE_TARGET floats
 * (2 MB, so the GEMM reads its columns from cache: measured faster than one large tile), at least
 * CONV_TILE_MIN_ROWS rows (GEMM efficiency), never more than CONV_TILE_MAX floats (64 MB). */
#define CONV_TILE_TARGET ((int64_t)1 << 19)
#define CONV_TILE_MIN_ROWS 256
#define CONV_TILE_MAX ((int64_t)16 << 20)

#define CONV_COMMON_FIELDS                                                                             \
    {"filters", CK_INT, NULL, "(0,)", "number of output channels"},                                      \
    {"activation", CK_STR, "linear", NULL, "activation function"},                                     \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},                                      \
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},                              \
    {"groups", CK_INT, "1", "(0,)", "groups of channels (divides filters and in)"},                  \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},                      \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},                                   \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                         \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                             \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},    \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},               \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                   \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

static const ck_field conv2d_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window (kh, kw), or one int for both"},
    {"strides", CK_INTS, "1,1", "(0,)", "strides (sh, sw)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"dilation_rate", CK_INTS, "1,1", "(0,)", "dilation (dh, dw)"},
    CONV_COMMON_FIELDS,
};

static const ck_field conv3d_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window (kd, kh, kw), or one int for all"},
    {"strides", CK_INTS, "1,1,1", "(0,)", "strides (sd, sh, sw)"},
    {"padding", CK_STR, "valid", NULL, "valid or same"},
    {"dilation_rate", CK_INTS, "1,1,1", "(0,)", "dilation (dd, dh, dw)"},
    CONV_COMMON_FIELDS,
};

static const ck_field conv1d_fields[] = {
    {"kernel_size", CK_INTS, NULL, "(0,)", "window length"},
    {"strides", CK_INTS, "1", "(0,)", "stride"},
    {"padding", CK_STR, "valid", NULL, "valid, same or causal"},
    {"dilation_rate", CK_INTS, "1", "(0,)", "dilation"},
    CONV_COMMON_FIELDS,
};

typedef struct conv_priv {
    ck_act act;
    ck_conv_geom g;
    ck_conv_depth z; /* Conv3D's depth axis (a single slice and tap otherwise) */
    int rank;
    int64_t filters;
    int64_t groups; /* > 1: the kernel (.., in/groups, filters) is run as the block-diagonal
                       (.., in, filters) it stands for, expanded into the workspace */
    int64_t K;      /* kd*kh*kw*in: rows of the (expanded) kernel matrix */
    int64_t pos;    /* od*oh*ow: output positions per image */
    int64_t tile;   /* rows of the im2col matrix per tile */
    bool direct;    /* 1x1, stride 1, no padding: the input is the column matrix */
    bool px;        /* gathered path with one input channel and few filters: ck_pixconv_* */
    /* The gathered-GEMM path (strides 1, AVX2 or AVX-512): no im2col matrix; every product
     * reads the (padded) image through offset tables. */
    bool gg;
    bool pad;       /* the forward reads a padded copy (hp, wp, c) of each image */
    int64_t hp, wp; /* padded input: rows [-pt, hp - pt), columns [-pl, wp - pl) of x */
    int64_t hq, wq; /* dz padded for dx: (hq, wq, filters), dz rows start at qt, columns at ql */
    int64_t qt, ql;
    int32_t *poff;  /* (oh*ow) output pixel -> its window's corner in the padded image */
    int32_t *toff;  /* (K) tap (ky, kx, ch) -> offset from the corner */
    int32_t *ipoff; /* (h*w) input pixel -> its corner in padded dz */
    int32_t *dtoff; /* (kh*kw*filters) flipped tap (ky', kx', f) -> offset in padded dz */
    bool dx_cols;   /* dx through the columns (pos, K) of each image and col2im (narrow inputs) */
    int32_t *zoff;  /* (pos + filters): r*filters for r < pos, then 0..filters-1 (dz as a matrix) */
} conv_priv;

/* Images whose columns are held at once by the dx_cols backward (threads beyond it wait). */
#define CONV_COL_SLOTS 8

static void conv_free_tables(conv_priv *p)
{
    ck_free(p->poff), ck_free(p->toff), ck_free(p->ipoff), ck_free(p->dtoff), ck_free(p->zoff);
    p->poff = p->toff = p->ipoff = p->dtoff = p->zoff = NULL;
}

static void conv_free(ckeras_layer *l)
{
    if (l->priv)
        conv_free_tables(l->priv);
    ck_free(l->priv);
    l->priv = NULL;
}

/* Sets up the gathered-GEMM path when it applies (p->gg); false only when out of memory. */
static bool conv_setup_gg(conv_priv *p)
{
    const ck_conv_geom *g = &p->g;
    const int64_t F = p->filters;
    conv_free_tables(p);
    p->gg = p->px = false;
    if (p->direct || p->rank == 3 || g->sh != 1 || g->sw != 1 || !ck_gather_gemm_available())
        return true;
    p->hp = g->oh + (g->kh - 1) * g->dh;
    p->wp = g->ow + (g->kw - 1) * g->dw;
    p->pad = g->pt > 0 || g->pl > 0 || p->hp > g->h || p->wp > g->w;
    const int64_t wx = p->pad ? p->wp : g->w; /* row pitch of the image the forward reads */
    p->hq = g->h + (g->kh - 1) * g->dh;
    p->wq = g->w + (g->kw - 1) * g->dw;
    p->qt = (g->kh - 1) * g->dh - g->pt;
    p->ql = (g->kw - 1) * g->dw - g->pl;
    if (p->qt < 0 || p->ql < 0 || ck_size_mul3(p->hp, p->wp, g->c) > INT32_MAX ||
        ck_size_mul3(g->h, g->w, g->c) > INT32_MAX || ck_size_mul3(p->hq, p->wq, F) > INT32_MAX)
        return true; /* the tables below hold int32 offsets; their sizes are below these products */
    const int64_t kk = g->kh * g->kw;
    p->poff = ck_malloc_n(p->pos, sizeof(int32_t));
    p->toff = ck_malloc_n(p->K, sizeof(int32_t));
    p->ipoff = ck_malloc_n(g->h * g->w, sizeof(int32_t));
    p->dtoff = ck_malloc_n(kk * F, sizeof(int32_t));
    p->zoff = ck_malloc_n(p->pos + F, sizeof(int32_t));
    if (!p->poff || !p->toff || !p->ipoff || !p->dtoff || !p->zoff) {
        conv_free_tables(p);
        return false;
    }
    for (int64_t oy = 0; oy < g->oh; oy++)
        for (int64_t ox = 0; ox < g->ow; ox++)
            p->poff[oy * g->ow + ox] = (int32_t)((oy * g->sh * wx + ox * g->sw) * g->c);
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++)
            for (int64_t ch = 0; ch < g->c; ch++)
                p->toff[(ky * g->kw + kx) * g->c + ch] = (int32_t)((ky * g->dh * wx + kx * g->dw) * g->c + ch);
    for (int64_t iy = 0; iy < g->h; iy++)
        for (int64_t ix = 0; ix < g->w; ix++)
            p->ipoff[iy * g->w + ix] = (int32_t)((iy * p->wq + ix) * F);
    for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++)
            for (int64_t f = 0; f < F; f++)
                p->dtoff[(ky * g->kw + kx) * F + f] = (int32_t)((ky * g->dh * p->wq + kx * g->dw) * F + f);
    for (int64_t r = 0; r < p->pos; r++)
        p->zoff[r] = (int32_t)(r * F);
    for (int64_t f = 0; f < F; f++)
        p->zoff[p->pos + f] = (int32_t)f;
    /* The transposed convolution vectorises over the input channels and, for 'valid' padding,
     * spends multiply-adds on the zero border of dz (h*w vs oh*ow positions). With few channels
     * or much border, dx goes through each image's columns instead, if they fit in 4 MB. */
    p->dx_cols = (g->c < 16 || 4 * g->h * g->w > 5 * p->pos) && ck_size_mul(p->pos, p->K) <= ((int64_t)1 << 20);
    p->gg = true;
    p->px = ck_pixconv_available(g->c, F);
    return true;
}

static ckeras_status conv_build_rank(ckeras_layer *l, const ck_shape *in, ck_shape *out, int rank)
{
    const char *cls = l->vt->class_name;
    const ck_value *f = ck_cfg_value(&l->cfg, "filters");
    if (f->is_none || f->i <= 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': filters must be a positive integer, got %lld", cls, l->name,
                        f->is_none ? 0LL : (long long)f->i);
    int64_t k[3], s[3], d[3];
    ckeras_status st;
    if ((st = ck_layer_tuple(l, "kernel_size", rank, 1, k)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "strides", rank, 1, s)) != CKERAS_OK ||
        (st = ck_layer_tuple(l, "dilation_rate", rank, 1, d)) != CKERAS_OK)
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
    if ((st = ck_layer_channels_last(l)) != CKERAS_OK)
        return st;
    const int64_t groups = ck_cfg_int(&l->cfg, "groups");
    if (in->ndim != rank + 1) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (%s), got %s", cls, l->name,
                        rank + 1, rank == 3 ? "depth, height, width, channels" :
                        rank == 2 ? "height, width, channels" : "steps, channels",
                        ck_shape_str(in, false, buf, sizeof buf));
    }
    if ((st = ck_layer_check_axes(l, in)) != CKERAS_OK)
        return st;
    if (groups < 1 || f->i % groups != 0 || in->d[rank] % groups != 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': groups = %lld must divide both filters (%lld) and the input "
                        "channels (%lld)", cls, l->name, (long long)groups, (long long)f->i, (long long)in->d[rank]);

    conv_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    if ((st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act)) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("%s '%s'", cls, l->name);
        return st;
    }

    ck_conv_geom *g = &p->g;
    memset(g, 0, sizeof *g);
    ck_conv_depth *z = &p->z;
    *z = (ck_conv_depth){1, 1, 1, 1, 0, 1};
    p->rank = rank;
    const int a = rank - 2; /* the axis index of the height in k, s, d (rank 2 and 3) */
    if (rank >= 2) {
        g->h = in->d[rank - 2], g->w = in->d[rank - 1], g->c = in->d[rank];
        g->kh = k[a], g->kw = k[a + 1], g->sh = s[a], g->sw = s[a + 1], g->dh = d[a], g->dw = d[a + 1];
    } else {
        g->h = 1, g->w = in->d[0], g->c = in->d[1];
        g->kh = 1, g->kw = k[0], g->sh = 1, g->sw = s[0], g->dh = 1, g->dw = d[0];
    }
    if (rank == 3)
        *z = (ck_conv_depth){in->d[0], k[0], s[0], d[0], 0, 0};
    if ((st = ck_conv_depth_fit(l, g, z, mode)) != CKERAS_OK)
        return st;
    if (z->od <= 0 || g->oh <= 0 || g->ow <= 0) {
        const int64_t ks[3] = {z->kd, g->kh, g->kw}, ds[3] = {z->dd, g->dh, g->dw}, ns[3] = {z->d, g->h, g->w};
        const int ax = z->od <= 0 ? 0 : g->oh <= 0 ? 1 : 2;
        return ck_error(CKERAS_ESHAPE,
                        "%s '%s': kernel size %lld (dilated span %lld) is larger than input size %lld on spatial "
                        "axis %d with padding 'valid'",
                        cls, l->name, (long long)ks[ax], (long long)((ks[ax] - 1) * ds[ax] + 1), (long long)ns[ax],
                        ax - (3 - rank));
    }
    p->filters = f->i;
    p->groups = groups;
    if (groups > 1 && (st = ck_size_check(ck_size_mul3(z->kd * g->kh * g->kw, g->c, f->i),
                                          "%s '%s': its kernel expanded over the groups", cls, l->name)) != CKERAS_OK)
        return st;
    p->K = z->kd * g->kh * g->kw * g->c; /* ck_conv_depth_fit checked them */
    p->pos = z->od * g->oh * g->ow;
    p->direct = z->kd == 1 && z->sd == 1 && z->pf == 0 && g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 &&
                g->pt == 0 && g->pl == 0;
    p->tile = CONV_TILE_TARGET / p->K;
    if (p->tile < CONV_TILE_MIN_ROWS)
        p->tile = CONV_TILE_MIN_ROWS;
    if (p->tile > CONV_TILE_MAX / p->K)
        p->tile = CONV_TILE_MAX / p->K > 0 ? CONV_TILE_MAX / p->K : 1;
    if (!conv_setup_gg(p))
        return CKERAS_ENOMEM;

    const int64_t cg = g->c / groups;
    if (rank == 3) {
        *out = (ck_shape){4, {z->od, g->oh, g->ow, p->filters}};
    } else if (rank == 2) {
        *out = (ck_shape){3, {g->oh, g->ow, p->filters}};
    } else {
        *out = (ck_shape){2, {g->ow, p->filters}};
    }
    ck_shape ks = rank == 3   ? (ck_shape){5, {z->kd, g->kh, g->kw, cg, p->filters}}
                  : rank == 2 ? (ck_shape){4, {g->kh, g->kw, cg, p->filters}}
                              : (ck_shape){3, {g->kw, cg, p->filters}};
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

static ckeras_status conv3d_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return conv_build_rank(l, in, out, 3);
}

/* floats at the start of the workspace for groups > 1: the expanded kernel and its gradient */
static int64_t round16(int64_t v);
static int64_t group_floats(const conv_priv *p)
{
    return p->groups > 1 ? 2 * round16(p->K * p->filters) : 0; /* K * filters checked by the build */
}

/* Wf (K, F) = the block-diagonal kernel of the grouped Wg (taps, in/groups, F): output f of
 * group f / (F/groups) reads that group's input channels only. */
static const float *group_expand(const conv_priv *p, const float *Wg, float *Wf)
{
    const int64_t F = p->filters, c = p->g.c, cg = c / p->groups, Fg = F / p->groups, taps = p->K / c;
    memset(Wf, 0, (size_t)(p->K * F) * sizeof(float));
    for (int64_t t = 0; t < taps; t++)
        for (int64_t cl = 0; cl < cg; cl++)
            for (int64_t o = 0; o < F; o++)
                Wf[(t * c + o / Fg * cg + cl) * F + o] = Wg[(t * cg + cl) * F + o];
    return Wf;
}

/* Its adjoint on the gradient: dWg = the blocks of dWf that stand for weights. */
static void group_gather(const conv_priv *p, const float *dWf, float *dWg)
{
    const int64_t F = p->filters, c = p->g.c, cg = c / p->groups, Fg = F / p->groups, taps = p->K / c;
    for (int64_t t = 0; t < taps; t++)
        for (int64_t cl = 0; cl < cg; cl++)
            for (int64_t o = 0; o < F; o++)
                dWg[(t * cg + cl) * F + o] = dWf[(t * c + o / Fg * cg + cl) * F + o];
}

/* saved: the pre-activation z (n*oh*ow, filters) when the activation's backward needs it */
static int64_t conv_saved(const ckeras_layer *l, int64_t n)
{
    const conv_priv *p = l->priv;
    if (p->act.kind == CK_ACT_LINEAR || !ck_act_backward_needs_x(&p->act))
        return 0;
    return n * p->pos * p->filters;
}

/* floats of the padded weights and images of the gathered-GEMM path, 64-byte aligned parts */
static int64_t round16(int64_t v)
{
    return (v + 15) / 16 * 16;
}

/* CKERAS_CONV=im2col in the environment (read once) turns the gathered-GEMM path off: every
 * convolution then goes through im2col tiles and BLIS, for comparison. */
static bool gg_disabled(void)
{
    static int off = -1;
    int v = __atomic_load_n(&off, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("CKERAS_CONV");
        v = e && strcmp(e, "im2col") == 0;
        __atomic_store_n(&off, v, __ATOMIC_RELAXED);
    }
    return v;
}

static bool use_gg(const conv_priv *p)
{
    return p->gg && !gg_disabled();
}

/* work: one im2col tile (tile rows, kh*kw*in), or for the gathered-GEMM path, if larger, the
 * batch's padded images (n, hp, wp, c) for the forward and dW, then the flipped kernel
 * (kh*kw*filters, c) and the padded dz (n, hq, wq, filters) for dx. Room for both, so either path
 * runs on the same plan. */
static int64_t conv_work(const ckeras_layer *l, int64_t n)
{
    const conv_priv *p = l->priv;
    int64_t w = p->direct ? 0 : (n * p->pos < p->tile ? n * p->pos : p->tile) * p->K;
    if (p->gg) {
        const int64_t slots = n < CONV_COL_SLOTS ? n : CONV_COL_SLOTS;
        const int64_t fwd = (p->pad ? round16(n * p->hp * p->wp * p->g.c) : 0) +
                            (p->px ? round16(n * p->filters * p->pos) + slots * p->K * p->filters : 0);
        const int64_t dx = round16(p->K * p->filters) +
                           (p->dx_cols ? slots * p->pos * p->K : n * p->hq * p->wq * p->filters);
        w = w > fwd ? w : fwd;
        w = w > dx ? w : dx;
    }
    return group_floats(p) + w;
}

/* Threads for a gathered GEMM pass of `macs` multiply-adds over n images (or n row blocks):
 * small passes stay on the calling thread (waking another costs tens of microseconds). */
static int gg_threads(int64_t n, int64_t macs)
{
    if (n < 2 || macs < ((int64_t)1 << 20))
        return 1;
    int nt = ck_num_threads();
    return nt > n ? (int)n : nt;
}

/* The image of sample i the forward reads: x itself, or its padded copy in work. */
static const float *gg_image(const conv_priv *p, const float *x, float *work, int64_t i)
{
    const ck_conv_geom *g = &p->g;
    const float *xi = x + i * g->h * g->w * g->c;
    if (!p->pad)
        return xi;
    float *xp = work + i * p->hp * p->wp * g->c;
    ck_window2d(xi, 1, g->h, g->w, g->c, xp, p->hp, p->wp, -g->pt, -g->pl);
    return xp;
}

/* One gathered-GEMM pass of a layer, split across threads by ck_parallel: images (forward,
 * dx) or rows of dW. */
typedef struct gg_job {
    const conv_priv *p;
    int64_t n;
    const float *x;  /* forward and dW: the layer's input */
    float *work;     /* the padded images (forward, dW), dz's window or columns (dx) */
    const float *W;  /* forward: the kernel; dx: its transposed or flipped form */
    const float *bias;
    bool relu;
    const float *dz; /* backward: dL/d(pre-activation) */
    float *out;      /* y, dW or dx */
    const ck_fwd *pool; /* forward: the pooling of ck_fwd.pool to do image by image, or NULL */
} gg_job;

static void gg_forward_part(void *ctx, int t, int T)
{
    const gg_job *j = ctx;
    const conv_priv *p = j->p;
    const int64_t F = p->filters;
    int64_t i0, i1;
    ck_par_range(j->n, t, T, &i0, &i1);
    const ck_conv_geom *g = &p->g;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = gg_image(p, j->x, j->work, i);
        if (p->px)
            ck_pixconv_forward(xi, p->pad ? p->wp : g->w, g, j->W, F, j->out + i * p->pos * F, j->bias, j->relu);
        else
            ck_gather_gemm(p->pos, p->K, F, xi, p->poff, p->toff, j->W, F, j->out + i * p->pos * F, F, j->bias,
                           j->relu, false);
        if (j->pool) { /* while the image's output is still in this core's caches */
            const ck_fwd *f = j->pool;
            const int64_t out = f->pool->oh * f->pool->ow * f->pool->c;
            ck_maxpool2x2_one(f->pool, j->out + i * p->pos * F, f->pool_y + i * out,
                              f->pool_arg ? f->pool_arg + i * out : NULL);
        }
    }
}

static _Atomic uint64_t pooled_images;

uint64_t ck_conv_pooled_images(void)
{
    return atomic_load_explicit(&pooled_images, memory_order_relaxed);
}

/* Whether the forward does the pooling offered by ck_fwd.pool: an output that is final after the
 * gathered GEMM (no activation or a fused relu), and images of the pooling's geometry. */
static bool takes_pool(const conv_priv *p, const ck_fwd *f, bool relu)
{
    const ck_conv_geom *pg = f->pool;
    return pg && (relu || p->act.kind == CK_ACT_LINEAR) && p->rank == 2 && pg->h == p->g.oh &&
           pg->w == p->g.ow && pg->c == p->filters;
}

static void conv_forward(ckeras_layer *l, const ck_fwd *f0)
{
    const conv_priv *p = l->priv;
    const int64_t F = p->filters, K = p->K, rows = f0->n * p->pos;
    ck_fwd fw = *f0;
    const ck_fwd *f = &fw;
    const float *W = p->groups > 1 ? group_expand(p, l->w[0].data, f0->work) : l->w[0].data;
    fw.work = f0->work + group_floats(p);
    if (use_gg(p)) {
        /* y (pos, F) of each image = bias + gathered windows (pos, K) . W (K, F), relu fused */
        const bool relu = p->act.kind == CK_ACT_RELU && !ck_act_backward_needs_x(&p->act);
        const float *bias = l->nw > 1 ? l->w[1].data : NULL;
        const bool pool = takes_pool(p, f, relu);
        gg_job j = {p, f->n, f->x, f->work, W, bias, relu, NULL, f->y, pool ? f : NULL};
        ck_parallel(gg_threads(f->n, rows * K * F), gg_forward_part, &j);
        if (pool) {
            *f->pool_done = true;
            atomic_fetch_add_explicit(&pooled_images, (uint64_t)f->n, memory_order_relaxed);
        }
        if (p->act.kind != CK_ACT_LINEAR && !relu) {
            if (f->saved && f->training && ck_act_backward_needs_x(&p->act))
                memcpy(f->saved, f->y, (size_t)(rows * F) * sizeof(float));
            ck_act_forward(&p->act, f->y, f->y, rows, F);
        }
        return;
    }
    if (p->direct) /* y (rows, F) = x (rows, K) . W (K, F) */
        ck_gemm(false, false, rows, F, K, 1.0f, f->x, K, W, F, 0.0f, f->y, F);
    for (int64_t r0 = 0; !p->direct && r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile;
        /* y rows [r0, r1) (., F) = cols (r1-r0, K) . W (K, F) */
        ck_im2col3d(&p->g, &p->z, f->x, r0, r1, f->work);
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

/* Backward of the gathered-GEMM path, dz = dL/d(pre-activation) (n, oh, ow, F):
 *   dW (K, F) = sum over images of windows^T (K, pos) . dz (pos, F), threads taking rows of dW;
 *   dx (h*w, c) of each image = the stride-1 transposed convolution: windows of padded dz
 *   (h*w, kh*kw*F) . the flipped kernel WT (kh*kw*F, c), WT[(ky',kx',f)][ch] = W[(kh-1-ky',
 *   kw-1-kx', ch)][f], threads taking images. */
/* dW rows [K t / T, K (t+1) / T) over every image; with padding each thread first pads its
 * share of the images, then all read all of them. The pixel-vectorised path (px) splits the
 * images instead: each thread sums dW over its own (into slot t after dz^T), then the threads
 * add the slots in thread order, each over its share of dW. */
static void gg_dw_part(void *ctx, int t, int T)
{
    const gg_job *j = ctx;
    const conv_priv *p = j->p;
    const ck_conv_geom *g = &p->g;
    const int64_t F = p->filters, pos = p->pos;
    const int64_t img = p->pad ? p->hp * p->wp * g->c : g->h * g->w * g->c;
    float *dzT = j->work + (p->pad ? round16(j->n * img) : 0); /* px: dz of each image transposed */
    if (p->pad || p->px) {
        int64_t i0, i1;
        ck_par_range(j->n, t, T, &i0, &i1);
        for (int64_t i = i0; i < i1; i++) {
            if (p->pad)
                gg_image(p, j->x, j->work, i);
            if (p->px)
                ck_transpose_rows(j->dz + i * pos * F, pos, F, dzT + i * F * pos);
        }
#pragma omp barrier
    }
    const float *xs = p->pad ? j->work : j->x;
    if (p->px) { /* images split: thread t's dW over its images, the parts then added in order */
        const int64_t KF = p->K * F;
        float *part = dzT + round16(j->n * F * pos), *mine = T == 1 ? j->out : part + t * KF;
        int64_t i0, i1;
        ck_par_range(j->n, t, T, &i0, &i1);
        if (i1 > i0)
            ck_pixconv_dw(xs + i0 * img, img, p->pad ? p->wp : g->w, dzT + i0 * F * pos, i1 - i0, g, F, 0, p->K,
                          mine);
        else
            memset(mine, 0, (size_t)KF * sizeof *mine);
        if (T > 1) {
#pragma omp barrier
            int64_t e0, e1;
            ck_par_range(KF, t, T, &e0, &e1);
            ck_add_parts(part, T, KF, e0, e1, j->out);
        }
        return;
    }
    int64_t r0, r1;
    ck_par_range(p->K, t, T, &r0, &r1);
    for (int64_t i = 0; i < j->n && r1 > r0; i++)
        ck_gather_gemm(r1 - r0, pos, F, xs + i * img, p->toff + r0, p->poff, j->dz + i * pos * F, F,
                       j->out + r0 * F, F, NULL, false, i > 0);
}

/* dx of each image through its columns: dcols (pos, K) = dz (pos, F) . W^T (F, K), col2im;
 * thread t's columns are slot t of the workspace after W^T */
static void gg_dx_cols_part(void *ctx, int t, int T)
{
    const gg_job *j = ctx;
    const conv_priv *p = j->p;
    const ck_conv_geom *g = &p->g;
    const int64_t F = p->filters, K = p->K, pos = p->pos, hwc = g->h * g->w * g->c;
    float *cols = j->work + round16(K * F) + t * pos * K;
    int64_t i0, i1;
    ck_par_range(j->n, t, T, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        ck_gather_gemm(pos, F, K, j->dz + i * pos * F, p->zoff, p->zoff + pos, j->W, K, cols, K, NULL, false, false);
        memset(j->out + i * hwc, 0, (size_t)hwc * sizeof(float));
        ck_col2im(g, cols, i * pos, (i + 1) * pos, j->out);
    }
}

/* dx of each image as the transposed convolution of its padded dz with the flipped kernel */
static void gg_dx_tconv_part(void *ctx, int t, int T)
{
    const gg_job *j = ctx;
    const conv_priv *p = j->p;
    const ck_conv_geom *g = &p->g;
    const int64_t F = p->filters, C = g->c, kk = g->kh * g->kw, hw = g->h * g->w, q = p->hq * p->wq * F;
    int64_t i0, i1;
    ck_par_range(j->n, t, T, &i0, &i1);
    for (int64_t i = i0; i < i1; i++) {
        ck_window2d(j->dz + i * p->pos * F, 1, g->oh, g->ow, F, j->work + i * q, p->hq, p->wq, -p->qt, -p->ql);
        ck_gather_gemm(hw, kk * F, C, j->work + i * q, p->ipoff, p->dtoff, j->W, C, j->out + i * hw * C, C, NULL,
                       false, false);
    }
}

/* Backward of the gathered-GEMM path, dz = dL/d(pre-activation) (n, oh, ow, F):
 *   dW (K, F) = sum over images of windows^T (K, pos) . dz (pos, F), threads taking rows of dW;
 *   dx (h*w, c) of each image = the stride-1 transposed convolution: windows of padded dz
 *   (h*w, kh*kw*F) . the flipped kernel WT (kh*kw*F, c), WT[(ky',kx',f)][ch] = W[(kh-1-ky',
 *   kw-1-kx', ch)][f], threads taking images. */
static void conv_backward_gg(ckeras_layer *l, const ck_bwd *b, const float *dz, const float *W, float *dW)
{
    const conv_priv *p = l->priv;
    const ck_conv_geom *g = &p->g;
    const int64_t F = p->filters, K = p->K, n = b->n, pos = p->pos;
    if (dW) {
        gg_job j = {p, n, b->x, b->work, NULL, NULL, false, dz, dW};
        int nt = gg_threads(p->px ? n : K, n * pos * K * F); /* px: threads take images, each a part */
        if (p->px && nt > CONV_COL_SLOTS)
            nt = CONV_COL_SLOTS;
        ck_parallel(nt, gg_dw_part, &j);
    }
    if (!b->dx)
        return;
    const int64_t C = g->c, kk = g->kh * g->kw, hw = g->h * g->w;
    if (p->dx_cols) {
        float *Wt = b->work;
        for (int64_t k = 0; k < K; k++)
            for (int64_t f = 0; f < F; f++)
                Wt[f * K + k] = W[k * F + f];
        int nt = gg_threads(n, n * pos * K * F);
        gg_job j = {p, n, NULL, b->work, Wt, NULL, false, dz, b->dx};
        ck_parallel(nt < CONV_COL_SLOTS ? nt : CONV_COL_SLOTS, gg_dx_cols_part, &j);
        return;
    }
    float *WT = b->work;
    for (int64_t t = 0; t < kk; t++) {
        const int64_t ky = t / g->kw, kx = t % g->kw, src = (g->kh - 1 - ky) * g->kw + (g->kw - 1 - kx);
        for (int64_t f = 0; f < F; f++)
            for (int64_t ch = 0; ch < C; ch++)
                WT[(t * F + f) * C + ch] = W[(src * C + ch) * F + f];
    }
    gg_job j = {p, n, NULL, b->work + round16(K * F), WT, NULL, false, dz, b->dx};
    ck_parallel(gg_threads(n, n * hw * kk * F * C), gg_dx_tconv_part, &j);
}

/* The backward with kernel W (K, F) and its gradient dW (NULL: not wanted). */
static void conv_backward_full(ckeras_layer *l, const ck_bwd *b, const float *W, float *dW)
{
    const conv_priv *p = l->priv;
    const int64_t F = p->filters, K = p->K, rows = b->n * p->pos;
    float *dz = b->dy; /* dz (rows, F) = dy * act'(z), in place */
    const bool wgrad = dW != NULL;
    if (b->relu_done_above) {
        /* the pooling after it did the relu's backward and the bias gradient (conv_relu_bias) */
    } else if (p->act.kind == CK_ACT_RELU && !ck_act_backward_needs_x(&p->act)) {
        ck_relu_bias_backward(b->y, dz, rows, F, wgrad && l->nw > 1 ? l->w[1].grad : NULL);
    } else {
        if (p->act.kind != CK_ACT_LINEAR)
            ck_act_backward(&p->act, b->saved, b->y, b->dy, dz, rows, F);
        if (wgrad && l->nw > 1)
            ck_bias_grad(dz, l->w[1].grad, rows, F);
    }
    if (use_gg(p)) {
        conv_backward_gg(l, b, dz, W, dW);
        return;
    }
    if (p->direct) {
        /* dW (K, F) = x^T (K, rows) . dz (rows, F); dx (rows, K) = dz (rows, F) . W^T (F, K) */
        if (wgrad)
            ck_gemm(true, false, K, F, rows, 1.0f, b->x, K, dz, F, 0.0f, dW, F);
        if (b->dx)
            ck_gemm(false, true, rows, K, F, 1.0f, dz, F, W, F, 0.0f, b->dx, K);
        return;
    }
    if (!wgrad && !b->dx)
        return;
    if (b->dx)
        memset(b->dx, 0, (size_t)(b->n * p->z.d * p->g.h * p->g.w * p->g.c) * sizeof(float));
    for (int64_t r0 = 0; r0 < rows; r0 += p->tile) {
        const int64_t r1 = rows - r0 < p->tile ? rows : r0 + p->tile, m = r1 - r0;
        const float *dzt = dz + r0 * F;
        if (wgrad) { /* dW (K, F) (+)= cols^T (K, m) . dz (m, F) */
            ck_im2col3d(&p->g, &p->z, b->x, r0, r1, b->work);
            ck_gemm(true, false, K, F, m, 1.0f, b->work, K, dzt, F, r0 ? 1.0f : 0.0f, dW, F);
        }
        if (b->dx) { /* dcols (m, K) = dz (m, F) . W^T (F, K), over the columns just used */
            ck_gemm(false, true, m, K, F, 1.0f, dzt, F, W, F, 0.0f, b->work, K);
            ck_col2im3d(&p->g, &p->z, b->work, r0, r1, b->dx);
        }
    }
}

/* ck_layer_vt.relu_bias: conv_backward_full's first pass, for one group */
static bool conv_relu_bias(const ckeras_layer *l, float **db)
{
    const conv_priv *p = l->priv;
    if (p->groups != 1 || p->act.kind != CK_ACT_RELU || ck_act_backward_needs_x(&p->act))
        return false;
    *db = l->trainable && l->w[0].grad && l->nw > 1 ? l->w[1].grad : NULL;
    return true;
}

static void conv_backward(ckeras_layer *l, const ck_bwd *b0)
{
    const conv_priv *p = l->priv;
    const bool wgrad = b0->train_weights && l->w[0].grad;
    if (p->groups == 1) {
        conv_backward_full(l, b0, l->w[0].data, wgrad ? l->w[0].grad : NULL);
        return;
    }
    ck_bwd b = *b0;
    const float *W = group_expand(p, l->w[0].data, b0->work);
    float *dW = b0->work + round16(p->K * p->filters);
    b.work = b0->work + group_floats(p);
    conv_backward_full(l, &b, W, wgrad ? dW : NULL);
    if (wgrad)
        group_gather(p, dW, l->w[0].grad);
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
    .rows_apart = ck_layer_rows_apart,
    .relu_bias = conv_relu_bias,
};

const ck_layer_vt ck_conv3d_vt = {
    .class_name = "Conv3D",
    .base_name = "conv3d",
    .fields = conv3d_fields,
    .nfields = sizeof conv3d_fields / sizeof conv3d_fields[0],
    .build = conv3d_build,
    .saved_floats = conv_saved,
    .work_floats = conv_work,
    .forward = conv_forward,
    .backward = conv_backward,
    .free_priv = conv_free,
    .rows_apart = ck_layer_rows_apart,
    .relu_bias = conv_relu_bias,
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
    .rows_apart = ck_layer_rows_apart,
    .relu_bias = conv_relu_bias,
};
