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
    CK_METRIC_AUC,
    CK_METRIC_FBETA,      /* F1Score and FBetaScore */
    CK_METRIC_TOP_K,      /* TopKCategoricalAccuracy */
    CK_METRIC_SPARSE_TOP_K,
    CK_METRIC_MEAN_IOU,
    CK_METRIC_COUNT
} ck_metric_kind;

typedef struct ck_metric {
    ck_metric_kind kind;
    char name[96];    /* the key in logs and History ("accuracy", "precision", "mse", ...) */
    float threshold;  /* binary accuracy, precision, recall: y_pred > threshold is positive */
    double total, count;
    double tp, fp, fn;
    /* parameters of the metrics that have them (Keras' config keys) */
    bool from_config;      /* given as a Keras config: saved as {"class_name", "config"} */
    int curve;             /* AUC: 0 "ROC", 1 "PR" */
    int summation;         /* AUC: 0 "interpolation", 1 "minoring", 2 "majoring" */
    int64_t num_thresholds;
    bool from_logits;
    bool f1;               /* FBETA: class F1Score (its config has no beta) */
    int average;           /* FBETA: 0 None, 1 "micro", 2 "macro", 3 "weighted" */
    double beta;
    bool has_threshold;    /* FBETA: threshold given (else the row's largest value is positive) */
    double fb_threshold;
    int64_t k;             /* top-k */
    bool from_sorted_ids;  /* sparse top-k */
    int64_t num_classes;   /* MeanIoU */
    int64_t ignore_class;
    bool has_ignore_class, sparse_y_true, sparse_y_pred;
    /* state of AUC (two buckets of num_thresholds), F-beta (4 x classes) and MeanIoU (classes^2),
     * allocated by ck_metric_prepare before the first batch and freed by ck_metric_free */
    double *buf;
    int64_t nbuf, classes;
} ck_metric;

/* Bounds of the sizes a config may ask for (each metric's state is allocated once). */
#define CK_METRIC_MAX_THRESHOLDS 1000000
#define CK_METRIC_MAX_CLASSES 4096

/* Resolves a Keras metric name. "accuracy"/"acc" picks the accuracy Keras 3 picks from the
 * SHAPES: y_pred_cols == 1 -> binary; else y_true_rank < y_pred_rank or y_true_cols == 1 ->
 * sparse categorical; else categorical (ranks include the batch axis). The name kept in logs is
 * the one the user wrote, as Keras 3 does for every metric given as a string ("acc" -> "acc",
 * "mse" -> "mse", "mean_absolute_error" -> "mean_absolute_error"). Unknown names are
 * CKERAS_EINVAL with the accepted list. */
ckeras_status ck_metric_parse(const char *name, int y_true_rank, int64_t y_true_cols, int y_pred_rank,
                              int64_t y_pred_cols, ck_metric *out);
/* A metric from its Keras serialised form: an object {"class_name": "AUC", "config": {...}}
 * (Keras 3's "module" and "registered_name" are accepted). Classes: AUC, F1Score, FBetaScore,
 * TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanIoU. An unknown class or key, a
 * value of the wrong type or out of range is CKERAS_EINVAL; a Keras key ckeras does not
 * implement (AUC's thresholds, multi_label, label_weights; MeanIoU's axis other than -1) is
 * CKERAS_EUNSUPPORTED. No state is allocated. */
ckeras_status ck_metric_from_tree(const ck_tree *obj, ck_metric *out);
/* Whether cls (may be NULL) is one of the classes ck_metric_from_tree reads. */
bool ck_metric_class_known(const char *cls);
/* The serialised form Keras writes for m ({"class_name", "config"} with every config key in
 * Keras' order), or NULL when out of memory. */
ck_tree *ck_metric_to_tree(const ck_metric *m);
/* Before the first batch: checks m against the shapes (as ck_metric_parse takes them) and
 * allocates its state (freeing any previous one). */
ckeras_status ck_metric_prepare(ck_metric *m, int y_true_rank, int64_t y_true_cols, int y_pred_rank,
                                int64_t y_pred_cols);
/* Frees m's state (m stays usable as a description). NULL is a no-op. */
void ck_metric_free(ck_metric *m);
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
