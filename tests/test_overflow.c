/* Shapes whose element count or byte size overflows (issue #14 item 4), as a user meets them:
 * every public function that takes a shape and every reader that takes one from a file returns
 * NULL or CKERAS_ESHAPE with a message saying the shape is too large, before it allocates or
 * reads the data. The report's cases: (2^31, 2^31) is 2^62 elements (it gave a tensor over a
 * 64-byte block), (2^32, 2^32) wraps to 0 (it gave a tensor of size 0). Files hold shapes the
 * readers used to accept until the data ran out ("truncated") or to read in full. Part of
 * `make check`, `make check-asan` and `make check-valgrind` (CI's quick list too). */
#include "testutil.h"

#include "ckeras.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define P2(k) ((int64_t)1 << (k))
#define DEFAULT_LIMIT P2(34) /* the default of ckeras_set_max_tensor_size */

static void says(const char *what, const char *needle)
{
    const char *msg = ckeras_last_error();
    ck_assert_msg(msg && strstr(msg, needle), "%s: message '%s' lacks '%s'", what, msg ? msg : "(null)", needle);
}

/* The report's shapes and others past int64, for every constructor that takes a shape. */
static const struct {
    int ndim;
    int64_t shape[8];
    const char *name, *why;
} big[] = {
    {2, {P2(31), P2(31)}, "(2^31, 2^31)", "too large (4611686018427387904 elements"},
    {2, {P2(32), P2(32)}, "(2^32, 2^32)", "overflows 64 bits"},
    {3, {P2(21), P2(21), P2(22)}, "(2^21, 2^21, 2^22)", "overflows 64 bits"},
    {8, {256, 256, 256, 256, 256, 256, 256, 256}, "(256,)*8", "overflows 64 bits"},
    {3, {0, P2(40), P2(40)}, "(0, 2^40, 2^40)", "too large"},
    {2, {INT64_MAX, 2}, "(INT64_MAX, 2)", "overflows 64 bits"},
};
#define NBIG (int)(sizeof big / sizeof big[0])

START_TEST(constructors_refuse_overflowing_shapes)
{
    float buf[16] = {0};
    for (int i = 0; i < NBIG; i++) {
        char what[96];
        snprintf(what, sizeof what, "tensor_new%s", big[i].name);
        ck_assert_msg(ckeras_tensor_new(big[i].ndim, big[i].shape) == NULL, "%s", what);
        says(what, big[i].why);
        snprintf(what, sizeof what, "tensor_copy%s", big[i].name);
        ck_assert_msg(ckeras_tensor_copy(buf, big[i].ndim, big[i].shape) == NULL, "%s", what);
        says(what, big[i].why);
        snprintf(what, sizeof what, "tensor_wrap%s", big[i].name);
        ck_assert_msg(ckeras_tensor_wrap(buf, big[i].ndim, big[i].shape) == NULL, "%s", what);
        says(what, big[i].why);

        /* reshape of a 16-element tensor: refused, the tensor unchanged */
        ckeras_tensor *t = ckeras_tensor_wrap(buf, 2, (const int64_t[]){4, 4});
        ck_assert_ptr_nonnull(t);
        snprintf(what, sizeof what, "tensor_reshape%s", big[i].name);
        ck_assert_msg(ckeras_tensor_reshape(t, big[i].ndim, big[i].shape) == CKERAS_ESHAPE, "%s", what);
        ck_assert_int_eq(ckeras_tensor_ndim(t), 2);
        ck_assert_int_eq(ckeras_tensor_size(t), 16);
        ckeras_tensor_free(t);

        /* Input and a data source take a per-sample shape (at most 7 axes) */
        if (big[i].ndim < 8 && big[i].shape[0] > 0) {
            snprintf(what, sizeof what, "input%s", big[i].name);
            ck_assert_msg(ckeras_input(big[i].ndim, big[i].shape) == NULL, "%s", what);
            says(what, "too large");
            ckeras_data_source *src = NULL;
            ck_assert_int_eq(ckeras_data_source_new(10, (ckeras_data_fill_fn)1, NULL, NULL, &src), CKERAS_OK);
            snprintf(what, sizeof what, "data_source_add_input%s", big[i].name);
            ck_assert_msg(ckeras_data_source_add_input(src, big[i].ndim, big[i].shape) == CKERAS_ESHAPE, "%s: %s",
                          what, ckeras_last_error());
            says(what, "too large");
            ckeras_data_source_free(src);
        }
    }
    /* the largest shapes below the default limit still work (no data is touched: wrap) */
    ckeras_tensor *t = ckeras_tensor_wrap(buf, 2, (const int64_t[]){P2(17), P2(17)});
    ck_assert_msg(t != NULL, "%s", ckeras_last_error());
    ck_assert_int_eq(ckeras_tensor_size(t), P2(34));
    ckeras_tensor_free(t);
}
END_TEST

/* ---- readers -------------------------------------------------------------------------------- */

/* A .npy (version 1.0) holding a float32 header of the given shape text and data_bytes zeros. */
static size_t npy_bytes(uint8_t *out, size_t cap, const char *shape, size_t data_bytes)
{
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape);
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    size_t hlen = padded - 10;
    ck_assert_uint_le(padded + data_bytes, cap);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (uint8_t)(hlen & 0xff);
    out[9] = (uint8_t)(hlen >> 8);
    memset(out + 10, ' ', hlen);
    memcpy(out + 10, hdr, (size_t)n);
    out[padded - 1] = '\n';
    memset(out + padded, 0, data_bytes);
    return padded + data_bytes;
}

static void write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void le16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void le32(uint8_t *p, uint32_t v) { le16(p, v & 0xffff); le16(p + 2, v >> 16); }

/* A .npz (a zip with one stored member "a.npy") holding the n bytes of npy. */
static void write_npz_stored(const char *path, const uint8_t *npy, size_t n)
{
    static uint8_t z[4096];
    const char *name = "a.npy";
    size_t nl = strlen(name), off = 0;
    uint32_t crc = (uint32_t)crc32(0L, npy, (uInt)n);
    ck_assert_uint_le(30 + nl + n + 46 + nl + 22, sizeof z);
    /* local file header */
    le32(z, 0x04034b50); le16(z + 4, 20); le16(z + 6, 0); le16(z + 8, 0); le16(z + 10, 0); le16(z + 12, 0x21);
    le32(z + 14, crc); le32(z + 18, (uint32_t)n); le32(z + 22, (uint32_t)n); le16(z + 26, (unsigned)nl);
    le16(z + 28, 0);
    memcpy(z + 30, name, nl);
    memcpy(z + 30 + nl, npy, n);
    off = 30 + nl + n;
    /* central directory */
    uint8_t *c = z + off;
    memset(c, 0, 46);
    le32(c, 0x02014b50); le16(c + 4, 20); le16(c + 6, 20); le16(c + 12, 0); le16(c + 14, 0x21);
    le32(c + 16, crc); le32(c + 20, (uint32_t)n); le32(c + 24, (uint32_t)n); le16(c + 28, (unsigned)nl);
    memcpy(c + 46, name, nl);
    size_t cd = 46 + nl;
    /* end of central directory */
    uint8_t *e = c + cd;
    memset(e, 0, 22);
    le32(e, 0x06054b50); le16(e + 8, 1); le16(e + 10, 1); le32(e + 12, (uint32_t)cd); le32(e + 16, (uint32_t)off);
    write_file(path, z, off + cd + 22);
}

static ckeras_status read_npy(const char *path)
{
    ckeras_tensor *t = NULL;
    ckeras_status st = ckeras_read_npy(path, &t);
    ck_assert(st == CKERAS_OK ? t != NULL : t == NULL);
    ckeras_tensor_free(t);
    return st;
}

static ckeras_status read_npz(const char *path)
{
    int n = 0;
    char **names = NULL;
    ckeras_tensor **a = NULL;
    ckeras_status st = ckeras_read_npz(path, &n, &names, &a);
    ckeras_npz_free(n, names, a);
    return st;
}

static void refused(ckeras_status st, const char *what, const char *why)
{
    ck_assert_msg(st == CKERAS_ESHAPE, "%s: %s (%s), expected CKERAS_ESHAPE", what, ckeras_status_name(st),
                  ckeras_last_error());
    says(what, why);
}

START_TEST(npy_and_npz_headers)
{
    tu_tmpdir_make("overflow");
    static uint8_t b[1024];
    static const struct {
        const char *shape, *why;
    } cases[] = {
        {"(2147483648, 2147483648)", "too large (4611686018427387904 elements"},
        {"(4294967296, 4294967296)", "overflows 64 bits"},
        {"(0, 1099511627776, 1099511627776)", "too large"},
        {"(65536, 65536, 65536)", "too large (281474976710656 elements"},
    };
    for (int i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        size_t n = npy_bytes(b, sizeof b, cases[i].shape, 64);
        char what[128];
        snprintf(what, sizeof what, "read_npy %s", cases[i].shape);
        write_file(tu_tmp("big.npy"), b, n);
        refused(read_npy(tu_tmp("big.npy")), what, cases[i].why);
        snprintf(what, sizeof what, "read_npz %s", cases[i].shape);
        write_npz_stored(tu_tmp("big.npz"), b, n);
        refused(read_npz(tu_tmp("big.npz")), what, cases[i].why);
    }
    /* within int64 and the data present, but past a limit of 110: refused as too large */
    size_t n = npy_bytes(b, sizeof b, "(3, 37)", 3 * 37 * 4);
    write_file(tu_tmp("111.npy"), b, n);
    write_npz_stored(tu_tmp("111.npz"), b, n);
    ck_assert_int_eq(read_npy(tu_tmp("111.npy")), CKERAS_OK);
    ck_assert_int_eq(read_npz(tu_tmp("111.npz")), CKERAS_OK);
    ck_assert_int_eq(ckeras_set_max_tensor_size(110), CKERAS_OK);
    ckeras_status s1 = read_npy(tu_tmp("111.npy")), s2 = read_npz(tu_tmp("111.npz"));
    ck_assert_int_eq(ckeras_set_max_tensor_size(DEFAULT_LIMIT), CKERAS_OK);
    refused(s1, "read_npy (3, 37) under a limit of 110", "limit is 110");
    refused(s2, "read_npz (3, 37) under a limit of 110", "limit is 110");
    tu_tmpdir_remove();
}
END_TEST

START_TEST(idx_headers)
{
    tu_tmpdir_make("overflow");
    ckeras_tensor *t = NULL;
    /* unsigned bytes, 3 axes of 65536: 2^48 elements, with no data (it was read until it ran out) */
    const uint8_t h3[] = {0, 0, 8, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
    write_file(tu_tmp("big.idx"), h3, sizeof h3);
    refused(ckeras_read_idx(tu_tmp("big.idx"), &t), "read_idx (65536, 65536, 65536)", "too large");
    ck_assert_ptr_null(t);
    /* float32, (2^32 - 1)^2: 2^64 bytes */
    const uint8_t h2[] = {0, 0, 0x0D, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    write_file(tu_tmp("big2.idx"), h2, sizeof h2);
    ckeras_status st = ckeras_read_idx(tu_tmp("big2.idx"), &t);
    ck_assert_msg(st == CKERAS_ESHAPE || st == CKERAS_EFORMAT, "%s", ckeras_last_error());
    ck_assert_msg(strstr(ckeras_last_error(), "too large") || strstr(ckeras_last_error(), "absurdly large"), "%s",
                  ckeras_last_error());
    ck_assert_ptr_null(t);
    /* (3, 37) bytes present, under a limit of 110 */
    uint8_t small[8 + 4 + 111] = {0, 0, 8, 2, 0, 0, 0, 3, 0, 0, 0, 37};
    write_file(tu_tmp("111.idx"), small, sizeof small);
    ck_assert_int_eq(ckeras_read_idx(tu_tmp("111.idx"), &t), CKERAS_OK);
    ckeras_tensor_free(t);
    t = NULL;
    ck_assert_int_eq(ckeras_set_max_tensor_size(110), CKERAS_OK);
    st = ckeras_read_idx(tu_tmp("111.idx"), &t);
    ck_assert_int_eq(ckeras_set_max_tensor_size(DEFAULT_LIMIT), CKERAS_OK);
    refused(st, "read_idx (3, 37) under a limit of 110", "limit is 110");
    ck_assert_ptr_null(t);
    tu_tmpdir_remove();
}
END_TEST

START_TEST(csv_and_h5_under_a_limit)
{
    tu_tmpdir_make("overflow");
    /* 4 rows of 3 features: x is 12 values */
    const char csv[] = "a,b,c,y\n1,2,3,0\n4,5,6,1\n7,8,9,0\n1,1,1,1\n";
    write_file(tu_tmp("d.csv"), csv, sizeof csv - 1);
    ckeras_tensor *x = NULL, *y = NULL;
    ck_assert_int_eq(ckeras_set_max_tensor_size(11), CKERAS_OK);
    ckeras_status st = ckeras_read_csv(tu_tmp("d.csv"), &x, &y);
    ck_assert_int_eq(ckeras_set_max_tensor_size(DEFAULT_LIMIT), CKERAS_OK);
    refused(st, "read_csv (4, 3) under a limit of 11", "limit is 11");
    ck_assert_ptr_null(x);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(ckeras_read_csv(tu_tmp("d.csv"), &x, &y), CKERAS_OK);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);

    /* a Keras .h5 whose largest weight (the first Dense kernel, 30 x 100) passes the limit */
    ckeras_model *m = NULL;
    ck_assert_int_eq(ckeras_set_max_tensor_size(2999), CKERAS_OK);
    st = ckeras_load_model("tests/fixtures/h5/seed_mlp.h5", 0, &m);
    ck_assert_int_eq(ckeras_set_max_tensor_size(DEFAULT_LIMIT), CKERAS_OK);
    refused(st, "load_model under a limit of 2999", "limit is 2999");
    ck_assert_ptr_null(m);
    ck_assert_msg(ckeras_load_model("tests/fixtures/h5/seed_mlp.h5", 0, &m) == CKERAS_OK, "%s", ckeras_last_error());
    ckeras_model_free(m);
    tu_tmpdir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overflow");
    TCase *tc = tcase_create("overflow");
    tcase_add_test(tc, constructors_refuse_overflowing_shapes);
    tcase_add_test(tc, npy_and_npz_headers);
    tcase_add_test(tc, idx_headers);
    tcase_add_test(tc, csv_and_h5_under_a_limit);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
