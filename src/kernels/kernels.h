/* src/kernels: numeric kernels on plain pointers, sizes and strides.
 * GEMM through BLIS (the only code that includes blis.h), activations, elementwise loops. */
#ifndef CK_KERNELS_H
#define CK_KERNELS_H

#include "core/core.h"

/* ---- GEMM -----------------------------------------------------------------------------
 * C (m x n) = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions
 * lda/ldb/ldc (elements between rows as stored). op(A) is m x k: A is stored m x k, or k x m
 * when ta. op(B) is k x n: B is stored k x n, or n x k when tb. Transposes are strides, not
 * copies. Thread count follows ck_num_threads(). Thread-safe. */
void ck_gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
             const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/* The kernel set in use ("skx", "haswell", "zen3", "generic", ...). */
const char *ck_gemm_kernels(void);

/* ---- activations ---------------------------------------------------------------------- */

typedef enum ck_act_kind {
    CK_ACT_LINEAR = 0,
    CK_ACT_RELU,
    CK_ACT_SIGMOID,
    CK_ACT_TANH,
    CK_ACT_SOFTMAX,     /* over the last axis (each row of cols) */
    CK_ACT_LOG_SOFTMAX, /* over the last axis */
    CK_ACT_ELU,         /* alpha 1 */
    CK_ACT_SELU,
    CK_ACT_LEAKY_RELU,  /* alpha = negative slope (Keras 3 default 0.2) */
    CK_ACT_GELU,        /* exact (erf) */
    CK_ACT_GELU_TANH,   /* approximate=True */
    CK_ACT_SILU,        /* = swish */
    CK_ACT_SOFTPLUS,
    CK_ACT_SOFTSIGN,
    CK_ACT_HARD_SIGMOID,    /* Keras 3: relu6(x + 3) / 6 */
    CK_ACT_HARD_SIGMOID_K2, /* Keras 2: clip(0.2 x + 0.5, 0, 1) */
    CK_ACT_HARD_SILU,
    CK_ACT_EXPONENTIAL,
    CK_ACT_RELU6,
    CK_ACT_MISH,
    CK_ACT_COUNT
} ck_act_kind;

typedef struct ck_act {
    ck_act_kind kind;
    float alpha; /* leaky_relu's negative slope; unused otherwise */
} ck_act;

/* Parses a Keras activation name ("relu", "swish", "silu", NULL or "" or "linear" -> linear,
 * "leaky_relu" with slope 0.2, "gelu", ...). Unknown names are CKERAS_EINVAL with the list. */
ckeras_status ck_act_parse(const char *name, ck_act *out);
/* Keras' canonical name of an activation, as get_config() writes it ("silu" for swish). */
const char *ck_act_name(const ck_act *a);
/* y = f(x), x and y are rows x cols (row-wise ops use each row); y may alias x. */
void ck_act_forward(const ck_act *a, const float *x, float *y, int64_t rows, int64_t cols);
/* dx = dy * f'(x) (or the row-wise Jacobian product for softmax). x is the forward input, y
 * its output; dx may alias dy. */
void ck_act_backward(const ck_act *a, const float *x, const float *y, const float *dy, float *dx, int64_t rows,
                     int64_t cols);
/* True when ck_act_backward reads x (otherwise y alone suffices and x may be NULL). */
bool ck_act_backward_needs_x(const ck_act *a);

/* ---- elementwise and reductions -------------------------------------------------------- */

/* out[r][c] += bias[c] for rows x cols */
void ck_add_bias(float *out, const float *bias, int64_t rows, int64_t cols);
/* db[c] = sum_r dy[r][c] (overwrites) */
void ck_bias_grad(const float *dy, float *db, int64_t rows, int64_t cols);

/* ---- convolution and pooling (NHWC, channels last) --------------------------------------
 * A 1D layer is the 2D case with h = 1, kh = 1. Images are (h, w, c) row-major and follow each
 * other in a batch; window rows of the im2col matrix are ordered (ky, kx, channel), which is
 * the row order of a Keras kernel (kh, kw, in, filters) viewed as (kh*kw*in, filters). */

typedef enum ck_pad_mode { CK_PAD_VALID = 0, CK_PAD_SAME, CK_PAD_CAUSAL } ck_pad_mode;

typedef struct ck_conv_geom {
    int64_t h, w, c;    /* input image */
    int64_t kh, kw;     /* window */
    int64_t sh, sw;     /* strides */
    int64_t dh, dw;     /* dilation (1 for pooling) */
    int64_t pt, pl;     /* padding before the first row / column; the far side is implied */
    int64_t oh, ow;     /* output positions */
} ck_conv_geom;

/* Output length and leading padding of one axis, Keras/TensorFlow rules: valid: out =
 * floor((in - (k-1)*d - 1) / s) + 1 (<= 0 when the window does not fit); same: out =
 * ceil(in / s), total = max((out-1)*s + (k-1)*d + 1 - in, 0), before = total / 2; causal:
 * out = ceil(in / s), before = (k-1)*d. */
void ck_conv_axis(ck_pad_mode mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *before);
/* The im2col matrix of a batch x (n, h, w, c) is (n*oh*ow, kh*kw*c): row r = (image*oh + oy)*ow
 * + ox holds the window of that output, padded cells 0. ck_im2col writes its rows [r0, r1) to
 * cols ((r1-r0), kh*kw*c). */
void ck_im2col(const ck_conv_geom *g, const float *x, int64_t r0, int64_t r1, float *cols);
/* Adjoint: dx (n, h, w, c) += rows [r0, r1) of an im2col-shaped cols scattered back to their
 * windows (dx is accumulated into, not cleared). */
void ck_col2im(const ck_conv_geom *g, const float *cols, int64_t r0, int64_t r1, float *dx);
/* Max pooling, y (n, oh, ow, c); padded cells never win. argmax (may be NULL) gets, per output,
 * the index in its image ((iy*w + ix)*c + ch) of the first maximum. */
void ck_maxpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y, int32_t *argmax);
/* dx (n, h, w, c) = dy routed to the argmax of each window (overwrites dx). */
void ck_maxpool_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, int64_t n, float *dx);
/* Average pooling over the cells of each window inside the image (TensorFlow's definition:
 * padded cells never count). */
void ck_avgpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y);
/* dx (n, h, w, c) = its adjoint (overwrites dx). */
void ck_avgpool_backward(const ck_conv_geom *g, const float *dy, int64_t n, float *dx);
/* Global pooling of x (n, s, c) over its s positions into y (n, c). */
void ck_global_avgpool_forward(const float *x, int64_t n, int64_t s, int64_t c, float *y);
void ck_global_avgpool_backward(const float *dy, int64_t n, int64_t s, int64_t c, float *dx);
/* argmax (n, c) may be NULL: position of the first maximum. */
void ck_global_maxpool_forward(const float *x, int64_t n, int64_t s, int64_t c, float *y, int32_t *argmax);
void ck_global_maxpool_backward(const float *dy, const int32_t *argmax, int64_t n, int64_t s, int64_t c,
                                float *dx);

#endif
