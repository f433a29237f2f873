/* Keras 3's native .keras archive <-> config text, metadata text and weights.
 *
 * A .keras file is a zip archive (Keras writes it with Python's zipfile) holding
 *   config.json        the model's serialised config, with build_config and compile_config
 *   metadata.json      {"keras_version", "date_saved"}
 *   model.weights.h5   the weights in the "<path>/vars/<index>" layout (ck_h5_read_vars)
 * and, for some layers, an assets/ folder ckeras does not use.
 *
 * The archive is read with libzip and never extracted by member name: the JSON members are read
 * into memory and the weights member is copied to a private temporary file made by mkstemp in
 * $TMPDIR (HDF5 and the fuzz-hardening guard of h5.c read files by path), removed before the
 * reader returns. Every member's declared size is checked against limits and against what its
 * compressed size can hold, and what is read must match it (libzip checks the CRC).
 *
 * This is the only file of ckeras that includes zip.h. */
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#define KZ_MAX_JSON ((zip_uint64_t)64 << 20)      /* config.json, metadata.json */
#define KZ_MAX_WEIGHTS ((zip_uint64_t)16 << 30)   /* model.weights.h5 */
#define KZ_MAX_ENTRIES 100000
#define KZ_DEFLATE_RATIO 1100                     /* deflate cannot expand more than ~1032:1 */
#define KZ_CHUNK ((size_t)1 << 20)

static const char *const kz_config = "config.json";
static const char *const kz_metadata = "metadata.json";
static const char *const kz_weights = "model.weights.h5";

void ck_keras_archive_free(ck_keras_archive *a)
{
    if (!a)
        return;
    ck_free(a->config);
    ck_free(a->metadata);
    ck_h5_vars_free(&a->vars);
    memset(a, 0, sizeof *a);
}

/* A member name that would leave the folder it is extracted to: absolute, a drive letter, or a
 * ".." component (either slash counts as a separator). */
static bool unsafe_name(const char *n)
{
    if (!n || !*n || n[0] == '/' || n[0] == '\\' || (n[0] && n[1] == ':'))
        return true;
    const char *p = n;
    while (*p) {
        size_t len = strcspn(p, "/\\");
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += len;
        if (*p)
            p++;
    }
    return false;
}

/* Does the file start as a zip archive does (a local file header)? */
static bool zip_start(const char *path)
{
    uint8_t b[4] = {0};
    int fd = open(path, O_RDONLY);
    bool yes = fd >= 0 && read(fd, b, 4) == 4 && b[0] == 'P' && b[1] == 'K' && b[2] == 3 && b[3] == 4;
    if (fd >= 0)
        close(fd);
    return yes;
}

static ckeras_status zip_open_error(const char *path, int code)
{
    if (code == ZIP_ER_NOZIP && zip_start(path))
        return ck_error(CKERAS_EFORMAT, "%s: truncated or damaged zip archive (it starts as one but has no "
                        "readable central directory)", path);
    zip_error_t ze;
    zip_error_init_with_code(&ze, code);
    char msg[200];
    snprintf(msg, sizeof msg, "%s", zip_error_strerror(&ze));
    zip_error_fini(&ze);
    switch (code) {
    case ZIP_ER_NOZIP:
        return ck_error(CKERAS_EFORMAT, "%s: not a zip archive (a .keras file is a zip of config.json, "
                        "metadata.json and model.weights.h5)", path);
    case ZIP_ER_INCONS:
        return ck_error(CKERAS_EFORMAT, "%s: damaged or truncated zip archive (%s)", path, msg);
    case ZIP_ER_MEMORY:
        return ck_error(CKERAS_ENOMEM, "%s: out of memory opening the zip archive", path);
    case ZIP_ER_OPEN:
    case ZIP_ER_READ:
    case ZIP_ER_NOENT:
        return ck_error(CKERAS_EIO, "%s: cannot open: %s", path, msg);
    default:
        return ck_error(CKERAS_EFORMAT, "%s: cannot read the zip archive: %s", path, msg);
    }
}

/* Checks member idx's declared sizes and method; *size receives its uncompressed size. */
static ckeras_status check_member(zip_t *z, zip_uint64_t idx, const char *path, const char *name,
                                  zip_uint64_t limit, zip_uint64_t archive_size, zip_uint64_t *size)
{
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z, idx, 0, &sb) != 0)
        return ck_error(CKERAS_EFORMAT, "%s: %s: cannot read its zip entry: %s", path, name, zip_strerror(z));
    if (!(sb.valid & ZIP_STAT_SIZE) || !(sb.valid & ZIP_STAT_COMP_SIZE) || !(sb.valid & ZIP_STAT_COMP_METHOD))
        return ck_error(CKERAS_EFORMAT, "%s: %s: its zip entry gives no size", path, name);
    if ((sb.valid & ZIP_STAT_ENCRYPTION_METHOD) && sb.encryption_method != ZIP_EM_NONE)
        return ck_error(CKERAS_EUNSUPPORTED, "%s: %s is encrypted", path, name);
    if (!zip_compression_method_supported(sb.comp_method, 0))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: %s uses zip compression method %d, which ckeras cannot read",
                        path, name, (int)sb.comp_method);
    if (sb.size > limit)
        return ck_error(CKERAS_EFORMAT, "%s: %s declares %llu bytes, more than the limit of %llu", path, name,
                        (unsigned long long)sb.size, (unsigned long long)limit);
    if (sb.comp_size > archive_size)
        return ck_error(CKERAS_EFORMAT, "%s: %s declares %llu compressed bytes in an archive of %llu bytes "
                        "(truncated or damaged)", path, name, (unsigned long long)sb.comp_size,
                        (unsigned long long)archive_size);
    if (sb.comp_method == ZIP_CM_STORE && sb.comp_size != sb.size)
        return ck_error(CKERAS_EFORMAT, "%s: %s is stored uncompressed but declares %llu bytes in %llu (damaged)",
                        path, name, (unsigned long long)sb.size, (unsigned long long)sb.comp_size);
    if (sb.comp_method != ZIP_CM_STORE && sb.size / KZ_DEFLATE_RATIO > sb.comp_size + 1024)
        return ck_error(CKERAS_EFORMAT, "%s: %s declares %llu bytes from %llu compressed bytes, more than "
                        "compression can give (damaged)", path, name, (unsigned long long)sb.size,
                        (unsigned long long)sb.comp_size);
    *size = sb.size;
    return CKERAS_OK;
}

/* Copies member idx (size bytes declared) through sink(ctx, buf, n); what is read must be
 * exactly size bytes with a good CRC. */
static ckeras_status copy_member(zip_t *z, zip_uint64_t idx, zip_uint64_t size, const char *path, const char *name,
                                 ckeras_status (*sink)(void *, const uint8_t *, size_t), void *ctx)
{
    zip_file_t *zf = zip_fopen_index(z, idx, 0);
    if (!zf)
        return ck_error(CKERAS_EFORMAT, "%s: %s: cannot read: %s", path, name, zip_strerror(z));
    uint8_t *buf = ck_malloc(KZ_CHUNK);
    if (!buf) {
        zip_fclose(zf);
        return CKERAS_ENOMEM;
    }
    ckeras_status st = CKERAS_OK;
    zip_uint64_t total = 0;
    for (;;) {
        zip_int64_t r = zip_fread(zf, buf, KZ_CHUNK);
        if (r < 0) {
            st = ck_error(CKERAS_EFORMAT, "%s: %s: damaged data: %s", path, name, zip_file_strerror(zf));
            break;
        }
        if (r == 0)
            break;
        total += (zip_uint64_t)r;
        if (total > size) {
            st = ck_error(CKERAS_EFORMAT, "%s: %s holds more than the %llu bytes it declares (damaged)", path, name,
                          (unsigned long long)size);
            break;
        }
        if ((st = sink(ctx, buf, (size_t)r)) != CKERAS_OK)
            break;
    }
    if (st == CKERAS_OK && total != size)
        st = ck_error(CKERAS_EFORMAT, "%s: %s holds %llu bytes but declares %llu (truncated or damaged)", path,
                      name, (unsigned long long)total, (unsigned long long)size);
    ck_free(buf);
    zip_fclose(zf);
    return st;
}

typedef struct mem_sink {
    uint8_t *p;
    size_t len;
} mem_sink;

static ckeras_status to_mem(void *ctx, const uint8_t *b, size_t n)
{
    mem_sink *m = ctx;
    memcpy(m->p + m->len, b, n);
    m->len += n;
    return CKERAS_OK;
}

typedef struct fd_sink {
    int fd;
    const char *path;
} fd_sink;

static ckeras_status to_fd(void *ctx, const uint8_t *b, size_t n)
{
    fd_sink *f = ctx;
    while (n > 0) {
        ssize_t w = write(f->fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return ck_error(CKERAS_EIO, "%s: cannot extract model.weights.h5 to a temporary file: %s", f->path,
                            w < 0 ? strerror(errno) : "disk full");
        b += w;
        n -= (size_t)w;
    }
    return CKERAS_OK;
}

/* A JSON member as a NUL-terminated string. */
static ckeras_status read_text(zip_t *z, zip_uint64_t idx, const char *path, const char *name,
                               zip_uint64_t archive_size, char **out)
{
    zip_uint64_t size;
    ckeras_status st = check_member(z, idx, path, name, KZ_MAX_JSON, archive_size, &size);
    if (st != CKERAS_OK)
        return st;
    mem_sink m = {ck_malloc((size_t)size + 1), 0};
    if (!m.p)
        return CKERAS_ENOMEM;
    if ((st = copy_member(z, idx, size, path, name, to_mem, &m)) != CKERAS_OK) {
        ck_free(m.p);
        return st;
    }
    m.p[m.len] = '\0';
    if (strlen((char *)m.p) != m.len) {
        ck_free(m.p);
        return ck_error(CKERAS_EFORMAT, "%s: %s holds a NUL byte (not JSON text)", path, name);
    }
    *out = (char *)m.p;
    return CKERAS_OK;
}

/* A private temporary file name in $TMPDIR (or /tmp) made by mkstemp; returns its fd. */
static int temp_file(char *buf, size_t n)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if ((size_t)snprintf(buf, n, "%s/ckeras-XXXXXX", dir) >= n) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mkstemp(buf);
}

static ckeras_status read_weights(zip_t *z, zip_uint64_t idx, const char *path, zip_uint64_t archive_size,
                                  ck_h5_vars *out)
{
    zip_uint64_t size;
    ckeras_status st = check_member(z, idx, path, kz_weights, KZ_MAX_WEIGHTS, archive_size, &size);
    if (st != CKERAS_OK)
        return st;
    char tmp[4096];
    int fd = temp_file(tmp, sizeof tmp);
    if (fd < 0)
        return ck_error(CKERAS_EIO, "%s: cannot create a temporary file for model.weights.h5: %s", path,
                        strerror(errno));
    fd_sink f = {fd, path};
    st = copy_member(z, idx, size, path, kz_weights, to_fd, &f);
    if (close(fd) != 0 && st == CKERAS_OK)
        st = ck_error(CKERAS_EIO, "%s: cannot extract model.weights.h5 to a temporary file: %s", path,
                      strerror(errno));
    if (st == CKERAS_OK) {
        size_t ll = strlen(path) + 32;
        char *label = ck_malloc(ll);
        if (!label) {
            st = CKERAS_ENOMEM;
        } else {
            snprintf(label, ll, "%s: %s", path, kz_weights);
            st = ck_h5_read_vars(tmp, label, out);
            ck_free(label);
        }
    }
    unlink(tmp);
    return st;
}

ckeras_status ck_keras_read(const char *path, ck_keras_archive *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "keras read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return ck_error(CKERAS_EINVAL, "keras read: path is NULL or empty");
    /* a regular file (libzip opens it again by name: see ck_file_check) */
    int fd;
    int64_t size;
    ckeras_status st = ck_file_open(path, &fd, &size);
    if (st != CKERAS_OK)
        return st;
    close(fd);
    int err = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
    if (!z)
        return zip_open_error(path, err);
    zip_uint64_t asize = (zip_uint64_t)size;
    ck_keras_archive a;
    memset(&a, 0, sizeof a);
    zip_int64_t n = zip_get_num_entries(z, 0);
    zip_int64_t ic = -1, im = -1, iw = -1;
    if (n < 0 || n > KZ_MAX_ENTRIES)
        st = ck_error(CKERAS_EFORMAT, "%s: the zip archive lists %lld members (damaged?)", path, (long long)n);
    for (zip_int64_t i = 0; i < n && st == CKERAS_OK; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name) {
            st = ck_error(CKERAS_EFORMAT, "%s: member %lld has no readable name: %s", path, (long long)i,
                          zip_strerror(z));
            break;
        }
        if (unsafe_name(name)) {
            st = ck_error(CKERAS_EFORMAT, "%s: member '%.200s' has an absolute path or a '..' component "
                          "(refused)", path, name);
            break;
        }
        zip_int64_t *slot = strcmp(name, kz_config) == 0     ? &ic
                            : strcmp(name, kz_metadata) == 0 ? &im
                            : strcmp(name, kz_weights) == 0  ? &iw
                                                             : NULL;
        if (slot && *slot >= 0)
            st = ck_error(CKERAS_EFORMAT, "%s: the archive holds %s twice", path, name);
        else if (slot)
            *slot = i;
    }
    if (st == CKERAS_OK && ic < 0)
        st = ck_error(CKERAS_EFORMAT, "%s: no config.json in the archive (not a Keras 3 .keras file)", path);
    if (st == CKERAS_OK)
        st = read_text(z, (zip_uint64_t)ic, path, kz_config, asize, &a.config);
    if (st == CKERAS_OK && im >= 0)
        st = read_text(z, (zip_uint64_t)im, path, kz_metadata, asize, &a.metadata);
    if (st == CKERAS_OK && iw >= 0)
        st = read_weights(z, (zip_uint64_t)iw, path, asize, &a.vars);
    zip_discard(z);
    if (st != CKERAS_OK) {
        ck_keras_archive_free(&a);
        return st;
    }
    *out = a;
    return CKERAS_OK;
}

/* ---- writing ------------------------------------------------------------------------------ */

static ckeras_status add_member(zip_t *z, const char *name, const void *data, size_t len, bool store,
                                const char *path)
{
    zip_source_t *src = zip_source_buffer(z, data, len, 0);
    if (!src)
        return ck_error(CKERAS_ENOMEM, "%s: cannot write: %s", path, zip_strerror(z));
    zip_int64_t idx = zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8);
    if (idx < 0) {
        zip_source_free(src);
        return ck_error(CKERAS_EIO, "%s: cannot write %s: %s", path, name, zip_strerror(z));
    }
    if (zip_set_file_compression(z, (zip_uint64_t)idx, store ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0) != 0)
        return ck_error(CKERAS_EIO, "%s: cannot write %s: %s", path, name, zip_strerror(z));
    return CKERAS_OK;
}

ckeras_status ck_keras_write(const char *path, const char *config, const char *metadata, const ck_h5_array *a,
                             int n)
{
    if (!path || !*path || !config || !metadata)
        return ck_error(CKERAS_EINVAL, "keras write: path, config or metadata is NULL");
    /* the weights: an HDF5 file in $TMPDIR, read back into memory */
    char h5tmp[4096];
    int fd = temp_file(h5tmp, sizeof h5tmp);
    if (fd < 0)
        return ck_error(CKERAS_EIO, "%s: cannot write: cannot create a temporary file: %s", path, strerror(errno));
    close(fd);
    uint8_t *h5 = NULL;
    size_t h5len = 0;
    ckeras_status st = ck_h5_write_vars(h5tmp, a, n);
    if (st == CKERAS_OK)
        st = ck_read_file(h5tmp, NULL, &h5, &h5len);
    unlink(h5tmp);
    if (st != CKERAS_OK) {
        ck_error_prefix("%s", path);
        return st;
    }
    /* the archive: a temporary file beside path, renamed into place */
    ck_save sv;
    if ((st = ck_save_begin(&sv, path)) != CKERAS_OK) {
        ck_free(h5);
        return st;
    }
    close(sv.fd);
    sv.fd = -1;
    int err = 0;
    zip_t *z = zip_open(sv.tmp, ZIP_TRUNCATE, &err);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, err);
        st = ck_error(CKERAS_EIO, "%s: cannot write: %s", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
    }
    if (st == CKERAS_OK)
        st = add_member(z, kz_metadata, metadata, strlen(metadata), false, path);
    if (st == CKERAS_OK)
        st = add_member(z, kz_config, config, strlen(config), false, path);
    if (st == CKERAS_OK)
        st = add_member(z, kz_weights, h5, h5len, true, path);
    if (z && st == CKERAS_OK && zip_close(z) != 0)
        st = ck_error(CKERAS_EIO, "%s: cannot write: %s", path, zip_strerror(z));
    else if (z && st == CKERAS_OK)
        z = NULL; /* closed */
    if (z)
        zip_discard(z);
    ck_free(h5);
    return ck_save_end(&sv, st);
}
