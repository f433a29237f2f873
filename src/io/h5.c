/* Keras legacy HDF5 (.h5) files <-> ck_h5_file, the plain in-memory form.
 *
 * Layout (tf.keras 2 / Keras 3 `model.save("x.h5")`):
 *   /                      @keras_version @backend @model_config @training_config [@ckeras_version]
 *   /model_weights         @layer_names @backend @keras_version
 *   /model_weights/<layer> @weight_names; datasets at the paths named there (may contain '/')
 *   /model_weights/top_level_model_weights   (Keras >= 2.10, not listed in layer_names)
 *   /optimizer_weights     @weight_names; datasets at the paths named there
 * A weights-only file (save_weights) has the model_weights layout at its root.
 * String attributes come as fixed or variable length, ASCII or UTF-8; a name list that would
 * not fit an object header is split into @<name>0, @<name>1, ...; a layer without weights
 * stores weight_names as an empty float64 array.
 *
 * This is the only file of ckeras that includes hdf5.h.
 *
 * Sizes: what a file declares (dimensions, element counts, name counts and lengths) is checked
 * where it is read, against the file's size and the H5_MAX_* bounds, before any product of it;
 * the other products are of small counts or constants. */
#include "io/h5_quiet.h"
#include "io/io.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- limits (a damaged file must not make us allocate without bound) --------------------- */

#define H5_MAX_STR ((size_t)16 << 20)        /* one string attribute (a model_config JSON) */
#define H5_MAX_NAME ((size_t)1 << 16)        /* one entry of layer_names / weight_names */
#define H5_MAX_NAMES ((int64_t)1 << 20)      /* entries of one name list */
#define H5_MAX_NAMES_BYTES ((size_t)64 << 20) /* a fixed-length name array in memory */
#define H5_MAX_CHUNKS 4096                   /* @name0 .. @nameK of a split attribute */
#define H5_MAX_ELEMS ((int64_t)1 << 31)      /* elements of one dataset */
#define H5_SPARSE_OK ((int64_t)4 << 20)      /* bytes a dataset may claim beyond its storage */
#define H5_MAX_DEPTH 16                      /* group nesting walked below optimizer_weights */
#define H5_MAX_WALK 1000000                  /* datasets collected by a walk */
#define H5_HEADER_LIMIT 64512                /* Keras' HDF5_OBJECT_HEADER_LIMIT */

/* ---- error helpers ----------------------------------------------------------------------- */

/* Records "FILE: WHERE: message" and returns code. */
static ckeras_status h5err(ckeras_status code, const char *file, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ckeras_status h5err(ckeras_status code, const char *file, const char *where, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (where && *where)
        return ck_error(code, "%s: %s: %s", file, where, msg);
    return ck_error(code, "%s: %s", file, msg);
}

void ck_h5_quiet_begin(h5_quiet *q)
{
    q->saved = H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data) >= 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ck_h5_quiet_end(h5_quiet *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->saved ? q->func : NULL, q->saved ? q->data : NULL);
}

static void close_id(hid_t *id, herr_t (*fn)(hid_t))
{
    if (*id >= 0)
        fn(*id);
    *id = -1;
}

/* Joins "a" and "b" as "a/b" into buf (truncated if needed; messages only). */
static const char *join(char *buf, size_t n, const char *a, const char *b)
{
    if (a && *a)
        snprintf(buf, n, "%s/%s", a, b);
    else
        snprintf(buf, n, "%s", b);
    return buf;
}

/* ---- freeing ----------------------------------------------------------------------------- */

static void array_free(ck_h5_array *a)
{
    ck_free(a->name);
    ck_free(a->data);
    memset(a, 0, sizeof *a);
}

static void names_free(char **names, int64_t n)
{
    if (!names)
        return;
    for (int64_t i = 0; i < n; i++)
        ck_free(names[i]);
    ck_free(names);
}

void ck_h5_file_free(ck_h5_file *f)
{
    if (!f)
        return;
    ck_free(f->keras_version);
    ck_free(f->backend);
    ck_free(f->model_config);
    ck_free(f->training_config);
    ck_free(f->ckeras_version);
    if (f->layers) {
        for (int i = 0; i < f->nlayers; i++) {
            ck_h5_layer *l = &f->layers[i];
            ck_free(l->name);
            if (l->w)
                for (int j = 0; j < l->n; j++)
                    array_free(&l->w[j]);
            ck_free(l->w);
        }
        ck_free(f->layers);
    }
    if (f->opt) {
        for (int i = 0; i < f->nopt; i++)
            array_free(&f->opt[i]);
        ck_free(f->opt);
    }
    memset(f, 0, sizeof *f);
}

/* ---- reading: strings -------------------------------------------------------------------- */

/* Copies at most max bytes of s up to its NUL into a new string; NULL s gives "". */
static char *dup_bounded(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max + 1) : 0;
    if (n > max)
        return NULL;
    char *r = ck_malloc(n + 1);
    if (!r)
        return NULL;
    if (n)
        memcpy(r, s, n);
    r[n] = '\0';
    return r;
}

/* Number of elements of a dataspace: 0 for H5S_NULL, -1 on error. */
static int64_t space_points(hid_t sp)
{
    H5S_class_t c = H5Sget_simple_extent_type(sp);
    if (c == H5S_NULL)
        return 0;
    if (c != H5S_SCALAR && c != H5S_SIMPLE)
        return -1;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    return n < 0 ? -1 : (int64_t)n;
}

/* Memory string type matching a file string type: same character set, variable length or
 * fixed `size` NUL padded (HDF5 does not convert between ASCII and UTF-8). */
static hid_t mem_str_type(hid_t ftype, bool vlen, size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    H5T_cset_t cs = H5Tget_cset(ftype);
    if (cs < 0 || H5Tset_size(t, vlen ? H5T_VARIABLE : size) < 0 || H5Tset_cset(t, cs) < 0
        || (!vlen && H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Reads the string attribute `name` of obj (scalar or one element, any length kind and
 * character set) into *out (new string). Absent: *out = NULL and OK. */
static ckeras_status read_str_attr(hid_t obj, const char *name, char **out, const char *file,
                                   const char *where)
{
    char at[320];
    *out = NULL;
    join(at, sizeof at, where, "@");
    snprintf(at + strlen(at), sizeof at - strlen(at), "%s", name);
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return h5err(CKERAS_EFORMAT, file, at, "cannot read attribute (damaged file)");
    if (ex == 0)
        return CKERAS_OK;
    ckeras_status st = CKERAS_OK;
    hid_t a = -1, ft = -1, sp = -1, mt = -1;
    char *buf = NULL, *vs = NULL;
    a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
        st = h5err(CKERAS_EFORMAT, file, at, "cannot open attribute (damaged file)");
        goto done;
    }
    if (H5Tget_class(ft) != H5T_STRING) {
        st = h5err(CKERAS_EFORMAT, file, at, "is not a string");
        goto done;
    }
    int64_t np = space_points(sp);
    if (np != 1) {
        st = h5err(CKERAS_EFORMAT, file, at, "expected one string, found %lld elements", (long long)np);
        goto done;
    }
    htri_t vl = H5Tis_variable_str(ft);
    if (vl < 0) {
        st = h5err(CKERAS_EFORMAT, file, at, "bad string type (damaged file)");
        goto done;
    }
    if (vl) {
        if ((mt = mem_str_type(ft, true, 0)) < 0 || H5Aread(a, mt, &vs) < 0) {
            st = h5err(CKERAS_EFORMAT, file, at, "cannot read string (damaged file)");
            goto done;
        }
        if (vs && strnlen(vs, H5_MAX_STR + 1) > H5_MAX_STR) {
            st = h5err(CKERAS_EFORMAT, file, at, "string longer than %zu bytes", H5_MAX_STR);
            goto done;
        }
        if (!(*out = dup_bounded(vs, H5_MAX_STR))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
    } else {
        size_t size = H5Tget_size(ft);
        if (size == 0 || size > H5_MAX_STR) {
            st = h5err(CKERAS_EFORMAT, file, at, "bad string size %zu", size);
            goto done;
        }
        if (!(buf = ck_calloc(size + 1, 1))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        if ((mt = mem_str_type(ft, false, size)) < 0 || H5Aread(a, mt, buf) < 0) {
            st = h5err(CKERAS_EFORMAT, file, at, "cannot read string (damaged file)");
            goto done;
        }
        if (!(*out = dup_bounded(buf, size))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
    }
done:
    if (vs)
        H5free_memory(vs);
    ck_free(buf);
    close_id(&mt, H5Tclose);
    close_id(&sp, H5Sclose);
    close_id(&ft, H5Tclose);
    close_id(&a, H5Aclose);
    return st;
}

/* A growable list of names. */
typedef struct name_list {
    char **v;
    int64_t n, cap;
} name_list;

static ckeras_status names_push(name_list *l, char *s)
{
    if (!s)
        return CKERAS_ENOMEM;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        char **v = ck_realloc_n(l->v, cap, sizeof *v);
        if (!v) {
            ck_free(s);
            return CKERAS_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return CKERAS_OK;
}

/* Appends the entries of the attribute `aname` of obj (an array of strings, or an empty
 * numeric array meaning "no names") to l. */
static ckeras_status read_names_attr(hid_t obj, const char *aname, name_list *l, const char *file,
                                     const char *at)
{
    ckeras_status st = CKERAS_OK;
    hid_t a = -1, ft = -1, sp = -1, mt = -1;
    char **vs = NULL;
    char *buf = NULL;
    int64_t np = 0;
    a = H5Aopen(obj, aname, H5P_DEFAULT);
    if (a < 0 || (ft = H5Aget_type(a)) < 0 || (sp = H5Aget_space(a)) < 0) {
        st = h5err(CKERAS_EFORMAT, file, at, "cannot open attribute (damaged file)");
        goto done;
    }
    np = space_points(sp);
    if (np < 0 || np > H5_MAX_NAMES) {
        st = h5err(CKERAS_EFORMAT, file, at, "bad number of names %lld", (long long)np);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ft);
    if (cls != H5T_STRING) {
        /* Layers without weights: an empty float64 array. */
        if ((cls == H5T_FLOAT || cls == H5T_INTEGER) && np == 0)
            goto done;
        st = h5err(CKERAS_EFORMAT, file, at, "is not an array of strings");
        goto done;
    }
    if (np + l->n > H5_MAX_NAMES) {
        st = h5err(CKERAS_EFORMAT, file, at, "more than %lld names", (long long)H5_MAX_NAMES);
        goto done;
    }
    if (np == 0)
        goto done;
    htri_t vl = H5Tis_variable_str(ft);
    if (vl < 0) {
        st = h5err(CKERAS_EFORMAT, file, at, "bad string type (damaged file)");
        goto done;
    }
    if (vl) {
        if (!(vs = ck_calloc((size_t)np, sizeof *vs))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        if ((mt = mem_str_type(ft, true, 0)) < 0 || H5Aread(a, mt, vs) < 0) {
            st = h5err(CKERAS_EFORMAT, file, at, "cannot read names (damaged file)");
            goto done;
        }
        for (int64_t i = 0; i < np && st == CKERAS_OK; i++) {
            if (vs[i] && strnlen(vs[i], H5_MAX_NAME + 1) > H5_MAX_NAME)
                st = h5err(CKERAS_EFORMAT, file, at, "name %lld longer than %zu bytes", (long long)i,
                           H5_MAX_NAME);
            else
                st = names_push(l, dup_bounded(vs[i], H5_MAX_NAME));
        }
    } else {
        size_t size = H5Tget_size(ft);
        if (size == 0 || size > H5_MAX_NAME || (size_t)np * size > H5_MAX_NAMES_BYTES) {
            st = h5err(CKERAS_EFORMAT, file, at, "bad string size %zu for %lld names", size, (long long)np);
            goto done;
        }
        if (!(buf = ck_calloc((size_t)np * size + 1, 1))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        if ((mt = mem_str_type(ft, false, size)) < 0 || H5Aread(a, mt, buf) < 0) {
            st = h5err(CKERAS_EFORMAT, file, at, "cannot read names (damaged file)");
            goto done;
        }
        for (int64_t i = 0; i < np && st == CKERAS_OK; i++) {
            const char *s = buf + (size_t)i * size;
            size_t n = strnlen(s, size);
            char *c = ck_malloc(n + 1);
            if (c) {
                memcpy(c, s, n);
                c[n] = '\0';
            }
            st = names_push(l, c);
        }
    }
done:
    if (vs) {
        for (int64_t i = 0; i < np; i++)
            if (vs[i])
                H5free_memory(vs[i]);
        ck_free(vs);
    }
    ck_free(buf);
    close_id(&mt, H5Tclose);
    close_id(&sp, H5Sclose);
    close_id(&ft, H5Tclose);
    close_id(&a, H5Aclose);
    return st;
}

/* Reads the name list `name` of obj, whole or split into @name0, @name1, ... (Keras does that
 * when the list does not fit an object header). *present tells whether any was found. */
static ckeras_status read_names(hid_t obj, const char *name, name_list *l, bool *present,
                                const char *file, const char *where)
{
    char at[320], an[96];
    *present = false;
    snprintf(at, sizeof at, "%s%s@%s", where ? where : "", where && *where ? "/" : "", name);
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0)
        return h5err(CKERAS_EFORMAT, file, at, "cannot read attribute (damaged file)");
    if (ex > 0) {
        *present = true;
        return read_names_attr(obj, name, l, file, at);
    }
    for (int k = 0; k < H5_MAX_CHUNKS; k++) {
        snprintf(an, sizeof an, "%s%d", name, k);
        ex = H5Aexists(obj, an);
        if (ex < 0)
            return h5err(CKERAS_EFORMAT, file, at, "cannot read attribute (damaged file)");
        if (ex == 0)
            return CKERAS_OK;
        *present = true;
        snprintf(at, sizeof at, "%s%s@%s", where ? where : "", where && *where ? "/" : "", an);
        ckeras_status st = read_names_attr(obj, an, l, file, at);
        if (st != CKERAS_OK)
            return st;
    }
    return h5err(CKERAS_EFORMAT, file, at, "split into more than %d attributes", H5_MAX_CHUNKS);
}

/* ---- reading: a guard against damaged files -----------------------------------------------
 * HDF5 1.10 trusts some on-disk sizes and indices: a damaged global heap collection, a
 * variable-length string pointing at a missing heap object, or an attribute whose shape claims
 * more data than its message holds make the library read outside its buffers or loop forever.
 * Before ckeras lets HDF5 read the attributes of an object, the guard parses that object's
 * header from the raw bytes (object header versions 1 and 2, continuation chunks included) and
 * checks every attribute message: the data fits the message, and every variable-length string
 * points at an existing object of the right size in a well-formed global heap collection.
 * Files it cannot interpret (offsets or lengths not 8 bytes, shared attribute types) are left
 * to HDF5 alone. */

#define G_MAX_CHUNKS 256
#define G_MAX_CHUNK ((uint64_t)16 << 20)

typedef struct g_heap {
    uint64_t addr;   /* collection address (relative to the base address) */
    bool ok;
    int n;           /* objects: idx[i] has size[i] bytes */
    uint16_t *idx;
    uint64_t *size;
} g_heap;

typedef struct h5_guard {
    int fd;          /* -1: no checks */
    uint64_t fsize;  /* file size */
    uint64_t base;   /* superblock base address */
    uint64_t root;   /* root group object header address (relative) */
    g_heap *heaps;
    int nheaps, cap;
} h5_guard;

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* n raw bytes at relative address addr; false when outside the file. */
static bool g_read(const h5_guard *g, uint64_t addr, void *buf, uint64_t n)
{
    if (addr > UINT64_MAX - g->base)
        return false;
    uint64_t at = addr + g->base;
    if (at > g->fsize || n > g->fsize - at)
        return false;
    uint8_t *b = buf;
    while (n > 0) {
        ssize_t r = pread(g->fd, b, n, (off_t)at);
        if (r <= 0)
            return false;
        b += r;
        at += (uint64_t)r;
        n -= (uint64_t)r;
    }
    return true;
}

static void guard_close(h5_guard *g)
{
    if (g->fd >= 0)
        close(g->fd);
    for (int i = 0; i < g->nheaps; i++) {
        ck_free(g->heaps[i].idx);
        ck_free(g->heaps[i].size);
    }
    ck_free(g->heaps);
    memset(g, 0, sizeof *g);
    g->fd = -1;
}

/* Opens the raw file and reads the superblock; checks stay off unless it is a version 0-3
 * superblock with 8-byte offsets and lengths. */
static void guard_open(h5_guard *g, const char *path)
{
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    memset(g, 0, sizeof *g);
    g->fd = open(path, O_RDONLY);
    if (g->fd < 0)
        return;
    struct stat sb;
    if (fstat(g->fd, &sb) != 0) {
        guard_close(g);
        return;
    }
    g->fsize = (uint64_t)sb.st_size;
    uint8_t s[32];
    for (uint64_t at = 0; at + sizeof s <= g->fsize; at = at ? 2 * at : 512) {
        if (!g_read(g, at, s, sizeof s))
            break;
        if (memcmp(s, sig, 8) != 0)
            continue;
        int ver = s[8];
        int o = ver <= 1 ? s[13] : s[9], l = ver <= 1 ? s[14] : s[10];
        if (ver > 3 || o != 8 || l != 8)
            break;
        /* base address: v0 at 24, v1 at 28, v2/v3 at 12 */
        uint8_t b[8];
        uint64_t boff = ver == 0 ? 24 : ver == 1 ? 28 : 12;
        if (!g_read(g, at + boff, b, 8))
            break;
        g->base = le(b, 8);
        /* like HDF5, a base address that is not where the superblock is gives way to the latter */
        if (g->base != at)
            g->base = at;
        /* root group object header: in the root symbol table entry (v0 at 64, v1 at 68), or at 36 */
        uint64_t roff = ver == 0 ? 64 : ver == 1 ? 68 : 36;
        if (!g_read(g, at + roff - g->base, b, 8))
            break;
        g->root = le(b, 8);
        return;
    }
    guard_close(g);
}

/* The global heap collection at addr, parsed and checked (cached). NULL on memory failure. */
static g_heap *g_heap_get(h5_guard *g, uint64_t addr)
{
    for (int i = 0; i < g->nheaps; i++)
        if (g->heaps[i].addr == addr)
            return &g->heaps[i];
    if (g->nheaps == g->cap) {
        int cap = ck_grow(g->cap, 8);
        g_heap *h = ck_realloc_n(g->heaps, cap, sizeof *h);
        if (!h)
            return NULL;
        g->heaps = h;
        g->cap = cap;
    }
    g_heap *h = &g->heaps[g->nheaps++];
    memset(h, 0, sizeof *h);
    h->addr = addr;
    uint8_t hd[16];
    if (!g_read(g, addr, hd, 16) || memcmp(hd, "GCOL", 4) != 0 || hd[4] != 1)
        return h;
    uint64_t size = le(hd + 8, 8);
    if (size < 4096 || size > g->fsize)
        return h;
    uint8_t *c = ck_malloc((size_t)size);
    if (!c) {
        g->nheaps--;
        return NULL;
    }
    uint64_t maxn = size / 16;
    h->idx = ck_malloc_n(maxn, sizeof *h->idx);
    h->size = ck_malloc_n(maxn, sizeof *h->size);
    if (!h->idx || !h->size) {
        ck_free(c);
        ck_free(h->idx);
        ck_free(h->size);
        g->nheaps--;
        return NULL;
    }
    bool ok = g_read(g, addr, c, size);
    uint64_t p = 16;
    while (ok && p < size) {
        if (size - p < 16)
            break; /* a tail too small for an object: free space */
        uint16_t idx = (uint16_t)le(c + p, 2);
        uint64_t osz = le(c + p + 8, 8);
        uint64_t need;
        if (idx == 0) {
            need = osz;
            if (need < 16 || need > size - p)
                ok = false;
        } else {
            if (osz > size)
                ok = false;
            need = 16 + ((osz + 7) & ~(uint64_t)7);
            if (need > size - p)
                ok = false;
            if (ok) {
                h->idx[h->n] = idx;
                h->size[h->n] = osz;
                h->n++;
            }
        }
        p += need;
    }
    ck_free(c);
    h->ok = ok;
    return h;
}

/* A variable-length string reference (length, collection, object index) from an attribute. */
static int g_check_ref(h5_guard *g, uint64_t len, uint64_t addr, uint64_t idx)
{
    if (addr == 0)
        return len == 0 ? 0 : -1;
    g_heap *h = g_heap_get(g, addr);
    if (!h)
        return -2;
    if (!h->ok || idx == 0)
        return -1;
    /* the last object with that index is the one HDF5 keeps */
    for (int i = h->n - 1; i >= 0; i--)
        if (h->idx[i] == idx)
            return h->size[i] == len ? 0 : -1;
    return -1;
}

/* A NUL-terminated name at p within n bytes (padded to 8 when pad): its size with padding, or
 * 0 when no NUL is inside (HDF5 copies such names with strdup and would read past its buffer). */
static uint64_t g_name(const uint8_t *p, uint64_t n, bool pad)
{
    const uint8_t *z = memchr(p, 0, (size_t)n);
    if (!z)
        return 0;
    uint64_t k = (uint64_t)(z - p) + 1;
    if (pad)
        k = (k + 7) & ~(uint64_t)7;
    return k <= n ? k : 0;
}

/* A datatype message (n bytes at p), nested member and base types included, as the HDF5 file
 * format specification (section IV.A.2.d) lays it out: 0 fine and *used set, -1 damaged. */
static int g_check_dtype(const uint8_t *p, uint64_t n, uint64_t *used, int depth)
{
    if (n < 8 || depth > 8)
        return -1;
    int cls = p[0] & 0x0f, ver = p[0] >> 4;
    uint64_t bits = le(p + 1, 3), size = le(p + 4, 4), off = 8, k, sub;
    if (ver < 1 || ver > 4)
        return -1;
    switch (cls) {
    case 0: case 4: off += 4; break;   /* fixed-point, bitfield: offset, precision */
    case 1: off += 12; break;          /* floating point: offsets, sizes, exponent bias */
    case 2: off += 2; break;           /* time: precision */
    case 3: case 7: break;             /* string, reference */
    case 5:                            /* opaque: an ASCII tag, NUL-padded to 8 */
        k = bits & 0xff;
        if (k > n - off || (k > 0 && !memchr(p + off, 0, (size_t)k)))
            return -1;
        off += k;
        break;
    case 6:                            /* compound: named members, each with its own type */
        for (uint64_t m = 0; m < (bits & 0xffff); m++) {
            if (!(k = g_name(p + off, n - off, ver < 3)))
                return -1;
            off += k;
            k = ver < 3 ? 4 : size < 256 ? 1 : size < 65536 ? 2 : size < (1u << 24) ? 3 : 4;
            if (ver == 1)
                k += 28;               /* dimensionality, reserved, permutation, four sizes */
            if (k > n - off)
                return -1;
            off += k;
            if (g_check_dtype(p + off, n - off, &sub, depth + 1) != 0)
                return -1;
            off += sub;
        }
        break;
    case 8:                            /* enumeration: base type, names, values */
        if (g_check_dtype(p + off, n - off, &sub, depth + 1) != 0)
            return -1;
        off += sub;
        for (uint64_t m = 0; m < (bits & 0xffff); m++) {
            if (!(k = g_name(p + off, n - off, ver < 3)))
                return -1;
            off += k;
        }
        k = (bits & 0xffff) * le(p + 12, 4); /* the base type's size */
        if (k > n - off)
            return -1;
        off += k;
        break;
    case 9:                            /* variable length: base type */
        if (g_check_dtype(p + off, n - off, &sub, depth + 1) != 0)
            return -1;
        off += sub;
        break;
    case 10:                           /* array: rank, sizes (and a permutation in v2), base */
        if (n - off < 4)
            return -1;
        k = p[off];
        off += ver < 3 ? 4 + 8 * k : 1 + 4 * k;
        if (off > n || g_check_dtype(p + off, n - off, &sub, depth + 1) != 0)
            return -1;
        off += sub;
        break;
    default:
        return -1;
    }
    if (off > n)
        return -1;
    *used = off;
    return 0;
}

/* One attribute message (n bytes at p): 0 fine, -1 damaged, -2 out of memory. */
static int g_check_attr(h5_guard *g, const uint8_t *p, uint64_t n)
{
    if (n < 8)
        return -1;
    int ver = p[0], flags = ver >= 2 ? p[1] : 0;
    if (ver < 1 || ver > 3)
        return -1;
    uint64_t nsz = le(p + 2, 2), tsz = le(p + 4, 2), ssz = le(p + 6, 2);
    uint64_t off = ver == 3 ? 9 : 8;
#define PAD(x) (ver == 1 ? (((x) + 7) & ~(uint64_t)7) : (x))
    if (off + PAD(nsz) > n)
        return -1;
    /* the name's size counts its NUL, and HDF5 copies the name with strdup: without a NUL inside
     * the message, it reads past its buffer */
    if (nsz == 0 || !memchr(p + off, 0, (size_t)nsz))
        return -1;
    off += PAD(nsz);
    if (flags & 3)
        return 0; /* shared datatype or dataspace: not interpreted here */
    if (tsz < 8 || off + PAD(tsz) > n)
        return -1;
    const uint8_t *dt = p + off;
    off += PAD(tsz);
    if (ssz < 4 || off + PAD(ssz) > n)
        return -1;
    const uint8_t *ds = p + off;
    off += PAD(ssz);
#undef PAD
    uint64_t dused;
    if (g_check_dtype(dt, tsz, &dused, 0) != 0)
        return -1;
    int cls = dt[0] & 0x0f;
    uint64_t esize = le(dt + 4, 4);
    if (cls == 9) {
        /* on disk: length (4), collection address (8), object index (4); HDF5 sizes its copy of
         * the data by the declared size but copies 16 bytes per element */
        if (esize != 16)
            return -1;
    }
    int dver = ds[0], rank = ds[1];
    uint64_t doff = dver == 1 ? 8 : 4;
    uint64_t nel = 1;
    if (dver == 2 && ds[3] == 2)
        nel = 0; /* null dataspace */
    if (rank > 32 || doff + 8 * (uint64_t)rank > ssz)
        return -1;
    for (int i = 0; i < rank; i++) {
        uint64_t d = le(ds + doff + 8 * (uint64_t)i, 8);
        if (d != 0 && nel > UINT64_MAX / d)
            return -1;
        nel *= d;
    }
    if (esize != 0 && nel > (n - off) / esize)
        return -1;
    if (cls == 9 && (dt[1] & 0x0f) == 1) {
        /* a string of 1-byte characters: HDF5 sizes its buffers by length x character size; the
         * base type (a 1-byte character) follows the 8-byte type header, so a damaged size asks
         * for gigabytes; and it must be a 1-byte integer with 8 bits at offset 0, or HDF5 reads
         * past its buffers */
        if (tsz < 20 || le(dt + 4, 4) != 16 || (dt[8] & 0x0f) != 0 || le(dt + 12, 4) != 1 ||
            le(dt + 16, 2) != 0 || le(dt + 18, 2) != 8)
            return -1;
        for (uint64_t i = 0; i < nel; i++) {
            const uint8_t *r = p + off + 16 * i;
            int rc = g_check_ref(g, le(r, 4), le(r + 4, 8), le(r + 12, 4));
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* Checks the attribute messages of the object header at addr: 0 fine, -1 damaged, -2 no
 * memory. */
static int g_check_header(h5_guard *g, uint64_t addr)
{
    uint64_t caddr[G_MAX_CHUNKS], clen[G_MAX_CHUNKS];
    int nc = 0, v2 = 0;
    uint8_t h[32];
    if (!g_read(g, addr, h, 16))
        return -1;
    if (memcmp(h, "OHDR", 4) == 0) {
        if (!g_read(g, addr, h, 32) || h[4] != 2)
            return -1;
        int fl = h[5];
        uint64_t off = 6 + ((fl & 0x20) ? 16 : 0) + ((fl & 0x10) ? 4 : 0);
        int w = 1 << (fl & 3);
        caddr[0] = addr + off + (uint64_t)w;
        clen[0] = le(h + off, w);
        v2 = 1 + ((fl & 0x04) ? 1 : 0); /* 2: messages carry a creation order */
    } else {
        if (h[0] != 1)
            return -1;
        caddr[0] = addr + 16;
        clen[0] = le(h + 8, 4);
    }
    nc = 1;
    for (int c = 0; c < nc; c++) {
        uint64_t len = clen[c], start = 0;
        if (len > G_MAX_CHUNK)
            return -1;
        uint8_t *b = ck_malloc((size_t)(len ? len : 1));
        if (!b)
            return -2;
        if (!g_read(g, caddr[c], b, len)) {
            ck_free(b);
            return -1;
        }
        if (v2) {
            /* continuation chunks start with "OCHK"; every chunk ends with a checksum */
            if (c > 0) {
                if (len < 8 || memcmp(b, "OCHK", 4) != 0) {
                    ck_free(b);
                    return -1;
                }
                start = 4;
            }
            if (c > 0) {
                /* a continuation's length counts its signature and checksum */
                if (len < start + 4) {
                    ck_free(b);
                    return -1;
                }
                len -= 4;
            }
        }
        uint64_t hsz = v2 ? (v2 == 2 ? 6 : 4) : 8;
        uint64_t p = start;
        int rc = 0;
        while (rc == 0 && p + hsz <= len) {
            uint64_t type = v2 ? b[p] : le(b + p, 2);
            uint64_t msz = le(b + p + (v2 ? 1 : 2), 2);
            int mfl = b[p + (v2 ? 3 : 4)];
            p += hsz;
            if (msz > len - p) {
                rc = -1;
                break;
            }
            if (type == 0x10) {
                if (msz < 16 || nc == G_MAX_CHUNKS)
                    rc = -1;
                else {
                    caddr[nc] = le(b + p, 8);
                    clen[nc] = le(b + p + 8, 8);
                    nc++;
                }
            } else if (type == 0x0c && !(mfl & 0x02)) {
                rc = g_check_attr(g, b + p, msz);
            } else if (type == 0x03 && !(mfl & 0x02)) {
                uint64_t used; /* a dataset's datatype: decoded by HDF5 when the dataset opens */
                rc = g_check_dtype(b + p, msz, &used, 0);
            } else if (type == 0x11 && !(mfl & 0x02)) {
                /* symbol table: HDF5 sizes its cache entry by the local heap's data segment size */
                uint8_t lh[32];
                if (msz < 16 || !g_read(g, le(b + p + 8, 8), lh, 32) || memcmp(lh, "HEAP", 4) != 0 || lh[4] != 0
                    || le(lh + 8, 8) > g->fsize || le(lh + 24, 8) > g->fsize - le(lh + 8, 8))
                    rc = -1;
            }
            p += msz;
        }
        ck_free(b);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Checks the object obj before its attributes are read. */
static ckeras_status guard_object(h5_guard *g, hid_t obj, const char *file, const char *where)
{
    if (g->fd < 0)
        return CKERAS_OK;
#if H5_VERSION_GE(1, 12, 0)
    H5O_info1_t info;
#else
    H5O_info_t info;
#endif
    if (H5Oget_info2(obj, &info, H5O_INFO_BASIC) < 0)
        return h5err(CKERAS_EFORMAT, file, where, "cannot read the object header (damaged file)");
    int rc = g_check_header(g, (uint64_t)info.addr);
    if (rc == -2)
        return CKERAS_ENOMEM;
    if (rc != 0)
        return h5err(CKERAS_EFORMAT, file, where, "damaged attributes (object header at %llu)",
                     (unsigned long long)info.addr);
    return CKERAS_OK;
}

/* HDF5 1.10 loads an object header into its metadata cache sized by the header's own length
 * field, and keeps the entry when the load fails: a damaged header asks for up to 2^64 bytes
 * and leaks. So every object is checked (g_check_header) before HDF5 opens it, along each
 * component of its path. The guard of the ck_h5_read in progress (HDF5 use is one thread at a
 * time; thread-local for safety). */
static _Thread_local h5_guard *cur_guard;

#define G_OPEN_DAMAGED ((hid_t)-2)
#define G_OPEN_NOMEM ((hid_t)-3)

/* H5Oopen(loc, path) after checking the headers along path: G_OPEN_DAMAGED, G_OPEN_NOMEM, or
 * what H5Oopen returns. */
static hid_t g_oopen(hid_t loc, const char *path)
{
    h5_guard *g = cur_guard;
    char p[1024];
    size_t n = strlen(path);
    if (g && g->fd >= 0 && n < sizeof p) {
        memcpy(p, path, n + 1);
        for (size_t i = 1; i <= n; i++) {
            if (i < n && p[i] != '/')
                continue;
            if (p[i - 1] == '/')
                continue;
            char c = p[i];
            p[i] = '\0';
#if H5_VERSION_GE(1, 12, 0)
            H5L_info1_t li;
            herr_t ok = H5Lget_info1(loc, p, &li, H5P_DEFAULT);
#else
            H5L_info_t li;
            herr_t ok = H5Lget_info(loc, p, &li, H5P_DEFAULT);
#endif
            p[i] = c;
            if (ok < 0 || li.type != H5L_TYPE_HARD)
                break; /* HDF5 reports it (or follows a soft link) */
            int rc = g_check_header(g, (uint64_t)li.u.address);
            if (rc == -2)
                return G_OPEN_NOMEM;
            if (rc != 0)
                return G_OPEN_DAMAGED;
        }
    }
    return H5Oopen(loc, path, H5P_DEFAULT);
}

/* ---- reading: datasets ------------------------------------------------------------------- */

/* Reads the dataset at path dpath below loc into a (name = dpath). what is "weight" or
 * "optimizer weight" for messages; where names loc. */
static ckeras_status read_array(hid_t loc, const char *dpath, ck_h5_array *a, const char *what,
                                const char *file, const char *where)
{
    ckeras_status st = CKERAS_OK;
    hid_t d = -1, ft = -1, sp = -1;
    int64_t *ibuf = NULL;
    memset(a, 0, sizeof *a);
    if (!(a->name = ck_strdup(dpath)))
        return CKERAS_ENOMEM;
    if (!*dpath) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s with an empty name", what);
        goto done;
    }
    d = g_oopen(loc, dpath);
    if (d < 0) {
        st = d == G_OPEN_NOMEM    ? CKERAS_ENOMEM
             : d == G_OPEN_DAMAGED ? h5err(CKERAS_EFORMAT, file, where, "%s '%s': damaged object header", what, dpath)
                                   : h5err(CKERAS_EFORMAT, file, where, "%s '%s' missing", what, dpath);
        goto done;
    }
    if (H5Iget_type(d) != H5I_DATASET) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' is not a dataset", what, dpath);
        goto done;
    }
    if ((ft = H5Dget_type(d)) < 0 || (sp = H5Dget_space(d)) < 0) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s': cannot read type or shape (damaged file)", what, dpath);
        goto done;
    }
    H5T_class_t cls = H5Tget_class(ft);
    size_t tsize = H5Tget_size(ft);
    if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || tsize == 0 || tsize > 16) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' is not a float or integer array", what, dpath);
        goto done;
    }
    H5S_class_t sc = H5Sget_simple_extent_type(sp);
    if (sc != H5S_SCALAR && sc != H5S_SIMPLE) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' has no shape (null dataspace)", what, dpath);
        goto done;
    }
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 0 || nd > CKERAS_MAX_DIMS) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' has %d dimensions, at most %d are supported", what,
                   dpath, nd, CKERAS_MAX_DIMS);
        goto done;
    }
    hsize_t dims[H5S_MAX_RANK];
    if (nd > 0 && H5Sget_simple_extent_dims(sp, dims, NULL) != nd) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s': cannot read shape (damaged file)", what, dpath);
        goto done;
    }
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (dims[i] > (hsize_t)H5_MAX_ELEMS || (dims[i] > 0 && n > H5_MAX_ELEMS / (int64_t)dims[i])) {
            st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' is too large (more than %lld elements)", what, dpath,
                       (long long)H5_MAX_ELEMS);
            goto done;
        }
        n *= (int64_t)dims[i];
        a->shape[i] = (int64_t)dims[i];
    }
    a->ndim = nd;
    if ((st = ck_size_check(n, "%s: %s%s%s '%s'", file, where && *where ? where : "", where && *where ? ": " : "",
                            what, dpath)) != CKERAS_OK) /* the tensor limit */
        goto done;
    /* A dataset claiming far more data than the file stores for it is damaged (Keras writes
     * every value; a few unwritten or compressed values are tolerated). */
    int64_t need = n * (int64_t)tsize;
    hsize_t have = H5Dget_storage_size(d);
    /* HDF5 1.10 reads a compact dataset (data kept in the object header) or an allocated
     * contiguous one without checking that the stored bytes cover the dataspace */
    hid_t dcpl = H5Dget_create_plist(d);
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    close_id(&dcpl, H5Pclose);
    if (layout == H5D_LAYOUT_ERROR || (layout == H5D_COMPACT && (int64_t)have < need) ||
        (layout == H5D_CONTIGUOUS && have > 0 && (int64_t)have < need)) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' claims %lld bytes but %llu are stored (damaged file)",
                   what, dpath, (long long)need, (unsigned long long)have);
        goto done;
    }
    if (need > (int64_t)have && need - (int64_t)have > H5_SPARSE_OK) {
        st = h5err(CKERAS_EFORMAT, file, where, "%s '%s' claims %lld bytes but %llu are stored (damaged file)",
                   what, dpath, (long long)need, (unsigned long long)have);
        goto done;
    }
    if (!(a->data = ck_alloc_big(ck_floats_bytes(n ? n : 1)))) {
        st = CKERAS_ENOMEM;
        goto done;
    }
    if (cls == H5T_FLOAT) {
        if (n > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, a->data) < 0) {
            st = h5err(CKERAS_EFORMAT, file, where, "%s '%s': cannot read values (damaged file)", what, dpath);
            goto done;
        }
    } else {
        if (!(ibuf = ck_malloc_n(n ? n : 1, sizeof *ibuf))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        if (n > 0 && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ibuf) < 0) {
            st = h5err(CKERAS_EFORMAT, file, where, "%s '%s': cannot read values (damaged file)", what, dpath);
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            a->data[i] = (float)ibuf[i];
        a->is_int = true;
        a->ivalue = n == 1 ? ibuf[0] : 0;
    }
done:
    ck_free(ibuf);
    close_id(&sp, H5Sclose);
    close_id(&ft, H5Tclose);
    close_id(&d, H5Oclose);
    if (st != CKERAS_OK)
        array_free(a);
    return st;
}

/* Collects the paths of every dataset below g (relative to the walk's root, prefix), in name
 * order, depth first. */
static ckeras_status walk_datasets(hid_t g, const char *prefix, int depth, name_list *out, const char *file,
                                   const char *where)
{
    H5G_info_t info;
    char at[320];
    join(at, sizeof at, where, prefix);
    if (depth > H5_MAX_DEPTH)
        return h5err(CKERAS_EFORMAT, file, at, "groups nested deeper than %d", H5_MAX_DEPTH);
    if (H5Gget_info(g, &info) < 0)
        return h5err(CKERAS_EFORMAT, file, at, "cannot list group (damaged file)");
    if (info.nlinks > (hsize_t)H5_MAX_WALK)
        return h5err(CKERAS_EFORMAT, file, at, "too many members (%llu)", (unsigned long long)info.nlinks);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
        if (len <= 0 || (size_t)len > H5_MAX_NAME)
            return h5err(CKERAS_EFORMAT, file, at, "cannot read member %llu's name (damaged file)",
                         (unsigned long long)i);
        char *nm = ck_malloc((size_t)len + 1);
        if (!nm)
            return CKERAS_ENOMEM;
        if (H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nm, (size_t)len + 1, H5P_DEFAULT) != len) {
            ck_free(nm);
            return h5err(CKERAS_EFORMAT, file, at, "cannot read member %llu's name (damaged file)",
                         (unsigned long long)i);
        }
        size_t pl = strlen(prefix);
        char *full = ck_malloc(pl + (size_t)len + 2);
        if (!full) {
            ck_free(nm);
            return CKERAS_ENOMEM;
        }
        if (pl)
            snprintf(full, pl + (size_t)len + 2, "%s/%s", prefix, nm);
        else
            memcpy(full, nm, (size_t)len + 1);
        hid_t o = g_oopen(g, nm);
        ck_free(nm);
        if (o == G_OPEN_NOMEM) {
            ck_free(full);
            return CKERAS_ENOMEM;
        }
        if (o < 0) {
            /* a dangling soft or external link holds no data */
            ck_free(full);
            continue;
        }
        H5I_type_t t = H5Iget_type(o);
        ckeras_status st = CKERAS_OK;
        if (t == H5I_DATASET) {
            if (out->n >= H5_MAX_WALK) {
                st = h5err(CKERAS_EFORMAT, file, at, "more than %d datasets", H5_MAX_WALK);
            } else {
                st = names_push(out, full);
                full = NULL;
            }
        } else if (t == H5I_GROUP) {
            st = walk_datasets(o, full, depth + 1, out, file, where);
        }
        ck_free(full);
        H5Oclose(o);
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

/* Reads one layer group: its weight_names and the datasets they name. */
static ckeras_status read_layer(hid_t mw, const char *mwpath, const char *lname, ck_h5_layer *L, h5_guard *gd,
                                const char *file)
{
    char where[320];
    join(where, sizeof where, mwpath, lname);
    if (!(L->name = ck_strdup(lname)))
        return CKERAS_ENOMEM;
    hid_t g = g_oopen(mw, lname);
    if (g < 0)
        return g == G_OPEN_NOMEM ? CKERAS_ENOMEM
               : h5err(CKERAS_EFORMAT, file, where, g == G_OPEN_DAMAGED ? "damaged object header"
                                                                       : "layer group missing");
    if (H5Iget_type(g) != H5I_GROUP) {
        H5Oclose(g);
        return h5err(CKERAS_EFORMAT, file, where, "is not a group");
    }
    name_list wn = {0};
    bool present;
    ckeras_status st = guard_object(gd, g, file, where);
    if (st == CKERAS_OK)
        st = read_names(g, "weight_names", &wn, &present, file, where);
    if (st == CKERAS_OK && wn.n > 0) {
        if (wn.n > 1000000) {
            st = h5err(CKERAS_EFORMAT, file, where, "too many weights (%lld)", (long long)wn.n);
        } else if (!(L->w = ck_calloc((size_t)wn.n, sizeof *L->w))) {
            st = CKERAS_ENOMEM;
        } else {
            L->n = (int)wn.n;
            for (int64_t j = 0; j < wn.n && st == CKERAS_OK; j++)
                st = read_array(g, wn.v[j], &L->w[j], "weight", file, where);
        }
    }
    names_free(wn.v, wn.n);
    H5Oclose(g);
    return st;
}

/* Reads model_weights (or a weights-only file's root) into f. */
static ckeras_status read_model_weights(hid_t mw, const char *mwpath, ck_h5_file *f, h5_guard *gd,
                                        const char *file)
{
    name_list ln = {0};
    bool present;
    ckeras_status st = guard_object(gd, mw, file, *mwpath ? mwpath : "/");
    if (st == CKERAS_OK)
        st = read_names(mw, "layer_names", &ln, &present, file, mwpath);
    if (st == CKERAS_OK && !present)
        st = h5err(CKERAS_EFORMAT, file, *mwpath ? mwpath : "/", "attribute 'layer_names' missing");
    if (st != CKERAS_OK) {
        names_free(ln.v, ln.n);
        return st;
    }
    /* top_level_model_weights (Keras >= 2.10) is not listed in layer_names; it is kept as a
     * last layer only when it holds weights. */
    bool listed = false;
    for (int64_t i = 0; i < ln.n; i++)
        if (strcmp(ln.v[i], "top_level_model_weights") == 0)
            listed = true;
    bool top = false;
    if (!listed) {
        htri_t ex = H5Lexists(mw, "top_level_model_weights", H5P_DEFAULT);
        if (ex > 0) {
            hid_t g = g_oopen(mw, "top_level_model_weights");
            if (g == G_OPEN_NOMEM)
                st = CKERAS_ENOMEM;
            if (g >= 0) {
                name_list wn = {0};
                char where[320];
                join(where, sizeof where, mwpath, "top_level_model_weights");
                if (H5Iget_type(g) == H5I_GROUP && (st = guard_object(gd, g, file, where)) == CKERAS_OK)
                    st = read_names(g, "weight_names", &wn, &present, file, where);
                top = wn.n > 0;
                names_free(wn.v, wn.n);
                H5Oclose(g);
            }
        }
    }
    int64_t total = ln.n + (top ? 1 : 0);
    if (st == CKERAS_OK && total > 0) {
        if (total > 1000000)
            st = h5err(CKERAS_EFORMAT, file, mwpath, "too many layers (%lld)", (long long)total);
        else if (!(f->layers = ck_calloc((size_t)total, sizeof *f->layers)))
            st = CKERAS_ENOMEM;
        else
            f->nlayers = (int)total;
    }
    for (int64_t i = 0; i < ln.n && st == CKERAS_OK; i++)
        st = read_layer(mw, mwpath, ln.v[i], &f->layers[i], gd, file);
    if (st == CKERAS_OK && top)
        st = read_layer(mw, mwpath, "top_level_model_weights", &f->layers[ln.n], gd, file);
    names_free(ln.v, ln.n);
    return st;
}

static ckeras_status read_optimizer(hid_t root, ck_h5_file *f, h5_guard *gd, const char *file)
{
    const char *where = "optimizer_weights";
    hid_t g = g_oopen(root, where);
    if (g < 0)
        return g == G_OPEN_NOMEM ? CKERAS_ENOMEM : h5err(CKERAS_EFORMAT, file, where, "cannot open group (damaged file)");
    if (H5Iget_type(g) != H5I_GROUP) {
        H5Oclose(g);
        return h5err(CKERAS_EFORMAT, file, where, "is not a group");
    }
    name_list wn = {0};
    bool present;
    ckeras_status st = guard_object(gd, g, file, where);
    if (st == CKERAS_OK)
        st = read_names(g, "weight_names", &wn, &present, file, where);
    if (st == CKERAS_OK && !present)
        st = walk_datasets(g, "", 0, &wn, file, where);
    if (st == CKERAS_OK && wn.n > 0) {
        if (wn.n > 1000000)
            st = h5err(CKERAS_EFORMAT, file, where, "too many weights (%lld)", (long long)wn.n);
        else if (!(f->opt = ck_calloc((size_t)wn.n, sizeof *f->opt)))
            st = CKERAS_ENOMEM;
        else
            f->nopt = (int)wn.n;
    }
    for (int64_t i = 0; i < wn.n && st == CKERAS_OK; i++)
        st = read_array(g, wn.v[i], &f->opt[i], "optimizer weight", file, where);
    names_free(wn.v, wn.n);
    H5Oclose(g);
    return st;
}

static ckeras_status read_file(hid_t fid, ck_h5_file *f, h5_guard *gd, const char *file)
{
    hid_t root = H5Oopen(fid, "/", H5P_DEFAULT);
    if (root < 0)
        return h5err(CKERAS_EFORMAT, file, "/", "cannot open the root group (damaged file)");
    ckeras_status st = guard_object(gd, root, file, "/");
    if (st == CKERAS_OK)
        st = read_str_attr(root, "keras_version", &f->keras_version, file, "");
    if (st == CKERAS_OK)
        st = read_str_attr(root, "backend", &f->backend, file, "");
    if (st == CKERAS_OK)
        st = read_str_attr(root, "model_config", &f->model_config, file, "");
    if (st == CKERAS_OK)
        st = read_str_attr(root, "training_config", &f->training_config, file, "");
    if (st == CKERAS_OK)
        st = read_str_attr(root, "ckeras_version", &f->ckeras_version, file, "");
    htri_t has_mw = -1;
    if (st == CKERAS_OK) {
        has_mw = H5Lexists(root, "model_weights", H5P_DEFAULT);
        if (has_mw < 0)
            st = h5err(CKERAS_EFORMAT, file, "/", "cannot list the root group (damaged file)");
    }
    if (st == CKERAS_OK && has_mw > 0) {
        hid_t mw = g_oopen(root, "model_weights");
        if (mw == G_OPEN_NOMEM) {
            st = ck_error(CKERAS_ENOMEM, "%s: model_weights: out of memory", file);
        } else if (mw < 0 || H5Iget_type(mw) != H5I_GROUP) {
            st = h5err(CKERAS_EFORMAT, file, "model_weights", "is not a readable group (damaged file)");
        } else {
            /* the group's own attributes stand in for absent root ones */
            st = guard_object(gd, mw, file, "model_weights");
            if (st == CKERAS_OK && !f->keras_version)
                st = read_str_attr(mw, "keras_version", &f->keras_version, file, "model_weights");
            if (st == CKERAS_OK && !f->backend)
                st = read_str_attr(mw, "backend", &f->backend, file, "model_weights");
            if (st == CKERAS_OK)
                st = read_model_weights(mw, "model_weights", f, gd, file);
        }
        if (mw >= 0)
            H5Oclose(mw);
    } else if (st == CKERAS_OK) {
        htri_t ln = H5Aexists(root, "layer_names");
        htri_t ln0 = H5Aexists(root, "layer_names0");
        if (ln > 0 || ln0 > 0)
            st = read_model_weights(root, "", f, gd, file);
        else
            st = h5err(CKERAS_EFORMAT, file, "/",
                       "no 'model_weights' group and no 'layer_names' attribute: not a Keras model or weights file");
    }
    if (st == CKERAS_OK) {
        htri_t ex = H5Lexists(root, "optimizer_weights", H5P_DEFAULT);
        if (ex < 0)
            st = h5err(CKERAS_EFORMAT, file, "/", "cannot list the root group (damaged file)");
        else if (ex > 0)
            st = read_optimizer(root, f, gd, file);
    }
    H5Oclose(root);
    return st;
}

/* The one way a file is opened for reading: checked to exist and be readable, its root object
 * header guarded before HDF5 parses it, HDF5's error printing silenced, the guard active while
 * fn reads (file names the file in messages). */
typedef ckeras_status (*h5_reader)(hid_t fid, void *out, h5_guard *gd, const char *file);

static ckeras_status guarded_read(const char *path, const char *file, h5_reader fn, void *out)
{
    /* a regular file, checked without blocking (HDF5 opens it again by name: ck_file_check) */
    ckeras_status st = ck_file_check(path);
    if (st != CKERAS_OK) {
        if (strcmp(file, path) != 0)
            ck_error_prefix("%s", file);
        return st;
    }

    h5_quiet q;
    ck_h5_quiet_begin(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* STRONG: closing the file closes every object still open in it */
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        st = ck_error(CKERAS_EIO, "%s: cannot set up the HDF5 library", file);
    } else {
        h5_guard gd;
        guard_open(&gd, path);
        int rc = gd.fd >= 0 ? g_check_header(&gd, gd.root) : 0;
        htri_t is = rc == 0 ? H5Fis_hdf5(path) : 0;
        hid_t fid = is > 0 ? H5Fopen(path, H5F_ACC_RDONLY, fapl) : -1;
        if (fid < 0) {
            st = rc == -2 ? CKERAS_ENOMEM : ck_error(CKERAS_EFORMAT, "%s: not an HDF5 file, or a damaged one", file);
            guard_close(&gd);
        } else {
            cur_guard = &gd;
            st = fn(fid, out, &gd, file);
            cur_guard = NULL;
            guard_close(&gd);
            if (H5Fclose(fid) < 0 && st == CKERAS_OK)
                st = ck_error(CKERAS_EFORMAT, "%s: cannot close the file (damaged file)", file);
        }
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    ck_h5_quiet_end(&q);
    return st;
}

static ckeras_status read_model_file(hid_t fid, void *out, h5_guard *gd, const char *file)
{
    return read_file(fid, out, gd, file);
}

ckeras_status ck_h5_read(const char *path, ck_h5_file *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "h5 read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return ck_error(CKERAS_EINVAL, "h5 read: path is NULL or empty");
    ck_h5_file f;
    memset(&f, 0, sizeof f);
    ckeras_status st = guarded_read(path, path, read_model_file, &f);
    if (st != CKERAS_OK) {
        ck_h5_file_free(&f);
        return st;
    }
    *out = f;
    return CKERAS_OK;
}

/* ---- writing ----------------------------------------------------------------------------- */

/* A scalar variable-length string attribute in character set cs. */
static ckeras_status write_str_attr(hid_t obj, const char *name, const char *value, H5T_cset_t cs,
                                    const char *file, const char *where)
{
    ckeras_status st = CKERAS_OK;
    hid_t t = H5Tcopy(H5T_C_S1), sp = -1, a = -1;
    if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, cs) < 0 || (sp = H5Screate(H5S_SCALAR)) < 0
        || (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(a, t, &value) < 0)
        st = h5err(CKERAS_EIO, file, where, "cannot write attribute '%s'", name);
    close_id(&a, H5Aclose);
    close_id(&sp, H5Sclose);
    close_id(&t, H5Tclose);
    return st;
}

/* One attribute holding names[0..n) as a fixed-length NUL-padded ASCII array of width w. */
static ckeras_status write_fixed_names(hid_t obj, const char *aname, const char *const *names, int64_t n,
                                       size_t w, const char *file, const char *where)
{
    ckeras_status st = CKERAS_OK;
    char *buf = ck_calloc((size_t)n, w);
    if (!buf)
        return CKERAS_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        memcpy(buf + (size_t)i * w, names[i], strlen(names[i]));
    hsize_t dim = (hsize_t)n;
    hid_t t = H5Tcopy(H5T_C_S1), sp = -1, a = -1;
    if (t < 0 || H5Tset_size(t, w) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0
        || H5Tset_cset(t, H5T_CSET_ASCII) < 0 || (sp = H5Screate_simple(1, &dim, NULL)) < 0
        || (a = H5Acreate2(obj, aname, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 || H5Awrite(a, t, buf) < 0)
        st = h5err(CKERAS_EIO, file, where, "cannot write attribute '%s'", aname);
    close_id(&a, H5Aclose);
    close_id(&sp, H5Sclose);
    close_id(&t, H5Tclose);
    ck_free(buf);
    return st;
}

/* A name list as Keras writes it: fixed-length byte strings (width = longest name), split
 * into @name0, @name1, ... like numpy.array_split when it exceeds the object header limit;
 * an empty list is an empty float64 array. */
static ckeras_status write_names(hid_t obj, const char *aname, const char *const *names, int64_t n,
                                 const char *file, const char *where)
{
    if (n == 0) {
        ckeras_status st = CKERAS_OK;
        hsize_t zero = 0;
        hid_t sp = H5Screate_simple(1, &zero, NULL), a = -1;
        if (sp < 0 || (a = H5Acreate2(obj, aname, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0)
            st = h5err(CKERAS_EIO, file, where, "cannot write attribute '%s'", aname);
        close_id(&a, H5Aclose);
        close_id(&sp, H5Sclose);
        return st;
    }
    size_t w = 1;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l > w)
            w = l;
    }
    if (w > H5_HEADER_LIMIT)
        return h5err(CKERAS_EINVAL, file, where, "a name in '%s' is longer than %d bytes", aname, H5_HEADER_LIMIT);
    int64_t k = 1;
    while ((size_t)((n + k - 1) / k) * w > H5_HEADER_LIMIT)
        k++;
    if (k == 1)
        return write_fixed_names(obj, aname, names, n, w, file, where);
    /* numpy.array_split: the first n % k parts get one extra element */
    int64_t base = n / k, extra = n % k, at = 0;
    for (int64_t c = 0; c < k; c++) {
        int64_t m = base + (c < extra ? 1 : 0);
        char an[96];
        snprintf(an, sizeof an, "%s%lld", aname, (long long)c);
        ckeras_status st = write_fixed_names(obj, an, names + at, m, w, file, where);
        if (st != CKERAS_OK)
            return st;
        at += m;
    }
    return CKERAS_OK;
}

static int64_t array_size(const ck_h5_array *a)
{
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++)
        n *= a->shape[i];
    return n;
}

/* The dataset a->name below g (intermediate groups created): float32, or int64 when is_int
 * (a one-element integer array takes ivalue, longer ones the rounded data). */
static ckeras_status write_array(hid_t g, const ck_h5_array *a, const char *file, const char *where)
{
    ckeras_status st = CKERAS_OK;
    int64_t n = array_size(a);
    hsize_t dims[CKERAS_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++)
        dims[i] = (hsize_t)a->shape[i];
    int64_t *ibuf = NULL;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), sp = -1, d = -1;
    if (a->is_int) {
        if (!(ibuf = ck_malloc_n(n ? n : 1, sizeof *ibuf))) {
            st = CKERAS_ENOMEM;
            goto done;
        }
        if (n == 1)
            ibuf[0] = a->ivalue;
        else
            for (int64_t i = 0; i < n; i++)
                ibuf[i] = (int64_t)(a->data[i] < 0 ? a->data[i] - 0.5f : a->data[i] + 0.5f);
    }
    if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0
        || (sp = a->ndim == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(a->ndim, dims, NULL)) < 0) {
        st = h5err(CKERAS_EIO, file, where, "cannot write '%s'", a->name);
        goto done;
    }
    d = H5Dcreate2(g, a->name, a->is_int ? H5T_STD_I64LE : H5T_IEEE_F32LE, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d < 0) {
        st = h5err(CKERAS_EIO, file, where, "cannot create dataset '%s' (a duplicate name?)", a->name);
        goto done;
    }
    if (n > 0
        && H5Dwrite(d, a->is_int ? H5T_NATIVE_INT64 : H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                    a->is_int ? (const void *)ibuf : (const void *)a->data) < 0) {
        st = h5err(CKERAS_EIO, file, where, "cannot write dataset '%s'", a->name);
        goto done;
    }
done:
    close_id(&d, H5Dclose);
    close_id(&sp, H5Sclose);
    close_id(&lcpl, H5Pclose);
    ck_free(ibuf);
    return st;
}

/* A group with weight_names and its datasets. */
static ckeras_status write_weight_group(hid_t parent, const char *gname, const ck_h5_array *w, int n,
                                        const char *file, const char *where)
{
    char at[320];
    join(at, sizeof at, where, gname);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    hid_t g = -1;
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        g = H5Gcreate2(parent, gname, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    close_id(&lcpl, H5Pclose);
    if (g < 0)
        return h5err(CKERAS_EIO, file, at, "cannot create group (a duplicate name?)");
    ckeras_status st = CKERAS_OK;
    const char **names = n > 0 ? ck_malloc_n(n, sizeof *names) : NULL;
    if (n > 0 && !names)
        st = CKERAS_ENOMEM;
    for (int i = 0; i < n && st == CKERAS_OK; i++)
        names[i] = w[i].name;
    if (st == CKERAS_OK)
        st = write_names(g, "weight_names", names, n, file, at);
    for (int i = 0; i < n && st == CKERAS_OK; i++)
        st = write_array(g, &w[i], file, at);
    ck_free(names);
    H5Gclose(g);
    return st;
}

static ckeras_status check_array(const ck_h5_array *a, const char *where)
{
    if (!a->name || !*a->name)
        return ck_error(CKERAS_EINVAL, "h5 write: %s: an array has no name", where);
    if (a->ndim < 0 || a->ndim > CKERAS_MAX_DIMS)
        return ck_error(CKERAS_EINVAL, "h5 write: %s/%s: ndim %d out of [0, %d]", where, a->name, a->ndim,
                        CKERAS_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0 || (a->shape[i] > 0 && n > H5_MAX_ELEMS / a->shape[i]))
            return ck_error(CKERAS_EINVAL, "h5 write: %s/%s: bad shape (axis %d is %lld)", where, a->name, i,
                            (long long)a->shape[i]);
        n *= a->shape[i];
    }
    if (n > 0 && !a->data && !(a->is_int && n == 1))
        return ck_error(CKERAS_EINVAL, "h5 write: %s/%s: data is NULL", where, a->name);
    return CKERAS_OK;
}

static ckeras_status check_input(const ck_h5_file *in)
{
    if (in->nlayers < 0 || in->nopt < 0 || (in->nlayers > 0 && !in->layers) || (in->nopt > 0 && !in->opt))
        return ck_error(CKERAS_EINVAL, "h5 write: bad layer or optimizer array counts");
    for (int i = 0; i < in->nlayers; i++) {
        const ck_h5_layer *L = &in->layers[i];
        if (!L->name || !*L->name)
            return ck_error(CKERAS_EINVAL, "h5 write: layer %d has no name", i);
        if (L->n < 0 || (L->n > 0 && !L->w))
            return ck_error(CKERAS_EINVAL, "h5 write: layer '%s': bad weight count %d", L->name, L->n);
        for (int j = 0; j < L->n; j++) {
            ckeras_status st = check_array(&L->w[j], L->name);
            if (st != CKERAS_OK)
                return st;
        }
    }
    for (int i = 0; i < in->nopt; i++) {
        ckeras_status st = check_array(&in->opt[i], "optimizer_weights");
        if (st != CKERAS_OK)
            return st;
    }
    return CKERAS_OK;
}

static ckeras_status write_contents(hid_t fid, const ck_h5_file *in, const char *file)
{
    const char *kv = in->keras_version ? in->keras_version : "2.15.0";
    const char *be = in->backend ? in->backend : "tensorflow";
    const char *cv = in->ckeras_version ? in->ckeras_version : ckeras_version();
    hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
    if (root < 0)
        return h5err(CKERAS_EIO, file, "/", "cannot open the root group");
    ckeras_status st = write_str_attr(root, "keras_version", kv, H5T_CSET_UTF8, file, "");
    if (st == CKERAS_OK)
        st = write_str_attr(root, "backend", be, H5T_CSET_UTF8, file, "");
    if (st == CKERAS_OK && in->model_config)
        st = write_str_attr(root, "model_config", in->model_config, H5T_CSET_UTF8, file, "");
    if (st == CKERAS_OK && in->training_config)
        st = write_str_attr(root, "training_config", in->training_config, H5T_CSET_UTF8, file, "");
    if (st == CKERAS_OK)
        st = write_str_attr(root, "ckeras_version", cv, H5T_CSET_UTF8, file, "");

    hid_t mw = -1;
    const char **names = NULL;
    if (st == CKERAS_OK && (mw = H5Gcreate2(root, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        st = h5err(CKERAS_EIO, file, "model_weights", "cannot create group");
    /* layer_names lists every layer except top_level_model_weights, which Keras keeps apart */
    int64_t nl = 0;
    bool has_top = false;
    if (st == CKERAS_OK && in->nlayers > 0 && !(names = ck_malloc_n(in->nlayers, sizeof *names)))
        st = CKERAS_ENOMEM;
    for (int i = 0; i < in->nlayers && st == CKERAS_OK; i++) {
        if (strcmp(in->layers[i].name, "top_level_model_weights") == 0)
            has_top = true;
        else
            names[nl++] = in->layers[i].name;
    }
    if (st == CKERAS_OK)
        st = write_names(mw, "layer_names", names, nl, file, "model_weights");
    if (st == CKERAS_OK)
        st = write_str_attr(mw, "backend", be, H5T_CSET_ASCII, file, "model_weights");
    if (st == CKERAS_OK)
        st = write_str_attr(mw, "keras_version", kv, H5T_CSET_ASCII, file, "model_weights");
    for (int i = 0; i < in->nlayers && st == CKERAS_OK; i++)
        st = write_weight_group(mw, in->layers[i].name, in->layers[i].w, in->layers[i].n, file, "model_weights");
    if (st == CKERAS_OK && !has_top)
        st = write_weight_group(mw, "top_level_model_weights", NULL, 0, file, "model_weights");
    ck_free(names);
    close_id(&mw, H5Gclose);

    if (st == CKERAS_OK && in->nopt > 0) {
        hid_t og = H5Gcreate2(root, "optimizer_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const char **on = ck_malloc_n(in->nopt, sizeof *on);
        if (og < 0)
            st = h5err(CKERAS_EIO, file, "optimizer_weights", "cannot create group");
        else if (!on)
            st = CKERAS_ENOMEM;
        for (int i = 0; i < in->nopt && st == CKERAS_OK; i++)
            on[i] = in->opt[i].name;
        if (st == CKERAS_OK)
            st = write_names(og, "weight_names", on, in->nopt, file, "optimizer_weights");
        for (int i = 0; i < in->nopt && st == CKERAS_OK; i++)
            st = write_array(og, &in->opt[i], file, "optimizer_weights");
        ck_free(on);
        close_id(&og, H5Gclose);
    }
    H5Gclose(root);
    return st;
}

/* Creates the file through fill(fid, ctx, path) in a temporary file beside path, renamed into
 * place (ck_h5_write, ck_h5_write_vars; see ck_save_begin). */
static ckeras_status write_atomic(const char *path, ckeras_status (*fill)(hid_t, const void *, const char *),
                                  const void *ctx)
{
    ck_save sv;
    ckeras_status st = ck_save_begin(&sv, path);
    if (st != CKERAS_OK)
        return st;
    close(sv.fd);
    sv.fd = -1;
    h5_quiet q;
    ck_h5_quiet_begin(&q);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid = -1;
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0
        || (fid = H5Fcreate(sv.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0) {
        st = ck_error(CKERAS_EIO, "%s: cannot write: HDF5 cannot create the temporary file %s", path, sv.tmp);
    } else {
        st = fill(fid, ctx, path);
        if (st == CKERAS_OK && H5Fflush(fid, H5F_SCOPE_GLOBAL) < 0)
            st = ck_error(CKERAS_EIO, "%s: cannot write: flush failed (disk full?)", path);
        if (H5Fclose(fid) < 0 && st == CKERAS_OK)
            st = ck_error(CKERAS_EIO, "%s: cannot write: close failed (disk full?)", path);
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    ck_h5_quiet_end(&q);
    return ck_save_end(&sv, st);
}

static ckeras_status fill_legacy(hid_t fid, const void *ctx, const char *file)
{
    return write_contents(fid, ctx, file);
}

ckeras_status ck_h5_write(const char *path, const ck_h5_file *in)
{
    if (!path || !*path || !in)
        return ck_error(CKERAS_EINVAL, "h5 write: path or input is NULL");
    ckeras_status st = check_input(in);
    if (st != CKERAS_OK)
        return st;
    return write_atomic(path, fill_legacy, in);
}

/* ---- Keras 3 weights files: "<path>/vars/<index>" ------------------------------------------ */

typedef struct vars_entry {
    const char *full; /* dataset path */
    size_t plen;      /* length of the group path before "/vars/" ("" for the root's vars) */
    long idx;
} vars_entry;

static int vars_entry_cmp(const void *pa, const void *pb)
{
    const vars_entry *a = pa, *b = pb;
    size_t n = a->plen < b->plen ? a->plen : b->plen;
    int c = memcmp(a->full, b->full, n);
    if (c == 0 && a->plen != b->plen)
        c = a->plen < b->plen ? -1 : 1;
    if (c == 0)
        c = a->idx < b->idx ? -1 : a->idx > b->idx;
    return c;
}

static bool same_group(const vars_entry *a, const vars_entry *b)
{
    return a->plen == b->plen && memcmp(a->full, b->full, a->plen) == 0;
}

/* Splits "P/vars/K" (or "vars/K") into the length of P and K; false for another shape. */
static bool vars_split(const char *full, size_t *plen, long *idx)
{
    const char *k = strrchr(full, '/');
    if (!k || !k[1] || strlen(k + 1) > 9 || (k[1] == '0' && k[2]))
        return false;
    for (const char *c = k + 1; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    *idx = strtol(k + 1, NULL, 10);
    size_t before = (size_t)(k - full); /* "P/vars" or "vars" */
    if (before == 4 && strncmp(full, "vars", 4) == 0) {
        *plen = 0;
        return true;
    }
    if (before > 5 && strncmp(k - 5, "/vars", 5) == 0) {
        *plen = before - 5;
        return true;
    }
    return false;
}

void ck_h5_vars_free(ck_h5_vars *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        ck_free(v->g[i].path);
        ck_free(v->g[i].name);
        for (int k = 0; k < v->g[i].n; k++)
            array_free(&v->g[i].v[k]);
        ck_free(v->g[i].v);
    }
    ck_free(v->g);
    memset(v, 0, sizeof *v);
}

const ck_h5_vars_group *ck_h5_vars_find(const ck_h5_vars *v, const char *path)
{
    for (int i = 0; v && i < v->n; i++)
        if (strcmp(v->g[i].path, path) == 0)
            return &v->g[i];
    return NULL;
}

/* The groups of the datasets e[0..n) (sorted), with their name attributes and values. */
static ckeras_status read_vars_groups(hid_t root, vars_entry *e, int64_t n, ck_h5_vars *out, h5_guard *gd,
                                      const char *file)
{
    int ng = 0;
    for (int64_t i = 0; i < n; i++)
        ng += i == 0 || !same_group(&e[i], &e[i - 1]);
    if (ng == 0)
        return CKERAS_OK;
    if (!(out->g = ck_calloc((size_t)ng, sizeof *out->g)))
        return CKERAS_ENOMEM;
    ckeras_status st = CKERAS_OK;
    for (int64_t i = 0; i < n && st == CKERAS_OK;) {
        int64_t j = i;
        while (j < n && same_group(&e[j], &e[i]))
            j++;
        ck_h5_vars_group *g = &out->g[out->n++];
        if (!(g->path = ck_malloc(e[i].plen + 1)))
            return CKERAS_ENOMEM;
        memcpy(g->path, e[i].full, e[i].plen);
        g->path[e[i].plen] = '\0';
        char where[320];
        snprintf(where, sizeof where, "%s%svars", g->path, *g->path ? "/" : "");
        for (int64_t k = i; k < j; k++)
            if (e[k].idx != k - i)
                return h5err(CKERAS_EFORMAT, file, where, "variable %ld without variable %lld (indices must be 0..%lld)",
                             e[k].idx, (long long)(k - i), (long long)(j - i - 1));
        if (!(g->v = ck_calloc((size_t)(j - i), sizeof *g->v)))
            return CKERAS_ENOMEM;
        g->n = (int)(j - i);
        hid_t vg = g_oopen(root, where);
        if (vg == G_OPEN_NOMEM)
            return CKERAS_ENOMEM;
        if (vg < 0 || H5Iget_type(vg) != H5I_GROUP) {
            if (vg >= 0)
                H5Oclose(vg);
            return h5err(CKERAS_EFORMAT, file, where, "is not a readable group (damaged file)");
        }
        st = guard_object(gd, vg, file, where);
        if (st == CKERAS_OK)
            st = read_str_attr(vg, "name", &g->name, file, where);
        for (int k = 0; k < g->n && st == CKERAS_OK; k++)
            st = read_array(root, e[i + k].full, &g->v[k], "variable", file, where);
        H5Oclose(vg);
        i = j;
    }
    return st;
}

static ckeras_status read_vars_file(hid_t fid, ck_h5_vars *out, h5_guard *gd, const char *file)
{
    hid_t root = H5Oopen(fid, "/", H5P_DEFAULT);
    if (root < 0)
        return h5err(CKERAS_EFORMAT, file, "/", "cannot open the root group (damaged file)");
    name_list names = {0};
    vars_entry *e = NULL;
    ckeras_status st = guard_object(gd, root, file, "/");
    if (st == CKERAS_OK)
        st = walk_datasets(root, "", 0, &names, file, "");
    if (st == CKERAS_OK && names.n > 0 && !(e = ck_malloc_n(names.n, sizeof *e)))
        st = CKERAS_ENOMEM;
    for (int64_t i = 0; i < names.n && st == CKERAS_OK; i++) {
        e[i].full = names.v[i];
        if (!vars_split(names.v[i], &e[i].plen, &e[i].idx))
            st = h5err(CKERAS_EFORMAT, file, names.v[i],
                       "a dataset outside the Keras 3 layout '<path>/vars/<index>' (a legacy .h5 file? it needs "
                       "a name not ending in .weights.h5)");
    }
    if (st == CKERAS_OK && names.n > 0) {
        qsort(e, (size_t)names.n, sizeof *e, vars_entry_cmp);
        st = read_vars_groups(root, e, names.n, out, gd, file);
    }
    ck_free(e);
    names_free(names.v, names.n);
    H5Oclose(root);
    return st;
}

static ckeras_status read_vars_any(hid_t fid, void *out, h5_guard *gd, const char *file)
{
    return read_vars_file(fid, out, gd, file);
}

ckeras_status ck_h5_read_vars(const char *path, const char *label, ck_h5_vars *out)
{
    if (!out)
        return ck_error(CKERAS_EINVAL, "h5 read: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        return ck_error(CKERAS_EINVAL, "h5 read: path is NULL or empty");
    ck_h5_vars v;
    memset(&v, 0, sizeof v);
    ckeras_status st = guarded_read(path, label ? label : path, read_vars_any, &v);
    if (st != CKERAS_OK) {
        ck_h5_vars_free(&v);
        return st;
    }
    *out = v;
    return CKERAS_OK;
}

typedef struct vars_in {
    const ck_h5_array *a;
    int n;
} vars_in;

static ckeras_status fill_vars(hid_t fid, const void *ctx, const char *file)
{
    const vars_in *in = ctx;
    hid_t root = H5Gopen2(fid, "/", H5P_DEFAULT);
    if (root < 0)
        return ck_error(CKERAS_EIO, "%s: cannot write: cannot open the root group", file);
    ckeras_status st = CKERAS_OK;
    for (int i = 0; i < in->n && st == CKERAS_OK; i++)
        st = write_array(root, &in->a[i], file, "");
    H5Gclose(root);
    return st;
}

ckeras_status ck_h5_write_vars(const char *path, const ck_h5_array *a, int n)
{
    if (!path || !*path || (n > 0 && !a) || n < 0)
        return ck_error(CKERAS_EINVAL, "h5 write: path or arrays NULL");
    for (int i = 0; i < n; i++) {
        const char *nm = a[i].name;
        if (!nm || !*nm || nm[0] == '/' || strstr(nm, "//") || nm[strlen(nm) - 1] == '/')
            return ck_error(CKERAS_EINVAL, "%s: array %d has no valid dataset path ('%s')", path, i, nm ? nm : "");
        if (a[i].ndim < 0 || a[i].ndim > CKERAS_MAX_DIMS || (!a[i].data && !(a[i].is_int && a[i].ndim == 0)))
            return ck_error(CKERAS_EINVAL, "%s: array '%s' has no data or a bad rank", path, nm);
        for (int d = 0; d < a[i].ndim; d++)
            if (a[i].shape[d] < 0)
                return ck_error(CKERAS_EINVAL, "%s: array '%s' has a negative dimension", path, nm);
    }
    vars_in in = {a, n};
    return write_atomic(path, fill_vars, &in);
}
