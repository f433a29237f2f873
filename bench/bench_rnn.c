/* Training throughput of two small recurrent classifiers through the public API, at 1 and 2
 * threads.
 *
 *   lstm  50 timesteps x 32 features, batch 64: LSTM 128 (last output only) - Dense 10 softmax
 *   gru   the same with GRU 128 (reset_after, Keras' default; PyTorch's nn.GRU computes the same)
 *
 * Both use Adam (1e-3) and sparse_categorical_crossentropy; one sample of the timing is a
 * train_on_batch step (forward, loss, backward, update) on a fixed batch of random data, which
 * is what bench/torch/rnn.py times for PyTorch. samples_per_s = batch / median step time.
 *
 * BENCH_RNN_ONLY=lstm|gru runs one model, at the thread counts of BENCH_RNN_THREADS (1, 2 or
 * 1,2; default 1 with BENCH_RNN_ONLY, else 1,2). BENCH_CLOCK=cpu times with the process's CPU
 * clock (bench.h). The last line, bench rnn_<part>_maxrss mb, is the process's peak resident
 * memory (bench/report.py runs each model in its own process). */
#include "bench.h"

#include <ckeras.h>
#include <string.h>

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "bench_rnn: %s: %s\n", #call, ckeras_last_error());                              \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

enum { BATCH = 64, STEPS = 50, FEATURES = 32, UNITS = 128, CLASSES = 10 };

static uint64_t rng_state = 88172645463325252ull;

static float frand(void) /* uniform [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)(rng_state >> 40) / (float)(1 << 24);
}

/* Input (STEPS, FEATURES) - rnn (UNITS, last output only) - Dense CLASSES softmax */
static ckeras_model *recurrent(const char *name, ckeras_layer *rnn)
{
    ckeras_model *m = ckeras_sequential(name);
    CHECK(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){STEPS, FEATURES})));
    CHECK(ckeras_model_add(m, rnn));
    CHECK(ckeras_model_add(m, ckeras_dense(CLASSES, "softmax")));
    return m;
}

typedef struct step {
    ckeras_model *m;
    ckeras_tensor *x, *y;
} step;

static void train_step(void *p)
{
    step *s = p;
    CHECK(ckeras_model_train_on_batch(s->m, s->x, s->y, NULL, 0));
}

static void bench_model(const char *name, int threads)
{
    ckeras_set_num_threads(threads);
    ckeras_set_random_seed(1);
    ckeras_layer *rnn = strcmp(name, "lstm") == 0 ? ckeras_lstm(UNITS, 0) : ckeras_gru(UNITS, 0);
    step s = {recurrent(name, rnn), NULL, NULL};
    CHECK(ckeras_model_compile(s.m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
    const int64_t n = (int64_t)BATCH * STEPS * FEATURES;
    float *xd = malloc((size_t)n * sizeof *xd), *yd = malloc(BATCH * sizeof *yd);
    if (!xd || !yd) {
        fprintf(stderr, "bench_rnn: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++)
        xd[i] = frand();
    for (int i = 0; i < BATCH; i++)
        yd[i] = (float)(i % CLASSES);
    s.x = ckeras_tensor_wrap(xd, 3, (const int64_t[]){BATCH, STEPS, FEATURES});
    s.y = ckeras_tensor_wrap(yd, 1, (const int64_t[]){BATCH});
    for (int i = 0; i < 5; i++) /* warm-up: buffers, optimizer state, BLIS threads */
        train_step(&s);
    double sec = bench_median_clock(train_step, &s);
    char full[96];
    snprintf(full, sizeof full, "%s_b%d_t%d", name, BATCH, threads);
    bench_print(full, "samples_per_s", BATCH / sec);
    ckeras_tensor_free(s.x);
    ckeras_tensor_free(s.y);
    free(xd);
    free(yd);
    ckeras_model_free(s.m);
}

int main(void)
{
    printf("# %s\n", ckeras_build_info());
    /* BENCH_RNN_ONLY=lstm|gru: that model alone (for profiling: 1 thread unless
     * BENCH_RNN_THREADS says otherwise) */
    const char *only = getenv("BENCH_RNN_ONLY");
    static const char *const models[] = {"lstm", "gru"};
    int threads[4];
    int nthreads = bench_threads("BENCH_RNN_THREADS", only ? "1" : "1,2", threads);
    for (int i = 0; i < 2; i++)
        if (!only || strcmp(only, models[i]) == 0)
            for (int t = 0; t < nthreads; t++)
                bench_model(models[i], threads[t]);
    char name[64];
    snprintf(name, sizeof name, "rnn_%s", only ? only : "all");
    bench_print_maxrss(name);
    ckeras_set_num_threads(0);
    return 0;
}
