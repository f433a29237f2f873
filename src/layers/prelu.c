/* PReLU (keras.layers.PReLU): y = x for x >= 0, alpha * x otherwise, with a learned alpha of
 * the per-sample input shape whose shared axes (Keras' 1-based axes, batch excluded) have size 1.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <stdio.h>
#include <string.h>

static const ck_field prelu_fields[] = {
    /* Keras 3.11 and tf.keras 2 both default to Zeros */
    {"alpha_initializer", CK_STR, "zeros", NULL, "alpha initializer"},
    {"alpha_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on alpha: \"l2\", \"L2(l2=0.01)\", ..."},
    {"alpha_constraint", CK_STR, NULL, NULL, "constraint on alpha after each update"},
    {"shared_axes", CK_INTS, NULL, NULL, "axes (1-based, batch excluded) sharing one alpha, or None"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape when first in a Sequential", CK_W_NEVER},
};

static ckeras_status prelu_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    if (in->ndim < 1)
        return ck_error(CKERAS_ESHAPE, "PReLU '%s': needs an input with at least one axis besides the batch",
                        l->name);
    ckeras_status st = ck_init_check(ck_cfg_str(&l->cfg, "alpha_initializer"));
    if (st != CKERAS_OK) {
        ck_error_prefix("PReLU '%s': alpha_initializer", l->name);
        return st;
    }
    ck_shape as = *in;
    const ck_value *sh = ck_cfg_value(&l->cfg, "shared_axes");
    for (int k = 0; !sh->is_none && k < sh->n; k++) {
        int64_t a = sh->v[k];
        if (a < 1 || a > in->ndim) {
            char buf[96];
            return ck_error(CKERAS_EINVAL, "PReLU '%s': shared_axes entry %lld is not an axis of input %s (1..%d)",
                            l->name, (long long)a, ck_shape_str(in, true, buf, sizeof buf), in->ndim);
        }
        as.d[a - 1] = 1;
    }
    if (!ck_layer_add_weight(l, "alpha", &as, true, "alpha_initializer", NULL))
        return CKERAS_ENOMEM;
    *out = *in;
    return CKERAS_OK;
}

/* Walks the per-sample elements in order: calls body(i, a) for element i with alpha index a.
 * Rows along the last axis are contiguous; the alpha index steps by 1 or 0 there. */
#define PRELU_WALK(l, body)                                                                             \
    do {                                                                                                \
        const ck_shape *s_ = &(l)->in_shape, *as_ = &(l)->w[0].shape;                                   \
        const int nd_ = s_->ndim;                                                                       \
        int64_t astr_[CKERAS_MAX_DIMS], idx_[CKERAS_MAX_DIMS] = {0};                                    \
        int64_t st_ = 1;                                                                                \
        for (int d_ = nd_ - 1; d_ >= 0; d_--) {                                                         \
            astr_[d_] = as_->d[d_] == 1 ? 0 : st_;                                                      \
            st_ *= as_->d[d_];                                                                          \
        }                                                                                               \
        const int64_t cols_ = s_->d[nd_ - 1], rows_ = ck_shape_size(s_) / cols_;                        \
        const int64_t ainc_ = astr_[nd_ - 1];                                                           \
        for (int64_t r_ = 0; r_ < rows_; r_++) {                                                        \
            int64_t a0_ = 0;                                                                            \
            for (int d_ = 0; d_ < nd_ - 1; d_++)                                                        \
                a0_ += idx_[d_] * astr_[d_];                                                            \
            for (int64_t c_ = 0; c_ < cols_; c_++) {                                                    \
                const int64_t i = r_ * cols_ + c_, a = a0_ + c_ * ainc_;                                \
                body;                                                                                   \
            }                                                                                           \
            for (int d_ = nd_ - 2; d_ >= 0 && ++idx_[d_] == s_->d[d_]; d_--)                            \
                idx_[d_] = 0;                                                                           \
        }                                                                                               \
    } while (0)

static void prelu_forward(ckeras_layer *l, const ck_fwd *f)
{
    const int64_t per = ck_shape_size(&l->in_shape);
    const float *alpha = l->w[0].data;
    for (int64_t s = 0; s < f->n; s++) {
        const float *x = f->x + s * per;
        float *y = f->y + s * per;
        PRELU_WALK(l, y[i] = x[i] >= 0.0f ? x[i] : alpha[a] * x[i]);
    }
}

static void prelu_backward(ckeras_layer *l, const ck_bwd *b)
{
    const int64_t per = ck_shape_size(&l->in_shape);
    const float *alpha = l->w[0].data;
    float *da = b->train_weights ? l->w[0].grad : NULL;
    if (da)
        memset(da, 0, (size_t)l->w[0].size * sizeof *da);
    for (int64_t s = 0; s < b->n; s++) {
        const float *x = b->x + s * per, *dy = b->dy + s * per;
        float *dx = b->dx ? b->dx + s * per : NULL;
        if (da && dx)
            PRELU_WALK(l, {
                const float g = dy[i];
                if (x[i] < 0.0f)
                    da[a] += g * x[i];
                dx[i] = x[i] >= 0.0f ? g : alpha[a] * g;
            });
        else if (da)
            PRELU_WALK(l, if (x[i] < 0.0f) da[a] += dy[i] * x[i]);
        else if (dx)
            PRELU_WALK(l, dx[i] = x[i] >= 0.0f ? dy[i] : alpha[a] * dy[i]);
    }
}

const ck_layer_vt ck_prelu_vt = {
    .class_name = "PReLU",
    .base_name = "p_re_lu",
    .fields = prelu_fields,
    .nfields = sizeof prelu_fields / sizeof prelu_fields[0],
    .build = prelu_build,
    .forward = prelu_forward,
    .backward = prelu_backward,
    .mask_mode = ck_mask_pass,
};
