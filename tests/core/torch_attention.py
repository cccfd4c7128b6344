#!/usr/bin/env python3
"""References for test_attention_torch.c: the fused attention against the
explicit softmax(q k^T * scale) v of PyTorch 1.13 (which has no
F.scaled_dot_product_attention)."""
import sys

import torch_parity
import torch


def attention(q, k, v, scale):
    return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v


def vit(q, k, v, scale):
    """q, k, v stored token-major (B, N, H, D) and permuted to (B, H, N, D), as a ViT does."""
    return attention(q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3), scale)


# name: (function of the input tensors, input shapes, value domain)
CASES = {
    "small": (lambda q, k, v: attention(q, k, v, 8 ** -0.5), [(2, 3, 17, 8), (2, 3, 23, 8), (2, 3, 23, 8)], "any"),
    "one_token": (lambda q, k, v: attention(q, k, v, 0.5), [(1, 1, 1, 5), (1, 1, 1, 5), (1, 1, 1, 5)], "any"),
    "head_dim_1": (lambda q, k, v: attention(q, k, v, 1.0), [(1, 2, 9, 1), (1, 2, 13, 1), (1, 2, 13, 1)], "any"),
    # Nk spans five 64-key tiles with a ragged end, Nq two 128-query tiles.
    "many_tiles": (lambda q, k, v: attention(q, k, v, 0.125), [(1, 2, 150, 64), (1, 2, 300, 64), (1, 2, 300, 64)],
                   "any"),
    "one_query_many_keys": (lambda q, k, v: attention(q, k, v, 0.125), [(2, 1, 1, 32), (2, 1, 257, 32),
                                                                        (2, 1, 257, 32)], "any"),
    # Large scores: the running max changes between key tiles.
    "sharp": (lambda q, k, v: attention(q, k, v, 0.5), [(1, 3, 70, 16), (1, 3, 200, 16), (1, 3, 200, 16)], "any"),
    # Scores spread over +-100: many exp arguments fall below -87 (the f32
    # exp's clamp) and the softmax is nearly one-hot.
    "huge_scores": (lambda q, k, v: attention(q, k, v, 10.0), [(1, 2, 40, 8), (1, 2, 150, 8), (1, 2, 150, 8)], "any"),
    "vit_permuted": (lambda q, k, v: vit(q, k, v, 0.25), [(2, 197, 3, 16), (2, 197, 3, 16), (2, 197, 3, 16)],
                     "any"),
}


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
