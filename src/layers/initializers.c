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

/* ---- regularizers and constraints --------------------------------------------------------- */

/* One "key=value" of a spec: a number, a list of integers "[0,1,2]" or None. */
typedef struct spec_arg {
    char key[24];
    double num;
    bool is_list, is_none;
    int n;
    int64_t list[CKERAS_MAX_DIMS];
} spec_arg;

static const char *skip_spaces(const char *p)
{
    while (*p == ' ')
        p++;
    return p;
}

/* Reads one value of a spec argument at p into a; the end, or NULL when it does not read. */
static const char *spec_value(const char *p, spec_arg *a)
{
    char *end;
    if (*p == '[') {
        a->is_list = true;
        p++;
        for (;;) {
            while (*p == ' ' || *p == ',')
                p++;
            if (*p == ']')
                return p + 1;
            long long v = strtoll(p, &end, 10);
            if (end == p || a->n == CKERAS_MAX_DIMS)
                return NULL;
            a->list[a->n++] = v;
            p = end;
        }
    }
    if (strncmp(p, "None", 4) == 0) {
        a->is_none = true;
        return p + 4;
    }
    a->num = strtod(p, &end);
    return end == p ? NULL : end;
}

/* "Name(key=value, ...)" -> its name (as written) and up to max arguments; -1 when it does not
 * read so (the caller names the spec). */
static int spec_split(const char *spec, char *name, size_t cap, spec_arg *args, int max)
{
    spec = skip_spaces(spec);
    const char *paren = strchr(spec, '(');
    size_t len = paren ? (size_t)(paren - spec) : strlen(spec);
    while (len > 0 && spec[len - 1] == ' ')
        len--;
    if (len == 0 || len >= cap)
        return -1;
    memcpy(name, spec, len);
    name[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return -1;
    if (!paren)
        return 0;
    const char *p = paren + 1;
    int n = 0;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == ')')
            break;
        if (n == max)
            return -1;
        spec_arg *a = &args[n++];
        memset(a, 0, sizeof *a);
        size_t k = 0;
        while (*p && *p != '=' && *p != ' ' && k + 1 < sizeof a->key)
            a->key[k++] = *p++;
        p = skip_spaces(p);
        if (k == 0 || *p != '=')
            return -1;
        p = spec_value(skip_spaces(p + 1), a);
        if (!p)
            return -1;
        p = skip_spaces(p);
        if (*p != ',' && *p != ')')
            return -1;
    }
    return *skip_spaces(p + 1) ? -1 : n;
}

#define REGULARIZER_FORMS                                                                                    \
    "accepted: \"l1\", \"l2\" (0.01), \"l1_l2\" (0.01 each, tf.keras 2), \"l1l2\" (0 each, Keras 3), "       \
    "L1(l1=..), L2(l2=..), L1L2(l1=..,l2=..) (also in snake case), or the config object "                    \
    "{\"class_name\": \"L2\", \"config\": {\"l2\": 0.01}}"

ckeras_status ck_regularizer_parse(const char *spec, float *l1, float *l2)
{
    *l1 = *l2 = 0.0f;
    if (!spec)
        return CKERAS_OK;
    char name[32], low[40];
    spec_arg args[4];
    int n = spec_split(spec, name, sizeof name, args, 4);
    if (n < 0) { /* OrthogonalRegularizer(factor=0.01,mode=rows) is refused by its name */
        const char *paren = strchr(spec, '(');
        size_t len = paren ? (size_t)(paren - spec) : strlen(spec);
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), spec);
        snake_case(name, low, sizeof low);
        if (strcmp(low, "orthogonal_regularizer") != 0)
            return ck_error(CKERAS_EINVAL, "regularizer: cannot parse '%s'; " REGULARIZER_FORMS, spec);
    }
    snake_case(name, low, sizeof low);
    if (strcmp(low, "orthogonal_regularizer") == 0)
        return ck_error(CKERAS_EUNSUPPORTED, "regularizer: '%s' (OrthogonalRegularizer) is not supported; "
                        REGULARIZER_FORMS, spec);
    /* Keras 3's regularizers.get: "l1" and "l2" are L1() and L2() (0.01), "l1l2" is L1L2() (0 each);
     * tf.keras 2's function l1_l2() defaults to 0.01 each */
    bool has_l1 = strcmp(low, "l1") == 0, has_l2 = strcmp(low, "l2") == 0;
    double v1 = has_l1 ? 0.01 : 0.0, v2 = has_l2 ? 0.01 : 0.0;
    if (strcmp(low, "l1_l2") == 0 || strcmp(low, "l1l2") == 0) {
        has_l1 = has_l2 = true;
        if (strcmp(name, "l1_l2") == 0)
            v1 = v2 = 0.01;
    }
    if (!has_l1 && !has_l2)
        return ck_error(CKERAS_EINVAL, "regularizer: unknown '%s'; " REGULARIZER_FORMS, spec);
    for (int i = 0; i < n; i++) {
        int which = strcmp(args[i].key, "l1") == 0 && has_l1 ? 1 : strcmp(args[i].key, "l2") == 0 && has_l2 ? 2 : 0;
        if (!which)
            return ck_error(CKERAS_EINVAL, "regularizer: '%s' takes no argument '%s'; " REGULARIZER_FORMS, spec,
                            args[i].key);
        if (args[i].is_list || args[i].is_none || !(args[i].num >= 0) || !isfinite(args[i].num))
            return ck_error(CKERAS_EINVAL, "regularizer: %s must be a finite number >= 0 in '%s'", args[i].key, spec);
        if (which == 1)
            v1 = args[i].num;
        else
            v2 = args[i].num;
    }
    *l1 = (float)v1;
    *l2 = (float)v2;
    return CKERAS_OK;
}

#define CONSTRAINT_FORMS                                                                                     \
    "accepted: \"max_norm\", \"non_neg\", \"unit_norm\", \"min_max_norm\" (Keras' defaults), "              \
    "MaxNorm(max_value=..,axis=..), NonNeg(), UnitNorm(axis=..), "                                          \
    "MinMaxNorm(min_value=..,max_value=..,rate=..,axis=..) (axis an int or a list [0,1,2]), or the config "  \
    "object {\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 2, \"axis\": 0}}"

/* Whether word is one of the space-separated words of list. */
static bool in_words(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len;
        p = skip_spaces(p);
    }
    return false;
}

ckeras_status ck_constraint_parse(const char *spec, int rank, ck_constraint *c)
{
    memset(c, 0, sizeof *c);
    if (!spec)
        return CKERAS_OK;
    char name[32], low[40];
    spec_arg args[6];
    int n = spec_split(spec, name, sizeof name, args, 6);
    if (n < 0)
        return ck_error(CKERAS_EINVAL, "constraint: cannot parse '%s'; " CONSTRAINT_FORMS, spec);
    snake_case(name, low, sizeof low);
    static const struct {
        const char *name;
        int kind;
        const char *keys;
    } known[] = {
        {"max_norm", CK_CONSTRAIN_MAX_NORM, "max_value axis"},
        {"non_neg", CK_CONSTRAIN_NON_NEG, ""},
        {"unit_norm", CK_CONSTRAIN_UNIT_NORM, "axis"},
        {"min_max_norm", CK_CONSTRAIN_MIN_MAX_NORM, "min_value max_value rate axis"},
    };
    size_t k = 0;
    while (k < sizeof known / sizeof known[0] && strcmp(known[k].name, low) != 0)
        k++;
    if (k == sizeof known / sizeof known[0])
        return ck_error(CKERAS_EINVAL, "constraint: unknown '%s'; " CONSTRAINT_FORMS, spec);
    c->kind = known[k].kind;
    /* Keras' defaults: MaxNorm(max_value=2, axis=0), UnitNorm(axis=0), MinMaxNorm(0, 1, rate=1, axis=0) */
    c->max_value = c->kind == CK_CONSTRAIN_MAX_NORM ? 2.0f : 1.0f;
    c->rate = 1.0f;
    c->naxis = c->kind == CK_CONSTRAIN_NON_NEG ? 0 : 1;
    for (int i = 0; i < n; i++) {
        const spec_arg *a = &args[i];
        if (!in_words(known[k].keys, a->key))
            return ck_error(CKERAS_EINVAL, "constraint: '%s' takes no argument '%s'; " CONSTRAINT_FORMS, spec, a->key);
        if (strcmp(a->key, "axis") == 0) {
            if (a->is_none) {
                c->naxis = -1; /* every axis */
            } else if (a->is_list) {
                if (a->n == 0)
                    return ck_error(CKERAS_EINVAL, "constraint: axis must not be empty in '%s'", spec);
                c->naxis = a->n;
                memcpy(c->axis, a->list, (size_t)a->n * sizeof a->list[0]);
            } else {
                if (!(fabs(a->num) < 64) || a->num != (double)(int64_t)a->num)
                    return ck_error(CKERAS_EINVAL, "constraint: axis must be an integer in '%s'", spec);
                c->axis[0] = (int64_t)a->num;
            }
            continue;
        }
        if (a->is_list || a->is_none || !isfinite(a->num))
            return ck_error(CKERAS_EINVAL, "constraint: %s must be a finite number in '%s'", a->key, spec);
        if (strcmp(a->key, "min_value") == 0)
            c->min_value = (float)a->num;
        else if (strcmp(a->key, "max_value") == 0)
            c->max_value = (float)a->num;
        else
            c->rate = (float)a->num;
    }
    const int count = c->naxis < 0 ? rank : c->naxis;
    for (int i = 0; rank >= 0 && i < count; i++) {
        int64_t ax = c->naxis < 0 ? i : c->axis[i];
        if (ax < 0)
            ax += rank;
        if (ax < 0 || ax >= rank)
            return ck_error(CKERAS_EINVAL, "constraint: axis %lld is out of range for a weight of rank %d in '%s'",
                            (long long)c->axis[i], rank, spec);
        c->axes |= 1u << ax;
    }
    return CKERAS_OK;
}

void ck_constraint_apply(const ck_constraint *c, float *w, const ck_shape *shape)
{
    if (c->kind == CK_CONSTRAIN_NON_NEG)
        ck_constrain_nonneg(w, ck_shape_size(shape));
    else if (c->kind)
        ck_constrain_norm(w, shape->ndim, shape->d, c->axes, c->kind, c->min_value, c->max_value, c->rate);
}
