// UnSAM's conquer merge (see merge.h for the algorithm, the tie rule and the
// two merge orders).
//
// Data layout. Node ids run 0..2n-2 (n = h*w patches, then one per merge);
// a merged node takes over the feature slot of its older half, so the f64
// sums and unit means need n*C each, not (2n-1)*C. Each node's adjacency
// list (neighbour id, edge weight) is written once, when the node is made,
// in descending id order, into one pool; a neighbour that has merged since
// is read through union-find (path halving). A live edge (x, y), x < y, is
// always stored in y's list under x's own id: both ends are unchanged since
// y was made, so x was one of y's neighbours then. That lets the pass
// variant enumerate live edges without a hash map.
//
// Two stages. The merge loop (here on the CPU, kernels/cuda/merge.cu on a
// GPU) produces the merge sequence and where each level ends; the levels
// (labels, emission order, up links) are then built from that sequence
// alone by one host function, so both devices share it. Live edges are the
// pairs of clusters that touch across a grid edge, so a level needs only
// the patch partition, replayed by union-find.
//
// Measured against tests/pseudolabel/merge_reference.py, a dict-and-linear-
// scan NumPy implementation of the reference with the same tie rule: same
// merge sequence and levels on synthetic, tied, fp16-rounded and photo
// features; benchmarks/pseudolabel/bench_merge.py for the speed.
#include "merge.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "half.h"
#include "merge_kernel.h"
#include "merge_key.h"

static const double default_thresholds[] = {0.6, 0.5, 0.4, 0.3, 0.2, 0.1};

useg_merge_options useg_merge_default_options(void) {
    return (useg_merge_options){.thresholds = default_thresholds,
                                .n_thresholds = (int)(sizeof default_thresholds / sizeof default_thresholds[0]),
                                .min_size = 4,
                                .order = USEG_MERGE_GREEDY};
}

typedef struct adj_entry {
    int32_t id; // the neighbour when the list was written
    float w;    // weight of the edge to it
} adj_entry;

typedef struct merge_graph {
    useg_ctx *ctx;
    int64_t n, C;
    int32_t next_id;
    double *sum, *mean;             // (n, C) by slot; (C) workspace
    float *unit;                    // (n, C) by slot
    int32_t *slot, *size, *uf;      // (2n-1) by node id
    int32_t *stamp;                 // (2n-1): last node whose neighbours included this one
    int64_t *adj_start;             // (2n-1)
    int32_t *adj_len;               // (2n-1)
    adj_entry *pool;
    size_t pool_len, pool_cap;
    int32_t *gathered;              // (n) neighbours of the node being made
    int32_t *merges;                // (n-1, 2), the caller's arena
    float *merge_weight;            // (n-1)
    int n_merges;
} merge_graph;

static bool is_live(const merge_graph *g, int32_t id) { return g->uf[id] == id; }

// The live node holding node `id`, by path halving over uf (2n-1).
static int32_t find_uf(int32_t *uf, int32_t id) {
    while (uf[id] != id) {
        uf[id] = uf[uf[id]];
        id = uf[id];
    }
    return id;
}

// Dot products in double over eight fixed lanes: independent add chains
// that the compiler keeps in vector registers, with the same sum on every
// run. a and b are float (unit means; the products are exact in double) or
// double (means). About 1 cycle per element with SSE2 (the float to double
// conversion bounds it); the dot products are ~45% of a merge's time.
enum { DOT_LANES = 8 };
_Static_assert(DOT_LANES == 8, "DOT_BODY's final sum adds exactly eight lanes");
#define DOT_BODY                                                                    \
    double s[DOT_LANES] = {0};                                                      \
    int64_t k = 0;                                                                  \
    for (; k + DOT_LANES <= C; k += DOT_LANES)                                      \
        for (int l = 0; l < DOT_LANES; l++) s[l] += (double)a[k + l] * b[k + l];    \
    for (; k < C; k++) s[0] += (double)a[k] * b[k];                                 \
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));

static double dot_f64(const double *a, const double *b, int64_t C) { DOT_BODY }
static double dot_f32(const float *a, const float *b, int64_t C) { DOT_BODY }

// u = m / max(||m||, 1e-12) with m = sum / count (F.normalize of the mean),
// computed in double and stored as float, the reference's precision; float
// also halves the memory the dot products stream through.
// Reciprocals, not divisions: 2C divisions per merge cost ~7% of a merge's
// time (measured). The reference test mirrors the same arithmetic.
static void set_unit(merge_graph *g, int32_t slot, int32_t count) {
    const double *sum = g->sum + slot * g->C;
    double inv_count = 1.0 / count;
    for (int64_t k = 0; k < g->C; k++) g->mean[k] = sum[k] * inv_count;
    double norm = sqrt(dot_f64(g->mean, g->mean, g->C));
    double inv_norm = 1.0 / (norm > 1e-12 ? norm : 1e-12);
    float *u = g->unit + slot * g->C;
    for (int64_t k = 0; k < g->C; k++) u[k] = (float)(g->mean[k] * inv_norm);
}

// Rounded to float like the reference's float32 dot product.
static float weight(const merge_graph *g, int32_t a, int32_t b) {
    return (float)dot_f32(g->unit + g->slot[a] * g->C, g->unit + g->slot[b] * g->C, g->C);
}

// The caller's buffer *buf (cap elements) grown in ctx->scratch to hold `need`.
static useg_status grow(useg_ctx *ctx, void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return USEG_OK;
    size_t new_cap = need > 2 * *cap ? need : 2 * *cap;
    void *p;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, new_cap * elem, &p));
    if (*cap) memcpy(p, *buf, *cap * elem);
    *buf = p;
    *cap = new_cap;
    return USEG_OK;
}

static int cmp_id_desc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x < y) - (x > y);
}

// Merge live neighbours `old` < `young` into a new node: sum the features,
// renormalise, and write the new node's list (every live neighbour of either
// half, descending, with its weight). Returns the new id in *out.
static useg_status merge_nodes(merge_graph *g, int32_t old, int32_t young, float w, int32_t *out) {
    int32_t e = g->next_id++;
    g->uf[e] = e;
    g->uf[old] = g->uf[young] = e;
    g->size[e] = g->size[old] + g->size[young];
    g->slot[e] = g->slot[old];
    double *fe = g->sum + g->slot[e] * g->C;
    const double *fy = g->sum + g->slot[young] * g->C;
    for (int64_t k = 0; k < g->C; k++) fe[k] += fy[k];
    set_unit(g, g->slot[e], g->size[e]);

    int32_t count = 0;
    const int32_t halves[2] = {old, young};
    for (int h = 0; h < 2; h++) {
        const adj_entry *list = g->pool + g->adj_start[halves[h]];
        for (int32_t i = 0; i < g->adj_len[halves[h]]; i++) {
            int32_t r = find_uf(g->uf, list[i].id);
            if (r == e || g->stamp[r] == e) continue;
            g->stamp[r] = e;
            g->gathered[count++] = r;
        }
    }
    qsort(g->gathered, (size_t)count, sizeof *g->gathered, cmp_id_desc);
    USEG_TRY(grow(g->ctx, (void **)&g->pool, &g->pool_cap, g->pool_len + (size_t)count, sizeof *g->pool));
    g->adj_start[e] = (int64_t)g->pool_len;
    g->adj_len[e] = count;
    for (int32_t i = 0; i < count; i++)
        g->pool[g->pool_len++] = (adj_entry){g->gathered[i], weight(g, g->gathered[i], e)};

    g->merges[2 * g->n_merges] = old;
    g->merges[2 * g->n_merges + 1] = young;
    g->merge_weight[g->n_merges++] = w;
    *out = e;
    return USEG_OK;
}

// --- The greedy order: a max-heap of edges with lazy deletion. ---------------

typedef struct edge_heap {
    useg_merge_key *e;
    size_t len, cap;
    double floor; // the last threshold: an edge below it can never merge, so it is not stored
} edge_heap;

static useg_status heap_push(useg_ctx *ctx, edge_heap *h, useg_merge_key x) {
    if ((double)x.w < h->floor) return USEG_OK;
    USEG_TRY(grow(ctx, (void **)&h->e, &h->cap, h->len + 1, sizeof *h->e));
    size_t i = h->len++;
    while (i > 0 && useg_merge_key_before(x, h->e[(i - 1) / 2])) {
        h->e[i] = h->e[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->e[i] = x;
    return USEG_OK;
}

static void heap_pop(edge_heap *h) {
    useg_merge_key x = h->e[--h->len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len) break;
        if (c + 1 < h->len && useg_merge_key_before(h->e[c + 1], h->e[c])) c++;
        if (!useg_merge_key_before(h->e[c], x)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->len) h->e[i] = x;
}

// The new node's edges into the heap (it is the younger end of each).
static useg_status push_node_edges(merge_graph *g, edge_heap *h, int32_t e) {
    const adj_entry *list = g->pool + g->adj_start[e];
    for (int32_t i = 0; i < g->adj_len[e]; i++)
        USEG_TRY(heap_push(g->ctx, h, (useg_merge_key){list[i].w, e, list[i].id}));
    return USEG_OK;
}

// Merge the best live edge while its weight is >= theta.
static useg_status greedy_level(merge_graph *g, edge_heap *h, double theta) {
    while (h->len) {
        useg_merge_key top = h->e[0];
        if (!is_live(g, top.young) || !is_live(g, top.old)) {
            heap_pop(h);
            continue;
        }
        if ((double)top.w < theta) break;
        heap_pop(h);
        int32_t e;
        USEG_TRY(merge_nodes(g, top.old, top.young, top.w, &e));
        USEG_TRY(push_node_edges(g, h, e));
    }
    return USEG_OK;
}

// --- The pass order: mutual best edges merged together. --------------------

static int cmp_merge_key(const void *a, const void *b) {
    useg_merge_key x = *(const useg_merge_key *)a, y = *(const useg_merge_key *)b;
    return useg_merge_key_before(x, y) ? -1 : useg_merge_key_before(y, x) ? 1 : 0;
}

// best (2n-1) and picked (n/2) are workspaces.
static useg_status pass_level(merge_graph *g, double theta, useg_merge_key *best, useg_merge_key *picked) {
    const useg_merge_key none = USEG_MERGE_KEY_NONE;
    for (;;) {
        int32_t made = g->next_id;
        for (int32_t v = 0; v < made; v++) best[v] = none;
        for (int32_t y = 0; y < made; y++) {
            if (!is_live(g, y)) continue;
            const adj_entry *list = g->pool + g->adj_start[y];
            for (int32_t i = 0; i < g->adj_len[y]; i++) {
                int32_t x = list[i].id;
                if (x >= y || !is_live(g, x)) continue;
                useg_merge_key k = {list[i].w, y, x};
                if (useg_merge_key_before(k, best[x])) best[x] = k;
                if (useg_merge_key_before(k, best[y])) best[y] = k;
            }
        }
        size_t n_picked = 0;
        for (int32_t y = 0; y < made; y++) {
            useg_merge_key k = best[y];
            if (k.young == y && (double)k.w >= theta && best[k.old].young == y && best[k.old].old == k.old)
                picked[n_picked++] = k;
        }
        if (!n_picked) return USEG_OK;
        // Ids in key order, so the numbering does not depend on the scan.
        qsort(picked, n_picked, sizeof *picked, cmp_merge_key);
        for (size_t i = 0; i < n_picked; i++) {
            int32_t e;
            USEG_TRY(merge_nodes(g, picked[i].old, picked[i].young, picked[i].w, &e));
        }
    }
}

// --- Levels. -----------------------------------------------------------------

// Level t from the merge sequence alone: the partition after the first
// level_end[t] merges (the CPU and CUDA runs share this). A cluster is
// emitted when it touches another one across a grid edge (it has a live
// edge) and holds >= min_size patches, in the order the reference's dict
// lists them: live edges by creation (younger end ascending, then older end
// descending), the older end of each first. A cluster first appears with
// its edge to its largest smaller neighbour when it has one (it is the
// younger end there), else with its edge to its smallest larger neighbour;
// clusters are sorted by the key of that edge.
typedef struct level_workspace {
    int32_t *uf, *size;  // (2n-1) union-find over node ids, carried from level to level; patch counts
    int32_t *lo, *hi;    // (2n-1) largest smaller / smallest larger neighbour of each cluster
    int32_t *emit_idx;   // (2n-1) cluster index of each emitted cluster
    struct emit_key {
        uint64_t key;
        int32_t node;
    } *order;            // (n)
} level_workspace;

static int cmp_emit_key(const void *a, const void *b) {
    uint64_t x = ((const struct emit_key *)a)->key, y = ((const struct emit_key *)b)->key;
    return (x > y) - (x < y);
}

// (young ascending, old descending, own end: old first) as one integer; ids are < 2^31.
static uint64_t first_edge_key(const level_workspace *ws, int32_t v) {
    bool young = ws->lo[v] >= 0;
    uint64_t y = (uint64_t)(young ? v : ws->hi[v]), o = (uint64_t)(INT32_MAX - (young ? ws->lo[v] : v));
    return y << 32 | o << 1 | (uint64_t)young;
}

static useg_status emit_level(useg_ctx *ctx, int64_t h, int64_t w, double theta, int min_size, useg_arena *a,
                              level_workspace *ws, useg_merge_level *out) {
    int64_t n = h * w;
    for (int64_t p = 0; p < n; p++) {
        int32_t r = find_uf(ws->uf, (int32_t)p);
        ws->lo[r] = -1;
        ws->hi[r] = INT32_MAX;
    }
    for (int64_t p = 0; p < n; p++) {
        int32_t x = find_uf(ws->uf, (int32_t)p);
        const int64_t nb[2] = {p % w + 1 < w ? p + 1 : -1, p / w + 1 < h ? p + w : -1};
        for (int k = 0; k < 2; k++) {
            if (nb[k] < 0) continue;
            int32_t y = find_uf(ws->uf, (int32_t)nb[k]);
            if (x == y) continue;
            int32_t small = x < y ? x : y, large = x < y ? y : x;
            if (small > ws->lo[large]) ws->lo[large] = small;
            if (large < ws->hi[small]) ws->hi[small] = large;
        }
    }
    int32_t count = 0;
    for (int64_t p = 0; p < n; p++) {
        int32_t r = find_uf(ws->uf, (int32_t)p);
        ws->emit_idx[r] = -1;
        if (ws->lo[r] == -2) continue; // already listed
        bool linked = ws->lo[r] >= 0 || ws->hi[r] < INT32_MAX;
        if (linked && ws->size[r] >= min_size) ws->order[count++] = (struct emit_key){first_edge_key(ws, r), r};
        ws->lo[r] = -2;
    }
    qsort(ws->order, (size_t)count, sizeof *ws->order, cmp_emit_key);
    *out = (useg_merge_level){.threshold = theta, .n_clusters = count};
    USEG_TRY(useg_alloc(ctx, a, (size_t)n * sizeof(int32_t), (void **)&out->labels));
    USEG_TRY(useg_alloc(ctx, a, 3 * (size_t)count * sizeof(int32_t), (void **)&out->size));
    out->node = out->size + count;
    out->up = out->node + count;
    for (int32_t i = 0; i < count; i++) {
        int32_t v = ws->order[i].node;
        ws->emit_idx[v] = i;
        out->node[i] = v;
        out->size[i] = ws->size[v];
        out->up[i] = -1;
    }
    for (int64_t p = 0; p < n; p++) out->labels[p] = ws->emit_idx[find_uf(ws->uf, (int32_t)p)];
    return USEG_OK;
}
// up[i] of level t: the level t+1 label of any patch of cluster i (the first).
static void link_levels(useg_merge_result *r, int32_t *first_patch) {
    int64_t n = r->h * r->w;
    for (int t = 0; t + 1 < r->n_levels; t++) {
        const useg_merge_level *L = &r->levels[t];
        for (int32_t i = 0; i < L->n_clusters; i++) first_patch[i] = -1;
        for (int64_t p = n - 1; p >= 0; p--)
            if (L->labels[p] >= 0) first_patch[L->labels[p]] = (int32_t)p;
        for (int32_t i = 0; i < L->n_clusters; i++) L->up[i] = r->levels[t + 1].labels[first_patch[i]];
    }
}

// The levels of r (h, w, n_merges and merges set; levels allocated) from
// level_end (n_levels): the merges done when each level was emitted.
static useg_status build_levels(useg_ctx *ctx, const useg_merge_options *opt, const int32_t *level_end,
                                useg_arena *a, useg_merge_result *r) {
    int64_t n = r->h * r->w, max_nodes = 2 * n - 1;
    level_workspace ws;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, 5 * (size_t)max_nodes * sizeof(int32_t), (void **)&ws.uf));
    ws.size = ws.uf + max_nodes;
    ws.lo = ws.size + max_nodes;
    ws.hi = ws.lo + max_nodes;
    ws.emit_idx = ws.hi + max_nodes;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)n * sizeof *ws.order, (void **)&ws.order));
    for (int32_t v = 0; v < n; v++) {
        ws.uf[v] = v;
        ws.size[v] = 1;
    }
    int32_t done = 0;
    for (int t = 0; t < r->n_levels; t++) {
        USEG_ASSERT(level_end[t] >= done && level_end[t] <= r->n_merges, "useg_merge: level %d ends at merge %d", t,
                    level_end[t]);
        for (; done < level_end[t]; done++) {
            int32_t old = r->merges[2 * done], young = r->merges[2 * done + 1], e = (int32_t)n + done;
            USEG_ASSERT(old >= 0 && old < young && young < e && ws.uf[old] == old && ws.uf[young] == young,
                        "useg_merge: merge %d joins %d and %d", done, old, young);
            ws.uf[e] = ws.uf[old] = ws.uf[young] = e;
            ws.size[e] = ws.size[old] + ws.size[young];
        }
        USEG_TRY(emit_level(ctx, r->h, r->w, opt->thresholds[t], opt->min_size, a, &ws, &r->levels[t]));
    }
    USEG_ASSERT(done == r->n_merges, "useg_merge: %d merges, the last level ends at %d", r->n_merges, done);
    link_levels(r, ws.lo);
    return USEG_OK;
}

// --- Setup. ------------------------------------------------------------------

// f's shape and dtype, its device (`device`, the batch's), and the options.
static useg_status check_args(useg_ctx *ctx, const useg_tensor *f, useg_device device, const useg_merge_options *opt) {
    char buf[96];
    if (f->ndim != 3 || (f->dtype != USEG_F32 && f->dtype != USEG_F16))
        return useg_fail(ctx, USEG_ERR_SHAPE, "useg_merge: features must be an (h, w, C) f32 or f16 tensor, got %s",
                         useg_shape_str(f, buf, sizeof buf));
    if (f->device != device)
        return useg_fail(ctx, USEG_ERR_SHAPE, "useg_merge_batch: features %s on %s, the first grid's on %s",
                         useg_shape_str(f, buf, sizeof buf), useg_device_name(f->device), useg_device_name(device));
    if (f->shape[0] < 1 || f->shape[1] < 1 || f->shape[2] < 1)
        return useg_fail(ctx, USEG_ERR_SHAPE, "useg_merge: features %s: the grid and C must be non-empty",
                         useg_shape_str(f, buf, sizeof buf));
    if (f->shape[0] * f->shape[1] > (INT32_MAX / 2) || f->shape[2] > (INT32_MAX / 2))
        return useg_fail(ctx, USEG_ERR_SHAPE, "useg_merge: features %s: grid too large",
                         useg_shape_str(f, buf, sizeof buf));
    if (opt->n_thresholds < 1 || !opt->thresholds)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_merge: at least one threshold is needed");
    for (int t = 0; t < opt->n_thresholds; t++) {
        double th = opt->thresholds[t];
        if (!isfinite(th) || (t > 0 && !(th < opt->thresholds[t - 1])))
            return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                             "useg_merge: thresholds must be finite and strictly descending (threshold %d is %g)", t,
                             th);
    }
    if (opt->min_size < 1)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_merge: min_size must be >= 1, got %d", opt->min_size);
    if (opt->order != USEG_MERGE_GREEDY && opt->order != USEG_MERGE_PASSES)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_merge: unknown merge order %d", (int)opt->order);
    if (device != USEG_DEVICE_CPU && opt->order != USEG_MERGE_GREEDY)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "useg_merge: the pass order is not supported on %s (greedy only)",
                         useg_device_name(device));
    return USEG_OK;
}

// Patch sums from the features (any strides), refusing NaN and infinity.
static useg_status load_features(merge_graph *g, const useg_tensor *f) {
    int64_t w = f->shape[1];
    for (int64_t p = 0; p < g->n; p++) {
        int64_t y = p / w, x = p % w;
        double *dst = g->sum + p * g->C;
        for (int64_t c = 0; c < g->C; c++) {
            int64_t off = y * f->strides[0] + x * f->strides[1] + c * f->strides[2];
            double v = f->dtype == USEG_F32 ? ((const float *)f->data)[off]
                                            : useg_f16_to_f32(((const uint16_t *)f->data)[off]);
            if (!isfinite(v))
                return useg_fail(g->ctx, USEG_ERR_INVALID_ARG,
                                 "useg_merge: feature (%lld, %lld, %lld) is not finite", (long long)y, (long long)x,
                                 (long long)c);
            dst[c] = v;
        }
    }
    return USEG_OK;
}

// Patches as nodes, their 4-neighbour lists (descending ids: down, right,
// left, up) and weights, computed once per edge.
static useg_status build_grid(merge_graph *g, int64_t h, int64_t w) {
    int64_t n = g->n, max_nodes = 2 * n - 1;
    for (int32_t p = 0; p < n; p++) {
        g->slot[p] = p;
        g->size[p] = 1;
        g->uf[p] = p;
        set_unit(g, p, 1);
    }
    for (int64_t v = 0; v < max_nodes; v++) g->stamp[v] = -1;
    g->next_id = (int32_t)n;
    USEG_TRY(grow(g->ctx, (void **)&g->pool, &g->pool_cap, (size_t)(4 * n), sizeof *g->pool));
    float *right, *down; // (n): weight of the edge to p+1 and to p+w
    USEG_TRY(useg_alloc(g->ctx, &g->ctx->scratch, 2 * (size_t)n * sizeof(float), (void **)&right));
    down = right + n;
    for (int32_t p = 0; p < n; p++) {
        if (p % w + 1 < w) right[p] = weight(g, p, p + 1);
        if (p / w + 1 < h) down[p] = weight(g, p, (int32_t)(p + w));
    }
    for (int32_t p = 0; p < n; p++) {
        int64_t y = p / w, x = p % w;
        g->adj_start[p] = (int64_t)g->pool_len;
        if (y + 1 < h) g->pool[g->pool_len++] = (adj_entry){(int32_t)(p + w), down[p]};
        if (x + 1 < w) g->pool[g->pool_len++] = (adj_entry){p + 1, right[p]};
        if (x > 0) g->pool[g->pool_len++] = (adj_entry){p - 1, right[p - 1]};
        if (y > 0) g->pool[g->pool_len++] = (adj_entry){(int32_t)(p - w), down[p - w]};
        g->adj_len[p] = (int32_t)(g->pool_len - (size_t)g->adj_start[p]);
    }
    return USEG_OK;
}

// The merge sequence of one grid on the CPU into r->merges, ->merge_weight
// and ->n_merges (allocated by the caller), and level_end (n_thresholds).
static useg_status merge_cpu(useg_ctx *ctx, const useg_tensor *features, const useg_merge_options *opt,
                             useg_merge_result *r, int32_t *level_end) {
    int64_t h = features->shape[0], w = features->shape[1], C = features->shape[2];
    int64_t n = h * w, max_nodes = 2 * n - 1;
    merge_graph g = {.ctx = ctx, .n = n, .C = C, .merges = r->merges, .merge_weight = r->merge_weight};
    useg_arena *s = &ctx->scratch;
    USEG_TRY(useg_alloc(ctx, s, (size_t)((n + 1) * C) * sizeof(double), (void **)&g.sum));
    g.mean = g.sum + n * C;
    USEG_TRY(useg_alloc(ctx, s, (size_t)(n * C) * sizeof(float), (void **)&g.unit));
    USEG_TRY(useg_alloc(ctx, s, 4 * (size_t)max_nodes * sizeof(int32_t), (void **)&g.slot));
    g.size = g.slot + max_nodes;
    g.uf = g.size + max_nodes;
    g.stamp = g.uf + max_nodes;
    USEG_TRY(useg_alloc(ctx, s, (size_t)max_nodes * sizeof(int64_t), (void **)&g.adj_start));
    USEG_TRY(useg_alloc(ctx, s, (size_t)max_nodes * sizeof(int32_t), (void **)&g.adj_len));
    USEG_TRY(useg_alloc(ctx, s, (size_t)n * sizeof(int32_t), (void **)&g.gathered));

    USEG_TRY(load_features(&g, features));
    USEG_TRY(build_grid(&g, h, w));

    edge_heap heap = {.floor = opt->thresholds[opt->n_thresholds - 1]};
    useg_merge_key *best = NULL, *picked = NULL;
    if (opt->order == USEG_MERGE_GREEDY) {
        for (int32_t p = 0; p < n; p++) {
            const adj_entry *list = g.pool + g.adj_start[p];
            for (int32_t i = 0; i < g.adj_len[p]; i++)
                if (list[i].id < p) USEG_TRY(heap_push(ctx, &heap, (useg_merge_key){list[i].w, p, list[i].id}));
        }
    } else {
        USEG_TRY(useg_alloc(ctx, s, (size_t)(max_nodes + n / 2 + 1) * sizeof(useg_merge_key), (void **)&best));
        picked = best + max_nodes;
    }
    for (int t = 0; t < opt->n_thresholds; t++) {
        double theta = opt->thresholds[t];
        if (opt->order == USEG_MERGE_GREEDY)
            USEG_TRY(greedy_level(&g, &heap, theta));
        else
            USEG_TRY(pass_level(&g, theta, best, picked));
        level_end[t] = g.n_merges;
    }
    r->n_merges = g.n_merges;
    return USEG_OK;
}

#if USEG_HAVE_CUDA
// The merge sequences of G CUDA grids in one launch (level_end: G rows of n_thresholds).
static useg_status merge_cuda(useg_ctx *ctx, const useg_tensor *const *features, int G,
                              const useg_merge_options *opt, useg_merge_result *out, int32_t *level_end) {
    useg_merge_grid *grids;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)G * sizeof *grids, (void **)&grids));
    for (int i = 0; i < G; i++) {
        const useg_tensor *f = features[i];
        grids[i] = (useg_merge_grid){.features = f->data, .dtype = f->dtype,
                                     .h = f->shape[0], .w = f->shape[1], .C = f->shape[2],
                                     .strides = {f->strides[0], f->strides[1], f->strides[2]},
                                     .merges = out[i].merges, .merge_weight = out[i].merge_weight,
                                     .level_end = level_end + (size_t)i * (size_t)opt->n_thresholds};
    }
    USEG_TRY(useg_merge_greedy_batch_cuda(ctx, grids, G, opt->thresholds, opt->n_thresholds));
    for (int i = 0; i < G; i++) {
        if (grids[i].first_bad >= 0) {
            int64_t C = grids[i].C, w = grids[i].w, b = grids[i].first_bad;
            return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_merge: grid %d: feature (%lld, %lld, %lld) is not finite",
                             i, (long long)(b / C / w), (long long)(b / C % w), (long long)(b % C));
        }
        out[i].n_merges = grids[i].n_merges;
    }
    return USEG_OK;
}
#endif

// out's shell in arena a: levels (unfilled), merges and weights of room h w - 1.
static useg_status result_init(useg_ctx *ctx, const useg_tensor *features, const useg_merge_options *opt,
                               useg_arena *a, useg_merge_result *out) {
    int64_t h = features->shape[0], w = features->shape[1], n = h * w;
    *out = (useg_merge_result){.h = h, .w = w, .n_levels = opt->n_thresholds};
    USEG_TRY(useg_alloc(ctx, a, (size_t)opt->n_thresholds * sizeof *out->levels, (void **)&out->levels));
    USEG_TRY(useg_alloc(ctx, a, 2 * (size_t)(n - 1) * sizeof(int32_t), (void **)&out->merges));
    return useg_alloc(ctx, a, (size_t)(n - 1) * sizeof(float), (void **)&out->merge_weight);
}

static useg_status run_batch(useg_ctx *ctx, const useg_tensor *const *features, int G, const useg_merge_options *opt,
                             useg_arena *a, useg_merge_result *out) {
    int32_t *level_end;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)G * (size_t)opt->n_thresholds * sizeof(int32_t),
                        (void **)&level_end));
    for (int i = 0; i < G; i++) USEG_TRY(result_init(ctx, features[i], opt, a, &out[i]));
    if (features[0]->device == USEG_DEVICE_CPU) {
        for (int i = 0; i < G; i++) {
            useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
            int32_t *ends = level_end + (size_t)i * (size_t)opt->n_thresholds;
            useg_status st = merge_cpu(ctx, features[i], opt, &out[i], ends);
            useg_arena_rewind(&ctx->scratch, mark);
            USEG_TRY(st);
        }
    } else {
#if USEG_HAVE_CUDA
        USEG_TRY(merge_cuda(ctx, features, G, opt, out, level_end));
#else
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "useg_merge: not supported on this device (built without CUDA)");
#endif
    }
    for (int i = 0; i < G; i++) {
        useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
        useg_status st = build_levels(ctx, opt, level_end + (size_t)i * (size_t)opt->n_thresholds, a, &out[i]);
        useg_arena_rewind(&ctx->scratch, mark);
        USEG_TRY(st);
    }
    return USEG_OK;
}

useg_status useg_merge_batch(useg_ctx *ctx, const useg_tensor *const *features, int G, const useg_merge_options *opt,
                             useg_arena *a, useg_merge_result *out) {
    if (!a) a = &ctx->step;
    USEG_ASSERT(a != &ctx->scratch, "useg_merge: the output arena cannot be ctx->scratch (it is rewound)");
    useg_merge_options defaults = useg_merge_default_options();
    if (!opt) opt = &defaults;
    if (G < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "useg_merge_batch: %d grids", G);
    for (int i = 0; i < G; i++) USEG_TRY(check_args(ctx, features[i], features[0]->device, opt));
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    useg_status st = run_batch(ctx, features, G, opt, a, out);
    useg_scratch_rewind(ctx, mark);
    return st;
}

useg_status useg_merge(useg_ctx *ctx, const useg_tensor *features, const useg_merge_options *opt, useg_arena *a,
                       useg_merge_result *out) {
    return useg_merge_batch(ctx, &features, 1, opt, a, out);
}
