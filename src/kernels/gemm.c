/* GEMM through BLIS: the only file of the library that includes blis.h.
 *
 * C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C, all row-major. A row-major
 * matrix with leading dimension ld is, for BLIS, row stride ld and column stride 1; a
 * transposed operand swaps the two strides, so no operand is ever copied here.
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
 * With BLIS=shared, BLIS's default context is used and its own detection decides. */
#include "kernels.h"

/* blis.h defines its helpers as plain `static` functions and compares unsigned values with 0:
 * silence those two warnings for the header only. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wtype-limits"
#include <blis.h>
#pragma GCC diagnostic pop
#include <pthread.h>
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

#ifdef CK_BLIS_STATIC
static cntx_t gemm_cntx_store, gemm_cntx_small_store;

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

static void gemm_init(void)
{
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

const char *ck_gemm_kernels(void)
{
    pthread_once(&gemm_once, gemm_init);
    return gemm_kernels;
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

    /* op(A) is m x k: stored m x k (rows lda apart) or, transposed, k x m; likewise op(B).
     * (BLIS ignores the row stride of a single row, so any ld works there.) */
    inc_t rs_a = ta ? 1 : lda, cs_a = ta ? lda : 1;
    inc_t rs_b = tb ? 1 : ldb, cs_b = tb ? ldb : 1;

    int nt = ck_num_threads();
    if (2.0 * (double)m * (double)n * (double)k < CK_GEMM_MT_MIN_FLOPS)
        nt = 1;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(nt, &rntm);

    cntx_t *cntx = gemm_cntx;
    if (gemm_cntx_small && (m < CK_GEMM_LARGE_MIN_SIDE || n < CK_GEMM_LARGE_MIN_SIDE ||
                            (double)m * (double)n * (double)k < CK_GEMM_LARGE_MIN_MNK))
        cntx = gemm_cntx_small;

    float al = alpha, be = beta;
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &al, (float *)a, rs_a, cs_a, (float *)b, rs_b,
                 cs_b, &be, c, ldc, 1, cntx, &rntm);
}
