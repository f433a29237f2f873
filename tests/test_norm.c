/* Normalisation and shape layers: outputs, moving statistics and gradients against Keras 3
 * (keras3-traces/layers.json), every backward against central finite differences, BatchNorm
 * inside fit (moving statistics, frozen layers), SpatialDropout2D, config errors. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a layer on its own, with buffers of our own ------------------------------------------ */

typedef struct harness {
    ckeras_layer *l;
    int64_t n, in_size, out_size; /* per-batch sizes */
    float *w[CK_MAX_WEIGHTS], *g[CK_MAX_WEIGHTS];
    float *saved, *work;
    uint64_t seed;
} harness;

/* Builds l for inputs (n, shape...) and gives it weights from its initialisers. */
static void h_init(harness *h, ckeras_layer *l, int64_t n, int ndim, const int64_t *shape)
{
    memset(h, 0, sizeof *h);
    ck_assert_ptr_nonnull(l);
    h->l = l;
    h->n = n;
    h->seed = 77;
    ck_shape in = {ndim, {0}};
    for (int k = 0; k < ndim; k++)
        in.d[k] = shape[k];
    ck_assert_msg(ck_layer_build(l, &in) == CKERAS_OK, "build: %s", ckeras_last_error());
    h->in_size = n * ck_shape_size(&l->in_shape);
    h->out_size = n * ck_shape_size(&l->out_shape);
    ck_rng r;
    ck_rng_seed(&r, 5);
    for (int i = 0; i < l->nw; i++) {
        ck_weight *w = &l->w[i];
        h->w[i] = calloc((size_t)w->size, sizeof(float));
        const char *spec = w->init_field ? ck_cfg_str(&l->cfg, w->init_field) : w->init_default;
        ck_assert_int_eq(ck_init_fill(spec ? spec : "zeros", h->w[i], &w->shape, &r), CKERAS_OK);
        w->data = h->w[i];
        if (w->trainable && l->trainable) {
            h->g[i] = calloc((size_t)w->size, sizeof(float));
            w->grad = h->g[i];
        }
    }
    int64_t s = l->vt->saved_floats ? l->vt->saved_floats(l, n) : 0;
    int64_t wk = l->vt->work_floats ? l->vt->work_floats(l, n) : 0;
    h->saved = s ? calloc((size_t)s, sizeof(float)) : NULL;
    h->work = calloc((size_t)(wk + 1), sizeof(double)); /* double-aligned */
}

static void h_free(harness *h)
{
    for (int i = 0; i < CK_MAX_WEIGHTS; i++) {
        free(h->w[i]);
        free(h->g[i]);
    }
    free(h->saved);
    free(h->work);
    ck_layer_free(h->l);
}

static void h_forward(harness *h, const float *x, float *y, bool training)
{
    ck_rng r;
    ck_rng_seed(&r, h->seed); /* the same dropout mask every call */
    ck_fwd f = {.n = h->n, .x = x, .y = y, .saved = h->saved, .work = h->work, .training = training, .rng = &r};
    h->l->vt->forward(h->l, &f);
}

/* dx and the weight gradients for dL/dy = dy (dy is copied: the layer may overwrite it) */
static void h_backward(harness *h, const float *x, const float *y, const float *dy, float *dx)
{
    float *d = malloc((size_t)h->out_size * sizeof(float));
    memcpy(d, dy, (size_t)h->out_size * sizeof(float));
    ck_bwd b = {.n = h->n, .x = x, .y = y, .dy = d, .dx = dx, .saved = h->saved, .work = h->work,
                .train_weights = true};
    h->l->vt->backward(h->l, &b);
    free(d);
}

static double h_loss(harness *h, const float *x, const float *R, bool training)
{
    float *y = malloc((size_t)h->out_size * sizeof(float));
    h_forward(h, x, y, training);
    double s = 0.0;
    for (int64_t i = 0; i < h->out_size; i++)
        s += (double)y[i] * R[i];
    free(y);
    return s;
}

static void check_fd(double num, double ana, double tol, const char *what, const char *wrt, int64_t i)
{
    ck_assert_msg(fabs(num - ana) <= tol + 2e-2 * fabs(num), "%s: d/d%s[%lld] = %g, numeric %g", what, wrt,
                  (long long)i, ana, num);
}

/* Central differences of L = sum(y * R) against the backward, for x and every trainable
 * weight. In training mode every evaluation recomputes the batch statistics. */
static void gradcheck(harness *h, float *x, bool training, double step, const char *what)
{
    float *R = malloc((size_t)h->out_size * sizeof(float)), *y = malloc((size_t)h->out_size * sizeof(float));
    float *dx = malloc((size_t)h->in_size * sizeof(float));
    ck_rng r;
    ck_rng_seed(&r, 123);
    for (int64_t i = 0; i < h->out_size; i++)
        R[i] = (float)ck_rng_normal(&r);
    h_forward(h, x, y, training);
    h_backward(h, x, y, R, dx);
    for (int64_t i = 0; i < h->in_size; i++) {
        float keep = x[i];
        x[i] = keep + (float)step;
        double lp = h_loss(h, x, R, training);
        x[i] = keep - (float)step;
        double lm = h_loss(h, x, R, training);
        x[i] = keep;
        check_fd((lp - lm) / (2 * step), dx[i], 2e-3, what, "x", i);
    }
    for (int k = 0; k < h->l->nw; k++) {
        if (!h->g[k])
            continue;
        for (int64_t j = 0; j < h->l->w[k].size; j++) {
            float keep = h->w[k][j];
            h->w[k][j] = keep + (float)step;
            double lp = h_loss(h, x, R, training);
            h->w[k][j] = keep - (float)step;
            double lm = h_loss(h, x, R, training);
            h->w[k][j] = keep;
            check_fd((lp - lm) / (2 * step), h->g[k][j], 2e-3, what, h->l->w[k].name, j);
        }
    }
    free(R);
    free(y);
    free(dx);
}

static float *random_input(int64_t n, uint64_t seed, double mean, double sd)
{
    float *x = malloc((size_t)n * sizeof(float));
    ck_rng r;
    ck_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mean + sd * ck_rng_normal(&r));
    return x;
}

static ckeras_layer *layer_cfg(const char *cls, const char *json)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, json);
    ck_assert_msg(l != NULL, "%s %s: %s", cls, json, ckeras_last_error());
    return l;
}

/* ---- against Keras 3 ----------------------------------------------------------------------- */

/* Keras writes padding/cropping as nested pairs; the schema holds them flattened. */
static void flatten_pairs(json_t *cfg, const char *key)
{
    json_t *v = json_object_get(cfg, key);
    if (!json_is_array(v))
        return;
    json_t *flat = json_array();
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(v, i, a) {
        if (json_is_array(a))
            json_array_foreach(a, j, b) json_array_append(flat, b);
        else
            json_array_append(flat, a);
    }
    json_object_set_new(cfg, key, flat);
}

static void check_against_keras(json_t *root, const char *key, const char *cls)
{
    json_t *c = tu_get(root, "cases");
    c = json_object_get(c, key);
    ck_assert_msg(c != NULL, "no case %s", key);
    json_t *cfg = json_deep_copy(tu_get(c, "config"));
    flatten_pairs(cfg, "padding");
    flatten_pairs(cfg, "cropping");
    char *text = json_dumps(cfg, 0);
    ckeras_layer *l = layer_cfg(cls, text);
    free(text);
    json_decref(cfg);

    char path[128];
    snprintf(path, sizeof path, "inputs/%s/value", json_string_value(tu_get(c, "input")));
    int64_t shape[8];
    int nd = 0;
    size_t nx;
    float *x = tu_floats(tu_get(root, path), &nx, shape, &nd);
    harness h;
    h_init(&h, l, shape[0], nd - 1, shape + 1);
    json_t *ws = tu_get(c, "weights");
    ck_assert_int_eq((int)json_array_size(ws), l->nw);
    for (int i = 0; i < l->nw; i++) {
        ck_assert_str_eq(l->w[i].name, json_string_value(tu_get(json_array_get(ws, (size_t)i), "name")));
        size_t nw;
        float *v = tu_floats(tu_get(json_array_get(ws, (size_t)i), "value"), &nw, NULL, NULL);
        ck_assert_int_eq((int64_t)nw, l->w[i].size);
        memcpy(h.w[i], v, nw * sizeof(float));
        free(v);
    }
    json_t *os = tu_get(c, "output_shape");
    ck_assert_int_eq(l->out_shape.ndim + 1, (int)json_array_size(os));
    for (int k = 0; k < l->out_shape.ndim; k++)
        ck_assert_int_eq(l->out_shape.d[k], json_integer_value(json_array_get(os, (size_t)k + 1)));

    bool training = json_is_true(tu_get(c, "training"));
    size_t ny;
    float *want = tu_floats(tu_get(c, "output"), &ny, NULL, NULL);
    ck_assert_int_eq((int64_t)ny, h.out_size);
    float *y = malloc(ny * sizeof(float));
    h_forward(&h, x, y, training);
    tu_assert_close(y, want, ny, 1e-5, 1e-5, key);
    free(want);

    static const char *const after[2][2] = {{"moving_mean_after", "moving_mean"},
                                            {"moving_variance_after", "moving_variance"}};
    for (int a = 0; a < 2; a++) {
        json_t *m = json_object_get(c, after[a][0]);
        if (!m)
            continue;
        for (int i = 0; i < l->nw; i++) {
            if (strcmp(l->w[i].name, after[a][1]) != 0)
                continue;
            size_t nm;
            float *v = tu_floats(m, &nm, NULL, NULL);
            tu_assert_close(h.w[i], v, nm, 1e-5, 1e-5, after[a][0]);
            free(v);
        }
    }
    json_t *gr = json_object_get(c, "grad_R");
    if (gr) {
        size_t nr;
        float *R = tu_floats(gr, &nr, NULL, NULL);
        float *dx = malloc(nx * sizeof(float));
        h_backward(&h, x, y, R, dx);
        float *gi = tu_floats(tu_get(c, "grad_input"), &nr, NULL, NULL);
        tu_assert_close(dx, gi, nx, 1e-5, 1e-4, "grad_input");
        const char *wn;
        json_t *gv;
        int seen = 0;
        json_object_foreach(tu_get(c, "grad_weights"), wn, gv) {
            for (int i = 0; i < l->nw; i++) {
                if (strcmp(l->w[i].name, wn) != 0)
                    continue;
                size_t ng;
                float *v = tu_floats(gv, &ng, NULL, NULL);
                ck_assert_ptr_nonnull(h.g[i]);
                tu_assert_close(h.g[i], v, ng, 1e-5, 1e-4, wn);
                free(v);
                seen++;
            }
        }
        ck_assert_int_eq(seen, (int)json_object_size(tu_get(c, "grad_weights")));
        free(R);
        free(gi);
        free(dx);
    }
    free(y);
    free(x);
    h_free(&h);
}

START_TEST(batchnorm_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    check_against_keras(root, "batchnorm_inference", "BatchNormalization");
    check_against_keras(root, "batchnorm_training_momentum0.99", "BatchNormalization");
    check_against_keras(root, "batchnorm_training_momentum0.9", "BatchNormalization");
    check_against_keras(root, "batchnorm_rank3_training", "BatchNormalization");
    json_decref(root);
}
END_TEST

START_TEST(layernorm_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    check_against_keras(root, "layernorm", "LayerNormalization");
    check_against_keras(root, "layernorm_rank4", "LayerNormalization");
    json_decref(root);
}
END_TEST

START_TEST(shape_layers_match_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    check_against_keras(root, "zero_padding2d_1", "ZeroPadding2D");
    check_against_keras(root, "zero_padding2d_asym", "ZeroPadding2D");
    check_against_keras(root, "cropping2d", "Cropping2D");
    check_against_keras(root, "upsampling2d_nearest", "UpSampling2D");
    check_against_keras(root, "upsampling2d_nearest_2x3", "UpSampling2D");
    check_against_keras(root, "upsampling2d_bilinear", "UpSampling2D");
    json_decref(root);
}
END_TEST

/* ---- finite differences ---------------------------------------------------------------------- */

START_TEST(batchnorm_gradients)
{
    /* training: batch statistics, recomputed for every perturbed x */
    harness h;
    h_init(&h, layer_cfg("BatchNormalization", "{\"momentum\": 0.9}"), 3, 3, (const int64_t[]){2, 3, 4});
    for (int k = 0; k < 4; k++) {
        h.w[0][k] = 0.5f + 0.3f * (float)k; /* gamma */
        h.w[1][k] = 0.1f * (float)k - 0.2f; /* beta */
    }
    float *x = random_input(h.in_size, 1, 0.5, 1.5);
    gradcheck(&h, x, true, 1e-2, "batchnorm training");
    /* inference: the affine map of the moving statistics */
    for (int k = 0; k < 4; k++) {
        h.w[2][k] = 0.3f * (float)k;
        h.w[3][k] = 0.5f + (float)k;
    }
    gradcheck(&h, x, false, 1e-2, "batchnorm inference");
    free(x);
    h_free(&h);
    /* without gamma and beta, on a rank-2 input */
    h_init(&h, layer_cfg("BatchNormalization", "{\"center\": false, \"scale\": false}"), 5, 1,
           (const int64_t[]){3});
    ck_assert_int_eq(h.l->nw, 2);
    ck_assert_str_eq(h.l->w[0].name, "moving_mean");
    ck_assert(!h.l->w[0].trainable && !h.l->w[1].trainable);
    x = random_input(h.in_size, 2, -1.0, 2.0);
    gradcheck(&h, x, true, 1e-2, "batchnorm no affine");
    free(x);
    h_free(&h);
}
END_TEST

START_TEST(layernorm_gradients)
{
    harness h;
    h_init(&h, layer_cfg("LayerNormalization", "{}"), 2, 2, (const int64_t[]){3, 5});
    ck_assert_int_eq(h.l->w[0].shape.ndim, 1);
    for (int k = 0; k < 5; k++) {
        h.w[0][k] = 1.0f - 0.2f * (float)k;
        h.w[1][k] = 0.05f * (float)k;
    }
    float *x = random_input(h.in_size, 3, 1.0, 2.0);
    gradcheck(&h, x, true, 1e-2, "layernorm");
    free(x);
    h_free(&h);
    /* a trailing block of two axes: gamma (3, 4), statistics over 12 values per sample */
    h_init(&h, layer_cfg("LayerNormalization", "{\"axis\": [-2, -1], \"epsilon\": 1e-5}"), 2, 3,
           (const int64_t[]){2, 3, 4});
    ck_assert_int_eq(h.l->w[0].shape.ndim, 2);
    ck_assert_int_eq(h.l->w[0].shape.d[0], 3);
    x = random_input(h.in_size, 4, 0.0, 1.0);
    float *y = malloc((size_t)h.out_size * sizeof(float));
    h_forward(&h, x, y, false);
    for (int64_t r = 0; r < 4; r++) { /* gamma 1, beta 0: mean 0, variance ~1 per block */
        double s = 0, s2 = 0, m = 0, v = 0;
        for (int k = 0; k < 12; k++)
            m += x[r * 12 + k] / 12.0;
        for (int k = 0; k < 12; k++)
            v += (x[r * 12 + k] - m) * (x[r * 12 + k] - m) / 12.0;
        for (int k = 0; k < 12; k++) {
            double want = (x[r * 12 + k] - m) / sqrt(v + 1e-5);
            ck_assert_msg(fabs(y[r * 12 + k] - want) < 1e-5, "layernorm block [%lld][%d]", (long long)r, k);
            s += y[r * 12 + k];
            s2 += y[r * 12 + k] * y[r * 12 + k];
        }
        ck_assert(fabs(s) < 1e-4 && fabs(s2 / 12 - 1) < 1e-3);
    }
    free(y);
    gradcheck(&h, x, true, 1e-2, "layernorm 2 axes");
    free(x);
    h_free(&h);
}
END_TEST

/* moves values within `gap` of a kink to gap away from it (finite differences need smoothness) */
static void avoid(float *x, int64_t n, float kink, float gap)
{
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i] - kink) < gap)
            x[i] = kink + (x[i] < kink ? -gap : gap);
}

START_TEST(shape_layer_gradients)
{
    static const struct {
        const char *cls, *cfg;
        int ndim;
        int64_t shape[3];
    } cases[] = {
        {"ZeroPadding2D", "{\"padding\": [1, 2, 0, 3]}", 3, {3, 4, 2}},
        {"ZeroPadding2D", "{\"padding\": 2}", 3, {2, 2, 1}},
        {"Cropping2D", "{\"cropping\": [1, 0, 1, 2]}", 3, {4, 5, 2}},
        {"Cropping2D", "{\"cropping\": [1, 1]}", 3, {4, 4, 3}},
        {"UpSampling2D", "{\"size\": [2, 3]}", 3, {2, 3, 2}},
        {"UpSampling2D", "{\"size\": [3, 2], \"interpolation\": \"bilinear\"}", 3, {3, 4, 2}},
        {"SpatialDropout2D", "{\"rate\": 0.5}", 3, {3, 3, 4}},
        {"Reshape", "{\"target_shape\": [-1, 4]}", 2, {3, 4}},
        {"Permute", "{\"dims\": [3, 1, 2]}", 3, {2, 3, 4}},
        {"Rescaling", "{\"scale\": 0.5, \"offset\": -1}", 1, {7}},
        {"ReLU", "{\"max_value\": 1.5, \"negative_slope\": 0.1, \"threshold\": 0.25}", 1, {20}},
        {"LeakyReLU", "{}", 2, {4, 5}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness h;
        h_init(&h, layer_cfg(cases[i].cls, cases[i].cfg), 2, cases[i].ndim, cases[i].shape);
        float *x = random_input(h.in_size, 10 + i, 0.0, 1.0);
        avoid(x, h.in_size, 0.0f, 5e-3f);
        avoid(x, h.in_size, 0.25f, 5e-3f);
        avoid(x, h.in_size, 1.5f, 5e-3f);
        gradcheck(&h, x, true, 1e-3, cases[i].cls);
        free(x);
        h_free(&h);
    }
}
END_TEST

/* ---- elementwise and shape layers against hand computations -------------------------------- */

START_TEST(elementwise_layers_by_hand)
{
    /* LeakyReLU: Keras 3's layer default slope is 0.3 ([-3, -1, 0, 2] -> [-0.9, -0.3, 0, 2]) */
    const float x[4] = {-3.0f, -1.0f, 0.0f, 2.0f};
    float y[4];
    harness h;
    h_init(&h, layer_cfg("LeakyReLU", "{}"), 1, 1, (const int64_t[]){4});
    h_forward(&h, x, y, false);
    const float leaky[4] = {-0.9f, -0.3f, 0.0f, 2.0f};
    tu_assert_close(y, leaky, 4, 1e-7, 1e-6, "LeakyReLU default");
    h_free(&h);
    h_init(&h, layer_cfg("LeakyReLU", "{\"alpha\": 0.1}"), 1, 1, (const int64_t[]){4}); /* Keras 2 name */
    h_forward(&h, x, y, false);
    const float leaky01[4] = {-0.3f, -0.1f, 0.0f, 2.0f};
    tu_assert_close(y, leaky01, 4, 1e-7, 1e-6, "LeakyReLU alpha");
    h_free(&h);
    /* ReLU(max_value=1.5, negative_slope=0.5, threshold=0.5):
     * x > 0.5 -> min(x, 1.5); else 0.5 * (x - 0.5) */
    const float xr[6] = {-1.0f, 0.25f, 0.5f, 1.0f, 1.5f, 3.0f};
    const float relu[6] = {-0.75f, -0.125f, 0.0f, 1.0f, 1.5f, 1.5f};
    float yr[6];
    h_init(&h, layer_cfg("ReLU", "{\"max_value\": 1.5, \"negative_slope\": 0.5, \"threshold\": 0.5}"), 1, 1,
           (const int64_t[]){6});
    h_forward(&h, xr, yr, false);
    tu_assert_close(yr, relu, 6, 1e-7, 1e-6, "ReLU");
    h_free(&h);
    h_init(&h, layer_cfg("ReLU", "{}"), 1, 1, (const int64_t[]){6});
    h_forward(&h, xr, yr, false);
    const float plain[6] = {0.0f, 0.25f, 0.5f, 1.0f, 1.5f, 3.0f};
    tu_assert_close(yr, plain, 6, 0, 0, "ReLU default");
    h_free(&h);
    /* Rescaling(1/127.5, offset=-1): [0, 255] -> [-1, 1] */
    const float px[3] = {0.0f, 127.5f, 255.0f}, want[3] = {-1.0f, 0.0f, 1.0f};
    float py[3];
    h_init(&h, layer_cfg("Rescaling", "{\"scale\": 0.00784313725490196, \"offset\": -1.0}"), 1, 1,
           (const int64_t[]){3});
    h_forward(&h, px, py, false);
    tu_assert_close(py, want, 3, 1e-6, 0, "Rescaling");
    h_free(&h);
    /* Permute((2, 1)) of a 2 x 3 sample is its transpose */
    const float m[6] = {1, 2, 3, 4, 5, 6}, mt[6] = {1, 4, 2, 5, 3, 6};
    float o[6];
    h_init(&h, layer_cfg("Permute", "{\"dims\": [2, 1]}"), 1, 2, (const int64_t[]){2, 3});
    ck_assert_int_eq(h.l->out_shape.d[0], 3);
    h_forward(&h, m, o, false);
    tu_assert_close(o, mt, 6, 0, 0, "Permute");
    h_free(&h);
    /* Reshape((-1, 2)) of 12 values: (6, 2), data unchanged */
    h_init(&h, layer_cfg("Reshape", "{\"target_shape\": [-1, 2]}"), 1, 3, (const int64_t[]){2, 3, 2});
    ck_assert_int_eq(h.l->out_shape.ndim, 2);
    ck_assert_int_eq(h.l->out_shape.d[0], 6);
    ck_assert_int_eq(h.l->out_shape.d[1], 2);
    h_free(&h);
}
END_TEST

/* SpatialDropout2D drops whole channels of a sample: every (sample, channel) plane is all 0 or
 * all x / (1 - rate); about rate of the planes go; inference is the identity. */
START_TEST(spatial_dropout_drops_whole_channels)
{
    harness h;
    const int64_t n = 50, c = 40;
    h_init(&h, layer_cfg("SpatialDropout2D", "{\"rate\": 0.3}"), n, 3, (const int64_t[]){3, 2, c});
    float *x = random_input(h.in_size, 8, 2.0, 0.5);
    for (int64_t i = 0; i < h.in_size; i++)
        x[i] = fabsf(x[i]) + 0.1f; /* never 0 */
    float *y = malloc((size_t)h.in_size * sizeof(float));
    h_forward(&h, x, y, true);
    int dropped = 0;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t k = 0; k < c; k++) {
            bool zero = y[(b * 6) * c + k] == 0.0f;
            dropped += zero;
            for (int64_t p = 0; p < 6; p++) {
                int64_t i = (b * 6 + p) * c + k;
                if (zero)
                    ck_assert_msg(y[i] == 0.0f, "sample %lld channel %lld partly dropped", (long long)b,
                                  (long long)k);
                else
                    ck_assert(fabsf(y[i] - x[i] / 0.7f) < 1e-5f);
            }
        }
    }
    /* binomial(2000, 0.3): mean 600, sd 20.5 */
    ck_assert_int_gt(dropped, 600 - 100);
    ck_assert_int_lt(dropped, 600 + 100);
    h_forward(&h, x, y, false);
    ck_assert_int_eq(memcmp(x, y, (size_t)h.in_size * sizeof(float)), 0);
    free(x);
    free(y);
    h_free(&h);
}
END_TEST

/* ---- BatchNormalization in a model -------------------------------------------------------------- */

static int find_weight(ckeras_layer *l, const char *name)
{
    for (int i = 0; i < l->nw; i++)
        if (strcmp(l->w[i].name, name) == 0)
            return i;
    ck_abort_msg("no weight %s", name);
    return -1;
}

/* Dense(3) - BatchNormalization(momentum 0.9) - relu - Dense(1) trained with fit: the loss
 * goes down and the moving statistics end near the statistics of the Dense outputs on the
 * data (biased variance), far from their initial (0, 1). */
START_TEST(batchnorm_trains_in_fit)
{
    ckeras_set_random_seed(3);
    const int64_t ns = 256;
    float *xv = random_input(ns * 4, 21, 5.0, 3.0), *yv = malloc(ns * sizeof(float));
    for (int64_t i = 0; i < ns; i++)
        yv[i] = 0.1f * (xv[i * 4] - xv[i * 4 + 1]) + 0.05f * xv[i * 4 + 2];
    ckeras_tensor *x = ckeras_tensor_copy(xv, 2, (const int64_t[]){ns, 4});
    ckeras_tensor *y = ckeras_tensor_copy(yv, 2, (const int64_t[]){ns, 1});
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})), CKERAS_OK);
    ckeras_layer *dense = ckeras_dense(3, NULL);
    ck_assert_int_eq(ckeras_model_add(m, dense), CKERAS_OK);
    ckeras_layer *bn = layer_cfg("BatchNormalization", "{\"momentum\": 0.9}");
    ck_assert_int_eq(ckeras_model_add(m, bn), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_activation("relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.01, 0.0, 0), "mean_squared_error", NULL), CKERAS_OK);
    /* Keras counts: gamma, beta trainable; moving statistics not */
    ck_assert_int_eq(ck_layer_param_count(bn, true), 6);
    ck_assert_int_eq(ck_layer_param_count(bn, false), 12);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 12);
    ckeras_fit_args_set_int(a, "batch_size", 32);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_history *hist = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &hist) == CKERAS_OK, "%s", ckeras_last_error());
    const double *loss;
    int ne;
    ck_assert_int_eq(ckeras_history_values(hist, "loss", &loss, &ne), CKERAS_OK);
    ck_assert_msg(loss[ne - 1] < 0.7 * loss[0], "loss %g -> %g", loss[0], loss[ne - 1]);
    /* statistics of z = x W + b with the final Dense weights */
    const float *W = dense->w[0].data, *bias = dense->w[1].data;
    const float *mm = bn->w[find_weight(bn, "moving_mean")].data;
    const float *mv = bn->w[find_weight(bn, "moving_variance")].data;
    bool far_from_init = false;
    for (int u = 0; u < 3; u++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < ns; i++) {
            double z = bias[u];
            for (int k = 0; k < 4; k++)
                z += (double)xv[i * 4 + k] * W[k * 3 + u];
            s += z;
            s2 += z * z;
        }
        double mean = s / ns, var = s2 / ns - mean * mean;
        far_from_init |= fabs(mean) > 1.0 || fabs(var - 1.0) > 1.0;
        ck_assert_msg(fabs(mm[u] - mean) < 0.25 * sqrt(var) + 0.05, "unit %d: moving_mean %g, data mean %g", u,
                      (double)mm[u], mean);
        ck_assert_msg(fabs(mv[u] - var) < 0.25 * var + 0.05, "unit %d: moving_variance %g, data variance %g", u,
                      (double)mv[u], var);
    }
    ck_assert(far_from_init); /* else the test could not tell moved statistics from initial ones */
    ckeras_history_free(hist);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    free(xv);
    free(yv);
}
END_TEST

/* A frozen BatchNormalization (trainable = false) normalises with its moving statistics even
 * in training, and fit changes none of its weights. */
START_TEST(frozen_batchnorm_runs_in_inference_mode)
{
    ckeras_set_random_seed(4);
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ckeras_layer *bn = layer_cfg("BatchNormalization", "{}");
    ck_assert_int_eq(ckeras_model_add(m, bn), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    const float vals[4][3] = {{1.5f, 0.5f, 2.0f}, {0.1f, -0.2f, 0.3f}, {1.0f, 2.0f, 3.0f}, {4.0f, 5.0f, 6.0f}};
    for (int i = 0; i < 4; i++)
        memcpy(bn->w[i].data, vals[i], sizeof vals[i]);
    ck_assert_int_eq(ckeras_layer_set_trainable(bn, 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "mean_squared_error", NULL), CKERAS_OK);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(bn->w[i].grad);
        ck_assert_int_eq(memcmp(bn->w[i].data, vals[i], sizeof vals[i]), 0);
    }
    /* a training forward of the graph: the BN node's output uses the moving statistics */
    const int64_t n = 8;
    float *xv = random_input(n * 3, 31, 10.0, 4.0), yv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, (const int64_t[]){1}), CKERAS_OK);
    memcpy(m->plan.x[0], xv, n * 3 * sizeof(float));
    ck_graph_forward(&m->g, &m->plan, n, true, &m->rng);
    int node = -1;
    for (int i = 0; i < m->g.n; i++)
        if (m->g.nodes[i].layer == bn)
            node = i;
    ck_assert_int_ge(node, 0);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            double want = vals[0][k] * (xv[i * 3 + k] - vals[2][k]) / sqrt(vals[3][k] + 1e-3) + vals[1][k];
            ck_assert_msg(fabs(m->plan.act[node][i * 3 + k] - want) < 1e-5, "frozen BN output [%lld][%d]",
                          (long long)i, k);
        }
    ckeras_tensor *x = ckeras_tensor_copy(xv, 2, (const int64_t[]){n, 3});
    ckeras_tensor *y = ckeras_tensor_copy(yv, 2, (const int64_t[]){n, 1});
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 3);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(memcmp(bn->w[i].data, vals[i], sizeof vals[i]) == 0, "frozen BN weight %s changed",
                      bn->w[i].name);
    /* unfrozen (and recompiled), the same fit moves the statistics */
    ck_assert_int_eq(ckeras_layer_set_trainable(bn, 1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "mean_squared_error", NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    ck_assert(memcmp(bn->w[2].data, vals[2], sizeof vals[2]) != 0);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    free(xv);
}
END_TEST

/* ---- errors ---------------------------------------------------------------------------------- */

static void expect_build_error(const char *cls, const char *cfg, int ndim, const int64_t *shape,
                               ckeras_status code, const char *needle)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, cfg);
    if (!l && code == CKERAS_EINVAL) { /* a value out of the schema's range is refused as early as the config */
        ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "%s %s: message '%s' lacks '%s'", cls, cfg,
                      ckeras_last_error(), needle);
        return;
    }
    ck_assert_msg(l != NULL, "%s %s: %s", cls, cfg, ckeras_last_error());
    ck_shape in = {ndim, {0}};
    for (int k = 0; k < ndim; k++)
        in.d[k] = shape[k];
    ckeras_status st = ck_layer_build(l, &in);
    ck_assert_msg(st == code, "%s %s: status %d, want %d (%s)", cls, cfg, st, code, ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "%s %s: message '%s' lacks '%s'", cls, cfg,
                  ckeras_last_error(), needle);
    ck_layer_free(l);
}

START_TEST(bad_configs_are_errors)
{
    const int64_t img[3] = {4, 4, 2}, vec[1] = {12};
    expect_build_error("BatchNormalization", "{\"epsilon\": -1}", 3, img, CKERAS_EINVAL, "epsilon");
    expect_build_error("BatchNormalization", "{\"momentum\": 1.5}", 3, img, CKERAS_EINVAL, "momentum");
    expect_build_error("BatchNormalization", "{\"renorm\": true}", 3, img, CKERAS_EUNSUPPORTED, "renorm");
    expect_build_error("BatchNormalization", "{\"synchronized\": true}", 3, img, CKERAS_EUNSUPPORTED, "synchronized");
    expect_build_error("BatchNormalization", "{\"axis\": -4}", 3, img, CKERAS_EINVAL, "axis");
    expect_build_error("BatchNormalization", "{\"axis\": 7}", 3, img, CKERAS_EINVAL, "axis");
    expect_build_error("BatchNormalization", "{\"gamma_initializer\": \"onez\"}", 3, img, CKERAS_EINVAL,
                       "gamma_initializer");
    expect_build_error("BatchNormalization", "{\"gamma_regularizer\": \"l3\"}", 3, img, CKERAS_EINVAL,
                       "gamma_regularizer");
    expect_build_error("LayerNormalization", "{\"epsilon\": 0}", 3, img, CKERAS_EINVAL, "epsilon");
    expect_build_error("LayerNormalization", "{\"axis\": [1, -3]}", 3, img, CKERAS_EINVAL, "twice");
    expect_build_error("LayerNormalization", "{\"axis\": [0]}", 3, img, CKERAS_EINVAL, "axis");
    expect_build_error("ZeroPadding2D", "{\"padding\": [1, -1]}", 3, img, CKERAS_EINVAL, "padding");
    expect_build_error("ZeroPadding2D", "{\"padding\": [1, 2, 3]}", 3, img, CKERAS_EINVAL, "padding");
    expect_build_error("ZeroPadding2D", "{}", 1, vec, CKERAS_ESHAPE, "ZeroPadding2D");
    expect_build_error("Cropping2D", "{\"cropping\": [-1, 0]}", 3, img, CKERAS_EINVAL, "cropping");
    expect_build_error("Cropping2D", "{\"cropping\": [2, 2, 0, 0]}", 3, img, CKERAS_ESHAPE, "cropping");
    expect_build_error("UpSampling2D", "{\"size\": [0, 2]}", 3, img, CKERAS_EINVAL, "size");
    expect_build_error("UpSampling2D", "{\"interpolation\": \"cubic\"}", 3, img, CKERAS_EINVAL, "interpolation");
    expect_build_error("UpSampling2D", "{\"interpolation\": \"bicubic\"}", 3, img, CKERAS_EUNSUPPORTED,
                       "interpolation");
    expect_build_error("SpatialDropout2D", "{\"rate\": 1.5}", 3, img, CKERAS_EINVAL, "rate");
    expect_build_error("SpatialDropout2D", "{}", 3, img, CKERAS_EINVAL, "rate");
    expect_build_error("ReLU", "{\"max_value\": -1}", 1, vec, CKERAS_EINVAL, "max_value");
    expect_build_error("ReLU", "{\"negative_slope\": -0.1}", 1, vec, CKERAS_EINVAL, "negative_slope");
    expect_build_error("ReLU", "{\"threshold\": -2}", 1, vec, CKERAS_EINVAL, "threshold");
    expect_build_error("LeakyReLU", "{\"negative_slope\": -0.3}", 1, vec, CKERAS_EINVAL, "negative_slope");
    expect_build_error("Rescaling", "{}", 1, vec, CKERAS_EINVAL, "scale");
    expect_build_error("Reshape", "{\"target_shape\": [5, -1]}", 1, vec, CKERAS_ESHAPE, "target_shape");
    expect_build_error("Reshape", "{\"target_shape\": [3, 5]}", 1, vec, CKERAS_ESHAPE, "target_shape");
    expect_build_error("Reshape", "{\"target_shape\": [-1, -1]}", 1, vec, CKERAS_EINVAL, "target_shape");
    expect_build_error("Reshape", "{\"target_shape\": [0, 12]}", 1, vec, CKERAS_EINVAL, "target_shape");
    expect_build_error("Permute", "{\"dims\": [1, 1, 2]}", 3, img, CKERAS_EINVAL, "dims");
    expect_build_error("Permute", "{\"dims\": [1, 2]}", 3, img, CKERAS_EINVAL, "dims");
    /* and through the public API: an incompatible Reshape cannot join a model */
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, vec)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, layer_cfg("Reshape", "{\"target_shape\": [7, 2]}")), CKERAS_ESHAPE);
    ck_assert_int_eq(ckeras_model_add(m, layer_cfg("Reshape", "{\"target_shape\": [3, 2, 2]}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, layer_cfg("ZeroPadding2D", "{\"padding\": [1, 0]}")), CKERAS_OK);
    const ck_shape *os = ck_model_output_shape(m); /* (3, 2, 2) padded by one row each side */
    ck_assert_int_eq(os->ndim, 3);
    ck_assert_int_eq(os->d[0], 5);
    ck_assert_int_eq(os->d[1], 2);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("norm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, batchnorm_matches_keras);
    tcase_add_test(tc, layernorm_matches_keras);
    tcase_add_test(tc, shape_layers_match_keras);
    tcase_add_test(tc, batchnorm_gradients);
    tcase_add_test(tc, layernorm_gradients);
    tcase_add_test(tc, shape_layer_gradients);
    tcase_add_test(tc, elementwise_layers_by_hand);
    tcase_add_test(tc, spatial_dropout_drops_whole_channels);
    tcase_add_test(tc, batchnorm_trains_in_fit);
    tcase_add_test(tc, frozen_batchnorm_runs_in_inference_mode);
    tcase_add_test(tc, bad_configs_are_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
