/* Shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput(data, size). It is built three ways:
 *  - with clang -fsanitize=fuzzer,address,undefined (make fuzz): libFuzzer supplies main();
 *  - with replay.c (make fuzz-replay): a plain main() that runs every file of the given files or
 *    folders through the target, for reproducing a crash with gcc and gdb;
 *  - included by tests/test_fuzz_replay.c (make check), which renames the entry point with
 *    -style macros and replays tests/fuzz/corpus/<target> and tests/fuzz/regressions/<target>.
 * A target must return 0 and must not leak: every outcome (error or success) is acceptable as
 * long as the library neither crashes nor trips a sanitizer. */
#ifndef CK_FUZZ_COMMON_H
#define CK_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The model targets make any single allocation above this fail (ck_alloc_set_limit): a config
 * may ask for a model of gigabytes, which is the user's right but not a finding, and would trip
 * the fuzzer's memory limit (3 GB). */
#define FUZZ_ALLOC_LIMIT ((size_t)128 << 20)

/* Path of a per-process scratch file named after tag (in /dev/shm when it exists: no disk). */
static inline const char *fuzz_temp_path(const char *tag, const char *suffix)
{
    static char path[8][256];
    static int k;
    k = (k + 1) % 8;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path[k], sizeof path[k], "%s/ckfuzz_%d_%s%s", dir, (int)getpid(), tag, suffix);
    return path[k];
}

/* Writes the input to the scratch file; returns its path, or NULL (the input is then skipped). */
static inline const char *fuzz_write_temp(const char *tag, const char *suffix, const uint8_t *data,
                                          size_t size)
{
    const char *path = fuzz_temp_path(tag, suffix);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t w = size ? fwrite(data, 1, size, f) : 0;
    if (fclose(f) != 0 || w != size) {
        unlink(path);
        return NULL;
    }
    return path;
}

#endif
