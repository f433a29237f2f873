/* Models with variable-length (Keras' None) input axes: the shapes of a new input, the None axes
 * of each new node, and the lengths of the data of each call. And the loss of an output that
 * carries Keras' mask.
 *
 * Sizes: the products here are of a batch (at most the rows of a checked tensor or plan) and
 * per-sample sizes of checked shapes, or counts of checked buffers (core.h, checked size
 * arithmetic; the plan checks every batch buffer), so none passes 2^48. */
#include "model.h"

#include <string.h>

ckeras_status ck_model_shape_from_config(const ck_value *s, const char *what, ck_shape *in, uint32_t *none)
{
    *none = 0;
    in->ndim = s->n;
    for (int k = 0; k < s->n; k++) {
        if (s->v[k] == 0)
            return ck_error(CKERAS_EINVAL, "%s: Input shape axis %d is 0; give a positive size or None (-1)", what,
                            k);
        if (s->v[k] < 0) {
            if (k >= 32)
                return ck_error(CKERAS_EUNSUPPORTED, "%s: a None axis must be one of the first 32", what);
            *none |= 1u << k;
            in->d[k] = CK_NONE_PLACEHOLDER;
        } else {
            in->d[k] = s->v[k];
        }
    }
    return ck_shape_check(in, "%s: Input shape", what);
}

ckeras_status ck_model_node_none(ckeras_model *m, int i)
{
    ckeras_status st = ck_graph_find_none(&m->g, i);
    if (st != CKERAS_OK)
        ck_error_prefix("model '%s'", m->name);
    return st;
}

bool ck_model_has_none(const ckeras_model *m)
{
    for (int j = 0; j < m->g.ninputs; j++)
        if (m->g.none[j])
            return true;
    return false;
}

ckeras_status ck_model_match_lengths(ckeras_model *m, int nin, const ckeras_tensor *const *xs, const char *what)
{
    if (!ck_model_has_none(m) || nin != m->g.ninputs)
        return CKERAS_OK;
    ck_shape ins[CK_MAX_NODE_INPUTS];
    for (int j = 0; j < nin; j++) {
        ins[j] = m->g.inputs[j];
        const ckeras_tensor *x = xs[j];
        if (!x)
            return CKERAS_OK; /* the checks that follow say what is wrong */
        if (x->ndim != ins[j].ndim + 1) {
            ck_shape want = ins[j], got = ck_tensor_shape(x);
            for (int k = 0; k < want.ndim; k++)
                if (m->g.none[j] & (1u << k))
                    want.d[k] = -1; /* shown as None */
            char a[96], b[96];
            return ck_error(CKERAS_ESHAPE, "%s: x%s has shape %s, model '%s' expects (batch, %s", what,
                            nin > 1 ? " (an input)" : "", ck_shape_str(&got, false, a, sizeof a), m->name,
                            ck_shape_str(&want, false, b, sizeof b) + 1);
        }
        for (int k = 0; k < ins[j].ndim; k++)
            if ((m->g.none[j] & (1u << k)) && x->shape[k + 1] > 0)
                ins[j].d[k] = x->shape[k + 1];
    }
    bool changed;
    ckeras_status st = ck_graph_set_inputs(&m->g, ins, &changed);
    if (changed)
        ck_plan_free(&m->plan);
    if (st != CKERAS_OK)
        ck_error_prefix("%s: model '%s' on inputs of these lengths", what, m->name);
    return st;
}

bool ck_model_masked_loss(ckeras_model *m, int k, int64_t n, int64_t rows, int64_t cols, int64_t true_cols,
                          float weight, float *grad, double *mean)
{
    int node = m->g.outputs[k];
    const float *mask = m->plan.mask[node];
    if (!mask || n * ck_graph_mask_steps(&m->g, node) != rows)
        return false;
    const float *pred = m->plan.act[node], *y = m->plan.y_true[k];
    int64_t valid = 0;
    for (int64_t r = 0; r < rows; r++)
        valid += mask[r] != 0.0f;
    const double denom = (double)valid + 1e-7; /* Keras: total / (valid + epsilon) weights */
    if (grad)
        memset(grad, 0, (size_t)(rows * cols) * sizeof(float));
    double sum = 0;
    for (int64_t r = 0; r < rows;) { /* each run of kept rows */
        if (mask[r] == 0.0f) {
            r++;
            continue;
        }
        int64_t a = r;
        while (r < rows && mask[r] != 0.0f)
            r++;
        float *g = grad ? grad + a * cols : NULL;
        sum += ck_loss_compute(&m->loss[k], y + a * true_cols, pred + a * cols, r - a, cols, g,
                               (float)(weight / denom), NULL);
    }
    *mean = sum / denom;
    return true;
}
