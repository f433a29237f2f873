/* Checked size arithmetic and the size limits (core.h, "checked size arithmetic"). */
#include "core.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>

static _Atomic int64_t max_tensor = (int64_t)1 << 34;
static _Atomic int64_t max_params = (int64_t)1 << 34;

int64_t ck_size_mul(int64_t a, int64_t b)
{
    if (a == CK_SIZE_OVERFLOW || b == CK_SIZE_OVERFLOW)
        return CK_SIZE_OVERFLOW;
    if (a < 0 || b < 0)
        return -1;
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? CK_SIZE_OVERFLOW : r;
}

int64_t ck_size_add(int64_t a, int64_t b)
{
    if (a == CK_SIZE_OVERFLOW || b == CK_SIZE_OVERFLOW)
        return CK_SIZE_OVERFLOW;
    if (a < 0 || b < 0)
        return -1;
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? CK_SIZE_OVERFLOW : r;
}

int64_t ck_size_mul3(int64_t a, int64_t b, int64_t c)
{
    return ck_size_mul(ck_size_mul(a, b), c);
}

int64_t ck_shape_size(const ck_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n = ck_size_mul(n, s->d[i]);
    return n;
}

/* OK when 0 <= n <= lim; else CKERAS_ESHAPE naming the subject, formatted only then. */
static ckeras_status vcheck(int64_t n, int64_t lim, bool params, const char *fmt, va_list ap)
{
    if (n >= 0 && n != CK_SIZE_OVERFLOW && n <= lim)
        return CKERAS_OK;
    char what[256];
    vsnprintf(what, sizeof what, fmt, ap);
    const char *unit = params ? "parameters" : "elements";
    if (n == CK_SIZE_OVERFLOW)
        return ck_error(CKERAS_ESHAPE, "%s: too large (its count of %s overflows 64 bits)", what, unit);
    if (n < 0)
        return ck_error(CKERAS_ESHAPE, "%s: size %lld is negative", what, (long long)n);
    return ck_error(CKERAS_ESHAPE, "%s: too large (%lld %s; the limit is %lld per %s, %s raises it)", what,
                    (long long)n, unit, (long long)lim, params ? "model" : "tensor",
                    params ? "ckeras_set_max_model_params" : "ckeras_set_max_tensor_size");
}

ckeras_status ck_size_check(int64_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ckeras_status st = vcheck(n, atomic_load_explicit(&max_tensor, memory_order_relaxed), false, fmt, ap);
    va_end(ap);
    return st;
}

ckeras_status ck_shape_check(const ck_shape *s, const char *fmt, ...)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        if (s->d[i] > 0) /* a negative axis is a variable (None) one: checked when its length is known */
            n = ck_size_mul(n, s->d[i]);
    va_list ap;
    va_start(ap, fmt);
    ckeras_status st = vcheck(n, atomic_load_explicit(&max_tensor, memory_order_relaxed), false, fmt, ap);
    va_end(ap);
    return st;
}

size_t ck_floats_bytes(int64_t n)
{
    if (n < 0 || n > atomic_load_explicit(&max_tensor, memory_order_relaxed))
        return SIZE_MAX;
    return (size_t)n * sizeof(float); /* n <= 2^48: no wrap */
}

ckeras_status ck_params_check(int64_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ckeras_status st = vcheck(n, atomic_load_explicit(&max_params, memory_order_relaxed), true, fmt, ap);
    va_end(ap);
    return st;
}

static ckeras_status set_limit(_Atomic int64_t *dst, int64_t v, const char *what)
{
    if (v < 1 || v > CKERAS_MAX_SIZE_LIMIT)
        return ck_error(CKERAS_EINVAL, "%s: must be 1..2^48, got %lld", what, (long long)v);
    atomic_store(dst, v);
    return CKERAS_OK;
}

CKERAS_API ckeras_status ckeras_set_max_tensor_size(int64_t elements)
{
    return set_limit(&max_tensor, elements, "set_max_tensor_size");
}

CKERAS_API int64_t ckeras_max_tensor_size(void)
{
    return atomic_load(&max_tensor);
}

CKERAS_API ckeras_status ckeras_set_max_model_params(int64_t params)
{
    return set_limit(&max_params, params, "set_max_model_params");
}

CKERAS_API int64_t ckeras_max_model_params(void)
{
    return atomic_load(&max_params);
}
