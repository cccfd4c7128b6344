// Elementwise CUDA kernels: strided copy with dtype conversion, fill,
// accumulate (dst += src), binary ops with broadcasting and the unary
// activations with their derivatives. The tensor-level launchers are the
// CUDA twins of tensor.c's copy, autograd.c's add_into and ops_elementwise.c's
// binary_cpu / unary_forward_cpu / unary_backward_cpu, and match them:
// f32 arithmetic in the same expressions (add, sub, mul and div are bitwise
// equal to the CPU), libm-class device functions elsewhere (expf, erff: a few
// ulp), conversions through double like useg_copy_into.
//
// Layout: operands are described by a strided3 whose axes are merged where
// every operand is contiguous across them (cuda_common.cuh), so a plain
// contiguous op takes the flat kernel and broadcasting costs no copy. One
// thread per element in grid-stride loops (memory bound: no tiling).
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0, "whole warps");

// --- Any-dtype element access (copies and fills) ---------------------------------------

__device__ __forceinline__ double load_any(useg_dtype dt, const void *p, int64_t off) {
    switch (dt) {
    case USEG_F32: return ((const float *)p)[off];
    case USEG_F64: return ((const double *)p)[off];
    case USEG_F16: return __half2float(((const __half *)p)[off]);
    case USEG_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[off]);
    case USEG_I32: return ((const int32_t *)p)[off];
    case USEG_I64: return (double)((const int64_t *)p)[off];
    case USEG_U8: return ((const uint8_t *)p)[off];
    default: return 0;
    }
}

// Rounds through f32 for the 16-bit floats, as the CPU's store() does.
__device__ __forceinline__ void store_any(useg_dtype dt, void *p, int64_t off, double v) {
    switch (dt) {
    case USEG_F32: ((float *)p)[off] = (float)v; break;
    case USEG_F64: ((double *)p)[off] = v; break;
    case USEG_F16: ((__half *)p)[off] = __float2half_rn((float)v); break;
    case USEG_BF16: ((__nv_bfloat16 *)p)[off] = __float2bfloat16_rn((float)v); break;
    case USEG_I32: ((int32_t *)p)[off] = (int32_t)v; break;
    case USEG_I64: ((int64_t *)p)[off] = (int64_t)v; break;
    case USEG_U8: ((uint8_t *)p)[off] = (uint8_t)v; break;
    default: break;
    }
}

// --- Kernels ----------------------------------------------------------------------------

// Same dtype: move the bits (exact for every dtype, integers included).
template <typename U>
static __global__ void copy_bits_kernel(U *dst, const U *src, strided3 s, int64_t n) {
    GRID_STRIDE(i, n) {
        int64_t off[2];
        strided_offsets<2>(s, i, off);
        dst[off[0]] = src[off[1]];
    }
}

static __global__ void copy_convert_kernel(useg_dtype dst_dt, void *dst, useg_dtype src_dt, const void *src,
                                           strided3 s, int64_t n) {
    GRID_STRIDE(i, n) {
        int64_t off[2];
        strided_offsets<2>(s, i, off);
        store_any(dst_dt, dst, off[0], load_any(src_dt, src, off[1]));
    }
}

static __global__ void fill_kernel(useg_dtype dt, void *dst, double value, strided3 s, int64_t n) {
    GRID_STRIDE(i, n) {
        int64_t off[1];
        strided_offsets<1>(s, i, off);
        store_any(dt, dst, off[0], value);
    }
}

template <typename T>
static __global__ void add_into_kernel(T *dst, const T *src, strided3 s, int64_t n) {
    GRID_STRIDE(i, n) {
        int64_t off[2];
        strided_offsets<2>(s, i, off);
        store_f32(dst + off[0], load_f32(dst + off[0]) + load_f32(src + off[1]));
    }
}

template <int OP>
__device__ __forceinline__ float binary_apply(float x, float y) {
    if (OP == USEG_OP_ADD) return x + y;
    if (OP == USEG_OP_SUB) return x - y;
    if (OP == USEG_OP_MUL) return x * y;
    return x / y;
}

template <typename T, int OP>
static __global__ void binary_flat_kernel(T *out, const T *a, const T *b, int64_t n) {
    GRID_STRIDE(i, n) store_f32(out + i, binary_apply<OP>(load_f32(a + i), load_f32(b + i)));
}

template <typename T, int OP>
static __global__ void binary_strided_kernel(T *out, const T *a, const T *b, strided3 s, int64_t n) {
    GRID_STRIDE(i, n) {
        int64_t off[3];
        strided_offsets<3>(s, i, off);
        store_f32(out + off[0], binary_apply<OP>(load_f32(a + off[1]), load_f32(b + off[2])));
    }
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

template <int OP>
__device__ __forceinline__ float unary_apply(float v, double alpha, double beta) {
    switch (OP) {
    case USEG_OP_SCALE: return (float)(alpha * v + beta); // in double, as the CPU does
    case USEG_OP_EXP: return expf(v);
    case USEG_OP_LOG: return logf(v);
    case USEG_OP_SQRT: return sqrtf(v);
    case USEG_OP_RSQRT: return 1.0f / sqrtf(v);
    case USEG_OP_TANH: return tanhf(v);
    case USEG_OP_SIGMOID: return v >= 0 ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    case USEG_OP_RELU: return v > 0 ? v : 0.0f;
    default: return 0.5f * v * (1.0f + erff(v * INV_SQRT2)); // USEG_OP_GELU
    }
}

// f'(x) from x (v) and y = f(x) (o).
template <int OP>
__device__ __forceinline__ float unary_derivative(float v, float o, double alpha) {
    switch (OP) {
    case USEG_OP_SCALE: return (float)alpha;
    case USEG_OP_EXP: return o;
    case USEG_OP_LOG: return 1.0f / v;
    case USEG_OP_SQRT: return 0.5f / o;
    case USEG_OP_RSQRT: return -0.5f * o * o * o;
    case USEG_OP_TANH: return 1.0f - o * o;
    case USEG_OP_SIGMOID: return o * (1.0f - o);
    case USEG_OP_RELU: return v > 0 ? 1.0f : 0.0f;
    default: return 0.5f * (1.0f + erff(v * INV_SQRT2)) + v * INV_SQRT_2PI * expf(-0.5f * v * v);
    }
}

template <typename T, int OP>
static __global__ void unary_kernel(T *y, const T *x, double alpha, double beta, int64_t n) {
    GRID_STRIDE(i, n) store_f32(y + i, unary_apply<OP>(load_f32(x + i), alpha, beta));
}

template <typename T, int OP>
static __global__ void unary_backward_kernel(T *dx, const T *x, const T *y, const T *g, double alpha, int64_t n) {
    GRID_STRIDE(i, n) {
        float d = unary_derivative<OP>(load_f32(x + i), load_f32(y + i), alpha);
        store_f32(dx + i, load_f32(g + i) * d);
    }
}

// --- Launchers ------------------------------------------------------------------------------

static void two_operands(strided3 *s, const useg_tensor *dst, const useg_tensor *src) {
    const int64_t *strides[2] = {dst->strides, src->strides};
    strided3_init(s, dst->ndim, dst->shape, 2, strides);
}

extern "C" useg_status useg_copy_cuda(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src) {
    int64_t n = useg_numel(dst);
    if (n == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    if (dst->dtype == src->dtype && useg_is_contiguous(dst) && useg_is_contiguous(src))
        return useg_cuda_check(ctx,
                               cudaMemcpyAsync(dst->data, src->data, (size_t)n * useg_dtype_size(dst->dtype),
                                               cudaMemcpyDeviceToDevice, st),
                               "copy");
    strided3 s;
    two_operands(&s, dst, src);
    unsigned grid = grid_for(n, THREADS);
    if (dst->dtype != src->dtype) {
        copy_convert_kernel<<<grid, THREADS, 0, st>>>(dst->dtype, dst->data, src->dtype, src->data, s, n);
    } else {
        switch (useg_dtype_size(dst->dtype)) {
        case 1: copy_bits_kernel<<<grid, THREADS, 0, st>>>((uint8_t *)dst->data, (const uint8_t *)src->data, s, n); break;
        case 2: copy_bits_kernel<<<grid, THREADS, 0, st>>>((uint16_t *)dst->data, (const uint16_t *)src->data, s, n); break;
        case 4: copy_bits_kernel<<<grid, THREADS, 0, st>>>((uint32_t *)dst->data, (const uint32_t *)src->data, s, n); break;
        default: copy_bits_kernel<<<grid, THREADS, 0, st>>>((uint64_t *)dst->data, (const uint64_t *)src->data, s, n); break;
        }
    }
    return useg_launch_check(ctx, "copy");
}

extern "C" useg_status useg_fill_cuda(useg_ctx *ctx, useg_tensor *t, double value) {
    int64_t n = useg_numel(t);
    if (n == 0) return USEG_OK;
    strided3 s;
    const int64_t *strides[1] = {t->strides};
    strided3_init(&s, t->ndim, t->shape, 1, strides);
    fill_kernel<<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(t->dtype, t->data, value, s, n);
    return useg_launch_check(ctx, "fill");
}

extern "C" useg_status useg_add_into_cuda(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src) {
    int64_t n = useg_numel(dst);
    if (n == 0) return USEG_OK;
    strided3 s;
    two_operands(&s, dst, src);
    USEG_CUDA_DISPATCH(ctx, "add_into", dst->dtype, T, {
        add_into_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>((T *)dst->data,
                                                                                    (const T *)src->data, s, n);
    });
    return useg_launch_check(ctx, "add_into");
}

template <typename T, int OP>
static void launch_binary(useg_ctx *ctx, const useg_tensor *a, const useg_tensor *b, useg_tensor *out) {
    int64_t sa[USEG_MAX_DIMS], sb[USEG_MAX_DIMS];
    useg_broadcast_strides(a, out->ndim, out->shape, sa);
    useg_broadcast_strides(b, out->ndim, out->shape, sb);
    const int64_t *strides[3] = {out->strides, sa, sb};
    strided3 s;
    strided3_init(&s, out->ndim, out->shape, 3, strides);
    int64_t n = useg_numel(out);
    unsigned grid = grid_for(n, THREADS);
    T *o = (T *)out->data;
    const T *pa = (const T *)a->data, *pb = (const T *)b->data;
    if (strided3_contiguous(&s, 3)) binary_flat_kernel<T, OP><<<grid, THREADS, 0, useg_stream(ctx)>>>(o, pa, pb, n);
    else binary_strided_kernel<T, OP><<<grid, THREADS, 0, useg_stream(ctx)>>>(o, pa, pb, s, n);
}

extern "C" useg_status useg_binary_cuda(useg_ctx *ctx, useg_op op, const useg_tensor *a, const useg_tensor *b,
                                        useg_tensor *out) {
    if (useg_numel(out) == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "binary", out->dtype, T, {
        switch (op) {
        case USEG_OP_ADD: launch_binary<T, USEG_OP_ADD>(ctx, a, b, out); break;
        case USEG_OP_SUB: launch_binary<T, USEG_OP_SUB>(ctx, a, b, out); break;
        case USEG_OP_MUL: launch_binary<T, USEG_OP_MUL>(ctx, a, b, out); break;
        case USEG_OP_DIV: launch_binary<T, USEG_OP_DIV>(ctx, a, b, out); break;
        default: USEG_ASSERT(0, "op %d is not binary", (int)op);
        }
    });
    return useg_launch_check(ctx, "binary");
}

// Expands BODY once per unary op with OP bound to it as a constant.
#define UNARY_SWITCH(op, OPV, ...)                                                           \
    switch (op) {                                                                            \
    case USEG_OP_SCALE: { constexpr int OPV = USEG_OP_SCALE; __VA_ARGS__ } break;            \
    case USEG_OP_EXP: { constexpr int OPV = USEG_OP_EXP; __VA_ARGS__ } break;                \
    case USEG_OP_LOG: { constexpr int OPV = USEG_OP_LOG; __VA_ARGS__ } break;                \
    case USEG_OP_SQRT: { constexpr int OPV = USEG_OP_SQRT; __VA_ARGS__ } break;              \
    case USEG_OP_RSQRT: { constexpr int OPV = USEG_OP_RSQRT; __VA_ARGS__ } break;            \
    case USEG_OP_TANH: { constexpr int OPV = USEG_OP_TANH; __VA_ARGS__ } break;              \
    case USEG_OP_SIGMOID: { constexpr int OPV = USEG_OP_SIGMOID; __VA_ARGS__ } break;        \
    case USEG_OP_RELU: { constexpr int OPV = USEG_OP_RELU; __VA_ARGS__ } break;              \
    case USEG_OP_GELU: { constexpr int OPV = USEG_OP_GELU; __VA_ARGS__ } break;              \
    default: USEG_ASSERT(0, "op %d is not unary", (int)(op));                                 \
    }

extern "C" useg_status useg_unary_cuda(useg_ctx *ctx, useg_op op, double alpha, double beta, const useg_tensor *x,
                                       useg_tensor *y) {
    int64_t n = useg_numel(x);
    if (n == 0) return USEG_OK;
    unsigned grid = grid_for(n, THREADS);
    USEG_CUDA_DISPATCH(ctx, "unary", x->dtype, T, {
        UNARY_SWITCH(op, OP, {
            unary_kernel<T, OP><<<grid, THREADS, 0, useg_stream(ctx)>>>((T *)y->data, (const T *)x->data, alpha,
                                                                        beta, n);
        })
    });
    return useg_launch_check(ctx, "unary");
}

extern "C" useg_status useg_unary_backward_cuda(useg_ctx *ctx, useg_op op, double alpha, const useg_tensor *x,
                                                const useg_tensor *y, const useg_tensor *g, useg_tensor *dx) {
    int64_t n = useg_numel(x);
    if (n == 0) return USEG_OK;
    unsigned grid = grid_for(n, THREADS);
    USEG_CUDA_DISPATCH(ctx, "unary backward", x->dtype, T, {
        UNARY_SWITCH(op, OP, {
            unary_backward_kernel<T, OP><<<grid, THREADS, 0, useg_stream(ctx)>>>(
                (T *)dx->data, (const T *)x->data, (const T *)y->data, (const T *)g->data, alpha, n);
        })
    });
    return useg_launch_check(ctx, "unary backward");
}
