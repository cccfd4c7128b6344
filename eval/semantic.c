// See semantic.h.
#include "semantic.h"

#include <math.h>
#include <stdlib.h>

#include "heap.h"
#include "hungarian.h"

useg_status useg_confusion_init(useg_ctx *ctx, useg_confusion *c, int64_t n_clusters, int64_t n_classes) {
    *c = (useg_confusion){.n_clusters = n_clusters, .n_classes = n_classes};
    if (n_clusters < 1 || n_classes < 1 || n_clusters > 100000 || n_classes > 100000)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "confusion matrix of %lld clusters x %lld classes: sizes must be 1..100000",
                         (long long)n_clusters, (long long)n_classes);
    c->counts = useg_heap_zalloc(ctx, (size_t)(n_clusters * n_classes), sizeof *c->counts, "confusion matrix");
    return c->counts ? USEG_OK : ctx->status;
}

void useg_confusion_free(useg_confusion *c) {
    free(c->counts);
    *c = (useg_confusion){0};
}

void useg_confusion_add(useg_confusion *c, const int32_t *pred, const int32_t *gt, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        if (gt[i] < 0 || gt[i] >= c->n_classes) {
            c->n_ignored++;
            continue;
        }
        if (pred[i] < 0 || pred[i] >= c->n_clusters) {
            c->n_pred_invalid++;
            continue;
        }
        c->counts[(int64_t)pred[i] * c->n_classes + gt[i]]++;
    }
}

void useg_semantic_result_free(useg_semantic_result *r) {
    free(r->class_of_cluster);
    free(r->iou);
    *r = (useg_semantic_result){0};
}

void useg_majority_mapping(const useg_confusion *c, int64_t *class_of_cluster) {
    for (int64_t k = 0; k < c->n_clusters; k++) {
        const uint64_t *row = c->counts + k * c->n_classes;
        int64_t best = -1;
        for (int64_t j = 0; j < c->n_classes; j++)
            if (row[j] > 0 && (best < 0 || row[j] > row[best])) best = j;
        class_of_cluster[k] = best;
    }
}

static useg_status map_clusters(useg_ctx *ctx, const useg_confusion *c, useg_matching matching, int64_t *class_of) {
    int64_t K = c->n_clusters, C = c->n_classes;
    if (matching == USEG_MATCH_MAJORITY) {
        useg_majority_mapping(c, class_of);
        return USEG_OK;
    }
    double *w = useg_heap_alloc(ctx, (size_t)(K * C), sizeof *w, "assignment weights");
    if (!w) return ctx->status;
    for (int64_t i = 0; i < K * C; i++) w[i] = (double)c->counts[i];
    useg_status st = useg_linear_assignment(ctx, w, K, C, true, class_of, NULL, NULL);
    free(w);
    return st;
}

useg_status useg_semantic_score_mapped(useg_ctx *ctx, const useg_confusion *c, const int64_t *class_of_cluster,
                                       bool ignore_unmapped, useg_semantic_result *out) {
    int64_t K = c->n_clusters, C = c->n_classes;
    *out = (useg_semantic_result){.n_clusters = K, .n_classes = C};
    out->class_of_cluster = useg_heap_alloc(ctx, (size_t)K, sizeof *out->class_of_cluster, "cluster mapping");
    out->iou = useg_heap_alloc(ctx, (size_t)C, sizeof *out->iou, "class IoU");
    uint64_t *tp = useg_heap_zalloc(ctx, (size_t)C, sizeof *tp, "class counts");
    uint64_t *pred = useg_heap_zalloc(ctx, (size_t)C, sizeof *pred, "class counts");
    uint64_t *truth = useg_heap_zalloc(ctx, (size_t)C, sizeof *truth, "class counts");
    useg_status st = out->class_of_cluster && out->iou && tp && pred && truth ? USEG_OK : USEG_ERR_OUT_OF_MEMORY;
    for (int64_t k = 0; st == USEG_OK && k < K; k++)
        if (class_of_cluster[k] < -1 || class_of_cluster[k] >= C)
            st = useg_fail(ctx, USEG_ERR_INVALID_ARG, "cluster %lld maps to class %lld, outside -1..%lld", (long long)k,
                           (long long)class_of_cluster[k], (long long)C - 1);
    if (st == USEG_OK) {
        uint64_t total = 0, sum_tp = 0;
        for (int64_t k = 0; k < K; k++) {
            int64_t m = out->class_of_cluster[k] = class_of_cluster[k];
            for (int64_t j = 0; j < C; j++) {
                uint64_t v = c->counts[k * C + j];
                if (m < 0 && ignore_unmapped) {
                    out->n_unmapped += v;
                    continue;
                }
                total += v;
                truth[j] += v;
                if (m < 0) continue;
                pred[m] += v;
                if (m == j) tp[j] += v;
            }
        }
        double sum_iou = 0;
        int64_t n_def = 0;
        for (int64_t j = 0; j < C; j++) {
            uint64_t denom = pred[j] + truth[j] - tp[j]; // TP + FP + FN
            out->iou[j] = denom ? (double)tp[j] / (double)denom : NAN;
            if (denom) {
                sum_iou += out->iou[j];
                n_def++;
            }
            sum_tp += tp[j];
        }
        out->n_valid = total;
        out->miou = n_def ? sum_iou / (double)n_def : NAN;
        out->accuracy = total ? (double)sum_tp / (double)total : NAN;
    }
    free(tp);
    free(pred);
    free(truth);
    if (st != USEG_OK) useg_semantic_result_free(out);
    return st;
}

useg_status useg_semantic_score(useg_ctx *ctx, const useg_confusion *c, useg_matching matching,
                                useg_semantic_result *out) {
    *out = (useg_semantic_result){0};
    int64_t *class_of = useg_heap_alloc(ctx, (size_t)c->n_clusters, sizeof *class_of, "cluster mapping");
    if (!class_of) return ctx->status;
    useg_status st = map_clusters(ctx, c, matching, class_of);
    if (st == USEG_OK) st = useg_semantic_score_mapped(ctx, c, class_of, false, out);
    free(class_of);
    return st;
}
