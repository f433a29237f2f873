/* Activations: forward and backward of every Keras activation, on rows x cols float arrays.
 *
 * Semantics follow Keras 3 (torch backend), including the derivative chosen at kinks:
 * relu'(0) = 0, relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = slope, elu'(0) = 1, hard_sigmoid
 * passes the gradient only strictly inside (-3, 3), hard_silu' is x/3 + 1/2 on [-3, 3) and 1
 * from 3 on (torch's vectorised hardswish_backward).
 *
 * Elementwise loops are `omp simd` loops over contiguous floats: every element is read before it
 * is written and no element depends on another, so dx == dy (or y == x) is safe. Arrays of at
 * least CK_ACT_PAR_MIN elements are split across ck_num_threads() threads.
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"
#include "mathf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* GCC's default -ftrapping-math keeps it from if-converting a loop whose branches hold float
 * arithmetic (leaky_relu's al * x, hard_sigmoid's / 6), so those loops would stay scalar. Nothing
 * here reads the floating-point exception flags, and the option changes no computed value. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* Below this many elements the loops stay on the calling thread (a parallel region costs a few
 * microseconds, more than the work it would share). */
#define CK_ACT_PAR_MIN ((int64_t)1 << 17)

#define SELU_ALPHA 1.67326324235437728f
#define SELU_SCALE 1.05070098735548049f
#define INV_SQRT2 0.70710678118654752f     /* 1 / sqrt(2) */
#define INV_SQRT2PI 0.39894228040143268f   /* 1 / sqrt(2 pi) */
#define GELU_BETA 0.79788456080286536f     /* sqrt(2 / pi) */
#define GELU_KAPPA 0.044715f

/* for (i in [0, n)) body (the variadic part), vectorised, and threaded when n is large. */
#define CK_MAP(n, ...)                                                                   \
    do {                                                                                 \
        const int64_t n_ = (n);                                                          \
        if (n_ >= CK_ACT_PAR_MIN) {                                                      \
            const int nt_ = ck_num_threads();                                            \
            _Pragma("omp parallel for simd num_threads(nt_) schedule(static)")           \
            for (int64_t i = 0; i < n_; i++) {                                           \
                __VA_ARGS__;                                                             \
            }                                                                            \
        } else {                                                                         \
            _Pragma("omp simd")                                                          \
            for (int64_t i = 0; i < n_; i++) {                                           \
                __VA_ARGS__;                                                             \
            }                                                                            \
        }                                                                                \
    } while (0)

/* ---- names ------------------------------------------------------------------------------ */

static const char *const act_names[CK_ACT_COUNT] = {
    [CK_ACT_LINEAR] = "linear",
    [CK_ACT_RELU] = "relu",
    [CK_ACT_SIGMOID] = "sigmoid",
    [CK_ACT_TANH] = "tanh",
    [CK_ACT_SOFTMAX] = "softmax",
    [CK_ACT_LOG_SOFTMAX] = "log_softmax",
    [CK_ACT_ELU] = "elu",
    [CK_ACT_SELU] = "selu",
    [CK_ACT_LEAKY_RELU] = "leaky_relu",
    [CK_ACT_GELU] = "gelu",
    [CK_ACT_GELU_TANH] = "gelu",
    [CK_ACT_SILU] = "silu",
    [CK_ACT_SOFTPLUS] = "softplus",
    [CK_ACT_SOFTSIGN] = "softsign",
    [CK_ACT_HARD_SIGMOID] = "hard_sigmoid",
    [CK_ACT_HARD_SIGMOID_K2] = "hard_sigmoid",
    [CK_ACT_HARD_SILU] = "hard_silu",
    [CK_ACT_EXPONENTIAL] = "exponential",
    [CK_ACT_RELU6] = "relu6",
    [CK_ACT_MISH] = "mish",
    [CK_ACT_CELU] = "celu",
    [CK_ACT_HARD_TANH] = "hard_tanh",
    [CK_ACT_LOG_SIGMOID] = "log_sigmoid",
    [CK_ACT_SPARSE_PLUS] = "sparse_plus",
    [CK_ACT_SPARSE_SIGMOID] = "sparse_sigmoid",
    [CK_ACT_SQUAREPLUS] = "squareplus",
    [CK_ACT_TANH_SHRINK] = "tanh_shrink",
    [CK_ACT_SOFT_SHRINK] = "soft_shrink",
    [CK_ACT_HARD_SHRINK] = "hard_shrink",
    [CK_ACT_SPARSEMAX] = "sparsemax",
    [CK_ACT_GLU] = "glu",
};

/* The names keras.activations.get accepts (Keras 3.11's ALL_OBJECTS_DICT), with the kind each
 * one resolves to and the default of its parameter (a name gives Keras' defaults). */
static const struct {
    const char *name;
    ck_act_kind kind;
    float alpha;
} act_table[] = {
    {"linear", CK_ACT_LINEAR, 0.0f},
    {"relu", CK_ACT_RELU, 0.0f},
    {"sigmoid", CK_ACT_SIGMOID, 0.0f},
    {"tanh", CK_ACT_TANH, 0.0f},
    {"softmax", CK_ACT_SOFTMAX, 0.0f},
    {"log_softmax", CK_ACT_LOG_SOFTMAX, 0.0f},
    {"elu", CK_ACT_ELU, 0.0f},
    {"selu", CK_ACT_SELU, 0.0f},
    {"leaky_relu", CK_ACT_LEAKY_RELU, 0.2f},
    {"gelu", CK_ACT_GELU, 0.0f},
    {"silu", CK_ACT_SILU, 0.0f},
    {"swish", CK_ACT_SILU, 0.0f},
    {"softplus", CK_ACT_SOFTPLUS, 0.0f},
    {"softsign", CK_ACT_SOFTSIGN, 0.0f},
    {"hard_sigmoid", CK_ACT_HARD_SIGMOID, 0.0f},
    {"hard_silu", CK_ACT_HARD_SILU, 0.0f},
    {"hard_swish", CK_ACT_HARD_SILU, 0.0f},
    {"exponential", CK_ACT_EXPONENTIAL, 0.0f},
    {"relu6", CK_ACT_RELU6, 0.0f},
    {"mish", CK_ACT_MISH, 0.0f},
    {"celu", CK_ACT_CELU, 1.0f},
    {"hard_tanh", CK_ACT_HARD_TANH, 0.0f},
    {"log_sigmoid", CK_ACT_LOG_SIGMOID, 0.0f},
    {"sparse_plus", CK_ACT_SPARSE_PLUS, 0.0f},
    {"sparse_sigmoid", CK_ACT_SPARSE_SIGMOID, 0.0f},
    {"squareplus", CK_ACT_SQUAREPLUS, 4.0f},
    {"tanh_shrink", CK_ACT_TANH_SHRINK, 0.0f},
    {"soft_shrink", CK_ACT_SOFT_SHRINK, 0.5f},
    {"hard_shrink", CK_ACT_HARD_SHRINK, 0.5f},
    {"sparsemax", CK_ACT_SPARSEMAX, 0.0f},
    {"glu", CK_ACT_GLU, 0.0f},
};

#define ACT_TABLE_N ((int)(sizeof act_table / sizeof act_table[0]))

ckeras_status ck_act_parse(const char *name, ck_act *out)
{
    if (name && strcmp(name, "glu") == 0)
        return ck_error(CKERAS_EUNSUPPORTED,
                        "activation: 'glu' halves the last axis, which only the Activation layer allows (in another "
                        "layer Keras itself declares the wrong output shape)");
    return ck_act_parse_any(name, out);
}

ckeras_status ck_act_parse_any(const char *name, ck_act *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "activation: output pointer is NULL");
    if (!name || !name[0]) {
        *out = (ck_act){CK_ACT_LINEAR, 0.0f};
        return CKERAS_OK;
    }
    for (int i = 0; i < ACT_TABLE_N; i++)
        if (strcmp(name, act_table[i].name) == 0) {
            *out = (ck_act){act_table[i].kind, act_table[i].alpha};
            return CKERAS_OK;
        }
    if (strcmp(name, "threshold") == 0)
        return ck_error(CKERAS_EUNSUPPORTED,
                        "activation: 'threshold' has no defaults for its threshold and default_value, so Keras "
                        "cannot call it by name either; use a ReLU layer (threshold=...) instead");
    char list[600];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < ACT_TABLE_N && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", act_table[i].name);
    return ck_error(CKERAS_EINVAL, "activation: unknown name '%s' (accepted: %s, or None)", name, list);
}

const char *ck_act_name(const ck_act *a)
{
    if (!a || (int)a->kind < 0 || a->kind >= CK_ACT_COUNT)
        return "unknown";
    return act_names[a->kind];
}

bool ck_act_backward_needs_x(const ck_act *a)
{
    switch (a->kind) {
    case CK_ACT_LINEAR:
    case CK_ACT_RELU:
    case CK_ACT_SIGMOID:
    case CK_ACT_TANH:
    case CK_ACT_SOFTMAX:
    case CK_ACT_LOG_SOFTMAX:
    case CK_ACT_EXPONENTIAL:
    case CK_ACT_RELU6:
        return false;
    case CK_ACT_LEAKY_RELU:
        /* with a positive slope, y > 0 exactly when x > 0 */
        return !(a->alpha > 0.0f);
    default:
        return true;
    }
}

/* ---- scalar pieces (inlined into the loops) ---------------------------------------------- */

/* 1 / (1 + exp(-x)) without overflow: exp only ever sees -|x|. */
static inline __attribute__((always_inline)) float sigmoidf_(float x)
{
    float e = ck_expf(-fabsf(x));
    float r = 1.0f / (1.0f + e);
    return x >= 0.0f ? r : e * r;
}

/* log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)) */
static inline float softplusf_(float x)
{
    return fmaxf(x, 0.0f) + log1pf(ck_expf(-fabsf(x)));
}

/* tanh(softplus(x)) = q / (q + 2) with q = e^x (e^x + 2): one expf instead of expf, log1pf
 * and tanhf, and no cancellation for x -> -inf (q ~ 2 e^x). For x >= 20 it is 1 in float. */
static inline float mish_tsp(float x)
{
    const float e = ck_expf(x < 20.0f ? x : 20.0f);
    const float q = e * (e + 2.0f);
    return q / (q + 2.0f);
}

static inline float clampf_(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* squareplus: (x + sqrt(x^2 + b)) / 2, as b / (2 (sqrt(x^2 + b) - x)) for x < 0 (no cancellation),
 * and sqrt(x^2 + b) taken as |x| once x^2 would overflow */
static inline float squareplusf_(float x, float b)
{
    const float ax = fabsf(x);
    const float s = ax < 1e18f ? sqrtf(x * x + b) : ax;
    return x >= 0.0f ? 0.5f * (x + s) : 0.5f * b / (s - x);
}

/* ---- row-wise: softmax and log_softmax ---------------------------------------------------- */

/* max of a row; a row of -inf gives 0 so that x - max stays -inf, not NaN */
static inline float row_max(const float *x, int64_t n)
{
    float m = -INFINITY;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++)
        m = x[j] > m ? x[j] : m;
    return isinf(m) && m < 0.0f ? 0.0f : m;
}

/* y (n) = softmax(x (n)); y may alias x */
static void softmax_row(const float *x, float *y, int64_t n)
{
    float m = row_max(x, n);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++) {
        float e = ck_expf(x[j] - m);
        y[j] = e;
        s += e;
    }
    float inv = 1.0f / s;
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        y[j] *= inv;
}

/* y (n) = x - max - log(sum(exp(x - max))); y may alias x */
static void log_softmax_row(const float *x, float *y, int64_t n)
{
    float m = row_max(x, n);
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++)
        s += ck_expf(x[j] - m);
    float ls = logf(s);
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        y[j] = (x[j] - m) - ls;
}

/* dx (n) = y * (dy - sum(dy * y)); dx may alias dy */
static void softmax_row_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    float d = 0.0f;
#pragma omp simd reduction(+ : d)
    for (int64_t j = 0; j < n; j++)
        d += dy[j] * y[j];
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        dx[j] = y[j] * (dy[j] - d);
}

/* dx (n) = dy - exp(y) * sum(dy), y the log-probabilities; dx may alias dy */
static void log_softmax_row_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < n; j++)
        s += dy[j];
#pragma omp simd
    for (int64_t j = 0; j < n; j++)
        dx[j] = dy[j] - ck_expf(y[j]) * s;
}

/* Sparsemax as Keras 3.11 computes it (every backend): with z sorted in decreasing order and
 * c_p = z_(0) + ... + z_(p), position p is in the support when z_(p) - (c_p - 1) / (p + 1) > 0; k
 * is the support's size and tau = (sum of c_p over the support - 1) / k, y = max(z - tau, 0).
 * (Martins & Astudillo's tau is (c_(k-1) - 1) / k; Keras sums the c_p instead, so its rows do
 * not sum to 1 once k > 1. ckeras follows Keras: a model gives the numbers it gives in Keras.)
 * The sort is done by ranks, O(n^2) per row and no scratch memory: rank(m) counts the elements
 * before m in a stable decreasing sort. */
static inline int64_t sm_rank(const float *z, int64_t n, int64_t m)
{
    int64_t r = 0;
    for (int64_t j = 0; j < n; j++)
        r += z[j] > z[m] || (z[j] == z[m] && j < m);
    return r;
}

/* c at the sorted position of m: z[m] plus every element ranked before it */
static inline double sm_cum(const float *z, int64_t n, int64_t m)
{
    double c = z[m];
    for (int64_t j = 0; j < n; j++)
        if (z[j] > z[m] || (z[j] == z[m] && j < m))
            c += z[j];
    return c;
}

static inline bool sm_in_support(const float *z, int64_t n, int64_t m)
{
    return z[m] - (sm_cum(z, n, m) - 1.0) / (double)(sm_rank(z, n, m) + 1) > 0.0;
}

/* tau of the row, and k (the support's size) */
static double sm_tau(const float *z, int64_t n, int64_t *k_out)
{
    int64_t k = 0;
    double s = 0.0;
    for (int64_t m = 0; m < n; m++)
        if (sm_in_support(z, n, m)) {
            k++;
            s += sm_cum(z, n, m);
        }
    *k_out = k;
    return k > 0 ? (s - 1.0) / (double)k : 0.0;
}

/* y (n) = sparsemax(x (n)); y may alias x (tau is computed before any write) */
static void sparsemax_row(const float *x, float *y, int64_t n)
{
    int64_t k;
    const float tau = (float)sm_tau(x, n, &k);
    for (int64_t j = 0; j < n; j++) {
        const float v = x[j] - tau;
        y[j] = v > 0.0f ? v : 0.0f;
    }
}

/* dx (n) from x (n) and dy (n): dx_m = [x_m - tau >= 0] dy_m - (sum_j [x_j - tau >= 0] dy_j) *
 * dtau/dx_m (torch's clamp passes the gradient at 0). The support is a prefix of the sorted
 * positions (z_(p) - (c_p - 1) / (p + 1) > 0 times p + 1 decreases with p), so tau = (sum over
 * p < k of (k - p) z_(p) - 1) / k and dtau/dx_m = (k - rank(m)) / k for rank(m) < k, else 0.
 * dx may alias dy (dy_m is read before dx_m is written, the sum before either). */
static void sparsemax_row_backward(const float *x, const float *dy, float *dx, int64_t n)
{
    int64_t k;
    const float tau = (float)sm_tau(x, n, &k);
    double g = 0.0;
    for (int64_t j = 0; j < n; j++)
        if (x[j] - tau >= 0.0f)
            g += dy[j];
    for (int64_t m = 0; m < n; m++) {
        const int64_t rm = sm_rank(x, n, m);
        const double dtau = rm < k ? (double)(k - rm) / (double)k : 0.0;
        const float own = x[m] - tau >= 0.0f ? dy[m] : 0.0f;
        dx[m] = (float)((double)own - g * dtau);
    }
}

/* GLU over the last axis: x (cols) = [a, b] halves, y (cols / 2) = a * sigmoid(b) */
static void glu_row(const float *x, float *y, int64_t cols)
{
    const int64_t h = cols / 2;
    for (int64_t j = 0; j < h; j++)
        y[j] = x[j] * sigmoidf_(x[h + j]);
}

/* dx (cols) from x (cols) and dy (cols / 2): da = dy s(b), db = dy a s(b) (1 - s(b)) */
static void glu_row_backward(const float *x, const float *dy, float *dx, int64_t cols)
{
    const int64_t h = cols / 2;
    for (int64_t j = 0; j < h; j++) {
        const float s = sigmoidf_(x[h + j]), g = dy[j];
        dx[j] = g * s;
        dx[h + j] = g * x[j] * s * (1.0f - s);
    }
}

/* for (r in [0, rows)) stmt, threaded over rows when the array is large */
#define CK_ROWS(rows, cols, stmt)                                                        \
    do {                                                                                 \
        if ((rows) > 1 && (rows) * (cols) >= CK_ACT_PAR_MIN) {                           \
            const int nt_ = ck_num_threads();                                            \
            _Pragma("omp parallel for num_threads(nt_) schedule(static)")                \
            for (int64_t r = 0; r < (rows); r++) {                                       \
                stmt;                                                                    \
            }                                                                            \
        } else {                                                                         \
            for (int64_t r = 0; r < (rows); r++) {                                       \
                stmt;                                                                    \
            }                                                                            \
        }                                                                                \
    } while (0)

/* ---- forward ------------------------------------------------------------------------------ */

/* ck_act_forward and ck_act_backward are also compiled for AVX-512 and AVX2, picked at load
 * time (CK_CLONES: elementwise, the same floats in every version); GCC clones the bodies of
 * their threaded loops (CK_MAP's parallel regions) with them. */
CK_CLONES static void act_forward(const ck_act *a, const float *x, float *y, int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    if (n <= 0)
        return;
    const float al = a->alpha;
    switch (a->kind) {
    case CK_ACT_LINEAR:
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof *y);
        break;
    case CK_ACT_RELU:
        /* x < 0 ? 0 : x keeps NaN visible, as torch's relu does */
        CK_MAP(n, y[i] = x[i] < 0.0f ? 0.0f : x[i]);
        break;
    case CK_ACT_SIGMOID:
        CK_MAP(n, y[i] = sigmoidf_(x[i]));
        break;
    case CK_ACT_TANH:
        CK_MAP(n, y[i] = ck_tanhf(x[i]));
        break;
    case CK_ACT_SOFTMAX:
        CK_ROWS(rows, cols, softmax_row(x + r * cols, y + r * cols, cols));
        break;
    case CK_ACT_LOG_SOFTMAX:
        CK_ROWS(rows, cols, log_softmax_row(x + r * cols, y + r * cols, cols));
        break;
    case CK_ACT_ELU:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v > 0.0f ? v : expm1f(v);
        });
        break;
    case CK_ACT_SELU:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v > 0.0f ? SELU_SCALE * v : (SELU_ALPHA * SELU_SCALE) * expm1f(v);
        });
        break;
    case CK_ACT_LEAKY_RELU:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v > 0.0f ? v : al * v;
        });
        break;
    case CK_ACT_GELU:
        CK_MAP(n, y[i] = 0.5f * x[i] * (1.0f + ck_erff(x[i] * INV_SQRT2)));
        break;
    case CK_ACT_GELU_TANH:
        CK_MAP(n, {
            float v = x[i];
            float t = ck_tanhf(GELU_BETA * (v + GELU_KAPPA * v * v * v));
            y[i] = 0.5f * v * (1.0f + t);
        });
        break;
    case CK_ACT_SILU:
        CK_MAP(n, y[i] = x[i] * sigmoidf_(x[i]));
        break;
    case CK_ACT_SOFTPLUS:
        CK_MAP(n, y[i] = softplusf_(x[i]));
        break;
    case CK_ACT_SOFTSIGN:
        CK_MAP(n, y[i] = x[i] / (1.0f + fabsf(x[i])));
        break;
    case CK_ACT_HARD_SIGMOID:
        CK_MAP(n, y[i] = clampf_(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f);
        break;
    case CK_ACT_HARD_SIGMOID_K2:
        CK_MAP(n, y[i] = clampf_(0.2f * x[i] + 0.5f, 0.0f, 1.0f));
        break;
    case CK_ACT_HARD_SILU:
        /* x * (clamp / 6), not (x * clamp) / 6, which overflows near FLT_MAX */
        CK_MAP(n, y[i] = x[i] * (clampf_(x[i] + 3.0f, 0.0f, 6.0f) / 6.0f));
        break;
    case CK_ACT_EXPONENTIAL:
        CK_MAP(n, y[i] = ck_expf(x[i]));
        break;
    case CK_ACT_RELU6:
        CK_MAP(n, y[i] = clampf_(x[i], 0.0f, 6.0f));
        break;
    case CK_ACT_MISH:
        CK_MAP(n, y[i] = x[i] * mish_tsp(x[i]));
        break;
    case CK_ACT_CELU:
        /* x > 0 ? x : alpha (exp(x / alpha) - 1) (torch's celu) */
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v > 0.0f ? v : al * expm1f(v / al);
        });
        break;
    case CK_ACT_HARD_TANH:
        CK_MAP(n, y[i] = clampf_(x[i], -1.0f, 1.0f));
        break;
    case CK_ACT_LOG_SIGMOID:
        /* -softplus(-x) = min(x, 0) - log1p(exp(-|x|)) */
        CK_MAP(n, y[i] = fminf(x[i], 0.0f) - log1pf(ck_expf(-fabsf(x[i]))));
        break;
    case CK_ACT_SPARSE_PLUS:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v <= -1.0f ? 0.0f : v < 1.0f ? 0.25f * (v + 1.0f) * (v + 1.0f) : v;
        });
        break;
    case CK_ACT_SPARSE_SIGMOID:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v <= -1.0f ? 0.0f : v >= 1.0f ? 1.0f : 0.5f * (v + 1.0f);
        });
        break;
    case CK_ACT_SQUAREPLUS:
        CK_MAP(n, y[i] = squareplusf_(x[i], al));
        break;
    case CK_ACT_TANH_SHRINK:
        CK_MAP(n, y[i] = x[i] - ck_tanhf(x[i]));
        break;
    case CK_ACT_SOFT_SHRINK:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = v > al ? v - al : v < -al ? v + al : 0.0f;
        });
        break;
    case CK_ACT_HARD_SHRINK:
        CK_MAP(n, {
            const float v = x[i];
            y[i] = ((v >= -al) & (v <= al)) ? 0.0f : v;
        });
        break;
    case CK_ACT_SPARSEMAX:
        CK_ROWS(rows, cols, sparsemax_row(x + r * cols, y + r * cols, cols));
        break;
    case CK_ACT_GLU:
        /* y is rows x (cols / 2) */
        CK_ROWS(rows, cols, glu_row(x + r * cols, y + r * (cols / 2), cols));
        break;
    case CK_ACT_COUNT:
        break;
    }
}

void ck_act_forward(const ck_act *a, const float *x, float *y, int64_t rows, int64_t cols)
{
    act_forward(a, x, y, rows, cols);
}

/* ---- backward ----------------------------------------------------------------------------- */

CK_CLONES static void act_backward(const ck_act *a, const float *x, const float *y, const float *dy, float *dx,
                                   int64_t rows, int64_t cols)
{
    const int64_t n = rows * cols;
    if (n <= 0)
        return;
    const float al = a->alpha;
    switch (a->kind) {
    case CK_ACT_LINEAR:
        if (dx != dy)
            memcpy(dx, dy, (size_t)n * sizeof *dx);
        break;
    case CK_ACT_RELU:
        CK_MAP(n, {
            const float g = dy[i];
            dx[i] = y[i] > 0.0f ? g : 0.0f;
        });
        break;
    case CK_ACT_SIGMOID:
        CK_MAP(n, dx[i] = dy[i] * (1.0f - y[i]) * y[i]);
        break;
    case CK_ACT_TANH:
        CK_MAP(n, dx[i] = dy[i] * (1.0f - y[i] * y[i]));
        break;
    case CK_ACT_SOFTMAX:
        CK_ROWS(rows, cols, softmax_row_backward(y + r * cols, dy + r * cols, dx + r * cols, cols));
        break;
    case CK_ACT_LOG_SOFTMAX:
        CK_ROWS(rows, cols, log_softmax_row_backward(y + r * cols, dy + r * cols, dx + r * cols, cols));
        break;
    case CK_ACT_ELU:
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = v > 0.0f ? g : g * ck_expf(v);
        });
        break;
    case CK_ACT_SELU:
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = v > 0.0f ? g * SELU_SCALE : g * ((SELU_ALPHA * SELU_SCALE) * ck_expf(v));
        });
        break;
    case CK_ACT_LEAKY_RELU:
        if (al > 0.0f)
            CK_MAP(n, {
                const float g = dy[i];
                dx[i] = y[i] > 0.0f ? g : g * al;
            });
        else
            CK_MAP(n, {
                const float g = dy[i];
                dx[i] = x[i] > 0.0f ? g : g * al;
            });
        break;
    case CK_ACT_GELU:
        CK_MAP(n, {
            float v = x[i];
            float cdf = 0.5f * (1.0f + ck_erff(v * INV_SQRT2));
            float pdf = INV_SQRT2PI * ck_expf(-0.5f * v * v);
            dx[i] = dy[i] * (cdf + v * pdf);
        });
        break;
    case CK_ACT_GELU_TANH:
        CK_MAP(n, {
            float v = x[i];
            float t = ck_tanhf(GELU_BETA * (v + GELU_KAPPA * v * v * v));
            /* 1 - t^2 is exactly 0 once |x| > ~10; clamping x in the polynomial keeps that
             * 0 * (1 + 3 kappa x^2) from becoming 0 * inf = NaN for huge |x| */
            float vc = clampf_(v, -100.0f, 100.0f);
            float d_left = 0.5f * (1.0f + t);
            float d_right = 0.5f * vc * (1.0f - t * t) * GELU_BETA * (1.0f + 3.0f * GELU_KAPPA * vc * vc);
            dx[i] = dy[i] * (d_left + d_right);
        });
        break;
    case CK_ACT_SILU:
        CK_MAP(n, {
            float s = sigmoidf_(x[i]);
            dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
        });
        break;
    case CK_ACT_SOFTPLUS:
        CK_MAP(n, dx[i] = dy[i] * sigmoidf_(x[i]));
        break;
    case CK_ACT_SOFTSIGN:
        CK_MAP(n, {
            float d = 1.0f + fabsf(x[i]);
            dx[i] = dy[i] / (d * d);
        });
        break;
    case CK_ACT_HARD_SIGMOID:
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = ((v > -3.0f) & (v < 3.0f)) ? g * (1.0f / 6.0f) : 0.0f;
        });
        break;
    case CK_ACT_HARD_SIGMOID_K2:
        /* Keras 2 differentiates clip_by_value, which passes the gradient at both bounds */
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = ((v >= -2.5f) & (v <= 2.5f)) ? 0.2f * g : 0.0f;
        });
        break;
    case CK_ACT_HARD_SILU:
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = v < -3.0f ? 0.0f : v >= 3.0f ? g : g * (v / 3.0f + 0.5f);
        });
        break;
    case CK_ACT_EXPONENTIAL:
        CK_MAP(n, dx[i] = dy[i] * y[i]);
        break;
    case CK_ACT_RELU6:
        /* 0 < y < 6 exactly when 0 < x < 6 (y = x there) */
        CK_MAP(n, {
            const float v = y[i], g = dy[i];
            dx[i] = ((v > 0.0f) & (v < 6.0f)) ? g : 0.0f;
        });
        break;
    case CK_ACT_MISH:
        CK_MAP(n, {
            const float v = x[i];
            const float e = ck_expf(v < 20.0f ? v : 20.0f);
            const float q = e * (e + 2.0f);
            const float t = q / (q + 2.0f); /* tanh(softplus(v)) */
            const float s = e / (1.0f + e); /* sigmoid(v); 1 for v >= 20 as in float anyway */
            dx[i] = dy[i] * (t + v * s * (1.0f - t * t));
        });
        break;
    case CK_ACT_CELU:
        /* exp(x / alpha) below 0, and 1 at 0 (torch's elu_backward, as for elu) */
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = v > 0.0f ? g : g * ck_expf(v / al);
        });
        break;
    case CK_ACT_HARD_TANH:
        /* torch's hardtanh_backward: 0 at and beyond the bounds */
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = ((v > -1.0f) & (v < 1.0f)) ? g : 0.0f;
        });
        break;
    case CK_ACT_LOG_SIGMOID:
        CK_MAP(n, dx[i] = dy[i] * sigmoidf_(-x[i]));
        break;
    case CK_ACT_SPARSE_PLUS:
        /* torch.where's branches: 0 at -1, (x + 1) / 2 inside, 1 from 1 on */
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = v <= -1.0f ? 0.0f : v < 1.0f ? g * 0.5f * (v + 1.0f) : g;
        });
        break;
    case CK_ACT_SPARSE_SIGMOID:
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = ((v > -1.0f) & (v < 1.0f)) ? 0.5f * g : 0.0f;
        });
        break;
    case CK_ACT_SQUAREPLUS:
        /* (1 + x / sqrt(x^2 + b)) / 2 */
        CK_MAP(n, {
            const float v = x[i], av = fabsf(v);
            const float q = av < 1e18f ? v / sqrtf(v * v + al) : (v > 0.0f ? 1.0f : -1.0f);
            dx[i] = dy[i] * 0.5f * (1.0f + q);
        });
        break;
    case CK_ACT_TANH_SHRINK:
        CK_MAP(n, {
            const float t = ck_tanhf(x[i]);
            dx[i] = dy[i] * (t * t);
        });
        break;
    case CK_ACT_SOFT_SHRINK:
    case CK_ACT_HARD_SHRINK:
        /* torch's shrink backwards: 0 on [-threshold, threshold] */
        CK_MAP(n, {
            const float v = x[i], g = dy[i];
            dx[i] = ((v >= -al) & (v <= al)) ? 0.0f : g;
        });
        break;
    case CK_ACT_SPARSEMAX:
        CK_ROWS(rows, cols, sparsemax_row_backward(x + r * cols, dy + r * cols, dx + r * cols, cols));
        break;
    case CK_ACT_GLU:
        /* dy is rows x (cols / 2), dx rows x cols; they must not alias */
        CK_ROWS(rows, cols, glu_row_backward(x + r * cols, dy + r * (cols / 2), dx + r * cols, cols));
        break;
    case CK_ACT_COUNT:
        break;
    }
}

void ck_act_backward(const ck_act *a, const float *x, const float *y, const float *dy, float *dx, int64_t rows,
                     int64_t cols)
{
    act_backward(a, x, y, dy, dx, rows, cols);
}

/* ---- softmax along an inner axis ------------------------------------------------------------ */

void ck_softmax_axis_forward(const float *x, float *y, int64_t outer, int64_t len, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xo = x + o * len * inner + i;
            float *yo = y + o * len * inner + i;
            float m = -INFINITY;
            for (int64_t j = 0; j < len; j++)
                m = xo[j * inner] > m ? xo[j * inner] : m;
            if (isinf(m) && m < 0.0f)
                m = 0.0f;
            float s = 0.0f;
            for (int64_t j = 0; j < len; j++) {
                const float e = ck_expf(xo[j * inner] - m);
                yo[j * inner] = e;
                s += e;
            }
            const float inv = 1.0f / s;
            for (int64_t j = 0; j < len; j++)
                yo[j * inner] *= inv;
        }
}

void ck_softmax_axis_backward(const float *y, const float *dy, float *dx, int64_t outer, int64_t len, int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * len * inner + i;
            float d = 0.0f;
            for (int64_t j = 0; j < len; j++)
                d += dy[base + j * inner] * y[base + j * inner];
            for (int64_t j = 0; j < len; j++)
                dx[base + j * inner] = y[base + j * inner] * (dy[base + j * inner] - d);
        }
}

/* ---- fused with the bias (Dense) ----------------------------------------------------------
 * Also compiled for AVX-512 and AVX2 (picked at load time; the build targets baseline x86-64):
 * for a small layer these passes are a noticeable part of a training step. Same floats in
 * every version (elementwise, and -std=c11 forbids contracting into FMAs): CK_CLONES. */

CK_CLONES static bool bias_act_forward(const ck_act *a, float *y, const float *bias, int64_t rows, int64_t cols)
{
    if (rows * cols >= CK_ACT_PAR_MIN && ck_num_threads() > 1)
        return false; /* large, with threads: the separate passes are threaded */
    const float *restrict b = bias;
    switch (a->kind) {
    case CK_ACT_LINEAR:
        if (b)
            ck_add_bias(y, b, rows, cols);
        return true;
    case CK_ACT_RELU:
        for (int64_t r = 0; r < rows; r++) {
            float *restrict yr = y + r * cols;
            if (b) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) {
                    const float v = yr[c] + b[c];
                    yr[c] = v < 0.0f ? 0.0f : v;
                }
            } else {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++)
                    yr[c] = yr[c] < 0.0f ? 0.0f : yr[c];
            }
        }
        return true;
    case CK_ACT_SIGMOID:
        for (int64_t r = 0; r < rows; r++) {
            float *restrict yr = y + r * cols;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                yr[c] = sigmoidf_(b ? yr[c] + b[c] : yr[c]);
        }
        return true;
    case CK_ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            float *restrict yr = y + r * cols;
            if (b) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++)
                    yr[c] += b[c];
            }
            softmax_row(yr, yr, cols);
        }
        return true;
    default:
        return false;
    }
}

/* relu backward with the bias gradient on a small batch (rows x cols, 16 <= cols): 16 columns
 * from c0 down the rows, their sums in registers. Each column's sum is over the rows in order
 * from 0, as the row loop's, so the floats are the same. The row loop kept each sum in memory
 * (one store-to-load wait per row) and left a row's last cols % 16 to scalar code: seed MLP
 * 30-100-50-50-1 fit, batch 32, 1 thread, Zen 4: 27.97 -> 26.34 us a step. */
static inline __attribute__((always_inline)) void relu_bias_grad_block(const float *y, float *dy, float *d,
                                                                       int64_t rows, int64_t cols, int64_t c0)
{
    float acc[16] = {0};
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict yr = y + r * cols + c0;
        float *restrict g = dy + r * cols + c0;
#pragma omp simd
        for (int k = 0; k < 16; k++) {
            const float v = yr[k] > 0.0f ? g[k] : 0.0f;
            g[k] = v;
            acc[k] += v;
        }
    }
    for (int k = 0; k < 16; k++)
        d[c0 + k] = acc[k];
}

CK_CLONES static bool act_backward_bias_grad(const ck_act *a, const float *y, float *dy, float *db, int64_t rows,
                                             int64_t cols)
{
    if ((rows * cols >= CK_ACT_PAR_MIN && ck_num_threads() > 1) || rows < 1)
        return false; /* large, with threads: the separate passes are threaded */
    if (a->kind != CK_ACT_LINEAR && a->kind != CK_ACT_RELU && a->kind != CK_ACT_SIGMOID &&
        a->kind != CK_ACT_SOFTMAX)
        return false;
    float *restrict d = db;
    if (d)
        memset(d, 0, (size_t)cols * sizeof *d);
    switch (a->kind) {
    case CK_ACT_LINEAR:
        if (d)
            ck_bias_grad(dy, d, rows, cols);
        return true;
    case CK_ACT_RELU:
        /* (not where rows 128 or more floats apart share few cache sets: 64 x 128 lost) */
        if (d && rows >= 8 && rows <= 64 && cols >= 16 && cols <= 128 && (rows <= 32 || cols % 32 != 0)) {
            /* the last block ends at the row's end, over columns of the one before when cols
             * is no multiple of 16: the mask applied twice is the mask applied once, and those
             * columns' sums come out the same again */
            for (int64_t c0 = 0; c0 < cols; c0 += 16)
                relu_bias_grad_block(y, dy, d, rows, cols, c0 + 16 <= cols ? c0 : cols - 16);
            return true;
        }
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict yr = y + r * cols;
            float *restrict g = dy + r * cols;
            if (d) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++) {
                    const float v = yr[c] > 0.0f ? g[c] : 0.0f;
                    g[c] = v;
                    d[c] += v;
                }
            } else {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++)
                    g[c] = yr[c] > 0.0f ? g[c] : 0.0f;
            }
        }
        return true;
    case CK_ACT_SIGMOID:
        for (int64_t r = 0; r < rows; r++) {
            const float *restrict yr = y + r * cols;
            float *restrict g = dy + r * cols;
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                g[c] = g[c] * (1.0f - yr[c]) * yr[c];
            if (d) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++)
                    d[c] += g[c];
            }
        }
        return true;
    case CK_ACT_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            float *g = dy + r * cols;
            softmax_row_backward(y + r * cols, g, g, cols);
            if (d) {
#pragma omp simd
                for (int64_t c = 0; c < cols; c++)
                    d[c] += g[c];
            }
        }
        return true;
    default:
        return false;
    }
}

/* (target_clones on a static function: a global one would export its resolver from the shared
 * library whatever the visibility) */
bool ck_bias_act_forward(const ck_act *a, float *y, const float *bias, int64_t rows, int64_t cols)
{
    return bias_act_forward(a, y, bias, rows, cols);
}

bool ck_act_backward_bias_grad(const ck_act *a, const float *y, float *dy, float *db, int64_t rows, int64_t cols)
{
    return act_backward_bias_grad(a, y, dy, db, rows, cols);
}
