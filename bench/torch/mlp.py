"""PyTorch reference for bench_mlp.c: training throughput of the same two MLPs.

    seed:  30-100-50-50-1, relu, sigmoid, Adam, binary cross-entropy, batch 32, 10240 samples
    mnist: 784-512-512-10, relu, softmax (CrossEntropyLoss on the logits), Adam, batch 128,
           4096 samples

One timed sample is one epoch over shuffled data (torch.randperm, indexing, zero_grad,
forward, loss, backward, Adam step, and the running loss and accuracy a Keras fit keeps);
after one warm-up epoch, the median of BENCH_REPEATS (default 11, at least 5) epochs is
reported at 1 and 2 threads (torch.set_num_threads), as `bench torch_mlp_<model>_fit_t<n>
samples_per_s <value>`, the names bench_mlp prints with `torch_` in front.

Run with the system python that has torch: /usr/bin/python3 bench/torch/mlp.py
"""
import os
import statistics
import time

import torch

SPECS = [
    # name, sizes, batch, samples
    ("seed", [30, 100, 50, 50, 1], 32, 10240),
    ("mnist", [784, 512, 512, 10], 128, 4096),
]


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


def main():
    repeats = max(5, int(os.environ.get("BENCH_REPEATS", "11")))
    print("# torch %s, %s" % (torch.__version__, torch.__config__.parallel_info().splitlines()[0]))
    for name, sizes, batch, samples in SPECS:
        gen = torch.Generator().manual_seed(1234)
        x, y = make_data(sizes, samples, gen)
        binary = sizes[-1] == 1
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(1234)
            model = make_model(sizes)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
            loss_fn = torch.nn.BCELoss() if binary else torch.nn.CrossEntropyLoss()
            epoch(model, opt, loss_fn, x, y, batch, binary)  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                epoch(model, opt, loss_fn, x, y, batch, binary)
                times.append(time.perf_counter() - t0)
            rate = samples / statistics.median(times)
            print("bench torch_mlp_%s_fit_t%d samples_per_s %.4g" % (name, threads, rate), flush=True)


if __name__ == "__main__":
    main()
