// Bilinear and bicubic resampling with align_corners=False, forward and
// backward.
//
// Shapes: x, dx (BC, H, W); y, dy (BC, OH, OW); contiguous. CPU reference:
// useg_interpolate (core/ops_interp.c) = PyTorch F.interpolate(size=...,
// align_corners=False), whose CUDA kernels this copies in f32: scale = in/out,
// source = scale (dst + 0.5) - 0.5; bilinear clamps the source at 0 and takes
// taps f, min(f + 1, in - 1); bicubic takes f - 1 .. f + 2 clamped to the
// border with Keys' cubic, a = -0.75. Equal sizes copy, as PyTorch does.
//
// The backward gathers instead of scattering (PyTorch uses atomicAdd): each
// input pixel visits the output pixels whose taps can land on it -- a range
// per axis derived from inverting the source formula, widened by 2 and then
// checked tap by tap -- and sums weight * dy in a fixed order. Deterministic;
// the work per input pixel is about (taps / scale + 5)^2 output pixels.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;
constexpr float CUBIC_A = -0.75f;
constexpr int RANGE_MARGIN = 2; // outputs added on each side of the estimated range
static_assert(THREADS % WARP == 0, "whole warps");

__device__ __forceinline__ float cubic_convolution1(float x) { return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1; }
__device__ __forceinline__ float cubic_convolution2(float x) {
    return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;
}

// The taps of output index o along one axis: input indices
// clamp(first + k, 0, in - 1) with weights w[k], k < n.
struct axis_taps {
    int64_t first;
    float w[4];
    int n;
};

__device__ __forceinline__ axis_taps taps_of(int64_t o, float scale, bool cubic) {
    axis_taps t;
    if (!cubic) {
        float src = fmaxf(scale * ((float)o + 0.5f) - 0.5f, 0.0f);
        int64_t f = (int64_t)src; // src >= 0, so this is the floor
        float lambda = src - (float)f;
        t.first = f;
        t.w[0] = 1.0f - lambda;
        t.w[1] = lambda;
        t.n = 2;
    } else {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        float f = floorf(src);
        float x1 = src - f, x2 = 1.0f - x1;
        t.first = (int64_t)f - 1;
        t.w[0] = cubic_convolution2(x1 + 1.0f);
        t.w[1] = cubic_convolution1(x1);
        t.w[2] = cubic_convolution1(x2);
        t.w[3] = cubic_convolution2(x2 + 1.0f);
        t.n = 4;
    }
    return t;
}

__device__ __forceinline__ int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

// Total weight input index i gets from output taps t; false when no tap lands on i.
__device__ __forceinline__ bool weight_at(const axis_taps &t, int64_t i, int64_t in, float *w) {
    bool hit = false;
    float sum = 0.0f;
    for (int k = 0; k < t.n; k++)
        if (clamp_index(t.first + k, in) == i) sum += t.w[k], hit = true;
    *w = sum;
    return hit;
}

// Outputs [*lo, *hi] whose taps can land on input index i: those whose floor
// source f lies in [i - 1, i] (bilinear) or [i - 2, i + 1] (bicubic; open at
// a border, where clamping gathers every tap beyond it).
__device__ __forceinline__ void output_range(int64_t i, int64_t in, int64_t out, float scale, bool cubic, int64_t *lo,
                                             int64_t *hi) {
    double s = scale;
    bool open_lo = cubic && i == 0, open_hi = cubic && i == in - 1;
    double f_lo = cubic ? (double)i - 2 : (double)i - 1, f_hi = cubic ? (double)i + 1 : (double)i;
    // f(o) >= f_lo needs (o + 0.5) s - 0.5 >= f_lo; f(o) <= f_hi needs (o + 0.5) s - 0.5 < f_hi + 1.
    *lo = open_lo ? 0 : max((int64_t)0, (int64_t)floor((f_lo + 0.5) / s - 0.5) - RANGE_MARGIN);
    *hi = open_hi ? out - 1 : min(out - 1, (int64_t)ceil((f_hi + 1.5) / s - 0.5) + RANGE_MARGIN);
}

template <typename T>
static __global__ void interp_forward_kernel(T *y, const T *x, int64_t BC, int64_t H, int64_t W, int64_t OH,
                                             int64_t OW, float scale_h, float scale_w, bool cubic) {
    int64_t n = BC * OH * OW;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t ox = e % OW, oy = (e / OW) % OH, bc = e / (OW * OH);
        axis_taps ty = taps_of(oy, scale_h, cubic), tx = taps_of(ox, scale_w, cubic);
        const T *plane = x + bc * H * W;
        float acc = 0.0f;
        for (int ky = 0; ky < ty.n; ky++) {
            const T *row = plane + clamp_index(ty.first + ky, H) * W;
            float r = 0.0f;
            for (int kx = 0; kx < tx.n; kx++) r += tx.w[kx] * load_f32(row + clamp_index(tx.first + kx, W));
            acc += ty.w[ky] * r;
        }
        store_f32(y + e, acc);
    }
}

template <typename T>
static __global__ void interp_backward_kernel(T *dx, const T *dy, int64_t BC, int64_t H, int64_t W, int64_t OH,
                                              int64_t OW, float scale_h, float scale_w, bool cubic) {
    int64_t n = BC * H * W;
    for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
        int64_t ix = e % W, iy = (e / W) % H, bc = e / (W * H);
        int64_t oy0, oy1, ox0, ox1;
        output_range(iy, H, OH, scale_h, cubic, &oy0, &oy1);
        output_range(ix, W, OW, scale_w, cubic, &ox0, &ox1);
        const T *plane = dy + bc * OH * OW;
        float acc = 0.0f;
        for (int64_t oy = oy0; oy <= oy1; oy++) {
            float wy;
            if (!weight_at(taps_of(oy, scale_h, cubic), iy, H, &wy)) continue;
            float r = 0.0f;
            for (int64_t ox = ox0; ox <= ox1; ox++) {
                float wx;
                if (weight_at(taps_of(ox, scale_w, cubic), ix, W, &wx)) r += wx * load_f32(plane + oy * OW + ox);
            }
            acc += wy * r;
        }
        store_f32(dx + e, acc);
    }
}

// The forward (dst = y, src = x) or the backward (dst = dx, src = dy).
static useg_status interp_launch(useg_ctx *ctx, const char *op, bool backward, useg_dtype dt, void *dst,
                                 const void *src, int64_t BC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                 useg_interp_mode mode) {
    if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: sizes must be positive (input %lldx%lld, output %lldx%lld)", op,
                         (long long)H, (long long)W, (long long)OH, (long long)OW);
    if (BC == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    if (H == OH && W == OW)
        return useg_cuda_check(
            ctx, cudaMemcpyAsync(dst, src, (size_t)(BC * H * W) * useg_dtype_size(dt), cudaMemcpyDeviceToDevice, st),
            op);
    float scale_h = (float)H / (float)OH, scale_w = (float)W / (float)OW;
    bool cubic = mode == USEG_INTERP_BICUBIC;
    USEG_CUDA_DISPATCH(ctx, op, dt, T, {
        if (backward)
            interp_backward_kernel<T><<<grid_for(BC * H * W, THREADS), THREADS, 0, st>>>(
                (T *)dst, (const T *)src, BC, H, W, OH, OW, scale_h, scale_w, cubic);
        else
            interp_forward_kernel<T><<<grid_for(BC * OH * OW, THREADS), THREADS, 0, st>>>(
                (T *)dst, (const T *)src, BC, H, W, OH, OW, scale_h, scale_w, cubic);
    });
    return useg_launch_check(ctx, op);
}

extern "C" useg_status useg_interpolate_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, int64_t BC,
                                                     int64_t H, int64_t W, int64_t OH, int64_t OW,
                                                     useg_interp_mode mode) {
    return interp_launch(ctx, "interpolate", false, dt, y, x, BC, H, W, OH, OW, mode);
}

extern "C" useg_status useg_interpolate_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy,
                                                      int64_t BC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                                      useg_interp_mode mode) {
    return interp_launch(ctx, "interpolate backward", true, dt, dx, dy, BC, H, W, OH, OW, mode);
}
