// Layer norm over the last axis, forward and backward.
//
// Shapes: x, y, g, dx (rows, C) contiguous; weight, bias, dweight, dbias (C)
// or NULL; stats (rows, 2) f32 = (mean, rstd) per row. The CUDA twins of
// ops_nn.c's layer_norm_forward_cpu / layer_norm_backward_cpu, PyTorch
// semantics: biased variance, rstd = 1/sqrt(var+eps).
//
// Forward: one warp per row (llm.c's layernorm_forward_kernel3): the mean,
// then the variance as the mean of squared deviations (two passes over the
// row, the second from cache: no cancellation from E[x^2] - E[x]^2), then the
// normalised row.
// Backward: one warp per row for dx,
//   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = dy w;
// dweight = sum_rows dy xhat and dbias = sum_rows dy without atomics: blocks
// of PARAM_THREADS columns by a chunk of rows (at least MIN_ROWS_PER_CHUNK,
// more when that would make more than MAX_CHUNKS chunks: the grid's y
// limit) write partial sums, and a second kernel adds the chunks in order.
// The chunking depends on the shape only, so results are reproducible.
//
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int THREADS = 256;             // 8 rows per block
constexpr int PARAM_THREADS = 256;       // columns per block of the dweight/dbias kernel
constexpr int64_t MIN_ROWS_PER_CHUNK = 256; // rows one partial covers, at least
constexpr int64_t MAX_CHUNKS = 65535;       // gridDim.y's limit
static_assert(THREADS % WARP == 0 && PARAM_THREADS % WARP == 0, "whole warps");

template <typename T>
static __global__ void layer_norm_forward_kernel(T *y, float *stats, const T *x, const T *weight, const T *bias,
                                                 int64_t rows, int64_t C, float eps) {
    int64_t row = blockIdx.x * (int64_t)(blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const T *px = x + row * C;
    float sum = 0.0f;
    for (int64_t c = lane; c < C; c += WARP) sum += load_f32(px + c);
    float mean = warp_sum(sum) / (float)C;
    float var = 0.0f;
    for (int64_t c = lane; c < C; c += WARP) {
        float d = load_f32(px + c) - mean;
        var += d * d;
    }
    var = warp_sum(var) / (float)C;
    float rstd = 1.0f / sqrtf(var + eps);
    for (int64_t c = lane; c < C; c += WARP) {
        float v = (load_f32(px + c) - mean) * rstd;
        if (weight) v *= load_f32(weight + c);
        if (bias) v += load_f32(bias + c);
        store_f32(y + row * C + c, v);
    }
    if (lane == 0 && stats) stats[2 * row] = mean, stats[2 * row + 1] = rstd;
}

template <typename T>
static __global__ void layer_norm_dx_kernel(T *dx, const T *dy, const T *x, const T *weight, const float *stats,
                                            int64_t rows, int64_t C) {
    int64_t row = blockIdx.x * (int64_t)(blockDim.x / WARP) + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    if (row >= rows) return;
    const T *px = x + row * C, *pdy = dy + row * C;
    float mu = stats[2 * row], rs = stats[2 * row + 1];
    float sum_g = 0.0f, sum_gx = 0.0f; // sums of dxhat and dxhat * xhat
    for (int64_t c = lane; c < C; c += WARP) {
        float g = load_f32(pdy + c) * (weight ? load_f32(weight + c) : 1.0f);
        float xhat = (load_f32(px + c) - mu) * rs;
        sum_g += g;
        sum_gx += g * xhat;
    }
    float mean_g = warp_sum(sum_g) / (float)C, mean_gx = warp_sum(sum_gx) / (float)C;
    for (int64_t c = lane; c < C; c += WARP) {
        float g = load_f32(pdy + c) * (weight ? load_f32(weight + c) : 1.0f);
        float xhat = (load_f32(px + c) - mu) * rs;
        store_f32(dx + row * C + c, rs * (g - mean_g - xhat * mean_gx));
    }
}

// partial[chunk][c] = sums over the chunk's rows of dy xhat (into dw_part)
// and dy (into db_part); grid (column blocks, chunks).
template <typename T>
static __global__ void layer_norm_param_partial_kernel(float *dw_part, float *db_part, const T *dy, const T *x,
                                                       const float *stats, int64_t rows, int64_t C,
                                                       int64_t rows_per_chunk) {
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    int64_t begin = blockIdx.y * rows_per_chunk, end = min(rows, begin + rows_per_chunk);
    float dw = 0.0f, db = 0.0f;
    for (int64_t r = begin; r < end; r++) {
        float g = load_f32(dy + r * C + c);
        dw += g * (load_f32(x + r * C + c) - stats[2 * r]) * stats[2 * r + 1];
        db += g;
    }
    if (dw_part) dw_part[blockIdx.y * C + c] = dw;
    if (db_part) db_part[blockIdx.y * C + c] = db;
}

template <typename T>
static __global__ void layer_norm_param_final_kernel(T *dweight, T *dbias, const float *dw_part,
                                                     const float *db_part, int64_t chunks, int64_t C) {
    int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    if (c >= C) return;
    float dw = 0.0f, db = 0.0f;
    for (int64_t k = 0; k < chunks; k++) {
        if (dw_part) dw += dw_part[k * C + c];
        if (db_part) db += db_part[k * C + c];
    }
    if (dweight) store_f32(dweight + c, dw);
    if (dbias) store_f32(dbias + c, db);
}

extern "C" useg_status useg_layer_norm_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                                    const useg_tensor *b, double eps, useg_tensor *y,
                                                    useg_tensor *stats) {
    int64_t C = x->shape[x->ndim - 1], rows = C ? useg_numel(x) / C : 0;
    if (rows == 0) return USEG_OK;
    int64_t blocks = CEIL_DIV(rows, (int64_t)(THREADS / WARP));
    if (blocks > 0x7fffffff) return useg_fail(ctx, USEG_ERR_SHAPE, "layer_norm: too many rows (%lld)", (long long)rows);
    USEG_CUDA_DISPATCH(ctx, "layer_norm", x->dtype, T, {
        layer_norm_forward_kernel<T><<<(unsigned)blocks, THREADS, 0, useg_stream(ctx)>>>(
            (T *)y->data, stats ? (float *)stats->data : NULL, (const T *)x->data, w ? (const T *)w->data : NULL,
            b ? (const T *)b->data : NULL, rows, C, (float)eps);
    });
    return useg_launch_check(ctx, "layer_norm");
}

extern "C" useg_status useg_layer_norm_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                                     const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx,
                                                     useg_tensor *dw, useg_tensor *db) {
    int64_t C = x->shape[x->ndim - 1], rows = C ? useg_numel(x) / C : 0;
    if (C == 0) return USEG_OK;
    cudaStream_t st = useg_stream(ctx);
    USEG_TRY(useg_cuda_float_dtype(ctx, "layer_norm backward", x->dtype));
    if (rows == 0) { // the sums over no rows
        if (dw) USEG_TRY(useg_cuda_memset(ctx, dw->data, 0, (size_t)C * useg_dtype_size(dw->dtype)));
        if (db) USEG_TRY(useg_cuda_memset(ctx, db->data, 0, (size_t)C * useg_dtype_size(db->dtype)));
        return USEG_OK;
    }
    int64_t blocks = CEIL_DIV(rows, (int64_t)(THREADS / WARP));
    int64_t rows_per_chunk = CEIL_DIV(rows, MAX_CHUNKS) > MIN_ROWS_PER_CHUNK ? CEIL_DIV(rows, MAX_CHUNKS) : MIN_ROWS_PER_CHUNK;
    int64_t chunks = CEIL_DIV(rows, rows_per_chunk);
    if (blocks > 0x7fffffff)
        return useg_fail(ctx, USEG_ERR_SHAPE, "layer_norm backward: too many rows (%lld)", (long long)rows);
    const float *S = (const float *)stats->data;
    size_t mark = useg_device_arena_mark(&ctx->cuda->scratch);
    float *dw_part = NULL, *db_part = NULL;
    useg_status s = USEG_OK;
    if (dw) s = useg_cuda_scratch(ctx, (size_t)(chunks * C) * sizeof(float), (void **)&dw_part);
    if (s == USEG_OK && db) s = useg_cuda_scratch(ctx, (size_t)(chunks * C) * sizeof(float), (void **)&db_part);
    if (s == USEG_OK && dx) {
        USEG_CUDA_DISPATCH(ctx, "layer_norm backward", x->dtype, T, {
            layer_norm_dx_kernel<T><<<(unsigned)blocks, THREADS, 0, st>>>(
                (T *)dx->data, (const T *)g->data, (const T *)x->data, w ? (const T *)w->data : NULL, S, rows, C);
        });
        s = useg_launch_check(ctx, "layer_norm backward: dx");
    }
    if (s == USEG_OK && (dw || db)) {
        USEG_CUDA_DISPATCH(ctx, "layer_norm backward", x->dtype, T, {
            dim3 grid((unsigned)CEIL_DIV(C, (int64_t)PARAM_THREADS), (unsigned)chunks);
            layer_norm_param_partial_kernel<T><<<grid, PARAM_THREADS, 0, st>>>(
                dw_part, db_part, (const T *)g->data, (const T *)x->data, S, rows, C, rows_per_chunk);
        });
        s = useg_launch_check(ctx, "layer_norm backward: partial sums");
        if (s == USEG_OK) {
            USEG_CUDA_DISPATCH(ctx, "layer_norm backward", x->dtype, T, {
                layer_norm_param_final_kernel<T><<<(unsigned)CEIL_DIV(C, (int64_t)PARAM_THREADS), PARAM_THREADS, 0,
                                                   st>>>(dw ? (T *)dw->data : NULL, db ? (T *)db->data : NULL,
                                                         dw_part, db_part, chunks, C);
            });
            s = useg_launch_check(ctx, "layer_norm backward: sums");
        }
    }
    useg_device_arena_rewind(&ctx->cuda->scratch, mark);
    return s;
}
