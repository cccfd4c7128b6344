#!/usr/bin/env python3
"""References for test_linalg_torch.c: matmul, linear, conv2d."""
import sys

import torch_parity
import torch

F = torch.nn.functional


def t(x):
    return x.transpose(-1, -2)


# name: (function of the input tensors, input shapes, value domain)
CASES = {
    "matmul_2d": (lambda a, b: a @ b, [(17, 33), (33, 29)], "any"),
    "matmul_batch_broadcast": (lambda a, b: a @ b, [(2, 1, 5, 7), (3, 7, 4)], "any"),
    "matmul_folded": (lambda a, b: a @ b, [(2, 64, 97), (97, 80)], "any"),
    "matmul_trans_a": (lambda a, b: t(a) @ b, [(3, 7, 5), (7, 6)], "any"),
    "matmul_trans_b": (lambda a, b: a @ t(b), [(4, 6), (2, 5, 6)], "any"),
    "matmul_size1": (lambda a, b: t(a) @ t(b), [(13, 1), (1, 13)], "any"),
    "matmul_transposed_view": (lambda a, b: t(a) @ b, [(2, 11, 5), (11, 3)], "any"),
    "matmul_sliced": (lambda a, b: a[:, 0:13:2] @ b, [(9, 13), (7, 3)], "any"),
    "linear_bias": (lambda x, w, b: F.linear(x, w, b), [(2, 3, 37), (19, 37), (19,)], "any"),
    "linear_vector": (lambda x, w, b: F.linear(x, w, b), [(13,), (7, 13), (7,)], "any"),
    # 101 tokens: two 48-token tiles of kernels/linear_cpu.c and a tail of 5.
    "linear_tokens": (lambda x, w, b: F.linear(x, w, b), [(1, 101, 70), (21, 70), (21,)], "any"),
    "linear_transposed": (lambda x, w: F.linear(x.t(), w), [(37, 5), (11, 37)], "any"),
    "conv_stride_pad": (lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)),
                        [(2, 3, 11, 9), (5, 3, 3, 4), (5,)], "any"),
    "conv_3x3": (lambda x, w: F.conv2d(x, w, padding=1), [(1, 4, 8, 8), (6, 4, 3, 3)], "any"),
    "conv_permuted": (lambda x, w, b: F.conv2d(x.permute(0, 3, 1, 2), w, b, stride=(3, 2), padding=(0, 1)),
                      [(2, 10, 7, 3), (4, 3, 2, 3), (4,)], "any"),
    "conv_patch": (lambda x, w, b: F.conv2d(x, w, b, stride=14), [(2, 3, 28, 42), (8, 3, 14, 14), (8,)], "any"),
    "conv_patch_remainder": (lambda x, w: F.conv2d(x, w, stride=(7, 5)), [(1, 3, 30, 17), (6, 3, 7, 5)], "any"),
}


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
