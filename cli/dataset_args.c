#include "dataset_args.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

bool useg_dataset_arg(useg_dataset_args *a, int c, const char *v) {
    switch (c) {
    case USEG_OPT_IMAGES: a->images = v; return true;
    case USEG_OPT_LIST: a->list = v; return true;
    case USEG_OPT_COCO: a->coco = v; return true;
    case USEG_OPT_IMAGE_ROOT: a->image_root = v; return true;
    case USEG_OPT_RECURSIVE: a->recursive = true; return true;
    case USEG_OPT_EXIF: a->exif = true; return true;
    default: return false;
    }
}

bool useg_dataset_args_check(const char *prog, const useg_dataset_args *a) {
    int n = (a->images != NULL) + (a->list != NULL) + (a->coco != NULL);
    if (n != 1) {
        fprintf(stderr, "%s: give exactly one of --images, --list, --coco\n", prog);
        return false;
    }
    if (a->image_root && a->images) {
        fprintf(stderr, "%s: --image-root goes with --list or --coco, not --images\n", prog);
        return false;
    }
    return true;
}

bool useg_batch_args_check(const char *prog, int argc, char **argv, int optind_value, const useg_dataset_args *a,
                           const char *out, const char *out_flag) {
    if (optind_value < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind_value]);
        return false;
    }
    if (!useg_dataset_args_check(prog, a)) return false;
    if (!out) {
        fprintf(stderr, "%s: %s is required\n", prog, out_flag);
        return false;
    }
    return true;
}

const char *useg_dataset_args_root(const useg_dataset_args *a, char *buf, size_t size) {
    if (a->images) return a->images;
    if (a->image_root) return a->image_root;
    if (a->coco) return ".";
    snprintf(buf, size, "%s", a->list);
    return dirname(buf);
}

useg_status useg_dataset_args_open(useg_ctx *ctx, const useg_dataset_args *a, useg_dataset *ds) {
    char buf[4096];
    const char *root = useg_dataset_args_root(a, buf, sizeof buf);
    if (a->images) return useg_dataset_from_folder(ctx, root, a->recursive, ds);
    if (a->coco) return useg_dataset_from_coco(ctx, a->coco, root, ds);
    return useg_dataset_from_list(ctx, a->list, root, ds);
}
