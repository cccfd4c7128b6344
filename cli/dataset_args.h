// The image-source options the batch subcommands share: --images DIR
// [--recursive], --list FILE or --coco FILE, with --image-root for the
// latter two, and --exif. Parsed by getopt_long through
// USEG_DATASET_OPTIONS / useg_dataset_arg, then opened in one call.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <getopt.h>

#include "dataset.h"

typedef struct useg_dataset_args {
    const char *images, *list, *coco, *image_root;
    bool recursive, exif;
} useg_dataset_args;

enum { USEG_OPT_IMAGES = 1000, USEG_OPT_LIST, USEG_OPT_COCO, USEG_OPT_IMAGE_ROOT, USEG_OPT_RECURSIVE, USEG_OPT_EXIF };

#define USEG_DATASET_OPTIONS                                                                        \
    {"images", required_argument, NULL, USEG_OPT_IMAGES}, {"list", required_argument, NULL, USEG_OPT_LIST}, \
        {"coco", required_argument, NULL, USEG_OPT_COCO},                                           \
        {"image-root", required_argument, NULL, USEG_OPT_IMAGE_ROOT},                               \
        {"recursive", no_argument, NULL, USEG_OPT_RECURSIVE}, {"exif", no_argument, NULL, USEG_OPT_EXIF}

#define USEG_DATASET_HELP                                                                           \
    "  --images DIR        every .jpg/.jpeg/.png in DIR (sorted; --recursive: sub-folders too)\n"   \
    "  --list FILE         one image path per line (relative to --image-root)\n"                    \
    "  --coco FILE         the images[] of a COCO-style JSON (file_name under --image-root)\n"      \
    "  --image-root DIR    root for --list and --coco (default: the file's folder for --list, .)\n" \
    "  --exif              apply EXIF orientation (detectron2's read_image does; PIL's open does not)\n"

// Take option `c` (with optarg) if it is a dataset option; false otherwise.
bool useg_dataset_arg(useg_dataset_args *a, int c, const char *optarg_value);
// Exactly one source given? Prints "PROG: ..." and returns false if not.
bool useg_dataset_args_check(const char *prog, const useg_dataset_args *a);
// The folder the images' names are relative to: --images DIR, else
// --image-root, else the list's folder (--list) or "." (--coco). May be
// written into buf (size bytes).
const char *useg_dataset_args_root(const useg_dataset_args *a, char *buf, size_t size);
// Build the dataset the options name.
useg_status useg_dataset_args_open(useg_ctx *ctx, const useg_dataset_args *a, useg_dataset *ds);
// The checks every batch command makes once its options are parsed: no
// argument left after them (argv[optind..]), exactly one image source, an
// output given (`out`, named `out_flag` in the message, e.g. "--out DIR").
// Prints one line "PROG: ..." and returns false if not.
bool useg_batch_args_check(const char *prog, int argc, char **argv, int optind_value, const useg_dataset_args *a,
                           const char *out, const char *out_flag);
