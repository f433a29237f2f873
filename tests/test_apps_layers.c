/* What Keras Applications need beyond the classic layers: merge layers broadcasting as Keras
 * does (forward against an independent per-index reference, gradients against central finite
 * differences), merges with constant operands (Keras 3's x + 3.0), Normalization, LayerScale,
 * CustomScaleLayer and Dropout's noise_shape (forward by hand, gradients by finite
 * differences), and their errors. Keras' own numbers for the same layers: the harness groups
 * merge and apps (tests/fixtures/layers/). */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a layer of several inputs, outside a model -------------------------------------------------- */

#define MH_MAX 4

typedef struct mh {
    ckeras_layer *l;
    int nin;
    int64_t n, insz[MH_MAX], outsz;
    ck_shape ins[MH_MAX];
    float *xs[MH_MAX], *dxs[MH_MAX], *y, *dy;
} mh;

static void mh_init(mh *h, ckeras_layer *l, int nin, const ck_shape *ins, int64_t n)
{
    memset(h, 0, sizeof *h);
    ckeras_status st = ck_layer_build_multi(l, ins, nin);
    ck_assert_msg(st == CKERAS_OK, "build: %s", ckeras_last_error());
    h->l = l;
    h->nin = nin;
    h->n = n;
    for (int k = 0; k < nin; k++) {
        h->ins[k] = ins[k];
        h->insz[k] = n * ck_shape_size(&ins[k]);
        h->xs[k] = xcalloc(h->insz[k]);
        h->dxs[k] = xcalloc(h->insz[k]);
    }
    h->outsz = n * ck_shape_size(&l->out_shape);
    h->y = xcalloc(h->outsz);
    h->dy = xcalloc(h->outsz);
}

static void mh_free(mh *h)
{
    for (int k = 0; k < h->nin; k++) {
        free(h->xs[k]);
        free(h->dxs[k]);
    }
    free(h->y);
    free(h->dy);
    ck_layer_free(h->l);
}

static void mh_forward(mh *h)
{
    ck_fwd f = {.n = h->n, .x = h->xs[0], .y = h->y, .training = true, .nin = h->nin,
                .xs = (const float *const *)h->xs};
    h->l->vt->forward(h->l, &f);
}

static void mh_backward(mh *h, const float *R)
{
    memcpy(h->dy, R, (size_t)h->outsz * sizeof(float));
    ck_bwd b = {.n = h->n, .x = h->xs[0], .y = h->y, .dy = h->dy, .dx = h->dxs[0], .train_weights = true,
                .nin = h->nin, .xs = (const float *const *)h->xs, .dxs = h->dxs};
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

/* d sum(y * R) / d every input against central differences */
static void mh_fd_check(mh *h, double eps, double tol, const char *what)
{
    float *R = xcalloc(h->outsz);
    fill(R, h->outsz, -1, 1);
    mh_forward(h);
    mh_backward(h, R);
    for (int k = 0; k < h->nin; k++) {
        float *g = xcalloc(h->insz[k]);
        memcpy(g, h->dxs[k], (size_t)h->insz[k] * sizeof(float));
        for (int64_t i = 0; i < h->insz[k]; i++) {
            float keep = h->xs[k][i];
            h->xs[k][i] = (float)(keep + eps);
            double lp = mh_loss(h, R);
            h->xs[k][i] = (float)(keep - eps);
            double lm = mh_loss(h, R);
            h->xs[k][i] = keep;
            double num = (lp - lm) / (2 * eps);
            ck_assert_msg(fabs(num - g[i]) <= tol + tol * fabs(num), "%s: d input %d [%lld]: analytic %.7g, numeric %.7g",
                          what, k, (long long)i, (double)g[i], num);
        }
        free(g);
    }
    free(R);
}

/* Inputs whose values never come within 0.013 of each other's (nor of the constants 0.35 and
 * -0.35 below): max/min pick one operand clearly, so finite differences of step 1e-3 hold. */
static float grid(int k, int64_t i)
{
    return (float)(-1.0 + 2.0 * (double)((i * 7 + k * 3) % 17) / 17.0 + 0.013 * k);
}

/* The NumPy broadcast reference of an elementwise op on per-sample shapes aligned at their ends. */
typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_AVG, OP_MAX, OP_MIN } op_kind;

static float ref_value(op_kind op, int nops, const float *v)
{
    float y = v[0];
    for (int j = 1; j < nops; j++)
        switch (op) {
        case OP_ADD:
        case OP_AVG: y += v[j]; break;
        case OP_SUB: y -= v[j]; break;
        case OP_MUL: y *= v[j]; break;
        case OP_MAX: y = v[j] > y ? v[j] : y; break;
        case OP_MIN: y = v[j] < y ? v[j] : y; break;
        }
    return op == OP_AVG ? y / (float)nops : y;
}

/* Operand j of a call (tensor k, or the constant cval at cpos) at output multi-index idx of
 * output shape o, sample s. */
static float ref_operand(const mh *h, int ncon, const int *cpos, const double *cval, int j, int64_t s,
                         const ck_shape *o, const int64_t *idx)
{
    int k = j;
    for (int c = 0; c < ncon; c++) {
        if (cpos[c] == j)
            return (float)cval[c];
        if (cpos[c] < j)
            k--;
    }
    const ck_shape *in = &h->ins[k];
    int lead = o->ndim - in->ndim;
    int64_t off = 0;
    for (int d = 0; d < in->ndim; d++)
        off = off * in->d[d] + (in->d[d] == 1 ? 0 : idx[lead + d]);
    return h->xs[k][s * ck_shape_size(in) + off];
}

static void check_forward_ref(mh *h, op_kind op, int ncon, const int *cpos, const double *cval, const char *what)
{
    mh_forward(h);
    const ck_shape *o = &h->l->out_shape;
    int nops = h->nin + ncon;
    int64_t per = ck_shape_size(o);
    for (int64_t s = 0; s < h->n; s++) {
        int64_t idx[CKERAS_MAX_DIMS] = {0};
        for (int64_t i = 0; i < per; i++) {
            float v[8] = {0};
            for (int j = 0; j < nops; j++)
                v[j] = ref_operand(h, ncon, cpos, cval, j, s, o, idx);
            float want = ref_value(op, nops, v);
            ck_assert_msg(fabsf(h->y[s * per + i] - want) <= 1e-6f + 1e-6f * fabsf(want), "%s: y[%lld] = %g, want %g",
                          what, (long long)(s * per + i), (double)h->y[s * per + i], (double)want);
            for (int d = o->ndim - 1; d >= 0; d--) {
                if (++idx[d] < o->d[d])
                    break;
                idx[d] = 0;
            }
        }
    }
}

static const struct {
    const char *cls;
    op_kind op;
} ops[] = {{"Add", OP_ADD}, {"Subtract", OP_SUB}, {"Multiply", OP_MUL},
           {"Average", OP_AVG}, {"Maximum", OP_MAX}, {"Minimum", OP_MIN}};

START_TEST(merge_broadcasting_forward_and_gradients)
{
    static const struct {
        int nin;
        ck_shape ins[3];
        int64_t out[3];
        int out_ndim;
    } cases[] = {
        {2, {{3, {2, 3, 4}}, {3, {1, 1, 4}}}, {2, 3, 4}, 3},         /* squeeze-and-excite */
        {2, {{3, {1, 1, 4}}, {3, {2, 3, 4}}}, {2, 3, 4}, 3},         /* the broadcast one first */
        {2, {{2, {3, 4}}, {1, {4}}}, {3, 4}, 2},                     /* ranks differ */
        {2, {{3, {2, 1, 4}}, {3, {1, 3, 1}}}, {2, 3, 4}, 3},         /* both stretch */
        {3, {{3, {2, 1, 4}}, {3, {1, 3, 4}}, {1, {4}}}, {2, 3, 4}, 3}, /* three inputs */
    };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            if (ops[o].op == OP_SUB && cases[c].nin != 2)
                continue;
            char what[96];
            snprintf(what, sizeof what, "%s case %zu", ops[o].cls, c);
            mh h;
            mh_init(&h, h_layer_cfg(ops[o].cls, "{}"), cases[c].nin, cases[c].ins, 2);
            ck_assert_int_eq(h.l->out_shape.ndim, cases[c].out_ndim);
            for (int d = 0; d < cases[c].out_ndim; d++)
                ck_assert_int_eq(h.l->out_shape.d[d], cases[c].out[d]);
            for (int k = 0; k < h.nin; k++)
                for (int64_t i = 0; i < h.insz[k]; i++)
                    h.xs[k][i] = grid(k, i);
            check_forward_ref(&h, ops[o].op, 0, NULL, NULL, what);
            mh_fd_check(&h, 1e-3, 2e-3, what);
            mh_free(&h);
        }
}
END_TEST

/* x op c, c op x, c op x op d: constant operands in every position */
START_TEST(merge_constants_forward_and_gradients)
{
    static const struct {
        int ncon;
        int pos[2];
        double val[2];
    } cons[] = {{1, {1}, {0.35}}, {1, {0}, {0.35}}, {2, {0, 2}, {0.35, -0.35}}};
    ck_shape ins[2] = {{2, {3, 4}}, {2, {1, 4}}};
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (size_t c = 0; c < sizeof cons / sizeof cons[0]; c++)
            for (int nin = 1; nin <= 2; nin++) {
                if (ops[o].op == OP_SUB && nin + cons[c].ncon != 2)
                    continue;
                char what[96];
                snprintf(what, sizeof what, "%s constants %zu, %d tensors", ops[o].cls, c, nin);
                ckeras_layer *l = h_layer_cfg(ops[o].cls, "{}");
                ck_assert_int_eq(ck_merge_set_constants(l, cons[c].ncon, cons[c].pos, cons[c].val), CKERAS_OK);
                int pos[2];
                double val[2];
                ck_assert_int_eq(ck_merge_constants(l, 2, pos, val), cons[c].ncon);
                ck_assert_int_eq(pos[0], cons[c].pos[0]);
                ck_assert(val[0] == cons[c].val[0]);
                mh h;
                mh_init(&h, l, nin, ins, 2);
                for (int k = 0; k < h.nin; k++)
                    for (int64_t i = 0; i < h.insz[k]; i++)
                        h.xs[k][i] = grid(k, i);
                check_forward_ref(&h, ops[o].op, cons[c].ncon, cons[c].pos, cons[c].val, what);
                mh_fd_check(&h, 1e-3, 2e-3, what);
                mh_free(&h);
            }
    /* by hand: 0.307 - x and x * (1/6) */
    ckeras_layer *l = h_layer_cfg("Subtract", "{}");
    ck_assert_int_eq(ck_merge_set_constants(l, 1, (const int[]){0}, (const double[]){0.307}), CKERAS_OK);
    mh h;
    mh_init(&h, l, 1, ins, 1);
    for (int i = 0; i < 12; i++)
        h.xs[0][i] = (float)i;
    mh_forward(&h);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq_tol(h.y[i], 0.307f - (float)i, 1e-6);
    mh_free(&h);
}
END_TEST

START_TEST(merge_errors)
{
    ck_shape ins[2] = {{2, {3, 4}}, {2, {2, 4}}};
    ckeras_layer *l = h_layer_cfg("Multiply", "{}");
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 2), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "does not broadcast"));
    ck_layer_free(l);
    l = h_layer_cfg("Subtract", "{}");
    ck_assert_int_eq(ck_merge_set_constants(l, 2, (const int[]){0, 1}, (const double[]){1, 2}), CKERAS_OK);
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 1), CKERAS_ESHAPE); /* three operands */
    ck_layer_free(l);
    l = h_layer_cfg("Concatenate", "{}");
    ck_assert_int_eq(ck_merge_set_constants(l, 1, (const int[]){1}, (const double[]){1}), CKERAS_EUNSUPPORTED);
    ck_layer_free(l);
    l = h_layer_cfg("Add", "{}");
    ck_assert_int_eq(ck_merge_set_constants(l, 2, (const int[]){1, 1}, (const double[]){1, 2}), CKERAS_EINVAL);
    ck_layer_free(l);
}
END_TEST

/* ---- Normalization ----------------------------------------------------------------------------- */

static void fd_dx_only(harness *h, const char *what)
{
    float *R = xcalloc(h->out_size);
    fill(R, h->out_size, -1, 1);
    h_forward(h);
    h_backward(h, R, true);
    float *dx = xcalloc(h->in_size);
    memcpy(dx, h->dx, (size_t)h->in_size * sizeof(float));
    fd_against(h, h->x, h->in_size, dx, R, 1e-2, 1e-3, 1e-3, what);
    free(dx);
    free(R);
}

START_TEST(normalization_forward_and_gradients)
{
    h_seed(7);
    /* adapted form: weights mean, variance, count; axis -1 on (2, 3) */
    harness h;
    ck_shape in = {2, {2, 3}};
    h_init(&h, h_layer_cfg("Normalization", "{\"axis\": [-1]}"), &in, 2);
    ck_assert_int_eq(h.l->nw, 3);
    ck_assert_str_eq(h.l->w[0].name, "mean");
    ck_assert_str_eq(h.l->w[1].name, "variance");
    ck_assert_str_eq(h.l->w[2].name, "count");
    ck_assert_int_eq(h.l->w[0].size, 3);
    ck_assert_int_eq(h.l->w[2].shape.ndim, 0);
    ck_assert(!h.l->w[0].trainable && !h.l->w[1].trainable && !h.l->w[2].trainable);
    const float mean[3] = {0.5f, -1.0f, 2.0f}, var[3] = {4.0f, 0.25f, 0.0f};
    memcpy(h.l->w[0].data, mean, sizeof mean);
    memcpy(h.l->w[1].data, var, sizeof var);
    fill(h.x, h.in_size, -2, 2);
    h_forward(&h);
    for (int64_t i = 0; i < h.in_size; i++) {
        int c = (int)(i % 3);
        float d = var[c] > 0 ? sqrtf(var[c]) : 1e-7f; /* max(sqrt(var), epsilon) */
        ck_assert_float_eq_tol(h.y[i], (h.x[i] - mean[c]) / d, 1e-5f * (1 + fabsf(h.y[i])));
    }
    h.l->w[1].data[2] = 1.5f;
    fd_dx_only(&h, "Normalization adapted");
    h_free(&h);

    /* config values, axis (1, 2) of (2, 3, 2): mean (2, 3, 1), variance a number */
    ck_shape in3 = {3, {2, 3, 2}};
    h_init(&h, h_layer_cfg("Normalization", "{\"axis\": [1, 2], \"mean\": [[[0.1], [0.2], [0.3]], [[0.4], [0.5], [0.6]]],"
                                          " \"variance\": 2.0}"), &in3, 2);
    ck_assert_int_eq(h.l->nw, 0);
    fill(h.x, h.in_size, -2, 2);
    h_forward(&h);
    for (int64_t i = 0; i < h.in_size; i++) {
        int64_t r = (i / 2) % 6; /* (a, b) of the kept axes */
        float m = 0.1f * (float)(r + 1);
        ck_assert_float_eq_tol(h.y[i], (h.x[i] - m) / sqrtf(2.0f), 1e-5f);
    }
    fd_dx_only(&h, "Normalization axis (1, 2)");
    h_free(&h);

    /* invert, axis None */
    ck_shape in1 = {1, {4}};
    h_init(&h, h_layer_cfg("Normalization", "{\"axis\": null, \"mean\": 1.5, \"variance\": 0.25, \"invert\": true}"),
           &in1, 2);
    fill(h.x, h.in_size, -2, 2);
    h_forward(&h);
    for (int64_t i = 0; i < h.in_size; i++)
        ck_assert_float_eq_tol(h.y[i], 1.5f + h.x[i] * 0.5f, 1e-6f);
    fd_dx_only(&h, "Normalization invert");
    h_free(&h);
}
END_TEST

START_TEST(normalization_errors)
{
    ck_shape in = {2, {2, 3}};
    static const struct {
        const char *cfg;
        ckeras_status st;
        const char *msg;
    } bad[] = {
        {"{\"mean\": 1.0}", CKERAS_EINVAL, "both"},
        {"{\"axis\": [0]}", CKERAS_EUNSUPPORTED, "batch axis"},
        {"{\"axis\": [3]}", CKERAS_EINVAL, "out of range"},
        {"{\"mean\": [1, 2], \"variance\": [1, 2]}", CKERAS_EINVAL, "cannot be broadcast"},
        {"{\"mean\": [[1], [2, 3]], \"variance\": 1}", CKERAS_EINVAL, "rectangular"},
        {"{\"mean\": \"x\", \"variance\": 1}", CKERAS_EINVAL, "rectangular"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ckeras_layer *l = h_layer_cfg("Normalization", bad[k].cfg);
        ck_assert_int_eq(ck_layer_build(l, &in), bad[k].st);
        ck_assert_msg(strstr(ckeras_last_error(), bad[k].msg), "%s: %s", bad[k].cfg, ckeras_last_error());
        ck_layer_free(l);
    }
}
END_TEST

/* ---- LayerScale, CustomScaleLayer --------------------------------------------------------------- */

START_TEST(layer_scale_and_custom_scale)
{
    h_seed(11);
    harness h;
    ck_shape in = {2, {3, 4}};
    h_init(&h, h_layer_cfg("LayerScale", "{\"init_values\": 0.25, \"projection_dim\": 4}"), &in, 2);
    ck_assert_int_eq(h.l->nw, 1);
    ck_assert_int_eq(h.l->w[0].size, 4);
    ck_assert(h.l->w[0].trainable);
    ck_assert_int_eq(ck_init_fill(h.l->w[0].init_default, h.l->w[0].data, &h.l->w[0].shape, NULL), CKERAS_OK);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq(h.l->w[0].data[k], 0.25f); /* Constant(init_values) */
    fill(h.l->w[0].data, 4, -1, 1);
    fill(h.x, h.in_size, -1, 1);
    h_forward(&h);
    for (int64_t i = 0; i < h.in_size; i++)
        ck_assert_float_eq_tol(h.y[i], h.x[i] * h.l->w[0].data[i % 4], 1e-7f);
    h_fd_check(&h, 1e-2, 1e-3, 1e-3, "LayerScale");
    h_free(&h);
    ckeras_layer *l = h_layer_cfg("LayerScale", "{\"init_values\": 0.25, \"projection_dim\": 5}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_ESHAPE);
    ck_layer_free(l);

    mh m;
    ck_shape ins[2] = {{2, {2, 3}}, {2, {2, 3}}};
    mh_init(&m, h_layer_cfg("CustomScaleLayer", "{\"scale\": 0.17}"), 2, ins, 2);
    for (int k = 0; k < 2; k++)
        fill(m.xs[k], m.insz[k], -1, 1);
    mh_forward(&m);
    for (int64_t i = 0; i < m.outsz; i++)
        ck_assert_float_eq_tol(m.y[i], m.xs[0][i] + m.xs[1][i] * 0.17f, 1e-6f);
    mh_fd_check(&m, 1e-2, 1e-3, "CustomScaleLayer");
    mh_free(&m);
    ins[1].d[1] = 4;
    l = h_layer_cfg("CustomScaleLayer", "{\"scale\": 0.17}");
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 2), CKERAS_ESHAPE);
    ck_layer_free(l);
}
END_TEST

/* ---- Dropout noise_shape ------------------------------------------------------------------------ */

START_TEST(dropout_noise_shape)
{
    ck_rng rngs, *rng = &rngs;
    ck_rng_seed(rng, 5);
    harness h;
    ck_shape in = {3, {4, 3, 2}};
    /* (None, 1, 3, 1): one draw per sample and middle position, shared along axes 1 and 3 */
    h_init(&h, h_layer_cfg("Dropout", "{\"rate\": 0.5, \"noise_shape\": [null, 1, 3, 1]}"), &in, 8);
    fill(h.x, h.in_size, 0.5, 1.5);
    ck_fwd f = {.n = h.n, .x = h.x, .y = h.y, .saved = h.saved, .work = h.work, .training = true, .rng = rng};
    h.l->vt->forward(h.l, &f);
    int zeros = 0;
    for (int64_t s = 0; s < h.n; s++)
        for (int64_t i = 0; i < 24; i++) {
            int64_t b = (i / 2) % 3;
            float m0 = h.saved[s * 24 + b * 2]; /* the mask at (0, b, 0) */
            ck_assert(m0 == 0.0f || m0 == 2.0f);
            ck_assert_float_eq(h.saved[s * 24 + i], m0);
            ck_assert_float_eq(h.y[s * 24 + i], h.x[s * 24 + i] * m0);
            zeros += m0 == 0.0f;
        }
    ck_assert(zeros > 0 && zeros < 8 * 24); /* some dropped, some kept */
    /* backward: dx = dy * mask; the layer is linear in x for a fixed mask */
    float *R = xcalloc(h.out_size);
    fill(R, h.out_size, -1, 1);
    h_backward(&h, R, true);
    for (int64_t i = 0; i < h.in_size; i++)
        ck_assert_float_eq(h.dx[i], R[i] * h.saved[i]);
    free(R);
    h_free(&h);

    /* batch entry 1: the same mask for every sample */
    ck_shape in2 = {1, {6}};
    h_init(&h, h_layer_cfg("Dropout", "{\"rate\": 0.4, \"noise_shape\": [1, null]}"), &in2, 5);
    fill(h.x, h.in_size, 0.5, 1.5);
    ck_fwd f2 = {.n = h.n, .x = h.x, .y = h.y, .saved = h.saved, .work = h.work, .training = true, .rng = rng};
    h.l->vt->forward(h.l, &f2);
    for (int64_t s = 1; s < h.n; s++)
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq(h.saved[s * 6 + i], h.saved[i]);
    h_free(&h);

    /* inference: identity */
    h_init(&h, h_layer_cfg("Dropout", "{\"rate\": 0.4, \"noise_shape\": [null, 1]}"), &in2, 2);
    fill(h.x, h.in_size, -1, 1);
    ck_fwd f3 = {.n = h.n, .x = h.x, .y = h.y, .training = false, .rng = rng};
    h.l->vt->forward(h.l, &f3);
    for (int64_t i = 0; i < h.in_size; i++)
        ck_assert_float_eq(h.y[i], h.x[i]);
    h_free(&h);

    static const char *bad[] = {"{\"rate\": 0.5, \"noise_shape\": [null, 2]}", "{\"rate\": 0.5, \"noise_shape\": [2, 6]}",
                                "{\"rate\": 0.5, \"noise_shape\": [null, 1, 1]}"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ckeras_layer *l = h_layer_cfg("Dropout", bad[k]);
        ck_assert_int_ne(ck_layer_build(l, &in2), CKERAS_OK);
        ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "noise_shape"));
        ck_layer_free(l);
    }
}
END_TEST

/* ---- Rescaling with a scale per channel --------------------------------------------------------- */

START_TEST(rescaling_lists)
{
    h_seed(3);
    harness h;
    ck_shape in = {2, {2, 3}};
    h_init(&h, h_layer_cfg("Rescaling", "{\"scale\": [0.5, -2.0, 1.25], \"offset\": [0.1, 0.2, 0.3]}"), &in, 2);
    fill(h.x, h.in_size, -1, 1);
    h_forward(&h);
    const float sc[3] = {0.5f, -2.0f, 1.25f}, of[3] = {0.1f, 0.2f, 0.3f};
    for (int64_t i = 0; i < h.in_size; i++)
        ck_assert_float_eq_tol(h.y[i], h.x[i] * sc[i % 3] + of[i % 3], 1e-6f);
    h_fd_check(&h, 1e-2, 1e-3, 1e-3, "Rescaling lists");
    /* written back as lists under their own keys */
    ck_tree *t = ck_config_to_tree(&h.l->cfg, "r", true, CK_PROFILE_KERAS3);
    ck_assert_ptr_nonnull(t);
    const ck_tree *s = ck_tree_get(t, "scale");
    ck_assert(s && s->kind == CK_T_LIST && s->n == 3);
    ck_assert(ck_tree_get(t, "scale_list") == NULL);
    ck_tree_free(t);
    h_free(&h);
    ckeras_layer *l = h_layer_cfg("Rescaling", "{\"scale\": [0.5, 2.0]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "channels"));
    ck_layer_free(l);
    ck_assert_ptr_null(ckeras_layer_from_config("Rescaling", "{\"scale\": [0.5, \"x\"]}"));
}
END_TEST

/* ---- configs through files --------------------------------------------------------------------- */

/* A Keras 3 config with operation nodes holding numbers (as keras.applications' MobileNetV3
 * writes them) loads, predicts x * relu6(x + 3) / 6 and saves in every format. */
START_TEST(keras3_operation_nodes)
{
    static const char *cfg =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"hs\", \"trainable\": true, \"layers\": ["
        "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3],"
        " \"dtype\": \"float32\", \"name\": \"in\"}, \"name\": \"in\", \"inbound_nodes\": []},"
        "{\"module\": \"keras.src.ops.numpy\", \"class_name\": \"Add\", \"config\": {\"name\": \"add\"},"
        " \"registered_name\": \"Add\", \"name\": \"add\", \"inbound_nodes\": [{\"args\": [{\"class_name\":"
        " \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], \"dtype\": \"float32\", \"keras_history\":"
        " [\"in\", 0, 0]}}, 3.0], \"kwargs\": {}}]},"
        "{\"module\": \"keras.layers\", \"class_name\": \"ReLU\", \"config\": {\"name\": \"relu6\", \"max_value\": 6.0,"
        " \"negative_slope\": 0.0, \"threshold\": 0.0}, \"name\": \"relu6\", \"inbound_nodes\": [{\"args\": [{\"class_name\":"
        " \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], \"dtype\": \"float32\", \"keras_history\":"
        " [\"add\", 0, 0]}}], \"kwargs\": {}}]},"
        "{\"module\": \"keras.src.ops.numpy\", \"class_name\": \"Multiply\", \"config\": {\"name\": \"multiply\"},"
        " \"registered_name\": \"Multiply\", \"name\": \"multiply\", \"inbound_nodes\": [{\"args\": [{\"class_name\":"
        " \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], \"dtype\": \"float32\", \"keras_history\":"
        " [\"relu6\", 0, 0]}}, 0.16666666666666666], \"kwargs\": {}}]},"
        "{\"module\": \"keras.src.ops.numpy\", \"class_name\": \"Subtract\", \"config\": {\"name\": \"rsub\"},"
        " \"registered_name\": \"Subtract\", \"name\": \"rsub\", \"inbound_nodes\": [{\"args\": [1.0, {\"class_name\":"
        " \"__keras_tensor__\", \"config\": {\"shape\": [null, 3], \"dtype\": \"float32\", \"keras_history\":"
        " [\"multiply\", 0, 0]}}], \"kwargs\": {}}]}"
        "], \"input_layers\": [\"in\", 0, 0], \"output_layers\": [\"rsub\", 0, 0]}}";
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_model_from_json(cfg, &m) == CKERAS_OK, "%s", ckeras_last_error());
    const float xv[6] = {-4.0f, -1.0f, 0.0f, 1.5f, 3.0f, 5.0f};
    ckeras_tensor *x = ckeras_tensor_wrap((float *)xv, 2, (const int64_t[]){2, 3}), *y = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 2, &y), CKERAS_OK);
    float yv[6];
    memcpy(yv, ckeras_tensor_data(y), sizeof yv);
    for (int i = 0; i < 6; i++) {
        float r = xv[i] + 3.0f;
        r = r < 0 ? 0 : r > 6 ? 6 : r;
        ck_assert_float_eq_tol(yv[i], 1.0f - r * (1.0f / 6.0f), 1e-6f);
    }
    ckeras_tensor_free(y);
    /* the tf.keras 2 layout cannot hold 1.0 - x; the Keras 3 ones can */
    tu_tmpdir_make("apps_layers");
    ck_assert_int_eq(ckeras_model_save(m, tu_tmp("hs.h5"), CKERAS_SAVE_NO_OPTIMIZER), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "tf.keras 2"));
    static const struct {
        const char *file;
        int flags;
    } fmts[] = {{"hs.k3.h5", CKERAS_SAVE_KERAS3}, {"hs.keras", 0}};
    for (size_t f = 0; f < 2; f++) {
        ck_assert_msg(ckeras_model_save(m, tu_tmp(fmts[f].file), fmts[f].flags | CKERAS_SAVE_NO_OPTIMIZER) == CKERAS_OK,
                      "%s", ckeras_last_error());
        ckeras_model *r = NULL;
        ck_assert_msg(ckeras_load_model(tu_tmp(fmts[f].file), CKERAS_LOAD_NO_COMPILE, &r) == CKERAS_OK, "%s",
                      ckeras_last_error());
        ck_assert_int_eq(ckeras_model_predict(r, x, 2, &y), CKERAS_OK);
        for (int i = 0; i < 6; i++)
            ck_assert_float_eq(ckeras_tensor_data(y)[i], yv[i]);
        ckeras_tensor_free(y);
        ckeras_model_free(r);
    }
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("apps_layers");
    TCase *tc = tcase_create("apps_layers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, merge_broadcasting_forward_and_gradients);
    tcase_add_test(tc, merge_constants_forward_and_gradients);
    tcase_add_test(tc, merge_errors);
    tcase_add_test(tc, normalization_forward_and_gradients);
    tcase_add_test(tc, normalization_errors);
    tcase_add_test(tc, layer_scale_and_custom_scale);
    tcase_add_test(tc, dropout_noise_shape);
    tcase_add_test(tc, rescaling_lists);
    tcase_add_test(tc, keras3_operation_nodes);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
