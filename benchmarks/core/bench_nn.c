// Timings of the ViT-sized uses of core/ops_nn.c and core/ops_loss.c, f32:
// layer norm forward and backward on (B*N, D) = (8*197, 768) (ViT-B, batch 8),
// softmax over the last axis of (8*12*197, 197), and cross-entropy forward +
// backward on (8, 27, 112, 112) logits. Prints one "name ms" line per op, the
// median of REPS runs, so bench_nn_torch.py can set them beside PyTorch's.
#include <stdio.h>
#include <stdlib.h>

#include "bench_time.h"
#include "context.h"
#include "op_internal.h"
#include "ops.h"

enum { REPS = 21 };

// One timed run: sets *ms to the time of the part being measured.
typedef useg_status (*bench_fn)(useg_ctx *ctx, useg_tensor **in, double *ms);

// Median of REPS runs of fn (after one warm-up), each ended with a step reset.
static double median_ms(useg_ctx *ctx, bench_fn fn, useg_tensor **in) {
    double t[REPS], ms;
    for (int r = -1; r < REPS; r++) {
        if (fn(ctx, in, &ms) != USEG_OK) {
            fprintf(stderr, "bench_nn: %s\n", ctx->message);
            exit(1);
        }
        if (r >= 0) t[r] = ms;
        useg_step_end(ctx);
    }
    return bench_median(t, REPS);
}

static useg_status layer_norm_fwd(useg_ctx *ctx, useg_tensor **in, double *ms) {
    useg_tensor *y;
    bool prev = useg_no_grad_begin(ctx);
    double t0 = bench_now_ms();
    useg_status st = useg_layer_norm(ctx, in[0], in[1], in[2], 1e-6, &y);
    *ms = bench_now_ms() - t0;
    useg_no_grad_end(ctx, prev);
    return st;
}

// The backward alone: the layer norm node's backward on the upstream gradient
// in[3], accumulating into the grads of x, weight and bias.
static useg_status layer_norm_bwd(useg_ctx *ctx, useg_tensor **in, double *ms) {
    useg_tensor *y;
    USEG_TRY(useg_layer_norm(ctx, in[0], in[1], in[2], 1e-6, &y));
    y->grad = in[3];
    bool prev = useg_no_grad_begin(ctx);
    double t0 = bench_now_ms();
    useg_status st = useg_op_table[USEG_OP_LAYER_NORM].backward(ctx, &ctx->tape.nodes[ctx->tape.len - 1]);
    *ms = bench_now_ms() - t0;
    useg_no_grad_end(ctx, prev);
    return st;
}

static useg_status softmax_fwd(useg_ctx *ctx, useg_tensor **in, double *ms) {
    useg_tensor *y;
    bool prev = useg_no_grad_begin(ctx);
    double t0 = bench_now_ms();
    useg_status st = useg_softmax(ctx, in[0], -1, &y);
    *ms = bench_now_ms() - t0;
    useg_no_grad_end(ctx, prev);
    return st;
}

static useg_status cross_entropy_fwd_bwd(useg_ctx *ctx, useg_tensor **in, double *ms) {
    useg_tensor *loss;
    double t0 = bench_now_ms();
    USEG_TRY(useg_cross_entropy(ctx, in[0], in[1], -100, &loss));
    useg_status st = useg_backward(ctx, loss);
    *ms = bench_now_ms() - t0;
    return st;
}

static useg_status setup(useg_ctx *ctx, useg_tensor **ln, useg_tensor **sm, useg_tensor **ce) {
    const int64_t R = 8 * 197, D = 768;
    useg_arena *p = &ctx->params;
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 2, (int64_t[]){R, D}, 0.0, 1.0, &ln[0]));
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 1, &D, 1.0, 0.1, &ln[1]));
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 1, &D, 0.0, 0.1, &ln[2]));
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 2, (int64_t[]){R, D}, 0.0, 1.0, &ln[3]));
    for (int k = 0; k < 3; k++) USEG_TRY(useg_requires_grad(ctx, ln[k]));
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 2, (int64_t[]){8 * 12 * 197, 197}, 0.0, 1.0, sm));
    USEG_TRY(useg_rand_normal(ctx, p, USEG_F32, 4, (int64_t[]){8, 27, 112, 112}, 0.0, 1.0, &ce[0]));
    USEG_TRY(useg_rand_uniform(ctx, p, USEG_I64, 3, (int64_t[]){8, 112, 112}, 0.0, 27.0, &ce[1]));
    return useg_requires_grad(ctx, ce[0]);
}

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    useg_tensor *ln[4], *sm, *ce[2];
    if (setup(&ctx, ln, &sm, ce) != USEG_OK) {
        fprintf(stderr, "bench_nn: %s\n", ctx.message);
        return 1;
    }
    printf("layer_norm_fwd %.3f\n", median_ms(&ctx, layer_norm_fwd, ln));
    printf("layer_norm_bwd %.3f\n", median_ms(&ctx, layer_norm_bwd, ln));
    printf("softmax_fwd %.3f\n", median_ms(&ctx, softmax_fwd, &sm));
    printf("cross_entropy_fwd_bwd %.3f\n", median_ms(&ctx, cross_entropy_fwd_bwd, ce));
    useg_ctx_free(&ctx);
    return 0;
}
