// Unsupervised semantic segmentation scores: a confusion matrix of predicted
// clusters against ground-truth classes over a whole data set, a cluster to
// class mapping, then per-class IoU, mIoU and pixel accuracy (PAPERS.md 1.3,
// 6.5, 7.2).
//
// Valid pixels are those whose ground truth is in [0, n_classes) (the ignore
// label and anything else is skipped) and whose prediction is in
// [0, n_clusters) (others are skipped and counted, as STEGO masks them).
// Mappings:
//   * hungarian: one-to-one, maximising matched pixels (rectangular allowed;
//     with more clusters than classes the extra clusters stay unmapped and
//     their pixels count as errors);
//   * majority: many-to-one, each cluster to the class holding most of its
//     pixels (ties to the lowest class id; empty clusters unmapped), U2Seg's
//     "Hungarian".
// With mapping c(k): TP_c = pixels of class c in clusters mapped to c,
// FP_c = other pixels in those clusters, FN_c = pixels of class c elsewhere;
// IoU_c = TP / (TP + FP + FN), undefined (NaN) when that is 0/0; mIoU = the
// mean of the defined IoUs; accuracy = sum TP / valid pixels. U2Seg's
// per-image voting (vote.h) builds its mapping elsewhere and scores it with
// useg_semantic_score_mapped.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

typedef struct useg_confusion {
    int64_t n_clusters, n_classes;
    uint64_t *counts;          // (n_clusters, n_classes) row-major
    uint64_t n_ignored;        // pixels skipped for their ground truth
    uint64_t n_pred_invalid;   // pixels skipped for a prediction outside [0, n_clusters)
} useg_confusion;

typedef enum useg_matching { USEG_MATCH_HUNGARIAN, USEG_MATCH_MAJORITY } useg_matching;

typedef struct useg_semantic_result {
    int64_t n_clusters, n_classes;
    int64_t *class_of_cluster; // n_clusters entries, -1 when unmapped
    double *iou;               // n_classes entries, NaN when undefined
    double miou, accuracy;     // NaN when nothing is defined / no valid pixel
    uint64_t n_valid;          // pixels scored
    uint64_t n_unmapped;       // pixels left out for an unmapped cluster (ignore_unmapped only)
} useg_semantic_result;

useg_status useg_confusion_init(useg_ctx *ctx, useg_confusion *c, int64_t n_clusters, int64_t n_classes);
void useg_confusion_free(useg_confusion *c);
// Add n pixels: pred and gt are (N) label arrays.
void useg_confusion_add(useg_confusion *c, const int32_t *pred, const int32_t *gt, int64_t n);
// Map clusters to classes and score. out owns its arrays (useg_semantic_result_free).
useg_status useg_semantic_score(useg_ctx *ctx, const useg_confusion *c, useg_matching matching,
                                useg_semantic_result *out);
// Many-to-one majority: class_of_cluster[k] (n_clusters entries) = the class
// with the largest count in row k (ties to the lowest class), -1 for an
// empty row. Also maps clusters by their votes (vote.h).
void useg_majority_mapping(const useg_confusion *c, int64_t *class_of_cluster);
// Score with a given mapping (class_of_cluster: n_clusters entries, -1 for
// unmapped). With ignore_unmapped the pixels of unmapped clusters leave the
// scores altogether (U2Seg's "ignore", vote.h); without, they count as
// misses of their class, as for useg_semantic_score.
useg_status useg_semantic_score_mapped(useg_ctx *ctx, const useg_confusion *c, const int64_t *class_of_cluster,
                                       bool ignore_unmapped, useg_semantic_result *out);
void useg_semantic_result_free(useg_semantic_result *r);
