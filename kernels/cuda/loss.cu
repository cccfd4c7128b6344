// Losses, forward and backward: cross entropy (with ignore_index), BCE with
// logits, sigmoid focal loss and dice loss, each the mean PyTorch's
// reduction='mean' takes.
//
// Shapes: cross entropy logits (N, C, inner), target (N, inner) i64; BCE and
// focal logits and target (n) of the same dtype; dice logits and target
// (N, M). The loss is a 0-d tensor of the logits' dtype. CPU references:
// core/ops_loss.c (useg_cross_entropy, useg_bce_with_logits,
// useg_focal_loss, useg_dice_loss); PyTorch / torchvision formulas in
// cuda_kernels.h.
//
// Each forward writes one f32 loss per position (and, for cross entropy, a
// 0/1 count) to scratch, sums them with the deterministic useg_sum_f32_cuda
// and divides on the device, so no value crosses to the host and no atomics
// are used. Backwards are one thread per logit, reading the 0-d upstream
// gradient and the saved statistics (log-sum-exp per position for cross
// entropy, the three row sums for dice).
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;
static_assert(THREADS % WARP == 0, "whole warps");

// out = sum / (count ? *count : divisor), in the loss dtype.
template <typename T>
static __global__ void mean_kernel(T *out, const float *sum, const float *count, float divisor) {
    store_f32(out, sum[0] / (count ? count[0] : divisor));
}

static useg_status launch_mean(useg_ctx *ctx, useg_dtype dt, void *loss, const float *sum, const float *count,
                               float divisor) {
    USEG_CUDA_DISPATCH(ctx, "loss mean", dt, T, {
        mean_kernel<T><<<1, 1, 0, useg_stream(ctx)>>>((T *)loss, sum, count, divisor);
    });
    return useg_launch_check(ctx, "loss mean");
}

__device__ __forceinline__ float bce_term(float x, float t) { return fmaxf(x, 0.0f) - x * t + log1pf(expf(-fabsf(x))); }
__device__ __forceinline__ float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

// --- Cross entropy ------------------------------------------------------------------------

template <typename T>
static __global__ void cross_entropy_forward_kernel(float *losses, float *valid, float *lse, const T *logits,
                                                    const int64_t *target, int64_t N, int64_t C, int64_t inner,
                                                    int64_t ignore_index, int32_t *bad_index) {
    GRID_STRIDE(p, N * inner) {
        int64_t n = p / inner, i = p % inner;
        const T *row = logits + n * C * inner + i; // stride `inner` along C
        float m = -INFINITY;
        for (int64_t c = 0; c < C; c++) m = fmaxf(m, load_f32(row + c * inner));
        float s = 0.0f;
        for (int64_t c = 0; c < C; c++) s += expf(load_f32(row + c * inner) - m);
        float l = m + logf(s);
        lse[p] = l;
        int64_t t = target[p];
        bool counted = t != ignore_index && t >= 0 && t < C;
        if (t != ignore_index && !counted && bad_index) *bad_index = 1;
        losses[p] = counted ? l - load_f32(row + t * inner) : 0.0f;
        valid[p] = counted ? 1.0f : 0.0f;
    }
}

template <typename T>
static __global__ void cross_entropy_backward_kernel(T *dlogits, const T *dloss, const T *logits,
                                                     const int64_t *target, const float *lse, const float *count,
                                                     int64_t N, int64_t C, int64_t inner, int64_t ignore_index) {
    float g = load_f32(dloss) / count[0];
    GRID_STRIDE(e, N * C * inner) {
        int64_t i = e % inner, c = (e / inner) % C, n = e / (inner * C);
        int64_t p = n * inner + i, t = target[p];
        float d = 0.0f;
        if (t != ignore_index && t >= 0 && t < C) d = g * (expf(load_f32(logits + e) - lse[p]) - (c == t ? 1.0f : 0.0f));
        store_f32(dlogits + e, d);
    }
}

extern "C" useg_status useg_cross_entropy_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, float *lse,
                                                       float *count, const void *logits, const int64_t *target,
                                                       int64_t N, int64_t C, int64_t inner, int64_t ignore_index,
                                                       int32_t *bad_index) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "cross_entropy", dt));
    if (C == 0) return useg_fail(ctx, USEG_ERR_SHAPE, "cross_entropy: no classes");
    cudaStream_t st = useg_stream(ctx);
    if (bad_index) CUDA_TRY(ctx, cudaMemsetAsync(bad_index, 0, sizeof *bad_index, st));
    int64_t P = N * inner;
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *losses, *valid, *sum;
    size_t bytes = (size_t)(P > 0 ? P : 1) * sizeof(float);
    useg_status s = useg_cuda_scratch(ctx, bytes, (void **)&losses);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, bytes, (void **)&valid);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, sizeof(float), (void **)&sum);
    if (s == USEG_OK && P > 0) {
        USEG_CUDA_DISPATCH(ctx, "cross_entropy", dt, T, {
            cross_entropy_forward_kernel<T><<<grid_for(P, THREADS), THREADS, 0, st>>>(
                losses, valid, lse, (const T *)logits, target, N, C, inner, ignore_index, bad_index);
        });
        s = useg_launch_check(ctx, "cross_entropy");
    }
    if (s == USEG_OK) s = useg_sum_f32_cuda(ctx, sum, losses, P, 1.0);
    if (s == USEG_OK) s = useg_sum_f32_cuda(ctx, count, valid, P, 1.0);
    if (s == USEG_OK) {
        s = launch_mean(ctx, dt, loss, sum, count, 0.0f);
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_cross_entropy_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits,
                                                        const void *dloss, const void *logits, const int64_t *target,
                                                        const float *lse, const float *count, int64_t N, int64_t C,
                                                        int64_t inner, int64_t ignore_index) {
    int64_t total = N * C * inner;
    if (total == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "cross_entropy backward", dt, T, {
        cross_entropy_backward_kernel<T><<<grid_for(total, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dlogits, (const T *)dloss, (const T *)logits, target, lse, count, N, C, inner, ignore_index);
    });
    return useg_launch_check(ctx, "cross_entropy backward");
}

// --- BCE with logits and focal loss (elementwise, then a mean over n) ----------------------

template <typename T, bool FOCAL>
static __global__ void sigmoid_loss_forward_kernel(float *losses, const T *logits, const T *target, int64_t n,
                                                   float alpha, float gamma) {
    GRID_STRIDE(e, n) {
        float x = load_f32(logits + e), t = load_f32(target + e);
        float l = bce_term(x, t);
        if (FOCAL) {
            float p = sigmoid(x);
            float p_t = p * t + (1.0f - p) * (1.0f - t);
            l *= powf(1.0f - p_t, gamma);
            if (alpha >= 0) l *= alpha * t + (1.0f - alpha) * (1.0f - t);
        }
        losses[e] = l;
    }
}

template <typename T, bool FOCAL>
static __global__ void sigmoid_loss_backward_kernel(T *dlogits, const T *dloss, const T *logits, const T *target,
                                                    int64_t n, float alpha, float gamma) {
    float g = load_f32(dloss) / (float)n;
    GRID_STRIDE(e, n) {
        float x = load_f32(logits + e), t = load_f32(target + e), p = sigmoid(x);
        float d = p - t; // d bce / dx
        if (FOCAL) {
            // loss = alpha_t bce q^gamma, q = 1 - p_t, dq/dx = -(2t - 1) p (1 - p);
            // d q^gamma / dq is 0 for gamma == 0, as PyTorch's pow backward has it.
            float q = 1.0f - (p * t + (1.0f - p) * (1.0f - t));
            float dq = -(2.0f * t - 1.0f) * p * (1.0f - p);
            float dpow = gamma == 0.0f ? 0.0f : gamma * powf(q, gamma - 1.0f) * dq;
            d = d * powf(q, gamma) + bce_term(x, t) * dpow;
            if (alpha >= 0) d *= alpha * t + (1.0f - alpha) * (1.0f - t);
        }
        store_f32(dlogits + e, g * d);
    }
}

template <bool FOCAL>
static useg_status sigmoid_loss_forward(useg_ctx *ctx, const char *op, useg_dtype dt, void *loss, const void *logits,
                                        const void *target, int64_t n, float alpha, float gamma) {
    USEG_TRY(useg_cuda_float_dtype(ctx, op, dt));
    cudaStream_t st = useg_stream(ctx);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *losses, *sum;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(n > 0 ? n : 1) * sizeof(float), (void **)&losses);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, sizeof(float), (void **)&sum);
    if (s == USEG_OK && n > 0) {
        USEG_CUDA_DISPATCH(ctx, op, dt, T, {
            sigmoid_loss_forward_kernel<T, FOCAL><<<grid_for(n, THREADS), THREADS, 0, st>>>(
                losses, (const T *)logits, (const T *)target, n, alpha, gamma);
        });
        s = useg_launch_check(ctx, op);
    }
    if (s == USEG_OK) s = useg_sum_f32_cuda(ctx, sum, losses, n, 1.0);
    if (s == USEG_OK) {
        s = launch_mean(ctx, dt, loss, sum, NULL, (float)n);
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

template <bool FOCAL>
static useg_status sigmoid_loss_backward(useg_ctx *ctx, const char *op, useg_dtype dt, void *dlogits,
                                         const void *dloss, const void *logits, const void *target, int64_t n,
                                         float alpha, float gamma) {
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, op, dt, T, {
        sigmoid_loss_backward_kernel<T, FOCAL><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dlogits, (const T *)dloss, (const T *)logits, (const T *)target, n, alpha, gamma);
    });
    return useg_launch_check(ctx, op);
}

extern "C" useg_status useg_bce_with_logits_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, const void *logits,
                                                         const void *target, int64_t n) {
    return sigmoid_loss_forward<false>(ctx, "bce_with_logits", dt, loss, logits, target, n, 0.0f, 0.0f);
}

extern "C" useg_status useg_bce_with_logits_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits,
                                                          const void *dloss, const void *logits, const void *target,
                                                          int64_t n) {
    return sigmoid_loss_backward<false>(ctx, "bce_with_logits backward", dt, dlogits, dloss, logits, target, n, 0.0f,
                                        0.0f);
}

extern "C" useg_status useg_focal_loss_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, const void *logits,
                                                    const void *target, int64_t n, float alpha, float gamma) {
    return sigmoid_loss_forward<true>(ctx, "focal_loss", dt, loss, logits, target, n, alpha, gamma);
}

extern "C" useg_status useg_focal_loss_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                                     const void *logits, const void *target, int64_t n, float alpha,
                                                     float gamma) {
    return sigmoid_loss_backward<true>(ctx, "focal_loss backward", dt, dlogits, dloss, logits, target, n, alpha,
                                       gamma);
}

// --- Dice ---------------------------------------------------------------------------------

constexpr int DICE_THREADS = 256;
static_assert(DICE_THREADS % WARP == 0, "whole warps");

// One block per row: the three sums by block trees, then the row's loss.
template <typename T>
static __global__ void dice_rows_kernel(float *row_loss, float *row_sums, const T *logits, const T *target,
                                        int64_t M) {
    __shared__ float shared[WARP];
    const T *x = logits + blockIdx.x * M, *t = target + blockIdx.x * M;
    float pt = 0.0f, ps = 0.0f, ts = 0.0f;
    for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
        float p = sigmoid(load_f32(x + m)), tv = load_f32(t + m);
        pt += p * tv;
        ps += p;
        ts += tv;
    }
    pt = block_sum(pt, shared);
    ps = block_sum(ps, shared);
    ts = block_sum(ts, shared);
    if (threadIdx.x == 0) {
        row_sums[blockIdx.x * 3 + 0] = pt;
        row_sums[blockIdx.x * 3 + 1] = ps;
        row_sums[blockIdx.x * 3 + 2] = ts;
        row_loss[blockIdx.x] = 1.0f - (2.0f * pt + 1.0f) / (ps + ts + 1.0f);
    }
}

template <typename T>
static __global__ void dice_backward_kernel(T *dlogits, const T *dloss, const T *logits, const T *target,
                                            const float *row_sums, int64_t N, int64_t M) {
    float g = load_f32(dloss) / (float)N;
    GRID_STRIDE(e, N * M) {
        int64_t n = e / M;
        float inter = row_sums[n * 3], den = row_sums[n * 3 + 1] + row_sums[n * 3 + 2] + 1.0f;
        float num = 2.0f * inter + 1.0f;
        float p = sigmoid(load_f32(logits + e)), t = load_f32(target + e);
        // d/dp of 1 - num / den, with d num/dp = 2 t and d den/dp = 1.
        float dp = -(2.0f * t * den - num) / (den * den);
        store_f32(dlogits + e, g * dp * p * (1.0f - p));
    }
}

extern "C" useg_status useg_dice_loss_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, float *row_sums,
                                                   const void *logits, const void *target, int64_t N, int64_t M) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "dice_loss", dt));
    if (N > 0x7fffffff) return useg_fail(ctx, USEG_ERR_SHAPE, "dice_loss: too many rows (%lld)", (long long)N);
    cudaStream_t st = useg_stream(ctx);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *row_loss, *sum;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(N > 0 ? N : 1) * sizeof(float), (void **)&row_loss);
    if (s == USEG_OK) s = useg_cuda_scratch(ctx, sizeof(float), (void **)&sum);
    if (s == USEG_OK && N > 0) {
        USEG_CUDA_DISPATCH(ctx, "dice_loss", dt, T, {
            dice_rows_kernel<T><<<(unsigned)N, DICE_THREADS, 0, st>>>(row_loss, row_sums, (const T *)logits,
                                                                      (const T *)target, M);
        });
        s = useg_launch_check(ctx, "dice_loss");
    }
    if (s == USEG_OK) s = useg_sum_f32_cuda(ctx, sum, row_loss, N, 1.0);
    if (s == USEG_OK) {
        s = launch_mean(ctx, dt, loss, sum, NULL, (float)N);
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_dice_loss_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                                    const void *logits, const void *target, const float *row_sums,
                                                    int64_t N, int64_t M) {
    if (N * M == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "dice_loss backward", dt, T, {
        dice_backward_kernel<T><<<grid_for(N * M, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dlogits, (const T *)dloss, (const T *)logits, (const T *)target, row_sums, N, M);
    });
    return useg_launch_check(ctx, "dice_loss backward");
}
