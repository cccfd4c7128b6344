// Fused attention on the CPU (see attention.h): flash-attention-2's blocked
// forward and backward, in f32 and f64.
//
// Forward. One work item is (batch x head, tile of BQ queries); OpenMP
// spreads the items over threads and each item is computed whole by one
// thread, so the result does not depend on the thread count. For every tile
// of BK keys the item forms the scores (one GEMM), folds them into a running
// row max and row sum (online softmax: output rows accumulated so far are
// rescaled by exp(old max - new max) when the max grows), and adds
// exp(S - max) V into the output rows (a second GEMM). At the end the rows are
// divided by their sums and lse = max + log(sum) is saved. The workspace is
// one score tile, one transposed query tile and two row vectors per thread.
//
// Backward. The probabilities of a tile are recomputed as P = exp(S - lse);
// with Di = rowsum(dO * O), dP = dO V^T and dS = P * (dP - Di):
// dV = P^T dO, dK = dS^T Q * scale, dQ = dS K * scale. To accumulate without
// atomics and independently of the thread count it runs two passes: one over
// key tiles (each item owns a tile of dK and dV rows and walks all query
// tiles) and one over query tiles (each owns dQ rows and walks all key
// tiles). The second pass recomputes S and dP: two extra GEMMs out of seven,
// in exchange for no per-thread partial sums. Besides two tiles per thread it
// keeps Di and transposed copies of Q and dO (the size of q and dout).
//
// Tiles are held transposed, keys x queries (S^T = K Q^T): with Q (and dO)
// transposed once, every tile product is a row-major NN or TN GEMM, which
// OpenBLAS 0.3.21 on SkylakeX runs through its unpacked small-matrix kernels
// on the calling thread; Q K^T (NT) packs K on every call and, above 64^3
// multiply-adds, starts OpenBLAS threads under ours (the first version did
// that: 1.5x the CPU time in the forward, 1.2-1.3x in the backward). The elementwise work
// (max, exp, sums) is vectorised by the compiler from plain loops over
// queries, with a polynomial exp for f32 (libm's expf does not vectorise) and
// one clone of those loops per x86 vector width (AVX-512, AVX2, SSE2; both
// from vec_math.h). On
// this machine the tile GEMMs run at OpenBLAS's large-GEMM rate (~143 GFLOP/s
// per core), ~80 % of the forward; the exp and sums take the rest.
// Measured against PyTorch 1.13's explicit softmax(q k^T * scale) v by
// benchmarks/attention/bench_attention.py (2 threads each, head dim 64): at
// N = 3601 with 12 heads 0.24x its CPU time and 0.25x its wall time on the
// shared 2-core machine, and 13 MiB of peak memory growth (11 of them the
// output) against its 1.25 GiB; at N = 197 to 901, 0.16-0.27x its CPU time.
#include "attention.h"

#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "gemm.h"
#include "vec_math.h"

// Queries x keys per tile. BQ x BK x D multiply-adds per GEMM call: large
// enough to amortise the call, within OpenBLAS's small-matrix limit (about
// 100^3) for head dims up to 120. Measured on N = 3601, D = 64: 128 x 64 beat
// 64 x 64, 64 x 128, 96 x 96 and 128 x 128 by 3-30 %.
enum { BQ = 128, BK = 64 };
_Static_assert(BQ % 16 == 0 && BK % 16 == 0, "tile rows start on 64-byte lines for f32 and f64");

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// Threads are woken only for at least this many score multiply-adds (~1 ms
// of one core): below it, starting them costs more than the work.
#define PARALLEL_MIN_MADDS ((int64_t)1 << 24)

// Elementwise work on one tile, written once for T = float and double.
// Tiles are transposed, keys x queries (n x m used of BK x BQ, row stride BQ),
// so every inner loop runs over queries with unit stride and vectorises.
//
// online_softmax folds a score tile St into the running max and sum of the m
// query rows: St <- exp(St - new max) in place, and row_sum and the rows of O
// accumulated so far (none on the first key tile) are rescaled by
// exp(old max - new max).
//
// probs_and_dscores: St <- P^T = exp(St - lse), dPt <- dS^T = P^T * (dPt - Di).
#define DEFINE_ROW_KERNELS(T, SUFFIX, EXP)                                                        \
    VECTOR_CLONES static void online_softmax_##SUFFIX(int64_t n, int64_t m, T *St, T *row_max,    \
                                                      T *row_sum, T *O, int64_t D, bool first) {  \
        T new_max[BQ], tile_sum[BQ];                                                              \
        for (int64_t i = 0; i < m; i++) {                                                         \
            new_max[i] = first ? St[i] : row_max[i];                                              \
            tile_sum[i] = 0;                                                                      \
        }                                                                                         \
        for (int64_t j = 0; j < n; j++) {                                                         \
            const T *s = St + j * BQ;                                                             \
            _Pragma("omp simd")                                                                   \
            for (int64_t i = 0; i < m; i++) new_max[i] = s[i] > new_max[i] ? s[i] : new_max[i];   \
        }                                                                                         \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T *s = St + j * BQ;                                                                   \
            _Pragma("omp simd")                                                                   \
            for (int64_t i = 0; i < m; i++) {                                                     \
                s[i] = EXP(s[i] - new_max[i]);                                                    \
                tile_sum[i] += s[i];                                                              \
            }                                                                                     \
        }                                                                                         \
        for (int64_t i = 0; i < m; i++) {                                                         \
            if (first) {                                                                          \
                row_sum[i] = tile_sum[i];                                                         \
            } else if (new_max[i] != row_max[i]) {                                                \
                T corr = EXP(row_max[i] - new_max[i]), *o = O + i * D;                            \
                row_sum[i] = row_sum[i] * corr + tile_sum[i];                                     \
                for (int64_t d = 0; d < D; d++) o[d] *= corr;                                     \
            } else {                                                                              \
                row_sum[i] += tile_sum[i];                                                        \
            }                                                                                     \
            row_max[i] = new_max[i];                                                              \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    VECTOR_CLONES static void probs_and_dscores_##SUFFIX(int64_t n, int64_t m, T *St, T *dPt,     \
                                                         const T *lse, const T *Di) {             \
        for (int64_t j = 0; j < n; j++) {                                                         \
            T *s = St + j * BQ, *dp = dPt + j * BQ;                                               \
            _Pragma("omp simd")                                                                   \
            for (int64_t i = 0; i < m; i++) {                                                     \
                s[i] = EXP(s[i] - lse[i]);                                                        \
                dp[i] = s[i] * (dp[i] - Di[i]);                                                   \
            }                                                                                     \
        }                                                                                         \
    }
DEFINE_ROW_KERNELS(float, f32, useg_exp_f32)
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
    USEG_ASSERT(k->shape[2] > 0 && q->shape[3] > 0, "attention kernel needs keys and a head dim");
}

bool useg_attention_rows_readable(const useg_tensor *x) {
    const int64_t N = x->shape[2], D = x->shape[3];
    return (D == 1 || x->strides[3] == 1) && (N == 1 || x->strides[2] >= D);
}

// The row stride of x (B, H, N, D) as a GEMM leading dimension (any value
// >= D serves a single row).
static int64_t row_stride(const useg_tensor *x) { return x->shape[2] == 1 ? x->shape[3] : x->strides[2]; }

// Row i of head (b, h) of x, in elements from x->data.
static int64_t row_offset(const useg_tensor *x, int64_t b, int64_t h, int64_t i) {
    return b * x->strides[0] + h * x->strides[1] + i * x->strides[2];
}

// Per-thread workspace: a whole number of cache lines.
static size_t round_up_64(size_t bytes) { return (bytes + 63) & ~(size_t)63; }

// Per thread: the transposed query tile, the transposed score tile, the row max and sum.
static size_t forward_thread_bytes(useg_dtype dt, int64_t D) {
    return round_up_64((size_t)(D * BQ + BK * BQ + 2 * BQ) * useg_dtype_size(dt));
}

size_t useg_attention_forward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)k;
    return (size_t)omp_get_max_threads() * forward_thread_bytes(q->dtype, q->shape[3]);
}

useg_status useg_attention_forward_cpu(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                       const useg_tensor *v, double scale, useg_tensor *out, useg_tensor *lse,
                                       void *workspace) {
    check_shapes(q, k, v);
    USEG_ASSERT(useg_attention_rows_readable(q) && useg_attention_rows_readable(k) &&
                    useg_attention_rows_readable(v) && useg_is_contiguous(out) && (!lse || useg_is_contiguous(lse)),
                "attention forward: q, k, v need contiguous rows, out and lse contiguity");
    const int64_t H = q->shape[1], BH = q->shape[0] * H, Nq = q->shape[2], Nk = k->shape[2], D = q->shape[3];
    const int64_t ldq = row_stride(q), ldk = row_stride(k), ldv = row_stride(v);
    USEG_TRY(gemm_ready(ctx, q->dtype, D));
    const int64_t q_tiles = CEIL_DIV(Nq, BQ), items = BH * q_tiles;
    const size_t thread_bytes = forward_thread_bytes(q->dtype, D);
    const bool parallel = BH * Nq * Nk * D >= PARALLEL_MIN_MADDS;
    USEG_FLOAT_DISPATCH(q->dtype, T, {
        const T *Q = q->data, *K = k->data, *V = v->data;
        T *O = out->data, *L = lse ? lse->data : NULL;
        _Pragma("omp parallel for schedule(dynamic) if (parallel)")
        for (int64_t item = 0; item < items; item++) {
            const int64_t bh = item / q_tiles, i0 = item % q_tiles * BQ, m = Nq - i0 < BQ ? Nq - i0 : BQ;
            const int64_t b = bh / H, h = bh % H;
            T *Qt = (T *)((char *)workspace + (size_t)omp_get_thread_num() * thread_bytes); // (D, BQ)
            T *St = Qt + D * BQ, *row_max = St + BK * BQ, *row_sum = row_max + BQ;        // (BK, BQ), (BQ)
            const T *Qi = Q + row_offset(q, b, h, i0), *Kh = K + row_offset(k, b, h, 0), *Vh = V + row_offset(v, b, h, 0);
            T *Oi = O + (bh * Nq + i0) * D; // (m, D), accumulated in place
            // Scores are formed transposed, St = K_j Q_i^T: with Q_i transposed once
            // per item every tile product is a plain NN GEMM, which OpenBLAS runs
            // through its unpacked small-matrix kernel (Q K^T would pack K each time).
            for (int64_t i = 0; i < m; i++)
                for (int64_t d = 0; d < D; d++) Qt[d * BQ + i] = Qi[i * ldq + d];
            for (int64_t j0 = 0; j0 < Nk; j0 += BK) {
                const int64_t n = Nk - j0 < BK ? Nk - j0 : BK;
                useg_status st = GEMM(T)(ctx, false, false, n, m, D, (T)scale, Kh + j0 * ldk, ldk, Qt, BQ, 0, St, BQ);
                ONLINE_SOFTMAX(T)(n, m, St, row_max, row_sum, Oi, D, j0 == 0);
                if (st == USEG_OK)
                    st = GEMM(T)(ctx, true, false, m, D, n, 1, St, BQ, Vh + j0 * ldv, ldv, j0 ? 1 : 0, Oi, D);
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
    return round_up_64((size_t)(2 * BK * BQ) * useg_dtype_size(dt));
}

// Shared part of the backward workspace: Di (BH, Nq), Q^T and dO^T (BH, D, Nq).
static size_t backward_shared_bytes(const useg_tensor *q) {
    const int64_t rows = q->shape[0] * q->shape[1] * q->shape[2];
    return round_up_64((size_t)(rows * (1 + 2 * q->shape[3])) * useg_dtype_size(q->dtype));
}

size_t useg_attention_backward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k) {
    (void)k;
    return backward_shared_bytes(q) + (size_t)omp_get_max_threads() * backward_thread_bytes(q->dtype);
}

useg_status useg_attention_backward_cpu(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                        const useg_tensor *v, const useg_tensor *out, const useg_tensor *lse,
                                        const useg_tensor *dout, double scale, useg_tensor *dq, useg_tensor *dk,
                                        useg_tensor *dv, void *workspace) {
    check_shapes(q, k, v);
    USEG_ASSERT(useg_is_contiguous(q) && useg_is_contiguous(k) && useg_is_contiguous(v) &&
                    useg_is_contiguous(out) && useg_is_contiguous(lse) && useg_is_contiguous(dout) &&
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
    const bool parallel = BH * Nq * Nk * D >= PARALLEL_MIN_MADDS;
    char *thread_ws = (char *)workspace + backward_shared_bytes(q);
    USEG_FLOAT_DISPATCH(q->dtype, T, {
        const T *Q = q->data, *K = k->data, *V = v->data, *O = out->data, *L = lse->data, *dO = dout->data;
        T *dQ = dq->data, *dK = dk->data, *dV = dv->data;
        T *Di = workspace, *Qt = Di + BH * Nq, *dOt = Qt + BH * D * Nq; // (BH, Nq), (BH, D, Nq) twice
        const int64_t rows = BH * Nq;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < rows; r++) {
            const int64_t bh = r / Nq, i = r % Nq;
            T s = 0;
            for (int64_t d = 0; d < D; d++) {
                s += dO[r * D + d] * O[r * D + d];
                Qt[(bh * D + d) * Nq + i] = Q[r * D + d];
                dOt[(bh * D + d) * Nq + i] = dO[r * D + d];
            }
            Di[r] = s;
        }
        // Tiles are transposed as in the forward (keys x queries), so that every
        // product is an NN or TN GEMM, which OpenBLAS runs unpacked (see above).
        // Pass 0 owns key tiles (writes dK, dV); pass 1 owns query tiles (writes dQ).
        for (int pass = 0; pass < 2; pass++) {
            const int64_t own_tiles = pass == 0 ? k_tiles : q_tiles, walk_tiles = pass == 0 ? q_tiles : k_tiles;
            const int64_t items = BH * own_tiles;
            _Pragma("omp parallel for schedule(dynamic) if (parallel)")
            for (int64_t item = 0; item < items; item++) {
                const int64_t bh = item / own_tiles, own = item % own_tiles;
                T *St = (T *)(thread_ws + (size_t)omp_get_thread_num() * thread_bytes), *dPt = St + BK * BQ;
                const T *Qth = Qt + bh * D * Nq, *dOth = dOt + bh * D * Nq; // (D, Nq)
                useg_status st = USEG_OK;
                for (int64_t walk = 0; walk < walk_tiles && st == USEG_OK; walk++) {
                    const int64_t i0 = (pass == 0 ? walk : own) * BQ, j0 = (pass == 0 ? own : walk) * BK;
                    const int64_t m = Nq - i0 < BQ ? Nq - i0 : BQ, n = Nk - j0 < BK ? Nk - j0 : BK;
                    const T *Qi = Q + (bh * Nq + i0) * D, *dOi = dO + (bh * Nq + i0) * D;
                    const T *Kj = K + (bh * Nk + j0) * D, *Vj = V + (bh * Nk + j0) * D;
                    const T beta = walk ? 1 : 0;
                    st = GEMM(T)(ctx, false, false, n, m, D, (T)scale, Kj, D, Qth + i0, Nq, 0, St, BQ);
                    if (st == USEG_OK) st = GEMM(T)(ctx, false, false, n, m, D, 1, Vj, D, dOth + i0, Nq, 0, dPt, BQ);
                    PROBS_AND_DSCORES(T)(n, m, St, dPt, L + bh * Nq + i0, Di + bh * Nq + i0);
                    if (pass == 0) {
                        T *dKj = dK + (bh * Nk + j0) * D, *dVj = dV + (bh * Nk + j0) * D;
                        if (st == USEG_OK) st = GEMM(T)(ctx, false, false, n, D, m, 1, St, BQ, dOi, D, beta, dVj, D);
                        if (st == USEG_OK)
                            st = GEMM(T)(ctx, false, false, n, D, m, (T)scale, dPt, BQ, Qi, D, beta, dKj, D);
                    } else {
                        T *dQi = dQ + (bh * Nq + i0) * D;
                        if (st == USEG_OK)
                            st = GEMM(T)(ctx, true, false, m, D, n, (T)scale, dPt, BQ, Kj, D, beta, dQi, D);
                    }
                }
                USEG_ASSERT(st == USEG_OK, "GEMM failed after gemm_ready");
            }
        }
    });
    return USEG_OK;
}
