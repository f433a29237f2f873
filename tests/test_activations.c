/* Activations: forward and backward against Keras 3's own numbers (activations.json), against
 * double-precision reference formulas, and against central finite differences of those. */
#include "kernels/kernels.h"
#include "kernels/mathf.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- double-precision references, written from the definitions ---------------------------- */

#define R_SELU_ALPHA 1.6732632423543772848170429916717
#define R_SELU_SCALE 1.0507009873554804934193349852946

static double r_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static double r_elem(const ck_act *a, double v)
{
    switch (a->kind) {
    case CK_ACT_LINEAR: return v;
    case CK_ACT_RELU: return v > 0 ? v : 0;
    case CK_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case CK_ACT_TANH: return tanh(v);
    case CK_ACT_ELU: return v > 0 ? v : expm1(v);
    case CK_ACT_SELU: return R_SELU_SCALE * (v > 0 ? v : R_SELU_ALPHA * expm1(v));
    case CK_ACT_LEAKY_RELU: return v > 0 ? v : a->alpha * v;
    case CK_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case CK_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case CK_ACT_SILU: return v / (1.0 + exp(-v));
    case CK_ACT_SOFTPLUS: return log1p(exp(v));
    case CK_ACT_SOFTSIGN: return v / (1.0 + fabs(v));
    case CK_ACT_HARD_SIGMOID: return r_clamp(v + 3.0, 0.0, 6.0) / 6.0;
    case CK_ACT_HARD_SIGMOID_K2: return r_clamp(0.2 * v + 0.5, 0.0, 1.0);
    case CK_ACT_HARD_SILU: return v * r_clamp(v + 3.0, 0.0, 6.0) / 6.0;
    case CK_ACT_EXPONENTIAL: return exp(v);
    case CK_ACT_RELU6: return r_clamp(v, 0.0, 6.0);
    case CK_ACT_MISH: return v * tanh(log1p(exp(v)));
    case CK_ACT_CELU: return v > 0 ? v : a->alpha * expm1(v / a->alpha);
    case CK_ACT_HARD_TANH: return r_clamp(v, -1.0, 1.0);
    case CK_ACT_LOG_SIGMOID: return -log1p(exp(-v));
    case CK_ACT_SPARSE_PLUS: return v <= -1 ? 0 : v < 1 ? 0.25 * (v + 1) * (v + 1) : v;
    case CK_ACT_SPARSE_SIGMOID: return r_clamp(0.5 * (v + 1), 0.0, 1.0);
    case CK_ACT_SQUAREPLUS: return 0.5 * (v + sqrt(v * v + a->alpha));
    case CK_ACT_TANH_SHRINK: return v - tanh(v);
    case CK_ACT_SOFT_SHRINK: return v > a->alpha ? v - a->alpha : v < -a->alpha ? v + a->alpha : 0;
    case CK_ACT_HARD_SHRINK: return fabs(v) > a->alpha ? v : 0;
    default: ck_abort_msg("r_elem: kind %d is not elementwise", (int)a->kind); return 0;
    }
}

/* Keras 3.11's sparsemax of one row in double (its tau sums the cumulative sums over the
 * support: activations.c), by an explicit sort */
static void r_sparsemax(const double *x, double *y, int n)
{
    double z[64];
    for (int i = 0; i < n; i++)
        z[i] = x[i];
    for (int i = 1; i < n; i++) /* insertion sort, decreasing */
        for (int j = i; j > 0 && z[j] > z[j - 1]; j--) {
            double t = z[j];
            z[j] = z[j - 1];
            z[j - 1] = t;
        }
    double c = 0, s = 0;
    int k = 0;
    for (int p = 0; p < n; p++) {
        c += z[p];
        if (z[p] - (c - 1) / (p + 1) > 0) {
            k++;
            s += c;
        }
    }
    double tau = (s - 1) / k;
    for (int i = 0; i < n; i++)
        y[i] = x[i] - tau > 0 ? x[i] - tau : 0;
}

/* outputs per row: cols, or cols / 2 for glu */
static int r_out_cols(const ck_act *a, int cols)
{
    return a->kind == CK_ACT_GLU ? cols / 2 : cols;
}

/* y = f(x) in double, rows x cols in, rows x r_out_cols out */
static void r_forward(const ck_act *a, const double *x, double *y, int rows, int cols)
{
    const int oc = r_out_cols(a, cols);
    for (int r = 0; r < rows; r++) {
        const double *xr = x + r * cols;
        double *yr = y + r * oc;
        if (a->kind == CK_ACT_SOFTMAX || a->kind == CK_ACT_LOG_SOFTMAX) {
            double s = 0;
            for (int j = 0; j < cols; j++)
                s += exp(xr[j]);
            for (int j = 0; j < cols; j++)
                yr[j] = a->kind == CK_ACT_SOFTMAX ? exp(xr[j]) / s : xr[j] - log(s);
        } else if (a->kind == CK_ACT_SPARSEMAX) {
            r_sparsemax(xr, yr, cols);
        } else if (a->kind == CK_ACT_GLU) {
            for (int j = 0; j < oc; j++)
                yr[j] = xr[j] / (1.0 + exp(-xr[oc + j]));
        } else {
            for (int j = 0; j < cols; j++)
                yr[j] = r_elem(a, xr[j]);
        }
    }
}

/* sum(w * f(x)) in double */
static double r_loss(const ck_act *a, const double *x, const double *w, int rows, int cols)
{
    double y[64], s = 0;
    ck_assert(rows * cols <= 64);
    r_forward(a, x, y, rows, cols);
    for (int i = 0; i < rows * r_out_cols(a, cols); i++)
        s += w[i] * y[i];
    return s;
}

/* The activation kinds with their Keras default parameter. */
static ck_act default_act(int k)
{
    ck_act a = {(ck_act_kind)k, 0.0f};
    ck_assert_int_eq(ck_act_parse_any(ck_act_name(&a), &a), CKERAS_OK);
    a.kind = (ck_act_kind)k; /* gelu approximate and Keras 2's hard_sigmoid share a name */
    return a;
}

/* ---- Keras 3 fixtures --------------------------------------------------------------------- */

/* The activation a fixture key stands for. */
static ck_act fixture_act(const char *key)
{
    if (strcmp(key, "leaky_relu_0.3") == 0)
        return (ck_act){CK_ACT_LEAKY_RELU, 0.3f};
    if (strcmp(key, "gelu_approximate") == 0)
        return (ck_act){CK_ACT_GELU_TANH, 0.0f};
    ck_act a;
    ck_assert_msg(ck_act_parse(key, &a) == CKERAS_OK, "fixture key %s: %s", key, ckeras_last_error());
    return a;
}

START_TEST(keras_fixtures_forward_and_backward)
{
    json_t *root = tu_load_json("keras3-traces/activations.json");
    int64_t shape[8];
    int nd = 0;
    size_t n = 0, nw = 0;
    float *x = tu_floats(tu_get(root, "x"), &n, shape, &nd);
    float *w = tu_floats(tu_get(root, "w"), &nw, NULL, NULL);
    ck_assert_int_eq(nd, 2);
    ck_assert_uint_eq(n, 16);
    ck_assert_uint_eq(nw, n);
    const int64_t rows = shape[0], cols = shape[1];
    bool covered[CK_ACT_COUNT] = {false};
    int n_keys = 0;

    json_t *results = tu_get(root, "results");
    const char *key;
    json_t *res;
    json_object_foreach(results, key, res) {
        ck_act a = fixture_act(key);
        covered[a.kind] = true;
        n_keys++;
        char what[128];
        size_t ny = 0, ng = 0;
        float *want_y = tu_floats(tu_get(res, "output"), &ny, NULL, NULL);
        float *want_g = tu_floats(tu_get(res, "grad"), &ng, NULL, NULL);
        ck_assert_uint_eq(ny, n);
        ck_assert_uint_eq(ng, n);

        /* Tolerances: both sides are float32 evaluations of the same formulas: 1e-6 relative and
         * no absolute slack by default (values as small as 2e-9 occur, e.g. sigmoid(-20), and
         * exact zeros must stay zeros). Absolute slack only where float32 cancellation makes the
         * last bits depend on how each side rounded (measured differences in brackets):
         * - tanh grad 1 - y^2 at |x| >= 3, y within 5e-3 of 1 [2e-8]: 5e-8.
         * - softmax grad y * (w - sum(w * y)), a difference of terms ~1, so one ulp of 1 (6e-8)
         *   times y [1.5e-8 with ckeras' vectorised exp, within 1 ulp; 4e-9 with libm's]: 3e-8.
         * - gelu: torch's vectorised erf is accurate to ~1e-7 absolute, which shows in
         *   0.5 x (1 + erf(x / sqrt 2)) at x = -3 [1.8e-7] and in the grad at x = -6, where
         *   Keras gets -2.98e-8 (1 + erf rounded to one ulp) for the exact -6.6e-9 [5e-8]:
         *   2.5e-7 forward, 1e-7 backward.
         * - gelu approximate grad: 1 - tanh^2 near saturation at x = -3 [6e-8]: 1e-7.
         * - softsign grad at x = 20: Keras differentiates the quotient, a cancellation [7e-10]: 2e-9.
         * - log_softmax at the row max: log(sum) with sum = 1 + 3e-6 rounds to 1.2e-7 absolute
         *   [1.2e-7]: 2e-7. */
        double atol_y = 0, atol_g = 0, rtol = 1e-6;
        switch (a.kind) {
        case CK_ACT_TANH: atol_g = 5e-8; break;
        case CK_ACT_SOFTMAX: atol_g = 3e-8; break;
        case CK_ACT_GELU: atol_y = 2.5e-7; atol_g = 1e-7; break;
        case CK_ACT_GELU_TANH: atol_g = 1e-7; break;
        case CK_ACT_SOFTSIGN: atol_g = 2e-9; break;
        case CK_ACT_LOG_SOFTMAX: atol_y = 2e-7; break;
        default: break;
        }

        float y[16], g[16];
        ck_act_forward(&a, x, y, rows, cols);
        snprintf(what, sizeof what, "%s forward", key);
        tu_assert_close(y, want_y, n, atol_y, rtol, what);

        const float *xb = ck_act_backward_needs_x(&a) ? x : NULL; /* NULL: must not be read */
        ck_act_backward(&a, xb, y, w, g, rows, cols);
        snprintf(what, sizeof what, "%s backward", key);
        tu_assert_close(g, want_g, n, atol_g, rtol, what);

        /* in place: y over x, dx over dy, same numbers */
        float yi[16], gi[16];
        memcpy(yi, x, sizeof yi);
        ck_act_forward(&a, yi, yi, rows, cols);
        ck_assert_msg(memcmp(yi, y, sizeof y) == 0, "%s: in-place forward differs", key);
        memcpy(gi, w, sizeof gi);
        ck_act_backward(&a, xb, y, gi, gi, rows, cols);
        ck_assert_msg(memcmp(gi, g, sizeof g) == 0, "%s: in-place backward differs", key);

        free(want_y);
        free(want_g);
    }
    ck_assert_int_eq(n_keys, 21);
    /* the kinds after mish have theirs in activations_points.json (keras_points below) */
    for (int k = 0; k <= CK_ACT_MISH; k++)
        if (k != CK_ACT_HARD_SIGMOID_K2)
            ck_assert_msg(covered[k], "kind %d has no Keras fixture", k);
    free(x);
    free(w);
    json_decref(root);
}
END_TEST

/* The activations added after activations.json, at points near 0, at the kinks and at large
 * magnitudes (x is 3 x 8; sparsemax and glu act on each row): Keras 3's outputs and gradients of
 * sum(w * f(x)), from tests/keras/activation_points.py. */
START_TEST(keras_points_forward_and_backward)
{
    json_t *root = tu_load_json("keras3-traces/activations_points.json");
    int64_t shape[8];
    int nd = 0;
    size_t n = 0;
    float *x = tu_floats(tu_get(root, "x"), &n, shape, &nd);
    ck_assert_int_eq(nd, 2);
    ck_assert_uint_eq(n, 24);
    const int64_t rows = shape[0], cols = shape[1];
    bool covered[CK_ACT_COUNT] = {false};
    const char *key;
    json_t *res;
    json_object_foreach(tu_get(root, "results"), key, res) {
        ck_act a;
        ck_assert_int_eq(ck_act_parse_any(key, &a), CKERAS_OK);
        covered[a.kind] = true;
        size_t ny = 0, ng = 0, nw = 0;
        float *want_y = tu_floats(tu_get(res, "output"), &ny, NULL, NULL);
        float *want_g = tu_floats(tu_get(res, "grad"), &ng, NULL, NULL);
        float *w = tu_floats(tu_get(res, "w"), &nw, NULL, NULL);
        ck_assert_uint_eq(ny, a.kind == CK_ACT_GLU ? n / 2 : n);
        ck_assert_uint_eq(ng, n);
        ck_assert_uint_eq(nw, ny);
        float y[24], g[24];
        char what[128];
        ck_act_forward(&a, x, y, rows, cols);
        snprintf(what, sizeof what, "%s forward", key);
        /* float32 on both sides; tanh_shrink's x - tanh(x) cancels near 0 (absolute 1e-7),
         * sparsemax's tau is a float32 sum in Keras (double here), and Keras' squareplus
         * x + sqrt(x^2 + 4) cancels for x << 0 (at x = -30 it is off by 2.1e-7, 6e-6 relative;
         * ckeras computes 4 / (sqrt(x^2 + 4) - x) there, exact to float rounding) */
        const double atol_y = a.kind == CK_ACT_SPARSEMAX ? 1e-6 : a.kind == CK_ACT_SQUAREPLUS ? 3e-7 : 1e-7;
        tu_assert_close(y, want_y, ny, atol_y, 1e-6, what);
        ck_act_backward(&a, x, y, w, g, rows, cols);
        snprintf(what, sizeof what, "%s backward", key);
        tu_assert_close(g, want_g, n, 1e-7, 1e-6, what);
        free(want_y);
        free(want_g);
        free(w);
    }
    for (int k = CK_ACT_MISH + 1; k < CK_ACT_COUNT; k++)
        ck_assert_msg(covered[k], "kind %d has no Keras points", k);
    free(x);
    json_decref(root);
}
END_TEST

/* keras.activations.get(name).__name__ as recorded by Keras */
START_TEST(keras_name_resolution)
{
    json_t *root = tu_load_json("keras3-traces/activations.json");
    json_t *res = tu_get(root, "get_resolution");
    const char *name;
    json_t *v;
    int count = 0;
    json_object_foreach(res, name, v) {
        ck_act a;
        const char *arg = strcmp(name, "None") == 0 ? NULL : name;
        ck_assert_int_eq(ck_act_parse(arg, &a), CKERAS_OK);
        ck_assert_str_eq(ck_act_name(&a), json_string_value(v));
        count++;
    }
    ck_assert_int_ge(count, 10);
    json_decref(root);
}
END_TEST

START_TEST(parse_name_round_trip_and_errors)
{
    ck_act a;
    for (int k = 0; k < CK_ACT_COUNT; k++) {
        ck_act in = {(ck_act_kind)k, k == CK_ACT_LEAKY_RELU ? 0.2f : 0.0f};
        const char *name = ck_act_name(&in);
        ck_assert_ptr_nonnull(name);
        ck_assert_int_eq(k == CK_ACT_GLU ? ck_act_parse_any(name, &a) : ck_act_parse(name, &a), CKERAS_OK);
        /* the Keras 2 hard_sigmoid and approximate gelu share their name with the Keras 3 kinds */
        ck_act_kind expect = k == CK_ACT_GELU_TANH          ? CK_ACT_GELU
                             : k == CK_ACT_HARD_SIGMOID_K2 ? CK_ACT_HARD_SIGMOID
                                                           : (ck_act_kind)k;
        ck_assert_int_eq(a.kind, expect);
    }
    ck_assert_str_eq(ck_act_name(&(ck_act){CK_ACT_GELU_TANH, 0}), "gelu");
    ck_assert_str_eq(ck_act_name(&(ck_act){CK_ACT_HARD_SIGMOID_K2, 0}), "hard_sigmoid");

    ck_assert_int_eq(ck_act_parse(NULL, &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_LINEAR);
    ck_assert_int_eq(ck_act_parse("", &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_LINEAR);
    ck_assert_int_eq(ck_act_parse("swish", &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_SILU);
    ck_assert_str_eq(ck_act_name(&a), "silu");
    ck_assert_int_eq(ck_act_parse("hard_swish", &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_HARD_SILU);
    ck_assert_int_eq(ck_act_parse("leaky_relu", &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_LEAKY_RELU);
    ck_assert(a.alpha == 0.2f);

    static const char *all[] = {"linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "elu",
                                "selu", "leaky_relu", "gelu", "silu", "swish", "softplus", "softsign",
                                "hard_sigmoid", "hard_silu", "hard_swish", "exponential", "relu6", "mish",
                                "celu", "hard_tanh", "log_sigmoid", "sparse_plus", "sparse_sigmoid",
                                "squareplus", "tanh_shrink", "soft_shrink", "hard_shrink", "sparsemax"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_msg(ck_act_parse(all[i], &a) == CKERAS_OK, "'%s' not accepted", all[i]);

    a = (ck_act){CK_ACT_MISH, 0};
    ck_assert_int_eq(ck_act_parse("relu7", &a), CKERAS_EINVAL);
    ck_assert_int_eq(a.kind, CK_ACT_MISH); /* untouched on failure */
    const char *msg = ckeras_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "'relu7'"));
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        ck_assert_msg(strstr(msg, all[i]) != NULL, "error message lacks '%s': %s", all[i], msg);
    ck_assert_int_eq(ck_act_parse("Relu", &a), CKERAS_EINVAL);
    /* Keras' defaults of the parametric ones, given by name */
    struct {
        const char *name;
        float alpha;
    } defaults[] = {{"celu", 1.0f}, {"squareplus", 4.0f}, {"soft_shrink", 0.5f}, {"hard_shrink", 0.5f}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        ck_assert_int_eq(ck_act_parse(defaults[i].name, &a), CKERAS_OK);
        ck_assert_msg(a.alpha == defaults[i].alpha, "%s: %g", defaults[i].name, (double)a.alpha);
    }
    /* glu halves the last axis: the Activation layer's parse only; threshold has no defaults */
    ck_assert_int_eq(ck_act_parse("glu", &a), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "Activation layer"));
    ck_assert_int_eq(ck_act_parse_any("glu", &a), CKERAS_OK);
    ck_assert_int_eq(a.kind, CK_ACT_GLU);
    ck_assert_int_eq(ck_act_parse_any("threshold", &a), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "default_value"));
    ck_assert_int_eq(ck_act_parse("relu", NULL), CKERAS_EINVAL);
}
END_TEST

/* ---- finite differences --------------------------------------------------------------------- */

static bool near_kink(double v)
{
    static const double kinks[] = {0.0, -2.5, 2.5, -3.0, 3.0, 6.0, -1.0, 1.0, -0.5, 0.5};
    for (size_t i = 0; i < sizeof kinks / sizeof kinks[0]; i++)
        if (fabs(v - kinks[i]) < 0.05)
            return true;
    return false;
}

static void check_fd(const ck_act *a, ck_rng *rng)
{
    enum { R = 3, C = 6, N = R * C }; /* C even: glu halves it */
    float x[N], y[N], dy[N], dx[N];
    double xd[N], dyd[N], yref[N];
    for (int i = 0; i < N; i++) {
        double v;
        do
            v = -5.0 + 12.0 * ck_rng_uniform(rng); /* [-5, 7): every regime incl. relu6 saturation */
        while (near_kink(v));
        x[i] = (float)v;
        xd[i] = x[i];
        dy[i] = (float)(2.0 * ck_rng_uniform(rng) - 1.0);
        dyd[i] = dy[i];
    }
    const char *name = ck_act_name(a);

    /* forward against the double formula (2e-7 absolute: 1 + erf(x / sqrt 2) cancels for gelu) */
    ck_act_forward(a, x, y, R, C);
    r_forward(a, xd, yref, R, C);
    for (int i = 0; i < R * r_out_cols(a, C); i++)
        ck_assert_msg(fabs(y[i] - yref[i]) <= 2e-7 + 1e-6 * fabs(yref[i]),
                      "%s (kind %d) forward at x=%.7g: %.9g, reference %.9g", name, (int)a->kind, xd[i],
                      (double)y[i], yref[i]);

    /* backward against central differences of sum(dy * f(x)), all in double */
    ck_act_backward(a, ck_act_backward_needs_x(a) ? x : NULL, y, dy, dx, R, C);
    const double h = 1e-5;
    for (int i = 0; i < N; i++) {
        double keep = xd[i];
        xd[i] = keep + h;
        double lp = r_loss(a, xd, dyd, R, C);
        xd[i] = keep - h;
        double lm = r_loss(a, xd, dyd, R, C);
        xd[i] = keep;
        double fd = (lp - lm) / (2 * h);
        /* float backward: ~1e-7 relative per factor; absolute slack for float cancellations,
         * the worst being gelu approximate's 1 + tanh near -1 at x = -4 (2.7e-7) and the
         * softmax rows' dy - sum(dy * y). The finite difference itself is good to ~1e-9. */
        ck_assert_msg(fabs(dx[i] - fd) <= 5e-7 + 2e-6 * fabs(fd),
                      "%s (kind %d, alpha %g) backward at x=%.7g: %.9g, finite difference %.9g", name,
                      (int)a->kind, (double)a->alpha, xd[i], (double)dx[i], fd);
    }
}

START_TEST(backward_matches_finite_differences)
{
    ck_rng rng;
    ck_rng_seed(&rng, 20240611);
    for (int rep = 0; rep < 20; rep++) {
        for (int k = 0; k < CK_ACT_COUNT; k++) {
            ck_act a = default_act(k);
            check_fd(&a, &rng);
        }
        check_fd(&(ck_act){CK_ACT_CELU, 0.5f}, &rng);
        check_fd(&(ck_act){CK_ACT_SQUAREPLUS, 1.0f}, &rng);
        check_fd(&(ck_act){CK_ACT_SOFT_SHRINK, 1.5f}, &rng);
        check_fd(&(ck_act){CK_ACT_HARD_SHRINK, 2.0f}, &rng);
        check_fd(&(ck_act){CK_ACT_LEAKY_RELU, 0.3f}, &rng);
        check_fd(&(ck_act){CK_ACT_LEAKY_RELU, -0.1f}, &rng); /* reads x, not y */
    }
}
END_TEST

/* Derivatives at the kinks, as Keras' torch kernels define them (and hand values elsewhere). */
START_TEST(derivatives_at_kinks)
{
    struct {
        ck_act a;
        float x, dfdx;
    } cases[] = {
        {{CK_ACT_RELU, 0}, 0.0f, 0.0f},
        {{CK_ACT_RELU6, 0}, 0.0f, 0.0f},
        {{CK_ACT_RELU6, 0}, 6.0f, 0.0f},
        {{CK_ACT_RELU6, 0}, 5.5f, 1.0f},
        {{CK_ACT_LEAKY_RELU, 0.2f}, 0.0f, 0.2f},
        {{CK_ACT_LEAKY_RELU, -0.1f}, 0.0f, -0.1f},
        {{CK_ACT_ELU, 0}, 0.0f, 1.0f},
        {{CK_ACT_SELU, 0}, 0.0f, (float)(R_SELU_SCALE * R_SELU_ALPHA)},
        {{CK_ACT_HARD_SIGMOID, 0}, -3.0f, 0.0f},
        {{CK_ACT_HARD_SIGMOID, 0}, 3.0f, 0.0f},
        {{CK_ACT_HARD_SIGMOID, 0}, 0.0f, 1.0f / 6.0f},
        {{CK_ACT_HARD_SILU, 0}, -3.0f, -0.5f},
        {{CK_ACT_HARD_SILU, 0}, 3.0f, 1.0f},
        {{CK_ACT_HARD_SILU, 0}, -3.5f, 0.0f},
        {{CK_ACT_HARD_SIGMOID_K2, 0}, 2.5f, 0.2f},
        {{CK_ACT_HARD_SIGMOID_K2, 0}, -2.5f, 0.2f},
        {{CK_ACT_HARD_SIGMOID_K2, 0}, 2.6f, 0.0f},
        {{CK_ACT_GELU, 0}, 0.0f, 0.5f},
        {{CK_ACT_GELU_TANH, 0}, 0.0f, 0.5f},
        {{CK_ACT_SILU, 0}, 0.0f, 0.5f},
        {{CK_ACT_MISH, 0}, 0.0f, 0.6f}, /* tanh(log 2) = 3/5 */
        {{CK_ACT_SOFTSIGN, 0}, 1.0f, 0.25f},
        {{CK_ACT_CELU, 1.0f}, 0.0f, 1.0f},
        {{CK_ACT_CELU, 2.0f}, -2.0f, 0.36787944f}, /* exp(-1) */
        {{CK_ACT_HARD_TANH, 0}, 1.0f, 0.0f},
        {{CK_ACT_HARD_TANH, 0}, -1.0f, 0.0f},
        {{CK_ACT_HARD_TANH, 0}, 0.5f, 1.0f},
        {{CK_ACT_LOG_SIGMOID, 0}, 0.0f, 0.5f},
        {{CK_ACT_SPARSE_PLUS, 0}, -1.0f, 0.0f},
        {{CK_ACT_SPARSE_PLUS, 0}, 1.0f, 1.0f},
        {{CK_ACT_SPARSE_PLUS, 0}, 0.0f, 0.5f},
        {{CK_ACT_SPARSE_SIGMOID, 0}, 1.0f, 0.0f},
        {{CK_ACT_SPARSE_SIGMOID, 0}, -1.0f, 0.0f},
        {{CK_ACT_SPARSE_SIGMOID, 0}, 0.0f, 0.5f},
        {{CK_ACT_SQUAREPLUS, 4.0f}, 0.0f, 0.5f},
        {{CK_ACT_TANH_SHRINK, 0}, 0.0f, 0.0f},
        {{CK_ACT_SOFT_SHRINK, 0.5f}, 0.5f, 0.0f},
        {{CK_ACT_SOFT_SHRINK, 0.5f}, -0.6f, 1.0f},
        {{CK_ACT_HARD_SHRINK, 0.5f}, 0.5f, 0.0f},
        {{CK_ACT_HARD_SHRINK, 0.5f}, 0.51f, 1.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float y, g, dy = 1.0f;
        ck_act_forward(&cases[i].a, &cases[i].x, &y, 1, 1);
        ck_act_backward(&cases[i].a, &cases[i].x, &y, &dy, &g, 1, 1);
        ck_assert_msg(fabsf(g - cases[i].dfdx) <= 1e-6f, "case %zu (%s at %g): f' = %.9g, expected %.9g", i,
                      ck_act_name(&cases[i].a), (double)cases[i].x, (double)g, (double)cases[i].dfdx);
    }
    /* Keras 2 hard_sigmoid by hand */
    float x[5] = {-3.0f, -2.5f, 0.0f, 1.0f, 4.0f}, y[5];
    const float want[5] = {0.0f, 0.0f, 0.5f, 0.7f, 1.0f};
    ck_act_forward(&(ck_act){CK_ACT_HARD_SIGMOID_K2, 0}, x, y, 1, 5);
    tu_assert_close(y, want, 5, 1e-7, 0, "hard_sigmoid (Keras 2)");
}
END_TEST

/* Large magnitudes: no NaN or Inf where the maths gives finite values. */
START_TEST(extreme_inputs_stay_finite)
{
    const float x[8] = {-1e30f, -100.0f, -30.0f, -1e-30f, 1e-30f, 30.0f, 100.0f, 1e30f};
    for (int k = 0; k < CK_ACT_COUNT; k++) {
        ck_act a = default_act(k);
        float y[8], dy[8], dx[8];
        for (int i = 0; i < 8; i++)
            dy[i] = 1.0f;
        /* exp(100) overflows float in the maths itself; softmax/log_softmax take one row of 8 */
        int n = k == CK_ACT_EXPONENTIAL ? 5 : 8;
        ck_act_forward(&a, x, y, 1, n);
        ck_act_backward(&a, x, y, dy, dx, 1, n);
        for (int i = 0; i < n; i++) {
            if (k == CK_ACT_GLU && i >= n / 2) /* y has n / 2 values */
                break;
            if (k == CK_ACT_LOG_SOFTMAX && x[i] == -1e30f) /* log(p) with p = exp(-2e30): -2e30 */
                continue;
            ck_assert_msg(isfinite(y[i]) && isfinite(dx[i]), "%s (kind %d) at %g: y %g, dx %g", ck_act_name(&a),
                          k, (double)x[i], (double)y[i], (double)dx[i]);
        }
    }
    /* a few exact limits */
    float y[8];
    ck_act_forward(&(ck_act){CK_ACT_SIGMOID, 0}, x, y, 1, 8);
    ck_assert(y[0] == 0.0f && y[7] == 1.0f && y[1] > 0.0f && y[1] < 1e-43f);
    ck_act_forward(&(ck_act){CK_ACT_SOFTPLUS, 0}, x, y, 1, 8);
    ck_assert(y[0] == 0.0f && y[7] == 1e30f && y[6] == 100.0f);
    const float big[3] = {1000.0f, 0.0f, -1000.0f};
    ck_act_forward(&(ck_act){CK_ACT_SOFTMAX, 0}, big, y, 1, 3);
    ck_assert(y[0] == 1.0f && y[1] == 0.0f && y[2] == 0.0f);
    ck_act_forward(&(ck_act){CK_ACT_LOG_SOFTMAX, 0}, big, y, 1, 3);
    ck_assert(y[0] == 0.0f && y[1] == -1000.0f && y[2] == -2000.0f);
}
END_TEST

/* Arrays above the threading threshold give the numbers of the row-by-row (serial) path. */
START_TEST(large_arrays_match_small_calls)
{
    enum { R = 700, C = 300 }; /* 210000 elements */
    float *x = malloc(sizeof(float) * R * C), *dy = malloc(sizeof(float) * R * C);
    float *y = malloc(sizeof(float) * R * C), *dx = malloc(sizeof(float) * R * C);
    float yr[C], dxr[C];
    ck_assert(x && dy && y && dx);
    ck_rng rng;
    ck_rng_seed(&rng, 7);
    for (int i = 0; i < R * C; i++) {
        x[i] = (float)(8.0 * ck_rng_uniform(&rng) - 4.0);
        dy[i] = (float)(2.0 * ck_rng_uniform(&rng) - 1.0);
    }
    const ck_act_kind kinds[] = {CK_ACT_RELU, CK_ACT_SIGMOID, CK_ACT_TANH, CK_ACT_SOFTMAX, CK_ACT_LOG_SOFTMAX,
                                 CK_ACT_GELU, CK_ACT_SILU};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        ck_act a = {kinds[k], 0};
        ck_act_forward(&a, x, y, R, C);
        ck_act_backward(&a, x, y, dy, dx, R, C);
        for (int r = 0; r < R; r += 37) {
            ck_act_forward(&a, x + r * C, yr, 1, C);
            ck_act_backward(&a, x + r * C, yr, dy + r * C, dxr, 1, C);
            tu_assert_close(y + r * C, yr, C, 0, 1e-6, "large forward");
            tu_assert_close(dx + r * C, dxr, C, 1e-9, 1e-6, "large backward");
        }
    }
    free(x);
    free(dy);
    free(y);
    free(dx);
}
END_TEST

/* ulps between y and the exact value e, in units of the float spacing at e (subnormal spacing
 * below FLT_MIN) */
static double ulps(float y, double e)
{
    const double ae = fabs(e);
    int ex;
    frexp(ae, &ex);
    const double u = ae < FLT_MIN ? ldexp(1.0, -149) : ldexp(1.0, ex - 24);
    return fabs((double)y - e) / u;
}

/* ck_expf, ck_tanhf and ck_erff (kernels/mathf.h: the vectorisable exp, tanh and erf behind
 * sigmoid, tanh, softmax, gelu, ...) against double-precision exp, tanh and erf on every 4099th
 * float, their special values, and the library's loops giving the bits of the scalar function.
 * (Every float was checked once, outside the suite: 0.99, 1.33 and 1.67 ulp at most.) */
START_TEST(vector_exp_tanh_erf_within_ulps)
{
    enum { CAP = 1100000 };
    float *xs = malloc(sizeof(float) * CAP), *y = malloc(sizeof(float) * CAP);
    ck_assert(xs && y);
    size_t n = 0;
    double worst_exp = 0, worst_tanh = 0, worst_erf = 0, worst_erf_abs = 0;
    for (uint64_t u = 0; u < ((uint64_t)1 << 32); u += 4099) {
        const uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, sizeof x);
        if (!isfinite(x))
            continue;
        if (n < CAP)
            xs[n++] = x;
        const double e = exp((double)x);
        const float fe = ck_expf(x);
        /* (one assertion after the loop: Check writes to a pipe at each one) */
        const double d = e > FLT_MAX ? (isinf(fe) && fe > 0 ? 0.0 : INFINITY) : ulps(fe, e);
        worst_exp = d > worst_exp ? d : worst_exp;
        const double t = ulps(ck_tanhf(x), tanh((double)x));
        worst_tanh = t > worst_tanh ? t : worst_tanh;
        const double r = erf((double)x), fr = ck_erff(x);
        worst_erf = ulps((float)fr, r) > worst_erf ? ulps((float)fr, r) : worst_erf;
        worst_erf_abs = fabs(fr - r) > worst_erf_abs ? fabs(fr - r) : worst_erf_abs;
    }
    ck_assert_msg(worst_exp <= 1.0, "exp: %.3f ulp", worst_exp);
    ck_assert_msg(worst_tanh <= 1.5, "tanh: %.3f ulp", worst_tanh);
    ck_assert_msg(worst_erf <= 2.0 && worst_erf_abs <= 1.1e-7, "erf: %.3f ulp, %.3g absolute", worst_erf,
                  worst_erf_abs);

    /* special values: exactly libm's */
    const float sx[] = {0.0f, -0.0f, 1.0f, -1.0f, 88.72f, 88.7228394f, 100.0f, -87.33f, -103.0f, -104.0f, -200.0f,
                        INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof sx / sizeof sx[0]; i++)
        ck_assert_msg(ck_expf(sx[i]) == expf(sx[i]), "exp(%g) = %.9g, libm %.9g", sx[i], ck_expf(sx[i]),
                      expf(sx[i]));
    ck_assert(ck_expf(-103.0f) > 0.0f && ck_expf(-103.0f) < FLT_MIN); /* a subnormal result */
    const float tx[] = {0.0f, -0.0f, 1e-30f, -1e-40f, 10.0f, -10.0f, 1e30f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof tx / sizeof tx[0]; i++) {
        const float t = ck_tanhf(tx[i]);
        ck_assert_msg(t == tanhf(tx[i]) && signbit(t) == signbit(tanhf(tx[i])), "tanh(%g) = %g", tx[i], t);
    }
    const float ex[] = {0.0f, -0.0f, 1e-30f, -1e-40f, 4.0f, -4.0f, 10.0f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        const float e = ck_erff(ex[i]);
        ck_assert_msg(e == erff(ex[i]) && signbit(e) == signbit(erff(ex[i])), "erf(%g) = %g", ex[i], e);
    }
    ck_assert(isnan(ck_expf(NAN)) && isnan(ck_tanhf(NAN)) && isnan(ck_tanhf(-NAN)) && isnan(ck_erff(NAN)));

    /* the library's loops (the CPU's clone at 1 thread, the threaded loop at 2: vector lanes
     * and remainders) give the scalar bits */
    for (size_t i = 0; i < n; i++) /* within the functions' useful range */
        xs[i] = (float)fmod((double)xs[i], 90.0);
    const ck_act_kind kinds[] = {CK_ACT_TANH, CK_ACT_SIGMOID, CK_ACT_EXPONENTIAL, CK_ACT_GELU};
    for (size_t k = 0; k < 2 * sizeof kinds / sizeof kinds[0]; k++) {
        ckeras_set_num_threads(k % 2 ? 2 : 1);
        ck_act_forward(&(ck_act){kinds[k / 2], 0}, xs, y, 1, (int64_t)n - 3);
        size_t bad = 0, first = 0;
        float first_want = 0.0f;
        for (size_t i = 0; i + 3 < n; i++) {
            const float x = xs[i];
            float want;
            if (kinds[k / 2] == CK_ACT_TANH) {
                want = ck_tanhf(x);
            } else if (kinds[k / 2] == CK_ACT_EXPONENTIAL) {
                want = ck_expf(x);
            } else if (kinds[k / 2] == CK_ACT_GELU) {
                want = 0.5f * x * (1.0f + ck_erff(x * 0.70710678118654752f));
            } else {
                const float e = ck_expf(-fabsf(x)), r = 1.0f / (1.0f + e);
                want = x >= 0.0f ? r : e * r;
            }
            if (memcmp(&want, &y[i], sizeof want) != 0 && bad++ == 0) {
                first = i;
                first_want = want;
            }
        }
        ck_assert_msg(bad == 0, "kind %d, %zu threads: %zu differ, the first at %.9g: %.9g (%.9g alone)", kinds[k / 2],
                      k % 2 + 1, bad, xs[first], y[first], first_want);
    }
    ckeras_set_num_threads(0);
    free(xs);
    free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("activations");
    tcase_add_test(tc, keras_fixtures_forward_and_backward);
    tcase_add_test(tc, keras_name_resolution);
    tcase_add_test(tc, keras_points_forward_and_backward);
    tcase_add_test(tc, parse_name_round_trip_and_errors);
    tcase_add_test(tc, backward_matches_finite_differences);
    tcase_add_test(tc, derivatives_at_kinks);
    tcase_add_test(tc, extreme_inputs_stay_finite);
    tcase_add_test(tc, large_arrays_match_small_calls);
    tcase_add_test(tc, vector_exp_tanh_erf_within_ulps);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
