/* Losses: Keras 3's numbers (tests/fixtures/keras3-traces/losses.json), central finite
 * differences of every gradient, hand-computed edge cases, names and aliases. */
#include "losses/losses.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *canonical_name_of(int kind)
{
    ck_loss l = {.kind = (ck_loss_kind)kind, .from_logits = false, .delta = 1.0f};
    return ck_loss_name(&l);
}

/* ---- Keras fixtures ---------------------------------------------------------------------- */

/* "keras.losses.Huber(delta=0.5)" -> class name "Huber" into buf, delta 0.5 into *delta. */
static void parse_constructor(const char *call, char *buf, size_t n, float *delta)
{
    const char *p = strstr(call, "keras.losses.");
    ck_assert_ptr_nonnull(p);
    p += strlen("keras.losses.");
    size_t k = strcspn(p, "(");
    ck_assert(k < n);
    memcpy(buf, p, k);
    buf[k] = '\0';
    const char *d = strstr(call, "delta=");
    *delta = d ? strtof(d + 6, NULL) : 1.0f;
}

/* Tolerances: rtol 1e-6 as the fixture README states, plus an absolute floor of 1e-8 on
 * gradients, for the three entries where Keras' float32 arithmetic loses the digits that our
 * double arithmetic keeps (checked against torch in float64):
 * - binary_crossentropy_from_logits_extreme: sigmoid(30) - 1 is -9.4e-14 (/ 8 = -1.2e-14) in
 *   double, exactly 0 in float32 (sigmoid(30) rounds to 1);
 * - poisson at y_pred = y_true = 1: 1 - 1 / (1 + 1e-7) is 1e-7 (/ 12 = 8.3e-9) in double,
 *   the fixture has the float32 result 7.45e-9;
 * - cosine_similarity element [3][1]: a small difference of O(0.1) terms, -0.00380155287 in
 *   float64, -0.00380156189 in Keras' float32 (we give -0.00380155281).
 * All other values and gradients meet 1e-6 relative with no absolute floor. */
static const double RTOL = 1e-6, GRAD_ATOL = 1e-8;

START_TEST(keras_fixture_cases)
{
    json_t *root = tu_load_json("keras3-traces/losses.json");
    json_t *cases = tu_get(root, "cases");
    const char *key;
    json_t *c;
    int ncases = 0;
    bool seen[CK_LOSS_COUNT] = {false};
    json_object_foreach(cases, key, c) {
        char cls[64], what[160];
        float delta;
        parse_constructor(json_string_value(tu_get(c, "loss")), cls, sizeof cls, &delta);
        ck_loss l;
        ck_assert_msg(ck_loss_parse(cls, &l) == CKERAS_OK, "%s: parse %s: %s", key, cls, ckeras_last_error());
        json_t *fl = json_object_get(tu_get(c, "config"), "from_logits");
        l.from_logits = fl && json_is_true(fl);
        l.delta = delta;
        /* the config's name is Keras' function name, except Huber's class default "huber_loss" */
        const char *cfg_name = json_string_value(tu_get(c, "config/name"));
        ck_loss l2;
        ck_assert_int_eq(ck_loss_parse(cfg_name, &l2), CKERAS_OK);
        ck_assert_int_eq(l2.kind, l.kind);
        seen[l.kind] = true;

        size_t nt, np, nps, ng;
        int64_t shape[8];
        int ndim = 0;
        float *yt = tu_floats(tu_get(c, "y_true"), &nt, NULL, NULL);
        float *yp = tu_floats(tu_get(c, "y_pred"), &np, shape, &ndim);
        float *ps = tu_floats(tu_get(c, "per_sample"), &nps, NULL, NULL);
        float *gref = tu_floats(tu_get(c, "grad_y_pred"), &ng, NULL, NULL);
        int64_t cols = shape[ndim - 1], rows = (int64_t)np / cols;
        ck_assert_int_eq((int64_t)nps, rows);
        ck_assert_int_eq((int64_t)ng, (int64_t)np);
        ck_assert_int_eq((int64_t)nt, rows * ck_loss_target_width(&l, cols));
        ck_assert_int_eq(ck_loss_check_targets(&l, yt, rows, cols), CKERAS_OK);

        float *per_row = calloc((size_t)rows, sizeof *per_row);
        float *grad = calloc(np, sizeof *grad);
        uint64_t allocs = ck_alloc_count();
        double sum = ck_loss_compute(&l, yt, yp, rows, cols, grad, 1.0f / (float)rows, per_row);
        ck_assert(ck_alloc_count() == allocs);
        double value = sum / (double)rows, ref = tu_number(tu_get(c, "value"));
        ck_assert_msg(fabs(value - ref) <= RTOL * fabs(ref), "%s: value %.9g, Keras %.9g", key, value, ref);
        snprintf(what, sizeof what, "%s per_sample", key);
        tu_assert_close(per_row, ps, (size_t)rows, 0.0, RTOL, what);
        snprintf(what, sizeof what, "%s grad_y_pred", key);
        tu_assert_close(grad, gref, np, GRAD_ATOL, RTOL, what);
        /* without the optional outputs, the same value */
        ck_assert(ck_loss_compute(&l, yt, yp, rows, cols, NULL, 0.0f, NULL) == sum);

        free(per_row);
        free(grad);
        free(yt);
        free(yp);
        free(ps);
        free(gref);
        ncases++;
    }
    ck_assert_int_eq(ncases, 24);
    for (int k = 0; k < CK_LOSS_COUNT; k++)
        ck_assert_msg(seen[k], "no fixture case for %s", canonical_name_of(k));
    json_decref(root);
}
END_TEST

/* ---- central finite differences ------------------------------------------------------------ */

enum { FD_ROWS = 3, FD_COLS = 4 };

static double unif(ck_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * ck_rng_uniform(r);
}

/* Fills y_true and y_pred (FD_ROWS x FD_COLS; y_true is FD_ROWS class indices for sparse CE)
 * with a random point at least 0.01 away from every clip bound and kink of the loss (the
 * finite-difference step is 1e-4). Returns false if the draw must be repeated. */
static bool draw_point(const ck_loss *l, ck_rng *r, float *yt, float *yp)
{
    const int n = FD_ROWS * FD_COLS;
    switch (l->kind) {
    case CK_LOSS_BINARY_CROSSENTROPY:
        for (int i = 0; i < n; i++) {
            double u = ck_rng_uniform(r);
            yt[i] = u < 0.4 ? 0.0f : (u < 0.8 ? 1.0f : (float)unif(r, 0, 1)); /* hard and soft */
            yp[i] = l->from_logits ? (float)(3.0 * ck_rng_normal(r)) : (float)unif(r, 0.05, 0.95);
        }
        return true;
    case CK_LOSS_CATEGORICAL_CROSSENTROPY:
    case CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY:
        for (int row = 0; row < FD_ROWS; row++) {
            int k = (int)ck_rng_below(r, FD_COLS);
            if (l->kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY)
                yt[row] = (float)k;
            for (int c = 0; c < FD_COLS; c++) {
                int i = row * FD_COLS + c;
                if (l->kind == CK_LOSS_CATEGORICAL_CROSSENTROPY) /* row 0 soft, others one-hot */
                    yt[i] = row == 0 ? (float)unif(r, 0, 0.5) : (float)(c == k);
                /* unnormalised probabilities: y / sum(y) in [0.025, 0.77] */
                yp[i] = l->from_logits ? (float)(2.0 * ck_rng_normal(r)) : (float)unif(r, 0.1, 1.0);
            }
        }
        return true;
    case CK_LOSS_MEAN_SQUARED_ERROR:
    case CK_LOSS_LOG_COSH:
    case CK_LOSS_COSINE_SIMILARITY:
        for (int i = 0; i < n; i++) {
            yt[i] = (float)ck_rng_normal(r);
            yp[i] = (float)(2.0 * ck_rng_normal(r));
        }
        return true;
    case CK_LOSS_MEAN_ABSOLUTE_ERROR:
    case CK_LOSS_HUBER:
        for (int i = 0; i < n; i++) {
            yt[i] = (float)ck_rng_normal(r);
            yp[i] = (float)(yt[i] + 1.5 * ck_rng_normal(r));
            double a = fabs((double)yp[i] - yt[i]);
            if (a < 0.01 || fabs(a - l->delta) < 0.01)
                return false;
        }
        return true;
    case CK_LOSS_KL_DIVERGENCE:
        for (int i = 0; i < n; i++) {
            yt[i] = i % 5 == 0 ? 0.0f : (float)unif(r, 0, 1); /* some zeros: t clipped to 1e-7 */
            yp[i] = (float)unif(r, 0.05, 0.95);
        }
        return true;
    case CK_LOSS_POISSON:
        for (int i = 0; i < n; i++) {
            yt[i] = (float)(int)unif(r, 0, 5);
            yp[i] = (float)unif(r, 0.2, 3.0);
        }
        return true;
    case CK_LOSS_HINGE:
    case CK_LOSS_SQUARED_HINGE:
        for (int i = 0; i < n; i++) {
            yt[i] = ck_rng_uniform(r) < 0.5 ? -1.0f : 1.0f;
            yp[i] = (float)(1.5 * ck_rng_normal(r));
            if (fabs(1.0 - (double)yt[i] * yp[i]) < 0.01)
                return false;
        }
        return true;
    case CK_LOSS_CATEGORICAL_HINGE:
        for (int row = 0; row < FD_ROWS; row++) {
            int k = (int)ck_rng_below(r, FD_COLS);
            double pos = 0, best = -INFINITY, second = -INFINITY;
            for (int c = 0; c < FD_COLS; c++) {
                int i = row * FD_COLS + c;
                yt[i] = (float)(c == k);
                yp[i] = (float)ck_rng_normal(r);
                pos += yt[i] * yp[i];
                double v = (1.0 - yt[i]) * yp[i];
                if (v > best) {
                    second = best;
                    best = v;
                } else if (v > second) {
                    second = v;
                }
            }
            if (best - second < 0.01 || fabs(best - pos + 1.0) < 0.01)
                return false;
        }
        return true;
    default:
        return false;
    }
}

static void fd_check(const ck_loss *l, uint64_t seed)
{
    const int n = FD_ROWS * FD_COLS;
    const float scale = 0.7f;
    const double h = 1e-4;
    float yt[FD_ROWS * FD_COLS], yp[FD_ROWS * FD_COLS], grad[FD_ROWS * FD_COLS], per_row[FD_ROWS];
    ck_rng r;
    ck_rng_seed(&r, seed);
    for (int trial = 0; trial < 5; trial++) {
        int tries = 0;
        while (!draw_point(l, &r, yt, yp))
            ck_assert_msg(++tries < 1000, "%s: no valid point", ck_loss_name(l));
        double sum = ck_loss_compute(l, yt, yp, FD_ROWS, FD_COLS, grad, scale, per_row);
        double s = 0;
        for (int row = 0; row < FD_ROWS; row++)
            s += per_row[row];
        ck_assert(isfinite(sum));
        ck_assert(fabs(s - sum) <= 1e-6 * (fabs(sum) + 1.0));
        for (int i = 0; i < n; i++) {
            float x = yp[i];
            float xp = (float)(x + h), xm = (float)(x - h);
            yp[i] = xp;
            double fp = ck_loss_compute(l, yt, yp, FD_ROWS, FD_COLS, NULL, 0.0f, NULL);
            yp[i] = xm;
            double fm = ck_loss_compute(l, yt, yp, FD_ROWS, FD_COLS, NULL, 0.0f, NULL);
            yp[i] = x;
            double fd = scale * (fp - fm) / ((double)xp - (double)xm);
            ck_assert_msg(fabs(grad[i] - fd) <= 2e-5 * fabs(fd) + 1e-6,
                          "%s (logits %d, delta %g) trial %d element %d: grad %.9g, finite difference %.9g",
                          ck_loss_name(l), l->from_logits, (double)l->delta, trial, i, (double)grad[i], fd);
        }
    }
}

START_TEST(finite_differences)
{
    for (int k = 0; k < CK_LOSS_COUNT; k++) {
        ck_loss l = {.kind = (ck_loss_kind)k, .from_logits = false, .delta = 1.0f};
        fd_check(&l, 100 + (uint64_t)k);
        if (k <= CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
            l.from_logits = true;
            fd_check(&l, 200 + (uint64_t)k);
        }
        if (k == CK_LOSS_HUBER) {
            l.delta = 0.5f;
            fd_check(&l, 300);
            l.delta = 2.0f;
            fd_check(&l, 301);
        }
    }
}
END_TEST

/* ---- hand-computed edge cases ---------------------------------------------------------------- */

START_TEST(hinge_label_conversion_is_per_call)
{
    ck_loss l;
    ck_assert_int_eq(ck_loss_parse("hinge", &l), CKERAS_OK);
    /* {0,1} labels become {-1,1}: t = -1, y = 0.2 -> 1.2; t = 1, y = 0.2 -> 0.8 */
    float yt01[2] = {0.0f, 1.0f}, yp[2] = {0.2f, 0.2f};
    ck_assert(fabs(ck_loss_compute(&l, yt01, yp, 1, 2, NULL, 1.0f, NULL) - 1.0) < 1e-7);
    /* a 0.5 anywhere keeps all labels as given: 1 - 0 = 1 and 1 - 0.1 = 0.9 -> mean 0.95 */
    float ytmix[4] = {0.0f, 0.5f, 1.0f, 1.0f}, yp4[4] = {0.2f, 0.2f, 2.0f, 2.0f};
    float per_row[2];
    ck_loss_compute(&l, ytmix, yp4, 2, 2, NULL, 1.0f, per_row);
    ck_assert(fabs(per_row[0] - 0.95) < 1e-7);
    ck_assert(fabs(per_row[1] - 0.0) < 1e-7);
    /* margin exactly 0 (t = 1, y = 1): torch's maximum splits the gradient, -t / 2 / cols */
    float yt1[1] = {1.0f}, y1[1] = {1.0f}, g[1];
    ck_assert(ck_loss_compute(&l, yt1, y1, 1, 1, g, 1.0f, NULL) == 0.0);
    ck_assert(g[0] == -0.5f);
}
END_TEST

START_TEST(categorical_hinge_ties)
{
    ck_loss l;
    ck_assert_int_eq(ck_loss_parse("categorical_hinge", &l), CKERAS_OK);
    /* row 0: pos = 0, neg = 2 from two tied columns (torch's max shares the gradient evenly):
     * loss 3, grad (-1, 0.5, 0.5). row 1: every wrong class negative, so neg is the 0 of the
     * true column ((1 - 1) * 0.5): loss 0 - 0.5 + 1 = 0.5, grad (-1, 0, 0). */
    float yt[6] = {1, 0, 0, 1, 0, 0}, yp[6] = {0.0f, 2.0f, 2.0f, 0.5f, -1.0f, -2.0f}, g[6], per_row[2];
    double v = ck_loss_compute(&l, yt, yp, 2, 3, g, 1.0f, per_row);
    ck_assert(v == 3.5 && per_row[0] == 3.0f && per_row[1] == 0.5f);
    const float want[6] = {-1.0f, 0.5f, 0.5f, -1.0f, 0.0f, 0.0f};
    tu_assert_close(g, want, 6, 0.0, 0.0, "categorical_hinge ties");
}
END_TEST

START_TEST(extreme_logits_stay_finite)
{
    ck_loss l;
    ck_assert_int_eq(ck_loss_parse("binary_crossentropy", &l), CKERAS_OK);
    l.from_logits = true;
    /* softplus(1000) - 0 = 1000; softplus(-1000) - 1 * (-1000) = 1000; softplus(-1000) ~ 0 */
    float yt[3] = {0.0f, 1.0f, 0.0f}, yp[3] = {1000.0f, -1000.0f, -1000.0f}, g[3];
    double v = ck_loss_compute(&l, yt, yp, 1, 3, g, 1.0f, NULL);
    ck_assert(fabs(v - 2000.0 / 3.0) < 1e-9);
    ck_assert(fabs(g[0] - 1.0f / 3) < 1e-7 && fabs(g[1] + 1.0f / 3) < 1e-7 && fabs(g[2]) < 1e-30);
    ck_assert_int_eq(ck_loss_parse("categorical_crossentropy", &l), CKERAS_OK);
    l.from_logits = true;
    /* log-sum-exp of (1000, -1000, 0) = 1000; true class 1 -> 2000; gradient softmax - t */
    float t3[3] = {0.0f, 1.0f, 0.0f}, x3[3] = {1000.0f, -1000.0f, 0.0f};
    v = ck_loss_compute(&l, t3, x3, 1, 3, g, 1.0f, NULL);
    ck_assert(fabs(v - 2000.0) < 1e-9);
    ck_assert(g[0] == 1.0f && g[1] == -1.0f && g[2] == 0.0f);
}
END_TEST

START_TEST(sparse_targets_checked_and_bad_rows_nan)
{
    ck_loss l;
    ck_assert_int_eq(ck_loss_parse("SparseCategoricalCrossentropy", &l), CKERAS_OK);
    ck_assert_int_eq(ck_loss_target_width(&l, 5), 1);
    float good[3] = {0.0f, 2.0f, 1.0f};
    ck_assert_int_eq(ck_loss_check_targets(&l, good, 3, 3), CKERAS_OK);
    float bad_hi[3] = {0.0f, 2.0f, 3.0f};
    ck_assert_int_eq(ck_loss_check_targets(&l, bad_hi, 3, 3), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "row 2 is 3"));
    float bad_frac[2] = {1.5f, 0.0f};
    ck_assert_int_eq(ck_loss_check_targets(&l, bad_frac, 2, 3), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "row 0 is 1.5"));
    float bad_neg[2] = {0.0f, -1.0f};
    ck_assert_int_eq(ck_loss_check_targets(&l, bad_neg, 2, 3), CKERAS_EINVAL);
    float bad_nan[1] = {NAN};
    ck_assert_int_eq(ck_loss_check_targets(&l, bad_nan, 1, 3), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_check_targets(&l, NULL, 1, 3), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_check_targets(&l, good, 3, 0), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_check_targets(NULL, good, 3, 3), CKERAS_EINVAL);
    ck_loss mse;
    ck_assert_int_eq(ck_loss_parse("mse", &mse), CKERAS_OK);
    ck_assert_int_eq(ck_loss_target_width(&mse, 5), 5);
    ck_assert_int_eq(ck_loss_check_targets(&mse, bad_hi, 1, 3), CKERAS_OK);

    /* compute: row 1 has class 3 of 3 -> NaN loss, zero gradient; rows 0 and 2 unaffected:
     * uniform probabilities give -log(1/3) = log 3 each */
    float yt[3] = {0.0f, 3.0f, 2.0f}, yp[9], g[9], per_row[3];
    for (int i = 0; i < 9; i++)
        yp[i] = 0.25f;
    double v = ck_loss_compute(&l, yt, yp, 3, 3, g, 1.0f, per_row);
    ck_assert(isnan(v));
    ck_assert(isnan(per_row[1]));
    ck_assert(fabs(per_row[0] - log(3.0)) < 1e-6 && fabs(per_row[2] - log(3.0)) < 1e-6);
    for (int c = 0; c < 3; c++)
        ck_assert(g[3 + c] == 0.0f);
    /* row 0: dL/dy_k = (1 - 1/p_k) / s = (1 - 3) / 0.75, others 1 / 0.75 */
    ck_assert(fabs(g[0] + 2.0 / 0.75) < 1e-6 && fabs(g[1] - 1.0 / 0.75) < 1e-6);
}
END_TEST

START_TEST(degenerate_arguments)
{
    ck_loss l;
    ck_assert_int_eq(ck_loss_parse("mse", &l), CKERAS_OK);
    float y[2] = {1.0f, 2.0f};
    ck_assert(ck_loss_compute(&l, y, y, 0, 2, NULL, 1.0f, NULL) == 0.0);
    ck_assert(isnan(ck_loss_compute(&l, y, y, 1, 0, NULL, 1.0f, NULL)));
    ck_assert(isnan(ck_loss_compute(NULL, y, y, 1, 2, NULL, 1.0f, NULL)));
    ck_loss bad = {.kind = CK_LOSS_COUNT, .from_logits = false, .delta = 1.0f};
    ck_assert(isnan(ck_loss_compute(&bad, y, y, 1, 2, NULL, 1.0f, NULL)));
    ck_assert_ptr_null(ck_loss_name(&bad));
    ck_assert_ptr_null(ck_loss_name(NULL));
    /* cosine similarity of a zero prediction: loss 0, norm floored at 1e-7 -> -u / 1e-7 */
    ck_assert_int_eq(ck_loss_parse("cosine_similarity", &l), CKERAS_OK);
    float t[2] = {3.0f, 4.0f}, z[2] = {0.0f, 0.0f}, g[2];
    ck_assert(ck_loss_compute(&l, t, z, 1, 2, g, 1.0f, NULL) == 0.0);
    ck_assert(fabs(g[0] + 0.6e7) < 1.0 && fabs(g[1] + 0.8e7) < 1.0);
}
END_TEST

/* ---- names ----------------------------------------------------------------------------------- */

START_TEST(names_and_aliases)
{
    static const struct {
        const char *name;
        ck_loss_kind kind;
    } cases[] = {
        {"binary_crossentropy", CK_LOSS_BINARY_CROSSENTROPY},
        {"BinaryCrossentropy", CK_LOSS_BINARY_CROSSENTROPY},
        {"categorical_crossentropy", CK_LOSS_CATEGORICAL_CROSSENTROPY},
        {"CategoricalCrossentropy", CK_LOSS_CATEGORICAL_CROSSENTROPY},
        {"sparse_categorical_crossentropy", CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"SparseCategoricalCrossentropy", CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY},
        {"mean_squared_error", CK_LOSS_MEAN_SQUARED_ERROR},
        {"mse", CK_LOSS_MEAN_SQUARED_ERROR},
        {"MSE", CK_LOSS_MEAN_SQUARED_ERROR},
        {"MeanSquaredError", CK_LOSS_MEAN_SQUARED_ERROR},
        {"mean_absolute_error", CK_LOSS_MEAN_ABSOLUTE_ERROR},
        {"mae", CK_LOSS_MEAN_ABSOLUTE_ERROR},
        {"MeanAbsoluteError", CK_LOSS_MEAN_ABSOLUTE_ERROR},
        {"huber", CK_LOSS_HUBER},
        {"huber_loss", CK_LOSS_HUBER},
        {"Huber", CK_LOSS_HUBER},
        {"kl_divergence", CK_LOSS_KL_DIVERGENCE},
        {"kld", CK_LOSS_KL_DIVERGENCE},
        {"kullback_leibler_divergence", CK_LOSS_KL_DIVERGENCE},
        {"KLDivergence", CK_LOSS_KL_DIVERGENCE},
        {"poisson", CK_LOSS_POISSON},
        {"Poisson", CK_LOSS_POISSON},
        {"log_cosh", CK_LOSS_LOG_COSH},
        {"logcosh", CK_LOSS_LOG_COSH},
        {"LogCosh", CK_LOSS_LOG_COSH},
        {"hinge", CK_LOSS_HINGE},
        {"Hinge", CK_LOSS_HINGE},
        {"squared_hinge", CK_LOSS_SQUARED_HINGE},
        {"SquaredHinge", CK_LOSS_SQUARED_HINGE},
        {"categorical_hinge", CK_LOSS_CATEGORICAL_HINGE},
        {"CategoricalHinge", CK_LOSS_CATEGORICAL_HINGE},
        {"cosine_similarity", CK_LOSS_COSINE_SIMILARITY},
        {"CosineSimilarity", CK_LOSS_COSINE_SIMILARITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_loss l = {.kind = CK_LOSS_COUNT, .from_logits = true, .delta = 9.0f};
        ck_assert_msg(ck_loss_parse(cases[i].name, &l) == CKERAS_OK, "%s", cases[i].name);
        ck_assert_msg(l.kind == cases[i].kind, "%s", cases[i].name);
        ck_assert(!l.from_logits && l.delta == 1.0f);
    }
    /* function names as training_config writes them, and they parse back */
    static const char *const expected[CK_LOSS_COUNT] = {
        "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
        "mean_squared_error", "mean_absolute_error", "huber", "kl_divergence", "poisson", "log_cosh",
        "hinge", "squared_hinge", "categorical_hinge", "cosine_similarity"};
    for (int k = 0; k < CK_LOSS_COUNT; k++) {
        ck_loss l = {.kind = (ck_loss_kind)k, .from_logits = false, .delta = 1.0f}, back;
        ck_assert_str_eq(ck_loss_name(&l), expected[k]);
        ck_assert_int_eq(ck_loss_parse(ck_loss_name(&l), &back), CKERAS_OK);
        ck_assert_int_eq(back.kind, k);
    }
}
END_TEST

START_TEST(parse_errors)
{
    ck_loss l = {.kind = CK_LOSS_HINGE, .from_logits = true, .delta = 3.0f};
    ck_assert_int_eq(ck_loss_parse("binary_cross_entropy", &l), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "unknown loss 'binary_cross_entropy'"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "sparse_categorical_crossentropy"));
    ck_assert_int_eq(l.kind, CK_LOSS_HINGE); /* unchanged on failure */
    ck_assert(l.from_logits && l.delta == 3.0f);
    ck_assert_int_eq(ck_loss_parse("Mse", &l), CKERAS_EINVAL); /* Keras names are case-sensitive */
    ck_assert_int_eq(ck_loss_parse("", &l), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_parse("mean_absolute_percentage_error", &l), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_parse(NULL, &l), CKERAS_EINVAL);
    ck_assert_int_eq(ck_loss_parse("mse", NULL), CKERAS_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("losses");
    TCase *tc = tcase_create("losses");
    tcase_add_test(tc, keras_fixture_cases);
    tcase_add_test(tc, finite_differences);
    tcase_add_test(tc, hinge_label_conversion_is_per_call);
    tcase_add_test(tc, categorical_hinge_ties);
    tcase_add_test(tc, extreme_logits_stay_finite);
    tcase_add_test(tc, sparse_targets_checked_and_bad_rows_nan);
    tcase_add_test(tc, degenerate_arguments);
    tcase_add_test(tc, names_and_aliases);
    tcase_add_test(tc, parse_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
