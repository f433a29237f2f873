/* PReLU and Softmax layers: forward against NumPy/PyTorch values (tests/ref/new_layers_ref.py,
 * pasted below), backward against central finite differences (dx and dalpha), Keras' config
 * keys and defaults, errors, and save/load round trips through .h5 (tf.keras 2 and Keras 3
 * layouts) and .keras giving identical predictions. */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference values: /usr/bin/python3 tests/ref/new_layers_ref.py ---------------------------- */

static const float prelu_y_none[24] = {-0.1375, 0.375, -0.45, 0.625, -0.6125, 0.875, -0.625, 1.125, -0.4875, 1.375, -0.2, 1.625, 0.125, -0.34375, 0.375, -0.61875, 0.625, -0.74375, 0.875, -0.71875, 1.125, -0.54375, 1.375, -0.21875};
static const float prelu_y_ax1[24] = {-0.1375, 0.375, -0.45, 0.625, -0.6125, 0.875, -0.0625, 1.125, -0.15, 1.375, -0.0875, 1.625, 0.125, -0.34375, 0.375, -0.61875, 0.625, -0.74375, 0.875, -0.15625, 1.125, -0.20625, 1.375, -0.10625};
static const float prelu_y_ax2[24] = {-0.1375, 0.375, -0.1125, 0.625, -0.0875, 0.875, -0.25, 1.125, -0.15, 1.375, -0.05, 1.625, 0.125, -0.34375, 0.375, -0.28125, 0.625, -0.21875, 0.875, -0.34375, 1.125, -0.20625, 1.375, -0.06875};
static const float prelu_y_ax12[24] = {-0.1375, 0.375, -0.1125, 0.625, -0.0875, 0.875, -0.0625, 1.125, -0.0375, 1.375, -0.0125, 1.625, 0.125, -0.34375, 0.375, -0.28125, 0.625, -0.21875, 0.875, -0.15625, 1.125, -0.09375, 1.375, -0.03125};
static const float softmax_y_vec[10] = {0.0259996187, 0.358913665, 0.037829222, 0.522216301, 0.0550411932, 0.207007381, 0.0218184174, 0.301193962, 0.0317456101, 0.438234629};
static const float softmax_y_mat[12] = {0.0615022581, 0.849012484, 0.0894852575, 0.390565402, 0.0411652905, 0.568269307, 0.0615022581, 0.849012484, 0.0894852575, 0.390565402, 0.0411652905, 0.568269307};

/* the script's inputs */
static float ref_x(int64_t i)
{
    return (float)(((double)((i * 7) % 13) - 6.0) / 4.0 + 0.125);
}


/* ---- PReLU ------------------------------------------------------------------------------------- */

START_TEST(prelu_forward_matches_numpy)
{
    static const struct {
        const char *cfg;
        const float *y;
        int64_t alpha_shape[3];
    } cases[] = {
        {"{}", prelu_y_none, {2, 3, 2}},
        {"{\"shared_axes\":[1]}", prelu_y_ax1, {1, 3, 2}},
        {"{\"shared_axes\": 2}", prelu_y_ax2, {2, 1, 2}}, /* an int, as Keras takes it */
        {"{\"shared_axes\": [1, 2]}", prelu_y_ax12, {1, 1, 2}},
    };
    const ck_shape in = h_shape(3, (const int64_t[]){2, 3, 2});
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        h_init(&h, h_layer_cfg("PReLU", cases[c].cfg), &in, 2);
        ck_assert_int_eq(h.l->nw, 1);
        ck_assert_str_eq(h.l->w[0].name, "alpha");
        ck_assert(h.l->w[0].trainable);
        ck_assert_int_eq(h.l->w[0].shape.ndim, 3);
        for (int k = 0; k < 3; k++)
            ck_assert_int_eq(h.l->w[0].shape.d[k], cases[c].alpha_shape[k]);
        for (int64_t k = 0; k < h.l->w[0].size; k++)
            h.l->w[0].data[k] = (float)(0.1 + 0.15 * (double)k);
        for (int64_t i = 0; i < h.in_size; i++)
            h.x[i] = ref_x(i);
        h_forward(&h);
        tu_assert_close(h.y, cases[c].y, (size_t)h.out_size, 1e-7, 1e-6, cases[c].cfg);
        h_free(&h);
    }
}
END_TEST

START_TEST(prelu_gradients_match_finite_differences)
{
    static const struct {
        const char *cfg;
        int ndim;
        int64_t d[3];
    } cases[] = {
        {"{}", 1, {5}},
        {"{}", 3, {2, 3, 2}},
        {"{\"shared_axes\":[1]}", 3, {2, 3, 2}},
        {"{\"shared_axes\": [2]}", 3, {2, 3, 2}},
        {"{\"shared_axes\": [1, 2]}", 3, {3, 2, 4}},
        {"{\"shared_axes\": [3]}", 3, {2, 2, 3}},
        {"{\"shared_axes\": [1, 2, 3]}", 3, {2, 2, 2}},
    };
    h_seed(7);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        const ck_shape in = h_shape(cases[c].ndim, cases[c].d);
        h_init(&h, h_layer_cfg("PReLU", cases[c].cfg), &in, 3);
        fill(h.x, h.in_size, -1, 1);
        for (int64_t i = 0; i < h.in_size; i++) /* away from the kink at 0 */
            h.x[i] += h.x[i] < 0 ? -0.05f : 0.05f;
        fill(h.l->w[0].data, h.l->w[0].size, -0.5, 0.8);
        h_fd_check(&h, 1e-2, 2e-3, 2e-3, cases[c].cfg);
        h_free(&h);
    }
}
END_TEST

START_TEST(prelu_config_defaults_and_errors)
{
    ckeras_layer *l = h_layer_cfg("PReLU", "{}");
    ck_assert_str_eq(ck_cfg_str(&l->cfg, "alpha_initializer"), "zeros"); /* Keras 3.11: "Zeros" */
    ck_assert_ptr_null(ck_cfg_str(&l->cfg, "alpha_regularizer"));
    ck_assert_ptr_null(ck_cfg_str(&l->cfg, "alpha_constraint"));
    ck_assert(ck_cfg_value(&l->cfg, "shared_axes")->is_none);
    ck_layer_free(l);

    /* Keras' serialised initializer and regularizer objects are read */
    l = h_layer_cfg("PReLU", "{\"alpha_initializer\": {\"module\":\"keras.initializers\", \"class_name\": "
                           "\"Constant\", \"config\": {\"value\": 0.25}, \"registered_name\": null}, "
                           "\"alpha_regularizer\": {\"class_name\":\"L2\", \"config\": {\"l2\": 0.5}}}");
    const ck_shape v4 = h_shape(1, (const int64_t[]){4});
    ck_assert_int_eq(ck_layer_build(l, &v4), CKERAS_OK);
    ck_assert_float_eq_tol(l->w[0].l2, 0.5f, 1e-7f);
    float a[4];
    ck_rng rng;
    ck_rng_seed(&rng, 1);
    ck_assert_int_eq(ck_init_fill(ck_cfg_str(&l->cfg, "alpha_initializer"), a, &l->w[0].shape, &rng), CKERAS_OK);
    for (int k = 0; k < 4; k++)
        ck_assert_float_eq(a[k], 0.25f);
    ck_layer_free(l);

    const ck_shape in = h_shape(2, (const int64_t[]){3, 4});
    l = h_layer_cfg("PReLU", "{\"shared_axes\": [3]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "shared_axes"));
    ck_layer_free(l);
    l = h_layer_cfg("PReLU", "{\"shared_axes\": [0]}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_layer_free(l);
    l = h_layer_cfg("PReLU", "{\"alpha_constraint\":\"non_negative\"}");
    ck_assert_int_eq(ck_layer_build(l, &in), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "alpha_constraint"));
    ck_layer_free(l);
    l = h_layer_cfg("PReLU", "{\"alpha_initializer\":\"no_such_init\"}");
    ck_assert_int_ne(ck_layer_build(l, &in), CKERAS_OK);
    ck_layer_free(l);
}
END_TEST

/* ---- Softmax ----------------------------------------------------------------------------------- */

START_TEST(softmax_forward_matches_torch)
{
    static const struct {
        const char *cfg;
        int ndim;
        int64_t d[2];
        const float *y;
    } cases[] = {
        {"{}", 1, {5}, softmax_y_vec},
        {"{\"axis\": 1}", 1, {5}, softmax_y_vec}, /* the last axis by its positive number */
        {"{\"axis\": [-1]}", 1, {5}, softmax_y_vec},
        {"{\"axis\": -1}", 2, {2, 3}, softmax_y_mat},
        {"{\"axis\": 2}", 2, {2, 3}, softmax_y_mat},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        const ck_shape in = h_shape(cases[c].ndim, cases[c].d);
        h_init(&h, h_layer_cfg("Softmax", cases[c].cfg), &in, 2);
        ck_assert_int_eq(h.l->nw, 0);
        for (int64_t i = 0; i < h.in_size; i++)
            h.x[i] = (float)(ref_x(i) * 1.5);
        h_forward(&h);
        tu_assert_close(h.y, cases[c].y, (size_t)h.out_size, 1e-7, 1e-5, cases[c].cfg);
        h_free(&h);
    }
}
END_TEST

START_TEST(softmax_gradients_and_errors)
{
    h_seed(11);
    static const struct {
        int ndim;
        int64_t d[3];
    } cases[] = {{1, {1}}, {1, {6}}, {2, {3, 4}}, {3, {2, 2, 5}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        harness h;
        const ck_shape in = h_shape(cases[c].ndim, cases[c].d);
        h_init(&h, h_layer_cfg("Softmax", "{}"), &in, 3);
        fill(h.x, h.in_size, -3, 3);
        h_fd_check(&h, 1e-2, 1e-3, 2e-3, "Softmax");
        h_free(&h);
    }
    ckeras_layer *l = h_layer_cfg("Softmax", "{}");
    ck_assert_int_eq(ck_cfg_value(&l->cfg, "axis")->n, 1);
    ck_assert_int_eq(ck_cfg_value(&l->cfg, "axis")->v[0], -1);
    ck_layer_free(l);
    /* other axes are test_misc_layers' (with finite differences); the batch axis, axes out of
     * range and lists with gaps are refused */
    const ck_shape in = h_shape(3, (const int64_t[]){2, 3, 4});
    static const struct {
        const char *cfg;
        ckeras_status st;
    } bad[] = {{"{\"axis\": 0}", CKERAS_EUNSUPPORTED},
               {"{\"axis\": 4}", CKERAS_EINVAL},
               {"{\"axis\": -5}", CKERAS_EINVAL},
               {"{\"axis\": [1, 3]}", CKERAS_EUNSUPPORTED},
               {"{\"axis\": [2, -2]}", CKERAS_EINVAL}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        l = h_layer_cfg("Softmax", bad[k].cfg);
        ck_assert_int_eq(ck_layer_build(l, &in), bad[k].st);
        ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "ax"));
        ck_layer_free(l);
    }
}
END_TEST

/* ---- a model with both, through every file format ---------------------------------------------- */

static ckeras_model *small_model(void)
{
    ckeras_model *m = ckeras_sequential("prelu_softmax");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){3, 4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("PReLU", "{\"shared_axes\":[1]}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("Flatten", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("Dense", "{\"units\": 5}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("PReLU", "{\"alpha_initializer\":\"constant(value=0.25)\"}")),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, h_layer_cfg("Softmax", "{}")), CKERAS_OK);
    return m;
}

START_TEST(save_load_round_trips)
{
    tu_tmpdir_make("new_layers");
    ckeras_model *m = small_model();
    ck_assert_int_eq(ckeras_model_layer_count(m), 5);
    /* a non-trivial alpha for the first PReLU (its initializer gives zeros) */
    ckeras_layer *p = ckeras_model_layer(m, 0);
    ck_assert_int_eq(ckeras_layer_weight_count(p), 1);
    const char *wn = NULL;
    ckeras_tensor *view = NULL;
    ck_assert_int_eq(ckeras_layer_weight(p, 0, &wn, &view), CKERAS_OK);
    ck_assert_str_eq(wn, "alpha");
    float *a = ckeras_tensor_data(view);
    for (int k = 0; k < 4; k++)
        a[k] = 0.1f * (float)(k + 1);
    ckeras_tensor_free(view);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.05, 0.9, 0), "categorical_crossentropy", NULL),
                     CKERAS_OK);

    const int64_t n = 8;
    ckeras_tensor *x = ckeras_tensor_new(3, (const int64_t[]){n, 3, 4});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){n, 5});
    h_seed(3);
    fill(ckeras_tensor_data(x), n * 12, -2, 2);
    for (int64_t i = 0; i < n; i++)
        ckeras_tensor_data(y)[i * 5 + i % 5] = 1.0f;
    ck_assert_msg(ckeras_model_train_on_batch(m, x, y, NULL, 0) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_tensor *pa = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &pa), CKERAS_OK);
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < 5; k++)
            s += ckeras_tensor_data(pa)[i * 5 + k];
        ck_assert_double_eq_tol(s, 1.0, 1e-5);
    }

    static const struct {
        const char *file;
        int flags;
    } files[] = {{"m.h5", 0}, {"m3.h5", CKERAS_SAVE_KERAS3}, {"m.keras", 0}};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        const char *path = tu_tmp(files[f].file);
        ck_assert_msg(ckeras_model_save(m, path, files[f].flags) == CKERAS_OK, "%s: %s", files[f].file,
                      ckeras_last_error());
        ckeras_model *b = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &b) == CKERAS_OK, "%s: %s", files[f].file, ckeras_last_error());
        ck_assert_str_eq(ckeras_model_layer(b, 0)->vt->class_name, "PReLU");
        ck_assert_str_eq(ckeras_model_layer(b, 4)->vt->class_name, "Softmax");
        ck_assert_int_eq((int)ck_cfg_value(&ckeras_model_layer(b, 0)->cfg, "shared_axes")->n, 1);
        ck_assert_str_eq(ck_cfg_str(&ckeras_model_layer(b, 3)->cfg, "alpha_initializer"), "Constant(value=0.25)");
        ckeras_tensor *pb = NULL;
        ck_assert_int_eq(ckeras_model_predict(b, x, 0, &pb), CKERAS_OK);
        ck_assert_msg(memcmp(ckeras_tensor_data(pa), ckeras_tensor_data(pb), (size_t)n * 5 * sizeof(float)) == 0,
                      "%s: predictions differ", files[f].file);
        /* training resumes identically (optimizer state and alpha gradients) */
        ckeras_tensor *qa = NULL, *qb = NULL;
        ckeras_model *a2 = NULL;
        ck_assert_int_eq(ckeras_load_model(path, 0, &a2), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_train_on_batch(a2, x, y, NULL, 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_train_on_batch(b, x, y, NULL, 0), CKERAS_OK);
        ckeras_model_predict(a2, x, 0, &qa);
        ckeras_model_predict(b, x, 0, &qb);
        ck_assert(memcmp(ckeras_tensor_data(qa), ckeras_tensor_data(qb), (size_t)n * 5 * sizeof(float)) == 0);
        ckeras_tensor_free(qa);
        ckeras_tensor_free(qb);
        ckeras_tensor_free(pb);
        ckeras_model_free(a2);
        ckeras_model_free(b);
    }

    /* the config as Keras writes it: keys, None values, shared_axes as a list */
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &json), CKERAS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"PReLU\""));
    ck_assert_ptr_nonnull(strstr(json, "\"shared_axes\":[1]"));
    ck_assert_ptr_nonnull(strstr(json, "\"shared_axes\":null"));
    ck_assert_ptr_nonnull(strstr(json, "\"alpha_constraint\":null"));
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"Zeros\""));
    ck_assert_ptr_nonnull(strstr(json, "\"class_name\":\"Softmax\""));
    ck_assert_ptr_nonnull(strstr(json, "\"axis\":-1"));
    ckeras_model *c = NULL;
    ck_assert_msg(ckeras_model_from_json(json, &c) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_free(json);
    ckeras_model_free(c);

    ckeras_tensor_free(pa);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("new_layers");
    TCase *tc = tcase_create("new_layers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, prelu_forward_matches_numpy);
    tcase_add_test(tc, prelu_gradients_match_finite_differences);
    tcase_add_test(tc, prelu_config_defaults_and_errors);
    tcase_add_test(tc, softmax_forward_matches_torch);
    tcase_add_test(tc, softmax_gradients_and_errors);
    tcase_add_test(tc, save_load_round_trips);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
