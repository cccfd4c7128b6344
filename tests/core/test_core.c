// The tensor core's own behaviour: arenas, views, error paths (including the
// first-error record of parallel loops), the RNG and the tape. Run under the
// sanitizers by tests/run, so an out-of-bounds access in an error path fails
// here rather than in a pipeline.
#include <math.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "ops.h"

static void test_arena(void) {
    useg_arena a;
    useg_arena_init(&a, "test", 1024, 4096);
    char *p = useg_arena_alloc(&a, 100), *q = useg_arena_alloc(&a, 100);
    CHECK(p && q && q >= p + 100, "two allocations overlap");
    CHECK(((uintptr_t)p & 63) == 0 && ((uintptr_t)q & 63) == 0, "allocations are not 64-byte aligned");
    useg_arena_mark m = useg_arena_get_mark(&a);
    char *r = useg_arena_alloc(&a, 2000); // larger than a chunk: its own chunk
    CHECK(r != NULL, "an allocation above the chunk size failed");
    memset(r, 1, 2000);
    useg_arena_rewind(&a, m);
    CHECK(useg_arena_alloc(&a, 10) != NULL, "allocation after rewind failed");
    size_t reserved = a.reserved;
    useg_arena_reset(&a);
    // The same sequence again takes no new chunk from the system.
    p = useg_arena_alloc(&a, 100);
    q = useg_arena_alloc(&a, 100);
    r = useg_arena_alloc(&a, 2000);
    CHECK(p && q && r && a.reserved == reserved, "reset did not reuse chunks (%zu -> %zu bytes)", reserved, a.reserved);
    CHECK(useg_arena_alloc(&a, 8192) == NULL, "the arena limit was not enforced");
    CHECK(useg_arena_alloc(&a, SIZE_MAX - 10) == NULL, "an absurd size was not refused");
    useg_arena_free(&a);
}

static void test_allocation_failure(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.step_limit = 1 << 20});
    useg_tensor *t;
    const int64_t big[2] = {1024, 1024};
    CHECK_FAILS(&ctx, useg_empty(&ctx, NULL, USEG_F32, 2, big, &t), USEG_ERR_OUT_OF_MEMORY);
    const int64_t absurd[4] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
    CHECK_FAILS(&ctx, useg_empty(&ctx, NULL, USEG_F32, 4, absurd, &t), USEG_ERR_OUT_OF_MEMORY);
    const int64_t negative[1] = {-3};
    CHECK_FAILS(&ctx, useg_empty(&ctx, NULL, USEG_F32, 1, negative, &t), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_empty(&ctx, NULL, USEG_F32, USEG_MAX_DIMS + 1, big, &t), USEG_ERR_SHAPE);
    // An op whose output does not fit fails with a status, too.
    const int64_t half[2] = {256, 256};
    useg_tensor *a;
    CHECK_OK(&ctx, useg_zeros(&ctx, &ctx.params, USEG_F32, 2, half, &a));
    useg_tensor *out;
    for (int i = 0; i < 8; i++)
        if (useg_add(&ctx, a, a, &out) != USEG_OK) break;
    CHECK(ctx.status == USEG_ERR_OUT_OF_MEMORY && strstr(ctx.message, "step arena"),
          "filling the step arena gave '%s'", ctx.message);
    useg_clear_error(&ctx);
    useg_ctx_free(&ctx);
}

// Items 500, 1497, 2494 and 3491 fail; 500, the first, fails last in time.
static useg_status fail_some(useg_ctx *local, int64_t i) {
    if (i % 997 != 500) return USEG_OK;
    if (i == 500) nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    return useg_fail(local, i == 500 ? USEG_ERR_FORMAT : USEG_ERR_SHAPE, "item %lld is bad", (long long)i);
}

// useg_first_error keeps the lowest failed index at any thread count, and
// reporting it leaves an error the context already had.
static void test_first_error(useg_ctx *ctx) {
    for (int threads = 1; threads <= 8; threads *= 2) {
        useg_first_error first = USEG_FIRST_ERROR_INIT;
        int not_cleared = 0; // CHECK counts are not thread-safe: tally here, check after
#pragma omp parallel num_threads(threads)
        {
            useg_ctx local;
            useg_ctx_init(&local, NULL);
#pragma omp for schedule(dynamic, 16) reduction(+ : not_cleared)
            for (int64_t i = 0; i < 4000; i++)
                if (fail_some(&local, i) != USEG_OK) {
                    useg_first_error_keep(&first, i, &local);
                    not_cleared += local.status != USEG_OK || local.message[0] != '\0';
                }
            useg_ctx_free(&local);
        }
        CHECK(not_cleared == 0, "keep left %d errors in the thread's context", not_cleared);
        CHECK_FAILS(ctx, useg_first_error_report(ctx, &first), USEG_ERR_FORMAT);
        CHECK(first.index == 500 && !strcmp(first.message, "item 500 is bad"), "%d threads kept item %lld: %s",
              threads, (long long)first.index, first.message);
    }
    useg_first_error none = USEG_FIRST_ERROR_INIT;
    CHECK_OK(ctx, useg_first_error_report(ctx, &none));
    useg_first_error some = {.index = 3, .status = USEG_ERR_SHAPE, .message = "item 3 is bad"};
    useg_fail(ctx, USEG_ERR_IO, "earlier");
    CHECK(useg_first_error_report(ctx, &some) == USEG_ERR_SHAPE && ctx->status == USEG_ERR_IO &&
              !strcmp(ctx->message, "earlier"),
          "report replaced an earlier error: %s", ctx->message);
    useg_clear_error(ctx);
}

static void test_views(useg_ctx *ctx) {
    const int64_t shape[3] = {2, 3, 4};
    useg_tensor *x, *v, *w;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 3, shape, &x));
    for (int i = 0; i < 24; i++) useg_set_flat(x, i, i);
    // permute: out[i][j][k] = x[k][i][j] ... checked elementwise.
    const int perm[3] = {1, 2, 0};
    CHECK_OK(ctx, useg_permute(ctx, x, perm, &v));
    CHECK(v->shape[0] == 3 && v->shape[1] == 4 && v->shape[2] == 2 && !useg_is_contiguous(v), "permute shape");
    CHECK(useg_get_flat(v, 1) == 12 && useg_get_flat(v, 2) == 1, "permute values %g %g", useg_get_flat(v, 1),
          useg_get_flat(v, 2));
    CHECK(v->data == x->data && v->base == x, "permute copied");
    // slice with a step, then contiguous copy.
    CHECK_OK(ctx, useg_slice(ctx, x, 2, 1, 4, 2, &v));
    CHECK(v->shape[2] == 2 && useg_get_flat(v, 0) == 1 && useg_get_flat(v, 1) == 3 && useg_get_flat(v, 2) == 5,
          "slice values");
    CHECK_OK(ctx, useg_contiguous(ctx, v, &w));
    CHECK(useg_is_contiguous(w) && useg_get_flat(w, 5) == useg_get_flat(v, 5), "contiguous copy");
    // reshape of a non-contiguous view copies; of a contiguous one does not.
    const int64_t flat[1] = {-1};
    CHECK_OK(ctx, useg_reshape(ctx, x, 1, flat, &w));
    CHECK(w->data == x->data && w->shape[0] == 24, "reshape of contiguous copied");
    CHECK_OK(ctx, useg_reshape(ctx, v, 1, flat, &w));
    CHECK(w->shape[0] == 12 && useg_get_flat(w, 1) == 3, "reshape of a view");
    // expand.
    const int64_t one[2] = {3, 1}, wide[3] = {2, 3, 5};
    useg_tensor *c;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 2, one, &c));
    CHECK_OK(ctx, useg_expand(ctx, c, 3, wide, &w));
    CHECK(w->strides[0] == 0 && w->strides[2] == 0 && w->strides[1] == 1, "expand strides");
    // Errors: each a status with a message.
    const int64_t bad_reshape[2] = {5, 5}, two_infer[2] = {-1, -1};
    CHECK_FAILS(ctx, useg_reshape(ctx, x, 2, bad_reshape, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_reshape(ctx, x, 2, two_infer, &w), USEG_ERR_SHAPE);
    const int bad_perm[3] = {0, 0, 1}, range_perm[3] = {0, 1, 3};
    CHECK_FAILS(ctx, useg_permute(ctx, x, bad_perm, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_permute(ctx, x, range_perm, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_slice(ctx, x, 1, 2, 5, 1, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_slice(ctx, x, 1, 0, 2, 0, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_slice(ctx, x, 3, 0, 1, 1, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_transpose(ctx, x, 0, -4, &w), USEG_ERR_SHAPE);
    const int64_t no_bcast[3] = {2, 4, 5};
    CHECK_FAILS(ctx, useg_expand(ctx, c, 3, no_bcast, &w), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_expand(ctx, x, 2, one, &w), USEG_ERR_SHAPE);
    useg_step_end(ctx);
}

static void test_op_errors(useg_ctx *ctx) {
    const int64_t s1[2] = {2, 3}, s2[2] = {3, 2};
    useg_tensor *a, *b, *out, *idx;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 2, s1, &a));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 2, s2, &b));
    CHECK_FAILS(ctx, useg_add(ctx, a, b, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_I64, 2, s1, &idx));
    CHECK_FAILS(ctx, useg_mul(ctx, a, idx, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_exp(ctx, idx, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_sum(ctx, a, 0x4, false, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(ctx, useg_max(ctx, a, 2, false, &out, NULL), USEG_ERR_SHAPE);
    const int64_t empty[2] = {2, 0};
    useg_tensor *e;
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 2, empty, &e));
    CHECK_FAILS(ctx, useg_argmax(ctx, e, 1, false, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_sum(ctx, e, 0x2, false, &out)); // an empty sum is 0
    CHECK(out->shape[0] == 2 && useg_get_flat(out, 0) == 0, "empty sum");
    // Sticky error: the first message survives a second failure.
    useg_add(ctx, a, b, &out);
    char first[USEG_MESSAGE_MAX];
    strcpy(first, ctx->message);
    useg_exp(ctx, idx, &out);
    CHECK(!strcmp(first, ctx->message), "the error message was overwritten");
    useg_clear_error(ctx);
    // backward needs a scalar that depends on something differentiable.
    CHECK_FAILS(ctx, useg_backward(ctx, a), USEG_ERR_SHAPE);
    useg_tensor *s;
    CHECK_OK(ctx, useg_sum(ctx, a, 0, false, &s));
    CHECK_FAILS(ctx, useg_backward(ctx, s), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_requires_grad(ctx, idx), USEG_ERR_INVALID_ARG);
    useg_step_end(ctx);
}

static void test_tape(useg_ctx *ctx) {
    const int64_t s[1] = {3};
    useg_tensor *w, *y, *loss;
    CHECK_OK(ctx, useg_full(ctx, &ctx->params, USEG_F64, 1, s, 2.0, &w));
    CHECK_OK(ctx, useg_requires_grad(ctx, w));
    // Gradients accumulate over two backward passes until zeroed.
    for (int pass = 0; pass < 2; pass++) {
        CHECK_OK(ctx, useg_mul(ctx, w, w, &y));
        CHECK_OK(ctx, useg_sum(ctx, y, 0, false, &loss));
        CHECK_OK(ctx, useg_backward(ctx, loss));
        useg_step_end(ctx);
    }
    CHECK(useg_get_flat(w->grad, 0) == 8.0, "accumulated grad %g, want 2 * 2w = 8", useg_get_flat(w->grad, 0));
    CHECK_OK(ctx, useg_zero_grad(ctx, &w, 1));
    CHECK(useg_get_flat(w->grad, 2) == 0.0, "zero_grad");
    // No-grad scope records nothing.
    bool prev = useg_no_grad_begin(ctx);
    CHECK_OK(ctx, useg_mul(ctx, w, w, &y));
    useg_no_grad_end(ctx, prev);
    CHECK(!y->requires_grad && ctx->tape.len == 0, "no-grad scope recorded a node");
    CHECK(ctx->grad_enabled, "no-grad scope did not restore the mode");
    useg_step_end(ctx);
}

static void test_rng(void) {
    // The PCG32 reference stream (pcg32-demo: seed 42, stream 54).
    static const uint32_t expect[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e};
    useg_rng r;
    useg_rng_seed(&r, 42, 54);
    for (int i = 0; i < 6; i++) {
        uint32_t v = useg_rng_u32(&r);
        CHECK(v == expect[i], "pcg32 output %d: 0x%08x, reference 0x%08x", i, v, expect[i]);
    }
    // Normals: moments of 200k draws.
    useg_rng_seed(&r, 7, 0);
    double sum = 0, sq = 0;
    enum { N = 200000 };
    for (int i = 0; i < N; i++) {
        double x = useg_rng_normal(&r);
        sum += x;
        sq += x * x;
    }
    double mean = sum / N, var = sq / N - mean * mean;
    CHECK(fabs(mean) < 0.01 && fabs(var - 1) < 0.015, "normal moments: mean %g var %g", mean, var);
    float lo = 1, hi = 0;
    for (int i = 0; i < N; i++) {
        float u = useg_rng_uniform(&r);
        lo = fminf(lo, u);
        hi = fmaxf(hi, u);
    }
    CHECK(lo >= 0 && hi < 1 && lo < 1e-4 && hi > 1 - 1e-4, "uniform range [%g, %g]", lo, hi);
    for (int i = 0; i < 1000; i++) CHECK(useg_rng_below(&r, 7) < 7, "below(7) out of range");
}

static void test_half(useg_ctx *ctx) {
    // Round trips through the storage dtypes, with values exactly representable in each.
    const int64_t s[1] = {6};
    const double vals[6] = {0.0, -1.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, 3.140625};
    useg_tensor *x, *h, *back;
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 1, s, &x));
    for (int i = 0; i < 6; i++) useg_set_flat(x, i, vals[i]);
    CHECK_OK(ctx, useg_cast(ctx, x, USEG_F16, &h));
    CHECK_OK(ctx, useg_cast(ctx, h, USEG_F32, &back));
    for (int i = 0; i < 6; i++) CHECK(useg_get_flat(back, i) == vals[i], "f16 round trip of %g", vals[i]);
    useg_set_flat(x, 0, 1.0 + 1.0 / 256); // rounds to even in bf16 (8 mantissa bits): 1.0
    CHECK_OK(ctx, useg_cast(ctx, x, USEG_BF16, &h));
    CHECK(useg_get_flat(h, 0) == 1.0 && useg_get_flat(h, 1) == -1.5, "bf16 rounding: %g", useg_get_flat(h, 0));
    useg_set_flat(x, 0, 70000.0);
    CHECK_OK(ctx, useg_cast(ctx, x, USEG_F16, &h));
    CHECK(isinf(useg_get_flat(h, 0)), "f16 overflow is not inf");
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    test_arena();
    test_allocation_failure();
    test_views(&ctx);
    test_op_errors(&ctx);
    test_tape(&ctx);
    test_rng();
    test_half(&ctx);
    test_first_error(&ctx);
    useg_ctx_free(&ctx);
    return check_report("core");
}
