// General matrix multiply on the CPU: C = alpha op(A) op(B) + beta C, row-major.
//
// The work is done by OpenBLAS, loaded at first use with dlopen. Debian's
// OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to a slow
// generic kernel (~30 GFLOP/s on 2 cores here) unless OPENBLAS_CORETYPE is
// set before the library initialises; loading it ourselves lets useg set the
// core type (when the user has not) before that happens, so the fast path is
// taken without the user knowing. See kernels/gemm.c for the choice.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides in
// elements of the stored (untransposed) matrices. Fails only when the BLAS
// library cannot be loaded (USEG_ERR_UNSUPPORTED with the reason).
useg_status useg_gemm_f32(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc);
useg_status useg_gemm_f64(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                          const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                          int64_t ldc);

// The OpenBLAS core type in use ("SkylakeX", ...) or the reason loading failed.
const char *useg_gemm_backend(void);
