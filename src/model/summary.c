/* summary(): the model's rows for Keras' table.
 *
 * Sizes: the products here are of weight sizes (checked when their layer was built), of counts
 * of layers, calls, variables and optimizer slots (ints far below 2^31: a model holds at most
 * CK_MAX_NODES calls of at most CK_MAX_WEIGHTS weights) or of constants; arrays grow by ck_grow. */
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
    int prev = -1; /* what the next row must read: input 0, then each row's output */
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        if (nd->group >= 0) { /* a nested model is one row */
            const ck_group *gr = &m->groups[nd->group];
            if (gr->nin != 1 || gr->in[0] != prev || gr->nout != 1)
                return false;
            prev = gr->out_node[0];
            i = gr->first + gr->count - 1;
            continue;
        }
        if (nd->nin != 1 || nd->in[0] != prev)
            return false;
        prev = i;
    }
    return m->g.noutputs == 1 && m->g.outputs[0] == prev;
}

static const char *input_name(const ckeras_model *m, int j)
{
    return m->input_layers[j] ? m->input_layers[j]->name : "input_layer";
}

/* The name Keras shows for graph source src: a layer, an input, or the nested model it is in. */
static const char *source_name(const ckeras_model *m, int src)
{
    if (src < 0)
        return input_name(m, -1 - src);
    if (ck_node_hidden(&m->g.nodes[src]))
        src = m->g.nodes[src].in[0];
    const ck_node *nd = &m->g.nodes[src];
    return nd->group >= 0 ? m->groups[nd->group].model->name : nd->layer->name;
}

static void connect_text(const ckeras_model *m, int nin, const int *in, char *buf, size_t n, bool connect)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; connect && k < nin && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s[0][0]", k ? ", " : "", source_name(m, in[k]));
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
    int nr = ninput_rows;
    for (int i = 0; i < m->g.n; i++) {
        const ck_node *nd = &m->g.nodes[i];
        const ckeras_layer *l = nd->layer;
        if (ck_node_hidden(nd))
            continue; /* output k of the layer before it */
        int64_t p = nd->first_use ? ck_layer_param_count(l, false) : 0;
        int64_t t = nd->first_use ? ck_layer_param_count(l, true) : 0;
        trainable += t;
        frozen += p - t;
        if (nd->group >= 0) { /* a nested model: one row, made at its first node */
            const ck_group *gr = &m->groups[nd->group];
            if (i != gr->first) {
                rows[nr - 1].params += p;
                continue;
            }
            ck_summary_row *r = &rows[nr++];
            snprintf(r->name, sizeof r->name, "%s (%s)", gr->model->name,
                     gr->model->functional ? "Functional" : "Sequential");
            shape_with_batch(&m->g.nodes[gr->out_node[0]].layer->out_shape, m->g.nodes[gr->out_node[0]].none, r->shape,
                             sizeof r->shape);
            r->params = p;
            connect_text(m, gr->nin, gr->in, r->connected, sizeof r->connected, connect);
            continue;
        }
        ck_summary_row *r = &rows[nr++];
        snprintf(r->name, sizeof r->name, "%s (%s)", l->name, l->vt->class_name);
        if (l->nout > 1) { /* Keras lists the shapes of every output */
            size_t len = 0;
            for (int k = 0; k < l->nout && len < sizeof r->shape; k++) {
                char one[64];
                shape_with_batch(&l->outs[k], i + 1 + k < m->g.n ? m->g.nodes[i + 1 + k].none : 0, one, sizeof one);
                len += (size_t)snprintf(r->shape + len, sizeof r->shape - len, "%s%s%s", k ? ", " : "[", one,
                                        k == l->nout - 1 ? "]" : "");
            }
        } else {
            shape_with_batch(&l->out_shape, nd->none, r->shape, sizeof r->shape);
        }
        r->params = p;
        connect_text(m, nd->nin, nd->in, r->connected, sizeof r->connected, connect);
    }
    n = nr;
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
    ckeras_status st = ck_summary_format(&s, text);
    ck_free(rows);
    return st;
}
