/* Files as a careful C library treats them (issue #16 item 4). Every public function that
 * takes a path, handed something that is not a regular file:
 *  - readers (load_model .h5/.keras, load_weights .h5/.weights.h5/.keras, read_csv, read_npy,
 *    read_npz, read_idx, datasets_fashion_mnist) on a FIFO without a writer, /dev/zero,
 *    /dev/null, a directory, a dangling symbolic link: refused at once (a FIFO used to block
 *    forever, /dev/zero to be read for 4 GB) with CKERAS_EIO and a message naming the path and
 *    what it is; through a symbolic link to a regular file they read it;
 *  - a large regular file of zeros: refused by its first bytes (CKERAS_EFORMAT), quickly;
 *  - savers (model_save .h5/.keras, save_weights .h5/.weights.h5, write_npy, write_npz,
 *    ModelCheckpoint) to a FIFO, a character device, a directory, a symbolic link to one of
 *    them, a dangling link: refused, the destination left as it was (still a FIFO, a device, the
 *    same link) and no temporary file left; to a link to a regular file: the target is
 *    replaced and the link stays the same link;
 *  - ckeras_model_summary to /dev/full: CKERAS_EIO;
 *  - new files (every saver, CSVLogger's log) get mode 0666 less the umask (022, 077, 002, 027),
 *    as fopen gives them; a file saved over keeps its mode.
 * Every call runs under a 1 s budget (times CK_TIMEOUT_MULTIPLIER) and an alarm, so a hang fails
 * the test instead of hanging CI. */
#include "ckeras.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* stat says "a regular file" for paths holding "/racy-": as if a FIFO had been swapped in
 * between a reader's stat and its open, so that the open must not block and its fstat must
 * refuse it. (Defined here, it takes precedence over libc's for the library linked in.) */
__attribute__((visibility("default"))) int stat(const char *restrict path, struct stat *restrict sb);
int stat(const char *restrict path, struct stat *restrict sb)
{
    int r = fstatat(AT_FDCWD, path, sb, 0);
    if (r == 0 && strstr(path, "/racy-"))
        sb->st_mode = S_IFREG | (sb->st_mode & 07777);
    return r;
}

static ckeras_model *g_model;
static char g_dir[300];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ckeras_model *mlp(void)
{
    ckeras_model *m = ckeras_sequential("mlp");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(3, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(0.01), "categorical_crossentropy", "accuracy"), CKERAS_OK);
    return m;
}

static ckeras_tensor *tensor(float v)
{
    ckeras_tensor *t = ckeras_tensor_new(2, (const int64_t[]){2, 3});
    ck_assert_ptr_nonnull(t);
    float *d = ckeras_tensor_data(t);
    for (int i = 0; i < 6; i++)
        d[i] = v + (float)i;
    return t;
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir_make("files"));
    g_model = mlp();
    alarm(60); /* the whole test; each call is also timed */
}

static void teardown(void)
{
    alarm(0);
    ckeras_model_free(g_model);
    g_model = NULL;
    tu_tmpdir_remove();
}

/* ---- the public functions, one path each ---------------------------------------------------- */

typedef ckeras_status (*path_fn)(const char *path);

static ckeras_status rd_load_model(const char *p)
{
    ckeras_model *m = NULL;
    ckeras_status st = ckeras_load_model(p, 0, &m);
    ck_assert(st == CKERAS_OK ? m != NULL : m == NULL);
    ckeras_model_free(m);
    return st;
}
static ckeras_status rd_load_weights(const char *p) { return ckeras_model_load_weights(g_model, p, 0); }
static ckeras_status rd_csv(const char *p)
{
    ckeras_tensor *x = NULL, *y = NULL;
    ckeras_status st = ckeras_read_csv(p, &x, &y);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    return st;
}
/* a reader of one tensor */
static ckeras_status rd_tensor(ckeras_status (*fn)(const char *, ckeras_tensor **), const char *p)
{
    ckeras_tensor *t = NULL;
    ckeras_status st = fn(p, &t);
    ckeras_tensor_free(t);
    return st;
}
static ckeras_status rd_npy(const char *p) { return rd_tensor(ckeras_read_npy, p); }
static ckeras_status rd_npz(const char *p)
{
    int n = 0;
    char **names = NULL;
    ckeras_tensor **a = NULL;
    ckeras_status st = ckeras_read_npz(p, &n, &names, &a);
    ckeras_npz_free(n, names, a);
    return st;
}
static ckeras_status rd_idx(const char *p) { return rd_tensor(ckeras_read_idx, p); }

static ckeras_status wr_save(const char *p) { return ckeras_model_save(g_model, p, 0); }
static ckeras_status wr_save_weights(const char *p) { return ckeras_model_save_weights(g_model, p); }
static ckeras_status wr_npy(const char *p)
{
    ckeras_tensor *t = tensor(7);
    ckeras_status st = ckeras_write_npy(p, t);
    ckeras_tensor_free(t);
    return st;
}
static ckeras_status wr_npz(const char *p)
{
    ckeras_tensor *t = tensor(7);
    const char *names[1] = {"a"};
    ckeras_status st = ckeras_write_npz(p, 1, names, (const ckeras_tensor *const *)&t);
    ckeras_tensor_free(t);
    return st;
}
/* ModelCheckpoint: fit one epoch with the callback saving to p; its status is fit's. */
static ckeras_status wr_checkpoint(const char *p)
{
    ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){4, 4}), *y = ckeras_tensor_new(2, (const int64_t[]){4, 2});
    memset(ckeras_tensor_data(x), 0, 16 * sizeof(float));
    memset(ckeras_tensor_data(y), 0, 8 * sizeof(float));
    ckeras_tensor_data(y)[0] = ckeras_tensor_data(y)[3] = ckeras_tensor_data(y)[5] = ckeras_tensor_data(y)[6] = 1;
    ckeras_fit_args *fa = ckeras_fit_args_new();
    ck_assert_int_eq(ckeras_fit_args_set_int(fa, "epochs", 1), CKERAS_OK);
    ck_assert_int_eq(ckeras_fit_args_set_int(fa, "verbose", 0), CKERAS_OK);
    ckeras_callback *cb = ckeras_model_checkpoint(p, "loss", 0);
    ck_assert_int_eq(ckeras_fit_args_add_callback(fa, cb), CKERAS_OK);
    ckeras_history *h = NULL;
    ckeras_status st = ckeras_model_fit(g_model, x, y, fa, &h);
    ckeras_history_free(h);
    ckeras_fit_args_free(fa);
    ckeras_callback_free(cb);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    return st;
}

typedef struct file_op {
    const char *name;
    const char *suffix; /* the format follows the name */
    path_fn fn;
} file_op;

static const file_op readers[] = {
    {"load_model", ".h5", rd_load_model},     {"load_model", ".keras", rd_load_model},
    {"load_weights", ".h5", rd_load_weights}, {"load_weights", ".weights.h5", rd_load_weights},
    {"load_weights", ".keras", rd_load_weights}, {"read_csv", ".csv", rd_csv},
    {"read_npy", ".npy", rd_npy},             {"read_npz", ".npz", rd_npz},
    {"read_idx", ".idx", rd_idx},
};
static const file_op writers[] = {
    {"model_save", ".h5", wr_save},           {"model_save", ".keras", wr_save},
    {"save_weights", ".h5", wr_save_weights}, {"save_weights", ".weights.h5", wr_save_weights},
    {"write_npy", ".npy", wr_npy},            {"write_npz", ".npz", wr_npz},
    {"ModelCheckpoint", ".h5", wr_checkpoint},
};
#define NREADERS (int)(sizeof readers / sizeof readers[0])
#define NWRITERS (int)(sizeof writers / sizeof writers[0])

/* 1 s, times CK_TIMEOUT_MULTIPLIER (sanitizer and valgrind runs set it) */
static double budget(void)
{
    const char *m = getenv("CK_TIMEOUT_MULTIPLIER");
    double k = m ? atof(m) : 1.0;
    return k >= 1.0 ? k : 1.0;
}

/* Runs op on path under the budget; returns its status. */
static ckeras_status timed(const file_op *op, const char *path)
{
    double t0 = now();
    unsigned left = alarm((unsigned)(10 * budget())); /* a hang kills the test (SIGALRM) */
    ckeras_status st = op->fn(path);
    alarm(left);
    double dt = now() - t0;
    ck_assert_msg(dt < budget(), "%s(%s) took %.2f s", op->name, path, dt);
    return st;
}

/* op on path is refused with status and a message naming the path (or named) and holding why. */
static void refused(const file_op *op, const char *path, ckeras_status status, const char *named, const char *why)
{
    ckeras_status st = timed(op, path);
    const char *msg = ckeras_last_error();
    ck_assert_msg(st == status, "%s(%s): %s, expected %s (%s)", op->name, path, ckeras_status_name(st),
                  ckeras_status_name(status), msg);
    ck_assert_msg(strstr(msg, named) && strstr(msg, why), "%s(%s): message '%s' lacks '%s' or '%s'", op->name,
                  path, msg, named, why);
}

/* What a path is, to compare before and after a refused save. */
typedef struct snap {
    bool exists;
    struct stat st;
    char link[400];
} snap;

static snap take(const char *path)
{
    snap s;
    memset(&s, 0, sizeof s);
    s.exists = lstat(path, &s.st) == 0;
    if (s.exists && S_ISLNK(s.st.st_mode))
        ck_assert(readlink(path, s.link, sizeof s.link - 1) > 0);
    return s;
}

static void unchanged(const snap *a, const char *path, const char *what)
{
    snap b = take(path);
    ck_assert_msg(a->exists == b.exists, "%s: %s %s", what, path, a->exists ? "was removed" : "was created");
    if (!a->exists)
        return;
    ck_assert_msg((a->st.st_mode & S_IFMT) == (b.st.st_mode & S_IFMT), "%s: %s changed its type", what, path);
    ck_assert_msg(a->st.st_ino == b.st.st_ino && a->st.st_rdev == b.st.st_rdev, "%s: %s was replaced", what, path);
    ck_assert_msg(strcmp(a->link, b.link) == 0, "%s: link %s now points to %s", what, path, b.link);
}

/* Every writer to "<stem><suffix>" (made by make, which may return false to skip) is refused
 * with CKERAS_EIO and why; the path and the folder are left as they were. */
static void writers_refused(const char *stem, bool (*make)(const char *path), const char *why)
{
    for (int i = 0; i < NWRITERS; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s-w%d%s", g_dir, stem, i, writers[i].suffix);
        if (!make(path))
            return;
        int entries = tu_count_entries(g_dir);
        snap before = take(path);
        refused(&writers[i], path, CKERAS_EIO, path, why);
        unchanged(&before, path, writers[i].name);
        ck_assert_msg(tu_count_entries(g_dir) == entries, "%s(%s) left a file behind", writers[i].name, path);
    }
}

/* Every reader of "<stem><suffix>" (made by make) is refused with status and why. */
static void readers_refused(const char *stem, bool (*make)(const char *path), ckeras_status status, const char *why)
{
    for (int i = 0; i < NREADERS; i++) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s-r%d%s", g_dir, stem, i, readers[i].suffix);
        if (!make(path))
            return;
        refused(&readers[i], path, status, path, why);
    }
}

static bool make_fifo(const char *p) { return mkfifo(p, 0600) == 0; }
static bool make_dir(const char *p) { return mkdir(p, 0700) == 0; }
static bool link_zero(const char *p) { return symlink("/dev/zero", p) == 0; }
static bool link_null(const char *p) { return symlink("/dev/null", p) == 0; }
static bool link_dangling(const char *p) { return symlink("no-such-target", p) == 0; }
static bool link_fifo(const char *p)
{
    char f[420];
    snprintf(f, sizeof f, "%s.fifo", p);
    return mkfifo(f, 0600) == 0 && symlink(f, p) == 0;
}
/* a character device of our own (a copy of /dev/null's numbers): never /dev/null itself, so a
 * broken save could not replace the system's */
static bool make_chr(const char *p)
{
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0)
        return true;
    fprintf(stderr, "test_files: cannot make a character device (%s): the direct device saves are skipped\n",
            strerror(errno));
    return false;
}
/* 64 MB of zeros (sparse) */
static bool make_zeros(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    bool ok = fd >= 0 && ftruncate(fd, (off_t)64 << 20) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

START_TEST(readers_refuse_fifos_devices_directories)
{
    readers_refused("fifo", make_fifo, CKERAS_EIO, "is a FIFO, not a regular file");
    readers_refused("dir", make_dir, CKERAS_EIO, "is a directory, not a regular file");
    readers_refused("zero", link_zero, CKERAS_EIO, "is a character device, not a regular file");
    readers_refused("null", link_null, CKERAS_EIO, "is a character device, not a regular file");
    readers_refused("fifolink", link_fifo, CKERAS_EIO, "is a FIFO, not a regular file");
    readers_refused("racy", make_fifo, CKERAS_EIO, "is a FIFO, not a regular file");
    readers_refused("dangling", link_dangling, CKERAS_EIO, "No such file");
    /* the devices by their own names (read as .h5 by load_model / load_weights) */
    for (int i = 0; i < NREADERS; i++)
        if (!strstr(readers[i].suffix, "keras")) {
            refused(&readers[i], "/dev/zero", CKERAS_EIO, "/dev/zero", "is a character device, not a regular file");
            refused(&readers[i], "/dev/null", CKERAS_EIO, "/dev/null", "is a character device, not a regular file");
        }
    /* the operation leads the message */
    ck_assert_int_eq(rd_npy("/dev/zero"), CKERAS_EIO);
    ck_assert_str_eq(ckeras_last_error(), "npy_read: /dev/zero is a character device, not a regular file");
    ck_assert_int_eq(rd_load_model("/dev/zero"), CKERAS_EIO);
    ck_assert_str_eq(ckeras_last_error(), "load_model: /dev/zero is a character device, not a regular file");
    ck_assert_int_eq(rd_load_weights("/dev/null"), CKERAS_EIO);
    ck_assert_str_eq(ckeras_last_error(), "load_weights: /dev/null is a character device, not a regular file");
    /* fashion_mnist: a FIFO where an IDX file should be */
    char p[400];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", g_dir);
    ck_assert(make_fifo(p));
    ckeras_tensor *t[4];
    double t0 = now();
    ck_assert_int_eq(ckeras_datasets_fashion_mnist(g_dir, &t[0], &t[1], &t[2], &t[3]), CKERAS_EIO);
    ck_assert(now() - t0 < budget());
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "is a FIFO, not a regular file"));
}
END_TEST

START_TEST(readers_refuse_a_large_file_of_zeros_at_once)
{
    readers_refused("zeros", make_zeros, CKERAS_EFORMAT, "");
    /* and say why */
    char p[400];
    snprintf(p, sizeof p, "%s/z.csv", g_dir);
    ck_assert(make_zeros(p));
    ck_assert_int_eq(rd_csv(p), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "not a text file"));
    ck_assert_int_eq(rd_npy(p), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "bad magic"));
    ck_assert_int_eq(rd_npz(p), CKERAS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "bad magic"));
}
END_TEST

START_TEST(saves_refuse_what_is_not_a_regular_file)
{
    writers_refused("fifo", make_fifo, "is a FIFO, not a regular file");
    writers_refused("dir", make_dir, "is a directory, not a regular file");
    writers_refused("nulllink", link_null, "is a character device, not a regular file");
    writers_refused("fifolink", link_fifo, "is a FIFO, not a regular file");
    writers_refused("dangling", link_dangling, "symbolic link whose target cannot be resolved");
    writers_refused("chr", make_chr, "is a character device, not a regular file");
}
END_TEST

/* A link "l<suffix>" -> "t<suffix>" (relative, in the same folder) to a file first saved
 * directly: loads read through the link; a save through it replaces the target, and the link
 * stays the same link. */
START_TEST(symbolic_links_are_followed)
{
    for (int i = 0; i < NWRITERS; i++) {
        char target[400], link[400], rel[64];
        snprintf(rel, sizeof rel, "t%d%s", i, writers[i].suffix);
        snprintf(target, sizeof target, "%s/%s", g_dir, rel);
        snprintf(link, sizeof link, "%s/l%d%s", g_dir, i, writers[i].suffix);
        ck_assert_msg(timed(&writers[i], target) == CKERAS_OK, "%s: %s", writers[i].name, ckeras_last_error());
        ck_assert_int_eq(chmod(target, 0640), 0);
        struct stat t0;
        ck_assert_int_eq(stat(target, &t0), 0);
        ck_assert_int_eq(symlink(rel, link), 0);
        int entries = tu_count_entries(g_dir);
        snap before = take(link);
        ck_assert_msg(timed(&writers[i], link) == CKERAS_OK, "%s via a link: %s", writers[i].name,
                      ckeras_last_error());
        unchanged(&before, link, writers[i].name);
        struct stat t1;
        ck_assert_int_eq(stat(target, &t1), 0);
        ck_assert_msg(S_ISREG(t1.st_mode) && t1.st_ino != t0.st_ino, "%s: the target was not replaced",
                      writers[i].name);
        ck_assert_int_eq(t1.st_mode & 07777, 0640); /* the mode of the file it replaced */
        ck_assert_int_eq(tu_count_entries(g_dir), entries);
    }
    /* readers through links to regular files */
    for (int i = 0; i < NREADERS; i++) {
        char target[400], link[400], rel[64];
        snprintf(rel, sizeof rel, "rt%d%s", i, readers[i].suffix);
        snprintf(target, sizeof target, "%s/%s", g_dir, rel);
        snprintf(link, sizeof link, "%s/rl%d%s", g_dir, i, readers[i].suffix);
        if (readers[i].fn == rd_csv)
            write_bytes(target, "a,b,c\n1,2,0\n3,4,1\n", 18);
        else if (readers[i].fn == rd_idx)
            write_bytes(target, (const uint8_t[]){0, 0, 8, 1, 0, 0, 0, 2, 5, 7}, 10);
        else if (readers[i].fn == rd_npy)
            ck_assert_int_eq(wr_npy(target), CKERAS_OK);
        else if (readers[i].fn == rd_npz)
            ck_assert_int_eq(wr_npz(target), CKERAS_OK);
        else if (readers[i].fn == rd_load_model || strcmp(readers[i].suffix, ".keras") == 0)
            ck_assert_int_eq(wr_save(target), CKERAS_OK);
        else
            ck_assert_int_eq(wr_save_weights(target), CKERAS_OK);
        ck_assert_int_eq(symlink(rel, link), 0);
        ck_assert_msg(timed(&readers[i], link) == CKERAS_OK, "%s(%s) via a link: %s", readers[i].name, link,
                      ckeras_last_error());
    }
}
END_TEST

/* New files get mode 0666 less the umask, as fopen gives them (the temporary file of a save was
 * made by mkstemp, 0600, and ended as 0644 whatever the umask); CSVLogger's log too. A replaced
 * file keeps its own mode (symbolic_links_are_followed checks 0640). */
START_TEST(new_files_follow_the_umask)
{
    static const mode_t masks[] = {022, 077, 002, 027};
    mode_t old = umask(022);
    for (int k = 0; k < (int)(sizeof masks / sizeof masks[0]); k++) {
        umask(masks[k]);
        mode_t want = 0666 & ~masks[k];
        for (int i = 0; i < NWRITERS; i++) {
            char path[400];
            snprintf(path, sizeof path, "%s/m%o-%d%s", g_dir, (unsigned)masks[k], i, writers[i].suffix);
            ck_assert_msg(timed(&writers[i], path) == CKERAS_OK, "%s: %s", writers[i].name, ckeras_last_error());
            struct stat sb;
            ck_assert_int_eq(stat(path, &sb), 0);
            ck_assert_msg((sb.st_mode & 07777) == want, "%s under umask %03o: mode %04o, expected %04o",
                          writers[i].name, (unsigned)masks[k], (unsigned)(sb.st_mode & 07777), (unsigned)want);
            /* saved again: the file's own mode is kept (here the same) */
            ck_assert_int_eq(timed(&writers[i], path), CKERAS_OK);
            ck_assert_int_eq(stat(path, &sb), 0);
            ck_assert_int_eq(sb.st_mode & 07777, want);
        }
        char log[400];
        snprintf(log, sizeof log, "%s/m%o-log.csv", g_dir, (unsigned)masks[k]);
        ckeras_callback *cb = ckeras_csv_logger(log, ",", 0);
        ck_assert_ptr_nonnull(cb);
        ckeras_fit_args *fa = ckeras_fit_args_new();
        ck_assert_int_eq(ckeras_fit_args_set_int(fa, "epochs", 1), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_set_int(fa, "verbose", 0), CKERAS_OK);
        ck_assert_int_eq(ckeras_fit_args_add_callback(fa, cb), CKERAS_OK);
        ckeras_tensor *x = ckeras_tensor_new(2, (const int64_t[]){4, 4}), *y = ckeras_tensor_new(2, (const int64_t[]){4, 2});
        memset(ckeras_tensor_data(x), 0, 16 * sizeof(float));
        memset(ckeras_tensor_data(y), 0, 8 * sizeof(float));
        ckeras_history *h = NULL;
        ck_assert_msg(ckeras_model_fit(g_model, x, y, fa, &h) == CKERAS_OK, "%s", ckeras_last_error());
        ckeras_history_free(h);
        ckeras_fit_args_free(fa);
        ckeras_callback_free(cb);
        ckeras_tensor_free(x);
        ckeras_tensor_free(y);
        struct stat sb;
        ck_assert_int_eq(stat(log, &sb), 0);
        ck_assert_int_eq(sb.st_mode & 07777, want);
    }
    umask(old);
}
END_TEST

START_TEST(summary_reports_write_errors)
{
    FILE *f = fopen("/dev/full", "w");
    if (!f) {
        fprintf(stderr, "test_files: no /dev/full, summary case skipped\n");
        return;
    }
    ck_assert_int_eq(ckeras_model_summary(g_model, 0, f), CKERAS_EIO);
    ck_assert_ptr_nonnull(strstr(ckeras_last_error(), "summary: cannot write"));
    fclose(f);
    /* a good stream still works */
    f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(ckeras_model_summary(g_model, 0, f), CKERAS_OK);
    ck_assert(ftell(f) > 0);
    fclose(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("files");
    TCase *tc = tcase_create("files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, readers_refuse_fifos_devices_directories);
    tcase_add_test(tc, readers_refuse_a_large_file_of_zeros_at_once);
    tcase_add_test(tc, saves_refuse_what_is_not_a_regular_file);
    tcase_add_test(tc, symbolic_links_are_followed);
    tcase_add_test(tc, summary_reports_write_errors);
    tcase_add_test(tc, new_files_follow_the_umask);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
