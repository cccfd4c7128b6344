// Times useg_attention's forward on one shape and reports its peak memory.
//
// usage: bench_attention N H D REPS [B]
// Runs the f32 forward (no gradient, as in inference) REPS times on random
// q, k, v of shape (B, H, N, D) with scale D^-1/2 after one warm-up run, and
// prints one line of key=value pairs: the median and the fastest wall time in
// ms, the median CPU time (all threads; steadier than wall time on a shared
// machine), the growth of the process's peak resident memory over the run
// (what the op and its workspace touched), and the step/scratch arenas' peaks. Thread
// count: OMP_NUM_THREADS (default all cores). bench_attention.py runs it next
// to PyTorch.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_time.h"
#include "context.h"
#include "gemm.h"
#include "ops.h"

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s N H D REPS [B]\n", argv[0]);
        return 2;
    }
    const int64_t N = atoll(argv[1]), H = atoll(argv[2]), D = atoll(argv[3]), B = argc > 5 ? atoll(argv[5]) : 1;
    const int reps = atoi(argv[4]);
    if (N <= 0 || H <= 0 || D <= 0 || B <= 0 || reps <= 0 || reps > 1000) {
        fprintf(stderr, "%s: sizes and REPS must be positive\n", argv[0]);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    const int64_t shape[4] = {B, H, N, D};
    useg_tensor *q, *k, *v, *out;
    useg_status st = useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, shape, 0, 1, &q);
    if (st == USEG_OK) st = useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, shape, 0, 1, &k);
    if (st == USEG_OK) st = useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, shape, 0, 1, &v);
    const long rss_before = bench_peak_rss_kb();
    bool prev = useg_no_grad_begin(&ctx);
    double ms[1000], cpu_ms[1000];
    for (int r = -1; r < reps && st == USEG_OK; r++) {
        double t0 = bench_now_ms(), c0 = bench_cpu_ms();
        st = useg_attention(&ctx, q, k, v, 1 / sqrt((double)D), &out);
        if (r >= 0) {
            ms[r] = bench_now_ms() - t0;
            cpu_ms[r] = bench_cpu_ms() - c0;
        }
        if (st == USEG_OK && r == reps - 1) break; // keep the last output's arena peak
        useg_step_end(&ctx);
    }
    useg_no_grad_end(&ctx, prev);
    if (st != USEG_OK) {
        fprintf(stderr, "bench_attention: %s\n", ctx.message);
        useg_ctx_free(&ctx);
        return 1;
    }
    const double median_ms = bench_median(ms, reps), median_cpu_ms = bench_median(cpu_ms, reps);
    printf("median_ms=%.3f min_ms=%.3f median_cpu_ms=%.3f peak_rss_growth_kb=%ld step_peak_kb=%zu "
           "scratch_peak_kb=%zu blas=\"%s\"\n",
           median_ms, ms[0], median_cpu_ms, bench_peak_rss_kb() - rss_before, ctx.step.peak / 1024,
           ctx.scratch.peak / 1024, useg_gemm_backend());
    useg_ctx_free(&ctx);
    return 0;
}
