"""Shared by the PyTorch reference scripts in this folder (run_torch.sh skips files starting
with an underscore): the timing bench.h does, the `bench <name> <metric> <value>` lines, thread
lists from the environment, peak resident memory, and a `#` line saying which BLAS and which
allocator settings torch runs with.

Import this module, then torch, then call import_done() at once: the peak resident memory at
that point is what importing torch alone costs (reported as torch_<part>_import_maxrss)."""
import os
import resource
import statistics
import time

_import_rss = None


def maxrss_mb():
    """Peak resident memory of this process so far, in MB (10^6 bytes; ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def import_done():
    global _import_rss
    _import_rss = maxrss_mb()


def bench(name, metric, value):
    print("bench %s %s %.4g" % (name, metric, value), flush=True)


def threads(var, default):
    """Thread counts from the environment variable var ("1", "2" or "1,2"), else default."""
    s = os.environ.get(var) or default
    return [int(t) for t in s.split(",") if t.strip().isdigit() and int(t) > 0]


def median_seconds(fn):
    """Median seconds per call of fn, as bench.h: one warm-up call, calls per sample doubled
    until a sample lasts BENCH_MIN_MS (default 20) ms, then BENCH_REPEATS (default 11, at least
    3) samples. BENCH_CLOCK=cpu times with the process's CPU clock (1 thread only)."""
    repeats = max(3, int(os.environ.get("BENCH_REPEATS", "11")))
    min_s = 1e-3 * max(1, int(os.environ.get("BENCH_MIN_MS", "20")))
    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    fn()
    inner = 1
    while True:
        t0 = clock()
        for _ in range(inner):
            fn()
        if clock() - t0 >= min_s or inner >= 1 << 20:
            break
        inner *= 2
    times = []
    for _ in range(repeats):
        t0 = clock()
        for _ in range(inner):
            fn()
        times.append((clock() - t0) / inner)
    return statistics.median(times)


def train_rate(torch, model, x, y):
    """Samples/s of one training step of model on the fixed batch x, y (what bench_cnn and
    bench_rnn time with train_on_batch): zero_grad, forward, CrossEntropyLoss on the logits,
    backward, Adam (lr 1e-3, Keras' epsilon 1e-7) step; after five warm-up steps, the median step
    (median_seconds)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):  # warm-up
        step()
    return x.shape[0] / median_seconds(step)


def _blas_libraries():
    """The BLAS/LAPACK shared objects mapped into this process (after torch has used them)."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if ("blas" in base or "blis" in base) and path not in found:
                    found.append(path)
    except OSError:
        pass
    return [os.path.realpath(p) for p in found if "openblasp" not in os.path.basename(p)]


def header(torch):
    """`#` lines: torch's version and threading, the BLAS it loaded, the allocator settings."""
    a = torch.ones(64, 64)
    (a @ a).sum()  # loads the BLAS if it is loaded lazily
    info = [l.strip() for l in torch.__config__.parallel_info().splitlines()
            if "parallel backend" in l or "MKL-DNN" in l]
    print("# torch %s; %s" % (torch.__version__, "; ".join(info)))
    libs = _blas_libraries()
    print("# torch blas: %s; OPENBLAS_CORETYPE=%s; GLIBC_TUNABLES=%s" % (
        " ".join(libs) or "unknown", os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        os.environ.get("GLIBC_TUNABLES", "(unset)")), flush=True)


def print_rss(part):
    """torch_<part>_import_maxrss (after import torch) and torch_<part>_maxrss (now), in MB."""
    if _import_rss is not None:
        bench("torch_%s_import_maxrss" % part, "mb", _import_rss)
    bench("torch_%s_maxrss" % part, "mb", maxrss_mb())
