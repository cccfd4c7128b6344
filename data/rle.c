// COCO RLE masks: see rle.h for the format. The polygon rasteriser follows
// pycocotools' maskApi rule step by step (the same integer rounding, the same
// crossing test on pixel-centre columns) because any other scan conversion
// differs on boundary pixels and so changes IoUs in the last digits.
#include "rle.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

void useg_rle_free(useg_rle *r) {
    free(r->counts);
    *r = (useg_rle){0};
}

// Take ownership of `counts` (m entries) as the runs of `out`.
static void rle_set(useg_rle *out, uint32_t h, uint32_t w, uint32_t *counts, uint32_t m) {
    *out = (useg_rle){.h = h, .w = w, .m = m, .counts = counts};
}

useg_status useg_rle_from_mask(useg_ctx *ctx, const uint8_t *mask, uint32_t h, uint32_t w, useg_rle *out) {
    uint64_t n = (uint64_t)h * w;
    uint32_t *counts = useg_heap_alloc(ctx, n + 1, sizeof *counts, "RLE counts");
    if (!counts) return ctx->status;
    uint32_t m = 0, run = 0;
    uint8_t prev = 0;
    for (uint32_t x = 0; x < w; x++)
        for (uint32_t y = 0; y < h; y++) {
            uint8_t v = mask[(size_t)y * w + x] != 0;
            if (v != prev) {
                counts[m++] = run;
                run = 0;
                prev = v;
            }
            run++;
        }
    counts[m++] = run;
    rle_set(out, h, w, counts, m);
    return USEG_OK;
}

void useg_rle_to_mask(const useg_rle *r, uint8_t *mask) {
    uint64_t p = 0;
    for (uint32_t i = 0; i < r->m; i++) {
        uint8_t v = i & 1;
        for (uint32_t k = 0; k < r->counts[i]; k++, p++) {
            uint64_t x = p / r->h, y = p % r->h;
            mask[y * r->w + x] = v;
        }
    }
}

static useg_status check_sum(useg_ctx *ctx, const uint32_t *counts, uint32_t m, uint32_t h, uint32_t w) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < m; i++) sum += counts[i];
    if (sum != (uint64_t)h * w)
        return useg_fail(ctx, USEG_ERR_FORMAT, "RLE counts sum to %llu, but the mask is %ux%u (%llu pixels)",
                         (unsigned long long)sum, h, w, (unsigned long long)h * w);
    return USEG_OK;
}

useg_status useg_rle_from_string(useg_ctx *ctx, const char *s, uint32_t h, uint32_t w, useg_rle *out) {
    size_t len = strlen(s);
    uint32_t *counts = useg_heap_alloc(ctx, len, sizeof *counts, "RLE counts");
    if (!counts) return ctx->status;
    uint32_t m = 0;
    size_t p = 0;
    while (p < len) {
        size_t start = p;
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len || k >= 7) {
                free(counts);
                return useg_fail(ctx, USEG_ERR_FORMAT, "RLE string: count at offset %zu is %s", start,
                                 p >= len ? "truncated" : "too long");
            }
            int c = (unsigned char)s[p] - 48;
            if (c < 0 || c > 63) {
                free(counts);
                return useg_fail(ctx, USEG_ERR_FORMAT, "RLE string: character 0x%02x at offset %zu is outside '0'..'o'",
                                 (unsigned char)s[p], p);
            }
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= (int64_t)-1 * ((int64_t)1 << (5 * k)); // sign-extend
        }
        if (m > 2) x += counts[m - 2];
        if (x < 0 || x > (int64_t)h * w) {
            free(counts);
            return useg_fail(ctx, USEG_ERR_FORMAT, "RLE string: count at offset %zu decodes to %lld, outside 0..%llu",
                             start, (long long)x, (unsigned long long)h * w);
        }
        counts[m++] = (uint32_t)x;
    }
    if (check_sum(ctx, counts, m, h, w) != USEG_OK) {
        free(counts);
        return ctx->status;
    }
    rle_set(out, h, w, counts, m);
    return USEG_OK;
}

char *useg_rle_to_string(useg_ctx *ctx, const useg_rle *r) {
    // A 32-bit difference needs at most 7 characters.
    char *s = useg_heap_alloc(ctx, (size_t)r->m * 7 + 1, 1, "RLE string");
    if (!s) return NULL;
    size_t p = 0;
    for (uint32_t i = 0; i < r->m; i++) {
        int64_t x = r->counts[i];
        if (i > 2) x -= r->counts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5; // arithmetic shift: negative differences keep their sign
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = 0;
    return s;
}

useg_status useg_rle_from_counts(useg_ctx *ctx, const uint32_t *counts, uint32_t m, uint32_t h, uint32_t w,
                                 useg_rle *out) {
    USEG_TRY(check_sum(ctx, counts, m, h, w));
    uint32_t *c = useg_heap_alloc(ctx, m, sizeof *c, "RLE counts");
    if (!c) return ctx->status;
    memcpy(c, counts, (size_t)m * sizeof *c);
    rle_set(out, h, w, c, m);
    return USEG_OK;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

// One polygon of k vertices. The boundary is upsampled by 5 and walked edge by
// edge with integer steps along the major axis; wherever the walk moves to a
// new column whose centre is a pixel centre, the first pixel row at or below
// the edge starts (or ends) a run. Sorting those positions in column-major
// order and differencing gives the runs.
static useg_status poly_to_rle(useg_ctx *ctx, const double *xy, uint32_t k, uint32_t h, uint32_t w, useg_rle *out) {
    const double scale = 5;
    int *x = useg_heap_alloc(ctx, (size_t)k + 1, sizeof *x, "polygon");
    int *y = useg_heap_alloc(ctx, (size_t)k + 1, sizeof *y, "polygon");
    int *u = NULL, *v = NULL;
    uint32_t *a = NULL;
    if (!x || !y) goto fail;
    for (uint32_t j = 0; j < k; j++) {
        x[j] = (int)(scale * xy[2 * j] + .5);
        y[j] = (int)(scale * xy[2 * j + 1] + .5);
    }
    x[k] = x[0];
    y[k] = y[0];
    size_t m = 0;
    for (uint32_t j = 0; j < k; j++) {
        int dx = abs(x[j] - x[j + 1]), dy = abs(y[j] - y[j + 1]);
        m += (size_t)(dx > dy ? dx : dy) + 1;
    }
    u = useg_heap_alloc(ctx, m, sizeof *u, "polygon walk");
    v = useg_heap_alloc(ctx, m, sizeof *v, "polygon walk");
    a = useg_heap_alloc(ctx, m + 1, sizeof *a, "polygon runs");
    if (!u || !v || !a) goto fail;
    m = 0;
    for (uint32_t j = 0; j < k; j++) {
        int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
        int dx = abs(xe - xs), dy = abs(ys - ye);
        // Walk from the lower end of the major axis, but emit points in the
        // edge's own direction (t runs backwards when flipped).
        bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            int t = xs; xs = xe; xe = t;
            t = ys; ys = ye; ye = t;
        }
        // A repeated vertex (dx == dy == 0) gives one point whose row is never
        // read (its column equals its neighbours'); pycocotools divides 0 by 0 there.
        double s = dx >= dy ? (dx ? (double)(ye - ys) / dx : 0) : (double)(xe - xs) / dy;
        if (dx >= dy)
            for (int d = 0; d <= dx; d++) {
                int t = flip ? dx - d : d;
                u[m] = t + xs;
                v[m] = (int)(ys + s * t + .5);
                m++;
            }
        else
            for (int d = 0; d <= dy; d++) {
                int t = flip ? dy - d : d;
                v[m] = t + ys;
                u[m] = (int)(xs + s * t + .5);
                m++;
            }
    }
    uint32_t n = 0;
    for (size_t j = 1; j < m; j++) {
        if (u[j] == u[j - 1]) continue;
        double xd = (double)(u[j] < u[j - 1] ? u[j] : u[j] - 1);
        xd = (xd + .5) / scale - .5;
        if (floor(xd) != xd || xd < 0 || xd > (double)w - 1) continue;
        double yd = (double)(v[j] < v[j - 1] ? v[j] : v[j - 1]);
        yd = (yd + .5) / scale - .5;
        if (yd < 0) yd = 0;
        else if (yd > h) yd = h;
        yd = ceil(yd);
        a[n++] = (uint32_t)((int)xd * (int)h + (int)yd);
    }
    a[n++] = h * w;
    qsort(a, n, sizeof *a, cmp_u32);
    uint32_t prev = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t t = a[j];
        a[j] -= prev;
        prev = t;
    }
    // Two crossings at one position cancel: fold a zero-length run into its neighbours.
    uint32_t mo = 0, j = 0;
    a[mo++] = a[j++];
    while (j < n) {
        if (a[j] > 0) a[mo++] = a[j++];
        else if (++j < n) a[mo - 1] += a[j++];
    }
    free(x);
    free(y);
    free(u);
    free(v);
    rle_set(out, h, w, a, mo);
    return USEG_OK;
fail:
    free(x);
    free(y);
    free(u);
    free(v);
    free(a);
    return ctx->status;
}

static useg_status check_size(useg_ctx *ctx, uint32_t h, uint32_t w) {
    if (h == 0 || w == 0 || (uint64_t)h * w >= UINT32_MAX)
        return useg_fail(ctx, USEG_ERR_FORMAT, "mask size %ux%u is empty or too large", h, w);
    return USEG_OK;
}

// Rasterise each polygon and take the union.
static useg_status polys_to_rle(useg_ctx *ctx, const double *const *xy, const uint32_t *k, uint32_t n, uint32_t h,
                                uint32_t w, useg_rle *out) {
    if (n == 0) {
        uint32_t *c = useg_heap_alloc(ctx, 1, sizeof *c, "RLE counts");
        if (!c) return ctx->status;
        c[0] = h * w;
        rle_set(out, h, w, c, 1);
        return USEG_OK;
    }
    useg_rle *parts = useg_heap_zalloc(ctx, n, sizeof *parts, "polygon masks");
    if (!parts) return ctx->status;
    useg_status st = USEG_OK;
    for (uint32_t i = 0; i < n && st == USEG_OK; i++) st = poly_to_rle(ctx, xy[i], k[i], h, w, &parts[i]);
    if (st == USEG_OK) st = useg_rle_merge(ctx, parts, n, false, out);
    for (uint32_t i = 0; i < n; i++) useg_rle_free(&parts[i]);
    free(parts);
    return st;
}

useg_status useg_rle_from_polygons(useg_ctx *ctx, const double *const *xy, const uint32_t *n_xy, uint32_t n_poly,
                                   uint32_t h, uint32_t w, useg_rle *out) {
    USEG_TRY(check_size(ctx, h, w));
    uint32_t *k = useg_heap_alloc(ctx, n_poly, sizeof *k, "polygon sizes");
    if (!k) return ctx->status;
    for (uint32_t i = 0; i < n_poly; i++) {
        k[i] = n_xy[i] / 2;
        for (uint32_t j = 0; j < 2 * k[i]; j++)
            if (!isfinite(xy[i][j]) || fabs(xy[i][j]) > 1e6) {
                free(k);
                return useg_fail(ctx, USEG_ERR_FORMAT, "polygon %u: coordinate %u (%g) is not finite or beyond +-1e6",
                                 i, j, xy[i][j]);
            }
    }
    useg_status st = polys_to_rle(ctx, xy, k, n_poly, h, w, out);
    free(k);
    return st;
}

useg_status useg_rle_from_boxes(useg_ctx *ctx, const double *boxes, uint32_t n, uint32_t h, uint32_t w,
                                useg_rle *out) {
    USEG_TRY(check_size(ctx, h, w));
    double *xy = useg_heap_alloc(ctx, (size_t)n * 8, sizeof *xy, "box polygons");
    const double **polys = useg_heap_alloc(ctx, n, sizeof *polys, "box polygons");
    uint32_t *k = useg_heap_alloc(ctx, n, sizeof *k, "box polygons");
    useg_status st = ctx->status;
    if (xy && polys && k) {
        for (uint32_t i = 0; i < n; i++) {
            const double *b = boxes + 4 * i;
            double xs = b[0], xe = xs + b[2], ys = b[1], ye = ys + b[3];
            double *p = xy + 8 * i;
            p[0] = xs, p[1] = ys, p[2] = xs, p[3] = ye, p[4] = xe, p[5] = ye, p[6] = xe, p[7] = ys;
            polys[i] = p;
            k[i] = 8;
        }
        st = useg_rle_from_polygons(ctx, polys, k, n, h, w, out);
    }
    free(xy);
    free(polys);
    free(k);
    return st;
}

// Walk of one mask's runs for merging: the run index (odd = inside) and what
// is left of it; empty runs are stepped over.
typedef struct run_walk {
    const uint32_t *counts;
    uint32_t m, i, left;
} run_walk;

static void walk_settle(run_walk *r) {
    while (r->left == 0 && r->i + 1 < r->m) r->left = r->counts[++r->i];
}

static useg_status merge2(useg_ctx *ctx, const useg_rle *a, const useg_rle *b, bool intersect, useg_rle *out) {
    uint32_t *c = useg_heap_alloc(ctx, (size_t)a->m + b->m + 1, sizeof *c, "RLE counts");
    if (!c) return ctx->status;
    run_walk ra = {a->counts, a->m, 0, a->m ? a->counts[0] : 0};
    run_walk rb = {b->counts, b->m, 0, b->m ? b->counts[0] : 0};
    uint32_t m = 0, run = 0;
    int cur = 0;
    for (;;) {
        walk_settle(&ra);
        walk_settle(&rb);
        if (ra.left == 0 || rb.left == 0) break;
        uint32_t step = ra.left < rb.left ? ra.left : rb.left;
        int va = ra.i & 1, vb = rb.i & 1;
        int v = intersect ? va && vb : va || vb;
        if (v != cur) {
            c[m++] = run;
            run = 0;
            cur = v;
        }
        run += step;
        ra.left -= step;
        rb.left -= step;
    }
    c[m++] = run;
    rle_set(out, a->h, a->w, c, m);
    return USEG_OK;
}

useg_status useg_rle_merge(useg_ctx *ctx, const useg_rle *rles, uint32_t n, bool intersect, useg_rle *out) {
    USEG_ASSERT(n >= 1, "merge of no masks");
    for (uint32_t i = 1; i < n; i++)
        if (rles[i].h != rles[0].h || rles[i].w != rles[0].w)
            return useg_fail(ctx, USEG_ERR_SHAPE, "merging masks of sizes %ux%u and %ux%u", rles[0].h, rles[0].w,
                             rles[i].h, rles[i].w);
    useg_rle acc;
    USEG_TRY(useg_rle_from_counts(ctx, rles[0].counts, rles[0].m, rles[0].h, rles[0].w, &acc));
    for (uint32_t i = 1; i < n; i++) {
        useg_rle next;
        useg_status st = merge2(ctx, &acc, &rles[i], intersect, &next);
        useg_rle_free(&acc);
        if (st != USEG_OK) return st;
        acc = next;
    }
    *out = acc;
    return USEG_OK;
}

uint64_t useg_rle_area(const useg_rle *r) {
    uint64_t a = 0;
    for (uint32_t i = 1; i < r->m; i += 2) a += r->counts[i];
    return a;
}

void useg_rle_bbox(const useg_rle *r, double bbox[4]) {
    uint32_t h = r->h, w = r->w, m = r->m / 2 * 2;
    if (m == 0 || h == 0) {
        bbox[0] = bbox[1] = bbox[2] = bbox[3] = 0;
        return;
    }
    // Track the first and last pixel of every 1-run; unsigned wrap-around
    // matches pycocotools on degenerate (zero-length) runs.
    uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
    for (uint32_t j = 0; j < m; j++) {
        cc += r->counts[j];
        uint32_t t = cc - j % 2, y = t % h, x = (t - y) / h;
        if (j % 2 == 0) xp = x;
        else if (xp < x) ys = 0, ye = h - 1;
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bbox[0] = xs;
    bbox[2] = xe - xs + 1;
    bbox[1] = ys;
    bbox[3] = ye - ys + 1;
}

uint64_t useg_rle_intersection(const useg_rle *a, const useg_rle *b) {
    const uint32_t *ca = a->counts, *cb = b->counts;
    uint32_t ma = a->m, mb = b->m, ia = 0, ib = 0;
    if (!ma || !mb) return 0;
    // ea / eb: end position of the current run of each mask; odd runs are inside.
    uint64_t ea = ca[0], eb = cb[0], pos = 0, inter = 0;
    while (ia < ma && ib < mb) {
        uint64_t e = ea < eb ? ea : eb;
        if (ia & ib & 1) inter += e - pos;
        pos = e;
        if (ea == e && ++ia < ma) ea += ca[ia];
        if (eb == e && ++ib < mb) eb += cb[ib];
    }
    return inter;
}

double useg_rle_iou(const useg_rle *d, const useg_rle *g, uint64_t area_d, uint64_t area_g, bool crowd) {
    uint64_t i = useg_rle_intersection(d, g);
    if (i == 0) return 0;
    uint64_t u = crowd ? area_d : area_d + area_g - i;
    return (double)i / (double)u;
}

double useg_bbox_iou(const double d[4], const double g[4], bool crowd) {
    double w = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (w <= 0) return 0;
    double h = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (h <= 0) return 0;
    double i = w * h, da = d[2] * d[3], ga = g[2] * g[3];
    return i / (crowd ? da : da + ga - i);
}
