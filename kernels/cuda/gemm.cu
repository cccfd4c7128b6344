// Matrix products on the GPU through cuBLAS and cuBLASLt: GEMM, strided
// batched GEMM, and nn.Linear with the bias fused into cuBLASLt's epilogue.
//
// Row-major in, as kernels/gemm.h: a row-major M x N product is the
// column-major N x M product with the operands swapped, so C^T = op(B)^T
// op(A)^T goes to cuBLAS as-is and nothing is transposed in memory.
// Precision: A, B, C share the storage dtype; accumulation is f32 always
// (CUBLAS_COMPUTE_32F), or TF32 tensor cores for f32 when the context allows
// it (CUBLAS_COMPUTE_32F_FAST_TF32, ~1e-3 relative). bf16 and f16 run on
// tensor cores with f32 accumulation. cuBLAS is deterministic for a given
// GPU, library version and workspace, which useg_cuda_init fixes.
//
// Measured against: nothing yet (benchmarks/cuda/ times it against torch.mm
// on the GPU machine); this file has not run on a GPU.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <limits.h>

#include "cuda_common.cuh"

constexpr int BIAS_THREADS = 256;
static_assert(BIAS_THREADS % WARP == 0, "whole warps");

static cudaDataType_t data_type(useg_dtype dt) {
    return dt == USEG_F16 ? CUDA_R_16F : dt == USEG_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static cublasComputeType_t compute_type(const useg_ctx *ctx, useg_dtype dt) {
    return dt == USEG_F32 && ctx->cuda->allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

static useg_status blas_status(useg_ctx *ctx, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_DEVICE, "%s: %s", what, cublasGetStatusString(st));
}

// cuBLAS takes int sizes and leading dimensions that cover the stored rows.
static useg_status check_gemm(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N,
                              int64_t K, int64_t lda, int64_t ldb, int64_t ldc, int64_t batch) {
    USEG_TRY(useg_cuda_float_dtype(ctx, "gemm", dt));
    if (M < 0 || N < 0 || K < 0 || batch < 0 || M > INT_MAX || N > INT_MAX || K > INT_MAX || batch > INT_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE, "gemm: sizes M=%lld N=%lld K=%lld batch=%lld outside cuBLAS's range",
                         (long long)M, (long long)N, (long long)K, (long long)batch);
    int64_t need_a = trans_a ? M : K, need_b = trans_b ? K : N;
    if (lda < (need_a > 1 ? need_a : 1) || ldb < (need_b > 1 ? need_b : 1) || ldc < (N > 1 ? N : 1) ||
        lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE, "gemm: row strides lda=%lld ldb=%lld ldc=%lld too small for M=%lld N=%lld K=%lld",
                         (long long)lda, (long long)ldb, (long long)ldc, (long long)M, (long long)N, (long long)K);
    return USEG_OK;
}

// C_i = beta C_i (0 when beta is 0, whatever C held): a product with K = 0,
// which this file does not leave to cuBLAS (whether it scales C then is not
// documented; reference BLAS does).
template <typename T>
static __global__ void scale_c_kernel(T *C, int64_t M, int64_t N, int64_t ldc, int64_t stride_c, int64_t batch,
                                      float beta) {
    GRID_STRIDE(e, batch * M * N) {
        int64_t j = e % N, i = (e / N) % M, b = e / (N * M);
        T *c = C + b * stride_c + i * ldc + j;
        store_f32(c, beta == 0.0f ? 0.0f : beta * load_f32(c));
    }
}

extern "C" useg_status useg_gemm_batched_cuda(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M,
                                              int64_t N, int64_t K, float alpha, const void *A, int64_t lda,
                                              int64_t stride_a, const void *B, int64_t ldb, int64_t stride_b,
                                              float beta, void *C, int64_t ldc, int64_t stride_c, int64_t batch) {
    USEG_TRY(check_gemm(ctx, dt, trans_a, trans_b, M, N, K, lda, ldb, ldc, batch));
    if (M == 0 || N == 0 || batch == 0 || (K == 0 && beta == 1.0f)) return USEG_OK;
    if (K == 0) {
        USEG_CUDA_DISPATCH(ctx, "gemm", dt, T, {
            scale_c_kernel<T><<<grid_for(batch * M * N, BIAS_THREADS), BIAS_THREADS, 0, useg_stream(ctx)>>>(
                (T *)C, M, N, ldc, stride_c, batch, beta);
        });
        return useg_launch_check(ctx, "gemm (K = 0)");
    }
    cudaDataType_t type = data_type(dt);
    // Column-major view: C^T (N x M) = op(B)^T (N x K) op(A)^T (K x M).
    cublasStatus_t st = cublasGemmStridedBatchedEx(
        ctx->cuda->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
        (int)K, &alpha, B, type, (int)ldb, stride_b, A, type, (int)lda, stride_a, &beta, C, type, (int)ldc, stride_c,
        (int)batch, compute_type(ctx, dt), CUBLAS_GEMM_DEFAULT);
    return blas_status(ctx, st, "cublasGemmStridedBatchedEx");
}

extern "C" useg_status useg_gemm_cuda(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N,
                                      int64_t K, float alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                                      float beta, void *C, int64_t ldc) {
    return useg_gemm_batched_cuda(ctx, dt, trans_a, trans_b, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

// y (rows, cols) += bias (cols) broadcast over rows.
template <typename T>
static __global__ void add_bias_rows_kernel(T *y, const T *bias, int64_t rows, int64_t cols) {
    GRID_STRIDE(e, rows * cols)
        store_f32(y + e, load_f32(y + e) + load_f32(bias + e % cols));
}

// The largest power of two up to 256 that divides p's address: cuBLASLt's
// heuristic assumes 256-byte aligned matrices unless told otherwise, and a
// tensor view (a slice of a fused qkv output, say) starts anywhere.
static uint32_t alignment_of(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a /= 2;
    return a;
}

// cuBLASLt matmul with the bias epilogue: D (out x rows, column-major) =
// W^T-as-stored (w is row-major (out, in) = column-major in x out, so op T)
// times x^T (column-major in x rows) + bias per row of D. The descriptors
// are initialised in place (the *Init calls), so nothing is allocated; the
// preference states the operands' actual alignments, so the heuristic only
// offers algorithms that can read them. Sets *done = false (and no error)
// when it offers none.
static useg_status linear_lt(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w, const void *bias,
                             int64_t rows, int64_t in, int64_t out, bool *done) {
    *done = false;
    cudaDataType_t type = data_type(dt);
    cublasLtMatmulDescOpaque_t op_mem;
    cublasLtMatrixLayoutOpaque_t la_mem, lb_mem, lc_mem;
    cublasLtMatmulPreferenceOpaque_t pref_mem;
    cublasLtMatmulDesc_t op = &op_mem;
    cublasLtMatrixLayout_t la = &la_mem, lb = &lb_mem, lc = &lc_mem;
    cublasLtMatmulPreference_t pref = &pref_mem;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    cublasLtEpilogue_t epilogue = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    size_t ws = ctx->cuda->blas_workspace_bytes;
    cublasLtMatmulHeuristicResult_t result = {};
    int found = 0;
    float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t st = cublasLtMatmulDescInit(op, compute_type(ctx, dt), CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue);
    if (st == CUBLAS_STATUS_SUCCESS && bias)
        st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(la, type, (uint64_t)in, (uint64_t)out, in);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(lb, type, (uint64_t)in, (uint64_t)rows, in);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutInit(lc, type, (uint64_t)out, (uint64_t)rows, out);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceInit(pref);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    const struct {
        cublasLtMatmulPreferenceAttributes_t attr;
        const void *p;
    } aligns[4] = {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, w}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, x},
                   {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, y}, {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, y}};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++) {
        uint32_t a = alignment_of(aligns[i].p);
        st = cublasLtMatmulPreferenceSetAttribute(pref, aligns[i].attr, &a, sizeof a);
    }
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(ctx->cuda->blaslt, op, la, lb, lc, lc, pref, 1, &result, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found > 0) {
        st = cublasLtMatmul(ctx->cuda->blaslt, op, &alpha, w, la, x, lb, &beta, y, lc, y, lc, &result.algo,
                            ctx->cuda->blas_workspace, ws, useg_stream(ctx));
        *done = st == CUBLAS_STATUS_SUCCESS;
    }
    // No algorithm for this shape is not an error: the caller falls back.
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) st = CUBLAS_STATUS_SUCCESS;
    return blas_status(ctx, st, "cublasLtMatmul (linear)");
}

extern "C" useg_status useg_linear_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w,
                                        const void *bias, int64_t rows, int64_t in, int64_t out) {
    int64_t ld = in > 1 ? in : 1; // a row of no inputs still has a row stride
    USEG_TRY(check_gemm(ctx, dt, false, true, rows, out, in, ld, ld, out, 1));
    if (rows == 0 || out == 0) return USEG_OK;
    bool done = false;
    // No preference states the bias's alignment to the heuristic, so a bias
    // view off a 16-byte boundary conservatively takes the fallback below.
    if (in > 0 && (!bias || alignment_of(bias) >= 16)) USEG_TRY(linear_lt(ctx, dt, y, x, w, bias, rows, in, out, &done));
    if (done) return USEG_OK;
    USEG_TRY(useg_gemm_cuda(ctx, dt, false, true, rows, out, in, 1.0f, x, ld, w, ld, 0.0f, y, out));
    if (!bias) return USEG_OK;
    USEG_CUDA_DISPATCH(ctx, "linear", dt, T, {
        add_bias_rows_kernel<T><<<grid_for(rows * out, BIAS_THREADS), BIAS_THREADS, 0, useg_stream(ctx)>>>(
            (T *)y, (const T *)bias, rows, out);
    });
    return useg_launch_check(ctx, "linear bias");
}
