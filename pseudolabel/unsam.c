// UnSAM's divide-and-conquer on one image (see unsam.h).
//
// Stages run one after the other over all regions, so each has a wall time
// of its own: the crops' features in batches of opt.batch (one forward per
// batch), then every region's merge in parallel, then every region's
// conquer in parallel, then the refinement windows in parallel. The
// parallel loops give each thread its own context (context.h: a context is
// not shared); their outputs stay in those contexts' arenas until the
// image's results are assembled in ctx->step, then the contexts are freed.
// The ops inside a parallel loop run single-threaded (OpenMP's nesting is
// off), which is what pays here: one 32 x 32 merge is too small to split,
// and a refinement window is a small CRF.
//
// Refinement working size (max_side 256 by default), measured with
// bench_unsam --refine-sides on 3 BSDS500 photos (53 candidates from the
// weights-free backbone; 2 threads on a loaded 2-core machine) against the
// CRF at each window's full size: s/image, masks kept, mean IoU of the masks
// kept by both with the uncapped ones
//   cap  96: 0.81 s, 16 kept, 0.934     cap 256: 2.95 s, 25 kept, 0.977
//   cap 128: 1.20 s, 17 kept, 0.932     cap 384: 5.15 s, 29 kept, 0.979
//   cap 192: 1.96 s, 23 kept, 0.921     none:    5.98 s, 31 kept
// The preset's sigmas are in pixels of the working size, so a smaller cap
// makes the CRF relatively stronger and drops more small parts; 256 keeps
// 4/5 of the uncapped masks, nearly the same shapes, at half the cost.
#include "unsam.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "crf.h"
#include "handcrafted.h"
#include "resize.h"

useg_unsam_options useg_unsam_default_options(void) {
    return (useg_unsam_options){
        .divide = useg_maskcut_image_default_options(),
        .crop_size = 256,
        .crop_bgr = true,
        .whole_image = false,
        .batch = 4,
        .merge = useg_merge_default_options(),
        .conquer = useg_conquer_default_options(),
        .refine = {.mode = USEG_UNSAM_REFINE_CRF, .max_side = 256, .min_iou = 0.5, .max_fraction = 0.9},
    };
}

static bool is_image(const useg_tensor *t) {
    return t->device == USEG_DEVICE_CPU && t->dtype == USEG_U8 && t->ndim == 3 && t->shape[2] == 3 &&
           t->shape[0] > 0 && t->shape[1] > 0;
}

useg_status useg_unsam_crop(useg_ctx *ctx, const useg_tensor *img, useg_box box, int64_t size, bool bgr,
                            useg_arena *a, useg_tensor **out) {
    char buf[96];
    if (!is_image(img))
        return useg_fail(ctx, USEG_ERR_SHAPE, "unsam_crop: image must be a CPU (H, W, 3) u8 tensor, got %s",
                         useg_shape_str(img, buf, sizeof buf));
    // useg_image_crop checks the box against the image.
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_tensor *crop;
    useg_status st = useg_image_crop(ctx, img, box.y0, box.x0, box.y1 - box.y0, box.x1 - box.x0, &ctx->scratch, &crop);
    if (st == USEG_OK && bgr) {
        uint8_t *p = crop->data;
        for (int64_t i = 0; i < useg_numel(crop); i += 3) {
            uint8_t r = p[i];
            p[i] = p[i + 2];
            p[i + 2] = r;
        }
    }
    if (st == USEG_OK) st = useg_image_resize(ctx, crop, size, size, USEG_RESAMPLE_BICUBIC, a, out);
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

void useg_hierarchy_relink(int n, const int32_t *parent, const bool *kept, int32_t *out_parent) {
    for (int k = 0; k < n; k++) {
        int32_t p = parent[k];
        for (int steps = 0; p >= 0 && !kept[p]; steps++) {
            USEG_ASSERT(steps < n && p < n, "hierarchy_relink: parent chain of %d is cyclic or out of range", k);
            p = parent[p];
        }
        USEG_ASSERT(p < n, "hierarchy_relink: parent %d of %d is out of range", p, k);
        out_parent[k] = p;
    }
}

// --- Per-thread contexts for the parallel loops. ------------------------------

typedef struct workers {
    int n;
    useg_ctx *ctx;            // (n)
    useg_first_error first;   // the lowest failing item's error
} workers;

static useg_status workers_init(useg_ctx *ctx, workers *w) {
    *w = (workers){.n = omp_get_max_threads(), .first = USEG_FIRST_ERROR_INIT};
    w->ctx = calloc((size_t)w->n, sizeof *w->ctx);
    if (!w->ctx) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "unsam: out of memory (%d thread contexts)", w->n);
    for (int t = 0; t < w->n; t++) {
        useg_ctx_init(&w->ctx[t], &(useg_ctx_options){0});
        w->ctx[t].grad_enabled = false;
    }
    return USEG_OK;
}

static void workers_free(workers *w) {
    for (int t = 0; t < w->n && w->ctx; t++) useg_ctx_free(&w->ctx[t]);
    free(w->ctx);
    w->ctx = NULL;
}


// --- Refinement. ----------------------------------------------------------------

typedef struct window {
    int64_t y0, y1, x0, x1; // rows y0..y1-1, columns x0..x1-1
    int32_t mask;           // the mask it belongs to
} window;

static int cmp_window(const void *pa, const void *pb) {
    const window *a = pa, *b = pb;
    const int64_t ka[5] = {a->y0, a->y1, a->x0, a->x1, a->mask}, kb[5] = {b->y0, b->y1, b->x0, b->x1, b->mask};
    for (int i = 0; i < 5; i++)
        if (ka[i] != kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
}

static bool same_window(const window *a, const window *b) {
    return a->y0 == b->y0 && a->y1 == b->y1 && a->x0 == b->x0 && a->x1 == b->x1;
}

// The reference's window around plane m (H, W) 0/1; false when empty.
static bool mask_window(const uint8_t *m, int64_t H, int64_t W, window *win) {
    int64_t y_min = H, y_max = -1, x_min = W, x_max = -1;
    for (int64_t y = 0; y < H; y++) {
        const uint8_t *row = m + y * W;
        const uint8_t *first = memchr(row, 1, (size_t)W);
        if (!first) continue;
        if (y_min == H) y_min = y;
        y_max = y;
        int64_t x = first - row, last = W - 1;
        while (!row[last]) last--;
        if (x < x_min) x_min = x;
        if (last > x_max) x_max = last;
    }
    if (y_max < 0) return false;
    const int64_t cy = (y_min + y_max) / 2, cx = (x_min + x_max) / 2;
    const int64_t L = y_max - y_min + 1 > x_max - x_min + 1 ? y_max - y_min + 1 : x_max - x_min + 1;
    win->y0 = cy - L > 0 ? cy - L : 0;
    win->y1 = cy + L + 1 < H ? cy + L + 1 : H;
    win->x0 = cx - L > 0 ? cx - L : 0;
    win->x1 = cx + L + 1 < W ? cx + L + 1 : W;
    return true;
}

// One window's masks win[0..G-1] (G >= 1), in context c: working-size CRF,
// holes filled, back to the window, pasted into out planes; kept and ious.
static useg_status refine_group(useg_ctx *c, const useg_tensor *img, const uint8_t *masks, const window *win, int G,
                                const useg_unsam_refine_options *opt, uint8_t *out, bool *kept, double *ious) {
    const int64_t H = img->shape[0], W = img->shape[1], wh = win->y1 - win->y0, ww = win->x1 - win->x0;
    const int64_t side = wh > ww ? wh : ww;
    int64_t sh = wh, sw = ww;
    if (side > opt->max_side) {
        sh = (int64_t)llround((double)wh * (double)opt->max_side / (double)side);
        sw = (int64_t)llround((double)ww * (double)opt->max_side / (double)side);
        sh = sh < 1 ? 1 : sh;
        sw = sw < 1 ? 1 : sw;
    }
    useg_tensor *wimg, *unary, *labels;
    USEG_TRY(useg_image_crop(c, img, win->y0, win->x0, wh, ww, NULL, &wimg));
    if (sh != wh || sw != ww) USEG_TRY(useg_image_resize(c, wimg, sh, sw, USEG_RESAMPLE_BICUBIC, NULL, &wimg));
    USEG_TRY(useg_empty(c, NULL, USEG_F32, 4, (const int64_t[]){G, 2, sh, sw}, &unary));
    // Masks that vanish at the working size are not refined (not kept).
    int *slot; // slot[g]: the mask's problem in the batch, -1 if none
    USEG_TRY(useg_alloc(c, &c->step, (size_t)G * sizeof *slot, (void **)&slot));
    int n = 0;
    for (int g = 0; g < G; g++) {
        useg_tensor *m, *small, *u;
        USEG_TRY(useg_empty(c, NULL, USEG_U8, 2, (const int64_t[]){wh, ww}, &m));
        const uint8_t *src = masks + (size_t)win[g].mask * (size_t)(H * W);
        for (int64_t y = 0; y < wh; y++) memcpy((uint8_t *)m->data + y * ww, src + (win->y0 + y) * W + win->x0, (size_t)ww);
        small = m;
        if (sh != wh || sw != ww) USEG_TRY(useg_maskcut_resize_mask(c, m, sh, sw, &small));
        slot[g] = memchr(small->data, 1, (size_t)(sh * sw)) ? n : -1;
        if (slot[g] < 0) continue;
        USEG_TRY(useg_mask_unary(c, small, &u));
        memcpy((float *)unary->data + (size_t)n * (size_t)(2 * sh * sw), u->data, (size_t)(2 * sh * sw) * sizeof(float));
        n++;
    }
    if (n > 0) {
        unary->shape[0] = n;
        USEG_TRY(useg_dense_crf_batch(c, wimg, unary, &useg_crf_maskcut, &labels, NULL));
    }
    const double image_area = (double)(H * W);
    for (int g = 0; g < G; g++) {
        const int32_t k = win[g].mask;
        kept[k] = false;
        ious[k] = 0.0;
        if (slot[g] < 0) continue;
        useg_tensor *lab, *filled, *back;
        USEG_TRY(useg_empty(c, NULL, USEG_U8, 2, (const int64_t[]){sh, sw}, &lab));
        memcpy(lab->data, (const uint8_t *)labels->data + (size_t)slot[g] * (size_t)(sh * sw), (size_t)(sh * sw));
        USEG_TRY(useg_fill_holes(c, lab, &filled));
        back = filled;
        if (sh != wh || sw != ww) USEG_TRY(useg_maskcut_resize_mask(c, filled, wh, ww, &back));
        const uint8_t *src = masks + (size_t)k * (size_t)(H * W), *b = back->data;
        uint8_t *dst = out + (size_t)k * (size_t)(H * W);
        int64_t inter = 0, before = 0, after = 0;
        for (int64_t y = 0; y < wh; y++)
            for (int64_t x = 0; x < ww; x++) {
                const int64_t p = (win->y0 + y) * W + win->x0 + x;
                const uint8_t m0 = src[p] != 0, m1 = b[y * ww + x];
                dst[p] = m1;
                inter += m0 & m1;
                before += m0;
                after += m1;
            }
        const int64_t uni = before + after - inter;
        ious[k] = uni > 0 ? (double)inter / (double)uni : 0.0;
        kept[k] = after > 0 && ious[k] >= opt->min_iou && !((double)after > opt->max_fraction * image_area);
        if (!kept[k])
            for (int64_t y = 0; y < wh; y++) memset(dst + (win->y0 + y) * W + win->x0, 0, (size_t)ww);
    }
    return USEG_OK;
}

enum { REFINE_GROUP_MAX = 64 }; // masks per batched CRF: bounds its memory (G x 2 x 256^2 floats of Q)

useg_status useg_unsam_refine(useg_ctx *ctx, const useg_tensor *img, const useg_tensor *masks,
                              const useg_unsam_refine_options *opt, useg_tensor **out, bool *kept, double *ious) {
    char b1[96], b2[96];
    if (!is_image(img) || masks->device != USEG_DEVICE_CPU || masks->dtype != USEG_U8 || masks->ndim != 3 ||
        masks->shape[1] != img->shape[0] || masks->shape[2] != img->shape[1])
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "unsam_refine: need an image (H, W, 3) u8 and masks (K, H, W) u8 on the CPU, got %s and %s",
                         useg_shape_str(img, b1, sizeof b1), useg_shape_str(masks, b2, sizeof b2));
    if (opt->max_side < 8 || !(opt->min_iou >= 0 && opt->min_iou <= 1) ||
        !(opt->max_fraction >= 0 && opt->max_fraction <= 1) ||
        (opt->mode != USEG_UNSAM_REFINE_NONE && opt->mode != USEG_UNSAM_REFINE_CRF))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "unsam_refine: max_side %lld (need >= 8), min_iou %g and max_fraction %g (need 0..1), mode %d",
                         (long long)opt->max_side, opt->min_iou, opt->max_fraction, (int)opt->mode);
    if (masks->shape[0] > INT32_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE, "unsam_refine: %lld masks, at most %d", (long long)masks->shape[0], INT32_MAX);
    const int K = (int)masks->shape[0];
    const int64_t H = img->shape[0], W = img->shape[1], plane = H * W;
    useg_tensor *m = (useg_tensor *)masks, *image = (useg_tensor *)img, *res;
    USEG_TRY(useg_contiguous(ctx, m, &m));
    USEG_TRY(useg_contiguous(ctx, image, &image));
    USEG_TRY(useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){K, H, W}, &res));
    *out = res;
    const uint8_t *src = m->data;
    uint8_t *dst = res->data;
    if (opt->mode == USEG_UNSAM_REFINE_NONE) {
        for (int k = 0; k < K; k++) {
            int64_t area = 0;
            for (int64_t p = 0; p < plane; p++) area += (dst[k * plane + p] = src[k * plane + p] != 0);
            kept[k] = area > 0;
            ious[k] = 1.0;
        }
        return USEG_OK;
    }

    // mask_window and refine_group read 0/1 planes: masks may hold any nonzero.
    const uint8_t *planes = src;
    bool binary = true;
    for (int64_t i = 0; i < K * plane && binary; i++) binary = src[i] <= 1;
    if (!binary) {
        useg_tensor *b;
        USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 3, (const int64_t[]){K, H, W}, &b));
        uint8_t *bin = b->data;
        for (int64_t i = 0; i < K * plane; i++) bin[i] = src[i] != 0;
        planes = bin;
    }

    // Windows, sorted so masks sharing one are neighbours; groups of one window.
    window *win;
    int *group_start, n_groups = 0; // (n_groups + 1)
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)K + 1) * sizeof *win, (void **)&win));
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)K + 1) * sizeof *group_start, (void **)&group_start));
    int n = 0;
    for (int k = 0; k < K; k++) {
        kept[k] = false;
        ious[k] = 0.0;
        if (mask_window(planes + (size_t)k * (size_t)plane, H, W, &win[n])) win[n++].mask = k;
    }
    qsort(win, (size_t)n, sizeof *win, cmp_window);
    for (int i = 0; i < n; i++)
        if (i == 0 || !same_window(&win[i], &win[i - 1]) || i - group_start[n_groups - 1] == REFINE_GROUP_MAX)
            group_start[n_groups++] = i;
    group_start[n_groups] = n;

    workers w;
    USEG_TRY(workers_init(ctx, &w));
#pragma omp parallel for schedule(dynamic, 1)
    for (int g = 0; g < n_groups; g++) {
        useg_ctx *c = &w.ctx[omp_get_thread_num()];
        if (refine_group(c, image, planes, &win[group_start[g]], group_start[g + 1] - group_start[g], opt, dst, kept,
                         ious) != USEG_OK)
            useg_first_error_keep(&w.first, g, c);
        useg_step_end(c);
    }
    useg_status st = useg_first_error_report(ctx, &w.first);
    workers_free(&w);
    return st;
}

// --- The pipeline. ------------------------------------------------------------------

static useg_status check_options(useg_ctx *ctx, const useg_backbone *bb, const useg_unsam_options *opt) {
    if (opt->crop_size < 2 * bb->patch || opt->crop_size % bb->patch != 0 || opt->crop_size > 4096)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "unsam: crop_size %lld must be a multiple of the patch %d, at least two patches, at most 4096",
                         (long long)opt->crop_size, bb->patch);
    if (opt->batch < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "unsam: batch %d, need >= 1", opt->batch);
    return USEG_OK;
}

static useg_status mask_resize(useg_ctx *ctx, const useg_tensor *mask, int64_t out_h, int64_t out_w, void *user,
                               useg_arena *a, useg_tensor **out) {
    (void)user;
    return useg_image_resize(ctx, mask, out_h, out_w, USEG_RESAMPLE_BICUBIC, a, out);
}

// Keys of every usable region's crop: keys (R, g, g, C) f32 in ctx->step,
// rows of unusable regions left unset. Temporaries of each batch are given
// back to ctx->step.
static useg_status crop_features(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img, const useg_box *box,
                                 const bool *usable, int R, const useg_unsam_options *opt, useg_tensor **keys) {
    const int64_t S = opt->crop_size, g = S / bb->patch;
    const int64_t C = bb->kind == USEG_BACKBONE_VIT ? bb->vit.cfg.dim : USEG_HANDCRAFTED_DIM, per = g * g * C;
    USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 4, (const int64_t[]){R, g, g, C}, keys));
    int *todo, n = 0;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *todo, (void **)&todo));
    for (int r = 0; r < R; r++)
        if (usable[r]) todo[n++] = r;
    for (int i = 0; i < n; i += opt->batch) {
        const int B = n - i < opt->batch ? n - i : opt->batch;
        useg_arena_mark mark = useg_arena_get_mark(&ctx->step);
        useg_tensor *x, *crop, *norm, *k;
        USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 4, (const int64_t[]){B, 3, S, S}, &x));
        for (int b = 0; b < B; b++) {
            USEG_TRY(useg_unsam_crop(ctx, img, box[todo[i + b]], S, opt->crop_bgr, NULL, &crop));
            USEG_TRY(useg_image_normalize(ctx, crop, useg_imagenet_mean, useg_imagenet_std, NULL, &norm));
            memcpy((float *)x->data + (size_t)b * (size_t)(3 * S * S), norm->data, (size_t)(3 * S * S) * sizeof(float));
        }
        USEG_TRY(useg_backbone_forward(ctx, bb, x, USEG_TAP_KEYS, &k)); // (B, g*g, C)
        USEG_TRY(useg_contiguous(ctx, k, &k));
        USEG_ASSERT(k->ndim == 3 && k->shape[1] == g * g && k->shape[2] == C, "unsam: unexpected keys shape");
        for (int b = 0; b < B; b++)
            memcpy((float *)(*keys)->data + (size_t)todo[i + b] * (size_t)per,
                   (const float *)k->data + (size_t)b * (size_t)per, (size_t)per * sizeof(float));
        useg_arena_rewind(&ctx->step, mark);
    }
    return USEG_OK;
}

// Merge, then conquer, every usable region in parallel; results stay in the
// workers' arenas (w must outlive their use).
static useg_status conquer_regions(useg_ctx *ctx, workers *w, const useg_tensor *keys, useg_tensor *const *region,
                                   const bool *usable, int R, const useg_unsam_options *opt, useg_conquer_result *cq,
                                   double *seconds) {
    const int64_t g = keys->shape[1], C = keys->shape[3];
    useg_merge_result *mr;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *mr, (void **)&mr));
    double t0 = omp_get_wtime();
#pragma omp parallel for schedule(dynamic, 1)
    for (int r = 0; r < R; r++) {
        if (!usable[r]) continue;
        useg_ctx *c = &w->ctx[omp_get_thread_num()];
        useg_tensor *f;
        if (useg_wrap(c, USEG_F32, 3, (const int64_t[]){g, g, C}, (float *)keys->data + (size_t)r * (size_t)(g * g * C),
                      &f) != USEG_OK ||
            useg_merge(c, f, &opt->merge, &c->params, &mr[r]) != USEG_OK)
            useg_first_error_keep(&w->first, r, c);
    }
    double t1 = omp_get_wtime();
    seconds[USEG_UNSAM_MERGE] = t1 - t0;
    USEG_TRY(useg_first_error_report(ctx, &w->first));
#pragma omp parallel for schedule(dynamic, 1)
    for (int r = 0; r < R; r++) {
        cq[r] = (useg_conquer_result){0};
        if (!usable[r]) continue;
        useg_ctx *c = &w->ctx[omp_get_thread_num()];
        if (useg_conquer(c, region[r], &mr[r], &opt->conquer, mask_resize, NULL, &c->params, &cq[r]) != USEG_OK)
            useg_first_error_keep(&w->first, r, c);
    }
    seconds[USEG_UNSAM_CONQUER] = omp_get_wtime() - t1;
    return useg_first_error_report(ctx, &w->first);
}

useg_status useg_unsam_image(useg_ctx *ctx, const useg_backbone *bb, const useg_tensor *img,
                             const useg_unsam_options *opt, useg_unsam_result *out) {
    char buf[96];
    if (img->device != USEG_DEVICE_CPU)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "unsam: not supported on this device (CPU only)");
    if (!is_image(img))
        return useg_fail(ctx, USEG_ERR_SHAPE, "unsam: image must be (H, W, 3) u8, got %s",
                         useg_shape_str(img, buf, sizeof buf));
    USEG_TRY(check_options(ctx, bb, opt));
    *out = (useg_unsam_result){0};
    const int64_t H = img->shape[0], W = img->shape[1], plane = H * W;

    double t = omp_get_wtime();
    useg_maskcut_result mc;
    USEG_TRY(useg_maskcut_image(ctx, bb, img, &opt->divide, &mc));
    out->n_divide = mc.count;
    const int R = mc.count + (opt->whole_image ? 1 : 0);
    out->n_regions = R;
    out->seconds[USEG_UNSAM_DIVIDE] = omp_get_wtime() - t;

    // Regions: views of the divide masks, and the all-ones whole image.
    useg_tensor **region;
    useg_box *box;
    bool *usable;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *region, (void **)&region));
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *box, (void **)&box));
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *usable, (void **)&usable));
    for (int r = 0; r < mc.count; r++)
        USEG_TRY(useg_wrap(ctx, USEG_U8, 2, (const int64_t[]){H, W}, (uint8_t *)mc.masks->data + (size_t)r * (size_t)plane,
                           &region[r]));
    if (opt->whole_image) USEG_TRY(useg_full(ctx, NULL, USEG_U8, 2, (const int64_t[]){H, W}, 1.0, &region[R - 1]));
    for (int r = 0; r < R; r++) USEG_TRY(useg_conquer_box(ctx, region[r], &box[r], &usable[r]));

    t = omp_get_wtime();
    useg_tensor *keys;
    USEG_TRY(crop_features(ctx, bb, img, box, usable, R, opt, &keys));
    out->seconds[USEG_UNSAM_FEATURES] = omp_get_wtime() - t;

    // Merge and conquer in the workers (their params arenas hold the results
    // until they are copied out below).
    useg_conquer_result *cq;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)R + 1) * sizeof *cq, (void **)&cq));
    workers w;
    USEG_TRY(workers_init(ctx, &w));
    useg_status st = conquer_regions(ctx, &w, keys, region, usable, R, opt, cq, out->seconds);

    // Candidates: the divide masks, then each region's conquer masks.
    int n = mc.count;
    for (int r = 0; r < R && st == USEG_OK; r++) n += cq[r].n;
    useg_tensor *cand = NULL;
    int32_t *level = NULL, *parent = NULL;
    double *score = NULL;
    if (st == USEG_OK) st = useg_zeros(ctx, NULL, USEG_U8, 3, (const int64_t[]){n, H, W}, &cand);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->step, 2 * ((size_t)n + 1) * sizeof *level, (void **)&level);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->step, ((size_t)n + 1) * sizeof *score, (void **)&score);
    if (st == USEG_OK) {
        parent = level + n + 1;
        uint8_t *cm = cand->data;
        memcpy(cm, mc.masks->data, (size_t)mc.count * (size_t)plane);
        for (int k = 0; k < mc.count; k++) level[k] = 0, parent[k] = -1, score[k] = 1.0;
        const double T = opt->merge.n_thresholds;
        int k = mc.count;
        for (int r = 0; r < R; r++) {
            const useg_conquer_result *q = &cq[r];
            const int64_t bh = q->box.y1 - q->box.y0, bw = q->box.x1 - q->box.x0;
            for (int j = 0; j < q->n; j++, k++) {
                for (int64_t y = 0; y < bh; y++)
                    memcpy(cm + (size_t)k * (size_t)plane + (size_t)((q->box.y0 + y) * W + q->box.x0),
                           q->masks + (size_t)j * (size_t)(bh * bw) + (size_t)(y * bw), (size_t)bw);
                level[k] = q->level[j];
                parent[k] = q->parent[j] >= 0 ? k - j + q->parent[j] : (r < mc.count ? r : -1);
                score[k] = q->level[j] / (T + 1);
            }
        }
    }
    workers_free(&w);
    USEG_TRY(st);
    out->n_candidates = n;

    t = omp_get_wtime();
    useg_tensor *refined;
    bool *kept;
    double *ious;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)n + 1) * sizeof *kept, (void **)&kept));
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)n + 1) * sizeof *ious, (void **)&ious));
    USEG_TRY(useg_unsam_refine(ctx, img, cand, &opt->refine, &refined, kept, ious));
    out->seconds[USEG_UNSAM_REFINE] = omp_get_wtime() - t;

    // Drop, re-link, renumber; kept planes move down in place.
    int32_t *relinked, *index;
    USEG_TRY(useg_alloc(ctx, &ctx->step, 2 * ((size_t)n + 1) * sizeof *relinked, (void **)&relinked));
    index = relinked + n + 1;
    useg_hierarchy_relink(n, parent, kept, relinked);
    int K = 0;
    for (int k = 0; k < n; k++) index[k] = kept[k] ? K++ : -1;
    out->count = K;
    USEG_TRY(useg_alloc(ctx, &ctx->step, ((size_t)K + 1) * (2 * sizeof(int32_t) + 2 * sizeof(double) + sizeof(int64_t)),
                        (void **)&out->score));
    out->refine_iou = out->score + K + 1;
    out->area = (int64_t *)(out->refine_iou + K + 1);
    out->level = (int32_t *)(out->area + K + 1);
    out->parent = out->level + K + 1;
    uint8_t *rm = refined->data;
    for (int k = 0; k < n; k++) {
        const int i = index[k];
        if (i < 0) continue;
        if (i != k) memcpy(rm + (size_t)i * (size_t)plane, rm + (size_t)k * (size_t)plane, (size_t)plane);
        int64_t area = 0;
        for (int64_t p = 0; p < plane; p++) area += rm[(size_t)i * (size_t)plane + (size_t)p];
        out->level[i] = level[k];
        out->parent[i] = relinked[k] >= 0 ? index[relinked[k]] : -1;
        out->score[i] = score[k];
        out->refine_iou[i] = ious[k];
        out->area[i] = area;
    }
    refined->shape[0] = K; // the first K planes, contiguous
    out->masks = refined;
    return USEG_OK;
}
