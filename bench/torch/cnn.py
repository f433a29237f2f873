"""PyTorch reference for bench_cnn.c: training throughput of the same two CNNs.

    lenet: 28x28x1, batch 64: Conv 5x5 6 same relu - MaxPool 2 - Conv 5x5 16 valid relu -
           MaxPool 2 - Flatten - Linear 120 relu - 84 relu - 10
    vgg:   32x32x3, batch 32: 2x Conv 3x3 32 same relu - MaxPool 2 - 2x Conv 3x3 64 same relu -
           MaxPool 2 - Flatten - Linear 128 relu - 10

Both with Adam (lr 1e-3) and CrossEntropyLoss on the logits (= softmax + cross-entropy), in
torch's own NCHW layout. One step is what bench_cnn times with train_on_batch: zero_grad,
forward, loss, backward, Adam step on one fixed batch of random data. One timed sample is as
many steps as last at least BENCH_MIN_MS (default 20) milliseconds; after warm-up steps the
median of BENCH_REPEATS (default 11, at least 5) samples is reported at 1 and 2 threads
(torch.set_num_threads) as `bench torch_<name>_b<batch>_t<n> samples_per_s <value>`, the names
bench_cnn prints with `torch_` in front.

BENCH_CLOCK=cpu times with the process's CPU clock (time.process_time) instead, as bench_cnn
does: meaningful at 1 thread only, it leaves out the time other processes hold the core.

Run with the system python that has torch: /usr/bin/python3 bench/torch/cnn.py
"""
import os
import statistics
import time

import torch
from torch import nn


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def vgg():
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 8 * 8, 128), nn.ReLU(),
        nn.Linear(128, 10))


SPECS = [
    # name, model, batch, (channels, height, width)
    ("lenet", lenet, 64, (1, 28, 28)),
    ("vgg", vgg, 32, (3, 32, 32)),
]


def main():
    repeats = max(5, int(os.environ.get("BENCH_REPEATS", "11")))
    min_s = 1e-3 * max(1, int(os.environ.get("BENCH_MIN_MS", "20")))
    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    print("# torch %s, %s" % (torch.__version__, torch.__config__.parallel_info().splitlines()[0]))
    for name, make, batch, chw in SPECS:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(1)
            model = make()
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
            loss_fn = nn.CrossEntropyLoss()
            x = torch.rand(batch, *chw)
            y = torch.arange(batch) % 10

            def step():
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()

            for _ in range(5):  # warm-up
                step()
            inner = 1
            while True:
                t0 = clock()
                for _ in range(inner):
                    step()
                if clock() - t0 >= min_s:
                    break
                inner *= 2
            times = []
            for _ in range(repeats):
                t0 = clock()
                for _ in range(inner):
                    step()
                times.append((clock() - t0) / inner)
            rate = batch / statistics.median(times)
            print("bench torch_%s_b%d_t%d samples_per_s %.4g" % (name, batch, threads, rate), flush=True)


if __name__ == "__main__":
    main()
