// Throughput of UnSAM's whole per-image pipeline (pseudolabel/unsam.h) with
// the weights-free backbone, or a ViT checkpoint: images/s and masks/s, with
// the wall time of each stage (divide, crop features, merge, conquer,
// refine), medians over the images of REPS runs each after a warm-up.
//
//   bench_unsam [--weights FILE] [--whole-image] [--reps N] IMAGE...
//   bench_unsam --refine-sides IMAGE...   the refinement's working size:
//       for caps 96, 128, 192, 256, 384 and none (the window at full size),
//       refine time per image and agreement with the uncapped CRF (masks
//       kept by both, mean IoU between their refined masks, kept counts)
//
// Measured (3 BSDS500 val photos 481 x 321, weights-free backbone, 2 reps;
// 2 cores shared with other jobs, so times vary run to run by 2-3x):
//   1 thread:  3.08 s/image, 0.30 images/s, 2.5 masks/s (8.3 masks/image from
//              2.0 divide masks, 17.7 candidates before refinement); median
//              stage s: divide 1.42, features 0.05, merge 0.007, conquer 0.17,
//              refine 1.46
//   --whole-image, 2 threads (loaded): 11.0 s/image, 2.4 masks/s, 25 masks/image
//              (47 candidates); divide 5.0, features 0.20, merge 0.02,
//              conquer 0.40, refine 5.6
// The CRFs (MaskCut's inside the divide step, and one per candidate in the
// refinement) are the cost; the conquer step proper is < 10 %.
// PAPERS.md gives no per-image cost for the reference (CutLER + ViT-B/8
// fp16 on a GPU + CascadePSP).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "image.h"
#include "unsam.h"

static const char *const STAGES[USEG_UNSAM_STAGES] = {"divide", "features", "merge", "conquer", "refine"};

static int throughput(useg_ctx *ctx, const useg_backbone *bb, const useg_unsam_options *opt, useg_tensor **imgs,
                      int n, int reps) {
    const int runs = n * reps;
    // total (runs), then stage s's seconds at stage + s * runs.
    double *total = calloc((size_t)runs * (1 + USEG_UNSAM_STAGES), sizeof *total), *stage = total + runs;
    double sum_s = 0, med[USEG_UNSAM_STAGES];
    int64_t masks = 0, cand = 0, divide = 0;
    for (int i = 0; i < n; i++) {
        useg_unsam_result r;
        if (useg_unsam_image(ctx, bb, imgs[i], opt, &r) != USEG_OK) goto fail; // warm-up
        useg_step_end(ctx);
    }
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < n; i++) {
            useg_unsam_result r;
            double t0 = bench_now_ms();
            if (useg_unsam_image(ctx, bb, imgs[i], opt, &r) != USEG_OK) goto fail;
            total[rep * n + i] = (bench_now_ms() - t0) / 1e3;
            sum_s += total[rep * n + i];
            for (int s = 0; s < USEG_UNSAM_STAGES; s++) stage[s * runs + rep * n + i] = r.seconds[s];
            if (rep == 0) masks += r.count, cand += r.n_candidates, divide += r.n_divide;
            useg_step_end(ctx);
        }
    for (int s = 0; s < USEG_UNSAM_STAGES; s++) med[s] = bench_median(stage + s * runs, runs);
    const double med_total = bench_median(total, runs);
    printf("%d images x %d reps: median %.3f s/image, %.3f images/s, %.1f masks/s (%.1f masks/image: %.1f divide, "
           "%.1f candidates before refinement)\n",
           n, reps, med_total, runs / sum_s, (double)masks * reps / sum_s, (double)masks / n,
           (double)divide / n, (double)cand / n);
    printf("median s per stage:");
    for (int s = 0; s < USEG_UNSAM_STAGES; s++) printf(" %s %.3f", STAGES[s], med[s]);
    printf("\n");
    free(total);
    return 0;
fail:
    fprintf(stderr, "bench_unsam: %s\n", ctx->message);
    free(total);
    return 1;
}

// The candidates of each image (refine none), refined at several caps.
static int refine_sides(useg_ctx *ctx, const useg_backbone *bb, useg_unsam_options opt, useg_tensor **imgs, int n) {
    static const int64_t caps[] = {96, 128, 192, 256, 384, 8192};
    enum { N_CAPS = sizeof caps / sizeof caps[0] };
    double secs[N_CAPS] = {0}, iou_sum[N_CAPS] = {0};
    int64_t both[N_CAPS] = {0}, kept_n[N_CAPS] = {0}, total = 0;
    opt.refine.mode = USEG_UNSAM_REFINE_NONE;
    for (int i = 0; i < n; i++) {
        useg_unsam_result r;
        if (useg_unsam_image(ctx, bb, imgs[i], &opt, &r) != USEG_OK) goto fail;
        const int K = r.count;
        const int64_t plane = imgs[i]->shape[0] * imgs[i]->shape[1];
        total += K;
        bool *kept = malloc((size_t)(N_CAPS * (K + 1)) * sizeof *kept);
        useg_tensor *out[N_CAPS];
        double *ious = malloc((size_t)(K + 1) * sizeof *ious);
        for (int c = N_CAPS - 1; c >= 0; c--) {
            useg_unsam_refine_options ro = useg_unsam_default_options().refine;
            ro.max_side = caps[c];
            double t0 = bench_now_ms();
            if (useg_unsam_refine(ctx, imgs[i], r.masks, &ro, &out[c], kept + c * (K + 1), ious) != USEG_OK) goto fail;
            secs[c] += (bench_now_ms() - t0) / 1e3;
            const uint8_t *a = out[c]->data, *b = out[N_CAPS - 1]->data;
            for (int k = 0; k < K; k++) {
                kept_n[c] += kept[c * (K + 1) + k];
                if (!kept[c * (K + 1) + k] || !kept[(N_CAPS - 1) * (K + 1) + k]) continue;
                int64_t inter = 0, uni = 0;
                for (int64_t p = 0; p < plane; p++) inter += a[k * plane + p] & b[k * plane + p], uni += a[k * plane + p] | b[k * plane + p];
                iou_sum[c] += uni ? (double)inter / (double)uni : 1.0;
                both[c]++;
            }
        }
        free(kept);
        free(ious);
        useg_step_end(ctx);
    }
    printf("%lld candidate masks on %d images; refinement per image and agreement with the uncapped CRF:\n",
           (long long)total, n);
    for (int c = 0; c < N_CAPS; c++)
        printf("  max side %5lld: %.3f s/image, kept %lld, mean IoU with uncapped %.4f over %lld kept by both\n",
               (long long)caps[c], secs[c] / n, (long long)kept_n[c], both[c] ? iou_sum[c] / (double)both[c] : 0.0,
               (long long)both[c]);
    return 0;
fail:
    fprintf(stderr, "bench_unsam: %s\n", ctx->message);
    return 1;
}

int main(int argc, char **argv) {
    const char *weights = NULL;
    bool sides = false;
    int reps = 2, first = 1;
    useg_unsam_options opt = useg_unsam_default_options();
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--weights") && first + 1 < argc) weights = argv[++first];
        else if (!strcmp(argv[first], "--whole-image")) opt.whole_image = true;
        else if (!strcmp(argv[first], "--refine-sides")) sides = true;
        else if (!strcmp(argv[first], "--reps") && first + 1 < argc) reps = atoi(argv[++first]);
        else break;
    }
    if (first >= argc || reps < 1) {
        fprintf(stderr, "usage: bench_unsam [--weights FILE] [--whole-image] [--reps N] [--refine-sides] IMAGE...\n");
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_no_grad_begin(&ctx);
    useg_backbone bb;
    int n = argc - first, rc = 1;
    useg_tensor **imgs = calloc((size_t)n, sizeof *imgs);
    if (useg_backbone_open(&ctx, weights, 8, &bb) != USEG_OK) goto done;
    for (int i = 0; i < n; i++)
        if (useg_image_read(&ctx, argv[first + i], &(useg_image_options){.mode = USEG_IMAGE_RGB}, &ctx.params,
                            &imgs[i]) != USEG_OK)
            goto done;
    printf("backbone %s, whole_image %d\n", bb.name, opt.whole_image);
    rc = sides ? refine_sides(&ctx, &bb, opt, imgs, n) : throughput(&ctx, &bb, &opt, imgs, n, reps);
done:
    if (rc && ctx.status != USEG_OK) fprintf(stderr, "bench_unsam: %s\n", ctx.message);
    free(imgs);
    useg_ctx_free(&ctx);
    return rc;
}
