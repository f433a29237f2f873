/* src/callbacks: logs, History, progress bar, EarlyStopping, TerminateOnNaN, user callbacks. */
#ifndef CK_CALLBACKS_H
#define CK_CALLBACKS_H

#include "core/core.h"

#include <stdio.h>

#define CK_MAX_LOGS 128
#define CK_LOG_NAME 96

/* The logs dict: ordered names and values ("loss", "accuracy", "val_loss", ...). */
struct ckeras_logs {
    int n;
    char names[CK_MAX_LOGS][CK_LOG_NAME];
    double values[CK_MAX_LOGS];
};

void ck_logs_clear(ckeras_logs *l);
/* Sets (or adds, at the end) a value. A name longer than CK_LOG_NAME - 1 characters is cut;
 * a new name when CK_MAX_LOGS are already there is dropped. */
void ck_logs_set(ckeras_logs *l, const char *name, double value);
/* Pointer to the value or NULL. */
const double *ck_logs_find(const ckeras_logs *l, const char *name);

/* What the training loop shares with callbacks. Weights are the model's two contiguous
 * buffers; a callback that keeps a copy (restore_best_weights) allocates it at train begin. */
typedef struct ck_train_ctx {
    bool stop_training;       /* set by a callback to stop after the current epoch */
    float *params;            /* trainable weights */
    size_t n_params;
    float *state;             /* non-trainable weights */
    size_t n_state;
    int n_metrics;            /* compiled metrics: names as in logs and +1/-1 direction */
    const char *metric_names[16];
    int metric_dirs[16];
    int epochs;               /* fit's epochs */
    int steps;                /* batches per epoch */
    int verbose;
    /* ModelCheckpoint saves through the model room (which sits above this one) */
    void *model;
    ckeras_status (*save)(void *model, const char *path, bool weights_only);
    /* the model's optimizer (ReduceLROnPlateau and LearningRateScheduler change its learning
     * rate), and the logs being delivered, which they extend at epoch end with
     * "learning_rate" for the callbacks after them, History and the progress bar */
    ckeras_optimizer *opt;
    ckeras_logs *logs;
    /* BackupAndRestore: the first epoch fit runs (it may move it at train begin), the model's
     * generator (shuffles, dropout), and a loader of weights and optimizer state */
    int64_t initial_epoch;
    ck_rng *rng;
    ckeras_status (*load_weights)(void *model, const char *path);
    /* the ranks other than 0 of a distributed fit: the callbacks that write files
     * (ModelCheckpoint, CSVLogger, BackupAndRestore) sit out, rank 0 writes for all */
    bool no_files;
} ck_train_ctx;

typedef enum ck_cb_kind {
    CK_CB_LAMBDA = 0,
    CK_CB_EARLY_STOPPING,
    CK_CB_TERMINATE_ON_NAN,
    CK_CB_MODEL_CHECKPOINT,
    CK_CB_REDUCE_LR,
    CK_CB_LR_SCHEDULER,
    CK_CB_CSV_LOGGER,
    CK_CB_BACKUP,
} ck_cb_kind;

struct ckeras_callback {
    ck_cb_kind kind;
    ck_config cfg;               /* Keras keywords of the built-in callbacks */
    ckeras_callback_fn fn;       /* CK_CB_LAMBDA */
    void *user_data;
    /* EarlyStopping state, named as Keras' attributes */
    int wait, stopped_epoch, best_epoch;
    bool has_best;
    double best;
    int monitor_op;              /* -1 less, +1 greater */
    double min_delta_eff;
    float *best_params, *best_state; /* restore_best_weights copies */
    size_t n_best_params, n_best_state;
    bool has_best_weights;       /* Keras' best_weights is not None */
    int cooldown_counter;        /* ReduceLROnPlateau */
    ckeras_lr_schedule_fn lr_fn; /* LearningRateScheduler (user_data above) */
    FILE *csv;                   /* CSVLogger: the open file (train begin to train end) */
    bool csv_header;             /* write the header before the first row */
    int ncsv_keys;               /* its columns after "epoch", fixed at the first row (-1: not yet) */
    char (*csv_keys)[CK_LOG_NAME];
    const char *class_name;      /* "EarlyStopping", "TerminateOnNaN", "LambdaCallback", ... */
    _Atomic int in_fit;          /* fits running with it (model_api.c): it is not freed meanwhile */
};

/* A new callback of `kind` with its Keras defaults (EarlyStopping: monitor "val_loss",
 * patience 0, ...). NULL on allocation failure (message set). */
ckeras_callback *ck_callback_new(ck_cb_kind kind);
/* Frees a callback and its buffers; NULL is a no-op. */
void ck_callback_free(ckeras_callback *cb);
/* Sets a Keras keyword of a built-in callback by name through its schema (EarlyStopping:
 * monitor, min_delta, patience, verbose, mode, baseline, restore_best_weights,
 * start_from_epoch; a NaN baseline means None). Callbacks without settings say so. */
ckeras_status ck_callback_set_float(ckeras_callback *cb, const char *name, double value);
ckeras_status ck_callback_set_str(ckeras_callback *cb, const char *name, const char *value);

/* EarlyStopping (early_stopping.c): the schema, and the event handler ck_callback_event uses. */
extern const ck_field ck_early_stopping_fields[];
extern const int ck_early_stopping_nfields;
ckeras_status ck_early_stopping_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                      const ckeras_logs *logs);
/* Forgets the monitor direction decided at the first epoch end (after a setting changes). */
void ck_early_stopping_reset_mode(ckeras_callback *cb);

/* The monitored-value rules of Keras' MonitorCallback (early_stopping.c), shared by
 * EarlyStopping and ReduceLROnPlateau: the direction from "mode" (auto: the compiled metric's
 * direction, "less" for a loss; CKERAS_EINVAL naming cb's class when it cannot be decided) and
 * min_delta negated for "less"; an improvement is op(value - min_delta, reference) in float32. */
ckeras_status ck_monitor_set_op(ckeras_callback *cb, const ck_train_ctx *ctx);
bool ck_monitor_improved(const ckeras_callback *cb, double value, double reference);

/* ReduceLROnPlateau and LearningRateScheduler (lr_callbacks.c), CSVLogger (csv_logger.c). */
extern const ck_field ck_reduce_lr_fields[];
extern const int ck_reduce_lr_nfields;
extern const ck_field ck_lr_scheduler_fields[];
extern const int ck_lr_scheduler_nfields;
extern const ck_field ck_csv_logger_fields[];
extern const int ck_csv_logger_nfields;
ckeras_status ck_reduce_lr_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                 const ckeras_logs *logs);
ckeras_status ck_lr_scheduler_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index);
ckeras_status ck_csv_logger_event(ckeras_callback *cb, ckeras_event ev, int index, const ckeras_logs *logs);
/* Closes the CSV file and forgets the columns. */
void ck_csv_logger_close(ckeras_callback *cb);

/* BackupAndRestore (backup_restore.c). */
extern const ck_field ck_backup_fields[];
extern const int ck_backup_nfields;
ckeras_status ck_backup_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index);

/* ModelCheckpoint (checkpoint.c). */
extern const ck_field ck_checkpoint_fields[];
extern const int ck_checkpoint_nfields;
ckeras_status ck_checkpoint_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                  const ckeras_logs *logs);
/* Expands Keras' filepath fields ("{epoch:02d}", "{val_loss:.2f}") with epoch (1-based) and logs. */
ckeras_status ck_checkpoint_format(const char *pattern, int epoch, const ckeras_logs *logs, char *out, size_t n);

/* Delivers one event. index is the epoch or batch. Returns CKERAS_OK, or the error of a user
 * callback (CKERAS_STOP from a user callback sets ctx->stop_training and returns CKERAS_OK).
 * Allocates only at CKERAS_TRAIN_BEGIN. */
ckeras_status ck_callback_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index,
                                const ckeras_logs *logs);

/* History: per-epoch logs. */
struct ckeras_history {
    int epochs, cap;
    int nkeys;
    char keys[CK_MAX_LOGS][CK_LOG_NAME];
    double *values[CK_MAX_LOGS]; /* values[k][e] */
    int *epoch_index;            /* the epoch number of each record */
};
/* A new, empty History; NULL on allocation failure (message set). */
ckeras_history *ck_history_new(void);
/* Records one epoch: every key of logs, new keys added at the end in first-seen order. A key
 * absent from an epoch reads NaN there (also for epochs before it first appeared). Grows the
 * arrays (allocates); on failure the History is unchanged. At most CK_MAX_LOGS keys. */
ckeras_status ck_history_append(ckeras_history *h, int epoch, const ckeras_logs *logs);
/* Makes room for `epochs` more records and adds the keys of logs the History lacks (NaN so
 * far), so that appending up to `epochs` records with no other keys allocates nothing. */
ckeras_status ck_history_reserve(ckeras_history *h, int epochs, const ckeras_logs *logs);
/* Index of key or -1. */
int ck_history_find(const ckeras_history *h, const char *key);
void ck_history_free(ckeras_history *h);
/* A History from a CSVLogger file, and a History drawn as SVG (history_plot.c; title NULL:
 * "Training history"). */
ckeras_status ck_history_read_csv(const char *path, ckeras_history **out);
ckeras_status ck_history_plot_svg(const ckeras_history *h, const char *path, const char *title);

/* Keras' progress bar and epoch lines (verbose 1: redrawn bar; verbose 2: one line per epoch). */
typedef struct ck_progbar {
    FILE *out;
    int verbose;
    int target;          /* steps in the epoch */
    double start, last_draw;
    int prev_width;      /* visible width of the previous frame, for backspaces */
    bool plain;          /* out is a file or pipe: one plain line per epoch (progbar.c) */
} ck_progbar;
/* "Epoch 3/100\n" (verbose 1 and 2). */
void ck_progbar_epoch_begin(ck_progbar *p, FILE *out, int verbose, int epoch, int epochs, int steps);
/* After batch `step` (1-based) with the running logs; draws at most every 0.05 s (verbose 1). */
void ck_progbar_update(ck_progbar *p, int step, const ckeras_logs *logs);
/* The epoch's final frame (verbose 1) or line (verbose 2), with validation values in logs. */
void ck_progbar_epoch_end(ck_progbar *p, const ckeras_logs *logs);

/* summary(): a table drawn from rows prepared by the model room. */
typedef struct ck_summary_row {
    char name[128];      /* "dense (Dense)" */
    char shape[96];      /* "(None, 100)" */
    int64_t params;
    char connected[256]; /* functional models: "input_layer[0][0]"; "" for Sequential */
} ck_summary_row;
typedef struct ck_summary {
    const char *model_name;
    const char *model_class; /* "Sequential" or "Functional" */
    int nrows;
    const ck_summary_row *rows;
    int64_t trainable, non_trainable, optimizer_params; /* optimizer_params 0: no line */
    int line_length;     /* <= 0: Keras' default (from COLUMNS); at most CK_SUMMARY_MAX_LINE */
} ck_summary;
#define CK_SUMMARY_MAX_LINE 1024
/* The summary text (free with ck_free), exactly as Keras 3 prints it, in *text (NULL on error):
 * CKERAS_EINVAL for a line_length too small for the columns or above CK_SUMMARY_MAX_LINE,
 * CKERAS_ENOMEM. */
ckeras_status ck_summary_format(const ck_summary *s, char **text);

#endif
