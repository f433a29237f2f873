/* summary(): the model's rows for Keras' table. */
#include "model.h"

#include <stdio.h>
#include <string.h>

ckeras_status ck_model_summary_text(const ckeras_model *m, int line_length, char **text)
{
    int n = m->g.n;
    ck_summary_row *rows = ck_calloc((size_t)(n ? n : 1), sizeof *rows);
    if (!rows)
        return CKERAS_ENOMEM;
    int64_t trainable = 0, frozen = 0;
    for (int i = 0; i < n; i++) {
        const ckeras_layer *l = m->g.nodes[i].layer;
        snprintf(rows[i].name, sizeof rows[i].name, "%s (%s)", l->name, l->vt->class_name);
        ck_shape s;
        s.ndim = l->out_shape.ndim + 1;
        s.d[0] = 0;
        for (int k = 0; k < l->out_shape.ndim; k++)
            s.d[k + 1] = l->out_shape.d[k];
        ck_shape_str(&s, true, rows[i].shape, sizeof rows[i].shape);
        rows[i].params = ck_layer_param_count(l, false);
        trainable += ck_layer_param_count(l, true);
        frozen += rows[i].params - ck_layer_param_count(l, true);
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
