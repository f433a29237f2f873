/* GEMM: the library's own kernels, and BLIS (the only file of the library that includes blis.h).
 *
 * C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C, all row-major. Three paths:
 *   - products of at most CK_GEMM_SMALL_MAX_MNK multiply-adds: the own small kernels (AVX-512
 *     or AVX2), on the calling thread;
 *   - larger ones on AVX-512 machines: the same kernels in the own blocked, threaded driver
 *     (below: "large products on AVX-512");
 *   - the rest: BLIS. A row-major matrix with leading dimension ld is, for BLIS, row stride ld
 *     and column stride 1; a transposed operand swaps the two strides.
 *
 * Kernel set. With BLIS=static (CK_BLIS_STATIC) the library embeds Debian's libblis.a, whose
 * own CPU detection (BLIS 0.9.0) misses many AVX-512 machines (AMD family 0x1A: generic
 * kernels; Intel Xeons whose brand string hides the FMA unit count: haswell). So, once per
 * process, contexts are initialised here with kernel sets chosen by CPUID and handed to each
 * call:
 *   - BLIS_ARCH_TYPE set by the user: BLIS's own choice is kept (no context of ours);
 *   - CKERAS_BLIS_ARCH = skx | haswell | zen3 | generic: that set alone, if this CPU runs it;
 *   - otherwise, with AVX512F+DQ+BW+VL: skx for large products and, for small or narrow ones,
 *     the AVX2 set (zen3 on AMD, haswell elsewhere), whose small-matrix ("sup") kernels skip
 *     packing: reported as "skx+zen3" / "skx+haswell";
 *   - with AVX2+FMA only: BLIS's own choice if it is not generic, else zen3 (AMD) or haswell;
 *   - else BLIS's own choice.
 * No process-wide state of BLIS is changed, so a host that uses BLIS itself is unaffected.
 * With BLIS=shared, BLIS's default context is used and its own detection decides.
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

/* blis.h defines its helpers as plain `static` functions and compares unsigned values with 0:
 * silence those two warnings for the header only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wtype-limits"
#include <blis.h>
#pragma GCC diagnostic pop
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define CK_X86 1
#endif

/* Below this many flops (2 m n k) a GEMM runs on one thread. Measured (2 cores, BLIS's OpenMP
 * threads): back-to-back calls gain from 2 threads from ~0.5 MFLOP on (1.3 MFLOP: 1.8x), but
 * after a 2 ms pause the sleeping thread's wake-up makes 2 threads slower up to ~1.5 MFLOP
 * (1.3 MFLOP: 0.87x, 1.8 MFLOP: 1.17x, 4 MFLOP: 1.1-1.2x). */
#define CK_GEMM_MT_MIN_FLOPS 2.0e6

/* skx's packed kernels win once both output sides reach 64 and m n k reaches 2^20; below
 * that the AVX2 small-matrix kernels are up to 4x faster (BLIS 0.9.0, 1 thread, measured on
 * a Xeon with AVX-512: 128x10x512 32 vs 17 GFLOP/s, 50176x6x25 27 vs 9, 32x100x30 42 vs 18;
 * 128x512x784 84 vs 46). */
#define CK_GEMM_LARGE_MIN_SIDE 64
#define CK_GEMM_LARGE_MIN_MNK 1048576.0

static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;
static cntx_t *gemm_cntx;       /* NULL: BLIS's default context */
static cntx_t *gemm_cntx_small; /* if not NULL: the context for small or narrow products */
static char gemm_kernels[32] = "uninitialised";

static void use_blis_default(void)
{
    gemm_cntx = NULL;
    gemm_cntx_small = NULL;
    snprintf(gemm_kernels, sizeof gemm_kernels, "%s", bli_arch_string(bli_arch_query_id()));
}

/* ---- CPU features ------------------------------------------------------------------------ */

typedef struct cpu_caps {
    bool avx2_fma;  /* AVX2 + FMA with the OS saving YMM state */
    bool avx512;    /* AVX512F+DQ+BW+VL with the OS saving ZMM state (what skx needs) */
    bool amd;
} cpu_caps;

static cpu_caps cpu_detect(void)
{
    cpu_caps caps = {false, false, false};
#ifdef CK_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d))
        return caps;
    unsigned max_leaf = a;
    caps.amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u; /* "AuthenticAMD" */
    if (max_leaf < 7 || !__get_cpuid(1, &a, &b, &c, &d))
        return caps;
    bool fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx)
        return caps;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    bool os_ymm = (xcr0_lo & 0x6u) == 0x6u;   /* SSE and AVX state */
    bool os_zmm = (xcr0_lo & 0xe0u) == 0xe0u; /* opmask, ZMM0-15 high halves, ZMM16-31 */
    __cpuid_count(7, 0, a, b, c, d);
    bool avx2 = (b >> 5) & 1;
    bool f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    caps.avx2_fma = os_ymm && avx2 && fma;
    caps.avx512 = caps.avx2_fma && os_zmm && f && dq && bw && vl;
#endif
    return caps;
}

#ifdef CK_BLIS_STATIC
static cntx_t gemm_cntx_store, gemm_cntx_small_store;

/* ---- kernel choice ----------------------------------------------------------------------- */

typedef struct arch_entry {
    const char *name;
    void (*init)(cntx_t *);
    int needs; /* 0 none, 1 AVX2+FMA, 2 AVX-512 (skx set) */
} arch_entry;

static const arch_entry arch_table[] = {
    {"skx", bli_cntx_init_skx, 2},
    {"zen3", bli_cntx_init_zen3, 1},
    {"haswell", bli_cntx_init_haswell, 1},
    {"generic", bli_cntx_init_generic, 0},
};

/* large: the set for every product; small: NULL, or the set for small and narrow ones */
static void use_arch(const arch_entry *large, const arch_entry *small)
{
    large->init(&gemm_cntx_store);
    gemm_cntx = &gemm_cntx_store;
    gemm_cntx_small = NULL;
    snprintf(gemm_kernels, sizeof gemm_kernels, "%s", large->name);
    if (small) {
        small->init(&gemm_cntx_small_store);
        gemm_cntx_small = &gemm_cntx_small_store;
        snprintf(gemm_kernels, sizeof gemm_kernels, "%s+%s", large->name, small->name);
    }
}

static const arch_entry *arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (strcmp(arch_table[i].name, name) == 0)
            return &arch_table[i];
    return NULL;
}
#endif /* CK_BLIS_STATIC */

/* ---- own kernels for small products ------------------------------------------------------
 *
 * A BLIS call costs a few microseconds of set-up whatever its size, which is most of the time
 * of the products of a small MLP (32 x 100 x 30 is 0.2 MFLOP: ~2 us of arithmetic). Products
 * below CK_GEMM_SMALL_MAX_MNK multiply-adds run here instead, on the calling thread: register
 * blocks of MR rows x NV vectors of C accumulate sum_p A(i, p) B(p, j) with A broadcast and the
 * rows of B loaded directly (masked at the right edge), so nothing is packed unless B is
 * transposed (then a KC x 32 panel of it is transposed on the stack); the last n mod 16 columns
 * may go down the rows instead (tail512, below). k is taken in blocks of
 * KC (each element summed in order within a block, the blocks added to C in order), as in the
 * blocked driver, so every path on one machine gives a row of C the same bits. AVX-512 and
 * AVX2+FMA versions, chosen by CPUID; without either, BLIS does every product.
 *
 * Element (i, p) of op(A) is a[i * rsa + p * csa]; op(B) (k x n) rows are ldb apart. */

/* Products of at most this many multiply-adds (m n k) use the own kernels: the region where
 * BLIS would run on one thread anyway (CK_GEMM_MT_MIN_FLOPS). Measured on a Xeon with AVX-512
 * (1 thread, best of repeats; BLIS 0.9.0 with its haswell small-matrix kernels): the AVX-512
 * kernels take 1.2-4x less time on the Dense products of a 30-100-50-50-1 MLP at batch 32 and
 * 1.6-5x less on the 512->10 layer of a 784-512-512-10 MLP at batch 128 (128x512x10 with B
 * transposed: 29 vs 154 us); 128x64x512 and 256x100x100 are still 1.15-1.4x faster, but
 * large narrow products are not (50176x6x25: 1377 vs 859 us). */
#define CK_GEMM_SMALL_MAX_MNK 1048576.0
#define CK_GEMM_SMALL_KC 256 /* values of k per block (rows of a transposed panel of B) */

typedef void (*small_fn)(bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa,
                         int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
static small_fn gemm_small; /* NULL: BLIS does every product */
static const char *gemm_small_name = "none";

#if defined(CK_X86) && defined(__GNUC__)
#include <immintrin.h>

#define CK_AI static inline __attribute__((always_inline))
/* the loops over a register block's rows and vectors must unroll, or the block lives in memory */
#define CK_UNROLL _Pragma("GCC unroll 16")

/* ---- AVX-512: 16 floats per vector; NV = 2 vectors (32 columns) x MR <= 8 rows, or NV = 1
 * x MR <= 12 rows. The last vector of a block is masked by `last`, unless `whole` (a compile-time
 * constant of every kernel below): then it is full and its loads and stores take no mask. GCC
 * kept a run-time mask in memory and reloaded it on every step of the inner loop, so full
 * blocks (the common case) run in their own variants. */
#define T512 __attribute__((target("avx512f")))

/* v[0..NV) = the NV <= 2 vectors at p, the last one masked by last unless whole */
CK_AI T512 void load_vecs512(const int NV, const float *p, __mmask16 last, const bool whole, __m512 v[2])
{
    CK_UNROLL
    for (int i = 0; i < NV; i++)
        v[i] = i < NV - 1 || whole ? _mm512_loadu_ps(p + 16 * i) : _mm512_maskz_loadu_ps(last, p + 16 * i);
    if (NV == 1)
        v[1] = v[0];
}

/* C block (MR x NV vectors at c, rows ldc apart) = alpha * acc + beta * C; unit: alpha is 1 */
CK_AI T512 void store512(const int MR, const int NV, __m512 acc[12][2], float *c, int64_t ldc, float alpha, float beta,
                         __mmask16 last, const bool whole, const bool unit)
{
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    CK_UNROLL
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            __mmask16 mk = v == NV - 1 && !whole ? last : (__mmask16)0xffff;
            __m512 x = unit ? acc[r][v] : _mm512_mul_ps(acc[r][v], va);
            if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, mk, x);
        }
    }
}

/* acc[r][v] += op(A)(r, p) * bv[v] for the MR rows at ap (rsa apart) and NV <= 2 vectors */
CK_AI T512 void fma_rows512(const int MR, const int NV, const float *ap, int64_t rsa, const __m512 bv[2],
                            __m512 acc[12][2])
{
    CK_UNROLL
    for (int r = 0; r < MR; r++) {
        __m512 av = _mm512_set1_ps(ap[r * rsa]);
        acc[r][0] = _mm512_fmadd_ps(av, bv[0], acc[r][0]);
        if (NV == 2)
            acc[r][1] = _mm512_fmadd_ps(av, bv[1], acc[r][1]);
    }
}

/* ... and, when pf is not NULL, prefetches into L2 one line for each p: line p mod 2^sh of row
 * p / 2^sh, the rows ldpf floats apart (sh = 0: the line at pf + p * ldpf) */
CK_AI T512 void mk512pf(const int MR, const int NV, int64_t k, const float *a, int64_t rsa, int64_t csa,
                        const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta, __mmask16 last,
                        const bool whole, const float *pf, int64_t ldpf, int sh)
{
    __m512 acc[12][2];
    CK_UNROLL
    for (int r = 0; r < MR; r++)
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        if (pf)
            _mm_prefetch((const char *)(pf + (p >> sh) * ldpf + (p & ((1 << sh) - 1)) * 16), _MM_HINT_T1);
        __m512 bv[2];
        load_vecs512(NV, bp, last, whole, bv);
        fma_rows512(MR, NV, a + p * csa, rsa, bv, acc);
    }
    if (alpha == 1.0f) /* x * 1 is x (outside a caller's denormals-are-zero mode): no multiply */
        store512(MR, NV, acc, c, ldc, alpha, beta, last, whole, true);
    else
        store512(MR, NV, acc, c, ldc, alpha, beta, last, whole, false);
}

CK_AI T512 void mk512(const int MR, const int NV, int64_t k, const float *a, int64_t rsa, int64_t csa,
                      const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta, __mmask16 last,
                      const bool whole)
{
    mk512pf(MR, NV, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, last, whole, NULL, 0, 0);
}

/* block512 for nb > 16 that also prefetches, during its first row block, a line for each p as
 * mk512pf (the next B panel's rows while this one is in use; NULL: none) */
static T512 void block512pf(int64_t m, int64_t nb, int64_t k, float alpha, const float *a, int64_t rsa,
                            int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                            const float *pf, int64_t ldpf, int sh)
{
    const int64_t tail = nb - 16;
    const __mmask16 last = (__mmask16)((1u << tail) - 1u);
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) {
        if (nb == 32)
            mk512pf(8, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, true, i == 0 ? pf : NULL,
                    ldpf, sh);
        else
            mk512pf(8, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false, i == 0 ? pf : NULL,
                    ldpf, sh);
    }
    switch (m - i) {
#define R(n) case n: mk512(n, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false); break;
    R(1) R(2) R(3) R(4) R(5) R(6) R(7)
#undef R
    default: break;
    }
}

/* C (m x nb, nb <= 32) for one block of columns: b and c point at its first column */
static T512 void block512(int64_t m, int64_t nb, int64_t k, float alpha, const float *a, int64_t rsa,
                          int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const int64_t tail = nb > 16 ? nb - 16 : nb;
    const __mmask16 last = (__mmask16)((1u << tail) - 1u);
    int64_t i = 0;
    if (nb == 32) {
        for (; i + 8 <= m; i += 8)
            mk512(8, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, true);
    }
    if (nb > 16) {
        for (; i + 8 <= m; i += 8)
            mk512(8, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false);
        switch (m - i) {
#define R(n) case n: mk512(n, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false); break;
        R(1) R(2) R(3) R(4) R(5) R(6) R(7)
#undef R
        default: break;
        }
    } else {
        if (nb == 16)
            for (; i + 12 <= m; i += 12)
                mk512(12, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, true);
        for (; i + 12 <= m; i += 12)
            mk512(12, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false);
        switch (m - i) {
#define R(n) case n: mk512(n, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false); break;
        R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11)
#undef R
        default: break;
        }
    }
}

/* One or two rows of A (a matrix-vector product, e.g. a Dense layer's one-sample predict):
 * blocks of up to 128 columns (NV = 8 vectors per row), so up to 8 or 16 independent
 * accumulator chains instead of the 2 of a 32-column block of one row. Every element is still
 * the sum over p in order, so a one-sample predict equals that sample's row of a batch predict
 * bit for bit (and the AVX2 kernels' result). */

/* acc[r][v] += a[r * rsa] * (row of B at bp, vector v) */
CK_AI T512 void row512_step(const int MR, const int NV, const float *ap, int64_t rsa, const float *bp, __mmask16 last,
                            const bool whole, __m512 acc[2][8])
{
    CK_UNROLL
    for (int v = 0; v < NV; v++) {
        const __m512 bv = v == NV - 1 && !whole ? _mm512_maskz_loadu_ps(last, bp + 16 * v)
                                                : _mm512_loadu_ps(bp + 16 * v);
        CK_UNROLL
        for (int r = 0; r < MR; r++)
            acc[r][v] = _mm512_fmadd_ps(_mm512_set1_ps(ap[r * rsa]), bv, acc[r][v]);
    }
}

CK_AI T512 void rows512(const int MR, const int NV, int64_t k, const float *a, int64_t rsa, int64_t csa,
                        const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta, __mmask16 last,
                        const bool whole)
{
    __m512 acc[2][8];
    CK_UNROLL
    for (int r = 0; r < MR; r++)
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++)
        row512_step(MR, NV, a + p * csa, rsa, b + p * ldb, last, whole, acc);
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    CK_UNROLL
    for (int r = 0; r < MR; r++)
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            const __mmask16 mk = v == NV - 1 && !whole ? last : (__mmask16)0xffff;
            __m512 x = _mm512_mul_ps(acc[r][v], va);
            if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk, c + r * ldc + 16 * v), x);
            _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mk, x);
        }
}

/* C (m x nb, m <= 2, nb <= 128) */
static T512 void rowblock512(int64_t m, int64_t nb, int64_t k, float alpha, const float *a, int64_t rsa,
                             int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const int64_t nv = (nb + 15) / 16, tail = nb - 16 * (nv - 1);
    const __mmask16 last = (__mmask16)((1u << tail) - 1u);
    /* a full last vector: the whole variants, whose loads take no mask */
    switch ((m - 1) * 8 + nv - 1 + (tail == 16 ? 16 : 0)) {
#define R(mr, v) case (mr - 1) * 8 + v - 1: rows512(mr, v, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, last, false); break; \
                 case 16 + (mr - 1) * 8 + v - 1: rows512(mr, v, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, last, true); break;
    R(1, 1) R(1, 2) R(1, 3) R(1, 4) R(1, 5) R(1, 6) R(1, 7) R(1, 8)
    R(2, 1) R(2, 2) R(2, 3) R(2, 4) R(2, 5) R(2, 6) R(2, 7) R(2, 8)
#undef R
    default: break;
    }
}

/* ---- AVX2 + FMA: 8 floats per vector; NV = 2 (16 columns) x MR <= 6, or NV = 1 x MR <= 8 */
#define T256 __attribute__((target("avx2,fma")))

CK_AI T256 __m256i mask256(int64_t count)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* whole: the last vector is whole (its loads and stores need no mask) */
CK_AI T256 void mk256(const int MR, const int NV, int64_t k, const float *a, int64_t rsa, int64_t csa,
                      const float *b, int64_t ldb, float *c, int64_t ldc, float alpha, float beta, __m256i last,
                      const bool whole)
{
    __m256 acc[8][2];
    CK_UNROLL
    for (int r = 0; r < MR; r++)
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const float *bp = b + p * ldb;
        __m256 b0 = NV == 2 || whole ? _mm256_loadu_ps(bp) : _mm256_maskload_ps(bp, last);
        __m256 b1 = NV == 2 ? (whole ? _mm256_loadu_ps(bp + 8) : _mm256_maskload_ps(bp + 8, last)) : b0;
        const float *ap = a + p * csa;
        CK_UNROLL
        for (int r = 0; r < MR; r++) {
            __m256 av = _mm256_broadcast_ss(ap + r * rsa);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            if (NV == 2)
                acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256i full = _mm256_set1_epi32(-1);
    CK_UNROLL
    for (int r = 0; r < MR; r++) {
        float *cr = c + r * ldc;
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            __m256i mk = v == NV - 1 && !whole ? last : full;
            __m256 x = _mm256_mul_ps(acc[r][v], va);
            if (beta != 0.0f)
                x = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8 * v, mk), x);
            _mm256_maskstore_ps(cr + 8 * v, mk, x);
        }
    }
}

static T256 void block256(int64_t m, int64_t nb, int64_t k, float alpha, const float *a, int64_t rsa,
                          int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    const __m256i last = mask256(nb > 8 ? nb - 8 : nb);
    int64_t i = 0;
    if (nb == 16)
        for (; i + 6 <= m; i += 6)
            mk256(6, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, true);
    else if (nb == 8)
        for (; i + 8 <= m; i += 8)
            mk256(8, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, true);
    if (nb > 8) {
        for (; i + 6 <= m; i += 6)
            mk256(6, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false);
        switch (m - i) {
#define R(n) case n: mk256(n, 2, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false); break;
        R(1) R(2) R(3) R(4) R(5)
#undef R
        default: break;
        }
    } else {
        for (; i + 8 <= m; i += 8)
            mk256(8, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false);
        switch (m - i) {
#define R(n) case n: mk256(n, 1, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, last, false); break;
        R(1) R(2) R(3) R(4) R(5) R(6) R(7)
#undef R
        default: break;
        }
    }
}

/* dst (8 x 8, rows ldd apart) = the transpose of src (8 x 8, rows lds apart) */
CK_AI T256 void transpose8x8(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r[8], t[8], u[8];
    CK_UNROLL
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * lds);
    CK_UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    CK_UNROLL
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    CK_UNROLL
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

/* panel (kb x nb, rows ldp apart) = the transpose of bt (nb x kb, rows ldb apart), in 8 x 8
 * tiles (scalar at the edges) */
static T256 void pack_transposed(const float *bt, int64_t ldb, int64_t nb, int64_t kb, float *panel, int64_t ldp)
{
    int64_t j = 0;
    for (; j + 8 <= nb; j += 8) {
        int64_t p = 0;
        for (; p + 8 <= kb; p += 8)
            transpose8x8(bt + j * ldb + p, ldb, panel + p * ldp + j, ldp);
        for (; p < kb; p++)
            for (int64_t q = 0; q < 8; q++)
                panel[p * ldp + j + q] = bt[(j + q) * ldb + p];
    }
    for (; j < nb; j++)
        for (int64_t p = 0; p < kb; p++)
            panel[p * ldp + j] = bt[j * ldb + p];
}

typedef void (*block_fn)(int64_t m, int64_t nb, int64_t k, float alpha, const float *a, int64_t rsa, int64_t csa,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/* Column blocks of width nr, each over k-blocks of CK_GEMM_SMALL_KC; B given as rows (ldb >= 0:
 * b[p * ldb + j]) or, when tb, as B^T (b[j * ldbt + p]), whose panels are transposed into a
 * stack buffer first. */
CK_AI void small_drive(block_fn block, int64_t nr, bool tb, int64_t m, int64_t n, int64_t k, float alpha,
                       const float *a, int64_t rsa, int64_t csa, const float *b, int64_t ldb, float beta, float *c,
                       int64_t ldc)
{
    if (!tb) {
        for (int64_t j = 0; j < n; j += nr)
            for (int64_t p0 = 0; p0 < k; p0 += CK_GEMM_SMALL_KC) {
                int64_t kb = k - p0 < CK_GEMM_SMALL_KC ? k - p0 : CK_GEMM_SMALL_KC;
                block(m, n - j < nr ? n - j : nr, kb, alpha, a + p0 * csa, rsa, csa, b + p0 * ldb + j, ldb,
                      p0 == 0 ? beta : 1.0f, c + j, ldc);
            }
        return;
    }
    float panel[CK_GEMM_SMALL_KC * 32]; /* (kc, nr) rows of op(B) */
    for (int64_t j = 0; j < n; j += nr) {
        int64_t nb = n - j < nr ? n - j : nr;
        for (int64_t p0 = 0; p0 < k; p0 += CK_GEMM_SMALL_KC) {
            int64_t kb = k - p0 < CK_GEMM_SMALL_KC ? k - p0 : CK_GEMM_SMALL_KC;
            pack_transposed(b + j * ldb + p0, ldb, nb, kb, panel, nr);
            block(m, nb, kb, alpha, a + p0 * csa, rsa, csa, panel, nr, p0 == 0 ? beta : 1.0f, c + j, ldc);
        }
    }
}

/* ---- the last columns, vectorised down the rows ---------------------------------------------
 *
 * block512 holds 16 columns of a row of C per vector. When n is not a multiple of 16, the last
 * nt = n mod 16 columns fill one masked vector in every row: n = 1 (a binary or regression
 * output) uses 1 lane of 16, n = 10 uses 10, n = 50 pays a whole vector per row for 2 columns.
 * Those columns are computed here instead with the vectors running down the rows: a vector is
 * 16 rows of one column, op(A) gives the row vectors and op(B) the broadcasts. op(A) is read in
 * place when it is stored transposed (rows of op(A) adjacent), else a 32-row stripe is
 * transposed into a buffer first; the block of C goes back through a transposed stack copy.
 * Each element is still the sum over p in order from 0, times alpha, plus beta C, in the same
 * operations as mk512, so the bits are those of every other path (test_gemm checks it against
 * the same product with B widened to a multiple of 16 columns). */

/* Up to this many last columns go down the rows: with 13-15 the masked vector is mostly full. */
#define CK_GEMM_TAIL_MAX 12

/* How many last columns of C (m x n) to compute down the rows: 0 for none. They must cost
 * fewer FMAs than one (partly empty) vector per row. */
static int64_t tail_columns(int64_t m, int64_t n)
{
    const int64_t nt = n % 16;
    if (nt == 0 || nt > CK_GEMM_TAIL_MAX)
        return 0;
    return (m + 15) / 16 * nt < m ? nt : 0;
}

/* C (rows <= 32 x NT): at (k x rows, p rows ldat apart) = the rows' op(A) transposed; op(B)
 * element (p, j) at b[p * bp + j * bj]; last masks the last row vector */
CK_AI T512 void tail512_k(const int NT, const int NV, int64_t k, const float *at, int64_t ldat, const float *b,
                          int64_t bp, int64_t bj, float *c, int64_t ldc, float alpha, float beta, __mmask16 last,
                          const bool whole)
{
    __m512 acc[CK_GEMM_TAIL_MAX][2];
    CK_UNROLL
    for (int j = 0; j < NT; j++)
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[j][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        const float *ap = at + p * ldat, *bq = b + p * bp;
        __m512 av[2];
        load_vecs512(NV, ap, last, whole, av);
        CK_UNROLL
        for (int j = 0; j < NT; j++) {
            const __m512 bv = _mm512_set1_ps(bq[j * bj]);
            acc[j][0] = _mm512_fmadd_ps(av[0], bv, acc[j][0]);
            if (NV == 2)
                acc[j][1] = _mm512_fmadd_ps(av[1], bv, acc[j][1]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const int rows = 16 * (NV - 1) + (whole ? 16 : __builtin_popcount(last));
    float t[CK_GEMM_TAIL_MAX][32] __attribute__((aligned(64))); /* C's block, transposed */
    if (beta != 0.0f)
        for (int r = 0; r < rows; r++)
            CK_UNROLL
            for (int j = 0; j < NT; j++)
                t[j][r] = c[r * ldc + j];
    CK_UNROLL
    for (int j = 0; j < NT; j++)
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            __m512 x = _mm512_mul_ps(acc[j][v], va);
            if (beta != 0.0f)
                x = _mm512_fmadd_ps(vb, _mm512_load_ps(&t[j][16 * v]), x);
            _mm512_store_ps(&t[j][16 * v], x);
        }
    for (int r = 0; r < rows; r++)
        CK_UNROLL
        for (int j = 0; j < NT; j++)
            c[r * ldc + j] = t[j][r];
}

/* C (m x nt, nt <= CK_GEMM_TAIL_MAX) for k <= CK_GEMM_SMALL_KC, every column down the rows;
 * op(A) element (i, p) at a[i * rsa + p * csa] (rsa == 1, or csa == 1 and buf holds 32 x k
 * floats: op(A) is transposed there once per 32 rows) */
static T512 void tail512(int64_t m, int64_t nt, int64_t k, float alpha, const float *a, int64_t rsa, int64_t csa,
                         const float *b, int64_t bp, int64_t bj, float beta, float *c, int64_t ldc, float *buf)
{
    for (int64_t i = 0; i < m; i += 32) {
        const int64_t rows = m - i < 32 ? m - i : 32;
        const int nv = rows > 16 ? 2 : 1;
        const __mmask16 last = (__mmask16)((1u << (rows - 16 * (nv - 1))) - 1u);
        const float *at = a + i * rsa;
        int64_t ldat = csa;
        if (rsa != 1) {
            pack_transposed(at, rsa, rows, k, buf, 32);
            at = buf;
            ldat = 32;
        }
        float *ci = c + i * ldc;
        /* 32 rows: both row vectors full (the whole variants: loads without a mask) */
        switch (nt * 2 + nv - 1 + (rows == 32 ? 32 : 0)) {
#define R(t) case 2 * t: tail512_k(t, 1, k, at, ldat, b, bp, bj, ci, ldc, alpha, beta, last, false); break; \
             case 2 * t + 1: tail512_k(t, 2, k, at, ldat, b, bp, bj, ci, ldc, alpha, beta, last, false); break; \
             case 32 + 2 * t + 1: tail512_k(t, 2, k, at, ldat, b, bp, bj, ci, ldc, alpha, beta, last, true); break;
        R(1) R(2) R(3) R(4) R(5) R(6) R(7) R(8) R(9) R(10) R(11) R(12)
#undef R
        default: break;
        }
    }
}

/* the last nt columns of C (m x n) down the rows, over blocks of CK_GEMM_SMALL_KC values of k as
 * small_drive: b and c point at op(B) and C (their first column); buf: CK_GEMM_SMALL_KC * 32
 * floats, 64-byte aligned */
static void tail_drive(bool tb, int64_t m, int64_t n, int64_t nt, int64_t k, float alpha, const float *a,
                       int64_t rsa, int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc,
                       float *buf)
{
    const int64_t j = n - nt, bp = tb ? 1 : ldb, bj = tb ? ldb : 1;
    for (int64_t p0 = 0; p0 < k; p0 += CK_GEMM_SMALL_KC) {
        const int64_t kb = k - p0 < CK_GEMM_SMALL_KC ? k - p0 : CK_GEMM_SMALL_KC;
        tail512(m, nt, kb, alpha, a + p0 * csa, rsa, csa, b + j * bj + p0 * bp, bp, bj, p0 == 0 ? beta : 1.0f,
                c + j, ldc, buf);
    }
}

static void small512(bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa,
                     int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 2 && !tb) {
        small_drive(rowblock512, 128, tb, m, n, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);
        return;
    }
    const int64_t nt = tail_columns(m, n);
    small_drive(block512, 32, tb, m, n - nt, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);
    if (nt) {
        float buf[CK_GEMM_SMALL_KC * 32] __attribute__((aligned(64)));
        tail_drive(tb, m, n, nt, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc, buf);
    }
}

static void small256(bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t rsa,
                     int64_t csa, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    small_drive(block256, 16, tb, m, n, k, alpha, a, rsa, csa, b, ldb, beta, c, ldc);
}
#endif /* CK_X86 && __GNUC__ */

#if defined(CK_X86) && defined(__GNUC__)
#define CK_DIRECT 1
/* ---- large products on AVX-512: the small kernels, blocked and threaded ----------------------
 *
 * On AVX-512 machines products above CK_GEMM_SMALL_MAX_MNK run here rather than in BLIS: the
 * register blocks of block512 (8 rows x 32 columns of C) over blocks of KC = CK_GEMM_SMALL_KC
 * values of k, with
 *   - each KC x 32 panel of op(B) copied (or, when tb, transposed) into a stack buffer, so the
 *     kernel reads 32 contiguous floats per p (B's rows are read in place when the panel serves
 *     at most CK_DIRECT_NOPACK_ROWS rows of C), the next panel's source fetched into L2 meanwhile;
 *   - the last n mod 16 <= 12 columns of C computed down the rows (tail512) where that takes
 *     fewer FMAs;
 *   - with B transposed and C of 16-64 rows, the transposed product C^T = B op(A)^T instead
 *     (flip_run);
 *   - op(A) read in place (broadcasts; packing it, even transposed, measured slower: 784x512x512
 *     with A transposed 129 vs 157 GFLOP/s at 1 thread, 169 vs 294 at 2);
 *   - blocks of CK_DIRECT_MC rows of C, whose KC-wide stripe of A (512 kB) stays in L2 while
 *     every column panel passes over it;
 *   - the threads taking units of whole 32-column panels (or 8-row blocks when C is narrow)
 *     from a shared counter, with no barrier inside a product.
 * Why not BLIS: BLIS 0.9.0 packs the 32-row operand of its skx kernel with its generic scalar
 * loop (its packing kernels stop at 31 rows): 20 % of a 1-thread 784-512-512-10 MLP step, with
 * the second thread waiting at BLIS's barriers. Measured on the 2-core Zen 5 (median GFLOP/s,
 * BLIS / this driver, 1 thread): 128x512x784 162 / 184-191, 128x784x512 (tb) 124 / 185-191,
 * 32x512x784 87 / 154, 128x2048x2048 (tb) 92 / 164, 32768x64x576 118 / 157; at 2 threads
 * 128x784x512 (tb) 155 / 303. (A driver of our own around BLIS's packed 32 x 12 kernel, with
 * vector packing, was tried as well: it lost to this one on all but the squarest shapes.)
 *
 * Same sums as the small path: each element of C is accumulated in k order within each
 * KC-block, and the blocks are added to C in order, so a row of C is the same bit for bit
 * whatever m, the thread count or the path (one-sample predict = its row of a batch). */
#define CK_DIRECT_MC (512 * 1024 / (4 * CK_GEMM_SMALL_KC)) /* rows of C per block: 512 */

/* A panel of B (not transposed) that serves at most this many rows of C is read in place, not
 * copied: the copy costs more than its reads from L1 save. Measured at 1 thread on a Zen 4
 * (GFLOP/s, copied / in place): 32x512x784 93 / 104, 64x512x784 100 / 105; at 128 rows it
 * is even (128x512x512 104 / 107 alone, the same in a training step; 128x2048x2048 100 / 100),
 * and with more the copy wins (256x2048x784 101 / 93-97, 2048x2048x128 with A transposed
 * 94 / 82). The 784-512-512-10 MLP's fit at batch 32: 74-76 -> 77-78 GFLOP/s. */
#define CK_DIRECT_NOPACK_ROWS 64

static bool direct_ready;              /* this CPU runs block512 and the driver is not switched off */
static _Atomic bool direct_on = true; /* ck_gemm_set_driver */

/* panel (kb x 32, rows 32 apart) = the kb rows of op(B) from src (rows lds apart), w <= 32 of
 * them, zero-padded */
static T512 void pack_rows32(const float *src, int64_t lds, int64_t w, int64_t kb, float *dst)
{
    const __mmask16 m0 = (__mmask16)(w >= 16 ? 0xffffu : (1u << w) - 1u);
    const __mmask16 m1 = (__mmask16)(w >= 32 ? 0xffffu : w <= 16 ? 0u : (1u << (w - 16)) - 1u);
    for (int64_t p = 0; p < kb; p++) {
        _mm512_store_ps(dst + 32 * p, _mm512_maskz_loadu_ps(m0, src + p * lds));
        _mm512_store_ps(dst + 32 * p + 16, _mm512_maskz_loadu_ps(m1, src + p * lds + 16));
    }
}

typedef struct direct_job {
    bool tb, split_m;
    int64_t m, n, k, rsa, csa, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t nt;           /* the last nt columns go down the rows (tail512) */
    bool flip;            /* C^T = B op(A)^T, as flip_run (tb, m <= 64) */
    int64_t unit;         /* columns (rows when split_m) per unit of work */
    _Atomic int64_t next; /* the next unit to take */
} direct_job;

/* Columns of C^T per block of flip_run: its stack copy of C's block, transposed */
#define CK_FLIP_NC 64

/* Columns [j0, j1) of C (every row: m <= 64, B transposed) as the product's transpose,
 * C^T = B op(A)^T: B's rows (those of C^T) are read in place as block512's A, and op(A)^T, 32
 * rows of C at a time per k-block, is the panel (op(A) transposed into it, or copied when it is
 * stored transposed already). C's block goes through a transposed stack copy: into it before
 * each k-block that adds to C, out of it after every k-block. Each element is the sum over p in
 * order within each k-block, times alpha, plus beta C (1 C after the first block): the
 * operations of every other path, on the same floats. */
static T512 void flip_run(const direct_job *g, int64_t j0, int64_t j1, float *panel)
{
    float t[CK_FLIP_NC * 32] __attribute__((aligned(64))); /* C^T: rows j, columns i */
    for (int64_t i0 = 0; i0 < g->m; i0 += 32) {
        const int64_t mg = g->m - i0 < 32 ? g->m - i0 : 32;
        for (int64_t p0 = 0; p0 < g->k; p0 += CK_GEMM_SMALL_KC) {
            const int64_t kb = g->k - p0 < CK_GEMM_SMALL_KC ? g->k - p0 : CK_GEMM_SMALL_KC;
            const float beta = p0 == 0 ? g->beta : 1.0f;
            const float *a = g->a + i0 * g->rsa + p0 * g->csa;
            if (g->rsa == 1)
                pack_rows32(a, g->csa, mg, kb, panel);
            else
                pack_transposed(a, g->rsa, mg, kb, panel, 32);
            for (int64_t jc = j0; jc < j1; jc += CK_FLIP_NC) {
                const int64_t nj = j1 - jc < CK_FLIP_NC ? j1 - jc : CK_FLIP_NC;
                float *c = g->c + i0 * g->ldc + jc;
                if (beta != 0.0f)
                    pack_transposed(c, g->ldc, mg, nj, t, 32);
                block512(nj, mg, kb, g->alpha, g->b + jc * g->ldb + p0, g->ldb, 1, panel, 32, beta, t, 32);
                pack_transposed(t, 32, nj, mg, c, g->ldc);
            }
        }
    }
}

/* rows [i0, i1) x columns [j0, j1) of C */
static T512 void direct_run(const direct_job *g, int64_t i0, int64_t i1, int64_t j0, int64_t j1)
{
    const int64_t kc = CK_GEMM_SMALL_KC, mc = CK_DIRECT_MC;
    float panel[CK_GEMM_SMALL_KC * 32] __attribute__((aligned(64)));
    /* the unit that holds the last columns computes the tail ones down the rows (a unit starts
     * at a multiple of 32 and n - nt is a multiple of 16, so the tail is never split) */
    const int64_t jt = j1 == g->n ? j1 - g->nt : j1;
    if (g->flip) {
        flip_run(g, j0, j1, panel);
        return;
    }
    for (int64_t ic = i0; ic < i1; ic += mc) {
        const int64_t mb = i1 - ic < mc ? i1 - ic : mc;
        for (int64_t p0 = 0; p0 < g->k; p0 += kc) {
            const int64_t kb = g->k - p0 < kc ? g->k - p0 : kc;
            const float beta = p0 == 0 ? g->beta : 1.0f;
            const float *a = g->a + ic * g->rsa + p0 * g->csa;
            if (jt < j1) {
                const int64_t bp = g->tb ? 1 : g->ldb, bj = g->tb ? g->ldb : 1;
                tail512(mb, j1 - jt, kb, g->alpha, a, g->rsa, g->csa, g->b + jt * bj + p0 * bp, bp, bj, beta,
                        g->c + ic * g->ldc + jt, g->ldc, panel);
            }
            for (int64_t jc = j0; jc < jt; jc += 32) {
                const int64_t nb = jt - jc < 32 ? jt - jc : 32;
                /* B's rows are read in place by blocks of at most CK_DIRECT_NOPACK_ROWS rows */
                const float *bp = panel;
                int64_t ldp = 32;
                if (g->tb) {
                    pack_transposed(g->b + jc * g->ldb + p0, g->ldb, nb, kb, panel, 32);
                } else if (mb <= CK_DIRECT_NOPACK_ROWS) {
                    bp = g->b + p0 * g->ldb + jc;
                    ldp = g->ldb;
                } else {
                    pack_rows32(g->b + p0 * g->ldb + jc, g->ldb, nb, kb, panel);
                }
                float *c = g->c + ic * g->ldc + jc;
                /* the next panel's source, fetched into L2 during the first two row blocks: its
                 * two lines of each p (B as rows: one line per p and block), or its 32 rows of
                 * up to 16 lines (B transposed: 16 rows per block). Measured at 1 thread on a
                 * Zen 4, 128x2048x2048: 93 -> 101 GFLOP/s (the lines into L2 rather than L1,
                 * where the current panel evicted them), 90 -> 9x with B transposed. */
                const float *next = NULL;
                int sh = 0;
                if (jc + 32 < jt && nb > 16 && mb >= 16) {
                    next = g->tb ? g->b + (jc + 32) * g->ldb + p0 : g->b + p0 * g->ldb + jc + 32;
                    sh = g->tb ? 4 : 0;
                }
                for (int64_t i = 0, h = 0; i < mb; h++) {
                    /* rows i.. : everything left in one call, except the first two row blocks */
                    const int64_t rows = next && h < 2 ? (mb - i < 8 ? mb - i : 8) : mb - i;
                    if (next && h < 2)
                        block512pf(rows, nb, kb, g->alpha, a + i * g->rsa, g->rsa, g->csa, bp, ldp, beta,
                                   c + i * g->ldc, g->ldc, next + (g->tb ? 16 * h * g->ldb : 16 * h), g->ldb, sh);
                    else
                        block512(rows, nb, kb, g->alpha, a + i * g->rsa, g->rsa, g->csa, bp, ldp, beta,
                                 c + i * g->ldc, g->ldc);
                    i += rows;
                }
            }
        }
    }
}

/* The threads take units of whole 32-column panels (or 8-row blocks when C is narrow) from a
 * shared counter, about two per thread, so a thread whose core is slower (shared with another
 * process, or serving interrupts) takes fewer instead of holding the others at the end (each
 * unit packs its own panels of B once). Which thread computes a unit does not change its
 * floats. */
static void direct_part(void *ctx, int t, int T)
{
    (void)t;
    (void)T;
    direct_job *g = ctx;
    const int64_t len = g->split_m ? g->m : g->n;
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(&g->next, 1, memory_order_relaxed);
        const int64_t s0 = u * g->unit, s1 = s0 + g->unit < len ? s0 + g->unit : len;
        if (s0 >= len)
            return;
        if (g->split_m)
            direct_run(g, s0, s1, 0, g->n);
        else
            direct_run(g, 0, g->m, s0, s1);
    }
}

/* false if the driver is off */
static bool direct_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                        const float *b, int64_t ldb, float beta, float *c, int64_t ldc, int nt)
{
    if (!direct_ready || !atomic_load_explicit(&direct_on, memory_order_relaxed))
        return false;
    /* With B transposed and at most 64 rows of C, each packed panel of B would serve only those
     * rows: the transposed product (flip_run) transposes op(A) instead, once per 32 rows and
     * k-block, and reads B's rows in place as the long side. Not with rows that leave a column
     * block of C^T mostly empty (m not a multiple of 16), nor when the 8 rows of B read together,
     * a multiple of 4 kB apart, fall into one set of L1. Measured at 1 thread on a Zen 4
     * (GFLOP/s, panels / flip_run): 32x512x512 97 / 107, 64x784x512 98 / 110, 16x784x512
     * 74 / 98, 48x300x400 95 / 105, 32x512x100 96 / 101; 2 threads 32x512x512 166 / 201; left
     * on panels: 33x500x700 90 / 72, 8x512x512 68 / 47, 64x2048x2048 97 / 90,
     * 16x1024x1024 81 / 78. */
    const bool flip = tb && m <= 64 && m % 16 == 0 && ldb % 1024 != 0;
    /* split columns when every thread gets two panels, else rows */
    direct_job g = {tb, !flip && n < 64 * nt, m, n, k, ta ? 1 : lda, ta ? lda : 1, ldb, ldc, alpha, beta, a, b, c,
                    flip ? 0 : tail_columns(m, n), flip, 0, 0};
    /* units of columns: whole panels, or whole blocks of flip_run */
    const int64_t step = g.split_m ? 8 : flip ? CK_FLIP_NC : 32;
    const int64_t blocks = ((g.split_m ? m : n) + step - 1) / step;
    const int64_t per = nt > 1 ? blocks / (2 * (int64_t)nt) : blocks;
    g.unit = (per > 1 ? per : 1) * step;
    ck_parallel(nt, direct_part, &g);
    return true;
}

/* ---- Adam fused into a weight-gradient product (ck_gemm_tn_adam) ---------------------------
 *
 * Adam on its own is bound by its multiplies, square root and division: 16.5 cycles per 16
 * parameters on a Zen 4 with its data in L1 (one vsqrtps and one vdivps each), about 190 us a
 * step for the 670k weights of a 784-512-512-10 MLP. Inside the product that makes the
 * gradient, the update of the previous 8 x 32 tile is spread over the current tile's 512 FMAs,
 * one vector of 16 after every second value of k: the square root and the division run on the
 * divider beside the FMAs, which lose only the update's multiplies and the divider's issue
 * slots (measured: 10 cycles per 16 parameters). The tiles go row block by row block across a
 * group of panels, so the update walks w, m and v along their rows, each tile's rows fetched
 * into L1 two tiles ahead (further ahead into L2 as well: no clear difference). Measured at 1
 * thread on a Zen 4: product and update of a 784 x 512 kernel at k = 32, 372 -> 345 us;
 * 512 x 512, 236 -> 214 us; the 784-512-512-10 MLP's fit at batch 32 (5 alternating runs),
 * 86.2-86.8 -> 87.5-88.6 GFLOP/s. */

static void gemm_init(void);

/* CK_GEMM_ADAM_MAX_K (kernels.h): products of more values of k (a Dense layer's batch) do not
 * take the update in: the update's share of the step is smaller, and the stack buffer holds
 * fewer panels of B. Measured as above (us, separate / fused): k = 16 255 / 241, k = 32
 * 372 / 345, k = 64 609 / 641. */

typedef struct adam_job {
    int64_t m, n, k, lda, ldb, ldc;
    const float *a, *b;
    float *c;
    const ck_adam_fuse *u;
} adam_job;

/* The update's scalars, each in all 16 lanes */
typedef struct adam_consts {
    __m512 b1, c1, b2, c2, alpha, eps;
} adam_consts;

CK_AI T512 adam_consts adam_load(const ck_adam_fuse *u)
{
    adam_consts k = {_mm512_set1_ps(u->b1), _mm512_set1_ps(u->c1),    _mm512_set1_ps(u->b2),
                     _mm512_set1_ps(u->c2), _mm512_set1_ps(u->alpha), _mm512_set1_ps(u->eps)};
    return k;
}

/* Adam on the 16 parameters at w, m and v from their gradients at g, lanes `lanes` only: the
 * operations of optimizers.c adam_step, in its order (no contraction into FMAs) */
CK_AI T512 void adam_vec(const adam_consts *k, const float *g, float *w, float *m, float *v, __mmask16 lanes)
{
    const __m512 gv = _mm512_maskz_loadu_ps(lanes, g);
    const __m512 mv = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, m), k->b1), _mm512_mul_ps(gv, k->c1));
    const __m512 vg = _mm512_mul_ps(_mm512_mul_ps(gv, gv), k->c2);
    const __m512 vv = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, v), k->b2), vg);
    _mm512_mask_storeu_ps(m, lanes, mv);
    _mm512_mask_storeu_ps(v, lanes, vv);
    const __m512 d = _mm512_add_ps(_mm512_sqrt_ps(vv), k->eps);
    const __m512 wv = _mm512_maskz_loadu_ps(lanes, w);
    _mm512_mask_storeu_ps(w, lanes, _mm512_sub_ps(wv, _mm512_div_ps(_mm512_mul_ps(mv, k->alpha), d)));
}

/* Adam on rows x cols parameters at offset o of C, w, m and v (rows ldc apart) */
static T512 void adam_block(const ck_adam_fuse *u, const float *c, int64_t o, int64_t rows, int64_t cols, int64_t ldc)
{
    const adam_consts k = adam_load(u);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < cols; j += 16) {
            const int64_t n = cols - j < 16 ? cols - j : 16, e = o + r * ldc + j;
            adam_vec(&k, c + e, u->w + e, u->m + e, u->v + e, (__mmask16)((1u << n) - 1u));
        }
}

/* One 8 x 32 tile of C at offset o (k <= CK_GEMM_SMALL_KC; op(A) rows adjacent, csa apart per
 * p; B a packed panel): mk512's sums, stored as mk512 stores them (alpha 1, beta 0). Meanwhile
 * Adam updates the 8 x 32 parameters at offset prev (its 16 vectors, one after every second p;
 * those left when k < 32, after the loop), and the rows of w, m and v at offset pf (the tile
 * after this one, whose update follows this tile's; -1: none) are fetched into L1. */
CK_AI T512 void mk512_adam(int64_t k, const float *a, int64_t csa, const float *b, float *c, int64_t o, int64_t ldc,
                           const ck_adam_fuse *u, int64_t prev, int64_t pf)
{
    __m512 acc[12][2];
    CK_UNROLL
    for (int r = 0; r < 8; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const adam_consts kc = adam_load(u);
    const float *g = c + prev;
    float *w = u->w + prev, *m = u->m + prev, *v = u->v + prev;
    int q = 0;
    for (int64_t p = 0; p < k; p++) {
        const __m512 bv[2] = {_mm512_load_ps(b + 32 * p), _mm512_load_ps(b + 32 * p + 16)};
        fma_rows512(8, 2, a + p * csa, 1, bv, acc);
        if ((p & 1) && q < 16) {
            const int64_t e = (q >> 1) * ldc + 16 * (q & 1);
            if (q < 8 && pf >= 0) { /* row q of the tile after this one: two lines of w, m and v */
                const int64_t f = pf + q * ldc;
                _mm_prefetch((const char *)(u->w + f), _MM_HINT_T0);
                _mm_prefetch((const char *)(u->w + f + 16), _MM_HINT_T0);
                _mm_prefetch((const char *)(u->m + f), _MM_HINT_T0);
                _mm_prefetch((const char *)(u->m + f + 16), _MM_HINT_T0);
                _mm_prefetch((const char *)(u->v + f), _MM_HINT_T0);
                _mm_prefetch((const char *)(u->v + f + 16), _MM_HINT_T0);
            }
            adam_vec(&kc, g + e, w + e, m + e, v + e, (__mmask16)0xffff);
            q++;
        }
    }
    for (; q < 16; q++) {
        const int64_t e = (q >> 1) * ldc + 16 * (q & 1);
        adam_vec(&kc, g + e, w + e, m + e, v + e, (__mmask16)0xffff);
    }
    store512(8, 2, acc, c + o, ldc, 1.0f, 0.0f, (__mmask16)0xffff, true, true);
}

/* The tile after the 8 x 32 tile at row i, column j, when a group's full panels [jg, jf) are
 * taken row block by row block (mf full rows): *i and *j, false when there is none */
static bool next_tile(int64_t *i, int64_t *j, int64_t jg, int64_t jf, int64_t mf)
{
    *j += 32;
    if (*j == jf) {
        *i += 8;
        *j = jg;
    }
    return *i < mf;
}

/* C and its update, in groups of as many 32-column panels as the stack buffer holds (8 at
 * k = 32, 1 at k = 256), each group row block by row block: the update then reads w, m and v
 * along their rows (a tile's right neighbour is the next one). */
static T512 void adam_run(const adam_job *g)
{
    float panel[CK_GEMM_SMALL_KC * 32] __attribute__((aligned(64)));
    const ck_adam_fuse *u = g->u;
    const int64_t per = CK_GEMM_SMALL_KC / g->k; /* panels per group */
    const int64_t ldc = g->ldc, mf = g->m / 8 * 8, step = 32 * g->k;
    for (int64_t jg = 0; jg < g->n; jg += 32 * per) {
        const int64_t je = jg + 32 * per < g->n ? jg + 32 * per : g->n;
        const int64_t jf = jg + (je - jg) / 32 * 32; /* the full panels: [jg, jf) */
        for (int64_t j = jg; j < je; j += 32)
            pack_rows32(g->b + j, g->ldb, je - j < 32 ? je - j : 32, g->k, panel + (j - jg) / 32 * step);
        int64_t prev = -1;
        for (int64_t i = 0; i < mf; i += 8)
            for (int64_t j = jg; j < jf; j += 32) {
                const int64_t o = i * ldc + j;
                int64_t i1 = i, j1 = j; /* the next tile, whose rows are fetched ahead */
                const int64_t nx = next_tile(&i1, &j1, jg, jf, mf) ? i1 * ldc + j1 : -1;
                const float *bp = panel + (j - jg) / 32 * step;
                if (prev >= 0)
                    mk512_adam(g->k, g->a + i, g->lda, bp, g->c, o, ldc, u, prev, nx);
                else /* the group's first tile: nothing to update yet */
                    mk512(8, 2, g->k, g->a + i, 1, g->lda, bp, 32, g->c + o, ldc, 1.0f, 0.0f, 0, true);
                prev = o;
            }
        if (prev >= 0)
            adam_block(u, g->c, prev, 8, 32, ldc);
        /* the last rows of the full panels, and a narrow last panel: the product, then the update */
        for (int64_t j = jg; j < je; j += 32) {
            const int64_t i = j < jf ? mf : 0, nb = je - j < 32 ? je - j : 32;
            if (i == g->m)
                continue;
            block512(g->m - i, nb, g->k, 1.0f, g->a + i, 1, g->lda, panel + (j - jg) / 32 * step, 32, 0.0f,
                     g->c + i * ldc + j, ldc);
            adam_block(u, g->c, i * ldc + j, g->m - i, nb, ldc);
        }
    }
}

bool ck_gemm_tn_adam(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, const ck_adam_fuse *u)
{
    pthread_once(&gemm_once, gemm_init);
    const double mnk = (double)m * (double)n * (double)k;
    if (!direct_ready || !atomic_load_explicit(&direct_on, memory_order_relaxed) || m <= 0 || n <= 0 || k <= 0 ||
        k > CK_GEMM_ADAM_MAX_K || mnk <= CK_GEMM_SMALL_MAX_MNK)
        return false;
    /* One thread only: at two, the separate product and update, each split in parts the
     * threads take as they come, were faster (784-512-512-10 MLP fit at batch 32 on a Zen 4:
     * 134-137 GFLOP/s fused, 150-152 separate). */
    if (2.0 * mnk >= CK_GEMM_MT_MIN_FLOPS && ck_num_threads() > 1)
        return false;
    const adam_job g = {m, n, k, lda, ldb, ldc, a, b, c, u};
    /* subnormals read and written as zero, as in the optimizer's own pass (optimizers.c
     * run_rule), for the product too: one control word for both */
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u);
    adam_run(&g);
    _mm_setcsr(csr);
    return true;
}

/* CKERAS_GEMM_DRIVER=blis leaves every large product to BLIS (for comparisons and tests) */
static void direct_init(void)
{
    const char *env = getenv("CKERAS_GEMM_DRIVER");
    direct_ready = gemm_small == small512 && !(env && strcmp(env, "blis") == 0);
}
#endif /* CK_X86 && __GNUC__: CK_DIRECT */

/* The own small-product kernels for this CPU. For comparisons and tests, CKERAS_GEMM_SMALL=0
 * leaves every product to BLIS and CKERAS_GEMM_SMALL=avx2 skips the AVX-512 version. */
static void small_init(void)
{
    const char *env = getenv("CKERAS_GEMM_SMALL");
    if (env && strcmp(env, "0") == 0)
        return;
#if defined(CK_X86) && defined(__GNUC__)
    cpu_caps caps = cpu_detect();
    if (caps.avx512 && !(env && strcmp(env, "avx2") == 0)) {
        gemm_small = small512;
        gemm_small_name = "avx512";
    } else if (caps.avx2_fma) {
        gemm_small = small256;
        gemm_small_name = "avx2";
    }
#endif
}

static void gemm_init(void)
{
    small_init();
#ifdef CK_DIRECT
    direct_init();
#endif
    bli_init(); /* before any query: with BLIS_ARCH_TYPE set, BLIS aborts otherwise */
#ifdef CK_BLIS_STATIC
    const char *blis_env = getenv("BLIS_ARCH_TYPE");
    if (blis_env && *blis_env) {
        use_blis_default();
        return;
    }
    cpu_caps caps = cpu_detect();
    int level = caps.avx512 ? 2 : caps.avx2_fma ? 1 : 0;
    const char *want = getenv("CKERAS_BLIS_ARCH");
    const arch_entry *e = want ? arch_find(want) : NULL;
    if (e && e->needs <= level) { /* an unknown or unrunnable choice falls through to auto */
        use_arch(e, NULL);
        return;
    }
    const arch_entry *avx2 = arch_find(caps.amd ? "zen3" : "haswell");
    if (level == 2)
        use_arch(arch_find("skx"), avx2);
    else if (bli_arch_query_id() != BLIS_ARCH_GENERIC || level == 0)
        use_blis_default();
    else
        use_arch(avx2, NULL);
#else
    use_blis_default();
#endif
}

#ifndef CK_DIRECT
bool ck_gemm_tn_adam(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, const ck_adam_fuse *u)
{
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c, (void)ldc, (void)u;
    return false;
}
#endif

const char *ck_gemm_kernels(void)
{
    pthread_once(&gemm_once, gemm_init);
    return gemm_kernels;
}

const char *ck_gemm_small_kernels(void)
{
    pthread_once(&gemm_once, gemm_init);
    return gemm_small_name;
}

bool ck_gemm_driver(void)
{
    pthread_once(&gemm_once, gemm_init);
#ifdef CK_DIRECT
    return direct_ready && atomic_load(&direct_on);
#else
    return false;
#endif
}

bool ck_gemm_set_driver(bool on)
{
    pthread_once(&gemm_once, gemm_init);
#ifdef CK_DIRECT
    return direct_ready && atomic_exchange(&direct_on, on);
#else
    (void)on;
    return false;
#endif
}

/* ---- the product ------------------------------------------------------------------------- */

/* C (m x n, row stride ldc) = beta * C; beta == 0 writes zeros whatever C held (NaN too). */
static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc)
{
    if (beta == 1.0f)
        return;
    for (int64_t i = 0; i < m; i++) {
        float *row = c + i * ldc;
        if (beta == 0.0f)
            memset(row, 0, (size_t)n * sizeof *row);
        else
            for (int64_t j = 0; j < n; j++)
                row[j] *= beta;
    }
}

void ck_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    pthread_once(&gemm_once, gemm_init);

    double mnk = (double)m * (double)n * (double)k;
    if (gemm_small && mnk <= CK_GEMM_SMALL_MAX_MNK) {
        gemm_small(tb, m, n, k, alpha, a, ta ? 1 : lda, ta ? lda : 1, b, ldb, beta, c, ldc);
        return;
    }

    int nt = 2.0 * mnk < CK_GEMM_MT_MIN_FLOPS ? 1 : ck_num_threads();
#ifdef CK_DIRECT
    if (direct_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nt))
        return;
#endif

    /* op(A) is m x k: stored m x k (rows lda apart) or, transposed, k x m; likewise op(B).
     * (BLIS ignores the row stride of a single row, so any ld works there.) */
    inc_t rs_a = ta ? 1 : lda, cs_a = ta ? lda : 1;
    inc_t rs_b = tb ? 1 : ldb, cs_b = tb ? ldb : 1;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(nt, &rntm);

    cntx_t *cntx = gemm_cntx;
    if (gemm_cntx_small && (m < CK_GEMM_LARGE_MIN_SIDE || n < CK_GEMM_LARGE_MIN_SIDE || mnk < CK_GEMM_LARGE_MIN_MNK))
        cntx = gemm_cntx_small;

    float al = alpha, be = beta;
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, (float *)a, rs_a, cs_a, (float *)b, rs_b,
                 cs_b, &be, c, ldc, 1, cntx, &rntm);
}
