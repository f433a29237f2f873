/* Keras 3's CSVLogger, byte for byte (Python's csv module with the excel dialect):
 * - on_train_begin: the file is opened truncated, or with append at its end; appending to a
 *   file that holds something writes no header;
 * - on_epoch_end: the columns are fixed at the first row: "epoch", then the logs keys sorted
 *   (by code point), and, when none starts with "val_", "val_" + each key too; a row is the
 *   0-based epoch and each column's value (Python's repr of the float; "NA" when absent);
 *   fields holding the separator, a quote, CR or LF are quoted (quotes doubled); lines end in
 *   "\r\n"; the file is flushed after every row;
 * - on_train_end: the file is closed.
 * A write that fails stops fit with CKERAS_EIO. The separator is one character (Python's csv
 * refuses any other). */
#include "callbacks.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

const ck_field ck_csv_logger_fields[] = {
    {"filename", CK_STR, NULL, NULL, "the CSV file"},
    {"separator", CK_STR, ",", NULL, "the field separator, one character"},
    {"append", CK_BOOL, "false", NULL, "append to an existing file"},
};
const int ck_csv_logger_nfields = (int)(sizeof ck_csv_logger_fields / sizeof ck_csv_logger_fields[0]);

void ck_csv_logger_close(ckeras_callback *cb)
{
    if (cb->csv)
        fclose(cb->csv);
    cb->csv = NULL;
    ck_free(cb->csv_keys);
    cb->csv_keys = NULL;
    cb->ncsv_keys = -1;
}

static char separator(const ckeras_callback *cb)
{
    const char *s = ck_cfg_str(&cb->cfg, "separator");
    return s && s[0] ? s[0] : ',';
}

/* One field, quoted when it holds the separator, a quote, CR or LF. */
static void put_field(FILE *f, const char *s, char sep, bool first)
{
    if (!first)
        fputc(sep, f);
    if (!strchr(s, sep) && !strpbrk(s, "\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *c = s; *c; c++) {
        if (*c == '"')
            fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The columns, from the first epoch's logs. */
static ckeras_status fix_columns(ckeras_callback *cb, const ckeras_logs *logs)
{
    int n = logs ? logs->n : 0;
    bool has_val = false;
    for (int i = 0; i < n; i++)
        has_val = has_val || strncmp(logs->names[i], "val_", 4) == 0;
    int total = has_val || n == 0 ? n : 2 * n;
    cb->csv_keys = ck_calloc((size_t)(total ? total : 1), sizeof *cb->csv_keys);
    if (!cb->csv_keys)
        return CKERAS_ENOMEM;
    for (int i = 0; i < n; i++)
        snprintf(cb->csv_keys[i], CK_LOG_NAME, "%s", logs->names[i]);
    qsort(cb->csv_keys, (size_t)n, sizeof *cb->csv_keys, cmp_keys);
    for (int i = n; i < total; i++) {
        char key[CK_LOG_NAME];
        memcpy(key, cb->csv_keys[i - n], sizeof key);
        snprintf(cb->csv_keys[i], CK_LOG_NAME, "val_%.*s", CK_LOG_NAME - 5, key);
    }
    cb->ncsv_keys = total;
    return CKERAS_OK;
}

static ckeras_status epoch_end(ckeras_callback *cb, int epoch, const ckeras_logs *logs)
{
    if (!cb->csv)
        return CKERAS_OK;
    ckeras_status st;
    if (cb->ncsv_keys < 0 && (st = fix_columns(cb, logs)) != CKERAS_OK)
        return st;
    char sep = separator(cb);
    if (cb->csv_header) {
        put_field(cb->csv, "epoch", sep, true);
        for (int i = 0; i < cb->ncsv_keys; i++)
            put_field(cb->csv, cb->csv_keys[i], sep, false);
        fputs("\r\n", cb->csv);
        cb->csv_header = false;
    }
    char v[CK_PYFLOAT_LEN];
    snprintf(v, sizeof v, "%d", epoch);
    put_field(cb->csv, v, sep, true);
    for (int i = 0; i < cb->ncsv_keys; i++) {
        const double *x = ck_logs_find(logs, cb->csv_keys[i]);
        if (x)
            ck_format_pyfloat(*x, v);
        else
            snprintf(v, sizeof v, "NA");
        put_field(cb->csv, v, sep, false);
    }
    fputs("\r\n", cb->csv);
    if (fflush(cb->csv) != 0 || ferror(cb->csv))
        return ck_error(CKERAS_EIO, "CSVLogger: cannot write to %s", ck_cfg_str(&cb->cfg, "filename"));
    return CKERAS_OK;
}

ckeras_status ck_csv_logger_event(ckeras_callback *cb, ckeras_event ev, int index, const ckeras_logs *logs)
{
    switch (ev) {
    case CKERAS_TRAIN_BEGIN: {
        ck_csv_logger_close(cb);
        bool append = ck_cfg_bool(&cb->cfg, "append"), empty = true;
        ckeras_status st = ck_file_open_append(ck_cfg_str(&cb->cfg, "filename"), append, &cb->csv, &empty);
        if (st != CKERAS_OK) {
            ck_error_prefix("CSVLogger");
            return st;
        }
        cb->csv_header = !append || empty;
        return CKERAS_OK;
    }
    case CKERAS_EPOCH_END:
        return epoch_end(cb, index, logs);
    case CKERAS_TRAIN_END:
        ck_csv_logger_close(cb);
        return CKERAS_OK;
    default:
        return CKERAS_OK;
    }
}
