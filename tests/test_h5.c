/* Keras legacy HDF5 reader and writer (src/io/h5.c).
 * Facts about real Keras files were read independently with h5py
 * (`/usr/bin/python3 tests/ref/h5_layout.py facts FILE...`); the layout of files ckeras writes
 * is checked by h5py too (`h5_layout.py check`), with Keras' own name-list decoding. */
#include "core/core.h"
#include "io/io.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOCAL "tests/fixtures/h5"

/* Under AddressSanitizer: HDF5 1.10 allocates a metadata block of the size a damaged file
 * claims (up to 2^58 bytes) and handles a NULL from malloc as an error, which is what happens
 * in a normal build. ASan aborts on such requests unless told to return NULL like libc. */
const char *__asan_default_options(void);
__attribute__((visibility("default"), used)) const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

/* HDF5 1.10 keeps (leaks) the internal state of a file whose close failed because it is
 * damaged (it also prints "infinite loop closing library" at exit); ckeras frees all of its own
 * memory, and those HDF5 blocks are allocated inside libhdf5, so only they are suppressed. */
const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"), used)) const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5_serial.so\nleak:libhdf5.so\n";
}

typedef struct fact {
    const char *file, *keras_version, *backend;
    int has_model_config, has_training_config, nlayers, nopt, opt_int;
    long long opt_ivalue;
    int li;
    const char *lname;
    int nw, wj;
    const char *wname;
    int ndim;
    int64_t shape[4];
    float v[3]; /* first values (fewer when the array is smaller) */
    float last;
} fact;

/* From h5py (tests/ref/h5_layout.py facts): nlayers counts layer_names; opt_int is the index
 * of the first integer optimizer dataset (-1: none) and opt_ivalue its value. */
static const fact facts[] = {
    {"bn_functional.h5", "3.11.3", "torch", 1, 1, 18, 18, 0, 6LL, 1, "stem_conv", 1, 0, "stem_conv/kernel", 4, {3, 3, 3, 8}, {0.148663193, 0.119768083, 0.0524062701}, -0.000891184493},
    {"cnn.h5", "3.11.3", "torch", 1, 1, 7, 18, 0, 8LL, 0, "conv2d", 2, 0, "sequential/conv2d/kernel", 4, {3, 3, 1, 8}, {0.166662902, 0.1317247, 0.0601352267}, 0.120776385},
    {"mobilenetv2.h5", "3.11.3", "torch", 1, 1, 156, 318, 0, 2LL, 1, "Conv1", 1, 0, "Conv1/kernel", 4, {3, 3, 3, 16}, {0.113171354, 0.0914887041, 0.0406655781}, 0.0189484023},
    {"seed_mlp.h5", "3.11.3", "torch", 1, 1, 4, 18, 0, 12LL, 0, "dense", 2, 0, "sequential/dense/kernel", 2, {30, 100}, {0.140074059, 0.0936710387, 0.0359160267}, 0.174945772},
    {"k2.0.0_weights_only_dense3.h5", "2.0.0", "tensorflow", 0, 0, 5, 0, -1, 0LL, 1, "fc1_relu", 2, 0, "fc1_relu/kernel:0", 2, {16, 64}, {0.273134738, -0.121133164, 0.495214611}, -0.365120739},
    {"k2.0.4_seq_listconfig_lambda_cropping_cnn.h5", "2.0.4", "tensorflow", 1, 1, 16, 29, -1, 0LL, 3, "conv2d_1", 2, 0, "conv2d_1/kernel:0", 4, {5, 5, 3, 8}, {0.0251797773, 0.148758233, -0.116414234}, 0.198561475},
    {"k2.0.6_weights_only_conv2d_bn.h5", "2.0.6", "tensorflow", 0, 0, 11, 0, -1, 0LL, 1, "batch_normalization_1", 4, 0, "batch_normalization_1/gamma:0", 1, {1}, {1.47940218}, 1.47940218},
    {"k2.2.5_func_lstm_bidirectional_5inputs.h5", "2.2.5", "tensorflow", 1, 0, 20, 0, -1, 0LL, 2, "lstm_1", 3, 0, "lstm_1/kernel:0", 2, {4, 32}, {0.0263172593, 0.402349681, -0.0668077171}, -0.331654727},
    {"k2.3.1_seq_conv2d_dropout_flatten_notraining.h5", "2.3.1", "tensorflow", 1, 0, 4, 0, -1, 0LL, 0, "conv2d_1", 2, 0, "conv2d_1/kernel:0", 4, {3, 3, 1, 2}, {0.111861452, 0.481349558, -0.238556236}, 0.113807254},
    {"k3.11.3_func_2inputs_concatenate.h5", "3.11.3", "tensorflow", 1, 1, 10, 26, 0, 540LL, 3, "dense_1", 2, 0, "dense_1/kernel", 2, {4, 32}, {-0.227826625, -0.0853152871, 0.146655977}, -0.29172954},
    {"k3.5.0_seq_rescaling_cnn.h5", "3.5.0", "tensorflow", 1, 1, 8, 14, 0, 36630LL, 1, "conv2d_2", 2, 0, "sequential_1/conv2d_2/kernel", 4, {3, 3, 1, 32}, {-0.26500386, -0.267945677, -0.0335591584}, 0.290142268},
    {"tfk2.13.1_seq_nested_augment_rescaling_cnn.h5", "2.13.1", "tensorflow", 1, 1, 17, 33, 0, 2700LL, 2, "conv2d_9", 2, 0, "conv2d_9/kernel:0", 4, {3, 3, 3, 32}, {0.091089204, -0.0403026193, 0.0756868422}, -0.000915810466},
    {"tfk2.14.0_func_ds_cnn_depthwise_vlenstr.h5", "2.14.0", "tensorflow", 1, 1, 23, 37, 0, 59400LL, 1, "depthwise_conv2d", 1, 0, "depthwise_conv2d/depthwise_kernel:0", 4, {3, 1, 40, 1}, {0.1592886, -0.10134685, 0.300218433}, 0.196797311},
    {"tfk2.2.4-tf_func_gru_stateful_2inputs.h5", "2.2.4-tf", "tensorflow", 1, 0, 3, 0, -1, 0LL, 2, "gru_1", 2, 0, "gru_1/kernel:0", 2, {1, 3}, {1, -2, 3}, 3},
    {"tfk2.3.0-tf_func_lstm_trainingcfg_no_optw.h5", "2.3.0-tf", "tensorflow", 1, 1, 3, 0, -1, 0LL, 1, "lstm", 3, 0, "lstm/lstm_cell/kernel:0", 2, {128, 256}, {0.00373807549, -0.0835499763, -0.118005931}, 0.0110564828},
    {"tfk2.4.0_func_resnet8_add_avgpool.h5", "2.4.0", "tensorflow", 1, 1, 30, 69, 0, 781500LL, 1, "conv2d", 2, 0, "conv2d/kernel:0", 4, {3, 3, 3, 16}, {0.125837564, -0.0362951905, -0.302330703}, 0.372043431},
    {"tfk2.4.0_seq_embedding_bilstm.h5", "2.4.0", "tensorflow", 1, 1, 3, 19, 0, 488LL, 0, "embedding_62", 1, 0, "embedding_62/embeddings:0", 2, {1000, 20}, {0.0130277313, 0.0130646713, -0.00199040025}, -0.0266569313},
    {"tfk2.4.0_seq_nested_teachable_machine_mobilenet.h5", "2.4.0", "tensorflow", 1, 0, 2, 0, -1, 0LL, 0, "sequential_1", 260, 0, "Conv1/kernel:0", 4, {3, 3, 3, 16}, {0.0536193103, -0.0289290641, -0.161487445}, 0.0034818626},
};
#define NFACTS ((int)(sizeof facts / sizeof facts[0]))

/* Files copied into tests/fixtures/h5 (must be present). */
static const char *const local_copies[] = {
    "seed_mlp.h5", "cnn.h5", "bn_functional.h5", "k2.2.5_func_lstm_bidirectional_5inputs.h5",
    "tfk2.2.4-tf_func_gru_stateful_2inputs.h5", "tfk2.14.0_func_ds_cnn_depthwise_vlenstr.h5",
};
#define NLOCAL ((int)(sizeof local_copies / sizeof local_copies[0]))

static const char *shared_dir(void)
{
    const char *d = getenv("CK_SHARED_FIXTURES");
    return d && *d ? d : "../shared/fixtures";
}

static bool exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Finds a fixture: the local copy, else the shared keras3-oracle or keras-real folder. */
static bool find_fixture(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", LOCAL, name);
    if (exists(buf))
        return true;
    snprintf(buf, n, "%s/keras3-oracle/%s", shared_dir(), name);
    if (exists(buf))
        return true;
    snprintf(buf, n, "%s/keras-real/%s", shared_dir(), name);
    return exists(buf);
}

static bool is_zero(const ck_h5_file *f)
{
    static const ck_h5_file z;
    return memcmp(f, &z, sizeof z) == 0;
}

static void check_fact(const fact *t, const char *path)
{
    ck_h5_file f;
    ckeras_status st = ck_h5_read(path, &f);
    ck_assert_msg(st == CKERAS_OK, "%s: %s", path, ckeras_last_error());
    ck_assert_str_eq(f.keras_version, t->keras_version);
    ck_assert_str_eq(f.backend, t->backend);
    ck_assert_int_eq(f.model_config != NULL, t->has_model_config);
    ck_assert_int_eq(f.training_config != NULL, t->has_training_config);
    if (f.model_config)
        ck_assert_msg(strstr(f.model_config, "\"class_name\"") != NULL, "%s: model_config", path);
    ck_assert_ptr_null(f.ckeras_version);
    ck_assert_int_eq(f.nlayers, t->nlayers);
    ck_assert_int_eq(f.nopt, t->nopt);
    if (t->opt_int >= 0) {
        ck_assert(f.opt[t->opt_int].is_int);
        ck_assert_int_eq(f.opt[t->opt_int].ndim, 0);
        ck_assert_int_eq(f.opt[t->opt_int].ivalue, t->opt_ivalue);
        ck_assert(f.opt[t->opt_int].data[0] == (float)t->opt_ivalue);
    }
    for (int i = 0; i < f.nopt; i++)
        ck_assert(f.opt[i].name && *f.opt[i].name);
    const ck_h5_layer *L = &f.layers[t->li];
    ck_assert_str_eq(L->name, t->lname);
    ck_assert_int_eq(L->n, t->nw);
    const ck_h5_array *a = &L->w[t->wj];
    ck_assert_str_eq(a->name, t->wname);
    ck_assert(!a->is_int);
    ck_assert_int_eq(a->ndim, t->ndim);
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        ck_assert_int_eq(a->shape[i], t->shape[i]);
        n *= t->shape[i];
    }
    for (int i = 0; i < 3 && i < n; i++)
        ck_assert_msg(a->data[i] == t->v[i], "%s: %s[%d] = %.9g, h5py %.9g", path, a->name, i, a->data[i], t->v[i]);
    ck_assert(a->data[n - 1] == t->last);
    /* layers before li hold no weights (li is the first with weights, per h5py) */
    for (int i = 0; i < t->li; i++)
        ck_assert_int_eq(f.layers[i].n, 0);
    ck_h5_file_free(&f);
    ck_assert(is_zero(&f));
}

START_TEST(read_real_keras_files)
{
    char path[1024];
    int found = 0, local = 0;
    for (int i = 0; i < NFACTS; i++) {
        if (!find_fixture(facts[i].file, path, sizeof path)) {
            printf("test_h5: %s not found (neither %s nor %s): skipped\n", facts[i].file, LOCAL, shared_dir());
            continue;
        }
        check_fact(&facts[i], path);
        found++;
        if (strncmp(path, LOCAL, strlen(LOCAL)) == 0)
            local++;
    }
    ck_assert_int_eq(local, NLOCAL);
    printf("test_h5: checked %d of %d real Keras files (%d local copies)\n", found, NFACTS, local);
}
END_TEST

/* Every .h5 of the shared folders reads (facts or not). */
START_TEST(read_every_shared_file)
{
    const char *sub[] = {"keras3-oracle", "keras-real"};
    int n = 0;
    for (int s = 0; s < 2; s++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", shared_dir(), sub[s]);
        DIR *d = opendir(dir);
        if (!d) {
            printf("test_h5: %s absent: shared fixtures skipped\n", dir);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l < 4 || strcmp(e->d_name + l - 3, ".h5") != 0)
                continue;
            char p[2048];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            ck_h5_file f;
            ckeras_status st = ck_h5_read(p, &f);
            ck_assert_msg(st == CKERAS_OK, "%s: %s", p, ckeras_last_error());
            ck_assert_int_gt(f.nlayers, 0);
            ck_h5_file_free(&f);
            n++;
        }
        closedir(d);
    }
    printf("test_h5: read %d shared .h5 files\n", n);
}
END_TEST

START_TEST(read_variants)
{
    ck_h5_file f;
    ck_assert_int_eq(ck_h5_read(LOCAL "/v_weights_only_split.h5", &f), CKERAS_OK);
    ck_assert_str_eq(f.keras_version, "2.1.6");
    ck_assert_str_eq(f.backend, "tensorflow");
    ck_assert_ptr_null(f.model_config);
    ck_assert_int_eq(f.nlayers, 3);
    ck_assert_str_eq(f.layers[0].name, "in");
    ck_assert_int_eq(f.layers[0].n, 0);
    ck_assert_str_eq(f.layers[1].name, "d1");
    ck_assert_int_eq(f.layers[1].n, 2);
    ck_assert_str_eq(f.layers[1].w[0].name, "d1/outer/kernel:0");
    ck_assert_int_eq(f.layers[1].w[0].ndim, 2);
    ck_assert_int_eq(f.layers[1].w[0].shape[1], 3);
    for (int i = 0; i < 6; i++)
        ck_assert(f.layers[1].w[0].data[i] == i / 4.0f);
    ck_assert(f.layers[1].w[1].data[0] == -1.5f && f.layers[1].w[1].data[1] == 2.25f);
    ck_assert_str_eq(f.layers[2].name, "d2");
    ck_assert(f.layers[2].w[0].data[0] == (float)0.1 && f.layers[2].w[0].data[1] == (float)-0.2
              && f.layers[2].w[0].data[2] == (float)1e-3);
    ck_assert_int_eq(f.nopt, 0);
    ck_h5_file_free(&f);

    ck_assert_int_eq(ck_h5_read(LOCAL "/v_model_opt_walk.h5", &f), CKERAS_OK);
    ck_assert_str_eq(f.model_config, "{\"class_name\": \"Sequential\", \"config\": {\"layers\": []}}");
    ck_assert_str_eq(f.training_config, "{\"loss\": \"mse\", \"note\": \"caf\xc3\xa9\"}");
    ck_assert_int_eq(f.nlayers, 2);
    ck_assert_str_eq(f.layers[1].name, "top_level_model_weights");
    ck_assert_int_eq(f.layers[1].w[0].ndim, 0);
    ck_assert(f.layers[1].w[0].data[0] == 0.75f);
    ck_assert_int_eq(f.nopt, 3);
    ck_assert_str_eq(f.opt[0].name, "a/iter");
    ck_assert(f.opt[0].is_int);
    ck_assert(f.opt[0].ivalue == 9007199254740993LL);
    ck_assert_str_eq(f.opt[1].name, "b/x");
    ck_assert(f.opt[1].data[1] == -2.0f);
    ck_assert_str_eq(f.opt[2].name, "c");
    ck_assert(f.opt[2].data[0] == 0.5f && !f.opt[2].is_int);
    ck_h5_file_free(&f);
}
END_TEST

static void expect_fail(const char *path, ckeras_status code, const char *msg)
{
    ck_h5_file f;
    memset(&f, 0x5a, sizeof f);
    ckeras_status st = ck_h5_read(path, &f);
    ck_assert_msg(st == code, "%s: status %d, expected %d (%s)", path, st, code, ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), msg) != NULL, "%s: message '%s' lacks '%s'", path,
                  ckeras_last_error(), msg);
    ck_assert(is_zero(&f));
}

START_TEST(read_errors)
{
    expect_fail(LOCAL "/v_missing_weight.h5", CKERAS_EFORMAT,
                "model_weights/dense_1: weight 'dense_1/kernel:0' missing");
    expect_fail(LOCAL "/v_bad_types.h5", CKERAS_EFORMAT, "model_weights/a: weight 'w' has 9 dimensions");
    expect_fail(LOCAL "/v_strings_as_weights.h5", CKERAS_EFORMAT, "not a float or integer array");
    expect_fail(LOCAL "/v_not_keras.h5", CKERAS_EFORMAT, "not a Keras model or weights file");
    expect_fail(LOCAL "/no_such_file.h5", CKERAS_EIO, "No such file");
    expect_fail(LOCAL, CKERAS_EIO, "is a directory");
    expect_fail(LOCAL "/README.md", CKERAS_EFORMAT, "not an HDF5 file");
    ck_h5_file f;
    ck_assert_int_eq(ck_h5_read(NULL, &f), CKERAS_EINVAL);
    ck_assert_int_eq(ck_h5_read(LOCAL "/seed_mlp.h5", NULL), CKERAS_EINVAL);
    ck_h5_file_free(NULL);
}
END_TEST

/* ---- writing ---------------------------------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_test_h5_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[600];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

/* Number of leftover temporary files (".tmp-") in tmpdir. */
static int temp_leftovers(void)
{
    int n = 0;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp-"))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* The form written by round_trip_and_python_layout (tests/ref/h5_layout.py knows it). */
static float k0[12], b0[4], k1[8], b1[2], m0[12], v0[12];
static ck_h5_array w0[2], w1[2], opt[3];
static ck_h5_layer layers[3];

static ck_h5_file make_form(void)
{
    for (int i = 0; i < 12; i++) {
        k0[i] = 0.37f * (float)i - 1.1f;
        m0[i] = 1e-3f * (float)(i * i) - 0.05f;
        v0[i] = 3e-7f * (float)(i + 1);
    }
    for (int i = 0; i < 4; i++)
        b0[i] = (float)i / 3.0f;
    for (int i = 0; i < 8; i++)
        k1[i] = -0.2f * (float)i + 0.123456789f;
    b1[0] = 1e-30f;
    b1[1] = -7.5f;
    w0[0] = (ck_h5_array){.name = "dense/kernel:0", .ndim = 2, .shape = {3, 4}, .data = k0};
    w0[1] = (ck_h5_array){.name = "dense/bias:0", .ndim = 1, .shape = {4}, .data = b0};
    w1[0] = (ck_h5_array){.name = "dense_1/kernel:0", .ndim = 2, .shape = {4, 2}, .data = k1};
    w1[1] = (ck_h5_array){.name = "dense_1/bias:0", .ndim = 1, .shape = {2}, .data = b1};
    layers[0] = (ck_h5_layer){.name = "dense", .n = 2, .w = w0};
    layers[1] = (ck_h5_layer){.name = "dropout", .n = 0, .w = NULL};
    layers[2] = (ck_h5_layer){.name = "dense_1", .n = 2, .w = w1};
    static float itf = 123456789012.0f;
    opt[0] = (ck_h5_array){.name = "Adam/iter:0", .ndim = 0, .data = &itf, .is_int = true, .ivalue = 123456789012LL};
    opt[1] = (ck_h5_array){.name = "Adam/dense/kernel/m:0", .ndim = 2, .shape = {3, 4}, .data = m0};
    opt[2] = (ck_h5_array){.name = "Adam/dense/kernel/v:0", .ndim = 2, .shape = {3, 4}, .data = v0};
    ck_h5_file f = {
        .model_config = "{\"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": []}}",
        .training_config = "{\"loss\": \"mse\"}",
        .nlayers = 3, .layers = layers, .nopt = 3, .opt = opt,
    };
    return f;
}

static void assert_array_eq(const ck_h5_array *a, const ck_h5_array *b)
{
    ck_assert_str_eq(a->name, b->name);
    ck_assert_int_eq(a->ndim, b->ndim);
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        ck_assert_int_eq(a->shape[i], b->shape[i]);
        n *= a->shape[i];
    }
    ck_assert_int_eq(a->is_int, b->is_int);
    if (a->is_int && n == 1)
        ck_assert(a->ivalue == b->ivalue);
    else
        ck_assert_msg(memcmp(a->data, b->data, (size_t)n * sizeof(float)) == 0, "%s differs", a->name);
}

static void assert_form_eq(const ck_h5_file *got, const ck_h5_file *want)
{
    ck_assert_int_eq(got->nlayers, want->nlayers);
    for (int i = 0; i < want->nlayers; i++) {
        ck_assert_str_eq(got->layers[i].name, want->layers[i].name);
        ck_assert_int_eq(got->layers[i].n, want->layers[i].n);
        for (int j = 0; j < want->layers[i].n; j++)
            assert_array_eq(&got->layers[i].w[j], &want->layers[i].w[j]);
    }
    ck_assert_int_eq(got->nopt, want->nopt);
    for (int i = 0; i < want->nopt; i++)
        assert_array_eq(&got->opt[i], &want->opt[i]);
}

static bool python_h5py_available(void)
{
    return access("/usr/bin/python3", X_OK) == 0
           && system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0;
}

START_TEST(round_trip_and_python_layout)
{
    make_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.h5", tmpdir);
    ck_h5_file in = make_form();
    ck_assert_msg(ck_h5_write(path, &in) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(temp_leftovers(), 0);
    ck_h5_file f;
    ck_assert_msg(ck_h5_read(path, &f) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_str_eq(f.keras_version, "2.15.0");
    ck_assert_str_eq(f.backend, "tensorflow");
    ck_assert_str_eq(f.ckeras_version, CKERAS_VERSION);
    ck_assert_str_eq(f.model_config, in.model_config);
    ck_assert_str_eq(f.training_config, in.training_config);
    assert_form_eq(&f, &in);
    ck_assert(f.opt[0].ivalue == 123456789012LL);
    ck_h5_file_free(&f);

    if (python_h5py_available()) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/ref/h5_layout.py check '%s'", path);
        ck_assert_msg(system(cmd) == 0, "h5py layout check failed for %s", path);
    } else {
        printf("test_h5: /usr/bin/python3 with h5py not available: layout check skipped\n");
    }

    /* a Keras 3 file read, written and read again gives the same form and strings */
    char src[1024];
    ck_assert(find_fixture("seed_mlp.h5", src, sizeof src));
    ck_h5_file a, b;
    ck_assert_int_eq(ck_h5_read(src, &a), CKERAS_OK);
    ck_assert_int_eq(ck_h5_write(path, &a), CKERAS_OK);
    ck_assert_int_eq(ck_h5_read(path, &b), CKERAS_OK);
    ck_assert_str_eq(b.keras_version, "3.11.3");
    ck_assert_str_eq(b.backend, "torch");
    ck_assert_str_eq(b.model_config, a.model_config);
    ck_assert_str_eq(b.training_config, a.training_config);
    assert_form_eq(&b, &a);
    ck_h5_file_free(&a);
    ck_h5_file_free(&b);

    /* a long layer list is split into layer_names0, layer_names1, ... and read back whole */
    enum { NL = 3000 };
    ck_h5_layer *many = calloc(NL, sizeof *many);
    char (*names)[40] = calloc(NL, sizeof *names);
    for (int i = 0; i < NL; i++) {
        snprintf(names[i], sizeof names[i], "a_rather_long_layer_name_%d", i);
        many[i].name = names[i];
    }
    ck_h5_file big = {.nlayers = NL, .layers = many};
    ck_assert_int_eq(ck_h5_write(path, &big), CKERAS_OK);
    ck_assert_int_eq(ck_h5_read(path, &f), CKERAS_OK);
    ck_assert_int_eq(f.nlayers, NL);
    for (int i = 0; i < NL; i++)
        ck_assert_str_eq(f.layers[i].name, names[i]);
    ck_h5_file_free(&f);
    if (python_h5py_available()) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c \"import h5py,sys; a=h5py.File(sys.argv[1])['model_weights'].attrs;"
                 " sys.exit(0 if 'layer_names' not in a and 'layer_names1' in a and"
                 " len(a['layer_names0'])+len(a['layer_names1'])+len(a.get('layer_names2',[]))>=1 else 1)\" '%s'",
                 path);
        ck_assert_msg(system(cmd) == 0, "layer_names not split as Keras does");
    }
    free(many);
    free(names);
    remove_tmpdir();
}
END_TEST

/* Reads path and asserts it holds the round-trip form. */
static void assert_file_holds_form(const char *path)
{
    ck_h5_file want = make_form(), f;
    ck_assert_msg(ck_h5_read(path, &f) == CKERAS_OK, "%s", ckeras_last_error());
    assert_form_eq(&f, &want);
    ck_h5_file_free(&f);
}

START_TEST(failed_write_keeps_old_file)
{
    make_tmpdir();
    char path[512], bad[600];
    snprintf(path, sizeof path, "%s/model.h5", tmpdir);
    ck_h5_file in = make_form();
    ck_assert_int_eq(ck_h5_write(path, &in), CKERAS_OK);

    snprintf(bad, sizeof bad, "%s/missing_dir/model.h5", tmpdir);
    ck_assert_int_eq(ck_h5_write(bad, &in), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "missing_dir/model.h5"));
    snprintf(bad, sizeof bad, "%s/model.h5/inner.h5", tmpdir); /* parent is a file */
    ck_assert_int_eq(ck_h5_write(bad, &in), CKERAS_EIO);
    assert_file_holds_form(path);

    /* fails inside HDF5 after the temporary file exists: two layers with one name */
    ck_h5_layer dup[2] = {layers[0], layers[0]};
    ck_h5_file d = in;
    d.layers = dup;
    d.nlayers = 2;
    ck_assert_int_eq(ck_h5_write(path, &d), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "model_weights/dense"));
    ck_assert_int_eq(temp_leftovers(), 0);
    assert_file_holds_form(path);

    /* malformed input: nothing is written */
    ck_h5_array w9 = {.name = "k", .ndim = 9, .data = k0};
    ck_h5_layer l9 = {.name = "x", .n = 1, .w = &w9};
    ck_h5_file e = {.nlayers = 1, .layers = &l9};
    ck_assert_int_eq(ck_h5_write(path, &e), CKERAS_EINVAL);
    ck_h5_array wn = {.name = "k", .ndim = 1, .shape = {4}, .data = NULL};
    l9.w = &wn;
    ck_assert_int_eq(ck_h5_write(path, &e), CKERAS_EINVAL);
    ck_assert_int_eq(ck_h5_write(NULL, &in), CKERAS_EINVAL);
    assert_file_holds_form(path);

    /* out of memory at every allocation of a write: the old file stays */
    ck_h5_file other = make_form();
    other.nopt = 1;
    for (uint64_t k = 1; k < 200; k++) {
        ck_alloc_fail_at(k);
        ckeras_status st = ck_h5_write(path, &other);
        ck_alloc_fail_at(0);
        if (st == CKERAS_OK)
            break;
        ck_assert_int_eq(st, CKERAS_ENOMEM);
        ck_assert_int_eq(temp_leftovers(), 0);
        assert_file_holds_form(path);
    }

    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(tmpdir, 0555), 0);
        ck_assert_int_eq(ck_h5_write(path, &in), CKERAS_EIO);
        ck_assert_int_eq(chmod(tmpdir, 0755), 0);
        assert_file_holds_form(path);
    } else {
        printf("test_h5: running as root: the read-only folder case is skipped\n");
    }
    remove_tmpdir();
}
END_TEST

/* ---- damaged files ---------------------------------------------------------------------- */

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    rewind(fp);
    unsigned char *b = malloc((size_t)len);
    ck_assert(fread(b, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    *n = (size_t)len;
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert(fwrite(b, 1, n, fp) == n);
    fclose(fp);
}

/* A damaged file gives a valid read or CKERAS_EFORMAT with *out zeroed, never a crash. */
static int read_damaged(const char *path)
{
    ck_h5_file f;
    ckeras_status st = ck_h5_read(path, &f);
    if (st == CKERAS_OK) {
        ck_h5_file_free(&f);
        return 0;
    }
    ck_assert_msg(st == CKERAS_EFORMAT, "status %d: %s", st, ckeras_last_error());
    ck_assert(is_zero(&f));
    return 1;
}

START_TEST(damaged_files_never_crash)
{
    make_tmpdir();
    char mut[600];
    snprintf(mut, sizeof mut, "%s/damaged.h5", tmpdir);
    ck_rng r;
    ck_rng_seed(&r, 20240611);
    int reads = 0, errors = 0;
    for (int k = 0; k < NLOCAL; k++) {
        char path[1024];
        ck_assert(find_fixture(local_copies[k], path, sizeof path));
        size_t n;
        unsigned char *orig = slurp(path, &n);
        /* truncations */
        size_t cuts[] = {0, 1, 7, 8, 100, 511, 512, 1023, 2048, 4096, n / 3, n / 2, n - 4096, n - 1};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            if (cuts[c] >= n)
                continue;
            spill(mut, orig, cuts[c]);
            errors += read_damaged(mut);
            reads++;
        }
        /* flipped bits: half of the mutants in the first 8 KiB, where most metadata lives */
        unsigned char *b = malloc(n);
        for (int m = 0; m < 120; m++) {
            memcpy(b, orig, n);
            int flips = 1 + (int)ck_rng_below(&r, 8);
            for (int i = 0; i < flips; i++) {
                size_t span = (m & 1) && n > 8192 ? 8192 : n;
                b[ck_rng_below(&r, span)] ^= (unsigned char)(1u << ck_rng_below(&r, 8));
            }
            spill(mut, b, n);
            errors += read_damaged(mut);
            reads++;
        }
        free(b);
        free(orig);
    }
    printf("test_h5: %d damaged reads, %d refused\n", reads, errors);
    ck_assert_int_gt(errors, reads / 10); /* the damage is real */
    remove_tmpdir();
}
END_TEST

START_TEST(read_out_of_memory_frees_everything)
{
    char path[1024];
    ck_assert(find_fixture("seed_mlp.h5", path, sizeof path));
    int failures = 0;
    for (uint64_t k = 1; k < 5000; k++) {
        ck_h5_file f;
        ck_alloc_fail_at(k);
        ckeras_status st = ck_h5_read(path, &f);
        ck_alloc_fail_at(0);
        if (st == CKERAS_OK) {
            ck_assert_int_eq(f.nlayers, 4);
            ck_h5_file_free(&f);
            break;
        }
        ck_assert_msg(st == CKERAS_ENOMEM, "k=%llu: %s", (unsigned long long)k, ckeras_last_error());
        ck_assert(is_zero(&f));
        failures++;
    }
    ck_assert_int_gt(failures, 50);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("h5");
    struct {
        const char *name;
        const TTest *test;
    } cases[] = {
        {"read_real_keras_files", read_real_keras_files},
        {"read_every_shared_file", read_every_shared_file},
        {"read_variants", read_variants},
        {"read_errors", read_errors},
        {"round_trip_and_python_layout", round_trip_and_python_layout},
        {"failed_write_keeps_old_file", failed_write_keeps_old_file},
        {"damaged_files_never_crash", damaged_files_never_crash},
        {"read_out_of_memory_frees_everything", read_out_of_memory_frees_everything},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    return tu_run(s);
}
