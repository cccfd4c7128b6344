// Pseudo-label output of the batch commands (`useg maskcut`, later UnSAM's):
// COCO instances JSON, written so that a run survives interruption and
// splits across machines.
//
// The file (FILE.json):
//   {"info": {<the command's settings>, "dataset": {"images": n, "fingerprint": "<16 hex>"},
//             "shard": [I, N]},
//    "images": [{"id", "file_name", "height", "width"}, ...],
//    "annotations": [{"id", "image_id", "category_id": 1, "segmentation": {"size": [h, w],
//                     "counts": "<compressed RLE>"}, "area", "bbox": [x, y, w, h], "iscrowd": 0,
//                     "score", <extra fields>}, ...],
//    "categories": [{"id": 1, "name": "fg", "supercategory": "fg"}]}
// one image or annotation per line. area and bbox are pycocotools' area and
// toBbox of the mask. Images are in image-id order (the dataset's order for
// folders and lists, whose ids are the positions 0, 1, ...); annotations
// follow their images' order, each image's in the order the command gave
// them, numbered 1, 2, ... . An image that was read but got no mask is
// listed with no annotation; an image that could not be read is absent.
// `fingerprint` is FNV-1a 64 over the dataset's names and ids: shards of one
// dataset agree on it, so merging can check they belong together.
//
// Resume. Each finished image is written at once, atomically, to
// FILE.json.parts/<index>.json (its image entry and annotations, ids local
// to the image), and FILE.json.parts/run.json holds the info block. A run
// given an existing parts folder checks that run.json matches its own
// settings (else it stops, naming the first difference), skips every image
// whose part exists, and at the end assembles FILE.json atomically from the
// parts and removes the folder. Killing a run at any moment loses at most
// the images in progress; FILE.json is never half-written.
//
// Shards. With shard I/N a run takes the dataset items with index % N == I
// and writes FILE.json for them ("shard": [I, N]); useg_annotations_merge
// combines the N shard files into the file one run over the whole dataset
// writes, byte for byte.
//
// Hierarchies (UnSAM). Annotation ids in a part are 1..k in the image, as
// useg_annotation_append gives them; an extra field "parent_id" holding such
// an id (or null) is rewritten with the final id on assembly and on merge.
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "context.h"
#include "dataset.h"

// The items with index % count == index.
typedef struct useg_shard {
    int64_t index, count;
} useg_shard;

// Parse "I/N" (0 <= I < N <= 1000000); false for anything else.
bool useg_shard_parse(const char *text, useg_shard *out);

typedef struct useg_annotation_run {
    const useg_dataset *ds;
    useg_shard shard;
    json_t *info;            // the full info block (owned)
    char out[4096];          // FILE.json
    char parts[4096 + 8];    // FILE.json.parts
} useg_annotation_run;

// Start or resume a run writing `out_path` for the items of `ds` in `shard`
// (ds must outlive the run). `settings` (an object; borrowed) names the
// command and everything that changes its output; the run adds "dataset"
// and "shard". Creates the parts folder, or checks its run.json (fails with
// USEG_ERR_INVALID_ARG naming the first differing setting). Fails with
// USEG_ERR_INVALID_ARG when out_path is a folder, USEG_ERR_IO when the parts
// folder cannot be made or read.
useg_status useg_annotation_run_open(useg_ctx *ctx, useg_annotation_run *run, const char *out_path,
                                     const json_t *settings, const useg_dataset *ds, useg_shard shard);
void useg_annotation_run_close(useg_annotation_run *run);

// Whether item `index` is in the run's shard, and whether its part exists
// (it is complete: parts are written atomically).
bool useg_annotation_run_wants(const useg_annotation_run *run, int64_t index);
bool useg_annotation_run_done(const useg_annotation_run *run, int64_t index);

// Append to `anns` (a JSON array) the annotation of `mask` (h, w) u8
// (row-major, nonzero = inside) with `score`, and the fields of `extra` (an
// object or NULL; its reference is taken). *id (may be NULL) gets the
// annotation's id in the image, 1, 2, ...; an empty mask is not appended
// and gives 0. Fails with USEG_ERR_OUT_OF_MEMORY.
useg_status useg_annotation_append(useg_ctx *ctx, json_t *anns, const uint8_t *mask, int64_t h, int64_t w,
                                   double score, json_t *extra, int64_t *id);

// Write item `index`'s part: its image entry (the dataset's id and name,
// height x width) and `anns` (borrowed). Fails with USEG_ERR_IO.
useg_status useg_annotation_run_write(useg_ctx *ctx, useg_annotation_run *run, int64_t index, int64_t height,
                                      int64_t width, const json_t *anns);

// Assemble FILE.json from the parts of the shard's items, then remove the
// parts folder. *n_images, *n_anns get the counts written. Fails with
// USEG_ERR_IO, or USEG_ERR_FORMAT for a damaged part (named).
useg_status useg_annotation_run_finish(useg_ctx *ctx, useg_annotation_run *run, int64_t *n_images,
                                       int64_t *n_anns);

// Merge the shard files `paths[0..n-1]` (any order) into `out_path`,
// atomically: the file a single run over the dataset writes. Fails with
// USEG_ERR_IO (unreadable, unwritable), USEG_ERR_FORMAT (not such a file),
// or USEG_ERR_INVALID_ARG, naming the files, when they come from different
// settings or datasets, a shard is given twice or missing, or an image is
// in two of them.
useg_status useg_annotations_merge(useg_ctx *ctx, const char *const *paths, int n, const char *out_path,
                                   int64_t *n_images, int64_t *n_anns);
