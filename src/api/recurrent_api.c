/* Typed constructors of the recurrent layers and Embedding: argument checks, then the layer's
 * Keras config (the layers are in src/layers/recurrent.c and src/layers/embedding.c). */
#include "layers/layers.h"

#include <stdio.h>
#include <string.h>

static ckeras_layer *rnn(const char *cls, const char *fn, int64_t units, int return_sequences)
{
    if (units <= 0) {
        ck_error(CKERAS_EINVAL, "%s: units must be > 0, got %lld", fn, (long long)units);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class(cls);
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_int(&l->cfg, cls, "units", units);
    if (st == CKERAS_OK)
        st = ck_config_set_bool(&l->cfg, cls, "return_sequences", return_sequences != 0);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_layer *ckeras_lstm(int64_t units, int return_sequences)
{
    return rnn("LSTM", "lstm", units, return_sequences);
}

CKERAS_API ckeras_layer *ckeras_gru(int64_t units, int return_sequences)
{
    return rnn("GRU", "gru", units, return_sequences);
}

CKERAS_API ckeras_layer *ckeras_simple_rnn(int64_t units, int return_sequences)
{
    return rnn("SimpleRNN", "simple_rnn", units, return_sequences);
}

CKERAS_API ckeras_layer *ckeras_bidirectional(ckeras_layer *layer, const char *merge_mode)
{
    if (!layer) {
        ck_error(CKERAS_EINVAL, "bidirectional: layer is NULL (did its constructor fail? %s)", ckeras_last_error());
        return NULL;
    }
    if (layer->owned) {
        ck_error(CKERAS_EINVAL, "bidirectional: layer '%s' already belongs to a model", layer->name);
        return NULL;
    }
    const char *cls = layer->vt->class_name;
    if (strcmp(cls, "LSTM") != 0 && strcmp(cls, "GRU") != 0 && strcmp(cls, "SimpleRNN") != 0) {
        ck_error(CKERAS_EINVAL, "bidirectional: can wrap LSTM, GRU or SimpleRNN, not %s", cls);
        ck_layer_free(layer);
        return NULL;
    }
    /* the wrapped layer lives on as its Keras config {"class_name", "config"} */
    ck_tree *spec = ck_tree_object();
    if (spec && (ck_tree_set(spec, "class_name", ck_tree_str(cls)) != CKERAS_OK ||
                 ck_tree_set(spec, "config", ck_config_to_tree(&layer->cfg, layer->name[0] ? layer->name
                                                                                       : layer->vt->base_name,
                                                               layer->trainable, CK_PROFILE_TF2)) != CKERAS_OK)) {
        ck_tree_free(spec);
        spec = NULL;
    }
    ck_layer_free(layer);
    ckeras_layer *l = spec ? ck_layer_new_by_class("Bidirectional") : NULL;
    if (!l) {
        if (!spec)
            ck_error(CKERAS_ENOMEM, "bidirectional: out of memory");
        ck_tree_free(spec);
        return NULL;
    }
    ckeras_status st = ck_config_set_tree(&l->cfg, "Bidirectional", "layer", spec);
    ck_tree_free(spec);
    if (st == CKERAS_OK && merge_mode)
        st = ck_config_set_str(&l->cfg, "Bidirectional", "merge_mode", merge_mode);
    return ck_layer_or_free(l, st);
}

CKERAS_API ckeras_layer *ckeras_embedding(int64_t input_dim, int64_t output_dim)
{
    if (input_dim <= 0 || output_dim <= 0) {
        ck_error(CKERAS_EINVAL, "embedding: input_dim and output_dim must be > 0, got %lld and %lld",
                 (long long)input_dim, (long long)output_dim);
        return NULL;
    }
    ckeras_layer *l = ck_layer_new_by_class("Embedding");
    if (!l)
        return NULL;
    ckeras_status st = ck_config_set_int(&l->cfg, "Embedding", "input_dim", input_dim);
    if (st == CKERAS_OK)
        st = ck_config_set_int(&l->cfg, "Embedding", "output_dim", output_dim);
    return ck_layer_or_free(l, st);
}
