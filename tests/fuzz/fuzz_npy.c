/* Fuzz target: the NumPy readers. An input that starts like a zip ("PK") goes through the .npz
 * reader (from a file), any other through the in-memory .npy parser and the file reader. */
#include "io/io.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_npy_touch(ckeras_tensor *t)
{
    volatile float s = 0;
    int64_t n = ckeras_tensor_size(t);
    for (int64_t i = 0; i < n; i++)
        s += ckeras_tensor_data(t)[i];
    (void)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        const char *path = fuzz_write_temp("npz", ".npz", data, size);
        if (!path)
            return 0;
        int n = 0;
        char **names = NULL;
        ckeras_tensor **arrays = NULL;
        if (ck_npz_read(path, &n, &names, &arrays) == CKERAS_OK)
            for (int i = 0; i < n; i++) {
                volatile size_t len = strlen(names[i]);
                (void)len;
                fuzz_npy_touch(arrays[i]);
            }
        ck_npz_free(n, names, arrays);
        unlink(path);
        return 0;
    }
    /* the parser gets an exact-size copy, so a read past the end is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    ckeras_tensor *t = NULL;
    if (ck_npy_parse(copy, size, "fuzz.npy", &t) == CKERAS_OK)
        fuzz_npy_touch(t);
    ckeras_tensor_free(t);
    free(copy);
    return 0;
}
