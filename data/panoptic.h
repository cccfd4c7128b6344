// COCO panoptic format: a JSON file whose "annotations" list, per image, the
// PNG file_name and the segments ({id, category_id, iscrowd, area}); the PNG
// holds each pixel's segment id as R + 256 G + 256^2 B (0 = void).
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "coco.h"
#include "context.h"

typedef struct useg_panoptic_segment {
    uint32_t id;
    int64_t category_id;
    uint32_t category;      // index into the categories
    bool iscrowd;
    double area;            // the JSON "area" (0 when absent)
} useg_panoptic_segment;

typedef struct useg_panoptic_image {
    int64_t image_id;
    char *file_name;
    useg_panoptic_segment *segments;
    uint32_t n_segments;
} useg_panoptic_image;

typedef struct useg_panoptic {
    useg_coco meta;                 // categories (and their lookup); no images or annotations
    useg_panoptic_image *images;
    size_t n_images;
} useg_panoptic;

// Load a panoptic JSON. Category ids are checked against `cats` when given
// (predictions are read against the ground truth's categories; out->meta then
// borrows them), else against the file's own "categories". Unknown category
// ids, repeated segment ids and ids over 2^24 - 1 fail with USEG_ERR_FORMAT.
useg_status useg_panoptic_load(useg_ctx *ctx, const char *path, const useg_coco *cats, useg_panoptic *out);
void useg_panoptic_free(useg_panoptic *p);
