/* The normalisation family on any axes: BatchNormalization and LayerNormalization on non-last
 * axes and lists of axes, LayerNormalization(rms_scaling), GroupNormalization,
 * UnitNormalization and RMSNormalization. Every class and axis layout: backward against central
 * finite differences (layer_harness.h); forward by hand (the formulas of Keras 3.11's source,
 * recomputed here in double); weight names, shapes and order; config errors. Keras' own numbers
 * for the same layouts are in tests/fixtures/layers/norm (test_layer_catalogue). */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct fd_case {
    const char *cls, *cfg;
    int ndim;
    int64_t d[4];
    bool frozen; /* BatchNormalization with trainable=False: moving statistics in training */
} fd_case;

static const fd_case fd_cases[] = {
    {"BatchNormalization", "{\"axis\": 1}", 2, {4, 3}, false},
    {"BatchNormalization", "{\"axis\": 2}", 2, {4, 3}, false},
    {"BatchNormalization", "{\"axis\": -2}", 3, {3, 4, 2}, false},
    {"BatchNormalization", "{\"axis\": 1, \"center\": false}", 3, {3, 4, 2}, false},
    {"BatchNormalization", "{\"axis\": -3, \"scale\": false, \"epsilon\": 0.1}", 4, {3, 2, 2, 2}, false},
    {"BatchNormalization", "{\"axis\": 1}", 3, {3, 4, 2}, true},
    {"BatchNormalization", "{}", 3, {3, 4, 2}, true},
    {"LayerNormalization", "{\"axis\": 1}", 2, {4, 3}, false},
    {"LayerNormalization", "{\"axis\": -2, \"center\": false}", 2, {4, 3}, false},
    {"LayerNormalization", "{\"axis\": [1, 2]}", 3, {3, 4, 2}, false},
    {"LayerNormalization", "{\"axis\": [1, 3], \"epsilon\": 0.1}", 3, {3, 4, 2}, false},
    {"LayerNormalization", "{\"axis\": [-1, -3], \"scale\": false}", 3, {3, 4, 2}, false},
    {"LayerNormalization", "{\"rms_scaling\": true}", 1, {5}, false},
    {"LayerNormalization", "{\"axis\": 1, \"rms_scaling\": true}", 2, {4, 3}, false},
    {"LayerNormalization", "{\"axis\": [1, 3], \"rms_scaling\": true, \"scale\": false}", 3, {3, 4, 2}, false},
    {"GroupNormalization", "{\"groups\": 2}", 2, {5, 4}, false},
    {"GroupNormalization", "{\"groups\": 2, \"axis\": 1}", 3, {4, 3, 2}, false},
    {"GroupNormalization", "{\"groups\": 4, \"axis\": -2, \"epsilon\": 0.1}", 3, {3, 4, 2}, false},
    {"GroupNormalization", "{\"groups\": -1}", 2, {3, 4}, false},
    {"GroupNormalization", "{\"groups\": 1, \"center\": false}", 2, {3, 4}, false},
    {"GroupNormalization", "{\"groups\": 3, \"axis\": 1, \"scale\": false}", 2, {6, 2}, false},
    {"UnitNormalization", "{}", 1, {4}, false},
    {"UnitNormalization", "{\"axis\": 1}", 2, {4, 3}, false},
    {"UnitNormalization", "{\"axis\": [1, 2]}", 3, {3, 4, 2}, false},
    {"UnitNormalization", "{\"axis\": [-1, -3]}", 3, {3, 4, 2}, false},
    {"RMSNormalization", "{}", 1, {5}, false},
    {"RMSNormalization", "{\"axis\": [-2, -1], \"epsilon\": 0.1}", 2, {4, 3}, false},
    {"RMSNormalization", "{\"axis\": [2, 3]}", 3, {3, 4, 2}, false},
};

START_TEST(every_layout_against_finite_differences)
{
    for (size_t c = 0; c < sizeof fd_cases / sizeof fd_cases[0]; c++) {
        const fd_case *fc = &fd_cases[c];
        harness h;
        const ck_shape in = h_shape(fc->ndim, fc->d);
        h_init(&h, h_layer_cfg(fc->cls, fc->cfg), &in, 3);
        h_seed(100 + c);
        fill(h.x, h.in_size, -1, 1.5);
        for (int i = 0; i < h.l->nw; i++) {
            ck_weight *w = &h.l->w[i];
            if (strcmp(w->name, "moving_variance") == 0)
                fill(w->data, w->size, 0.5, 1.5);
            else if (strcmp(w->name, "moving_mean") == 0 || strcmp(w->name, "beta") == 0)
                fill(w->data, w->size, -0.5, 0.5);
            else
                fill(w->data, w->size, 0.5, 1.5); /* gamma, scale */
        }
        h.l->trainable = !fc->frozen;
        char what[160];
        snprintf(what, sizeof what, "%s %s on %d axes%s", fc->cls, fc->cfg, fc->ndim, fc->frozen ? " (frozen)" : "");
        if (!fc->frozen) {
            h_fd_check(&h, 1e-2, 2e-3, 2e-2, what);
        } else { /* the moving statistics now matter but get no gradient: x, gamma, beta only */
            float *R = xcalloc(h.out_size), *dx = xcalloc(h.in_size), *g[CK_MAX_WEIGHTS] = {0};
            fill(R, h.out_size, -1, 1);
            h_forward(&h);
            h_backward(&h, R, true);
            memcpy(dx, h.dx, (size_t)h.in_size * sizeof(float));
            fd_against(&h, h.x, h.in_size, dx, R, 1e-2, 2e-3, 2e-2, what);
            for (int i = 0; i < h.l->nw; i++) {
                if (!h.l->w[i].trainable)
                    continue;
                g[i] = xcalloc(h.l->w[i].size);
                memcpy(g[i], h.l->w[i].grad, (size_t)h.l->w[i].size * sizeof(float));
                fd_against(&h, h.l->w[i].data, h.l->w[i].size, g[i], R, 1e-2, 2e-3, 2e-2, what);
                free(g[i]);
            }
            free(R);
            free(dx);
        }
        h_free(&h);
    }
}
END_TEST

/* ---- BatchNormalization with Keras' mask ------------------------------------------------------ */

static double masked_loss(harness *h, const float *mask, const float *R)
{
    ck_fwd f = {.n = h->n, .x = h->x, .y = h->y, .saved = h->saved, .work = h->work, .training = true,
                .mask = mask};
    h->l->vt->forward(h->l, &f);
    double s = 0;
    for (int64_t i = 0; i < h->out_size; i++)
        s += (double)h->y[i] * R[i];
    return s;
}

static void masked_fd(harness *h, float *v, int64_t nv, const float *g, const float *mask, const float *R,
                      const char *what)
{
    for (int64_t i = 0; i < nv; i++) {
        float keep = v[i];
        v[i] = keep + 1e-2f;
        double lp = masked_loss(h, mask, R);
        v[i] = keep - 1e-2f;
        double lm = masked_loss(h, mask, R);
        v[i] = keep;
        double num = (lp - lm) / 2e-2;
        ck_assert_msg(fabs(num - g[i]) <= 2e-3 + 2e-2 * fabs(num), "%s: element %lld analytic %.7g, numeric %.7g",
                      what, (long long)i, (double)g[i], num);
    }
}

START_TEST(masked_batchnorm)
{
    /* (n, 4, 3) with Keras' mask (n, 4): channel axis last (weights per row) and axis 1 (the mask
     * spread over the last axis, then permuted) */
    const char *cfgs[2] = {"{}", "{\"axis\": 1}"};
    for (int c = 0; c < 2; c++) {
        harness h;
        const ck_shape in = h_shape(2, (const int64_t[]){4, 3});
        h_init(&h, h_layer_cfg("BatchNormalization", cfgs[c]), &in, 3);
        h_seed(40 + c);
        fill(h.x, h.in_size, -1, 1.5);
        for (int i = 0; i < 2; i++)
            fill(h.l->w[i].data, h.l->w[i].size, 0.5, 1.5);
        fill(h.l->w[3].data, h.l->w[3].size, 0.5, 1.5);
        float mask[12] = {1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0};
        /* the statistics by hand: over the unmasked steps only */
        float *R = xcalloc(h.out_size), *dx = xcalloc(h.in_size);
        fill(R, h.out_size, -1, 1);
        float mm0 = h.l->w[2].data[0];
        masked_loss(&h, mask, R);
        {
            double m = 0, wsum = 0;
            for (int b = 0; b < 3; b++)
                for (int t = 0; t < 4; t++)
                    if (c == 0 || t == 0) { /* channel 0: feature 0 (axis -1) or step 0 (axis 1) */
                        for (int k = 0; k < 3; k++) {
                            if (c == 0 && k != 0)
                                continue;
                            m += mask[b * 4 + t] * h.x[(b * 4 + t) * 3 + k];
                            wsum += mask[b * 4 + t];
                        }
                    }
            m /= wsum + 1e-7;
            ck_assert_msg(fabs(h.l->w[2].data[0] - (0.99 * mm0 + 0.01 * m)) < 1e-6, "masked moving mean %s", cfgs[c]);
        }
        ck_bwd b = {.n = h.n, .x = h.x, .y = h.y, .dy = h.dy, .dx = h.dx, .saved = h.saved, .work = h.work,
                    .train_weights = true, .mask = mask};
        memcpy(h.dy, R, (size_t)h.out_size * sizeof(float));
        h.l->vt->backward(h.l, &b);
        memcpy(dx, h.dx, (size_t)h.in_size * sizeof(float));
        float *dg = xcalloc(h.l->w[0].size), *db = xcalloc(h.l->w[1].size);
        memcpy(dg, h.l->w[0].grad, (size_t)h.l->w[0].size * sizeof(float));
        memcpy(db, h.l->w[1].grad, (size_t)h.l->w[1].size * sizeof(float));
        masked_fd(&h, h.x, h.in_size, dx, mask, R, cfgs[c]);
        masked_fd(&h, h.l->w[0].data, h.l->w[0].size, dg, mask, R, cfgs[c]);
        masked_fd(&h, h.l->w[1].data, h.l->w[1].size, db, mask, R, cfgs[c]);
        free(dg);
        free(db);
        free(R);
        free(dx);
        h_free(&h);
    }
}
END_TEST

/* ---- forward by hand ------------------------------------------------------------------------- */

/* index of (b, i, j, k) in a (n, 4, 3, 2) tensor */
#define AT(b, i, j, k) ((((b) * 4 + (i)) * 3 + (j)) * 2 + (k))

START_TEST(forward_by_hand)
{
    const int64_t dims[3] = {4, 3, 2};
    const ck_shape in = h_shape(3, dims);
    harness h;
    /* BatchNormalization(axis=1), inference: channel i of (n, 4, 3, 2) */
    h_init(&h, h_layer_cfg("BatchNormalization", "{\"axis\": 1, \"epsilon\": 0.01}"), &in, 2);
    ck_assert_int_eq(h.l->nw, 4);
    ck_assert_str_eq(h.l->w[0].name, "gamma");
    ck_assert_str_eq(h.l->w[3].name, "moving_variance");
    ck_assert_int_eq(h.l->w[0].shape.d[0], 4);
    h_seed(1);
    fill(h.x, h.in_size, -2, 2);
    for (int i = 0; i < 4; i++) {
        h.l->w[0].data[i] = 0.5f + (float)i;
        h.l->w[1].data[i] = -0.25f * (float)i;
        h.l->w[2].data[i] = 0.1f * (float)i;
        h.l->w[3].data[i] = 1.0f + 0.5f * (float)i;
    }
    {
        ck_fwd f = {.n = 2, .x = h.x, .y = h.y, .saved = h.saved, .work = h.work, .training = false};
        h.l->vt->forward(h.l, &f);
    }
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++) {
                    double want = (0.5 + i) * (h.x[AT(b, i, j, k)] - 0.1 * i) / sqrt(1.0 + 0.5 * i + 0.01) - 0.25 * i;
                    ck_assert_msg(fabs(h.y[AT(b, i, j, k)] - want) < 1e-5, "bn axis 1 [%d][%d][%d][%d]", b, i, j, k);
                }
    /* training: batch statistics of channel i over (b, j, k), and the moving update */
    h_forward(&h);
    for (int i = 0; i < 4; i++) {
        double m = 0, v = 0;
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++)
                    m += h.x[AT(b, i, j, k)] / 12.0;
        for (int b = 0; b < 2; b++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 2; k++)
                    v += (h.x[AT(b, i, j, k)] - m) * (h.x[AT(b, i, j, k)] - m) / 12.0;
        ck_assert(fabs(h.l->w[2].data[i] - (0.1 * i * 0.99 + m * 0.01)) < 1e-6);
        ck_assert(fabs(h.l->w[3].data[i] - ((1.0 + 0.5 * i) * 0.99 + v * 0.01)) < 1e-6);
        double want = (0.5 + i) * (h.x[AT(1, i, 2, 1)] - m) / sqrt(v + 0.01) - 0.25 * i;
        ck_assert_msg(fabs(h.y[AT(1, i, 2, 1)] - want) < 1e-5, "bn axis 1 training, channel %d", i);
    }
    h_free(&h);

    /* LayerNormalization(axis=[-1, -3]): statistics over (i, k) for each (b, j); gamma (2, 4)
     * indexed in increasing axis order (i, k) flat, as Keras reshapes it */
    h_init(&h, h_layer_cfg("LayerNormalization", "{\"axis\": [-1, -3]}"), &in, 2);
    ck_assert_int_eq(h.l->w[0].shape.ndim, 2);
    ck_assert_int_eq(h.l->w[0].shape.d[0], 2);
    ck_assert_int_eq(h.l->w[0].shape.d[1], 4);
    h_seed(2);
    fill(h.x, h.in_size, -2, 2);
    fill(h.l->w[0].data, 8, 0.5, 1.5);
    fill(h.l->w[1].data, 8, -0.5, 0.5);
    h_forward(&h);
    for (int b = 0; b < 2; b++)
        for (int j = 0; j < 3; j++) {
            double m = 0, v = 0;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 2; k++)
                    m += h.x[AT(b, i, j, k)] / 8.0;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 2; k++)
                    v += (h.x[AT(b, i, j, k)] - m) * (h.x[AT(b, i, j, k)] - m) / 8.0;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 2; k++) {
                    double want = h.l->w[0].data[i * 2 + k] * (h.x[AT(b, i, j, k)] - m) / sqrt(v + 1e-3) +
                                  h.l->w[1].data[i * 2 + k];
                    ck_assert_msg(fabs(h.y[AT(b, i, j, k)] - want) < 1e-5, "ln [-1,-3] [%d][%d][%d][%d]", b, i, j, k);
                }
        }
    h_free(&h);

    /* LayerNormalization(rms_scaling=True): x * gamma / sqrt(var + eps), x not centred; no beta */
    h_init(&h, h_layer_cfg("LayerNormalization", "{\"axis\": 2, \"rms_scaling\": true}"), &in, 1);
    ck_assert_int_eq(h.l->nw, 1);
    ck_assert_str_eq(h.l->w[0].name, "gamma");
    h_seed(3);
    fill(h.x, h.in_size, -1, 2);
    fill(h.l->w[0].data, 3, 0.5, 1.5);
    h_forward(&h);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 2; k++) {
            double m = 0, v = 0;
            for (int j = 0; j < 3; j++)
                m += h.x[AT(0, i, j, k)] / 3.0;
            for (int j = 0; j < 3; j++)
                v += (h.x[AT(0, i, j, k)] - m) * (h.x[AT(0, i, j, k)] - m) / 3.0;
            for (int j = 0; j < 3; j++) {
                double want = h.x[AT(0, i, j, k)] * h.l->w[0].data[j] / sqrt(v + 1e-3);
                ck_assert_msg(fabs(h.y[AT(0, i, j, k)] - want) < 1e-5, "ln rms [%d][%d][%d]", i, j, k);
            }
        }
    h_free(&h);

    /* GroupNormalization(groups=2, axis=1): channels i in {0,1} and {2,3}, over (i, j, k) */
    h_init(&h, h_layer_cfg("GroupNormalization", "{\"groups\": 2, \"axis\": 1}"), &in, 2);
    ck_assert_str_eq(h.l->w[0].name, "gamma");
    ck_assert_str_eq(h.l->w[1].name, "beta");
    ck_assert_int_eq(h.l->w[0].shape.d[0], 4);
    h_seed(4);
    fill(h.x, h.in_size, -2, 2);
    fill(h.l->w[0].data, 4, 0.5, 1.5);
    fill(h.l->w[1].data, 4, -0.5, 0.5);
    h_forward(&h);
    for (int b = 0; b < 2; b++)
        for (int g = 0; g < 2; g++) {
            double m = 0, v = 0;
            for (int i = 2 * g; i < 2 * g + 2; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 2; k++)
                        m += h.x[AT(b, i, j, k)] / 12.0;
            for (int i = 2 * g; i < 2 * g + 2; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 2; k++)
                        v += (h.x[AT(b, i, j, k)] - m) * (h.x[AT(b, i, j, k)] - m) / 12.0;
            for (int i = 2 * g; i < 2 * g + 2; i++)
                for (int j = 0; j < 3; j++)
                    for (int k = 0; k < 2; k++) {
                        double want = h.l->w[0].data[i] * (h.x[AT(b, i, j, k)] - m) / sqrt(v + 1e-3) +
                                      h.l->w[1].data[i];
                        ck_assert_msg(fabs(h.y[AT(b, i, j, k)] - want) < 1e-5, "gn [%d][%d][%d][%d]", b, i, j, k);
                    }
        }
    h_free(&h);

    /* UnitNormalization(axis=[1, 2]): unit L2 norm over (i, j) for each (b, k); a zero block
     * stays zero (1 / norm bounded by 1e12) */
    h_init(&h, h_layer_cfg("UnitNormalization", "{\"axis\": [1, 2]}"), &in, 2);
    ck_assert_int_eq(h.l->nw, 0);
    h_seed(5);
    fill(h.x, h.in_size, -2, 2);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            h.x[AT(1, i, j, 1)] = 0.0f;
    h_forward(&h);
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 2; k++) {
            double s = 0;
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++)
                    s += (double)h.x[AT(b, i, j, k)] * h.x[AT(b, i, j, k)];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 3; j++) {
                    double want = s > 0 ? h.x[AT(b, i, j, k)] / sqrt(s) : 0.0;
                    ck_assert_msg(fabs(h.y[AT(b, i, j, k)] - want) < 1e-6, "unit [%d][%d][%d][%d]", b, i, j, k);
                }
        }
    float *R = xcalloc(h.out_size);
    fill(R, h.out_size, -1, 1);
    h_backward(&h, R, true);
    for (int i = 0; i < 4; i++) /* the bounded branch: dx = 1e12 dy */
        for (int j = 0; j < 3; j++)
            ck_assert(fabs(h.dx[AT(1, i, j, 1)] - 1e12 * R[AT(1, i, j, 1)]) <= 1e6);
    free(R);
    h_free(&h);

    /* RMSNormalization(axis=[-2, -1]): x * scale / sqrt(mean(x^2) + eps) over (j, k) */
    h_init(&h, h_layer_cfg("RMSNormalization", "{\"axis\": [-2, -1]}"), &in, 1);
    ck_assert_int_eq(h.l->nw, 1);
    ck_assert_str_eq(h.l->w[0].name, "scale");
    ck_assert(h.l->w[0].trainable);
    ck_assert_int_eq(h.l->w[0].shape.ndim, 2);
    ck_assert_int_eq(h.l->w[0].shape.d[0], 3);
    h_seed(6);
    fill(h.x, h.in_size, -2, 2);
    fill(h.l->w[0].data, 6, 0.5, 1.5);
    h_forward(&h);
    for (int i = 0; i < 4; i++) {
        double ms = 0;
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                ms += (double)h.x[AT(0, i, j, k)] * h.x[AT(0, i, j, k)] / 6.0;
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) {
                double want = h.x[AT(0, i, j, k)] * h.l->w[0].data[j * 2 + k] / sqrt(ms + 1e-6);
                ck_assert_msg(fabs(h.y[AT(0, i, j, k)] - want) < 1e-5, "rms [%d][%d][%d]", i, j, k);
            }
    }
    h_free(&h);
}
END_TEST

/* ---- defaults and errors --------------------------------------------------------------------- */

static void expect_error(const char *cls, const char *cfg, int ndim, const int64_t *d, ckeras_status code,
                         const char *needle)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, cfg);
    ckeras_status st = CKERAS_OK;
    if (l) {
        const ck_shape in = h_shape(ndim, d);
        st = ck_layer_build(l, &in);
        ck_layer_free(l);
    } else {
        st = CKERAS_EINVAL; /* refused by the schema */
    }
    ck_assert_msg(st == code, "%s %s: status %d, want %d (%s)", cls, cfg, st, code, ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "%s %s: '%s' lacks '%s'", cls, cfg,
                  ckeras_last_error(), needle);
}

START_TEST(defaults_and_errors)
{
    const int64_t img[3] = {4, 3, 2}, mat[2] = {4, 6};
    ckeras_layer *l = h_layer_cfg("GroupNormalization", "{}");
    ck_assert_int_eq(ck_cfg_int(&l->cfg, "groups"), 32);
    ck_assert_int_eq(ck_cfg_int(&l->cfg, "axis"), -1);
    ck_assert(fabs(ck_cfg_float(&l->cfg, "epsilon") - 1e-3) < 1e-12);
    ck_layer_free(l);
    l = h_layer_cfg("RMSNormalization", "{}");
    ck_assert(fabs(ck_cfg_float(&l->cfg, "epsilon") - 1e-6) < 1e-15);
    ck_layer_free(l);
    expect_error("GroupNormalization", "{}", 2, mat, CKERAS_ESHAPE, "groups (32) must divide the 6 channels");
    expect_error("GroupNormalization", "{\"groups\": 4}", 2, mat, CKERAS_ESHAPE, "groups");
    expect_error("GroupNormalization", "{\"groups\": 0}", 2, mat, CKERAS_EINVAL, "groups");
    expect_error("GroupNormalization", "{\"groups\": 2, \"axis\": 0}", 2, mat, CKERAS_EINVAL, "axis");
    expect_error("GroupNormalization", "{\"groups\": 2, \"axis\": 3}", 2, mat, CKERAS_EINVAL, "axis");
    expect_error("GroupNormalization", "{\"groups\": 2, \"epsilon\": 0}", 2, mat, CKERAS_EINVAL, "epsilon");
    expect_error("GroupNormalization", "{\"groups\": 2, \"gamma_constraint\": \"NonNegative\"}", 2, mat,
                 CKERAS_EINVAL, "gamma_constraint");
    expect_error("UnitNormalization", "{\"axis\": [0]}", 3, img, CKERAS_EINVAL, "batch axis");
    expect_error("UnitNormalization", "{\"axis\": [1, 1]}", 3, img, CKERAS_EINVAL, "twice");
    expect_error("UnitNormalization", "{\"axis\": []}", 3, img, CKERAS_EINVAL, "axis");
    expect_error("RMSNormalization", "{\"axis\": 1}", 3, img, CKERAS_EUNSUPPORTED, "trailing");
    expect_error("RMSNormalization", "{\"axis\": [1, 3]}", 3, img, CKERAS_EUNSUPPORTED, "trailing");
    expect_error("RMSNormalization", "{\"epsilon\": -1}", 3, img, CKERAS_EINVAL, "epsilon");
    expect_error("LayerNormalization", "{\"axis\": [1, 4]}", 3, img, CKERAS_EINVAL, "out of range");
    expect_error("BatchNormalization", "{\"axis\": 0}", 3, img, CKERAS_EINVAL, "batch axis");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("norm_axes");
    TCase *tc = tcase_create("norm_axes");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_layout_against_finite_differences);
    tcase_add_test(tc, masked_batchnorm);
    tcase_add_test(tc, forward_by_hand);
    tcase_add_test(tc, defaults_and_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
