#!/usr/bin/env python3
"""Time useg's CUDA kernels and PyTorch's on the same shapes, side by side.

usage: compare_torch.py BENCH_CUDA [--quick] [--json OUT.json]

BENCH_CUDA is build/benchmarks/cuda/bench_cuda. It prints one JSON line per
measurement; this script times the PyTorch equivalent of each one in the same
way (median of 5 timed runs after a warm-up, CUDA events around a loop):
  gemm           torch.mm (bf16; f32 with TF32 allowed / forbidden), i.e. cuBLAS
  attention_fwd  F.scaled_dot_product_attention, PyTorch's default backend,
                 and cuDNN's fused attention alone when this PyTorch has it
  attention_bwd  the backward of the same call (torch.autograd.grad)
and prints a table: milliseconds, TFLOP/s, and useg's time over PyTorch's.

Run it with the Python that has a CUDA PyTorch (2.x); it exits 77 with a
message when there is no GPU, no CUDA PyTorch, or bench_cuda skips.
"""
import argparse
import json
import subprocess
import sys

REPEATS = 5


def skip(message):
    print(f"compare_torch: skipped: {message}")
    sys.exit(77)


def run_bench(binary, quick):
    args = [binary] + (["--quick"] if quick else [])
    p = subprocess.run(args, capture_output=True, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode == 77:
        skip(p.stdout.strip() or "bench_cuda found no GPU")
    if p.returncode != 0:
        sys.exit(f"compare_torch: {binary} failed with exit {p.returncode}:\n{p.stdout}")
    return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]


def median_ms(torch, fn, iters):
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(REPEATS):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / iters)
    return sorted(times)[REPEATS // 2]


def torch_gemm(torch, row):
    m, n, k = row["shape"]
    dtype = torch.bfloat16 if row["dtype"] == "bf16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = row["dtype"] == "tf32"
    a = torch.randn(m, k, device="cuda", dtype=dtype)
    b = torch.randn(k, n, device="cuda", dtype=dtype)
    c = torch.empty(m, n, device="cuda", dtype=dtype)
    ms = median_ms(torch, lambda: torch.mm(a, b, out=c), 20)
    torch.backends.cuda.matmul.allow_tf32 = False
    return {"torch.mm": ms}


def attention_backends(torch):
    """(label, context manager factory) for the SDPA paths to time."""
    backends = [("sdpa", None)]
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        if hasattr(SDPBackend, "CUDNN_ATTENTION"):
            backends.append(("sdpa cudnn", lambda: sdpa_kernel(SDPBackend.CUDNN_ATTENTION)))
    except ImportError:
        pass
    return backends


def torch_attention(torch, row):
    import contextlib

    import torch.nn.functional as F

    b, h, n, d = row["shape"]
    dtype = torch.bfloat16 if row["dtype"] == "bf16" else torch.float32
    q, k, v = (torch.randn(b, h, n, d, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
    grad = torch.randn(b, h, n, d, device="cuda", dtype=dtype)
    results = {}
    for label, make_ctx in attention_backends(torch):
        try:
            with make_ctx() if make_ctx else contextlib.nullcontext():
                if row["bench"] == "attention_fwd":
                    with torch.no_grad():
                        ms = median_ms(torch, lambda: F.scaled_dot_product_attention(q, k, v, scale=0.125), 10)
                else:
                    out = F.scaled_dot_product_attention(q, k, v, scale=0.125)
                    ms = median_ms(
                        torch, lambda: torch.autograd.grad(out, (q, k, v), grad, retain_graph=True), 10)
            results[label] = ms
        except RuntimeError as e:  # a backend that does not take this dtype / shape
            print(f"compare_torch: {label} {row['dtype']} {row['shape']}: unavailable ({str(e).splitlines()[0]})",
                  file=sys.stderr)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_cuda")
    ap.add_argument("--quick", action="store_true", help="one size per kernel (a smoke test)")
    ap.add_argument("--json", help="also write all rows here")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        skip("this Python has no PyTorch")
    if not torch.cuda.is_available():
        skip(f"PyTorch {torch.__version__} sees no CUDA GPU")
    rows = run_bench(args.bench_cuda, args.quick)
    print(f"GPU: {torch.cuda.get_device_name(0)}, PyTorch {torch.__version__}")
    header = f"{'bench':15} {'dtype':5} {'shape':22} {'useg ms':>9} {'TFLOP/s':>8}   {'reference':12} {'ms':>9} {'TFLOP/s':>8} {'useg/ref':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        timings = torch_gemm(torch, row) if row["bench"] == "gemm" else torch_attention(torch, row)
        flops = row["tflops"] * row["ms"] * 1e9
        row["torch"] = timings
        for i, (label, ms) in enumerate(timings.items()):
            ours = f"{row['ms']:9.3f} {row['tflops']:8.1f}" if i == 0 else " " * 18
            print(f"{row['bench'] if i == 0 else '':15} {row['dtype'] if i == 0 else '':5} "
                  f"{str(row['shape']) if i == 0 else '':22} {ours}   {label:12} {ms:9.3f} "
                  f"{flops / (ms * 1e9):8.1f} {row['ms'] / ms:8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
