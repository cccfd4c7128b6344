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
#pragma once

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
