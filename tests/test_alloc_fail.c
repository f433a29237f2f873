/* Allocation-failure injection: every operation of the public API is run with its k-th
 * allocation failing, for k = 1, 2, ... until it completes without reaching k. Each failure must
 * give an error status with a message (no crash), leave the objects usable (the same call with no
 * injection then succeeds and gives the same result as a run that never failed) or free them,
 * and leak nothing: the ASan build (make check-asan) checks leaks with LeakSanitizer at exit,
 * make check-valgrind with memcheck.
 * Only the library's own allocations (ck_malloc & co.) are counted and failed; HDF5 and jansson
 * allocate with malloc. Each test prints how many allocation calls it failed and how many
 * distinct error messages came back. */
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

#define MAX_K 200000

/* Under valgrind (make check-valgrind sets CK_VALGRIND) every call is ~50x slower: fail every
 * 7th allocation only there; the ASan build (make check-asan) fails each one. */
static uint64_t kstep(void)
{
    static int slow = -1;
    if (slow < 0)
        slow = getenv("CK_VALGRIND") && *getenv("CK_VALGRIND");
    return slow ? 7 : 1;
}

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_test_alloc_fail_%d", (int)getpid());
    mkdir(tmpdir, 0700);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

static const char *tmp(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

/* Number of entries of the temporary folder (a failed save must leave no temporary file). */
static int dir_entries(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ---- bookkeeping of the failures seen -------------------------------------------------------- */

typedef struct af_stats {
    const char *op;
    int failed;            /* allocation calls made to fail */
    int nmsg;              /* distinct messages (digits blanked) */
    char msg[256][200];
} af_stats;

/* Records a failed call: it must say why. */
static void note(af_stats *s, ckeras_status st)
{
    ck_assert_msg(st != CKERAS_OK, "%s: an injected allocation failure was not reported", s->op);
    const char *e = ckeras_last_error();
    ck_assert_msg(e && *e, "%s: status %s without a message", s->op, ckeras_status_name(st));
    s->failed++;
    char norm[200];
    size_t i = 0;
    for (; e[i] && i + 1 < sizeof norm; i++)
        norm[i] = (e[i] >= '0' && e[i] <= '9') ? '#' : e[i];
    norm[i] = '\0';
    for (int k = 0; k < s->nmsg; k++)
        if (strcmp(s->msg[k], norm) == 0)
            return;
    if (s->nmsg < 256)
        snprintf(s->msg[s->nmsg++], sizeof s->msg[0], "%s", norm);
}

static void report(const af_stats *s)
{
    fprintf(stderr, "alloc_fail %-14s %4d allocation calls failed one at a time, %3d distinct error messages\n",
            s->op, s->failed, s->nmsg);
    if (getenv("CK_ALLOC_FAIL_VERBOSE"))
        for (int k = 0; k < s->nmsg; k++)
            fprintf(stderr, "    %s\n", s->msg[k]);
    ck_assert_msg(s->failed > 0, "%s: no allocation was failed (the test ran nothing)", s->op);
}

/* Arms the k-th allocation from now to fail; returns the allocation count before. */
static uint64_t arm(uint64_t k)
{
    uint64_t c0 = ck_alloc_count();
    ck_alloc_fail_at(k);
    return c0;
}

/* Disarms; true when the k-th allocation was reached (and so failed). */
static bool disarm(uint64_t c0, uint64_t k)
{
    ck_alloc_fail_at(0);
    return ck_alloc_count() - c0 >= k;
}

/* Runs a call; when it fails, records it, disarms the injection and runs it again, which must
 * then succeed. `failed` (a bool in scope) tells whether any step failed. */
#define STEP(s, expr)                                                                                        \
    do {                                                                                                     \
        ckeras_status st_ = (expr);                                                                          \
        if (st_ != CKERAS_OK) {                                                                              \
            note((s), st_);                                                                                  \
            failed = true;                                                                                   \
            ck_alloc_fail_at(0);                                                                             \
            st_ = (expr);                                                                                    \
            ck_assert_msg(st_ == CKERAS_OK, "%s: retry of %s failed: %s", (s)->op, #expr, ckeras_last_error()); \
        }                                                                                                    \
    } while (0)

/* ---- data and models ---------------------------------------------------------------------------- */

#define N 32
#define D 6

static ckeras_tensor *data_x(void)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){N, D});
    ck_rng r;
    ck_rng_seed(&r, 99);
    for (int64_t i = 0; i < N * D; i++)
        ckeras_tensor_data(t)[i] = (float)ck_rng_normal(&r);
    return t;
}

static ckeras_tensor *data_y(const ckeras_tensor *x)
{
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){N, 1});
    const float *xd = ckeras_tensor_data((ckeras_tensor *)x);
    for (int64_t i = 0; i < N; i++)
        ckeras_tensor_data(y)[i] = xd[i * D] - xd[i * D + 1] > 0;
    return y;
}

/* The model of these tests, built without injection: Dense, BatchNormalization, Dropout. */
static ckeras_model *build_model(uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("af");
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){D})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(8, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("BatchNormalization", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dropout(0.1)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    return m;
}

static ckeras_model *compiled_model(uint64_t seed)
{
    ckeras_model *m = build_model(seed);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

static ckeras_fit_args *quiet_args(int epochs)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_ptr_nonnull(a);
    ckeras_fit_args_set_int(a, "epochs", epochs);
    ckeras_fit_args_set_int(a, "batch_size", 8);
    ckeras_fit_args_set_int(a, "verbose", 0);
    return a;
}

static ckeras_model *trained_model(uint64_t seed, const ckeras_tensor *x, const ckeras_tensor *y)
{
    ckeras_model *m = compiled_model(seed);
    ckeras_fit_args *a = quiet_args(2);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    ckeras_fit_args_free(a);
    return m;
}

/* All weights (trainable, then the others) as a new array. */
static float *weights_of(const ckeras_model *m, size_t *n)
{
    *n = m->n_params + m->n_state;
    float *w = malloc((*n + 1) * sizeof(float));
    ck_assert_ptr_nonnull(w);
    if (m->n_params)
        memcpy(w, m->params, m->n_params * sizeof(float));
    if (m->n_state)
        memcpy(w + m->n_params, m->state, m->n_state * sizeof(float));
    return w;
}

static void assert_weights(const ckeras_model *m, const float *ref, size_t n, const char *what)
{
    ck_assert_msg(m->n_params + m->n_state == n, "%s: %zu weights, expected %zu", what,
                  m->n_params + m->n_state, n);
    size_t np = m->n_params;
    for (size_t i = 0; i < n; i++) {
        float v = i < np ? m->params[i] : m->state[i - np];
        ck_assert_msg(memcmp(&v, &ref[i], sizeof v) == 0, "%s: weight %zu is %.9g, expected %.9g", what, i,
                      (double)v, (double)ref[i]);
    }
}

static void assert_same_tensor(ckeras_tensor *a, ckeras_tensor *b, const char *what)
{
    ck_assert_int_eq(ckeras_tensor_size(a), ckeras_tensor_size(b));
    ck_assert_msg(memcmp(ckeras_tensor_data(a), ckeras_tensor_data(b),
                         (size_t)ckeras_tensor_size(a) * sizeof(float)) == 0, "%s: values differ", what);
}

/* ---- building ----------------------------------------------------------------------------------- */

START_TEST(af_build_sequential)
{
    af_stats s = {.op = "build"};
    ckeras_tensor *x = data_x();
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_set_random_seed(5);
        bool failed = false;
        uint64_t c0 = arm(k);
        ckeras_model *m = ckeras_sequential("af");
        if (!m) {
            note(&s, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            m = ckeras_sequential("af");
            ck_assert_ptr_nonnull(m);
        }
        STEP(&s, ckeras_model_add(m, ckeras_input(1, (const int64_t[]){D})));
        STEP(&s, ckeras_model_add(m, ckeras_dense(8, "relu")));
        STEP(&s, ckeras_model_add(m, ckeras_layer_from_config("BatchNormalization", "{\"momentum\": 0.9}")));
        STEP(&s, ckeras_model_add(m, ckeras_dropout(0.1)));
        STEP(&s, ckeras_model_add(m, ckeras_dense(1, "sigmoid")));
        bool hit = disarm(c0, k);
        ck_assert_msg(hit == failed, "k=%llu: failure reached %d, reported %d", (unsigned long long)k, hit, failed);
        /* the model is whole: four layers, the right parameter count, and it predicts */
        ck_assert_int_eq(ckeras_model_layer_count(m), 4);
        int64_t total = 0;
        ckeras_model_count_params(m, &total, NULL, NULL);
        ck_assert_int_eq(total, (D * 8 + 8) + 4 * 8 + (8 + 1));
        ckeras_tensor *out = NULL;
        ck_assert_int_eq(ckeras_model_predict(m, x, 0, &out), CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(out, 0), N);
        ck_assert_int_eq(ckeras_tensor_dim(out, 1), 1);
        ckeras_tensor_free(out);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_tensor_free(x);
    report(&s);
}
END_TEST

START_TEST(af_build_functional)
{
    af_stats s = {.op = "functional"};
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        bool failed = false;
        uint64_t c0 = arm(k);
        ckeras_model *m = ckeras_functional("fn");
        if (!m) {
            note(&s, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            m = ckeras_functional("fn");
            ck_assert_ptr_nonnull(m);
        }
        int a, b, h, c, y;
/* a tensor id, with one retry when the call fails */
#define ID(var, expr)                                                                                        \
    do {                                                                                                     \
        var = (expr);                                                                                        \
        if (var < 0) {                                                                                       \
            note(&s, CKERAS_ENOMEM);                                                                         \
            failed = true;                                                                                   \
            ck_alloc_fail_at(0);                                                                             \
            var = (expr);                                                                                    \
            ck_assert_msg(var >= 0, "retry of %s: %s", #expr, ckeras_last_error());                          \
        }                                                                                                    \
    } while (0)
        ID(a, id_input(m, ckeras_input(1, (const int64_t[]){4})));
        ID(b, id_input(m, ckeras_input(1, (const int64_t[]){4})));
        ID(h, id_call(m, ckeras_dense(4, "tanh"), 1, &a));
        int ab[2] = {h, b};
        ID(c, id_call(m, ckeras_add(), 2, ab));
        int cc[2] = {c, a};
        ID(c, id_call(m, ckeras_concatenate(-1), 2, cc));
        ID(y, id_call(m, ckeras_dense(1, NULL), 1, &c));
#undef ID
        STEP(&s, ckeras_model_set_outputs(m, 1, &y));
        STEP(&s, ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "mse", NULL));
        bool hit = disarm(c0, k);
        /* a failing ckeras_sgd() gives NULL, which compile takes as "adam": not an error */
        ck_assert_msg(!failed || hit, "k=%llu: a failure was reported but none was injected", (unsigned long long)k);
        ck_assert_int_eq(ckeras_model_layer_count(m), 4);
        ck_assert_int_eq(ckeras_model_input_count(m), 2);
        ckeras_tensor *xs[2] = {ckeras_tensor_new(2, (const int64_t[]){3, 4}),
                                ckeras_tensor_new(2, (const int64_t[]){3, 4})};
        ckeras_tensor *out = NULL;
        ck_assert_int_eq(ckeras_model_predict_multi(m, 2, (const ckeras_tensor *const *)xs, 0, &out), CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(out, 0), 3);
        ckeras_tensor_free(out);
        ckeras_tensor_free(xs[0]);
        ckeras_tensor_free(xs[1]);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    report(&s);
}
END_TEST

START_TEST(af_compile)
{
    af_stats s = {.op = "compile"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = build_model(11);
        bool failed = false;
        uint64_t c0 = arm(k);
        ckeras_optimizer *opt = ckeras_rmsprop(0.01);
        if (!opt) {
            note(&s, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            opt = ckeras_rmsprop(0.01);
            ck_assert_ptr_nonnull(opt);
        }
        ckeras_status st = ckeras_model_compile(m, opt, "binary_crossentropy", "accuracy,precision");
        if (st != CKERAS_OK) {
            note(&s, st);
            failed = true;
            ck_alloc_fail_at(0);
            ck_assert_int_eq(ckeras_model_compile(m, ckeras_rmsprop(0.01), "binary_crossentropy", "accuracy,precision"),
                             CKERAS_OK);
        }
        bool hit = disarm(c0, k);
        ck_assert_msg(hit == failed, "k=%llu: failure reached %d, reported %d", (unsigned long long)k, hit, failed);
        ck_assert_int_eq(ckeras_model_metrics_count(m), 3);
        ckeras_fit_args *a = quiet_args(1);
        ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
        ckeras_fit_args_free(a);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s);
}
END_TEST

/* ---- training ----------------------------------------------------------------------------------- */

/* fit with every allocation failing in turn, with an EarlyStopping callback or none (then no
 * copy of the weights is kept: every allocation must come before the first step) */
static void fit_case(bool callback)
{
    af_stats s = {.op = callback ? "fit" : "fit without callbacks"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    /* the weights after one clean fit from seed 3 */
    ckeras_model *ref = compiled_model(3);
    ckeras_fit_args *a = quiet_args(3);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_callback *es_ref = ckeras_early_stopping("val_loss", 5);
    ckeras_callback_set_float(es_ref, "restore_best_weights", 1);
    if (callback)
        ckeras_fit_args_add_callback(a, es_ref);
    ck_assert_int_eq(ckeras_model_fit(ref, x, y, a, NULL), CKERAS_OK);
    ckeras_callback_free(es_ref);
    ckeras_fit_args_free(a);
    size_t nref;
    float *wref = weights_of(ref, &nref);
    ckeras_model_free(ref);

    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = compiled_model(3);
        size_t n0;
        float *w0 = weights_of(m, &n0);
        bool failed = false;
        uint64_t c0 = arm(k);
        ckeras_fit_args *fa = ckeras_fit_args_new();
        if (!fa) {
            note(&s, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            fa = ckeras_fit_args_new();
            ck_assert_ptr_nonnull(fa);
        }
        ckeras_fit_args_set_int(fa, "epochs", 3);
        ckeras_fit_args_set_int(fa, "batch_size", 8);
        ckeras_fit_args_set_int(fa, "verbose", 0);
        ckeras_fit_args_set_float(fa, "validation_split", 0.25);
        ckeras_callback *es = ckeras_early_stopping("val_loss", 5);
        if (!es) {
            note(&s, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            es = ckeras_early_stopping("val_loss", 5);
            ck_assert_ptr_nonnull(es);
        }
        ck_assert_int_eq(ckeras_callback_set_float(es, "restore_best_weights", 1), CKERAS_OK);
        if (callback)
            ckeras_fit_args_add_callback(fa, es);
        ckeras_history *h = NULL;
        ckeras_status st = ckeras_model_fit(m, x, y, fa, &h);
        if (st != CKERAS_OK) {
            note(&s, st);
            failed = true;
            ck_assert_ptr_null(h);
            /* Keras semantics: a failed fit keeps the weights of the last completed epoch (the
             * allocations all come before the first step, so that is the start) */
            assert_weights(m, w0, n0, "weights after a failed fit");
            ck_alloc_fail_at(0);
            /* the generator has moved on (shuffle, dropout); start over from the same state */
            ckeras_model_free(m);
            m = compiled_model(3);
            ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, &h), CKERAS_OK);
        }
        bool hit = disarm(c0, k);
        ck_assert_msg(hit == failed, "k=%llu: failure reached %d, reported %d", (unsigned long long)k, hit, failed);
        ck_assert_int_eq(ckeras_history_epochs(h), 3);
        const double *vl;
        int ne;
        ck_assert_int_eq(ckeras_history_values(h, "val_loss", &vl, &ne), CKERAS_OK);
        ck_assert(isfinite(vl[0]));
        assert_weights(m, wref, nref, "weights after the fit that followed a failure");
        ckeras_history_free(h);
        ckeras_callback_free(es);
        ckeras_fit_args_free(fa);
        free(w0);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    free(wref);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s);
}

START_TEST(af_fit)
{
    fit_case(true);
}
END_TEST

START_TEST(af_fit_plain)
{
    fit_case(false);
}
END_TEST

START_TEST(af_train_on_batch)
{
    af_stats s = {.op = "train_on_batch"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *ref = compiled_model(4);
    double rref[2];
    ck_assert_int_eq(ckeras_model_train_on_batch(ref, x, y, rref, 2), CKERAS_OK);
    size_t nref;
    float *wref = weights_of(ref, &nref);
    ckeras_model_free(ref);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = compiled_model(4);
        size_t n0;
        float *w0 = weights_of(m, &n0);
        double r[2];
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_train_on_batch(m, x, y, r, 2);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s, st);
            /* nothing was updated: the retry gives exactly the clean run's step */
            assert_weights(m, w0, n0, "weights after a failed train_on_batch");
            ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, r, 2), CKERAS_OK);
        }
        ck_assert_msg(hit == (st != CKERAS_OK), "k=%llu: failure reached %d, status %d", (unsigned long long)k,
                      hit, st);
        assert_weights(m, wref, nref, "weights after train_on_batch");
        ck_assert(r[0] == rref[0] && r[1] == rref[1]);
        free(w0);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    free(wref);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s);
}
END_TEST

START_TEST(af_predict_evaluate)
{
    af_stats sp = {.op = "predict"}, se = {.op = "evaluate"}, ss = {.op = "summary"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *m = trained_model(6, x, y);
    ckeras_tensor *ref = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 5, &ref), CKERAS_OK);
    double eref[2];
    /* a batch larger than fit's makes evaluate grow the plan */
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 20, eref, 2), CKERAS_OK);
    char *sref = NULL;
    ck_assert_int_eq(ckeras_model_summary_string(m, 0, &sref), CKERAS_OK);
    uint64_t k;
    /* the plan grows with the batch size: use a new model for each k so every size is fresh */
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *mk = trained_model(6, x, y);
        ckeras_tensor *out = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_predict(mk, x, 5, &out);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&sp, st);
            ck_assert_ptr_null(out);
            ck_assert_int_eq(ckeras_model_predict(mk, x, 5, &out), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        assert_same_tensor(out, ref, "predict after a failure");
        ckeras_tensor_free(out);
        ckeras_model_free(mk);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *mk = trained_model(6, x, y);
        double r[2] = {0, 0};
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_evaluate(mk, x, y, 20, r, 2);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&se, st);
            ck_assert_int_eq(ckeras_model_evaluate(mk, x, y, 20, r, 2), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert(r[0] == eref[0] && r[1] == eref[1]);
        ckeras_model_free(mk);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    for (k = 1; k < MAX_K; k += kstep()) {
        char *text = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_summary_string(m, 0, &text);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&ss, st);
            ck_assert_int_eq(ckeras_model_summary_string(m, 0, &text), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_str_eq(text, sref);
        ckeras_free(text);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_free(sref);
    ckeras_tensor_free(ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&sp);
    report(&se);
    report(&ss);
}
END_TEST

/* ---- saving and loading ------------------------------------------------------------------------- */

/* save / save_weights with the k-th allocation failing, over an existing file: the old file is
 * intact and no temporary file is left behind. */
static void save_case(af_stats *s, int flags, bool weights_only)
{
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *old = trained_model(8, x, y);
    ckeras_model *m = trained_model(9, x, y);
    const char *path = tmp("model.h5");
    ckeras_tensor *pold = NULL, *pnew = NULL;
    ck_assert_int_eq(ckeras_model_predict(old, x, 0, &pold), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &pnew), CKERAS_OK);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ck_assert_int_eq(weights_only ? ckeras_model_save_weights(old, path) : ckeras_model_save(old, path, flags),
                         CKERAS_OK);
        ck_assert_int_eq(dir_entries(), 1);
        uint64_t c0 = arm(k);
        ckeras_status st = weights_only ? ckeras_model_save_weights(m, path) : ckeras_model_save(m, path, flags);
        bool hit = disarm(c0, k);
        ck_assert_int_eq(dir_entries(), 1);
        ckeras_model *back = NULL;
        ckeras_tensor *p = NULL;
        if (st != CKERAS_OK) {
            note(s, st);
            /* the old file is whole */
            if (weights_only) {
                back = build_model(1);
                ck_assert_int_eq(ckeras_model_load_weights(back, path, 0), CKERAS_OK);
            } else {
                ck_assert_int_eq(ckeras_load_model(path, 0, &back), CKERAS_OK);
            }
            ck_assert_int_eq(ckeras_model_predict(back, x, 0, &p), CKERAS_OK);
            assert_same_tensor(p, pold, "the previous file after a failed save");
            ckeras_tensor_free(p);
            ckeras_model_free(back);
            ck_assert_int_eq(weights_only ? ckeras_model_save_weights(m, path) : ckeras_model_save(m, path, flags),
                             CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        if (weights_only) {
            back = build_model(1);
            ck_assert_int_eq(ckeras_model_load_weights(back, path, 0), CKERAS_OK);
        } else {
            ck_assert_int_eq(ckeras_load_model(path, 0, &back), CKERAS_OK);
        }
        ck_assert_int_eq(ckeras_model_predict(back, x, 0, &p), CKERAS_OK);
        assert_same_tensor(p, pnew, "the new file");
        ckeras_tensor_free(p);
        ckeras_model_free(back);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_tensor_free(pold);
    ckeras_tensor_free(pnew);
    ckeras_model_free(old);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(s);
}

START_TEST(af_save)
{
    af_stats s = {.op = "save"};
    save_case(&s, 0, false);
}
END_TEST

START_TEST(af_save_no_optimizer)
{
    af_stats s = {.op = "save(no opt)"};
    save_case(&s, CKERAS_SAVE_NO_OPTIMIZER, false);
}
END_TEST

START_TEST(af_save_weights)
{
    af_stats s = {.op = "save_weights"};
    save_case(&s, 0, true);
}
END_TEST

START_TEST(af_load_model)
{
    af_stats s = {.op = "load_model"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *m = trained_model(12, x, y);
    const char *path = tmp("load.h5");
    ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
    ckeras_tensor *ref = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &ref), CKERAS_OK);
    double eref[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, eref, 2), CKERAS_OK);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *back = (ckeras_model *)&k; /* must be set to NULL on failure */
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_load_model(path, 0, &back);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s, st);
            ck_assert_ptr_null(back);
            ck_assert_int_eq(ckeras_load_model(path, 0, &back), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ckeras_tensor *p = NULL;
        ck_assert_int_eq(ckeras_model_predict(back, x, 0, &p), CKERAS_OK);
        assert_same_tensor(p, ref, "predict of the loaded model");
        double r[2];
        ck_assert_int_eq(ckeras_model_evaluate(back, x, y, 0, r, 2), CKERAS_OK);
        ck_assert(r[0] == eref[0] && r[1] == eref[1]);
        ckeras_tensor_free(p);
        ckeras_model_free(back);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_tensor_free(ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s);
}
END_TEST

START_TEST(af_load_weights)
{
    af_stats s = {.op = "load_weights"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *m = trained_model(13, x, y);
    const char *path = tmp("weights.h5");
    ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
    size_t nref;
    float *wref = weights_of(m, &nref);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *t = compiled_model(14);
        size_t n0;
        float *w0 = weights_of(t, &n0);
        int flags = (k & 1) ? CKERAS_WEIGHTS_BY_NAME : CKERAS_WEIGHTS_BY_ORDER;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_load_weights(t, path, flags);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s, st);
            assert_weights(t, w0, n0, "weights after a failed load_weights");
            ck_assert_int_eq(ckeras_model_load_weights(t, path, flags), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        assert_weights(t, wref, nref, "weights after load_weights");
        free(w0);
        ckeras_model_free(t);
        if (!hit && (k & 1) == 0)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    free(wref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s);
}
END_TEST

START_TEST(af_json)
{
    af_stats st_to = {.op = "to_json"}, st_from = {.op = "from_json"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    ckeras_model *m = trained_model(15, x, y);
    char *ref = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &ref), CKERAS_OK);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        char *j = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_to_json(m, &j);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&st_to, st);
            ck_assert_ptr_null(j);
            ck_assert_int_eq(ckeras_model_to_json(m, &j), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_str_eq(j, ref);
        ckeras_free(j);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *back = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_from_json(ref, &back);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&st_from, st);
            ck_assert_ptr_null(back);
            ck_assert_int_eq(ckeras_model_from_json(ref, &back), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        char *j = NULL;
        ck_assert_int_eq(ckeras_model_to_json(back, &j), CKERAS_OK);
        ck_assert_str_eq(j, ref);
        ckeras_free(j);
        ckeras_model_free(back);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_free(ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&st_to);
    report(&st_from);
}
END_TEST

/* A failure anywhere in reading a file whose writer was not ckeras: Keras' own model file
 * (load_model), and the plain reader over files with fixed-length and split attributes and an
 * optimizer group without weight_names. */
START_TEST(af_foreign_files)
{
    af_stats sl = {.op = "load(keras)"}, sr = {.op = "h5_read"};
    const char *keras = "tests/fixtures/h5/seed_mlp.h5";
    ckeras_model *ref = NULL;
    ck_assert_int_eq(ckeras_load_model(keras, 0, &ref), CKERAS_OK);
    char *jref = NULL;
    ck_assert_int_eq(ckeras_model_to_json(ref, &jref), CKERAS_OK);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_load_model(keras, 0, &m);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&sl, st);
            ck_assert_ptr_null(m);
            ck_assert_int_eq(ckeras_load_model(keras, 0, &m), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        char *j = NULL;
        ck_assert_int_eq(ckeras_model_to_json(m, &j), CKERAS_OK);
        ck_assert_str_eq(j, jref);
        ckeras_free(j);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_free(jref);
    ckeras_model_free(ref);
    static const char *files[] = {"tests/fixtures/h5/v_model_opt_walk.h5", "tests/fixtures/h5/v_weights_only_split.h5",
                                  "tests/fixtures/h5/tfk2.14.0_func_ds_cnn_depthwise_vlenstr.h5",
                                  "tests/fixtures/h5/k2.2.5_func_lstm_bidirectional_5inputs.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ck_h5_file base;
        ck_assert_msg(ck_h5_read(files[i], &base) == CKERAS_OK, "%s: %s", files[i], ckeras_last_error());
        for (k = 1; k < MAX_K; k += kstep()) {
            ck_h5_file f;
            uint64_t c0 = arm(k);
            ckeras_status st = ck_h5_read(files[i], &f);
            bool hit = disarm(c0, k);
            if (st != CKERAS_OK) {
                note(&sr, st);
                ck_assert(f.nlayers == 0 && f.layers == NULL && f.nopt == 0 && f.model_config == NULL);
                ck_assert_int_eq(ck_h5_read(files[i], &f), CKERAS_OK);
            }
            ck_assert_int_eq(hit, st != CKERAS_OK);
            ck_assert_int_eq(f.nlayers, base.nlayers);
            ck_assert_int_eq(f.nopt, base.nopt);
            ck_h5_file_free(&f);
            if (!hit)
                break;
        }
        ck_assert_uint_lt(k, MAX_K);
        ck_h5_file_free(&base);
    }
    report(&sl);
    report(&sr);
}
END_TEST

/* Shape and normalisation layers (each keeps private state), a functional model through a file. */
START_TEST(af_shape_layers_and_functional_file)
{
    af_stats sb = {.op = "shape layers"}, sf = {.op = "load(func)"};
    ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){3, 4, 4, 2});
    for (int i = 0; i < 3 * 32; i++)
        ckeras_tensor_data(x)[i] = (float)((i * 5) % 7) - 3.0f;
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_set_random_seed(21);
        bool failed = false;
        uint64_t c0 = arm(k);
        ckeras_model *m = ckeras_sequential("shapes");
        if (!m) {
            note(&sb, CKERAS_ENOMEM);
            failed = true;
            ck_alloc_fail_at(0);
            m = ckeras_sequential("shapes");
        }
        STEP(&sb, ckeras_model_add(m, ckeras_input(3, (const int64_t[]){4, 4, 2})));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("ZeroPadding2D", "{\"padding\": [[1, 1], [1, 1]]}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("Cropping2D", "{\"cropping\": [[1, 0], [0, 1]]}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("UpSampling2D", "{\"size\": [2, 2]}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("Permute", "{\"dims\": [2, 1, 3]}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("Reshape", "{\"target_shape\": [100, 2]}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("LayerNormalization", "{\"axis\": -1}")));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("Activation", "{\"activation\": \"tanh\"}")));
        STEP(&sb, ckeras_model_add(m, ckeras_flatten()));
        STEP(&sb, ckeras_model_add(m, ckeras_layer_from_config("Dense", "{\"units\": 2, \"kernel_initializer\": "
                                                                      "{\"class_name\": \"Orthogonal\", \"config\": {}}}")));
        ckeras_tensor *out = NULL;
        STEP(&sb, ckeras_model_predict(m, x, 0, &out));
        bool hit = disarm(c0, k);
        ck_assert_int_eq(hit, failed);
        ck_assert_int_eq(ckeras_tensor_dim(out, 1), 2);
        ckeras_tensor_free(out);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);

    /* a functional model saved by ckeras, loaded with the k-th allocation failing */
    ckeras_model *fm = ckeras_functional("fn");
    int a = id_input(fm, ckeras_input(1, (const int64_t[]){4}));
    int b = id_input(fm, ckeras_input(1, (const int64_t[]){4}));
    int h = id_call(fm, ckeras_dense(4, "tanh"), 1, &a);
    int c = id_call(fm, ckeras_add(), 2, (const int[]){h, b});
    int y = id_call(fm, ckeras_dense(1, NULL), 1, &c);
    ck_assert_int_eq(ckeras_model_set_outputs(fm, 1, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(fm, ckeras_sgd(0.1, 0.9, 0), "mse", "mae"), CKERAS_OK);
    const char *path = tmp("fn.h5");
    ck_assert_int_eq(ckeras_model_save(fm, path, 0), CKERAS_OK);
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_load_model(path, 0, &m);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&sf, st);
            ck_assert_ptr_null(m);
            ck_assert_int_eq(ckeras_load_model(path, 0, &m), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_eq(ckeras_model_input_count(m), 2);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_model_free(fm);
    ckeras_tensor_free(x);
    report(&sb);
    report(&sf);
}
END_TEST

START_TEST(af_preprocessing)
{
    af_stats ss = {.op = "split"}, sc = {.op = "scaler"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_tensor *xa = NULL, *xb = NULL, *ya = NULL, *yb = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_train_test_split(x, y, 0.25, 7, &xa, &xb, &ya, &yb);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&ss, st);
            ck_assert(!xa && !xb && !ya && !yb);
            ck_assert_int_eq(ckeras_train_test_split(x, y, 0.25, 7, &xa, &xb, &ya, &yb), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(xb, 0), 8);
        ckeras_tensor_free(xa);
        ckeras_tensor_free(xb);
        ckeras_tensor_free(ya);
        ckeras_tensor_free(yb);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    for (k = 1; k < MAX_K; k += kstep()) {
        uint64_t c0 = arm(k);
        ckeras_scaler *sca = ckeras_standard_scaler_fit(x);
        bool hit = disarm(c0, k);
        ck_assert_int_eq(hit, sca == NULL);
        if (!sca) {
            note(&sc, CKERAS_ENOMEM);
            sca = ckeras_standard_scaler_fit(x);
        }
        ck_assert_ptr_nonnull(sca);
        ckeras_standard_scaler_free(sca);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&ss);
    report(&sc);
}
END_TEST

/* ---- data readers ------------------------------------------------------------------------------- */

static void write_text(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

START_TEST(af_readers)
{
    af_stats s_csv = {.op = "read_csv"}, s_npy = {.op = "read_npy"}, s_wnpy = {.op = "write_npy"},
             s_npz = {.op = "read_npz"}, s_idx = {.op = "read_idx"};
    const char *csv = tmp("d.csv");
    const char *text = "3,2,a,b\n1,2,0\n3.5,-4,1\n5,6e1,1\n";
    write_text(csv, text, strlen(text));
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_tensor *x = NULL, *y = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_read_csv(csv, &x, &y);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_csv, st);
            ck_assert_ptr_null(x);
            ck_assert_ptr_null(y);
            ck_assert_int_eq(ckeras_read_csv(csv, &x, &y), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(x, 0), 3);
        ck_assert(ckeras_tensor_data(x)[5] == 60.0f && ckeras_tensor_data(y)[1] == 1.0f);
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);

    const char *npy = tmp("a.npy");
    ckeras_tensor *t = ckeras_tensor_copy((const float[]){1, 2, 3, 4, 5, 6}, 2, (const int64_t[]){2, 3});
    for (k = 1; k < MAX_K; k += kstep()) {
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_write_npy(npy, t);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_wnpy, st);
            ck_assert_int_eq(ckeras_write_npy(npy, t), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        if (!hit)
            break;
    }
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_tensor *r = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_read_npy(npy, &r);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_npy, st);
            ck_assert_ptr_null(r);
            ck_assert_int_eq(ckeras_read_npy(npy, &r), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        assert_same_tensor(r, t, "read_npy");
        ckeras_tensor_free(r);
        if (!hit)
            break;
    }
    ckeras_tensor_free(t);

    for (k = 1; k < MAX_K; k += kstep()) {
        int n = -1;
        char **names = NULL;
        ckeras_tensor **arrays = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ck_npz_read("tests/fixtures/npy/deflated.npz", &n, &names, &arrays);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_npz, st);
            ck_assert_ptr_null(names);
            ck_assert_int_eq(ck_npz_read("tests/fixtures/npy/deflated.npz", &n, &names, &arrays), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_ge(n, 1);
        ck_npz_free(n, names, arrays);
        if (!hit)
            break;
    }

    /* IDX: ubyte images 2 x 2 x 3 */
    const char *idx = tmp("img.idx3");
    unsigned char img[16 + 12] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
    for (int i = 0; i < 12; i++)
        img[16 + i] = (unsigned char)(10 * i);
    write_text(idx, img, sizeof img);
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_tensor *r = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_read_idx(idx, &r);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_idx, st);
            ck_assert_ptr_null(r);
            ck_assert_int_eq(ckeras_read_idx(idx, &r), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(r, 2), 3);
        ck_assert(ckeras_tensor_data(r)[11] == 110.0f);
        ckeras_tensor_free(r);
        if (!hit)
            break;
    }
    report(&s_csv);
    report(&s_wnpy);
    report(&s_npy);
    report(&s_npz);
    report(&s_idx);
}
END_TEST

/* A metric from its Keras config, its state at the first evaluate, and a CSVLogger file read
 * back and drawn as SVG. */
START_TEST(af_metrics_and_curves)
{
    af_stats s_m = {.op = "add_metric"}, s_c = {.op = "history_csv"}, s_p = {.op = "plot_svg"};
    ckeras_tensor *x = data_x(), *y = data_y(x);
    static const char *spec = "{\"class_name\": \"AUC\", \"config\": {\"name\": \"pr\", \"curve\": \"PR\"}}";
    uint64_t k;
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_model *m = compiled_model(5);
        bool failed = false;
        double res[3];
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_model_add_metric(m, NULL, spec);
        if (st != CKERAS_OK) {
            note(&s_m, st);
            failed = true;
            ck_assert_int_eq(ckeras_model_metrics_count(m), 2); /* unchanged */
            ck_alloc_fail_at(0);
            ck_assert_int_eq(ckeras_model_add_metric(m, NULL, spec), CKERAS_OK);
        }
        STEP(&s_m, ckeras_model_evaluate(m, x, y, 8, res, 3));
        bool hit = disarm(c0, k);
        ck_assert_msg(hit == failed, "k=%llu: failure reached %d, reported %d", (unsigned long long)k, hit, failed);
        ck_assert(res[2] >= 0 && res[2] <= 1);
        ckeras_model_free(m);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    const char *csv = tmp("log.csv"), *svg = tmp("h.svg");
    const char *text = "epoch,auc,loss,val_auc,val_loss\r\n0,0.5,0.7,0.4,0.8\r\n1,0.6,0.6,NA,0.75\r\n";
    write_text(csv, text, strlen(text));
    ckeras_history *ref = NULL;
    ck_assert_int_eq(ckeras_history_read_csv(csv, &ref), CKERAS_OK);
    for (k = 1; k < MAX_K; k += kstep()) {
        ckeras_history *h = NULL;
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_history_read_csv(csv, &h);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_c, st);
            ck_assert_ptr_null(h);
            ck_assert_int_eq(ckeras_history_read_csv(csv, &h), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        ck_assert_int_eq(ckeras_history_epochs(h), 2);
        ck_assert_int_eq(ckeras_history_key_count(h), 4);
        ckeras_history_free(h);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    for (k = 1; k < MAX_K; k += kstep()) {
        int before = dir_entries();
        uint64_t c0 = arm(k);
        ckeras_status st = ckeras_history_plot_svg(ref, svg, NULL);
        bool hit = disarm(c0, k);
        if (st != CKERAS_OK) {
            note(&s_p, st);
            ck_assert_int_eq(dir_entries(), before); /* no temporary file left */
            ck_assert_int_eq(ckeras_history_plot_svg(ref, svg, NULL), CKERAS_OK);
        }
        ck_assert_int_eq(hit, st != CKERAS_OK);
        if (!hit)
            break;
    }
    ck_assert_uint_lt(k, MAX_K);
    ckeras_history_free(ref);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    report(&s_m);
    report(&s_c);
    report(&s_p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("alloc_fail");
    TCase *tc = tcase_create("inject");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, af_build_sequential);
    tcase_add_test(tc, af_build_functional);
    tcase_add_test(tc, af_compile);
    tcase_add_test(tc, af_fit);
    tcase_add_test(tc, af_fit_plain);
    tcase_add_test(tc, af_train_on_batch);
    tcase_add_test(tc, af_predict_evaluate);
    tcase_add_test(tc, af_save);
    tcase_add_test(tc, af_save_no_optimizer);
    tcase_add_test(tc, af_save_weights);
    tcase_add_test(tc, af_load_model);
    tcase_add_test(tc, af_load_weights);
    tcase_add_test(tc, af_json);
    tcase_add_test(tc, af_readers);
    tcase_add_test(tc, af_foreign_files);
    tcase_add_test(tc, af_shape_layers_and_functional_file);
    tcase_add_test(tc, af_preprocessing);
    tcase_add_test(tc, af_metrics_and_curves);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
