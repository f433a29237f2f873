/* Small Keras layers without weights: ELU, Identity, RepeatVector, ActivityRegularization, the
 * noise and dropout variants (GaussianNoise, GaussianDropout, AlphaDropout, SpatialDropout1D,
 * SpatialDropout3D) and the integer encoders CategoryEncoding and Discretization.
 *
 * Random layers are the identity in inference and draw from the model's generator (ck_fwd.rng)
 * in training; their "seed" is accepted and ignored, as Dropout's. CategoryEncoding and
 * Discretization give integer-valued floats and no gradient (Keras' outputs are integer casts
 * or one-hot counts of integers: dx is 0).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}
#define SEED_FIELD {"seed", CK_INT, NULL, NULL, "accepted and ignored: the model's generator is used"}

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static int64_t in_count(const ckeras_layer *l, int64_t n)
{
    return n * ck_shape_size(&l->in_shape);
}

static void copy_forward(ckeras_layer *l, const ck_fwd *f)
{
    if (f->y != f->x)
        memcpy(f->y, f->x, (size_t)in_count(l, f->n) * sizeof(float));
}

static void copy_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (b->dx && b->dx != b->dy)
        memcpy(b->dx, b->dy, (size_t)in_count(l, b->n) * sizeof(float));
}

static ckeras_status same_shape(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    (void)l;
    *out = *in;
    return CKERAS_OK;
}

/* a float setting in [lo, hi] (hi_open: [lo, hi)) */
static ckeras_status check_range(const ckeras_layer *l, const char *key, double lo, double hi, bool hi_open)
{
    const ck_value *v = ck_cfg_value(&l->cfg, key);
    if (v->is_none || !(v->f >= lo && (hi_open ? v->f < hi : v->f <= hi)))
        return ck_error(CKERAS_EINVAL, "%s '%s': %s must be in [%g, %g%s, got %g", l->vt->class_name, l->name, key, lo,
                        hi, hi_open ? ")" : "]", v->is_none ? NAN : v->f);
    return CKERAS_OK;
}

/* ---- ELU: x > 0 ? x : alpha (exp(x) - 1) ---------------------------------------------------- */

static const ck_field elu_fields[] = {
    {"alpha", CK_FLOAT, "1", NULL, "scale of the negative part"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status elu_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *a = ck_cfg_value(&l->cfg, "alpha");
    if (a->is_none || !isfinite(a->f))
        return ck_error(CKERAS_EINVAL, "ELU '%s': alpha must be a finite number", l->name);
    *out = *in;
    return CKERAS_OK;
}

static void elu_forward(ckeras_layer *l, const ck_fwd *f)
{
    const float al = (float)ck_cfg_float(&l->cfg, "alpha");
    const int64_t n = in_count(l, f->n);
    for (int64_t i = 0; i < n; i++) {
        const float v = f->x[i];
        f->y[i] = v > 0.0f ? v : al * expm1f(v);
    }
}

/* torch's elu_backward: alpha exp(x) for x <= 0 (so alpha at 0), 1 above */
static void elu_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const float al = (float)ck_cfg_float(&l->cfg, "alpha");
    const int64_t n = in_count(l, b->n);
    for (int64_t i = 0; i < n; i++) {
        const float v = b->x[i], g = b->dy[i];
        b->dx[i] = v > 0.0f ? g : g * al * expf(v);
    }
}

const ck_layer_vt ck_elu_vt = {
    .class_name = "ELU",
    .base_name = "elu",
    .fields = elu_fields,
    .nfields = sizeof elu_fields / sizeof elu_fields[0],
    .build = elu_build,
    .forward = elu_forward,
    .backward = elu_backward,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- Identity --------------------------------------------------------------------------------- */

static const ck_field identity_fields[] = {
    INPUT_SHAPE_FIELD,
};

const ck_layer_vt ck_identity_vt = {
    .class_name = "Identity",
    .base_name = "identity",
    .fields = identity_fields,
    .nfields = sizeof identity_fields / sizeof identity_fields[0],
    .build = same_shape,
    .forward = copy_forward,
    .backward = copy_backward,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- RepeatVector: (features) -> (n, features) ----------------------------------------------- */

static const ck_field repeat_vector_fields[] = {
    {"n", CK_INT, NULL, "[1,)", "repetitions"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status repeat_vector_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *n = ck_cfg_value(&l->cfg, "n");
    if (n->is_none || n->i < 1)
        return ck_error(CKERAS_EINVAL, "RepeatVector '%s': n must be an integer >= 1", l->name);
    if (in->ndim != 1)
        return ck_error(CKERAS_ESHAPE, "RepeatVector '%s': needs (batch, features) inputs, got rank %d per sample",
                        l->name, in->ndim);
    out->ndim = 2;
    out->d[0] = n->i;
    out->d[1] = in->d[0];
    return CKERAS_OK;
}

static void repeat_vector_forward(ckeras_layer *l, const ck_fwd *f)
{
    const int64_t c = l->in_shape.d[0], r = l->out_shape.d[0];
    for (int64_t s = 0; s < f->n; s++)
        for (int64_t k = 0; k < r; k++)
            memcpy(f->y + (s * r + k) * c, f->x + s * c, (size_t)c * sizeof(float));
}

/* dx = the sum of dy over the repetitions */
static void repeat_vector_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const int64_t c = l->in_shape.d[0], r = l->out_shape.d[0];
    for (int64_t s = 0; s < b->n; s++) {
        float *dx = b->dx + s * c;
        memcpy(dx, b->dy + s * r * c, (size_t)c * sizeof(float));
        for (int64_t k = 1; k < r; k++)
            for (int64_t j = 0; j < c; j++)
                dx[j] += b->dy[(s * r + k) * c + j];
    }
}

const ck_layer_vt ck_repeat_vector_vt = {
    .class_name = "RepeatVector",
    .base_name = "repeat_vector",
    .fields = repeat_vector_fields,
    .nfields = sizeof repeat_vector_fields / sizeof repeat_vector_fields[0],
    .build = repeat_vector_build,
    .forward = repeat_vector_forward,
    .backward = repeat_vector_backward,
};

/* ---- ActivityRegularization: the identity, adding l1 sum|y| + l2 sum y^2 to the loss ---------- */
/* Keras adds the penalty of the whole batch's output (a sum, not a mean over the batch) to the
 * loss, in training and in evaluation; its gradient l1 sign(x) + 2 l2 x joins dy here. */

static const ck_field activity_regularization_fields[] = {
    {"l1", CK_FLOAT, "0", "[0,)", "L1 factor"},
    {"l2", CK_FLOAT, "0", "[0,)", "L2 factor"},
    INPUT_SHAPE_FIELD,
};

typedef struct act_reg_priv {
    double penalty; /* of the last forward */
} act_reg_priv;

static ckeras_status activity_regularization_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (!ck_layer_priv(l, sizeof(act_reg_priv)))
        return CKERAS_ENOMEM;
    ckeras_status st = check_range(l, "l1", 0.0, INFINITY, false);
    if (st == CKERAS_OK)
        st = check_range(l, "l2", 0.0, INFINITY, false);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

static void activity_regularization_forward(ckeras_layer *l, const ck_fwd *f)
{
    act_reg_priv *p = l->priv;
    const double l1 = ck_cfg_float(&l->cfg, "l1"), l2 = ck_cfg_float(&l->cfg, "l2");
    const int64_t n = in_count(l, f->n);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float v = f->x[i];
        f->y[i] = v;
        s1 += fabsf(v);
        s2 += (double)v * v;
    }
    p->penalty = l1 * s1 + l2 * s2;
}

static void activity_regularization_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const float l1 = (float)ck_cfg_float(&l->cfg, "l1"), l2x2 = 2.0f * (float)ck_cfg_float(&l->cfg, "l2");
    const int64_t n = in_count(l, b->n);
    for (int64_t i = 0; i < n; i++) {
        const float v = b->x[i];
        b->dx[i] = b->dy[i] + l1 * (float)((v > 0.0f) - (v < 0.0f)) + l2x2 * v;
    }
}

static double activity_regularization_loss(const ckeras_layer *l)
{
    const act_reg_priv *p = l->priv;
    return p ? p->penalty : 0.0;
}

const ck_layer_vt ck_activity_regularization_vt = {
    .class_name = "ActivityRegularization",
    .base_name = "activity_regularization",
    .fields = activity_regularization_fields,
    .nfields = sizeof activity_regularization_fields / sizeof activity_regularization_fields[0],
    .build = activity_regularization_build,
    .forward = activity_regularization_forward,
    .backward = activity_regularization_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
    .added_loss = activity_regularization_loss,
};

/* ---- GaussianNoise: y = x + stddev N(0, 1) in training ------------------------------------------ */

static const ck_field gaussian_noise_fields[] = {
    {"stddev", CK_FLOAT, NULL, "[0,1]", "standard deviation of the noise, in [0, 1]"},
    SEED_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status gaussian_noise_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    ckeras_status st = check_range(l, "stddev", 0.0, 1.0, false);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

static void gaussian_noise_forward(ckeras_layer *l, const ck_fwd *f)
{
    const double sd = ck_cfg_float(&l->cfg, "stddev");
    if (!f->training || sd == 0.0) {
        copy_forward(l, f);
        return;
    }
    const int64_t n = in_count(l, f->n);
    for (int64_t i = 0; i < n; i++)
        f->y[i] = f->x[i] + (float)(sd * ck_rng_normal(f->rng));
}

const ck_layer_vt ck_gaussian_noise_vt = {
    .class_name = "GaussianNoise",
    .base_name = "gaussian_noise",
    .fields = gaussian_noise_fields,
    .nfields = sizeof gaussian_noise_fields / sizeof gaussian_noise_fields[0],
    .build = gaussian_noise_build,
    .forward = gaussian_noise_forward,
    .backward = copy_backward,
    .mask_mode = ck_mask_pass,
};

/* ---- GaussianDropout: y = x N(1, rate / (1 - rate)) in training --------------------------------- */

static const ck_field gaussian_dropout_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "drop probability, in [0, 1)"},
    SEED_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status rate_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    /* Keras takes rate = 1, where the noise's deviation sqrt(rate / (1 - rate)) is infinite */
    ckeras_status st = check_range(l, "rate", 0.0, 1.0, true);
    if (st != CKERAS_OK)
        return st;
    *out = *in;
    return CKERAS_OK;
}

/* saved: the multipliers (n, in) */
static int64_t elementwise_saved(const ckeras_layer *l, int64_t n)
{
    return in_count(l, n);
}

static void fill_ones(float *v, int64_t n)
{
    for (int64_t i = 0; v && i < n; i++)
        v[i] = 1.0f;
}

static void gaussian_dropout_forward(ckeras_layer *l, const ck_fwd *f)
{
    const double rate = ck_cfg_float(&l->cfg, "rate");
    const int64_t n = in_count(l, f->n);
    if (!f->training || rate == 0.0 || !f->saved) {
        copy_forward(l, f);
        fill_ones(f->saved, n);
        return;
    }
    const double sd = sqrt(rate / (1.0 - rate));
    for (int64_t i = 0; i < n; i++) {
        const float m = (float)(1.0 + sd * ck_rng_normal(f->rng));
        f->saved[i] = m;
        f->y[i] = f->x[i] * m;
    }
}

static void multiplier_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const int64_t n = in_count(l, b->n);
    for (int64_t i = 0; i < n; i++)
        b->dx[i] = b->dy[i] * b->saved[i];
}

const ck_layer_vt ck_gaussian_dropout_vt = {
    .class_name = "GaussianDropout",
    .base_name = "gaussian_dropout",
    .fields = gaussian_dropout_fields,
    .nfields = sizeof gaussian_dropout_fields / sizeof gaussian_dropout_fields[0],
    .build = rate_build,
    .saved_floats = elementwise_saved,
    .forward = gaussian_dropout_forward,
    .backward = multiplier_backward,
    .mask_mode = ck_mask_pass,
};

/* ---- AlphaDropout: dropped values become SELU's saturation, then an affine keeps the moments ----- */
/* kept with probability 1 - rate; y = a (x kept + alpha' (1 - kept)) + b with alpha' = -alpha
 * scale (SELU's constants), a = ((1 - rate) (1 + rate alpha'^2))^-1/2, b = -a alpha' rate. */

static const ck_field alpha_dropout_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "drop probability, in [0, 1)"},
    {"noise_shape", CK_INTS, NULL, NULL, "not supported yet (must be None)"},
    SEED_FIELD,
    INPUT_SHAPE_FIELD,
};

static ckeras_status alpha_dropout_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (!ck_cfg_value(&l->cfg, "noise_shape")->is_none)
        return ck_error(CKERAS_EUNSUPPORTED, "AlphaDropout '%s': noise_shape is not supported yet (must be None)",
                        l->name);
    return rate_build(l, in, out);
}

static void alpha_dropout_forward(ckeras_layer *l, const ck_fwd *f)
{
    const double rate = ck_cfg_float(&l->cfg, "rate");
    const int64_t n = in_count(l, f->n);
    if (!f->training || rate == 0.0 || !f->saved) {
        copy_forward(l, f);
        fill_ones(f->saved, n);
        return;
    }
    const double alpha_p = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946;
    const double a = 1.0 / sqrt((1.0 - rate) * (1.0 + rate * alpha_p * alpha_p));
    const double b = -a * alpha_p * rate;
    const float dropped = (float)(a * alpha_p + b), af = (float)a, bf = (float)b;
    for (int64_t i = 0; i < n; i++) {
        const bool keep = ck_rng_uniform(f->rng) >= rate;
        f->saved[i] = keep ? af : 0.0f; /* dy/dx */
        f->y[i] = keep ? af * f->x[i] + bf : dropped;
    }
}

const ck_layer_vt ck_alpha_dropout_vt = {
    .class_name = "AlphaDropout",
    .base_name = "alpha_dropout",
    .fields = alpha_dropout_fields,
    .nfields = sizeof alpha_dropout_fields / sizeof alpha_dropout_fields[0],
    .build = alpha_dropout_build,
    .saved_floats = elementwise_saved,
    .forward = alpha_dropout_forward,
    .backward = multiplier_backward,
    .mask_mode = ck_mask_pass,
};

/* ---- SpatialDropout1D / 3D: whole channels per sample, inverted scaling ------------------------- */

static const ck_field spatial_dropout1d_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "fraction of the channels to drop, in [0, 1)"},
    SEED_FIELD,
    INPUT_SHAPE_FIELD,
};

static const ck_field spatial_dropout3d_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "fraction of the channels to drop, in [0, 1)"},
    SEED_FIELD,
    {"data_format", CK_STR, "channels_last", "channels_last", "only channels_last"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status spatial_dropout_nd_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const int rank = l->vt == &ck_spatial_dropout1d_vt ? 2 : 4;
    if (in->ndim != rank)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs inputs of rank %d per sample (channels last), got %d",
                        l->vt->class_name, l->name, rank, in->ndim);
    return rate_build(l, in, out);
}

/* saved: the mask (n, channels) of 0 or 1 / (1 - rate) */
static int64_t spatial_dropout_nd_saved(const ckeras_layer *l, int64_t n)
{
    return n * l->in_shape.d[l->in_shape.ndim - 1];
}

static void spatial_dropout_nd_forward(ckeras_layer *l, const ck_fwd *f)
{
    const int64_t c = l->in_shape.d[l->in_shape.ndim - 1], pos = ck_shape_size(&l->in_shape) / c;
    const double rate = ck_cfg_float(&l->cfg, "rate");
    if (!f->training || rate == 0.0 || !f->saved) {
        copy_forward(l, f);
        fill_ones(f->saved, f->n * c);
        return;
    }
    const float keep = (float)(1.0 / (1.0 - rate));
    ck_rng_keep_mask(f->rng, f->saved, f->n * c, rate, keep);
    ck_channel_mask(f->x, f->saved, f->n, pos, c, f->y);
}

static void spatial_dropout_nd_backward(ckeras_layer *l, const ck_bwd *b)
{
    const int64_t c = l->in_shape.d[l->in_shape.ndim - 1], pos = ck_shape_size(&l->in_shape) / c;
    if (b->dx)
        ck_channel_mask(b->dy, b->saved, b->n, pos, c, b->dx);
}

const ck_layer_vt ck_spatial_dropout1d_vt = {
    .class_name = "SpatialDropout1D",
    .base_name = "spatial_dropout1d",
    .fields = spatial_dropout1d_fields,
    .nfields = sizeof spatial_dropout1d_fields / sizeof spatial_dropout1d_fields[0],
    .build = spatial_dropout_nd_build,
    .saved_floats = spatial_dropout_nd_saved,
    .forward = spatial_dropout_nd_forward,
    .backward = spatial_dropout_nd_backward,
    .no_trainable_key = true, /* Keras 3.11: SpatialDropout1D(rate, seed, name, dtype) */
};

const ck_layer_vt ck_spatial_dropout3d_vt = {
    .class_name = "SpatialDropout3D",
    .base_name = "spatial_dropout3d",
    .fields = spatial_dropout3d_fields,
    .nfields = sizeof spatial_dropout3d_fields / sizeof spatial_dropout3d_fields[0],
    .build = spatial_dropout_nd_build,
    .saved_floats = spatial_dropout_nd_saved,
    .forward = spatial_dropout_nd_forward,
    .backward = spatial_dropout_nd_backward,
    .no_trainable_key = true,
};

/* ---- integer encodings (Keras' encode_categorical_inputs) --------------------------------------- */
/* Indices arrive as floats holding integers. one_hot: each index becomes a row of depth (an
 * input's trailing axis of 1 is replaced, any other gets a new axis); multi_hot: 1 at every index
 * of the last axis; count: how often each occurs. Indices outside [0, depth) set nothing. */

typedef enum enc_mode { ENC_INT, ENC_ONE_HOT, ENC_MULTI_HOT, ENC_COUNT } enc_mode;

typedef struct enc_priv {
    enc_mode mode;
    int64_t depth;
    int nb;         /* Discretization: bin boundaries */
    float *bounds;
} enc_priv;

static void enc_free(ckeras_layer *l)
{
    enc_priv *p = l->priv;
    if (p)
        ck_free(p->bounds);
    free_priv(l);
}

static ckeras_status enc_mode_parse(const ckeras_layer *l, enc_mode *m)
{
    const char *s = ck_cfg_str(&l->cfg, "output_mode");
    if (!s)
        return ck_error(CKERAS_EINVAL, "%s '%s': output_mode is required", l->vt->class_name, l->name);
    *m = strcmp(s, "int") == 0           ? ENC_INT
         : strcmp(s, "one_hot") == 0     ? ENC_ONE_HOT
         : strcmp(s, "count") == 0       ? ENC_COUNT
                                         : ENC_MULTI_HOT; /* "multi_hot", and Keras' old name "binary" */
    if (ck_cfg_bool(&l->cfg, "sparse"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': sparse=True is not supported (ckeras has dense tensors only)",
                        l->vt->class_name, l->name);
    return CKERAS_OK;
}

/* output shape of an encoding of depth for per-sample input in */
static ckeras_status enc_shape(const ckeras_layer *l, const ck_shape *in, enc_mode m, int64_t depth, ck_shape *out)
{
    *out = *in;
    if (m == ENC_INT)
        return CKERAS_OK;
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs inputs of rank >= 1 per sample", l->vt->class_name, l->name);
    if (m == ENC_ONE_HOT && in->d[in->ndim - 1] != 1) {
        if (in->ndim >= CKERAS_MAX_DIMS)
            return ck_error(CKERAS_ESHAPE, "%s '%s': one_hot output would have too many axes", l->vt->class_name,
                            l->name);
        out->ndim = in->ndim + 1;
    }
    out->d[out->ndim - 1] = depth;
    return CKERAS_OK;
}

/* y from the indices idx (n, in): one row of depth per index (one_hot) or per last-axis row */
static void enc_write(const ckeras_layer *l, const enc_priv *p, int64_t n, const float *idx, float *y)
{
    const int64_t in_n = in_count(l, n), out_n = n * ck_shape_size(&l->out_shape), d = p->depth;
    if (p->mode == ENC_INT) {
        memcpy(y, idx, (size_t)in_n * sizeof(float));
        return;
    }
    memset(y, 0, (size_t)out_n * sizeof(float));
    const int64_t row = p->mode == ENC_ONE_HOT ? 1 : l->in_shape.d[l->in_shape.ndim - 1];
    for (int64_t i = 0; i < in_n; i++) {
        const float v = idx[i];
        if (!(v >= 0.0f && v < (float)d))
            continue;
        float *o = y + (i / row) * d + (int64_t)v;
        *o = p->mode == ENC_COUNT ? *o + 1.0f : 1.0f;
    }
}

static void no_grad_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (b->dx)
        memset(b->dx, 0, (size_t)in_count(l, b->n) * sizeof(float));
}

/* CategoryEncoding */

static const ck_field category_encoding_fields[] = {
    {"num_tokens", CK_INT, NULL, "[1,)", "the number of tokens: indices are in [0, num_tokens)"},
    {"output_mode", CK_STR, "multi_hot", "one_hot|multi_hot|count|binary", "one_hot, multi_hot or count"},
    {"sparse", CK_BOOL, "false", NULL, "sparse output (not supported)"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status category_encoding_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    enc_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    const ck_value *nt = ck_cfg_value(&l->cfg, "num_tokens");
    if (nt->is_none || nt->i < 1)
        return ck_error(CKERAS_EINVAL, "CategoryEncoding '%s': num_tokens must be set, >= 1", l->name);
    ckeras_status st = enc_mode_parse(l, &p->mode);
    if (st != CKERAS_OK)
        return st;
    p->depth = nt->i;
    return enc_shape(l, in, p->mode, p->depth, out);
}

static void category_encoding_forward(ckeras_layer *l, const ck_fwd *f)
{
    enc_write(l, l->priv, f->n, f->x, f->y);
}

const ck_layer_vt ck_category_encoding_vt = {
    .class_name = "CategoryEncoding",
    .base_name = "category_encoding",
    .fields = category_encoding_fields,
    .nfields = sizeof category_encoding_fields / sizeof category_encoding_fields[0],
    .build = category_encoding_build,
    .forward = category_encoding_forward,
    .backward = no_grad_backward,
    .free_priv = enc_free,
};

/* Discretization: the bin of each value (np.digitize: i with b[i-1] <= x < b[i]), encoded */

static const ck_field discretization_fields[] = {
    {"bin_boundaries", CK_TREE, NULL, NULL, "increasing bin boundaries (a list of numbers)"},
    {"num_bins", CK_INT, NULL, NULL, "bins for adapt(), which ckeras has not: set bin_boundaries"},
    {"epsilon", CK_FLOAT, "0.01", NULL, "adapt()'s error tolerance (unused)"},
    {"output_mode", CK_STR, "int", "int|one_hot|multi_hot|count", "int, one_hot, multi_hot or count"},
    {"sparse", CK_BOOL, "false", NULL, "sparse output (not supported)"},
    {"dtype", CK_TREE, NULL, NULL, "the output dtype policy as Keras wrote it (ckeras computes in float32)"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status discretization_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    enc_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    const ck_tree *b = ck_cfg_tree(&l->cfg, "bin_boundaries");
    if (!b)
        return ck_error(CKERAS_EUNSUPPORTED,
                        "Discretization '%s': bin_boundaries must be set (adapt() with num_bins is not supported; a "
                        "model adapted in Keras has its bin_boundaries in its config)",
                        l->name);
    if (b->kind != CK_T_LIST || b->n > (1 << 20))
        return ck_error(CKERAS_EINVAL, "Discretization '%s': bin_boundaries must be a list of numbers", l->name);
    ckeras_status st = enc_mode_parse(l, &p->mode);
    if (st != CKERAS_OK)
        return st;
    ck_free(p->bounds);
    p->bounds = ck_malloc((size_t)(b->n > 0 ? b->n : 1) * sizeof(float));
    if (!p->bounds)
        return CKERAS_ENOMEM;
    p->nb = b->n;
    for (int k = 0; k < b->n; k++) {
        if (!ck_tree_is_number(b->items[k]))
            return ck_error(CKERAS_EINVAL, "Discretization '%s': bin_boundaries[%d] is not a number", l->name, k);
        p->bounds[k] = (float)ck_tree_number(b->items[k]);
        if (k > 0 && !(p->bounds[k] >= p->bounds[k - 1]))
            return ck_error(CKERAS_EINVAL, "Discretization '%s': bin_boundaries must be increasing (at %d)", l->name,
                            k);
    }
    p->depth = (int64_t)p->nb + 1;
    return enc_shape(l, in, p->mode, p->depth, out);
}

/* work: the bin indices (n, in) */
static int64_t discretization_work(const ckeras_layer *l, int64_t n)
{
    return in_count(l, n);
}

static void discretization_forward(ckeras_layer *l, const ck_fwd *f)
{
    const enc_priv *p = l->priv;
    const int64_t n = in_count(l, f->n);
    float *idx = p->mode == ENC_INT ? f->y : f->work;
    for (int64_t i = 0; i < n; i++) {
        const float v = f->x[i];
        int lo = 0, hi = p->nb; /* first boundary > v */
        while (lo < hi) {
            const int mid = lo + (hi - lo) / 2;
            if (p->bounds[mid] <= v)
                lo = mid + 1;
            else
                hi = mid;
        }
        idx[i] = (float)lo;
    }
    if (p->mode != ENC_INT)
        enc_write(l, p, f->n, idx, f->y);
}

const ck_layer_vt ck_discretization_vt = {
    .class_name = "Discretization",
    .base_name = "discretization",
    .fields = discretization_fields,
    .nfields = sizeof discretization_fields / sizeof discretization_fields[0],
    .build = discretization_build,
    .work_floats = discretization_work,
    .forward = discretization_forward,
    .backward = no_grad_backward,
    .free_priv = enc_free,
    .no_trainable_key = true, /* Keras 3.11: Discretization(bin_boundaries, ..., dtype, name) */
};
