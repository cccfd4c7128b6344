// The batch loop of the pseudo-labelling commands (`useg maskcut`, later
// UnSAM's): walk a dataset (or one shard of it), label each image through a
// callback, write each image's annotations as a resumable part and
// assemble the COCO file (pseudolabel/annotations.h), with a progress bar
// in images/s, unreadable images reported and skipped, and a summary.
#pragma once

#include <jansson.h>

#include "annotations.h"
#include "backbone_args.h"
#include "dataset_args.h"
#include "device_arg.h"

// The options every labelling command takes: the dataset, the backbone,
// --out FILE.json, --shard I/N, --device (with USEG_LABEL_OPTIONS in the
// getopt table; the help lines are the commands' own).
typedef struct useg_label_args {
    useg_dataset_args data;
    useg_backbone_args backbone;
    const char *out;
    useg_shard shard;
    useg_device_choice device;
} useg_label_args;

enum { USEG_OPT_OUT = 1200, USEG_OPT_SHARD, USEG_OPT_DEVICE };

#define USEG_LABEL_OPTIONS                                                                          \
    USEG_DATASET_OPTIONS, USEG_BACKBONE_OPTIONS, {"out", required_argument, NULL, USEG_OPT_OUT},    \
        {"shard", required_argument, NULL, USEG_OPT_SHARD}, {"device", required_argument, NULL, USEG_OPT_DEVICE}

// Defaults: all images, the weights-free backbone, the CPU.
void useg_label_args_init(useg_label_args *a);
// Take option c (value v) if it is one of the above.
useg_arg_result useg_label_arg(useg_label_args *a, int c, const char *v);
// After parsing: nothing left over, one image source, --out given, --patch
// only without --weights. Prints one line "PROG: ..." and returns false if not.
bool useg_label_args_check(const char *prog, int argc, char **argv, int optind_value, const useg_label_args *a);

// Label one decoded image (H, W, 3) u8 by appending to `anns` with
// useg_annotation_append. Temporaries go to ctx->step (ended per image).
// USEG_ERR_IO, USEG_ERR_FORMAT and USEG_ERR_SHAPE skip the image (reported);
// any other failure stops the run, with the finished parts kept.
typedef useg_status (*useg_label_fn)(useg_ctx *ctx, void *user, const useg_tensor *img, json_t *anns);

typedef struct useg_label_batch {
    const char *prog;                // "useg maskcut", starts every message
    const char *label;               // the progress bar's label
    const useg_label_args *args;     // the images, --out FILE.json, --shard
    json_t *settings;                // the run's settings (annotations.h), taken; NULL: out of memory
    useg_label_fn label_image;
    void *user;
} useg_label_batch;

// Run it (inside a no-grad scope it opens itself); prints the summary and
// returns the exit code: 0 every image labelled, 1 some image unreadable
// (the others are in FILE.json) or a runtime error (one line on stderr).
int useg_label_batch_run(useg_ctx *ctx, const useg_label_batch *b);

// The end of a labelling command's main: a context on the CPU (--device
// other than cpu is refused: `what` runs on the CPU in this version), then
// run(ctx, a, job); returns its exit code.
int useg_label_main(const char *prog, const char *what, const useg_label_args *a,
                    int (*run)(useg_ctx *ctx, const useg_label_args *a, void *job), void *job);
