/* Models with variable-length (Keras' None) input axes: the shapes of a new input, the None axes
 * of each new node, and the lengths of the data of each call. */
#include "model.h"

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
    return CKERAS_OK;
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
        if (!x || x->ndim != ins[j].ndim + 1)
            return CKERAS_OK; /* the shape checks that follow say what is wrong */
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
