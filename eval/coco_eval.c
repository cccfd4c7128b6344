// COCO AP/AR: see coco_eval.h for the semantics. The work is split as in
// pycocotools but laid out for speed:
//   1. group ground truth and detections into "slots" (category, image) with
//      one sort each, in the order pycocotools builds its per-image lists;
//   2. per slot, in parallel: the IoU matrix (masks: a box test first, then
//      a merge of the two run lists) and the greedy matching for every area
//      range and IoU threshold, kept as two flag bits per (detection, area,
//      threshold);
//   3. per category, in parallel: one sort of its detections by score (ties
//      by image, then by rank in the image, as NumPy's stable argsort over
//      the concatenation gives), then precision/recall for every area range
//      and maxDets from that single order;
//   4. the summary means over defined entries with NumPy's pairwise sum.
#include "coco_eval.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

enum { N_IOU = 10, N_REC = 101, N_AREA = 4 };
enum { FLAG_MATCHED = 1, FLAG_IGNORED = 2 };

static const double area_lo[N_AREA] = {0, 0, 32 * 32, 96 * 96};
static const double area_hi[N_AREA] = {1e10, 32 * 32, 96 * 96, 1e10};
static const char *const area_name[N_AREA] = {"all", "small", "medium", "large"};

// np.linspace(start, stop, n): i * ((stop - start) / (n - 1)) + start, with the
// last value set to stop. Equality tests on these values (AP50, AP75) then
// behave as in pycocotools.
static void linspace(double start, double stop, int n, double *out) {
    double step = (stop - start) / (n - 1);
    for (int i = 0; i < n; i++) out[i] = i * step + start;
    out[n - 1] = stop;
}

useg_coco_eval_params useg_coco_eval_defaults(void) {
    return (useg_coco_eval_params){
        .iou_type = USEG_COCO_SEGM, .class_agnostic = false, .n_max_dets = 4, .max_dets = {1, 10, 100, 1000}};
}

// Sort key of an annotation: its slot, then (detections) score descending,
// then the category rank (class-agnostic pooling order), then file order.
typedef struct sort_key {
    uint64_t slot;
    double neg_score;
    uint32_t cat_rank;
    uint32_t index;
} sort_key;

static int cmp_key(const void *pa, const void *pb) {
    const sort_key *a = pa, *b = pb;
    if (a->slot != b->slot) return a->slot < b->slot ? -1 : 1;
    if (a->neg_score != b->neg_score) return a->neg_score < b->neg_score ? -1 : 1;
    if (a->cat_rank != b->cat_rank) return a->cat_rank < b->cat_rank ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

typedef struct eval_state {
    const useg_coco *gt, *dt;
    useg_coco_eval_params p;
    double iou_thr[N_IOU];
    double rec_thr[N_REC];
    size_t n_img, n_cat_slots, n_slots;
    uint32_t *img_rank, *cat_rank;       // rank of image / category index in id order
    uint32_t *gt_order, *dt_order;       // annotation indices sorted by sort_key
    size_t *gt_start, *dt_start;         // n_slots + 1 offsets into the orders
    size_t *ev_start;                    // n_slots + 1 offsets of evaluated (cut) detections
    double *gt_box, *dt_box;             // per annotation: the box the IoU uses
    uint64_t *gt_px, *dt_px;             // per annotation: mask area in pixels (segm)
    uint8_t *flags;                      // (evaluated detection, area, threshold) -> FLAG_*
    uint32_t *npig;                      // (slot, area) -> regular (non-ignored) ground truth
    uint8_t *slot_used;                  // slot has ground truth or detections
    double *precision;                   // (t, r, k, a, m), -1 where undefined
    double *recall;                      // (t, k, a, m)
} eval_state;

static useg_status group(useg_ctx *ctx, eval_state *S, const useg_coco *c, bool dets, uint32_t **order,
                         size_t **start) {
    size_t n = c->n_anns;
    sort_key *keys = useg_heap_alloc(ctx, n, sizeof *keys, "annotation order");
    *order = useg_heap_alloc(ctx, n, sizeof **order, "annotation order");
    *start = useg_heap_zalloc(ctx, S->n_slots + 1, sizeof **start, "slot offsets");
    if (!keys || !*order || !*start) {
        free(keys);
        return ctx->status;
    }
    for (size_t i = 0; i < n; i++) {
        const useg_coco_ann *a = &c->anns[i];
        uint32_t k = S->p.class_agnostic ? 0 : S->cat_rank[a->category];
        keys[i] = (sort_key){.slot = (uint64_t)k * S->n_img + S->img_rank[a->image],
                             .neg_score = dets ? -a->score : 0,
                             .cat_rank = S->cat_rank[a->category],
                             .index = (uint32_t)i};
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    for (size_t i = 0; i < n; i++) {
        (*order)[i] = keys[i].index;
        (*start)[keys[i].slot + 1]++;
    }
    for (size_t s = 0; s < S->n_slots; s++) (*start)[s + 1] += (*start)[s];
    free(keys);
    return USEG_OK;
}

// The box and pixel area each IoU needs: for masks, pycocotools' rleIou tests
// the boxes of the masks (toBbox), not the "bbox" fields.
static useg_status prepare_boxes(useg_ctx *ctx, const eval_state *S, const useg_coco *c, double **box,
                                 uint64_t **px, bool dets) {
    size_t n = c->n_anns;
    *box = useg_heap_alloc(ctx, n, 4 * sizeof **box, "boxes");
    *px = useg_heap_alloc(ctx, n, sizeof **px, "areas");
    if (!*box || !*px) return ctx->status;
    bool segm = S->p.iou_type == USEG_COCO_SEGM;
    for (size_t i = 0; i < n; i++) {
        const useg_coco_ann *a = &c->anns[i];
        if (!segm) {
            memcpy(*box + 4 * i, a->bbox, sizeof a->bbox);
            (*px)[i] = 0;
            continue;
        }
        const useg_coco_image *im = &c->images[a->image];
        if (!a->has_mask)
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s %lld has no mask for segm evaluation",
                             dets ? "detection" : "annotation", (long long)a->id);
        if (a->rle.h != im->height || a->rle.w != im->width)
            return useg_fail(ctx, USEG_ERR_SHAPE, "%s %lld: mask is %ux%u but image %lld is %ux%u",
                             dets ? "detection" : "annotation", (long long)a->id, a->rle.h, a->rle.w,
                             (long long)im->id, im->height, im->width);
        useg_rle_bbox(&a->rle, *box + 4 * i);
        (*px)[i] = useg_rle_area(&a->rle);
    }
    return USEG_OK;
}

static double pair_iou(const eval_state *S, uint32_t d, uint32_t g) {
    const useg_coco_ann *ga = &S->gt->anns[g];
    const double *db = S->dt_box + 4 * (size_t)d, *gb = S->gt_box + 4 * (size_t)g;
    double box = useg_bbox_iou(db, gb, ga->iscrowd);
    if (S->p.iou_type == USEG_COCO_BBOX || box <= 0) return box;
    return useg_rle_iou(&S->dt->anns[d].rle, &ga->rle, S->dt_px[d], S->gt_px[g], ga->iscrowd);
}

// pycocotools' evaluateImg for one slot, every area range and threshold.
// `ious` is (D, G) scratch, `gorder` and `gign` G entries.
static void evaluate_slot(eval_state *S, size_t slot, double *ious, uint32_t *gorder, uint8_t *gign,
                          uint8_t *gmatched) {
    size_t g0 = S->gt_start[slot], G = S->gt_start[slot + 1] - g0;
    size_t d0 = S->dt_start[slot], D = S->ev_start[slot + 1] - S->ev_start[slot];
    S->slot_used[slot] = G > 0 || D > 0;
    for (int a = 0; a < N_AREA; a++) S->npig[slot * N_AREA + a] = 0;
    if (!S->slot_used[slot]) return;
    for (size_t d = 0; d < D; d++)
        for (size_t g = 0; g < G; g++) ious[d * G + g] = pair_iou(S, S->dt_order[d0 + d], S->gt_order[g0 + g]);
    for (int a = 0; a < N_AREA; a++) {
        // Regular ground truth first, ignored after, each group in its own order.
        size_t n_reg = 0;
        for (size_t g = 0; g < G; g++) {
            const useg_coco_ann *ga = &S->gt->anns[S->gt_order[g0 + g]];
            gign[g] = ga->iscrowd || ga->area < area_lo[a] || ga->area > area_hi[a];
            n_reg += !gign[g];
        }
        size_t r = 0, q = n_reg;
        for (size_t g = 0; g < G; g++) gorder[gign[g] ? q++ : r++] = (uint32_t)g;
        S->npig[slot * N_AREA + a] = (uint32_t)n_reg;
        for (int t = 0; t < N_IOU; t++) {
            memset(gmatched, 0, G);
            for (size_t d = 0; d < D; d++) {
                const useg_coco_ann *da = &S->dt->anns[S->dt_order[d0 + d]];
                double best = fmin(S->iou_thr[t], 1 - 1e-10);
                int64_t m = -1;
                for (size_t j = 0; j < G; j++) {
                    uint32_t g = gorder[j];
                    bool crowd = S->gt->anns[S->gt_order[g0 + g]].iscrowd;
                    if (gmatched[g] && !crowd) continue;
                    // Once matched to regular ground truth, never move to an ignored one.
                    if (m > -1 && !gign[gorder[m]] && gign[g]) break;
                    if (ious[d * G + g] < best) continue;
                    best = ious[d * G + g];
                    m = (int64_t)j;
                }
                uint8_t f = 0;
                if (m > -1) {
                    uint32_t g = gorder[m];
                    gmatched[g] = 1;
                    // pycocotools stores the matched ground truth's id and later
                    // tests it for truth, so a ground truth with id 0 never counts.
                    if (S->gt->anns[S->gt_order[g0 + g]].id != 0) f |= FLAG_MATCHED;
                    if (gign[g]) f |= FLAG_IGNORED;
                }
                if (!(f & FLAG_MATCHED) && (da->area < area_lo[a] || da->area > area_hi[a])) f |= FLAG_IGNORED;
                S->flags[((S->ev_start[slot] + d) * N_AREA + a) * N_IOU + t] = f;
            }
        }
    }
}

typedef struct ev_entry {
    double neg_score;
    size_t j;      // evaluated-detection index: image order, then rank in the image
    uint32_t rank; // rank in its image
} ev_entry;

static int cmp_entry(const void *pa, const void *pb) {
    const ev_entry *a = pa, *b = pb;
    if (a->neg_score != b->neg_score) return a->neg_score < b->neg_score ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

static size_t pr_index(const eval_state *S, int t, int r, size_t k, int a, int m) {
    return (((size_t)t * N_REC + r) * S->n_cat_slots + k) * N_AREA * S->p.n_max_dets + (size_t)a * S->p.n_max_dets + m;
}

static size_t rc_index(const eval_state *S, int t, size_t k, int a, int m) {
    return (((size_t)t * S->n_cat_slots + k) * N_AREA + a) * S->p.n_max_dets + m;
}

// pycocotools' accumulate for category slot k. `entries`, `rc`, `pr` are scratch
// of the category's evaluated-detection count.
static void accumulate_category(eval_state *S, size_t k, ev_entry *entries, double *rc, double *pr) {
    const double *rec_thr = S->rec_thr;
    size_t s0 = k * S->n_img, s1 = s0 + S->n_img, j0 = S->ev_start[s0], n = S->ev_start[s1] - j0;
    bool any_used = false;
    for (size_t s = s0; s < s1; s++) {
        any_used |= S->slot_used[s];
        for (size_t r = 0; r < S->ev_start[s + 1] - S->ev_start[s]; r++) {
            size_t j = S->ev_start[s] + r;
            entries[j - j0] = (ev_entry){-S->dt->anns[S->dt_order[S->dt_start[s] + r]].score, j, (uint32_t)r};
        }
    }
    if (!any_used) return;
    qsort(entries, n, sizeof *entries, cmp_entry);
    for (int a = 0; a < N_AREA; a++) {
        uint64_t npig = 0;
        for (size_t s = s0; s < s1; s++) npig += S->npig[s * N_AREA + a];
        if (npig == 0) continue;
        for (int m = 0; m < S->p.n_max_dets; m++) {
            uint32_t max_det = (uint32_t)S->p.max_dets[m];
            for (int t = 0; t < N_IOU; t++) {
                uint64_t tp = 0, fp = 0;
                size_t nd = 0;
                for (size_t e = 0; e < n; e++) {
                    if (entries[e].rank >= max_det) continue;
                    uint8_t f = S->flags[(entries[e].j * N_AREA + a) * N_IOU + t];
                    if (!(f & FLAG_IGNORED)) {
                        if (f & FLAG_MATCHED) tp++;
                        else fp++;
                    }
                    rc[nd] = (double)tp / (double)npig;
                    pr[nd] = (double)tp / ((double)fp + (double)tp + DBL_EPSILON);
                    nd++;
                }
                S->recall[rc_index(S, t, k, a, m)] = nd ? rc[nd - 1] : 0;
                for (size_t i = nd - (nd > 0); i > 0; i--)
                    if (pr[i] > pr[i - 1]) pr[i - 1] = pr[i];
                size_t lo = 0;
                for (int r = 0; r < N_REC; r++) {
                    // np.searchsorted(rc, thr, side='left'): first rc >= thr.
                    size_t hi = nd;
                    while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (rc[mid] < rec_thr[r]) lo = mid + 1;
                        else hi = mid;
                    }
                    S->precision[pr_index(S, t, r, k, a, m)] = lo < nd ? pr[lo] : 0;
                }
            }
        }
    }
}

// NumPy's pairwise summation (add.reduce on a contiguous float64 array).
static double pairwise_sum(const double *a, size_t n) {
    if (n < 8) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

// pycocotools' _summarize: mean of the defined entries for one area range and
// maxDets (and IoU threshold, or all when iou < 0), in NumPy's flattening order.
static double summarize(const eval_state *S, bool ap, double iou, int a, int m, double *buf) {
    size_t n = 0;
    for (int t = 0; t < N_IOU; t++) {
        if (iou >= 0 && S->iou_thr[t] != iou) continue;
        if (ap) {
            for (int r = 0; r < N_REC; r++)
                for (size_t k = 0; k < S->n_cat_slots; k++) {
                    double v = S->precision[pr_index(S, t, r, k, a, m)];
                    if (v > -1) buf[n++] = v;
                }
        } else {
            for (size_t k = 0; k < S->n_cat_slots; k++) {
                double v = S->recall[rc_index(S, t, k, a, m)];
                if (v > -1) buf[n++] = v;
            }
        }
    }
    return n ? pairwise_sum(buf, n) / (double)n : -1;
}

static void add_stat(useg_coco_summary *out, const eval_state *S, bool ap, double iou, int a, int m, double *buf) {
    useg_coco_stat *st = &out->stats[out->n_stats++];
    int md = S->p.max_dets[m];
    st->value = summarize(S, ap, iou, a, m, buf);
    char iou_str[16];
    if (iou < 0) snprintf(iou_str, sizeof iou_str, "0.50:0.95");
    else snprintf(iou_str, sizeof iou_str, "%0.2f", iou);
    snprintf(st->label, sizeof st->label, "%-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ]",
             ap ? "Average Precision" : "Average Recall", ap ? "(AP)" : "(AR)", iou_str, area_name[a], md);
    const char *sz = a == 0 ? "" : a == 1 ? "s" : a == 2 ? "m" : "l";
    if (ap && iou >= 0) snprintf(st->name, sizeof st->name, "AP%d", (int)lround(iou * 100));
    else if (ap) snprintf(st->name, sizeof st->name, "AP%s", sz);
    else if (a == 0) snprintf(st->name, sizeof st->name, "AR%d", md);
    else snprintf(st->name, sizeof st->name, "AR%s", sz);
}

static void free_state(eval_state *S) {
    free(S->img_rank);
    free(S->cat_rank);
    free(S->gt_order);
    free(S->dt_order);
    free(S->gt_start);
    free(S->dt_start);
    free(S->ev_start);
    free(S->gt_box);
    free(S->dt_box);
    free(S->gt_px);
    free(S->dt_px);
    free(S->flags);
    free(S->npig);
    free(S->slot_used);
    free(S->precision);
    free(S->recall);
}

static useg_status check_params(useg_ctx *ctx, useg_coco_eval_params *p) {
    if (p->n_max_dets < 3 || p->n_max_dets > USEG_COCO_MAX_MAXDETS)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "maxDets needs 3 to %d values, got %d", USEG_COCO_MAX_MAXDETS,
                         p->n_max_dets);
    for (int i = 0; i < p->n_max_dets; i++)
        if (p->max_dets[i] < 1)
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "maxDets value %d is not positive", p->max_dets[i]);
    for (int i = 1; i < p->n_max_dets; i++)
        for (int j = i; j > 0 && p->max_dets[j] < p->max_dets[j - 1]; j--) {
            int t = p->max_dets[j];
            p->max_dets[j] = p->max_dets[j - 1];
            p->max_dets[j - 1] = t;
        }
    return USEG_OK;
}

static useg_status run(useg_ctx *ctx, eval_state *S, useg_coco_summary *out) {
    const useg_coco *gt = S->gt, *dt = S->dt;
    S->n_img = gt->n_images;
    S->n_cat_slots = S->p.class_agnostic ? 1 : gt->n_cats;
    S->n_slots = S->n_img * S->n_cat_slots;
    linspace(0.5, 0.95, N_IOU, S->iou_thr);
    linspace(0, 1, N_REC, S->rec_thr);
    S->img_rank = useg_heap_alloc(ctx, gt->n_images, sizeof *S->img_rank, "image ranks");
    S->cat_rank = useg_heap_alloc(ctx, gt->n_cats, sizeof *S->cat_rank, "category ranks");
    if (!S->img_rank || !S->cat_rank) return ctx->status;
    for (size_t i = 0; i < gt->n_images; i++) S->img_rank[gt->image_by_id[i]] = (uint32_t)i;
    for (size_t i = 0; i < gt->n_cats; i++) S->cat_rank[gt->cat_by_id[i]] = (uint32_t)i;
    USEG_TRY(group(ctx, S, gt, false, &S->gt_order, &S->gt_start));
    USEG_TRY(group(ctx, S, dt, true, &S->dt_order, &S->dt_start));
    USEG_TRY(prepare_boxes(ctx, S, gt, &S->gt_box, &S->gt_px, false));
    USEG_TRY(prepare_boxes(ctx, S, dt, &S->dt_box, &S->dt_px, true));
    uint32_t max_det = (uint32_t)S->p.max_dets[S->p.n_max_dets - 1];
    S->ev_start = useg_heap_alloc(ctx, S->n_slots + 1, sizeof *S->ev_start, "slot offsets");
    if (!S->ev_start) return ctx->status;
    S->ev_start[0] = 0;
    size_t max_d = 0, max_g = 0;
    for (size_t s = 0; s < S->n_slots; s++) {
        size_t d = S->dt_start[s + 1] - S->dt_start[s], g = S->gt_start[s + 1] - S->gt_start[s];
        if (d > max_det) d = max_det;
        S->ev_start[s + 1] = S->ev_start[s] + d;
        if (d > max_d) max_d = d;
        if (g > max_g) max_g = g;
    }
    size_t n_ev = S->ev_start[S->n_slots];
    S->flags = useg_heap_alloc(ctx, n_ev * N_AREA, N_IOU, "match flags");
    S->npig = useg_heap_alloc(ctx, S->n_slots, N_AREA * sizeof *S->npig, "ground-truth counts");
    S->slot_used = useg_heap_alloc(ctx, S->n_slots, 1, "slot flags");
    size_t n_pr = (size_t)N_IOU * N_REC * S->n_cat_slots * N_AREA * S->p.n_max_dets;
    size_t n_rc = (size_t)N_IOU * S->n_cat_slots * N_AREA * S->p.n_max_dets;
    S->precision = useg_heap_alloc(ctx, n_pr, sizeof *S->precision, "precision");
    S->recall = useg_heap_alloc(ctx, n_rc, sizeof *S->recall, "recall");
    if (!S->flags || !S->npig || !S->slot_used || !S->precision || !S->recall) return ctx->status;
    for (size_t i = 0; i < n_pr; i++) S->precision[i] = -1;
    for (size_t i = 0; i < n_rc; i++) S->recall[i] = -1;

    bool oom = false;
#pragma omp parallel
    {
        double *ious = malloc((max_d * max_g + 1) * sizeof *ious);
        uint32_t *gorder = malloc((max_g + 1) * sizeof *gorder);
        uint8_t *gbuf = malloc(2 * max_g + 2);
        if (!ious || !gorder || !gbuf) {
#pragma omp atomic write
            oom = true;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t s = 0; s < (int64_t)S->n_slots; s++)
            if (ious && gorder && gbuf) evaluate_slot(S, (size_t)s, ious, gorder, gbuf, gbuf + max_g + 1);
        free(ious);
        free(gorder);
        free(gbuf);
    }
    if (oom) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory for per-image IoU matrices");

    size_t max_k = 0;
    for (size_t k = 0; k < S->n_cat_slots; k++) {
        size_t n = S->ev_start[(k + 1) * S->n_img] - S->ev_start[k * S->n_img];
        if (n > max_k) max_k = n;
    }
#pragma omp parallel
    {
        ev_entry *entries = malloc((max_k + 1) * sizeof *entries);
        double *rc = malloc((max_k + 1) * sizeof *rc), *pr = malloc((max_k + 1) * sizeof *pr);
        if (!entries || !rc || !pr) {
#pragma omp atomic write
            oom = true;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t k = 0; k < (int64_t)S->n_cat_slots; k++)
            if (entries && rc && pr) accumulate_category(S, (size_t)k, entries, rc, pr);
        free(entries);
        free(rc);
        free(pr);
    }
    if (oom) return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory accumulating precision");

    double *buf = useg_heap_alloc(ctx, n_pr / S->p.n_max_dets / N_AREA + 1, sizeof *buf, "summary");
    if (!buf) return ctx->status;
    *out = (useg_coco_summary){.n_images = gt->n_images, .n_gt = gt->n_anns, .n_dt = dt->n_anns};
    int m2 = 2, m_last = S->p.n_max_dets - 1;
    add_stat(out, S, true, -1, 0, m2, buf);
    add_stat(out, S, true, 0.5, 0, m2, buf);
    add_stat(out, S, true, 0.75, 0, m2, buf);
    for (int a = 1; a < N_AREA; a++) add_stat(out, S, true, -1, a, m2, buf);
    for (int m = 0; m < 3; m++) add_stat(out, S, false, -1, 0, m, buf);
    for (int a = 1; a < N_AREA; a++) add_stat(out, S, false, -1, a, m2, buf);
    for (int m = 3; m <= m_last; m++) add_stat(out, S, false, -1, 0, m, buf);
    free(buf);
    return USEG_OK;
}

useg_status useg_coco_evaluate(useg_ctx *ctx, const useg_coco *gt, const useg_coco *dt,
                               const useg_coco_eval_params *params, useg_coco_summary *out) {
    eval_state S = {.gt = gt, .dt = dt, .p = *params};
    USEG_TRY(check_params(ctx, &S.p));
    if (dt->images != gt->images)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "detections were not loaded against this ground truth");
    useg_status st = run(ctx, &S, out);
    free_state(&S);
    return st;
}
