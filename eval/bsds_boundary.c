// BSDS500 boundary benchmark (see bsds.h): boundary extraction, thinning,
// the pixel correspondence and the precision / recall summaries of the
// benchmark's evaluation_bdry_image, correspondPixels and collect_eval_bdry.
//
// Thinning is MATLAB's bwmorph(b, 'thin', Inf) (Lam, Lee & Suen 1992, p. 879):
// two parallel subiterations per pass, each deleting the pixels whose 3x3
// neighbourhood x1..x8 (x1 east, counter-clockwise, north = the row above)
// has exactly one 8-connected run of neighbours (G1), 2 <= min(n1, n2) <= 3
// (G2), and (x2 | x3 | !x8) & x1 == 0 (G3, first) or (x6 | x7 | !x4) & x5 == 0
// (G3', second); passes repeat until nothing changes. Outside the image is 0.
//
// Correspondence (correspondPixels with maxDist 0.0075, outlierCost 100):
// the tolerance is r = max_dist * sqrt(H^2 + W^2) pixels; only pixels with a
// partner within r take part. Pixels i (machine) and j (human) at distance
// d <= r may pair at cost rint(100 d); leaving a pixel unpaired costs
// ow = ceil(100 * 100 r), so the optimum pairs as many pixels as it can and
// then prefers short pairs. The benchmark solves this as a perfect
// assignment on 2 (n1 + n2) nodes: machine pixels plus "outlier" copies of
// the human ones on one side, and the reverse on the other, where a pixel
// reaches only 6 random outliers (and outliers 6 random outliers) at cost
// ow, with a diagonal fallback at 100 ow. USEG_BSDS_MATCH_SPARSE builds that
// same graph (our PCG32 in place of its RNG, so not the same draws) and
// solves it exactly; USEG_BSDS_MATCH_EXACT gives every machine pixel a
// private outlier column, which is the unrestricted optimum (the human side
// then costs a constant). Both use useg_sparse_assignment (integer costs,
// exact); which optimum wins a tie differs from the benchmark's CSA solver.
//
// Measured against the benchmark's own outputs (bench_reference_data,
// tests/eval/test_bsds.py boundary): its four runs test_1..test_4 score the
// same thinned maps (ours are identical for all four inputs) and disagree
// among themselves by up to 1.0e-4 in ODS F, 5.7e-4 in eval_bdry.txt and
// 1.4e-3 in per-image R / P. We differ from each by at most 1.1e-4 in ODS F,
// 1.5e-4 in OIS F, 5.7e-4 in eval_bdry.txt, 1.1e-3 per image (sparse, seed
// 0; seeds 1..3 alike), and 1.9e-4, 3.4e-4, 4.8e-4, 1.3e-3 (exact, whose
// recall is 2e-4..5e-4 above every run's: the optimum pairs more pixels).
#include "bsds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "hungarian.h"
#include "rng.h"

enum { OUTLIER_DEGREE = 6, COST_SCALE = 100 };

useg_bsds_boundary_params useg_bsds_boundary_defaults(void) {
    return (useg_bsds_boundary_params){.max_dist = 0.0075, .thin = true, .match = USEG_BSDS_MATCH_SPARSE};
}

useg_status useg_bsds_pb_from_ucm(useg_ctx *ctx, const double *ucm2, uint32_t h2, uint32_t w2, double **pb,
                                  uint32_t *h, uint32_t *w) {
    if (h2 < 3 || w2 < 3 || h2 % 2 == 0 || w2 % 2 == 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "ucm2 of %ux%u is not in double-size (2H+1, 2W+1) form", h2, w2);
    *h = h2 / 2;
    *w = w2 / 2;
    *pb = useg_heap_alloc(ctx, (size_t)*h * *w, sizeof **pb, "boundary map");
    if (!*pb) return ctx->status;
    for (uint32_t y = 0; y < *h; y++)
        for (uint32_t x = 0; x < *w; x++) (*pb)[(size_t)y * *w + x] = ucm2[(size_t)(2 * y + 2) * w2 + 2 * x + 2];
    return USEG_OK;
}

void useg_bsds_boundary_threshold(const double *pb, uint32_t h, uint32_t w, const double *thresh, int n,
                                  uint8_t *maps) {
    size_t npx = (size_t)h * w;
    for (int t = 0; t < n; t++)
        for (size_t i = 0; i < npx; i++) maps[t * npx + i] = pb[i] >= thresh[t];
}

void useg_bsds_seg_boundary(const useg_label_map *seg, uint8_t *bdry) {
    uint32_t h = seg->h, w = seg->w;
    const int32_t *l = seg->labels;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            bool right = x + 1 < w, down = y + 1 < h;
            bdry[i] = (right && l[i] != l[i + 1]) || (down && l[i] != l[i + w]) ||
                      (right && down && (l[i + w] != l[i + w + 1] || l[i + 1] != l[i + w + 1]));
        }
}

// ---- thinning -----------------------------------------------------------------

// del[s][code]: delete a pixel with neighbourhood `code` in subiteration s.
// Bit k of code is x(k+1): east, north-east, north, ..., south-east.
static void thin_tables(uint8_t del[2][256]) {
    for (int code = 0; code < 256; code++) {
        bool x[9];
        for (int k = 0; k < 8; k++) x[k + 1] = (code >> k) & 1;
        int runs = 0, n1 = 0, n2 = 0;
        for (int i = 1; i <= 4; i++) {
            int odd = 2 * i - 1, even = 2 * i, next = i == 4 ? 1 : 2 * i + 1;
            runs += !x[odd] && (x[even] || x[next]);
            n1 += x[odd] || x[even];
            n2 += x[even] || x[next];
        }
        int nmin = n1 < n2 ? n1 : n2;
        bool g12 = runs == 1 && nmin >= 2 && nmin <= 3;
        del[0][code] = g12 && !((x[2] || x[3] || !x[8]) && x[1]);
        del[1][code] = g12 && !((x[6] || x[7] || !x[4]) && x[5]);
    }
}

static int neighbourhood(const uint8_t *m, uint32_t h, uint32_t w, uint32_t y, uint32_t x) {
    static const int dy[8] = {0, -1, -1, -1, 0, 1, 1, 1}, dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
    int code = 0;
    for (int k = 0; k < 8; k++) {
        int64_t yy = (int64_t)y + dy[k], xx = (int64_t)x + dx[k];
        if (yy >= 0 && xx >= 0 && yy < h && xx < w && m[yy * w + xx]) code |= 1 << k;
    }
    return code;
}

// Thin m (H, W) in place; doomed: H * W scratch indices.
static void thin(uint8_t *m, uint32_t h, uint32_t w, const uint8_t del[2][256], size_t *doomed) {
    for (bool changed = true; changed;) {
        changed = false;
        for (int s = 0; s < 2; s++) {
            size_t n = 0;
            for (uint32_t y = 0; y < h; y++)
                for (uint32_t x = 0; x < w; x++)
                    if (m[(size_t)y * w + x] && del[s][neighbourhood(m, h, w, y, x)]) doomed[n++] = (size_t)y * w + x;
            for (size_t k = 0; k < n; k++) m[doomed[k]] = 0;
            changed |= n > 0;
        }
    }
}

// ---- correspondence -------------------------------------------------------------

typedef struct offset {
    int dy, dx;
    int64_t cost;
} offset;

typedef struct arc {
    int32_t row, col;
    int64_t cost;
} arc;

// Growable arc list, then CSR by row for useg_sparse_assignment.
typedef struct arc_list {
    arc *a;
    size_t n, cap;
} arc_list;

static bool add_arc(useg_ctx *ctx, arc_list *l, int32_t row, int32_t col, int64_t cost) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        arc *g = useg_heap_realloc(ctx, l->a, cap, sizeof *g, "matching arcs");
        if (!g) return false;
        l->a = g;
        l->cap = cap;
    }
    l->a[l->n++] = (arc){row, col, cost};
    return true;
}

// k distinct values from [0, n), k <= n, into out (correspondPixels' kOfN).
static void k_of_n(useg_rng *rng, int k, uint32_t n, uint32_t *out) {
    for (int a = 0; a < k; a++) {
        bool dup;
        do {
            out[a] = useg_rng_below(rng, n);
            dup = false;
            for (int b = 0; b < a; b++) dup |= out[b] == out[a];
        } while (dup);
    }
}

// correspondPixels' outlier arcs on the 2 (n1 + n2) node graph: rows are
// machine pixels [0, n1) then outliers of the human pixels [n1, n1 + n2);
// columns are human pixels [0, n2) then outliers of the machine ones.
static bool add_sparse_outliers(useg_ctx *ctx, arc_list *l, int32_t n1, int32_t n2, int64_t ow, useg_rng *rng) {
    uint32_t pick[OUTLIER_DEGREE];
    int d1 = n1 - 1 < OUTLIER_DEGREE ? n1 - 1 : OUTLIER_DEGREE, d2 = n2 - 1 < OUTLIER_DEGREE ? n2 - 1 : OUTLIER_DEGREE;
    int32_t nmin = n1 < n2 ? n1 : n2, nmax = n1 < n2 ? n2 : n1;
    int d3 = nmin < OUTLIER_DEGREE ? nmin : OUTLIER_DEGREE;
    for (int32_t i = 0; i < n1; i++) { // machine pixel -> another machine pixel's outlier
        k_of_n(rng, d1, (uint32_t)n1 - 1, pick);
        for (int a = 0; a < d1; a++)
            if (!add_arc(ctx, l, i, n2 + (int32_t)pick[a] + ((int32_t)pick[a] >= i), ow)) return false;
    }
    for (int32_t j = 0; j < n2; j++) { // another human pixel's outlier -> human pixel
        k_of_n(rng, d2, (uint32_t)n2 - 1, pick);
        for (int a = 0; a < d2; a++)
            if (!add_arc(ctx, l, n1 + (int32_t)pick[a] + ((int32_t)pick[a] >= j), j, ow)) return false;
    }
    for (int32_t i = 0; i < nmax; i++) { // outlier -> outlier
        k_of_n(rng, d3, (uint32_t)nmin, pick);
        for (int a = 0; a < d3; a++) {
            int32_t j = (int32_t)pick[a];
            if (!add_arc(ctx, l, n1 < n2 ? n1 + i : n1 + j, n1 < n2 ? n2 + j : n2 + i, ow)) return false;
        }
    }
    for (int32_t i = 0; i < n1; i++) // the costly diagonal that keeps a perfect assignment possible
        if (!add_arc(ctx, l, i, n2 + i, ow * COST_SCALE)) return false;
    for (int32_t j = 0; j < n2; j++)
        if (!add_arc(ctx, l, n1 + j, j, ow * COST_SCALE)) return false;
    return true;
}

// Solve the assignment of l's arcs (rows x cols) into col_of_row.
static useg_status solve(useg_ctx *ctx, const arc_list *l, int32_t rows, int32_t cols, int32_t *col_of_row) {
    int64_t *start = useg_heap_zalloc(ctx, (size_t)rows + 2, sizeof *start, "matching arcs");
    int32_t *col = useg_heap_alloc(ctx, l->n, sizeof *col, "matching arcs");
    int64_t *cost = useg_heap_alloc(ctx, l->n, sizeof *cost, "matching arcs");
    useg_status st = start && col && cost ? USEG_OK : ctx->status;
    if (st == USEG_OK) {
        for (size_t k = 0; k < l->n; k++) start[l->a[k].row + 2]++;
        for (int32_t r = 0; r < rows; r++) start[r + 2] += start[r + 1];
        for (size_t k = 0; k < l->n; k++) {
            int64_t at = start[l->a[k].row + 1]++;
            col[at] = l->a[k].col;
            cost[at] = l->a[k].cost;
        }
        st = useg_sparse_assignment(ctx, rows, cols, start, col, cost, col_of_row, NULL);
    }
    free(start);
    free(col);
    free(cost);
    return st;
}

// Pixels of b1 and b2 (H, W) with a partner within the offsets: id1 / id2
// get node numbers in row-major order, -1 elsewhere.
static void number_nodes(const uint8_t *b1, const uint8_t *b2, uint32_t h, uint32_t w, const offset *offs, int n_off,
                         int32_t *id1, int32_t *id2, int32_t *n1, int32_t *n2) {
    size_t npx = (size_t)h * w;
    for (size_t i = 0; i < npx; i++) id1[i] = id2[i] = -1;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            if (!b1[(size_t)y * w + x]) continue;
            for (int k = 0; k < n_off; k++) {
                int64_t yy = (int64_t)y + offs[k].dy, xx = (int64_t)x + offs[k].dx;
                if (yy < 0 || xx < 0 || yy >= h || xx >= w || !b2[yy * w + xx]) continue;
                id1[(size_t)y * w + x] = id2[yy * w + xx] = 0;
            }
        }
    *n1 = *n2 = 0;
    for (size_t i = 0; i < npx; i++) {
        if (id1[i] == 0) id1[i] = (*n1)++;
        else id1[i] = -1;
        if (id2[i] == 0) id2[i] = (*n2)++;
        else id2[i] = -1;
    }
}

// Pair the n1 machine nodes (pixels pix1) with the n2 human ones; matched1
// gets 1 at paired machine pixels, *n_matched the number of pairs.
static useg_status match_nodes(useg_ctx *ctx, const size_t *pix1, int32_t n1, int32_t n2, const int32_t *id2,
                               uint32_t h, uint32_t w, const offset *offs, int n_off, int64_t ow,
                               const useg_bsds_boundary_params *p, useg_rng *rng, uint8_t *matched1,
                               int64_t *n_matched) {
    bool exact = p->match == USEG_BSDS_MATCH_EXACT;
    int32_t rows = exact ? n1 : n1 + n2;
    arc_list arcs = {0};
    bool ok = true;
    for (int32_t a = 0; ok && a < n1; a++) {
        uint32_t y = (uint32_t)(pix1[a] / w), x = (uint32_t)(pix1[a] % w);
        for (int k = 0; ok && k < n_off; k++) {
            int64_t yy = (int64_t)y + offs[k].dy, xx = (int64_t)x + offs[k].dx;
            if (yy >= 0 && xx >= 0 && yy < h && xx < w && id2[yy * w + xx] >= 0)
                ok = add_arc(ctx, &arcs, a, id2[yy * w + xx], offs[k].cost);
        }
        if (ok && exact) ok = add_arc(ctx, &arcs, a, n2 + a, ow); // a's own way out
    }
    if (ok && !exact) ok = add_sparse_outliers(ctx, &arcs, n1, n2, ow, rng);
    int32_t *col_of_row = ok ? useg_heap_alloc(ctx, (size_t)rows, sizeof *col_of_row, "matching") : NULL;
    useg_status st = col_of_row ? solve(ctx, &arcs, rows, n1 + n2, col_of_row) : ctx->status;
    for (int32_t a = 0; st == USEG_OK && a < n1; a++)
        if (col_of_row[a] < n2) {
            matched1[pix1[a]] = 1;
            ++*n_matched;
        }
    free(arcs.a);
    free(col_of_row);
    return st;
}

// Match machine map b1 with human map b2 (H, W): matched1 (H, W) gets 1 at
// machine pixels paired with a human one; *n_matched the number of pairs.
static useg_status correspond(useg_ctx *ctx, const uint8_t *b1, const uint8_t *b2, uint32_t h, uint32_t w,
                              const useg_bsds_boundary_params *p, useg_rng *rng, uint8_t *matched1,
                              int64_t *n_matched) {
    double r = p->max_dist * sqrt((double)h * h + (double)w * w);
    int64_t ow = (int64_t)ceil(100.0 * r * COST_SCALE);
    int rad = (int)ceil(r), n_off = 0;
    size_t npx = (size_t)h * w;
    memset(matched1, 0, npx);
    *n_matched = 0;
    offset *offs = useg_heap_alloc(ctx, (size_t)(2 * rad + 1) * (2 * rad + 1), sizeof *offs, "match offsets");
    int32_t *id1 = useg_heap_alloc(ctx, npx, sizeof *id1, "matching nodes");
    int32_t *id2 = useg_heap_alloc(ctx, npx, sizeof *id2, "matching nodes");
    size_t *pix1 = NULL;
    int32_t n1 = 0, n2 = 0;
    useg_status st = offs && id1 && id2 ? USEG_OK : ctx->status;
    if (st == USEG_OK) {
        for (int dy = -rad; dy <= rad; dy++)
            for (int dx = -rad; dx <= rad; dx++)
                if ((double)(dy * dy + dx * dx) <= r * r)
                    offs[n_off++] = (offset){dy, dx, (int64_t)rint(sqrt((double)(dy * dy + dx * dx)) * COST_SCALE)};
        number_nodes(b1, b2, h, w, offs, n_off, id1, id2, &n1, &n2);
    }
    if (st == USEG_OK && n1 > 0 && !(pix1 = useg_heap_alloc(ctx, (size_t)n1, sizeof *pix1, "matching nodes")))
        st = ctx->status;
    if (st == USEG_OK && n1 > 0) {
        for (size_t i = 0; i < npx; i++)
            if (id1[i] >= 0) pix1[id1[i]] = i;
        st = match_nodes(ctx, pix1, n1, n2, id2, h, w, offs, n_off, ow, p, rng, matched1, n_matched);
    }
    free(offs);
    free(id1);
    free(id2);
    free(pix1);
    return st;
}

// ---- one image ------------------------------------------------------------------

void useg_bsds_boundary_image_free(useg_bsds_boundary_image *r) {
    free(r->thresh);
    free(r->cnt_r);
    free(r->sum_r);
    free(r->cnt_p);
    free(r->sum_p);
    *r = (useg_bsds_boundary_image){0};
}

static int64_t count_nonzero(const uint8_t *m, size_t n) {
    int64_t c = 0;
    for (size_t i = 0; i < n; i++) c += m[i] != 0;
    return c;
}

// Score map t of `maps` against every annotator (one thread's work).
static useg_status score_map(useg_ctx *ctx, const uint8_t *map, uint32_t h, uint32_t w, const uint8_t *gts, int n_gt,
                             const useg_bsds_boundary_params *p, const uint8_t del[2][256], uint64_t stream,
                             double counts[4]) {
    size_t npx = (size_t)h * w;
    uint8_t *m = useg_heap_alloc(ctx, npx, 1, "boundary map");
    uint8_t *acc = useg_heap_zalloc(ctx, npx, 1, "boundary matches");
    uint8_t *matched = useg_heap_alloc(ctx, npx, 1, "boundary matches");
    size_t *doomed = useg_heap_alloc(ctx, npx, sizeof *doomed, "thinning");
    useg_status st = m && acc && matched && doomed ? USEG_OK : ctx->status;
    if (st == USEG_OK) {
        for (size_t i = 0; i < npx; i++) m[i] = map[i] != 0;
        if (p->thin) thin(m, h, w, del, doomed);
        counts[0] = counts[1] = 0;
        for (int g = 0; g < n_gt && st == USEG_OK; g++) {
            useg_rng rng;
            useg_rng_seed(&rng, p->seed, stream * (uint64_t)n_gt + (uint64_t)g);
            int64_t n_matched;
            st = correspond(ctx, m, gts + g * npx, h, w, p, &rng, matched, &n_matched);
            for (size_t i = 0; i < npx; i++) acc[i] |= matched[i];
            counts[0] += (double)n_matched;
            counts[1] += (double)count_nonzero(gts + g * npx, npx);
        }
        counts[2] = (double)count_nonzero(acc, npx);
        counts[3] = (double)count_nonzero(m, npx);
    }
    free(m);
    free(acc);
    free(matched);
    free(doomed);
    return st;
}

useg_status useg_bsds_boundary_image_eval(useg_ctx *ctx, const uint8_t *maps, int n, const double *thresh,
                                          uint32_t h, uint32_t w, const useg_label_map *gts, int n_gt,
                                          const useg_bsds_boundary_params *p, useg_bsds_boundary_image *out) {
    *out = (useg_bsds_boundary_image){.n = n};
    if (n < 1 || n_gt < 1)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "boundary benchmark of %d maps against %d human maps", n, n_gt);
    if (!(p->max_dist > 0 && p->max_dist < 1))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "boundary tolerance %g is not a fraction of the diagonal in (0, 1)",
                         p->max_dist);
    for (int g = 0; g < n_gt; g++)
        if (gts[g].h != h || gts[g].w != w)
            return useg_fail(ctx, USEG_ERR_SHAPE, "boundary maps are %ux%u but human boundary map %d is %ux%u", w, h,
                             g + 1, gts[g].w, gts[g].h);
    size_t npx = (size_t)h * w;
    uint8_t *gt = useg_heap_alloc(ctx, (size_t)n_gt * npx, 1, "human boundary maps");
    double *counts = useg_heap_alloc(ctx, (size_t)n * 4, sizeof *counts, "boundary counts");
    double **fields[] = {&out->thresh, &out->cnt_r, &out->sum_r, &out->cnt_p, &out->sum_p};
    useg_status st = gt && counts ? USEG_OK : ctx->status;
    for (size_t f = 0; st == USEG_OK && f < sizeof fields / sizeof fields[0]; f++)
        if (!(*fields[f] = useg_heap_zalloc(ctx, (size_t)n, sizeof(double), "boundary scores"))) st = ctx->status;
    if (st != USEG_OK) goto done;
    for (int g = 0; g < n_gt; g++)
        for (size_t i = 0; i < npx; i++) gt[g * npx + i] = gts[g].labels[i] != 0;
    uint8_t del[2][256];
    thin_tables(del);
    // Maps are independent: one per thread, errors kept by the lowest map index.
    useg_first_error first = USEG_FIRST_ERROR_INIT;
#pragma omp parallel
    {
        useg_ctx local;
        useg_ctx_init(&local, NULL);
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < n; t++)
            if (score_map(&local, maps + t * npx, h, w, gt, n_gt, p, del, (uint64_t)t, counts + 4 * t) != USEG_OK)
                useg_first_error_keep(&first, t, &local);
        useg_ctx_free(&local);
    }
    st = useg_first_error_report(ctx, &first);
    if (st != USEG_OK) goto done;
    for (int t = 0; t < n; t++) {
        out->thresh[t] = thresh[t];
        out->cnt_r[t] = counts[4 * t];
        out->sum_r[t] = counts[4 * t + 1];
        out->cnt_p[t] = counts[4 * t + 2];
        out->sum_p[t] = counts[4 * t + 3];
    }
done:
    free(gt);
    free(counts);
    if (st != USEG_OK) useg_bsds_boundary_image_free(out);
    return st;
}

// ---- data-set summary -------------------------------------------------------------

static double fmeasure(double r, double p) { return 2 * p * r / (p + r + ((p + r) == 0)); }

static double ratio(double cnt, double sum) { return cnt / (sum + (sum == 0)); }

// collect_eval_bdry's maxF: the best F along the straight segments between
// consecutive (t, R, P) points, sampled at linspace(0, 1, 100) on each.
static void max_f(const double *t, const double *r, const double *p, int n, double best[4]) {
    best[0] = t[0];
    best[1] = r[0];
    best[2] = p[0];
    best[3] = fmeasure(r[0], p[0]);
    for (int i = 1; i < n; i++)
        for (int k = 0; k < 100; k++) {
            double d = k == 99 ? 1.0 : k / 99.0;
            double rr = r[i] * d + r[i - 1] * (1 - d), pp = p[i] * d + p[i - 1] * (1 - d), f = fmeasure(rr, pp);
            if (f > best[3]) {
                best[0] = t[i] * d + t[i - 1] * (1 - d);
                best[1] = rr;
                best[2] = pp;
                best[3] = f;
            }
        }
}

// Area under P(R): the distinct recalls sorted (with the precision of the
// last threshold holding each, as MATLAB's unique did), linear
// interpolation at R = 0, 0.01, ..., 1, zero outside the measured range.
static double pr_area(const double *r, const double *p, int n, double *ru, double *pu) {
    int m = 0;
    for (int i = 0; i < n; i++) { // insertion into the sorted distinct list
        int k = 0;
        while (k < m && ru[k] < r[i]) k++;
        if (k < m && ru[k] == r[i]) {
            pu[k] = p[i];
            continue;
        }
        memmove(ru + k + 1, ru + k, (size_t)(m - k) * sizeof *ru);
        memmove(pu + k + 1, pu + k, (size_t)(m - k) * sizeof *pu);
        ru[k] = r[i];
        pu[k] = p[i];
        m++;
    }
    if (m < 2) return 0;
    double area = 0;
    for (int s = 0; s <= 100; s++) {
        double x = s * 0.01;
        if (x < ru[0] || x > ru[m - 1]) continue;
        int k = 0;
        while (k + 2 < m && x > ru[k + 1]) k++;
        area += pu[k] + (x - ru[k]) * (pu[k + 1] - pu[k]) / (ru[k + 1] - ru[k]);
    }
    return area * 0.01;
}

void useg_bsds_boundary_summary_free(useg_bsds_boundary_summary *s) {
    double *arrs[] = {s->thresh, s->r_th, s->p_th, s->f_th, s->img_t, s->img_r, s->img_p, s->img_f};
    for (size_t f = 0; f < sizeof arrs / sizeof arrs[0]; f++) free(arrs[f]);
    *s = (useg_bsds_boundary_summary){0};
}

useg_status useg_bsds_boundary_collect(useg_ctx *ctx, const useg_bsds_boundary_image *imgs, int n_img,
                                       useg_bsds_boundary_summary *out) {
    if (n_img < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "boundary benchmark over no images");
    int n = imgs[0].n;
    for (int i = 1; i < n_img; i++)
        if (imgs[i].n != n)
            return useg_fail(ctx, USEG_ERR_SHAPE, "image %d has %d boundary maps, image 1 has %d", i + 1, imgs[i].n, n);
    *out = (useg_bsds_boundary_summary){.n = n};
    double **per_t[] = {&out->thresh, &out->r_th, &out->p_th, &out->f_th};
    double **per_img[] = {&out->img_t, &out->img_r, &out->img_p, &out->img_f};
    // Scratch: 4 totals per threshold, then one image's R and P, then the PR-area lists.
    double *tot = useg_heap_zalloc(ctx, (size_t)n * 8, sizeof *tot, "boundary summary");
    useg_status st = tot ? USEG_OK : ctx->status;
    for (size_t f = 0; st == USEG_OK && f < 4; f++)
        if (!(*per_t[f] = useg_heap_zalloc(ctx, (size_t)n, sizeof(double), "boundary summary")) ||
            !(*per_img[f] = useg_heap_zalloc(ctx, (size_t)n_img, sizeof(double), "boundary summary")))
            st = ctx->status;
    if (st != USEG_OK) {
        free(tot);
        useg_bsds_boundary_summary_free(out);
        return st;
    }
    double *cnt_r = tot, *sum_r = tot + n, *cnt_p = tot + 2 * n, *sum_p = tot + 3 * n;
    double *r = tot + 4 * n, *p = tot + 5 * n, *ru = tot + 6 * n, *pu = tot + 7 * n;
    double ois[4] = {0};
    for (int i = 0; i < n_img; i++) {
        const useg_bsds_boundary_image *im = &imgs[i];
        int b = 0;
        for (int t = 0; t < n; t++) {
            r[t] = ratio(im->cnt_r[t], im->sum_r[t]);
            p[t] = ratio(im->cnt_p[t], im->sum_p[t]);
            if (fmeasure(r[t], p[t]) > fmeasure(r[b], p[b])) b = t;
            cnt_r[t] += im->cnt_r[t];
            sum_r[t] += im->sum_r[t];
            cnt_p[t] += im->cnt_p[t];
            sum_p[t] += im->sum_p[t];
        }
        double best[4];
        max_f(im->thresh, r, p, n, best);
        out->img_t[i] = best[0];
        out->img_r[i] = best[1];
        out->img_p[i] = best[2];
        out->img_f[i] = best[3];
        ois[0] += im->cnt_r[b];
        ois[1] += im->sum_r[b];
        ois[2] += im->cnt_p[b];
        ois[3] += im->sum_p[b];
    }
    for (int t = 0; t < n; t++) {
        out->thresh[t] = imgs[0].thresh[t];
        out->r_th[t] = ratio(cnt_r[t], sum_r[t]);
        out->p_th[t] = ratio(cnt_p[t], sum_p[t]);
        out->f_th[t] = fmeasure(out->r_th[t], out->p_th[t]);
    }
    double best[4];
    max_f(out->thresh, out->r_th, out->p_th, n, best);
    out->ods_t = best[0];
    out->ods_r = best[1];
    out->ods_p = best[2];
    out->ods_f = best[3];
    out->ois_r = ratio(ois[0], ois[1]);
    out->ois_p = ratio(ois[2], ois[3]);
    out->ois_f = fmeasure(out->ois_r, out->ois_p);
    out->ap = pr_area(out->r_th, out->p_th, n, ru, pu);
    free(tot);
    return USEG_OK;
}
