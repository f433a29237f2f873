#!/usr/bin/python3
"""`make bench` (make -C bench run): runs every benchmark, passing their output through, and
ends with the tables a user reads: per workload ckeras beside PyTorch at 1 and 2 threads, the
share of the machine's FMA peak measured in the same run, and peak resident memory.

Each workload runs in its own process (ckeras: bench_mlp / bench_cnn / bench_rnn with
BENCH_MLP_ONLY / BENCH_CNN_ONLY / BENCH_RNN_ONLY; PyTorch: torch/mlp.py / torch/cnn.py /
torch/rnn.py the same way, through run_torch.sh, which sets up PyTorch's best configuration), so
each process's peak resident memory is that workload's. ckeras and PyTorch alternate workload
by workload, so both see the same load.

    /usr/bin/python3 bench/report.py [--out DIR]    DIR: the built programs (default bench/out)

Nothing here asserts a speed: it measures and prints. FLOP counts and the method are in
bench/README.md. NO_TORCH=1 leaves PyTorch out."""
import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LINE = re.compile(r"^bench (\S+) (\S+) (\S+)$")

# ---- FLOPs per sample -------------------------------------------------------------------------
# A layer's forward multiply-adds: Dense in x out; Conv2D out_h x out_w x k_h x k_w x in_ch x
# filters (the nominal count; padding taps included); LSTM / GRU timesteps x gates (4 / 3) x
# units x (features + units), as two products, x by the input kernel and h by the recurrent
# kernel (rnn below). Training = forward + kernel gradient (the same count) + input gradient (the
# same count) for every layer but the first (the data's gradient is not needed; neither library
# computes it): a first recurrent layer computes the gradient of its state h, not of x. 2 flops
# per multiply-add. Bias, activations, pooling, loss and the optimizer are not counted.


def dense(i, o):
    return i * o


def conv(oh, ow, k, cin, cout):
    return oh * ow * k * k * cin * cout


def train_flops(macs):
    return 2 * (2 * sum(macs) + sum(macs[1:]))


def predict_flops(macs):
    return 2 * sum(macs)


def rnn(steps, gates, features, units):
    """An LSTM (4 gates) or GRU (3) as [x by the input kernel, h by the recurrent kernel]."""
    return [steps * gates * units * features, steps * gates * units * units]


def mlp(sizes):
    return [dense(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]


SEED = mlp([30, 100, 50, 50, 1])
MNIST = mlp([784, 512, 512, 10])
LENET = [conv(28, 28, 5, 1, 6), conv(10, 10, 5, 6, 16), dense(400, 120), dense(120, 84), dense(84, 10)]
VGG = [conv(32, 32, 3, 3, 32), conv(32, 32, 3, 32, 32), conv(16, 16, 3, 32, 64), conv(16, 16, 3, 64, 64),
       dense(4096, 128), dense(128, 10)]
LSTM = rnn(50, 4, 32, 128) + [dense(128, 10)]
GRU = rnn(50, 3, 32, 128) + [dense(128, 10)]
SWEEP = [(32, 512), (128, 512), (512, 512), (128, 256), (128, 1024), (128, 2048)]

# ---- the workloads of the main table ------------------------------------------------------------
# label, ckeras name pattern, PyTorch name pattern ({t} = threads), kind (rate: samples/s, higher
# is better; time: microseconds, lower is better), flops per sample, memory part
ROWS = [
    ("seed MLP 30-100-50-50-1 train, b32 (samples/s)", "mlp_seed_fit_t{t}", "rate", train_flops(SEED), "mlp_seed"),
    ("MLP 784-512-512-10 train, b128 (samples/s)", "mlp_mnist_fit_t{t}", "rate", train_flops(MNIST), "mlp_mnist"),
    ("LeNet-5 train, b64 (samples/s)", "lenet_b64_t{t}", "rate", train_flops(LENET), "cnn_lenet"),
    ("VGG-style 32x32x3 train, b32 (samples/s)", "vgg_b32_t{t}", "rate", train_flops(VGG), "cnn_vgg"),
    ("LSTM 128 on 50x32, Dense 10 train, b64 (samples/s)", "lstm_b64_t{t}", "rate", train_flops(LSTM), "rnn_lstm"),
    ("GRU 128 on 50x32, Dense 10 train, b64 (samples/s)", "gru_b64_t{t}", "rate", train_flops(GRU), "rnn_gru"),
    ("seed MLP predict, one sample (us)", "mlp_seed_predict1_t{t}", "time", predict_flops(SEED), None),
    ("LeNet-5 predict, one sample (us)", "lenet_predict1_t{t}", "time", predict_flops(LENET), None),
]

# ---- what runs, in order: (program, environment) ----------------------------------------------
# ckeras part, then the PyTorch part of the same workload
PARTS = [
    (("bench_mlp", {"BENCH_MLP_ONLY": "seed", "BENCH_MLP_THREADS": "1,2"}),
     ("torch/mlp.py", {"BENCH_MLP_ONLY": "seed", "BENCH_MLP_THREADS": "1,2"})),
    (("bench_mlp", {"BENCH_MLP_ONLY": "mnist", "BENCH_MLP_THREADS": "1,2"}),
     ("torch/mlp.py", {"BENCH_MLP_ONLY": "mnist", "BENCH_MLP_THREADS": "1,2"})),
    (("bench_cnn", {"BENCH_CNN_ONLY": "lenet", "BENCH_CNN_THREADS": "1,2"}),
     ("torch/cnn.py", {"BENCH_CNN_ONLY": "lenet", "BENCH_CNN_THREADS": "1,2"})),
    (("bench_cnn", {"BENCH_CNN_ONLY": "vgg", "BENCH_CNN_THREADS": "1,2"}),
     ("torch/cnn.py", {"BENCH_CNN_ONLY": "vgg", "BENCH_CNN_THREADS": "1,2"})),
    (("bench_rnn", {"BENCH_RNN_ONLY": "lstm", "BENCH_RNN_THREADS": "1,2"}),
     ("torch/rnn.py", {"BENCH_RNN_ONLY": "lstm", "BENCH_RNN_THREADS": "1,2"})),
    (("bench_rnn", {"BENCH_RNN_ONLY": "gru", "BENCH_RNN_THREADS": "1,2"}),
     ("torch/rnn.py", {"BENCH_RNN_ONLY": "gru", "BENCH_RNN_THREADS": "1,2"})),
    (("bench_mlp", {"BENCH_MLP_ONLY": "sweep"}),
     ("torch/mlp.py", {"BENCH_MLP_ONLY": "sweep"})),
    (("bench_cnn", {"BENCH_CNN_ONLY": "conv", "BENCH_CNN_THREADS": "1,2"}), None),
]
# programs run whole (those named in PARTS run part by part; bench_peak runs first)
PARTED = {"bench_peak", "bench_mlp", "bench_cnn", "bench_rnn"}
TORCH_PARTED = {"mlp.py", "cnn.py", "rnn.py"}


class Run:
    def __init__(self, out):
        self.out = out
        self.values = {}
        self.notes = []
        self.torch_blas = None
        self.torch_missing = None

    def run(self, argv, env_extra, label):
        env = dict(os.environ)
        env.update(env_extra)
        shown = " ".join("%s=%s" % kv for kv in env_extra.items())
        print("== %s%s" % (shown + " " if shown else "", label), flush=True)
        t0 = time.time()
        p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, cwd=HERE)
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            line = line.rstrip("\n")
            m = LINE.match(line)
            if m:
                try:
                    key, v = m.group(1) + " " + m.group(2), float(m.group(3))
                except ValueError:
                    continue
                if key.startswith("fma_peak_t") and key in self.values:
                    v = max(v, self.values[key])  # measured at the start and at the end
                self.values[key] = v
            elif line.startswith("# torch blas:"):
                self.torch_blas = line[len("# "):].strip()
            elif line.startswith("# skip torch"):
                self.torch_missing = line[len("# skip torch benchmarks: "):]
            elif line.startswith("# note:"):
                if line not in self.notes:
                    self.notes.append(line[2:])
        if p.wait() != 0:
            sys.exit("report: %s failed (exit %d)" % (label, p.returncode))
        print("# %s: %.1f s" % (label, time.time() - t0), flush=True)

    def ckeras(self, prog, env):
        path = os.path.join(self.out, prog)
        self.run([path], env, os.path.relpath(path, HERE))

    def torch(self, script, env):
        if self.torch_missing:
            return
        self.run([os.path.join(HERE, "run_torch.sh"), os.path.join(HERE, script)], env, "run_torch.sh " + script)

    def get(self, name, metric):
        return self.values.get(name + " " + metric)


# ---- formatting ---------------------------------------------------------------------------------


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2f M" % (v / 1e6)
    if v >= 1e4:
        return "%.1f k" % (v / 1e3)
    return "%.0f" % v


def fmt_us(v):
    if v is None:
        return "-"
    return "%.2f us" % v if v < 10 else "%.1f us" % v if v < 100 else "%.0f us" % v


def fmt_pair(a, b, f):
    return "%s / %s" % (f(a), f(b))


def pct(v):
    return "-" if v is None else "%.0f %%" % (100 * v) if v >= 0.1 else "%.1f %%" % (100 * v)


def ratio(v):
    return "-" if v is None else "%.1fx" % v if v < 100 else "%.0fx" % v


def table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def div(a, b):
    return a / b if a is not None and b else None


def report(r, load_start, load_end, seconds):
    peak = {t: r.get("fma_peak_t%d" % t, "gflops") for t in (1, 2)}
    have_torch = not r.torch_missing and not os.environ.get("NO_TORCH")
    print()
    print("## ckeras beside PyTorch (medians; ratio = how many times faster ckeras is, at 1 / 2 threads)")
    print()
    rows = []
    for label, pat, kind, flops, part in ROWS:
        ck = [r.get(pat.format(t=t), "samples_per_s" if kind == "rate" else "us") for t in (1, 2)]
        pt = [r.get("torch_" + pat.format(t=t), "samples_per_s" if kind == "rate" else "us") for t in (1, 2)]
        f = fmt_rate if kind == "rate" else fmt_us
        if kind == "rate":
            ratios = [div(ck[i], pt[i]) for i in range(2)]
            gflops = [None if c is None else c * flops * 1e-9 for c in ck]
        else:
            ratios = [div(pt[i], ck[i]) for i in range(2)]
            gflops = [None if c is None else flops / (c * 1e-6) * 1e-9 for c in ck]
        shares = [div(gflops[i], peak[i + 1]) for i in range(2)]
        mem = "-"
        if part:
            ck_mb = r.get(part + "_maxrss", "mb")
            pt_mb = r.get("torch_" + part + "_maxrss", "mb")
            imp = r.get("torch_" + part + "_import_maxrss", "mb")
            mem = "%s / %s" % ("-" if ck_mb is None else "%.0f MB" % ck_mb,
                               "-" if pt_mb is None else "%.0f MB (%.0f import)" % (pt_mb, imp or 0))
        rows.append([label, f(ck[0]), f(ck[1]), f(pt[0]), f(pt[1]),
                     "%s / %s" % (ratio(ratios[0]), ratio(ratios[1])),
                     "%s / %s" % (pct(shares[0]), pct(shares[1])), mem])
    table(["workload", "ckeras 1 thr", "ckeras 2 thr", "PyTorch 1 thr", "PyTorch 2 thr", "ratio",
           "ckeras share of FMA peak (1 / 2 thr)", "peak RSS ckeras / PyTorch"], rows)

    print()
    print("## MLP 784-W-W-10 train, 1 thread: batch x width sweep (GFLOP/s of the products)")
    print()
    rows = []
    for b, w in SWEEP:
        name = "mlp_sweep_b%d_w%d_fit_t1" % (b, w)
        ck, pt = r.get(name, "gflops"), r.get("torch_" + name, "gflops")
        g = lambda v: "-" if v is None else "%.0f" % v
        rows.append(["%d x %d" % (b, w), g(ck), g(pt), ratio(div(ck, pt)), pct(div(ck, peak[1])), pct(div(pt, peak[1]))])
    table(["batch x width", "ckeras GFLOP/s", "PyTorch GFLOP/s", "ratio", "ckeras share of peak",
           "PyTorch share of peak"], rows)

    print()
    g = lambda v: "-" if v is None else "%.0f" % v
    print("FMA peak measured in this run (bench_peak, the faster of its start and end runs): "
          "%s GFLOP/s on 1 thread, %s on 2." % (g(peak[1]), g(peak[2])))
    print("FLOPs per sample (2 per multiply-add of the products; bench/README.md): train seed MLP %.1f k, "
          "MLP 784 %.2f M, LeNet %.2f M, VGG %.1f M, LSTM %.2f M, GRU %.2f M; predict seed MLP %.1f k, "
          "LeNet %.2f M." % (
              train_flops(SEED) / 1e3, train_flops(MNIST) / 1e6, train_flops(LENET) / 1e6,
              train_flops(VGG) / 1e6, train_flops(LSTM) / 1e6, train_flops(GRU) / 1e6,
              predict_flops(SEED) / 1e3, predict_flops(LENET) / 1e6))
    if peak[1] and peak[2] and peak[2] < 1.5 * peak[1]:
        print("The 2-thread peak is below 1.5 x the 1-thread peak: the second core was busy, and the 2-thread "
              "shares mean little.")
    print("Peak RSS: each workload's own process (ru_maxrss); PyTorch's includes importing torch (in brackets).")
    if not have_torch:
        print("PyTorch: not measured (%s): its columns say '-'." % r.torch_missing)
    else:
        print("PyTorch (run_torch.sh): %s." % (r.torch_blas or "BLAS unknown"))
    for n in r.notes:
        print(n)
    # the load at the end counts the benchmarks' own threads (on 2 cores they keep it near 1), so
    # only the load before the first workload says whether something else was running
    print("1-minute load average: %.2f at the start, %.2f at the end (the benchmarks' own work included); "
          "%.0f s in all." % (load_start, load_end, seconds))
    if load_start > 0.5:
        print("WARNING: the machine was busy (load above 0.5 at the start): the figures are not comparable with "
              "an idle machine's, and 2-thread figures suffer most.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    t0 = time.time()
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        print("# WARNING: 1-minute load average %.2f > 0.5: the machine is busy; results will be noisy "
              "(bench/README.md asks for an idle machine)" % load_start, flush=True)
    r = Run(out)
    if os.environ.get("NO_TORCH"):
        r.torch_missing = "NO_TORCH is set"
    r.ckeras("bench_peak", {})
    for ck, pt in PARTS:
        r.ckeras(*ck)
        if pt:
            r.torch(*pt)
    for prog in sorted(os.listdir(out)):
        if prog.startswith("bench_") and prog not in PARTED and os.access(os.path.join(out, prog), os.X_OK):
            r.ckeras(prog, {})
    if not r.torch_missing:
        for script in sorted(os.listdir(os.path.join(HERE, "torch"))):
            if script.endswith(".py") and not script.startswith("_") and script not in TORCH_PARTED:
                r.torch(os.path.join("torch", script), {})
    r.ckeras("bench_peak", {})
    report(r, load_start, os.getloadavg()[0], time.time() - t0)


if __name__ == "__main__":
    main()
