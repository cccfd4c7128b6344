// Gather and index_select along one axis, forward and backward.
//
// Shapes are (outer, size, inner) around the axis, contiguous: x, dx
// (outer, size, inner); index_select's index (n) and y, dy (outer, n,
// inner); gather's index, y, dy (outer, n, inner) (index's other axes equal
// x's). CPU references: useg_index_select and useg_gather (core/ops_index.c),
// torch.index_select / torch.gather.
//
// Forward: one thread per output element. An index outside [0, size) writes
// 0 there and raises *bad_index, a device flag the op layer reads to fail with
// a shape error (a kernel cannot return a status).
// Backward without atomics: for index_select, the index is stably sorted
// once with CUB's radix sort (pairs index -> position; stable, so equal
// indices keep increasing positions), segment starts come from a binary
// search per input row, and each dx element sums its segment in order. For
// gather every column has its own index, so each dx element scans its
// column's n indices in order (O(size n) per column: fine for the small n of
// the losses that use it; a sort per column is the next step if a model needs
// large n).
//
// Measured against: nothing yet; this file has not run on a GPU.
#include <cub/device/device_radix_sort.cuh>

#include "cuda_common.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0, "whole warps");

// y[o, j, i] = x[o, index[j], i] (index_select) or x[o, index[o, j, i], i] (gather).
template <typename T, bool GATHER>
static __global__ void select_forward_kernel(T *y, const T *x, const int64_t *index, int64_t outer, int64_t size,
                                             int64_t inner, int64_t n, int32_t *bad_index) {
    GRID_STRIDE(e, outer * n * inner) {
        int64_t i = e % inner, j = (e / inner) % n, o = e / (inner * n);
        int64_t s = GATHER ? index[e] : index[j];
        if (s < 0 || s >= size) {
            if (bad_index) *bad_index = 1;
            store_f32(y + e, 0.0f);
        } else {
            y[e] = x[(o * size + s) * inner + i];
        }
    }
}

static __global__ void iota_kernel(int64_t *p, int64_t n) {
    GRID_STRIDE(i, n) p[i] = i;
}

// start[s] = first position in sorted keys with key >= s, for s in [0, size].
static __global__ void segment_starts_kernel(int64_t *start, const int64_t *sorted, int64_t n, int64_t size) {
    GRID_STRIDE(s, size + 1) {
        int64_t lo = 0, hi = n;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (sorted[mid] < s) lo = mid + 1;
            else hi = mid;
        }
        start[s] = lo;
    }
}

template <typename T>
static __global__ void index_select_backward_kernel(T *dx, const T *dy, const int64_t *start, const int64_t *order,
                                                    int64_t outer, int64_t size, int64_t inner, int64_t n) {
    GRID_STRIDE(e, outer * size * inner) {
        int64_t i = e % inner, s = (e / inner) % size, o = e / (inner * size);
        float acc = 0.0f;
        for (int64_t k = start[s]; k < start[s + 1]; k++) acc += load_f32(dy + (o * n + order[k]) * inner + i);
        store_f32(dx + e, acc);
    }
}

template <typename T>
static __global__ void gather_backward_kernel(T *dx, const T *dy, const int64_t *index, int64_t outer, int64_t size,
                                              int64_t inner, int64_t n) {
    GRID_STRIDE(e, outer * size * inner) {
        int64_t i = e % inner, s = (e / inner) % size, o = e / (inner * size);
        float acc = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            int64_t at = (o * n + j) * inner + i;
            if (index[at] == s) acc += load_f32(dy + at);
        }
        store_f32(dx + e, acc);
    }
}

template <bool GATHER>
static useg_status select_forward(useg_ctx *ctx, const char *op, useg_dtype dt, void *y, const void *x,
                                  const int64_t *index, int64_t outer, int64_t size, int64_t inner, int64_t n,
                                  int32_t *bad_index) {
    cudaStream_t st = useg_stream(ctx);
    if (bad_index) CUDA_TRY(ctx, cudaMemsetAsync(bad_index, 0, sizeof *bad_index, st));
    int64_t total = outer * n * inner;
    if (total == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, op, dt, T, {
        select_forward_kernel<T, GATHER><<<grid_for(total, THREADS), THREADS, 0, st>>>(
            (T *)y, (const T *)x, index, outer, size, inner, n, bad_index);
    });
    return useg_launch_check(ctx, op);
}

extern "C" useg_status useg_index_select_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x,
                                                      const int64_t *index, int64_t outer, int64_t size, int64_t inner,
                                                      int64_t n, int32_t *bad_index) {
    return select_forward<false>(ctx, "index_select", dt, y, x, index, outer, size, inner, n, bad_index);
}

extern "C" useg_status useg_index_select_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy,
                                                       const int64_t *index, int64_t outer, int64_t size,
                                                       int64_t inner, int64_t n) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "index_select backward", dt));
    int64_t total = outer * size * inner;
    if (total == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    int64_t *positions, *sorted_keys, *order, *start;
    void *temp = NULL;
    size_t temp_bytes = 0;
    useg_status s = useg_cuda_check(
        ctx, cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, index, (int64_t *)NULL, (const int64_t *)NULL,
                                             (int64_t *)NULL, n, 0, 64, st),
        "index_select backward: sort size");
    size_t n_bytes = (size_t)(n > 0 ? n : 1) * sizeof(int64_t);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&positions);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&sorted_keys);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&order);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, (size_t)(size + 1) * sizeof(int64_t), (void **)&start);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, temp_bytes, &temp);
    if (s == USEG_OK && n > 0) {
        iota_kernel<<<grid_for(n, THREADS), THREADS, 0, st>>>(positions, n);
        s = useg_launch_check(ctx, "index_select backward: positions");
        if (s == USEG_OK)
            s = useg_cuda_check(ctx,
                                cub::DeviceRadixSort::SortPairs(temp, temp_bytes, index, sorted_keys,
                                                                (const int64_t *)positions, order, n, 0, 64, st),
                                "index_select backward: sort");
    }
    if (s == USEG_OK) {
        segment_starts_kernel<<<grid_for(size + 1, THREADS), THREADS, 0, st>>>(start, sorted_keys, n, size);
        s = useg_launch_check(ctx, "index_select backward: segments");
    }
    if (s == USEG_OK) {
        USEG_CUDA_DISPATCH(ctx, "index_select backward", dt, T, {
            index_select_backward_kernel<T><<<grid_for(total, THREADS), THREADS, 0, st>>>(
                (T *)dx, (const T *)dy, start, order, outer, size, inner, n);
        });
        s = useg_launch_check(ctx, "index_select backward");
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_gather_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x,
                                                const int64_t *index, int64_t outer, int64_t size, int64_t inner,
                                                int64_t n, int32_t *bad_index) {
    return select_forward<true>(ctx, "gather", dt, y, x, index, outer, size, inner, n, bad_index);
}

extern "C" useg_status useg_gather_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy,
                                                 const int64_t *index, int64_t outer, int64_t size, int64_t inner,
                                                 int64_t n) {
    int64_t total = outer * size * inner;
    if (total == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "gather backward", dt, T, {
        gather_backward_kernel<T><<<grid_for(total, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dx, (const T *)dy, index, outer, size, inner, n);
    });
    return useg_launch_check(ctx, "gather backward");
}
