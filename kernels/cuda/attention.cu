// Fused attention (FlashAttention-style), forward and backward, for head
// dims 32 and 64, in f32, f16 and bf16 storage with f32 math.
//
// Shapes: q, o, dq, do (B, H, Nq, D); k, v, dk, dv (B, H, Nk, D), contiguous;
// lse (B, H, Nq) f32. The CUDA twins of kernels/attention.h's
// useg_attention_forward_cpu / _backward_cpu (same arguments, the lse in f32
// whatever the storage dtype, the workspace on the device: the backward's
// delta), = torch softmax(q k^T scale) v. Head dims other than 32 and 64
// answer USEG_ERR_UNSUPPORTED.
//
// Forward: a block owns FWD_BR query rows of one (b, h), one thread per row.
// The row's q (pre-multiplied by scale log2 e, so exp2 serves) and its output
// accumulator sit in registers; K and V stream through shared memory in
// tiles of FWD_BC keys (every thread reads the same key: a broadcast, no bank
// conflicts). Scores are taken SUB keys at a time with the online softmax:
// the running max m and sum l rescale the accumulator when m grows. The Nq x
// Nk score matrix is never stored; lse = m + log l is saved for the backward.
// Backward (FlashAttention-2's recomputation, without its atomics):
//   delta_i = sum_d do_id o_id                       (preprocess kernel)
//   p_ij = exp(q_i.k_j scale - lse_i), dp_ij = do_i.v_j, ds_ij = p_ij (dp_ij - delta_i)
//   dv_j = sum_i p_ij do_i, dk_j = scale sum_i ds_ij q_i, dq_i = scale sum_j ds_ij k_j
// One kernel owns BWD_BC keys per block (a thread per key, dk and dv in
// registers, its own k and v rows in padded shared memory) and streams the
// query tiles; a second owns BWD_BR queries per block for dq and streams the
// key tiles. Scores are recomputed twice instead of adding dq with float
// atomics, so results are deterministic.
//
// These are scalar-FMA kernels: correct and simple, not tensor-core fast.
// cuDNN's fused attention (or an mma-based kernel) is the path to measure
// against on the GPU machine; benchmarks/cuda/ times this against torch SDPA.
// Measured against: nothing yet; this file has not run on a GPU.
#include "cuda_common.cuh"

constexpr int FWD_BR = 64;  // query rows per forward block (= threads)
constexpr int FWD_BC = 64;  // keys per shared tile
constexpr int SUB = 16;     // keys scored between online-softmax rescales
constexpr int BWD_BR = 64;  // query rows per backward tile / dq block
constexpr int BWD_BC = 64;  // keys per dk-dv block / key tile of the dq kernel
static_assert(FWD_BC % SUB == 0, "a tile is whole sub-blocks");
static_assert(FWD_BR % WARP == 0 && BWD_BR % WARP == 0 && BWD_BC % WARP == 0, "whole warps");
constexpr float LOG2E = 1.4426950408889634f;
constexpr float LN2 = 0.6931471805599453f;

template <typename T, int D>
static __global__ void __launch_bounds__(FWD_BR)
    attention_forward_kernel(T *o, float *lse, const T *q, const T *k, const T *v, int64_t Nq, int64_t Nk,
                             float scale_log2) {
    __shared__ float ks[FWD_BC][D], vs[FWD_BC][D];
    int64_t bh = blockIdx.x, row = blockIdx.y * (int64_t)FWD_BR + threadIdx.x;
    bool valid = row < Nq;
    const T *kb = k + bh * Nk * D, *vb = v + bh * Nk * D;
    float qr[D], acc[D];
#pragma unroll
    for (int d = 0; d < D; d++) {
        qr[d] = valid ? load_f32(q + (bh * Nq + row) * D + d) * scale_log2 : 0.0f;
        acc[d] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t k0 = 0; k0 < Nk; k0 += FWD_BC) {
        __syncthreads(); // every thread is done with the previous tile
        for (int e = threadIdx.x; e < FWD_BC * D; e += FWD_BR) {
            int j = e / D, d = e % D;
            bool in = k0 + j < Nk;
            ks[j][d] = in ? load_f32(kb + (k0 + j) * D + d) : 0.0f;
            vs[j][d] = in ? load_f32(vb + (k0 + j) * D + d) : 0.0f;
        }
        __syncthreads();
        int n_keys = (int)min((int64_t)FWD_BC, Nk - k0);
        for (int j0 = 0; j0 < n_keys; j0 += SUB) {
            float s[SUB], mt = -INFINITY;
#pragma unroll
            for (int jj = 0; jj < SUB; jj++) {
                float dot = 0.0f;
#pragma unroll
                for (int d = 0; d < D; d++) dot += qr[d] * ks[j0 + jj][d];
                s[jj] = j0 + jj < n_keys ? dot : -INFINITY;
                mt = fmaxf(mt, s[jj]);
            }
            float m_new = fmaxf(m, mt); // finite: key j0 is valid
            float corr = exp2f(m - m_new);
            l *= corr;
#pragma unroll
            for (int d = 0; d < D; d++) acc[d] *= corr;
#pragma unroll
            for (int jj = 0; jj < SUB; jj++) {
                float p = exp2f(s[jj] - m_new);
                l += p;
#pragma unroll
                for (int d = 0; d < D; d++) acc[d] += p * vs[j0 + jj][d];
            }
            m = m_new;
        }
    }
    if (!valid) return;
    float inv = 1.0f / l;
#pragma unroll
    for (int d = 0; d < D; d++) store_f32(o + (bh * Nq + row) * D + d, acc[d] * inv);
    if (lse) lse[bh * Nq + row] = (m + log2f(l)) * LN2;
}

// delta_i = sum_d do_id o_id, one thread per row.
template <typename T, int D>
static __global__ void attention_delta_kernel(float *delta, const T *do_, const T *o, int64_t rows) {
    GRID_STRIDE(r, rows) {
        float s = 0.0f;
#pragma unroll
        for (int d = 0; d < D; d++) s += load_f32(do_ + r * D + d) * load_f32(o + r * D + d);
        delta[r] = s;
    }
}

// Dynamic shared memory of the dk-dv kernel: q and do tiles (read by all
// threads: broadcast), lse and delta of the tile, and each thread's own k and
// v rows padded to D + 1 floats so that thread t's row starts on bank t.
template <int D> constexpr size_t dkdv_smem() {
    return sizeof(float) * (2 * BWD_BR * D + 2 * BWD_BR + 2 * BWD_BC * (D + 1));
}

template <typename T, int D>
static __global__ void __launch_bounds__(BWD_BC)
    attention_dkdv_kernel(T *dk, T *dv, const T *q, const T *k, const T *v, const T *do_, const float *lse,
                          const float *delta, int64_t Nq, int64_t Nk, float scale) {
    extern __shared__ float smem[];
    float *qs = smem, *dos = qs + BWD_BR * D, *lse_s = dos + BWD_BR * D, *delta_s = lse_s + BWD_BR;
    float *kown = delta_s + BWD_BR, *vown = kown + BWD_BC * (D + 1);
    int64_t bh = blockIdx.x, j0 = blockIdx.y * (int64_t)BWD_BC;
    int t = threadIdx.x;
    bool valid = j0 + t < Nk;
    const T *qb = q + bh * Nq * D, *dob = do_ + bh * Nq * D;
    for (int e = t; e < BWD_BC * D; e += BWD_BC) {
        int r = e / D, d = e % D;
        bool in = j0 + r < Nk;
        kown[r * (D + 1) + d] = in ? load_f32(k + (bh * Nk + j0 + r) * D + d) : 0.0f;
        vown[r * (D + 1) + d] = in ? load_f32(v + (bh * Nk + j0 + r) * D + d) : 0.0f;
    }
    const float *kr = kown + t * (D + 1), *vr = vown + t * (D + 1);
    float dka[D], dva[D];
#pragma unroll
    for (int d = 0; d < D; d++) dka[d] = dva[d] = 0.0f;
    for (int64_t i0 = 0; i0 < Nq; i0 += BWD_BR) {
        __syncthreads(); // own rows loaded / previous tile consumed
        for (int e = t; e < BWD_BR * D; e += BWD_BC) {
            int r = e / D, d = e % D;
            bool in = i0 + r < Nq;
            qs[e] = in ? load_f32(qb + (i0 + r) * D + d) : 0.0f;
            dos[e] = in ? load_f32(dob + (i0 + r) * D + d) : 0.0f;
        }
        for (int r = t; r < BWD_BR; r += BWD_BC) {
            bool in = i0 + r < Nq;
            lse_s[r] = in ? lse[bh * Nq + i0 + r] : 0.0f;
            delta_s[r] = in ? delta[bh * Nq + i0 + r] : 0.0f;
        }
        __syncthreads();
        if (!valid) continue;
        int n_rows = (int)min((int64_t)BWD_BR, Nq - i0);
        for (int i = 0; i < n_rows; i++) {
            const float *qi = qs + i * D, *doi = dos + i * D;
            float s = 0.0f;
#pragma unroll
            for (int d = 0; d < D; d++) s += qi[d] * kr[d];
            float p = expf(s * scale - lse_s[i]), dp = 0.0f;
#pragma unroll
            for (int d = 0; d < D; d++) {
                dva[d] += p * doi[d];
                dp += doi[d] * vr[d];
            }
            float ds = p * (dp - delta_s[i]);
#pragma unroll
            for (int d = 0; d < D; d++) dka[d] += ds * qi[d];
        }
    }
    if (!valid) return;
#pragma unroll
    for (int d = 0; d < D; d++) {
        store_f32(dk + (bh * Nk + j0 + t) * D + d, dka[d] * scale);
        store_f32(dv + (bh * Nk + j0 + t) * D + d, dva[d]);
    }
}

// Dynamic shared memory of the dq kernel: k and v tiles (broadcast reads) and
// each thread's own q and do rows, padded.
template <int D> constexpr size_t dq_smem() { return sizeof(float) * (2 * BWD_BC * D + 2 * BWD_BR * (D + 1)); }

template <typename T, int D>
static __global__ void __launch_bounds__(BWD_BR)
    attention_dq_kernel(T *dq, const T *q, const T *k, const T *v, const T *do_, const float *lse, const float *delta,
                        int64_t Nq, int64_t Nk, float scale) {
    extern __shared__ float smem[];
    float *ks = smem, *vs = ks + BWD_BC * D, *qown = vs + BWD_BC * D, *doown = qown + BWD_BR * (D + 1);
    int64_t bh = blockIdx.x, i0 = blockIdx.y * (int64_t)BWD_BR;
    int t = threadIdx.x;
    bool valid = i0 + t < Nq;
    for (int e = t; e < BWD_BR * D; e += BWD_BR) {
        int r = e / D, d = e % D;
        bool in = i0 + r < Nq;
        qown[r * (D + 1) + d] = in ? load_f32(q + (bh * Nq + i0 + r) * D + d) : 0.0f;
        doown[r * (D + 1) + d] = in ? load_f32(do_ + (bh * Nq + i0 + r) * D + d) : 0.0f;
    }
    const float *qr = qown + t * (D + 1), *dor = doown + t * (D + 1);
    float lse_i = valid ? lse[bh * Nq + i0 + t] : 0.0f, delta_i = valid ? delta[bh * Nq + i0 + t] : 0.0f;
    float dqa[D];
#pragma unroll
    for (int d = 0; d < D; d++) dqa[d] = 0.0f;
    const T *kb = k + bh * Nk * D, *vb = v + bh * Nk * D;
    for (int64_t j0 = 0; j0 < Nk; j0 += BWD_BC) {
        __syncthreads();
        for (int e = t; e < BWD_BC * D; e += BWD_BR) {
            int r = e / D, d = e % D;
            bool in = j0 + r < Nk;
            ks[e] = in ? load_f32(kb + (j0 + r) * D + d) : 0.0f;
            vs[e] = in ? load_f32(vb + (j0 + r) * D + d) : 0.0f;
        }
        __syncthreads();
        if (!valid) continue;
        int n_keys = (int)min((int64_t)BWD_BC, Nk - j0);
        for (int j = 0; j < n_keys; j++) {
            const float *kj = ks + j * D, *vj = vs + j * D;
            float s = 0.0f, dp = 0.0f;
#pragma unroll
            for (int d = 0; d < D; d++) {
                s += qr[d] * kj[d];
                dp += dor[d] * vj[d];
            }
            float ds = expf(s * scale - lse_i) * (dp - delta_i);
#pragma unroll
            for (int d = 0; d < D; d++) dqa[d] += ds * kj[d];
        }
    }
    if (!valid) return;
#pragma unroll
    for (int d = 0; d < D; d++) store_f32(dq + (bh * Nq + i0 + t) * D + d, dqa[d] * scale);
}

// B H, Nq, Nk, D of q (B, H, Nq, D) and k (B, H, Nk, D), checked against the kernels' limits.
static useg_status check_shapes(useg_ctx *ctx, const char *op, const useg_tensor *q, const useg_tensor *k,
                                int64_t *BH, int64_t *Nq, int64_t *Nk, int64_t *D) {
    USEG_TRY(useg_cuda_float_dtype(ctx, op, q->dtype));
    *BH = q->shape[0] * q->shape[1], *Nq = q->shape[2], *Nk = k->shape[2], *D = q->shape[3];
    if (*D != 32 && *D != 64)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: head dim %lld is not supported on cuda (kernels exist for 32 and 64)",
                         op, (long long)*D);
    if (*Nk < 1 && *Nq > 0) return useg_fail(ctx, USEG_ERR_SHAPE, "%s: no keys to attend to", op);
    if (*BH > 0x7fffffff || CEIL_DIV(*Nq, (int64_t)FWD_BR) > 65535 || CEIL_DIV(*Nk, (int64_t)BWD_BC) > 65535)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: B*H = %lld or N = %lld/%lld too large for one launch", op,
                         (long long)*BH, (long long)*Nq, (long long)*Nk);
    return USEG_OK;
}

extern "C" size_t useg_attention_forward_cuda_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)q, (void)k;
    return 0;
}

extern "C" useg_status useg_attention_forward_cuda(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                                   const useg_tensor *v, double scale, useg_tensor *out,
                                                   useg_tensor *lse, void *workspace) {
    (void)workspace;
    int64_t BH, Nq, Nk, D;
    USEG_TRY(check_shapes(ctx, "attention", q, k, &BH, &Nq, &Nk, &D));
    if (BH * Nq == 0) return USEG_OK;
    dim3 grid((unsigned)BH, (unsigned)CEIL_DIV(Nq, (int64_t)FWD_BR));
    float *L = lse ? (float *)lse->data : NULL, scale_log2 = (float)scale * LOG2E;
    USEG_CUDA_DISPATCH(ctx, "attention", q->dtype, T, {
        T *O = (T *)out->data;
        const T *Q = (const T *)q->data, *K = (const T *)k->data, *V = (const T *)v->data;
        if (D == 64)
            attention_forward_kernel<T, 64><<<grid, FWD_BR, 0, useg_stream(ctx)>>>(O, L, Q, K, V, Nq, Nk, scale_log2);
        else
            attention_forward_kernel<T, 32><<<grid, FWD_BR, 0, useg_stream(ctx)>>>(O, L, Q, K, V, Nq, Nk, scale_log2);
    });
    return useg_launch_check(ctx, "attention");
}

// Opt in to the dynamic shared memory a kernel needs, or fail: the fallback
// when a GPU offers less than these tiles take.
template <typename K>
static useg_status smem_opt_in(useg_ctx *ctx, K kernel, size_t bytes) {
    if (bytes > ctx->cuda->smem_optin)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "attention backward: needs %zu bytes of shared memory, cuda:%d has %zu",
                         bytes, ctx->cuda->index, ctx->cuda->smem_optin);
    return useg_cuda_check(ctx, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes),
                           "attention backward: shared memory opt-in");
}

template <typename T, int D>
static useg_status launch_backward(useg_ctx *ctx, T *dq, T *dk, T *dv, const T *do_, const T *q, const T *k,
                                   const T *v, const T *o, const float *lse, float *delta, int64_t BH, int64_t Nq,
                                   int64_t Nk, float scale) {
    cudaStream_t st = useg_stream(ctx);
    const int delta_threads = 256;
    attention_delta_kernel<T, D><<<grid_for(BH * Nq, delta_threads), delta_threads, 0, st>>>(delta, do_, o, BH * Nq);
    USEG_TRY(useg_launch_check(ctx, "attention backward: delta"));
    USEG_TRY(smem_opt_in(ctx, attention_dkdv_kernel<T, D>, dkdv_smem<D>()));
    dim3 grid_kv((unsigned)BH, (unsigned)CEIL_DIV(Nk, (int64_t)BWD_BC));
    attention_dkdv_kernel<T, D><<<grid_kv, BWD_BC, dkdv_smem<D>(), st>>>(dk, dv, q, k, v, do_, lse, delta, Nq, Nk,
                                                                        scale);
    USEG_TRY(useg_launch_check(ctx, "attention backward: dk, dv"));
    USEG_TRY(smem_opt_in(ctx, attention_dq_kernel<T, D>, dq_smem<D>()));
    dim3 grid_q((unsigned)BH, (unsigned)CEIL_DIV(Nq, (int64_t)BWD_BR));
    attention_dq_kernel<T, D><<<grid_q, BWD_BR, dq_smem<D>(), st>>>(dq, q, k, v, do_, lse, delta, Nq, Nk, scale);
    return useg_launch_check(ctx, "attention backward: dq");
}

extern "C" size_t useg_attention_backward_cuda_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)k;
    return (size_t)(q->shape[0] * q->shape[1] * q->shape[2]) * sizeof(float); // delta (B, H, Nq)
}

extern "C" useg_status useg_attention_backward_cuda(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                                    const useg_tensor *v, const useg_tensor *out,
                                                    const useg_tensor *lse, const useg_tensor *dout, double scale,
                                                    useg_tensor *dq, useg_tensor *dk, useg_tensor *dv,
                                                    void *workspace) {
    int64_t BH, Nq, Nk, D;
    USEG_TRY(check_shapes(ctx, "attention backward", q, k, &BH, &Nq, &Nk, &D));
    if (BH == 0) return USEG_OK;
    if (Nq == 0) { // no query reads any key
        size_t bytes = (size_t)(BH * Nk * D) * useg_dtype_size(k->dtype);
        USEG_TRY(useg_cuda_memset(ctx, dk->data, 0, bytes));
        return useg_cuda_memset(ctx, dv->data, 0, bytes);
    }
    USEG_CUDA_DISPATCH(ctx, "attention backward", q->dtype, T, {
        T *DQ = (T *)dq->data, *DK = (T *)dk->data, *DV = (T *)dv->data;
        const T *DO = (const T *)dout->data, *Q = (const T *)q->data, *K = (const T *)k->data;
        const T *V = (const T *)v->data, *O = (const T *)out->data;
        const float *L = (const float *)lse->data;
        float *delta = (float *)workspace;
        return D == 64 ? launch_backward<T, 64>(ctx, DQ, DK, DV, DO, Q, K, V, O, L, delta, BH, Nq, Nk, (float)scale)
                       : launch_backward<T, 32>(ctx, DQ, DK, DV, DO, Q, K, V, O, L, delta, BH, Nq, Nk, (float)scale);
    });
    return USEG_OK;
}
