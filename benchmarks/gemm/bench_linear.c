// f32 linear layer Y = X W^T + bias (nn.Linear's layout, W (N, K)): the
// AVX-512 kernel (kernels/linear_cpu.c) against what useg_linear did before
// it, the bias copied into Y's rows and one OpenBLAS GEMM (trans_b, beta 1).
// Default shapes (M tokens x K in -> N out): the four linear layers of
// ViT-S/16 at 224 and of ViT-B/8 at 480, batch 1.
//
// Each call takes the next of enough copies of W to fill 64 MB, as a
// model's layers each bring their own weights: they come from memory, not
// from the cache the previous call left them in.
//
// Each shape and thread count (1, then 2: omp_set_num_threads): one warm-up
// call of each, then SAMPLES samples of each path, interleaved (A B A B ...)
// so that the other jobs sharing this machine slow both alike; a sample is
// enough back-to-back calls to last >= 30 ms. GFLOP/s = 2 M N K / median time.
//
// Usage: bench_linear [MxKxN ...]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "context.h"
#include "gemm.h"
#include "linear_cpu.h"

enum { SAMPLES = 7 };
static const double min_sample_ms = 30;

static const int64_t default_shapes[][3] = {
    {197, 384, 1152}, {197, 384, 384}, {197, 384, 1536}, {197, 1536, 384},
    {3601, 768, 2304}, {3601, 768, 768}, {3601, 768, 3072}, {3601, 3072, 768},
};

typedef struct linear_case {
    useg_ctx *ctx;
    int64_t M, K, N;
    const float *X, *W, *bias;
    float *Y;
    void *workspace;
    int64_t copies; // of W, one after another from W
    int64_t *next;  // the copy the next call takes
} linear_case;

// The copy of W this call takes.
static const float *next_w(const linear_case *c) {
    const int64_t i = (*c->next)++ % c->copies;
    return c->W + i * c->N * c->K;
}

static void run_kernel(const linear_case *c) {
    useg_linear_f32_cpu(c->M, c->N, c->K, c->X, c->K, next_w(c), c->K, c->bias, c->Y, c->N, c->workspace);
}

static void run_openblas(const linear_case *c) {
    for (int64_t r = 0; r < c->M; r++) memcpy(c->Y + r * c->N, c->bias, (size_t)c->N * sizeof(float));
    useg_status st =
        useg_gemm_f32(c->ctx, false, true, c->M, c->N, c->K, 1.0f, c->X, c->K, next_w(c), c->K, 1.0f, c->Y, c->N);
    if (st != USEG_OK) {
        fprintf(stderr, "bench_linear: %s\n", c->ctx->message);
        exit(1);
    }
}

// Milliseconds per call of `fn`, sample s of SAMPLES (reps calls).
static double sample_ms(void (*fn)(const linear_case *), const linear_case *c, int reps) {
    double t0 = bench_now_ms();
    for (int r = 0; r < reps; r++) fn(c);
    return (bench_now_ms() - t0) / reps;
}

// Median ms per call of the kernel (ms[0]) and of OpenBLAS (ms[1]).
static void time_case(const linear_case *c, double ms[2]) {
    void (*fns[2])(const linear_case *) = {run_kernel, run_openblas};
    int reps[2];
    for (int p = 0; p < 2; p++) reps[p] = bench_reps(sample_ms(fns[p], c, 1), min_sample_ms);
    double t[2][SAMPLES];
    for (int s = 0; s < SAMPLES; s++)
        for (int p = 0; p < 2; p++) t[p][s] = sample_ms(fns[p], c, reps[p]);
    for (int p = 0; p < 2; p++) ms[p] = bench_median(t[p], SAMPLES);
}

int main(int argc, char **argv) {
    const int n = argc > 1 ? argc - 1 : (int)(sizeof default_shapes / sizeof default_shapes[0]);
    if (!useg_linear_f32_cpu_available()) {
        printf("bench_linear: no AVX-512 here (or USEG_NO_AVX512 set): nothing to compare\n");
        return 0;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    printf("Y = X W^T + b, f32; AVX-512 kernel vs bias copy + %s; GFLOP/s of medians of %d interleaved samples\n",
           useg_gemm_backend(), SAMPLES);
    printf("%-16s %8s %8s %7s %8s %8s %7s\n", "MxKxN", "1 thr", "BLAS", "ratio", "2 thr", "BLAS", "ratio");
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        long long m, k, nn;
        if (argc == 1) m = default_shapes[i][0], k = default_shapes[i][1], nn = default_shapes[i][2];
        else if (sscanf(argv[i + 1], "%lldx%lldx%lld", &m, &k, &nn) != 3 || m < 1 || k < 1 || nn < 1) {
            fprintf(stderr, "bench_linear: '%s' is not MxKxN; usage: bench_linear [MxKxN ...]\n", argv[i + 1]);
            rc = 2;
            break;
        }
        useg_tensor *x, *w, *b, *y;
        void *ws;
        const int64_t w_bytes = nn * k * (int64_t)sizeof(float), copies = ((64 << 20) + w_bytes - 1) / w_bytes;
        omp_set_num_threads(2);
        if (useg_rand_normal(&ctx, NULL, USEG_F32, 2, (const int64_t[]){m, k}, 0, 1, &x) != USEG_OK ||
            useg_rand_normal(&ctx, NULL, USEG_F32, 2, (const int64_t[]){copies * nn, k}, 0, 1, &w) != USEG_OK ||
            useg_rand_normal(&ctx, NULL, USEG_F32, 1, (const int64_t[]){nn}, 0, 1, &b) != USEG_OK ||
            useg_empty(&ctx, NULL, USEG_F32, 2, (const int64_t[]){m, nn}, &y) != USEG_OK ||
            useg_alloc(&ctx, &ctx.step, useg_linear_f32_cpu_workspace_size(m, k), &ws) != USEG_OK) {
            fprintf(stderr, "bench_linear: %s\n", ctx.message);
            rc = 1;
            break;
        }
        int64_t next = 0;
        const linear_case c = {&ctx, m, k, nn, x->data, w->data, b->data, y->data, ws, copies, &next};
        const double gflop = 2.0 * (double)m * (double)k * (double)nn * 1e-6;
        char name[48];
        snprintf(name, sizeof name, "%lldx%lldx%lld", m, k, nn);
        printf("%-16s", name);
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            double ms[2];
            time_case(&c, ms);
            printf(" %8.1f %8.1f %7.2f", gflop / ms[0], gflop / ms[1], ms[1] / ms[0]);
        }
        printf("\n");
        fflush(stdout);
        useg_step_end(&ctx);
    }
    useg_ctx_free(&ctx);
    return rc;
}
