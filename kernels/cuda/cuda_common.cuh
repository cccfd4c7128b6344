// What the CUDA kernel files share (C++, internal to kernels/cuda/): error
// checks that turn CUDA failures into a status, the storage-dtype traits
// (f32 / f16 / bf16 stored, f32 computed), the dtype dispatch of launchers,
// deterministic warp and block reductions, and strided index math.
//
// Determinism: every reduction here combines values in an order fixed by the
// launch shape alone (butterfly shuffles, then a fixed tree over warps), never
// by timing, so results are bitwise reproducible run to run.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "context.h"
#include "device.h"
#include "op_internal.h"
}
#include "cuda_kernels.h"

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// Turn a CUDA error into USEG_ERR_DEVICE with "WHAT: cudaErrorName: text".
useg_status useg_cuda_check(useg_ctx *ctx, cudaError_t err, const char *what);
// After a kernel launch: reports a bad launch configuration (or an earlier
// asynchronous error) naming the kernel.
static inline useg_status useg_launch_check(useg_ctx *ctx, const char *kernel) {
    return useg_cuda_check(ctx, cudaGetLastError(), kernel);
}
#define CUDA_TRY(ctx, call) USEG_TRY(useg_cuda_check((ctx), (call), #call))

// The context's stream, for launches.
static inline cudaStream_t useg_stream(const useg_ctx *ctx) { return ctx->cuda->stream; }

// Device scratch memory for one launcher: take it, and rewind when done (the
// stream orders the kernels that reuse it after the ones that used it).
static inline useg_status useg_cuda_scratch(useg_ctx *ctx, size_t bytes, void **out) {
    return useg_scratch_alloc(ctx, USEG_DEVICE_CUDA, bytes, out);
}

// `bytes` bytes of device memory with the lifetime of host arena `lifetime`
// (ctx->step, ->scratch or ->params): for kernels whose CPU twin allocates
// its results in a caller's arena.
static inline useg_status useg_cuda_lifetime_alloc(useg_ctx *ctx, useg_arena *lifetime, size_t bytes, void **out) {
    useg_tensor *t;
    const int64_t size = (int64_t)bytes;
    USEG_TRY(useg_empty_on(ctx, lifetime, USEG_DEVICE_CUDA, USEG_U8, 1, &size, &t));
    *out = t->data;
    return USEG_OK;
}

// --- Storage dtypes -----------------------------------------------------------------
template <typename T> __device__ __forceinline__ float load_f32(const T *p) { return (float)*p; }
template <> __device__ __forceinline__ float load_f32<__half>(const __half *p) { return __half2float(*p); }
template <> __device__ __forceinline__ float load_f32<__nv_bfloat16>(const __nv_bfloat16 *p) {
    return __bfloat162float(*p);
}
template <typename T> __device__ __forceinline__ void store_f32(T *p, float v) { *p = v; }
template <> __device__ __forceinline__ void store_f32<__half>(__half *p, float v) { *p = __float2half_rn(v); }
template <> __device__ __forceinline__ void store_f32<__nv_bfloat16>(__nv_bfloat16 *p, float v) {
    *p = __float2bfloat16_rn(v);
}

// USEG_OK for the storage dtypes the kernels take (f32, f16, bf16); launchers
// that hold scratch check this first, so USEG_CUDA_DISPATCH cannot bail out
// between taking and rewinding it.
static inline useg_status useg_cuda_float_dtype(useg_ctx *ctx, const char *op, useg_dtype dt) {
    if (dt == USEG_F32 || dt == USEG_F16 || dt == USEG_BF16) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_SHAPE, "%s: dtype %s is not supported on cuda", op, useg_dtype_name(dt));
}

// Run BODY with T bound to the storage type of dtype `dt` (f32, f16, bf16);
// any other dtype fails with a shape error naming `op`.
#define USEG_CUDA_DISPATCH(ctx, op, dt, T, ...)                                             \
    do {                                                                                    \
        switch (dt) {                                                                       \
        case USEG_F32: {                                                                    \
            typedef float T;                                                                \
            __VA_ARGS__                                                                     \
        } break;                                                                            \
        case USEG_F16: {                                                                    \
            typedef __half T;                                                               \
            __VA_ARGS__                                                                     \
        } break;                                                                            \
        case USEG_BF16: {                                                                   \
            typedef __nv_bfloat16 T;                                                        \
            __VA_ARGS__                                                                     \
        } break;                                                                            \
        default:                                                                            \
            return useg_fail((ctx), USEG_ERR_SHAPE, "%s: dtype %s is not supported on cuda", (op), \
                             useg_dtype_name(dt));                                          \
        }                                                                                   \
    } while (0)

// --- Reductions -----------------------------------------------------------------------
constexpr int WARP = 32;

template <typename F> __device__ __forceinline__ F warp_sum(F v) {
    for (int o = WARP / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `shared` holds 32 values. Contains __syncthreads: call from
// every thread of the block.
template <typename F> __device__ __forceinline__ F block_sum(F v, F *shared) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, n_warps = blockDim.x / WARP;
    v = warp_sum(v);
    __syncthreads(); // `shared` may still be read by a previous call
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    v = lane < n_warps ? shared[lane] : (F)0;
    return warp_sum(v);
}

// --- Strided index math ----------------------------------------------------------------
// Up to three operands over one shape, each with its own element strides.
// Host code merges axes that are contiguous in every operand first, so the
// common cases reach the kernels as one or two axes.
struct strided3 {
    int ndim;
    int64_t shape[USEG_MAX_DIMS];
    int64_t strides[3][USEG_MAX_DIMS];
};

// Element offsets of flat index i (row-major over shape) in each operand.
template <int N_OPS>
__host__ __device__ __forceinline__ void strided_offsets(const strided3 &s, int64_t i, int64_t *off) {
    for (int k = 0; k < N_OPS; k++) off[k] = 0;
    for (int d = s.ndim - 1; d >= 0; d--) {
        int64_t size = s.shape[d], idx = i % size;
        i /= size;
        for (int k = 0; k < N_OPS; k++) off[k] += idx * s.strides[k][d];
    }
}

// Fill `s` for `n_ops` operands over (ndim, shape), dropping size-1 axes and
// merging axis d into the one before it wherever that one's stride equals
// stride[d] * shape[d] in every operand. A scalar becomes shape (1).
static inline void strided3_init(strided3 *s, int ndim, const int64_t *shape, int n_ops,
                                 const int64_t *const *strides) {
    s->ndim = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        int last = s->ndim - 1;
        bool merge = last >= 0;
        for (int k = 0; k < n_ops && merge; k++) merge = s->strides[k][last] == strides[k][d] * shape[d];
        if (merge) {
            s->shape[last] *= shape[d];
            for (int k = 0; k < n_ops; k++) s->strides[k][last] = strides[k][d];
        } else {
            s->shape[s->ndim] = shape[d];
            for (int k = 0; k < n_ops; k++) s->strides[k][s->ndim] = strides[k][d];
            s->ndim++;
        }
    }
    if (s->ndim == 0) {
        s->ndim = 1;
        s->shape[0] = 1;
        for (int k = 0; k < n_ops; k++) s->strides[k][0] = 1;
    }
}

// True when every operand is plainly contiguous over the merged shape.
static inline bool strided3_contiguous(const strided3 *s, int n_ops) {
    if (s->ndim != 1) return false;
    for (int k = 0; k < n_ops; k++)
        if (s->strides[k][0] != 1 && s->shape[0] != 1) return false;
    return true;
}

// A grid-stride loop: every thread of the grid takes elements i, i + the grid's size, ...
#define GRID_STRIDE(i, n)                                                                    \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

// Grid for a grid-stride loop over n elements with `threads` per block.
static inline unsigned grid_for(int64_t n, int threads) {
    int64_t blocks = CEIL_DIV(n, (int64_t)threads);
    const int64_t max_blocks = 65535LL * 16; // enough to fill any GPU; the loop covers the rest
    return (unsigned)(blocks < 1 ? 1 : blocks > max_blocks ? max_blocks : blocks);
}
