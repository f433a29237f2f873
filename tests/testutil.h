/* Shared helpers for the Check suites: reading reference values from JSON fixtures,
 * comparing arrays. Tests run from the source root. */
#ifndef CK_TESTUTIL_H
#define CK_TESTUTIL_H

#include <check.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Loads tests/fixtures/<rel> (a JSON file); fails the test if it cannot. Free with json_decref. */
json_t *tu_load_json(const char *rel);
/* json_object_get along a '/'-separated path ("results/relu/output"); fails the test if absent. */
json_t *tu_get(json_t *root, const char *path);
/* Flattens a nested JSON list of numbers into a new float array (row-major); *n gets the count
 * and shape/ndim (if not NULL) the nesting. Free with free(). */
float *tu_floats(json_t *arr, size_t *n, int64_t *shape, int *ndim);
double tu_number(json_t *v);
/* Asserts |a - b| <= atol + rtol * |b| element-wise, reporting the first bad index. */
void tu_assert_close(const float *a, const float *b, size_t n, double atol, double rtol, const char *what);
/* A fresh private folder for a test's files (/tmp/ck_<tag>_XXXXXX), removed with its contents by
 * tu_tmpdir_remove; tu_tmp gives the path of a file in it (four rotating buffers). */
const char *tu_tmpdir_make(const char *tag);
void tu_tmpdir_remove(void);
const char *tu_tmp(const char *name);
/* Entries of a folder, not counting . and .. (0 when it cannot be read). */
int tu_count_entries(const char *dir);
/* Runs a suite and returns the process exit status. */
int tu_run(Suite *s);

#endif
