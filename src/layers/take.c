/* Output k of a layer with several outputs (an LSTM with return_state: the output, h and c).
 * Such a layer writes its outputs one after the other into one packed row per sample
 * (ckeras_layer.nout, .outs); a model reads output k through a hidden node of this internal
 * layer, which copies that part out (and, backward, its gradient back in). It has no Keras
 * class: models do not save it, summary and plot_model do not show it, and a reference to it
 * in a file is (producer, 0, k).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <stdio.h>
#include <string.h>

typedef struct take_priv {
    const ckeras_layer *producer; /* the layer whose output k this is (built before it) */
    int k;
    int64_t off, len; /* its floats in the packed row */
    int64_t packed;   /* floats per sample of the producer */
} take_priv;

/* Where output k lies in the producer's packed row, as the producer is built now (a None axis
 * builds it again for each length). */
static void locate(take_priv *p, ckeras_layer *l)
{
    const ckeras_layer *pr = p->producer;
    p->off = 0;
    for (int j = 0; j < p->k; j++)
        p->off += ck_shape_size(&pr->outs[j]);
    p->len = ck_shape_size(&pr->outs[p->k]);
    p->packed = ck_shape_size(&pr->out_shape);
    l->outs[0] = pr->outs[p->k];
}

static ckeras_status take_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    take_priv *p = l->priv;
    if (!p || p->k >= p->producer->nout)
        return ck_error(CKERAS_ESHAPE, "output %s: the producer's outputs changed", l->name);
    locate(p, l);
    if (ck_shape_size(in) != p->packed)
        return ck_error(CKERAS_ESHAPE, "output %s: the producer's outputs changed", l->name);
    *out = l->outs[0];
    return CKERAS_OK;
}

uint32_t ck_take_none(const ckeras_layer *l)
{
    const take_priv *p = l->priv;
    return p->producer->outs_none[p->k];
}

static void take_forward(ckeras_layer *l, const ck_fwd *f)
{
    const take_priv *p = l->priv;
    for (int64_t i = 0; i < f->n; i++)
        memcpy(f->y + i * p->len, f->x + i * p->packed + p->off, (size_t)p->len * sizeof(float));
}

static void take_backward(ckeras_layer *l, const ck_bwd *b)
{
    const take_priv *p = l->priv;
    if (!b->dx)
        return;
    memset(b->dx, 0, (size_t)(b->n * p->packed) * sizeof(float));
    for (int64_t i = 0; i < b->n; i++)
        memcpy(b->dx + i * p->packed + p->off, b->dy + i * p->len, (size_t)p->len * sizeof(float));
}

static void take_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

/* Keras' masks of several outputs ([output_mask, None, ...] for a recurrent layer with
 * return_state): output 0 has the producer's mask (the producer passes its input's on, as an RNN
 * returning sequences does), the states none. */
static ck_mask_mode take_mask_mode(const ckeras_layer *l)
{
    const take_priv *p = l->priv;
    const ckeras_layer *pr = p ? p->producer : NULL;
    if (!pr || p->k != 0 || !pr->vt->mask_mode)
        return CK_MASK_DROP;
    return pr->vt->mask_mode(pr) == CK_MASK_PASS ? CK_MASK_PASS : CK_MASK_DROP;
}

const ck_layer_vt ck_take_vt = {
    .class_name = "__output__",
    .base_name = "__output",
    .build = take_build,
    .forward = take_forward,
    .backward = take_backward,
    .free_priv = take_free,
    .mask_mode = take_mask_mode,
};

ckeras_layer *ck_take_new(const ckeras_layer *producer, int k)
{
    if (k < 0 || k >= producer->nout)
        return NULL;
    ckeras_layer *l = ck_layer_new(&ck_take_vt);
    take_priv *p = l ? ck_calloc(1, sizeof *p) : NULL;
    if (!p) {
        ck_layer_free(l);
        return NULL;
    }
    p->producer = producer;
    p->k = k;
    locate(p, l);
    l->priv = p;
    /* the name its output goes by (logs, per-output losses, .npz keys): tf.keras' unique output
     * names, "lstm", "lstm_1", "lstm_2" */
    if (k == 0)
        snprintf(l->name, sizeof l->name, "%s", producer->name);
    else
        snprintf(l->name, sizeof l->name, "%.50s_%d", producer->name, k);
    l->named = true;
    return l;
}
