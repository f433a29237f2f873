/**
 * @file ckeras_mpi.h
 * ckeras' data-parallel training on a given MPI communicator. Include it after <mpi.h> in a
 * program built against a ckeras made with `make MPI=1`; ckeras.h alone has the
 * communicator-free calls (ckeras_distributed_init() on MPI_COMM_WORLD, rank, size).
 */
#ifndef CKERAS_MPI_H
#define CKERAS_MPI_H

#include <ckeras.h>
#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * ckeras_distributed_init() on @p comm (MPI_COMM_NULL means MPI_COMM_WORLD): ckeras works on its
 * own duplicate of it, with errors returned (MPI_ERRORS_RETURN), never aborting. MPI is
 * initialised (MPI_THREAD_FUNNELED) when the program has not done it; then
 * ckeras_distributed_shutdown() finalises it. Errors: ::CKERAS_ESTATE (already initialised),
 * ::CKERAS_EIO (MPI failed), ::CKERAS_EUNSUPPORTED (a ckeras built without MPI).
 * @return ::CKERAS_OK, ::CKERAS_EUNSUPPORTED (ckeras built without MPI), ::CKERAS_ESTATE (already
 *   started), ::CKERAS_EIO (MPI failed)
 */
CKERAS_API ckeras_status ckeras_distributed_init_comm(MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* CKERAS_MPI_H */
