#!/usr/bin/env python3
"""Bilinear / bicubic interpolation: useg vs PyTorch 1.13, same shapes, same run.

usage: bench_interp.py BENCH_BINARY [--reps N] [--threads T]

Each case times useg's f32 forward (or backward) through bench_interp with
OMP_NUM_THREADS=T (default 2), and F.interpolate(align_corners=False) under
torch.set_num_threads(T) (forward under no_grad; backward as
y.backward(g) with y computed outside the timer). Reported: medians of REPS
runs after a warm-up, and their ratio.
"""
import argparse
import os
import subprocess
import sys
import time

import torch

F = torch.nn.functional

# (label, mode, input shape, output size or scale factors, backward)
CASES = [
    ("DINO pos-embed 14->60.1 (ViT-B/8 @480)", "bicubic", (1, 768, 14, 14), (60.1 / 14, 60.1 / 14), False),
    ("DINO pos-embed backward", "bicubic", (1, 768, 14, 14), (60.1 / 14, 60.1 / 14), True),
    ("code upsample 40->320 (STEGO)", "bilinear", (1, 70, 40, 40), (320, 320), False),
    ("code upsample backward", "bilinear", (1, 70, 40, 40), (320, 320), True),
    ("logits upsample 60->480", "bilinear", (1, 27, 60, 60), (480, 480), False),
    ("image down 480x640->224x299", "bilinear", (1, 3, 480, 640), (224, 299), False),
    ("image up 224->480", "bicubic", (1, 3, 224, 224), (480, 480), False),
]


def torch_ms(mode, shape, size, backward, reps):
    torch.manual_seed(1)
    x = torch.randn(*shape, requires_grad=backward)
    kw = {"scale_factor": size} if isinstance(size[0], float) else {"size": size}
    times = []
    for r in range(reps + 1):
        if backward:
            y = F.interpolate(x, mode=mode, align_corners=False, **kw)
            g = torch.randn_like(y)
            t0 = time.perf_counter()
            y.backward(g)
        else:
            with torch.no_grad():
                t0 = time.perf_counter()
                F.interpolate(x, mode=mode, align_corners=False, **kw)
        if r:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    return times[len(times) // 2]


def ours_ms(binary, mode, shape, size, backward, reps, threads):
    out = [repr(s) if isinstance(s, float) else str(s) for s in size]
    cmd = [binary, mode, *map(str, shape), *out, str(reps)] + (["backward"] if backward else [])
    r = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS=str(threads)), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
    fields = dict(f.split("=") for f in r.stdout.split())
    return float(fields["median_ms"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"interpolation, f32, {args.threads} threads, median of {args.reps} runs")
    print(f"{'case':<40} {'mode':<8} | {'useg ms':>8} {'torch ms':>8} {'ratio':>6}")
    for label, mode, shape, size, backward in CASES:
        ours = ours_ms(args.binary, mode, shape, size, backward, args.reps, args.threads)
        peer = torch_ms(mode, shape, size, backward, args.reps)
        print(f"{label:<40} {mode:<8} | {ours:>8.2f} {peer:>8.2f} {ours / peer:>6.2f}")
    print("ratio = useg / torch (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
