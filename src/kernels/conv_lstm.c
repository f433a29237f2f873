/* Convolutional LSTM (Keras' ConvLSTM1D/2D cell over a sequence): formulas and layouts in
 * kernels.h. Buffers, for a batch of n (P = oh*ow positions, S = P*F state floats per sample,
 * nS = n*S):
 *   saved: hs (T+1, nS), cs (T+1, nS), pre and post (T, 4, nS) (gate pre-activations and
 *          activations, block g of a step is (n*P, F)), tc (T, nS) act(c)
 *   work:  xz / dxz (n, T, P, 4F), cols (the larger im2col matrix: (n*T*P, kh*kw*c) or
 *          (n*P, kh*kw*F)), hz / dz (n*P, 4F), dg (4, nS), dh, dc, tmp (nS each)
 *
 * Sizes: the lengths multiplied here are those of buffers whose element counts the layer's build
 * and the plan checked (at most 2^48 each), so no index or product of them wraps. */
#include "kernels.h"

#include <string.h>

typedef struct cl_saved {
    float *hs, *cs, *pre, *post, *tc;
} cl_saved;

static int64_t state_floats(const ck_convlstm *r, int64_t n)
{
    return n * r->od * r->gr.h * r->gr.w * r->F;
}

static bool deep(const ck_convlstm *r)
{
    return r->kd > 1 || r->d > 1;
}

/* im2col of nimg images (d, g->h, g->w, g->c) with a depth axis in front: row ((b*od + oz)*oh +
 * oy)*ow + ox holds the window (kz, ky, kx, c), cells outside the image 0; add: col2im (the
 * adjoint, accumulated into x). */
static void im2col_deep(const ck_conv_geom *g, int64_t d, int64_t kd, int64_t sd, int64_t dd, int64_t pd,
                        int64_t od, float *x, int64_t nimg, float *cols, bool add)
{
    const int64_t c = g->c, K = kd * g->kh * g->kw * c;
    int64_t r = 0;
    for (int64_t b = 0; b < nimg; b++)
        for (int64_t oz = 0; oz < od; oz++)
            for (int64_t oy = 0; oy < g->oh; oy++)
                for (int64_t ox = 0; ox < g->ow; ox++, r++) {
                    float *row = cols + r * K;
                    for (int64_t kz = 0; kz < kd; kz++) {
                        int64_t iz = oz * sd - pd + kz * dd;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            int64_t iy = oy * g->sh - g->pt + ky * g->dh;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                int64_t ix = ox * g->sw - g->pl + kx * g->dw;
                                float *cell = row + ((kz * g->kh + ky) * g->kw + kx) * c;
                                bool in = iz >= 0 && iz < d && iy >= 0 && iy < g->h && ix >= 0 && ix < g->w;
                                float *src = in ? x + (((b * d + iz) * g->h + iy) * g->w + ix) * c : NULL;
                                if (add) {
                                    for (int64_t k = 0; in && k < c; k++)
                                        src[k] += cell[k];
                                } else if (in) {
                                    memcpy(cell, src, (size_t)c * sizeof(float));
                                } else {
                                    memset(cell, 0, (size_t)c * sizeof(float));
                                }
                            }
                        }
                    }
                }
}

/* the input convolution's im2col / col2im over nimg images (n*T of them) */
static void x_im2col(const ck_convlstm *r, const float *x, int64_t nimg, float *cols)
{
    if (deep(r))
        im2col_deep(&r->gx, r->d, r->kd, r->sd, r->dd, r->pd, r->od, (float *)x, nimg, cols, false);
    else
        ck_im2col(&r->gx, x, 0, nimg * r->gx.oh * r->gx.ow, cols);
}

static void x_col2im(const ck_convlstm *r, const float *cols, int64_t nimg, float *dx)
{
    if (deep(r))
        im2col_deep(&r->gx, r->d, r->kd, r->sd, r->dd, r->pd, r->od, dx, nimg, (float *)cols, true);
    else
        ck_col2im(&r->gx, cols, 0, nimg * r->gx.oh * r->gx.ow, dx);
}

/* the recurrent convolution's (stride 1, 'same') over the n states */
static void h_im2col(const ck_convlstm *r, const float *h, int64_t n, float *cols)
{
    if (deep(r))
        im2col_deep(&r->gr, r->od, r->kd, 1, 1, r->rpd, r->od, (float *)h, n, cols, false);
    else
        ck_im2col(&r->gr, h, 0, n * r->gr.oh * r->gr.ow, cols);
}

static void h_col2im(const ck_convlstm *r, const float *cols, int64_t n, float *dh)
{
    if (deep(r))
        im2col_deep(&r->gr, r->od, r->kd, 1, 1, r->rpd, r->od, dh, n, (float *)cols, true);
    else
        ck_col2im(&r->gr, cols, 0, n * r->gr.oh * r->gr.ow, dh);
}

static cl_saved views(const ck_convlstm *r, int64_t n, float *saved)
{
    int64_t nS = state_floats(r, n), T = r->T;
    cl_saved v;
    v.hs = saved;
    v.cs = v.hs + (T + 1) * nS;
    v.pre = v.cs + (T + 1) * nS;
    v.post = v.pre + 4 * T * nS;
    v.tc = v.post + 4 * T * nS;
    return v;
}

int64_t ck_convlstm_saved_floats(const ck_convlstm *r, int64_t n)
{
    return ck_size_mul(ck_size_mul(n, ck_size_mul(r->od, ck_size_mul3(r->gr.h, r->gr.w, r->F))), 11 * r->T + 2);
}

static int64_t cols_floats(const ck_convlstm *r, int64_t n)
{
    int64_t P = r->od * r->gx.oh * r->gx.ow;
    int64_t a = ck_size_mul(ck_size_mul3(n, r->T, P), r->kd * r->gx.kh * r->gx.kw * r->gx.c);
    int64_t b = ck_size_mul(ck_size_mul(n, P), r->kd * r->gr.kh * r->gr.kw * r->gr.c);
    return a > b ? a : b;
}

int64_t ck_convlstm_work_floats(const ck_convlstm *r, int64_t n)
{
    int64_t nS = ck_size_mul(n, ck_size_mul(r->od, ck_size_mul3(r->gr.h, r->gr.w, r->F)));
    return ck_size_add(ck_size_mul(4 * r->T + 11, nS), cols_floats(r, n));
}

float *ck_convlstm_states(const ck_convlstm *r, int64_t n, float *saved)
{
    return views(r, n, saved).hs;
}

float *ck_convlstm_cells(const ck_convlstm *r, int64_t n, float *saved)
{
    return views(r, n, saved).cs;
}

void ck_convlstm_forward(const ck_convlstm *r, int64_t n, const float *x, float *saved, float *work)
{
    const int64_t T = r->T, F = r->F, F4 = 4 * F, P = r->od * r->gx.oh * r->gx.ow, nP = n * P, nS = nP * F;
    const int64_t K1 = r->kd * r->gx.kh * r->gx.kw * r->gx.c, K2 = r->kd * r->gr.kh * r->gr.kw * r->gr.c;
    cl_saved v = views(r, n, saved);
    float *xz = work, *cols = xz + 4 * T * nS, *hz = cols + cols_floats(r, n);
    /* xz (n*T*P, 4F) = im2col(x) W + b: every step's input convolution at once */
    x_im2col(r, x, n * T, cols);
    ck_gemm(false, false, n * T * P, F4, K1, 1.0f, cols, K1, r->W, F4, 0.0f, xz, F4);
    if (r->b)
        ck_add_bias(xz, r->b, n * T * P, F4);
    memset(v.hs, 0, (size_t)nS * sizeof(float));
    memset(v.cs, 0, (size_t)nS * sizeof(float));
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = r->go_backwards ? T - 1 - s : s;
        const float *hp = v.hs + s * nS, *cp = v.cs + s * nS;
        float *h = v.hs + (s + 1) * nS, *c = v.cs + (s + 1) * nS, *tc = v.tc + s * nS;
        float *pre = v.pre + s * 4 * nS, *post = v.post + s * 4 * nS;
        /* hz (n*P, 4F) = im2col(h_prev) R */
        h_im2col(r, hp, n, cols);
        ck_gemm(false, false, nP, F4, K2, 1.0f, cols, K2, r->R, F4, 0.0f, hz, F4);
        for (int64_t g = 0; g < 4; g++) {
            float *pg = pre + g * nS;
            for (int64_t i = 0; i < n; i++)
                for (int64_t q = 0; q < P; q++) {
                    const float *a = xz + ((i * T + t) * P + q) * F4 + g * F, *b = hz + (i * P + q) * F4 + g * F;
                    float *d = pg + (i * P + q) * F;
                    for (int64_t f = 0; f < F; f++)
                        d[f] = a[f] + b[f];
                }
            ck_act_forward(g == 2 ? &r->act : &r->ract, pg, post + g * nS, nP, F);
        }
        const float *gi = post, *gf = post + nS, *gg = post + 2 * nS, *go = post + 3 * nS;
        for (int64_t k = 0; k < nS; k++)
            c[k] = gf[k] * cp[k] + gi[k] * gg[k];
        ck_act_forward(&r->act, c, tc, nP, F);
        for (int64_t k = 0; k < nS; k++)
            h[k] = go[k] * tc[k];
    }
}

void ck_convlstm_backward(const ck_convlstm *r, int64_t n, const float *x, const float *dhs, float *dx,
                          float *saved, float *work)
{
    const int64_t T = r->T, F = r->F, F4 = 4 * F, P = r->od * r->gx.oh * r->gx.ow, nP = n * P, nS = nP * F;
    const int64_t K1 = r->kd * r->gx.kh * r->gx.kw * r->gx.c, K2 = r->kd * r->gr.kh * r->gr.kw * r->gr.c;
    cl_saved v = views(r, n, saved);
    float *dxz = work, *cols = dxz + 4 * T * nS, *dz = cols + cols_floats(r, n);
    float *dg = dz + 4 * nS, *dh = dg + 4 * nS, *dc = dh + nS, *tmp = dc + nS;
    memset(dh, 0, (size_t)nS * sizeof(float));
    if (r->dc_last)
        memcpy(dc, r->dc_last, (size_t)nS * sizeof(float));
    else
        memset(dc, 0, (size_t)nS * sizeof(float));
    if (r->dR)
        memset(r->dR, 0, (size_t)(K2 * F4) * sizeof(float));
    for (int64_t s = T - 1; s >= 0; s--) {
        const int64_t t = r->go_backwards ? T - 1 - s : s;
        const float *hp = v.hs + s * nS, *cp = v.cs + s * nS, *c = v.cs + (s + 1) * nS, *tc = v.tc + s * nS;
        const float *pre = v.pre + s * 4 * nS, *post = v.post + s * 4 * nS;
        const float *gi = post, *gf = post + nS, *gg = post + 2 * nS, *go = post + 3 * nS;
        float *di = dg, *df = dg + nS, *dgg = dg + 2 * nS, *dout = dg + 3 * nS;
        for (int64_t k = 0; k < nS; k++) {
            dh[k] += dhs[s * nS + k];
            tmp[k] = dh[k] * go[k]; /* dL/d act(c) */
            dout[k] = dh[k] * tc[k];
        }
        ck_act_backward(&r->act, c, tc, tmp, tmp, nP, F);
        for (int64_t k = 0; k < nS; k++) {
            float d = dc[k] + tmp[k];
            di[k] = d * gg[k];
            dgg[k] = d * gi[k];
            df[k] = d * cp[k];
            dc[k] = d * gf[k]; /* into c_prev */
        }
        for (int64_t g = 0; g < 4; g++) {
            float *dgb = dg + g * nS;
            ck_act_backward(g == 2 ? &r->act : &r->ract, pre + g * nS, post + g * nS, dgb, dgb, nP, F);
            for (int64_t i = 0; i < n; i++)
                for (int64_t q = 0; q < P; q++) {
                    const float *src = dgb + (i * P + q) * F;
                    memcpy(dz + (i * P + q) * F4 + g * F, src, (size_t)F * sizeof(float));
                    memcpy(dxz + ((i * T + t) * P + q) * F4 + g * F, src, (size_t)F * sizeof(float));
                }
        }
        if (r->dR) { /* dR += im2col(h_prev)^T dz */
            h_im2col(r, hp, n, cols);
            ck_gemm(true, false, K2, F4, nP, 1.0f, cols, K2, dz, F4, 1.0f, r->dR, F4);
        }
        /* dh_prev = col2im(dz R^T) */
        ck_gemm(false, true, nP, K2, F4, 1.0f, dz, F4, r->R, F4, 0.0f, cols, K2);
        memset(dh, 0, (size_t)nS * sizeof(float));
        h_col2im(r, cols, n, dh);
    }
    const int64_t rows = n * T * P;
    if (r->dW) {
        x_im2col(r, x, n * T, cols);
        ck_gemm(true, false, K1, F4, rows, 1.0f, cols, K1, dxz, F4, 0.0f, r->dW, F4);
    }
    if (r->db)
        ck_bias_grad(dxz, r->db, rows, F4);
    if (dx) {
        ck_gemm(false, true, rows, K1, F4, 1.0f, dxz, F4, r->W, F4, 0.0f, cols, K1);
        memset(dx, 0, (size_t)(n * T * r->d * r->gx.h * r->gx.w * r->gx.c) * sizeof(float));
        x_col2im(r, cols, n * T, dx);
    }
}
