/* Fuzz target: ckeras_load_model of a Keras 3 .keras archive (written to a scratch file first),
 * then load_weights of the same archive into the loaded model, summary, and one predict on
 * zeros. */
#include "fuzz_common.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_load_file(data, size, "keras", ".keras", CKERAS_WEIGHTS_SKIP_MISMATCH);
}
