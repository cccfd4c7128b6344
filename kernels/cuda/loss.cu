// Losses, forward and backward: cross entropy (with ignore_index), sigmoid
// focal loss (BCE with logits is its alpha < 0, gamma = 0 case) and dice
// loss, each the mean PyTorch's reduction='mean' takes.
//
// The CUDA twins of ops_loss.c's cross_entropy_forward_cpu / _backward_cpu,
// focal_forward_cpu / _backward_cpu and dice_forward_cpu / _backward_cpu,
// with their tensors: cross entropy logits (N, C, S...) and validated i64
// targets (N, S...), lse (positions) f32; focal logits and target of one
// shape; dice logits and target (N, ...) with stats (N, 2) f32 =
// (2 sum(p t) + 1, sum(p) + sum(t) + 1). All contiguous; the loss is a 0-d
// tensor of the logits' dtype; g is the 0-d upstream gradient, read on the
// device. Formulas as the CPU's (see ops_loss.c), evaluated in f32.
//
// Each forward writes one f32 term per position (per row for dice) to
// scratch and sums them with the deterministic useg_sum_f32_cuda (f64
// accumulation, fixed tree), scaled by 1 / count, so no value crosses to the
// host and no atomics are used. Backwards are one thread per logit. Dice's
// row sums run one block per row, accumulated in f64 as on the CPU.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;
constexpr int DICE_THREADS = 256;
static_assert(THREADS % WARP == 0 && DICE_THREADS % WARP == 0, "whole warps");

template <typename T> static __global__ void store_scalar_kernel(T *out, const float *value) { store_f32(out, *value); }

// out (0-d, dtype of out) = factor * the sum of terms[0..n), deterministic.
static useg_status mean_of(useg_ctx *ctx, const char *op, useg_tensor *out, const float *terms, int64_t n,
                           double factor) {
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *sum;
    useg_status s = useg_cuda_scratch(ctx, sizeof(float), (void **)&sum);
    if (s == USEG_OK) s = useg_sum_f32_cuda(ctx, sum, terms, n, factor);
    if (s == USEG_OK) {
        USEG_CUDA_DISPATCH(ctx, op, out->dtype, T, {
            store_scalar_kernel<T><<<1, 1, 0, useg_stream(ctx)>>>((T *)out->data, sum);
        });
        s = useg_launch_check(ctx, op);
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

__device__ __forceinline__ float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

// --- Cross entropy ------------------------------------------------------------------------

// Position p = n S + s: lse over its C logits (stride S) and, when counted,
// lse - x[target].
template <typename T>
static __global__ void cross_entropy_forward_kernel(float *terms, float *lse, const T *x, const int64_t *target,
                                                    int64_t P, int64_t C, int64_t S, int64_t ignore_index) {
    GRID_STRIDE(p, P) {
        const T *px = x + (p / S) * C * S + p % S;
        // A NaN is passed over by the max (as the CPU's) but turns the sum, and so the loss, into NaN.
        float m = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            float v = load_f32(px + c * S);
            m = v > m ? v : m;
        }
        float e = 0.0f;
        for (int64_t c = 0; c < C; c++) e += expf(load_f32(px + c * S) - m);
        float l = m + logf(e);
        lse[p] = l;
        int64_t t = target[p];
        terms[p] = t != ignore_index && t >= 0 && t < C ? l - load_f32(px + t * S) : 0.0f;
    }
}

// dx = g / count (softmax - onehot(target)), 0 at ignored positions.
template <typename T>
static __global__ void cross_entropy_backward_kernel(T *dx, const T *g, const T *x, const int64_t *target,
                                                     const float *lse, int64_t n, int64_t C, int64_t S,
                                                     int64_t ignore_index, float inv_count) {
    float scale = load_f32(g) * inv_count;
    GRID_STRIDE(e, n) {
        int64_t s = e % S, c = (e / S) % C, p = (e / (S * C)) * S + s, t = target[p];
        float d = 0.0f;
        if (t != ignore_index && t >= 0 && t < C) d = scale * (expf(load_f32(x + e) - lse[p]) - (c == t ? 1.0f : 0.0f));
        store_f32(dx + e, d);
    }
}

extern "C" useg_status useg_cross_entropy_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target,
                                                       int64_t ignore_index, double count, useg_tensor *lse,
                                                       useg_tensor *out) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "cross_entropy", x->dtype));
    int64_t N = x->shape[0], C = x->shape[1], P = useg_numel(target), S = N ? P / N : 0;
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *terms;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(P > 0 ? P : 1) * sizeof(float), (void **)&terms);
    if (s == USEG_OK && P > 0) {
        USEG_CUDA_DISPATCH(ctx, "cross_entropy", x->dtype, T, {
            cross_entropy_forward_kernel<T><<<grid_for(P, THREADS), THREADS, 0, useg_stream(ctx)>>>(
                terms, (float *)lse->data, (const T *)x->data, (const int64_t *)target->data, P, C, S, ignore_index);
        });
        s = useg_launch_check(ctx, "cross_entropy");
    }
    // count 0 (all ignored): 0 * inf = NaN, as the CPU's 0 / 0 and PyTorch.
    if (s == USEG_OK) s = mean_of(ctx, "cross_entropy", out, terms, P, 1.0 / count);
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_cross_entropy_backward_cuda(useg_ctx *ctx, const useg_tensor *x,
                                                        const useg_tensor *target, int64_t ignore_index, double count,
                                                        const useg_tensor *lse, const useg_tensor *g, useg_tensor *dx) {
    int64_t n = useg_numel(x), N = x->shape[0], C = x->shape[1], S = N ? useg_numel(target) / N : 0;
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "cross_entropy backward", x->dtype, T, {
        cross_entropy_backward_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            (T *)dx->data, (const T *)g->data, (const T *)x->data, (const int64_t *)target->data,
            (const float *)lse->data, n, C, S, ignore_index, (float)(1.0 / count));
    });
    return useg_launch_check(ctx, "cross_entropy backward");
}

// --- Sigmoid focal loss and BCE with logits ------------------------------------------------------

// The focal loss of one element and, when dx is non-NULL, its derivatives in
// x and t: ops_loss.c's focal_term in f32.
__device__ __forceinline__ float focal_term(float x, float t, float alpha, float gamma, float *dx, float *dt) {
    float p = sigmoid(x);
    float ce = fmaxf(x, 0.0f) - x * t + log1pf(expf(-fabsf(x)));
    float q = 1.0f - (p * t + (1.0f - p) * (1.0f - t)); // 1 - p_t
    float mod = gamma == 0.0f ? 1.0f : powf(q, gamma);
    float at = alpha >= 0.0f ? alpha * t + (1.0f - alpha) * (1.0f - t) : 1.0f;
    if (dx) {
        float dmod = gamma == 0.0f ? 0.0f : gamma * powf(q, gamma - 1.0f); // PyTorch's pow backward at gamma 0
        *dx = at * ((p - t) * mod + ce * dmod * p * (1.0f - p) * (1.0f - 2.0f * t));
        *dt = at * (-x * mod + ce * dmod * (1.0f - 2.0f * p)) + (alpha >= 0.0f ? (2.0f * alpha - 1.0f) * ce * mod : 0.0f);
    }
    return at * ce * mod;
}

template <typename T>
static __global__ void focal_forward_kernel(float *terms, const T *x, const T *t, int64_t n, float alpha, float gamma) {
    GRID_STRIDE(e, n) terms[e] = focal_term(load_f32(x + e), load_f32(t + e), alpha, gamma, NULL, NULL);
}

template <typename T>
static __global__ void focal_backward_kernel(T *dx, T *dt, const T *g, const T *x, const T *t, int64_t n, float alpha,
                                             float gamma, float inv_n) {
    float scale = load_f32(g) * inv_n;
    GRID_STRIDE(e, n) {
        float gx, gt;
        focal_term(load_f32(x + e), load_f32(t + e), alpha, gamma, &gx, &gt);
        if (dx) store_f32(dx + e, scale * gx);
        if (dt) store_f32(dt + e, scale * gt);
    }
}

extern "C" useg_status useg_focal_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                               double gamma, useg_tensor *out) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "focal_loss", x->dtype));
    int64_t n = useg_numel(x);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *terms;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(n > 0 ? n : 1) * sizeof(float), (void **)&terms);
    if (s == USEG_OK && n > 0) {
        USEG_CUDA_DISPATCH(ctx, "focal_loss", x->dtype, T, {
            focal_forward_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(
                terms, (const T *)x->data, (const T *)t->data, n, (float)alpha, (float)gamma);
        });
        s = useg_launch_check(ctx, "focal_loss");
    }
    if (s == USEG_OK) s = mean_of(ctx, "focal_loss", out, terms, n, 1.0 / (double)n); // n 0: NaN, as torch's mean
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_focal_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t,
                                                double alpha, double gamma, const useg_tensor *g, useg_tensor *dx,
                                                useg_tensor *dt) {
    int64_t n = useg_numel(x);
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "focal_loss backward", x->dtype, T, {
        focal_backward_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            dx ? (T *)dx->data : NULL, dt ? (T *)dt->data : NULL, (const T *)g->data, (const T *)x->data,
            (const T *)t->data, n, (float)alpha, (float)gamma, (float)(1.0 / (double)n));
    });
    return useg_launch_check(ctx, "focal_loss backward");
}

// --- Dice ---------------------------------------------------------------------------------

// One block per row of L elements: stats (A, B) and the row's 1 - A / B.
template <typename T>
static __global__ void dice_rows_kernel(float *row_loss, float *stats, const T *x, const T *t, int64_t L) {
    __shared__ double shared[WARP];
    const T *px = x + blockIdx.x * L, *pt = t + blockIdx.x * L;
    double inter = 0, sum = 0;
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
        double p = sigmoid(load_f32(px + i)), tv = load_f32(pt + i);
        inter += p * tv;
        sum += p + tv;
    }
    inter = block_sum(inter, shared);
    sum = block_sum(sum, shared);
    if (threadIdx.x == 0) {
        double A = 2 * inter + 1, B = sum + 1;
        stats[2 * blockIdx.x] = (float)A;
        stats[2 * blockIdx.x + 1] = (float)B;
        row_loss[blockIdx.x] = (float)(1 - A / B);
    }
}

// With A, B the row's stats: d loss / d p = -(2 t B - A) / B^2, d loss / d t = -(2 p B - A) / B^2.
template <typename T>
static __global__ void dice_backward_kernel(T *dx, T *dt, const T *g, const T *x, const T *t, const float *stats,
                                            int64_t n, int64_t L, float inv_N) {
    float scale = load_f32(g) * inv_N;
    GRID_STRIDE(e, n) {
        int64_t r = e / L;
        float A = stats[2 * r], B = stats[2 * r + 1], k = -scale / (B * B);
        float p = sigmoid(load_f32(x + e)), tv = load_f32(t + e);
        if (dx) store_f32(dx + e, k * (2.0f * tv * B - A) * p * (1.0f - p));
        if (dt) store_f32(dt + e, k * (2.0f * p * B - A));
    }
}

extern "C" useg_status useg_dice_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t,
                                              useg_tensor *stats, useg_tensor *out) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "dice_loss", x->dtype));
    int64_t N = x->shape[0], L = N ? useg_numel(x) / N : 0;
    if (N > 0x7fffffff) return useg_fail(ctx, USEG_ERR_SHAPE, "dice_loss: too many rows (%lld)", (long long)N);
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *row_loss;
    useg_status s = useg_cuda_scratch(ctx, (size_t)(N > 0 ? N : 1) * sizeof(float), (void **)&row_loss);
    if (s == USEG_OK && N > 0) {
        USEG_CUDA_DISPATCH(ctx, "dice_loss", x->dtype, T, {
            dice_rows_kernel<T><<<(unsigned)N, DICE_THREADS, 0, useg_stream(ctx)>>>(
                row_loss, (float *)stats->data, (const T *)x->data, (const T *)t->data, L);
        });
        s = useg_launch_check(ctx, "dice_loss");
    }
    if (s == USEG_OK) s = mean_of(ctx, "dice_loss", out, row_loss, N, 1.0 / (double)N); // N 0: NaN
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}

extern "C" useg_status useg_dice_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t,
                                               const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx,
                                               useg_tensor *dt) {
    int64_t n = useg_numel(x), N = x->shape[0], L = N ? n / N : 0;
    if (n == 0) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "dice_loss backward", x->dtype, T, {
        dice_backward_kernel<T><<<grid_for(n, THREADS), THREADS, 0, useg_stream(ctx)>>>(
            dx ? (T *)dx->data : NULL, dt ? (T *)dt->data : NULL, (const T *)g->data, (const T *)x->data,
            (const T *)t->data, (const float *)stats->data, n, L, (float)(1.0 / (double)N));
    });
    return useg_launch_check(ctx, "dice_loss backward");
}
