/* The files every reader and writer of src/io touches, treated one way:
 *  - readers open a path without blocking (a FIFO without a writer would wait forever) and
 *    take regular files only (a device such as /dev/zero never ends);
 *  - writers replace regular files only, atomically (a temporary file beside the target,
 *    fsynced, renamed into place, the folder fsynced), and follow a symbolic link to its
 *    target so that the link stays a link.
 *
 * Sizes: a header's element count is computed without overflow and checked against the bytes
 * the file holds before it is multiplied by an element size; text is read in chunks whose sizes
 * are checked (src/io/file.c). */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What a file that is not a regular file is, for messages. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : S_ISLNK(m) ? "a symbolic link"
         : "not a file";
}

ckeras_status ck_file_open(const char *path, int *fd, int64_t *size)
{
    *fd = -1;
    /* a device is not even opened (opening one can have effects: a tape rewinds, a terminal
     * becomes the controlling one); fstat below checks again what was opened */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return ck_error(CKERAS_EIO, "%s is %s, not a regular file", path, file_kind(sb.st_mode));
    int f = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (f < 0)
        return ck_error(CKERAS_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return ck_error(CKERAS_EIO, "cannot open %s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return ck_error(CKERAS_EIO, "%s is %s, not a regular file", path, file_kind(sb.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(f);
        return ck_error(CKERAS_EIO, "cannot open %s: %s", path, strerror(e));
    }
    *fd = f;
    if (size)
        *size = (int64_t)sb.st_size;
    return CKERAS_OK;
}

ckeras_status ck_file_open_append(const char *path, bool append, FILE **out, bool *was_empty)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return ck_error(CKERAS_EIO, "%s is %s, not a regular file", path, file_kind(sb.st_mode));
    int f = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : 0) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0666);
    if (f < 0)
        return ck_error(CKERAS_EIO, "cannot open %s for writing: %s", path, strerror(errno));
    int fl;
    bool stat_ok = fstat(f, &sb) == 0;
    if (stat_ok && !S_ISREG(sb.st_mode)) { /* swapped in after the check: truncated nothing */
        close(f);
        return ck_error(CKERAS_EIO, "%s is %s, not a regular file", path, file_kind(sb.st_mode));
    }
    if (!stat_ok || (fl = fcntl(f, F_GETFL)) < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        (!append && ftruncate(f, 0) != 0)) {
        int e = errno;
        close(f);
        return ck_error(CKERAS_EIO, "cannot open %s for writing: %s", path, strerror(e));
    }
    FILE *fp = fdopen(f, append ? "a" : "w");
    if (!fp) {
        close(f);
        return ck_error(CKERAS_ENOMEM, "cannot open %s for writing: out of memory", path);
    }
    if (was_empty)
        *was_empty = sb.st_size == 0;
    *out = fp;
    return CKERAS_OK;
}

ckeras_status ck_file_check(const char *path)
{
    int fd;
    ckeras_status st = ck_file_open(path, &fd, NULL);
    if (st == CKERAS_OK)
        close(fd);
    return st;
}

/* Reads a whole regular file (see ck_read_file, ck_read_text). */
static ckeras_status read_all(const char *path, const char *magic, bool text, uint8_t **buf, size_t *len)
{
    if (!path || !buf || !len)
        return ck_error(CKERAS_EINVAL, "read_file: NULL argument");
    int fd;
    int64_t size;
    ckeras_status st = ck_file_open(path, &fd, &size);
    if (st != CKERAS_OK)
        return st;
    /* a first chunk of at most 1 MB decides (magic, text); then room for the size fstat gave
     * plus the NUL, doubled if the file grows meanwhile */
    size_t full = (uint64_t)size < (uint64_t)SIZE_MAX / 4 ? (size_t)size + 1 : SIZE_MAX / 4;
    size_t cap = full < ((size_t)1 << 20) ? full : (size_t)1 << 20;
    size_t mlen = magic ? strlen(magic) : 0, n = 0;
    uint8_t *p = ck_malloc(cap);
    bool nomem = !p;
    while (!nomem && st == CKERAS_OK) {
        if (n + 1 >= cap) {
            size_t ncap = cap < full ? full : cap <= SIZE_MAX / 8 ? cap * 2 : 0;
            uint8_t *q = ncap ? ck_realloc(p, ncap) : NULL;
            if (!q) {
                nomem = true;
                break;
            }
            p = q;
            cap = ncap;
        }
        size_t want = cap - 1 - n < ((size_t)1 << 24) ? cap - 1 - n : (size_t)1 << 24;
        ssize_t got = read(fd, p + n, want);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got < 0)
                st = ck_error(CKERAS_EIO, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        size_t at = n;
        n += (size_t)got;
        /* a file of another format is refused at its first chunk, before the rest is read */
        if (magic && at < mlen && n >= mlen && memcmp(p, magic, mlen) != 0)
            st = ck_error(CKERAS_EFORMAT, "%s: not the expected format (bad magic number)", path);
        const uint8_t *nul = text ? memchr(p + at, '\0', (size_t)got) : NULL;
        if (nul)
            st = ck_error(CKERAS_EFORMAT, "%s: not a text file (a NUL byte at offset %zu)", path,
                          (size_t)(nul - p));
    }
    close(fd);
    if (nomem) {
        ck_free(p);
        return ck_error(CKERAS_ENOMEM, "cannot read %s: out of memory (%lld bytes)", path, (long long)size);
    }
    if (st == CKERAS_OK && n < mlen)
        st = ck_error(CKERAS_EFORMAT, "%s: not the expected format (only %zu bytes)", path, n);
    if (st != CKERAS_OK) {
        ck_free(p);
        return st;
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    return CKERAS_OK;
}

ckeras_status ck_read_file(const char *path, const char *magic, uint8_t **buf, size_t *len)
{
    return read_all(path, magic, false, buf, len);
}

ckeras_status ck_read_text(const char *path, uint8_t **buf, size_t *len)
{
    return read_all(path, NULL, true, buf, len);
}

/* ---- atomic saves ------------------------------------------------------------------------ */

/* Creates "<t>.tmp-XXXXXX" (six letters or digits, like mkstemp) with O_EXCL and mode perm: for a
 * new file perm is 0666 and the kernel takes off the umask (and applies a folder's default
 * ACL) as it does for fopen, so no thread has to read the process-wide umask. The name is
 * written into tmp (strlen(t) + 12 bytes). Returns the descriptor, or -1 with errno. */
static int create_tmp(const char *t, char *tmp, mode_t perm)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static _Atomic uint64_t counter;
    size_t tl = strlen(t);
    memcpy(tmp, t, tl);
    memcpy(tmp + tl, ".tmp-XXXXXX", 12);
    for (int attempt = 0; attempt < 1000; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        /* splitmix64 of the time, the process, a counter and this frame's address */
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^
                     (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)&ts;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
        for (int i = 0; i < 6; i++, x /= 62)
            tmp[tl + 5 + i] = alnum[x % 62];
        int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

ckeras_status ck_save_begin(ck_save *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->path = path;
    struct stat sb;
    mode_t mode = 0; /* a new file: 0666 less the umask, as fopen makes it (create_tmp) */
    bool replace = false;
    /* checked now, renamed onto at the end: a path swapped in between (by someone who can
     * write to its folder) is replaced; no system call makes the check and the rename one */
    if (lstat(path, &sb) == 0) {
        if (S_ISLNK(sb.st_mode)) {
            /* follow it: the new file replaces the link's target, the link stays */
            s->target = realpath(path, NULL);
            if (!s->target)
                return ck_error(CKERAS_EIO, "%s: cannot write: a symbolic link whose target cannot be resolved "
                                "(%s); nothing was written", path, strerror(errno));
            if (stat(s->target, &sb) != 0) {
                ckeras_status st = ck_error(CKERAS_EIO, "%s: cannot write: its target %s: %s", path, s->target,
                                            strerror(errno));
                ck_save_end(s, st);
                return st;
            }
        }
        if (!S_ISREG(sb.st_mode)) {
            ckeras_status st = ck_error(CKERAS_EIO, "%s: cannot write: %s%s is %s, not a regular file; it was left "
                                        "untouched", path, s->target ? "its target " : "it",
                                        s->target ? s->target : "", file_kind(sb.st_mode));
            ck_save_end(s, st);
            return st;
        }
        mode = sb.st_mode & 07777; /* keep the mode of the file being replaced */
        replace = true;
    } else if (errno != ENOENT) {
        return ck_error(CKERAS_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    const char *t = s->path = s->target ? s->target : path;
    size_t tl = strlen(t);
    s->tmp = ck_malloc(tl + 12);
    if (!s->tmp) {
        ck_save_end(s, CKERAS_ENOMEM);
        return CKERAS_ENOMEM;
    }
    /* replacing: private (rw-------) until the end gives it the old file's mode */
    s->fd = create_tmp(t, s->tmp, replace ? 0600 : 0666);
    struct stat ts;
    if (s->fd >= 0 && !replace) {
        if (fstat(s->fd, &ts) == 0) {
            mode = ts.st_mode & 07777;
        } else {
            int e = errno;
            close(s->fd);
            unlink(s->tmp);
            s->fd = -1;
            errno = e;
        }
    }
    if (s->fd < 0) {
        ckeras_status st = ck_error(CKERAS_EIO, "%s: cannot write: cannot create a temporary file beside it: %s",
                                    path, strerror(errno));
        ck_free(s->tmp);
        s->tmp = NULL;
        ck_save_end(s, st);
        return st;
    }
    s->mode = mode;
    return CKERAS_OK;
}

ckeras_status ck_save_end(ck_save *s, ckeras_status st)
{
    const char *path = s->path;
    if (s->fd < 0 && s->tmp && st == CKERAS_OK) /* written through its name: reopen it to fsync it */
        s->fd = open(s->tmp, O_RDONLY | O_CLOEXEC);
    if (s->fd >= 0)
        (void)fchmod(s->fd, (mode_t)s->mode);
    if (s->tmp && st == CKERAS_OK && (s->fd < 0 || fsync(s->fd) != 0))
        st = ck_error(CKERAS_EIO, "%s: cannot write: fsync failed: %s", path, strerror(errno));
    if (s->fd >= 0 && close(s->fd) != 0 && st == CKERAS_OK)
        st = ck_error(CKERAS_EIO, "%s: cannot write: close failed: %s", path, strerror(errno));
    if (s->tmp && st == CKERAS_OK && rename(s->tmp, path) != 0)
        st = ck_error(CKERAS_EIO, "%s: cannot write: rename of the temporary file failed: %s", path,
                      strerror(errno));
    if (s->tmp && st != CKERAS_OK)
        unlink(s->tmp);
    if (s->tmp && st == CKERAS_OK) { /* make the rename durable: fsync the folder (best effort) */
        const char *slash = strrchr(path, '/');
        size_t dl = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
        memcpy(s->tmp, slash ? path : ".", slash ? dl : 1);
        s->tmp[slash ? dl : 1] = '\0';
        int dfd = open(s->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
    }
    ck_free(s->tmp);
    free(s->target); /* from realpath */
    memset(s, 0, sizeof *s);
    s->fd = -1;
    return st;
}

ckeras_status ck_save_bytes(const char *path, const void *buf, size_t len)
{
    ck_save s;
    ckeras_status st = ck_save_begin(&s, path);
    if (st != CKERAS_OK)
        return st;
    const uint8_t *b = buf;
    while (len > 0 && st == CKERAS_OK) {
        ssize_t w = write(s.fd, b, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            st = ck_error(CKERAS_EIO, "cannot write %s: %s", path, w < 0 ? strerror(errno) : "disk full");
        } else {
            b += w;
            len -= (size_t)w;
        }
    }
    return ck_save_end(&s, st);
}
