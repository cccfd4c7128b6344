#!/usr/bin/env python3
"""References for test_nn_torch.c: softmax, log_softmax, layer_norm."""
import sys

import torch_parity
import torch

F = torch.nn.functional

# name: (function of the input tensors, input shapes, value domain)
CASES = {
    "softmax_last": (lambda a: F.softmax(a, dim=-1), [(5, 33)], "any"),
    "softmax_axis1": (lambda a: F.softmax(a, dim=1), [(2, 7, 3)], "any"),
    "softmax_transposed": (lambda a: F.softmax(a.t(), dim=0), [(6, 5)], "any"),
    "softmax_wide": (lambda a: F.softmax(4.0 * a, dim=-1), [(37, 1031)], "any"),
    "log_softmax_last": (lambda a: F.log_softmax(a, dim=-1), [(4, 17)], "any"),
    "log_softmax_axis0": (lambda a: F.log_softmax(a, dim=0), [(6, 5)], "any"),
    "log_softmax_nchw": (lambda a: F.log_softmax(a, dim=1), [(2, 5, 3, 4)], "any"),
    "log_softmax_sliced": (lambda a: F.log_softmax(a[:, 1:10:3], dim=1), [(3, 11)], "any"),
    "layer_norm_affine": (lambda x, w, b: F.layer_norm(x, (64,), w, b, 1e-6), [(2, 9, 64), (64,), (64,)], "any"),
    "layer_norm_plain": (lambda x: F.layer_norm(x, (13,), None, None, 1e-5), [(7, 13)], "any"),
    "layer_norm_weight": (lambda x, w: F.layer_norm(x, (5,), w, None, 1e-5), [(3, 5), (5,)], "any"),
    "layer_norm_permuted": (lambda x, b: F.layer_norm(x.permute(1, 2, 0), (3,), None, b, 1e-5),
                            [(3, 4, 5), (3,)], "any"),
    # ViT-S width and enough rows for the threaded path; a shifted mean tests the two-pass variance.
    "layer_norm_vit": (lambda x, w, b: F.layer_norm(x + 3.0, (384,), w, b, 1e-6), [(197, 384), (384,), (384,)],
                       "any"),
}


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
