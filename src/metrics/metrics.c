/* Keras metrics as accumulators over batches: accuracies, precision, recall, mse, mae.
 * Counts are kept in double; result() divides like Keras' divide_no_nan (0 when empty).
 *
 * Sizes: every length here is a count of a checked buffer (the model's parameters, a batch's
 * rows or values: core.h, checked size arithmetic), at most 2^48, so no product wraps. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct metric_name {
    const char *name;
    ck_metric_kind kind;
} metric_name;

/* Every accepted name except "accuracy"/"acc", which are resolved from shapes. */
static const metric_name names[] = {
    {"binary_accuracy", CK_METRIC_BINARY_ACCURACY},
    {"categorical_accuracy", CK_METRIC_CATEGORICAL_ACCURACY},
    {"sparse_categorical_accuracy", CK_METRIC_SPARSE_CATEGORICAL_ACCURACY},
    {"precision", CK_METRIC_PRECISION},
    {"recall", CK_METRIC_RECALL},
    {"mse", CK_METRIC_MEAN_SQUARED_ERROR},
    {"mean_squared_error", CK_METRIC_MEAN_SQUARED_ERROR},
    {"mae", CK_METRIC_MEAN_ABSOLUTE_ERROR},
    {"mean_absolute_error", CK_METRIC_MEAN_ABSOLUTE_ERROR},
};

#define ACCEPTED                                                                                        \
    "accuracy, acc, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, precision, "   \
    "recall, mse, mean_squared_error, mae, mean_absolute_error"

ckeras_status ck_metric_parse(const char *name, int y_true_rank, int64_t y_true_cols, int y_pred_rank,
                              int64_t y_pred_cols, ck_metric *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "metric: output is NULL");
    if (!name || !*name)
        return ck_error(CKERAS_EINVAL, "metric: no name given; accepted: %s", ACCEPTED);
    if (strlen(name) >= sizeof out->name)
        return ck_error(CKERAS_EINVAL, "metric: name '%.40s...' is too long (at most %zu characters)", name,
                        sizeof out->name - 1);
    ck_metric m;
    memset(&m, 0, sizeof m);
    m.threshold = 0.5f;
    if (strcmp(name, "accuracy") == 0 || strcmp(name, "acc") == 0) {
        /* Keras 3 (compile_utils.get_metric): from the shapes only, never from the loss. */
        if (y_pred_cols == 1)
            m.kind = CK_METRIC_BINARY_ACCURACY;
        else if (y_true_rank < y_pred_rank || y_true_cols == 1)
            m.kind = CK_METRIC_SPARSE_CATEGORICAL_ACCURACY;
        else
            m.kind = CK_METRIC_CATEGORICAL_ACCURACY;
    } else {
        size_t i;
        for (i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(name, names[i].name) == 0)
                break;
        if (i == sizeof names / sizeof names[0])
            return ck_error(CKERAS_EINVAL, "metric: unknown metric '%s'; accepted: %s", name, ACCEPTED);
        m.kind = names[i].kind;
    }
    /* Keras 3 names a metric given as a string by that string ("mse" stays "mse"). */
    snprintf(m.name, sizeof m.name, "%s", name);
    *out = m;
    return CKERAS_OK;
}

int ck_metric_direction(const ck_metric *m)
{
    if (!m)
        return 0;
    switch (m->kind) {
    case CK_METRIC_MEAN_SQUARED_ERROR:
    case CK_METRIC_MEAN_ABSOLUTE_ERROR:
        return -1;
    default:
        return +1;
    }
}

void ck_metric_reset(ck_metric *m)
{
    if (!m)
        return;
    m->total = m->count = 0.0;
    m->tp = m->fp = m->fn = 0.0;
}

/* First index of the largest value of x[0..n) (argmax); NaN never wins. */
static int64_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t j = 1; j < n; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}

void ck_metric_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                      int64_t true_cols)
{
    if (!m || !y_true || !y_pred || rows <= 0 || cols <= 0 || true_cols <= 0)
        return;
    /* Elementwise metrics compare y_true (rows, cols) with y_pred, or broadcast a single column. */
    bool elementwise = m->kind == CK_METRIC_BINARY_ACCURACY || m->kind == CK_METRIC_PRECISION ||
                       m->kind == CK_METRIC_RECALL || m->kind == CK_METRIC_MEAN_SQUARED_ERROR ||
                       m->kind == CK_METRIC_MEAN_ABSOLUTE_ERROR;
    if (elementwise && true_cols != cols && true_cols != 1)
        return;
    if (m->kind == CK_METRIC_CATEGORICAL_ACCURACY && true_cols != cols)
        return;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = y_pred + r * cols;     /* (cols) */
        const float *t = y_true + r * true_cols; /* (true_cols) */
        switch (m->kind) {
        case CK_METRIC_BINARY_ACCURACY: {
            /* Per sample: mean over the columns of (y_pred > threshold) == y_true. */
            double hit = 0.0;
            for (int64_t c = 0; c < cols; c++) {
                float yt = t[true_cols == 1 ? 0 : c];
                float pred = p[c] > m->threshold ? 1.0f : 0.0f;
                hit += pred == yt;
            }
            m->total += hit / (double)cols;
            m->count += 1.0;
            break;
        }
        case CK_METRIC_CATEGORICAL_ACCURACY:
            m->total += argmax(t, cols) == argmax(p, cols);
            m->count += 1.0;
            break;
        case CK_METRIC_SPARSE_CATEGORICAL_ACCURACY:
            /* The label (a float holding the class index) against argmax of the row. */
            m->total += (float)argmax(p, cols) == t[0];
            m->count += 1.0;
            break;
        case CK_METRIC_PRECISION:
        case CK_METRIC_RECALL:
            for (int64_t c = 0; c < cols; c++) {
                bool pos = p[c] > m->threshold;
                bool truth = t[true_cols == 1 ? 0 : c] != 0.0f;
                if (pos && truth)
                    m->tp += 1.0;
                else if (pos)
                    m->fp += 1.0;
                else if (truth)
                    m->fn += 1.0;
            }
            break;
        case CK_METRIC_MEAN_SQUARED_ERROR:
        case CK_METRIC_MEAN_ABSOLUTE_ERROR: {
            /* Per sample: mean over the columns, then the mean over samples. */
            double s = 0.0;
            for (int64_t c = 0; c < cols; c++) {
                double d = (double)t[true_cols == 1 ? 0 : c] - (double)p[c];
                s += m->kind == CK_METRIC_MEAN_SQUARED_ERROR ? d * d : fabs(d);
            }
            m->total += s / (double)cols;
            m->count += 1.0;
            break;
        }
        default:
            return;
        }
    }
}

double ck_metric_result(const ck_metric *m)
{
    if (!m)
        return 0.0;
    double num, den;
    switch (m->kind) {
    case CK_METRIC_PRECISION:
        num = m->tp;
        den = m->tp + m->fp;
        break;
    case CK_METRIC_RECALL:
        num = m->tp;
        den = m->tp + m->fn;
        break;
    default:
        num = m->total;
        den = m->count;
        break;
    }
    return den > 0.0 ? num / den : 0.0;
}

int ck_metric_state_count(const ck_metric *m)
{
    return 5;
}

void ck_metric_state_get(const ck_metric *m, double *state)
{
    const double v[5] = {m->total, m->count, m->tp, m->fp, m->fn};
    memcpy(state, v, sizeof v);
}

void ck_metric_state_set(ck_metric *m, const double *state)
{
    m->total = state[0];
    m->count = state[1];
    m->tp = state[2];
    m->fp = state[3];
    m->fn = state[4];
}
