/* Keras metrics as accumulators over batches: accuracies, precision, recall, mse, mae, AUC,
 * F1/F-beta, top-k accuracies, MeanIoU.
 * Counts are kept in double; result() divides like Keras' divide_no_nan (0 when empty).
 *
 * Sizes: every length here is a count of a checked buffer (the model's parameters, a batch's
 * rows or values: core.h, checked size arithmetic), at most 2^48, so no product wraps. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void auc_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t n);
static double auc_result(const ck_metric *m);
static void fbeta_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols);
static double fbeta_result(const ck_metric *m);
static bool in_top_k(const float *p, int64_t cols, int64_t target, int64_t k);
static bool label_of(float v, int64_t *out);
static void iou_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                       int64_t true_cols);
static double iou_result(const ck_metric *m);

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
    {"auc", CK_METRIC_AUC},
    {"AUC", CK_METRIC_AUC},
    {"f1_score", CK_METRIC_FBETA},
    {"F1Score", CK_METRIC_FBETA},
    {"FBetaScore", CK_METRIC_FBETA},
    {"top_k_categorical_accuracy", CK_METRIC_TOP_K},
    {"TopKCategoricalAccuracy", CK_METRIC_TOP_K},
    {"sparse_top_k_categorical_accuracy", CK_METRIC_SPARSE_TOP_K},
    {"SparseTopKCategoricalAccuracy", CK_METRIC_SPARSE_TOP_K},
};

#define ACCEPTED                                                                                        \
    "accuracy, acc, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, precision, "   \
    "recall, mse, mean_squared_error, mae, mean_absolute_error, auc, AUC, f1_score, F1Score, FBetaScore, "  \
    "top_k_categorical_accuracy, TopKCategoricalAccuracy, sparse_top_k_categorical_accuracy, "          \
    "SparseTopKCategoricalAccuracy (MeanIoU and parameters: ckeras_model_add_metric)"

/* Keras' defaults of each kind's parameters. */
static void defaults(ck_metric *m, ck_metric_kind kind)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->threshold = 0.5f;
    m->num_thresholds = 200;
    m->beta = 1.0;
    m->f1 = true;
    m->k = 5;
}

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
    defaults(&m, CK_METRIC_BINARY_ACCURACY);
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
        defaults(&m, names[i].kind);
        m.f1 = strcmp(name, "FBetaScore") != 0;
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
    if (m->buf)
        memset(m->buf, 0, (size_t)m->nbuf * sizeof *m->buf);
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
    switch (m->kind) { /* the metrics with a state of their own, or per row */
    case CK_METRIC_AUC:
        if (m->buf && true_cols == cols)
            auc_update(m, y_true, y_pred, rows * cols);
        return;
    case CK_METRIC_FBETA:
        if (m->buf && true_cols == cols && cols == m->classes)
            fbeta_update(m, y_true, y_pred, rows, cols);
        return;
    case CK_METRIC_MEAN_IOU:
        if (m->buf && (m->sparse_y_true ? true_cols : 1) == (m->sparse_y_pred ? cols : 1))
            iou_update(m, y_true, y_pred, rows, cols, true_cols);
        return;
    case CK_METRIC_TOP_K:
        for (int64_t r = 0; true_cols == cols && r < rows; r++) {
            m->total += in_top_k(y_pred + r * cols, cols, argmax(y_true + r * cols, cols), m->k);
            m->count += 1.0;
        }
        return;
    case CK_METRIC_SPARSE_TOP_K:
        for (int64_t r = 0; true_cols == 1 && r < rows; r++) {
            const float *p = y_pred + r * cols; /* (cols) */
            bool hit = false;
            int64_t label;
            if (m->from_sorted_ids) /* y_pred holds class ids, best first */
                for (int64_t j = 0; j < cols && j < m->k; j++)
                    hit = hit || p[j] == y_true[r];
            else
                hit = label_of(y_true[r], &label) && in_top_k(p, cols, label, m->k);
            m->total += hit;
            m->count += 1.0;
        }
        return;
    default:
        break;
    }
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
    case CK_METRIC_AUC:
        return m->buf ? auc_result(m) : 0.0;
    case CK_METRIC_FBETA:
        return m->buf ? fbeta_result(m) : 0.0;
    case CK_METRIC_MEAN_IOU:
        return m->buf ? iou_result(m) : 0.0;
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

/* ---- metrics with parameters ----------------------------------------------------------- */

typedef struct metric_class {
    const char *cls, *default_name, *keys;
    ck_metric_kind kind;
} metric_class;

static const metric_class classes[] = {
    {"AUC", "auc",
     "name, dtype, num_thresholds, curve, summation_method, thresholds, multi_label, num_labels, label_weights, "
     "from_logits",
     CK_METRIC_AUC},
    {"F1Score", "f1_score", "name, dtype, average, threshold", CK_METRIC_FBETA},
    {"FBetaScore", "fbeta_score", "name, dtype, average, beta, threshold", CK_METRIC_FBETA},
    {"TopKCategoricalAccuracy", "top_k_categorical_accuracy", "name, dtype, k", CK_METRIC_TOP_K},
    {"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy", "name, dtype, k, from_sorted_ids",
     CK_METRIC_SPARSE_TOP_K},
    {"MeanIoU", "mean_io_u", "num_classes, name, dtype, ignore_class, sparse_y_true, sparse_y_pred, axis",
     CK_METRIC_MEAN_IOU},
};

#define CLASSES "AUC, F1Score, FBetaScore, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanIoU"

/* A short text of a scalar config value for messages. */
static const char *show(const ck_tree *v, char *buf, size_t n)
{
    switch (v->kind) {
    case CK_T_NULL: return "null";
    case CK_T_BOOL: return v->i ? "true" : "false";
    case CK_T_INT: snprintf(buf, n, "%lld", (long long)v->i); return buf;
    case CK_T_FLOAT: snprintf(buf, n, "%g", v->f); return buf;
    case CK_T_STR: snprintf(buf, n, "\"%.40s\"", v->s); return buf;
    case CK_T_LIST: return "a list";
    default: return "an object";
    }
}

/* An integer value (an int, or a float with an integral value). */
static bool tree_int(const ck_tree *v, int64_t *out)
{
    if (v->kind == CK_T_INT) {
        *out = v->i;
        return true;
    }
    if (v->kind == CK_T_FLOAT && v->f == floor(v->f) && fabs(v->f) < 9e15) {
        *out = (int64_t)v->f;
        return true;
    }
    return false;
}

#define BAD(...) ck_error(CKERAS_EINVAL, "metric config: " __VA_ARGS__)

/* One config key of class c; false: not a key of that class. */
static ckeras_status config_key(ck_metric *m, const metric_class *c, const char *key, const ck_tree *v, bool *known)
{
    char vb[64];
    int64_t iv = 0;
    *known = true;
    const char *str = ck_tree_string(v);
    if (strcmp(key, "name") == 0) {
        if (v->kind == CK_T_NULL)
            return CKERAS_OK;
        if (!str || !*str || strlen(str) >= sizeof m->name)
            return BAD("%s: 'name' must be a non-empty string of at most %zu characters, got %s", c->cls,
                       sizeof m->name - 1, show(v, vb, sizeof vb));
        snprintf(m->name, sizeof m->name, "%s", str);
        return CKERAS_OK;
    }
    if (strcmp(key, "dtype") == 0)
        return CKERAS_OK; /* ckeras computes in float32 / double whatever Keras' dtype */
    switch (m->kind) {
    case CK_METRIC_AUC:
        if (strcmp(key, "num_thresholds") == 0) {
            if (!tree_int(v, &iv) || iv < 2 || iv > CK_METRIC_MAX_THRESHOLDS)
                return BAD("AUC: 'num_thresholds' must be an integer in [2, %d], got %s", CK_METRIC_MAX_THRESHOLDS,
                           show(v, vb, sizeof vb));
            m->num_thresholds = iv;
        } else if (strcmp(key, "curve") == 0) {
            if (str && (strcmp(str, "ROC") == 0 || strcmp(str, "roc") == 0))
                m->curve = 0;
            else if (str && (strcmp(str, "PR") == 0 || strcmp(str, "pr") == 0))
                m->curve = 1;
            else if (str && (strcmp(str, "PRGAIN") == 0 || strcmp(str, "prgain") == 0))
                return ck_error(CKERAS_EUNSUPPORTED, "metric config: AUC: curve \"PRGAIN\" is not supported; "
                                "accepted: \"ROC\", \"PR\"");
            else
                return BAD("AUC: 'curve' must be \"ROC\" or \"PR\", got %s", show(v, vb, sizeof vb));
        } else if (strcmp(key, "summation_method") == 0) {
            static const char *const sm[] = {"interpolation", "minoring", "majoring"};
            int i;
            for (i = 0; i < 3 && !(str && strcasecmp(str, sm[i]) == 0); i++)
                ;
            if (i == 3)
                return BAD("AUC: 'summation_method' must be \"interpolation\", \"minoring\" or \"majoring\", got %s",
                           show(v, vb, sizeof vb));
            m->summation = i;
        } else if (strcmp(key, "from_logits") == 0) {
            if (v->kind != CK_T_BOOL)
                return BAD("AUC: 'from_logits' must be true or false, got %s", show(v, vb, sizeof vb));
            m->from_logits = v->i != 0;
        } else if (strcmp(key, "multi_label") == 0) {
            if (v->kind != CK_T_BOOL)
                return BAD("AUC: 'multi_label' must be true or false, got %s", show(v, vb, sizeof vb));
            if (v->i)
                return ck_error(CKERAS_EUNSUPPORTED, "metric config: AUC: multi_label true is not supported (one "
                                "curve over all labels only)");
        } else if (strcmp(key, "thresholds") == 0 || strcmp(key, "num_labels") == 0 ||
                   strcmp(key, "label_weights") == 0) {
            if (v->kind != CK_T_NULL)
                return ck_error(CKERAS_EUNSUPPORTED, "metric config: AUC: '%s' is not supported (only null; "
                                "ckeras uses num_thresholds evenly spaced thresholds)", key);
        } else {
            *known = false;
        }
        return CKERAS_OK;
    case CK_METRIC_FBETA:
        if (strcmp(key, "average") == 0) {
            static const char *const av[] = {"micro", "macro", "weighted"};
            if (v->kind == CK_T_NULL) {
                m->average = 0;
                return CKERAS_OK;
            }
            int i;
            for (i = 0; i < 3 && !(str && strcmp(str, av[i]) == 0); i++)
                ;
            if (i == 3)
                return BAD("%s: 'average' must be null, \"micro\", \"macro\" or \"weighted\", got %s", c->cls,
                           show(v, vb, sizeof vb));
            m->average = i + 1;
        } else if (strcmp(key, "beta") == 0 && !m->f1) {
            if (!ck_tree_is_number(v) || !(ck_tree_number(v) > 0) || !isfinite(ck_tree_number(v)))
                return BAD("FBetaScore: 'beta' must be a number > 0, got %s", show(v, vb, sizeof vb));
            m->beta = ck_tree_number(v);
        } else if (strcmp(key, "threshold") == 0) {
            if (v->kind == CK_T_NULL) {
                m->has_threshold = false;
                return CKERAS_OK;
            }
            if (!ck_tree_is_number(v) || !(ck_tree_number(v) > 0 && ck_tree_number(v) <= 1))
                return BAD("%s: 'threshold' must be null or a number in (0, 1], got %s", c->cls,
                           show(v, vb, sizeof vb));
            m->has_threshold = true;
            m->fb_threshold = ck_tree_number(v);
        } else {
            *known = false;
        }
        return CKERAS_OK;
    case CK_METRIC_TOP_K:
    case CK_METRIC_SPARSE_TOP_K:
        if (strcmp(key, "k") == 0) {
            if (!tree_int(v, &iv) || iv < 1 || iv > (1 << 24))
                return BAD("%s: 'k' must be an integer in [1, %d], got %s", c->cls, 1 << 24, show(v, vb, sizeof vb));
            m->k = iv;
        } else if (strcmp(key, "from_sorted_ids") == 0 && m->kind == CK_METRIC_SPARSE_TOP_K) {
            if (v->kind != CK_T_BOOL)
                return BAD("%s: 'from_sorted_ids' must be true or false, got %s", c->cls, show(v, vb, sizeof vb));
            m->from_sorted_ids = v->i != 0;
        } else {
            *known = false;
        }
        return CKERAS_OK;
    case CK_METRIC_MEAN_IOU:
        if (strcmp(key, "num_classes") == 0) {
            if (!tree_int(v, &iv) || iv < 1 || iv > CK_METRIC_MAX_CLASSES)
                return BAD("MeanIoU: 'num_classes' must be an integer in [1, %d], got %s", CK_METRIC_MAX_CLASSES,
                           show(v, vb, sizeof vb));
            m->num_classes = iv;
        } else if (strcmp(key, "ignore_class") == 0) {
            if (v->kind == CK_T_NULL) {
                m->has_ignore_class = false;
                return CKERAS_OK;
            }
            if (!tree_int(v, &iv) || iv < INT32_MIN || iv > INT32_MAX)
                return BAD("MeanIoU: 'ignore_class' must be null or an integer, got %s", show(v, vb, sizeof vb));
            m->has_ignore_class = true;
            m->ignore_class = iv;
        } else if (strcmp(key, "sparse_y_true") == 0 || strcmp(key, "sparse_y_pred") == 0) {
            if (v->kind != CK_T_BOOL)
                return BAD("MeanIoU: '%s' must be true or false, got %s", key, show(v, vb, sizeof vb));
            if (key[9] == 't')
                m->sparse_y_true = v->i != 0;
            else
                m->sparse_y_pred = v->i != 0;
        } else if (strcmp(key, "axis") == 0) {
            if (!tree_int(v, &iv) || iv != -1)
                return ck_error(CKERAS_EUNSUPPORTED, "metric config: MeanIoU: axis %s is not supported (only -1, "
                                "the last axis)", show(v, vb, sizeof vb));
        } else {
            *known = false;
        }
        return CKERAS_OK;
    default:
        *known = false;
        return CKERAS_OK;
    }
}

ckeras_status ck_metric_from_tree(const ck_tree *obj, ck_metric *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "metric config: output is NULL");
    if (!obj || obj->kind != CK_T_OBJECT)
        return BAD("expected an object {\"class_name\": ..., \"config\": {...}}");
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], "class_name") != 0 && strcmp(obj->keys[i], "config") != 0 &&
            strcmp(obj->keys[i], "module") != 0 && strcmp(obj->keys[i], "registered_name") != 0)
            return BAD("unknown key '%s'; accepted: class_name, config, module, registered_name", obj->keys[i]);
    const char *cls = ck_tree_string(ck_tree_get(obj, "class_name"));
    if (!cls)
        return BAD("\"class_name\" is missing or not a string; accepted: " CLASSES);
    const metric_class *c = NULL;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (strcmp(cls, classes[i].cls) == 0)
            c = &classes[i];
    if (!c)
        return BAD("unknown metric class '%.60s'; accepted: " CLASSES, cls);
    const ck_tree *cfg = ck_tree_get(obj, "config");
    if (cfg && cfg->kind != CK_T_OBJECT && cfg->kind != CK_T_NULL)
        return BAD("%s: \"config\" must be an object", c->cls);
    ck_metric m;
    defaults(&m, c->kind);
    m.from_config = true;
    m.f1 = strcmp(c->cls, "F1Score") == 0;
    m.sparse_y_true = m.sparse_y_pred = true; /* MeanIoU's defaults */
    snprintf(m.name, sizeof m.name, "%s", c->default_name);
    for (int i = 0; cfg && cfg->kind == CK_T_OBJECT && i < cfg->n; i++) {
        bool known;
        ckeras_status st = config_key(&m, c, cfg->keys[i], cfg->items[i], &known);
        if (st != CKERAS_OK)
            return st;
        if (!known)
            return BAD("%s: unknown key '%s'; accepted: %s", c->cls, cfg->keys[i], c->keys);
    }
    if (m.kind == CK_METRIC_MEAN_IOU && m.num_classes == 0)
        return BAD("MeanIoU: 'num_classes' is required");
    *out = m;
    return CKERAS_OK;
}

bool ck_metric_class_known(const char *cls)
{
    for (size_t i = 0; cls && i < sizeof classes / sizeof classes[0]; i++)
        if (strcmp(cls, classes[i].cls) == 0)
            return true;
    return false;
}

static ckeras_status put(ck_tree *o, const char *key, ck_tree *v)
{
    return ck_tree_set(o, key, v);
}

ck_tree *ck_metric_to_tree(const ck_metric *m)
{
    const char *cls = NULL;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (classes[i].kind == m->kind && (m->kind != CK_METRIC_FBETA || (strcmp(classes[i].cls, "F1Score") == 0) == m->f1))
            cls = classes[i].cls;
    ck_tree *obj = ck_tree_object(), *cfg = ck_tree_object();
    if (!cls || !obj || !cfg) {
        ck_tree_free(obj);
        ck_tree_free(cfg);
        return NULL;
    }
    ckeras_status st = put(obj, "class_name", ck_tree_str(cls));
    static const char *const curves[] = {"ROC", "PR"}, *const sums[] = {"interpolation", "minoring", "majoring"};
    static const char *const avgs[] = {"micro", "macro", "weighted"};
    if (m->kind == CK_METRIC_MEAN_IOU && st == CKERAS_OK)
        st = put(cfg, "num_classes", ck_tree_int(m->num_classes));
    if (st == CKERAS_OK)
        st = put(cfg, "name", ck_tree_str(m->name));
    if (st == CKERAS_OK)
        st = put(cfg, "dtype", ck_tree_str(m->kind == CK_METRIC_MEAN_IOU ? "int32" : "float32"));
    switch (m->kind) {
    case CK_METRIC_AUC:
        if (st == CKERAS_OK)
            st = put(cfg, "num_thresholds", ck_tree_int(m->num_thresholds));
        if (st == CKERAS_OK)
            st = put(cfg, "curve", ck_tree_str(curves[m->curve]));
        if (st == CKERAS_OK)
            st = put(cfg, "summation_method", ck_tree_str(sums[m->summation]));
        if (st == CKERAS_OK)
            st = put(cfg, "multi_label", ck_tree_bool(false));
        if (st == CKERAS_OK)
            st = put(cfg, "num_labels", ck_tree_null());
        if (st == CKERAS_OK)
            st = put(cfg, "label_weights", ck_tree_null());
        if (st == CKERAS_OK)
            st = put(cfg, "from_logits", ck_tree_bool(m->from_logits));
        break;
    case CK_METRIC_FBETA:
        if (st == CKERAS_OK)
            st = put(cfg, "average", m->average ? ck_tree_str(avgs[m->average - 1]) : ck_tree_null());
        if (st == CKERAS_OK && !m->f1)
            st = put(cfg, "beta", ck_tree_float(m->beta));
        if (st == CKERAS_OK)
            st = put(cfg, "threshold", m->has_threshold ? ck_tree_float(m->fb_threshold) : ck_tree_null());
        break;
    case CK_METRIC_TOP_K:
    case CK_METRIC_SPARSE_TOP_K:
        if (st == CKERAS_OK)
            st = put(cfg, "k", ck_tree_int(m->k));
        if (st == CKERAS_OK && m->from_sorted_ids)
            st = put(cfg, "from_sorted_ids", ck_tree_bool(true));
        break;
    case CK_METRIC_MEAN_IOU:
        if (st == CKERAS_OK)
            st = put(cfg, "ignore_class", m->has_ignore_class ? ck_tree_int(m->ignore_class) : ck_tree_null());
        if (st == CKERAS_OK)
            st = put(cfg, "sparse_y_true", ck_tree_bool(m->sparse_y_true));
        if (st == CKERAS_OK)
            st = put(cfg, "sparse_y_pred", ck_tree_bool(m->sparse_y_pred));
        if (st == CKERAS_OK)
            st = put(cfg, "axis", ck_tree_int(-1));
        break;
    default:
        break;
    }
    if (st != CKERAS_OK || put(obj, "config", cfg) != CKERAS_OK) {
        if (st != CKERAS_OK)
            ck_tree_free(cfg);
        ck_tree_free(obj);
        return NULL;
    }
    return obj;
}

void ck_metric_free(ck_metric *m)
{
    if (!m)
        return;
    ck_free(m->buf);
    m->buf = NULL;
    m->nbuf = 0;
}

ckeras_status ck_metric_prepare(ck_metric *m, int y_true_rank, int64_t y_true_cols, int y_pred_rank,
                                int64_t y_pred_cols)
{
    ck_metric_free(m);
    int64_t n = 0;
    switch (m->kind) {
    case CK_METRIC_AUC:
        if (y_true_cols != y_pred_cols)
            return ck_error(CKERAS_EINVAL, "metric '%s': AUC needs y_true with the shape of y_pred (%lld values "
                            "per row), got %lld", m->name, (long long)y_pred_cols, (long long)y_true_cols);
        n = 2 * m->num_thresholds;
        break;
    case CK_METRIC_FBETA:
        if (y_pred_rank != 2 || y_true_cols != y_pred_cols)
            return ck_error(CKERAS_EINVAL, "metric '%s': F-beta scores need 2D y_true and y_pred of the same shape "
                            "(batch, classes); y_pred has rank %d and %lld columns, y_true %lld columns", m->name,
                            y_pred_rank, (long long)y_pred_cols, (long long)y_true_cols);
        m->classes = y_pred_cols;
        n = 4 * y_pred_cols;
        break;
    case CK_METRIC_TOP_K:
        if (y_true_cols != y_pred_cols)
            return ck_error(CKERAS_EINVAL, "metric '%s': top-k categorical accuracy needs one-hot y_true with %lld "
                            "columns, got %lld (use sparse_top_k_categorical_accuracy for labels)", m->name,
                            (long long)y_pred_cols, (long long)y_true_cols);
        return CKERAS_OK;
    case CK_METRIC_SPARSE_TOP_K:
        if (y_true_cols != 1 && y_true_rank >= y_pred_rank)
            return ck_error(CKERAS_EINVAL, "metric '%s': sparse top-k accuracy needs one integer label per sample, "
                            "y_true has %lld columns", m->name, (long long)y_true_cols);
        return CKERAS_OK;
    case CK_METRIC_MEAN_IOU: {
        int64_t nt = m->sparse_y_true ? y_true_cols : 1, np = m->sparse_y_pred ? y_pred_cols : 1;
        if (nt != np)
            return ck_error(CKERAS_EINVAL, "metric '%s': MeanIoU gets %lld label%s per row from y_true "
                            "(sparse_y_true %s) and %lld from y_pred (sparse_y_pred %s)", m->name, (long long)nt,
                            nt == 1 ? "" : "s", m->sparse_y_true ? "true" : "false", (long long)np,
                            m->sparse_y_pred ? "true" : "false");
        n = m->num_classes * m->num_classes;
        break;
    }
    default:
        return CKERAS_OK;
    }
    if (!(m->buf = ck_calloc((size_t)n, sizeof(double))))
        return CKERAS_ENOMEM;
    m->nbuf = n;
    return CKERAS_OK;
}

/* AUC: the bucket of each prediction as Keras' evenly spaced thresholds give it (the first
 * threshold -epsilon and the last 1 + epsilon): ceil(p * (T - 1)) - 1, at least 0, computed in
 * float32; bucket i counts toward every threshold <= i. */
static void auc_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t n)
{
    double *tpb = m->buf, *fpb = m->buf + m->num_thresholds;
    const float scale = (float)(m->num_thresholds - 1);
    for (int64_t i = 0; i < n; i++) {
        float p = y_pred[i];
        if (m->from_logits)
            p = 1.0f / (1.0f + expf(-p));
        if (isnan(p))
            continue;
        p = p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p;
        float b = ceilf(p * scale) - 1.0f;
        int64_t bi = b < 0.0f ? 0 : (int64_t)b;
        if (y_true[i] != 0.0f)
            tpb[bi] += 1.0;
        else
            fpb[bi] += 1.0;
    }
}

static double div0(double a, double b)
{
    return b != 0.0 ? a / b : 0.0;
}

static double auc_result(const ck_metric *m)
{
    const int64_t T = m->num_thresholds;
    const double *tpb = m->buf, *fpb = m->buf + T;
    double P = 0, N = 0;
    for (int64_t i = 0; i < T; i++) {
        P += tpb[i];
        N += fpb[i];
    }
    /* counts at threshold i + 1 (tp1, fp1) and i (tp0, fp0), from the top */
    double tp1 = tpb[T - 1], fp1 = fpb[T - 1], sum = 0;
    for (int64_t i = T - 2; i >= 0; i--) {
        double tp0 = tp1 + tpb[i], fp0 = fp1 + fpb[i];
        if (m->curve == 1 && m->summation == 0) { /* PR, Davis & Goadrich interpolation */
            double dtp = tp0 - tp1, p0 = tp0 + fp0, p1 = tp1 + fp1;
            double slope = div0(dtp, fmax(p0 - p1, 0.0));
            double intercept = tp1 - slope * p1;
            double ratio = p0 > 0 && p1 > 0 ? p0 / p1 : 1.0;
            sum += div0(slope * (dtp + intercept * log(ratio)), P);
        } else {
            double x0, x1, y0, y1;
            if (m->curve == 0) { /* x: false positive rate, y: recall */
                x0 = div0(fp0, N);
                x1 = div0(fp1, N);
                y0 = div0(tp0, P);
                y1 = div0(tp1, P);
            } else { /* x: recall, y: precision */
                x0 = div0(tp0, P);
                x1 = div0(tp1, P);
                y0 = div0(tp0, tp0 + fp0);
                y1 = div0(tp1, tp1 + fp1);
            }
            double h = m->summation == 0 ? (y0 + y1) / 2.0 : m->summation == 1 ? fmin(y0, y1) : fmax(y0, y1);
            sum += (x0 - x1) * h;
        }
        tp1 = tp0;
        fp1 = fp0;
    }
    return sum;
}

/* F-beta: per class the true positives, false positives, false negatives and y_true sums. */
static void fbeta_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols)
{
    double *tp = m->buf, *fp = tp + cols, *fn = fp + cols, *iw = fn + cols;
    const float thr = (float)m->fb_threshold;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = y_pred + r * cols, *t = y_true + r * cols; /* (cols) */
        float mx = p[0];
        for (int64_t c = 1; c < cols; c++)
            mx = p[c] > mx ? p[c] : mx;
        for (int64_t c = 0; c < cols; c++) {
            double pred = m->has_threshold ? p[c] > thr : (p[c] >= mx && fabsf(p[c]) > 1e-9f);
            double yt = t[c];
            tp[c] += pred * yt;
            fp[c] += pred * (1.0 - yt);
            fn[c] += (1.0 - pred) * yt;
            iw[c] += yt;
        }
    }
}

static double fbeta_of(double tp, double fp, double fn, double b2)
{
    const double eps = 1e-7;
    double precision = tp / (tp + fp + eps), recall = tp / (tp + fn + eps);
    return precision * recall / (b2 * precision + recall + eps) * (1.0 + b2);
}

/* average None is Keras' per-class vector: its mean (what Keras' progress bar prints) */
static double fbeta_result(const ck_metric *m)
{
    const int64_t C = m->classes;
    const double *tp = m->buf, *fp = tp + C, *fn = fp + C, *iw = fn + C;
    const double b2 = m->beta * m->beta;
    if (m->average == 1) { /* micro: one score from the summed counts */
        double a = 0, b = 0, c = 0;
        for (int64_t i = 0; i < C; i++) {
            a += tp[i];
            b += fp[i];
            c += fn[i];
        }
        return fbeta_of(a, b, c, b2);
    }
    double sum = 0, wsum = 0, w = 0;
    for (int64_t i = 0; i < C; i++) {
        double f = fbeta_of(tp[i], fp[i], fn[i], b2);
        sum += f;
        wsum += f * iw[i];
        w += iw[i];
    }
    if (m->average == 3)
        return wsum / (w + 1e-7);
    return C > 0 ? sum / (double)C : 0.0;
}

/* Keras' in_top_k: the target's score is at least the k-th largest (ties count as in). */
static bool in_top_k(const float *p, int64_t cols, int64_t target, int64_t k)
{
    if (target < 0 || target >= cols || isnan(p[target]))
        return false;
    int64_t above = 0;
    for (int64_t j = 0; j < cols; j++)
        above += p[j] > p[target];
    return above < k;
}

/* A float label cast to an integer as Keras' int32 cast does (toward zero); false when not finite. */
static bool label_of(float v, int64_t *out)
{
    if (!(v > -2147483648.0f && v < 2147483648.0f))
        return false;
    *out = (int64_t)v;
    return true;
}

static void iou_add(ck_metric *m, int64_t t, int64_t p)
{
    const int64_t C = m->num_classes;
    if (m->has_ignore_class && t == m->ignore_class)
        return;
    if (t < 0 || t >= C || p < 0 || p >= C)
        return; /* outside the confusion matrix */
    m->buf[t * C + p] += 1.0;
}

static void iou_update(ck_metric *m, const float *y_true, const float *y_pred, int64_t rows, int64_t cols,
                       int64_t true_cols)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *p = y_pred + r * cols, *t = y_true + r * true_cols;
        int64_t per = m->sparse_y_true ? true_cols : 1;
        for (int64_t j = 0; j < per; j++) {
            int64_t lt, lp;
            if (m->sparse_y_true) {
                if (!label_of(t[j], &lt))
                    continue;
            } else {
                lt = argmax(t, true_cols);
            }
            if (m->sparse_y_pred) {
                if (!label_of(p[j], &lp))
                    continue;
            } else {
                lp = argmax(p, cols);
            }
            iou_add(m, lt, lp);
        }
    }
}

static double iou_result(const ck_metric *m)
{
    const int64_t C = m->num_classes;
    double sum = 0, valid = 0;
    for (int64_t c = 0; c < C; c++) {
        double rs = 0, cs = 0, tp = m->buf[c * C + c];
        for (int64_t j = 0; j < C; j++) {
            rs += m->buf[c * C + j];
            cs += m->buf[j * C + c];
        }
        double den = rs + cs - tp;
        valid += den > 1e-9;
        sum += tp / (den + 1e-7);
    }
    return sum / (valid + 1e-7);
}

int ck_metric_state_count(const ck_metric *m)
{
    return 5 + (int)m->nbuf;
}

void ck_metric_state_get(const ck_metric *m, double *state)
{
    const double v[5] = {m->total, m->count, m->tp, m->fp, m->fn};
    memcpy(state, v, sizeof v);
    if (m->nbuf > 0) /* AUC's buckets, F-beta's counts, MeanIoU's confusion matrix */
        memcpy(state + 5, m->buf, (size_t)m->nbuf * sizeof *m->buf);
}

void ck_metric_state_set(ck_metric *m, const double *state)
{
    m->total = state[0];
    m->count = state[1];
    m->tp = state[2];
    m->fp = state[3];
    m->fn = state[4];
    if (m->nbuf > 0)
        memcpy(m->buf, state + 5, (size_t)m->nbuf * sizeof *m->buf);
}
