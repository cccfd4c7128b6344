#!/usr/bin/env python3
"""References for test_interp_torch.c: bilinear and bicubic F.interpolate (align_corners=False)."""
import sys

import torch_parity
import torch

F = torch.nn.functional


def interp(mode, size=None, scale=None, perm=None):
    """F.interpolate to `size` or by `scale`, of the input permuted by `perm` first."""
    def f(x):
        if perm:
            x = x.permute(*perm)
        return F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=False)
    return f


# name: (function of the input tensors, input shapes, value domain)
CASES = {}
for mode in ("bilinear", "bicubic"):
    CASES.update({
        f"{mode}_up": (interp(mode, size=(11, 13)), [(2, 3, 5, 7)], "any"),
        f"{mode}_down": (interp(mode, size=(13, 11)), [(2, 3, 37, 29)], "any"),
        f"{mode}_mixed": (interp(mode, size=(3, 17)), [(1, 2, 8, 5)], "any"),
        f"{mode}_big": (interp(mode, size=(100, 71)), [(2, 4, 33, 47)], "any"),
        f"{mode}_size1_in": (interp(mode, size=(3, 9)), [(1, 2, 1, 5)], "any"),
        f"{mode}_size1_out": (interp(mode, size=(1, 1)), [(1, 2, 4, 6)], "any"),
        f"{mode}_permuted": (interp(mode, size=(6, 4), perm=(0, 3, 1, 2)), [(1, 5, 7, 2)], "any"),
        # A scale factor that keeps one size (bilinear then copies that axis, bicubic does not).
        f"{mode}_scaled_same_size": (interp(mode, scale=(1.05, 0.5)), [(1, 2, 10, 6)], "any"),
        f"{mode}_scaled": (interp(mode, scale=(2.6, 1.7)), [(2, 3, 4, 5)], "any"),
    })
# DINO's interpolate_pos_encoding: a (1, 14, 14, D) grid permuted to (1, D, 14, 14),
# scale_factor (h0 + 0.1) / 14 with h0 = 37, w0 = 23.
CASES["bicubic_dino_pos_embed"] = (interp("bicubic", scale=(37.1 / 14, 23.1 / 14), perm=(0, 3, 1, 2)),
                                  [(1, 14, 14, 8)], "any")


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
