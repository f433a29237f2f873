/* The training and inference loops: fit, evaluate, predict, train_on_batch.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "model.h"

#include "dist/dist.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument checks -------------------------------------------------------------------- */

static ckeras_status check_input(const ckeras_model *m, const ckeras_tensor *x, int j, const char *what)
{
    ckeras_status st = ck_tensor_check(x, what, "x");
    if (st != CKERAS_OK)
        return st;
    const ck_shape *in = &m->g.inputs[j];
    bool ok = x->ndim == in->ndim + 1;
    for (int k = 0; ok && k < in->ndim; k++)
        ok = x->shape[k + 1] == in->d[k];
    if (!ok) {
        char a[96], b[96];
        ck_shape xs = ck_tensor_shape(x);
        return ck_error(CKERAS_ESHAPE, "%s: x has shape %s, model '%s' expects (batch, %s", what,
                        ck_shape_str(&xs, false, a, sizeof a), m->name,
                        ck_shape_str(in, false, b, sizeof b) + 1);
    }
    if (x->shape[0] < 1)
        return ck_error(CKERAS_ESHAPE, "%s: x has no samples", what);
    int64_t per = ck_shape_size(in);
    int64_t bad = x->data ? ck_first_nonfinite(x->data, x->shape[0] * per) : -1; /* a source's: per batch */
    (void)j;
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "%s: x has a non-finite value (%g) in sample %lld", what,
                        (double)x->data[bad], (long long)(bad / per));
    return CKERAS_OK;
}

static ckeras_status check_model(const ckeras_model *m, const char *what)
{
    if (m->g.n == 0)
        return ck_error(CKERAS_ESTATE, "%s: model '%s' has no layers", what, m->name);
    if (m->functional && !m->outputs_set)
        return ck_error(CKERAS_ESTATE, "%s: set the outputs of functional model '%s' first", what, m->name);
    return CKERAS_OK;
}

ckeras_status ck_data_set(ck_data *d, int nx, const ckeras_tensor *const *x, int ny, const ckeras_tensor *const *y,
                          const char *what)
{
    memset(d, 0, sizeof *d);
    if (nx < 1 || nx > CK_MAX_NODE_INPUTS || !x)
        return ck_error(CKERAS_EINVAL, "%s: give 1..%d input tensors, got %d", what, CK_MAX_NODE_INPUTS, nx);
    if (ny < 0 || ny > CK_MAX_OUTPUTS || (ny > 0 && !y))
        return ck_error(CKERAS_EINVAL, "%s: give 0..%d target tensors, got %d", what, CK_MAX_OUTPUTS, ny);
    d->nx = nx;
    d->ny = ny;
    for (int j = 0; j < nx; j++)
        if (!(d->x[j] = x[j]))
            return ck_error(CKERAS_EINVAL, "%s: input %d is NULL", what, j);
    for (int k = 0; k < ny; k++)
        d->y[k] = y[k];
    return CKERAS_OK;
}

/* Every input: the model's count, shapes, one sample count. */
static ckeras_status check_inputs(const ckeras_model *m, const ck_data *d, const char *what)
{
    ckeras_status st = check_model(m, what);
    if (st != CKERAS_OK)
        return st;
    if (d->nx != m->g.ninputs)
        return ck_error(CKERAS_EINVAL, "%s: model '%s' has %d input%s, %d given", what, m->name, m->g.ninputs,
                        m->g.ninputs == 1 ? "" : "s", d->nx);
    for (int j = 0; j < d->nx; j++) {
        if ((st = check_input(m, d->x[j], j, what)) != CKERAS_OK) {
            if (d->nx > 1)
                ck_error_prefix("input %d", j);
            return st;
        }
        if (d->x[j]->shape[0] != d->x[0]->shape[0])
            return ck_error(CKERAS_ESHAPE, "%s: input %d has %lld samples, input 0 has %lld", what, j,
                            (long long)d->x[j]->shape[0], (long long)d->x[0]->shape[0]);
    }
    return CKERAS_OK;
}

static const ck_shape *out_shape(const ckeras_model *m, int k)
{
    return &m->g.nodes[m->g.outputs[k]].layer->out_shape;
}

const char *ck_model_output_name(const ckeras_model *m, int k)
{
    return m->g.nodes[m->g.outputs[k]].layer->name;
}

/* Target k: the per-sample size its loss expects. */
static ckeras_status check_y(const ckeras_model *m, int64_t samples, const ckeras_tensor *y, int k,
                             const char *what, int64_t *target_size)
{
    char yname[CK_NAME_MAX + 8];
    if (m->g.noutputs > 1)
        snprintf(yname, sizeof yname, "y of '%s'", ck_model_output_name(m, k));
    else
        snprintf(yname, sizeof yname, "y");
    ckeras_status st = ck_tensor_check(y, what, yname);
    if (st != CKERAS_OK)
        return st;
    if (y->shape[0] != samples)
        return ck_error(CKERAS_ESHAPE, "%s: x has %lld samples but %s has %lld", what, (long long)samples, yname,
                        (long long)y->shape[0]);
    const ck_loss *lo = &m->loss[k];
    const ck_shape *out = out_shape(m, k);
    int64_t so = ck_shape_size(out), cols = out->d[out->ndim - 1];
    int64_t ty = ckeras_tensor_size(y) / y->shape[0];
    int64_t want = lo->kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? so / cols : so;
    if (ty != want) {
        char a[96], b[96];
        ck_shape ys = ck_tensor_shape(y);
        return ck_error(CKERAS_ESHAPE, "%s: %s has shape %s, but the model's output is %s (loss %s needs %lld "
                        "values per sample)", what, yname, ck_shape_str(&ys, false, a, sizeof a),
                        ck_shape_str(out, false, b, sizeof b), ck_loss_name(lo), (long long)want);
    }
    int64_t bad = y->data ? ck_first_nonfinite(y->data, y->shape[0] * ty) : -1; /* a source's: per batch */
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "%s: %s has a non-finite value (%g) in sample %lld", what, yname,
                        (double)y->data[bad], (long long)(bad / ty));
    if (lo->kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY && y->data) {
        for (int64_t i = 0; i < y->shape[0] * ty; i++) {
            float v = y->data[i];
            if (v < 0 || v >= (float)cols || v != floorf(v))
                return ck_error(CKERAS_EINVAL, "%s: %s of sample %lld is %g, not a class index in [0, %lld)", what,
                                yname, (long long)(i / ty), (double)v, (long long)cols);
        }
    }
    *target_size = ty;
    return CKERAS_OK;
}

/* Inputs and targets of a call that computes losses: ts[k] the per-sample target size. */
static ckeras_status check_data(const ckeras_model *m, const ck_data *d, const char *what, int64_t *ts)
{
    ckeras_status st = check_inputs(m, d, what);
    if (st != CKERAS_OK)
        return st;
    if (d->ny != m->g.noutputs)
        return ck_error(CKERAS_EINVAL, "%s: model '%s' has %d output%s, %d target tensor%s given", what, m->name,
                        m->g.noutputs, m->g.noutputs == 1 ? "" : "s", d->ny, d->ny == 1 ? "" : "s");
    for (int k = 0; k < d->ny; k++) {
        ts[k] = 0;
        if (!m->has_loss[k])
            continue; /* Keras ignores the target of an output without a loss */
        if (!d->y[k])
            return ck_error(CKERAS_EINVAL, "%s: the target of output '%s' is NULL", what,
                            ck_model_output_name(m, k));
        if ((st = check_y(m, d->x[0]->shape[0], d->y[k], k, what, &ts[k])) != CKERAS_OK)
            return st;
    }
    return ck_model_check_weights(m, d, what);
}

static ckeras_status resolve_metrics(ckeras_model *m, const ck_data *d)
{
    if (m->metrics_resolved)
        return CKERAS_OK;
    for (int i = 0; i < m->nmetrics; i++) {
        int k = m->metric_out[i];
        const ck_shape *out = out_shape(m, k);
        const ckeras_tensor *y = d->y[k];
        if (!y || !m->has_loss[k])
            return ck_error(CKERAS_EINVAL, "metric '%s' of output '%s' needs a loss and a target on that output",
                            m->metric_specs[i], ck_model_output_name(m, k));
        int64_t ycols = y->ndim >= 2 ? y->shape[y->ndim - 1] : 1;
        ck_metric_free(&m->metrics[i]);
        ckeras_status st = m->metric_cfg[i] ? ck_metric_from_tree(m->metric_cfg[i], &m->metrics[i])
                                            : ck_metric_parse(m->metric_specs[i], y->ndim, ycols, out->ndim + 1,
                                                              out->d[out->ndim - 1], &m->metrics[i]);
        if (st == CKERAS_OK) /* its state, allocated here, before the first batch */
            st = ck_metric_prepare(&m->metrics[i], y->ndim, ycols, out->ndim + 1, out->d[out->ndim - 1]);
        if (st != CKERAS_OK)
            return st;
        /* Keras 3 names it after its output on models with several ("cls_accuracy"), and a
         * weighted metric whose name is taken "weighted_<name>" */
        char name[sizeof m->metrics[i].name];
        if (!ck_model_metric_name(m, i, name, sizeof name))
            name[0] = '\0';
        memcpy(m->metrics[i].name, name, sizeof name);
    }
    m->metrics_resolved = true;
    return CKERAS_OK;
}

/* ---- one batch -------------------------------------------------------------------------- */

/* Copies rows idx[start..start+n) (or start..start+n when idx is NULL) of a (N, per) array. */
static void gather_rows(float *restrict dst, const float *restrict src, int64_t per, const int64_t *idx,
                        int64_t start, int64_t n)
{
    if (!idx) { /* consecutive samples: one copy */
        memcpy(dst, src + start * per, (size_t)(n * per) * sizeof(float));
    } else if (per == 1) { /* one value per sample (binary or sparse labels) */
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[idx[start + i]];
    } else {
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + i * per, src + idx[start + i] * per, (size_t)per * sizeof(float));
    }
}

/* Copies the samples idx[0..n) of every input (and target) into the plan's buffers (a data
 * source fills them: its status). */
static ckeras_status gather(ckeras_model *m, const ck_data *d, bool targets, const int64_t *idx, int64_t start,
                            int64_t n, const char *what)
{
    if (targets) /* the sample weights (arrays in memory, whatever gives x and y) */
        ck_model_gather_weights(m, d, idx, start, n);
    if (d->src)
        return ck_source_gather(m, d, targets, idx, start, n, what);
    for (int j = 0; j < d->nx; j++)
        gather_rows(m->plan.x[j], d->x[j]->data, ck_shape_size(&m->g.inputs[j]), idx, start, n);
    for (int k = 0; targets && k < d->ny; k++)
        if (m->has_loss[k])
            gather_rows(m->plan.y_true[k], d->y[k]->data, m->target_size[k], idx, start, n);
    return CKERAS_OK;
}

/* The metrics' update on the outputs of the n samples in the plan. */
static void update_metrics(ckeras_model *m, int64_t n)
{
    for (int i = 0; i < m->nmetrics; i++) {
        int k = m->metric_out[i];
        const ck_shape *out = out_shape(m, k);
        int64_t cols = out->d[out->ndim - 1];
        int64_t rows = n * ck_shape_size(out) / cols;
        ck_model_metric_update(m, i, n, rows, cols, m->target_size[k] * n / rows); /* weighted_metrics too */
    }
}

/* Forward on n gathered samples: returns the batch's mean loss (the weighted sum over outputs)
 * and accumulates the metrics and each output's loss; when training, leaves the loss gradient
 * for backward. */
static double forward_losses(ckeras_model *m, int64_t n, bool train)
{
    if (train || !ck_split_forward(m, n))
        ck_graph_forward(&m->g, &m->plan, n, train, &m->rng);
    double sum = 0;
    for (int k = 0; k < m->g.noutputs; k++) {
        const ck_shape *out = out_shape(m, k);
        int node = m->g.outputs[k];
        float *grad = train ? m->plan.dact[node] : NULL;
        if (!m->has_loss[k]) {
            if (grad)
                memset(grad, 0, (size_t)(n * ck_shape_size(out)) * sizeof(float));
            continue;
        }
        int64_t cols = out->d[out->ndim - 1];
        int64_t rows = n * ck_shape_size(out) / cols;
        float w = (float)m->loss_weight[k];
        double lk; /* output k's mean loss (over the kept steps of a masked output, as Keras) */
        if (m->sw_on[k]) /* sample weights: Keras' weighted sum over the rows */
            lk = ck_model_weighted_loss(m, k, n, rows, cols, m->target_size[k] * n / rows, w, grad);
        else if (!ck_model_masked_loss(m, k, n, rows, cols, m->target_size[k] * n / rows, w, grad, &lk))
            lk = ck_loss_compute(&m->loss[k], m->plan.y_true[k], m->plan.act[node], rows, cols, grad,
                                 w / (float)rows, NULL) / (double)rows;
        m->out_loss_sum[k] += lk * (double)n;
        sum += m->loss_weight[k] * lk;
    }
    update_metrics(m, n);
    return sum;
}

/* Forward (and, when training, backward and one optimizer step) on n gathered samples.
 * Returns the batch's mean loss (the weighted sum over outputs plus regularization) and
 * accumulates the metrics and each output's loss. */
static double run_batch(ckeras_model *m, int64_t n, bool train)
{
    double sum;
    bool split = train && ck_split_train(m, n, &sum); /* forward and backward done, in parts */
    if (split)
        update_metrics(m, n);
    else
        sum = forward_losses(m, n, train);
    double penalty = 0;
    if (train && !isfinite(sum)) {
        /* a diverged batch (NaN/Inf loss) does not update the weights: they stay the last
         * finite ones, and TerminateOnNaN (or the caller) sees the non-finite loss */
        penalty = ck_model_regularization(m, false);
    } else if (train) {
        /* the optimizer may update some weights inside the backward pass (optimizers.h): only
         * kernel-gradient products of at most CK_GEMM_ADAM_MAX_K rows on one thread can */
        ck_opt_fuse fuse;
        const bool fz = !split && n <= CK_GEMM_ADAM_MAX_K && ck_num_threads() == 1 &&
                        ck_optimizer_fuse_begin(m->opt, m->params, m->grads, m->var_off, m->nvars, &fuse);
        if (!split) {
            m->plan.fuse = fz ? &fuse : NULL;
            ck_graph_backward(&m->g, &m->plan, n);
            m->plan.fuse = NULL;
        }
        penalty = ck_model_regularization(m, true);
        ck_optimizer_apply_fused(m->opt, m->params, m->grads, m->var_off, m->nvars, fz ? &fuse : NULL);
        ck_model_apply_constraints(m);
    } else {
        penalty = ck_model_regularization(m, false);
    }
    return sum + penalty;
}

static void reset_running(ckeras_model *m)
{
    m->tob_loss_sum = 0;
    m->tob_seen = 0;
    memset(m->out_loss_sum, 0, sizeof m->out_loss_sum);
    for (int i = 0; i < m->nmetrics; i++)
        ck_metric_reset(&m->metrics[i]);
}

/* ---- results and logs ------------------------------------------------------------------- */

/* Keras 3 reports each output's loss ("cls_loss") when more than one output has a loss (its
 * CompileLoss adds a Mean per loss only then: measured with Keras 3.11.3, loss={"cls": None,
 * "reg": "mse"} gives "loss" and "reg_mae", no "reg_loss"). */
static bool per_output_losses(const ckeras_model *m)
{
    int n = 0;
    for (int k = 0; k < m->g.noutputs; k++)
        n += m->has_loss[k];
    return n > 1;
}

int ck_model_result_count(const ckeras_model *m)
{
    int n = 1 + m->nmetrics;
    for (int k = 0; per_output_losses(m) && k < m->g.noutputs; k++)
        n += m->has_loss[k];
    return n;
}

/* Result i: its name (maybe in buf) and, with val, its value from the running sums. */
static const char *result(const ckeras_model *m, int i, double loss, double *val, char *buf, size_t n)
{
    if (i == 0) {
        if (val)
            *val = loss;
        return "loss";
    }
    i--;
    for (int k = 0; per_output_losses(m) && k < m->g.noutputs; k++) {
        if (!m->has_loss[k])
            continue;
        if (i-- == 0) {
            if (val)
                *val = m->tob_seen ? m->out_loss_sum[k] / (double)m->tob_seen : 0;
            snprintf(buf, n, "%s_loss", ck_model_output_name(m, k));
            return buf;
        }
    }
    if (i < 0 || i >= m->nmetrics)
        return NULL;
    if (val)
        *val = ck_metric_result(&m->metrics[i]);
    if (m->metrics_resolved)
        return m->metrics[i].name;
    return ck_model_metric_name(m, i, buf, n);
}

const char *ck_model_result_name(const ckeras_model *m, int i, char *buf, size_t n)
{
    return result(m, i, 0, NULL, buf, n);
}

static void write_results(const ckeras_model *m, double loss, double *results, int n_results)
{
    char buf[CK_LOG_NAME];
    int count = ck_model_result_count(m);
    for (int i = 0; results && i < n_results && i < count; i++)
        result(m, i, loss, &results[i], buf, sizeof buf);
}

typedef struct log_entry {
    char name[CK_LOG_NAME];
    double value;
} log_entry;

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const log_entry *)a)->name, ((const log_entry *)b)->name);
}

/* Keras 3's logs: "loss", each output's loss and the metrics, sorted by name; then the "val_"
 * ones. */
static void fill_logs(const ckeras_model *m, ckeras_logs *logs, const char *prefix, double loss, bool clear)
{
    log_entry e[1 + CK_MAX_OUTPUTS + CK_MAX_METRICS];
    int n = ck_model_result_count(m);
    for (int i = 0; i < n; i++) {
        char buf[CK_LOG_NAME];
        const char *name = result(m, i, loss, &e[i].value, buf, sizeof buf);
        snprintf(e[i].name, sizeof e[i].name, "%s", name);
    }
    qsort(e, (size_t)n, sizeof e[0], cmp_entry);
    if (clear)
        ck_logs_clear(logs);
    for (int i = 0; i < n; i++) {
        char key[CK_LOG_NAME];
        if (snprintf(key, sizeof key, "%s%s", prefix, e[i].name) >= (int)sizeof key)
            key[sizeof key - 1] = '\0'; /* cut, as ck_logs_set cuts */
        ck_logs_set(logs, key, e[i].value);
    }
}

/* ---- evaluate --------------------------------------------------------------------------- */

static ckeras_status evaluate_range(ckeras_model *m, const ck_data *d, int64_t start, int64_t count, int64_t batch,
                                    double *loss, const char *what)
{
    reset_running(m);
    double total = 0;
    for (int64_t b = 0; b < count; b += batch) {
        int64_t n = count - b < batch ? count - b : batch;
        ckeras_status st = gather(m, d, true, NULL, start + b, n, what);
        if (st != CKERAS_OK)
            return st;
        double l = run_batch(m, n, false) * (double)n;
        total += l;
        m->tob_loss_sum += l; /* a later train_on_batch goes on from here, as Keras 3's does */
        m->tob_seen += n;
    }
    *loss = total / (double)count;
    return CKERAS_OK;
}

/* Training steps update m's buffers: when a model sharing layers with m laid them out since
 * (a base model and the model calling it), m takes them back, keeping their values. */
static ckeras_status claim_weights(ckeras_model *m, const char *what)
{
    if (ck_model_owns_weights(m))
        return CKERAS_OK;
    size_t before = m->n_params;
    ckeras_status st = ck_model_layout(m);
    if (st != CKERAS_OK)
        return st;
    if (m->n_params != before) {
        m->compiled = false;
        return ck_error(CKERAS_ESTATE, "%s: the trainable weights of model '%s' changed since compile (a layer was "
                        "frozen or unfrozen through another model); compile it again", what, m->name);
    }
    return CKERAS_OK;
}

/* Builds a model with variable (None) axes for the lengths of d's inputs (a no-op otherwise). */
static ckeras_status adapt_lengths(ckeras_model *m, const ck_data *d, const char *what)
{
    ckeras_status st = check_model(m, what);
    if (st == CKERAS_OK && d->nx == m->g.ninputs)
        st = ck_model_match_lengths(m, d->nx, d->x, what);
    return st;
}

/* Everything a call that computes losses checks and sets up before its first batch. */
static ckeras_status prepare(ckeras_model *m, const ck_data *d, int64_t batch, bool training, const char *what)
{
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "%s: model '%s' must be compiled first", what, m->name);
    ckeras_status st;
    int64_t ts[CK_MAX_OUTPUTS];
    if ((st = adapt_lengths(m, d, what)) != CKERAS_OK || (st = check_data(m, d, what, ts)) != CKERAS_OK ||
        (training && (st = claim_weights(m, what)) != CKERAS_OK))
        return st;
    if ((st = resolve_metrics(m, d)) != CKERAS_OK) {
        ck_error_prefix("%s", what);
        return st;
    }
    memcpy(m->target_size, ts, sizeof ts);
    if ((st = ck_plan_ensure(&m->plan, &m->g, batch, training, ts)) != CKERAS_OK)
        return st;
    return d->nw > 0 ? ck_model_weight_buffers(m, batch) : CKERAS_OK;
}

ckeras_status ck_model_evaluate(ckeras_model *m, const ck_data *d, int64_t batch, double *results, int n_results)
{
    int64_t N = d->x[0]->shape[0]; /* prepare checks it */
    if (batch <= 0)
        batch = 32;
    if (batch > N)
        batch = N;
    ckeras_status st = prepare(m, d, batch, false, "evaluate");
    if (st != CKERAS_OK)
        return st;
    double loss;
    if ((st = evaluate_range(m, d, 0, N, batch, &loss, "evaluate")) != CKERAS_OK)
        return st;
    write_results(m, loss, results, n_results);
    return CKERAS_OK;
}

ckeras_status ck_model_train_on_batch(ckeras_model *m, const ck_data *d, double *results, int n_results)
{
    int64_t n = d->x[0]->shape[0]; /* prepare checks it */
    ckeras_status st = prepare(m, d, n, true, "train_on_batch");
    if (st != CKERAS_OK)
        return st;
    if ((st = gather(m, d, true, NULL, 0, n, "train_on_batch")) != CKERAS_OK)
        return st;
    double loss = run_batch(m, n, true);
    m->tob_loss_sum += loss * (double)n;
    m->tob_seen += n;
    write_results(m, m->tob_loss_sum / (double)m->tob_seen, results, n_results);
    if (!isfinite(loss))
        return ck_error(CKERAS_ENAN, "train_on_batch: the loss is %g", loss);
    return CKERAS_OK;
}

ckeras_status ck_model_predict_outputs(ckeras_model *m, int nin, const ckeras_tensor *const *xs, int64_t batch,
                                       int nout, ckeras_tensor **outs)
{
    ck_data d;
    ckeras_status st = ck_data_set(&d, nin, xs, 0, NULL, "predict");
    if (st != CKERAS_OK)
        return st;
    return ck_model_predict_data(m, &d, batch, nout, outs);
}

ckeras_status ck_model_predict_data(ckeras_model *m, const ck_data *dd, int64_t batch, int nout, ckeras_tensor **outs)
{
    ck_data d = *dd;
    d.ny = 0; /* predict reads no target */
    ckeras_status st;
    if ((st = adapt_lengths(m, &d, "predict")) != CKERAS_OK || (st = check_inputs(m, &d, "predict")) != CKERAS_OK)
        return st;
    if (nout != m->g.noutputs)
        return ck_error(CKERAS_EINVAL, "predict: model '%s' has %d output%s, room for %d given", m->name,
                        m->g.noutputs, m->g.noutputs == 1 ? "" : "s", nout);
    int64_t N = d.x[0]->shape[0];
    if (batch <= 0)
        batch = 32;
    if (batch > N)
        batch = N;
    if ((st = ck_plan_ensure(&m->plan, &m->g, batch, false, NULL)) != CKERAS_OK)
        return st;
    ckeras_tensor *t[CK_MAX_OUTPUTS] = {0};
    for (int k = 0; k < nout; k++) {
        const ck_shape *os = out_shape(m, k);
        int64_t shape[CKERAS_MAX_DIMS];
        shape[0] = N;
        for (int a = 0; a < os->ndim; a++)
            shape[a + 1] = os->d[a];
        if (!(t[k] = ckeras_tensor_new(os->ndim + 1, shape))) {
            for (int j = 0; j < k; j++)
                ckeras_tensor_free(t[j]);
            return ck_last_status(CKERAS_ENOMEM);
        }
    }
    for (int64_t b = 0; b < N; b += batch) {
        int64_t n = N - b < batch ? N - b : batch;
        if ((st = gather(m, &d, false, NULL, b, n, "predict")) != CKERAS_OK) {
            for (int k = 0; k < nout; k++)
                ckeras_tensor_free(t[k]);
            return st;
        }
        if (!ck_split_forward(m, n))
            ck_graph_forward(&m->g, &m->plan, n, false, &m->rng);
        for (int k = 0; k < nout; k++) {
            int64_t po = ck_shape_size(out_shape(m, k));
            memcpy(t[k]->data + b * po, m->plan.act[m->g.outputs[k]], (size_t)(n * po) * sizeof(float));
        }
    }
    for (int k = 0; k < nout; k++)
        outs[k] = t[k];
    return CKERAS_OK;
}

ckeras_status ck_model_predict_multi(ckeras_model *m, int nin, const ckeras_tensor *const *xs, int64_t batch,
                                    ckeras_tensor **out)
{
    ckeras_status st = check_model(m, "predict");
    if (st != CKERAS_OK)
        return st;
    if (m->g.noutputs != 1)
        return ck_error(CKERAS_EINVAL, "predict: model '%s' has %d outputs; ckeras_model_predict_outputs gives "
                        "each", m->name, m->g.noutputs);
    return ck_model_predict_outputs(m, nin, xs, batch, 1, out);
}

ckeras_status ck_model_predict(ckeras_model *m, const ckeras_tensor *x, int64_t batch, ckeras_tensor **out)
{
    if (!x)
        return ck_error(CKERAS_EINVAL, "predict: x is NULL");
    return ck_model_predict_multi(m, 1, &x, batch, out);
}

/* ---- fit -------------------------------------------------------------------------------- */

/* ---- data-parallel fit (src/dist; without MPI never active) ------------------------------- */

/* The buffers of a distributed fit, allocated with fit's others before the first step. */
typedef struct dist_bufs {
    int nrun;              /* running accumulators: each output's loss sum, the metrics' states */
    double *before, *sum;  /* nrun + 3: the accumulators before a step, and the sums over ranks */
    float *state;          /* n_state: the moving statistics before a step */
} dist_bufs;

static int running_count(const ckeras_model *m)
{
    int n = m->g.noutputs;
    for (int i = 0; i < m->nmetrics; i++)
        n += ck_metric_state_count(&m->metrics[i]);
    return n;
}

static void running_get(const ckeras_model *m, double *v)
{
    memcpy(v, m->out_loss_sum, (size_t)m->g.noutputs * sizeof *v);
    v += m->g.noutputs;
    for (int i = 0; i < m->nmetrics; v += ck_metric_state_count(&m->metrics[i]), i++)
        ck_metric_state_get(&m->metrics[i], v);
}

static void running_set(ckeras_model *m, const double *v)
{
    memcpy(m->out_loss_sum, v, (size_t)m->g.noutputs * sizeof *v);
    v += m->g.noutputs;
    for (int i = 0; i < m->nmetrics; v += ck_metric_state_count(&m->metrics[i]), i++)
        ck_metric_state_set(&m->metrics[i], v);
}

/* Adds what every rank accumulated since b->before (plus its extra number, in sum[nrun]) over
 * the ranks: afterwards every rank holds the accumulators of all of them. */
static ckeras_status dist_sum_running(ckeras_model *m, dist_bufs *b, double extra)
{
    running_get(m, b->sum);
    for (int i = 0; i < b->nrun; i++)
        b->sum[i] -= b->before[i];
    b->sum[b->nrun] = extra; /* sum[nrun + 1], sum[nrun + 2]: numbers the caller set */
    ckeras_status st = ck_dist_sum_doubles(b->sum, (size_t)b->nrun + 3, "the all-reduce of the losses and metrics");
    for (int i = 0; i < b->nrun; i++)
        b->sum[i] += b->before[i];
    running_set(m, b->sum);
    return st;
}

/* What every rank does after a point where one rank alone may fail or stop (a callback): all
 * fail when one failed, all stop when one stops. */
static ckeras_status dist_agree(ckeras_status st, bool *stop)
{
    double v[2] = {st != CKERAS_OK, stop && *stop};
    ckeras_status cst = ck_dist_sum_doubles(v, 2, "the all-reduce of the ranks' statuses");
    if (st != CKERAS_OK)
        return st;
    if (cst != CKERAS_OK)
        return cst;
    if (stop)
        *stop = v[1] > 0;
    return v[0] > 0 ? ck_error(CKERAS_ESTATE, "fit: distributed: another rank failed (its own error is in its "
                                              "output)") : CKERAS_OK;
}

/* After train begin (whose callbacks ran on every rank; one may have failed): rank 0's weights,
 * statistics, optimizer state and first epoch, to every rank, after checking that all ranks
 * hold the same model (a difference fails on every rank alike). */
static ckeras_status dist_sync(ckeras_model *m, ck_train_ctx *ctx, ckeras_status st)
{
    if ((st = dist_agree(st, NULL)) != CKERAS_OK)
        return st;
    ckeras_optimizer *o = m->opt;
    int64_t mine[4] = {(int64_t)m->n_params, (int64_t)m->n_state, (int64_t)o->n, o->nslots}, root[4];
    memcpy(root, mine, sizeof root);
    st = ck_dist_bcast(root, sizeof root, "the broadcast of the model's sizes");
    double differ = memcmp(root, mine, sizeof root) != 0;
    if (st == CKERAS_OK)
        st = ck_dist_sum_doubles(&differ, 1, "the check of the model's sizes");
    if (st == CKERAS_OK && differ > 0)
        return ck_error(CKERAS_ESTATE, "fit: distributed: the ranks' models differ (rank %d: %lld weights, %lld "
                        "statistics, %lld optimizer values; rank 0: %lld, %lld, %lld): every rank must build and "
                        "compile the same model", ck_dist_rank(), (long long)mine[0], (long long)mine[1],
                        (long long)mine[2], (long long)root[0], (long long)root[1], (long long)root[2]);
    if (st == CKERAS_OK)
        st = ck_dist_bcast(m->params, m->n_params * sizeof(float), "the broadcast of the weights");
    if (st == CKERAS_OK)
        st = ck_dist_bcast(m->state, m->n_state * sizeof(float), "the broadcast of the statistics");
    for (int k = 0; st == CKERAS_OK && k < o->nslots; k++)
        st = ck_dist_bcast(o->slots[k], o->n * sizeof(float), "the broadcast of the optimizer state");
    int64_t scalars[2] = {o->iterations, ctx->initial_epoch};
    if (st == CKERAS_OK)
        st = ck_dist_bcast(scalars, sizeof scalars, "the broadcast of the step count");
    if (st == CKERAS_OK)
        st = ck_dist_bcast(&o->u_product, sizeof o->u_product, "the broadcast of the optimizer state");
    o->iterations = scalars[0];
    ctx->initial_epoch = scalars[1];
    return st;
}

/* The moving statistics: each rank's change in this step (from b->state), averaged over the
 * ranks, so the replicas stay alike. */
static ckeras_status dist_average_state(ckeras_model *m, dist_bufs *b)
{
    if (m->n_state == 0)
        return CKERAS_OK;
    for (size_t i = 0; i < m->n_state; i++)
        m->state[i] -= b->state[i];
    ckeras_status st = ck_dist_sum_floats(m->state, m->n_state, "the all-reduce of the statistics");
    const float inv = 1.0f / (float)ck_dist_size();
    for (size_t i = 0; i < m->n_state; i++)
        m->state[i] = b->state[i] + m->state[i] * inv;
    return st;
}

/* One training step of a distributed fit on a global batch of n samples, of which this rank
 * gathered len (0 when the batch has fewer samples than ranks). The losses and metrics are
 * summed over the ranks first; then each rank's loss gradient is weighted by its share of the
 * batch before its backward, so that the gradients summed over the ranks are those of the whole
 * batch's mean loss plus its activity penalties (sums over the samples, each rank's counted
 * once); the weights' own penalties are added once, after the sum. The changes of the moving
 * statistics are averaged. *loss receives the batch's loss as one process would report it. */
static ckeras_status dist_step(ckeras_model *m, dist_bufs *b, int64_t n, int64_t len, ckeras_status gathered,
                               double *loss)
{
    running_get(m, b->before);
    memcpy(b->state, m->state, m->n_state * sizeof(float));
    double local = 0, activity = 0;
    if (len > 0 && gathered == CKERAS_OK) {
        local = forward_losses(m, len, true);
        activity = ck_model_activity_penalty(m);
    }
    b->sum[b->nrun + 1] = activity;
    b->sum[b->nrun + 2] = gathered != CKERAS_OK; /* a source's fill failed here: every rank stops */
    ckeras_status st = dist_sum_running(m, b, local * (double)len);
    if (st == CKERAS_OK && b->sum[b->nrun + 2] > 0)
        st = gathered != CKERAS_OK ? gathered : ck_error(CKERAS_ESTATE, "fit: distributed: another rank failed");
    if (st != CKERAS_OK)
        return st;
    const double sum = b->sum[b->nrun] / (double)n, act = b->sum[b->nrun + 1];
    if (!isfinite(sum)) { /* every rank sees the same sum, and skips the update alike */
        *loss = sum + act + ck_model_weight_penalty(m, false);
        return dist_average_state(m, b); /* the forward moved them, as in one process */
    }
    if (len > 0) {
        const float share = (float)((double)len / (double)n);
        for (int k = 0; k < m->g.noutputs; k++) { /* d(mean over the batch)/d(output) */
            float *g = m->plan.dact[m->g.outputs[k]];
            const int64_t size = len * ck_shape_size(out_shape(m, k));
            for (int64_t i = 0; m->has_loss[k] && i < size; i++)
                g[i] *= share;
        }
        ck_graph_backward(&m->g, &m->plan, len);
    } else {
        memset(m->grads, 0, m->n_params * sizeof(float));
    }
    if ((st = ck_dist_sum_floats(m->grads, m->n_params, "the gradient all-reduce")) != CKERAS_OK)
        return st;
    const double penalty = ck_model_weight_penalty(m, true); /* the same on every rank: once */
    ck_optimizer_apply(m->opt, m->params, m->grads, m->var_off, m->nvars);
    ck_model_apply_constraints(m);
    *loss = sum + act + penalty;
    return dist_average_state(m, b);
}

/* fit's validation. Distributed: each batch of vb samples split among the ranks as in training,
 * its sums gathered, so the loss is the one process' (the activity penalties are sums over a
 * batch's samples). */
static ckeras_status run_validation(ckeras_model *m, dist_bufs *b, const ck_data *vd, int64_t vstart, int64_t n_val,
                                    int64_t vb, double *vloss)
{
    if (!ck_dist_active())
        return evaluate_range(m, vd, vstart, n_val, vb, vloss, "fit: validation");
    reset_running(m);
    const double weights = ck_model_weight_penalty(m, false);
    double total = 0;
    ckeras_status st = CKERAS_OK;
    for (int64_t start = 0; st == CKERAS_OK && start < n_val; start += vb) {
        int64_t nb = n_val - start < vb ? n_val - start : vb, off, len;
        ck_dist_shard(nb, &off, &len);
        running_get(m, b->before);
        double local = 0;
        b->sum[b->nrun + 1] = 0;
        ckeras_status got = len > 0 ? gather(m, vd, true, NULL, vstart + start + off, len, "fit: validation")
                                    : CKERAS_OK;
        if (len > 0 && got == CKERAS_OK) {
            local = forward_losses(m, len, false);
            b->sum[b->nrun + 1] = ck_model_activity_penalty(m);
        }
        b->sum[b->nrun + 2] = got != CKERAS_OK;
        st = dist_sum_running(m, b, local * (double)len);
        if (st == CKERAS_OK && b->sum[b->nrun + 2] > 0)
            st = got != CKERAS_OK ? got : ck_error(CKERAS_ESTATE, "fit: distributed: another rank failed");
        total += b->sum[b->nrun] + (double)nb * (b->sum[b->nrun + 1] + weights);
    }
    *vloss = total / (double)n_val;
    return st;
}

static ckeras_status save_for_callback(void *model, const char *path, bool weights_only)
{
    return weights_only ? ck_model_save_weights(model, path) : ck_model_save(model, path, 0);
}

static ckeras_status load_for_callback(void *model, const char *path)
{
    return ck_model_load_weights(model, path, 0);
}

static ckeras_status deliver(const ckeras_fit_args *a, ck_train_ctx *ctx, ckeras_event ev, int index,
                             const ckeras_logs *logs)
{
    for (int i = 0; i < a->ncb; i++) {
        ckeras_status st = ck_callback_event(a->cb[i], ctx, ev, index, logs);
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

/* Fits of more epochs than this keep a copy of the weights rather than make room for them all
 * in the History first */
#define CK_FIT_RESERVE_MAX ((int64_t)1 << 20)

/* Room in h for the records of `epochs` (0..CK_FIT_RESERVE_MAX) epochs and their keys (the logs
 * fill_logs makes, and their "val_" ones with validation), so that recording them allocates
 * nothing. */
static ckeras_status reserve_history(const ckeras_model *m, ckeras_history *h, int64_t epochs, bool validation)
{
    ckeras_logs keys;
    fill_logs(m, &keys, "", 0, true);
    if (validation)
        fill_logs(m, &keys, "val_", 0, false);
    return ck_history_reserve(h, epochs > 0 ? (int)epochs : 0, &keys);
}

ckeras_status ck_model_fit(ckeras_model *m, const ck_data *d0, const ckeras_fit_args *args,
                           ckeras_history **history)
{
    ckeras_fit_args defaults = {.epochs = 1, .batch_size = 32, .verbose = 1, .shuffle = true};
    const ckeras_fit_args *a = args ? args : &defaults;
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "fit: model '%s' must be compiled first", m->name);
    if (a->nsw > 0 && a->ncw > 0) /* Keras' words */
        return ck_error(CKERAS_EINVAL, "fit: You cannot `class_weight` and `sample_weight` at the same time.");
    /* the training data with its sample weights (sample_weight's, or class_weight's below) */
    ck_data dw = *d0;
    const ck_data *d = &dw;
    dw.nw = a->nsw;
    memcpy(dw.w, a->sw, sizeof dw.w);
    ckeras_status st;
    int64_t ts[CK_MAX_OUTPUTS];
    if ((st = adapt_lengths(m, d, "fit")) != CKERAS_OK || (st = check_data(m, d, "fit", ts)) != CKERAS_OK ||
        (st = claim_weights(m, "fit")) != CKERAS_OK)
        return st;
    ckeras_tensor *cwt = NULL; /* class_weight's sample weights (training samples only, as Keras) */
    if (a->ncw > 0 && (st = ck_model_class_weights(m, d, a->cw, a->ncw, &cwt)) != CKERAS_OK)
        return st;
    if (cwt) {
        dw.nw = 1;
        dw.w[0] = cwt;
    }
    int64_t N = d->x[0]->shape[0];
    int64_t n_train = N, n_val = 0;
    const ck_data *vd = NULL;
    if (a->val.nx > 0) {
        int64_t vts[CK_MAX_OUTPUTS];
        if ((st = check_data(m, &a->val, "fit: validation_data", vts)) != CKERAS_OK) {
            ckeras_tensor_free(cwt);
            return st;
        }
        vd = &a->val;
        n_val = vd->x[0]->shape[0];
    } else if (a->validation_split > 0) {
        /* the last fraction of the samples of every input and target, taken before any
         * shuffling */
        n_train = (int64_t)floor((double)N * (1.0 - a->validation_split));
        n_val = N - n_train;
        if (n_train < 1 || n_val < 1) {
            ckeras_tensor_free(cwt);
            return ck_error(CKERAS_EINVAL, "fit: validation_split %g of %lld samples leaves an empty set",
                            a->validation_split, (long long)N);
        }
        vd = cwt ? d0 : d; /* the sample weights are cut alike; class weights weigh training only */
    }
    if ((st = resolve_metrics(m, d)) != CKERAS_OK) {
        ck_error_prefix("fit");
        ckeras_tensor_free(cwt);
        return st;
    }
    int64_t batch = a->batch_size < n_train ? a->batch_size : n_train;
    /* validation: validation_batch_size (else batch_size) samples a batch, the first
     * validation_steps batches of the set each time (Keras restarts its iterator) */
    int64_t vb = a->validation_batch_size > 0 ? a->validation_batch_size : batch;
    vb = vb < n_val ? vb : n_val;
    if (n_val > 0 && a->validation_steps > 0 && a->validation_steps < (n_val + vb - 1) / vb)
        n_val = a->validation_steps * vb;
    int64_t cap = vb > batch ? vb : batch;
    memcpy(m->target_size, ts, sizeof ts);
    if ((st = ck_plan_ensure(&m->plan, &m->g, cap, true, ts)) != CKERAS_OK ||
        ((d->nw > 0 || (vd && vd->nw > 0)) && (st = ck_model_weight_buffers(m, cap)) != CKERAS_OK)) {
        ckeras_tensor_free(cwt);
        return st;
    }

    /* everything fit needs is allocated here, before the first step */
    int64_t *idx = ck_malloc_n(n_train, sizeof *idx);
    ckeras_history *h = ck_history_new();
    const bool dist = ck_dist_active();
    /* The weights to go back to when the fit fails (those of the last completed epoch), a copy
     * of them taken at every epoch's start (2.7 MB for the 784-512-512-10 MLP: 2-3 % of a fit of
     * 8 batches of 32). Only when something can fail once training has begun: a callback, a
     * data source's reads, another rank, or recording an epoch in the History, whose room is
     * made here first (plain arrays in memory and no callbacks: nothing fails after this). */
    const int64_t epochs_left = a->epochs - a->initial_epoch;
    const bool keep = a->ncb > 0 || dist || d->src || (vd && vd->src) || epochs_left > CK_FIT_RESERVE_MAX;
    /* validation_freq: some epoch (1-based) in (initial_epoch, epochs] a multiple of it */
    const int64_t vf = a->validation_freq;
    const bool validates = n_val > 0 && (vf <= 1 || a->epochs / vf > a->initial_epoch / vf);
    const ckeras_status hst = !keep && h && epochs_left > 0 ? reserve_history(m, h, epochs_left, validates)
                                                            : CKERAS_OK;
    float *backup = keep ? ck_malloc_n(m->n_params + m->n_state + 1, sizeof(float)) : NULL;
    dist_bufs db = {.nrun = running_count(m)};
    if (dist) {
        db.before = ck_malloc_n((size_t)db.nrun + 3, sizeof *db.before);
        db.sum = ck_malloc_n((size_t)db.nrun + 3, sizeof *db.sum);
        db.state = ck_malloc_n(m->n_state + 1, sizeof *db.state);
    }
    if (!idx || (keep && !backup) || !h || hst != CKERAS_OK || (dist && (!db.before || !db.sum || !db.state))) {
        ck_free(idx);
        ck_free(backup);
        ck_free(db.before);
        ck_free(db.sum);
        ck_free(db.state);
        ckeras_history_free(h);
        ckeras_tensor_free(cwt);
        return hst != CKERAS_OK ? hst : CKERAS_ENOMEM;
    }
    const int64_t verbose = ck_dist_rank() == 0 ? a->verbose : 0; /* rank 0 prints */
    for (int64_t i = 0; i < n_train; i++)
        idx[i] = i;
    /* a failure before the first epoch (a callback's on_train_begin) restores from here */
    if (backup) {
        memcpy(backup, m->params, m->n_params * sizeof(float));
        memcpy(backup + m->n_params, m->state, m->n_state * sizeof(float));
    }

    /* steps_per_epoch with arrays, as Keras 3's EpochIterator: an epoch takes the next
     * steps_per_epoch batches of the current pass over the data, ending early when the pass runs
     * out; the next pass (reshuffled) starts with the next epoch */
    int64_t pass_batches = (n_train + batch - 1) / batch, pos = 0;
    int64_t steps = a->steps_per_epoch > 0 ? a->steps_per_epoch : pass_batches;
    ck_train_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.params = m->params;
    ctx.n_params = m->n_params;
    ctx.state = m->state;
    ctx.n_state = m->n_state;
    ctx.n_metrics = m->nmetrics;
    for (int i = 0; i < m->nmetrics && i < 16; i++) {
        ctx.metric_names[i] = m->metrics[i].name;
        ctx.metric_dirs[i] = ck_metric_direction(&m->metrics[i]);
    }
    ctx.epochs = (int)a->epochs;
    ctx.steps = (int)steps;
    ctx.verbose = (int)verbose;
    ctx.model = m;
    ctx.save = save_for_callback;
    ctx.opt = m->opt;
    ctx.initial_epoch = a->initial_epoch;
    ctx.rng = &m->rng;
    ctx.load_weights = load_for_callback;
    /* distributed: rank 0 writes the callbacks' files (and reads BackupAndRestore's, broadcast
     * by dist_sync) for all */
    ctx.no_files = ck_dist_rank() != 0;

    ckeras_logs logs;
    ck_logs_clear(&logs);
    ctx.logs = &logs;
    ck_progbar bar;
    memset(&bar, 0, sizeof bar);
    st = deliver(a, &ctx, CKERAS_TRAIN_BEGIN, 0, &logs);
    if (dist) /* after BackupAndRestore: rank 0's restored state is the one */
        st = dist_sync(m, &ctx, st);
    /* a callback (BackupAndRestore) may have moved the first epoch */
    for (int64_t epoch = ctx.initial_epoch; st == CKERAS_OK && epoch < a->epochs; epoch++) {
        /* the copy taken before on_train_begin still holds for the first epoch when no callback
         * or rank could have changed the weights since (a short fit: 2.7 MB less to copy for
         * the 784-512-512-10 MLP) */
        if (backup && (epoch > ctx.initial_epoch || a->ncb > 0 || dist)) {
            memcpy(backup, m->params, m->n_params * sizeof(float));
            memcpy(backup + m->n_params, m->state, m->n_state * sizeof(float));
        }
        ck_logs_clear(&logs);
        if ((st = deliver(a, &ctx, CKERAS_EPOCH_BEGIN, (int)epoch, &logs)) != CKERAS_OK)
            break;
        if (verbose)
            ck_progbar_epoch_begin(&bar, stdout, (int)verbose, (int)epoch, (int)a->epochs, (int)steps);
        if (a->shuffle && pos == 0) {
            /* each epoch's order is a function of the generator's state alone (a fit resumed by
             * BackupAndRestore shuffles as the uninterrupted one); rank 0's when distributed */
            for (int64_t i = 0; i < n_train; i++)
                idx[i] = i;
            ck_rng_shuffle(&m->rng, idx, n_train);
            if (dist && (st = ck_dist_bcast(idx, (size_t)n_train * sizeof *idx, "the broadcast of the epoch's "
                                            "sample order")) != CKERAS_OK)
                break;
        }
        reset_running(m);
        double loss_sum = 0;
        int64_t seen = 0;
        /* per-batch logs only for those who read them (the progress bar, callbacks); else the
         * epoch's logs are made once, after its last batch */
        bool batch_logs = verbose == 1 || a->ncb > 0;
        for (int64_t s = 0; s < steps && pos < pass_batches; s++) {
            int64_t start = pos++ * batch, n = n_train - start < batch ? n_train - start : batch;
            if ((st = deliver(a, &ctx, CKERAS_BATCH_BEGIN, (int)s, &logs)) != CKERAS_OK)
                break;
            if (dist) { /* this rank's part of the batch (a source is asked for it alone) */
                int64_t off, len;
                double l = 0;
                ck_dist_shard(n, &off, &len);
                if (len > 0)
                    st = gather(m, d, true, idx, start + off, len, "fit");
                if ((st = dist_step(m, &db, n, len, st, &l)) != CKERAS_OK)
                    break;
                loss_sum += l * (double)n;
            } else {
                if ((st = gather(m, d, true, idx, start, n, "fit")) != CKERAS_OK)
                    break;
                loss_sum += run_batch(m, n, true) * (double)n;
            }
            seen += n;
            m->tob_loss_sum = loss_sum;
            m->tob_seen = seen;
            if (!batch_logs)
                continue;
            fill_logs(m, &logs, "", loss_sum / (double)seen, true);
            if (verbose == 1)
                ck_progbar_update(&bar, (int)s + 1, &logs);
            if ((st = deliver(a, &ctx, CKERAS_BATCH_END, (int)s, &logs)) != CKERAS_OK)
                break;
            if (ctx.stop_training)
                break;
        }
        if (st != CKERAS_OK)
            break;
        if (pos >= pass_batches)
            pos = 0;
        if (!batch_logs && seen > 0)
            fill_logs(m, &logs, "", loss_sum / (double)seen, true);
        /* validation_freq: after every validation_freq-th epoch (1-based), as Keras */
        bool validate = a->validation_freq <= 1 || (epoch + 1) % a->validation_freq == 0;
        if (n_val > 0 && validate && !ctx.stop_training) {
            double vloss;
            int64_t vstart = vd == &a->val ? 0 : n_train;
            if ((st = run_validation(m, &db, vd, vstart, n_val, vb, &vloss)) != CKERAS_OK)
                break;
            fill_logs(m, &logs, "val_", vloss, false);
        }
        /* Keras' order: the user's callbacks (which may add logs: learning_rate), then History,
         * then the progress bar */
        st = deliver(a, &ctx, CKERAS_EPOCH_END, (int)epoch, &logs);
        if (dist)
            st = dist_agree(st, &ctx.stop_training);
        if (st != CKERAS_OK)
            break;
        if ((st = ck_history_append(h, (int)epoch, &logs)) != CKERAS_OK)
            break;
        if (verbose)
            ck_progbar_epoch_end(&bar, &logs);
        if (ctx.stop_training)
            break;
    }
    if (st == CKERAS_OK) {
        st = deliver(a, &ctx, CKERAS_TRAIN_END, 0, &logs);
    } else {
        /* keep the weights of the last completed epoch (without a copy nothing failed after
         * the first step: the weights are still those) */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ckeras_last_error());
        if (backup) {
            memcpy(m->params, backup, m->n_params * sizeof(float));
            memcpy(m->state, backup + m->n_params, m->n_state * sizeof(float));
        }
        ck_error(st, "%s", msg);
    }
    ck_free(idx);
    ck_free(backup);
    ck_free(db.before);
    ck_free(db.sum);
    ck_free(db.state);
    ckeras_tensor_free(cwt);
    if (st != CKERAS_OK || !history)
        ckeras_history_free(h);
    else
        *history = h;
    return st;
}
