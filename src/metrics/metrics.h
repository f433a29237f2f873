/* src/metrics: Keras metrics as accumulators over batches. */
#ifndef CK_METRICS_H
#define CK_METRICS_H

#include "core/core.h"

typedef enum ck_metric_kind {
    CK_METRIC_BINARY_ACCURACY = 0,
    CK_METRIC_CATEGORICAL_ACCURACY,
    CK_METRIC_SPARSE_CATEGORICAL_ACCURACY,
    CK_METRIC_PRECISION,
    CK_METRIC_RECALL,
    CK_METRIC_MEAN_SQUARED_ERROR,
    CK_METRIC_MEAN_ABSOLUTE_ERROR,
    CK_METRIC_COUNT
} ck_metric_kind;

typedef struct ck_metric {
    ck_metric_kind kind;
    char name[96];    /* the key in logs and History ("accuracy", "precision", "mse", ...) */
    float threshold;  /* binary accuracy, precision, recall: y_pred > threshold is positive */
    double total, count;
    double tp, fp, fn;
} ck_metric;

/* Resolves a Keras metric name. "accuracy"/"acc" picks the accuracy Keras 3 picks from the
 * SHAPES: y_pred_cols == 1 -> binary; else y_true_rank < y_pred_rank or y_true_cols == 1 ->
 * sparse categorical; else categorical (ranks include the batch axis). The name kept in logs is
 * the one the user wrote, as Keras 3 does for every metric given as a string ("acc" -> "acc",
 * "mse" -> "mse", "mean_absolute_error" -> "mean_absolute_error"). Unknown names are
 * CKERAS_EINVAL with the accepted list. */
ckeras_status ck_metric_parse(const char *name, int y_true_rank, int64_t y_true_cols, int y_pred_rank,
                              int64_t y_pred_cols, ck_metric *out);
/* +1 if larger is better, -1 if smaller is better (EarlyStopping's mode "auto"). */
int ck_metric_direction(const ck_metric *m);
void ck_metric_reset(ck_metric *m);
/* Accumulates a batch: y_pred rows x cols, y_true rows x true_cols (true_cols is 1 for sparse
 * labels stored as floats). Elementwise metrics (binary accuracy, precision, recall, mse, mae)
 * need true_cols == cols or true_cols == 1 (broadcast over the columns), categorical accuracy
 * needs true_cols == cols; a batch that does not fit is ignored (the caller checks shapes). */
void ck_metric_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                      int64_t true_cols);
/* The accumulators as numbers that add up over batches (and over the ranks of a distributed
 * fit): ck_metric_state_count() of them, read into or written from state[]. */
int ck_metric_state_count(const ck_metric *m);
void ck_metric_state_get(const ck_metric *m, double *state);
void ck_metric_state_set(ck_metric *m, const double *state);
/* The value over everything accumulated since the last reset (0 when nothing was seen). */
double ck_metric_result(const ck_metric *m);

#endif
