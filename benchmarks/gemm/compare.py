#!/usr/bin/env python3
"""f32 GEMM speed of useg against NumPy and PyTorch, in one run, one table.

Usage: /usr/bin/python3 compare.py BENCH_GEMM [MxKxN ...]

For each shape, in 3 rounds, it runs the C benchmark (bench_gemm,
useg_gemm_f32) and then times np.matmul and torch.mm on the same shape the
same way (preallocated output, one warm-up call, 5 samples of back-to-back
calls lasting >= 0.05 s, median). A library's figure is the median of its
3 round medians: interleaving the three in rounds gives them the same share
of the load other jobs put on this shared machine. The peers get
OPENBLAS_CORETYPE=SkylakeX (set before they are imported) so that they run
at their best; useg runs with the environment the user gave it, as a user
would. Prints GFLOP/s and useg's ratio to the best peer.
"""
import os
import re
import statistics
import subprocess
import sys
import time

USER_ENV = dict(os.environ)
os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")

import numpy as np  # noqa: E402  (after the core type is set)
import torch  # noqa: E402

# Debian's torch starts with one intra-op thread here; give it every core.
torch.set_num_threads(len(os.sched_getaffinity(0)))

SHAPES = ["256x256x256", "1024x1024x1024", "2048x2048x2048", "197x384x1152", "3601x768x2304"]
SAMPLES = 5
MIN_SAMPLE_S = 0.05
ROUNDS = 3
LINE = re.compile(r"^(\d+x\d+x\d+)\s+([\d.]+) ms\s+([\d.]+) GFLOP/s")


def median_seconds(call):
    """Median seconds per call, sampled as bench_gemm.c does."""
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    reps = 1 if first > MIN_SAMPLE_S else int(MIN_SAMPLE_S / max(first, 1e-6)) + 1
    samples = []
    for _ in range(SAMPLES):
        t0 = time.perf_counter()
        for _ in range(reps):
            call()
        samples.append((time.perf_counter() - t0) / reps)
    return sorted(samples)[SAMPLES // 2]


def useg_gflops(bench, shape):
    out = subprocess.run([bench, shape], env=USER_ENV, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    match = next(m for m in map(LINE.match, lines) if m)
    return lines[0], float(match.group(3))


def peer_arrays(shape):
    m, k, n = map(int, shape.split("x"))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    return 2.0 * m * n * k, a, b, np.empty((m, n), dtype=np.float32)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    bench, shapes = sys.argv[1], sys.argv[2:] or SHAPES
    rows, header = [], ""
    for shape in shapes:
        flop, a, b, c = peer_arrays(shape)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        runs = {"useg": [], "numpy": [], "torch": []}
        for _ in range(ROUNDS):
            header, useg = useg_gflops(bench, shape)
            runs["useg"].append(useg)
            runs["numpy"].append(flop / median_seconds(lambda: np.matmul(a, b, out=c)) * 1e-9)
            runs["torch"].append(flop / median_seconds(lambda: torch.mm(ta, tb, out=tc)) * 1e-9)
        rows.append((shape, *(statistics.median(runs[k]) for k in ("useg", "numpy", "torch"))))
    print(header)
    print(f"numpy {np.__version__} and torch {torch.__version__} ({torch.get_num_threads()} threads) "
          f"with OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}; GFLOP/s, medians of {ROUNDS} rounds "
          f"of medians of {SAMPLES} samples; load average {os.getloadavg()[0]:.2f}")
    print(f"{'M x K x N':>16} {'useg':>8} {'numpy':>8} {'torch':>8} {'useg/best':>10}")
    for shape, useg, numpy, torch_ in rows:
        print(f"{shape:>16} {useg:8.1f} {numpy:8.1f} {torch_:8.1f} {useg / max(numpy, torch_):10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
