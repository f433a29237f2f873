/* NumPy .npy (format versions 1.0, 2.0, 3.0) and .npz (a zip archive of .npy members).
 *
 * .npy layout: "\x93NUMPY", major, minor, header length (uint16 LE for 1.x, uint32 LE for 2.x
 * and 3.x), then a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n' so that the data starts at a multiple of 64 bytes, then
 * the elements in C order.
 *
 * .npz: a zip file. We read the end-of-central-directory record (zip64 when needed), walk the
 * central directory, find each member's data after its local header, and inflate deflated
 * members with zlib (raw deflate). Every offset and length is checked against the buffer.
 *
 * Sizes: a header's element count is computed without overflow and checked against the bytes
 * the file holds before it is multiplied by an element size; text is read in chunks whose sizes
 * are checked (src/io/file.c). */
#include "io/io.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define NPY_MAX_HEADER (1u << 20) /* numpy writes a few hundred bytes; refuse absurd ones */
#define CHUNK_ELEMS 16384

static bool host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* ---- sources: a FILE of known length or a memory buffer --------------------------------- */

typedef struct npy_src {
    FILE *f;          /* NULL for memory */
    const uint8_t *p; /* memory */
    uint64_t len;     /* total bytes */
    uint64_t pos;
} npy_src;

static bool src_read(npy_src *s, void *dst, size_t n)
{
    if (n > s->len - s->pos)
        return false;
    if (s->f) {
        if (fread(dst, 1, n, s->f) != n)
            return false;
    } else {
        memcpy(dst, s->p + s->pos, n);
    }
    s->pos += n;
    return true;
}

/* ---- the header dict ---------------------------------------------------------------------- */

typedef struct npy_header {
    char descr[16];
    int have_descr, have_order, have_shape;
    bool fortran;
    int ndim;
    int64_t shape[CKERAS_MAX_DIMS];
} npy_header;

typedef struct hparse {
    const char *p, *end;
} hparse;

static void hp_ws(hparse *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static bool hp_eat(hparse *h, char c)
{
    hp_ws(h);
    if (h->p < h->end && *h->p == c) {
        h->p++;
        return true;
    }
    return false;
}

/* A quoted Python string into buf (truncated to n-1 chars; *full says whether it fitted). */
static bool hp_string(hparse *h, char *buf, size_t n, bool *full)
{
    hp_ws(h);
    if (h->p >= h->end || (*h->p != '\'' && *h->p != '"'))
        return false;
    char q = *h->p++;
    const char *b = h->p;
    while (h->p < h->end && *h->p != q)
        h->p++;
    if (h->p >= h->end)
        return false;
    size_t len = (size_t)(h->p - b);
    h->p++;
    *full = len < n;
    if (len >= n)
        len = n - 1;
    memcpy(buf, b, len);
    buf[len] = '\0';
    return true;
}

static bool hp_word(hparse *h, const char *w)
{
    hp_ws(h);
    size_t n = strlen(w);
    if ((size_t)(h->end - h->p) >= n && memcmp(h->p, w, n) == 0) {
        h->p += n;
        return true;
    }
    return false;
}

/* Parses the dict; returns a status with a message prefixed by what. */
static ckeras_status parse_header(const char *text, size_t len, const char *what, npy_header *hd)
{
    hparse h = {text, text + len};
    memset(hd, 0, sizeof *hd);
    if (!hp_eat(&h, '{'))
        return ck_error(CKERAS_EFORMAT, "%s: header is not a dict", what);
    for (;;) {
        if (hp_eat(&h, '}'))
            break;
        char key[32];
        bool full;
        if (!hp_string(&h, key, sizeof key, &full) || !hp_eat(&h, ':'))
            return ck_error(CKERAS_EFORMAT, "%s: header: expected 'key': value", what);
        if (strcmp(key, "descr") == 0) {
            hp_ws(&h);
            if (h.p < h.end && *h.p == '[')
                return ck_error(CKERAS_EUNSUPPORTED, "%s: structured dtypes are not supported", what);
            if (!hp_string(&h, hd->descr, sizeof hd->descr, &full))
                return ck_error(CKERAS_EFORMAT, "%s: header: descr is not a string", what);
            if (!full)
                return ck_error(CKERAS_EUNSUPPORTED, "%s: dtype '%s...' is not supported", what, hd->descr);
            hd->have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (hp_word(&h, "True"))
                hd->fortran = true;
            else if (hp_word(&h, "False"))
                hd->fortran = false;
            else
                return ck_error(CKERAS_EFORMAT, "%s: header: fortran_order is not True/False", what);
            hd->have_order = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (!hp_eat(&h, '('))
                return ck_error(CKERAS_EFORMAT, "%s: header: shape is not a tuple", what);
            hd->ndim = 0;
            for (;;) {
                if (hp_eat(&h, ')'))
                    break;
                hp_ws(&h);
                if (h.p >= h.end || *h.p < '0' || *h.p > '9')
                    return ck_error(CKERAS_EFORMAT, "%s: header: bad shape tuple", what);
                int64_t v = 0;
                while (h.p < h.end && *h.p >= '0' && *h.p <= '9') {
                    int d = *h.p++ - '0';
                    if (v > (INT64_MAX - d) / 10)
                        return ck_error(CKERAS_EFORMAT, "%s: header: shape dimension too large", what);
                    v = v * 10 + d;
                }
                if (h.p < h.end && *h.p == 'L') /* Python 2 longs */
                    h.p++;
                if (hd->ndim == CKERAS_MAX_DIMS)
                    return ck_error(CKERAS_EUNSUPPORTED, "%s: more than %d axes", what, CKERAS_MAX_DIMS);
                hd->shape[hd->ndim++] = v;
                if (hp_eat(&h, ','))
                    continue;
                if (hp_eat(&h, ')'))
                    break;
                return ck_error(CKERAS_EFORMAT, "%s: header: bad shape tuple", what);
            }
            hd->have_shape = 1;
        } else {
            return ck_error(CKERAS_EFORMAT, "%s: header: unknown key '%s'", what, key);
        }
        if (hp_eat(&h, ','))
            continue;
        if (hp_eat(&h, '}'))
            break;
        return ck_error(CKERAS_EFORMAT, "%s: header: expected ',' or '}'", what);
    }
    if (!hd->have_descr || !hd->have_order || !hd->have_shape)
        return ck_error(CKERAS_EFORMAT, "%s: header lacks descr, fortran_order or shape", what);
    return CKERAS_OK;
}

/* ---- element conversion ------------------------------------------------------------------ */

typedef struct npy_dtype {
    char kind; /* 'f', 'i', 'u', 'b' */
    int size;  /* bytes */
    bool swap; /* byte order differs from the host's */
} npy_dtype;

static ckeras_status parse_descr(const char *d, const char *what, npy_dtype *dt)
{
    size_t n = strlen(d);
    if (n < 3 || !strchr("<>|=", d[0]) || !strchr("fiub", d[1]))
        return ck_error(CKERAS_EUNSUPPORTED, "%s: dtype '%s' is not supported (float, int, uint, bool only)",
                        what, d);
    int size = atoi(d + 2);
    bool ok_size = (d[1] == 'b') ? size == 1
                 : (d[1] == 'f') ? (size == 2 || size == 4 || size == 8)
                                 : (size == 1 || size == 2 || size == 4 || size == 8);
    if (!ok_size || n != 3)
        return ck_error(CKERAS_EUNSUPPORTED, "%s: dtype '%s' is not supported", what, d);
    dt->kind = d[1];
    dt->size = size;
    bool file_le = d[0] == '<' || ((d[0] == '=' || d[0] == '|') && host_is_le());
    dt->swap = size > 1 && file_le != host_is_le();
    return CKERAS_OK;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Converts n elements at src (in file byte order) to float32. */
static void convert(const uint8_t *src, float *dst, size_t n, const npy_dtype *dt)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        const uint8_t *e = src + i * (size_t)dt->size;
        if (dt->swap) {
            for (int k = 0; k < dt->size; k++)
                b[k] = e[dt->size - 1 - k];
        } else {
            memcpy(b, e, (size_t)dt->size);
        }
        float v = 0;
        switch (dt->kind) {
        case 'b': v = b[0] ? 1.0f : 0.0f; break;
        case 'u':
            if (dt->size == 1) { v = b[0]; }
            else if (dt->size == 2) { uint16_t x; memcpy(&x, b, 2); v = (float)x; }
            else if (dt->size == 4) { uint32_t x; memcpy(&x, b, 4); v = (float)x; }
            else { uint64_t x; memcpy(&x, b, 8); v = (float)x; }
            break;
        case 'i':
            if (dt->size == 1) { int8_t x; memcpy(&x, b, 1); v = x; }
            else if (dt->size == 2) { int16_t x; memcpy(&x, b, 2); v = x; }
            else if (dt->size == 4) { int32_t x; memcpy(&x, b, 4); v = (float)x; }
            else { int64_t x; memcpy(&x, b, 8); v = (float)x; }
            break;
        case 'f':
            if (dt->size == 2) { uint16_t x; memcpy(&x, b, 2); v = half_to_float(x); }
            else if (dt->size == 4) { memcpy(&v, b, 4); }
            else { double x; memcpy(&x, b, 8); v = (float)x; }
            break;
        }
        dst[i] = v;
    }
}

/* ---- reading -------------------------------------------------------------------------------- */

static ckeras_status npy_from_src(npy_src *s, const char *what, ckeras_tensor **out)
{
    uint8_t pre[12];
    if (!src_read(s, pre, 10))
        return ck_error(CKERAS_EFORMAT, "%s: truncated (%llu bytes, no .npy preamble)", what,
                        (unsigned long long)s->len);
    if (memcmp(pre, "\x93NUMPY", 6) != 0)
        return ck_error(CKERAS_EFORMAT, "%s: not a .npy file (bad magic)", what);
    int major = pre[6], minor = pre[7];
    uint64_t hlen;
    if (major == 1) {
        hlen = rd16(pre + 8);
    } else if (major == 2 || major == 3) {
        if (!src_read(s, pre + 10, 2))
            return ck_error(CKERAS_EFORMAT, "%s: truncated .npy preamble", what);
        hlen = rd32(pre + 8);
    } else {
        return ck_error(CKERAS_EUNSUPPORTED, "%s: .npy format version %d.%d is not supported", what, major,
                        minor);
    }
    if (hlen > NPY_MAX_HEADER)
        return ck_error(CKERAS_EFORMAT, "%s: .npy header length %llu is absurd", what, (unsigned long long)hlen);
    if (hlen > s->len - s->pos)
        return ck_error(CKERAS_EFORMAT, "%s: truncated .npy header (%llu bytes announced, %llu present)", what,
                        (unsigned long long)hlen, (unsigned long long)(s->len - s->pos));
    char *text = ck_malloc((size_t)hlen + 1);
    if (!text)
        return CKERAS_ENOMEM;
    if (!src_read(s, text, (size_t)hlen)) {
        ck_free(text);
        return ck_error(CKERAS_EIO, "%s: read error in the .npy header", what);
    }
    text[hlen] = '\0';
    npy_header hd;
    ckeras_status st = parse_header(text, (size_t)hlen, what, &hd);
    ck_free(text);
    if (st != CKERAS_OK)
        return st;
    npy_dtype dt = {0};
    if ((st = parse_descr(hd.descr, what, &dt)) != CKERAS_OK)
        return st;
    if (hd.fortran) {
        int nontrivial = 0;
        for (int i = 0; i < hd.ndim; i++)
            nontrivial += hd.shape[i] > 1;
        if (nontrivial > 1) /* 1-D data is the same in both orders */
            return ck_error(CKERAS_EUNSUPPORTED, "%s: fortran_order arrays are not supported", what);
    }
    ck_shape shp = {.ndim = hd.ndim};
    for (int i = 0; i < hd.ndim; i++)
        shp.d[i] = hd.shape[i];
    if ((st = ck_shape_check(&shp, "%s: shape", what)) != CKERAS_OK) /* the tensor limit, before the data */
        return st;
    uint64_t count = 1;
    bool zero = false;
    for (int i = 0; i < hd.ndim; i++)
        zero |= hd.shape[i] == 0;
    if (!zero)
        for (int i = 0; i < hd.ndim; i++) {
            if (count > UINT64_MAX / (uint64_t)hd.shape[i])
                return ck_error(CKERAS_EFORMAT, "%s: shape is absurdly large", what);
            count *= (uint64_t)hd.shape[i];
        }
    else
        count = 0;
    uint64_t avail = s->len - s->pos;
    if (count > avail / (uint64_t)dt.size)
        return ck_error(CKERAS_EFORMAT, "%s: truncated data: shape needs %llu elements of %d bytes, %llu bytes present",
                        what, (unsigned long long)count, dt.size, (unsigned long long)avail);
    ckeras_tensor *t = ckeras_tensor_new(hd.ndim, hd.shape);
    if (!t)
        return ck_last_status(CKERAS_ENOMEM);
    if (dt.kind == 'f' && dt.size == 4 && !dt.swap) {
        if (count && !src_read(s, t->data, (size_t)count * 4)) {
            ckeras_tensor_free(t);
            return ck_error(CKERAS_EIO, "%s: read error in the data", what);
        }
    } else if (count) {
        uint8_t *buf = ck_malloc((size_t)CHUNK_ELEMS * (size_t)dt.size);
        if (!buf) {
            ckeras_tensor_free(t);
            return CKERAS_ENOMEM;
        }
        for (uint64_t i = 0; i < count; i += CHUNK_ELEMS) {
            size_t n = count - i < CHUNK_ELEMS ? (size_t)(count - i) : CHUNK_ELEMS;
            if (!src_read(s, buf, n * (size_t)dt.size)) {
                ck_free(buf);
                ckeras_tensor_free(t);
                return ck_error(CKERAS_EIO, "%s: read error in the data", what);
            }
            convert(buf, t->data + i, n, &dt);
        }
        ck_free(buf);
    }
    *out = t;
    return CKERAS_OK;
}

ckeras_status ck_npy_parse(const uint8_t *buf, size_t len, const char *what, ckeras_tensor **out)
{
    if (!buf || !out)
        return ck_error(CKERAS_EINVAL, "npy_parse: NULL argument");
    npy_src s = {NULL, buf, len, 0};
    return npy_from_src(&s, what ? what : "npy", out);
}

ckeras_status ck_npy_read(const char *path, ckeras_tensor **out)
{
    if (!path || !out)
        return ck_error(CKERAS_EINVAL, "npy_read: NULL argument");
    int fd;
    int64_t size;
    ckeras_status r = ck_file_open(path, &fd, &size);
    FILE *f = r == CKERAS_OK ? fdopen(fd, "rb") : NULL;
    if (r == CKERAS_OK && !f) {
        close(fd);
        r = ck_error(CKERAS_ENOMEM, "cannot read %s: out of memory", path);
    }
    if (!f) {
        ck_error_prefix("npy_read");
        return r;
    }
    npy_src s = {f, NULL, (uint64_t)size, 0};
    char what[300];
    snprintf(what, sizeof what, "npy_read: %s", path);
    r = npy_from_src(&s, what, out);
    fclose(f);
    return r;
}

/* ---- writing ------------------------------------------------------------------------------- */

/* The .npy header (version 1.0) of a float32 tensor into out (room for 10 + 512 bytes): the
 * preamble and the dict, padded with spaces and ended by '\n' so that 10 + its length is a
 * multiple of 64. Returns the header's size in bytes. */
static size_t npy_write_header(const ckeras_tensor *t, uint8_t *out)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%cf4', 'fortran_order': False, 'shape': (",
                     host_is_le() ? '<' : '>');
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld%s", (long long)t->shape[i],
                      (t->ndim == 1 || i + 1 < t->ndim) ? (t->ndim == 1 ? "," : ", ") : "");
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    int total = ((10 + n + 1 + 63) / 64) * 64; /* preamble + header + '\n' */
    int hlen = total - 10;
    memset(hdr + n, ' ', (size_t)(hlen - 1 - n));
    hdr[hlen - 1] = '\n';
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
    memcpy(out, pre, 10);
    memcpy(out + 10, hdr, (size_t)hlen);
    return (size_t)total;
}

ckeras_status ck_npy_encode(const ckeras_tensor *t, uint8_t **buf, size_t *len)
{
    int64_t count = ckeras_tensor_size(t);
    if (count > 0 && !t->data)
        return ck_error(CKERAS_EINVAL, "npy_write: tensor has no data");
    uint8_t head[10 + 512];
    size_t h = npy_write_header(t, head);
    size_t bytes = (size_t)count * sizeof(float);
    uint8_t *b = ck_malloc(h + bytes);
    if (!b)
        return CKERAS_ENOMEM;
    memcpy(b, head, h);
    if (bytes)
        memcpy(b + h, t->data, bytes);
    *buf = b;
    *len = h + bytes;
    return CKERAS_OK;
}

ckeras_status ck_npy_write(const char *path, const ckeras_tensor *t)
{
    if (!path)
        return ck_error(CKERAS_EINVAL, "npy_write: path is NULL");
    if (!t)
        return ck_error(CKERAS_EINVAL, "npy_write: tensor is NULL");
    int64_t count = ckeras_tensor_size(t);
    if (count > 0 && !t->data)
        return ck_error(CKERAS_EINVAL, "npy_write: tensor has no data");
    uint8_t head[10 + 512];
    size_t hlen = npy_write_header(t, head);

    ck_save sv;
    ckeras_status st = ck_save_begin(&sv, path);
    FILE *f = st == CKERAS_OK ? fdopen(sv.fd, "wb") : NULL;
    if (f)
        sv.fd = -1; /* fclose closes it */
    bool ok = f && fwrite(head, 1, hlen, f) == hlen;
    if (ok && count > 0)
        ok = fwrite(t->data, sizeof(float), (size_t)count, f) == (size_t)count;
    int e = ok ? 0 : errno;
    if (f && fclose(f) != 0 && ok) {
        e = errno;
        ok = false;
    }
    if (st == CKERAS_OK && !ok)
        st = ck_error(CKERAS_EIO, "%s: cannot write: %s", path, strerror(e));
    st = ck_save_end(&sv, st);
    if (st != CKERAS_OK)
        ck_error_prefix("npy_write");
    return st;
}

/* ---- .npz ------------------------------------------------------------------------------------ */

#define ZIP_EOCD 0x06054b50u
#define ZIP_EOCD64 0x06064b50u
#define ZIP_EOCD64_LOC 0x07064b50u
#define ZIP_CDIR 0x02014b50u
#define ZIP_LOCAL 0x04034b50u

void ck_npz_free(int n, char **names, ckeras_tensor **arrays)
{
    for (int i = 0; i < n; i++) {
        if (names)
            ck_free(names[i]);
        if (arrays)
            ckeras_tensor_free(arrays[i]);
    }
    ck_free(names);
    ck_free(arrays);
}

/* Inflates raw deflate data src[0..slen) into exactly dlen bytes at dst. */
static bool inflate_raw(const uint8_t *src, uint64_t slen, uint8_t *dst, uint64_t dlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return false;
    int r = Z_OK;
    uint64_t in_left = slen, out_left = dlen;
    z.next_in = (Bytef *)(uintptr_t)src;
    z.next_out = dst;
    while (r == Z_OK) {
        if (z.avail_in == 0) {
            z.avail_in = in_left > UINT_MAX ? UINT_MAX : (uInt)in_left;
            in_left -= z.avail_in;
        }
        if (z.avail_out == 0) {
            z.avail_out = out_left > UINT_MAX ? UINT_MAX : (uInt)out_left;
            out_left -= z.avail_out;
        }
        uInt before_in = z.avail_in, before_out = z.avail_out;
        r = inflate(&z, Z_NO_FLUSH);
        if (r == Z_BUF_ERROR || (r == Z_OK && before_in == z.avail_in && before_out == z.avail_out))
            break; /* no progress: input ended early or output is full */
    }
    bool ok = r == Z_STREAM_END && z.avail_out == 0 && out_left == 0;
    inflateEnd(&z);
    return ok;
}

ckeras_status ck_npz_read(const char *path, int *n, char ***names, ckeras_tensor ***arrays)
{
    if (!path || !n || !names || !arrays)
        return ck_error(CKERAS_EINVAL, "npz_read: NULL argument");
    uint8_t *z = NULL;
    size_t zlen = 0;
    ckeras_status st = ck_read_file(path, "PK", &z, &zlen);
    if (st != CKERAS_OK) {
        ck_error_prefix("npz_read");
        return st;
    }
    /* End of central directory: 22 bytes + a comment of up to 65535, at the end of the file. */
    int64_t eocd = -1;
    if (zlen >= 22) {
        size_t lo = zlen - 22 > 65535 ? zlen - 22 - 65535 : 0;
        for (size_t i = zlen - 22 + 1; i-- > lo;)
            if (rd32(z + i) == ZIP_EOCD && i + 22 + rd16(z + i + 20) == zlen) {
                eocd = (int64_t)i;
                break;
            }
    }
    if (eocd < 0) {
        ck_free(z);
        return ck_error(CKERAS_EFORMAT, "npz_read: %s: not a zip file (no end of central directory)", path);
    }
    const uint8_t *e = z + eocd;
    uint64_t entries = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != entries) {
        ck_free(z);
        return ck_error(CKERAS_EFORMAT, "npz_read: %s: multi-disk or inconsistent zip archive", path);
    }
    if (entries == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        /* zip64: a locator just before the record points at the zip64 end record. */
        if (eocd < 20 || rd32(e - 20) != ZIP_EOCD64_LOC) {
            ck_free(z);
            return ck_error(CKERAS_EFORMAT, "npz_read: %s: zip64 locator missing", path);
        }
        uint64_t off64 = rd64(e - 20 + 8);
        if (off64 > zlen || zlen - off64 < 56 || rd32(z + off64) != ZIP_EOCD64) {
            ck_free(z);
            return ck_error(CKERAS_EFORMAT, "npz_read: %s: bad zip64 end record", path);
        }
        entries = rd64(z + off64 + 32);
        cd_size = rd64(z + off64 + 40);
        cd_off = rd64(z + off64 + 48);
    }
    if (cd_off > zlen || cd_size > zlen - cd_off || entries > cd_size / 46 || entries > INT_MAX) {
        ck_free(z);
        return ck_error(CKERAS_EFORMAT, "npz_read: %s: central directory out of bounds", path);
    }
    char **nm = ck_calloc(entries ? (size_t)entries : 1, sizeof *nm);
    ckeras_tensor **ar = ck_calloc(entries ? (size_t)entries : 1, sizeof *ar);
    if (!nm || !ar) {
        ck_free(nm);
        ck_free(ar);
        ck_free(z);
        return CKERAS_ENOMEM;
    }
    int count = 0;
    uint64_t pos = cd_off, cd_end = cd_off + cd_size;
    for (uint64_t k = 0; k < entries && st == CKERAS_OK; k++) {
        if (cd_end - pos < 46 || rd32(z + pos) != ZIP_CDIR) {
            st = ck_error(CKERAS_EFORMAT, "npz_read: %s: bad central directory entry %llu", path,
                          (unsigned long long)k);
            break;
        }
        const uint8_t *c = z + pos;
        unsigned flags = rd16(c + 8), method = rd16(c + 10);
        uint32_t crc = rd32(c + 16);
        uint64_t csize = rd32(c + 20), usize = rd32(c + 24), loff = rd32(c + 42);
        unsigned nlen = rd16(c + 28), xlen = rd16(c + 30), clen = rd16(c + 32);
        if (cd_end - pos - 46 < (uint64_t)nlen + xlen + clen) {
            st = ck_error(CKERAS_EFORMAT, "npz_read: %s: central directory entry %llu overruns", path,
                          (unsigned long long)k);
            break;
        }
        const char *name = (const char *)c + 46;
        char label[160];
        snprintf(label, sizeof label, "npz_read: %s: member '%.*s'", path, nlen > 80 ? 80 : (int)nlen, name);
        /* zip64 extra field: the 64-bit values of the fields that read 0xffffffff, in order. */
        const uint8_t *x = c + 46 + nlen, *xe = x + xlen;
        while (xe - x >= 4) {
            unsigned id = rd16(x), sz = rd16(x + 2);
            if ((size_t)(xe - x - 4) < sz)
                break;
            if (id == 0x0001) {
                const uint8_t *v = x + 4, *ve = v + sz;
                if (usize == 0xffffffffu && ve - v >= 8) { usize = rd64(v); v += 8; }
                if (csize == 0xffffffffu && ve - v >= 8) { csize = rd64(v); v += 8; }
                if (loff == 0xffffffffu && ve - v >= 8) { loff = rd64(v); v += 8; }
            }
            x += 4 + sz;
        }
        pos += 46 + (uint64_t)nlen + xlen + clen;
        if (nlen > 0 && name[nlen - 1] == '/' && usize == 0)
            continue; /* a directory entry */
        if (flags & 1) {
            st = ck_error(CKERAS_EUNSUPPORTED, "%s: encrypted", label);
            break;
        }
        if (method != 0 && method != 8) {
            st = ck_error(CKERAS_EUNSUPPORTED, "%s: compression method %u (only stored and deflate)", label,
                          method);
            break;
        }
        if (loff > zlen || zlen - loff < 30 || rd32(z + loff) != ZIP_LOCAL) {
            st = ck_error(CKERAS_EFORMAT, "%s: bad local header offset", label);
            break;
        }
        uint64_t data = loff + 30 + (uint64_t)rd16(z + loff + 26) + rd16(z + loff + 28);
        if (data > zlen || csize > zlen - data) {
            st = ck_error(CKERAS_EFORMAT, "%s: data out of bounds", label);
            break;
        }
        const uint8_t *mem = z + data;
        uint8_t *owned = NULL;
        if (method == 0) {
            if (csize != usize) {
                st = ck_error(CKERAS_EFORMAT, "%s: stored sizes differ", label);
                break;
            }
        } else {
            /* Deflate cannot expand more than about 1032:1: refuse sizes no data could reach. */
            if (usize / 1032 > csize + 1) {
                st = ck_error(CKERAS_EFORMAT, "%s: uncompressed size %llu is absurd for %llu compressed bytes",
                              label, (unsigned long long)usize, (unsigned long long)csize);
                break;
            }
            if (usize > SIZE_MAX - 1 || !(owned = ck_malloc((size_t)usize + 1))) {
                st = CKERAS_ENOMEM;
                break;
            }
            if (!inflate_raw(mem, csize, owned, usize)) {
                ck_free(owned);
                st = ck_error(CKERAS_EFORMAT, "%s: damaged deflate data", label);
                break;
            }
            mem = owned;
        }
        uLong sum = crc32(0L, Z_NULL, 0);
        for (uint64_t off = 0; off < usize;) { /* crc32 takes uInt lengths */
            uInt step = usize - off > (1u << 30) ? (1u << 30) : (uInt)(usize - off);
            sum = crc32(sum, mem + off, step);
            off += step;
        }
        if ((uint32_t)sum != crc) {
            ck_free(owned);
            st = ck_error(CKERAS_EFORMAT, "%s: CRC mismatch", label);
            break;
        }
        st = ck_npy_parse(mem, (size_t)usize, label, &ar[count]);
        ck_free(owned);
        if (st != CKERAS_OK)
            break;
        size_t keylen = nlen;
        if (keylen >= 4 && memcmp(name + keylen - 4, ".npy", 4) == 0)
            keylen -= 4;
        nm[count] = ck_malloc(keylen + 1);
        if (!nm[count]) {
            ckeras_tensor_free(ar[count]);
            ar[count] = NULL;
            st = CKERAS_ENOMEM;
            break;
        }
        memcpy(nm[count], name, keylen);
        nm[count][keylen] = '\0';
        count++;
    }
    if (st == CKERAS_OK && pos != cd_end)
        st = ck_error(CKERAS_EFORMAT, "npz_read: %s: central directory holds more than its %llu entries", path,
                      (unsigned long long)entries);
    ck_free(z);
    if (st != CKERAS_OK) {
        ck_npz_free(count, nm, ar);
        return st;
    }
    *n = count;
    *names = nm;
    *arrays = ar;
    return CKERAS_OK;
}
