#!/usr/bin/env python3
"""Normalized-cut eigensolve: useg (Lanczos on a bit-matrix graph) vs
scipy.linalg.eigh(D - W, D, subset_by_index=[1, 1]) on the same graphs.

usage: bench_ncut.py BENCH_BINARY [--reps N] [--threads T] [--images K]

For K shared BSDS500 photos and grids of 30 x 30 (n = 900) and 60 x 60
(n = 3600) patches, photo_features() (tests/pseudolabel/maskcut_reference.py)
gives the features. bench_ncut builds the graph (tau 0.15, eps 1e-5), solves
it, runs the 3-cut chain and writes its link matrix; SciPy then solves that
same W. Reported per case: medians of REPS runs of each side (SciPy: at most
3 runs at n = 3600), the speed-up, and the accuracy of useg's vector against
SciPy's: |cos|, the share of nodes on the same side of the mean, and the
eigenvalue difference. SciPy runs with OPENBLAS_CORETYPE=SkylakeX on AVX-512
CPUs (Debian's OpenBLAS otherwise falls back to slow generic kernels here),
and both sides use T threads (default 1).
Exits 77 when the shared photos are absent.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--reps", type=int, default=5)
    # One thread by default: the two cores here are shared by several
    # engineers, and with more threads each side mostly measures the others.
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--images", type=int, default=3)
    args = ap.parse_args()
    photos = sorted(glob.glob(os.path.join(ROOT, "..", "shared", "data", "bsds500", "images", "val", "*.jpg")))
    if not photos:
        print("skipped: no photos in ../shared/data/bsds500/images/val beside the source tree")
        return 77
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    if "OPENBLAS_CORETYPE" not in os.environ and "avx512f" in open("/proc/cpuinfo").read():
        # Must be set before numpy loads OpenBLAS: re-run ourselves with it.
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(env, OPENBLAS_CORETYPE="SkylakeX"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "pseudolabel"))
    import numpy as np
    import scipy.linalg
    from maskcut_reference import photo_features

    print(f"ncut eigensolve, useg vs scipy.linalg.eigh(D - W, D, subset_by_index=[1, 1]); "
          f"{args.threads} threads, medians of {args.reps} runs")
    print(f"{'image':<12} {'n':>5} | {'graph ms':>8} {'eig ms':>8} {'its':>4} {'chain ms':>8} | "
          f"{'scipy ms':>9} {'speed-up':>8} | {'|cos|':>10} {'same side':>9} {'d lambda':>9}")
    speedups = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in photos[: args.images]:
            for grid in (30, 60):
                feats = photo_features(path, grid)
                fpath = os.path.join(tmp, "feats.npy")
                np.save(fpath, feats)
                r = subprocess.run([args.binary, fpath, str(args.reps), tmp], env=env, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"{args.binary} failed: {r.stderr.strip()}")
                ours = dict(f.split("=") for f in r.stdout.split())
                adj = np.load(os.path.join(tmp, "adj.npy"))
                y = np.load(os.path.join(tmp, "y.npy"))
                w = np.where(adj == 1, 1.0, 1e-5)
                d = np.diag(w.sum(axis=1))
                times = []
                for _ in range(args.reps if grid == 30 else min(args.reps, 3)):
                    t0 = time.perf_counter()
                    vals, vecs = scipy.linalg.eigh(d - w, d, subset_by_index=[1, 1])
                    times.append((time.perf_counter() - t0) * 1e3)
                ref = vecs[:, 0]
                scipy_ms = sorted(times)[len(times) // 2]
                cos = abs(y @ ref) / np.linalg.norm(y) / np.linalg.norm(ref)
                ref = ref if y @ ref > 0 else -ref
                same = np.mean((y > y.mean()) == (ref > ref.mean()))
                eig_ms = float(ours["eig_ms"])
                speedups.setdefault(grid * grid, []).append(scipy_ms / eig_ms)
                print(f"{os.path.basename(path):<12} {grid * grid:>5} | {float(ours['affinity_ms']):>8.2f} "
                      f"{eig_ms:>8.2f} {ours['iterations']:>4} {float(ours['chain_ms']):>8.2f} | "
                      f"{scipy_ms:>9.1f} {scipy_ms / eig_ms:>7.0f}x | {cos:>10.8f} {same:>9.4f} "
                      f"{abs(float(ours['eigenvalue']) - vals[0]):>9.2e}")
    for n, s in speedups.items():
        print(f"n = {n}: median speed-up {sorted(s)[len(s) // 2]:.0f}x")
    print("graph: affinity from features (normalise, GEMM, bits, degrees); eig: eigensolve on the graph; "
          "chain: useg_maskcut, 3 cuts from features")
    return 0


if __name__ == "__main__":
    sys.exit(main())
