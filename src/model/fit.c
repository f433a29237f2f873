/* The training and inference loops: fit, evaluate, predict, train_on_batch. */
#include "model.h"

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
    int64_t bad = ck_first_nonfinite(x->data, x->shape[0] * per);
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

static ckeras_status check_x(const ckeras_model *m, const ckeras_tensor *x, const char *what)
{
    ckeras_status st = check_model(m, what);
    if (st != CKERAS_OK)
        return st;
    if (m->g.ninputs != 1)
        return ck_error(CKERAS_EUNSUPPORTED, "%s: model '%s' has %d inputs; this call takes one (use "
                        "ckeras_model_predict_multi)", what, m->name, m->g.ninputs);
    return check_input(m, x, 0, what);
}

/* Per-sample target size that the loss expects for y. */
static ckeras_status check_y(const ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y,
                             const char *what, int64_t *target_size)
{
    ckeras_status st = ck_tensor_check(y, what, "y");
    if (st != CKERAS_OK)
        return st;
    if (y->shape[0] != x->shape[0])
        return ck_error(CKERAS_ESHAPE, "%s: x has %lld samples but y has %lld", what, (long long)x->shape[0],
                        (long long)y->shape[0]);
    const ck_shape *out = ck_model_output_shape(m);
    int64_t so = ck_shape_size(out), cols = out->d[out->ndim - 1];
    int64_t ty = ckeras_tensor_size(y) / y->shape[0];
    int64_t want = m->loss.kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? so / cols : so;
    if (ty != want) {
        char a[96], b[96];
        ck_shape ys = ck_tensor_shape(y);
        return ck_error(CKERAS_ESHAPE, "%s: y has shape %s, but the model's output is %s (loss %s needs %lld "
                        "values per sample)", what, ck_shape_str(&ys, false, a, sizeof a),
                        ck_shape_str(out, false, b, sizeof b), ck_loss_name(&m->loss), (long long)want);
    }
    int64_t bad = ck_first_nonfinite(y->data, y->shape[0] * ty);
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "%s: y has a non-finite value (%g) in sample %lld", what, (double)y->data[bad],
                        (long long)(bad / ty));
    if (m->loss.kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY) {
        for (int64_t i = 0; i < y->shape[0] * ty; i++) {
            float v = y->data[i];
            if (v < 0 || v >= (float)cols || v != floorf(v))
                return ck_error(CKERAS_EINVAL, "%s: y of sample %lld is %g, not a class index in [0, %lld)", what,
                                (long long)(i / ty), (double)v, (long long)cols);
        }
    }
    *target_size = ty;
    return CKERAS_OK;
}

static ckeras_status resolve_metrics(ckeras_model *m, const ckeras_tensor *y)
{
    if (m->metrics_resolved)
        return CKERAS_OK;
    const ck_shape *out = ck_model_output_shape(m);
    int64_t ycols = y->ndim >= 2 ? y->shape[y->ndim - 1] : 1;
    for (int i = 0; i < m->nmetrics; i++) {
        ckeras_status st = ck_metric_parse(m->metric_specs[i], y->ndim, ycols, out->ndim + 1,
                                           out->d[out->ndim - 1], &m->metrics[i]);
        if (st != CKERAS_OK)
            return st;
    }
    m->metrics_resolved = true;
    return CKERAS_OK;
}

/* ---- one batch -------------------------------------------------------------------------- */

/* Copies the samples idx[0..n) of x (and y) into the plan's input (and target) buffers. */
static void gather(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y, const int64_t *idx,
                   int64_t start, int64_t n)
{
    const int64_t px = ck_shape_size(&m->g.inputs[0]), ts = m->target_size;
    float *restrict xb = m->plan.x[0], *restrict yb = m->plan.y_true; /* (n, px), (n, ts) */
    if (!idx) { /* consecutive samples: one copy each */
        memcpy(xb, x->data + start * px, (size_t)(n * px) * sizeof(float));
        if (y)
            memcpy(yb, y->data + start * ts, (size_t)(n * ts) * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(xb + i * px, x->data + idx[start + i] * px, (size_t)px * sizeof(float));
    if (!y)
        return;
    if (ts == 1) { /* one target value per sample (binary or sparse labels) */
        const float *restrict yd = y->data;
        for (int64_t i = 0; i < n; i++)
            yb[i] = yd[idx[start + i]];
    } else {
        for (int64_t i = 0; i < n; i++)
            memcpy(yb + i * ts, y->data + idx[start + i] * ts, (size_t)ts * sizeof(float));
    }
}

/* Forward (and, when training, backward and one optimizer step) on n gathered samples.
 * Returns the batch's mean loss and accumulates the metrics. */
static double run_batch(ckeras_model *m, int64_t n, bool train)
{
    const ck_shape *out = ck_model_output_shape(m);
    int64_t cols = out->d[out->ndim - 1];
    int64_t rows = n * ck_shape_size(out) / cols;
    ck_graph_forward(&m->g, &m->plan, n, train, &m->rng);
    const float *pred = m->plan.act[m->g.output];
    float *grad = train ? m->plan.dact[m->g.output] : NULL;
    int64_t true_cols = m->target_size * n / rows;
    double sum; /* the batch's mean loss */
    if (!ck_model_masked_loss(m, n, rows, cols, true_cols, grad, &sum))
        sum = ck_loss_compute(&m->loss, m->plan.y_true, pred, rows, cols, grad, 1.0f / (float)rows, NULL) /
              (double)rows;
    for (int i = 0; i < m->nmetrics; i++)
        ck_metric_update(&m->metrics[i], m->plan.y_true, pred, rows, cols, true_cols);
    double penalty = 0;
    if (train && !isfinite(sum)) {
        /* a diverged batch (NaN/Inf loss) does not update the weights: they stay the last
         * finite ones, and TerminateOnNaN (or the caller) sees the non-finite loss */
        penalty = ck_model_regularization(m, false);
    } else if (train) {
        ck_graph_backward(&m->g, &m->plan, n);
        penalty = ck_model_regularization(m, true);
        ck_optimizer_apply(m->opt, m->params, m->grads, m->var_off, m->nvars);
    } else {
        penalty = ck_model_regularization(m, false);
    }
    return sum + penalty;
}

/* ---- logs ------------------------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keras 3's logs: "loss" and the metrics, sorted by name; then the "val_" ones. */
static void fill_logs(const ckeras_model *m, ckeras_logs *logs, const char *prefix, double loss, bool clear)
{
    const char *names[CK_MAX_METRICS + 1];
    double vals[CK_MAX_METRICS + 1];
    int n = 0;
    names[n++] = "loss";
    for (int i = 0; i < m->nmetrics; i++)
        names[n++] = m->metrics[i].name;
    qsort(names, (size_t)n, sizeof names[0], cmp_name);
    for (int i = 0; i < n; i++) {
        vals[i] = loss;
        for (int k = 0; k < m->nmetrics; k++)
            if (names[i] == m->metrics[k].name)
                vals[i] = ck_metric_result(&m->metrics[k]);
    }
    if (clear)
        ck_logs_clear(logs);
    for (int i = 0; i < n; i++) {
        char key[CK_LOG_NAME];
        snprintf(key, sizeof key, "%s%s", prefix, names[i]);
        ck_logs_set(logs, key, vals[i]);
    }
}

/* ---- evaluate --------------------------------------------------------------------------- */

static ckeras_status evaluate_range(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y,
                                    int64_t start, int64_t count, int64_t batch, double *loss)
{
    m->tob_loss_sum = 0;
    m->tob_seen = 0;
    for (int i = 0; i < m->nmetrics; i++)
        ck_metric_reset(&m->metrics[i]);
    double total = 0;
    for (int64_t b = 0; b < count; b += batch) {
        int64_t n = count - b < batch ? count - b : batch;
        gather(m, x, y, NULL, start + b, n);
        total += run_batch(m, n, false) * (double)n;
    }
    *loss = total / (double)count;
    return CKERAS_OK;
}

static ckeras_status prepare(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y, int64_t batch,
                             bool training, const char *what)
{
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "%s: model '%s' must be compiled first", what, m->name);
    ckeras_status st;
    int64_t ts;
    if ((st = check_model(m, what)) != CKERAS_OK || (st = ck_model_match_lengths(m, 1, &x, what)) != CKERAS_OK ||
        (st = check_x(m, x, what)) != CKERAS_OK || (st = check_y(m, x, y, what, &ts)) != CKERAS_OK)
        return st;
    if ((st = resolve_metrics(m, y)) != CKERAS_OK) {
        ck_error_prefix("%s", what);
        return st;
    }
    m->target_size = ts;
    return ck_plan_ensure(&m->plan, &m->g, batch, training, ts);
}

ckeras_status ck_model_evaluate(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y, int64_t batch,
                                double *results, int n_results)
{
    if (batch <= 0)
        batch = 32;
    if (batch > x->shape[0])
        batch = x->shape[0];
    ckeras_status st = prepare(m, x, y, batch, false, "evaluate");
    if (st != CKERAS_OK)
        return st;
    double loss;
    evaluate_range(m, x, y, 0, x->shape[0], batch, &loss);
    if (results && n_results > 0)
        results[0] = loss;
    for (int i = 0; i < m->nmetrics && i + 1 < n_results; i++)
        results[i + 1] = ck_metric_result(&m->metrics[i]);
    return CKERAS_OK;
}

ckeras_status ck_model_train_on_batch(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y,
                                      double *results, int n_results)
{
    ckeras_status st = prepare(m, x, y, x ? x->shape[0] : 0, true, "train_on_batch");
    if (st != CKERAS_OK)
        return st;
    gather(m, x, y, NULL, 0, x->shape[0]);
    double loss = run_batch(m, x->shape[0], true);
    m->tob_loss_sum += loss * (double)x->shape[0];
    m->tob_seen += x->shape[0];
    if (results && n_results > 0)
        results[0] = m->tob_loss_sum / (double)m->tob_seen;
    for (int i = 0; i < m->nmetrics && i + 1 < n_results; i++)
        results[i + 1] = ck_metric_result(&m->metrics[i]);
    if (!isfinite(loss))
        return ck_error(CKERAS_ENAN, "train_on_batch: the loss is %g", loss);
    return CKERAS_OK;
}

ckeras_status ck_model_predict_multi(ckeras_model *m, int nin, const ckeras_tensor *const *xs, int64_t batch,
                                    ckeras_tensor **out)
{
    ckeras_status st = check_model(m, "predict");
    if (st != CKERAS_OK)
        return st;
    if (nin != m->g.ninputs)
        return ck_error(CKERAS_EINVAL, "predict: model '%s' has %d inputs, %d given", m->name, m->g.ninputs, nin);
    if ((st = ck_model_match_lengths(m, nin, xs, "predict")) != CKERAS_OK)
        return st;
    for (int j = 0; j < nin; j++) {
        if ((st = check_input(m, xs[j], j, "predict")) != CKERAS_OK) {
            if (nin > 1)
                ck_error_prefix("input %d", j);
            return st;
        }
        if (xs[j]->shape[0] != xs[0]->shape[0])
            return ck_error(CKERAS_ESHAPE, "predict: input %d has %lld samples, input 0 has %lld", j,
                            (long long)xs[j]->shape[0], (long long)xs[0]->shape[0]);
    }
    int64_t N = xs[0]->shape[0];
    if (batch <= 0)
        batch = 32;
    if (batch > N)
        batch = N;
    if ((st = ck_plan_ensure(&m->plan, &m->g, batch, false, 0)) != CKERAS_OK)
        return st;
    const ck_shape *os = ck_model_output_shape(m);
    int64_t shape[CKERAS_MAX_DIMS];
    shape[0] = N;
    for (int k = 0; k < os->ndim; k++)
        shape[k + 1] = os->d[k];
    ckeras_tensor *t = ckeras_tensor_new(os->ndim + 1, shape);
    if (!t)
        return CKERAS_ENOMEM;
    int64_t po = ck_shape_size(os);
    for (int64_t b = 0; b < N; b += batch) {
        int64_t n = N - b < batch ? N - b : batch;
        for (int j = 0; j < nin; j++) {
            int64_t px = ck_shape_size(&m->g.inputs[j]);
            memcpy(m->plan.x[j], xs[j]->data + b * px, (size_t)(n * px) * sizeof(float));
        }
        ck_graph_forward(&m->g, &m->plan, n, false, &m->rng);
        memcpy(t->data + b * po, m->plan.act[m->g.output], (size_t)(n * po) * sizeof(float));
    }
    *out = t;
    return CKERAS_OK;
}

ckeras_status ck_model_predict(ckeras_model *m, const ckeras_tensor *x, int64_t batch, ckeras_tensor **out)
{
    ckeras_status st = check_model(m, "predict");
    if (st != CKERAS_OK)
        return st;
    if (!x)
        return ck_error(CKERAS_EINVAL, "predict: x is NULL");
    return ck_model_predict_multi(m, 1, &x, batch, out);
}

/* ---- fit -------------------------------------------------------------------------------- */

static ckeras_status save_for_callback(void *model, const char *path, bool weights_only)
{
    return weights_only ? ck_model_save_weights(model, path) : ck_model_save(model, path, 0);
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

ckeras_status ck_model_fit(ckeras_model *m, const ckeras_tensor *x, const ckeras_tensor *y,
                           const ckeras_fit_args *args, ckeras_history **history)
{
    ckeras_fit_args defaults = {.epochs = 1, .batch_size = 32, .verbose = 1, .shuffle = true};
    const ckeras_fit_args *a = args ? args : &defaults;
    if (!m->compiled)
        return ck_error(CKERAS_ESTATE, "fit: model '%s' must be compiled first", m->name);
    ckeras_status st;
    int64_t ts;
    if ((st = check_model(m, "fit")) != CKERAS_OK || (st = ck_model_match_lengths(m, 1, &x, "fit")) != CKERAS_OK ||
        (st = check_x(m, x, "fit")) != CKERAS_OK || (st = check_y(m, x, y, "fit", &ts)) != CKERAS_OK)
        return st;
    int64_t N = x->shape[0];
    int64_t n_train = N, n_val = 0;
    const ckeras_tensor *vx = NULL, *vy = NULL;
    if (a->val_x) {
        int64_t vts;
        if ((st = check_x(m, a->val_x, "fit: validation_data")) != CKERAS_OK ||
            (st = check_y(m, a->val_x, a->val_y, "fit: validation_data", &vts)) != CKERAS_OK)
            return st;
        vx = a->val_x;
        vy = a->val_y;
        n_val = vx->shape[0];
    } else if (a->validation_split > 0) {
        /* the last fraction of the samples, taken before any shuffling */
        n_train = (int64_t)floor((double)N * (1.0 - a->validation_split));
        n_val = N - n_train;
        if (n_train < 1 || n_val < 1)
            return ck_error(CKERAS_EINVAL, "fit: validation_split %g of %lld samples leaves an empty set",
                            a->validation_split, (long long)N);
        vx = x;
        vy = y;
    }
    if ((st = resolve_metrics(m, y)) != CKERAS_OK) {
        ck_error_prefix("fit");
        return st;
    }
    int64_t batch = a->batch_size < n_train ? a->batch_size : n_train;
    m->target_size = ts;
    if ((st = ck_plan_ensure(&m->plan, &m->g, batch, true, ts)) != CKERAS_OK)
        return st;

    /* everything fit needs is allocated here, before the first step */
    int64_t *idx = ck_malloc((size_t)n_train * sizeof *idx);
    float *backup = ck_malloc((m->n_params + m->n_state + 1) * sizeof(float));
    ckeras_history *h = ck_history_new();
    if (!idx || !backup || !h) {
        ck_free(idx);
        ck_free(backup);
        ckeras_history_free(h);
        return CKERAS_ENOMEM;
    }
    for (int64_t i = 0; i < n_train; i++)
        idx[i] = i;
    /* a failure before the first epoch (a callback's on_train_begin) restores from here */
    memcpy(backup, m->params, m->n_params * sizeof(float));
    memcpy(backup + m->n_params, m->state, m->n_state * sizeof(float));

    int64_t steps = (n_train + batch - 1) / batch;
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
    ctx.verbose = (int)a->verbose;
    ctx.model = m;
    ctx.save = save_for_callback;

    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_progbar bar;
    memset(&bar, 0, sizeof bar);
    st = deliver(a, &ctx, CKERAS_TRAIN_BEGIN, 0, &logs);
    for (int64_t epoch = a->initial_epoch; st == CKERAS_OK && epoch < a->epochs; epoch++) {
        memcpy(backup, m->params, m->n_params * sizeof(float));
        memcpy(backup + m->n_params, m->state, m->n_state * sizeof(float));
        ck_logs_clear(&logs);
        if ((st = deliver(a, &ctx, CKERAS_EPOCH_BEGIN, (int)epoch, &logs)) != CKERAS_OK)
            break;
        if (a->verbose)
            ck_progbar_epoch_begin(&bar, stdout, (int)a->verbose, (int)epoch, (int)a->epochs, (int)steps);
        if (a->shuffle)
            ck_rng_shuffle(&m->rng, idx, n_train);
        m->tob_loss_sum = 0;
        m->tob_seen = 0;
        for (int i = 0; i < m->nmetrics; i++)
            ck_metric_reset(&m->metrics[i]);
        double loss_sum = 0;
        int64_t seen = 0;
        /* per-batch logs only for those who read them (the progress bar, callbacks); else the
         * epoch's logs are made once, after its last batch */
        bool batch_logs = a->verbose == 1 || a->ncb > 0;
        for (int64_t s = 0; s < steps; s++) {
            int64_t start = s * batch, n = n_train - start < batch ? n_train - start : batch;
            if ((st = deliver(a, &ctx, CKERAS_BATCH_BEGIN, (int)s, &logs)) != CKERAS_OK)
                break;
            gather(m, x, y, idx, start, n);
            loss_sum += run_batch(m, n, true) * (double)n;
            seen += n;
            if (!batch_logs)
                continue;
            fill_logs(m, &logs, "", loss_sum / (double)seen, true);
            if (a->verbose == 1)
                ck_progbar_update(&bar, (int)s + 1, &logs);
            if ((st = deliver(a, &ctx, CKERAS_BATCH_END, (int)s, &logs)) != CKERAS_OK)
                break;
            if (ctx.stop_training)
                break;
        }
        if (st != CKERAS_OK)
            break;
        if (!batch_logs && seen > 0)
            fill_logs(m, &logs, "", loss_sum / (double)seen, true);
        if (n_val > 0 && !ctx.stop_training) {
            double vloss;
            int64_t vstart = vx == x ? n_train : 0;
            int64_t vb = batch < n_val ? batch : n_val;
            evaluate_range(m, vx, vy, vstart, n_val, vb, &vloss);
            fill_logs(m, &logs, "val_", vloss, false);
        }
        if (a->verbose)
            ck_progbar_epoch_end(&bar, &logs);
        if ((st = ck_history_append(h, (int)epoch, &logs)) != CKERAS_OK)
            break;
        if ((st = deliver(a, &ctx, CKERAS_EPOCH_END, (int)epoch, &logs)) != CKERAS_OK)
            break;
        if (ctx.stop_training)
            break;
    }
    if (st == CKERAS_OK) {
        st = deliver(a, &ctx, CKERAS_TRAIN_END, 0, &logs);
    } else {
        /* keep the weights of the last completed epoch */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ckeras_last_error());
        memcpy(m->params, backup, m->n_params * sizeof(float));
        memcpy(m->state, backup + m->n_params, m->n_state * sizeof(float));
        ck_error(st, "%s", msg);
    }
    ck_free(idx);
    ck_free(backup);
    if (st != CKERAS_OK || !history)
        ckeras_history_free(h);
    else
        *history = h;
    return st;
}
