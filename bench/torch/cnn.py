"""PyTorch reference for bench_cnn.c: training throughput of the same two CNNs, and LeNet's
one-sample predict.

    lenet: 28x28x1, batch 64: Conv 5x5 6 same relu - MaxPool 2 - Conv 5x5 16 valid relu -
           MaxPool 2 - Flatten - Linear 120 relu - 84 relu - 10
    vgg:   32x32x3, batch 32: 2x Conv 3x3 32 same relu - MaxPool 2 - 2x Conv 3x3 64 same relu -
           MaxPool 2 - Flatten - Linear 128 relu - 10

Both with Adam (lr 1e-3) and CrossEntropyLoss on the logits (= softmax + cross-entropy), in
torch's own NCHW layout. One step is what bench_cnn times with train_on_batch: zero_grad,
forward, loss, backward, Adam step on one fixed batch of random data. After five warm-up steps
the step is timed as bench.h does (_common.median_seconds: BENCH_MIN_MS, BENCH_REPEATS) at 1
and 2 threads (torch.set_num_threads), as `bench torch_<name>_b<batch>_t<n> samples_per_s
<value>`, the names bench_cnn prints with `torch_` in front; `torch_lenet_predict1_t<n> us` is
model(x) of one sample under torch.no_grad() on the trained LeNet. The last lines give the peak
resident memory: after `import torch` and at the end.

BENCH_CNN_ONLY=lenet|vgg and BENCH_CNN_THREADS=1|2|1,2 pick a part, as for bench_cnn.
BENCH_CLOCK=cpu times with the process's CPU clock (time.process_time) instead, as bench_cnn
does: meaningful at 1 thread only, it leaves out the time other processes hold the core.

Run with the system python that has torch, through run_torch.sh (PyTorch's best set-up on
these machines): bench/run_torch.sh bench/torch/cnn.py
"""
import os

import _common
import torch
from torch import nn

_common.import_done()


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
    only = os.environ.get("BENCH_CNN_ONLY")
    thread_list = _common.threads("BENCH_CNN_THREADS", "1" if only else "1,2")
    _common.header(torch)
    for name, make, batch, chw in SPECS:
        if only and only != name:
            continue
        for threads in thread_list:
            torch.set_num_threads(threads)
            torch.manual_seed(1)
            model = make()
            x = torch.rand(batch, *chw)
            y = torch.arange(batch) % 10
            rate = _common.train_rate(torch, model, x, y)
            _common.bench("torch_%s_b%d_t%d" % (name, batch, threads), "samples_per_s", rate)
            if name == "lenet":
                x1 = x[:1].clone()

                def predict():
                    with torch.no_grad():
                        model(x1)

                _common.bench("torch_lenet_predict1_t%d" % threads, "us", 1e6 * _common.median_seconds(predict))
    _common.print_rss("cnn_%s" % (only or "all"))


if __name__ == "__main__":
    main()
