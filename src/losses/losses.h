/* src/losses: Keras losses, value and gradient on plain arrays. */
#ifndef CK_LOSSES_H
#define CK_LOSSES_H

#include "core/core.h"

typedef enum ck_loss_kind {
    CK_LOSS_BINARY_CROSSENTROPY = 0,
    CK_LOSS_CATEGORICAL_CROSSENTROPY,
    CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY,
    CK_LOSS_MEAN_SQUARED_ERROR,
    CK_LOSS_MEAN_ABSOLUTE_ERROR,
    CK_LOSS_HUBER,
    CK_LOSS_KL_DIVERGENCE,
    CK_LOSS_POISSON,
    CK_LOSS_LOG_COSH,
    CK_LOSS_HINGE,
    CK_LOSS_SQUARED_HINGE,
    CK_LOSS_CATEGORICAL_HINGE,
    CK_LOSS_COSINE_SIMILARITY,
    CK_LOSS_COUNT
} ck_loss_kind;

typedef struct ck_loss {
    ck_loss_kind kind;
    bool from_logits; /* cross-entropies only */
    float delta;      /* huber (default 1.0) */
} ck_loss;

/* Parses a Keras loss name: function names and aliases ("binary_crossentropy", "mse",
 * "mean_squared_error", "mae", "huber", "kld", ...) and class names ("BinaryCrossentropy").
 * Unknown names are CKERAS_EINVAL with the accepted list. Defaults: from_logits false, delta 1. */
ckeras_status ck_loss_parse(const char *name, ck_loss *out);
/* Keras' function name of the loss, as training_config writes it ("binary_crossentropy",
 * "huber", "kl_divergence", "log_cosh"). NULL for NULL or an invalid kind. */
const char *ck_loss_name(const ck_loss *l);

/* Values of y_true per row the loss expects for an output of cols columns: 1 for sparse
 * categorical cross-entropy (one class index), cols otherwise. */
int64_t ck_loss_target_width(const ck_loss *l, int64_t cols);

/* Checks the targets once (per fit/evaluate), outside the hot path. For sparse categorical
 * cross-entropy every y_true[r] (rows values) must be an integer in [0, cols): otherwise
 * CKERAS_EINVAL naming the first bad row and its value. Other losses accept any y_true
 * (rows x cols; NaN/Inf are the API's CKERAS_ENAN check). CKERAS_EINVAL also for NULL l,
 * NULL y_true with rows > 0, rows < 0 or cols < 1. */
ckeras_status ck_loss_check_targets(const ck_loss *l, const float *y_true, int64_t rows, int64_t cols);

/* Loss over a batch. y_pred is rows x cols (rows = every axis but the last, flattened).
 * y_true is rows x cols too, except for sparse categorical cross-entropy where it is rows class
 * indices stored as floats. Returns the SUM over rows of the per-row loss (Keras' per-sample
 * value; divide by rows for "sum_over_batch_size"). per_row (may be NULL) receives each row's
 * loss. When grad is not NULL it receives scale * d(sum of per-row losses)/d(y_pred), rows x cols
 * (pass scale = 1/total_rows for the gradient of the mean). */
double ck_loss_compute(const ck_loss *l, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                       float *grad, float scale, float *per_row);
/* Semantics of ck_loss_compute (Keras 3, float32 inputs, arithmetic in double):
 * - per-row reduction over the last axis: mean for binary_crossentropy, mean_squared_error,
 *   mean_absolute_error, huber, poisson, log_cosh, hinge, squared_hinge; sum (one value per
 *   row by construction) for the categorical cross-entropies, kl_divergence,
 *   categorical_hinge and cosine_similarity.
 * - probability-mode cross-entropies clip y_pred to [1e-7, 1 - 1e-7] (float32 bounds) and the
 *   gradient is 0 where y_pred lies outside; categorical ones first divide y_pred by its row
 *   sum. from_logits uses log-sum-exp / softplus forms, stable for any logit.
 * - sparse categorical cross-entropy: y_true[r] is truncated to an integer; a value outside
 *   [0, cols) (or NaN) makes that row's loss NaN (so the sum is NaN) and its gradient 0. Call
 *   ck_loss_check_targets once beforehand to report such targets as an error instead.
 * - kl_divergence clips y_true and y_pred to [1e-7, 1]; poisson is
 *   mean(y_pred - y_true * log(y_pred + 1e-7)); hinge and squared_hinge map y_true to
 *   2*y_true - 1 when EVERY value of y_true in the call is 0 or 1; cosine_similarity is the
 *   negative cosine with each norm bounded below by 1e-7.
 * - at kinks the gradient is torch's (the Keras reference backend): abs'(0) = 0, and where a
 *   maximum(a, b) is tied (hinge margin exactly 0) each side gets half.
 * rows = 0 returns 0; NULL l, an invalid kind or cols < 1 with rows > 0 returns NaN. grad and
 * per_row must not overlap y_true or y_pred. No allocation; thread-safe on distinct outputs. */

#endif
