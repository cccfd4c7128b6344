#!/usr/bin/env python3
"""References for test_loss_torch.c: cross_entropy, bce_with_logits, focal_loss, dice_loss."""
import sys

import torch_parity
import torch

F = torch.nn.functional


def ignore_every_third(t):
    """Targets with every third flat position set to -100 (F.cross_entropy's default ignore_index)."""
    t = t.clone()
    t.view(-1)[::3] = -100
    return t


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (0.14), reduction="mean"; torchvision is not packaged here."""
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss.mean()


def dice_loss(inputs, targets):
    """Mask2Former's dice_loss (modeling/criterion.py) with num_masks = N."""
    inputs = inputs.sigmoid().flatten(1)
    targets = targets.flatten(1)
    numerator = 2 * (inputs * targets).sum(-1)
    denominator = inputs.sum(-1) + targets.sum(-1)
    loss = 1 - (numerator + 1) / (denominator + 1)
    return loss.sum() / inputs.shape[0]


# name: (function of the input tensors, input shapes, value domain per input)
CASES = {
    "ce_2d": (lambda x, t: F.cross_entropy(x, t), [(9, 5), (9,)], ["any", "index:5"]),
    "ce_ignore": (lambda x, t: F.cross_entropy(x, ignore_every_third(t)), [(13, 6), (13,)], ["any", "index:6"]),
    "ce_ignore_class": (lambda x, t: F.cross_entropy(x, t, ignore_index=2), [(31, 4), (31,)], ["any", "index:4"]),
    "ce_transposed": (lambda x, t: F.cross_entropy(x.t(), t), [(5, 9), (9,)], ["any", "index:5"]),
    "ce_3d": (lambda x, t: F.cross_entropy(x, t), [(4, 3, 7), (4, 7)], ["any", "index:3"]),
    "ce_nchw": (lambda x, t: F.cross_entropy(x, t), [(2, 4, 3, 5), (2, 3, 5)], ["any", "index:4"]),
    "ce_nchw_ignore": (lambda x, t: F.cross_entropy(x, ignore_every_third(t)), [(2, 21, 32, 33), (2, 32, 33)],
                       ["any", "index:21"]),
    "bce": (lambda x, t: F.binary_cross_entropy_with_logits(x, t), [(3, 17), (3, 17)], ["any", "binary"]),
    "bce_large_logits": (lambda x, t: F.binary_cross_entropy_with_logits(30.0 * x, t), [(4, 9), (4, 9)],
                         ["any", "prob"]),
    "bce_soft_target": (lambda x, t: F.binary_cross_entropy_with_logits(x, torch.sigmoid(t)), [(5, 8), (5, 8)],
                        "any"),
    "bce_transposed": (lambda x, t: F.binary_cross_entropy_with_logits(x.t(), t), [(4, 6), (6, 4)],
                       ["any", "prob"]),
    "focal": (lambda x, t: sigmoid_focal_loss(x, t), [(4, 33), (4, 33)], ["any", "binary"]),
    "focal_no_alpha": (lambda x, t: sigmoid_focal_loss(x, t, -1.0, 0.0), [(3, 9), (3, 9)], ["any", "prob"]),
    "focal_gamma15": (lambda x, t: sigmoid_focal_loss(x, t, 0.5, 1.5), [(2, 3, 11), (2, 3, 11)], ["any", "binary"]),
    "focal_soft_target": (lambda x, t: sigmoid_focal_loss(x, torch.sigmoid(t)), [(5, 7), (5, 7)], "any"),
    "focal_big": (lambda x, t: sigmoid_focal_loss(x, t), [(64, 1031), (64, 1031)], ["any", "binary"]),
    "dice": (lambda x, t: dice_loss(x, t), [(4, 5, 7), (4, 5, 7)], ["any", "binary"]),
    "dice_soft_target": (lambda x, t: dice_loss(x, torch.sigmoid(t)), [(3, 10), (3, 10)], "any"),
    "dice_permuted": (lambda x, t: dice_loss(x.permute(2, 0, 1), t), [(3, 4, 5), (5, 3, 4)], ["any", "prob"]),
    "dice_big": (lambda x, t: dice_loss(x, t), [(16, 4099), (16, 4099)], ["any", "binary"]),
}


if __name__ == "__main__":
    sys.exit(torch_parity.main(CASES))
