/* Fuzz target: ckeras_load_model of a Keras 3 .keras archive (written to a scratch file first),
 * then load_weights of the same archive into the loaded model, summary, and one predict on
 * zeros. */
#include "fuzz_common.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_alloc_set_limit(FUZZ_ALLOC_LIMIT);
    const char *path = fuzz_write_temp("keras", ".keras", data, size);
    if (!path)
        return 0;
    ckeras_model *m = NULL;
    if (ckeras_load_model(path, 0, &m) == CKERAS_OK) {
        char *text = NULL;
        if (ckeras_model_summary_string(m, 0, &text) == CKERAS_OK)
            ckeras_free(text);
        ckeras_model_load_weights(m, path, CKERAS_WEIGHTS_SKIP_MISMATCH);
        fuzz_model_poke(m);
    }
    ckeras_model_free(m);
    unlink(path);
    return 0;
}
