/* Sizes whose products overflow (issue #16): every reproducer of the report returns a clear
 * status and message instead of writing past a buffer, dividing by zero or wrapping, and the
 * size limits (ckeras_set_max_tensor_size, ckeras_set_max_model_params) are enforced and can be
 * raised. The expected outcome is the documented one: CKERAS_ESHAPE (or CKERAS_EINVAL for a
 * setting out of its range) with a message that says the size is too large, never a wrapped size. */
#include "testutil.h"

#include "ckeras.h"

#include <stdint.h>
#include <string.h>

#define P2(k) ((int64_t)1 << (k))

/* Sequential model whose first layer is Input(ndim, shape). */
static ckeras_model *seq_input(int ndim, const int64_t *shape)
{
    ckeras_model *m = ckeras_sequential(NULL);
    ck_assert_ptr_nonnull(m);
    ckeras_layer *in = ckeras_input(ndim, shape);
    ck_assert_msg(in != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_model_add(m, in), CKERAS_OK);
    return m;
}

/* The last message says why (a size past the limit or an int64 overflow). */
static void assert_says_too_large(const char *what)
{
    const char *msg = ckeras_last_error();
    ck_assert_msg(msg && (strstr(msg, "too large") || strstr(msg, "must be")), "%s: message does not say why: '%s'",
                  what, msg ? msg : "(null)");
}

/* Making `layer` failed (NULL) with a message, or adding it to m fails with ESHAPE/EINVAL; either
 * way the model still holds only its first layers and counts their parameters. */
static void assert_refused(ckeras_model *m, ckeras_layer *layer, int64_t params_before, const char *what)
{
    if (layer) {
        ckeras_status st = ckeras_model_add(m, layer);
        ck_assert_msg(st == CKERAS_ESHAPE || st == CKERAS_EINVAL, "%s: add gave %s (%s)", what,
                      ckeras_status_name(st), ckeras_last_error());
    }
    assert_says_too_large(what);
    int64_t total = -1, tr = -1, ntr = -1;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, &tr, &ntr), CKERAS_OK);
    ck_assert_msg(total == params_before && tr + ntr == total && tr >= 0 && ntr >= 0,
                  "%s: count_params %lld (%lld + %lld), expected %lld", what, (long long)total, (long long)tr,
                  (long long)ntr, (long long)params_before);
}

START_TEST(dense_units_overflow)
{
    /* Dense(2^61) on 3 features: the kernel (3, 2^61) has 3 * 2^61 elements, past int64 */
    ckeras_model *m = seq_input(1, (const int64_t[]){3});
    assert_refused(m, ckeras_dense(P2(61), NULL), 0, "dense(2^61)");
    /* and units set by name after construction: the setter or the build refuses it */
    ckeras_layer *d = ckeras_dense(4, NULL);
    ckeras_status st = ckeras_layer_set_int(d, "units", INT64_MAX);
    if (st == CKERAS_OK) {
        assert_refused(m, d, 0, "set_int(units, INT64_MAX)");
    } else {
        ck_assert_int_eq(st, CKERAS_EINVAL);
        ckeras_layer_free(d);
    }
    /* a reasonable Dense still goes in afterwards: 3*4 + 4 parameters */
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(4, NULL)), CKERAS_OK);
    int64_t total = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(total, 16);
    ckeras_model_free(m);
}
END_TEST

START_TEST(recurrent_and_embedding_overflow)
{
    ckeras_model *m = seq_input(2, (const int64_t[]){5, 3});
    assert_refused(m, ckeras_lstm(P2(61), 0), 0, "lstm(2^61)");
    assert_refused(m, ckeras_gru(P2(61), 1), 0, "gru(2^61)");
    assert_refused(m, ckeras_simple_rnn(P2(62), 0), 0, "simple_rnn(2^62)");
    /* 4 * 2^47 gates fit in int64 but the kernel (3, 2^49) passes the per-tensor limit */
    assert_refused(m, ckeras_lstm(P2(47), 0), 0, "lstm(2^47)");
    ckeras_model_free(m);

    m = seq_input(1, (const int64_t[]){4});
    assert_refused(m, ckeras_embedding(10, INT64_MAX), 0, "embedding(10, INT64_MAX)");
    assert_refused(m, ckeras_embedding(INT64_MAX, 2), 0, "embedding(INT64_MAX, 2)");
    ckeras_model_free(m);
}
END_TEST

START_TEST(conv_overflow)
{
    ckeras_model *m = seq_input(3, (const int64_t[]){8, 8, 3});
    assert_refused(m, ckeras_separable_conv2d(P2(62), 3, 3, NULL), 0, "separable_conv2d(2^62)");
    /* a 2^40 x 2^40 window with same padding: the window has 2^80 * 3 values (was SIGFPE) */
    ckeras_layer *c = ckeras_conv2d(2, P2(40), P2(40), NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ckeras_layer_set_str(c, "padding", "same"), CKERAS_OK);
    assert_refused(m, c, 0, "conv2d(2, 2^40, 2^40, same)");
    /* a dilation whose window span passes int64 */
    c = ckeras_conv2d(2, 3, 3, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(c, "padding", "same"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_ints(c, "dilation_rate", 2, (const int64_t[]){P2(62), 1}), CKERAS_OK);
    assert_refused(m, c, 0, "conv2d dilation 2^62");
    c = ckeras_conv2d_transpose(2, 3, 3, NULL);
    ck_assert_int_eq(ckeras_layer_set_ints(c, "strides", 2, (const int64_t[]){P2(62), P2(62)}), CKERAS_OK);
    assert_refused(m, c, 0, "conv2d_transpose strides 2^62");
    assert_refused(m, ckeras_upsampling2d(P2(31), P2(31)), 0, "upsampling2d(2^31, 2^31)");
    assert_refused(m, ckeras_upsampling2d(INT64_MAX, 1), 0, "upsampling2d(INT64_MAX, 1)");
    assert_refused(m, ckeras_zero_padding2d(INT64_MAX, 1), 0, "zero_padding2d(INT64_MAX, 1)");
    assert_refused(m, ckeras_zero_padding2d(P2(40), P2(40)), 0, "zero_padding2d(2^40, 2^40)");
    /* the model is intact: a real convolution still trains on it */
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv2d(2, 3, 3, "relu")), CKERAS_OK);
    int64_t total = 0;
    ck_assert_int_eq(ckeras_model_count_params(m, &total, NULL, NULL), CKERAS_OK);
    ck_assert_int_eq(total, 3 * 3 * 3 * 2 + 2);
    ckeras_model_free(m);
}
END_TEST

START_TEST(reshape_and_input_overflow)
{
    ckeras_model *m = seq_input(1, (const int64_t[]){8});
    /* {-1, 2^62, 4}: the known axes' product wraps to 0 (was SIGFPE) */
    assert_refused(m, ckeras_reshape(3, (const int64_t[]){-1, P2(62), 4}), 0, "reshape(-1, 2^62, 4)");
    assert_refused(m, ckeras_reshape(2, (const int64_t[]){P2(32), P2(32)}), 0, "reshape(2^32, 2^32)");
    ckeras_model_free(m);

    /* Input((INT64_MAX,)) is past the per-tensor limit: refused at Input or at add */
    ckeras_model *s = ckeras_sequential(NULL);
    ckeras_layer *in = ckeras_input(1, (const int64_t[]){INT64_MAX});
    if (in) {
        ckeras_status st = ckeras_model_add(s, in);
        ck_assert_int_eq(st, CKERAS_ESHAPE);
    }
    assert_says_too_large("Input(INT64_MAX)");
    ckeras_model_free(s);
    /* Input((2^31, 2^31, 2)): each axis fine, the product 2^63 wraps */
    s = ckeras_sequential(NULL);
    in = ckeras_input(3, (const int64_t[]){P2(31), P2(31), 2});
    if (in)
        ck_assert_int_eq(ckeras_model_add(s, in), CKERAS_ESHAPE);
    assert_says_too_large("Input(2^31, 2^31, 2)");
    ckeras_model_free(s);
}
END_TEST

START_TEST(json_units_overflow)
{
    /* the same Dense(2^61) through a Keras 3 config */
    static const char *json =
        "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
        "{\"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3], \"name\": \"in\"}},"
        "{\"class_name\": \"Dense\", \"config\": {\"name\": \"d\", \"units\": 2305843009213693952}}]}}";
    ckeras_model *m = NULL;
    ckeras_status st = ckeras_model_from_json(json, &m);
    ck_assert_msg(st == CKERAS_ESHAPE, "from_json: %s (%s)", ckeras_status_name(st), ckeras_last_error());
    ck_assert_ptr_null(m);
    assert_says_too_large("from_json");
}
END_TEST

START_TEST(tensor_sizes)
{
    /* (2^62 + 1) * 4 * 3 wraps to 12 */
    ckeras_tensor *t = ckeras_tensor_new(3, (const int64_t[]){P2(62) + 1, 4, 3});
    ck_assert_ptr_null(t);
    assert_says_too_large("tensor_new((2^62+1, 4, 3))");
    /* INT64_MAX / 4 * 4 fits int64 but not the byte count */
    t = ckeras_tensor_new(2, (const int64_t[]){INT64_MAX / 4, 4});
    ck_assert_ptr_null(t);
    assert_says_too_large("tensor_new((INT64_MAX/4, 4))");
    /* a zero axis does not license axes whose strides wrap */
    t = ckeras_tensor_new(3, (const int64_t[]){0, P2(40), P2(40)});
    ck_assert_ptr_null(t);
    /* (2^31, 2^31) as in the report: 2^62 elements */
    t = ckeras_tensor_new(2, (const int64_t[]){P2(31), P2(31)});
    ck_assert_ptr_null(t);
    float one = 1.0f;
    ck_assert_ptr_null(ckeras_tensor_copy(&one, 2, (const int64_t[]){P2(32), P2(32)}));
    assert_says_too_large("tensor_copy((2^32, 2^32))");
    ck_assert_ptr_null(ckeras_tensor_wrap(&one, 2, (const int64_t[]){P2(62), 8}));

    /* reshape: products that wrap to the tensor's size are refused, the tensor is unchanged */
    t = ckeras_tensor_new(2, (const int64_t[]){3, 4});
    ck_assert_ptr_nonnull(t);
    /* 2^62 * 4 * 3 wraps to 0 in int64 arithmetic; 2^61 * 2^3 * 3 * ... */
    ck_assert_int_eq(ckeras_tensor_reshape(t, 3, (const int64_t[]){P2(62) + 1, 4, 3}), CKERAS_ESHAPE);
    ck_assert_int_eq(ckeras_tensor_reshape(t, 3, (const int64_t[]){-1, P2(62), 4}), CKERAS_ESHAPE);
    ck_assert_int_eq(ckeras_tensor_reshape(t, 4, (const int64_t[]){P2(32), P2(32), 3, 4}), CKERAS_ESHAPE);
    ck_assert_int_eq(ckeras_tensor_ndim(t), 2);
    ck_assert_int_eq(ckeras_tensor_dim(t, 0), 3);
    ck_assert_int_eq(ckeras_tensor_size(t), 12);
    ck_assert_int_eq(ckeras_tensor_reshape(t, 3, (const int64_t[]){2, -1, 3}), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_dim(t, 1), 2);
    ckeras_tensor_free(t);
}
END_TEST

START_TEST(limits_enforced_and_raised)
{
    const int64_t t0 = ckeras_max_tensor_size(), p0 = ckeras_max_model_params();
    ck_assert_int_eq(t0, P2(34));
    ck_assert_int_eq(p0, P2(34));
    ck_assert_int_eq(ckeras_set_max_tensor_size(0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_set_max_tensor_size(-5), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_set_max_tensor_size(CKERAS_MAX_SIZE_LIMIT + 1), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_set_max_model_params(0), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_max_tensor_size(), t0);

    /* per tensor: 110 elements pass a limit of 110, 111 do not */
    ck_assert_int_eq(ckeras_set_max_tensor_size(110), CKERAS_OK);
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){10, 11});
    ck_assert_ptr_nonnull(t);
    ckeras_tensor_free(t);
    ck_assert_ptr_null(ckeras_tensor_new(2, (const int64_t[]){3, 37}));
    ck_assert_msg(strstr(ckeras_last_error(), "limit is 110"), "%s", ckeras_last_error());
    /* a layer output of 4 * 30 = 120 values per sample passes it too */
    ckeras_model *m = seq_input(1, (const int64_t[]){4});
    assert_refused(m, ckeras_dense(120, NULL), 0, "dense(120) under a limit of 110");
    /* and a batch buffer: under a limit of 300, Dense(30) takes 12 x 30 = 360 values for a
     * batch of 12 (refused), 8 x 30 = 240 for a batch of 8 */
    ck_assert_int_eq(ckeras_set_max_tensor_size(t0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(30, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1, NULL)), CKERAS_OK);
    ck_assert_int_eq(ckeras_set_max_tensor_size(300), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){12, 4}), *y = NULL;
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(ckeras_model_predict(m, x, 12, &y), CKERAS_ESHAPE);
    ck_assert_msg(strstr(ckeras_last_error(), "batch of 12"), "%s", ckeras_last_error());
    ck_assert_ptr_null(y);
    ck_assert_int_eq(ckeras_model_predict(m, x, 8, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_size(y), 12);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
    ck_assert_int_eq(ckeras_set_max_tensor_size(t0), CKERAS_OK);

    /* per model: Dense(4) on 3 features has 16 parameters */
    ck_assert_int_eq(ckeras_set_max_model_params(15), CKERAS_OK);
    m = seq_input(1, (const int64_t[]){3});
    assert_refused(m, ckeras_dense(4, NULL), 0, "16 parameters under a limit of 15");
    ck_assert_msg(strstr(ckeras_last_error(), "limit is 15"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_set_max_model_params(16), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(4, NULL)), CKERAS_OK);
    /* the second layer (4*2 + 2) brings the model to 26 */
    assert_refused(m, ckeras_dense(2, NULL), 16, "26 parameters under a limit of 16");
    ck_assert_int_eq(ckeras_set_max_model_params(p0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, NULL)), CKERAS_OK);
    ckeras_model_free(m);
}
END_TEST

START_TEST(layer_buffers_checked)
{
    /* An LSTM's gate buffers (T x n x 4U floats) are no axis of its input or output: with a limit
     * of 2^20 per tensor, 1024 steps of 256 units need 2^20 gate values per sample, so a batch of
     * 2 is refused by the plan while the input (2 x 1024) and output (2 x 256) are small. */
    const int64_t t0 = ckeras_max_tensor_size();
    ckeras_model *m = seq_input(2, (const int64_t[]){1024, 1});
    ck_assert_int_eq(ckeras_model_add(m, ckeras_lstm(256, 0)), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(3, (const int64_t[]){2, 1024, 1}), *y = NULL;
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(ckeras_set_max_tensor_size(P2(20)), CKERAS_OK);
    ckeras_status st = ckeras_model_predict(m, x, 2, &y);
    ck_assert_int_eq(ckeras_set_max_tensor_size(t0), CKERAS_OK);
    ck_assert_msg(st == CKERAS_ESHAPE, "predict: %s (%s)", ckeras_status_name(st), ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), "LSTM"), "%s", ckeras_last_error());
    ck_assert_ptr_null(y);
    /* under the default limit the same call works: 2 x 256 outputs */
    ck_assert_int_eq(ckeras_model_predict(m, x, 2, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_size(y), 512);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sizes");
    TCase *tc = tcase_create("overflow");
    tcase_add_test(tc, dense_units_overflow);
    tcase_add_test(tc, recurrent_and_embedding_overflow);
    tcase_add_test(tc, conv_overflow);
    tcase_add_test(tc, reshape_and_input_overflow);
    tcase_add_test(tc, json_units_overflow);
    tcase_add_test(tc, tensor_sizes);
    tcase_add_test(tc, limits_enforced_and_raised);
    tcase_add_test(tc, layer_buffers_checked);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
