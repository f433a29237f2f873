/* summary(): the model's rows for Keras' table. */
#include "model.h"

#include <stdio.h>
#include <string.h>

/* none: bit k for a variable axis k, shown as None */
static void shape_with_batch(const ck_shape *s, uint32_t none, char *buf, size_t n)
{
    ck_shape b;
    b.ndim = s->ndim + 1;
    b.d[0] = 0;
    for (int k = 0; k < s->ndim; k++)
        b.d[k + 1] = none & (1u << k) ? -1 : s->d[k];
    ck_shape_str(&b, true, buf, n);
}

/* Keras shows "Connected to" for functional models that are not a plain chain. */
static bool is_chain(const ckeras_model *m)
{
    if (m->g.ninputs != 1)
        return false;
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        if (nd->nin != 1 || nd->in[0] != i - 1)
            return false;
    }
    return m->g.output == m->g.n - 1;
}

static const char *input_name(const ckeras_model *m, int j)
{
    return m->input_layers[j] ? m->input_layers[j]->name : "input_layer";
}

ckeras_status ck_model_summary_text(const ckeras_model *m, int line_length, char **text)
{
    int ninput_rows = m->functional ? m->g.ninputs : 0;
    int n = ninput_rows + m->g.n;
    ck_summary_row *rows = ck_calloc((size_t)(n ? n : 1), sizeof *rows);
    if (!rows)
        return CKERAS_ENOMEM;
    bool connect = m->functional && !is_chain(m);
    int64_t trainable = 0, frozen = 0;
    for (int j = 0; j < ninput_rows; j++) {
        snprintf(rows[j].name, sizeof rows[j].name, "%s (InputLayer)", input_name(m, j));
        shape_with_batch(&m->g.inputs[j], m->g.none[j], rows[j].shape, sizeof rows[j].shape);
        snprintf(rows[j].connected, sizeof rows[j].connected, "%s", connect ? "-" : "");
    }
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        const ckeras_layer *l = nd->layer;
        ck_summary_row *r = &rows[ninput_rows + i];
        snprintf(r->name, sizeof r->name, "%s (%s)", l->name, l->vt->class_name);
        shape_with_batch(&l->out_shape, nd->none, r->shape, sizeof r->shape);
        r->params = ck_layer_param_count(l, false);
        trainable += ck_layer_param_count(l, true);
        frozen += r->params - ck_layer_param_count(l, true);
        if (!connect)
            continue;
        size_t len = 0;
        for (int k = 0; k < nd->nin && len < sizeof r->connected; k++) {
            int src = nd->in[k];
            const char *nm = src < 0 ? input_name(m, -1 - src) : m->g.nodes[src].layer->name;
            len += (size_t)snprintf(r->connected + len, sizeof r->connected - len, "%s%s[0][0]", k ? ", " : "", nm);
        }
    }
    ck_summary s = {
        .model_name = m->name,
        .model_class = m->functional ? "Functional" : "Sequential",
        .nrows = n,
        .rows = rows,
        .trainable = trainable,
        .non_trainable = frozen,
        .optimizer_params = 0,
        .line_length = line_length,
    };
    /* Keras shows the optimizer's variables once it has been built by a training step:
     * iterations, learning rate and every slot. */
    if (m->compiled && m->opt && m->opt->iterations > 0)
        s.optimizer_params = 2 + (int64_t)m->opt->nslots * (int64_t)m->n_params;
    *text = ck_summary_format(&s);
    ck_free(rows);
    return *text ? CKERAS_OK : CKERAS_ENOMEM;
}
