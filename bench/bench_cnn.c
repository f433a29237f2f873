/* Training throughput of two small CNNs through the public API, and one Conv2D layer's
 * forward+backward split into its kernels, at 1 and 2 threads.
 *
 *   lenet  28x28x1, batch 64: Conv 5x5 6 same relu - MaxPool 2 - Conv 5x5 16 valid relu -
 *          MaxPool 2 - Flatten - Dense 120 relu - Dense 84 relu - Dense 10 softmax
 *   vgg    32x32x3, batch 32: 2x Conv 3x3 32 same relu - MaxPool 2 - 2x Conv 3x3 64 same relu -
 *          MaxPool 2 - Flatten - Dense 128 relu - Dense 10 softmax
 *
 * Both use Adam (1e-3) and sparse_categorical_crossentropy; one sample of the timing is a
 * train_on_batch step (forward, loss, backward, update) on a fixed batch of random data, which
 * is what bench/torch/cnn.py times for PyTorch. samples_per_s = batch / median step time.
 * lenet_predict1_t<n> (us) is ckeras_model_predict of one 28x28x1 sample on the trained LeNet
 * (with freeing the result), as a program that classifies one image at a time calls it.
 *
 * conv3x3_32_64: Conv2D 3x3 32->64 "same" relu on 32x32, batch 32: the layer's own forward and
 * backward (dz, dW, db and dx: layer_fwd, layer_bwd, in microseconds per batch, and the
 * forward+backward rate in GFLOP/s counting 3 x 2 x 32*32*32 x 288 x 64 flops), and the same
 * work done kernel by kernel the im2col way (im2col tiles, ck_gemm, col2im): fwd_im2col,
 * fwd_gemm, bwd_dw_gemm (cols^T dz), bwd_dx_gemm (dz W^T), bwd_col2im.
 *
 * BENCH_CNN_ONLY=lenet|vgg|conv runs one part, at the thread counts of BENCH_CNN_THREADS
 * (1, 2 or 1,2; default 1 with BENCH_CNN_ONLY, else 1,2). The last line, bench <part>_maxrss mb,
 * is the process's peak resident memory (bench/report.py runs each part in its own process). */
#include "bench.h"
#include "kernels/kernels.h"
#include "layers/layers.h"

#include <ckeras.h>
#include <string.h>


static ckeras_layer *conv(int64_t filters, int64_t k, const char *padding)
{
    ckeras_layer *l = ckeras_conv2d(filters, k, k, "relu");
    if (!l || ckeras_layer_set_str(l, "padding", padding) != CKERAS_OK) {
        fprintf(stderr, "bench_cnn: %s\n", ckeras_last_error());
        exit(1);
    }
    return l;
}

static ckeras_model *lenet(void)
{
    ckeras_model *m = ckeras_sequential("lenet");
    CHECK(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){28, 28, 1})));
    CHECK(ckeras_model_add(m, conv(6, 5, "same")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, conv(16, 5, "valid")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, ckeras_flatten()));
    CHECK(ckeras_model_add(m, ckeras_dense(120, "relu")));
    CHECK(ckeras_model_add(m, ckeras_dense(84, "relu")));
    CHECK(ckeras_model_add(m, ckeras_dense(10, "softmax")));
    return m;
}

static ckeras_model *vgg(void)
{
    ckeras_model *m = ckeras_sequential("vgg");
    CHECK(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){32, 32, 3})));
    CHECK(ckeras_model_add(m, conv(32, 3, "same")));
    CHECK(ckeras_model_add(m, conv(32, 3, "same")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, conv(64, 3, "same")));
    CHECK(ckeras_model_add(m, conv(64, 3, "same")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, ckeras_flatten()));
    CHECK(ckeras_model_add(m, ckeras_dense(128, "relu")));
    CHECK(ckeras_model_add(m, ckeras_dense(10, "softmax")));
    return m;
}

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

static void bench_model(const char *name, ckeras_model *(*make)(void), int64_t batch, int64_t h, int64_t w,
                        int64_t c, int threads)
{
    ckeras_set_num_threads(threads);
    ckeras_set_random_seed(1);
    bench_step s = {make(), NULL, NULL};
    CHECK(ckeras_model_compile(s.m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
    int64_t per = h * w * c;
    float *xd = bench_filled(batch * per, 0.0f, 1.0f), *yd = malloc((size_t)batch * sizeof *yd);
    for (int64_t i = 0; i < batch; i++)
        yd[i] = (float)(i % 10);
    s.x = ckeras_tensor_wrap(xd, 4, (const int64_t[]){batch, h, w, c});
    s.y = ckeras_tensor_wrap(yd, 1, (const int64_t[]){batch});
    bench_train_rate(&s, name, batch, threads);
    if (strcmp(name, "lenet") == 0) {
        char full[96];
        predict_run pr = {s.m, ckeras_tensor_wrap(xd, 4, (const int64_t[]){1, h, w, c})};
        snprintf(full, sizeof full, "%s_predict1_t%d", name, threads);
        bench_print(full, "us", 1e6 * bench_median_clock(run_predict, &pr));
        ckeras_tensor_free(pr.x1);
    }
    ckeras_tensor_free(s.x);
    ckeras_tensor_free(s.y);
    free(xd);
    free(yd);
    ckeras_model_free(s.m);
}

/* ---- one Conv2D, kernel by kernel ------------------------------------------------------------ */

typedef struct layer_parts {
    ck_conv_geom g;
    int64_t n, F, K, rows, tile;
    float *x, *W, *y, *dy, *dW, *dx, *cols; /* cols: one tile (tile, K) */
    int part;
} layer_parts;

enum { P_IM2COL, P_FWD_GEMM, P_DW_GEMM, P_DX_GEMM, P_COL2IM, P_COUNT };
static const char *const part_names[P_COUNT] = {"fwd_im2col", "fwd_gemm", "bwd_dw_gemm", "bwd_dx_gemm",
                                                "bwd_col2im"};

/* One part over the whole batch, tile by tile as src/layers/conv.c goes. */
static void run_part(void *p)
{
    layer_parts *L = p;
    const int64_t F = L->F, K = L->K;
    for (int64_t r0 = 0; r0 < L->rows; r0 += L->tile) {
        const int64_t r1 = L->rows - r0 < L->tile ? L->rows : r0 + L->tile, m = r1 - r0;
        switch (L->part) {
        case P_IM2COL:
            ck_im2col(&L->g, L->x, r0, r1, L->cols);
            break;
        case P_FWD_GEMM:
            ck_gemm(false, false, m, F, K, 1.0f, L->cols, K, L->W, F, 0.0f, L->y + r0 * F, F);
            break;
        case P_DW_GEMM:
            ck_gemm(true, false, K, F, m, 1.0f, L->cols, K, L->dy + r0 * F, F, r0 ? 1.0f : 0.0f, L->dW, F);
            break;
        case P_DX_GEMM:
            ck_gemm(false, true, m, K, F, 1.0f, L->dy + r0 * F, F, L->W, F, 0.0f, L->cols, K);
            break;
        case P_COL2IM:
            ck_col2im(&L->g, L->cols, r0, r1, L->dx);
            break;
        }
    }
}

typedef struct layer_run {
    ckeras_layer *l;
    ck_fwd f;
    ck_bwd b;
} layer_run;

static void run_layer_fwd(void *p)
{
    layer_run *r = p;
    r->l->vt->forward(r->l, &r->f);
}

static void run_layer_bwd(void *p)
{
    layer_run *r = p;
    r->l->vt->backward(r->l, &r->b);
}

/* The Conv2D layer itself (whatever path it takes), forward and backward. */
static void bench_conv_layer(int threads)
{
    ckeras_set_num_threads(threads);
    const int64_t n = 32, in = 32 * 32 * 32, out = 32 * 32 * 64;
    layer_run r = {.l = conv(64, 3, "same")};
    CHECK(ck_layer_build(r.l, &(ck_shape){3, {32, 32, 32}}));
    for (int i = 0; i < r.l->nw; i++) {
        r.l->w[i].data = bench_filled(r.l->w[i].size, -0.1f, 0.1f);
        r.l->w[i].grad = bench_filled(r.l->w[i].size, 0.0f, 0.0f);
    }
    int64_t saved = r.l->vt->saved_floats ? r.l->vt->saved_floats(r.l, n) : 0;
    int64_t work = r.l->vt->work_floats ? r.l->vt->work_floats(r.l, n) : 0;
    float *x = bench_filled(n * in, 0.0f, 1.0f), *y = bench_filled(n * out, 0.0f, 0.0f), *dy = bench_filled(n * out, -1.0f, 1.0f);
    float *dx = bench_filled(n * in, 0.0f, 0.0f), *sv = bench_filled(saved + 1, 0.0f, 0.0f), *wk = bench_filled(work + 1, 0.0f, 0.0f);
    r.f = (ck_fwd){.n = n, .x = x, .y = y, .saved = sv, .work = wk, .training = true};
    r.b = (ck_bwd){.n = n, .x = x, .y = y, .dy = dy, .dx = dx, .saved = sv, .work = wk, .train_weights = true};
    run_layer_fwd(&r);
    double fwd = 1e6 * bench_median_clock(run_layer_fwd, &r), bwd = 1e6 * bench_median_clock(run_layer_bwd, &r);
    char name[96];
    snprintf(name, sizeof name, "conv3x3_32_64_32x32_b32_layer_fwd_t%d", threads);
    bench_print(name, "us", fwd);
    snprintf(name, sizeof name, "conv3x3_32_64_32x32_b32_layer_bwd_t%d", threads);
    bench_print(name, "us", bwd);
    snprintf(name, sizeof name, "conv3x3_32_64_32x32_b32_layer_fwd_bwd_t%d", threads);
    bench_print(name, "gflops", 3.0 * 2.0 * 32 * 1024 * 288 * 64 / (fwd + bwd) * 1e-3);
    for (int i = 0; i < r.l->nw; i++) {
        free(r.l->w[i].data);
        free(r.l->w[i].grad);
        r.l->w[i].data = r.l->w[i].grad = NULL;
    }
    ck_layer_free(r.l);
    free(x), free(y), free(dy), free(dx), free(sv), free(wk);
}

static void bench_conv_parts(int threads)
{
    bench_conv_layer(threads);
    ckeras_set_num_threads(threads);
    layer_parts L = {.n = 32, .F = 64};
    ck_conv_geom *g = &L.g;
    g->h = g->w = 32, g->c = 32, g->kh = g->kw = 3, g->sh = g->sw = 1, g->dh = g->dw = 1;
    ck_conv_axis(CK_PAD_SAME, g->h, g->kh, g->sh, g->dh, &g->oh, &g->pt);
    ck_conv_axis(CK_PAD_SAME, g->w, g->kw, g->sw, g->dw, &g->ow, &g->pl);
    L.K = g->kh * g->kw * g->c;
    L.rows = L.n * g->oh * g->ow;
    L.tile = ((int64_t)1 << 19) / L.K; /* the layer's tile: about 2 MB of columns */
    if (L.tile < 256)
        L.tile = 256;
    if (L.tile > L.rows)
        L.tile = L.rows;
    L.x = bench_filled(L.n * g->h * g->w * g->c, 0.0f, 1.0f);
    L.W = bench_filled(L.K * L.F, -0.1f, 0.1f);
    L.y = bench_filled(L.rows * L.F, 0.0f, 0.0f);
    L.dy = bench_filled(L.rows * L.F, -1.0f, 1.0f);
    L.dW = bench_filled(L.K * L.F, 0.0f, 0.0f);
    L.dx = bench_filled(L.n * g->h * g->w * g->c, 0.0f, 0.0f);
    L.cols = bench_filled(L.tile * L.K, 0.0f, 1.0f);
    double total = 0;
    for (int p = 0; p < P_COUNT; p++) {
        L.part = p;
        double us = 1e6 * bench_median_clock(run_part, &L);
        total += us;
        char name[96];
        snprintf(name, sizeof name, "conv3x3_32_64_32x32_b32_im2col_%s_t%d", part_names[p], threads);
        bench_print(name, "us", us);
    }
    char name[96];
    snprintf(name, sizeof name, "conv3x3_32_64_32x32_b32_im2col_total_t%d", threads);
    bench_print(name, "us", total);
    free(L.x), free(L.W), free(L.y), free(L.dy), free(L.dW), free(L.dx), free(L.cols);
}

int main(void)
{
    printf("# %s\n", ckeras_build_info());
    /* BENCH_CNN_ONLY=lenet|vgg|conv: that part alone (for profiling: 1 thread unless
     * BENCH_CNN_THREADS says otherwise) */
    const char *only = getenv("BENCH_CNN_ONLY");
    int threads[4];
    int nthreads = bench_threads("BENCH_CNN_THREADS", only ? "1" : "1,2", threads);
    if (!only || strcmp(only, "lenet") == 0)
        for (int t = 0; t < nthreads; t++)
            bench_model("lenet", lenet, 64, 28, 28, 1, threads[t]);
    if (!only || strcmp(only, "vgg") == 0)
        for (int t = 0; t < nthreads; t++)
            bench_model("vgg", vgg, 32, 32, 32, 3, threads[t]);
    if (!only || strcmp(only, "conv") == 0)
        for (int t = 0; t < nthreads; t++)
            bench_conv_parts(threads[t]);
    char name[64];
    snprintf(name, sizeof name, "cnn_%s", only ? only : "all");
    bench_print_maxrss(name);
    ckeras_set_num_threads(0);
    return 0;
}
