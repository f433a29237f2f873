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
/* Keras' function name of the loss, as training_config writes it ("binary_crossentropy"). */
const char *ck_loss_name(const ck_loss *l);

/* Loss over a batch. y_pred is rows x cols (rows = every axis but the last, flattened).
 * y_true is rows x cols too, except for sparse categorical cross-entropy where it is rows class
 * indices stored as floats. Returns the SUM over rows of the per-row loss (Keras' per-sample
 * value; divide by rows for "sum_over_batch_size"). per_row (may be NULL) receives each row's
 * loss. When grad is not NULL it receives scale * d(sum of per-row losses)/d(y_pred), rows x cols
 * (pass scale = 1/total_rows for the gradient of the mean). */
double ck_loss_compute(const ck_loss *l, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                       float *grad, float scale, float *per_row);

#endif
