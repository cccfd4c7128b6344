// MATLAB .mat reading (libmatio) for the BSDS500 files: ground truth (a cell
// of structs whose field holds a label matrix), segmentation sets (a cell of
// label matrices) and ultrametric contour maps (one real matrix). MATLAB
// stores column-major; everything returned here is row-major (H, W).
#pragma once

#include <stdint.h>

#include "context.h"

typedef struct useg_label_map {
    uint32_t h, w;
    int32_t *labels;     // (H, W), malloc'd
} useg_label_map;

void useg_label_maps_free(useg_label_map *maps, uint32_t n);

// Every element of cell variable `var` as a label map: the element itself
// (field == NULL) or its struct field `field` ("Segmentation"). Integer or
// real matrices; real values must be whole numbers. *maps is malloc'd.
useg_status useg_mat_read_label_cell(useg_ctx *ctx, const char *path, const char *var, const char *field,
                                     useg_label_map **maps, uint32_t *n);
// Real matrix variable `var` (e.g. "ucm2") as doubles, (H, W) malloc'd.
useg_status useg_mat_read_real(useg_ctx *ctx, const char *path, const char *var, double **data, uint32_t *h,
                               uint32_t *w);
