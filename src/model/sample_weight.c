/* Sample weights in the training loops (Keras' sample_weight, class_weight, weighted_metrics).
 *
 * Keras 3.11.3 (losses/loss.py reduce_weighted_values, reduce_values): a loss with the default
 * "sum_over_batch_size" reduction multiplies each per-row loss by its sample's weight and divides
 * the sum by the NUMBER of rows (not by the sum of the weights). A masked output first turns its
 * mask into weights total / (valid + 1e-7) (apply_mask), so the weighted sum is divided by the
 * kept rows + 1e-7. Weighted metrics (metrics/reduction_metrics.py) are weighted means: sum of
 * weight * per-sample value over the sum of the weights; confusion counts add the weight; with
 * weights, a masked output's masked rows weigh 0 in them (MeanMetricWrapper's apply_mask).
 * Weights are kept per row of each output (a sample's weight repeated over its rows, or Keras'
 * temporal weights, one per row).
 *
 * Sizes: batches of a checked plan, per-sample sizes of checked shapes (fit.c's note). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *weight_name(const ckeras_model *m, const ck_data *d, int k, char *buf, size_t n)
{
    if (d->nw > 1)
        snprintf(buf, n, "sample_weight of '%s'", ck_model_output_name(m, k));
    else
        snprintf(buf, n, "sample_weight");
    return buf;
}

/* Rows of output k per sample (every axis of the output but the last). */
static int64_t rows_per_sample(const ckeras_model *m, int k)
{
    const ck_shape *out = &m->g.nodes[m->g.outputs[k]].layer->out_shape;
    return ck_shape_size(out) / out->d[out->ndim - 1];
}

ckeras_status ck_model_check_weights(const ckeras_model *m, const ck_data *d, const char *what)
{
    if (d->nw == 0)
        return CKERAS_OK;
    int nout = m->g.noutputs;
    if (d->nw != 1 && d->nw != nout)
        return ck_error(CKERAS_EINVAL, "%s: give one sample_weight vector for every output, or one per output "
                        "(%d), got %d", what, nout, d->nw);
    if (d->nw == 1 && !d->w[0])
        return ck_error(CKERAS_EINVAL, "%s: sample_weight is NULL", what);
    int64_t N = d->x[0]->shape[0];
    for (int k = 0; k < d->nw; k++) {
        const ckeras_tensor *w = d->w[k];
        if (!w)
            continue;
        char name[CK_NAME_MAX + 24];
        weight_name(m, d, k, name, sizeof name);
        ckeras_status st = ck_tensor_check(w, what, name);
        if (st != CKERAS_OK)
            return st;
        if (w->shape[0] != N)
            return ck_error(CKERAS_ESHAPE, "%s: x has %lld samples but %s has %lld weights", what, (long long)N,
                            name, (long long)w->shape[0]);
        /* one weight per sample, or (Keras' temporal weights) one per row of the output: (N, T)
         * for an output (N, T, C), only when the tensor is that output's own */
        int64_t per = ckeras_tensor_size(w) / N, rps = rows_per_sample(m, d->nw > 1 ? k : 0);
        bool samplewise = w->ndim == 1 || (w->ndim == 2 && w->shape[1] == 1);
        bool rowwise = per == rps && w->ndim >= 2 && (d->nw > 1 || nout == 1);
        if (!samplewise && !rowwise)
            return ck_error(CKERAS_ESHAPE, "%s: %s must have one weight per sample, shape (%lld,) or (%lld, 1)%s; "
                            "it has %lld per sample", what, name, (long long)N, (long long)N,
                            rps > 1 ? ", or one per step of the output (its shape without the last axis)" : "",
                            (long long)per);
        for (int64_t i = 0; i < N * per; i++)
            if (!(w->data[i] >= 0.0f) || !isfinite(w->data[i]))
                return ck_error(isnan(w->data[i]) || isinf(w->data[i]) ? CKERAS_ENAN : CKERAS_EINVAL,
                                "%s: %s of sample %lld is %g; weights must be finite and >= 0", what, name,
                                (long long)(i / per), (double)w->data[i]);
    }
    return CKERAS_OK;
}

ckeras_status ck_model_weight_buffers(ckeras_model *m, int64_t cap)
{
    int64_t rows = 0;
    for (int k = 0; k < m->g.noutputs; k++) {
        int64_t r = cap * rows_per_sample(m, k);
        rows = r > rows ? r : rows;
    }
    int nout = m->g.noutputs;
    if (rows > m->sw_cap || nout > m->sw_nout) { /* a weight per row of each output */
        float *b = ck_malloc_n(rows * nout, sizeof(float));
        if (!b)
            return CKERAS_ENOMEM;
        ck_free(m->sw_buf);
        m->sw_buf = b;
        m->sw_cap = rows;
        m->sw_nout = nout;
    }
    if (rows > m->row_cap) {
        float *b = ck_malloc_n(rows, sizeof(float));
        if (!b)
            return CKERAS_ENOMEM;
        ck_free(m->row_buf);
        m->row_buf = b;
        m->row_cap = rows;
    }
    return CKERAS_OK;
}

void ck_model_gather_weights(ckeras_model *m, const ck_data *d, const int64_t *idx, int64_t start, int64_t n)
{
    for (int k = 0; k < m->g.noutputs; k++) {
        const ckeras_tensor *w = d->nw == 0 ? NULL : d->nw == 1 ? d->w[0] : d->w[k];
        int64_t rps = rows_per_sample(m, k);
        m->sw_on[k] = w != NULL && m->sw_buf != NULL && n * rps <= m->sw_cap && k < m->sw_nout;
        if (!m->sw_on[k])
            continue;
        float *dst = m->sw_buf + (int64_t)k * m->sw_cap; /* (n, rps) */
        int64_t per = ckeras_tensor_size(w) / w->shape[0]; /* 1 or rps (checked) */
        for (int64_t i = 0; i < n; i++) {
            const float *src = w->data + (idx ? idx[start + i] : start + i) * per;
            for (int64_t r = 0; r < rps; r++)
                dst[i * rps + r] = src[per == 1 ? 0 : r];
        }
    }
}

double ck_model_weighted_loss(ckeras_model *m, int k, int64_t n, int64_t rows, int64_t cols, int64_t true_cols,
                              float weight, float *grad)
{
    int node = m->g.outputs[k];
    const float *pred = m->plan.act[node], *y = m->plan.y_true[k];
    const float *sw = m->sw_buf + (int64_t)k * m->sw_cap; /* (rows): each row's weight */
    const float *mask = m->plan.mask[node];
    if (mask && n * ck_graph_mask_steps(&m->g, node) != rows)
        mask = NULL;
    /* Keras: a mask becomes weights total / (valid + 1e-7) on the kept rows (0 on the others),
     * times the sample weights, and the weighted sum is divided by the rows' total: so
     * sum(kept w * loss) / (valid + 1e-7); without a mask sum(w * loss) / rows */
    double denom = (double)rows;
    if (mask) {
        int64_t valid = 0;
        for (int64_t r = 0; r < rows; r++)
            valid += mask[r] != 0.0f;
        denom = (double)valid + 1e-7;
    }
    float *per_row = m->row_buf; /* (rows) */
    ck_loss_compute(&m->loss[k], y, pred, rows, cols, grad, (float)(weight / denom), per_row);
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) {
        float s = mask && mask[r] == 0.0f ? 0.0f : sw[r];
        sum += (double)s * per_row[r];
        if (grad)
            for (int64_t c = 0; c < cols; c++)
                grad[r * cols + c] *= s;
    }
    return sum / denom;
}

/* The metric kinds whose state is a sum of per-row contributions (a weight scales each). */
static bool weightable(ck_metric_kind kind)
{
    switch (kind) {
    case CK_METRIC_BINARY_ACCURACY:
    case CK_METRIC_CATEGORICAL_ACCURACY:
    case CK_METRIC_SPARSE_CATEGORICAL_ACCURACY:
    case CK_METRIC_PRECISION:
    case CK_METRIC_RECALL:
    case CK_METRIC_MEAN_SQUARED_ERROR:
    case CK_METRIC_MEAN_ABSOLUTE_ERROR:
        return true;
    default:
        return false;
    }
}

void ck_model_metric_update(ckeras_model *m, int i, int64_t n, int64_t rows, int64_t cols, int64_t true_cols)
{
    int k = m->metric_out[i], node = m->g.outputs[k];
    const float *y = m->plan.y_true[k], *p = m->plan.act[node];
    ck_metric *mm = &m->metrics[i];
    if (!m->metric_weighted[i] || !m->sw_on[k] || !weightable(mm->kind)) {
        ck_metric_update(mm, y, p, rows, cols, true_cols);
        return;
    }
    const float *sw = m->sw_buf + (int64_t)k * m->sw_cap; /* (rows) */
    /* Keras' MeanMetricWrapper multiplies the weights by the output's mask (apply_mask with
     * reduction "sum"): masked rows weigh 0 */
    const float *mask = m->plan.mask[node];
    if (mask && n * ck_graph_mask_steps(&m->g, node) != rows)
        mask = NULL;
    ck_metric one = *mm; /* its settings; its sums are reset for each row */
    for (int64_t r = 0; r < rows; r++) {
        double w = mask && mask[r] == 0.0f ? 0.0 : sw[r];
        ck_metric_reset(&one);
        ck_metric_update(&one, y + r * true_cols, p + r * cols, 1, cols, true_cols);
        mm->total += w * one.total;
        mm->count += w * one.count;
        mm->tp += w * one.tp;
        mm->fp += w * one.fp;
        mm->fn += w * one.fn;
    }
}

ckeras_status ck_model_class_weights(const ckeras_model *m, const ck_data *d, const double *cw, int64_t ncw,
                                     ckeras_tensor **out)
{
    *out = NULL;
    if (m->g.noutputs != 1) /* Keras' words */
        return ck_error(CKERAS_EINVAL, "fit: `class_weight` is only supported for Models with a single output.");
    const ck_shape *os = &m->g.nodes[m->g.outputs[0]].layer->out_shape;
    int64_t cols = os->d[os->ndim - 1], classes = cols == 1 ? 2 : cols;
    if (ncw > classes)
        return ck_error(CKERAS_EINVAL, "fit: class_weight gives a weight to class %lld, but output '%s' has %lld "
                        "classes (0..%lld)", (long long)(ncw - 1), ck_model_output_name(m, 0), (long long)classes,
                        (long long)(classes - 1));
    const ckeras_tensor *y = d->y[0];
    if (!y->data)
        return ck_error(CKERAS_EUNSUPPORTED, "fit: class_weight needs the targets in memory (give sample_weight "
                        "instead)");
    int64_t N = y->shape[0], per = ckeras_tensor_size(y) / N;
    if (!(y->ndim == 1 || y->ndim == 2))
        return ck_error(CKERAS_EINVAL, "fit: class_weight needs targets of one label or one one-hot row per "
                        "sample; y has %d axes", y->ndim);
    ckeras_tensor *w = ckeras_tensor_new(1, &N);
    if (!w)
        return CKERAS_ENOMEM;
    for (int64_t i = 0; i < N; i++) {
        const float *row = y->data + i * per;
        int64_t c = 0;
        if (per == 1) {
            c = (int64_t)nearbyint((double)row[0]); /* np.round: halves to even */
        } else {
            for (int64_t j = 1; j < per; j++) /* argmax: the first largest */
                if (row[j] > row[c])
                    c = j;
        }
        w->data[i] = c >= 0 && c < ncw ? (float)cw[c] : 1.0f; /* Keras: class_weight.get(c, 1.0) */
    }
    *out = w;
    return CKERAS_OK;
}

/* Names as Keras 3's CompileMetrics.result gives them: the metrics (a name seen before gets
 * "_<count>"), then the weighted metrics (a name seen before becomes "weighted_<name>", and that
 * seen before too "_<count>"); "<output>_" before each on a model with several outputs. */
const char *ck_model_metric_name(const ckeras_model *m, int i, char *buf, size_t n)
{
    char names[CK_MAX_METRICS][CK_LOG_NAME];
    int count[CK_MAX_METRICS] = {0}; /* names[j] registered with its counter when count[j] > 0 */
    int order[CK_MAX_METRICS], no = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < m->nmetrics; j++)
            if (m->metric_weighted[j] == (pass == 1))
                order[no++] = j;
    char cand[CK_LOG_NAME * 2 + 16];
    for (int t = 0; t < no; t++) {
        int j = order[t];
        const char *prefix = m->g.noutputs > 1 ? ck_model_output_name(m, m->metric_out[j]) : "";
        const char *sep = m->g.noutputs > 1 ? "_" : "";
        snprintf(cand, sizeof cand, "%s%s%s", prefix, sep, m->metric_specs[j]);
        int found = -1;
        for (int u = 0; u < t && found < 0; u++)
            if (count[order[u]] > 0 && strcmp(names[order[u]], cand) == 0)
                found = order[u];
        if (found < 0) {
            count[j] = 1;
        } else if (!m->metric_weighted[j]) {
            char tmp[sizeof cand];
            if (snprintf(tmp, sizeof tmp, "%s_%d", cand, count[found]++) < 0)
                tmp[0] = '\0';
            memcpy(cand, tmp, sizeof cand);
        } else {
            snprintf(cand, sizeof cand, "%s%sweighted_%s", prefix, sep, m->metric_specs[j]);
            int again = -1;
            for (int u = 0; u < t && again < 0; u++)
                if (count[order[u]] > 0 && strcmp(names[order[u]], cand) == 0)
                    again = order[u];
            if (again < 0) {
                count[j] = 1;
            } else {
                char tmp[sizeof cand];
                if (snprintf(tmp, sizeof tmp, "%s_%d", cand, count[again]++) < 0)
                    tmp[0] = '\0';
                memcpy(cand, tmp, sizeof cand);
            }
        }
        if (snprintf(names[j], sizeof names[j], "%s", cand) < 0)
            names[j][0] = '\0';
        if (j == i) {
            if (snprintf(buf, n, "%s", cand) < 0 && n > 0)
                buf[0] = '\0';
            return buf;
        }
    }
    return NULL;
}

ckeras_status ck_model_set_weighted_metrics(ckeras_model *m, const char *output, const char *metrics)
{
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "model_set_weighted_metrics: compile model '%s' first", m->name);
    int target = -1; /* -1: every output with a loss */
    if (output) {
        for (int k = 0; k < m->g.noutputs && target < 0; k++)
            if (strcmp(ck_model_output_name(m, k), output) == 0)
                target = k;
        if (target < 0)
            return ck_error(CKERAS_EINVAL, "model_set_weighted_metrics: model '%s' has no output named '%s'", m->name,
                            output);
        if (!m->has_loss[target])
            return ck_error(CKERAS_EINVAL, "model_set_weighted_metrics: output '%s' has no loss", output);
    }
    /* the new names, checked before anything changes */
    char specs[CK_MAX_METRICS][CK_LOG_NAME];
    int ns = 0;
    for (const char *p = metrics; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len > 0) {
            if (ns == CK_MAX_METRICS || len >= CK_LOG_NAME)
                return ck_error(CKERAS_EINVAL, "model_set_weighted_metrics: more than %d metrics or a name too "
                                "long in '%s'", CK_MAX_METRICS, metrics);
            memcpy(specs[ns], p, len);
            specs[ns][len] = '\0';
            ck_metric probe;
            ckeras_status st = ck_metric_parse(specs[ns], 2, 1, 2, 1, &probe);
            if (st != CKERAS_OK) {
                ck_error_prefix("model_set_weighted_metrics");
                return st;
            }
            if (!weightable(probe.kind))
                return ck_error(CKERAS_EUNSUPPORTED, "model_set_weighted_metrics: '%s' does not take sample "
                                "weights in ckeras yet", specs[ns]);
            ns++;
        }
        p = comma ? comma + 1 : NULL;
    }
    /* keep the metrics and the other outputs' weighted metrics; then the weighted ones by output */
    char keep[CK_MAX_METRICS][CK_LOG_NAME];
    int kout[CK_MAX_METRICS], nk = 0, nplain = 0;
    bool kw[CK_MAX_METRICS];
    for (int i = 0; i < m->nmetrics; i++)
        if (!m->metric_weighted[i] || (target >= 0 && m->metric_out[i] != target)) {
            memcpy(keep[nk], m->metric_specs[i], CK_LOG_NAME);
            kout[nk] = m->metric_out[i];
            kw[nk++] = m->metric_weighted[i];
            nplain += !m->metric_weighted[i];
        }
    int nouts = 0;
    for (int k = 0; k < m->g.noutputs; k++)
        nouts += (target < 0 ? m->has_loss[k] : k == target);
    if (nk + ns * nouts > CK_MAX_METRICS)
        return ck_error(CKERAS_EINVAL, "model_set_weighted_metrics: model '%s' would have more than %d metrics",
                        m->name, CK_MAX_METRICS);
    int n = 0;
    for (int i = 0; i < nk; i++)
        if (!kw[i]) {
            memcpy(m->metric_specs[n], keep[i], CK_LOG_NAME);
            m->metric_out[n] = kout[i];
            m->metric_weighted[n++] = false;
        }
    for (int k = 0; k < m->g.noutputs; k++) {
        for (int i = 0; i < nk; i++)
            if (kw[i] && kout[i] == k) {
                memcpy(m->metric_specs[n], keep[i], CK_LOG_NAME);
                m->metric_out[n] = k;
                m->metric_weighted[n++] = true;
            }
        if (target < 0 ? m->has_loss[k] : k == target)
            for (int s = 0; s < ns; s++) {
                memcpy(m->metric_specs[n], specs[s], CK_LOG_NAME);
                m->metric_out[n] = k;
                m->metric_weighted[n++] = true;
            }
    }
    (void)nplain;
    m->nmetrics = n;
    m->metrics_resolved = false;
    return CKERAS_OK;
}
