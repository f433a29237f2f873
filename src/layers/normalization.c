/* Normalisation layers: BatchNormalization and LayerNormalization (channels_last, Keras 3
 * semantics and config names).
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

/* Checks that every listed field is None (regularizers and constraints are not supported). */
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

/* ---- BatchNormalization ----------------------------------------------------------------- */

static const ck_field bn_fields[] = {
    {"axis", CK_INT, "-1", NULL, "the channel axis (only the last axis is supported)"},
    {"momentum", CK_FLOAT, "0.99", NULL, "moving statistics momentum, in [0, 1]"},
    {"epsilon", CK_FLOAT, "0.001", NULL, "added to the variance, > 0"},
    {"center", CK_BOOL, "true", NULL, "add the offset beta"},
    {"scale", CK_BOOL, "true", NULL, "multiply by gamma"},
    {"beta_initializer", CK_STR, "zeros", NULL, "beta initializer"},
    {"gamma_initializer", CK_STR, "ones", NULL, "gamma initializer"},
    {"moving_mean_initializer", CK_STR, "zeros", NULL, "moving mean initializer"},
    {"moving_variance_initializer", CK_STR, "ones", NULL, "moving variance initializer"},
    {"beta_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on beta"},
    {"gamma_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on gamma"},
    {"beta_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"gamma_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"synchronized", CK_BOOL, "false", NULL, "cross-replica statistics (one replica here: no effect)"},
    {"renorm", CK_BOOL, "false", NULL, "Keras 2 batch renormalisation (not supported)", CK_W_SET_ONLY | CK_W_NO_K3},
    {"virtual_batch_size", CK_INT, NULL, NULL, "Keras 2 ghost batches (not supported)", CK_W_SET_ONLY | CK_W_NO_K3},
    {"fused", CK_BOOL, NULL, NULL, "Keras 2 implementation hint (ignored)", CK_W_SET_ONLY | CK_W_NO_K3},
    INPUT_SHAPE_FIELD,
};

typedef struct bn_priv {
    int64_t c;
    float momentum, eps;
    int gamma, beta, mean, var; /* weight indices, -1 when absent */
} bn_priv;

static ckeras_status bn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1 || in->d[in->ndim - 1] <= 0)
        return ck_error(CKERAS_ESHAPE, "BatchNormalization '%s': needs an input with a channel axis, got rank %d",
                        l->name, in->ndim);
    int64_t axis = ck_cfg_int(&l->cfg, "axis"), rank = in->ndim + 1;
    if (axis < -rank || axis >= rank || axis == 0 || axis == -rank)
        return ck_error(CKERAS_EINVAL, "BatchNormalization '%s': axis %lld is out of range for inputs of rank %lld",
                        l->name, (long long)axis, (long long)rank);
    if (axis != -1 && axis != rank - 1)
        return ck_error(CKERAS_EUNSUPPORTED, "BatchNormalization '%s': axis must be the last (-1), got %lld",
                        l->name, (long long)axis);
    double mom = ck_cfg_float(&l->cfg, "momentum"), eps = ck_cfg_float(&l->cfg, "epsilon");
    if (ck_cfg_value(&l->cfg, "momentum")->is_none || !(mom >= 0.0 && mom <= 1.0))
        return ck_error(CKERAS_EINVAL, "BatchNormalization '%s': momentum must be in [0, 1], got %g", l->name, mom);
    if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps > 0.0))
        return ck_error(CKERAS_EINVAL, "BatchNormalization '%s': epsilon must be > 0, got %g", l->name, eps);
    if (ck_cfg_bool(&l->cfg, "renorm"))
        return ck_error(CKERAS_EUNSUPPORTED, "BatchNormalization '%s': renorm is not supported", l->name);
    static const char *const unsupported[] = {"beta_constraint",
                                              "gamma_constraint", "virtual_batch_size"};
    static const char *const inits[] = {"beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                        "moving_variance_initializer"};
    ckeras_status st;
    if ((st = none_only(l, unsupported, 3)) != CKERAS_OK || (st = check_inits(l, inits, 4)) != CKERAS_OK)
        return st;
    bn_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    p->c = in->d[in->ndim - 1];
    p->momentum = (float)mom;
    p->eps = (float)eps;
    p->gamma = p->beta = -1;
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

/* saved: xhat (rows, c), inv_std (c), then one flag: 1 when batch statistics were used */
static int64_t bn_saved(const ckeras_layer *l, int64_t n)
{
    const bn_priv *p = l->priv;
    return bn_rows(l, n) * p->c + p->c + 1;
}

/* work: 2c doubles of accumulators, then mean, var, inv_std (c floats each) */
static int64_t bn_work(const ckeras_layer *l, int64_t n)
{
    const bn_priv *p = l->priv;
    return 7 * p->c;
}

static const float *wdata(const ckeras_layer *l, int i)
{
    return i >= 0 ? l->w[i].data : NULL;
}

static void bn_forward(ckeras_layer *l, const ck_fwd *f)
{
    const bn_priv *p = l->priv;
    int64_t c = p->c, rows = bn_rows(l, f->n);
    double *acc = (double *)(void *)f->work;
    float *mean = f->work + 4 * c, *var = mean + c, *inv = var + c;
    /* a frozen layer normalises with its moving statistics even in training (Keras >= 2.1) */
    bool batch = f->training && l->trainable;
    if (batch) {
        ck_channel_moments(f->x, rows, c, mean, var, acc);
        ck_inv_std(var, c, p->eps, inv);
        ck_bn_forward(f->x, rows, c, mean, inv, wdata(l, p->gamma), wdata(l, p->beta), f->saved, f->y);
        ck_moving_update(l->w[p->mean].data, mean, c, p->momentum);
        ck_moving_update(l->w[p->var].data, var, c, p->momentum);
    } else {
        ck_inv_std(l->w[p->var].data, c, p->eps, inv);
        ck_bn_forward(f->x, rows, c, l->w[p->mean].data, inv, wdata(l, p->gamma), wdata(l, p->beta), f->saved,
                      f->y);
    }
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
    ck_bn_backward(b->dy, xhat, rows, c, wdata(l, p->gamma), inv, batch, b->dx, dgamma, dbeta,
                   (double *)(void *)b->work);
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
};

/* ---- LayerNormalization ----------------------------------------------------------------- */

static const ck_field ln_fields[] = {
    {"axis", CK_INTS, "-1", NULL, "axes to normalise over (a trailing block of axes)"},
    {"epsilon", CK_FLOAT, "0.001", NULL, "added to the variance, > 0"},
    {"center", CK_BOOL, "true", NULL, "add the offset beta"},
    {"scale", CK_BOOL, "true", NULL, "multiply by gamma"},
    {"rms_scaling", CK_BOOL, "false", NULL, "RMS normalisation (not supported yet)"},
    {"beta_initializer", CK_STR, "zeros", NULL, "beta initializer"},
    {"gamma_initializer", CK_STR, "ones", NULL, "gamma initializer"},
    {"beta_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on beta"},
    {"gamma_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on gamma"},
    {"beta_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    {"gamma_constraint", CK_STR, NULL, NULL, "not supported yet (must be None)"},
    INPUT_SHAPE_FIELD,
};

typedef struct ln_priv {
    int64_t d; /* size of the normalised block */
    float eps;
    int gamma, beta;
} ln_priv;

static ckeras_status ln_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    int64_t rank = in->ndim + 1;
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "LayerNormalization '%s': needs an input of rank >= 2", l->name);
    if (ax->is_none || ax->n < 1)
        return ck_error(CKERAS_EINVAL, "LayerNormalization '%s': axis must name at least one axis", l->name);
    /* the normalised axes, as per-sample axes (batch axis excluded), must be a trailing block */
    bool used[CKERAS_MAX_DIMS] = {false};
    for (int i = 0; i < ax->n; i++) {
        int64_t a = ax->v[i] < 0 ? ax->v[i] + rank : ax->v[i];
        if (a < 1 || a >= rank)
            return ck_error(CKERAS_EINVAL, "LayerNormalization '%s': axis %lld is out of range for inputs of rank "
                            "%lld (the batch axis cannot be normalised)", l->name, (long long)ax->v[i],
                            (long long)rank);
        used[a - 1] = true;
    }
    int first = in->ndim;
    while (first > 0 && used[first - 1])
        first--;
    for (int k = 0; k < first; k++)
        if (used[k])
            return ck_error(CKERAS_EUNSUPPORTED, "LayerNormalization '%s': axis must be a trailing block of axes",
                            l->name);
    double eps = ck_cfg_float(&l->cfg, "epsilon");
    if (ck_cfg_value(&l->cfg, "epsilon")->is_none || !(eps > 0.0))
        return ck_error(CKERAS_EINVAL, "LayerNormalization '%s': epsilon must be > 0, got %g", l->name, eps);
    if (ck_cfg_bool(&l->cfg, "rms_scaling"))
        return ck_error(CKERAS_EUNSUPPORTED, "LayerNormalization '%s': rms_scaling is not supported yet", l->name);
    static const char *const unsupported[] = {"beta_constraint",
                                              "gamma_constraint"};
    static const char *const inits[] = {"beta_initializer", "gamma_initializer"};
    ckeras_status st;
    if ((st = none_only(l, unsupported, 2)) != CKERAS_OK || (st = check_inits(l, inits, 2)) != CKERAS_OK)
        return st;
    ln_priv *p = l->priv;
    if (!p && !(p = l->priv = ck_calloc(1, sizeof *p)))
        return CKERAS_ENOMEM;
    ck_shape ps = {in->ndim - first, {0}};
    p->d = 1;
    for (int k = first; k < in->ndim; k++) {
        ps.d[k - first] = in->d[k];
        p->d *= in->d[k];
    }
    p->eps = (float)eps;
    p->gamma = p->beta = -1;
    if (ck_cfg_bool(&l->cfg, "scale")) {
        p->gamma = l->nw;
        ck_layer_add_weight(l, "gamma", &ps, true, "gamma_initializer", NULL);
    }
    if (ck_cfg_bool(&l->cfg, "center")) {
        p->beta = l->nw;
        ck_layer_add_weight(l, "beta", &ps, true, "beta_initializer", NULL);
    }
    *out = *in;
    return CKERAS_OK;
}

static int64_t ln_rows(const ckeras_layer *l, int64_t n)
{
    const ln_priv *p = l->priv;
    return n * (ck_shape_size(&l->in_shape) / p->d);
}

/* saved: xhat (rows, d), then inv_std (rows) */
static int64_t ln_saved(const ckeras_layer *l, int64_t n)
{
    const ln_priv *p = l->priv;
    return ln_rows(l, n) * (p->d + 1);
}

static void ln_forward(ckeras_layer *l, const ck_fwd *f)
{
    const ln_priv *p = l->priv;
    int64_t rows = ln_rows(l, f->n);
    ck_ln_forward(f->x, rows, p->d, p->eps, wdata(l, p->gamma), wdata(l, p->beta), f->saved,
                  f->saved ? f->saved + rows * p->d : NULL, f->y);
}

static void ln_backward(ckeras_layer *l, const ck_bwd *b)
{
    const ln_priv *p = l->priv;
    int64_t rows = ln_rows(l, b->n);
    float *dgamma = NULL, *dbeta = NULL;
    if (b->train_weights) {
        dgamma = p->gamma >= 0 ? l->w[p->gamma].grad : NULL;
        dbeta = p->beta >= 0 ? l->w[p->beta].grad : NULL;
    }
    ck_ln_backward(b->dy, b->saved, b->saved + rows * p->d, rows, p->d, wdata(l, p->gamma), b->dx, dgamma, dbeta);
}

const ck_layer_vt ck_layer_normalization_vt = {
    .class_name = "LayerNormalization",
    .base_name = "layer_normalization",
    .fields = ln_fields,
    .nfields = sizeof ln_fields / sizeof ln_fields[0],
    .build = ln_build,
    .saved_floats = ln_saved,
    .forward = ln_forward,
    .backward = ln_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
};
