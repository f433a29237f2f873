/* Depthwise convolution on NHWC images (DepthwiseConv2D, and the first half of SeparableConv2D).
 * Plain pointers, no allocation.
 *
 * The kernel W is Keras' (kh, kw, c, dm); read row-major, the weights of one window cell (tap)
 * are one run of C = c*dm floats indexed by the output channel o = ch*dm + m, so every tap is an
 * elementwise multiply-add between a run of the input (channel o/dm) and a run of the output.
 * Loops keep channels innermost (vectorised). Direct loops rather than im2col: the layer is
 * memory-bound, and the columns would be kh*kw times the input.
 *
 * Threads: the forward splits output rows (image, oy), the input gradient input rows (it is
 * written as a gather, so rows never share output), the kernel gradient blocks of channels;
 * each only when the work is large.
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

#include <string.h>

/* Below this many multiply-adds, a call stays on the calling thread. */
#define CK_DW_PAR_MIN ((int64_t)1 << 18)

static int dw_threads(int64_t tasks, int64_t madds)
{
    if (tasks < 2 || madds < CK_DW_PAR_MIN)
        return 1;
    int nt = ck_num_threads();
    return nt > tasks ? (int)tasks : nt;
}

/* y (C) += x (c) spread over dm * w (C), channels [c0, c1) of the input */
static inline void tap_fwd(float *restrict y, const float *restrict x, const float *restrict w, int64_t c0,
                           int64_t c1, int64_t dm)
{
    if (dm == 1) {
#pragma omp simd
        for (int64_t ch = c0; ch < c1; ch++)
            y[ch] += x[ch] * w[ch];
        return;
    }
    for (int64_t ch = c0; ch < c1; ch++) {
        const float xv = x[ch];
        for (int64_t m = 0; m < dm; m++)
            y[ch * dm + m] += xv * w[ch * dm + m];
    }
}

/* Output channels accumulated in registers at a time (dm == 1). */
#define CK_DW_VBLOCK 32

/* y (C) of output (oy, ox) of image xi (h, w, c) */
static void forward_pixel(const ck_conv_geom *g, int64_t dm, const float *xi, const float *W, int64_t oy, int64_t ox,
                          float *restrict yo)
{
    const int64_t c = g->c, C = c * dm;
    const int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
    if (dm == 1) {
        /* blocks of channels summed over the whole window in registers, stored once */
        for (int64_t c0 = 0; c0 < C; c0 += CK_DW_VBLOCK) {
            const int64_t nb = C - c0 < CK_DW_VBLOCK ? C - c0 : CK_DW_VBLOCK;
            float acc[CK_DW_VBLOCK] = {0};
            for (int64_t ky = 0; ky < g->kh; ky++) {
                const int64_t iy = iy0 + ky * g->dh;
                if (iy < 0 || iy >= g->h)
                    continue;
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    const int64_t ix = ix0 + kx * g->dw;
                    if (ix < 0 || ix >= g->w)
                        continue;
                    const float *restrict xv = xi + (iy * g->w + ix) * c + c0;
                    const float *restrict wv = W + (ky * g->kw + kx) * C + c0;
                    if (nb == CK_DW_VBLOCK) {
#pragma omp simd
                        for (int64_t j = 0; j < CK_DW_VBLOCK; j++)
                            acc[j] += xv[j] * wv[j];
                    } else {
                        for (int64_t j = 0; j < nb; j++)
                            acc[j] += xv[j] * wv[j];
                    }
                }
            }
            memcpy(yo + c0, acc, (size_t)nb * sizeof(float));
        }
        return;
    }
    memset(yo, 0, (size_t)C * sizeof(float));
    for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = iy0 + ky * g->dh;
        if (iy < 0 || iy >= g->h)
            continue;
        for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            if (ix >= 0 && ix < g->w)
                tap_fwd(yo, xi + (iy * g->w + ix) * c, W + (ky * g->kw + kx) * C, 0, c, dm);
        }
    }
}

/* The operands of one pass; threads split its rows (forward: output rows, backward input:
 * input rows) or its channel blocks (kernel gradient). */
typedef struct dw_job {
    const ck_conv_geom *g;
    int64_t dm, n;
    const float *a, *b; /* forward: x, W; input gradient: dy, W; kernel gradient: x, dy */
    float *out;
    int64_t bc, blocks; /* kernel gradient: channels per block, blocks */
} dw_job;

static void forward_part(void *ctx, int t, int T)
{
    const dw_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const int64_t c = g->c, C = c * j->dm;
    int64_t r0, r1;
    ck_par_range(j->n * g->oh, t, T, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i = r / g->oh, oy = r % g->oh;
        const float *xi = j->a + i * g->h * g->w * c;
        for (int64_t ox = 0; ox < g->ow; ox++)
            forward_pixel(g, j->dm, xi, j->b, oy, ox, j->out + (r * g->ow + ox) * C);
    }
}

void ck_depthwise_forward(const ck_conv_geom *g, int64_t dm, const float *x, const float *W, int64_t n, float *y)
{
    const int64_t rows = n * g->oh;
    dw_job j = {g, dm, n, x, W, y, 0, 0};
    ck_parallel(dw_threads(rows, rows * g->ow * g->kh * g->kw * g->c * dm), forward_part, &j);
}

/* The output position a tap reads input position i from along one axis: o with o*s - p + k*d
 * == i, or -1 when there is none. */
static inline int64_t src_of(int64_t i, int64_t k, int64_t s, int64_t p, int64_t d, int64_t out)
{
    const int64_t t = i + p - k * d;
    if (t < 0 || t % s != 0 || t / s >= out)
        return -1;
    return t / s;
}

static void input_part(void *ctx, int t, int T)
{
    const dw_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const int64_t c = g->c, C = c * j->dm;
    int64_t r0, r1;
    ck_par_range(j->n * g->h, t, T, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i = r / g->h, iy = r % g->h;
        const float *dyi = j->a + i * g->oh * g->ow * C;
        for (int64_t ix = 0; ix < g->w; ix++) {
            float *restrict d = j->out + (r * g->w + ix) * c; /* (c) */
            memset(d, 0, (size_t)c * sizeof(float));
            for (int64_t ky = 0; ky < g->kh; ky++) {
                const int64_t oy = src_of(iy, ky, g->sh, g->pt, g->dh, g->oh);
                if (oy < 0)
                    continue;
                for (int64_t kx = 0; kx < g->kw; kx++) {
                    const int64_t ox = src_of(ix, kx, g->sw, g->pl, g->dw, g->ow);
                    if (ox < 0)
                        continue;
                    const float *restrict e = dyi + (oy * g->ow + ox) * C, *restrict w = j->b + (ky * g->kw + kx) * C;
                    if (j->dm == 1) {
#pragma omp simd
                        for (int64_t ch = 0; ch < c; ch++)
                            d[ch] += e[ch] * w[ch];
                    } else {
                        for (int64_t ch = 0; ch < c; ch++) {
                            float s = 0.0f;
                            for (int64_t m = 0; m < j->dm; m++)
                                s += e[ch * j->dm + m] * w[ch * j->dm + m];
                            d[ch] += s;
                        }
                    }
                }
            }
        }
    }
}

void ck_depthwise_backward_input(const ck_conv_geom *g, int64_t dm, const float *dy, const float *W, int64_t n,
                                 float *dx)
{
    dw_job j = {g, dm, n, dy, W, dx, 0, 0};
    ck_parallel(dw_threads(n * g->h, n * g->oh * g->ow * g->kh * g->kw * g->c * dm), input_part, &j);
}

static void kernel_part(void *ctx, int t, int T)
{
    const dw_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const int64_t c = g->c, C = c * j->dm, taps = g->kh * g->kw;
    int64_t b0, b1;
    ck_par_range(j->blocks, t, T, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) {
        const int64_t c0 = b * j->bc, c1 = c0 + j->bc < c ? c0 + j->bc : c;
        for (int64_t tap = 0; tap < taps; tap++)
            memset(j->out + tap * C + c0 * j->dm, 0, (size_t)((c1 - c0) * j->dm) * sizeof(float));
        for (int64_t i = 0; i < j->n; i++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++) {
                    const float *e = j->b + ((i * g->oh + oy) * g->ow + ox) * C; /* (C) */
                    for (int64_t ky = 0; ky < g->kh; ky++) {
                        const int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                        if (iy < 0 || iy >= g->h)
                            continue;
                        const float *xr = j->a + (i * g->h + iy) * g->w * c;
                        for (int64_t kx = 0; kx < g->kw; kx++) {
                            const int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                            if (ix >= 0 && ix < g->w) /* dW[tap][o] += x[o/dm] * dy[o] */
                                tap_fwd(j->out + (ky * g->kw + kx) * C, xr + ix * c, e, c0, c1, j->dm);
                        }
                    }
                }
    }
}

void ck_depthwise_backward_kernel(const ck_conv_geom *g, int64_t dm, const float *x, const float *dy, int64_t n,
                                  float *dW)
{
    const int64_t c = g->c, C = c * dm, taps = g->kh * g->kw;
    /* Each task owns input channels [c0, c1) of every tap and makes one pass over the batch, so
     * x and dy are read once in total and its part of dW stays in cache. Blocks are multiples
     * of 16 channels, one per thread at most. */
    const int64_t madds = n * g->oh * g->ow * taps * C;
    int64_t blocks = dw_threads((c + 15) / 16, madds);
    const int64_t bc = ((c + blocks - 1) / blocks + 15) / 16 * 16;
    blocks = (c + bc - 1) / bc;
    dw_job j = {g, dm, n, x, dy, dW, bc, blocks};
    ck_parallel((int)blocks, kernel_part, &j);
}
