/* Peak resident memory of fit from a data source as the data set grows (issue 11, item 4).
 *
 * An MLP (1024 -> 64 relu -> 10 softmax, Adam, batch 256, one epoch, validation_split 0.1)
 * trains on a synthetic source whose samples are made on the fly from their index (1024 floats
 * = 4 KiB per sample plus a label), so the data set never exists in memory. For each size
 * (default 0.1, 1 and 8 GB of samples) the program forks a child that trains once and reports
 * its peak RSS (getrusage ru_maxrss) and the time taken (one thread). The only memory that grows with the
 * sample count is fit's permutation of sample indices (8 bytes a sample: 16 MiB for 8 GB of
 * 4 KiB samples); the data itself adds nothing.
 *
 * With --hdf5 DIR the same samples are first written to DIR/source_rss.h5 (data sets "x",
 * (n, 1024) float32, and "y", (n,) int32; by a separate process) and the child trains from
 * ckeras_data_source_hdf5 instead; the file is removed afterwards.
 *
 * Not part of make check or make bench (the 8 GB epoch takes minutes):
 *   make -C bench source-rss                 (sizes 0.1 1 8)
 *   make -C bench source-rss SIZES="0.1 1"   (GB, any list)
 *   bench/out/source_rss --hdf5 /tmp 0.1 1   (from an HDF5 file)
 */
#include <ckeras.h>

#include <hdf5.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FEATURES 1024
#define CLASSES 10

/* deterministic from the index: a class, and features that depend on it (learnable) */
static uint32_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (uint32_t)x;
}

static ckeras_status fill(void *user, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    (void)user;
    for (int64_t i = 0; i < n; i++) {
        uint32_t cls = mix((uint64_t)idx[i]) % CLASSES;
        uint32_t s = mix((uint64_t)idx[i] * 2654435761u + 1);
        float *row = x[0] + i * FEATURES;
        for (int f = 0; f < FEATURES; f++) {
            s = s * 1664525u + 1013904223u;
            float noise = (float)(s >> 8) / 16777216.0f - 0.5f;
            row[f] = noise + (f % CLASSES == (int)cls ? 0.5f : 0.0f);
        }
        if (y && y[0])
            y[0][i] = (float)cls;
    }
    return CKERAS_OK;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The n samples of fill() as an HDF5 file, written 4096 rows at a time. */
static int write_h5(const char *path, int64_t n)
{
    enum { ROWS = 4096 };
    float *x = malloc((size_t)ROWS * FEATURES * sizeof *x), *y = malloc(ROWS * sizeof *y);
    int32_t *yi = malloc(ROWS * sizeof *yi);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dx[2] = {(hsize_t)n, FEATURES}, dy[1] = {(hsize_t)n};
    hid_t sx = H5Screate_simple(2, dx, NULL), sy = H5Screate_simple(1, dy, NULL);
    hid_t ddx = H5Dcreate2(f, "x", H5T_IEEE_F32LE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ddy = H5Dcreate2(f, "y", H5T_STD_I32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (!x || !y || !yi || f < 0 || ddx < 0 || ddy < 0)
        return 1;
    int64_t idx[ROWS];
    for (int64_t r = 0; r < n; r += ROWS) {
        int64_t m = n - r < ROWS ? n - r : ROWS;
        for (int64_t i = 0; i < m; i++)
            idx[i] = r + i;
        float *xs[1] = {x}, *ys[1] = {y};
        fill(NULL, idx, m, xs, ys);
        for (int64_t i = 0; i < m; i++)
            yi[i] = (int32_t)y[i];
        hsize_t st[2] = {(hsize_t)r, 0}, cx[2] = {(hsize_t)m, FEATURES}, cy[1] = {(hsize_t)m};
        hid_t mx = H5Screate_simple(2, cx, NULL), my = H5Screate_simple(1, cy, NULL);
        H5Sselect_hyperslab(sx, H5S_SELECT_SET, st, NULL, cx, NULL);
        H5Sselect_hyperslab(sy, H5S_SELECT_SET, st, NULL, cy, NULL);
        if (H5Dwrite(ddx, H5T_NATIVE_FLOAT, mx, sx, H5P_DEFAULT, x) < 0 ||
            H5Dwrite(ddy, H5T_NATIVE_INT32, my, sy, H5P_DEFAULT, yi) < 0)
            return 1;
        H5Sclose(mx);
        H5Sclose(my);
    }
    H5Dclose(ddx);
    H5Dclose(ddy);
    H5Sclose(sx);
    H5Sclose(sy);
    H5Fclose(f);
    free(x);
    free(y);
    free(yi);
    return 0;
}

static int train(int64_t n, const char *h5)
{
    ckeras_data_source *src = NULL;
    if (h5) {
        if (ckeras_data_source_hdf5(h5, 1, (const char *const[]){"x"}, 1, (const char *const[]){"y"}, &src) !=
            CKERAS_OK) {
            fprintf(stderr, "source_rss: %s\n", ckeras_last_error());
            return 1;
        }
    } else if (ckeras_data_source_new(n, fill, NULL, NULL, &src) != CKERAS_OK ||
               ckeras_data_source_add_input(src, 1, (const int64_t[]){FEATURES}) != CKERAS_OK ||
               ckeras_data_source_add_target(src, 0, NULL) != CKERAS_OK) {
        fprintf(stderr, "source_rss: %s\n", ckeras_last_error());
        return 1;
    }
    ckeras_set_random_seed(1);
    ckeras_set_num_threads(1); /* one core: the machine is shared; memory does not depend on it */
    ckeras_model *m = ckeras_sequential("mlp");
    ckeras_model_add(m, ckeras_input(1, (const int64_t[]){FEATURES}));
    ckeras_model_add(m, ckeras_dense(64, "relu"));
    ckeras_model_add(m, ckeras_dense(CLASSES, "softmax"));
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ckeras_fit_args_set_int(fa, "epochs", 1);
    ckeras_fit_args_set_int(fa, "batch_size", 256);
    ckeras_fit_args_set_int(fa, "verbose", 0);
    ckeras_fit_args_set_float(fa, "validation_split", 0.1);
    ckeras_history *h = NULL;
    double t0 = now();
    if (ckeras_model_compile(m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy") != CKERAS_OK ||
        ckeras_model_fit_source(m, src, fa, &h) != CKERAS_OK) {
        fprintf(stderr, "source_rss: %s\n", ckeras_last_error());
        return 1;
    }
    double secs = now() - t0;
    const double *acc;
    int ne;
    ckeras_history_values(h, "val_accuracy", &acc, &ne);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%8.1f GB  %-5s %10lld samples  peak RSS %7.1f MiB  %7.1f s  val_accuracy %.3f\n",
           (double)n * (FEATURES + 1) * 4 / 1e9, h5 ? "HDF5" : "made", (long long)n, (double)ru.ru_maxrss / 1024.0, secs, acc[ne - 1]);
    fflush(stdout);
    ckeras_history_free(h);
    ckeras_fit_args_free(fa);
    ckeras_model_free(m);
    ckeras_data_source_free(src);
    return 0;
}

static int run_child(int (*fn)(int64_t, const char *), int64_t n, const char *h5)
{
    fflush(stdout);
    pid_t pid = fork(); /* a fresh process: its own peak RSS */
    if (pid == 0)
        _exit(fn(n, h5));
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int write_child(int64_t n, const char *h5)
{
    return write_h5(h5, n);
}

int main(int argc, char **argv)
{
    const char *def[] = {"0.1", "1", "8"};
    char h5[4096] = "";
    if (argc > 2 && strcmp(argv[1], "--hdf5") == 0) {
        snprintf(h5, sizeof h5, "%s/source_rss.h5", argv[2]);
        argc -= 2;
        argv += 2;
    }
    int n = argc > 1 ? argc - 1 : 3;
    printf("fit from a source of %d-float samples (%d bytes with the label), MLP %d-64-%d, one epoch\n", FEATURES,
           (FEATURES + 1) * 4, FEATURES, CLASSES);
    for (int i = 0; i < n; i++) {
        double gb = atof(argc > 1 ? argv[i + 1] : def[i]);
        int64_t samples = (int64_t)(gb * 1e9 / ((FEATURES + 1) * 4.0));
        if (samples < 2)
            continue;
        if (*h5 && run_child(write_child, samples, h5) != 0) {
            fprintf(stderr, "source_rss: cannot write %s\n", h5);
            return 1;
        }
        int rc = run_child(train, samples, *h5 ? h5 : NULL);
        if (*h5)
            remove(h5);
        if (rc != 0)
            return 1;
    }
    return 0;
}
