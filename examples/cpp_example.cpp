// ckeras from C++: the C API behind small RAII owners, errors as exceptions.
//
// A binary classifier on synthetic data (points of the plane, label 1 inside the circle of
// radius 1): Input(2) -> Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid), Adam,
// binary cross-entropy, accuracy; fit with a validation split, evaluate, predict.
//
//   g++ -std=c++11 cpp_example.cpp $(pkg-config --cflags --libs ckeras) -o cpp_example
//
// Exit status 0 when the test accuracy reaches 0.9.
#include <ckeras.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Each handle type with its ckeras_*_free function; unique_ptr calls it (NULL is a no-op).
template <typename T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
typedef std::unique_ptr<ckeras_tensor, Deleter<ckeras_tensor, ckeras_tensor_free> > Tensor;
typedef std::unique_ptr<ckeras_model, Deleter<ckeras_model, ckeras_model_free> > Model;
typedef std::unique_ptr<ckeras_fit_args, Deleter<ckeras_fit_args, ckeras_fit_args_free> > FitArgs;
typedef std::unique_ptr<ckeras_history, Deleter<ckeras_history, ckeras_history_free> > History;
typedef std::unique_ptr<ckeras_callback, Deleter<ckeras_callback, ckeras_callback_free> > Callback;

struct Error : std::runtime_error {
    explicit Error(const std::string &what) : std::runtime_error(what) {}
};

// A failed call becomes an exception carrying the library's message.
void check(ckeras_status s, const char *call)
{
    if (s != CKERAS_OK)
        throw Error(std::string(call) + " failed (" + ckeras_status_name(s) + "): " + ckeras_last_error());
}

template <typename P>
P *made(P *p, const char *call)
{
    if (!p)
        throw Error(std::string(call) + " failed: " + ckeras_last_error());
    return p;
}

// n points drawn uniformly from [-1.5, 1.5]^2; y = 1 inside the unit circle.
void make_data(std::mt19937 &gen, int64_t n, Tensor &x, Tensor &y)
{
    std::uniform_real_distribution<float> u(-1.5f, 1.5f);
    std::vector<float> xs(static_cast<size_t>(n) * 2), ys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; i++) {
        float a = u(gen), b = u(gen);
        xs[2 * i] = a;
        xs[2 * i + 1] = b;
        ys[i] = a * a + b * b < 1.0f ? 1.0f : 0.0f;
    }
    const int64_t xshape[2] = {n, 2}, yshape[2] = {n, 1};
    x.reset(made(ckeras_tensor_copy(xs.data(), 2, xshape), "ckeras_tensor_copy"));
    y.reset(made(ckeras_tensor_copy(ys.data(), 2, yshape), "ckeras_tensor_copy"));
}

} // namespace

int main()
{
    try {
        if (ckeras_version_number() != CKERAS_VERSION_NUMBER)
            std::fprintf(stderr, "warning: header %s, library %s\n", CKERAS_VERSION, ckeras_version());
        ckeras_set_random_seed(7);
        std::mt19937 gen(2024);
        Tensor x_train, y_train, x_test, y_test;
        make_data(gen, 1000, x_train, y_train);
        make_data(gen, 300, x_test, y_test);

        Model model(made(ckeras_sequential("circle"), "ckeras_sequential"));
        const int64_t features = 2;
        // ckeras_model_add takes the layer, also when it fails (or when the constructor
        // returned NULL, which add reports), so nothing leaks here.
        check(ckeras_model_add(model.get(), ckeras_input(1, &features)), "add Input");
        check(ckeras_model_add(model.get(), ckeras_dense(16, "relu")), "add Dense");
        check(ckeras_model_add(model.get(), ckeras_dense(16, "relu")), "add Dense");
        check(ckeras_model_add(model.get(), ckeras_dense(1, "sigmoid")), "add Dense");
        check(ckeras_model_compile(model.get(), ckeras_adam(0.01), "binary_crossentropy", "accuracy"),
              "compile");
        check(ckeras_model_summary(model.get(), 0, NULL), "summary");

        Callback early_stopping(made(ckeras_early_stopping("val_loss", 10), "early_stopping"));
        check(ckeras_callback_set_float(early_stopping.get(), "restore_best_weights", 1), "set");
        FitArgs args(made(ckeras_fit_args_new(), "fit_args_new"));
        check(ckeras_fit_args_set_int(args.get(), "epochs", 60), "epochs");
        check(ckeras_fit_args_set_int(args.get(), "verbose", 0), "verbose");
        check(ckeras_fit_args_set_float(args.get(), "validation_split", 0.2), "validation_split");
        check(ckeras_fit_args_add_callback(args.get(), early_stopping.get()), "add_callback");
        ckeras_history *h = NULL;
        check(ckeras_model_fit(model.get(), x_train.get(), y_train.get(), args.get(), &h), "fit");
        History history(h);

        const double *loss = NULL;
        int epochs = 0;
        check(ckeras_history_values(history.get(), "loss", &loss, &epochs), "history loss");
        std::printf("trained %d epochs: loss %.4f -> %.4f\n", epochs, loss[0], loss[epochs - 1]);

        double results[2];
        check(ckeras_model_evaluate(model.get(), x_test.get(), y_test.get(), 64, results, 2), "evaluate");
        std::printf("test: %s %.4f, %s %.4f\n", ckeras_model_metrics_name(model.get(), 0), results[0],
                    ckeras_model_metrics_name(model.get(), 1), results[1]);

        // predict: the centre is inside the circle, a far corner outside
        float points[4] = {0.0f, 0.0f, 1.4f, 1.4f};
        const int64_t pshape[2] = {2, 2};
        Tensor p(made(ckeras_tensor_wrap(points, 2, pshape), "tensor_wrap"));
        ckeras_tensor *out = NULL;
        check(ckeras_model_predict(model.get(), p.get(), 0, &out), "predict");
        Tensor probs(out);
        const float *prob = ckeras_tensor_data(probs.get());
        std::printf("predict: P(inside | (0,0)) = %.3f, P(inside | (1.4,1.4)) = %.3f\n", prob[0], prob[1]);

        // a failing call is an exception with the library's message
        try {
            check(ckeras_model_compile(model.get(), NULL, "no_such_loss", NULL), "compile");
        } catch (const Error &e) {
            std::printf("expected error: %s\n", e.what());
        }

        bool ok = results[1] >= 0.9 && prob[0] > 0.5f && prob[1] < 0.5f;
        return ok ? 0 : 2;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cpp_example: %s\n", e.what());
        return 1;
    }
}
