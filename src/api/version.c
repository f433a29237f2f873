/* Version and build information. */
#include "kernels/kernels.h"

#include <stdio.h>

CKERAS_API const char *ckeras_version(void)
{
    return CKERAS_VERSION;
}

CKERAS_API int ckeras_version_number(void)
{
    return CKERAS_VERSION_NUMBER;
}

CKERAS_API const char *ckeras_build_info(void)
{
    static _Thread_local char buf[160];
    snprintf(buf, sizeof buf, "ckeras %s; gemm=%sblis:%s; threads=%d", CKERAS_VERSION,
             ck_gemm_driver() ? "own-avx512+" : "", ck_gemm_kernels(), ck_num_threads());
    return buf;
}
