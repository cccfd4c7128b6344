// Times useg_interpolate (f32) forward, or its backward, on one shape.
//
// usage: bench_interp MODE B C H W OH OW REPS [backward]
//   MODE bilinear | bicubic; OH OW an output size, or scale factors when they
//   contain a '.' (useg_interpolate_scaled, as DINO calls it).
// Prints "median_ms=... min_ms=..." over REPS runs after a warm-up. The
// backward runs the op's backward function alone on a random output gradient.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_time.h"
#include "op_internal.h"

static useg_status run(useg_ctx *ctx, useg_tensor *x, useg_interp_mode mode, const char *oh, const char *ow,
                       useg_tensor **out) {
    if (strchr(oh, '.') || strchr(ow, '.')) return useg_interpolate_scaled(ctx, x, atof(oh), atof(ow), mode, out);
    return useg_interpolate(ctx, x, atoll(oh), atoll(ow), mode, out);
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s MODE B C H W OH OW REPS [backward]\n", argv[0]);
        return 2;
    }
    useg_interp_mode mode = strcmp(argv[1], "bicubic") == 0 ? USEG_INTERP_BICUBIC : USEG_INTERP_BILINEAR;
    const int64_t shape[4] = {atoll(argv[2]), atoll(argv[3]), atoll(argv[4]), atoll(argv[5])};
    int reps = atoi(argv[8]);
    bool backward = argc > 9 && strcmp(argv[9], "backward") == 0;
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    useg_tensor *x, *out;
    double *times = calloc((size_t)reps + 1, sizeof(double));
    useg_status st = useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, shape, 0.0, 1.0, &x);
    if (st == USEG_OK && backward) st = useg_requires_grad(&ctx, x);
    for (int r = 0; r <= reps && st == USEG_OK; r++) {
        double t0 = bench_now_ms();
        if (!backward) {
            st = run(&ctx, x, mode, argv[6], argv[7], &out);
        } else {
            st = run(&ctx, x, mode, argv[6], argv[7], &out);
            if (st == USEG_OK)
                st = useg_rand_normal(&ctx, NULL, USEG_F32, 4, out->shape, 0.0, 1.0, &out->grad);
            if (st == USEG_OK) {
                t0 = bench_now_ms();
                bool prev = useg_no_grad_begin(&ctx);
                st = useg_interpolate_backward(&ctx, &ctx.tape.nodes[ctx.tape.len - 1]);
                useg_no_grad_end(&ctx, prev);
            }
        }
        times[r] = bench_now_ms() - t0;
        useg_step_end(&ctx);
    }
    if (st != USEG_OK) {
        fprintf(stderr, "bench_interp: %s\n", ctx.message);
        return 1;
    }
    bench_print_times(times, reps);
    putchar('\n');
    free(times);
    useg_ctx_free(&ctx);
    return 0;
}
