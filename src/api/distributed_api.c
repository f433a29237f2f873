/* Public entry points of distributed training (src/dist). */
#include "dist/dist.h"

#include <ckeras.h>

#ifdef CK_MPI
#include "ckeras_mpi.h"

CKERAS_API ckeras_status ckeras_distributed_init_comm(MPI_Comm comm)
{
    return ck_dist_init(&comm);
}
#else
/* ckeras_distributed_init_comm(MPI_Comm) of include/ckeras_mpi.h is part of every build's ABI:
 * here, without MPI's types, it refuses as ckeras_distributed_init() does */
CKERAS_API ckeras_status ckeras_distributed_init_comm(void *comm);
CKERAS_API ckeras_status ckeras_distributed_init_comm(void *comm)
{
    return ck_dist_init(NULL);
}
#endif

CKERAS_API ckeras_status ckeras_distributed_init(void)
{
    return ck_dist_init(NULL);
}

CKERAS_API int ckeras_distributed_rank(void)
{
    return ck_dist_rank();
}

CKERAS_API int ckeras_distributed_size(void)
{
    return ck_dist_size();
}

CKERAS_API ckeras_status ckeras_distributed_set_timeout(double seconds)
{
    if (!(seconds > 0) || seconds > 1e9)
        return ck_error(CKERAS_EINVAL, "distributed_set_timeout: seconds must be > 0, got %g", seconds);
    ck_dist_set_timeout(seconds);
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_distributed_shutdown(void)
{
    return ck_dist_shutdown();
}
