/* Recurrent kernels: one direction of SimpleRNN, LSTM or GRU over a batch of sequences, forward
 * and backpropagation through time; Embedding lookup. Formulas and layouts in kernels.h.
 *
 * Sizes: the lengths multiplied here (batch, axes, windows, channels, offsets) are those of
 * buffers whose element counts passed ck_size_check (core.h, checked size arithmetic): at most
 * 2^48 each, so no index or product of them wraps. */
#include "kernels.h"

#include <string.h>

int ck_rnn_gates(const ck_rnn *r)
{
    return r->kind == CK_RNN_LSTM ? 4 : r->kind == CK_RNN_GRU ? 3 : 1;
}

/* saved, for a batch of n (nu = n*U):
 *   hs   (T+1, n, U)   states, hs[0] initial
 *   pre  (T, G, n, U)  gate pre-activations, by step
 *   post (T, G, n, U)  gate activations
 *   LSTM: cs (T+1, n, U) cell states, tc (T, n, U) act(c)
 *   GRU:  aux (T, n, U) reset_after: h_prev R_h + b'_h; otherwise r * h_prev */
typedef struct rnn_saved {
    float *hs, *pre, *post, *cs, *tc, *aux;
} rnn_saved;

static rnn_saved saved_views(const ck_rnn *r, int64_t n, float *saved)
{
    int64_t nu = n * r->U, T = r->T, G = ck_rnn_gates(r);
    rnn_saved v = {0};
    v.hs = saved;
    v.pre = v.hs + (T + 1) * nu;
    v.post = v.pre + T * G * nu;
    float *end = v.post + T * G * nu;
    if (r->kind == CK_RNN_LSTM) {
        v.cs = end;
        v.tc = v.cs + (T + 1) * nu;
    } else if (r->kind == CK_RNN_GRU) {
        v.aux = end;
    }
    return v;
}

int64_t ck_rnn_saved_floats(const ck_rnn *r, int64_t n)
{
    /* checked (core.h): T * n * U is not an axis of a checked buffer */
    int64_t nu = ck_size_mul(n, r->U), T = r->T, G = ck_rnn_gates(r);
    int64_t s = ck_size_add(ck_size_mul(T + 1, nu), ck_size_mul3(2 * T, G, nu));
    if (r->kind == CK_RNN_LSTM)
        s = ck_size_add(s, ck_size_mul(2 * T + 1, nu));
    else if (r->kind == CK_RNN_GRU)
        s = ck_size_add(s, ck_size_mul(T, nu));
    return s;
}

/* work: xz or dxz (n, T, G*U), hz or dhz (n, G*U), dgate (G, n, U), dh, dc, tmp, tmp2, and
 * the masked rows' kept dh, dc (n, U) */
int64_t ck_rnn_work_floats(const ck_rnn *r, int64_t n)
{
    int64_t G = ck_rnn_gates(r), GU = G * r->U; /* units <= 2^48 (the build checks) */
    int64_t nu = ck_size_mul(n, r->U);
    return ck_size_add(ck_size_add(ck_size_mul3(n, r->T, GU), ck_size_mul(n, GU)), ck_size_mul(G + 6, nu));
}

static bool masked(const ck_rnn *r, int64_t i, int64_t t)
{
    return r->mask && r->mask[i * r->T + t] == 0.0f;
}

/* the masked rows of (n, U) dst take the rows of src */
static void keep_masked_rows(const ck_rnn *r, int64_t n, int64_t t, float *dst, const float *src)
{
    for (int64_t i = 0; i < n; i++)
        if (masked(r, i, t))
            memcpy(dst + i * r->U, src + i * r->U, (size_t)r->U * sizeof(float));
}

float *ck_rnn_states(const ck_rnn *r, int64_t n, float *saved)
{
    (void)r;
    (void)n;
    return saved;
}

float *ck_rnn_cells(const ck_rnn *r, int64_t n, float *saved)
{
    return r->kind == CK_RNN_LSTM ? saved_views(r, n, saved).cs : NULL;
}

static int64_t time_of(const ck_rnn *r, int64_t s)
{
    return r->go_backwards ? r->T - 1 - s : s;
}

/* dst (n, U) = block g of the strided rows a (n rows, ld) [+ block g of b (n, ld_b)] */
static void gather_block(float *dst, const float *a, int64_t lda, const float *b, int64_t ldb, int64_t n,
                         int64_t U, int64_t g)
{
    for (int64_t i = 0; i < n; i++) {
        const float *ar = a + i * lda + g * U;
        float *d = dst + i * U;
        if (b) {
            const float *br = b + i * ldb + g * U;
            for (int64_t u = 0; u < U; u++)
                d[u] = ar[u] + br[u];
        } else {
            memcpy(d, ar, (size_t)U * sizeof(float));
        }
    }
}

/* block g of the strided rows dst (n rows, ld) = src (n, U) */
static void scatter_block(float *dst, int64_t ld, const float *src, int64_t n, int64_t U, int64_t g)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * ld + g * U, src + i * U, (size_t)U * sizeof(float));
}

void ck_rnn_forward(const ck_rnn *r, int64_t n, const float *x, const float *h0, const float *c0, float *saved,
                    float *work)
{
    const int64_t T = r->T, F = r->F, U = r->U, G = ck_rnn_gates(r), GU = G * U, nu = n * U;
    rnn_saved v = saved_views(r, n, saved);
    float *xz = work;           /* (n, T, GU) */
    float *hz = xz + n * T * GU; /* (n, GU) */
    bool gru = r->kind == CK_RNN_GRU, lstm = r->kind == CK_RNN_LSTM;

    /* xz (n*T, GU) = x (n*T, F) . W (F, GU) + b (the input bias row for GRU reset_after) */
    ck_gemm(false, false, n * T, GU, F, 1.0f, x, F, r->W, GU, 0.0f, xz, GU);
    if (r->b)
        ck_add_bias(xz, r->b, n * T, GU);
    const float *brec = gru && r->reset_after && r->b ? r->b + GU : NULL; /* (GU) */

    if (h0)
        memcpy(v.hs, h0, (size_t)nu * sizeof(float));
    else
        memset(v.hs, 0, (size_t)nu * sizeof(float));
    if (lstm) {
        if (c0)
            memcpy(v.cs, c0, (size_t)nu * sizeof(float));
        else
            memset(v.cs, 0, (size_t)nu * sizeof(float));
    }
    for (int64_t s = 0; s < T; s++) {
        const int64_t t = time_of(r, s);
        const float *xzt = xz + t * GU; /* rows of n, stride T*GU */
        const float *hp = v.hs + s * nu;
        float *h = v.hs + (s + 1) * nu;
        float *pre = v.pre + s * G * nu, *post = v.post + s * G * nu; /* (G, n, U) */
        /* hz (n, GU) = h_prev . R (GRU without reset_after: the z and r blocks only) */
        int64_t rc = gru && !r->reset_after ? 2 * U : GU;
        ck_gemm(false, false, n, rc, U, 1.0f, hp, U, r->R, GU, 0.0f, hz, GU);
        if (brec)
            ck_add_bias(hz, brec, n, GU);
        if (r->kind == CK_RNN_SIMPLE) {
            gather_block(pre, xzt, T * GU, hz, GU, n, U, 0);
            ck_act_forward(&r->act, pre, h, n, U);
            memcpy(post, h, (size_t)nu * sizeof(float));
            keep_masked_rows(r, n, t, h, hp);
            continue;
        }
        if (lstm) {
            for (int64_t g = 0; g < 4; g++) {
                gather_block(pre + g * nu, xzt, T * GU, hz, GU, n, U, g);
                ck_act_forward(g == 2 ? &r->act : &r->ract, pre + g * nu, post + g * nu, n, U);
            }
            const float *gi = post, *gf = post + nu, *gg = post + 2 * nu, *go = post + 3 * nu;
            const float *cp = v.cs + s * nu;
            float *c = v.cs + (s + 1) * nu, *tc = v.tc + s * nu;
            for (int64_t k = 0; k < nu; k++)
                c[k] = gf[k] * cp[k] + gi[k] * gg[k];
            ck_act_forward(&r->act, c, tc, n, U);
            for (int64_t k = 0; k < nu; k++)
                h[k] = go[k] * tc[k];
            keep_masked_rows(r, n, t, h, hp);
            keep_masked_rows(r, n, t, c, cp);
            continue;
        }
        /* GRU */
        for (int64_t g = 0; g < 2; g++) {
            gather_block(pre + g * nu, xzt, T * GU, hz, GU, n, U, g);
            ck_act_forward(&r->ract, pre + g * nu, post + g * nu, n, U);
        }
        const float *z = post, *rr = post + nu;
        float *ph = pre + 2 * nu, *hh = post + 2 * nu, *aux = v.aux + s * nu;
        gather_block(ph, xzt, T * GU, NULL, 0, n, U, 2); /* x W_h + b_h */
        if (r->reset_after) {
            gather_block(aux, hz, GU, NULL, 0, n, U, 2); /* h_prev R_h + b'_h */
            for (int64_t k = 0; k < nu; k++)
                ph[k] += rr[k] * aux[k];
        } else {
            for (int64_t k = 0; k < nu; k++)
                aux[k] = rr[k] * hp[k];
            /* ph (n, U) += (r h_prev) (n, U) . R_h (U, U; columns 2U.. of R) */
            ck_gemm(false, false, n, U, U, 1.0f, aux, U, r->R + 2 * U, GU, 1.0f, ph, U);
        }
        ck_act_forward(&r->act, ph, hh, n, U);
        for (int64_t k = 0; k < nu; k++)
            h[k] = z[k] * hp[k] + (1.0f - z[k]) * hh[k];
        keep_masked_rows(r, n, t, h, hp);
    }
}

void ck_rnn_backward(const ck_rnn *r, int64_t n, const float *x, float *dhs, float *dx, float beta_dx, float *dh0,
                     float *dc0, float *saved, float *work)
{
    const int64_t T = r->T, F = r->F, U = r->U, G = ck_rnn_gates(r), GU = G * U, nu = n * U;
    rnn_saved v = saved_views(r, n, saved);
    float *dxz = work;             /* (n, T, GU) */
    float *dhz = dxz + n * T * GU; /* (n, GU) */
    float *dg = dhz + n * GU;      /* (G, n, U) */
    float *dh = dg + G * nu, *dc = dh + nu, *tmp = dc + nu, *tmp2 = tmp + nu; /* (n, U) each */
    float *kdh = tmp2 + nu, *kdc = kdh + nu; /* dh, dc of masked rows, passed on unchanged */
    bool gru = r->kind == CK_RNN_GRU, lstm = r->kind == CK_RNN_LSTM;
    float *dbrec = gru && r->reset_after && r->db ? r->db + GU : NULL;

    memset(dh, 0, (size_t)nu * sizeof(float));
    if (r->kind == CK_RNN_LSTM && r->dc_last)
        memcpy(dc, r->dc_last, (size_t)nu * sizeof(float));
    else
        memset(dc, 0, (size_t)nu * sizeof(float));
    if (r->dR)
        memset(r->dR, 0, (size_t)(U * GU) * sizeof(float));
    if (dbrec)
        memset(dbrec, 0, (size_t)GU * sizeof(float));
    for (int64_t s = T - 1; s >= 0; s--) {
        const int64_t t = time_of(r, s);
        float *dxzt = dxz + t * GU; /* rows of n, stride T*GU */
        const int64_t ldt = T * GU;
        const float *hp = v.hs + s * nu, *h = v.hs + (s + 1) * nu;
        const float *pre = v.pre + s * G * nu, *post = v.post + s * G * nu;
        const float *dhs_s = dhs + s * nu;
        for (int64_t k = 0; k < nu; k++)
            dh[k] += dhs_s[k];
        if (r->mask) /* a masked row computes with zero gradients (so none reaches the weights or
                        dx) and gets its dh, dc back at the end of the step */
            for (int64_t i = 0; i < n; i++)
                if (masked(r, i, t)) {
                    memcpy(kdh + i * U, dh + i * U, (size_t)U * sizeof(float));
                    memcpy(kdc + i * U, dc + i * U, (size_t)U * sizeof(float));
                    memset(dh + i * U, 0, (size_t)U * sizeof(float));
                    memset(dc + i * U, 0, (size_t)U * sizeof(float));
                }
        if (r->kind == CK_RNN_SIMPLE) {
            ck_act_backward(&r->act, pre, h, dh, dg, n, U);
            scatter_block(dxzt, ldt, dg, n, U, 0);
        } else if (lstm) {
            const float *gi = post, *gf = post + nu, *gg = post + 2 * nu, *go = post + 3 * nu;
            const float *cp = v.cs + s * nu, *c = v.cs + (s + 1) * nu, *tc = v.tc + s * nu;
            float *di = dg, *df = dg + nu, *dgg = dg + 2 * nu, *dout = dg + 3 * nu;
            for (int64_t k = 0; k < nu; k++) {
                tmp[k] = dh[k] * go[k]; /* dL/d act(c) */
                dout[k] = dh[k] * tc[k];
            }
            ck_act_backward(&r->act, c, tc, tmp, tmp, n, U);
            for (int64_t k = 0; k < nu; k++) {
                float d = dc[k] + tmp[k];
                di[k] = d * gg[k];
                dgg[k] = d * gi[k];
                df[k] = d * cp[k];
                dc[k] = d * gf[k]; /* into c_prev */
            }
            for (int64_t g = 0; g < 4; g++) {
                ck_act_backward(g == 2 ? &r->act : &r->ract, pre + g * nu, post + g * nu, dg + g * nu, dg + g * nu, n,
                                U);
                scatter_block(dxzt, ldt, dg + g * nu, n, U, g);
            }
        } else {
            const float *z = post, *rr = post + nu, *hh = post + 2 * nu, *aux = v.aux + s * nu;
            float *dz = dg, *dr = dg + nu, *dph = dg + 2 * nu;
            for (int64_t k = 0; k < nu; k++) {
                dz[k] = dh[k] * (hp[k] - hh[k]);
                dph[k] = dh[k] * (1.0f - z[k]);
                tmp2[k] = dh[k] * z[k]; /* direct path into h_prev */
            }
            ck_act_backward(&r->act, pre + 2 * nu, hh, dph, dph, n, U);
            if (r->reset_after) {
                for (int64_t k = 0; k < nu; k++) {
                    dr[k] = dph[k] * aux[k];
                    tmp[k] = dph[k] * rr[k]; /* dL/d(h_prev R_h + b'_h) */
                }
            } else {
                /* tmp (n, U) = dL/d(r h_prev) = dph . R_h^T */
                ck_gemm(false, true, n, U, U, 1.0f, dph, U, r->R + 2 * U, GU, 0.0f, tmp, U);
                if (r->dR) /* dR_h += (r h_prev)^T dph */
                    ck_gemm(true, false, U, U, n, 1.0f, aux, U, dph, U, 1.0f, r->dR + 2 * U, GU);
                for (int64_t k = 0; k < nu; k++) {
                    dr[k] = tmp[k] * hp[k];
                    tmp2[k] += tmp[k] * rr[k];
                }
            }
            ck_act_backward(&r->ract, pre, z, dz, dz, n, U);
            ck_act_backward(&r->ract, pre + nu, rr, dr, dr, n, U);
            for (int64_t g = 0; g < 3; g++)
                scatter_block(dxzt, ldt, dg + g * nu, n, U, g);
            if (r->reset_after) {
                /* dhz (n, GU) = [dz, dr, tmp] */
                scatter_block(dhz, GU, dz, n, U, 0);
                scatter_block(dhz, GU, dr, n, U, 1);
                scatter_block(dhz, GU, tmp, n, U, 2);
                if (r->dR)
                    ck_gemm(true, false, U, GU, n, 1.0f, hp, U, dhz, GU, 1.0f, r->dR, GU);
                if (dbrec)
                    for (int64_t i = 0; i < n; i++)
                        for (int64_t j = 0; j < GU; j++)
                            dbrec[j] += dhz[i * GU + j];
                memcpy(dh, tmp2, (size_t)nu * sizeof(float));
                ck_gemm(false, true, n, U, GU, 1.0f, dhz, GU, r->R, GU, 1.0f, dh, U);
            } else {
                if (r->dR) /* dR_zr += h_prev^T [dz, dr] */
                    ck_gemm(true, false, U, 2 * U, n, 1.0f, hp, U, dxzt, ldt, 1.0f, r->dR, GU);
                memcpy(dh, tmp2, (size_t)nu * sizeof(float));
                ck_gemm(false, true, n, U, 2 * U, 1.0f, dxzt, ldt, r->R, GU, 1.0f, dh, U);
            }
        }
        if (!gru) {
            /* SimpleRNN and LSTM: dR += h_prev^T dz_t; dh_prev = dz_t R^T */
            if (r->dR)
                ck_gemm(true, false, U, GU, n, 1.0f, hp, U, dxzt, ldt, 1.0f, r->dR, GU);
            ck_gemm(false, true, n, U, GU, 1.0f, dxzt, ldt, r->R, GU, 0.0f, dh, U);
        }
        if (r->mask) {
            keep_masked_rows(r, n, t, dh, kdh);
            if (lstm)
                keep_masked_rows(r, n, t, dc, kdc);
        }
    }
    if (dh0)
        memcpy(dh0, dh, (size_t)nu * sizeof(float));
    if (dc0 && lstm)
        memcpy(dc0, dc, (size_t)nu * sizeof(float));
    if (r->dW) /* dW (F, GU) = x^T (F, n*T) . dxz (n*T, GU) */
        ck_gemm(true, false, F, GU, n * T, 1.0f, x, F, dxz, GU, 0.0f, r->dW, GU);
    if (r->db)
        ck_bias_grad(dxz, r->db, n * T, GU);
    if (dx) /* dx (n*T, F) = dxz (n*T, GU) . W^T */
        ck_gemm(false, true, n * T, F, GU, 1.0f, dxz, GU, r->W, GU, beta_dx, dx, F);
}

void ck_embedding_forward(const float *idx, int64_t n, const float *E, int64_t V, int64_t D, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float f = idx[i];
        if (f > -1.0f && f < (float)V) /* truncated, as Keras' cast to int32 */
            memcpy(y + i * D, E + (int64_t)f * D, (size_t)D * sizeof(float));
        else
            memset(y + i * D, 0, (size_t)D * sizeof(float));
    }
}

void ck_embedding_backward(const float *idx, int64_t n, const float *dy, int64_t V, int64_t D, float *dE)
{
    memset(dE, 0, (size_t)(V * D) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        float f = idx[i];
        if (!(f > -1.0f && f < (float)V))
            continue;
        float *row = dE + (int64_t)f * D;
        const float *d = dy + i * D;
        for (int64_t k = 0; k < D; k++)
            row[k] += d[k];
    }
}
