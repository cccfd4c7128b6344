// Times useg_merge on one feature grid (see bench_merge.py, which runs it).
//
//   bench_merge FEATURES.npy REPS greedy|passes
//
// Prints "merges=... median_ms=... cpu_ms=..." over REPS runs after a
// warm-up: medians of wall time and of this thread's CPU time (the merge is
// single-threaded; on a shared machine the CPU time is the steadier number).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "merge.h"
#include "npy.h"

static double now_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s FEATURES.npy REPS greedy|passes\n", argv[0]);
        return 2;
    }
    int reps = atoi(argv[2]);
    if (reps < 1 || reps > 1000) {
        fprintf(stderr, "REPS must be 1..1000\n");
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *f;
    if (useg_npy_read(&ctx, argv[1], &ctx.params, &f) != USEG_OK) {
        fprintf(stderr, "%s\n", ctx.message);
        return 1;
    }
    useg_merge_options opt = useg_merge_default_options();
    opt.order = strcmp(argv[3], "passes") ? USEG_MERGE_GREEDY : USEG_MERGE_PASSES;
    double wall[1001], cpu[1001];
    useg_merge_result r;
    for (int i = 0; i <= reps; i++) {
        double t0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
        if (useg_merge(&ctx, f, &opt, NULL, &r) != USEG_OK) {
            fprintf(stderr, "%s\n", ctx.message);
            return 1;
        }
        wall[i] = now_ms(CLOCK_MONOTONIC) - t0;
        cpu[i] = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
        useg_step_end(&ctx);
    }
    qsort(wall + 1, (size_t)reps, sizeof wall[0], cmp_double);
    qsort(cpu + 1, (size_t)reps, sizeof cpu[0], cmp_double);
    printf("merges=%d median_ms=%.3f cpu_ms=%.3f\n", r.n_merges, wall[1 + reps / 2], cpu[1 + reps / 2]);
    useg_ctx_free(&ctx);
    return 0;
}
