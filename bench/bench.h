/* Helpers shared by the bench_*.c programs: a monotonic clock, the median time of a call over
 * repeated samples, and the one output format, `bench <name> <metric> <value>`. Header-only. */
#ifndef CK_BENCH_H
#define CK_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* One result line: `bench <name> <metric> <value>`. */
static inline void bench_print(const char *name, const char *metric, double value)
{
    printf("bench %s %s %.4g\n", name, metric, value);
    fflush(stdout);
}

#endif
