/* Regularizers, activity regularizers and weight constraints: every spec form Keras writes or
 * accepts (and the refused ones, with their messages, at the setter), the constraints against
 * numbers worked by hand, the activity penalty in the loss against a forward computed here in
 * double and its gradient against central finite differences of the model's loss, saving and
 * reloading, and the wrappers that refuse them. Keras' own numbers (one SGD step of every layer
 * with a constraint or an activity regularizer) are the catalogue's
 * (tests/fixtures/layers/constraints). */
#include "layer_harness.h"
#include "model/model.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has(const char *msg, const char *part)
{
    return msg && strstr(msg, part) != NULL;
}

START_TEST(regularizer_forms)
{
    static const struct {
        const char *spec;
        float l1, l2;
    } ok[] = {
        {"l1", 0.01f, 0.0f},   /* Keras 3 regularizers.get("l1") is L1(): 0.01 */
        {"l2", 0.0f, 0.01f},   /* L2(): 0.01 */
        {"l1l2", 0.0f, 0.0f},  /* L1L2(): 0 each */
        {"l1_l2", 0.01f, 0.01f}, /* tf.keras 2's function l1_l2(): 0.01 each */
        {"L1", 0.01f, 0.0f},
        {"L2", 0.0f, 0.01f},
        {"L1L2", 0.0f, 0.0f},
        {"L1L2(l1=0.1,l2=0.2)", 0.1f, 0.2f},
        {"L1L2(l2=0.2)", 0.0f, 0.2f},
        {"l2(l2=0.001)", 0.0f, 0.001f},
        {"L2( l2 = 0.5 )", 0.0f, 0.5f},
        {"l1_l2(l1=0.3)", 0.3f, 0.01f},
        {"L1(l1=0)", 0.0f, 0.0f},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        float l1 = -1, l2 = -1;
        ck_assert_msg(ck_regularizer_parse(ok[i].spec, &l1, &l2) == CKERAS_OK, "%s: %s", ok[i].spec,
                      ckeras_last_error());
        ck_assert_msg(l1 == ok[i].l1 && l2 == ok[i].l2, "%s: got %g %g", ok[i].spec, l1, l2);
    }
    static const struct {
        const char *spec;
        ckeras_status st;
        const char *msg;
    } bad[] = {
        {"l3", CKERAS_EINVAL, "unknown 'l3'"},
        {"L2(l1=0.1)", CKERAS_EINVAL, "takes no argument 'l1'"},
        {"L2(l2=-1)", CKERAS_EINVAL, "finite number >= 0"},
        {"L2(l2=abc)", CKERAS_EINVAL, "cannot parse"},
        {"L2(l2=0.1", CKERAS_EINVAL, "cannot parse"},
        {"L2(l2=0.1) x", CKERAS_EINVAL, "cannot parse"},
        {"", CKERAS_EINVAL, "cannot parse"},
        {"L2(l2=[1])", CKERAS_EINVAL, "finite number"},
        {"orthogonal_regularizer", CKERAS_EUNSUPPORTED, "OrthogonalRegularizer"},
        {"OrthogonalRegularizer(factor=0.1)", CKERAS_EUNSUPPORTED, "(OrthogonalRegularizer) is not supported"},
        {"OrthogonalRegularizer(factor=0.01,mode=rows)", CKERAS_EUNSUPPORTED, "is not supported"}, /* as read */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        float l1, l2;
        ck_assert_msg(ck_regularizer_parse(bad[i].spec, &l1, &l2) != CKERAS_OK, "%s accepted", bad[i].spec);
        ck_assert_msg(has(ckeras_last_error(), bad[i].msg), "%s: %s", bad[i].spec, ckeras_last_error());
        ck_assert_msg(bad[i].st != CKERAS_EINVAL || has(ckeras_last_error(), "accepted") ||
                          has(ckeras_last_error(), "must be"),
                      "%s: %s", bad[i].spec, ckeras_last_error());
    }
}
END_TEST

/* A string ckeras cannot parse is refused when set, with the accepted forms; Keras' object form
 * is accepted by the setter and the readers */
START_TEST(regularizer_setter)
{
    ckeras_layer *d = ckeras_dense(3, NULL);
    static const char *const keys[] = {"kernel_regularizer", "bias_regularizer", "activity_regularizer"};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(ckeras_layer_set_str(d, keys[k], "l3"), CKERAS_EINVAL);
        const char *e = ckeras_last_error();
        ck_assert_msg(has(e, "layer_set_str") && has(e, keys[k]) && has(e, "accepted") && has(e, "L1L2(l1=..,l2=..)") &&
                          has(e, "class_name"),
                      "%s", e);
        ck_assert_ptr_null(ck_cfg_str(&d->cfg, keys[k])); /* unchanged */
    }
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_regularizer", "L1L2(l1=0.1,l2=0.2)"), CKERAS_OK);
    /* Keras 3's object form, module and registered_name included */
    ck_assert_int_eq(ckeras_layer_set_str(d, "bias_regularizer", "{\"module\": \"keras.regularizers\", \"class_name\": "
                                                                 "\"L2\", \"config\": {\"l2\": 0.03}, "
                                                                 "\"registered_name\": null}"),
                     CKERAS_OK);
    ck_assert_int_eq(
        ckeras_layer_set_str(d, "activity_regularizer", "{\"class_name\": \"L1\", \"config\": {\"l1\": 0.5}}"),
        CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "activity_regularizer", "{\"class_name\": \"L7\", \"config\": {}}"),
                     CKERAS_EINVAL);
    ck_assert_msg(has(ckeras_last_error(), "unknown 'L7'"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_layer_set_str(d, "activity_regularizer", "{\"config\": {}}"), CKERAS_EFORMAT);
    ck_assert_msg(has(ckeras_last_error(), "class_name"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_layer_set_str(d, "activity_regularizer", "{not json"), CKERAS_EFORMAT);
    ckeras_model *m = ckeras_sequential("r");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
    ck_assert(d->w[0].l1 == 0.1f && d->w[0].l2 == 0.2f);
    ck_assert(d->w[1].l1 == 0.0f && d->w[1].l2 == 0.03f);
    ck_assert(d->act_l1 == 0.5f && d->act_l2 == 0.0f);
    ckeras_model_free(m);

    /* the readers: a config with Keras' object forms */
    ckeras_layer *r = ckeras_layer_from_config(
        "Dense", "{\"units\": 2, \"kernel_regularizer\": {\"module\": \"keras.regularizers\", \"class_name\": \"L1L2\", "
                 "\"config\": {\"l1\": 0.25, \"l2\": 0.125}, \"registered_name\": null}, \"activity_regularizer\": "
                 "{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}, \"kernel_constraint\": {\"module\": "
                 "\"keras.constraints\", \"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 3, \"axis\": [0]}, "
                 "\"registered_name\": null}, \"bias_constraint\": \"non_neg\"}");
    ck_assert_msg(r != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ck_layer_build(r, &(ck_shape){1, {4}}), CKERAS_OK);
    ck_assert(r->w[0].l1 == 0.25f && r->w[0].l2 == 0.125f && r->act_l2 == 0.01f);
    ck_assert_int_eq(r->w[0].constraint.kind, CK_CONSTRAIN_MAX_NORM);
    ck_assert(r->w[0].constraint.max_value == 3.0f && r->w[0].constraint.axes == 1u);
    ck_assert_int_eq(r->w[1].constraint.kind, CK_CONSTRAIN_NON_NEG);
    ckeras_layer_free(r);
    /* a bad string read from a file is refused at build, naming the key */
    r = ckeras_layer_from_config("Dense", "{\"units\": 2, \"activity_regularizer\": \"l4\"}");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(ck_layer_build(r, &(ck_shape){1, {4}}), CKERAS_EINVAL);
    ck_assert_msg(has(ckeras_last_error(), "Dense") && has(ckeras_last_error(), "activity_regularizer"), "%s",
                  ckeras_last_error());
    ckeras_layer_free(r);
}
END_TEST

START_TEST(constraint_forms)
{
    static const struct {
        const char *spec;
        int kind;
        float lo, hi, rate;
        uint32_t axes; /* for a weight of rank 4 */
    } ok[] = {
        {"max_norm", CK_CONSTRAIN_MAX_NORM, 0, 2, 1, 1u},
        {"MaxNorm", CK_CONSTRAIN_MAX_NORM, 0, 2, 1, 1u},
        {"MaxNorm(max_value=3,axis=[0,1,2])", CK_CONSTRAIN_MAX_NORM, 0, 3, 1, 7u},
        {"max_norm(axis=-1)", CK_CONSTRAIN_MAX_NORM, 0, 2, 1, 8u},
        {"MaxNorm(axis=None)", CK_CONSTRAIN_MAX_NORM, 0, 2, 1, 15u},
        {"MaxNorm(max_value=0.5, axis=[ -1, 0 ])", CK_CONSTRAIN_MAX_NORM, 0, 0.5f, 1, 9u},
        {"non_neg", CK_CONSTRAIN_NON_NEG, 0, 1, 1, 0u},
        {"NonNeg()", CK_CONSTRAIN_NON_NEG, 0, 1, 1, 0u},
        {"unit_norm", CK_CONSTRAIN_UNIT_NORM, 0, 1, 1, 1u},
        {"UnitNorm(axis=2)", CK_CONSTRAIN_UNIT_NORM, 0, 1, 1, 4u},
        {"min_max_norm", CK_CONSTRAIN_MIN_MAX_NORM, 0, 1, 1, 1u},
        {"MinMaxNorm(min_value=0.5,max_value=2,rate=0.3,axis=[1,-1])", CK_CONSTRAIN_MIN_MAX_NORM, 0.5f, 2, 0.3f, 10u},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_constraint c;
        ck_assert_msg(ck_constraint_parse(ok[i].spec, 4, &c) == CKERAS_OK, "%s: %s", ok[i].spec, ckeras_last_error());
        ck_assert_msg(c.kind == ok[i].kind && c.min_value == ok[i].lo && c.max_value == ok[i].hi &&
                          c.rate == ok[i].rate && c.axes == ok[i].axes,
                      "%s: kind %d [%g, %g] rate %g axes %x", ok[i].spec, c.kind, c.min_value, c.max_value, c.rate,
                      c.axes);
    }
    static const struct {
        const char *spec;
        int rank;
        const char *msg;
    } bad[] = {
        {"max_norms", 4, "unknown 'max_norms'"},
        {"MaxNorm(max_value=abc)", 4, "cannot parse"},
        {"NonNeg(axis=0)", 4, "takes no argument 'axis'"},
        {"UnitNorm(max_value=1)", 4, "takes no argument 'max_value'"},
        {"MaxNorm(axis=[])", 4, "must not be empty"},
        {"MaxNorm(axis=4)", 4, "out of range"},
        {"MaxNorm(axis=[0,-5])", 4, "out of range"},
        {"UnitNorm(axis=0.5)", 4, "integer"},
        {"MinMaxNorm(rate=None)", 4, "finite number"},
        {"l2", 4, "unknown 'l2'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_constraint c;
        ck_assert_msg(ck_constraint_parse(bad[i].spec, bad[i].rank, &c) == CKERAS_EINVAL, "%s accepted", bad[i].spec);
        ck_assert_msg(has(ckeras_last_error(), bad[i].msg), "%s: %s", bad[i].spec, ckeras_last_error());
    }
    /* the setter checks the spec; the axes against the weight's rank at build */
    ckeras_layer *d = ckeras_dense(3, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_constraint", "max_nrm"), CKERAS_EINVAL);
    ck_assert_msg(has(ckeras_last_error(), "kernel_constraint") && has(ckeras_last_error(), "accepted") &&
                      has(ckeras_last_error(), "MinMaxNorm(min_value=..,max_value=..,rate=..,axis=..)"),
                  "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_constraint", "MaxNorm(axis=2)"), CKERAS_OK);
    ckeras_model *m = ckeras_sequential("c");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){2})), CKERAS_OK);
    ck_assert_int_ne(ckeras_model_add(m, d), CKERAS_OK);
    ck_assert_msg(has(ckeras_last_error(), "kernel_constraint") && has(ckeras_last_error(), "out of range"), "%s",
                  ckeras_last_error());
    ckeras_model_free(m);
    d = ckeras_dense(3, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_constraint", "{\"module\": \"keras.constraints\", \"class_name\": "
                                                                  "\"MinMaxNorm\", \"config\": {\"min_value\": 0.5, "
                                                                  "\"max_value\": 1.5, \"rate\": 0.25, \"axis\": [0, 1]}, "
                                                                  "\"registered_name\": null}"),
                     CKERAS_OK);
    ck_assert_int_eq(ck_layer_build(d, &(ck_shape){1, {4}}), CKERAS_OK);
    const ck_constraint *c = &d->w[0].constraint;
    ck_assert(c->kind == CK_CONSTRAIN_MIN_MAX_NORM && c->min_value == 0.5f && c->max_value == 1.5f &&
              c->rate == 0.25f && c->axes == 3u);
    ckeras_layer_free(d);
}
END_TEST

/* each constraint on a (2, 2) weight [[3, 0], [4, 1]], worked by hand (eps = 1e-7) */
START_TEST(constraint_values)
{
    const ck_shape s = {2, {2, 2}};
    const float w0[4] = {3, 0, 4, 1};
    static const struct {
        const char *spec;
        double want[4];
    } cases[] = {
        /* column norms 5 and 1: the first scaled to 2.5, the second kept (times 1 / (1 + 1e-7)) */
        {"MaxNorm(max_value=2.5,axis=0)", {3 * 2.5 / 5, 0, 4 * 2.5 / 5, 1 / (1 + 1e-7)}},
        /* row norms 3 and sqrt(17) */
        {"UnitNorm(axis=1)", {1, 0, 4 / sqrt(17.0), 1 / sqrt(17.0)}},
        /* column 0: desired 0.5 * 3 + 0.5 * 5 = 4; column 1: 0.5 * 2 + 0.5 * 1 = 1.5 */
        {"MinMaxNorm(min_value=2,max_value=3,rate=0.5,axis=0)", {3 * 0.8, 0, 4 * 0.8, 1.5}},
        /* one norm sqrt(26) over both axes */
        {"MaxNorm(max_value=1,axis=[0,1])", {3 / sqrt(26.0), 0, 4 / sqrt(26.0), 1 / sqrt(26.0)}},
        {"MaxNorm(max_value=1,axis=None)", {3 / sqrt(26.0), 0, 4 / sqrt(26.0), 1 / sqrt(26.0)}},
        {"UnitNorm(axis=-2)", {3 / 5.0, 0, 4 / 5.0, 1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_constraint c;
        ck_assert_int_eq(ck_constraint_parse(cases[i].spec, 2, &c), CKERAS_OK);
        float w[4], want[4];
        memcpy(w, w0, sizeof w);
        for (int k = 0; k < 4; k++)
            want[k] = (float)cases[i].want[k];
        ck_constraint_apply(&c, w, &s);
        tu_assert_close(w, want, 4, 1e-6, 1e-6, cases[i].spec);
    }
    /* NonNeg: negatives (and -0) to 0 */
    ck_constraint c;
    ck_assert_int_eq(ck_constraint_parse("non_neg", 3, &c), CKERAS_OK);
    float v[6] = {-1, 2, -0.0f, 0.5f, -3, 0};
    const float want[6] = {0, 2, 0, 0.5f, 0, 0};
    ck_constraint_apply(&c, v, &(ck_shape){3, {1, 2, 3}});
    tu_assert_close(v, want, 6, 0, 0, "NonNeg");
    /* a rank-4 kernel (kh, kw, cin, cout) with Keras' Conv2D axes [0, 1, 2]: each filter's norm */
    float k4[2 * 2 * 3 * 2];
    h_seed(5);
    fill(k4, 24, -1, 1);
    ck_assert_int_eq(ck_constraint_parse("MaxNorm(max_value=0.5,axis=[0,1,2])", 4, &c), CKERAS_OK);
    ck_constraint_apply(&c, k4, &(ck_shape){4, {2, 2, 3, 2}});
    for (int o = 0; o < 2; o++) {
        double sq = 0;
        for (int e = 0; e < 12; e++)
            sq += (double)k4[e * 2 + o] * k4[e * 2 + o];
        ck_assert_double_eq_tol(sqrt(sq), 0.5, 1e-6);
    }
}
END_TEST

/* the loss of Input(3) -> Dense(4, tanh, activity L1L2(0.05, 0.1)) -> Dense(2, activity "l2"),
 * mse, computed here in double from the model's weights */
static double hand_loss(ckeras_model *m, const float *x, const float *y, int n)
{
    const ckeras_layer *a = ckeras_model_layer(m, 0), *b = ckeras_model_layer(m, 1);
    const float *k1 = a->w[0].data, *b1 = a->w[1].data, *k2 = b->w[0].data, *b2 = b->w[1].data;
    double mse = 0, pen = 0;
    for (int s = 0; s < n; s++) {
        double h[4], o[2];
        for (int j = 0; j < 4; j++) {
            double z = b1[j];
            for (int i = 0; i < 3; i++)
                z += (double)x[s * 3 + i] * k1[i * 4 + j];
            h[j] = tanh(z);
            pen += 0.05 * fabs(h[j]) + 0.1 * h[j] * h[j];
        }
        for (int j = 0; j < 2; j++) {
            o[j] = b2[j];
            for (int i = 0; i < 4; i++)
                o[j] += h[i] * k2[i * 2 + j];
            pen += 0.01 * o[j] * o[j];
            mse += (o[j] - y[s * 2 + j]) * (o[j] - y[s * 2 + j]) / (2.0 * n);
        }
    }
    return mse + pen;
}

START_TEST(activity_penalty_loss_and_gradient)
{
    enum { N = 5 };
    ckeras_model *m = ckeras_sequential("act");
    ckeras_layer *a = ckeras_dense(4, "tanh"), *b = ckeras_dense(2, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(a, "activity_regularizer", "L1L2(l1=0.05,l2=0.1)"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(b, "activity_regularizer", "l2"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, a), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, b), CKERAS_OK);
    const double lr = 0.05;
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(lr, 0, 0), "mse", NULL), CKERAS_OK);
    h_seed(11);
    fill(a->w[1].data, 4, -0.3, 0.3);
    fill(b->w[1].data, 2, -0.3, 0.3);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){N, 3});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){N, 2});
    fill(ckeras_tensor_data(x), N * 3, -1, 1);
    fill(ckeras_tensor_data(y), N * 2, -1, 1);
    const float *xv = ckeras_tensor_data(x), *yv = ckeras_tensor_data(y);
    double res;
    ck_assert_int_eq(ckeras_model_evaluate(m, x, y, N, &res, 1), CKERAS_OK);
    ck_assert_double_eq_tol(res, hand_loss(m, xv, yv, N), 1e-5 * (1 + fabs(res)));

    /* the gradient one SGD step applied, against central differences of the loss */
    ck_weight *ws[4] = {&a->w[0], &a->w[1], &b->w[0], &b->w[1]};
    int64_t total = 0;
    for (int k = 0; k < 4; k++)
        total += ws[k]->size;
    float *before = xcalloc(total), *num = xcalloc(total), *ana = xcalloc(total);
    int64_t at = 0;
    for (int k = 0; k < 4; k++) {
        for (int64_t e = 0; e < ws[k]->size; e++, at++) {
            float *v = &ws[k]->data[e], keep = *v;
            const double eps = 1e-3;
            *v = (float)(keep + eps);
            double up = hand_loss(m, xv, yv, N);
            ck_assert_int_eq(ckeras_model_evaluate(m, x, y, N, &res, 1), CKERAS_OK);
            ck_assert_double_eq_tol(res, up, 1e-5 * (1 + fabs(up)));
            *v = (float)(keep - eps);
            double down = hand_loss(m, xv, yv, N);
            *v = keep;
            before[at] = keep;
            num[at] = (float)((up - down) / (2 * eps));
        }
    }
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, &res, 1), CKERAS_OK);
    at = 0;
    for (int k = 0; k < 4; k++)
        for (int64_t e = 0; e < ws[k]->size; e++, at++)
            ana[at] = (float)((before[at] - ws[k]->data[e]) / lr);
    tu_assert_close(ana, num, (size_t)total, 2e-4, 2e-3, "activity penalty gradient");
    free(before);
    free(num);
    free(ana);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* strings set on a layer are written as Keras' objects and read back the same; the constraint
 * holds after every step of a fit */
START_TEST(save_load_and_fit)
{
    ckeras_model *m = ckeras_sequential("sl");
    ckeras_layer *d = ckeras_dense(3, "tanh");
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_constraint", "MaxNorm(max_value=0.25,axis=[0])"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "bias_constraint", "non_neg"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "kernel_regularizer", "l1l2"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "bias_regularizer", "l1_l2"), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(d, "activity_regularizer", "l1"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, d), CKERAS_OK);
    ckeras_layer *e = ckeras_dense(2, NULL);
    ck_assert_int_eq(ckeras_layer_set_str(e, "kernel_constraint", "min_max_norm"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, e), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.05), "mse", NULL), CKERAS_OK);
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){16, 4});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){16, 2});
    h_seed(3);
    fill(ckeras_tensor_data(x), 64, -1, 1);
    fill(ckeras_tensor_data(y), 32, -2, 2);
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(fa, "epochs", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(fa, "batch_size", 4), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(fa, "verbose", 0), CKERAS_OK);
    ck_assert_msg(ckeras_model_fit(m, x, y, fa, NULL) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_fit_args_free(fa);
    for (int o = 0; o < 3; o++) { /* each unit's incoming weights within 0.25 */
        double sq = 0;
        for (int i = 0; i < 4; i++)
            sq += (double)d->w[0].data[i * 3 + o] * d->w[0].data[i * 3 + o];
        ck_assert_double_le(sqrt(sq), 0.25 + 1e-6);
        ck_assert(d->w[1].data[o] >= 0.0f);
    }
    for (int o = 0; o < 2; o++) { /* MinMaxNorm's defaults: norms in [0, 1] */
        double sq = 0;
        for (int i = 0; i < 3; i++)
            sq += (double)e->w[0].data[i * 2 + o] * e->w[0].data[i * 2 + o];
        ck_assert_double_le(sqrt(sq), 1.0 + 1e-6);
    }
    char *json = NULL;
    ck_assert_int_eq(ckeras_model_to_json(m, &json), CKERAS_OK);
    ck_assert_msg(has(json, "\"kernel_constraint\":{\"class_name\":\"MaxNorm\",\"config\":{\"max_value\":0.25,"
                            "\"axis\":[0]}}") &&
                      has(json, "\"bias_constraint\":{\"class_name\":\"NonNeg\",\"config\":{}}") &&
                      has(json, "\"kernel_regularizer\":{\"class_name\":\"L1L2\",\"config\":{}}") &&
                      has(json, "\"bias_regularizer\":{\"class_name\":\"L1L2\",\"config\":{\"l1\":0.01,\"l2\":0.01}}") &&
                      has(json, "\"activity_regularizer\":{\"class_name\":\"L1\",\"config\":{\"l1\":0.01}}") &&
                      has(json, "\"kernel_constraint\":{\"class_name\":\"MinMaxNorm\",\"config\":{}}"),
                  "%s", json);
    ckeras_free(json);
    static const char *const files[] = {"m.h5", "m.keras"};
    for (int f = 0; f < 2; f++) {
        tu_tmpdir_make("regcons");
        const char *path = tu_tmp(files[f]);
        ck_assert_int_eq(ckeras_model_save(m, path, 0), CKERAS_OK);
        ckeras_model *r = NULL;
        ck_assert_msg(ckeras_load_model(path, 0, &r) == CKERAS_OK, "%s", ckeras_last_error());
        const ckeras_layer *rd = ckeras_model_layer(r, 0), *re = ckeras_model_layer(r, 1);
        ck_assert(rd->w[0].constraint.kind == CK_CONSTRAIN_MAX_NORM && rd->w[0].constraint.max_value == 0.25f &&
                  rd->w[0].constraint.axes == 1u);
        ck_assert_int_eq(rd->w[1].constraint.kind, CK_CONSTRAIN_NON_NEG);
        ck_assert(rd->w[0].l1 == 0.0f && rd->w[0].l2 == 0.0f && rd->w[1].l1 == 0.01f && rd->w[1].l2 == 0.01f);
        ck_assert(rd->act_l1 == 0.01f && rd->act_l2 == 0.0f);
        ck_assert(re->w[0].constraint.kind == CK_CONSTRAIN_MIN_MAX_NORM && re->w[0].constraint.max_value == 1.0f);
        ckeras_model_free(r);
        tu_tmpdir_remove();
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
}
END_TEST

/* the wrappers and attention: what applies, and what is refused with the reason */
START_TEST(refusals)
{
    ckeras_layer *l = ckeras_layer_from_config("MultiHeadAttention", "{\"num_heads\": 2, \"key_dim\": 2, "
                                                                     "\"activity_regularizer\": \"l2\"}");
    ck_assert_ptr_nonnull(l);
    const ck_shape ins[2] = {{2, {3, 4}}, {2, {2, 4}}};
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 2), CKERAS_OK); /* on each projection (the catalogue) */
    ckeras_layer_free(l);
    l = ckeras_layer_from_config("MultiHeadAttention", "{\"num_heads\": 2, \"key_dim\": 2, "
                                                       "\"activity_regularizer\": \"L3\"}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build_multi(l, ins, 2), CKERAS_EINVAL);
    ck_assert_msg(has(ckeras_last_error(), "MultiHeadAttention") && has(ckeras_last_error(), "activity_regularizer"),
                  "%s", ckeras_last_error());
    ckeras_layer_free(l);

    /* TimeDistributed: the wrapped layer's weight constraints and regularizers are its weights' */
    l = ckeras_layer_from_config("TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 2, "
                                                    "\"kernel_constraint\": \"max_norm\", \"bias_regularizer\": "
                                                    "\"l2\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_OK);
    ck_assert(l->w[0].constraint.kind == CK_CONSTRAIN_MAX_NORM && l->w[1].l2 == 0.01f);
    ckeras_layer_free(l);
    l = ckeras_layer_from_config("TimeDistributed", "{\"layer\": {\"class_name\": \"Dense\", \"config\": {\"units\": 2, "
                                                    "\"activity_regularizer\": \"l1\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_EUNSUPPORTED);
    ck_assert_msg(has(ckeras_last_error(), "activity_regularizer") && has(ckeras_last_error(), "Keras 3 ignores"),
                  "%s", ckeras_last_error());
    ckeras_layer_free(l);

    /* Bidirectional: the wrapped layer's constraints and regularizers are both directions' */
    l = ckeras_layer_from_config("Bidirectional", "{\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"units\": 2, "
                                                  "\"recurrent_constraint\": \"unit_norm\", \"kernel_regularizer\": "
                                                  "\"l1\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_OK);
    ck_assert_int_eq(l->nw, 6);
    for (int d = 0; d < 2; d++)
        ck_assert(l->w[3 * d].l1 == 0.01f && l->w[3 * d + 1].constraint.kind == CK_CONSTRAIN_UNIT_NORM &&
                  l->w[3 * d + 2].constraint.kind == 0);
    ckeras_layer_free(l);
    l = ckeras_layer_from_config("Bidirectional", "{\"layer\": {\"class_name\": \"LSTM\", \"config\": {\"units\": 2, "
                                                  "\"activity_regularizer\": \"l2\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_EUNSUPPORTED);
    ck_assert_msg(has(ckeras_last_error(), "activity_regularizer"), "%s", ckeras_last_error());
    ckeras_layer_free(l);
    /* an RNN's cell: its regularizers and constraints are the RNN's weights' */
    l = ckeras_layer_from_config("RNN", "{\"cell\": {\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2, "
                                        "\"kernel_constraint\": \"max_norm\", \"bias_regularizer\": \"l1\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_OK);
    ck_assert(l->w[0].constraint.kind == CK_CONSTRAIN_MAX_NORM && l->w[2].l1 == 0.01f);
    ckeras_layer_free(l);
    l = ckeras_layer_from_config("RNN", "{\"cell\": {\"class_name\": \"LSTMCell\", \"config\": {\"units\": 2, "
                                        "\"kernel_constraint\": \"max_nrm\"}}}");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ck_layer_build(l, &(ck_shape){2, {3, 4}}), CKERAS_EINVAL);
    ck_assert_msg(has(ckeras_last_error(), "RNN") && has(ckeras_last_error(), "max_nrm"), "%s", ckeras_last_error());
    ckeras_layer_free(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regcons");
    TCase *tc = tcase_create("regcons");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, regularizer_forms);
    tcase_add_test(tc, regularizer_setter);
    tcase_add_test(tc, constraint_forms);
    tcase_add_test(tc, constraint_values);
    tcase_add_test(tc, activity_penalty_loss_and_gradient);
    tcase_add_test(tc, save_load_and_fit);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
