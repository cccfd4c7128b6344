// 2-D convolution by im2col + cuBLAS, forward and backward; built for the
// ViT patch embedding (kernel = stride = 14 or 16, no padding), correct for
// any stride and zero padding (no dilation or groups, as useg_conv2d).
//
// Shapes: x, dx (B, C, H, W); w, dw (O, C, KH, KW); bias, dbias (O);
// y, dy (B, O, OH, OW); col (B, C KH KW, OH OW) in Caffe's layout. CPU
// reference: useg_conv2d (core/ops_linalg.c) = PyTorch conv2d.
//
// Forward: im2col into device scratch, then one strided-batched GEMM
// y[b] (O, L) = w (O, CK) col[b] (CK, L) with w broadcast (stride 0), then a
// bias kernel. Backward: dcol[b] = w^T dy[b] (one batched GEMM) and col2im,
// which gathers for each input pixel the columns that read it (no atomics);
// dw = sum_b dy[b] col[b]^T as B GEMMs accumulating in batch order (beta 1
// after the first), so the sum order is fixed; dbias by the deterministic
// sum over (B, OH OW).
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0, "whole warps");

struct conv_geom {
    int64_t B, C, H, W, OH, OW;
    int KH, KW, sh, sw, ph, pw;
};

// One thread per col element; consecutive threads walk output positions, so
// writes are coalesced.
template <typename T>
static __global__ void im2col_kernel(T *col, const T *x, conv_geom g) {
    int64_t L = g.OH * g.OW, CK = g.C * g.KH * g.KW;
    GRID_STRIDE(e, g.B * CK * L) {
        int64_t l = e % L, ck = (e / L) % CK, b = e / (L * CK);
        int kw = (int)(ck % g.KW), kh = (int)((ck / g.KW) % g.KH);
        int64_t c = ck / ((int64_t)g.KW * g.KH);
        int64_t ih = (l / g.OW) * g.sh - g.ph + kh, iw = (l % g.OW) * g.sw - g.pw + kw;
        bool inside = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W;
        if (inside) col[e] = x[((b * g.C + c) * g.H + ih) * g.W + iw];
        else store_f32(col + e, 0.0f);
    }
}

// One thread per input pixel: the sum over (kh, kw) of the column entries
// that read it, kh outer, kw inner.
template <typename T>
static __global__ void col2im_kernel(T *dx, const T *col, conv_geom g) {
    int64_t L = g.OH * g.OW, CK = g.C * g.KH * g.KW;
    GRID_STRIDE(e, g.B * g.C * g.H * g.W) {
        int64_t iw = e % g.W, ih = (e / g.W) % g.H, c = (e / (g.W * g.H)) % g.C, b = e / (g.W * g.H * g.C);
        float acc = 0.0f;
        for (int kh = 0; kh < g.KH; kh++) {
            int64_t th = ih + g.ph - kh; // = oh * sh when a column reads this pixel
            if (th < 0 || th % g.sh) continue;
            int64_t oh = th / g.sh;
            if (oh >= g.OH) continue;
            for (int kw = 0; kw < g.KW; kw++) {
                int64_t tw = iw + g.pw - kw;
                if (tw < 0 || tw % g.sw) continue;
                int64_t ow = tw / g.sw;
                if (ow >= g.OW) continue;
                int64_t ck = (c * g.KH + kh) * g.KW + kw;
                acc += load_f32(col + (b * CK + ck) * L + oh * g.OW + ow);
            }
        }
        store_f32(dx + e, acc);
    }
}

// y (B, O, L) += bias (O).
template <typename T>
static __global__ void add_bias_channels_kernel(T *y, const T *bias, int64_t B, int64_t O, int64_t L) {
    GRID_STRIDE(e, B * O * L) store_f32(y + e, load_f32(y + e) + load_f32(bias + (e / L) % O));
}

// A struct over device memory the caller owns, for the tensor-level kernels.
static useg_tensor contiguous_view(useg_dtype dt, int ndim, const int64_t *shape, void *data) {
    useg_tensor t = {};
    t.dtype = dt;
    t.device = USEG_DEVICE_CUDA;
    t.ndim = ndim;
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d];
    t.data = data;
    useg_set_contiguous_strides(&t);
    return t;
}

static useg_status make_geom(useg_ctx *ctx, conv_geom *g, int64_t B, int64_t C, int64_t H, int64_t W, int KH, int KW,
                             int sh, int sw, int ph, int pw) {
    if (KH < 1 || KW < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0 || H + 2 * ph < KH || W + 2 * pw < KW)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "conv2d: kernel %dx%d, stride %dx%d, padding %dx%d do not fit an input of %lldx%lld", KH, KW,
                         sh, sw, ph, pw, (long long)H, (long long)W);
    *g = conv_geom{B, C, H, W, (H + 2 * ph - KH) / sh + 1, (W + 2 * pw - KW) / sw + 1, KH, KW, sh, sw, ph, pw};
    return USEG_OK;
}

static useg_status im2col(useg_ctx *ctx, useg_dtype dt, void *col, const void *x, const conv_geom &g) {
    int64_t n = g.B * g.C * g.KH * g.KW * g.OH * g.OW;
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "im2col", dt, T, {
        im2col_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>((T *)col, (const T *)x, g);
    });
    return useg_launch_check(ctx, "im2col");
}

static useg_status col2im(useg_ctx *ctx, useg_dtype dt, void *dx, const void *col, const conv_geom &g) {
    int64_t n = g.B * g.C * g.H * g.W;
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "col2im", dt, T, {
        col2im_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>((T *)dx, (const T *)col, g);
    });
    return useg_launch_check(ctx, "col2im");
}

extern "C" useg_status useg_im2col_cuda(useg_ctx *ctx, useg_dtype dt, void *col, const void *x, int64_t B, int64_t C,
                                        int64_t H, int64_t W, int KH, int KW, int stride_h, int stride_w, int pad_h,
                                        int pad_w) {
    conv_geom g = {};
    USEG_TRY(make_geom(ctx, &g, B, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w));
    return im2col(ctx, dt, col, x, g);
}

extern "C" useg_status useg_col2im_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dcol, int64_t B,
                                        int64_t C, int64_t H, int64_t W, int KH, int KW, int stride_h, int stride_w,
                                        int pad_h, int pad_w) {
    conv_geom g = {};
    USEG_TRY(make_geom(ctx, &g, B, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w));
    return col2im(ctx, dt, dx, dcol, g);
}

extern "C" useg_status useg_conv2d_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w,
                                                const void *bias, int64_t B, int64_t C, int64_t H, int64_t W, int64_t O,
                                                int KH, int KW, int stride_h, int stride_w, int pad_h, int pad_w) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "conv2d", dt));
    conv_geom g = {};
    USEG_TRY(make_geom(ctx, &g, B, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w));
    int64_t L = g.OH * g.OW, CK = C * KH * KW;
    if (B * O * L == 0) return USEG_OK;
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    void *col;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(B * CK * L) * useg_dtype_size(dt), &col);
    if (s == USEG_OK) s = im2col(ctx, dt, col, x, g);
    if (s == USEG_OK)
        s = useg_gemm_batched_cuda(ctx, dt, false, false, O, L, CK, 1.0f, w, CK, 0, col, L, CK * L, 0.0f, y, L, O * L, B);
    if (s == USEG_OK && bias) {
        USEG_CUDA_DISPATCH(ctx, "conv2d bias", dt, T, {
            add_bias_channels_kernel<T><<<grid_for(B * O * L, THREADS), THREADS, 0, useg_stream(ctx)>>>(
                (T *)y, (const T *)bias, B, O, L);
        });
        s = useg_launch_check(ctx, "conv2d bias");
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_conv2d_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, void *dw, void *dbias,
                                                 const void *dy, const void *x, const void *w, int64_t B, int64_t C,
                                                 int64_t H, int64_t W, int64_t O, int KH, int KW, int stride_h,
                                                 int stride_w, int pad_h, int pad_w) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "conv2d backward", dt));
    conv_geom g = {};
    USEG_TRY(make_geom(ctx, &g, B, C, H, W, KH, KW, stride_h, stride_w, pad_h, pad_w));
    int64_t L = g.OH * g.OW, CK = C * KH * KW;
    size_t es = useg_dtype_size(dt);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    void *col = NULL;
    useg_status s = USEG_OK;
    if ((dx || dw) && B * CK * L > 0) s = useg_cuda_scratch(ctx, (size_t)(B * CK * L) * es, &col);
    if (s == USEG_OK && dx) {
        if (B * C * H * W > 0 && (O == 0 || L == 0)) {
            s = useg_cuda_memset(ctx, dx, 0, (size_t)(B * C * H * W) * es); // no output reads any input
        } else if (B * CK * L > 0) {
            s = useg_gemm_batched_cuda(ctx, dt, true, false, CK, L, O, 1.0f, w, CK, 0, dy, L, O * L, 0.0f, col, L,
                                       CK * L, B);
            if (s == USEG_OK) s = col2im(ctx, dt, dx, col, g);
        }
    }
    if (s == USEG_OK && dw && O * CK > 0) {
        if (B == 0 || L == 0) {
            s = useg_cuda_memset(ctx, dw, 0, (size_t)(O * CK) * es);
        } else {
            s = im2col(ctx, dt, col, x, g);
            for (int64_t b = 0; b < B && s == USEG_OK; b++)
                s = useg_gemm_cuda(ctx, dt, false, true, O, CK, L, 1.0f, (const char *)dy + (size_t)(b * O * L) * es, L,
                                   (const char *)col + (size_t)(b * CK * L) * es, L, b == 0 ? 0.0f : 1.0f, dw, CK);
        }
    }
    if (s == USEG_OK && dbias && O > 0) {
        // dbias = sum of dy over axes 0 and 2 of (B, O, L).
        const int64_t dy_shape[3] = {B, O, L}, keep_shape[3] = {1, O, 1};
        useg_tensor dyt = contiguous_view(dt, 3, dy_shape, (void *)dy), keep = contiguous_view(dt, 3, keep_shape, dbias);
        s = useg_sum_cuda(ctx, &dyt, 0x5u, 1.0, &keep);
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}
