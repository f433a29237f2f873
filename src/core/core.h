/* src/core: errors, allocation, tensors, RNG, threads, config schemas.
 * The door of the lowest room: every other room may include this header. */
#ifndef CK_CORE_H
#define CK_CORE_H

#include "ckeras.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CK_INTERNAL __attribute__((visibility("hidden")))

/* A function also compiled for AVX-512 and AVX2, the version picked at load time by the CPU
 * (the build targets baseline x86-64): for elementwise loops, whose floats are the same in every
 * version when each element's operations and their order do not depend on the lane count.
 * Static functions only (a global one would export its resolver). -DCK_NO_CLONES: baseline only. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(CK_NO_CLONES)
#define CK_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CK_CLONES
#endif

/* ---- errors -------------------------------------------------------------------------- */

/* Records a message for ckeras_last_error() and returns code, so that
 * `return ck_error(CKERAS_EINVAL, "dense: units must be > 0, got %lld", n);` reads well. The
 * arguments may quote the current message (ckeras_last_error()). A message longer than the
 * buffer (1023 bytes) keeps its start and its end (the cause), its middle shortened to "...". */
ckeras_status ck_error(ckeras_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "what: " (adds context as an error travels up), shortened
 * as ck_error shortens. */
void ck_error_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ck_error_clear(void);
/* The status of the last ck_error in this thread (CKERAS_OK after ck_error_clear), or dflt when
 * no error was recorded since. */
ckeras_status ck_last_status(ckeras_status dflt);

/* ---- allocation ---------------------------------------------------------------------- */

/* Every allocation of the library goes through these, so tests can count them and make the
 * k-th one fail. ck_malloc/ck_calloc return NULL and set a CKERAS_ENOMEM message on failure.
 * Memory from any of them (including ck_alloc_aligned) is released with ck_free. */
void *ck_malloc(size_t n);
void *ck_calloc(size_t count, size_t size);
void *ck_realloc(void *p, size_t n);
/* count elements of size bytes (checked: a negative count or an overflowing product is the
 * out-of-memory error, as calloc refuses it) without zeroing; ck_realloc_n likewise. */
void *ck_malloc_n(int64_t count, size_t size);
void *ck_realloc_n(void *p, int64_t count, size_t size);
/* The next capacity of a growing array of int length: first when empty, else twice cap, or -1
 * (which ck_realloc_n refuses as out of memory) when that would pass INT_MAX. */
static inline int ck_grow(int cap, int first)
{
    return cap == 0 ? first : cap <= 0x3fffffff ? 2 * cap : -1;
}
void *ck_alloc_aligned(size_t n); /* 64-byte aligned, zero-filled */
/* A zero-filled array the library computes on at every step (weights, gradients, optimizer
 * slots, activations): 64-byte aligned, and from 2 MB on aligned to 2 MB with transparent huge
 * pages advised, each 2 MB then one TLB entry instead of 512. A wide layer's weights and
 * gradients are read in panels of rows 4-8 kB apart, each row on its own small page. Measured on
 * a Zen 4 (784-W-W-10 MLP fit, 1 thread, GFLOP/s): W 2048 at batch 128 85 -> 95, W 1024
 * 87 -> 94, W 512 at batch 512 91 -> 103. The size is not rounded up to 2 MB (the tail past
 * the last whole 2 MB keeps small pages): the resident memory is what it was. Not for the
 * user's tensors: a process's first huge pages can cost the kernel a compaction (a fresh
 * 188 MB data set took 0.40 s to allocate this way instead of 0.10 s). */
void *ck_alloc_huge(size_t n);
void *ck_alloc_pages(size_t n); /* ck_alloc_huge aligned to a 4 kB page */
/* n bytes for one big array, contents undefined (the caller writes all of it first): from
 * 2 MB on, aligned to 2 MB with transparent huge pages advised, so that first touching it
 * costs one page fault per 2 MB instead of per 4 KB (measured: loading ResNet50's 98 MB of
 * weights spent 0.3 s in faults). */
void *ck_alloc_big(size_t n);
char *ck_strdup(const char *s);
void ck_free(void *p);
/* Number of allocations made by this thread so far (for "no allocation in a step" tests). */
uint64_t ck_alloc_count(void);
/* Test hook: make the k-th allocation from now fail (0 disables). */
void ck_alloc_fail_at(uint64_t k);
/* Test hook: allocations of more than `bytes` fail on this thread, as on a machine with that much
 * memory (0 disables). The fuzz targets use it so that a config asking for a huge model is an
 * out-of-memory error instead of gigabytes. */
void ck_alloc_set_limit(size_t bytes);

/* ---- tensors ------------------------------------------------------------------------- */

struct ckeras_tensor {
    float *data;
    int ndim;
    int64_t shape[CKERAS_MAX_DIMS];
    bool owns;
};

typedef struct ck_shape {
    int ndim;
    int64_t d[CKERAS_MAX_DIMS];
} ck_shape;

/* ---- checked size arithmetic ---------------------------------------------------------
 * Every product or sum of sizes that reaches an allocation, a loop bound or a shape goes
 * through these helpers (DESIGN: "sizes"). They saturate: a result past int64 is
 * CK_SIZE_OVERFLOW, and an operand that is CK_SIZE_OVERFLOW keeps the result there (even times
 * 0), so a chain of them is checked once at its end by ck_size_check. A negative operand (a
 * variable, None, axis) gives -1. Sizes that passed ck_size_check are at most
 * CKERAS_MAX_SIZE_LIMIT (2^48), so a product of such a size with an int below 2^14 (a float's
 * bytes, a few buffers) cannot wrap: that is the only unchecked arithmetic on sizes. */
#define CK_SIZE_OVERFLOW INT64_MAX
int64_t ck_size_mul(int64_t a, int64_t b);
int64_t ck_size_add(int64_t a, int64_t b);
/* ck_size_mul of three */
int64_t ck_size_mul3(int64_t a, int64_t b, int64_t c);
/* CKERAS_ESHAPE with "<subject>: too large (n elements; the limit is L per tensor, ...)" when n (a
 * count of floats) overflowed or passes the per-tensor limit; OK for 0 <= n <= limit. The subject
 * is printf-formatted from fmt only when the check fails (these run on every build and plan). */
ckeras_status ck_size_check(int64_t n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* ck_size_check of a shape's element count. The product of its positive axes is checked, so a
 * shape with a zero axis cannot hide axes whose strides wrap; a negative axis is a variable
 * (None) one, left out (callers that must refuse them, as tensors do, check first). */
ckeras_status ck_shape_check(const ck_shape *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The byte count of n floats for an allocator: SIZE_MAX (which every allocator refuses) when n
 * is negative or passed the limit. */
size_t ck_floats_bytes(int64_t n);
/* CKERAS_ESHAPE when the parameter count n passes the per-model limit (or overflowed). */
ckeras_status ck_params_check(int64_t n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The product of the axes (saturating, as ck_size_mul; -1 with a negative axis). */
int64_t ck_shape_size(const ck_shape *s);
bool ck_shape_eq(const ck_shape *a, const ck_shape *b);
/* "(None, 30)" style text; batch_none prints the first axis as None. Returns buf. */
char *ck_shape_str(const ck_shape *s, bool batch_none, char *buf, size_t n);
ck_shape ck_tensor_shape(const ckeras_tensor *t);
/* Checks a tensor argument: not NULL, positive dims, finite where check_finite. */
ckeras_status ck_tensor_check(const ckeras_tensor *t, const char *what, const char *arg);
/* First non-finite element index, or -1. */
int64_t ck_first_nonfinite(const float *x, int64_t n);

/* ---- random numbers ------------------------------------------------------------------ */

typedef struct ck_rng {
    uint64_t s[4];
} ck_rng;

void ck_rng_seed(ck_rng *r, uint64_t seed);
uint64_t ck_rng_u64(ck_rng *r);
double ck_rng_uniform(ck_rng *r);       /* [0, 1) */
/* mask[i] = keep when the i-th of n uniform draws is >= rate, else 0: the same draws and values
 * as n calls of ck_rng_uniform, without a branch on each (dropout masks). */
void ck_rng_keep_mask(ck_rng *r, float *mask, int64_t n, double rate, float keep);
double ck_rng_normal(ck_rng *r);        /* N(0, 1) */
uint64_t ck_rng_below(ck_rng *r, uint64_t n); /* uniform in [0, n) */
void ck_rng_shuffle(ck_rng *r, int64_t *idx, int64_t n);
/* The next seed of the library-wide seed stream (ckeras_set_random_seed resets it). */
uint64_t ck_next_model_seed(void);

/* ---- threads ------------------------------------------------------------------------- */

/* The library's thread count: ckeras_set_num_threads' value (0: one per core), or 1 inside a
 * ck_thread_serial section of the calling thread. */
int ck_num_threads(void);
/* Makes every ck_num_threads of the calling thread answer 1 (serial true) or the library's count
 * again (false): a thread running its own share of a batch (the data-parallel training step)
 * runs the kernels of its share on itself. Returns the previous setting. */
bool ck_thread_serial(bool serial);

/* Runs fn(ctx, t, T) on T = nt threads, t = 0..T-1 (an OpenMP team; fn may use `#pragma omp
 * barrier`), or once as fn(ctx, 0, 1) on the calling thread when nt <= 1. The serial case takes
 * no OpenMP region at all: libgomp passes even an if(false) region through its thread pool,
 * which costs a futex system call (2.2 us measured here) once another region has used two
 * threads. */
typedef void (*ck_par_fn)(void *ctx, int t, int T);
void ck_parallel(int nt, ck_par_fn fn, void *ctx);

/* The share [*a, *b) of thread t of T in [0, n): contiguous, as OpenMP's static schedule. */
static inline void ck_par_range(int64_t n, int t, int T, int64_t *a, int64_t *b)
{
    *a = n * t / T;
    *b = n * (t + 1) / T;
}

/* ---- config trees ---------------------------------------------------------------------
 * Keras configs as a typed value tree: the only form in which configs move between rooms (io
 * converts JSON to and from trees and knows no layer; layers read and write trees through
 * their schemas and never see JSON). Objects keep their keys in insertion order. Every node
 * has a `used` flag that readers set on what they consumed, so that a loader can tell a key
 * it understood from one it would otherwise silently drop. */

typedef enum ck_tree_kind { CK_T_NULL, CK_T_BOOL, CK_T_INT, CK_T_FLOAT, CK_T_STR, CK_T_LIST, CK_T_OBJECT } ck_tree_kind;

typedef struct ck_tree {
    ck_tree_kind kind;
    bool used;              /* a reader consumed this value */
    int64_t i;              /* CK_T_BOOL (0/1), CK_T_INT */
    double f;               /* CK_T_FLOAT */
    char *s;                /* CK_T_STR, owned */
    int n, cap;             /* CK_T_LIST / CK_T_OBJECT: items[0..n) */
    char **keys;            /* CK_T_OBJECT: keys[k] names items[k] */
    struct ck_tree **items;
} ck_tree;

/* Constructors return NULL when out of memory (the message is set). */
ck_tree *ck_tree_null(void);
ck_tree *ck_tree_bool(bool b);
ck_tree *ck_tree_int(int64_t i);
ck_tree *ck_tree_float(double f);
ck_tree *ck_tree_str(const char *s);
ck_tree *ck_tree_list(void);
ck_tree *ck_tree_object(void);
void ck_tree_free(ck_tree *t);          /* NULL is a no-op */
ck_tree *ck_tree_copy(const ck_tree *t); /* deep; NULL on NULL or out of memory */
/* Appends / sets (replacing a key's value) and takes item, also on failure (a NULL item, from a
 * failed constructor, gives CKERAS_ENOMEM). */
ckeras_status ck_tree_push(ck_tree *list, ck_tree *item);
ckeras_status ck_tree_set(ck_tree *obj, const char *key, ck_tree *item);
int ck_tree_find(const ck_tree *obj, const char *key);      /* index of key, or -1 */
void ck_tree_del(ck_tree *obj, const char *key);            /* removes key when present */
ck_tree *ck_tree_get(const ck_tree *obj, const char *key);  /* NULL when absent or not an object */
ck_tree *ck_tree_use(const ck_tree *obj, const char *key);  /* ck_tree_get, marking it used */
bool ck_tree_is_number(const ck_tree *t);
double ck_tree_number(const ck_tree *t);
const char *ck_tree_string(const ck_tree *t);               /* NULL unless a string */
/* The first key of obj whose value no reader used, or NULL. */
const char *ck_tree_first_unused(const ck_tree *obj);

/* ---- config schemas ------------------------------------------------------------------
 * A Keras class declares its keyword arguments once, as a table of fields; the by-name
 * setters, the JSON reader/writer and summary() all go through it. */

typedef enum ck_type { CK_BOOL, CK_INT, CK_FLOAT, CK_STR, CK_INTS, CK_TREE } ck_type;

/* How the Keras writers spell a field (ck_field.write). Without flags a field is written by
 * every profile under its own name. */
#define CK_W_NEVER 1u     /* never written (input_shape: the InputLayer holds it) */
#define CK_W_SET_ONLY 2u  /* written only when not at its default (tf.keras 2 writes BatchNormalization's
                             renorm & co. only when set, "to preserve compatibility with external Keras") */
#define CK_W_NO_TF2 4u    /* a Keras 3 keyword tf.keras 2 refuses: the Keras 3 profile only */
#define CK_W_NO_K3 8u     /* a tf.keras 2 keyword Keras 3 refuses: the tf.keras 2 profile only */
#define CK_W_ALIAS_TF2 16u /* the tf.keras 2 profile writes it under its alias (LeakyReLU's alpha) */
#define CK_W_INT_IF_ONE 32u /* a CK_INTS field holding one value is written as that int (Softmax's axis) */
#define CK_W_NULL_NEG (1u << 10) /* CK_INTS: a negative entry (a variable size) is written as null
                                   (EinsumDense's output_shape (None, 64)) */

/* Which Keras a config is written for. */
typedef enum ck_profile { CK_PROFILE_TF2, CK_PROFILE_KERAS3 } ck_profile;

typedef struct ck_field {
    const char *name;
    ck_type type;
    const char *def;     /* default as text: "true", "3", "0.5", "glorot_uniform", "1,1"; NULL = None */
    const char *allowed; /* accepted values, or NULL for any: for CK_STR "|"-separated names; for CK_INT,
                            CK_FLOAT and CK_INTS (each int) an interval, "[0,1)", "(0,)" (the
                            setters, file readers and constructors all check it) */
    const char *help;    /* one line, for error messages */
    unsigned write;      /* CK_W_* writing rules, 0: always written as name */
    const char *alias;   /* another Keras name read into this field (Keras 2's "alpha", "lr"), or NULL */
} ck_field;

#define CK_MAX_INTS 8

typedef struct ck_value {
    bool is_none;
    int64_t i;     /* CK_BOOL, CK_INT */
    double f;      /* CK_FLOAT */
    char *s;       /* CK_STR, owned */
    int n;         /* CK_INTS */
    int64_t v[CK_MAX_INTS];
    ck_tree *t;    /* CK_TREE (a nested config, e.g. Bidirectional's layer), owned */
} ck_value;

typedef struct ck_config {
    const ck_field *fields;
    int n;
    ck_value *values;
} ck_config;

ckeras_status ck_config_init(ck_config *c, const ck_field *fields, int n);
void ck_config_free(ck_config *c);
ckeras_status ck_config_copy(ck_config *dst, const ck_config *src);
int ck_config_find(const ck_config *c, const char *name);
/* Setters check the name and the type (an int is accepted for a float field, an int for a
 * bool, one int for an ints field: it is repeated to the field's default length). */
ckeras_status ck_config_set_str(ck_config *c, const char *owner, const char *name, const char *v);
ckeras_status ck_config_set_int(ck_config *c, const char *owner, const char *name, int64_t v);
ckeras_status ck_config_set_float(ck_config *c, const char *owner, const char *name, double v);
ckeras_status ck_config_set_bool(ck_config *c, const char *owner, const char *name, bool v);
ckeras_status ck_config_set_ints(ck_config *c, const char *owner, const char *name, int n, const int64_t *v);
ckeras_status ck_config_set_none(ck_config *c, const char *owner, const char *name);
/* Sets a CK_TREE field to a copy of t. */
ckeras_status ck_config_set_tree(ck_config *c, const char *owner, const char *name, const ck_tree *t);
/* Getters for names the schema is known to have (a wrong name is a programming error and
 * returns 0 / NULL). */
int64_t ck_cfg_int(const ck_config *c, const char *name);
double ck_cfg_float(const ck_config *c, const char *name);
bool ck_cfg_bool(const ck_config *c, const char *name);
const char *ck_cfg_str(const ck_config *c, const char *name); /* NULL when None */
const ck_value *ck_cfg_value(const ck_config *c, const char *name);
const ck_tree *ck_cfg_tree(const ck_config *c, const char *name); /* NULL when None */

/* A Keras layer or optimizer config (the "config" object get_config() writes) applied to a
 * schema'd config: known keys (or a field's alias) are set by type and marked used in cfg;
 * initializers given as {"class_name", "config"} become specs such as
 * "RandomNormal(mean=0,stddev=0.05)"; a [lower, upper] pair for a float field "<key>" with a
 * float field "<key>_lower" sets both; "batch_input_shape"/"batch_shape" set "input_shape"
 * (batch axis dropped); "name" and "trainable" are returned apart (name_out may be NULL);
 * "dtype" float32 is used. Keys it has no use for stay unused in cfg (ck_tree_first_unused). */
/* A Keras object config of an initializer, regularizer or constraint ({"class_name": "L2", "config":
 * {"l2": 0.01}}, with or without "module" and "registered_name") as ckeras' spec string
 * ("L2(l2=0.01)"; lists as "[0,1,2]"), in out (cap bytes); CKERAS_EFORMAT naming owner and key
 * when it has no class_name or is too long. */
ckeras_status ck_config_object_spec(ck_tree *v, char *out, size_t cap, const char *owner, const char *key);
ckeras_status ck_config_from_tree(ck_config *c, const char *owner, ck_tree *cfg, char *name_out, size_t name_cap,
                                  bool *trainable_out);
/* A schema'd config as the config object the profile's Keras writes: "name", "trainable",
 * "dtype" when name is not NULL, then every field in schema order under the field's writing
 * rules (ck_field.write); initializers and regularizers as {"class_name", "config"} objects.
 * NULL when out of memory. */
ck_tree *ck_config_to_tree(const ck_config *c, const char *name, bool trainable, ck_profile profile);

/* A growable text buffer (strbuf.c): start it zeroed; after the writes, failed tells whether
 * memory ran out (p then holds what fitted, or NULL); the text in p is freed with ck_free. */
typedef struct ck_strbuf {
    char *p;
    size_t n, cap;
    bool failed;
} ck_strbuf;
void ck_sb_put(ck_strbuf *b, const char *s, size_t n);
void ck_sb_puts(ck_strbuf *b, const char *s);
/* Formatted text of under 512 bytes (longer: failed). */
void ck_sb_printf(ck_strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A double as Python's repr() writes it ("0.1", "1e-05", "123.0", "1.5e+16", "nan", "-inf"):
 * the shortest digits that read back as v; what Keras prints for a Python float. */
#define CK_PYFLOAT_LEN 32
void ck_format_pyfloat(double v, char out[CK_PYFLOAT_LEN]);

#endif
