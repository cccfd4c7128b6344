// The greedy conquer merge on the GPU (kernels/merge_kernel.h): G patch
// grids in one launch, one thread block per grid, each producing the CPU's
// merge sequence (pseudolabel/merge.c) bit for bit.
//
// State of a block. Every patch p knows the live node holding it (root[p]);
// nodes keep a feature sum in f64 and a unit mean in f32 in the slot of
// their older half, as on the CPU. A live edge is a pair of live nodes that
// touch across a grid edge, so the grid's h (w - 1) + (h - 1) w edges are
// the edge list: grid edge j stands for (root[p], root[q]) when those
// differ, with the weight of that pair cached in edge_w[j]. A weight depends
// only on the pair's unit means, which never change while both live, so
// every grid edge of a pair holds the same value, computed once, when the
// younger end was made (the CPU computes it at the same moment).
//
// One step of the greedy loop:
//   1. the best live edge: each thread scans grid edges j = t, t + T, ...
//      under merge_key.h's total order, then a butterfly per warp and a
//      fold over warps; a total order has one maximum, so the tree cannot
//      change the answer (no atomics, no float comparisons but the key's);
//   2. while its weight is below the level's threshold, or no edge is
//      left, the level ends (level_end[t] = merges so far) and t advances;
//   3. merge (old, young) into node e: roots of their patches become e,
//      sum[e] = sum[old] + sum[young] elementwise, and the unit mean
//      u = m / max(|m|, 1e-12), m = sum * (1 / size), in merge.c's
//      arithmetic: the norm's dot product by the CPU's eight lanes
//      (merge_math.cuh) in warp 0, correctly rounded division (__ddiv_rn)
//      and square root (__dsqrt_rn), every add and multiply rounded
//      (__dadd_rn / __dmul_rn: no fused multiply-add, also built with
//      -fmad=false), rounded to float;
//   4. e's neighbours: the other end of every grid edge with exactly one
//      end in e, listed once each (an atomic exchange of a per-node stamp
//      picks the one thread that appends it; the list's order varies from
//      run to run but nothing depends on it: each neighbour's weight is a
//      function of the pair only, written to nbr_w[neighbour]);
//   5. the weights, eight threads per neighbour (the CPU's eight lanes in
//      f64 over f32 unit means, rounded to float), then edge_w of every
//      grid edge of e from nbr_w.
// Levels are not built here: the host replays the sequence (merge.c).
//
// Cost per step: O((h w + C) / T) plus the eight-lane chains (C / 8 dependent
// adds); one 32 x 32 grid of C = 768 takes ~1000 steps. Grids run side by
// side on the SMs. Workspace per grid: h w C (8 + 4) bytes (sums, units) +
// O(h w) from the device scratch.
//
// Not yet run on a GPU: built for sm_80 / sm_90 and checked on the host
// (tests/cuda/test_cuda_host.cu replays the lanes, the butterfly, the grid
// edge numbering and the key's reduction); tests/cuda/test_cuda_merge.c
// holds the GPU comparison with the CPU merge, result for result.
#include <math.h>
#include <string.h>

#include "cuda_common.cuh"
extern "C" {
#include "merge_kernel.h"
}
#include "merge_math.cuh"

enum { MERGE_THREADS = 512, MERGE_WARPS = MERGE_THREADS / WARP };
static_assert(MERGE_THREADS % WARP == 0 && WARP % DOT_LANES == 0, "lane groups of eight sit inside one warp");
static_assert(MERGE_WARPS <= WARP, "the fold over warps runs in one warp");
static const double MIN_NORM = 1e-12; // F.normalize's eps, merge.c's

// One grid's inputs, workspace (device) and outputs (device, copied back).
struct merge_job {
    const void *features;
    bool f16;
    int64_t h, w, C, strides[3];
    double *sum;       // (n, C) by slot
    float *unit;       // (n, C) by slot
    int32_t *slot;     // (2n-1) by node
    int32_t *size;     // (2n-1)
    int32_t *stamp;    // (2n-1): the last node that listed this one as a neighbour
    int32_t *root;     // (n) the live node of each patch
    int32_t *nbr;      // (n) the new node's neighbours
    float *nbr_w;      // (2n-1) the new node's weight to each neighbour
    float *edge_w;     // (grid edges)
    int32_t *merges;   // (n-1, 2)
    float *merge_weight; // (n-1)
    int32_t *level_end;  // (n_thresholds)
    int64_t *meta;       // (2): merges done, first non-finite feature (-1: none)
};

static __device__ __forceinline__ useg_merge_key warp_key_max(useg_merge_key k) {
    for (int o = WARP / 2; o > 0; o /= 2) {
        useg_merge_key other = {__shfl_xor_sync(0xffffffffu, k.w, o), __shfl_xor_sync(0xffffffffu, k.young, o),
                                __shfl_xor_sync(0xffffffffu, k.old, o)};
        k = key_max(k, other);
    }
    return k;
}

// The best key over the block, on every thread. `shared` holds MERGE_WARPS + 1 keys.
static __device__ useg_merge_key block_key_max(useg_merge_key k, useg_merge_key *shared) {
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    k = warp_key_max(k);
    if (lane == 0) shared[warp] = k;
    __syncthreads();
    if (warp == 0) {
        k = warp_key_max(lane < MERGE_WARPS ? shared[lane] : USEG_MERGE_KEY_NONE);
        if (lane == 0) shared[MERGE_WARPS] = k;
    }
    __syncthreads();
    k = shared[MERGE_WARPS];
    __syncthreads(); // `shared` is reused by the next call
    return k;
}

// The eight-lane tree of merge.c's dot products over the lanes of each
// aligned group of eight threads (every thread of the warp must call it).
static __device__ __forceinline__ double dot_combine(double s) {
    for (int o = 1; o < DOT_LANES; o *= 2) s = add_rn(s, __shfl_xor_sync(0xffffffffu, s, o));
    return s;
}

// 1 / max(|m|, 1e-12) for m = sum * inv_count (C), merge.c's set_unit; the
// eight threads of a lane group compute it together, each gets it.
static __device__ __forceinline__ double inv_norm_of(const double *sum, double inv_count, int64_t C, int lane) {
    const scaled m = {sum, inv_count};
    const double norm = __dsqrt_rn(dot_combine(dot_lane(m, m, C, lane)));
    return __ddiv_rn(1.0, norm > MIN_NORM ? norm : MIN_NORM);
}

// The weight of the pair with unit means a, b (C): merge.c's weight().
static __device__ __forceinline__ float pair_weight(const float *a, const float *b, int64_t C, int lane) {
    return __double2float_rn(dot_combine(dot_lane(as_double<float>{a}, as_double<float>{b}, C, lane)));
}

static __device__ __forceinline__ double load_feature(const merge_job &J, int64_t off) {
    return J.f16 ? (double)__half2float(((const __half *)J.features)[off]) : (double)((const float *)J.features)[off];
}

// Patches as nodes: sums from the features (refusing non-finite ones), unit
// means, and the weight of every grid edge. Returns false when a feature is
// not finite (meta[1] then holds the first).
static __device__ bool load_grid(const merge_job &J, int64_t *shared_bad) {
    const int64_t n = J.h * J.w, C = J.C, edges = grid_edge_count(J.h, J.w);
    if (threadIdx.x == 0) *shared_bad = INT64_MAX;
    for (int64_t v = threadIdx.x; v < 2 * n - 1; v += blockDim.x) {
        J.stamp[v] = -1;
        if (v < n) J.slot[v] = (int32_t)v, J.size[v] = 1, J.root[v] = (int32_t)v;
    }
    __syncthreads();
    int64_t bad = INT64_MAX;
    for (int64_t i = threadIdx.x; i < n * C; i += blockDim.x) {
        const int64_t p = i / C, c = i % C, y = p / J.w, x = p % J.w;
        const double v = load_feature(J, y * J.strides[0] + x * J.strides[1] + c * J.strides[2]);
        if (!isfinite(v) && i < bad) bad = i;
        J.sum[i] = v;
    }
    if (bad != INT64_MAX) atomicMin((unsigned long long *)shared_bad, (unsigned long long)bad); // an integer minimum
    __syncthreads();
    bad = *shared_bad;
    if (bad != INT64_MAX) {
        if (threadIdx.x == 0) J.meta[0] = 0, J.meta[1] = bad;
        return false;
    }
    // Unit means and edge weights, one lane group per patch or edge; every
    // warp runs the same number of rounds so the groups' shuffles line up.
    const int lane = threadIdx.x % DOT_LANES, groups = blockDim.x / DOT_LANES;
    for (int64_t base = 0; base < n; base += groups) {
        const int64_t p = base + threadIdx.x / DOT_LANES, pc = p < n ? p : n - 1;
        const double inv_norm = inv_norm_of(J.sum + pc * C, 1.0, C, lane);
        if (p < n)
            for (int64_t k = lane; k < C; k += DOT_LANES)
                J.unit[p * C + k] = __double2float_rn(mul_rn(mul_rn(J.sum[p * C + k], 1.0), inv_norm));
    }
    __syncthreads();
    for (int64_t base = 0; base < edges; base += groups) {
        const int64_t j = base + threadIdx.x / DOT_LANES;
        int64_t p, q;
        grid_edge(j < edges ? j : edges - 1, J.h, J.w, &p, &q);
        const float wt = pair_weight(J.unit + p * C, J.unit + q * C, C, lane);
        if (j < edges && lane == 0) J.edge_w[j] = wt;
    }
    __syncthreads();
    return true;
}

static __global__ void __launch_bounds__(MERGE_THREADS)
    merge_kernel(const merge_job *jobs, const double *thresholds, int n_thresholds) {
    const merge_job J = jobs[blockIdx.x];
    __shared__ useg_merge_key keys[MERGE_WARPS + 1];
    __shared__ int64_t shared_bad;
    __shared__ double shared_inv_norm;
    __shared__ int n_nbr;
    if (!load_grid(J, &shared_bad)) return;
    const int64_t n = J.h * J.w, C = J.C, edges = grid_edge_count(J.h, J.w);
    const int lane = threadIdx.x % DOT_LANES, groups = blockDim.x / DOT_LANES;
    int32_t merges = 0;
    int t = 0;
    for (;;) {
        // 1-2. The best live edge; levels end while it cannot merge.
        useg_merge_key best = USEG_MERGE_KEY_NONE;
        for (int64_t j = threadIdx.x; j < edges; j += blockDim.x) {
            int64_t p, q;
            grid_edge(j, J.h, J.w, &p, &q);
            const int32_t a = J.root[p], b = J.root[q];
            if (a != b) best = key_max(best, useg_merge_key{J.edge_w[j], a > b ? a : b, a < b ? a : b});
        }
        if (threadIdx.x == 0) n_nbr = 0; // read after the next barrier, last read before the previous one
        best = block_key_max(best, keys);
        while (t < n_thresholds && !(best.young != INT32_MAX && (double)best.w >= thresholds[t])) {
            if (threadIdx.x == 0) J.level_end[t] = merges;
            t++;
        }
        if (t == n_thresholds) break;

        // 3. Merge best.old and best.young into node e.
        const int32_t old = best.old, young = best.young, e = (int32_t)n + merges;
        const int32_t so = J.slot[old], sy = J.slot[young], size = J.size[old] + J.size[young];
        if (threadIdx.x == 0) {
            J.merges[2 * merges] = old;
            J.merges[2 * merges + 1] = young;
            J.merge_weight[merges] = best.w;
            J.slot[e] = so;
            J.size[e] = size;
        }
        merges++;
        for (int64_t p = threadIdx.x; p < n; p += blockDim.x)
            if (J.root[p] == old || J.root[p] == young) J.root[p] = e;
        double *sum = J.sum + so * C;
        for (int64_t k = threadIdx.x; k < C; k += blockDim.x) sum[k] = add_rn(sum[k], J.sum[sy * C + k]);
        __syncthreads();
        const double inv_count = __ddiv_rn(1.0, (double)size);
        if (threadIdx.x < WARP) { // every lane group of warp 0 computes the same norm
            const double inv_norm = inv_norm_of(sum, inv_count, C, lane);
            if (threadIdx.x == 0) shared_inv_norm = inv_norm;
        }
        // 4. e's neighbours, each listed once.
        for (int64_t j = threadIdx.x; j < edges; j += blockDim.x) {
            int64_t p, q;
            grid_edge(j, J.h, J.w, &p, &q);
            const int32_t a = J.root[p], b = J.root[q];
            if ((a == e) == (b == e)) continue;
            const int32_t r = a == e ? b : a;
            if (atomicExch(&J.stamp[r], e) != e) J.nbr[atomicAdd(&n_nbr, 1)] = r;
        }
        __syncthreads();
        const double inv_norm = shared_inv_norm;
        float *unit = J.unit + so * C;
        for (int64_t k = threadIdx.x; k < C; k += blockDim.x)
            unit[k] = __double2float_rn(mul_rn(mul_rn(sum[k], inv_count), inv_norm));
        __syncthreads();
        // 5. Weights to the neighbours, then the grid edges of e.
        const int count = n_nbr;
        for (int base = 0; base < count; base += groups) {
            const int i = base + (int)threadIdx.x / DOT_LANES;
            const int32_t r = J.nbr[i < count ? i : count - 1];
            const float wt = pair_weight(J.unit + (int64_t)J.slot[r] * C, unit, C, lane);
            if (i < count && lane == 0) J.nbr_w[r] = wt;
        }
        __syncthreads();
        for (int64_t j = threadIdx.x; j < edges; j += blockDim.x) {
            int64_t p, q;
            grid_edge(j, J.h, J.w, &p, &q);
            const int32_t a = J.root[p], b = J.root[q];
            if ((a == e) != (b == e)) J.edge_w[j] = J.nbr_w[a == e ? b : a];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) J.meta[0] = merges, J.meta[1] = -1;
}

// Bytes of one grid's device workspace and outputs, each piece rounded to 256 bytes.
struct grid_sizes {
    int64_t n, nodes, edges;
    size_t work, out; // device bytes of workspace; of outputs (merges, weights, level ends, meta)
};

static grid_sizes sizes_of(const useg_merge_grid *g, int n_thresholds) {
    grid_sizes s;
    s.n = g->h * g->w;
    s.nodes = 2 * s.n - 1;
    s.edges = grid_edge_count(g->h, g->w);
    s.work = useg_device_align_up((size_t)(s.n * g->C) * 8) + useg_device_align_up((size_t)(s.n * g->C) * 4) +
             4 * useg_device_align_up((size_t)s.nodes * 4) + 2 * useg_device_align_up((size_t)s.n * 4) +
             useg_device_align_up((size_t)(s.edges > 0 ? s.edges : 1) * 4);
    s.out = useg_device_align_up((size_t)(s.n > 1 ? s.n - 1 : 1) * 8) +
            useg_device_align_up((size_t)(s.n > 1 ? s.n - 1 : 1) * 4) + useg_device_align_up((size_t)n_thresholds * 4) +
            useg_device_align_up(16);
    return s;
}

extern "C" useg_status useg_merge_greedy_batch_cuda(useg_ctx *ctx, useg_merge_grid *grids, int G,
                                                    const double *thresholds, int n_thresholds) {
    if (G <= 0) return USEG_OK;
    size_t work_bytes = 0, out_bytes = 0;
    for (int i = 0; i < G; i++) {
        USEG_ASSERT(grids[i].h >= 1 && grids[i].w >= 1 && grids[i].C >= 1, "merge_greedy_batch_cuda: grid %d", i);
        const grid_sizes s = sizes_of(&grids[i], n_thresholds);
        work_bytes += s.work;
        out_bytes += s.out;
    }
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    merge_job *jobs_host, *jobs;
    char *out_host, *work, *out;
    double *thr;
    useg_status st = useg_alloc(ctx, &ctx->scratch, (size_t)G * sizeof *jobs_host, (void **)&jobs_host);
    if (st == USEG_OK) st = useg_alloc(ctx, &ctx->scratch, out_bytes, (void **)&out_host);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, work_bytes, (void **)&work);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, out_bytes, (void **)&out);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)n_thresholds * sizeof *thr, (void **)&thr);
    if (st == USEG_OK) st = useg_cuda_scratch(ctx, (size_t)G * sizeof *jobs, (void **)&jobs);
    if (st != USEG_OK) goto done;
    {
        char *w = work, *o = out;
        auto take = [](char **at, size_t b) {
            char *p = *at;
            *at += useg_device_align_up(b);
            return p;
        };
        for (int i = 0; i < G; i++) {
            const useg_merge_grid *g = &grids[i];
            const grid_sizes s = sizes_of(g, n_thresholds);
            const int64_t m = s.n > 1 ? s.n - 1 : 1;
            // A braced list is evaluated left to right: the pieces follow each other.
            jobs_host[i] = merge_job{.features = g->features, .f16 = g->dtype == USEG_F16, .h = g->h, .w = g->w,
                                     .C = g->C, .strides = {g->strides[0], g->strides[1], g->strides[2]},
                                     .sum = (double *)take(&w, (size_t)(s.n * g->C) * 8),
                                     .unit = (float *)take(&w, (size_t)(s.n * g->C) * 4),
                                     .slot = (int32_t *)take(&w, (size_t)s.nodes * 4),
                                     .size = (int32_t *)take(&w, (size_t)s.nodes * 4),
                                     .stamp = (int32_t *)take(&w, (size_t)s.nodes * 4),
                                     .root = (int32_t *)take(&w, (size_t)s.n * 4),
                                     .nbr = (int32_t *)take(&w, (size_t)s.n * 4),
                                     .nbr_w = (float *)take(&w, (size_t)s.nodes * 4),
                                     .edge_w = (float *)take(&w, (size_t)(s.edges > 0 ? s.edges : 1) * 4),
                                     .merges = (int32_t *)take(&o, (size_t)m * 8),
                                     .merge_weight = (float *)take(&o, (size_t)m * 4),
                                     .level_end = (int32_t *)take(&o, (size_t)n_thresholds * 4),
                                     .meta = (int64_t *)take(&o, 16)};
        }
    }
    st = useg_cuda_memcpy(ctx, jobs, USEG_DEVICE_CUDA, jobs_host, USEG_DEVICE_CPU, (size_t)G * sizeof *jobs);
    if (st == USEG_OK)
        st = useg_cuda_memcpy(ctx, thr, USEG_DEVICE_CUDA, thresholds, USEG_DEVICE_CPU,
                              (size_t)n_thresholds * sizeof *thr);
    if (st == USEG_OK) {
        merge_kernel<<<G, MERGE_THREADS, 0, useg_stream(ctx)>>>(jobs, thr, n_thresholds);
        st = useg_launch_check(ctx, "merge_kernel");
    }
    if (st == USEG_OK) st = useg_cuda_memcpy(ctx, out_host, USEG_DEVICE_CPU, out, USEG_DEVICE_CUDA, out_bytes);
    if (st != USEG_OK) goto done;
    for (int i = 0; i < G; i++) {
        useg_merge_grid *g = &grids[i];
        const merge_job *J = &jobs_host[i];
        auto host = [&](const void *dev) { return out_host + ((const char *)dev - out); };
        const int64_t *meta = (const int64_t *)host(J->meta);
        g->first_bad = meta[1];
        g->n_merges = (int32_t)meta[0];
        if (g->first_bad >= 0) continue;
        memcpy(g->merges, host(J->merges), (size_t)g->n_merges * 2 * sizeof(int32_t));
        memcpy(g->merge_weight, host(J->merge_weight), (size_t)g->n_merges * sizeof(float));
        memcpy(g->level_end, host(J->level_end), (size_t)n_thresholds * sizeof(int32_t));
    }
done:
    useg_scratch_rewind(ctx, mark);
    return st;
}
