// Bilinear and bicubic resampling with align_corners=False, forward and
// backward.
//
// Shapes: x, dx (B, C, H, W); y, dy (B, C, OH, OW); contiguous. The CUDA
// twin of ops_interp.c's interp_cpu (useg_interpolate and
// useg_interpolate_scaled, PyTorch 1.13's F.interpolate without antialias)
// with its taps (interp_taps.cuh): the scale in f32 from the sizes or from
// the caller's scale factor, the source coordinate in double, bilinear's
// identity along an axis that keeps its size. Each output pixel evaluates
// its taps directly (sum over rows of the row's weighted taps: the CPU's
// separable sums, in its order).
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
                                             int64_t OW, axis_map mh, axis_map mw) {
    int64_t n = BC * OH * OW;
    GRID_STRIDE(e, n) {
        int64_t ox = e % OW, oy = (e / OW) % OH, bc = e / (OW * OH);
        axis_taps ty = taps_of(oy, mh), tx = taps_of(ox, mw);
        const T *plane = x + bc * H * W;
        float acc = 0.0f;
        for (int ky = 0; ky < ty.n; ky++) {
            const T *row = plane + clamp_index(ty.first + ky, H) * W;
            float r = 0.0f;
            for (int kx = 0; kx < tx.n; kx++) r += load_f32(row + clamp_index(tx.first + kx, W)) * tx.w[kx];
            acc += r * ty.w[ky];
        }
        store_f32(y + e, acc);
    }
}

template <typename T>
static __global__ void interp_backward_kernel(T *dx, const T *dy, int64_t BC, int64_t H, int64_t W, int64_t OH,
                                              int64_t OW, axis_map mh, axis_map mw) {
    int64_t n = BC * H * W;
    GRID_STRIDE(e, n) {
        int64_t ix = e % W, iy = (e / W) % H, bc = e / (W * H);
        int64_t oy0, oy1, ox0, ox1;
        output_range(iy, H, OH, mh, &oy0, &oy1);
        output_range(ix, W, OW, mw, &ox0, &ox1);
        const T *plane = dy + bc * OH * OW;
        float acc = 0.0f;
        for (int64_t oy = oy0; oy <= oy1; oy++) {
            float wy;
            if (!weight_at(taps_of(oy, mh), iy, H, &wy)) continue;
            float r = 0.0f;
            for (int64_t ox = ox0; ox <= ox1; ox++) {
                float wx;
                if (weight_at(taps_of(ox, mw), ix, W, &wx)) r += load_f32(plane + oy * OW + ox) * wx;
            }
            acc += r * wy;
        }
        store_f32(dx + e, acc);
    }
}

extern "C" useg_status useg_interpolate_cuda(useg_ctx *ctx, bool backward, useg_interp_mode mode,
                                             const double *scales, const useg_tensor *src, useg_tensor *dst) {
    const char *op = backward ? "interpolate backward" : "interpolate";
    const useg_tensor *x = backward ? dst : src, *y = backward ? src : dst;
    int64_t BC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    if (useg_numel(x) == 0 || useg_numel(y) == 0) return USEG_OK;
    bool cubic = mode == USEG_INTERP_BICUBIC;
    axis_map mh = axis_map_of(cubic, H, OH, scales[0]), mw = axis_map_of(cubic, W, OW, scales[1]);
    cudaStream_t st = useg_stream(ctx);
    USEG_CUDA_DISPATCH(ctx, op, x->dtype, T, {
        if (backward)
            interp_backward_kernel<T><<<grid_for(BC * H * W, THREADS), THREADS, 0, st>>>(
                (T *)dst->data, (const T *)src->data, BC, H, W, OH, OW, mh, mw);
        else
            interp_forward_kernel<T><<<grid_for(BC * OH * OW, THREADS), THREADS, 0, st>>>(
                (T *)dst->data, (const T *)src->data, BC, H, W, OH, OW, mh, mw);
    });
    return useg_launch_check(ctx, op);
}
