/* Keras 3's BackupAndRestore: resume a fit that was interrupted (killed, out of power) from the
 * end of its last finished epoch.
 *
 * Files, as Keras writes them, in backup_dir: "latest.weights.h5" (the weights and the optimizer
 * state, Keras 3's .weights.h5 layout: Keras reads ckeras' backup and ckeras Keras') and
 * "training_metadata.json" ({"epoch": <epochs finished>, "batch": 0}); with double_checkpoint
 * the previous pair is kept as "<file>.bkp" and used when the latest weights cannot be read.
 * ckeras adds "ckeras_rng" to the metadata (Keras ignores other keys): the model's generator
 * state at the end of the epoch, so that a resumed fit shuffles and drops out exactly as the
 * uninterrupted one would (the weights then end bit for bit equal).
 * - on_train_begin: a backup, if any, is loaded (weights, optimizer state, rng) and fit starts at
 *   the epoch it records;
 * - on_epoch_end: the backup is written (each file atomically: a temporary file renamed);
 * - on_train_end (a fit that finished, not one that failed): with delete_checkpoint the files
 *   are removed, then the folder if that leaves it empty (Keras removes the whole folder).
 * save_freq is "epoch" only: Keras 3 resumes at an epoch's start even after a batch-level save,
 * which would replay batches. */
#include "callbacks.h"
#include "io/io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const ck_field ck_backup_fields[] = {
    {"backup_dir", CK_STR, NULL, NULL, "folder of the backup"},
    {"save_freq", CK_STR, "epoch", "epoch", "when to back up (only \"epoch\")"},
    {"double_checkpoint", CK_BOOL, "false", NULL, "keep the previous backup too"},
    {"delete_checkpoint", CK_BOOL, "true", NULL, "remove the backup when fit ends"},
};
const int ck_backup_nfields = (int)(sizeof ck_backup_fields / sizeof ck_backup_fields[0]);

static const char *const WEIGHTS = "latest.weights.h5", *const META = "training_metadata.json";

/* dir/name[.bkp] into out; false when it does not fit */
static bool path_in(const ckeras_callback *cb, const char *name, bool bkp, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/%s%s", ck_cfg_str(&cb->cfg, "backup_dir"), name, bkp ? ".bkp" : "");
    return k > 0 && (size_t)k < n;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* mkdir -p */
static ckeras_status make_dirs(const char *dir)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p)
        return ck_error(CKERAS_EINVAL, "BackupAndRestore: backup_dir is too long");
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c != '\0')
            continue;
        char keep = *c;
        *c = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return ck_error(CKERAS_EIO, "BackupAndRestore: cannot create %s: %s", p, strerror(errno));
        *c = keep;
        if (!keep)
            break;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return ck_error(CKERAS_EIO, "BackupAndRestore: %s is not a folder", dir);
    return CKERAS_OK;
}

/* Copies src onto dst (atomically). */
static ckeras_status copy_file(const char *src, const char *dst)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ckeras_status st = ck_read_file(src, NULL, &buf, &len);
    if (st == CKERAS_OK)
        st = ck_save_bytes(dst, buf, len);
    ck_free(buf);
    return st;
}

/* Reads the metadata: the epoch, and ckeras' generator state when present. */
static ckeras_status read_meta(const char *path, int64_t *epoch, ck_rng *rng, bool *has_rng)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ckeras_status st = ck_read_text(path, &buf, &len);
    if (st != CKERAS_OK)
        return st;
    ck_tree *t = ck_tree_from_json((const char *)buf, path);
    ck_free(buf);
    if (!t)
        return ck_last_status(CKERAS_EFORMAT);
    const ck_tree *e = ck_tree_get(t, "epoch");
    const char *r = ck_tree_string(ck_tree_get(t, "ckeras_rng"));
    *has_rng = false;
    if (!e || e->kind != CK_T_INT || e->i < 0) {
        ck_tree_free(t);
        return ck_error(CKERAS_EFORMAT, "%s: \"epoch\" must be an integer >= 0", path);
    }
    *epoch = e->i;
    if (r) {
        ck_rng got;
        int used = 0;
        if (strlen(r) == 64 && sscanf(r, "%16" SCNx64 "%16" SCNx64 "%16" SCNx64 "%16" SCNx64 "%n", &got.s[0], &got.s[1],
                                      &got.s[2], &got.s[3], &used) == 4 &&
            used == 64) {
            *rng = got;
            *has_rng = true;
        }
    }
    ck_tree_free(t);
    return CKERAS_OK;
}

static ckeras_status load_backup(ckeras_callback *cb, ck_train_ctx *ctx)
{
    char w[4200], meta[4200];
    if (!path_in(cb, WEIGHTS, false, w, sizeof w) || !path_in(cb, META, false, meta, sizeof meta))
        return ck_error(CKERAS_EINVAL, "BackupAndRestore: backup_dir is too long");
    if (exists(w)) {
        ckeras_status st = ctx->load_weights(ctx->model, w);
        if (st != CKERAS_OK) {
            ck_error_prefix("BackupAndRestore: %s", w);
            return st;
        }
    }
    if (!exists(meta))
        return CKERAS_OK;
    int64_t epoch = 0;
    ck_rng rng;
    bool has_rng = false;
    ckeras_status st = read_meta(meta, &epoch, &rng, &has_rng);
    if (st != CKERAS_OK) {
        ck_error_prefix("BackupAndRestore");
        return st;
    }
    ctx->initial_epoch = epoch;
    if (has_rng && ctx->rng)
        *ctx->rng = rng;
    return CKERAS_OK;
}

static ckeras_status train_begin(ckeras_callback *cb, ck_train_ctx *ctx)
{
    if (!ctx->load_weights || !ctx->save)
        return ck_error(CKERAS_ESTATE, "BackupAndRestore: no model to back up");
    ckeras_status st = load_backup(cb, ctx);
    if (st == CKERAS_OK || !ck_cfg_bool(&cb->cfg, "double_checkpoint"))
        return st;
    /* the latest backup cannot be read: the previous one, as Keras does */
    char msg[1024], w[4200], wb[4200], meta[4200], mb[4200];
    snprintf(msg, sizeof msg, "%s", ckeras_last_error());
    if (!path_in(cb, WEIGHTS, false, w, sizeof w) || !path_in(cb, WEIGHTS, true, wb, sizeof wb) ||
        !path_in(cb, META, false, meta, sizeof meta) || !path_in(cb, META, true, mb, sizeof mb) || !exists(wb))
        return ck_error(st, "%s", msg);
    if ((st = copy_file(wb, w)) != CKERAS_OK)
        return st;
    if (exists(mb))
        st = copy_file(mb, meta);
    else if (exists(meta))
        unlink(meta);
    return st == CKERAS_OK ? load_backup(cb, ctx) : st;
}

static ckeras_status epoch_end(ckeras_callback *cb, ck_train_ctx *ctx, int epoch)
{
    const char *dir = ck_cfg_str(&cb->cfg, "backup_dir");
    char w[4200], meta[4200], b[4200];
    if (!path_in(cb, WEIGHTS, false, w, sizeof w) || !path_in(cb, META, false, meta, sizeof meta))
        return ck_error(CKERAS_EINVAL, "BackupAndRestore: backup_dir is too long");
    ckeras_status st = make_dirs(dir);
    if (st == CKERAS_OK && ck_cfg_bool(&cb->cfg, "double_checkpoint")) {
        if (exists(w) && path_in(cb, WEIGHTS, true, b, sizeof b))
            st = copy_file(w, b);
        if (st == CKERAS_OK && exists(meta) && path_in(cb, META, true, b, sizeof b))
            st = copy_file(meta, b);
    }
    if (st == CKERAS_OK)
        st = ctx->save(ctx->model, w, true);
    if (st == CKERAS_OK) {
        char text[256];
        const ck_rng *r = ctx->rng;
        if (r)
            snprintf(text, sizeof text,
                     "{\"epoch\": %d, \"batch\": 0, \"ckeras_rng\": \"%016" PRIx64 "%016" PRIx64 "%016" PRIx64
                     "%016" PRIx64 "\"}",
                     epoch + 1, r->s[0], r->s[1], r->s[2], r->s[3]);
        else
            snprintf(text, sizeof text, "{\"epoch\": %d, \"batch\": 0}", epoch + 1);
        st = ck_save_bytes(meta, text, strlen(text));
    }
    if (st != CKERAS_OK)
        ck_error_prefix("BackupAndRestore");
    return st;
}

static void train_end(ckeras_callback *cb)
{
    if (!ck_cfg_bool(&cb->cfg, "delete_checkpoint"))
        return;
    const char *names[2] = {WEIGHTS, META};
    char p[4200];
    for (int k = 0; k < 2; k++)
        for (int bkp = 0; bkp < 2; bkp++)
            if (path_in(cb, names[k], bkp, p, sizeof p))
                unlink(p);
    rmdir(ck_cfg_str(&cb->cfg, "backup_dir")); /* only when nothing else is in it */
}

ckeras_status ck_backup_event(ckeras_callback *cb, ck_train_ctx *ctx, ckeras_event ev, int index)
{
    switch (ev) {
    case CKERAS_TRAIN_BEGIN:
        return train_begin(cb, ctx);
    case CKERAS_EPOCH_END:
        return epoch_end(cb, ctx, index);
    case CKERAS_TRAIN_END:
        train_end(cb);
        return CKERAS_OK;
    default:
        return CKERAS_OK;
    }
}
