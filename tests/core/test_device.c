// The device layer without a GPU: device arena bookkeeping, copies that stay
// on the CPU, the errors of mixed devices, and -- where no GPU is usable --
// that selecting one fails cleanly and leaves the context on the CPU.
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "device.h"

static void test_device_arena(void) {
    void *block = aligned_alloc(USEG_DEVICE_ALIGN, 4096);
    useg_device_arena a;
    useg_device_arena_init(&a, "test", block, 4096);
    char *p1 = useg_device_arena_alloc(&a, 1), *p2 = useg_device_arena_alloc(&a, 300);
    CHECK(p1 == (char *)block && p2 == (char *)block + 256, "allocations are 256-byte aligned and in order");
    CHECK(a.used == 768, "used counts whole alignment units: %zu", a.used);
    size_t mark = useg_device_arena_mark(&a);
    CHECK(useg_device_arena_alloc(&a, 0) == (char *)block + 768, "a zero-byte block still gets its own address");
    CHECK(useg_device_arena_alloc(&a, 4096) == NULL, "a block larger than what is left fails");
    CHECK(useg_device_arena_alloc(&a, (size_t)-1) == NULL, "a size that overflows fails");
    useg_device_arena_rewind(&a, mark);
    CHECK(a.used == 768 && a.peak == 1024, "rewind forgets, peak remembers");
    CHECK(useg_device_arena_alloc(&a, 4096 - 768) != NULL && a.used == 4096, "the arena fills exactly");
    useg_device_arena_reset(&a);
    CHECK(a.used == 0 && useg_device_arena_alloc(&a, 8) == block, "reset starts over");
    free(block);
}

static void test_without_gpu(useg_ctx *ctx) {
    int count = 0;
    useg_status st = useg_cuda_device_count(ctx, &count);
    useg_clear_error(ctx);
    if (st == USEG_OK && count > 0) return; // a GPU is here: the CUDA suite covers it
    CHECK_FAILS(ctx, useg_cuda_init(ctx, 0, NULL), USEG_ERR_DEVICE);
    CHECK(ctx->cuda == NULL, "a failed init leaves the context on the CPU");
    const int64_t shape[1] = {4};
    useg_tensor *t;
    CHECK_FAILS(ctx, useg_empty_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 1, shape, &t), USEG_ERR_DEVICE);
    void *pinned = NULL;
    if (useg_pinned_alloc(ctx, 64, &pinned) == USEG_OK) useg_pinned_free(pinned); // may work without a GPU
    useg_clear_error(ctx);
}

static void test_cpu_paths(useg_ctx *ctx) {
    const int64_t shape[2] = {2, 3};
    useg_tensor *x, *y, *z, *fake, *out;
    CHECK_OK(ctx, useg_full(ctx, NULL, USEG_F32, 2, shape, 1.5, &x));
    CHECK_OK(ctx, useg_to_device(ctx, x, USEG_DEVICE_CPU, &y));
    CHECK(y == x, "to_device onto the tensor's own device is the tensor itself");
    CHECK_OK(ctx, useg_zeros_on(ctx, NULL, USEG_DEVICE_CPU, USEG_F64, 2, shape, &z));
    CHECK_OK(ctx, useg_fill(ctx, z, -2.0));
    CHECK(useg_get_flat(z, 5) == -2.0 && z->device == USEG_DEVICE_CPU, "fill and zeros_on on the CPU");
    // A struct that claims to live on the GPU never reaches a kernel when
    // mixed with a CPU tensor: the op refuses first.
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 2, shape, &fake));
    fake->device = USEG_DEVICE_CUDA;
    CHECK_FAILS(ctx, useg_add(ctx, x, fake, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_mul(ctx, fake, x, &out), USEG_ERR_INVALID_ARG);
    // Likewise every op family with a CUDA route.
    useg_tensor *w, *idx, *pair[2] = {x, fake}, *q, *qfake;
    const int64_t c3[1] = {3}, s4[4] = {1, 1, 2, 32};
    CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_F32, 1, c3, &w));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_I64, 2, shape, &idx));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 4, s4, &q));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_F32, 4, s4, &qfake));
    w->device = idx->device = qfake->device = USEG_DEVICE_CUDA;
    CHECK_FAILS(ctx, useg_layer_norm(ctx, x, w, NULL, 1e-5, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_bce_with_logits(ctx, x, fake, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_focal_loss(ctx, fake, x, 0.25, 2.0, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_dice_loss(ctx, x, fake, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_cross_entropy(ctx, x, idx, -100, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_gather(ctx, x, 1, idx, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_concat(ctx, pair, 2, 0, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_attention(ctx, q, qfake, q, 1.0, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_matmul(ctx, x, fake, false, true, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_linear(ctx, x, fake, NULL, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(ctx, useg_conv2d(ctx, q, qfake, NULL, 1, 1, 0, 0, &out), USEG_ERR_INVALID_ARG);
#if !USEG_HAVE_CUDA
    // A build without CUDA has no kernel for anything.
    CHECK(USEG_CUDA_CALL(ctx, "exp", unary, USEG_OP_EXP, 0.0, 0.0, fake, fake) == USEG_ERR_UNSUPPORTED &&
              strstr(ctx->message, "exp: not supported on this device"),
          "a missing CUDA kernel answers 'not supported on this device': %s", ctx->message);
    useg_clear_error(ctx);
#endif
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    test_device_arena();
    test_without_gpu(&ctx);
    test_cpu_paths(&ctx);
    useg_ctx_free(&ctx);
    return check_report("device");
}
