#include "testutil.h"

#include <dirent.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *tu_load_json(const char *rel)
{
    char path[512];
    snprintf(path, sizeof path, "tests/fixtures/%s", rel);
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    ck_assert_msg(j != NULL, "cannot load %s: %s (line %d)", path, err.text, err.line);
    return j;
}

json_t *tu_get(json_t *root, const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *cur = root;
    for (char *tok = strtok(buf, "/"); tok; tok = strtok(NULL, "/")) {
        if (json_is_array(cur))
            cur = json_array_get(cur, (size_t)atoi(tok));
        else
            cur = json_object_get(cur, tok);
        ck_assert_msg(cur != NULL, "fixture has no '%s' (in %s)", tok, path);
    }
    return cur;
}

double tu_number(json_t *v)
{
    ck_assert_msg(json_is_number(v), "fixture value is not a number");
    return json_number_value(v);
}

static void flatten(json_t *a, float *out, size_t *k, int depth, int64_t *shape, int *ndim)
{
    if (json_is_array(a)) {
        if (shape && depth < 8 && (*ndim <= depth)) {
            shape[depth] = (int64_t)json_array_size(a);
            *ndim = depth + 1;
        }
        for (size_t i = 0; i < json_array_size(a); i++)
            flatten(json_array_get(a, i), out, k, depth + 1, shape, ndim);
    } else {
        if (out)
            out[*k] = (float)json_number_value(a);
        (*k)++;
    }
}

float *tu_floats(json_t *arr, size_t *n, int64_t *shape, int *ndim)
{
    size_t count = 0;
    int nd = 0;
    flatten(arr, NULL, &count, 0, NULL, &nd);
    float *out = calloc(count ? count : 1, sizeof *out);
    ck_assert(out != NULL);
    size_t k = 0;
    nd = 0;
    flatten(arr, out, &k, 0, shape, &nd);
    if (ndim)
        *ndim = nd;
    if (n)
        *n = count;
    return out;
}

void tu_assert_close(const float *a, const float *b, size_t n, double atol, double rtol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        int ok = d <= atol + rtol * fabs((double)b[i]) || (isnan(a[i]) && isnan(b[i])) ||
                 (isinf(a[i]) && a[i] == b[i]);
        ck_assert_msg(ok, "%s: element %zu is %.9g, expected %.9g (diff %.3g)", what, i, (double)a[i],
                      (double)b[i], d);
    }
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    if (getenv("CK_NO_FORK") && *getenv("CK_NO_FORK"))
        srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static char tu_dir[256];

const char *tu_tmpdir_make(const char *tag)
{
    snprintf(tu_dir, sizeof tu_dir, "/tmp/ck_%s_XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(tu_dir));
    return tu_dir;
}

void tu_tmpdir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tu_dir);
    if (tu_dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tu_dir);
    tu_dir[0] = '\0';
}

const char *tu_tmp(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tu_dir, name);
    return buf[k];
}

int tu_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d)
        closedir(d);
    return n;
}
