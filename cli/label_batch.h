// The batch loop of the pseudo-labelling commands (`useg maskcut`, later
// UnSAM's): walk a dataset (or one shard of it), label each image through a
// callback, write each image's annotations as a resumable part and
// assemble the COCO file (pseudolabel/annotations.h), with a progress bar
// in images/s, unreadable images reported and skipped, and a summary.
#pragma once

#include <jansson.h>

#include "annotations.h"
#include "dataset_args.h"

// Label one decoded image (H, W, 3) u8 by appending to `anns` with
// useg_annotation_append. Temporaries go to ctx->step (ended per image).
// USEG_ERR_IO, USEG_ERR_FORMAT and USEG_ERR_SHAPE skip the image (reported);
// any other failure stops the run, with the finished parts kept.
typedef useg_status (*useg_label_fn)(useg_ctx *ctx, void *user, const useg_tensor *img, json_t *anns);

typedef struct useg_label_batch {
    const char *prog;                // "useg maskcut", starts every message
    const char *label;               // the progress bar's label
    const useg_dataset_args *data;
    const char *out;                 // FILE.json
    useg_shard shard;
    const json_t *settings;          // the run's settings (annotations.h), borrowed
    useg_label_fn label_image;
    void *user;
} useg_label_batch;

// Run it (inside a no-grad scope it opens itself); prints the summary and
// returns the exit code: 0 every image labelled, 1 some image unreadable
// (the others are in FILE.json) or a runtime error (one line on stderr).
int useg_label_batch_run(useg_ctx *ctx, const useg_label_batch *b);
