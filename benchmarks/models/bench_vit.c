// Times the ViT forward (useg_vit_forward) on one configuration.
//
// usage: bench_vit ARCH PATCH SIZE BATCH REPS [tokens]
//   ARCH  vit_small | vit_base | dinov2_vits14 | dinov2_vitb14 (useg_vit_config_named)
//   tokens: time the tokens tap only (for configurations that take minutes)
// Builds the backbone with random weights (useg_vit_init_random) and a random
// (BATCH, 3, SIZE, SIZE) image, then, in a no-grad scope as inference runs,
// times the forward to the keys tap (what MaskCut reads: 11 blocks and the
// last block's qkv) and to the tokens tap (all blocks and the final norm),
// each REPS times after one warm-up. Prints one line of key=value pairs: the
// median wall and CPU (all threads) times of each tap (keys 0 when not run), the process's peak
// resident memory (ru_maxrss: weights, activations, libraries), the peaks of
// the step and scratch arenas, and the BLAS in use. Run one configuration per
// process so that peaks do not mix; bench_vit.py does, next to PyTorch.
// Thread count: OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (default all cores).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "context.h"
#include "gemm.h"
#include "ops.h"
#include "vit.h"

enum { MAX_REPS = 100 };

// Medians of reps forwards to `tap` (after a warm-up) into *wall and *cpu.
static useg_status time_tap(useg_ctx *ctx, const useg_vit *vit, useg_tensor *images, useg_vit_tap tap, int reps,
                            double *wall, double *cpu) {
    double w[MAX_REPS + 1], c[MAX_REPS + 1];
    for (int r = 0; r <= reps; r++) {
        useg_tensor *out;
        double t0 = bench_now_ms(), c0 = bench_cpu_ms();
        USEG_TRY(useg_vit_forward(ctx, vit, images, tap, &out));
        w[r] = bench_now_ms() - t0;
        c[r] = bench_cpu_ms() - c0;
        useg_step_end(ctx);
    }
    *wall = bench_median(w + 1, reps);
    *cpu = bench_median(c + 1, reps);
    return USEG_OK;
}

int main(int argc, char **argv) {
    const bool keys = argc == 6;
    if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "tokens"))) {
        fprintf(stderr, "usage: %s ARCH PATCH SIZE BATCH REPS [tokens]\n", argv[0]);
        return 2;
    }
    useg_vit_config cfg;
    const int patch = atoi(argv[2]), reps = atoi(argv[5]);
    const int64_t size = atoll(argv[3]), batch = atoll(argv[4]);
    if (!useg_vit_config_named(argv[1], patch, &cfg) || size <= 0 || batch <= 0 || reps <= 0 || reps > MAX_REPS) {
        fprintf(stderr, "%s: unknown model %s/%d, or SIZE, BATCH, REPS (1..%d) not positive\n", argv[0], argv[1],
                patch, MAX_REPS);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    useg_vit vit;
    useg_tensor *images;
    double keys_ms = 0, keys_cpu = 0, tokens_ms = 0, tokens_cpu = 0;
    useg_status st = useg_vit_init_random(&ctx, &cfg, &vit);
    if (st == USEG_OK)
        st = useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, (int64_t[]){batch, 3, size, size}, 0, 1, &images);
    bool prev = useg_no_grad_begin(&ctx);
    if (st == USEG_OK && keys) st = time_tap(&ctx, &vit, images, USEG_TAP_KEYS, reps, &keys_ms, &keys_cpu);
    if (st == USEG_OK) st = time_tap(&ctx, &vit, images, USEG_TAP_TOKENS, reps, &tokens_ms, &tokens_cpu);
    useg_no_grad_end(&ctx, prev);
    if (st != USEG_OK) {
        fprintf(stderr, "bench_vit: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return 1;
    }
    printf("keys_ms=%.1f keys_cpu_ms=%.1f tokens_ms=%.1f tokens_cpu_ms=%.1f peak_rss_kb=%ld params_kb=%zu "
           "step_peak_kb=%zu scratch_peak_kb=%zu blas=\"%s\"\n",
           keys_ms, keys_cpu, tokens_ms, tokens_cpu, bench_peak_rss_kb(), ctx.params.peak / 1024, ctx.step.peak / 1024,
           ctx.scratch.peak / 1024, useg_gemm_backend());
    useg_ctx_free(&ctx);
    return 0;
}
