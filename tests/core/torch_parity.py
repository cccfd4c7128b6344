#!/usr/bin/env python3
"""PyTorch references for the op parity tests (see torch_parity.h).

A per-family script defines CASES = {name: (function of the input tensors,
input shapes, domain)} and calls torch_parity.main(CASES); run as
`torch_FAMILY.py TEST_BINARY`. The domain (one for all inputs, or a list with
one per input) is one of:
  "any"      standard normal f32                      (gradient checked)
  "pos"      0.2 + normal^2                           (gradient checked)
  "away"     normal pushed 0.2 away from zero         (gradient checked)
  "prob"     uniform [0, 1) f32, e.g. soft targets    (no gradient)
  "binary"   0.0 / 1.0 f32 targets                    (no gradient)
  "index:N"  int64 uniform in [0, N)                  (no gradient)
Only inputs with a gradient get a NAME.din<k>.npy; the C side checks exactly those.

For every case it draws seeded random f32 inputs, runs the op in
PyTorch (Debian's python3-torch 1.13), backpropagates a random upstream
gradient, and writes NAME.in<k>.npy, NAME.out.npy, NAME.dout.npy and
NAME.din<k>.npy into a temporary folder. Then it runs TEST_BINARY on that
folder and exits with its status. Each case's C twin has the same name and
must build the same expression (same views, same axes).
Exits 77 (skipped) when torch cannot be imported.
"""
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - reported as a skip
    print(f"skipped: PyTorch reference unavailable ({e}); apt-get install python3-torch")
    sys.exit(77)

GRAD_DOMAINS = ("any", "pos", "away")


def make_input(rng, shape, domain):
    if domain.startswith("index:"):
        return rng.integers(0, int(domain[6:]), size=shape, dtype=np.int64)
    if domain == "prob":
        return rng.random(shape, dtype=np.float32)
    if domain == "binary":
        return (rng.random(shape) < 0.5).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    if domain == "pos":
        x = (0.2 + x * x).astype(np.float32)
    elif domain == "away":
        x = np.where(x < 0, x - 0.2, x + 0.2).astype(np.float32)
    elif domain != "any":
        raise ValueError(f"unknown domain {domain}")
    return x


def main(cases):
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as out:
        for name, (fn, shapes, domain) in cases.items():
            domains = [domain] * len(shapes) if isinstance(domain, str) else domain
            inputs = [make_input(rng, s, d) for s, d in zip(shapes, domains)]
            tensors = [torch.tensor(x, requires_grad=d in GRAD_DOMAINS) for x, d in zip(inputs, domains)]
            y = fn(*tensors)
            dout = rng.standard_normal(tuple(y.shape)).astype(np.float32)
            y.backward(torch.tensor(dout))
            for k, x in enumerate(inputs):
                np.save(os.path.join(out, f"{name}.in{k}.npy"), x)
                if tensors[k].requires_grad:
                    np.save(os.path.join(out, f"{name}.din{k}.npy"), np.array(tensors[k].grad.numpy(), order="C"))
            np.save(os.path.join(out, f"{name}.out.npy"), np.array(y.detach().numpy(), order="C"))
            np.save(os.path.join(out, f"{name}.dout.npy"), dout)
        return subprocess.call([sys.argv[1], out])
