/* ReduceLROnPlateau, LearningRateScheduler and CSVLogger against Keras' own callbacks run on the
 * same scripted logs (tests/fixtures/callbacks/toolkit.json, written by real Keras 3.11.3
 * through tests/ref/callbacks_toolkit_ref.py): the learning rate after every epoch, the
 * "learning_rate" logged, the verbose messages and the CSV files byte for byte; then the three
 * inside a real fit (History's keys, the file's rows) and their errors. */
#include "callbacks/callbacks.h"
#include "optimizers/optimizers.h"
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static json_t *fixture(void)
{
    return tu_load_json("callbacks/toolkit.json");
}

static double num(json_t *v)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "nan") == 0)
        return NAN;
    return json_number_value(v);
}

/* stdout of a stretch of code, into a buffer (the callbacks print with printf) */
typedef struct capture {
    int saved;
    char path[64];
} capture;

static void capture_begin(capture *c)
{
    fflush(stdout);
    snprintf(c->path, sizeof c->path, "/tmp/ck_toolkit_out_XXXXXX");
    int fd = mkstemp(c->path);
    ck_assert_int_ge(fd, 0);
    c->saved = dup(1);
    dup2(fd, 1);
    close(fd);
}

static char *capture_end(capture *c)
{
    fflush(stdout);
    dup2(c->saved, 1);
    close(c->saved);
    FILE *f = fopen(c->path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 15];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(c->path);
    return buf;
}

static ck_train_ctx ctx_for(ckeras_optimizer *o, ckeras_logs *logs)
{
    ck_train_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.opt = o;
    ctx.logs = logs;
    ctx.n_metrics = 1;
    ctx.metric_names[0] = "accuracy";
    ctx.metric_dirs[0] = +1;
    ctx.epochs = 20;
    return ctx;
}

START_TEST(reduce_lr_on_plateau_matches_keras)
{
    json_t *root = fixture();
    size_t i;
    json_t *r;
    json_array_foreach(tu_get(root, "reduce_lr"), i, r)
    {
        const char *monitor = json_string_value(json_object_get(r, "monitor"));
        json_t *cfg = json_object_get(r, "config");
        ckeras_callback *cb = ckeras_reduce_lr_on_plateau(monitor, json_number_value(json_object_get(cfg, "factor")),
                                                          (int)json_integer_value(json_object_get(cfg, "patience")));
        ck_assert_ptr_nonnull(cb);
        const char *key;
        json_t *v;
        json_object_foreach(cfg, key, v)
        {
            if (strcmp(key, "factor") == 0 || strcmp(key, "patience") == 0)
                continue;
            ckeras_status st = json_is_string(v) ? ckeras_callback_set_str(cb, key, json_string_value(v))
                                                 : ckeras_callback_set_float(cb, key, json_number_value(v));
            ck_assert_msg(st == CKERAS_OK, "%s: %s", key, ckeras_last_error());
        }
        ckeras_optimizer *o = ckeras_sgd(0.1, 0, 0);
        ckeras_logs logs;
        ck_logs_clear(&logs);
        ck_train_ctx ctx = ctx_for(o, &logs);
        capture cap;
        capture_begin(&cap);
        ckeras_status st = ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, &logs);
        json_t *values = json_object_get(r, "values");
        for (size_t e = 0; st == CKERAS_OK && e < json_array_size(values); e++) {
            ck_logs_clear(&logs);
            ck_logs_set(&logs, "loss", 2.0);
            ck_logs_set(&logs, monitor, json_number_value(json_array_get(values, e)));
            st = ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, (int)e, &logs);
            const double *logged = ck_logs_find(&logs, "learning_rate");
            ck_assert_msg(logged && *logged == json_number_value(json_array_get(json_object_get(r, "logged"), e)),
                          "config %zu epoch %zu: logged %.17g", i, e, logged ? *logged : NAN);
            double after = json_number_value(json_array_get(json_object_get(r, "after"), e));
            ck_assert_msg(ckeras_optimizer_learning_rate(o) == after, "config %zu epoch %zu: rate %.17g, Keras %.17g",
                          i, e, ckeras_optimizer_learning_rate(o), after);
        }
        char *out = capture_end(&cap);
        ck_assert_int_eq(st, CKERAS_OK);
        ck_assert_str_eq(out, json_string_value(json_object_get(r, "stdout")));
        ckeras_callback_free(cb);
        ckeras_optimizer_free(o);
    }
    json_decref(root);
}
END_TEST

static double halve_every_third(int epoch, double lr, void *user_data)
{
    (*(int *)user_data)++;
    return epoch % 3 == 2 ? lr * 0.5 : lr;
}

START_TEST(learning_rate_scheduler_matches_keras)
{
    json_t *root = fixture();
    json_t *s = tu_get(root, "scheduler");
    int calls = 0;
    ckeras_callback *cb = ckeras_learning_rate_scheduler(halve_every_third, &calls);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "verbose", 1), CKERAS_OK);
    ckeras_optimizer *o = ckeras_sgd(json_number_value(json_object_get(s, "initial")), 0, 0);
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_train_ctx ctx = ctx_for(o, &logs);
    capture cap;
    capture_begin(&cap);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, &logs), CKERAS_OK);
    json_t *rates = json_object_get(s, "rates");
    for (int e = 0; e < (int)json_array_size(rates); e++) {
        ck_logs_clear(&logs);
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_BEGIN, e, &logs), CKERAS_OK);
        ck_assert(ckeras_optimizer_learning_rate(o) == json_number_value(json_array_get(rates, (size_t)e)));
        ck_logs_set(&logs, "loss", 1.0);
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, e, &logs), CKERAS_OK);
        ck_assert(*ck_logs_find(&logs, "learning_rate") ==
                  json_number_value(json_array_get(json_object_get(s, "logged"), (size_t)e)));
    }
    char *out = capture_end(&cap);
    ck_assert_str_eq(out, json_string_value(json_object_get(s, "stdout")));
    ck_assert_int_eq(calls, (int)json_array_size(rates));
    ckeras_callback_free(cb);
    ckeras_optimizer_free(o);
    json_decref(root);
}
END_TEST

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    static char buf[1 << 14];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* one CSVLogger run on scripted epochs */
static void csv_run(ckeras_callback *cb, json_t *epochs)
{
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_train_ctx ctx = ctx_for(NULL, &logs);
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_BEGIN, 0, &logs), CKERAS_OK);
    size_t e;
    json_t *ep;
    json_array_foreach(epochs, e, ep)
    {
        ck_logs_clear(&logs);
        const char *key;
        json_t *v;
        json_object_foreach(ep, key, v)
            ck_logs_set(&logs, key, num(v));
        ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_EPOCH_END, (int)e, &logs), CKERAS_OK);
    }
    ck_assert_int_eq(ck_callback_event(cb, &ctx, CKERAS_TRAIN_END, 0, &logs), CKERAS_OK);
}

START_TEST(csv_logger_writes_what_keras_writes)
{
    json_t *root = fixture();
    tu_tmpdir_make("csvlogger");
    size_t i;
    json_t *c;
    json_array_foreach(tu_get(root, "csv"), i, c)
    {
        const char *path = tu_tmp("log.csv");
        json_t *sep = json_object_get(json_object_get(c, "config"), "separator");
        ckeras_callback *cb = ckeras_csv_logger(path, sep ? json_string_value(sep) : NULL, 0);
        ck_assert_ptr_nonnull(cb);
        csv_run(cb, json_object_get(c, "epochs"));
        ck_assert_str_eq(read_all(path), json_string_value(json_object_get(c, "text")));
        ckeras_callback_free(cb);
    }
    /* append: the second fit adds its row under the first one's, without a header */
    const char *path = tu_tmp("append.csv");
    for (int k = 0; k < 2; k++) {
        ckeras_callback *cb = ckeras_csv_logger(path, NULL, 1);
        char text[128];
        snprintf(text, sizeof text, "[{\"loss\": %g, \"val_loss\": 0.25}]", 0.5 + k);
        json_t *epochs = json_loads(text, 0, NULL);
        csv_run(cb, epochs);
        json_decref(epochs);
        ckeras_callback_free(cb);
    }
    ck_assert_str_eq(read_all(path), json_string_value(tu_get(root, "csv_append")));
    tu_tmpdir_remove();
    json_decref(root);
}
END_TEST

/* the three inside fit: History gets learning_rate, the CSV file a row per epoch with it */
START_TEST(in_fit_history_and_file_get_the_rate)
{
    tu_tmpdir_make("toolkit_fit");
    ckeras_set_random_seed(3);
    ckeras_model *m = ckeras_sequential("m");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "mse", NULL), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){16, 2}), *y = ckeras_tensor_new(2, (const int64_t[]){16, 1});
    for (int i = 0; i < 32; i++)
        ckeras_tensor_data(x)[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < 16; i++)
        ckeras_tensor_data(y)[i] = ckeras_tensor_data(x)[2 * i] - 2 * ckeras_tensor_data(x)[2 * i + 1];
    int calls = 0;
    ckeras_callback *sched = ckeras_learning_rate_scheduler(halve_every_third, &calls);
    ckeras_callback *csv = ckeras_csv_logger(tu_tmp("fit.csv"), NULL, 0);
    ckeras_fit_args *args = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "epochs", 6), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "batch_size", 8), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_add_callback(args, sched), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_add_callback(args, csv), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, args, &h) == CKERAS_OK, "%s", ckeras_last_error());
    const double *lr = NULL;
    int n = 0;
    ck_assert_int_eq(ckeras_history_values(h, "learning_rate", &lr, &n), CKERAS_OK);
    ck_assert_int_eq(n, 6);
    const double want[6] = {0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
    for (int e = 0; e < 6; e++)
        ck_assert_double_eq_tol(lr[e], want[e], 1e-8);
    ck_assert_int_eq(ckeras_optimizer_iterations(ckeras_model_optimizer(m)), 12);
    /* the CSV file: header "epoch,learning_rate,loss,val_learning_rate,val_loss" and 6 rows */
    char *text = read_all(tu_tmp("fit.csv"));
    ck_assert_msg(strncmp(text, "epoch,learning_rate,loss,val_learning_rate,val_loss\r\n0,0.10000000149011612,", 75) == 0,
                  "%s", text);
    int rows = 0;
    for (char *p = text; (p = strstr(p, "\r\n")) != NULL; p += 2)
        rows++;
    ck_assert_int_eq(rows, 7);
    ckeras_history_free(h);

    /* ReduceLROnPlateau on "loss" with patience 0 halves the rate after each epoch that does not
     * improve; with a schedule on the optimizer fit stops with the optimizer's error */
    ckeras_callback *plateau = ckeras_reduce_lr_on_plateau("loss", 0.5, 0);
    ckeras_fit_args *a2 = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a2, "epochs", 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a2, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_add_callback(a2, plateau), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(ckeras_model_optimizer(m), "ExponentialDecay",
                                                   "{\"initial_learning_rate\": 0.01, \"decay_steps\": 10, "
                                                   "\"decay_rate\": 0.5}"),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a2, NULL), CKERAS_OK); /* first epoch: an improvement */
    ck_assert_int_eq(ckeras_fit_args_set_int(a2, "epochs", 3), CKERAS_OK);
    /* the loss keeps falling: no reduction is asked for, so no error */
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a2, NULL), CKERAS_OK);
    ckeras_fit_args_free(a2);
    ckeras_callback_free(plateau);

    /* a schedule returning NaN stops fit with a clear error, weights of the last epoch kept */
    ck_assert_int_eq(ckeras_optimizer_set_schedule(ckeras_model_optimizer(m), NULL, NULL), CKERAS_OK);
    ckeras_fit_args_free(args);
    ckeras_callback_free(sched);
    ckeras_callback_free(csv);
    ckeras_history_free(NULL);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

static double nan_at_two(int epoch, double lr, void *user_data)
{
    return epoch == 2 ? NAN : lr;
}

START_TEST(errors_are_clear)
{
    ck_assert_ptr_null(ckeras_reduce_lr_on_plateau(NULL, 1.0, 1));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "factor"));
    ck_assert_ptr_null(ckeras_reduce_lr_on_plateau(NULL, NAN, 1));
    ck_assert_ptr_null(ckeras_reduce_lr_on_plateau("", 0.5, 1));
    ck_assert_ptr_null(ckeras_reduce_lr_on_plateau(NULL, 0.5, -1));
    ck_assert_ptr_null(ckeras_learning_rate_scheduler(NULL, NULL));
    ck_assert_ptr_null(ckeras_csv_logger(NULL, NULL, 0));
    ck_assert_ptr_null(ckeras_csv_logger("x.csv", "ab", 0));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "one character"));
    ckeras_callback *r = ckeras_reduce_lr_on_plateau(NULL, 0.5, 1);
    ck_assert_int_eq(ckeras_callback_set_str(r, "mode", "sideways"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_callback_set_float(r, "cooldown", -1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_callback_set_float(r, "min_lr", -0.1), CKERAS_EINVAL);
    ckeras_callback_free(r);

    tu_tmpdir_make("toolkit_err");
    ckeras_model *m = ckeras_sequential("m");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "mse", NULL), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){4, 2}), *y = ckeras_tensor_new(2, (const int64_t[]){4, 1});
    for (int i = 0; i < 8; i++)
        ckeras_tensor_data(x)[i] = (float)i / 8.0f;
    ckeras_fit_args *args = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "epochs", 5), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "verbose", 0), CKERAS_OK);
    /* NaN from the schedule at epoch 2: fit stops, the weights are those after epoch 1 */
    ckeras_callback *bad = ckeras_learning_rate_scheduler(nan_at_two, NULL);
    ck_assert_int_eq(ckeras_fit_args_add_callback(args, bad), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, args, NULL), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "epoch 2"));
    ck_assert_int_eq(ckeras_optimizer_iterations(ckeras_model_optimizer(m)), 2);
    ckeras_fit_args_free(args);
    ckeras_callback_free(bad);
    /* a CSV path that is a directory: fit refuses at train begin, nothing trained */
    args = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "verbose", 0), CKERAS_OK);
    mkdir(tu_tmp("adir"), 0700);
    ckeras_callback *csv = ckeras_csv_logger(tu_tmp("adir"), NULL, 0);
    ck_assert_int_eq(ckeras_fit_args_add_callback(args, csv), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, args, NULL), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "directory"));
    ck_assert_int_eq(ckeras_optimizer_iterations(ckeras_model_optimizer(m)), 2);
    ckeras_fit_args_free(args);
    ckeras_callback_free(csv);
    /* ReduceLROnPlateau asked to reduce a scheduled rate: fit stops with CKERAS_ESTATE */
    ck_assert_int_eq(ckeras_optimizer_set_schedule(ckeras_model_optimizer(m), "PiecewiseConstantDecay",
                                                   "{\"boundaries\": [100], \"values\": [0.1, 0.01]}"),
                     CKERAS_OK);
    args = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "epochs", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(args, "verbose", 0), CKERAS_OK);
    ckeras_callback *plateau = ckeras_reduce_lr_on_plateau("loss", 0.5, 0);
    ck_assert_int_eq(ckeras_callback_set_str(plateau, "mode", "max"), CKERAS_OK); /* a falling loss never improves */
    ck_assert_int_eq(ckeras_fit_args_add_callback(args, plateau), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, args, NULL), CKERAS_ESTATE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "ReduceLROnPlateau"));
    ckeras_fit_args_free(args);
    ckeras_callback_free(plateau);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

/* ---- BackupAndRestore ---------------------------------------------------------------------- */

static ckeras_model *backup_model(void)
{
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_sequential("backup");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){6})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(16, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dropout(0.3)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    return m;
}

static void backup_data(ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(2, (const int64_t[]){64, 6});
    *y = ckeras_tensor_new(1, (const int64_t[]){64});
    uint32_t s = 5;
    for (int i = 0; i < 64 * 6; i++) {
        s = s * 1664525u + 1013904223u;
        ckeras_tensor_data(*x)[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    for (int i = 0; i < 64; i++)
        ckeras_tensor_data(*y)[i] = (float)(i % 3);
}

typedef struct killer {
    int epoch, kill_epoch, kill_batch;
} killer;

static ckeras_status kill_mid_epoch(ckeras_event ev, int index, const ckeras_logs *logs, void *ud)
{
    killer *k = ud;
    if (ev == CKERAS_EPOCH_BEGIN)
        k->epoch = index;
    if (ev == CKERAS_BATCH_END && k->epoch == k->kill_epoch && index == k->kill_batch)
        raise(SIGKILL); /* no cleanup, no atexit: as a crash or a power cut */
    return CKERAS_OK;
}

/* fit for `epochs` with the given callbacks; the History's length in *n_hist */
static void fit_with(ckeras_model *m, ckeras_tensor *x, ckeras_tensor *y, int epochs, ckeras_callback **cbs, int ncb,
                     int *n_hist)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", epochs), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 16), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    for (int i = 0; i < ncb; i++)
        ck_assert_int_eq(ckeras_fit_args_add_callback(a, cbs[i]), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_msg(ckeras_model_fit(m, x, y, a, &h) == CKERAS_OK, "%s", ckeras_last_error());
    const double *loss;
    *n_hist = 0;
    if (ckeras_history_values(h, "loss", &loss, n_hist) != CKERAS_OK)
        *n_hist = 0;
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
}

static void all_weights(ckeras_model *m, float *out, int64_t cap, int64_t *n)
{
    *n = 0;
    for (int i = 0; i < ckeras_model_layer_count(m); i++) {
        ckeras_layer *l = ckeras_model_layer(m, i);
        for (int k = 0; k < ckeras_layer_weight_count(l); k++) {
            ckeras_tensor *v = NULL;
            ck_assert_int_eq(ckeras_layer_weight(l, k, NULL, &v), CKERAS_OK);
            int64_t size = ckeras_tensor_size(v);
            ck_assert(*n + size <= cap);
            memcpy(out + *n, ckeras_tensor_data(v), (size_t)size * sizeof(float));
            *n += size;
            ckeras_tensor_free(v);
        }
    }
}

/* A child process training with BackupAndRestore is killed with SIGKILL in the middle of its
 * fourth epoch; a new fit with the same callback resumes at that epoch and ends with the weights
 * of an uninterrupted fit, bit for bit (Dropout and shuffling included: the generator's state is
 * in the backup). */
START_TEST(backup_and_restore_survives_sigkill)
{
    tu_tmpdir_make("backup");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", tu_tmp("ckpt/run")); /* a folder that does not exist yet */
    ckeras_set_num_threads(1);
    fflush(NULL);
    pid_t pid = fork(); /* before any training in this process (OpenMP is not fork-safe after) */
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ckeras_model *m = backup_model();
        ckeras_tensor *x, *y;
        backup_data(&x, &y);
        killer k = {0, 3, 2};
        ckeras_callback *cbs[2] = {ckeras_backup_and_restore(dir), ckeras_lambda_callback(kill_mid_epoch, &k)};
        int n;
        fit_with(m, x, y, 6, cbs, 2, &n);
        _exit(0); /* not reached */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child was not killed (status %d)", status);
    char meta[600];
    snprintf(meta, sizeof meta, "%s/training_metadata.json", dir);
    ck_assert_ptr_nonnull(strstr(read_all(meta), "\"epoch\": 3"));

    ckeras_tensor *x, *y;
    backup_data(&x, &y);
    /* uninterrupted */
    static float want[4096], got[4096];
    int64_t nw, ng;
    int n_hist;
    ckeras_model *a = backup_model();
    fit_with(a, x, y, 6, NULL, 0, &n_hist);
    ck_assert_int_eq(n_hist, 6);
    all_weights(a, want, 4096, &nw);
    /* resumed */
    ckeras_model *b = backup_model();
    ckeras_callback *cb = ckeras_backup_and_restore(dir);
    fit_with(b, x, y, 6, &cb, 1, &n_hist);
    ck_assert_int_eq(n_hist, 3); /* epochs 3, 4, 5 */
    ck_assert_int_eq(ckeras_optimizer_iterations(ckeras_model_optimizer(b)), 6 * 4);
    all_weights(b, got, 4096, &ng);
    ck_assert_int_eq(ng, nw);
    ck_assert_msg(memcmp(got, want, (size_t)nw * sizeof(float)) == 0, "resumed weights differ from uninterrupted ones");
    /* a finished fit removes its backup */
    struct stat sb;
    ck_assert_int_ne(stat(dir, &sb), 0);
    /* without the generator's state the resume would differ: the test can fail */
    ckeras_callback_free(cb);
    ckeras_model_free(a);
    ckeras_model_free(b);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    tu_tmpdir_remove();
}
END_TEST

/* double_checkpoint: a damaged latest backup falls back to the previous one */
START_TEST(backup_falls_back_to_the_previous_one)
{
    tu_tmpdir_make("backup2");
    const char *dir = tu_tmp("bk");
    ckeras_tensor *x, *y;
    backup_data(&x, &y);
    ckeras_model *m = backup_model();
    ckeras_callback *cb = ckeras_backup_and_restore(dir);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "double_checkpoint", 1), CKERAS_OK);
    ck_assert_int_eq(ckeras_callback_set_float(cb, "delete_checkpoint", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_callback_set_str(cb, "save_freq", "100"), CKERAS_EINVAL); /* "epoch" only */
    int n_hist;
    fit_with(m, x, y, 3, &cb, 1, &n_hist);
    char p[600];
    snprintf(p, sizeof p, "%s/training_metadata.json.bkp", dir);
    ck_assert_ptr_nonnull(strstr(read_all(p), "\"epoch\": 2"));
    snprintf(p, sizeof p, "%s/latest.weights.h5", dir);
    FILE *f = fopen(p, "wb");
    fputs("not an HDF5 file", f);
    fclose(f);
    ckeras_model *r = backup_model();
    fit_with(r, x, y, 4, &cb, 1, &n_hist);
    ck_assert_int_eq(n_hist, 2); /* resumed after epoch 2 (the previous backup): epochs 2 and 3 */
    /* without double_checkpoint the damaged file is an error naming it */
    f = fopen(p, "wb");
    fputs("not an HDF5 file", f);
    fclose(f);
    ckeras_callback *plain = ckeras_backup_and_restore(dir);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_add_callback(a, plain), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_fit(r, x, y, a, NULL), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "latest.weights.h5"));
    ckeras_fit_args_free(a);
    ckeras_callback_free(plain);
    ck_assert_ptr_null(ckeras_backup_and_restore(""));
    ckeras_callback_free(cb);
    ckeras_model_free(m);
    ckeras_model_free(r);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("toolkit_callbacks");
    TCase *tc = tcase_create("toolkit_callbacks");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, reduce_lr_on_plateau_matches_keras);
    tcase_add_test(tc, learning_rate_scheduler_matches_keras);
    tcase_add_test(tc, csv_logger_writes_what_keras_writes);
    tcase_add_test(tc, in_fit_history_and_file_get_the_rate);
    tcase_add_test(tc, errors_are_clear);
    tcase_add_test(tc, backup_and_restore_survives_sigkill);
    tcase_add_test(tc, backup_falls_back_to_the_previous_one);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
