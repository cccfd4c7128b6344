// Times useg_dense_crf (lattice builds, normalisers, mean field, argmax) on
// one image and unary (L, H, W), or useg_dense_crf_batch on G problems
// (G, L, H, W) on that image.
//
// usage: bench_crf maskcut|stego IMAGE.npy UNARY.npy REPS
// Prints "median_ms=... min_ms=..." over REPS runs after a warm-up.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "crf.h"
#include "npy.h"

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s maskcut|stego IMAGE.npy UNARY.npy REPS\n", argv[0]);
        return 2;
    }
    const useg_crf_params *p = strcmp(argv[1], "stego") == 0 ? &useg_crf_stego : &useg_crf_maskcut;
    const int reps = atoi(argv[4]);
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *image, *unary, *labels;
    double *times = calloc((size_t)reps + 1, sizeof(double));
    useg_status st = useg_npy_read(&ctx, argv[2], &ctx.params, &image);
    if (st == USEG_OK) st = useg_npy_read(&ctx, argv[3], &ctx.params, &unary);
    for (int r = 0; r <= reps && st == USEG_OK; r++) {
        double t0 = bench_now_ms();
        st = unary->ndim == 4 ? useg_dense_crf_batch(&ctx, image, unary, p, &labels, NULL)
                              : useg_dense_crf(&ctx, image, unary, p, &labels, NULL);
        times[r] = bench_now_ms() - t0;
        useg_step_end(&ctx);
    }
    if (st != USEG_OK) {
        fprintf(stderr, "bench_crf: %s\n", ctx.message);
        return 1;
    }
    bench_print_times(times, reps);
    printf(" scratch_peak_mb=%.1f\n", (double)ctx.scratch.peak / (1 << 20));
    free(times);
    useg_ctx_free(&ctx);
    return 0;
}
