// useg_gemm_f32/f64 against a plain triple loop in double: every transpose
// pair, odd sizes, K = 0, padded leading dimensions, beta 0 over garbage
// (NaN must not leak through) and beta 1 accumulation. The last sizes are
// above gemm.c's split size, tall and wide: they run as blocks of rows or
// columns over three OpenMP threads (an uneven split), one BLAS call each.
//
// Built twice. test_gemm: useg loads OpenBLAS itself and must pick SkylakeX
// on an AVX-512 CPU and leave the environment as it was. test_gemm_preloaded
// is linked with OpenBLAS, so the library and its constructor run before
// main: meson runs it with OPENBLAS_CORETYPE=Prescott (standing for a
// misdetected CPU), main removes the variable, and useg must then load a
// private copy with the fast core type and still compute correctly.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "gemm.h"

#ifdef USEG_TEST_PRELOADED
char *openblas_get_corename(void); // from the OpenBLAS this program is linked with
#endif

// Element (i, j) of the logical matrix op(X) stored with leading dimension ld.
static double at(const void *x, bool f64, bool trans, int64_t ld, int64_t i, int64_t j) {
    int64_t k = trans ? j * ld + i : i * ld + j;
    return f64 ? ((const double *)x)[k] : ((const float *)x)[k];
}

static void check_case(useg_ctx *ctx, bool f64, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double beta) {
    size_t es = f64 ? sizeof(double) : sizeof(float);
    // Stored shapes, each row padded by 3 elements of garbage.
    int64_t a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = N + 3;
    char *A = malloc((size_t)(a_rows * lda + 1) * es), *B = malloc((size_t)(b_rows * ldb + 1) * es);
    char *C = malloc((size_t)(M * ldc + 1) * es);
    double *C0 = malloc((size_t)(M * ldc + 1) * sizeof(double));
    for (int64_t i = 0; i < a_rows * lda; i++) {
        double v = (double)((i * 7919) % 23) / 11.0 - 1.0;
        if (f64) ((double *)A)[i] = v; else ((float *)A)[i] = (float)v;
    }
    for (int64_t i = 0; i < b_rows * ldb; i++) {
        double v = (double)((i * 104729) % 19) / 9.0 - 1.0;
        if (f64) ((double *)B)[i] = v; else ((float *)B)[i] = (float)v;
    }
    for (int64_t i = 0; i < M * ldc; i++) {
        double v = beta == 0 ? NAN : (double)(i % 5) - 2.0;
        C0[i] = v;
        if (f64) ((double *)C)[i] = v; else ((float *)C)[i] = (float)v;
    }
    const double alpha = 0.75;
    useg_status st = f64 ? useg_gemm_f64(ctx, ta, tb, M, N, K, alpha, (double *)A, lda, (double *)B, ldb, beta,
                                         (double *)C, ldc)
                         : useg_gemm_f32(ctx, ta, tb, M, N, K, (float)alpha, (float *)A, lda, (float *)B, ldb,
                                         (float)beta, (float *)C, ldc);
    CHECK(st == USEG_OK, "gemm failed: %s", ctx->message);
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double ref = beta == 0 ? 0 : beta * C0[i * ldc + j], scale = 1;
            for (int64_t k = 0; k < K; k++) {
                double p = at(A, f64, ta, lda, i, k) * at(B, f64, tb, ldb, k, j);
                ref += alpha * p;
                scale += fabs(alpha * p);
            }
            double got = f64 ? ((double *)C)[i * ldc + j] : ((float *)C)[i * ldc + j];
            double err = fabs(got - ref) / scale;
            if (!(err <= worst)) worst = err; // NaN propagates
        }
    double tol = f64 ? 1e-13 : 1e-6;
    CHECK(worst <= tol, "%s ta=%d tb=%d %lldx%lldx%lld beta=%g: error %.3g", f64 ? "f64" : "f32", ta, tb,
          (long long)M, (long long)K, (long long)N, beta, worst);
    free(A);
    free(B);
    free(C);
    free(C0);
}

// A product under 1 to 8 threads gives C bit for bit, in f32 and f64:
// gemm.c keeps every block of an f32 split on OpenBLAS's packed path (these
// shapes' blocks would fall under its small-matrix limit if split evenly
// over 8 threads) and does not split f64 (300 x 300 x 64 would differ).
static void check_thread_count_independence(useg_ctx *ctx) {
    static const int64_t shapes[][3] = {{64, 100, 700}, {1000, 80, 64}, {300, 300, 64}}; // M, N, K
    const int max_threads = omp_get_max_threads();
    for (int f64 = 0; f64 < 2; f64++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            const size_t es = f64 ? sizeof(double) : sizeof(float);
            char *A = malloc((size_t)(M * K) * es), *B = malloc((size_t)(K * N) * es);
            char *C1 = malloc((size_t)(M * N) * es), *Ct = malloc((size_t)(M * N) * es);
            for (int64_t i = 0; i < M * K; i++) {
                double v = (double)((i * 7919) % 1013) / 512.0 - 1.0;
                if (f64) ((double *)A)[i] = v; else ((float *)A)[i] = (float)v;
            }
            for (int64_t i = 0; i < K * N; i++) {
                double v = (double)((i * 104729) % 997) / 499.0 - 1.0;
                if (f64) ((double *)B)[i] = v; else ((float *)B)[i] = (float)v;
            }
            for (int t = 1; t <= 8; t++) {
                omp_set_num_threads(t);
                char *C = t == 1 ? C1 : Ct;
                if (f64)
                    CHECK_OK(ctx, useg_gemm_f64(ctx, false, false, M, N, K, 1.0, (double *)A, K, (double *)B, N, 0.0,
                                                (double *)C, N));
                else
                    CHECK_OK(ctx, useg_gemm_f32(ctx, false, false, M, N, K, 1.0f, (float *)A, K, (float *)B, N, 0.0f,
                                                (float *)C, N));
                CHECK(t == 1 || memcmp(C1, Ct, (size_t)(M * N) * es) == 0, "%s %lldx%lldx%lld: %d threads differ from 1",
                      f64 ? "f64" : "f32", (long long)M, (long long)K, (long long)N, t);
            }
            free(A);
            free(B);
            free(C1);
            free(Ct);
        }
    omp_set_num_threads(max_threads);
}

int main(void) {
#ifdef USEG_TEST_PRELOADED
    const char *preloaded_core = openblas_get_corename();
    printf("OpenBLAS loaded before main with core %s\n", preloaded_core);
    unsetenv("OPENBLAS_CORETYPE"); // as if the user had not chosen and OpenBLAS had guessed
#endif
    bool env_before = getenv("OPENBLAS_CORETYPE") != NULL, threads_before = getenv("OPENBLAS_NUM_THREADS") != NULL;
    omp_set_num_threads(3);
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    const char *backend = useg_gemm_backend();
    printf("backend: %s\n", backend);
    CHECK(strncmp(backend, "OpenBLAS ", 9) == 0, "no OpenBLAS: %s", backend);
    CHECK((getenv("OPENBLAS_CORETYPE") != NULL) == env_before, "loading changed the environment");
    CHECK((getenv("OPENBLAS_NUM_THREADS") != NULL) == threads_before, "loading changed the environment");
    bool skylake_x = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    if (skylake_x && !env_before) CHECK(strstr(backend, "SkylakeX") != NULL, "slow core type: %s", backend);
#ifdef USEG_TEST_PRELOADED
    // A copy with the wrong core type is replaced by a private one; the right one is shared.
    if (skylake_x)
        CHECK(strstr(backend, strcmp(preloaded_core, "SkylakeX") ? "private copy" : "shared") != NULL,
              "preloaded %s, got %s", preloaded_core, backend);
#endif
    static const int64_t sizes[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 33, 1}, {3, 5, 0}, {97, 101, 67}, {0, 4, 3},
                                         {301, 211, 97}, {67, 97, 709}};
    for (int f64 = 0; f64 < 2; f64++)
        for (int t = 0; t < 4; t++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                for (int beta = 0; beta < 2; beta++)
                    check_case(&ctx, f64, t & 1, t & 2, sizes[s][0], sizes[s][1], sizes[s][2], beta);
    check_thread_count_independence(&ctx);
    useg_ctx_free(&ctx);
    return check_report("gemm");
}
