// Panoptic quality (PQ = SQ x RQ) with panopticapi's pq_compute rules
// (PAPERS.md 7.3):
//   * a ground-truth and a predicted segment of the same category match when
//     IoU > 0.5, where the union leaves out the prediction's pixels on void
//     (ground-truth id 0); crowd ground truth never matches;
//   * unmatched non-crowd ground truth is a false negative;
//   * an unmatched prediction is a false positive unless more than half of
//     it lies on void or on the crowd region of its category (the last crowd
//     segment of that category listed in the image, as panopticapi keeps);
//   * ground-truth areas are the JSON "area" fields, predicted areas are
//     counted from the PNG;
//   * per category PQ = sum IoU / (TP + FP/2 + FN/2), SQ = sum IoU / TP,
//     RQ = TP / (TP + FP/2 + FN/2); the averages (all, things, stuff) run
//     over categories with TP + FP + FN > 0.
// Unlike panopticapi, a group with no such category gets NaN (not a
// division-by-zero crash). Every ground-truth image needs a prediction; a
// PNG id missing from the JSON (or the reverse) is an error, as in
// panopticapi.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "panoptic.h"

typedef struct useg_pq_class {
    int64_t category_id;
    bool isthing;
    double iou_sum;
    int64_t tp, fp, fn;
    double pq, sq, rq;      // 0 when the category has no TP, FP or FN
} useg_pq_class;

typedef struct useg_pq_group {
    double pq, sq, rq;      // NaN when n == 0
    int64_t n;              // categories averaged
} useg_pq_group;

typedef struct useg_pq_result {
    useg_pq_group all, things, stuff;
    useg_pq_class *classes; // one per ground-truth category, in file order (caller frees with useg_pq_result_free)
    size_t n_classes;
    size_t n_images;
} useg_pq_result;

// gt_dir / pred_dir hold the PNGs named by each annotation's file_name.
useg_status useg_pq_evaluate(useg_ctx *ctx, const useg_panoptic *gt, const char *gt_dir, const useg_panoptic *pred,
                             const char *pred_dir, useg_pq_result *out);
void useg_pq_result_free(useg_pq_result *r);
