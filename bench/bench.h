/* Helpers shared by the bench_*.c programs: a monotonic clock, the median time of a call over
 * repeated samples, the one output format, `bench <name> <metric> <value>`, random data, and
 * the timed train_on_batch step of bench_cnn and bench_rnn. Header-only. */
#ifndef CK_BENCH_H
#define CK_BENCH_H

#include <ckeras.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* Ends the program with the library's error when a ckeras call does not return CKERAS_OK. */
#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "%s: %s: %s\n", __FILE__, #call, ckeras_last_error());                          \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

/* Seconds on the monotonic clock. */
static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* An integer from the environment, or def when unset or not positive. */
static inline int bench_env_int(const char *name, int def)
{
    const char *s = getenv(name);
    int v = s ? atoi(s) : 0;
    return v > 0 ? v : def;
}

static inline int bench_cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* Median of n values (sorts them in place). */
static inline double bench_median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Median seconds per call of fn(arg). One untimed call warms up; then the number of calls per
 * sample is doubled until a sample lasts BENCH_MIN_MS milliseconds (default 20), and
 * BENCH_REPEATS samples (default 11) are timed. */
static inline double bench_median(void (*fn)(void *), void *arg)
{
    enum { MAX_REPEATS = 101 };
    int repeats = bench_env_int("BENCH_REPEATS", 11);
    double min_s = 1e-3 * bench_env_int("BENCH_MIN_MS", 20);
    if (repeats > MAX_REPEATS)
        repeats = MAX_REPEATS;
    fn(arg);
    long inner = 1;
    for (;;) {
        double t0 = bench_now();
        for (long i = 0; i < inner; i++)
            fn(arg);
        if (bench_now() - t0 >= min_s || inner >= (1L << 30))
            break;
        inner *= 2;
    }
    double s[MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        double t0 = bench_now();
        for (long i = 0; i < inner; i++)
            fn(arg);
        s[r] = (bench_now() - t0) / (double)inner;
    }
    return bench_median_of(s, repeats);
}

/* bench_median, or with BENCH_CLOCK=cpu the median on the process's CPU clock: samples of at
 * least BENCH_MIN_MS ms of calls, BENCH_REPEATS of them, after one warm-up call. Meaningful for
 * 1 thread only: it leaves out the time other processes hold the core, so it shows the code's
 * own cost on a busy machine (bench_cnn, bench_rnn). */
static inline double bench_median_clock(void (*fn)(void *), void *arg)
{
    const char *clk = getenv("BENCH_CLOCK");
    if (!clk || strcmp(clk, "cpu") != 0)
        return bench_median(fn, arg);
    enum { MAX_REPEATS = 101 };
    int repeats = bench_env_int("BENCH_REPEATS", 11);
    repeats = repeats > MAX_REPEATS ? MAX_REPEATS : repeats;
    double s[MAX_REPEATS];
    struct timespec t;
    fn(arg);
    for (int r = 0; r < repeats; r++) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        double t0 = (double)t.tv_sec + 1e-9 * (double)t.tv_nsec, t1;
        int k = 0;
        do {
            fn(arg);
            k++;
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
            t1 = (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
        } while (t1 - t0 < 1e-3 * bench_env_int("BENCH_MIN_MS", 20));
        s[r] = (t1 - t0) / k;
    }
    return bench_median_of(s, repeats);
}

/* One result line: `bench <name> <metric> <value>`. */
static inline void bench_print(const char *name, const char *metric, double value)
{
    printf("bench %s %s %.4g\n", name, metric, value);
    fflush(stdout);
}

/* Thread counts to run from the environment variable `name` ("1", "2" or "1,2"; unset: def,
 * a comma-separated list too). Writes up to 4 counts to out and returns how many. */
static inline int bench_threads(const char *name, const char *def, int out[4])
{
    const char *s = getenv(name);
    if (!s || !*s)
        s = def;
    int n = 0;
    while (*s && n < 4) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (v > 0)
            out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* The process's peak resident memory so far as a result line, `bench <name>_maxrss mb <MB>`
 * (getrusage's ru_maxrss, kilobytes on Linux; MB = 10^6 bytes). */
static inline void bench_print_maxrss(const char *name)
{
    struct rusage u;
    char full[128];
    if (getrusage(RUSAGE_SELF, &u) != 0)
        return;
    snprintf(full, sizeof full, "%s_maxrss", name);
    printf("bench %s mb %.4g\n", full, (double)u.ru_maxrss * 1024.0 * 1e-6);
    fflush(stdout);
}

/* Uniform [0, 1) from a fixed xorshift sequence (each program its own). */
static uint64_t bench_rng_state = 88172645463325252ull;

static inline float bench_frand(void)
{
    bench_rng_state ^= bench_rng_state << 13;
    bench_rng_state ^= bench_rng_state >> 7;
    bench_rng_state ^= bench_rng_state << 17;
    return (float)(bench_rng_state >> 40) / (float)(1 << 24);
}

/* n floats uniform in [lo, hi) (malloc'd; exits when out of memory) */
static inline float *bench_filled(int64_t n, float lo, float hi)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * bench_frand();
    return x;
}

/* One train_on_batch step of m on the fixed batch x, y: what bench_cnn and bench_rnn time. */
typedef struct bench_step {
    ckeras_model *m;
    ckeras_tensor *x, *y;
} bench_step;

static inline void bench_train_step(void *p)
{
    bench_step *s = p;
    if (ckeras_model_train_on_batch(s->m, s->x, s->y, NULL, 0) != CKERAS_OK) {
        fprintf(stderr, "bench: train_on_batch: %s\n", ckeras_last_error());
        exit(1);
    }
}

/* After five warm-up steps (buffers, optimizer state, threads), the median step
 * (bench_median_clock) as `bench <name>_b<batch>_t<threads> samples_per_s <batch / step>`. */
static inline void bench_train_rate(bench_step *s, const char *name, int64_t batch, int threads)
{
    for (int i = 0; i < 5; i++)
        bench_train_step(s);
    double sec = bench_median_clock(bench_train_step, s);
    char full[96];
    snprintf(full, sizeof full, "%s_b%lld_t%d", name, (long long)batch, threads);
    bench_print(full, "samples_per_s", (double)batch / sec);
}

#endif
