// UnSAM's divide-and-conquer pseudo-masks on one image (PAPERS.md 3.1-3.4):
// whole objects from the divide step, their parts from a bottom-up merge of
// each object's crop, refined, with the hierarchy kept explicitly.
//
//   divide   useg_maskcut_image (maskcut.h) with opt.divide: MaskCut's masks
//            stand in for the trained CutLER detector the reference runs (no
//            such detector exists in this engine). Each mask is a level-0
//            pseudo-mask and the region of one conquer run. With
//            opt.whole_image the full image is one more region (an all-ones
//            mask through the same steps; not emitted itself), because
//            MaskCut's few cuts leave most of an image to no region.
//   crop     useg_conquer_box of the region (the reference's exclusive end),
//            image[y0:y1, x0:x1] with its channels reversed (crop_bgr, the
//            default: the reference crops an OpenCV BGR array and feeds it as
//            RGB, a quirk kept for parity; false feeds the RGB crop), resized
//            to crop_size x crop_size with PIL's bicubic (useg_unsam_crop).
//   features ImageNet normalisation and the backbone's keys tap, the crops
//            batched `batch` at a time: (crop_size / P)^2 patches, 32 x 32
//            for 256 and P = 8 (the ViT-B/8 of the reference, or the
//            weights-free backbone). f32 keys; the reference runs fp16.
//   merge    useg_merge (merge.h) with opt.merge (0.6 .. 0.1, min size 4).
//   conquer  useg_conquer (conquer.h): back-projection with PIL's bicubic,
//            coverage > 0.9, windowed NMS, parents.
//   refine   (opt.refine = CRF, the default) useg_unsam_refine below, in
//            place of the reference's CascadePSP: a supervised network,
//            which this unsupervised engine does not use. The paper's own
//            comparison (PAPERS.md 3.4, SA-1B val, AR1000): 23.9 with
//            CascadePSP, 15.3 with the CRF; expect the CRF to snap masks
//            to colour edges but not recover thin structures, and to drop
//            more small parts (ARS 7.9 -> 2.3).
//
// Output order: the divide masks in MaskCut's order, then each region's
// conquer masks in useg_conquer's order, regions in divide order (the
// whole-image region last). Masks the refinement drops are removed.
//
// Hierarchy. level 0 for divide masks, t = 1..T for threshold t of the merge
// (t = 1 the highest threshold, finest; T the coarsest). A conquer mask's
// parent is useg_conquer's (the smallest surviving coarser cluster that
// contains it, else its divide mask); a divide mask has none (-1), nor
// does a conquer mask of the whole-image region that useg_conquer puts
// directly under the region. When the refinement drops a mask, its
// children re-link to its nearest surviving ancestor; when that chain ends
// at a dropped divide mask, they become roots (-1): the divide mask's area
// is then not a pseudo-mask, so nothing is claimed about what contains them.
//
// Score: 1.0 for divide masks (maskcut.h), t / (T + 1) for a conquer mask of
// level t, so a score-ranked reading (AR@100) takes whole objects first,
// then parts from the coarsest level down.
//
// Deterministic whatever the thread count: regions are merged and
// conquered in parallel (OpenMP, one context per thread) and refinement
// windows are refined in parallel, each result written to its own slot;
// every stage's arithmetic is independent of the thread count.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backbone.h"
#include "conquer.h"
#include "context.h"
#include "maskcut.h"
#include "merge.h"
#include "tensor.h"

typedef enum useg_unsam_refine_mode { USEG_UNSAM_REFINE_NONE, USEG_UNSAM_REFINE_CRF } useg_unsam_refine_mode;

typedef struct useg_unsam_refine_options {
    useg_unsam_refine_mode mode;
    int64_t max_side;     // the CRF window's working size: longer side at most this (>= 8)
    double min_iou;       // drop when IoU(before, after) < this (0.5)
    double max_fraction;  // drop when the refined area is > this fraction of the image (0.9)
} useg_unsam_refine_options;

typedef struct useg_unsam_options {
    useg_maskcut_image_options divide;  // MaskCut's defaults (maskcut.h)
    int64_t crop_size;                  // 256; a multiple of the backbone's patch, >= 2 patches
    bool crop_bgr;                      // true: the reference's channel reversal (see above)
    bool whole_image;                   // false: the reference has no such region
    int batch;                          // crops per backbone forward (4); changes memory, not results
    useg_merge_options merge;           // useg_merge_default_options()
    useg_conquer_options conquer;       // useg_conquer_default_options()
    useg_unsam_refine_options refine;   // CRF, 192, 0.5, 0.9
} useg_unsam_options;

useg_unsam_options useg_unsam_default_options(void);

// Wall-clock seconds per stage, for benchmarks and progress reports.
enum { USEG_UNSAM_DIVIDE, USEG_UNSAM_FEATURES, USEG_UNSAM_MERGE, USEG_UNSAM_CONQUER, USEG_UNSAM_REFINE,
       USEG_UNSAM_STAGES };

typedef struct useg_unsam_result {
    int count;            // K, the masks kept
    useg_tensor *masks;   // (K, H, W) u8 0/1 at the image's size
    int32_t *level;       // (K): 0 divide, 1..T conquer (coarser with t)
    int32_t *parent;      // (K): index of the parent in this list, -1 for a root; a parent has
                          // level 0 or a higher level than its child
    double *score;        // (K): see above
    double *refine_iou;   // (K): IoU(before, after) of the refinement (1 without it)
    int64_t *area;        // (K): pixels of each mask
    int n_divide;         // divide masks MaskCut gave (before refinement)
    int n_regions;        // conquer regions (n_divide, + 1 with whole_image)
    int n_candidates;     // masks before refinement
    double seconds[USEG_UNSAM_STAGES];
} useg_unsam_result;

// The crop the conquer step features: image (H, W, 3) u8 (RGB) cut to rows
// box.y0..y1-1, columns box.x0..x1-1, channels reversed when bgr, resized
// to (size, size, 3) with PIL's bicubic; *out in arena a (ctx->step when
// NULL). Fails with USEG_ERR_SHAPE for another image shape or an empty box
// or one that leaves the image.
useg_status useg_unsam_crop(useg_ctx *ctx, const useg_tensor *img, useg_box box, int64_t size, bool bgr,
                            useg_arena *a, useg_tensor **out);

// The refinement of masks (K, H, W) u8 (nonzero = inside) on image (H, W, 3)
// u8, each on its own window: with (y_min, y_max, x_min, x_max) the mask's
// inclusive bounds, centre c = ((y_min + y_max) / 2, (x_min + x_max) / 2)
// (integer halves) and L the longer side of its box, rows and columns
// [c - L, c + L] clipped to the image (the reference's CascadePSP window).
// The window's image and mask are resized (PIL bicubic; the mask as 0/255,
// then half-maximum threshold) so the longer side is at most
// opt->max_side, the dense CRF runs there with MaskCut's preset on the
// mask's unary (useg_crf_maskcut, useg_mask_unary; the masks that share a
// window in one useg_dense_crf_batch), holes are filled, and the result
// goes back to the window's size the same way, pasted into an empty
// image-size mask.
// ious[k] gets IoU(mask, refined) at image size; kept[k] is false when it
// is < opt->min_iou, when the refined mask is empty, or when its area is
// > opt->max_fraction of the image. *out (K, H, W) u8 0/1 in ctx->step
// (the refined masks; zero where not kept). An empty input mask is not kept.
// mode NONE keeps every non-empty mask as it is. Deterministic; windows are
// refined in parallel. Fails with USEG_ERR_SHAPE for shapes and dtypes,
// USEG_ERR_INVALID_ARG for bad options, and as useg_dense_crf.
useg_status useg_unsam_refine(useg_ctx *ctx, const useg_tensor *img, const useg_tensor *masks,
                              const useg_unsam_refine_options *opt, useg_tensor **out, bool *kept, double *ious);

// Re-link a hierarchy after dropping masks: parent (n) indexes 0..n-1 or
// -1; out_parent[k] (caller's n entries) is the nearest ancestor of k with
// kept[] true, -1 when none, for every k (kept or not). Parent chains must
// be acyclic (asserted).
void useg_hierarchy_relink(int n, const int32_t *parent, const bool *kept, int32_t *out_parent);

// The pipeline on img (H, W, 3) u8 (RGB, as data/image.h reads it) with
// backbone bb; call inside a no-grad scope. The result's arrays and
// temporaries live in ctx->step: end the step per image. Fails with
// USEG_ERR_SHAPE for another image shape or dtype, USEG_ERR_INVALID_ARG for
// bad options (naming the option), and passes on the stages' failures.
useg_status useg_unsam_image(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img,
                             const useg_unsam_options *opt, useg_unsam_result *out);
