/* Keras' weight constraints (keras.constraints), applied in place after an optimizer step, and the
 * L1L2 penalty of the activity regularizers. */
#include "kernels.h"

#include <math.h>

void ck_constrain_nonneg(float *w, int64_t size)
{
    for (int64_t e = 0; e < size; e++)
        w[e] = w[e] >= 0.0f ? w[e] : 0.0f; /* w * (w >= 0): -0 and NaN become 0 too, as Keras */
}

void ck_constrain_norm(float *w, int ndim, const int64_t *dims, uint32_t axes, int kind, float min_value,
                       float max_value, float rate)
{
    /* the kept axes (one norm each) and the summed ones, with their row-major strides */
    int64_t kd[CKERAS_MAX_DIMS], ks[CKERAS_MAX_DIMS], rd[CKERAS_MAX_DIMS], rs[CKERAS_MAX_DIMS];
    int nk = 0, nr = 0;
    int64_t stride = 1, K = 1, R = 1;
    for (int a = ndim - 1; a >= 0; a--) {
        if (axes & (1u << a)) {
            rd[nr] = dims[a];
            rs[nr++] = stride;
            R *= dims[a];
        } else {
            kd[nk] = dims[a];
            ks[nk++] = stride;
            K *= dims[a];
        }
        stride *= dims[a];
    }
    const float eps = 1e-7f; /* Keras' backend.epsilon() */
    for (int64_t k = 0; k < K; k++) {
        int64_t base = 0, q = k;
        for (int i = 0; i < nk; i++) { /* kd[0] is the innermost kept axis */
            base += (q % kd[i]) * ks[i];
            q /= kd[i];
        }
        float sum = 0.0f;
        for (int64_t j = 0; j < R; j++) {
            int64_t off = base, t = j;
            for (int i = 0; i < nr; i++) {
                off += (t % rd[i]) * rs[i];
                t /= rd[i];
            }
            sum += w[off] * w[off];
        }
        const float norm = sqrtf(sum);
        float scale;
        if (kind == CK_CONSTRAIN_UNIT_NORM) {
            scale = 1.0f / (eps + norm);
        } else {
            const float lo = kind == CK_CONSTRAIN_MAX_NORM ? 0.0f : min_value;
            const float clipped = fminf(fmaxf(norm, lo), max_value);
            const float desired = kind == CK_CONSTRAIN_MAX_NORM ? clipped : rate * clipped + (1.0f - rate) * norm;
            scale = desired / (eps + norm);
        }
        for (int64_t j = 0; j < R; j++) {
            int64_t off = base, t = j;
            for (int i = 0; i < nr; i++) {
                off += (t % rd[i]) * rs[i];
                t /= rd[i];
            }
            w[off] *= scale;
        }
    }
}

double ck_l1l2_penalty(const float *y, int64_t count, float l1, float l2)
{
    double s1 = 0.0, s2 = 0.0;
    for (int64_t e = 0; e < count; e++) {
        s1 += fabsf(y[e]);
        s2 += (double)y[e] * y[e];
    }
    return l1 * s1 + l2 * s2;
}

void ck_l1l2_grad_add(float *dy, const float *y, int64_t count, float l1, float l2)
{
    const float l2x2 = 2.0f * l2;
    for (int64_t e = 0; e < count; e++)
        dy[e] += l1 * (float)((y[e] > 0.0f) - (y[e] < 0.0f)) + l2x2 * y[e];
}
