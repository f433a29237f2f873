/* Fuzz target: ckeras_model_from_json (Keras model_config JSON -> model). A model that loads is
 * written back with to_json, read again, and run on one zero sample when its input is small. */
#include "fuzz_common.h"
#include "fuzz_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_alloc_set_limit(FUZZ_ALLOC_LIMIT);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    if (size)
        memcpy(text, data, size);
    text[size] = '\0';
    ckeras_model *m = NULL;
    if (ckeras_model_from_json(text, &m) == CKERAS_OK) {
        char *json = NULL;
        if (ckeras_model_to_json(m, &json) == CKERAS_OK) {
            ckeras_model *m2 = NULL;
            if (ckeras_model_from_json(json, &m2) == CKERAS_OK)
                fuzz_model_poke(m2);
            ckeras_model_free(m2);
        }
        ckeras_free(json);
        fuzz_model_poke(m);
    }
    ckeras_model_free(m);
    free(text);
    return 0;
}
