// Timings of the CUDA kernels that dominate a ViT step: GEMM (bf16, TF32,
// f32) at square and ViT-B layer shapes, and fused attention forward and
// backward at N = 197, 901, 3601 tokens (224, 480 and 960 px images in 16 px
// patches, plus the class token), head dims 64 and 32.
//
// Prints one JSON object per line:
//   {"bench": "gemm", "dtype": "bf16", "shape": [M, N, K], "ms": median, "tflops": ...}
//   {"bench": "attention_fwd", "dtype": "bf16", "shape": [B, H, N, D], "ms": ..., "tflops": ...}
// compare_torch.py runs this and times the same shapes in PyTorch. Each
// number is the median of REPEATS timed runs of `iters` launches after a
// warm-up; FLOPs: 2MNK for GEMM, 4 B H N^2 D for the attention forward and
// 2.5 times that for the backward (FlashAttention's convention).
//
// usage: bench_cuda [--quick]   (--quick: one size each, for a smoke test)
// Exit status 77 (and a message) when no GPU is usable.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "cuda/cuda_kernels.h"
#include "device.h"
#include "half.h"
#include "rng.h"

enum { REPEATS = 5 };

static void die(useg_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_cuda: %s: %s\n", what, ctx->message);
    exit(1);
}

// Device memory of n random values in [-1, 1) of dt, from the params arena.
static void *random_device(useg_ctx *ctx, useg_dtype dt, int64_t n) {
    size_t es = useg_dtype_size(dt), bytes = (size_t)n * es;
    void *d = useg_device_arena_alloc(&ctx->cuda->params, bytes);
    unsigned char *h = malloc(bytes);
    if (!d || !h) {
        fprintf(stderr, "bench_cuda: out of memory for %lld values\n", (long long)n);
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) {
        float v = 2 * useg_rng_uniform(&ctx->rng) - 1;
        if (dt == USEG_F32) memcpy(h + i * es, &v, 4);
        else {
            uint16_t b = dt == USEG_BF16 ? useg_f32_to_bf16(v) : useg_f32_to_f16(v);
            memcpy(h + i * es, &b, 2);
        }
    }
    if (useg_cuda_memcpy(ctx, d, USEG_DEVICE_CUDA, h, USEG_DEVICE_CPU, bytes) != USEG_OK) die(ctx, "upload");
    free(h);
    return d;
}

typedef useg_status (*bench_fn)(useg_ctx *ctx, void *arg);

// Median milliseconds of one call of fn.
static double time_ms(useg_ctx *ctx, bench_fn fn, void *arg, int iters) {
    for (int i = 0; i < 2; i++)
        if (fn(ctx, arg) != USEG_OK) die(ctx, "warm-up");
    if (useg_cuda_sync(ctx) != USEG_OK) die(ctx, "warm-up sync");
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        double t0 = bench_now_ms();
        for (int i = 0; i < iters; i++)
            if (fn(ctx, arg) != USEG_OK) die(ctx, "run");
        if (useg_cuda_sync(ctx) != USEG_OK) die(ctx, "sync");
        t[r] = (bench_now_ms() - t0) / iters;
    }
    return bench_median(t, REPEATS);
}

typedef struct {
    useg_dtype dt;
    int64_t M, N, K;
    void *A, *B, *C;
} gemm_arg;

static useg_status run_gemm(useg_ctx *ctx, void *p) {
    gemm_arg *g = p;
    return useg_gemm_cuda(ctx, g->dt, false, false, g->M, g->N, g->K, 1.0f, g->A, g->K, g->B, g->N, 0.0f, g->C, g->N);
}

typedef struct {
    useg_dtype dt;
    int64_t B, H, N, D;
    useg_tensor *q, *k, *v, *o, *dout, *dq, *dk, *dv, *lse; // on the GPU
    void *workspace;                                        // the backward's, on the GPU
} attn_arg;

static useg_status run_attn_fwd(useg_ctx *ctx, void *p) {
    attn_arg *a = p;
    return useg_attention_forward_cuda(ctx, a->q, a->k, a->v, 1.0 / 8.0, a->o, a->lse, a->workspace);
}

static useg_status run_attn_bwd(useg_ctx *ctx, void *p) {
    attn_arg *a = p;
    return useg_attention_backward_cuda(ctx, a->q, a->k, a->v, a->o, a->lse, a->dout, 1.0 / 8.0, a->dq, a->dk, a->dv,
                                        a->workspace);
}

// A tensor struct over device memory of the params arena.
static useg_tensor *on_device(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, void *data) {
    useg_tensor *t;
    if (!data || useg_wrap(ctx, dt, ndim, shape, data, &t) != USEG_OK) die(ctx, "tensor");
    t->device = USEG_DEVICE_CUDA;
    return t;
}

static const char *dtype_label(useg_dtype dt, bool tf32) { return tf32 ? "tf32" : useg_dtype_name(dt); }

int main(int argc, char **argv) {
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 2 || (argc == 2 && !quick)) {
        fprintf(stderr, "usage: bench_cuda [--quick]\n");
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    if (useg_cuda_init(&ctx, 0, NULL) != USEG_OK) {
        printf("bench_cuda: skipped: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return 77;
    }
    fprintf(stderr, "bench_cuda: cuda:0 %s (compute capability %d.%d, %d SMs)\n", ctx.cuda->name, ctx.cuda->cc_major,
            ctx.cuda->cc_minor, ctx.cuda->sm_count);

    // GEMM: square, then ViT-B's qkv and MLP projections for 64 images of 197 tokens.
    const int64_t gemms[][3] = {{4096, 4096, 4096}, {12608, 2304, 768}, {12608, 3072, 768}, {12608, 768, 3072}};
    const struct {
        useg_dtype dt;
        bool tf32;
    } gemm_types[] = {{USEG_BF16, false}, {USEG_F32, true}, {USEG_F32, false}};
    for (size_t s = 0; s < (quick ? 1 : sizeof gemms / sizeof gemms[0]); s++)
        for (size_t t = 0; t < sizeof gemm_types / sizeof gemm_types[0]; t++) {
            gemm_arg g = {gemm_types[t].dt, gemms[s][0], gemms[s][1], gemms[s][2], NULL, NULL, NULL};
            size_t mark = useg_device_arena_mark(&ctx.cuda->params);
            g.A = random_device(&ctx, g.dt, g.M * g.K);
            g.B = random_device(&ctx, g.dt, g.K * g.N);
            g.C = random_device(&ctx, g.dt, g.M * g.N);
            ctx.cuda->allow_tf32 = gemm_types[t].tf32;
            double ms = time_ms(&ctx, run_gemm, &g, quick ? 3 : 20);
            ctx.cuda->allow_tf32 = false;
            printf("{\"bench\": \"gemm\", \"dtype\": \"%s\", \"shape\": [%lld, %lld, %lld], \"ms\": %.4f, "
                   "\"tflops\": %.2f}\n",
                   dtype_label(g.dt, gemm_types[t].tf32), (long long)g.M, (long long)g.N, (long long)g.K, ms,
                   2.0 * g.M * g.N * g.K / (ms * 1e9));
            fflush(stdout);
            useg_device_arena_rewind(&ctx.cuda->params, mark);
        }

    // Attention: ViT-B (12 heads of 64) at three image sizes, and head dim 32.
    const int64_t attns[][4] = {{64, 12, 197, 64}, {8, 12, 901, 64}, {1, 12, 3601, 64}, {8, 12, 901, 32}};
    const useg_dtype attn_types[] = {USEG_BF16, USEG_F32};
    for (size_t s = 0; s < (quick ? 1 : sizeof attns / sizeof attns[0]); s++)
        for (size_t t = 0; t < sizeof attn_types / sizeof attn_types[0]; t++) {
            attn_arg a = {.dt = attn_types[t], .B = attns[s][0], .H = attns[s][1], .N = attns[s][2], .D = attns[s][3]};
            const int64_t shape[4] = {a.B, a.H, a.N, a.D};
            int64_t n = a.B * a.H * a.N * a.D;
            size_t mark = useg_device_arena_mark(&ctx.cuda->params);
            useg_tensor **ts[8] = {&a.q, &a.k, &a.v, &a.o, &a.dout, &a.dq, &a.dk, &a.dv};
            for (int i = 0; i < 8; i++) *ts[i] = on_device(&ctx, a.dt, 4, shape, random_device(&ctx, a.dt, n));
            a.lse = on_device(&ctx, USEG_F32, 3, shape,
                              useg_device_arena_alloc(&ctx.cuda->params, (size_t)(a.B * a.H * a.N) * sizeof(float)));
            a.workspace = useg_device_arena_alloc(&ctx.cuda->params, useg_attention_backward_cuda_workspace_size(a.q, a.k));
            if (!a.workspace) die(&ctx, "workspace");
            double flops = 4.0 * a.B * a.H * a.N * a.N * a.D;
            double fwd = time_ms(&ctx, run_attn_fwd, &a, quick ? 2 : 10);
            double bwd = time_ms(&ctx, run_attn_bwd, &a, quick ? 2 : 10);
            const char *names[2] = {"attention_fwd", "attention_bwd"};
            double ms[2] = {fwd, bwd}, f[2] = {flops, 2.5 * flops};
            for (int i = 0; i < 2; i++)
                printf("{\"bench\": \"%s\", \"dtype\": \"%s\", \"shape\": [%lld, %lld, %lld, %lld], \"ms\": %.4f, "
                       "\"tflops\": %.2f}\n",
                       names[i], useg_dtype_name(a.dt), (long long)a.B, (long long)a.H, (long long)a.N,
                       (long long)a.D, ms[i], f[i] / (ms[i] * 1e9));
            fflush(stdout);
            useg_device_arena_rewind(&ctx.cuda->params, mark);
        }
    useg_ctx_free(&ctx);
    return 0;
}
