// BSDS500 region benchmark (Arbelaez et al., TPAMI 2011; the benchmark's
// evaluation_reg_image / collect_eval_reg): segmentation covering, the
// probabilistic Rand index and the variation of information of a machine
// segmentation at several thresholds (or several given segmentations)
// against all human segmentations of an image, then data-set summaries:
//   * covering of the ground truth by the segmentation: each human region
//     takes its best IoU with any machine region, weighted by its area,
//     summed over all annotators; R = that sum / their total area;
//   * PRI and VoI: the mean over annotators of the Rand index and of
//     H1 + H2 - 2 MI (log2), from the contingency table of labels >= 1;
//   * ODS: the threshold best for the whole data set (R pooled over images,
//     RI / VoI averaged over images); OIS: each image at its own best
//     threshold; Best (covering): each human region at its best threshold.
// Label 0 means "unlabelled": it counts in region areas for IoU but is
// never a region, as in the benchmark.
//
// Boundary benchmark (evaluation_bdry_image / correspondPixels /
// collect_eval_bdry; bsds_boundary.c): machine boundary maps (a soft map or
// ucm2 thresholded, or the boundaries of given segmentations), thinned, are
// matched pixel to pixel with each human boundary map within 0.0075 of the
// image diagonal; recall counts the matched human pixels over all annotators,
// precision the machine pixels matched to any annotator; ODS is the best F
// on the data-set curve interpolated between thresholds, OIS each image at
// its best threshold, AP the area under the interpolated P(R) curve.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "mat_io.h"

typedef struct useg_bsds_region_image {
    int n;                   // thresholds (or segmentations)
    double *thresh;          // n
    double *cnt_r, *sum_r;   // covering of the ground truth by the segmentation, numerator / denominator
    double *cnt_p, *sum_p;   // covering of the segmentation by the ground truth
    double *ri, *voi;        // mean over annotators
    double cnt_r_best;       // covering with each human region at its best threshold
} useg_bsds_region_image;

typedef struct useg_bsds_region_summary {
    int n;                   // thresholds
    double cover_ods_t, cover_ods, cover_ois, cover_best;
    double ri_ods_t, ri_ods, ri_ois;
    double voi_ods_t, voi_ods, voi_ois;
    double *thresh, *cover_th, *ri_th, *voi_th;   // n each: data-set value per threshold
    double *img_t, *img_cover, *img_best;         // per image: best threshold, its covering, Best covering
    double *img_precision;                        // per image: covering of the segmentation by the ground truth at img_t
} useg_bsds_region_summary;

// Label the ultrametric contour map ucm2 ((2H+1, 2W+1), values in [0, 1]) at
// each threshold as the benchmark does: 8-connected regions of ucm2 <= t,
// read at the pixel positions (odd rows and columns). segs: n maps, malloc'd.
useg_status useg_bsds_segs_from_ucm(useg_ctx *ctx, const double *ucm2, uint32_t h2, uint32_t w2,
                                    const double *thresh, int n, useg_label_map **segs);
// MATLAB's linspace(1/(n+1), 1 - 1/(n+1), n): the benchmark's ucm thresholds.
void useg_bsds_ucm_thresholds(int n, double *out);

// Region scores of n_seg segmentations (thresh[i] names segmentation i)
// against n_gt human segmentations of one image (same size, else USEG_ERR_SHAPE).
useg_status useg_bsds_region_image_eval(useg_ctx *ctx, const useg_label_map *segs, int n_seg, const double *thresh,
                                        const useg_label_map *gts, int n_gt, useg_bsds_region_image *out);
void useg_bsds_region_image_free(useg_bsds_region_image *r);
// Data-set summary over images that share their thresholds.
useg_status useg_bsds_region_collect(useg_ctx *ctx, const useg_bsds_region_image *imgs, int n_img,
                                     useg_bsds_region_summary *out);
void useg_bsds_region_summary_free(useg_bsds_region_summary *s);

// ---- boundary benchmark -------------------------------------------------------

// How unmatched pixels enter the matching. correspondPixels solves a
// min-cost perfect assignment where a pixel may stay unmatched only through
// 6 random "outlier" arcs (plus a far costlier fallback); that sparse random
// structure sometimes forbids the best matching, so its counts are a few
// pixels per map below the optimum and vary from run to run.
typedef enum useg_bsds_match {
    USEG_BSDS_MATCH_SPARSE, // the benchmark's graph, outlier arcs drawn from a seeded RNG (default)
    USEG_BSDS_MATCH_EXACT,  // any pixel may stay unmatched: the optimum the benchmark approximates
} useg_bsds_match;

typedef struct useg_bsds_boundary_params {
    double max_dist;       // match tolerance as a fraction of the image diagonal (0.0075)
    bool thin;             // thin machine boundaries first (bwmorph 'thin', Inf), as the benchmark (true)
    useg_bsds_match match;
    uint64_t seed;         // outlier arcs of the sparse matching (callers vary it per image)
} useg_bsds_boundary_params;

typedef struct useg_bsds_boundary_image {
    int n;                     // thresholds (or segmentations)
    double *thresh;            // n
    double *cnt_r, *sum_r;     // human boundary pixels matched / present, summed over annotators
    double *cnt_p, *sum_p;     // machine boundary pixels matched to some annotator / present
} useg_bsds_boundary_image;

typedef struct useg_bsds_boundary_summary {
    int n;                               // thresholds
    double ods_t, ods_r, ods_p, ods_f;   // best F on the data-set curve (interpolated)
    double ois_r, ois_p, ois_f;          // each image at its best threshold, then pooled
    double ap;                           // area under P(R), R sampled at 0:0.01:1
    double *thresh, *r_th, *p_th, *f_th; // n each: the data-set curve
    double *img_t, *img_r, *img_p, *img_f; // per image: best point on its own interpolated curve
} useg_bsds_boundary_summary;

useg_bsds_boundary_params useg_bsds_boundary_defaults(void);
// The soft boundary map the benchmark reads from ucm2 ((2H+1, 2W+1)):
// pb(y, x) = ucm2(2y + 2, 2x + 2), the contour position below-right of each
// pixel. *pb: (H, W) malloc'd. USEG_ERR_SHAPE unless ucm2 is in that form.
useg_status useg_bsds_pb_from_ucm(useg_ctx *ctx, const double *ucm2, uint32_t h2, uint32_t w2, double **pb,
                                  uint32_t *h, uint32_t *w);
// maps (n, H, W): 1 where pb >= thresh[t].
void useg_bsds_boundary_threshold(const double *pb, uint32_t h, uint32_t w, const double *thresh, int n,
                                  uint8_t *maps);
// The benchmark's seg2bdry(seg, 'imageSize'): 1 where the 2x2 block whose
// top-left pixel is (y, x) (clipped at the image edge) holds two labels.
// bdry: (H, W).
void useg_bsds_seg_boundary(const useg_label_map *seg, uint8_t *bdry);
// Boundary counts of n machine maps (n, H, W) (nonzero = boundary; thresh[t]
// names map t) against n_gt human boundary maps (nonzero = boundary) of the
// same size (else USEG_ERR_SHAPE). Maps are matched in parallel.
useg_status useg_bsds_boundary_image_eval(useg_ctx *ctx, const uint8_t *maps, int n, const double *thresh,
                                          uint32_t h, uint32_t w, const useg_label_map *gts, int n_gt,
                                          const useg_bsds_boundary_params *p, useg_bsds_boundary_image *out);
void useg_bsds_boundary_image_free(useg_bsds_boundary_image *r);
// Data-set summary over images that share their thresholds.
useg_status useg_bsds_boundary_collect(useg_ctx *ctx, const useg_bsds_boundary_image *imgs, int n_img,
                                       useg_bsds_boundary_summary *out);
void useg_bsds_boundary_summary_free(useg_bsds_boundary_summary *s);
