/* Data sources: fit, evaluate and predict on samples a fill function writes into the plan's
 * buffers on request (ckeras_data_source, include/ckeras.h).
 *
 * A source shows the loops of fit.c shape-only tensors (data NULL, shape (n, sample shape...)),
 * so every check of the array path (counts, shapes, metrics resolution, variable lengths) runs
 * unchanged on it; the value checks the array path makes once on the whole arrays (NaN/Inf,
 * sparse labels) run here on each filled batch. Sizes: a batch of the plan times checked
 * per-sample sizes (see fit.c). */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ck_data_from_source(ck_data *d, ckeras_data_source *src, bool targets)
{
    memset(d, 0, sizeof *d);
    d->src = src;
    d->nx = src->nx;
    for (int j = 0; j < src->nx; j++)
        d->x[j] = &src->hx[j];
    if (targets) {
        d->ny = src->ny;
        for (int k = 0; k < src->ny; k++)
            d->y[k] = &src->hy[k];
    }
}

/* The first sample of a filled batch with a value the array path refuses, as its message. */
static ckeras_status check_batch(const float *buf, int64_t per, const int64_t *ids, int64_t n,
                                 const char *what, const char *name, int64_t sparse_cols)
{
    int64_t bad = ck_first_nonfinite(buf, n * per);
    if (bad >= 0)
        return ck_error(CKERAS_ENAN, "%s: %s has a non-finite value (%g) in sample %lld", what, name,
                        (double)buf[bad], (long long)ids[bad / per]);
    for (int64_t i = 0; sparse_cols > 0 && i < n * per; i++) {
        float v = buf[i];
        if (v < 0 || v >= (float)sparse_cols || v != floorf(v))
            return ck_error(CKERAS_EINVAL, "%s: %s of sample %lld is %g, not a class index in [0, %lld)", what, name,
                            (long long)ids[i / per], (double)v, (long long)sparse_cols);
    }
    return CKERAS_OK;
}

ckeras_status ck_source_gather(ckeras_model *m, const ck_data *d, bool targets, const int64_t *idx, int64_t start,
                               int64_t n, const char *what)
{
    ckeras_data_source *src = d->src;
    const int64_t *ids;
    if (idx) {
        ids = idx + start;
    } else {
        /* consecutive samples: the scratch grows at the first batch of a call only */
        if (src->seq_cap < n) {
            int64_t *p = ck_malloc_n(n, sizeof *p);
            if (!p)
                return CKERAS_ENOMEM;
            ck_free(src->seq);
            src->seq = p;
            src->seq_cap = n;
        }
        for (int64_t i = 0; i < n; i++)
            src->seq[i] = start + i;
        ids = src->seq;
    }
    float *x[CK_MAX_NODE_INPUTS];
    float *y[CK_MAX_OUTPUTS];
    for (int j = 0; j < src->nx; j++)
        x[j] = m->plan.x[j];
    bool any_y = false;
    for (int k = 0; k < src->ny; k++) {
        y[k] = targets && k < d->ny && m->has_loss[k] ? m->plan.y_true[k] : NULL;
        any_y |= y[k] != NULL;
    }
    ck_error_clear();
    ckeras_status st = src->fill(src->user, ids, n, x, targets && any_y ? y : NULL);
    if (st != CKERAS_OK) {
        if (ck_last_status(CKERAS_OK) != CKERAS_OK) {
            ck_error_prefix("%s: data source", what);
            return st;
        }
        return ck_error(st, "%s: data source: filling %lld samples (from sample %lld) returned %s", what,
                        (long long)n, (long long)ids[0], ckeras_status_name(st));
    }
    for (int j = 0; j < src->nx; j++) {
        char name[16];
        snprintf(name, sizeof name, src->nx > 1 ? "input %d" : "x", j);
        if ((st = check_batch(x[j], ck_shape_size(&m->g.inputs[j]), ids, n, what, name, 0)) != CKERAS_OK)
            return st;
    }
    for (int k = 0; targets && k < src->ny; k++) {
        if (!y[k])
            continue;
        char name[CK_NAME_MAX + 8];
        if (m->g.noutputs > 1)
            snprintf(name, sizeof name, "y of '%s'", ck_model_output_name(m, k));
        else
            snprintf(name, sizeof name, "y");
        const ck_shape *out = &m->g.nodes[m->g.outputs[k]].layer->out_shape;
        int64_t sparse = m->loss[k].kind == CK_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? out->d[out->ndim - 1] : 0;
        if ((st = check_batch(y[k], m->target_size[k], ids, n, what, name, sparse)) != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}
