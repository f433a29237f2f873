/* ConvLSTM2D, ConvLSTM1D and ConvLSTM3D, channels last: an LSTM whose input and recurrent products are
 * convolutions (src/kernels/conv_lstm.c). Inputs (batch, T, h, w, c) (1D: (batch, T, steps, c));
 * outputs (oh, ow, filters) per step; weights Keras' kernel (kh, kw, c, 4F), recurrent_kernel
 * (kh, kw, F, 4F), bias (4F), gates i, f, c, o, all in Keras 3's "cell" object.
 *
 * return_state=True gives [output, h, c] packed per sample (ckeras_layer.nout, take.c).
 * Not supported (CKERAS_EUNSUPPORTED at build): data_format channels_first, dropout and
 * recurrent_dropout other than 0, stateful=True, initial states; a mask is not applied (ConvLSTM
 * inputs rarely carry one; the mask is dropped). unroll changes nothing in the numbers. ConvLSTM3D: inputs (batch, T, d, h, w, c), kernels (kd, kh, kw, ., 4F).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CONV_LSTM_FIELDS(ks, ones)                                                                           \
    {"filters", CK_INT, NULL, "(0,)", "number of output channels (and of the states)"},                    \
    {"kernel_size", CK_INTS, NULL, "(0,)", "window " ks ", or one int for all"},                            \
    {"strides", CK_INTS, ones, "(0,)", "strides of the input convolution"},                                  \
    {"padding", CK_STR, "valid", NULL, "valid or same (input convolution; the recurrent one is same)"},     \
    {"data_format", CK_STR, "channels_last", NULL, "only channels_last"},                                    \
    {"dilation_rate", CK_INTS, ones, "(0,)", "dilation of the input convolution"},                           \
    {"activation", CK_STR, "tanh", NULL, "activation of the candidate and of the cell output"},            \
    {"recurrent_activation", CK_STR, "sigmoid", NULL, "activation of the gates"},                          \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add biases"},                                          \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "initializer of the input kernel"},             \
    {"recurrent_initializer", CK_STR, "orthogonal", NULL, "initializer of the recurrent kernel"},          \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},                                       \
    {"unit_forget_bias", CK_BOOL, "true", NULL, "forget-gate bias starts at 1 (with a zeros bias initializer)"}, \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                               \
    {"recurrent_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the recurrent kernel"},                  \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                                   \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},          \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},                     \
    {"recurrent_constraint", CK_STR, NULL, NULL, "constraint on recurrent after each update"},               \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                         \
    {"dropout", CK_FLOAT, "0", "[0,1]", "input dropout rate (only 0 is supported yet)"},                      \
    {"recurrent_dropout", CK_FLOAT, "0", "[0,1]", "recurrent dropout rate (only 0 is supported yet)"},        \
    {"seed", CK_INT, NULL, NULL, "seed of the dropout masks (Keras 3; accepted)", CK_W_NO_TF2 | CK_W_SET_ONLY}, \
    {"return_sequences", CK_BOOL, "false", NULL, "output every step (batch, T, ...), else the last"},       \
    {"return_state", CK_BOOL, "false", NULL, "also output the last states: [output, h, c]"},               \
    {"go_backwards", CK_BOOL, "false", NULL, "process the sequence in reverse order"},                     \
    {"stateful", CK_BOOL, "false", NULL, "not supported (must be false)"},                                 \
    {"unroll", CK_BOOL, "false", NULL, "accepted (no effect)"},                                             \
    {"zero_output_for_mask", CK_BOOL, "false", NULL, "accepted (masks are not applied)", CK_W_SET_ONLY},        \
    {"time_major", CK_BOOL, "false", NULL, "tf.keras 2 only; must be false", CK_W_NEVER},                    \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape (timesteps, ..., channels)", CK_W_NEVER},

static const ck_field conv_lstm2d_fields[] = {CONV_LSTM_FIELDS("(kh, kw)", "1,1")};
static const ck_field conv_lstm1d_fields[] = {CONV_LSTM_FIELDS("(k,)", "1")};
static const ck_field conv_lstm3d_fields[] = {CONV_LSTM_FIELDS("(kd, kh, kw)", "1,1,1")};

typedef struct cl_priv {
    ck_convlstm r;
    int rank;
    bool seq, use_bias, forget_pending;
    int64_t S; /* state floats per sample (oh*ow*F) */
} cl_priv;

static ckeras_status cl_tuple(ckeras_layer *l, const char *name, int rank, int64_t *v)
{
    const ck_value *t = ck_cfg_value(&l->cfg, name);
    if (t->is_none || (t->n != 1 && t->n != rank))
        return ck_error(CKERAS_EINVAL, "%s '%s': %s must be %d positive int%s, got %s%d values", l->vt->class_name,
                        l->name, name, rank, rank > 1 ? "s (or one for all)" : "", t->is_none ? "None, " : "",
                        t->is_none ? 0 : t->n);
    for (int i = 0; i < rank; i++) {
        v[i] = t->v[t->n == 1 ? 0 : i];
        if (v[i] <= 0)
            return ck_error(CKERAS_EINVAL, "%s '%s': %s must be positive, got %lld", l->vt->class_name, l->name, name,
                            (long long)v[i]);
    }
    return ck_config_set_ints(&l->cfg, l->vt->class_name, name, rank, v);
}

static ckeras_status cl_parse_act(ckeras_layer *l, const char *field, ck_act *out)
{
    ckeras_status st = ck_act_parse(ck_cfg_str(&l->cfg, field), out);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, field);
        return st;
    }
    if (l->keras2 && out->kind == CK_ACT_HARD_SIGMOID)
        out->kind = CK_ACT_HARD_SIGMOID_K2;
    return CKERAS_OK;
}

static ckeras_status cl_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    const char *cls = l->vt->class_name;
    int rank = l->vt == &ck_conv_lstm1d_vt ? 1 : l->vt == &ck_conv_lstm3d_vt ? 3 : 2;
    const ck_value *fv = ck_cfg_value(&l->cfg, "filters");
    if (fv->is_none || fv->i <= 0)
        return ck_error(CKERAS_EINVAL, "%s '%s': filters must be a positive integer, got %lld", cls, l->name,
                        fv->is_none ? 0LL : (long long)fv->i);
    if (fv->i > CKERAS_MAX_SIZE_LIMIT / 4)
        return ck_error(CKERAS_ESHAPE, "%s '%s': filters = %lld is too large", cls, l->name, (long long)fv->i);
    int64_t k[3], s[3], d[3];
    ckeras_status st;
    if ((st = cl_tuple(l, "kernel_size", rank, k)) != CKERAS_OK || (st = cl_tuple(l, "strides", rank, s)) != CKERAS_OK ||
        (st = cl_tuple(l, "dilation_rate", rank, d)) != CKERAS_OK)
        return st;
    const char *pad = ck_cfg_str(&l->cfg, "padding");
    ck_pad_mode mode;
    if (pad && strcasecmp(pad, "valid") == 0)
        mode = CK_PAD_VALID;
    else if (pad && strcasecmp(pad, "same") == 0)
        mode = CK_PAD_SAME;
    else
        return ck_error(CKERAS_EINVAL, "%s '%s': padding must be 'valid' or 'same', got '%s'", cls, l->name,
                        pad ? pad : "None");
    const char *df = ck_cfg_str(&l->cfg, "data_format");
    if (df && strcmp(df, "channels_last") != 0)
        return ck_error(strcmp(df, "channels_first") == 0 ? CKERAS_EUNSUPPORTED : CKERAS_EINVAL,
                        "%s '%s': data_format '%s' is not supported (only channels_last)", cls, l->name, df);
    if (ck_cfg_float(&l->cfg, "dropout") != 0.0 || ck_cfg_float(&l->cfg, "recurrent_dropout") != 0.0)
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': dropout=%g, recurrent_dropout=%g: only 0 is supported yet",
                        cls, l->name, ck_cfg_float(&l->cfg, "dropout"), ck_cfg_float(&l->cfg, "recurrent_dropout"));
    if (ck_cfg_bool(&l->cfg, "stateful"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': stateful=True is not supported (states are not carried "
                        "between batches)", cls, l->name);
    if (ck_cfg_bool(&l->cfg, "time_major"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': time_major=True is not supported", cls, l->name);
    if (in->ndim != rank + 2) {
        char buf[96];
        return ck_error(CKERAS_ESHAPE, "%s '%s': needs per-sample inputs of rank %d (timesteps, %s), got %s", cls,
                        l->name, rank + 2, rank == 3 ? "depth, height, width, channels"
                                           : rank == 2 ? "height, width, channels" : "steps, channels",
                        ck_shape_str(in, false, buf, sizeof buf));
    }
    if ((st = ck_layer_check_axes(l, in)) != CKERAS_OK)
        return st;
    cl_priv *p = ck_layer_priv(l, sizeof *p);
    if (!p)
        return CKERAS_ENOMEM;
    memset(p, 0, sizeof *p);
    ck_convlstm *r = &p->r;
    if ((st = cl_parse_act(l, "activation", &r->act)) != CKERAS_OK ||
        (st = cl_parse_act(l, "recurrent_activation", &r->ract)) != CKERAS_OK)
        return st;
    static const char *const inits[] = {"kernel_initializer", "recurrent_initializer", "bias_initializer"};
    for (int i = 0; i < 3; i++)
        if ((st = ck_init_check(ck_cfg_str(&l->cfg, inits[i]))) != CKERAS_OK) {
            ck_error_prefix("%s '%s'", cls, l->name);
            return st;
        }
    p->rank = rank;
    r->T = in->d[0];
    r->F = fv->i;
    ck_conv_geom *g = &r->gx;
    r->d = r->kd = r->sd = r->dd = r->od = 1;
    if (rank == 3) { /* the depth axis apart, (h, w) in gx */
        r->d = in->d[1], r->kd = k[0], r->sd = s[0], r->dd = d[0];
        if (!ck_conv_axis(mode, r->d, r->kd, r->sd, r->dd, &r->od, &r->pd) || r->od <= 0)
            return ck_error(CKERAS_ESHAPE, "%s '%s': the kernel (dilated) does not fit the input depth %lld with "
                            "padding '%s'", cls, l->name, (long long)r->d, pad);
        g->h = in->d[2], g->w = in->d[3], g->c = in->d[4];
        g->kh = k[1], g->kw = k[2], g->sh = s[1], g->sw = s[2], g->dh = d[1], g->dw = d[2];
    } else if (rank == 2) {
        g->h = in->d[1], g->w = in->d[2], g->c = in->d[3];
        g->kh = k[0], g->kw = k[1], g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1];
    } else {
        g->h = 1, g->w = in->d[1], g->c = in->d[2];
        g->kh = 1, g->kw = k[0], g->sh = 1, g->sw = s[0], g->dh = 1, g->dw = d[0];
    }
    if ((st = ck_conv_geom_fit(l, g, mode)) != CKERAS_OK)
        return st;
    if (g->oh <= 0 || g->ow <= 0)
        return ck_error(CKERAS_ESHAPE, "%s '%s': the kernel (dilated) is larger than the input with padding 'valid'",
                        cls, l->name);
    ck_conv_geom *gr = &r->gr;
    *gr = (ck_conv_geom){.h = g->oh, .w = g->ow, .c = r->F, .kh = g->kh, .kw = g->kw, .sh = 1, .sw = 1, .dh = 1,
                         .dw = 1};
    if ((st = ck_conv_geom_fit(l, gr, CK_PAD_SAME)) != CKERAS_OK)
        return st;
    int64_t od_same;
    if (!ck_conv_axis(CK_PAD_SAME, r->od, r->kd, 1, 1, &od_same, &r->rpd))
        return ck_error(CKERAS_ESHAPE, "%s '%s': kernel depth %lld is too large", cls, l->name, (long long)r->kd);
    /* the window and image sizes with the depth axis (ck_conv_geom_fit checked those without) */
    if (ck_size_mul(r->kd, ck_size_mul(g->kh * g->kw, g->c > r->F ? g->c : r->F)) > CKERAS_MAX_SIZE_LIMIT ||
        ck_size_mul(r->d, g->h * g->w * g->c) > CKERAS_MAX_SIZE_LIMIT)
        return ck_error(CKERAS_ESHAPE, "%s '%s': the window or the input is too large", cls, l->name);
    r->go_backwards = ck_cfg_bool(&l->cfg, "go_backwards");
    p->seq = ck_cfg_bool(&l->cfg, "return_sequences");
    p->use_bias = ck_cfg_bool(&l->cfg, "use_bias");
    p->S = ck_size_mul(r->od, ck_size_mul3(g->oh, g->ow, r->F));
    if (p->use_bias && ck_cfg_bool(&l->cfg, "unit_forget_bias")) {
        const char *bi = ck_cfg_str(&l->cfg, "bias_initializer");
        p->forget_pending = bi && (strcmp(bi, "zeros") == 0 || strcmp(bi, "Zeros") == 0 || strcmp(bi, "zero") == 0);
    }
    /* weights: Keras' shapes (kh, kw, c, 4F) / 1D (k, c, 4F) */
    int64_t F4 = ck_size_mul(4, r->F);
    ck_shape ks = rank == 3   ? (ck_shape){5, {r->kd, g->kh, g->kw, g->c, F4}}
                  : rank == 2 ? (ck_shape){4, {g->kh, g->kw, g->c, F4}}
                              : (ck_shape){3, {g->kw, g->c, F4}};
    ck_shape rs = rank == 3   ? (ck_shape){5, {r->kd, g->kh, g->kw, r->F, F4}}
                  : rank == 2 ? (ck_shape){4, {g->kh, g->kw, r->F, F4}}
                              : (ck_shape){3, {g->kw, r->F, F4}};
    ck_shape bs = {1, {F4}};
    if (!ck_layer_add_weight(l, "kernel", &ks, true, "kernel_initializer", NULL) ||
        !ck_layer_add_weight(l, "recurrent_kernel", &rs, true, "recurrent_initializer", NULL) ||
        (p->use_bias && !ck_layer_add_weight(l, "bias", &bs, true, "bias_initializer", NULL)))
        return CKERAS_ENOMEM; /* not reached: 3 weights */
    /* output (T, oh, ow, F) or (oh, ow, F); 1D without the oh axis */
    ck_shape st1 = rank == 3   ? (ck_shape){4, {r->od, g->oh, g->ow, r->F}}
                   : rank == 2 ? (ck_shape){3, {g->oh, g->ow, r->F}}
                               : (ck_shape){2, {g->ow, r->F}};
    *out = st1;
    if (p->seq) {
        out->ndim = st1.ndim + 1;
        out->d[0] = r->T;
        for (int i = 0; i < st1.ndim; i++)
            out->d[i + 1] = st1.d[i];
    }
    l->nout = 0;
    if (ck_cfg_bool(&l->cfg, "return_state")) {
        l->nout = 3;
        l->outs[0] = *out;
        l->outs[1] = l->outs[2] = st1;
        out->ndim = 1;
        out->d[0] = ck_size_add(ck_shape_size(&l->outs[0]), ck_size_mul(2, p->S));
    }
    return CKERAS_OK;
}

static int64_t cl_saved(const ckeras_layer *l, int64_t n)
{
    const cl_priv *p = l->priv;
    return ck_convlstm_saved_floats(&p->r, n);
}

/* work: the kernel's, then dhs (T, n, S), with return_state a last c's gradient (n, S) */
static int64_t cl_work(const ckeras_layer *l, int64_t n)
{
    const cl_priv *p = l->priv;
    int64_t w = ck_size_add(ck_convlstm_work_floats(&p->r, n), ck_size_mul3(p->r.T, n, p->S));
    return l->nout > 1 ? ck_size_add(w, ck_size_mul(n, p->S)) : w;
}

static void cl_bind(ckeras_layer *l, cl_priv *p, bool grads)
{
    ck_convlstm *r = &p->r;
    r->W = l->w[0].data;
    r->R = l->w[1].data;
    r->b = p->use_bias ? l->w[2].data : NULL;
    bool g = grads && l->w[0].grad;
    r->dW = g ? l->w[0].grad : NULL;
    r->dR = g ? l->w[1].grad : NULL;
    r->db = g && p->use_bias ? l->w[2].grad : NULL;
    r->dc_last = NULL;
}

static void cl_forward(ckeras_layer *l, const ck_fwd *f)
{
    cl_priv *p = l->priv;
    cl_bind(l, p, false);
    if (p->forget_pending) { /* Keras' unit_forget_bias on a bias still all zeros (as LSTM does) */
        p->forget_pending = false;
        float *b = l->w[2].data;
        bool zero = true;
        for (int64_t k = 0; k < 4 * p->r.F && zero; k++)
            zero = b[k] == 0.0f;
        for (int64_t k = p->r.F; zero && k < 2 * p->r.F; k++)
            b[k] = 1.0f;
    }
    const int64_t n = f->n, T = p->r.T, S = p->S;
    ck_convlstm_forward(&p->r, n, f->x, f->saved, f->work);
    const float *hs = ck_convlstm_states(&p->r, n, f->saved), *cs = ck_convlstm_cells(&p->r, n, f->saved);
    int64_t s0 = p->seq ? T * S : S, P = l->nout > 1 ? s0 + 2 * S : s0;
    for (int64_t i = 0; i < n; i++) {
        float *row = f->y + i * P;
        if (p->seq)
            for (int64_t s = 0; s < T; s++)
                memcpy(row + s * S, hs + (s + 1) * n * S + i * S, (size_t)S * sizeof(float));
        else
            memcpy(row, hs + T * n * S + i * S, (size_t)S * sizeof(float));
        if (l->nout > 1) {
            memcpy(row + s0, hs + T * n * S + i * S, (size_t)S * sizeof(float));
            memcpy(row + s0 + S, cs + T * n * S + i * S, (size_t)S * sizeof(float));
        }
    }
}

static void cl_backward(ckeras_layer *l, const ck_bwd *b)
{
    cl_priv *p = l->priv;
    cl_bind(l, p, b->train_weights);
    const int64_t n = b->n, T = p->r.T, S = p->S;
    float *dhs = b->work + ck_convlstm_work_floats(&p->r, n), *dcl = dhs + T * n * S;
    int64_t s0 = p->seq ? T * S : S, P = l->nout > 1 ? s0 + 2 * S : s0;
    memset(dhs, 0, (size_t)(T * n * S) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        const float *row = b->dy + i * P;
        float *last = dhs + (T - 1) * n * S + i * S;
        if (p->seq)
            for (int64_t s = 0; s < T; s++)
                memcpy(dhs + s * n * S + i * S, row + s * S, (size_t)S * sizeof(float));
        else
            memcpy(last, row, (size_t)S * sizeof(float));
        if (l->nout > 1) {
            for (int64_t k = 0; k < S; k++)
                last[k] += row[s0 + k];
            memcpy(dcl + i * S, row + s0 + S, (size_t)S * sizeof(float));
        }
    }
    p->r.dc_last = l->nout > 1 ? dcl : NULL;
    ck_convlstm_backward(&p->r, n, b->x, dhs, b->dx, b->saved, b->work);
    p->r.dc_last = NULL;
}

static void cl_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static const char *cl_var_path(const ckeras_layer *l, int k)
{
    (void)l;
    (void)k;
    return "cell";
}

#define CONV_LSTM_VT(sym, cls, base, flds)                                                                   \
    const ck_layer_vt sym = {                                                                                \
        .class_name = cls,                                                                                   \
        .base_name = base,                                                                                   \
        .fields = flds,                                                                                      \
        .nfields = sizeof flds / sizeof flds[0],                                                             \
        .build = cl_build,                                                                                   \
        .saved_floats = cl_saved,                                                                            \
        .work_floats = cl_work,                                                                              \
        .forward = cl_forward,                                                                               \
        .backward = cl_backward,                                                                             \
        .free_priv = cl_free,                                                                                \
        .keras3_var_path = cl_var_path,                                                                      \
    }

CONV_LSTM_VT(ck_conv_lstm2d_vt, "ConvLSTM2D", "conv_lstm2d", conv_lstm2d_fields);
CONV_LSTM_VT(ck_conv_lstm1d_vt, "ConvLSTM1D", "conv_lstm1d", conv_lstm1d_fields);
CONV_LSTM_VT(ck_conv_lstm3d_vt, "ConvLSTM3D", "conv_lstm3d", conv_lstm3d_fields);
