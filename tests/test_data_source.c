/* Data sources (include/ckeras.h, "Data sources"):
 *  - fit from a user callback source and from the HDF5 source equals fit from the same arrays,
 *    bit for bit (memcmp of every weight and of every History value), for a model with two
 *    inputs and two outputs, shuffle on, validation_split, and validation data as a second
 *    source; evaluate and predict from a source equal the array versions (memcmp);
 *  - a fill that fails stops fit with its status and message, the weights of the last finished
 *    epoch kept (memcmp against a fit of that many epochs); NaN and bad sparse labels served by
 *    a source are refused naming the sample; shapes that do not match the model are refused;
 *  - the HDF5 source reads integer and double data sets through HDF5's conversion; missing file,
 *    missing data set, rank 0, strings and differing sample counts are clear errors;
 *  - image folders (tests/fixtures/images, made by tests/ref/image_album_ref.py): class names,
 *    file order and labels, the shuffled order (numpy's RandomState(seed)) and the validation
 *    subset as Keras 3.11.3's own index_directory and get_training_or_validation_split give them, pixels against PIL's decoding
 *    (PNG exactly; JPEG through the same libjpeg-turbo: exactly too, see below) and the resize
 *    against PyTorch's bilinear interpolate (align_corners=False, antialias=False);
 *    label modes, color modes; a damaged, truncated or fake image is an error naming the file;
 *    a small CNN trains on the folder. */
#include "model/model.h"
#include "testutil.h"

#include <hdf5.h>
#include <png.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "api_ids.h"

#define N 30

/* ---- a model with two inputs and two outputs, and its data -------------------------------- */

static ckeras_layer *named(ckeras_layer *l, const char *name)
{
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(ckeras_layer_set_name(l, name), CKERAS_OK);
    return l;
}

/* a: 4 features, b: (3,) -> Concatenate -> Dense(8, relu) -> "cls" Dense(3 softmax), "reg" Dense(2) */
static ckeras_model *two_io(void)
{
    ckeras_set_random_seed(7);
    ckeras_model *m = ckeras_functional("two_io");
    ck_assert_ptr_nonnull(m);
    int a = id_input(m, named(ckeras_input(1, (const int64_t[]){4}), "a"));
    int b = id_input(m, named(ckeras_input(1, (const int64_t[]){3}), "b"));
    int c = id_call(m, ckeras_concatenate(-1), 2, (const int[]){a, b});
    int h = id_call(m, named(ckeras_dense(8, "relu"), "h"), 1, &c);
    int cls = id_call(m, named(ckeras_dense(3, "softmax"), "cls"), 1, &h);
    int reg = id_call(m, named(ckeras_dense(2, NULL), "reg"), 1, &h);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){cls, reg}), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile_outputs(m, ckeras_adam(0.01), 2, NULL,
                                                  (const char *const[]){"sparse_categorical_crossentropy", "mse"},
                                                  (const double[]){1.0, 0.5},
                                                  (const char *const[]){"accuracy", "mae"}),
                     CKERAS_OK);
    return m;
}

static float lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

typedef struct data {
    ckeras_tensor *x[2], *y[2];
} data;

static data make_data(int64_t n, uint32_t seed)
{
    data d;
    d.x[0] = ckeras_tensor_new(2, (const int64_t[]){n, 4});
    d.x[1] = ckeras_tensor_new(2, (const int64_t[]){n, 3});
    d.y[0] = ckeras_tensor_new(1, (const int64_t[]){n});
    d.y[1] = ckeras_tensor_new(2, (const int64_t[]){n, 2});
    for (int64_t i = 0; i < n * 4; i++)
        ckeras_tensor_data(d.x[0])[i] = lcg(&seed);
    for (int64_t i = 0; i < n * 3; i++)
        ckeras_tensor_data(d.x[1])[i] = lcg(&seed);
    for (int64_t i = 0; i < n; i++)
        ckeras_tensor_data(d.y[0])[i] = (float)((i * 7 + seed) % 3);
    for (int64_t i = 0; i < n * 2; i++)
        ckeras_tensor_data(d.y[1])[i] = 2.0f * lcg(&seed);
    return d;
}

static void free_data(data *d)
{
    for (int k = 0; k < 2; k++) {
        ckeras_tensor_free(d->x[k]);
        ckeras_tensor_free(d->y[k]);
    }
}

/* ---- a user source serving arrays ----------------------------------------------------------- */

typedef struct arr_src {
    const data *d;
    int64_t calls, fail_at; /* fail_at >= 0: the fill with that number returns CKERAS_EIO */
    int64_t nan_sample;     /* >= 0: that sample's first input value is NaN */
    int64_t asked;          /* samples asked for */
    int freed;
} arr_src;

static int64_t per_sample(const ckeras_tensor *t)
{
    return ckeras_tensor_size(t) / ckeras_tensor_dim(t, 0);
}

static ckeras_status arr_fill(void *u, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    arr_src *s = u;
    if (s->calls++ == s->fail_at) {
        /* a message set by the fill is kept */
        ckeras_tensor *t = NULL;
        ckeras_read_npy("/nonexistent/dir/x.npy", &t);
        return CKERAS_EIO;
    }
    s->asked += n;
    for (int j = 0; j < 2; j++) {
        int64_t per = per_sample(s->d->x[j]);
        for (int64_t i = 0; i < n; i++)
            memcpy(x[j] + i * per, ckeras_tensor_data(s->d->x[j]) + idx[i] * per, (size_t)per * sizeof(float));
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] == s->nan_sample)
            x[0][i * 4] = NAN;
    for (int k = 0; y && k < 2; k++) {
        if (!y[k])
            continue;
        int64_t per = per_sample(s->d->y[k]);
        for (int64_t i = 0; i < n; i++)
            memcpy(y[k] + i * per, ckeras_tensor_data(s->d->y[k]) + idx[i] * per, (size_t)per * sizeof(float));
    }
    return CKERAS_OK;
}

static void arr_free(void *u)
{
    ((arr_src *)u)->freed++;
}

static ckeras_data_source *source_of(const data *d, arr_src *s)
{
    memset(s, 0, sizeof *s);
    s->d = d;
    s->fail_at = -1;
    s->nan_sample = -1;
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_data_source_new(ckeras_tensor_dim(d->x[0], 0), arr_fill, s, arr_free, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){4}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){3}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 1, (const int64_t[]){2}), CKERAS_OK);
    return src;
}

static ckeras_fit_args *args_of(int64_t epochs, double split)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "epochs", epochs);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_int(a, "shuffle", 1);
    if (split > 0)
        ckeras_fit_args_set_float(a, "validation_split", split);
    return a;
}

/* Every weight (trainable and not) and every History value, bit for bit. */
static void assert_same_run(const ckeras_model *a, const ckeras_model *b, const ckeras_history *ha,
                            const ckeras_history *hb)
{
    ck_assert_uint_eq(a->n_params, b->n_params);
    ck_assert_uint_eq(a->n_state, b->n_state);
    ck_assert(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
    ck_assert(a->n_state == 0 || memcmp(a->state, b->state, a->n_state * sizeof(float)) == 0);
    if (!ha && !hb)
        return;
    ck_assert_int_eq(ckeras_history_key_count(ha), ckeras_history_key_count(hb));
    for (int i = 0; i < ckeras_history_key_count(ha); i++) {
        const char *key = ckeras_history_key(ha, i);
        ck_assert_str_eq(key, ckeras_history_key(hb, i));
        const double *va, *vb;
        int na, nb;
        ck_assert_int_eq(ckeras_history_values(ha, key, &va, &na), CKERAS_OK);
        ck_assert_int_eq(ckeras_history_values(hb, key, &vb, &nb), CKERAS_OK);
        ck_assert_int_eq(na, nb);
        ck_assert_msg(memcmp(va, vb, (size_t)na * sizeof(double)) == 0, "History '%s' differs", key);
    }
}

START_TEST(fit_from_callback_source_equals_fit_from_arrays)
{
    data d = make_data(N, 3);
    ckeras_fit_args *fa = args_of(4, 0.2);
    ckeras_model *ma = two_io(), *mb = two_io();
    ckeras_history *ha = NULL, *hb = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, fa, &ha),
                     CKERAS_OK);
    arr_src s;
    ckeras_data_source *src = source_of(&d, &s);
    ck_assert_int_eq(ckeras_model_fit_source(mb, src, fa, &hb), CKERAS_OK);
    ck_assert_int_eq(ckeras_history_epochs(hb), 4);
    ck_assert_int_eq(ckeras_history_values(hb, "val_cls_accuracy", &(const double *){0}, &(int){0}), CKERAS_OK);
    assert_same_run(ma, mb, ha, hb);
    /* every epoch asks for the 24 training and the 6 validation samples, nothing more */
    ck_assert_int_eq(s.asked, 4 * N);

    /* evaluate and predict from the source equal the array versions */
    double ra[8], rb[8];
    int nr = ckeras_model_metrics_count(ma);
    ck_assert_int_eq(nr, 5);
    ck_assert_int_eq(ckeras_model_evaluate_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                                 (const ckeras_tensor *const *)d.y, 7, ra, nr),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_evaluate_source(mb, src, 7, rb, nr), CKERAS_OK);
    ck_assert(memcmp(ra, rb, (size_t)nr * sizeof(double)) == 0);
    ckeras_tensor *pa[2], *pb[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(ma, 2, (const ckeras_tensor *const *)d.x, 5, 2, pa), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict_source(mb, src, 5, 2, pb), CKERAS_OK);
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(ckeras_tensor_size(pa[k]), ckeras_tensor_size(pb[k]));
        ck_assert(memcmp(ckeras_tensor_data(pa[k]), ckeras_tensor_data(pb[k]),
                         (size_t)ckeras_tensor_size(pa[k]) * sizeof(float)) == 0);
        ckeras_tensor_free(pa[k]);
        ckeras_tensor_free(pb[k]);
    }
    ckeras_history_free(ha);
    ckeras_history_free(hb);
    ckeras_data_source_free(src);
    ck_assert_int_eq(s.freed, 1);
    ckeras_model_free(ma);
    ckeras_model_free(mb);
    ckeras_fit_args_free(fa);
    free_data(&d);
}
END_TEST

/* sample_weight (arrays in memory) with the samples from a source: the same run as from arrays,
 * and a different one from the unweighted run */
START_TEST(sample_weight_with_a_source)
{
    data d = make_data(N, 5);
    ckeras_tensor *w = ckeras_tensor_new(1, (const int64_t[]){N});
    for (int i = 0; i < N; i++)
        ckeras_tensor_data(w)[i] = (float)(i % 3) * 0.75f;
    ckeras_fit_args *fa = args_of(3, 0.2);
    const ckeras_tensor *ws[1] = {w};
    ck_assert_int_eq(ckeras_fit_args_set_sample_weight(fa, 1, ws), CKERAS_OK);
    ckeras_model *ma = two_io(), *mb = two_io(), *mc = two_io();
    ckeras_history *ha = NULL, *hb = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, fa, &ha),
                     CKERAS_OK);
    arr_src s;
    ckeras_data_source *src = source_of(&d, &s);
    ck_assert_msg(ckeras_model_fit_source(mb, src, fa, &hb) == CKERAS_OK, "%s", ckeras_last_error());
    assert_same_run(ma, mb, ha, hb);
    ckeras_fit_args *plain = args_of(3, 0.2);
    ck_assert_int_eq(ckeras_model_fit_source(mc, src, plain, NULL), CKERAS_OK);
    ck_assert(memcmp(mb->params, mc->params, mb->n_params * sizeof(float)) != 0);
    ckeras_history_free(ha);
    ckeras_history_free(hb);
    ckeras_data_source_free(src);
    ckeras_model_free(ma);
    ckeras_model_free(mb);
    ckeras_model_free(mc);
    ckeras_fit_args_free(fa);
    ckeras_fit_args_free(plain);
    ckeras_tensor_free(w);
    free_data(&d);
}
END_TEST

START_TEST(validation_source_equals_validation_arrays)
{
    data d = make_data(N, 5), v = make_data(11, 9);
    ckeras_fit_args *fa = args_of(3, 0), *fb = args_of(3, 0);
    ck_assert_int_eq(ckeras_fit_args_set_validation_data_multi(fa, 2, (const ckeras_tensor *const *)v.x, 2,
                                                               (const ckeras_tensor *const *)v.y),
                     CKERAS_OK);
    arr_src s, sv;
    ckeras_data_source *src = source_of(&d, &s), *vsrc = source_of(&v, &sv);
    ck_assert_int_eq(ckeras_fit_args_set_validation_source(fb, vsrc), CKERAS_OK);
    ckeras_model *ma = two_io(), *mb = two_io();
    ckeras_history *ha = NULL, *hb = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, fa, &ha),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_source(mb, src, fb, &hb), CKERAS_OK);
    assert_same_run(ma, mb, ha, hb);
    ck_assert_int_eq(sv.asked, 3 * 11);
    /* shuffle off too */
    ckeras_history_free(ha);
    ckeras_history_free(hb);
    ckeras_fit_args_set_int(fa, "shuffle", 0);
    ckeras_fit_args_set_int(fb, "shuffle", 0);
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, fa, &ha),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_source(mb, src, fb, &hb), CKERAS_OK);
    assert_same_run(ma, mb, ha, hb);
    ckeras_history_free(ha);
    ckeras_history_free(hb);
    ckeras_data_source_free(src);
    ckeras_data_source_free(vsrc);
    ckeras_model_free(ma);
    ckeras_model_free(mb);
    ckeras_fit_args_free(fa);
    ckeras_fit_args_free(fb);
    free_data(&d);
    free_data(&v);
}
END_TEST

START_TEST(failing_fill_stops_fit_keeping_last_epoch)
{
    data d = make_data(N, 3);
    ckeras_fit_args *f2 = args_of(2, 0.2), *f5 = args_of(5, 0.2);
    ckeras_model *ma = two_io(), *mb = two_io();
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, f2, NULL),
                     CKERAS_OK);
    arr_src s;
    ckeras_data_source *src = source_of(&d, &s);
    /* 6 training batches and 2 validation batches per epoch: fill 19 is in epoch 3 */
    s.fail_at = 19;
    ckeras_history *h = (ckeras_history *)1;
    ck_assert_int_eq(ckeras_model_fit_source(mb, src, f5, &h), CKERAS_EIO);
    ck_assert_ptr_null(h);
    const char *msg = ckeras_last_error();
    ck_assert_msg(strstr(msg, "fit: data source") && strstr(msg, "/nonexistent/dir/x.npy"), "%s", msg);
    assert_same_run(ma, mb, NULL, NULL);

    /* the same source serves again (the failure left no state behind) */
    s.fail_at = -1;
    ckeras_tensor *p[2];
    ck_assert_int_eq(ckeras_model_predict_source(mb, src, 8, 2, p), CKERAS_OK);
    ckeras_tensor_free(p[0]);
    ckeras_tensor_free(p[1]);
    ckeras_data_source_free(src);

    /* NaN served by a source: ENAN naming the sample */
    src = source_of(&d, &s);
    s.nan_sample = 17;
    ck_assert_int_eq(ckeras_model_evaluate_source(mb, src, 8, NULL, 0), CKERAS_ENAN);
    ck_assert_msg(strstr(ckeras_last_error(), "sample 17"), "%s", ckeras_last_error());
    ckeras_data_source_free(src);

    ckeras_model_free(ma);
    ckeras_model_free(mb);
    ckeras_fit_args_free(f2);
    ckeras_fit_args_free(f5);
    free_data(&d);
}
END_TEST

static ckeras_status status_only_fill(void *u, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    return CKERAS_EUNSUPPORTED;
}

static ckeras_status bad_label_fill(void *u, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    for (int64_t i = 0; i < n; i++) {
        for (int a = 0; a < 4; a++)
            x[0][i * 4 + a] = 0.5f;
        for (int a = 0; a < 3; a++)
            x[1][i * 3 + a] = 0.5f;
        if (y && y[0])
            y[0][i] = idx[i] == 4 ? 3.0f : 1.0f; /* 3 is not a class of a 3-way softmax */
        if (y && y[1])
            y[1][2 * i] = y[1][2 * i + 1] = 0.0f;
    }
    return CKERAS_OK;
}

/* 10 samples of the two-input, two-output model's layout ((4), (3) -> class, (2)) from fill */
static ckeras_data_source *two_io_source(ckeras_data_fill_fn fill)
{
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_data_source_new(10, fill, NULL, NULL, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){4}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){3}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 1, (const int64_t[]){2}), CKERAS_OK);
    return src;
}

START_TEST(misuse_gives_clear_errors)
{
    ckeras_model *m = two_io();
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_data_source_new(0, status_only_fill, NULL, NULL, &src), CKERAS_EINVAL);
    ck_assert_ptr_null(src);
    ck_assert_int_eq(ckeras_data_source_new(5, NULL, NULL, NULL, &src), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_data_source_new(5, status_only_fill, NULL, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_model_fit_source(m, NULL, NULL, NULL), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_data_source_new(10, status_only_fill, NULL, NULL, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_source(m, src, NULL, NULL), CKERAS_EINVAL); /* no input shape */
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){0}), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){4}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_input(src, 1, (const int64_t[]){5}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 0, NULL), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_add_target(src, 1, (const int64_t[]){2}), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_count(src), 10);
    int64_t shape[7];
    ck_assert_int_eq(ckeras_data_source_shape(src, 0, 1, shape), 2);
    ck_assert_int_eq(shape[0], 5);
    ck_assert_int_eq(ckeras_data_source_class_count(src), 0);
    ck_assert_ptr_null(ckeras_data_source_class_name(src, 0));
    ck_assert_ptr_null(ckeras_data_source_file_path(src, 0));
    /* input b has 5 features, the model 3 */
    ck_assert_int_eq(ckeras_model_fit_source(m, src, NULL, NULL), CKERAS_ESHAPE);
    ck_assert_msg(strstr(ckeras_last_error(), "expects (batch, 3"), "%s", ckeras_last_error());
    ckeras_data_source_free(src);

    src = two_io_source(status_only_fill);
    ckeras_fit_args *fa = args_of(2, 0);
    ck_assert_int_eq(ckeras_model_fit_source(m, src, fa, NULL), CKERAS_EUNSUPPORTED);
    ck_assert_msg(strstr(ckeras_last_error(), "returned CKERAS_EUNSUPPORTED"), "%s", ckeras_last_error());
    ckeras_data_source_free(src);

    src = two_io_source(bad_label_fill);
    ck_assert_int_eq(ckeras_model_fit_source(m, src, fa, NULL), CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "sample 4 is 3"), "%s", ckeras_last_error());
    /* predict does not read the targets */
    ckeras_tensor *p[2];
    ck_assert_int_eq(ckeras_model_predict_source(m, src, 4, 2, p), CKERAS_OK);
    ckeras_tensor_free(p[0]);
    ckeras_tensor_free(p[1]);
    ckeras_data_source_free(src);
    ckeras_data_source_free(NULL);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
}
END_TEST

/* ---- HDF5 --------------------------------------------------------------------------------- */

static void h5_write(hid_t f, const char *name, hid_t mtype, hid_t ftype, int nd, const hsize_t *dims,
                     const void *buf)
{
    hid_t sp = nd ? H5Screate_simple(nd, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t ds = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(ds, 0);
    ck_assert_int_ge(H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    H5Dclose(ds);
    H5Sclose(sp);
}

/* The data of d in path: a as float32 "/train/a", b as float64 "b", the class index as int32
 * "cls", the regression target as float32 "reg"; and bad data sets for the error checks. */
static void write_h5(const char *path, const data *d)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hid_t g = H5Gcreate2(f, "train", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    int64_t n = ckeras_tensor_dim(d->x[0], 0);
    h5_write(f, "/train/a", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, (hsize_t[]){(hsize_t)n, 4},
             ckeras_tensor_data(d->x[0]));
    double *b = malloc((size_t)n * 3 * sizeof *b);
    int32_t *c = malloc((size_t)n * sizeof *c);
    for (int64_t i = 0; i < n * 3; i++)
        b[i] = ckeras_tensor_data(d->x[1])[i];
    for (int64_t i = 0; i < n; i++)
        c[i] = (int32_t)ckeras_tensor_data(d->y[0])[i];
    h5_write(f, "b", H5T_NATIVE_DOUBLE, H5T_IEEE_F64BE, 2, (hsize_t[]){(hsize_t)n, 3}, b);
    h5_write(f, "cls", H5T_NATIVE_INT32, H5T_STD_I32LE, 1, (hsize_t[]){(hsize_t)n}, c);
    h5_write(f, "reg", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, (hsize_t[]){(hsize_t)n, 2},
             ckeras_tensor_data(d->y[1]));
    float one = 1;
    h5_write(f, "scalar", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 0, NULL, &one);
    h5_write(f, "short", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, 2, (hsize_t[]){(hsize_t)n - 1, 3}, b);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 4);
    char strs[4 * 30] = {0};
    h5_write(f, "names", st, st, 1, (hsize_t[]){(hsize_t)n}, strs);
    H5Tclose(st);
    free(b);
    free(c);
    H5Fclose(f);
}

START_TEST(fit_from_hdf5_equals_fit_from_arrays)
{
    tu_tmpdir_make("data_source");
    data d = make_data(N, 11);
    const char *path = tu_tmp("data.h5");
    write_h5(path, &d);
    ckeras_data_source *src = NULL;
    const char *xs[2] = {"/train/a", "b"}, *ys[2] = {"cls", "reg"};
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 2, xs, 2, ys, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_count(src), N);
    int64_t shape[7];
    ck_assert_int_eq(ckeras_data_source_shape(src, 1, 0, shape), 2);
    ck_assert_int_eq(ckeras_data_source_shape(src, 0, 1, shape), 2);
    ck_assert_int_eq(shape[0], 3);
    ckeras_fit_args *fa = args_of(3, 0.3);
    ckeras_model *ma = two_io(), *mb = two_io();
    ckeras_history *ha = NULL, *hb = NULL;
    ck_assert_int_eq(ckeras_model_fit_multi(ma, 2, (const ckeras_tensor *const *)d.x, 2,
                                            (const ckeras_tensor *const *)d.y, fa, &ha),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_fit_source(mb, src, fa, &hb), CKERAS_OK);
    assert_same_run(ma, mb, ha, hb);
    ckeras_tensor *pa[2], *pb[2];
    ck_assert_int_eq(ckeras_model_predict_outputs(ma, 2, (const ckeras_tensor *const *)d.x, 7, 2, pa), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_predict_source(mb, src, 7, 2, pb), CKERAS_OK);
    for (int k = 0; k < 2; k++) {
        ck_assert(memcmp(ckeras_tensor_data(pa[k]), ckeras_tensor_data(pb[k]),
                         (size_t)ckeras_tensor_size(pa[k]) * sizeof(float)) == 0);
        ckeras_tensor_free(pa[k]);
        ckeras_tensor_free(pb[k]);
    }
    ckeras_history_free(ha);
    ckeras_history_free(hb);
    ckeras_data_source_free(src);

    /* errors */
    const char *one[1];
    ck_assert_int_eq(ckeras_data_source_hdf5(tu_tmp("missing.h5"), 2, xs, 2, ys, &src), CKERAS_EIO);
    ck_assert_ptr_null(src);
    ck_assert_msg(strstr(ckeras_last_error(), "missing.h5"), "%s", ckeras_last_error());
    FILE *t = fopen(tu_tmp("text.h5"), "w");
    fputs("not hdf5\n", t);
    fclose(t);
    ck_assert_int_eq(ckeras_data_source_hdf5(tu_tmp("text.h5"), 2, xs, 2, ys, &src), CKERAS_EFORMAT);
    one[0] = "nope";
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 1, one, 0, NULL, &src), CKERAS_EFORMAT);
    ck_assert_msg(strstr(ckeras_last_error(), "no data set 'nope'"), "%s", ckeras_last_error());
    one[0] = "train";
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 1, one, 0, NULL, &src), CKERAS_EFORMAT);
    one[0] = "scalar";
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 1, one, 0, NULL, &src), CKERAS_EFORMAT);
    ck_assert_msg(strstr(ckeras_last_error(), "rank 0"), "%s", ckeras_last_error());
    one[0] = "names";
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 1, one, 0, NULL, &src), CKERAS_EFORMAT);
    ck_assert_msg(strstr(ckeras_last_error(), "strings"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 2, (const char *const[]){"b", "short"}, 0, NULL, &src),
                     CKERAS_EFORMAT);
    ck_assert_msg(strstr(ckeras_last_error(), "'short' has 29 samples but 'b' has 30"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_data_source_hdf5(path, 0, xs, 0, NULL, &src), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_data_source_hdf5(NULL, 1, xs, 0, NULL, &src), CKERAS_EINVAL);
    ck_assert_ptr_null(src);
    free_data(&d);
    ckeras_model_free(ma);
    ckeras_model_free(mb);
    ckeras_fit_args_free(fa);
    tu_tmpdir_remove();
}
END_TEST

/* ---- image folders -------------------------------------------------------------------------- */

#define ALBUM "tests/fixtures/images/album"

static json_t *album_ref(void)
{
    return tu_load_json("images/album_ref.json");
}

static bool ends_with(const char *s, const char *tail)
{
    size_t a = strlen(s), b = strlen(tail);
    return a >= b && strcmp(s + a - b, tail) == 0;
}

/* Sample i's image and label(s) through the source's fill (the call fit makes). */
static void fill_one(ckeras_data_source *src, int64_t i, float *x, float *y)
{
    float *xs[1] = {x}, *ys[1] = {y};
    ck_assert_int_eq(src->fill(src->user, &i, 1, xs, y ? ys : NULL), CKERAS_OK);
}

/* the list of files, in order, against Keras' (names relative to the album) */
static void assert_files(ckeras_data_source *src, json_t *files, json_t *labels)
{
    ck_assert_int_eq(ckeras_data_source_count(src), (int64_t)json_array_size(files));
    for (size_t i = 0; i < json_array_size(files); i++) {
        const char *want = json_string_value(json_array_get(files, i));
        const char *got = ckeras_data_source_file_path(src, (int64_t)i);
        ck_assert_msg(got && ends_with(got, want) && strncmp(got, ALBUM "/", strlen(ALBUM) + 1) == 0,
                      "file %zu: %s, Keras %s", i, got ? got : "NULL", want);
        if (labels) {
            float x[8 * 8 * 3], y;
            fill_one(src, (int64_t)i, x, &y);
            ck_assert_int_eq((int)y, (int)json_integer_value(json_array_get(labels, i)));
        }
    }
}

START_TEST(image_folder_lists_files_as_keras)
{
    json_t *ref = album_ref();
    /* the fixture's lists were checked against Keras 3.11.3's own index_directory and split */
    ck_assert(json_is_true(json_object_get(ref, "keras_checked")));
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 0, -1, 0, NULL, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_class_count(src), 2);
    ck_assert_str_eq(ckeras_data_source_class_name(src, 0), "cats");
    ck_assert_str_eq(ckeras_data_source_class_name(src, 1), "dogs");
    ck_assert_ptr_null(ckeras_data_source_class_name(src, 2));
    int64_t shape[7];
    ck_assert_int_eq(ckeras_data_source_shape(src, 0, 0, shape), 1);
    ck_assert(shape[0] == 8 && shape[1] == 8 && shape[2] == 3);
    ck_assert_int_eq(ckeras_data_source_shape(src, 1, 0, shape), 1);
    assert_files(src, tu_get(ref, "files"), tu_get(ref, "labels"));
    ckeras_data_source_free(src);
    /* shuffled as numpy's RandomState(seed).shuffle, and the validation split of Keras */
    const int seeds[3] = {0, 123, 1337};
    for (int k = 0; k < 3; k++) {
        char key[64];
        snprintf(key, sizeof key, "shuffled_%d", seeds[k]);
        json_t *sh = tu_get(ref, key), *files = tu_get(sh, "files"), *labels = tu_get(sh, "labels");
        ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, seeds[k], 0, NULL, &src),
                         CKERAS_OK);
        assert_files(src, files, labels);
        ckeras_data_source_free(src);
        /* validation_split 0.25 of 10 files: int(2.5) = 2 for validation, the last two */
        json_t *train = json_array(), *val = json_array(), *ltrain = json_array(), *lval = json_array();
        for (size_t i = 0; i < json_array_size(files); i++) {
            json_array_append(i < 8 ? train : val, json_array_get(files, i));
            json_array_append(i < 8 ? ltrain : lval, json_array_get(labels, i));
        }
        ck_assert_int_eq(
            ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, seeds[k], 0.25, "training", &src),
            CKERAS_OK);
        assert_files(src, train, ltrain);
        ckeras_data_source_free(src);
        ck_assert_int_eq(
            ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, seeds[k], 0.25, "validation", &src),
            CKERAS_OK);
        assert_files(src, val, lval);
        ckeras_data_source_free(src);
        json_decref(train);
        json_decref(val);
        json_decref(ltrain);
        json_decref(lval);
    }
    json_decref(ref);
}
END_TEST

/* Compares an (h, w, c) tensor with a nested JSON list: at most tol apart; returns the largest
 * difference. */
static double max_diff(const ckeras_tensor *t, json_t *want, double tol, const char *what)
{
    size_t n;
    int64_t shape[8];
    int nd;
    float *w = tu_floats(want, &n, shape, &nd);
    ck_assert_int_eq(nd, 3);
    ck_assert_int_eq(ckeras_tensor_ndim(t), 3);
    for (int a = 0; a < 3; a++)
        ck_assert_int_eq(ckeras_tensor_dim(t, a), shape[a]);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)t->data[i] - (double)w[i]);
        worst = d > worst ? d : worst;
    }
    ck_assert_msg(worst <= tol, "%s: differs by %g (tolerance %g)", what, worst, tol);
    free(w);
    return worst;
}

START_TEST(image_pixels_match_pil_and_torch)
{
    json_t *ref = album_ref(), *images = tu_get(ref, "images");
    const char *rel;
    json_t *img;
    json_object_foreach(images, rel, img) {
        char path[512];
        snprintf(path, sizeof path, ALBUM "/%s", rel);
        bool jpeg = json_is_true(json_object_get(img, "jpeg"));
        const char *mode = json_string_value(json_object_get(img, "mode"));
        bool gray_file = strcmp(mode, "L") == 0 || strcmp(mode, "LA") == 0;
        ckeras_tensor *t = NULL;
        /* decoding: PNG is lossless, and JPEG goes through the libjpeg-turbo PIL uses (Debian's
         * python3-pil links Debian's libjpeg62-turbo, with the same default IDCT and fancy
         * upsampling), so both are exact */
        ck_assert_int_eq(ckeras_read_image(path, "rgb", 0, 0, &t), CKERAS_OK);
        max_diff(t, tu_get(img, "rgb"), 0, path);
        ckeras_tensor_free(t);
        /* grayscale: exact for grey files and for JPEG (libjpeg's luminance, which PIL's
         * draft("L") mode asks libjpeg for too, as TensorFlow's decode_jpeg(channels=1) does);
         * a colour PNG within 1: libpng's rgb_to_gray (0.299, 0.587, 0.114 in 15-bit fixed
         * point) against PIL's L = (R*299 + G*587 + B*114) / 1000, rounded differently */
        ck_assert_int_eq(ckeras_read_image(path, "grayscale", 0, 0, &t), CKERAS_OK);
        max_diff(t, tu_get(img, "grayscale"), gray_file || jpeg ? 0 : 1, path);
        ckeras_tensor_free(t);
        /* resize to 5 x 7 against PyTorch (float32; the fixture is rounded to 5 decimals) */
        ck_assert_int_eq(ckeras_read_image(path, "rgb", 5, 7, &t), CKERAS_OK);
        max_diff(t, tu_get(img, "rgb_5x7"), 1e-3, path);
        ckeras_tensor_free(t);
        /* rgba: the colour channels as rgb, alpha 255 where the file has none */
        ck_assert_int_eq(ckeras_read_image(path, "rgba", 0, 0, &t), CKERAS_OK);
        ck_assert_int_eq(ckeras_tensor_dim(t, 2), 4);
        if (strcmp(mode, "RGBA") != 0 && strcmp(mode, "LA") != 0)
            ck_assert(ckeras_tensor_data(t)[3] == 255.0f);
        ckeras_tensor_free(t);
    }
    json_decref(ref);
}
END_TEST

START_TEST(image_source_serves_resized_images_and_labels)
{
    json_t *ref = album_ref();
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "categorical", NULL, 5, 7, 0, 0, 0, NULL, &src),
                     CKERAS_OK);
    int64_t shape[7];
    ck_assert_int_eq(ckeras_data_source_shape(src, 1, 0, shape), 1);
    ck_assert_int_eq(shape[0], 2);
    json_t *files = tu_get(ref, "files"), *labels = tu_get(ref, "labels");
    for (int64_t i = 0; i < ckeras_data_source_count(src); i++) {
        float x[5 * 7 * 3], y[2];
        fill_one(src, i, x, y);
        const char *rel = json_string_value(json_array_get(files, (size_t)i));
        ckeras_tensor *t = ckeras_tensor_wrap(x, 3, (const int64_t[]){5, 7, 3});
        max_diff(t, tu_get(json_object_get(tu_get(ref, "images"), rel), "rgb_5x7"), 1e-3, rel);
        ckeras_tensor_free(t);
        int lab = (int)json_integer_value(json_array_get(labels, (size_t)i));
        ck_assert(y[lab] == 1.0f && y[1 - lab] == 0.0f);
    }
    ckeras_data_source_free(src);
    /* binary: one value per sample; grayscale: one channel; no labels: no target; 256 x 256 */
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "binary", "grayscale", 4, 4, 0, 0, 0, NULL, &src),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_shape(src, 1, 0, shape), 1);
    ck_assert_int_eq(shape[0], 1);
    ck_assert_int_eq(ckeras_data_source_shape(src, 0, 0, shape), 1);
    ck_assert_int_eq(shape[2], 1);
    ckeras_data_source_free(src);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, NULL, "rgb", 0, 0, 0, 0, 0, NULL, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_shape(src, 1, 0, NULL), 0);
    ck_assert_int_eq(ckeras_data_source_shape(src, 0, 0, shape), 1);
    ck_assert(shape[0] == 256 && shape[1] == 256);
    ckeras_data_source_free(src);
    json_decref(ref);
}
END_TEST

static void copy_prefix(const char *from, const char *to, long keep)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    ck_assert(a && b);
    fseek(a, 0, SEEK_END);
    long n = ftell(a);
    rewind(a);
    if (keep <= 0) /* all but the last -keep bytes */
        keep = n + keep;
    char *buf = malloc((size_t)n);
    ck_assert_int_eq((long)fread(buf, 1, (size_t)n, a), n);
    fwrite(buf, 1, (size_t)keep, b);
    free(buf);
    fclose(a);
    fclose(b);
}

START_TEST(damaged_images_are_errors_naming_the_file)
{
    const char *dir = tu_tmpdir_make("images_bad");
    char p[512], q[512];
    const struct {
        const char *from, *name;
        long keep;
    } bad[] = {
        {ALBUM "/cats/c1_rgb.png", "half.png", -60},        /* truncated in the image data */
        {ALBUM "/cats/c1_rgb.png", "noend.png", -12},       /* no IEND chunk */
        {ALBUM "/dogs/d1_photo.jpg", "half.jpg", 300},      /* truncated in the scan */
        {ALBUM "/dogs/d1_photo.jpg", "header.jpeg", 40},    /* truncated in the headers */
        {ALBUM "/cats/notes.txt", "fake.png", 0},           /* text with a .png name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, bad[i].name);
        copy_prefix(bad[i].from, p, bad[i].keep);
        ckeras_tensor *t = (ckeras_tensor *)1;
        ck_assert_int_eq(ckeras_read_image(p, "rgb", 0, 0, &t), CKERAS_EFORMAT);
        ck_assert_ptr_null(t);
        ck_assert_msg(strstr(ckeras_last_error(), p), "%s", ckeras_last_error());
    }
    /* a flipped byte in the image data of a PNG: a CRC error */
    snprintf(p, sizeof p, "%s/crc.png", dir);
    copy_prefix(ALBUM "/cats/c1_rgb.png", p, 0);
    {
        FILE *f = fopen(p, "r+b");
        fseek(f, 80, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 80, SEEK_SET);
        fputc(c ^ 0x55, f);
        fclose(f);
        ckeras_tensor *t = NULL;
        ck_assert_int_eq(ckeras_read_image(p, "rgb", 0, 0, &t), CKERAS_EFORMAT);
        ck_assert_msg(strstr(ckeras_last_error(), p), "%s", ckeras_last_error());
    }
    /* in a folder: fit stops with the damaged file's name */
    snprintf(p, sizeof p, "%s/album", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/album/a", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/album/b", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/album/a/good.png", dir);
    copy_prefix(ALBUM "/cats/c1_rgb.png", p, 0);
    snprintf(p, sizeof p, "%s/album/b/good.jpg", dir);
    copy_prefix(ALBUM "/dogs/d1_photo.jpg", p, 0);
    snprintf(p, sizeof p, "%s/album/b/bad.jpg", dir);
    copy_prefix(ALBUM "/dogs/d1_photo.jpg", p, 300);
    snprintf(q, sizeof q, "%s/album", dir);
    ckeras_data_source *src = NULL;
    ck_assert_int_eq(ckeras_image_dataset_from_directory(q, "binary", "rgb", 6, 6, 1, 3, 0, NULL, &src), CKERAS_OK);
    ckeras_model *m = ckeras_sequential("m");
    ckeras_model_add(m, ckeras_input(3, (const int64_t[]){6, 6, 3}));
    ckeras_model_add(m, ckeras_flatten());
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    ck_assert_int_eq(ckeras_model_compile(m, NULL, "binary_crossentropy", NULL), CKERAS_OK);
    ckeras_fit_args *fa = args_of(1, 0);
    ck_assert_int_eq(ckeras_model_fit_source(m, src, fa, NULL), CKERAS_EFORMAT);
    ck_assert_msg(strstr(ckeras_last_error(), "fit: data source") && strstr(ckeras_last_error(), p), "%s",
                  ckeras_last_error());
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_data_source_free(src);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(image_folder_misuse)
{
    ckeras_data_source *src = (ckeras_data_source *)1;
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "sparse", "rgb", 8, 8, 0, 0, 0, NULL, &src),
                     CKERAS_EINVAL);
    ck_assert_ptr_null(src);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "cmyk", 8, 8, 0, 0, 0, NULL, &src),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, 0, 0.2, NULL, &src),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, 0, 0, "training", &src),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, -1, 0.2, "training", &src),
                     CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "seed"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, 0, 1.0, "training", &src),
                     CKERAS_EINVAL);
    /* 0.05 of 10 files is no validation file: both subsets are refused, as Keras' [:-0] is empty */
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 8, 8, 1, 0, 0.05, "training", &src),
                     CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_image_dataset_from_directory("tests/fixtures/images/nope", "int", "rgb", 8, 8, 0, 0, 0,
                                                         NULL, &src),
                     CKERAS_EIO);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM "/cats", "int", "rgb", 8, 8, 0, 0, 0, NULL, &src),
                     CKERAS_EIO); /* no class folders: no image */
    const char *dir = tu_tmpdir_make("images_three");
    char p[512];
    const char *cls[3] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, cls[i]);
        mkdir(p, 0755);
        snprintf(p, sizeof p, "%s/%s/i.png", dir, cls[i]);
        copy_prefix(ALBUM "/cats/c1_rgb.png", p, 0);
    }
    ck_assert_int_eq(ckeras_image_dataset_from_directory(dir, "binary", "rgb", 8, 8, 0, 0, 0, NULL, &src),
                     CKERAS_EINVAL);
    ck_assert_msg(strstr(ckeras_last_error(), "exactly 2"), "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_image_dataset_from_directory(dir, "int", "rgb", 8, 8, 0, 0, 0, NULL, &src), CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_class_count(src), 3);
    ckeras_data_source_free(src);
    tu_tmpdir_remove();
    ck_assert_int_eq(ckeras_read_image(NULL, "rgb", 0, 0, &(ckeras_tensor *){0}), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_read_image(ALBUM "/cats/missing.png", "rgb", 0, 0, &(ckeras_tensor *){0}), CKERAS_EIO);
}
END_TEST

START_TEST(cnn_trains_on_image_folder)
{
    ckeras_data_source *tr = NULL, *va = NULL;
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 12, 12, 1, 42, 0.2, "training", &tr),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_image_dataset_from_directory(ALBUM, "int", "rgb", 12, 12, 1, 42, 0.2, "validation", &va),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_data_source_count(tr) + ckeras_data_source_count(va), 10);
    ckeras_set_random_seed(1);
    ckeras_model *m = ckeras_sequential("cnn");
    ckeras_model_add(m, ckeras_input(3, (const int64_t[]){12, 12, 3}));
    ckeras_model_add(m, ckeras_rescaling(1.0 / 255, 0));
    ckeras_model_add(m, ckeras_conv2d(4, 3, 3, "relu"));
    ckeras_model_add(m, ckeras_max_pooling2d(2, 2));
    ckeras_model_add(m, ckeras_flatten());
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    ckeras_fit_args *fa = args_of(20, 0);
    ck_assert_int_eq(ckeras_fit_args_set_validation_source(fa, va), CKERAS_OK);
    ckeras_history *h = NULL;
    ck_assert_int_eq(ckeras_model_fit_source(m, tr, fa, &h), CKERAS_OK);
    const double *loss, *acc;
    int n;
    ck_assert_int_eq(ckeras_history_values(h, "loss", &loss, &n), CKERAS_OK);
    ck_assert_int_eq(n, 20);
    ck_assert_int_eq(ckeras_history_values(h, "val_accuracy", &acc, &n), CKERAS_OK);
    ck_assert_msg(loss[19] < loss[0], "loss %g -> %g", loss[0], loss[19]);
    ckeras_history_free(h);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_data_source_free(tr);
    ckeras_data_source_free(va);
}
END_TEST

/* An interlaced (Adam7) PNG decodes pass by pass to the same pixels as a plain one, written here
 * with libpng from known bytes */
static void write_png(const char *path, int interlace, unsigned char *px, int h, int w)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    png_set_interlace_handling(p);
    png_bytep rows[16];
    for (int y = 0; y < h; y++)
        rows[y] = px + y * w * 3;
    png_write_image(p, rows);
    png_write_end(p, info);
    png_destroy_write_struct(&p, &info);
    fclose(f);
}

START_TEST(interlaced_png_decodes_as_plain)
{
    enum { H = 13, W = 11 };
    unsigned char px[H * W * 3];
    for (int k = 0; k < H * W * 3; k++)
        px[k] = (unsigned char)(k * 37 + 11);
    const char *dir = tu_tmpdir_make("png");
    ck_assert_ptr_nonnull(dir);
    const char *files[2] = {"adam7.png", "plain.png"};
    for (int i = 0; i < 2; i++) {
        const char *path = tu_tmp(files[i]);
        write_png(path, i == 0 ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, px, H, W);
        ckeras_tensor *t = NULL;
        ck_assert_msg(ckeras_read_image(path, "rgb", 0, 0, &t) == CKERAS_OK, "%s", ckeras_last_error());
        ck_assert_int_eq(ckeras_tensor_size(t), H * W * 3);
        for (int k = 0; k < H * W * 3; k++)
            ck_assert_msg(ckeras_tensor_data(t)[k] == (float)px[k], "%s: byte %d", files[i], k);
        ckeras_tensor_free(t);
    }
    tu_tmpdir_remove();
}
END_TEST

static void add_image_tests(TCase *tc)
{
    tcase_add_test(tc, image_folder_lists_files_as_keras);
    tcase_add_test(tc, image_pixels_match_pil_and_torch);
    tcase_add_test(tc, image_source_serves_resized_images_and_labels);
    tcase_add_test(tc, damaged_images_are_errors_naming_the_file);
    tcase_add_test(tc, interlaced_png_decodes_as_plain);
    tcase_add_test(tc, image_folder_misuse);
    tcase_add_test(tc, cnn_trains_on_image_folder);
}

int main(void)
{
    Suite *s = suite_create("data_source");
    TCase *tc = tcase_create("data_source");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fit_from_callback_source_equals_fit_from_arrays);
    tcase_add_test(tc, sample_weight_with_a_source);
    tcase_add_test(tc, validation_source_equals_validation_arrays);
    tcase_add_test(tc, failing_fill_stops_fit_keeping_last_epoch);
    tcase_add_test(tc, misuse_gives_clear_errors);
    tcase_add_test(tc, fit_from_hdf5_equals_fit_from_arrays);
    add_image_tests(tc);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
