/* Convolution and pooling layers: Keras' numbers (layers.json), independent double-precision
 * references written here (direct convolution, TensorFlow-style pooling), central finite
 * differences of every backward, tiling, errors, and a small CNN trained through the public API. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a layer outside a model: buffers owned by the test --------------------------------------- */

#include "layer_harness.h"

/* distinct values k * step, shuffled (so max pooling has no near ties) */
static void fill_distinct(float *v, int64_t n, double step)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)((double)(i - n / 2) * step);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(urand() * (double)(i + 1));
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}


/* ---- independent references (double) ---------------------------------------------------------- */

typedef struct conv_cfg {
    int rank;
    int64_t h, w, c, kh, kw, sh, sw, dh, dw, filters;
    const char *padding;
    bool bias;
    const char *act;
} conv_cfg;

/* output size and leading pad of one axis, from the Keras/TensorFlow definitions */
static void ref_axis(const char *padding, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *pad)
{
    int64_t eff = (k - 1) * d + 1;
    if (strcmp(padding, "valid") == 0) {
        *out = (in - eff) / s + 1;
        *pad = 0;
    } else if (strcmp(padding, "causal") == 0) {
        *out = (in + s - 1) / s;
        *pad = eff - 1;
    } else {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + eff - in;
        if (total < 0)
            total = 0;
        *pad = total / 2;
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
    ck_abort_msg("ref_act: %s", act);
    return 0;
}

/* y (n, oh, ow, F) by direct summation over the window */
static void ref_conv(const conv_cfg *c, int64_t n, const float *x, const float *W, const float *b, double *y,
                     int64_t *oh_, int64_t *ow_)
{
    int64_t oh, ow, pt, pl;
    ref_axis(c->padding, c->h, c->kh, c->sh, c->dh, &oh, &pt);
    ref_axis(c->padding, c->w, c->kw, c->sw, c->dw, &ow, &pl);
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t f = 0; f < c->filters; f++) {
                    double s = b ? b[f] : 0;
                    for (int64_t ky = 0; ky < c->kh; ky++)
                        for (int64_t kx = 0; kx < c->kw; kx++) {
                            int64_t iy = oy * c->sh - pt + ky * c->dh, ix = ox * c->sw - pl + kx * c->dw;
                            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                continue;
                            for (int64_t ch = 0; ch < c->c; ch++)
                                s += (double)x[((i * c->h + iy) * c->w + ix) * c->c + ch] *
                                     W[((ky * c->kw + kx) * c->c + ch) * c->filters + f];
                        }
                    y[((i * oh + oy) * ow + ox) * c->filters + f] = ref_act(c->act, s);
                }
    *oh_ = oh;
    *ow_ = ow;
}

/* TensorFlow pooling: a window covers only cells inside the image */
static void ref_pool(bool max, int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw, int64_t sh,
                     int64_t sw, const char *padding, const float *x, double *y, int64_t *oh_, int64_t *ow_)
{
    int64_t oh, ow, pt, pl;
    ref_axis(padding, h, kh, sh, 1, &oh, &pt);
    ref_axis(padding, w, kw, sw, 1, &ow, &pl);
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t ch = 0; ch < c; ch++) {
                    double acc = max ? -INFINITY : 0;
                    int cnt = 0;
                    for (int64_t ky = 0; ky < kh; ky++)
                        for (int64_t kx = 0; kx < kw; kx++) {
                            int64_t iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                                continue;
                            double v = x[((i * h + iy) * w + ix) * c + ch];
                            acc = max ? fmax(acc, v) : acc + v;
                            cnt++;
                        }
                    y[((i * oh + oy) * ow + ox) * c + ch] = max ? acc : acc / cnt;
                }
    *oh_ = oh;
    *ow_ = ow;
}

static void assert_close_d(const float *a, const double *b, int64_t n, double tol, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(a[i] - b[i]) <= tol * (1 + fabs(b[i])), "%s: element %lld is %.8g, expected %.8g", what,
                      (long long)i, (double)a[i], b[i]);
}

static ckeras_layer *conv_layer(const conv_cfg *c)
{
    char cfg[512];
    if (c->rank == 2)
        snprintf(cfg, sizeof cfg,
                 "{\"filters\": %lld, \"kernel_size\": [%lld, %lld], \"strides\": [%lld, %lld], "
                 "\"dilation_rate\": [%lld, %lld], \"padding\": \"%s\", \"use_bias\": %s, \"activation\": \"%s\"}",
                 (long long)c->filters, (long long)c->kh, (long long)c->kw, (long long)c->sh, (long long)c->sw,
                 (long long)c->dh, (long long)c->dw, c->padding, c->bias ? "true" : "false",
                 c->act ? c->act : "linear");
    else
        snprintf(cfg, sizeof cfg,
                 "{\"filters\": %lld, \"kernel_size\": %lld, \"strides\": %lld, \"dilation_rate\": %lld, "
                 "\"padding\": \"%s\", \"use_bias\": %s, \"activation\": \"%s\"}",
                 (long long)c->filters, (long long)c->kw, (long long)c->sw, (long long)c->dw, c->padding,
                 c->bias ? "true" : "false", c->act ? c->act : "linear");
    ckeras_layer *l = ckeras_layer_from_config(c->rank == 2 ? "Conv2D" : "Conv1D", cfg);
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    return l;
}

/* ---- against Keras (layers.json) ---------------------------------------------------------------- */

static const char *class_of(const char *key)
{
    if (strncmp(key, "conv2d_", 7) == 0)
        return "Conv2D";
    if (strncmp(key, "conv1d_", 7) == 0)
        return "Conv1D";
    if (strncmp(key, "maxpool2d_", 10) == 0)
        return "MaxPooling2D";
    if (strncmp(key, "avgpool2d_", 10) == 0)
        return "AveragePooling2D";
    if (strcmp(key, "global_average_pooling2d") == 0)
        return "GlobalAveragePooling2D";
    if (strcmp(key, "global_max_pooling2d") == 0)
        return "GlobalMaxPooling2D";
    return NULL;
}

START_TEST(layers_match_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    json_t *cases = tu_get(root, "cases");
    const char *key;
    json_t *c;
    int tested = 0, with_grads = 0;
    json_object_foreach(cases, key, c) {
        const char *cls = class_of(key);
        if (!cls || strcmp(key, "avgpool2d_p3_s2_same") == 0) /* torch-specific: see its own test */
            continue;
        char *cfg = json_dumps(tu_get(c, "config"), 0);
        ckeras_layer *l = ckeras_layer_from_config(cls, cfg);
        free(cfg);
        ck_assert_msg(l != NULL, "%s: %s", key, ckeras_last_error());
        char in_path[96];
        snprintf(in_path, sizeof in_path, "inputs/%s", json_string_value(tu_get(c, "input")));
        int64_t shape[8];
        int nd = 0;
        size_t nx;
        float *x = tu_floats(tu_get(tu_get(root, in_path), "value"), &nx, shape, &nd);
        ck_shape in = {nd - 1, {0}};
        for (int i = 1; i < nd; i++)
            in.d[i - 1] = shape[i];
        harness h;
        h_init(&h, l, &in, shape[0]);
        ck_assert_int_eq((int64_t)nx, h.in_size);
        memcpy(h.x, x, nx * sizeof(float));
        free(x);
        /* output shape */
        json_t *os = tu_get(c, "output_shape");
        ck_assert_int_eq((int)json_array_size(os), l->out_shape.ndim + 1);
        for (int i = 0; i < l->out_shape.ndim; i++)
            ck_assert_int_eq(json_integer_value(json_array_get(os, (size_t)i + 1)), l->out_shape.d[i]);
        /* weights in layer.weights order */
        json_t *ws = tu_get(c, "weights");
        ck_assert_int_eq((int)json_array_size(ws), l->nw);
        for (int i = 0; i < l->nw; i++) {
            json_t *wi = json_array_get(ws, (size_t)i);
            ck_assert_str_eq(json_string_value(tu_get(wi, "name")), l->w[i].name);
            size_t n;
            int64_t wshape[8];
            int wnd = 0;
            float *v = tu_floats(tu_get(wi, "value"), &n, wshape, &wnd);
            ck_assert_int_eq(wnd, l->w[i].shape.ndim);
            for (int k = 0; k < wnd; k++)
                ck_assert_int_eq(wshape[k], l->w[i].shape.d[k]);
            memcpy(l->w[i].data, v, n * sizeof(float));
            free(v);
        }
        h_forward(&h);
        size_t ny;
        float *want = tu_floats(tu_get(c, "output"), &ny, NULL, NULL);
        ck_assert_int_eq((int64_t)ny, h.out_size);
        char what[128];
        snprintf(what, sizeof what, "%s output", key);
        tu_assert_close(h.y, want, ny, 1e-5, 1e-5, what);
        free(want);
        tested++;
        if (json_object_get(c, "grad_R")) {
            float *R = tu_floats(tu_get(c, "grad_R"), NULL, NULL, NULL);
            h_backward(&h, R, true);
            free(R);
            float *gx = tu_floats(tu_get(c, "grad_input"), NULL, NULL, NULL);
            snprintf(what, sizeof what, "%s grad_input", key);
            tu_assert_close(h.dx, gx, (size_t)h.in_size, 1e-5, 1e-5, what);
            free(gx);
            json_t *gw = json_object_get(c, "grad_weights");
            for (int i = 0; i < l->nw; i++) {
                float *g = tu_floats(tu_get(gw, l->w[i].name), NULL, NULL, NULL);
                snprintf(what, sizeof what, "%s grad %s", key, l->w[i].name);
                tu_assert_close(l->w[i].grad, g, (size_t)l->w[i].size, 1e-5, 1e-5, what);
                free(g);
            }
            with_grads++;
        }
        h_free(&h);
    }
    /* 9 conv2d + 5 conv1d + 8 maxpool + 7 avgpool + 2 global; 3 conv + 7 pooling with gradients */
    ck_assert_int_eq(tested, 31);
    ck_assert_int_eq(with_grads, 10);
    json_decref(root);
}
END_TEST

/* avgpool2d_p3_s2_same: Keras' torch backend lets replicated edge values into the average; ckeras
 * follows TensorFlow (padded cells never count). Checked against the reference above, and the
 * fixture's own measure of how far the torch result is from TensorFlow's. */
START_TEST(avgpool_same_uneven_is_tensorflow_definition)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    json_t *c = tu_get(root, "cases/avgpool2d_p3_s2_same");
    char *cfg = json_dumps(tu_get(c, "config"), 0);
    ckeras_layer *l = ckeras_layer_from_config("AveragePooling2D", cfg);
    free(cfg);
    size_t nx;
    float *x = tu_floats(tu_get(root, "inputs/x_img/value"), &nx, NULL, NULL);
    harness h;
    h_init(&h, l, &(ck_shape){3, {6, 7, 3}}, 2);
    memcpy(h.x, x, nx * sizeof(float));
    h_forward(&h);
    double *ref = calloc((size_t)h.out_size, sizeof(double));
    int64_t oh, ow;
    ref_pool(false, 2, 6, 7, 3, 3, 3, 2, 2, "same", x, ref, &oh, &ow);
    ck_assert_int_eq(oh, 3);
    ck_assert_int_eq(ow, 4);
    assert_close_d(h.y, ref, h.out_size, 1e-6, "avgpool2d_p3_s2_same (TensorFlow)");
    /* the stored torch-backend output differs from TensorFlow's by the amount the fixture states */
    float *torch = tu_floats(tu_get(c, "output"), NULL, NULL, NULL);
    double md = 0;
    for (int64_t i = 0; i < h.out_size; i++)
        md = fmax(md, fabs((double)h.y[i] - torch[i]));
    double want = tu_number(tu_get(c, "tf_semantics_reference_max_abs_diff"));
    ck_assert_msg(fabs(md - want) < 1e-5, "max |ours - torch| = %g, fixture says TF differs by %g", md, want);
    free(torch);
    free(ref);
    free(x);
    h_fd_check(&h, 1e-2, 1e-3, 1e-3, "avgpool2d_p3_s2_same");
    h_free(&h);
    json_decref(root);
}
END_TEST

/* ---- forward against the direct reference, backward against finite differences ------------------ */

static void conv_case(const conv_cfg *c, int64_t n)
{
    ckeras_layer *l = conv_layer(c);
    ck_shape in = c->rank == 2 ? (ck_shape){3, {c->h, c->w, c->c}} : (ck_shape){2, {c->w, c->c}};
    harness h;
    h_init(&h, l, &in, n);
    fill(h.x, h.in_size, -1, 1);
    fill(l->w[0].data, l->w[0].size, -0.5, 0.5);
    if (c->bias)
        fill(l->w[1].data, l->w[1].size, -0.5, 0.5);
    char what[160];
    snprintf(what, sizeof what, "conv%dd k%lldx%lld s%lldx%lld d%lldx%lld %s bias=%d %s on %lldx%lldx%lld",
             c->rank, (long long)c->kh, (long long)c->kw, (long long)c->sh, (long long)c->sw, (long long)c->dh,
             (long long)c->dw, c->padding, c->bias, c->act ? c->act : "linear", (long long)c->h, (long long)c->w,
             (long long)c->c);
    h_forward(&h);
    double *ref = calloc((size_t)h.out_size, sizeof(double));
    int64_t oh, ow;
    ref_conv(c, n, h.x, l->w[0].data, c->bias ? l->w[1].data : NULL, ref, &oh, &ow);
    if (c->rank == 2) {
        ck_assert_int_eq(l->out_shape.d[0], oh);
        ck_assert_int_eq(l->out_shape.d[1], ow);
    } else {
        ck_assert_int_eq(l->out_shape.d[0], ow);
    }
    ck_assert_int_eq(h.out_size, n * oh * ow * c->filters);
    assert_close_d(h.y, ref, h.out_size, 1e-5, what);
    free(ref);
    h_fd_check(&h, 1e-2, 2e-3, 2e-3, what);
    h_free(&h);
}

START_TEST(conv2d_reference_and_gradients)
{
    static const conv_cfg cases[] = {
        {2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 4, "valid", true, NULL},
        {2, 5, 6, 3, 3, 3, 1, 1, 1, 1, 4, "same", true, NULL},
        {2, 5, 6, 3, 3, 3, 2, 2, 1, 1, 4, "valid", true, NULL},
        {2, 6, 7, 2, 3, 3, 2, 2, 1, 1, 3, "same", true, NULL},
        {2, 6, 7, 2, 2, 2, 1, 1, 1, 1, 3, "same", true, NULL},      /* even kernel: pad right only */
        {2, 6, 7, 2, 4, 2, 2, 1, 1, 1, 3, "same", false, NULL},     /* even/odd mix, no bias */
        {2, 7, 7, 2, 3, 3, 1, 1, 2, 2, 3, "valid", true, NULL},     /* dilation 2 */
        {2, 6, 7, 2, 3, 3, 1, 1, 2, 2, 3, "same", true, "tanh"},    /* dilation 2, same, activation */
        {2, 7, 8, 2, 3, 2, 2, 3, 2, 1, 3, "same", true, NULL},      /* strides and dilation together */
        {2, 4, 5, 3, 1, 1, 1, 1, 1, 1, 5, "valid", true, "sigmoid"}, /* 1x1: plain GEMM */
        {2, 5, 5, 3, 1, 1, 2, 2, 1, 1, 2, "same", false, NULL},     /* 1x1 with stride: im2col */
        {2, 5, 6, 1, 5, 5, 1, 1, 1, 1, 2, "same", true, "tanh"},    /* LeNet-like 5x5 on one channel */
        {2, 4, 5, 2, 4, 5, 1, 1, 1, 1, 2, "valid", true, NULL},     /* window = whole image */
        {2, 5, 6, 17, 3, 3, 1, 1, 1, 1, 20, "same", true, "tanh"},  /* wide: the direct kernels */
        {2, 4, 5, 16, 3, 3, 1, 1, 1, 1, 70, "valid", false, NULL},  /* more than 64 filters */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        conv_case(&cases[i], 2);
}
END_TEST

START_TEST(conv1d_reference_and_gradients)
{
    static const conv_cfg cases[] = {
        {1, 1, 7, 3, 1, 3, 1, 1, 1, 1, 4, "valid", true, NULL},
        {1, 1, 7, 3, 1, 3, 1, 1, 1, 1, 4, "same", true, NULL},
        {1, 1, 7, 3, 1, 3, 1, 1, 1, 1, 4, "causal", true, NULL},
        {1, 1, 7, 3, 1, 3, 1, 1, 1, 2, 4, "causal", true, "tanh"},
        {1, 1, 8, 2, 1, 3, 1, 2, 1, 1, 3, "causal", false, NULL},
        {1, 1, 7, 3, 1, 3, 1, 2, 1, 1, 4, "same", true, NULL},
        {1, 1, 6, 2, 1, 2, 1, 1, 1, 1, 3, "same", true, NULL},
        {1, 1, 6, 3, 1, 1, 1, 1, 1, 1, 2, "valid", true, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        conv_case(&cases[i], 3);
}
END_TEST

typedef struct pool_cfg {
    const char *cls;
    int rank;
    int64_t h, w, c, kh, kw, sh, sw;
    const char *padding;
} pool_cfg;

static void pool_case(const pool_cfg *p, int64_t n)
{
    char cfg[256];
    if (p->rank == 2)
        snprintf(cfg, sizeof cfg, "{\"pool_size\": [%lld, %lld], \"strides\": [%lld, %lld], \"padding\": \"%s\"}",
                 (long long)p->kh, (long long)p->kw, (long long)p->sh, (long long)p->sw, p->padding);
    else
        snprintf(cfg, sizeof cfg, "{\"pool_size\": %lld, \"strides\": %lld, \"padding\": \"%s\"}", (long long)p->kw,
                 (long long)p->sw, p->padding);
    ckeras_layer *l = ckeras_layer_from_config(p->cls, cfg);
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    ck_shape in = p->rank == 2 ? (ck_shape){3, {p->h, p->w, p->c}} : (ck_shape){2, {p->w, p->c}};
    harness h;
    h_init(&h, l, &in, n);
    fill_distinct(h.x, h.in_size, 0.05);
    h_forward(&h);
    double *ref = calloc((size_t)h.out_size, sizeof(double));
    int64_t oh, ow;
    bool max = strstr(p->cls, "Max") != NULL;
    ref_pool(max, n, p->rank == 2 ? p->h : 1, p->w, p->c, p->rank == 2 ? p->kh : 1, p->kw,
             p->rank == 2 ? p->sh : 1, p->sw, p->padding, h.x, ref, &oh, &ow);
    ck_assert_int_eq(h.out_size, n * oh * ow * p->c);
    char what[128];
    snprintf(what, sizeof what, "%s %lldx%lld s%lldx%lld %s", p->cls, (long long)p->kh, (long long)p->kw,
             (long long)p->sh, (long long)p->sw, p->padding);
    assert_close_d(h.y, ref, h.out_size, 1e-6, what);
    free(ref);
    h_fd_check(&h, 1e-2, 1e-3, 1e-3, what);
    h_free(&h);
}

START_TEST(pooling_reference_and_gradients)
{
    static const pool_cfg cases[] = {
        {"MaxPooling2D", 2, 6, 7, 3, 2, 2, 2, 2, "valid"},
        {"MaxPooling2D", 2, 6, 7, 3, 2, 2, 2, 2, "same"},
        {"MaxPooling2D", 2, 6, 7, 3, 3, 3, 2, 2, "same"},
        {"MaxPooling2D", 2, 5, 7, 2, 3, 2, 1, 2, "same"},
        {"AveragePooling2D", 2, 6, 7, 3, 2, 2, 2, 2, "valid"},
        {"AveragePooling2D", 2, 6, 7, 3, 3, 3, 2, 2, "same"},
        {"AveragePooling2D", 2, 5, 7, 2, 3, 2, 1, 2, "same"},
        {"AveragePooling2D", 2, 6, 7, 3, 3, 3, 1, 1, "valid"},
        {"MaxPooling1D", 1, 1, 7, 3, 1, 2, 1, 2, "valid"},
        {"MaxPooling1D", 1, 1, 7, 3, 1, 3, 1, 2, "same"},
        {"AveragePooling1D", 1, 1, 7, 3, 1, 2, 1, 2, "same"},
        {"AveragePooling1D", 1, 1, 8, 3, 1, 3, 1, 1, "same"},
        {"AveragePooling1D", 1, 1, 7, 3, 1, 3, 1, 2, "valid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        pool_case(&cases[i], 2);
}
END_TEST

START_TEST(global_pooling_reference_and_gradients)
{
    static const char *classes[] = {"GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                                    "GlobalMaxPooling1D"};
    for (int k = 0; k < 4; k++) {
        for (int keep = 0; keep < 2; keep++) {
            bool two = strstr(classes[k], "2D") != NULL, max = strstr(classes[k], "Max") != NULL;
            ckeras_layer *l = ckeras_layer_from_config(classes[k], keep ? "{\"keepdims\": true}" : "{}");
            ck_assert_ptr_nonnull(l);
            ck_shape in = two ? (ck_shape){3, {4, 5, 3}} : (ck_shape){2, {6, 3}};
            harness h;
            h_init(&h, l, &in, 2);
            ck_assert_int_eq(l->out_shape.ndim, keep ? in.ndim : 1);
            ck_assert_int_eq(l->out_shape.d[l->out_shape.ndim - 1], 3);
            fill_distinct(h.x, h.in_size, 0.05);
            h_forward(&h);
            int64_t s = two ? 20 : 6;
            for (int64_t b = 0; b < 2; b++)
                for (int64_t c = 0; c < 3; c++) {
                    double acc = max ? -INFINITY : 0;
                    for (int64_t p = 0; p < s; p++) {
                        double v = h.x[(b * s + p) * 3 + c];
                        acc = max ? fmax(acc, v) : acc + v / (double)s;
                    }
                    ck_assert_msg(fabs(h.y[b * 3 + c] - acc) < 1e-6, "%s: %g vs %g", classes[k], h.y[b * 3 + c],
                                  acc);
                }
            h_fd_check(&h, 1e-2, 1e-3, 1e-3, classes[k]);
            h_free(&h);
        }
    }
}
END_TEST

/* Batches large enough to be split across threads give the reference results too. */
START_TEST(pooling_large_batches)
{
    for (int k = 0; k < 2; k++) {
        bool max = k == 0;
        const int64_t n = 8, H = 32, Wd = 31, C = 64;
        ckeras_layer *l = ckeras_layer_from_config(max ? "MaxPooling2D" : "AveragePooling2D",
                                                   "{\"pool_size\": 3, \"strides\": 2, \"padding\": \"same\"}");
        harness h;
        h_init(&h, l, &(ck_shape){3, {H, Wd, C}}, n);
        fill_distinct(h.x, h.in_size, 1e-5);
        h_forward(&h);
        double *ref = calloc((size_t)h.out_size, sizeof(double));
        int64_t oh, ow;
        ref_pool(max, n, H, Wd, C, 3, 3, 2, 2, "same", h.x, ref, &oh, &ow);
        assert_close_d(h.y, ref, h.out_size, 1e-5, max ? "large max pool" : "large avg pool");
        float *R = xcalloc(h.out_size);
        fill(R, h.out_size, -1, 1);
        h_backward(&h, R, true);
        /* reference adjoint: route to the cell equal to the max (values are distinct), or spread
         * over the cells inside the window */
        double *dx = calloc((size_t)h.in_size, sizeof(double));
        int64_t pt = 0, pl = 0, o;
        ref_axis("same", H, 3, 2, 1, &o, &pt);
        ref_axis("same", Wd, 3, 2, 1, &o, &pl);
        for (int64_t i = 0; i < n; i++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++)
                    for (int64_t ch = 0; ch < C; ch++) {
                        int64_t oi = ((i * oh + oy) * ow + ox) * C + ch;
                        int cnt = 0;
                        for (int pass = 0; pass < 2; pass++)
                            for (int64_t iy = oy * 2 - pt; iy < oy * 2 - pt + 3; iy++)
                                for (int64_t ix = ox * 2 - pl; ix < ox * 2 - pl + 3; ix++) {
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= Wd)
                                        continue;
                                    int64_t xi = ((i * H + iy) * Wd + ix) * C + ch;
                                    if (pass == 0)
                                        cnt++;
                                    else if (max && h.x[xi] == (float)ref[oi])
                                        dx[xi] += R[oi];
                                    else if (!max)
                                        dx[xi] += R[oi] / cnt;
                                }
                    }
        assert_close_d(h.dx, dx, h.in_size, 1e-5, max ? "large max pool dx" : "large avg pool dx");
        free(dx);
        free(R);
        free(ref);
        h_free(&h);
    }
}
END_TEST

/* Max pooling routes a tie to the first maximum in window order (row-major). */
START_TEST(maxpool_ties_go_to_the_first)
{
    ckeras_layer *l = ckeras_layer_from_config("MaxPooling2D", "{\"pool_size\": 2}");
    harness h;
    h_init(&h, l, &(ck_shape){3, {2, 2, 1}}, 1);
    for (int i = 0; i < 4; i++)
        h.x[i] = 1.0f;
    h_forward(&h);
    ck_assert(h.y[0] == 1.0f);
    h_backward(&h, (const float[]){3.0f}, true);
    ck_assert(h.dx[0] == 3.0f && h.dx[1] == 0.0f && h.dx[2] == 0.0f && h.dx[3] == 0.0f);
    h_free(&h);
}
END_TEST

/* dx, dW, db of sum(y * dz) for a linear conv, by direct summation (double) */
static void ref_conv_backward(const conv_cfg *c, int64_t n, const float *x, const float *W, const float *dz,
                              double *dx, double *dW, double *db)
{
    int64_t oh, ow, pt, pl;
    ref_axis(c->padding, c->h, c->kh, c->sh, c->dh, &oh, &pt);
    ref_axis(c->padding, c->w, c->kw, c->sw, c->dw, &ow, &pl);
    memset(dx, 0, (size_t)(n * c->h * c->w * c->c) * sizeof(double));
    memset(dW, 0, (size_t)(c->kh * c->kw * c->c * c->filters) * sizeof(double));
    memset(db, 0, (size_t)c->filters * sizeof(double));
    for (int64_t i = 0; i < n; i++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                for (int64_t f = 0; f < c->filters; f++) {
                    double g = dz[((i * oh + oy) * ow + ox) * c->filters + f];
                    db[f] += g;
                    for (int64_t ky = 0; ky < c->kh; ky++)
                        for (int64_t kx = 0; kx < c->kw; kx++) {
                            int64_t iy = oy * c->sh - pt + ky * c->dh, ix = ox * c->sw - pl + kx * c->dw;
                            if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w)
                                continue;
                            for (int64_t ch = 0; ch < c->c; ch++) {
                                int64_t xi = ((i * c->h + iy) * c->w + ix) * c->c + ch;
                                int64_t wi = ((ky * c->kw + kx) * c->c + ch) * c->filters + f;
                                dx[xi] += g * W[wi];
                                dW[wi] += g * x[xi];
                            }
                        }
                }
}

/* A batch whose im2col matrix is larger than one workspace tile is done in tiles of rows (here
 * the boundary falls inside an image); forward and backward equal the direct sums. */
START_TEST(conv_tiles_large_batches)
{
    const conv_cfg c = {2, 12, 12, 32, 3, 3, 1, 1, 1, 1, 5, "same", true, NULL};
    const int64_t n = 16, rows = n * 144, K = 288;
    ckeras_layer *l = conv_layer(&c);
    harness h;
    h_init(&h, l, &(ck_shape){3, {12, 12, 32}}, n);
    int64_t work = l->vt->work_floats(l, n);
    ck_assert_int_eq(work % K, 0);
    ck_assert_msg(work / K < rows && work / K > rows / 2 && (work / K) % 144 != 0,
                  "expected two tiles split inside an image, tile is %lld rows of %lld", (long long)(work / K),
                  (long long)rows);
    fill(h.x, h.in_size, -1, 1);
    fill(l->w[0].data, l->w[0].size, -0.2, 0.2);
    fill(l->w[1].data, 5, -0.2, 0.2);
    h_forward(&h);
    double *ref = calloc((size_t)h.out_size, sizeof(double));
    int64_t oh, ow;
    ref_conv(&c, n, h.x, l->w[0].data, l->w[1].data, ref, &oh, &ow);
    assert_close_d(h.y, ref, h.out_size, 1e-5, "tiled forward");
    float *R = xcalloc(h.out_size);
    fill(R, h.out_size, -1, 1);
    h_backward(&h, R, true);
    double *dx = calloc((size_t)h.in_size, sizeof(double)), *dW = calloc((size_t)l->w[0].size, sizeof(double));
    double db[5];
    ref_conv_backward(&c, n, h.x, l->w[0].data, R, dx, dW, db);
    assert_close_d(h.dx, dx, h.in_size, 1e-5, "tiled dx");
    assert_close_d(l->w[0].grad, dW, l->w[0].size, 1e-5, "tiled dW");
    assert_close_d(l->w[1].grad, db, 5, 1e-5, "tiled db");
    /* without dx the weight gradients are the same */
    memset(l->w[0].grad, 0, (size_t)l->w[0].size * sizeof(float));
    h_backward(&h, R, false);
    assert_close_d(l->w[0].grad, dW, l->w[0].size, 1e-5, "tiled dW without dx");
    free(ref);
    free(dx);
    free(dW);
    free(R);
    h_free(&h);
}
END_TEST

/* ---- configuration and errors ------------------------------------------------------------------ */

START_TEST(config_is_normalised_like_keras)
{
    ckeras_layer *l = ckeras_layer_from_config("Conv2D", "{\"filters\": 2, \"kernel_size\": 3}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {5, 5, 1}}), CKERAS_OK);
    const ck_value *k = ck_cfg_value(&l->cfg, "kernel_size");
    ck_assert(k->n == 2 && k->v[0] == 3 && k->v[1] == 3);
    ck_assert_int_eq(l->w[0].shape.ndim, 4);
    ck_assert_int_eq(l->w[0].shape.d[2], 1);
    ck_assert_int_eq(l->out_shape.d[0], 3);
    ck_layer_free(l);
    l = ckeras_layer_from_config("MaxPooling2D", "{\"pool_size\": 3}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){3, {7, 7, 2}}), CKERAS_OK);
    const ck_value *s = ck_cfg_value(&l->cfg, "strides");
    ck_assert(!s->is_none && s->n == 2 && s->v[0] == 3 && s->v[1] == 3); /* strides default to pool_size */
    ck_assert_int_eq(l->out_shape.d[0], 2);
    ck_layer_free(l);
    l = ckeras_layer_from_config("MaxPooling1D", "{}");
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {9, 2}}), CKERAS_OK);
    ck_assert_int_eq(l->out_shape.d[0], 4);
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
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 5}", &img, CKERAS_ESHAPE, "larger than");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": 2}", &img, CKERAS_ESHAPE,
                       "larger than");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 3}", &(ck_shape){2, {4, 2}}, CKERAS_ESHAPE,
                       "rank 3");
    expect_build_error("Conv1D", "{\"filters\": 2, \"kernel_size\": 3}", &img, CKERAS_ESHAPE, "rank 2");
    expect_build_error("Conv1D", "{\"filters\": 2, \"kernel_size\": 9}", &(ck_shape){2, {8, 2}}, CKERAS_ESHAPE,
                       "larger than");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 3, \"data_format\": \"channels_first\"}", &img,
                       CKERAS_EUNSUPPORTED, "channels_first");
    expect_build_error("Conv2D", "{\"filters\": 3, \"kernel_size\": 3, \"groups\": 2}", &img, CKERAS_EINVAL,
                       "groups");
    expect_build_error("Conv2D", "{\"filters\": 4, \"kernel_size\": 3, \"groups\": 4}", &img, CKERAS_EINVAL,
                       "input channels");
    expect_build_error("Conv3D", "{\"filters\": 2, \"kernel_size\": 3}", &img, CKERAS_ESHAPE, "rank 4");
    expect_build_error("Conv3D", "{\"filters\": 2, \"kernel_size\": [5, 1, 1]}", &(ck_shape){4, {4, 4, 4, 1}},
                       CKERAS_ESHAPE, "larger than");
    expect_build_error("Conv3D", "{\"filters\": 2, \"kernel_size\": 1, \"data_format\": \"channels_first\"}",
                       &(ck_shape){4, {4, 4, 4, 1}}, CKERAS_EUNSUPPORTED, "channels_first");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 3, \"padding\": \"causal\"}", &img,
                       CKERAS_EINVAL, "padding");
    expect_build_error("Conv2D", "{\"filters\": 0, \"kernel_size\": 3}", &img, CKERAS_EINVAL, "filters");
    expect_build_error("Conv2D", "{\"filters\": 2}", &img, CKERAS_EINVAL, "kernel_size");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": [3, 3, 3]}", &img, CKERAS_EINVAL,
                       "kernel_size");
    expect_build_error("Conv2D", "{\"filters\": 2, \"kernel_size\": 3, \"strides\": 0}", &img, CKERAS_EINVAL,
                       "strides");
    expect_build_error("MaxPooling2D", "{\"pool_size\": 5}", &img, CKERAS_ESHAPE, "larger than");
    expect_build_error("AveragePooling2D", "{}", &(ck_shape){2, {4, 2}}, CKERAS_ESHAPE, "rank 3");
    expect_build_error("MaxPooling1D", "{\"data_format\": \"channels_first\"}", &(ck_shape){2, {4, 2}},
                       CKERAS_EUNSUPPORTED, "channels_first");
    expect_build_error("GlobalMaxPooling2D", "{}", &(ck_shape){2, {4, 2}}, CKERAS_ESHAPE, "rank 3");
    expect_build_error("GlobalAveragePooling1D", "{}", &img, CKERAS_ESHAPE, "rank 2");

    /* through the public API: the model refuses the layer with the same error */
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){6, 6})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("Conv2D", "{\"filters\": 2, \"kernel_size\": 3}")),
                     CKERAS_ESHAPE);
    ckeras_model_free(m);
}
END_TEST

/* ---- a small CNN through the public API ----------------------------------------------------- */

/* 8x8 images with one bright bar: class 0 horizontal, class 1 vertical, at a random place, with
 * noise. */
static void bars(int64_t n, ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(4, (const int64_t[]){n, 8, 8, 1});
    *y = ckeras_tensor_new(2, (const int64_t[]){n, 2});
    float *xv = ckeras_tensor_data(*x), *yv = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < n; i++) {
        int cls = (int)(i % 2);
        int pos = (int)(urand() * 8), start = (int)(urand() * 4), len = 4;
        for (int p = 0; p < 64; p++)
            xv[i * 64 + p] = (float)(0.3 * urand());
        for (int k = start; k < start + len; k++) {
            int r = cls ? k : pos, c = cls ? pos : k;
            xv[i * 64 + r * 8 + c] = 1.0f;
        }
        yv[i * 2 + cls] = 1.0f;
        yv[i * 2 + 1 - cls] = 0.0f;
    }
}

static ckeras_model *small_cnn(uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("cnn");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){8, 8, 1})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config(
                                             "Conv2D", "{\"filters\": 4, \"kernel_size\": 3, \"activation\": "
                                                       "\"relu\", \"padding\": \"same\"}")),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("MaxPooling2D", "{\"pool_size\": 2}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "categorical_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

/* The first convolution of a grayscale net (one channel, 6 filters: the pixel-vectorised path),
 * batch 64 at 1 and 2 threads (two threads split the images and add their dW parts): one SGD
 * step (learning rate 1) of mean((x * W + b)^2) against a double-precision dW computed here. */
START_TEST(pixconv_kernel_gradient_threads)
{
    enum { N = 64, H = 28, KS = 5, F = 6, P = 2 };
    float *x = malloc(sizeof(float) * N * H * H);
    ck_assert_ptr_nonnull(x);
    for (int i = 0; i < N * H * H; i++)
        x[i] = (float)((i * 37) % 255) / 255.0f - 0.4f;
    for (int nt = 1; nt <= 2; nt++) {
        ckeras_set_num_threads(nt);
        ckeras_model *m = ckeras_sequential("px");
        ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){H, H, 1})), CKERAS_OK);
        ckeras_layer *l = ckeras_conv2d(F, KS, KS, "linear");
        ck_assert_int_eq(ckeras_layer_set_str(l, "padding", "same"), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_add(m, l), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(1.0, 0.0, 0), "mse", NULL), CKERAS_OK);
        const char *name;
        ckeras_tensor *wv = NULL, *bv = NULL;
        ck_assert_int_eq(ckeras_layer_weight(l, 0, &name, &wv), CKERAS_OK);
        ck_assert_int_eq(ckeras_layer_weight(l, 1, &name, &bv), CKERAS_OK);
        double w0[KS * KS * F], b0[F];
        for (int i = 0; i < KS * KS * F; i++)
            w0[i] = ((const float *)ckeras_tensor_data(wv))[i];
        float *bd = (float *)ckeras_tensor_data(bv); /* a view of the layer's bias: set it */
        for (int f = 0; f < F; f++)
            b0[f] = bd[f] = 0.05f * (float)(f + 1);
        /* dL/dy = 2 y / (N * H * H * F) for mse against zeros; dW[tap][f] = sum x(window) dL/dy */
        static double dw[KS * KS * F], mag[KS * KS * F]; /* mag: sum of |terms|, for the tolerance */
        memset(dw, 0, sizeof dw);
        memset(mag, 0, sizeof mag);
        for (int i = 0; i < N; i++)
            for (int oy = 0; oy < H; oy++)
                for (int ox = 0; ox < H; ox++)
                    for (int f = 0; f < F; f++) {
                        double y = b0[f];
                        for (int t = 0; t < KS * KS; t++) {
                            int iy = oy + t / KS - P, ix = ox + t % KS - P;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < H)
                                y += x[(i * H + iy) * H + ix] * w0[t * F + f];
                        }
                        double g = 2.0 * y / ((double)N * H * H * F);
                        for (int t = 0; t < KS * KS; t++) {
                            int iy = oy + t / KS - P, ix = ox + t % KS - P;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < H) {
                                dw[t * F + f] += x[(i * H + iy) * H + ix] * g;
                                mag[t * F + f] += fabs(x[(i * H + iy) * H + ix] * g);
                            }
                        }
                    }
        float *zeros = calloc(N * H * H * F, sizeof(float));
        ck_assert_ptr_nonnull(zeros);
        ckeras_tensor *tx = ckeras_tensor_wrap(x, 4, (const int64_t[]){N, H, H, 1});
        ckeras_tensor *ty = ckeras_tensor_wrap(zeros, 2, (const int64_t[]){N, H * H * F});
        double r[2];
        ck_assert_int_eq(ckeras_model_train_on_batch(m, tx, ty, r, 1), CKERAS_OK);
        const float *w1 = ckeras_tensor_data(wv);
        for (int e = 0; e < KS * KS * F; e++)
            /* float sums of 50 k terms, and w1 = w0 - dW rounded to w0's ulp (< 6e-8 here) */
            ck_assert_msg(fabs((w0[e] - w1[e]) - dw[e]) <= 2e-6 * mag[e] + 6e-8,
                          "threads %d: dW[%d] = %.9g, want %.9g", nt, e, w0[e] - w1[e], dw[e]);
        ckeras_tensor_free(tx);
        ckeras_tensor_free(ty);
        ckeras_tensor_free(wv);
        ckeras_tensor_free(bv);
        ckeras_model_free(m);
        free(zeros);
    }
    ckeras_set_num_threads(0);
    free(x);
}
END_TEST

START_TEST(small_cnn_learns_bars)
{
    ckeras_tensor *x, *y, *xt, *yt;
    bars(256, &x, &y);
    bars(128, &xt, &yt);
    ckeras_model *m = small_cnn(7);
    int64_t total = 0, trainable = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &trainable, NULL), CKERAS_OK);
    ck_assert_int_eq(total, 3 * 3 * 1 * 4 + 4 + 4 * 4 * 4 * 2 + 2);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 15);
    ckeras_fit_args_set_int(fa, "batch_size", 32);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, NULL), CKERAS_OK);
    double res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, xt, yt, 0, res, 2), CKERAS_OK);
    ck_assert_msg(res[1] > 0.95, "held-out accuracy %g (loss %g)", res[1], res[0]);
    /* predict agrees with evaluate's notion of the classes */
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, xt, 0, &p), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_dim(p, 1), 2);
    ckeras_tensor_free(p);
    /* a training step allocates nothing */
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK);
    uint64_t before = ck_alloc_count();
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, res, 2), CKERAS_OK);
    ck_assert_msg(ck_alloc_count() == before, "%llu allocations in 3 steps",
                  (unsigned long long)(ck_alloc_count() - before));
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(xt);
    ckeras_tensor_free(yt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("conv");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, layers_match_keras);
    tcase_add_test(tc, avgpool_same_uneven_is_tensorflow_definition);
    tcase_add_test(tc, conv2d_reference_and_gradients);
    tcase_add_test(tc, conv1d_reference_and_gradients);
    tcase_add_test(tc, pooling_reference_and_gradients);
    tcase_add_test(tc, global_pooling_reference_and_gradients);
    tcase_add_test(tc, pooling_large_batches);
    tcase_add_test(tc, maxpool_ties_go_to_the_first);
    tcase_add_test(tc, conv_tiles_large_batches);
    tcase_add_test(tc, config_is_normalised_like_keras);
    tcase_add_test(tc, errors_are_reported_at_build);
    tcase_add_test(tc, small_cnn_learns_bars);
    tcase_add_test(tc, pixconv_kernel_gradient_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
