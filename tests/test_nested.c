/* Nested models and the image preprocessing / augmentation layers.
 *  - The two shared Keras fixtures with nested models load and match Keras' predictions.
 *  - Hand-written nested configs (a Sequential in a Sequential with a clashing layer name, a
 *    Functional block with a residual Add inside a Functional, BatchNormalization weights stored
 *    in Keras' trainable-first order under names that do not match, a frozen nested model) load
 *    through the h5 writer's plain forms; predictions are checked against forward passes
 *    computed here in double from the same numbers.
 *  - Resizing, rotation and zoom against PyTorch's resampling (tests/ref/preprocessing_ref.py),
 *    rotations by right angles and integer translations against index arithmetic, flips and
 *    identities, every backward by central differences in double with the same random draws.
 *  - A small CNN with RandomFlip + RandomRotation in front trains with fit. */
#include "io/io.h"
#include "model/model.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *shared_dir(void)
{
    const char *d = getenv("CK_SHARED_FIXTURES");
    return d && *d ? d : "../shared/fixtures";
}

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/ck_test_nested_%d_%s", (int)getpid(), name);
}

/* ---- the shared fixtures --------------------------------------------------------------------- */

static void check_fixture(const char *stem, int64_t keras_params)
{
    char h5[1024], in[1024], out[1024];
    snprintf(h5, sizeof h5, "%s/keras-real/%s.h5", shared_dir(), stem);
    snprintf(in, sizeof in, "%s/keras-real/%s.inputs.npy", shared_dir(), stem);
    snprintf(out, sizeof out, "%s/keras-real/%s.expected.npy", shared_dir(), stem);
    if (access(h5, R_OK) != 0 || access(in, R_OK) != 0 || access(out, R_OK) != 0) {
        printf("test_nested: %s is absent (set CK_SHARED_FIXTURES), skipped\n", h5);
        return;
    }
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(h5, 0, &m) == CKERAS_OK, "%s: %s", stem, ckeras_last_error());
    int64_t total = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(total, keras_params); /* Keras' "Total params" (README of the fixtures) */
    ckeras_tensor *x = NULL, *y = NULL, *e = NULL;
    ck_assert_int_eq(ck_npy_read(in, &x), CKERAS_OK);
    ck_assert_int_eq(ck_npy_read(out, &e), CKERAS_OK);
    ck_assert_msg(ckeras_model_predict(m, x, 0, &y) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_tensor_size(y), ckeras_tensor_size(e));
    tu_assert_close(ckeras_tensor_data(y), ckeras_tensor_data(e), (size_t)ckeras_tensor_size(e), 1e-5, 1e-5, stem);
    /* a flattened model saves as a flat model that loads and predicts the same */
    char path[256];
    tmp_path(path, sizeof path, "flat.h5");
    ck_assert_msg(ckeras_model_save(m, path, 0) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor *y2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &y2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(y2), ckeras_tensor_data(y), (size_t)ckeras_tensor_size(y), 0, 0, "reloaded");
    unlink(path);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(y2);
    ckeras_tensor_free(e);
    ckeras_model_free(m);
    ckeras_model_free(m2);
}

START_TEST(fixture_augment_rescaling_cnn)
{
    check_fixture("tfk2.13.1_seq_nested_augment_rescaling_cnn", 183747);
}
END_TEST

START_TEST(fixture_teachable_machine_mobilenet)
{
    check_fixture("tfk2.4.0_seq_nested_teachable_machine_mobilenet", 538708);
}
END_TEST

/* tf.keras 2.11+ optimizer names ("Adam/m/conv2d_9/kernel:0", "iteration:0") restore the state */
START_TEST(fixture_optimizer_state_restored)
{
    char h5[1024];
    snprintf(h5, sizeof h5, "%s/keras-real/tfk2.13.1_seq_nested_augment_rescaling_cnn.h5", shared_dir());
    if (access(h5, R_OK) != 0) {
        printf("test_nested: %s is absent, skipped\n", h5);
        return;
    }
    ck_h5_file f;
    ck_assert_int_eq(ck_h5_read(h5, &f), CKERAS_OK);
    const ck_h5_array *it = NULL, *m0 = NULL;
    for (int i = 0; i < f.nopt; i++) {
        if (strcmp(f.opt[i].name, "iteration:0") == 0)
            it = &f.opt[i];
        if (strcmp(f.opt[i].name, "Adam/m/conv2d_9/kernel:0") == 0)
            m0 = &f.opt[i];
    }
    ck_assert_ptr_nonnull(it);
    ck_assert_ptr_nonnull(m0);
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(h5, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert(m->compiled);
    ck_assert_int_eq(m->opt->iterations, it->is_int ? it->ivalue : (int64_t)it->data[0]);
    ckeras_layer *conv = ckeras_model_layer_by_name(m, "conv2d_9");
    ck_assert_ptr_nonnull(conv);
    size_t off = (size_t)(conv->w[0].data - m->params);
    tu_assert_close(m->opt->slots[0] + off, m0->data, (size_t)conv->w[0].size, 0, 0, "Adam m of conv2d_9/kernel");
    ckeras_model_free(m);
    ck_h5_file_free(&f);
}
END_TEST

/* Fine-tuning the loaded augmentation model (its file is compiled: Adam,
 * sparse_categorical_crossentropy): the augmentation layers are active in fit and the model
 * learns the labels Keras predicted; predict stays deterministic. */
START_TEST(fixture_fine_tunes_with_augmentation)
{
    const char *stem = "tfk2.13.1_seq_nested_augment_rescaling_cnn";
    char h5[1024], in[1024], out[1024];
    snprintf(h5, sizeof h5, "%s/keras-real/%s.h5", shared_dir(), stem);
    snprintf(in, sizeof in, "%s/keras-real/%s.inputs.npy", shared_dir(), stem);
    snprintf(out, sizeof out, "%s/keras-real/%s.expected.npy", shared_dir(), stem);
    if (access(h5, R_OK) != 0 || access(in, R_OK) != 0 || access(out, R_OK) != 0) {
        printf("test_nested: %s is absent, skipped\n", h5);
        return;
    }
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(h5, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_str_eq(ckeras_layer_class(ckeras_model_layer(m, 2)), "RandomFlip");
    ckeras_tensor *x = NULL, *e = NULL;
    ck_assert_int_eq(ck_npy_read(in, &x), CKERAS_OK);
    ck_assert_int_eq(ck_npy_read(out, &e), CKERAS_OK);
    int64_t n = ckeras_tensor_dim(e, 0), k = ckeras_tensor_dim(e, 1);
    /* the labels: the class Keras ranked last for each image */
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){n});
    for (int64_t s = 0; s < n; s++) {
        int64_t lo = 0;
        for (int64_t c = 1; c < k; c++)
            if (ckeras_tensor_data(e)[s * k + c] < ckeras_tensor_data(e)[s * k + lo])
                lo = c;
        ckeras_tensor_data(y)[s] = (float)lo;
    }
    double before[2], after[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, before, 2), CKERAS_OK);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 3);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_msg(ckeras_model_fit(m, x, y, a, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(a);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, after, 2), CKERAS_OK);
    ck_assert_msg(isfinite(after[0]) && after[0] < before[0], "loss %g -> %g", before[0], after[0]);
    ckeras_tensor *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(p2), ckeras_tensor_data(p1), (size_t)(n * k), 0, 0, "predict twice");
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(e);
    ckeras_model_free(m);
}
END_TEST

/* ---- hand-written nested files ------------------------------------------------------------------ */

/* deterministic numbers for weights and inputs */
static float val(int k)
{
    return (float)(((k * 37 + 11) % 29) - 14) / 16.0f;
}

static void set_array(ck_h5_array *a, const char *name, int ndim, const int64_t *shape, int seed)
{
    a->name = ck_strdup(name);
    a->ndim = ndim;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++)
        n *= a->shape[d] = shape[d];
    a->data = ck_malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        a->data[i] = val(seed + (int)i);
}

static ck_h5_layer *add_group(ck_h5_file *f, const char *name, int n)
{
    ck_h5_layer *g = &f->layers[f->nlayers++];
    g->name = ck_strdup(name);
    g->n = n;
    g->w = ck_calloc((size_t)(n ? n : 1), sizeof *g->w);
    return g;
}

static void write_file(const char *path, const char *config, ck_h5_file *f)
{
    f->keras_version = ck_strdup("2.13.1");
    f->backend = ck_strdup("tensorflow");
    f->model_config = ck_strdup(config);
    ck_assert_msg(ck_h5_write(path, f) == CKERAS_OK, "%s", ckeras_last_error());
    ck_h5_file_free(f);
}

/* out (n) = x (n, in) . W (in, n) + b, in double */
static void dense_ref(const double *x, int in, const float *w, const float *b, int out, double *y, bool relu)
{
    for (int j = 0; j < out; j++) {
        double s = b[j];
        for (int i = 0; i < in; i++)
            s += x[i] * w[i * out + j];
        y[j] = relu && s < 0 ? 0 : s;
    }
}

#define DENSE(name, units) \
    "{\"class_name\":\"Dense\",\"config\":{\"name\":\"" name "\",\"units\":" #units ",\"activation\":\"linear\"}}"

/* outer Sequential [InputLayer(4), Sequential inner [InputLayer, Dense "dense"(3), Dense
 * "dense_1"(2)], Dense "dense"(1)]: the inner "dense" clashes with the outer one */
START_TEST(nested_sequential_with_clashing_name)
{
    const char *cfg =
        "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"outer\",\"layers\":["
        "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,4],\"name\":\"outer_input\"}},"
        "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"inner\",\"layers\":["
        "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,4],\"name\":\"inner_input\"}},"
        DENSE("dense", 3) "," DENSE("dense_1", 2) "]}},"
        DENSE("dense", 1) "]}}";
    ck_h5_file f;
    memset(&f, 0, sizeof f);
    f.layers = ck_calloc(2, sizeof *f.layers);
    ck_h5_layer *g = add_group(&f, "inner", 4);
    set_array(&g->w[0], "dense/kernel:0", 2, (const int64_t[]){4, 3}, 1);
    set_array(&g->w[1], "dense/bias:0", 1, (const int64_t[]){3}, 20);
    set_array(&g->w[2], "dense_1/kernel:0", 2, (const int64_t[]){3, 2}, 40);
    set_array(&g->w[3], "dense_1/bias:0", 1, (const int64_t[]){2}, 60);
    ck_h5_layer *o = add_group(&f, "dense", 2);
    set_array(&o->w[0], "dense/kernel:0", 2, (const int64_t[]){2, 1}, 70);
    set_array(&o->w[1], "dense/bias:0", 1, (const int64_t[]){1}, 80);
    /* the reference forward, from the same numbers */
    float k1[12], b1[3], k2[6], b2[2], k3[2], b3[1];
    for (int i = 0; i < 12; i++)
        k1[i] = val(1 + i);
    for (int i = 0; i < 3; i++)
        b1[i] = val(20 + i);
    for (int i = 0; i < 6; i++)
        k2[i] = val(40 + i);
    for (int i = 0; i < 2; i++)
        b2[i] = val(60 + i), k3[i] = val(70 + i);
    b3[0] = val(80);
    char path[256];
    tmp_path(path, sizeof path, "seq.h5");
    write_file(path, cfg, &f);

    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_layer_count(m), 3);
    ck_assert_str_eq(ckeras_layer_name(ckeras_model_layer(m, 0)), "inner/dense");
    ck_assert_str_eq(ckeras_layer_name(ckeras_model_layer(m, 1)), "dense_1");
    ck_assert_str_eq(ckeras_layer_name(ckeras_model_layer(m, 2)), "dense");
    ck_assert(!m->functional); /* Sequentials all the way down stay a Sequential */
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){3, 4}), *y = NULL;
    for (int i = 0; i < 12; i++)
        ckeras_tensor_data(x)[i] = val(100 + 3 * i);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    for (int s = 0; s < 3; s++) {
        double xi[4], h1[3], h2[2], out[1];
        for (int i = 0; i < 4; i++)
            xi[i] = ckeras_tensor_data(x)[s * 4 + i];
        dense_ref(xi, 4, k1, b1, 3, h1, false);
        dense_ref(h1, 3, k2, b2, 2, h2, false);
        dense_ref(h2, 2, k3, b3, 1, out, false);
        ck_assert_double_eq_tol(ckeras_tensor_data(y)[s], out[0], 1e-5);
    }
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    unlink(path);
}
END_TEST

/* outer Functional: in(4) -> block (Functional: x -> Dense d1(4, relu) -> Add(x, d1)) -> Dense
 * out(1); and the same block called in a Sequential, which makes the flat model Functional */
START_TEST(nested_functional_block)
{
    const char *block =
        "{\"class_name\":\"Functional\",\"name\":\"block\",\"config\":{\"name\":\"block\",\"layers\":["
        "{\"class_name\":\"InputLayer\",\"name\":\"x\",\"config\":{\"batch_input_shape\":[null,4],\"name\":\"x\"},"
        "\"inbound_nodes\":[]},"
        "{\"class_name\":\"Dense\",\"name\":\"d1\",\"config\":{\"name\":\"d1\",\"units\":4,\"activation\":\"relu\"},"
        "\"inbound_nodes\":[[[\"x\",0,0,{}]]]},"
        "{\"class_name\":\"Add\",\"name\":\"add\",\"config\":{\"name\":\"add\"},"
        "\"inbound_nodes\":[[[\"x\",0,0,{}],[\"d1\",0,0,{}]]]}],"
        "\"input_layers\":[[\"x\",0,0]],\"output_layers\":[[\"add\",0,0]]}}";
    char cfg[4096];
    snprintf(cfg, sizeof cfg,
             "{\"class_name\":\"Functional\",\"config\":{\"name\":\"outer\",\"layers\":["
             "{\"class_name\":\"InputLayer\",\"name\":\"in\",\"config\":{\"batch_input_shape\":[null,4],\"name\":\"in\"},"
             "\"inbound_nodes\":[]},"
             "%.*s,\"inbound_nodes\":[[[\"in\",1,0,{}]]]},"
             "{\"class_name\":\"Dense\",\"name\":\"out\",\"config\":{\"name\":\"out\",\"units\":1},"
             "\"inbound_nodes\":[[[\"block\",1,0,{}]]]}],"
             "\"input_layers\":[[\"in\",0,0]],\"output_layers\":[[\"out\",0,0]]}}",
             (int)strlen(block) - 1, block);
    char seqcfg[4096];
    snprintf(seqcfg, sizeof seqcfg,
             "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"outer\",\"layers\":["
             "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,4],\"name\":\"in\"}},"
             "%s,{\"class_name\":\"Dense\",\"config\":{\"name\":\"out\",\"units\":1}}]}}", block);
    float k1[16], b1[4], k2[4], b2[1];
    for (int i = 0; i < 16; i++)
        k1[i] = val(5 + i);
    for (int i = 0; i < 4; i++)
        b1[i] = val(30 + i), k2[i] = val(50 + i);
    b2[0] = val(60);
    for (int variant = 0; variant < 2; variant++) {
        ck_h5_file f;
        memset(&f, 0, sizeof f);
        f.layers = ck_calloc(3, sizeof *f.layers);
        ck_h5_layer *g = add_group(&f, "block", 2);
        set_array(&g->w[0], "d1/kernel:0", 2, (const int64_t[]){4, 4}, 5);
        set_array(&g->w[1], "d1/bias:0", 1, (const int64_t[]){4}, 30);
        g = add_group(&f, "out", 2);
        set_array(&g->w[0], "out/kernel:0", 2, (const int64_t[]){4, 1}, 50);
        set_array(&g->w[1], "out/bias:0", 1, (const int64_t[]){1}, 60);
        char path[256];
        tmp_path(path, sizeof path, "func.h5");
        write_file(path, variant ? seqcfg : cfg, &f);
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert(m->functional);
        ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){2, 4}), *y = NULL;
        for (int i = 0; i < 8; i++)
            ckeras_tensor_data(x)[i] = val(7 * i + 3);
        ck_assert_msg(ckeras_model_predict(m, x, 0, &y) == CKERAS_OK, "%s", ckeras_last_error());
        for (int s = 0; s < 2; s++) {
            double xi[4], h[4], out[1];
            for (int i = 0; i < 4; i++)
                xi[i] = ckeras_tensor_data(x)[s * 4 + i];
            dense_ref(xi, 4, k1, b1, 4, h, true);
            for (int i = 0; i < 4; i++)
                h[i] += xi[i];
            dense_ref(h, 4, k2, b2, 1, out, false);
            ck_assert_double_eq_tol(ckeras_tensor_data(y)[s], out[0], 1e-5);
        }
        ckeras_tensor_free(y);
        ckeras_tensor_free(x);
        ckeras_model_free(m);
        unlink(path);
    }
}
END_TEST

/* A nested Sequential [BN "bn1", Dense "d", BN "bn2"] whose weights are stored under names that
 * do not name the layers: Keras' order (trainable weights of every layer, then the others) */
static void bn_nested_file(const char *path, bool frozen, bool good_names)
{
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"outer\",\"layers\":["
             "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,3],\"name\":\"in\"}},"
             "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"inner\",%s\"layers\":["
             "{\"class_name\":\"BatchNormalization\",\"config\":{\"name\":\"bn1\",\"axis\":-1}},"
             DENSE("d", 2) ","
             "{\"class_name\":\"BatchNormalization\",\"config\":{\"name\":\"bn2\",\"axis\":-1}}]}}]}}",
             frozen ? "\"trainable\":false," : "");
    ck_h5_file f;
    memset(&f, 0, sizeof f);
    f.layers = ck_calloc(2, sizeof *f.layers);
    ck_h5_layer *g = add_group(&f, "inner", 10);
    static const char *names[10] = {"bn1/gamma:0", "bn1/beta:0", "d/kernel:0", "d/bias:0", "bn2/gamma:0",
                                    "bn2/beta:0", "bn1/moving_mean:0", "bn1/moving_variance:0",
                                    "bn2/moving_mean:0", "bn2/moving_variance:0"};
    static const int64_t sizes[10] = {3, 3, 0, 2, 2, 2, 3, 3, 2, 2};
    for (int k = 0; k < 10; k++) {
        char nm[64];
        if (good_names)
            snprintf(nm, sizeof nm, "%s", names[k]);
        else
            snprintf(nm, sizeof nm, "variable_%d:0", k);
        if (k == 2)
            set_array(&g->w[k], nm, 2, (const int64_t[]){3, 2}, 10 * k);
        else
            set_array(&g->w[k], nm, 1, &sizes[k], 10 * k);
        if (strstr(names[k], "variance")) /* positive variances */
            for (int i = 0; i < sizes[k]; i++)
                g->w[k].data[i] = 0.5f + (float)i;
    }
    write_file(path, cfg, &f);
}

static void check_bn_nested(const char *path)
{
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){2, 3}), *y = NULL;
    for (int i = 0; i < 6; i++)
        ckeras_tensor_data(x)[i] = val(3 * i + 1);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    /* array k holds val(10k + i), variances 0.5 + i */
    for (int s = 0; s < 2; s++) {
        double h[3], d[2];
        for (int c = 0; c < 3; c++) {
            double v = ckeras_tensor_data(x)[s * 3 + c];
            h[c] = (v - val(60 + c)) / sqrt(0.5 + c + 1e-3) * val(0 + c) + val(10 + c);
        }
        float kern[6], bias[2];
        for (int i = 0; i < 6; i++)
            kern[i] = val(20 + i);
        for (int i = 0; i < 2; i++)
            bias[i] = val(30 + i);
        dense_ref(h, 3, kern, bias, 2, d, false);
        for (int c = 0; c < 2; c++) {
            double o = (d[c] - val(80 + c)) / sqrt(0.5 + c + 1e-3) * val(40 + c) + val(50 + c);
            ck_assert_double_eq_tol(ckeras_tensor_data(y)[s * 2 + c], o, 1e-5);
        }
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}

START_TEST(nested_weights_by_keras_order)
{
    char path[256];
    tmp_path(path, sizeof path, "bn.h5");
    bn_nested_file(path, false, false);
    check_bn_nested(path);
    bn_nested_file(path, false, true);
    check_bn_nested(path);
    /* a frozen nested model (Keras 3 writes "trainable": false): every inner weight non-trainable */
    bn_nested_file(path, true, true);
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    int64_t total, tr, ntr;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &tr, &ntr), CKERAS_OK);
    ck_assert_int_eq(total, 3 * 4 + 8 + 2 * 4);
    ck_assert_int_eq(tr, 0);
    ckeras_model_free(m);
    unlink(path);
}
END_TEST

START_TEST(nested_errors)
{
    char path[256];
    tmp_path(path, sizeof path, "bad.h5");
    /* a nested group with one array too few */
    const char *cfg = "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"o\",\"layers\":["
                      "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,2],\"name\":\"i\"}},"
                      "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"s\",\"layers\":[" DENSE("d", 2) "]}}]}}";
    ck_h5_file f;
    memset(&f, 0, sizeof f);
    f.layers = ck_calloc(1, sizeof *f.layers);
    ck_h5_layer *g = add_group(&f, "s", 1);
    set_array(&g->w[0], "d/kernel:0", 2, (const int64_t[]){2, 2}, 0);
    write_file(path, cfg, &f);
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_load_model(path, 0, &m), CKERAS_EFORMAT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "nested model 's' expects 2"));
    /* a wrong shape */
    memset(&f, 0, sizeof f);
    f.layers = ck_calloc(1, sizeof *f.layers);
    g = add_group(&f, "s", 2);
    set_array(&g->w[0], "d/kernel:0", 2, (const int64_t[]){3, 2}, 0);
    set_array(&g->w[1], "d/bias:0", 1, (const int64_t[]){2}, 0);
    write_file(path, cfg, &f);
    ck_assert_int_eq(ckeras_load_model(path, 0, &m), CKERAS_ESHAPE);
    unlink(path);
    /* a nested model with two inputs */
    const char *two = "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"o\",\"layers\":["
                      "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,2],\"name\":\"i\"}},"
                      "{\"class_name\":\"Functional\",\"config\":{\"name\":\"f\",\"layers\":["
                      "{\"class_name\":\"InputLayer\",\"name\":\"a\",\"config\":{\"batch_input_shape\":[null,2]},"
                      "\"inbound_nodes\":[]},"
                      "{\"class_name\":\"InputLayer\",\"name\":\"b\",\"config\":{\"batch_input_shape\":[null,2]},"
                      "\"inbound_nodes\":[]},"
                      "{\"class_name\":\"Add\",\"name\":\"s\",\"config\":{\"name\":\"s\"},"
                      "\"inbound_nodes\":[[[\"a\",0,0,{}],[\"b\",0,0,{}]]]}],"
                      "\"input_layers\":[[\"a\",0,0],[\"b\",0,0]],\"output_layers\":[[\"s\",0,0]]}}]}}";
    ck_assert_int_eq(ckeras_model_from_json(two, &m), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "2 inputs"));
}
END_TEST

/* ---- preprocessing layers, one at a time ------------------------------------------------------ */

typedef struct run {
    ckeras_layer *l;
    int64_t n, in_size, out_size;
    float *x, *y, *saved;
} run;

static void run_init(run *r, ckeras_layer *l, int64_t n, int64_t h, int64_t w, int64_t c)
{
    ck_assert_ptr_nonnull(l);
    memset(r, 0, sizeof *r);
    ck_shape in = {3, {h, w, c}};
    ck_assert_msg(ck_layer_build(l, &in) == CKERAS_OK, "%s", ckeras_last_error());
    r->l = l;
    r->n = n;
    r->in_size = n * h * w * c;
    r->out_size = n * ck_shape_size(&l->out_shape);
    r->x = calloc((size_t)r->in_size, sizeof(float));
    r->y = calloc((size_t)r->out_size, sizeof(float));
    int64_t ns = l->vt->saved_floats ? l->vt->saved_floats(l, n) : 0;
    r->saved = calloc((size_t)(ns ? ns : 1), sizeof(float));
}

static void run_forward(run *r, bool training, uint64_t seed)
{
    ck_rng rng;
    ck_rng_seed(&rng, seed);
    const float *xs[1] = {r->x};
    ck_fwd f = {.n = r->n, .x = r->x, .y = r->y, .saved = r->saved, .training = training, .rng = &rng,
                .nin = 1, .xs = xs};
    r->l->vt->forward(r->l, &f);
}

static void run_free(run *r)
{
    free(r->x);
    free(r->y);
    free(r->saved);
    ck_layer_free(r->l);
}

/* Central differences in double of L = sum(g * y) against backward's dx, with the draws of the
 * forward fixed by the seed. Checks every input element. */
static void check_backward(run *r, uint64_t seed, double tol)
{
    float *g = malloc((size_t)r->out_size * sizeof(float)), *dx = calloc((size_t)r->in_size, sizeof(float));
    for (int64_t i = 0; i < r->out_size; i++)
        g[i] = val((int)i * 5 + 2);
    run_forward(r, true, seed);
    float *dy = malloc((size_t)r->out_size * sizeof(float));
    memcpy(dy, g, (size_t)r->out_size * sizeof(float));
    const float *xs[1] = {r->x};
    float *dxs[1] = {dx};
    ck_bwd b = {.n = r->n, .x = r->x, .y = r->y, .dy = dy, .dx = dx, .saved = r->saved, .nin = 1, .xs = xs,
                .dxs = dxs};
    r->l->vt->backward(r->l, &b);
    const float h = 1e-2f;
    for (int64_t i = 0; i < r->in_size; i++) {
        float keep = r->x[i];
        double lp = 0, lm = 0;
        r->x[i] = keep + h;
        run_forward(r, true, seed);
        for (int64_t k = 0; k < r->out_size; k++)
            lp += (double)g[k] * r->y[k];
        r->x[i] = keep - h;
        run_forward(r, true, seed);
        for (int64_t k = 0; k < r->out_size; k++)
            lm += (double)g[k] * r->y[k];
        r->x[i] = keep;
        double fd = (lp - lm) / (2.0 * h);
        ck_assert_msg(fabs(fd - dx[i]) <= tol * (1 + fabs(fd)), "%s: dx[%lld] = %g, differences %g",
                      r->l->vt->class_name, (long long)i, (double)dx[i], fd);
    }
    free(g);
    free(dx);
    free(dy);
}

static ckeras_layer *layer(const char *cls)
{
    ckeras_layer *l = ck_layer_new(ck_layer_lookup(cls));
    ck_assert_ptr_nonnull(l);
    snprintf(l->name, sizeof l->name, "%s", cls);
    return l;
}

static void setf(ckeras_layer *l, const char *k, double v)
{
    ck_assert_msg(ck_config_set_float(&l->cfg, l->vt->class_name, k, v) == CKERAS_OK, "%s", ckeras_last_error());
}

static void sets(ckeras_layer *l, const char *k, const char *v)
{
    ck_assert_msg(ck_config_set_str(&l->cfg, l->vt->class_name, k, v) == CKERAS_OK, "%s", ckeras_last_error());
}

START_TEST(reference_cases_from_pytorch)
{
    json_t *root = tu_load_json("preprocessing/reference.json");
    json_t *cases = tu_get(root, "cases");
    size_t ci;
    json_t *c;
    int done = 0;
    json_array_foreach(cases, ci, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        size_t nx, ny;
        int64_t shape[8];
        int nd;
        float *x = tu_floats(json_object_get(c, "input"), &nx, shape, &nd);
        float *want = tu_floats(json_object_get(c, "output"), &ny, NULL, NULL);
        ck_assert_int_eq(nd, 3);
        ckeras_layer *l;
        if (strncmp(name, "resize", 6) == 0) {
            l = layer("Resizing");
            ck_assert_int_eq(ck_config_set_int(&l->cfg, "Resizing", "height",
                                               (int64_t)tu_number(json_object_get(c, "height"))), CKERAS_OK);
            ck_assert_int_eq(ck_config_set_int(&l->cfg, "Resizing", "width",
                                               (int64_t)tu_number(json_object_get(c, "width"))), CKERAS_OK);
            sets(l, "interpolation", json_string_value(json_object_get(c, "interpolation")));
            if (strcmp(name, "resize_crop") == 0)
                ck_assert_int_eq(ck_config_set_bool(&l->cfg, "Resizing", "crop_to_aspect_ratio", true), CKERAS_OK);
        } else if (strcmp(name, "rotation_constant") == 0) {
            l = layer("RandomRotation");
            double t = tu_number(json_object_get(c, "factor"));
            setf(l, "factor", t); /* the range [t, t]: a fixed angle */
            setf(l, "factor_lower", t);
            sets(l, "fill_mode", "constant");
        } else {
            l = layer("RandomZoom");
            double zy = tu_number(json_object_get(c, "height_zoom")) - 1, zx = tu_number(json_object_get(c, "width_zoom")) - 1;
            setf(l, "height_factor", zy);
            setf(l, "height_factor_lower", zy);
            setf(l, "width_factor", zx);
            setf(l, "width_factor_lower", zx);
            sets(l, "fill_mode", "constant");
        }
        run r;
        run_init(&r, l, 1, shape[0], shape[1], shape[2]);
        ck_assert_int_eq(r.out_size, (int64_t)ny);
        memcpy(r.x, x, nx * sizeof(float));
        run_forward(&r, true, 5);
        tu_assert_close(r.y, want, ny, 2e-6, 1e-5, name);
        if (r.in_size <= 200)
            check_backward(&r, 9, 2e-3);
        run_free(&r);
        free(x);
        free(want);
        done++;
    }
    ck_assert_int_ge(done, 15);
    json_decref(root);
}
END_TEST

/* a (h, w, c) image of distinct values */
static void fill_distinct(float *x, int64_t n, int seed)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)((i * 7919 + seed) % 1009) / 1009.0f;
}

START_TEST(random_layers_are_identity_in_inference)
{
    ckeras_model *m = ckeras_sequential("aug");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){6, 5, 2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_flip(NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_rotation(0.3)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_zoom(0.2, NAN)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_translation(0.1, 0.2)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_contrast(0.5)), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){4, 6, 5, 2}), *y = NULL;
    fill_distinct(ckeras_tensor_data(x), 240, 3);
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &y), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(y), ckeras_tensor_data(x), 240, 0, 0, "identity in predict");
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    /* constructor checks */
    ck_assert_ptr_null(ckeras_random_flip("diagonal"));
    ck_assert_ptr_null(ckeras_random_zoom(1.5, NAN));
    ck_assert_ptr_null(ckeras_resizing(0, 3));
    ck_assert_ptr_null(ckeras_random_contrast(-0.1));
}
END_TEST

START_TEST(random_flip_flips_about_half)
{
    const int64_t n = 400, H = 3, W = 4, C = 2, S = H * W * C;
    run r;
    run_init(&r, ckeras_random_flip("horizontal"), n, H, W, C);
    fill_distinct(r.x, r.in_size, 1);
    run_forward(&r, true, 42);
    int flipped = 0;
    for (int64_t s = 0; s < n; s++) {
        bool same = true, mirror = true;
        for (int64_t i = 0; i < H; i++)
            for (int64_t j = 0; j < W; j++)
                for (int64_t c = 0; c < C; c++) {
                    float v = r.y[s * S + (i * W + j) * C + c];
                    same = same && v == r.x[s * S + (i * W + j) * C + c];
                    mirror = mirror && v == r.x[s * S + (i * W + (W - 1 - j)) * C + c]; /* x[:, :, ::-1, :] */
                }
        ck_assert_msg(same != mirror, "sample %lld is neither the image nor its mirror", (long long)s);
        flipped += mirror;
    }
    /* binomial(400, 1/2): mean 200, sd 10 */
    ck_assert_int_ge(flipped, 150);
    ck_assert_int_le(flipped, 250);
    /* different draws on another call of the same generator, and none in inference */
    run_forward(&r, false, 42);
    tu_assert_close(r.y, r.x, (size_t)r.in_size, 0, 0, "inference");
    run_free(&r);
    /* vertical and both: backward is the same permutation's transpose */
    const char *modes[] = {"vertical", "horizontal_and_vertical"};
    for (int k = 0; k < 2; k++) {
        run_init(&r, ckeras_random_flip(modes[k]), 6, 3, 4, 2);
        fill_distinct(r.x, r.in_size, 5);
        check_backward(&r, 77, 1e-3);
        run_free(&r);
    }
}
END_TEST

START_TEST(rotation_exact_cases)
{
    const int64_t N = 5, C = 2, S = N * N * C;
    /* factor 0: the identity, also in training */
    run r;
    run_init(&r, ckeras_random_rotation(0.0), 3, N, N, C);
    fill_distinct(r.x, r.in_size, 2);
    run_forward(&r, true, 1);
    tu_assert_close(r.y, r.x, (size_t)r.in_size, 1e-6, 0, "rotation by 0");
    run_free(&r);
    /* a quarter turn counter-clockwise is numpy's rot90: out[i][j] = in[j][N-1-i]; half a turn
     * reverses both axes */
    for (int q = 1; q <= 2; q++) {
        ckeras_layer *l = ckeras_random_rotation(0.25 * q);
        setf(l, "factor_lower", 0.25 * q);
        run_init(&r, l, 1, N, N, C);
        fill_distinct(r.x, r.in_size, 3);
        run_forward(&r, true, 1);
        float want[S];
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < N; j++)
                for (int64_t c = 0; c < C; c++)
                    want[(i * N + j) * C + c] = q == 1 ? r.x[(j * N + (N - 1 - i)) * C + c]
                                                       : r.x[((N - 1 - i) * N + (N - 1 - j)) * C + c];
        tu_assert_close(r.y, want, S, 1e-5, 0, q == 1 ? "quarter turn" : "half turn");
        run_free(&r);
    }
    /* random angles in training: backward by differences, every fill mode */
    const char *fills[] = {"reflect", "wrap", "nearest", "constant"};
    for (int k = 0; k < 4; k++) {
        ckeras_layer *l = ckeras_random_rotation(0.2);
        sets(l, "fill_mode", fills[k]);
        run_init(&r, l, 2, 4, 5, 2);
        fill_distinct(r.x, r.in_size, 11);
        check_backward(&r, 1234 + (uint64_t)k, 2e-3);
        run_free(&r);
    }
}
END_TEST

/* An integer translation with fill_mode reflect: out[i][j] = in[i][j - 2] and, to the left of
 * the image, TensorFlow's reflection (d c b a | a b c d): column -1 reads 0, column -2 reads 1. */
START_TEST(translation_reflects)
{
    const int64_t H = 3, W = 6, C = 1;
    ckeras_layer *l = ckeras_random_translation(0.0, 2.0 / 6.0);
    setf(l, "width_factor_lower", 2.0 / 6.0);
    run r;
    run_init(&r, l, 1, H, W, C);
    fill_distinct(r.x, r.in_size, 4);
    run_forward(&r, true, 3);
    static const int src[6] = {1, 0, 0, 1, 2, 3};
    for (int64_t i = 0; i < H; i++)
        for (int64_t j = 0; j < W; j++)
            ck_assert_float_eq_tol(r.y[i * W + j], r.x[i * W + src[j]], 1e-6);
    run_free(&r);
    l = ckeras_random_translation(0.3, 0.3);
    run_init(&r, l, 2, 4, 4, 2);
    fill_distinct(r.x, r.in_size, 8);
    check_backward(&r, 5, 2e-3);
    run_free(&r);
}
END_TEST

START_TEST(zoom_contrast_crop_backward)
{
    run r;
    ckeras_layer *l = ckeras_random_zoom(0.3, 0.2);
    run_init(&r, l, 2, 5, 4, 2);
    fill_distinct(r.x, r.in_size, 6);
    check_backward(&r, 21, 2e-3);
    run_free(&r);
    /* contrast: values in [0, 255] so that some clip */
    l = ckeras_random_contrast(0.9);
    run_init(&r, l, 3, 3, 3, 2);
    for (int64_t i = 0; i < r.in_size; i++)
        r.x[i] = (float)((i * 53) % 251) + 0.37f;
    check_backward(&r, 8, 2e-3);
    /* the per-channel mean is kept when nothing clips */
    for (int64_t i = 0; i < r.in_size; i++)
        r.x[i] = 100.0f + (float)(i % 7);
    run_forward(&r, true, 8);
    for (int64_t s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++) {
            double mx = 0, my = 0;
            for (int p = 0; p < 9; p++) {
                mx += r.x[s * 18 + p * 2 + c];
                my += r.y[s * 18 + p * 2 + c];
            }
            ck_assert_double_eq_tol(mx, my, 1e-3);
        }
    run_free(&r);
    /* CenterCrop: the centred window (start (in - out) / 2); a smaller input is resized */
    l = ckeras_center_crop(2, 3);
    run_init(&r, l, 1, 5, 6, 1);
    fill_distinct(r.x, r.in_size, 9);
    run_forward(&r, false, 0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            ck_assert_float_eq(r.y[i * 3 + j], r.x[(1 + i) * 6 + 1 + j]);
    check_backward(&r, 0, 1e-3);
    run_free(&r);
    l = ckeras_center_crop(6, 6);
    run_init(&r, l, 1, 3, 4, 1);
    ck_assert_int_eq(r.out_size, 36);
    check_backward(&r, 0, 1e-3);
    run_free(&r);
}
END_TEST

START_TEST(config_round_trip_keeps_factor_pairs)
{
    const char *cfg =
        "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"s\",\"layers\":["
        "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,8,8,3],\"name\":\"i\"}},"
        "{\"class_name\":\"RandomRotation\",\"config\":{\"name\":\"rr\",\"factor\":[-0.1,0.3],"
        "\"fill_mode\":\"nearest\",\"seed\":7}},"
        "{\"class_name\":\"RandomZoom\",\"config\":{\"name\":\"rz\",\"height_factor\":0.2,\"width_factor\":null}},"
        "{\"class_name\":\"Resizing\",\"config\":{\"name\":\"rs\",\"height\":4,\"width\":6,"
        "\"interpolation\":\"nearest\",\"crop_to_aspect_ratio\":true}}]}}";
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_model_from_json(cfg, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_layer *rr = ckeras_model_layer_by_name(m, "rr");
    ck_assert_double_eq_tol(ck_cfg_float(&rr->cfg, "factor_lower"), -0.1, 1e-12);
    ck_assert_double_eq_tol(ck_cfg_float(&rr->cfg, "factor"), 0.3, 1e-12);
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &json), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"factor\":[-0.1"));
    ck_assert_ptr_null(strstr(json, "factor_lower"));
    ck_assert_ptr_nonnull(strstr(json, "\"width_factor\":null"));
    /* keywords tf.keras 2 would refuse are not written */
    ck_assert_ptr_null(strstr(json, "data_format"));
    ck_assert_ptr_null(strstr(json, "antialias"));
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_model_from_json(json, &m2) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_double_eq_tol(ck_cfg_float(&ckeras_model_layer_by_name(m2, "rr")->cfg, "factor_lower"), -0.1, 1e-7);
    ck_assert_int_eq(ck_model_output_shape(m2)->d[0], 4);
    ck_assert_int_eq(ck_model_output_shape(m2)->d[1], 6);
    ckeras_free(json);
    ckeras_model_free(m);
    ckeras_model_free(m2);
    /* unsupported settings are refused with a reason */
    const char *bad = "{\"class_name\":\"Sequential\",\"config\":{\"name\":\"s\",\"layers\":["
                      "{\"class_name\":\"InputLayer\",\"config\":{\"batch_input_shape\":[null,8,8,3],\"name\":\"i\"}},"
                      "{\"class_name\":\"Resizing\",\"config\":{\"name\":\"rs\",\"height\":4,\"width\":6,"
                      "\"interpolation\":\"bicubic\"}}]}}";
    ck_assert_int_ne(ckeras_model_from_json(bad, &m), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "interpolation"));
}
END_TEST

/* ---- training through augmentation ------------------------------------------------------------- */

/* 8x8 images: a bright 3x3 blob in the upper half (label 1) or the lower half (label 0) */
START_TEST(cnn_trains_with_augmentation_in_front)
{
    ckeras_set_random_seed(7);
    const int64_t n = 96;
    ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){n, 8, 8, 1});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){n, 1});
    ck_rng r;
    ck_rng_seed(&r, 99);
    float *xd = ckeras_tensor_data(x);
    memset(xd, 0, (size_t)n * 64 * sizeof(float));
    for (int64_t s = 0; s < n; s++) {
        bool up = s % 2 == 0;
        int64_t i0 = up ? (int64_t)ck_rng_below(&r, 2) : 5 + (int64_t)ck_rng_below(&r, 1);
        int64_t j0 = (int64_t)ck_rng_below(&r, 6);
        for (int64_t i = i0; i < i0 + 3 && i < 8; i++)
            for (int64_t j = j0; j < j0 + 3; j++)
                xd[s * 64 + i * 8 + j] = 1.0f;
        ckeras_tensor_data(y)[s] = up;
    }
    ckeras_model *m = ckeras_sequential("augmented_cnn");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){8, 8, 1})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_flip("horizontal")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_random_rotation(0.03)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv2d(4, 3, 3, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, "sigmoid")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "binary_crossentropy", "accuracy"), CKERAS_OK);
    double before[2], after[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, before, 2), CKERAS_OK);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 30);
    ckeras_fit_args_set_int(a, "batch_size", 16);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ck_assert_msg(ckeras_model_fit(m, x, y, a, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(a);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, after, 2), CKERAS_OK);
    ck_assert_msg(after[0] < 0.5 * before[0], "loss %g -> %g", before[0], after[0]);
    ck_assert_msg(after[1] >= 0.9, "accuracy %g", after[1]);
    /* save and load: the augmentation layers come back */
    char path[256];
    tmp_path(path, sizeof path, "aug.h5");
    ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_str_eq(ckeras_layer_class(ckeras_model_layer(m2, 1)), "RandomRotation");
    ckeras_tensor *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &p2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(p2), ckeras_tensor_data(p1), (size_t)n, 0, 0, "reloaded");
    unlink(path);
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_model_free(m2);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* ---- several Adam steps through nested models against Keras (tests/ref/nested_fit_ref.py) ---- */

/* Loads tests/fixtures/nested_fit/<name>.h5, trains it as Keras did (Adam(1e-2),
 * sparse_categorical_crossentropy, batch 16, 3 epochs, no shuffling: 12 steps) and compares every
 * weight, BatchNormalization's moving statistics included, with Keras' after the same steps. */
static void check_nested_fit(const char *name, const char *const *unchanged, int n_unchanged)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/nested_fit/%s.h5", name);
    ckeras_model *m = NULL, *before = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_msg(ckeras_load_model(path, 0, &before) == CKERAS_OK, "%s", ckeras_last_error());
    int count = 0;
    char **names = NULL;
    ckeras_tensor **arrays = NULL;
    ck_assert_int_eq(ckeras_read_npz("tests/fixtures/nested_fit/data.npz", &count, &names, &arrays), CKERAS_OK);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(1e-2), "sparse_categorical_crossentropy", NULL), CKERAS_OK);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", 3);
    ckeras_fit_args_set_int(a, "batch_size", 16);
    ckeras_fit_args_set_int(a, "shuffle", 0);
    ckeras_fit_args_set_int(a, "verbose", 0);
    int xi = strcmp(names[0], "x") == 0 ? 0 : 1;
    ck_assert_msg(ckeras_model_fit(m, arrays[xi], arrays[1 - xi], a, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(a);
    ckeras_npz_free(count, names, arrays);

    snprintf(path, sizeof path, "tests/fixtures/nested_fit/%s.npz", name);
    ck_assert_int_eq(ckeras_read_npz(path, &count, &names, &arrays), CKERAS_OK);
    ck_assert_int_eq(count, 7);
    for (int i = 0; i < count; i++) { /* "layer/weight" as Keras 3 names its variables */
        char layer_name[64];
        const char *slash = strchr(names[i], '/');
        ck_assert_ptr_nonnull(slash);
        snprintf(layer_name, sizeof layer_name, "%.*s", (int)(slash - names[i]), names[i]);
        ckeras_layer *l = ckeras_model_layer_by_name(m, layer_name), *l0 = ckeras_model_layer_by_name(before, layer_name);
        ck_assert_msg(l && l0, "no layer %s", layer_name);
        bool found = false;
        for (int w = 0; w < ckeras_layer_weight_count(l); w++) {
            const char *wname = NULL;
            ckeras_tensor *v = NULL, *v0 = NULL;
            ck_assert_int_eq(ckeras_layer_weight(l, w, &wname, &v), CKERAS_OK);
            ck_assert_int_eq(ckeras_layer_weight(l0, w, &wname, &v0), CKERAS_OK);
            if (strcmp(wname, slash + 1) != 0) {
                ckeras_tensor_free(v);
                ckeras_tensor_free(v0);
                continue;
            }
            found = true;
            size_t n = (size_t)ckeras_tensor_size(v);
            ck_assert_int_eq((int64_t)n, ckeras_tensor_size(arrays[i]));
            char what[128];
            snprintf(what, sizeof what, "%s: %s after 12 Adam steps", name, names[i]);
            tu_assert_close(ckeras_tensor_data(v), ckeras_tensor_data(arrays[i]), n, 1e-5, 1e-4, what);
            bool frozen = false;
            for (int u = 0; u < n_unchanged; u++)
                frozen = frozen || strcmp(names[i], unchanged[u]) == 0;
            /* what Keras keeps must stay bit for bit, what it trains must have moved */
            bool same = memcmp(ckeras_tensor_data(v), ckeras_tensor_data(v0), n * sizeof(float)) == 0;
            ck_assert_msg(same == frozen, "%s: %s", names[i], frozen ? "changed" : "did not train");
            ckeras_tensor_free(v);
            ckeras_tensor_free(v0);
        }
        ck_assert_msg(found, "no weight %s", names[i]);
    }
    ckeras_npz_free(count, names, arrays);
    /* ckeras' files keep which layers train (a trainable layer in a frozen nested model too) and
     * the weights (paired by name, or in the legacy order) */
    int64_t total, tr, ntr, total2, tr2, ntr2;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &tr, &ntr), CKERAS_OK);
    for (int flags = 0; flags <= CKERAS_SAVE_KERAS3; flags += CKERAS_SAVE_KERAS3) {
        tmp_path(path, sizeof path, "nested_fit.h5");
        ck_assert_msg(ckeras_model_save(m, path, flags) == CKERAS_OK, "%s", ckeras_last_error());
        ckeras_model *back = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &back) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_model_count_params(back, &total2, &tr2, &ntr2), CKERAS_OK);
        ck_assert_int_eq(total2, total);
        ck_assert_int_eq(tr2, tr);
        ckeras_layer *l = ckeras_model_layer_by_name(m, "bn"), *l2 = ckeras_model_layer_by_name(back, "bn");
        for (int w = 0; w < ckeras_layer_weight_count(l); w++) {
            ckeras_tensor *v = NULL, *v2 = NULL;
            ck_assert_int_eq(ckeras_layer_weight(l, w, NULL, &v), CKERAS_OK);
            ck_assert_int_eq(ckeras_layer_weight(l2, w, NULL, &v2), CKERAS_OK);
            ck_assert(memcmp(ckeras_tensor_data(v), ckeras_tensor_data(v2), sizeof(float) * 4) == 0);
            ckeras_tensor_free(v);
            ckeras_tensor_free(v2);
        }
        ckeras_model_free(back);
        unlink(path);
    }
    ckeras_model_free(m);
    ckeras_model_free(before);
}

START_TEST(nested_fit_matches_keras_over_many_steps)
{
    /* the inner BatchNormalization trains: moving statistics follow Keras step by step */
    check_nested_fit("pretrain", NULL, 0);
    /* Keras' transfer pattern: a frozen base called with training=False, a new head */
    static const char *const base[] = {"conv/kernel", "bn/moving_mean", "bn/moving_variance", "bn/gamma", "bn/beta"};
    check_nested_fit("frozen", base, 5);
    /* its BatchNormalization trainable again: gamma and beta train, the statistics stay (the
     * guide's semantics of training=False, which Keras 3.11.3's fit overrides: see the script) */
    check_nested_fit("unfrozen", base, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("nested");
    TCase *tc = tcase_create("nested");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fixture_augment_rescaling_cnn);
    tcase_add_test(tc, fixture_teachable_machine_mobilenet);
    tcase_add_test(tc, fixture_optimizer_state_restored);
    tcase_add_test(tc, fixture_fine_tunes_with_augmentation);
    tcase_add_test(tc, nested_sequential_with_clashing_name);
    tcase_add_test(tc, nested_functional_block);
    tcase_add_test(tc, nested_weights_by_keras_order);
    tcase_add_test(tc, nested_errors);
    tcase_add_test(tc, nested_fit_matches_keras_over_many_steps);
    tcase_add_test(tc, reference_cases_from_pytorch);
    tcase_add_test(tc, random_layers_are_identity_in_inference);
    tcase_add_test(tc, random_flip_flips_about_half);
    tcase_add_test(tc, rotation_exact_cases);
    tcase_add_test(tc, translation_reflects);
    tcase_add_test(tc, zoom_contrast_crop_backward);
    tcase_add_test(tc, config_round_trip_keeps_factor_pairs);
    tcase_add_test(tc, cnn_trains_with_augmentation_in_front);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
