#!/usr/bin/env python3
"""References for test_elementwise_torch.c: views, elementwise ops, reductions."""
import sys

import torch_parity
import torch

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


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
