// COCO run-length encoded (RLE) binary masks.
//
// A mask of H x W pixels is read in column-major order (down each column,
// then left to right, as pycocotools does) and stored as run lengths that
// alternate 0-runs and 1-runs, starting with a 0-run that may be empty. The
// compressed string form is pycocotools' LEB128-like code: 5 data bits per
// character offset by 48, each count after the second stored as the
// difference from the count two places back.
//
// Polygons are rasterised with pycocotools' exact rule (upsample by 5, walk
// the edges, keep the crossings of pixel-centre columns), so masks, areas and
// IoUs agree with pycocotools to the pixel. Counts live in malloc'd memory
// owned by the useg_rle; useg_rle_free releases it.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

typedef struct useg_rle {
    uint32_t h, w;
    uint32_t m;          // number of runs
    uint32_t *counts;    // m run lengths, summing to h * w; NULL when m == 0
} useg_rle;

void useg_rle_free(useg_rle *r);

// Encode a row-major (H, W) mask (nonzero = inside).
useg_status useg_rle_from_mask(useg_ctx *ctx, const uint8_t *mask, uint32_t h, uint32_t w, useg_rle *out);
// Decode into a row-major (H, W) buffer of 0/1 the caller provides.
void useg_rle_to_mask(const useg_rle *r, uint8_t *mask);

// Parse the compressed string form. Fails with USEG_ERR_FORMAT (naming the
// character offset) on a character outside '0'..'o', a truncated count, a
// negative count, or counts that do not sum to h * w.
useg_status useg_rle_from_string(useg_ctx *ctx, const char *s, uint32_t h, uint32_t w, useg_rle *out);
// The compressed string form, malloc'd and NUL-terminated (the caller frees),
// or NULL with an out-of-memory failure recorded.
char *useg_rle_to_string(useg_ctx *ctx, const useg_rle *r);
// Take `m` uncompressed counts (a JSON "counts" list); they must sum to h * w.
useg_status useg_rle_from_counts(useg_ctx *ctx, const uint32_t *counts, uint32_t m, uint32_t h, uint32_t w,
                                 useg_rle *out);

// Rasterise polygons (each xy[i] holds n_xy[i] numbers x0 y0 x1 y1 ...; an odd
// last number is ignored, as pycocotools does) and take their union.
// Coordinates must be finite and within +-1e6, else USEG_ERR_FORMAT.
useg_status useg_rle_from_polygons(useg_ctx *ctx, const double *const *xy, const uint32_t *n_xy, uint32_t n_poly,
                                   uint32_t h, uint32_t w, useg_rle *out);
// Rasterise boxes [x, y, w, h] as pycocotools' frBbox does, and take their union.
useg_status useg_rle_from_boxes(useg_ctx *ctx, const double *boxes, uint32_t n, uint32_t h, uint32_t w,
                                useg_rle *out);
// Union (intersect = false) or intersection of n >= 1 masks of one size.
useg_status useg_rle_merge(useg_ctx *ctx, const useg_rle *rles, uint32_t n, bool intersect, useg_rle *out);

// Pixels inside.
uint64_t useg_rle_area(const useg_rle *r);
// [x, y, w, h] as pycocotools' toBbox computes it (a run that crosses a column
// boundary widens the box to the full height).
void useg_rle_bbox(const useg_rle *r, double bbox[4]);
// Pixels inside both (same size; the caller checks).
uint64_t useg_rle_intersection(const useg_rle *a, const useg_rle *b);
// IoU of detection d and ground truth g of one size, with COCO's crowd rule:
// for a crowd g the union is the detection's area. area_d / area_g are the
// masks' areas (passed in because callers keep them). 0 when they do not meet.
double useg_rle_iou(const useg_rle *d, const useg_rle *g, uint64_t area_d, uint64_t area_g, bool crowd);
// Box IoU ([x, y, w, h]) with the same crowd rule, in pycocotools' arithmetic.
double useg_bbox_iou(const double d[4], const double g[4], bool crowd);
