/* Writes seed inputs for the fuzz targets that the library itself produces: small saved models
 * (with and without optimizer state, weights-only), their model JSON, .npy files, CSV and IDX
 * files (plain and gzip), and seed call sequences of fuzz_api.
 * Usage: gen_seeds OUTDIR  (makes OUTDIR/<target>/...). Run by scripts/fuzz-seeds.sh. */
#include "ckeras.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include "../api_ids.h"

static char out[1024];

static const char *at(const char *target, const char *name)
{
    static char buf[2048];
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/%s", out, target);
    mkdir(dir, 0755);
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static void die(const char *what)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, ckeras_last_error());
    exit(1);
}

static ckeras_layer *cfg(const char *cls, const char *json)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, json);
    if (!l)
        die(cls);
    return l;
}

/* Saves m (h5 with and without optimizer, weights) and its JSON under name. */
static void emit(ckeras_model *m, const char *name)
{
    char f[256];
    snprintf(f, sizeof f, "%s.h5", name);
    if (ckeras_model_save(m, at("load_model", f), 0) != CKERAS_OK)
        die(f);
    snprintf(f, sizeof f, "%s_noopt.h5", name);
    if (ckeras_model_save(m, at("load_model", f), CKERAS_SAVE_NO_OPTIMIZER) != CKERAS_OK)
        die(f);
    snprintf(f, sizeof f, "%s_weights.h5", name);
    if (ckeras_model_save_weights(m, at("load_model", f)) != CKERAS_OK)
        die(f);
    char *json = NULL;
    if (ckeras_model_to_json(m, &json) != CKERAS_OK)
        die("to_json");
    snprintf(f, sizeof f, "%s.json", name);
    FILE *fp = fopen(at("model_json", f), "wb");
    if (!fp)
        die(f);
    fputs(json, fp);
    fclose(fp);
    ckeras_free(json);
}

static void train(ckeras_model *m, int64_t d, const char *opt, const char *loss)
{
    if (ckeras_model_compile(m, ckeras_optimizer_from_name(opt), loss, "accuracy") != CKERAS_OK)
        die("compile");
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){8, d});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){8, 1});
    for (int64_t i = 0; i < 8 * d; i++)
        ckeras_tensor_data(x)[i] = (float)((i * 7) % 11) / 11.0f;
    for (int64_t i = 0; i < 8; i++)
        ckeras_tensor_data(y)[i] = (float)(i & 1);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ckeras_fit_args_set_int(a, "verbose", 0);
    ckeras_fit_args_set_int(a, "batch_size", 4);
    if (ckeras_model_fit(m, x, y, a, NULL) != CKERAS_OK)
        die("fit");
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}

static void models(void)
{
    /* a small MLP trained with Adam (optimizer state in the file) */
    ckeras_model *m = ckeras_sequential("mlp");
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4}));
    ckeras_model_add(m, ckeras_dense(3, "relu"));
    ckeras_model_add(m, ckeras_dropout(0.25));
    ckeras_model_add(m, ckeras_dense(1, "sigmoid"));
    train(m, 4, "adam", "binary_crossentropy");
    emit(m, "mlp");
    ckeras_model_free(m);

    /* every shape layer on a small image, then normalisation layers, RMSprop */
    m = ckeras_sequential("shapes");
    ckeras_model_add(m, ckeras_input(3, (const int64_t[]){4, 4, 2}));
    ckeras_model_add(m, cfg("ZeroPadding2D", "{\"padding\": [[1, 1], [1, 1]]}"));
    ckeras_model_add(m, cfg("Cropping2D", "{\"cropping\": [[1, 0], [0, 1]]}"));
    ckeras_model_add(m, cfg("UpSampling2D", "{\"size\": [2, 2]}"));
    ckeras_model_add(m, cfg("SpatialDropout2D", "{\"rate\": 0.1}"));
    ckeras_model_add(m, cfg("BatchNormalization", "{\"axis\": -1, \"momentum\": 0.9}"));
    ckeras_model_add(m, cfg("Permute", "{\"dims\": [2, 1, 3]}"));
    ckeras_model_add(m, cfg("Reshape", "{\"target_shape\": [100, 2]}"));
    ckeras_model_add(m, cfg("LayerNormalization", "{\"axis\": -1}"));
    ckeras_model_add(m, cfg("Rescaling", "{\"scale\": 0.5, \"offset\": 1.0}"));
    ckeras_model_add(m, cfg("LeakyReLU", "{\"alpha\": 0.2}"));
    ckeras_model_add(m, cfg("Flatten", "{}"));
    ckeras_model_add(m, cfg("ReLU", "{\"max_value\": 6.0}"));
    ckeras_model_add(m, cfg("Activation", "{\"activation\": \"tanh\"}"));
    ckeras_model_add(m, cfg("Dense", "{\"units\": 1, \"activation\": \"sigmoid\"}"));
    if (ckeras_model_compile(m, ckeras_optimizer_from_name("rmsprop"), "mse", NULL) != CKERAS_OK)
        die("compile shapes");
    emit(m, "shapes");
    ckeras_model_free(m);

    /* a functional model with two inputs and merge layers, SGD with momentum */
    m = ckeras_functional("two_in");
    int a = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    int b = id_input(m, ckeras_input(1, (const int64_t[]){3}));
    int s = id_call(m, ckeras_add(), 2, (const int[]){a, b});
    int p = id_call(m, ckeras_multiply(), 2, (const int[]){a, b});
    int c = id_call(m, ckeras_concatenate(-1), 2, (const int[]){s, p});
    int h = id_call(m, ckeras_dense(2, "tanh"), 1, &c);
    int d = id_call(m, ckeras_subtract(), 2, (const int[]){h, h});
    int e = id_call(m, ckeras_average(), 2, (const int[]){h, d});
    int y = id_call(m, ckeras_dense(1, NULL), 1, &e);
    if (y < 0 || ckeras_model_set_outputs(m, 1, &y) != CKERAS_OK)
        die("functional");
    if (ckeras_model_compile(m, ckeras_sgd(0.01, 0.9, 1), "mse", "mae") != CKERAS_OK)
        die("compile two_in");
    emit(m, "two_in");
    ckeras_model_free(m);
}

static void npy_files(void)
{
    ckeras_tensor *t = ckeras_tensor_new(3, (const int64_t[]){2, 3, 2});
    for (int i = 0; i < 12; i++)
        ckeras_tensor_data(t)[i] = (float)i - 5.5f;
    if (ckeras_write_npy(at("npy", "lib_f4_3d.npy"), t) != CKERAS_OK)
        die("npy");
    ckeras_tensor_free(t);
    t = ckeras_tensor_new(1, (const int64_t[]){1});
    if (ckeras_write_npy(at("npy", "lib_f4_one.npy"), t) != CKERAS_OK)
        die("npy");
    ckeras_tensor_free(t);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

static void idx_files(void)
{
    /* labels: magic 0x00000801, n = 5 */
    unsigned char lab[8 + 5] = {0, 0, 8, 1, 0, 0, 0, 5, 3, 1, 4, 1, 5};
    write_bytes(at("idx", "labels.idx1"), lab, sizeof lab);
    /* images: magic 0x00000803, 2 x 3 x 2 */
    unsigned char img[16 + 12] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2};
    for (int i = 0; i < 12; i++)
        img[16 + i] = (unsigned char)(i * 20);
    write_bytes(at("idx", "images.idx3"), img, sizeof img);
    /* float32 (0x0D) and int16 (0x0B) vectors, big-endian */
    unsigned char f32[4 + 4 + 8] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0};
    write_bytes(at("idx", "f32.idx1"), f32, sizeof f32);
    unsigned char i16[4 + 4 + 4] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00};
    write_bytes(at("idx", "i16.idx1"), i16, sizeof i16);
    /* gzip of the images */
    gzFile gz = gzopen(at("idx", "images.idx3.gz"), "wb9");
    if (!gz || gzwrite(gz, img, sizeof img) != (int)sizeof img || gzclose(gz) != Z_OK)
        die("gzip");
}

static void csv_files(void)
{
    const char *a = "3,2,f0,f1\n1.5,2,0\n-3e2,4.25,1\n0,0,1\n";
    write_bytes(at("csv", "sklearn_header.csv"), a, strlen(a));
    const char *b = "x,y,label\n1,2,3\n4,5,6\r\n7,8,9";
    write_bytes(at("csv", "named_header_crlf.csv"), b, strlen(b));
    const char *c = "1\n2\n3\n";
    write_bytes(at("csv", "one_column.csv"), c, strlen(c));
    const char *d = "1, 2 ,3\n\n4,5,6\n nan,inf,-inf\n";
    write_bytes(at("csv", "spaces_blank_nan.csv"), d, strlen(d));
}

/* Seed programs of fuzz_api (see tests/fuzz/fuzz_api.c: an op byte, the model, tensor and layer
 * slots, then the op's arguments; a size byte below 128 is 1 + b % 4, a string byte 8 + k is
 * names[k]). Each is a main path: build, compile, fit (with a callback), evaluate, predict,
 * save and load back. */
#define API_CB_QUIET 17 /* one callback event: no call */
/* A new layer: op 2, slots m0 t0 l0, kind, sizes a b c, activation (then the kind's extras). */
#define API_LAYER(kind, a, b, c, act) 2, 0, 0, 0, kind, a, b, c, act
static const unsigned char api_dense[] = {
    0, 0, 0, 0, 0,                          /* m0 = sequential(NULL) */
    API_LAYER(0, 0, 0, 0, 0), 0, 3,         /* l0 = input((4,)) */
    5, 0, 0, 0,                             /* add */
    API_LAYER(1, 7, 0, 0, 8),               /* l0 = dense(4, "relu") */
    5, 0, 0, 0,                             /* add */
    API_LAYER(1, 0, 0, 0, 9),               /* l0 = dense(1, "sigmoid") */
    5, 0, 0, 0,                             /* add */
    12, 0, 0, 0, 2, 6, 22, 26,              /* compile(adam(1e-3), binary_crossentropy, accuracy) */
    16, 0, 0, 0, 0, 3, 0,                   /* t0 = 4 samples for input 0 */
    18, 0, 1, 0, 0, 0,                      /* t1 = predict(t0), refilled */
    19, 0, 0, 0, 1, 16, 1, API_CB_QUIET, API_CB_QUIET, API_CB_QUIET, API_CB_QUIET, API_CB_QUIET,
    API_CB_QUIET,                           /* fit(t0, t1) with the lambda callback, history */
    22, 0, 0, 0, 2, 1, 0, 0,                /* evaluate */
    23, 0, 0, 0, 0,                         /* predict */
    25, 0, 0, 0, 0, 0, 1,                   /* save .h5, load into m1 */
    25, 0, 0, 0, 1, 0, 2,                   /* save .keras, load into m2 */
    23, 1, 0, 0, 0,                         /* predict with m1 */
    27, 2, 0, 0, 128,                       /* summary_string(m2, 0) */
    26, 0, 0, 0, 1, 0,                      /* save_weights m0, load_weights into m1 by name */
    35, 0, 0, 0, 200, 128, 32, 0, 0,        /* set_int(m0 layer 0, "units", 1) on a built layer */
    7, 0, 0, 0,                             /* pop */
    24, 0, 0, 0, 2, 1, 0,                   /* train_on_batch after pop */
};
static const unsigned char api_conv[] = {
    1, 0, 0, 0, 0,                          /* m0 = functional(NULL) */
    API_LAYER(0, 0, 0, 0, 0), 2, 3, 3, 0,   /* l0 = input((4, 4, 1)) */
    8, 0, 0, 0,                             /* id0 = model_input */
    API_LAYER(2, 1, 1, 1, 0),               /* l0 = conv2d(2, 2, 2) */
    9, 0, 0, 0, 1, 0,                       /* id1 = call(l0, id0) */
    API_LAYER(3, 0, 0, 0, 0),               /* max_pooling2d(1, 1) */
    9, 0, 0, 0, 1, 1,                       /* id2 */
    API_LAYER(7, 0, 0, 0, 0),               /* batch_normalization */
    9, 0, 0, 0, 1, 2,                       /* id3 */
    API_LAYER(5, 0, 0, 0, 0),               /* flatten */
    9, 0, 0, 0, 1, 3,                       /* id4 */
    API_LAYER(1, 1, 0, 0, 10),              /* dense(2, "softmax") */
    9, 0, 0, 0, 1, 4,                       /* id5 */
    11, 0, 0, 0, 1, 5,                      /* set_outputs(id5) */
    12, 0, 0, 0, 1, 4, 0, 0, 23, 26,        /* compile(sgd(0.1), categorical_crossentropy, accuracy) */
    16, 0, 0, 0, 0, 1, 0,                   /* t0 = 2 samples */
    18, 0, 1, 0, 0, 0,                      /* t1 = target */
    19, 0, 0, 0, 1, 0, 0,                   /* fit */
    24, 0, 0, 0, 2, 1, 0,                   /* train_on_batch */
    25, 0, 0, 0, 1, 0, 1,                   /* save .keras, load into m1 */
    23, 1, 0, 0, 0,                         /* predict */
    29, 1, 0, 0, 0,                         /* to_dot */
};
static const unsigned char api_rnn[] = {
    0, 0, 0, 0, 0,                          /* m0 = sequential */
    API_LAYER(0, 0, 0, 0, 0), 0, 2,         /* input((3,)) */
    5, 0, 0, 0,
    API_LAYER(9, 133, 1, 0, 0),             /* embedding(5, 2) */
    5, 0, 0, 0,
    API_LAYER(8, 1, 0, 0, 0),               /* lstm(2) */
    5, 0, 0, 0,
    API_LAYER(6, 0, 0, 0, 0), 3,            /* dropout(-1): refused */
    API_LAYER(6, 0, 0, 0, 0), 1,            /* dropout(0.5) */
    5, 0, 0, 0,
    API_LAYER(1, 0, 0, 0, 0),               /* dense(1) */
    5, 0, 0, 0,
    12, 0, 0, 0, 4, 2, 20, 21,              /* compile(rmsprop(1), mse, mae) */
    16, 0, 0, 0, 0, 2, 0,                   /* t0 = 3 samples */
    18, 0, 1, 0, 0, 0,
    19, 0, 0, 0, 1, 33, 78, 1, 90, 1, 94, 0, 1, /* fit: epochs 2, EarlyStopping(loss, 2), min_delta */
    25, 0, 0, 0, 0, 1, 3,                   /* save .h5 without optimizer, load into m3 */
    28, 3, 0, 0, 2,                         /* to_json, from_json into m2 */
    30, 2, 0, 0, 0, 0, 0, 0,                /* counts and names */
};
static const unsigned char api_hostile[] = {
    7, 0, 0, 0,                             /* pop on no model */
    0, 0, 0, 0, 232,                        /* sequential(long name) */
    0, 0, 0, 0, 0,                          /* sequential */
    7, 0, 0, 0,                             /* pop on an empty model */
    19, 0, 0, 0, 0, 0, 0,                   /* fit before build */
    23, 0, 0, 0, 0,                         /* predict before build */
    API_LAYER(1, 144, 0, 0, 0),             /* dense(1 << 61) */
    5, 0, 0, 0,                             /* add without input */
    API_LAYER(0, 0, 0, 0, 0), 0, 3,         /* input((4,)) */
    5, 0, 0, 0,
    API_LAYER(1, 136, 0, 0, 0),             /* dense(-1) */
    5, 0, 0, 0,
    23, 0, 0, 0, 0,                         /* predict with no tensor */
    32, 0, 0, 0, 2, 3, 3, 3, 1,             /* tensor_copy((4, 4, 4)) */
    33, 0, 1, 0, 1, 0, 1, 1,                /* tensor_new((1, 2)) */
    34, 0, 1, 0, 0, 200, 0,                 /* reshape */
    41, 0, 1, 0,                            /* free t1 */
    12, 0, 0, 0, 0, 8, 8,                   /* compile with an activation as loss */
    19, 0, 0, 0, 0, 0, 0,                   /* fit before compile */
    47, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, /* seed, status names */
};

static void api_files(void)
{
    write_bytes(at("api", "dense_fit_save_load"), api_dense, sizeof api_dense);
    write_bytes(at("api", "functional_conv_keras"), api_conv, sizeof api_conv);
    write_bytes(at("api", "embedding_lstm_json"), api_rnn, sizeof api_rnn);
    write_bytes(at("api", "wrong_order_hostile"), api_hostile, sizeof api_hostile);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUTDIR\n");
        return 2;
    }
    snprintf(out, sizeof out, "%s", argv[1]);
    mkdir(out, 0755);
    ckeras_set_random_seed(7);
    models();
    npy_files();
    idx_files();
    csv_files();
    api_files();
    return 0;
}
