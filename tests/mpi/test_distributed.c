/* Data-parallel fit over MPI (make check-mpi runs it with mpiexec -n 2 and -n 3).
 *  - Equivalence: every rank first trains a model alone (before ckeras_distributed_init), then
 *    the same model distributed; once plain, once with an activity regularizer (a sum over the
 *    batch's samples), an L1 kernel penalty and a MaxNorm constraint, and once more with the
 *    samples from a data source, which each rank asks for its part of every batch only, and with
 *    sample weights (0 to 1.5; the validation samples weighted too). The weights after every step, the History (validation split
 *    among the ranks) and the epoch logs equal the single-process run to float rounding, with
 *    50 samples in batches of 8, so the ranks' parts differ and, with 3 ranks, the last batch of
 *    2 leaves one rank without samples (the remainder rule).
 *  - A model with BatchNormalization and Dropout: every rank ends with the same weights and
 *    statistics, bit for bit, and EarlyStopping stops every rank at the same epoch.
 *  - Rank 0 alone writes CSVLogger's file; the model file it saves loads in each process alone
 *    with that process' replica's weights, bit for bit.
 *  - With CK_DIST_DIE=1 rank 1 kills itself mid-fit: the other ranks' fit fails with
 *    CKERAS_EIO within the timeout (run under mpiexec -disable-auto-cleanup).
 * Plain asserts; each rank prints its failures; the exit status is nonzero when one failed. */
#include <ckeras.h>
#include <ckeras_mpi.h>
#include <mpi.h>

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures, rank, size;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "rank %d: FAIL line %d: ", rank, __LINE__);                                      \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fprintf(stderr, " (%s)\n", ckeras_last_error());                                                 \
            failures++;                                                                                      \
        }                                                                                                    \
    } while (0)
#define OK(call) CHECK((call) == CKERAS_OK, "%s", #call)

#define N 50
#define BATCH 8
#define EPOCHS 3
#define MAX_STEPS 64
#define MAX_W 256

/* every weight of the model, in layer order, into out (returns the count) */
static int snapshot(ckeras_model *m, float *out)
{
    int n = 0;
    for (int i = 0; i < ckeras_model_layer_count(m); i++) {
        ckeras_layer *l = ckeras_model_layer(m, i);
        for (int w = 0; w < ckeras_layer_weight_count(l); w++) {
            ckeras_tensor *v = NULL;
            if (ckeras_layer_weight(l, w, NULL, &v) != CKERAS_OK)
                continue;
            int64_t k = ckeras_tensor_size(v);
            if (n + k <= MAX_W)
                memcpy(out + n, ckeras_tensor_data(v), (size_t)k * sizeof(float));
            n += (int)k;
            ckeras_tensor_free(v);
        }
    }
    return n;
}

typedef struct recorder {
    ckeras_model *m;
    float w[MAX_STEPS][MAX_W];
    int steps, nw;
    int die_at_epoch; /* CK_DIST_DIE: rank 1 kills itself at this epoch's first batch */
} recorder;

static ckeras_status record(ckeras_event ev, int index, const ckeras_logs *logs, void *user)
{
    recorder *r = user;
    if (ev == CKERAS_BATCH_BEGIN && r->die_at_epoch && rank == 1 && r->steps >= r->die_at_epoch * 7)
        raise(SIGKILL);
    if (ev == CKERAS_BATCH_END && r->steps < MAX_STEPS)
        r->nw = snapshot(r->m, r->w[r->steps++]);
    return CKERAS_OK;
}

static void data(ckeras_tensor **x, ckeras_tensor **y)
{
    *x = ckeras_tensor_new(2, (const int64_t[]){N, 4});
    *y = ckeras_tensor_new(1, (const int64_t[]){N});
    float *xd = ckeras_tensor_data(*x), *yd = ckeras_tensor_data(*y);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 4; j++)
            xd[i * 4 + j] = (float)sin(0.7 * i + 1.3 * j);
        yd[i] = (float)((i * 7 + 3) % 3);
    }
}

static bool penalties; /* the second round: an activity regularizer, a weight penalty, a constraint */
static bool sharded_source; /* the third: the samples from a data source */
static ckeras_tensor *weights; /* the fourth: sample weights */

static ckeras_model *mlp(void)
{
    ckeras_set_random_seed(1234);
    ckeras_model *m = ckeras_sequential("mlp");
    OK(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})));
    ckeras_layer *hidden = ckeras_dense(6, "relu");
    if (penalties) {
        OK(ckeras_layer_set_str(hidden, "activity_regularizer", "l2"));
        OK(ckeras_layer_set_str(hidden, "kernel_regularizer", "l1"));
        OK(ckeras_layer_set_str(hidden, "kernel_constraint",
                                "{\"class_name\": \"MaxNorm\", \"config\": {\"max_value\": 0.8, \"axis\": 0}}"));
    }
    OK(ckeras_model_add(m, hidden));
    OK(ckeras_model_add(m, ckeras_dense(3, "softmax")));
    OK(ckeras_model_compile(m, ckeras_adam(0.05), "sparse_categorical_crossentropy", "accuracy"));
    return m;
}

/* a source serving the arrays, counting the samples it is asked for */
typedef struct counted {
    const ckeras_tensor *x, *y;
    int64_t asked;
} counted;

static ckeras_status counted_fill(void *user, const int64_t *idx, int64_t n, float *const *x, float *const *y)
{
    counted *c = user;
    const float *xd = ckeras_tensor_data((ckeras_tensor *)c->x), *yd = ckeras_tensor_data((ckeras_tensor *)c->y);
    for (int64_t i = 0; i < n; i++) {
        memcpy(x[0] + i * 4, xd + idx[i] * 4, 4 * sizeof(float));
        y[0][i] = yd[idx[i]];
    }
    c->asked += n;
    return CKERAS_OK;
}

static counted source_data;
static ckeras_data_source *from_source; /* set: train() fits from this source */

static ckeras_history *train(ckeras_model *m, recorder *r, ckeras_tensor *x, ckeras_tensor *y)
{
    ckeras_fit_args *a = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(a, "epochs", EPOCHS));
    OK(ckeras_fit_args_set_int(a, "batch_size", BATCH));
    OK(ckeras_fit_args_set_int(a, "verbose", 0));
    OK(ckeras_fit_args_set_float(a, "validation_split", 0.2));
    ckeras_callback *cb = ckeras_lambda_callback(record, r);
    OK(ckeras_fit_args_add_callback(a, cb));
    if (weights)
        OK(ckeras_fit_args_set_sample_weight(a, 1, (const ckeras_tensor *const[]){weights}));
    r->m = m;
    ckeras_history *h = NULL;
    if (from_source)
        OK(ckeras_model_fit_source(m, from_source, a, &h));
    else
        OK(ckeras_model_fit(m, x, y, a, &h));
    ckeras_callback_free(cb);
    ckeras_fit_args_free(a);
    return h;
}

static bool close_to(double a, double b)
{
    return fabs(a - b) <= 1e-5 * (1 + fabs(b));
}

static recorder ref, dist;

static void equivalence(void)
{
    ckeras_tensor *x, *y;
    data(&x, &y);
    memset(&ref, 0, sizeof ref);
    memset(&dist, 0, sizeof dist);
    /* the reference: this process alone (distributed training is not started yet) */
    ckeras_model *m = mlp();
    ckeras_history *h_ref = train(m, &ref, x, y);
    ckeras_model_free(m);

    OK(ckeras_distributed_init());
    CHECK(ckeras_distributed_size() == size && ckeras_distributed_rank() == rank, "rank and size");
    ckeras_set_random_seed(1234); /* the same order of samples as the run alone */
    m = mlp();
    if (sharded_source) { /* the data from a source: each rank is asked for its part only */
        source_data = (counted){x, y, 0};
        OK(ckeras_data_source_new(N, counted_fill, &source_data, NULL, &from_source));
        OK(ckeras_data_source_add_input(from_source, 1, (const int64_t[]){4}));
        OK(ckeras_data_source_add_target(from_source, 0, NULL));
    }
    ckeras_history *h = train(m, &dist, x, y);
    if (from_source) {
        /* 40 training samples and 10 for validation per epoch, split among the ranks */
        int64_t all = source_data.asked;
        MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
        CHECK(all == EPOCHS * N, "the ranks were asked for %lld samples in all, not %d", (long long)all, EPOCHS * N);
        CHECK(source_data.asked <= EPOCHS * (N / size + 5), "rank %d was asked for %lld samples", rank,
              (long long)source_data.asked);
        ckeras_data_source_free(from_source);
        from_source = NULL;
    }
    /* 40 training samples in batches of 8: 5 steps an epoch */
    CHECK(ref.steps == 5 * EPOCHS && dist.steps == ref.steps, "steps %d and %d", ref.steps, dist.steps);
    CHECK(dist.nw == ref.nw && ref.nw == 4 * 6 + 6 + 6 * 3 + 3, "weights %d", dist.nw);
    for (int s = 0; s < dist.steps; s++)
        for (int i = 0; i < dist.nw; i++)
            CHECK(close_to(dist.w[s][i], ref.w[s][i]), "step %d weight %d: %.9g, alone %.9g", s, i, dist.w[s][i],
                  ref.w[s][i]);
    static const char *const keys[] = {"loss", "accuracy", "val_loss", "val_accuracy"};
    for (int k = 0; k < 4; k++) {
        const double *a = NULL, *b = NULL;
        int na = 0, nb = 0;
        OK(ckeras_history_values(h, keys[k], &a, &na));
        OK(ckeras_history_values(h_ref, keys[k], &b, &nb));
        CHECK(na == EPOCHS && nb == EPOCHS, "%s: %d epochs", keys[k], na);
        for (int e = 0; e < na && e < nb; e++)
            CHECK(close_to(a[e], b[e]), "%s epoch %d: %.9g, alone %.9g", keys[k], e, a[e], b[e]);
    }
    /* every rank holds rank 0's weights, bit for bit */
    float w0[MAX_W];
    memcpy(w0, dist.w[dist.steps - 1], sizeof w0);
    MPI_Bcast(w0, dist.nw, MPI_FLOAT, 0, MPI_COMM_WORLD);
    CHECK(memcmp(w0, dist.w[dist.steps - 1], (size_t)dist.nw * sizeof(float)) == 0, "replicas differ");
    ckeras_history_free(h);
    ckeras_history_free(h_ref);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
    OK(ckeras_distributed_shutdown()); /* the next round trains alone first again */
}

/* BatchNormalization, Dropout, EarlyStopping and CSVLogger in a distributed fit */
static void batchnorm_dropout(void)
{
    ckeras_tensor *x, *y;
    data(&x, &y);
    ckeras_set_random_seed(99 + (uint64_t)rank); /* different initial weights: rank 0's win */
    ckeras_model *m = ckeras_sequential("bn");
    OK(ckeras_model_add(m, ckeras_input(1, (const int64_t[]){4})));
    OK(ckeras_model_add(m, ckeras_dense(8, "relu")));
    OK(ckeras_model_add(m, ckeras_batch_normalization()));
    OK(ckeras_model_add(m, ckeras_dropout(0.3)));
    OK(ckeras_model_add(m, ckeras_dense(3, "softmax")));
    OK(ckeras_model_compile(m, ckeras_sgd(0.1, 0, 0), "sparse_categorical_crossentropy", "accuracy"));
    ckeras_fit_args *a = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(a, "epochs", 40));
    OK(ckeras_fit_args_set_int(a, "batch_size", 6));
    OK(ckeras_fit_args_set_int(a, "verbose", rank == 0 ? 2 : 1)); /* only rank 0 may print */
    OK(ckeras_fit_args_set_float(a, "validation_split", 0.3));
    ckeras_callback *es = ckeras_early_stopping("val_loss", 2);
    char csv[256];
    snprintf(csv, sizeof csv, "/tmp/ck_test_distributed_%d.csv", (int)getpid());
    ckeras_callback *log = ckeras_csv_logger(csv, ",", 0);
    OK(ckeras_fit_args_add_callback(a, es));
    OK(ckeras_fit_args_add_callback(a, log));
    ckeras_history *h = NULL;
    OK(ckeras_model_fit(m, x, y, a, &h));
    int epochs = ckeras_history_epochs(h);
    int all_min = epochs, all_max = epochs;
    MPI_Allreduce(MPI_IN_PLACE, &all_min, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &all_max, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(all_min == all_max && epochs < 40, "EarlyStopping stopped at epochs %d..%d", all_min, all_max);
    float w[MAX_W], w0[MAX_W];
    int nw = snapshot(m, w);
    memcpy(w0, w, sizeof w);
    MPI_Bcast(w0, nw, MPI_FLOAT, 0, MPI_COMM_WORLD);
    CHECK(memcmp(w0, w, (size_t)nw * sizeof(float)) == 0, "replicas differ after BatchNormalization/Dropout");
    CHECK((access(csv, F_OK) == 0) == (rank == 0), "CSVLogger's file on rank %d", rank);
    /* rank 0 saves; every rank loads that file alone and finds its own replica's weights */
    char h5[256];
    int pid0 = (int)getpid();
    MPI_Bcast(&pid0, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(h5, sizeof h5, "/tmp/ck_test_distributed_%d.h5", pid0);
    if (rank == 0)
        OK(ckeras_model_save(m, h5, 0));
    MPI_Barrier(MPI_COMM_WORLD);
    ckeras_model *back = NULL;
    OK(ckeras_load_model(h5, 0, &back));
    if (back) {
        float wb[MAX_W];
        CHECK(snapshot(back, wb) == nw && memcmp(wb, w, (size_t)nw * sizeof(float)) == 0,
              "the file rank 0 saved differs from rank %d's replica", rank);
        ckeras_model_free(back);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        unlink(h5);
    if (rank == 0)
        unlink(csv);
    ckeras_history_free(h);
    ckeras_callback_free(es);
    ckeras_callback_free(log);
    ckeras_fit_args_free(a);
    ckeras_model_free(m);
    ckeras_tensor_free(x);
    ckeras_tensor_free(y);
}

/* CK_DIST_DIE=1: rank 1 dies at its third epoch; the others must fail, not hang */
static void dead_rank(void)
{
    ckeras_tensor *x, *y;
    data(&x, &y);
    OK(ckeras_distributed_init());
    OK(ckeras_distributed_set_timeout(5));
    ckeras_model *m = mlp();
    static recorder r;
    r.die_at_epoch = 2;
    r.m = m;
    ckeras_fit_args *a = ckeras_fit_args_new();
    OK(ckeras_fit_args_set_int(a, "epochs", 1000));
    OK(ckeras_fit_args_set_int(a, "verbose", 0));
    ckeras_callback *cb = ckeras_lambda_callback(record, &r);
    OK(ckeras_fit_args_add_callback(a, cb));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ckeras_status st = ckeras_model_fit(m, x, y, a, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    CHECK(st == CKERAS_EIO, "fit with a dead rank returned %d", (int)st);
    CHECK(secs < 60, "fit took %.1f s to fail", secs);
    if (st == CKERAS_EIO)
        printf("rank %d: the dead rank was noticed after %.1f s: %s\n", rank, secs, ckeras_last_error());
    fflush(stdout);
    /* MPI cannot be finalised with a dead rank: end here */
    _exit(failures ? 1 : 0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ckeras_set_num_threads(1);
    if (getenv("CK_DIST_DIE"))
        dead_rank();
    equivalence();
    penalties = true;
    equivalence();
    sharded_source = true;
    equivalence();
    sharded_source = false;
    weights = ckeras_tensor_new(1, (const int64_t[]){N});
    for (int i = 0; i < N; i++)
        ckeras_tensor_data(weights)[i] = (float)(i % 4) * 0.5f;
    equivalence();
    ckeras_tensor_free(weights);
    weights = NULL;
    OK(ckeras_distributed_init());
    batchnorm_dropout();
    OK(ckeras_distributed_shutdown());
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_distributed: %d ranks: %s\n", size, total ? "FAILED" : "all passed");
    MPI_Finalize();
    return total ? 1 : 0;
}
