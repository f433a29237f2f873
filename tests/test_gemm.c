/* Kernels: ck_gemm against a double-precision triple loop (every transpose combination, odd
 * sizes, padded leading dimensions, alpha/beta variants, zero sizes, threads), the bias
 * helpers against hand computations. */
#include "kernels/kernels.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PAD_SENTINEL 12345.0f

/* A filled matrix: rows x cols stored with row stride ld >= cols; the padding holds NaN (A, B:
 * reading it would poison the result) or PAD_SENTINEL (C: writing it would be seen). */
static float *mat_new(ck_rng *r, int64_t rows, int64_t cols, int64_t ld, float pad)
{
    size_t n = (size_t)(rows > 0 ? rows : 1) * (size_t)(ld > 0 ? ld : 1);
    float *m = malloc(n * sizeof *m);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < n; i++)
        m[i] = pad;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            m[i * ld + j] = (float)(2.0 * ck_rng_uniform(r) - 1.0);
    return m;
}

/* sum_p op(A)(i, p) op(B)(p, j) in double, and sum |...| in *mag (A, B as stored, lda / ldb) */
static double ref_dot(bool ta, bool tb, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t i,
                      int64_t j, int64_t k, double *mag)
{
    double s = 0.0, m = 0.0;
    for (int64_t p = 0; p < k; p++) {
        double x = ta ? a[p * lda + i] : a[i * lda + p];
        double y = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += x * y;
        m += fabs(x * y);
    }
    *mag = m;
    return s;
}

typedef struct gemm_case {
    bool ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    int64_t pad_a, pad_b, pad_c; /* extra elements per row beyond the width */
    bool nan_c;                  /* C starts as NaN (with beta == 0) */
} gemm_case;

/* Runs one case and checks every element of C against the double-precision sum, with a
 * tolerance scaled by sum |alpha a b| + |beta c|, and that C's padding is untouched. */
static void check_case(const gemm_case *g, uint64_t seed)
{
    ck_rng r;
    ck_rng_seed(&r, seed);
    int64_t ar = g->ta ? g->k : g->m, ac = g->ta ? g->m : g->k; /* A as stored */
    int64_t br = g->tb ? g->n : g->k, bc = g->tb ? g->k : g->n; /* B as stored */
    int64_t lda = ac + g->pad_a, ldb = bc + g->pad_b, ldc = g->n + g->pad_c;
    float *a = mat_new(&r, ar, ac, lda, NAN);
    float *b = mat_new(&r, br, bc, ldb, NAN);
    float *c = mat_new(&r, g->m, g->n, ldc, PAD_SENTINEL);
    if (g->nan_c)
        for (int64_t i = 0; i < g->m; i++)
            for (int64_t j = 0; j < g->n; j++)
                c[i * ldc + j] = NAN;
    size_t cn = (size_t)(g->m > 0 ? g->m : 1) * (size_t)(ldc > 0 ? ldc : 1);
    float *c0 = malloc(cn * sizeof *c0);
    ck_assert_ptr_nonnull(c0);
    memcpy(c0, c, cn * sizeof *c0);

    ck_gemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, a, lda, b, ldb, g->beta, c, ldc);

    for (int64_t i = 0; i < g->m; i++) {
        for (int64_t j = 0; j < g->n; j++) {
            double mag;
            double s = ref_dot(g->ta, g->tb, a, lda, b, ldb, i, j, g->k, &mag);
            double cij = c0[i * ldc + j];
            double want = (double)g->alpha * s + (g->beta == 0.0f ? 0.0 : (double)g->beta * cij);
            double tol = 1e-6 + 2e-6 * (fabs((double)g->alpha) * mag + (g->beta == 0.0f ? 0.0 : fabs(g->beta * cij)));
            double got = c[i * ldc + j];
            if (!(fabs(got - want) <= tol))
                ck_abort_msg("gemm ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g lds=+%lld/+%lld/+%lld: "
                             "C[%lld][%lld] = %.9g, want %.9g (tol %.3g)",
                             g->ta, g->tb, (long long)g->m, (long long)g->n, (long long)g->k, g->alpha, g->beta,
                             (long long)g->pad_a, (long long)g->pad_b, (long long)g->pad_c, (long long)i,
                             (long long)j, got, want, tol);
        }
        for (int64_t j = g->n; j < ldc; j++)
            ck_assert_msg(c[i * ldc + j] == PAD_SENTINEL, "gemm wrote C's padding at [%lld][%lld]", (long long)i,
                          (long long)j);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
}

START_TEST(gemm_transposes_odd_sizes_padded)
{
    static const int64_t sizes[] = {1, 7, 33, 130};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, -1.5f}, {-2.0f, 1.0f}};
    ckeras_set_num_threads(1);
    uint64_t seed = 1;
    int cases = 0;
    for (int t = 0; t < 4; t++)
        for (int im = 0; im < 4; im++)
            for (int in = 0; in < 4; in++)
                for (int ik = 0; ik < 4; ik++) {
                    int v = (im + in + ik + t) % 3;
                    gemm_case g = {t & 1, (t >> 1) & 1, sizes[im], sizes[in], sizes[ik], ab[v][0], ab[v][1],
                                   (im + ik) % 2 ? 3 : 0, (in + ik) % 2 ? 5 : 0, (im + in) % 2 ? 2 : 0, false};
                    check_case(&g, seed++);
                    cases++;
                }
    ck_assert_int_eq(cases, 256);
    ckeras_set_num_threads(0);
}
END_TEST

START_TEST(gemm_beta_zero_ignores_nan_in_c)
{
    for (int t = 0; t < 4; t++) {
        gemm_case g = {t & 1, (t >> 1) & 1, 37, 19, 23, 1.0f, 0.0f, 1, 0, 4, true};
        check_case(&g, 100 + (uint64_t)t);
        gemm_case small = {t & 1, (t >> 1) & 1, 3, 2, 5, -0.75f, 0.0f, 0, 2, 1, true};
        check_case(&small, 200 + (uint64_t)t);
    }
}
END_TEST

START_TEST(gemm_hand_values)
{
    /* [1 2 3; 4 5 6] * [1 0; 0 1; 1 1] = [4 5; 10 11]; then 2 * that + 1 * C */
    const float a[6] = {1, 2, 3, 4, 5, 6};
    const float b[6] = {1, 0, 0, 1, 1, 1};
    float c[4] = {1, -1, 0.5f, 2};
    ck_gemm(false, false, 2, 2, 3, 2.0f, a, 3, b, 2, 1.0f, c, 2);
    const float want[4] = {9, 9, 20.5f, 24};
    tu_assert_close(c, want, 4, 0, 0, "2 A B + C");
    /* A^T stored as 3 x 2 (a read as 3 x 2 is [1 2; 3 4; 5 6]); op(A) = [1 3 5; 2 4 6];
     * B^T: b read as 2 x 3 = [1 0 0; 1 1 1], op(B) = [1 1; 0 1; 0 1] */
    float d[4];
    ck_gemm(true, true, 2, 2, 3, 1.0f, a, 2, b, 3, 0.0f, d, 2);
    const float want_t[4] = {1, 9, 2, 12};
    tu_assert_close(d, want_t, 4, 0, 0, "A^T B^T");
}
END_TEST

START_TEST(gemm_zero_sizes_and_alpha_zero)
{
    float a[12], b[12];
    for (int i = 0; i < 12; i++)
        a[i] = b[i] = NAN; /* must not be read */
    float c[6] = {1, 2, 3, 4, 5, 6};
    /* m == 0 or n == 0: nothing happens */
    ck_gemm(false, false, 0, 3, 4, 1.0f, a, 4, b, 3, 0.0f, c, 3);
    ck_gemm(true, false, 2, 0, 4, 1.0f, a, 2, b, 3, 0.0f, c, 3);
    const float same[6] = {1, 2, 3, 4, 5, 6};
    tu_assert_close(c, same, 6, 0, 0, "m or n zero leaves C");
    /* k == 0: C = beta C */
    ck_gemm(false, true, 2, 3, 0, 1.0f, a, 1, b, 1, 0.5f, c, 3);
    const float half[6] = {0.5f, 1, 1.5f, 2, 2.5f, 3};
    tu_assert_close(c, half, 6, 0, 0, "k zero scales C");
    /* alpha == 0: C = beta C, A and B unread */
    ck_gemm(false, false, 2, 3, 4, 0.0f, a, 4, b, 3, -2.0f, c, 3);
    const float neg[6] = {-1, -2, -3, -4, -5, -6};
    tu_assert_close(c, neg, 6, 0, 0, "alpha zero scales C");
    /* k == 0 with beta == 0 and NaN in C (padding of C left alone) */
    float cn[8] = {NAN, NAN, NAN, 7, NAN, NAN, NAN, 7};
    ck_gemm(true, true, 2, 3, 0, 1.0f, a, 1, b, 1, 0.0f, cn, 4);
    const float zero[8] = {0, 0, 0, 7, 0, 0, 0, 7};
    tu_assert_close(cn, zero, 8, 0, 0, "k zero, beta zero");
}
END_TEST

START_TEST(gemm_vectors_and_tight_strides)
{
    /* single rows / columns, including a single-row operand whose ld is smaller than its
     * width (that row stride is never used) */
    gemm_case cases[] = {
        {false, false, 1, 9, 13, 1.0f, 0.0f, 0, 0, 0, false}, {false, true, 1, 1, 50, 1.0f, 1.0f, 0, 0, 0, false},
        {true, false, 11, 1, 1, 2.0f, 0.0f, 0, 0, 0, false},  {true, true, 1, 5, 1, 1.0f, -1.0f, 0, 0, 0, false},
        {false, false, 64, 1, 64, 1.0f, 0.5f, 1, 1, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i], 300 + i);
    /* m == 1 with lda = 1 < k and ldc = 1 < n */
    float a[4] = {1, 2, 3, 4}, b[8] = {1, 2, 3, 4, 5, 6, 7, 8}, c[2] = {0, 0};
    ck_gemm(false, false, 1, 2, 4, 1.0f, a, 1, b, 2, 0.0f, c, 1);
    const float want[2] = {1 * 1 + 2 * 3 + 3 * 5 + 4 * 7, 1 * 2 + 2 * 4 + 3 * 6 + 4 * 8};
    tu_assert_close(c, want, 2, 0, 0, "row vector with tight ld");
}
END_TEST

/* One or two rows of A take the row kernel (blocks of 128 columns); a product of eight rows
 * takes the 32-column block kernel. Both sum each element over k in order, so the rows of the
 * small products must equal the same rows of the large one bit for bit (a one-sample predict
 * equals its row of a batch predict); both must also agree with a double sum. */
START_TEST(gemm_few_rows_equal_block_rows)
{
    static const int64_t ns[] = {1, 10, 16, 17, 84, 120, 128, 129, 300};
    static const int64_t ks[] = {1, 5, 30, 120, 400};
    uint64_t st = 99;
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++)
        for (size_t ik = 0; ik < sizeof ks / sizeof ks[0]; ik++)
            for (int tb = 0; tb <= 1; tb++) {
                const int64_t n = ns[in], k = ks[ik], ldb = tb ? k : n;
                float *a = malloc((size_t)(8 * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
                float *c8 = malloc((size_t)(8 * n) * sizeof(float)), *c2 = malloc((size_t)(2 * n) * sizeof(float));
                ck_assert(a && b && c8 && c2);
                for (int64_t i = 0; i < 8 * k; i++)
                    a[i] = (float)((st = st * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / 16777216.0f - 0.5f;
                for (int64_t i = 0; i < k * n; i++)
                    b[i] = (float)((st = st * 6364136223846793005ULL + 1442695040888963407ULL) >> 40) / 16777216.0f - 0.5f;
                ck_gemm(false, tb, 8, n, k, 1.5f, a, k, b, ldb, 0.0f, c8, n);
                for (int64_t m = 1; m <= 2; m++) {
                    for (int64_t j = 0; j < 2 * n; j++)
                        c2[j] = 0.25f;
                    ck_gemm(false, tb, m, n, k, 1.5f, a, k, b, ldb, 0.0f, c2, n);
                    for (int64_t i = 0; i < m; i++)
                        for (int64_t j = 0; j < n; j++) {
                            double s = 0.0, mag = 0.0;
                            for (int64_t p = 0; p < k; p++) {
                                double v = 1.5 * a[i * k + p] * (tb ? b[j * k + p] : b[p * n + j]);
                                s += v;
                                mag += fabs(v);
                            }
                            const double tol = 2e-7 * mag + 1e-30;
                            ck_assert_msg(c2[i * n + j] == c8[i * n + j] && fabs(c8[i * n + j] - s) <= tol,
                                          "m=%lld n=%lld k=%lld tb=%d: C[%lld][%lld] = %.9g (8 rows: %.9g), want %.9g",
                                          (long long)m, (long long)n, (long long)k, tb, (long long)i, (long long)j,
                                          c2[i * n + j], c8[i * n + j], s);
                        }
                }
                free(a);
                free(b);
                free(c8);
                free(c2);
            }
}
END_TEST

START_TEST(gemm_large_multithreaded)
{
    ckeras_set_num_threads(2);
    for (int t = 0; t < 4; t++) {
        gemm_case g = {t & 1, (t >> 1) & 1, 301, 257, 199, 0.75f, t == 3 ? 0.0f : 0.25f, t, 2 * t, 1, t == 3};
        check_case(&g, 400 + (uint64_t)t);
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* Products above the small-kernel limit (1 M multiply-adds): on AVX-512 machines the own
 * blocked driver takes them (ck_gemm_driver), else BLIS. Against the double sum at 1 and 2
 * threads: C's edges (m not a multiple of 8, n not of 32, k not of the 256-wide k-blocks, more
 * than the 512 rows of a row block), padded leading dimensions, alpha/beta, NaN in C with
 * beta 0, and both transposes. */
START_TEST(gemm_driver_edges_against_double)
{
    static const gemm_case cases[] = {
        {false, false, 130, 97, 300, 1.0f, 0.0f, 0, 0, 0, false},
        {false, true, 130, 97, 300, 0.5f, -1.5f, 3, 5, 2, false},
        {true, false, 531, 40, 60, 1.0f, 1.0f, 1, 0, 3, false},
        {true, true, 531, 40, 60, -2.0f, 0.0f, 0, 2, 0, true},
        {false, false, 64, 513, 257, 1.0f, 0.0f, 0, 1, 0, true},
        {true, false, 200, 33, 513, 0.75f, 0.25f, 4, 0, 1, false},
        {false, true, 8, 1030, 129, 1.0f, 0.0f, 0, 0, 0, false},
        {false, false, 1100, 9, 120, 1.0f, 0.5f, 0, 3, 0, false},
    };
    for (int nt = 1; nt <= 2; nt++) {
        ckeras_set_num_threads(nt);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            check_case(&cases[i], 700 + 10 * (uint64_t)i + (uint64_t)nt);
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* The blocked driver sums like the small kernels (k in order within 256-wide blocks, blocks
 * added to C in order), so a large product's rows equal the rows computed alone (one row: the
 * row kernel; eight rows: the block kernel) bit for bit, at any thread count: a one-sample
 * predict equals its row of a batch predict. Its results also agree with BLIS's (summed in
 * another order) within 2e-7 of sum |a b| per element. */
START_TEST(gemm_driver_rows_equal_small_products)
{
    if (!ck_gemm_driver()) { /* BLIS blocks k its own way: nothing to compare bit for bit */
        fprintf(stderr, "test_gemm: skipped: no blocked driver on this machine (AVX-512 only)\n");
        return;
    }
    const int64_t m = 600, n = 300, k = 700; /* 126 M multiply-adds: the large path */
    for (int tb = 0; tb <= 1; tb++)
        for (int nt = 1; nt <= 2; nt++) {
            ckeras_set_num_threads(nt);
            ck_rng r;
            ck_rng_seed(&r, 31 + (uint64_t)tb);
            float *a = mat_new(&r, m, k, k, 0.0f), *b = mat_new(&r, tb ? n : k, tb ? k : n, tb ? k : n, 0.0f);
            float *c = malloc((size_t)(m * n) * sizeof(float)), *cb = malloc((size_t)(m * n) * sizeof(float));
            float *row = malloc((size_t)(8 * n) * sizeof(float));
            ck_assert(c && cb && row);
            ck_gemm(false, tb, m, n, k, 1.0f, a, k, b, tb ? k : n, 0.0f, c, n);
            static const int64_t rows[] = {0, 7, 8, 311, 511, 512, 599};
            for (size_t ir = 0; ir < sizeof rows / sizeof rows[0]; ir++) {
                const int64_t i = rows[ir];
                ck_gemm(false, tb, 1, n, k, 1.0f, a + i * k, k, b, tb ? k : n, 0.0f, row, n);
                for (int64_t j = 0; j < n; j++)
                    ck_assert_msg(row[j] == c[i * n + j],
                                  "tb=%d threads=%d: row %lld alone differs at %lld: %.9g vs %.9g", tb, nt,
                                  (long long)i, (long long)j, row[j], c[i * n + j]);
            }
            const int64_t i8 = 592; /* the last 8 rows as a product of their own */
            ck_gemm(false, tb, 8, n, k, 1.0f, a + i8 * k, k, b, tb ? k : n, 0.0f, row, n);
            ck_assert_int_eq(memcmp(row, c + i8 * n, (size_t)(8 * n) * sizeof(float)), 0);
            bool was = ck_gemm_set_driver(false);
            ck_gemm(false, tb, m, n, k, 1.0f, a, k, b, tb ? k : n, 0.0f, cb, n);
            ck_gemm_set_driver(was);
            for (int64_t i = 0; i < m; i += 37)
                for (int64_t j = 0; j < n; j++) {
                    double mag = 0.0;
                    for (int64_t p = 0; p < k; p++)
                        mag += fabs((double)a[i * k + p] * (tb ? b[j * k + p] : b[p * n + j]));
                    ck_assert_msg(fabs((double)c[i * n + j] - cb[i * n + j]) <= 2e-7 * mag,
                                  "driver vs BLIS at [%lld][%lld]: %.9g vs %.9g", (long long)i, (long long)j,
                                  c[i * n + j], cb[i * n + j]);
                }
            free(a);
            free(b);
            free(c);
            free(cb);
            free(row);
        }
    ckeras_set_num_threads(0);
}
END_TEST

/* Row i of C (crow; c0row: its values before the product) against the double sum, within
 * 1e-6 + 2e-6 * sum |alpha a b|, and, where the own AVX-512 kernels compute both, bit for bit
 * against the same row computed another way (other); its padding (up to ldc) untouched */
static void check_row(bool own, bool ta, bool tb, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t i,
                      int64_t n, int64_t k, float alpha, float beta, const float *c0row, const float *crow,
                      const float *other, int64_t ldc, const char *what)
{
    for (int64_t j = 0; j < n; j++) {
        double mag;
        double want = alpha * ref_dot(ta, tb, a, lda, b, ldb, i, j, k, &mag) + beta * (double)c0row[j];
        ck_assert_msg((!own || memcmp(&crow[j], &other[j], sizeof(float)) == 0) &&
                          fabs(crow[j] - want) <= 1e-6 + 2e-6 * fabs(alpha) * mag,
                      "%s: C[%lld][%lld] = %.9g, the other way %.9g, double %.9g", what, (long long)i, (long long)j,
                      crow[j], other[j], want);
    }
    for (int64_t j = n; j < ldc; j++)
        ck_assert_msg(crow[j] == PAD_SENTINEL, "%s: wrote C's padding", what);
}

/* The last n mod 16 columns of C (up to 12 of them) are computed down the rows when that
 * takes fewer FMAs (n = 1, 10, 50, ...). Each element is still the same sum in the same order,
 * so C equals, bit for bit, the same columns of a product whose B has extra columns up to a
 * multiple of 16 (no tail: every column in the row-vector kernels). Small and large (blocked
 * driver) products, both transposes, alpha/beta with C's old values, more than one 256-wide
 * k-block, padded C, 1 and 2 threads; and against the double sum. The bits are compared where
 * the own AVX-512 kernels do every product (elsewhere BLIS sums the larger one its own way). */
START_TEST(gemm_tail_columns_equal_padded_product)
{
    const bool own = strcmp(ck_gemm_small_kernels(), "avx512") == 0 && ck_gemm_driver();
    typedef struct tail_case {
        bool ta, tb;
        int64_t m, n, k;
        float alpha, beta;
        int64_t pad_c;
    } tail_case;
    static const tail_case cases[] = {
        {false, false, 32, 1, 50, 1.0f, 0.0f, 0},   {true, false, 50, 1, 32, 1.0f, 0.0f, 0},
        {false, false, 32, 50, 100, 1.0f, 0.0f, 0}, {false, true, 32, 50, 50, 1.0f, 0.0f, 3},
        {true, false, 100, 50, 32, 0.5f, 1.0f, 0},  {false, false, 17, 10, 300, 1.0f, -0.5f, 1},
        {true, true, 45, 12, 7, 2.0f, 0.0f, 0},     {false, true, 128, 10, 600, 1.0f, 0.0f, 0},
        {false, false, 300, 84, 300, 1.0f, 0.25f, 2}, {true, false, 600, 10, 520, 1.0f, 0.0f, 0},
        {false, true, 1030, 33, 40, 1.0f, 0.0f, 0},  {true, true, 333, 59, 260, -1.0f, 1.0f, 5},
    };
    for (int threads = 1; threads <= 2; threads++) {
        ckeras_set_num_threads(threads);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const tail_case *t = &cases[ci];
            const int64_t np = (t->n + 15) / 16 * 16, ldc = t->n + t->pad_c;
            ck_rng r;
            ck_rng_seed(&r, 900 + ci);
            const int64_t lda = t->ta ? t->m : t->k;
            /* B with np columns; the product with n uses its first n (same leading dimension) */
            const int64_t ldb = t->tb ? t->k : np;
            float *a = mat_new(&r, t->ta ? t->k : t->m, lda, lda, 0.0f);
            float *b = mat_new(&r, t->tb ? np : t->k, ldb, ldb, 0.0f);
            float *c = mat_new(&r, t->m, t->n, ldc, PAD_SENTINEL);
            float *cp = malloc((size_t)(t->m * np) * sizeof(float));
            ck_assert_ptr_nonnull(cp);
            for (int64_t i = 0; i < t->m; i++)
                for (int64_t j = 0; j < np; j++)
                    cp[i * np + j] = j < t->n ? c[i * ldc + j] : 0.0f;
            float *c0 = malloc((size_t)(t->m * ldc) * sizeof(float));
            ck_assert_ptr_nonnull(c0);
            memcpy(c0, c, (size_t)(t->m * ldc) * sizeof(float));
            ck_gemm(t->ta, t->tb, t->m, t->n, t->k, t->alpha, a, lda, b, ldb, t->beta, c, ldc);
            ck_gemm(t->ta, t->tb, t->m, np, t->k, t->alpha, a, lda, b, ldb, t->beta, cp, np);
            char what[128]; /* the other way: the padded product */
            snprintf(what, sizeof what, "case %zu (ta=%d tb=%d %lldx%lldx%lld) threads %d", ci, t->ta, t->tb,
                     (long long)t->m, (long long)t->n, (long long)t->k, threads);
            for (int64_t i = 0; i < t->m; i++) {
                check_row(own, t->ta, t->tb, a, lda, b, ldb, i, t->n, t->k, t->alpha, t->beta, c0 + i * ldc,
                          c + i * ldc, cp + i * np, ldc, what);
            }
            free(a);
            free(b);
            free(c);
            free(cp);
            free(c0);
        }
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* Products with B transposed and 16, 32, 48 or 64 rows (m a multiple of 16) take the blocked
 * driver's other order: C^T = B op(A)^T, B's rows read in place and op(A) transposed into a
 * panel per 32 rows and k-block, C's block passing through a transposed copy. Each element is
 * still the sum over k in order within 256-wide blocks, the blocks added to C in order, so every
 * row equals, bit for bit, that row computed alone (a one-row product: the small row-vector
 * kernels); and C agrees with the double sum. Both layouts of A, n not a multiple of the
 * 64-column blocks, more than one k-block, alpha and beta with C's old values, padded C, 1 and
 * 2 threads. */
START_TEST(gemm_flip_equal_rows_alone)
{
    const bool own = strcmp(ck_gemm_small_kernels(), "avx512") == 0 && ck_gemm_driver();
    typedef struct flip_case {
        bool ta;
        int64_t m, n, k;
        float alpha, beta;
        int64_t pad_c;
    } flip_case;
    static const flip_case cases[] = {
        {false, 32, 512, 512, 1.0f, 0.0f, 0}, {false, 64, 517, 600, 0.5f, -1.0f, 3},
        {true, 48, 300, 700, 1.0f, 1.0f, 1},  {true, 32, 1000, 257, -2.0f, 0.0f, 0},
        {false, 16, 784, 520, 1.0f, 0.5f, 2}, {true, 16, 350, 300, 1.0f, 0.0f, 0},
    };
    for (int threads = 1; threads <= 2; threads++) {
        ckeras_set_num_threads(threads);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const flip_case *t = &cases[ci];
            const int64_t ldc = t->n + t->pad_c, lda = t->ta ? t->m : t->k;
            ck_rng r;
            ck_rng_seed(&r, 1300 + ci);
            float *a = mat_new(&r, t->ta ? t->k : t->m, lda, lda, 0.0f);
            float *b = mat_new(&r, t->n, t->k, t->k, 0.0f);
            float *c = mat_new(&r, t->m, t->n, ldc, PAD_SENTINEL);
            float *c0 = malloc((size_t)(t->m * ldc) * sizeof(float)), *row = malloc((size_t)ldc * sizeof(float));
            float *arow = malloc((size_t)t->k * sizeof(float));
            ck_assert(c0 && row && arow);
            memcpy(c0, c, (size_t)(t->m * ldc) * sizeof(float));
            ck_gemm(t->ta, true, t->m, t->n, t->k, t->alpha, a, lda, b, t->k, t->beta, c, ldc);
            char what[128]; /* the other way: the row alone */
            snprintf(what, sizeof what, "case %zu (ta=%d %lldx%lldx%lld) threads %d", ci, t->ta, (long long)t->m,
                     (long long)t->n, (long long)t->k, threads);
            for (int64_t i = 0; i < t->m; i++) {
                for (int64_t p = 0; p < t->k; p++)
                    arow[p] = t->ta ? a[p * lda + i] : a[i * lda + p];
                memcpy(row, c0 + i * ldc, (size_t)ldc * sizeof(float));
                ck_gemm(false, true, 1, t->n, t->k, t->alpha, arow, t->k, b, t->k, t->beta, row, ldc);
                check_row(own, t->ta, true, a, lda, b, t->k, i, t->n, t->k, t->alpha, t->beta, c0 + i * ldc,
                          c + i * ldc, row, ldc, what);
            }
            free(a);
            free(b);
            free(c);
            free(c0);
            free(row);
            free(arow);
        }
    }
    ckeras_set_num_threads(0);
}
END_TEST

typedef struct worker_arg {
    uint64_t seed;
} worker_arg;

static void *gemm_worker(void *p)
{
    worker_arg *w = p;
    for (int t = 0; t < 4; t++) {
        gemm_case g = {t & 1, (t >> 1) & 1, 96 + t, 80, 70 + 3 * t, 1.0f, 0.5f, 1, 0, 2, false};
        check_case(&g, w->seed + (uint64_t)t);
    }
    return NULL;
}

START_TEST(gemm_concurrent_callers)
{
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i].seed = 1000 + 10 * (uint64_t)i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, gemm_worker, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
}
END_TEST

static bool known_kernel_set(const char *name, size_t len)
{
    static const char *known[] = {"skx", "knl", "haswell", "sandybridge", "penryn", "zen3", "zen2", "zen",
                                  "excavator", "steamroller", "piledriver", "bulldozer", "generic"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == len && strncmp(name, known[i], len) == 0)
            return true;
    return false;
}

START_TEST(gemm_kernel_name)
{
    /* "<set>" or "<large set>+<small set>", each one of BLIS's names */
    const char *k = ck_gemm_kernels();
    ck_assert_ptr_nonnull(k);
    const char *plus = strchr(k, '+');
    bool ok = plus ? known_kernel_set(k, (size_t)(plus - k)) && known_kernel_set(plus + 1, strlen(plus + 1))
                   : known_kernel_set(k, strlen(k));
    ck_assert_msg(ok, "unknown kernel set '%s'", k);
    ck_assert_ptr_nonnull(strstr(ckeras_build_info(), k));
#ifdef CK_BLIS_STATIC
    /* An explicit choice this CPU can run is honoured (run with CKERAS_BLIS_ARCH=... to check
     * each); without the environment, AVX-512 machines get skx plus an AVX2 set for small
     * products. */
    const char *want = getenv("CKERAS_BLIS_ARCH");
    const char *blis_env = getenv("BLIS_ARCH_TYPE");
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!(blis_env && *blis_env)) {
        if (want && (strcmp(want, "generic") == 0 || (strcmp(want, "skx") == 0 && avx512) ||
                     ((strcmp(want, "haswell") == 0 || strcmp(want, "zen3") == 0) && avx2)))
            ck_assert_str_eq(k, want);
        else if (avx512)
            ck_assert_msg(strcmp(k, "skx+haswell") == 0 || strcmp(k, "skx+zen3") == 0, "AVX-512 machine got '%s'", k);
    }
#endif
}
END_TEST

START_TEST(bias_add_and_grad_by_hand)
{
    /* out (3 x 4) += bias (4) */
    float out[12] = {0, 1, 2, 3, 10, 11, 12, 13, -1, -1, -1, -1};
    const float bias[4] = {0.5f, -1, 2, 100};
    ck_add_bias(out, bias, 3, 4);
    const float want[12] = {0.5f, 0, 4, 103, 10.5f, 10, 14, 113, -0.5f, -2, 1, 99};
    tu_assert_close(out, want, 12, 0, 0, "add_bias");
    /* db = column sums of dy (3 x 4), overwriting whatever db held */
    const float dy[12] = {1, 2, 3, 4, 10, 20, 30, 40, -1, 0.5f, 0, 0.25f};
    float db[4] = {NAN, NAN, 7, 7};
    ck_bias_grad(dy, db, 3, 4);
    const float want_db[4] = {10, 22.5f, 33, 44.25f};
    tu_assert_close(db, want_db, 4, 0, 0, "bias_grad");
    /* one row: db = dy; zero rows: db = 0 */
    ck_bias_grad(dy, db, 1, 4);
    tu_assert_close(db, dy, 4, 0, 0, "bias_grad one row");
    ck_bias_grad(dy, db, 0, 4);
    const float zeros[4] = {0, 0, 0, 0};
    tu_assert_close(db, zeros, 4, 0, 0, "bias_grad no rows");
}
END_TEST

START_TEST(bias_large_against_double)
{
    /* odd widths (vector tails) against sums in double */
    ck_rng r;
    ck_rng_seed(&r, 7);
    const int64_t rows = 257, cols = 37;
    float *dy = malloc(rows * cols * sizeof *dy), *out = malloc(rows * cols * sizeof *out);
    float bias[37], db[37];
    ck_assert_ptr_nonnull(dy);
    ck_assert_ptr_nonnull(out);
    for (int64_t i = 0; i < rows * cols; i++)
        out[i] = dy[i] = (float)ck_rng_normal(&r);
    for (int64_t j = 0; j < cols; j++)
        bias[j] = (float)ck_rng_normal(&r);
    ck_bias_grad(dy, db, rows, cols);
    ck_add_bias(out, bias, rows, cols);
    for (int64_t j = 0; j < cols; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            s += dy[i * cols + j];
            ck_assert_float_eq(out[i * cols + j], dy[i * cols + j] + bias[j]);
        }
        ck_assert_msg(fabs(db[j] - s) <= 1e-4 * (1.0 + fabs(s)), "db[%lld] = %g, want %g", (long long)j, db[j], s);
    }
    free(dy);
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gemm_transposes_odd_sizes_padded);
    tcase_add_test(tc, gemm_beta_zero_ignores_nan_in_c);
    tcase_add_test(tc, gemm_hand_values);
    tcase_add_test(tc, gemm_zero_sizes_and_alpha_zero);
    tcase_add_test(tc, gemm_vectors_and_tight_strides);
    tcase_add_test(tc, gemm_few_rows_equal_block_rows);
    tcase_add_test(tc, gemm_large_multithreaded);
    tcase_add_test(tc, gemm_driver_edges_against_double);
    tcase_add_test(tc, gemm_driver_rows_equal_small_products);
    tcase_add_test(tc, gemm_tail_columns_equal_padded_product);
    tcase_add_test(tc, gemm_flip_equal_rows_alone);
    tcase_add_test(tc, gemm_concurrent_callers);
    tcase_add_test(tc, gemm_kernel_name);
    tcase_add_test(tc, bias_add_and_grad_by_hand);
    tcase_add_test(tc, bias_large_against_double);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
