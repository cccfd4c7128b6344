// Index validation, gather (index_select is gather with its index expanded)
// and the scatter-add of their backward.
//
// The CUDA twins of ops_index.c's gather_cpu and scatter_add_cpu, with their
// tensors: out and g contiguous of the index's shape, x and index any
// strides, dx contiguous (x's shape) and zeroed. find_bad_index is the device
// half of the ops' index checks (ops_index.c's check_index_range,
// ops_loss.c's check_targets): the ops validate every index before gather
// reads x[index], as the CPU does, so the kernels below trust them.
//
// find_bad_index: one pass over the index; the first offending position is
// an integer atomicMin and the count an integer atomicAdd of block sums, so
// both are exact and reproducible; the host reads 16 bytes back (a wait for
// the GPU, which an op that must fail with a clean status cannot avoid).
// Gather moves bits, one element per thread, so it serves every dtype.
// Scatter-add without float atomics: one thread per column of g (all its
// coordinates but the axis) walks the column in ascending order and adds
// into dx: columns write disjoint dx elements, and each dx element receives
// its contributions in ascending order of g's elements, the CPU's order (f32
// results are bitwise the CPU's). For index_select's expanded index, where a
// column can be long and the columns few (an embedding lookup), the index is
// instead stably sorted once with CUB's radix sort (pairs index -> position:
// equal indices keep increasing positions), segment starts come from a
// binary search, and each dx element sums its segment in order: the same
// order, with a thread per dx element.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include <cub/device/device_radix_sort.cuh>
#include <limits.h>

#include "cuda_common.cuh"
#include "index_math.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0 && THREADS <= 1024, "whole warps, one block");

// --- Validation ---------------------------------------------------------------------------------

// flags[0] = the smallest position of an entry outside [0, size) that is not
// `ignore` (when has_ignore); flags[1] += the entries in range, not ignored.
static __global__ void find_bad_index_kernel(unsigned long long *flags, const int64_t *index, strided3 s, int64_t n,
                                             int64_t size, bool has_ignore, int64_t ignore) {
    __shared__ long long shared[WARP];
    unsigned long long bad = ULLONG_MAX;
    long long counted = 0;
    GRID_STRIDE(i, n) {
        int64_t off[1];
        strided_offsets<1>(s, i, off);
        int64_t v = index[off[0]];
        if (has_ignore && v == ignore) continue;
        if (v < 0 || v >= size) bad = min(bad, (unsigned long long)i);
        else counted++;
    }
    if (bad != ULLONG_MAX) atomicMin(&flags[0], bad);
    counted = block_sum(counted, shared);
    if (threadIdx.x == 0 && counted) atomicAdd(&flags[1], (unsigned long long)counted);
}

extern "C" useg_status useg_find_bad_index_cuda(useg_ctx *ctx, const useg_tensor *index, int64_t size,
                                                const int64_t *ignore, int64_t *first_bad, int64_t *bad_value,
                                                int64_t *counted) {
    *first_bad = -1, *bad_value = 0, *counted = 0;
    int64_t n = useg_numel(index);
    if (n == 0) return USEG_OK;
    strided3 s;
    const int64_t *strides[1] = {index->strides};
    strided3_init(&s, index->ndim, index->shape, 1, strides);
    cudaStream_t st = useg_stream(ctx);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    unsigned long long *flags, host[2];
    useg_status status = useg_cuda_scratch(ctx, 2 * sizeof(unsigned long long), (void **)&flags);
    if (status == USEG_OK)
        status = useg_cuda_check(ctx, cudaMemsetAsync(flags, 0xFF, sizeof flags[0], st), "index check: reset");
    if (status == USEG_OK)
        status = useg_cuda_check(ctx, cudaMemsetAsync(flags + 1, 0, sizeof flags[1], st), "index check: reset");
    if (status == USEG_OK) {
        find_bad_index_kernel<<<grid_for(n, THREADS), THREADS, 0, st>>>(flags, (const int64_t *)index->data, s, n, size,
                                                                       ignore != NULL, ignore ? *ignore : 0);
        status = useg_launch_check(ctx, "index check");
    }
    if (status == USEG_OK)
        status = useg_cuda_memcpy(ctx, host, USEG_DEVICE_CPU, flags, USEG_DEVICE_CUDA, sizeof host);
    if (status == USEG_OK && host[0] != ULLONG_MAX) {
        int64_t off[1];
        strided_offsets<1>(s, (int64_t)host[0], off);
        *first_bad = (int64_t)host[0];
        status = useg_cuda_memcpy(ctx, bad_value, USEG_DEVICE_CPU, (const int64_t *)index->data + off[0],
                                  USEG_DEVICE_CUDA, sizeof *bad_value);
    }
    if (status == USEG_OK) *counted = (int64_t)host[1];
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return status;
}

// --- Gather ---------------------------------------------------------------------------------------

// Offsets in s: out (contiguous), index, x with its axis stride zeroed; sa is that stride.
template <typename E>
static __global__ void gather_kernel(E *out, const E *x, const int64_t *index, strided3 s, int64_t n, int64_t sa) {
    GRID_STRIDE(i, n) {
        int64_t off[3];
        strided_offsets<3>(s, i, off);
        out[off[0]] = x[off[2] + index[off[1]] * sa];
    }
}

extern "C" useg_status useg_gather_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, const useg_tensor *index,
                                        useg_tensor *out) {
    int64_t n = useg_numel(out);
    if (n == 0) return USEG_OK;
    strided3 s;
    gather_operands(out, index, x, axis, &s);
    cudaStream_t st = useg_stream(ctx);
    unsigned grid = grid_for(n, THREADS);
    const int64_t *I = (const int64_t *)index->data;
    int64_t sa = x->strides[axis];
    switch (useg_dtype_size(x->dtype)) {
    case 1: gather_kernel<<<grid, THREADS, 0, st>>>((uint8_t *)out->data, (const uint8_t *)x->data, I, s, n, sa); break;
    case 2: gather_kernel<<<grid, THREADS, 0, st>>>((uint16_t *)out->data, (const uint16_t *)x->data, I, s, n, sa); break;
    case 4: gather_kernel<<<grid, THREADS, 0, st>>>((uint32_t *)out->data, (const uint32_t *)x->data, I, s, n, sa); break;
    case 8: gather_kernel<<<grid, THREADS, 0, st>>>((uint64_t *)out->data, (const uint64_t *)x->data, I, s, n, sa); break;
    default: USEG_ASSERT(0, "gather: no kernel for elements of %zu bytes", useg_dtype_size(x->dtype));
    }
    return useg_launch_check(ctx, "gather");
}

// --- Scatter-add ------------------------------------------------------------------------------------

// Offsets in cols (g's shape without the axis): g, index, dx; the steps walk
// the axis in each of them.
template <typename T>
static __global__ void scatter_columns_kernel(T *dx, const T *g, const int64_t *index, strided3 cols, int64_t n_cols,
                                              int64_t n, int64_t g_step, int64_t i_step, int64_t dx_step) {
    GRID_STRIDE(c, n_cols) {
        int64_t off[3];
        strided_offsets<3>(cols, c, off);
        for (int64_t j = 0; j < n; j++) {
            T *d = dx + off[2] + index[off[1] + j * i_step] * dx_step;
            store_f32(d, load_f32(d) + load_f32(g + off[0] + j * g_step));
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

// dx (outer, size, inner) from g (outer, n, inner): each element sums its
// index value's segment of the sorted positions, in order.
template <typename T>
static __global__ void segment_sum_kernel(T *dx, const T *g, const int64_t *start, const int64_t *order, int64_t outer,
                                          int64_t size, int64_t inner, int64_t n) {
    GRID_STRIDE(e, outer * size * inner) {
        int64_t i = e % inner, s = (e / inner) % size, o = e / (inner * size);
        float acc = load_f32(dx + e);
        for (int64_t k = start[s]; k < start[s + 1]; k++) acc += load_f32(g + (o * n + order[k]) * inner + i);
        store_f32(dx + e, acc);
    }
}

// index_select's backward: index (n) contiguous i64 along the axis.
template <typename T>
static useg_status scatter_sorted(useg_ctx *ctx, T *dx, const T *g, const int64_t *index, int64_t outer, int64_t size,
                                  int64_t inner, int64_t n) {
    cudaStream_t st = useg_stream(ctx);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    int64_t *positions, *sorted_keys, *order, *start;
    void *temp = NULL;
    size_t temp_bytes = 0;
    useg_status s = useg_cuda_check(ctx,
                                    cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, index, (int64_t *)NULL,
                                                                    (const int64_t *)NULL, (int64_t *)NULL, n, 0, 64, st),
                                    "index_select backward: sort size");
    size_t n_bytes = (size_t)n * sizeof(int64_t);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&positions);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&sorted_keys);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, n_bytes, (void **)&order);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, (size_t)(size + 1) * sizeof(int64_t), (void **)&start);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, temp_bytes, &temp);
    if (s == USEG_OK) {
        iota_kernel<<<grid_for(n, THREADS), THREADS, 0, st>>>(positions, n);
        s = useg_launch_check(ctx, "index_select backward: positions");
    }
    if (s == USEG_OK)
        s = useg_cuda_check(ctx,
                            cub::DeviceRadixSort::SortPairs(temp, temp_bytes, index, sorted_keys,
                                                            (const int64_t *)positions, order, n, 0, 64, st),
                            "index_select backward: sort");
    if (s == USEG_OK) {
        segment_starts_kernel<<<grid_for(size + 1, THREADS), THREADS, 0, st>>>(start, sorted_keys, n, size);
        s = useg_launch_check(ctx, "index_select backward: segments");
    }
    if (s == USEG_OK) {
        segment_sum_kernel<T><<<grid_for(outer * size * inner, THREADS), THREADS, 0, st>>>(dx, g, start, order, outer,
                                                                                          size, inner, n);
        s = useg_launch_check(ctx, "index_select backward");
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_scatter_add_cuda(useg_ctx *ctx, useg_tensor *dx, int axis, const useg_tensor *index,
                                             const useg_tensor *g) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "gather backward", dx->dtype));
    int64_t n = g->shape[axis], n_cols = n ? useg_numel(g) / n : 0;
    if (n_cols == 0 || n == 0) return USEG_OK;
    if (is_select_index(index, axis, dx)) {
        int64_t outer, size, inner;
        useg_split_around(dx, axis, &outer, &size, &inner);
        USEG_CUDA_DISPATCH(ctx, "index_select backward", dx->dtype, T, {
            return scatter_sorted<T>(ctx, (T *)dx->data, (const T *)g->data, (const int64_t *)index->data, outer,
                                     size, inner, n);
        });
    }
    strided3 cols;
    scatter_columns(g, index, dx, axis, &cols);
    USEG_CUDA_DISPATCH(ctx, "gather backward", dx->dtype, T, {
        scatter_columns_kernel<T><<<grid_for(n_cols, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dx->data, (const T *)g->data, (const int64_t *)index->data, cols, n_cols, n, g->strides[axis],
            index->strides[axis], dx->strides[axis]);
    });
    return useg_launch_check(ctx, "gather backward");
}
