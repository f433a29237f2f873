/* The logs dict handed to callbacks: ordered (name, value) pairs, no allocation. */
#include "callbacks.h"

#include <stdio.h>
#include <string.h>

void ck_logs_clear(ckeras_logs *l)
{
    if (l)
        l->n = 0;
}

/* Names are compared as stored: cut to CK_LOG_NAME - 1 characters. */
static int logs_index(const ckeras_logs *l, const char *name)
{
    size_t len = strnlen(name, CK_LOG_NAME - 1);
    for (int i = 0; i < l->n; i++)
        if (strlen(l->names[i]) == len && memcmp(l->names[i], name, len) == 0)
            return i;
    return -1;
}

void ck_logs_set(ckeras_logs *l, const char *name, double value)
{
    if (!l || !name)
        return;
    int i = logs_index(l, name);
    if (i < 0) {
        if (l->n >= CK_MAX_LOGS)
            return;
        i = l->n++;
        snprintf(l->names[i], CK_LOG_NAME, "%s", name);
    }
    l->values[i] = value;
}

const double *ck_logs_find(const ckeras_logs *l, const char *name)
{
    if (!l || !name)
        return NULL;
    int i = logs_index(l, name);
    return i < 0 ? NULL : &l->values[i];
}
