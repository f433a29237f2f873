/* The convolution family added for the layer catalogue (Conv3D, Conv1DTranspose,
 * Conv3DTranspose, DepthwiseConv1D, SeparableConv1D, 3D and global pooling, 1D/3D padding,
 * cropping and upsampling, grouped and dilated convolutions): backward of every class against
 * central finite differences, transposed convolutions with output_padding against PyTorch
 * (tests/conv_family_ref.h, from tests/ref/conv_family_ref.py), Keras' weight shapes and config
 * forms, and the errors. Their forward and one training step against real Keras are the layer
 * catalogue's group 'conv' (tests/keras/layer_groups/conv.py). */
#include "layer_harness.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conv_family_ref.h"

typedef struct fd_case {
    const char *cls, *cfg;
    int ndim;
    int64_t d[4];
} fd_case;

static const fd_case fd_cases[] = {
    {"Conv3D", "{\"filters\": 3, \"kernel_size\": [2, 3, 2], \"strides\": [1, 2, 1]}", 4, {3, 5, 4, 2}},
    {"Conv3D", "{\"filters\": 2, \"kernel_size\": 3, \"padding\": \"same\", \"dilation_rate\": [2, 1, 1], "
               "\"activation\": \"tanh\", \"use_bias\": false}", 4, {4, 3, 3, 2}},
    {"Conv3D", "{\"filters\": 4, \"kernel_size\": 2, \"groups\": 2, \"strides\": 2, \"padding\": \"same\"}", 4,
     {3, 3, 3, 4}},
    {"Conv3D", "{\"filters\": 2, \"kernel_size\": 1}", 4, {2, 2, 3, 3}},
    {"Conv2D", "{\"filters\": 6, \"kernel_size\": 3, \"groups\": 3, \"strides\": 2, \"padding\": \"same\"}", 3,
     {5, 5, 3}},
    {"Conv2D", "{\"filters\": 4, \"kernel_size\": [3, 2], \"groups\": 2, \"activation\": \"tanh\"}", 3, {5, 4, 4}},
    {"Conv2D", "{\"filters\": 4, \"kernel_size\": 1, \"groups\": 4}", 3, {3, 3, 4}},
    {"Conv1D", "{\"filters\": 6, \"kernel_size\": 3, \"groups\": 2, \"padding\": \"causal\", \"dilation_rate\": 2}",
     2, {7, 4}},
    {"Conv1DTranspose", "{\"filters\": 3, \"kernel_size\": 3, \"strides\": 2}", 2, {5, 2}},
    {"Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 4, \"strides\": 2, \"padding\": \"same\", "
                        "\"activation\": \"tanh\", \"use_bias\": false}", 2, {4, 3}},
    {"Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"strides\": 3, \"output_padding\": 1}", 2, {4, 2}},
    {"Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"dilation_rate\": 2, \"padding\": \"same\"}", 2,
     {6, 2}},
    {"Conv2DTranspose", "{\"filters\": 2, \"kernel_size\": [3, 2], \"dilation_rate\": [2, 1]}", 3, {4, 3, 2}},
    {"Conv3DTranspose", "{\"filters\": 2, \"kernel_size\": [2, 3, 2], \"strides\": [2, 1, 2]}", 4, {2, 3, 2, 2}},
    {"Conv3DTranspose", "{\"filters\": 3, \"kernel_size\": 3, \"strides\": [3, 1, 1], \"padding\": \"same\", "
                        "\"activation\": \"sigmoid\"}", 4, {2, 2, 3, 2}},
    {"Conv3DTranspose", "{\"filters\": 2, \"kernel_size\": 2, \"strides\": 2, \"output_padding\": [1, 0, 1]}", 4,
     {2, 2, 2, 1}},
    {"DepthwiseConv1D", "{\"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"depth_multiplier\": 2}", 2,
     {7, 3}},
    {"DepthwiseConv1D", "{\"kernel_size\": 2, \"dilation_rate\": 2, \"use_bias\": false, \"activation\": \"tanh\"}",
     2, {6, 2}},
    {"SeparableConv1D", "{\"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\", \"depth_multiplier\": 2, "
                        "\"activation\": \"tanh\"}", 2, {6, 3}},
    {"SeparableConv1D", "{\"filters\": 3, \"kernel_size\": 2, \"dilation_rate\": 2, \"use_bias\": false}", 2, {7, 2}},
    {"MaxPooling3D", "{}", 4, {4, 4, 4, 2}},
    {"MaxPooling3D", "{\"pool_size\": [3, 2, 2], \"strides\": [2, 1, 2], \"padding\": \"same\"}", 4, {5, 4, 5, 2}},
    {"AveragePooling3D", "{\"pool_size\": [2, 3, 2], \"strides\": [1, 2, 2]}", 4, {4, 5, 4, 2}},
    {"AveragePooling3D", "{\"pool_size\": [2, 2, 3], \"padding\": \"same\"}", 4, {3, 4, 5, 2}},
    {"GlobalAveragePooling3D", "{}", 4, {3, 2, 2, 3}},
    {"GlobalMaxPooling3D", "{\"keepdims\": true}", 4, {3, 2, 2, 3}},
    {"ZeroPadding1D", "{\"padding\": [1, 2]}", 2, {4, 2}},
    {"ZeroPadding3D", "{\"padding\": [[1, 0], [0, 2], [1, 1]]}", 4, {2, 3, 2, 2}},
    {"Cropping1D", "{\"cropping\": [1, 2]}", 2, {6, 2}},
    {"Cropping3D", "{\"cropping\": [[1, 0], [0, 1], [1, 2]]}", 4, {3, 3, 5, 2}},
    {"UpSampling1D", "{\"size\": 3}", 2, {4, 2}},
    {"UpSampling3D", "{\"size\": [2, 1, 3]}", 4, {2, 3, 2, 2}},
    {"UpSampling3D", "{}", 4, {2, 2, 2, 1}},
};

START_TEST(gradients_match_finite_differences)
{
    h_seed(5);
    for (size_t c = 0; c < sizeof fd_cases / sizeof fd_cases[0]; c++) {
        harness h;
        const ck_shape in = h_shape(fd_cases[c].ndim, fd_cases[c].d);
        h_init(&h, h_layer_cfg(fd_cases[c].cls, fd_cases[c].cfg), &in, 2);
        /* distinct values, so no window's maximum is tied within the step */
        for (int64_t i = 0; i < h.in_size; i++)
            h.x[i] = (float)(((i * 37) % 101) / 50.0 - 1.0 + 0.003 * urand());
        for (int k = 0; k < h.l->nw; k++)
            fill(h.l->w[k].data, h.l->w[k].size, -0.5, 0.5);
        char what[256];
        snprintf(what, sizeof what, "%s %s", fd_cases[c].cls, fd_cases[c].cfg);
        h_fd_check(&h, 1e-3, 2e-3, 5e-3, what);
        h_free(&h);
    }
}
END_TEST

static void ref_inputs(harness *h)
{
    for (int64_t i = 0; i < h->in_size; i++)
        h->x[i] = (float)((double)((i * 37) % 23 - 11) / 8);
    for (int64_t i = 0; i < h->l->w[0].size; i++)
        h->l->w[0].data[i] = (float)((double)((i * 53) % 29 - 14) / 16);
    for (int64_t f = 0; f < h->l->w[1].size; f++)
        h->l->w[1].data[f] = (float)((double)(f - 1) / 4);
}

static void check_ref(const char *cls, const char *cfg, const ck_shape *in, int64_t n, const int64_t *out,
                      const float *y)
{
    harness h;
    h_init(&h, h_layer_cfg(cls, cfg), in, n);
    for (int i = 0; i < in->ndim - 1; i++)
        ck_assert_msg(h.l->out_shape.d[i] == out[i], "%s: output axis %d is %lld, PyTorch %lld", cls, i,
                      (long long)h.l->out_shape.d[i], (long long)out[i]);
    ref_inputs(&h);
    h_forward(&h);
    tu_assert_close(h.y, y, (size_t)h.out_size, 1e-6, 1e-5, cls);
    h_free(&h);
}

START_TEST(output_padding_matches_pytorch)
{
    check_ref("Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"strides\": 3, \"output_padding\": 1}",
              &(ck_shape){2, {4, 2}}, 2, ct1d_op_out, ct1d_op_y);
    check_ref("Conv3DTranspose",
              "{\"filters\": 2, \"kernel_size\": 2, \"strides\": 2, \"output_padding\": [1, 0, 1]}",
              &(ck_shape){4, {2, 2, 3, 1}}, 1, ct3d_op_out, ct3d_op_y);
}
END_TEST

/* Keras' weight shapes (kernel_size + (in/groups, filters) and the like) and output shapes. */
START_TEST(weight_and_output_shapes)
{
    static const struct {
        const char *cls, *cfg;
        ck_shape in, out, w0, w1;
    } cases[] = {
        {"Conv3D", "{\"filters\": 4, \"kernel_size\": [1, 2, 3], \"groups\": 2}", {4, {3, 4, 5, 6}},
         {4, {3, 3, 3, 4}}, {5, {1, 2, 3, 3, 4}}, {1, {4}}},
        {"Conv2D", "{\"filters\": 6, \"kernel_size\": 3, \"groups\": 3, \"padding\": \"same\"}", {3, {4, 4, 3}},
         {3, {4, 4, 6}}, {4, {3, 3, 1, 6}}, {1, {6}}},
        {"Conv1DTranspose", "{\"filters\": 3, \"kernel_size\": 4, \"strides\": 2, \"padding\": \"same\"}",
         {2, {5, 2}}, {2, {10, 3}}, {3, {4, 3, 2}}, {1, {3}}},
        {"Conv3DTranspose", "{\"filters\": 3, \"kernel_size\": [1, 2, 3], \"strides\": [1, 2, 3]}",
         {4, {2, 3, 4, 5}}, {4, {2, 6, 12, 3}}, {5, {1, 2, 3, 3, 5}}, {1, {3}}},
        {"DepthwiseConv1D", "{\"kernel_size\": 3, \"depth_multiplier\": 2}", {2, {6, 3}}, {2, {4, 6}},
         {3, {3, 3, 2}}, {1, {6}}},
        /* tf.keras 2 writes groups: 1 in these configs */
        {"DepthwiseConv1D", "{\"kernel_size\": 3, \"groups\": 1}", {2, {6, 3}}, {2, {4, 3}}, {3, {3, 3, 1}},
         {1, {3}}},
        {"Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"groups\": 1}", {2, {4, 3}}, {2, {6, 2}},
         {3, {3, 2, 3}}, {1, {2}}},
        {"SeparableConv1D", "{\"filters\": 5, \"kernel_size\": 3, \"depth_multiplier\": 2, \"use_bias\": false}",
         {2, {6, 3}}, {2, {4, 5}}, {3, {3, 3, 2}}, {3, {1, 6, 5}}},
        {"MaxPooling3D", "{\"pool_size\": [1, 2, 3]}", {4, {3, 4, 7, 2}}, {4, {3, 2, 2, 2}}, {0}, {0}},
        {"GlobalAveragePooling3D", "{}", {4, {3, 4, 7, 2}}, {1, {2}}, {0}, {0}},
        {"ZeroPadding3D", "{\"padding\": 2}", {4, {1, 2, 3, 2}}, {4, {5, 6, 7, 2}}, {0}, {0}},
        {"ZeroPadding3D", "{\"padding\": [1, 2, 3]}", {4, {1, 2, 3, 2}}, {4, {3, 6, 9, 2}}, {0}, {0}},
        {"Cropping3D", "{}", {4, {3, 4, 5, 2}}, {4, {1, 2, 3, 2}}, {0}, {0}},
        {"ZeroPadding1D", "{}", {2, {3, 2}}, {2, {5, 2}}, {0}, {0}},
        {"Cropping1D", "{\"cropping\": 2}", {2, {6, 2}}, {2, {2, 2}}, {0}, {0}},
        {"UpSampling1D", "{}", {2, {3, 2}}, {2, {6, 2}}, {0}, {0}},
        {"UpSampling3D", "{\"size\": 3}", {4, {1, 2, 3, 2}}, {4, {3, 6, 9, 2}}, {0}, {0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ckeras_layer *l = h_layer_cfg(cases[c].cls, cases[c].cfg);
        ck_assert_msg(ck_layer_build(l, &cases[c].in) == CKERAS_OK, "%s: %s", cases[c].cls, ckeras_last_error());
        char a[96], b[96];
        ck_assert_msg(ck_shape_eq(&l->out_shape, &cases[c].out), "%s %s: output %s, want %s", cases[c].cls,
                      cases[c].cfg, ck_shape_str(&l->out_shape, false, a, sizeof a),
                      ck_shape_str(&cases[c].out, false, b, sizeof b));
        const ck_shape *want[2] = {&cases[c].w0, &cases[c].w1};
        int nw = cases[c].w0.ndim == 0 ? 0 : 2;
        ck_assert_int_eq(l->nw, nw);
        for (int k = 0; k < nw && k < l->nw; k++)
            ck_assert_msg(ck_shape_eq(&l->w[k].shape, want[k]), "%s weight %s: %s, want %s", cases[c].cls,
                          l->w[k].name, ck_shape_str(&l->w[k].shape, false, a, sizeof a),
                          ck_shape_str(want[k], false, b, sizeof b));
        ck_layer_free(l);
    }
}
END_TEST

static void build_fails(const char *cls, const char *cfg, ck_shape in, ckeras_status want, const char *needle)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, cfg);
    if (l) { /* settings are checked when the layer is built */
        ckeras_status st = ck_layer_build(l, &in);
        ck_assert_msg(st == want, "%s %s: status %d, expected %d (%s)", cls, cfg, st, want, ckeras_last_error());
        ck_layer_free(l);
    }
    ck_assert_msg(strstr(ckeras_last_error(), needle) != NULL, "%s %s: message '%s' lacks '%s'", cls, cfg,
                  ckeras_last_error(), needle);
}

START_TEST(errors_name_the_layer_and_the_key)
{
    const ck_shape vol = {4, {3, 3, 3, 2}}, seq = {2, {6, 2}};
    static const char *const volume_classes[] = {"Conv3D", "Conv3DTranspose", "MaxPooling3D", "AveragePooling3D",
                                                 "GlobalMaxPooling3D", "GlobalAveragePooling3D", "ZeroPadding3D",
                                                 "Cropping3D", "UpSampling3D"};
    for (size_t c = 0; c < sizeof volume_classes / sizeof volume_classes[0]; c++) {
        const char *cls = volume_classes[c];
        const bool conv = strncmp(cls, "Conv", 4) == 0;
        char cfg[128];
        snprintf(cfg, sizeof cfg, "{%s\"data_format\": \"channels_first\"}",
                 conv ? "\"filters\": 2, \"kernel_size\": 1, " : "");
        build_fails(cls, cfg, vol, CKERAS_EUNSUPPORTED, "channels_first");
        snprintf(cfg, sizeof cfg, "{%s}", conv ? "\"filters\": 2, \"kernel_size\": 1" : "");
        build_fails(cls, cfg, seq, CKERAS_ESHAPE, "");
    }
    build_fails("Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"data_format\": \"channels_first\"}", seq,
                CKERAS_EUNSUPPORTED, "channels_first");
    build_fails("DepthwiseConv1D", "{\"kernel_size\": 3, \"data_format\": \"channels_first\"}", seq,
                CKERAS_EUNSUPPORTED, "channels_first");
    build_fails("SeparableConv1D", "{\"filters\": 2, \"kernel_size\": 3, \"data_format\": \"channels_first\"}", seq,
                CKERAS_EUNSUPPORTED, "channels_first");
    build_fails("ZeroPadding1D", "{\"data_format\": \"channels_first\"}", seq, CKERAS_EINVAL, "data_format");
    build_fails("Conv3D", "{\"filters\": 3, \"kernel_size\": 1, \"groups\": 2}", vol, CKERAS_EINVAL, "groups");
    build_fails("Conv3D", "{\"filters\": 2, \"kernel_size\": 4}", vol, CKERAS_ESHAPE, "larger than");
    build_fails("Conv3D", "{\"filters\": 2, \"kernel_size\": [1, 2]}", vol, CKERAS_EINVAL, "kernel_size");
    build_fails("Conv1DTranspose", "{\"filters\": 2, \"kernel_size\": 3, \"strides\": 2, \"dilation_rate\": 2}", seq,
                CKERAS_EINVAL, "dilation_rate");
    build_fails("Conv3DTranspose", "{\"filters\": 2, \"kernel_size\": 2, \"strides\": 2, \"output_padding\": 2}", vol,
                CKERAS_EINVAL, "output_padding");
    build_fails("Conv3DTranspose", "{\"filters\": 2, \"kernel_size\": 2, \"groups\": 2}", vol, CKERAS_EUNSUPPORTED,
                "groups");
    build_fails("DepthwiseConv1D", "{\"kernel_size\": 3, \"strides\": 2, \"dilation_rate\": 2}", seq, CKERAS_EINVAL,
                "dilation_rate");
    build_fails("MaxPooling3D", "{\"pool_size\": 4}", vol, CKERAS_ESHAPE, "larger than");
    build_fails("Cropping3D", "{\"cropping\": [1, 2, 1]}", vol, CKERAS_ESHAPE, "leaves nothing");
    build_fails("Cropping1D", "{\"cropping\": [3, 3]}", seq, CKERAS_ESHAPE, "leaves nothing");
    build_fails("ZeroPadding3D", "{\"padding\": [1, 2]}", vol, CKERAS_EINVAL, "padding");
    build_fails("UpSampling3D", "{\"size\": [2, 2]}", vol, CKERAS_EINVAL, "size");
}
END_TEST

/* 1D and 3D padding and cropping are written as Keras' get_config() shows them: a pair, or
 * three (before, after) pairs; a saved model reloads with the same predictions. */
START_TEST(configs_round_trip_through_files)
{
    ckeras_model *m = ckeras_sequential("vol");
    ck_assert_ptr_nonnull(m);
    static const struct {
        const char *cls, *cfg;
    } layers[] = {
        {"Conv3D", "{\"filters\": 4, \"kernel_size\": 2, \"groups\": 2, \"padding\": \"same\", \"input_shape\": "
                   "[3, 4, 4, 2]}"},
        {"ZeroPadding3D", "{\"padding\": [1, 0, 2]}"},
        {"Cropping3D", "{\"cropping\": 1}"},
        {"UpSampling3D", "{\"size\": 2}"},
        {"AveragePooling3D", "{\"pool_size\": 2, \"padding\": \"same\"}"},
        {"Conv3DTranspose", "{\"filters\": 2, \"kernel_size\": 2, \"strides\": 2, \"output_padding\": 1}"},
        {"MaxPooling3D", "{}"},
        {"GlobalMaxPooling3D", "{}"},
    };
    for (size_t k = 0; k < sizeof layers / sizeof layers[0]; k++)
        ck_assert_msg(ckeras_model_add(m, h_layer_cfg(layers[k].cls, layers[k].cfg)) == CKERAS_OK, "%s: %s",
                      layers[k].cls, ckeras_last_error());
    char *json = NULL;
    ck_assert_msg(ckeras_model_to_json(m, &json) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_msg(strstr(json, "\"padding\":[[1,1],[0,0],[2,2]]") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"cropping\":[[1,1],[1,1],[1,1]]") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"size\":[2,2,2]") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"output_padding\":[1,1,1]") != NULL, "%s", json);
    ck_assert_msg(strstr(json, "\"groups\":2") != NULL, "%s", json);
    ckeras_free(json);

    const int64_t xs[5] = {2, 3, 4, 4, 2};
    ckeras_tensor *x = ckeras_tensor_new(5, xs);
    float *xd = ckeras_tensor_data(x);
    for (int64_t i = 0; i < 2 * 3 * 4 * 4 * 2; i++)
        xd[i] = (float)sin(0.37 * (double)i);
    ckeras_tensor *y = NULL, *y2 = NULL;
    ck_assert_msg(ckeras_model_predict(m, x, 0, &y) == CKERAS_OK, "%s", ckeras_last_error());
    tu_tmpdir_make("conv_family");
    static const char *const names[] = {"vol.h5", "vol.keras"};
    for (int f = 0; f < 2; f++) {
        const char *path = tu_tmp(names[f]);
        ck_assert_msg(ckeras_model_save(m, path, 0) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
        ckeras_model *m2 = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &m2) == CKERAS_OK, "%s: %s", path, ckeras_last_error());
        ck_assert_msg(ckeras_model_predict(m2, x, 0, &y2) == CKERAS_OK, "%s", ckeras_last_error());
        tu_assert_close(ckeras_tensor_data(y2), ckeras_tensor_data(y), (size_t)ckeras_tensor_size(y), 0, 0,
                        names[f]);
        ckeras_tensor_free(y2);
        ckeras_model_free(m2);
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_family");
    TCase *tc = tcase_create("conv_family");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gradients_match_finite_differences);
    tcase_add_test(tc, output_padding_matches_pytorch);
    tcase_add_test(tc, weight_and_output_shapes);
    tcase_add_test(tc, errors_name_the_layer_and_the_key);
    tcase_add_test(tc, configs_round_trip_through_files);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
