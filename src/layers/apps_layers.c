/* Layers Keras Applications save in their models:
 *  - Normalization (keras.layers.Normalization): y = (x - mean) / max(sqrt(variance), 1e-7), or
 *    with invert=True y = mean + x * max(sqrt(variance), 1e-7); mean and variance per position of
 *    the kept axes ("axis"), either the layer's non-trainable weights mean, variance and count
 *    (an adapted layer; EfficientNet and ConvNeXt save it so) or given in the config (numbers or
 *    nested lists, broadcast to the kept axes as Keras does).
 *  - LayerScale (ConvNeXt, keras.src.applications.convnext): y = x * gamma, gamma of
 *    (projection_dim,) along the last axis, initialised to init_values.
 *  - CustomScaleLayer (InceptionResNetV2): y = inputs[0] + inputs[1] * scale.
 *
 * Sizes: builds compute shapes with core.h's checked helpers and ck_layer_build checks what they
 * declare; forward and backward multiply the batch by per-sample sizes the plan checked. */
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- Normalization -------------------------------------------------------------------------- */

static const ck_field normalization_fields[] = {
    {"axis", CK_INTS, "-1", NULL, "axes kept (one mean and variance per position along them); None or []: one"},
    {"mean", CK_TREE, NULL, "any", "the mean (a number or nested list), or None: the layer's weights"},
    {"variance", CK_TREE, NULL, "any", "the variance (a number or nested list), or None: the layer's weights"},
    {"invert", CK_BOOL, "false", NULL, "de-normalise: y = mean + x * sqrt(variance)"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

typedef struct norm_priv {
    int64_t per;      /* per-sample size */
    int64_t nk;       /* positions of the kept axes */
    int64_t *map;     /* (per,): the kept position of each per-sample element */
    float *cmean;     /* (nk,) each, when the config gives them; NULL: the weights */
    float *cvar;
} norm_priv;

static void norm_free_priv(ckeras_layer *l)
{
    norm_priv *p = l->priv;
    if (p) {
        ck_free(p->map);
        ck_free(p->cmean);
        ck_free(p->cvar);
    }
    ck_free(l->priv);
    l->priv = NULL;
}

/* Whether two nested lists of numbers have the same shape. */
static bool same_nesting(const ck_tree *a, const ck_tree *b, int depth)
{
    if (depth > CKERAS_MAX_DIMS)
        return false;
    if (ck_tree_is_number(a) || ck_tree_is_number(b))
        return ck_tree_is_number(a) && ck_tree_is_number(b);
    if (a->kind != CK_T_LIST || b->kind != CK_T_LIST || a->n != b->n)
        return false;
    for (int k = 0; k < a->n; k++)
        if (!same_nesting(a->items[k], b->items[k], depth + 1))
            return false;
    return true;
}

/* The shape of a number or rectangular nested list of numbers (rank 0: a number); false when
 * it is neither. */
static bool tree_shape(const ck_tree *t, ck_shape *s, int depth)
{
    if (ck_tree_is_number(t)) {
        s->ndim = depth;
        return true;
    }
    if (t->kind != CK_T_LIST || t->n < 1 || depth >= CKERAS_MAX_DIMS || !tree_shape(t->items[0], s, depth + 1))
        return false;
    s->d[depth] = t->n;
    for (int k = 1; k < t->n; k++)
        if (!same_nesting(t->items[0], t->items[k], depth + 1))
            return false;
    return true;
}

/* The value of a nested list at a multi-index of its shape. */
static double tree_at(const ck_tree *t, const int64_t *idx, int rank)
{
    for (int d = 0; d < rank; d++)
        t = t->items[idx[d]];
    return ck_tree_number(t);
}

/* Keras' broadcast_to(value, bshape) read at the kept positions: bshape is the full shape (batch
 * axis 0 included) with 1 on the reduced axes; out gets nk values in row-major order of the kept
 * axes. */
static ckeras_status broadcast_param(const ckeras_layer *l, const char *key, const ck_tree *t, const ck_shape *bshape,
                                     float *out)
{
    ck_shape vs = {0};
    if (!tree_shape(t, &vs, 0))
        return ck_error(CKERAS_EINVAL, "Normalization '%s': %s must be a number or a rectangular nested list of "
                        "numbers", l->name, key);
    char a[96], b[96];
    int lead = bshape->ndim - vs.ndim;
    bool ok = lead >= 0;
    for (int d = 0; ok && d < vs.ndim; d++)
        ok = vs.d[d] == 1 || vs.d[d] == bshape->d[lead + d];
    if (!ok)
        return ck_error(CKERAS_EINVAL, "Normalization '%s': %s of shape %s cannot be broadcast to %s", l->name, key,
                        ck_shape_str(&vs, false, a, sizeof a), ck_shape_str(bshape, false, b, sizeof b));
    int64_t idx[CKERAS_MAX_DIMS] = {0}, vidx[CKERAS_MAX_DIMS];
    int64_t n = ck_shape_size(bshape);
    for (int64_t i = 0; i < n; i++) {
        for (int d = 0; d < vs.ndim; d++)
            vidx[d] = vs.d[d] == 1 ? 0 : idx[lead + d];
        double v = tree_at(t, vidx, vs.ndim);
        if (!isfinite(v))
            return ck_error(CKERAS_EINVAL, "Normalization '%s': %s holds a value that is not finite", l->name, key);
        out[i] = (float)v;
        for (int d = bshape->ndim - 1; d >= 0; d--) {
            if (++idx[d] < bshape->d[d])
                break;
            idx[d] = 0;
        }
    }
    return CKERAS_OK;
}

static ckeras_status normalization_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    int rank = in->ndim, full = rank + 1;
    bool keep[CKERAS_MAX_DIMS + 1] = {false};
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    for (int k = 0; !ax->is_none && k < ax->n; k++) {
        int64_t a = ax->v[k] < 0 ? ax->v[k] + full : ax->v[k];
        if (a < 0 || a >= full)
            return ck_error(CKERAS_EINVAL, "Normalization '%s': axis %lld is out of range for inputs of rank %d "
                            "(with the batch axis)", l->name, (long long)ax->v[k], full);
        if (a == 0)
            return ck_error(CKERAS_EUNSUPPORTED, "Normalization '%s': keeping the batch axis (axis 0) is not "
                            "supported: its statistics would depend on the batch size", l->name);
        keep[a] = true;
    }
    const ck_tree *mean = ck_cfg_tree(&l->cfg, "mean"), *var = ck_cfg_tree(&l->cfg, "variance");
    if (!mean != !var)
        return ck_error(CKERAS_EINVAL, "Normalization '%s': mean and variance must both be given or both be None",
                        l->name);
    ck_shape ks = {0}, bshape = {0};
    bshape.ndim = full;
    bshape.d[0] = 1;
    for (int a = 1; a < full; a++) {
        bshape.d[a] = keep[a] ? in->d[a - 1] : 1;
        if (keep[a])
            ks.d[ks.ndim++] = in->d[a - 1];
    }
    norm_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    ck_free(p->map);
    ck_free(p->cmean);
    ck_free(p->cvar);
    p->map = NULL;
    p->cmean = p->cvar = NULL;
    p->per = ck_shape_size(in);
    p->nk = ck_shape_size(&ks);
    if (!(p->map = ck_malloc((size_t)p->per * sizeof *p->map)))
        return CKERAS_ENOMEM;
    /* the kept position of each element: row-major over the kept axes */
    int64_t idx[CKERAS_MAX_DIMS] = {0};
    for (int64_t i = 0; i < p->per; i++) {
        int64_t k = 0;
        for (int d = 0; d < rank; d++)
            if (keep[d + 1])
                k = k * in->d[d] + idx[d];
        p->map[i] = k;
        for (int d = rank - 1; d >= 0; d--) {
            if (++idx[d] < in->d[d])
                break;
            idx[d] = 0;
        }
    }
    if (mean) {
        if (!(p->cmean = ck_malloc((size_t)p->nk * sizeof(float))) ||
            !(p->cvar = ck_malloc((size_t)p->nk * sizeof(float))))
            return CKERAS_ENOMEM;
        ckeras_status st = broadcast_param(l, "mean", mean, &bshape, p->cmean);
        if (st == CKERAS_OK)
            st = broadcast_param(l, "variance", var, &bshape, p->cvar);
        if (st != CKERAS_OK)
            return st;
    } else {
        ck_shape scalar = {0};
        if (!ck_layer_add_weight(l, "mean", &ks, false, NULL, "zeros") ||
            !ck_layer_add_weight(l, "variance", &ks, false, NULL, "ones") ||
            !ck_layer_add_weight(l, "count", &scalar, false, NULL, "zeros"))
            return CKERAS_ENOMEM;
    }
    *out = *in;
    return CKERAS_OK;
}

static inline float norm_denom(float var)
{
    float s = sqrtf(var);
    return s > 1e-7f ? s : 1e-7f; /* Keras' backend.epsilon() */
}

static void normalization_forward(ckeras_layer *l, const ck_fwd *f)
{
    const norm_priv *p = l->priv;
    const float *mean = p->cmean ? p->cmean : l->w[0].data, *var = p->cvar ? p->cvar : l->w[1].data;
    bool invert = ck_cfg_bool(&l->cfg, "invert");
    for (int64_t s = 0; s < f->n; s++) {
        const float *x = f->x + s * p->per;
        float *y = f->y + s * p->per;
        for (int64_t i = 0; i < p->per; i++) {
            int64_t k = p->map[i];
            y[i] = invert ? mean[k] + x[i] * norm_denom(var[k]) : (x[i] - mean[k]) / norm_denom(var[k]);
        }
    }
}

static void normalization_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    const norm_priv *p = l->priv;
    const float *var = p->cvar ? p->cvar : l->w[1].data;
    bool invert = ck_cfg_bool(&l->cfg, "invert");
    for (int64_t s = 0; s < b->n; s++) {
        const float *dy = b->dy + s * p->per;
        float *dx = b->dx + s * p->per;
        for (int64_t i = 0; i < p->per; i++) {
            float d = norm_denom(var[p->map[i]]);
            dx[i] = invert ? dy[i] * d : dy[i] / d;
        }
    }
}

const ck_layer_vt ck_normalization_vt = {
    .class_name = "Normalization",
    .base_name = "normalization",
    .fields = normalization_fields,
    .nfields = sizeof normalization_fields / sizeof normalization_fields[0],
    .build = normalization_build,
    .forward = normalization_forward,
    .backward = normalization_backward,
    .free_priv = norm_free_priv,
    .mask_mode = ck_mask_pass,
};

/* ---- LayerScale (ConvNeXt) ---------------------------------------------------------------------- */

static const ck_field layer_scale_fields[] = {
    {"init_values", CK_FLOAT, NULL, NULL, "initial value of every gamma"},
    {"projection_dim", CK_INT, NULL, "(0,)", "length of gamma: the size of the input's last axis"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

static void plain_free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status layer_scale_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *iv = ck_cfg_value(&l->cfg, "init_values"), *pd = ck_cfg_value(&l->cfg, "projection_dim");
    if (iv->is_none || !isfinite(iv->f))
        return ck_error(CKERAS_EINVAL, "LayerScale '%s': init_values must be a finite number", l->name);
    if (pd->is_none || pd->i < 1)
        return ck_error(CKERAS_EINVAL, "LayerScale '%s': projection_dim must be a positive integer", l->name);
    if (in->ndim < 1 || in->d[in->ndim - 1] != pd->i) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "LayerScale '%s': input %s must end in projection_dim = %lld", l->name,
                        ck_shape_str(in, true, buf, sizeof buf), (long long)pd->i);
    }
    char *spec = ck_layer_priv(l, 64); /* the initializer of gamma, kept as long as the layer */
    if (!spec)
        return CKERAS_ENOMEM;
    snprintf(spec, 64, "constant(value=%.9g)", iv->f);
    ck_shape gs = {.ndim = 1, .d = {pd->i}};
    if (!ck_layer_add_weight(l, "gamma", &gs, true, NULL, spec))
        return CKERAS_ENOMEM;
    *out = *in;
    return CKERAS_OK;
}

static void layer_scale_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t c = l->w[0].size, rows = f->n * ck_shape_size(&l->in_shape) / c;
    const float *g = l->w[0].data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < c; k++)
            f->y[r * c + k] = f->x[r * c + k] * g[k];
}

static void layer_scale_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t c = l->w[0].size, rows = b->n * ck_shape_size(&l->in_shape) / c;
    const float *g = l->w[0].data;
    float *dg = b->train_weights ? l->w[0].grad : NULL;
    if (dg) {
        memset(dg, 0, (size_t)c * sizeof(float));
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < c; k++)
                dg[k] += b->dy[r * c + k] * b->x[r * c + k];
    }
    if (b->dx)
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < c; k++)
                b->dx[r * c + k] = b->dy[r * c + k] * g[k];
}

const ck_layer_vt ck_layer_scale_vt = {
    .class_name = "LayerScale",
    .base_name = "layer_scale",
    .fields = layer_scale_fields,
    .nfields = sizeof layer_scale_fields / sizeof layer_scale_fields[0],
    .build = layer_scale_build,
    .forward = layer_scale_forward,
    .backward = layer_scale_backward,
    .free_priv = plain_free_priv,
    .mask_mode = ck_mask_pass,
};

/* ---- CustomScaleLayer (InceptionResNetV2) ---------------------------------------------------- */

static const ck_field custom_scale_fields[] = {
    {"scale", CK_FLOAT, NULL, NULL, "factor of the second input: y = inputs[0] + inputs[1] * scale"},
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

static ckeras_status custom_scale_build(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    const ck_value *s = ck_cfg_value(&l->cfg, "scale");
    if (s->is_none || !isfinite(s->f))
        return ck_error(CKERAS_EINVAL, "CustomScaleLayer '%s': scale must be a finite number", l->name);
    if (nin != 2)
        return ck_error(CKERAS_ESHAPE, "CustomScaleLayer '%s': needs exactly 2 inputs, got %d", l->name, nin);
    if (!ck_shape_eq(&ins[0], &ins[1])) {
        char a[96], b[96];
        return ck_error(CKERAS_ESHAPE, "CustomScaleLayer '%s': input 1 has shape %s, input 0 has %s (shapes must "
                        "match)", l->name, ck_shape_str(&ins[1], false, a, sizeof a),
                        ck_shape_str(&ins[0], false, b, sizeof b));
    }
    *out = ins[0];
    return CKERAS_OK;
}

static void custom_scale_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t total = f->n * ck_shape_size(&l->out_shape);
    float s = (float)ck_cfg_float(&l->cfg, "scale");
    for (int64_t i = 0; i < total; i++)
        f->y[i] = f->xs[0][i] + f->xs[1][i] * s;
}

static void custom_scale_backward(ckeras_layer *l, const ck_bwd *b)
{
    int64_t total = b->n * ck_shape_size(&l->out_shape);
    float s = (float)ck_cfg_float(&l->cfg, "scale");
    if (b->dxs[1])
        for (int64_t i = 0; i < total; i++)
            b->dxs[1][i] = b->dy[i] * s;
    if (b->dxs[0])
        memcpy(b->dxs[0], b->dy, (size_t)total * sizeof(float));
}

const ck_layer_vt ck_custom_scale_layer_vt = {
    .class_name = "CustomScaleLayer",
    .base_name = "custom_scale_layer",
    .fields = custom_scale_fields,
    .nfields = sizeof custom_scale_fields / sizeof custom_scale_fields[0],
    .build_multi = custom_scale_build,
    .forward = custom_scale_forward,
    .backward = custom_scale_backward,
};
