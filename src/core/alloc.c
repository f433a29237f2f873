/* The library's allocation wrapper: counting and failure injection for tests. */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Thread_local uint64_t n_allocs;
static _Thread_local uint64_t fail_at; /* 0: never */
static _Thread_local size_t size_limit; /* 0: none */

static bool should_fail(size_t n)
{
    n_allocs++;
    if (size_limit && n > size_limit)
        return true;
    if (fail_at == 0)
        return false;
    if (--fail_at == 0)
        return true;
    return false;
}

uint64_t ck_alloc_count(void)
{
    return n_allocs;
}

void ck_alloc_fail_at(uint64_t k)
{
    fail_at = k;
}

void ck_alloc_set_limit(size_t bytes)
{
    size_limit = bytes;
}

void *ck_malloc(size_t n)
{
    void *p = should_fail(n) ? NULL : malloc(n ? n : 1);
    if (!p)
        ck_error(CKERAS_ENOMEM, "out of memory (%zu bytes)", n);
    return p;
}

void *ck_calloc(size_t count, size_t size)
{
    size_t n = size && count > SIZE_MAX / size ? SIZE_MAX : count * size;
    void *p = should_fail(n) ? NULL : calloc(count ? count : 1, size ? size : 1);
    if (!p)
        ck_error(CKERAS_ENOMEM, "out of memory (%zu x %zu bytes)", count, size);
    return p;
}

/* count * size as a byte count, SIZE_MAX (refused by every allocator) when count is negative or
 * the product overflows */
static size_t array_bytes(int64_t count, size_t size)
{
    size_t n;
    if (count < 0 || (uint64_t)count > SIZE_MAX || __builtin_mul_overflow((size_t)count, size, &n))
        return SIZE_MAX;
    return n;
}

void *ck_malloc_n(int64_t count, size_t size)
{
    return ck_malloc(array_bytes(count, size));
}

void *ck_realloc_n(void *p, int64_t count, size_t size)
{
    return ck_realloc(p, array_bytes(count, size));
}

void *ck_realloc(void *old, size_t n)
{
    void *p = should_fail(n) ? NULL : realloc(old, n ? n : 1);
    if (!p)
        ck_error(CKERAS_ENOMEM, "out of memory (%zu bytes)", n);
    return p;
}

/* Huge pages: 2 MB */
#define CK_HUGE_ALIGN ((size_t)2 << 20)

/* n bytes rounded up to a multiple of align (a power of two), aligned to it, contents
 * undefined; with huge, from CK_HUGE_ALIGN bytes on, starting at a 2 MB boundary with
 * transparent huge pages advised over its whole 2 MB (the tail past them keeps small pages).
 * *size: the bytes that are the caller's. */
static void *alloc_at(size_t n, size_t align, bool huge, size_t *size)
{
    void *p = NULL;
    const size_t rounded = (n + align - 1) & ~(align - 1);
    huge = huge && rounded >= CK_HUGE_ALIGN;
    *size = rounded ? rounded : align;
    if (rounded < n || should_fail(n) || posix_memalign(&p, huge ? CK_HUGE_ALIGN : align, *size) != 0) {
        ck_error(CKERAS_ENOMEM, "out of memory (%zu bytes)", n);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (huge) /* advice only: without it (or with THP off), small pages */
        (void)madvise(p, rounded & ~(CK_HUGE_ALIGN - 1), MADV_HUGEPAGE);
#endif
    return p;
}

static void *alloc_zeroed(size_t n, size_t align, bool huge)
{
    size_t size;
    void *p = alloc_at(n, align, huge, &size);
    if (p)
        memset(p, 0, size);
    return p;
}

void *ck_alloc_aligned(size_t n)
{
    return alloc_zeroed(n, 64, false);
}

void *ck_alloc_pages(size_t n)
{
    return alloc_zeroed(n, 4096, true);
}

void *ck_alloc_huge(size_t n)
{
    return alloc_zeroed(n, 64, true);
}

void *ck_alloc_big(size_t n)
{
    size_t size;
    return n < CK_HUGE_ALIGN ? ck_malloc(n) : alloc_at(n, CK_HUGE_ALIGN, true, &size);
}

char *ck_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ck_malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

void ck_free(void *p)
{
    free(p);
}

CKERAS_API void ckeras_free(void *ptr)
{
    free(ptr);
}
