/* Fuzz target: ckeras_model_from_json (Keras model_config JSON -> model). A model that loads is
 * written back with to_json, read again, and run on one zero sample when its input is small. */
#include "model/model.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs predict on one zero sample per input when the model's inputs are small. */
static void fuzz_model_poke(ckeras_model *m)
{
    int nin = m->g.ninputs;
    if (nin < 1 || nin > CK_MAX_NODE_INPUTS || m->g.n < 1)
        return;
    ckeras_tensor *xs[CK_MAX_NODE_INPUTS] = {0};
    bool ok = true;
    for (int j = 0; j < nin && ok; j++) {
        const ck_shape *s = &m->g.inputs[j];
        int64_t n = 1;
        for (int a = 0; a < s->ndim; a++)
            n = s->d[a] > 0 && n <= ((int64_t)1 << 16) / s->d[a] ? n * s->d[a] : -1;
        if (s->ndim < 1 || s->ndim + 1 > CKERAS_MAX_DIMS || n <= 0)
            ok = false;
        else {
            int64_t shape[CKERAS_MAX_DIMS] = {1};
            memcpy(shape + 1, s->d, (size_t)s->ndim * sizeof(int64_t));
            xs[j] = ckeras_tensor_new(s->ndim + 1, shape);
            ok = xs[j] != NULL;
        }
    }
    ckeras_tensor *y = NULL;
    if (ok)
        ckeras_model_predict_multi(m, nin, (const ckeras_tensor *const *)xs, 1, &y);
    ckeras_tensor_free(y);
    for (int j = 0; j < nin; j++)
        ckeras_tensor_free(xs[j]);
}

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
