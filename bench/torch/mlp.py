"""PyTorch reference for bench_mlp.c: training throughput of the same MLPs, the seed MLP's
one-sample predict, and the batch x width sweep.

    seed:  30-100-50-50-1, relu, sigmoid, Adam, binary cross-entropy, batch 32, 10240 samples
    mnist: 784-512-512-10, relu, softmax (CrossEntropyLoss on the logits), Adam, batch 128,
           4096 samples
    sweep: 784-W-W-10 as mnist, 1 thread, batch 32/128/512 at W = 512 and batch 128 at
           W = 256/1024/2048, an epoch of 8 batches

One timed call is one epoch over shuffled data (torch.randperm, indexing, zero_grad, forward,
loss, backward, Adam step, and the running loss and accuracy a Keras fit keeps), timed as
bench.h does (_common.median_seconds), at 1 and 2 threads (torch.set_num_threads), as
`bench torch_mlp_<model>_fit_t<n> samples_per_s <value>`, the names bench_mlp prints with
`torch_` in front; the sweep adds `gflops` lines counted as bench_mlp counts them, and the seed
MLP `torch_mlp_seed_predict1_t<n> us` (model(x) of one sample under torch.no_grad()).
The last lines give the peak resident memory: after `import torch` and at the end.

BENCH_MLP_ONLY=seed|mnist|sweep and BENCH_MLP_THREADS=1|2|1,2 pick a part, as for bench_mlp.
Run with the system python that has torch, through run_torch.sh (PyTorch's best set-up on
these machines): bench/run_torch.sh bench/torch/mlp.py
"""
import os

import _common
import torch

_common.import_done()

SPECS = [
    # name, sizes, batch, samples
    ("seed", [30, 100, 50, 50, 1], 32, 10240),
    ("mnist", [784, 512, 512, 10], 128, 4096),
]

SWEEP = [(32, 512), (128, 512), (512, 512), (128, 256), (128, 1024), (128, 2048)]


def train_flops(sizes):
    """2 flops per multiply-add of each layer's forward and kernel gradient, and of each input
    gradient but the first layer's (as bench_mlp.c's train_flops)."""
    return sum((3 if i > 0 else 2) * 2 * sizes[i] * sizes[i + 1] for i in range(len(sizes) - 1))


def make_data(sizes, samples, gen):
    x = torch.rand(samples, sizes[0], generator=gen) * 2 - 1
    s = x[:, :8].sum(dim=1)
    classes = sizes[-1]
    if classes == 1:
        y = (s > 0).float().unsqueeze(1)
    else:
        y = ((s + 8) / 16 * classes).long().clamp(0, classes - 1)
    return x, y


def make_model(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    if sizes[-1] == 1:
        layers.append(torch.nn.Sigmoid())
    return torch.nn.Sequential(*layers)


def epoch(model, opt, loss_fn, x, y, batch, binary):
    n = x.shape[0]
    perm = torch.randperm(n)
    loss_sum = 0.0
    hits = 0
    for start in range(0, n, batch):
        idx = perm[start:start + batch]
        xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += loss.detach() * xb.shape[0]
            pred = (out > 0.5).float() if binary else out.argmax(dim=1)
            hits += (pred == yb).sum()
    return float(loss_sum) / n, int(hits) / n


def fit_rate(sizes, batch, samples, threads):
    """samples/s of one-epoch fits at `threads`; returns (rate, model)"""
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(1234)
    x, y = make_data(sizes, samples, gen)
    binary = sizes[-1] == 1
    torch.manual_seed(1234)
    model = make_model(sizes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.BCELoss() if binary else torch.nn.CrossEntropyLoss()
    sec = _common.median_seconds(lambda: epoch(model, opt, loss_fn, x, y, batch, binary))
    return samples / sec, model


def main():
    only = os.environ.get("BENCH_MLP_ONLY")
    thread_list = _common.threads("BENCH_MLP_THREADS", "1,2")
    _common.header(torch)
    for name, sizes, batch, samples in SPECS:
        if only and only != name:
            continue
        for threads in thread_list:
            rate, model = fit_rate(sizes, batch, samples, threads)
            _common.bench("torch_mlp_%s_fit_t%d" % (name, threads), "samples_per_s", rate)
            if name == "seed":
                x1 = torch.rand(1, sizes[0])

                def predict():
                    with torch.no_grad():
                        model(x1)

                _common.bench("torch_mlp_seed_predict1_t%d" % threads, "us",
                              1e6 * _common.median_seconds(predict))
    if not only or only == "sweep":
        for batch, width in SWEEP:
            sizes = [784, width, width, 10]
            rate, _ = fit_rate(sizes, batch, 8 * batch, 1)
            name = "torch_mlp_sweep_b%d_w%d_fit_t1" % (batch, width)
            _common.bench(name, "samples_per_s", rate)
            _common.bench(name, "gflops", rate * train_flops(sizes) * 1e-9)
    _common.print_rss("mlp_%s" % (only or "all"))


if __name__ == "__main__":
    main()
