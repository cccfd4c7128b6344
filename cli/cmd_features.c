// `useg features`: dense backbone features of a set of images, one .npy per
// image, for use from NumPy or by later pipeline stages.
//
// Output (documented in --help): OUT/<name>.npy per image, where <name> is
// the image's listed path with '/' replaced by "__" and its extension
// dropped, holding
//   keys, tokens  (h, w, C) f32   one descriptor per patch, row-major grid
//   cls           (C,) f32
//   attn          (heads, h, w) f32  the last block's CLS attention
// and OUT/manifest.json naming the backbone, tap, input size, filter, the
// patch grid (the same for every image: all are resized to one square) and,
// per image, its source path and file. An existing .npy is not recomputed
// (resume after an interruption); every file is written atomically, so an
// interrupted run never leaves a partial one. Unreadable images are reported
// and skipped; the run goes on.
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backbone_args.h"
#include "commands.h"
#include "dataset_args.h"
#include "device_arg.h"
#include "json_io.h"
#include "npy.h"
#include "progress.h"

static const char *const TAPS[USEG_TAP_COUNT] = {"keys", "tokens", "cls", "attn"};

static void help(FILE *f) {
    fprintf(f,
            "usage: useg features (--images DIR | --list FILE | --coco FILE) --out DIR [options]\n"
            "\n"
            "Dense features of every image, one .npy per image in DIR (see below).\n"
            "Without --weights the built-in weights-free backbone is used (per-patch colour\n"
            "statistics in CIE L*a*b*, gradient-orientation histograms and position): every\n"
            "pipeline runs out of the box with it, as a classical baseline. With --weights,\n"
            "a DINO or DINOv2 ViT checkpoint (.pth as released or saved by training, or\n"
            ".safetensors); its architecture is read from the tensor shapes.\n"
            "\n"
            USEG_DATASET_HELP
            "  --out DIR           output folder (created if missing)\n"
            USEG_BACKBONE_HELP
            "  --tap T             keys (last block's keys, MaskCut/UnSAM; default), tokens\n"
            "                      (final-norm patch tokens, STEGO/PriMaPs), cls (final-norm\n"
            "                      CLS token, U2Seg), attn (last block's CLS attention)\n"
            "  --size S            images are resized to S x S, S rounded down to a multiple of\n"
            "                      the patch (default 480, MaskCut's)\n"
            "  --resize F          nearest, bilinear, bicubic or lanczos (PIL's filters; default\n"
            "                      lanczos, MaskCut's)\n"
            USEG_DEVICE_HELP
            "  -h, --help          this text\n"
            "\n"
            "Each image gives OUT/<name>.npy (<name>: its listed path, '/' -> '__', no\n"
            "extension): keys and tokens (h, w, C) f32, cls (C,) f32, attn (heads, h, w) f32.\n"
            "OUT/manifest.json records the backbone, tap, size, filter, patch grid and each\n"
            "image's file. Existing .npy files are kept (re-running resumes); files are written\n"
            "atomically. Unreadable images are reported and skipped.\n"
            "Exit status: 0 all images done, 1 some failed (the others are written) or a\n"
            "runtime error, 2 usage error.\n");
}

// OUT/<name>.npy for a listed image name.
static void output_path(const char *out_dir, const char *name, char *path, size_t len) {
    char stem[1024];
    size_t n = 0;
    for (const char *p = name; *p && n + 3 < sizeof stem; p++) {
        if (*p == '/') stem[n++] = '_', stem[n++] = '_';
        else stem[n++] = *p;
    }
    stem[n] = '\0';
    char *dot = strrchr(stem, '.');
    if (dot && !strchr(dot, '_')) *dot = '\0';
    snprintf(path, len, "%s/%s.npy", out_dir, stem);
}

// The tap of one prepared image reshaped to its documented per-image layout.
static useg_status features_of(useg_ctx *ctx, const useg_backbone *bb, useg_tensor *x, useg_vit_tap tap,
                               useg_tensor **out) {
    const int64_t h = x->shape[2] / bb->patch, w = x->shape[3] / bb->patch;
    useg_tensor *f;
    USEG_TRY(useg_backbone_forward(ctx, bb, x, tap, &f));
    switch (tap) {
    case USEG_TAP_KEYS:
    case USEG_TAP_TOKENS: return useg_reshape(ctx, f, 3, (int64_t[]){h, w, f->shape[2]}, out);
    case USEG_TAP_CLS: return useg_reshape(ctx, f, 1, (int64_t[]){f->shape[1]}, out);
    default: return useg_reshape(ctx, f, 3, (int64_t[]){f->shape[1], h, w}, out);
    }
}

typedef struct run_args {
    useg_dataset_args data;
    useg_backbone_args backbone;
    const char *out;
    useg_vit_tap tap;
    int64_t size;
    useg_resample filter;
    useg_device_choice device;
} run_args;

static int run(useg_ctx *ctx, const run_args *a) {
    if (mkdir(a->out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "useg features: %s: cannot create: %s\n", a->out, strerror(errno));
        return USEG_EXIT_RUNTIME;
    }
    useg_backbone bb;
    useg_dataset ds = {0};
    if (useg_backbone_args_open(ctx, &a->backbone, &bb) != USEG_OK ||
        useg_dataset_args_open(ctx, &a->data, &ds) != USEG_OK) {
        fprintf(stderr, "useg features: %s\n", ctx->message);
        useg_dataset_free(&ds);
        return USEG_EXIT_RUNTIME;
    }
    if (ds.count == 0) {
        fprintf(stderr, "useg features: no images found\n");
        useg_dataset_free(&ds);
        return USEG_EXIT_RUNTIME;
    }
    json_t *items = json_array();
    useg_dataset_iter it;
    useg_dataset_iter_init(&it, &ds, &(useg_image_options){.mode = USEG_IMAGE_RGB, .exif_transpose = a->data.exif});
    useg_progress bar;
    useg_progress_start(&bar, "features", ds.count);
    int64_t written = 0, kept = 0, failed = 0;
    useg_status st = USEG_OK;
    bool prev = useg_no_grad_begin(ctx);
    for (int64_t i = 0; i < ds.count && st == USEG_OK;) {
        char path[4096];
        output_path(a->out, ds.items[i].name, path, sizeof path);
        if (access(path, F_OK) == 0) {
            // Resume: an existing file is complete (writes are atomic).
            json_array_append_new(items, json_pack("{s:s, s:s}", "image", ds.items[i].name, "file", strrchr(path, '/') + 1));
            kept++, i++, it.next = i;
            useg_progress_advance(&bar, 1);
            continue;
        }
        int64_t index;
        useg_tensor *img, *x, *f;
        st = useg_dataset_next(ctx, &it, NULL, &index, &img);
        if (st != USEG_OK || index < 0) break;
        useg_progress_advance(&bar, index + 1 - i);
        i = index + 1;
        output_path(a->out, ds.items[index].name, path, sizeof path);
        st = useg_backbone_prepare(ctx, &bb, img, a->size, a->filter, &x);
        if (st == USEG_OK) st = features_of(ctx, &bb, x, a->tap, &f);
        if (st == USEG_OK) st = useg_npy_write(ctx, path, f);
        if (st == USEG_OK) {
            json_array_append_new(items, json_pack("{s:s, s:s}", "image", ds.items[index].name, "file",
                                                   strrchr(path, '/') + 1));
            written++;
        } else if (st == USEG_ERR_IO || st == USEG_ERR_FORMAT || st == USEG_ERR_SHAPE) {
            fprintf(stderr, "\nuseg features: skipped %s: %s\n", ds.items[index].name, ctx->message);
            useg_clear_error(ctx);
            st = USEG_OK;
            failed++;
        }
        useg_step_end(ctx);
    }
    useg_no_grad_end(ctx, prev);
    useg_progress_finish(&bar);
    for (int64_t k = 0; k < it.skipped_count; k++) fprintf(stderr, "useg features: skipped %s\n", it.skipped[k].message);
    failed += it.skipped_count;
    if (st == USEG_OK) {
        const int64_t side = a->size / bb.patch * bb.patch > bb.patch ? a->size / bb.patch * bb.patch : bb.patch;
        json_t *manifest = json_pack("{s:s, s:s, s:I, s:s, s:I, s:[I,I], s:o}", "backbone", bb.name, "tap", TAPS[a->tap],
                                     "size", (json_int_t)side, "resize", useg_resample_name(a->filter), "patch",
                                     (json_int_t)bb.patch, "grid", (json_int_t)(side / bb.patch),
                                     (json_int_t)(side / bb.patch), "images", items);
        char path[4096];
        snprintf(path, sizeof path, "%s/manifest.json", a->out);
        st = useg_json_write_atomic(ctx, manifest, path, 2);
        json_decref(manifest);
    } else {
        json_decref(items);
    }
    useg_dataset_iter_free(&it);
    useg_dataset_free(&ds);
    if (st != USEG_OK) {
        fprintf(stderr, "useg features: %s\n", ctx->message);
        return USEG_EXIT_RUNTIME;
    }
    printf("%lld written, %lld already present, %lld failed; features in %s\n", (long long)written, (long long)kept,
           (long long)failed, a->out);
    return failed ? USEG_EXIT_RUNTIME : USEG_EXIT_OK;
}

int useg_cmd_features(int argc, char **argv) {
    enum { OPT_OUT = 1, OPT_TAP, OPT_SIZE, OPT_RESIZE, OPT_DEVICE };
    static const struct option opts[] = {
        USEG_DATASET_OPTIONS,
        USEG_BACKBONE_OPTIONS,
        {"out", required_argument, NULL, OPT_OUT},
        {"tap", required_argument, NULL, OPT_TAP},
        {"size", required_argument, NULL, OPT_SIZE},
        {"resize", required_argument, NULL, OPT_RESIZE},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    run_args a = {.tap = USEG_TAP_KEYS, .size = 480, .filter = USEG_RESAMPLE_LANCZOS,
                  .device = {.device = USEG_DEVICE_CPU}};
    useg_backbone_args_init(&a.backbone);
    int c, li = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
        if (useg_dataset_arg(&a.data, c, optarg)) continue;
        useg_arg_result r = useg_backbone_arg(&a.backbone, c, optarg);
        if (r == USEG_ARG_TAKEN) continue;
        if (r == USEG_ARG_BAD) goto bad;
        switch (c) {
        case OPT_OUT: a.out = optarg; break;
        case OPT_TAP: {
            int t = -1;
            for (int k = 0; k < USEG_TAP_COUNT; k++)
                if (!strcmp(optarg, TAPS[k])) t = k;
            if (t < 0) goto bad;
            a.tap = (useg_vit_tap)t;
            break;
        }
        case OPT_SIZE:
            if (!useg_parse_int_in(optarg, 1, 8192, &a.size)) goto bad;
            break;
        case OPT_RESIZE: {
            int f = useg_resample_from_name(optarg);
            if (f < 0) goto bad;
            a.filter = (useg_resample)f;
            break;
        }
        case OPT_DEVICE:
            if (!useg_parse_device(optarg, &a.device)) goto bad;
            break;
        case 'h': help(stdout); return USEG_EXIT_OK;
        default: help(stderr); return USEG_EXIT_USAGE;
        }
        continue;
    bad:
        fprintf(stderr, "useg features: bad value '%s' for --%s (see --help)\n", optarg, opts[li].name);
        return USEG_EXIT_USAGE;
    }
    if (!useg_batch_args_check("useg features", argc, argv, optind, &a.data, a.out, "--out DIR") ||
        !useg_backbone_args_check("useg features", &a.backbone))
        return USEG_EXIT_USAGE;
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    int rc = useg_open_cpu_device(&ctx, "useg features", &a.device, "computing features");
    if (rc == USEG_EXIT_OK) rc = run(&ctx, &a);
    useg_ctx_free(&ctx);
    return rc;
}
