// Times useg_dense_crf (lattice builds, normalisers, mean field, argmax) on
// one image and unary.
//
// usage: bench_crf maskcut|stego IMAGE.npy UNARY.npy REPS
// Prints "median_ms=... min_ms=..." over REPS runs after a warm-up.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crf.h"
#include "npy.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

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
        double t0 = now_ms();
        st = useg_dense_crf(&ctx, image, unary, p, &labels, NULL);
        times[r] = now_ms() - t0;
        useg_step_end(&ctx);
    }
    if (st != USEG_OK) {
        fprintf(stderr, "bench_crf: %s\n", ctx.message);
        return 1;
    }
    qsort(times + 1, (size_t)reps, sizeof(double), cmp_double); // times[0] is the warm-up
    printf("median_ms=%.3f min_ms=%.3f scratch_peak_mb=%.1f\n", times[1 + reps / 2], times[1],
           (double)ctx.scratch.peak / (1 << 20));
    free(times);
    useg_ctx_free(&ctx);
    return 0;
}
