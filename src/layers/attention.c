/* MultiHeadAttention (Keras 3): query, value and key are projected per head by three EinsumDense
 * sublayers ("query", "key", "value": kernel (features, heads, dim), bias (heads, dim)), scaled
 * dot-product attention runs per head over the positions, and "attention_output" (kernel (heads,
 * value_dim, *output_shape), bias (*output_shape)) projects the heads back. Keras keeps the eight
 * weights in that order, named "<layer>/query/kernel", ... in .h5 files and under
 * query_dense/vars, key_dense/vars, value_dense/vars, output_dense/vars in .keras files.
 *
 * Inputs, in this order: query (T..., Dq), value (S..., Dv), then key (S..., Dk) (default: value),
 * then the attention mask (T..., S...) (1: attend, 0: not; Keras' attention_mask call keyword).
 * A model file's call MultiHeadAttention(q, v, attention_mask=m) comes in as (q, v, v, m).
 * Attention runs over every axis between the batch and the features (Keras' default
 * attention_axes): the T... and S... axes are flattened. Keras' masks of the inputs
 * (Embedding(mask_zero=True)) mask the query's rows and the value's and key's columns, and the
 * query's passes on to the output, as Keras does.
 *
 * Sizes: builds compute shapes with core.h's checked helpers and ck_layer_build checks what they
 * declare; forward, backward and the buffer sizes multiply the batch by per-sample sizes of
 * buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <math.h>
#include <string.h>

/* The keys MultiHeadAttention and GroupedQueryAttention share after their own, in Keras' order. */
#define CK_PROJECTION_FIELDS                                                                                 \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "initializer of the projection kernels"},         \
    {"bias_initializer", CK_STR, "zeros", NULL, "initializer of the projection biases"},                     \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on each projection kernel"},                   \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on each projection bias"},                       \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on each projection's output"},               \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},                     \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                         \
    {"seed", CK_INT, NULL, NULL, "seed of the dropout (ckeras draws from the model's generator)"},           \
    {"use_causal_mask", CK_BOOL, "false", NULL, "Keras' call keyword: position t attends to positions <= t " \
     "only", CK_W_NEVER},                                                                                    \
    {"return_attention_scores", CK_BOOL, "false", NULL, "Keras' call keyword: also return the attention "    \
     "weights (not supported yet)", CK_W_NEVER},                                                             \
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER}

static const ck_field mha_fields[] = {
    {"num_heads", CK_INT, NULL, "(0,)", "number of attention heads"},
    {"key_dim", CK_INT, NULL, "(0,)", "size of each head for query and key"},
    {"value_dim", CK_INT, NULL, "(0,)", "size of each head for value (None: key_dim)"},
    {"dropout", CK_FLOAT, "0", "[0,1)", "dropout rate of the attention weights (training only)"},
    {"use_bias", CK_BOOL, "true", NULL, "whether the projections have biases"},
    {"output_shape", CK_INTS, NULL, NULL, "output features (None: the query's last axis)"},
    {"attention_axes", CK_INTS, NULL, NULL, "axes attention runs over (None: all between batch and features; "
                                            "only that is supported)"},
    CK_PROJECTION_FIELDS,
};

typedef struct mha_priv {
    int64_t H, dk, dv;        /* (query) heads, their sizes */
    int64_t Hkv;              /* key and value heads: H / Hkv query heads share each (GroupQueryAttention) */
    int64_t Dq, Dk, Dv, Do;   /* features of query, key, value, output */
    int64_t T, S;             /* positions of query, of key and value */
    bool key, mask, causal;   /* a key input, a mask input, use_causal_mask */
    float rate, scale;        /* dropout, 1/sqrt(key_dim) */
    int wq, wk, wv, wo;       /* kernel indices; biases follow when use_bias */
    bool bias;
    /* activity_regularizer: Keras gives it to each projection (query, key, value, output), and
     * GroupQueryAttention applies it to its own output as well. The graph adds the penalty of
     * the layer's output (the output projection's) once (plan.c); the layer the others. */
    float a1, a2;
    bool out_twice;           /* GroupQueryAttention: the output's penalty once more */
    double penalty;           /* of the last forward, beyond the graph's */
} mha_priv;

static void mha_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static int64_t inner(const ck_shape *s)
{
    int64_t n = 1;
    for (int k = 0; k < s->ndim - 1; k++)
        n *= s->d[k]; /* a prefix of a checked shape */
    return n;
}

#define FAIL(code, ...) ck_error(code, "%s '%s': " __VA_ARGS__)
#define WHO l->vt->class_name, l->name

extern const ck_layer_vt ck_group_query_attention_vt;

static ckeras_status mha_build(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    bool gqa = l->vt == &ck_group_query_attention_vt;
    if (nin < 2 || nin > 4)
        return FAIL(CKERAS_ESHAPE, "takes query, value, key (optional) and attention mask (optional), got %d "
                    "inputs", WHO, nin);
    if (ck_cfg_bool(&l->cfg, "return_attention_scores"))
        return FAIL(CKERAS_EUNSUPPORTED, "return_attention_scores=True (a second output) is not supported yet", WHO);
    const ck_value *nh = ck_cfg_value(&l->cfg, gqa ? "num_query_heads" : "num_heads");
    const ck_value *kd = ck_cfg_value(&l->cfg, gqa ? "head_dim" : "key_dim");
    const ck_value *ng = gqa ? ck_cfg_value(&l->cfg, "num_key_value_heads") : nh;
    if (nh->is_none || kd->is_none || ng->is_none)
        return FAIL(CKERAS_EINVAL, "%s are required", WHO,
                    gqa ? "head_dim, num_query_heads and num_key_value_heads" : "num_heads and key_dim");
    if (nh->i % ng->i != 0)
        return FAIL(CKERAS_EINVAL, "num_query_heads (%lld) must be a multiple of num_key_value_heads (%lld)", WHO,
                    (long long)nh->i, (long long)ng->i);
    const ck_shape *q = &ins[0], *v = &ins[1], *k = nin > 2 ? &ins[2] : &ins[1];
    int r = q->ndim;
    if (gqa && (r != 2 || q->d[1] != v->d[1]))
        return FAIL(CKERAS_ESHAPE, "query and value must be (positions, features) with the same features", WHO);
    if (r < 2 || v->ndim != r || k->ndim != r)
        return FAIL(CKERAS_ESHAPE, "query, value and key need the same rank, at least 2 per sample (positions, "
                    "features); got %d, %d, %d", WHO, q->ndim, v->ndim, k->ndim);
    for (int a = 0; a < r - 1; a++)
        if (v->d[a] != k->d[a])
            return FAIL(CKERAS_ESHAPE, "value and key differ on axis %d (%lld, %lld): all but the last must be "
                        "equal", WHO, a + 1, (long long)v->d[a], (long long)k->d[a]);
    const ck_value *axes = ck_cfg_value(&l->cfg, "attention_axes");
    if (!gqa && !axes->is_none) {
        bool dflt = axes->n == r - 1;
        for (int a = 0; dflt && a < axes->n; a++)
            dflt = axes->v[a] == a + 1;
        if (!dflt)
            return FAIL(CKERAS_EUNSUPPORTED, "attention_axes other than the default (every axis between the batch "
                        "and the features, 1..%d here) are not supported yet", WHO, r - 1);
    }
    mha_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    memset(p, 0, sizeof *p);
    const ck_value *vd = gqa ? kd : ck_cfg_value(&l->cfg, "value_dim");
    p->H = nh->i;
    p->Hkv = ng->i;
    p->dk = kd->i;
    p->dv = vd->is_none || vd->i == 0 ? kd->i : vd->i;
    p->Dq = q->d[r - 1];
    p->Dv = v->d[r - 1];
    p->Dk = k->d[r - 1];
    p->T = inner(q);
    p->S = inner(v);
    p->key = nin > 2;
    p->mask = nin > 3;
    p->causal = ck_cfg_bool(&l->cfg, "use_causal_mask");
    p->rate = (float)ck_cfg_float(&l->cfg, "dropout");
    p->scale = (float)(1.0 / sqrt((double)p->dk));
    p->bias = ck_cfg_bool(&l->cfg, "use_bias");
    if (p->causal && r != 2)
        return FAIL(CKERAS_EUNSUPPORTED, "use_causal_mask needs query and value of rank 2 per sample (positions, "
                    "features), got %d", WHO, r);
    if (p->mask) {
        const ck_shape *m = &ins[3];
        bool ok = m->ndim == 2 * (r - 1);
        for (int a = 0; ok && a < r - 1; a++)
            ok = m->d[a] == q->d[a] && m->d[r - 1 + a] == v->d[a];
        if (!ok) {
            char a[96];
            return FAIL(CKERAS_ESHAPE, "the attention mask has shape %s; it must be the query's positions then the "
                        "value's", WHO, ck_shape_str(m, false, a, sizeof a));
        }
    }
    ckeras_status st;
    if ((st = ck_init_check(ck_cfg_str(&l->cfg, "kernel_initializer"))) != CKERAS_OK ||
        (st = ck_init_check(ck_cfg_str(&l->cfg, "bias_initializer"))) != CKERAS_OK) {
        ck_error_prefix("%s '%s'", WHO);
        return st;
    }
    static const ck_value none = {.is_none = true};
    const ck_value *os = gqa ? &none : ck_cfg_value(&l->cfg, "output_shape");
    *out = *q;
    ck_shape okern = {2, {p->H, p->dv}}, obias = {0, {0}};
    if (!os->is_none && os->n > 0) {
        if (r - 1 + os->n > CKERAS_MAX_DIMS || 2 + os->n > CKERAS_MAX_DIMS)
            return FAIL(CKERAS_EUNSUPPORTED, "output_shape has too many axes", WHO);
        out->ndim = r - 1;
        p->Do = 1;
        for (int a = 0; a < os->n; a++) {
            if (os->v[a] <= 0)
                return FAIL(CKERAS_EINVAL, "output_shape entries must be positive", WHO);
            out->d[out->ndim++] = os->v[a];
            okern.d[okern.ndim++] = os->v[a];
            obias.d[obias.ndim++] = os->v[a];
            p->Do = ck_size_mul(p->Do, os->v[a]);
        }
    } else {
        p->Do = p->Dq;
        okern.d[okern.ndim++] = p->Dq;
        obias.d[obias.ndim++] = p->Dq;
    }
    static const char *const names[4][2] = {{"query/kernel", "query/bias"},
                                            {"key/kernel", "key/bias"},
                                            {"value/kernel", "value/bias"},
                                            {"attention_output/kernel", "attention_output/bias"}};
    const ck_shape kern[4] = {{3, {p->Dq, p->H, p->dk}}, {3, {p->Dk, p->Hkv, p->dk}}, {3, {p->Dv, p->Hkv, p->dv}},
                              okern};
    const ck_shape bias[4] = {{2, {p->H, p->dk}}, {2, {p->Hkv, p->dk}}, {2, {p->Hkv, p->dv}}, obias};
    int *idx[4] = {&p->wq, &p->wk, &p->wv, &p->wo};
    for (int j = 0; j < 4; j++) {
        *idx[j] = l->nw;
        ck_layer_add_weight(l, names[j][0], &kern[j], true, "kernel_initializer", NULL);
        if (p->bias)
            ck_layer_add_weight(l, names[j][1], &bias[j], true, "bias_initializer", NULL);
    }
    p->out_twice = gqa;
    p->penalty = 0.0;
    st = ck_regularizer_parse(ck_cfg_str(&l->cfg, "activity_regularizer"), &p->a1, &p->a2);
    if (st != CKERAS_OK)
        ck_error_prefix("%s '%s': activity_regularizer", WHO);
    return st;
}

/* saved: q (n,T,H,dk), k (n,S,Hkv,dk), v (n,S,Hkv,dv), P (n,H,T,S), dropped P (same, with
 * dropout), O (n,T,H,dv) */
typedef struct mha_bufs {
    float *q, *k, *v, *P, *Pd, *O;
} mha_bufs;

static int64_t mha_saved(const ckeras_layer *l, int64_t n)
{
    const mha_priv *p = l->priv;
    int64_t hts = p->H * p->T * p->S;
    return n * (p->T * p->H * p->dk + p->S * p->Hkv * (p->dk + p->dv) + hts * (p->rate > 0 ? 2 : 1) +
                p->T * p->H * p->dv);
}

/* work (backward): dO (n,T,H,dv), dq, dk, dv like q, k, v, dP (T,S) */
static int64_t mha_work(const ckeras_layer *l, int64_t n)
{
    const mha_priv *p = l->priv;
    return n * (p->T * p->H * (p->dv + p->dk) + p->S * p->Hkv * (p->dk + p->dv)) + p->T * p->S;
}

static mha_bufs mha_layout(const mha_priv *p, int64_t n, float *saved)
{
    mha_bufs b;
    int64_t hts = n * p->H * p->T * p->S;
    b.q = saved;
    b.k = b.q + n * p->T * p->H * p->dk;
    b.v = b.k + n * p->S * p->Hkv * p->dk;
    b.P = b.v + n * p->S * p->Hkv * p->dv;
    b.Pd = p->rate > 0 ? b.P + hts : b.P;
    b.O = b.Pd + hts;
    return b;
}

static const float *wbias(const ckeras_layer *l, const mha_priv *p, int w)
{
    return p->bias ? l->w[w + 1].data : NULL;
}

/* y (rows, out) = x (rows, in) . W (in, out) [+ b] */
static void project(const float *x, int64_t rows, int64_t in, const float *W, const float *b, int64_t out, float *y)
{
    ck_gemm(false, false, rows, out, in, 1.0f, x, in, W, out, 0.0f, y, out);
    if (b)
        ck_add_bias(y, b, rows, out);
}

static void mha_forward(ckeras_layer *l, const ck_fwd *f)
{
    const mha_priv *p = l->priv;
    int64_t n = f->n, T = p->T, S = p->S, H = p->H, G = p->Hkv, R = p->H / p->Hkv, dk = p->dk, dv = p->dv;
    mha_bufs s = mha_layout(p, n, f->saved);
    const float *xq = f->xs[0], *xv = f->xs[1], *xk = p->key ? f->xs[2] : f->xs[1];
    const float *mask = p->mask ? f->xs[3] : NULL;
    /* Keras' masks of query (its rows), value and key (their columns) */
    const float *qm = f->masks ? f->masks[0] : f->mask, *vm = f->masks ? f->masks[1] : NULL;
    const float *km = f->masks && p->key ? f->masks[2] : NULL;
    project(xq, n * T, p->Dq, l->w[p->wq].data, wbias(l, p, p->wq), H * dk, s.q);
    project(xk, n * S, p->Dk, l->w[p->wk].data, wbias(l, p, p->wk), G * dk, s.k);
    project(xv, n * S, p->Dv, l->w[p->wv].data, wbias(l, p, p->wv), G * dv, s.v);
    bool drop = p->rate > 0 && f->training && f->rng;
    for (int64_t b = 0; b < n; b++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / R; /* the key and value head of query head h */
            float *P = s.P + (b * H + h) * T * S, *Pd = s.Pd + (b * H + h) * T * S;
            const float *qbh = s.q + b * T * H * dk + h * dk, *kbg = s.k + b * S * G * dk + g * dk;
            /* scores (T, S) = q_bh (T, dk) . k_bg^T, then the masked softmax of scale * scores */
            ck_gemm(false, true, T, S, dk, 1.0f, qbh, H * dk, kbg, G * dk, 0.0f, P, S);
            ck_attn_softmax(P, T, S, mask ? mask + b * T * S : NULL, qm ? qm + b * T : NULL, vm ? vm + b * S : NULL,
                            km ? km + b * S : NULL, p->causal, p->scale);
            if (p->rate > 0) {
                if (drop)
                    ck_attn_dropout(P, Pd, T * S, p->rate, f->rng);
                else
                    memcpy(Pd, P, (size_t)(T * S) * sizeof(float));
            }
            /* O_bh (T, dv) = P (T, S) . v_bg (S, dv) */
            ck_gemm(false, false, T, dv, S, 1.0f, Pd, S, s.v + b * S * G * dv + g * dv, G * dv, 0.0f,
                    s.O + b * T * H * dv + h * dv, H * dv);
        }
    project(s.O, n * T, H * dv, l->w[p->wo].data, wbias(l, p, p->wo), p->Do, f->y);
    mha_priv *pp = l->priv;
    if (p->a1 != 0.0f || p->a2 != 0.0f) /* the projections' penalties (the output's: the graph) */
        pp->penalty = ck_l1l2_penalty(s.q, n * T * H * dk, p->a1, p->a2) +
                      ck_l1l2_penalty(s.k, n * S * G * dk, p->a1, p->a2) +
                      ck_l1l2_penalty(s.v, n * S * G * dv, p->a1, p->a2) +
                      (p->out_twice ? ck_l1l2_penalty(f->y, n * T * p->Do, p->a1, p->a2) : 0.0);
}

static double mha_added_loss(const ckeras_layer *l)
{
    const mha_priv *p = l->priv;
    return p ? p->penalty : 0.0;
}

/* The backward of project: dW = x^T dy, db = column sums, dx (+)= dy W^T (beta 1: add). */
static void project_backward(const ckeras_layer *l, const mha_priv *p, int w, bool train, const float *x,
                             int64_t rows, int64_t in, const float *dy, int64_t out, float *dx, float beta)
{
    if (train && l->w[w].grad) {
        ck_gemm(true, false, in, out, rows, 1.0f, x, in, dy, out, 0.0f, l->w[w].grad, out);
        if (p->bias && l->w[w + 1].grad)
            ck_bias_grad(dy, l->w[w + 1].grad, rows, out);
    }
    if (dx)
        ck_gemm(false, true, rows, in, out, 1.0f, dy, out, l->w[w].data, out, beta, dx, in);
}

static void mha_backward(ckeras_layer *l, const ck_bwd *b)
{
    const mha_priv *p = l->priv;
    int64_t n = b->n, T = p->T, S = p->S, H = p->H, G = p->Hkv, R = p->H / p->Hkv, dk = p->dk, dv = p->dv;
    mha_bufs s = mha_layout(p, n, b->saved);
    float *dO = b->work, *dq = dO + n * T * H * dv, *dK = dq + n * T * H * dk, *dV = dK + n * S * G * dk;
    float *dP = dV + n * S * G * dv;
    bool train = b->train_weights;
    const float *xq = b->xs[0], *xv = b->xs[1], *xk = p->key ? b->xs[2] : b->xs[1];
    const bool act = p->a1 != 0.0f || p->a2 != 0.0f;
    if (act && p->out_twice)
        ck_l1l2_grad_add(b->dy, b->y, n * T * p->Do, p->a1, p->a2);
    project_backward(l, p, p->wo, train, s.O, n * T, H * dv, b->dy, p->Do, dO, 0.0f);
    for (int64_t bb = 0; bb < n; bb++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / R;
            float beta = h % R == 0 ? 0.0f : 1.0f; /* the query heads of one key head add up */
            const float *P = s.P + (bb * H + h) * T * S, *Pd = s.Pd + (bb * H + h) * T * S;
            const float *dObh = dO + bb * T * H * dv + h * dv;
            const float *qbh = s.q + bb * T * H * dk + h * dk, *kbg = s.k + bb * S * G * dk + g * dk;
            const float *vbg = s.v + bb * S * G * dv + g * dv;
            /* dP (T, S) = dO_bh . v_bg^T; dv_bg (S, dv) (+)= Pd^T . dO_bh */
            ck_gemm(false, true, T, S, dv, 1.0f, dObh, H * dv, vbg, G * dv, 0.0f, dP, S);
            ck_gemm(true, false, S, dv, T, 1.0f, Pd, S, dObh, H * dv, beta, dV + bb * S * G * dv + g * dv, G * dv);
            if (p->rate > 0)
                ck_attn_dropout_backward(Pd, dP, T * S, p->rate);
            ck_attn_softmax_backward(P, dP, T, S, p->scale); /* dP: d scores, scaled */
            /* dq_bh (T, dk) = dS . k_bg; dk_bg (S, dk) (+)= dS^T . q_bh */
            ck_gemm(false, false, T, dk, S, 1.0f, dP, S, kbg, G * dk, 0.0f, dq + bb * T * H * dk + h * dk, H * dk);
            ck_gemm(true, false, S, dk, T, 1.0f, dP, S, qbh, H * dk, beta, dK + bb * S * G * dk + g * dk, G * dk);
        }
    if (act) { /* the projections' penalties */
        ck_l1l2_grad_add(dq, s.q, n * T * H * dk, p->a1, p->a2);
        ck_l1l2_grad_add(dK, s.k, n * S * G * dk, p->a1, p->a2);
        ck_l1l2_grad_add(dV, s.v, n * S * G * dv, p->a1, p->a2);
    }
    project_backward(l, p, p->wq, train, xq, n * T, p->Dq, dq, H * dk, b->dxs[0], 0.0f);
    project_backward(l, p, p->wv, train, xv, n * S, p->Dv, dV, G * dv, b->dxs[1], 0.0f);
    /* the key is the value when there is no key input: its gradient adds to the value's */
    project_backward(l, p, p->wk, train, xk, n * S, p->Dk, dK, G * dk, p->key ? b->dxs[2] : b->dxs[1],
                     p->key ? 0.0f : 1.0f);
    if (p->mask && b->dxs[3])
        memset(b->dxs[3], 0, (size_t)(n * T * S) * sizeof(float));
}

/* Keras 3's native format: each projection's kernel and bias under its sublayer
 * (MultiHeadAttention's query_dense, ...; GroupQueryAttention's _query_dense, ...) */
static const char *mha_var_path(const ckeras_layer *l, int k)
{
    const mha_priv *p = l->priv;
    if (!p)
        return NULL;
    static const char *const names[2][4] = {{"query_dense", "key_dense", "value_dense", "output_dense"},
                                            {"_query_dense", "_key_dense", "_value_dense", "_output_dense"}};
    const char *const *n = names[l->vt == &ck_group_query_attention_vt];
    return n[k < p->wk ? 0 : k < p->wv ? 1 : k < p->wo ? 2 : 3];
}

/* A Keras call's tensors (positional query, value, key; or by the keywords query=, value=, key=,
 * attention_mask=) in this layer's input order: query, value, key (the value when none), mask. */
static int mha_call_inputs(const ckeras_layer *l, const char *const *kw, int nin, int *map)
{
    static const char *const names[4] = {"query", "value", "key", "attention_mask"};
    int at[4] = {-1, -1, -1, -1}, npos = 0;
    for (int k = 0; k < nin; k++) {
        int slot = -1;
        if (!kw[k][0]) {
            slot = npos++; /* all positional: ckeras' own order (tf.keras 2 style files), mask 4th */
        } else {
            for (int j = 0; j < 4 && slot < 0; j++)
                if (strcmp(kw[k], names[j]) == 0)
                    slot = j;
            if (slot < 0)
                return ck_error(CKERAS_EUNSUPPORTED, "%s: call keyword '%s' with a tensor is not supported",
                                l->vt->class_name, kw[k]),
                       -1;
        }
        if (slot > 3 || at[slot] >= 0)
            return ck_error(CKERAS_EUNSUPPORTED, "%s: called with %s; it takes query, value, key and "
                            "attention_mask, each once", l->vt->class_name,
                            slot > 3 ? "more than 4 tensors" : names[slot]),
                   -1;
        at[slot] = k;
    }
    if (at[0] < 0 || at[1] < 0)
        return ck_error(CKERAS_EUNSUPPORTED, "%s: called without %s", l->vt->class_name,
                        at[0] < 0 ? "a query" : "a value"),
               -1;
    map[0] = at[0];
    map[1] = at[1];
    if (at[2] < 0 && at[3] < 0)
        return 2;
    map[2] = at[2] >= 0 ? at[2] : at[1]; /* key = value */
    if (at[3] < 0)
        return 3;
    map[3] = at[3];
    return 4;
}

/* How Keras 3 writes the call: query, value, key as separate arguments, the mask as keyword. */
static const char *mha_call_kwarg(const ckeras_layer *l, int nin, int *nargs)
{
    (void)l;
    *nargs = nin > 3 ? 3 : nin;
    return nin > 3 ? "attention_mask" : NULL;
}

static const char *const mha_call_fields[] = {"use_causal_mask", "return_attention_scores", NULL};
static const char *const mha_call_args[] = {"query", "value", "key", NULL};

const ck_layer_vt ck_multi_head_attention_vt = {
    .class_name = "MultiHeadAttention",
    .base_name = "multi_head_attention",
    .fields = mha_fields,
    .nfields = sizeof mha_fields / sizeof mha_fields[0],
    .build_multi = mha_build,
    .saved_floats = mha_saved,
    .added_loss = mha_added_loss,
    .work_floats = mha_work,
    .forward = mha_forward,
    .backward = mha_backward,
    .free_priv = mha_free,
    .keras3_var_path = mha_var_path,
    .mask_mode = ck_mask_pass,
    .call_inputs = mha_call_inputs,
    .call_kwarg = mha_call_kwarg,
    .call_fields = mha_call_fields,
    .call_args = mha_call_args,
};

/* ---- GroupQueryAttention ------------------------------------------------------------------------
 * Keras 3's GroupedQueryAttention (exported, and named in .keras files, as GroupQueryAttention):
 * MultiHeadAttention with
 * num_query_heads query heads sharing num_key_value_heads key and value heads (query head h uses
 * key head h / (num_query_heads / num_key_value_heads)), all of size head_dim, on (positions,
 * features) inputs whose query and value have the same features; the output has them too. */

static const ck_field gqa_fields[] = {
    {"head_dim", CK_INT, NULL, "(0,)", "size of each head"},
    {"num_query_heads", CK_INT, NULL, "(0,)", "number of query heads"},
    {"num_key_value_heads", CK_INT, NULL, "(0,)", "number of key and value heads (divides num_query_heads)"},
    {"use_bias", CK_BOOL, "true", NULL, "whether the projections have biases"},
    {"dropout", CK_FLOAT, "0", "[0,1)", "dropout rate of the attention weights (training only)"},
    CK_PROJECTION_FIELDS,
};

const ck_layer_vt ck_group_query_attention_vt = {
    .class_name = "GroupedQueryAttention",
    .base_name = "grouped_query_attention",
    .fields = gqa_fields,
    .nfields = sizeof gqa_fields / sizeof gqa_fields[0],
    .build_multi = mha_build,
    .saved_floats = mha_saved,
    .added_loss = mha_added_loss,
    .work_floats = mha_work,
    .forward = mha_forward,
    .backward = mha_backward,
    .free_priv = mha_free,
    .keras3_var_path = mha_var_path,
    .mask_mode = ck_mask_pass,
    .call_inputs = mha_call_inputs,
    .call_kwarg = mha_call_kwarg,
    .call_fields = mha_call_fields,
    .call_args = mha_call_args,
};

/* ---- Attention, AdditiveAttention ------------------------------------------------------------------
 * Keras' Attention([query, value(, key)]): scores (Tq, Tv) = query . key^T (times the weight
 * "scale" with use_scale), or with score_mode "concat" concat_score_weight * sum over features of
 * tanh(scale * (query_t + key_s)); AdditiveAttention: sum over features of scale * tanh(query_t +
 * key_s) ("scale" (dim) with use_scale). Then softmax over the value positions (use_causal_mask:
 * position t sees positions <= t only), dropout in training, times value. A Keras mask on the
 * query zeroes the output rows it masks and passes on. Inputs (positions, features). */

static const ck_field luong_fields[] = {
    {"use_scale", CK_BOOL, "false", NULL, "whether the scores have a trainable scale"},
    {"score_mode", CK_STR, "dot", "dot|concat", "dot: query . key; concat: tanh of their sum"},
    {"dropout", CK_FLOAT, "0", "[0,1)", "dropout rate of the attention weights (training only)"},
    {"use_causal_mask", CK_BOOL, "false", NULL, "Keras' call keyword: position t attends to positions <= t only",
     CK_W_NEVER},
    {"return_attention_scores", CK_BOOL, "false", NULL, "Keras' call keyword: also return the attention weights "
     "(not supported yet)", CK_W_NEVER},
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

static const ck_field additive_fields[] = {
    {"use_scale", CK_BOOL, "true", NULL, "whether the scores have a trainable scale per feature"},
    {"dropout", CK_FLOAT, "0", "[0,1)", "dropout rate of the attention weights (training only)"},
    {"use_causal_mask", CK_BOOL, "false", NULL, "Keras' call keyword: position t attends to positions <= t only",
     CK_W_NEVER},
    {"return_attention_scores", CK_BOOL, "false", NULL, "Keras' call keyword: also return the attention weights "
     "(not supported yet)", CK_W_NEVER},
    {"input_shape", CK_INTS, NULL, NULL, "unused", CK_W_NEVER},
};

extern const ck_layer_vt ck_attention_vt, ck_additive_attention_vt;

enum { SCORE_DOT, SCORE_CONCAT, SCORE_ADDITIVE };

typedef struct att_priv {
    int kind;
    bool key, causal;
    int ws, wc;              /* weight indices of scale and concat_score_weight, -1: none */
    int64_t tq, tv, d, dv;   /* positions of query, value; features of query (and key), of value */
    float rate;
} att_priv;

static ckeras_status att_build(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    if (nin < 2 || nin > 3)
        return FAIL(CKERAS_ESHAPE, "takes [query, value] or [query, value, key], got %d inputs", WHO, nin);
    if (ck_cfg_bool(&l->cfg, "return_attention_scores"))
        return FAIL(CKERAS_EUNSUPPORTED, "return_attention_scores=True (a second output) is not supported yet", WHO);
    const ck_shape *q = &ins[0], *v = &ins[1], *k = nin > 2 ? &ins[2] : &ins[1];
    if (q->ndim != 2 || v->ndim != 2 || k->ndim != 2)
        return FAIL(CKERAS_ESHAPE, "query, value and key must be (positions, features) per sample; got ranks %d, %d, "
                    "%d", WHO, q->ndim, v->ndim, k->ndim);
    if (k->d[0] != v->d[0] || k->d[1] != q->d[1])
        return FAIL(CKERAS_ESHAPE, "key (%lld, %lld) needs the value's positions (%lld) and the query's features "
                    "(%lld)", WHO, (long long)k->d[0], (long long)k->d[1], (long long)v->d[0], (long long)q->d[1]);
    att_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    memset(p, 0, sizeof *p);
    bool additive = l->vt == &ck_additive_attention_vt;
    p->kind = additive ? SCORE_ADDITIVE : strcmp(ck_cfg_str(&l->cfg, "score_mode"), "concat") == 0 ? SCORE_CONCAT
                                                                                                  : SCORE_DOT;
    p->key = nin > 2;
    p->causal = ck_cfg_bool(&l->cfg, "use_causal_mask");
    p->rate = (float)ck_cfg_float(&l->cfg, "dropout");
    p->tq = q->d[0];
    p->tv = v->d[0];
    p->d = q->d[1];
    p->dv = v->d[1];
    p->ws = p->wc = -1;
    if (ck_cfg_bool(&l->cfg, "use_scale")) {
        ck_shape s = additive ? (ck_shape){1, {p->d}} : (ck_shape){0, {0}};
        p->ws = l->nw;
        ck_layer_add_weight(l, "scale", &s, true, NULL, additive ? "glorot_uniform" : "ones");
    }
    if (p->kind == SCORE_CONCAT) {
        ck_shape s = {0, {0}};
        p->wc = l->nw;
        ck_layer_add_weight(l, "concat_score_weight", &s, true, NULL, "ones");
    }
    out->ndim = 2;
    out->d[0] = p->tq;
    out->d[1] = p->dv;
    return CKERAS_OK;
}

/* saved: P (n, tq, tv), dropped P (same, with dropout), th (n, tq, tv, d) for additive scores */
static int64_t att_saved(const ckeras_layer *l, int64_t n)
{
    const att_priv *p = l->priv;
    int64_t pts = n * p->tq * p->tv;
    return pts * (p->rate > 0 ? 2 : 1) + (p->kind == SCORE_DOT ? 0 : pts * p->d);
}

/* work (backward): dP (tq, tv), dq (tq, d), dk (tv, d) of one sample; the scale's gradient (d) */
static int64_t att_work(const ckeras_layer *l, int64_t n)
{
    const att_priv *p = l->priv;
    (void)n;
    return p->tq * p->tv + (p->tq + p->tv + 1) * p->d;
}

static float wval(const ckeras_layer *l, int w)
{
    return w >= 0 ? l->w[w].data[0] : 1.0f;
}

static void att_forward(ckeras_layer *l, const ck_fwd *f)
{
    const att_priv *p = l->priv;
    int64_t tq = p->tq, tv = p->tv, d = p->d, dv = p->dv, pts = tq * tv;
    float *P = f->saved, *Pd = p->rate > 0 ? P + f->n * pts : P, *th = Pd + f->n * pts;
    bool drop = p->rate > 0 && f->training && f->rng;
    const float *vm = f->masks ? f->masks[1] : NULL; /* Keras' mask of the value: its columns */
    for (int64_t b = 0; b < f->n; b++) {
        const float *q = f->xs[0] + b * tq * d, *v = f->xs[1] + b * tv * dv;
        const float *k = p->key ? f->xs[2] + b * tv * d : v;
        float *Pb = P + b * pts, *Pdb = Pd + b * pts;
        if (p->kind == SCORE_DOT) {
            ck_gemm(false, true, tq, tv, d, 1.0f, q, d, k, d, 0.0f, Pb, tv);
            ck_attn_softmax(Pb, tq, tv, NULL, NULL, vm ? vm + b * tv : NULL, NULL, p->causal, wval(l, p->ws));
        } else {
            bool add = p->kind == SCORE_ADDITIVE;
            ck_additive_scores(q, k, tq, tv, d, add ? 1.0f : wval(l, p->ws), add && p->ws >= 0 ? l->w[p->ws].data : NULL,
                               add ? 1.0f : wval(l, p->wc), th + b * pts * d, Pb);
            ck_attn_softmax(Pb, tq, tv, NULL, NULL, vm ? vm + b * tv : NULL, NULL, p->causal, 1.0f);
        }
        if (p->rate > 0) {
            if (drop)
                ck_attn_dropout(Pb, Pdb, pts, p->rate, f->rng);
            else
                memcpy(Pdb, Pb, (size_t)pts * sizeof(float));
        }
        float *y = f->y + b * tq * dv; /* (tq, dv) = P . value */
        ck_gemm(false, false, tq, dv, tv, 1.0f, Pdb, tv, v, dv, 0.0f, y, dv);
        if (f->mask) /* the query's mask zeroes its masked rows */
            for (int64_t t = 0; t < tq; t++)
                if (f->mask[b * tq + t] == 0.0f)
                    memset(y + t * dv, 0, (size_t)dv * sizeof(float));
    }
}

static void att_backward(ckeras_layer *l, const ck_bwd *bw)
{
    const att_priv *p = l->priv;
    int64_t tq = p->tq, tv = p->tv, d = p->d, dv = p->dv, pts = tq * tv;
    const float *P = bw->saved, *Pd = p->rate > 0 ? P + bw->n * pts : P, *th = Pd + bw->n * pts;
    float *dP = bw->work, *dq = dP + pts, *dk = dq + tq * d, *dw = dk + tv * d;
    bool train = bw->train_weights;
    bool add = p->kind == SCORE_ADDITIVE;
    float a = add ? 1.0f : wval(l, p->ws), c = add ? 1.0f : wval(l, p->wc);
    const float *w = add && p->ws >= 0 ? l->w[p->ws].data : NULL;
    double da = 0, dc = 0;
    if (w)
        memset(dw, 0, (size_t)d * sizeof(float));
    float *dxq = bw->dxs[0], *dxv = bw->dxs[1], *dxk = p->key ? bw->dxs[2] : bw->dxs[1];
    for (int64_t b = 0; b < bw->n; b++) {
        const float *q = bw->xs[0] + b * tq * d, *v = bw->xs[1] + b * tv * dv;
        const float *k = p->key ? bw->xs[2] + b * tv * d : v;
        float *dy = bw->dy + b * tq * dv;
        if (bw->mask)
            for (int64_t t = 0; t < tq; t++)
                if (bw->mask[b * tq + t] == 0.0f)
                    memset(dy + t * dv, 0, (size_t)dv * sizeof(float));
        /* dP (tq, tv) = dy . value^T; dvalue (tv, dv) = Pd^T . dy */
        ck_gemm(false, true, tq, tv, dv, 1.0f, dy, dv, v, dv, 0.0f, dP, tv);
        if (dxv)
            ck_gemm(true, false, tv, dv, tq, 1.0f, Pd + b * pts, tv, dy, dv, 0.0f, dxv + b * tv * dv, dv);
        if (p->rate > 0)
            ck_attn_dropout_backward(Pd + b * pts, dP, pts, p->rate);
        if (p->kind == SCORE_DOT) {
            ck_attn_softmax_backward(P + b * pts, dP, tq, tv, 1.0f); /* d (a q k^T) */
            /* dq = a dS . k; dk = a dS^T . q; d a = sum(dS . k * q) */
            ck_gemm(false, false, tq, d, tv, 1.0f, dP, tv, k, d, 0.0f, dq, d);
            for (int64_t i = 0; p->ws >= 0 && i < tq * d; i++)
                da += (double)dq[i] * q[i];
            for (int64_t i = 0; i < tq * d; i++)
                dq[i] *= a;
            ck_gemm(true, false, tv, d, tq, a, dP, tv, q, d, 0.0f, dk, d);
        } else {
            ck_attn_softmax_backward(P + b * pts, dP, tq, tv, 1.0f);
            ck_additive_scores_backward(q, k, th + b * pts * d, dP, tq, tv, d, a, w, c, dq, dk, w ? dw : NULL,
                                        add || p->ws < 0 ? NULL : &da, add ? NULL : &dc);
        }
        if (dxq)
            memcpy(dxq + b * tq * d, dq, (size_t)(tq * d) * sizeof(float));
        if (dxk) {
            float *o = dxk + b * tv * d;
            if (p->key)
                memcpy(o, dk, (size_t)(tv * d) * sizeof(float));
            else
                for (int64_t i = 0; i < tv * d; i++)
                    o[i] += dk[i];
        }
    }
    if (train && p->ws >= 0 && l->w[p->ws].grad) {
        if (w)
            memcpy(l->w[p->ws].grad, dw, (size_t)d * sizeof(float));
        else
            l->w[p->ws].grad[0] = (float)da;
    }
    if (train && p->wc >= 0 && l->w[p->wc].grad)
        l->w[p->wc].grad[0] = (float)dc;
}

static const char *const att_call_fields[] = {"use_causal_mask", "return_attention_scores", NULL};

const ck_layer_vt ck_attention_vt = {
    .class_name = "Attention",
    .base_name = "attention",
    .fields = luong_fields,
    .nfields = sizeof luong_fields / sizeof luong_fields[0],
    .build_multi = att_build,
    .saved_floats = att_saved,
    .work_floats = att_work,
    .forward = att_forward,
    .backward = att_backward,
    .free_priv = mha_free,
    .mask_mode = ck_mask_pass,
    .call_fields = att_call_fields,
};

const ck_layer_vt ck_additive_attention_vt = {
    .class_name = "AdditiveAttention",
    .base_name = "additive_attention",
    .fields = additive_fields,
    .nfields = sizeof additive_fields / sizeof additive_fields[0],
    .build_multi = att_build,
    .saved_floats = att_saved,
    .work_floats = att_work,
    .forward = att_forward,
    .backward = att_backward,
    .free_priv = mha_free,
    .mask_mode = ck_mask_pass,
    .call_fields = att_call_fields,
};
