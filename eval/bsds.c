// See bsds.h. Per (segmentation, annotator) pair one contingency table of
// labels (0 included) gives every quantity: region IoUs for covering, and,
// restricted to labels >= 1, the Rand index and VoI.
#include "bsds.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

void useg_bsds_ucm_thresholds(int n, double *out) {
    double a = 1.0 / (n + 1), b = 1 - 1.0 / (n + 1);
    for (int i = 0; i < n; i++) out[i] = n > 1 ? a + i * (b - a) / (n - 1) : b;
    if (n > 0) out[n - 1] = b;
}

static uint32_t find_root(uint32_t *parent, uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

useg_status useg_bsds_segs_from_ucm(useg_ctx *ctx, const double *ucm2, uint32_t h2, uint32_t w2,
                                    const double *thresh, int n, useg_label_map **segs) {
    if (h2 < 3 || w2 < 3 || h2 % 2 == 0 || w2 % 2 == 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "ucm2 of %ux%u is not in double-size (2H+1, 2W+1) form", h2, w2);
    uint32_t h = h2 / 2, w = w2 / 2;
    size_t N = (size_t)h2 * w2;
    uint32_t *parent = useg_heap_alloc(ctx, N, sizeof *parent, "ucm labels");
    uint32_t *label = useg_heap_alloc(ctx, N, sizeof *label, "ucm labels");
    *segs = useg_heap_zalloc(ctx, (size_t)n, sizeof **segs, "segmentations");
    useg_status st = parent && label && *segs ? USEG_OK : ctx->status;
    for (int t = 0; t < n && st == USEG_OK; t++) {
        for (size_t i = 0; i < N; i++) parent[i] = (uint32_t)i;
        for (uint32_t y = 0; y < h2; y++)
            for (uint32_t x = 0; x < w2; x++) {
                size_t i = (size_t)y * w2 + x;
                if (!(ucm2[i] <= thresh[t])) continue;
                // 8-connectivity (bwlabel's default): join with the already visited neighbours.
                const int dy[4] = {-1, -1, -1, 0}, dx[4] = {-1, 0, 1, -1};
                for (int k = 0; k < 4; k++) {
                    int64_t yy = (int64_t)y + dy[k], xx = (int64_t)x + dx[k];
                    if (yy < 0 || xx < 0 || xx >= w2) continue;
                    size_t j = (size_t)yy * w2 + (size_t)xx;
                    if (!(ucm2[j] <= thresh[t])) continue;
                    uint32_t a = find_root(parent, (uint32_t)i), b = find_root(parent, (uint32_t)j);
                    if (a != b) parent[a < b ? b : a] = a < b ? a : b;
                }
            }
        int32_t next = 0;
        for (size_t i = 0; i < N; i++) label[i] = 0;
        int32_t *out = useg_heap_alloc(ctx, (size_t)h * w, sizeof *out, "segmentation");
        if (!out) {
            st = ctx->status;
            break;
        }
        // Regions numbered in order of first appearance (MATLAB's column-major
        // order is not needed: the scores do not depend on the numbering).
        for (uint32_t y = 0; y < h; y++)
            for (uint32_t x = 0; x < w; x++) {
                size_t i = (size_t)(2 * y + 1) * w2 + 2 * x + 1;
                if (!(ucm2[i] <= thresh[t])) {
                    out[(size_t)y * w + x] = 0;
                    continue;
                }
                uint32_t r = find_root(parent, (uint32_t)i);
                if (!label[r]) label[r] = (uint32_t)++next;
                out[(size_t)y * w + x] = (int32_t)label[r];
            }
        (*segs)[t] = (useg_label_map){h, w, out};
    }
    free(parent);
    free(label);
    if (st != USEG_OK) {
        useg_label_maps_free(*segs, (uint32_t)n);
        *segs = NULL;
    }
    return st;
}

void useg_bsds_region_image_free(useg_bsds_region_image *r) {
    free(r->thresh);
    free(r->cnt_r);
    free(r->sum_r);
    free(r->cnt_p);
    free(r->sum_p);
    free(r->ri);
    free(r->voi);
    *r = (useg_bsds_region_image){0};
}

static int32_t max_label(const useg_label_map *m) {
    int32_t mx = 0;
    for (size_t i = 0; i < (size_t)m->h * m->w; i++)
        if (m->labels[i] > mx) mx = m->labels[i];
    return mx;
}

// Rand index and VoI of the contingency table conf (rows, cols) restricted to
// labels >= 1 (row and column 0 left out). cu / cv: rows / cols scratch.
static void ri_voi(const double *conf, int64_t rows, int64_t cols, double *cu, double *cv, double *ri, double *voi) {
    double N = 0, su = 0, sv = 0, s2 = 0;
    for (int64_t i = 0; i < rows; i++) cu[i] = 0;
    for (int64_t j = 0; j < cols; j++) cv[j] = 0;
    for (int64_t i = 1; i < rows; i++)
        for (int64_t j = 1; j < cols; j++) {
            double v = conf[i * cols + j];
            N += v;
            cu[i] += v;
            cv[j] += v;
            s2 += v * v;
        }
    for (int64_t i = 1; i < rows; i++) su += cu[i] * cu[i];
    for (int64_t j = 1; j < cols; j++) sv += cv[j] * cv[j];
    *ri = 1 - (su / 2 + sv / 2 - s2) / (N * (N - 1) / 2);
    double h1 = 0, h2 = 0, mi = 0;
    for (int64_t i = 1; i < rows; i++)
        if (cu[i] > 0) h1 -= cu[i] / N * log2(cu[i] / N);
    for (int64_t j = 1; j < cols; j++)
        if (cv[j] > 0) h2 -= cv[j] / N * log2(cv[j] / N);
    for (int64_t i = 1; i < rows; i++)
        for (int64_t j = 1; j < cols; j++) {
            double p = conf[i * cols + j] / N;
            if (p > 0) mi += p * log2(p / ((cu[i] / N) * (cv[j] / N)));
        }
    *voi = h1 + h2 - 2 * mi;
}

// Scratch for one (segmentation, annotator) table, grown as needed.
typedef struct table_scratch {
    double *conf, *rs, *cs, *cu, *cv;
    size_t cap_conf, cap_s, cap_g;
} table_scratch;

static bool grow(useg_ctx *ctx, double **p, size_t *cap, size_t n) {
    if (n <= *cap) return true;
    double *q = useg_heap_realloc(ctx, *p, n, sizeof *q, "contingency table");
    if (!q) return false;
    *p = q;
    *cap = n;
    return true;
}

static bool scratch_fit(useg_ctx *ctx, table_scratch *t, int64_t S, int64_t G) {
    size_t cs = t->cap_s, cg = t->cap_g;
    bool ok = grow(ctx, &t->conf, &t->cap_conf, (size_t)(S * G)) && grow(ctx, &t->rs, &cs, (size_t)S) &&
              grow(ctx, &t->cu, &t->cap_s, (size_t)S) && grow(ctx, &t->cs, &cg, (size_t)G) &&
              grow(ctx, &t->cv, &t->cap_g, (size_t)G);
    return ok;
}

useg_status useg_bsds_region_image_eval(useg_ctx *ctx, const useg_label_map *segs, int n_seg, const double *thresh,
                                        const useg_label_map *gts, int n_gt, useg_bsds_region_image *out) {
    *out = (useg_bsds_region_image){.n = n_seg};
    for (int i = 0; i < n_seg; i++)
        for (int s = 0; s < n_gt; s++)
            if (segs[i].h != gts[s].h || segs[i].w != gts[s].w)
                return useg_fail(ctx, USEG_ERR_SHAPE, "segmentation %d is %ux%u but human segmentation %d is %ux%u",
                                 i + 1, segs[i].w, segs[i].h, s + 1, gts[s].w, gts[s].h);
    useg_status st = USEG_ERR_OUT_OF_MEMORY;
    table_scratch ts = {0};
    double *best_gt = NULL, *gt_area = NULL, *match_seg = NULL, *seg_area = NULL;
    size_t cap_seg = 0, cap_area = 0;
    int64_t total_gt = 0;
    int32_t *gmax = useg_heap_alloc(ctx, (size_t)n_gt, sizeof *gmax, "region counts");
    if (!gmax) goto done;
    for (int s = 0; s < n_gt; s++) total_gt += (gmax[s] = max_label(&gts[s]));
    double **fields[] = {&out->thresh, &out->cnt_r, &out->sum_r, &out->cnt_p, &out->sum_p, &out->ri, &out->voi};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        if (!(*fields[f] = useg_heap_zalloc(ctx, (size_t)n_seg, sizeof(double), "region scores"))) goto done;
    best_gt = useg_heap_zalloc(ctx, (size_t)total_gt + 1, sizeof *best_gt, "region matches");
    gt_area = useg_heap_zalloc(ctx, (size_t)total_gt + 1, sizeof *gt_area, "region areas");
    if (!best_gt || !gt_area) goto done;
    for (int t = 0; t < n_seg; t++) {
        out->thresh[t] = thresh[t];
        const useg_label_map *sg = &segs[t];
        int64_t S = max_label(sg) + 1;
        size_t npx = (size_t)sg->h * sg->w;
        if (!grow(ctx, &match_seg, &cap_seg, (size_t)S) || !grow(ctx, &seg_area, &cap_area, (size_t)S)) goto done;
        for (int64_t a = 0; a < S; a++) match_seg[a] = seg_area[a] = 0;
        int64_t off = 0;
        for (int s = 0; s < n_gt; s++) {
            int64_t G = gmax[s] + 1;
            if (!scratch_fit(ctx, &ts, S, G)) goto done;
            double *conf = ts.conf, *rs = ts.rs, *cs = ts.cs;
            memset(conf, 0, (size_t)(S * G) * sizeof *conf);
            for (int64_t a = 0; a < S; a++) rs[a] = 0;
            for (int64_t b = 0; b < G; b++) cs[b] = 0;
            for (size_t i = 0; i < npx; i++) conf[(int64_t)sg->labels[i] * G + gts[s].labels[i]]++;
            for (int64_t a = 0; a < S; a++)
                for (int64_t b = 0; b < G; b++) {
                    rs[a] += conf[a * G + b];
                    cs[b] += conf[a * G + b];
                }
            for (int64_t b = 1; b < G; b++) {
                double best = 0;
                for (int64_t a = 1; a < S; a++) {
                    double c = conf[a * G + b], u = rs[a] + cs[b] - c;
                    double iou = u > 0 ? c / u : 0;
                    if (iou > best) best = iou;
                    if (iou > match_seg[a]) match_seg[a] = iou;
                }
                out->cnt_r[t] += cs[b] * best;
                out->sum_r[t] += cs[b];
                gt_area[off + b] = cs[b];
                if (best > best_gt[off + b]) best_gt[off + b] = best;
            }
            off += gmax[s];
            double ri, voi;
            ri_voi(conf, S, G, ts.cu, ts.cv, &ri, &voi);
            out->ri[t] += ri / n_gt;
            out->voi[t] += voi / n_gt;
            if (s == 0)
                for (int64_t a = 1; a < S; a++) seg_area[a] = rs[a];
        }
        for (int64_t a = 1; a < S; a++) {
            out->cnt_p[t] += seg_area[a] * match_seg[a];
            out->sum_p[t] += seg_area[a];
        }
    }
    for (int64_t r = 1; r <= total_gt; r++) out->cnt_r_best += gt_area[r] * best_gt[r];
    st = USEG_OK;
done:
    free(best_gt);
    free(gt_area);
    free(match_seg);
    free(seg_area);
    free(gmax);
    free(ts.conf);
    free(ts.rs);
    free(ts.cs);
    free(ts.cu);
    free(ts.cv);
    if (st != USEG_OK) useg_bsds_region_image_free(out);
    return st;
}

void useg_bsds_region_summary_free(useg_bsds_region_summary *s) {
    free(s->thresh);
    free(s->cover_th);
    free(s->ri_th);
    free(s->voi_th);
    free(s->img_t);
    free(s->img_cover);
    free(s->img_best);
    free(s->img_precision);
    *s = (useg_bsds_region_summary){0};
}

// Index of the first maximum (or minimum) of v[0..n).
static int arg_best(const double *v, int n, bool max) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (max ? v[i] > v[b] : v[i] < v[b]) b = i;
    return b;
}

useg_status useg_bsds_region_collect(useg_ctx *ctx, const useg_bsds_region_image *imgs, int n_img,
                                     useg_bsds_region_summary *out) {
    if (n_img < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "region benchmark over no images");
    int n = imgs[0].n;
    for (int i = 1; i < n_img; i++)
        if (imgs[i].n != n)
            return useg_fail(ctx, USEG_ERR_SHAPE, "image %d has %d segmentations, image 1 has %d", i + 1, imgs[i].n, n);
    *out = (useg_bsds_region_summary){.n = n};
    double **arrs[] = {&out->thresh, &out->cover_th, &out->ri_th, &out->voi_th};
    for (size_t f = 0; f < 4; f++)
        if (!(*arrs[f] = useg_heap_zalloc(ctx, (size_t)n, sizeof(double), "region summary"))) goto oom;
    double **per[] = {&out->img_t, &out->img_cover, &out->img_best, &out->img_precision};
    for (size_t f = 0; f < 4; f++)
        if (!(*per[f] = useg_heap_zalloc(ctx, (size_t)n_img, sizeof(double), "region summary"))) goto oom;
    double *cnt = useg_heap_zalloc(ctx, (size_t)n, sizeof *cnt, "region summary");
    double *sum = useg_heap_zalloc(ctx, (size_t)n, sizeof *sum, "region summary");
    double *r = useg_heap_alloc(ctx, (size_t)n, sizeof *r, "region summary");
    if (!cnt || !sum || !r) {
        free(cnt);
        free(sum);
        free(r);
        goto oom;
    }
    double ois_cnt = 0, ois_sum = 0, best_cnt = 0, best_sum = 0, ri_ois = 0, voi_ois = 0;
    for (int i = 0; i < n_img; i++) {
        const useg_bsds_region_image *im = &imgs[i];
        for (int t = 0; t < n; t++) {
            r[t] = im->cnt_r[t] / (im->sum_r[t] + (im->sum_r[t] == 0));
            cnt[t] += im->cnt_r[t];
            sum[t] += im->sum_r[t];
            out->ri_th[t] += im->ri[t] / n_img;
            out->voi_th[t] += im->voi[t] / n_img;
        }
        int b = arg_best(r, n, true);
        out->img_t[i] = im->thresh[b];
        out->img_cover[i] = r[b];
        out->img_precision[i] = im->cnt_p[b] / (im->sum_p[b] + (im->sum_p[b] == 0));
        out->img_best[i] = im->cnt_r_best / (im->sum_r[0] + (im->sum_r[0] == 0));
        ois_cnt += im->cnt_r[b];
        ois_sum += im->sum_r[b];
        best_cnt += im->cnt_r_best;
        best_sum += im->sum_r[0];
        ri_ois += im->ri[arg_best(im->ri, n, true)] / n_img;
        voi_ois += im->voi[arg_best(im->voi, n, false)] / n_img;
    }
    free(r);
    for (int t = 0; t < n; t++) {
        out->thresh[t] = imgs[0].thresh[t];
        out->cover_th[t] = cnt[t] / (sum[t] + (sum[t] == 0));
    }
    int b = arg_best(out->cover_th, n, true);
    out->cover_ods_t = out->thresh[b];
    out->cover_ods = out->cover_th[b];
    out->cover_ois = ois_cnt / (ois_sum + (ois_sum == 0));
    out->cover_best = best_cnt / (best_sum + (best_sum == 0));
    b = arg_best(out->ri_th, n, true);
    out->ri_ods_t = out->thresh[b];
    out->ri_ods = out->ri_th[b];
    out->ri_ois = ri_ois;
    b = arg_best(out->voi_th, n, false);
    out->voi_ods_t = out->thresh[b];
    out->voi_ods = out->voi_th[b];
    out->voi_ois = voi_ois;
    free(cnt);
    free(sum);
    return USEG_OK;
oom:
    useg_bsds_region_summary_free(out);
    return ctx->status;
}
