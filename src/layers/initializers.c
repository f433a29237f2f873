/* Keras initialisers: names, keyword arguments and formulas (keras.initializers).
 *
 * Sizes: builds compute shapes with core.h's checked helpers (ck_size_mul, ck_conv_geom_fit, ...)
 * and ck_layer_build checks what they declare; forward, backward and the buffer sizes multiply
 * the batch by per-sample sizes of buffers the plan checked (at most 2^48: no wrap). */
#include "layers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct init_spec {
    char name[40];
    double mean, stddev, minval, maxval, value, scale, gain;
    char mode[16], distribution[24];
} init_spec;

static const char *const known[] = {
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "zeros", "ones", "constant", "random_uniform", "random_normal", "truncated_normal",
    "variance_scaling", "orthogonal",
};

/* Keras class names map to the function names ("GlorotUniform" -> "glorot_uniform"). */
static void snake_case(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; in[i] && k + 2 < n; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z') {
            if (i > 0)
                out[k++] = '_';
            out[k++] = (char)(c - 'A' + 'a');
        } else {
            out[k++] = c;
        }
    }
    out[k] = '\0';
}

static ckeras_status parse(const char *spec, init_spec *s)
{
    memset(s, 0, sizeof *s);
    s->mean = 0.0;
    s->stddev = 0.05;
    s->minval = -0.05;
    s->maxval = 0.05;
    s->value = 0.0;
    s->scale = 1.0;
    s->gain = 1.0;
    snprintf(s->mode, sizeof s->mode, "fan_in");
    snprintf(s->distribution, sizeof s->distribution, "truncated_normal");
    if (!spec || !*spec)
        return ck_error(CKERAS_EINVAL, "initializer: empty name");
    const char *paren = strchr(spec, '(');
    size_t len = paren ? (size_t)(paren - spec) : strlen(spec);
    char raw[40];
    if (len >= sizeof raw)
        return ck_error(CKERAS_EINVAL, "initializer: unknown '%s'", spec);
    memcpy(raw, spec, len);
    raw[len] = '\0';
    snake_case(raw, s->name, sizeof s->name);
    if (strcmp(s->name, "zero") == 0)
        snprintf(s->name, sizeof s->name, "zeros");
    if (strcmp(s->name, "one") == 0)
        snprintf(s->name, sizeof s->name, "ones");
    bool ok = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        ok |= strcmp(known[i], s->name) == 0;
    if (!ok)
        return ck_error(CKERAS_EINVAL,
                        "initializer: unknown '%s'; accepted: glorot_uniform, glorot_normal, he_uniform, "
                        "he_normal, lecun_uniform, lecun_normal, zeros, ones, constant, random_uniform, "
                        "random_normal, truncated_normal, variance_scaling, orthogonal",
                        spec);
    if (!paren)
        return CKERAS_OK;
    const char *p = paren + 1;
    while (*p && *p != ')') {
        char key[24];
        size_t k = 0;
        while (*p == ' ' || *p == ',')
            p++;
        while (*p && *p != '=' && *p != ')' && k + 1 < sizeof key)
            key[k++] = *p++;
        key[k] = '\0';
        if (*p != '=')
            return ck_error(CKERAS_EINVAL, "initializer: cannot parse '%s'", spec);
        p++;
        if (strcmp(key, "mode") == 0 || strcmp(key, "distribution") == 0) {
            char *dst = key[0] == 'm' ? s->mode : s->distribution;
            size_t cap = key[0] == 'm' ? sizeof s->mode : sizeof s->distribution;
            size_t j = 0;
            while (*p && *p != ',' && *p != ')' && j + 1 < cap)
                dst[j++] = *p++;
            dst[j] = '\0';
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p)
            return ck_error(CKERAS_EINVAL, "initializer: bad number in '%s'", spec);
        p = end;
        if (strcmp(key, "mean") == 0)
            s->mean = v;
        else if (strcmp(key, "stddev") == 0)
            s->stddev = v;
        else if (strcmp(key, "minval") == 0)
            s->minval = v;
        else if (strcmp(key, "maxval") == 0)
            s->maxval = v;
        else if (strcmp(key, "value") == 0)
            s->value = v;
        else if (strcmp(key, "scale") == 0)
            s->scale = v;
        else if (strcmp(key, "gain") == 0)
            s->gain = v;
        else if (strcmp(key, "seed") != 0)
            return ck_error(CKERAS_EINVAL, "initializer: '%s' has no argument '%s'", s->name, key);
    }
    return CKERAS_OK;
}

ckeras_status ck_init_check(const char *spec)
{
    init_spec s;
    return parse(spec, &s);
}

void ck_init_fans(const ck_shape *shape, double *fan_in, double *fan_out)
{
    if (shape->ndim < 1) {
        *fan_in = *fan_out = 1;
    } else if (shape->ndim == 1) {
        *fan_in = *fan_out = (double)shape->d[0];
    } else if (shape->ndim == 2) {
        *fan_in = (double)shape->d[0];
        *fan_out = (double)shape->d[1];
    } else {
        double rf = 1;
        for (int i = 0; i < shape->ndim - 2; i++)
            rf *= (double)shape->d[i];
        *fan_in = (double)shape->d[shape->ndim - 2] * rf;
        *fan_out = (double)shape->d[shape->ndim - 1] * rf;
    }
}

/* Truncated normal: resample outside two standard deviations (tf.keras' definition). */
static double trunc_normal(ck_rng *r)
{
    double z;
    do {
        z = ck_rng_normal(r);
    } while (fabs(z) > 2.0);
    return z;
}

static void variance_scaling(float *w, int64_t n, const ck_shape *shape, double scale, const char *mode,
                             const char *dist, ck_rng *r)
{
    double fin, fout;
    ck_init_fans(shape, &fin, &fout);
    double d = strcmp(mode, "fan_in") == 0 ? fin : strcmp(mode, "fan_out") == 0 ? fout : (fin + fout) / 2;
    if (d < 1)
        d = 1;
    if (strcmp(dist, "uniform") == 0) {
        double limit = sqrt(3.0 * scale / d);
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)((2 * ck_rng_uniform(r) - 1) * limit);
    } else if (strcmp(dist, "untruncated_normal") == 0) {
        double sd = sqrt(scale / d);
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(ck_rng_normal(r) * sd);
    } else {
        double sd = sqrt(scale / d) / 0.87962566103423978;
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(trunc_normal(r) * sd);
    }
}

/* Orthogonal: Gram-Schmidt on a normal (rows x cols) matrix, rows = prod(shape[:-1]). */
static ckeras_status orthogonal(float *w, const ck_shape *shape, double gain, ck_rng *r)
{
    int64_t cols = shape->ndim ? shape->d[shape->ndim - 1] : 1;
    int64_t rows = cols ? ck_shape_size(shape) / cols : 0;
    bool tr = rows < cols; /* orthonormalise the longer side's vectors */
    int64_t nv = tr ? rows : cols, len = tr ? cols : rows;
    double *q = ck_malloc_n(nv * len, sizeof *q);
    if (!q)
        return CKERAS_ENOMEM;
    for (int64_t i = 0; i < nv * len; i++)
        q[i] = ck_rng_normal(r);
    for (int64_t v = 0; v < nv; v++) {
        double *a = q + v * len;
        for (int64_t u = 0; u < v; u++) {
            double *b = q + u * len, dot = 0;
            for (int64_t k = 0; k < len; k++)
                dot += a[k] * b[k];
            for (int64_t k = 0; k < len; k++)
                a[k] -= dot * b[k];
        }
        double nrm = 0;
        for (int64_t k = 0; k < len; k++)
            nrm += a[k] * a[k];
        nrm = sqrt(nrm);
        for (int64_t k = 0; k < len; k++)
            a[k] = nrm > 0 ? a[k] / nrm : 0;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            w[i * cols + j] = (float)(gain * (tr ? q[i * len + j] : q[j * len + i]));
    ck_free(q);
    return CKERAS_OK;
}

ckeras_status ck_init_fill(const char *spec, float *w, const ck_shape *shape, ck_rng *r)
{
    init_spec s;
    ckeras_status st = parse(spec, &s);
    if (st != CKERAS_OK)
        return st;
    int64_t n = ck_shape_size(shape);
    const char *nm = s.name;
    if (strcmp(nm, "zeros") == 0 || strcmp(nm, "ones") == 0 || strcmp(nm, "constant") == 0) {
        float v = strcmp(nm, "zeros") == 0 ? 0.0f : strcmp(nm, "ones") == 0 ? 1.0f : (float)s.value;
        for (int64_t i = 0; i < n; i++)
            w[i] = v;
    } else if (strcmp(nm, "random_uniform") == 0) {
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(s.minval + (s.maxval - s.minval) * ck_rng_uniform(r));
    } else if (strcmp(nm, "random_normal") == 0) {
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(s.mean + s.stddev * ck_rng_normal(r));
    } else if (strcmp(nm, "truncated_normal") == 0) {
        for (int64_t i = 0; i < n; i++)
            w[i] = (float)(s.mean + s.stddev * trunc_normal(r));
    } else if (strcmp(nm, "orthogonal") == 0) {
        return orthogonal(w, shape, s.gain, r);
    } else if (strcmp(nm, "variance_scaling") == 0) {
        variance_scaling(w, n, shape, s.scale, s.mode, s.distribution, r);
    } else {
        /* glorot: scale 1, fan_avg; he: scale 2, fan_in; lecun: scale 1, fan_in */
        double scale = strncmp(nm, "he_", 3) == 0 ? 2.0 : 1.0;
        const char *mode = strncmp(nm, "glorot_", 7) == 0 ? "fan_avg" : "fan_in";
        const char *dist = strstr(nm, "uniform") ? "uniform" : "truncated_normal";
        variance_scaling(w, n, shape, scale, mode, dist, r);
    }
    return CKERAS_OK;
}

/* ---- regularizers ---------------------------------------------------------------------------- */

ckeras_status ck_regularizer_parse(const char *spec, float *l1, float *l2)
{
    *l1 = *l2 = 0.0f;
    if (!spec)
        return CKERAS_OK;
    char name[32];
    const char *paren = strchr(spec, '(');
    size_t len = paren ? (size_t)(paren - spec) : strlen(spec);
    if (len >= sizeof name)
        return ck_error(CKERAS_EINVAL, "regularizer: unknown '%s'", spec);
    memcpy(name, spec, len);
    name[len] = '\0';
    char low[40];
    snake_case(name, low, sizeof low);
    bool has_l1 = strcmp(low, "l1") == 0 || strcmp(low, "l1_l2") == 0 || strcmp(low, "l1l2") == 0 ||
                  strcmp(low, "l1_l2_") == 0;
    bool has_l2 = strcmp(low, "l2") == 0 || strcmp(low, "l1_l2") == 0 || strcmp(low, "l1l2") == 0;
    if (strcmp(low, "l1_l2") == 0 || strcmp(low, "l1l2") == 0) {
        /* the class L1L2 defaults to 0, the function l1_l2 to 0.01 */
        has_l1 = has_l2 = true;
    }
    if (!has_l1 && !has_l2)
        return ck_error(CKERAS_EINVAL, "regularizer: unknown '%s'; accepted: l1, l2, l1_l2, L1(l1=..), "
                        "L2(l2=..), L1L2(l1=..,l2=..)", spec);
    bool is_class = name[0] == 'L';
    double v1 = has_l1 && !is_class ? 0.01 : 0.0, v2 = has_l2 && !is_class ? 0.01 : 0.0;
    if (is_class && strcmp(name, "L1") == 0)
        v1 = 0.01;
    if (is_class && strcmp(name, "L2") == 0)
        v2 = 0.01;
    if (paren) {
        const char *p = paren + 1;
        while (*p && *p != ')') {
            while (*p == ' ' || *p == ',')
                p++;
            int which = strncmp(p, "l1=", 3) == 0 ? 1 : strncmp(p, "l2=", 3) == 0 ? 2 : 0;
            if (!which)
                return ck_error(CKERAS_EINVAL, "regularizer: cannot parse '%s'", spec);
            char *end;
            double v = strtod(p + 3, &end);
            if (end == p + 3 || !(v >= 0))
                return ck_error(CKERAS_EINVAL, "regularizer: bad value in '%s'", spec);
            if (which == 1)
                v1 = v;
            else
                v2 = v;
            p = end;
        }
    }
    *l1 = (float)v1;
    *l2 = (float)v2;
    return CKERAS_OK;
}
