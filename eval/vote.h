// U2Seg's many-to-one evaluation by per-image voting (PAPERS.md 6.5): each
// predicted cluster is mapped to the ground-truth class it overlaps most
// often, counting one vote per (prediction, ground truth) pair that overlaps
// enough inside one image, rather than per pixel of a data-set confusion
// matrix (semantic.h's majority).
//   * things: every detection with score >= min_score (0.6 in U2Seg's code)
//     votes (its cluster, the class of g) for every ground-truth box g of its
//     image with box IoU > iou (0.7); crowd boxes vote like any other (U2Seg
//     passes iscrowd = 0 to the IoU);
//   * stuff: in each image, every predicted cluster P and ground-truth class G
//     present vote (P, G) when |P & G| / |P | G| > iou (0.15). P counts every
//     pixel predicted as the cluster, whatever its ground truth (ignore
//     included); G every pixel of the class, whatever its prediction. To
//     follow U2Seg's stuff protocol exactly, give its "thing" ground truth
//     the ignore label and its predicted "thing" class a value outside the
//     clusters, so that neither votes.
// Mapping (useg_majority_mapping on the vote table): a cluster goes to the
// class with most votes (ties to the lowest class: U2Seg's np.argmax), or
// nowhere (-1) without a vote. Unmapped
// detections are dropped; unmapped stuff pixels are ignored in the scores.
// Reading of U2Seg's code where 6.5 is silent: votes are pooled over the
// data set before the majority; the mapping covers every cluster (U2Seg's
// stuff pass maps clusters 0..26 of its 1..27, skipping 27: a bug not kept).
#pragma once

#include <stdint.h>

#include "coco.h"
#include "context.h"
#include "semantic.h"

// Votes are kept in a useg_confusion (semantic.h) whose counts are votes:
// rows clusters, columns classes; useg_majority_mapping then maps clusters.

// Stuff: add the votes of one image to `votes`, pred and gt (N) label arrays
// (clusters outside [0, n_clusters) and classes outside [0, n_classes) do
// not vote). iou in [0, 1), else USEG_ERR_INVALID_ARG.
useg_status useg_vote_add_segmentation(useg_ctx *ctx, useg_confusion *votes, const int32_t *pred, const int32_t *gt,
                                       int64_t n, double iou);
// Things: the votes of all detections of dt (loaded with
// useg_coco_load_cluster_results against gt; cluster ids < n_clusters)
// with score >= min_score against gt's boxes. Classes are gt's categories
// ranked by id (votes->n_classes == gt->n_cats), so ties go to the lowest id.
useg_status useg_vote_add_detections(useg_ctx *ctx, useg_confusion *votes, const useg_coco *gt, const useg_coco *dt,
                                     double min_score, double iou);
// Votes cast so far.
uint64_t useg_vote_count(const useg_confusion *votes);
// Give dt's detections the category of their cluster's class (a rank from
// useg_vote_add_detections; -1 drops them) and number the rest 1.. in
// order, as loadRes would number the filtered list.
void useg_vote_relabel_detections(useg_coco *dt, const useg_coco *gt, const int64_t *class_of_cluster,
                                  int64_t n_clusters);
