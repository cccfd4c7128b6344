// `useg maskcut`: MaskCut pseudo-masks of a set of images as a COCO
// instances file (pseudolabel/maskcut.h for the algorithm,
// pseudolabel/annotations.h for the file, resume and shards, label_batch.h
// for the loop).
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "device_arg.h"
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
            "  --weights FILE      DINO / DINOv2 checkpoint (default: the weights-free backbone)\n"
            "  --patch N           patch size of the weights-free backbone (default 8)\n"
            "  --n-masks N         cuts per image, at most N masks (default 3)\n"
            "  --tau T             affinity threshold on the keys' cosine similarity, in\n"
            "                      [-1, 1) (default 0.15, the published labels'; maskcut.py's\n"
            "                      argparse default is 0.2)\n"
            "  --size S            working size: images are resized to S x S (default 480)\n"
            "  --no-crf            keep the cut's masks as they are (nearest-upsampled patches)\n"
            "  --early-stop        stop cutting an image when a cut finds nothing new (a\n"
            "                      rejected or empty cut) instead of always cutting N times\n"
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

// The settings recorded in info (and checked on resume and merge).
static json_t *settings(const maskcut_job *job, const char *weights) {
    const useg_maskcut_image_options *o = &job->opt;
    const char *base = weights ? strrchr(weights, '/') : NULL;
    return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:s, s:f, s:f, s:i, s:f, s:f, s:s, s:b, s:b}", "description",
                     "MaskCut pseudo-masks (useg maskcut)", "useg_version", USEG_VERSION, "backbone", job->bb.name,
                     "weights", base ? base + 1 : weights, "tap", "keys", "size", (json_int_t)o->size, "resize",
                     useg_resample_name(o->filter), "tau", o->cut.tau, "eps", o->cut.eps, "n_masks", o->cut.n_masks,
                     "max_iou", o->cut.max_iou, "min_area", o->cut.min_area, "sign",
                     o->cut.sign == USEG_MASKCUT_PEAK_POSITIVE ? "peak_positive" : "peak_negative", "early_stop",
                     o->cut.early_stop, "crf", o->crf);
}

typedef struct run_args {
    useg_dataset_args data;
    const char *out, *weights;
    int patch;
    bool patch_given;
    useg_shard shard;
    useg_device_choice device;
} run_args;

static int run(useg_ctx *ctx, const run_args *a, maskcut_job *job) {
    if (useg_backbone_open(ctx, a->weights, a->patch, &job->bb) != USEG_OK) {
        fprintf(stderr, "useg maskcut: %s\n", ctx->message);
        return USEG_EXIT_RUNTIME;
    }
    if (job->opt.size < 2 * job->bb.patch) {
        fprintf(stderr, "useg maskcut: --size %lld is below two patches of %d (a cut needs a grid of 2 x 2 or more)\n",
                (long long)job->opt.size, job->bb.patch);
        return USEG_EXIT_RUNTIME;
    }
    json_t *s = settings(job, a->weights);
    if (!s) {
        fprintf(stderr, "useg maskcut: out of memory\n");
        return USEG_EXIT_RUNTIME;
    }
    const useg_label_batch batch = {.prog = "useg maskcut", .label = "maskcut", .data = &a->data, .out = a->out,
                                    .shard = a->shard, .settings = s, .label_image = label_image, .user = job};
    int rc = useg_label_batch_run(ctx, &batch);
    json_decref(s);
    return rc;
}

int useg_cmd_maskcut(int argc, char **argv) {
    enum { OPT_OUT = 1, OPT_WEIGHTS, OPT_PATCH, OPT_N_MASKS, OPT_TAU, OPT_SIZE, OPT_NO_CRF, OPT_EARLY_STOP, OPT_SHARD,
           OPT_DEVICE };
    static const struct option opts[] = {
        USEG_DATASET_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"patch", required_argument, NULL, OPT_PATCH},
        {"n-masks", required_argument, NULL, OPT_N_MASKS},
        {"tau", required_argument, NULL, OPT_TAU},
        {"size", required_argument, NULL, OPT_SIZE},
        {"no-crf", no_argument, NULL, OPT_NO_CRF},
        {"early-stop", no_argument, NULL, OPT_EARLY_STOP},
        {"shard", required_argument, NULL, OPT_SHARD},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    run_args a = {.patch = 8, .shard = {0, 1}, .device = {.device = USEG_DEVICE_CPU}};
    maskcut_job job = {.opt = useg_maskcut_image_default_options()};
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        char *end;
        if (useg_dataset_arg(&a.data, c, optarg)) continue;
        switch (c) {
        case OPT_OUT: a.out = optarg; break;
        case OPT_WEIGHTS: a.weights = optarg; break;
        case OPT_PATCH:
            a.patch = (int)strtol(optarg, &end, 10);
            a.patch_given = true;
            if (*end || a.patch < 2 || a.patch > 64) goto bad;
            break;
        case OPT_N_MASKS: {
            long n = strtol(optarg, &end, 10);
            if (*end || end == optarg || n < 1 || n > 100) goto bad;
            job.opt.cut.n_masks = (int)n;
            break;
        }
        case OPT_TAU:
            job.opt.cut.tau = strtod(optarg, &end);
            if (*end || end == optarg || !(job.opt.cut.tau >= -1 && job.opt.cut.tau < 1)) goto bad;
            break;
        case OPT_SIZE:
            job.opt.size = strtol(optarg, &end, 10);
            if (*end || end == optarg || job.opt.size < 1 || job.opt.size > 8192) goto bad;
            break;
        case OPT_NO_CRF: job.opt.crf = false; break;
        case OPT_EARLY_STOP: job.opt.cut.early_stop = true; break;
        case OPT_SHARD:
            if (!useg_shard_parse(optarg, &a.shard)) goto bad;
            break;
        case OPT_DEVICE:
            if (!useg_parse_device(optarg, &a.device)) goto bad;
            break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
        continue;
    bad:
        fprintf(stderr, "useg maskcut: bad value '%s' for --%s (see --help)\n", optarg, opts[li].name);
        return USEG_EXIT_USAGE;
    }
    if (!useg_batch_args_check("useg maskcut", argc, argv, optind, &a.data, a.out, "--out FILE.json"))
        return USEG_EXIT_USAGE;
    if (a.weights && a.patch_given) {
        fprintf(stderr, "useg maskcut: --patch is for the weights-free backbone; a checkpoint has its own patch\n");
        return USEG_EXIT_USAGE;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int rc = useg_open_cpu_device(&ctx, "useg maskcut", &a.device, "MaskCut");
    if (rc == USEG_EXIT_OK) rc = run(&ctx, &a, &job);
    useg_ctx_free(&ctx);
    return rc;
}
