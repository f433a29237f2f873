/* Data sets: CSV, train_test_split, StandardScaler, NPY/NPZ, IDX.
 *
 * Reference values: the breast-cancer CSV's first and last rows and class counts read off the
 * file by hand; .npy/.npz files written by numpy (tests/ref/make_npy.py) whose values follow
 * formulas recomputed here; sums of the shared Keras fixtures computed by numpy
 * (tests/fixtures/npy/oracle_sums.json); IDX files written here byte by byte. */
#include "io/io.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CSV_BC "examples/data/breast_cancer.csv"
#define NPYDIR "tests/fixtures/npy/"
#define SHARED "/work/shared/fixtures/"

/* ---- a temporary folder per test ---------------------------------------------------------- */

static char g_dir[64];

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/ck_test_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void)
{
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            remove(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
}

/* Path of name inside the test folder (rotating static buffers). */
static const char *tpath(const char *name)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static const char *write_bytes(const char *name, const void *data, size_t n)
{
    const char *p = tpath(name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static bool exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

#define assert_near(a, b, tol)                                                                     \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.9g, expected %.9g", #a, (double)(a), \
                  (double)(b))

/* ---- CSV ------------------------------------------------------------------------------------- */

START_TEST(csv_breast_cancer)
{
    float *d = NULL;
    int64_t rows = 0, cols = 0;
    ck_assert_int_eq(ck_csv_read(CSV_BC, &d, &rows, &cols), CKERAS_OK);
    ck_assert_int_eq(rows, 569);
    ck_assert_int_eq(cols, 31);
    /* Row 1 of the file after the header, read by hand. */
    const float first[31] = {17.99f,   10.38f,   122.8f,   1001.0f, 0.1184f, 0.2776f, 0.3001f, 0.1471f,
                             0.2419f,  0.07871f, 1.095f,   0.9053f, 8.589f,  153.4f,  0.006399f, 0.04904f,
                             0.05373f, 0.01587f, 0.03003f, 0.006193f, 25.38f, 17.33f,  184.6f,  2019.0f,
                             0.1622f,  0.6656f,  0.7119f,  0.2654f, 0.4601f, 0.1189f, 0.0f};
    for (int j = 0; j < 31; j++)
        ck_assert_msg(d[j] == first[j], "row 0 col %d: %.9g != %.9g", j, d[j], first[j]);
    const float last[5] = {7.76f, 24.54f, 47.92f, 181.0f, 0.05263f};
    for (int j = 0; j < 5; j++)
        ck_assert(d[568 * 31 + j] == last[j]);
    ck_assert(d[568 * 31 + 30] == 1.0f);
    ck_free(d);

    ckeras_tensor *x = NULL, *y = NULL;
    ck_assert_int_eq(ckeras_read_csv(CSV_BC, &x, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_ndim(x), 2);
    ck_assert_int_eq(ckeras_tensor_dim(x, 0), 569);
    ck_assert_int_eq(ckeras_tensor_dim(x, 1), 30);
    ck_assert_int_eq(ckeras_tensor_dim(y, 0), 569);
    ck_assert_int_eq(ckeras_tensor_dim(y, 1), 1);
    ck_assert(ckeras_tensor_data(x)[0] == 17.99f);
    ck_assert(ckeras_tensor_data(x)[29] == 0.1189f);
    ck_assert(ckeras_tensor_data(x)[30] == 20.57f); /* row 2 starts right after 30 features */
    int n0 = 0, n1 = 0;
    for (int i = 0; i < 569; i++) {
        float v = ckeras_tensor_data(y)[i];
        ck_assert(v == 0.0f || v == 1.0f);
        n0 += v == 0.0f;
        n1 += v == 1.0f;
    }
    ck_assert_int_eq(n0, 212); /* malignant */
    ck_assert_int_eq(n1, 357); /* benign */
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

START_TEST(csv_robust_layouts)
{
    /* BOM, a header, CRLF, spaces and tabs, exponents, blank lines at the end. */
    const char *p = write_text("a.csv", "\xEF\xBB\xBF" "name,b,c\r\n"
                                        "# comment line\r\n"
                                        " 1 , 2.5,\t-3e2 \r\n"
                                        "4,.5,5.\r\n"
                                        "+7,-0,1E-3\r\n"
                                        "\r\n\n   \n");
    float *d = NULL;
    int64_t rows = 0, cols = 0;
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_OK);
    ck_assert_int_eq(rows, 3);
    ck_assert_int_eq(cols, 3);
    const float want[9] = {1, 2.5f, -300, 4, 0.5f, 5, 7, 0, 0.001f};
    for (int i = 0; i < 9; i++)
        ck_assert_msg(d[i] == want[i], "cell %d: %g != %g", i, d[i], want[i]);
    ck_assert(signbit(d[7]));
    ck_free(d);

    /* No final newline; nan and inf are numbers; long mantissas and big exponents. */
    p = write_text("b.csv", "nan,-inf,0.1234567890123456789012\n"
                            "1e300,1e-50,123456789012345678901234567890");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_OK);
    ck_assert_int_eq(rows, 2);
    ck_assert(isnan(d[0]));
    ck_assert(isinf(d[1]) && d[1] < 0);
    ck_assert(d[2] == 0.1234567890123456789012f);
    ck_assert(isinf(d[3]));   /* beyond float32 */
    ck_assert(d[4] == 0.0f);  /* below float32 */
    ck_assert(d[5] == 123456789012345678901234567890.0f);
    ck_free(d);
}
END_TEST

START_TEST(csv_malformed)
{
    float *d = NULL;
    int64_t rows = 0, cols = 0;
    const char *p = write_text("ragged.csv", "a,b,c\n1,2,3\n4,5\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "line 3 has 2 columns, expected 3"));
    p = write_text("long.csv", "1,2\r\n3,4,5\r\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "line 2 has 3 columns, expected 2"));
    p = write_text("word.csv", "h1,h2\n1,2\n\n3,abc\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "line 4, column 2: 'abc' is not a number"));
    p = write_text("empty_cell.csv", "1,2\n3,\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "line 2, column 2"));
    p = write_text("junk.csv", "1,2\n3,4x\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    p = write_text("empty.csv", "");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    p = write_text("header_only.csv", "a,b\n\n");
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    p = write_bytes("nul.csv", "1,2\n3,\0\n", 7);
    ck_assert_int_eq(ck_csv_read(p, &d, &rows, &cols), CKERAS_EFORMAT);
    ck_assert_int_eq(ck_csv_read(tpath("missing.csv"), &d, &rows, &cols), CKERAS_EIO);
    ck_assert_int_eq(ck_csv_read(g_dir, &d, &rows, &cols), CKERAS_EIO);
    ck_assert_int_eq(ck_csv_read(NULL, &d, &rows, &cols), CKERAS_EINVAL);
    ck_assert_ptr_null(d);

    ckeras_tensor *x = NULL, *y = NULL;
    p = write_text("one_col.csv", "1\n2\n");
    ck_assert_int_eq(ckeras_read_csv(p, &x, &y), CKERAS_EFORMAT);
    ck_assert_int_eq(ckeras_read_csv(tpath("missing.csv"), &x, &y), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "read_csv"));
    ck_assert_int_eq(ckeras_read_csv(NULL, &x, &y), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_read_csv(CSV_BC, NULL, &y), CKERAS_EINVAL);
    ck_assert_ptr_null(x);
    ck_assert_ptr_null(y);
}
END_TEST

START_TEST(csv_allocation_failures)
{
    /* Every allocation in turn fails: an error, never a crash or a leak (ASan checks leaks). */
    for (uint64_t k = 1; k < 40; k++) {
        ckeras_tensor *x = NULL, *y = NULL;
        ck_alloc_fail_at(k);
        ckeras_status st = ckeras_read_csv(CSV_BC, &x, &y);
        ck_alloc_fail_at(0);
        ck_assert(st == CKERAS_OK || st == CKERAS_ENOMEM);
        if (st == CKERAS_OK) {
            ck_assert_int_eq(ckeras_tensor_dim(x, 0), 569);
            ckeras_tensor_free(x);
            ckeras_tensor_free(y);
        } else {
            ck_assert_ptr_null(x);
        }
    }
}
END_TEST

/* ---- train_test_split ---------------------------------------------------------------------- */

/* x (n, 3) with x[r][c] = 10 r + c, y (n) with y[r] = r. */
static void make_xy(int n, ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(2, (const int64_t[]){n, 3});
    *y = ckeras_tensor_new(1, (const int64_t[]){n});
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < 3; c++)
            ckeras_tensor_data(*x)[r * 3 + c] = (float)(10 * r + c);
        ckeras_tensor_data(*y)[r] = (float)r;
    }
}

START_TEST(split_sizes_and_permutation)
{
    ckeras_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    make_xy(10, &x, &y);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.25, 42, &xtr, &xte, &ytr, &yte), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_dim(xte, 0), 3); /* ceil(2.5) */
    ck_assert_int_eq(ckeras_tensor_dim(xtr, 0), 7);
    ck_assert_int_eq(ckeras_tensor_dim(xtr, 1), 3);
    ck_assert_int_eq(ckeras_tensor_ndim(ytr), 1);
    int seen[10] = {0};
    ckeras_tensor *xs[2] = {xtr, xte}, *ys[2] = {ytr, yte};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; i < ckeras_tensor_dim(ys[s], 0); i++) {
            int r = (int)ckeras_tensor_data(ys[s])[i];
            ck_assert(r >= 0 && r < 10);
            seen[r]++;
            for (int c = 0; c < 3; c++) /* the x row travelled with its y */
                ck_assert(ckeras_tensor_data(xs[s])[i * 3 + c] == (float)(10 * r + c));
        }
    for (int r = 0; r < 10; r++)
        ck_assert_int_eq(seen[r], 1);

    /* Same seed: same split; another seed: another one. */
    ckeras_tensor *a, *b, *c2, *d2;
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.25, 42, &a, &b, &c2, &d2), CKERAS_OK);
    ck_assert_mem_eq(ckeras_tensor_data(d2), ckeras_tensor_data(yte), 3 * sizeof(float));
    ck_assert_mem_eq(ckeras_tensor_data(c2), ckeras_tensor_data(ytr), 7 * sizeof(float));
    ckeras_tensor_free(a); ckeras_tensor_free(b); ckeras_tensor_free(c2); ckeras_tensor_free(d2);
    ckeras_tensor *e, *f, *g, *h;
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.25, 43, &e, &f, &g, &h), CKERAS_OK);
    ck_assert(memcmp(ckeras_tensor_data(g), ckeras_tensor_data(ytr), 7 * sizeof(float)) != 0 ||
              memcmp(ckeras_tensor_data(h), ckeras_tensor_data(yte), 3 * sizeof(float)) != 0);
    ckeras_tensor_free(e); ckeras_tensor_free(f); ckeras_tensor_free(g); ckeras_tensor_free(h);
    ckeras_tensor_free(xtr); ckeras_tensor_free(xte); ckeras_tensor_free(ytr); ckeras_tensor_free(yte);

    /* Errors: fraction outside (0,1), row mismatch, NULLs, too few rows. */
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.0, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 1.0, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, y, -0.1, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, y, NAN, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.95, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(NULL, y, 0.2, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, NULL, 0.2, 1, &xtr, &xte, &ytr, &yte), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.2, 1, NULL, &xte, &ytr, &yte), CKERAS_EINVAL);
    ckeras_tensor *y9 = ckeras_tensor_new(2, (const int64_t[]){9, 1});
    ck_assert_int_eq(ckeras_train_test_split(x, y9, 0.2, 1, &xtr, &xte, &ytr, &yte), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "10 rows but y has 9"));
    ckeras_tensor_free(y9);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

START_TEST(split_breast_cancer_and_images)
{
    ckeras_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    ck_assert_int_eq(ckeras_read_csv(CSV_BC, &x, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.2, 7, &xtr, &xte, &ytr, &yte), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_dim(xte, 0), 114); /* ceil(113.8), as scikit-learn */
    ck_assert_int_eq(ckeras_tensor_dim(xtr, 0), 455);
    ck_assert_int_eq(ckeras_tensor_dim(ytr, 1), 1);
    /* The label counts are preserved by the split. */
    int n1 = 0;
    for (int i = 0; i < 455; i++)
        n1 += ckeras_tensor_data(ytr)[i] == 1.0f;
    for (int i = 0; i < 114; i++)
        n1 += ckeras_tensor_data(yte)[i] == 1.0f;
    ck_assert_int_eq(n1, 357);
    ckeras_tensor_free(xtr); ckeras_tensor_free(xte); ckeras_tensor_free(ytr); ckeras_tensor_free(yte);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);

    /* Rank 4 (NHWC images): each image moves whole with its label. */
    ckeras_tensor *im = ckeras_tensor_new(4, (const int64_t[]){6, 2, 2, 1});
    ckeras_tensor *lb = ckeras_tensor_new(1, (const int64_t[]){6});
    for (int i = 0; i < 6; i++) {
        for (int k = 0; k < 4; k++)
            ckeras_tensor_data(im)[i * 4 + k] = (float)(100 * i + k);
        ckeras_tensor_data(lb)[i] = (float)i;
    }
    ck_assert_int_eq(ckeras_train_test_split(im, lb, 0.5, 3, &xtr, &xte, &ytr, &yte), CKERAS_OK);
    ck_assert_int_eq(ckeras_tensor_ndim(xte), 4);
    ck_assert_int_eq(ckeras_tensor_dim(xte, 0), 3);
    ck_assert_int_eq(ckeras_tensor_dim(xte, 1), 2);
    for (int i = 0; i < 3; i++) {
        int r = (int)ckeras_tensor_data(yte)[i];
        for (int k = 0; k < 4; k++)
            ck_assert(ckeras_tensor_data(xte)[i * 4 + k] == (float)(100 * r + k));
    }
    ckeras_tensor_free(xtr); ckeras_tensor_free(xte); ckeras_tensor_free(ytr); ckeras_tensor_free(yte);
    ckeras_tensor_free(im);
    ckeras_tensor_free(lb);
}
END_TEST

/* ---- StandardScaler ------------------------------------------------------------------------- */

START_TEST(scaler_hand_example)
{
    /* Column 0: 1, 2, 6: mean 3, deviations -2, -1, 3, population variance 14/3.
     * Column 1: constant 5: std 0 is taken as 1, so the values become 0. */
    float d[6] = {1, 5, 2, 5, 6, 5};
    ckeras_tensor *x = ckeras_tensor_copy(d, 2, (const int64_t[]){3, 2});
    ckeras_scaler *s = ckeras_standard_scaler_fit(x);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, x), CKERAS_OK);
    const double sd = 2.1602468994692869; /* sqrt(14/3) */
    const float *o = ckeras_tensor_data(x);
    assert_near(o[0], -2.0 / sd, 1e-6);
    assert_near(o[2], -1.0 / sd, 1e-6);
    assert_near(o[4], 3.0 / sd, 1e-6);
    ck_assert(o[1] == 0.0f && o[3] == 0.0f && o[5] == 0.0f);
    /* A tensor of another rank with the same feature count: fine; another count: ESHAPE. */
    ckeras_tensor *x3 = ckeras_tensor_copy((const float[]){3, 5, 4, 7}, 3, (const int64_t[]){2, 1, 2});
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, x3), CKERAS_OK);
    assert_near(ckeras_tensor_data(x3)[0], 0.0, 1e-7);
    assert_near(ckeras_tensor_data(x3)[2], 1.0 / sd, 1e-6);
    assert_near(ckeras_tensor_data(x3)[3], 2.0, 1e-6);
    ckeras_tensor *bad = ckeras_tensor_new(2, (const int64_t[]){2, 3});
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, bad), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "3 features"));
    ck_assert_int_eq(ckeras_standard_scaler_transform(NULL, x), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, NULL), CKERAS_EINVAL);
    ck_assert_ptr_null(ckeras_standard_scaler_fit(NULL));
    ckeras_standard_scaler_free(s);
    ckeras_standard_scaler_free(NULL);
    ckeras_tensor_free(bad);
    ckeras_tensor_free(x3);
    ckeras_tensor_free(x);

    float nan_d[2] = {1, NAN};
    ckeras_tensor *xn = ckeras_tensor_copy(nan_d, 2, (const int64_t[]){1, 2});
    ck_assert_ptr_null(ckeras_standard_scaler_fit(xn));
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "feature 1"));
    ckeras_tensor_free(xn);
}
END_TEST

START_TEST(scaler_breast_cancer)
{
    ckeras_tensor *x, *y, *xtr, *xte, *ytr, *yte;
    ck_assert_int_eq(ckeras_read_csv(CSV_BC, &x, &y), CKERAS_OK);
    ck_assert_int_eq(ckeras_train_test_split(x, y, 0.2, 1, &xtr, &xte, &ytr, &yte), CKERAS_OK);
    ckeras_scaler *s = ckeras_standard_scaler_fit(xtr);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, xtr), CKERAS_OK);
    ck_assert_int_eq(ckeras_standard_scaler_transform(s, xte), CKERAS_OK);
    const float *t = ckeras_tensor_data(xtr);
    for (int j = 0; j < 30; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < 455; i++)
            m += t[i * 30 + j];
        m /= 455;
        for (int i = 0; i < 455; i++)
            v += (t[i * 30 + j] - m) * (t[i * 30 + j] - m);
        v /= 455;
        ck_assert_msg(fabs(m) < 1e-5, "feature %d mean %g", j, m);
        ck_assert_msg(fabs(sqrt(v) - 1.0) < 1e-4, "feature %d std %g", j, sqrt(v));
    }
    /* The test set is scaled with the train statistics: not exactly standard, but close. */
    double m0 = 0;
    for (int i = 0; i < 114; i++)
        m0 += ckeras_tensor_data(xte)[i * 30];
    ck_assert(fabs(m0 / 114) < 0.5 && m0 != 0.0);
    ckeras_standard_scaler_free(s);
    ckeras_tensor_free(xtr); ckeras_tensor_free(xte); ckeras_tensor_free(ytr); ckeras_tensor_free(yte);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* ---- NPY -------------------------------------------------------------------------------------- */

static ckeras_tensor *npy(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, NPYDIR "%s", name);
    ckeras_tensor *t = NULL;
    ckeras_status st = ck_npy_read(p, &t);
    ck_assert_msg(st == CKERAS_OK, "%s: %s", p, ckeras_last_error());
    return t;
}

static void assert_shape(const ckeras_tensor *t, int ndim, const int64_t *shape)
{
    ck_assert_int_eq(ckeras_tensor_ndim(t), ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_int_eq(ckeras_tensor_dim(t, i), shape[i]);
}

START_TEST(npy_numpy_dtypes)
{
    ckeras_tensor *t = npy("f4.npy");
    assert_shape(t, 3, (const int64_t[]){2, 3, 4});
    for (int i = 0; i < 24; i++)
        ck_assert(ckeras_tensor_data(t)[i] == (float)(i - 7) * 0.25f);
    ckeras_tensor_free(t);

    t = npy("f8.npy");
    assert_shape(t, 2, (const int64_t[]){3, 5});
    for (int i = 0; i < 15; i++)
        ck_assert(ckeras_tensor_data(t)[i] == (float)((double)i * 0.1 - 0.5));
    ckeras_tensor_free(t);

    t = npy("i4.npy");
    assert_shape(t, 1, (const int64_t[]){4});
    for (int i = 0; i < 4; i++)
        ck_assert(ckeras_tensor_data(t)[i] == (float)(1000 * i - 1500));
    ckeras_tensor_free(t);

    t = npy("i8.npy");
    assert_shape(t, 2, (const int64_t[]){2, 2});
    const float i8[4] = {-1099511627776.0f, 3, 2147483648.0f, -7};
    ck_assert_mem_eq(ckeras_tensor_data(t), i8, sizeof i8);
    ckeras_tensor_free(t);

    t = npy("u1.npy");
    assert_shape(t, 2, (const int64_t[]){2, 3});
    const float u1[6] = {0, 1, 127, 128, 254, 255};
    ck_assert_mem_eq(ckeras_tensor_data(t), u1, sizeof u1);
    ckeras_tensor_free(t);

    t = npy("b1.npy");
    const float b1[5] = {1, 0, 0, 1, 1};
    ck_assert_mem_eq(ckeras_tensor_data(t), b1, sizeof b1);
    ckeras_tensor_free(t);

    t = npy("f2.npy");
    assert_shape(t, 1, (const int64_t[]){8});
    const float f2[7] = {0, 1, -2, 0.5f, 65504.0f, 0x1p-24f, 0x1p-14f};
    ck_assert_mem_eq(ckeras_tensor_data(t), f2, sizeof f2);
    ck_assert(isinf(ckeras_tensor_data(t)[7]) && ckeras_tensor_data(t)[7] > 0);
    ckeras_tensor_free(t);

    t = npy("i2_be.npy");
    ck_assert(ckeras_tensor_data(t)[0] == -300.0f && ckeras_tensor_data(t)[1] == 7.0f);
    ckeras_tensor_free(t);
    t = npy("f4_be.npy");
    const float be[4] = {1.5f, -2.25f, 3, 4};
    ck_assert_mem_eq(ckeras_tensor_data(t), be, sizeof be);
    ckeras_tensor_free(t);

    t = npy("scalar.npy");
    ck_assert_int_eq(ckeras_tensor_ndim(t), 0);
    ck_assert_int_eq(ckeras_tensor_size(t), 1);
    ck_assert(ckeras_tensor_data(t)[0] == 3.5f);
    ckeras_tensor_free(t);

    t = npy("empty.npy");
    assert_shape(t, 2, (const int64_t[]){0, 3});
    ck_assert_int_eq(ckeras_tensor_size(t), 0);
    ckeras_tensor_free(t);

    for (int v = 2; v <= 3; v++) {
        char name[32];
        snprintf(name, sizeof name, "v%d.npy", v);
        t = npy(name);
        assert_shape(t, 1, (const int64_t[]){3});
        ck_assert(ckeras_tensor_data(t)[2] == 3.0f);
        ckeras_tensor_free(t);
    }
}
END_TEST

START_TEST(npy_unsupported_and_bad)
{
    ckeras_tensor *t = NULL;
    ck_assert_int_eq(ck_npy_read(NPYDIR "fortran.npy", &t), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "fortran"));
    ck_assert_int_eq(ck_npy_read(NPYDIR "c8.npy", &t), CKERAS_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "<c8"));
    ck_assert_int_eq(ck_npy_read(NPYDIR "str.npy", &t), CKERAS_EUNSUPPORTED);
    ck_assert_int_eq(ck_npy_read(tpath("missing.npy"), &t), CKERAS_EIO);
    ck_assert_int_eq(ck_npy_read(NULL, &t), CKERAS_EINVAL);

    /* Hand-made headers. */
    struct {
        const char *name, *hdr;
        ckeras_status want;
    } cases[] = {
        /* 10^18 elements: past the tensor limit, refused before the data is looked at */
        {"absurd.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", CKERAS_ESHAPE},
        {"truncated.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", CKERAS_EFORMAT},
        {"overflow.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", CKERAS_ESHAPE},
        {"bigdim.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", CKERAS_EFORMAT},
        {"neg.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", CKERAS_EFORMAT},
        {"nodescr.npy", "{'fortran_order': False, 'shape': (2,), }", CKERAS_EFORMAT},
        {"unterminated.npy", "{'descr': '<f4", CKERAS_EFORMAT},
        {"notdict.npy", "[1, 2]", CKERAS_EFORMAT},
        {"extra_key.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", CKERAS_EFORMAT},
        {"f3.npy", "{'descr': '<f3', 'fortran_order': False, 'shape': (2,), }", CKERAS_EUNSUPPORTED},
        {"nine.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1), }", CKERAS_EUNSUPPORTED},
        {"long_ok.npy", "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L,)}", CKERAS_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
        size_t h = strlen(cases[i].hdr);
        buf[8] = (uint8_t)h;
        buf[9] = 0;
        memcpy(buf + 10, cases[i].hdr, h);
        memset(buf + 10 + h, 0, 8); /* 8 bytes of data: two float32 zeros */
        const char *p = write_bytes(cases[i].name, buf, 10 + h + 8);
        t = NULL;
        ckeras_status st = ck_npy_read(p, &t);
        ck_assert_msg(st == cases[i].want, "%s: got %s (%s)", cases[i].name, ckeras_status_name(st),
                      ckeras_last_error());
        if (st == CKERAS_OK) {
            ck_assert_int_eq(ckeras_tensor_dim(t, 0), 2);
            ckeras_tensor_free(t);
        }
    }
    /* Bad magic, unknown version, header length beyond the file, truncated data. */
    const uint8_t badmagic[16] = {0x93, 'N', 'U', 'M', 'P', 'X', 1, 0, 0, 0};
    ck_assert_int_eq(ck_npy_read(write_bytes("m.npy", badmagic, 16), &t), CKERAS_EFORMAT);
    const uint8_t v9[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 9, 0, 0, 0};
    ck_assert_int_eq(ck_npy_read(write_bytes("v9.npy", v9, 16), &t), CKERAS_EUNSUPPORTED);
    const uint8_t longhdr[16] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xff, 0xff, 0xff, 0x7f};
    ck_assert_int_eq(ck_npy_read(write_bytes("lh.npy", longhdr, 16), &t), CKERAS_EFORMAT);
    size_t n;
    uint8_t *f4 = slurp(NPYDIR "f4.npy", &n);
    ck_assert_int_eq(ck_npy_read(write_bytes("trunc.npy", f4, n - 1), &t), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "truncated data"));
    free(f4);
}
END_TEST

START_TEST(npy_truncations_and_corruptions)
{
    /* Every prefix of valid files is an error; every single-byte corruption is either read or
     * refused, never a crash (run under ASan). */
    const char *files[] = {NPYDIR "f4.npy", NPYDIR "f2.npy", NPYDIR "v3.npy", NPYDIR "scalar.npy"};
    for (size_t fi = 0; fi < 4; fi++) {
        size_t n;
        uint8_t *b = slurp(files[fi], &n);
        for (size_t len = 0; len < n; len++) {
            ckeras_tensor *t = NULL;
            ck_assert_msg(ck_npy_parse(b, len, "prefix", &t) != CKERAS_OK, "%s: prefix %zu accepted",
                          files[fi], len);
            ck_assert_ptr_null(t);
        }
        for (size_t pos = 0; pos < n; pos++) {
            const uint8_t vals[] = {0x00, 0xff, '(', ')', ',', '9', '\''};
            for (size_t v = 0; v < sizeof vals; v++) {
                uint8_t keep = b[pos];
                b[pos] = vals[v];
                ckeras_tensor *t = NULL;
                if (ck_npy_parse(b, n, "flip", &t) == CKERAS_OK)
                    ckeras_tensor_free(t);
                b[pos] = keep;
            }
        }
        free(b);
    }
}
END_TEST

START_TEST(npy_write_round_trip)
{
    const int64_t shapes[5][8] = {{2, 3}, {5}, {0}, {0, 4}, {1, 2, 1, 2, 1, 2, 1, 2}};
    const int ndims[5] = {2, 1, 0, 2, 8};
    for (int s = 0; s < 5; s++) {
        ckeras_tensor *t = ckeras_tensor_new(ndims[s], shapes[s]);
        int64_t n = ckeras_tensor_size(t);
        for (int64_t i = 0; i < n; i++)
            ckeras_tensor_data(t)[i] = (float)i * 1.25f - 3.0f;
        const char *p = tpath("rt.npy");
        ck_assert_int_eq(ck_npy_write(p, t), CKERAS_OK);
        /* Layout: version 1.0, header padded so the data starts at a multiple of 64. */
        size_t len;
        uint8_t *b = slurp(p, &len);
        ck_assert_mem_eq(b, "\x93NUMPY\x01\x00", 8);
        size_t start = 10 + (size_t)(b[8] | (b[9] << 8));
        ck_assert_uint_eq(start % 64, 0);
        ck_assert_uint_eq(len, start + (size_t)n * 4);
        ck_assert_int_eq(b[start - 1], '\n');
        b[start - 1] = '\0';
        ck_assert_ptr_nonnull(strstr((char *)b + 10, "'descr': '<f4'"));
        ck_assert_ptr_nonnull(strstr((char *)b + 10, "'fortran_order': False"));
        const char *want_shape[5] = {"(2, 3)", "(5,)", "()", "(0, 4)", "(1, 2, 1, 2, 1, 2, 1, 2)"};
        ck_assert_ptr_nonnull(strstr((char *)b + 10, want_shape[s]));
        free(b);
        ckeras_tensor *r = NULL;
        ck_assert_int_eq(ck_npy_read(p, &r), CKERAS_OK);
        assert_shape(r, ndims[s], shapes[s]);
        if (n)
            ck_assert_mem_eq(ckeras_tensor_data(r), ckeras_tensor_data(t), (size_t)n * 4);
        ckeras_tensor_free(r);
        ckeras_tensor_free(t);
    }
    ckeras_tensor *t = ckeras_tensor_new(1, (const int64_t[]){2});
    ck_assert_int_eq(ck_npy_write("/nonexistent-dir/x.npy", t), CKERAS_EIO);
    ck_assert_int_eq(ck_npy_write(NULL, t), CKERAS_EINVAL);
    ck_assert_int_eq(ck_npy_write(tpath("x.npy"), NULL), CKERAS_EINVAL);
    ckeras_tensor_free(t);
    /* No temporary file left behind. */
    DIR *d = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(d)))
        ck_assert_msg(strstr(e->d_name, ".tmp.") == NULL, "left %s", e->d_name);
    closedir(d);
}
END_TEST

/* The Keras fixtures shared between helpers: shapes from MANIFEST.json, sums from numpy. */
START_TEST(npy_keras_fixtures)
{
    if (!exists(SHARED "keras3-oracle/MANIFEST.json")) {
        printf("npy_keras_fixtures: %skeras3-oracle not present, skipped\n", SHARED);
        return;
    }
    json_error_t err;
    json_t *man = json_load_file(SHARED "keras3-oracle/MANIFEST.json", 0, &err);
    ck_assert_ptr_nonnull(man);
    json_t *sums = json_load_file(NPYDIR "oracle_sums.json", 0, &err);
    ck_assert_ptr_nonnull(sums);
    const char *key;
    json_t *fx;
    int checked = 0;
    json_object_foreach(json_object_get(man, "fixtures"), key, fx) {
        const char *kinds[2] = {"inputs", "expected"};
        for (int k = 0; k < 2; k++) {
            char p[512], base[256], sk[64];
            snprintf(base, sizeof base, "%s.%s.npy", key, kinds[k]);
            snprintf(p, sizeof p, SHARED "keras3-oracle/%s", base);
            snprintf(sk, sizeof sk, "%s_shape", kinds[k]);
            if (!exists(p)) {
                printf("npy_keras_fixtures: %s absent, skipped\n", p);
                continue;
            }
            ckeras_tensor *t = NULL;
            ck_assert_msg(ck_npy_read(p, &t) == CKERAS_OK, "%s: %s", p, ckeras_last_error());
            json_t *shape = json_object_get(fx, sk);
            ck_assert_int_eq(ckeras_tensor_ndim(t), (int)json_array_size(shape));
            for (size_t i = 0; i < json_array_size(shape); i++)
                ck_assert_int_eq(ckeras_tensor_dim(t, (int)i), json_integer_value(json_array_get(shape, i)));
            json_t *ref = json_object_get(sums, base);
            if (ref) {
                double s = 0;
                int64_t n = ckeras_tensor_size(t);
                for (int64_t i = 0; i < n; i++)
                    s += ckeras_tensor_data(t)[i];
                double want = json_number_value(json_object_get(ref, "sum"));
                ck_assert_msg(fabs(s - want) <= 1e-9 * (1 + fabs(want)) + 1e-6, "%s: sum %.12g, numpy %.12g",
                              base, s, want);
                ck_assert(ckeras_tensor_data(t)[0] == (float)json_number_value(json_object_get(ref, "first")));
                ck_assert(ckeras_tensor_data(t)[n - 1] == (float)json_number_value(json_object_get(ref, "last")));
            }
            ckeras_tensor_free(t);
            checked++;
        }
    }
    ck_assert_int_gt(checked, 0);
    json_decref(man);
    json_decref(sums);
}
END_TEST

/* ---- NPZ -------------------------------------------------------------------------------------- */

static void check_ab(int n, char **names, ckeras_tensor **arrays)
{
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(names[0], "a");
    ck_assert_str_eq(names[1], "b");
    assert_shape(arrays[0], 3, (const int64_t[]){2, 3, 4});
    for (int i = 0; i < 24; i++)
        ck_assert(ckeras_tensor_data(arrays[0])[i] == (float)(i - 7) * 0.25f);
    assert_shape(arrays[1], 1, (const int64_t[]){4});
    for (int i = 0; i < 4; i++)
        ck_assert(ckeras_tensor_data(arrays[1])[i] == (float)(1000 * i - 1500));
}

START_TEST(npz_stored_and_deflated)
{
    const char *files[2] = {NPYDIR "stored.npz", NPYDIR "deflated.npz"};
    for (int f = 0; f < 2; f++) {
        int n = 0;
        char **names = NULL;
        ckeras_tensor **arrays = NULL;
        ck_assert_msg(ck_npz_read(files[f], &n, &names, &arrays) == CKERAS_OK, "%s", ckeras_last_error());
        check_ab(n, names, arrays);
        ck_npz_free(n, names, arrays);
    }
    int n = 0;
    char **names = NULL;
    ckeras_tensor **arrays = NULL;
    ck_assert_int_eq(ck_npz_read(tpath("missing.npz"), &n, &names, &arrays), CKERAS_EIO);
    ck_assert_int_eq(ck_npz_read(write_text("t.npz", "not a zip at all, just some text\n"), &n, &names,
                                 &arrays), CKERAS_EFORMAT);
    ck_assert_int_eq(ck_npz_read(NPYDIR "f4.npy", &n, &names, &arrays), CKERAS_EFORMAT);
    ck_assert_int_eq(ck_npz_read(NULL, &n, &names, &arrays), CKERAS_EINVAL);
    ck_assert_ptr_null(names);
    ck_npz_free(0, NULL, NULL);
    /* the public entry points (the CLI uses them) */
    ck_assert_int_eq(ckeras_read_npz(NPYDIR "deflated.npz", &n, &names, &arrays), CKERAS_OK);
    check_ab(n, names, arrays);
    ckeras_npz_free(n, names, arrays);
    ck_assert_int_eq(ckeras_read_npz(NPYDIR "deflated.npz", NULL, &names, &arrays), CKERAS_EINVAL);
    ck_assert_int_eq(ckeras_read_npz(NPYDIR "deflated.npz", &n, &names, NULL), CKERAS_EINVAL);
    ckeras_npz_free(0, NULL, NULL);
}
END_TEST

START_TEST(npz_truncations_and_corruptions)
{
    const char *files[2] = {NPYDIR "stored.npz", NPYDIR "deflated.npz"};
    for (int f = 0; f < 2; f++) {
        size_t len;
        uint8_t *b = slurp(files[f], &len);
        const char *p = tpath("x.npz");
        for (size_t cut = 0; cut < len; cut++) {
            int n = 0;
            char **names = NULL;
            ckeras_tensor **arrays = NULL;
            write_bytes("x.npz", b, cut);
            ck_assert_msg(ck_npz_read(p, &n, &names, &arrays) != CKERAS_OK, "%s: prefix %zu accepted", files[f],
                          cut);
        }
        /* Corrupt each byte (CRC catches data damage; bounds checks catch header damage). */
        for (size_t pos = 0; pos < len; pos++) {
            const uint8_t vals[] = {0x00, 0xff, 0x80};
            for (size_t v = 0; v < sizeof vals; v++) {
                uint8_t keep = b[pos];
                if (keep == vals[v])
                    continue;
                b[pos] = vals[v];
                write_bytes("x.npz", b, len);
                int n = 0;
                char **names = NULL;
                ckeras_tensor **arrays = NULL;
                if (ck_npz_read(p, &n, &names, &arrays) == CKERAS_OK) {
                    /* Bytes the reader does not need (timestamps, versions) or a member name in
                     * the central directory: the arrays themselves are guarded by the CRC. */
                    ck_assert_int_eq(n, 2);
                    for (int i = 0; i < 24; i++)
                        ck_assert(ckeras_tensor_data(arrays[0])[i] == (float)(i - 7) * 0.25f);
                    for (int i = 0; i < 4; i++)
                        ck_assert(ckeras_tensor_data(arrays[1])[i] == (float)(1000 * i - 1500));
                    ck_npz_free(n, names, arrays);
                }
                b[pos] = keep;
            }
        }
        free(b);
    }
}
END_TEST

START_TEST(npz_allocation_failures)
{
    for (uint64_t k = 1; k < 30; k++) {
        int n = 0;
        char **names = NULL;
        ckeras_tensor **arrays = NULL;
        ck_alloc_fail_at(k);
        ckeras_status st = ck_npz_read(NPYDIR "deflated.npz", &n, &names, &arrays);
        ck_alloc_fail_at(0);
        ck_assert(st == CKERAS_OK || st == CKERAS_ENOMEM);
        if (st == CKERAS_OK) {
            check_ab(n, names, arrays);
            ck_npz_free(n, names, arrays);
        }
    }
}
END_TEST

START_TEST(npz_keras_real)
{
    json_error_t err;
    json_t *sums = json_load_file(NPYDIR "oracle_sums.json", 0, &err);
    ck_assert_ptr_nonnull(sums);
    const char *key;
    json_t *ref;
    int checked = 0;
    json_object_foreach(sums, key, ref) {
        size_t kl = strlen(key);
        if (kl < 4 || strcmp(key + kl - 4, ".npz") != 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, SHARED "keras-real/%s", key);
        if (!exists(p)) {
            printf("npz_keras_real: %s absent, skipped\n", p);
            continue;
        }
        int n = 0;
        char **names = NULL;
        ckeras_tensor **arrays = NULL;
        ck_assert_msg(ck_npz_read(p, &n, &names, &arrays) == CKERAS_OK, "%s: %s", p, ckeras_last_error());
        ck_assert_int_eq(n, (int)json_object_size(ref));
        for (int i = 0; i < n; i++) {
            json_t *r = json_object_get(ref, names[i]);
            ck_assert_msg(r != NULL, "%s: unexpected key %s", key, names[i]);
            json_t *shape = json_object_get(r, "shape");
            ck_assert_int_eq(ckeras_tensor_ndim(arrays[i]), (int)json_array_size(shape));
            for (size_t d = 0; d < json_array_size(shape); d++)
                ck_assert_int_eq(ckeras_tensor_dim(arrays[i], (int)d),
                                 json_integer_value(json_array_get(shape, d)));
            double s = 0;
            for (int64_t j = 0; j < ckeras_tensor_size(arrays[i]); j++)
                s += ckeras_tensor_data(arrays[i])[j];
            double want = json_number_value(json_object_get(r, "sum"));
            ck_assert_msg(fabs(s - want) <= 1e-9 * (1 + fabs(want)) + 1e-6, "%s/%s: sum %.12g, numpy %.12g",
                          key, names[i], s, want);
        }
        ck_npz_free(n, names, arrays);
        checked++;
    }
    if (checked == 0)
        printf("npz_keras_real: no shared .npz fixtures present, skipped\n");
    json_decref(sums);
}
END_TEST

/* ---- IDX ------------------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX image file of n images of 2x3 pixels, pixel k of image i = (40 i + 7 k) mod 256, and a
 * label file with label i = i mod 10. */
static size_t make_idx_images(uint8_t *buf, int n)
{
    put_be32(buf, 0x00000803);
    put_be32(buf + 4, (uint32_t)n);
    put_be32(buf + 8, 2);
    put_be32(buf + 12, 3);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 6; k++)
            buf[16 + i * 6 + k] = (uint8_t)((40 * i + 7 * k) % 256);
    return 16 + (size_t)n * 6;
}

static size_t make_idx_labels(uint8_t *buf, int n)
{
    put_be32(buf, 0x00000801);
    put_be32(buf + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        buf[8 + i] = (uint8_t)(i % 10);
    return 8 + (size_t)n;
}

static const char *write_gz(const char *name, const void *data, size_t n)
{
    const char *p = tpath(name);
    gzFile g = gzopen(p, "wb");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(gzwrite(g, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
    return p;
}

static void check_images(ckeras_tensor *t, int n)
{
    assert_shape(t, 3, (const int64_t[]){n, 2, 3});
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 6; k++)
            ck_assert(ckeras_tensor_data(t)[i * 6 + k] == (float)((40 * i + 7 * k) % 256));
}

START_TEST(idx_plain_and_gzip)
{
    uint8_t img[16 + 7 * 6], lab[8 + 7];
    size_t ni = make_idx_images(img, 7), nl = make_idx_labels(lab, 7);
    const char *paths[2][2] = {{write_bytes("img.idx", img, ni), write_bytes("lab.idx", lab, nl)},
                               {write_gz("img.idx.gz", img, ni), write_gz("lab.idx.gz", lab, nl)}};
    for (int z = 0; z < 2; z++) {
        ckeras_tensor *t = NULL;
        ck_assert_msg(ck_idx_read(paths[z][0], &t) == CKERAS_OK, "%s", ckeras_last_error());
        check_images(t, 7);
        ck_assert(ckeras_tensor_data(t)[6 * 6 + 0] == 240.0f); /* unscaled */
        ckeras_tensor_free(t);
        ck_assert_int_eq(ck_idx_read(paths[z][1], &t), CKERAS_OK);
        assert_shape(t, 1, (const int64_t[]){7});
        for (int i = 0; i < 7; i++)
            ck_assert(ckeras_tensor_data(t)[i] == (float)(i % 10));
        ckeras_tensor_free(t);
    }
    /* Other element types: int16 and float32, big-endian. */
    const uint8_t i16[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFE, 0xD4, 0x01, 0x2C}; /* -300, 300 */
    ckeras_tensor *t = NULL;
    ck_assert_int_eq(ck_idx_read(write_bytes("i16.idx", i16, sizeof i16), &t), CKERAS_OK);
    ck_assert(ckeras_tensor_data(t)[0] == -300.0f && ckeras_tensor_data(t)[1] == 300.0f);
    ckeras_tensor_free(t);
    const uint8_t f32[] = {0, 0, 0x0D, 1, 0, 0, 0, 1, 0xC0, 0x20, 0, 0}; /* -2.5 */
    ck_assert_int_eq(ck_idx_read(write_bytes("f32.idx", f32, sizeof f32), &t), CKERAS_OK);
    ck_assert(ckeras_tensor_data(t)[0] == -2.5f);
    ckeras_tensor_free(t);
}
END_TEST

START_TEST(idx_bad_inputs)
{
    ckeras_tensor *t = NULL;
    uint8_t img[16 + 4 * 6];
    size_t ni = make_idx_images(img, 4);
    ck_assert_int_eq(ck_idx_read(tpath("missing.idx"), &t), CKERAS_EIO);
    ck_assert_int_eq(ck_idx_read(NULL, &t), CKERAS_EINVAL);
    /* Bad magic. */
    uint8_t bad[16];
    memcpy(bad, img, 16);
    bad[0] = 1;
    ck_assert_int_eq(ck_idx_read(write_bytes("m1.idx", bad, 16), &t), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "bad magic"));
    memcpy(bad, img, 16);
    bad[2] = 0x07;
    ck_assert_int_eq(ck_idx_read(write_bytes("m2.idx", bad, 16), &t), CKERAS_EFORMAT);
    memcpy(bad, img, 16);
    bad[3] = 0;
    ck_assert_int_eq(ck_idx_read(write_bytes("m3.idx", bad, 16), &t), CKERAS_EFORMAT);
    memcpy(bad, img, 16);
    bad[3] = 9;
    ck_assert_int_eq(ck_idx_read(write_bytes("m4.idx", bad, 16), &t), CKERAS_EUNSUPPORTED);
    /* Absurd shapes: far more data announced than present, or an overflowing product. */
    uint8_t big[20] = {0, 0, 8, 3};
    put_be32(big + 4, 0xFFFFFFFFu);
    put_be32(big + 8, 0xFFFFFFFFu);
    put_be32(big + 12, 0xFFFFFFFFu);
    ck_assert_int_eq(ck_idx_read(write_bytes("big.idx", big, 20), &t), CKERAS_EFORMAT);
    put_be32(big + 4, 0x10000); /* 2^36 elements announced: past the tensor limit, nothing read */
    put_be32(big + 8, 0x10000);
    put_be32(big + 12, 16);
    ck_assert_int_eq(ck_idx_read(write_bytes("big2.idx", big, 20), &t), CKERAS_ESHAPE);
    ck_assert_int_eq(ck_idx_read(write_gz("big2.idx.gz", big, 20), &t), CKERAS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "too large"));
    put_be32(big + 4, 0x100); /* 2^20 bytes announced, none present */
    put_be32(big + 8, 0x100);
    ck_assert_int_eq(ck_idx_read(write_bytes("big3.idx", big, 20), &t), CKERAS_EFORMAT);
    ck_assert_int_eq(ck_idx_read(write_gz("big3.idx.gz", big, 20), &t), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "truncated data"));
    /* Every truncation, plain and compressed. */
    for (size_t cut = 0; cut < ni; cut++) {
        ck_assert_msg(ck_idx_read(write_bytes("cut.idx", img, cut), &t) == CKERAS_EFORMAT, "cut %zu", cut);
        ck_assert_msg(ck_idx_read(write_gz("cut.idx.gz", img, cut), &t) == CKERAS_EFORMAT, "gz cut %zu", cut);
    }
    /* A damaged gzip stream: truncated compressed bytes. */
    const char *gz = write_gz("whole.gz", img, ni);
    size_t glen;
    uint8_t *g = slurp(gz, &glen);
    for (size_t cut = 0; cut < glen; cut++) {
        ckeras_status st = ck_idx_read(write_bytes("gcut.gz", g, cut), &t);
        /* The last bytes hold the end-of-block code and the gzip trailer (CRC, size), which
         * are not needed to deliver every data byte: those cuts may read. */
        if (cut + 10 < glen)
            ck_assert_msg(st == CKERAS_EFORMAT, "gzip cut %zu: %s", cut, ckeras_status_name(st));
        else if (st == CKERAS_OK)
            check_images(t, 4);
        ckeras_tensor_free(t);
        t = NULL;
    }
    free(g);
    ck_assert_ptr_null(t);
}
END_TEST

START_TEST(idx_fashion_mnist)
{
    const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    if (!exists(lab) || !exists(img)) {
        printf("idx_fashion_mnist: dataset-fashion-mnist not installed, skipped\n");
        return;
    }
    ckeras_tensor *t = NULL;
    ck_assert_int_eq(ck_idx_read(lab, &t), CKERAS_OK);
    assert_shape(t, 1, (const int64_t[]){10000});
    int count[10] = {0};
    for (int i = 0; i < 10000; i++) {
        float v = ckeras_tensor_data(t)[i];
        ck_assert(v >= 0 && v <= 9 && v == floorf(v));
        count[(int)v]++;
    }
    for (int c = 0; c < 10; c++)
        ck_assert_int_eq(count[c], 1000); /* the test set is balanced */
    ckeras_tensor_free(t);
    ck_assert_int_eq(ck_idx_read(img, &t), CKERAS_OK);
    assert_shape(t, 3, (const int64_t[]){10000, 28, 28});
    float mx = 0;
    for (int64_t i = 0; i < ckeras_tensor_size(t); i++)
        mx = fmaxf(mx, ckeras_tensor_data(t)[i]);
    ck_assert(mx == 255.0f);
    ckeras_tensor_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, csv_breast_cancer);
    tcase_add_test(tc, csv_robust_layouts);
    tcase_add_test(tc, csv_malformed);
    tcase_add_test(tc, csv_allocation_failures);
    tcase_add_test(tc, split_sizes_and_permutation);
    tcase_add_test(tc, split_breast_cancer_and_images);
    tcase_add_test(tc, scaler_hand_example);
    tcase_add_test(tc, scaler_breast_cancer);
    tcase_add_test(tc, npy_numpy_dtypes);
    tcase_add_test(tc, npy_unsupported_and_bad);
    tcase_add_test(tc, npy_truncations_and_corruptions);
    tcase_add_test(tc, npy_write_round_trip);
    tcase_add_test(tc, npy_keras_fixtures);
    tcase_add_test(tc, npz_stored_and_deflated);
    tcase_add_test(tc, npz_truncations_and_corruptions);
    tcase_add_test(tc, npz_allocation_failures);
    tcase_add_test(tc, npz_keras_real);
    tcase_add_test(tc, idx_plain_and_gzip);
    tcase_add_test(tc, idx_bad_inputs);
    tcase_add_test(tc, idx_fashion_mnist);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
