// UnSAM's conquer merge: bottom-up agglomeration of a patch grid into a
// hierarchy of regions, one level per cosine threshold (PAPERS.md 3.3 step 3).
//
// Nodes are clusters of patches with a feature sum f, a patch count a and a
// unit mean u = m / max(||m||, 1e-12), m = f / a (F.normalize of the mean, as
// the reference computes it). Edges join 4-neighbour clusters with weight
// s = u_c . u_d. For each threshold in descending order the best edge is
// merged while s >= threshold; the merged node gets the next node id (patch
// p is node p, merge k makes node h*w + k, as in the reference) and edges to
// every neighbour of either side. After each threshold a level is emitted:
// every cluster that still has a neighbour and holds >= min_size patches.
// On a connected grid that is every cluster unless one cluster covers the
// whole grid, which is never emitted.
//
// The greedy order (USEG_MERGE_GREEDY, the default) is the reference's:
// "best edge" is the maximum of s over all live edges. The reference takes
// the first maximum in its dict's insertion order, i.e. in the order edges
// were created; an edge is created together with its younger end. Ties are
// therefore broken by (s descending, younger id ascending, older id
// descending); the last key reproduces the reference's insertion order for
// the initial grid (left neighbour before the upper one) and, for the edges
// a merge creates, replaces CPython's set iteration order (not a defined
// order) by descending neighbour id. Weights are computed in double and
// rounded to float, the precision of the reference's `torch.dot(...).item()`
// on float32 vectors, so equal clusters give exactly equal weights and the
// tie rule decides. The same rule orders the clusters inside a level (the
// reference lists them in the order of first appearance in its edge dict).
//
// Precision: feature sums are kept in double and unit means are computed in
// double, then stored as float like the reference's normalized_feature.
// The reference adds its fp16 keys in fp16 (sums of up to 1024 keys rounded
// to 11 bits); we do not reproduce that rounding, so on real fp16 keys a
// merge whose weight sits within fp16 noise of a threshold can go the other
// way (PAPERS.md 10.4).
//
// USEG_MERGE_PASSES is the parallel-friendly variant: each pass merges, all
// at once, every pair of live neighbours that are each other's best edge
// (same key order) with s >= threshold, then recomputes. It is
// deterministic but NOT the reference's order: after a merge the greedy
// order can prefer an edge to the new node over an edge a pass merged, so
// hierarchies can differ (tests/pseudolabel measures how often).
//
// Cost: a binary heap with lazy deletion (an entry is stale once either end
// has merged; ids are never reused, so a live pair has exactly one entry)
// instead of the reference's O(E) scan per merge; adjacency lists are
// written once when a node is made and read through union-find, so merging
// never edits a neighbour's list. Single-threaded: one grid is ~1k merges;
// callers parallelise over divide masks.
//
// On a GPU (features on a CUDA device, greedy order only) the merge
// sequence comes from kernels/cuda/merge.cu, one thread block per grid,
// many grids per launch (useg_merge_batch), and is the CPU's bit for bit:
// the same fixed-order dot products in double (eight lanes, the same final
// tree), correctly rounded division and square root, no fused
// multiply-adds, and the same total order of edges, so the same merges,
// weights and node ids; the levels are built from that sequence on the host
// by the code the CPU run uses.
#pragma once

#include <stdint.h>

#include "context.h"
#include "tensor.h"

typedef enum useg_merge_order {
    USEG_MERGE_GREEDY, // the reference: the globally best edge first (default)
    USEG_MERGE_PASSES, // mutual-best pairs merged together, pass by pass
} useg_merge_order;

typedef struct useg_merge_options {
    const double *thresholds; // strictly descending, finite; one level each
    int n_thresholds;         // >= 1
    int min_size;             // smallest cluster emitted, in patches (>= 1)
    useg_merge_order order;
} useg_merge_options;

// The reference's settings: thresholds {0.6, 0.5, 0.4, 0.3, 0.2, 0.1}, min_size 4, greedy.
useg_merge_options useg_merge_default_options(void);

// One level: the clusters alive after merging down to `threshold`.
typedef struct useg_merge_level {
    double threshold;
    int n_clusters;  // clusters emitted at this level (may be 0)
    int32_t *labels; // (h, w): cluster index of each patch in 0..n_clusters-1, -1 when its cluster is not emitted
    int32_t *size;   // (n_clusters): patches in each cluster
    int32_t *node;   // (n_clusters): node id of each cluster
    int32_t *up;     // (n_clusters): index of the cluster at the next level that contains this one
                     // (often the same node), -1 at the last level or when that cluster is not emitted
} useg_merge_level;

// The hierarchy. Levels are nested: a cluster at level t is a union of
// patches of exactly one cluster at every later level where that is emitted.
typedef struct useg_merge_result {
    int64_t h, w;
    int n_levels;
    useg_merge_level *levels; // (n_levels)
    int n_merges;             // node h*w + k was made by merging merges[2k] (older) and merges[2k+1]
    int32_t *merges;          // (n_merges, 2)
    float *merge_weight;      // (n_merges): the weight of the merged edge
} useg_merge_result;

// Run the merge on features (h, w, C) f32 or f16 (the ViT's keys, raw; any
// strides; on the CPU or a CUDA device) with `opt` (NULL: the defaults).
// Everything in *out lives in host arena `a` (ctx->step when NULL; not
// ctx->scratch, which this rewinds). Fails with USEG_ERR_SHAPE for another
// rank or dtype, an empty grid or C = 0, USEG_ERR_INVALID_ARG for a
// non-finite feature, thresholds that are not finite and strictly
// descending, or min_size < 1, and USEG_ERR_UNSUPPORTED for CUDA features
// with the pass order or in a build without CUDA. Deterministic: the same
// input gives the same result on every run and device.
useg_status useg_merge(useg_ctx *ctx, const useg_tensor *features, const useg_merge_options *opt, useg_arena *a,
                       useg_merge_result *out);

// useg_merge on G >= 1 grids (sizes and C may differ), out (G): out[i] is
// useg_merge's result for features[i]. All grids live on one device: on the
// CPU they run one after the other; on a GPU in one launch, one thread block
// per grid (UnSAM's merges of one image's divide masks). Fails as useg_merge
// (naming the grid), and with USEG_ERR_SHAPE when the grids are on
// different devices; on failure out holds nothing usable.
useg_status useg_merge_batch(useg_ctx *ctx, const useg_tensor *const *features, int G, const useg_merge_options *opt,
                             useg_arena *a, useg_merge_result *out);
