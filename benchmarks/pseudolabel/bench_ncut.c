// Times the normalized-cut kernels and the MaskCut chain on one feature map.
//
// usage: bench_ncut FEATS.npy REPS OUT_DIR
//   FEATS.npy: (h, w, C) f32 patch features.
// Runs REPS times after a warm-up and prints one line of key=value fields:
//   affinity_ms  graph of all h*w patches (normalise, half GEMM, bits, degrees)
//   eig_ms       the eigensolve on that graph (useg_ncut_fiedler)
//   chain_ms     useg_maskcut with the reference settings (3 cuts, tau 0.15)
// (medians), plus the eigensolver's iterations, eigenvalue and residual.
// Writes OUT_DIR/adj.npy ((n, n) u8, the link matrix A) and OUT_DIR/y.npy
// ((n,) f64), so the caller can solve the same graph with SciPy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "ncut.h"
#include "npy.h"

static useg_status run(useg_ctx *ctx, const char *feats_path, int reps, const char *out_dir) {
    useg_tensor *feats, *rows, *y = NULL, *masks;
    USEG_TRY(useg_npy_read(ctx, feats_path, &ctx->params, &feats));
    if (feats->ndim != 3) return useg_fail(ctx, USEG_ERR_SHAPE, "bench_ncut: %s is not (h, w, C)", feats_path);
    const int64_t n = feats->shape[0] * feats->shape[1];
    const useg_maskcut_options opt = useg_maskcut_default_options();
    double *t_aff = calloc((size_t)reps, sizeof(double)), *t_eig = calloc((size_t)reps, sizeof(double)),
           *t_chain = calloc((size_t)reps, sizeof(double));
    useg_ncut_graph g;
    useg_ncut_eig_info info;
    useg_maskcut_info cuts[3];
    int count;
    for (int r = -1; r < reps; r++) { // r = -1: warm-up
        useg_arena_mark mark = useg_arena_get_mark(&ctx->params);
        USEG_TRY(useg_reshape(ctx, feats, 2, (const int64_t[]){n, feats->shape[2]}, &rows)); // a view, in ctx->step
        double t0 = bench_now_ms();
        USEG_TRY(useg_ncut_affinity(ctx, &ctx->params, rows, opt.tau, opt.eps, &g));
        double t1 = bench_now_ms();
        USEG_TRY(useg_ncut_fiedler(ctx, &g, NULL, &y, &info));
        double t2 = bench_now_ms();
        USEG_TRY(useg_maskcut(ctx, feats, &opt, &masks, cuts, &count));
        double t3 = bench_now_ms();
        if (r >= 0) {
            t_aff[r] = t1 - t0;
            t_eig[r] = t2 - t1;
            t_chain[r] = t3 - t2;
        }
        if (r + 1 < reps) {
            useg_arena_rewind(&ctx->params, mark);
            useg_step_end(ctx);
        }
    }
    // The last run's graph and vector, for the caller's SciPy solve.
    useg_tensor *adj;
    USEG_TRY(useg_empty(ctx, NULL, USEG_U8, 2, (const int64_t[]){n, n}, &adj));
    uint8_t *a = adj->data;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) a[i * n + j] = (uint8_t)(g.adj[i * g.words + j / 64] >> (j % 64) & 1);
    char path[1024];
    snprintf(path, sizeof path, "%s/adj.npy", out_dir);
    USEG_TRY(useg_npy_write(ctx, path, adj));
    snprintf(path, sizeof path, "%s/y.npy", out_dir);
    USEG_TRY(useg_npy_write(ctx, path, y));
    printf("n=%lld affinity_ms=%.3f eig_ms=%.3f chain_ms=%.3f iterations=%d eigenvalue=%.12g residual=%.3g "
           "masks=%d\n",
           (long long)n, bench_median(t_aff, reps), bench_median(t_eig, reps), bench_median(t_chain, reps), info.iterations,
           info.eigenvalue, info.residual, count);
    free(t_aff);
    free(t_eig);
    free(t_chain);
    return USEG_OK;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FEATS.npy REPS OUT_DIR\n", argv[0]);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    useg_status st = run(&ctx, argv[1], atoi(argv[2]) > 0 ? atoi(argv[2]) : 1, argv[3]);
    if (st != USEG_OK) fprintf(stderr, "bench_ncut: %s\n", ctx.message);
    useg_ctx_free(&ctx);
    return st == USEG_OK ? 0 : 1;
}
