/* Thread-local error messages and status names. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CK_ERRMSG_MAX 1024
/* A message longer than the buffer keeps its first CK_ERRMSG_HEAD bytes (the operation) and its
 * end (the cause), with "..." between. */
#define CK_ERRMSG_HEAD 320

static _Thread_local char errmsg[CK_ERRMSG_MAX];
static _Thread_local ckeras_status errcode;

/* Stores s (n bytes) as the message, shortening its middle when it is too long. s may not point
 * into errmsg. */
static void store(const char *s, size_t n)
{
    if (n < sizeof errmsg) {
        memcpy(errmsg, s, n);
        errmsg[n] = '\0';
        return;
    }
    size_t tail = sizeof errmsg - 1 - CK_ERRMSG_HEAD - 3;
    memcpy(errmsg, s, CK_ERRMSG_HEAD);
    memcpy(errmsg + CK_ERRMSG_HEAD, "...", 3);
    memcpy(errmsg + CK_ERRMSG_HEAD + 3, s + n - tail, tail);
    errmsg[sizeof errmsg - 1] = '\0';
}

/* Formats "<fmt...><tail>" and stores it. The arguments may point into the current
 * message (ckeras_last_error()): the text is made in a separate buffer first. */
static void format_store(const char *fmt, va_list ap, const char *tail)
{
    char small[CK_ERRMSG_MAX];
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    size_t n = (len > 0 ? (size_t)len : 0) + strlen(tail);
    char *buf = n < sizeof small ? small : malloc(n + 1); /* not ck_malloc: it reports through here */
    if (!buf) { /* no memory for the whole text: keep what fits */
        buf = small;
        n = sizeof small - 1;
    }
    size_t cap = buf == small ? sizeof small : n + 1;
    vsnprintf(buf, cap, fmt, ap2);
    va_end(ap2);
    size_t at = strlen(buf);
    snprintf(buf + at, cap - at, "%s", tail);
    store(buf, strlen(buf));
    if (buf != small)
        free(buf);
}

ckeras_status ck_error(ckeras_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    format_store(fmt, ap, "");
    va_end(ap);
    errcode = code;
    return code;
}

void ck_error_prefix(const char *fmt, ...)
{
    char old[CK_ERRMSG_MAX + 2];
    snprintf(old, sizeof old, ": %s", errmsg);
    va_list ap;
    va_start(ap, fmt);
    format_store(fmt, ap, old);
    va_end(ap);
}
void ck_error_clear(void)
{
    errmsg[0] = '\0';
    errcode = CKERAS_OK;
}

ckeras_status ck_last_status(ckeras_status dflt)
{
    return errcode != CKERAS_OK ? errcode : dflt;
}

CKERAS_API const char *ckeras_last_error(void)
{
    return errmsg;
}

CKERAS_API const char *ckeras_status_name(ckeras_status status)
{
    switch (status) {
    case CKERAS_OK: return "CKERAS_OK";
    case CKERAS_EINVAL: return "CKERAS_EINVAL";
    case CKERAS_ENOMEM: return "CKERAS_ENOMEM";
    case CKERAS_ESHAPE: return "CKERAS_ESHAPE";
    case CKERAS_ESTATE: return "CKERAS_ESTATE";
    case CKERAS_EIO: return "CKERAS_EIO";
    case CKERAS_EFORMAT: return "CKERAS_EFORMAT";
    case CKERAS_EUNSUPPORTED: return "CKERAS_EUNSUPPORTED";
    case CKERAS_ENAN: return "CKERAS_ENAN";
    case CKERAS_STOP: return "CKERAS_STOP";
    }
    return "CKERAS_UNKNOWN";
}
