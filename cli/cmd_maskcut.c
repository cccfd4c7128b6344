// `useg maskcut`: MaskCut pseudo-masks of a set of images as a COCO
// instances file (pseudolabel/maskcut.h for the algorithm,
// pseudolabel/annotations.h for the file, resume and shards, label_batch.h
// for the loop).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "label_batch.h"
#include "maskcut.h"

static void help(FILE *f) {
    fprintf(f,
            "usage: useg maskcut (--images DIR | --list FILE | --coco FILE) --out FILE.json [options]\n"
            "\n"
            "MaskCut (CutLER's pseudo-mask generator) on every image: the image resized to\n"
            "S x S (Lanczos), the backbone's last-block keys, up to N normalized cuts of the\n"
            "patch graph (each cut's object masked out of the next), each mask refined by a\n"
            "dense CRF (dropped if it moves too far: IoU < 0.5), holes filled, resized to the\n"
            "image. Without --weights the built-in weights-free backbone is used (per-patch\n"
            "colour statistics, gradient orientations and position): it runs out of the box\n"
            "and finds objects that differ from their surroundings in colour or texture. With\n"
            "--weights, a DINO or DINOv2 ViT checkpoint (.pth or .safetensors); CutLER's\n"
            "published pseudo-masks use DINO ViT-B/8 (dino_vitbase8_pretrain.pth).\n"
            "\n"
            USEG_DATASET_HELP
            "  --out FILE.json     output COCO instances file\n"
            USEG_BACKBONE_HELP
            USEG_MASKCUT_HELP
            "  --shard I/N         label only the images with index %% N == I (0 <= I < N);\n"
            "                      merge the N outputs with 'useg merge'\n"
            USEG_DEVICE_HELP
            "  -h, --help          this text\n"
            "\n"
            "Output: {info, images, annotations, categories}, one entry per line. images:\n"
            "id (the COCO id with --coco, else the position in the sorted list, from 0),\n"
            "file_name (as listed), height, width; every image read is listed, with or\n"
            "without masks. annotations: category 1 \"fg\", segmentation as compressed RLE,\n"
            "area, bbox [x, y, w, h], iscrowd 0, score 1.0 (MaskCut has no confidence; CutLER\n"
            "trains on every mask), and cut (0-based), eigenvalue (the cut's) and patch_area\n"
            "(patches in the cut's mask). info records the settings, the dataset and the shard.\n"
            "\n"
            "Resume: each finished image is saved at once in FILE.json.parts/; re-running the\n"
            "same command after an interruption skips those images (other settings are\n"
            "refused). FILE.json is written atomically at the end and the parts removed.\n"
            "Unreadable images are reported and skipped.\n"
            "Exit status: 0 all images labelled, 1 some unreadable (the others are written)\n"
            "or a runtime error, 2 usage error.\n");
}

typedef struct maskcut_job {
    useg_backbone bb;
    useg_maskcut_image_options opt;
} maskcut_job;

static useg_status label_image(useg_ctx *ctx, void *user, const useg_tensor *img, json_t *anns) {
    const maskcut_job *job = user;
    useg_maskcut_result r;
    USEG_TRY(useg_maskcut_image(ctx, &job->bb, img, &job->opt, &r));
    const int64_t H = img->shape[0], W = img->shape[1];
    for (int k = 0; k < r.count; k++) {
        const useg_maskcut_mask_info *in = &r.info[k];
        json_t *extra = json_pack("{s:i, s:f, s:I}", "cut", in->cut, "eigenvalue", in->eigenvalue, "patch_area",
                                  (json_int_t)in->patch_area);
        if (!extra) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "maskcut: out of memory");
        USEG_TRY(useg_annotation_append(ctx, anns, (const uint8_t *)r.masks->data + (size_t)k * (size_t)(H * W), H,
                                        W, in->score, extra, NULL));
    }
    return USEG_OK;
}

static int run(useg_ctx *ctx, const useg_label_args *a, void *user) {
    maskcut_job *job = user;
    if (useg_backbone_args_open(ctx, &a->backbone, &job->bb) != USEG_OK) {
        fprintf(stderr, "useg maskcut: %s\n", ctx->message);
        return USEG_EXIT_RUNTIME;
    }
    if (job->opt.size < 2 * job->bb.patch) {
        fprintf(stderr, "useg maskcut: --size %lld is below two patches of %d (a cut needs a grid of 2 x 2 or more)\n",
                (long long)job->opt.size, job->bb.patch);
        return USEG_EXIT_RUNTIME;
    }
    const useg_label_batch batch = {.prog = "useg maskcut", .label = "maskcut", .args = a,
                                    .settings = useg_maskcut_settings("MaskCut pseudo-masks (useg maskcut)", &job->bb, &a->backbone, &job->opt), .label_image = label_image, .user = job};
    return useg_label_batch_run(ctx, &batch);
}

int useg_cmd_maskcut(int argc, char **argv) {
    static const struct option opts[] = {
        USEG_LABEL_OPTIONS,
        USEG_MASKCUT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    useg_label_args a;
    useg_label_args_init(&a);
    maskcut_job job = {.opt = useg_maskcut_image_default_options()};
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        useg_arg_result r = useg_label_arg(&a, c, optarg);
        if (r == USEG_ARG_OTHER) r = useg_maskcut_arg(&job.opt, c, optarg);
        if (r == USEG_ARG_TAKEN) continue;
        if (r == USEG_ARG_BAD) goto bad;
        switch (c) {
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
        continue;
    bad:
        fprintf(stderr, "useg maskcut: bad value '%s' for --%s (see --help)\n", optarg, opts[li].name);
        return USEG_EXIT_USAGE;
    }
    if (!useg_label_args_check("useg maskcut", argc, argv, optind, &a)) return USEG_EXIT_USAGE;
    return useg_label_main("useg maskcut", "MaskCut", &a, run, &job);
}
