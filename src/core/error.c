/* Thread-local error messages and status names. */
#include "core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define CK_ERRMSG_MAX 1024

static _Thread_local char errmsg[CK_ERRMSG_MAX];
static _Thread_local ckeras_status errcode;

ckeras_status ck_error(ckeras_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    errcode = code;
    return code;
}

void ck_error_prefix(const char *fmt, ...)
{
    char prefix[256];
    char old[CK_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof old);
    size_t n = strlen(prefix);
    if (n + 2 >= sizeof errmsg)
        n = sizeof errmsg - 3;
    memcpy(errmsg, prefix, n);
    errmsg[n] = ':';
    errmsg[n + 1] = ' ';
    size_t rest = strlen(old);
    if (n + 2 + rest >= sizeof errmsg)
        rest = sizeof errmsg - n - 3;
    memcpy(errmsg + n + 2, old, rest);
    errmsg[n + 2 + rest] = '\0';
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
