/* Learning-rate schedules against Keras' own values (tests/fixtures/schedules/schedules.json,
 * written by real Keras 3.11.3 through tests/ref/schedules_ref.py): the learning rate at chosen
 * steps for every class, the config Keras serializes, three SGD steps of a Dense model under
 * ExponentialDecay (learning rate before each step, weights after), the schedule kept through
 * .h5 (both profiles) and .keras files, and the errors. */
#include "optimizers/optimizers.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static json_t *fixture(void)
{
    return tu_load_json("schedules/schedules.json");
}

static ckeras_optimizer *sgd_with(json_t *c)
{
    ckeras_optimizer *o = ckeras_sgd(0.01, 0, 0);
    ck_assert_ptr_nonnull(o);
    char *cfg = json_dumps(json_object_get(c, "config"), JSON_COMPACT);
    const char *cls = json_string_value(json_object_get(c, "class_name"));
    ck_assert_msg(ckeras_optimizer_set_schedule(o, cls, cfg) == CKERAS_OK, "%s %s: %s", cls, cfg, ckeras_last_error());
    free(cfg);
    return o;
}

START_TEST(every_schedule_matches_keras_at_chosen_steps)
{
    json_t *root = fixture();
    json_t *steps = tu_get(root, "steps");
    size_t i;
    json_t *c;
    int checked = 0;
    json_array_foreach(tu_get(root, "cases"), i, c)
    {
        ckeras_optimizer *o = sgd_with(c);
        json_t *lr = json_object_get(c, "lr");
        for (size_t k = 0; k < json_array_size(steps); k++) {
            int64_t step = json_integer_value(json_array_get(steps, k));
            double want = json_real_value(json_array_get(lr, k)) + (double)json_integer_value(json_array_get(lr, k));
            double got = ck_schedule_lr(o->sched, step);
            ck_assert_msg(fabs(got - want) <= 1e-9 + 2e-6 * fabs(want), "case %zu (%s) step %lld: %.9g, Keras %.9g", i,
                          json_string_value(json_object_get(c, "class_name")), (long long)step, got, want);
            checked++;
        }
        /* the optimizer's current rate is the value at its step count (0 here) */
        ck_assert(ckeras_optimizer_learning_rate(o) == (double)ck_schedule_lr(o->sched, 0));
        ckeras_optimizer_free(o);
    }
    ck_assert_int_ge(checked, 15 * 24);
    json_decref(root);
}
END_TEST

/* Keras 3's serialize() form read back, and written as Keras writes it (key by key, numbers
 * compared as numbers: Keras keeps decay_steps an int where ckeras writes a float) */
START_TEST(configs_read_and_write_keras_form)
{
    json_t *root = fixture();
    size_t i;
    json_t *c;
    json_array_foreach(tu_get(root, "cases"), i, c)
    {
        json_t *ser = json_object_get(c, "serialized");
        json_t *kcfg = json_object_get(ser, "config");
        ckeras_optimizer *o = sgd_with(c);
        ck_tree *t = ck_schedule_to_tree(o->sched);
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(ck_tree_string(ck_tree_get(t, "module")), json_string_value(json_object_get(ser, "module")));
        ck_assert_str_eq(ck_tree_string(ck_tree_get(t, "class_name")), json_string_value(json_object_get(ser, "class_name")));
        ck_assert_int_eq(ck_tree_get(t, "registered_name")->kind, CK_T_NULL);
        ck_tree *mine = ck_tree_get(t, "config");
        const char *key;
        json_t *v;
        json_object_foreach(kcfg, key, v)
        {
            ck_tree *m = ck_tree_get(mine, key);
            ck_assert_msg(m != NULL, "case %zu: ckeras does not write '%s'", i, key);
            if (json_is_number(v))
                ck_assert_msg(ck_tree_is_number(m) && ck_tree_number(m) == json_number_value(v), "case %zu: %s", i, key);
            else if (json_is_string(v))
                ck_assert_str_eq(ck_tree_string(m), json_string_value(v));
            else if (json_is_boolean(v))
                ck_assert_msg(m->kind == CK_T_BOOL && (m->i != 0) == json_is_true(v), "case %zu: %s", i, key);
            else if (json_is_null(v))
                ck_assert_int_eq(m->kind, CK_T_NULL);
            else if (json_is_array(v)) {
                ck_assert_int_eq(m->kind, CK_T_LIST);
                ck_assert_int_eq(m->n, (int)json_array_size(v));
                for (int k = 0; k < m->n; k++)
                    ck_assert(ck_tree_number(m->items[k]) == json_number_value(json_array_get(v, (size_t)k)));
            }
        }
        ck_assert_int_eq(mine->n, (int)json_object_size(kcfg)); /* nothing more */
        /* and Keras' form reads back to the same values */
        char *text = json_dumps(kcfg, JSON_COMPACT);
        ckeras_optimizer *o2 = ckeras_sgd(0.01, 0, 0);
        ck_assert_int_eq(ckeras_optimizer_set_schedule(o2, json_string_value(json_object_get(ser, "class_name")), text),
                         CKERAS_OK);
        for (int64_t s = 0; s < 400; s += 7)
            ck_assert(ck_schedule_lr(o2->sched, s) == ck_schedule_lr(o->sched, s));
        free(text);
        ck_tree_free(t);
        ckeras_optimizer_free(o);
        ckeras_optimizer_free(o2);
    }
    json_decref(root);
}
END_TEST

static ckeras_model *dense_model(json_t *tr)
{
    ckeras_model *m = ckeras_sequential("sched");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, NULL)), CKERAS_OK);
    ckeras_layer *d = ckeras_model_layer(m, 0);
    const char *keys[2] = {"kernel", "bias"};
    for (int w = 0; w < 2; w++) {
        size_t n;
        float *v = tu_floats(tu_get(tr, keys[w]), &n, NULL, NULL);
        ckeras_tensor *view = NULL;
        ck_assert_int_eq(ckeras_layer_weight(d, w, NULL, &view), CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_size(view), (int64_t)n);
        memcpy(ckeras_tensor_data(view), v, n * sizeof(float));
        ckeras_tensor_free(view);
        free(v);
    }
    return m;
}

static ckeras_tensor *tensor_of(json_t *arr)
{
    size_t n;
    int64_t shape[8];
    int ndim;
    float *v = tu_floats(arr, &n, shape, &ndim);
    ckeras_tensor *t = ckeras_tensor_new(ndim, shape);
    memcpy(ckeras_tensor_data(t), v, n * sizeof(float));
    free(v);
    return t;
}

static void assert_weights(ckeras_model *m, json_t *step, const char *what)
{
    ckeras_layer *d = ckeras_model_layer(m, 0);
    const char *keys[2] = {"kernel", "bias"};
    for (int w = 0; w < 2; w++) {
        size_t n;
        float *want = tu_floats(json_object_get(step, keys[w]), &n, NULL, NULL);
        ckeras_tensor *view = NULL;
        ck_assert_int_eq(ckeras_layer_weight(d, w, NULL, &view), CKERAS_OK);
        tu_assert_close(ckeras_tensor_data(view), want, n, 1e-6, 1e-6, what);
        ckeras_tensor_free(view);
        free(want);
    }
}

START_TEST(sgd_under_exponential_decay_trains_as_keras)
{
    json_t *root = fixture();
    json_t *tr = tu_get(root, "train");
    ckeras_model *m = dense_model(tr);
    ckeras_optimizer *o = sgd_with(json_object_get(tr, "schedule"));
    ck_assert_int_eq(ckeras_model_compile(m, o, "mse", NULL), CKERAS_OK);
    ck_assert_ptr_eq(ckeras_model_optimizer(m), o);
    ckeras_tensor *x = tensor_of(json_object_get(tr, "x")), *y = tensor_of(json_object_get(tr, "y"));
    json_t *steps = json_object_get(tr, "steps");
    for (size_t k = 0; k < json_array_size(steps); k++) {
        json_t *st = json_array_get(steps, k);
        double want = json_number_value(json_object_get(st, "lr_before"));
        ck_assert_double_eq_tol(ckeras_optimizer_learning_rate(ckeras_model_optimizer(m)), want, 1e-7);
        ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_optimizer_iterations(ckeras_model_optimizer(m)), (int64_t)k + 1);
        char what[32];
        snprintf(what, sizeof what, "step %zu", k + 1);
        assert_weights(m, st, what);
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_model_free(m);
    json_decref(root);
}
END_TEST

/* .h5 (tf.keras 2 and Keras 3 layouts) and .keras keep the schedule and the step count: the
 * reloaded model's next step is Keras' third */
START_TEST(files_keep_the_schedule)
{
    json_t *root = fixture();
    json_t *tr = tu_get(root, "train");
    json_t *steps = json_object_get(tr, "steps");
    ckeras_tensor *x = tensor_of(json_object_get(tr, "x")), *y = tensor_of(json_object_get(tr, "y"));
    tu_tmpdir_make("schedules");
    static const struct {
        const char *file;
        int flags;
    } fmts[] = {{"m.h5", 0}, {"m3.h5", CKERAS_SAVE_KERAS3}, {"m.keras", 0}};
    for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        ckeras_model *m = dense_model(tr);
        ck_assert_int_eq(ckeras_model_compile(m, sgd_with(json_object_get(tr, "schedule")), "mse", NULL), CKERAS_OK);
        for (int k = 0; k < 2; k++)
            ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_model_save(m, tu_tmp(fmts[f].file), fmts[f].flags), CKERAS_OK);
        ckeras_model *r = NULL;
        ck_assert_msg(ckeras_load_model(tu_tmp(fmts[f].file), 0, &r) == CKERAS_OK, "%s: %s", fmts[f].file,
                      ckeras_last_error());
        ckeras_optimizer *ro = ckeras_model_optimizer(r);
        ck_assert_ptr_nonnull(ro);
        ck_assert_int_eq(ckeras_optimizer_iterations(ro), 2);
        ck_assert_ptr_nonnull(ro->sched);
        ck_assert_str_eq(ck_schedule_class(ro->sched), "ExponentialDecay");
        double want = json_number_value(json_object_get(json_array_get(steps, 2), "lr_before"));
        ck_assert_double_eq_tol(ckeras_optimizer_learning_rate(ro), want, 1e-7);
        ck_assert_int_eq(ckeras_model_train_on_batch(r, x, y, NULL, 0), CKERAS_OK);
        assert_weights(r, json_array_get(steps, 2), fmts[f].file);
        ckeras_model_free(r);
        ckeras_model_free(m);
    }
    tu_tmpdir_remove();
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    json_decref(root);
}
END_TEST

START_TEST(errors_are_clear_and_change_nothing)
{
    ckeras_optimizer *o = ckeras_sgd(0.05, 0, 0);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(NULL, "ExponentialDecay", "{}"), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "StepDecay", "{}"), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "CosineDecayRestarts"));
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "ExponentialDecay", NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "ExponentialDecay", "{not json"), CKERAS_EFORMAT);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "ExponentialDecay", "[1]"), CKERAS_EINVAL);
    /* a required key missing, a bad value, an unknown key */
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "ExponentialDecay", "{\"initial_learning_rate\": 0.1, "
                                                                          "\"decay_rate\": 0.5}"),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "decay_steps"));
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "CosineDecay", "{\"initial_learning_rate\": 0.1, "
                                                                     "\"decay_steps\": 0}"),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "CosineDecay", "{\"initial_learning_rate\": 0.1, "
                                                                     "\"decay_steps\": 10, \"warmup\": 3}"),
                     CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "warmup"));
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "PiecewiseConstantDecay",
                                                   "{\"boundaries\": [10, 5], \"values\": [1, 0.5, 0.1]}"),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "PiecewiseConstantDecay",
                                                   "{\"boundaries\": [10], \"values\": [1]}"),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "PiecewiseConstantDecay",
                                                   "{\"boundaries\": [10], \"values\": [1, \"x\"]}"),
                     CKERAS_EINVAL);
    /* nothing changed */
    ck_assert_ptr_null(o->sched);
    ck_assert_double_eq_tol(ckeras_optimizer_learning_rate(o), 0.05, 1e-9);
    /* with a schedule the learning rate cannot be set (Keras: TypeError); removing it restores it */
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, "PiecewiseConstantDecay",
                                                   "{\"boundaries\": [10], \"values\": [1, 0.5]}"),
                     CKERAS_OK);
    ck_assert(ckeras_optimizer_learning_rate(o) == 1.0);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "learning_rate", 0.2), CKERAS_ESTATE);
    ck_assert_int_eq(ckeras_optimizer_set_float(o, "momentum", 0.5), CKERAS_OK); /* others still can */
    ck_assert_int_eq(ckeras_optimizer_set_schedule(o, NULL, NULL), CKERAS_OK);
    ck_assert_double_eq_tol(ckeras_optimizer_learning_rate(o), 0.05, 1e-9);
    ck_assert(isnan(ckeras_optimizer_learning_rate(NULL)));
    ckeras_optimizer_free(o);
    /* a model's optimizer exists only after compile */
    ckeras_model *m = ckeras_sequential("m");
    ck_assert_ptr_null(ckeras_model_optimizer(m));
    ck_assert_ptr_null(ckeras_model_optimizer(NULL));
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedules");
    TCase *tc = tcase_create("schedules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_schedule_matches_keras_at_chosen_steps);
    tcase_add_test(tc, configs_read_and_write_keras_form);
    tcase_add_test(tc, sgd_under_exponential_decay_trains_as_keras);
    tcase_add_test(tc, files_keep_the_schedule);
    tcase_add_test(tc, errors_are_clear_and_change_nothing);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
