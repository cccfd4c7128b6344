#!/usr/bin/env python3
"""Times bench_nn (useg) and the same ops in PyTorch 1.13 in one run, same thread count.

Usage: bench_nn_torch.py BENCH_NN_BINARY. Each side reports the median of 21
runs (after a warm-up) per op in milliseconds; the table sets them side by
side. Sizes and the measured parts match bench_nn.c: the layer norm backward
accumulates into existing .grad tensors on both sides, as in training.
Threads: OMP_NUM_THREADS when set, else PyTorch's default, for both.
Exits 77 (skipped) without torch.
"""
import os
import subprocess
import sys
import time

try:
    import torch
except ImportError as e:  # pragma: no cover - reported as a skip
    print(f"skipped: PyTorch unavailable ({e})")
    sys.exit(77)

F = torch.nn.functional
REPS = 21


def median_ms(run):
    run()
    times = sorted(run() for _ in range(REPS))
    return times[REPS // 2]


def timed(f):
    t0 = time.perf_counter()
    f()
    return (time.perf_counter() - t0) * 1e3


def torch_times():
    torch.manual_seed(0)
    rows, dim = 8 * 197, 768
    x = torch.randn(rows, dim, requires_grad=True)
    w = (1 + 0.1 * torch.randn(dim)).requires_grad_()
    b = (0.1 * torch.randn(dim)).requires_grad_()
    g = torch.randn(rows, dim)
    scores = torch.randn(8 * 12 * 197, 197)
    logits = torch.randn(8, 27, 112, 112, requires_grad=True)
    target = torch.randint(0, 27, (8, 112, 112))

    def ln_fwd():
        with torch.no_grad():
            return timed(lambda: F.layer_norm(x, (dim,), w, b, 1e-6))

    def ln_bwd():
        y = F.layer_norm(x, (dim,), w, b, 1e-6)
        return timed(lambda: y.backward(g))

    def softmax_fwd():
        with torch.no_grad():
            return timed(lambda: F.softmax(scores, -1))

    def ce_fwd_bwd():
        return timed(lambda: F.cross_entropy(logits, target).backward())

    return {"layer_norm_fwd": median_ms(ln_fwd), "layer_norm_bwd": median_ms(ln_bwd),
            "softmax_fwd": median_ms(softmax_fwd), "cross_entropy_fwd_bwd": median_ms(ce_fwd_bwd)}


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    threads = os.environ.get("OMP_NUM_THREADS")
    if threads:
        torch.set_num_threads(int(threads))
    ours = {}
    for line in subprocess.run([sys.argv[1]], check=True, capture_output=True, text=True).stdout.splitlines():
        name, ms = line.split()
        ours[name] = float(ms)
    ref = torch_times()
    print(f"threads: {threads or torch.get_num_threads()} (OMP_NUM_THREADS={threads})")
    print(f"{'op':24} {'useg ms':>9} {'torch ms':>9} {'ratio':>6}")
    for name, ms in ours.items():
        print(f"{name:24} {ms:9.3f} {ref[name]:9.3f} {ms / ref[name]:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
