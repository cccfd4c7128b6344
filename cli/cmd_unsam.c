// `useg unsam`: UnSAM's divide-and-conquer pseudo-masks of a set of images
// as a COCO instances file with the hierarchy (pseudolabel/unsam.h for the
// algorithm, pseudolabel/annotations.h for the file, resume and shards,
// label_batch.h for the loop).
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "label_batch.h"
#include "unsam.h"

enum { MAX_THRESHOLDS = 32 };

static void help(FILE *f) {
    fprintf(f,
            "usage: useg unsam (--images DIR | --list FILE | --coco FILE) --out FILE.json [options]\n"
            "\n"
            "UnSAM's divide-and-conquer pseudo-masks: whole objects and their parts, with the\n"
            "hierarchy. Divide: MaskCut on the image (its options below; UnSAM runs a trained\n"
            "CutLER detector there, which this engine does not have, so the divide step finds\n"
            "at most --n-masks objects). Conquer, per divide mask: its box cropped, resized to\n"
            "--crop-size squared (bicubic), the backbone's last-block keys, patches merged\n"
            "bottom-up with 4-neighbour agglomeration, one level per --thresholds value; level\n"
            "masks resized back, kept when > 90%% inside the divide mask, near-duplicates\n"
            "removed (IoU > 0.9). Refine, per mask: a dense CRF (MaskCut's settings) on a\n"
            "window twice the mask's box; masks that move too far (IoU < 0.5) or cover > 90%%\n"
            "of the image are dropped, their children re-linked to the nearest kept ancestor.\n"
            "\n"
            "UnSAM refines with CascadePSP, a supervised network; useg uses the CRF, which the\n"
            "paper reports as clearly weaker (SA-1B pseudo-mask AR1000 15.3 with the CRF vs\n"
            "23.9 with CascadePSP). Without --weights the weights-free backbone is used\n"
            "(per-patch colour statistics, gradient orientations and position): it runs out of\n"
            "the box and splits objects by colour and texture, not by semantic parts; UnSAM's\n"
            "published masks use DINO ViT-B/8 (dino_vitbase8_pretrain.pth) for both steps.\n"
            "\n"
            USEG_DATASET_HELP
            "  --out FILE.json     output COCO instances file\n"
            USEG_BACKBONE_HELP
            "divide step (MaskCut):\n"
            USEG_MASKCUT_HELP
            "conquer step:\n"
            "  --crop-size N       crops are resized to N x N, a multiple of the patch (default 256)\n"
            "  --thresholds LIST   merge thresholds, comma-separated, strictly descending, at\n"
            "                      most 32 (default 0.6,0.5,0.4,0.3,0.2,0.1)\n"
            "  --min-size N        smallest part, in patches (default 4)\n"
            "  --keep-rgb-crop     feed the crops as RGB; by default their channels are reversed,\n"
            "                      as the reference does (it crops an OpenCV BGR array and feeds\n"
            "                      it as RGB), for parity with its masks\n"
            "  --whole-image       also run the conquer step on the whole image (the image itself\n"
            "                      is not a mask): parts outside the few divide masks; with the\n"
            "                      weights-free backbone it doubles AR@1000 on COCO and BSDS\n"
            "                      (benchmarks/results/unsam_quality_*.md)\n"
            "refinement:\n"
            "  --refine R          crf (default) or none\n"
            "  --refine-side N     the CRF window's working size: its longer side is resized\n"
            "                      down to at most N pixels (default 256)\n"
            "\n"
            USEG_LABEL_HELP
            USEG_DEVICE_HELP
            "  -h, --help          this text\n"
            "\n"
            "Output: {info, images, annotations, categories}, one entry per line. images:\n"
            "id (the COCO id with --coco, else the position in the sorted list, from 0),\n"
            "file_name (as listed), height, width; every image read is listed, with or\n"
            "without masks. annotations: category 1 \"fg\", segmentation as compressed RLE,\n"
            "area, bbox [x, y, w, h], iscrowd 0, and:\n"
            "  level      0 for a divide mask, t = 1..T for the t-th threshold's parts (1 the\n"
            "             finest, T the coarsest)\n"
            "  parent_id  the id of the annotation that contains it (a divide mask, or a part\n"
            "             of a higher level), null for a divide mask or when that was dropped\n"
            "  score      1.0 for a divide mask, t / (T + 1) for a part of level t: ranked by\n"
            "             score, whole objects come first, then parts from the coarsest down\n"
            "  refine_iou IoU of the mask before and after the refinement (1 with --refine none)\n"
            "Masks are listed per image: divide masks, then each one's parts. info records the\n"
            "settings (conquer_thresholds: the threshold of each level), the dataset, the shard.\n"
            "\n"
            "Resume: each finished image is saved at once in FILE.json.parts/; re-running the\n"
            "same command after an interruption skips those images (other settings are\n"
            "refused). FILE.json is written atomically at the end and the parts removed.\n"
            "Unreadable images are reported and skipped.\n"
            "Exit status: 0 all images labelled, 1 some unreadable (the others are written)\n"
            "or a runtime error, 2 usage error.\n");
}

typedef struct unsam_job {
    useg_backbone bb;
    useg_unsam_options opt;
    double thresholds[MAX_THRESHOLDS];
} unsam_job;

static useg_status label_image(useg_ctx *ctx, void *user, const useg_tensor *img, json_t *anns) {
    const unsam_job *job = user;
    useg_unsam_result r;
    USEG_TRY(useg_unsam_image(ctx, &job->bb, img, &job->opt, &r));
    const int64_t H = img->shape[0], W = img->shape[1];
    // Annotation ids in the image: 1, 2, ... over the non-empty masks (the
    // writer skips empty ones; none is expected), known before any is written
    // because a parent may come after its child.
    int64_t *id;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)r.count + 1) * sizeof *id, (void **)&id));
    int64_t next = 0;
    for (int k = 0; k < r.count; k++) id[k] = r.area[k] > 0 ? ++next : 0;
    for (int k = 0; k < r.count; k++) {
        const int32_t p = r.parent[k];
        json_t *parent = p >= 0 && id[p] > 0 ? json_integer(id[p]) : json_null();
        json_t *extra = json_pack("{s:i, s:o, s:f}", "level", r.level[k], "parent_id", parent, "refine_iou",
                                  r.refine_iou[k]);
        if (!extra) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "unsam: out of memory");
        int64_t got;
        USEG_TRY(useg_annotation_append(ctx, anns, (const uint8_t *)r.masks->data + (size_t)k * (size_t)(H * W), H, W,
                                        r.score[k], extra, &got));
        USEG_ASSERT(got == id[k], "unsam: annotation %d got id %lld, expected %lld", k, (long long)got,
                    (long long)id[k]);
    }
    return USEG_OK;
}

// The settings recorded in info (and checked on resume and merge).
static json_t *settings(const unsam_job *job, const useg_backbone_args *bb) {
    json_t *s = useg_maskcut_settings("UnSAM divide-and-conquer pseudo-masks (useg unsam)", &job->bb, bb, &job->opt.divide);
    const useg_unsam_options *o = &job->opt;
    json_t *th = json_array();
    for (int t = 0; th && t < o->merge.n_thresholds; t++) json_array_append_new(th, json_real(o->merge.thresholds[t]));
    json_t *conquer = json_pack(
        "{s:s, s:I, s:b, s:b, s:o, s:i, s:s, s:f, s:f, s:i, s:s, s:I, s:f, s:f}", "divide", "maskcut", "crop_size",
        (json_int_t)o->crop_size, "crop_bgr", o->crop_bgr, "whole_image", o->whole_image, "conquer_thresholds", th,
        "min_size", o->merge.min_size, "merge_order", "greedy", "min_coverage", o->conquer.min_coverage, "nms_iou",
        o->conquer.nms_iou, "nms_step", o->conquer.nms_step, "refine",
        o->refine.mode == USEG_UNSAM_REFINE_CRF ? "crf" : "none", "refine_side", (json_int_t)o->refine.max_side,
        "refine_min_iou", o->refine.min_iou, "refine_max_fraction", o->refine.max_fraction);
    bool ok = s && conquer && json_object_update(s, conquer) == 0;
    json_decref(conquer);
    if (!ok) {
        json_decref(s);
        s = NULL;
    }
    return s;
}

static int run(useg_ctx *ctx, const useg_label_args *a, void *user) {
    unsam_job *job = user;
    if (useg_backbone_args_open(ctx, &a->backbone, &job->bb) != USEG_OK) {
        fprintf(stderr, "useg unsam: %s\n", ctx->message);
        return USEG_EXIT_RUNTIME;
    }
    const int P = job->bb.patch;
    if (job->opt.divide.size < 2 * P || job->opt.crop_size < 2 * P || job->opt.crop_size % P != 0) {
        fprintf(stderr,
                "useg unsam: --size %lld must be >= 2 patches and --crop-size %lld a multiple of the patch %d, "
                ">= 2 patches\n",
                (long long)job->opt.divide.size, (long long)job->opt.crop_size, P);
        return USEG_EXIT_RUNTIME;
    }
    const useg_label_batch batch = {.prog = "useg unsam", .label = "unsam", .args = a,
                                    .settings = settings(job, &a->backbone), .label_image = label_image, .user = job};
    return useg_label_batch_run(ctx, &batch);
}

// "0.6,0.5,..." -> strictly descending finite values in job->thresholds.
static bool parse_thresholds(const char *text, unsam_job *job) {
    int n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v) || n == MAX_THRESHOLDS || (n > 0 && !(v < job->thresholds[n - 1]))) return false;
        job->thresholds[n++] = v;
        if (*end == '\0') break;
        if (*end != ',') return false;
        p = end + 1;
    }
    job->opt.merge.thresholds = job->thresholds;
    job->opt.merge.n_thresholds = n;
    return true;
}

int useg_cmd_unsam(int argc, char **argv) {
    enum { OPT_CROP_SIZE = 1, OPT_THRESHOLDS, OPT_MIN_SIZE, OPT_KEEP_RGB, OPT_WHOLE_IMAGE, OPT_REFINE,
           OPT_REFINE_SIDE };
    static const struct option opts[] = {
        USEG_LABEL_OPTIONS,
        USEG_MASKCUT_OPTIONS,
        {"crop-size", required_argument, NULL, OPT_CROP_SIZE},
        {"thresholds", required_argument, NULL, OPT_THRESHOLDS},
        {"min-size", required_argument, NULL, OPT_MIN_SIZE},
        {"keep-rgb-crop", no_argument, NULL, OPT_KEEP_RGB},
        {"whole-image", no_argument, NULL, OPT_WHOLE_IMAGE},
        {"refine", required_argument, NULL, OPT_REFINE},
        {"refine-side", required_argument, NULL, OPT_REFINE_SIDE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    useg_label_args a;
    useg_label_args_init(&a);
    unsam_job job = {.opt = useg_unsam_default_options()};
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        useg_arg_result r = useg_label_arg(&a, c, optarg);
        if (r == USEG_ARG_OTHER) r = useg_maskcut_arg(&job.opt.divide, c, optarg);
        if (r == USEG_ARG_TAKEN) continue;
        if (r == USEG_ARG_BAD) goto bad;
        int64_t v;
        switch (c) {
        case OPT_CROP_SIZE:
            if (!useg_parse_int_in(optarg, 2, 4096, &job.opt.crop_size)) goto bad;
            break;
        case OPT_THRESHOLDS:
            if (!parse_thresholds(optarg, &job)) goto bad;
            break;
        case OPT_MIN_SIZE:
            if (!useg_parse_int_in(optarg, 1, 1 << 24, &v)) goto bad;
            job.opt.merge.min_size = (int)v;
            break;
        case OPT_KEEP_RGB: job.opt.crop_bgr = false; break;
        case OPT_WHOLE_IMAGE: job.opt.whole_image = true; break;
        case OPT_REFINE:
            if (!strcmp(optarg, "crf")) job.opt.refine.mode = USEG_UNSAM_REFINE_CRF;
            else if (!strcmp(optarg, "none")) job.opt.refine.mode = USEG_UNSAM_REFINE_NONE;
            else goto bad;
            break;
        case OPT_REFINE_SIDE:
            if (!useg_parse_int_in(optarg, 8, 8192, &job.opt.refine.max_side)) goto bad;
            break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
        continue;
    bad:
        fprintf(stderr, "useg unsam: bad value '%s' for --%s (see --help)\n", optarg, opts[li].name);
        return USEG_EXIT_USAGE;
    }
    if (!useg_label_args_check("useg unsam", argc, argv, optind, &a)) return USEG_EXIT_USAGE;
    return useg_label_main("useg unsam", "UnSAM", &a, run, &job);
}
