// GEMM speed: useg_gemm_f32 (C = A B, row-major) on square sizes and the
// ViT-S/ViT-B shapes that dominate a forward pass (M x K x N: 197 tokens x
// 384 -> qkv 1152; 3601 tokens x 768 -> qkv 2304).
//
// Each shape: one warm-up call, then 5 samples of enough back-to-back calls
// to last >= 0.05 s each; the median sample gives the time per call and
// GFLOP/s = 2 M N K / time. One line per shape, parsed by compare.py, which
// times NumPy and PyTorch on the same shapes in the same run.
//
// Usage: bench_gemm [MxKxN ...]   (default: all the shapes below)
#include <stdio.h>
#include <stdlib.h>

#include "bench_time.h"
#include "context.h"
#include "gemm.h"

enum { SAMPLES = 5 };
static const double min_sample_ms = 50;

static const int64_t default_shapes[][3] = {
    {256, 256, 256}, {1024, 1024, 1024}, {2048, 2048, 2048}, {197, 384, 1152}, {3601, 768, 2304},
};

// Median milliseconds per call of C = A B for A (M, K), B (K, N).
static useg_status time_gemm(useg_ctx *ctx, int64_t M, int64_t K, int64_t N, double *ms) {
    useg_tensor *a, *b, *c;
    USEG_TRY(useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){M, K}, 0.0, 1.0, &a));
    USEG_TRY(useg_rand_normal(ctx, NULL, USEG_F32, 2, (const int64_t[]){K, N}, 0.0, 1.0, &b));
    USEG_TRY(useg_empty(ctx, NULL, USEG_F32, 2, (const int64_t[]){M, N}, &c));
#define GEMM() useg_gemm_f32(ctx, false, false, M, N, K, 1.0f, a->data, K, b->data, N, 0.0f, c->data, N)
    double t0 = bench_now_ms();
    USEG_TRY(GEMM());
    const int reps = bench_reps(bench_now_ms() - t0, min_sample_ms);
    double samples[SAMPLES];
    for (int s = 0; s < SAMPLES; s++) {
        t0 = bench_now_ms();
        for (int r = 0; r < reps; r++) USEG_TRY(GEMM());
        samples[s] = (bench_now_ms() - t0) / reps;
    }
#undef GEMM
    *ms = bench_median(samples, SAMPLES);
    useg_step_end(ctx);
    return USEG_OK;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? argc - 1 : (int)(sizeof default_shapes / sizeof default_shapes[0]);
    int64_t(*shapes)[3] = calloc((size_t)n, sizeof *shapes);
    for (int i = 0; i < n; i++) {
        if (argc == 1) {
            for (int k = 0; k < 3; k++) shapes[i][k] = default_shapes[i][k];
        } else {
            long long m, k, nn;
            if (sscanf(argv[i + 1], "%lldx%lldx%lld", &m, &k, &nn) != 3 || m < 1 || k < 1 || nn < 1) {
                fprintf(stderr, "bench_gemm: '%s' is not MxKxN; usage: bench_gemm [MxKxN ...]\n", argv[i + 1]);
                return 2;
            }
            shapes[i][0] = m, shapes[i][1] = k, shapes[i][2] = nn;
        }
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    printf("useg_gemm_f32 via %s; median of %d samples\n", useg_gemm_backend(), SAMPLES);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int64_t M = shapes[i][0], K = shapes[i][1], N = shapes[i][2];
        double t;
        if (time_gemm(&ctx, M, K, N, &t) != USEG_OK) {
            fprintf(stderr, "bench_gemm: %s\n", ctx.message);
            rc = 1;
            break;
        }
        printf("%lldx%lldx%lld %10.3f ms %8.1f GFLOP/s\n", (long long)M, (long long)K, (long long)N, t,
               2.0 * (double)M * (double)N * (double)K / t * 1e-6);
        fflush(stdout);
    }
    useg_ctx_free(&ctx);
    free(shapes);
    return rc;
}
