/* The Fashion-MNIST CNN of examples/fashion_cnn.c, trained data-parallel over MPI: every process
 * (rank) holds a replica of the model, fit splits each global batch of 64 among the ranks and
 * sums the gradients with one all-reduce per step (Keras: MultiWorkerMirroredStrategy or
 * Horovod). Build ckeras with MPI and run it on 2 ranks of this machine:
 *
 *   make distributed                              (= make examples/distributed_fashion MPI=1,
 *                                                    then mpiexec -n 2 ./distributed_fashion)
 *   mpiexec -n 4 -f hosts ./distributed_fashion   on the hosts listed in the file hosts (MPICH)
 *   srun -N 2 -n 2 ./distributed_fashion          under Slurm (with MPICH built for PMI)
 *
 * One process alone (`./distributed_fashion` or `mpiexec -n 1`) is the single-process baseline:
 * same global batch, same data order, so the same training to float rounding (Dropout draws
 * differ between ranks). Only rank 0 prints and saves distributed_fashion.h5.
 * Arguments: [data folder] [epochs, 15] [threads per rank, 1].
 */
#include <ckeras.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define GLOBAL_BATCH 64

#define CHECK(call)                                                                                          \
    do {                                                                                                     \
        if ((call) != CKERAS_OK) {                                                                           \
            fprintf(stderr, "distributed_fashion: rank %d: %s\n", ckeras_distributed_rank(),                 \
                    ckeras_last_error());                                                                    \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void prepare(ckeras_tensor *x)
{
    const int64_t n = ckeras_tensor_dim(x, 0);
    CHECK(ckeras_tensor_reshape(x, 4, (const int64_t[]){n, 28, 28, 1}));
    float *d = ckeras_tensor_data(x);
    for (int64_t i = 0; i < ckeras_tensor_size(x); i++)
        d[i] /= 255.0f;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 && argv[1][0] ? argv[1] : DEFAULT_DIR;
    const int epochs = argc > 2 && atoi(argv[2]) > 0 ? atoi(argv[2]) : 15;
    const int threads = argc > 3 ? atoi(argv[3]) : 1;
    CHECK(ckeras_distributed_init()); /* MPI_COMM_WORLD; MPI_Init if the program has not */
    const int rank = ckeras_distributed_rank(), size = ckeras_distributed_size();
    const double t0 = now();
    ckeras_set_random_seed(42); /* the same on every rank (rank 0's weights are broadcast anyway) */
    ckeras_set_num_threads(threads);

    /* every rank reads the data; fit gives each rank its part of every batch */
    ckeras_tensor *x_train = NULL, *y_train = NULL, *x_test = NULL, *y_test = NULL;
    if (ckeras_datasets_fashion_mnist(dir, &x_train, &y_train, &x_test, &y_test) != CKERAS_OK) {
        fprintf(stderr, "distributed_fashion: cannot read Fashion-MNIST from %s: %s\n"
                        "(sudo apt-get install dataset-fashion-mnist, or pass a folder with the four IDX files)\n",
                dir, ckeras_last_error());
        return 1;
    }
    prepare(x_train);
    prepare(x_test);

    ckeras_model *model = ckeras_sequential("fashion_cnn");
    CHECK(ckeras_model_add(model, ckeras_input(3, (const int64_t[]){28, 28, 1})));
    CHECK(ckeras_model_add(model, ckeras_conv2d(32, 3, 3, "relu")));
    CHECK(ckeras_model_add(model, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(model, ckeras_conv2d(64, 3, 3, "relu")));
    CHECK(ckeras_model_add(model, ckeras_max_pooling2d(2, 2)));
    CHECK(ckeras_model_add(model, ckeras_dropout(0.25)));
    CHECK(ckeras_model_add(model, ckeras_flatten()));
    CHECK(ckeras_model_add(model, ckeras_dense(128, "relu")));
    CHECK(ckeras_model_add(model, ckeras_dropout(0.5)));
    CHECK(ckeras_model_add(model, ckeras_dense(10, "softmax")));
    CHECK(ckeras_model_compile(model, ckeras_adam(1e-3), "sparse_categorical_crossentropy", "accuracy"));
    int64_t params = 0;
    CHECK(ckeras_model_count_params(model, &params, NULL, NULL));
    if (rank == 0)
        printf("Fashion-MNIST CNN on %d rank%s x %d thread%s: global batch %d (%d samples per rank), "
               "%lld weights, %.2f MB all-reduced per step\n",
               size, size > 1 ? "s" : "", ckeras_num_threads(), ckeras_num_threads() > 1 ? "s" : "",
               GLOBAL_BATCH, GLOBAL_BATCH / size, (long long)params, (double)params * 4 / 1e6);

    ckeras_callback *early_stopping = ckeras_early_stopping("val_loss", 4);
    CHECK(ckeras_callback_set_float(early_stopping, "restore_best_weights", 1));
    ckeras_fit_args *args = ckeras_fit_args_new();
    CHECK(ckeras_fit_args_set_float(args, "validation_split", 0.1));
    CHECK(ckeras_fit_args_set_int(args, "epochs", epochs));
    CHECK(ckeras_fit_args_set_int(args, "batch_size", GLOBAL_BATCH));
    CHECK(ckeras_fit_args_set_int(args, "verbose", 2)); /* printed by rank 0 only */
    CHECK(ckeras_fit_args_add_callback(args, early_stopping));
    ckeras_history *history = NULL;
    const double t_fit = now();
    CHECK(ckeras_model_fit(model, x_train, y_train, args, &history));
    const double fit_s = now() - t_fit;
    const int ran = ckeras_history_epochs(history);
    double results[2];
    CHECK(ckeras_model_evaluate(model, x_test, y_test, 256, results, 2));
    if (rank == 0) { /* every rank holds the same weights: one writes them */
        CHECK(ckeras_model_save(model, "distributed_fashion.h5", 0));
        const double samples = (double)ran * 0.9 * (double)ckeras_tensor_dim(x_train, 0);
        printf("test accuracy %.4f, test loss %.4f after %d epochs; fit %.1f s (%.0f samples/s), wall %.1f s;\n"
               "saved distributed_fashion.h5\n",
               results[1], results[0], ran, fit_s, samples / fit_s, now() - t0);
    }
    ckeras_history_free(history);
    ckeras_fit_args_free(args);
    ckeras_callback_free(early_stopping);
    ckeras_model_free(model);
    ckeras_tensor *all[] = {x_train, y_train, x_test, y_test};
    for (int i = 0; i < 4; i++)
        ckeras_tensor_free(all[i]);
    CHECK(ckeras_distributed_shutdown());
    return 0;
}
