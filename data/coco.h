// COCO instances and detection-results files.
//
// Ground truth: {"images": [...], "annotations": [...], "categories": [...]}.
// Every segmentation (polygons, uncompressed or compressed RLE) becomes an
// RLE at load, sized by its image, the way pycocotools' annToRLE does; an RLE
// whose "size" differs from its image's is an error, not a silent IoU of -1.
//
// Results: a JSON array of {image_id, category_id, score, bbox?, segmentation?}
// read with pycocotools' loadRes rules, so that numbers agree: detections get
// ids 1, 2, ... in file order; when the first result has a non-empty "bbox",
// every detection's area is its box's w * h (even for mask evaluation) and a
// missing mask is the box's polygon; otherwise area is the mask's pixel count
// and a missing box is the mask's toBbox. Unlike loadRes, a result naming an
// unknown category is an error too (pycocotools silently drops it).
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "context.h"
#include "rle.h"

typedef struct useg_coco_image {
    int64_t id;
    uint32_t height, width;
    char *file_name;     // may be NULL
} useg_coco_image;

typedef struct useg_coco_category {
    int64_t id;
    char *name;          // may be NULL
    bool isthing;        // panoptic categories; true when the field is absent
} useg_coco_category;

typedef struct useg_coco_ann {
    int64_t id, image_id, category_id;
    uint32_t image;      // index into useg_coco.images
    uint32_t category;   // index into useg_coco.cats
    bool iscrowd;
    bool has_mask;       // rle is set
    double area;         // the "area" field (ground truth) or loadRes' rule (results)
    double bbox[4];      // x, y, w, h
    double score;        // results only
    useg_rle rle;
} useg_coco_ann;

typedef struct useg_coco {
    useg_coco_image *images;
    size_t n_images;
    useg_coco_category *cats;
    size_t n_cats;
    useg_coco_ann *anns;
    size_t n_anns;
    uint32_t *image_by_id;   // image indices sorted by id (for lookup)
    uint32_t *cat_by_id;     // category indices sorted by id
    bool meta_borrowed;      // images, cats and the lookups belong to another useg_coco
} useg_coco;

// Load a COCO instances file. With `masks` false, segmentations are not
// rasterised (box evaluation needs none). Duplicate image or category ids,
// missing fields, unknown image or category references and wrong mask sizes
// fail with USEG_ERR_FORMAT naming the annotation.
useg_status useg_coco_load(useg_ctx *ctx, const char *path, bool masks, useg_coco *out);
// The same on a file already parsed (`root`, borrowed; `path` names it in
// messages), for readers that also want fields useg_coco does not keep:
// out->anns[i] is root's annotations[i].
useg_status useg_coco_from_json(useg_ctx *ctx, const char *path, const json_t *root, bool masks, useg_coco *out);
// Load a results file against ground truth `gt` into out->anns (images and
// categories are gt's and not owned by out: free with useg_coco_free all the
// same). Decodes masks (in parallel) only when `masks` is true. An empty
// array gives zero detections.
useg_status useg_coco_load_results(useg_ctx *ctx, const char *path, const useg_coco *gt, bool masks,
                                   useg_coco *out);
// The same for results whose category_id is a cluster id (>= 0) of an
// unsupervised detector rather than a category of gt: each annotation keeps
// it in category_id, with category 0, until a mapping relabels it
// (useg_vote_relabel_detections in vote.h).
useg_status useg_coco_load_cluster_results(useg_ctx *ctx, const char *path, const useg_coco *gt, bool masks,
                                           useg_coco *out);
// Write detections as a results file (compressed-RLE masks where has_mask).
useg_status useg_coco_write_results(useg_ctx *ctx, const char *path, const useg_coco_ann *anns, size_t n);
void useg_coco_free(useg_coco *c);
// Read the "categories" array of a parsed COCO-style file (`path` for
// messages) into c->cats and c->cat_by_id; shared by the panoptic reader.
useg_status useg_coco_load_categories(useg_ctx *ctx, const char *path, const json_t *root, useg_coco *c);

// Index of the image / category with this id, or -1.
int64_t useg_coco_image_index(const useg_coco *c, int64_t id);
int64_t useg_coco_category_index(const useg_coco *c, int64_t id);
