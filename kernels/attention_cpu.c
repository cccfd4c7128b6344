// Fused attention on the CPU (see attention.h): flash-attention-2's blocked
// forward and backward, in f32 and f64.
//
// Forward. One work item is (batch x head, tile of BQ queries); OpenMP
// spreads the items over threads and each item is computed whole by one
// thread, so the result does not depend on the thread count. For every tile
// of BK keys the item forms S = Q K^T * scale (BQ x BK, one GEMM), folds it
// into a running row max and row sum (online softmax: the output rows are
// rescaled by exp(old max - new max) when the max grows), and adds
// exp(S - max) V into the output rows (a second GEMM). At the end the rows are
// divided by their sums and lse = max + log(sum) is saved. The only
// workspace is one S tile and two row vectors per thread.
//
// Backward. The probabilities of a tile are recomputed as P = exp(S - lse);
// with Di = rowsum(dO * O) (one vector per head), dP = dO V^T and
// dS = P * (dP - Di):  dV = P^T dO,  dK = dS^T Q * scale,  dQ = dS K * scale.
// To accumulate without atomics and independently of the thread count, it
// runs two passes: one over key tiles (each item owns a tile of dK and dV
// rows and walks all query tiles) and one over query tiles (each owns dQ
// rows and walks all key tiles). The second pass recomputes S and dP, two
// extra GEMMs out of seven, in exchange for no per-thread partial sums.
//
// GEMMs on the tiles go through OpenBLAS (kernels/gemm.h). Tile products stay
// at or under 64^3 multiply-adds for D <= 64, where OpenBLAS computes on the
// calling thread instead of starting its own threads under ours. The row
// work (max, exp, sums) is vectorised by the compiler from plain loops, with
// a polynomial exp for f32 (libm's expf does not vectorise) and one clone of
// those loops per x86 vector width chosen at load time (target_clones).
// Measured against PyTorch 1.13's explicit softmax(q k^T * scale) v: see
// benchmarks/attention/.
#include "attention.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "gemm.h"

// Queries x keys per tile. BQ x BK x D multiply-adds per GEMM call: large
// enough to amortise the call, small enough to stay in L2 and single-threaded
// inside OpenBLAS (see the header comment).
enum { BQ = 64, BK = 64 };
_Static_assert(BQ % 16 == 0 && BK % 16 == 0, "tiles are whole f32 vectors of the widest ISA");

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define VECTOR_CLONES
#endif

// exp(x) in f32 for the softmax's x <= 0, vectorisable: x = n ln2 + r with
// |r| <= ln2 / 2 (Cody-Waite), Cephes' degree-6 polynomial for exp(r), and
// 2^n built in the exponent bits. Within 2 ulp of expf; inputs below -87
// are clamped (exp(-87) ~ 1.6e-38 is 0 next to a row sum >= 1).
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : x; // keeps NaN
    // Adding 1.5 * 2^23 rounds x log2(e) to the integer n held in t's low mantissa bits.
    float t = x * 1.44269504088896341f + 12582912.0f, n = t - 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (bits - 0x4B400000u + 127u) << 23; // 2^n
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

// Row kernels on one tile, for T = float and double. S and dP are BQ x BK
// tiles (row stride BK) of which m x n are in use; O has row stride D.
//
// online_softmax: S <- exp(S - new max) in place; updates row_max/row_sum
// and rescales the rows of O already accumulated (none on the first tile).
//
// probs_and_dscores: S <- P = exp(S - lse), dP <- dS = P * (dP - Di).
#define DEFINE_ROW_KERNELS(T, SUFFIX, EXP)                                                         \
    VECTOR_CLONES static void online_softmax_##SUFFIX(int64_t m, int64_t n, T *S, T *row_max,      \
                                                      T *row_sum, T *O, int64_t D, int first) {    \
        for (int64_t i = 0; i < m; i++) {                                                          \
            T *s = S + i * BK, mx = s[0], sum = 0;                                                 \
            _Pragma("omp simd reduction(max : mx)") for (int64_t j = 1; j < n; j++) mx =           \
                s[j] > mx ? s[j] : mx;                                                             \
            T new_max = first || mx > row_max[i] ? mx : row_max[i];                                \
            _Pragma("omp simd reduction(+ : sum)") for (int64_t j = 0; j < n; j++) {               \
                s[j] = EXP(s[j] - new_max);                                                        \
                sum += s[j];                                                                       \
            }                                                                                      \
            if (first) {                                                                           \
                row_sum[i] = sum;                                                                  \
            } else if (new_max != row_max[i]) {                                                    \
                T corr = EXP(row_max[i] - new_max), *o = O + i * D;                                \
                row_sum[i] = row_sum[i] * corr + sum;                                              \
                _Pragma("omp simd") for (int64_t d = 0; d < D; d++) o[d] *= corr;                  \
            } else {                                                                               \
                row_sum[i] += sum;                                                                 \
            }                                                                                      \
            row_max[i] = new_max;                                                                  \
        }                                                                                          \
    }                                                                                              \
    VECTOR_CLONES static void probs_and_dscores_##SUFFIX(int64_t m, int64_t n, T *S, T *dP,        \
                                                         const T *lse, const T *Di) {              \
        for (int64_t i = 0; i < m; i++) {                                                          \
            T *s = S + i * BK, *dp = dP + i * BK, l = lse[i], di = Di[i];                          \
            _Pragma("omp simd") for (int64_t j = 0; j < n; j++) {                                  \
                s[j] = EXP(s[j] - l);                                                              \
                dp[j] = s[j] * (dp[j] - di);                                                       \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_ROW_KERNELS(float, f32, exp_f32)
DEFINE_ROW_KERNELS(double, f64, exp)
#undef DEFINE_ROW_KERNELS

#define GEMM(T) _Generic((T)0, float: useg_gemm_f32, double: useg_gemm_f64)
#define ONLINE_SOFTMAX(T) _Generic((T)0, float: online_softmax_f32, double: online_softmax_f64)
#define PROBS_AND_DSCORES(T) _Generic((T)0, float: probs_and_dscores_f32, double: probs_and_dscores_f64)

// GEMMs inside the parallel regions cannot report: make sure up front that
// BLAS is loaded and takes D (the only size not bounded by a tile).
static useg_status gemm_ready(useg_ctx *ctx, useg_dtype dt, int64_t D) {
    if (dt == USEG_F32) return useg_gemm_f32(ctx, false, false, 0, 0, D, 1, NULL, 1, NULL, 1, 0, NULL, 1);
    return useg_gemm_f64(ctx, false, false, 0, 0, D, 1, NULL, 1, NULL, 1, 0, NULL, 1);
}

static void check_shapes(const useg_tensor *q, const useg_tensor *k, const useg_tensor *v) {
    USEG_ASSERT(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && useg_same_shape(k, v), "attention kernel shapes");
    USEG_ASSERT(q->shape[0] == k->shape[0] && q->shape[1] == k->shape[1] && q->shape[3] == k->shape[3],
                "attention kernel shapes");
    USEG_ASSERT(useg_is_contiguous(q) && useg_is_contiguous(k) && useg_is_contiguous(v),
                "attention kernel needs contiguous inputs");
    USEG_ASSERT(k->shape[2] > 0 && q->shape[3] > 0, "attention kernel needs keys and a head dim");
}

// Per-thread workspace: a whole number of cache lines.
static size_t round_up_64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

static size_t forward_thread_bytes(useg_dtype dt) {
    return round_up_64((size_t)(BQ * BK + 2 * BQ) * useg_dtype_size(dt));
}

size_t useg_attention_forward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)k;
    return (size_t)omp_get_max_threads() * forward_thread_bytes(q->dtype);
}

useg_status useg_attention_forward_cpu(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                       const useg_tensor *v, double scale, useg_tensor *out, useg_tensor *lse,
                                       void *workspace) {
    check_shapes(q, k, v);
    const int64_t BH = q->shape[0] * q->shape[1], Nq = q->shape[2], Nk = k->shape[2], D = q->shape[3];
    USEG_TRY(gemm_ready(ctx, q->dtype, D));
    const int64_t q_tiles = CEIL_DIV(Nq, BQ), items = BH * q_tiles;
    const size_t thread_bytes = forward_thread_bytes(q->dtype);
    USEG_FLOAT_DISPATCH(q->dtype, T, {
        const T *Q = q->data, *K = k->data, *V = v->data;
        T *O = out->data, *L = lse ? lse->data : NULL;
        _Pragma("omp parallel for schedule(dynamic)")
        for (int64_t item = 0; item < items; item++) {
            const int64_t bh = item / q_tiles, i0 = item % q_tiles * BQ, m = Nq - i0 < BQ ? Nq - i0 : BQ;
            T *S = (T *)((char *)workspace + (size_t)omp_get_thread_num() * thread_bytes); // (BQ, BK)
            T *row_max = S + BQ * BK, *row_sum = row_max + BQ;                           // (BQ)
            const T *Qi = Q + (bh * Nq + i0) * D, *Kh = K + bh * Nk * D, *Vh = V + bh * Nk * D;
            T *Oi = O + (bh * Nq + i0) * D; // (m, D), accumulated in place
            for (int64_t j0 = 0; j0 < Nk; j0 += BK) {
                const int64_t n = Nk - j0 < BK ? Nk - j0 : BK;
                useg_status st = GEMM(T)(ctx, false, true, m, n, D, (T)scale, Qi, D, Kh + j0 * D, D, 0, S, BK);
                ONLINE_SOFTMAX(T)(m, n, S, row_max, row_sum, Oi, D, j0 == 0);
                if (st == USEG_OK) st = GEMM(T)(ctx, false, false, m, D, n, 1, S, BK, Vh + j0 * D, D, j0 ? 1 : 0, Oi, D);
                USEG_ASSERT(st == USEG_OK, "GEMM failed after gemm_ready");
            }
            for (int64_t i = 0; i < m; i++) {
                const T inv = 1 / row_sum[i];
                for (int64_t d = 0; d < D; d++) Oi[i * D + d] *= inv;
                if (L) L[bh * Nq + i0 + i] = row_max[i] + log(row_sum[i]);
            }
        }
    });
    return USEG_OK;
}

static size_t backward_thread_bytes(useg_dtype dt) {
    return round_up_64((size_t)(2 * BQ * BK) * useg_dtype_size(dt));
}

// The workspace: Di (BH * Nq), then two tiles per thread.
static size_t backward_di_bytes(const useg_tensor *q) {
    return round_up_64((size_t)(q->shape[0] * q->shape[1] * q->shape[2]) * useg_dtype_size(q->dtype));
}

size_t useg_attention_backward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)k;
    return backward_di_bytes(q) + (size_t)omp_get_max_threads() * backward_thread_bytes(q->dtype);
}

useg_status useg_attention_backward_cpu(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                        const useg_tensor *v, const useg_tensor *out, const useg_tensor *lse,
                                        const useg_tensor *dout, double scale, useg_tensor *dq, useg_tensor *dk,
                                        useg_tensor *dv, void *workspace) {
    check_shapes(q, k, v);
    USEG_ASSERT(useg_is_contiguous(out) && useg_is_contiguous(lse) && useg_is_contiguous(dout) &&
                    useg_is_contiguous(dq) && useg_is_contiguous(dk) && useg_is_contiguous(dv),
                "attention backward needs contiguous tensors");
    const int64_t BH = q->shape[0] * q->shape[1], Nq = q->shape[2], Nk = k->shape[2], D = q->shape[3];
    USEG_TRY(gemm_ready(ctx, q->dtype, D));
    if (Nq == 0) { // no query tile to walk: dK and dV are zero
        memset(dk->data, 0, (size_t)useg_numel(dk) * useg_dtype_size(dk->dtype));
        memset(dv->data, 0, (size_t)useg_numel(dv) * useg_dtype_size(dv->dtype));
        return USEG_OK;
    }
    const int64_t q_tiles = CEIL_DIV(Nq, BQ), k_tiles = CEIL_DIV(Nk, BK);
    const size_t thread_bytes = backward_thread_bytes(q->dtype);
    char *thread_ws = (char *)workspace + backward_di_bytes(q);
    USEG_FLOAT_DISPATCH(q->dtype, T, {
        const T *Q = q->data, *K = k->data, *V = v->data, *O = out->data, *L = lse->data, *dO = dout->data;
        T *dQ = dq->data, *dK = dk->data, *dV = dv->data, *Di = workspace; // Di: (BH, Nq)
        const int64_t rows = BH * Nq;
        _Pragma("omp parallel for schedule(static) if (rows * D > USEG_PARALLEL_THRESHOLD)")
        for (int64_t r = 0; r < rows; r++) {
            T s = 0;
            for (int64_t d = 0; d < D; d++) s += dO[r * D + d] * O[r * D + d];
            Di[r] = s;
        }
        // Pass 0 owns key tiles (writes dK, dV); pass 1 owns query tiles (writes dQ).
        for (int pass = 0; pass < 2; pass++) {
            const int64_t own_tiles = pass == 0 ? k_tiles : q_tiles, walk_tiles = pass == 0 ? q_tiles : k_tiles;
            const int64_t items = BH * own_tiles;
            _Pragma("omp parallel for schedule(dynamic)")
            for (int64_t item = 0; item < items; item++) {
                const int64_t bh = item / own_tiles, own = item % own_tiles;
                T *S = (T *)(thread_ws + (size_t)omp_get_thread_num() * thread_bytes), *dP = S + BQ * BK; // (BQ, BK)
                useg_status st = USEG_OK;
                for (int64_t walk = 0; walk < walk_tiles && st == USEG_OK; walk++) {
                    const int64_t i0 = (pass == 0 ? walk : own) * BQ, j0 = (pass == 0 ? own : walk) * BK;
                    const int64_t m = Nq - i0 < BQ ? Nq - i0 : BQ, n = Nk - j0 < BK ? Nk - j0 : BK;
                    const T *Qi = Q + (bh * Nq + i0) * D, *dOi = dO + (bh * Nq + i0) * D;
                    const T *Kj = K + (bh * Nk + j0) * D, *Vj = V + (bh * Nk + j0) * D;
                    const T beta = walk ? 1 : 0;
                    st = GEMM(T)(ctx, false, true, m, n, D, (T)scale, Qi, D, Kj, D, 0, S, BK);
                    if (st == USEG_OK) st = GEMM(T)(ctx, false, true, m, n, D, 1, dOi, D, Vj, D, 0, dP, BK);
                    PROBS_AND_DSCORES(T)(m, n, S, dP, L + bh * Nq + i0, Di + bh * Nq + i0);
                    if (pass == 0) {
                        T *dKj = dK + (bh * Nk + j0) * D, *dVj = dV + (bh * Nk + j0) * D;
                        if (st == USEG_OK) st = GEMM(T)(ctx, true, false, n, D, m, 1, S, BK, dOi, D, beta, dVj, D);
                        if (st == USEG_OK)
                            st = GEMM(T)(ctx, true, false, n, D, m, (T)scale, dP, BK, Qi, D, beta, dKj, D);
                    } else {
                        T *dQi = dQ + (bh * Nq + i0) * D;
                        if (st == USEG_OK)
                            st = GEMM(T)(ctx, false, false, m, D, n, (T)scale, dP, BK, Kj, D, beta, dQi, D);
                    }
                }
                USEG_ASSERT(st == USEG_OK, "GEMM failed after gemm_ready");
            }
        }
    });
    return USEG_OK;
}
