/* Functional models, and saving/loading in Keras' HDF5 format: Keras' own files and their
 * predictions, round trips, resumed training, robustness. */
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

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_test_saveload_%d", (int)getpid());
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

static const char *shared_dir(void)
{
    const char *d = getenv("CK_SHARED_FIXTURES");
    return d && *d ? d : "../shared/fixtures";
}

static ckeras_tensor *toy_x(int64_t n, int64_t d, uint64_t seed)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){n, d});
    ck_rng r;
    ck_rng_seed(&r, seed);
    for (int64_t i = 0; i < n * d; i++)
        ckeras_tensor_data(t)[i] = (float)ck_rng_normal(&r);
    return t;
}

static ckeras_tensor *toy_y(const ckeras_tensor *x)
{
    int64_t n = ckeras_tensor_dim(x, 0), d = ckeras_tensor_dim(x, 1);
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){n, 1});
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t k = 0; k < d; k++)
            s += ((const float *)ckeras_tensor_data((ckeras_tensor *)x))[i * d + k] * (k % 3 ? 1.0 : -1.0);
        ckeras_tensor_data(y)[i] = s > 0;
    }
    return y;
}

/* ---- functional models ------------------------------------------------------------------------- */

static ckeras_model *small_functional(void)
{
    ckeras_model *m = ckeras_functional("residual");
    int x = id_input(m, ckeras_input(1, (const int64_t[]){6}));
    ck_assert_int_ge(x, 0);
    int a = id_call(m, ckeras_dense(8, "tanh"), 1, &x);
    int b = id_call(m, ckeras_dense(8, NULL), 1, &x);
    int s = id_call(m, ckeras_add(), 2, (const int[]){a, b});
    int c = id_call(m, ckeras_concatenate(-1), 2, (const int[]){s, a});
    int y = id_call(m, ckeras_dense(1, "sigmoid"), 1, &c);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    return m;
}

static double loss_at(ckeras_model *m, const float *x, const float *y, int64_t n)
{
    memcpy(m->plan.x[0], x, (size_t)(n * 6) * sizeof(float));
    memcpy(m->plan.y_true[0], y, (size_t)n * sizeof(float));
    ck_graph_forward(&m->g, &m->plan, n, true, &m->rng);
    return ck_loss_compute(&m->loss[0], m->plan.y_true[0], m->plan.act[m->g.outputs[0]], n, 1, NULL, 1, NULL) / (double)n;
}

/* A node read by two layers (fan-out) gets the sum of both gradients: the whole model's
 * gradient against central finite differences. */
START_TEST(functional_gradients_match_finite_differences)
{
    ckeras_set_random_seed(21);
    ckeras_model *m = small_functional();
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0, 0, 0), "binary_crossentropy", NULL), CKERAS_OK);
    const int64_t n = 5;
    ckeras_tensor *xt = toy_x(n, 6, 4), *yt = toy_y(xt);
    m->target_size[0] = 1;
    ck_assert_int_eq(ck_plan_ensure(&m->plan, &m->g, n, true, m->target_size), CKERAS_OK);
    const float *x = ckeras_tensor_data(xt), *y = ckeras_tensor_data(yt);
    loss_at(m, x, y, n);
    ck_loss_compute(&m->loss[0], m->plan.y_true[0], m->plan.act[m->g.outputs[0]], n, 1, m->plan.dact[m->g.outputs[0]],
                    1.0f / (float)n, NULL);
    ck_graph_backward(&m->g, &m->plan, n);
    float *g = malloc(m->n_params * sizeof(float));
    memcpy(g, m->grads, m->n_params * sizeof(float));
    for (size_t i = 0; i < m->n_params; i++) {
        float keep = m->params[i];
        const float h = 1e-2f;
        m->params[i] = keep + h;
        double lp = loss_at(m, x, y, n);
        m->params[i] = keep - h;
        double lm = loss_at(m, x, y, n);
        m->params[i] = keep;
        double num = (lp - lm) / (2.0 * h);
        ck_assert_msg(fabs(num - g[i]) <= 1e-3 + 1e-2 * fabs(num), "param %zu: %g vs numeric %g", i, (double)g[i], num);
    }
    free(g);
    ckeras_tensor_free(xt);
    ckeras_tensor_free(yt);
    ckeras_model_free(m);
}
END_TEST

START_TEST(concatenate_matches_keras)
{
    json_t *root = tu_load_json("keras3-traces/layers.json");
    static const char *cases[] = {"concatenate_axis-1", "concatenate_axis1"};
    for (int c = 0; c < 2; c++) {
        char path[128];
        snprintf(path, sizeof path, "cases/%s", cases[c]);
        json_t *cs = tu_get(root, path);
        json_t *inputs = tu_get(cs, "input");
        int nin = (int)json_array_size(inputs);
        ckeras_model *m = ckeras_functional(NULL);
        int ids[4];
        const ckeras_tensor *xs[4];
        for (int k = 0; k < nin; k++) {
            snprintf(path, sizeof path, "inputs/%s/value", json_string_value(json_array_get(inputs, (size_t)k)));
            int64_t shape[8];
            int nd;
            size_t cnt;
            float *v = tu_floats(tu_get(root, path), &cnt, shape, &nd);
            xs[k] = ckeras_tensor_copy(v, nd, shape);
            free(v);
            ids[k] = id_input(m, ckeras_input(nd - 1, shape + 1));
        }
        char *cfg = json_dumps(tu_get(cs, "config"), 0);
        int y = id_call(m, ckeras_layer_from_config("Concatenate", cfg), nin, ids);
        free(cfg);
        ck_assert_int_ge(y, 0);
        ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
        ckeras_tensor *out = NULL;
        ck_assert_int_eq(ckeras_model_predict_multi(m, nin, xs, 0, &out), CKERAS_OK);
        size_t cnt;
        float *want = tu_floats(tu_get(cs, "output"), &cnt, NULL, NULL);
        ck_assert_int_eq((int64_t)cnt, ckeras_tensor_size(out));
        tu_assert_close(ckeras_tensor_data(out), want, cnt, 0, 0, cases[c]);
        free(want);
        ckeras_tensor_free(out);
        for (int k = 0; k < nin; k++)
            ckeras_tensor_free((ckeras_tensor *)xs[k]);
        ckeras_model_free(m);
    }
    json_decref(root);
}
END_TEST

START_TEST(functional_misuse)
{
    ckeras_model *m = ckeras_functional(NULL);
    int x = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    ck_assert_int_eq(id_call(m, ckeras_dense(2, NULL), 1, (const int[]){7}), -1);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "tensor 7"));
    int a = id_call(m, ckeras_dense(2, NULL), 1, &x);
    ck_assert_int_eq(id_call(m, ckeras_add(), 2, (const int[]){x, a}), -1); /* (3) vs (2) */
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "does not broadcast"));
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "mse", NULL), CKERAS_ESTATE); /* no outputs */
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_ESTATE);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){a, a}), CKERAS_EUNSUPPORTED);
    ckeras_model_free(m);
}
END_TEST

/* ---- Keras' files ---------------------------------------------------------------------------- */

static void compare_npy(const ckeras_tensor *got, const char *expected_path, double tol, const char *what)
{
    ckeras_tensor *want = NULL;
    ck_assert_msg(ck_npy_read(expected_path, &want) == CKERAS_OK, "%s: %s", expected_path, ckeras_last_error());
    ck_assert_int_eq(ckeras_tensor_size(want), ckeras_tensor_size(got));
    const float *a = ckeras_tensor_data((ckeras_tensor *)got), *b = ckeras_tensor_data(want);
    for (int64_t i = 0; i < ckeras_tensor_size(want); i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= tol * (1 + fabsf(b[i])), "%s: output %lld is %.8g, Keras %.8g", what,
                      (long long)i, (double)a[i], (double)b[i]);
    ckeras_tensor_free(want);
}

START_TEST(keras3_seed_mlp_loads_and_predicts)
{
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model("tests/fixtures/h5/seed_mlp.h5", 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_layer_count(m), 4);
    ck_assert_str_eq(ckeras_layer_name(ckeras_model_layer(m, 3)), "dense_3");
    ckeras_tensor *x = NULL, *y = NULL;
    ck_assert_int_eq(ck_npy_read("tests/fixtures/keras3-oracle/seed_mlp.inputs.npy", &x), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    compare_npy(y, "tests/fixtures/keras3-oracle/seed_mlp.expected.npy", 1e-5, "seed_mlp");
    /* compiled from the file: Adam, binary cross-entropy, accuracy; the step count restored */
    ck_assert(m->compiled);
    ck_assert_int_eq(m->opt->kind, CK_OPT_ADAM);
    ck_assert_str_eq(ckeras_model_metrics_name(m, 1), "accuracy");
    json_t *man = tu_load_json("keras3-oracle/MANIFEST.json");
    ck_assert_int_eq(ckeras_optimizer_iterations(m->opt),
                     (int64_t)tu_number(tu_get(man, "fixtures/seed_mlp/optimizer_iterations")));
    json_decref(man);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* Every Keras file in the shared fixtures: it loads and matches Keras' predictions, or it fails
 * with a message naming what is unsupported. */
START_TEST(every_shared_fixture_loads_or_names_the_problem)
{
    static const char *dirs[] = {"keras3-oracle", "keras-real"};
    int loaded = 0, matched = 0, refused = 0;
    for (int di = 0; di < 2; di++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", shared_dir(), dirs[di]);
        DIR *d = opendir(dir);
        if (!d) {
            printf("every_shared_fixture: %s is absent, skipped\n", dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
                continue;
            char path[1024], stem[512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            snprintf(stem, sizeof stem, "%.*s", (int)(len - 3), e->d_name);
            ckeras_model *m = NULL;
            ckeras_status st = ckeras_load_model(path, 0, &m);
            if (st != CKERAS_OK) {
                const char *msg = ckeras_last_error();
                ck_assert_ptr_null(m);
                ck_assert_msg(st == CKERAS_EUNSUPPORTED || strstr(msg, "weights only"),
                              "%s: %s (%s)", e->d_name, msg, ckeras_status_name(st));
                refused++;
                continue;
            }
            loaded++;
            char in[1100], out[1100];
            snprintf(in, sizeof in, "%s/%s.inputs.npy", dir, stem);
            snprintf(out, sizeof out, "%s/%s.expected.npy", dir, stem);
            ckeras_tensor *x = NULL, *y = NULL;
            if (access(in, R_OK) == 0 && access(out, R_OK) == 0 && ck_npy_read(in, &x) == CKERAS_OK) {
                ck_assert_msg(ckeras_model_predict(m, x, 0, &y) == CKERAS_OK, "%s: %s", e->d_name, ckeras_last_error());
                compare_npy(y, out, 2e-5, e->d_name);
                matched++;
            }
            ckeras_tensor_free(x);
            ckeras_tensor_free(y);
            ckeras_model_free(m);
        }
        closedir(d);
    }
    printf("shared fixtures: %d loaded (%d matched Keras' predictions), %d refused with a reason\n", loaded,
           matched, refused);
}
END_TEST

START_TEST(load_errors_are_statuses)
{
    ckeras_model *m = (ckeras_model *)1;
    ck_assert_int_eq(ckeras_load_model(tmp("missing.h5"), 0, &m), CKERAS_EIO);
    ck_assert_ptr_null(m);
    FILE *f = fopen(tmp("text.h5"), "w");
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    ck_assert_int_eq(ckeras_load_model(tmp("text.h5"), 0, &m), CKERAS_EFORMAT);
    ck_assert_ptr_null(m);
    char lambda[600];
    snprintf(lambda, sizeof lambda, "%s/keras-real/k2.0.4_seq_listconfig_lambda_cropping_cnn.h5", shared_dir());
    if (access(lambda, R_OK) == 0) {
        ck_assert_int_eq(ckeras_load_model(lambda, 0, &m), CKERAS_EUNSUPPORTED);
        ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "Lambda"));
        ck_assert_ptr_null(m);
    }
    ck_assert_int_eq(ckeras_load_model(NULL, 0, &m), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_load_model("x", 0, NULL), CKERAS_EINVAL);
}
END_TEST

/* ---- round trips -------------------------------------------------------------------------------- */

static ckeras_model *mlp(uint64_t seed)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("mlp");
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){6}));
    ckeras_model_add(m, ckeras_dense(12, "relu"));
    ckeras_model_add(m, ckeras_dense(7, "hard_sigmoid"));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

START_TEST(save_load_predicts_bit_for_bit_and_resumes_training)
{
    ckeras_tensor *x = toy_x(32, 6, 8), *y = toy_y(x);
    ckeras_model *a = mlp(5), *c = mlp(5);
    for (int s = 0; s < 3; s++) {
        ck_assert_int_eq(ckeras_model_train_on_batch(a, x, y, NULL, 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_train_on_batch(c, x, y, NULL, 0), CKERAS_OK);
    }
    ck_assert_int_eq(ckeras_model_save(a, tmp("a.h5"), 0), CKERAS_OK);
    ckeras_model *b = NULL;
    ck_assert_msg(ckeras_load_model(tmp("a.h5"), 0, &b) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor *pa = NULL, *pb = NULL;
    ck_assert_int_eq(ckeras_model_predict(a, x, 0, &pa), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(b, x, 0, &pb), CKERAS_OK);
    ck_assert_int_eq(memcmp(ckeras_tensor_data(pa), ckeras_tensor_data(pb), 32 * sizeof(float)), 0);
    ck_assert_int_eq(ckeras_optimizer_iterations(b->opt), 3);
    /* 3 steps, save, load, 4 more == 7 uninterrupted */
    for (int s = 0; s < 4; s++) {
        ck_assert_int_eq(ckeras_model_train_on_batch(b, x, y, NULL, 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_train_on_batch(c, x, y, NULL, 0), CKERAS_OK);
    }
    ck_assert(b->n_params == c->n_params);
    ck_assert_int_eq(memcmp(b->params, c->params, b->n_params * sizeof(float)), 0);
    /* without the optimizer the moments start again, so the weights differ after more steps */
    ck_assert_int_eq(ckeras_model_save(a, tmp("noopt.h5"), CKERAS_SAVE_NO_OPTIMIZER), CKERAS_OK);
    ckeras_model *d = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("noopt.h5"), 0, &d), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_iterations(d->opt), 0);
    ckeras_model *e = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("noopt.h5"), CKERAS_LOAD_NO_COMPILE, &e), CKERAS_OK);
    ck_assert(!e->compiled);
    ckeras_tensor_free(pa);
    ckeras_tensor_free(pb);
    ckeras_model_free(a);
    ckeras_model_free(b);
    ckeras_model_free(c);
    ckeras_model_free(d);
    ckeras_model_free(e);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

START_TEST(functional_round_trip)
{
    ckeras_model *m = small_functional();
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.9, 1), "binary_crossentropy", NULL), CKERAS_OK);
    ckeras_tensor *x = toy_x(16, 6, 3), *y = toy_y(x);
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tmp("f.h5"), 0), CKERAS_OK);
    ckeras_model *b = NULL;
    ck_assert_msg(ckeras_load_model(tmp("f.h5"), 0, &b) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor *pa = NULL, *pb = NULL;
    ckeras_model_predict(m, x, 0, &pa);
    ckeras_model_predict(b, x, 0, &pb);
    ck_assert_int_eq(memcmp(ckeras_tensor_data(pa), ckeras_tensor_data(pb), 16 * sizeof(float)), 0);
    char *s1 = NULL, *s2 = NULL;
    ckeras_model_summary_string(m, 100, &s1);
    ckeras_model_summary_string(b, 100, &s2);
    ck_assert_str_eq(s1, s2);
    ckeras_free(s1);
    ckeras_free(s2);
    /* to_json / from_json */
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &json), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"Functional\""));
    ckeras_model *c = NULL;
    ck_assert_int_eq(ckeras_model_from_json(json, &c), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_layer_count(c), ckeras_model_layer_count(m));
    ckeras_free(json);
    ckeras_tensor_free(pa);
    ckeras_tensor_free(pb);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    ckeras_model_free(b);
    ckeras_model_free(c);
}
END_TEST

/* Building, loading and compiling lay the weights out once: adding or calling a layer costs
 * that layer's size, not the model's (loading ResNet50 took 30 s when every call laid the
 * whole model out again). Counts layout passes, not time. */
START_TEST(layout_is_done_once_per_build_not_per_layer)
{
    enum { BLOCKS = 150, W = 16 };
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_functional("deep");
    int x = id_input(m, ckeras_input(1, (const int64_t[]){W}));
    int h = x;
    for (int b = 0; b < BLOCKS; b++) {
        int d = id_call(m, ckeras_dense(W, "tanh"), 1, &h);
        int n = id_call(m, ckeras_batch_normalization(), 1, &d);
        h = id_call(m, ckeras_add(), 2, (const int[]){h, n});
        ck_assert_int_ge(h, 0);
    }
    int y = id_call(m, ckeras_dense(1, "sigmoid"), 1, &h);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    ck_assert_int_eq(m->layout_passes, 0);
    ckeras_tensor *in = toy_x(8, W, 5), *t = toy_y(in);
    ckeras_tensor *p0 = NULL, *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, in, 8, &p0), CKERAS_OK); /* works before compile */
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(1e-3), "binary_crossentropy", NULL), CKERAS_OK);
    ck_assert_int_eq(m->layout_passes, 1);
    int64_t total = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(total, BLOCKS * (W * W + W + 4 * W) + W + 1);
    ck_assert_int_eq((int64_t)(m->n_params + m->n_state), total);
    /* compiling moved the weights, not their values */
    ck_assert_int_eq(ckeras_model_predict(m, in, 8, &p1), CKERAS_OK);
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p0), ckeras_tensor_data(p1), 8 * sizeof(float)), 0);
    ck_assert_int_eq(ckeras_model_save(m, tmp("deep.h5"), 0), CKERAS_OK);
    ckeras_model *c = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("deep.h5"), 0, &c), CKERAS_OK);
    ck_assert_int_eq(c->layout_passes, 1); /* the compile from training_config */
    ck_assert_int_eq(ckeras_model_predict(c, in, 8, &p2), CKERAS_OK);
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p1), ckeras_tensor_data(p2), 8 * sizeof(float)), 0);
    ckeras_model *u = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("deep.h5"), CKERAS_LOAD_NO_COMPILE, &u), CKERAS_OK);
    ck_assert_int_eq(u->layout_passes, 0);
    ckeras_tensor_free(p2);
    p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(u, in, 8, &p2), CKERAS_OK);
    ck_assert_int_eq(memcmp(ckeras_tensor_data(p1), ckeras_tensor_data(p2), 8 * sizeof(float)), 0);
    /* a loaded, uncompiled model trains after compile: one more pass */
    ck_assert_int_eq(ckeras_model_compile(u, ckeras_adam(1e-3), "binary_crossentropy", NULL), CKERAS_OK);
    ck_assert_int_eq(u->layout_passes, 1);
    ck_assert_int_eq(ckeras_model_train_on_batch(u, in, t, NULL, 0), CKERAS_OK);
    ckeras_tensor_free(p0);
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_tensor_free(in);
    ckeras_tensor_free(t);
    ckeras_model_free(m);
    ckeras_model_free(c);
    ckeras_model_free(u);
}
END_TEST

START_TEST(load_weights_by_order_by_name_and_mismatch)
{
    ckeras_model *a = mlp(1), *b = mlp(2);
    ck_assert_int_eq(ckeras_model_save_weights(a, tmp("w.h5")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_load_weights(b, tmp("w.h5"), CKERAS_WEIGHTS_BY_ORDER), CKERAS_OK);
    ck_assert_int_eq(memcmp(a->params, b->params, a->n_params * sizeof(float)), 0);
    /* a model with a different first layer: the shapes do not fit, nothing changes */
    ckeras_set_random_seed(3);
    ckeras_model *c = ckeras_sequential("mlp");
    ckeras_model_add(c, ckeras_input(1, (const int64_t[]){5}));
    ckeras_model_add(c, ckeras_dense(12, "relu"));
    ckeras_model_add(c, ckeras_dense(7, "relu"));
    ckeras_model_add(c, ckeras_dense(1, "sigmoid"));
    /* compile lays the weights out in c->params (before, they live in per-layer blocks) */
    ck_assert_int_eq(ckeras_model_compile(c, NULL, "binary_crossentropy", NULL), CKERAS_OK);
    ck_assert_int_eq(c->n_params, 5 * 12 + 12 + 12 * 7 + 7 + 7 + 1);
    float *before = malloc(c->n_params * sizeof(float));
    memcpy(before, c->params, c->n_params * sizeof(float));
    ck_assert_int_eq(ckeras_model_load_weights(c, tmp("w.h5"), 0), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "has shape (6,12), layer expects (5,12)"));
    ck_assert_int_eq(memcmp(before, c->params, c->n_params * sizeof(float)), 0);
    /* skip_mismatch by name: the two layers that fit are loaded */
    ck_assert_int_eq(ckeras_model_load_weights(c, tmp("w.h5"), CKERAS_WEIGHTS_BY_NAME | CKERAS_WEIGHTS_SKIP_MISMATCH),
                     CKERAS_OK);
    ck_assert_int_eq(memcmp(ckeras_model_layer(c, 1)->w[0].data, ckeras_model_layer(a, 1)->w[0].data,
                            12 * 7 * sizeof(float)), 0);
    ck_assert_int_eq(memcmp(before, ckeras_model_layer(c, 0)->w[0].data, 5 * 12 * sizeof(float)), 0);
    free(before);
    ckeras_model_free(a);
    ckeras_model_free(b);
    ckeras_model_free(c);
}
END_TEST

/* A failed save leaves the previous file loadable. */
START_TEST(failed_save_keeps_the_old_file)
{
    ckeras_model *a = mlp(1);
    ck_assert_int_eq(ckeras_model_save(a, tmp("keep.h5"), 0), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_save(a, tmp("nodir/x.h5"), 0), CKERAS_OK);
    if (geteuid() != 0) { /* root ignores directory permissions */
        chmod(tmpdir, 0500);
        ck_assert_int_ne(ckeras_model_save(a, tmp("keep.h5"), 0), CKERAS_OK);
        chmod(tmpdir, 0700);
    }
    ckeras_model *b = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("keep.h5"), 0, &b), CKERAS_OK);
    ckeras_model_free(a);
    ckeras_model_free(b);
}
END_TEST

START_TEST(model_checkpoint_saves_loadable_files)
{
    ckeras_logs logs;
    ck_logs_clear(&logs);
    ck_logs_set(&logs, "val_loss", 0.12345);
    char out[256];
    ck_assert_int_eq(ck_checkpoint_format("m_{epoch:02d}-{val_loss:.2f}.h5", 3, &logs, out, sizeof out), CKERAS_OK);
    ck_assert_str_eq(out, "m_03-0.12.h5");
    ck_assert_int_eq(ck_checkpoint_format("m_{epoch}_{nope}.h5", 3, &logs, out, sizeof out), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "nope"));

    ckeras_tensor *x = toy_x(64, 6, 2), *y = toy_y(x);
    ckeras_model *m = mlp(9);
    char pattern[400];
    snprintf(pattern, sizeof pattern, "%s/ckpt_{epoch:02d}.h5", tmpdir);
    ckeras_callback *every = ckeras_model_checkpoint(pattern, NULL, 0);
    snprintf(pattern, sizeof pattern, "%s/best.h5", tmpdir);
    ckeras_callback *best = ckeras_model_checkpoint(pattern, "val_loss", 1);
    ck_assert_ptr_nonnull(every);
    ck_assert_ptr_nonnull(best);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 3);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_float(a, "validation_split", 0.25);
    ckeras_fit_args_add_callback(a, every);
    ckeras_fit_args_add_callback(a, best);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit(m, x, y, a, &h), CKERAS_OK);
    for (int e = 1; e <= 3; e++) {
        char name[64];
        snprintf(name, sizeof name, "ckpt_%02d.h5", e);
        ckeras_model *b = NULL;
        ck_assert_msg(ckeras_load_model(tmp(name), 0, &b) == CKERAS_OK, "%s: %s", name, ckeras_last_error());
        ck_assert_int_eq(ckeras_optimizer_iterations(b->opt), 2 * e); /* 48 samples, batch 32: 2 steps */
        ckeras_model_free(b);
    }
    /* best.h5 holds the epoch with the lowest val_loss */
    const double *vl;
    int ne;
    ck_assert_int_eq(ckeras_history_values(h, "val_loss", &vl, &ne), CKERAS_OK);
    int arg = 0;
    for (int e = 1; e < ne; e++)
        if (vl[e] < vl[arg])
            arg = e;
    ckeras_model *b = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("best.h5"), 0, &b), CKERAS_OK);
    ck_assert_int_eq(ckeras_optimizer_iterations(b->opt), 2 * (arg + 1));
    ckeras_model_free(b);
    ckeras_history_free(h);
    ckeras_fit_args_free(a);
    ckeras_callback_free(every);
    ckeras_callback_free(best);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* Transfer learning, Keras' way for Sequential models: load, pop the head, freeze the base, add
 * a new head, compile, fit: the base's weights do not move, the new head learns. */
START_TEST(transfer_learning_pop_freeze_new_head)
{
    ckeras_model *a = mlp(6);
    ckeras_tensor *x = toy_x(64, 6, 1), *y = toy_y(x);
    ck_assert_int_eq(ckeras_model_train_on_batch(a, x, y, NULL, 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(a, tmp("base.h5"), 0), CKERAS_OK);
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("base.h5"), 0, &m), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_pop(m), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_layer_count(m), 2);
    for (int i = 0; i < ckeras_model_layer_count(m); i++)
        ckeras_layer_set_trainable(ckeras_model_layer(m, i), 0);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.05), "binary_crossentropy", "accuracy"), CKERAS_OK);
    int64_t total, tr, ntr;
    ckeras_model_count_params(m, &total, &tr, &ntr);
    ck_assert_int_eq(tr, 7 + 1);                      /* the new head */
    ck_assert_int_eq(ntr, 6 * 12 + 12 + 12 * 7 + 7);  /* the frozen base */
    float base[12 * 7];
    memcpy(base, ckeras_model_layer(m, 1)->w[0].data, sizeof base);
    ck_assert_int_eq(memcmp(base, ckeras_model_layer(a, 1)->w[0].data, sizeof base), 0);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 5);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, NULL), CKERAS_OK);
    ck_assert_int_eq(memcmp(base, ckeras_model_layer(m, 1)->w[0].data, sizeof base), 0);
    ck_assert_int_eq(ckeras_model_pop(NULL), CKERAS_EINVAL);
    ckeras_fit_args_free(fa);
    ckeras_model_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* A ckeras-written file read from outside the library: h5py walks it as Keras' legacy loader
 * does, and NumPy recomputes the predictions from the stored weights. */
START_TEST(written_file_reads_as_keras_would)
{
    if (access("/usr/bin/python3", X_OK) != 0 ||
        system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0) {
        printf("written_file_reads_as_keras_would: /usr/bin/python3 with h5py and numpy is absent, skipped\n");
        return;
    }
    ckeras_tensor *x = toy_x(20, 6, 7), *y = toy_y(x);
    ckeras_set_random_seed(4);
    ckeras_model *m = ckeras_sequential("seedlike");
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){6}));
    ckeras_model_add(m, ckeras_dense(10, "relu"));
    ckeras_model_add(m, ckeras_dropout(0.3));
    ckeras_model_add(m, ckeras_dense(5, "tanh"));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tmp("k.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tmp("x.npy"), x), CKERAS_OK);
    ck_assert_int_eq(ckeras_write_npy(tmp("p.npy"), p), CKERAS_OK);
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/keras_loader_check.py %s %s %s", tmp("k.h5"), tmp("x.npy"),
             tmp("p.npy"));
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
    ckeras_tensor_free(p);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("saveload");
    TCase *tc = tcase_create("saveload");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, functional_gradients_match_finite_differences);
    tcase_add_test(tc, concatenate_matches_keras);
    tcase_add_test(tc, functional_misuse);
    tcase_add_test(tc, keras3_seed_mlp_loads_and_predicts);
    tcase_add_test(tc, every_shared_fixture_loads_or_names_the_problem);
    tcase_add_test(tc, load_errors_are_statuses);
    tcase_add_test(tc, save_load_predicts_bit_for_bit_and_resumes_training);
    tcase_add_test(tc, functional_round_trip);
    tcase_add_test(tc, load_weights_by_order_by_name_and_mismatch);
    tcase_add_test(tc, layout_is_done_once_per_build_not_per_layer);
    tcase_add_test(tc, failed_save_keeps_the_old_file);
    tcase_add_test(tc, model_checkpoint_saves_loadable_files);
    tcase_add_test(tc, written_file_reads_as_keras_would);
    tcase_add_test(tc, transfer_learning_pop_freeze_new_head);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
