// Image preprocessing: PIL's resize filters, crops, ImageNet normalisation.
//
// Images are CPU u8 tensors (H, W, C) or (H, W) as data/image.h makes them;
// results go to the arena the caller names (not ctx->scratch: workspaces).
// The resize reproduces Pillow's Image.resize (9.4, Debian's python3-pil)
// bit for bit for 8-bit L and RGB images, which is also what
// torchvision.transforms.Resize does to a PIL image. Measured: identical on
// the shared photos for all four filters (tests/data/image_parity.py).
// Differences from the references, by design:
// * LA / RGBA: PIL premultiplies alpha before filtering; useg_image_resize
//   refuses images of other than 1 or 3 channels except with NEAREST (no
//   pipeline resizes those; the decoder gives grey or RGB).
// * torchvision on tensors (not PIL images) and torch.nn.functional.interpolate
//   use other arithmetic (float, no antialias by default); feature-map
//   upsampling belongs to the ops, not here.
// * PIL's BOX and HAMMING filters and reducing_gap are not offered: no
//   reference pipeline uses them.
#pragma once

#include <stdint.h>

#include "context.h"
#include "tensor.h"

typedef enum useg_resample {
    USEG_RESAMPLE_NEAREST,   // PIL NEAREST: pixel centres, x_in = floor((x + 0.5) * in / out)
    USEG_RESAMPLE_BILINEAR,  // PIL BILINEAR: triangle filter, support 1
    USEG_RESAMPLE_BICUBIC,   // PIL BICUBIC: Keys cubic, a = -0.5, support 2 (PIL's default)
    USEG_RESAMPLE_LANCZOS,   // PIL LANCZOS: sinc windowed by sinc(x/3), support 3
    USEG_RESAMPLE_COUNT
} useg_resample;

// The filter's name ("nearest", ...), and the filter of a name (-1 if none).
const char *useg_resample_name(useg_resample filter);
int useg_resample_from_name(const char *name);

// Resize img (H, W, C) u8 -> (out_h, out_w, C), or (H, W) -> (out_h, out_w),
// into a new contiguous tensor in arena `a` (ctx->step when NULL). Filters
// other than NEAREST are separable and antialiased like PIL's: when
// shrinking, the filter support grows by the scale factor; horizontal pass
// first, each pass in 22-bit fixed point with rounding and clipping to
// 0..255. Fails with USEG_ERR_SHAPE for a non-u8 or empty image, a size < 1,
// or C other than 1 or 3 with a filter (see above).
useg_status useg_image_resize(useg_ctx *ctx, const useg_tensor *img, int64_t out_h, int64_t out_w,
                              useg_resample filter, useg_arena *a, useg_tensor **out);

// torchvision's Resize(size) with an int: the shorter side becomes `size`,
// the longer one int(size * long / short) (truncated).
void useg_resize_shorter_side(int64_t h, int64_t w, int64_t size, int64_t *out_h, int64_t *out_w);

// The window (top, left, h, w) of img (H, W[, C]) as a new contiguous tensor
// in arena `a` (ctx->step when NULL). Fails with USEG_ERR_SHAPE when the
// window is empty or leaves the image.
useg_status useg_image_crop(useg_ctx *ctx, const useg_tensor *img, int64_t top, int64_t left, int64_t h, int64_t w,
                            useg_arena *a, useg_tensor **out);

// torchvision's CenterCrop((h, w)) of an image at least that large: the
// offsets are int(round((H - h) / 2)) and int(round((W - w) / 2)) with
// Python's round-half-to-even.
useg_status useg_image_center_crop(useg_ctx *ctx, const useg_tensor *img, int64_t h, int64_t w, useg_arena *a,
                                   useg_tensor **out);

// ImageNet statistics used by every pipeline (DINO's normalisation).
extern const float useg_imagenet_mean[3];
extern const float useg_imagenet_std[3];

// img (H, W, 3) u8 -> (1, 3, H, W) f32 in arena `a` (ctx->step when NULL):
// (v / 255 - mean[c]) / std[c], each step rounded to f32 as
// torchvision's ToTensor() + Normalize(mean, std) compute it, so the result
// is bit-identical to theirs. Fails with USEG_ERR_SHAPE for other shapes or
// dtypes.
useg_status useg_image_normalize(useg_ctx *ctx, const useg_tensor *img, const float mean[3], const float std[3],
                                 useg_arena *a, useg_tensor **out);
