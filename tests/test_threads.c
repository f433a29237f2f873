/* Threads: distinct models train at the same time in distinct threads with bit-identical results
 * to training them one after the other; one model used from two threads at once is caught by the
 * model's busy flag (CKERAS_ESTATE "in use by another thread") instead of corrupting its work
 * buffers, and results of the calls that do run are exact. */
#include "model/model.h"
#include "testutil.h"

#include <pthread.h>
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 256
#define D 16

static ckeras_tensor *data_x(uint64_t seed)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){N, D});
    ck_rng r;
    ck_rng_seed(&r, seed);
    for (int64_t i = 0; i < N * D; i++)
        ckeras_tensor_data(t)[i] = (float)ck_rng_normal(&r);
    return t;
}

static ckeras_tensor *data_y(const ckeras_tensor *x)
{
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){N, 1});
    const float *xd = ckeras_tensor_data((ckeras_tensor *)x);
    for (int64_t i = 0; i < N; i++)
        ckeras_tensor_data(y)[i] = xd[i * D] + 0.5f * xd[i * D + 3] > 0;
    return y;
}

/* Models are made in the calling thread: construction draws from the global seed stream. */
static ckeras_model *make_model(uint64_t seed, int width)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("t");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){D})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(width, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dropout(0.2)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("BatchNormalization", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

static void assert_same_weights(const ckeras_model *a, const ckeras_model *b, const char *what)
{
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_uint_eq(a->n_state, b->n_state);
    ck_assert_msg(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0, "%s: trainable weights differ",
                  what);
    ck_assert_msg(memcmp(a->state, b->state, a->n_state * sizeof(float)) == 0, "%s: other weights differ", what);
}

typedef struct fit_job {
    ckeras_model *m;
    const ckeras_tensor *x, *y;
    int epochs;
    ckeras_status st;
    char err[256];
} fit_job;

static ckeras_status do_fit(fit_job *j)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", j->epochs);
    ckeras_fit_args_set_int(a, "batch_size", 16);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    j->st = ckeras_model_fit(j->m, j->x, j->y, a, NULL);
    snprintf(j->err, sizeof j->err, "%s", j->st == CKERAS_OK ? "" : ckeras_last_error());
    ckeras_fit_args_free(a);
    return j->st;
}

static void *fit_thread(void *p)
{
    do_fit(p);
    return NULL;
}

START_TEST(two_models_two_threads_bit_identical)
{
    ckeras_tensor *x1 = data_x(1), *y1 = data_y(x1), *x2 = data_x(2), *y2 = data_y(x2);
    /* one after the other */
    ckeras_model *a1 = make_model(10, 64), *b1 = make_model(20, 48);
    fit_job ja = {a1, x1, y1, 4, 0, ""}, jb = {b1, x2, y2, 4, 0, ""};
    ck_assert_int_eq(do_fit(&ja), CKERAS_OK);
    ck_assert_int_eq(do_fit(&jb), CKERAS_OK);
    /* at the same time, three rounds (a race shows up as a difference in one of them) */
    for (int round = 0; round < 3; round++) {
        ckeras_model *a2 = make_model(10, 64), *b2 = make_model(20, 48);
        fit_job ka = {a2, x1, y1, 4, 0, ""}, kb = {b2, x2, y2, 4, 0, ""};
        pthread_t ta, tb;
        ck_assert_int_eq(pthread_create(&ta, NULL, fit_thread, &ka), 0);
        ck_assert_int_eq(pthread_create(&tb, NULL, fit_thread, &kb), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        ck_assert_msg(ka.st == CKERAS_OK, "fit in thread A: %s", ka.err);
        ck_assert_msg(kb.st == CKERAS_OK, "fit in thread B: %s", kb.err);
        assert_same_weights(a1, a2, "model A trained beside model B");
        assert_same_weights(b1, b2, "model B trained beside model A");
        ckeras_model_free(a2);
        ckeras_model_free(b2);
    }
    ckeras_model_free(a1);
    ckeras_model_free(b1);
    ckeras_tensor_free(x1);
    ckeras_tensor_free(y1);
    ckeras_tensor_free(x2);
    ckeras_tensor_free(y2);
}
END_TEST

/* ---- one model, several threads ---------------------------------------------------------------- */

typedef struct hammer {
    ckeras_model *m;
    const ckeras_tensor *x;
    const ckeras_tensor *ref;
    atomic_int *go;
    int calls, ok, busy, wrong, other;
    char other_msg[256];
} hammer;

static void *predict_hammer(void *p)
{
    hammer *h = p;
    while (!atomic_load(h->go)) {
    }
    for (int i = 0; i < h->calls; i++) {
        ckeras_tensor *out = NULL;
        ckeras_status st = ckeras_model_predict(h->m, h->x, 64, &out);
        if (st == CKERAS_OK) {
            h->ok++;
            if (memcmp(ckeras_tensor_data(out), ckeras_tensor_data((ckeras_tensor *)h->ref),
                       (size_t)ckeras_tensor_size(out) * sizeof(float)) != 0)
                h->wrong++;
        } else if (st == CKERAS_ESTATE && strstr(ckeras_last_error(), "in use by another thread")) {
            h->busy++;
            if (out)
                h->wrong++; /* a refused call must not return a tensor */
        } else {
            h->other++;
            snprintf(h->other_msg, sizeof h->other_msg, "%s: %s", ckeras_status_name(st), ckeras_last_error());
        }
        ckeras_tensor_free(out);
    }
    return NULL;
}

START_TEST(one_model_predict_from_two_threads)
{
    ckeras_tensor *x = data_x(3), *y = data_y(x);
    ckeras_model *m = make_model(30, 256);
    fit_job j = {m, x, y, 1, 0, ""};
    ck_assert_int_eq(do_fit(&j), CKERAS_OK);
    ckeras_tensor *ref = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 64, &ref), CKERAS_OK);
    atomic_int go = 0;
    int calls = getenv("CK_VALGRIND") ? 20 : 400;
    hammer h[2] = {{m, x, ref, &go, calls, 0, 0, 0, 0, ""}, {m, x, ref, &go, calls, 0, 0, 0, 0, ""}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, predict_hammer, &h[i]), 0);
    atomic_store(&go, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    int ok = h[0].ok + h[1].ok, busy = h[0].busy + h[1].busy;
    fprintf(stderr, "threads: 2 x %d predicts on one model: %d ran (all exact: %s), %d refused with CKERAS_ESTATE\n",
            calls, ok, h[0].wrong + h[1].wrong ? "no" : "yes", busy);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(h[i].other == 0, "thread %d got an unexpected status: %s", i, h[i].other_msg);
        ck_assert_msg(h[i].wrong == 0, "thread %d got %d wrong results", i, h[i].wrong);
    }
    ck_assert_int_eq(ok + busy, 2 * calls);
    ck_assert_int_gt(ok, 0);
    /* the flag is released: the model works afterwards */
    ckeras_tensor *out = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 64, &out), CKERAS_OK);
    ckeras_tensor_free(out);
    ckeras_tensor_free(ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* predict from another thread while fit runs: refused for the whole fit, and the fit is exact. */
typedef struct watch {
    atomic_int phase;    /* 0 before fit, 1 during, 2 after */
    atomic_int attempts; /* predicts the other thread made while phase was 1 */
} watch;

static ckeras_status phase_cb(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    watch *w = user;
    if (ev == CKERAS_TRAIN_BEGIN)
        atomic_store(&w->phase, 1);
    /* hold the first epoch's end until the other thread has knocked at least once (up to ~10 s),
     * so a loaded machine that never schedules it during a short fit cannot make the test vacuous */
    if (ev == CKERAS_EPOCH_END && index == 0)
        for (int i = 0; i < 10000 && atomic_load(&w->attempts) == 0; i++)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    if (ev == CKERAS_TRAIN_END)
        atomic_store(&w->phase, 2);
    return CKERAS_OK;
}

typedef struct fit_cb_job {
    fit_job j;
    ckeras_callback *cb;
} fit_cb_job;

static void *fit_cb_thread(void *p)
{
    fit_cb_job *f = p;
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", f->j.epochs);
    ckeras_fit_args_set_int(a, "batch_size", 16);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_fit_args_add_callback(a, f->cb);
    f->j.st = ckeras_model_fit(f->j.m, f->j.x, f->j.y, a, NULL);
    snprintf(f->j.err, sizeof f->j.err, "%s", f->j.st == CKERAS_OK ? "" : ckeras_last_error());
    ckeras_fit_args_free(a);
    return NULL;
}

START_TEST(predict_during_fit_is_refused)
{
    ckeras_tensor *x = data_x(4), *y = data_y(x);
    ckeras_model *ref = make_model(40, 64);
    fit_job jr = {ref, x, y, 6, 0, ""};
    ck_assert_int_eq(do_fit(&jr), CKERAS_OK);

    ckeras_model *m = make_model(40, 64);
    watch w;
    atomic_init(&w.phase, 0);
    atomic_init(&w.attempts, 0);
    fit_cb_job f = {{m, x, y, 6, 0, ""}, ckeras_lambda_callback(phase_cb, &w)};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, fit_cb_thread, &f), 0);
    while (atomic_load(&w.phase) == 0) {
    }
    int refused = 0, during = 0;
    while (atomic_load(&w.phase) == 1) {
        ckeras_tensor *out = NULL;
        ckeras_status st = ckeras_model_predict(m, x, 0, &out);
        /* TRAIN_END is delivered inside fit, so the flag is held until after phase 2 is set */
        if (atomic_load(&w.phase) == 1) {
            atomic_fetch_add(&w.attempts, 1);
            during++;
            ck_assert_msg(st == CKERAS_ESTATE, "predict during fit returned %s", ckeras_status_name(st));
            ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "in use by another thread"));
            refused++;
        }
        ckeras_tensor_free(out);
    }
    pthread_join(t, NULL);
    ck_assert_msg(f.j.st == CKERAS_OK, "fit: %s", f.j.err);
    fprintf(stderr, "threads: %d predicts during a fit in another thread, %d refused\n", during, refused);
    ck_assert_int_gt(refused, 0);
    assert_same_weights(ref, m, "fit with predicts knocking from another thread");
    ckeras_callback_free(f.cb);
    ckeras_model_free(ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* A callback that uses the model being fitted, in the same thread, is refused the same way. */
typedef struct reenter {
    ckeras_model *m;
    const ckeras_tensor *x, *y;
    int tried;
    ckeras_status st[4];
} reenter;

static ckeras_status reenter_cb(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    reenter *r = user;
    if (ev != CKERAS_EPOCH_END || r->tried == 4)
        return CKERAS_OK;
    ckeras_tensor *out = NULL;
    double res[2];
    r->st[r->tried++] = ckeras_model_predict(r->m, r->x, 0, &out);
    r->st[r->tried++] = ckeras_model_evaluate(r->m, r->x, r->y, 0, res, 2);
    ckeras_tensor_free(out);
    return CKERAS_OK;
}

START_TEST(callback_reentry_is_refused)
{
    ckeras_tensor *x = data_x(5), *y = data_y(x);
    ckeras_model *m = make_model(50, 8);
    reenter r = {m, x, y, 0, {0}};
    ckeras_callback *cb = ckeras_lambda_callback(reenter_cb, &r);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 2);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_add_callback(a, cb);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, NULL), CKERAS_OK);
    ck_assert_int_eq(r.tried, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(r.st[i], CKERAS_ESTATE);
    /* released after fit */
    ckeras_tensor *out = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &out), CKERAS_OK);
    ckeras_tensor_free(out);
    ckeras_fit_args_free(a);
    ckeras_callback_free(cb);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, two_models_two_threads_bit_identical);
    tcase_add_test(tc, one_model_predict_from_two_threads);
    tcase_add_test(tc, predict_during_fit_is_refused);
    tcase_add_test(tc, callback_reentry_is_refused);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
