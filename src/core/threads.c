/* The library-wide thread count (the one global setting besides the seed stream). */
#include "core.h"

#include <stdatomic.h>
#include <unistd.h>

static _Atomic int n_threads = 0;

int ck_num_threads(void)
{
    int n = atomic_load(&n_threads);
    if (n > 0)
        return n;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

CKERAS_API ckeras_status ckeras_set_num_threads(int n)
{
    atomic_store(&n_threads, n > 0 ? n : 0);
    return CKERAS_OK;
}

CKERAS_API int ckeras_get_num_threads(void)
{
    return ck_num_threads();
}
