/* Softmax as a layer (keras.layers.Softmax): softmax along one axis, or jointly along a list of
 * consecutive axes (Keras' exp(x - logsumexp(x, axis)) for a list). The batch axis is refused.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

static const ck_field softmax_fields[] = {
    {"axis", CK_INTS, "-1", NULL,
     "axis, or list of consecutive axes, of the normalisation (Keras counts the batch as axis 0)", CK_W_INT_IF_ONE},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

/* x viewed as (outer, len, inner) per batch: the normalised axes are merged into len */
typedef struct softmax_priv {
    int64_t outer, len, inner;
} softmax_priv;

static const ck_act softmax_act = {.kind = CK_ACT_SOFTMAX};

static void free_priv(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status softmax_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    softmax_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    if (in->ndim < 1 || in->d[in->ndim - 1] <= 0)
        return ck_error(CKERAS_ESHAPE, "Softmax '%s': needs an input with a last axis, got rank %d", l->name,
                        in->ndim);
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    if (ax->is_none || ax->n < 1)
        return ck_error(CKERAS_EUNSUPPORTED, "Softmax '%s': axis None (all axes with the batch) is not supported",
                        l->name);
    /* with the batch, the input has in->ndim + 1 axes; per-sample axis = Keras axis - 1 */
    int lo = in->ndim, hi = -1;
    bool seen[CKERAS_MAX_DIMS + 1] = {false};
    for (int k = 0; k < ax->n; k++) {
        int64_t a = ax->v[k] < 0 ? ax->v[k] + in->ndim + 1 : ax->v[k];
        if (a < 0 || a > in->ndim)
            return ck_error(CKERAS_EINVAL, "Softmax '%s': axis %lld is out of range for an input of rank %d", l->name,
                            (long long)ax->v[k], in->ndim + 1);
        if (a == 0)
            return ck_error(CKERAS_EUNSUPPORTED, "Softmax '%s': a softmax over the batch axis is not supported",
                            l->name);
        if (seen[a])
            return ck_error(CKERAS_EINVAL, "Softmax '%s': axis %lld is listed twice", l->name, (long long)ax->v[k]);
        seen[a] = true;
        lo = (int)a - 1 < lo ? (int)a - 1 : lo;
        hi = (int)a - 1 > hi ? (int)a - 1 : hi;
    }
    if (hi - lo + 1 != ax->n)
        return ck_error(CKERAS_EUNSUPPORTED, "Softmax '%s': the axes of a list must be consecutive", l->name);
    p->outer = p->len = p->inner = 1;
    for (int k = 0; k < in->ndim; k++) {
        int64_t *t = k < lo ? &p->outer : k <= hi ? &p->len : &p->inner;
        *t *= in->d[k];
    }
    *out = *in;
    return CKERAS_OK;
}

static void softmax_forward(ckeras_layer *l, const ck_fwd *f)
{
    const softmax_priv *p = l->priv;
    if (p->inner == 1)
        ck_act_forward(&softmax_act, f->x, f->y, f->n * p->outer, p->len);
    else
        ck_softmax_axis_forward(f->x, f->y, f->n * p->outer, p->len, p->inner);
}

static void softmax_backward(ckeras_layer *l, const ck_bwd *b)
{
    const softmax_priv *p = l->priv;
    if (!b->dx)
        return;
    if (p->inner == 1)
        ck_act_backward(&softmax_act, b->x, b->y, b->dy, b->dx, b->n * p->outer, p->len);
    else
        ck_softmax_axis_backward(b->y, b->dy, b->dx, b->n * p->outer, p->len, p->inner);
}

const ck_layer_vt ck_softmax_vt = {
    .class_name = "Softmax",
    .base_name = "softmax",
    .fields = softmax_fields,
    .nfields = sizeof softmax_fields / sizeof softmax_fields[0],
    .build = softmax_build,
    .forward = softmax_forward,
    .backward = softmax_backward,
    .free_priv = free_priv,
    .rows_apart = ck_layer_rows_apart,
};
