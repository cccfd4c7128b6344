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
#include "interp_taps.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0, "whole warps");

template <typename T>
static __global__ void interp_forward_kernel(T *y, const T *x, int64_t BC, int64_t H, int64_t W, int64_t OH,
                                             int64_t OW, float scale_h, float scale_w, bool cubic) {
    int64_t n = BC * OH * OW;
    GRID_STRIDE(e, n) {
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
    GRID_STRIDE(e, n) {
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
