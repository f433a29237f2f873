/* Loops of the attention layers: a bias broadcast over some axes of an output (EinsumDense's
 * bias_axes), masked row softmax of attention scores, and dropout of attention weights.
 *
 * Sizes: the lengths multiplied here (batch, axes, rows, columns) are those of buffers whose
 * element counts passed ck_size_check (core.h, checked size arithmetic): at most 2^48 each, so
 * no index or product of them wraps. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* Walks the m axes of one sample (od) and yields the bias offset of each element in order. */
#define BCAST_LOOP(body)                                                                                     \
    do {                                                                                                     \
        int64_t idx[CKERAS_MAX_DIMS] = {0}, size = 1;                                                        \
        for (int k = 0; k < m; k++)                                                                          \
            size *= od[k];                                                                                   \
        for (int64_t s = 0; s < n; s++) {                                                                    \
            int64_t boff = 0;                                                                                \
            memset(idx, 0, sizeof idx);                                                                      \
            for (int64_t e = 0; e < size; e++) {                                                             \
                int64_t at = s * size + e;                                                                   \
                body;                                                                                        \
                for (int k = m - 1; k >= 0; k--) {                                                           \
                    if (++idx[k] < od[k]) {                                                                  \
                        boff += bstride[k];                                                                  \
                        break;                                                                               \
                    }                                                                                        \
                    boff -= (od[k] - 1) * bstride[k];                                                        \
                    idx[k] = 0;                                                                              \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

void ck_bcast_add(float *y, int64_t n, int m, const int64_t *od, const int64_t *bstride, const float *b)
{
    BCAST_LOOP(y[at] += b[boff]);
}

void ck_bcast_grad(const float *dy, int64_t n, int m, const int64_t *od, const int64_t *bstride, float *db,
                   int64_t bsize)
{
    memset(db, 0, (size_t)bsize * sizeof(float));
    BCAST_LOOP(db[boff] += dy[at]);
}

void ck_attn_softmax(float *s, int64_t rows, int64_t cols, const float *mask, const float *row_mask,
                     const float *col_mask, const float *col_mask2, bool causal, float scale)
{
    static const ck_act softmax = {.kind = CK_ACT_SOFTMAX};
    for (int64_t r = 0; r < rows; r++) {
        float *sr = s + r * cols;
        bool row_off = row_mask && row_mask[r] == 0.0f;
        for (int64_t c = 0; c < cols; c++) {
            bool off = row_off || (mask && mask[r * cols + c] == 0.0f) || (causal && c > r) ||
                       (col_mask && col_mask[c] == 0.0f) || (col_mask2 && col_mask2[c] == 0.0f);
            sr[c] = sr[c] * scale + (off ? -1e9f : 0.0f);
        }
    }
    ck_act_forward(&softmax, s, s, rows, cols);
}

void ck_attn_softmax_backward(const float *p, float *dp, int64_t rows, int64_t cols, float scale)
{
    static const ck_act softmax = {.kind = CK_ACT_SOFTMAX};
    ck_act_backward(&softmax, NULL, p, dp, dp, rows, cols);
    if (scale != 1.0f)
        for (int64_t i = 0; i < rows * cols; i++)
            dp[i] *= scale;
}

void ck_attn_dropout(const float *p, float *out, int64_t count, float rate, ck_rng *rng)
{
    float keep = 1.0f / (1.0f - rate);
    for (int64_t i = 0; i < count; i++)
        out[i] = ck_rng_uniform(rng) < rate ? 0.0f : p[i] * keep;
}

void ck_attn_dropout_backward(const float *dropped, float *dp, int64_t count, float rate)
{
    float keep = 1.0f / (1.0f - rate);
    for (int64_t i = 0; i < count; i++)
        dp[i] = dropped[i] == 0.0f ? 0.0f : dp[i] * keep;
}

void ck_additive_scores(const float *q, const float *k, int64_t tq, int64_t tv, int64_t d, float a, const float *w,
                        float c, float *th, float *scores)
{
    for (int64_t t = 0; t < tq; t++)
        for (int64_t s = 0; s < tv; s++) {
            float *h = th + (t * tv + s) * d;
            double sum = 0;
            for (int64_t j = 0; j < d; j++) {
                h[j] = tanhf(a * (q[t * d + j] + k[s * d + j]));
                sum += (double)(w ? w[j] : 1.0f) * h[j];
            }
            scores[t * tv + s] = c * (float)sum;
        }
}

void ck_additive_scores_backward(const float *q, const float *k, const float *th, const float *ds, int64_t tq,
                                 int64_t tv, int64_t d, float a, const float *w, float c, float *dq, float *dk,
                                 float *dw, double *da, double *dc)
{
    memset(dq, 0, (size_t)(tq * d) * sizeof(float));
    memset(dk, 0, (size_t)(tv * d) * sizeof(float));
    for (int64_t t = 0; t < tq; t++)
        for (int64_t s = 0; s < tv; s++) {
            const float *h = th + (t * tv + s) * d;
            float g0 = ds[t * tv + s];
            double sum = 0;
            for (int64_t j = 0; j < d; j++) {
                float wj = w ? w[j] : 1.0f;
                sum += (double)wj * h[j];
                if (dw)
                    dw[j] += g0 * c * h[j];
                float g = g0 * c * wj * (1.0f - h[j] * h[j]); /* d loss / d(tanh's argument) */
                dq[t * d + j] += a * g;
                dk[s * d + j] += a * g;
                if (da)
                    *da += (double)g * (q[t * d + j] + k[s * d + j]);
            }
            if (dc)
                *dc += (double)g0 * sum;
        }
}
