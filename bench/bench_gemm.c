/* GFLOP/s of ck_gemm (median over repeats) for the shapes that dominate dense layers and
 * im2col convolutions (see BASELINES.md), at 1 and 2 threads. */
#include "bench.h"
#include "kernels/kernels.h"

#include <string.h>

typedef struct shape {
    const char *what;
    bool ta, tb;
    int64_t m, n, k;
} shape;

static const shape shapes[] = {
    {"dense784_512_fwd", false, false, 128, 512, 784},
    {"dense784_512_dx", false, true, 128, 784, 512},
    {"dense784_512_dw", true, false, 784, 512, 128},
    {"dense512_10_fwd", false, false, 128, 10, 512},
    {"lenet_conv1", false, false, 50176, 6, 25},
    {"lenet_conv2", false, false, 6400, 16, 150},
    {"conv3x3_64", false, false, 32768, 64, 576},
    {"square1024", false, false, 1024, 1024, 1024},
};

typedef struct call {
    const shape *s;
    const float *a, *b;
    float *c;
} call;

static void run_gemm(void *p)
{
    const call *g = p;
    const shape *s = g->s;
    /* operands stored tightly: A is m x k (k x m when ta), B k x n (n x k when tb) */
    ck_gemm(s->ta, s->tb, s->m, s->n, s->k, 1.0f, g->a, s->ta ? s->m : s->k, g->b, s->tb ? s->k : s->n, 0.0f,
            g->c, s->n);
}

static float *filled(int64_t n, float scale)
{
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * (float)((i * 7919) % 1000 - 500);
    return x;
}

int main(void)
{
    printf("# %s\n", ckeras_build_info());
    const int threads[] = {1, 2};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        call g = {s, filled(s->m * s->k, 1e-3f), filled(s->k * s->n, 1e-3f), filled(s->m * s->n, 0.0f)};
        for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
            ckeras_set_num_threads(threads[t]);
            double sec = bench_median(run_gemm, &g);
            char name[128];
            snprintf(name, sizeof name, "gemm_%s_%lldx%lldx%lld%s%s_t%d", s->what, (long long)s->m, (long long)s->n,
                     (long long)s->k, s->ta ? "_ta" : "", s->tb ? "_tb" : "", threads[t]);
            bench_print(name, "gflops", 2.0 * (double)s->m * (double)s->n * (double)s->k / sec * 1e-9);
        }
        free((void *)g.a);
        free((void *)g.b);
        free(g.c);
    }
    ckeras_set_num_threads(0);
    return 0;
}
