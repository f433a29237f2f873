#include "layer_harness.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xcalloc(int64_t n)
{
    void *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    ck_assert_ptr_nonnull(p);
    return p;
}

void h_init(harness *h, ckeras_layer *l, const ck_shape *in, int64_t n)
{
    ck_assert_ptr_nonnull(l);
    memset(h, 0, sizeof *h);
    ckeras_status st = ck_layer_build(l, in);
    ck_assert_msg(st == CKERAS_OK, "build: %s", ckeras_last_error());
    h->l = l;
    h->n = n;
    h->in_size = n * ck_shape_size(&l->in_shape);
    h->out_size = n * ck_shape_size(&l->out_shape);
    h->x = xcalloc(h->in_size);
    h->dx = xcalloc(h->in_size);
    h->y = xcalloc(h->out_size);
    h->dy = xcalloc(h->out_size);
    h->saved = xcalloc(l->vt->saved_floats ? l->vt->saved_floats(l, n) : 0);
    h->work = xcalloc(l->vt->work_floats ? l->vt->work_floats(l, n) : 0);
    for (int i = 0; i < l->nw; i++) {
        l->w[i].data = xcalloc(l->w[i].size);
        l->w[i].grad = xcalloc(l->w[i].size);
    }
}

void h_free(harness *h)
{
    for (int i = 0; i < h->l->nw; i++) {
        free(h->l->w[i].data);
        free(h->l->w[i].grad);
        h->l->w[i].data = h->l->w[i].grad = NULL;
    }
    free(h->x);
    free(h->y);
    free(h->dy);
    free(h->dx);
    free(h->saved);
    free(h->work);
    ck_layer_free(h->l);
}

void h_forward(harness *h)
{
    ck_fwd f = {.n = h->n, .x = h->x, .y = h->y, .saved = h->saved, .work = h->work, .training = true};
    h->l->vt->forward(h->l, &f);
}

void h_backward(harness *h, const float *R, bool want_dx)
{
    memcpy(h->dy, R, (size_t)h->out_size * sizeof(float));
    ck_bwd b = {.n = h->n, .x = h->x, .y = h->y, .dy = h->dy, .dx = want_dx ? h->dx : NULL,
                .saved = h->saved, .work = h->work, .train_weights = true};
    h->l->vt->backward(h->l, &b);
}

double dot_loss(harness *h, const float *R)
{
    h_forward(h);
    double s = 0;
    for (int64_t i = 0; i < h->out_size; i++)
        s += (double)h->y[i] * R[i];
    return s;
}

static uint64_t lcg = 12345;

void h_seed(uint64_t seed)
{
    lcg = seed;
}

double urand(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

void fill(float *v, int64_t n, double lo, double hi)
{
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(lo + (hi - lo) * urand());
}

void fd_against(harness *h, float *v, int64_t nv, const float *g, const float *R, double eps, double atol,
                double rtol, const char *what)
{
    for (int64_t i = 0; i < nv; i++) {
        float keep = v[i];
        v[i] = (float)(keep + eps);
        double lp = dot_loss(h, R);
        v[i] = (float)(keep - eps);
        double lm = dot_loss(h, R);
        v[i] = keep;
        double num = (lp - lm) / (2 * eps);
        ck_assert_msg(fabs(num - g[i]) <= atol + rtol * fabs(num), "%s: element %lld analytic %.7g, numeric %.7g",
                      what, (long long)i, (double)g[i], num);
    }
}

/* Checks dx and every weight gradient against central differences; a backward without dx must
 * give the same weight gradients. */
void h_fd_check(harness *h, double eps, double atol, double rtol, const char *what)
{
    float *R = xcalloc(h->out_size);
    fill(R, h->out_size, -1, 1);
    h_forward(h);
    h_backward(h, R, true);
    float *dx = xcalloc(h->in_size);
    memcpy(dx, h->dx, (size_t)h->in_size * sizeof(float));
    float *g[CK_MAX_WEIGHTS] = {0};
    for (int i = 0; i < h->l->nw; i++) {
        g[i] = xcalloc(h->l->w[i].size);
        memcpy(g[i], h->l->w[i].grad, (size_t)h->l->w[i].size * sizeof(float));
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%.160s dx", what);
    fd_against(h, h->x, h->in_size, dx, R, eps, atol, rtol, buf);
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%.160s d%s", what, h->l->w[i].name);
        fd_against(h, h->l->w[i].data, h->l->w[i].size, g[i], R, eps, atol, rtol, buf);
    }
    h_forward(h);
    for (int i = 0; i < h->l->nw; i++)
        memset(h->l->w[i].grad, 0, (size_t)h->l->w[i].size * sizeof(float));
    h_backward(h, R, false);
    for (int i = 0; i < h->l->nw; i++) {
        snprintf(buf, sizeof buf, "%.160s d%s without dx", what, h->l->w[i].name);
        tu_assert_close(h->l->w[i].grad, g[i], (size_t)h->l->w[i].size, 1e-6, 1e-5, buf);
        free(g[i]);
    }
    free(dx);
    free(R);
}

ckeras_layer *h_layer_cfg(const char *cls, const char *json)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, json);
    ck_assert_msg(l != NULL, "%s %s: %s", cls, json, ckeras_last_error());
    return l;
}

ck_shape h_shape(int ndim, const int64_t *d)
{
    ck_shape s = {.ndim = ndim};
    for (int k = 0; k < ndim; k++)
        s.d[k] = d[k];
    return s;
}
