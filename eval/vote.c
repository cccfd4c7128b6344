// See vote.h. Stuff votes of one image come from its sparse contingency
// table: the (cluster, class) codes of the pixels where both are valid,
// sorted, give every intersection; cluster and class areas are plain counts.
// Thing votes walk each image's ground truth, found through a counting sort
// of the annotations by image.
#include "vote.h"

#include <stdlib.h>
#include <string.h>

#include "heap.h"

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

useg_status useg_vote_add_segmentation(useg_ctx *ctx, useg_confusion *t, const int32_t *pred, const int32_t *gt,
                                       int64_t n, double iou) {
    if (!(iou >= 0 && iou < 1))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "vote IoU threshold %g is not in [0, 1)", iou);
    int64_t N = t->n_clusters, K = t->n_classes;
    uint64_t *area_p = useg_heap_zalloc(ctx, (size_t)N, sizeof *area_p, "cluster areas");
    uint64_t *area_g = useg_heap_zalloc(ctx, (size_t)K, sizeof *area_g, "class areas");
    int64_t *codes = useg_heap_alloc(ctx, (size_t)n, sizeof *codes, "pixel pairs");
    if (!area_p || !area_g || !codes) {
        free(area_p);
        free(area_g);
        free(codes);
        return ctx->status;
    }
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
        bool vp = pred[i] >= 0 && pred[i] < N, vg = gt[i] >= 0 && gt[i] < K;
        if (vp) area_p[pred[i]]++;
        if (vg) area_g[gt[i]]++;
        if (vp && vg) codes[m++] = (int64_t)pred[i] * K + gt[i];
    }
    qsort(codes, (size_t)m, sizeof *codes, cmp_i64);
    for (int64_t i = 0; i < m;) {
        int64_t j = i;
        while (j < m && codes[j] == codes[i]) j++;
        int64_t p = codes[i] / K, g = codes[i] % K;
        double inter = (double)(j - i), uni = (double)area_p[p] + (double)area_g[g] - inter;
        if (inter / uni > iou) t->counts[p * K + g]++;
        i = j;
    }
    free(area_p);
    free(area_g);
    free(codes);
    return USEG_OK;
}

useg_status useg_vote_add_detections(useg_ctx *ctx, useg_confusion *t, const useg_coco *gt, const useg_coco *dt,
                                     double min_score, double iou) {
    if (!(iou >= 0 && iou < 1))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "vote IoU threshold %g is not in [0, 1)", iou);
    if (t->n_classes != (int64_t)gt->n_cats)
        return useg_fail(ctx, USEG_ERR_SHAPE, "vote table has %lld classes, the ground truth %zu categories",
                         (long long)t->n_classes, gt->n_cats);
    for (size_t d = 0; d < dt->n_anns; d++)
        if (dt->anns[d].category_id < 0 || dt->anns[d].category_id >= t->n_clusters)
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "detection %zu has cluster %lld, outside 0..%lld", d + 1,
                             (long long)dt->anns[d].category_id, (long long)t->n_clusters - 1);
    // rank[c]: position of category c in id order; by_image: annotations grouped by image.
    int64_t *rank = useg_heap_alloc(ctx, gt->n_cats + 1, sizeof *rank, "category ranks");
    size_t *start = useg_heap_zalloc(ctx, gt->n_images + 2, sizeof *start, "annotations by image");
    size_t *by_image = useg_heap_alloc(ctx, gt->n_anns + 1, sizeof *by_image, "annotations by image");
    if (!rank || !start || !by_image) {
        free(rank);
        free(start);
        free(by_image);
        return ctx->status;
    }
    for (size_t r = 0; r < gt->n_cats; r++) rank[gt->cat_by_id[r]] = (int64_t)r;
    for (size_t a = 0; a < gt->n_anns; a++) start[gt->anns[a].image + 2]++;
    for (size_t i = 0; i < gt->n_images; i++) start[i + 2] += start[i + 1];
    for (size_t a = 0; a < gt->n_anns; a++) by_image[start[gt->anns[a].image + 1]++] = a;
    for (size_t d = 0; d < dt->n_anns; d++) {
        const useg_coco_ann *det = &dt->anns[d];
        if (!(det->score >= min_score)) continue;
        for (size_t k = start[det->image]; k < start[det->image + 1]; k++) {
            const useg_coco_ann *g = &gt->anns[by_image[k]];
            if (useg_bbox_iou(det->bbox, g->bbox, false) > iou)
                t->counts[det->category_id * t->n_classes + rank[g->category]]++;
        }
    }
    free(rank);
    free(start);
    free(by_image);
    return USEG_OK;
}

uint64_t useg_vote_count(const useg_confusion *votes) {
    uint64_t n = 0;
    for (int64_t i = 0; i < votes->n_clusters * votes->n_classes; i++) n += votes->counts[i];
    return n;
}

void useg_vote_relabel_detections(useg_coco *dt, const useg_coco *gt, const int64_t *class_of_cluster,
                                  int64_t n_clusters) {
    size_t kept = 0;
    for (size_t d = 0; d < dt->n_anns; d++) {
        useg_coco_ann a = dt->anns[d];
        USEG_ASSERT(a.category_id >= 0 && a.category_id < n_clusters, "detection %zu: cluster %lld of %lld", d,
                    (long long)a.category_id, (long long)n_clusters);
        int64_t r = class_of_cluster[a.category_id];
        if (r < 0) {
            useg_rle_free(&a.rle);
            continue;
        }
        a.category = gt->cat_by_id[r];
        a.category_id = gt->cats[a.category].id;
        a.id = (int64_t)kept + 1;
        dt->anns[kept++] = a;
    }
    dt->n_anns = kept;
}
