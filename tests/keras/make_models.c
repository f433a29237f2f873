/* Keras conformance models: for every layer class ckeras can construct, a small model that uses
 * it with its Keras config keys at non-default values, built from a fixed seed, trained one step
 * (so optimizer state and moving statistics are not at their initial values), saved as Keras
 * .h5, with its fixed inputs and ckeras' own predictions beside it.
 *
 *   make_models [--keras3] [--out DIR] [NAME ...]
 *
 * writes into DIR (default tests/keras/fixtures):
 *   <name>.h5            ckeras_model_save(m, path, flags): flags 0 (optimizer state kept) for
 *                        a few models, CKERAS_SAVE_NO_OPTIMIZER for the rest (see with_optimizer)
 *   <name>.inputs.npy    the inputs (batch 3)
 *   <name>.ckeras.npy    ckeras' predictions on them (for the oracle's comparison only; the unit
 *                        test never reads them)
 *   MODELS.tsv           name, layer class, form, status, message: one line per file attempted
 * and with --keras3 also <name>.k3.h5 (the Keras 3 profile flag CKERAS_SAVE_KERAS3, when the
 * header has it) and <name>.keras (the native zip format, when ckeras writes one).
 * Only the public header is used. Exit status 0 when every model of the default form was written.
 */
#include <ckeras.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../api_ids.h"

#define BATCH 3

/* ---- building with first-error recording --------------------------------------------------- */

static char g_err[1024];

static void fail(const char *what)
{
    if (!g_err[0])
        snprintf(g_err, sizeof g_err, "%s: %s", what, ckeras_last_error());
}

static ckeras_layer *need(ckeras_layer *l, const char *what)
{
    if (!l)
        fail(what);
    return l;
}

static void set_s(ckeras_layer *l, const char *k, const char *v)
{
    if (l && ckeras_layer_set_str(l, k, v) != CKERAS_OK)
        fail(k);
}

static void set_i(ckeras_layer *l, const char *k, int64_t v)
{
    if (l && ckeras_layer_set_int(l, k, v) != CKERAS_OK)
        fail(k);
}

static void set_f(ckeras_layer *l, const char *k, double v)
{
    if (l && ckeras_layer_set_float(l, k, v) != CKERAS_OK)
        fail(k);
}

static void set_b(ckeras_layer *l, const char *k, int v)
{
    if (l && ckeras_layer_set_bool(l, k, v) != CKERAS_OK)
        fail(k);
}

static void set_v(ckeras_layer *l, const char *k, int n, ...)
{
    int64_t v[8];
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n && i < 8; i++)
        v[i] = va_arg(ap, int);
    va_end(ap);
    if (l && ckeras_layer_set_ints(l, k, n, v) != CKERAS_OK)
        fail(k);
}

static ckeras_layer *cfg(const char *cls, const char *json)
{
    return need(ckeras_layer_from_config(cls, json), cls);
}

/* Sequential model with an Input of the given per-sample shape. */
static ckeras_model *seq(int ndim, const int64_t *shape)
{
    ckeras_model *m = ckeras_sequential(NULL);
    if (!m || ckeras_model_add(m, ckeras_input(ndim, shape)) != CKERAS_OK)
        fail("Sequential");
    return m;
}

static void add(ckeras_model *m, ckeras_layer *l)
{
    if (!m) {
        ckeras_layer_free(l);
        return;
    }
    if (!l) {
        fail("layer");
        return;
    }
    if (ckeras_model_add(m, l) != CKERAS_OK)
        fail("add");
}

static int call(ckeras_model *m, ckeras_layer *l, int n, const int *ins)
{
    int id = id_call(m, l, n, ins);
    if (id < 0)
        fail("call");
    return id;
}

static void outputs(ckeras_model *m, int y)
{
    if (ckeras_model_set_outputs(m, 1, &y) != CKERAS_OK)
        fail("set_outputs");
}

/* ---- the models ------------------------------------------------------------------------------ */

typedef struct spec {
    const char *name;   /* fixture name */
    const char *cls;    /* layer class under test */
    int ndim;
    int64_t shape[4];   /* per-sample input shape */
    int vocab;          /* > 0: integer inputs in [0, vocab) (Embedding) */
    ckeras_model *(*build)(const struct spec *s);
} spec;

static ckeras_model *m_dense(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *d = need(ckeras_dense(4, "tanh"), "Dense");
    set_s(d, "kernel_initializer", "he_normal");
    set_s(d, "bias_initializer", "random_normal");
    set_s(d, "kernel_regularizer", "L2(l2=0.02)");
    set_s(d, "bias_regularizer", "l1");
    add(m, d);
    d = need(ckeras_dense(3, "softmax"), "Dense");
    set_b(d, "use_bias", 0);
    set_s(d, "kernel_initializer", "lecun_uniform");
    add(m, d);
    return m;
}

static ckeras_model *m_activation(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(6, NULL));
    add(m, need(ckeras_activation("selu"), "Activation"));
    add(m, ckeras_dense(6, NULL));
    add(m, need(ckeras_activation("hard_sigmoid"), "Activation"));
    add(m, ckeras_dense(6, NULL));
    add(m, need(ckeras_activation("gelu"), "Activation"));
    return m;
}

static ckeras_model *m_dropout(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(5, "relu"));
    ckeras_layer *d = need(ckeras_dropout(0.3), "Dropout");
    set_i(d, "seed", 7);
    add(m, d);
    add(m, ckeras_dense(2, NULL));
    return m;
}

static ckeras_model *m_flatten(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, need(ckeras_flatten(), "Flatten"));
    add(m, ckeras_dense(3, NULL));
    return m;
}

/* Input (5,) -> k Dense(4) branches -> the merge layer. */
static ckeras_model *merge_model(const spec *s, ckeras_layer *merge, int k)
{
    ckeras_model *m = ckeras_functional(NULL);
    int x = id_input(m, ckeras_input(s->ndim, s->shape));
    int br[3];
    for (int i = 0; i < k; i++)
        br[i] = call(m, ckeras_dense(4, i == 2 ? "sigmoid" : NULL), 1, &x);
    if (!merge)
        fail(s->cls);
    int y = call(m, merge, k, br);
    outputs(m, y);
    return m;
}

static ckeras_model *m_add(const spec *s) { return merge_model(s, ckeras_add(), 3); }
static ckeras_model *m_subtract(const spec *s) { return merge_model(s, ckeras_subtract(), 2); }
static ckeras_model *m_multiply(const spec *s) { return merge_model(s, ckeras_multiply(), 3); }
static ckeras_model *m_average(const spec *s) { return merge_model(s, ckeras_average(), 3); }
static ckeras_model *m_maximum(const spec *s) { return merge_model(s, cfg("Maximum", "{}"), 3); }
static ckeras_model *m_minimum(const spec *s) { return merge_model(s, cfg("Minimum", "{}"), 3); }

static ckeras_model *m_concatenate(const spec *s)
{
    /* (2, 3) inputs, two Dense(3) branches, joined on axis 1 (not the default -1): (4, 3) */
    ckeras_model *m = ckeras_functional(NULL);
    int x = id_input(m, ckeras_input(s->ndim, s->shape));
    int a = call(m, ckeras_dense(3, NULL), 1, &x);
    int b = call(m, ckeras_dense(3, "relu"), 1, &x);
    int y = call(m, need(ckeras_concatenate(1), "Concatenate"), 2, (const int[]){a, b});
    outputs(m, y);
    return m;
}

static ckeras_model *m_batchnorm(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(4, NULL));
    ckeras_layer *b = need(ckeras_batch_normalization(), "BatchNormalization");
    set_f(b, "momentum", 0.9);
    set_f(b, "epsilon", 0.01);
    set_b(b, "center", 0);
    set_s(b, "gamma_initializer", "random_normal");
    set_s(b, "moving_mean_initializer", "random_normal");
    set_s(b, "gamma_regularizer", "l2");
    add(m, b);
    b = need(ckeras_batch_normalization(), "BatchNormalization");
    set_b(b, "scale", 0);
    set_s(b, "beta_initializer", "random_uniform");
    set_s(b, "moving_variance_initializer", "constant");
    add(m, b);
    return m;
}

static ckeras_model *m_layernorm(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *l = need(ckeras_layer_normalization(), "LayerNormalization");
    set_f(l, "epsilon", 0.01);
    set_b(l, "center", 0);
    set_s(l, "gamma_initializer", "random_normal");
    add(m, l);
    l = need(ckeras_layer_normalization(), "LayerNormalization");
    set_b(l, "scale", 0);
    set_s(l, "beta_initializer", "random_normal");
    add(m, l);
    return m;
}

/* Normalised over two axes: Keras 3's legacy .h5 loader drops an axis list of more than one
 * entry (legacy/saving/saving_utils.py), so Keras itself cannot load this one from .h5. */
static ckeras_model *m_layernorm_axes(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *l = need(ckeras_layer_normalization(), "LayerNormalization");
    set_v(l, "axis", 2, -2, -1);
    set_s(l, "gamma_initializer", "random_normal");
    add(m, l);
    return m;
}

static ckeras_model *m_reshape(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, need(ckeras_reshape(2, (const int64_t[]){3, -1}), "Reshape"));
    add(m, ckeras_dense(2, NULL));
    return m;
}

static ckeras_model *m_permute(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, cfg("Permute", "{\"dims\": [3, 1, 2]}"));
    add(m, ckeras_dense(2, NULL));
    return m;
}

static ckeras_model *m_zeropad(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *z = need(ckeras_zero_padding2d(1, 1), "ZeroPadding2D");
    set_v(z, "padding", 4, 1, 2, 0, 1);
    add(m, z);
    return m;
}

static ckeras_model *m_cropping(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *c = cfg("Cropping2D", "{}");
    set_v(c, "cropping", 4, 1, 0, 2, 1);
    add(m, c);
    return m;
}

static ckeras_model *m_upsampling(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *u = need(ckeras_upsampling2d(2, 3), "UpSampling2D");
    set_s(u, "interpolation", "bilinear");
    add(m, u);
    add(m, need(ckeras_upsampling2d(1, 2), "UpSampling2D"));
    return m;
}

static ckeras_model *m_spatial_dropout(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_conv2d(3, 2, 2, NULL));
    ckeras_layer *d = need(ckeras_spatial_dropout2d(0.4), "SpatialDropout2D");
    set_i(d, "seed", 3);
    add(m, d);
    return m;
}

static ckeras_model *m_relu(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(6, NULL));
    ckeras_layer *r = cfg("ReLU", "{}");
    set_f(r, "max_value", 0.5);
    set_f(r, "negative_slope", 0.1);
    set_f(r, "threshold", 0.2);
    add(m, r);
    return m;
}

static ckeras_model *m_leaky_relu(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(6, NULL));
    ckeras_layer *r = cfg("LeakyReLU", "{}");
    set_f(r, "negative_slope", 0.05);
    add(m, r);
    return m;
}

static ckeras_model *m_prelu(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(3, NULL));
    ckeras_layer *p = cfg("PReLU", "{\"shared_axes\": [1]}");
    set_s(p, "alpha_initializer", "random_normal");
    set_s(p, "alpha_regularizer", "l2");
    add(m, p);
    add(m, cfg("PReLU", "{\"alpha_initializer\": \"constant(value=0.25)\"}"));
    return m;
}

static ckeras_model *m_softmax(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_dense(5, NULL));
    ckeras_layer *p = cfg("Softmax", "{}");
    set_i(p, "axis", 2); /* the last axis by its positive number */
    add(m, p);
    return m;
}

static ckeras_model *m_rescaling(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, need(ckeras_rescaling(0.5, -0.25), "Rescaling"));
    add(m, ckeras_dense(2, NULL));
    return m;
}

static ckeras_model *m_conv2d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *c = need(ckeras_conv2d(3, 3, 2, "relu"), "Conv2D");
    set_v(c, "strides", 2, 2, 1);
    set_s(c, "padding", "same");
    set_s(c, "bias_initializer", "random_normal");
    set_s(c, "kernel_regularizer", "l1_l2");
    add(m, c);
    c = need(ckeras_conv2d(2, 2, 2, NULL), "Conv2D");
    set_v(c, "dilation_rate", 2, 2, 1);
    set_b(c, "use_bias", 0);
    set_s(c, "kernel_initializer", "he_uniform");
    add(m, c);
    return m;
}

/* Placements on which Keras' backends agree: 'same' with k - s even, 'valid' with output_padding. */
static ckeras_model *m_conv2d_transpose(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *c = need(ckeras_conv2d_transpose(3, 4, 2, "relu"), "Conv2DTranspose");
    set_v(c, "strides", 2, 2, 2);
    set_s(c, "padding", "same");
    set_s(c, "bias_initializer", "random_normal");
    set_s(c, "kernel_regularizer", "l1_l2");
    add(m, c);
    c = cfg("Conv2DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"strides\": [2, 1], "
            "\"output_padding\": [1, 0]}");
    set_b(c, "use_bias", 0);
    set_s(c, "kernel_initializer", "he_uniform");
    add(m, c);
    return m;
}

static ckeras_model *m_conv1d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *c = need(ckeras_conv1d(3, 3, "tanh"), "Conv1D");
    set_s(c, "padding", "causal");
    set_v(c, "dilation_rate", 1, 2);
    set_s(c, "bias_initializer", "random_normal");
    add(m, c);
    c = need(ckeras_conv1d(2, 2, NULL), "Conv1D");
    set_v(c, "strides", 1, 2);
    set_s(c, "padding", "same");
    set_b(c, "use_bias", 0);
    add(m, c);
    return m;
}

static ckeras_model *m_maxpool2d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *p = need(ckeras_max_pooling2d(3, 2), "MaxPooling2D");
    set_v(p, "strides", 2, 1, 2);
    set_s(p, "padding", "same");
    add(m, p);
    return m;
}

static ckeras_model *m_avgpool2d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *p = need(ckeras_average_pooling2d(2, 3), "AveragePooling2D");
    set_v(p, "strides", 2, 2, 1);
    add(m, p);
    return m;
}

static ckeras_model *m_avgpool2d_same(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *p = need(ckeras_average_pooling2d(2, 3), "AveragePooling2D");
    set_v(p, "strides", 2, 2, 1);
    set_s(p, "padding", "same");
    add(m, p);
    return m;
}

static ckeras_model *m_maxpool1d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *p = need(ckeras_max_pooling1d(3), "MaxPooling1D");
    set_v(p, "strides", 1, 1);
    set_s(p, "padding", "same");
    add(m, p);
    return m;
}

static ckeras_model *m_avgpool1d(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *p = cfg("AveragePooling1D", "{}");
    set_v(p, "pool_size", 1, 3);
    set_v(p, "strides", 1, 2);
    add(m, p);
    return m;
}

static ckeras_model *global_model(const spec *s, ckeras_layer *g)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    set_b(g, "keepdims", 1);
    add(m, g);
    return m;
}

static ckeras_model *m_gap2d(const spec *s) { return global_model(s, need(ckeras_global_average_pooling2d(), "GAP2D")); }
static ckeras_model *m_gmp2d(const spec *s) { return global_model(s, need(ckeras_global_max_pooling2d(), "GMP2D")); }
static ckeras_model *m_gap1d(const spec *s) { return global_model(s, cfg("GlobalAveragePooling1D", "{}")); }
static ckeras_model *m_gmp1d(const spec *s) { return global_model(s, cfg("GlobalMaxPooling1D", "{}")); }

static ckeras_model *m_depthwise(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *d = need(ckeras_depthwise_conv2d(2, 3, 2, "relu6"), "DepthwiseConv2D");
    set_v(d, "strides", 2, 1, 2);
    set_s(d, "padding", "same");
    set_s(d, "depthwise_initializer", "he_normal");
    set_s(d, "bias_initializer", "random_normal");
    add(m, d);
    d = need(ckeras_depthwise_conv2d(2, 2, 1, NULL), "DepthwiseConv2D");
    set_v(d, "dilation_rate", 2, 1, 1);
    set_b(d, "use_bias", 0);
    add(m, d);
    return m;
}

static ckeras_model *m_separable(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *d = need(ckeras_separable_conv2d(4, 3, 3, "tanh"), "SeparableConv2D");
    set_i(d, "depth_multiplier", 2);
    set_v(d, "strides", 2, 2, 2);
    set_s(d, "padding", "same");
    set_s(d, "pointwise_initializer", "he_uniform");
    set_s(d, "bias_initializer", "random_normal");
    add(m, d);
    return m;
}

static ckeras_model *m_resizing(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *r = need(ckeras_resizing(6, 4), "Resizing");
    set_b(r, "crop_to_aspect_ratio", 1);
    add(m, r);
    r = need(ckeras_resizing(3, 5), "Resizing");
    set_s(r, "interpolation", "nearest");
    add(m, r);
    return m;
}

static ckeras_model *m_center_crop(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, need(ckeras_center_crop(3, 2), "CenterCrop"));
    return m;
}

/* Random augmentation layers are the identity in predict; each sits between two Conv2D so the
 * model still computes something. */
static ckeras_model *augment_model(const spec *s, ckeras_layer *aug)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, ckeras_conv2d(2, 2, 2, NULL));
    set_i(aug, "seed", 11);
    add(m, aug);
    add(m, ckeras_conv2d(2, 2, 2, NULL));
    return m;
}

static ckeras_model *m_random_flip(const spec *s)
{
    return augment_model(s, need(ckeras_random_flip("horizontal"), "RandomFlip"));
}

static ckeras_model *m_random_rotation(const spec *s)
{
    ckeras_layer *r = need(ckeras_random_rotation(0.1), "RandomRotation");
    set_s(r, "fill_mode", "constant");
    set_s(r, "interpolation", "nearest");
    set_f(r, "fill_value", 0.5);
    return augment_model(s, r);
}

static ckeras_model *m_random_zoom(const spec *s)
{
    ckeras_layer *r = need(ckeras_random_zoom(0.2, 0.1), "RandomZoom");
    set_s(r, "fill_mode", "wrap");
    set_s(r, "interpolation", "nearest");
    return augment_model(s, r);
}

static ckeras_model *m_random_translation(const spec *s)
{
    ckeras_layer *r = need(ckeras_random_translation(0.1, 0.2), "RandomTranslation");
    set_s(r, "fill_mode", "nearest");
    return augment_model(s, r);
}

static ckeras_model *m_random_contrast(const spec *s)
{
    return augment_model(s, need(ckeras_random_contrast(0.3), "RandomContrast"));
}

static ckeras_model *m_simple_rnn(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *r = need(ckeras_simple_rnn(4, 1), "SimpleRNN");
    set_s(r, "activation", "relu");
    set_b(r, "go_backwards", 1);
    set_s(r, "recurrent_initializer", "glorot_uniform");
    set_s(r, "bias_initializer", "random_normal");
    add(m, r);
    return m;
}

static ckeras_model *m_lstm(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *r = need(ckeras_lstm(3, 0), "LSTM");
    set_s(r, "recurrent_activation", "hard_sigmoid");
    set_b(r, "unit_forget_bias", 0);
    set_b(r, "go_backwards", 1);
    set_s(r, "bias_initializer", "random_normal");
    set_s(r, "kernel_regularizer", "l2");
    add(m, r);
    return m;
}

static ckeras_model *m_gru(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *r = need(ckeras_gru(3, 1), "GRU");
    set_b(r, "reset_after", 0);
    set_s(r, "activation", "softsign");
    set_s(r, "bias_initializer", "random_normal");
    add(m, r);
    r = need(ckeras_gru(2, 0), "GRU");
    set_b(r, "go_backwards", 1);
    set_s(r, "recurrent_activation", "hard_sigmoid");
    set_s(r, "bias_initializer", "random_normal");
    add(m, r);
    return m;
}

static ckeras_model *m_bidirectional(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *r = need(ckeras_lstm(3, 1), "LSTM");
    set_s(r, "bias_initializer", "random_normal");
    add(m, need(ckeras_bidirectional(r, "sum"), "Bidirectional"));
    r = need(ckeras_gru(2, 0), "GRU");
    set_s(r, "bias_initializer", "random_normal");
    add(m, need(ckeras_bidirectional(r, "ave"), "Bidirectional"));
    return m;
}

/* TimeDistributed around Conv2D, Flatten and Dense: each frame of (T, H, W, C) on its own. */
static ckeras_model *m_time_distributed(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    add(m, need(ckeras_layer_from_config(
                    "TimeDistributed",
                    "{\"layer\": {\"class_name\": \"Conv2D\", \"config\": {\"filters\": 2, \"kernel_size\": [2, 2], "
                    "\"padding\": \"same\", \"activation\": \"relu\", \"kernel_initializer\": \"he_normal\", "
                    "\"bias_initializer\": \"random_normal\"}}}"),
                "TimeDistributed(Conv2D)"));
    add(m, need(ckeras_layer_from_config("TimeDistributed",
                                         "{\"layer\": {\"class_name\": \"Flatten\", \"config\": {}}}"),
                "TimeDistributed(Flatten)"));
    add(m, need(ckeras_layer_from_config(
                    "TimeDistributed",
                    "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 3, \"use_bias\": true, "
                    "\"bias_initializer\": \"random_uniform\"}}}"),
                "TimeDistributed(Dense)"));
    return m;
}

/* A frozen Sequential base (Conv2D, BatchNormalization, Conv2D) called with training=False in a
 * functional model: Keras' transfer-learning form, saved as a nested model. */
static ckeras_model *m_nested_frozen_base(const spec *s)
{
    ckeras_model *base = seq(s->ndim, s->shape);
    add(base, ckeras_conv2d(3, 2, 2, "relu"));
    ckeras_layer *bn = need(ckeras_batch_normalization(), "BatchNormalization");
    set_s(bn, "moving_variance_initializer", "random_uniform(minval=0.5,maxval=1.5)");
    set_s(bn, "moving_mean_initializer", "random_normal");
    add(base, bn);
    add(base, ckeras_conv2d(2, 2, 2, NULL));
    if (ckeras_model_set_trainable(base, 0) != CKERAS_OK)
        fail("set_trainable");
    ckeras_model *m = ckeras_functional("transfer");
    int t = id_input(m, ckeras_input(s->ndim, s->shape));
    t = id_call_model(m, base, 1, &t, 0);
    t = id_call(m, ckeras_global_average_pooling2d(), 1, &t);
    t = id_call(m, ckeras_dense(2, "softmax"), 1, &t);
    if (t < 0 || ckeras_model_set_outputs(m, 1, &t) != CKERAS_OK)
        fail("nested_frozen_base");
    ckeras_model_free(base); /* m keeps it */
    return m;
}

static ckeras_model *m_embedding(const spec *s)
{
    ckeras_model *m = seq(s->ndim, s->shape);
    ckeras_layer *e = need(ckeras_embedding(s->vocab, 3), "Embedding");
    set_s(e, "embeddings_initializer", "random_normal");
    set_s(e, "embeddings_regularizer", "l2");
    add(m, e);
    add(m, ckeras_dense(2, NULL));
    return m;
}

static const spec specs[] = {
    {"dense", "Dense", 1, {6}, 0, m_dense},
    {"activation", "Activation", 1, {6}, 0, m_activation},
    {"dropout", "Dropout", 1, {6}, 0, m_dropout},
    {"flatten", "Flatten", 3, {3, 2, 2}, 0, m_flatten},
    {"add", "Add", 1, {5}, 0, m_add},
    {"subtract", "Subtract", 1, {5}, 0, m_subtract},
    {"multiply", "Multiply", 1, {5}, 0, m_multiply},
    {"average", "Average", 1, {5}, 0, m_average},
    {"maximum", "Maximum", 1, {5}, 0, m_maximum},
    {"minimum", "Minimum", 1, {5}, 0, m_minimum},
    {"concatenate", "Concatenate", 2, {2, 3}, 0, m_concatenate},
    {"batch_normalization", "BatchNormalization", 1, {5}, 0, m_batchnorm},
    {"layer_normalization", "LayerNormalization", 2, {3, 4}, 0, m_layernorm},
    {"layer_normalization_axes", "LayerNormalization", 2, {3, 4}, 0, m_layernorm_axes},
    {"reshape", "Reshape", 1, {12}, 0, m_reshape},
    {"permute", "Permute", 3, {2, 3, 4}, 0, m_permute},
    {"zero_padding2d", "ZeroPadding2D", 3, {3, 3, 2}, 0, m_zeropad},
    {"cropping2d", "Cropping2D", 3, {5, 5, 2}, 0, m_cropping},
    {"upsampling2d", "UpSampling2D", 3, {2, 3, 2}, 0, m_upsampling},
    {"spatial_dropout2d", "SpatialDropout2D", 3, {4, 4, 2}, 0, m_spatial_dropout},
    {"relu", "ReLU", 1, {6}, 0, m_relu},
    {"leaky_relu", "LeakyReLU", 1, {6}, 0, m_leaky_relu},
    {"rescaling", "Rescaling", 1, {4}, 0, m_rescaling},
    {"conv2d", "Conv2D", 3, {7, 6, 2}, 0, m_conv2d},
    {"conv1d", "Conv1D", 2, {9, 2}, 0, m_conv1d},
    {"max_pooling2d", "MaxPooling2D", 3, {5, 6, 2}, 0, m_maxpool2d},
    {"average_pooling2d", "AveragePooling2D", 3, {5, 7, 2}, 0, m_avgpool2d},
    {"average_pooling2d_same", "AveragePooling2D", 3, {5, 6, 2}, 0, m_avgpool2d_same},
    {"max_pooling1d", "MaxPooling1D", 2, {7, 2}, 0, m_maxpool1d},
    {"average_pooling1d", "AveragePooling1D", 2, {8, 2}, 0, m_avgpool1d},
    {"global_average_pooling2d", "GlobalAveragePooling2D", 3, {3, 4, 2}, 0, m_gap2d},
    {"global_max_pooling2d", "GlobalMaxPooling2D", 3, {3, 4, 2}, 0, m_gmp2d},
    {"global_average_pooling1d", "GlobalAveragePooling1D", 2, {5, 3}, 0, m_gap1d},
    {"global_max_pooling1d", "GlobalMaxPooling1D", 2, {5, 3}, 0, m_gmp1d},
    {"depthwise_conv2d", "DepthwiseConv2D", 3, {5, 6, 2}, 0, m_depthwise},
    {"separable_conv2d", "SeparableConv2D", 3, {5, 5, 2}, 0, m_separable},
    {"resizing", "Resizing", 3, {4, 5, 2}, 0, m_resizing},
    {"center_crop", "CenterCrop", 3, {5, 4, 2}, 0, m_center_crop},
    {"random_flip", "RandomFlip", 3, {5, 5, 2}, 0, m_random_flip},
    {"random_rotation", "RandomRotation", 3, {5, 5, 2}, 0, m_random_rotation},
    {"random_zoom", "RandomZoom", 3, {5, 5, 2}, 0, m_random_zoom},
    {"random_translation", "RandomTranslation", 3, {5, 5, 2}, 0, m_random_translation},
    {"random_contrast", "RandomContrast", 3, {5, 5, 2}, 0, m_random_contrast},
    {"simple_rnn", "SimpleRNN", 2, {5, 3}, 0, m_simple_rnn},
    {"lstm", "LSTM", 2, {5, 3}, 0, m_lstm},
    {"gru", "GRU", 2, {5, 3}, 0, m_gru},
    {"bidirectional", "Bidirectional", 2, {4, 3}, 0, m_bidirectional},
    {"embedding", "Embedding", 1, {4}, 7, m_embedding},
    {"prelu", "PReLU", 2, {4, 3}, 0, m_prelu},
    {"softmax", "Softmax", 2, {3, 4}, 0, m_softmax},
    {"time_distributed", "TimeDistributed", 4, {3, 3, 3, 2}, 0, m_time_distributed},
    /* new models go last: the inputs of the ones before come from one running generator */
    {"conv2d_transpose", "Conv2DTranspose", 3, {3, 4, 2}, 0, m_conv2d_transpose},
    {"nested_frozen_base", "Functional", 3, {5, 5, 2}, 0, m_nested_frozen_base},
};

/* The models whose files keep the optimizer state (include_optimizer=True). The others are saved
 * without it (CKERAS_SAVE_NO_OPTIMIZER): the optimizer's layout does not depend on the layer class,
 * and an HDF5 file of a tiny model is ~13 KB of metadata without it, ~25 KB with it. */
static const char *const with_optimizer[] = {"dense", "batch_normalization", "conv2d", "lstm", "bidirectional",
                                             "embedding", "time_distributed"};

static int save_flags(const spec *s)
{
    for (size_t i = 0; i < sizeof with_optimizer / sizeof with_optimizer[0]; i++)
        if (strcmp(s->name, with_optimizer[i]) == 0)
            return 0;
    return CKERAS_SAVE_NO_OPTIMIZER;
}

/* ---- inputs, files, the run ------------------------------------------------------------------ */

/* A fixed generator (64-bit LCG, top bits), so the inputs never depend on the library. */
static uint64_t g_lcg;
static double lcg_uniform(void)
{
    g_lcg = g_lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(g_lcg >> 11) / 9007199254740992.0;
}

static ckeras_tensor *make_inputs(const spec *s, int index)
{
    int64_t shape[5] = {BATCH};
    for (int i = 0; i < s->ndim; i++)
        shape[i + 1] = s->shape[i];
    ckeras_tensor *x = ckeras_tensor_new(s->ndim + 1, shape);
    if (!x)
        return NULL;
    g_lcg = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(index + 1);
    float *d = ckeras_tensor_data(x);
    for (int64_t i = 0; i < ckeras_tensor_size(x); i++)
        d[i] = s->vocab > 0 ? (float)(int)(lcg_uniform() * s->vocab) : (float)(2.0 * lcg_uniform() - 1.0);
    return x;
}

static FILE *g_tsv;

static void record(const spec *s, const char *form, const char *status, const char *msg)
{
    char clean[1024];
    snprintf(clean, sizeof clean, "%s", msg ? msg : "");
    for (char *p = clean; *p; p++)
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    fprintf(g_tsv, "%s\t%s\t%s\t%s\t%s\n", s->name, s->cls, form, status, clean);
    printf("  %-26s %-6s %-11s %s\n", s->name, form, status, clean);
}

static double max_abs_diff(ckeras_tensor *a, ckeras_tensor *b)
{
    if (ckeras_tensor_size(a) != ckeras_tensor_size(b))
        return INFINITY;
    const float *x = ckeras_tensor_data(a), *y = ckeras_tensor_data(b);
    double m = 0;
    for (int64_t i = 0; i < ckeras_tensor_size(a); i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (!(d <= m))
            m = d;
    }
    return m;
}

/* Saves @p m to @p path with @p flags, reloads it in ckeras and compares predictions. */
static int save_form(const spec *s, ckeras_model *m, const char *form, const char *path, int flags,
                     ckeras_tensor *x, ckeras_tensor *y)
{
    char msg[1200];
    if (ckeras_model_save(m, path, flags) != CKERAS_OK) {
        record(s, form, "unsupported", ckeras_last_error());
        return 0;
    }
    if (strcmp(form, "keras") == 0) {
        /* the native format is a zip; a build without it writes HDF5 under that name */
        unsigned char magic[4] = {0};
        FILE *f = fopen(path, "rb");
        size_t got = f ? fread(magic, 1, 4, f) : 0;
        if (f)
            fclose(f);
        if (got != 4 || memcmp(magic, "PK\3\4", 4) != 0) {
            unlink(path);
            record(s, form, "unsupported", "ckeras_model_save wrote no zip (.keras format not implemented)");
            return 0;
        }
    }
    ckeras_model *back = NULL;
    if (ckeras_load_model(path, 0, &back) != CKERAS_OK) {
        snprintf(msg, sizeof msg, "saved; ckeras cannot load it back: %s", ckeras_last_error());
        record(s, form, "saved", msg);
        return 1;
    }
    ckeras_tensor *y2 = NULL;
    if (ckeras_model_predict(back, x, BATCH, &y2) != CKERAS_OK)
        snprintf(msg, sizeof msg, "saved; reloaded model cannot predict: %s", ckeras_last_error());
    else
        snprintf(msg, sizeof msg, "saved; ckeras reload max diff %.3g", max_abs_diff(y, y2));
    record(s, form, "saved", msg);
    ckeras_tensor_free(y2);
    ckeras_model_free(back);
    return 1;
}

static int run_one(const spec *s, int index, const char *dir, int keras3)
{
    char path[4096];
    g_err[0] = 0;
    ckeras_set_random_seed(1234);
    ckeras_model *m = s->build(s);
    if (!g_err[0] && !m)
        fail("model");
    if (g_err[0]) {
        record(s, "h5", "build-failed", g_err);
        ckeras_model_free(m);
        return 0;
    }
    ckeras_tensor *x = make_inputs(s, index), *y = NULL, *t = NULL;
    int ok = 0;
    if (ckeras_model_compile(m, ckeras_adam(1e-2), "mse", NULL) != CKERAS_OK) {
        record(s, "h5", "build-failed", ckeras_last_error());
        goto done;
    }
    /* one training step towards zeros, so weights, moving statistics and the optimizer's state
     * all differ from their initial values */
    if (ckeras_model_predict(m, x, BATCH, &t) != CKERAS_OK) {
        record(s, "h5", "build-failed", ckeras_last_error());
        goto done;
    }
    memset(ckeras_tensor_data(t), 0, (size_t)ckeras_tensor_size(t) * sizeof(float));
    if (ckeras_model_train_on_batch(m, x, t, NULL, 0) != CKERAS_OK)
        printf("  %-26s note: train_on_batch failed (%s); saved untrained\n", s->name, ckeras_last_error());
    if (ckeras_model_predict(m, x, BATCH, &y) != CKERAS_OK) {
        record(s, "h5", "build-failed", ckeras_last_error());
        goto done;
    }
    snprintf(path, sizeof path, "%s/%s.inputs.npy", dir, s->name);
    if (ckeras_write_npy(path, x) != CKERAS_OK)
        goto io_fail;
    snprintf(path, sizeof path, "%s/%s.ckeras.npy", dir, s->name);
    if (ckeras_write_npy(path, y) != CKERAS_OK)
        goto io_fail;
    snprintf(path, sizeof path, "%s/%s.h5", dir, s->name);
    ok = save_form(s, m, "h5", path, save_flags(s), x, y);
    if (keras3) {
        snprintf(path, sizeof path, "%s/%s.k3.h5", dir, s->name);
#ifdef CKERAS_SAVE_KERAS3
        save_form(s, m, "k3", path, CKERAS_SAVE_KERAS3 | save_flags(s), x, y);
#else
        unlink(path);
        record(s, "k3", "unsupported", "ckeras.h has no CKERAS_SAVE_KERAS3 yet");
#endif
        snprintf(path, sizeof path, "%s/%s.keras", dir, s->name);
        save_form(s, m, "keras", path, save_flags(s), x, y);
    }
    goto done;
io_fail:
    record(s, "h5", "io-failed", ckeras_last_error());
done:
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(t);
    ckeras_model_free(m);
    return ok;
}

int main(int argc, char **argv)
{
    const char *dir = "tests/keras/fixtures";
    int keras3 = 0, nsel = 0;
    const char *sel[64];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keras3") == 0)
            keras3 = 1;
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: %s [--keras3] [--out DIR] [NAME ...]\n", argv[0]);
            return 2;
        } else if (nsel < 64)
            sel[nsel++] = argv[i];
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/MODELS.tsv", dir);
    g_tsv = fopen(path, "w");
    if (!g_tsv) {
        perror(path);
        return 1;
    }
    fprintf(g_tsv, "name\tclass\tform\tstatus\tmessage\n");
    ckeras_set_num_threads(1);
    printf("make_models: ckeras %s into %s\n", ckeras_version(), dir);
    int n = (int)(sizeof specs / sizeof specs[0]), written = 0, tried = 0;
    for (int i = 0; i < n; i++) {
        int want = nsel == 0;
        for (int k = 0; k < nsel; k++)
            want |= strcmp(sel[k], specs[i].name) == 0;
        if (!want)
            continue;
        tried++;
        written += run_one(&specs[i], i, dir, keras3);
    }
    fclose(g_tsv);
    printf("make_models: %d of %d models written as .h5\n", written, tried);
    return written == tried ? 0 : 1;
}
