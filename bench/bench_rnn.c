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

enum { BATCH = 64, STEPS = 50, FEATURES = 32, UNITS = 128, CLASSES = 10 };

/* Input (STEPS, FEATURES) - rnn (UNITS, last output only) - Dense CLASSES softmax */
static ckeras_model *recurrent(const char *name, ckeras_layer *rnn)
{
    ckeras_model *m = ckeras_sequential(name);
    CHECK(ckeras_model_add(m, ckeras_input(2, (const int64_t[]){STEPS, FEATURES})));
    CHECK(ckeras_model_add(m, rnn));
    CHECK(ckeras_model_add(m, ckeras_dense(CLASSES, "softmax")));
    return m;
}

static void bench_model(const char *name, int threads)
{
    ckeras_set_num_threads(threads);
    ckeras_set_random_seed(1);
    ckeras_layer *rnn = strcmp(name, "lstm") == 0 ? ckeras_lstm(UNITS, 0) : ckeras_gru(UNITS, 0);
    bench_step s = {recurrent(name, rnn), NULL, NULL};
    CHECK(ckeras_model_compile(s.m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
    float *xd = bench_filled((int64_t)BATCH * STEPS * FEATURES, 0.0f, 1.0f), *yd = malloc(BATCH * sizeof *yd);
    if (!yd) {
        fprintf(stderr, "bench_rnn: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < BATCH; i++)
        yd[i] = (float)(i % CLASSES);
    s.x = ckeras_tensor_wrap(xd, 3, (const int64_t[]){BATCH, STEPS, FEATURES});
    s.y = ckeras_tensor_wrap(yd, 1, (const int64_t[]){BATCH});
    bench_train_rate(&s, name, BATCH, threads);
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
