/* Recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) and Embedding: forwards against
 * PyTorch / NumPy references (tests/ref/recurrent_ref.py -> tests/fixtures/recurrent/cases.json),
 * central finite differences of every backward (inputs, initial states, every weight), Keras'
 * unit_forget_bias, refusals of what is not supported, and small models trained with fit. */
#include "model/model.h"
#include "io/io.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a layer outside a model, with up to three inputs ------------------------------------------ */

typedef struct harness {
    ckeras_layer *l;
    int64_t n;
    int nin;
    int64_t in_size[3], out_size;
    float *xs[3], *dxs[3], *y, *dy, *saved, *work;
} harness;

static void *xcalloc(int64_t n)
{
    void *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

static void h_init(harness *h, ckeras_layer *l, const ck_shape *ins, int nin, int64_t n)
{
    ck_assert_ptr_nonnull(l);
    memset(h, 0, sizeof *h);
    ckeras_status st = ck_layer_build_multi(l, ins, nin);
    ck_assert_msg(st == CKERAS_OK, "build: %s", ckeras_last_error());
    h->l = l;
    h->n = n;
    h->nin = nin;
    for (int k = 0; k < nin; k++) {
        h->in_size[k] = n * ck_shape_size(&ins[k]);
        h->xs[k] = xcalloc(h->in_size[k]);
        h->dxs[k] = xcalloc(h->in_size[k]);
    }
    h->out_size = n * ck_shape_size(&l->out_shape);
    h->y = xcalloc(h->out_size);
    h->dy = xcalloc(h->out_size);
    h->saved = xcalloc(l->vt->saved_floats ? l->vt->saved_floats(l, n) : 0);
    h->work = xcalloc(l->vt->work_floats ? l->vt->work_floats(l, n) : 0);
    for (int i = 0; i < l->nw; i++) {
        l->w[i].data = xcalloc(l->w[i].size);
        l->w[i].grad = xcalloc(l->w[i].size);
    }
}

static void h_free(harness *h)
{
    for (int i = 0; i < h->l->nw; i++) {
        free(h->l->w[i].data);
        free(h->l->w[i].grad);
        h->l->w[i].data = h->l->w[i].grad = NULL;
    }
    for (int k = 0; k < h->nin; k++) {
        free(h->xs[k]);
        free(h->dxs[k]);
    }
    free(h->y);
    free(h->dy);
    free(h->saved);
    free(h->work);
    ck_layer_free(h->l);
}

static void h_forward(harness *h)
{
    ck_fwd f = {.n = h->n, .x = h->xs[0], .y = h->y, .saved = h->saved, .work = h->work, .training = true,
                .nin = h->nin, .xs = (const float *const *)h->xs};
    h->l->vt->forward(h->l, &f);
}

static void h_backward(harness *h, const float *R, bool want_dx)
{
    memcpy(h->dy, R, (size_t)h->out_size * sizeof(float));
    float *dxs[3] = {want_dx ? h->dxs[0] : NULL, want_dx ? h->dxs[1] : NULL, want_dx ? h->dxs[2] : NULL};
    ck_bwd b = {.n = h->n, .x = h->xs[0], .y = h->y, .dy = h->dy, .dx = dxs[0], .saved = h->saved,
                .work = h->work, .train_weights = true, .nin = h->nin, .xs = (const float *const *)h->xs,
                .dxs = dxs};
    h->l->vt->backward(h->l, &b);
}

static double dot_loss(harness *h, const float *R)
{
    h_forward(h);
    double s = 0;
    for (int64_t i = 0; i < h->out_size; i++)
        s += (double)h->y[i] * R[i];
    return s;
}

static uint64_t lcg = 4242;
static double urand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static void fill(float *v, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * urand());
}

static void fd_against(harness *h, float *v, int64_t nv, const float *g, const float *R, const char *what)
{
    const double eps = 1e-3, atol = 2e-3, rtol = 1e-2;
    for (int64_t i = 0; i < nv; i++) {
        float keep = v[i];
        v[i] = (float)(keep + eps);
        double lp = dot_loss(h, R);
        v[i] = (float)(keep - eps);
        double lm = dot_loss(h, R);
        v[i] = keep;
        double num = (lp - lm) / (2 * eps);
        ck_assert_msg(fabs(num - g[i]) <= atol + rtol * fabs(num), "%s: element %lld analytic %.7g, numeric %.7g",
                      what, (long long)i, (double)g[i], num);
    }
}

/* Random weights and inputs, then every gradient against central differences. with_dx: random
 * inputs and their gradients checked; otherwise the inputs are the caller's (Embedding's
 * indices, which have no gradient). */
static void fd_check(harness *h, bool with_dx, const char *what)
{
    for (int k = 0; with_dx && k < h->nin; k++)
        fill(h->xs[k], h->in_size[k], -1, 1);
    for (int i = 0; i < h->l->nw; i++)
        fill(h->l->w[i].data, h->l->w[i].size, -0.6, 0.6);
    float *R = xcalloc(h->out_size);
    fill(R, h->out_size, -1, 1);
    h_forward(h);
    h_backward(h, R, true);
    float *dx[3] = {0}, *g[CK_MAX_WEIGHTS] = {0};
    for (int k = 0; k < h->nin; k++) {
        dx[k] = xcalloc(h->in_size[k]);
        memcpy(dx[k], h->dxs[k], (size_t)h->in_size[k] * sizeof(float));
    }
    for (int i = 0; i < h->l->nw; i++) {
        g[i] = xcalloc(h->l->w[i].size);
        memcpy(g[i], h->l->w[i].grad, (size_t)h->l->w[i].size * sizeof(float));
    }
    char buf[160];
    for (int k = 0; with_dx && k < h->nin; k++) {
        snprintf(buf, sizeof buf, "%s d(input %d)", what, k);
        fd_against(h, h->xs[k], h->in_size[k], dx[k], R, buf);
    }
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%s d%s", what, h->l->w[i].name);
        fd_against(h, h->l->w[i].data, h->l->w[i].size, g[i], R, buf);
    }
    /* without dx the weight gradients come out the same */
    h_forward(h);
    h_backward(h, R, false);
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%s d%s without dx", what, h->l->w[i].name);
        tu_assert_close(h->l->w[i].grad, g[i], (size_t)h->l->w[i].size, 1e-6, 1e-5, buf);
        free(g[i]);
    }
    for (int k = 0; k < h->nin; k++)
        free(dx[k]);
    free(R);
}

/* ---- making layers ------------------------------------------------------------------------------ */

static ckeras_layer *layer_json(const char *cls, const char *json)
{
    const ck_layer_vt *vt = ck_layer_lookup(cls);
    ck_assert_msg(vt != NULL, "%s is not registered", cls);
    ckeras_layer *l = ck_layer_new(vt);
    ck_assert_ptr_nonnull(l);
    snprintf(l->name, sizeof l->name, "%s_under_test", vt->base_name);
    ck_tree *cfg = ck_tree_from_json(json, cls);
    ck_assert_msg(cfg != NULL, "%s", ckeras_last_error());
    ck_assert_msg(ck_config_from_tree(&l->cfg, cls, cfg, NULL, 0, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ck_tree_free(cfg);
    return l;
}

/* Bidirectional around inner_cfg of class inner; "layer" holds the inner layer's config tree */
static ckeras_layer *bidi(const char *inner, const char *inner_cfg, const char *merge)
{
    ckeras_layer *l = layer_json("Bidirectional", "{}");
    char lay[400];
    snprintf(lay, sizeof lay, "{\"class_name\": \"%s\", \"config\": %s}", inner, inner_cfg);
    ck_tree *spec = ck_tree_from_json(lay, "test");
    ck_assert_ptr_nonnull(spec);
    ck_assert_int_eq(ck_config_set_tree(&l->cfg, "Bidirectional", "layer", spec), CKERAS_OK);
    ck_tree_free(spec);
    ck_assert_int_eq(ck_config_set_str(&l->cfg, "Bidirectional", "merge_mode", merge), CKERAS_OK);
    return l;
}

/* ---- forwards against the references ------------------------------------------------------------ */

static char *case_layer_json(json_t *c)
{
    static char buf[512];
    int len = snprintf(buf, sizeof buf, "{\"units\": %d", (int)tu_number(tu_get(c, "units")));
    static const char *const bools[] = {"return_sequences", "go_backwards", "reset_after", "use_bias"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(c, bools[i]);
        if (v)
            len += snprintf(buf + len, sizeof buf - (size_t)len, ", \"%s\": %s", bools[i],
                            json_is_true(v) ? "true" : "false");
    }
    static const char *const strs[] = {"activation", "recurrent_activation"};
    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(c, strs[i]);
        if (v)
            len += snprintf(buf + len, sizeof buf - (size_t)len, ", \"%s\": \"%s\"", strs[i], json_string_value(v));
    }
    snprintf(buf + len, sizeof buf - (size_t)len, "}");
    return buf;
}

static void run_case(const char *name)
{
    json_t *root = tu_load_json("recurrent/cases.json");
    json_t *c = tu_get(root, name);
    const char *cls = json_string_value(tu_get(c, "cls"));
    size_t nx;
    int64_t xs[4];
    int xnd;
    float *x = tu_floats(tu_get(c, "x"), &nx, xs, &xnd);
    ckeras_layer *l;
    if (strcmp(cls, "Embedding") == 0) {
        char j[128];
        snprintf(j, sizeof j, "{\"input_dim\": %d, \"output_dim\": %d}", (int)tu_number(tu_get(c, "input_dim")),
                 (int)tu_number(tu_get(c, "output_dim")));
        l = layer_json(cls, j);
    } else if (strcmp(cls, "Bidirectional") == 0) {
        l = bidi(json_string_value(tu_get(c, "inner")), case_layer_json(c),
                 json_string_value(tu_get(c, "merge_mode")));
    } else {
        l = layer_json(cls, case_layer_json(c));
    }
    l->keras2 = json_is_true(json_object_get(c, "keras2"));
    ck_shape ins[3];
    int nin = 1;
    ins[0].ndim = xnd - 1;
    for (int k = 1; k < xnd; k++)
        ins[0].d[k - 1] = xs[k];
    float *states[2] = {0};
    static const char *const snames[] = {"h0", "c0"};
    for (int k = 0; k < 2; k++) {
        json_t *s = json_object_get(c, snames[k]);
        if (!s)
            continue;
        size_t ns;
        int64_t ss[2];
        int snd;
        states[k] = tu_floats(s, &ns, ss, &snd);
        ins[nin].ndim = 1;
        ins[nin].d[0] = ss[1];
        nin++;
    }
    harness h;
    h_init(&h, l, ins, nin, xs[0]);
    memcpy(h.xs[0], x, nx * sizeof(float));
    for (int k = 1; k < nin; k++)
        memcpy(h.xs[k], states[k - 1], (size_t)h.in_size[k] * sizeof(float));
    json_t *w = tu_get(c, "w");
    ck_assert_int_eq((int)json_array_size(w), l->nw);
    for (int i = 0; i < l->nw; i++) {
        size_t nw;
        float *v = tu_floats(json_array_get(w, (size_t)i), &nw, NULL, NULL);
        ck_assert_int_eq((int64_t)nw, l->w[i].size);
        memcpy(l->w[i].data, v, nw * sizeof(float));
        free(v);
    }
    size_t ny;
    float *y = tu_floats(tu_get(c, "y"), &ny, NULL, NULL);
    ck_assert_int_eq((int64_t)ny, h.out_size);
    h_forward(&h);
    tu_assert_close(h.y, y, ny, 2e-6, 2e-5, name);
    free(y);
    free(x);
    free(states[0]);
    free(states[1]);
    h_free(&h);
    json_decref(root);
}

static const char *const case_names[] = {
    "simple_rnn_seq", "simple_rnn_relu_last", "lstm_last", "lstm_backwards_seq", "lstm_hard_sigmoid_k2",
    "lstm_initial_state", "gru_reset_after_seq", "gru_initial_state", "gru_reset_before_last",
    "bidi_lstm_concat_seq", "bidi_gru_sum_last", "embedding",
};

START_TEST(forward_matches_reference)
{
    run_case(case_names[_i]);
}
END_TEST

/* ---- backward by finite differences ------------------------------------------------------------- */

typedef struct fd_case {
    const char *cls, *json;   /* Bidirectional: json is the inner config, inner is the class */
    const char *inner, *merge;
    int nstates;
} fd_case;

static const fd_case fd_cases[] = {
    {"SimpleRNN", "{\"units\": 3, \"return_sequences\": true}", NULL, NULL, 0},
    {"SimpleRNN", "{\"units\": 3, \"go_backwards\": true}", NULL, NULL, 0},
    {"LSTM", "{\"units\": 3, \"return_sequences\": true}", NULL, NULL, 0},
    {"LSTM", "{\"units\": 3}", NULL, NULL, 0},
    {"LSTM", "{\"units\": 3, \"return_sequences\": true, \"go_backwards\": true}", NULL, NULL, 0},
    {"LSTM", "{\"units\": 2, \"use_bias\": false, \"activation\": \"softsign\"}", NULL, NULL, 0},
    {"GRU", "{\"units\": 3, \"return_sequences\": true}", NULL, NULL, 0},
    {"GRU", "{\"units\": 3, \"reset_after\": false}", NULL, NULL, 0},
    {"GRU", "{\"units\": 3, \"reset_after\": false, \"go_backwards\": true, \"return_sequences\": true}", NULL,
     NULL, 0},
    {"LSTM", "{\"units\": 3, \"return_sequences\": true}", NULL, NULL, 2},
    {"GRU", "{\"units\": 3}", NULL, NULL, 1},
    {"SimpleRNN", "{\"units\": 3, \"return_sequences\": true}", NULL, NULL, 1},
    {"Bidirectional", "{\"units\": 3, \"return_sequences\": true, \"use_bias\": false}", "LSTM", "concat", 0},
    {"Bidirectional", "{\"units\": 3, \"use_bias\": false}", "GRU", "sum", 0},
    {"Bidirectional", "{\"units\": 3, \"return_sequences\": true, \"use_bias\": false}", "SimpleRNN", "ave", 0},
    {"Bidirectional", "{\"units\": 2, \"use_bias\": false}", "LSTM", "mul", 0},
    {"Bidirectional", "{\"units\": 2, \"use_bias\": false, \"reset_after\": false, \"return_sequences\": true}",
     "GRU", "concat", 0},
    {"Bidirectional", "{\"units\": 2, \"return_state\": true}", "LSTM", "concat", 0},
    {"Bidirectional", "{\"units\": 3, \"return_state\": true, \"return_sequences\": true}", "GRU", "mul", 0},
    {"Bidirectional", "{\"units\": 2, \"return_state\": true, \"return_sequences\": true}", "SimpleRNN", "ave",
     0},
};

START_TEST(backward_matches_finite_differences)
{
    const fd_case *fc = &fd_cases[_i];
    ckeras_layer *l = fc->inner ? bidi(fc->inner, fc->json, fc->merge) : layer_json(fc->cls, fc->json);
    const int64_t n = 2, T = 4, F = 3;
    ck_shape ins[3] = {{2, {T, F}}};
    int64_t U = (int64_t)atoi(strstr(fc->json, "\"units\": ") + 9);
    for (int k = 1; k <= fc->nstates; k++)
        ins[k] = (ck_shape){1, {U}};
    harness h;
    h_init(&h, l, ins, 1 + fc->nstates, n);
    char what[320];
    snprintf(what, sizeof what, "%s%s%s %s (%d states)", fc->cls, fc->inner ? "/" : "", fc->inner ? fc->inner : "",
             fc->json, fc->nstates);
    fd_check(&h, true, what);
    h_free(&h);
}
END_TEST

static ckeras_status build_status(const char *cls, const char *json, const ck_shape *in);

/* The generic RNN (cells, stacks of cells) and return_state: every output, states included,
 * weighted by R; initial states as inputs when su[0] > 0 (their units, one per state). */
typedef struct rnn_fd_case {
    const char *cls, *json;
    int64_t su[5];
} rnn_fd_case;

#define CELL(c, u, extra) "{\"class_name\": \"" c "\", \"config\": {\"units\": " #u extra "}}"
static const rnn_fd_case rnn_fd_cases[] = {
    {"RNN", "{\"cell\": " CELL("SimpleRNNCell", 3, "") "}", {0}},
    {"RNN", "{\"cell\": " CELL("LSTMCell", 3, "") ", \"return_sequences\": true, \"return_state\": true}", {0}},
    {"RNN", "{\"cell\": " CELL("GRUCell", 2, ", \"reset_after\": false") ", \"go_backwards\": true, "
     "\"return_state\": true}", {0}},
    {"RNN", "{\"cell\": " CELL("LSTMCell", 2, ", \"use_bias\": false") ", \"return_state\": true}", {2, 2}},
    {"RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": [" CELL("LSTMCell", 3, "")
     ", " CELL("GRUCell", 2, "") "]}}, \"return_sequences\": true}", {0}},
    {"RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": [" CELL("GRUCell", 2, "")
     ", " CELL("LSTMCell", 3, "") ", " CELL("SimpleRNNCell", 2, "") "]}}, \"return_state\": true, "
     "\"go_backwards\": true}", {0}},
    {"RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": [" CELL("GRUCell", 2, "")
     ", " CELL("SimpleRNNCell", 3, "") "]}}, \"return_state\": true, \"return_sequences\": true}", {2, 3}},
    {"LSTM", "{\"units\": 3, \"return_state\": true, \"go_backwards\": true}", {0}},
    {"GRU", "{\"units\": 3, \"return_state\": true, \"return_sequences\": true}", {3}},
    {"SimpleRNN", "{\"units\": 2, \"return_state\": true}", {0}},
};

START_TEST(rnn_cells_and_states_match_finite_differences)
{
    const rnn_fd_case *fc = &rnn_fd_cases[_i];
    ckeras_layer *l = layer_json(fc->cls, fc->json);
    const int64_t n = 2, T = 4, F = 3;
    ck_shape ins[6] = {{2, {T, F}}};
    int nin = 1;
    for (int k = 0; k < 5 && fc->su[k] > 0; k++)
        ins[nin++] = (ck_shape){1, {fc->su[k]}};
    harness h;
    ck_assert_int_le(nin, 3); /* the harness has three inputs */
    h_init(&h, l, ins, nin, n);
    char what[600];
    snprintf(what, sizeof what, "%s %s (%d inputs)", fc->cls, fc->json, nin);
    fd_check(&h, true, what);
    h_free(&h);
}
END_TEST

START_TEST(rnn_cell_equals_its_layer)
{
    /* RNN(LSTMCell(3)) computes LSTM(3): same weights, same outputs and states */
    const char *pairs[][2] = {
        {"{\"cell\": " CELL("LSTMCell", 3, ", \"recurrent_activation\": \"hard_sigmoid\"") ", \"return_state\": true,"
         " \"go_backwards\": true}",
         "{\"units\": 3, \"recurrent_activation\": \"hard_sigmoid\", \"return_state\": true, \"go_backwards\": true}"},
        {"{\"cell\": " CELL("GRUCell", 2, ", \"reset_after\": false") ", \"return_sequences\": true}",
         "{\"units\": 2, \"reset_after\": false, \"return_sequences\": true}"},
    };
    const char *cls[] = {"LSTM", "GRU"};
    for (int c = 0; c < 2; c++) {
        ck_shape in = {2, {5, 3}};
        harness a, b;
        h_init(&a, layer_json("RNN", pairs[c][0]), &in, 1, 2);
        h_init(&b, layer_json(cls[c], pairs[c][1]), &in, 1, 2);
        ck_assert_int_eq(a.l->nw, b.l->nw);
        ck_assert_int_eq(a.out_size, b.out_size);
        ck_assert_int_eq(a.l->nout, b.l->nout);
        fill(a.xs[0], a.in_size[0], -1, 1);
        memcpy(b.xs[0], a.xs[0], (size_t)a.in_size[0] * sizeof(float));
        for (int i = 0; i < a.l->nw; i++) {
            ck_assert_int_eq(a.l->w[i].size, b.l->w[i].size);
            fill(a.l->w[i].data, a.l->w[i].size, -0.6, 0.6);
            memcpy(b.l->w[i].data, a.l->w[i].data, (size_t)a.l->w[i].size * sizeof(float));
        }
        h_forward(&a);
        h_forward(&b);
        for (int64_t k = 0; k < a.out_size; k++)
            ck_assert_float_eq_tol(a.y[k], b.y[k], 1e-6);
        h_free(&a);
        h_free(&b);
    }
}
END_TEST

START_TEST(rnn_refusals)
{
    ck_shape in = {2, {5, 3}};
    ck_assert_int_eq(build_status("RNN", "{\"cell\": " CELL("LSTMCell", 2, "") ", \"stateful\": true}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "stateful"));
    ck_assert_int_eq(build_status("RNN", "{\"cell\": " CELL("ConvLSTMCell", 2, "") "}", &in), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "ConvLSTMCell"));
    ck_assert_int_eq(build_status("RNN", "{\"cell\": " CELL("GRUCell", 2, ", \"dropout\": 0.5") "}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("RNN", "{\"cell\": " CELL("GRUCell", 2, ", \"kernel_regularizer\": \"l7\"") "}",
                                  &in),
                     CKERAS_EINVAL);
    ck_assert_int_eq(build_status("RNN", "{}", &in), CKERAS_EINVAL);
    /* 3 LSTMCells have 6 states: 7 outputs with return_state, more than a layer has */
    ck_assert_int_eq(build_status("RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": ["
                                  CELL("LSTMCell", 2, "") ", " CELL("LSTMCell", 2, "") ", " CELL("LSTMCell", 2, "")
                                  "]}}, \"return_state\": true}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": ["
                                  CELL("LSTMCell", 2, "") ", " CELL("LSTMCell", 2, "") ", " CELL("LSTMCell", 2, "")
                                  "]}}}", &in),
                     CKERAS_OK);
    /* Keras' names: two unnamed LSTMCells become lstm_cell and lstm_cell_1 */
    ckeras_layer *l = layer_json("RNN", "{\"cell\": {\"class_name\": \"StackedRNNCells\", \"config\": {\"cells\": ["
                                 CELL("LSTMCell", 2, "") ", " CELL("LSTMCell", 2, "") "]}}}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_OK);
    ck_assert_int_eq(l->nw, 6);
    ck_assert_str_eq(l->w[0].name, "stacked_rnn_cells/lstm_cell/kernel");
    ck_assert_str_eq(l->w[5].name, "stacked_rnn_cells/lstm_cell_1/bias");
    ck_assert_str_eq(l->vt->keras3_var_path(l, 4), "cell/cells/lstm_cell_1"); /* by class, as Keras 3 */
    ck_layer_free(l);
}
END_TEST

/* ConvLSTM2D / ConvLSTM1D: every output (states included) against central differences */
typedef struct conv_lstm_fd_case {
    const char *cls, *json;
    ck_shape in;
} conv_lstm_fd_case;

static const conv_lstm_fd_case conv_lstm_fd_cases[] = {
    {"ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 2}", {4, {3, 3, 4, 2}}},
    {"ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": [3, 2], \"padding\": \"same\", \"return_sequences\": true, "
     "\"return_state\": true}", {4, {3, 4, 3, 1}}},
    {"ConvLSTM2D", "{\"filters\": 1, \"kernel_size\": 3, \"strides\": [2, 1], \"padding\": \"same\", "
     "\"go_backwards\": true, \"return_state\": true, \"activation\": \"softsign\"}", {4, {2, 5, 3, 2}}},
    {"ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 2, \"dilation_rate\": 2, \"use_bias\": false, "
     "\"return_sequences\": true}", {4, {3, 4, 4, 1}}},
    {"ConvLSTM1D", "{\"filters\": 3, \"kernel_size\": 3}", {3, {3, 5, 2}}},
    {"ConvLSTM1D", "{\"filters\": 2, \"kernel_size\": 2, \"strides\": 2, \"padding\": \"same\", "
     "\"return_sequences\": true, \"return_state\": true, \"go_backwards\": true}", {3, {3, 5, 2}}},
    {"ConvLSTM3D", "{\"filters\": 2, \"kernel_size\": [2, 2, 1]}", {5, {2, 3, 3, 2, 1}}},
    {"ConvLSTM3D", "{\"filters\": 1, \"kernel_size\": [3, 1, 2], \"strides\": [2, 1, 1], \"padding\": \"same\", "
     "\"return_sequences\": true, \"return_state\": true, \"go_backwards\": true}", {5, {2, 3, 2, 3, 2}}},
    {"ConvLSTM3D", "{\"filters\": 1, \"kernel_size\": 2, \"dilation_rate\": [2, 1, 1], \"use_bias\": false}",
     {5, {2, 4, 2, 2, 1}}},
};

START_TEST(conv_lstm_matches_finite_differences)
{
    const conv_lstm_fd_case *fc = &conv_lstm_fd_cases[_i];
    harness h;
    h_init(&h, layer_json(fc->cls, fc->json), &fc->in, 1, 2);
    char what[400];
    snprintf(what, sizeof what, "%s %s", fc->cls, fc->json);
    fd_check(&h, true, what);
    h_free(&h);
}
END_TEST

START_TEST(conv_lstm_shapes_and_refusals)
{
    ck_shape in = {4, {3, 6, 5, 2}};
    ckeras_layer *l = layer_json("ConvLSTM2D", "{\"filters\": 4, \"kernel_size\": 3, \"strides\": 2, "
                                 "\"return_sequences\": true, \"return_state\": true}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_OK);
    ck_assert_int_eq(l->nout, 3);
    ck_assert_int_eq(l->outs[0].ndim, 4); /* (T, 2, 2, 4) */
    ck_assert_int_eq(l->outs[0].d[0], 3);
    ck_assert_int_eq(l->outs[0].d[1], 2);
    ck_assert_int_eq(l->outs[0].d[2], 2);
    ck_assert_int_eq(l->outs[2].d[2], 4);
    ck_assert_int_eq(l->w[0].shape.ndim, 4); /* kernel (3, 3, 2, 16), recurrent (3, 3, 4, 16) */
    ck_assert_int_eq(l->w[0].shape.d[3], 16);
    ck_assert_int_eq(l->w[1].shape.d[2], 4);
    ck_assert_int_eq(l->w[2].shape.d[0], 16);
    ck_layer_free(l);
    ck_assert_int_eq(build_status("ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 3, \"stateful\": true}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "stateful"));
    ck_assert_int_eq(build_status("ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 3, \"dropout\": 0.1}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 3, \"data_format\": "
                                  "\"channels_first\"}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 7}", &in), CKERAS_ESHAPE);
    ck_shape in1 = {3, {3, 6, 2}};
    ck_assert_int_eq(build_status("ConvLSTM2D", "{\"filters\": 2, \"kernel_size\": 3}", &in1), CKERAS_ESHAPE);
    ck_assert_int_eq(build_status("ConvLSTM1D", "{\"filters\": 2, \"kernel_size\": 3}", &in1), CKERAS_OK);
    ck_assert_int_eq(build_status("ConvLSTM1D", "{\"filters\": 2, \"kernel_size\": 3, \"padding\": \"causal\"}",
                                  &in1),
                     CKERAS_EINVAL);
}
END_TEST

START_TEST(embedding_backward_scatters)
{
    ckeras_layer *l = layer_json("Embedding", "{\"input_dim\": 5, \"output_dim\": 3}");
    harness h;
    ck_shape in = {1, {6}};
    h_init(&h, l, &in, 1, 2);
    static const float idx[12] = {0, 1, 1, 4, 9, 2, 3, 3, 3, -2, 0, 4};
    memcpy(h.xs[0], idx, sizeof idx);
    fd_check(&h, false, "Embedding (repeated and out-of-range indices)");
    float R[36];
    for (int i = 0; i < 36; i++)
        R[i] = (float)(i + 1);
    memcpy(h.xs[0], idx, sizeof idx);
    h_forward(&h);
    h_backward(&h, R, true);
    /* row 3 was read at positions 6, 7, 8: its gradient is the sum of those dy rows */
    for (int d = 0; d < 3; d++)
        ck_assert_float_eq_tol(h.l->w[0].grad[3 * 3 + d], R[6 * 3 + d] + R[7 * 3 + d] + R[8 * 3 + d], 1e-4);
    for (int k = 0; k < 12; k++)
        ck_assert_float_eq(h.dxs[0][k], 0.0f);
    /* index 9 is out of range: zeros */
    for (int d = 0; d < 3; d++)
        ck_assert_float_eq(h.y[4 * 3 + d], 0.0f);
    h_free(&h);
}
END_TEST

/* ---- settings, refusals --------------------------------------------------------------------------- */

static ckeras_status build_status(const char *cls, const char *json, const ck_shape *in)
{
    ckeras_layer *l = layer_json(cls, json);
    ckeras_status st = ck_layer_build(l, in);
    ck_layer_free(l);
    return st;
}

START_TEST(unsupported_settings_are_refused)
{
    ck_shape in = {2, {5, 3}};
    /* return_state, also inside a Bidirectional: [output, 2 forward states, 2 backward states] */
    ckeras_layer *bl = layer_json("Bidirectional", "{\"layer\": {\"class_name\": \"LSTM\", \"config\": "
                                  "{\"units\": 4, \"return_state\": true}}}");
    ck_assert_int_eq(ck_layer_build(bl, &in), CKERAS_OK);
    ck_assert_int_eq(bl->nout, 5);
    ck_assert_int_eq(bl->outs[0].d[0], 8);
    ck_assert_int_eq(bl->outs[4].d[0], 4);
    ck_layer_free(bl);
    ck_assert_int_eq(build_status("GRU", "{\"units\": 4, \"dropout\": 0.2}", &in), CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("SimpleRNN", "{\"units\": 4, \"recurrent_dropout\": 0.1}", &in),
                     CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(build_status("LSTM", "{\"units\": 4, \"time_major\": true}", &in), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_null(ckeras_layer_from_config("LSTM", "{\"units\": 0}")); /* refused by the schema */
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "units"));
    /* mask_zero is supported (test_mask.c) */
    ck_assert_int_eq(build_status("Embedding", "{\"input_dim\": 4, \"output_dim\": 2, \"mask_zero\": true}", &in),
                     CKERAS_OK);
    ck_shape flat = {1, {5}};
    ck_assert_int_eq(build_status("LSTM", "{\"units\": 4}", &flat), CKERAS_ESHAPE);
    /* stateful is accepted (computed statelessly) */
    ck_assert_int_eq(build_status("GRU", "{\"units\": 4, \"stateful\": true}", &in), CKERAS_OK);
    /* Bidirectional: the inner layer is a nested config, not a string; without one there is
     * nothing to wrap; merge_mode None is two outputs */
    ckeras_layer *l = layer_json("Bidirectional", "{}");
    ck_assert_int_eq(ck_config_set_str(&l->cfg, "Bidirectional", "layer", "LSTM(units=4)"), CKERAS_EINVAL);
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "needs a layer to wrap"));
    ck_layer_free(l);
    l = bidi("LSTM", "{\"units\": 2, \"use_bias\": false}", "concat");
    ck_config_set_none(&l->cfg, "Bidirectional", "merge_mode");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EUNSUPPORTED);
    ck_layer_free(l);
    l = bidi("Dense", "{\"units\": 2}", "concat");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EUNSUPPORTED);
    ck_layer_free(l);
    /* initial states must be (units,) */
    l = layer_json("GRU", "{\"units\": 4}");
    ck_shape two[2] = {{2, {5, 3}}, {1, {3}}};
    ck_assert_int_eq(ck_layer_build_multi(l, two, 2), CKERAS_ESHAPE);
    ck_layer_free(l);
}
END_TEST

START_TEST(bidirectional_with_biases)
{
    ck_shape in = {2, {4, 3}};
    ckeras_layer *l = bidi("LSTM", "{\"units\": 2}", "concat");
#if CK_MAX_WEIGHTS >= 6
    harness h;
    h_init(&h, l, &in, 1, 2);
    ck_assert_int_eq(l->nw, 6);
    fd_check(&h, true, "Bidirectional/LSTM with biases");
    h_free(&h);
#else
    /* six weights do not fit a layer yet: refused with the reason */
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "CK_MAX_WEIGHTS"));
    ck_layer_free(l);
#endif
}
END_TEST

/* Keras' unit_forget_bias: a new LSTM's bias is [0, 1, 0, 0] per gate block; the weights have
 * Keras' shapes. */
START_TEST(lstm_weights_and_forget_bias)
{
    ckeras_model *m = ckeras_sequential("s");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){5, 3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("LSTM", "{\"units\": 4}")), CKERAS_OK);
    ckeras_layer *l = m->g.nodes[0].layer;
    ck_assert_int_eq(l->nw, 3);
    ck_assert_int_eq(l->w[0].shape.d[0], 3);
    ck_assert_int_eq(l->w[0].shape.d[1], 16);
    ck_assert_int_eq(l->w[1].shape.d[0], 4);
    ck_assert_int_eq(l->w[1].shape.d[1], 16);
    ck_assert_int_eq(l->w[2].shape.d[0], 16);
    ckeras_tensor *x = ckeras_tensor_new(3, (const int64_t[]){2, 5, 3}), *y = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    for (int k = 0; k < 16; k++)
        ck_assert_float_eq(l->w[2].data[k], k >= 4 && k < 8 ? 1.0f : 0.0f);
    /* the recurrent kernel is orthogonal: R R^T = I (R is 4 x 16) */
    const float *R = l->w[1].data;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double s = 0;
            for (int k = 0; k < 16; k++)
                s += (double)R[i * 16 + k] * R[j * 16 + k];
            ck_assert_double_eq_tol(s, i == j ? 1.0 : 0.0, 1e-5);
        }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);

    /* GRU's reset_after bias is (2, 3U); without it (3U) */
    ckeras_layer *g = layer_json("GRU", "{\"units\": 2}");
    ck_shape in = {2, {5, 3}};
    ck_assert_int_eq(ck_layer_build(g, &in), CKERAS_OK);
    ck_assert_int_eq(g->w[2].shape.ndim, 2);
    ck_assert_int_eq(g->w[2].shape.d[0], 2);
    ck_assert_int_eq(g->w[2].shape.d[1], 6);
    ck_layer_free(g);
    g = layer_json("GRU", "{\"units\": 2, \"reset_after\": false}");
    ck_assert_int_eq(ck_layer_build(g, &in), CKERAS_OK);
    ck_assert_int_eq(g->w[2].shape.ndim, 1);
    ck_assert_int_eq(g->w[2].shape.d[0], 6);
    ck_layer_free(g);
}
END_TEST

/* ---- training ----------------------------------------------------------------------------------- */

static double last_loss(ckeras_history *hist, double *first)
{
    const double *v;
    int ne;
    ck_assert_int_eq(ckeras_history_values(hist, "loss", &v, &ne), CKERAS_OK);
    *first = v[0];
    return v[ne - 1];
}

/* Input (6, 1) -> LSTM(8) -> Dense(1) learns the mean of a sequence (MSE). */
START_TEST(lstm_learns_sequence_mean)
{
    const int64_t N = 256, T = 6;
    ckeras_tensor *x = ckeras_tensor_new(3, (const int64_t[]){N, T, 1}), *y = ckeras_tensor_new(2, (const int64_t[]){N, 1});
    float *xd = ckeras_tensor_data(x), *yd = ckeras_tensor_data(y);
    for (int64_t i = 0; i < N; i++) {
        double s = 0;
        for (int64_t t = 0; t < T; t++) {
            xd[i * T + t] = (float)(2 * urand() - 1);
            s += xd[i * T + t];
        }
        yd[i] = (float)(s / T);
    }
    ckeras_model *m = ckeras_sequential("seq_mean");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){T, 1})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("LSTM", "{\"units\": 8}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "mse", NULL), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 40);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ckeras_history *hist = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, fa, &hist) == CKERAS_OK, "%s", ckeras_last_error());
    double first, last = last_loss(hist, &first);
    printf("lstm_learns_sequence_mean: mse %.4f -> %.5f (variance of the target %.4f)\n", first, last,
           1.0 / (3.0 * T));
    ck_assert_msg(last < 0.1 * (1.0 / (3.0 * T)), "mse %g after 40 epochs", last);
    ckeras_history_free(hist);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* Embedding(5, 4) -> GRU(8) -> Dense(1, sigmoid): does token 1 occur in the sequence? */
START_TEST(embedding_gru_learns_token_presence)
{
    const int64_t N = 256, T = 6;
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){N, T}), *y = ckeras_tensor_new(2, (const int64_t[]){N, 1});
    float *xd = ckeras_tensor_data(x), *yd = ckeras_tensor_data(y);
    for (int64_t i = 0; i < N; i++) {
        bool has = urand() < 0.5;
        for (int64_t t = 0; t < T; t++)
            xd[i * T + t] = (float)(2 + (int)(urand() * 3)); /* tokens 2..4 */
        if (has)
            xd[i * T + (int64_t)(urand() * T)] = 1.0f;
        yd[i] = has ? 1.0f : 0.0f;
    }
    ckeras_model *m = ckeras_sequential("presence");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){T})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("Embedding", "{\"input_dim\": 5, \"output_dim\": 4}")),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("GRU", "{\"units\": 8}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.02), "binary_crossentropy", "accuracy"), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 30);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ckeras_history *hist = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, fa, &hist) == CKERAS_OK, "%s", ckeras_last_error());
    double first, last = last_loss(hist, &first);
    double res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, res, 2), CKERAS_OK);
    printf("embedding_gru_learns_token_presence: loss %.4f -> %.4f, accuracy %.3f\n", first, last, res[1]);
    ck_assert_msg(res[1] > 0.95, "accuracy %g", res[1]);
    ckeras_history_free(hist);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST


/* The typed constructors build a model; saved and loaded, it predicts the same. */
START_TEST(typed_constructors_and_save_load)
{
    ck_assert_ptr_null(ckeras_lstm(0, 0));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "units"));
    ck_assert_ptr_null(ckeras_embedding(5, 0));
    ck_assert_ptr_null(ckeras_bidirectional(ckeras_dense(3, NULL), "concat"));
    ck_assert_ptr_null(ckeras_bidirectional(ckeras_gru(3, 1), "max"));

    const int64_t T = 5;
    ckeras_model *m = ckeras_sequential("rnn_stack");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){T})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_embedding(7, 4)), CKERAS_OK);
    ckeras_layer *g = ckeras_gru(3, 1);
    ck_assert_int_eq(ckeras_layer_set_bool(g, "use_bias", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_bidirectional(g, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_simple_rnn(4, 1)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_lstm(2, 0)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    const ck_shape *os = ck_model_output_shape(m);
    ck_assert_int_eq(os->ndim, 1);
    ck_assert_int_eq(os->d[0], 1);
    ck_assert_int_eq(m->g.nodes[1].layer->out_shape.d[0], T);
    ck_assert_int_eq(m->g.nodes[1].layer->out_shape.d[1], 6); /* concat of 2 x 3 units */
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){3, T}), *y = NULL, *y2 = NULL;
    for (int i = 0; i < 3 * T; i++)
        ckeras_tensor_data(x)[i] = (float)(i % 7);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    char path[64];
    snprintf(path, sizeof path, "/tmp/ck_test_recurrent_%d.h5", (int)getpid());
    ck_assert_msg(ckeras_model_save(m, path, 0) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s", ckeras_last_error());
    remove(path);
    ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &y2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(y2), ckeras_tensor_data(y), 3, 0, 0, "predictions after save/load");
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(y2);
    ckeras_model_free(m);
    ckeras_model_free(m2);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("recurrent");
    TCase *t = tcase_create("layers");
    tcase_set_timeout(t, 120);
    tcase_add_loop_test(t, forward_matches_reference, 0, (int)(sizeof case_names / sizeof case_names[0]));
    tcase_add_loop_test(t, backward_matches_finite_differences, 0, (int)(sizeof fd_cases / sizeof fd_cases[0]));
    tcase_add_loop_test(t, rnn_cells_and_states_match_finite_differences, 0,
                        (int)(sizeof rnn_fd_cases / sizeof rnn_fd_cases[0]));
    tcase_add_test(t, rnn_cell_equals_its_layer);
    tcase_add_loop_test(t, conv_lstm_matches_finite_differences, 0,
                        (int)(sizeof conv_lstm_fd_cases / sizeof conv_lstm_fd_cases[0]));
    tcase_add_test(t, conv_lstm_shapes_and_refusals);
    tcase_add_test(t, rnn_refusals);
    tcase_add_test(t, embedding_backward_scatters);
    tcase_add_test(t, unsupported_settings_are_refused);
    tcase_add_test(t, bidirectional_with_biases);
    tcase_add_test(t, lstm_weights_and_forget_bias);
    tcase_add_test(t, typed_constructors_and_save_load);
    tcase_add_test(t, lstm_learns_sequence_mean);
    tcase_add_test(t, embedding_gru_learns_token_presence);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
