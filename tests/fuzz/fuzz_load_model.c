/* Fuzz target: ckeras_load_model (a Keras .h5 file, written to a scratch file first), then
 * load_weights of the same bytes into the loaded model, summary, and one predict on zeros. */
#include "fuzz_common.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_load_file(data, size, "h5", ".h5", CKERAS_WEIGHTS_BY_NAME | CKERAS_WEIGHTS_SKIP_MISMATCH);
}
