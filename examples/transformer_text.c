/* A small transformer text classifier in C with ckeras: the model of Keras' guide "Text
 * classification with Transformer", written with built-in layers (the guide's
 * TokenAndPositionEmbedding and TransformerBlock subclasses, as functional layers).
 *
 *   Keras                                                   ckeras
 *   tok = Embedding(vocab, dim)(tokens)                     ckeras_embedding(vocab, dim)
 *   pos = Embedding(maxlen, dim)(positions)                 (the positions 0..maxlen-1 are an input)
 *   x = Add()([tok, pos])                                   ckeras_add()
 *   a = MultiHeadAttention(num_heads=2, key_dim=dim)(x, x)  ckeras_layer_from_config("MultiHeadAttention",
 *                                                             ...) called on (x, x)
 *   x = LayerNormalization(epsilon=1e-6)(x + Dropout(a))    Dropout, Add, LayerNormalization
 *   f = Dense(dim)(Dense(ff, activation="relu")(x))         the feed-forward block, the same way
 *   x = LayerNormalization(epsilon=1e-6)(x + Dropout(f))
 *   x = GlobalAveragePooling1D()(x); Dropout;               the head
 *   Dense(20, relu); Dropout; Dense(2, softmax)
 *   compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"]); fit; evaluate
 *   model.save("transformer_text.h5")                       ckeras_model_save(m, ..., CKERAS_SAVE_KERAS3)
 *
 * Data: a synthetic task, made here from a seeded generator: sequences of 10 tokens from 1..15;
 * the label says whether token 3 comes before token 5 in the sequence (both appear once), which
 * needs positions and a comparison across the sequence: what attention is for.
 *
 * Build (from the source root): make examples/transformer_text (or, installed:
 *   cc -O2 transformer_text.c $(pkg-config --cflags --libs ckeras)).
 * Run: ./transformer_text [out.h5]. It writes the model (Keras 3 .h5 layout: real Keras loads it)
 * and transformer_text_check.npz (the test inputs and ckeras' predictions of them) beside it, so
 * that Keras' predictions of the saved model can be compared with ckeras' own.
 */
#include <ckeras.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "transformer_text: %s\n", ckeras_last_error());                                 \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

enum { MAXLEN = 10, VOCAB = 16, DIM = 16, HEADS = 2, FF = 32, N_TRAIN = 1024, N_TEST = 256 };

static uint64_t state = 20261204;

static unsigned rnd(unsigned n)
{
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((state >> 33) % n);
}

/* n sequences: tokens (n, MAXLEN) in 1..VOCAB-1 with exactly one 3 and one 5, positions (n,
 * MAXLEN) = 0..MAXLEN-1, labels (n, 1) = 1 when the 3 comes first */
static void make_data(int n, ckeras_tensor **tok, ckeras_tensor **pos, ckeras_tensor **lab)
{
    int64_t ts[2] = {n, MAXLEN}, ls[2] = {n, 1};
    *tok = ckeras_tensor_new(2, ts);
    *pos = ckeras_tensor_new(2, ts);
    *lab = ckeras_tensor_new(2, ls);
    if (!*tok || !*pos || !*lab) {
        fprintf(stderr, "transformer_text: %s\n", ckeras_last_error());
        exit(1);
    }
    float *t = ckeras_tensor_data(*tok), *p = ckeras_tensor_data(*pos), *y = ckeras_tensor_data(*lab);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < MAXLEN; j++) {
            unsigned v;
            do
                v = 1 + rnd(VOCAB - 1);
            while (v == 3 || v == 5);
            t[i * MAXLEN + j] = (float)v;
            p[i * MAXLEN + j] = (float)j;
        }
        unsigned a = rnd(MAXLEN), b;
        do
            b = rnd(MAXLEN);
        while (b == a);
        t[i * MAXLEN + a] = 3.0f;
        t[i * MAXLEN + b] = 5.0f;
        y[i] = a < b ? 1.0f : 0.0f;
    }
}

static int call(ckeras_model *m, ckeras_layer *l, int n, const int *in)
{
    int id;
    if (ckeras_model_call(m, l, n, in, &id) != CKERAS_OK) {
        fprintf(stderr, "transformer_text: %s\n", ckeras_last_error());
        exit(1);
    }
    return id;
}

static ckeras_layer *cfg(const char *cls, const char *json)
{
    ckeras_layer *l = ckeras_layer_from_config(cls, json);
    if (!l) {
        fprintf(stderr, "transformer_text: %s\n", ckeras_last_error());
        exit(1);
    }
    return l;
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "transformer_text.h5";
    ckeras_set_random_seed(1234);
    ckeras_tensor *tok, *pos, *lab, *ttok, *tpos, *tlab;
    make_data(N_TRAIN, &tok, &pos, &lab);
    make_data(N_TEST, &ttok, &tpos, &tlab);

    ckeras_model *m = ckeras_functional("transformer_text");
    int tokens, positions;
    if (ckeras_model_input(m, cfg("InputLayer", "{\"shape\": [10], \"name\": \"tokens\"}"), &tokens) != CKERAS_OK ||
        ckeras_model_input(m, cfg("InputLayer", "{\"shape\": [10], \"name\": \"positions\"}"), &positions) != CKERAS_OK) {
        fprintf(stderr, "transformer_text: %s\n", ckeras_last_error());
        return 1;
    }
    int te = call(m, ckeras_embedding(VOCAB, DIM), 1, &tokens);
    int pe = call(m, ckeras_embedding(MAXLEN, DIM), 1, &positions);
    int x = call(m, ckeras_add(), 2, (const int[]){te, pe});
    /* the transformer block */
    int a = call(m, cfg("MultiHeadAttention", "{\"num_heads\": 2, \"key_dim\": 16}"), 2, (const int[]){x, x});
    a = call(m, ckeras_dropout(0.1), 1, &a);
    int s = call(m, ckeras_add(), 2, (const int[]){x, a});
    int x1 = call(m, cfg("LayerNormalization", "{\"epsilon\": 1e-6}"), 1, &s);
    int f = call(m, ckeras_dense(FF, "relu"), 1, &x1);
    f = call(m, ckeras_dense(DIM, NULL), 1, &f);
    f = call(m, ckeras_dropout(0.1), 1, &f);
    s = call(m, ckeras_add(), 2, (const int[]){x1, f});
    int x2 = call(m, cfg("LayerNormalization", "{\"epsilon\": 1e-6}"), 1, &s);
    /* the head */
    int h = call(m, cfg("GlobalAveragePooling1D", "{}"), 1, &x2);
    h = call(m, ckeras_dropout(0.1), 1, &h);
    h = call(m, ckeras_dense(20, "relu"), 1, &h);
    h = call(m, ckeras_dropout(0.1), 1, &h);
    int y = call(m, ckeras_dense(2, "softmax"), 1, &h);
    CHECK(ckeras_model_set_outputs(m, 1, &y));
    CHECK(ckeras_model_compile(m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
    CHECK(ckeras_model_summary(m, 0, NULL));

    ckeras_fit_args *fa = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_int(fa, "epochs", 30));
    CHECK(ckeras_fit_args_set_int(fa, "batch_size", 32));
    CHECK(ckeras_fit_args_set_float(fa, "validation_split", 0.1));
    const ckeras_tensor *xs[2] = {tok, pos}, *txs[2] = {ttok, tpos};
    ckeras_history *hist = NULL;
    CHECK(ckeras_model_fit_multi(m, 2, xs, 1, (const ckeras_tensor *const[]){lab}, fa, &hist));
    ckeras_fit_args_free(fa);
    ckeras_history_free(hist);

    double results[4] = {0};
    CHECK(ckeras_model_evaluate_multi(m, 2, txs, 1, (const ckeras_tensor *const[]){tlab}, 32, results, 4));
    printf("test loss %.4f, test accuracy %.4f\n", results[0], results[1]);

    /* Keras 3's .h5 layout (query, value as MultiHeadAttention's own arguments): real Keras loads it */
    CHECK(ckeras_model_save(m, out, CKERAS_SAVE_KERAS3));
    ckeras_tensor *pred = NULL;
    CHECK(ckeras_model_predict_multi(m, 2, txs, 32, &pred));
    char npz[512];
    snprintf(npz, sizeof npz, "%.*s_check.npz", (int)(strlen(out) > 3 && !strcmp(out + strlen(out) - 3, ".h5")
                                                             ? strlen(out) - 3 : strlen(out)), out);
    CHECK(ckeras_write_npz(npz, 3, (const char *const[]){"tokens", "positions", "pred"},
                           (const ckeras_tensor *const[]){ttok, tpos, pred}));
    printf("saved %s and %s\n", out, npz);

    ckeras_tensor_free(pred);
    ckeras_model_free(m);
    ckeras_tensor_free(tok);
    ckeras_tensor_free(pos);
    ckeras_tensor_free(lab);
    ckeras_tensor_free(ttok);
    ckeras_tensor_free(tpos);
    ckeras_tensor_free(tlab);
    return 0;
}
