/* Crash-safe saving: a child process saves a large model (about 16 MB with its optimizer state)
 * over an existing good file and is killed with SIGKILL part way; the file at the path must then
 * load and be either the previous model or the new one, complete - never a mix, never damaged.
 *
 * Two ways to pick the moment of the kill:
 *  - deterministic: this test binary defines write, pwrite, pwrite64, fsync and rename (they
 *    take precedence over libc's for HDF5 and the library too), counts the calls made while the
 *    save runs, and in the child kills itself just before the k-th one, for every k (and just
 *    after the rename);
 *  - timed: the parent kills the child after a random delay (seeded) between 0 and 1.2 times the
 *    duration of a full save.
 * A killed save leaves its temporary file (path.tmp-XXXXXX) behind: nothing can remove it. The
 * test counts such files, checks they never replace the target, and removes them. */
#include "model/model.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- I/O kill points ------------------------------------------------------------------------- */

/* Shared with the children: calls counted while armed, and the call to die at (0: never). */
typedef struct io_ctl {
    long count;
    long kill_at;
} io_ctl;
static io_ctl *ctl;
static int armed; /* set only in a child, around its save */

static void io_point(void)
{
    if (!armed || !ctl)
        return;
    long n = ++ctl->count;
    if (ctl->kill_at && n == ctl->kill_at)
        raise(SIGKILL);
}

/* default visibility: the build hides symbols, and these must be exported to replace libc's */
#define EXPORT __attribute__((visibility("default")))
EXPORT ssize_t write(int fd, const void *buf, size_t n);
EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off);
EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
EXPORT int fsync(int fd);
EXPORT int rename(const char *from, const char *to);

ssize_t write(int fd, const void *buf, size_t n)
{
    io_point();
    return syscall(SYS_write, fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    io_point();
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    io_point();
    return syscall(SYS_pwrite64, fd, buf, n, off);
}

int fsync(int fd)
{
    io_point();
    return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to)
{
    io_point();
    int r = (int)syscall(SYS_rename, from, to);
    io_point(); /* a kill just after the rename: the new file must be whole */
    return r;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

static char tmpdir[256];
static char target[400];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ck_test_crashsafe_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    snprintf(target, sizeof target, "%s/model.h5", tmpdir);
    ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ck_assert(ctl != MAP_FAILED);
}

static void teardown(void)
{
    munmap(ctl, sizeof *ctl);
    ctl = NULL;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

/* Removes leftover temporary files; returns how many there were. */
static int sweep_temps(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp-")) {
            char p[700];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* A model with 1.3 M weights and Adam's two slots per weight: about 16 MB on disk. */
static ckeras_model *big_model(uint64_t seed, const ckeras_tensor *x, const ckeras_tensor *y)
{
    ckeras_set_random_seed(seed);
    ckeras_model *m = ckeras_sequential("big");
    ck_assert_int_eq(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){256})), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1024, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(1024, "relu")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_add(m, ckeras_dense(2, "softmax")), CKERAS_OK);
    ck_assert_int_eq(ckeras_model_compile(m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"),
                     CKERAS_OK);
    ck_assert_int_eq(ckeras_model_train_on_batch(m, x, y, NULL, 0), CKERAS_OK);
    return m;
}


static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct crash_case {
    ckeras_model *m[2];
    ckeras_tensor *x;
    ckeras_tensor *pred[2];
    int in_file;      /* which model the file holds */
    int kills, whole_old, whole_new, temps;
    double child_s;   /* the last child's life, fork to exit */
} crash_case;

/* Which model the file at target holds (0 or 1); fails the test if neither, or if it does not
 * load. */
static int which_model(crash_case *c, const char *when)
{
    ckeras_model *back = NULL;
    ckeras_status st = ckeras_load_model(target, 0, &back);
    ck_assert_msg(st == CKERAS_OK, "%s: the file does not load: %s", when, ckeras_last_error());
    ckeras_tensor *p = NULL;
    ck_assert_int_eq(ckeras_model_predict(back, c->x, 0, &p), CKERAS_OK);
    int who = -1;
    for (int i = 0; i < 2 && who < 0; i++)
        if (memcmp(ckeras_tensor_data(p), ckeras_tensor_data(c->pred[i]),
                   (size_t)ckeras_tensor_size(p) * sizeof(float)) == 0)
            who = i;
    ck_assert_msg(who >= 0, "%s: the file loads but holds neither the old nor the new model", when);
    /* the optimizer state came back too: one step was taken */
    ck_assert_int_eq(ckeras_optimizer_iterations(back->opt), 1);
    ckeras_tensor_free(p);
    ckeras_model_free(back);
    return who;
}

/* Forks a child that saves model 1 - in_file over the target. kill_at > 0: the child dies at
 * that I/O call; delay_us >= 0: the parent kills it after that delay. Returns true when the
 * child was killed, false when it finished its save. */
static bool crash_round(crash_case *c, long kill_at, long delay_us)
{
    int next = 1 - c->in_file;
    ctl->count = 0;
    ctl->kill_at = kill_at;
    double t0 = now();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        armed = 1;
        ckeras_status st = ckeras_model_save(c->m[next], target, 0);
        armed = 0;
        _exit(st == CKERAS_OK ? 0 : 3);
    }
    if (delay_us >= 0) {
        if (delay_us > 0)
            usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    c->child_s = now() - t0;
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    if (!killed)
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child's save failed (status %d)", status);
    char when[96];
    snprintf(when, sizeof when, "after a kill at I/O call %ld / %ld us", kill_at, delay_us);
    int who = which_model(c, when);
    if (!killed)
        ck_assert_msg(who == next, "a save that finished left the old model");
    if (killed) {
        c->kills++;
        if (who == next)
            c->whole_new++;
        else
            c->whole_old++;
    }
    c->in_file = who;
    c->temps += sweep_temps();
    return killed;
}

static void crash_case_init(crash_case *c)
{
    memset(c, 0, sizeof *c);
    c->x = ckeras_tensor_new(2, (const int64_t[]){4, 256});
    ckeras_tensor *y = ckeras_tensor_new(2, (const int64_t[]){4, 1});
    for (int i = 0; i < 4 * 256; i++)
        ckeras_tensor_data(c->x)[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    for (int i = 0; i < 4; i++)
        ckeras_tensor_data(y)[i] = (float)(i & 1);
    for (int i = 0; i < 2; i++) {
        c->m[i] = big_model(100 + (uint64_t)i, c->x, y);
        ck_assert_int_eq(ckeras_model_predict(c->m[i], c->x, 0, &c->pred[i]), CKERAS_OK);
    }
    ckeras_tensor_free(y);
    ck_assert_int_eq(ckeras_model_save(c->m[0], target, 0), CKERAS_OK);
    struct stat sb;
    ck_assert_int_eq(stat(target, &sb), 0);
    ck_assert_int_gt(sb.st_size, 10 << 20); /* a few MB of weights and optimizer slots */
    c->in_file = 0;
    ck_assert_int_eq(which_model(c, "the first save"), 0);
}

static void crash_case_free(crash_case *c)
{
    for (int i = 0; i < 2; i++) {
        ckeras_model_free(c->m[i]);
        ckeras_tensor_free(c->pred[i]);
    }
    ckeras_tensor_free(c->x);
}

/* Under valgrind (make check-valgrind sets CK_VALGRIND) every round is ~50x slower. */
static bool slow_env(void)
{
    return getenv("CK_VALGRIND") && *getenv("CK_VALGRIND");
}

START_TEST(kill_at_every_io_call)
{
    crash_case c;
    crash_case_init(&c);
    /* a full save in a child, counting its I/O calls */
    crash_round(&c, 0, -1);
    long calls = ctl->count;
    ck_assert_int_gt(calls, 3); /* the interposed calls are used (a test that cannot fail is a defect) */
    long step = slow_env() ? (calls + 5) / 6 : 1;
    int points = 0;
    for (long k = 1; k <= calls; k = k + step <= calls || k == calls ? k + step : calls) {
        bool killed = crash_round(&c, k, -1);
        ck_assert_msg(killed, "the child did not reach I/O call %ld of %ld", k, calls);
        points++;
    }
    fprintf(stderr, "crashsafe: %ld I/O calls per save, %d kill points tried: %d left the old file, %d the new "
            "one (killed after the rename), %d temporary files left behind and removed\n",
            calls, points, c.whole_old, c.whole_new, c.temps);
    ck_assert_int_eq(c.whole_old + c.whole_new, points);
    ck_assert_int_ge(c.whole_new, 1); /* the kill after the rename */
    crash_case_free(&c);
}
END_TEST

START_TEST(kill_after_random_delays)
{
    crash_case c;
    crash_case_init(&c);
    /* the duration of a child's full save, from fork to exit: the shortest of three */
    double full = 1e9;
    for (int i = 0; i < 3; i++) {
        crash_round(&c, 0, -1);
        if (c.child_s < full)
            full = c.child_s;
    }
    int rounds = slow_env() ? 4 : 40;
    unsigned seed = 12345;
    int finished = 0;
    for (int r = 0; r < rounds; r++) {
        long us = (long)((double)(rand_r(&seed) % 1000) / 1000.0 * 1.2 * full * 1e6);
        if (!crash_round(&c, 0, us))
            finished++;
    }
    fprintf(stderr, "crashsafe: a save in a child takes %.0f ms (fork to exit); %d random kills (0..%.0f ms): %d left the old file, %d the "
            "new one, %d saves finished first; %d temporary files removed\n",
            full * 1e3, c.kills, 1.2 * full * 1e3, c.whole_old, c.whole_new, finished, c.temps);
    ck_assert_int_eq(c.kills + finished, rounds);
    crash_case_free(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crashsafe");
    TCase *tc = tcase_create("kill");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, kill_at_every_io_call);
    tcase_add_test(tc, kill_after_random_delays);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
