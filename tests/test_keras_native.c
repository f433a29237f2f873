/* Keras 3's native format: .keras archives and .weights.h5 files (src/io/keras_zip.c,
 * src/io/keras3_json.c, the vars layout of src/io/h5.c, src/model/native.c). Real Keras 3.11.3
 * files from ../shared/fixtures/keras3-native (skipped when absent); malformed archives made
 * here with libzip or by editing the bytes of a valid one. */
#include "model/model.h"
#include "io/io.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

static const char *const fixtures[] = {"seed_mlp", "cnn", "bn_functional", "mobilenetv2"};

static const char *tmpdir;

static void setup(void)
{
    tmpdir = tu_tmpdir_make("native");
    /* the reader's temporary files go here: every test checks that none is left behind */
    ck_assert_int_eq(mkdir(tu_tmp("tmp"), 0700), 0);
    setenv("TMPDIR", tu_tmp("tmp"), 1);
}

static void teardown(void)
{
    int left = tu_count_entries(tu_tmp("tmp"));
    tu_tmpdir_remove();
    unsetenv("TMPDIR");
    ck_assert_msg(left == 0, "%d temporary file(s) left in $TMPDIR", left);
}

#define tmp tu_tmp
#define count_entries tu_count_entries

/* Same convention as tests/test_saveload.c. */
static const char *shared_dir(void)
{
    const char *d = getenv("CK_SHARED_FIXTURES");
    return d && *d ? d : "../shared/fixtures";
}

static const char *native(const char *name, const char *ext)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/keras3-native/%s%s", shared_dir(), name, ext);
    return buf[k];
}

static bool have_fixtures(const char *test)
{
    struct stat sb;
    if (stat(native("seed_mlp", ".keras"), &sb) != 0) {
        printf("%s: %s/keras3-native is absent, skipped\n", test, shared_dir());
        return false;
    }
    return true;
}

static void predict_matches(ckeras_model *m, const char *name)
{
    ckeras_tensor *x = NULL, *want = NULL, *y = NULL;
    ck_assert_int_eq(ck_npy_read(native(name, ".inputs.npy"), &x), CKERAS_OK);
    ck_assert_int_eq(ck_npy_read(native(name, ".expected.npy"), &want), CKERAS_OK);
    ck_assert_msg(ckeras_model_predict(m, x, 32, &y) == CKERAS_OK, "%s: %s", name, ckeras_last_error());
    ck_assert_int_eq(ckeras_tensor_size(y), ckeras_tensor_size(want));
    const float *a = ckeras_tensor_data(y), *b = ckeras_tensor_data(want);
    double worst = 0;
    for (int64_t i = 0; i < ckeras_tensor_size(y); i++)
        worst = fmax(worst, fabs((double)a[i] - (double)b[i]));
    ck_assert_msg(worst <= 1e-5, "%s: predictions differ from Keras' by %g", name, worst);
    ckeras_tensor_free(x);
    ckeras_tensor_free(want);
    ckeras_tensor_free(y);
}

/* ---- real Keras files -------------------------------------------------------------------------- */

START_TEST(every_keras_fixture_loads_and_predicts)
{
    if (!have_fixtures("every_keras_fixture"))
        return;
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(native(fixtures[i], ".keras"), 0, &m) == CKERAS_OK, "%s: %s", fixtures[i],
                      ckeras_last_error());
        ck_assert_msg(m->compiled, "%s: compile_config present, the model should be compiled", fixtures[i]);
        predict_matches(m, fixtures[i]);
        ckeras_model_free(m);
    }
}
END_TEST

/* Weights-only files load into the architecture of keras3-oracle/NAME.h5 (weights zeroed first). */
START_TEST(every_weights_fixture_loads_into_its_architecture)
{
    if (!have_fixtures("every_weights_fixture"))
        return;
    for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
        char arch[512];
        snprintf(arch, sizeof arch, "%s/keras3-oracle/%s.h5", shared_dir(), fixtures[i]);
        ckeras_model *m = NULL;
        ck_assert_msg(ckeras_load_model(arch, CKERAS_LOAD_NO_COMPILE, &m) == CKERAS_OK, "%s: %s", arch,
                      ckeras_last_error());
        for (int n = 0; n < m->g.n; n++) {
            ckeras_layer *l = m->g.nodes[n].layer;
            for (int k = 0; k < l->nw; k++)
                memset(l->w[k].data, 0, (size_t)l->w[k].size * sizeof(float));
        }
        ck_assert_msg(ckeras_model_load_weights(m, native(fixtures[i], ".weights.h5"), 0) == CKERAS_OK, "%s: %s",
                      fixtures[i], ckeras_last_error());
        predict_matches(m, fixtures[i]);
        ckeras_model_free(m);
    }
}
END_TEST

/* Adam's state: iterations, and per trainable variable its momentum then its velocity
 * (velocities are never negative: that checks the order the file keeps them in). */
START_TEST(optimizer_state_is_restored)
{
    if (!have_fixtures("optimizer_state"))
        return;
    ck_keras_archive a;
    ck_assert_int_eq(ck_keras_read(native("seed_mlp", ".keras"), &a), CKERAS_OK);
    const ck_h5_vars_group *g = ck_h5_vars_find(&a.vars, "optimizer");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->n, 18);
    ck_assert(g->v[0].is_int);
    for (int t = 0; t < 8; t++) {
        const ck_h5_array *v = &g->v[2 + 2 * t + 1];
        int64_t n = 1;
        for (int d = 0; d < v->ndim; d++)
            n *= v->shape[d];
        for (int64_t j = 0; j < n; j++)
            ck_assert_msg(v->data[j] >= 0, "velocity %d has a negative value", t);
    }
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(native("seed_mlp", ".keras"), 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(m->opt->iterations, g->v[0].ivalue);
    ck_assert_int_gt(m->opt->iterations, 0);
    /* dense_1's kernel: trainable variable 2 */
    ckeras_layer *l = m->g.nodes[1].layer;
    ck_assert_str_eq(l->name, "dense_1");
    size_t off = (size_t)(l->w[0].data - m->params);
    ck_assert_int_eq(l->w[0].size, 100 * 50);
    ck_assert_mem_eq(m->opt->slots[0] + off, g->v[6].data, 5000 * sizeof(float));
    ck_assert_mem_eq(m->opt->slots[1] + off, g->v[7].data, 5000 * sizeof(float));
    ckeras_model_free(m);
    ck_keras_archive_free(&a);
    /* SGD with momentum (bn_functional): one slot per variable */
    ck_assert_msg(ckeras_load_model(native("bn_functional", ".keras"), 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_gt(m->opt->iterations, 0);
    ckeras_model_free(m);
    /* without compiling */
    ck_assert_int_eq(ckeras_load_model(native("seed_mlp", ".keras"), CKERAS_LOAD_NO_COMPILE, &m), CKERAS_OK);
    ck_assert(!m->compiled);
    ckeras_model_free(m);
}
END_TEST

/* ---- malformed archives ------------------------------------------------------------------------ */

static const char *small_config =
    "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"s\", \"layers\": ["
    "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, 3], "
    "\"name\": \"in\"}}, {\"module\": \"keras.layers\", \"class_name\": \"Dense\", \"config\": {\"name\": \"d\", "
    "\"units\": 2, \"activation\": \"linear\"}, \"build_config\": {\"input_shape\": [null, 3]}}]}}";
static const char *small_meta = "{\"keras_version\": \"3.11.3\", \"date_saved\": \"2026-01-01@00:00:00\"}";

/* The small model's weights: d kernel (3,2) = 0.1*i, bias (2,) = 1, 2. */
static ck_h5_array small_w[2];
static float small_k[6] = {0, .1f, .2f, .3f, .4f, .5f}, small_b[2] = {1, 2};

static void small_arrays(void)
{
    memset(small_w, 0, sizeof small_w);
    small_w[0] = (ck_h5_array){.name = "layers/dense/vars/0", .ndim = 2, .shape = {3, 2}, .data = small_k};
    small_w[1] = (ck_h5_array){.name = "layers/dense/vars/1", .ndim = 1, .shape = {2}, .data = small_b};
}

/* A zip made with libzip: members (name, data) in order; stored (store) or deflated. */
static void make_zip(const char *path, int n, const char *const *names, const char *const *data,
                     const size_t *lens, bool store)
{
    int err = 0;
    unlink(path);
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(z);
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, data[i], lens[i], 0);
        ck_assert_ptr_nonnull(s);
        zip_int64_t idx = zip_file_add(z, names[i], s, ZIP_FL_ENC_UTF_8);
        ck_assert_int_ge(idx, 0);
        zip_set_file_compression(z, (zip_uint64_t)idx, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0);
    }
    ck_assert_int_eq(zip_close(z), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = NULL;
    ck_assert_int_eq(ck_read_file(path, NULL, &b, len), CKERAS_OK);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* A valid small archive at path (config.json stored, so its bytes are easy to find). */
static void small_archive(const char *path, bool store)
{
    small_arrays();
    const char *w = tmp("w.weights.h5");
    ck_assert_int_eq(ck_h5_write_vars(w, small_w, 2), CKERAS_OK);
    size_t wl;
    uint8_t *wb = slurp(w, &wl);
    const char *names[] = {"metadata.json", "config.json", "model.weights.h5"};
    const char *data[] = {small_meta, small_config, (const char *)wb};
    size_t lens[] = {strlen(small_meta), strlen(small_config), wl};
    make_zip(path, 3, names, data, lens, store);
    ck_free(wb);
    unlink(w);
}

static void le_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Sets the sizes of member name in both its local header and its central directory entry. */
static void patch_sizes(uint8_t *b, size_t len, const char *name, int64_t comp, int64_t size)
{
    size_t nl = strlen(name);
    int found = 0;
    for (size_t i = 0; i + 46 + nl <= len; i++) {
        if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 1 && b[i + 3] == 2 && b[i + 28] == nl &&
            memcmp(b + i + 46, name, nl) == 0) {
            if (comp >= 0)
                le_put(b + i + 20, (uint64_t)comp, 4);
            if (size >= 0)
                le_put(b + i + 24, (uint64_t)size, 4);
            size_t loc = (size_t)(b[i + 42] | b[i + 43] << 8 | b[i + 44] << 16 | (uint32_t)b[i + 45] << 24);
            ck_assert(loc + 30 <= len && b[loc] == 'P' && b[loc + 2] == 3);
            if (comp >= 0)
                le_put(b + loc + 18, (uint64_t)comp, 4);
            if (size >= 0)
                le_put(b + loc + 22, (uint64_t)size, 4);
            found++;
        }
    }
    ck_assert_int_eq(found, 1);
}

/* load_model fails with code (or any error when code is CKERAS_OK) and a message naming the
 * file and containing cause. */
static void refused(const char *path, ckeras_status code, const char *cause)
{
    ckeras_model *m = NULL;
    ckeras_status st = ckeras_load_model(path, 0, &m);
    ck_assert_msg(st != CKERAS_OK, "%s loaded", path);
    ck_assert_ptr_null(m);
    if (code != CKERAS_OK)
        ck_assert_msg(st == code, "%s: status %d, expected %d (%s)", path, st, code, ckeras_last_error());
    const char *msg = ckeras_last_error();
    ck_assert_msg(strstr(msg, path) != NULL, "message does not name the file: %s", msg);
    ck_assert_msg(!cause || strstr(msg, cause) != NULL, "message lacks '%s': %s", cause, msg);
}

START_TEST(small_archive_loads)
{
    const char *p = tmp("small.keras");
    small_archive(p, false);
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(p, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(m->g.n, 1);
    ck_assert_mem_eq(m->g.nodes[0].layer->w[0].data, small_k, sizeof small_k);
    ck_assert_mem_eq(m->g.nodes[0].layer->w[1].data, small_b, sizeof small_b);
    ckeras_model_free(m);
}
END_TEST

START_TEST(not_a_zip)
{
    const char *p = tmp("text.keras");
    spit(p, (const uint8_t *)"hello, this is not a zip archive\n", 33);
    refused(p, CKERAS_EFORMAT, "not a zip archive");
    /* an HDF5 file named .keras */
    small_arrays();
    ck_assert_int_eq(ck_h5_write_vars(tmp("w.weights.h5"), small_w, 2), CKERAS_OK);
    ck_assert_int_eq(rename(tmp("w.weights.h5"), tmp("h5.keras")), 0);
    refused(tmp("h5.keras"), CKERAS_EFORMAT, "not a zip archive");
    /* empty file, missing file */
    spit(tmp("empty.keras"), (const uint8_t *)"", 0);
    refused(tmp("empty.keras"), CKERAS_OK, NULL);
    refused(tmp("missing.keras"), CKERAS_EIO, "cannot open");
}
END_TEST

START_TEST(truncated_zip)
{
    const char *p = tmp("full.keras");
    small_archive(p, false);
    size_t len;
    uint8_t *b = slurp(p, &len);
    size_t cuts[] = {len - 1, len - 22, len / 2, 100, 4};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(tmp("cut.keras"), b, cuts[i]);
        refused(tmp("cut.keras"), CKERAS_EFORMAT, "truncated");
    }
    ck_free(b);
}
END_TEST

START_TEST(wrong_member_sizes)
{
    const char *p = tmp("ok.keras");
    small_archive(p, true);
    size_t len;
    uint8_t *b = slurp(p, &len);
    size_t cl = strlen(small_config);
    /* stored member whose sizes disagree */
    uint8_t *c = ck_malloc(len);
    memcpy(c, b, len);
    patch_sizes(c, len, "config.json", -1, (int64_t)cl + 10);
    spit(tmp("size1.keras"), c, len);
    refused(tmp("size1.keras"), CKERAS_EFORMAT, "config.json");
    /* both sizes larger than the data: the next header is read as data, CRC or size mismatch */
    memcpy(c, b, len);
    patch_sizes(c, len, "config.json", (int64_t)cl + 40, (int64_t)cl + 40);
    spit(tmp("size2.keras"), c, len);
    refused(tmp("size2.keras"), CKERAS_EFORMAT, NULL);
    /* smaller: truncated JSON with a wrong CRC */
    memcpy(c, b, len);
    patch_sizes(c, len, "config.json", (int64_t)cl - 40, (int64_t)cl - 40);
    spit(tmp("size3.keras"), c, len);
    refused(tmp("size3.keras"), CKERAS_EFORMAT, NULL);
    /* one byte of the data changed: CRC */
    memcpy(c, b, len);
    uint8_t *at = NULL;
    for (size_t i = 0; i + 10 <= len && !at; i++)
        if (memcmp(c + i, "\"units\": 2", 10) == 0)
            at = c + i;
    ck_assert_ptr_nonnull(at);
    at[9] = '3';
    spit(tmp("crc.keras"), c, len);
    refused(tmp("crc.keras"), CKERAS_EFORMAT, "config.json");
    ck_free(c);
    ck_free(b);
}
END_TEST

START_TEST(huge_declared_sizes)
{
    const char *p = tmp("ok.keras");
    small_archive(p, false);
    size_t len;
    uint8_t *b = slurp(p, &len);
    patch_sizes(b, len, "config.json", -1, 0xfffffff0LL);
    spit(tmp("huge.keras"), b, len);
    refused(tmp("huge.keras"), CKERAS_EFORMAT, "more than the limit");
    ck_free(b);
    b = slurp(p, &len);
    patch_sizes(b, len, "model.weights.h5", -1, 0xfffffff0LL);
    spit(tmp("huge2.keras"), b, len);
    refused(tmp("huge2.keras"), CKERAS_EFORMAT, "model.weights.h5");
    ck_free(b);
}
END_TEST

START_TEST(unsafe_member_paths)
{
    const char *bad[] = {"../config.json", "/etc/passwd", "assets/../../x", "..\\x", "C:/x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *names[] = {"metadata.json", "config.json", bad[i]};
        const char *data[] = {small_meta, small_config, "x"};
        size_t lens[] = {strlen(small_meta), strlen(small_config), 1};
        make_zip(tmp("evil.keras"), 3, names, data, lens, false);
        refused(tmp("evil.keras"), CKERAS_EFORMAT, "'..' component");
    }
}
END_TEST

START_TEST(missing_members)
{
    const char *names[] = {"metadata.json", "model.weights.h5"};
    const char *data[] = {small_meta, "x"};
    size_t lens[] = {strlen(small_meta), 1};
    make_zip(tmp("noconf.keras"), 2, names, data, lens, false);
    refused(tmp("noconf.keras"), CKERAS_EFORMAT, "no config.json");
    /* config but no weights: the Dense layer finds none */
    const char *n2[] = {"metadata.json", "config.json"};
    const char *d2[] = {small_meta, small_config};
    size_t l2[] = {strlen(small_meta), strlen(small_config)};
    make_zip(tmp("noweights.keras"), 2, n2, d2, l2, false);
    refused(tmp("noweights.keras"), CKERAS_EFORMAT, NULL);
    /* weights that are not HDF5 */
    const char *n3[] = {"metadata.json", "config.json", "model.weights.h5"};
    const char *d3[] = {small_meta, small_config, "not hdf5"};
    size_t l3[] = {strlen(small_meta), strlen(small_config), 8};
    make_zip(tmp("badh5.keras"), 3, n3, d3, l3, false);
    refused(tmp("badh5.keras"), CKERAS_EFORMAT, "model.weights.h5");
    /* config.json that is not JSON, twice config.json */
    const char *d4[] = {small_meta, "{not json"};
    size_t l4[] = {strlen(small_meta), 9};
    make_zip(tmp("badjson.keras"), 2, n2, d4, l4, false);
    refused(tmp("badjson.keras"), CKERAS_EFORMAT, "config.json");
    const char *n5[] = {"config.json", "config.json"};
    const char *d5[] = {small_config, small_config};
    size_t l5[] = {strlen(small_config), strlen(small_config)};
    int err = 0;
    zip_t *z = zip_open(tmp("twice.keras"), ZIP_CREATE | ZIP_TRUNCATE, &err);
    ck_assert_ptr_nonnull(z);
    for (int i = 0; i < 2; i++) /* libzip refuses duplicates unless told to keep both */
        ck_assert_int_ge(zip_file_add(z, i ? "config.jsoX" : n5[i], zip_source_buffer(z, d5[i], l5[i], 0), 0), 0);
    ck_assert_int_eq(zip_close(z), 0);
    size_t len;
    uint8_t *b = slurp(tmp("twice.keras"), &len);
    for (size_t i = 0; i + 11 <= len; i++)
        if (memcmp(b + i, "config.jsoX", 11) == 0)
            b[i + 10] = 'n';
    spit(tmp("twice.keras"), b, len);
    ck_free(b);
    refused(tmp("twice.keras"), CKERAS_EFORMAT, NULL);
}
END_TEST

/* ---- writing ------------------------------------------------------------------------------------ */

static void same_vars(const ck_h5_vars *a, const ck_h5_vars *b)
{
    ck_assert_int_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        ck_assert_str_eq(a->g[i].path, b->g[i].path);
        ck_assert_int_eq(a->g[i].n, b->g[i].n);
        for (int k = 0; k < a->g[i].n; k++) {
            const ck_h5_array *x = &a->g[i].v[k], *y = &b->g[i].v[k];
            ck_assert_str_eq(x->name, y->name);
            ck_assert_int_eq(x->ndim, y->ndim);
            int64_t n = 1;
            for (int d = 0; d < x->ndim; d++) {
                ck_assert_int_eq(x->shape[d], y->shape[d]);
                n *= x->shape[d];
            }
            ck_assert_int_eq(x->is_int, y->is_int);
            if (x->is_int)
                ck_assert_int_eq(x->ivalue, y->ivalue);
            ck_assert_mem_eq(x->data, y->data, (size_t)n * sizeof(float));
        }
    }
}

/* The arrays of vars as a flat list for the writers (borrowed pointers). */
static ck_h5_array *flat_arrays(const ck_h5_vars *v, int *n)
{
    int total = 0;
    for (int i = 0; i < v->n; i++)
        total += v->g[i].n;
    ck_h5_array *a = ck_calloc((size_t)total, sizeof *a);
    *n = 0;
    for (int i = 0; i < v->n; i++)
        for (int k = 0; k < v->g[i].n; k++)
            a[(*n)++] = v->g[i].v[k];
    return a;
}

START_TEST(write_read_round_trip)
{
    if (!have_fixtures("write_read_round_trip"))
        return;
    ck_keras_archive a, b;
    ck_assert_int_eq(ck_keras_read(native("cnn", ".keras"), &a), CKERAS_OK);
    int n;
    ck_h5_array *arr = flat_arrays(&a.vars, &n);
    const char *p = tmp("cnn.keras");
    ck_assert_msg(ck_keras_write(p, a.config, a.metadata, arr, n) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_int_eq(ck_keras_read(p, &b), CKERAS_OK);
    ck_assert_str_eq(a.config, b.config);
    ck_assert_str_eq(a.metadata, b.metadata);
    same_vars(&a.vars, &b.vars);
    ck_keras_archive_free(&b);
    /* the rewritten archive loads and predicts as Keras did */
    ckeras_model *m = NULL;
    ck_assert_msg(ckeras_load_model(p, 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    predict_matches(m, "cnn");
    ckeras_model_free(m);
    /* .weights.h5 */
    const char *w = tmp("cnn.weights.h5");
    ck_assert_int_eq(ck_h5_write_vars(w, arr, n), CKERAS_OK);
    ck_h5_vars v;
    ck_assert_int_eq(ck_h5_read_vars(w, NULL, &v), CKERAS_OK);
    same_vars(&a.vars, &v);
    ck_h5_vars_free(&v);
    /* nothing but the two files in the folder: no temporary file left */
    ck_assert_int_eq(count_entries(tmpdir), 3); /* tmp/, cnn.keras, cnn.weights.h5 */
    ck_free(arr);
    ck_keras_archive_free(&a);
}
END_TEST

START_TEST(write_fails_cleanly)
{
    small_arrays();
    /* an existing file stays when the write fails (bad array name) */
    const char *p = tmp("keep.keras");
    spit(p, (const uint8_t *)"old", 3);
    ck_h5_array bad = small_w[0];
    bad.name = "/abs/vars/0";
    ck_assert_int_eq(ck_keras_write(p, small_config, small_meta, &bad, 1), CKERAS_EINVAL);
    size_t len;
    uint8_t *b = slurp(p, &len);
    ck_assert_uint_eq(len, 3);
    ck_free(b);
    ck_assert_int_eq(count_entries(tmpdir), 2); /* tmp/, keep.keras */
    /* a folder that does not exist */
    ck_assert_int_eq(ck_keras_write(tmp("no/such/dir.keras"), small_config, small_meta, small_w, 2), CKERAS_EIO);
}
END_TEST

/* h5py (Debian's python3-h5py) reads what ck_h5_write_vars wrote. */
START_TEST(h5py_reads_written_weights)
{
    if (system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") != 0) {
        printf("h5py_reads_written_weights: /usr/bin/python3 with h5py is absent, skipped\n");
        return;
    }
    small_arrays();
    ck_h5_array all[3] = {small_w[0], small_w[1],
                          {.name = "optimizer/vars/0", .ndim = 0, .is_int = true, .ivalue = 42}};
    const char *w = tmp("small.weights.h5");
    ck_assert_int_eq(ck_h5_write_vars(w, all, 3), CKERAS_OK);
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import h5py, numpy as np; f = h5py.File('%s', 'r'); "
             "k = f['layers/dense/vars/0'][()]; b = f['layers/dense/vars/1'][()]; i = f['optimizer/vars/0'][()]; "
             "assert k.shape == (3, 2) and k.dtype == np.float32, k; "
             "assert np.array_equal(k.ravel(), np.array([0, .1, .2, .3, .4, .5], np.float32)), k; "
             "assert list(b) == [1, 2] and int(i) == 42, (b, i)\"",
             w);
    ck_assert_msg(system(cmd) == 0, "h5py could not read %s back", w);
    /* and a model loads it as its weights */
    ckeras_model *m = NULL;
    const char *p = tmp("small.keras");
    small_archive(p, false);
    ck_assert_int_eq(ckeras_load_model(p, 0, &m), CKERAS_OK);
    memset(m->g.nodes[0].layer->w[0].data, 0, 6 * sizeof(float));
    ck_assert_msg(ckeras_model_load_weights(m, w, 0) == CKERAS_OK, "%s", ckeras_last_error());
    ck_assert_mem_eq(m->g.nodes[0].layer->w[0].data, small_k, sizeof small_k);
    /* a shape mismatch names the file and the variable */
    ck_h5_array wrong = small_w[0];
    wrong.shape[0] = 2;
    ck_h5_array two[2] = {wrong, small_w[1]};
    ck_assert_int_eq(ck_h5_write_vars(w, two, 2), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_load_weights(m, w, 0), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "layers/dense/vars/0"));
    ck_assert_int_eq(ckeras_model_load_weights(m, w, CKERAS_WEIGHTS_SKIP_MISMATCH), CKERAS_OK);
    ckeras_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keras_native");
    TCase *tc = tcase_create("keras_native");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, every_keras_fixture_loads_and_predicts);
    tcase_add_test(tc, every_weights_fixture_loads_into_its_architecture);
    tcase_add_test(tc, optimizer_state_is_restored);
    tcase_add_test(tc, small_archive_loads);
    tcase_add_test(tc, not_a_zip);
    tcase_add_test(tc, truncated_zip);
    tcase_add_test(tc, wrong_member_sizes);
    tcase_add_test(tc, huge_declared_sizes);
    tcase_add_test(tc, unsafe_member_paths);
    tcase_add_test(tc, missing_members);
    tcase_add_test(tc, write_read_round_trip);
    tcase_add_test(tc, write_fails_cleanly);
    tcase_add_test(tc, h5py_reads_written_weights);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
