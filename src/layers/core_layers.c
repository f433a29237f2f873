/* Shape-and-elementwise layers: InputLayer, Activation, Dropout, Flatten.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>

#define INPUT_SHAPE_FIELD {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER}

/* ---- InputLayer -------------------------------------------------------------------------- */

static const ck_field input_fields[] = {
    {"shape", CK_INTS, NULL, NULL, "per-sample shape (no batch axis)"},
    {"batch_size", CK_INT, NULL, NULL, "fixed batch size (ignored)"},
    {"sparse", CK_BOOL, "false", NULL, "sparse input (not supported)"},
};

static ckeras_status input_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    *out = *in;
    return CKERAS_OK;
}

static void copy_forward(ckeras_layer *l, const ck_fwd *f)
{
    if (f->y != f->x)
        memcpy(f->y, f->x, (size_t)(f->n * ck_shape_size(&l->in_shape)) * sizeof(float));
}

static void copy_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (b->dx && b->dx != b->dy)
        memcpy(b->dx, b->dy, (size_t)(b->n * ck_shape_size(&l->in_shape)) * sizeof(float));
}

const ck_layer_vt ck_input_vt = {
    .class_name = "InputLayer",
    .base_name = "input_layer",
    .fields = input_fields,
    .nfields = sizeof input_fields / sizeof input_fields[0],
    .build = input_build,
    .forward = copy_forward,
    .backward = copy_backward,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- Activation ------------------------------------------------------------------------- */

static const ck_field activation_fields[] = {
    {"activation", CK_STR, "linear", NULL, "activation function"},
    INPUT_SHAPE_FIELD,
};

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status activation_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (!l->priv && !(l->priv = ck_calloc(1, sizeof(ck_act))))
        return CKERAS_ENOMEM;
    ck_act *a = l->priv;
    ckeras_status st = ck_act_parse_any(ck_cfg_str(&l->cfg, "activation"), a);
    if (st != CKERAS_OK) {
        ck_error_prefix("Activation '%s'", l->name);
        return st;
    }
    if (l->keras2 && a->kind == CK_ACT_HARD_SIGMOID)
        a->kind = CK_ACT_HARD_SIGMOID_K2;
    *out = *in;
    if (a->kind == CK_ACT_GLU) {
        /* glu splits the last axis into two halves a, b and gives a * sigmoid(b) */
        if (in->ndim < 1 || in->d[in->ndim - 1] % 2 != 0)
            return ck_error(CKERAS_ESHAPE, "Activation '%s': glu needs an even last axis, got %lld", l->name,
                            in->ndim < 1 ? 0LL : (long long)in->d[in->ndim - 1]);
        out->d[in->ndim - 1] /= 2;
    }
    return CKERAS_OK;
}

static void activation_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t cols = l->in_shape.d[l->in_shape.ndim - 1];
    int64_t rows = f->n * ck_shape_size(&l->in_shape) / cols;
    ck_act_forward(l->priv, f->x, f->y, rows, cols);
}

static void activation_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t cols = l->in_shape.d[l->in_shape.ndim - 1];
    int64_t rows = b->n * ck_shape_size(&l->in_shape) / cols;
    ck_act_backward(l->priv, b->x, b->y, b->dy, b->dx, rows, cols);
}

const ck_layer_vt ck_activation_vt = {
    .class_name = "Activation",
    .base_name = "activation",
    .fields = activation_fields,
    .nfields = sizeof activation_fields / sizeof activation_fields[0],
    .build = activation_build,
    .forward = activation_forward,
    .backward = activation_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};

/* ---- Dropout: inverted dropout, identity in inference --------------------------------------- */
/* noise_shape (Keras): the shape of the random mask, batch axis included, broadcast over the
 * input: an entry None takes the input's size, an entry 1 shares one draw along that axis
 * (EfficientNet drops whole samples with (None, 1, 1, 1)). */

static const ck_field dropout_fields[] = {
    {"rate", CK_FLOAT, NULL, "[0,1)", "fraction of the inputs to drop, in [0, 1)"},
    {"noise_shape", CK_INTS, NULL, NULL, "shape of the mask, batch axis included (None: the input's size, 1: "
                                         "shared), or None"},
    {"seed", CK_INT, NULL, NULL, "seed (the model's generator is used)"},
    INPUT_SHAPE_FIELD,
};

typedef struct dropout_priv {
    bool noise;                       /* a noise_shape is set */
    bool batch_shared;                /* one draw for the whole batch */
    int64_t nsize;                    /* per-sample size of the mask */
    int64_t stride[CKERAS_MAX_DIMS];  /* the mask's step along each per-sample axis (0: shared) */
} dropout_priv;

static ckeras_status dropout_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *r = ck_cfg_value(&l->cfg, "rate");
    if (r->is_none || !(r->f >= 0.0 && r->f < 1.0))
        return ck_error(CKERAS_EINVAL, "Dropout '%s': rate must be in [0, 1), got %g", l->name,
                        r->is_none ? -1.0 : r->f);
    dropout_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    memset(p, 0, sizeof *p);
    const ck_value *ns = ck_cfg_value(&l->cfg, "noise_shape");
    if (!ns->is_none) {
        char buf[96];
        if (ns->n != in->ndim + 1)
            return ck_error(CKERAS_EINVAL, "Dropout '%s': noise_shape has %d entries, the input %s has %d axes",
                            l->name, ns->n, ck_shape_str(in, true, buf, sizeof buf), in->ndim + 1);
        if (ns->v[0] != -1 && ns->v[0] != 1)
            return ck_error(CKERAS_EUNSUPPORTED, "Dropout '%s': noise_shape's batch entry must be None or 1, got %lld",
                            l->name, (long long)ns->v[0]);
        p->noise = true;
        p->batch_shared = ns->v[0] == 1;
        int64_t st = 1;
        for (int d = in->ndim - 1; d >= 0; d--) {
            int64_t e = ns->v[d + 1];
            if (e != -1 && e != 1 && e != in->d[d])
                return ck_error(CKERAS_EINVAL, "Dropout '%s': noise_shape entry %d is %lld, which is neither None, 1 "
                                "nor the input's size %lld", l->name, d + 1, (long long)e, (long long)in->d[d]);
            bool shared = e == 1 && in->d[d] != 1;
            p->stride[d] = shared ? 0 : st;
            st *= shared ? 1 : in->d[d];
        }
        p->nsize = st;
    }
    *out = *in;
    return CKERAS_OK;
}

/* saved: the mask, (n, in) floats of 0 or 1/(1-rate) */
static int64_t dropout_saved(const ckeras_layer *l, int64_t n)
{
    return n * ck_shape_size(&l->in_shape);
}

/* work: the drawn mask of noise_shape, at most (n, in) floats */
static int64_t dropout_work(const ckeras_layer *l, int64_t n)
{
    const dropout_priv *p = l->priv;
    return p && p->noise ? n * ck_shape_size(&l->in_shape) : 0;
}

static void dropout_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t total = f->n * ck_shape_size(&l->in_shape);
    double rate = ck_cfg_float(&l->cfg, "rate");
    const dropout_priv *p = l->priv;
    if (!f->training || rate == 0.0 || !f->saved) {
        copy_forward(l, f);
        if (f->saved)
            for (int64_t i = 0; i < total; i++)
                f->saved[i] = 1.0f;
        return;
    }
    float keep = (float)(1.0 / (1.0 - rate));
    if (!p->noise) {
        ck_rng_keep_mask(f->rng, f->saved, total, rate, keep);
#pragma omp simd
        for (int64_t i = 0; i < total; i++)
            f->y[i] = f->x[i] * f->saved[i];
        return;
    }
    /* draw the mask of noise_shape, then spread it over the input */
    const ck_shape *s = &l->in_shape;
    int64_t per = ck_shape_size(s), draws = (p->batch_shared ? 1 : f->n) * p->nsize;
    ck_rng_keep_mask(f->rng, f->work, draws, rate, keep);
    for (int64_t b = 0; b < f->n; b++) {
        const float *m = f->work + (p->batch_shared ? 0 : b * p->nsize);
        int64_t idx[CKERAS_MAX_DIMS] = {0}, off = 0;
        for (int64_t i = 0; i < per; i++) {
            f->saved[b * per + i] = m[off];
            f->y[b * per + i] = f->x[b * per + i] * m[off];
            for (int d = s->ndim - 1; d >= 0; d--) {
                off += p->stride[d];
                if (++idx[d] < s->d[d])
                    break;
                off -= p->stride[d] * s->d[d];
                idx[d] = 0;
            }
        }
    }
}

static void dropout_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t total = b->n * ck_shape_size(&l->in_shape);
#pragma omp simd
    for (int64_t i = 0; i < total; i++)
        b->dx[i] = b->dy[i] * b->saved[i];
}

/* A noise_shape whose batch entry is 1 shares one mask across the batch: not row by row. */
static bool dropout_rows_apart(const ckeras_layer *l)
{
    const dropout_priv *p = l->priv;
    return !p || !p->batch_shared;
}

const ck_layer_vt ck_dropout_vt = {
    .class_name = "Dropout",
    .base_name = "dropout",
    .fields = dropout_fields,
    .nfields = sizeof dropout_fields / sizeof dropout_fields[0],
    .build = dropout_build,
    .saved_floats = dropout_saved,
    .work_floats = dropout_work,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .free_priv = free_priv,
    .mask_mode = ck_mask_pass,
    .rows_apart = dropout_rows_apart,
};
/* ---- Masking ------------------------------------------------------------------------------ */
/* Keras' Masking(mask_value): a step (a row of the last axis) whose values all equal mask_value
 * is masked: its output is zeros and it gets no gradient. */

static const ck_field masking_fields[] = {
    {"mask_value", CK_FLOAT, "0", NULL, "steps whose values all equal this are masked"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status masking_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "Masking '%s': needs inputs (batch, ..., features)", l->name);
    *out = *in;
    return CKERAS_OK;
}

static bool masking_keeps(const float *row, int64_t c, float mv)
{
    for (int64_t k = 0; k < c; k++)
        if (row[k] != mv)
            return true;
    return false;
}

static void masking_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t c = l->in_shape.d[l->in_shape.ndim - 1], rows = f->n * ck_shape_size(&l->in_shape) / c;
    float mv = (float)ck_cfg_float(&l->cfg, "mask_value");
    for (int64_t r = 0; r < rows; r++) {
        bool keep = masking_keeps(f->x + r * c, c, mv);
        for (int64_t k = 0; k < c; k++)
            f->y[r * c + k] = keep ? f->x[r * c + k] : 0.0f;
        if (f->mask_out)
            f->mask_out[r] = keep ? 1.0f : 0.0f;
    }
}

static void masking_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t c = l->in_shape.d[l->in_shape.ndim - 1], rows = b->n * ck_shape_size(&l->in_shape) / c;
    float mv = (float)ck_cfg_float(&l->cfg, "mask_value");
    for (int64_t r = 0; r < rows; r++) {
        bool keep = masking_keeps(b->x + r * c, c, mv);
        for (int64_t k = 0; k < c; k++)
            b->dx[r * c + k] = keep ? b->dy[r * c + k] : 0.0f;
    }
}

static ck_mask_mode masking_mask_mode(const ckeras_layer *l)
{
    (void)l;
    return CK_MASK_MAKE;
}

const ck_layer_vt ck_masking_vt = {
    .class_name = "Masking",
    .base_name = "masking",
    .fields = masking_fields,
    .nfields = sizeof masking_fields / sizeof masking_fields[0],
    .build = masking_build,
    .forward = masking_forward,
    .backward = masking_backward,
    .mask_mode = masking_mask_mode,
};


/* ---- Flatten: row-major over every axis but the batch ----------------------------------------- */

static const ck_field flatten_fields[] = {
    {"data_format", CK_STR, "channels_last", "channels_last", "only channels_last"},
    INPUT_SHAPE_FIELD,
};

static ckeras_status flatten_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    out->ndim = 1;
    out->d[0] = ck_shape_size(in);
    return CKERAS_OK;
}

const ck_layer_vt ck_flatten_vt = {
    .class_name = "Flatten",
    .base_name = "flatten",
    .fields = flatten_fields,
    .nfields = sizeof flatten_fields / sizeof flatten_fields[0],
    .build = flatten_build,
    .forward = copy_forward,
    .backward = copy_backward,
    .rows_apart = ck_layer_rows_apart,
};
