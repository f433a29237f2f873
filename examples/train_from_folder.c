/* A small CNN trained on a folder of photos, one subfolder per class, read batch by batch
 * (nothing but the current batch is decoded and held in memory):
 *
 *   Keras                                                  ckeras
 *   train = image_dataset_from_directory(dir,              ckeras_image_dataset_from_directory(dir,
 *       validation_split=0.2, subset="training",               "int", "rgb", 32, 32, 1, 1337, 0.2,
 *       seed=1337, image_size=(32, 32))                        "training", &train)
 *   val = image_dataset_from_directory(..., subset="validation")     ... "validation", &val)
 *   model = Sequential([Input((32, 32, 3)),
 *       Rescaling(1/255),                                  ckeras_rescaling(1.0 / 255, 0)
 *       Conv2D(8, 3, activation="relu"), MaxPooling2D(),   ckeras_conv2d(8, 3, 3, "relu"), ...
 *       Conv2D(16, 3, activation="relu"), MaxPooling2D(),
 *       Flatten(), Dense(2, activation="softmax")])
 *   model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
 *   model.fit(train, validation_data=val, epochs=15)       ckeras_model_fit_source(m, train, args, &h)
 *
 * The folder: `make train-from-folder` makes examples/fashion_album (100 Fashion-MNIST images,
 * trousers and bags, PNG and JPEG: examples/make_fashion_album.py) and runs this program on it.
 * Run: ./train_from_folder [folder] [epochs]
 */
#include <ckeras.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "train_from_folder: %s\n", ckeras_last_error());                                 \
            return 1;                                                                                        \
        }                                                                                                    \
    } while (0)

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "fashion_album";
    int epochs = argc > 2 ? atoi(argv[2]) : 15;
    ckeras_data_source *train = NULL, *val = NULL;
    CHECK(ckeras_image_dataset_from_directory(dir, "int", "rgb", 32, 32, 1, 1337, 0.2, "training", &train));
    CHECK(ckeras_image_dataset_from_directory(dir, "int", "rgb", 32, 32, 1, 1337, 0.2, "validation", &val));
    printf("Found %lld files belonging to %d classes (", (long long)(ckeras_data_source_count(train) +
                                                                   ckeras_data_source_count(val)),
           ckeras_data_source_class_count(train));
    for (int i = 0; i < ckeras_data_source_class_count(train); i++)
        printf("%s%s", i ? ", " : "", ckeras_data_source_class_name(train, i));
    printf(").\nUsing %lld files for training, %lld for validation.\n", (long long)ckeras_data_source_count(train),
           (long long)ckeras_data_source_count(val));

    ckeras_set_random_seed(1);
    ckeras_model *m = ckeras_sequential("folder_cnn");
    CHECK(ckeras_model_add(m, ckeras_input(3, (const int64_t[]){32, 32, 3})));
    CHECK(ckeras_model_add(m, ckeras_rescaling(1.0 / 255, 0)));
    CHECK(ckeras_model_add(m, ckeras_conv2d(8, 3, 3, "relu")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, ckeras_conv2d(16, 3, 3, "relu")));
    CHECK(ckeras_model_add(m, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(m, ckeras_flatten()));
    CHECK(ckeras_model_add(m, ckeras_dense(ckeras_data_source_class_count(train), "softmax")));
    CHECK(ckeras_model_compile(m, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));

    ckeras_fit_args *args = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_int(args, "epochs", epochs));
    CHECK(ckeras_fit_args_set_int(args, "batch_size", 16));
    CHECK(ckeras_fit_args_set_int(args, "verbose", 2));
    CHECK(ckeras_fit_args_set_validation_source(args, val));
    ckeras_history *h = NULL;
    CHECK(ckeras_model_fit_source(m, train, args, &h));

    double res[2];
    CHECK(ckeras_model_evaluate_source(m, val, 32, res, 2));
    printf("validation: loss %.4f, accuracy %.3f\n", res[0], res[1]);
    ckeras_history_free(h);
    ckeras_fit_args_free(args);
    ckeras_model_free(m);
    ckeras_data_source_free(train);
    ckeras_data_source_free(val);
    return 0;
}
