/* The classic Keras binary classifier, in C with ckeras.
 *
 *   Keras                                              ckeras
 *   model = Sequential()                               ckeras_sequential(NULL)
 *   model.add(Dense(100, activation='relu',            ckeras_input(...) + ckeras_dense(100, "relu")
 *                   input_shape=(n_cols,)))
 *   model.add(Dense(50, activation='relu'))  x2        ckeras_dense(50, "relu")
 *   model.add(Dense(1, activation='sigmoid'))          ckeras_dense(1, "sigmoid")
 *   model.compile(optimizer='adam', loss=              ckeras_model_compile(m, ckeras_adam(1e-3),
 *       'binary_crossentropy', metrics=['accuracy'])       "binary_crossentropy", "accuracy,precision")
 *   model.fit(X, y, validation_split=0.2,              ckeras_model_fit(m, x, y, args, &history)
 *             epochs=100, callbacks=[EarlyStopping(patience=5)])
 *   model.save('model_file.h5')                        ckeras_model_save(m, "model_file.h5", 0)
 *   my_model = load_model('model_file.h5')             ckeras_load_model("model_file.h5", 0, &my_model)
 *
 * Data: Breast Cancer Wisconsin (Diagnostic), data/breast_cancer.csv (see data/README.md).
 * Run from the examples folder: ./seed_mlp [path/to/breast_cancer.csv]
 */
#include <ckeras.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "seed_mlp: %s\n", ckeras_last_error());                                          \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    const char *csv = argc > 1 ? argv[1] : "data/breast_cancer.csv";
    ckeras_set_random_seed(1234);

    /* data: read, hold out a test set, standardise with statistics of the training part only */
    ckeras_tensor *x = NULL, *y = NULL, *x_train = NULL, *x_test = NULL, *y_train = NULL, *y_test = NULL;
    CHECK(ckeras_read_csv(csv, &x, &y));
    CHECK(ckeras_train_test_split(x, y, 0.2, 42, &x_train, &x_test, &y_train, &y_test));
    ckeras_scaler *scaler = ckeras_standard_scaler_fit(x_train);
    if (!scaler) {
        fprintf(stderr, "seed_mlp: %s\n", ckeras_last_error());
        return 1;
    }
    CHECK(ckeras_standard_scaler_transform(scaler, x_train));
    CHECK(ckeras_standard_scaler_transform(scaler, x_test));
    int64_t n_cols = ckeras_tensor_dim(x_train, 1);
    printf("breast cancer: %lld training and %lld test samples, %lld features\n",
           (long long)ckeras_tensor_dim(x_train, 0), (long long)ckeras_tensor_dim(x_test, 0), (long long)n_cols);

    /* the model */
    ckeras_model *model = ckeras_sequential(NULL);
    CHECK(ckeras_model_add(model, ckeras_input(1, &n_cols)));
    CHECK(ckeras_model_add(model, ckeras_dense(100, "relu")));
    CHECK(ckeras_model_add(model, ckeras_dense(50, "relu")));
    CHECK(ckeras_model_add(model, ckeras_dense(50, "relu")));
    CHECK(ckeras_model_add(model, ckeras_dense(1, "sigmoid")));
    CHECK(ckeras_model_compile(model, ckeras_adam(1e-3), "binary_crossentropy", "accuracy,precision"));
    CHECK(ckeras_model_summary(model, 0, NULL));

    /* fit with validation_split=0.2, epochs=100, EarlyStopping(patience=5) */
    ckeras_callback *early_stopping = ckeras_early_stopping("val_loss", 5);
    ckeras_fit_args *args = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_float(args, "validation_split", 0.2));
    CHECK(ckeras_fit_args_set_int(args, "epochs", 100));
    CHECK(ckeras_fit_args_set_int(args, "verbose", 2));
    CHECK(ckeras_fit_args_add_callback(args, early_stopping));
    ckeras_history *history = NULL;
    CHECK(ckeras_model_fit(model, x_train, y_train, args, &history));
    int stopped = ckeras_early_stopping_stopped_epoch(early_stopping);
    if (stopped > 0)
        printf("early stopping: stopped after epoch %d (val_loss did not improve for 5 epochs)\n", stopped + 1);
    else
        printf("early stopping: did not trigger; ran %d epochs\n", ckeras_history_epochs(history));

    /* evaluate on the held-out test set */
    double results[3];
    CHECK(ckeras_model_evaluate(model, x_test, y_test, 32, results, 3));
    printf("test: loss %.4f, %s %.4f, %s %.4f\n", results[0], ckeras_model_metrics_name(model, 1), results[1],
           ckeras_model_metrics_name(model, 2), results[2]);

    /* model.save('model_file.h5'); my_model = load_model('model_file.h5') */
    CHECK(ckeras_model_save(model, "model_file.h5", 0));
    ckeras_model *my_model = NULL;
    CHECK(ckeras_load_model("model_file.h5", 0, &my_model));
    ckeras_tensor *p1 = NULL, *p2 = NULL;
    CHECK(ckeras_model_predict(model, x_test, 32, &p1));
    CHECK(ckeras_model_predict(my_model, x_test, 32, &p2));
    int64_t n_test = ckeras_tensor_size(p1), same = 0;
    for (int64_t i = 0; i < n_test; i++)
        same += ckeras_tensor_data(p1)[i] == ckeras_tensor_data(p2)[i];
    printf("saved model_file.h5 and loaded it back: %lld of %lld test predictions identical\n", (long long)same,
           (long long)n_test);
    double reloaded[3];
    CHECK(ckeras_model_evaluate(my_model, x_test, y_test, 32, reloaded, 3));
    printf("reloaded model, test: loss %.4f, %s %.4f, %s %.4f\n", reloaded[0], ckeras_model_metrics_name(my_model, 1),
           reloaded[1], ckeras_model_metrics_name(my_model, 2), reloaded[2]);
    ckeras_tensor_free(p1);
    ckeras_tensor_free(p2);
    ckeras_model_free(my_model);

    ckeras_history_free(history);
    ckeras_fit_args_free(args);
    ckeras_callback_free(early_stopping);
    ckeras_model_free(model);
    ckeras_standard_scaler_free(scaler);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    ckeras_tensor_free(x_train);
    ckeras_tensor_free(x_test);
    ckeras_tensor_free(y_train);
    ckeras_tensor_free(y_test);
    return results[1] >= 0.9 && same == n_test ? 0 : 2;
}
