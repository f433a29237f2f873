/* A layer outside a model, with buffers owned by the test: build it, run forward/backward on
 * plain arrays, fill inputs from a seeded generator. Shared by the layer suites. */
#ifndef CK_LAYER_HARNESS_H
#define CK_LAYER_HARNESS_H

#include "layers/layers.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct harness {
    ckeras_layer *l;
    int64_t n, in_size, out_size; /* sizes of the whole batch */
    float *x, *y, *dy, *dx, *saved, *work;
} harness;

/* A layer from a Keras class name and config JSON; fails the test when it is refused. */
ckeras_layer *h_layer_cfg(const char *cls, const char *json);
/* A per-sample shape of ndim axes d. */
ck_shape h_shape(int ndim, const int64_t *d);
/* calloc of n floats (at least one) that fails the test when it fails */
void *xcalloc(int64_t n);
/* Builds l for a per-sample input shape and a batch of n, with zeroed buffers and weights. */
void h_init(harness *h, ckeras_layer *l, const ck_shape *in, int64_t n);
/* Frees the buffers, the weights and the layer. */
void h_free(harness *h);
/* Training-mode forward of x into y. */
void h_forward(harness *h);
/* Backward with dL/dy = R (copied: the layer may overwrite dy); dx only when want_dx. */
void h_backward(harness *h, const float *R, bool want_dx);
/* sum(y * R) after a forward: the scalar whose gradient finite differences check. */
double dot_loss(harness *h, const float *R);
/* The test's own generator: seed it, draw from [0, 1), fill uniformly in [lo, hi). */
void h_seed(uint64_t seed);
double urand(void);
void fill(float *v, int64_t n, double lo, double hi);
/* Asserts g (the analytic d(sum(y * R))/dv for the nv values v) against central differences of
 * step eps: |numeric - g| <= atol + rtol |numeric|. */
void fd_against(harness *h, float *v, int64_t nv, const float *g, const float *R, double eps, double atol,
                double rtol, const char *what);

/* dx and every weight gradient against central differences of sum(y * R) (fd_against), and a
 * backward without dx giving the same weight gradients. */
void h_fd_check(harness *h, double eps, double atol, double rtol, const char *what);

#endif
