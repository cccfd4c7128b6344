// COCO-style detection / instance-segmentation evaluation (AP and AR), with
// pycocotools' COCOeval semantics reproduced exactly:
//   * IoU thresholds .50:.05:.95 and recall thresholds 0:.01:1 built with
//     NumPy's linspace arithmetic; area ranges all / small (< 32^2) /
//     medium / large (> 96^2) applied to the ground truth's "area" field and
//     to the detections' area from loadRes (coco.h);
//   * per image (and category, unless class-agnostic): detections sorted by
//     score with ties kept in input order, cut to the largest maxDets, greedy
//     matching to the best unmatched ground truth with IoU >= t, crowd ground
//     truth matchable many times with IoU = intersection / detection area,
//     ignored (crowd or out-of-range) ground truth matched only when no
//     regular one is left;
//   * precision interpolated with the monotone envelope and sampled at the
//     101 recall thresholds; categories without ground truth give -1 and are
//     left out of the means.
// Class-agnostic evaluation is pycocotools' useCats = 0: every category's
// ground truth and detections of an image are pooled (grouped in category-id
// order, which decides ties).
#pragma once

#include <stdbool.h>

#include "coco.h"
#include "context.h"

enum { USEG_COCO_MAX_MAXDETS = 8, USEG_COCO_MAX_STATS = 12 + USEG_COCO_MAX_MAXDETS };

typedef enum useg_coco_iou_type { USEG_COCO_SEGM, USEG_COCO_BBOX } useg_coco_iou_type;

typedef struct useg_coco_eval_params {
    useg_coco_iou_type iou_type;
    bool class_agnostic;
    int n_max_dets;                           // 3 .. USEG_COCO_MAX_MAXDETS
    int max_dets[USEG_COCO_MAX_MAXDETS];      // sorted ascending before use, as pycocotools does
} useg_coco_eval_params;

typedef struct useg_coco_stat {
    char name[16];        // "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", ...
    char label[80];       // pycocotools' description: "AP @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]"
    double value;         // -1 when undefined (no ground truth in range)
} useg_coco_stat;

typedef struct useg_coco_summary {
    int n_stats;          // pycocotools' 12, then AR at each maxDets past the third
    useg_coco_stat stats[USEG_COCO_MAX_STATS];
    size_t n_images, n_gt, n_dt;
} useg_coco_summary;

// The default parameters: segm, class-aware, maxDets 1, 10, 100, 1000 (the
// standard 12 numbers plus AR@1000).
useg_coco_eval_params useg_coco_eval_defaults(void);

// Evaluate detections `dt` (from useg_coco_load_results against `gt`) and
// summarise. Masks must have been loaded for segm. Fails with
// USEG_ERR_INVALID_ARG on bad parameters, USEG_ERR_SHAPE when a detection's
// mask size differs from its image's; zero detections are valid (AP 0 where
// ground truth exists).
useg_status useg_coco_evaluate(useg_ctx *ctx, const useg_coco *gt, const useg_coco *dt,
                               const useg_coco_eval_params *params, useg_coco_summary *out);
