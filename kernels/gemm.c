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
// Threads: one pool, OpenMP's. OpenBLAS is loaded single-threaded
// (OPENBLAS_NUM_THREADS=1 around the dlopen; openblas_set_num_threads(1) on
// a copy shared with the process), and a large f32 product called outside a
// parallel region is cut into blocks of C, one per OpenMP thread, each a
// single-threaded BLAS call (inside a parallel region it runs on the calling
// thread, as attention_cpu.c's tiles do). The first version kept OpenBLAS's
// own pthread pool next to OpenMP's: after every parallel region the OpenMP
// workers spin-wait (libgomp's default policy) on the cores OpenBLAS's
// threads need, and OpenBLAS's idle threads sched_yield-spin on the cores
// the OpenMP regions need. On 2 cores a ViT-S/16 forward at 224 (batch 1)
// took 1350 ms, half of it in libgomp's spin loop and a fifth in
// sched_yield; with one pool it takes 59 ms. The split itself also beats
// OpenBLAS's threading on small products: 197x384x1152 runs at 247 GFLOP/s
// against 98 (3601x768x2304: 295 against 271).
#define _GNU_SOURCE // dlmopen
#include "gemm.h"

#include <dlfcn.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CEIL_DIV(a, b) (((a) + (b) - 1) / (b))

// Products of fewer multiply-adds run on the calling thread. Measured on
// n^3 products, best of 400 back-to-back calls, 1 thread against 2: with
// libgomp's default wait policy (a worker still spinning from the last call)
// the split pays from n = 64 (2.3 against 3.0 us) and halves 160^3 (35
// against 58 us); with OMP_WAIT_POLICY=passive the worker's wake-up (~30 us)
// makes it lose below 192^3 (77 against 58 us at 160^3) and win above
// (166 against 223 us at 256^3). 2^22 (160^3) favours the default policy.
#define PARALLEL_MIN_MADDS ((double)(1 << 22))

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
// OPENBLAS_NUM_THREADS=1 keeps a copy we load from starting its thread pool
// (see "Threads" above); the user's value, if any, is put back.
static void *open_with_core(const char *core, bool private_copy) {
    if (core) setenv("OPENBLAS_CORETYPE", core, 1);
    const char *user_threads = getenv("OPENBLAS_NUM_THREADS");
    char saved[32] = "";
    if (user_threads) snprintf(saved, sizeof saved, "%s", user_threads);
    setenv("OPENBLAS_NUM_THREADS", "1", 1);
    void *h = private_copy ? dlmopen(LM_ID_NEWLM, openblas_soname, RTLD_NOW | RTLD_LOCAL)
                           : dlopen(openblas_soname, RTLD_NOW | RTLD_LOCAL);
    if (user_threads) setenv("OPENBLAS_NUM_THREADS", saved, 1);
    else unsetenv("OPENBLAS_NUM_THREADS");
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
    // A copy shared with the process may have started its pool: it stays idle.
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(1);
    snprintf(blas.backend, sizeof blas.backend, "OpenBLAS %s, single-threaded under %d OpenMP threads%s",
             core_name(h), omp_get_max_threads(), note);
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

// One row-major product C = alpha op(A) op(B) + beta C, in f32 or f64.
typedef struct gemm_call {
    bool f64, trans_a, trans_b;
    int64_t M, N, K, lda, ldb, ldc;
    double alpha, beta;
    const char *A, *B;
    char *C;
} gemm_call;

static void call_blas(const gemm_call *g) {
    const int ta = g->trans_a ? CBLAS_TRANS : CBLAS_NO_TRANS, tb = g->trans_b ? CBLAS_TRANS : CBLAS_NO_TRANS;
    if (g->f64)
        blas.dgemm(CBLAS_ROW_MAJOR, ta, tb, (int)g->M, (int)g->N, (int)g->K, g->alpha, (const double *)g->A,
                   (int)g->lda, (const double *)g->B, (int)g->ldb, g->beta, (double *)g->C, (int)g->ldc);
    else
        blas.sgemm(CBLAS_ROW_MAJOR, ta, tb, (int)g->M, (int)g->N, (int)g->K, (float)g->alpha, (const float *)g->A,
                   (int)g->lda, (const float *)g->B, (int)g->ldb, (float)g->beta, (float *)g->C, (int)g->ldc);
}

// The part of g that writes C's rows [i0, i1) (by_rows) or columns [i0, i1).
static gemm_call sub_call(const gemm_call *g, bool by_rows, int64_t i0, int64_t i1) {
    gemm_call s = *g;
    const int64_t es = g->f64 ? 8 : 4;
    if (by_rows) {
        s.M = i1 - i0;
        s.A += (g->trans_a ? i0 : i0 * g->lda) * es;
        s.C += i0 * g->ldc * es;
    } else {
        s.N = i1 - i0;
        s.B += (g->trans_b ? i0 * g->ldb : i0) * es;
        s.C += i0 * es;
    }
    return s;
}

// Splits start on multiples of this many rows or columns, a multiple of
// OpenBLAS's SkylakeX micro-tile sides (16 x 4 in f32, 16 x 2 in f64).
enum { SPLIT_ALIGN = 16 };

// Splits that leave C independent of the thread count (tests/kernels/
// test_gemm.c compares 1 to 8 threads bit for bit). OpenBLAS 0.3.21 runs
// products of at most 100^3 multiply-adds through its unpacked small-matrix
// kernels on SkylakeX, which sum each dot product in another order than its
// packed path: every block stays above that size, so all blocks take the
// packed path, as the whole product does. On the packed path an f32 block
// of C comes out the same whichever rows or columns are computed with it (0
// of 751 random 16-aligned blocks differed); an f64 one does not (its rows
// change with the number of rows computed, its columns with the columns'
// split into OpenBLAS's own blocks), so f64 products, which serve gradient
// checks, run on the calling thread.
#define SMALL_KERNEL_MADDS 1e6

// Where block p of `parts` blocks of `len` rows (or columns) starts; block
// `parts` starts at len, so block p is [split_at(p), split_at(p + 1)).
static int64_t split_at(int64_t len, int64_t parts, int64_t p) {
    return p == parts ? len : len * p / parts / SPLIT_ALIGN * SPLIT_ALIGN;
}

// The fewest rows (or columns) any of `parts` blocks of `len` gets.
static int64_t smallest_block(int64_t len, int64_t parts) {
    int64_t least = len;
    for (int64_t p = 0; p < parts; p++) {
        const int64_t size = split_at(len, parts, p + 1) - split_at(len, parts, p);
        if (size < least) least = size;
    }
    return least;
}

// Outside a parallel region, a product of at least PARALLEL_MIN_MADDS
// multiply-adds in f32 is cut into one block of C's rows (or columns, when C
// is wider than tall) per OpenMP thread, each one single-threaded BLAS call.
static void run(const gemm_call *g) {
    const bool by_rows = g->M >= g->N;
    const int64_t len = by_rows ? g->M : g->N, max_parts = CEIL_DIV(len, SPLIT_ALIGN);
    const double madds_per_row = (double)(by_rows ? g->N : g->M) * (double)g->K;
    int64_t parts =
        g->f64 || omp_in_parallel() || (double)len * madds_per_row < PARALLEL_MIN_MADDS ? 1 : omp_get_max_threads();
    if (parts > max_parts) parts = max_parts;
    while (parts > 1 && (double)smallest_block(len, parts) * madds_per_row <= SMALL_KERNEL_MADDS) parts--;
    if (parts < 2) {
        call_blas(g);
        return;
    }
    _Pragma("omp parallel for num_threads(parts) schedule(static, 1)")
    for (int64_t p = 0; p < parts; p++) {
        const int64_t i0 = split_at(len, parts, p), i1 = split_at(len, parts, p + 1);
        if (i1 > i0) {
            gemm_call s = sub_call(g, by_rows, i0, i1);
            call_blas(&s);
        }
    }
}

useg_status useg_gemm_f32(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                          int64_t ldc) {
    USEG_TRY(check_call(ctx, M, N, K, lda, ldb, ldc));
    if (M == 0 || N == 0) return USEG_OK;
    check_ld(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    run(&(gemm_call){false, trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta, (const char *)A,
                     (const char *)B, (char *)C});
    return USEG_OK;
}

useg_status useg_gemm_f64(useg_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                          const double *A, int64_t lda, const double *B, int64_t ldb, double beta, double *C,
                          int64_t ldc) {
    USEG_TRY(check_call(ctx, M, N, K, lda, ldb, ldc));
    if (M == 0 || N == 0) return USEG_OK;
    check_ld(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    run(&(gemm_call){true, trans_a, trans_b, M, N, K, lda, ldb, ldc, alpha, beta, (const char *)A,
                     (const char *)B, (char *)C});
    return USEG_OK;
}
