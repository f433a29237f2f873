/* Normalisation layers: BatchNormalization, LayerNormalization, GroupNormalization,
 * UnitNormalization and RMSNormalization (Keras 3 semantics and config names), on any axes.
 *
 * The kernels work on a layout where the axes a layer normalises over (or, for the batch and
 * group normalisations, its channel axis) are last; when the config names other axes, forward
 * and backward permute into that layout in their scratch buffer and back (axes_perm). The saved
 * buffers keep the permuted layout.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

/* Checks that every listed field is None (settings ckeras does not support). */
static ckeras_status none_only(const ckeras_layer *l, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!ck_cfg_value(&l->cfg, names[i])->is_none)
            return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': %s is not supported yet", l->vt->class_name, l->name,
                            names[i]);
    return CKERAS_OK;
}

static ckeras_status check_inits(const ckeras_layer *l, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ckeras_status st = ck_init_check(ck_cfg_str(&l->cfg, names[i]));
        if (st != CKERAS_OK) {
            ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, names[i]);
            return st;
        }
    }
    return CKERAS_OK;
}

/* ---- the permuted layout ---------------------------------------------------------------- */

/* Per-sample axes: the marked ones moved last in increasing order, the others before them in
 * their order. identity: they already are last (no copies). */
typedef struct axes_perm {
    bool identity;
    int ndim;
    int64_t shape[CKERAS_MAX_DIMS], pshape[CKERAS_MAX_DIMS];
    int perm[CKERAS_MAX_DIMS], inv[CKERAS_MAX_DIMS];
    int64_t size; /* per sample */
} axes_perm;

static void perm_init(axes_perm *ap, const ck_shape *in, const bool *last)
{
    int k = 0;
    ap->ndim = in->ndim;
    for (int a = 0; a < in->ndim; a++)
        if (!last[a])
            ap->perm[k++] = a;
    for (int a = 0; a < in->ndim; a++)
        if (last[a])
            ap->perm[k++] = a;
    ap->identity = true;
    ap->size = 1;
    for (int a = 0; a < in->ndim; a++) {
        ap->shape[a] = in->d[a];
        ap->pshape[a] = in->d[ap->perm[a]];
        ap->inv[ap->perm[a]] = a;
        ap->identity = ap->identity && ap->perm[a] == a;
        ap->size *= in->d[a];
    }
}

/* floats of scratch the permutation needs for a batch of n: the permuted input and output */
static int64_t perm_work(const axes_perm *ap, int64_t n)
{
    return ap->identity ? 0 : 2 * n * ap->size;
}

/* x (n, shape) into xp (n, pshape) */
static void perm_to(const axes_perm *ap, const float *x, int64_t n, float *xp)
{
    ck_permute(x, n, ap->ndim, ap->shape, ap->perm, xp);
}

/* yp (n, pshape) back into y (n, shape) */
static void perm_from(const axes_perm *ap, const float *yp, int64_t n, float *y)
{
    ck_permute(yp, n, ap->ndim, ap->pshape, ap->inv, y);
}

/* Where a forward or backward computes: in and out themselves when the axes are already last;
 * else in permuted into buf (n * size floats) and the result's room right after it (an out of
 * NULL stays NULL). perm_from(ap, *pout, n, out) then puts the result back. */
static void perm_views(const axes_perm *ap, const float *in, float *out, int64_t n, float *buf, const float **pin,
                       float **pout)
{
    *pin = in;
    *pout = out;
    if (ap->identity)
        return;
    perm_to(ap, in, n, buf);
    *pin = buf;
    *pout = out ? buf + n * ap->size : NULL;
}

/* Rows of a normalised block of d values (LayerNormalization, Unit/RMSNormalization); their saved
 * floats: the block (rows, d) and two per-row values */
static int64_t block_rows(const ckeras_layer *l, int64_t n, int64_t d)
{
    return n * (ck_shape_size(&l->in_shape) / d);
}

static int64_t block_saved(const ckeras_layer *l, int64_t n, int64_t d)
{
    return block_rows(l, n, d) * (d + 2);
}

/* Reads a Keras axis (the batch axis is 0; negative counts from the end) of an input of
 * per-sample rank ndim into a per-sample axis in *a. */
static ckeras_status one_axis(const ckeras_layer *l, int64_t axis, int ndim, int *a)
{
    int64_t rank = ndim + 1, v = axis < 0 ? axis + rank : axis;
    if (v < 1 || v >= rank)
        return ck_error(CKERAS_EINVAL, "%s '%s': axis %lld is out of range for inputs of rank %lld (the batch "
                        "axis cannot be normalised)", l->vt->class_name, l->name, (long long)axis, (long long)rank);
    *a = (int)v - 1;
    return CKERAS_OK;
}

/* Reads the "axis" list into used[] (per-sample axes); each axis once, at least one. */
static ckeras_status axis_list(const ckeras_layer *l, const ck_shape *in, bool *used)
{
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    if (ax->is_none || ax->n < 1)
        return ck_error(CKERAS_EINVAL, "%s '%s': axis must name at least one axis", l->vt->class_name, l->name);
    for (int k = 0; k < in->ndim; k++)
        used[k] = false;
    for (int i = 0; i < ax->n; i++) {
        int a = 0;
        ckeras_status st = one_axis(l, ax->v[i], in->ndim, &a);
        if (st != CKERAS_OK)
            return st;
        if (used[a])
            return ck_error(CKERAS_EINVAL, "%s '%s': axis %lld is listed twice", l->vt->class_name, l->name,
                            (long long)ax->v[i]);
        used[a] = true;
    }
    return CKERAS_OK;
}

/* The weights' shape over the listed axes, in the order listed (Keras: input_shape[dim] for
 * dim in axis); the kernels index them in increasing axis order, which is the same flat order
 * (Keras reshapes, not transposes, them onto the input). */
static ck_shape listed_shape(const ckeras_layer *l, const ck_shape *in)
{
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    ck_shape s = {ax->n, {0}};
    for (int i = 0; i < ax->n; i++) {
        int a = 0;
        one_axis(l, ax->v[i], in->ndim, &a);
        s.d[i] = in->d[a];
    }
    return s;
}

/* ---- BatchNormalization ----------------------------------------------------------------- */

static const ck_field bn_fields[] = {
    {"axis", CK_INT, "-1", NULL, "the channel axis (negative: from the end)"},
    {"momentum", CK_FLOAT, "0.99", "[0,1]", "moving statistics momentum, in [0, 1]"},
    {"epsilon", CK_FLOAT, "0.001", "(0,)", "added to the variance, > 0"},
    {"center", CK_BOOL, "true", NULL, "add the offset beta"},
    {"scale", CK_BOOL, "true", NULL, "multiply by gamma"},
    {"beta_initializer", CK_STR, "zeros", NULL, "beta initializer"},
    {"gamma_initializer", CK_STR, "ones", NULL, "gamma initializer"},
    {"moving_mean_initializer", CK_STR, "zeros", NULL, "moving mean initializer"},
    {"moving_variance_initializer", CK_STR, "ones", NULL, "moving variance initializer"},
    {"beta_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on beta"},
    {"gamma_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on gamma"},
    {"beta_constraint", CK_STR, NULL, NULL, "constraint on beta after each update"},
    {"gamma_constraint", CK_STR, NULL, NULL, "constraint on gamma after each update"},
    {"synchronized", CK_BOOL, "false", NULL, "cross-replica statistics (not supported: must be false)"},
    {"renorm", CK_BOOL, "false", NULL, "Keras 2 batch renormalisation (not supported)", CK_W_SET_ONLY | CK_W_NO_K3},
    {"virtual_batch_size", CK_INT, NULL, NULL, "Keras 2 ghost batches (not supported)", CK_W_SET_ONLY | CK_W_NO_K3},
    {"fused", CK_BOOL, NULL, NULL, "Keras 2 implementation hint (ignored)", CK_W_SET_ONLY | CK_W_NO_K3},
    INPUT_SHAPE_FIELD,
};

typedef struct bn_priv {
    int64_t c;
    float momentum, eps;
    int gamma, beta, mean, var; /* weight indices, -1 when absent */
    axes_perm ap;               /* the channel axis last */
} bn_priv;

static ckeras_status bn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "BatchNormalization '%s': needs an input with a channel axis, got rank %d",
                        l->name, in->ndim + 1);
    int ca = 0;
    ckeras_status st = one_axis(l, ck_cfg_int(&l->cfg, "axis"), in->ndim, &ca);
    if (st != CKERAS_OK)
        return st;
    if (in->d[ca] <= 0)
        return ck_error(CKERAS_ESHAPE, "BatchNormalization '%s': the channel axis %lld has no fixed size", l->name,
                        (long long)ck_cfg_int(&l->cfg, "axis"));
    double mom = ck_cfg_float(&l->cfg, "momentum"), eps = ck_cfg_float(&l->cfg, "epsilon");
    if (ck_cfg_value(&l->cfg, "momentum")->is_none || !(mom >= 0.0 && mom <= 1.0))
        return ck_error(CKERAS_EINVAL, "BatchNormalization '%s': momentum must be in [0, 1], got %g", l->name, mom);
    if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps > 0.0))
        return ck_error(CKERAS_EINVAL, "BatchNormalization '%s': epsilon must be > 0, got %g", l->name, eps);
    if (ck_cfg_bool(&l->cfg, "renorm"))
        return ck_error(CKERAS_EUNSUPPORTED, "BatchNormalization '%s': renorm=True (Keras 2 batch renormalisation) "
                        "is not supported", l->name);
    if (ck_cfg_bool(&l->cfg, "synchronized"))
        return ck_error(CKERAS_EUNSUPPORTED, "BatchNormalization '%s': synchronized=True (batch statistics across "
                        "replicas) is not supported", l->name);
    static const char *const unsupported[] = {"virtual_batch_size"};
    static const char *const inits[] = {"beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                        "moving_variance_initializer"};
    if ((st = none_only(l, unsupported, 1)) != CKERAS_OK || (st = check_inits(l, inits, 4)) != CKERAS_OK)
        return st;
    bn_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->c = in->d[ca];
    p->momentum = (float)mom;
    p->eps = (float)eps;
    p->gamma = p->beta = -1;
    bool last[CKERAS_MAX_DIMS] = {false};
    last[ca] = true;
    perm_init(&p->ap, in, last);
    ck_shape cs = {1, {p->c}};
    /* Keras' order: gamma, beta, moving_mean, moving_variance */
    if (ck_cfg_bool(&l->cfg, "scale")) {
        p->gamma = l->nw;
        ck_layer_add_weight(l, "gamma", &cs, true, "gamma_initializer", NULL);
    }
    if (ck_cfg_bool(&l->cfg, "center")) {
        p->beta = l->nw;
        ck_layer_add_weight(l, "beta", &cs, true, "beta_initializer", NULL);
    }
    p->mean = l->nw;
    ck_layer_add_weight(l, "moving_mean", &cs, false, "moving_mean_initializer", NULL);
    p->var = l->nw;
    ck_layer_add_weight(l, "moving_variance", &cs, false, "moving_variance_initializer", NULL);
    *out = *in;
    return CKERAS_OK;
}

static int64_t bn_rows(const ckeras_layer *l, int64_t n)
{
    const bn_priv *p = l->priv;
    return n * (ck_shape_size(&l->in_shape) / p->c);
}

/* saved: xhat (rows, c) in the permuted layout, inv_std (c), then one flag: 1 when batch
 * statistics were used */
static int64_t bn_saved(const ckeras_layer *l, int64_t n)
{
    const bn_priv *p = l->priv;
    return bn_rows(l, n) * p->c + p->c + 1;
}

/* work: 3c doubles of accumulators, then mean, var, inv_std (c floats each), then when the
 * channel axis is not last three (n, in_shape) buffers: the permuted input, output and mask */
static int64_t bn_work(const ckeras_layer *l, int64_t n)
{
    const bn_priv *p = l->priv;
    return 9 * p->c + (p->ap.identity ? 0 : 3 * n * p->ap.size);
}

static const float *wdata(const ckeras_layer *l, int i)
{
    return i >= 0 ? l->w[i].data : NULL;
}

/* Keras' mask (n, in_shape without its last axis) as weights of the permuted layout: spread
 * over the last axis into tmp (n, in_shape), permuted into w */
static void bn_mask_weights(const bn_priv *p, const float *mask, int64_t n, float *tmp, float *w)
{
    int64_t last = p->ap.shape[p->ap.ndim - 1], pos = n * p->ap.size / last;
    for (int64_t i = 0; i < pos; i++)
        for (int64_t k = 0; k < last; k++)
            tmp[i * last + k] = mask[i];
    perm_to(&p->ap, tmp, n, w);
}

static void bn_forward(ckeras_layer *l, const ck_fwd *f)
{
    const bn_priv *p = l->priv;
    int64_t c = p->c, rows = bn_rows(l, f->n);
    double *acc = (double *)(void *)f->work;
    float *mean = f->work + 6 * c, *var = mean + c, *inv = var + c;
    const float *x = f->x, *mw = f->mask;
    float *y = f->y;
    /* a frozen layer normalises with its moving statistics even in training (Keras >= 2.1) */
    bool batch = f->training && l->trainable;
    if (!p->ap.identity) {
        float *xp = f->work + 9 * c, *yp = xp + f->n * p->ap.size, *wp = yp + f->n * p->ap.size;
        if (batch && f->mask) {
            bn_mask_weights(p, f->mask, f->n, yp, wp);
            mw = wp;
        }
        perm_to(&p->ap, f->x, f->n, xp);
        x = xp;
        y = yp;
    }
    if (batch) {
        /* with a mask, the statistics are over the unmasked values (Keras' _moments) */
        if (mw)
            ck_bn_masked_moments(x, mw, !p->ap.identity, rows, c, mean, var, acc);
        else
            ck_channel_moments(x, rows, c, mean, var, acc);
        ck_inv_std(var, c, p->eps, inv);
        ck_bn_forward(x, rows, c, mean, inv, wdata(l, p->gamma), wdata(l, p->beta), f->saved, y);
        ck_moving_update(l->w[p->mean].data, mean, c, p->momentum);
        ck_moving_update(l->w[p->var].data, var, c, p->momentum);
    } else {
        ck_inv_std(l->w[p->var].data, c, p->eps, inv);
        ck_bn_forward(x, rows, c, l->w[p->mean].data, inv, wdata(l, p->gamma), wdata(l, p->beta), f->saved, y);
    }
    if (!p->ap.identity)
        perm_from(&p->ap, y, f->n, f->y);
    if (f->saved) {
        memcpy(f->saved + rows * c, inv, (size_t)c * sizeof(float));
        f->saved[rows * c + c] = batch ? 1.0f : 0.0f;
    }
}

static void bn_backward(ckeras_layer *l, const ck_bwd *b)
{
    const bn_priv *p = l->priv;
    int64_t c = p->c, rows = bn_rows(l, b->n);
    const float *xhat = b->saved, *inv = b->saved + rows * c;
    bool batch = b->saved[rows * c + c] != 0.0f;
    float *dgamma = NULL, *dbeta = NULL;
    if (b->train_weights) {
        dgamma = p->gamma >= 0 ? l->w[p->gamma].grad : NULL;
        dbeta = p->beta >= 0 ? l->w[p->beta].grad : NULL;
    }
    const float *dy = b->dy, *mw = batch ? b->mask : NULL;
    float *dx = b->dx;
    if (!p->ap.identity) {
        float *dyp = b->work + 9 * c, *dxp = dyp + b->n * p->ap.size, *wp = dxp + b->n * p->ap.size;
        if (mw) {
            bn_mask_weights(p, b->mask, b->n, dxp, wp);
            mw = wp;
        }
        perm_to(&p->ap, b->dy, b->n, dyp);
        dy = dyp;
        dx = b->dx ? dxp : NULL;
    }
    double *acc = (double *)(void *)b->work;
    if (mw)
        ck_bn_masked_backward(dy, xhat, mw, !p->ap.identity, rows, c, wdata(l, p->gamma), inv, dx, dgamma, dbeta,
                              acc);
    else
        ck_bn_backward(dy, xhat, rows, c, wdata(l, p->gamma), inv, batch, dx, dgamma, dbeta, acc);
    if (!p->ap.identity && b->dx)
        perm_from(&p->ap, dx, b->n, b->dx);
}

const ck_layer_vt ck_batch_normalization_vt = {
    .class_name = "BatchNormalization",
    .base_name = "batch_normalization",
    .fields = bn_fields,
    .nfields = sizeof bn_fields / sizeof bn_fields[0],
    .build = bn_build,
    .saved_floats = bn_saved,
    .work_floats = bn_work,
    .forward = bn_forward,
    .backward = bn_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
};

/* ---- LayerNormalization ----------------------------------------------------------------- */

static const ck_field ln_fields[] = {
    {"axis", CK_INTS, "-1", NULL, "axes to normalise over (any, negative: from the end)"},
    {"epsilon", CK_FLOAT, "0.001", "(0,)", "added to the variance, > 0"},
    {"center", CK_BOOL, "true", NULL, "add the offset beta"},
    {"scale", CK_BOOL, "true", NULL, "multiply by gamma"},
    {"rms_scaling", CK_BOOL, "false", NULL, "x * gamma / sqrt(variance + epsilon): no mean subtracted, no beta",
     CK_W_SET_ONLY}, /* tf.keras 2 has no such keyword: written only when true */
    {"beta_initializer", CK_STR, "zeros", NULL, "beta initializer"},
    {"gamma_initializer", CK_STR, "ones", NULL, "gamma initializer"},
    {"beta_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on beta"},
    {"gamma_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on gamma"},
    {"beta_constraint", CK_STR, NULL, NULL, "constraint on beta after each update"},
    {"gamma_constraint", CK_STR, NULL, NULL, "constraint on gamma after each update"},
    INPUT_SHAPE_FIELD,
};

typedef struct ln_priv {
    int64_t d; /* size of the normalised block */
    float eps;
    bool rms;  /* rms_scaling */
    int gamma, beta;
    axes_perm ap; /* the normalised axes last */
} ln_priv;

static ckeras_status ln_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "LayerNormalization '%s': needs an input of rank >= 2", l->name);
    bool used[CKERAS_MAX_DIMS];
    ckeras_status st = axis_list(l, in, used);
    if (st != CKERAS_OK)
        return st;
    double eps = ck_cfg_float(&l->cfg, "epsilon");
    if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps > 0.0))
        return ck_error(CKERAS_EINVAL, "LayerNormalization '%s': epsilon must be > 0, got %g", l->name, eps);
    static const char *const inits[] = {"beta_initializer", "gamma_initializer"};
    if ((st = check_inits(l, inits, 2)) != CKERAS_OK)
        return st;
    ln_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    perm_init(&p->ap, in, used);
    ck_shape ps = listed_shape(l, in);
    p->d = ck_shape_size(&ps);
    p->eps = (float)eps;
    p->rms = ck_cfg_bool(&l->cfg, "rms_scaling");
    p->gamma = p->beta = -1;
    /* Keras: gamma with scale or rms_scaling, beta with center unless rms_scaling */
    if (ck_cfg_bool(&l->cfg, "scale") || p->rms) {
        p->gamma = l->nw;
        ck_layer_add_weight(l, "gamma", &ps, true, "gamma_initializer", NULL);
    }
    if (ck_cfg_bool(&l->cfg, "center") && !p->rms) {
        p->beta = l->nw;
        ck_layer_add_weight(l, "beta", &ps, true, "beta_initializer", NULL);
    }
    *out = *in;
    return CKERAS_OK;
}

/* saved, in the permuted layout: xhat (rows, d) then inv_std (rows); with rms_scaling the input
 * (rows, d), its row means (rows) and inv (rows) */
static int64_t ln_saved(const ckeras_layer *l, int64_t n)
{
    const ln_priv *p = l->priv;
    return block_saved(l, n, p->d);
}

static int64_t ln_work(const ckeras_layer *l, int64_t n)
{
    const ln_priv *p = l->priv;
    return perm_work(&p->ap, n);
}

static void ln_forward(ckeras_layer *l, const ck_fwd *f)
{
    const ln_priv *p = l->priv;
    int64_t rows = block_rows(l, f->n, p->d);
    const float *x;
    float *y, *sv = f->saved;
    perm_views(&p->ap, f->x, f->y, f->n, f->work, &x, &y);
    if (p->rms) {
        ck_rms_forward(x, rows, p->d, p->eps, true, wdata(l, p->gamma), sv ? sv + rows * p->d : NULL,
                       sv ? sv + rows * (p->d + 1) : NULL, y);
        if (sv)
            memcpy(sv, x, (size_t)(rows * p->d) * sizeof(float));
    } else {
        ck_ln_forward(x, rows, p->d, p->eps, wdata(l, p->gamma), wdata(l, p->beta), sv,
                      sv ? sv + rows * p->d : NULL, y);
    }
    if (!p->ap.identity)
        perm_from(&p->ap, y, f->n, f->y);
}

static void ln_backward(ckeras_layer *l, const ck_bwd *b)
{
    const ln_priv *p = l->priv;
    int64_t rows = block_rows(l, b->n, p->d);
    float *dgamma = NULL, *dbeta = NULL;
    if (b->train_weights) {
        dgamma = p->gamma >= 0 ? l->w[p->gamma].grad : NULL;
        dbeta = p->beta >= 0 ? l->w[p->beta].grad : NULL;
    }
    const float *dy;
    float *dx;
    perm_views(&p->ap, b->dy, b->dx, b->n, b->work, &dy, &dx);
    const float *sv = b->saved;
    if (p->rms)
        ck_rms_backward(dy, sv, sv + rows * p->d, sv + rows * (p->d + 1), rows, p->d, wdata(l, p->gamma), dx,
                        dgamma);
    else
        ck_ln_backward(dy, sv, sv + rows * p->d, rows, p->d, wdata(l, p->gamma), dx, dgamma, dbeta);
    if (!p->ap.identity && b->dx)
        perm_from(&p->ap, dx, b->n, b->dx);
}

const ck_layer_vt ck_layer_normalization_vt = {
    .class_name = "LayerNormalization",
    .base_name = "layer_normalization",
    .fields = ln_fields,
    .nfields = sizeof ln_fields / sizeof ln_fields[0],
    .build = ln_build,
    .saved_floats = ln_saved,
    .work_floats = ln_work,
    .forward = ln_forward,
    .backward = ln_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
};

/* ---- GroupNormalization ----------------------------------------------------------------- */

static const ck_field gn_fields[] = {
    {"groups", CK_INT, "32", NULL, "channel groups (-1: one per channel); must divide the channels"},
    {"axis", CK_INT, "-1", NULL, "the channel axis (negative: from the end)"},
    {"epsilon", CK_FLOAT, "0.001", "(0,)", "added to the variance, > 0"},
    {"center", CK_BOOL, "true", NULL, "add the offset beta"},
    {"scale", CK_BOOL, "true", NULL, "multiply by gamma"},
    {"beta_initializer", CK_STR, "zeros", NULL, "beta initializer"},
    {"gamma_initializer", CK_STR, "ones", NULL, "gamma initializer"},
    {"beta_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on beta"},
    {"gamma_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on gamma"},
    {"beta_constraint", CK_STR, NULL, NULL, "constraint on beta after each update"},
    {"gamma_constraint", CK_STR, NULL, NULL, "constraint on gamma after each update"},
    INPUT_SHAPE_FIELD,
};

typedef struct gn_priv {
    int64_t c, groups;
    float eps;
    int gamma, beta;
    axes_perm ap; /* the channel axis last */
} gn_priv;

static ckeras_status gn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "GroupNormalization '%s': needs an input with a channel axis", l->name);
    int ca = 0;
    ckeras_status st = one_axis(l, ck_cfg_int(&l->cfg, "axis"), in->ndim, &ca);
    if (st != CKERAS_OK)
        return st;
    int64_t c = in->d[ca], groups = ck_cfg_int(&l->cfg, "groups");
    if (groups == -1)
        groups = c;
    if (groups < 1)
        return ck_error(CKERAS_EINVAL, "GroupNormalization '%s': groups must be >= 1 or -1, got %lld", l->name,
                        (long long)groups);
    if (c < groups || c % groups != 0)
        return ck_error(CKERAS_ESHAPE, "GroupNormalization '%s': groups (%lld) must divide the %lld channels",
                        l->name, (long long)groups, (long long)c);
    double eps = ck_cfg_float(&l->cfg, "epsilon");
    if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps > 0.0))
        return ck_error(CKERAS_EINVAL, "GroupNormalization '%s': epsilon must be > 0, got %g", l->name, eps);
    static const char *const inits[] = {"beta_initializer", "gamma_initializer"};
    if ((st = check_inits(l, inits, 2)) != CKERAS_OK)
        return st;
    gn_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->c = c;
    p->groups = groups;
    p->eps = (float)eps;
    p->gamma = p->beta = -1;
    bool last[CKERAS_MAX_DIMS] = {false};
    last[ca] = true;
    perm_init(&p->ap, in, last);
    ck_shape cs = {1, {c}};
    if (ck_cfg_bool(&l->cfg, "scale")) {
        p->gamma = l->nw;
        ck_layer_add_weight(l, "gamma", &cs, true, "gamma_initializer", NULL);
    }
    if (ck_cfg_bool(&l->cfg, "center")) {
        p->beta = l->nw;
        ck_layer_add_weight(l, "beta", &cs, true, "beta_initializer", NULL);
    }
    *out = *in;
    return CKERAS_OK;
}

/* saved: xhat (n, s, c) in the permuted layout, then inv_std (n, groups) */
static int64_t gn_saved(const ckeras_layer *l, int64_t n)
{
    const gn_priv *p = l->priv;
    return n * (p->ap.size + p->groups);
}

/* work: 2 groups doubles of accumulators, then the permutation's two buffers */
static int64_t gn_work(const ckeras_layer *l, int64_t n)
{
    const gn_priv *p = l->priv;
    return 4 * p->groups + perm_work(&p->ap, n);
}

static void gn_forward(ckeras_layer *l, const ck_fwd *f)
{
    const gn_priv *p = l->priv;
    int64_t s = p->ap.size / p->c;
    const float *x;
    float *y, *sv = f->saved;
    perm_views(&p->ap, f->x, f->y, f->n, f->work + 4 * p->groups, &x, &y);
    ck_gn_forward(x, f->n, s, p->c, p->groups, p->eps, wdata(l, p->gamma), wdata(l, p->beta), sv,
                  sv ? sv + f->n * p->ap.size : NULL, y, (double *)(void *)f->work);
    if (!p->ap.identity)
        perm_from(&p->ap, y, f->n, f->y);
}

static void gn_backward(ckeras_layer *l, const ck_bwd *b)
{
    const gn_priv *p = l->priv;
    int64_t s = p->ap.size / p->c;
    float *dgamma = NULL, *dbeta = NULL;
    if (b->train_weights) {
        dgamma = p->gamma >= 0 ? l->w[p->gamma].grad : NULL;
        dbeta = p->beta >= 0 ? l->w[p->beta].grad : NULL;
    }
    const float *dy;
    float *dx;
    perm_views(&p->ap, b->dy, b->dx, b->n, b->work + 4 * p->groups, &dy, &dx);
    ck_gn_backward(dy, b->saved, b->saved + b->n * p->ap.size, b->n, s, p->c, p->groups, wdata(l, p->gamma), dx,
                   dgamma, dbeta, (double *)(void *)b->work);
    if (!p->ap.identity && b->dx)
        perm_from(&p->ap, dx, b->n, b->dx);
}

const ck_layer_vt ck_group_normalization_vt = {
    .class_name = "GroupNormalization",
    .base_name = "group_normalization",
    .fields = gn_fields,
    .nfields = sizeof gn_fields / sizeof gn_fields[0],
    .build = gn_build,
    .saved_floats = gn_saved,
    .work_floats = gn_work,
    .forward = gn_forward,
    .backward = gn_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
};

/* ---- UnitNormalization and RMSNormalization --------------------------------------------- */

/* Keras' UnitNormalization bounds 1 / norm by 1 / 1e-12 (ops.normalize's epsilon) */
#define UNIT_EPS 1e-12f

static const ck_field un_fields[] = {
    {"axis", CK_INTS, "-1", NULL, "axes whose L2 norm becomes 1 (any, negative: from the end)"},
    INPUT_SHAPE_FIELD,
};

static const ck_field rms_fields[] = {
    {"axis", CK_INTS, "-1", NULL, "axes to normalise over (a trailing block)"},
    {"epsilon", CK_FLOAT, "1e-06", "[0,)", "added to the mean square, >= 0"},
    INPUT_SHAPE_FIELD,
};

typedef struct rn_priv {
    int64_t d; /* size of the normalised block */
    float eps;
    int scale;    /* RMSNormalization's weight, -1 for UnitNormalization */
    axes_perm ap; /* the normalised axes last */
} rn_priv;

static ckeras_status rn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    bool rms = l->vt->fields == rms_fields;
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs an input of rank >= 2", l->vt->class_name, l->name);
    bool used[CKERAS_MAX_DIMS];
    ckeras_status st = axis_list(l, in, used);
    if (st != CKERAS_OK)
        return st;
    rn_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    perm_init(&p->ap, in, used);
    ck_shape ps = listed_shape(l, in);
    p->d = ck_shape_size(&ps);
    p->scale = -1;
    p->eps = UNIT_EPS;
    if (rms) {
        /* Keras 3.11 multiplies by scale (the listed axes' sizes) with plain broadcasting, which
         * lines it up with the last axes: only a trailing block means what it says */
        if (!p->ap.identity)
            return ck_error(CKERAS_EUNSUPPORTED, "RMSNormalization '%s': axis must be a trailing block of axes "
                            "(Keras broadcasts the scale against the last axes)", l->name);
        double eps = ck_cfg_float(&l->cfg, "epsilon");
        if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps >= 0.0))
            return ck_error(CKERAS_EINVAL, "RMSNormalization '%s': epsilon must be >= 0, got %g", l->name, eps);
        p->eps = (float)eps;
        p->scale = l->nw;
        ck_layer_add_weight(l, "scale", &ps, true, NULL, "ones");
    }
    *out = *in;
    return CKERAS_OK;
}

/* saved, in the permuted layout: the input (rows, d), then inv (rows) and, for RMS, zeros (rows:
 * the means ck_rms_backward subtracts) */
static int64_t rn_saved(const ckeras_layer *l, int64_t n)
{
    const rn_priv *p = l->priv;
    return block_saved(l, n, p->d);
}

static int64_t rn_work(const ckeras_layer *l, int64_t n)
{
    const rn_priv *p = l->priv;
    return perm_work(&p->ap, n);
}

static void rn_forward(ckeras_layer *l, const ck_fwd *f)
{
    const rn_priv *p = l->priv;
    int64_t rows = block_rows(l, f->n, p->d);
    const float *x;
    float *y, *sv = f->saved;
    perm_views(&p->ap, f->x, f->y, f->n, f->work, &x, &y);
    float *inv = sv ? sv + rows * p->d : NULL;
    if (p->scale >= 0)
        ck_rms_forward(x, rows, p->d, p->eps, false, l->w[p->scale].data, sv ? inv + rows : NULL, inv, y);
    else
        ck_l2n_forward(x, rows, p->d, p->eps, inv, y);
    if (sv)
        memcpy(sv, x, (size_t)(rows * p->d) * sizeof(float));
    if (!p->ap.identity)
        perm_from(&p->ap, y, f->n, f->y);
}

static void rn_backward(ckeras_layer *l, const ck_bwd *b)
{
    const rn_priv *p = l->priv;
    int64_t rows = block_rows(l, b->n, p->d);
    const float *dy, *xs = b->saved, *inv = b->saved + rows * p->d;
    float *dx;
    perm_views(&p->ap, b->dy, b->dx, b->n, b->work, &dy, &dx);
    if (p->scale >= 0) {
        float *dscale = b->train_weights ? l->w[p->scale].grad : NULL;
        ck_rms_backward(dy, xs, inv + rows, inv, rows, p->d, l->w[p->scale].data, dx, dscale);
    } else if (dx) {
        ck_l2n_backward(dy, xs, inv, rows, p->d, p->eps, dx);
    }
    if (!p->ap.identity && b->dx)
        perm_from(&p->ap, dx, b->n, b->dx);
}

const ck_layer_vt ck_unit_normalization_vt = {
    .class_name = "UnitNormalization",
    .base_name = "unit_normalization",
    .fields = un_fields,
    .nfields = sizeof un_fields / sizeof un_fields[0],
    .build = rn_build,
    .saved_floats = rn_saved,
    .work_floats = rn_work,
    .forward = rn_forward,
    .backward = rn_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
};

const ck_layer_vt ck_rms_normalization_vt = {
    .class_name = "RMSNormalization",
    .base_name = "rms_normalization",
    .fields = rms_fields,
    .nfields = sizeof rms_fields / sizeof rms_fields[0],
    .build = rn_build,
    .saved_floats = rn_saved,
    .work_floats = rn_work,
    .forward = rn_forward,
    .backward = rn_backward,
    .free_priv = free_priv,
};
