// The permutohedral lattice filter and the dense CRF's mean field on the GPU
// (kernels/permutohedral.h, kernels/dense_crf.h): the CUDA twins of
// kernels/permutohedral.c and pseudolabel/crf.c's inference loop.
//
// Build. Each point's enclosing simplex comes from the CPU's own code
// (lattice_point.h, one thread per point), so corner keys and barycentric
// weights are the CPU's bit for bit. The N (d+1) corner entries are then
// sorted by key, least significant word first, with CUB's stable radix sort
// (d passes of 32 bits), so equal keys end up adjacent and, within a key, in
// entry order = increasing point order: exactly the order in which the CPU's
// splat index visits them. A scan over "key differs from the previous one"
// numbers the vertices; a vertex's blur neighbours are found by binary search
// of the neighbour key among the sorted vertex keys (next from prev, as the
// CPU fills them). No hash table, no atomics: the lattice is the same on
// every run. Slots are numbered in key order rather than the CPU's order of
// first appearance; splat, blur and slice do not depend on the numbering.
//
// Filter. Splat (one thread per vertex and value: the vertex's points in
// increasing order), blur along each axis (v + (prev + next) / 2), slice
// (one thread per point and value, corners in order, densecrf's alpha
// placement by group size): each output is gathered, in the CPU's order.
// This file is compiled with -fmad=false (kernels/cuda/meson.build), so no
// product is fused into a sum and the rounding is the CPU's.
//
// Mean field. crf.c's loop: features / sigma in f32, per kernel the
// normaliser 1 / sqrt(filter(1) + 1e-20) in double, each iteration
// tmp = -U - sum_k (-w_k) n (filter(n Q)), Q = softmax(tmp) per point and
// problem; G problems sharing the image are filtered together as G L values,
// each group rounded as on its own (crf.h's batch contract).
//
// Not yet run on a GPU: built for sm_80 / sm_90; tests/cuda/test_cuda_crf.c
// holds the comparison with the CPU lattice and CRF, and
// tests/cuda/test_cuda_host.cu checks the key order and search on the host.
#include <cub/cub.cuh>
#include <math.h>

#include "cuda_common.cuh"
extern "C" {
#include "dense_crf.h"
#include "permutohedral.h"
}
#include "lattice_keys.cuh"
#include "lattice_point.h"

// As permutohedral.c: lattice coordinates beyond this would overflow the int32 keys.
static const float FEATURE_LIMIT = 1e7f;

struct lattice_scale {
    float s[USEG_LATTICE_MAX_D];
};

// --- Build ------------------------------------------------------------------------------

// keys (N (d+1), d) and weights (N (d+1)) of every point's corners; *bad =
// the first feature that is not finite or beyond FEATURE_LIMIT (flat index,
// an integer minimum), left as is when none.
static __global__ void locate_kernel(const float *features, int64_t n, int d, lattice_scale scale, int32_t *keys,
                                     float *weight, unsigned long long *bad) {
    GRID_STRIDE(p, n) {
        const float *f = features + p * d;
        bool ok = true;
        for (int i = 0; i < d; i++) {
            if (!(fabsf(f[i]) <= FEATURE_LIMIT)) {
                atomicMin(bad, (unsigned long long)(p * d + i));
                ok = false;
            }
        }
        if (ok) useg_lattice_locate(f, d, scale.s, keys + p * (d + 1) * d, weight + p * (d + 1));
    }
}

// word[e] = word `w` of the key of entry perm[e]; perm NULL: the identity.
static __global__ void key_word_kernel(const int32_t *keys, const int32_t *perm, int64_t entries, int d, int w,
                                       uint32_t *word) {
    GRID_STRIDE(e, entries) word[e] = (uint32_t)keys[(int64_t)(perm ? perm[e] : e) * d + w];
}

static __global__ void iota_kernel(int32_t *perm, int64_t entries) {
    GRID_STRIDE(e, entries) perm[e] = (int32_t)e;
}

// starts[e] = 1 where sorted entry e begins a new vertex.
static __global__ void starts_kernel(const int32_t *keys, const int32_t *perm, int64_t entries, int d,
                                     int32_t *starts) {
    GRID_STRIDE(e, entries) starts[e] = e == 0 || key_compare(keys + (int64_t)perm[e] * d, keys + (int64_t)perm[e - 1] * d, d) != 0;
}

// From the sorted entries and their slots (inclusive scan of starts): each
// point's corner slots, the splat index, and each vertex's key and first entry.
static __global__ void index_kernel(const int32_t *keys, const int32_t *perm, const int32_t *slot,
                                    const int32_t *starts, const float *weight, int64_t entries, int d,
                                    useg_lattice lat, int32_t *vertex_keys) {
    GRID_STRIDE(e, entries) {
        const int32_t entry = perm[e], s = slot[e];
        lat.corner[entry] = s;
        lat.splat_point[e] = entry / (d + 1);
        lat.splat_weight[e] = weight[entry];
        if (starts[e]) {
            lat.splat_start[s - 1] = e;
            for (int i = 0; i < d; i++) vertex_keys[(int64_t)(s - 1) * d + i] = keys[(int64_t)entry * d + i];
        }
        if (e == entries - 1) lat.splat_start[s] = entries;
    }
}

// blur[(j m + s) 2] = the slot of vertex s's neighbour before it along axis j
// (permutohedral.c's prev: every coordinate -1, coordinate j +d), 0 if absent.
static __global__ void prev_kernel(const int32_t *vertex_keys, int64_t m, int d, int32_t *blur) {
    GRID_STRIDE(e, m * (d + 1)) {
        const int64_t s = e % m;
        const int j = (int)(e / m);
        int32_t prev[USEG_LATTICE_MAX_D];
        for (int i = 0; i < d; i++) prev[i] = vertex_keys[s * d + i] - 1;
        if (j < d) prev[j] = vertex_keys[s * d + j] + d;
        blur[(j * m + s) * 2] = (int32_t)find_key(vertex_keys, m, d, prev);
    }
}

// The next neighbours: t = prev(s) exactly when s = next(t); prev is
// one-to-one, so each next is written once.
static __global__ void next_kernel(int64_t m, int d, int32_t *blur) {
    GRID_STRIDE(e, m * (d + 1)) {
        const int64_t s = e % m, j = e / m;
        const int32_t p = blur[(j * m + s) * 2];
        if (p) blur[(j * m + p - 1) * 2 + 1] = (int32_t)(s + 1);
    }
}

extern "C" useg_status useg_lattice_build_cuda(useg_ctx *ctx, useg_arena *a, const float *features, int64_t n, int d,
                                               useg_lattice *lat) {
    USEG_TRY(useg_lattice_check_size(ctx, n, d));
    const int d1 = d + 1;
    const int64_t entries = n * d1;
    cudaStream_t stream = useg_stream(ctx);
    *lat = useg_lattice{};
    lat->d = d;
    lat->n = n;
    int32_t *keys, *perm[2], *starts, *slot;
    uint32_t *word[2];
    unsigned long long *bad;
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(int32_t), (void **)&lat->corner));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(float), (void **)&lat->weight));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(int32_t), (void **)&lat->splat_point));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(float), (void **)&lat->splat_weight));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * d * sizeof(int32_t), (void **)&keys));
    for (int k = 0; k < 2; k++) {
        USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(int32_t), (void **)&perm[k]));
        USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(uint32_t), (void **)&word[k]));
    }
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(int32_t), (void **)&starts));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)entries * sizeof(int32_t), (void **)&slot));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, sizeof *bad, (void **)&bad));
    // CUB's workspace: the larger of the sort's and the scan's.
    size_t sort_bytes = 0, scan_bytes = 0;
    CUDA_TRY(ctx, cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, word[0], word[1], perm[0], perm[1],
                                                  (int)entries, 0, 32, stream));
    CUDA_TRY(ctx, cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, starts, slot, (int)entries, stream));
    size_t cub_bytes = sort_bytes > scan_bytes ? sort_bytes : scan_bytes;
    void *cub_work;
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, cub_bytes, &cub_work));

    lattice_scale scale;
    useg_lattice_scale(d, scale.s);
    USEG_TRY(useg_cuda_memset(ctx, bad, 0xFF, sizeof *bad));
    locate_kernel<<<grid_for(n, 128), 128, 0, stream>>>(features, n, d, scale, keys, lat->weight, bad);
    USEG_TRY(useg_launch_check(ctx, "lattice locate_kernel"));
    unsigned long long first_bad;
    USEG_TRY(useg_cuda_memcpy(ctx, &first_bad, USEG_DEVICE_CPU, bad, USEG_DEVICE_CUDA, sizeof first_bad));
    if (first_bad != ~0ull)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "lattice: feature %lld of point %lld is not finite or beyond |f| <= %g",
                         (long long)(first_bad % (unsigned long long)d), (long long)(first_bad / (unsigned long long)d),
                         (double)FEATURE_LIMIT);

    // Sort entries by key, least significant word (the last) first; the sort is stable.
    int cur = 0;
    const unsigned grid = grid_for(entries, 256);
    iota_kernel<<<grid, 256, 0, stream>>>(perm[0], entries);
    USEG_TRY(useg_launch_check(ctx, "lattice iota_kernel"));
    for (int w = d - 1; w >= 0; w--) {
        key_word_kernel<<<grid, 256, 0, stream>>>(keys, perm[cur], entries, d, w, word[0]);
        USEG_TRY(useg_launch_check(ctx, "lattice key_word_kernel"));
        CUDA_TRY(ctx, cub::DeviceRadixSort::SortPairs(cub_work, sort_bytes, word[0], word[1], perm[cur], perm[1 - cur],
                                                      (int)entries, 0, 32, stream));
        cur = 1 - cur;
    }
    starts_kernel<<<grid, 256, 0, stream>>>(keys, perm[cur], entries, d, starts);
    USEG_TRY(useg_launch_check(ctx, "lattice starts_kernel"));
    CUDA_TRY(ctx, cub::DeviceScan::InclusiveSum(cub_work, scan_bytes, starts, slot, (int)entries, stream));
    int32_t m32;
    USEG_TRY(useg_cuda_memcpy(ctx, &m32, USEG_DEVICE_CPU, slot + entries - 1, USEG_DEVICE_CUDA, sizeof m32));
    const int64_t m = lat->m = m32;

    int32_t *vertex_keys;
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)(m + 1) * sizeof(int64_t), (void **)&lat->splat_start));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)(d1 * m * 2) * sizeof(int32_t), (void **)&lat->blur));
    USEG_TRY(useg_cuda_lifetime_alloc(ctx, a, (size_t)(m * d) * sizeof(int32_t), (void **)&vertex_keys));
    index_kernel<<<grid, 256, 0, stream>>>(keys, perm[cur], slot, starts, lat->weight, entries, d, *lat, vertex_keys);
    USEG_TRY(useg_launch_check(ctx, "lattice index_kernel"));
    USEG_TRY(useg_cuda_memset(ctx, lat->blur, 0, (size_t)(d1 * m * 2) * sizeof(int32_t)));
    prev_kernel<<<grid_for(m * d1, 256), 256, 0, stream>>>(vertex_keys, m, d, lat->blur);
    USEG_TRY(useg_launch_check(ctx, "lattice prev_kernel"));
    next_kernel<<<grid_for(m * d1, 256), 256, 0, stream>>>(m, d, lat->blur);
    return useg_launch_check(ctx, "lattice next_kernel");
}

// --- Filter -----------------------------------------------------------------------------

// values[s] (slots 1..m, v each) = sum over the vertex's entries, in order, of weight * in[point].
static __global__ void splat_kernel(useg_lattice lat, const float *in, int v, float *values) {
    GRID_STRIDE(e, lat.m * v) {
        const int64_t s = e / v + 1;
        const int k = (int)(e % v);
        float acc = 0;
        for (int64_t c = lat.splat_start[s - 1]; c < lat.splat_start[s]; c++)
            acc += lat.splat_weight[c] * in[(int64_t)lat.splat_point[c] * v + k];
        values[s * v + k] = acc;
    }
}

static __global__ void blur_kernel(const int32_t *nb, int64_t m, int v, const float *values, float *blurred) {
    GRID_STRIDE(e, m * v) {
        const int64_t s = e / v + 1;
        const int k = (int)(e % v);
        const float lo = values[(int64_t)nb[(s - 1) * 2] * v + k], hi = values[(int64_t)nb[(s - 1) * 2 + 1] * v + k];
        blurred[s * v + k] = values[s * v + k] + 0.5f * (lo + hi);
    }
}

// permutohedral.c's slice, with densecrf's alpha placement for the group size.
static __global__ void slice_kernel(useg_lattice lat, const float *values, int v, int group, float alpha,
                                    float *out) {
    const int d1 = lat.d + 1;
    GRID_STRIDE(e, lat.n * v) {
        const int64_t p = e / v;
        const int k = (int)(e % v);
        float y = 0;
        for (int j = 0; j < d1; j++) {
            const float w = lat.weight[p * d1 + j], x = values[(int64_t)lat.corner[p * d1 + j] * v + k];
            if (group <= 2) y += w * x * alpha;
            else y += w * alpha * x;
        }
        out[e] = y;
    }
}

extern "C" useg_status useg_lattice_filter_groups_cuda(useg_ctx *ctx, const useg_lattice *lat, const float *in,
                                                       float *out, int v, int group, void *workspace) {
    cudaStream_t stream = useg_stream(ctx);
    const int64_t m = lat->m;
    float *values = (float *)workspace, *blurred = values + (m + 1) * v;
    // Slot 0 stands for a missing neighbour: zero in both buffers.
    USEG_TRY(useg_cuda_memset(ctx, values, 0, (size_t)v * sizeof(float)));
    USEG_TRY(useg_cuda_memset(ctx, blurred, 0, (size_t)v * sizeof(float)));
    const unsigned grid = grid_for(m * v, 256);
    splat_kernel<<<grid, 256, 0, stream>>>(*lat, in, v, values);
    USEG_TRY(useg_launch_check(ctx, "lattice splat_kernel"));
    for (int j = 0; j <= lat->d; j++) {
        blur_kernel<<<grid, 256, 0, stream>>>(lat->blur + (int64_t)j * m * 2, m, v, values, blurred);
        USEG_TRY(useg_launch_check(ctx, "lattice blur_kernel"));
        float *swap = values;
        values = blurred;
        blurred = swap;
    }
    const float alpha = 1.0f / (1.0f + powf(2.0f, (float)-lat->d));
    slice_kernel<<<grid_for(lat->n * v, 256), 256, 0, stream>>>(*lat, values, v, group, alpha, out);
    return useg_launch_check(ctx, "lattice slice_kernel");
}

// --- Mean field ---------------------------------------------------------------------------

// Features of the smoothness (d = 2) or, with image, the appearance kernel (d = 5).
static __global__ void features_kernel(const uint8_t *im, int64_t H, int64_t W, float sxy, float srgb, bool bgr,
                                       float *feat) {
    const int d = im ? 5 : 2;
    GRID_STRIDE(i, H * W) {
        float *f = feat + i * d;
        f[0] = (float)(i % W) / sxy;
        f[1] = (float)(i / W) / sxy;
        if (im)
            for (int c = 0; c < 3; c++) f[2 + c] = (float)im[i * 3 + (bgr ? 2 - c : c)] / srgb;
    }
}

static __global__ void fill_kernel(float *x, int64_t n, float value) {
    GRID_STRIDE(i, n) x[i] = value;
}

static __global__ void normaliser_kernel(float *norm, int64_t n) {
    GRID_STRIDE(i, n) norm[i] = (float)(1.0 / sqrt((double)norm[i] + 1e-20));
}

// neg_u (n, V) = -unary (V, n).
static __global__ void neg_unary_kernel(const float *unary, int64_t n, int V, float *neg_u) {
    GRID_STRIDE(e, n * V) neg_u[e] = -unary[(e % V) * n + e / V];
}

// q = softmax over each point's L labels, per problem (crf.c's exp_normalize).
static __global__ void exp_normalize_kernel(const float *x, float *q, int64_t rows, int L) {
    GRID_STRIDE(r, rows) useg_crf_softmax(x + r * L, q + r * L, L);
}

static __global__ void scale_rows_kernel(const float *q, const float *norm, int64_t n, int V, float *msg) {
    GRID_STRIDE(e, n * V) msg[e] = q[e] * norm[e / V];
}

static __global__ void add_message_kernel(const float *msg, const float *norm, int64_t n, int V, float neg_w,
                                          float *tmp) {
    GRID_STRIDE(e, n * V) tmp[e] -= neg_w * (msg[e] * norm[e / V]);
}

// labels (G, n) = first argmax of each problem's labels; q_out (V, n) = q (n, V) transposed.
static __global__ void labels_kernel(const float *q, int64_t n, int G, int L, uint8_t *labels, float *q_out) {
    const int V = G * L;
    GRID_STRIDE(e, n * G) {
        const int64_t i = e % n;
        const int g = (int)(e / n);
        const float *qi = q + i * V + g * L;
        int best = 0;
        for (int k = 1; k < L; k++) best = qi[k] > qi[best] ? k : best;
        labels[e] = (uint8_t)best;
        if (q_out)
            for (int k = 0; k < L; k++) q_out[(int64_t)(g * L + k) * n + i] = qi[k];
    }
}

// One pairwise term: its lattice, normaliser (n) and Potts weight.
struct crf_term {
    useg_lattice lattice;
    float *norm;
    float weight;
};

static useg_status term_init(useg_ctx *ctx, const uint8_t *im, int64_t H, int64_t W, const useg_crf_params *p,
                             float *feat, crf_term *t) {
    const int64_t n = H * W;
    cudaStream_t stream = useg_stream(ctx);
    const bool bilateral = im != nullptr;
    t->weight = bilateral ? p->w_bilateral : p->w_gauss;
    features_kernel<<<grid_for(n, 256), 256, 0, stream>>>(im, H, W, bilateral ? p->sxy_bilateral : p->sxy_gauss,
                                                          p->srgb, p->bgr, feat);
    USEG_TRY(useg_launch_check(ctx, "crf features_kernel"));
    USEG_TRY(useg_lattice_build_cuda(ctx, &ctx->scratch, feat, n, bilateral ? 5 : 2, &t->lattice));
    float *ones;
    void *ws;
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)n * sizeof(float), (void **)&t->norm));
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)n * sizeof(float), (void **)&ones));
    USEG_TRY(useg_cuda_scratch(ctx, useg_lattice_workspace_size(&t->lattice, 1), &ws));
    fill_kernel<<<grid_for(n, 256), 256, 0, stream>>>(ones, n, 1.0f);
    USEG_TRY(useg_launch_check(ctx, "crf fill_kernel"));
    USEG_TRY(useg_lattice_filter_groups_cuda(ctx, &t->lattice, ones, t->norm, 1, 1, ws));
    normaliser_kernel<<<grid_for(n, 256), 256, 0, stream>>>(t->norm, n);
    return useg_launch_check(ctx, "crf normaliser_kernel");
}

static useg_status dense_crf(useg_ctx *ctx, const uint8_t *im, const float *unary, int64_t H, int64_t W, int G, int L,
                             const useg_crf_params *p, uint8_t *labels, float *q_out) {
    const int64_t n = H * W;
    const int V = G * L;
    cudaStream_t stream = useg_stream(ctx);
    float *feat, *neg_u, *q, *tmp, *msg;
    void *ws;
    crf_term terms[2];
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)n * 5 * sizeof(float), (void **)&feat));
    USEG_TRY(term_init(ctx, nullptr, H, W, p, feat, &terms[0]));
    USEG_TRY(term_init(ctx, im, H, W, p, feat, &terms[1]));
    const size_t ws0 = useg_lattice_workspace_size(&terms[0].lattice, V),
                 ws1 = useg_lattice_workspace_size(&terms[1].lattice, V);
    USEG_TRY(useg_cuda_scratch(ctx, ws0 > ws1 ? ws0 : ws1, &ws));
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)(n * V) * sizeof(float), (void **)&neg_u));
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)(n * V) * sizeof(float), (void **)&q));
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)(n * V) * sizeof(float), (void **)&tmp));
    USEG_TRY(useg_cuda_scratch(ctx, (size_t)(n * V) * sizeof(float), (void **)&msg));
    const unsigned grid = grid_for(n * V, 256), grid_rows = grid_for(n * G, 256);
    neg_unary_kernel<<<grid, 256, 0, stream>>>(unary, n, V, neg_u);
    USEG_TRY(useg_launch_check(ctx, "crf neg_unary_kernel"));
    exp_normalize_kernel<<<grid_rows, 256, 0, stream>>>(neg_u, q, n * G, L);
    USEG_TRY(useg_launch_check(ctx, "crf exp_normalize_kernel"));
    for (int it = 0; it < p->iterations; it++) {
        USEG_TRY(useg_cuda_memcpy(ctx, tmp, USEG_DEVICE_CUDA, neg_u, USEG_DEVICE_CUDA, (size_t)(n * V) * sizeof(float)));
        for (int t = 0; t < 2; t++) {
            scale_rows_kernel<<<grid, 256, 0, stream>>>(q, terms[t].norm, n, V, msg);
            USEG_TRY(useg_launch_check(ctx, "crf scale_rows_kernel"));
            USEG_TRY(useg_lattice_filter_groups_cuda(ctx, &terms[t].lattice, msg, msg, V, L, ws));
            add_message_kernel<<<grid, 256, 0, stream>>>(msg, terms[t].norm, n, V, -terms[t].weight, tmp);
            USEG_TRY(useg_launch_check(ctx, "crf add_message_kernel"));
        }
        exp_normalize_kernel<<<grid_rows, 256, 0, stream>>>(tmp, q, n * G, L);
        USEG_TRY(useg_launch_check(ctx, "crf exp_normalize_kernel"));
    }
    labels_kernel<<<grid_rows, 256, 0, stream>>>(q, n, G, L, labels, q_out);
    return useg_launch_check(ctx, "crf labels_kernel");
}

extern "C" useg_status useg_dense_crf_cuda(useg_ctx *ctx, const uint8_t *image, const float *unary, int64_t H,
                                           int64_t W, int G, int L, const useg_crf_params *p, uint8_t *labels,
                                           float *q_out) {
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    useg_status st = dense_crf(ctx, image, unary, H, W, G, L, p, labels, q_out);
    useg_scratch_rewind(ctx, mark);
    return st;
}
