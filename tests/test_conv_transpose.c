/* Conv2DTranspose: forward against PyTorch's conv_transpose2d (tests/conv_transpose_ref.h, from
 * tests/ref/conv_transpose_ref.py), output shapes by Keras 3's rules, central finite differences
 * of dx, dkernel and dbias, tiled batches, config errors, and a small model trained, saved and
 * loaded (.h5 in both profiles and .keras) with identical predictions. */
#include "model/model.h"
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layer_harness.h"
#include "conv_transpose_ref.h"

static ckeras_layer *ct_layer(const ct_ref *r)
{
    char cfg[512], op[64] = "null";
    if (r->oph >= 0)
        snprintf(op, sizeof op, "[%lld, %lld]", (long long)r->oph, (long long)r->opw);
    snprintf(cfg, sizeof cfg,
             "{\"filters\": %lld, \"kernel_size\": [%lld, %lld], \"strides\": [%lld, %lld], \"padding\": \"%s\", "
             "\"output_padding\": %s, \"use_bias\": %s, \"activation\": \"%s\"}",
             (long long)r->filters, (long long)r->kh, (long long)r->kw, (long long)r->sh, (long long)r->sw,
             r->padding, op, r->bias ? "true" : "false", r->act);
    ckeras_layer *l = ckeras_layer_from_config("Conv2DTranspose", cfg);
    ck_assert_msg(l != NULL, "%s", ckeras_last_error());
    return l;
}

/* the reference script's inputs */
static void ref_inputs(const ct_ref *r, harness *h)
{
    for (int64_t i = 0; i < h->in_size; i++)
        h->x[i] = (float)((double)((i * 37) % 23 - 11) / 8);
    float *W = h->l->w[0].data;
    for (int64_t i = 0; i < h->l->w[0].size; i++)
        W[i] = (float)((double)((i * 53) % 29 - 14) / 16);
    if (r->bias)
        for (int64_t f = 0; f < r->filters; f++)
            h->l->w[1].data[f] = (float)((double)(f - 1) / 4);
}

START_TEST(forward_matches_pytorch)
{
    for (size_t t = 0; t < sizeof ct_refs / sizeof ct_refs[0]; t++) {
        const ct_ref *r = &ct_refs[t];
        harness h;
        ck_shape in = {3, {r->h, r->w, r->cin}};
        h_init(&h, ct_layer(r), &in, r->n);
        ck_assert_int_eq(h.l->out_shape.ndim, 3);
        ck_assert_msg(h.l->out_shape.d[0] == r->oh && h.l->out_shape.d[1] == r->ow &&
                          h.l->out_shape.d[2] == r->filters,
                      "%s: output (%lld, %lld, %lld), expected (%lld, %lld, %lld)", r->name,
                      (long long)h.l->out_shape.d[0], (long long)h.l->out_shape.d[1], (long long)h.l->out_shape.d[2],
                      (long long)r->oh, (long long)r->ow, (long long)r->filters);
        ck_assert_int_eq(h.l->w[0].shape.ndim, 4);
        ck_assert(h.l->w[0].shape.d[0] == r->kh && h.l->w[0].shape.d[1] == r->kw &&
                  h.l->w[0].shape.d[2] == r->filters && h.l->w[0].shape.d[3] == r->cin);
        ck_assert_int_eq(h.l->nw, r->bias ? 2 : 1);
        ref_inputs(r, &h);
        h_forward(&h);
        for (int64_t i = 0; i < h.out_size; i++)
            ck_assert_msg(fabs(h.y[i] - r->y[i]) <= 1e-5 * (1 + fabs(r->y[i])), "%s: y[%lld] = %.8g, expected %.8g",
                          r->name, (long long)i, (double)h.y[i], r->y[i]);
        h_free(&h);
    }
}
END_TEST

START_TEST(gradients_match_finite_differences)
{
    h_seed(7);
    for (size_t t = 0; t < sizeof ct_refs / sizeof ct_refs[0]; t++) {
        const ct_ref *r = &ct_refs[t];
        harness h;
        ck_shape in = {3, {r->h, r->w, r->cin}};
        h_init(&h, ct_layer(r), &in, r->n);
        fill(h.x, h.in_size, -1, 1);
        for (int k = 0; k < h.l->nw; k++)
            fill(h.l->w[k].data, h.l->w[k].size, -0.5, 0.5);
        float *R = xcalloc(h.out_size);
        fill(R, h.out_size, -1, 1);
        h_forward(&h);
        h_backward(&h, R, true);
        float *dx = xcalloc(h.in_size), *g[2] = {NULL, NULL};
        memcpy(dx, h.dx, (size_t)h.in_size * sizeof(float));
        for (int k = 0; k < h.l->nw; k++) {
            g[k] = xcalloc(h.l->w[k].size);
            memcpy(g[k], h.l->w[k].grad, (size_t)h.l->w[k].size * sizeof(float));
        }
        char what[96];
        snprintf(what, sizeof what, "%s dx", r->name);
        fd_against(&h, h.x, h.in_size, dx, R, 1e-2, 2e-3, 2e-3, what);
        for (int k = 0; k < h.l->nw; k++) {
            snprintf(what, sizeof what, "%s d%s", r->name, h.l->w[k].name);
            fd_against(&h, h.l->w[k].data, h.l->w[k].size, g[k], R, 1e-2, 2e-3, 2e-3, what);
        }
        /* without dx the weight gradients are the same */
        h_forward(&h);
        h_backward(&h, R, false);
        for (int k = 0; k < h.l->nw; k++)
            tu_assert_close(h.l->w[k].grad, g[k], (size_t)h.l->w[k].size, 1e-6, 1e-6, "weight gradients without dx");
        free(g[0]), free(g[1]), free(dx), free(R);
        h_free(&h);
    }
}
END_TEST

/* A batch large enough for several im2col tiles gives, per sample, what a batch of one gives. */
START_TEST(tiles_give_the_same_numbers)
{
    h_seed(11);
    const ct_ref r = {"tiles", 0, 5, 4, 3, 4, 3, 3, 2, 2, "same", -1, -1, true, "relu", 10, 8, NULL};
    const int64_t n = 300;
    harness big, one;
    ck_shape in = {3, {r.h, r.w, r.cin}};
    h_init(&big, ct_layer(&r), &in, n);
    h_init(&one, ct_layer(&r), &in, 1);
    fill(big.x, big.in_size, -1, 1);
    for (int k = 0; k < big.l->nw; k++) {
        fill(big.l->w[k].data, big.l->w[k].size, -0.5, 0.5);
        memcpy(one.l->w[k].data, big.l->w[k].data, (size_t)big.l->w[k].size * sizeof(float));
    }
    h_forward(&big);
    float *R = xcalloc(big.out_size);
    fill(R, big.out_size, -1, 1);
    h_backward(&big, R, true);
    const int64_t isz = one.in_size, osz = one.out_size;
    for (int64_t i = 0; i < n; i += 97) {
        memcpy(one.x, big.x + i * isz, (size_t)isz * sizeof(float));
        h_forward(&one);
        tu_assert_close(big.y + i * osz, one.y, (size_t)osz, 1e-5, 1e-5, "tiled forward");
        h_backward(&one, R + i * osz, true);
        tu_assert_close(big.dx + i * isz, one.dx, (size_t)isz, 1e-5, 1e-5, "tiled dx");
    }
    free(R);
    h_free(&big);
    h_free(&one);
}
END_TEST

static void build_fails(const char *cfg, const int64_t *in3, ckeras_status want, const char *needle)
{
    ckeras_layer *l = ckeras_layer_from_config("Conv2DTranspose", cfg);
    if (l) { /* settings are checked when the layer is built */
        ck_shape in = {3, {in3[0], in3[1], in3[2]}};
        ckeras_status st = ck_layer_build(l, &in);
        ck_assert_msg(st == want, "%s: status %d, expected %d (%s)", cfg, st, want, ckeras_last_error());
        ck_layer_free(l);
    }
    ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", cfg, ckeras_last_error(),
                  needle);
}

START_TEST(config_errors_and_normalisation)
{
    const int64_t in[3] = {4, 4, 2};
    build_fails("{\"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": 2, \"strides\": 2}", in, CKERAS_EINVAL,
                "dilation_rate");
    build_fails("{\"filters\": 2, \"kernel_size\": 3, \"strides\": 2, \"output_padding\": 2}", in, CKERAS_EINVAL,
                "output_padding");
    build_fails("{\"filters\": 2, \"kernel_size\": 3, \"padding\": \"causal\"}", in, CKERAS_EINVAL, "padding");
    build_fails("{\"filters\": 2, \"kernel_size\": 3, \"data_format\": \"channels_first\"}", in, CKERAS_EUNSUPPORTED,
                "channels_first");
    build_fails("{\"filters\": 0, \"kernel_size\": 3}", in, CKERAS_EINVAL, "filters");
    ck_assert_ptr_null(ckeras_conv2d_transpose(0, 3, 3, NULL));
    ck_assert_ptr_null(ckeras_conv2d_transpose(2, 3, 3, "no_such_activation"));
    build_fails("{\"filters\": 2, \"kernel_size\": 3, \"kernel_constraint\": \"non_negative\"}", in, CKERAS_EINVAL,
                "kernel_constraint");
    /* one int becomes a pair, as Keras' get_config() shows it */
    ckeras_layer *l = ckeras_layer_from_config("Conv2DTranspose",
                                               "{\"filters\": 2, \"kernel_size\": 3, \"strides\": 2, "
                                               "\"output_padding\": 1, \"padding\": \"same\"}");
    ck_assert_ptr_nonnull(l);
    ck_shape s = {3, {4, 5, 2}};
    ck_assert_int_eq(ck_layer_build(l, &s), CKERAS_OK);
    const ck_value *v = ck_cfg_value(&l->cfg, "output_padding");
    ck_assert(!v->is_none && v->n == 2 && v->v[0] == 1 && v->v[1] == 1);
    v = ck_cfg_value(&l->cfg, "kernel_size");
    ck_assert(v->n == 2 && v->v[0] == 3 && v->v[1] == 3);
    /* same with output_padding: (in - 1) * s + k % 2 + p */
    ck_assert(l->out_shape.d[0] == 3 * 2 + 1 + 1 && l->out_shape.d[1] == 4 * 2 + 1 + 1 && l->out_shape.d[2] == 2);
    ck_layer_free(l);
}
END_TEST

/* images (n, 6, 6, 1) with a bright top half or a bright left half; label 0 or 1 */
static void halves(int64_t n, ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(4, (const int64_t[]){n, 6, 6, 1});
    *y = ckeras_tensor_new(2, (const int64_t[]){n, 2});
    float *xv = ckeras_tensor_data(*x), *yv = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < n; i++) {
        const int cls = (int)(i % 2);
        for (int64_t r = 0; r < 6; r++)
            for (int64_t c = 0; c < 6; c++)
                xv[(i * 6 + r) * 6 + c] = (float)(((cls ? c : r) < 3 ? 1.0 : 0.0) + 0.1 * urand());
        yv[i * 2] = (float)(1 - cls);
        yv[i * 2 + 1] = (float)cls;
    }
}

static void same_predictions(ckeras_model *m, const ckeras_tensor *x, const char *path, int flags)
{
    ck_assert_msg(ckeras_model_save(m, path, flags) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
    ckeras_model *m2 = NULL;
    ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
    ckeras_tensor *p1 = NULL, *p2 = NULL;
    ck_assert_int_eq(ckeras_model_predict(m, x, 0, &p1), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict(m2, x, 0, &p2), CKERAS_OK);
    tu_assert_close(ckeras_tensor_data(p2), ckeras_tensor_data(p1), 64 * 2, 0, 0, path);
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m2, &json), CKERAS_OK);
    ck_assert_msg(strstr(json, "\"Conv2DTranspose\"") && strstr(json, "\"output_padding\":[1,1]"), "%s", json);
    ckeras_free(json);
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_model_free(m2);
}

START_TEST(small_model_trains_saves_and_loads)
{
    h_seed(3);
    ckeras_set_random_seed(5);
    ckeras_tensor *x, *y;
    halves(64, &x, &y);
    ckeras_model *m = ckeras_sequential("ct");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){6, 6, 1})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv2d(4, 3, 3, "relu")), CKERAS_OK);
    ckeras_layer *ct = ckeras_conv2d_transpose(3, 3, 3, "tanh");
    ck_assert_msg(ct != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_layer_set_ints(ct, "strides", 2, (const int64_t[]){2, 2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(ct, "padding", "same"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_ints(ct, "output_padding", 2, (const int64_t[]){1, 1}), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(ct, "kernel_regularizer", "l2"), CKERAS_OK);
    ck_assert_msg(ckeras_model_add(m, ct) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_add(m, ckeras_layer_from_config("GlobalAveragePooling2D", "{}")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_msg(ckeras_model_compile(m, ckeras_adam(1e-2), "categorical_crossentropy", "accuracy") == CKERAS_OK,
                  "%s", ckeras_last_error());
    int64_t total = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(total, (3 * 3 * 1 * 4 + 4) + (3 * 3 * 3 * 4 + 3) + (3 * 2 + 2));
    double first[2], res[2];
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, first, 2), CKERAS_OK);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 30);
    ckeras_fit_args_set_int(fa, "batch_size", 16);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ck_assert_int_eq(ckeras_model_fit(m, x, y, fa, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, 0, res, 2), CKERAS_OK);
    ck_assert_msg(res[0] < first[0], "loss %g -> %g", first[0], res[0]);
    tu_tmpdir_make("conv_transpose");
    same_predictions(m, x, tu_tmp("m.h5"), 0);
    same_predictions(m, x, tu_tmp("m.k3.h5"), CKERAS_SAVE_KERAS3);
    same_predictions(m, x, tu_tmp("m.keras"), 0);
    tu_tmpdir_remove();
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_transpose");
    TCase *tc = tcase_create("conv_transpose");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, forward_matches_pytorch);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, tiles_give_the_same_numbers);
    tcase_add_test(tc, config_errors_and_normalisation);
    tcase_add_test(tc, small_model_trains_saves_and_loads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
