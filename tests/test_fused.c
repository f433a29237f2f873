/* Fast paths against the plain ones: the fused Dense epilogues give exactly the floats of the
 * separate calls, the optimizer gives the same floats on 1 and 2 threads, the pixel-vectorised
 * single-channel convolution gives the gathered GEMM's floats (forward: bit for bit; kernel
 * gradient: within 1e-6 relative of a double sum), and the permuting transpose and 2x2 max
 * pooling give exactly the plain loops' results. */
#include "kernels/kernels.h"
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
    suite_add_tcase(s, tc);
    return tu_run(s);
}
