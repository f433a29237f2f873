/* Transfer learning and fine-tuning, as Keras' guide does it (keras.io/guides/transfer_learning),
 * in C with ckeras. A CNN pretrained on Fashion-MNIST classes 0-4 (T-shirt, trouser, pullover,
 * dress, coat) stands in for the ImageNet weights; the new task is classes 5-9 (sandal, shirt,
 * sneaker, bag, ankle boot) from only 100 labelled images, 20 per class.
 *
 *   Keras                                                  ckeras
 *   # 1. the "pretrained" model, trained behind the augmentation, saved
 *   def block(x, filters, p):                              conv_block(m, x, filters, p):
 *       x = Conv2D(filters, 3, padding='same',               ckeras_conv2d(filters, 3, 3, NULL) + "padding",
 *                  use_bias=False, name=p + '_conv')(x)          "use_bias", ckeras_layer_set_name()
 *       x = BatchNormalization(momentum=0.9,                 ckeras_batch_normalization() + "momentum"
 *                              name=p + '_bn')(x)
 *       return Activation('relu', name=p + '_activation')(x) ckeras_activation("relu")
 *   inputs = Input((28, 28, 1))                            pre = ckeras_functional("pretrained"), base_layers():
 *   x = Rescaling(1 / 255)(inputs)                         ckeras_rescaling(1 / 255.0, 0)
 *   x = MaxPooling2D()(block(x, 32, 'block1'))             ckeras_max_pooling2d(2, 2)
 *   x = MaxPooling2D()(block(x, 64, 'block2'))
 *   x = block(x, 128, 'top')
 *   x = GlobalAveragePooling2D()(x)                        ckeras_global_average_pooling2d()
 *   x = Dropout(0.5)(Dense(256, activation='relu',         ckeras_dense(256, "relu"), ckeras_dropout(0.5)
 *                          name='fc')(x))
 *   pre = Model(inputs, Dense(5, activation='softmax')(x)) ckeras_dense(5, "softmax")
 *   augment = Sequential([RandomFlip('horizontal'),        augment(): ckeras_random_flip("horizontal"),
 *       RandomRotation(0.02, interpolation='nearest'),       ckeras_random_rotation(0.02) + "interpolation",
 *       RandomZoom(0.1, interpolation='nearest')])           ckeras_random_zoom(0.1, NAN) + "interpolation"
 *   inputs = Input((28, 28, 1))                            trainer = ckeras_functional("pretraining")
 *   trainer = Model(inputs, pre(augment(inputs)))          ckeras_model_call_model(trainer, pre, 1, &x, -1, &x)
 *   trainer.compile(Adam(1e-3), 'sparse_categorical_crossentropy', metrics=['accuracy'])
 *   trainer.fit(x_0_4, y_0_4, batch_size=64, epochs=6)     ckeras_model_fit(trainer, x_old, y_old, args, &h)
 *   pre.save('pretrained.h5')                              ckeras_model_save(pre, "pretrained.h5", 0)
 *
 *   # 2. the base: the loaded model up to its top block's output, frozen
 *   pre = keras.models.load_model('pretrained.h5')         ckeras_load_model("pretrained.h5", 0, &pre)
 *   base_model = Model(pre.inputs,                         ckeras_model_from_tensors(pre, 1, &in, 1, &out, "base")
 *                      pre.get_layer('top_activation').output)  in: ckeras_model_input_tensor(pre, 0, &in)
 *                                                              out: ckeras_model_layer_output_by_name(pre, "top_activation", &out)
 *   base_model.trainable = False                           ckeras_model_set_trainable(base, 0)
 *
 *   # 3. a new model on top
 *   inputs = Input((28, 28, 1))                            ckeras_model_input(m, ckeras_input(...), &x)
 *   x = augment(inputs)                                    augment(m, x): the same three layers
 *   x = base_model(x, training=False)                      ckeras_model_call_model(m, base, 1, &x, 0, &x)
 *   x = GlobalAveragePooling2D()(x)                        ckeras_global_average_pooling2d()
 *   x = Dropout(0.2)(x)                                    ckeras_dropout(0.2)
 *   outputs = Dense(5, activation='softmax')(x)            ckeras_dense(5, "softmax")
 *   model = Model(inputs, outputs)                         ckeras_model_set_outputs(m, 1, &out)
 *   model.compile(Adam(1e-2), 'sparse_categorical_crossentropy', metrics=['accuracy'])
 *   model.fit(x_100, y_100, epochs=80, batch_size=16)      ckeras_model_fit(m, x_few, y_few, args, &h)
 *
 *   # 4. fine-tuning: unfreeze the top block, recompile with a 10x lower learning rate
 *   pre.get_layer('top_conv').trainable = True             ckeras_layer_set_trainable(
 *   pre.get_layer('top_bn').trainable = True                   ckeras_model_layer_by_name(pre, "top_conv"), 1), top_bn
 *   model.compile(Adam(1e-3), ...)                         ckeras_model_compile(m, ckeras_adam(1e-3), ...)
 *   model.fit(x_100, y_100, epochs=80, batch_size=16)
 *
 * The Rescaling layer belongs to the pretrained model (the base takes raw 0..255 pixels, as some of
 * Keras' applications include their preprocessing), so the augmentation layers work on raw pixels.
 * The pretrained model ends in GlobalAveragePooling2D as ImageNet classifiers do: its top block's
 * features are then made to be pooled, which is what the new head does (a Flatten head gave
 * features that transfer worse through GlobalAveragePooling2D). Its classifier has a hidden
 * layer, fc (Dense(256) and Dropout(0.5)), which the cut leaves behind, as VGG's fully connected
 * layers are: without it the top block's own features had to separate the five old classes, and
 * carried less for the new ones (the frozen stage scored 3 points lower, mean of seven draws). Its blocks have
 * BatchNormalization, as those classifiers do, which is why the guide calls the base with
 * training=False: the frozen base normalises with the moving statistics of the pretraining, and
 * still does when top_bn is unfrozen for fine-tuning (its gamma and beta train, its statistics
 * stay), where batches of 16 augmented images would otherwise replace them.
 *
 * What the choices are for, measured over five draws of the 100 images (README.md):
 * - the augmentation suits 28x28 images: Keras' guide rotates its 150x150 photos by up to
 *   RandomRotation(0.1), 36 degrees, which on these small upright items cost the frozen stage
 *   about 7 points (0.72 against 0.79 without augmentation); 0.02 of a turn is 7 degrees. The
 *   layers' default bilinear resampling blurs every training image of 28x28 pixels and no test
 *   image: interpolation="nearest" gave the fine-tuned model 0.879 against 0.853 (mean of five
 *   draws), and the from-scratch network (at Adam(1e-2)) 0.852 against 0.840;
 * - the base is pretrained behind the same augmentation, so its features already expect it; its
 *   top block has 128 filters (64 gave the new head fewer features to choose from), and
 *   BatchNormalization in its blocks gave the fine-tuned model 0.897 against 0.879 without;
 *   its momentum is 0.9, not 0.99: with Adam moving the weights, moving statistics that average
 *   the last ~100 batches lagged them, and the pretrained model scored 0.69 on classes 0-4 in
 *   inference (0.91 in training); 0.9 averages ~10 and also steadies the from-scratch network;
 * - the head's learning rate is 1e-2, not Keras' default 1e-3: a 645-weight head on 100 images
 *   (7 steps an epoch) with Dropout and augmentation barely moves at 1e-3; it gets 80 epochs
 *   (40 left the frozen stage 5 points lower, and fine-tuning from an unconverged head at 1e-3
 *   was unstable), and fine-tuning 80, 160 in all.
 * Two baselines: the same network trained from scratch on the same 100 images, with the same
 * augmentation, for as many epochs in all, at Adam(3e-3), its best rate (without
 * BatchNormalization: 0.852, 0.873, 0.852 and diverging at 1e-3, 3e-3, 1e-2 and 3e-2, mean of
 * five draws), and the frozen base with the same head but no augmentation and no fine-tuning.
 * With BatchNormalization the from-scratch network is the unsteady one: trained on 100 images it
 * scores 0.57 to 0.88 depending on the draw, where the recipe stays within 0.887-0.908 (nine
 * draws, README.md), ahead on every one. The
 * pretrained model can be reused: pretrain epochs 0 loads pretrained.h5.
 *
 * Data: Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), or a folder
 * with the four IDX files given as the first argument (see examples/fashion_cnn.c).
 * Run: make transfer
 *   (or ./transfer_learning [data folder] [pretrain epochs, 6; 0 = load pretrained.h5] [head
 *    epochs, 80] [fine-tune epochs, 80] [max images, 0] [threads, 0] [seed, 42]; max images caps
 *    the pretraining and test sets, 0 = all; threads 0 = all cores; seed picks the 100 images)
 */
#include <ckeras.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define PER_CLASS 20 /* 5 classes x 20 = the 100 labelled images of the new task */
#define BATCH 16
#define LR 1e-2         /* the new head's learning rate; fine-tuning: LR / 10 */
#define SCRATCH_LR 3e-3 /* the from-scratch network's: its best among 1e-3, 3e-3, 1e-2 and 3e-2 */
#define TOP_FILTERS 128 /* filters of the top block */

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "transfer_learning: %s (line %d)\n", ckeras_last_error(), __LINE__);             \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* splitmix64: the example's own seeded generator, to pick the 100 images */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* The images idx[0..n) of x (n_all, 28, 28) as (n, 28, 28, 1), labels minus label_offset. */
static void take(ckeras_tensor *x, ckeras_tensor *y, const int64_t *idx, int64_t n, int label_offset,
                 ckeras_tensor **xs, ckeras_tensor **ys)
{
    *xs = ckeras_tensor_new(4, (const int64_t[]){n, 28, 28, 1});
    *ys = ckeras_tensor_new(1, (const int64_t[]){n});
    if (!*xs || !*ys)
        CHECK(CKERAS_ENOMEM);
    const float *px = ckeras_tensor_data(x), *py = ckeras_tensor_data(y);
    float *dx = ckeras_tensor_data(*xs), *dy = ckeras_tensor_data(*ys);
    for (int64_t i = 0; i < n; i++) {
        memcpy(dx + i * 784, px + idx[i] * 784, 784 * sizeof(float));
        dy[i] = py[idx[i]] - (float)label_offset;
    }
}

/* Every image of x with a label in [lo, hi], at most max (0: all), labels minus lo. */
static void select_classes(ckeras_tensor *x, ckeras_tensor *y, int lo, int hi, int64_t max, ckeras_tensor **xs,
                           ckeras_tensor **ys)
{
    const int64_t n_all = ckeras_tensor_dim(y, 0);
    const float *py = ckeras_tensor_data(y);
    int64_t *idx = malloc((size_t)n_all * sizeof *idx), n = 0;
    if (!idx)
        CHECK(CKERAS_ENOMEM);
    for (int64_t i = 0; i < n_all && (max <= 0 || n < max); i++)
        if (py[i] >= (float)lo && py[i] <= (float)hi)
            idx[n++] = i;
    take(x, y, idx, n, lo, xs, ys);
    free(idx);
}

/* PER_CLASS training images of each class 5..9, picked by a seeded shuffle of the training set. */
static void few_shot(ckeras_tensor *x, ckeras_tensor *y, uint64_t seed, ckeras_tensor **xs, ckeras_tensor **ys)
{
    const int64_t n_all = ckeras_tensor_dim(y, 0);
    const float *py = ckeras_tensor_data(y);
    int64_t *order = malloc((size_t)n_all * sizeof *order), idx[5 * PER_CLASS], n = 0;
    int count[5] = {0};
    if (!order)
        CHECK(CKERAS_ENOMEM);
    for (int64_t i = 0; i < n_all; i++)
        order[i] = i;
    for (int64_t i = n_all - 1; i > 0; i--) { /* Fisher-Yates */
        const int64_t j = (int64_t)(next_random(&seed) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int64_t k = 0; k < n_all && n < 5 * PER_CLASS; k++) {
        const int c = (int)py[order[k]] - 5;
        if (c >= 0 && c < 5 && count[c] < PER_CLASS) {
            count[c]++;
            idx[n++] = order[k];
        }
    }
    free(order);
    /* class by class, as a labelled set would come; fit shuffles */
    int64_t sorted[5 * PER_CLASS], m = 0;
    for (int c = 5; c <= 9; c++)
        for (int64_t i = 0; i < n; i++)
            if ((int)py[idx[i]] == c)
                sorted[m++] = idx[i];
    take(x, y, sorted, m, 5, xs, ys);
}

static ckeras_layer *named(ckeras_layer *l, const char *prefix, const char *suffix)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%s", prefix, suffix);
    CHECK(ckeras_layer_set_name(l, name));
    return l;
}

/* One block as Keras' applications build them: Conv2D(filters, 3, padding='same', use_bias=False,
 * name=p+'_conv'), BatchNormalization(name=p+'_bn'), Activation('relu', name=p+'_activation'). */
static int conv_block(ckeras_model *m, int x, int64_t filters, const char *p)
{
    ckeras_layer *conv = ckeras_conv2d(filters, 3, 3, NULL);
    CHECK(ckeras_layer_set_str(conv, "padding", "same"));
    CHECK(ckeras_layer_set_bool(conv, "use_bias", 0));
    CHECK(ckeras_model_call(m, named(conv, p, "conv"), 1, &x, &x));
    ckeras_layer *bn = ckeras_batch_normalization();
    CHECK(ckeras_layer_set_float(bn, "momentum", 0.9));
    CHECK(ckeras_model_call(m, named(bn, p, "bn"), 1, &x, &x));
    CHECK(ckeras_model_call(m, named(ckeras_activation("relu"), p, "activation"), 1, &x, &x));
    return x;
}

/* The augmentation, for 28x28 images: milder than the guide's (7 degrees, not 36) and resampled
 * with interpolation="nearest", as bilinear resampling blurs such small images (every training
 * image, never a test image). Used in the pretraining, the transfer model and the from-scratch
 * network alike. */
static int augment(ckeras_model *m, int x)
{
    ckeras_layer *rotation = ckeras_random_rotation(0.02), *zoom = ckeras_random_zoom(0.1, NAN);
    CHECK(ckeras_layer_set_str(rotation, "interpolation", "nearest"));
    CHECK(ckeras_layer_set_str(zoom, "interpolation", "nearest"));
    CHECK(ckeras_model_call(m, ckeras_random_flip("horizontal"), 1, &x, &x));
    CHECK(ckeras_model_call(m, rotation, 1, &x, &x));
    CHECK(ckeras_model_call(m, zoom, 1, &x, &x));
    return x;
}

/* The pretrained network's layers up to its top block, on raw 0..255 pixels. */
static int base_layers(ckeras_model *m, int x)
{
    CHECK(ckeras_model_call(m, ckeras_rescaling(1 / 255.0, 0), 1, &x, &x));
    x = conv_block(m, x, 32, "block1");
    CHECK(ckeras_model_call(m, ckeras_max_pooling2d(2, 2), 1, &x, &x));
    x = conv_block(m, x, 64, "block2");
    CHECK(ckeras_model_call(m, ckeras_max_pooling2d(2, 2), 1, &x, &x));
    return conv_block(m, x, TOP_FILTERS, "top");
}

/* The new model: Input - [augmentation] - base(training=False) or a fresh copy of its layers -
 * GlobalAveragePooling2D - Dropout(0.2) - Dense(5). base NULL: the same network from scratch. */
static ckeras_model *new_model(const char *name, ckeras_model *base, int augmented)
{
    ckeras_model *m = ckeras_functional(name);
    int x;
    CHECK(ckeras_model_input(m, ckeras_input(3, (const int64_t[]){28, 28, 1}), &x));
    if (augmented)
        x = augment(m, x);
    if (base)
        CHECK(ckeras_model_call_model(m, base, 1, &x, 0, &x)); /* base_model(x, training=False) */
    else
        x = base_layers(m, x);
    CHECK(ckeras_model_call(m, ckeras_global_average_pooling2d(), 1, &x, &x));
    CHECK(ckeras_model_call(m, ckeras_dropout(0.2), 1, &x, &x));
    CHECK(ckeras_model_call(m, ckeras_dense(5, "softmax"), 1, &x, &x));
    CHECK(ckeras_model_set_outputs(m, 1, &x));
    return m;
}

static void fit(ckeras_model *m, ckeras_tensor *x, ckeras_tensor *y, int epochs, int batch, int verbose)
{
    ckeras_fit_args *args = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_int(args, "epochs", epochs));
    CHECK(ckeras_fit_args_set_int(args, "batch_size", batch));
    CHECK(ckeras_fit_args_set_int(args, "verbose", verbose));
    ckeras_history *h = NULL;
    CHECK(ckeras_model_fit(m, x, y, args, &h));
    const double *loss = NULL, *acc = NULL;
    int n = 0;
    if (!verbose && ckeras_history_values(h, "loss", &loss, &n) == CKERAS_OK && n > 0 &&
        ckeras_history_values(h, "accuracy", &acc, &n) == CKERAS_OK)
        printf("  %d epochs: last epoch loss %.4f, accuracy %.4f (on the training images, in training mode)\n", n, loss[n - 1],
               acc[n - 1]);
    ckeras_history_free(h);
    ckeras_fit_args_free(args);
}

static double accuracy(ckeras_model *m, ckeras_tensor *x, ckeras_tensor *y)
{
    double r[2];
    CHECK(ckeras_model_evaluate(m, x, y, 256, r, 2));
    return r[1];
}

static void trainable_counts(const char *what, ckeras_model *m)
{
    int64_t total = 0, trainable = 0, frozen = 0;
    CHECK(ckeras_model_count_params(m, &total, &trainable, &frozen));
    printf("  %s: %lld parameters, %lld trainable, %lld non-trainable\n", what, (long long)total,
           (long long)trainable, (long long)frozen);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 && argv[1][0] ? argv[1] : DEFAULT_DIR;
    const int pre_epochs = argc > 2 ? atoi(argv[2]) : 6;
    const int head_epochs = argc > 3 ? atoi(argv[3]) : 80;
    const int tune_epochs = argc > 4 ? atoi(argv[4]) : 80;
    const int64_t max_images = argc > 5 ? atoll(argv[5]) : 0;
    const int threads = argc > 6 ? atoi(argv[6]) : 0;
    const uint64_t seed = argc > 7 ? (uint64_t)strtoull(argv[7], NULL, 10) : 42; /* picks the 100 images */
    if (pre_epochs < 0 || head_epochs < 1 || tune_epochs < 1) {
        fprintf(stderr, "usage: %s [data folder] [pretrain epochs] [head epochs] [fine-tune epochs] "
                        "[max images] [threads] [seed]\n", argv[0]);
        return 1;
    }
    const double t0 = now();
    ckeras_set_random_seed(42);
    ckeras_set_num_threads(threads);

    ckeras_tensor *x_train = NULL, *y_train = NULL, *x_test = NULL, *y_test = NULL;
    if (ckeras_datasets_fashion_mnist(dir, &x_train, &y_train, &x_test, &y_test) != CKERAS_OK) {
        fprintf(stderr,
                "transfer_learning: cannot read Fashion-MNIST from %s:\n  %s\n"
                "Install Debian's package:  sudo apt-get install dataset-fashion-mnist\n"
                "or pass a folder holding the four IDX files (see examples/fashion_cnn.c).\n",
                dir, ckeras_last_error());
        return 1;
    }
    /* pixels stay 0..255 (as load_data gives them): the Rescaling layer is part of the model */
    ckeras_tensor *x_old = NULL, *y_old = NULL, *x_old_test = NULL, *y_old_test = NULL;
    ckeras_tensor *x_few = NULL, *y_few = NULL, *x_new_test = NULL, *y_new_test = NULL;
    select_classes(x_train, y_train, 0, 4, max_images, &x_old, &y_old);
    select_classes(x_test, y_test, 0, 4, max_images, &x_old_test, &y_old_test);
    select_classes(x_test, y_test, 5, 9, max_images, &x_new_test, &y_new_test);
    few_shot(x_train, y_train, seed, &x_few, &y_few);
    printf("Fashion-MNIST, %d threads: pretraining on %lld images of classes 0-4; the new task is classes 5-9\n"
           "from %lld labelled images (%d per class), tested on %lld images\n",
           ckeras_num_threads(), (long long)ckeras_tensor_dim(x_old, 0), (long long)ckeras_tensor_dim(x_few, 0),
           PER_CLASS, (long long)ckeras_tensor_dim(x_new_test, 0));

    /* ---- 1. pretraining, the stand-in for ImageNet weights ---- */
    double t = now();
    ckeras_model *pre = NULL;
    double acc_pre = 0;
    if (pre_epochs == 0) { /* reuse the pretrained.h5 of an earlier run */
        printf("\n1. pretraining skipped: loading pretrained.h5\n");
        CHECK(ckeras_load_model("pretrained.h5", 0, &pre));
        /* saved uncompiled (its trainer was compiled), so compiled here to evaluate it */
        CHECK(ckeras_model_compile(pre, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
        acc_pre = accuracy(pre, x_old_test, y_old_test);
    } else {
        pre = ckeras_functional("pretrained");
        int x;
        CHECK(ckeras_model_input(pre, ckeras_input(3, (const int64_t[]){28, 28, 1}), &x));
        x = base_layers(pre, x);
        CHECK(ckeras_model_call(pre, ckeras_global_average_pooling2d(), 1, &x, &x));
        ckeras_layer *fc = ckeras_dense(256, "relu");
        CHECK(ckeras_layer_set_name(fc, "fc"));
        CHECK(ckeras_model_call(pre, fc, 1, &x, &x));
        CHECK(ckeras_model_call(pre, ckeras_dropout(0.5), 1, &x, &x));
        CHECK(ckeras_model_call(pre, ckeras_dense(5, "softmax"), 1, &x, &x));
        CHECK(ckeras_model_set_outputs(pre, 1, &x));
        /* trained behind the augmentation: trainer = Model(inputs, pre(augment(inputs))) */
        ckeras_model *trainer = ckeras_functional("pretraining");
        CHECK(ckeras_model_input(trainer, ckeras_input(3, (const int64_t[]){28, 28, 1}), &x));
        x = augment(trainer, x);
        CHECK(ckeras_model_call_model(trainer, pre, 1, &x, -1, &x));
        CHECK(ckeras_model_set_outputs(trainer, 1, &x));
        CHECK(ckeras_model_compile(trainer, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
        printf("\n1. pretraining on classes 0-4 (%d epochs, with the augmentation)\n", pre_epochs);
        fit(trainer, x_old, y_old, pre_epochs, 64, 2);
        acc_pre = accuracy(trainer, x_old_test, y_old_test); /* the augmentation is off in evaluate */
        ckeras_model_free(trainer);
        CHECK(ckeras_model_save(pre, "pretrained.h5", 0));
    }
    ckeras_model_free(pre);
    const double s_pre = now() - t;
    printf("  test accuracy on classes 0-4: %.4f%s (%.1f s)\n", acc_pre, pre_epochs ? "; saved pretrained.h5" : "", s_pre);

    /* ---- 2. load it, cut the base at its last convolution, freeze it, a new head ---- */
    t = now();
    CHECK(ckeras_load_model("pretrained.h5", 0, &pre));
    int in, out;
    CHECK(ckeras_model_input_tensor(pre, 0, &in));
    CHECK(ckeras_model_layer_output_by_name(pre, "top_activation", &out));
    ckeras_model *base = ckeras_model_from_tensors(pre, 1, &in, 1, &out, "base");
    if (!base)
        CHECK(CKERAS_EINVAL);
    CHECK(ckeras_model_set_trainable(base, 0));
    ckeras_model *model = new_model("transfer", base, 1);
    CHECK(ckeras_model_compile(model, ckeras_adam(LR), "sparse_categorical_crossentropy", "accuracy"));
    printf("\n2. frozen base (training=False), augmentation and a new head, %d epochs on the %lld images\n",
           head_epochs, (long long)ckeras_tensor_dim(x_few, 0));
    CHECK(ckeras_model_summary(model, 0, NULL));
    trainable_counts("transfer model", model);
    fit(model, x_few, y_few, head_epochs, BATCH, 0);
    const double acc_frozen = accuracy(model, x_new_test, y_new_test);
    const double s_frozen = now() - t;
    printf("  test accuracy on classes 5-9 after the frozen stage: %.4f (%.1f s)\n", acc_frozen, s_frozen);

    /* ---- 3. fine-tuning: unfreeze the top block, recompile with a 10x lower learning rate ---- */
    t = now();
    /* top_bn's weights train, its statistics stay: the base is called with training=False */
    CHECK(ckeras_layer_set_trainable(ckeras_model_layer_by_name(pre, "top_conv"), 1));
    CHECK(ckeras_layer_set_trainable(ckeras_model_layer_by_name(pre, "top_bn"), 1));
    CHECK(ckeras_model_compile(model, ckeras_adam(LR / 10), "sparse_categorical_crossentropy", "accuracy"));
    printf("\n3. fine-tuning with the top block (top_conv, top_bn) unfrozen, Adam(%g), %d epochs\n", LR / 10,
           tune_epochs);
    trainable_counts("transfer model", model);
    fit(model, x_few, y_few, tune_epochs, BATCH, 0);
    const double acc_tuned = accuracy(model, x_new_test, y_new_test);
    const double s_tuned = now() - t;
    printf("  test accuracy on classes 5-9 after fine-tuning: %.4f (%.1f s)\n", acc_tuned, s_tuned);
    ckeras_model_free(model);
    ckeras_model_free(base);
    ckeras_model_free(pre);

    /* ---- 4. baseline: the same network from scratch, same images, same epochs in all ---- */
    t = now();
    ckeras_model *scratch = new_model("scratch", NULL, 1);
    CHECK(ckeras_model_compile(scratch, ckeras_adam(SCRATCH_LR), "sparse_categorical_crossentropy", "accuracy"));
    printf("\n4. the same network from scratch (augmentation, all layers trainable), Adam(%g), %d epochs\n",
           SCRATCH_LR, head_epochs + tune_epochs);
    trainable_counts("scratch model", scratch);
    fit(scratch, x_few, y_few, head_epochs + tune_epochs, BATCH, 0);
    const double acc_scratch = accuracy(scratch, x_new_test, y_new_test);
    const double s_scratch = now() - t;
    printf("  test accuracy on classes 5-9 from scratch: %.4f (%.1f s)\n", acc_scratch, s_scratch);
    ckeras_model_free(scratch);

    /* ---- 5. baseline: the frozen base, same head, no augmentation, no fine-tuning ---- */
    t = now();
    CHECK(ckeras_load_model("pretrained.h5", 0, &pre));
    int in2, out2;
    CHECK(ckeras_model_input_tensor(pre, 0, &in2));
    CHECK(ckeras_model_layer_output_by_name(pre, "top_activation", &out2));
    base = ckeras_model_from_tensors(pre, 1, &in2, 1, &out2, "base");
    if (!base)
        CHECK(CKERAS_EINVAL);
    CHECK(ckeras_model_set_trainable(base, 0));
    ckeras_model *plain = new_model("frozen_no_augmentation", base, 0);
    CHECK(ckeras_model_compile(plain, ckeras_adam(LR), "sparse_categorical_crossentropy", "accuracy"));
    printf("\n5. the frozen base with the same head, no augmentation, no fine-tuning, %d epochs\n", head_epochs);
    fit(plain, x_few, y_few, head_epochs, BATCH, 0);
    const double acc_plain = accuracy(plain, x_new_test, y_new_test);
    const double s_plain = now() - t;
    printf("  test accuracy on classes 5-9, frozen base without augmentation: %.4f (%.1f s)\n", acc_plain, s_plain);
    ckeras_model_free(plain);
    ckeras_model_free(base);
    ckeras_model_free(pre);

    const double total = now() - t0;
    printf("\ntest accuracy on the %lld test images of classes 5-9, from %lld labelled images:\n"
           "  transfer learning (frozen base + augmentation + head)   %.4f\n"
           "    then fine-tuning the top block at a 10x lower rate   %.4f\n"
           "  the same network from scratch                          %.4f\n"
           "  frozen base, no augmentation, no fine-tuning           %.4f\n"
           "wall time %.1f s (pretraining %.1f s, frozen stage %.1f s, fine-tuning %.1f s, from scratch %.1f s,\n"
           "  no augmentation %.1f s)\n",
           (long long)ckeras_tensor_dim(x_new_test, 0), (long long)ckeras_tensor_dim(x_few, 0), acc_frozen,
           acc_tuned, acc_scratch, acc_plain, total, s_pre, s_frozen, s_tuned, s_scratch, s_plain);

    ckeras_tensor *all[] = {x_train, y_train, x_test, y_test, x_old, y_old, x_old_test, y_old_test,
                            x_few, y_few, x_new_test, y_new_test};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        ckeras_tensor_free(all[i]);
    return 0;
}
