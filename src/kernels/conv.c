/* Convolution and pooling kernels on NHWC images: im2col/col2im for the GEMM convolution,
 * max/average pooling (windowed and global). Plain pointers, no allocation.
 *
 * Every loop keeps the channel axis innermost, so a window cell is one contiguous run of c
 * floats and, with dilation 1, a window row is one run of kw*c floats. Batches whose work is
 * large are split by image across ck_num_threads() threads (images never share output). */
#include "kernels.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Below this many floats moved, a batch stays on the calling thread (waking another thread
 * costs tens of microseconds). */
#define CK_CONV_PAR_MIN ((int64_t)1 << 18)

static int threads_for(int64_t n, int64_t floats)
{
    if (n < 2 || floats < CK_CONV_PAR_MIN)
        return 1;
    int nt = ck_num_threads();
    return nt > n ? (int)n : nt;
}

void ck_conv_axis(ck_pad_mode mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *before)
{
    int64_t span = (k - 1) * d + 1; /* the dilated window */
    if (mode == CK_PAD_VALID) {
        *out = in >= span ? (in - span) / s + 1 : 0;
        *before = 0;
        return;
    }
    *out = (in + s - 1) / s;
    if (mode == CK_PAD_CAUSAL) {
        *before = span - 1;
        return;
    }
    int64_t total = (*out - 1) * s + span - in;
    *before = total > 0 ? total / 2 : 0;
}

/* ---- im2col / col2im ------------------------------------------------------------------------ */

static void copy_floats(float *restrict dst, const float *restrict src, int64_t n)
{
    if (n >= 16) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++)
        dst[i] = src[i];
}

static void zero_floats(float *dst, int64_t n)
{
    memset(dst, 0, (size_t)n * sizeof(float));
}

static void add_floats(float *restrict dst, const float *restrict src, int64_t n)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}

/* one row of the im2col matrix: the window of output (oy, ox) of image x (h, w, c) */
static void im2col_row(const ck_conv_geom *g, const float *x, int64_t oy, int64_t ox, float *row)
{
    const int64_t c = g->c, kwc = g->kw * c;
    const int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
    const bool inside_x = ix0 >= 0 && ix0 + (g->kw - 1) * g->dw < g->w;
    for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = iy0 + ky * g->dh;
        float *dst = row + ky * kwc;
        if (iy < 0 || iy >= g->h) {
            zero_floats(dst, kwc);
            continue;
        }
        const float *src = x + iy * g->w * c;
        if (inside_x && g->dw == 1) {
            copy_floats(dst, src + ix0 * c, kwc);
            continue;
        }
        for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            if (ix < 0 || ix >= g->w)
                zero_floats(dst + kx * c, c);
            else
                copy_floats(dst + kx * c, src + ix * c, c);
        }
    }
}

/* dx (h, w, c) of one image += one row of the im2col matrix, the window of output (oy, ox) */
static void col2im_row(const ck_conv_geom *g, const float *row, int64_t oy, int64_t ox, float *dx)
{
    const int64_t c = g->c, kwc = g->kw * c;
    const int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
    const bool inside_x = ix0 >= 0 && ix0 + (g->kw - 1) * g->dw < g->w;
    for (int64_t ky = 0; ky < g->kh; ky++) {
        const int64_t iy = iy0 + ky * g->dh;
        if (iy < 0 || iy >= g->h)
            continue;
        const float *src = row + ky * kwc;
        float *dst = dx + iy * g->w * c;
        if (inside_x && g->dw == 1) {
            add_floats(dst + ix0 * c, src, kwc);
            continue;
        }
        for (int64_t kx = 0; kx < g->kw; kx++) {
            const int64_t ix = ix0 + kx * g->dw;
            if (ix >= 0 && ix < g->w)
                add_floats(dst + ix * c, src + kx * c, c);
        }
    }
}

void ck_im2col(const ck_conv_geom *g, const float *x, int64_t r0, int64_t r1, float *cols)
{
    const int64_t in = g->h * g->w * g->c, pos = g->oh * g->ow, K = g->kh * g->kw * g->c;
    /* rows are independent: split them evenly, each thread walking its own range */
    const int nt = threads_for(r1 - r0, (r1 - r0) * K);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        int64_t a = r0 + (r1 - r0) * t / T, b = r0 + (r1 - r0) * (t + 1) / T;
        int64_t img = a / pos, p = a % pos, oy = p / g->ow, ox = p % g->ow;
        for (int64_t r = a; r < b; r++) {
            im2col_row(g, x + img * in, oy, ox, cols + (r - r0) * K);
            if (++ox == g->ow) {
                ox = 0;
                if (++oy == g->oh) {
                    oy = 0;
                    img++;
                }
            }
        }
    }
}

void ck_col2im(const ck_conv_geom *g, const float *cols, int64_t r0, int64_t r1, float *dx)
{
    const int64_t in = g->h * g->w * g->c, pos = g->oh * g->ow, K = g->kh * g->kw * g->c;
    /* windows of one image overlap, so threads take whole images */
    const int64_t first = r0 / pos, last = (r1 - 1) / pos;
    const int nt = threads_for(last - first + 1, (r1 - r0) * K);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t img = first; img <= last; img++) {
        int64_t a = img * pos > r0 ? img * pos : r0, b = (img + 1) * pos < r1 ? (img + 1) * pos : r1;
        for (int64_t r = a; r < b; r++) {
            int64_t p = r - img * pos;
            col2im_row(g, cols + (r - r0) * K, p / g->ow, p % g->ow, dx + img * in);
        }
    }
}

/* ---- windowed pooling ----------------------------------------------------------------------- */

/* The window of output (oy, ox) clipped to the image: rows [*y0, *y1), columns [*x0, *x1). */
static void window(const ck_conv_geom *g, int64_t oy, int64_t ox, int64_t *y0, int64_t *y1, int64_t *x0,
                   int64_t *x1)
{
    int64_t a = oy * g->sh - g->pt, b = ox * g->sw - g->pl;
    *y0 = a < 0 ? 0 : a;
    *y1 = a + g->kh > g->h ? g->h : a + g->kh;
    *x0 = b < 0 ? 0 : b;
    *x1 = b + g->kw > g->w ? g->w : b + g->kw;
}

static void maxpool_image(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
{
    const int64_t c = g->c;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t y0, y1, x0, x1;
            window(g, oy, ox, &y0, &y1, &x0, &x1);
            float *restrict out = y + (oy * g->ow + ox) * c;
            int32_t *a = arg ? arg + (oy * g->ow + ox) * c : NULL;
            bool first = true;
            for (int64_t iy = y0; iy < y1; iy++) {
                for (int64_t ix = x0; ix < x1; ix++) {
                    const int64_t base = (iy * g->w + ix) * c;
                    const float *restrict v = x + base;
                    if (first) {
                        copy_floats(out, v, c);
                        if (a)
                            for (int64_t ch = 0; ch < c; ch++)
                                a[ch] = (int32_t)(base + ch);
                        first = false;
                        continue;
                    }
                    if (a) {
                        const int32_t b32 = (int32_t)base;
#pragma omp simd
                        for (int64_t ch = 0; ch < c; ch++) {
                            const bool gt = v[ch] > out[ch];
                            out[ch] = gt ? v[ch] : out[ch];
                            a[ch] = gt ? b32 + (int32_t)ch : a[ch];
                        }
                    } else {
#pragma omp simd
                        for (int64_t ch = 0; ch < c; ch++)
                            out[ch] = v[ch] > out[ch] ? v[ch] : out[ch];
                    }
                }
            }
        }
    }
}

void ck_maxpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y, int32_t *argmax)
{
    const int64_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    const int nt = threads_for(n, n * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < n; b++)
        maxpool_image(g, x + b * in, y + b * out, argmax ? argmax + b * out : NULL);
}

void ck_maxpool_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, int64_t n, float *dx)
{
    const int64_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    const int nt = threads_for(n, n * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < n; b++) {
        float *d = dx + b * in;
        const float *g_ = dy + b * out;
        const int32_t *a = argmax + b * out;
        zero_floats(d, in);
        for (int64_t i = 0; i < out; i++)
            d[a[i]] += g_[i];
    }
}

static void avgpool_image(const ck_conv_geom *g, const float *x, float *y)
{
    const int64_t c = g->c;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t y0, y1, x0, x1;
            window(g, oy, ox, &y0, &y1, &x0, &x1);
            float *restrict out = y + (oy * g->ow + ox) * c;
            zero_floats(out, c);
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++)
                    add_floats(out, x + (iy * g->w + ix) * c, c);
            const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
#pragma omp simd
            for (int64_t ch = 0; ch < c; ch++)
                out[ch] *= inv;
        }
    }
}

static void avgpool_back_image(const ck_conv_geom *g, const float *dy, float *dx)
{
    const int64_t c = g->c;
    zero_floats(dx, g->h * g->w * c);
    for (int64_t oy = 0; oy < g->oh; oy++) {
        for (int64_t ox = 0; ox < g->ow; ox++) {
            int64_t y0, y1, x0, x1;
            window(g, oy, ox, &y0, &y1, &x0, &x1);
            const float *restrict d = dy + (oy * g->ow + ox) * c;
            const float inv = 1.0f / (float)((y1 - y0) * (x1 - x0));
            for (int64_t iy = y0; iy < y1; iy++) {
                for (int64_t ix = x0; ix < x1; ix++) {
                    float *restrict t = dx + (iy * g->w + ix) * c;
#pragma omp simd
                    for (int64_t ch = 0; ch < c; ch++)
                        t[ch] += d[ch] * inv;
                }
            }
        }
    }
}

void ck_avgpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y)
{
    const int64_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    const int nt = threads_for(n, n * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < n; b++)
        avgpool_image(g, x + b * in, y + b * out);
}

void ck_avgpool_backward(const ck_conv_geom *g, const float *dy, int64_t n, float *dx)
{
    const int64_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    const int nt = threads_for(n, n * (in + out));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t b = 0; b < n; b++)
        avgpool_back_image(g, dy + b * out, dx + b * in);
}

/* ---- global pooling ------------------------------------------------------------------------- */

void ck_global_avgpool_forward(const float *x, int64_t n, int64_t s, int64_t c, float *y)
{
    const float inv = 1.0f / (float)s;
    for (int64_t b = 0; b < n; b++) {
        float *restrict out = y + b * c;
        zero_floats(out, c);
        for (int64_t p = 0; p < s; p++)
            add_floats(out, x + (b * s + p) * c, c);
#pragma omp simd
        for (int64_t ch = 0; ch < c; ch++)
            out[ch] *= inv;
    }
}

void ck_global_avgpool_backward(const float *dy, int64_t n, int64_t s, int64_t c, float *dx)
{
    const float inv = 1.0f / (float)s;
    for (int64_t b = 0; b < n; b++) {
        const float *restrict d = dy + b * c;
        for (int64_t p = 0; p < s; p++) {
            float *restrict t = dx + (b * s + p) * c;
#pragma omp simd
            for (int64_t ch = 0; ch < c; ch++)
                t[ch] = d[ch] * inv;
        }
    }
}

void ck_global_maxpool_forward(const float *x, int64_t n, int64_t s, int64_t c, float *y, int32_t *argmax)
{
    for (int64_t b = 0; b < n; b++) {
        float *restrict out = y + b * c;
        int32_t *a = argmax ? argmax + b * c : NULL;
        copy_floats(out, x + b * s * c, c);
        if (a)
            memset(a, 0, (size_t)c * sizeof *a);
        for (int64_t p = 1; p < s; p++) {
            const float *restrict v = x + (b * s + p) * c;
            for (int64_t ch = 0; ch < c; ch++) {
                if (v[ch] > out[ch]) {
                    out[ch] = v[ch];
                    if (a)
                        a[ch] = (int32_t)p;
                }
            }
        }
    }
}

void ck_global_maxpool_backward(const float *dy, const int32_t *argmax, int64_t n, int64_t s, int64_t c,
                                float *dx)
{
    zero_floats(dx, n * s * c);
    for (int64_t b = 0; b < n; b++)
        for (int64_t ch = 0; ch < c; ch++)
            dx[(b * s + argmax[b * c + ch]) * c + ch] = dy[b * c + ch];
}
