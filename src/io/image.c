/* Images: PNG (libpng) and JPEG (libjpeg-turbo) decoding, and the listing of an image folder
 * by class as Keras' image_dataset_from_directory makes it (keras/src/utils/dataset_utils.py,
 * index_directory).
 *
 * Decoding never exits or aborts: libpng's errors come back through its longjmp and libjpeg's
 * error_exit through ours, as CKERAS_EFORMAT naming the file. A libjpeg warning (a truncated
 * file: "Premature end of JPEG file", corrupt data) is an error too, as for TensorFlow's
 * decoder, which Keras uses, and PIL: a damaged file is refused, not padded with grey.
 *
 * Channels: 1 (grayscale: colour converted by the decoder, libpng's rgb_to_gray with ITU-R
 * 601 weights, libjpeg's luminance), 3 (rgb: grey repeated, alpha dropped) or 4 (rgba: opaque
 * alpha added). 16-bit PNG samples keep their high byte; palettes and low bit depths are
 * expanded. These are the transformations TensorFlow's PNG and JPEG decoders ask libpng and
 * libjpeg for (tf.io.decode_image, which Keras' image_dataset_from_directory calls):
 * png_set_rgb_to_gray(1, 0.299, 0.587), png_set_strip_16, JCS_GRAYSCALE. */
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#define IMAGE_MAX_SIDE 65535 /* PNG and JPEG headers allow more; larger images are refused */

/* ---- PNG --------------------------------------------------------------------------------- */

typedef struct png_err {
    jmp_buf jmp;
    char msg[200];
} png_err;

static void png_error_fn(png_structp png, png_const_charp msg)
{
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    longjmp(e->jmp, 1);
}

static void png_warning_fn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* warnings (a bad ancillary chunk) do not stop decoding, as in TensorFlow */
}

static ckeras_status grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return CKERAS_OK;
    uint8_t *p = ck_malloc_n((int64_t)need, 1);
    if (!p)
        return CKERAS_ENOMEM;
    ck_free(*buf);
    *buf = p;
    *cap = need;
    return CKERAS_OK;
}

static ckeras_status decode_png(FILE *f, const char *path, int channels, uint8_t **buf, size_t *cap, int64_t *h,
                                int64_t *w)
{
    png_err e;
    e.msg[0] = '\0';
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &e, png_error_fn, png_warning_fn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return CKERAS_ENOMEM;
    }
    /* everything the longjmp path reads lives outside this frame or is set before setjmp */
    volatile ckeras_status st = CKERAS_OK;
    if (setjmp(e.jmp)) {
        st = ck_error(CKERAS_EFORMAT, "%s: damaged or truncated PNG (%s)", path, e.msg);
        goto done;
    }
    png_init_io(png, f);
    png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    png_read_info(png, info);
    png_uint_32 pw = png_get_image_width(png, info), ph = png_get_image_height(png, info);
    int type = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16)
        png_set_strip_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    bool trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    bool has_alpha = (type & PNG_COLOR_MASK_ALPHA) || trns;
    bool color = (type & PNG_COLOR_MASK_COLOR) != 0;
    if (trns)
        png_set_tRNS_to_alpha(png);
    if (channels < 3 && color)
        png_set_rgb_to_gray(png, 1, 0.299, 0.587);
    if (channels >= 3 && !color)
        png_set_gray_to_rgb(png);
    if (channels == 4 && !has_alpha)
        png_set_filler(png, 0xff, PNG_FILLER_AFTER);
    if (channels != 4 && has_alpha)
        png_set_strip_alpha(png);
    const int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)pw * (size_t)channels) {
        st = ck_error(CKERAS_EFORMAT, "%s: PNG decodes to %zu bytes per row, %u x %d expected", path, rowbytes,
                      (unsigned)pw, channels);
        goto done;
    }
    if ((st = grow(buf, cap, (size_t)ph * rowbytes)) != CKERAS_OK)
        goto done;
    for (int pass = 0; pass < passes; pass++) /* row by row into buf: no row-pointer array */
        for (png_uint_32 i = 0; i < ph; i++)
            png_read_row(png, *buf + (size_t)i * rowbytes, NULL);
    png_read_end(png, NULL);
    *h = ph;
    *w = pw;
done:
    png_destroy_read_struct(&png, &info, NULL);
    return st;
}

/* ---- JPEG -------------------------------------------------------------------------------- */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_error_exit_fn(j_common_ptr c)
{
    jpeg_err *e = (jpeg_err *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jmp, 1);
}

/* level -1: a warning (corrupt or truncated data), an error here; trace messages are ignored */
static void jpeg_emit_fn(j_common_ptr c, int level)
{
    if (level < 0)
        jpeg_error_exit_fn(c);
}

static void jpeg_output_fn(j_common_ptr c)
{
    (void)c;
}

static ckeras_status decode_jpeg(FILE *f, const char *path, int channels, uint8_t **buf, size_t *cap, int64_t *h,
                                 int64_t *w)
{
    struct jpeg_decompress_struct cinfo;
    jpeg_err e;
    e.msg[0] = '\0';
    cinfo.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jpeg_error_exit_fn;
    e.pub.emit_message = jpeg_emit_fn;
    e.pub.output_message = jpeg_output_fn;
    volatile ckeras_status st = CKERAS_OK;
    if (setjmp(e.jmp)) {
        st = ck_error(CKERAS_EFORMAT, "%s: damaged or truncated JPEG (%s)", path, e.msg);
        goto done;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width > IMAGE_MAX_SIDE || cinfo.image_height > IMAGE_MAX_SIDE) {
        st = ck_error(CKERAS_EFORMAT, "%s: JPEG of %u x %u pixels; at most %d per side", path,
                      (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, IMAGE_MAX_SIDE);
        goto done;
    }
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        st = ck_error(CKERAS_EUNSUPPORTED, "%s: CMYK JPEG images are not supported", path);
        goto done;
    }
    jpeg_start_decompress(&cinfo);
    size_t W = cinfo.output_width, H = cinfo.output_height;
    if ((st = grow(buf, cap, H * W * (size_t)channels)) != CKERAS_OK)
        goto done;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW row = *buf + y * W * (size_t)channels;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (channels == 4) /* rgba: the row's W rgb pixels spread to 4 bytes each, from the end */
            for (size_t x = W; x-- > 0;) {
                const uint8_t r = row[3 * x], g = row[3 * x + 1], b = row[3 * x + 2];
                row[4 * x] = r;
                row[4 * x + 1] = g;
                row[4 * x + 2] = b;
                row[4 * x + 3] = 255;
            }
    }
    jpeg_finish_decompress(&cinfo);
    *h = (int64_t)H;
    *w = (int64_t)W;
done:
    jpeg_destroy_decompress(&cinfo);
    return st;
}

ckeras_status ck_image_decode(const char *path, int channels, uint8_t **buf, size_t *cap, int64_t *h, int64_t *w)
{
    int fd;
    ckeras_status st = ck_file_open(path, &fd, NULL);
    if (st != CKERAS_OK)
        return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return ck_error(CKERAS_EIO, "cannot read %s: %s", path, strerror(errno));
    }
    uint8_t magic[8] = {0};
    size_t got = fread(magic, 1, sizeof magic, f);
    rewind(f);
    if (got == 8 && png_sig_cmp(magic, 0, 8) == 0)
        st = decode_png(f, path, channels, buf, cap, h, w);
    else if (got >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff)
        st = decode_jpeg(f, path, channels, buf, cap, h, w);
    else
        st = ck_error(CKERAS_EFORMAT, "%s: not a PNG or JPEG image (unknown first bytes)", path);
    fclose(f);
    return st;
}

/* ---- the folder of images by class --------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct str_list {
    char **v;
    int64_t n, cap;
} str_list;

static ckeras_status push(str_list *l, char *s)
{
    if (!s)
        return CKERAS_ENOMEM;
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 16;
        char **v = ck_malloc_n(cap, sizeof *v);
        if (!v) {
            ck_free(s);
            return CKERAS_ENOMEM;
        }
        if (l->n)
            memcpy(v, l->v, (size_t)l->n * sizeof *v);
        ck_free(l->v);
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return CKERAS_OK;
}

static void list_free(str_list *l)
{
    for (int64_t i = 0; i < l->n; i++)
        ck_free(l->v[i]);
    ck_free(l->v);
    memset(l, 0, sizeof *l);
}

static char *join2(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = ck_malloc_n((int64_t)(na + nb + 2), 1);
    if (s) {
        memcpy(s, a, na);
        s[na] = '/';
        memcpy(s + na + 1, b, nb + 1);
    }
    return s;
}

static bool image_name(const char *name)
{
    size_t n = strlen(name);
    static const char *const ext[] = {".png", ".jpg", ".jpeg"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t k = strlen(ext[i]);
        if (n >= k && strcasecmp(name + n - k, ext[i]) == 0)
            return true;
    }
    return false;
}

/* The entries of folder dir (names, sorted): its subfolders in dirs and its files in files (with
 * want_files), "." and ".." left out. */
static ckeras_status read_dir(const char *dir, str_list *dirs, str_list *files)
{
    DIR *d = opendir(dir);
    if (!d)
        return ck_error(CKERAS_EIO, "cannot read folder %s: %s", dir, strerror(errno));
    ckeras_status st = CKERAS_OK;
    struct dirent *ent;
    while (st == CKERAS_OK && (ent = readdir(d))) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char *full = join2(dir, ent->d_name);
        if (!full) {
            st = CKERAS_ENOMEM;
            break;
        }
        struct stat sb;
        bool is_dir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
        bool is_file = !is_dir && stat(full, &sb) == 0 && S_ISREG(sb.st_mode);
        ck_free(full);
        if (is_dir && dirs)
            st = push(dirs, ck_strdup(ent->d_name));
        else if (is_file && files)
            st = push(files, ck_strdup(ent->d_name));
    }
    closedir(d);
    if (dirs && dirs->n > 1)
        qsort(dirs->v, (size_t)dirs->n, sizeof *dirs->v, cmp_str);
    if (files && files->n > 1)
        qsort(files->v, (size_t)files->n, sizeof *files->v, cmp_str);
    return st;
}

/* Every folder at or below root (root included), for a walk sorted by path as Keras sorts
 * tf.io.gfile.walk's roots. */
static ckeras_status walk_dirs(const char *root, str_list *out, int depth)
{
    if (depth > 64)
        return ck_error(CKERAS_EIO, "%s: folders nested too deep (a symbolic link loop?)", root);
    ckeras_status st = push(out, ck_strdup(root));
    str_list sub = {0};
    if (st == CKERAS_OK)
        st = read_dir(root, &sub, NULL);
    for (int64_t i = 0; st == CKERAS_OK && i < sub.n; i++) {
        char *p = join2(root, sub.v[i]);
        st = p ? walk_dirs(p, out, depth + 1) : CKERAS_ENOMEM;
        ck_free(p);
    }
    list_free(&sub);
    return st;
}

void ck_image_index_free(ck_image_index *x)
{
    for (int i = 0; i < x->nclasses; i++)
        ck_free(x->classes[i]);
    ck_free(x->classes);
    for (int64_t i = 0; i < x->n; i++)
        ck_free(x->files[i]);
    ck_free(x->files);
    ck_free(x->labels);
    memset(x, 0, sizeof *x);
}

ckeras_status ck_image_index_dir(const char *dir, ck_image_index *out)
{
    memset(out, 0, sizeof *out);
    str_list classes = {0}, files = {0};
    int64_t *labels = NULL;
    int64_t nlab = 0, caplab = 0;
    ckeras_status st = read_dir(dir, &classes, NULL);
    /* hidden subfolders are not classes */
    int64_t keep = 0;
    for (int64_t i = 0; st == CKERAS_OK && i < classes.n; i++) {
        if (classes.v[i][0] == '.')
            ck_free(classes.v[i]);
        else
            classes.v[keep++] = classes.v[i];
    }
    classes.n = st == CKERAS_OK ? keep : classes.n;
    if (st == CKERAS_OK && classes.n > 1000000)
        st = ck_error(CKERAS_EINVAL, "%s: %lld class folders; at most 1000000", dir, (long long)classes.n);
    for (int64_t c = 0; st == CKERAS_OK && c < classes.n; c++) {
        char *cdir = join2(dir, classes.v[c]);
        str_list roots = {0};
        st = cdir ? walk_dirs(cdir, &roots, 0) : CKERAS_ENOMEM;
        ck_free(cdir);
        if (roots.n > 1)
            qsort(roots.v, (size_t)roots.n, sizeof *roots.v, cmp_str);
        for (int64_t r = 0; st == CKERAS_OK && r < roots.n; r++) {
            str_list names = {0};
            st = read_dir(roots.v[r], NULL, &names);
            for (int64_t i = 0; st == CKERAS_OK && i < names.n; i++) {
                if (!image_name(names.v[i]))
                    continue;
                if ((st = push(&files, join2(roots.v[r], names.v[i]))) != CKERAS_OK)
                    break;
                if (nlab == caplab) {
                    int64_t cap = caplab ? 2 * caplab : 64;
                    int64_t *v = ck_malloc_n(cap, sizeof *v);
                    if (!v) {
                        st = CKERAS_ENOMEM;
                        break;
                    }
                    if (nlab)
                        memcpy(v, labels, (size_t)nlab * sizeof *v);
                    ck_free(labels);
                    labels = v;
                    caplab = cap;
                }
                labels[nlab++] = c;
            }
            list_free(&names);
        }
        list_free(&roots);
    }
    if (st != CKERAS_OK) {
        list_free(&classes);
        list_free(&files);
        ck_free(labels);
        return st;
    }
    out->classes = classes.v;
    out->nclasses = (int)classes.n;
    out->files = files.v;
    out->labels = labels;
    out->n = files.n;
    return CKERAS_OK;
}

/* ---- NumPy's RandomState(seed).shuffle (MT19937, legacy bounded integers) ------------------- */

typedef struct mt19937 {
    uint32_t s[624];
    int i;
} mt19937;

static void mt_seed(mt19937 *m, uint32_t seed)
{
    m->s[0] = seed;
    for (int i = 1; i < 624; i++)
        m->s[i] = 1812433253u * (m->s[i - 1] ^ (m->s[i - 1] >> 30)) + (uint32_t)i;
    m->i = 624;
}

static uint32_t mt_next(mt19937 *m)
{
    if (m->i >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (m->s[k] & 0x80000000u) | (m->s[(k + 1) % 624] & 0x7fffffffu);
            m->s[k] = m->s[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
        }
        m->i = 0;
    }
    uint32_t y = m->s[m->i++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* numpy's random_interval(max) for max < 2^32: masked draws until one is <= max */
static uint32_t mt_interval(mt19937 *m, uint32_t max)
{
    if (max == 0)
        return 0;
    uint32_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    uint32_t v;
    while ((v = mt_next(m) & mask) > max)
        ;
    return v;
}

void ck_numpy_shuffle_perm(uint32_t seed, int64_t *perm, int64_t n)
{
    mt19937 m;
    mt_seed(&m, seed);
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = mt_interval(&m, (uint32_t)i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
