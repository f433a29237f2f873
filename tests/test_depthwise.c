/* DepthwiseConv2D and SeparableConv2D: Keras' numbers (layers.json), an independent
 * double-precision reference written here (direct summation over each window), central finite
 * differences of every backward (input, each kernel, bias), the threaded paths against the
 * reference's adjoint, configuration, errors, and a small model trained, saved and loaded
 * through the public API. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a layer outside a model: buffers owned by the test --------------------------------------- */

#include "layer_harness.h"


/* ---- independent reference (double) --------------------------------------------------------- */

typedef struct dw_cfg {
    int64_t h, w, c, kh, kw, sh, sw, dh, dw, dm, filters; /* filters 0: DepthwiseConv2D */
    const char *padding;
    bool bias;
    const char *act;
} dw_cfg;

/* output size and leading pad of one axis, from the Keras/TensorFlow definitions */
static void ref_axis(const char *padding, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *pad)
{
    int64_t eff = (k - 1) * d + 1;
    if (strcmp(padding, "valid") == 0) {
        *out = (in - eff) / s + 1;
        *pad = 0;
    } else {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + eff - in;
        *pad = total > 0 ? total / 2 : 0;
    }
}

static double ref_act(const char *act, double z)
{
    if (!act || strcmp(act, "linear") == 0)
        return z;
    if (strcmp(act, "tanh") == 0)
        return tanh(z);
    if (strcmp(act, "sigmoid") == 0)
        return 1 / (1 + exp(-z));
    if (strcmp(act, "silu") == 0)
        return z / (1 + exp(-z));
    if (strcmp(act, "relu") == 0)
        return z > 0 ? z : 0;
    ck_abort_msg("ref_act: %s", act);
    return 0;
}

/* The window cell (iy, ix) that output (oy, ox) reads through tap (ky, kx); false when padded. */
static bool ref_cell(const dw_cfg *c, int64_t pt, int64_t pl, int64_t oy, int64_t ox, int64_t ky, int64_t kx,
                     int64_t *iy, int64_t *ix)
{
    *iy = oy * c->sh - pt + ky * c->dh;
    *ix = ox * c->sw - pl + kx * c->dw;
    return *iy >= 0 && *iy < c->h && *ix >= 0 && *ix < c->w;
}

/* The layer's output y (n, oh, ow, F) by direct summation: t[o = ch*dm + m] = sum over the
 * window of x[ch] * D[ky][kx][ch][m]; DepthwiseConv2D: y = act(t + b); SeparableConv2D:
 * y = act(t P + b). */
static void ref_forward(const dw_cfg *c, int64_t n, const float *x, const float *D, const float *P, const float *b,
                        double *y, int64_t *oh_, int64_t *ow_)
{
    int64_t oh, ow, pt, pl;
    ref_axis(c->padding, c->h, c->kh, c->sh, c->dh, &oh, &pt);
    ref_axis(c->padding, c->w, c->kw, c->sw, c->dw, &ow, &pl);
    const int64_t C = c->c * c->dm, F = c->filters ? c->filters : C;
    double *t = calloc((size_t)C, sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                for (int64_t ch = 0; ch < c->c; ch++)
                    for (int64_t m = 0; m < c->dm; m++) {
                        double s = 0;
                        for (int64_t ky = 0; ky < c->kh; ky++)
                            for (int64_t kx = 0; kx < c->kw; kx++) {
                                int64_t iy, ix;
                                if (ref_cell(c, pt, pl, oy, ox, ky, kx, &iy, &ix))
                                    s += (double)x[((i * c->h + iy) * c->w + ix) * c->c + ch] *
                                         D[((ky * c->kw + kx) * c->c + ch) * c->dm + m];
                            }
                        t[ch * c->dm + m] = s;
                    }
                double *yo = y + ((i * oh + oy) * ow + ox) * F;
                for (int64_t f = 0; f < F; f++) {
                    double s = b ? b[f] : 0;
                    if (c->filters)
                        for (int64_t o = 0; o < C; o++)
                            s += t[o] * P[o * F + f];
                    else
                        s += t[f];
                    yo[f] = ref_act(c->act, s);
                }
            }
    free(t);
    *oh_ = oh;
    *ow_ = ow;
}

/* The adjoint of a linear DepthwiseConv2D without bias: dx += R routed back through each tap,
 * dD = sum of x * R over the positions each tap reads. */
static void ref_depthwise_adjoint(const dw_cfg *c, int64_t n, const float *x, const float *D, const float *R,
                                  double *dx, double *dD)
{
    int64_t oh, ow, pt, pl;
    ref_axis(c->padding, c->h, c->kh, c->sh, c->dh, &oh, &pt);
    ref_axis(c->padding, c->w, c->kw, c->sw, c->dw, &ow, &pl);
    memset(dx, 0, (size_t)(n * c->h * c->w * c->c) * sizeof(double));
    memset(dD, 0, (size_t)(c->kh * c->kw * c->c * c->dm) * sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t ky = 0; ky < c->kh; ky++)
                    for (int64_t kx = 0; kx < c->kw; kx++) {
                        int64_t iy, ix;
                        if (!ref_cell(c, pt, pl, oy, ox, ky, kx, &iy, &ix))
                            continue;
                        for (int64_t ch = 0; ch < c->c; ch++)
                            for (int64_t m = 0; m < c->dm; m++) {
                                const int64_t xi = ((i * c->h + iy) * c->w + ix) * c->c + ch;
                                const int64_t di = ((ky * c->kw + kx) * c->c + ch) * c->dm + m;
                                const double r = R[((i * oh + oy) * ow + ox) * c->c * c->dm + ch * c->dm + m];
                                dx[xi] += r * D[di];
                                dD[di] += r * x[xi];
                            }
                    }
}

static void assert_close_d(const float *a, const double *b, int64_t n, double tol, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])), "%s: element %lld is %.8g, expected %.8g", what,
                      (long long)i, (double)a[i], b[i]);
}

static ckeras_layer *dw_layer(const dw_cfg *c)
{
    char cfg[512], filters[32] = "";
    if (c->filters)
        snprintf(filters, sizeof filters, "\"filters\": %lld, ", (long long)c->filters);
    snprintf(cfg, sizeof cfg,
             "{%s\"kernel_size\": [%lld, %lld], \"strides\": [%lld, %lld], \"dilation_rate\": [%lld, %lld], "
             "\"depth_multiplier\": %lld, \"padding\": \"%s\", \"use_bias\": %s, \"activation\": \"%s\"}",
             filters, (long long)c->kh, (long long)c->kw, (long long)c->sh, (long long)c->sw, (long long)c->dh,
             (long long)c->dw, (long long)c->dm, c->padding, c->bias ? "true" : "false", c->act ? c->act : "linear");
    ckeras_layer *l = ckeras_layer_from_config(c->filters ? "SeparableConv2D" : "DepthwiseConv2D", cfg);
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    return l;
}

/* ---- against Keras (layers.json) ---------------------------------------------------------------- */

START_TEST(layers_match_keras)
{
    static const struct {
        const char *key, *cls;
        int nw;
    } cases[] = {
        {"depthwise_conv2d_dm2_same_s2", "DepthwiseConv2D", 2},
        {"separable_conv2d_same", "SeparableConv2D", 3},
        {"separable_conv2d_dm2_valid_s2", "SeparableConv2D", 3},
    };
    json_t *root = tu_load_json("keras3-traces/layers.json");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char path[128];
        snprintf(path, sizeof path, "cases/%s", cases[k].key);
        json_t *c = tu_get(root, path);
        char *cfg = json_dumps(tu_get(c, "config"), 0);
        ckeras_layer *l = ckeras_layer_from_config(cases[k].cls, cfg);
        free(cfg);
        ck_assert_msg(l != NULL, "%s: %s", cases[k].key, ckeras_last_error());
        snprintf(path, sizeof path, "inputs/%s/value", json_string_value(tu_get(c, "input")));
        int64_t shape[8];
        int nd = 0;
        size_t nx;
        float *x = tu_floats(tu_get(root, path), &nx, shape, &nd);
        ck_assert_int_eq(nd, 4);
        harness h;
        h_init(&h, l, &(ck_shape){3, {shape[1], shape[2], shape[3]}}, shape[0]);
        memcpy(h.x, x, nx * sizeof(float));
        free(x);
        json_t *os = tu_get(c, "output_shape");
        for (int i = 0; i < 3; i++)
            ck_assert_int_eq(json_integer_value(json_array_get(os, (size_t)i + 1)), l->out_shape.d[i]);
        /* weights: Keras' names, shapes and order */
        json_t *ws = tu_get(c, "weights");
        ck_assert_int_eq((int)json_array_size(ws), cases[k].nw);
        ck_assert_int_eq(l->nw, cases[k].nw);
        for (int i = 0; i < l->nw; i++) {
            json_t *wi = json_array_get(ws, (size_t)i);
            ck_assert_str_eq(json_string_value(tu_get(wi, "name")), l->w[i].name);
            size_t n;
            int64_t wshape[8];
            int wnd = 0;
            float *v = tu_floats(tu_get(wi, "value"), &n, wshape, &wnd);
            ck_assert_int_eq(wnd, l->w[i].shape.ndim);
            for (int d = 0; d < wnd; d++)
                ck_assert_int_eq(wshape[d], l->w[i].shape.d[d]);
            memcpy(l->w[i].data, v, n * sizeof(float));
            free(v);
        }
        h_forward(&h);
        size_t ny;
        float *want = tu_floats(tu_get(c, "output"), &ny, NULL, NULL);
        ck_assert_int_eq((int64_t)ny, h.out_size);
        char what[128];
        snprintf(what, sizeof what, "%s output", cases[k].key);
        tu_assert_close(h.y, want, ny, 1e-5, 1e-5, what);
        free(want);
        ck_assert_ptr_null(json_object_get(c, "grad_R")); /* no gradients stored: see the FD tests */
        /* the same weights through the double reference (checks the reference, too) */
        dw_cfg rc = {.h = shape[1], .w = shape[2], .c = shape[3], .kh = l->w[0].shape.d[0],
                     .kw = l->w[0].shape.d[1], .dm = l->w[0].shape.d[3], .padding = ck_cfg_str(&l->cfg, "padding"),
                     .sh = ck_cfg_value(&l->cfg, "strides")->v[0], .sw = ck_cfg_value(&l->cfg, "strides")->v[1],
                     .dh = 1, .dw = 1, .filters = cases[k].nw == 3 ? l->out_shape.d[2] : 0, .bias = true};
        double *ref = calloc((size_t)h.out_size, sizeof(double));
        int64_t oh, ow;
        ref_forward(&rc, h.n, h.x, l->w[0].data, rc.filters ? l->w[1].data : NULL, l->w[l->nw - 1].data, ref, &oh,
                    &ow);
        ck_assert_int_eq(oh, l->out_shape.d[0]);
        ck_assert_int_eq(ow, l->out_shape.d[1]);
        snprintf(what, sizeof what, "%s vs reference", cases[k].key);
        assert_close_d(h.y, ref, h.out_size, 1e-5, what);
        free(ref);
        h_free(&h);
    }
    json_decref(root);
}
END_TEST

/* ---- reference and finite differences over configurations ------------------------------------- */

static const dw_cfg configs[] = {
    /* h  w  c  kh kw sh sw dh dw dm F  padding  bias  act */
    {5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 0, "same", true, "linear"},
    {5, 6, 3, 3, 3, 2, 2, 1, 1, 2, 0, "same", true, "tanh"},
    {6, 7, 2, 2, 3, 2, 1, 1, 1, 2, 0, "valid", false, "silu"},
    {6, 7, 3, 3, 3, 1, 1, 2, 2, 1, 0, "valid", true, "linear"},
    {5, 6, 2, 3, 2, 1, 1, 2, 1, 2, 0, "same", true, "sigmoid"},
    {4, 5, 3, 1, 1, 2, 2, 1, 1, 1, 0, "valid", true, "linear"},
    {5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 4, "same", true, "linear"},
    {6, 7, 3, 3, 3, 2, 2, 1, 1, 2, 4, "valid", true, "tanh"},
    {5, 6, 2, 3, 3, 2, 2, 1, 1, 2, 3, "same", false, "silu"},
    {6, 7, 2, 3, 2, 1, 1, 2, 2, 1, 3, "valid", true, "sigmoid"},
    {6, 6, 3, 3, 3, 1, 1, 2, 1, 2, 2, "same", true, "silu"},
};

START_TEST(reference_and_gradients)
{
    const int64_t n = 2;
    for (size_t k = 0; k < sizeof configs / sizeof configs[0]; k++) {
        const dw_cfg *c = &configs[k];
        char what[160];
        snprintf(what, sizeof what, "%s k(%lld,%lld) s(%lld,%lld) d(%lld,%lld) dm%lld F%lld %s %s",
                 c->filters ? "SeparableConv2D" : "DepthwiseConv2D", (long long)c->kh, (long long)c->kw,
                 (long long)c->sh, (long long)c->sw, (long long)c->dh, (long long)c->dw, (long long)c->dm,
                 (long long)c->filters, c->padding, c->act);
        harness h;
        h_init(&h, dw_layer(c), &(ck_shape){3, {c->h, c->w, c->c}}, n);
        ckeras_layer *l = h.l;
        ck_assert_int_eq(l->nw, (c->filters ? 2 : 1) + (c->bias ? 1 : 0));
        fill(h.x, h.in_size, -1, 1);
        for (int i = 0; i < l->nw; i++)
            fill(l->w[i].data, l->w[i].size, -0.6, 0.6);
        h_forward(&h);
        double *ref = calloc((size_t)h.out_size, sizeof(double));
        int64_t oh, ow;
        ref_forward(c, n, h.x, l->w[0].data, c->filters ? l->w[1].data : NULL,
                    c->bias ? l->w[l->nw - 1].data : NULL, ref, &oh, &ow);
        ck_assert_int_eq(l->out_shape.d[0], oh);
        ck_assert_int_eq(l->out_shape.d[1], ow);
        ck_assert_int_eq(l->out_shape.d[2], c->filters ? c->filters : c->c * c->dm);
        assert_close_d(h.y, ref, h.out_size, 1e-5, what);
        free(ref);
        h_fd_check(&h, 1e-2, 2e-3, 2e-3, what);
        h_free(&h);
    }
}
END_TEST

/* Work large enough for the threaded paths (forward by output rows, dx by input rows, dD by
 * tap and channel block), against the reference and its adjoint. */
START_TEST(threaded_paths_match_reference)
{
    ck_assert_int_eq(ckeras_set_num_threads(3), CKERAS_OK);
    static const dw_cfg big[] = {
        {16, 15, 40, 3, 3, 1, 1, 1, 1, 1, 0, "same", false, "linear"},
        {17, 16, 64, 3, 3, 2, 2, 1, 1, 2, 0, "same", false, "linear"},
        {16, 16, 48, 5, 3, 1, 1, 2, 1, 1, 0, "valid", false, "linear"},
    };
    const int64_t n = 4;
    for (size_t k = 0; k < sizeof big / sizeof big[0]; k++) {
        const dw_cfg *c = &big[k];
        harness h;
        h_init(&h, dw_layer(c), &(ck_shape){3, {c->h, c->w, c->c}}, n);
        fill(h.x, h.in_size, -1, 1);
        fill(h.l->w[0].data, h.l->w[0].size, -0.5, 0.5);
        h_forward(&h);
        double *ref = calloc((size_t)h.out_size, sizeof(double));
        int64_t oh, ow;
        ref_forward(c, n, h.x, h.l->w[0].data, NULL, NULL, ref, &oh, &ow);
        ck_assert_msg(n * oh * ow * c->kh * c->kw * c->c * c->dm >= (1 << 18), "config %zu is too small to thread", k);
        assert_close_d(h.y, ref, h.out_size, 1e-5, "threaded forward");
        float *R = xcalloc(h.out_size);
        fill(R, h.out_size, -1, 1);
        h_backward(&h, R, true);
        double *dx = calloc((size_t)h.in_size, sizeof(double)), *dD = calloc((size_t)h.l->w[0].size, sizeof(double));
        ref_depthwise_adjoint(c, n, h.x, h.l->w[0].data, R, dx, dD);
        assert_close_d(h.dx, dx, h.in_size, 1e-5, "threaded dx");
        assert_close_d(h.l->w[0].grad, dD, h.l->w[0].size, 1e-4, "threaded dD");
        free(dx);
        free(dD);
        free(ref);
        free(R);
        h_free(&h);
    }
    ck_assert_int_eq(ckeras_set_num_threads(0), CKERAS_OK);
}
END_TEST

/* ---- configuration and errors ------------------------------------------------------------------ */

START_TEST(config_like_keras)
{
    /* a tf.keras 2.14 config (from the ds_cnn file): "groups": 1 and dtype strings are accepted */
    ckeras_layer *l = ckeras_layer_from_config(
        "DepthwiseConv2D",
        "{\"name\": \"depthwise_conv2d\", \"trainable\": true, \"dtype\": \"float32\", \"kernel_size\": [3, 1], "
        "\"strides\": [1, 1], \"padding\": \"valid\", \"data_format\": \"channels_last\", \"dilation_rate\": [1, 1], "
        "\"groups\": 1, \"activation\": \"linear\", \"use_bias\": false, \"bias_initializer\": {\"module\": "
        "\"keras.initializers\", \"class_name\": \"Zeros\", \"config\": {}, \"registered_name\": null}, "
        "\"bias_regularizer\": null, \"activity_regularizer\": null, \"bias_constraint\": null, "
        "\"depth_multiplier\": 1, \"depthwise_initializer\": {\"module\": \"keras.initializers\", \"class_name\": "
        "\"GlorotUniform\", \"config\": {\"seed\": null}, \"registered_name\": null}, \"depthwise_regularizer\": "
        "null, \"depthwise_constraint\": null}");
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {30, 1, 40}}), CKERAS_OK);
    ck_assert_int_eq(l->nw, 1);
    ck_assert_str_eq(l->w[0].name, "kernel");
    ck_assert(l->w[0].shape.ndim == 4 && l->w[0].shape.d[0] == 3 && l->w[0].shape.d[1] == 1 &&
              l->w[0].shape.d[2] == 40 && l->w[0].shape.d[3] == 1);
    ck_assert(l->out_shape.d[0] == 28 && l->out_shape.d[1] == 1 && l->out_shape.d[2] == 40);
    ck_assert_int_eq(ck_layer_param_count(l, false), 120);
    ck_layer_free(l);

    /* one int for a tuple is stored at full length; defaults are Keras' */
    l = ckeras_layer_from_config("SeparableConv2D", "{\"filters\": 5, \"kernel_size\": 3}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {7, 6, 2}}), CKERAS_OK);
    const ck_value *k = ck_cfg_value(&l->cfg, "kernel_size");
    ck_assert(k->n == 2 && k->v[0] == 3 && k->v[1] == 3);
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "depthwise_initializer"), "glorot_uniform");
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "pointwise_initializer"), "glorot_uniform");
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "bias_initializer"), "zeros");
    ck_assert_int_eq(ck_cfg_int(&l->cfg, "depth_multiplier"), 1);
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "padding"), "valid");
    ck_assert_int_eq(l->nw, 3);
    ck_assert_str_eq(l->w[0].name, "depthwise_kernel");
    ck_assert_str_eq(l->w[1].name, "pointwise_kernel");
    ck_assert_str_eq(l->w[2].name, "bias");
    ck_assert_str_eq(l->w[0].init_field, "depthwise_initializer");
    ck_assert_str_eq(l->w[1].init_field, "pointwise_initializer");
    ck_assert_str_eq(l->w[2].init_field, "bias_initializer");
    ck_assert(l->out_shape.d[0] == 5 && l->out_shape.d[1] == 4 && l->out_shape.d[2] == 5);
    ck_assert_int_eq(ck_layer_param_count(l, false), 3 * 3 * 2 + 2 * 5 + 5);
    ck_layer_free(l);

    /* regularizers attach to the weights by their initializer field's stem */
    l = ckeras_layer_from_config("SeparableConv2D",
                                 "{\"filters\": 2, \"kernel_size\": 3, \"depthwise_regularizer\": \"l2\", "
                                 "\"pointwise_regularizer\": \"L1L2(l1=0.001,l2=0.002)\", \"bias_regularizer\": "
                                 "\"l1\"}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {5, 5, 2}}), CKERAS_OK);
    ck_assert(l->w[0].l1 == 0.0f && fabsf(l->w[0].l2 - 0.01f) < 1e-9f);
    ck_assert(fabsf(l->w[1].l1 - 0.001f) < 1e-9f && fabsf(l->w[1].l2 - 0.002f) < 1e-9f);
    ck_assert(fabsf(l->w[2].l1 - 0.01f) < 1e-9f && l->w[2].l2 == 0.0f);
    ck_layer_free(l);
    l = ckeras_layer_from_config("DepthwiseConv2D", "{\"kernel_size\": 3, \"depthwise_regularizer\": \"l1\"}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {5, 5, 2}}), CKERAS_OK);
    ck_assert(fabsf(l->w[0].l1 - 0.01f) < 1e-9f);
    ck_layer_free(l);

    /* the BatchNormalization beside the depthwise layers of the tf.keras 2.14 file writes
     * "scale": 1 (Python truthiness): gamma exists; 0 drops it */
    l = ckeras_layer_from_config("BatchNormalization", "{\"axis\": [3], \"center\": true, \"scale\": 1}");
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {4, 1, 6}}), CKERAS_OK);
    ck_assert_str_eq(l->w[0].name, "gamma");
    ck_assert_int_eq(l->nw, 4);
    ck_layer_free(l);
    l = ckeras_layer_from_config("BatchNormalization", "{\"scale\": 0}");
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {4, 1, 6}}), CKERAS_OK);
    ck_assert_str_eq(l->w[0].name, "beta");
    ck_assert_int_eq(l->nw, 3);
    ck_layer_free(l);
}
END_TEST

static void expect_build_error(const char *cls, const char *cfg, const ck_shape *in, ckeras_status want,
                               const char *fragment)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, cfg);
    if (!l && want == CKERAS_EINVAL) { /* a value out of the schema's range is refused as early as the config */
        ck_assert_msg(strstr(ckeras_last_error(), fragment) != NULL, "message '%s' lacks '%s'", ckeras_last_error(),
                      fragment);
        return;
    }
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    ckeras_status st = ck_layer_build(l, in);
    ck_assert_msg(st == want, "%s %s: status %d, want %d (%s)", cls, cfg, st, want, ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), fragment) != NULL, "message '%s' lacks '%s'", ckeras_last_error(),
                  fragment);
    ck_assert_int_eq(l->nw, 0);
    ck_layer_free(l);
}

START_TEST(errors_are_reported_at_build)
{
    ck_shape img = {3, {4, 4, 2}};
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 5}", &img, CKERAS_ESHAPE, "larger than");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3, \"dilation_rate\": 2}", &img, CKERAS_ESHAPE,
                       "larger than");
    expect_build_error("SeparableConv2D", "{\"filters\": 2, \"kernel_size\": [2, 5]}", &img, CKERAS_ESHAPE,
                       "axis 1");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3}", &(ck_shape){2, {4, 2}}, CKERAS_ESHAPE, "rank 3");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3, \"data_format\": \"channels_first\"}", &img,
                       CKERAS_EUNSUPPORTED, "channels_first");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3, \"padding\": \"causal\"}", &img, CKERAS_EINVAL,
                       "padding");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3, \"depth_multiplier\": 0}", &img, CKERAS_EINVAL,
                       "depth_multiplier");
    expect_build_error("DepthwiseConv2D", "{}", &img, CKERAS_EINVAL, "kernel_size");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 2, \"strides\": 2, \"dilation_rate\": 2}", &img,
                       CKERAS_EINVAL, "dilation_rate");
    expect_build_error("DepthwiseConv2D", "{\"kernel_size\": 3, \"depthwise_constraint\": \"non_negative\"}", &img,
                       CKERAS_EINVAL, "depthwise_constraint");
    expect_build_error("SeparableConv2D", "{\"kernel_size\": 3}", &img, CKERAS_EINVAL, "filters");
    expect_build_error("SeparableConv2D", "{\"filters\": 2, \"kernel_size\": 3, \"pointwise_constraint\": "
                       "\"MaxNorm(axis=4)\"}", &img, CKERAS_EINVAL, "pointwise_constraint");
    expect_build_error("SeparableConv2D", "{\"filters\": 2, \"kernel_size\": 3, \"pointwise_initializer\": "
                       "\"nonsense\"}", &img, CKERAS_EINVAL, "SeparableConv2D");

    /* typed constructors check their sizes */
    ck_assert_ptr_null(ckeras_depthwise_conv2d(3, 0, 1, NULL));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "depthwise_conv2d"));
    ck_assert_ptr_null(ckeras_depthwise_conv2d(3, 3, 0, NULL));
    ck_assert_ptr_null(ckeras_separable_conv2d(0, 3, 3, NULL));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "separable_conv2d"));
    ck_assert_ptr_null(ckeras_separable_conv2d(2, 3, 3, "no_such_activation"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "SeparableConv2D"));

    /* through the public API: the model refuses a layer whose window does not fit */
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){2, 6, 3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("DepthwiseConv2D", "{\"kernel_size\": 3}")),
                     CKERAS_ESHAPE);
    ckeras_model_free(m);
}
END_TEST

/* ---- a small model through the public API ---------------------------------------------------- */

static ckeras_model *small_model(uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("sep");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){8, 8, 2})), CKERAS_OK);
    ckeras_layer *sep = ckeras_separable_conv2d(4, 3, 3, "relu");
    ck_assert_int_eq(ckeras_layer_set_str(sep, "padding", "same"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, sep), CKERAS_OK);
    ckeras_layer *dw = ckeras_depthwise_conv2d(3, 3, 2, "tanh");
    ck_assert_int_eq(ckeras_layer_set_ints(dw, "strides", 2, (const int64_t[]){2, 2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, dw), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("GlobalAveragePooling2D", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "categorical_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

/* class 0: channel 0 bright in the top half; class 1: channel 1 bright in the left half */
static void halves(int64_t n, ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(4, (const int64_t[]){n, 8, 8, 2});
    *y = ckeras_tensor_new(2, (const int64_t[]){n, 2});
    float *xv = ckeras_tensor_data(*x), *yv = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < n; i++) {
        int cls = (int)(i % 2);
        for (int r = 0; r < 8; r++)
            for (int c = 0; c < 8; c++)
                for (int ch = 0; ch < 2; ch++) {
                    bool on = cls ? (ch == 1 && c < 4) : (ch == 0 && r < 4);
                    xv[((i * 8 + r) * 8 + c) * 2 + ch] = (float)(0.4 * urand() + (on ? 0.8 : 0.0));
                }
        yv[i * 2 + cls] = 1.0f;
        yv[i * 2 + 1 - cls] = 0.0f;
    }
}

START_TEST(small_model_trains_saves_and_loads)
{
    ckeras_tensor *x, *y;
    halves(128, &x, &y);
    ckeras_model *m = small_model(3);
    int64_t total = 0, trainable = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &trainable, NULL), CKERAS_OK);
    ck_assert_int_eq(total, (3 * 3 * 2 + 2 * 4 + 4) + (3 * 3 * 4 * 2 + 8) + (8 * 2 + 2));
    double first[2], res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, first, 2), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 20);
    ckeras_fit_args_set_int(fa, "batch_size", 16);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, res, 2), CKERAS_OK);
    ck_assert_msg(res[0] < 0.5 * first[0] && res[1] > 0.9, "loss %g -> %g, accuracy %g", first[0], res[0], res[1]);
    /* a training step allocates nothing */
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK);
    uint64_t before = ck_alloc_count();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK);
    ck_assert_msg(ck_alloc_count() == before, "%llu allocations in 3 steps",
                  (unsigned long long)(ck_alloc_count() - before));
    /* save, load: same predictions, Keras 3's config fields and weight names */
    char path[128];
    snprintf(path, sizeof path, "/tmp/ck_test_depthwise_%d.h5", (int)getpid());
    ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s", ckeras_last_error());
    unlink(path);
    ckeras_tensor *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &p2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(p2), ckeras_tensor_data(p1), 128 * 2, 0, 0, "predictions after load");
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m2, &json), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"depthwise_initializer\""));
    ck_assert_ptr_nonnull(strstr(json, "\"pointwise_initializer\""));
    ck_assert_ptr_nonnull(strstr(json, "\"depth_multiplier\":2"));
    ck_assert_ptr_null(strstr(json, "\"groups\""));
    ckeras_free(json);
    ckeras_layer *dl = ckeras_model_layer_by_name(m2, "depthwise_conv2d");
    ck_assert_msg(dl != NULL, "%s", ckeras_last_error());
    const char *wname = NULL;
    ckeras_tensor *view = NULL;
    ck_assert_int_eq(ckeras_layer_weight_count(dl), 2);
    ck_assert_int_eq(ckeras_layer_weight(dl, 0, &wname, &view), CKERAS_OK);
    ck_assert_str_eq(wname, "kernel");
    ckeras_tensor_free(view);
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_model_free(m2);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

int main(void)
{
    h_seed(4242);
    Suite *s = suite_create("depthwise");
    TCase *tc = tcase_create("depthwise");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, layers_match_keras);
    tcase_add_test(tc, reference_and_gradients);
    tcase_add_test(tc, threaded_paths_match_reference);
    tcase_add_test(tc, config_like_keras);
    tcase_add_test(tc, errors_are_reported_at_build);
    tcase_add_test(tc, small_model_trains_saves_and_loads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
