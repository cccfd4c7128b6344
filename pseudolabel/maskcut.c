// MaskCut on one image (see maskcut.h): preprocessing, the backbone's keys,
// the cut loop, and the image-level post-processing of each patch mask.
//
// The CRF of the N masks runs as one batched CRF (crf.h): the image's two
// lattices are built once instead of N times, and the N two-label problems
// share each filtering pass; results are those of N separate CRFs.
// Memory: the outputs and the N upsampled masks are allocated in ctx->step;
// each mask's resize to the image is taken above a mark and given back.
//
// Checked against a NumPy/SciPy/pydensecrf2 re-implementation of steps
// 12-17 fed the same patch masks, and of the whole chain from the same
// features (tests/pseudolabel/test_maskcut.py), and end to end on synthetic
// scenes with known objects (tests/cli/test_maskcut.py): identical masks
// (IoU 1.0) to the reference on BSDS500 photos and a synthetic scene.
//
// Measured (benchmarks/pseudolabel/bench_maskcut.py; 3 BSDS500 photos; one
// thread each side; random DINO weights; a machine loaded ~3x, so absolute
// times are inflated), seconds per image, useg vs the Python reference
// (PyTorch ViT + scipy.linalg.eigh + pydensecrf2):
//   ViT-S/8  8.5 vs 58.1 (0.15x)   features 7.6 vs 21.6, cuts 0.11 vs 33.9, post 0.8 vs 2.4
//   ViT-B/8 25.2 vs 114.0 (0.22x)  features 24.0 vs 58.8, cuts 0.23 vs 52.0, post 0.9 vs 3.3
//   weights-free backbone 1.3 (features 0.09, cuts 0.10, post 1.1 with 2-3 masks kept)
// The ViT is useg's cost; the reference's is its 3 dense generalised eigensolves.
#include "maskcut.h"

#include <string.h>

#include "crf.h"

useg_maskcut_image_options useg_maskcut_image_default_options(void) {
    return (useg_maskcut_image_options){
        .cut = useg_maskcut_default_options(), .size = 480, .filter = USEG_RESAMPLE_LANCZOS, .crf = true};
}

static bool is_cpu_u8(const useg_tensor *t, int ndim) {
    return t->dtype == USEG_U8 && t->device == USEG_DEVICE_CPU && t->ndim == ndim;
}

// Step 12: patch mask (h, w) -> (S, S) u8 0/1, nearest.
static void upsample_nearest(const uint8_t *patch, int64_t h, int64_t w, uint8_t *out, int64_t S) {
    for (int64_t y = 0; y < S; y++) {
        const uint8_t *row = patch + (y * h / S) * w;
        for (int64_t x = 0; x < S; x++) out[y * S + x] = row[x * w / S] != 0;
    }
}

useg_status useg_maskcut_resize_mask(useg_ctx *ctx, useg_tensor *mask, int64_t out_h, int64_t out_w,
                                     useg_tensor **out) {
    uint8_t *m = mask->data;
    for (int64_t i = 0; i < useg_numel(mask); i++) m[i] = m[i] ? 255 : 0;
    useg_tensor *resized;
    USEG_TRY(useg_image_resize(ctx, mask, out_h, out_w, USEG_RESAMPLE_BICUBIC, NULL, &resized));
    return useg_mask_threshold_half_max(ctx, resized, out);
}

useg_status useg_maskcut_postprocess(useg_ctx *ctx, const useg_tensor *work, const useg_tensor *patch_masks,
                                     int64_t out_h, int64_t out_w, bool crf, useg_tensor **masks, int *count,
                                     int *source, double *crf_iou) {
    char b1[96], b2[96];
    if (work->device != USEG_DEVICE_CPU || patch_masks->device != USEG_DEVICE_CPU)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "maskcut_postprocess: not supported on this device (CPU only)");
    if (!is_cpu_u8(work, 3) || work->shape[0] != work->shape[1] || work->shape[2] != 3 || !is_cpu_u8(patch_masks, 3) ||
        patch_masks->shape[1] > work->shape[0] || patch_masks->shape[2] > work->shape[1] || patch_masks->shape[1] < 1 ||
        patch_masks->shape[2] < 1 || out_h < 1 || out_w < 1)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "maskcut_postprocess: need a working image (S, S, 3) u8 and patch masks (N, h, w) u8 with "
                         "h, w <= S, output size >= 1; got %s, %s, %lld x %lld",
                         useg_shape_str(work, b1, sizeof b1), useg_shape_str(patch_masks, b2, sizeof b2),
                         (long long)out_h, (long long)out_w);
    const int64_t N = patch_masks->shape[0], h = patch_masks->shape[1], w = patch_masks->shape[2];
    const int64_t S = work->shape[0], plane = S * S;
    useg_tensor *pm = (useg_tensor *)patch_masks, *image = (useg_tensor *)work, *out, *up, *refined = NULL;
    USEG_TRY(useg_contiguous(ctx, pm, &pm));
    USEG_TRY(useg_contiguous(ctx, image, &image));
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){N, out_h, out_w}, &out));

    // Step 12 for every cut. An empty mask is dropped whatever the CRF makes
    // of it (IoU 0, or no pixel), so only the others go to the CRF, together
    // (one batched CRF: the lattices of the image are built once).
    int64_t G = 0, *slot; // slot[t]: the mask's index among the non-empty ones, -1 if empty
    bool *kept;
    double *iou;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)(N + 1) * (sizeof *slot + sizeof *kept + sizeof *iou), (void **)&slot));
    iou = (double *)(slot + N + 1);
    kept = (bool *)(iou + N + 1);
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){N, S, S}, &up));
    for (int64_t t = 0; t < N; t++) {
        uint8_t *dst = (uint8_t *)up->data + G * plane;
        upsample_nearest((const uint8_t *)pm->data + t * h * w, h, w, dst, S);
        slot[t] = memchr(dst, 1, (size_t)plane) ? G++ : -1;
    }
    up->shape[0] = G; // the non-empty masks, contiguous
    for (int64_t g = 0; g < G; g++) kept[g] = true, iou[g] = 1.0;
    if (crf && G > 0) USEG_TRY(useg_maskcut_refine_batch(ctx, image, up, &refined, kept, iou));

    // Steps 16-17.
    int k = 0;
    for (int64_t t = 0; t < N; t++) {
        const int64_t g = slot[t];
        if (g < 0 || !kept[g]) continue;
        useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
        useg_tensor *mask, *final;
        const useg_tensor *src = refined ? refined : up;
        useg_status st = useg_empty(ctx, NULL, USEG_U8, 2, (const int64_t[]){S, S}, &mask);
        if (st == USEG_OK) {
            memcpy(mask->data, (const uint8_t *)src->data + g * plane, (size_t)plane);
            st = useg_maskcut_resize_mask(ctx, mask, out_h, out_w, &final);
        }
        if (st != USEG_OK) {
            useg_arena_rewind(&ctx->step, mark);
            return st;
        }
        if (memchr(final->data, 1, (size_t)(out_h * out_w))) {
            memcpy((uint8_t *)out->data + (size_t)k * (size_t)(out_h * out_w), final->data, (size_t)(out_h * out_w));
            source[k] = (int)t;
            if (crf_iou) crf_iou[k] = iou[g];
            k++;
        }
        useg_arena_rewind(&ctx->step, mark);
    }
    out->shape[0] = k; // the first k planes, contiguous
    *masks = out;
    *count = k;
    return USEG_OK;
}

static useg_status check_options(useg_ctx *ctx, const useg_backbone *bb, const useg_maskcut_image_options *opt) {
    if (opt->size < 1 || opt->size > 8192)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "maskcut: size %lld is outside 1..8192", (long long)opt->size);
    if ((unsigned)opt->filter >= USEG_RESAMPLE_COUNT)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "maskcut: unknown resize filter %d", (int)opt->filter);
    if (opt->size < 2 * bb->patch)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "maskcut: size %lld gives a 1 x 1 patch grid with patch %d; a cut needs size >= %d",
                         (long long)opt->size, bb->patch, 2 * bb->patch);
    return USEG_OK;
}

useg_status useg_maskcut_image(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img,
                               const useg_maskcut_image_options *opt, useg_maskcut_result *out) {
    char buf[96];
    if (img->device != USEG_DEVICE_CPU)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "maskcut: not supported on this device (CPU only)");
    if (!is_cpu_u8(img, 3) || img->shape[2] != 3)
        return useg_fail(ctx, USEG_ERR_SHAPE, "maskcut: image must be (H, W, 3) u8, got %s",
                         useg_shape_str(img, buf, sizeof buf));
    USEG_TRY(check_options(ctx, bb, opt));
    const int64_t S = opt->size;

    // Steps 1-3: the working image (also the CRF's), then the keys on it.
    useg_tensor *work, *x, *keys, *feats;
    USEG_TRY(useg_image_resize(ctx, img, S, S, opt->filter, NULL, &work));
    USEG_TRY(useg_backbone_prepare(ctx, bb, work, S, opt->filter, &x));
    USEG_TRY(useg_backbone_forward(ctx, bb, x, USEG_TAP_KEYS, &keys)); // (1, h*w, C)
    const int64_t h = x->shape[2] / bb->patch, w = x->shape[3] / bb->patch;
    USEG_TRY(useg_reshape(ctx, keys, 3, (const int64_t[]){h, w, keys->shape[2]}, &feats));

    // Steps 4-11.
    const int N = opt->cut.n_masks;
    if (N < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "maskcut: n_masks = %d, need >= 1", N);
    useg_maskcut_info *cuts;
    int *source;
    double *crf_iou;
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)N * sizeof *cuts, (void **)&cuts));
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)N * sizeof *source, (void **)&source));
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)N * sizeof *crf_iou, (void **)&crf_iou));
    USEG_TRY(useg_alloc(ctx, &ctx->step, (size_t)N * sizeof *out->info, (void **)&out->info));
    useg_tensor *patch_masks;
    USEG_TRY(useg_maskcut(ctx, feats, &opt->cut, &patch_masks, cuts, &out->cuts));

    // Steps 12-17.
    USEG_TRY(useg_maskcut_postprocess(ctx, work, patch_masks, img->shape[0], img->shape[1], opt->crf, &out->masks,
                                      &out->count, source, crf_iou));
    const int64_t grid = h * w, plane = img->shape[0] * img->shape[1];
    for (int k = 0; k < out->count; k++) {
        const int t = source[k];
        const uint8_t *pm = (const uint8_t *)patch_masks->data + (size_t)t * (size_t)grid;
        const uint8_t *m = (const uint8_t *)out->masks->data + (size_t)k * (size_t)plane;
        int64_t patch_area = 0, area = 0;
        for (int64_t i = 0; i < grid; i++) patch_area += pm[i];
        for (int64_t i = 0; i < plane; i++) area += m[i];
        out->info[k] = (useg_maskcut_mask_info){.score = 1.0, .cut = t, .eigenvalue = cuts[t].eigenvalue,
                                                .patch_area = patch_area, .crf_iou = crf_iou[k], .area = area};
    }
    return USEG_OK;
}
