// Image datasets: the list of images a batch run walks, and the walk itself.
//
// A dataset is a list of image paths made once from a folder, a COCO-style
// JSON (images[].file_name under an image root) or a text list (one path per
// line, like extras/coco_20k_filenames.txt). The walk decodes one image at a
// time; an image that cannot be read or decoded is skipped, its one-line
// message kept for the run's report, and the walk goes on: one corrupt file
// never stops a pseudo-labelling run over ImageNet.
#pragma once

#include <stdint.h>

#include "context.h"
#include "image.h"
#include "tensor.h"

typedef struct useg_dataset_item {
    char *path;      // root + '/' + name: what is opened
    char *name;      // the path as listed (relative to the root)
    int64_t id;      // COCO image id; the position in the list for the other sources
} useg_dataset_item;

typedef struct useg_dataset {
    int64_t count;
    useg_dataset_item *items;
} useg_dataset;

// Every file under `root` whose name ends in .jpg, .jpeg or .png (any case),
// in byte order of their paths relative to `root` (deterministic across
// machines and file systems). `recursive`: also walk sub-folders (ImageNet's
// class folders), following symbolic links up to 16 levels deep; hidden
// entries (".name") are skipped. Fails with USEG_ERR_IO naming the folder.
useg_status useg_dataset_from_folder(useg_ctx *ctx, const char *root, bool recursive, useg_dataset *ds);

// The images[] of a COCO-style JSON, in file order, as image_root/file_name
// with the image's id. Fails with USEG_ERR_IO (unreadable) or
// USEG_ERR_FORMAT (not JSON, no images array, an entry without a string
// file_name or an integer id), naming the file and the entry.
useg_status useg_dataset_from_coco(useg_ctx *ctx, const char *json_path, const char *image_root, useg_dataset *ds);

// One image path per line, relative to image_root (absolute paths are kept
// as they are). Blank lines and lines starting with '#' are skipped;
// surrounding white space (and a Windows CR) is trimmed.
useg_status useg_dataset_from_list(useg_ctx *ctx, const char *list_path, const char *image_root, useg_dataset *ds);

void useg_dataset_free(useg_dataset *ds);

// A failure kept by the walk.
typedef struct useg_dataset_skip {
    int64_t index;                   // item position in the dataset
    useg_status status;
    char message[USEG_MESSAGE_MAX];  // names the file
} useg_dataset_skip;

typedef struct useg_dataset_iter {
    const useg_dataset *ds;
    useg_image_options options;  // how images are decoded
    int64_t next;                // next item to try
    int64_t skipped_count;
    useg_dataset_skip *skipped;  // malloc'd; freed by useg_dataset_iter_free
    int64_t skipped_cap;
} useg_dataset_iter;

// Start a walk over ds (which must outlive it) decoding with `opt` (NULL: defaults).
void useg_dataset_iter_init(useg_dataset_iter *it, const useg_dataset *ds, const useg_image_options *opt);
void useg_dataset_iter_free(useg_dataset_iter *it);

// Decode the next readable image into arena `a` (ctx->step when NULL):
// *index is its item position, or -1 when the walk is over. Items failing
// with USEG_ERR_IO or USEG_ERR_FORMAT are appended to it->skipped and their
// error cleared; anything else (out of memory) stops the walk and is
// returned with the context's message.
useg_status useg_dataset_next(useg_ctx *ctx, useg_dataset_iter *it, useg_arena *a, int64_t *index,
                              useg_tensor **image);
