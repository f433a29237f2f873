/* Fuzz target: ckeras_read_csv (CSV of numbers -> x, y). */
#include "ckeras.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write_temp("csv", ".csv", data, size);
    if (!path)
        return 0;
    ckeras_tensor *x = NULL, *y = NULL;
    if (ckeras_read_csv(path, &x, &y) == CKERAS_OK) {
        /* touch every value: a short allocation shows up under ASan / valgrind */
        volatile float s = 0;
        int64_t nx = ckeras_tensor_size(x), ny = ckeras_tensor_size(y);
        for (int64_t i = 0; i < nx; i++)
            s += ckeras_tensor_data(x)[i];
        for (int64_t i = 0; i < ny; i++)
            s += ckeras_tensor_data(y)[i];
        (void)s;
    }
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    unlink(path);
    return 0;
}
