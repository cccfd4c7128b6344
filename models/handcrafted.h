// The weights-free backbone: classical per-patch descriptors with the ViT's
// interface, so every pipeline runs out of the box without a checkpoint and
// gives a real, if classical, segmentation.
//
// For each P x P patch (P = 8 by default) of an ImageNet-normalised image:
//   - CIE L*a*b* mean (3) and standard deviation (3), from sRGB with D65 white;
//   - a histogram of unsigned gradient orientations of L* (8 bins over [0, pi),
//     magnitude-weighted, linearly interpolated between bins, L2-normalised);
//   - the patch centre's position, y and x in [-1, 1] (2).
// Each of the 16 dimensions is standardised over the image's patches (zero
// mean, unit variance), then the groups are weighted (colour mean 1, colour
// spread 0.5, orientations 0.5 / sqrt(8) each, position 0.5), so cosine
// similarity between descriptors compares deviations from the image's
// average, which is what the normalised-cut affinity needs.
//
// Taps: KEYS and TOKENS give the descriptors (B, h*w, 16); CLS their mean
// before standardisation (B, 16); ATTN a saliency map (B, 1, h*w): each
// patch's descriptor distance to the mean descriptor of the border patches,
// normalised to sum to 1, standing in for the CLS attention.
#pragma once

#include "context.h"
#include "vit.h"

enum { USEG_HANDCRAFTED_DIM = 16 };

// images (B, 3, H, W) f32, ImageNet-normalised, H and W multiples of `patch`.
useg_status useg_handcrafted_forward(useg_ctx *ctx, int patch, useg_tensor *images, useg_vit_tap tap,
                                     useg_tensor **out);
