/* Shared by the fuzz targets that build models (fuzz_load_model.c, fuzz_load_keras.c,
 * fuzz_model_json.c). */
#ifndef CK_FUZZ_MODEL_H
#define CK_FUZZ_MODEL_H

#include "model/model.h"

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

/* The file targets: the input written to a scratch file named with ext, load_model, summary,
 * load_weights of the same file into the loaded model with weight_flags, one predict. */
static inline int fuzz_load_file(const uint8_t *data, size_t size, const char *tag, const char *ext,
                                  int weight_flags)
{
    ck_alloc_set_limit(FUZZ_ALLOC_LIMIT);
    const char *path = fuzz_write_temp(tag, ext, data, size);
    if (!path)
        return 0;
    ckeras_model *m = NULL;
    if (ckeras_load_model(path, 0, &m) == CKERAS_OK) {
        char *text = NULL;
        if (ckeras_model_summary_string(m, 0, &text) == CKERAS_OK)
            ckeras_free(text);
        ckeras_model_load_weights(m, path, weight_flags);
        fuzz_model_poke(m);
    }
    ckeras_model_free(m);
    unlink(path);
    return 0;
}

#endif
