/* Optimizers: Keras 3's own 5-step trajectories (tests/fixtures/keras3-traces/optimizers.json),
 * slot values, clipping by hand, the public API. */
#include "optimizers/optimizers.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the fixture's model: Dense(3) on 4 inputs, MSE, one batch of 8 ------------------ */

enum { NS = 8, NI = 4, NO = 3, NK = NI * NO, NP = NK + NO };

/* Parameters as one buffer [kernel (4 x 3, row-major) | bias (3)]. */
static const size_t OFF[3] = {0, NK, NP};

/* loss = mean((x W + b - y)^2) over 8*3 values, and its gradient (in double):
 * dL/dW = 2/24 x^T (pred - y), dL/db = 2/24 column sums of (pred - y). */
static double mse_and_grad(const float *p, const double *x, const double *y, double *g)
{
    double loss = 0.0;
    for (int k = 0; k < NP; k++)
        g[k] = 0.0;
    const double c = 2.0 / (NS * NO);
    for (int s = 0; s < NS; s++) {
        for (int j = 0; j < NO; j++) {
            double pred = p[NK + j];
            for (int i = 0; i < NI; i++)
                pred += x[s * NI + i] * p[i * NO + j];
            double e = pred - y[s * NO + j];
            loss += e * e;
            for (int i = 0; i < NI; i++)
                g[i * NO + j] += c * e * x[s * NI + i];
            g[NK + j] += c * e;
        }
    }
    return loss / (NS * NO);
}

/* A [rows][cols] or [n] JSON list of numbers, in double (tu_floats rounds to float). */
static double *doubles(json_t *a, size_t want)
{
    double *d = malloc(want * sizeof *d);
    ck_assert_ptr_nonnull(d);
    size_t k = 0;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *row = json_array_get(a, i);
        if (json_is_array(row))
            for (size_t j = 0; j < json_array_size(row) && k < want; j++)
                d[k++] = json_number_value(json_array_get(row, j));
        else if (k < want)
            d[k++] = json_number_value(row);
    }
    ck_assert_uint_eq(k, want);
    return d;
}

/* Our hand-written model reproduces the fixture's initial loss and gradient. */
START_TEST(fixture_model_by_hand)
{
    json_t *root = tu_load_json("keras3-traces/optimizers.json");
    double *x = doubles(tu_get(root, "x"), NS * NI), *y = doubles(tu_get(root, "y"), NS * NO);
    float p[NP], gk[NK], gb[NO], g32[NP];
    float *k0 = tu_floats(tu_get(root, "initial_kernel"), NULL, NULL, NULL);
    float *b0 = tu_floats(tu_get(root, "initial_bias"), NULL, NULL, NULL);
    memcpy(p, k0, sizeof(float) * NK);
    memcpy(p + NK, b0, sizeof(float) * NO);
    double g[NP];
    double loss = mse_and_grad(p, x, y, g);
    ck_assert_double_eq_tol(loss, tu_number(tu_get(root, "initial_loss")), 1e-6 * loss);
    float *kg = tu_floats(tu_get(root, "initial_gradient/kernel"), NULL, NULL, NULL);
    float *bg = tu_floats(tu_get(root, "initial_gradient/bias"), NULL, NULL, NULL);
    for (int k = 0; k < NP; k++)
        g32[k] = (float)g[k];
    memcpy(gk, g32, sizeof gk);
    memcpy(gb, g32 + NK, sizeof gb);
    tu_assert_close(gk, kg, NK, 1e-6, 1e-5, "initial kernel gradient");
    tu_assert_close(gb, bg, NO, 1e-6, 1e-5, "initial bias gradient");
    free(kg);
    free(bg);
    free(k0);
    free(b0);
    free(x);
    free(y);
    json_decref(root);
}
END_TEST

/* ---- Keras' trajectories ------------------------------------------------------------- */

static const char *const RUNS[] = {
    "sgd",     "sgd_momentum", "sgd_nesterov", "adam",  "adam_amsgrad", "adam_custom",  "adamw",
    "rmsprop", "rmsprop_momentum_centered",    "adagrad", "nadam",      "adamax",       "adadelta",
    "lion",    "sgd_clipnorm", "adam_clipvalue",
};
#define NRUNS ((int)(sizeof RUNS / sizeof RUNS[0]))

/* Keras config keys that are not keywords we store. */
static bool skip_key(const char *k)
{
    return strcmp(k, "name") == 0;
}

/* Builds the optimizer of a run from the Keras config it recorded; for runs made with the
 * constructor's defaults, first checks our defaults against Keras' config. */
static ckeras_optimizer *optimizer_of_run(json_t *run, const char *key)
{
    json_t *cfg = tu_get(run, "config");
    const char *kname = json_string_value(tu_get(cfg, "name"));
    ck_opt_kind kind = ck_optimizer_kind_from_name(kname);
    ck_assert_msg(kind != CK_OPT_COUNT, "%s: unknown optimizer name %s", key, kname);
    ckeras_optimizer *o = ck_optimizer_new(kind);
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(ck_cfg_str(&o->cfg, "name"), kname);
    const char *ctor = json_string_value(tu_get(run, "constructor"));
    bool defaults = strstr(ctor, "()") != NULL;
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v) {
        if (skip_key(k))
            continue;
        const ck_value *ours = ck_cfg_value(&o->cfg, k);
        ck_assert_msg(ours != NULL, "%s: Keras config key '%s' missing from our schema", key, k);
        if (defaults) {
            ck_assert_msg(ours->is_none == json_is_null(v), "%s: default of '%s' None-ness differs", key, k);
            if (json_is_number(v))
                ck_assert_msg(fabs(ours->f - json_number_value(v)) <= 1e-7 * fabs(json_number_value(v)),
                              "%s: default %s = %g, Keras %g", key, k, ours->f, json_number_value(v));
            if (json_is_boolean(v))
                ck_assert_msg(ours->i == json_is_true(v), "%s: default of %s", key, k);
        }
        if (json_is_null(v))
            continue;
        double x = json_is_boolean(v) ? (json_is_true(v) ? 1.0 : 0.0) : json_number_value(v);
        ck_assert_msg(ck_optimizer_set(o, k, x) == CKERAS_OK, "%s: set %s: %s", key, k, ckeras_last_error());
    }
    ck_assert_int_eq(ck_optimizer_check(o), CKERAS_OK);
    return o;
}

static void check_slots(ckeras_optimizer *o, json_t *vars, const char *key)
{
    const char *names[CK_OPT_MAX_SLOTS];
    int ns = ck_optimizer_slot_names(o, names);
    ck_assert_int_eq(ns, o->nslots);
    int matched = 0;
    for (size_t i = 0; i < json_array_size(vars); i++) {
        json_t *e = json_array_get(vars, i);
        const char *name = json_string_value(tu_get(e, "name"));
        json_t *val = tu_get(e, "value");
        if (strcmp(name, "iteration") == 0) {
            ck_assert_int_eq((int64_t)json_number_value(val), o->iterations);
            continue;
        }
        if (strcmp(name, "learning_rate") == 0) {
            ck_assert(ck_optimizer_lr(o) == (float)json_number_value(val));
            continue;
        }
        if (strcmp(name, "variable") == 0) { /* Nadam's running product of mu_t */
            ck_assert_int_eq(o->kind, CK_OPT_NADAM);
            ck_assert_double_eq_tol(o->u_product, json_number_value(val), 1e-6);
            continue;
        }
        const char *kp = "sequential_dense_kernel_", *bp = "sequential_dense_bias_";
        size_t at, n;
        const char *slot;
        if (strncmp(name, kp, strlen(kp)) == 0) {
            slot = name + strlen(kp), at = OFF[0], n = NK;
        } else {
            ck_assert_msg(strncmp(name, bp, strlen(bp)) == 0, "%s: unexpected variable %s", key, name);
            slot = name + strlen(bp), at = OFF[1], n = NO;
        }
        int s = 0;
        while (s < ns && strcmp(names[s], slot) != 0)
            s++;
        ck_assert_msg(s < ns, "%s: Keras slot '%s' not among ours", key, slot);
        size_t cnt;
        float *want = tu_floats(val, &cnt, NULL, NULL);
        ck_assert_uint_eq(cnt, n);
        char what[160];
        snprintf(what, sizeof what, "%s: %s after step 5", key, name);
        tu_assert_close(o->slots[s] + at, want, n, 1e-9, 1e-5, what);
        free(want);
        matched++;
    }
    ck_assert_int_eq(matched, 2 * ns); /* every slot of ours, for both variables */
}

START_TEST(keras_trajectories)
{
    const char *key = RUNS[_i];
    json_t *root = tu_load_json("keras3-traces/optimizers.json");
    json_t *run = tu_get(tu_get(root, "runs"), key);
    double *x = doubles(tu_get(root, "x"), NS * NI), *y = doubles(tu_get(root, "y"), NS * NO);
    float p[NP], gr[NP];
    float *k0 = tu_floats(tu_get(root, "initial_kernel"), NULL, NULL, NULL);
    float *b0 = tu_floats(tu_get(root, "initial_bias"), NULL, NULL, NULL);
    memcpy(p, k0, sizeof(float) * NK);
    memcpy(p + NK, b0, sizeof(float) * NO);

    ckeras_optimizer *o = optimizer_of_run(run, key);
    ck_assert_int_eq(ck_optimizer_build(o, NP), CKERAS_OK);
    json_t *steps = tu_get(run, "steps");
    ck_assert_uint_eq(json_array_size(steps), 5);
    double loss_sum = 0.0;
    for (size_t t = 0; t < 5; t++) {
        json_t *st = json_array_get(steps, t);
        double g[NP];
        loss_sum += mse_and_grad(p, x, y, g);
        /* Keras 3's train_on_batch returns its loss tracker's value, which is not reset between
         * calls: the mean of the losses (each before its step's update) of steps 1..t+1. */
        double loss = loss_sum / (double)(t + 1);
        double want = tu_number(tu_get(st, "loss"));
        ck_assert_msg(fabs(loss - want) <= 1e-5 * fabs(want) + 1e-7, "%s step %zu: mean loss %.9g, Keras %.9g",
                      key, t + 1, loss, want);
        for (int k = 0; k < NP; k++)
            gr[k] = (float)g[k];
        uint64_t allocs = ck_alloc_count();
        ck_optimizer_apply(o, p, gr, OFF, 2);
        ck_assert_msg(ck_alloc_count() == allocs, "%s: apply allocated", key);
        ck_assert_int_eq(o->iterations, (int64_t)t + 1);
        float *wk = tu_floats(tu_get(st, "kernel"), NULL, NULL, NULL);
        float *wb = tu_floats(tu_get(st, "bias"), NULL, NULL, NULL);
        char what[96];
        snprintf(what, sizeof what, "%s step %zu kernel", key, t + 1);
        tu_assert_close(p, wk, NK, 1e-7, 1e-6, what);
        snprintf(what, sizeof what, "%s step %zu bias", key, t + 1);
        tu_assert_close(p + NK, wb, NO, 1e-7, 1e-6, what);
        free(wk);
        free(wb);
    }
    check_slots(o, tu_get(run, "variables_after_step5"), key);
    ck_assert_int_eq(ckeras_optimizer_iterations(o), 5);
    ck_optimizer_free(o);
    free(k0);
    free(b0);
    free(x);
    free(y);
    json_decref(root);
}
END_TEST

/* ---- clipping and build, by hand ----------------------------------------------------- */

/* Two variables a = (3, 4) (norm 5) and b = (0.3, 0.4) (norm 0.5), SGD lr 1 from w = 0, so
 * w after one step is minus the clipped gradient. */
static void clip_case(const char *what, double c, const float want[4])
{
    ckeras_optimizer *o = ckeras_sgd(1.0, 0.0, 0);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, what, c), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_build(o, 4), CKERAS_OK);
    float w[4] = {0, 0, 0, 0}, g[4] = {3, 4, 0.3f, 0.4f};
    const size_t off[3] = {0, 2, 4};
    ck_optimizer_apply(o, w, g, off, 2);
    float neg[4];
    for (int i = 0; i < 4; i++)
        neg[i] = -w[i];
    tu_assert_close(neg, want, 4, 1e-7, 1e-6, what);
    ckeras_optimizer_free(o);
}

START_TEST(clipping_by_hand)
{
    /* clipnorm 1: each variable on its own: a -> a/5, b (norm .5 < 1) unchanged */
    clip_case("clipnorm", 1.0, (const float[]){0.6f, 0.8f, 0.3f, 0.4f});
    /* global_clipnorm 1: global norm sqrt(25.25): all scaled by 1/sqrt(25.25) */
    double s = 1.0 / sqrt(25.25);
    clip_case("global_clipnorm", 1.0,
              (const float[]){(float)(3 * s), (float)(4 * s), (float)(0.3 * s), (float)(0.4 * s)});
    /* global_clipnorm above the norm: unchanged */
    clip_case("global_clipnorm", 10.0, (const float[]){3, 4, 0.3f, 0.4f});
    /* clipvalue 0.35: clamp each value */
    clip_case("clipvalue", 0.35, (const float[]){0.35f, 0.35f, 0.3f, 0.35f});
}
END_TEST

/* AdamW with weight decay only (zero gradient): Adam's step is 0, w *= 1 - lr * wd; and the
 * same decay applies to any optimizer given weight_decay (Keras 3 base optimizer). */
START_TEST(weight_decay_by_hand)
{
    ckeras_optimizer *o = ckeras_adamw(0.1, 0.5);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(ck_optimizer_build(o, 3), CKERAS_OK);
    float w[3] = {1, -2, 4}, g[3] = {0, 0, 0};
    const size_t off[2] = {0, 3};
    ck_optimizer_apply(o, w, g, off, 1);
    tu_assert_close(w, (const float[]){0.95f, -1.9f, 3.8f}, 3, 1e-7, 1e-6, "adamw decay");
    ckeras_optimizer_free(o);

    o = ckeras_sgd(0.1, 0.0, 0);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "weight_decay", 0.5), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_build(o, 3), CKERAS_OK);
    float w2[3] = {1, -2, 4}, g2[3] = {1, 1, 1};
    ck_optimizer_apply(o, w2, g2, off, 1);
    /* decay first, then w -= lr * g */
    tu_assert_close(w2, (const float[]){0.85f, -2.0f, 3.7f}, 3, 1e-7, 1e-6, "sgd decay");
    ckeras_optimizer_free(o);
}
END_TEST

START_TEST(build_state_and_failures)
{
    ckeras_optimizer *o = ckeras_adagrad(0.01);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(ck_optimizer_set(o, "initial_accumulator_value", 0.25), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_build(o, 5), CKERAS_OK);
    ck_assert_int_eq(o->nslots, 1);
    for (int i = 0; i < 5; i++)
        ck_assert(o->slots[0][i] == 0.25f);
    float w[5] = {0}, g[5] = {1, 1, 1, 1, 1};
    const size_t off[2] = {0, 5};
    ck_optimizer_apply(o, w, g, off, 1);
    ck_assert_int_eq(o->iterations, 1);
    /* same n: state kept */
    ck_assert_int_eq(ck_optimizer_build(o, 5), CKERAS_OK);
    ck_assert_int_eq(o->iterations, 1);
    ck_assert(o->slots[0][0] == 1.25f);
    /* new n whose allocation fails: old state kept */
    ck_alloc_fail_at(1);
    ck_assert_int_eq(ck_optimizer_build(o, 7), CKERAS_ENOMEM);
    ck_assert_uint_eq(o->n, 5);
    ck_assert_int_eq(o->iterations, 1);
    ck_assert(o->slots[0][0] == 1.25f);
    /* new n: fresh state */
    ck_assert_int_eq(ck_optimizer_build(o, 7), CKERAS_OK);
    ck_assert_int_eq(o->iterations, 0);
    ck_assert(o->slots[0][6] == 0.25f);
    /* apply with a layout it was not built for: nothing changes */
    float w2[5] = {0};
    ck_optimizer_apply(o, w2, g, off, 1);
    ck_assert_int_eq(o->iterations, 0);
    ck_assert(w2[0] == 0.0f);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "built for 7"));
    ck_optimizer_free(o);

    /* slot layout changes after build are refused; before build they are fine */
    o = ckeras_sgd(0.1, 0.0, 0);
    ck_assert_int_eq(ck_optimizer_slot_names(o, NULL), 0);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.5), CKERAS_OK);
    const char *names[CK_OPT_MAX_SLOTS];
    ck_assert_int_eq(ck_optimizer_slot_names(o, names), 1);
    ck_assert_str_eq(names[0], "momentum");
    ck_assert_int_eq(ck_optimizer_build(o, 4), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.9), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.0), CKERAS_ESTATE);
    ck_assert(ck_cfg_float(&o->cfg, "momentum") == 0.9);
    ckeras_optimizer_free(o);

    o = ckeras_rmsprop(0.001);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "centered", 1), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_slot_names(o, names), 2);
    ck_assert_str_eq(names[1], "average_gradient");
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.9), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_slot_names(o, names), 3);
    ck_assert_str_eq(names[0], "velocity");
    ck_assert_str_eq(names[1], "momentum");
    ck_assert_str_eq(names[2], "average_gradient");
    ckeras_optimizer_free(o);

    o = ckeras_adam(0.001);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "amsgrad", 1), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_slot_names(o, names), 3);
    ck_assert_str_eq(names[2], "velocity_hat");
    ck_assert_int_eq(ck_optimizer_build(o, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "amsgrad", 0), CKERAS_ESTATE);
    /* more parameters than a tensor may hold (2^50 floats: past the limit, 2^34 by default, and
     * below SIZE_MAX / 4): out of memory, and the state built before is kept */
    ck_assert_int_eq(ck_optimizer_build(o, (size_t)1 << 50), CKERAS_ENOMEM);
    ck_assert_uint_eq(o->n, 2);
    ck_assert_int_eq(o->nslots, 3);
    ck_assert(o->slots[2][1] == 0.0f);
    /* the slots of a big model: zeros, apart, and each at its own place within a 4 kB page, at
     * least 512 bytes from the others' and from where a big malloc block starts (16-64 bytes) */
    const size_t n = 300001;
    ck_assert_int_eq(ck_optimizer_build(o, n), CKERAS_OK);
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < n; i += 997)
            ck_assert(o->slots[s][i] == 0.0f);
        ck_assert(o->slots[s][n - 1] == 0.0f);
        if (s > 0)
            ck_assert(o->slots[s] >= o->slots[s - 1] + n);
        const long at = (long)((uintptr_t)o->slots[s] % 4096);
        ck_assert_msg(at >= 512 && at <= 4096 - 512, "slot %d at %ld in its page", s, at);
        for (int k = 0; k < s; k++) {
            long d = labs(at - (long)((uintptr_t)o->slots[k] % 4096));
            ck_assert_msg(d >= 512 && d <= 4096 - 512, "slots %d and %d %ld bytes apart in their pages", k, s, d);
        }
    }
    ckeras_optimizer_free(o);
}
END_TEST

/* ---- public API ---------------------------------------------------------------------- */

static double f(const ckeras_optimizer *o, const char *name)
{
    const ck_value *v = ck_cfg_value(&o->cfg, name);
    ck_assert_msg(v != NULL, "no setting %s", name);
    return v->f;
}

START_TEST(api_defaults)
{
    ckeras_optimizer *o = ckeras_optimizer_from_name("sgd");
    ck_assert_ptr_nonnull(o);
    ck_assert_str_eq(ck_optimizer_class(o), "SGD");
    ck_assert_str_eq(ck_cfg_str(&o->cfg, "name"), "SGD");
    ck_assert(f(o, "learning_rate") == 0.01 && f(o, "momentum") == 0.0 && !ck_cfg_bool(&o->cfg, "nesterov"));
    ck_assert(ck_cfg_value(&o->cfg, "weight_decay")->is_none);
    ck_assert(ck_cfg_value(&o->cfg, "clipnorm")->is_none);
    ck_assert(ck_cfg_value(&o->cfg, "clipvalue")->is_none);
    ck_assert(ck_cfg_value(&o->cfg, "global_clipnorm")->is_none);
    ck_assert_int_eq(ckeras_optimizer_iterations(o), 0);
    ckeras_optimizer_free(o);

    o = ckeras_optimizer_from_name("Adam");
    ck_assert_str_eq(ck_optimizer_class(o), "Adam");
    ck_assert_str_eq(ck_cfg_str(&o->cfg, "name"), "adam");
    ck_assert(f(o, "learning_rate") == 0.001 && f(o, "beta_1") == 0.9 && f(o, "beta_2") == 0.999 &&
              f(o, "epsilon") == 1e-7 && !ck_cfg_bool(&o->cfg, "amsgrad"));
    ckeras_optimizer_free(o);

    o = ckeras_optimizer_from_name("ADAMW");
    ck_assert_int_eq(o->kind, CK_OPT_ADAMW);
    ck_assert(f(o, "weight_decay") == 0.004 && f(o, "learning_rate") == 0.001);
    ckeras_optimizer_free(o);

    o = ckeras_optimizer_from_name("rmsprop");
    ck_assert(f(o, "learning_rate") == 0.001 && f(o, "rho") == 0.9 && f(o, "momentum") == 0.0 &&
              f(o, "epsilon") == 1e-7 && !ck_cfg_bool(&o->cfg, "centered"));
    ckeras_optimizer_free(o);

    o = ckeras_optimizer_from_name("adagrad");
    ck_assert(f(o, "learning_rate") == 0.001 && f(o, "initial_accumulator_value") == 0.1 &&
              f(o, "epsilon") == 1e-7);
    ckeras_optimizer_free(o);

    o = ckeras_sgd(0.1, 0.9, 1);
    ck_assert(f(o, "learning_rate") == 0.1 && f(o, "momentum") == 0.9 && ck_cfg_bool(&o->cfg, "nesterov"));
    ckeras_optimizer_free(o);
    o = ckeras_adam(0.02);
    ck_assert(f(o, "learning_rate") == 0.02 && ck_cfg_value(&o->cfg, "weight_decay")->is_none);
    ckeras_optimizer_free(o);
    o = ckeras_adamw(0.01, 0.1);
    ck_assert(f(o, "learning_rate") == 0.01 && f(o, "weight_decay") == 0.1);
    ckeras_optimizer_free(o);
    o = ckeras_rmsprop(0.5);
    ck_assert(f(o, "learning_rate") == 0.5 && ck_optimizer_lr(o) == 0.5f);
    ckeras_optimizer_free(o);
    o = ckeras_adagrad(0.25);
    ck_assert(f(o, "learning_rate") == 0.25);
    ckeras_optimizer_free(o);
}
END_TEST

START_TEST(api_errors)
{
    ck_assert_ptr_null(ckeras_optimizer_from_name("adamm"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "'adamm'"));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "rmsprop"));
    ck_assert_ptr_null(ckeras_optimizer_from_name(NULL));
    ck_assert_ptr_null(ckeras_sgd(-0.1, 0.0, 0));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "learning_rate"));
    ck_assert_ptr_null(ckeras_sgd(0.1, 1.5, 0));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "momentum"));
    ck_assert_ptr_null(ckeras_adam(NAN));
    ck_assert_ptr_null(ckeras_adamw(0.001, -1.0));
    ck_assert_ptr_null(ckeras_rmsprop(-1.0));
    ck_assert_ptr_null(ckeras_adagrad(INFINITY));

    ckeras_optimizer *o = ckeras_adam(0.001);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "beta_3", 0.5), CKERAS_EINVAL);
    const char *msg = ckeras_last_error();
    ck_assert_ptr_nonnull(strstr(msg, "unknown setting 'beta_3'"));
    ck_assert_ptr_nonnull(strstr(msg, "learning_rate"));
    ck_assert_ptr_nonnull(strstr(msg, "beta_2"));
    ck_assert_ptr_nonnull(strstr(msg, "amsgrad"));
    /* Adam has no momentum keyword (only ema_momentum) */
    ck_assert_ptr_null(strstr(msg, " momentum,"));
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "name", 1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, NULL, 1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "beta_1", 1.0), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "[0, 1)"));
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "beta_2", -0.1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "epsilon", -1e-7), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "learning_rate", NAN), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "amsgrad", 2), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "use_ema", 1), CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "gradient_accumulation_steps", 2), CKERAS_EUNSUPPORTED);
    /* nothing changed by the failures */
    ck_assert(f(o, "beta_1") == 0.9 && f(o, "beta_2") == 0.999 && f(o, "learning_rate") == 0.001);
    ck_assert(!ck_cfg_bool(&o->cfg, "amsgrad"));
    /* good values */
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "learning_rate", 0.0), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "beta_1", 0.0), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "weight_decay", 0.01), CKERAS_OK);
    /* clipping: one kind at a time; 0 means None */
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipnorm", 1.0), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipvalue", 0.5), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "clipnorm"));
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipnorm", -1.0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipnorm", 0.0), CKERAS_OK);
    ck_assert(ck_cfg_value(&o->cfg, "clipnorm")->is_none);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipvalue", 0.5), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_check(o), CKERAS_OK);
    /* a config set around the checks (as a file reader may) is caught by ck_optimizer_check */
    ck_assert_int_eq(ck_config_set_float(&o->cfg, "Adam", "global_clipnorm", 1.0), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_check(o), CKERAS_EINVAL);
    ck_assert_int_eq(ck_config_set_none(&o->cfg, "Adam", "global_clipnorm"), CKERAS_OK);
    ck_assert_int_eq(ck_config_set_float(&o->cfg, "Adam", "beta_2", 1.5), CKERAS_OK);
    ck_assert_int_eq(ck_optimizer_check(o), CKERAS_EINVAL);
    ckeras_optimizer_free(o);

    o = ckeras_optimizer_from_name("rmsprop");
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "rho", 1.1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "beta_1", 0.5), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "centered"));
    ckeras_optimizer_free(o);
    o = ckeras_optimizer_from_name("adagrad");
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "initial_accumulator_value", -0.1), CKERAS_EINVAL);
    ckeras_optimizer_free(o);

    /* NULL handles */
    ck_assert_int_eq(ckeras_optimizer_set_float(NULL, "learning_rate", 0.1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_iterations(NULL), -1);
    ckeras_optimizer_free(NULL);
    ck_assert_int_eq(ck_optimizer_build(NULL, 3), CKERAS_EINVAL);
    ck_assert_int_eq(ck_optimizer_check(NULL), CKERAS_EINVAL);
}
END_TEST

/* Constructors that run out of memory return NULL with a message and leak nothing. */
START_TEST(api_out_of_memory)
{
    for (uint64_t k = 1; k <= 4; k++) {
        ck_alloc_fail_at(k);
        ckeras_optimizer *o = ckeras_adam(0.001);
        ck_alloc_fail_at(0);
        if (o) {
            ckeras_optimizer_free(o);
            break;
        }
        ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "out of memory"));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optimizers");
    TCase *tc = tcase_create("optimizers");
    tcase_add_test(tc, fixture_model_by_hand);
    tcase_add_loop_test(tc, keras_trajectories, 0, NRUNS);
    tcase_add_test(tc, clipping_by_hand);
    tcase_add_test(tc, weight_decay_by_hand);
    tcase_add_test(tc, build_state_and_failures);
    tcase_add_test(tc, api_defaults);
    tcase_add_test(tc, api_errors);
    tcase_add_test(tc, api_out_of_memory);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
