/* History: the per-epoch logs of one fit, by key in first-seen order (Keras' History.history),
 * plus the epoch number of each record (History.epoch). */
#include "callbacks.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

ckeras_history *ck_history_new(void)
{
    return ck_calloc(1, sizeof(ckeras_history));
}

void ck_history_free(ckeras_history *h)
{
    if (!h)
        return;
    for (int k = 0; k < h->nkeys; k++)
        ck_free(h->values[k]);
    ck_free(h->epoch_index);
    ck_free(h);
}

int ck_history_find(const ckeras_history *h, const char *key)
{
    if (!h || !key)
        return -1;
    for (int k = 0; k < h->nkeys; k++)
        if (strcmp(h->keys[k], key) == 0)
            return k;
    return -1;
}

/* Grows every array to hold at least `need` epochs; on failure the arrays that did grow keep
 * their (still valid) larger blocks and cap stays as it was. */
static ckeras_status grow(ckeras_history *h, int need)
{
    if (need <= h->cap)
        return CKERAS_OK;
    int cap = h->cap ? h->cap : 8;
    while (cap < need)
        cap *= 2;
    int *idx = ck_realloc_n(h->epoch_index, cap, sizeof *idx);
    if (!idx)
        return ck_error(CKERAS_ENOMEM, "history: cannot grow to %d epochs", cap);
    h->epoch_index = idx;
    for (int k = 0; k < h->nkeys; k++) {
        double *v = ck_realloc_n(h->values[k], cap, sizeof *v);
        if (!v)
            return ck_error(CKERAS_ENOMEM, "history: cannot grow '%s' to %d epochs", h->keys[k], cap);
        h->values[k] = v;
    }
    h->cap = cap;
    return CKERAS_OK;
}

/* Adds the keys of logs the History lacks, in logs' order: arrays of cap epochs, NaN for the
 * epochs recorded so far. On failure none is added. */
static ckeras_status add_keys(ckeras_history *h, const ckeras_logs *logs)
{
    ckeras_status st = CKERAS_OK;
    int first_new = h->nkeys;
    for (int i = 0; i < logs->n; i++) {
        if (ck_history_find(h, logs->names[i]) >= 0)
            continue;
        if (h->nkeys >= CK_MAX_LOGS)
            st = ck_error(CKERAS_EINVAL, "history: more than %d keys (at '%s')", CK_MAX_LOGS, logs->names[i]);
        else if (!(h->values[h->nkeys] = ck_malloc_n(h->cap, sizeof(double))))
            st = CKERAS_ENOMEM;
        if (st != CKERAS_OK) {
            for (int k = first_new; k < h->nkeys; k++) {
                ck_free(h->values[k]);
                h->values[k] = NULL;
            }
            h->nkeys = first_new;
            return st;
        }
        snprintf(h->keys[h->nkeys], CK_LOG_NAME, "%s", logs->names[i]);
        for (int e = 0; e < h->epochs; e++)
            h->values[h->nkeys][e] = NAN;
        h->nkeys++;
    }
    return CKERAS_OK;
}

ckeras_status ck_history_reserve(ckeras_history *h, int epochs, const ckeras_logs *logs)
{
    if (!h || !logs || epochs < 0)
        return ck_error(CKERAS_EINVAL, "history: reserve: a NULL History or logs, or %d epochs", epochs);
    if (epochs > (1 << 24) - h->epochs) /* (grow doubles an int) */
        return ck_error(CKERAS_ENOMEM, "history: cannot hold %d more epochs", epochs);
    ckeras_status st = grow(h, h->epochs + epochs);
    return st == CKERAS_OK ? add_keys(h, logs) : st;
}

ckeras_status ck_history_append(ckeras_history *h, int epoch, const ckeras_logs *logs)
{
    if (!h)
        return ck_error(CKERAS_EINVAL, "history: History is NULL");
    if (!logs)
        return ck_error(CKERAS_EINVAL, "history: logs are NULL");
    ckeras_status st = grow(h, h->epochs + 1);
    if (st == CKERAS_OK)
        st = add_keys(h, logs);
    if (st != CKERAS_OK)
        return st;
    int e = h->epochs;
    for (int k = 0; k < h->nkeys; k++) {
        const double *v = ck_logs_find(logs, h->keys[k]);
        h->values[k][e] = v ? *v : NAN;
    }
    h->epoch_index[e] = epoch;
    h->epochs = e + 1;
    return CKERAS_OK;
}
