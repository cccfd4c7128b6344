// General matrix multiply on the CPU: C = alpha op(A) op(B) + beta C, row-major.
//
// The work is done by OpenBLAS, loaded at first use with dlopen. Debian's
// OpenBLAS 0.3.21 does not recognise every recent Xeon and then falls back to
// a slow generic kernel (~30 GFLOP/s on 2 cores instead of ~300) unless
// OPENBLAS_CORETYPE is set before the library initialises; loading it
// ourselves lets useg set the core type (when the user has not) before that
// happens, so the fast path is taken without the user knowing, even when the
// process had loaded OpenBLAS first. See kernels/gemm.c for the measurements
// behind the choice.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "context.h"

// op(A) is M x K, op(B) is K x N, C is M x N; lda/ldb/ldc are row strides in
// elements of the stored (untransposed) matrices, at least a stored row long
// (shorter is a bug: USEG_ASSERT). Fails only when the BLAS
// library cannot be loaded (USEG_ERR_UNSUPPORTED with the reason) or a size
// exceeds BLAS's 32-bit ints (USEG_ERR_SHAPE); touches ctx only then, so it
// may be called from several threads. Threads: OpenMP's (OMP_NUM_THREADS);
// called outside a parallel region, a large f32 product is split over them;
// inside one, it runs on the calling thread (see gemm.c).
useg_status useg_gemm_f32(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc);
useg_status useg_gemm_f64(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                          const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                          int64_t ldc);

// "OpenBLAS <core type>, single-threaded under <n> OpenMP threads[; how it
// was loaded]", or the reason loading failed.
const char *useg_gemm_backend(void);
