// Label images for evaluation, as plain heap arrays: single-channel PNG label
// maps (8- or 16-bit) and COCO panoptic RGB PNGs, where a pixel's segment id
// is R + 256 G + 256^2 B. Decoding is data/image.h's; a file of the wrong kind
// (a colour image where labels are expected, say) is refused rather than
// silently converted.
#pragma once

#include <stdint.h>

#include "context.h"

// Labels of a grey PNG, row-major (H, W), malloc'd into *labels (caller frees).
// USEG_ERR_IO when unreadable, USEG_ERR_FORMAT when not a 1-channel PNG.
useg_status useg_png_read_labels(useg_ctx *ctx, const char *path, int32_t **labels, uint32_t *h, uint32_t *w);
// Segment ids of an RGB (or RGBA, alpha ignored) PNG, row-major (H, W).
useg_status useg_png_read_rgb_ids(useg_ctx *ctx, const char *path, uint32_t **ids, uint32_t *h, uint32_t *w);
