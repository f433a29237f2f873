/* src/kernels/mathf.h: e^x, tanh(x) and erf(x) for float, written for `omp simd` loops.
 *
 * libm's expf, tanhf and erff are calls GCC cannot vectorise (glibc declares its vector
 * versions only under -ffast-math), so a loop over them runs one element at a time: the gates of
 * an LSTM spent 46 % of its training step in expf, expm1f and tanhf (T = 50, 128 units, batch
 * 64). These are plain float arithmetic, integer ops on the bits and selects, which GCC
 * vectorises at any width; no FMA is contracted (-std=c11), so the vector lanes, a scalar
 * remainder and every ISA's clone give the same bits for the same x.
 *
 * Accuracy, measured against double-precision exp, tanh and erf on every float (not sampled):
 *  - ck_expf: at most 0.99 ulp over [-110, 90] (2.24 G floats), subnormal results included;
 *    e^x is +inf from x >= 88.7228394 (as expf) and 0 below -104; NaN stays NaN.
 *  - ck_tanhf: at most 1.33 ulp over [0, 20], odd (the sign of -0 kept); +-1 beyond; NaN stays
 *    NaN.
 *  - ck_erff: at most 1.67 ulp and 1.0e-7 absolute over [0, 6], odd; +-1 beyond; NaN stays NaN.
 * libm's are within ~0.5 ulp; the difference is far below the 1e-6 relative tolerance the tests
 * hold the activations to against Keras.
 *
 * ck_expf: x = n ln2 + r with n = round(x / ln2) and |r| <= ln2 / 2 (ln2 split in two, so n ln2's
 * first part is exact), e^r = 1 + r + r^2 q(r) with q of degree 4, and 2^n applied as two
 * factors 2^(n/2), each a normal float, so results between FLT_MIN and the smallest subnormal
 * come out right too. ck_tanhf: x + x^3 P(x^2) below 0.625, else 1 - 2 / (e^(2|x|) + 1). The
 * polynomials' coefficients were fitted here (weighted least squares iterated to equal ripple,
 * on 4000 Chebyshev nodes) for relative error: 3e-9 for q, 4e-9 for P. ck_erff: a + a P(a^2)
 * below 1.1 (1.4e-10), else 1 - e^(-a^2) Q(1 / a), Q fitted to erfc(a) e^(a^2) on [1.1, 4]
 * (3.3e-8). */
#ifndef CK_MATHF_H
#define CK_MATHF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) float ck_bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline __attribute__((always_inline)) uint32_t ck_float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline __attribute__((always_inline)) float ck_expf(float x)
{
    /* 1.5 * 2^23: adding it rounds x / ln2 to an integer held in the low bits of t */
    const float shift = 12582912.0f;
    float xc = x < 88.7228394f ? x : 88.7228394f;
    xc = xc > -104.0f ? xc : -104.0f;
    xc = x != x ? x : xc; /* NaN */
    const float t = xc * 1.44269502f + shift;
    const float n = t - shift;
    float r = xc - n * 0.693145752f; /* ln2 to 15 bits: n * it is exact */
    r = r - n * 1.42860677e-6f;      /* the rest of ln2 */
    float q = 0.00138146128f;
    q = q * r + 0.00836871006f;
    q = q * r + 0.0416683890f;
    q = q * r + 0.166665211f;
    q = q * r + 0.499999940f;
    const float p = (q * (r * r) + r) + 1.0f;
    /* n from t's bits (integer arithmetic: no float-to-int conversion, defined for NaN too) */
    const int32_t ni = (int32_t)(ck_float_bits(t) - 0x4B400000u);
    const int32_t n1 = ni >> 1, n2 = ni - n1;
    return p * ck_bits_float((uint32_t)(n1 + 127) << 23) * ck_bits_float((uint32_t)(n2 + 127) << 23);
}

static inline __attribute__((always_inline)) float ck_tanhf(float x)
{
    const float a = fabsf(x), s = x * x;
    float p = -0.00570498733f;
    p = p * s + 0.020639088f;
    p = p * s + -0.0537397154f;
    p = p * s + 0.133314416f;
    p = p * s + -0.333332807f;
    const float small = a + a * (s * p);
    const float big = 1.0f - 2.0f / (ck_expf(2.0f * a) + 1.0f);
    return copysignf(a < 0.625f ? small : big, x);
}

static inline __attribute__((always_inline)) float ck_erff(float x)
{
    const float a = fabsf(x), s = x * x;
    float p = -8.8067909e-06f; /* erf(a) = a + a P(a^2) below 1.1 */
    p = p * s + 0.000109546017f;
    p = p * s + -0.000843985355f;
    p = p * s + 0.00521792145f;
    p = p * s + -0.0268643107f;
    p = p * s + 0.112837635f;
    p = p * s + -0.376126379f;
    p = p * s + 0.128379166f;
    const float small = a + a * p;
    const float ac = a < 4.0f ? (a > 1.1f ? a : 1.1f) : 4.0f; /* erf is 1 in float from 3.92 */
    const float u = 1.0f / ac;
    float q = -0.0232646242f; /* erfc(a) e^(a^2) = Q(1 / a) from 1.1 to 4 */
    q = q * u + 0.091483742f;
    q = q * u + -0.0985554457f;
    q = q * u + -0.109660842f;
    q = q * u + 0.410065502f;
    q = q * u + -0.436143756f;
    q = q * u + 0.0332003161f;
    q = q * u + 0.56025672f;
    q = q * u + 0.000199115253f;
    const float big = 1.0f - ck_expf(-(ac * ac)) * q;
    return x != x ? x : copysignf(a < 1.1f ? small : big, x);
}

#endif /* CK_MATHF_H */
