/* Core: config schemas, tensors, RNG, errors. */
#include "core/core.h"
#include "testutil.h"

#include <math.h>
#include <string.h>

static const ck_field fields[] = {
    {"units", CK_INT, "1", NULL, "number of outputs"},
    {"activation", CK_STR, "linear", NULL, "activation name"},
    {"padding", CK_STR, "valid", "valid|same", "padding"},
    {"rate", CK_FLOAT, "0.5", NULL, "rate"},
    {"use_bias", CK_BOOL, "true", NULL, "bias"},
    {"strides", CK_INTS, "1,1", NULL, "strides"},
    {"seed", CK_INT, NULL, NULL, "seed"},
};

START_TEST(config_defaults_and_setters)
{
    ck_config c;
    ck_assert_int_eq(ck_config_init(&c, fields, 7), CKERAS_OK);
    ck_assert_int_eq(ck_cfg_int(&c, "units"), 1);
    ck_assert_str_eq(ck_cfg_str(&c, "activation"), "linear");
    ck_assert(ck_cfg_bool(&c, "use_bias"));
    ck_assert(fabs(ck_cfg_float(&c, "rate") - 0.5) < 1e-12);
    ck_assert(ck_cfg_value(&c, "seed")->is_none);
    ck_assert_int_eq(ck_cfg_value(&c, "strides")->n, 2);
    ck_assert_int_eq(ck_config_set_int(&c, "Dense", "units", 7), CKERAS_OK);
    ck_assert_int_eq(ck_cfg_int(&c, "units"), 7);
    ck_assert_int_eq(ck_config_set_int(&c, "Conv2D", "strides", 2), CKERAS_OK);
    ck_assert_int_eq(ck_cfg_value(&c, "strides")->n, 2);
    ck_assert_int_eq(ck_cfg_value(&c, "strides")->v[1], 2);
    ck_assert_int_eq(ck_config_set_str(&c, "Conv2D", "padding", "full"), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "valid|same"));
    ck_assert_int_eq(ck_config_set_str(&c, "Dense", "nope", "x"), CKERAS_EINVAL);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "unknown setting 'nope'"));
    ck_assert_int_eq(ck_config_set_str(&c, "Dense", "units", "x"), CKERAS_EINVAL);
    ck_assert_int_eq(ck_config_set_float(&c, "Dense", "units", 2.5), CKERAS_EINVAL);
    ck_config copy;
    ck_assert_int_eq(ck_config_copy(&copy, &c), CKERAS_OK);
    ck_assert_int_eq(ck_config_set_str(&c, "Dense", "activation", "relu"), CKERAS_OK);
    ck_assert_str_eq(ck_cfg_str(&copy, "activation"), "linear");
    ck_config_free(&copy);
    ck_config_free(&c);
}
END_TEST

START_TEST(tensor_basics)
{
    int64_t shape[2] = {2, 3};
    float d[6] = {1, 2, 3, 4, 5, 6};
    ckeras_tensor *t = ckeras_tensor_copy(d, 2, shape);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(ckeras_tensor_size(t), 6);
    ck_assert_int_eq(ckeras_tensor_dim(t, -1), 3);
    ck_assert(ckeras_tensor_data(t)[5] == 6.0f);
    ckeras_tensor *w = ckeras_tensor_wrap(d, 2, shape);
    ck_assert(ckeras_tensor_data(w) == d);
    ckeras_tensor_free(w);
    ckeras_tensor_free(t);
    ckeras_tensor_free(NULL);
    ck_assert_ptr_null(ckeras_tensor_wrap(NULL, 2, shape));
    ck_assert_ptr_null(ckeras_tensor_new(2, (const int64_t[]){-1, 2}));
    ck_assert_int_eq(ckeras_tensor_ndim(NULL), -1);
}
END_TEST

START_TEST(rng_uniform_and_normal_moments)
{
    ck_rng r;
    ck_rng_seed(&r, 42);
    double s = 0, s2 = 0, n1 = 0, n2 = 0;
    const int N = 200000;
    for (int i = 0; i < N; i++) {
        double u = ck_rng_uniform(&r);
        ck_assert(u >= 0.0 && u < 1.0);
        s += u;
        s2 += u * u;
        double z = ck_rng_normal(&r);
        n1 += z;
        n2 += z * z;
    }
    /* U(0,1): mean 1/2, variance 1/12; N(0,1): mean 0, variance 1 (tolerances ~5 sigma) */
    ck_assert(fabs(s / N - 0.5) < 0.004);
    ck_assert(fabs(s2 / N - (s / N) * (s / N) - 1.0 / 12) < 0.002);
    ck_assert(fabs(n1 / N) < 0.012);
    ck_assert(fabs(n2 / N - 1.0) < 0.015);
    ck_rng a, b;
    ck_rng_seed(&a, 7);
    ck_rng_seed(&b, 7);
    for (int i = 0; i < 10; i++)
        ck_assert(ck_rng_u64(&a) == ck_rng_u64(&b));
}
END_TEST

START_TEST(rng_keep_mask_equals_uniform_draws)
{
    /* the branch-free mask against the plain rule, draw by draw, and the generator left in
     * the same state; rate 1 - 2^-53 keeps only the draw k = 2^53 - 1 */
    const double rates[] = {0.0, 0.25, 0.5, 1.0 / 3.0, 0.999, 1.0 - 0x1.0p-53, 1.0, -0.5, NAN};
    for (size_t c = 0; c < sizeof rates / sizeof rates[0]; c++) {
        ck_rng a, b;
        ck_rng_seed(&a, 7 + c);
        b = a;
        enum { N = 1000 };
        float mask[N];
        const float keep = rates[c] < 1.0 ? (float)(1.0 / (1.0 - rates[c])) : 2.0f;
        ck_rng_keep_mask(&a, mask, N, rates[c], keep);
        int kept = 0;
        for (int i = 0; i < N; i++) {
            float want = ck_rng_uniform(&b) >= rates[c] ? keep : 0.0f;
            ck_assert_msg(mask[i] == want, "rate %g, draw %d: %g, want %g", rates[c], i, mask[i], want);
            kept += mask[i] != 0.0f;
        }
        ck_assert_int_eq(memcmp(&a, &b, sizeof a), 0);
        if (rates[c] == 0.0)
            ck_assert_int_eq(kept, N);
        if (rates[c] == 0.5)
            ck_assert(kept > 400 && kept < 600);
    }
}
END_TEST

START_TEST(alloc_failure_injection)
{
    ck_alloc_fail_at(1);
    ck_assert_ptr_null(ck_malloc(16));
    ck_assert_int_eq(strncmp(ckeras_last_error(), "out of memory", 13), 0);
    void *p = ck_malloc(16);
    ck_assert_ptr_nonnull(p);
    ck_free(p);
    uint64_t before = ck_alloc_count();
    p = ck_calloc(2, 2);
    ck_assert(ck_alloc_count() == before + 1);
    ck_free(p);
}
END_TEST

/* The arrays the library computes on: below 2 MB 64-byte aligned, from 2 MB on aligned to 2 MB
 * (where transparent huge pages can back them), zero-filled either way, and page-aligned ones
 * at least on a page; the injected failure and the size limit still refuse them. */
START_TEST(huge_arrays_aligned_and_zeroed)
{
    static const size_t sizes[] = {64, 100000, (2u << 20) - 64, 2u << 20, (5u << 20) + 12};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        for (int pages = 0; pages < 2; pages++) {
            const size_t n = sizes[k];
            unsigned char *p = pages ? ck_alloc_pages(n) : ck_alloc_huge(n);
            ck_assert_ptr_nonnull(p);
            const uintptr_t a = (uintptr_t)p;
            ck_assert_msg(a % (n >= (2u << 20) ? (2u << 20) : pages ? 4096u : 64u) == 0, "%zu bytes at %p", n,
                          (void *)p);
            size_t nonzero = 0;
            for (size_t i = 0; i < n; i++)
                nonzero += p[i] != 0;
            ck_assert_uint_eq(nonzero, 0);
            memset(p, 0xab, n); /* all of it is the caller's */
            ck_free(p);
        }
    }
    ck_alloc_fail_at(1);
    ck_assert_ptr_null(ck_alloc_huge(4u << 20));
    ck_alloc_set_limit(1u << 20);
    ck_assert_ptr_null(ck_alloc_huge(4u << 20));
    ck_alloc_set_limit(0);
    ck_assert_ptr_null(ck_alloc_huge(SIZE_MAX)); /* the rounding would wrap */
}
END_TEST

START_TEST(version_and_status)
{
    ck_assert_str_eq(ckeras_version(), CKERAS_VERSION);
    ck_assert_int_eq(ckeras_version_number(), CKERAS_VERSION_NUMBER);
    ck_assert_str_eq(ckeras_status_name(CKERAS_ESHAPE), "CKERAS_ESHAPE");
    ck_assert_ptr_nonnull(strstr(ckeras_build_info(), "gemm="));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, config_defaults_and_setters);
    tcase_add_test(tc, tensor_basics);
    tcase_add_test(tc, huge_arrays_aligned_and_zeroed);
    tcase_add_test(tc, rng_uniform_and_normal_moments);
    tcase_add_test(tc, rng_keep_mask_equals_uniform_draws);
    tcase_add_test(tc, alloc_failure_injection);
    tcase_add_test(tc, version_and_status);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
