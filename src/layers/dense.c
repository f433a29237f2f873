/* Dense: y = activation(x W + b) on the last axis; kernel W is (in, units) as Keras stores it.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "optimizers/optimizers.h"
#include "kernels/kernels.h"

#include <string.h>

static const ck_field dense_fields[] = {
    {"units", CK_INT, NULL, "(0,)", "dimensionality of the output"},
    {"activation", CK_STR, "linear", NULL, "activation function"},
    {"use_bias", CK_BOOL, "true", NULL, "whether to add a bias"},
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "kernel initializer"},
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel: \"l2\", \"L2(l2=0.01)\", ..."},
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

typedef struct dense_priv {
    ck_act act;
    int64_t in, units;
} dense_priv;

static void dense_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status dense_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const ck_value *u = ck_cfg_value(&l->cfg, "units");
    if (u->is_none || u->i <= 0)
        return ck_error(CKERAS_EINVAL, "Dense '%s': units must be a positive integer, got %lld", l->name,
                        u->is_none ? 0LL : (long long)u->i);
    if (in->ndim < 1 || in->d[in->ndim - 1] <= 0)
        return ck_error(CKERAS_ESHAPE, "Dense '%s': needs an input with a last axis, got rank %d", l->name,
                        in->ndim);
    dense_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    ckeras_status st = ck_act_parse(ck_cfg_str(&l->cfg, "activation"), &p->act);
    if (st != CKERAS_OK) {
        ck_error_prefix("Dense '%s'", l->name);
        return st;
    }
    if (l->keras2 && p->act.kind == CK_ACT_HARD_SIGMOID)
        p->act.kind = CK_ACT_HARD_SIGMOID_K2;
    if ((st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("Dense '%s'", l->name);
        return st;
    }
    p->in = in->d[in->ndim - 1];
    p->units = u->i;
    *out = *in;
    out->d[out->ndim - 1] = p->units;
    ck_shape ks = {2, {p->in, p->units}};
    ck_layer_add_weight(l, "kernel", &ks, true, "kernel_initializer", NULL);
    if (ck_cfg_bool(&l->cfg, "use_bias")) {
        ck_shape bs = {1, {p->units}};
        ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL);
    }
    return CKERAS_OK;
}

static int64_t rows_of(const ckeras_layer *l, int64_t n)
{
    return n * (ck_shape_size(&l->in_shape) / l->in_shape.d[l->in_shape.ndim - 1]);
}

/* saved: the pre-activation z (rows, units) when the activation's backward needs it */
static int64_t dense_saved(const ckeras_layer *l, int64_t n)
{
    const dense_priv *p = l->priv;
    if (p->act.kind == CK_ACT_LINEAR || !ck_act_backward_needs_x(&p->act))
        return 0;
    return rows_of(l, n) * p->units;
}

static void dense_forward(ckeras_layer *l, const ck_fwd *f)
{
    const dense_priv *p = l->priv;
    int64_t rows = rows_of(l, f->n);
    /* y (rows, units) = x (rows, in) . W (in, units) [+ b] */
    ck_gemm(false, false, rows, p->units, p->in, 1.0f, f->x, p->in, l->w[0].data, p->units, 0.0f, f->y, p->units);
    const float *bias = l->nw > 1 ? l->w[1].data : NULL;
    /* bias and activation in one pass when the backward needs no pre-activation copy */
    if (!(f->saved && f->training) && ck_bias_act_forward(&p->act, f->y, bias, rows, p->units))
        return;
    if (bias)
        ck_add_bias(f->y, bias, rows, p->units);
    if (p->act.kind != CK_ACT_LINEAR) {
        if (f->saved && f->training && ck_act_backward_needs_x(&p->act))
            memcpy(f->saved, f->y, (size_t)(rows * p->units) * sizeof(float));
        ck_act_forward(&p->act, f->y, f->y, rows, p->units);
    }
}

static void dense_backward(ckeras_layer *l, const ck_bwd *b)
{
    const dense_priv *p = l->priv;
    int64_t rows = rows_of(l, b->n);
    float *dz = b->dy; /* dz (rows, units) = dy * act'(z), in place */
    bool train = b->train_weights && l->w[0].grad;
    float *db = train && l->nw > 1 ? l->w[1].grad : NULL; /* (units) */
    /* activation backward and bias gradient in one pass when the activation allows it */
    bool fused = ck_act_backward_bias_grad(&p->act, b->y, dz, db, rows, p->units);
    if (!fused && p->act.kind != CK_ACT_LINEAR)
        ck_act_backward(&p->act, b->saved, b->y, b->dy, dz, rows, p->units);
    if (train && db && !fused)
        ck_bias_grad(dz, db, rows, p->units);
    /* The optimizer may let the kernel's update run inside its gradient's product (no
     * regularizer adds to that gradient afterwards): dx, which reads the kernel, comes first. */
    ck_weight *k = &l->w[0];
    ck_adam_fuse u;
    const bool fuse = train && b->fuse && k->l1 == 0.0f && k->l2 == 0.0f &&
                      ck_opt_fuse_claim(b->fuse, k->data, k->grad, (size_t)k->size, &u);
    if (b->dx) /* dx (rows, in) = dz (rows, units) . W^T (units, in) */
        ck_gemm(false, true, rows, p->in, p->units, 1.0f, dz, p->units, k->data, p->units, 0.0f, b->dx, p->in);
    if (!train)
        return;
    /* dW (in, units) = x^T (in, rows) . dz (rows, units) */
    if (fuse && ck_gemm_tn_adam(p->in, p->units, rows, b->x, p->in, dz, p->units, k->grad, p->units, &u))
        ck_opt_fuse_done(b->fuse, k->data, (size_t)k->size);
    else
        ck_gemm(true, false, p->in, p->units, rows, 1.0f, b->x, p->in, dz, p->units, 0.0f, k->grad, p->units);
}

const ck_layer_vt ck_dense_vt = {
    .class_name = "Dense",
    .base_name = "dense",
    .fields = dense_fields,
    .nfields = sizeof dense_fields / sizeof dense_fields[0],
    .build = dense_build,
    .saved_floats = dense_saved,
    .forward = dense_forward,
    .backward = dense_backward,
    .free_priv = dense_free,
    .mask_mode = ck_mask_pass,
    .rows_apart = ck_layer_rows_apart,
};
