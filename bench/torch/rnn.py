"""PyTorch reference for bench_rnn.c: training throughput of the same two recurrent classifiers.

    lstm: 50 timesteps x 32 features, batch 64: LSTM 128 (batch_first; the last timestep's
          output) - Linear 10
    gru:  the same with GRU 128 (nn.GRU applies the reset gate after the recurrent product, as
          Keras' GRU with reset_after=True, its default)

Both with Adam (lr 1e-3) and CrossEntropyLoss on the logits (= softmax + cross-entropy). One
step is what bench_rnn times with train_on_batch: zero_grad, forward, loss, backward, Adam step
on one fixed batch of random data. After five warm-up steps the step is timed as bench.h does
(_common.median_seconds: BENCH_MIN_MS, BENCH_REPEATS) at 1 and 2 threads
(torch.set_num_threads), as `bench torch_<name>_b<batch>_t<n> samples_per_s <value>`, the names
bench_rnn prints with `torch_` in front. The last lines give the peak resident memory: after
`import torch` and at the end.

BENCH_RNN_ONLY=lstm|gru and BENCH_RNN_THREADS=1|2|1,2 pick a part, as for bench_rnn.
BENCH_CLOCK=cpu times with the process's CPU clock (time.process_time) instead, as bench_rnn
does: meaningful at 1 thread only, it leaves out the time other processes hold the core.

Run with the system python that has torch, through run_torch.sh (PyTorch's best set-up on
these machines): bench/run_torch.sh bench/torch/rnn.py
"""
import os

import _common
import torch
from torch import nn

_common.import_done()

BATCH, STEPS, FEATURES, UNITS, CLASSES = 64, 50, 32, 128, 10


class Recurrent(nn.Module):
    """rnn (batch_first) - the last timestep's output - Linear CLASSES."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
        self.out = nn.Linear(UNITS, CLASSES)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y[:, -1])


SPECS = [
    # name, recurrent layer
    ("lstm", lambda: nn.LSTM(FEATURES, UNITS, batch_first=True)),
    ("gru", lambda: nn.GRU(FEATURES, UNITS, batch_first=True)),
]


def main():
    only = os.environ.get("BENCH_RNN_ONLY")
    thread_list = _common.threads("BENCH_RNN_THREADS", "1" if only else "1,2")
    _common.header(torch)
    for name, make in SPECS:
        if only and only != name:
            continue
        for threads in thread_list:
            torch.set_num_threads(threads)
            torch.manual_seed(1)
            model = Recurrent(make())
            x = torch.rand(BATCH, STEPS, FEATURES)
            y = torch.arange(BATCH) % CLASSES
            rate = _common.train_rate(torch, model, x, y)
            _common.bench("torch_%s_b%d_t%d" % (name, BATCH, threads), "samples_per_s", rate)
    _common.print_rss("rnn_%s" % (only or "all"))


if __name__ == "__main__":
    main()
