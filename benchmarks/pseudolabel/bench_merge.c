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

#include "bench_time.h"
#include "merge.h"
#include "npy.h"

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
        double t0 = bench_now_ms(), c0 = bench_thread_cpu_ms();
        if (useg_merge(&ctx, f, &opt, NULL, &r) != USEG_OK) {
            fprintf(stderr, "%s\n", ctx.message);
            return 1;
        }
        wall[i] = bench_now_ms() - t0;
        cpu[i] = bench_thread_cpu_ms() - c0;
        useg_step_end(&ctx);
    }
    printf("merges=%d median_ms=%.3f cpu_ms=%.3f\n", r.n_merges, bench_median(wall + 1, reps),
           bench_median(cpu + 1, reps));
    useg_ctx_free(&ctx);
    return 0;
}
