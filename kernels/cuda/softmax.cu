// Softmax and log-softmax along one axis, forward and backward.
//
// Shapes: x, y, g, dx contiguous, viewed as (outer, size, inner) around the
// axis, the softmax running over `size` (so any axis works without a
// transpose; the last axis is inner = 1). The CUDA twins of ops_nn.c's
// softmax_forward_cpu / softmax_backward_cpu, PyTorch semantics: a row of
// -inf gives NaN, NaN propagates.
//
// Algorithm: one pass computes the row maximum and the sum of exp(x - max)
// together (the online softmax: the running sum is rescaled when the maximum
// grows), a second pass writes. Rows along the last axis take one warp each
// (lanes stride the row; the partial (max, sum) pairs combine in a fixed
// butterfly), or one block each when longer than LONG_ROW; axes with
// inner > 1 take one thread per (outer, inner) column, so neighbouring
// threads read neighbouring addresses. All math in f32.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "combine.cuh"
#include "cuda_common.cuh"

constexpr int THREADS = 256;          // warp-per-row and column kernels
constexpr int LONG_THREADS = 1024;    // block-per-row kernel
constexpr int64_t LONG_ROW = 4096;    // rows longer than this get a block
static_assert(THREADS % WARP == 0 && LONG_THREADS % WARP == 0 && LONG_THREADS <= 1024, "whole warps");
static_assert(LONG_ROW >= WARP, "a warp row holds at least one element per lane");

__device__ __forceinline__ online_sum warp_online(online_sum v) {
    for (int o = WARP / 2; o > 0; o /= 2) {
        online_sum w = {__shfl_xor_sync(0xffffffffu, v.m, o), __shfl_xor_sync(0xffffffffu, v.s, o)};
        v = online_merge(v, w);
    }
    return v;
}

// softmax: exp(x - m) / s; log-softmax: x - m - log(s).
__device__ __forceinline__ float softmax_out(float x, online_sum r, float log_s, bool log) {
    return log ? x - r.m - log_s : expf(x - r.m) / r.s;
}

template <typename T>
static __global__ void softmax_warp_kernel(T *y, const T *x, int64_t rows, int64_t size, bool log) {
    int64_t row = blockIdx.x * (int64_t)(blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return; // whole warps leave together
    const T *px = x + row * size;
    online_sum r = {-INFINITY, 0.0f};
    for (int64_t k = lane; k < size; k += WARP) r = online_add(r, load_f32(px + k));
    r = warp_online(r);
    float log_s = logf(r.s);
    for (int64_t k = lane; k < size; k += WARP) store_f32(y + row * size + k, softmax_out(load_f32(px + k), r, log_s, log));
}

template <typename T>
static __global__ void softmax_block_kernel(T *y, const T *x, int64_t size, bool log) {
    __shared__ float shared_m[WARP], shared_s[WARP];
    const T *px = x + blockIdx.x * size;
    online_sum r = {-INFINITY, 0.0f};
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) r = online_add(r, load_f32(px + k));
    r = warp_online(r);
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    if (lane == 0) shared_m[warp] = r.m, shared_s[warp] = r.s;
    __syncthreads();
    r = lane < (int)(blockDim.x / WARP) ? online_sum{shared_m[lane], shared_s[lane]} : online_sum{-INFINITY, 0.0f};
    r = warp_online(r);
    float log_s = logf(r.s);
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x)
        store_f32(y + blockIdx.x * size + k, softmax_out(load_f32(px + k), r, log_s, log));
}

template <typename T>
static __global__ void softmax_column_kernel(T *y, const T *x, int64_t outer, int64_t size, int64_t inner, bool log) {
    int64_t n = outer * inner;
    GRID_STRIDE(t, n) {
        int64_t base = (t / inner) * size * inner + t % inner;
        online_sum r = {-INFINITY, 0.0f};
        for (int64_t k = 0; k < size; k++) r = online_add(r, load_f32(x + base + k * inner));
        float log_s = logf(r.s);
        for (int64_t k = 0; k < size; k++)
            store_f32(y + base + k * inner, softmax_out(load_f32(x + base + k * inner), r, log_s, log));
    }
}

// Backward: softmax needs sum(dy y), log-softmax sum(dy).
__device__ __forceinline__ float backward_term(float dy, float y, bool log) { return log ? dy : dy * y; }

__device__ __forceinline__ float backward_out(float dy, float y, float sum, bool log) {
    return log ? dy - expf(y) * sum : y * (dy - sum);
}

template <typename T>
static __global__ void softmax_backward_warp_kernel(T *dx, const T *dy, const T *y, int64_t rows, int64_t size,
                                                    bool log) {
    int64_t row = blockIdx.x * (int64_t)(blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const T *pdy = dy + row * size, *py = y + row * size;
    float sum = 0.0f;
    for (int64_t k = lane; k < size; k += WARP) sum += backward_term(load_f32(pdy + k), load_f32(py + k), log);
    sum = warp_sum(sum);
    for (int64_t k = lane; k < size; k += WARP)
        store_f32(dx + row * size + k, backward_out(load_f32(pdy + k), load_f32(py + k), sum, log));
}

template <typename T>
static __global__ void softmax_backward_block_kernel(T *dx, const T *dy, const T *y, int64_t size, bool log) {
    __shared__ float shared[WARP];
    const T *pdy = dy + blockIdx.x * size, *py = y + blockIdx.x * size;
    float sum = 0.0f;
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x) sum += backward_term(load_f32(pdy + k), load_f32(py + k), log);
    sum = block_sum(sum, shared);
    for (int64_t k = threadIdx.x; k < size; k += blockDim.x)
        store_f32(dx + blockIdx.x * size + k, backward_out(load_f32(pdy + k), load_f32(py + k), sum, log));
}

template <typename T>
static __global__ void softmax_backward_column_kernel(T *dx, const T *dy, const T *y, int64_t outer, int64_t size,
                                                      int64_t inner, bool log) {
    int64_t n = outer * inner;
    GRID_STRIDE(t, n) {
        int64_t base = (t / inner) * size * inner + t % inner;
        float sum = 0.0f;
        for (int64_t k = 0; k < size; k++)
            sum += backward_term(load_f32(dy + base + k * inner), load_f32(y + base + k * inner), log);
        for (int64_t k = 0; k < size; k++) {
            int64_t e = base + k * inner;
            store_f32(dx + e, backward_out(load_f32(dy + e), load_f32(y + e), sum, log));
        }
    }
}

// Row kernels index blocks by row in x: at most 2^31 - 1 of them.
static useg_status check_rows(useg_ctx *ctx, const char *op, int64_t blocks) {
    if (blocks <= 0x7fffffff) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_SHAPE, "%s: %lld rows are too many for one launch", op, (long long)blocks);
}

extern "C" useg_status useg_softmax_forward_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, bool log,
                                                 useg_tensor *y) {
    const char *op = log ? "log_softmax" : "softmax";
    int64_t outer, size, inner;
    useg_split_around(x, axis, &outer, &size, &inner);
    if (outer * size * inner == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    const int rows_per_block = THREADS / WARP;
    USEG_CUDA_DISPATCH(ctx, op, x->dtype, T, {
        T *Y = (T *)y->data;
        const T *X = (const T *)x->data;
        if (inner > 1) {
            softmax_column_kernel<T><<<grid_for(outer * inner, THREADS), THREADS, 0, st>>>(Y, X, outer, size, inner,
                                                                                         log);
        } else if (size > LONG_ROW) {
            USEG_TRY(check_rows(ctx, op, outer));
            softmax_block_kernel<T><<<(unsigned)outer, LONG_THREADS, 0, st>>>(Y, X, size, log);
        } else {
            USEG_TRY(check_rows(ctx, op, CEIL_DIV(outer, rows_per_block)));
            softmax_warp_kernel<T><<<(unsigned)CEIL_DIV(outer, rows_per_block), THREADS, 0, st>>>(Y, X, outer, size,
                                                                                                 log);
        }
    });
    return useg_launch_check(ctx, op);
}

extern "C" useg_status useg_softmax_backward_cuda(useg_ctx *ctx, const useg_tensor *y, const useg_tensor *g, int axis,
                                                  bool log, useg_tensor *dx) {
    const char *op = log ? "log_softmax backward" : "softmax backward";
    int64_t outer, size, inner;
    useg_split_around(y, axis, &outer, &size, &inner);
    if (outer * size * inner == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    const int rows_per_block = THREADS / WARP;
    USEG_CUDA_DISPATCH(ctx, op, y->dtype, T, {
        T *DX = (T *)dx->data;
        const T *G = (const T *)g->data, *Y = (const T *)y->data;
        if (inner > 1) {
            softmax_backward_column_kernel<T><<<grid_for(outer * inner, THREADS), THREADS, 0, st>>>(DX, G, Y, outer,
                                                                                                  size, inner, log);
        } else if (size > LONG_ROW) {
            USEG_TRY(check_rows(ctx, op, outer));
            softmax_backward_block_kernel<T><<<(unsigned)outer, LONG_THREADS, 0, st>>>(DX, G, Y, size, log);
        } else {
            USEG_TRY(check_rows(ctx, op, CEIL_DIV(outer, rows_per_block)));
            softmax_backward_warp_kernel<T><<<(unsigned)CEIL_DIV(outer, rows_per_block), THREADS, 0, st>>>(
                DX, G, Y, outer, size, log);
        }
    });
    return useg_launch_check(ctx, op);
}
