/* Data-parallel training over MPI: the communicator and the collectives fit uses (the only code
 * that includes mpi.h besides the entry point taking an MPI_Comm, src/api/distributed_api.c).
 * Without CK_MPI (the default build) there is one process. */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CK_MPI
#include <mpi.h>

static struct {
    bool active, own_mpi, broken;
    MPI_Comm comm;
    int rank, size;
    double timeout; /* seconds a collective may take before fit fails */
    char broken_msg[1024];
} g = {.timeout = 300};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static ckeras_status mpi_error(int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    g.broken = true;
    snprintf(g.broken_msg, sizeof g.broken_msg, "distributed: rank %d of %d: %s failed: %s", g.rank, g.size, what,
             text);
    return ck_error(CKERAS_EIO, "%s", g.broken_msg);
}

/* Waits for a nonblocking collective, failing after the timeout (a rank that died or stopped
 * calling would otherwise leave the others waiting forever). */
static ckeras_status wait_for(MPI_Request *req, const char *what)
{
    const double start = now();
    int done = 0;
    for (long spins = 0;; spins++) {
        int rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS)
            return mpi_error(rc, what);
        if (done)
            return CKERAS_OK;
        if (spins > 2000) { /* past the first few milliseconds, poll without burning a core */
            if (now() - start > g.timeout) {
                g.broken = true;
                snprintf(g.broken_msg, sizeof g.broken_msg,
                         "distributed: rank %d of %d: %s did not complete within %g s: another rank has died or "
                         "stopped calling fit (the timeout is ckeras_distributed_set_timeout())",
                         g.rank, g.size, what, g.timeout);
                return ck_error(CKERAS_EIO, "%s", g.broken_msg);
            }
            nanosleep(&(struct timespec){0, 100000}, NULL);
        }
    }
}

static ckeras_status usable(void)
{
    if (g.broken) /* a timed-out collective cannot be cancelled: later ones would mismatch */
        return ck_error(CKERAS_EIO, "%s", g.broken_msg);
    return CKERAS_OK;
}

/* MPI counts are int: long buffers go in pieces */
#define CHUNK ((size_t)1 << 28)

/* A broadcast from rank 0 (bcast) or an in-place sum of n items of type (size bytes each), in
 * pieces, each waited for with the time limit. */
static ckeras_status collective(void *buf, size_t n, MPI_Datatype type, size_t size, bool bcast, const char *what)
{
    if (!g.active || g.size == 1)
        return CKERAS_OK;
    ckeras_status st = usable();
    for (size_t off = 0; st == CKERAS_OK && off < n; off += CHUNK) {
        MPI_Request req;
        const int k = (int)(n - off < CHUNK ? n - off : CHUNK);
        char *p = (char *)buf + off * size;
        int rc = bcast ? MPI_Ibcast(p, k, type, 0, g.comm, &req)
                       : MPI_Iallreduce(MPI_IN_PLACE, p, k, type, MPI_SUM, g.comm, &req);
        st = rc == MPI_SUCCESS ? wait_for(&req, what) : mpi_error(rc, what);
    }
    return st;
}

ckeras_status ck_dist_bcast(void *buf, size_t bytes, const char *what)
{
    return collective(buf, bytes, MPI_BYTE, 1, true, what);
}

ckeras_status ck_dist_sum_floats(float *buf, size_t n, const char *what)
{
    return collective(buf, n, MPI_FLOAT, sizeof(float), false, what);
}

ckeras_status ck_dist_sum_doubles(double *buf, size_t n, const char *what)
{
    return collective(buf, n, MPI_DOUBLE, sizeof(double), false, what);
}

bool ck_dist_active(void)
{
    return g.active;
}

int ck_dist_rank(void)
{
    return g.active ? g.rank : 0;
}

int ck_dist_size(void)
{
    return g.active ? g.size : 1;
}

ckeras_status ck_dist_init(const void *comm_arg)
{
    if (g.active)
        return ck_error(CKERAS_ESTATE, "distributed_init: already initialised (rank %d of %d)", g.rank, g.size);
    int inited = 0, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
            return ck_error(CKERAS_EIO, "distributed_init: MPI_Init_thread failed (%d)", rc);
        g.own_mpi = true;
    }
    MPI_Comm comm = comm_arg ? *(const MPI_Comm *)comm_arg : MPI_COMM_WORLD;
    if (comm == MPI_COMM_NULL)
        comm = MPI_COMM_WORLD;
    if ((rc = MPI_Comm_dup(comm, &g.comm)) != MPI_SUCCESS)
        return ck_error(CKERAS_EIO, "distributed_init: MPI_Comm_dup failed (%d)", rc);
    MPI_Comm_set_errhandler(g.comm, MPI_ERRORS_RETURN); /* errors come back as statuses */
    MPI_Comm_rank(g.comm, &g.rank);
    MPI_Comm_size(g.comm, &g.size);
    const char *t = getenv("CKERAS_DIST_TIMEOUT");
    if (t && *t && atof(t) > 0)
        g.timeout = atof(t);
    g.broken = false;
    g.active = true;
    return CKERAS_OK;
}

ckeras_status ck_dist_shutdown(void)
{
    if (!g.active)
        return CKERAS_OK;
    g.active = false;
    if (g.broken) /* a pending collective: freeing or finalising could hang */
        return ck_error(CKERAS_EIO, "%s", g.broken_msg);
    MPI_Comm_free(&g.comm);
    if (g.own_mpi) {
        g.own_mpi = false;
        MPI_Finalize();
    }
    return CKERAS_OK;
}

void ck_dist_set_timeout(double seconds)
{
    g.timeout = seconds;
}

#else /* one process */

bool ck_dist_active(void)
{
    return false;
}

int ck_dist_rank(void)
{
    return 0;
}

int ck_dist_size(void)
{
    return 1;
}

ckeras_status ck_dist_bcast(void *buf, size_t bytes, const char *what)
{
    return CKERAS_OK;
}

ckeras_status ck_dist_sum_floats(float *buf, size_t n, const char *what)
{
    return CKERAS_OK;
}

ckeras_status ck_dist_sum_doubles(double *buf, size_t n, const char *what)
{
    return CKERAS_OK;
}

ckeras_status ck_dist_init(const void *comm)
{
    return ck_error(CKERAS_EUNSUPPORTED, "distributed_init: this ckeras was built without MPI (build it with "
                                         "make MPI=1, with Debian's libmpich-dev)");
}

ckeras_status ck_dist_shutdown(void)
{
    return CKERAS_OK;
}

void ck_dist_set_timeout(double seconds)
{
}

#endif

void ck_dist_shard(int64_t n, int64_t *off, int64_t *len)
{
    const int64_t size = ck_dist_size(), r = ck_dist_rank(), q = n / size, rem = n % size;
    *len = q + (r < rem);
    *off = r * q + (r < rem ? r : rem);
}
