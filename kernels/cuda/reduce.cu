// Reduction CUDA kernels: sum (and mean, through `factor`) over any set of
// axes, first max / argmax over one axis with its backward, and a full f32
// sum for the losses. The CUDA twins of ops_reduce.c's sum_cpu, max_cpu and
// max_backward_cpu.
//
// Deterministic by construction, no atomics: sums accumulate in f64 (as
// sum_cpu does) along a fixed path: one thread per output when the reduced
// extent is short or the outputs are many and laid out contiguously; else
// one block per output (split into PARTS blocks, each writing a partial, for
// long reductions with few outputs), a sequential per-thread stride, then a
// fixed shuffle tree, then the partials summed in order. The split depends on
// the shape only, so a shape always reduces the same way. Max combines
// (value, index) pairs with a total order (NaN first, then larger, then
// smaller index), which makes the warp tree return exactly the sequential
// "first maximum, NaN wins" of the CPU.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include <limits.h>

#include "combine.cuh"
#include "cuda_common.cuh"

constexpr int SUM_THREADS = 256;
constexpr int64_t SUM_CHUNK = 32768;  // elements per block when one reduction is split
constexpr int64_t SUM_MAX_PARTS = 1024;
constexpr int64_t ROW_LIMIT = 32;     // reductions this short run one thread per output
constexpr int64_t MANY_OUTPUTS = 8192;
static_assert(SUM_THREADS % WARP == 0 && SUM_THREADS <= 1024, "whole warps, one block");
static_assert(SUM_CHUNK % SUM_THREADS == 0, "a chunk is whole strides of the block");

// Offset of flat index i over a one-operand strided3.
__device__ __forceinline__ int64_t offset_of(const strided3 &s, int64_t i) {
    int64_t off[1];
    strided_offsets<1>(s, i, off);
    return off[0];
}

template <typename T>
static __global__ void sum_per_output_kernel(T *out, const T *x, strided3 kept, strided3 red, int64_t n_out,
                                             int64_t n_red, double factor) {
    GRID_STRIDE(o, n_out) {
        const T *p = x + offset_of(kept, o);
        double acc = 0;
        for (int64_t r = 0; r < n_red; r++) acc += load_f32(p + offset_of(red, r));
        store_f32(out + o, (float)(acc * factor));
    }
}

// Block b reduces part b % parts of output b / parts. With parts == 1 it
// writes the output, else partial[b] (f64).
template <typename T>
static __global__ void sum_blocks_kernel(T *out, double *partial, const T *x, strided3 kept, strided3 red,
                                         int64_t n_red, int64_t parts, double factor) {
    __shared__ double shared[WARP];
    int64_t o = blockIdx.x / parts, part = blockIdx.x % parts;
    int64_t chunk = CEIL_DIV(n_red, parts);
    int64_t begin = part * chunk, end = min(n_red, begin + chunk);
    const T *p = x + offset_of(kept, o);
    double acc = 0;
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) acc += load_f32(p + offset_of(red, r));
    acc = block_sum(acc, shared);
    if (threadIdx.x != 0) return;
    if (parts == 1) store_f32(out + o, (float)(acc * factor));
    else partial[blockIdx.x] = acc;
}

template <typename T>
static __global__ void sum_partials_kernel(T *out, const double *partial, int64_t n_out, int64_t parts,
                                           double factor) {
    GRID_STRIDE(o, n_out) {
        double acc = 0;
        for (int64_t k = 0; k < parts; k++) acc += partial[o * parts + k];
        store_f32(out + o, (float)(acc * factor));
    }
}

// out (n_out) = factor * sums of x over `red` for each offset of `kept`.
template <typename T>
static useg_status sum_launch(useg_ctx *ctx, T *out, const T *x, const strided3 &kept, const strided3 &red,
                              int64_t n_out, int64_t n_red, double factor) {
    cudaStream_t st = useg_stream(ctx);
    bool red_contiguous = red.strides[0][red.ndim - 1] == 1;
    if (n_red <= ROW_LIMIT || (!red_contiguous && n_out >= MANY_OUTPUTS)) {
        sum_per_output_kernel<T><<<grid_for(n_out, SUM_THREADS), SUM_THREADS, 0, st>>>(out, x, kept, red, n_out,
                                                                                      n_red, factor);
        return useg_launch_check(ctx, "sum");
    }
    int64_t parts = n_out >= MANY_OUTPUTS / 8 ? 1 : CEIL_DIV(n_red, SUM_CHUNK);
    if (parts > SUM_MAX_PARTS) parts = SUM_MAX_PARTS;
    if (n_out * parts > INT_MAX) return useg_fail(ctx, USEG_ERR_SHAPE, "sum: %lld outputs are too many for one launch",
                                                  (long long)n_out);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    double *partial = NULL;
    if (parts > 1) USEG_TRY(useg_cuda_scratch(ctx, (size_t)(n_out * parts) * sizeof(double), (void **)&partial));
    sum_blocks_kernel<T><<<(unsigned)(n_out * parts), SUM_THREADS, 0, st>>>(out, partial, x, kept, red, n_red, parts,
                                                                           factor);
    useg_status s = useg_launch_check(ctx, "sum");
    if (s == USEG_OK && parts > 1) {
        sum_partials_kernel<T><<<grid_for(n_out, SUM_THREADS), SUM_THREADS, 0, st>>>(out, partial, n_out, parts, factor);
        s = useg_launch_check(ctx, "sum partials");
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_sum_cuda(useg_ctx *ctx, const useg_tensor *x, unsigned mask, double factor,
                                     useg_tensor *keep) {
    int64_t n_out = useg_numel(keep);
    if (n_out == 0) return USEG_OK;
    // Split x's axes into kept ones (in keep's order) and reduced ones.
    int64_t kshape[USEG_MAX_DIMS], kstride[USEG_MAX_DIMS], rshape[USEG_MAX_DIMS], rstride[USEG_MAX_DIMS];
    int nk = 0, nr = 0;
    int64_t n_red = 1;
    for (int d = 0; d < x->ndim; d++) {
        if ((mask >> d) & 1u) {
            rshape[nr] = x->shape[d], rstride[nr++] = x->strides[d];
            n_red *= x->shape[d];
        } else {
            kshape[nk] = x->shape[d], kstride[nk++] = x->strides[d];
        }
    }
    strided3 kept, red;
    const int64_t *ks[1] = {kstride}, *rs[1] = {rstride};
    strided3_init(&kept, nk, kshape, 1, ks);
    strided3_init(&red, nr, rshape, 1, rs);
    USEG_CUDA_DISPATCH(ctx, "sum", x->dtype, T, {
        return sum_launch<T>(ctx, (T *)keep->data, (const T *)x->data, kept, red, n_out, n_red, factor);
    });
    return USEG_OK;
}

extern "C" useg_status useg_sum_f32_cuda(useg_ctx *ctx, float *out, const float *x, int64_t n, double factor) {
    strided3 kept, red;
    const int64_t one = 1, *s1[1] = {&one};
    strided3_init(&kept, 0, NULL, 1, s1);
    strided3_init(&red, 1, &n, 1, s1);
    return sum_launch<float>(ctx, out, x, kept, red, 1, n, factor);
}

// --- Max / argmax ---------------------------------------------------------------------------

constexpr int MAX_THREADS = 256;
static_assert(MAX_THREADS % WARP == 0, "whole warps");

// One thread per (outer, inner) column, scanning the axis in order.
template <typename T>
static __global__ void max_columns_kernel(T *values, int64_t *indices, const T *x, int64_t outer, int64_t size,
                                          int64_t inner) {
    int64_t n = outer * inner;
    GRID_STRIDE(t, n) {
        int64_t o = t / inner, i = t % inner;
        const T *p = x + o * size * inner + i;
        float best = -INFINITY;
        int64_t bi = LLONG_MAX;
        for (int64_t k = 0; k < size; k++) {
            float v = load_f32(p + k * inner);
            if (beats(v, k, best, bi)) best = v, bi = k;
        }
        indices[t] = bi;
        if (values) store_f32(values + t, best);
    }
}

// One warp per row (inner == 1): lanes scan strided subsets, then a butterfly
// of beats() leaves every lane with the row's answer.
template <typename T>
static __global__ void max_rows_kernel(T *values, int64_t *indices, const T *x, int64_t rows, int64_t size) {
    int64_t row = blockIdx.x * (int64_t)(blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return; // whole warps leave together
    const T *p = x + row * size;
    float best = -INFINITY;
    int64_t bi = LLONG_MAX;
    for (int64_t k = lane; k < size; k += WARP) {
        float v = load_f32(p + k);
        if (beats(v, k, best, bi)) best = v, bi = k;
    }
    for (int o = WARP / 2; o > 0; o /= 2) {
        float v = __shfl_xor_sync(0xffffffffu, best, o);
        int64_t i = __shfl_xor_sync(0xffffffffu, bi, o);
        if (beats(v, i, best, bi)) best = v, bi = i;
    }
    if (lane == 0) {
        indices[row] = bi;
        if (values) store_f32(values + row, best);
    }
}

template <typename T>
static __global__ void max_backward_kernel(T *dx, const T *g, const int64_t *indices, int64_t outer, int64_t size,
                                           int64_t inner) {
    int64_t n = outer * inner;
    GRID_STRIDE(t, n) {
        int64_t o = t / inner, i = t % inner;
        dx[(o * size + indices[t]) * inner + i] = g[t];
    }
}

extern "C" useg_status useg_max_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, useg_tensor *values,
                                     useg_tensor *indices) {
    int64_t outer, size, inner;
    useg_split_around(x, axis, &outer, &size, &inner);
    if (outer * inner == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    USEG_CUDA_DISPATCH(ctx, "max", x->dtype, T, {
        T *v = values ? (T *)values->data : NULL;
        int64_t *ix = (int64_t *)indices->data;
        const int rows_per_block = MAX_THREADS / WARP;
        if (inner == 1 && size >= WARP && CEIL_DIV(outer, (int64_t)rows_per_block) <= INT_MAX) { // a block per 8 rows
            max_rows_kernel<T><<<(unsigned)CEIL_DIV(outer, rows_per_block), MAX_THREADS, 0, st>>>(
                v, ix, (const T *)x->data, outer, size);
        } else {
            max_columns_kernel<T><<<grid_for(outer * inner, MAX_THREADS), MAX_THREADS, 0, st>>>(
                v, ix, (const T *)x->data, outer, size, inner);
        }
    });
    return useg_launch_check(ctx, "max");
}

extern "C" useg_status useg_max_backward_cuda(useg_ctx *ctx, const useg_tensor *g, const useg_tensor *indices,
                                              int axis, useg_tensor *dx) {
    int64_t outer, size, inner;
    useg_split_around(dx, axis, &outer, &size, &inner);
    if (outer * inner == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "max backward", dx->dtype, T, {
        max_backward_kernel<T><<<grid_for(outer * inner, MAX_THREADS), MAX_THREADS, 0, useg_stream(ctx)>>>(
            (T *)dx->data, (const T *)g->data, (const int64_t *)indices->data, outer, size, inner);
    });
    return useg_launch_check(ctx, "max backward");
}
