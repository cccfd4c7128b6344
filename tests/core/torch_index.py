#!/usr/bin/env python3
"""References for test_index_torch.c: concat, split, gather, index_select."""
import sys

import torch_parity
import torch


def split_mix(x):
    p = torch.split(x, [4, 0, 5, 2], dim=1)
    return torch.cat([p[3], p[0] * p[0], p[2], p[1]], dim=1)


# name: (function of the input tensors, input shapes, value domain per input)
CASES = {
    "concat3_axis1": (lambda a, b, c: torch.cat([a, b, c], 1), [(2, 3, 5), (2, 1, 5), (2, 4, 5)], "any"),
    # Six inputs (two tape nodes): repeats, a transposed one.
    "concat6_mixed": (lambda a, b, c, d: torch.cat([a, b, c.t(), a, d, b], 0),
                      [(2, 3), (1, 3), (3, 3), (4, 3)], "any"),
    "concat_last": (lambda a, b: torch.cat([a, b], -1), [(3, 7, 1), (3, 7, 2)], "any"),
    "split_mix": (split_mix, [(3, 11)], "any"),
    "gather_axis0": (lambda x, i: torch.gather(x, 0, i), [(7, 5), (9, 4)], ["any", "index:7"]),
    "gather_mid_transposed": (lambda x, i: torch.gather(x.transpose(1, 2), 1, i), [(2, 5, 6), (2, 11, 5)],
                              ["any", "index:6"]),
    "gather_last": (lambda x, i: torch.gather(x, -1, i), [(4, 33), (4, 50)], ["any", "index:33"]),
    # Big enough for the threaded paths: by rows (last axis) and by column blocks.
    "gather_big_last": (lambda x, i: torch.gather(x, 1, i), [(64, 600), (64, 1000)], ["any", "index:600"]),
    "gather_big_axis0": (lambda x, i: torch.gather(x, 0, i), [(300, 257), (500, 257)], ["any", "index:300"]),
    "index_select0": (lambda x, i: torch.index_select(x, 0, i), [(5, 3), (12,)], ["any", "index:5"]),
    "index_select_mid_permuted": (lambda x, i: torch.index_select(x.permute(2, 0, 1), 1, i), [(3, 4, 7), (9,)],
                                  ["any", "index:3"]),
    "index_select_last_size1": (lambda x, i: torch.index_select(x, 2, i), [(2, 3, 1), (4,)], ["any", "index:1"]),
    "index_select_big": (lambda x, i: torch.index_select(x, 1, i), [(40, 1000, 3), (2000,)],
                         ["any", "index:1000"]),
}


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
