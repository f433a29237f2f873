/* Loops of the normalisation and shape layers: batch, layer, group, RMS and L2 normalisation,
 * NHWC window copies (padding, cropping), upsampling, parameterised relu, channel masks, permutations.
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* ---- batch normalisation ---------------------------------------------------------------- */

/* mean, var (c) of x (rows x c) over the rows; acc is 2*c doubles */
void ck_channel_moments(const float *x, int64_t rows, int64_t c, float *mean, float *var, double *acc)
{
    double *restrict s = acc, *restrict s2 = acc + c;
    memset(acc, 0, (size_t)(2 * c) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * c;
        for (int64_t k = 0; k < c; k++)
            s[k] += xr[k];
    }
    for (int64_t k = 0; k < c; k++)
        s[k] = rows > 0 ? s[k] / (double)rows : 0.0;
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict xr = x + r * c;
        for (int64_t k = 0; k < c; k++) {
            double d = xr[k] - s[k];
            s2[k] += d * d;
        }
    }
    for (int64_t k = 0; k < c; k++) {
        mean[k] = (float)s[k];
        var[k] = rows > 0 ? (float)(s2[k] / (double)rows) : 0.0f;
    }
}

void ck_inv_std(const float *var, int64_t c, float eps, float *inv_std)
{
    for (int64_t k = 0; k < c; k++)
        inv_std[k] = (float)(1.0 / sqrt((double)var[k] + (double)eps));
}

/* y (rows x c) = gamma * (x - mean) * inv_std + beta; xhat (rows x c) kept when not NULL */
void ck_bn_forward(const float *x, int64_t rows, int64_t c, const float *mean, const float *inv_std,
                   const float *gamma, const float *beta, float *xhat, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c;
        float *yr = y + r * c;
        float *hr = xhat ? xhat + r * c : NULL;
        for (int64_t k = 0; k < c; k++) {
            float h = (xr[k] - mean[k]) * inv_std[k];
            if (hr)
                hr[k] = h;
            yr[k] = (gamma ? gamma[k] : 1.0f) * h + (beta ? beta[k] : 0.0f);
        }
    }
}

void ck_bn_backward(const float *dy, const float *xhat, int64_t rows, int64_t c, const float *gamma,
                    const float *inv_std, bool batch_stats, float *dx, float *dgamma, float *dbeta, double *acc)
{
    double *restrict sdy = acc, *restrict sdyh = acc + c;
    memset(acc, 0, (size_t)(2 * c) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict g = dy + r * c, *restrict h = xhat + r * c;
        for (int64_t k = 0; k < c; k++) {
            sdy[k] += g[k];
            sdyh[k] += (double)g[k] * h[k];
        }
    }
    for (int64_t k = 0; k < c; k++) {
        if (dgamma)
            dgamma[k] = (float)sdyh[k];
        if (dbeta)
            dbeta[k] = (float)sdy[k];
    }
    if (!dx)
        return;
    if (!batch_stats) {
        for (int64_t r = 0; r < rows; r++)
            for (int64_t k = 0; k < c; k++)
                dx[r * c + k] = dy[r * c + k] * (gamma ? gamma[k] : 1.0f) * inv_std[k];
        return;
    }
    /* dx = gamma*inv_std * (dy - mean(dy) - xhat * mean(dy*xhat)); reuse acc as the means */
    for (int64_t k = 0; k < c; k++) {
        sdy[k] /= (double)rows;
        sdyh[k] /= (double)rows;
    }
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < c; k++) {
            float a = (gamma ? gamma[k] : 1.0f) * inv_std[k];
            dx[r * c + k] = a * (dy[r * c + k] - (float)sdy[k] - xhat[r * c + k] * (float)sdyh[k]);
        }
    }
}

void ck_bn_masked_moments(const float *x, const float *w, bool full, int64_t rows, int64_t c, float *mean,
                          float *var, double *acc)
{
    double *restrict sw = acc, *restrict s = acc + c, *restrict s2 = acc + 2 * c;
    memset(acc, 0, (size_t)(3 * c) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c, *wr = full ? w + r * c : w + r;
        for (int64_t k = 0; k < c; k++) {
            double wk = wr[full ? k : 0];
            sw[k] += wk;
            s[k] += wk * xr[k];
        }
    }
    for (int64_t k = 0; k < c; k++) {
        sw[k] += 1e-7; /* Keras' backend epsilon */
        s[k] /= sw[k];
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * c, *wr = full ? w + r * c : w + r;
        for (int64_t k = 0; k < c; k++) {
            double d = xr[k] - s[k];
            s2[k] += wr[full ? k : 0] * d * d;
        }
    }
    for (int64_t k = 0; k < c; k++) {
        mean[k] = (float)s[k];
        var[k] = (float)(s2[k] / sw[k]);
    }
}

void ck_bn_masked_backward(const float *dy, const float *xhat, const float *w, bool full, int64_t rows, int64_t c,
                           const float *gamma, const float *inv_std, float *dx, float *dgamma, float *dbeta,
                           double *acc)
{
    double *restrict sw = acc, *restrict sdy = acc + c, *restrict sdyh = acc + 2 * c;
    memset(acc, 0, (size_t)(3 * c) * sizeof *acc);
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + r * c, *h = xhat + r * c, *wr = full ? w + r * c : w + r;
        for (int64_t k = 0; k < c; k++) {
            sw[k] += wr[full ? k : 0];
            sdy[k] += g[k];
            sdyh[k] += (double)g[k] * h[k];
        }
    }
    for (int64_t k = 0; k < c; k++) {
        if (dgamma)
            dgamma[k] = (float)sdyh[k];
        if (dbeta)
            dbeta[k] = (float)sdy[k];
        sw[k] += 1e-7;
        sdy[k] /= sw[k];
        sdyh[k] /= sw[k];
    }
    if (!dx)
        return;
    for (int64_t r = 0; r < rows; r++) {
        const float *wr = full ? w + r * c : w + r;
        for (int64_t k = 0; k < c; k++) {
            float a = (gamma ? gamma[k] : 1.0f) * inv_std[k], wk = wr[full ? k : 0];
            dx[r * c + k] = a * (dy[r * c + k] - wk * ((float)sdy[k] + xhat[r * c + k] * (float)sdyh[k]));
        }
    }
}

void ck_moving_update(float *avg, const float *v, int64_t n, float momentum)
{
    for (int64_t i = 0; i < n; i++)
        avg[i] = avg[i] * momentum + v[i] * (1.0f - momentum);
}

/* ---- layer normalisation ---------------------------------------------------------------- */

void ck_ln_forward(const float *x, int64_t rows, int64_t d, float eps, const float *gamma, const float *beta,
                   float *xhat, float *inv_std, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double s = 0.0, s2 = 0.0;
        for (int64_t k = 0; k < d; k++)
            s += xr[k];
        float mean = (float)(s / (double)d);
        for (int64_t k = 0; k < d; k++) {
            double t = (double)xr[k] - mean;
            s2 += t * t;
        }
        float inv = (float)(1.0 / sqrt(s2 / (double)d + (double)eps));
        if (inv_std)
            inv_std[r] = inv;
        float *yr = y + r * d, *hr = xhat ? xhat + r * d : NULL;
        for (int64_t k = 0; k < d; k++) {
            float h = (xr[k] - mean) * inv;
            if (hr)
                hr[k] = h;
            yr[k] = (gamma ? gamma[k] : 1.0f) * h + (beta ? beta[k] : 0.0f);
        }
    }
}

void ck_ln_backward(const float *dy, const float *xhat, const float *inv_std, int64_t rows, int64_t d,
                    const float *gamma, float *dx, float *dgamma, float *dbeta)
{
    if (dgamma)
        memset(dgamma, 0, (size_t)d * sizeof *dgamma);
    if (dbeta)
        memset(dbeta, 0, (size_t)d * sizeof *dbeta);
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + r * d, *h = xhat + r * d;
        double sg = 0.0, sgh = 0.0;
        for (int64_t k = 0; k < d; k++) {
            float gk = g[k] * (gamma ? gamma[k] : 1.0f);
            sg += gk;
            sgh += (double)gk * h[k];
            if (dgamma)
                dgamma[k] += g[k] * h[k];
            if (dbeta)
                dbeta[k] += g[k];
        }
        if (!dx)
            continue;
        float mg = (float)(sg / (double)d), mgh = (float)(sgh / (double)d);
        float *o = dx + r * d;
        for (int64_t k = 0; k < d; k++)
            o[k] = inv_std[r] * (g[k] * (gamma ? gamma[k] : 1.0f) - mg - h[k] * mgh);
    }
}

/* ---- RMS scaling (LayerNormalization(rms_scaling=True), RMSNormalization) ------------------- */

void ck_rms_forward(const float *x, int64_t rows, int64_t d, float eps, bool centre, const float *gamma,
                    float *mean, float *inv, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double m = 0.0, s2 = 0.0;
        if (centre) {
            for (int64_t k = 0; k < d; k++)
                m += xr[k];
            m /= (double)d;
        }
        for (int64_t k = 0; k < d; k++) {
            double t = (double)xr[k] - m;
            s2 += t * t;
        }
        float iv = (float)(1.0 / sqrt(s2 / (double)d + (double)eps));
        if (mean)
            mean[r] = (float)m;
        if (inv)
            inv[r] = iv;
        float *yr = y + r * d;
        for (int64_t k = 0; k < d; k++)
            yr[k] = xr[k] * iv * (gamma ? gamma[k] : 1.0f);
    }
}

void ck_rms_backward(const float *dy, const float *x, const float *mean, const float *inv, int64_t rows,
                     int64_t d, const float *gamma, float *dx, float *dgamma)
{
    if (dgamma)
        memset(dgamma, 0, (size_t)d * sizeof *dgamma);
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + r * d, *xr = x + r * d;
        float iv = inv[r];
        double sgx = 0.0;
        for (int64_t k = 0; k < d; k++) {
            sgx += (double)g[k] * (gamma ? gamma[k] : 1.0f) * xr[k];
            if (dgamma)
                dgamma[k] += g[k] * xr[k] * iv;
        }
        if (!dx)
            continue;
        float c = (float)((double)iv * iv * iv * sgx / (double)d), m = mean[r];
        float *o = dx + r * d;
        for (int64_t k = 0; k < d; k++)
            o[k] = iv * g[k] * (gamma ? gamma[k] : 1.0f) - c * (xr[k] - m);
    }
}

/* ---- group normalisation ---------------------------------------------------------------- */

void ck_gn_forward(const float *x, int64_t n, int64_t s, int64_t c, int64_t groups, float eps, const float *gamma,
                   const float *beta, float *xhat, float *inv, float *y, double *acc)
{
    int64_t cg = c / groups;
    double m = (double)(s * cg);
    double *restrict sum = acc, *restrict sum2 = acc + groups;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * s * c;
        memset(acc, 0, (size_t)(2 * groups) * sizeof *acc);
        for (int64_t p = 0; p < s; p++)
            for (int64_t k = 0; k < c; k++)
                sum[k / cg] += xb[p * c + k];
        for (int64_t g = 0; g < groups; g++)
            sum[g] /= m;
        for (int64_t p = 0; p < s; p++)
            for (int64_t k = 0; k < c; k++) {
                double t = xb[p * c + k] - sum[k / cg];
                sum2[k / cg] += t * t;
            }
        for (int64_t g = 0; g < groups; g++) {
            sum2[g] = 1.0 / sqrt(sum2[g] / m + (double)eps); /* now inv_std */
            if (inv)
                inv[b * groups + g] = (float)sum2[g];
        }
        float *yb = y + b * s * c, *hb = xhat ? xhat + b * s * c : NULL;
        for (int64_t p = 0; p < s; p++)
            for (int64_t k = 0; k < c; k++) {
                float h = (float)((xb[p * c + k] - sum[k / cg]) * sum2[k / cg]);
                if (hb)
                    hb[p * c + k] = h;
                yb[p * c + k] = (gamma ? gamma[k] : 1.0f) * h + (beta ? beta[k] : 0.0f);
            }
    }
}

void ck_gn_backward(const float *dy, const float *xhat, const float *inv, int64_t n, int64_t s, int64_t c,
                    int64_t groups, const float *gamma, float *dx, float *dgamma, float *dbeta, double *acc)
{
    int64_t cg = c / groups;
    double m = (double)(s * cg);
    double *restrict sg = acc, *restrict sgh = acc + groups;
    if (dgamma)
        memset(dgamma, 0, (size_t)c * sizeof *dgamma);
    if (dbeta)
        memset(dbeta, 0, (size_t)c * sizeof *dbeta);
    for (int64_t b = 0; b < n; b++) {
        const float *gb = dy + b * s * c, *hb = xhat + b * s * c;
        memset(acc, 0, (size_t)(2 * groups) * sizeof *acc);
        for (int64_t p = 0; p < s; p++)
            for (int64_t k = 0; k < c; k++) {
                float d = gb[p * c + k], h = hb[p * c + k], gk = d * (gamma ? gamma[k] : 1.0f);
                sg[k / cg] += gk;
                sgh[k / cg] += (double)gk * h;
                if (dgamma)
                    dgamma[k] += d * h;
                if (dbeta)
                    dbeta[k] += d;
            }
        if (!dx)
            continue;
        for (int64_t g = 0; g < groups; g++) {
            sg[g] /= m;
            sgh[g] /= m;
        }
        float *ob = dx + b * s * c;
        const float *ib = inv + b * groups;
        for (int64_t p = 0; p < s; p++)
            for (int64_t k = 0; k < c; k++) {
                int64_t g = k / cg;
                float gk = gb[p * c + k] * (gamma ? gamma[k] : 1.0f);
                ob[p * c + k] = ib[g] * (gk - (float)sg[g] - hb[p * c + k] * (float)sgh[g]);
            }
    }
}

/* ---- L2 normalisation (UnitNormalization) ----------------------------------------------- */

void ck_l2n_forward(const float *x, int64_t rows, int64_t d, float eps, float *inv, float *y)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double s2 = 0.0;
        for (int64_t k = 0; k < d; k++)
            s2 += (double)xr[k] * xr[k];
        double iv = s2 > 0.0 ? 1.0 / sqrt(s2) : INFINITY;
        float f = iv < 1.0 / (double)eps ? (float)iv : 1.0f / eps;
        if (inv)
            inv[r] = f;
        float *yr = y + r * d;
        for (int64_t k = 0; k < d; k++)
            yr[k] = xr[k] * f;
    }
}

void ck_l2n_backward(const float *dy, const float *x, const float *inv, int64_t rows, int64_t d, float eps,
                     float *dx)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *g = dy + r * d, *xr = x + r * d;
        float iv = inv[r], *o = dx + r * d;
        double sgx = 0.0;
        if (iv < 1.0f / eps)
            for (int64_t k = 0; k < d; k++)
                sgx += (double)g[k] * xr[k];
        float c = (float)((double)iv * iv * iv * sgx);
        for (int64_t k = 0; k < d; k++)
            o[k] = iv * g[k] - c * xr[k];
    }
}

/* ---- NHWC shape kernels ----------------------------------------------------------------- */

void ck_window2d(const float *src, int64_t n, int64_t sh, int64_t sw, int64_t c, float *dst, int64_t dh,
                 int64_t dw, int64_t oy, int64_t ox)
{
    /* columns j of dst with 0 <= j + ox < sw */
    int64_t j0 = ox < 0 ? -ox : 0, j1 = sw - ox < dw ? sw - ox : dw;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t i = 0; i < dh; i++) {
            float *drow = dst + ((b * dh + i) * dw) * c;
            int64_t si = i + oy;
            if (si < 0 || si >= sh || j1 <= j0) {
                memset(drow, 0, (size_t)(dw * c) * sizeof(float));
                continue;
            }
            const float *srow = src + ((b * sh + si) * sw) * c;
            if (j0 > 0)
                memset(drow, 0, (size_t)(j0 * c) * sizeof(float));
            memcpy(drow + j0 * c, srow + (j0 + ox) * c, (size_t)((j1 - j0) * c) * sizeof(float));
            if (j1 < dw)
                memset(drow + j1 * c, 0, (size_t)((dw - j1) * c) * sizeof(float));
        }
    }
}

void ck_window3d(const float *src, int64_t n, const int64_t s[3], int64_t c, float *dst, const int64_t d[3],
                 const int64_t o[3])
{
    const int64_t sslice = s[1] * s[2] * c, dslice = d[1] * d[2] * c;
    for (int64_t b = 0; b < n; b++) {
        for (int64_t k = 0; k < d[0]; k++) {
            float *ds = dst + (b * d[0] + k) * dslice;
            const int64_t sk = k + o[0];
            if (sk < 0 || sk >= s[0])
                memset(ds, 0, (size_t)dslice * sizeof(float));
            else
                ck_window2d(src + (b * s[0] + sk) * sslice, 1, s[1], s[2], c, ds, d[1], d[2], o[1], o[2]);
        }
    }
}

void ck_upsample_nearest(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy, int64_t fx,
                         float *y)
{
    int64_t oh = h * fy, ow = w * fx;
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++) {
            const float *xr = x + ((b * h + i / fy) * w) * c;
            float *yr = y + ((b * oh + i) * ow) * c;
            for (int64_t j = 0; j < ow; j++)
                memcpy(yr + j * c, xr + (j / fx) * c, (size_t)c * sizeof(float));
        }
}

void ck_upsample_nearest_backward(const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy,
                                  int64_t fx, float *dx)
{
    int64_t oh = h * fy, ow = w * fx;
    memset(dx, 0, (size_t)(n * h * w * c) * sizeof(float));
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++) {
            float *xr = dx + ((b * h + i / fy) * w) * c;
            const float *yr = dy + ((b * oh + i) * ow) * c;
            for (int64_t j = 0; j < ow; j++)
                for (int64_t k = 0; k < c; k++)
                    xr[(j / fx) * c + k] += yr[j * c + k];
        }
}

/* Source coordinate of output index o for factor f over a length-len input: the two taps
 * i0 <= i1 and the weight t of i1. */
static void bilinear_taps(int64_t o, int64_t f, int64_t len, int64_t *i0, int64_t *i1, float *t)
{
    double s = ((double)o + 0.5) / (double)f - 0.5;
    if (s < 0.0)
        s = 0.0;
    int64_t a = (int64_t)s;
    if (a > len - 1)
        a = len - 1;
    *i0 = a;
    *i1 = a + 1 < len ? a + 1 : len - 1;
    *t = (float)(s - (double)a);
    if (*i1 == a)
        *t = 0.0f;
}

void ck_upsample_bilinear(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy, int64_t fx,
                          float *y)
{
    int64_t oh = h * fy, ow = w * fx;
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++) {
            int64_t y0, y1;
            float ty;
            bilinear_taps(i, fy, h, &y0, &y1, &ty);
            const float *r0 = x + ((b * h + y0) * w) * c, *r1 = x + ((b * h + y1) * w) * c;
            float *yr = y + ((b * oh + i) * ow) * c;
            for (int64_t j = 0; j < ow; j++) {
                int64_t x0, x1;
                float tx;
                bilinear_taps(j, fx, w, &x0, &x1, &tx);
                for (int64_t k = 0; k < c; k++) {
                    float top = r0[x0 * c + k] + tx * (r0[x1 * c + k] - r0[x0 * c + k]);
                    float bot = r1[x0 * c + k] + tx * (r1[x1 * c + k] - r1[x0 * c + k]);
                    yr[j * c + k] = top + ty * (bot - top);
                }
            }
        }
}

void ck_upsample_bilinear_backward(const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy,
                                   int64_t fx, float *dx)
{
    int64_t oh = h * fy, ow = w * fx;
    memset(dx, 0, (size_t)(n * h * w * c) * sizeof(float));
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < oh; i++) {
            int64_t y0, y1;
            float ty;
            bilinear_taps(i, fy, h, &y0, &y1, &ty);
            float *r0 = dx + ((b * h + y0) * w) * c, *r1 = dx + ((b * h + y1) * w) * c;
            const float *g = dy + ((b * oh + i) * ow) * c;
            for (int64_t j = 0; j < ow; j++) {
                int64_t x0, x1;
                float tx;
                bilinear_taps(j, fx, w, &x0, &x1, &tx);
                for (int64_t k = 0; k < c; k++) {
                    float v = g[j * c + k];
                    r0[x0 * c + k] += (1 - ty) * (1 - tx) * v;
                    r0[x1 * c + k] += (1 - ty) * tx * v;
                    r1[x0 * c + k] += ty * (1 - tx) * v;
                    r1[x1 * c + k] += ty * tx * v;
                }
            }
        }
}

/* ---- elementwise ------------------------------------------------------------------------ */

void ck_relu_ex(const float *x, int64_t count, float max_value, float slope, float threshold, float *y)
{
    for (int64_t i = 0; i < count; i++) {
        float v = x[i];
        y[i] = v > threshold ? (v < max_value ? v : max_value) : slope * (v - threshold);
    }
}

void ck_relu_ex_backward(const float *x, const float *dy, int64_t count, float max_value, float slope,
                         float threshold, float *dx)
{
    for (int64_t i = 0; i < count; i++) {
        float v = x[i];
        dx[i] = dy[i] * (v > threshold ? (v < max_value ? 1.0f : 0.0f) : slope);
    }
}

void ck_scale_shift(const float *x, int64_t count, float scale, float offset, float *y)
{
    for (int64_t i = 0; i < count; i++)
        y[i] = x[i] * scale + offset;
}

void ck_channel_mask(const float *x, const float *mask, int64_t n, int64_t hw, int64_t c, float *y)
{
    for (int64_t b = 0; b < n; b++) {
        const float *m = mask + b * c;
        for (int64_t p = 0; p < hw; p++) {
            const float *xr = x + (b * hw + p) * c;
            float *yr = y + (b * hw + p) * c;
            for (int64_t k = 0; k < c; k++)
                yr[k] = xr[k] * m[k];
        }
    }
}

void ck_permute(const float *x, int64_t n, int ndim, const int64_t *shape, const int *perm, float *y)
{
    int64_t xstride[CKERAS_MAX_DIMS], oshape[CKERAS_MAX_DIMS], ostride[CKERAS_MAX_DIMS], idx[CKERAS_MAX_DIMS];
    int64_t size = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        xstride[k] = size;
        size *= shape[k];
    }
    /* ostride[k]: step in x for a step along y axis k */
    for (int k = 0; k < ndim; k++) {
        oshape[k] = shape[perm[k]];
        ostride[k] = xstride[perm[k]];
    }
    for (int64_t b = 0; b < n; b++) {
        const float *xs = x + b * size;
        float *ys = y + b * size;
        memset(idx, 0, sizeof idx);
        int64_t off = 0;
        for (int64_t e = 0; e < size; e++) {
            ys[e] = xs[off];
            for (int k = ndim - 1; k >= 0; k--) {
                if (++idx[k] < oshape[k]) {
                    off += ostride[k];
                    break;
                }
                off -= (oshape[k] - 1) * ostride[k];
                idx[k] = 0;
            }
        }
    }
}
