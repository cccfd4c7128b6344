#!/usr/bin/env python3
"""PyTorch references for the op parity test (tests/core/test_ops_torch.c).

Usage: torch_ops.py TEST_BINARY

For every case below it draws seeded random f32 inputs, runs the op in
PyTorch (Debian's python3-torch 1.13), backpropagates a random upstream
gradient, and writes NAME.in<k>.npy, NAME.out.npy, NAME.dout.npy and
NAME.din<k>.npy into a temporary folder. Then it runs TEST_BINARY on that
folder and exits with its status. Each case's C twin in test_ops_torch.c has
the same name and must build the same expression (same views, same axes).
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

F = torch.nn.functional

# name: (function of the input tensors, input shapes, value domain)
CASES = {
    "add_broadcast": (lambda a, b: a + b, [(2, 3, 5), (3, 1)], "any"),
    "sub_broadcast": (lambda a, b: a - b, [(5,), (2, 1, 5)], "any"),
    "mul_transposed": (lambda a, b: a.t() * b, [(5, 3), (5,)], "any"),
    "div_broadcast": (lambda a, b: a / b, [(3, 4), (4,)], "away"),
    "scale": (lambda a: -1.75 * a + 0.5, [(3, 3)], "any"),
    "exp": (lambda a: torch.exp(a), [(3, 5)], "any"),
    "log_sliced": (lambda a: torch.log(a[:, 1:6:2]), [(3, 7)], "pos"),
    "sqrt": (lambda a: torch.sqrt(a), [(7,)], "pos"),
    "rsqrt": (lambda a: torch.rsqrt(a), [(7,)], "pos"),
    "tanh": (lambda a: torch.tanh(a), [(1, 3, 5)], "any"),
    "sigmoid": (lambda a: torch.sigmoid(a), [(4, 5)], "any"),
    "relu_permuted": (lambda a: torch.relu(a.permute(2, 0, 1)), [(2, 3, 5)], "away"),
    "gelu": (lambda a: F.gelu(a), [(64, 33)], "any"),
    "sum_axes02": (lambda a: a.sum(dim=(0, 2)), [(2, 3, 5)], "any"),
    "sum_all": (lambda a: a.sum(), [(4, 1, 5)], "any"),
    "mean_last_keepdim": (lambda a: a.mean(dim=2, keepdim=True), [(2, 3, 7)], "any"),
    "max_axis1": (lambda a: a.max(dim=1).values, [(2, 5, 3)], "any"),
    "expand_mul": (lambda a: a.expand(2, 3, 5) * 2.0, [(3, 1)], "any"),
    "reshape_transposed": (lambda a: a.t().reshape(-1) * 3.0, [(3, 4)], "any"),
}


def make_input(rng, shape, domain):
    x = rng.standard_normal(shape).astype(np.float32)
    if domain == "pos":
        x = (0.2 + x * x).astype(np.float32)
    elif domain == "away":
        x = np.where(x < 0, x - 0.2, x + 0.2).astype(np.float32)
    return x


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    rng = np.random.default_rng(1234)
    with tempfile.TemporaryDirectory() as out:
        for name, (fn, shapes, domain) in CASES.items():
            inputs = [make_input(rng, s, domain) for s in shapes]
            tensors = [torch.tensor(x, requires_grad=True) for x in inputs]
            y = fn(*tensors)
            dout = rng.standard_normal(tuple(y.shape)).astype(np.float32)
            y.backward(torch.tensor(dout))
            for k, x in enumerate(inputs):
                np.save(os.path.join(out, f"{name}.in{k}.npy"), x)
                np.save(os.path.join(out, f"{name}.din{k}.npy"), np.array(tensors[k].grad.numpy(), order="C"))
            np.save(os.path.join(out, f"{name}.out.npy"), np.array(y.detach().numpy(), order="C"))
            np.save(os.path.join(out, f"{name}.dout.npy"), dout)
        return subprocess.call([sys.argv[1], out])


if __name__ == "__main__":
    sys.exit(main())
