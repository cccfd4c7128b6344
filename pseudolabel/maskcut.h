// MaskCut on one image, from pixels to image-size masks: the whole chain of
// PAPERS.md 2.2, steps 1-17 (CutLER's maskcut.py), around the cut loop of
// ncut.h and the CRF helpers of crf.h.
//
//   1-3   resize the image to S x S (PIL Lanczos; S = 480) = the working
//         image; the backbone's keys tap on it (useg_backbone_prepare: S is
//         rounded down to a multiple of the patch, a second resize when S is
//         not one, as the reference's resize_pil) -> (h, w, C) features.
//   4-11  useg_maskcut: up to N patch masks, pairwise disjoint.
//   12    each patch mask upsampled to S x S, nearest (pixel y takes patch
//         row floor(y * h / S), torch's rule; y / P when S = h P).
//   13-15 (with crf) useg_maskcut_refine_batch on the working image: dense
//         CRF with MaskCut's preset (the N masks in one batched CRF, equal to
//         N separate ones), fill holes, dropped when IoU with the pre-CRF
//         mask < 0.5. Empty masks skip it (dropped either way).
//   16    back to the original W x H: the 0/255 mask resized with PIL's
//         bicubic (Image.resize's default), kept where > max / 2.
//   17    masks with no pixel left are dropped.
//
// Differences from maskcut.py, by design:
// * S not a multiple of the patch (not MaskCut's 480 with P = 8 or 16): the
//   reference rounds S to the nearest multiple, upsamples the patch masks to
//   that size and lets the CRF's bilinear resize of the logits stretch them
//   to S; useg rounds down (useg_backbone_prepare) and upsamples the patch
//   grid straight to S with nearest.
// * The eigenvector sign follows opt.cut.sign (ncut.h), not LAPACK's.
// * The reference's outputs for a rejected or empty cut (empty masks) are
//   dropped at step 17 in both; with early stop (ncut.h) fewer cuts run.
//
// Score. maskcut.py writes no score; CutLER trains on every pseudo-mask as
// ground truth, i.e. each counts as fully confident. useg gives every mask
// score 1.0, so the masks can also be read as detections (COCO results,
// `useg eval coco`) without ranking among them: an evaluator then keeps
// MaskCut's own order (cut order) for equal scores.
//
// Deterministic: the same image and options give the same masks, whatever
// the thread count (each stage is).
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backbone.h"
#include "context.h"
#include "ncut.h"
#include "resize.h"
#include "tensor.h"

typedef struct useg_maskcut_image_options {
    useg_maskcut_options cut;  // the cut loop: tau, eps, N, rejections, early stop, sign (ncut.h)
    int64_t size;              // S, the working square (480); 1 <= S <= 8192
    useg_resample filter;      // the working image's resize filter (LANCZOS)
    bool crf;                  // steps 13-15 (true)
} useg_maskcut_image_options;

// MaskCut's published settings: useg_maskcut_default_options() for the cut
// loop (tau 0.15, eps 1e-5, N 3, early stop off, peak-positive sign), 480 x
// 480 Lanczos, CRF on.
useg_maskcut_image_options useg_maskcut_image_default_options(void);

// Per output mask.
typedef struct useg_maskcut_mask_info {
    double score;        // 1.0 (see above)
    int cut;             // the cut (0-based) whose patch mask this is
    double eigenvalue;   // that cut's lambda_2 (ncut.h)
    int64_t patch_area;  // patches in that cut's mask (disjoint from earlier cuts)
    double crf_iou;      // IoU of the pre-CRF and the refined mask at S x S (1 without CRF)
    int64_t area;        // pixels of the final mask at image size
} useg_maskcut_mask_info;

typedef struct useg_maskcut_result {
    int count;                     // K, the masks kept (0 .. N)
    int cuts;                      // cuts made (N unless early stop ended the chain)
    useg_tensor *masks;            // (K, H, W) u8 0/1 at the input image's size, pairwise disjoint
                                   // before the CRF (the CRF may make refined masks overlap)
    useg_maskcut_mask_info *info;  // K entries
} useg_maskcut_result;

// Steps 12-17 alone, for patch masks from useg_maskcut: `work` (S, S, 3) u8
// is the working image, `patch_masks` (N, h, w) u8 (nonzero = inside) the
// cut loop's masks; masks come back at (out_h, out_w). *masks (K, out_h,
// out_w) u8 0/1 in ctx->step; source[k] (caller's array of N entries) is the
// patch mask output mask k came from and crf_iou[k] (may be NULL) its step
// 15 IoU. Fails with USEG_ERR_SHAPE for other shapes, dtypes or a grid
// larger than the image, USEG_ERR_UNSUPPORTED for CUDA tensors, and as
// useg_dense_crf.
useg_status useg_maskcut_postprocess(useg_ctx *ctx, const useg_tensor *work, const useg_tensor *patch_masks,
                                     int64_t out_h, int64_t out_w, bool crf, useg_tensor **masks, int *count,
                                     int *source, double *crf_iou);

// Step 16's resize of a binary mask, the reference's way for every mask:
// mask (h, w) u8 0/1 (overwritten with 0/255) resized with PIL's bicubic to
// (out_h, out_w), kept where > max / 2: *out u8 0/1 in ctx->step. Fails
// as useg_image_resize.
useg_status useg_maskcut_resize_mask(useg_ctx *ctx, useg_tensor *mask, int64_t out_h, int64_t out_w,
                                     useg_tensor **out);

// The whole chain on `img` (H, W, 3) u8 (an RGB image as data/image.h
// reads it) with backbone `bb`; call inside a no-grad scope. Outputs (masks,
// info) live in ctx->step, as do the temporaries: end the step per image.
// Fails with USEG_ERR_SHAPE for another image shape or dtype,
// USEG_ERR_INVALID_ARG for bad options (naming the option), and passes on
// the backbone's, the cut loop's and the CRF's failures.
useg_status useg_maskcut_image(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img,
                               const useg_maskcut_image_options *opt, useg_maskcut_result *out);
