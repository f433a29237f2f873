/* The machine's measured FMA peak: a loop of fused multiply-adds on 16 independent vector
 * accumulators (AVX-512 when the CPU has it, else AVX2+FMA), on 1 thread and on 2 threads (one
 * loop per thread, OpenMP), counted as 2 flops per lane per FMA. Sixteen chains are more than
 * latency x FMA units on current x86 cores (4 x 2 on Zen 4/5, 4 x 2 on Intel's), so the loop
 * runs at the FMA units' throughput. Lines: bench fma_peak_t<n> gflops <value>, the FASTEST of
 * BENCH_REPEATS samples of at least BENCH_MIN_MS each (a peak is what the machine can do: the
 * least disturbed sample shows it; the workloads report medians), and fma_peak_median_t<n>; a
 * `#` line names the instruction set. bench/report.py compares the workloads' GFLOP/s with the
 * peak. */
#include "bench.h"

#include <immintrin.h>
#include <omp.h>

enum { ITERS = 1 << 18, CHAINS = 16 };

static volatile float sink;

/* Sixteen named accumulators (an array would live in memory at -O2); the empty asm keeps the
 * compiler from merging or hoisting the chains. */
#define FMA_LOOP(VT, SET1, FMADD, ADD, C)                                                                    \
    VT a = SET1(0.999999f), b = SET1(1e-7f);                                                                 \
    VT x0 = SET1(seed), x1 = SET1(seed + 1), x2 = SET1(seed + 2), x3 = SET1(seed + 3);                       \
    VT x4 = SET1(seed + 4), x5 = SET1(seed + 5), x6 = SET1(seed + 6), x7 = SET1(seed + 7);                   \
    VT x8 = SET1(seed + 8), x9 = SET1(seed + 9), x10 = SET1(seed + 10), x11 = SET1(seed + 11);               \
    VT x12 = SET1(seed + 12), x13 = SET1(seed + 13), x14 = SET1(seed + 14), x15 = SET1(seed + 15);           \
    for (long i = 0; i < ITERS; i++) {                                                                       \
        x0 = FMADD(x0, a, b), x1 = FMADD(x1, a, b), x2 = FMADD(x2, a, b), x3 = FMADD(x3, a, b);              \
        x4 = FMADD(x4, a, b), x5 = FMADD(x5, a, b), x6 = FMADD(x6, a, b), x7 = FMADD(x7, a, b);              \
        x8 = FMADD(x8, a, b), x9 = FMADD(x9, a, b), x10 = FMADD(x10, a, b), x11 = FMADD(x11, a, b);          \
        x12 = FMADD(x12, a, b), x13 = FMADD(x13, a, b), x14 = FMADD(x14, a, b), x15 = FMADD(x15, a, b);      \
        __asm__ volatile("" : "+" C(x0), "+" C(x1), "+" C(x2), "+" C(x3), "+" C(x4), "+" C(x5), "+" C(x6),   \
                         "+" C(x7));                                                                         \
        __asm__ volatile("" : "+" C(x8), "+" C(x9), "+" C(x10), "+" C(x11), "+" C(x12), "+" C(x13),          \
                         "+" C(x14), "+" C(x15));                                                            \
    }                                                                                                        \
    VT s = ADD(ADD(ADD(ADD(x0, x1), ADD(x2, x3)), ADD(ADD(x4, x5), ADD(x6, x7))),                            \
               ADD(ADD(ADD(x8, x9), ADD(x10, x11)), ADD(ADD(x12, x13), ADD(x14, x15))))

#define C512 "v"
#define C256 "x"

__attribute__((target("avx512f"))) static float fma_loop_avx512(float seed)
{
    FMA_LOOP(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, C512);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(float seed)
{
    FMA_LOOP(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, C256);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

typedef struct peak_run {
    int threads, avx512;
} peak_run;

static void run_peak(void *p)
{
    const peak_run *r = p;
#pragma omp parallel num_threads(r->threads)
    {
        float seed = (float)omp_get_thread_num();
        sink = r->avx512 ? fma_loop_avx512(seed) : fma_loop_avx2(seed);
    }
}

/* Seconds per call of run_peak: the fastest and the median of BENCH_REPEATS samples, each as
 * many calls as last BENCH_MIN_MS, after a warm-up call (as bench_median). */
static void time_calls(peak_run *r, double *best, double *median)
{
    enum { MAX_REPEATS = 101 };
    int repeats = bench_env_int("BENCH_REPEATS", 11);
    double min_s = 1e-3 * bench_env_int("BENCH_MIN_MS", 20);
    repeats = repeats > MAX_REPEATS ? MAX_REPEATS : repeats;
    run_peak(r);
    long inner = 1;
    for (;;) {
        double t0 = bench_now();
        for (long i = 0; i < inner; i++)
            run_peak(r);
        if (bench_now() - t0 >= min_s || inner >= (1L << 20))
            break;
        inner *= 2;
    }
    double s[MAX_REPEATS];
    *best = 1e300;
    for (int k = 0; k < repeats; k++) {
        double t0 = bench_now();
        for (long i = 0; i < inner; i++)
            run_peak(r);
        s[k] = (bench_now() - t0) / (double)inner;
        *best = s[k] < *best ? s[k] : *best;
    }
    *median = bench_median_of(s, repeats);
}

int main(void)
{
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("# skip fma_peak: the CPU has neither AVX-512 nor AVX2+FMA\n");
        return 0;
    }
    int lanes = avx512 ? 16 : 8;
    printf("# fma_peak: %s, %d chains of %d-lane FMAs per thread\n", avx512 ? "avx512" : "avx2+fma", CHAINS,
           lanes);
    const int threads[] = {1, 2};
    for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
        peak_run r = {threads[t], avx512};
        double flops = 2.0 * lanes * CHAINS * (double)ITERS * threads[t];
        double best, median;
        time_calls(&r, &best, &median);
        char name[32];
        snprintf(name, sizeof name, "fma_peak_t%d", threads[t]);
        bench_print(name, "gflops", flops / best * 1e-9);
        snprintf(name, sizeof name, "fma_peak_median_t%d", threads[t]);
        bench_print(name, "gflops", flops / median * 1e-9);
    }
    return 0;
}
