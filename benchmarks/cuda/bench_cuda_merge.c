// Timing of UnSAM's conquer merge on the GPU (kernels/cuda/merge.cu): G = 64
// grids of 32 x 32 patches x 768 channels (ViT-B keys; UnSAM runs one merge
// per divide mask, typically 3-100 per image) in one useg_merge_batch
// launch, f32 and f16 keys, beside the CPU merge of the same grids one after
// the other on one thread (what one of unsam.c's workers does per region).
//
// Prints one JSON object per line, {"bench": ..., "grids": ..., "ms": median}
// over REPEATS runs after a warm-up, and whether the GPU's hierarchies are
// the CPU's (they must be: merge.h).
//
// usage: bench_cuda_merge [--quick]    Exit status 77 (and a message) without a GPU.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "device.h"
#include "half.h"
#include "merge.h"
#include "rng.h"

enum { REPEATS = 5, H = 32, W = 32, CHANNELS = 768, MAX_GRIDS = 64 };

static void die(useg_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_cuda_merge: %s: %s\n", what, ctx->message);
    exit(1);
}

// Keys with a few planted regions per grid (so the merge runs its ~1000
// steps through every level), stored as dt, on the CPU, in params.
static useg_tensor *grid(useg_ctx *ctx, useg_dtype dt, int seed) {
    useg_tensor *t;
    if (useg_empty(ctx, &ctx->params, dt, 3, (const int64_t[]){H, W, CHANNELS}, &t) != USEG_OK) die(ctx, "alloc");
    float centre[4][CHANNELS];
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < CHANNELS; k++) centre[r][k] = useg_rng_uniform(&ctx->rng) * 2 - 1;
    for (int64_t p = 0; p < H * W; p++) {
        const int r = (int)((p / W * 2 / H) * 2 + (p % W + seed) % W * 2 / W);
        for (int k = 0; k < CHANNELS; k++) {
            const float v = centre[r][k] + 1.6f * (useg_rng_uniform(&ctx->rng) - 0.5f);
            if (dt == USEG_F32) ((float *)t->data)[p * CHANNELS + k] = v;
            else ((uint16_t *)t->data)[p * CHANNELS + k] = useg_f32_to_f16(v);
        }
    }
    return t;
}

static double median_ms(useg_ctx *ctx, const useg_tensor *const *f, int G, useg_merge_result *out) {
    double t[REPEATS + 1];
    for (int r = 0; r <= REPEATS; r++) { // run 0: the warm-up
        const double t0 = bench_now_ms();
        if (useg_merge_batch(ctx, f, G, NULL, NULL, out) != USEG_OK) die(ctx, "merge");
        t[r] = bench_now_ms() - t0;
        if (r < REPEATS) useg_step_end(ctx);
    }
    return bench_median(t + 1, REPEATS);
}

static bool same(const useg_merge_result *a, const useg_merge_result *b) {
    if (a->n_merges != b->n_merges || memcmp(a->merges, b->merges, (size_t)a->n_merges * 2 * sizeof(int32_t)) ||
        memcmp(a->merge_weight, b->merge_weight, (size_t)a->n_merges * sizeof(float)))
        return false;
    for (int t = 0; t < a->n_levels; t++)
        if (a->levels[t].n_clusters != b->levels[t].n_clusters ||
            memcmp(a->levels[t].labels, b->levels[t].labels, (size_t)(a->h * a->w) * sizeof(int32_t)))
            return false;
    return true;
}

int main(int argc, char **argv) {
    const bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    const int G = quick ? 8 : MAX_GRIDS, G_cpu = quick ? 2 : 8;
    useg_ctx context, *ctx = &context;
    useg_ctx_init(ctx, &(useg_ctx_options){.seed = 1});
    if (useg_cuda_init(ctx, 0, NULL) != USEG_OK) {
        printf("bench_cuda_merge: skipped: %s\n", ctx->message);
        useg_ctx_free(ctx);
        return 77;
    }
    const useg_dtype dtypes[2] = {USEG_F32, USEG_F16};
    for (int d = 0; d < 2; d++) {
        const useg_tensor *cpu[MAX_GRIDS], *gpu[MAX_GRIDS];
        for (int g = 0; g < G; g++) {
            useg_tensor *c = grid(ctx, dtypes[d], g), *dev;
            if (useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, dtypes[d], 3, c->shape, &dev) != USEG_OK ||
                useg_copy_into(ctx, dev, c) != USEG_OK)
                die(ctx, "upload");
            cpu[g] = c, gpu[g] = dev;
        }
        static useg_merge_result on_gpu[MAX_GRIDS], on_cpu[MAX_GRIDS];
        const double gpu_ms = median_ms(ctx, gpu, G, on_gpu);
        // The CPU on the first G_cpu grids, with the GPU's results of the same run still in ctx->step.
        double t[REPEATS];
        for (int r = 0; r < REPEATS; r++) {
            const double t0 = bench_now_ms();
            if (useg_merge_batch(ctx, cpu, G_cpu, NULL, NULL, on_cpu) != USEG_OK) die(ctx, "cpu merge");
            t[r] = bench_now_ms() - t0;
        }
        const double cpu_ms = bench_median(t, REPEATS) / G_cpu;
        int identical = 0;
        for (int g = 0; g < G_cpu; g++) identical += same(&on_gpu[g], &on_cpu[g]);
        printf("{\"bench\": \"merge_batch_cuda\", \"dtype\": \"%s\", \"grids\": %d, \"grid\": \"%dx%dx%d\", "
               "\"ms\": %.3f, \"ms_per_grid\": %.3f, \"merges_grid0\": %d}\n",
               useg_dtype_name(dtypes[d]), G, H, W, CHANNELS, gpu_ms, gpu_ms / G, on_gpu[0].n_merges);
        printf("{\"bench\": \"merge_cpu_one_thread\", \"dtype\": \"%s\", \"ms_per_grid\": %.3f, "
               "\"identical_to_gpu\": \"%d/%d\"}\n",
               useg_dtype_name(dtypes[d]), cpu_ms, identical, G_cpu);
        useg_step_end(ctx);
    }
    useg_ctx_free(ctx);
    return 0;
}
