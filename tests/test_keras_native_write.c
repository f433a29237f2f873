/* Writing Keras 3's native format: ckeras_model_save of a .keras path, ckeras_model_save_weights
 * of a .weights.h5 path (src/model/native.c, src/io/keras3_json.c). Round trips through ckeras'
 * own reader; that real Keras 3.11.3 loads the same files is checked outside CI (set
 * CK_NATIVE_KEEP=DIR to keep the files written here for tests/keras/check_native.py). */
#include "model/model.h"
#include "io/io.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "api_ids.h"

static const char *tmpdir;

static void setup(void)
{
    tmpdir = tu_tmpdir_make("nwrite");
    ckeras_set_num_threads(1);
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

#define tmp tu_tmp
#define count_entries tu_count_entries

/* ---- the models ----------------------------------------------------------------------------- */

typedef struct spec {
    const char *name;
    ckeras_model *(*build)(void);
    int ndim;
    int64_t in[3]; /* per-sample input shape */
    int64_t out;   /* per-sample outputs */
} spec;

static ckeras_model *compiled(ckeras_model *m, const char *loss)
{
    ck_assert_msg(ckeras_model_compile(m, ckeras_adam(0.01), loss, "accuracy") == CKERAS_OK, "%s",
                  ckeras_last_error());
    return m;
}

static ckeras_model *mlp(void)
{
    ckeras_model *m = ckeras_sequential("mlp");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){8})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(16, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(12, "tanh")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    return compiled(m, "categorical_crossentropy");
}

/* BatchNormalization + Add + Concatenate */
static ckeras_model *bn_merge(void)
{
    ckeras_model *m = ckeras_functional("bn_merge");
    int x = id_input(m, ckeras_input(1, (const int64_t[]){8}));
    int a = id_call(m, ckeras_dense(6, NULL), 1, &x);
    int b = id_call(m, ckeras_batch_normalization(), 1, &a);
    int r = id_call(m, ckeras_activation("relu"), 1, &b);
    int c = id_call(m, ckeras_dense(6, "tanh"), 1, &x);
    int s = id_call(m, ckeras_add(), 2, (const int[]){r, c});
    int k = id_call(m, ckeras_concatenate(-1), 2, (const int[]){s, c});
    int y = id_call(m, ckeras_dense(3, "softmax"), 1, &k);
    ck_assert_msg(y >= 0, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    return compiled(m, "categorical_crossentropy");
}

static ckeras_model *lstm(void)
{
    ckeras_model *m = ckeras_sequential("lstm_model");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){5, 4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_lstm(6, 0)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    return compiled(m, "categorical_crossentropy");
}

static ckeras_model *gru(void)
{
    ckeras_model *m = ckeras_sequential("gru_model");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){5, 4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_gru(4, 1)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    return compiled(m, "categorical_crossentropy");
}

static const spec specs[] = {
    {"mlp", mlp, 1, {8}, 3},
    {"bn_merge", bn_merge, 1, {8}, 3},
    {"lstm", lstm, 2, {5, 4}, 3},
    {"gru", gru, 2, {5, 4}, 3},
};
#define NSPECS (int)(sizeof specs / sizeof specs[0])

/* A deterministic batch number `step` of 6 samples: x in [-1, 1), one-hot y. */
static void batch(const spec *s, int step, ckeras_tensor **x, ckeras_tensor **y)
{
    int64_t n = 6, xs[4] = {n}, per = 1;
    for (int d = 0; d < s->ndim; d++) {
        xs[d + 1] = s->in[d];
        per *= s->in[d];
    }
    *x = ckeras_tensor_new(s->ndim + 1, xs);
    *y = ckeras_tensor_new(2, (const int64_t[]){n, s->out});
    uint32_t r = 12345u + 7919u * (uint32_t)step;
    float *xd = ckeras_tensor_data(*x), *yd = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < n * per; i++) {
        r = r * 1664525u + 1013904223u;
        xd[i] = (float)(r >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s->out; j++)
            yd[i * s->out + j] = j == (i + step) % s->out;
}

static void train(ckeras_model *m, const spec *s, int from, int steps)
{
    for (int k = from; k < from + steps; k++) {
        ckeras_tensor *x, *y;
        batch(s, k, &x, &y);
        ck_assert_msg(ckeras_model_train_on_batch(m, x, y, NULL, 0) == CKERAS_OK, "%s: %s", s->name,
                      ckeras_last_error());
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
    }
}

static ckeras_model *fresh(const spec *s, uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = s->build();
    ck_assert_ptr_nonnull(m);
    return m;
}

static ckeras_tensor *predict(ckeras_model *m, const spec *s)
{
    ckeras_tensor *x, *y, *out = NULL;
    batch(s, 1000, &x, &y);
    ck_assert_msg(ckeras_model_predict(m, x, 32, &out) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    return out;
}

static void same_predictions(ckeras_model *a, ckeras_model *b, const spec *s)
{
    ckeras_tensor *pa = predict(a, s), *pb = predict(b, s);
    ck_assert_int_eq(ckeras_tensor_size(pa), ckeras_tensor_size(pb));
    ck_assert_msg(memcmp(ckeras_tensor_data(pa), ckeras_tensor_data(pb),
                         (size_t)ckeras_tensor_size(pa) * sizeof(float)) == 0,
                  "%s: predictions differ after the round trip", s->name);
    ckeras_tensor_free(pa);
    ckeras_tensor_free(pb);
}

/* Every weight, the step count and every optimizer slot equal, bit for bit. */
static void same_state(const ckeras_model *a, const ckeras_model *b, const char *what)
{
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_msg(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "%s: weights differ", what);
    ck_assert_uint_eq(a->n_state, b->n_state);
    if (a->n_state)
        ck_assert_msg(memcmp(a->state, b->state, a->n_state * sizeof(float)) == 0, "%s: non-trainable weights differ",
                      what);
    ck_assert_msg(a->opt->iterations == b->opt->iterations, "%s: iterations %lld vs %lld", what,
                  (long long)a->opt->iterations, (long long)b->opt->iterations);
    ck_assert_int_eq(a->opt->nslots, b->opt->nslots);
    ck_assert_uint_eq(a->opt->n, b->opt->n);
    for (int s = 0; s < a->opt->nslots; s++)
        ck_assert_msg(memcmp(a->opt->slots[s], b->opt->slots[s], a->opt->n * sizeof(float)) == 0,
                      "%s: optimizer slot %d differs", what, s);
}

/* With CK_NATIVE_KEEP=DIR: DIR/<name>.keras, its inputs <name>.inputs.npy and ckeras'
 * predictions <name>.ckeras.npy, for the Keras check (tests/keras/check_native.py). */
static void keep(const char *path, ckeras_model *m, const spec *s)
{
    const char *dir = getenv("CK_NATIVE_KEEP");
    if (!dir || !*dir)
        return;
    char cmd[1200], p[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s.keras'", path, dir, s->name);
    ck_assert_int_eq(system(cmd), 0);
    ckeras_tensor *x, *y, *out = predict(m, s);
    batch(s, 1000, &x, &y);
    snprintf(p, sizeof p, "%s/%s.inputs.npy", dir, s->name);
    ck_assert_int_eq(ck_npy_write(p, x), CKERAS_OK);
    snprintf(p, sizeof p, "%s/%s.ckeras.npy", dir, s->name);
    ck_assert_int_eq(ck_npy_write(p, out), CKERAS_OK);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(out);
}

/* ---- tests ---------------------------------------------------------------------------------- */

START_TEST(keras_round_trip_predicts_the_same)
{
    for (int i = 0; i < NSPECS; i++) {
        const spec *s = &specs[i];
        ckeras_model *m = fresh(s, 1234);
        train(m, s, 0, 3);
        char name[64];
        snprintf(name, sizeof name, "%s.keras", s->name);
        const char *p = tmp(name);
        ck_assert_msg(ckeras_model_save(m, p, 0) == CKERAS_OK, "%s: %s", s->name, ckeras_last_error());
        /* a zip with Keras' three members */
        ck_keras_archive a;
        ck_assert_msg(ck_keras_read(p, &a) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_ptr_nonnull(strstr(a.config, "\"module\":\"keras.layers\""));
        ck_assert_ptr_nonnull(strstr(a.config, "\"compile_config\""));
        ck_assert_ptr_nonnull(strstr(a.config, "\"build_config\""));
        ck_assert_ptr_nonnull(strstr(a.config, "\"DTypePolicy\""));
        ck_assert_ptr_nonnull(strstr(a.metadata, "\"keras_version\":\"3.11.3\""));
        ck_assert_ptr_nonnull(ck_h5_vars_find(&a.vars, "optimizer"));
        ck_keras_archive_free(&a);
        ckeras_model *b = NULL;
        ck_assert_msg(ckeras_load_model(p, 0, &b) == CKERAS_OK, "%s: %s", s->name, ckeras_last_error());
        same_predictions(m, b, s);
        same_state(m, b, s->name);
        /* predictions match after compile=False too */
        ckeras_model *c = NULL;
        ck_assert_int_eq(ckeras_load_model(p, CKERAS_LOAD_NO_COMPILE, &c), CKERAS_OK);
        same_predictions(m, c, s);
        keep(p, m, s);
        ckeras_model_free(m);
        ckeras_model_free(b);
        ckeras_model_free(c);
    }
}
END_TEST

/* Train N steps, save, load, train M: the same as N + M uninterrupted, bit for bit (weights,
 * moving statistics, Adam's iterations and slots). */
START_TEST(training_resumes_bit_identical)
{
    for (int i = 0; i < NSPECS; i++) {
        const spec *s = &specs[i];
        ckeras_model *a = fresh(s, 99), *c = fresh(s, 99);
        train(a, s, 0, 4);
        const char *p = tmp("resume.keras");
        ck_assert_msg(ckeras_model_save(a, p, 0) == CKERAS_OK, "%s", ckeras_last_error());
        ckeras_model *b = NULL;
        ck_assert_msg(ckeras_load_model(p, 0, &b) == CKERAS_OK, "%s: %s", s->name, ckeras_last_error());
        ck_assert_int_eq(b->opt->iterations, 4);
        train(b, s, 4, 3);
        train(c, s, 0, 7);
        same_state(b, c, s->name);
        same_predictions(b, c, s);
        ckeras_model_free(a);
        ckeras_model_free(b);
        ckeras_model_free(c);
    }
}
END_TEST

/* CKERAS_SAVE_NO_OPTIMIZER: optimizer/vars hold a new optimizer's state (what Keras restores
 * without a warning); the loaded model starts its optimizer afresh. */
START_TEST(no_optimizer_flag)
{
    const spec *s = &specs[0];
    ckeras_model *m = fresh(s, 7);
    train(m, s, 0, 2);
    const char *p = tmp("noopt.keras");
    ck_assert_int_eq(ckeras_model_save(m, p, CKERAS_SAVE_NO_OPTIMIZER), CKERAS_OK);
    ck_keras_archive a;
    ck_assert_int_eq(ck_keras_read(p, &a), CKERAS_OK);
    const ck_h5_vars_group *g = ck_h5_vars_find(&a.vars, "optimizer");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->n, 2 + 2 * 6); /* iterations, learning_rate, Adam's two slots of 6 variables */
    ck_assert_int_eq(g->v[0].ivalue, 0);
    for (int i = 2; i < g->n; i++)
        for (int64_t j = 0; j < g->v[i].shape[0]; j++)
            ck_assert(g->v[i].data[j] == 0.0f);
    ck_keras_archive_free(&a);
    ckeras_model *b = NULL;
    ck_assert_int_eq(ckeras_load_model(p, 0, &b), CKERAS_OK);
    ck_assert(b->compiled);
    ck_assert_int_eq(b->opt->iterations, 0);
    same_predictions(m, b, s);
    ck_assert_int_eq(ckeras_model_save(m, p, 0x100), CKERAS_EINVAL);
    ckeras_model_free(m);
    ckeras_model_free(b);
}
END_TEST

/* save_weights to .weights.h5: Keras 3's layout (layers/<path>/vars/N, optimizer/vars/N); it loads
 * into a model of the same architecture (different initial weights) with the optimizer. */
START_TEST(weights_h5_round_trip)
{
    for (int i = 0; i < NSPECS; i++) {
        const spec *s = &specs[i];
        ckeras_model *m = fresh(s, 5);
        train(m, s, 0, 2);
        const char *p = tmp("w.weights.h5");
        ck_assert_msg(ckeras_model_save_weights(m, p) == CKERAS_OK, "%s", ckeras_last_error());
        ck_h5_vars v;
        ck_assert_int_eq(ck_h5_read_vars(p, NULL, &v), CKERAS_OK);
        ck_assert_ptr_nonnull(ck_h5_vars_find(&v, "optimizer"));
        const char *first = i == 2 ? "layers/lstm/cell" : i == 3 ? "layers/gru/cell" : "layers/dense";
        ck_assert_msg(ck_h5_vars_find(&v, first) != NULL, "%s: no %s/vars", s->name, first);
        ck_h5_vars_free(&v);
        ckeras_model *b = fresh(s, 6);
        train(b, s, 10, 1); /* its optimizer built, at another state */
        ck_assert_msg(ckeras_model_load_weights(b, p, 0) == CKERAS_OK, "%s: %s", s->name, ckeras_last_error());
        same_predictions(m, b, s);
        same_state(m, b, s->name);
        ckeras_model_free(m);
        ckeras_model_free(b);
    }
    /* a .keras path is not a weights file */
    ckeras_model *m = fresh(&specs[0], 5);
    ck_assert_int_eq(ckeras_model_save_weights(m, tmp("w.keras")), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), ".weights.h5"));
    ckeras_model_free(m);
}
END_TEST

static size_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (size_t)sb.st_size : 0;
}

/* A save that fails (every allocation in turn made to fail) leaves the existing file as it was
 * and no temporary file beside it. */
START_TEST(failed_save_keeps_the_old_file)
{
    const spec *s = &specs[1];
    ckeras_model *m = fresh(s, 3);
    train(m, s, 0, 1);
    const char *p = tmp("keep.keras");
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("old contents", f);
    fclose(f);
    int failures = 0;
    for (uint64_t k = 1; k < 10000; k++) {
        ck_alloc_fail_at(k);
        ckeras_status st = ckeras_model_save(m, p, 0);
        ck_alloc_fail_at(0);
        if (st == CKERAS_OK)
            break;
        failures++;
        ck_assert_int_eq(st, CKERAS_ENOMEM);
        ck_assert_uint_eq(file_size(p), 12);
        ck_assert_int_eq(count_entries(tmpdir), 1);
    }
    ck_assert_int_gt(failures, 5);
    ck_assert_uint_gt(file_size(p), 12);
    /* a folder that does not exist */
    ck_assert_int_eq(ckeras_model_save(m, tmp("no/such.keras"), 0), CKERAS_EIO);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keras_native_write");
    TCase *tc = tcase_create("write");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, keras_round_trip_predicts_the_same);
    tcase_add_test(tc, training_resumes_bit_identical);
    tcase_add_test(tc, no_optimizer_flag);
    tcase_add_test(tc, weights_h5_round_trip);
    tcase_add_test(tc, failed_save_keeps_the_old_file);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
