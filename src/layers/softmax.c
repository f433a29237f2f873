/* Softmax as a layer (keras.layers.Softmax): softmax along one axis, the last one here.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

static const ck_field softmax_fields[] = {
    {"axis", CK_INT, "-1", NULL, "axis of the normalisation (Keras counts the batch as axis 0); the last only"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

static const ck_act softmax_act = {.kind = CK_ACT_SOFTMAX};

static ckeras_status softmax_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1 || in->d[in->ndim - 1] <= 0)
        return ck_error(CKERAS_ESHAPE, "Softmax '%s': needs an input with a last axis, got rank %d", l->name,
                        in->ndim);
    const ck_value *ax = ck_cfg_value(&l->cfg, "axis");
    /* with the batch, the input has in->ndim + 1 axes; the last is -1 or in->ndim */
    if (ax->is_none || (ax->i != -1 && ax->i != in->ndim))
        return ck_error(CKERAS_EUNSUPPORTED, "Softmax '%s': axis %lld is not supported yet (only the last axis, -1 or %d)",
                        l->name, ax->is_none ? 0LL : (long long)ax->i, in->ndim);
    *out = *in;
    return CKERAS_OK;
}

static void softmax_forward(ckeras_layer *l, const ck_fwd *f)
{
    int64_t cols = l->in_shape.d[l->in_shape.ndim - 1];
    ck_act_forward(&softmax_act, f->x, f->y, f->n * ck_shape_size(&l->in_shape) / cols, cols);
}

static void softmax_backward(ckeras_layer *l, const ck_bwd *b)
{
    if (!b->dx)
        return;
    int64_t cols = l->in_shape.d[l->in_shape.ndim - 1];
    ck_act_backward(&softmax_act, b->x, b->y, b->dy, b->dx, b->n * ck_shape_size(&l->in_shape) / cols, cols);
}

const ck_layer_vt ck_softmax_vt = {
    .class_name = "Softmax",
    .base_name = "softmax",
    .fields = softmax_fields,
    .nfields = sizeof softmax_fields / sizeof softmax_fields[0],
    .build = softmax_build,
    .forward = softmax_forward,
    .backward = softmax_backward,
};
