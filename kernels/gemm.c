// GEMM through OpenBLAS, loaded with dlopen so that the core type can be
// chosen before OpenBLAS's constructor runs (see gemm.h).
//
// The choice, measured on this machine (2 cores of a KVM Xeon with AVX-512 and
// AMX, Debian OpenBLAS 0.3.21 pthread build, f32 row-major cblas_sgemm
// through dlopen, median of 5-20 timed runs, on an idle machine: load 0.35).
// GFLOP/s at 256^3 / 1024^3 / 2048^3 / 197x384x1152 / 3601x768x2304 (M x K x N):
//   OpenBLAS SkylakeX     213 / 283 / 303 / 247 / 304
//   OpenBLAS Cooperlake   140 / 227 / 292 / 238 / 289  (0.3.21 has no
//                                                        SapphireRapids)
//   OpenBLAS Haswell      142 / 192 / 199 / 176 / 192  (AVX2 kernels)
//   OpenBLAS Prescott      72 /  75 /  25 /  -  /  -   (the generic fallback)
//   BLIS 0.9.0 (Debian)   ~100 at every size on 1 thread; on 2 threads
//                         1-2 / 21-190 / 197 / 166 / 199 (best of 3 runs):
//                         Debian builds no skx configuration, so BLIS runs
//                         its AVX2 haswell kernels, and its 2-thread small
//                         products stall.
// SkylakeX is the fastest at every size; at ~300 GFLOP/s on 2 cores it is
// ~90% of the AVX-512 FMA peak, so a micro-kernel of our own has nothing to
// win. When other jobs share the 2 cores (load 3-5, most of the time here)
// every library, NumPy and PyTorch included, falls to 60-100 GFLOP/s, which
// is why benchmarks/gemm/ interleaves useg and its peers in one run.
//
// The core type. When the user set OPENBLAS_CORETYPE it is kept. Otherwise,
// on a CPU with the Skylake-X AVX-512 subset, OPENBLAS_CORETYPE=SkylakeX is
// set just around our dlopen (and removed again, so child processes see the
// environment the user gave). 0.3.21 detects SkylakeX by itself on this VM
// (it reports family 6 model 167), but not on hosts whose CPU model it does
// not know, where it drops to a slow fallback (the issue reports ~30 GFLOP/s
// on such a host; the Prescott row above is that fallback here): forcing it
// costs nothing here and saves those.
//
// A process that already has OpenBLAS (say, LAPACKE linked into the program)
// ran OpenBLAS's constructor before ours, with whatever core type it found.
// If that is the one we want, useg shares that copy. If not, useg loads a
// private copy of the library with dlmopen into a link-map namespace of its
// own, whose constructor sees our core type; the two copies then keep a
// thread pool each (idle unless called). Measured at 2048^3 in one loaded
// minute: a preloaded Prescott copy 38 GFLOP/s, the private SkylakeX copy
// 150, a plain first load 147. If dlmopen fails, useg uses the
// process's copy: correct, but at that copy's (slower) speed, and
// useg_gemm_backend() says so.
//
// Threads: OpenBLAS's own pthread pool, one thread per core (2 here), or
// OPENBLAS_NUM_THREADS. OpenBLAS runs products under 64^3 multiply-adds on
// the calling thread, so useg_gemm_* may be called from inside OpenMP
// regions for small tiles (kernels/attention_cpu.c does) without nesting
// pools; large products should be called from one thread.
#define _GNU_SOURCE // dlmopen
#include "gemm.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// CBLAS constants (cblas.h), fixed by the standard interface.
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                         double *, int);

static const char *const openblas_soname = "libopenblas.so.0";

static struct {
    pthread_once_t once;
    sgemm_fn sgemm;
    dgemm_fn dgemm;
    char backend[256];
} blas = {.once = PTHREAD_ONCE_INIT};

// The core type useg asks for, or NULL to leave OpenBLAS's choice alone.
static const char *wanted_core(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    bool skylake_x = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return skylake_x ? "SkylakeX" : NULL;
}

static const char *core_name(void *h) {
    char *(*corename)(void) = (char *(*)(void))dlsym(h, "openblas_get_corename");
    return corename ? corename() : "(unknown core)";
}

// dlopen (or dlmopen into a new namespace when `private_copy`) with
// OPENBLAS_CORETYPE=core set for the constructor; NULL core: no change.
static void *open_with_core(const char *core, bool private_copy) {
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    void *h = private_copy ? dlmopen(LM_ID_NEWLM, openblas_soname, RTLD_NOW | RTLD_LOCAL)
                           : dlopen(openblas_soname, RTLD_NOW | RTLD_LOCAL);
    if (core) unsetenv("OPENBLAS_CORETYPE");
    return h;
}

static void load_blas(void) {
    const char *want = wanted_core();
    char note[128] = "";
    void *h = dlopen(openblas_soname, RTLD_NOW | RTLD_NOLOAD);
    if (h && want && strcmp(core_name(h), want) != 0) {
        // Loaded before us with another core type: its constructor has run.
        const char *theirs = core_name(h);
        void *own = open_with_core(want, true);
        if (own) {
            snprintf(note, sizeof note, "; a private copy, the process's own runs %s", theirs);
            h = own;
        } else {
            snprintf(note, sizeof note, "; loaded by the process before useg, so slower (dlmopen: %s)", dlerror());
        }
    } else if (h) {
        snprintf(note, sizeof note, "; shared with the process, which loaded it first");
    } else {
        h = open_with_core(want, false);
    }
    if (!h) {
        snprintf(blas.backend, sizeof blas.backend, "OpenBLAS not found (%s); apt-get install libopenblas0",
                 dlerror());
        return;
    }
    sgemm_fn sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    dgemm_fn dgemm = (dgemm_fn)dlsym(h, "cblas_dgemm");
    if (!sgemm || !dgemm) {
        snprintf(blas.backend, sizeof blas.backend, "OpenBLAS lacks cblas_sgemm/cblas_dgemm");
        return;
    }
    int (*threads)(void) = (int (*)(void))dlsym(h, "openblas_get_num_threads");
    snprintf(blas.backend, sizeof blas.backend, "OpenBLAS %s, %d threads%s", core_name(h), threads ? threads() : 0,
             note);
    blas.sgemm = sgemm;
    blas.dgemm = dgemm;
}

const char *useg_gemm_backend(void) {
    pthread_once(&blas.once, load_blas);
    return blas.backend;
}

static useg_status check_call(useg_ctx *ctx, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                              int64_t ldc) {
    pthread_once(&blas.once, load_blas);
    if (!blas.sgemm) return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "gemm: %s", blas.backend);
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX || ldc > INT32_MAX)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "gemm: %lld x %lld x %lld (leading dims %lld, %lld, %lld) exceeds the BLAS 32-bit limit",
                         (long long)M, (long long)K, (long long)N, (long long)lda, (long long)ldb, (long long)ldc);
    return USEG_OK;
}

// BLAS rejects a leading dimension shorter than a stored row by printing a
// message and computing nothing: a caller's bug, so it stops here instead.
static void check_ld(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                     int64_t ldc) {
    int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    USEG_ASSERT(lda >= (a_cols > 1 ? a_cols : 1) && ldb >= (b_cols > 1 ? b_cols : 1) && ldc >= N,
                "gemm %lld x %lld x %lld: leading dims %lld, %lld, %lld are too short", (long long)M, (long long)K,
                (long long)N, (long long)lda, (long long)ldb, (long long)ldc);
}

useg_status useg_gemm_f32(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    USEG_TRY(check_call(ctx, M, N, K, lda, ldb, ldc));
    if (M == 0 || N == 0) return USEG_OK;
    check_ld(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    blas.sgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
               (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return USEG_OK;
}

useg_status useg_gemm_f64(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                          const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                          int64_t ldc) {
    USEG_TRY(check_call(ctx, M, N, K, lda, ldb, ldc));
    if (M == 0 || N == 0) return USEG_OK;
    check_ld(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    blas.dgemm(CBLAS_ROW_MAJOR, trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS,
               (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    return USEG_OK;
}
