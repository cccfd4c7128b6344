// See pq.h. Per image, pixel ids are mapped to dense segment indices (ground
// truth: 0 void, 1 an id not in the JSON, 2 + j segment j; prediction: 0 void,
// 1 + j segment j) and one pass over the pixels fills the (G + 2, P + 1)
// intersection table; every rule then reads that table.
#include "pq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "image_io.h"

typedef struct id_slot {
    uint32_t id, index;
} id_slot;

static int cmp_slot(const void *a, const void *b) {
    uint32_t x = ((const id_slot *)a)->id, y = ((const id_slot *)b)->id;
    return (x > y) - (x < y);
}

// Index of `id` in the sorted slots, or -1.
static int64_t find_slot(const id_slot *s, uint32_t n, uint32_t id) {
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && s[lo].id == id ? (int64_t)s[lo].index : -1;
}

static useg_status sorted_slots(useg_ctx *ctx, const useg_panoptic_image *im, id_slot **out) {
    *out = useg_heap_alloc(ctx, im->n_segments, sizeof **out, "segment ids");
    if (!*out) return ctx->status;
    for (uint32_t j = 0; j < im->n_segments; j++) (*out)[j] = (id_slot){im->segments[j].id, j};
    qsort(*out, im->n_segments, sizeof **out, cmp_slot);
    return USEG_OK;
}

static useg_status read_ids(useg_ctx *ctx, const char *dir, const char *name, uint32_t **ids, uint32_t *h,
                            uint32_t *w) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "path too long: %s/%s", dir, name);
    return useg_png_read_rgb_ids(ctx, path, ids, h, w);
}

static useg_status score_image(useg_ctx *ctx, const useg_panoptic_image *gi, const char *gt_dir,
                               const useg_panoptic_image *pi, const char *pred_dir, const useg_pq_result *r,
                               useg_pq_class *cls) {
    uint32_t *g = NULL, *p = NULL, gh, gw, ph, pw;
    id_slot *gs = NULL, *ps = NULL;
    uint64_t *table = NULL;
    int64_t *crowd_of_cat = NULL;
    uint8_t *matched_g = NULL, *matched_p = NULL;
    const uint32_t G = gi->n_segments, P = pi->n_segments, cols = P + 1;
    useg_status st = read_ids(ctx, gt_dir, gi->file_name, &g, &gh, &gw);
    if (st == USEG_OK) st = read_ids(ctx, pred_dir, pi->file_name, &p, &ph, &pw);
    if (st == USEG_OK && (gh != ph || gw != pw))
        st = useg_fail(ctx, USEG_ERR_SHAPE, "image %lld: prediction %s is %ux%u but the ground truth is %ux%u",
                       (long long)gi->image_id, pi->file_name, pw, ph, gw, gh);
    if (st == USEG_OK) st = sorted_slots(ctx, gi, &gs);
    if (st == USEG_OK) st = sorted_slots(ctx, pi, &ps);
    if (st != USEG_OK) goto done;
    table = useg_heap_zalloc(ctx, (size_t)(G + 2) * cols, sizeof *table, "intersection table");
    crowd_of_cat = useg_heap_alloc(ctx, r->n_classes, sizeof *crowd_of_cat, "crowd lookup");
    matched_g = useg_heap_zalloc(ctx, G + 1, 1, "match flags");
    matched_p = useg_heap_zalloc(ctx, P + 1, 1, "match flags");
    if (!table || !crowd_of_cat || !matched_g || !matched_p) {
        st = ctx->status;
        goto done;
    }
    // Pixels come in runs of one id, so remember the last lookup.
    uint32_t last_g = 0, last_p = 0;
    int64_t row = 0, col = 0;
    for (size_t i = 0; i < (size_t)gh * gw; i++) {
        if (i == 0 || g[i] != last_g) {
            last_g = g[i];
            int64_t j = g[i] ? find_slot(gs, G, g[i]) : -2;
            row = j == -2 ? 0 : j < 0 ? 1 : 2 + j;
        }
        if (i == 0 || p[i] != last_p) {
            last_p = p[i];
            int64_t j = p[i] ? find_slot(ps, P, p[i]) : -1;
            if (p[i] && j < 0) {
                st = useg_fail(ctx, USEG_ERR_FORMAT, "image %lld: segment id %u is in %s but not in the JSON",
                               (long long)gi->image_id, p[i], pi->file_name);
                goto done;
            }
            col = 1 + j;
        }
        table[row * cols + col]++;
    }
    // Predicted areas come from the PNG.
    double *parea = useg_heap_zalloc(ctx, P + 1, sizeof *parea, "areas");
    if (!parea) {
        st = ctx->status;
        goto done;
    }
    for (uint32_t q = 1; q <= P; q++) {
        for (uint32_t k = 0; k < G + 2; k++) parea[q] += (double)table[k * cols + q];
        if (parea[q] == 0) {
            free(parea);
            st = useg_fail(ctx, USEG_ERR_FORMAT, "image %lld: segment id %u is in the JSON but not in %s",
                           (long long)gi->image_id, pi->segments[q - 1].id, pi->file_name);
            goto done;
        }
    }
    // True positives, in ascending (ground-truth id, predicted id) order as panopticapi visits them.
    for (uint32_t a = 0; a < G; a++) {
        uint32_t ga = gs[a].index;
        const useg_panoptic_segment *gseg = &gi->segments[ga];
        if (gseg->iscrowd) continue;
        for (uint32_t b = 0; b < P; b++) {
            uint32_t pb = ps[b].index;
            const useg_panoptic_segment *pseg = &pi->segments[pb];
            uint64_t inter = table[(2 + ga) * cols + 1 + pb];
            if (!inter || gseg->category_id != pseg->category_id) continue;
            double uni = parea[1 + pb] + gseg->area - (double)inter - (double)table[0 * cols + 1 + pb];
            double iou = (double)inter / uni;
            if (iou > 0.5) {
                useg_pq_class *c = &cls[gseg->category];
                c->tp++;
                c->iou_sum += iou;
                matched_g[ga] = matched_p[pb] = 1;
            }
        }
    }
    for (size_t k = 0; k < r->n_classes; k++) crowd_of_cat[k] = -1;
    for (uint32_t a = 0; a < G; a++) {
        const useg_panoptic_segment *gseg = &gi->segments[a];
        if (matched_g[a]) continue;
        if (gseg->iscrowd) crowd_of_cat[gseg->category] = a;
        else cls[gseg->category].fn++;
    }
    for (uint32_t b = 0; b < P; b++) {
        const useg_panoptic_segment *pseg = &pi->segments[b];
        if (matched_p[b]) continue;
        double inter = (double)table[0 * cols + 1 + b];
        int64_t crowd = crowd_of_cat[pseg->category];
        if (crowd >= 0) inter += (double)table[(2 + crowd) * cols + 1 + b];
        if (inter / parea[1 + b] > 0.5) continue;
        cls[pseg->category].fp++;
    }
    free(parea);
done:
    free(g);
    free(p);
    free(gs);
    free(ps);
    free(table);
    free(crowd_of_cat);
    free(matched_g);
    free(matched_p);
    return st;
}

static void average(useg_pq_result *r, int which, useg_pq_group *out) {
    double pq = 0, sq = 0, rq = 0;
    int64_t n = 0;
    for (size_t k = 0; k < r->n_classes; k++) {
        useg_pq_class *c = &r->classes[k];
        if ((which == 1 && !c->isthing) || (which == 2 && c->isthing)) continue;
        if (c->tp + c->fp + c->fn == 0) continue;
        n++;
        pq += c->pq;
        sq += c->sq;
        rq += c->rq;
    }
    *out = n ? (useg_pq_group){pq / n, sq / n, rq / n, n} : (useg_pq_group){NAN, NAN, NAN, 0};
}

void useg_pq_result_free(useg_pq_result *r) {
    free(r->classes);
    *r = (useg_pq_result){0};
}

static int64_t find_prediction(const useg_panoptic *pred, int64_t image_id) {
    for (size_t i = 0; i < pred->n_images; i++)
        if (pred->images[i].image_id == image_id) return (int64_t)i;
    return -1;
}

useg_status useg_pq_evaluate(useg_ctx *ctx, const useg_panoptic *gt, const char *gt_dir, const useg_panoptic *pred,
                             const char *pred_dir, useg_pq_result *out) {
    if (pred->meta.cats != gt->meta.cats)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "predictions were not loaded against the ground truth's categories");
    *out = (useg_pq_result){.n_classes = gt->meta.n_cats, .n_images = gt->n_images};
    out->classes = useg_heap_zalloc(ctx, out->n_classes, sizeof *out->classes, "PQ classes");
    if (!out->classes) return ctx->status;
    for (size_t k = 0; k < out->n_classes; k++) {
        out->classes[k].category_id = gt->meta.cats[k].id;
        out->classes[k].isthing = gt->meta.cats[k].isthing;
    }
    for (size_t i = 0; i < gt->n_images; i++) {
        int64_t j = find_prediction(pred, gt->images[i].image_id);
        useg_status st = j < 0 ? useg_fail(ctx, USEG_ERR_FORMAT, "no prediction for image %lld",
                                           (long long)gt->images[i].image_id)
                               : score_image(ctx, &gt->images[i], gt_dir, &pred->images[j], pred_dir, out,
                                             out->classes);
        if (st != USEG_OK) {
            useg_pq_result_free(out);
            return st;
        }
    }
    for (size_t k = 0; k < out->n_classes; k++) {
        useg_pq_class *c = &out->classes[k];
        double denom = c->tp + 0.5 * c->fp + 0.5 * c->fn;
        if (c->tp + c->fp + c->fn == 0) continue;
        c->pq = c->iou_sum / denom;
        c->sq = c->tp ? c->iou_sum / c->tp : 0;
        c->rq = c->tp / denom;
    }
    average(out, 0, &out->all);
    average(out, 1, &out->things);
    average(out, 2, &out->stuff);
    return USEG_OK;
}
