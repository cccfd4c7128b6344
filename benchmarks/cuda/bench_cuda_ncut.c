// Timings of MaskCut's GPU stages (kernels/cuda/spectral.cu,
// kernels/cuda/permutohedral.cu): the graph + eigensolve of one patch grid
// at n = 900 and 3600 (ViT-B/8 and /16 at 480 px: 60 x 60 and 30 x 30
// patches, 768-channel keys), the batched eigensolve of 64 such graphs in one
// launch, MaskCut's 3-cut loop on one grid, and the 480 x 480 dense CRF of 3
// masks (useg_dense_crf_batch, MaskCut's preset).
//
// Prints one JSON object per line, {"bench": ..., "n": ..., "ms": median}
// over REPEATS runs after a warm-up, and finally the images/s of the GPU
// part of the MaskCut chain (3 cuts + the CRF of 3 masks) at 60 x 60. The
// ViT-B/8 forward is not on the GPU in this tree (models/backbone has no
// device path yet); its GPU time, added to this line's ms, gives the chain's
// rate (issue #6's target: >= 20 images/s on one H100).
//
// usage: bench_cuda_ncut [--quick]    Exit status 77 (and a message) without a GPU.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "crf.h"
#include "device.h"
#include "ncut.h"
#include "rng.h"
#include "spectral.h"

enum { REPEATS = 5, CHANNELS = 768 };

static void die(useg_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_cuda_ncut: %s: %s\n", what, ctx->message);
    exit(1);
}

// Clustered features (n, CHANNELS) on the GPU, in params: objects the cut can find.
static useg_tensor *features(useg_ctx *ctx, int64_t n) {
    useg_tensor *cpu, *gpu;
    if (useg_empty(ctx, &ctx->params, USEG_F32, 2, (const int64_t[]){n, CHANNELS}, &cpu) != USEG_OK) die(ctx, "alloc");
    float *f = cpu->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < CHANNELS; k++)
            f[i * CHANNELS + k] = (float)((i % 7 < 3) == (k % 2)) + 0.8f * (useg_rng_uniform(&ctx->rng) - 0.5f);
    if (useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_F32, 2, cpu->shape, &gpu) != USEG_OK ||
        useg_copy_into(ctx, gpu, cpu) != USEG_OK)
        die(ctx, "upload");
    return gpu;
}

typedef void (*bench_fn)(useg_ctx *ctx, void *arg);

static double time_ms(useg_ctx *ctx, bench_fn fn, void *arg) {
    fn(ctx, arg);
    if (useg_cuda_sync(ctx) != USEG_OK) die(ctx, "sync");
    double t[REPEATS];
    for (int r = 0; r < REPEATS; r++) {
        const double t0 = bench_now_ms();
        fn(ctx, arg);
        if (useg_cuda_sync(ctx) != USEG_OK) die(ctx, "sync");
        t[r] = bench_now_ms() - t0;
        useg_step_end(ctx);
    }
    return bench_median(t, REPEATS);
}

typedef struct {
    useg_tensor *feats;
    int batch;
    useg_ncut_graph *graphs;
    double **y;
    useg_ncut_eig_info *info;
} solve_arg;

static void run_graph_and_solve(useg_ctx *ctx, void *p) {
    solve_arg *a = p;
    useg_ncut_graph g;
    useg_tensor *y;
    useg_ncut_eig_info info;
    if (useg_ncut_affinity(ctx, NULL, a->feats, 0.15, 1e-5, &g) != USEG_OK) die(ctx, "affinity");
    if (useg_ncut_fiedler(ctx, &g, NULL, &y, &info) != USEG_OK) die(ctx, "fiedler");
}

static void run_batch(useg_ctx *ctx, void *p) {
    solve_arg *a = p;
    if (useg_ncut_fiedler_batch_cuda(ctx, a->graphs, a->batch, NULL, a->y, a->info) != USEG_OK) die(ctx, "batch");
}

static void run_maskcut(useg_ctx *ctx, void *p) {
    solve_arg *a = p;
    const int64_t side = (int64_t)(sqrt((double)a->feats->shape[0]) + 0.5);
    useg_tensor *grid, *masks;
    useg_maskcut_options opt = useg_maskcut_default_options();
    useg_maskcut_info info[3];
    int count;
    if (useg_reshape(ctx, a->feats, 3, (const int64_t[]){side, side, CHANNELS}, &grid) != USEG_OK ||
        useg_maskcut(ctx, grid, &opt, &masks, info, &count) != USEG_OK)
        die(ctx, "maskcut");
}

typedef struct {
    useg_tensor *image, *unary;
} crf_arg;

static void run_crf(useg_ctx *ctx, void *p) {
    crf_arg *a = p;
    useg_tensor *labels;
    if (useg_dense_crf_batch(ctx, a->image, a->unary, &useg_crf_maskcut, &labels, NULL) != USEG_OK) die(ctx, "crf");
}

int main(int argc, char **argv) {
    const bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    useg_ctx context, *ctx = &context;
    useg_ctx_init(ctx, &(useg_ctx_options){.seed = 1});
    if (useg_cuda_init(ctx, 0, NULL) != USEG_OK) {
        printf("bench_cuda_ncut: skipped: %s\n", ctx->message);
        useg_ctx_free(ctx);
        return 77;
    }
    const int64_t sizes[2] = {900, 3600};
    double cut_ms = 0;
    for (int s = 0; s < (quick ? 1 : 2); s++) {
        solve_arg a = {.feats = features(ctx, sizes[s])};
        printf("{\"bench\": \"ncut_graph_solve\", \"n\": %lld, \"ms\": %.3f}\n", (long long)sizes[s],
               time_ms(ctx, run_graph_and_solve, &a));
        cut_ms = time_ms(ctx, run_maskcut, &a);
        printf("{\"bench\": \"maskcut_3_cuts\", \"n\": %lld, \"ms\": %.3f}\n", (long long)sizes[s], cut_ms);
        // 64 graphs of this size (the same graph: the solve's cost, not the build's), one launch.
        const int B = quick ? 4 : 64;
        useg_ncut_graph *graphs = malloc(B * sizeof *graphs);
        double **y = malloc(B * sizeof *y);
        useg_ncut_eig_info *info = malloc(B * sizeof *info);
        useg_ncut_graph g;
        if (!graphs || !y || !info || useg_ncut_affinity(ctx, &ctx->params, a.feats, 0.15, 1e-5, &g) != USEG_OK)
            die(ctx, "batch setup");
        for (int b = 0; b < B; b++) {
            useg_tensor *yt;
            if (useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_F64, 1, &g.n, &yt) != USEG_OK) die(ctx, "y");
            graphs[b] = g;
            y[b] = yt->data;
        }
        solve_arg ba = {.batch = B, .graphs = graphs, .y = y, .info = info};
        printf("{\"bench\": \"ncut_batch_solve\", \"n\": %lld, \"batch\": %d, \"ms\": %.3f}\n", (long long)sizes[s], B,
               time_ms(ctx, run_batch, &ba));
        free(graphs), free(y), free(info);
    }
    // The 480 x 480 CRF of 3 masks.
    const int64_t S = quick ? 96 : 480;
    useg_tensor *im, *un;
    crf_arg ca;
    if (useg_empty(ctx, &ctx->params, USEG_U8, 3, (const int64_t[]){S, S, 3}, &im) != USEG_OK ||
        useg_empty(ctx, &ctx->params, USEG_F32, 4, (const int64_t[]){3, 2, S, S}, &un) != USEG_OK)
        die(ctx, "crf inputs");
    for (int64_t i = 0; i < S * S * 3; i++) ((uint8_t *)im->data)[i] = (uint8_t)(useg_rng_uniform(&ctx->rng) * 255);
    for (int64_t i = 0; i < 3 * 2 * S * S; i++) ((float *)un->data)[i] = 0.1f + useg_rng_uniform(&ctx->rng);
    if (useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_U8, 3, im->shape, &ca.image) != USEG_OK ||
        useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_F32, 4, un->shape, &ca.unary) != USEG_OK ||
        useg_copy_into(ctx, ca.image, im) != USEG_OK || useg_copy_into(ctx, ca.unary, un) != USEG_OK)
        die(ctx, "crf upload");
    const double crf_ms = time_ms(ctx, run_crf, &ca);
    printf("{\"bench\": \"dense_crf_3_masks\", \"size\": %lld, \"ms\": %.3f}\n", (long long)S, crf_ms);
    printf("{\"bench\": \"maskcut_gpu_stages\", \"grid\": %lld, \"ms\": %.3f, \"images_per_s_without_vit\": %.1f}\n",
           (long long)sizes[quick ? 0 : 1], cut_ms + crf_ms, 1e3 / (cut_ms + crf_ms));
    useg_ctx_free(ctx);
    return 0;
}
