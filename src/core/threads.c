/* The library-wide thread count (the one global setting besides the seed stream). */
#include "core.h"

#include <stdatomic.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <unistd.h>

static _Atomic int n_threads = 0;
static _Atomic int n_cores = 0; /* sysconf reads /sys on every call: ask once */
static _Thread_local bool serial_here = false;

bool ck_thread_serial(bool serial)
{
    bool was = serial_here;
    serial_here = serial;
    return was;
}

int ck_num_threads(void)
{
    if (serial_here)
        return 1;
    int n = atomic_load(&n_threads);
    if (n > 0)
        return n;
    int c = atomic_load(&n_cores);
    if (c <= 0) {
        long s = sysconf(_SC_NPROCESSORS_ONLN);
        c = s > 0 ? (int)s : 1;
        atomic_store(&n_cores, c);
    }
    return c;
}

void ck_parallel(int nt, ck_par_fn fn, void *ctx)
{
    if (nt <= 1) {
        fn(ctx, 0, 1);
        return;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        fn(ctx, t, T);
    }
}

CKERAS_API ckeras_status ckeras_set_num_threads(int n)
{
    atomic_store(&n_threads, n > 0 ? n : 0);
    return CKERAS_OK;
}

CKERAS_API int ckeras_num_threads(void)
{
    return ck_num_threads();
}
