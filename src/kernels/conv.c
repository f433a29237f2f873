/* Convolution and pooling kernels on NHWC images: im2col/col2im for the GEMM convolution,
 * max/average pooling (windowed and global). Plain pointers, no allocation.
 *
 * Every loop keeps the channel axis innermost, so a window cell is one contiguous run of c
 * floats and, with dilation 1, a window row is one run of kw*c floats. Batches whose work is
 * large are split by image across ck_num_threads() threads (images never share output).
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(CK_CONV_PORTABLE)
#define CK_CONV_X86_PRE 1 /* CK_CONV_X86 below: the vector kernels */
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

bool ck_conv_axis(ck_pad_mode mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *before)
{
    int64_t span = ck_size_add(ck_size_mul(k - 1, d), 1); /* the dilated window */
    *out = *before = 0;
    if (span < 1 || span > CKERAS_MAX_SIZE_LIMIT || in < 0 || s < 1)
        return false;
    if (mode == CK_PAD_VALID) {
        *out = in >= span ? (in - span) / s + 1 : 0;
        return true;
    }
    *out = in / s + (in % s != 0);
    if (mode == CK_PAD_CAUSAL) {
        *before = span - 1;
        return true;
    }
    int64_t total = ck_size_add(ck_size_mul(*out > 0 ? *out - 1 : 0, s), span) - in; /* both terms <= 2^49 */
    *before = total > 0 ? total / 2 : 0;
    return true;
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

static int gg_level(void);
#ifdef CK_CONV_X86_PRE
static void add_floats512(float *restrict dst, const float *restrict src, int64_t n);
static bool col2im_image512(const ck_conv_geom *g, const float *cols, float *dx);
#endif

static void add_floats(float *restrict dst, const float *restrict src, int64_t n)
{
#ifdef CK_CONV_X86_PRE
    if (n >= 8 && gg_level() == 2) { /* the library's baseline is SSE2: 4 floats per add */
        add_floats512(dst, src, n);
        return;
    }
#endif
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

/* The depth axis of a 2D geometry: one slice, one tap. */
static const ck_conv_depth flat = {1, 1, 1, 1, 0, 1};

typedef struct cols_job {
    const ck_conv_geom *g;
    const ck_conv_depth *z;
    const float *x;     /* im2col: the images */
    int64_t r0, r1;     /* rows of the column matrix */
    float *cols;        /* im2col: the columns made */
    const float *ccols; /* col2im: the columns read */
    float *dx;          /* col2im: the images added to */
} cols_job;

static void im2col_part(void *ctx, int t, int T)
{
    const cols_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const ck_conv_depth *z = j->z;
    const int64_t slice = g->h * g->w * g->c, pos = g->oh * g->ow, K2 = g->kh * g->kw * g->c, K = z->kd * K2;
    int64_t a, b;
    ck_par_range(j->r1 - j->r0, t, T, &a, &b);
    a += j->r0;
    b += j->r0;
    int64_t vol = a / pos, p = a % pos, oy = p / g->ow, ox = p % g->ow; /* vol = image*od + oz */
    for (int64_t r = a; r < b; r++) {
        const int64_t img = vol / z->od, oz = vol % z->od;
        float *row = j->cols + (r - j->r0) * K;
        for (int64_t kz = 0; kz < z->kd; kz++) {
            const int64_t iz = oz * z->sd - z->pf + kz * z->dd;
            if (iz < 0 || iz >= z->d)
                zero_floats(row + kz * K2, K2);
            else
                im2col_row(g, j->x + (img * z->d + iz) * slice, oy, ox, row + kz * K2);
        }
        if (++ox == g->ow) {
            ox = 0;
            if (++oy == g->oh) {
                oy = 0;
                vol++;
            }
        }
    }
}

void ck_im2col3d(const ck_conv_geom *g, const ck_conv_depth *z, const float *x, int64_t r0, int64_t r1, float *cols)
{
    z = z ? z : &flat;
    const int64_t K = z->kd * g->kh * g->kw * g->c;
    /* rows are independent: split them evenly, each thread walking its own range */
    cols_job j = {g, z, x, r0, r1, cols, NULL, NULL};
    ck_parallel(threads_for(r1 - r0, (r1 - r0) * K), im2col_part, &j);
}

void ck_im2col(const ck_conv_geom *g, const float *x, int64_t r0, int64_t r1, float *cols)
{
    ck_im2col3d(g, NULL, x, r0, r1, cols);
}

/* windows of one image overlap, so threads take whole images */
static void col2im_part(void *ctx, int t, int T)
{
    const cols_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const ck_conv_depth *z = j->z;
    const int64_t slice = g->h * g->w * g->c, K2 = g->kh * g->kw * g->c, K = z->kd * K2;
    const int64_t pos = z->od * g->oh * g->ow, in = z->d * slice, plane = g->oh * g->ow;
    const int64_t first = j->r0 / pos, last = (j->r1 - 1) / pos;
    int64_t i0, i1;
    ck_par_range(last - first + 1, t, T, &i0, &i1);
    for (int64_t img = first + i0; img < first + i1; img++) {
        int64_t a = img * pos > j->r0 ? img * pos : j->r0, b = (img + 1) * pos < j->r1 ? (img + 1) * pos : j->r1;
#ifdef CK_CONV_X86_PRE
        if (z->kd == 1 && g->dh == 1 && g->dw == 1 && a == img * pos && b == (img + 1) * pos && gg_level() == 2 &&
            col2im_image512(g, j->ccols + (a - j->r0) * K, j->dx + img * in))
            continue;
#endif
        for (int64_t r = a; r < b; r++) {
            const int64_t p = r - img * pos, oz = p / plane, q = p % plane;
            for (int64_t kz = 0; kz < z->kd; kz++) {
                const int64_t iz = oz * z->sd - z->pf + kz * z->dd;
                if (iz >= 0 && iz < z->d)
                    col2im_row(g, j->ccols + (r - j->r0) * K + kz * K2, q / g->ow, q % g->ow,
                               j->dx + img * in + iz * slice);
            }
        }
    }
}

void ck_col2im3d(const ck_conv_geom *g, const ck_conv_depth *z, const float *cols, int64_t r0, int64_t r1, float *dx)
{
    z = z ? z : &flat;
    const int64_t K = z->kd * g->kh * g->kw * g->c, pos = z->od * g->oh * g->ow;
    cols_job j = {g, z, NULL, r0, r1, NULL, cols, dx};
    ck_parallel(threads_for((r1 - 1) / pos - r0 / pos + 1, (r1 - r0) * K), col2im_part, &j);
}

void ck_col2im(const ck_conv_geom *g, const float *cols, int64_t r0, int64_t r1, float *dx)
{
    ck_col2im3d(g, NULL, cols, r0, r1, dx);
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

/* The per-image pooling loops below are also compiled for AVX-512 and AVX2 (CK_CLONES): over
 * 16 or more channels they are elementwise, and at SSE's 4 lanes the pooling of the
 * Fashion-MNIST example's 32- and 64-channel layers was 12 % of its training. Comparisons,
 * selections and sums in the same order: the same floats in every version. */

CK_CLONES static void maxpool_image(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
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

/* The common 2x2 window with stride 2 whose windows all lie inside the image: four runs of c
 * floats per output, compared in window order (ties keep the first). */
CK_CLONES static void maxpool2x2_image(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
{
    const int64_t c = g->c, row = g->w * c;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t base = (2 * oy * g->w + 2 * ox) * c;
            const float *restrict p0 = x + base, *restrict p1 = p0 + c, *restrict p2 = p0 + row,
                                  *restrict p3 = p2 + c;
            float *restrict out = y + (oy * g->ow + ox) * c;
            if (!arg) {
#pragma omp simd
                for (int64_t ch = 0; ch < c; ch++) {
                    const float m01 = p1[ch] > p0[ch] ? p1[ch] : p0[ch], m23 = p3[ch] > p2[ch] ? p3[ch] : p2[ch];
                    out[ch] = m23 > m01 ? m23 : m01;
                }
                continue;
            }
            int32_t *restrict a = arg + (oy * g->ow + ox) * c;
            const int32_t b0 = (int32_t)base, b1 = (int32_t)(base + c), b2 = (int32_t)(base + row),
                          b3 = (int32_t)(base + row + c);
#pragma omp simd
            for (int64_t ch = 0; ch < c; ch++) {
                float m = p0[ch];
                int32_t k = b0;
                k = p1[ch] > m ? b1 : k;
                m = p1[ch] > m ? p1[ch] : m;
                k = p2[ch] > m ? b2 : k;
                m = p2[ch] > m ? p2[ch] : m;
                k = p3[ch] > m ? b3 : k;
                m = p3[ch] > m ? p3[ch] : m;
                out[ch] = m;
                a[ch] = k + (int32_t)ch;
            }
        }
    }
}

/* The four windowed pooling passes, image by image: threads take whole images. */
typedef enum pool_op { POOL_MAX, POOL_MAX_BACK, POOL_AVG, POOL_AVG_BACK } pool_op;

typedef struct pool_job {
    const ck_conv_geom *g;
    pool_op op;
    int64_t n;
    const float *src; /* x forward, dy backward */
    float *dst;       /* y forward, dx backward */
    int32_t *argmax;  /* max forward: written (or NULL); max backward: read */
} pool_job;

static void maxpool_back_image(const ck_conv_geom *g, const float *dy, const int32_t *argmax, float *dx)
{
    const int64_t out = g->oh * g->ow * g->c;
    zero_floats(dx, g->h * g->w * g->c);
    for (int64_t i = 0; i < out; i++)
        dx[argmax[i]] += dy[i];
}

/* Zeros the cells of a 2x2 stride-2 pooling's input that lie in no window: the last column of
 * an odd width and the last row of an odd height. */
static void maxpool2x2_zero_edges(const ck_conv_geom *g, float *dx)
{
    const int64_t c = g->c, row = g->w * c, tail = (g->w - 2 * g->ow) * c;
    for (int64_t iy = 0; tail && iy < 2 * g->oh; iy++)
        zero_floats(dx + iy * row + 2 * g->ow * c, tail);
    if (2 * g->oh < g->h)
        zero_floats(dx + 2 * g->oh * row, (g->h - 2 * g->oh) * row);
}

/* The backward of maxpool2x2_image: each input cell lies in one window at most, so each is
 * written once, with dy where its window's argmax points and 0 elsewhere (cells past the last
 * window: 0). The same values as zeroing dx and adding dy at each argmax, 0 + dy included (a
 * -0 gradient becomes +0 either way), in one pass and vectorised. */
CK_CLONES static void maxpool2x2_back_image(const ck_conv_geom *g, const float *dy, const int32_t *arg, float *dx)
{
    const int64_t c = g->c, row = g->w * c;
    for (int64_t oy = 0; oy < g->oh; oy++) {
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const int64_t base = (2 * oy * g->w + 2 * ox) * c, o = (oy * g->ow + ox) * c;
            float *restrict p0 = dx + base, *restrict p1 = p0 + c, *restrict p2 = p0 + row, *restrict p3 = p2 + c;
            const float *restrict d = dy + o;
            const int32_t *restrict a = arg + o;
            const int32_t b0 = (int32_t)base, b1 = (int32_t)(base + c), b2 = (int32_t)(base + row),
                          b3 = (int32_t)(base + row + c);
#pragma omp simd
            for (int64_t ch = 0; ch < c; ch++) {
                const int32_t k = a[ch] - (int32_t)ch;
                const float v = 0.0f + d[ch];
                p0[ch] = k == b0 ? v : 0.0f;
                p1[ch] = k == b1 ? v : 0.0f;
                p2[ch] = k == b2 ? v : 0.0f;
                p3[ch] = k == b3 ? v : 0.0f;
            }
        }
    }
    maxpool2x2_zero_edges(g, dx);
}

static void avgpool_image(const ck_conv_geom *g, const float *x, float *y);
static void avgpool_back_image(const ck_conv_geom *g, const float *dy, float *dx);
static bool maxpool2x2_narrow(const ck_conv_geom *g, const float *x, float *y, int32_t *arg);
static bool maxpool2x2_back_narrow(const ck_conv_geom *g, const float *dy, const int32_t *arg, float *dx);

bool ck_maxpool_is_2x2(const ck_conv_geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->dh == 1 && g->dw == 1 && g->pt == 0 &&
           g->pl == 0 && 2 * g->oh <= g->h && 2 * g->ow <= g->w;
}

static void pool_part(void *ctx, int t, int T)
{
    const pool_job *j = ctx;
    const ck_conv_geom *g = j->g;
    const int64_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    const bool two = ck_maxpool_is_2x2(g);
    int64_t b0, b1;
    ck_par_range(j->n, t, T, &b0, &b1);
    for (int64_t b = b0; b < b1; b++) {
        int32_t *am = j->argmax ? j->argmax + b * out : NULL;
        switch (j->op) {
        case POOL_MAX:
            if (!two)
                maxpool_image(g, j->src + b * in, j->dst + b * out, am);
            else if (!maxpool2x2_narrow(g, j->src + b * in, j->dst + b * out, am))
                maxpool2x2_image(g, j->src + b * in, j->dst + b * out, am);
            break;
        case POOL_MAX_BACK:
            if (two) {
                if (!maxpool2x2_back_narrow(g, j->src + b * out, am, j->dst + b * in))
                    maxpool2x2_back_image(g, j->src + b * out, am, j->dst + b * in);
            } else
                maxpool_back_image(g, j->src + b * out, am, j->dst + b * in);
            break;
        case POOL_AVG:
            avgpool_image(g, j->src + b * in, j->dst + b * out);
            break;
        case POOL_AVG_BACK:
            avgpool_back_image(g, j->src + b * out, j->dst + b * in);
            break;
        }
    }
}

static void pool_run(const ck_conv_geom *g, pool_op op, int64_t n, const float *src, float *dst, int32_t *argmax)
{
    pool_job j = {g, op, n, src, dst, argmax};
    ck_parallel(threads_for(n, n * (g->h * g->w * g->c + g->oh * g->ow * g->c)), pool_part, &j);
}

void ck_maxpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y, int32_t *argmax)
{
    pool_run(g, POOL_MAX, n, x, y, argmax);
}

bool ck_maxpool2x2_one(const ck_conv_geom *g, const float *x, float *y, int32_t *argmax)
{
    if (!ck_maxpool_is_2x2(g))
        return false;
    if (!maxpool2x2_narrow(g, x, y, argmax))
        maxpool2x2_image(g, x, y, argmax);
    return true;
}

void ck_maxpool_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, int64_t n, float *dx)
{
    pool_run(g, POOL_MAX_BACK, n, dy, dx, (int32_t *)argmax); /* only read */
}

void ck_add_parts(const float *parts, int T, int64_t len, int64_t e0, int64_t e1, float *out)
{
    for (int64_t e = e0; e < e1; e++) {
        float sum = parts[e];
        for (int u = 1; u < T; u++)
            sum += parts[u * len + e];
        out[e] = sum;
    }
}

/* ---- relu backward with the bias gradient, alone or fused with a max pooling's backward ---- */

#define RELU_SMAX 128 /* the longest run of relu_bias_backward's lane sums */

/* dz (rows, F) = dz * (y > 0) in place, and db (F) = its column sums when db is not NULL: one
 * pass. The flat array is summed in runs of S = F * ceil(64 / F) floats (whole rows, long enough
 * to vectorise), which are folded into db at the end. Also compiled for AVX-512 and AVX2
 * (picked at load time): the lanes only change how many of the S sums advance at once, not
 * what each one adds or in which order, so every version gives the same floats. */
CK_CLONES static void relu_bias_backward(const float *y, float *dz, int64_t rows, int64_t F, float *db)
{
    const int64_t total = rows * F, S = F * ((64 + F - 1) / F);
    if (!db || S > RELU_SMAX) {
#pragma omp simd
        for (int64_t i = 0; i < total; i++)
            dz[i] = y[i] > 0.0f ? dz[i] : 0.0f;
        if (db)
            ck_bias_grad(dz, db, rows, F);
        return;
    }
    float acc[RELU_SMAX] = {0};
    int64_t i = 0;
    for (; i + S <= total; i += S) {
        float *restrict d = dz + i;
        const float *restrict v = y + i;
#pragma omp simd
        for (int64_t k = 0; k < S; k++) {
            d[k] = v[k] > 0.0f ? d[k] : 0.0f;
            acc[k] += d[k];
        }
    }
    for (int64_t k = 0; i < total; i++, k++) { /* the last rows, fewer than S / F */
        dz[i] = y[i] > 0.0f ? dz[i] : 0.0f;
        acc[k] += dz[i];
    }
    for (int64_t f = 0; f < F; f++) {
        float s = 0.0f;
        for (int64_t k = f; k < S; k += F)
            s += acc[k];
        db[f] = s;
    }
}

/* The backward of a 2x2 stride-2 max pooling (g; ck_maxpool_is_2x2) whose input x is a relu's output,
 * then that relu's backward with its bias gradient, on the input cells (rows of c floats) r0..r1
 * of the n images: the floats of maxpool2x2_back_image and then relu_bias_backward on those
 * rows, in one pass. A cell's value is dy where its window's argmax names it and x > 0 there,
 * else 0 (0 + dy, as there: a -0 gradient is +0). The sums run as relu_bias_backward's: cell r
 * adds to lane (r - r0) mod m of m = ceil(64 / c) cells per run, each lane over its cells in
 * order, and the lanes are folded in order. With c > 64 a run is one cell (a lane per channel,
 * over the cells in order): past RELU_SMAX channels relu_bias_backward takes ck_bias_grad's
 * sums instead, which are those same sums, and the fold (0 + the lane) leaves them as they are
 * (a lane is never -0). */
CK_CLONES static void pool_relu_rows(const ck_conv_geom *g, const float *dy, const int32_t *arg, const float *x,
                                     float *dz, int64_t r0, int64_t r1, float *db)
{
    const int64_t c = g->c, hw = g->h * g->w, out = g->oh * g->ow * c, m = (64 + c - 1) / c, S = m * c;
    float acc[CK_RELU_POOL_MAX_C];
    if (db)
        memset(acc, 0, (size_t)S * sizeof *acc);
    /* cell r is (b, iy, ix), its sums' lane `lane`, counted along */
    int64_t b = r0 / hw, iy = r0 % hw / g->w, ix = r0 % g->w, lane = 0;
    for (int64_t r = r0; r < r1; r++) {
        float *restrict d = dz + r * c;
        if (iy < 2 * g->oh && ix < 2 * g->ow) {
            const int64_t o = b * out + ((iy >> 1) * g->ow + (ix >> 1)) * c;
            const int32_t *restrict a = arg + o, at = (int32_t)((iy * g->w + ix) * c);
            const float *restrict dp = dy + o, *restrict xv = x + r * c;
            if (db) {
                float *restrict s = acc + lane * c;
#pragma omp simd
                for (int64_t ch = 0; ch < c; ch++) {
                    const float v = a[ch] - (int32_t)ch == at && xv[ch] > 0.0f ? 0.0f + dp[ch] : 0.0f;
                    d[ch] = v;
                    s[ch] += v;
                }
            } else {
#pragma omp simd
                for (int64_t ch = 0; ch < c; ch++)
                    d[ch] = a[ch] - (int32_t)ch == at && xv[ch] > 0.0f ? 0.0f + dp[ch] : 0.0f;
            }
        } else {
            zero_floats(d, c); /* in no window */
        }
        lane = lane + 1 == m ? 0 : lane + 1;
        if (++ix == g->w) {
            ix = 0;
            if (++iy == g->h)
                iy = 0, b++;
        }
    }
    for (int64_t f = 0; db && f < c; f++) {
        float t = 0.0f;
        for (int64_t k = f; k < S; k += c)
            t += acc[k];
        db[f] = t;
    }
}

/* Either pass over the threads: each takes a run of rows and sums its own part of db, and the
 * parts are added in thread order. Only when the pass is large (waking a thread costs tens of
 * microseconds) and the parts fit the stack buffer. */
#define RELU_PAR_MIN ((int64_t)1 << 17)
#define RELU_PAR_DB 4096

typedef struct relu_job {
    const float *y; /* the relu's output (the pooling's input) */
    float *dz;
    int64_t rows, F;
    float *parts; /* (T, F), or NULL when db is not wanted */
    const ck_conv_geom *g; /* the pooling, or NULL: the relu alone */
    const float *dy;
    const int32_t *argmax;
} relu_job;

static void relu_rows(const relu_job *j, int64_t r0, int64_t r1, float *db)
{
    if (j->g)
        pool_relu_rows(j->g, j->dy, j->argmax, j->y, j->dz, r0, r1, db);
    else
        relu_bias_backward(j->y + r0 * j->F, j->dz + r0 * j->F, r1 - r0, j->F, db);
}

static void relu_part(void *ctx, int t, int T)
{
    const relu_job *j = ctx;
    int64_t r0, r1;
    ck_par_range(j->rows, t, T, &r0, &r1);
    relu_rows(j, r0, r1, j->parts ? j->parts + t * j->F : NULL);
}

static void relu_run(relu_job *j, float *db)
{
    int nt = j->rows * j->F >= RELU_PAR_MIN ? ck_num_threads() : 1;
    nt = nt > j->rows ? (int)j->rows : nt;
    if (db && nt * j->F > RELU_PAR_DB)
        nt = (int)(RELU_PAR_DB / j->F);
    if (nt <= 1) {
        relu_rows(j, 0, j->rows, db);
        return;
    }
    float parts[RELU_PAR_DB];
    j->parts = db ? parts : NULL;
    ck_parallel(nt, relu_part, j);
    if (db)
        ck_add_parts(parts, nt, j->F, 0, j->F, db);
}

void ck_relu_bias_backward(const float *y, float *dz, int64_t rows, int64_t F, float *db)
{
    relu_job j = {y, dz, rows, F, NULL, NULL, NULL, NULL};
    relu_run(&j, db);
}

static _Atomic uint64_t relu_pool_runs;

uint64_t ck_maxpool2x2_relu_runs(void)
{
    return atomic_load_explicit(&relu_pool_runs, memory_order_relaxed);
}

bool ck_maxpool2x2_relu_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, const float *x,
                                 int64_t n, float *dz, float *db)
{
    if (!ck_maxpool_is_2x2(g) || g->c < 16 || g->c > CK_RELU_POOL_MAX_C)
        return false;
    atomic_fetch_add_explicit(&relu_pool_runs, 1, memory_order_relaxed);
    relu_job j = {x, dz, n * g->h * g->w, g->c, NULL, g, dy, argmax};
    relu_run(&j, db);
    return true;
}

CK_CLONES static void avgpool_image(const ck_conv_geom *g, const float *x, float *y)
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

CK_CLONES static void avgpool_back_image(const ck_conv_geom *g, const float *dy, float *dx)
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
    pool_run(g, POOL_AVG, n, x, y, NULL);
}

void ck_avgpool_backward(const ck_conv_geom *g, const float *dy, int64_t n, float *dx)
{
    pool_run(g, POOL_AVG_BACK, n, dy, dx, NULL);
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

/* ---- gathered GEMM: the direct convolution's core --------------------------------------------
 * C[r][j] (+)= sum_l X[roff[r] + loff[l]] * B[l][j]: a GEMM whose left operand is read straight
 * from an image through two offset tables (an implicit im2col). Register blocks of P rows x NV
 * vectors of C stay in registers over the whole l loop; X values are broadcast, rows of B are
 * vector loads, the last vector of a row is masked (so no read or write passes column N). */

/* CK_CONV_PORTABLE leaves these kernels out (the fuzz build: clang's coverage and sanitizer
 * passes over their always-inline instances take many minutes to compile). */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__)) && !defined(CK_CONV_PORTABLE)
#define CK_CONV_X86 1
#include <immintrin.h>

#define CK_AI static inline __attribute__((always_inline))
#define CK_UNROLL _Pragma("GCC unroll 16")
#define T512 __attribute__((target("avx512f")))
#define T256 __attribute__((target("avx2,fma")))

typedef struct gg_args {
    int64_t L, N;
    const float *X;
    const int32_t *roff, *loff;
    const float *B;
    int64_t ldb;
    float *C;
    int64_t ldc;
    const float *bias;
    bool relu, acc;
} gg_args;

/* dst[0..n) += src[0..n), 16 floats per add (col2im's window rows: kw * c floats each) */
static T512 void add_floats512(float *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, _mm512_add_ps(_mm512_loadu_ps(dst + i), _mm512_loadu_ps(src + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        const __m512 sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + i), _mm512_maskz_loadu_ps(m, src + i));
        _mm512_mask_storeu_ps(dst + i, m, sum);
    }
}

/* col2im of one whole image (2D, no dilation), dx row by dx row, each row (up to C2I_MAXV
 * vectors) held in registers: it starts from dx and takes the window rows of the positions that
 * reach it in the order col2im_row adds them (oy, then ox, ascending), so the same sums.
 * col2im_row adds each window row into dx in memory, and the rows of neighbouring positions
 * overlap there at odd offsets: a masked load of what a masked store just wrote cannot be
 * forwarded and stalls (LeNet's conv2: 3-4 us an image). */
#define C2I_MAXV 8
#define C2I_MAXOW (16 * C2I_MAXV) /* output columns of a row that short (ow <= w) */

/* Where the window row of output column ox meets vector q of a dx row: its lanes (0: none),
 * and the offset of lane 0 from the window row's first float (lane 0 may lie before it, on
 * lanes the mask leaves out: no fault, not read). The same for every dx row. */
typedef struct c2i_table {
    __mmask16 m[C2I_MAXOW][C2I_MAXV];
    int32_t off[C2I_MAXOW];
} c2i_table;

static void c2i_table_fill(const ck_conv_geom *g, int NV, c2i_table *t)
{
    const int64_t c = g->c, run = g->kw * c, rowlen = g->w * c;
    for (int64_t ox = 0; ox < g->ow; ox++) {
        const int64_t start = (ox * g->sw - g->pl) * c; /* dx offset of the window row's first float */
        t->off[ox] = (int32_t)-start;
        for (int q = 0; q < NV; q++) {
            const int64_t v0 = 16 * q;
            int64_t lo = start > v0 ? start : v0, hi = start + run < v0 + 16 ? start + run : v0 + 16;
            lo = lo > 0 ? lo : 0;
            hi = hi < rowlen ? hi : rowlen;
            t->m[ox][q] = hi > lo ? (__mmask16)(((1u << (hi - lo)) - 1u) << (lo - v0)) : 0;
        }
    }
}

CK_AI T512 void col2im_row512(const ck_conv_geom *g, const float *cols, float *drow, int64_t iy, const c2i_table *t,
                              const int NV)
{
    const int64_t K = g->kh * g->kw * g->c, run = g->kw * g->c, rowlen = g->w * g->c;
    __m512 acc[C2I_MAXV];
    __mmask16 keep[C2I_MAXV];
    CK_UNROLL
    for (int q = 0; q < NV; q++) {
        const int64_t left = rowlen - 16 * q;
        keep[q] = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
        acc[q] = _mm512_maskz_loadu_ps(keep[q], drow + 16 * q);
    }
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const int64_t ky = iy + g->pt - oy * g->sh;
        if (ky < 0 || ky >= g->kh)
            continue;
        const uintptr_t src = (uintptr_t)(cols + oy * g->ow * K + ky * run);
        for (int64_t ox = 0; ox < g->ow; ox++) {
            const float *at = (const float *)(src + (uintptr_t)((ox * K + t->off[ox]) * (int64_t)sizeof(float)));
            CK_UNROLL
            for (int q = 0; q < NV; q++) {
                const __mmask16 m = t->m[ox][q];
                if (m)
                    acc[q] = _mm512_mask_add_ps(acc[q], m, acc[q], _mm512_maskz_loadu_ps(m, at + 16 * q));
            }
        }
    }
    CK_UNROLL
    for (int q = 0; q < NV; q++)
        _mm512_mask_storeu_ps(drow + 16 * q, keep[q], acc[q]);
}

static T512 bool col2im_image512(const ck_conv_geom *g, const float *cols, float *dx)
{
    /* Only for rows of up to C2I_MAXV vectors, and when the window rows of neighbouring columns
     * overlap at odd offsets (c * sw not a multiple of 16). Measured on 64 images (1 thread, us,
     * adding in memory / here): 28x28x1 k5 1450 / 300, 32x32x3 k3 1260 / 480, 14x14x6 k5 200 /
     * 130. Wider rows in segments of C2I_MAXV vectors lost (28x28x24 k3 2650 / 6450, 56x56x8 k7
     * 23000 / 44000), and whole-vector overlaps forward the stores (13x13x32 k3 330 / 340). */
    if ((g->c * g->sw) % 16 == 0 || g->w * g->c > 16 * C2I_MAXV || g->ow > C2I_MAXOW)
        return false;
    const int NV = (int)((g->w * g->c + 15) / 16);
    c2i_table t;
    c2i_table_fill(g, NV, &t);
    for (int64_t iy = 0; iy < g->h; iy++) {
        float *drow = dx + iy * g->w * g->c;
        switch (NV) {
#define C(k) case k: col2im_row512(g, cols, drow, iy, &t, k); break;
        C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8)
#undef C
        default: break;
        }
    }
    return true;
}

/* rows [r, r+P) x columns [j, j + 16 NV) (the last vector masked by `last`) */
/* whole: the last vector is full (loads and stores without a mask; GCC kept a run-time mask in
 * memory and reloaded it on every step) */
CK_AI T512 void gg512_block(const gg_args *a, int64_t r, int64_t j, const int P, const int NV, __mmask16 last,
                            const bool whole)
{
    __m512 acc[8][4];
    const float *xp[8];
    CK_UNROLL
    for (int p = 0; p < P; p++) {
        xp[p] = a->X + a->roff[r + p];
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[p][v] = _mm512_setzero_ps();
    }
    const float *b = a->B + j;
    for (int64_t l = 0; l < a->L; l++, b += a->ldb) {
        const int32_t o = a->loff[l];
        __m512 bv[4];
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 && !whole ? _mm512_maskz_loadu_ps(last, b + 16 * v) : _mm512_loadu_ps(b + 16 * v);
        CK_UNROLL
        for (int p = 0; p < P; p++) {
            const __m512 xv = _mm512_set1_ps(xp[p][o]);
            CK_UNROLL
            for (int v = 0; v < NV; v++)
                acc[p][v] = _mm512_fmadd_ps(xv, bv[v], acc[p][v]);
        }
    }
    __m512 bias[4];
    CK_UNROLL
    for (int v = 0; v < NV; v++)
        bias[v] = !a->bias ? _mm512_setzero_ps()
                  : v == NV - 1 && !whole ? _mm512_maskz_loadu_ps(last, a->bias + j + 16 * v)
                                : _mm512_loadu_ps(a->bias + j + 16 * v);
    CK_UNROLL
    for (int p = 0; p < P; p++) {
        float *c = a->C + (r + p) * a->ldc + j;
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            const __mmask16 mk = v == NV - 1 && !whole ? last : (__mmask16)0xffff;
            __m512 s = acc[p][v];
            if (a->acc)
                s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(mk, c + 16 * v));
            if (a->bias)
                s = _mm512_add_ps(s, bias[v]);
            if (a->relu)
                s = _mm512_max_ps(s, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(c + 16 * v, mk, s);
        }
    }
}

/* rows [r0, r1) for one block of at most 16 NV columns */
CK_AI T512 void gg512_rows(const gg_args *a, int64_t r0, int64_t r1, int64_t j, const int NV, const int P,
                           __mmask16 last, const bool whole)
{
    int64_t r = r0;
    for (; r + P <= r1; r += P)
        gg512_block(a, r, j, P, NV, last, whole);
    switch (r1 - r) { /* the last rows in one block: a single row would wait on FMA latency */
#define R(k) case k: if (k < P) gg512_block(a, r, j, k, NV, last, whole); break;
    R(1) R(2) R(3) R(4) R(5) R(6) R(7)
#undef R
    default: break;
    }
}

static T512 void gg512(const gg_args *a, int64_t r0, int64_t r1)
{
    for (int64_t j = 0; j < a->N; j += 64) {
        const int64_t nb = a->N - j < 64 ? a->N - j : 64, nv = (nb + 15) / 16, tail = nb - 16 * (nv - 1);
        const __mmask16 last = (__mmask16)((1u << tail) - 1u);
        /* full blocks run in the whole variants */
        if (tail == 16)
            switch (nv) {
            case 1: gg512_rows(a, r0, r1, j, 1, 8, last, true); break;
            case 2: gg512_rows(a, r0, r1, j, 2, 8, last, true); break;
            case 3: gg512_rows(a, r0, r1, j, 3, 6, last, true); break;
            default: gg512_rows(a, r0, r1, j, 4, 6, last, true); break;
            }
        else
            switch (nv) {
            case 1: gg512_rows(a, r0, r1, j, 1, 8, last, false); break;
            case 2: gg512_rows(a, r0, r1, j, 2, 8, last, false); break;
            case 3: gg512_rows(a, r0, r1, j, 3, 6, last, false); break;
            default: gg512_rows(a, r0, r1, j, 4, 6, last, false); break;
            }
    }
}

CK_AI T256 __m256i mask256(int64_t count)
{
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256((const __m256i *)(ones + 8 - count));
}

/* whole: the last vector is whole (loads and stores without a mask) */
CK_AI T256 void gg256_block(const gg_args *a, int64_t r, int64_t j, const int P, const int NV, __m256i last,
                            const bool whole)
{
    __m256 acc[6][2];
    const float *xp[6];
    CK_UNROLL
    for (int p = 0; p < P; p++) {
        xp[p] = a->X + a->roff[r + p];
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            acc[p][v] = _mm256_setzero_ps();
    }
    const float *b = a->B + j;
    for (int64_t l = 0; l < a->L; l++, b += a->ldb) {
        const int32_t o = a->loff[l];
        __m256 bv[2];
        CK_UNROLL
        for (int v = 0; v < NV; v++)
            bv[v] = v == NV - 1 && !whole ? _mm256_maskload_ps(b + 8 * v, last) : _mm256_loadu_ps(b + 8 * v);
        CK_UNROLL
        for (int p = 0; p < P; p++) {
            const __m256 xv = _mm256_broadcast_ss(xp[p] + o);
            CK_UNROLL
            for (int v = 0; v < NV; v++)
                acc[p][v] = _mm256_fmadd_ps(xv, bv[v], acc[p][v]);
        }
    }
    CK_UNROLL
    for (int p = 0; p < P; p++) {
        float *c = a->C + (r + p) * a->ldc + j;
        CK_UNROLL
        for (int v = 0; v < NV; v++) {
            const bool tail = v == NV - 1 && !whole;
            __m256 s = acc[p][v];
            if (a->acc)
                s = _mm256_add_ps(s, tail ? _mm256_maskload_ps(c + 8 * v, last) : _mm256_loadu_ps(c + 8 * v));
            if (a->bias)
                s = _mm256_add_ps(s, tail ? _mm256_maskload_ps(a->bias + j + 8 * v, last)
                                          : _mm256_loadu_ps(a->bias + j + 8 * v));
            if (a->relu)
                s = _mm256_max_ps(s, _mm256_setzero_ps());
            if (tail)
                _mm256_maskstore_ps(c + 8 * v, last, s);
            else
                _mm256_storeu_ps(c + 8 * v, s);
        }
    }
}

CK_AI T256 void gg256_rows(const gg_args *a, int64_t r0, int64_t r1, int64_t j, const int NV, const int P,
                           __m256i last, const bool whole)
{
    int64_t r = r0;
    for (; r + P <= r1; r += P)
        gg256_block(a, r, j, P, NV, last, whole);
    switch (r1 - r) {
#define R(k) case k: if (k < P) gg256_block(a, r, j, k, NV, last, whole); break;
    R(1) R(2) R(3) R(4) R(5)
#undef R
    default: break;
    }
}

static T256 void gg256(const gg_args *a, int64_t r0, int64_t r1)
{
    /* blocks of 16 columns: 6 rows x 2 vectors + 2 B vectors + 1 broadcast = 15 of 16 registers */
    for (int64_t j = 0; j < a->N; j += 16) {
        const int64_t nb = a->N - j < 16 ? a->N - j : 16, nv = (nb + 7) / 8;
        const __m256i last = mask256(nb - 8 * (nv - 1));
        if (nb == 16)
            gg256_rows(a, r0, r1, j, 2, 6, last, true);
        else if (nb == 8)
            gg256_rows(a, r0, r1, j, 1, 6, last, true);
        else if (nv == 1)
            gg256_rows(a, r0, r1, j, 1, 6, last, false);
        else
            gg256_rows(a, r0, r1, j, 2, 6, last, false);
    }
}
/* ---- 2x2 max pooling of few channels ------------------------------------------------------
 * With c < 16 a window cell is a short run. Instead, k = 16 / c output pixels of a row at a
 * time: their 2k input pixels of each of the two rows are two vector loads (2 k c <= 32
 * floats), and permutes pick the left and right cells. The same comparisons as
 * maxpool2x2_image: each row's pair first, the lower row only if greater, so the first maximum
 * in window order wins. (AVX-512 gathers were measured slower here: ~22 cycles each.) */
static T512 void maxpool2x2_perm(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
{
    const int64_t c = g->c, row = g->w * c, k = 16 / c, lanes = k * c;
    int32_t il[16], ir[16];
    for (int j = 0; j < 16; j++) {
        const int64_t jj = j < lanes ? j : 0;
        il[j] = (int32_t)(2 * (jj / c) * c + jj % c);
        ir[j] = il[j] + (int32_t)c;
    }
    const __m512i vl = _mm512_loadu_si512(il), vr = _mm512_loadu_si512(ir);
    const __m512i kc = _mm512_set1_epi32((int32_t)c), kr = _mm512_set1_epi32((int32_t)row);
    for (int64_t oy = 0; oy < g->oh; oy++) {
        const float *x0 = x + 2 * oy * row, *x1 = x0 + row;
        for (int64_t ox = 0; ox < g->ow; ox += k) {
            const int64_t px = g->ow - ox < k ? g->ow - ox : k, n = px * c, span = 2 * n;
            const __mmask16 m = (__mmask16)((1u << n) - 1u);
            const __mmask16 ma = (__mmask16)(span >= 16 ? 0xffffu : (1u << span) - 1u);
            const __mmask16 mb = (__mmask16)(span <= 16 ? 0u : (1u << (span - 16)) - 1u);
            const int64_t at = 2 * ox * c;
            const __m512 a0 = _mm512_maskz_loadu_ps(ma, x0 + at), b0 = _mm512_maskz_loadu_ps(mb, x0 + at + 16);
            const __m512 a1 = _mm512_maskz_loadu_ps(ma, x1 + at), b1 = _mm512_maskz_loadu_ps(mb, x1 + at + 16);
            const __m512 p0 = _mm512_permutex2var_ps(a0, vl, b0), p1 = _mm512_permutex2var_ps(a0, vr, b0);
            const __m512 p2 = _mm512_permutex2var_ps(a1, vl, b1), p3 = _mm512_permutex2var_ps(a1, vr, b1);
            const __mmask16 b01 = _mm512_cmp_ps_mask(p1, p0, _CMP_GT_OQ), b23 = _mm512_cmp_ps_mask(p3, p2, _CMP_GT_OQ);
            const __m512 m01 = _mm512_mask_blend_ps(b01, p0, p1), m23 = _mm512_mask_blend_ps(b23, p2, p3);
            const __mmask16 lo = _mm512_cmp_ps_mask(m23, m01, _CMP_GT_OQ);
            const int64_t o = (oy * g->ow + ox) * c;
            _mm512_mask_storeu_ps(y + o, m, _mm512_mask_blend_ps(lo, m01, m23));
            if (!arg)
                continue;
            /* index in the image: the left cell (+ c for the right one) (+ row for the lower) */
            const __m512i base = _mm512_add_epi32(vl, _mm512_set1_epi32((int32_t)(2 * oy * row + at)));
            const __m512i k01 = _mm512_mask_add_epi32(base, b01, base, kc);
            const __m512i k23 = _mm512_add_epi32(_mm512_mask_add_epi32(base, b23, base, kc), kr);
            _mm512_mask_storeu_epi32(arg + o, m, _mm512_mask_blend_epi32(lo, k01, k23));
        }
    }
}

static bool maxpool2x2_narrow(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
{
    if (gg_level() != 2 || g->c >= 16 || 2 * g->oh * g->w * g->c > INT32_MAX)
        return false;
    maxpool2x2_perm(g, x, y, arg);
    return true;
}

/* Its backward, k = 16 / c windows at a time: dy and the argmax of their k c outputs, permuted
 * to the 2 k c cells of each of the two input rows (cell e of a row: output e / (2c) c + e % c),
 * go where the argmax names the cell, 0 elsewhere; the cells of a last odd column or row are in
 * no window: 0. The values of maxpool2x2_back_image (0 + dy, so a -0 gradient is +0). */
static T512 void maxpool2x2_back_perm(const ck_conv_geom *g, const float *dy, const int32_t *arg, float *dx)
{
    const int64_t c = g->c, row = g->w * c, k = 16 / c;
    int32_t il[16], ir[16], iota[16];
    for (int j = 0; j < 16; j++) {
        il[j] = (int32_t)((j / (2 * c)) * c + j % c);
        ir[j] = (int32_t)(((j + 16) / (2 * c)) * c + (j + 16) % c);
        iota[j] = j;
    }
    const __m512i vl = _mm512_loadu_si512(il), vr = _mm512_loadu_si512(ir), ve = _mm512_loadu_si512(iota);
    const __m512i k16 = _mm512_set1_epi32(16), kr = _mm512_set1_epi32((int32_t)row);
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oy = 0; oy < g->oh; oy++) {
        float *d0 = dx + 2 * oy * row, *d1 = d0 + row;
        for (int64_t ox = 0; ox < g->ow; ox += k) {
            const int64_t px = g->ow - ox < k ? g->ow - ox : k, n = px * c, span = 2 * n;
            const __mmask16 m = (__mmask16)((1u << n) - 1u);
            const __mmask16 ma = (__mmask16)(span >= 16 ? 0xffffu : (1u << span) - 1u);
            const __mmask16 mb = (__mmask16)(span <= 16 ? 0u : (1u << (span - 16)) - 1u);
            const int64_t o = (oy * g->ow + ox) * c, at = 2 * ox * c;
            const __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(m, dy + o));
            const __m512i a = _mm512_maskz_loadu_epi32(m, arg + o);
            const __m512 va = _mm512_permutexvar_ps(vl, v), vb = _mm512_permutexvar_ps(vr, v);
            const __m512i aa = _mm512_permutexvar_epi32(vl, a), ab = _mm512_permutexvar_epi32(vr, a);
            /* the image index of each cell of the upper row (+ row: the lower) */
            const __m512i ea = _mm512_add_epi32(ve, _mm512_set1_epi32((int32_t)(2 * oy * row + at)));
            const __m512i eb = _mm512_add_epi32(ea, k16);
            _mm512_mask_storeu_ps(d0 + at, ma, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(aa, ea), va));
            _mm512_mask_storeu_ps(d0 + at + 16, mb, _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(ab, eb), vb));
            _mm512_mask_storeu_ps(d1 + at, ma,
                                  _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(aa, _mm512_add_epi32(ea, kr)), va));
            _mm512_mask_storeu_ps(d1 + at + 16, mb,
                                  _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(ab, _mm512_add_epi32(eb, kr)), vb));
        }
    }
    maxpool2x2_zero_edges(g, dx);
}

static bool maxpool2x2_back_narrow(const ck_conv_geom *g, const float *dy, const int32_t *arg, float *dx)
{
    if (gg_level() != 2 || g->c >= 16 || 2 * g->oh * g->w * g->c > INT32_MAX)
        return false;
    maxpool2x2_back_perm(g, dy, arg, dx);
    return true;
}

/* ---- pixel-vectorised single-channel convolution (ck_pixconv_*) ------------------------------ */

/* The transpose of F accumulators (16 pixels each, one per filter) into NHWC order: output
 * vector v holds elements e = 16 v + j, pixel e / F, filter e % F, picked by permutes.
 * The tables depend on F only and are made per call (under 1 KB). */
typedef struct px_perm {
    /* filters 2p and 2p + 1 through one two-source permute: lane j takes pixel e / F of the
     * first source, or of the second (+ 16) when e % F is odd; pk[v][p]: the lanes of pair p */
    int32_t idx2[CK_PIXCONV_MAX_F][16];
    __mmask16 pk[CK_PIXCONV_MAX_F][CK_PIXCONV_MAX_F / 2];
    /* an odd F's last filter alone: pixel e / F, on the lanes of filter F - 1 */
    int32_t idx[CK_PIXCONV_MAX_F][16];
    __mmask16 last[CK_PIXCONV_MAX_F];
} px_perm;

static void px_perm_init(px_perm *t, int F)
{
    memset(t, 0, sizeof *t);
    for (int v = 0; v < F; v++)
        for (int j = 0; j < 16; j++) {
            const int e = 16 * v + j, f = e % F;
            t->idx[v][j] = e / F;
            t->idx2[v][j] = e / F + (f % 2 ? 16 : 0);
            if (f / 2 < F / 2)
                t->pk[v][f / 2] |= (__mmask16)(1u << j);
            else
                t->last[v] |= (__mmask16)(1u << j);
        }
}

/* output rows oy .. oy+R-1 of one image */
CK_AI T512 void px_fwd_rows(const float *x, int64_t pitch, const ck_conv_geom *g, const float *W, float *y,
                            const float *bias, bool relu, const px_perm *pt, int64_t oy, const int R, const int F)
{
    for (int64_t ox0 = 0; ox0 < g->ow; ox0 += 16) {
        const int64_t cnt = g->ow - ox0 < 16 ? g->ow - ox0 : 16;
        const __mmask16 m = (__mmask16)((1u << cnt) - 1u);
        __m512 acc[2][CK_PIXCONV_MAX_F];
        CK_UNROLL
        for (int r = 0; r < R; r++)
            CK_UNROLL
            for (int f = 0; f < F; f++)
                acc[r][f] = _mm512_setzero_ps();
        for (int64_t ky = 0; ky < g->kh; ky++) {
            const float *xr = x + (oy + ky * g->dh) * pitch + ox0;
            const float *w = W + ky * g->kw * F;
            for (int64_t kx = 0; kx < g->kw; kx++, w += F) {
                __m512 xv[2];
                CK_UNROLL
                for (int r = 0; r < R; r++)
                    xv[r] = _mm512_maskz_loadu_ps(m, xr + r * pitch + kx * g->dw);
                CK_UNROLL
                for (int f = 0; f < F; f++) {
                    const __m512 wf = _mm512_set1_ps(w[f]);
                    CK_UNROLL
                    for (int r = 0; r < R; r++)
                        acc[r][f] = _mm512_fmadd_ps(xv[r], wf, acc[r][f]);
                }
            }
        }
        CK_UNROLL
        for (int r = 0; r < R; r++) {
            CK_UNROLL
            for (int f = 0; f < F; f++) {
                if (bias)
                    acc[r][f] = _mm512_add_ps(acc[r][f], _mm512_set1_ps(bias[f]));
                if (relu)
                    acc[r][f] = _mm512_max_ps(acc[r][f], _mm512_setzero_ps());
            }
            float *yr = y + ((oy + r) * g->ow + ox0) * F;
            const int64_t total = cnt * F;
            CK_UNROLL
            for (int v = 0; v < F; v++) {
                if (16 * v >= total)
                    break;
                /* filters in pairs: a two-source permute each, blended in (half the permutes
                 * of one masked permute per filter); an odd last filter alone */
                const __m512i idx2 = _mm512_loadu_si512(pt->idx2[v]);
                __m512 o = F >= 2 ? _mm512_permutex2var_ps(acc[r][0], idx2, acc[r][1]) : _mm512_setzero_ps();
                CK_UNROLL
                for (int f = 2; f + 1 < F; f += 2)
                    o = _mm512_mask_blend_ps(pt->pk[v][f / 2], o,
                                             _mm512_permutex2var_ps(acc[r][f], idx2, acc[r][f + 1]));
                if (F % 2)
                    o = _mm512_mask_permutexvar_ps(o, pt->last[v], _mm512_loadu_si512(pt->idx[v]),
                                                   acc[r][F - 1]);
                const int64_t left = total - 16 * v;
                _mm512_mask_storeu_ps(yr + 16 * v, left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u), o);
            }
        }
    }
}

CK_AI T512 void px_fwd(const float *x, int64_t pitch, const ck_conv_geom *g, const float *W, float *y,
                       const float *bias, bool relu, const int F)
{
    px_perm pt;
    px_perm_init(&pt, F);
    int64_t oy = 0;
    for (; oy + 2 <= g->oh; oy += 2)
        px_fwd_rows(x, pitch, g, W, y, bias, relu, &pt, oy, 2, F);
    if (oy < g->oh)
        px_fwd_rows(x, pitch, g, W, y, bias, relu, &pt, oy, 1, F);
}

static T512 void px_forward512(const float *x, int64_t pitch, const ck_conv_geom *g, const float *W, int64_t F,
                               float *y, const float *bias, bool relu)
{
    switch (F) {
#define C(k) case k: px_fwd(x, pitch, g, W, y, bias, relu, k); break;
    C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}

/* dW rows of TB taps starting at tap t (kernel row-major), over n images. The accumulators
 * start at zero (first) or from state, and end in dW, reduced (last), or in state: a run over
 * the images in groups does the same additions in the same order as one run. */
CK_AI T512 void px_dw_block(const float *x, int64_t img, int64_t pitch, const float *dzT, int64_t n,
                            const ck_conv_geom *g, int64_t t, float *dW, __m512 *state, bool first, bool last,
                            const int TB, const int F)
{
    const int64_t pos = g->oh * g->ow;
    int64_t off[4];
    CK_UNROLL
    for (int b = 0; b < TB; b++)
        off[b] = (t + b) / g->kw * g->dh * pitch + (t + b) % g->kw * g->dw;
    __m512 acc[4][CK_PIXCONV_MAX_F];
    CK_UNROLL
    for (int b = 0; b < TB; b++)
        CK_UNROLL
        for (int f = 0; f < F; f++)
            acc[b][f] = first ? _mm512_setzero_ps() : state[b * F + f];
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * img, *dzi = dzT + i * F * pos;
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox0 = 0; ox0 < g->ow; ox0 += 16) {
                const int64_t cnt = g->ow - ox0 < 16 ? g->ow - ox0 : 16;
                const __mmask16 m = (__mmask16)((1u << cnt) - 1u);
                const float *xr = xi + oy * pitch + ox0, *dr = dzi + oy * g->ow + ox0;
                __m512 dv[CK_PIXCONV_MAX_F];
                CK_UNROLL
                for (int f = 0; f < F; f++)
                    dv[f] = _mm512_maskz_loadu_ps(m, dr + f * pos);
                CK_UNROLL
                for (int b = 0; b < TB; b++) {
                    const __m512 xv = _mm512_maskz_loadu_ps(m, xr + off[b]);
                    CK_UNROLL
                    for (int f = 0; f < F; f++)
                        acc[b][f] = _mm512_fmadd_ps(xv, dv[f], acc[b][f]);
                }
            }
    }
    CK_UNROLL
    for (int b = 0; b < TB; b++)
        CK_UNROLL
        for (int f = 0; f < F; f++) {
            if (last)
                dW[(t + b) * F + f] = _mm512_reduce_add_ps(acc[b][f]);
            else
                state[b * F + f] = acc[b][f];
        }
}

/* vectors of accumulators kept between groups of images (64 KB of stack) */
#define PX_DW_STATE 1024

CK_AI T512 void px_dw(const float *x, int64_t img, int64_t pitch, const float *dzT, int64_t n, const ck_conv_geom *g,
                      int64_t t0, int64_t t1, float *dW, const int F)
{
    /* at most 24 accumulators: 4 taps of F <= 6 filters, 2 of F <= 12 */
    const int TB = F <= 6 ? 4 : 2;
    const int64_t pos = g->oh * g->ow, taps = t1 - t0;
    /* Each block of taps reads every image's x and dz: images in groups whose x and dz stay in
     * L2 (256 KB of them) while every block passes over them, rather than all the images
     * streamed from L3 once per block (measured: LeNet's first convolution, 64 images). */
    int64_t group = (256 * 1024 / (int64_t)sizeof(float)) / (img + F * pos);
    if (group < 1 || taps * F > PX_DW_STATE)
        group = n;
    __m512 state[PX_DW_STATE];
    for (int64_t i0 = 0; i0 < n; i0 += group) {
        const int64_t i1 = n - i0 < group ? n : i0 + group;
        const bool first = i0 == 0, last = i1 == n;
        const float *xg = x + i0 * img, *dg = dzT + i0 * F * pos;
        int64_t t = t0;
        for (; t + TB <= t1; t += TB)
            px_dw_block(xg, img, pitch, dg, i1 - i0, g, t, dW, state + (t - t0) * F, first, last, TB, F);
        for (; t < t1; t++)
            px_dw_block(xg, img, pitch, dg, i1 - i0, g, t, dW, state + (t - t0) * F, first, last, 1, F);
    }
}

static T512 void px_dw512(const float *x, int64_t img, int64_t pitch, const float *dzT, int64_t n,
                          const ck_conv_geom *g, int64_t F, int64_t t0, int64_t t1, float *dW)
{
    switch (F) {
#define C(k) case k: px_dw(x, img, pitch, dzT, n, g, t0, t1, dW, k); break;
    C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12)
#undef C
    default: break;
    }
}
#endif

/* floats of B per pass of the gathered GEMM (64 KB: long passes, e.g. dW over a large image,
 * re-read B from L2 rather than memory; measured no slower than one pass on small layers) */
#define CK_GG_CHUNK_FLOATS 16384

/* 2: AVX-512F, 1: AVX2 + FMA, 0: neither (the direct convolution is not used).
 * CKERAS_CONV=avx2 in the environment picks the AVX2 kernels on an AVX-512 machine. */
static int gg_level(void)
{
    static int level = -1;
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = 0;
#ifdef CK_CONV_X86
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f"))
            l = 2;
        if ((l == 0 || (getenv("CKERAS_CONV") && strcmp(getenv("CKERAS_CONV"), "avx2") == 0)) &&
            __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            l = 1;
#endif
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

bool ck_gather_gemm_available(void)
{
    return gg_level() > 0;
}

void ck_gather_gemm(int64_t R, int64_t L, int64_t N, const float *X, const int32_t *roff, const int32_t *loff,
                    const float *B, int64_t ldb, float *C, int64_t ldc, const float *bias, bool relu, bool acc)
{
#ifdef CK_CONV_X86
    const int level = gg_level();
    if (level > 0) {
        /* chunks of B stay in cache while every row block passes over them; C takes
         * the partial sums (bias and relu come with the last chunk) */
        int64_t lc = CK_GG_CHUNK_FLOATS / (N > 0 ? N : 1);
        lc = lc < 32 ? 32 : lc;
        for (int64_t l0 = 0; l0 < L; l0 += lc) {
            const int64_t l1 = L - l0 < lc ? L : l0 + lc;
            const bool last = l1 == L;
            const gg_args a = {l1 - l0, N, X, roff, loff + l0, B + l0 * ldb, ldb, C, ldc, last ? bias : NULL,
                               last && relu, acc || l0 > 0};
            if (level == 2)
                gg512(&a, 0, R);
            else
                gg256(&a, 0, R);
        }
        return;
    }
#endif
    for (int64_t r = 0; r < R; r++) { /* portable reference */
        float *c = C + r * ldc;
        for (int64_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (int64_t l = 0; l < L; l++)
                s += X[roff[r] + loff[l]] * B[l * ldb + j];
            if (acc)
                s += c[j];
            if (bias)
                s += bias[j];
            c[j] = relu && s < 0.0f ? 0.0f : s;
        }
    }
}

#ifndef CK_CONV_X86
static bool maxpool2x2_narrow(const ck_conv_geom *g, const float *x, float *y, int32_t *arg)
{
    (void)g, (void)x, (void)y, (void)arg;
    return false;
}

static bool maxpool2x2_back_narrow(const ck_conv_geom *g, const float *dy, const int32_t *arg, float *dx)
{
    (void)g, (void)dy, (void)arg, (void)dx;
    return false;
}
#endif

bool ck_pixconv_available(int64_t c, int64_t F)
{
#ifdef CK_CONV_X86
    /* CKERAS_CONV=gather keeps the gathered GEMM for these layers too (to compare) */
    const char *e = getenv("CKERAS_CONV");
    return gg_level() == 2 && c == 1 && F >= 1 && F <= CK_PIXCONV_MAX_F && !(e && strcmp(e, "gather") == 0);
#else
    (void)c;
    (void)F;
    return false;
#endif
}

void ck_pixconv_forward(const float *x, int64_t pitch, const ck_conv_geom *g, const float *W, int64_t F, float *y,
                        const float *bias, bool relu)
{
#ifdef CK_CONV_X86
    px_forward512(x, pitch, g, W, F, y, bias, relu);
#else
    (void)x, (void)pitch, (void)g, (void)W, (void)F, (void)y, (void)bias, (void)relu;
#endif
}

void ck_pixconv_dw(const float *x, int64_t img, int64_t pitch, const float *dzT, int64_t n, const ck_conv_geom *g,
                   int64_t F, int64_t t0, int64_t t1, float *dW)
{
#ifdef CK_CONV_X86
    px_dw512(x, img, pitch, dzT, n, g, F, t0, t1, dW);
#else
    (void)x, (void)img, (void)pitch, (void)dzT, (void)n, (void)g, (void)F, (void)t0, (void)t1, (void)dW;
#endif
}

#ifdef CK_CONV_X86
/* 16 rows at a time: their 16 * cols floats are cols vector loads, and column c's 16 values
 * (element j * cols + c: vector (j * cols + c) / 16, lane (j * cols + c) % 16) are picked by
 * one masked permute per source vector. */
CK_AI T512 void transpose_cols(const float *src, int64_t rows, float *dst, const int cols)
{
    int32_t idx[16][16];
    __mmask16 mk[16][16];
    memset(mk, 0, sizeof mk);
    for (int c = 0; c < cols; c++)
        for (int j = 0; j < 16; j++) {
            const int e = j * cols + c;
            idx[c][j] = e % 16;
            mk[c][e / 16] |= (__mmask16)(1u << j);
        }
    for (int64_t r0 = 0; r0 < rows; r0 += 16) {
        const int64_t cnt = rows - r0 < 16 ? rows - r0 : 16, total = cnt * cols;
        __m512 v[16];
        CK_UNROLL
        for (int s = 0; s < cols; s++) {
            const int64_t left = total - 16 * s;
            const __mmask16 m = (__mmask16)(left >= 16 ? 0xffffu : left <= 0 ? 0u : (1u << left) - 1u);
            v[s] = _mm512_maskz_loadu_ps(m, src + r0 * cols + 16 * s);
        }
        const __mmask16 m = (__mmask16)((1u << cnt) - 1u);
        CK_UNROLL
        for (int c = 0; c < cols; c++) {
            const __m512i ix = _mm512_loadu_si512(idx[c]);
            __m512 o = _mm512_setzero_ps();
            CK_UNROLL
            for (int s = 0; s < cols; s++)
                if (mk[c][s])
                    o = _mm512_mask_permutexvar_ps(o, mk[c][s], ix, v[s]);
            _mm512_mask_storeu_ps(dst + c * rows + r0, m, o);
        }
    }
}

static T512 void transpose512(const float *src, int64_t rows, int64_t cols, float *dst)
{
    switch (cols) {
#define C(k) case k: transpose_cols(src, rows, dst, k); break;
    C(1) C(2) C(3) C(4) C(5) C(6) C(7) C(8) C(9) C(10) C(11) C(12) C(13) C(14) C(15) C(16)
#undef C
    default: break;
    }
}
#endif

void ck_transpose_rows(const float *src, int64_t rows, int64_t cols, float *dst)
{
#ifdef CK_CONV_X86
    if (gg_level() == 2 && cols <= 16) {
        transpose512(src, rows, cols, dst);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            dst[c * rows + r] = src[r * cols + c];
}
