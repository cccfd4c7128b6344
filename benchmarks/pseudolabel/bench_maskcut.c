// MaskCut per image, stage by stage, as useg_maskcut_image runs it (driven by
// bench_maskcut.py, which times the Python reference chain in the same run).
//
//   bench_maskcut WEIGHTS|- REPS IMAGE...
//
// WEIGHTS: a DINO checkpoint, or - for the weights-free backbone. Each image
// is decoded once, then run REPS + 1 times (the first is a warm-up); per
// image one line
//   image=NAME features_ms=... cut_ms=... post_ms=... total_ms=... masks=K
// with the median of each stage: features (Lanczos to 480, normalisation,
// the keys tap), the cut loop (useg_maskcut, 3 cuts), the post-processing
// (useg_maskcut_postprocess: upsampling, CRF, fill holes, resize, N masks).
#include <stdio.h>
#include <string.h>

#include "bench_time.h"
#include "image.h"
#include "maskcut.h"

enum { MAX_REPS = 64 };

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_maskcut WEIGHTS|- REPS IMAGE...\n");
        return 2;
    }
    const int reps = atoi(argv[2]);
    if (reps < 1 || reps > MAX_REPS) return 2;
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_backbone bb;
    const bool prev = useg_no_grad_begin(&ctx);
    if (useg_backbone_open(&ctx, strcmp(argv[1], "-") ? argv[1] : NULL, 8, &bb) != USEG_OK) {
        fprintf(stderr, "bench_maskcut: %s\n", ctx.message);
        return 1;
    }
    const useg_maskcut_image_options opt = useg_maskcut_image_default_options();
    for (int i = 3; i < argc; i++) {
        double t[4][MAX_REPS];
        int count = 0;
        useg_tensor *img;
        if (useg_image_read(&ctx, argv[i], NULL, &ctx.params, &img) != USEG_OK) goto fail;
        for (int r = 0; r <= reps; r++) {
            // The stages of useg_maskcut_image, timed one by one.
            useg_tensor *work, *x, *keys, *feats, *patch_masks, *masks;
            useg_maskcut_info info[3];
            int cuts, source[3];
            double t0 = bench_now_ms();
            if (useg_image_resize(&ctx, img, opt.size, opt.size, opt.filter, NULL, &work) != USEG_OK ||
                useg_backbone_prepare(&ctx, &bb, work, opt.size, opt.filter, &x) != USEG_OK ||
                useg_backbone_forward(&ctx, &bb, x, USEG_TAP_KEYS, &keys) != USEG_OK ||
                useg_reshape(&ctx, keys, 3, (const int64_t[]){x->shape[2] / bb.patch, x->shape[3] / bb.patch, -1},
                             &feats) != USEG_OK)
                goto fail;
            double t1 = bench_now_ms();
            if (useg_maskcut(&ctx, feats, &opt.cut, &patch_masks, info, &cuts) != USEG_OK) goto fail;
            double t2 = bench_now_ms();
            if (useg_maskcut_postprocess(&ctx, work, patch_masks, img->shape[0], img->shape[1], opt.crf, &masks,
                                         &count, source, NULL) != USEG_OK)
                goto fail;
            double t3 = bench_now_ms();
            if (r > 0) {
                t[0][r - 1] = t1 - t0;
                t[1][r - 1] = t2 - t1;
                t[2][r - 1] = t3 - t2;
                t[3][r - 1] = t3 - t0;
            }
            useg_step_end(&ctx);
        }
        const char *name = strrchr(argv[i], '/');
        printf("image=%s features_ms=%.1f cut_ms=%.1f post_ms=%.1f total_ms=%.1f masks=%d\n", name ? name + 1 : argv[i],
               bench_median(t[0], reps), bench_median(t[1], reps), bench_median(t[2], reps),
               bench_median(t[3], reps), count);
        fflush(stdout);
    }
    useg_no_grad_end(&ctx, prev);
    useg_ctx_free(&ctx);
    return 0;
fail:
    fprintf(stderr, "bench_maskcut: %s\n", ctx.message);
    return 1;
}
