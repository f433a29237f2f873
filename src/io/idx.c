/* IDX files (MNIST, Fashion-MNIST): big-endian.
 *
 * Layout: magic (4 bytes: 0, 0, type, ndim), ndim big-endian uint32 dimensions, then the
 * elements in C order, big-endian. Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
 * 0x0D float32, 0x0E float64. The file may be gzip-compressed: zlib's gzread reads both. The
 * data is read in chunks into a buffer that grows with what actually arrives, so a header that
 * announces more than the file holds costs no more memory than the file.
 *
 * Sizes: a header's element count is computed without overflow and checked against the bytes
 * the file holds before it is multiplied by an element size; text is read in chunks whose sizes
 * are checked (src/io/file.c). */
#include "io/io.h"

#include <errno.h>
#include <string.h>
#include <zlib.h>
#include <unistd.h>

#define IDX_CHUNK (1 << 20)

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Reads exactly n bytes; false at end of file or on error. */
static bool gz_read_all(gzFile g, void *dst, size_t n)
{
    uint8_t *p = dst;
    while (n > 0) {
        unsigned step = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(g, p, step);
        if (got <= 0)
            return false;
        p += got;
        n -= (size_t)got;
    }
    return true;
}

static float elem_to_float(const uint8_t *b, int type)
{
    switch (type) {
    case 0x08: return (float)b[0];
    case 0x09: return (float)(int8_t)b[0];
    case 0x0B: return (float)(int16_t)(uint16_t)((b[0] << 8) | b[1]);
    case 0x0C: return (float)(int32_t)be32(b);
    case 0x0D: {
        uint32_t u = be32(b);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: { /* 0x0E */
        uint64_t u = ((uint64_t)be32(b) << 32) | be32(b + 4);
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    }
}

ckeras_status ck_idx_read(const char *path, ckeras_tensor **out)
{
    if (!path || !out)
        return ck_error(CKERAS_EINVAL, "idx_read: NULL argument");
    int fd;
    ckeras_status st = ck_file_open(path, &fd, NULL);
    gzFile g = st == CKERAS_OK ? gzdopen(fd, "rb") : NULL;
    if (st == CKERAS_OK && !g) {
        close(fd);
        st = ck_error(CKERAS_ENOMEM, "cannot read %s: out of memory", path);
    }
    if (!g) {
        ck_error_prefix("idx_read");
        return st;
    }
    uint8_t *raw = NULL;
    ckeras_tensor *t = NULL;
    uint8_t magic[4];
    if (!gz_read_all(g, magic, 4)) {
        st = ck_error(CKERAS_EFORMAT, "idx_read: %s: truncated (no magic number)", path);
        goto done;
    }
    int type = magic[2], ndim = magic[3];
    int esize = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0C || type == 0x0D ? 4
              : type == 0x0E ? 8 : 0;
    if (magic[0] != 0 || magic[1] != 0 || esize == 0 || ndim < 1) {
        st = ck_error(CKERAS_EFORMAT, "idx_read: %s: bad magic number 0x%02x%02x%02x%02x (expected 0x000008NN, "
                      "e.g. 0x00000801 labels, 0x00000803 images)", path, magic[0], magic[1], magic[2], magic[3]);
        goto done;
    }
    if (ndim > CKERAS_MAX_DIMS) {
        st = ck_error(CKERAS_EUNSUPPORTED, "idx_read: %s: %d axes (at most %d)", path, ndim, CKERAS_MAX_DIMS);
        goto done;
    }
    int64_t shape[CKERAS_MAX_DIMS];
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        uint8_t d[4];
        if (!gz_read_all(g, d, 4)) {
            st = ck_error(CKERAS_EFORMAT, "idx_read: %s: truncated header (dimension %d of %d missing)", path,
                          i + 1, ndim);
            goto done;
        }
        shape[i] = be32(d);
        /* Each dimension is below 2^32, so the product overflows only past 2^63: check it. */
        if (shape[i] != 0 && count > (uint64_t)INT64_MAX / (uint64_t)esize / (uint64_t)shape[i]) {
            st = ck_error(CKERAS_EFORMAT, "idx_read: %s: shape is absurdly large", path);
            goto done;
        }
        count *= (uint64_t)shape[i];
    }
    if (count > SIZE_MAX / (size_t)esize) {
        st = ck_error(CKERAS_EFORMAT, "idx_read: %s: shape is absurdly large", path);
        goto done;
    }
    ck_shape shp = {.ndim = ndim};
    for (int i = 0; i < ndim; i++)
        shp.d[i] = shape[i];
    if ((st = ck_shape_check(&shp, "idx_read: %s: shape", path)) != CKERAS_OK) /* before reading the data */
        goto done;
    /* Read the payload into a buffer that grows only as data arrives. */
    size_t need = (size_t)count * (size_t)esize, have = 0, cap = 0;
    while (have < need) {
        if (have == cap) {
            size_t want = cap ? cap * 2 : IDX_CHUNK;
            if (want > need)
                want = need;
            uint8_t *p = ck_realloc(raw, want);
            if (!p) {
                st = CKERAS_ENOMEM;
                goto done;
            }
            raw = p;
            cap = want;
        }
        size_t step = cap - have > (1u << 30) ? (1u << 30) : cap - have;
        int got = gzread(g, raw + have, (unsigned)step);
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(g, &zerr);
            st = ck_error(CKERAS_EFORMAT, "idx_read: %s: damaged data: %s", path, msg ? msg : "read error");
            goto done;
        }
        if (got == 0) {
            st = ck_error(CKERAS_EFORMAT, "idx_read: %s: truncated data: shape needs %zu bytes, file has %zu",
                          path, need, have);
            goto done;
        }
        have += (size_t)got;
    }
    t = ckeras_tensor_new(ndim, shape);
    if (!t) {
        st = ck_last_status(CKERAS_ENOMEM);
        goto done;
    }
    for (uint64_t i = 0; i < count; i++)
        t->data[i] = elem_to_float(raw + i * (size_t)esize, type);
done:
    gzclose(g);
    ck_free(raw);
    if (st != CKERAS_OK) {
        ckeras_tensor_free(t);
        return st;
    }
    *out = t;
    return CKERAS_OK;
}
