/* src/dist: data-parallel training over MPI (built with `make MPI=1`; otherwise one process and
 * every call below is a no-op). fit uses it when ckeras_distributed_init() has run: rank 0's
 * weights, state and optimizer are broadcast at train begin, each global batch is split among
 * the ranks, the gradients are summed with one all-reduce per step, and the loss and metric
 * accumulators are summed so every rank logs the same numbers. */
#ifndef CK_DIST_H
#define CK_DIST_H

#include "core/core.h"

/* ckeras_distributed_init*(): comm points to an MPI_Comm (MPI_COMM_NULL or NULL: MPI_COMM_WORLD);
 * MPI is initialised when the program has not. CKERAS_EUNSUPPORTED without MPI. */
ckeras_status ck_dist_init(const void *comm);
/* Ends it (finalising MPI if ck_dist_init initialised it); CKERAS_EIO after a failed collective. */
ckeras_status ck_dist_shutdown(void);
/* The time limit of each collective, in seconds (> 0, checked by the caller). */
void ck_dist_set_timeout(double seconds);
/* true between ckeras_distributed_init() and ckeras_distributed_shutdown(), with 2+ ranks or 1 */
bool ck_dist_active(void);
int ck_dist_rank(void); /* 0 when not distributed */
int ck_dist_size(void); /* 1 when not distributed */
/* This rank's part [*off, *off + *len) of n items: n / size each, the first n % size ranks one
 * more (rank 0 takes the first items). */
void ck_dist_shard(int64_t n, int64_t *off, int64_t *len);
/* From rank 0 to every rank. what names the data in the error message. */
ckeras_status ck_dist_bcast(void *buf, size_t bytes, const char *what);
/* Sums over the ranks, in place (the same result on every rank). */
ckeras_status ck_dist_sum_floats(float *buf, size_t n, const char *what);
ckeras_status ck_dist_sum_doubles(double *buf, size_t n, const char *what);

#endif
