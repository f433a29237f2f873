/* Replays the fuzz corpora and the inputs that once crashed (tests/fuzz/corpus/<target>/ and
 * tests/fuzz/regressions/<target>/) through the fuzz targets, built here with the ordinary
 * compiler: make check (and check-asan, check-ubsan, check-valgrind) keeps every input that
 * libFuzzer found fixed. A target passes when no input crashes or trips a sanitizer; each
 * test also checks that its folders were found and hold inputs, so a test that silently ran
 * nothing fails. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_model_json_one
#include "fuzz/fuzz_model_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_load_model_one
#include "fuzz/fuzz_load_model.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_load_keras_one
#include "fuzz/fuzz_load_keras.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_api_one
#include "fuzz/fuzz_api.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *, size_t);

/* LeakSanitizer (make check-asan): HDF5 1.10 keeps the cache block of an object header it failed
 * to load (56 bytes; see tests/valgrind.supp, "hdf5-failed-object-header-load"). The inputs here
 * are damaged on purpose; allocations of the library itself have no libhdf5 frame and stay
 * checked. */
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void);
__attribute__((visibility("default"))) const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5_serial.so\nleak:libhdf5.so\n";
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs every regular file of dir through fn; returns how many ran (0 if dir is absent). */
static int replay_dir(const char *dir, fuzz_fn fn)
{
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, NULL, by_name), ran = 0;
    for (int k = 0; k < n; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, ents[k]->d_name);
        free(ents[k]);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "cannot open %s", path);
        size_t len = (size_t)st.st_size;
        uint8_t *buf = malloc(len ? len : 1); /* exact size: reads past the end are caught */
        ck_assert_ptr_nonnull(buf);
        ck_assert_uint_eq(fread(buf, 1, len, f), len);
        fclose(f);
        fn(buf, len);
        free(buf);
        ran++;
    }
    free(ents);
    return ran;
}

static void replay(const char *target, fuzz_fn fn)
{
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", target);
    int corpus = replay_dir(dir, fn);
    snprintf(dir, sizeof dir, "tests/fuzz/regressions/%s", target);
    int regress = replay_dir(dir, fn);
    ck_assert_msg(corpus > 0, "tests/fuzz/corpus/%s is empty or missing (run from the source root)", target);
    fprintf(stderr, "fuzz replay %s: %d corpus inputs, %d regressions\n", target, corpus, regress);
}

START_TEST(replay_csv) { replay("csv", fuzz_csv_one); }
END_TEST
START_TEST(replay_idx) { replay("idx", fuzz_idx_one); }
END_TEST
START_TEST(replay_npy) { replay("npy", fuzz_npy_one); }
END_TEST
START_TEST(replay_model_json) { replay("model_json", fuzz_model_json_one); }
END_TEST
START_TEST(replay_load_model) { replay("load_model", fuzz_load_model_one); }
END_TEST
START_TEST(replay_load_keras) { replay("load_keras", fuzz_load_keras_one); }
END_TEST
START_TEST(replay_api) { replay("api", fuzz_api_one); }
END_TEST

int main(void)
{
    Suite *s = suite_create("fuzz_replay");
    TCase *tc = tcase_create("corpora");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, replay_csv);
    tcase_add_test(tc, replay_idx);
    tcase_add_test(tc, replay_npy);
    tcase_add_test(tc, replay_model_json);
    tcase_add_test(tc, replay_load_model);
    tcase_add_test(tc, replay_load_keras);
    tcase_add_test(tc, replay_api);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
