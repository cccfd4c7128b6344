// UnSAM's conquer stage around the merge (PAPERS.md 3.3 steps 1, 4, 5): the
// crop box of a divide mask, the back-projection of every level mask into
// the crop, the coverage filter, per-parent NMS and the hierarchy links.
//
// Pipeline per divide mask m (H, W), wired by the caller:
//   useg_conquer_box(m) -> crop the image to the box -> resize to 256 x 256
//   (PIL bicubic) -> ViT-B/8 keys (32, 32, 768) -> useg_merge -> useg_conquer.
//
// Reference quirks kept on purpose:
// * The box is rows [y_min, y_max), cols [x_min, x_max) with y_max, x_max the
//   last rows/cols of the mask, so the last row and column of the mask fall
//   outside the crop. A mask with a side of one pixel gives an empty box and
//   is skipped; an empty mask gives the box (0, 1, 0, 1), whose crop of m is
//   empty, so every level mask then fails the coverage filter.
// * Back-projection: the level mask as an 8-bit image (0/255) resized to the
//   crop with PIL's default filter (bicubic), then the reference's threshold
//   at half the maximum: a pixel is in when 2 v > max and max >= 128.
// * Coverage |mask and m_crop| / |mask| (0 for an empty mask) must be > 0.9.
// * NMS: stable sort by area, largest first (Python's sorted(reverse=True)
//   keeps the input order of equal areas); walking the list, each mask still
//   kept drops the masks j = i+1 .. i+step-1 whose IoU with it is > 0.9.
//   Masks further apart are never compared, so near-duplicates can survive.
//   The input order is level by level, clusters in useg_merge's order.
//
// The hierarchy. Output masks are numbered as the reference writes them:
// the divide masks first (level 0), then the conquer masks of each divide
// mask in NMS order (levels 1..T, level t from threshold t; higher levels
// are coarser). The parent of a conquer mask is the surviving conquer mask
// of the same divide mask whose cluster strictly contains its cluster on the
// patch grid (an ancestor in the merge tree) with the fewest patches, the
// finest level among copies of that cluster; when no such mask survives, the
// divide mask. Containment is judged on patches, not on resized pixels,
// where resampling could break it by a pixel. A cluster that is unchanged
// across levels can survive NMS more than once (copies more than step-1
// places apart); copies are siblings, not parent and child.
//
// COCO output (written by the caller's annotation writer): each annotation
// carries two extra fields, "level" (0 for divide masks, t for threshold t,
// an integer) and "parent_id" (the annotation id of the parent, null for a
// divide mask), and the "info" block lists the thresholds as
// "conquer_thresholds" so levels can be read back. The reference writes no
// annotation for an empty mask; only a divide mask can be empty (conquer
// masks pass the coverage filter), and it has no conquer masks, so skipping
// it leaves every parent_id pointing at a written annotation.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "merge.h"
#include "tensor.h"

// Rows y0 <= y < y1, columns x0 <= x < x1.
typedef struct useg_box {
    int64_t y0, y1, x0, x1;
} useg_box;

// The reference's crop box of divide_mask (H, W) u8 (non-zero = inside; any
// strides). *usable is false when a side is <= 0 (the reference skips the
// mask). Fails with USEG_ERR_SHAPE for another rank, dtype or device.
useg_status useg_conquer_box(useg_ctx *ctx, const useg_tensor *divide_mask, useg_box *box, bool *usable);

// The mask resize the caller supplies: mask (h, w) u8 in 0/255 to (out_h,
// out_w) u8 in arena a, with PIL's Image.resize default filter (bicubic)
// bit for bit; e.g. data/resize.h's useg_image_resize(..., USEG_RESAMPLE_BICUBIC, ...).
// `user` is passed through. The output may have any strides.
typedef useg_status (*useg_mask_resize_fn)(useg_ctx *ctx, const useg_tensor *mask, int64_t out_h, int64_t out_w,
                                           void *user, useg_arena *a, useg_tensor **out);

typedef struct useg_conquer_options {
    double min_coverage; // keep a level mask when its coverage by the divide mask is > this
    double nms_iou;      // drop a mask whose IoU with a kept larger one is > this
    int nms_step;        // compare each mask with the next nms_step - 1 in area order (>= 1)
} useg_conquer_options;

// The reference's settings: coverage 0.9, IoU 0.9, step 5.
useg_conquer_options useg_conquer_default_options(void);

// The conquer masks of one divide mask, in the reference's output order.
typedef struct useg_conquer_result {
    useg_box box;
    int n;
    uint8_t *masks;   // (n, y1 - y0, x1 - x0): 0/1 inside the box
    int64_t *area;    // (n): pixels in each mask
    int32_t *level;   // (n): 1..n_levels of the merge
    int32_t *cluster; // (n): cluster index within that level
    int32_t *parent;  // (n): index of the parent in this list, -1 for the divide mask
} useg_conquer_result;

// Back-project, filter and NMS the levels of `merge` (run on the crop of
// divide_mask's box) and link the hierarchy. opt NULL: the defaults.
// Results live in arena `a` (ctx->step when NULL; not ctx->scratch). An
// unusable box gives n = 0 (the arrays are then empty, not NULL). Fails
// with USEG_ERR_SHAPE for a divide mask that is not (H, W) u8 on the CPU or
// a resize result of the wrong shape or dtype, USEG_ERR_INVALID_ARG for bad
// options, and passes on the resize's failures.
useg_status useg_conquer(useg_ctx *ctx, const useg_tensor *divide_mask, const useg_merge_result *merge,
                         const useg_conquer_options *opt, useg_mask_resize_fn resize, void *resize_user,
                         useg_arena *a, useg_conquer_result *out);

// The NMS above on its own: masks (n, H, W) u8 (non-zero = inside, any
// strides). Writes the indices of the kept masks, in area order, to kept
// (n entries of room) and their count to *n_kept. Fails with USEG_ERR_SHAPE
// for another rank, dtype or device and USEG_ERR_INVALID_ARG for step < 1.
useg_status useg_mask_nms(useg_ctx *ctx, const useg_tensor *masks, double iou, int step, int32_t *kept,
                          int *n_kept);
