/* Small layers of misc_layers.c and Softmax over other axes: values by hand, gradients by
 * central finite differences (the random layers with their generator reseeded before every
 * forward, so each forward is the same function of x), errors. Keras' own numbers for these are
 * the catalogue's (tests/fixtures/layers/misc). */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a forward with the model's generator seeded the same way every time */
static ck_rng g_rng;

static void fwd(harness *h, bool training)
{
    ck_rng_seed(&g_rng, 99);
    ck_fwd f = {.n = h->n, .x = h->x, .y = h->y, .saved = h->saved, .work = h->work, .training = training,
                .rng = &g_rng};
    h->l->vt->forward(h->l, &f);
}

static void bwd(harness *h, const float *R)
{
    memcpy(h->dy, R, (size_t)h->out_size * sizeof(float));
    ck_bwd b = {.n = h->n, .x = h->x, .y = h->y, .dy = h->dy, .dx = h->dx, .saved = h->saved, .work = h->work};
    h->l->vt->backward(h->l, &b);
}

/* sum(y R) (+ the layer's added loss) after a seeded training forward */
static double loss(harness *h, const float *R)
{
    fwd(h, true);
    double s = 0;
    for (int64_t i = 0; i < h->out_size; i++)
        s += (double)h->y[i] * R[i];
    return s + (h->l->vt->added_loss ? h->l->vt->added_loss(h->l) : 0.0);
}

/* dx against central differences of loss(), for inputs away from kinks (the caller's x) */
static void fd_check(harness *h, double eps, double atol, double rtol, const char *what)
{
    float *R = xcalloc(h->out_size), *dx = xcalloc(h->in_size);
    fill(R, h->out_size, -1, 1);
    fwd(h, true);
    bwd(h, R);
    memcpy(dx, h->dx, (size_t)h->in_size * sizeof(float));
    for (int64_t i = 0; i < h->in_size; i++) {
        const float keep = h->x[i];
        h->x[i] = (float)(keep + eps);
        const double lp = loss(h, R);
        h->x[i] = (float)(keep - eps);
        const double lm = loss(h, R);
        h->x[i] = keep;
        const double num = (lp - lm) / (2 * eps);
        ck_assert_msg(fabs(num - dx[i]) <= atol + rtol * fabs(num), "%s: dx[%lld] %.7g, finite difference %.7g", what,
                      (long long)i, (double)dx[i], num);
    }
    free(R);
    free(dx);
}

/* x uniform in [-2, 2), at least 0.05 from every value of kinks */
static void fill_away(float *x, int64_t n, const float *kinks, int nk)
{
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        do {
            x[i] = (float)(4.0 * urand() - 2.0);
            ok = true;
            for (int k = 0; k < nk; k++)
                ok = ok && fabsf(x[i] - kinks[k]) > 0.05f;
        } while (!ok);
    }
}

static const float kink0[] = {0.0f};

START_TEST(elu_values_and_gradients)
{
    harness h;
    const ck_shape in = h_shape(2, (const int64_t[]){2, 3});
    h_init(&h, h_layer_cfg("ELU", "{\"alpha\": 0.4}"), &in, 2);
    const float x[4] = {-1.0f, 0.0f, 2.0f, -30.0f};
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    const float want[4] = {(float)(0.4 * expm1(-1.0)), 0.0f, 2.0f, -0.4f};
    tu_assert_close(h.y, want, 4, 1e-7, 1e-6, "ELU alpha 0.4");
    /* torch's elu_backward gives alpha at 0 */
    float R[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    bwd(&h, R);
    ck_assert_float_eq_tol(h.dx[1], 0.4f, 1e-7f);
    ck_assert_float_eq_tol(h.dx[0], (float)(0.4 * exp(-1.0)), 1e-7f);
    h_seed(1);
    fill_away(h.x, h.in_size, kink0, 1);
    fd_check(&h, 1e-3, 1e-4, 1e-3, "ELU");
    h_free(&h);
    ckeras_layer *l = h_layer_cfg("ELU", "{}");
    ck_assert(ck_cfg_float(&l->cfg, "alpha") == 1.0);
    ck_layer_free(l);
}
END_TEST

START_TEST(identity_and_repeat_vector)
{
    harness h;
    ck_shape in = h_shape(2, (const int64_t[]){2, 3});
    h_init(&h, h_layer_cfg("Identity", "{}"), &in, 2);
    h_seed(2);
    fill(h.x, h.in_size, -1, 1);
    fwd(&h, true);
    ck_assert(memcmp(h.x, h.y, (size_t)h.in_size * sizeof(float)) == 0);
    fd_check(&h, 1e-3, 1e-4, 1e-3, "Identity");
    h_free(&h);

    in = h_shape(1, (const int64_t[]){3});
    h_init(&h, h_layer_cfg("RepeatVector", "{\"n\": 4}"), &in, 2);
    ck_assert_int_eq(h.l->out_shape.ndim, 2);
    ck_assert_int_eq(h.l->out_shape.d[0], 4);
    ck_assert_int_eq(h.l->out_shape.d[1], 3);
    for (int i = 0; i < 6; i++)
        h.x[i] = (float)i;
    fwd(&h, true);
    for (int s = 0; s < 2; s++)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 3; c++)
                ck_assert(h.y[(s * 4 + r) * 3 + c] == (float)(s * 3 + c));
    fd_check(&h, 1e-3, 1e-4, 1e-3, "RepeatVector");
    h_free(&h);

    ckeras_layer *l = h_layer_cfg("RepeatVector", "{\"n\": 2}");
    in = h_shape(2, (const int64_t[]){2, 3});
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_ESHAPE);
    ck_layer_free(l);
    l = h_layer_cfg("RepeatVector", "{}");
    in = h_shape(1, (const int64_t[]){3});
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_layer_free(l);
}
END_TEST

START_TEST(activity_regularization_penalty_and_gradient)
{
    harness h;
    const ck_shape in = h_shape(1, (const int64_t[]){3});
    h_init(&h, h_layer_cfg("ActivityRegularization", "{\"l1\": 0.1, \"l2\": 0.25}"), &in, 2);
    const float x[6] = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f, -1.0f};
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    ck_assert(memcmp(h.x, h.y, sizeof x) == 0);
    /* 0.1 * 7.5 + 0.25 * (1 + 4 + 0.25 + 9 + 1) */
    ck_assert_double_eq_tol(h.l->vt->added_loss(h.l), 0.75 + 0.25 * 15.25, 1e-9);
    const float R[6] = {0};
    bwd(&h, R);
    const float want[6] = {0.1f + 0.5f, -0.1f - 1.0f, 0.1f + 0.25f, 0.0f, 0.1f + 1.5f, -0.1f - 0.5f};
    tu_assert_close(h.dx, want, 6, 1e-7, 1e-6, "ActivityRegularization dx");
    h_seed(3);
    fill_away(h.x, h.in_size, kink0, 1);
    fd_check(&h, 1e-3, 1e-4, 1e-3, "ActivityRegularization");
    h_free(&h);
    ck_assert_ptr_null(ckeras_layer_from_config("ActivityRegularization", "{\"l1\": -1}")); /* the schema's interval */
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "l1"));
}
END_TEST

/* softmax along an inner axis or consecutive axes against a double reference, and its gradient */
START_TEST(softmax_inner_axes)
{
    static const struct {
        const char *cfg;
        int64_t outer, len, inner; /* per sample, of the (2, 3, 4) input */
    } cases[] = {
        {"{\"axis\": 1}", 1, 2, 12},     {"{\"axis\": -2}", 2, 3, 4},      {"{\"axis\": 2}", 2, 3, 4},
        {"{\"axis\": [1, 2]}", 1, 6, 4}, {"{\"axis\": [-1, -2]}", 2, 12, 1}, {"{\"axis\": [1, 2, 3]}", 1, 24, 1},
    };
    const ck_shape in = h_shape(3, (const int64_t[]){2, 3, 4});
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        h_init(&h, h_layer_cfg("Softmax", cases[c].cfg), &in, 2);
        h_seed(4 + c);
        fill(h.x, h.in_size, -3, 3);
        fwd(&h, true);
        const int64_t O = 2 * cases[c].outer, L = cases[c].len, I = cases[c].inner;
        for (int64_t o = 0; o < O; o++)
            for (int64_t i = 0; i < I; i++) {
                double s = 0;
                for (int64_t j = 0; j < L; j++)
                    s += exp(h.x[(o * L + j) * I + i]);
                for (int64_t j = 0; j < L; j++) {
                    const int64_t e = (o * L + j) * I + i;
                    ck_assert_msg(fabs(h.y[e] - exp(h.x[e]) / s) <= 1e-6, "%s: y[%lld]", cases[c].cfg,
                                  (long long)e);
                }
            }
        fd_check(&h, 1e-2, 1e-4, 2e-3, cases[c].cfg);
        h_free(&h);
    }
}
END_TEST

/* the random layers: identity in inference; in training, their draws and gradients */
START_TEST(noise_and_dropout_variants)
{
    static const struct {
        const char *cls, *cfg;
        int ndim;
        int64_t d[4];
    } cases[] = {
        {"GaussianNoise", "{\"stddev\": 0.3}", 1, {5}},
        {"GaussianDropout", "{\"rate\": 0.4}", 1, {5}},
        {"AlphaDropout", "{\"rate\": 0.2}", 2, {2, 3}},
        {"SpatialDropout1D", "{\"rate\": 0.5}", 2, {4, 3}},
        {"SpatialDropout3D", "{\"rate\": 0.5}", 4, {2, 2, 2, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        const ck_shape in = h_shape(cases[c].ndim, cases[c].d);
        h_init(&h, h_layer_cfg(cases[c].cls, cases[c].cfg), &in, 3);
        h_seed(20 + c);
        fill(h.x, h.in_size, -2, 2);
        fwd(&h, false);
        ck_assert_msg(memcmp(h.x, h.y, (size_t)h.in_size * sizeof(float)) == 0, "%s: inference is not the identity",
                      cases[c].cls);
        fwd(&h, true);
        ck_assert_msg(memcmp(h.x, h.y, (size_t)h.in_size * sizeof(float)) != 0, "%s: training changes nothing",
                      cases[c].cls);
        fd_check(&h, 1e-3, 1e-4, 1e-3, cases[c].cls);
        h_free(&h);
    }
}
END_TEST

/* SpatialDropout keeps or drops whole channels, scaled by 1 / (1 - rate) */
START_TEST(spatial_dropout_drops_channels)
{
    harness h;
    const ck_shape in = h_shape(4, (const int64_t[]){2, 2, 2, 5});
    h_init(&h, h_layer_cfg("SpatialDropout3D", "{\"rate\": 0.5}"), &in, 4);
    for (int64_t i = 0; i < h.in_size; i++)
        h.x[i] = 1.0f;
    fwd(&h, true);
    int kept = 0;
    for (int64_t s = 0; s < 4; s++)
        for (int64_t c = 0; c < 5; c++) {
            const float v = h.y[s * 40 + c];
            ck_assert(v == 0.0f || v == 2.0f);
            kept += v != 0.0f;
            for (int64_t p = 1; p < 8; p++)
                ck_assert(h.y[s * 40 + p * 5 + c] == v);
        }
    ck_assert(kept > 0 && kept < 20);
    h_free(&h);
}
END_TEST

/* AlphaDropout keeps a standard normal's mean 0 and variance 1; GaussianDropout's multiplier has
 * mean 1 and variance rate / (1 - rate) */
START_TEST(dropout_moments)
{
    enum { N = 200000 };
    harness h;
    const ck_shape in = h_shape(1, (const int64_t[]){N});
    h_init(&h, h_layer_cfg("AlphaDropout", "{\"rate\": 0.3}"), &in, 1);
    ck_rng r;
    ck_rng_seed(&r, 5);
    for (int64_t i = 0; i < N; i++)
        h.x[i] = (float)ck_rng_normal(&r);
    fwd(&h, true);
    double m = 0, v = 0;
    for (int64_t i = 0; i < N; i++)
        m += h.y[i];
    m /= N;
    for (int64_t i = 0; i < N; i++)
        v += (h.y[i] - m) * (h.y[i] - m);
    v /= N;
    ck_assert_msg(fabs(m) < 0.01 && fabs(v - 1.0) < 0.02, "AlphaDropout: mean %g, variance %g", m, v);
    h_free(&h);

    h_init(&h, h_layer_cfg("GaussianDropout", "{\"rate\": 0.2}"), &in, 1);
    for (int64_t i = 0; i < N; i++)
        h.x[i] = 1.0f;
    fwd(&h, true);
    m = v = 0;
    for (int64_t i = 0; i < N; i++)
        m += h.y[i];
    m /= N;
    for (int64_t i = 0; i < N; i++)
        v += (h.y[i] - m) * (h.y[i] - m);
    v /= N;
    ck_assert_msg(fabs(m - 1.0) < 0.01 && fabs(v - 0.25) < 0.01, "GaussianDropout: mean %g, variance %g", m, v);
    h_free(&h);
}
END_TEST

START_TEST(category_encoding_values)
{
    harness h;
    ck_shape in = h_shape(1, (const int64_t[]){4});
    h_init(&h, h_layer_cfg("CategoryEncoding", "{\"num_tokens\": 4, \"output_mode\": \"count\"}"), &in, 2);
    const float x[8] = {0, 3, 3, 1, 2, 2, 2, 9}; /* 9: out of range, sets nothing */
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    const float want[8] = {1, 1, 0, 2, 0, 0, 3, 0};
    tu_assert_close(h.y, want, 8, 0, 0, "count");
    const float R[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    bwd(&h, R);
    for (int i = 0; i < 8; i++)
        ck_assert(h.dx[i] == 0.0f);
    h_free(&h);

    h_init(&h, h_layer_cfg("CategoryEncoding", "{\"num_tokens\": 4, \"output_mode\": \"multi_hot\"}"), &in, 2);
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    const float want_mh[8] = {1, 1, 0, 1, 0, 0, 1, 0};
    tu_assert_close(h.y, want_mh, 8, 0, 0, "multi_hot");
    h_free(&h);

    in = h_shape(1, (const int64_t[]){2});
    h_init(&h, h_layer_cfg("CategoryEncoding", "{\"num_tokens\": 3, \"output_mode\": \"one_hot\"}"), &in, 1);
    ck_assert_int_eq(h.l->out_shape.ndim, 2);
    h.x[0] = 2;
    h.x[1] = 0;
    fwd(&h, false);
    const float want_oh[6] = {0, 0, 1, 1, 0, 0};
    tu_assert_close(h.y, want_oh, 6, 0, 0, "one_hot");
    h_free(&h);

    ckeras_layer *l = h_layer_cfg("CategoryEncoding", "{}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_layer_free(l);
    l = h_layer_cfg("CategoryEncoding", "{\"num_tokens\": 3, \"sparse\": true}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "sparse"));
    ck_layer_free(l);
}
END_TEST

START_TEST(discretization_values_and_errors)
{
    harness h;
    const ck_shape in = h_shape(1, (const int64_t[]){6});
    h_init(&h, h_layer_cfg("Discretization", "{\"bin_boundaries\": [-1, 0, 0.5]}"), &in, 1);
    const float x[6] = {-2.0f, -1.0f, -0.5f, 0.0f, 0.7f, 0.5f}; /* np.digitize: b[i-1] <= x < b[i] */
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    const float want[6] = {0, 1, 1, 2, 3, 3};
    tu_assert_close(h.y, want, 6, 0, 0, "Discretization int");
    h_free(&h);

    h_init(&h, h_layer_cfg("Discretization", "{\"bin_boundaries\": [0], \"output_mode\": \"count\"}"), &in, 1);
    memcpy(h.x, x, sizeof x);
    fwd(&h, false);
    const float want_c[2] = {3, 3};
    tu_assert_close(h.y, want_c, 2, 0, 0, "Discretization count");
    h_free(&h);

    ckeras_layer *l = h_layer_cfg("Discretization", "{\"num_bins\": 4}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "adapt"));
    ck_layer_free(l);
    l = h_layer_cfg("Discretization", "{\"bin_boundaries\": [1, 0]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "increasing"));
    ck_layer_free(l);
}
END_TEST

/* glu halves the last axis in the Activation layer and is refused elsewhere; threshold is refused */
START_TEST(activation_layer_glu_and_refusals)
{
    harness h;
    const ck_shape in = h_shape(2, (const int64_t[]){2, 6});
    h_init(&h, h_layer_cfg("Activation", "{\"activation\": \"glu\"}"), &in, 2);
    ck_assert_int_eq(h.l->out_shape.d[1], 3);
    h_seed(8);
    fill(h.x, h.in_size, -2, 2);
    fwd(&h, true);
    for (int64_t r = 0; r < 4; r++)
        for (int j = 0; j < 3; j++) {
            const double a = h.x[r * 6 + j], b = h.x[r * 6 + 3 + j];
            ck_assert(fabs(h.y[r * 3 + j] - a / (1 + exp(-b))) < 1e-6);
        }
    fd_check(&h, 1e-3, 1e-4, 1e-3, "Activation glu");
    h_free(&h);
    const ck_shape odd = h_shape(1, (const int64_t[]){5});
    ckeras_layer *l = h_layer_cfg("Activation", "{\"activation\": \"glu\"}");
    ck_assert_int_eq(ck_layer_build(l, &odd), CKERAS_ESHAPE);
    ck_layer_free(l);
    l = ckeras_layer_from_config("Dense", "{\"units\": 4, \"activation\": \"glu\"}");
    if (l) {
        ck_assert_int_eq(ck_layer_build(l, &odd), CKERAS_EUNSUPPORTED);
        ck_layer_free(l);
    }
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "glu"));
    l = h_layer_cfg("Activation", "{\"activation\": \"threshold\"}");
    ck_assert_int_eq(ck_layer_build(l, &odd), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "threshold"));
    ck_layer_free(l);
}
END_TEST


/* ---- image layers ------------------------------------------------------------------------------ */

/* bilinear, half-pixel centres, from the box [h0, h0 + ch) x [w0, w0 + cw) of x (H, W, 1) */
static double r_bilinear(const float *x, int64_t W, int64_t h0, int64_t w0, int64_t ch, int64_t cw, int64_t oh,
                         int64_t ow, int64_t i, int64_t j)
{
    double sy = ((double)i + 0.5) * (double)ch / (double)oh - 0.5;
    double sx = ((double)j + 0.5) * (double)cw / (double)ow - 0.5;
    double fy = floor(sy), fx = floor(sx);
    int64_t y0 = (int64_t)fy < 0 ? 0 : (int64_t)fy, y1 = (int64_t)ceil(sy) > ch - 1 ? ch - 1 : (int64_t)ceil(sy);
    int64_t x0 = (int64_t)fx < 0 ? 0 : (int64_t)fx, x1 = (int64_t)ceil(sx) > cw - 1 ? cw - 1 : (int64_t)ceil(sx);
    double ly = sy - fy, lx = sx - fx;
#define PX(yy, xx) ((double)x[(h0 + (yy)) * W + w0 + (xx)])
    double top = PX(y0, x0) + (PX(y0, x1) - PX(y0, x0)) * lx, bot = PX(y1, x0) + (PX(y1, x1) - PX(y1, x0)) * lx;
#undef PX
    return top + (bot - top) * ly;
}

START_TEST(random_crop_inference_and_training)
{
    harness h;
    const ck_shape in = h_shape(3, (const int64_t[]){6, 5, 1});
    h_init(&h, h_layer_cfg("RandomCrop", "{\"height\": 4, \"width\": 3}"), &in, 2);
    ck_assert_int_eq(h.l->out_shape.d[0], 4);
    ck_assert_int_eq(h.l->out_shape.d[1], 3);
    h_seed(30);
    fill(h.x, h.in_size, -1, 1);
    /* inference: the centred 6 x 4 window of aspect 4:3 (rows 0-5, columns 0-3), resized */
    fwd(&h, false);
    for (int64_t s = 0; s < 2; s++)
        for (int64_t i = 0; i < 4; i++)
            for (int64_t j = 0; j < 3; j++) {
                const double want = r_bilinear(h.x + s * 30, 5, 0, 0, 6, 4, 4, 3, i, j);
                ck_assert_msg(fabs(h.y[s * 12 + i * 3 + j] - want) < 1e-6, "inference (%lld, %lld): %g, want %g",
                              (long long)i, (long long)j, (double)h.y[s * 12 + i * 3 + j], want);
            }
    fd_check(&h, 1e-3, 1e-4, 1e-3, "RandomCrop training");
    /* training: one window of 4 x 3 for the whole batch */
    fwd(&h, true);
    bool found = false;
    for (int64_t h0 = 0; h0 <= 2 && !found; h0++)
        for (int64_t w0 = 0; w0 <= 2 && !found; w0++) {
            bool all = true;
            for (int64_t s = 0; s < 2; s++)
                for (int64_t i = 0; i < 4; i++)
                    for (int64_t j = 0; j < 3; j++)
                        all = all && h.y[s * 12 + i * 3 + j] == h.x[s * 30 + (h0 + i) * 5 + w0 + j];
            found = all;
        }
    ck_assert_msg(found, "the training output is not one window of the input for the whole batch");
    h_free(&h);
}
END_TEST

/* colorsys' hexcone conversions in double (another formulation than Keras' dm_pix one) */
static void r_rgb_to_hsv(const double *c, double *h, double *s, double *v)
{
    const double mx = fmax(fmax(c[0], c[1]), c[2]), mn = fmin(fmin(c[0], c[1]), c[2]);
    *v = mx;
    if (mx == mn) {
        *h = *s = 0;
        return;
    }
    *s = (mx - mn) / mx;
    const double rc = (mx - c[0]) / (mx - mn), gc = (mx - c[1]) / (mx - mn), bc = (mx - c[2]) / (mx - mn);
    double hh = c[0] == mx ? bc - gc : c[1] == mx ? 2.0 + rc - bc : 4.0 + gc - rc;
    hh /= 6.0;
    *h = hh - floor(hh);
}

static void r_hsv_to_rgb(double h, double s, double v, double *c)
{
    const double h6 = (h - floor(h)) * 6.0;
    const int i = (int)floor(h6) % 6;
    const double f = h6 - floor(h6), p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    const double tab[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
    for (int k = 0; k < 3; k++)
        c[k] = tab[i][k];
}

START_TEST(color_layers)
{
    static const char *const cfgs[][2] = {
        {"RandomBrightness", "{\"factor\": [-0.3, 0.2], \"value_range\": [0, 1]}"},
        {"RandomHue", "{\"factor\": 0.8, \"value_range\": [0, 1]}"},
        {"RandomHue", "{\"factor\": [0.1, 0.9]}"}, /* value_range (0, 255) */
        {"RandomSaturation", "{\"factor\": [0.2, 0.6]}"},
    };
    const ck_shape in = h_shape(3, (const int64_t[]){3, 2, 3});
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        harness h;
        h_init(&h, h_layer_cfg(cfgs[c][0], cfgs[c][1]), &in, 3);
        const bool big = strstr(cfgs[c][1], "value_range") == NULL;
        h_seed(40 + c);
        fill(h.x, h.in_size, big ? 20 : 0.05, big ? 230 : 0.95);
        fwd(&h, false);
        ck_assert_msg(memcmp(h.x, h.y, (size_t)h.in_size * sizeof(float)) == 0, "%s: inference", cfgs[c][1]);
        fwd(&h, true);
        for (int64_t s = 0; s < 3; s++) {
            const double p = h.saved[s];
            for (int64_t px = 0; px < 6; px++) {
                const float *x = h.x + (s * 6 + px) * 3, *y = h.y + (s * 6 + px) * 3;
                double want[3];
                if (c == 0) {
                    ck_assert(p >= -0.3 && p <= 0.2);
                    for (int k = 0; k < 3; k++)
                        want[k] = fmin(fmax(x[k] + p, 0.0), 1.0);
                } else {
                    const double sc = big ? 255.0 : 1.0;
                    double rgb[3] = {x[0] / sc, x[1] / sc, x[2] / sc}, hh, ss, vv;
                    if (c == 3)
                        rgb[0] = x[0], rgb[1] = x[1], rgb[2] = x[2]; /* saturation: raw values */
                    r_rgb_to_hsv(rgb, &hh, &ss, &vv);
                    if (c == 3) {
                        ck_assert(p >= 0.2 / 0.8 - 1e-6 && p <= 0.6 / 0.4 + 1e-6);
                        ss = fmin(fmax(ss * p, 0.0), 255.0);
                    } else {
                        ck_assert(fabs(p) >= (c == 1 ? 0.0 : 0.05) - 1e-7 && fabs(p) <= 0.45 + 1e-7);
                        hh += p;
                    }
                    r_hsv_to_rgb(hh, ss, vv, want);
                    for (int k = 0; c != 3 && k < 3; k++)
                        want[k] = fmin(fmax(want[k], 0.0), 1.0) * sc;
                }
                const double tol = big || c == 3 ? 2e-4 : 2e-6;
                for (int k = 0; k < 3; k++)
                    ck_assert_msg(fabs(y[k] - want[k]) <= tol * (1 + fabs(want[k])), "%s: pixel %lld: %g, want %g",
                                  cfgs[c][1], (long long)px, (double)y[k], want[k]);
            }
        }
        /* hue is piecewise linear, saturation nearly so at ~100: a large step stays accurate, and
         * float outputs of ~100 need it */
        fd_check(&h, big ? 0.25 : 1e-3, big ? 2e-3 : 1e-3, 2e-3, cfgs[c][1]);
        h_free(&h);
    }
    /* errors: factor outside Keras' bounds, value_range, channels */
    ckeras_layer *l = h_layer_cfg("RandomHue", "{\"factor\": [-0.2, 0.3]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_layer_free(l);
    l = h_layer_cfg("RandomBrightness", "{\"factor\": 0.2, \"value_range\": [1, 1]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_layer_free(l);
    l = h_layer_cfg("RandomSaturation", "{\"factor\": 0.2}");
    const ck_shape gray = h_shape(3, (const int64_t[]){3, 2, 1});
    ck_assert_int_eq(ck_layer_build(l, &gray), CKERAS_ESHAPE);
    ck_layer_free(l);
}
END_TEST

/* the penalty joins the model's loss, in evaluate as in Keras (its sum over the batch) */
START_TEST(activity_regularization_in_model_loss)
{
    ckeras_model *m = ckeras_sequential("act_reg");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("ActivityRegularization", "{\"l1\": 0.1, \"l2\": 0.2}")),
                     CKERAS_OK);
    ck_assert_msg(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "mse", NULL) == CKERAS_OK, "%s",
                  ckeras_last_error());
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){4, 2});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){4, 2});
    const float xv[8] = {1, -2, 0.5f, 0, -1, 3, 0.25f, -0.5f}, yv[8] = {0, 1, 1, 0, -1, 2, 0, 0};
    memcpy(ckeras_tensor_data(x), xv, sizeof xv);
    memcpy(ckeras_tensor_data(y), yv, sizeof yv);
    double mse = 0, l1 = 0, l2 = 0;
    for (int i = 0; i < 8; i++) {
        mse += (xv[i] - yv[i]) * (xv[i] - yv[i]) / 8.0;
        l1 += fabs(xv[i]);
        l2 += xv[i] * xv[i];
    }
    double res[1];
    ck_assert_msg(ckeras_model_evaluate(m, x, y, 4, res, 1) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_double_eq_tol(res[0], mse + 0.1 * l1 + 0.2 * l2, 1e-5);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* RandomBrightness and RandomSaturation as Keras 3 saves them (.keras: Keras 3.11 cannot write
 * them to .h5): their keys load, and inference is the identity after the Dense */
START_TEST(color_layers_from_keras_files)
{
    static const char *const names[] = {"random_brightness", "random_saturation"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/misc_keras/%s.keras", names[k]);
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
        ck_assert_int_eq(ckeras_model_layer_count(m), 2);
        ckeras_layer *dense = ckeras_model_layer(m, 0), *rl = ckeras_model_layer(m, 1);
        ck_assert_str_eq(rl->vt->class_name, k == 0 ? "RandomBrightness" : "RandomSaturation");
        ck_assert_double_eq_tol(ck_cfg_float(&rl->cfg, "factor_lower"), k == 0 ? -0.3 : 0.2, 1e-12);
        ck_assert_double_eq_tol(ck_cfg_float(&rl->cfg, "factor"), k == 0 ? 0.1 : 0.6, 1e-12);
        ck_assert_double_eq_tol(ck_cfg_float(&rl->cfg, "value_range_lower"), 0.0, 1e-12);
        ck_assert_double_eq_tol(ck_cfg_float(&rl->cfg, "value_range"), 1.0, 1e-12);
        ck_assert_int_eq(ck_cfg_int(&rl->cfg, "seed"), 5);
        const float *w = dense->w[0].data, *b = dense->w[1].data; /* kernel (3, 3), bias (3) */
        ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){2, 4, 5, 3}), *y = NULL;
        h_seed(50 + k);
        fill(ckeras_tensor_data(x), 120, 0, 1);
        ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
        const float *xv = ckeras_tensor_data(x), *yv = ckeras_tensor_data(y);
        for (int64_t p = 0; p < 40; p++)
            for (int o = 0; o < 3; o++) {
                double want = b[o];
                for (int i = 0; i < 3; i++)
                    want += (double)xv[p * 3 + i] * w[i * 3 + o];
                ck_assert(fabs(yv[p * 3 + o] - want) < 1e-5);
            }
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
        ckeras_model_free(m);
    }
}
END_TEST

/* the colour maps with given parameters against Keras 3's transform_images (color_maps.py) */
START_TEST(color_maps_match_keras)
{
    json_t *root = tu_load_json("misc_keras/color_maps.json");
    json_t *cases = tu_get(root, "cases");
    ck_assert_int_eq((int)json_array_size(cases), 5);
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        const char *cls = json_string_value(json_object_get(cs, "class"));
        json_t *vr = json_object_get(cs, "value_range");
        char cfg[128];
        snprintf(cfg, sizeof cfg, "{\"factor\": 0.5, \"value_range\": [%g, %g]}",
                 json_number_value(json_array_get(vr, 0)), json_number_value(json_array_get(vr, 1)));
        harness h;
        const ck_shape in = h_shape(3, (const int64_t[]){4, 5, 3});
        h_init(&h, h_layer_cfg(cls, cfg), &in, 3);
        size_t nx = 0, ny = 0, np = 0;
        float *x = tu_floats(json_object_get(cs, "x"), &nx, NULL, NULL);
        float *want = tu_floats(json_object_get(cs, "y"), &ny, NULL, NULL);
        float *p = tu_floats(json_object_get(cs, "params"), &np, NULL, NULL);
        ck_assert_uint_eq(nx, 180);
        ck_assert_uint_eq(ny, 180);
        ck_assert_uint_eq(np, 3);
        float y[180];
        for (int s = 0; s < 3; s++)
            ck_color_map(h.l, p[s], x + s * 60, y + s * 60, 20);
        /* float32 HSV round trips on both sides, in a different order of operations */
        const double scale = json_number_value(json_array_get(vr, 1));
        char what[160];
        snprintf(what, sizeof what, "%s %s", cls, cfg);
        tu_assert_close(y, want, 180, 2e-6 * scale, 1e-5, what);
        free(x);
        free(want);
        free(p);
        h_free(&h);
    }
    json_decref(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("misc_layers");
    TCase *tc = tcase_create("misc_layers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, elu_values_and_gradients);
    tcase_add_test(tc, identity_and_repeat_vector);
    tcase_add_test(tc, activity_regularization_penalty_and_gradient);
    tcase_add_test(tc, softmax_inner_axes);
    tcase_add_test(tc, noise_and_dropout_variants);
    tcase_add_test(tc, spatial_dropout_drops_channels);
    tcase_add_test(tc, dropout_moments);
    tcase_add_test(tc, category_encoding_values);
    tcase_add_test(tc, discretization_values_and_errors);
    tcase_add_test(tc, activation_layer_glu_and_refusals);
    tcase_add_test(tc, random_crop_inference_and_training);
    tcase_add_test(tc, color_layers);
    tcase_add_test(tc, activity_regularization_in_model_loss);
    tcase_add_test(tc, color_layers_from_keras_files);
    tcase_add_test(tc, color_maps_match_keras);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
