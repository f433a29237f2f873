/* Keras losses: names, per-row values and the gradient with respect to y_pred.
 *
 * Every loss works on y_pred rows x cols (row-major) and y_true of the same shape (class
 * indices, rows x 1, for sparse categorical cross-entropy). Element values are computed in
 * double from the float32 inputs; per-row values are written as float, the returned sum is
 * accumulated in double. grad (rows x cols) receives scale * d(sum of rows)/d(y_pred).
 *
 * Sizes: every length here is a count of a checked buffer (the model's parameters, a batch's
 * rows or values: core.h, checked size arithmetic), at most 2^48, so no product wraps. */
#include "losses/losses.h"

#include <math.h>
#include <string.h>

/* Keras' backend.epsilon() and the clip bounds of probability-mode cross-entropies, as the
 * float32 values Keras compares against (1 - 1e-7 rounds to 0.99999988 in float32). */
static const float EPS = 1e-7f;
static const float PROB_HI = 1.0f - 1e-7f;

/* ---- names ----------------------------------------------------------------------------- */

static const char *const canonical[CK_LOSS_COUNT] = {
    [CK_LOSS_BINARY_CROSSENTROPY] = "binary_crossentropy",
    [CK_LOSS_CATEGORICAL_CROSSENTROPY] = "categorical_crossentropy",
    [CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY] = "sparse_categorical_crossentropy",
    [CK_LOSS_MEAN_SQUARED_ERROR] = "mean_squared_error",
    [CK_LOSS_MEAN_ABSOLUTE_ERROR] = "mean_absolute_error",
    [CK_LOSS_HUBER] = "huber",
    [CK_LOSS_KL_DIVERGENCE] = "kl_divergence",
    [CK_LOSS_POISSON] = "poisson",
    [CK_LOSS_LOG_COSH] = "log_cosh",
    [CK_LOSS_HINGE] = "hinge",
    [CK_LOSS_SQUARED_HINGE] = "squared_hinge",
    [CK_LOSS_CATEGORICAL_HINGE] = "categorical_hinge",
    [CK_LOSS_COSINE_SIMILARITY] = "cosine_similarity",
};

typedef struct loss_alias {
    const char *name;
    ck_loss_kind kind;
} loss_alias;

/* Function names, their Keras aliases (including Keras 2's upper-case MSE/MAE/KLD) and the
 * class names. The canonical names above are matched first. */
static const loss_alias aliases[] = {
    {"mse", CK_LOSS_MEAN_SQUARED_ERROR},
    {"MSE", CK_LOSS_MEAN_SQUARED_ERROR},
    {"mae", CK_LOSS_MEAN_ABSOLUTE_ERROR},
    {"MAE", CK_LOSS_MEAN_ABSOLUTE_ERROR},
    {"huber_loss", CK_LOSS_HUBER},
    {"kld", CK_LOSS_KL_DIVERGENCE},
    {"KLD", CK_LOSS_KL_DIVERGENCE},
    {"kullback_leibler_divergence", CK_LOSS_KL_DIVERGENCE},
    {"logcosh", CK_LOSS_LOG_COSH},
    {"BinaryCrossentropy", CK_LOSS_BINARY_CROSSENTROPY},
    {"CategoricalCrossentropy", CK_LOSS_CATEGORICAL_CROSSENTROPY},
    {"SparseCategoricalCrossentropy", CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
    {"MeanSquaredError", CK_LOSS_MEAN_SQUARED_ERROR},
    {"MeanAbsoluteError", CK_LOSS_MEAN_ABSOLUTE_ERROR},
    {"Huber", CK_LOSS_HUBER},
    {"KLDivergence", CK_LOSS_KL_DIVERGENCE},
    {"Poisson", CK_LOSS_POISSON},
    {"LogCosh", CK_LOSS_LOG_COSH},
    {"Hinge", CK_LOSS_HINGE},
    {"SquaredHinge", CK_LOSS_SQUARED_HINGE},
    {"CategoricalHinge", CK_LOSS_CATEGORICAL_HINGE},
    {"CosineSimilarity", CK_LOSS_COSINE_SIMILARITY},
};

ckeras_status ck_loss_parse(const char *name, ck_loss *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "loss: output is NULL");
    if (!name)
        return ck_error(CKERAS_EINVAL, "loss: name is NULL");
    int kind = -1;
    for (int k = 0; k < CK_LOSS_COUNT && kind < 0; k++)
        if (strcmp(name, canonical[k]) == 0)
            kind = k;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0] && kind < 0; i++)
        if (strcmp(name, aliases[i].name) == 0)
            kind = (int)aliases[i].kind;
    if (kind < 0)
        return ck_error(CKERAS_EINVAL,
                        "loss: unknown loss '%s'; accepted: binary_crossentropy, categorical_crossentropy, "
                        "sparse_categorical_crossentropy, mean_squared_error (mse), mean_absolute_error (mae), "
                        "huber (huber_loss), kl_divergence (kld, kullback_leibler_divergence), poisson, "
                        "log_cosh (logcosh), hinge, squared_hinge, categorical_hinge, cosine_similarity, "
                        "or their class names (BinaryCrossentropy, MeanSquaredError, ...)",
                        name);
    out->kind = (ck_loss_kind)kind;
    out->from_logits = false;
    out->delta = 1.0f;
    return CKERAS_OK;
}

const char *ck_loss_name(const ck_loss *l)
{
    if (!l || (int)l->kind < 0 || l->kind >= CK_LOSS_COUNT)
        return NULL;
    return canonical[l->kind];
}

int64_t ck_loss_target_width(const ck_loss *l, int64_t cols)
{
    return (l && l->kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) ? 1 : cols;
}

ckeras_status ck_loss_check_targets(const ck_loss *l, const float *y_true, int64_t rows, int64_t cols)
{
    if (!l || (int)l->kind < 0 || l->kind >= CK_LOSS_COUNT)
        return ck_error(CKERAS_EINVAL, "loss: check_targets: invalid loss");
    if (rows < 0 || cols < 1)
        return ck_error(CKERAS_EINVAL, "%s: targets of %lld rows x %lld columns", canonical[l->kind],
                        (long long)rows, (long long)cols);
    if (rows > 0 && !y_true)
        return ck_error(CKERAS_EINVAL, "%s: y_true is NULL", canonical[l->kind]);
    if (l->kind != CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
        return CKERAS_OK;
    for (int64_t r = 0; r < rows; r++) {
        float v = y_true[r];
        if (!(v >= 0.0f && v < (float)cols) || v != floorf(v))
            return ck_error(CKERAS_EINVAL,
                            "sparse_categorical_crossentropy: y_true row %lld is %g, not a class index in [0, %lld)",
                            (long long)r, (double)v, (long long)cols);
    }
    return CKERAS_OK;
}

/* ---- helpers --------------------------------------------------------------------------- */

static inline float clipf(float x, float lo, float hi)
{
    return x < lo ? lo : (x > hi ? hi : x); /* NaN passes through */
}

/* Inside [lo, hi], bounds included: torch's clamp passes the gradient there. */
static inline bool inside(float x, float lo, float hi)
{
    return x >= lo && x <= hi;
}

/* The same clip for a probability computed in double (y / row sum). */
static inline double clipd(double p)
{
    return p < (double)EPS ? (double)EPS : (p > (double)PROB_HI ? (double)PROB_HI : p);
}

static inline bool inside_d(double p)
{
    return p >= (double)EPS && p <= (double)PROB_HI;
}

static inline double sign(double x)
{
    return (double)(x > 0) - (double)(x < 0);
}

static inline void put_row(float *per_row, int64_t r, double v, double *total)
{
    *total += v;
    if (per_row)
        per_row[r] = (float)v;
}

/* ---- cross-entropies ------------------------------------------------------------------- */

/* Elementwise, mean over cols. Probabilities: -(t log p + (1-t) log(1-p)) with p clipped,
 * d/dp = (p - t) / (p (1 - p)). Logits: softplus(x) - t x, d/dx = sigmoid(x) - t. */
static double bce(bool logits, const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad,
                  float scale, float *per_row)
{
    const double inv_c = 1.0 / (double)cols, gs = (double)scale * inv_c;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        float *g = grad ? grad + r * cols : NULL;
        double acc = 0.0;
        if (logits) {
            for (int64_t c = 0; c < cols; c++) {
                /* e = exp(-|x|): softplus(x) = max(x, 0) + log1p(e), sigmoid(x) from e */
                double x = y[c], tc = t[c], e = exp(-fabs(x));
                acc += (x > 0 ? x : 0.0) + log1p(e) - tc * x;
                if (g)
                    g[c] = (float)(gs * ((x >= 0 ? 1.0 : e) / (1.0 + e) - tc));
            }
        } else {
            for (int64_t c = 0; c < cols; c++) {
                double p = clipf(y[c], EPS, PROB_HI), tc = t[c];
                if (tc == 1.0)
                    acc -= log(p);
                else if (tc == 0.0)
                    acc -= log1p(-p);
                else
                    acc -= tc * log(p) + (1.0 - tc) * log1p(-p);
                if (g)
                    g[c] = inside(y[c], EPS, PROB_HI) ? (float)(gs * (p - tc) / (p * (1.0 - p))) : 0.0f;
            }
        }
        put_row(per_row, r, acc * inv_c, &total);
    }
    return total;
}

/* Categorical cross-entropy over each row; y_true is the rows x cols target distribution, or
 * (sparse) NULL with idx giving one class per row.
 * Probabilities: p = y / sum(y), q = clip(p), L = -sum t log q. With g_j = -t_j / q_j where p_j
 * is inside the clip range (else 0): dL/dy_k = (g_k - sum_j g_j p_j) / sum(y).
 * Logits: L = sum(t) lse(x) - sum t x, dL/dx = sum(t) softmax(x) - t. */
static double cce(bool logits, const float *yt, const float *yidx, const float *yp, int64_t rows, int64_t cols,
                  float *grad, float scale, float *per_row)
{
    const double gs = scale;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *y = yp + r * cols;
        const float *t = yt ? yt + r * cols : NULL;
        float *g = grad ? grad + r * cols : NULL;
        int64_t k = -1; /* sparse class */
        if (!t) {
            float v = yidx[r];
            if (!(v >= 0.0f && v < (float)cols)) {
                put_row(per_row, r, NAN, &total);
                if (g)
                    memset(g, 0, (size_t)cols * sizeof *g);
                continue;
            }
            k = (int64_t)v;
        }
        double loss;
        if (logits) {
            double m = y[0];
            for (int64_t c = 1; c < cols; c++)
                m = y[c] > m ? y[c] : m;
            double se = 0.0; /* exp(x - m) is kept in g (when given) for the gradient */
            for (int64_t c = 0; c < cols; c++) {
                double e = exp((double)y[c] - m);
                se += e;
                if (g)
                    g[c] = (float)e;
            }
            double lse = m + log(se), st = 1.0;
            if (t) {
                double dot = 0.0;
                st = 0.0;
                for (int64_t c = 0; c < cols; c++) {
                    st += t[c];
                    dot += (double)t[c] * y[c];
                }
                loss = st * lse - dot;
            } else {
                loss = lse - y[k];
            }
            if (g) {
                double a = gs * st / se;
                for (int64_t c = 0; c < cols; c++) {
                    double tc = t ? t[c] : (double)(c == k);
                    g[c] = (float)(a * g[c] - gs * tc);
                }
            }
        } else {
            double s = 0.0;
            for (int64_t c = 0; c < cols; c++)
                s += y[c];
            const double inv_s = 1.0 / s;
            double gp = 0.0; /* sum_j g_j p_j */
            if (t) {
                loss = 0.0;
                for (int64_t c = 0; c < cols; c++) {
                    if (t[c] == 0.0f)
                        continue;
                    double p = y[c] * inv_s, q = clipd(p);
                    loss -= t[c] * log(q);
                    if (inside_d(p))
                        gp -= (double)t[c]; /* g_c p_c = -t_c */
                }
                if (g)
                    for (int64_t c = 0; c < cols; c++) {
                        double p = y[c] * inv_s;
                        double gc = (t[c] != 0.0f && inside_d(p)) ? -(double)t[c] / p : 0.0;
                        g[c] = (float)(gs * (gc - gp) * inv_s);
                    }
            } else {
                double p = y[k] * inv_s;
                loss = -log(clipd(p));
                bool on = inside_d(p);
                if (g) {
                    /* g_k = -1/p, gp = g_k p_k = -1 when inside; else the row's gradient is 0 */
                    double a = on ? gs * inv_s : 0.0;
                    for (int64_t c = 0; c < cols; c++)
                        g[c] = (float)a;
                    if (on)
                        g[k] = (float)(a * (1.0 - 1.0 / p));
                }
            }
        }
        put_row(per_row, r, loss, &total);
    }
    return total;
}

/* ---- regression losses (mean over cols) ------------------------------------------------ */

static double mse(const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad, float scale,
                  float *per_row)
{
    const double inv_c = 1.0 / (double)cols, gs = 2.0 * (double)scale * inv_c;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double acc = 0.0;
        if (grad) {
            float *g = grad + r * cols;
            for (int64_t c = 0; c < cols; c++) {
                double d = (double)y[c] - t[c];
                acc += d * d;
                g[c] = (float)(gs * d);
            }
        } else {
            for (int64_t c = 0; c < cols; c++) {
                double d = (double)y[c] - t[c];
                acc += d * d;
            }
        }
        put_row(per_row, r, acc * inv_c, &total);
    }
    return total;
}

/* Elementwise losses of e = y_pred - y_true (mean over cols): value and derivative in e. */
static inline double elem_loss(ck_loss_kind kind, double e, double delta, double *de)
{
    double a = fabs(e);
    switch (kind) {
    case CK_LOSS_MEAN_ABSOLUTE_ERROR:
        *de = sign(e);
        return a;
    case CK_LOSS_HUBER:
        if (a <= delta) {
            *de = e;
            return 0.5 * e * e;
        }
        *de = delta * sign(e);
        return delta * a - 0.5 * delta * delta;
    default: /* CK_LOSS_LOG_COSH: log(cosh e) = |e| + log1p(exp(-2|e|)) - log 2 */
        *de = tanh(e);
        return a + log1p(exp(-2.0 * a)) - M_LN2;
    }
}

static double elementwise(ck_loss_kind kind, double delta, const float *yt, const float *yp, int64_t rows,
                          int64_t cols, float *grad, float scale, float *per_row)
{
    const double inv_c = 1.0 / (double)cols, gs = (double)scale * inv_c;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double acc = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            double de;
            acc += elem_loss(kind, (double)y[c] - t[c], delta, &de);
            if (grad)
                grad[r * cols + c] = (float)(gs * de);
        }
        put_row(per_row, r, acc * inv_c, &total);
    }
    return total;
}

/* mean(y - t log(y + 1e-7)), d/dy = 1 - t / (y + 1e-7). */
static double poisson(const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad, float scale,
                      float *per_row)
{
    const double inv_c = 1.0 / (double)cols, gs = (double)scale * inv_c;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double acc = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            double ye = (double)y[c] + (double)EPS;
            acc += (double)y[c] - t[c] * log(ye);
            if (grad)
                grad[r * cols + c] = (float)(gs * (1.0 - t[c] / ye));
        }
        put_row(per_row, r, acc * inv_c, &total);
    }
    return total;
}

/* sum t log(t / p) with t, p clipped to [1e-7, 1]; d/dp = -t / p where p is inside. */
static double kld(const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad, float scale,
                  float *per_row)
{
    const double gs = scale;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double acc = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            double tc = clipf(t[c], EPS, 1.0f), p = clipf(y[c], EPS, 1.0f);
            acc += tc * log(tc / p);
            if (grad)
                grad[r * cols + c] = inside(y[c], EPS, 1.0f) ? (float)(-gs * tc / p) : 0.0f;
        }
        put_row(per_row, r, acc, &total);
    }
    return total;
}

/* ---- hinge losses ---------------------------------------------------------------------- */

/* mean(max(1 - t y, 0)) or its square; t is 2 y_true - 1 when all of y_true is 0 or 1. */
static double hinge(bool squared, const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad,
                    float scale, float *per_row)
{
    const int64_t n = rows * cols;
    bool binary = true;
    for (int64_t i = 0; i < n && binary; i++)
        binary = yt[i] == 0.0f || yt[i] == 1.0f;
    const double inv_c = 1.0 / (double)cols, gs = (double)scale * inv_c;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double acc = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            double tc = binary ? 2.0 * t[c] - 1.0 : t[c];
            double m = 1.0 - tc * y[c], dm; /* dm: d loss / d margin */
            if (squared) {
                acc += m > 0 ? m * m : 0.0;
                dm = m > 0 ? 2.0 * m : 0.0;
            } else {
                acc += m > 0 ? m : 0.0;
                dm = m > 0 ? 1.0 : (m == 0 ? 0.5 : 0.0);
            }
            if (grad)
                grad[r * cols + c] = (float)(-gs * dm * tc);
        }
        put_row(per_row, r, acc * inv_c, &total);
    }
    return total;
}

/* max(neg - pos + 1, 0), pos = sum t y, neg = max_j (1 - t_j) y_j (ties share the gradient). */
static double categorical_hinge(const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad,
                                float scale, float *per_row)
{
    const double gs = scale;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double pos = 0.0, neg = -INFINITY;
        int64_t ties = 0;
        for (int64_t c = 0; c < cols; c++) {
            double v = (1.0 - t[c]) * y[c];
            pos += (double)t[c] * y[c];
            if (v > neg) {
                neg = v;
                ties = 1;
            } else if (v == neg) {
                ties++;
            }
        }
        double m = neg - pos + 1.0;
        put_row(per_row, r, m > 0 ? m : 0.0, &total);
        if (grad) {
            double w = gs * (m > 0 ? 1.0 : (m == 0 ? 0.5 : 0.0));
            for (int64_t c = 0; c < cols; c++) {
                double v = (1.0 - t[c]) * y[c];
                double dneg = v == neg ? (1.0 - t[c]) / (double)ties : 0.0;
                grad[r * cols + c] = (float)(w * (dneg - t[c]));
            }
        }
    }
    return total;
}

/* -sum(t / max(|t|, eps) * y / max(|y|, eps)). With u = t / max(|t|, eps), n = |y| > eps,
 * c = u.y / n: dL/dy = -(u - c y / n) / n; when |y| <= eps the norm is the constant eps and
 * dL/dy = -u / eps. */
static double cosine(const float *yt, const float *yp, int64_t rows, int64_t cols, float *grad, float scale,
                     float *per_row)
{
    const double gs = scale, eps = EPS;
    double total = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *t = yt + r * cols, *y = yp + r * cols;
        double tt = 0.0, yy = 0.0, ty = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            tt += (double)t[c] * t[c];
            yy += (double)y[c] * y[c];
            ty += (double)t[c] * y[c];
        }
        double nt = fmax(sqrt(tt), eps), ny = sqrt(yy);
        bool floor_y = !(ny > eps);
        if (floor_y)
            ny = eps;
        double cs = ty / (nt * ny);
        put_row(per_row, r, -cs, &total);
        if (grad)
            for (int64_t c = 0; c < cols; c++) {
                double u = t[c] / nt;
                double d = floor_y ? u : u - cs * y[c] / ny;
                grad[r * cols + c] = (float)(-gs * d / ny);
            }
    }
    return total;
}

/* ---- dispatch -------------------------------------------------------------------------- */

double ck_loss_compute(const ck_loss *l, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                       float *grad, float scale, float *per_row)
{
    if (!l)
        return NAN;
    if (rows <= 0)
        return 0.0;
    if (cols < 1)
        return NAN;
    switch (l->kind) {
    case CK_LOSS_BINARY_CROSSENTROPY:
        return bce(l->from_logits, y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_CATEGORICAL_CROSSENTROPY:
        return cce(l->from_logits, y_true, NULL, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        return cce(l->from_logits, NULL, y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_MEAN_SQUARED_ERROR:
        return mse(y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_MEAN_ABSOLUTE_ERROR:
    case CK_LOSS_HUBER:
    case CK_LOSS_LOG_COSH:
        return elementwise(l->kind, l->delta, y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_KL_DIVERGENCE:
        return kld(y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_POISSON:
        return poisson(y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_HINGE:
        return hinge(false, y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_SQUARED_HINGE:
        return hinge(true, y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_CATEGORICAL_HINGE:
        return categorical_hinge(y_true, y_pred, rows, cols, grad, scale, per_row);
    case CK_LOSS_COSINE_SIMILARITY:
        return cosine(y_true, y_pred, rows, cols, grad, scale, per_row);
    default:
        return NAN;
    }
}
