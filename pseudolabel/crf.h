// The fully-connected CRF (Krähenbühl and Koltun, NIPS 2011) as pydensecrf
// runs it for MaskCut, STEGO and PriMaPs, and MaskCut's mask post-processing.
//
// Energy: unary -log p per pixel and label, plus two Potts terms with
// Gaussian kernels: a smoothness kernel over pixel positions (sigma sxy_gauss,
// weight w_gauss) and an appearance kernel over positions and colours
// (sxy_bilateral, srgb, w_bilateral). Inference is densecrf's mean field:
//   Q = softmax(-U);  T times: Q = softmax(-U + sum_k w_k K_k Q);  labels = argmax Q
// where K_k is the kernel's permutohedral filter (kernels/permutohedral.h)
// with pydensecrf's defaults: DIAG_KERNEL (features divided by the sigmas)
// and NORMALIZE_SYMMETRIC, K Q = n * filter(n * Q), n = 1 / sqrt(filter(1)).
// Images are (H, W, 3) u8 tensors, unaries (L, H, W) f32, masks (H, W) u8
// with nonzero meaning foreground; any strides. useg_dense_crf and
// useg_dense_crf_batch run on the GPU when image and unary are CUDA tensors
// (kernels/dense_crf.h); the mask helpers are CPU only and answer
// USEG_ERR_UNSUPPORTED for a CUDA tensor.
#pragma once

#include <stdbool.h>

#include "context.h"
#include "dense_crf.h"
#include "tensor.h"

// MaskCut (CutLER maskcut/crf.py): 7/3, 10/50/5, 10 iterations, the RGB image.
extern const useg_crf_params useg_crf_maskcut;
// STEGO and PriMaPs (STEGO src/crf.py): 3/1, 4/67/3, 10 iterations. Their
// dense_crf reverses the channels of the RGB image (`[:, :, ::-1]`) before
// pydensecrf sees it; the preset's `bgr` does that flip here, so callers pass
// the RGB image. (The flip matters: the lattice is not symmetric in its
// feature axes, so the result differs from the unflipped one.)
extern const useg_crf_params useg_crf_stego;

// Mean-field inference on `image` (H, W, 3) u8 with unary energies `unary`
// (L, H, W) f32 (-log p, pydensecrf's setUnaryEnergy layout), 1 <= L <= 256.
// *labels (H, W) u8 gets argmax Q (the first label on ties); when q is not
// NULL, *q (L, H, W) f32 gets the marginals Q. Outputs live in ctx->step;
// workspaces come from ctx->scratch and are given back. With image and
// unary on the GPU the outputs are on the GPU too (labels agree with the
// CPU's to float rounding, see kernels/dense_crf.h). Fails with
// USEG_ERR_SHAPE (shapes, dtypes), USEG_ERR_UNSUPPORTED (one input on the
// GPU and the other not), USEG_ERR_INVALID_ARG (a sigma not > 0, a non-finite weight,
// iterations < 0) or USEG_ERR_OUT_OF_MEMORY.
useg_status useg_dense_crf(useg_ctx *ctx, useg_tensor *image, useg_tensor *unary,
                           const useg_crf_params *params, useg_tensor **labels, useg_tensor **q);

// G independent CRFs on one image: unary (G, L, H, W), *labels (G, H, W) u8,
// *q (G, L, H, W) f32 (when not NULL), 1 <= G L <= 4096. The lattices are
// built once and the G problems filtered together (MaskCut refines its N
// masks on one image this way); each problem's labels and Q are those of
// useg_dense_crf on its own, bit for bit. Fails as useg_dense_crf.
useg_status useg_dense_crf_batch(useg_ctx *ctx, useg_tensor *image, useg_tensor *unary,
                                 const useg_crf_params *params, useg_tensor **labels, useg_tensor **q);

// --- MaskCut's post-processing (maskcut.py, steps 13-16 of PAPERS.md 2.2). ---

// The unary MaskCut gives the CRF for binary mask B (H, W) u8 at image size:
// logits [1 - B, B] (bg, fg), softmax, clip to [1e-5, 1], -log, in double,
// rounded to f32 as pydensecrf.utils.unary_from_softmax does: *out (2, H, W)
// f32 in ctx->step. Fails with USEG_ERR_SHAPE for another shape or dtype.
useg_status useg_mask_unary(useg_ctx *ctx, useg_tensor *mask, useg_tensor **out);

// scipy.ndimage.binary_fill_holes with its default structure: background
// pixels not 4-connected through background to the image border become
// foreground. *out (H, W) u8 0/1 in ctx->step. Fails with USEG_ERR_SHAPE.
useg_status useg_fill_holes(useg_ctx *ctx, useg_tensor *mask, useg_tensor **out);

// |A and B| / |A or B| of two (H, W) u8 masks; 0 when both are empty
// (TokenCut's metric.IoU gives NaN there; MaskCut then drops the mask for its
// zero area, as it does for IoU 0). Fails with USEG_ERR_SHAPE.
useg_status useg_mask_iou(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, double *iou);

// MaskCut's CRF refinement of image-level mask `mask` (H, W) u8 on `image`
// (H, W, 3) u8, both at the 480 x 480 working size: the CRF with
// useg_crf_maskcut on useg_mask_unary(mask), fill holes, and the check
// against the pre-CRF mask. *out (H, W) u8 0/1 in ctx->step; *kept is false,
// and *out all zero, when IoU(mask, refined) < 0.5 (the reference then
// skips the mask). Fails as useg_dense_crf.
//
// The reference then resizes the kept mask to the original image size as an
// 8-bit 0/255 image with PIL's default (bicubic) resize and keeps pixels
// above half the maximum. In useg that is: multiply by 255, resize with
// data/resize.h's useg_image_resize(..., USEG_RESAMPLE_BICUBIC, ...), then
// useg_mask_threshold_half_max.
useg_status useg_maskcut_refine(useg_ctx *ctx, useg_tensor *image, useg_tensor *mask,
                                useg_tensor **out, bool *kept);

// useg_maskcut_refine of masks (G, H, W) u8 on one image, through one
// useg_dense_crf_batch: *out (G, H, W); kept[g] and, when ious is not NULL,
// ious[g] (the step-15 IoU) in caller's arrays of G entries. Results equal
// G calls of useg_maskcut_refine.
useg_status useg_maskcut_refine_batch(useg_ctx *ctx, useg_tensor *image, useg_tensor *masks,
                                      useg_tensor **out, bool *kept, double *ious);

// *out (H, W) u8 = 1 where mask > max(mask) / 2, else 0, for a resized 0..255
// mask (H, W) u8 (maskcut.py's create_annotation_info). Where the mask's
// minimum is above 0 the reference keeps {min, max} values, which its RLE
// encoder then reads inconsistently; useg answers v > max / 2 there too.
// Fails with USEG_ERR_SHAPE.
useg_status useg_mask_threshold_half_max(useg_ctx *ctx, useg_tensor *mask, useg_tensor **out);
