/* Config trees and the Keras writing profiles: what ckeras writes for tf.keras 2 (default) and
 * for Keras 3 (CKERAS_SAVE_KERAS3), key for key where Keras is strict about keys; what a reader
 * did not use is reported; call arguments that are not tensors are refused, not dropped.
 * The expected keys are Keras' own (tf.keras 2.15 / Keras 3.11.3 configs, e.g. the fixture
 * ../shared/fixtures/keras3-oracle/bn_functional.h5), not ckeras' output. */
#include "model/model.h"
#include "io/io.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api_ids.h"

static void setup(void)
{
    tu_tmpdir_make("profiles");
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

#define tmp tu_tmp

/* conv -> BN -> LeakyReLU(0.1) -> GAP -> Dense, functional, compiled with Adam and trained a step */
static ckeras_model *bn_model(void)
{
    ckeras_set_random_seed(7);
    ckeras_model *m = ckeras_functional("bn_model");
    int x = id_input(m, ckeras_input(3, (const int64_t[]){6, 6, 2}));
    int h = id_call(m, ckeras_conv2d(3, 3, 3, NULL), 1, &x);
    h = id_call(m, ckeras_batch_normalization(), 1, &h);
    ckeras_layer *lr = ckeras_layer_from_config("LeakyReLU", "{\"negative_slope\": 0.1}");
    h = id_call(m, lr, 1, &h);
    h = id_call(m, ckeras_layer_from_config("GlobalAveragePooling2D", NULL), 1, &h);
    int y = id_call(m, ckeras_dense(1, "sigmoid"), 1, &h);
    ck_assert_int_ge(y, 0);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 1, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(1e-2), "binary_crossentropy", NULL), CKERAS_OK);
    ckeras_tensor *in = ckeras_tensor_new(4, (const int64_t[]){4, 6, 6, 2});
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){4, 1});
    for (int i = 0; i < 4 * 72; i++)
        ckeras_tensor_data(in)[i] = (float)((i * 37) % 11) / 11.0f - 0.4f;
    for (int i = 0; i < 4; i++)
        ckeras_tensor_data(t)[i] = (float)(i % 2);
    ck_assert_int_eq(ckeras_model_train_on_batch(m, in, t, NULL, 0), CKERAS_OK);
    ckeras_tensor_free(in);
    ckeras_tensor_free(t);
    return m;
}

static json_t *file_json(const char *path, const char *attr)
{
    ck_h5_file f;
    ck_assert_int_eq(ck_h5_read(path, &f), CKERAS_OK);
    const char *text = strcmp(attr, "model_config") == 0 ? f.model_config : f.training_config;
    ck_assert_ptr_nonnull(text);
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_h5_file_free(&f);
    return j;
}

static json_t *layer_cfg(json_t *mc, const char *cls)
{
    json_t *layers = json_object_get(json_object_get(mc, "config"), "layers");
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) if (strcmp(json_string_value(json_object_get(l, "class_name")), cls) == 0) return l;
    ck_abort_msg("no %s layer", cls);
    return NULL;
}

START_TEST(default_profile_writes_what_tf_keras_2_15_writes)
{
    ckeras_model *m = bn_model();
    ck_assert_int_eq(ckeras_model_save(m, tmp("tf2.h5"), 0), CKERAS_OK);
    json_t *mc = file_json(tmp("tf2.h5"), "model_config");
    json_t *bn = json_object_get(layer_cfg(mc, "BatchNormalization"), "config");
    /* tf.keras 2 writes renorm & co. only when set; Keras 3 refuses them even at their defaults */
    ck_assert_ptr_null(json_object_get(bn, "renorm"));
    ck_assert_ptr_null(json_object_get(bn, "virtual_batch_size"));
    ck_assert_ptr_null(json_object_get(bn, "fused"));
    ck_assert_ptr_nonnull(json_object_get(bn, "momentum"));
    /* LeakyReLU: tf.keras 2 calls the slope alpha and knows no negative_slope */
    json_t *lr = json_object_get(layer_cfg(mc, "LeakyReLU"), "config");
    ck_assert_ptr_null(json_object_get(lr, "negative_slope"));
    ck_assert_double_eq_tol(json_number_value(json_object_get(lr, "alpha")), 0.1, 1e-9);
    /* Keras 2 style nodes and input */
    json_t *in = json_object_get(layer_cfg(mc, "InputLayer"), "config");
    ck_assert_ptr_nonnull(json_object_get(in, "batch_input_shape"));
    json_t *node = json_array_get(json_object_get(layer_cfg(mc, "Conv2D"), "inbound_nodes"), 0);
    ck_assert(json_is_array(node));
    json_decref(mc);
    json_t *tc = file_json(tmp("tf2.h5"), "training_config");
    json_t *oc = json_object_get(json_object_get(tc, "optimizer_config"), "config");
    ck_assert_ptr_null(json_object_get(oc, "loss_scale_factor"));
    ck_assert_ptr_null(json_object_get(oc, "gradient_accumulation_steps"));
    json_decref(tc);
    ckeras_model_free(m);
}
END_TEST

START_TEST(keras3_profile_writes_what_keras_3_writes)
{
    ckeras_model *m = bn_model();
    ck_assert_int_eq(ckeras_model_save(m, tmp("k3.h5"), CKERAS_SAVE_KERAS3), CKERAS_OK);
    ck_h5_file f;
    ck_assert_int_eq(ck_h5_read(tmp("k3.h5"), &f), CKERAS_OK);
    ck_assert_str_eq(f.keras_version, "3.11.3");
    /* Keras 3's optimizer layout: iteration, learning_rate, then each variable's slots */
    ck_assert_int_eq(f.nopt, 2 + 2 * 6);
    ck_assert_str_eq(f.opt[0].name, "Adam/iteration");
    ck_assert_str_eq(f.opt[1].name, "Adam/learning_rate");
    ck_assert_int_eq(f.opt[0].ivalue, 1);
    bool found = false;
    for (int i = 0; i < f.nlayers; i++)
        for (int k = 0; k < f.layers[i].n; k++)
            found |= strstr(f.layers[i].w[k].name, "/moving_variance") != NULL &&
                     strchr(f.layers[i].w[k].name, ':') == NULL; /* "bn/moving_variance", no ":0" */
    ck_assert(found);
    ck_h5_file_free(&f);
    json_t *mc = file_json(tmp("k3.h5"), "model_config");
    json_t *in = json_object_get(layer_cfg(mc, "InputLayer"), "config");
    ck_assert_ptr_nonnull(json_object_get(in, "batch_shape"));
    json_t *lr = json_object_get(layer_cfg(mc, "LeakyReLU"), "config");
    ck_assert_ptr_null(json_object_get(lr, "alpha"));
    ck_assert_double_eq_tol(json_number_value(json_object_get(lr, "negative_slope")), 0.1, 1e-9);
    json_t *node = json_array_get(json_object_get(layer_cfg(mc, "Conv2D"), "inbound_nodes"), 0);
    ck_assert(json_is_object(node));
    json_t *t0 = json_array_get(json_object_get(node, "args"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(t0, "class_name")), "__keras_tensor__");
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(t0, "config"), "shape")), 4);
    json_decref(mc);
    /* and ckeras reads it back with its optimizer state: the next step is the same */
    ckeras_model *c = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("k3.h5"), 0, &c), CKERAS_OK);
    ck_assert_int_eq(c->opt->iterations, 1);
    ck_assert_int_eq(c->n_params, m->n_params);
    for (int s = 0; s < m->opt->nslots; s++)
        ck_assert_int_eq(memcmp(c->opt->slots[s], m->opt->slots[s], m->n_params * sizeof(float)), 0);
    ckeras_model_free(c);
    ckeras_model_free(m);
}
END_TEST

START_TEST(leaky_relu_alpha_is_read_as_keras_3_reads_it)
{
    /* null alpha (ckeras 0.1 wrote it) leaves negative_slope; a number wins over negative_slope */
    ckeras_layer *a = ckeras_layer_from_config("LeakyReLU", "{\"negative_slope\": 0.2, \"alpha\": null}");
    ckeras_layer *b = ckeras_layer_from_config("LeakyReLU", "{\"negative_slope\": 0.2, \"alpha\": 0.05}");
    ckeras_layer *c = ckeras_layer_from_config("LeakyReLU", "{\"alpha\": 0.05}");
    ck_assert(a && b && c);
    ck_assert_double_eq_tol(ck_cfg_float(&a->cfg, "negative_slope"), 0.2, 1e-12);
    ck_assert_double_eq_tol(ck_cfg_float(&b->cfg, "negative_slope"), 0.05, 1e-12);
    ck_assert_double_eq_tol(ck_cfg_float(&c->cfg, "negative_slope"), 0.05, 1e-12);
    ckeras_layer_free(a);
    ckeras_layer_free(b);
    ckeras_layer_free(c);
}
END_TEST

START_TEST(readers_mark_what_they_used)
{
    ck_tree *cfg = ck_tree_from_json("{\"name\": \"d\", \"units\": 3, \"dtype\": \"float32\", \"mystery\": 1, "
                                     "\"kernel_initializer\": {\"class_name\": \"Ones\", \"config\": {}}}",
                                     "test");
    ck_assert_ptr_nonnull(cfg);
    ckeras_layer *l = ck_layer_new_by_class("Dense");
    ck_assert_int_eq(ck_config_from_tree(&l->cfg, "Dense", cfg, l->name, sizeof l->name, NULL), CKERAS_OK);
    ck_assert_str_eq(ck_tree_first_unused(cfg), "mystery");
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "kernel_initializer"), "Ones");
    ck_tree_free(cfg);
    /* a float16 dtype is not float32: left unused, so a loader can say so */
    cfg = ck_tree_from_json("{\"units\": 3, \"dtype\": {\"class_name\": \"DTypePolicy\", \"config\": {\"name\": "
                            "\"mixed_float16\"}}}", "test");
    ck_assert_int_eq(ck_config_from_tree(&l->cfg, "Dense", cfg, NULL, 0, NULL), CKERAS_OK);
    ck_assert_str_eq(ck_tree_first_unused(cfg), "dtype");
    ck_tree_free(cfg);
    ck_layer_free(l);
}
END_TEST

/* Keras 3 saves x + 3.0 as an Add call whose args hold the number: ckeras must not drop it; it
 * computes it, and refuses by name a number given to a layer that cannot take one. */
START_TEST(a_number_among_call_arguments_is_computed_or_refused_by_name)
{
    const char *json =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"plus3\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"name\": \"x\", \"config\": {\"batch_shape\": [null, 4], \"name\": \"x\"},"
        " \"inbound_nodes\": []},"
        "{\"class_name\": \"%s\", \"name\": \"add\", \"config\": {\"name\": \"add\"}, \"inbound_nodes\": [{\"args\": "
        "[[{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 4], \"dtype\": \"float32\", "
        "\"keras_history\": [\"x\", 0, 0]}}, 3.0]], \"kwargs\": {}}]}],"
        " \"input_layers\": [\"x\", 0, 0], \"output_layers\": [\"add\", 0, 0]}}";
    char buf[2048];
    snprintf(buf, sizeof buf, json, "Add");
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_model_from_json(buf, &m) == CKERAS_OK, "%s", ckeras_last_error());
    float xv[4] = {1.0f, -2.0f, 0.5f, 0.0f};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){1, 4}), *y = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 1, &y), CKERAS_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(ckeras_tensor_data(y)[i], xv[i] + 3.0f);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    m = NULL;
    snprintf(buf, sizeof buf, json, "Concatenate");
    ck_assert_int_eq(ckeras_model_from_json(buf, &m), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(ckeras_last_error(), "'add'") && strstr(ckeras_last_error(), "3.0"), "%s",
                  ckeras_last_error());
}
END_TEST

static const char *K3_HEAD = "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
    "{\"class_name\": \"InputLayer\", \"name\": \"x\", \"config\": {\"batch_shape\": [null, 4], \"name\": \"x\"}, "
    "\"inbound_nodes\": []},";
#define K3_X "{\"class_name\": \"__keras_tensor__\", \"config\": {\"shape\": [null, 4], \"dtype\": \"float32\", " \
             "\"keras_history\": [\"x\", 0, 0]}}"

static ckeras_status from_k3(const char *layer, const char *out, ckeras_model **m)
{
    char json[2048];
    snprintf(json, sizeof json, "%s%s], \"input_layers\": [\"x\", 0, 0], \"output_layers\": [\"%s\", 0, 0]}}", K3_HEAD,
             layer, out);
    *m = NULL;
    return ckeras_model_from_json(json, m);
}

/* Every config key and call keyword of a loaded model is used or refused by name. */
START_TEST(unknown_config_keys_and_call_keywords_are_refused_by_name)
{
    ckeras_model *m = NULL;
    ck_assert_int_eq(from_k3("{\"class_name\": \"Dense\", \"name\": \"d\", \"config\": {\"name\": \"d\", \"units\": 2, "
                             "\"mystery\": 1}, \"inbound_nodes\": [{\"args\": [" K3_X "], \"kwargs\": {}}]}", "d", &m),
                     CKERAS_EUNSUPPORTED);
    ck_assert_msg(strstr(ckeras_last_error(), "'mystery'"), "%s", ckeras_last_error());
    ck_assert_int_eq(from_k3("{\"class_name\": \"Dense\", \"name\": \"d\", \"config\": {\"name\": \"d\", \"units\": 2}, "
                             "\"inbound_nodes\": [{\"args\": [" K3_X "], \"kwargs\": {\"scale\": 2.0}}]}", "d", &m),
                     CKERAS_EUNSUPPORTED);
    ck_assert_msg(strstr(ckeras_last_error(), "'scale'"), "%s", ckeras_last_error());
    /* None-valued keywords (Keras 3 writes mask=None for BatchNormalization) are fine */
    ck_assert_int_eq(from_k3("{\"class_name\": \"Dense\", \"name\": \"d\", \"config\": {\"name\": \"d\", \"units\": 2}, "
                             "\"inbound_nodes\": [{\"args\": [" K3_X "], \"kwargs\": {\"mask\": null}}]}", "d", &m),
                     CKERAS_OK);
    ckeras_model_free(m);
}
END_TEST

/* Dropout(x, training=False) stays off in training, as in Keras, and is written back so. */
START_TEST(training_false_call_keyword_is_kept)
{
    ckeras_model *m = NULL;
    ck_assert_int_eq(from_k3("{\"class_name\": \"Dropout\", \"name\": \"drop\", \"config\": {\"name\": \"drop\", "
                             "\"rate\": 0.9}, \"inbound_nodes\": [{\"args\": [" K3_X "], \"kwargs\": {\"training\": "
                             "false}}]}", "drop", &m),
                     CKERAS_OK);
    ck_assert(ckeras_model_layer(m, 0)->call_inference);
    /* a training step through it: with rate 0.9 a dropping layer would zero most of x */
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "mse", NULL), CKERAS_OK);
    float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ckeras_tensor *x = ckeras_tensor_wrap(xv, 2, (const int64_t[]){2, 4});
    double loss = -1;
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, x, &loss, 1), CKERAS_OK);
    ck_assert_double_eq_tol(loss, 0.0, 1e-12); /* identity: y == x exactly */
    ckeras_tensor_free(x);
    ck_assert_int_eq(ckeras_model_save(m, tmp("drop.h5"), 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tmp("drop3.h5"), CKERAS_SAVE_KERAS3), CKERAS_OK);
    json_t *mc = file_json(tmp("drop.h5"), "model_config");
    json_t *ref = json_array_get(json_array_get(json_object_get(layer_cfg(mc, "Dropout"), "inbound_nodes"), 0), 0);
    ck_assert(json_is_false(json_object_get(json_array_get(ref, 3), "training")));
    json_decref(mc);
    mc = file_json(tmp("drop3.h5"), "model_config");
    json_t *node = json_array_get(json_object_get(layer_cfg(mc, "Dropout"), "inbound_nodes"), 0);
    ck_assert(json_is_false(json_object_get(json_object_get(node, "kwargs"), "training")));
    json_decref(mc);
    ckeras_model *c = NULL;
    ck_assert_int_eq(ckeras_load_model(tmp("drop.h5"), 0, &c), CKERAS_OK);
    ck_assert(ckeras_model_layer(c, 0)->call_inference);
    ckeras_model_free(c);
    ckeras_model_free(m);
}
END_TEST

/* A fixed batch size (stateful recurrent models need it in Keras 3) reaches every tensor written. */
START_TEST(a_fixed_batch_size_is_written_on_every_tensor)
{
    const char *json =
        "{\"class_name\": \"Functional\", \"config\": {\"name\": \"m\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"name\": \"x\", \"config\": {\"batch_shape\": [2, 4], \"name\": \"x\"},"
        " \"inbound_nodes\": []},"
        "{\"class_name\": \"Dense\", \"name\": \"d\", \"config\": {\"name\": \"d\", \"units\": 3}, \"inbound_nodes\": "
        "[{\"args\": [" K3_X "], \"kwargs\": {}}]}], \"input_layers\": [\"x\", 0, 0], \"output_layers\": [\"d\", 0, 0]}}";
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_model_from_json(json, &m), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_save(m, tmp("b.h5"), CKERAS_SAVE_KERAS3), CKERAS_OK);
    json_t *mc = file_json(tmp("b.h5"), "model_config");
    json_t *in = json_object_get(layer_cfg(mc, "InputLayer"), "config");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(in, "batch_shape"), 0)), 2);
    json_t *node = json_array_get(json_object_get(layer_cfg(mc, "Dense"), "inbound_nodes"), 0);
    json_t *t0 = json_array_get(json_object_get(node, "args"), 0);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(json_object_get(t0, "config"), "shape"), 0)), 2);
    json_decref(mc);
    ckeras_model_free(m);
}
END_TEST

/* Walks a parsed model config: every layer's config keys are used by its schema, every call
 * keyword is one ckeras understands. Returns the number of layers checked. */
static int check_consumed(const ck_io_model *d, const char *file)
{
    int n = 0;
    for (int i = 0; i < d->nlayers; i++) {
        const ck_io_layer *l = &d->layers[i];
        if (l->model) {
            n += check_consumed(l->model, file);
            continue;
        }
        const ck_layer_vt *vt = ck_layer_lookup(l->class_name);
        if (!vt || vt == &ck_input_vt)
            continue; /* refused by name at load (unsupported class), InputLayer checked by the loader */
        ckeras_layer *layer = ck_layer_new(vt);
        ck_tree *cfg = ck_tree_copy(l->config);
        ckeras_status st = ck_config_from_tree(&layer->cfg, vt->class_name, cfg, NULL, 0, NULL);
        if (st == CKERAS_EUNSUPPORTED) { /* refused by name at load (a None axis) */
            ck_tree_free(cfg);
            ck_layer_free(layer);
            continue;
        }
        ck_assert_msg(st == CKERAS_OK, "%s: %s", file, ckeras_last_error());
        const char *unused = ck_tree_first_unused(cfg);
        ck_assert_msg(unused == NULL, "%s: layer '%s' (%s): key '%s' not used", file, l->name, l->class_name,
                      unused ? unused : "");
        for (int k = 0; l->kwargs && k < l->kwargs->n; k++) {
            const ck_tree *v = l->kwargs->items[k];
            ck_assert_msg(v->kind == CK_T_NULL || (strcmp(l->kwargs->keys[k], "training") == 0 && v->kind == CK_T_BOOL),
                          "%s: layer '%s': call keyword '%s'", file, l->name, l->kwargs->keys[k]);
        }
        ck_assert_msg(!l->kwarg[0] || (vt->extra_inputs_kwarg && strcmp(vt->extra_inputs_kwarg, l->kwarg) == 0),
                      "%s: layer '%s': tensors by keyword '%s'", file, l->name, l->kwarg);
        ck_tree_free(cfg);
        ck_layer_free(layer);
        n++;
    }
    return n;
}

/* Every real Keras file and every file ckeras wrote for the conformance suite: each config key
 * and call keyword is used (the loader refuses the rest by name, see above). */
START_TEST(every_fixture_config_key_and_call_keyword_is_used)
{
    const char *sh = getenv("CK_SHARED_FIXTURES");
    char dirs[3][512];
    snprintf(dirs[0], sizeof dirs[0], "%s/keras-real", sh && *sh ? sh : "../shared/fixtures");
    snprintf(dirs[1], sizeof dirs[1], "%s/keras3-oracle", sh && *sh ? sh : "../shared/fixtures");
    snprintf(dirs[2], sizeof dirs[2], "tests/keras/fixtures");
    int files = 0, layers = 0;
    for (int di = 0; di < 3; di++) {
        DIR *d = opendir(dirs[di]);
        if (!d) {
            printf("every_fixture_config: %s is absent, skipped\n", dirs[di]);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (len < 4 || strcmp(e->d_name + len - 3, ".h5") != 0)
                continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dirs[di], e->d_name);
            ck_h5_file f;
            if (ck_h5_read(path, &f) != CKERAS_OK || !f.model_config) {
                ck_h5_file_free(&f);
                continue; /* weights-only files */
            }
            ck_io_model m;
            if (ck_io_model_parse(f.model_config, &m) == CKERAS_OK) {
                layers += check_consumed(&m, e->d_name);
                files++;
            }
            ck_io_model_free(&m);
            ck_h5_file_free(&f);
        }
        closedir(d);
    }
    printf("every_fixture_config: %d files, %d layer configs, every key and call keyword used\n", files, layers);
    ck_assert_int_gt(files, 40); /* tests/keras/fixtures alone has 96 */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keras_profiles");
    TCase *tc = tcase_create("profiles");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, default_profile_writes_what_tf_keras_2_15_writes);
    tcase_add_test(tc, keras3_profile_writes_what_keras_3_writes);
    tcase_add_test(tc, leaky_relu_alpha_is_read_as_keras_3_reads_it);
    tcase_add_test(tc, readers_mark_what_they_used);
    tcase_add_test(tc, a_number_among_call_arguments_is_computed_or_refused_by_name);
    tcase_add_test(tc, unknown_config_keys_and_call_keywords_are_refused_by_name);
    tcase_add_test(tc, training_false_call_keyword_is_kept);
    tcase_add_test(tc, every_fixture_config_key_and_call_keyword_is_used);
    tcase_add_test(tc, a_fixed_batch_size_is_written_on_every_tensor);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
