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
/* The library's own kernels for small products ("avx512", "avx2"), or "none" (BLIS does every
 * product; also when the environment has CKERAS_GEMM_SMALL=0). */
const char *ck_gemm_small_kernels(void);
/* Whether large products run on the library's own blocked driver around BLIS's micro-kernel
 * (AVX-512 machines; off with CKERAS_GEMM_DRIVER=blis). ck_gemm_set_driver(false) hands them
 * back to BLIS's own driver, for tests and benchmarks (not thread-safe with running products);
 * it returns the previous setting. */
bool ck_gemm_driver(void);
bool ck_gemm_set_driver(bool on);

/* Adam's update of one weight matrix, fused into the product that makes its gradient: w, m and
 * v have the layout of that product's C (rows ldc apart), and the scalars are the optimizer's
 * for this step (optimizers.c). */
typedef struct ck_adam_fuse {
    float *w, *m, *v;
    float b1, c1, b2, c2, alpha, eps;
} ck_adam_fuse;

/* C (m x n) = A^T B (A stored k x m, rows lda apart; B k x n, rows ldb apart; C overwritten),
 * then Adam's update from C of every element of u's w, m and v: each 8 x 32 tile of C is
 * updated while the next one is computed (the product keeps the FMA units busy, the update
 * mostly the divider). The update's operations are those of the optimizer's own loop, in its
 * order, so w, m and v get its bits. The call runs, as that loop does, with subnormal floats
 * read and written as zero, the product included: C is the plain product's bit for bit unless
 * its inputs, products or partial sums fall below FLT_MIN (about 1.2e-38). Returns false,
 * having done nothing, where the library's own driver does not run (not AVX-512, switched off),
 * for k > CK_GEMM_ADAM_MAX_K, for products small enough for the single-call kernels
 * (m n k <= 2^20), and for those that would run on several threads (there the separate product
 * and update are faster). */
bool ck_gemm_tn_adam(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b, int64_t ldb,
                     float *c, int64_t ldc, const ck_adam_fuse *u);
#define CK_GEMM_ADAM_MAX_K 32 /* the largest k ck_gemm_tn_adam takes */

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
    CK_ACT_CELU,           /* alpha (Keras default 1) */
    CK_ACT_HARD_TANH,
    CK_ACT_LOG_SIGMOID,
    CK_ACT_SPARSE_PLUS,
    CK_ACT_SPARSE_SIGMOID,
    CK_ACT_SQUAREPLUS,     /* alpha = b (Keras default 4) */
    CK_ACT_TANH_SHRINK,
    CK_ACT_SOFT_SHRINK,    /* alpha = threshold (Keras default 0.5) */
    CK_ACT_HARD_SHRINK,    /* alpha = threshold (Keras default 0.5) */
    CK_ACT_SPARSEMAX,      /* over the last axis, Keras 3.11's formula (see activations.c) */
    CK_ACT_GLU,            /* halves the last axis: rows x cols in, rows x cols/2 out; only the
                              Activation layer takes it (ck_act_parse refuses it) */
    CK_ACT_COUNT
} ck_act_kind;

typedef struct ck_act {
    ck_act_kind kind;
    float alpha; /* leaky_relu's negative slope, celu's alpha, squareplus' b, the shrinks'
                    threshold; unused otherwise */
} ck_act;

/* Parses a Keras activation name ("relu", "swish", "silu", NULL or "" or "linear" -> linear,
 * "leaky_relu" with slope 0.2, "gelu", ...), parameters at Keras' defaults. Unknown names are
 * CKERAS_EINVAL with the list; "threshold" (no defaults in Keras) and "glu" (it halves the last
 * axis) are CKERAS_EUNSUPPORTED saying why. */
ckeras_status ck_act_parse(const char *name, ck_act *out);
/* ck_act_parse for the Activation layer, which also takes "glu". */
ckeras_status ck_act_parse_any(const char *name, ck_act *out);
/* Keras' canonical name of an activation, as get_config() writes it ("silu" for swish). */
const char *ck_act_name(const ck_act *a);
/* y = f(x), x and y are rows x cols (row-wise ops use each row); y may alias x. */
void ck_act_forward(const ck_act *a, const float *x, float *y, int64_t rows, int64_t cols);
/* dx = dy * f'(x) (or the row-wise Jacobian product for softmax). x is the forward input, y
 * its output; dx may alias dy. */
void ck_act_backward(const ck_act *a, const float *x, const float *y, const float *dy, float *dx, int64_t rows,
                     int64_t cols);
/* Softmax along the middle axis of x viewed as (outer, len, inner): y may alias x. */
void ck_softmax_axis_forward(const float *x, float *y, int64_t outer, int64_t len, int64_t inner);
/* Its backward from the output y: dx = y * (dy - sum over the axis of dy * y); dx may alias dy. */
void ck_softmax_axis_backward(const float *y, const float *dy, float *dx, int64_t outer, int64_t len, int64_t inner);
/* True when ck_act_backward reads x (otherwise y alone suffices and x may be NULL). */
bool ck_act_backward_needs_x(const ck_act *a);
/* Dense's epilogue in one pass: y (rows x cols) = f(y + bias) (bias (cols) may be NULL), the
 * same floats as ck_add_bias then ck_act_forward. Returns false, touching nothing, when this
 * activation or size has no fused form (then make the two calls). */
bool ck_bias_act_forward(const ck_act *a, float *y, const float *bias, int64_t rows, int64_t cols);
/* The backward of that in one pass: dy (rows x cols) becomes dz = dy * f'(.) computed from
 * the output y (as ck_act_backward), and db (cols; may be NULL) = column sums of dz (as
 * ck_bias_grad). Returns false, touching nothing, when there is no fused form (activations
 * whose backward needs x, large sizes). */
bool ck_act_backward_bias_grad(const ck_act *a, const float *y, float *dy, float *db, int64_t rows, int64_t cols);

/* ---- elementwise and reductions -------------------------------------------------------- */

/* out[r][c] += bias[c] for rows x cols */
void ck_add_bias(float *out, const float *bias, int64_t rows, int64_t cols);
/* db[c] = sum_r dy[r][c] (overwrites) */
void ck_bias_grad(const float *dy, float *db, int64_t rows, int64_t cols);

/* ---- normalisation and shape layers (norm.c) --------------------------------------------
 * x is viewed as rows x c: c is the normalised (BatchNormalization) or reduced
 * (LayerNormalization) extent, everything before it is rows. */

/* Per-channel mean and BIASED variance of x (rows x c) over the rows, two passes with double
 * accumulators; acc is 2*c doubles of scratch. */
void ck_channel_moments(const float *x, int64_t rows, int64_t c, float *mean, float *var, double *acc);
/* inv_std[k] = 1 / sqrt(var[k] + eps) */
void ck_inv_std(const float *var, int64_t c, float eps, float *inv_std);
/* xhat = (x - mean[k]) * inv_std[k]; y = gamma[k] * xhat + beta[k] (gamma/beta may be NULL:
 * 1 and 0); xhat may be NULL (not kept); x, y (rows x c); y may alias x. */
void ck_bn_forward(const float *x, int64_t rows, int64_t c, const float *mean, const float *inv_std,
                   const float *gamma, const float *beta, float *xhat, float *y);
/* Backward of ck_bn_forward. dgamma[k] = sum dy*xhat, dbeta[k] = sum dy (each may be NULL).
 * dx (may be NULL, may alias dy): batch_stats: the statistics were the batch's, so
 *   dx = gamma*inv_std/N * (N dy - sum dy - xhat sum dy*xhat)   (N = rows);
 * else the affine map dx = gamma*inv_std*dy. acc is 2*c doubles of scratch. */
void ck_bn_backward(const float *dy, const float *xhat, int64_t rows, int64_t c, const float *gamma,
                    const float *inv_std, bool batch_stats, float *dx, float *dgamma, float *dbeta, double *acc);
/* Keras' masked batch statistics: with weights w (0 for a masked value) per row (w has rows
 * values, full false) or per value (rows x c, full true), W = sum w + 1e-7 per channel,
 *   mean = sum w x / W,  var = sum w (x - mean)^2 / W.
 * acc is 3*c doubles of scratch. */
void ck_bn_masked_moments(const float *x, const float *w, bool full, int64_t rows, int64_t c, float *mean,
                          float *var, double *acc);
/* Backward of ck_bn_forward on ck_bn_masked_moments' statistics: with g = dy * gamma,
 *   dx = inv_std (g - w / W sum g - w xhat / W sum g xhat)   (sums over all rows);
 * dgamma, dbeta as ck_bn_backward. acc is 3*c doubles of scratch. */
void ck_bn_masked_backward(const float *dy, const float *xhat, const float *w, bool full, int64_t rows, int64_t c,
                           const float *gamma, const float *inv_std, float *dx, float *dgamma, float *dbeta,
                           double *acc);
/* avg = avg * momentum + v * (1 - momentum), n values (Keras' moving statistics) */
void ck_moving_update(float *avg, const float *v, int64_t n, float momentum);

/* Layer normalisation of each row of x (rows x d): xhat = (x - mean_r) * inv_std[r],
 * y = gamma * xhat + beta (gamma/beta (d) may be NULL); xhat (rows x d) and inv_std (rows) are
 * kept for the backward when not NULL. y may alias x. */
void ck_ln_forward(const float *x, int64_t rows, int64_t d, float eps, const float *gamma, const float *beta,
                   float *xhat, float *inv_std, float *y);
/* Backward of ck_ln_forward: with g = dy * gamma,
 *   dx = inv_std/d * (d g - sum g - xhat sum g*xhat) per row;
 * dgamma (d) = sum over rows of dy*xhat, dbeta (d) = sum of dy (overwritten; may be NULL).
 * dx may be NULL or alias dy. */
void ck_ln_backward(const float *dy, const float *xhat, const float *inv_std, int64_t rows, int64_t d,
                    const float *gamma, float *dx, float *dgamma, float *dbeta);

/* Root-mean-square scaling of each row of x (rows x d): y = x * inv[r] * gamma, with
 * inv[r] = 1 / sqrt(m2_r + eps), where m2_r is the row's variance (centre: Keras'
 * LayerNormalization(rms_scaling=True), which does not subtract the mean from x) or its mean
 * square (RMSNormalization). mean (rows) gets the row's mean (0 without centre) and inv (rows)
 * inv[r], each when not NULL. gamma (d) may be NULL. y may alias x. */
void ck_rms_forward(const float *x, int64_t rows, int64_t d, float eps, bool centre, const float *gamma,
                    float *mean, float *inv, float *y);
/* Backward of ck_rms_forward from its input x and kept mean, inv: with g = dy * gamma,
 *   dx = inv g - inv^3 (x - mean) / d * sum(g x) per row;
 * dgamma (d) = sum over rows of dy * x * inv (overwritten; may be NULL). dx may be NULL. */
void ck_rms_backward(const float *dy, const float *x, const float *mean, const float *inv, int64_t rows,
                     int64_t d, const float *gamma, float *dx, float *dgamma);
/* Group normalisation of x (n, s, c): channel k is in group k / (c / groups); each sample's
 * group is normalised over its s * c / groups values: xhat = (x - mean) * inv[b * groups + g],
 * y = gamma[k] * xhat + beta[k] (each may be NULL). xhat (n, s, c) and inv (n * groups) kept
 * when not NULL. acc is 2 * groups doubles of scratch. */
void ck_gn_forward(const float *x, int64_t n, int64_t s, int64_t c, int64_t groups, float eps, const float *gamma,
                   const float *beta, float *xhat, float *inv, float *y, double *acc);
/* Backward of ck_gn_forward: with g = dy * gamma, per sample and group (M values)
 *   dx = inv (g - mean(g) - xhat mean(g xhat));
 * dgamma (c) = sum dy * xhat, dbeta (c) = sum dy (overwritten; may be NULL); dx may be NULL. */
void ck_gn_backward(const float *dy, const float *xhat, const float *inv, int64_t n, int64_t s, int64_t c,
                    int64_t groups, const float *gamma, float *dx, float *dgamma, float *dbeta, double *acc);
/* L2 normalisation of each row of x (rows x d), as Keras' UnitNormalization:
 * y = x * inv[r], inv[r] = min(1 / sqrt(sum x^2), 1 / eps); inv (rows) kept when not NULL. */
void ck_l2n_forward(const float *x, int64_t rows, int64_t d, float eps, float *inv, float *y);
/* Backward of ck_l2n_forward from x and inv: dx = inv (dy - inv^2 x sum(dy x)) per row, or inv dy
 * where the bound 1 / eps was taken. */
void ck_l2n_backward(const float *dy, const float *x, const float *inv, int64_t rows, int64_t d, float eps,
                     float *dx);

/* Window copy of NHWC images: dst (n, dh, dw, c)[i][j] = src (n, sh, sw, c)[i + oy][j + ox],
 * or 0 where that falls outside src. Padding is oy = -top, cropping oy = +top, and each is the
 * other's backward. */
void ck_window2d(const float *src, int64_t n, int64_t sh, int64_t sw, int64_t c, float *dst, int64_t dh,
                 int64_t dw, int64_t oy, int64_t ox);
/* The same for volumes: dst (n, d[0], d[1], d[2], c)[i][j][k] = src (n, s[0], s[1], s[2], c)[i +
 * o[0]][j + o[1]][k + o[2]], or 0 outside src. */
void ck_window3d(const float *src, int64_t n, const int64_t s[3], int64_t c, float *dst, const int64_t d[3],
                 const int64_t o[3]);
/* Nearest upsampling: y (n, h*fy, w*fx, c)[i][j] = x (n, h, w, c)[i/fy][j/fx]. */
void ck_upsample_nearest(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy, int64_t fx,
                         float *y);
/* Its backward: dx[i][j] = sum of dy over the fy x fx block of (i, j). */
void ck_upsample_nearest_backward(const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy,
                                  int64_t fx, float *dx);
/* Bilinear upsampling with half-pixel centres (src = (dst + 0.5)/f - 0.5, clamped to the
 * edges; align_corners=False, no antialiasing). */
void ck_upsample_bilinear(const float *x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy, int64_t fx,
                          float *y);
/* Its adjoint: dx (n, h, w, c) = the transpose of the interpolation applied to dy. */
void ck_upsample_bilinear_backward(const float *dy, int64_t n, int64_t h, int64_t w, int64_t c, int64_t fy,
                                   int64_t fx, float *dx);

/* Keras' relu with parameters on count values: y = x > threshold ? min(x, max_value) :
 * slope * (x - threshold) (max_value INFINITY for none). y may alias x. */
void ck_relu_ex(const float *x, int64_t count, float max_value, float slope, float threshold, float *y);
/* dx = dy * (x > threshold ? (x < max_value) : slope); dx may alias dy. */
void ck_relu_ex_backward(const float *x, const float *dy, int64_t count, float max_value, float slope,
                         float threshold, float *dx);
/* y = x * scale + offset, count values; y may alias x. */
void ck_scale_shift(const float *x, int64_t count, float scale, float offset, float *y);
/* y (n, h*w, c) = x * mask (n, c) broadcast over the h*w positions; y may alias x. */
void ck_channel_mask(const float *x, const float *mask, int64_t n, int64_t hw, int64_t c, float *y);
/* Axis permutation of each of n samples: x has per-sample shape shape[0..ndim), y axis k is x
 * axis perm[k]. */
void ck_permute(const float *x, int64_t n, int ndim, const int64_t *shape, const int *perm, float *y);
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
 * out = ceil(in / s), before = (k-1)*d. False (out = 0) when the dilated window passes 2^48 or
 * an argument is out of range (checked arithmetic: a kernel of 2^40 with dilation 2^40 is refused,
 * not wrapped). */
bool ck_conv_axis(ck_pad_mode mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *out, int64_t *before);
/* The im2col matrix of a batch x (n, h, w, c) is (n*oh*ow, kh*kw*c): row r = (image*oh + oy)*ow
 * + ox holds the window of that output, padded cells 0. ck_im2col writes its rows [r0, r1) to
 * cols ((r1-r0), kh*kw*c). */
void ck_im2col(const ck_conv_geom *g, const float *x, int64_t r0, int64_t r1, float *cols);
/* Adjoint: dx (n, h, w, c) += rows [r0, r1) of an im2col-shaped cols scattered back to their
 * windows (dx is accumulated into, not cleared). */
void ck_col2im(const ck_conv_geom *g, const float *cols, int64_t r0, int64_t r1, float *dx);
/* The depth axis of a 3D convolution (Conv3D: images (d, h, w, c), kernels (kd, kh, kw, in,
 * filters)): input slices d, window kd, stride sd, dilation dd, leading padding pf, output
 * slices od. The 3D im2col matrix of x (n, d, h, w, c) is (n*od*oh*ow, kd*kh*kw*c), its row
 * ((image*od + oz)*oh + oy)*ow + ox the window of that output, (kz, ky, kx, channel) order;
 * ck_im2col3d and ck_col2im3d are ck_im2col and ck_col2im with that axis (z NULL: none, the
 * 2D case). */
typedef struct ck_conv_depth {
    int64_t d, kd, sd, dd, pf, od;
} ck_conv_depth;
void ck_im2col3d(const ck_conv_geom *g, const ck_conv_depth *z, const float *x, int64_t r0, int64_t r1, float *cols);
void ck_col2im3d(const ck_conv_geom *g, const ck_conv_depth *z, const float *cols, int64_t r0, int64_t r1, float *dx);
/* The direct convolution's core, a GEMM whose left operand is gathered from an image through
 * two offset tables (an implicit im2col), for r < R, j < N:
 *   C[r*ldc + j] = relu?( [acc ? C[r*ldc + j] : 0] + sum_{l<L} X[roff[r] + loff[l]] * B[l*ldb + j]
 *                         + [bias ? bias[j] : 0] )
 * Single-threaded (callers split rows or images). AVX-512 / AVX2 kernels chosen at run time; a
 * slow portable loop otherwise: use it only when ck_gather_gemm_available(). */
bool ck_gather_gemm_available(void);
void ck_gather_gemm(int64_t R, int64_t L, int64_t N, const float *X, const int32_t *roff, const int32_t *loff,
                    const float *B, int64_t ldb, float *C, int64_t ldc, const float *bias, bool relu, bool acc);
/* Single-channel convolutions with few filters, vectorised over output pixels (16 of one output
 * row per vector) instead of over the filters (F of 16 lanes): the first layer of a grayscale
 * network, e.g. LeNet's 5x5x1 -> 6. Stride 1; x is one channel with rows `pitch` apart, already
 * padded (output (oy, ox) reads x[(oy + ky*dh) * pitch + ox + kx*dw]); W is (kh*kw, F).
 * Available on AVX-512 CPUs for 1 <= F <= CK_PIXCONV_MAX_F (ck_pixconv_available), unless
 * CKERAS_CONV=gather is set.
 *
 * ck_pixconv_forward: y (oh*ow, F) of one image = relu?(sum over taps in order + bias): the
 * same multiply-adds in the same order as ck_gather_gemm, so equal to it bit for bit.
 * ck_pixconv_dw: dW rows [t0, t1) (taps) = sum over n images of x windows . dzT, where dzT is
 * dz transposed per image, (n, F, oh*ow) (ck_transpose_rows); summed in 16-pixel partial sums
 * (a different order than ck_gather_gemm: equal within float rounding). */
#define CK_PIXCONV_MAX_F 12
bool ck_pixconv_available(int64_t c, int64_t F);
void ck_pixconv_forward(const float *x, int64_t pitch, const ck_conv_geom *g, const float *W, int64_t F, float *y,
                        const float *bias, bool relu);
void ck_pixconv_dw(const float *x, int64_t img, int64_t pitch, const float *dzT, int64_t n, const ck_conv_geom *g,
                   int64_t F, int64_t t0, int64_t t1, float *dW);
/* dst (cols, rows) = the transpose of src (rows, cols), both tight. */
void ck_transpose_rows(const float *src, int64_t rows, int64_t cols, float *dst);
/* Max pooling, y (n, oh, ow, c); padded cells never win. argmax (may be NULL) gets, per output,
 * the index in its image ((iy*w + ix)*c + ch) of the first maximum. */
void ck_maxpool_forward(const ck_conv_geom *g, const float *x, int64_t n, float *y, int32_t *argmax);
/* Whether g is a 2x2 window at stride 2 (dilation 1) with no padding: no input cell lies in
 * two windows. */
bool ck_maxpool_is_2x2(const ck_conv_geom *g);
/* One image of a 2x2 stride-2 max pooling on the calling thread: ck_maxpool_forward(g, x, 1, y,
 * argmax), the same floats and indices. false, with nothing written, for another geometry. */
bool ck_maxpool2x2_one(const ck_conv_geom *g, const float *x, float *y, int32_t *argmax);
/* dx (n, h, w, c) = dy routed to the argmax of each window (overwrites dx). */
void ck_maxpool_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, int64_t n, float *dx);
/* dz (rows, F) = dz * (y > 0) in place (a relu's backward from its output y), and db (F) = the
 * column sums of the result when db is not NULL, in one pass (over the threads when large). */
void ck_relu_bias_backward(const float *y, float *dz, int64_t rows, int64_t F, float *db);
/* The widest channel axis ck_maxpool2x2_relu_backward takes. */
#define CK_RELU_POOL_MAX_C 1024
/* A 2x2 stride-2 max pooling's backward fused with the relu's whose output x (n, h, w, c) it
 * pooled: dz = ck_maxpool_backward(g, dy, argmax, n) and then ck_relu_bias_backward(x, dz,
 * n h w, c, db), the same floats, in one pass. false, with nothing written, for another
 * geometry (padding, other windows or strides) or c outside [16, CK_RELU_POOL_MAX_C]. */
bool ck_maxpool2x2_relu_backward(const ck_conv_geom *g, const float *dy, const int32_t *argmax, const float *x,
                                 int64_t n, float *dz, float *db);
/* How many times ck_maxpool2x2_relu_backward ran, in this process (for tests). */
uint64_t ck_maxpool2x2_relu_runs(void);
/* out[e] = the sum of T per-thread parts (each len floats, one after another) at e, added in
 * thread order, for e in [e0, e1) */
void ck_add_parts(const float *parts, int T, int64_t len, int64_t e0, int64_t e1, float *out);
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

/* ---- depthwise convolution (depthwise.c) ------------------------------------------------
 * g describes the input (h, w, c) and the window; dm is the depth multiplier. W is Keras'
 * depthwise kernel (kh, kw, c, dm); output channel o = ch*dm + m of y (n, oh, ow, c*dm) is
 *   y[i][oy][ox][o] = sum over (ky, kx) of x[i][oy*sh - pt + ky*dh][ox*sw - pl + kx*dw][ch] * W[ky][kx][ch][m]
 * (cells outside the image are 0). Thread-safe; threads split the work when it is large. */
void ck_depthwise_forward(const ck_conv_geom *g, int64_t dm, const float *x, const float *W, int64_t n, float *y);
/* dx (n, h, w, c) = the adjoint of the forward in x applied to dy (n, oh, ow, c*dm) (overwrites dx). */
void ck_depthwise_backward_input(const ck_conv_geom *g, int64_t dm, const float *dy, const float *W, int64_t n,
                                 float *dx);
/* dW (kh, kw, c, dm) = d(sum y * dy)/dW for the batch x (n, h, w, c) (overwrites dW). */
void ck_depthwise_backward_kernel(const ck_conv_geom *g, int64_t dm, const float *x, const float *dy, int64_t n,
                                  float *dW);


/* ---- recurrent layers (recurrent.c) -----------------------------------------------------
 * One recurrent direction over a batch of sequences x (n, T, F), Keras' formulas and weight
 * layouts (gate blocks of U columns, in Keras' order):
 *   SimpleRNN (G=1): h = act(x W + h_prev R + b)
 *   LSTM (G=4: i, f, c, o): i, f, o = ract(.), g = act(.) of x W + h_prev R + b;
 *       c = f c_prev + i g; h = o act(c)
 *   GRU (G=3: z, r, h): z, r = ract(x W_zr + b_zr + h_prev R_zr (+ b'_zr));
 *       reset_after: hh = act(x W_h + b_h + r (h_prev R_h + b'_h)), bias (2, 3U) = [b; b']
 *       otherwise:   hh = act(x W_h + b_h + (r h_prev) R_h), bias (3U);
 *       h = z h_prev + (1 - z) hh
 * W is (F, G*U), R is (U, G*U). Step s reads time t = s, or T-1-s with go_backwards. The
 * states after each step stay in saved (ck_rnn_states gives them); the backward reads them.
 * With a mask, a masked step keeps the states of the step before (h and, for LSTM, c), as
 * Keras does; its dL/dh and dL/dc pass to the step before unchanged. */

typedef enum ck_rnn_kind { CK_RNN_SIMPLE = 0, CK_RNN_LSTM, CK_RNN_GRU } ck_rnn_kind;

typedef struct ck_rnn {
    ck_rnn_kind kind;
    int64_t T, F, U;         /* timesteps, features, units */
    ck_act act, ract;        /* activation, recurrent activation (unused by SimpleRNN) */
    bool go_backwards, reset_after;
    const float *W, *R, *b;  /* kernel, recurrent kernel, bias (NULL: no bias) */
    float *dW, *dR, *db;     /* their gradients (overwritten), NULL when not wanted */
    const float *dc_last;    /* LSTM: dL/d(cell state after the last step) (n, U) for the backward
                                (a return_state output), NULL: 0 */
    const float *mask;       /* (n, T) by time, 0: step masked (Keras' mask): the states carry
                                over unchanged and it gets no gradient; NULL: no mask */
} ck_rnn;

/* G: 1, 4 or 3 */
int ck_rnn_gates(const ck_rnn *r);
/* Floats the forward keeps for the backward, and scratch floats, for a batch of n. */
int64_t ck_rnn_saved_floats(const ck_rnn *r, int64_t n);
int64_t ck_rnn_work_floats(const ck_rnn *r, int64_t n);
/* The hidden states in saved: (T+1, n, U), [0] the initial state, [s+1] after step s. */
float *ck_rnn_states(const ck_rnn *r, int64_t n, float *saved);
/* LSTM: the cell states in saved, (T+1, n, U) like ck_rnn_states; NULL for other kinds. */
float *ck_rnn_cells(const ck_rnn *r, int64_t n, float *saved);
/* Runs the sequence. h0, c0 (n, U) are the initial states (NULL: zeros; c0 LSTM only). */
void ck_rnn_forward(const ck_rnn *r, int64_t n, const float *x, const float *h0, const float *c0, float *saved,
                    float *work);
/* Backpropagation through time. dhs (T, n, U) is dL/dh after each step s (by step, not time;
 * it is overwritten). Writes dx (n, T, F) = beta_dx * dx + the gradient (dx may be NULL), the
 * weight gradients where r->dW, r->dR, r->db are set (overwritten), and dh0, dc0 (n, U) when
 * not NULL. */
void ck_rnn_backward(const ck_rnn *r, int64_t n, const float *x, float *dhs, float *dx, float beta_dx, float *dh0,
                     float *dc0, float *saved, float *work);

/* Embedding lookup: y (n, D) row i = E[idx[i]], idx[i] a float-coded index truncated to an
 * integer (Keras casts to int32); an index outside [0, V) (or NaN) gives a row of zeros. */
void ck_embedding_forward(const float *idx, int64_t n, const float *E, int64_t V, int64_t D, float *y);
/* dE (V, D) = sum of dy rows into the rows they were read from (dE overwritten). */
void ck_embedding_backward(const float *idx, int64_t n, const float *dy, int64_t V, int64_t D, float *dE);

/* ---- convolutional LSTM (conv_lstm.c) ---------------------------------------------------
 * One direction of Keras' ConvLSTM over x (n, T, [d,] h, w, c), channels last (ConvLSTM1D: h = 1;
 * ConvLSTM3D: the depth fields below; states (od, oh, ow, F) and windows (kd, kh, kw, c) then).
 * At each step the gates (i, f, c, o: blocks of F channels) are
 *   z = conv(x_t, W) + b  [gx: the layer's strides, padding, dilation]  + conv(h_prev, R)  [gr:
 *       stride 1, 'same', no dilation];
 *   i, f, o = ract(z_i, z_f, z_o), g = act(z_c); c = f c_prev + i g; h = o act(c),
 * states (oh, ow, F) starting at zeros. W is Keras' kernel (kh, kw, c, 4F) read as (kh*kw*c, 4F),
 * R its recurrent kernel (kh, kw, F, 4F) as (kh*kw*F, 4F). Step s reads time t = s, or T-1-s with
 * go_backwards. Forward by im2col + GEMM (all steps' input convolutions in one GEMM), backward
 * through time with col2im. */
typedef struct ck_convlstm {
    int64_t T, F;
    ck_conv_geom gx, gr;
    ck_act act, ract;
    bool go_backwards;
    const float *W, *R, *b;  /* b may be NULL */
    float *dW, *dR, *db;     /* overwritten when not NULL */
    const float *dc_last;    /* (n, oh, ow, F): dL/d(the last c) (return_state), or NULL */
    /* ConvLSTM3D: the depth axis in front of gx's (h, w): input depth d, window kd, stride sd,
     * dilation dd, padding before pd, output depth od (the recurrent conv: window kd, 'same',
     * padding before rpd). All 1 (pads 0) for 1D and 2D. */
    int64_t d, kd, sd, dd, pd, od, rpd;
} ck_convlstm;

int64_t ck_convlstm_saved_floats(const ck_convlstm *r, int64_t n);
int64_t ck_convlstm_work_floats(const ck_convlstm *r, int64_t n);
/* The states in saved: hs (T+1, n, oh, ow, F), hs[0] zeros, hs[s+1] after step s; the cells
 * likewise. */
float *ck_convlstm_states(const ck_convlstm *r, int64_t n, float *saved);
float *ck_convlstm_cells(const ck_convlstm *r, int64_t n, float *saved);
void ck_convlstm_forward(const ck_convlstm *r, int64_t n, const float *x, float *saved, float *work);
/* dhs (T, n, oh, ow, F): dL/dh after each step, in step order (the layer's outputs); dx (n, T,
 * h, w, c) is overwritten (NULL: not wanted); weight gradients as set in r. */
void ck_convlstm_backward(const ck_convlstm *r, int64_t n, const float *x, const float *dhs, float *dx,
                          float *saved, float *work);
/* ---- attention (attention.c) ------------------------------------------------------------
 * A bias broadcast over n samples of m axes od[0..m): y[s][idx] += b[sum_k idx_k bstride[k]]
 * (bstride[k] 0 where the bias has size 1); ck_bcast_grad writes db (bsize) = the matching sums
 * of dy. */
void ck_bcast_add(float *y, int64_t n, int m, const int64_t *od, const int64_t *bstride, const float *b);
void ck_bcast_grad(const float *dy, int64_t n, int m, const int64_t *od, const int64_t *bstride, float *db,
                   int64_t bsize);
/* Attention weights from scores s (rows x cols), in place: s * scale, -1e9 added where mask
 * (rows x cols, may be NULL) is 0, where row_mask (rows), col_mask or col_mask2 (cols) is 0 (each
 * may be NULL) and, when causal, past the diagonal (c > r); then softmax along each row (Keras'
 * masked Softmax: a row masked everywhere gets equal weights). */
void ck_attn_softmax(float *s, int64_t rows, int64_t cols, const float *mask, const float *row_mask,
                     const float *col_mask, const float *col_mask2, bool causal, float scale);
/* Its backward: dp (rows x cols), the gradient of the weights p, becomes that of the raw scores
 * (times scale), in place. */
void ck_attn_softmax_backward(const float *p, float *dp, int64_t rows, int64_t cols, float scale);
/* Dropout of attention weights: out = p / (1 - rate) or 0 (probability rate). The backward reads
 * which were dropped from out (a weight that is 0 gets no gradient either way). */
void ck_attn_dropout(const float *p, float *out, int64_t count, float rate, ck_rng *rng);
void ck_attn_dropout_backward(const float *dropped, float *dp, int64_t count, float rate);
/* Additive attention scores (Keras' Attention(score_mode="concat") and AdditiveAttention) of q
 * (tq, d) and k (tv, d): th (tq, tv, d) = tanh(a (q_t + k_s)), scores (tq, tv) = c sum_j w_j
 * th_j (w NULL: ones). */
void ck_additive_scores(const float *q, const float *k, int64_t tq, int64_t tv, int64_t d, float a, const float *w,
                        float c, float *th, float *scores);
/* Its backward from ds (tq, tv), the gradient of the scores: writes dq (tq, d) and dk (tv, d), and
 * adds to dw (d), *da and *dc when they are not NULL. */
void ck_additive_scores_backward(const float *q, const float *k, const float *th, const float *ds, int64_t tq,
                                 int64_t tv, int64_t d, float a, const float *w, float c, float *dq, float *dk,
                                 float *dw, double *da, double *dc);

/* Keras' weight constraints, in place (constrain.c). ck_constrain_norm: w of shape dims (ndim
 * axes, row-major) gets one norm n = sqrt(sum w^2) over the axes whose bit is set in axes per
 * index of the other axes, and is scaled by desired / (1e-7 + n): MaxNorm desired = min(n,
 * max_value); MinMaxNorm rate clip(n, min_value, max_value) + (1 - rate) n; UnitNorm 1 / (1e-7 + n).
 * ck_constrain_nonneg: NonNeg, negatives to 0. */
enum { CK_CONSTRAIN_MAX_NORM = 1, CK_CONSTRAIN_NON_NEG, CK_CONSTRAIN_UNIT_NORM, CK_CONSTRAIN_MIN_MAX_NORM };
void ck_constrain_norm(float *w, int ndim, const int64_t *dims, uint32_t axes, int kind, float min_value,
                       float max_value, float rate);
void ck_constrain_nonneg(float *w, int64_t size);

/* Keras' L1L2 penalty of y (count floats): l1 sum |y| + l2 sum y^2; and its gradient added to dy:
 * dy += l1 sign(y) + 2 l2 y. */
double ck_l1l2_penalty(const float *y, int64_t count, float l1, float l2);
void ck_l1l2_grad_add(float *dy, const float *y, int64_t count, float l1, float l2);

/* One output coordinate of a resize: source rows/columns lo and hi and the weight of hi. */
typedef struct ck_tap {
    int64_t lo, hi;
    float lerp;
} ck_tap;
/* The taps of one axis: out points from the in pixels [start, start + in), as tf.image.resize
 * (antialias=False) computes them in float32: bilinear, source coordinate (o + 0.5) * in / out -
 * 0.5 with floor/ceil clamped to the pixels and the fractional part as weight; or nearest
 * (resize.c; used by the Resizing layer and the image readers). */
void ck_resize_taps(ck_tap *t, int64_t out, int64_t in, int64_t start, bool nearest);
/* An 8-bit image (h, w, c) to float (oh, ow, c), bilinear as above; taps is scratch for
 * oh + ow taps. */
void ck_resize_bilinear_u8(const uint8_t *src, int64_t h, int64_t w, int64_t c, float *dst, int64_t oh, int64_t ow,
                           ck_tap *taps);

#endif
