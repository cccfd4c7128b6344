#!/usr/bin/env python3
"""DINO ViT forward: useg vs PyTorch 1.13, same architecture, same run.

usage: bench_vit.py BENCH_BINARY TESTS_MODELS_DIR [--reps N] [--configs S16-224,S8-224,B8-480]
                    [--batches 1,8] [--useg-policies default,passive] [--torch-policies passive]

For each configuration (ViT-S/16 and ViT-S/8 at 224, ViT-B/8 at 480) and
batch it times, each in a fresh process so that peak memory is per
configuration:
  useg   bench_vit (random weights, no-grad forward to the tokens tap, which
         runs every block and the final norm, and to the keys tap that
         MaskCut reads), OMP_NUM_THREADS=2;
  torch  the ViT of tests/models/vit_reference.py (imported; written from the
         same spec, it is what the parity test compares against) under
         torch.no_grad(), torch.set_num_threads(2), OPENBLAS_CORETYPE=SkylakeX
         (Debian's OpenBLAS falls back to a slow generic kernel on this CPU
         otherwise). Its forward computes every tap in one pass, the tokens
         tap's work.
Each side runs once per OMP_WAIT_POLICY in its --*-policies ("default":
unset) and its faster run is compared. The policy decides how idle OpenMP
threads wait, and on this shared 2-core machine it decides much: under
libgomp's default (spin, then sleep) PyTorch's OpenMP workers spin on the
cores its OpenBLAS threads need (ViT-S/16 at 224: 1.2 s against 0.14 s
passive), so only "passive" is its best; useg runs one pool, and its default
is fastest on idle cores, "passive" when other jobs take cores from it.
Reported: medians of REPS runs after a warm-up (fewer for the large
configurations, see REPS_CAP) of the wall time and of the CPU time of all
threads (steadier when other jobs share the cores), ratio = useg tokens /
torch (lower is better), and each process's peak resident memory
(ru_maxrss: weights, activations, libraries). ViT-B/8 480 batch 8 times the
tokens tap only (a forward takes a minute or more); PyTorch there is not run: it materialises 8 x 12 x 3601 x 3601 f32 scores (4.6 GiB) three
to four times over (q k^T, its scaled copy, the softmax, the previous
block's attention kept as a tap), about 20 GB on this 24 GB shared machine.
"""
import argparse
import os
import shlex
import subprocess
import sys
import time

TORCH_PEER = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[1])
import torch
import vit_reference as ref
torch.set_num_threads(2)
dim, heads, patch, grid, size, batch, reps = (int(a) for a in sys.argv[2:9])
model = ref.ViT(dim, heads, patch, grid, False).eval()
ref.randomise(model, torch.Generator().manual_seed(1))
x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2))
wall, cpu = [], []
with torch.no_grad():
    for r in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        out = model(x)
        if r:
            wall.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        del out
wall.sort()
cpu.sort()
print(f"ms={wall[len(wall) // 2]:.1f} cpu_ms={cpu[len(cpu) // 2]:.1f} "
      f"peak_rss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
"""

# name: (useg arch, dim, heads, patch, torch pos grid, size)
CONFIGS = {
    "S16-224": ("vit_small", 384, 6, 16, 14, 224),
    "S8-224": ("vit_small", 384, 6, 8, 28, 224),
    "B8-480": ("vit_base", 768, 12, 8, 28, 480),
}
# Most timed runs per (config, batch), so the whole table takes minutes.
REPS_CAP = {("B8-480", 1): 3, ("B8-480", 8): 1, ("S8-224", 8): 3}
# Configurations whose keys tap is not timed (a forward takes about a minute).
TOKENS_ONLY = {("B8-480", 8)}
TORCH_SKIPPED = {("B8-480", 8): "~20 GB of attention scores"}


def parse(line):
    return dict(f.split("=", 1) for f in shlex.split(line))


def run(cmd, env):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd[:2])} failed: {r.stderr.strip()[-2000:]}")
    return parse(r.stdout.strip().splitlines()[-1])


def policy_envs(policies, **env):
    """{policy: environment} with OMP_WAIT_POLICY set ("default": unset)."""
    envs = {}
    for policy in policies.split(","):
        e = dict(os.environ, **env)
        e.pop("OMP_WAIT_POLICY", None)
        if policy != "default":
            e["OMP_WAIT_POLICY"] = policy
        envs[policy] = e
    return envs


def fastest(runs, key):
    """(result, policy) of the run with the smallest `key`."""
    policy = min(runs, key=lambda p: float(runs[p][key]))
    return runs[policy], policy


def load():
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("tests_models_dir")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--useg-policies", default="default,passive")
    ap.add_argument("--torch-policies", default="passive")
    args = ap.parse_args()
    useg_envs = policy_envs(args.useg_policies, OMP_NUM_THREADS="2")
    torch_envs = policy_envs(args.torch_policies, OMP_NUM_THREADS="2", OPENBLAS_CORETYPE="SkylakeX")
    print(f"ViT forward, f32, no grad, 2 threads; medians; load average at start {load()}")
    print(f"{'':16} | {'wall ms':^50} | {'CPU ms (all threads)':^24} | {'peak RSS MB':^12}")
    print(f"{'config':>8} {'B':>2} {'reps':>4} | {'keys':>7} {'tokens':>7} {'policy':>7} {'torch':>7} {'policy':>7} "
          f"{'ratio':>5} | {'tokens':>7} {'torch':>7} {'ratio':>5} | {'useg':>5} {'torch':>5}")
    blas = ""
    t_start = time.time()
    for name in args.configs.split(","):
        arch, dim, heads, patch, grid, size = CONFIGS[name]
        for batch in (int(b) for b in args.batches.split(",")):
            reps = min(args.reps, REPS_CAP.get((name, batch), args.reps))
            argv = [arch, str(patch), str(size), str(batch), str(reps)] + (
                ["tokens"] if (name, batch) in TOKENS_ONLY else [])
            ours, mine = fastest({p: run([args.binary, *argv], e) for p, e in useg_envs.items()}, "tokens_ms")
            blas = ours["blas"]
            tok, tok_cpu, mb = float(ours["tokens_ms"]), float(ours["tokens_cpu_ms"]), int(ours["peak_rss_kb"]) / 1024
            keys = f"{float(ours['keys_ms']):>7.0f}" if (name, batch) not in TOKENS_ONLY else f"{'-':>7}"
            row = f"{name:>8} {batch:>2} {reps:>4} | {keys} {tok:>7.0f} {mine:>7} "
            if (name, batch) in TORCH_SKIPPED:
                row += (f"{'-':>7} {'-':>7} {'-':>5} | {tok_cpu:>7.0f} {'-':>7} {'-':>5} | {mb:>5.0f} {'-':>5}"
                        f"   torch not run: {TORCH_SKIPPED[(name, batch)]}")
            else:
                peer_argv = ["/usr/bin/python3", "-c", TORCH_PEER, args.tests_models_dir,
                             *(str(v) for v in (dim, heads, patch, grid, size, batch, reps))]
                peer, theirs = fastest({p: run(peer_argv, e) for p, e in torch_envs.items()}, "ms")
                pt, pc = float(peer["ms"]), float(peer["cpu_ms"])
                row += (f"{pt:>7.0f} {theirs:>7} {tok / pt:>5.2f} | {tok_cpu:>7.0f} {pc:>7.0f} {tok_cpu / pc:>5.2f} | "
                        f"{mb:>5.0f} {int(peer['peak_rss_kb']) / 1024:>5.0f}")
            print(row, flush=True)
    print(f"ratio = useg tokens / torch (lower is better); each side's faster OMP_WAIT_POLICY (useg of "
          f"{args.useg_policies}, torch of {args.torch_policies}); useg BLAS: {blas}")
    print(f"load average at end {load()}; {time.time() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
