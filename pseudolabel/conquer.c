// UnSAM's conquer stage around the merge (see conquer.h for the reference's
// rules and the hierarchy).
//
// Candidates are kept as bitsets over the crop (one bit per pixel, rows
// packed end to end): a 1000 x 1000 crop with 600 level masks takes 75 MB
// instead of the 600 MB of byte masks (the reference keeps full-image
// int64 canvases), and IoU and coverage become AND + popcount over words.
// Only the masks that survive NMS are expanded to bytes in the output.
// Each level mask is resized once, in ctx->scratch, rewound right after.
//
// Measured against tests/pseudolabel/merge_reference.py: the reference's
// back-projection (PIL bicubic + threshold), coverage filter and NMS in NumPy,
// on synthetic divide masks over photo crops: same masks, order and parents.
#include "conquer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

useg_conquer_options useg_conquer_default_options(void) {
    return (useg_conquer_options){.min_coverage = 0.9, .nms_iou = 0.9, .nms_step = 5};
}

static uint8_t at2(const useg_tensor *t, int64_t y, int64_t x) {
    return ((const uint8_t *)t->data)[y * t->strides[0] + x * t->strides[1]];
}

static useg_status check_u8(useg_ctx *ctx, const useg_tensor *t, int ndim, const char *who, const char *what) {
    char buf[96];
    if (t->device != USEG_DEVICE_CPU || t->ndim != ndim || t->dtype != USEG_U8)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: %s must be a CPU %s u8 tensor, got %s", who, what,
                         ndim == 2 ? "(H, W)" : "(n, H, W)", useg_shape_str(t, buf, sizeof buf));
    return USEG_OK;
}

useg_status useg_conquer_box(useg_ctx *ctx, const useg_tensor *divide_mask, useg_box *box, bool *usable) {
    USEG_TRY(check_u8(ctx, divide_mask, 2, "useg_conquer_box", "the divide mask"));
    int64_t H = divide_mask->shape[0], W = divide_mask->shape[1];
    int64_t y_min = H, y_max = -1, x_min = W, x_max = -1;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++)
            if (at2(divide_mask, y, x)) {
                if (y < y_min) y_min = y;
                y_max = y;
                if (x < x_min) x_min = x;
                if (x > x_max) x_max = x;
            }
    // The reference's maxima are inclusive but used as slice ends.
    *box = y_max < 0 ? (useg_box){0, 1, 0, 1} : (useg_box){y_min, y_max, x_min, x_max};
    *usable = box->y1 - box->y0 > 0 && box->x1 - box->x0 > 0;
    return USEG_OK;
}

static int64_t popcount_and(const uint64_t *a, const uint64_t *b, size_t words) {
    int64_t s = 0;
    for (size_t i = 0; i < words; i++) s += __builtin_popcountll(a[i] & b[i]);
    return s;
}

typedef struct by_area {
    int64_t area;
    int32_t index;
} by_area;

// Largest first; equal areas keep the input order (a stable sort).
static int cmp_by_area(const void *pa, const void *pb) {
    const by_area *a = pa, *b = pb;
    if (a->area != b->area) return a->area > b->area ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

// The reference's windowed NMS over n bitsets of `words` words. order (n)
// is a workspace; kept gets the surviving indices in area order.
static void nms_bits(const uint64_t *bits, size_t words, const int64_t *area, int n, double iou, int step,
                     by_area *order, int32_t *kept, int *n_kept) {
    for (int i = 0; i < n; i++) order[i] = (by_area){area[i], i};
    qsort(order, (size_t)n, sizeof *order, cmp_by_area);
    // order[i].index < 0 marks a dropped mask.
    for (int i = 0; i < n; i++) {
        if (order[i].index < 0) continue;
        const uint64_t *a = bits + (size_t)order[i].index * words;
        for (int j = i + 1; j < n && j < i + step; j++) {
            if (order[j].index < 0) continue;
            int64_t inter = popcount_and(a, bits + (size_t)order[j].index * words, words);
            int64_t uni = order[i].area + order[j].area - inter;
            if (uni > 0 && (double)inter / (double)uni > iou) order[j].index = -1;
        }
    }
    *n_kept = 0;
    for (int i = 0; i < n; i++)
        if (order[i].index >= 0) kept[(*n_kept)++] = order[i].index;
}

useg_status useg_mask_nms(useg_ctx *ctx, const useg_tensor *masks, double iou, int step, int32_t *kept,
                          int *n_kept) {
    USEG_TRY(check_u8(ctx, masks, 3, "useg_mask_nms", "masks"));
    if (step < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_mask_nms: step must be >= 1, got %d", step);
    if (masks->shape[0] > INT32_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE, "useg_mask_nms: %lld masks, at most %d", (long long)masks->shape[0],
                         INT32_MAX);
    int n = (int)masks->shape[0];
    int64_t H = masks->shape[1], W = masks->shape[2];
    size_t words = (size_t)(H * W + 63) / 64;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    uint64_t *bits;
    int64_t *area;
    by_area *order;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)n * words * sizeof *bits, (void **)&bits);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)n * sizeof *area, (void **)&area);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, (size_t)n * sizeof *order, (void **)&order);
    if (st == USEG_OK) {
        memset(bits, 0, (size_t)n * words * sizeof *bits);
        const uint8_t *d = masks->data;
        for (int i = 0; i < n; i++) {
            area[i] = 0;
            for (int64_t p = 0; p < H * W; p++)
                if (d[i * masks->strides[0] + (p / W) * masks->strides[1] + (p % W) * masks->strides[2]]) {
                    bits[(size_t)i * words + (size_t)p / 64] |= 1ull << (p % 64);
                    area[i]++;
                }
        }
        nms_bits(bits, words, area, n, iou, step, order, kept, n_kept);
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

// Resize level mask `src` (h, w) 0/255 to the crop, apply the reference's
// half-maximum threshold and pack it into `bits`; *area gets its pixels.
static useg_status back_project(useg_ctx *ctx, const useg_tensor *src, int64_t bh, int64_t bw,
                                useg_mask_resize_fn resize, void *user, uint64_t *bits, size_t words,
                                int64_t *area) {
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_tensor *r;
    useg_status st = resize(ctx, src, bh, bw, user, &ctx->scratch, &r);
    if (st == USEG_OK && (r->device != USEG_DEVICE_CPU || r->dtype != USEG_U8 || r->ndim != 2 ||
                          r->shape[0] != bh || r->shape[1] != bw)) {
        char buf[96];
        st = useg_fail(ctx, USEG_ERR_SHAPE, "useg_conquer: the mask resize returned %s, expected (%lld, %lld) u8",
                       useg_shape_str(r, buf, sizeof buf), (long long)bh, (long long)bw);
    }
    if (st == USEG_OK) {
        int vmax = 0;
        for (int64_t y = 0; y < bh; y++)
            for (int64_t x = 0; x < bw; x++)
                if (at2(r, y, x) > vmax) vmax = at2(r, y, x);
        memset(bits, 0, words * sizeof *bits);
        *area = 0;
        if (vmax >= 128)
            for (int64_t y = 0; y < bh; y++)
                for (int64_t x = 0; x < bw; x++)
                    if (2 * at2(r, y, x) > vmax) {
                        int64_t p = y * bw + x;
                        bits[p / 64] |= 1ull << (p % 64);
                        (*area)++;
                    }
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

// Parents by patch containment (conquer.h). rep (n) is a workspace.
static void link_parents(const useg_merge_result *merge, useg_conquer_result *out, int64_t *rep) {
    int64_t n_patches = merge->h * merge->w;
    for (int k = 0; k < out->n; k++) {
        const int32_t *labels = merge->levels[out->level[k] - 1].labels;
        rep[k] = 0;
        while (rep[k] < n_patches && labels[rep[k]] != out->cluster[k]) rep[k]++;
        USEG_ASSERT(rep[k] < n_patches, "conquer mask %d has no patch", k);
    }
    for (int k = 0; k < out->n; k++) {
        const useg_merge_level *Lk = &merge->levels[out->level[k] - 1];
        int32_t node = Lk->node[out->cluster[k]], best = -1, best_size = 0;
        for (int j = 0; j < out->n; j++) {
            if (out->level[j] <= out->level[k]) continue;
            const useg_merge_level *Lj = &merge->levels[out->level[j] - 1];
            int32_t c = out->cluster[j];
            if (Lj->labels[rep[k]] != c || Lj->node[c] == node) continue;
            if (best < 0 || Lj->size[c] < best_size || (Lj->size[c] == best_size && out->level[j] < out->level[best])) {
                best = j;
                best_size = Lj->size[c];
            }
        }
        out->parent[k] = best;
    }
}

// n masks of P pixels in arena a; never NULL pointers, even for n = 0.
static useg_status alloc_result(useg_ctx *ctx, useg_arena *a, int n, int64_t P, useg_conquer_result *out) {
    out->n = n;
    USEG_TRY(useg_alloc(ctx, a, (size_t)n * (size_t)P, (void **)&out->masks));
    USEG_TRY(useg_alloc(ctx, a, (size_t)n * sizeof *out->area, (void **)&out->area));
    USEG_TRY(useg_alloc(ctx, a, 3 * (size_t)n * sizeof *out->level, (void **)&out->level));
    out->cluster = out->level + n;
    out->parent = out->cluster + n;
    return USEG_OK;
}

static useg_status run_conquer(useg_ctx *ctx, const useg_tensor *divide_mask, const useg_merge_result *merge,
                               const useg_conquer_options *opt, useg_mask_resize_fn resize, void *user, useg_arena *a,
                               useg_conquer_result *out) {
    const useg_box b = out->box;
    int64_t bh = b.y1 - b.y0, bw = b.x1 - b.x0, P = bh * bw;
    size_t words = (size_t)(P + 63) / 64;
    int total = 0;
    for (int t = 0; t < merge->n_levels; t++) total += merge->levels[t].n_clusters;

    useg_arena *s = &ctx->scratch;
    uint64_t *bits, *crop; // (total, words), (words)
    int64_t *area;
    int32_t *level, *cluster;
    by_area *order;
    USEG_TRY(useg_alloc(ctx, s, ((size_t)total + 1) * words * sizeof *bits, (void **)&bits));
    crop = bits + (size_t)total * words;
    USEG_TRY(useg_alloc(ctx, s, (size_t)total * sizeof *area, (void **)&area));
    USEG_TRY(useg_alloc(ctx, s, 2 * (size_t)total * sizeof *level, (void **)&level));
    cluster = level + total;
    USEG_TRY(useg_alloc(ctx, s, (size_t)total * sizeof *order, (void **)&order));
    useg_tensor *src;
    USEG_TRY(useg_empty(ctx, s, USEG_U8, 2, (int64_t[]){merge->h, merge->w}, &src));

    memset(crop, 0, words * sizeof *crop);
    for (int64_t p = 0; p < P; p++)
        if (at2(divide_mask, b.y0 + p / bw, b.x0 + p % bw)) crop[p / 64] |= 1ull << (p % 64);

    int n_cand = 0;
    for (int t = 0; t < merge->n_levels; t++) {
        const useg_merge_level *L = &merge->levels[t];
        for (int32_t c = 0; c < L->n_clusters; c++) {
            uint8_t *sd = src->data;
            for (int64_t p = 0; p < merge->h * merge->w; p++) sd[p] = L->labels[p] == c ? 255 : 0;
            uint64_t *mb = bits + (size_t)n_cand * words;
            USEG_TRY(back_project(ctx, src, bh, bw, resize, user, mb, words, &area[n_cand]));
            double coverage = area[n_cand] ? (double)popcount_and(mb, crop, words) / (double)area[n_cand] : 0.0;
            if (!(coverage > opt->min_coverage)) continue;
            level[n_cand] = t + 1;
            cluster[n_cand++] = c;
        }
    }

    int32_t *kept;
    USEG_TRY(useg_alloc(ctx, s, ((size_t)n_cand + 1) * sizeof *kept, (void **)&kept));
    int n = 0;
    nms_bits(bits, words, area, n_cand, opt->nms_iou, opt->nms_step, order, kept, &n);

    USEG_TRY(alloc_result(ctx, a, n, P, out));
    for (int k = 0; k < n; k++) {
        int32_t i = kept[k];
        const uint64_t *mb = bits + (size_t)i * words;
        uint8_t *m = out->masks + (size_t)k * (size_t)P;
        for (int64_t p = 0; p < P; p++) m[p] = (uint8_t)((mb[p / 64] >> (p % 64)) & 1u);
        out->area[k] = area[i];
        out->level[k] = level[i];
        out->cluster[k] = cluster[i];
    }
    int64_t *rep;
    USEG_TRY(useg_alloc(ctx, s, ((size_t)n + 1) * sizeof *rep, (void **)&rep));
    link_parents(merge, out, rep);
    return USEG_OK;
}

useg_status useg_conquer(useg_ctx *ctx, const useg_tensor *divide_mask, const useg_merge_result *merge,
                         const useg_conquer_options *opt, useg_mask_resize_fn resize, void *resize_user,
                         useg_arena *a, useg_conquer_result *out) {
    if (!a) a = &ctx->step;
    USEG_ASSERT(a != &ctx->scratch, "useg_conquer: the output arena cannot be ctx->scratch (it is rewound)");
    USEG_ASSERT(merge && resize, "useg_conquer: merge result and resize are required");
    useg_conquer_options defaults = useg_conquer_default_options();
    if (!opt) opt = &defaults;
    if (!isfinite(opt->min_coverage) || !isfinite(opt->nms_iou) || opt->nms_step < 1)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "useg_conquer: coverage %g and IoU %g must be finite and the NMS step %d >= 1",
                         opt->min_coverage, opt->nms_iou, opt->nms_step);
    bool usable;
    *out = (useg_conquer_result){0};
    USEG_TRY(useg_conquer_box(ctx, divide_mask, &out->box, &usable));
    if (!usable) return alloc_result(ctx, a, 0, 0, out);
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    useg_status st = run_conquer(ctx, divide_mask, merge, opt, resize, resize_user, a, out);
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}
