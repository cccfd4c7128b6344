#!/usr/bin/env python3
"""Fused attention forward: useg vs PyTorch 1.13, same shapes, same run.

usage: bench_attention.py BENCH_BINARY [--reps N] [--sizes 197,901,3601] [--heads 6,12]

For every (N tokens, H heads) with head dim 64 and batch 1 it times
useg_attention (bench_attention, f32, no gradient) and PyTorch's explicit
softmax(q @ k^T * scale, -1) @ v (F.scaled_dot_product_attention does not
exist in 1.13) under torch.no_grad(), each in a fresh process so that peak
memory is per shape. PyTorch runs with torch.set_num_threads(2) and
OPENBLAS_CORETYPE=SkylakeX (its OpenBLAS otherwise falls back to a slow
generic kernel on this CPU); useg with OMP_NUM_THREADS=2. Reported: medians
of REPS runs after a warm-up of the wall time and of the CPU time of all
threads (steadier when other jobs share the cores), their ratios, and the
growth of each process's peak resident memory over its timed runs (what the
computation touched).
"""
import argparse
import os
import shlex
import subprocess
import sys

TORCH_PEER = r"""
import resource, sys, time
import torch
torch.set_num_threads(2)
N, H, D, reps = (int(a) for a in sys.argv[1:5])
g = torch.Generator().manual_seed(1)
q, k, v = (torch.randn(1, H, N, D, generator=g) for _ in range(3))
scale = D ** -0.5
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times, cpu = [], []
with torch.no_grad():
    for r in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        out = torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v
        if r:
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        del out
times.sort()
cpu.sort()
growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"median_ms={times[len(times) // 2]:.3f} min_ms={times[0]:.3f} median_cpu_ms={cpu[len(cpu) // 2]:.3f} "
      f"peak_rss_growth_kb={growth}")
"""


def parse(line):
    return dict(f.split("=", 1) for f in shlex.split(line))


def run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed: {r.stderr.strip()}")
    return parse(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", default="197,901,3601")
    ap.add_argument("--heads", default="6,12")
    args = ap.parse_args()
    D = 64
    ours_env = dict(os.environ, OMP_NUM_THREADS="2")
    torch_env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OMP_NUM_THREADS="2")
    print(f"attention forward, f32, batch 1, head dim {D}, 2 threads, median of {args.reps} runs")
    print(f"{'':>9} | {'wall ms':^26} | {'CPU ms (all threads)':^26} | {'peak RSS growth MiB':^20}")
    print(f"{'N':>5} {'H':>3} | {'useg':>8} {'torch':>9} {'ratio':>6} | {'useg':>8} {'torch':>9} {'ratio':>6} | "
          f"{'useg':>8} {'torch':>9}")
    blas = ""
    for N in (int(s) for s in args.sizes.split(",")):
        for H in (int(h) for h in args.heads.split(",")):
            ours = run([args.binary, str(N), str(H), str(D), str(args.reps)], ours_env)
            peer = run(["/usr/bin/python3", "-c", TORCH_PEER, str(N), str(H), str(D), str(args.reps)], torch_env)
            blas = ours["blas"]
            row = f"{N:>5} {H:>3}"
            for key in ("median_ms", "median_cpu_ms"):
                a, b = float(ours[key]), float(peer[key])
                row += f" | {a:>8.2f} {b:>9.2f} {a / b:>6.2f}"
            row += f" | {int(ours['peak_rss_growth_kb']) / 1024:>8.1f} {int(peer['peak_rss_growth_kb']) / 1024:>9.1f}"
            print(row)
    print(f"ratio = useg / torch (lower is better); useg BLAS: {blas}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
