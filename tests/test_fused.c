/* Fast paths against the plain ones: the fused Dense epilogues give exactly the floats of the
 * separate calls, the optimizer gives the same floats on 1 and 2 threads, the pixel-vectorised
 * single-channel convolution gives the gathered GEMM's floats (forward: bit for bit; kernel
 * gradient: within 1e-6 relative of a double sum), and the permuting transpose and 2x2 max
 * pooling give exactly the plain loops' results, and so does the pooling's backward fused with
 * a relu's. */
#include "ckeras.h"
#include "kernels/kernels.h"
#include "model/model.h"
#include "optimizers/optimizers.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void fill(float *v, int64_t n, ck_rng *r, double scale)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(ck_rng_normal(r) * scale);
}

START_TEST(fused_dense_epilogues_equal_separate_calls)
{
    /* (relu with the bias gradient goes down the columns for 8-64 rows of 16-128 columns, with
     * an overlapping last block when the width is no multiple of 16: {32, 100}, {9, 48},
     * {64, 17}, {8, 127}, {40, 100}, {32, 128}, {16, 16}; {64, 64} and the rest take the rows) */
    static const int64_t shapes[][2] = {{32, 100}, {32, 1}, {7, 13},  {128, 10}, {1, 1},   {9, 48},
                                        {64, 17},  {8, 127}, {40, 100}, {32, 128}, {16, 16}, {64, 64}};
    static const char *acts[] = {"linear", "relu", "sigmoid", "softmax", "tanh"};
    ck_rng r;
    ck_rng_seed(&r, 12);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        for (size_t a = 0; a < sizeof acts / sizeof acts[0]; a++) {
            for (int with_bias = 0; with_bias <= 1; with_bias++) {
                ck_act act;
                ck_assert_int_eq(ck_act_parse(acts[a], &act), CKERAS_OK);
                float *z = malloc((size_t)n * sizeof(float)), *y1 = malloc((size_t)n * sizeof(float));
                float *y2 = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)cols * sizeof(float));
                fill(z, n, &r, 2.0);
                fill(b, cols, &r, 1.0);
                memcpy(y1, z, (size_t)n * sizeof(float));
                memcpy(y2, z, (size_t)n * sizeof(float));
                bool fused = ck_bias_act_forward(&act, y1, with_bias ? b : NULL, rows, cols);
                if (with_bias)
                    ck_add_bias(y2, b, rows, cols);
                ck_act_forward(&act, y2, y2, rows, cols);
                if (fused)
                    ck_assert_msg(memcmp(y1, y2, (size_t)n * sizeof(float)) == 0, "%s %lldx%lld bias %d: forward",
                                  acts[a], (long long)rows, (long long)cols, with_bias);
                /* backward from y: dz = dy * f'(.), db = column sums */
                float *dy1 = malloc((size_t)n * sizeof(float)), *dy2 = malloc((size_t)n * sizeof(float));
                float *db1 = malloc((size_t)cols * sizeof(float)), *db2 = malloc((size_t)cols * sizeof(float));
                fill(dy1, n, &r, 1.0);
                memcpy(dy2, dy1, (size_t)n * sizeof(float));
                fused = ck_act_backward_bias_grad(&act, y2, dy1, db1, rows, cols);
                ck_act_backward(&act, z, y2, dy2, dy2, rows, cols);
                ck_bias_grad(dy2, db2, rows, cols);
                if (fused) {
                    ck_assert_msg(memcmp(dy1, dy2, (size_t)n * sizeof(float)) == 0, "%s: backward", acts[a]);
                    ck_assert_msg(memcmp(db1, db2, (size_t)cols * sizeof(float)) == 0, "%s: bias grad", acts[a]);
                }
                free(z), free(y1), free(y2), free(b), free(dy1), free(dy2), free(db1), free(db2);
            }
        }
    }
}
END_TEST

/* One-channel images (padded), geometry (oh, ow, k, dilation), F filters: ck_pixconv_forward
 * against ck_gather_gemm with the same offset tables the Conv2D layer builds. */
START_TEST(pixconv_equals_gathered_gemm)
{
    if (!ck_pixconv_available(1, 6))
        return; /* no AVX-512: the layer never takes this path */
    static const int64_t geo[][4] = {{28, 28, 5, 1}, {10, 10, 5, 1}, {7, 19, 3, 2}, {33, 17, 1, 1}, {1, 40, 4, 1}};
    ck_rng r;
    ck_rng_seed(&r, 21);
    for (size_t gi = 0; gi < sizeof geo / sizeof geo[0]; gi++)
        for (int64_t F = 1; F <= CK_PIXCONV_MAX_F; F++) {
            ck_conv_geom g = {0};
            g.oh = geo[gi][0], g.ow = geo[gi][1], g.kh = g.kw = geo[gi][2], g.dh = g.dw = geo[gi][3];
            g.sh = g.sw = 1, g.c = 1;
            g.h = g.oh + (g.kh - 1) * g.dh, g.w = g.ow + (g.kw - 1) * g.dw;
            const int64_t pitch = g.w + 3, K = g.kh * g.kw, pos = g.oh * g.ow, n = 3;
            float *x = malloc((size_t)(n * g.h * pitch) * sizeof(float)), *W = malloc((size_t)(K * F) * sizeof(float));
            float *b = malloc((size_t)F * sizeof(float)), *y1 = malloc((size_t)(pos * F) * sizeof(float));
            float *y2 = malloc((size_t)(pos * F) * sizeof(float)), *dz = malloc((size_t)(n * pos * F) * sizeof(float));
            float *dzT = malloc((size_t)(n * pos * F) * sizeof(float)), *dW = malloc((size_t)(K * F) * sizeof(float));
            int32_t *poff = malloc((size_t)pos * sizeof(int32_t)), *toff = malloc((size_t)K * sizeof(int32_t));
            fill(x, n * g.h * pitch, &r, 1.0);
            fill(W, K * F, &r, 0.5);
            fill(b, F, &r, 0.5);
            fill(dz, n * pos * F, &r, 1.0);
            for (int64_t p = 0; p < pos; p++)
                poff[p] = (int32_t)(p / g.ow * pitch + p % g.ow);
            for (int64_t t = 0; t < K; t++)
                toff[t] = (int32_t)(t / g.kw * g.dh * pitch + t % g.kw * g.dw);
            for (int relu = 0; relu <= 1; relu++) {
                ck_pixconv_forward(x, pitch, &g, W, F, y1, relu ? b : NULL, relu);
                ck_gather_gemm(pos, K, F, x, poff, toff, W, F, y2, F, relu ? b : NULL, relu, false);
                ck_assert_msg(memcmp(y1, y2, (size_t)(pos * F) * sizeof(float)) == 0,
                              "forward %lldx%lld k%lld d%lld F=%lld relu %d", (long long)g.oh, (long long)g.ow,
                              (long long)g.kh, (long long)g.dh, (long long)F, relu);
            }
            for (int64_t i = 0; i < n; i++)
                ck_transpose_rows(dz + i * pos * F, pos, F, dzT + i * F * pos);
            for (int64_t i = 0; i < n; i++)
                for (int64_t p = 0; p < pos; p++)
                    for (int64_t f = 0; f < F; f++)
                        ck_assert(dzT[(i * F + f) * pos + p] == dz[(i * pos + p) * F + f]);
            /* taps split in two ranges, as two threads do */
            ck_pixconv_dw(x, g.h * pitch, pitch, dzT, n, &g, F, 0, K / 2, dW);
            ck_pixconv_dw(x, g.h * pitch, pitch, dzT, n, &g, F, K / 2, K, dW);
            for (int64_t t = 0; t < K; t++)
                for (int64_t f = 0; f < F; f++) {
                    double s = 0.0, mag = 0.0;
                    for (int64_t i = 0; i < n; i++)
                        for (int64_t p = 0; p < pos; p++) {
                            double v = (double)x[i * g.h * pitch + poff[p] + toff[t]] * dz[(i * pos + p) * F + f];
                            s += v;
                            mag += v < 0 ? -v : v;
                        }
                    double got = dW[t * F + f], err = got > s ? got - s : s - got;
                    ck_assert_msg(err <= 1e-6 * mag + 1e-7, "dW[%lld][%lld] = %.9g, want %.9g (F=%lld)", (long long)t,
                                  (long long)f, got, s, (long long)F);
                }
            free(x), free(W), free(b), free(y1), free(y2), free(dz), free(dzT), free(dW), free(poff), free(toff);
        }
}
END_TEST

/* 2x2 max pooling (few channels: the permuting kernel; 16 or more: the channel loops, in the
 * CPU's clone) against the window scan written here: values and the argmax of the first
 * maximum in window order, ties included; and its backward against dy added at each argmax. */
START_TEST(maxpool_2x2_equals_window_scan)
{
    ck_rng r;
    ck_rng_seed(&r, 5);
    static const int64_t shapes[][3] = {{28, 28, 6}, {9, 7, 1},   {10, 10, 16}, {6, 30, 5},   {4, 4, 15},
                                        {5, 9, 3},   {26, 26, 32}, {11, 11, 64}, {7, 9, 20}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        ck_conv_geom g = {0};
        g.h = shapes[s][0], g.w = shapes[s][1], g.c = shapes[s][2];
        g.kh = g.kw = g.sh = g.sw = 2, g.dh = g.dw = 1, g.oh = g.h / 2, g.ow = g.w / 2;
        const int64_t n = 2, in = g.h * g.w * g.c, out = g.oh * g.ow * g.c;
        float *x = malloc((size_t)(n * in) * sizeof(float)), *y = malloc((size_t)(n * out) * sizeof(float));
        int32_t *a = malloc((size_t)(n * out) * sizeof(int32_t));
        for (int64_t i = 0; i < n * in; i++) /* few distinct values: many ties */
            x[i] = (float)(ck_rng_below(&r, 4)) - 1.5f;
        ck_maxpool_forward(&g, x, n, y, a);
        for (int64_t b = 0; b < n; b++)
            for (int64_t oy = 0; oy < g.oh; oy++)
                for (int64_t ox = 0; ox < g.ow; ox++)
                    for (int64_t ch = 0; ch < g.c; ch++) {
                        int64_t best = -1;
                        for (int64_t ky = 0; ky < 2; ky++)
                            for (int64_t kx = 0; kx < 2; kx++) {
                                int64_t k = ((2 * oy + ky) * g.w + 2 * ox + kx) * g.c + ch;
                                if (best < 0 || x[b * in + k] > x[b * in + best])
                                    best = k;
                            }
                        int64_t o = b * out + (oy * g.ow + ox) * g.c + ch;
                        ck_assert_msg(y[o] == x[b * in + best] && a[o] == best, "shape %zu: output %lld", s,
                                      (long long)o);
                    }
        /* the backward (written cell by cell on this path) against zeros plus dy at each
         * argmax; dx starts as NaN so a cell left unwritten shows, and -0 gradients appear */
        float *dy = malloc((size_t)(n * out) * sizeof(float)), *dx = malloc((size_t)(n * in) * sizeof(float));
        float *want = calloc((size_t)(n * in), sizeof(float));
        for (int64_t o = 0; o < n * out; o++)
            dy[o] = o % 5 == 0 ? -0.0f : (float)ck_rng_normal(&r);
        for (int64_t i = 0; i < n * in; i++)
            dx[i] = NAN;
        for (int64_t b = 0; b < n; b++)
            for (int64_t o = 0; o < out; o++)
                want[b * in + a[b * out + o]] += dy[b * out + o];
        ck_maxpool_backward(&g, dy, a, n, dx);
        ck_assert_msg(memcmp(dx, want, (size_t)(n * in) * sizeof(float)) == 0, "shape %zu: backward differs", s);
        free(dy), free(dx), free(want);
        free(x), free(y), free(a);
    }
}
END_TEST

/* The 2x2 max pooling's backward fused with the relu's below it (one pass) against the two
 * passes, ck_maxpool_backward then ck_relu_bias_backward: the same dz and bias gradient bit for
 * bit, on 1 and 2 threads (the big batch splits its rows), with and without the bias gradient,
 * odd sizes (cells in no window), -0 gradients, many zeros and ties in x; other geometries and
 * narrow channels are refused. */
START_TEST(maxpool_relu_backward_equals_two_passes)
{
    ck_rng r;
    ck_rng_seed(&r, 17);
    /* h, w, c, images */
    static const int64_t shapes[][4] = {{26, 26, 32, 8}, {11, 11, 64, 3}, {7, 9, 20, 2}, {10, 10, 16, 5},
                                        {5, 6, 100, 3},  {4, 4, 130, 2},  {9, 9, 48, 1}, {13, 13, 17, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        ck_conv_geom g = {0};
        g.h = shapes[s][0], g.w = shapes[s][1], g.c = shapes[s][2];
        g.kh = g.kw = g.sh = g.sw = 2, g.dh = g.dw = 1, g.oh = g.h / 2, g.ow = g.w / 2;
        const int64_t n = shapes[s][3], in = g.h * g.w * g.c, out = g.oh * g.ow * g.c, rows = n * g.h * g.w;
        float *x = malloc((size_t)(n * in) * sizeof(float)), *y = malloc((size_t)(n * out) * sizeof(float));
        float *dy = malloc((size_t)(n * out) * sizeof(float));
        float *dz1 = malloc((size_t)(n * in) * sizeof(float)), *dz2 = malloc((size_t)(n * in) * sizeof(float));
        float db1[130], db2[130];
        int32_t *a = malloc((size_t)(n * out) * sizeof(int32_t));
        for (int64_t i = 0; i < n * in; i++) { /* a relu's output: zeros, and few values (ties) */
            const double v = ck_rng_below(&r, 3) ? ck_rng_normal(&r) : (double)ck_rng_below(&r, 3) - 1.0;
            x[i] = v > 0.0 ? (float)v : 0.0f;
        }
        for (int64_t o = 0; o < n * out; o++)
            dy[o] = o % 7 == 0 ? -0.0f : (float)ck_rng_normal(&r);
        ck_maxpool_forward(&g, x, n, y, a);
        for (int threads = 1; threads <= 2; threads++)
            for (int with_db = 0; with_db <= 1; with_db++) {
                ckeras_set_num_threads(threads);
                for (int64_t i = 0; i < n * in; i++)
                    dz2[i] = NAN;
                ck_maxpool_backward(&g, dy, a, n, dz1);
                ck_relu_bias_backward(x, dz1, rows, g.c, with_db ? db1 : NULL);
                ck_assert(ck_maxpool2x2_relu_backward(&g, dy, a, x, n, dz2, with_db ? db2 : NULL));
                ck_assert_msg(memcmp(dz1, dz2, (size_t)(n * in) * sizeof(float)) == 0,
                              "shape %zu, %d threads: dz differs", s, threads);
                if (with_db)
                    ck_assert_msg(memcmp(db1, db2, (size_t)g.c * sizeof(float)) == 0,
                                  "shape %zu, %d threads: bias gradient differs", s, threads);
            }
        ckeras_set_num_threads(0);
        free(x), free(y), free(dy), free(dz1), free(dz2), free(a);
    }
    /* refused: narrow channels, a stride of 1, padding (nothing written) */
    ck_conv_geom g = {0};
    g.h = g.w = 8, g.c = 6, g.kh = g.kw = g.sh = g.sw = 2, g.dh = g.dw = 1, g.oh = g.ow = 4;
    float dz = 7.0f;
    ck_assert(!ck_maxpool2x2_relu_backward(&g, &dz, NULL, &dz, 1, &dz, NULL));
    g.c = 16, g.sh = g.sw = 1, g.oh = g.ow = 7;
    ck_assert(!ck_maxpool2x2_relu_backward(&g, &dz, NULL, &dz, 1, &dz, NULL));
    g.sh = g.sw = 2, g.oh = g.ow = 4, g.pt = 1;
    ck_assert(!ck_maxpool2x2_relu_backward(&g, &dz, NULL, &dz, 1, &dz, NULL));
    ck_assert(dz == 7.0f);
}
END_TEST

/* 12x12x3 -> conv 32 relu -> [linear] -> maxpool -> conv 16 relu valid [frozen] -> maxpool (3x3:
 * an odd edge) -> flatten -> dense 4 softmax, weights from seed 3; the linear Activation keeps
 * the first pooling from fusing with the relu below it */
static ckeras_model *relu_pool_cnn(bool apart, bool freeze_second)
{
    ckeras_set_random_seed(3);
    ckeras_model *m = ckeras_sequential("cnn");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){12, 12, 3})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_conv2d(32, 3, 3, "relu")), CKERAS_OK);
    if (apart)
        ck_assert_int_eq(ckeras_model_add(m, ckeras_activation("linear")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)), CKERAS_OK);
    ckeras_layer *second = ckeras_conv2d(16, 3, 3, "relu");
    if (freeze_second) /* it passes gradients on but wants none of its own: the mask alone */
        ck_assert_int_eq(ckeras_layer_set_trainable(second, 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, second), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_flatten()), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(4, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_sgd(0.1, 0.0, 0), "sparse_categorical_crossentropy", NULL),
                     CKERAS_OK);
    return m;
}

/* A model trains to the same bits when its poolings take over the relu backward of the
 * convolutions below them (the plan's relu_below), and its convolutions the poolings' forward
 * (ck_fwd.pool), as when a layer between keeps them apart: two SGD steps, on 1 thread and on 2
 * (the data-parallel split), with the second convolution trainable or frozen (no bias gradient
 * wanted), every gradient and weight equal; the fused kernels ran for the first model's two
 * poolings and only the second's for the other. */
START_TEST(relu_below_pooling_trains_the_same)
{
    for (int run = 0; run < 4; run++) {
        const int threads = 1 + run % 2;
        const bool freeze = run >= 2;
        ckeras_set_num_threads(threads);
        const int64_t n = 16;
        ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){n, 12, 12, 3});
        ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){n});
        for (int64_t i = 0; i < n * 432; i++)
            ckeras_tensor_data(x)[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
        for (int64_t i = 0; i < n; i++)
            ckeras_tensor_data(y)[i] = (float)(i % 4);
        ckeras_model *m[2];
        uint64_t runs[2], images[2];
        for (int k = 0; k < 2; k++) {
            m[k] = relu_pool_cnn(k == 1, freeze);
            const uint64_t before = ck_maxpool2x2_relu_runs(), before_fwd = ck_conv_pooled_images();
            for (int step = 0; step < 2; step++)
                ck_assert_int_eq(ckeras_model_train_on_batch(m[k], x, y, NULL, 0), CKERAS_OK);
            runs[k] = ck_maxpool2x2_relu_runs() - before;
            images[k] = ck_conv_pooled_images() - before_fwd;
        }
        ck_assert(threads == 1 || (m[0]->split && m[1]->split)); /* 2 threads: the split ran */
        const uint64_t parts = (uint64_t)threads; /* each of the split's parts runs it */
        ck_assert_uint_eq(runs[0], 2 * 2 * parts);
        ck_assert_uint_eq(runs[1], 2 * 1 * parts);
        /* the forward: each convolution pooled its images itself, except the one kept apart */
        ck_assert_uint_eq(images[0], 2 * 2 * (uint64_t)n);
        ck_assert_uint_eq(images[1], 2 * 1 * (uint64_t)n);
        ck_assert_uint_eq(m[0]->n_params, m[1]->n_params);
        ck_assert_msg(memcmp(m[0]->grads, m[1]->grads, m[0]->n_params * sizeof(float)) == 0,
                      "%d threads, second frozen %d: gradients differ", threads, freeze);
        ck_assert_msg(memcmp(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float)) == 0,
                      "%d threads, second frozen %d: weights differ", threads, freeze);
        ckeras_model_free(m[0]);
        ckeras_model_free(m[1]);
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* ck_gemm_tn_adam against ck_gemm and then the optimizer's own Adam pass over the same
 * parameters (ck_optimizer_apply), three steps each: C, w, m and v equal bit for bit, for k
 * from 1 to 32 and shapes with and without a last partial row block or narrow last panel; k 33
 * and a product of at most 2^20 multiply-adds are declined, leaving C as it was. Where the
 * library's own driver does not run, every call is declined. */
START_TEST(tn_adam_equals_product_then_update)
{
    ckeras_set_num_threads(1);
    const int64_t shapes[][3] = {{1000, 1100, 1}, {1000, 1100, 2}, {785, 512, 31}, {784, 512, 32}, {96, 700, 17},
                                 {300, 4100, 3}};
    ck_rng r;
    ck_rng_seed(&r, 21);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        const size_t mn = (size_t)(m * n);
        float *a = malloc((size_t)(k * m) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
        float *c[2] = {malloc(mn * sizeof(float)), malloc(mn * sizeof(float))};
        float *w[2] = {malloc(mn * sizeof(float)), malloc(mn * sizeof(float))};
        ck_assert(a && b && c[0] && c[1] && w[0] && w[1]);
        fill(w[0], (int64_t)mn, &r, 0.1);
        memcpy(w[1], w[0], mn * sizeof(float));
        ckeras_optimizer *o[2] = {ckeras_adam(1e-3), ckeras_adam(1e-3)};
        ck_assert_int_eq(ck_optimizer_build(o[0], mn), CKERAS_OK);
        ck_assert_int_eq(ck_optimizer_build(o[1], mn), CKERAS_OK);
        const size_t off[2] = {0, mn};
        for (int step = 0; step < 3; step++) {
            fill(a, k * m, &r, 1.0);
            fill(b, k * n, &r, 0.01);
            ck_gemm(true, false, m, n, k, 1.0f, a, m, b, n, 0.0f, c[0], n);
            ck_optimizer_apply(o[0], w[0], c[0], off, 1);
            ck_opt_fuse f;
            ck_adam_fuse u;
            ck_assert(ck_optimizer_fuse_begin(o[1], w[1], c[1], off, 1, &f));
            ck_assert(ck_opt_fuse_claim(&f, w[1], c[1], mn, &u));
            if (ck_gemm_tn_adam(m, n, k, a, m, b, n, c[1], n, &u)) {
                ck_assert(ck_gemm_driver());
                ck_opt_fuse_done(&f, w[1], mn);
            } else {
                ck_assert(!ck_gemm_driver());
                ck_gemm(true, false, m, n, k, 1.0f, a, m, b, n, 0.0f, c[1], n);
            }
            ck_optimizer_apply_fused(o[1], w[1], c[1], off, 1, &f);
            ck_assert_msg(memcmp(c[0], c[1], mn * sizeof(float)) == 0, "%lldx%lldx%lld step %d: C differs",
                          (long long)m, (long long)n, (long long)k, step);
            ck_assert_msg(memcmp(w[0], w[1], mn * sizeof(float)) == 0, "%lldx%lldx%lld step %d: w differs",
                          (long long)m, (long long)n, (long long)k, step);
            for (int sl = 0; sl < 2; sl++)
                ck_assert_msg(memcmp(o[0]->slots[sl], o[1]->slots[sl], mn * sizeof(float)) == 0,
                              "%lldx%lldx%lld step %d: slot %d differs", (long long)m, (long long)n, (long long)k,
                              step, sl);
        }
        ck_assert_int_eq(o[1]->iterations, 3);
        ck_adam_fuse u = {w[1], o[1]->slots[0], o[1]->slots[1], 0.9f, 0.1f, 0.999f, 0.001f, 1e-3f, 1e-7f};
        memcpy(c[0], c[1], mn * sizeof(float));
        ck_assert(!ck_gemm_tn_adam(m, n, 33, a, m, b, n, c[1], n, &u)); /* k > 32 */
        ck_assert(!ck_gemm_tn_adam(8, 32, k, a, m, b, n, c[1], n, &u)); /* small */
        ck_assert(memcmp(c[0], c[1], mn * sizeof(float)) == 0);
        ckeras_optimizer_free(o[0]);
        ckeras_optimizer_free(o[1]);
        for (int i = 0; i < 2; i++) {
            free(c[i]);
            free(w[i]);
        }
        free(a);
        free(b);
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* 600 -> Dense(130, relu) -> Dense(500, relu) -> Dense(3, softmax), Adam (with clipnorm 1 when
 * clip, amsgrad when ams); reg: an L2 kernel regularizer on the first layer */
static ckeras_model *adam_mlp(bool clip, bool ams, bool reg)
{
    ckeras_set_random_seed(11);
    ckeras_model *m = ckeras_sequential("mlp");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){600})), CKERAS_OK);
    ckeras_layer *first = ckeras_dense(130, "relu");
    if (reg)
        ck_assert_int_eq(ckeras_layer_set_str(first, "kernel_regularizer", "L2(l2=0.001)"), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, first), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(500, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "softmax")), CKERAS_OK);
    ckeras_optimizer *o = ckeras_adam(2e-3);
    if (clip)
        ck_assert_int_eq(ckeras_optimizer_set_float(o, "clipnorm", 1.0), CKERAS_OK);
    if (ams)
        ck_assert_int_eq(ckeras_optimizer_set_float(o, "amsgrad", 1.0), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, o, "sparse_categorical_crossentropy", NULL), CKERAS_OK);
    return m;
}

/* Adam's update fused into the kernel-gradient products (ck_gemm_tn_adam) trains to the same
 * bits as the separate product and optimizer pass: 3 epochs of 113 samples at batch 32 (the
 * last batch 17: fewer values of k than the update's vectors), a 600 x 130 kernel (a narrow last
 * panel) and a 130 x 500 one (2 rows past the last 8-row block); weights, Adam's slots and the
 * History equal; the fused path ran for both kernels at every step, except: for the regularized
 * one (its penalty joins the gradient after the backward), on 2 threads, with clipnorm and
 * with amsgrad (not fused). Where the library's own GEMM driver does not run (no AVX-512,
 * valgrind), nothing is fused and both runs take the same path. */
START_TEST(adam_fused_into_kernel_gradients_trains_the_same)
{
    const int64_t n = 113;
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){n, 600});
    ckeras_tensor *y = ckeras_tensor_new(1, (const int64_t[]){n});
    for (int64_t i = 0; i < n * 600; i++)
        ckeras_tensor_data(x)[i] = (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
    for (int64_t i = 0; i < n; i++)
        ckeras_tensor_data(y)[i] = (float)(i % 3);
    ckeras_fit_args *a = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "batch_size", 32), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "epochs", 3), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "verbose", 0), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(a, "shuffle", 0), CKERAS_OK);
    const uint64_t steps = 3 * 4;
    /* case: {threads, clip, ams, reg, kernels fused per step} */
    const int cases[][5] = {{1, 0, 0, 0, 2}, {1, 0, 0, 1, 1}, {2, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 0, 1, 0, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        ckeras_set_num_threads(cases[c][0]);
        ckeras_model *m[2];
        ckeras_history *h[2];
        uint64_t fused[2];
        for (int k = 0; k < 2; k++) {
            const bool was = ck_opt_fuse_set_enabled(k == 0);
            m[k] = adam_mlp(cases[c][1], cases[c][2], cases[c][3]);
            const uint64_t before = ck_opt_fused_count();
            ck_assert_int_eq(ckeras_model_fit(m[k], x, y, a, &h[k]), CKERAS_OK);
            fused[k] = ck_opt_fused_count() - before;
            ck_opt_fuse_set_enabled(was);
        }
        const uint64_t want = ck_gemm_driver() ? steps * (uint64_t)cases[c][4] : 0;
        ck_assert_msg(fused[0] == want && fused[1] == 0, "case %zu: %llu kernels fused, want %llu", c,
                      (unsigned long long)fused[0], (unsigned long long)want);
        ck_assert_msg(memcmp(m[0]->params, m[1]->params, m[0]->n_params * sizeof(float)) == 0,
                      "case %zu: weights differ", c);
        const ckeras_optimizer *o0 = m[0]->opt, *o1 = m[1]->opt;
        ck_assert_int_eq(o0->nslots, o1->nslots);
        ck_assert_int_eq(o0->iterations, (int64_t)steps);
        ck_assert_int_eq(o1->iterations, (int64_t)steps);
        for (int sl = 0; sl < o0->nslots; sl++)
            ck_assert_msg(memcmp(o0->slots[sl], o1->slots[sl], o0->n * sizeof(float)) == 0, "case %zu: slot %d differs",
                          c, sl);
        const double *l0, *l1;
        int e0 = 0, e1 = 0;
        ck_assert_int_eq(ckeras_history_values(h[0], "loss", &l0, &e0), CKERAS_OK);
        ck_assert_int_eq(ckeras_history_values(h[1], "loss", &l1, &e1), CKERAS_OK);
        ck_assert_int_eq(e0, 3);
        ck_assert_int_eq(e1, 3);
        for (int e = 0; e < 3; e++)
            ck_assert_msg(l0[e] == l1[e], "case %zu: epoch %d loss %.9g vs %.9g", c, e, l0[e], l1[e]);
        for (int k = 0; k < 2; k++) {
            ckeras_history_free(h[k]);
            ckeras_model_free(m[k]);
        }
    }
    ckeras_set_num_threads(0);
    ckeras_fit_args_free(a);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}
END_TEST

/* x -> Conv2D(filters, k, strides s, padding, activation) -> [Activation(linear) when apart]
 * -> MaxPooling2D(2) -> output 0, and the convolution's output -> GlobalAveragePooling2D ->
 * output 1 (a second reader, which must see the convolution's whole output) */
static ckeras_model *conv_pool_net(int64_t h, int64_t c, int64_t filters, int64_t k, int64_t s, const char *padding,
                                   const char *act, bool apart)
{
    ckeras_set_random_seed(5);
    ckeras_model *m = ckeras_functional("conv_pool");
    int x, z, a, p, gap;
    ckeras_layer *conv = ckeras_conv2d(filters, k, k, act);
    ck_assert_int_eq(ckeras_layer_set_ints(conv, "strides", 2, (const int64_t[]){s, s}), CKERAS_OK);
    ck_assert_int_eq(ckeras_layer_set_str(conv, "padding", padding), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_input(m, ckeras_input(3, (const int64_t[]){h, h, c}), &x), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_call(m, conv, 1, &x, &z), CKERAS_OK);
    a = z;
    if (apart)
        ck_assert_int_eq(ckeras_model_call(m, ckeras_activation("linear"), 1, &z, &a), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_call(m, ckeras_max_pooling2d(2, 2), 1, &a, &p), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_call(m, ckeras_global_average_pooling2d(), 1, &z, &gap), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_set_outputs(m, 2, (const int[]){p, gap}), CKERAS_OK);
    return m;
}

/* A convolution that pools each image as it makes it (ck_fwd.pool) predicts the same bits as
 * the pooling on its own after it: even and odd sizes (edge cells in no window), narrow and
 * wide channel axes, padding, relu or no activation, 1 and 2 threads, with a second reader of
 * the convolution's output. The fused pooling ran once per image, and not at all for an
 * activation applied after the product (tanh), a strided convolution (im2col, not the gathered
 * product) or the model kept apart. */
START_TEST(conv_pooling_forward_predicts_the_same)
{
    static const struct {
        int64_t h, c, filters, k, s;
        const char *padding, *act;
        bool fuses;
    } cases[] = {{12, 3, 32, 3, 1, "valid", "relu", true},  {13, 2, 64, 3, 1, "valid", "relu", true},
                 {9, 1, 6, 3, 1, "same", "relu", true},     {10, 3, 20, 2, 1, "valid", "linear", true},
                 {12, 3, 32, 3, 1, "valid", "tanh", false}, {11, 4, 16, 3, 2, "same", "relu", false}};
    const int64_t n = 12;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        for (int threads = 1; threads <= 2; threads++) {
            ckeras_set_num_threads(threads);
            const int64_t h = cases[t].h, c = cases[t].c;
            ckeras_tensor *x = ckeras_tensor_new(4, (const int64_t[]){n, h, h, c});
            for (int64_t i = 0; i < n * h * h * c; i++) /* ties and zeros among the values */
                ckeras_tensor_data(x)[i] = i % 5 == 0 ? 0.0f : (float)((i * 7919) % 2000) / 1000.0f - 1.0f;
            ckeras_tensor *out[2][2];
            uint64_t images[2];
            for (int k = 0; k < 2; k++) {
                ckeras_model *m = conv_pool_net(h, c, cases[t].filters, cases[t].k, cases[t].s, cases[t].padding,
                                                cases[t].act, k == 1);
                const uint64_t before = ck_conv_pooled_images();
                ck_assert_int_eq(ckeras_model_predict_outputs(m, 1, (const ckeras_tensor *const[]){x}, 8, 2, out[k]),
                                 CKERAS_OK);
                images[k] = ck_conv_pooled_images() - before;
                ckeras_model_free(m);
            }
            ck_assert_msg(images[0] == (cases[t].fuses ? (uint64_t)n : 0) && images[1] == 0,
                          "case %zu, %d threads: %llu and %llu images pooled by the convolution", t, threads,
                          (unsigned long long)images[0], (unsigned long long)images[1]);
            for (int o = 0; o < 2; o++) {
                const int64_t size = ckeras_tensor_size(out[0][o]);
                ck_assert_int_eq(size, ckeras_tensor_size(out[1][o]));
                ck_assert_msg(memcmp(ckeras_tensor_data(out[0][o]), ckeras_tensor_data(out[1][o]),
                                     (size_t)size * sizeof(float)) == 0,
                              "case %zu, %d threads: output %d differs", t, threads, o);
                ckeras_tensor_free(out[0][o]);
                ckeras_tensor_free(out[1][o]);
            }
            ckeras_tensor_free(x);
        }
    }
    ckeras_set_num_threads(0);
}
END_TEST

/* col2im of whole images (dx rows summed in registers on AVX-512) against the same rows added
 * window row by window row (a range that starts inside an image takes that path): the same
 * floats, dx starting from values of its own and -0 among the columns. */
START_TEST(col2im_whole_images_equal_row_by_row)
{
    ck_rng r;
    ck_rng_seed(&r, 9);
    /* h, c, k, stride, padding same (1) or valid (0) */
    static const int64_t geoms[][5] = {{14, 6, 5, 1, 0}, {13, 32, 3, 1, 0}, {9, 3, 3, 2, 1}, {28, 1, 5, 1, 1},
                                       {7, 20, 2, 1, 1}, {12, 4, 4, 3, 0}, {16, 8, 3, 1, 1}, {7, 12, 3, 1, 1}};
    for (size_t s = 0; s < sizeof geoms / sizeof geoms[0]; s++) {
        ck_conv_geom g = {0};
        g.h = g.w = geoms[s][0], g.c = geoms[s][1], g.kh = g.kw = geoms[s][2], g.sh = g.sw = geoms[s][3];
        g.dh = g.dw = 1;
        const ck_pad_mode mode = geoms[s][4] ? CK_PAD_SAME : CK_PAD_VALID;
        ck_assert(ck_conv_axis(mode, g.h, g.kh, g.sh, 1, &g.oh, &g.pt));
        ck_assert(ck_conv_axis(mode, g.w, g.kw, g.sw, 1, &g.ow, &g.pl));
        const int64_t n = 3, pos = g.oh * g.ow, K = g.kh * g.kw * g.c, in = g.h * g.w * g.c;
        float *cols = malloc((size_t)(n * pos * K) * sizeof(float));
        float *a = malloc((size_t)(n * in) * sizeof(float)), *b = malloc((size_t)(n * in) * sizeof(float));
        for (int64_t i = 0; i < n * pos * K; i++)
            cols[i] = i % 7 == 0 ? -0.0f : (float)ck_rng_normal(&r);
        for (int64_t i = 0; i < n * in; i++)
            a[i] = b[i] = (float)ck_rng_normal(&r);
        ck_col2im(&g, cols, 0, n * pos, a);
        for (int64_t i = 0; i < n; i++) { /* each image's first window alone, then the rest */
            ck_col2im(&g, cols + i * pos * K, i * pos, i * pos + 1, b);
            ck_col2im(&g, cols + (i * pos + 1) * K, i * pos + 1, (i + 1) * pos, b);
        }
        ck_assert_msg(memcmp(a, b, (size_t)(n * in) * sizeof(float)) == 0, "geometry %zu differs", s);
        free(cols), free(a), free(b);
    }
}
END_TEST

START_TEST(optimizer_threads_give_the_same_floats)
{
    const size_t n = 300000;
    const size_t off[4] = {0, 1000, 200000, n};
    ck_rng r;
    ck_rng_seed(&r, 3);
    for (int kind = 0; kind < CK_OPT_COUNT; kind++) {
        float *p1 = malloc(n * sizeof(float)), *g1 = malloc(n * sizeof(float));
        float *p2 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
        ckeras_optimizer *o1 = ck_optimizer_new((ck_opt_kind)kind), *o2 = ck_optimizer_new((ck_opt_kind)kind);
        ck_assert_ptr_nonnull(o1);
        ck_assert_int_eq(ck_optimizer_build(o1, n), CKERAS_OK);
        ck_assert_int_eq(ck_optimizer_build(o2, n), CKERAS_OK);
        fill(p1, (int64_t)n, &r, 1.0);
        memcpy(p2, p1, n * sizeof(float));
        for (int step = 0; step < 3; step++) {
            fill(g1, (int64_t)n, &r, step == 2 ? 1e-20 : 1.0); /* the last step drives moments tiny */
            memcpy(g2, g1, n * sizeof(float));
            ckeras_set_num_threads(1);
            ck_optimizer_apply(o1, p1, g1, off, 3);
            ckeras_set_num_threads(2);
            ck_optimizer_apply(o2, p2, g2, off, 3);
        }
        ckeras_set_num_threads(0);
        ck_assert_msg(memcmp(p1, p2, n * sizeof(float)) == 0, "%s: 1 and 2 threads differ", ck_optimizer_class(o1));
        ck_optimizer_free(o1);
        ck_optimizer_free(o2);
        free(p1), free(g1), free(p2), free(g2);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fused");
    TCase *tc = tcase_create("fused");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, fused_dense_epilogues_equal_separate_calls);
    tcase_add_test(tc, optimizer_threads_give_the_same_floats);
    tcase_add_test(tc, col2im_whole_images_equal_row_by_row);
    tcase_add_test(tc, pixconv_equals_gathered_gemm);
    tcase_add_test(tc, maxpool_2x2_equals_window_scan);
    tcase_add_test(tc, maxpool_relu_backward_equals_two_passes);
    tcase_add_test(tc, relu_below_pooling_trains_the_same);
    tcase_add_test(tc, conv_pooling_forward_predicts_the_same);
    tcase_add_test(tc, adam_fused_into_kernel_gradients_trains_the_same);
    tcase_add_test(tc, tn_adam_equals_product_then_update);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
