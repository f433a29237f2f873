/* The cost of one gradient all-reduce, the communication a distributed fit adds per step:
 * MPI_Allreduce (sum, floats) of 0.25 to 16 MB on the ranks mpiexec starts, median of 30 calls
 * after 5 warm-up calls. Run: make bench-mpi (2 ranks on this machine, loopback). */
#include <mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    static const double mbs[] = {0.25, 0.9, 4, 16};
    if (rank == 0)
        printf("MPI_Allreduce (MPI_SUM of floats) on %d ranks, median of 30\n%10s %12s %12s\n", size, "MB",
               "ms", "ms per MB");
    for (size_t k = 0; k < sizeof mbs / sizeof mbs[0]; k++) {
        int n = (int)(mbs[k] * 1e6 / 4);
        float *buf = malloc((size_t)n * sizeof *buf);
        for (int i = 0; i < n; i++)
            buf[i] = (float)(i % 7);
        double t[30];
        for (int it = -5; it < 30; it++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (it >= 0)
                t[it] = MPI_Wtime() - t0;
        }
        qsort(t, 30, sizeof t[0], cmp);
        if (rank == 0)
            printf("%10.2f %12.3f %12.3f\n", mbs[k], 1e3 * t[15], 1e3 * t[15] / mbs[k]);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
