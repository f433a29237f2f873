/* Recurrent layers: SimpleRNN, LSTM, GRU and the Bidirectional wrapper. Inputs are (batch,
 * timesteps, features) (a mask skips steps as Keras does); weights are Keras' (kernel (F, G*U),
 * recurrent_kernel (U, G*U), bias (G*U), or (2, 3*U) for GRU with reset_after). The arithmetic
 * is in src/kernels/recurrent.c (ck_rnn_forward / ck_rnn_backward).
 *
 * return_state=True (SimpleRNN, LSTM, GRU) gives several outputs: the output, then the last h
 * (and c for an LSTM), packed one after the other per sample (ckeras_layer.nout, take.c).
 * A Bidirectional with return_state gives [output, forward states..., backward states...].
 * Not supported (CKERAS_EUNSUPPORTED at build): dropout and
 * recurrent_dropout other than 0, time_major, an activity_regularizer on the layer a Bidirectional
 * wraps (its regularizers and constraints apply to both directions' weights). stateful is
 * accepted and computed statelessly (every batch starts from zero states, as a single predict
 * after reset_states does). unroll and implementation change nothing in the numbers.
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <string.h>

#define RNN_HEAD                                                                                             \
    {"units", CK_INT, NULL, "(0,)", "dimensionality of the output (and of the state)"},                       \
    {"activation", CK_STR, "tanh", NULL, "activation of the output / candidate"},
#define RNN_RACT {"recurrent_activation", CK_STR, "sigmoid", NULL, "activation of the gates"},
#define RNN_INITS                                                                                            \
    {"use_bias", CK_BOOL, "true", NULL, "whether to add biases"},                                          \
    {"kernel_initializer", CK_STR, "glorot_uniform", NULL, "initializer of the input kernel"},             \
    {"recurrent_initializer", CK_STR, "orthogonal", NULL, "initializer of the recurrent kernel"},          \
    {"bias_initializer", CK_STR, "zeros", NULL, "bias initializer"},
#define RNN_TAIL                                                                                             \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                               \
    {"recurrent_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the recurrent kernel"},                  \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                                   \
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss"},          \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on kernel after each update"},                     \
    {"recurrent_constraint", CK_STR, NULL, NULL, "constraint on recurrent after each update"},               \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on bias after each update"},                         \
    {"dropout", CK_FLOAT, "0", "[0,1]", "input dropout rate (only 0 is supported yet)"},                      \
    {"recurrent_dropout", CK_FLOAT, "0", "[0,1]", "recurrent dropout rate (only 0 is supported yet)"},        \
    {"return_sequences", CK_BOOL, "false", NULL, "output every step (batch, T, units), else the last"},    \
    {"return_state", CK_BOOL, "false", NULL, "also output the last state(s): [output, h] ([output, h, c])"},\
    {"go_backwards", CK_BOOL, "false", NULL, "process the sequence in reverse order"},                     \
    {"stateful", CK_BOOL, "false", NULL, "accepted; states are not carried between batches"},              \
    {"unroll", CK_BOOL, "false", NULL, "accepted (no effect)"},                                             \
    {"zero_output_for_mask", CK_BOOL, "false", NULL, "with a mask and return_sequences: masked steps output "  \
     "zeros (else the last kept step's output)", CK_W_SET_ONLY},                                            \
    {"seed", CK_INT, NULL, NULL, "seed of the dropout masks (Keras 3; accepted)", CK_W_NO_TF2 | CK_W_SET_ONLY}, \
    {"time_major", CK_BOOL, "false", NULL, "tf.keras 2 only; must be false", CK_W_NEVER},                               \
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape (timesteps, features)", CK_W_NEVER},

static const ck_field simple_rnn_fields[] = {RNN_HEAD RNN_INITS RNN_TAIL};
static const ck_field lstm_fields[] = {
    RNN_HEAD RNN_RACT RNN_INITS
    {"unit_forget_bias", CK_BOOL, "true", NULL, "forget-gate bias starts at 1 (with a zeros bias initializer)"},
    {"implementation", CK_INT, "2", NULL, "accepted (no effect)"},
    RNN_TAIL
};
static const ck_field gru_fields[] = {
    RNN_HEAD RNN_RACT RNN_INITS
    {"reset_after", CK_BOOL, "true", NULL, "apply the reset gate after the recurrent product (Keras 2/3 default)"},
    {"implementation", CK_INT, "2", NULL, "accepted (no effect)"},
    RNN_TAIL
};

/* ---- shared settings ------------------------------------------------------------------------- */

typedef struct rnn_dir {
    ck_rnn cell;
    bool forget_pending; /* LSTM unit_forget_bias still to apply to a freshly zeroed bias */
} rnn_dir;

static ck_rnn_kind kind_of(const ck_layer_vt *vt)
{
    return vt == &ck_lstm_vt ? CK_RNN_LSTM : vt == &ck_gru_vt ? CK_RNN_GRU : CK_RNN_SIMPLE;
}

static bool is_rnn_vt(const ck_layer_vt *vt)
{
    return vt == &ck_simple_rnn_vt || vt == &ck_lstm_vt || vt == &ck_gru_vt;
}

static ckeras_status parse_act(const ck_config *cfg, const char *field, bool keras2, ck_act *out)
{
    ckeras_status st = ck_act_parse(ck_cfg_str(cfg, field), out);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s", field);
        return st;
    }
    if (keras2 && out->kind == CK_ACT_HARD_SIGMOID)
        out->kind = CK_ACT_HARD_SIGMOID_K2; /* Keras 1/2: clip(0.2 x + 0.5, 0, 1) */
    return CKERAS_OK;
}

/* Reads a SimpleRNN/LSTM/GRU config (or its cell's, of the same kind) into a cell for inputs (T, F). what names
 * the layer in messages. */
static ckeras_status rnn_setup(ck_rnn_kind kind, const ck_config *cfg, bool keras2, const char *what,
                               const ck_shape *in, rnn_dir *d, bool *seq, bool states_ok, bool wrapped)
{
    memset(d, 0, sizeof *d);
    const ck_value *u = ck_cfg_value(cfg, "units");
    if (u->is_none || u->i <= 0)
        return ck_error(CKERAS_EINVAL, "%s: units must be a positive integer, got %lld", what,
                        u->is_none ? 0LL : (long long)u->i);
    if (u->i > CKERAS_MAX_SIZE_LIMIT) /* then gates x units (at most 4 x 2^48) cannot wrap */
        return ck_error(CKERAS_ESHAPE, "%s: units = %lld is too large (at most 2^48)", what, (long long)u->i);
    if (in->ndim != 2 || in->d[0] <= 0 || in->d[1] <= 0) {
        char b[96];
        return ck_error(CKERAS_ESHAPE, "%s: needs inputs (batch, timesteps, features) with fixed sizes, got %s", what,
                        ck_shape_str(in, true, b, sizeof b));
    }
    /* wrapped: the config of a Bidirectional's layer or of an RNN's cell (their regularizers and
     * constraints are the wrapper's weights', add_cell_weights; an activity regularizer is not) */
    if (wrapped && ck_config_find(cfg, "activity_regularizer") >= 0 && ck_cfg_str(cfg, "activity_regularizer"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: activity_regularizer on a wrapped layer is not supported yet", what);
    if (!states_ok && ck_cfg_bool(cfg, "return_state"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: return_state=True inside a Bidirectional is not supported yet",
                        what);
    if (ck_cfg_bool(cfg, "time_major"))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: time_major=True is not supported (inputs are batch-major)", what);
    if (ck_cfg_float(cfg, "dropout") != 0.0 || ck_cfg_float(cfg, "recurrent_dropout") != 0.0)
        return ck_error(CKERAS_EUNSUPPORTED, "%s: dropout=%g, recurrent_dropout=%g: only 0 is supported yet", what,
                        ck_cfg_float(cfg, "dropout"), ck_cfg_float(cfg, "recurrent_dropout"));
    ck_rnn *c = &d->cell;
    c->kind = kind;
    c->T = in->d[0];
    c->F = in->d[1];
    c->U = u->i;
    ckeras_status st = parse_act(cfg, "activation", keras2, &c->act);
    if (st == CKERAS_OK && c->kind != CK_RNN_SIMPLE)
        st = parse_act(cfg, "recurrent_activation", keras2, &c->ract);
    static const char *const inits[] = {"kernel_initializer", "recurrent_initializer", "bias_initializer"};
    for (size_t i = 0; i < 3 && st == CKERAS_OK; i++)
        st = ck_init_check(ck_cfg_str(cfg, inits[i]));
    if (st != CKERAS_OK) {
        ck_error_prefix("%s", what);
        return st;
    }
    c->go_backwards = ck_cfg_bool(cfg, "go_backwards");
    c->reset_after = c->kind == CK_RNN_GRU && ck_cfg_bool(cfg, "reset_after");
    if (c->kind == CK_RNN_LSTM && ck_cfg_bool(cfg, "use_bias") && ck_cfg_bool(cfg, "unit_forget_bias")) {
        const char *bi = ck_cfg_str(cfg, "bias_initializer");
        d->forget_pending = bi && (strcmp(bi, "zeros") == 0 || strcmp(bi, "Zeros") == 0 || strcmp(bi, "zero") == 0);
    }
    *seq = ck_cfg_bool(cfg, "return_sequences");
    return CKERAS_OK;
}

/* Declares kernel, recurrent_kernel [, bias] named prefix + Keras name; init fields are the
 * layer's own ("kernel_initializer") or, for a wrapper, fixed specs from the inner config. */
static ckeras_status add_cell_weights(ckeras_layer *l, const ck_rnn *c, bool use_bias, const char *prefix,
                                      const ck_config *inner)
{
    int64_t GU = ck_rnn_gates(c) * c->U;
    ck_shape ks = {2, {c->F, GU}}, rs = {2, {c->U, GU}};
    ck_shape bs = c->reset_after ? (ck_shape){2, {2, GU}} : (ck_shape){1, {GU}};
    static const char *const keras[] = {"kernel", "recurrent_kernel", "bias"};
    static const char *const fields[] = {"kernel_initializer", "recurrent_initializer", "bias_initializer"};
    const ck_shape *shapes[] = {&ks, &rs, &bs};
    for (int i = 0; i < (use_bias ? 3 : 2); i++) {
        char nm[sizeof l->w[0].name];
        snprintf(nm, sizeof nm, "%s%s", prefix, keras[i]);
        ck_weight *w = inner ? ck_layer_add_weight(l, nm, shapes[i], true, NULL, ck_cfg_str(inner, fields[i]))
                             : ck_layer_add_weight(l, nm, shapes[i], true, fields[i], NULL);
        if (!w)
            return ck_error(CKERAS_EUNSUPPORTED, "%s '%s': needs more than %d weights (CK_MAX_WEIGHTS)",
                            l->vt->class_name, l->name, CK_MAX_WEIGHTS);
        /* a wrapper's weights take the regularizers and constraints of the wrapped layer or cell */
        static const char *const regs[] = {"kernel_regularizer", "recurrent_regularizer", "bias_regularizer"};
        static const char *const cons[] = {"kernel_constraint", "recurrent_constraint", "bias_constraint"};
        ckeras_status st = CKERAS_OK;
        if (inner && ck_config_find(inner, regs[i]) >= 0)
            st = ck_regularizer_parse(ck_cfg_str(inner, regs[i]), &w->l1, &w->l2);
        if (inner && st == CKERAS_OK && ck_config_find(inner, cons[i]) >= 0)
            st = ck_constraint_parse(ck_cfg_str(inner, cons[i]), w->shape.ndim, &w->constraint);
        if (st != CKERAS_OK) {
            ck_error_prefix("%s '%s': %s", l->vt->class_name, l->name, nm);
            return st;
        }
    }
    return CKERAS_OK;
}

/* Points the cell at weights w[first..] (kernel, recurrent_kernel [, bias]) and, when wanted,
 * their gradients. */
static void bind_cell(ckeras_layer *l, ck_rnn *c, int first, bool use_bias, bool grads)
{
    c->W = l->w[first].data;
    c->R = l->w[first + 1].data;
    c->b = use_bias ? l->w[first + 2].data : NULL;
    bool g = grads && l->w[first].grad;
    c->dW = g ? l->w[first].grad : NULL;
    c->dR = g ? l->w[first + 1].grad : NULL;
    c->db = g && use_bias ? l->w[first + 2].grad : NULL;
}

/* Keras' unit_forget_bias for a new LSTM: a bias still exactly zero (just initialised with
 * "zeros") gets 1 on its forget-gate block at the first forward. Loaded or trained biases are
 * never all zero in practice, so they are left alone. (The initializer interface has no
 * per-block fill; see the report.) */
static void apply_forget_bias(rnn_dir *d, float *bias)
{
    if (!d->forget_pending || !bias)
        return;
    d->forget_pending = false;
    int64_t U = d->cell.U;
    for (int64_t k = 0; k < 4 * U; k++)
        if (bias[k] != 0.0f)
            return;
    for (int64_t k = U; k < 2 * U; k++)
        bias[k] = 1.0f;
}

/* ---- SimpleRNN, LSTM, GRU -------------------------------------------------------------------- */

typedef struct rnn_priv {
    rnn_dir dir;
    bool seq, use_bias;
    bool zero_out; /* zero_output_for_mask */
    int nstates; /* initial states given as extra inputs (0, 1 for h, 2 for h and c) */
} rnn_priv;

static void rnn_free(ckeras_layer *l)
{
    ck_free(l->priv);
    l->priv = NULL;
}

static ckeras_status ck_rnn_build_multi(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    char what[CK_NAME_MAX + 32];
    snprintf(what, sizeof what, "%s '%s'", l->vt->class_name, l->name);
    rnn_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    ckeras_status st = rnn_setup(kind_of(l->vt), &l->cfg, l->keras2, what, &ins[0], &p->dir, &p->seq, true, false);
    if (st != CKERAS_OK)
        return st;
    const ck_rnn *c = &p->dir.cell;
    int want = c->kind == CK_RNN_LSTM ? 2 : 1;
    if (nin != 1 && nin != 1 + want)
        return ck_error(CKERAS_ESHAPE, "%s: called on %d tensors; give the sequence, optionally with %d initial "
                        "state%s", what, nin, want, want > 1 ? "s (h, c)" : " (h)");
    for (int k = 1; k < nin; k++)
        if (ins[k].ndim != 1 || ins[k].d[0] != c->U) {
            char b[96];
            return ck_error(CKERAS_ESHAPE, "%s: initial state %d has shape %s, expected (None, %lld)", what, k,
                            ck_shape_str(&ins[k], true, b, sizeof b), (long long)c->U);
        }
    p->nstates = nin - 1;
    p->use_bias = ck_cfg_bool(&l->cfg, "use_bias");
    p->zero_out = ck_cfg_bool(&l->cfg, "zero_output_for_mask");
    if ((st = add_cell_weights(l, c, p->use_bias, "", NULL)) != CKERAS_OK)
        return st;
    out->ndim = p->seq ? 2 : 1;
    out->d[0] = p->seq ? c->T : c->U;
    out->d[1] = c->U;
    l->nout = 0;
    if (ck_cfg_bool(&l->cfg, "return_state")) { /* [output, h] or [output, h, c], packed */
        l->nout = c->kind == CK_RNN_LSTM ? 3 : 2;
        l->outs[0] = *out;
        for (int k = 1; k < l->nout; k++)
            l->outs[k] = (ck_shape){1, {c->U}};
        out->ndim = 1;
        out->d[0] = ck_size_add(ck_shape_size(&l->outs[0]), (l->nout - 1) * c->U);
    }
    return CKERAS_OK;
}

static ckeras_status rnn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return ck_rnn_build_multi(l, in, 1, out);
}

static int64_t rnn_saved(const ckeras_layer *l, int64_t n)
{
    const rnn_priv *p = l->priv;
    return ck_rnn_saved_floats(&p->dir.cell, n);
}

/* work: the kernel's scratch, then dhs (T, n, U) for the backward (in the forward of a layer
 * with return_state: its plain output); with return_state also the gradient of the plain output
 * (up to T, n, U) and of the last c (n, U) */
static int64_t rnn_work(const ckeras_layer *l, int64_t n)
{
    const rnn_priv *p = l->priv;
    int64_t tnu = ck_size_mul3(p->dir.cell.T, n, p->dir.cell.U);
    return ck_size_add(ck_size_add(ck_rnn_work_floats(&p->dir.cell, n), tnu),
                       l->nout > 1 ? ck_size_add(tnu, ck_size_mul(n, p->dir.cell.U)) : 0);
}

/* Keras' output of processing step s of sample i with a mask: the step's state when the step
 * is kept; at a masked step, zeros with zero_out (a Bidirectional returning sequences), else the
 * output of the last kept step (zeros before the first one). The states carry over masked
 * steps, so that output is the state after step s whenever some step up to s was kept. */
static bool step_output_is_state(const ck_rnn *c, int64_t i, int64_t s, bool zero_out, bool *seen)
{
    if (!c->mask)
        return true;
    int64_t t = c->go_backwards ? c->T - 1 - s : s;
    bool keep = c->mask[i * c->T + t] != 0.0f;
    *seen = *seen || keep;
    return zero_out ? keep : *seen;
}

/* y (n, T, U) or (n, U) from the states hs (T+1, n, U), with c->mask as Keras applies it
 * (step_output_is_state); rev writes step s at time T-1-s (a Bidirectional's backward
 * direction); y rows have ld floats and this direction starts at column off. */
static void states_to_output(const ck_rnn *c, int64_t n, const float *hs, bool seq, bool rev, bool zero_out,
                             float *y, int64_t ld, int64_t off)
{
    int64_t T = c->T, U = c->U, nu = n * U;
    for (int64_t i = 0; i < n; i++) {
        bool seen = false;
        for (int64_t s = 0; s < T; s++) {
            bool state = step_output_is_state(c, i, s, seq && zero_out, &seen);
            if (!seq && s < T - 1)
                continue;
            float *dst = y + (seq ? i * T + (rev ? T - 1 - s : s) : i) * ld + off;
            if (state)
                memcpy(dst, hs + (s + 1) * nu + i * U, (size_t)U * sizeof(float));
            else
                memset(dst, 0, (size_t)U * sizeof(float));
        }
    }
}

/* dhs (T, n, U) = the output gradient of each step: dy (rows of ld floats, columns off..off+U)
 * times scale, and times the other direction's output o (same layout as dy) when o != NULL;
 * zero where the step's output was not its state (step_output_is_state). */
static void output_to_dstates(const ck_rnn *c, int64_t n, const float *dy, bool seq, bool rev, bool zero_out,
                              int64_t ld, int64_t off, float scale, const float *o, int64_t ldo, int64_t offo,
                              float *dhs)
{
    int64_t T = c->T, U = c->U, nu = n * U;
    for (int64_t i = 0; i < n; i++) {
        bool seen = false;
        for (int64_t s = 0; s < T; s++) {
            bool state = step_output_is_state(c, i, s, seq && zero_out, &seen);
            float *dst = dhs + s * nu + i * U;
            if ((!seq && s < T - 1) || !state) {
                memset(dst, 0, (size_t)U * sizeof(float));
                continue;
            }
            int64_t row = seq ? i * T + (rev ? T - 1 - s : s) : i;
            const float *src = dy + row * ld + off;
            const float *os = o ? o + row * ldo + offo : NULL;
            for (int64_t u = 0; u < U; u++)
                dst[u] = scale * src[u] * (os ? os[u] : 1.0f);
        }
    }
}

/* The forward and backward below work on a copy of the cell (its weights, gradients and mask
 * bound per call), so that copies of the layer may run parts of a batch at once (split.c); the
 * forget-gate bias, set once, keeps the layer from that until it is done (rnn_rows_apart). */
static void rnn_forward(ckeras_layer *l, const ck_fwd *f)
{
    rnn_priv *p = l->priv;
    apply_forget_bias(&p->dir, p->use_bias ? l->w[2].data : NULL);
    ck_rnn cell = p->dir.cell;
    bind_cell(l, &cell, 0, p->use_bias, false);
    const float *h0 = p->nstates >= 1 ? f->xs[1] : NULL;
    const float *c0 = p->nstates >= 2 ? f->xs[2] : NULL;
    cell.mask = f->mask;
    ck_rnn_forward(&cell, f->n, f->x, h0, c0, f->saved, f->work);
    const ck_rnn *c = &cell;
    const float *hs = ck_rnn_states(c, f->n, f->saved);
    if (l->nout <= 1) {
        states_to_output(c, f->n, hs, p->seq, false, p->zero_out, f->y, c->U, 0);
        return;
    }
    /* return_state: per sample [output | h_last | c_last] */
    float *plain = f->work + ck_rnn_work_floats(c, f->n);
    states_to_output(c, f->n, hs, p->seq, false, p->zero_out, plain, c->U, 0);
    const float *cs = ck_rnn_cells(c, f->n, f->saved);
    int64_t s0 = ck_shape_size(&l->outs[0]), P = ck_shape_size(&l->out_shape), nu = f->n * c->U;
    for (int64_t i = 0; i < f->n; i++) {
        float *row = f->y + i * P;
        memcpy(row, plain + i * s0, (size_t)s0 * sizeof(float));
        memcpy(row + s0, hs + c->T * nu + i * c->U, (size_t)c->U * sizeof(float));
        if (cs)
            memcpy(row + s0 + c->U, cs + c->T * nu + i * c->U, (size_t)c->U * sizeof(float));
    }
}

static void rnn_backward(ckeras_layer *l, const ck_bwd *b)
{
    rnn_priv *p = l->priv;
    ck_rnn cell = p->dir.cell;
    bind_cell(l, &cell, 0, p->use_bias, b->train_weights);
    cell.mask = b->mask;
    ck_rnn *c = &cell;
    float *dhs = b->work + ck_rnn_work_floats(c, b->n);
    if (l->nout <= 1) {
        output_to_dstates(c, b->n, b->dy, p->seq, false, p->zero_out, c->U, 0, 1.0f, NULL, 0, 0, dhs);
    } else { /* unpack [output | h_last | c_last]: h_last's gradient joins the last step's */
        int64_t s0 = ck_shape_size(&l->outs[0]), P = ck_shape_size(&l->out_shape), U = c->U;
        float *dplain = dhs + c->T * b->n * U, *dclast = dplain + c->T * b->n * U;
        for (int64_t i = 0; i < b->n; i++)
            memcpy(dplain + i * s0, b->dy + i * P, (size_t)s0 * sizeof(float));
        output_to_dstates(c, b->n, dplain, p->seq, false, p->zero_out, U, 0, 1.0f, NULL, 0, 0, dhs);
        float *last = dhs + (c->T - 1) * b->n * U;
        for (int64_t i = 0; i < b->n; i++) {
            const float *row = b->dy + i * P + s0;
            for (int64_t u = 0; u < U; u++)
                last[i * U + u] += row[u];
            if (l->nout > 2)
                memcpy(dclast + i * U, row + U, (size_t)U * sizeof(float));
        }
        c->dc_last = l->nout > 2 ? dclast : NULL;
    }
    float *dh0 = p->nstates >= 1 && b->dxs ? b->dxs[1] : NULL;
    float *dc0 = p->nstates >= 2 && b->dxs ? b->dxs[2] : NULL;
    ck_rnn_backward(c, b->n, b->x, dhs, b->dx, 0.0f, dh0, dc0, b->saved, b->work);
}

/* Each sample's sequence is its own; not before the first forward has set the forget-gate bias
 * (that writes the shared weights once). */
static bool rnn_rows_apart(const ckeras_layer *l)
{
    const rnn_priv *p = l->priv;
    return p && !p->dir.forget_pending;
}

/* every weight is used at each of the T steps */
static double rnn_weight_uses(const ckeras_layer *l)
{
    const rnn_priv *p = l->priv;
    return p ? (double)p->dir.cell.T : 1.0;
}

/* Keras: the mask goes on with the sequences (return_sequences), and ends with the last step. */
static ck_mask_mode rnn_mask_mode(const ckeras_layer *l)
{
    const rnn_priv *p = l->priv;
    return p && p->seq ? CK_MASK_PASS : CK_MASK_DROP;
}

/* Keras 3 keeps a recurrent layer's weights in its cell ("layers/lstm/cell/vars/0"), a
 * Bidirectional's in its two layers' cells. */
static const char *rnn_var_path(const ckeras_layer *l, int k)
{
    (void)l;
    (void)k;
    return "cell";
}

static const char *bidi_var_path(const ckeras_layer *l, int k)
{
    return k < l->nw / 2 ? "forward_layer/cell" : "backward_layer/cell";
}

/* Initial states as extra inputs (Keras 2's layer([x, h0]) / layer([x, h0, c0]) calls) go through
 * build_multi; alone (Sequential) the layer builds with build. */
#define RNN_VT(sym, cls, base, flds)                                                                         \
    const ck_layer_vt sym = {                                                                                \
        .class_name = cls,                                                                                   \
        .base_name = base,                                                                                   \
        .fields = flds,                                                                                      \
        .nfields = sizeof flds / sizeof flds[0],                                                             \
        .build = rnn_build,                                                                                  \
        .build_multi = ck_rnn_build_multi,                                                                   \
        .saved_floats = rnn_saved,                                                                           \
        .work_floats = rnn_work,                                                                             \
        .forward = rnn_forward,                                                                              \
        .backward = rnn_backward,                                                                            \
        .free_priv = rnn_free,                                                                               \
        .extra_inputs_kwarg = "initial_state",                                                               \
        .keras3_var_path = rnn_var_path,                                                                     \
        .mask_mode = rnn_mask_mode,                                                                          \
        .rows_apart = rnn_rows_apart,                                                                        \
        .weight_uses = rnn_weight_uses,                                                                      \
    }

RNN_VT(ck_simple_rnn_vt, "SimpleRNN", "simple_rnn", simple_rnn_fields);
RNN_VT(ck_lstm_vt, "LSTM", "lstm", lstm_fields);
RNN_VT(ck_gru_vt, "GRU", "gru", gru_fields);

/* ---- Bidirectional ------------------------------------------------------------------------------ */

static const ck_field bidirectional_fields[] = {
    {"layer", CK_TREE, NULL, NULL, "the wrapped recurrent layer: {\"class_name\": \"LSTM\", \"config\": {...}}"},
    {"merge_mode", CK_STR, "concat", "concat|sum|mul|ave", "how the two directions' outputs combine"},
    {"backward_layer", CK_TREE, NULL, NULL, "ignored: the backward direction is a copy of the layer"},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape (timesteps, features)", CK_W_NEVER},
};

typedef enum merge_mode { MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE } merge_mode;

typedef struct bidi_priv {
    const ck_layer_vt *inner_vt;
    ck_config inner;   /* the wrapped layer's config (its initializer specs back the weights) */
    bool has_inner;
    rnn_dir dir[2];    /* forward, backward */
    bool seq, use_bias;
    merge_mode mode;
    int nw_dir;        /* weights per direction */
    int nst;           /* with return_state: the states per direction (h, and c for an LSTM); else 0 */
} bidi_priv;

static void bidi_free(ckeras_layer *l)
{
    bidi_priv *p = l->priv;
    if (p && p->has_inner)
        ck_config_free(&p->inner);
    ck_free(p);
    l->priv = NULL;
}

/* Reads the "layer" field into p->inner_vt and p->inner, and puts the wrapped layer's config
 * back in the field as ckeras writes it (its settings in schema order, under their rules). */
static ckeras_status bidi_inner(ckeras_layer *l, bidi_priv *p)
{
    const ck_tree *spec = ck_cfg_tree(&l->cfg, "layer");
    if (!spec)
        return ck_error(CKERAS_EINVAL, "Bidirectional '%s': needs a layer to wrap", l->name);
    const char *cn = ck_tree_string(ck_tree_get(spec, "class_name"));
    const ck_layer_vt *vt = cn ? ck_layer_lookup(cn) : NULL;
    if (!vt || !is_rnn_vt(vt))
        return ck_error(CKERAS_EUNSUPPORTED, "Bidirectional '%s': can wrap SimpleRNN, LSTM or GRU, not '%s'", l->name,
                        cn ? cn : "(no class_name)");
    ck_tree *cfg = ck_tree_copy(ck_tree_get(spec, "config"));
    if (!cfg || cfg->kind != CK_T_OBJECT) {
        ck_tree_free(cfg);
        return ck_error(CKERAS_EFORMAT, "Bidirectional '%s': the wrapped layer has no \"config\" object", l->name);
    }
    if (p->has_inner)
        ck_config_free(&p->inner);
    p->has_inner = false;
    ckeras_status st = ck_config_init(&p->inner, vt->fields, vt->nfields);
    if (st != CKERAS_OK) {
        ck_tree_free(cfg);
        return st;
    }
    p->has_inner = true;
    p->inner_vt = vt;
    char name[CK_NAME_MAX];
    bool trainable = true;
    snprintf(name, sizeof name, "%s", vt->base_name);
    st = ck_config_from_tree(&p->inner, vt->class_name, cfg, name, sizeof name, &trainable);
    ck_tree_free(cfg);
    if (st != CKERAS_OK)
        return st;
    /* as tf.keras 2.13+ and Keras 3 write a nested layer (Keras 3 finds the class by module) */
    ck_tree *norm = ck_tree_object();
    if (!norm || ck_tree_set(norm, "module", ck_tree_str("keras.layers")) != CKERAS_OK ||
        ck_tree_set(norm, "class_name", ck_tree_str(vt->class_name)) != CKERAS_OK ||
        ck_tree_set(norm, "config", ck_config_to_tree(&p->inner, name, trainable, CK_PROFILE_TF2)) != CKERAS_OK ||
        ck_tree_set(norm, "registered_name", ck_tree_null()) != CKERAS_OK) {
        ck_tree_free(norm);
        return CKERAS_ENOMEM;
    }
    st = ck_config_set_tree(&l->cfg, "Bidirectional", "layer", norm);
    ck_tree_free(norm);
    return st;
}

static ckeras_status bidi_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    bidi_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    ckeras_status st = bidi_inner(l, p);
    if (st != CKERAS_OK)
        return st;
    const char *mm = ck_cfg_str(&l->cfg, "merge_mode");
    if (!mm)
        return ck_error(CKERAS_EUNSUPPORTED, "Bidirectional '%s': merge_mode=None gives two outputs, which models do "
                        "not support yet", l->name);
    p->mode = strcmp(mm, "sum") == 0 ? MERGE_SUM : strcmp(mm, "mul") == 0 ? MERGE_MUL
              : strcmp(mm, "ave") == 0 ? MERGE_AVE : MERGE_CONCAT;
    char what[CK_NAME_MAX + 48];
    snprintf(what, sizeof what, "Bidirectional '%s': %s", l->name, p->inner_vt->class_name);
    bool seq;
    for (int d = 0; d < 2; d++)
        if ((st = rnn_setup(kind_of(p->inner_vt), &p->inner, l->keras2, what, in, &p->dir[d], &seq, true, true)) !=
            CKERAS_OK)
            return st;
    p->seq = seq;
    p->dir[1].cell.go_backwards = !p->dir[0].cell.go_backwards;
    p->use_bias = ck_cfg_bool(&p->inner, "use_bias");
    p->nw_dir = p->use_bias ? 3 : 2;
    if ((st = add_cell_weights(l, &p->dir[0].cell, p->use_bias, "forward_", &p->inner)) != CKERAS_OK ||
        (st = add_cell_weights(l, &p->dir[1].cell, p->use_bias, "backward_", &p->inner)) != CKERAS_OK)
        return st;
    const ck_rnn *c = &p->dir[0].cell;
    int64_t width = p->mode == MERGE_CONCAT ? 2 * c->U : c->U;
    out->ndim = seq ? 2 : 1;
    out->d[0] = seq ? c->T : width;
    out->d[1] = width;
    l->nout = 0;
    p->nst = 0;
    if (ck_cfg_bool(&p->inner, "return_state")) { /* [output, forward states, backward states], packed */
        p->nst = c->kind == CK_RNN_LSTM ? 2 : 1;
        l->nout = 1 + 2 * p->nst;
        l->outs[0] = *out;
        for (int k = 1; k < l->nout; k++)
            l->outs[k] = (ck_shape){1, {c->U}};
        out->ndim = 1;
        out->d[0] = ck_size_add(ck_shape_size(&l->outs[0]), 2 * p->nst * c->U);
    }
    return CKERAS_OK;
}

static int64_t bidi_saved(const ckeras_layer *l, int64_t n)
{
    const bidi_priv *p = l->priv;
    return ck_size_mul(2, ck_rnn_saved_floats(&p->dir[0].cell, n));
}

/* work: the kernel's scratch, dhs (T, n, U); with return_state also the plain output or its
 * gradient (n, T, 2U) and a last c's gradient (n, U) */
static int64_t bidi_work(const ckeras_layer *l, int64_t n)
{
    const bidi_priv *p = l->priv;
    const ck_rnn *c = &p->dir[0].cell;
    int64_t tnu = ck_size_mul3(c->T, n, c->U);
    int64_t w = ck_size_add(ck_rnn_work_floats(c, n), tnu);
    return l->nout > 1 ? ck_size_add(w, ck_size_add(ck_size_mul(2, tnu), ck_size_mul(n, c->U))) : w;
}

static void bidi_bind(ckeras_layer *l, bidi_priv *p, bool grads, const float *mask)
{
    for (int d = 0; d < 2; d++) {
        bind_cell(l, &p->dir[d].cell, d * p->nw_dir, p->use_bias, grads);
        p->dir[d].cell.mask = mask;
    }
}

static ck_mask_mode bidi_mask_mode(const ckeras_layer *l)
{
    const bidi_priv *p = l->priv;
    return p && p->seq ? CK_MASK_PASS : CK_MASK_DROP;
}

static void bidi_forward(ckeras_layer *l, const ck_fwd *f)
{
    bidi_priv *p = l->priv;
    bidi_bind(l, p, false, f->mask);
    const ck_rnn *c = &p->dir[0].cell;
    int64_t n = f->n, T = c->T, U = c->U, rows = n * (p->seq ? T : 1);
    int64_t ss = ck_rnn_saved_floats(c, n);
    for (int d = 0; d < 2; d++) {
        apply_forget_bias(&p->dir[d], p->use_bias ? l->w[d * p->nw_dir + 2].data : NULL);
        ck_rnn_forward(&p->dir[d].cell, n, f->x, NULL, NULL, f->saved + d * ss, f->work);
    }
    /* Keras' Bidirectional zeroes the outputs of masked steps when it returns sequences */
    const ck_rnn *cb = &p->dir[1].cell;
    const float *hf = ck_rnn_states(c, n, f->saved), *hb = ck_rnn_states(c, n, f->saved + ss);
    /* with return_state the output goes to work past dhs, then is packed with the states */
    float *y = l->nout > 1 ? f->work + ck_rnn_work_floats(c, n) + T * n * U : f->y;
    if (p->mode == MERGE_CONCAT) {
        states_to_output(c, n, hf, p->seq, false, true, y, 2 * U, 0);
        states_to_output(cb, n, hb, p->seq, true, true, y, 2 * U, U);
    } else {
        /* y = forward output, then combined with the backward one (put in work past the kernel's
         * scratch, which is free again) */
        float *yb = f->work;
        states_to_output(c, n, hf, p->seq, false, true, y, U, 0);
        states_to_output(cb, n, hb, p->seq, true, true, yb, U, 0);
        for (int64_t k = 0; k < rows * U; k++)
            y[k] = p->mode == MERGE_SUM ? y[k] + yb[k] : p->mode == MERGE_AVE ? 0.5f * (y[k] + yb[k]) : y[k] * yb[k];
    }
    if (l->nout <= 1)
        return;
    /* per sample [output | forward h (c) | backward h (c)] */
    int64_t s0 = ck_shape_size(&l->outs[0]), P = ck_shape_size(&l->out_shape);
    for (int64_t i = 0; i < n; i++) {
        float *row = f->y + i * P;
        memcpy(row, y + i * s0, (size_t)s0 * sizeof(float));
        for (int d = 0; d < 2; d++) {
            const ck_rnn *cd = &p->dir[d].cell;
            const float *hl = ck_rnn_states(cd, n, f->saved + d * ss) + T * n * U;
            const float *cl = ck_rnn_cells(cd, n, f->saved + d * ss);
            float *dst = row + s0 + d * p->nst * U;
            memcpy(dst, hl + i * U, (size_t)U * sizeof(float));
            if (cl)
                memcpy(dst + U, cl + T * n * U + i * U, (size_t)U * sizeof(float));
        }
    }
}

static void bidi_backward(ckeras_layer *l, const ck_bwd *b)
{
    bidi_priv *p = l->priv;
    bidi_bind(l, p, b->train_weights, b->mask);
    const ck_rnn *c = &p->dir[0].cell;
    int64_t n = b->n, U = c->U, T = c->T;
    int64_t ss = ck_rnn_saved_floats(c, n);
    float *dhs = b->work + ck_rnn_work_floats(c, n);
    float *dplain = dhs + T * n * U, *dcl = dplain + 2 * T * n * U;
    const float *dy = b->dy;
    int64_t s0 = l->nout > 1 ? ck_shape_size(&l->outs[0]) : 0, P = ck_shape_size(&l->out_shape);
    if (l->nout > 1) { /* unpack [output | states]: the output's gradient first */
        for (int64_t i = 0; i < n; i++)
            memcpy(dplain + i * s0, b->dy + i * P, (size_t)s0 * sizeof(float));
        dy = dplain;
    }
    for (int d = 0; d < 2; d++) {
        ck_rnn *cd = &p->dir[d].cell;
        float *saved = b->saved + d * ss;
        if (p->mode == MERGE_CONCAT) {
            output_to_dstates(cd, n, dy, p->seq, d == 1, true, 2 * U, d * U, 1.0f, NULL, 0, 0, dhs);
        } else if (p->mode == MERGE_MUL) {
            /* d(yf * yb)/dyf = yb: the other direction's output, rebuilt in work from its states */
            float *other = b->work;
            const ck_rnn *co = &p->dir[1 - d].cell;
            states_to_output(co, n, ck_rnn_states(co, n, b->saved + (1 - d) * ss), p->seq, d == 0, true, other, U,
                             0);
            output_to_dstates(cd, n, dy, p->seq, d == 1, true, U, 0, 1.0f, other, U, 0, dhs);
        } else {
            output_to_dstates(cd, n, dy, p->seq, d == 1, true, U, 0, p->mode == MERGE_AVE ? 0.5f : 1.0f, NULL, 0,
                              0, dhs);
        }
        cd->dc_last = NULL;
        if (l->nout > 1) { /* this direction's last states: h joins the last step's gradient */
            float *lastd = dhs + (T - 1) * n * U;
            for (int64_t i = 0; i < n; i++) {
                const float *row = b->dy + i * P + s0 + d * p->nst * U;
                for (int64_t u = 0; u < U; u++)
                    lastd[i * U + u] += row[u];
                if (p->nst > 1)
                    memcpy(dcl + i * U, row + U, (size_t)U * sizeof(float));
            }
            cd->dc_last = p->nst > 1 ? dcl : NULL;
        }
        ck_rnn_backward(cd, n, b->x, dhs, b->dx, d == 0 ? 0.0f : 1.0f, NULL, NULL, saved, b->work);
        cd->dc_last = NULL;
    }
}

const ck_layer_vt ck_bidirectional_vt = {
    .class_name = "Bidirectional",
    .base_name = "bidirectional",
    .fields = bidirectional_fields,
    .nfields = sizeof bidirectional_fields / sizeof bidirectional_fields[0],
    .build = bidi_build,
    .saved_floats = bidi_saved,
    .work_floats = bidi_work,
    .forward = bidi_forward,
    .backward = bidi_backward,
    .free_priv = bidi_free,
    .keras3_var_path = bidi_var_path,
    .mask_mode = bidi_mask_mode,
};

/* ---- RNN: the generic layer over SimpleRNNCell, LSTMCell, GRUCell or StackedRNNCells ------------ *
 *
 * RNN(LSTMCell(u)) computes what LSTM(u) computes (and so on), with Keras' weight names
 * "lstm_cell/kernel" ("stacked_rnn_cells/lstm_cell/kernel" in a stack; Keras 3 files keep a
 * stack's cells at "cell/cells/<class>[_k]"). A stack of cells is run
 * one cell at a time over the whole sequence: a cell's output at a step depends only on the
 * cells below it, so this is the same arithmetic as Keras' step by step loop. With go_backwards
 * every cell reads its input from the last step down (the next cell's input is written back at
 * the step's time), so all cells see the same mask at the same step.
 *
 * return_state: [output, states of the first cell (h, or h and c for an LSTMCell), of the next
 * ...], the states flattened in Keras' order (nout, take.c). Not supported (CKERAS_EUNSUPPORTED):
 * stateful=True, cells other than these three, a cell's dropout,
 * more than 4 stacked cells or more than 5 states with return_state. */

/* A cell's keys (Keras 3's SimpleRNNCell, LSTMCell, GRUCell). The layer keys rnn_setup reads
 * are in the schema too, never written (a Keras cell config has none of them). */
#define CELL_TAIL                                                                                            \
    {"kernel_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the kernel"},                               \
    {"recurrent_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the recurrent kernel"},                  \
    {"bias_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the bias"},                                   \
    {"kernel_constraint", CK_STR, NULL, NULL, "constraint on the kernel after each update"},                 \
    {"recurrent_constraint", CK_STR, NULL, NULL, "constraint on the recurrent kernel after each update"},    \
    {"bias_constraint", CK_STR, NULL, NULL, "constraint on the bias after each update"},                     \
    {"dropout", CK_FLOAT, "0", "[0,1]", "input dropout rate (only 0 is supported yet)"},                      \
    {"recurrent_dropout", CK_FLOAT, "0", "[0,1]", "recurrent dropout rate (only 0 is supported yet)"},        \
    {"seed", CK_INT, NULL, NULL, "seed of the dropout masks (Keras 3; accepted)", CK_W_NO_TF2 | CK_W_SET_ONLY}, \
    {"activity_regularizer", CK_STR, NULL, NULL, "(a layer's key)", CK_W_NEVER},                             \
    {"return_sequences", CK_BOOL, "false", NULL, "(a layer's key)", CK_W_NEVER},                              \
    {"return_state", CK_BOOL, "false", NULL, "(a layer's key)", CK_W_NEVER},                                  \
    {"go_backwards", CK_BOOL, "false", NULL, "(a layer's key)", CK_W_NEVER},                                  \
    {"time_major", CK_BOOL, "false", NULL, "(a layer's key)", CK_W_NEVER},

static const ck_field simple_rnn_cell_fields[] = {RNN_HEAD RNN_INITS CELL_TAIL};
static const ck_field lstm_cell_fields[] = {
    RNN_HEAD RNN_RACT RNN_INITS
    {"unit_forget_bias", CK_BOOL, "true", NULL, "forget-gate bias starts at 1 (with a zeros bias initializer)"},
    CELL_TAIL
};
static const ck_field gru_cell_fields[] = {
    RNN_HEAD RNN_RACT RNN_INITS
    {"reset_after", CK_BOOL, "true", NULL, "apply the reset gate after the recurrent product (Keras 2/3 default)"},
    CELL_TAIL
};

static const struct cell_class {
    const char *name, *base;
    ck_rnn_kind kind;
    const ck_field *fields;
    int nfields;
} cell_classes[] = {
    {"SimpleRNNCell", "simple_rnn_cell", CK_RNN_SIMPLE, simple_rnn_cell_fields,
     (int)(sizeof simple_rnn_cell_fields / sizeof simple_rnn_cell_fields[0])},
    {"LSTMCell", "lstm_cell", CK_RNN_LSTM, lstm_cell_fields, (int)(sizeof lstm_cell_fields / sizeof lstm_cell_fields[0])},
    {"GRUCell", "gru_cell", CK_RNN_GRU, gru_cell_fields, (int)(sizeof gru_cell_fields / sizeof gru_cell_fields[0])},
};

static const ck_field rnn_fields[] = {
    {"cell", CK_TREE, NULL, NULL, "the cell: {\"class_name\": \"LSTMCell\" (or SimpleRNNCell, GRUCell, "
     "StackedRNNCells with \"cells\": [...]), \"config\": {...}}"},
    {"return_sequences", CK_BOOL, "false", NULL, "output every step (batch, T, units), else the last"},
    {"return_state", CK_BOOL, "false", NULL, "also output the last states: [output, states of each cell...]"},
    {"go_backwards", CK_BOOL, "false", NULL, "process the sequence in reverse order"},
    {"stateful", CK_BOOL, "false", NULL, "not supported (must be false)"},
    {"unroll", CK_BOOL, "false", NULL, "accepted (no effect)"},
    {"zero_output_for_mask", CK_BOOL, "false", NULL, "with a mask and return_sequences: masked steps output "
     "zeros (else the last kept step's output)"},
    {"time_major", CK_BOOL, "false", NULL, "tf.keras 2 only; must be false", CK_W_NEVER},
    {"input_shape", CK_INTS, NULL, NULL, "per-sample input shape (timesteps, features)", CK_W_NEVER},
    /* Keras' Layer writes it only when set */
    {"activity_regularizer", CK_STR, NULL, NULL, "L1/L2 penalty on the output, added to the loss", CK_W_SET_ONLY},
};

#define RNN_MAX_CELLS 4

typedef struct rnn_cell {
    rnn_dir dir;
    ck_config cfg;     /* its Keras config (its initializer specs back the weights) */
    bool has_cfg, use_bias;
    int w0;            /* its first weight */
    int nst;           /* its states: h, and c for an LSTMCell */
    char name[CK_NAME_MAX];
    char path[CK_NAME_MAX]; /* Keras 3's object path below the layer: "cell", "cell/cells/lstm_cell_1" */
} rnn_cell;

typedef struct grnn_priv {
    int ncell;
    rnn_cell c[RNN_MAX_CELLS];
    bool seq, zero_out;
    int nst;           /* the states of all cells */
    bool states_in;    /* initial states given as inputs (all nst of them) */
    int64_t umax;      /* the largest units */
} grnn_priv;

static void grnn_clear(grnn_priv *p)
{
    for (int k = 0; k < RNN_MAX_CELLS; k++)
        if (p->c[k].has_cfg)
            ck_config_free(&p->c[k].cfg);
    memset(p, 0, sizeof *p);
}

static void grnn_free(ckeras_layer *l)
{
    if (l->priv)
        grnn_clear(l->priv);
    ck_free(l->priv);
    l->priv = NULL;
}

/* {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": null}, as
 * Keras 3 writes a nested layer; takes cfg. NULL when out of memory. */
static ck_tree *keras_layer_object(const char *cls, ck_tree *cfg)
{
    ck_tree *o = ck_tree_object();
    if (!o || !cfg || ck_tree_set(o, "module", ck_tree_str("keras.layers")) != CKERAS_OK ||
        ck_tree_set(o, "class_name", ck_tree_str(cls)) != CKERAS_OK) {
        ck_tree_free(o);
        ck_tree_free(cfg);
        return NULL;
    }
    if (ck_tree_set(o, "config", cfg) != CKERAS_OK || ck_tree_set(o, "registered_name", ck_tree_null()) != CKERAS_OK) {
        ck_tree_free(o);
        return NULL;
    }
    return o;
}

/* Reads cell k from spec {"class_name", "config"} into p->c[k] (a name no earlier cell has, as
 * Keras numbers them: lstm_cell, lstm_cell_1) and gives the spec as ckeras writes it in *norm. */
static ckeras_status grnn_parse_cell(const ckeras_layer *l, grnn_priv *p, int k, const ck_tree *spec, ck_tree **norm)
{
    rnn_cell *g = &p->c[k];
    const char *cn = spec ? ck_tree_string(ck_tree_get(spec, "class_name")) : NULL;
    const struct cell_class *cc = NULL;
    for (size_t i = 0; i < sizeof cell_classes / sizeof cell_classes[0]; i++)
        if (cn && strcmp(cn, cell_classes[i].name) == 0)
            cc = &cell_classes[i];
    if (!cc)
        return ck_error(CKERAS_EUNSUPPORTED, "RNN '%s': cell '%s' is not supported (SimpleRNNCell, LSTMCell, GRUCell "
                        "or a StackedRNNCells of them)", l->name, cn ? cn : "(no class_name)");
    ck_tree *cfg = ck_tree_copy(ck_tree_get(spec, "config"));
    if (!cfg || cfg->kind != CK_T_OBJECT) {
        ck_tree_free(cfg);
        return ck_error(CKERAS_EFORMAT, "RNN '%s': the %s has no \"config\" object", l->name, cn);
    }
    ckeras_status st = ck_config_init(&g->cfg, cc->fields, cc->nfields);
    if (st != CKERAS_OK) {
        ck_tree_free(cfg);
        return st;
    }
    g->has_cfg = true;
    g->dir.cell.kind = cc->kind;
    snprintf(g->name, sizeof g->name, "%s", cc->base);
    bool trainable = true;
    st = ck_config_from_tree(&g->cfg, cn, cfg, g->name, sizeof g->name, &trainable);
    ck_tree_free(cfg);
    if (st != CKERAS_OK) {
        ck_error_prefix("RNN '%s'", l->name);
        return st;
    }
    char base[CK_NAME_MAX];
    memcpy(base, g->name, sizeof base);
    for (int suffix = 1, j = 0; j < k; j++)
        if (strcmp(p->c[j].name, g->name) == 0) {
            snprintf(g->name, sizeof g->name, "%.50s_%d", base, suffix++);
            j = -1;
        }
    *norm = keras_layer_object(cn, ck_config_to_tree(&g->cfg, g->name, trainable, CK_PROFILE_TF2));
    return *norm ? CKERAS_OK : CKERAS_ENOMEM;
}

/* Reads the "cell" field into p (cells and their names) and puts it back as ckeras writes it. */
static ckeras_status grnn_cells(ckeras_layer *l, grnn_priv *p, char *stack, size_t stack_cap)
{
    const ck_tree *spec = ck_cfg_tree(&l->cfg, "cell");
    if (!spec)
        return ck_error(CKERAS_EINVAL, "RNN '%s': needs a cell (\"cell\": {\"class_name\": \"LSTMCell\", ...})",
                        l->name);
    const char *cn = ck_tree_string(ck_tree_get(spec, "class_name"));
    ck_tree *norm = NULL;
    ckeras_status st = CKERAS_OK;
    stack[0] = 0;
    if (cn && strcmp(cn, "StackedRNNCells") == 0) {
        const ck_tree *scfg = ck_tree_get(spec, "config");
        const ck_tree *cells = scfg ? ck_tree_get(scfg, "cells") : NULL;
        if (!cells || cells->kind != CK_T_LIST || cells->n < 1)
            return ck_error(CKERAS_EFORMAT, "RNN '%s': StackedRNNCells needs a non-empty \"cells\" list", l->name);
        if (cells->n > RNN_MAX_CELLS)
            return ck_error(CKERAS_EUNSUPPORTED, "RNN '%s': StackedRNNCells of %d cells (at most %d are supported)",
                            l->name, cells->n, RNN_MAX_CELLS);
        const char *sn = ck_tree_string(ck_tree_get(scfg, "name"));
        snprintf(stack, stack_cap, "%s", sn && *sn ? sn : "stacked_rnn_cells");
        ck_tree *list = ck_tree_list(), *scfg_out = ck_tree_object();
        if (!list || !scfg_out)
            st = CKERAS_ENOMEM;
        for (int k = 0; k < cells->n && st == CKERAS_OK; k++) {
            ck_tree *one = NULL;
            p->ncell = k + 1;
            if ((st = grnn_parse_cell(l, p, k, cells->items[k], &one)) == CKERAS_OK)
                st = ck_tree_push(list, one);
        }
        if (st == CKERAS_OK && (ck_tree_set(scfg_out, "name", ck_tree_str(stack)) != CKERAS_OK ||
                                ck_tree_set(scfg_out, "trainable", ck_tree_bool(true)) != CKERAS_OK ||
                                ck_tree_set(scfg_out, "dtype", ck_tree_str("float32")) != CKERAS_OK))
            st = CKERAS_ENOMEM;
        if (st == CKERAS_OK) {
            st = ck_tree_set(scfg_out, "cells", list);
            list = NULL;
        }
        if (st == CKERAS_OK) {
            norm = keras_layer_object("StackedRNNCells", scfg_out);
            scfg_out = NULL;
            st = norm ? CKERAS_OK : CKERAS_ENOMEM;
        }
        ck_tree_free(list);
        ck_tree_free(scfg_out);
    } else {
        p->ncell = 1;
        st = grnn_parse_cell(l, p, 0, spec, &norm);
    }
    if (st == CKERAS_OK)
        st = ck_config_set_tree(&l->cfg, "RNN", "cell", norm);
    ck_tree_free(norm);
    return st;
}

static ckeras_status grnn_build_multi(ckeras_layer *l, const ck_shape *ins, int nin, ck_shape *out)
{
    grnn_priv *p = l->priv;
    if (!p) {
        p = ck_calloc(1, sizeof *p);
        if (!p)
            return CKERAS_ENOMEM;
        l->priv = p;
    }
    grnn_clear(p);
    if (ck_cfg_bool(&l->cfg, "stateful"))
        return ck_error(CKERAS_EUNSUPPORTED, "RNN '%s': stateful=True is not supported (states are not carried "
                        "between batches)", l->name);
    if (ck_cfg_bool(&l->cfg, "time_major"))
        return ck_error(CKERAS_EUNSUPPORTED, "RNN '%s': time_major=True is not supported (inputs are batch-major)",
                        l->name);
    char stack[CK_NAME_MAX];
    ckeras_status st = grnn_cells(l, p, stack, sizeof stack);
    if (st != CKERAS_OK)
        return st;
    char what[CK_NAME_MAX + 96];
    bool go_back = ck_cfg_bool(&l->cfg, "go_backwards");
    ck_shape in = ins[0];
    for (int k = 0; k < p->ncell; k++) {
        rnn_cell *g = &p->c[k];
        snprintf(what, sizeof what, "RNN '%s': %s '%s'", l->name, cell_classes[g->dir.cell.kind == CK_RNN_SIMPLE ? 0
                 : g->dir.cell.kind == CK_RNN_LSTM ? 1 : 2].name, g->name);
        bool seq;
        if ((st = rnn_setup(g->dir.cell.kind, &g->cfg, l->keras2, what, &in, &g->dir, &seq, true, true)) != CKERAS_OK)
            return st;
        g->dir.cell.go_backwards = go_back;
        g->use_bias = ck_cfg_bool(&g->cfg, "use_bias");
        g->nst = g->dir.cell.kind == CK_RNN_LSTM ? 2 : 1;
        g->w0 = l->nw;
        char prefix[2 * CK_NAME_MAX + 4];
        if (stack[0]) {
            snprintf(prefix, sizeof prefix, "%s/%s/", stack, g->name);
            /* Keras 3 names the objects of a list by class, numbered from the second of a class */
            int before = 0;
            for (int j = 0; j < k; j++)
                before += p->c[j].dir.cell.kind == g->dir.cell.kind;
            const char *snake = cell_classes[g->dir.cell.kind == CK_RNN_SIMPLE ? 0 : g->dir.cell.kind == CK_RNN_LSTM
                                             ? 1 : 2].base;
            if (before)
                snprintf(g->path, sizeof g->path, "cell/cells/%s_%d", snake, before);
            else
                snprintf(g->path, sizeof g->path, "cell/cells/%s", snake);
        } else {
            snprintf(prefix, sizeof prefix, "%s/", g->name);
            snprintf(g->path, sizeof g->path, "cell");
        }
        if ((st = add_cell_weights(l, &g->dir.cell, g->use_bias, prefix, &g->cfg)) != CKERAS_OK)
            return st;
        p->nst += g->nst;
        p->umax = g->dir.cell.U > p->umax ? g->dir.cell.U : p->umax;
        in = (ck_shape){2, {in.d[0], g->dir.cell.U}};
    }
    snprintf(what, sizeof what, "RNN '%s'", l->name);
    if (nin != 1 && nin != 1 + p->nst)
        return ck_error(CKERAS_ESHAPE, "%s: called on %d tensors; give the sequence, optionally with its %d initial "
                        "states", what, nin, p->nst);
    for (int k = 0, s = 1; k < p->ncell && nin > 1; k++)
        for (int j = 0; j < p->c[k].nst; j++, s++)
            if (ins[s].ndim != 1 || ins[s].d[0] != p->c[k].dir.cell.U) {
                char b[96];
                return ck_error(CKERAS_ESHAPE, "%s: initial state %d has shape %s, expected (None, %lld)", what, s,
                                ck_shape_str(&ins[s], true, b, sizeof b), (long long)p->c[k].dir.cell.U);
            }
    p->states_in = nin > 1;
    p->seq = ck_cfg_bool(&l->cfg, "return_sequences");
    p->zero_out = ck_cfg_bool(&l->cfg, "zero_output_for_mask");
    const ck_rnn *last = &p->c[p->ncell - 1].dir.cell;
    out->ndim = p->seq ? 2 : 1;
    out->d[0] = p->seq ? last->T : last->U;
    out->d[1] = last->U;
    l->nout = 0;
    if (ck_cfg_bool(&l->cfg, "return_state")) {
        int nout = 1 + p->nst;
        if (nout > (int)(sizeof l->outs / sizeof l->outs[0]))
            return ck_error(CKERAS_EUNSUPPORTED, "%s: return_state=True with %d states (at most %d are supported)",
                            what, p->nst, (int)(sizeof l->outs / sizeof l->outs[0]) - 1);
        l->nout = nout;
        l->outs[0] = *out;
        int64_t size = ck_shape_size(out);
        for (int k = 0, s = 1; k < p->ncell; k++)
            for (int j = 0; j < p->c[k].nst; j++, s++) {
                l->outs[s] = (ck_shape){1, {p->c[k].dir.cell.U}};
                size = ck_size_add(size, p->c[k].dir.cell.U);
            }
        out->ndim = 1;
        out->d[0] = size;
    }
    return CKERAS_OK;
}

static ckeras_status grnn_build(ckeras_layer *l, const ck_shape *in, ck_shape *out)
{
    return grnn_build_multi(l, in, 1, out);
}

/* saved: each cell's (ck_rnn_saved_floats), then the inputs of the cells after the first
 * (n, T, U of the cell below) */
static int64_t grnn_saved(const ckeras_layer *l, int64_t n)
{
    const grnn_priv *p = l->priv;
    int64_t s = 0;
    for (int k = 0; k < p->ncell; k++) {
        const ck_rnn *c = &p->c[k].dir.cell;
        s = ck_size_add(s, ck_rnn_saved_floats(c, n));
        if (k + 1 < p->ncell)
            s = ck_size_add(s, ck_size_mul3(n, c->T, c->U));
    }
    return s;
}

static int64_t grnn_kernel_work(const grnn_priv *p, int64_t n)
{
    int64_t w = 0;
    for (int k = 0; k < p->ncell; k++) {
        int64_t wk = ck_rnn_work_floats(&p->c[k].dir.cell, n);
        w = wk > w ? wk : w;
    }
    return w;
}

/* work: the kernels' scratch (the largest cell's), then dhs (T, n, umax), the gradient of a
 * cell's input (n, T, umax), with return_state the plain output's gradient (n, T, umax) and a
 * last c's (n, umax) */
static int64_t grnn_work(const ckeras_layer *l, int64_t n)
{
    const grnn_priv *p = l->priv;
    int64_t tnu = ck_size_mul3(p->c[0].dir.cell.T, n, p->umax);
    int64_t w = ck_size_add(grnn_kernel_work(p, n), ck_size_mul(2, tnu));
    return l->nout > 1 ? ck_size_add(w, ck_size_add(tnu, ck_size_mul(n, p->umax))) : w;
}

static void grnn_forward(ckeras_layer *l, const ck_fwd *f)
{
    grnn_priv *p = l->priv;
    const int64_t n = f->n, T = p->c[0].dir.cell.T;
    float *xin = f->saved;
    for (int k = 0; k < p->ncell; k++)
        xin += ck_rnn_saved_floats(&p->c[k].dir.cell, n);
    const float *x = f->x;
    float *saved = f->saved;
    for (int k = 0, s0 = 1; k < p->ncell; k++) {
        rnn_cell *g = &p->c[k];
        ck_rnn *c = &g->dir.cell;
        bind_cell(l, c, g->w0, g->use_bias, false);
        apply_forget_bias(&g->dir, g->use_bias ? l->w[g->w0 + 2].data : NULL);
        c->mask = f->mask;
        const float *h0 = p->states_in ? f->xs[s0] : NULL, *c0 = p->states_in && g->nst > 1 ? f->xs[s0 + 1] : NULL;
        s0 += g->nst;
        ck_rnn_forward(c, n, x, h0, c0, saved, f->work);
        if (k + 1 < p->ncell) { /* the next cell reads step s at the time this one read it */
            const float *hs = ck_rnn_states(c, n, saved);
            int64_t U = c->U;
            for (int64_t s = 0; s < T; s++) {
                int64_t t = c->go_backwards ? T - 1 - s : s;
                for (int64_t i = 0; i < n; i++)
                    memcpy(xin + (i * T + t) * U, hs + (s + 1) * n * U + i * U, (size_t)U * sizeof(float));
            }
            x = xin;
            xin += n * T * U;
            saved += ck_rnn_saved_floats(c, n);
        }
    }
    const ck_rnn *c = &p->c[p->ncell - 1].dir.cell;
    const float *hs = ck_rnn_states(c, n, saved);
    if (l->nout <= 1) {
        states_to_output(c, n, hs, p->seq, false, p->zero_out, f->y, c->U, 0);
        return;
    }
    /* return_state: per sample [output | states of cell 0 | of cell 1 ...] */
    float *plain = f->work + grnn_kernel_work(p, n);
    states_to_output(c, n, hs, p->seq, false, p->zero_out, plain, c->U, 0);
    int64_t s0 = ck_shape_size(&l->outs[0]), P = ck_shape_size(&l->out_shape);
    for (int64_t i = 0; i < n; i++)
        memcpy(f->y + i * P, plain + i * s0, (size_t)s0 * sizeof(float));
    saved = f->saved;
    int64_t off = s0;
    for (int k = 0; k < p->ncell; k++) {
        const ck_rnn *ck = &p->c[k].dir.cell;
        int64_t U = ck->U;
        const float *hk = ck_rnn_states(ck, n, saved) + T * n * U, *ckc = ck_rnn_cells(ck, n, saved);
        for (int64_t i = 0; i < n; i++) {
            memcpy(f->y + i * P + off, hk + i * U, (size_t)U * sizeof(float));
            if (ckc)
                memcpy(f->y + i * P + off + U, ckc + T * n * U + i * U, (size_t)U * sizeof(float));
        }
        off += p->c[k].nst * U;
        saved += ck_rnn_saved_floats(ck, n);
    }
}

static void grnn_backward(ckeras_layer *l, const ck_bwd *b)
{
    grnn_priv *p = l->priv;
    const int64_t n = b->n, T = p->c[0].dir.cell.T, tnu = T * n * p->umax;
    float *dhs = b->work + grnn_kernel_work(p, n), *dxk = dhs + tnu, *dplain = dxk + tnu, *dcl = dplain + tnu;
    /* where each cell's saved values, input and states start */
    float *saved[RNN_MAX_CELLS];
    const float *xs[RNN_MAX_CELLS];
    int64_t soff[RNN_MAX_CELLS];
    int sidx[RNN_MAX_CELLS];
    float *sv = b->saved, *xin = b->saved;
    for (int k = 0; k < p->ncell; k++)
        xin += ck_rnn_saved_floats(&p->c[k].dir.cell, n);
    int64_t off = l->nout > 1 ? ck_shape_size(&l->outs[0]) : 0;
    for (int k = 0, s = 1; k < p->ncell; k++) {
        const ck_rnn *c = &p->c[k].dir.cell;
        saved[k] = sv;
        sv += ck_rnn_saved_floats(c, n);
        xs[k] = k == 0 ? b->x : xin;
        if (k > 0)
            xin += n * T * p->c[k - 1].dir.cell.U;
        soff[k] = off;
        off += p->c[k].nst * c->U;
        sidx[k] = s;
        s += p->c[k].nst;
    }
    int64_t P = ck_shape_size(&l->out_shape);
    for (int k = p->ncell - 1; k >= 0; k--) {
        rnn_cell *g = &p->c[k];
        ck_rnn *c = &g->dir.cell;
        const int64_t U = c->U;
        bind_cell(l, c, g->w0, g->use_bias, b->train_weights);
        c->mask = b->mask;
        if (k == p->ncell - 1 && l->nout <= 1) {
            output_to_dstates(c, n, b->dy, p->seq, false, p->zero_out, U, 0, 1.0f, NULL, 0, 0, dhs);
        } else if (k == p->ncell - 1) {
            int64_t s0 = ck_shape_size(&l->outs[0]);
            for (int64_t i = 0; i < n; i++)
                memcpy(dplain + i * s0, b->dy + i * P, (size_t)s0 * sizeof(float));
            output_to_dstates(c, n, dplain, p->seq, false, p->zero_out, U, 0, 1.0f, NULL, 0, 0, dhs);
        } else { /* the gradient of the next cell's input, back in this cell's step order */
            for (int64_t s = 0; s < T; s++) {
                int64_t t = c->go_backwards ? T - 1 - s : s;
                for (int64_t i = 0; i < n; i++)
                    memcpy(dhs + s * n * U + i * U, dxk + (i * T + t) * U, (size_t)U * sizeof(float));
            }
        }
        c->dc_last = NULL;
        if (l->nout > 1) { /* the last states' gradients join the last step's */
            float *lastd = dhs + (T - 1) * n * U;
            for (int64_t i = 0; i < n; i++) {
                const float *row = b->dy + i * P + soff[k];
                for (int64_t u = 0; u < U; u++)
                    lastd[i * U + u] += row[u];
                if (g->nst > 1)
                    memcpy(dcl + i * U, row + U, (size_t)U * sizeof(float));
            }
            c->dc_last = g->nst > 1 ? dcl : NULL;
        }
        float *dh0 = p->states_in && b->dxs ? b->dxs[sidx[k]] : NULL;
        float *dc0 = p->states_in && b->dxs && g->nst > 1 ? b->dxs[sidx[k] + 1] : NULL;
        ck_rnn_backward(c, n, xs[k], dhs, k == 0 ? b->dx : dxk, 0.0f, dh0, dc0, saved[k], b->work);
        c->dc_last = NULL;
    }
}

static ck_mask_mode grnn_mask_mode(const ckeras_layer *l)
{
    const grnn_priv *p = l->priv;
    return p && p->seq ? CK_MASK_PASS : CK_MASK_DROP;
}

static const char *grnn_var_path(const ckeras_layer *l, int k)
{
    const grnn_priv *p = l->priv;
    int j = 0;
    while (j + 1 < p->ncell && k >= p->c[j + 1].w0)
        j++;
    return p->c[j].path;
}

const ck_layer_vt ck_rnn_vt = {
    .class_name = "RNN",
    .base_name = "rnn",
    .fields = rnn_fields,
    .nfields = sizeof rnn_fields / sizeof rnn_fields[0],
    .build = grnn_build,
    .build_multi = grnn_build_multi,
    .saved_floats = grnn_saved,
    .work_floats = grnn_work,
    .forward = grnn_forward,
    .backward = grnn_backward,
    .free_priv = grnn_free,
    .extra_inputs_kwarg = "initial_state",
    .keras3_var_path = grnn_var_path,
    .mask_mode = grnn_mask_mode,
};
