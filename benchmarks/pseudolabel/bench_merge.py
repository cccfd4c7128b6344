#!/usr/bin/env python3
"""UnSAM's conquer merge: useg (heap, greedy and pass orders) vs the
reference-style Python linear scan, same grids, same run.

usage: bench_merge.py BENCH_BINARY [--reps N] [--ref-reps M]

The Python side is tests/pseudolabel/merge_reference.py's iterative_merge:
the reference's dict of edges with a linear max() per merge, NumPy vectors.
(The released code does the same scan with torch vectors and a full-grid
mask per cluster, so it is slower still.) Grids are 32 x 32 x 768, the
reference's conquer size: planted regions, and projected patch textures of
a BSDS500 photo when ../shared is there. Reported: medians of wall and CPU
time (both sides single-threaded; on a shared machine CPU time is the
steadier number), merges per CPU second, and the speed-up in CPU time.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "pseudolabel"))
import merge_reference as ref  # noqa: E402


def grids():
    rng = np.random.default_rng(5)
    out = [("planted regions", ref.planted(rng, 32, 32, 768, 12, 0.5))]
    if os.path.isdir(ref.BSDS_VAL):
        from PIL import Image
        name = sorted(f for f in os.listdir(ref.BSDS_VAL) if f.endswith(".jpg"))[0]
        img = Image.open(os.path.join(ref.BSDS_VAL, name))
        proj = rng.standard_normal((96, 768)).astype(np.float32)
        out.append((f"BSDS {name} textures", ref.texture_features(img, rng) @ proj))
    return out


def ours(binary, path, reps, order):
    r = subprocess.run([binary, path, str(reps), order], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{binary} failed: {r.stderr.strip()}")
    fields = dict(f.split("=") for f in r.stdout.split())
    return int(fields["merges"]), float(fields["median_ms"]), float(fields["cpu_ms"])


def reference(features, reps):
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        merges, _ = ref.iterative_merge(features, ref.THETAS)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return len(merges), sorted(wall)[reps // 2], sorted(cpu)[reps // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--ref-reps", type=int, default=3)
    args = ap.parse_args()
    print(f"merge of a 32 x 32 x 768 grid, thresholds {ref.THETAS}; medians of {args.reps} (useg) "
          f"and {args.ref_reps} (Python) runs, single thread")
    print(f"{'grid':<28} {'order':<7} | {'merges':>6} {'wall ms':>9} {'CPU ms':>9} {'merges/s':>10} {'speed-up':>8}")
    with tempfile.TemporaryDirectory() as d:
        for label, f in grids():
            path = os.path.join(d, "features.npy")
            np.save(path, f.astype(np.float32))
            n, wall, cpu = reference(f, args.ref_reps)
            print(f"{label:<28} {'python':<7} | {n:>6} {wall:>9.1f} {cpu:>9.1f} {n / cpu * 1e3:>10.0f} {'1.0':>8}")
            cpu_ref = cpu
            for order in ("greedy", "passes"):
                n, wall, cpu = ours(args.binary, path, args.reps, order)
                print(f"{label:<28} {order:<7} | {n:>6} {wall:>9.2f} {cpu:>9.2f} {n / cpu * 1e3:>10.0f} "
                      f"{cpu_ref / cpu:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
