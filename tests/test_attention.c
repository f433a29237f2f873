/* EinsumDense, MultiHeadAttention, GroupedQueryAttention, Attention and AdditiveAttention: backward against central finite differences (every input
 * and every weight, for the equations and settings the layers support), the forward of
 * MultiHeadAttention against a direct evaluation of Keras' formula written here in double
 * precision, and the configs ckeras refuses, with their messages. Their values against real
 * Keras are in the layer catalogue (tests/fixtures/layers/attention, test_layer_catalogue). */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ckeras_layer *layer_cfg(const char *cls, const char *json)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, json);
    ck_assert_msg(l != NULL, "%s %s: %s", cls, json, ckeras_last_error());
    return l;
}

static ck_shape shape_of(int ndim, const int64_t *d)
{
    ck_shape s = {.ndim = ndim};
    for (int k = 0; k < ndim; k++)
        s.d[k] = d[k];
    return s;
}

/* ---- EinsumDense -------------------------------------------------------------------------------- */

START_TEST(einsum_dense_gradients_match_finite_differences)
{
    static const struct {
        const char *cfg;
        int ndim;
        int64_t in[4];
        int64_t out[5]; /* expected per-sample output shape (ndim in out[4]) */
        int64_t kernel[4], bias[4];
    } cases[] = {
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":4,\"bias_axes\":\"c\",\"activation\":\"sigmoid\"}", 1, {3},
         {4, 0, 0, 0, 1}, {2, 3, 4}, {1, 4}},
        {"{\"equation\":\"abc,cd->abd\",\"output_shape\":[null,4],\"bias_axes\":\"d\",\"activation\":\"tanh\"}", 2,
         {5, 3}, {5, 4, 0, 0, 2}, {2, 3, 4}, {1, 4}},
        {"{\"equation\":\"abc,cde->abde\",\"output_shape\":[4,2,3],\"bias_axes\":\"de\",\"activation\":\"softmax\"}",
         2, {4, 5}, {4, 2, 3, 0, 3}, {3, 5, 2, 3}, {2, 2, 3}},
        {"{\"equation\":\"abcd,cde->abe\",\"output_shape\":[null,3]}", 3, {4, 2, 3}, {4, 3, 0, 0, 2}, {3, 2, 3, 3},
         {0}},
        {"{\"equation\":\"...b,bc->...c\",\"output_shape\":4,\"bias_axes\":\"c\"}", 3, {2, 3, 5}, {2, 3, 4, 0, 3},
         {2, 5, 4}, {1, 4}},
        {"{\"equation\":\"ab...,bc->ac...\",\"output_shape\":[4],\"bias_axes\":\"c\"}", 2, {3, 5}, {4, 5, 0, 0, 2},
         {2, 3, 4}, {2, 4, 1}},
        {"{\"equation\":\"abc,dc->adb\",\"output_shape\":[5,null],\"bias_axes\":\"d\"}", 2, {3, 4}, {5, 3, 0, 0, 2},
         {2, 5, 4}, {2, 5, 1}},
        {"{\"equation\":\"abc,bcd->abd\",\"output_shape\":[3,5],\"bias_axes\":\"bd\"}", 2, {3, 4}, {3, 5, 0, 0, 2},
         {3, 3, 4, 5}, {2, 3, 5}},
        {"{\"equation\":\"abcd,dbe->aceb\",\"output_shape\":[3,2,4],\"bias_axes\":\"c\",\"activation\":\"tanh\"}", 3,
         {4, 3, 2}, {3, 2, 4, 4, 3}, {3, 2, 4, 2}, {3, 3, 1, 1}},
        /* three-axis cycles: the kernel's permutation (cdb -> bcd), x's (bcd -> cdb) */
        {"{\"equation\":\"abc,cdb->adb\",\"output_shape\":[5,3],\"bias_axes\":\"b\"}", 2, {3, 4}, {5, 3, 0, 0, 2},
         {3, 4, 5, 3}, {1, 3}},
        {"{\"equation\":\"abcd,dbe->aec\",\"output_shape\":[5,null]}", 3, {4, 3, 2}, {5, 3, 0, 0, 2}, {3, 2, 4, 5},
         {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        ck_shape in = shape_of(cases[c].ndim, cases[c].in);
        h_init(&h, layer_cfg("EinsumDense", cases[c].cfg), &in, 3);
        ckeras_layer *l = h.l;
        ck_assert_int_eq(l->out_shape.ndim, (int)cases[c].out[4]);
        for (int k = 0; k < l->out_shape.ndim; k++)
            ck_assert_msg(l->out_shape.d[k] == cases[c].out[k], "%s: output axis %d", cases[c].cfg, k);
        ck_assert_int_eq(l->nw, cases[c].bias[0] ? 2 : 1);
        ck_assert_str_eq(l->w[0].name, "kernel");
        ck_assert_int_eq(l->w[0].shape.ndim, (int)cases[c].kernel[0]);
        for (int k = 0; k < l->w[0].shape.ndim; k++)
            ck_assert_msg(l->w[0].shape.d[k] == cases[c].kernel[k + 1], "%s: kernel axis %d", cases[c].cfg, k);
        if (cases[c].bias[0]) {
            ck_assert_str_eq(l->w[1].name, "bias");
            ck_assert_int_eq(l->w[1].shape.ndim, (int)cases[c].bias[0]);
            for (int k = 0; k < l->w[1].shape.ndim; k++)
                ck_assert_msg(l->w[1].shape.d[k] == cases[c].bias[k + 1], "%s: bias axis %d", cases[c].cfg, k);
        }
        h_seed(100 + c);
        fill(h.x, h.in_size, -1, 1);
        for (int i = 0; i < l->nw; i++)
            fill(l->w[i].data, l->w[i].size, -0.6, 0.6);
        h_fd_check(&h, 1e-2, 2e-3, 2e-3, cases[c].cfg);
        h_free(&h);
    }
}
END_TEST

/* y = einsum by direct summation over all index tuples (double), for the permuted equation */
START_TEST(einsum_dense_forward_matches_direct_sum)
{
    /* "abcd,dbe->aceb": y[a,c,e,b] = sum_d x[a,b,c,d] k[d,b,e] + bias[c] */
    harness h;
    int64_t ind[3] = {4, 3, 2};
    ck_shape in = shape_of(3, ind);
    h_init(&h, layer_cfg("EinsumDense", "{\"equation\":\"abcd,dbe->aceb\",\"output_shape\":[3,2,4],"
                                        "\"bias_axes\":\"c\"}"), &in, 2);
    h_seed(7);
    fill(h.x, h.in_size, -1, 1);
    fill(h.l->w[0].data, h.l->w[0].size, -1, 1);
    fill(h.l->w[1].data, h.l->w[1].size, -1, 1);
    h_forward(&h);
    const float *x = h.x, *k = h.l->w[0].data, *bias = h.l->w[1].data;
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 3; c++)
            for (int e = 0; e < 2; e++)
                for (int b = 0; b < 4; b++) {
                    double s = bias[c];
                    for (int d = 0; d < 2; d++)
                        s += (double)x[((a * 4 + b) * 3 + c) * 2 + d] * k[(d * 4 + b) * 2 + e];
                    float got = h.y[((a * 3 + c) * 2 + e) * 4 + b];
                    ck_assert_msg(fabs(got - s) <= 1e-5 * (1 + fabs(s)), "y[%d,%d,%d,%d] = %g, want %g", a, c, e, b,
                                  (double)got, s);
                }
    h_free(&h);
}
END_TEST

START_TEST(einsum_dense_refusals)
{
    static const struct {
        const char *cfg;
        int ndim;
        int64_t in[3];
        ckeras_status st;
        const char *msg;
    } cases[] = {
        {"{\"equation\":\"ab,bc->ac\"}", 1, {3}, CKERAS_EINVAL, "output_shape is required"},
        {"{\"equation\":\"ab->ac\",\"output_shape\":4}", 1, {3}, CKERAS_EINVAL, "not of the form"},
        {"{\"equation\":\"aa,ac->ac\",\"output_shape\":4}", 1, {3}, CKERAS_EUNSUPPORTED, "repeats a letter"},
        {"{\"equation\":\"abc,cd->ad\",\"output_shape\":4}", 2, {3, 2}, CKERAS_EUNSUPPORTED,
         "summed without a kernel axis"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":[4,5]}", 1, {3}, CKERAS_EINVAL, "needs 1"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":[null]}", 1, {3}, CKERAS_EINVAL, "must give the size of 'c'"},
        {"{\"equation\":\"abc,cd->abd\",\"output_shape\":[7,4]}", 2, {3, 2}, CKERAS_ESHAPE, "gives 7 for 'b'"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":4}", 2, {3, 2}, CKERAS_ESHAPE, "names 2 axes"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":4,\"bias_axes\":\"x\"}", 1, {3}, CKERAS_EINVAL,
         "bias axis 'x'"},
        {"{\"equation\":\"ab,abc->ac\",\"output_shape\":4}", 1, {3}, CKERAS_EUNSUPPORTED, "batch axis"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":4,\"lora_rank\":2}", 1, {3}, CKERAS_EUNSUPPORTED, "lora_rank"},
        {"{\"equation\":\"ab,bc->ac\",\"output_shape\":4,\"kernel_constraint\":\"NonNegative\"}", 1, {3},
         CKERAS_EINVAL, "kernel_constraint"},
        {"{\"equation\":\"a.b,bc->ac\",\"output_shape\":4}", 1, {3}, CKERAS_EINVAL, "Keras' forms"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ckeras_layer *l = ckeras_layer_from_config("EinsumDense", cases[c].cfg);
        ck_assert_msg(l != NULL, "%s: %s", cases[c].cfg, ckeras_last_error());
        ck_shape in = shape_of(cases[c].ndim, cases[c].in);
        ckeras_status st = ck_layer_build(l, &in);
        ck_assert_msg(st == cases[c].st, "%s: status %d, want %d (%s)", cases[c].cfg, st, cases[c].st,
                      ckeras_last_error());
        ck_assert_msg(strstr(ckeras_last_error(), cases[c].msg) && strstr(ckeras_last_error(), "EinsumDense"),
                      "%s: message '%s' lacks '%s'", cases[c].cfg, ckeras_last_error(), cases[c].msg);
        ck_layer_free(l);
    }
}
END_TEST

/* ---- MultiHeadAttention --------------------------------------------------------------------------- */

/* A layer with several inputs outside a model. */
typedef struct mh {
    ckeras_layer *l;
    int nin;
    int64_t n, insz[4], outsz;
    float *x[4], *dx[4], *y, *dy, *saved, *work;
    ck_rng rng;
    bool training;
    const float *qmask; /* Keras' mask of the query (n, T), or NULL */
    const float *masks[4]; /* Keras' masks of every input (masks[0] is qmask), or NULLs */
} mh;

static void mh_init(mh *h, ckeras_layer *l, const ck_shape *ins, int nin, int64_t n)
{
    memset(h, 0, sizeof *h);
    ckeras_status st = ck_layer_build_multi(l, ins, nin);
    ck_assert_msg(st == CKERAS_OK, "build: %s", ckeras_last_error());
    h->l = l;
    h->nin = nin;
    h->n = n;
    for (int k = 0; k < nin; k++) {
        h->insz[k] = n * ck_shape_size(&ins[k]);
        h->x[k] = xcalloc(h->insz[k]);
        h->dx[k] = xcalloc(h->insz[k]);
    }
    h->outsz = n * ck_shape_size(&l->out_shape);
    h->y = xcalloc(h->outsz);
    h->dy = xcalloc(h->outsz);
    h->saved = xcalloc(l->vt->saved_floats(l, n));
    h->work = xcalloc(l->vt->work_floats(l, n));
    for (int i = 0; i < l->nw; i++) {
        l->w[i].data = xcalloc(l->w[i].size);
        l->w[i].grad = xcalloc(l->w[i].size);
    }
    h->training = true;
}

static void mh_free(mh *h)
{
    for (int i = 0; i < h->l->nw; i++) {
        free(h->l->w[i].data);
        free(h->l->w[i].grad);
        h->l->w[i].data = h->l->w[i].grad = NULL;
    }
    for (int k = 0; k < h->nin; k++) {
        free(h->x[k]);
        free(h->dx[k]);
    }
    free(h->y);
    free(h->dy);
    free(h->saved);
    free(h->work);
    ck_layer_free(h->l);
}

/* forward with the generator at the same seed each time (the same dropout) */
static void mh_forward(mh *h)
{
    ck_rng_seed(&h->rng, 99);
    const float *xs[4] = {h->x[0], h->x[1], h->x[2], h->x[3]};
    ck_fwd f = {.n = h->n, .x = xs[0], .y = h->y, .saved = h->saved, .work = h->work, .training = h->training,
                .rng = &h->rng, .nin = h->nin, .xs = xs, .mask = h->qmask, .masks = h->masks};
    h->l->vt->forward(h->l, &f);
}

static void mh_backward(mh *h, const float *R, bool want_dx)
{
    memcpy(h->dy, R, (size_t)h->outsz * sizeof(float));
    const float *xs[4] = {h->x[0], h->x[1], h->x[2], h->x[3]};
    float *dxs[4] = {0};
    for (int k = 0; k < h->nin && want_dx; k++)
        dxs[k] = h->dx[k];
    ck_bwd b = {.n = h->n, .x = xs[0], .y = h->y, .dy = h->dy, .dx = dxs[0], .saved = h->saved, .work = h->work,
                .train_weights = true, .nin = h->nin, .xs = xs, .dxs = dxs, .mask = h->qmask, .masks = h->masks};
    h->l->vt->backward(h->l, &b);
}

static double mh_loss(mh *h, const float *R)
{
    mh_forward(h);
    double s = 0;
    for (int64_t i = 0; i < h->outsz; i++)
        s += (double)h->y[i] * R[i];
    return s;
}

static void mh_fd(mh *h, float *v, int64_t nv, const float *g, const float *R, const char *what)
{
    const double eps = 1e-2, atol = 2e-3, rtol = 3e-3;
    for (int64_t i = 0; i < nv; i++) {
        float keep = v[i];
        v[i] = (float)(keep + eps);
        double lp = mh_loss(h, R);
        v[i] = (float)(keep - eps);
        double lm = mh_loss(h, R);
        v[i] = keep;
        double num = (lp - lm) / (2 * eps);
        ck_assert_msg(fabs(num - g[i]) <= atol + rtol * fabs(num), "%s: element %lld analytic %.7g, numeric %.7g",
                      what, (long long)i, (double)g[i], num);
    }
}

/* every input (but the 0/1 mask) and every weight against central differences */
static void mh_fd_check(mh *h, bool has_mask, const char *what)
{
    float *R = xcalloc(h->outsz);
    fill(R, h->outsz, -1, 1);
    mh_forward(h);
    mh_backward(h, R, true);
    float *g[CK_MAX_WEIGHTS] = {0}, *gx[4] = {0};
    for (int i = 0; i < h->l->nw; i++) {
        g[i] = xcalloc(h->l->w[i].size);
        memcpy(g[i], h->l->w[i].grad, (size_t)h->l->w[i].size * sizeof(float));
    }
    for (int k = 0; k < h->nin; k++) {
        gx[k] = xcalloc(h->insz[k]);
        memcpy(gx[k], h->dx[k], (size_t)h->insz[k] * sizeof(float));
    }
    char buf[256];
    for (int k = 0; k < h->nin; k++) {
        if (has_mask && k == 3) { /* no gradient flows into the mask */
            for (int64_t i = 0; i < h->insz[k]; i++)
                ck_assert_msg(gx[k][i] == 0.0f, "%s: mask gradient %g", what, (double)gx[k][i]);
            continue;
        }
        snprintf(buf, sizeof buf, "%.160s dx%d", what, k);
        mh_fd(h, h->x[k], h->insz[k], gx[k], R, buf);
    }
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%.160s d%s", what, h->l->w[i].name);
        mh_fd(h, h->l->w[i].data, h->l->w[i].size, g[i], R, buf);
    }
    mh_forward(h); /* weight gradients without any dx */
    mh_backward(h, R, false);
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%.160s d%s without dx", what, h->l->w[i].name);
        tu_assert_close(h->l->w[i].grad, g[i], (size_t)h->l->w[i].size, 1e-6, 1e-5, buf);
        free(g[i]);
    }
    for (int k = 0; k < h->nin; k++)
        free(gx[k]);
    free(R);
}

static void mh_fill(mh *h, uint64_t seed, bool has_mask)
{
    h_seed(seed);
    for (int k = 0; k < h->nin; k++)
        fill(h->x[k], h->insz[k], -1, 1);
    if (has_mask) { /* 0/1, the first key position always kept */
        int64_t S = h->insz[3] / (h->n * h->l->in_shape.d[0]);
        for (int64_t i = 0; i < h->insz[3]; i++)
            h->x[3][i] = urand() < 0.6 || i % S == 0 ? 1.0f : 0.0f;
    }
    for (int i = 0; i < h->l->nw; i++)
        fill(h->l->w[i].data, h->l->w[i].size, -0.7, 0.7);
}

START_TEST(mha_gradients_match_finite_differences)
{
    static const struct {
        const char *cls, *cfg;
        int nin, rank;
        int64_t q[3], v[3], k[3];
        int nw;
        bool training;
    } cases[] = {
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":3}", 2, 2, {4, 5}, {3, 6}, {0}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":3,\"value_dim\":2,\"use_bias\":false,\"output_shape\":4}",
         2, 2, {4, 6}, {5, 3}, {0}, 4, true},
        {"MultiHeadAttention", "{\"num_heads\":3,\"key_dim\":2}", 3, 2, {3, 4}, {5, 2}, {5, 3}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":2,\"use_causal_mask\":true}", 3, 2, {5, 4}, {5, 3},
         {5, 2}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":2}", 4, 2, {4, 3}, {5, 3}, {5, 2}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":2,\"use_causal_mask\":true}", 4, 2, {4, 3}, {4, 3},
         {4, 2}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":2,\"output_shape\":[2,3]}", 2, 3, {2, 3, 4}, {3, 2, 3},
         {0}, 8, true},
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":3,\"dropout\":0.3}", 2, 2, {4, 5}, {3, 5}, {0}, 8, true},
        {"GroupQueryAttention", "{\"head_dim\":2,\"num_query_heads\":4,\"num_key_value_heads\":2}", 2, 2, {4, 3},
         {5, 3}, {0}, 8, true},
        {"GroupedQueryAttention", "{\"head_dim\":3,\"num_query_heads\":3,\"num_key_value_heads\":1,"
         "\"use_bias\":false,\"use_causal_mask\":true}", 3, 2, {4, 2}, {4, 2}, {4, 3}, 4, true},
        {"GroupedQueryAttention", "{\"head_dim\":2,\"num_query_heads\":2,\"num_key_value_heads\":2,\"dropout\":0.25}",
         4, 2, {3, 2}, {4, 2}, {4, 3}, 8, true},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_shape ins[4];
        ins[0] = shape_of(cases[c].rank, cases[c].q);
        ins[1] = shape_of(cases[c].rank, cases[c].v);
        ins[2] = cases[c].nin > 2 ? shape_of(cases[c].rank, cases[c].k) : ins[1];
        if (cases[c].nin > 3) {
            int64_t md[2] = {cases[c].q[0], cases[c].v[0]};
            ins[3] = shape_of(2, md);
        }
        mh h;
        mh_init(&h, layer_cfg(cases[c].cls, cases[c].cfg), ins, cases[c].nin, 2);
        ck_assert_int_eq(h.l->nw, cases[c].nw);
        h.training = cases[c].training;
        mh_fill(&h, 300 + c, cases[c].nin > 3);
        char what[200];
        snprintf(what, sizeof what, "%s %s with %d inputs", cases[c].cls, cases[c].cfg, cases[c].nin);
        mh_fd_check(&h, cases[c].nin > 3, what);
        mh_free(&h);
    }
}
END_TEST

/* Keras' formula evaluated directly (double): q = xq Wq + bq per head, softmax(q k^T / sqrt(dk) + mask)
 * v, output projection; inputs (query (T, Dq), value (S, Dv), key (S, Dk), mask (T, S)) */
START_TEST(mha_forward_matches_direct_formula)
{
    enum { T = 3, S = 4, Dq = 5, Dv = 3, Dk = 2, H = 2, DK = 3, DV = 2, N = 2 };
    ck_shape ins[4] = {{2, {T, Dq}}, {2, {S, Dv}}, {2, {S, Dk}}, {2, {T, S}}};
    mh h;
    mh_init(&h, layer_cfg("MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":3,\"value_dim\":2}"), ins, 4, N);
    mh_fill(&h, 11, true);
    h.training = false;
    mh_forward(&h);
    const float *Wq = h.l->w[0].data, *bq = h.l->w[1].data, *Wk = h.l->w[2].data, *bk = h.l->w[3].data;
    const float *Wv = h.l->w[4].data, *bv = h.l->w[5].data, *Wo = h.l->w[6].data, *bo = h.l->w[7].data;
    for (int b = 0; b < N; b++) {
        const float *xq = h.x[0] + b * T * Dq, *xv = h.x[1] + b * S * Dv, *xk = h.x[2] + b * S * Dk;
        const float *m = h.x[3] + b * T * S;
        double q[T][H][DK], k[S][H][DK], v[S][H][DV], o[T][H][DV];
        for (int t = 0; t < T; t++)
            for (int hh = 0; hh < H; hh++)
                for (int d = 0; d < DK; d++) {
                    q[t][hh][d] = bq[hh * DK + d];
                    for (int f = 0; f < Dq; f++)
                        q[t][hh][d] += (double)xq[t * Dq + f] * Wq[(f * H + hh) * DK + d];
                }
        for (int s = 0; s < S; s++)
            for (int hh = 0; hh < H; hh++) {
                for (int d = 0; d < DK; d++) {
                    k[s][hh][d] = bk[hh * DK + d];
                    for (int f = 0; f < Dk; f++)
                        k[s][hh][d] += (double)xk[s * Dk + f] * Wk[(f * H + hh) * DK + d];
                }
                for (int d = 0; d < DV; d++) {
                    v[s][hh][d] = bv[hh * DV + d];
                    for (int f = 0; f < Dv; f++)
                        v[s][hh][d] += (double)xv[s * Dv + f] * Wv[(f * H + hh) * DV + d];
                }
            }
        for (int hh = 0; hh < H; hh++)
            for (int t = 0; t < T; t++) {
                double sc[S], mx = -1e300, sum = 0;
                for (int s = 0; s < S; s++) {
                    sc[s] = 0;
                    for (int d = 0; d < DK; d++)
                        sc[s] += q[t][hh][d] / sqrt((double)DK) * k[s][hh][d];
                    if (m[t * S + s] == 0.0f)
                        sc[s] = -INFINITY;
                    mx = sc[s] > mx ? sc[s] : mx;
                }
                for (int s = 0; s < S; s++)
                    sum += sc[s] = exp(sc[s] - mx);
                for (int d = 0; d < DV; d++) {
                    o[t][hh][d] = 0;
                    for (int s = 0; s < S; s++)
                        o[t][hh][d] += sc[s] / sum * v[s][hh][d];
                }
            }
        for (int t = 0; t < T; t++)
            for (int j = 0; j < Dq; j++) {
                double y = bo[j];
                for (int hh = 0; hh < H; hh++)
                    for (int d = 0; d < DV; d++)
                        y += o[t][hh][d] * Wo[(hh * DV + d) * Dq + j];
                float got = h.y[(b * T + t) * Dq + j];
                ck_assert_msg(fabs(got - y) <= 1e-5 * (1 + fabs(y)), "y[%d,%d,%d] = %g, want %g", b, t, j,
                              (double)got, y);
            }
    }
    mh_free(&h);
}
END_TEST

START_TEST(mha_refusals_and_weights)
{
    static const struct {
        const char *cfg;
        int nin, rank;
        int64_t q[3], v[3], k[3], m[2];
        ckeras_status st;
        const char *msg;
    } cases[] = {
        {"{\"num_heads\":2,\"key_dim\":2}", 1, 2, {3, 4}, {0}, {0}, {0}, CKERAS_ESHAPE, "got 1 inputs"},
        {"{\"num_heads\":2,\"key_dim\":2}", 2, 2, {3, 4}, {5, 3, 1}, {0}, {0}, CKERAS_ESHAPE, "same rank"},
        {"{\"num_heads\":2,\"key_dim\":2}", 3, 2, {3, 4}, {5, 3}, {4, 3}, {0}, CKERAS_ESHAPE, "value and key differ"},
        {"{\"num_heads\":2,\"key_dim\":2,\"attention_axes\":[2]}", 2, 3, {2, 3, 4}, {2, 3, 4}, {0}, {0},
         CKERAS_EUNSUPPORTED, "attention_axes"},
        {"{\"num_heads\":2,\"key_dim\":2,\"use_causal_mask\":true}", 2, 3, {2, 3, 4}, {2, 3, 4}, {0}, {0},
         CKERAS_EUNSUPPORTED, "use_causal_mask"},
        {"{\"num_heads\":2,\"key_dim\":2}", 4, 2, {3, 4}, {5, 3}, {5, 3}, {5, 3}, CKERAS_ESHAPE, "attention mask"},
        {"{\"num_heads\":2,\"key_dim\":2,\"bias_constraint\":\"NonNegative\"}", 2, 2, {3, 4}, {5, 3}, {0}, {0},
         CKERAS_EINVAL, "bias_constraint"},
        {"{\"num_heads\":2,\"key_dim\":2,\"return_attention_scores\":true}", 2, 2, {3, 4}, {5, 3}, {0}, {0},
         CKERAS_EUNSUPPORTED, "return_attention_scores"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ckeras_layer *l = layer_cfg("MultiHeadAttention", cases[c].cfg);
        ck_shape ins[4];
        ins[0] = shape_of(cases[c].rank, cases[c].q);
        ins[1] = shape_of(cases[c].v[2] ? 3 : cases[c].rank, cases[c].v);
        ins[2] = shape_of(cases[c].rank, cases[c].k);
        ins[3] = shape_of(2, cases[c].m);
        ckeras_status st = ck_layer_build_multi(l, ins, cases[c].nin);
        ck_assert_msg(st == cases[c].st, "%s: status %d, want %d (%s)", cases[c].cfg, st, cases[c].st,
                      ckeras_last_error());
        ck_assert_msg(strstr(ckeras_last_error(), cases[c].msg) && strstr(ckeras_last_error(), "MultiHeadAttention"),
                      "%s: message '%s' lacks '%s'", cases[c].cfg, ckeras_last_error(), cases[c].msg);
        ck_layer_free(l);
    }
    /* GroupedQueryAttention's own checks */
    ckeras_layer *g = layer_cfg("GroupQueryAttention", "{\"head_dim\":2,\"num_query_heads\":3,\"num_key_value_heads\":2}");
    ck_shape gins[2] = {{2, {3, 4}}, {2, {5, 4}}};
    ck_assert_int_eq(ck_layer_build_multi(g, gins, 2), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "must be a multiple of num_key_value_heads"));
    ck_layer_free(g);
    g = layer_cfg("GroupQueryAttention", "{\"head_dim\":2,\"num_query_heads\":2,\"num_key_value_heads\":1}");
    gins[1].d[1] = 3;
    ck_assert_int_eq(ck_layer_build_multi(g, gins, 2), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "same features"));
    ck_layer_free(g);
    /* Attention's */
    ckeras_layer *a = layer_cfg("Attention", "{}");
    ck_shape ains[2] = {{2, {3, 4}}, {3, {5, 4, 1}}};
    ck_assert_int_eq(ck_layer_build_multi(a, ains, 2), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "(positions, features)"));
    ck_layer_free(a);
    ck_assert_ptr_null(ckeras_layer_from_config("Attention", "{\"score_mode\":\"general\"}"));
    /* Keras' weight names, shapes and order */
    ckeras_layer *l = layer_cfg("MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":3,\"value_dim\":4,"
                                                      "\"output_shape\":[5,2]}");
    ck_shape ins[3] = {{2, {7, 6}}, {2, {8, 3}}, {2, {8, 2}}};
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 3), CKERAS_OK);
    static const char *const names[8] = {"query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel",
                                         "value/bias", "attention_output/kernel", "attention_output/bias"};
    static const int64_t shapes[8][5] = {{3, 6, 2, 3}, {2, 2, 3}, {3, 2, 2, 3}, {2, 2, 3},
                                         {3, 3, 2, 4}, {2, 2, 4}, {4, 2, 4, 5, 2}, {2, 5, 2}};
    ck_assert_int_eq(l->nw, 8);
    for (int k = 0; k < 8; k++) {
        ck_assert_str_eq(l->w[k].name, names[k]);
        ck_assert_int_eq(l->w[k].shape.ndim, (int)shapes[k][0]);
        for (int d = 0; d < l->w[k].shape.ndim; d++)
            ck_assert_int_eq(l->w[k].shape.d[d], shapes[k][d + 1]);
    }
    ck_assert_int_eq(l->out_shape.ndim, 3);
    ck_assert_int_eq(l->out_shape.d[0], 7);
    ck_assert_int_eq(l->out_shape.d[1], 5);
    ck_assert_int_eq(l->out_shape.d[2], 2);
    ck_layer_free(l);
}
END_TEST

/* ---- Attention, AdditiveAttention ---------------------------------------------------------------- */

START_TEST(luong_bahdanau_gradients_match_finite_differences)
{
    static const struct {
        const char *cls, *cfg;
        int nin;
        int64_t q[2], v[2], k[2];
        int nw;
        bool query_mask;
    } cases[] = {
        {"Attention", "{}", 2, {4, 3}, {5, 3}, {0}, 0, false},
        {"Attention", "{\"use_scale\":true}", 3, {4, 3}, {5, 2}, {5, 3}, 1, false},
        {"Attention", "{\"use_scale\":true,\"use_causal_mask\":true}", 2, {4, 3}, {4, 3}, {0}, 1, true},
        {"Attention", "{\"score_mode\":\"concat\"}", 3, {3, 2}, {4, 3}, {4, 2}, 1, false},
        {"Attention", "{\"score_mode\":\"concat\",\"use_scale\":true,\"dropout\":0.3}", 2, {3, 2}, {4, 2}, {0}, 2,
         false},
        {"AdditiveAttention", "{}", 3, {4, 3}, {5, 2}, {5, 3}, 1, true},
        {"AdditiveAttention", "{\"use_scale\":false,\"use_causal_mask\":true}", 2, {4, 3}, {4, 3}, {0}, 0, false},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_shape ins[3] = {shape_of(2, cases[c].q), shape_of(2, cases[c].v), shape_of(2, cases[c].k)};
        mh h;
        mh_init(&h, layer_cfg(cases[c].cls, cases[c].cfg), ins, cases[c].nin, 2);
        ck_assert_int_eq(h.l->nw, cases[c].nw);
        mh_fill(&h, 500 + c, false);
        for (int i = 0; i < h.l->nw; i++) /* scales near 1 */
            fill(h.l->w[i].data, h.l->w[i].size, 0.6, 1.4);
        float qmask[8] = {1, 0, 1, 1, 0, 1, 1, 1};
        h.qmask = h.masks[0] = cases[c].query_mask ? qmask : NULL;
        char what[200];
        snprintf(what, sizeof what, "%s %s with %d inputs", cases[c].cls, cases[c].cfg, cases[c].nin);
        mh_fd_check(&h, false, what);
        if (h.qmask) { /* the masked query rows are zero */
            mh_forward(&h);
            for (int b = 0; b < 2; b++)
                for (int t = 0; t < 4; t++)
                    for (int j = 0; qmask[b * 4 + t] == 0.0f && j < cases[c].v[1]; j++)
                        ck_assert_float_eq(h.y[(b * 4 + t) * cases[c].v[1] + j], 0.0f);
        }
        mh_free(&h);
    }
}
END_TEST

/* softmax(q k^T) v, the concat and additive scores, directly (double) */
START_TEST(luong_bahdanau_forward_match_direct_formula)
{
    enum { TQ = 3, TV = 4, D = 2, DV = 3 };
    static const char *const cls[3] = {"Attention", "Attention", "AdditiveAttention"};
    static const char *const cfg[3] = {"{\"use_scale\":true}", "{\"use_scale\":true,\"score_mode\":\"concat\"}", "{}"};
    for (int c = 0; c < 3; c++) {
        ck_shape ins[3] = {{2, {TQ, D}}, {2, {TV, DV}}, {2, {TV, D}}};
        mh h;
        mh_init(&h, layer_cfg(cls[c], cfg[c]), ins, 3, 1);
        mh_fill(&h, 40 + c, false);
        h.training = false;
        mh_forward(&h);
        const float *q = h.x[0], *v = h.x[1], *k = h.x[2];
        for (int t = 0; t < TQ; t++) {
            double sc[TV], mx = -1e300, sum = 0;
            for (int s2 = 0; s2 < TV; s2++) {
                double z = 0;
                for (int j = 0; j < D; j++) {
                    if (c == 0)
                        z += (double)q[t * D + j] * k[s2 * D + j];
                    else if (c == 1)
                        z += tanh((double)h.l->w[0].data[0] * (q[t * D + j] + k[s2 * D + j]));
                    else
                        z += h.l->w[0].data[j] * tanh((double)q[t * D + j] + k[s2 * D + j]);
                }
                sc[s2] = c == 0 ? z * h.l->w[0].data[0] : c == 1 ? z * h.l->w[1].data[0] : z;
                mx = sc[s2] > mx ? sc[s2] : mx;
            }
            for (int s2 = 0; s2 < TV; s2++)
                sum += sc[s2] = exp(sc[s2] - mx);
            for (int j = 0; j < DV; j++) {
                double y = 0;
                for (int s2 = 0; s2 < TV; s2++)
                    y += sc[s2] / sum * v[s2 * DV + j];
                ck_assert_msg(fabs(h.y[t * DV + j] - y) <= 1e-5 * (1 + fabs(y)), "%s %s: y[%d,%d] = %g, want %g", cls[c],
                              cfg[c], t, j, (double)h.y[t * DV + j], y);
            }
        }
        mh_free(&h);
    }
}
END_TEST

/* Keras' masks of the inputs (Embedding(mask_zero=True)): the query's rows, the value's and the
 * key's columns */
START_TEST(masked_inputs_gradients_match_finite_differences)
{
    static const float qm[8] = {1, 1, 0, 0, 1, 0, 0, 0}, vm[10] = {1, 1, 1, 0, 0, 1, 1, 1, 1, 1},
                       km[10] = {1, 0, 1, 1, 0, 1, 1, 1, 0, 0};
    static const struct {
        const char *cls, *cfg;
        int nin;
        int64_t q[2], v[2], k[2];
    } cases[] = {
        {"MultiHeadAttention", "{\"num_heads\":2,\"key_dim\":2}", 3, {4, 3}, {5, 2}, {5, 3}},
        {"MultiHeadAttention", "{\"num_heads\":1,\"key_dim\":3,\"use_causal_mask\":true}", 2, {4, 3}, {5, 2}, {0}},
        {"GroupQueryAttention", "{\"head_dim\":2,\"num_query_heads\":2,\"num_key_value_heads\":1}", 2, {4, 3},
         {5, 3}, {0}},
        {"Attention", "{\"use_scale\":true}", 2, {4, 3}, {5, 3}, {0}},
        {"AdditiveAttention", "{}", 3, {4, 3}, {5, 2}, {5, 3}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ck_shape ins[3] = {shape_of(2, cases[c].q), shape_of(2, cases[c].v), shape_of(2, cases[c].k)};
        mh h;
        mh_init(&h, layer_cfg(cases[c].cls, cases[c].cfg), ins, cases[c].nin, 2);
        mh_fill(&h, 700 + c, false);
        /* a query row MultiHeadAttention masks is masked everywhere: its weights are equal whatever
         * the scores, yet Keras' gradient (autodiff through the added -1e9, as here) is not 0 there,
         * so finite differences cannot check it; the catalogue checks it against Keras
         * (mha_masked_self). Attention zeroes such rows: checked here. */
        bool luong = strcmp(cases[c].cls, "Attention") == 0 || strcmp(cases[c].cls, "AdditiveAttention") == 0;
        h.qmask = h.masks[0] = luong ? qm : NULL;
        h.masks[1] = vm;
        h.masks[2] = cases[c].nin > 2 ? km : NULL;
        char what[200];
        snprintf(what, sizeof what, "masked %s %s", cases[c].cls, cases[c].cfg);
        mh_fd_check(&h, false, what);
        /* a masked value (or key) position gets no attention from a row that has others */
        float keep[10];
        memcpy(keep, h.x[1], sizeof keep);
        mh_forward(&h);
        float *y0 = xcalloc(h.outsz);
        memcpy(y0, h.y, (size_t)h.outsz * sizeof(float));
        h.x[1][3 * cases[c].v[1]] += 5.0f; /* value position 3 of sample 0: masked */
        mh_forward(&h);
        for (int64_t i = 0; i < cases[c].q[0] * (h.outsz / (2 * cases[c].q[0])); i++)
            ck_assert_msg(fabs(h.y[i] - y0[i]) < 1e-6, "%s: output %lld moved with a masked value", what,
                          (long long)i);
        memcpy(h.x[1], keep, sizeof keep);
        free(y0);
        mh_free(&h);
    }
}
END_TEST

/* A file Keras saved after one Adam step resumes in ckeras as in Keras: the same second step
 * (tests/keras/attention_resume.py), which needs the Adam state of the sublayer weights
 * ("adam/mha_query_kernel_momentum", ...) back from the file; a fresh optimizer does not give it. */
START_TEST(mha_resumes_keras_adam_training)
{
    int nz = 0;
    char **names = NULL;
    ckeras_tensor **arrays = NULL;
    ck_assert_msg(ckeras_read_npz("tests/fixtures/attention/mha_adam_resume.npz", &nz, &names, &arrays) == CKERAS_OK,
                  "%s", ckeras_last_error());
    const ckeras_tensor *x = NULL, *t = NULL;
    for (int i = 0; i < nz; i++) {
        if (strcmp(names[i], "x") == 0)
            x = arrays[i];
        if (strcmp(names[i], "t") == 0)
            t = arrays[i];
    }
    ck_assert(x && t);
    for (int fresh = 0; fresh < 2; fresh++) {
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model("tests/fixtures/attention/mha_adam_resume.h5", 0, &m) == CKERAS_OK, "%s",
                      ckeras_last_error());
        if (fresh)
            ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "mse", NULL), CKERAS_OK);
        ck_assert_msg(ckeras_model_train_on_batch_multi(m, 1, &x, 1, &t, NULL, 0) == CKERAS_OK, "%s",
                      ckeras_last_error());
        double worst = 0;
        int checked = 0;
        for (int i = 0; i < nz; i++) {
            if (strncmp(names[i], "w.", 2) != 0)
                continue;
            char lname[64];
            const char *dot = strrchr(names[i], '.');
            snprintf(lname, sizeof lname, "%.*s", (int)(dot - names[i] - 2), names[i] + 2);
            ckeras_layer *l = ckeras_model_layer_by_name(m, lname);
            ckeras_tensor *view = NULL;
            const char *wname = NULL;
            ck_assert_msg(l && ckeras_layer_weight(l, atoi(dot + 1), &wname, &view) == CKERAS_OK, "%s", names[i]);
            const float *a = ckeras_tensor_data(view), *b = ckeras_tensor_data(arrays[i]);
            for (int64_t e = 0; e < ckeras_tensor_size(view); e++) {
                double d = fabs((double)a[e] - b[e]) / (1 + fabs((double)b[e]));
                worst = d > worst ? d : worst;
            }
            ckeras_tensor_free(view);
            checked++;
        }
        ck_assert_int_eq(checked, 10);
        if (fresh)
            ck_assert_msg(worst > 1e-3, "a fresh Adam gives Keras' second step too (%g): the test proves nothing", worst);
        else
            ck_assert_msg(worst <= 1e-5, "after Keras' file's Adam state, the second step differs by %g", worst);
        ckeras_model_free(m);
    }
    ckeras_npz_free(nz, names, arrays);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, einsum_dense_gradients_match_finite_differences);
    tcase_add_test(tc, einsum_dense_forward_matches_direct_sum);
    tcase_add_test(tc, einsum_dense_refusals);
    tcase_add_test(tc, mha_gradients_match_finite_differences);
    tcase_add_test(tc, mha_forward_matches_direct_formula);
    tcase_add_test(tc, mha_refusals_and_weights);
    tcase_add_test(tc, luong_bahdanau_gradients_match_finite_differences);
    tcase_add_test(tc, luong_bahdanau_forward_match_direct_formula);
    tcase_add_test(tc, masked_inputs_gradients_match_finite_differences);
    tcase_add_test(tc, mha_resumes_keras_adam_training);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
