/* Fuzz target: ckeras_read_idx (MNIST IDX files, plain or gzip). */
#include "ckeras.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("idx", ".idx", data, size);
    if (!path)
        return 0;
    ckeras_tensor *t = NULL;
    if (ckeras_read_idx(path, &t) == CKERAS_OK) {
        volatile float s = 0;
        int64_t n = ckeras_tensor_size(t);
        for (int64_t i = 0; i < n; i++)
            s += ckeras_tensor_data(t)[i];
        (void)s;
    }
    ckeras_tensor_free(t);
    unlink(path);
    return 0;
}
