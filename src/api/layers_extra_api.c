/* Typed constructors of the depthwise, separable and transposed convolution layers (the other layers' are
 * in model_api.c): argument checks, then the layer's Keras config. */
#include "layers/layers.h"
#include "kernels/kernels.h"

/* A new layer of class cls with kernel_size (kh, kw), activation (NULL: linear) and one more int
 * setting (NULL: none); NULL with the error set if the activation is unknown or a setting fails. */
static ckeras_layer *make(const char *cls, int64_t kh, int64_t kw, const char *activation, const char *int_name,
                          int64_t int_value)
{
    ck_act probe;
    if (ck_act_parse(activation, &probe) != CKERAS_OK) {
        ck_error_prefix("%s", cls);
        return NULL;
    }
    const ck_layer_vt *vt = ck_layer_lookup(cls);
    if (!vt) {
        ck_error(CKERAS_EUNSUPPORTED, "%s is not available in this build", cls);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new(vt);
    if (!l) {
        ck_error(CKERAS_ENOMEM, "%s: out of memory", cls);
        return NULL;
    }
    ckeras_status st = ck_config_set_ints(&l->cfg, cls, "kernel_size", 2, (const int64_t[]){kh, kw});
    if (st == CKERAS_OK && int_name)
        st = ck_config_set_int(&l->cfg, cls, int_name, int_value);
    if (st == CKERAS_OK && activation)
        st = ck_config_set_str(&l->cfg, cls, "activation", activation);
    if (st != CKERAS_OK) {
        ck_layer_free(l);
        return NULL;
    }
    return l;
}

CKERAS_API ckeras_layer *ckeras_depthwise_conv2d(int64_t kh, int64_t kw, int64_t depth_multiplier,
                                                 const char *activation)
{
    if (kh <= 0 || kw <= 0 || depth_multiplier <= 0) {
        ck_error(CKERAS_EINVAL, "depthwise_conv2d: kernel size and depth_multiplier must be > 0, got (%lld, %lld), "
                 "%lld", (long long)kh, (long long)kw, (long long)depth_multiplier);
        return NULL;
    }
    return make("DepthwiseConv2D", kh, kw, activation, "depth_multiplier", depth_multiplier);
}

CKERAS_API ckeras_layer *ckeras_separable_conv2d(int64_t filters, int64_t kh, int64_t kw, const char *activation)
{
    if (filters <= 0 || kh <= 0 || kw <= 0) {
        ck_error(CKERAS_EINVAL, "separable_conv2d: filters and kernel size must be > 0, got %lld, (%lld, %lld)",
                 (long long)filters, (long long)kh, (long long)kw);
        return NULL;
    }
    return make("SeparableConv2D", kh, kw, activation, "filters", filters);
}

CKERAS_API ckeras_layer *ckeras_conv2d_transpose(int64_t filters, int64_t kh, int64_t kw, const char *activation)
{
    if (filters <= 0 || kh <= 0 || kw <= 0) {
        ck_error(CKERAS_EINVAL, "conv2d_transpose: filters and kernel size must be > 0, got %lld, (%lld, %lld)",
                 (long long)filters, (long long)kh, (long long)kw);
        return NULL;
    }
    return make("Conv2DTranspose", kh, kw, activation, "filters", filters);
}
