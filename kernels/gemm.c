// GEMM through OpenBLAS, loaded with dlopen so that the core type can be
// chosen before OpenBLAS's constructor runs (see gemm.h). The choice:
// when the user set OPENBLAS_CORETYPE it is kept; otherwise on a CPU with
// AVX-512 we ask for the SkylakeX kernels, which 0.3.21 has and which run
// ~7x faster than the fallback it picks for CPUs it does not know.
#include "gemm.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// CBLAS constants (cblas.h), fixed by the standard interface.
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);

static struct {
    pthread_once_t once;
    sgemm_fn sgemm;
    dgemm_fn dgemm;
    char backend[160];
} blas = {.once = PTHREAD_ONCE_INIT};

static void load_blas(void) {
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f")) setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    static const char *const names[] = {"libopenblas.so.0", "libopenblas.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas.backend, sizeof blas.backend, "OpenBLAS not found (%s); apt-get install libopenblas0", dlerror());
        return;
    }
    blas.sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    blas.dgemm = (dgemm_fn)dlsym(h, "cblas_dgemm");
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    if (!blas.sgemm || !blas.dgemm) {
        snprintf(blas.backend, sizeof blas.backend, "OpenBLAS lacks cblas_sgemm/cblas_dgemm");
        blas.sgemm = NULL;
        return;
    }
    snprintf(blas.backend, sizeof blas.backend, "OpenBLAS %s", corename ? corename() : "(unknown core)");
}

const char *useg_gemm_backend(void) {
    pthread_once(&blas.once, load_blas);
    return blas.backend;
}

static useg_status check_loaded(useg_ctx *ctx, int64_t M, int64_t N, int64_t K) {
    pthread_once(&blas.once, load_blas);
    if (!blas.sgemm) return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "gemm: %s", blas.backend);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE, "gemm: a dimension exceeds the BLAS 32-bit limit");
    return USEG_OK;
}

useg_status useg_gemm_f32(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    USEG_TRY(check_loaded(ctx, M, N, K));
    if (M == 0 || N == 0) return USEG_OK;
    blas.sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
               (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return USEG_OK;
}

useg_status useg_gemm_f64(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                          const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                          int64_t ldc) {
    USEG_TRY(check_loaded(ctx, M, N, K));
    if (M == 0 || N == 0) return USEG_OK;
    blas.dgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
               (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return USEG_OK;
}
