/* Embedding: y[..., :] = embeddings[x[...]], embeddings (input_dim, output_dim). Inputs are
 * float-coded integer indices (truncated as Keras' cast to int32 does). An index outside
 * [0, input_dim) gives a row of zeros: a forward has no way to report an error, and clamping
 * would silently read another word's vector. The backward scatters dy into the rows that were
 * read; indices have no gradient (dx is 0). mask_zero=True makes Keras' mask: index 0 is a
 * masked step (padding) for the layers that follow (recurrent layers skip it).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <string.h>

static const ck_field embedding_fields[] = {
    {"input_dim", CK_INT, NULL, "(0,)", "vocabulary size (largest index + 1)"},
    {"output_dim", CK_INT, NULL, "(0,)", "size of each vector"},
    {"embeddings_initializer", CK_STR, "random_uniform", NULL, "initializer (Keras' \"uniform\": [-0.05, 0.05])"},
    {"embeddings_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the embeddings"},
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},
    {"embeddings_constraint", CK_STR, NULL, NULL, "constraint on embeddings after each update"},
    {"mask_zero", CK_BOOL, "false", NULL, "index 0 is padding: its steps are masked for the layers after"},
    {"input_length", CK_INT, NULL, NULL, "sequence length (Keras 2); must match the input shape when set"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

static ckeras_status embedding_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *v = ck_cfg_value(&l->cfg, "input_dim"), *d = ck_cfg_value(&l->cfg, "output_dim");
    if (v->is_none || v->i <= 0 || d->is_none || d->i <= 0)
        return ck_error(CKERAS_EINVAL, "Embedding '%s': input_dim and output_dim must be positive, got %lld and %lld",
                        l->name, v->is_none ? 0LL : (long long)v->i, d->is_none ? 0LL : (long long)d->i);
    if (in->ndim < 1 || in->ndim >= CKERAS_MAX_DIMS)
        return ck_error(CKERAS_ESHAPE, "Embedding '%s': needs an input of indices (batch, ...), got rank %d", l->name,
                        in->ndim + 1);
    const ck_value *len = ck_cfg_value(&l->cfg, "input_length");
    if (!len->is_none && in->ndim == 1 && len->i != in->d[0])
        return ck_error(CKERAS_ESHAPE, "Embedding '%s': input_length is %lld but the input has %lld steps", l->name,
                        (long long)len->i, (long long)in->d[0]);
    ckeras_status st = ck_init_check(ck_cfg_str(&l->cfg, "embeddings_initializer"));
    if (st != CKERAS_OK) {
        ck_error_prefix("Embedding '%s'", l->name);
        return st;
    }
    *out = *in;
    out->d[out->ndim++] = d->i;
    ck_shape es = {2, {v->i, d->i}};
    ck_layer_add_weight(l, "embeddings", &es, true, "embeddings_initializer", NULL);
    return CKERAS_OK;
}

static void embedding_forward(ckeras_layer *l, const ck_fwd *f)
{
    const ck_weight *e = &l->w[0];
    int64_t count = f->n * ck_shape_size(&l->in_shape);
    ck_embedding_forward(f->x, count, e->data, e->shape.d[0], e->shape.d[1], f->y);
    if (f->mask_out) /* Keras: not_equal(int(x), 0); int(x) is 0 for x in (-1, 1) */
        for (int64_t i = 0; i < count; i++)
            f->mask_out[i] = f->x[i] > -1.0f && f->x[i] < 1.0f ? 0.0f : 1.0f;
}

static ck_mask_mode embedding_mask_mode(const ckeras_layer *l)
{
    return ck_cfg_bool(&l->cfg, "mask_zero") ? CK_MASK_MAKE : CK_MASK_DROP;
}

static void embedding_backward(ckeras_layer *l, const ck_bwd *b)
{
    const ck_weight *e = &l->w[0];
    int64_t count = b->n * ck_shape_size(&l->in_shape);
    if (b->train_weights && e->grad)
        ck_embedding_backward(b->x, count, b->dy, e->shape.d[0], e->shape.d[1], e->grad);
    if (b->dx)
        memset(b->dx, 0, (size_t)count * sizeof(float));
}

/* A sample reads its in_size rows of the input_dim: in_size / input_dim uses of each weight. */
static double embedding_weight_uses(const ckeras_layer *l)
{
    return (double)ck_shape_size(&l->in_shape) / (double)l->w[0].shape.d[0];
}

const ck_layer_vt ck_embedding_vt = {
    .class_name = "Embedding",
    .base_name = "embedding",
    .fields = embedding_fields,
    .nfields = sizeof embedding_fields / sizeof embedding_fields[0],
    .build = embedding_build,
    .forward = embedding_forward,
    .backward = embedding_backward,
    .mask_mode = embedding_mask_mode,
    .rows_apart = ck_layer_rows_apart,
    .weight_uses = embedding_weight_uses,
};
