/* Training throughput of two MLPs through the public API (ckeras_model_fit, verbose 0, shuffled),
 * at 1 and 2 threads, beside the same sequence of GEMMs alone (what the Dense layers' products
 * cost by themselves), the one-sample predict latency of the seed MLP, and a batch x width
 * sweep of MLP 784-W-W-10 at 1 thread.
 *
 *   seed: 30-100-50-50-1, relu and sigmoid, Adam, binary_crossentropy, accuracy, batch 32
 *   mnist: 784-512-512-10, relu and softmax, Adam, sparse_categorical_crossentropy, accuracy,
 *          batch 128
 *   sweep: 784-W-W-10 as mnist, batch 32/128/512 at W = 512 and batch 128 at W = 256/1024/2048,
 *          an epoch of 8 batches per timed call
 *
 * Lines: bench mlp_<model>_fit_t<threads> samples_per_s, bench mlp_<model>_gemm_only_t<threads>
 * samples_per_s, bench mlp_<model>_fit_over_gemm_t<threads> ratio (library samples/s divided by
 * GEMM-only samples/s: 1 would mean the library adds nothing), bench mlp_seed_predict1_t<threads>
 * us, bench mlp_sweep_b<batch>_w<W>_fit_t1 samples_per_s and gflops (2 flops per multiply-add of
 * the forward products, the kernel gradients and every input gradient but the first layer's),
 * and last bench <part>_maxrss mb, the process's peak resident memory.
 *
 * BENCH_MLP_ONLY=seed|mnist|sweep runs one part; BENCH_MLP_THREADS=1|2|1,2 the thread counts
 * (seed and mnist; the sweep is 1 thread). */
#include "bench.h"
#include "kernels/kernels.h"

#include <ckeras.h>
#include <string.h>

#define MAX_LAYERS 8

typedef struct mlp_spec {
    const char *name;
    int nlayers;                /* Dense layers */
    int64_t sizes[MAX_LAYERS + 1]; /* input width, then each layer's units */
    const char *hidden_act, *out_act, *loss;
    int64_t batch, samples;
} mlp_spec;

static const mlp_spec specs[] = {
    {"seed", 4, {30, 100, 50, 50, 1}, "relu", "sigmoid", "binary_crossentropy", 32, 10240},
    {"mnist", 3, {784, 512, 512, 10}, "relu", "softmax", "sparse_categorical_crossentropy", 128, 4096},
};

/* The batch x width sweep (issue #13): 784-W-W-10, one epoch = 8 batches */
#define SWEEP(b, w) {"sweep_b" #b "_w" #w, 3, {784, w, w, 10}, "relu", "softmax", "sparse_categorical_crossentropy", b, 8 * b}
static const mlp_spec sweep[] = {SWEEP(32, 512),   SWEEP(128, 512),  SWEEP(512, 512),
                                 SWEEP(128, 256),  SWEEP(128, 1024), SWEEP(128, 2048)};
#undef SWEEP

/* Flops of one training sample's products: 2 per multiply-add of each layer's forward x W and
 * kernel gradient x^T dz, and of each input gradient dz W^T but the first layer's (nobody needs
 * the gradient of the data, and neither ckeras nor PyTorch computes it). */
static double train_flops(const mlp_spec *s)
{
    double f = 0;
    for (int l = 0; l < s->nlayers; l++)
        f += (l > 0 ? 3.0 : 2.0) * 2.0 * (double)s->sizes[l] * (double)s->sizes[l + 1];
    return f;
}

/* ---- data ------------------------------------------------------------------------------ */

static uint64_t rng_state = 88172645463325252ull;

static float uniform(void) /* [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

static float *alloc_floats(int64_t n)
{
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) {
        fprintf(stderr, "bench_mlp: out of memory\n");
        exit(1);
    }
    return p;
}

/* x (samples, in) uniform; y: binary (samples, 1) = sum of the first features > 0, or a class
 * index (samples, 1) = which of `classes` bands the sum falls in */
static void make_data(const mlp_spec *s, ckeras_tensor **x, ckeras_tensor **y)
{
    int64_t in = s->sizes[0], classes = s->sizes[s->nlayers];
    int64_t xs[2] = {s->samples, in}, ys[2] = {s->samples, 1};
    *x = ckeras_tensor_new(2, xs);
    *y = ckeras_tensor_new(2, ys);
    if (!*x || !*y) {
        fprintf(stderr, "bench_mlp: %s\n", ckeras_last_error());
        exit(1);
    }
    float *xd = ckeras_tensor_data(*x), *yd = ckeras_tensor_data(*y);
    for (int64_t i = 0; i < s->samples; i++) {
        float sum = 0.0f;
        for (int64_t j = 0; j < in; j++) {
            xd[i * in + j] = uniform();
            if (j < 8)
                sum += xd[i * in + j];
        }
        if (classes == 1) {
            yd[i] = sum > 0.0f ? 1.0f : 0.0f;
        } else {
            int64_t c = (int64_t)((sum + 8.0f) / 16.0f * (float)classes);
            yd[i] = (float)(c < 0 ? 0 : c >= classes ? classes - 1 : c);
        }
    }
}

static ckeras_model *make_model(const mlp_spec *s)
{
    ckeras_model *m = ckeras_sequential(NULL);
    CHECK(ckeras_model_add(m, ckeras_input(1, &s->sizes[0])));
    for (int l = 0; l < s->nlayers; l++)
        CHECK(ckeras_model_add(m, ckeras_dense(s->sizes[l + 1], l + 1 < s->nlayers ? s->hidden_act : s->out_act)));
    CHECK(ckeras_model_compile(m, ckeras_adam(1e-3), s->loss, "accuracy"));
    return m;
}

/* ---- fit ------------------------------------------------------------------------------- */

typedef struct fit_run {
    ckeras_model *m;
    ckeras_tensor *x, *y;
    ckeras_fit_args *args;
} fit_run;

static void run_fit(void *p)
{
    fit_run *r = p;
    CHECK(ckeras_model_fit(r->m, r->x, r->y, r->args, NULL));
}

/* ---- the same GEMMs alone ----------------------------------------------------------------- */

typedef struct gemm_run {
    const mlp_spec *s;
    float *act[MAX_LAYERS + 1]; /* act[l] (batch, sizes[l]); act[0] the input */
    float *grad[MAX_LAYERS + 1];
    float *w[MAX_LAYERS], *dw[MAX_LAYERS]; /* (sizes[l], sizes[l+1]) */
} gemm_run;

/* One training step's products, in the order the library runs them: each layer's forward
 * y = x W; then from the last layer down dW = x^T dy and (except for the first layer, whose
 * input gradient nobody needs) dx = dy W^T. */
static void run_gemms(void *p)
{
    gemm_run *g = p;
    const mlp_spec *s = g->s;
    int64_t B = s->batch;
    for (int l = 0; l < s->nlayers; l++) {
        int64_t in = s->sizes[l], out = s->sizes[l + 1];
        ck_gemm(false, false, B, out, in, 1.0f, g->act[l], in, g->w[l], out, 0.0f, g->act[l + 1], out);
    }
    for (int l = s->nlayers - 1; l >= 0; l--) {
        int64_t in = s->sizes[l], out = s->sizes[l + 1];
        ck_gemm(true, false, in, out, B, 1.0f, g->act[l], in, g->grad[l + 1], out, 0.0f, g->dw[l], out);
        if (l > 0)
            ck_gemm(false, true, B, in, out, 1.0f, g->grad[l + 1], out, g->w[l], out, 0.0f, g->grad[l], in);
    }
}

static void gemm_run_init(gemm_run *g, const mlp_spec *s)
{
    memset(g, 0, sizeof *g);
    g->s = s;
    for (int l = 0; l <= s->nlayers; l++) {
        int64_t n = s->batch * s->sizes[l];
        g->act[l] = alloc_floats(n);
        g->grad[l] = alloc_floats(n);
        for (int64_t i = 0; i < n; i++) {
            g->act[l][i] = 0.5f * uniform();
            g->grad[l][i] = 1e-3f * uniform();
        }
    }
    for (int l = 0; l < s->nlayers; l++) {
        int64_t n = s->sizes[l] * s->sizes[l + 1];
        g->w[l] = alloc_floats(n);
        g->dw[l] = alloc_floats(n);
        for (int64_t i = 0; i < n; i++)
            g->w[l][i] = 0.05f * uniform();
    }
}

static void gemm_run_free(gemm_run *g)
{
    for (int l = 0; l <= g->s->nlayers; l++) {
        free(g->act[l]);
        free(g->grad[l]);
    }
    for (int l = 0; l < g->s->nlayers; l++) {
        free(g->w[l]);
        free(g->dw[l]);
    }
}

/* ---- predict --------------------------------------------------------------------------- */

typedef struct predict_run {
    ckeras_model *m;
    ckeras_tensor *x1;
} predict_run;

static void run_predict(void *p)
{
    predict_run *r = p;
    ckeras_tensor *out = NULL;
    CHECK(ckeras_model_predict(r->m, r->x1, 1, &out));
    ckeras_tensor_free(out);
}

static void fit_setup(const mlp_spec *s, fit_run *r)
{
    ckeras_set_random_seed(1234);
    make_data(s, &r->x, &r->y);
    r->m = make_model(s);
    r->args = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_int(r->args, "epochs", 1));
    CHECK(ckeras_fit_args_set_int(r->args, "batch_size", s->batch));
    CHECK(ckeras_fit_args_set_int(r->args, "verbose", 0));
    CHECK(ckeras_fit_args_set_int(r->args, "shuffle", 1));
}

static void fit_teardown(fit_run *r)
{
    ckeras_fit_args_free(r->args);
    ckeras_model_free(r->m);
    ckeras_tensor_free(r->x);
    ckeras_tensor_free(r->y);
}

/* seed or mnist: fit and the GEMMs alone at each thread count; the seed MLP's one-sample predict */
static void bench_spec(const mlp_spec *s, const int *threads, int nthreads)
{
    fit_run r;
    fit_setup(s, &r);
    gemm_run g;
    gemm_run_init(&g, s);
    printf("# mlp_%s: %lld samples per epoch, batch %lld\n", s->name, (long long)s->samples, (long long)s->batch);
    for (int t = 0; t < nthreads; t++) {
        char name[96];
        ckeras_set_num_threads(threads[t]);
        double fit_s = bench_median(run_fit, &r);
        double fit_rate = (double)s->samples / fit_s;
        snprintf(name, sizeof name, "mlp_%s_fit_t%d", s->name, threads[t]);
        bench_print(name, "samples_per_s", fit_rate);
        double gemm_s = bench_median(run_gemms, &g);
        double gemm_rate = (double)s->batch / gemm_s;
        snprintf(name, sizeof name, "mlp_%s_gemm_only_t%d", s->name, threads[t]);
        bench_print(name, "samples_per_s", gemm_rate);
        snprintf(name, sizeof name, "mlp_%s_fit_over_gemm_t%d", s->name, threads[t]);
        bench_print(name, "ratio", fit_rate / gemm_rate);
    }
    if (strcmp(s->name, "seed") == 0) {
        float one[30];
        for (int j = 0; j < 30; j++)
            one[j] = uniform();
        int64_t shape[2] = {1, 30};
        predict_run pr = {r.m, ckeras_tensor_wrap(one, 2, shape)};
        for (int t = 0; t < nthreads; t++) {
            char name[96];
            ckeras_set_num_threads(threads[t]);
            snprintf(name, sizeof name, "mlp_seed_predict1_t%d", threads[t]);
            bench_print(name, "us", 1e6 * bench_median(run_predict, &pr));
        }
        ckeras_tensor_free(pr.x1);
    }
    gemm_run_free(&g);
    fit_teardown(&r);
}

/* the batch x width sweep, 1 thread: samples/s and GFLOP/s of the products */
static void bench_sweep(void)
{
    ckeras_set_num_threads(1);
    for (size_t k = 0; k < sizeof sweep / sizeof sweep[0]; k++) {
        const mlp_spec *s = &sweep[k];
        fit_run r;
        fit_setup(s, &r);
        double rate = (double)s->samples / bench_median(run_fit, &r);
        char name[96];
        snprintf(name, sizeof name, "mlp_%s_fit_t1", s->name);
        bench_print(name, "samples_per_s", rate);
        bench_print(name, "gflops", rate * train_flops(s) * 1e-9);
        fit_teardown(&r);
    }
}

int main(void)
{
    printf("# %s; small gemm=%s\n", ckeras_build_info(), ck_gemm_small_kernels());
    /* BENCH_MLP_ONLY=seed|mnist|sweep and BENCH_MLP_THREADS=1|2|1,2 pick a part (for profiling,
     * and for bench/report.py, which runs each part in its own process for its peak memory) */
    const char *only = getenv("BENCH_MLP_ONLY");
    int threads[4];
    int nthreads = bench_threads("BENCH_MLP_THREADS", "1,2", threads);
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        if (!only || strcmp(only, specs[k].name) == 0)
            bench_spec(&specs[k], threads, nthreads);
    if (!only || strcmp(only, "sweep") == 0)
        bench_sweep();
    char name[64];
    snprintf(name, sizeof name, "mlp_%s", only ? only : "all");
    bench_print_maxrss(name);
    ckeras_set_num_threads(0);
    return 0;
}
