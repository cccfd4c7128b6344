// The context (context.h): arenas by lifetime, the sticky first error, the
// first-error record of parallel loops, and arena allocation that fails with
// a message instead of returning NULL. Arenas reserve lazily: the initial
// chunk sizes below (params 16 MiB, step 64 MiB, scratch 16 MiB) are what a
// first allocation takes, not what a context costs; every arena is capped at
// 16 GiB unless the options set a lower limit, so a runaway size fails with a
// message naming the arena instead of exhausting the machine.
#include "context.h"

#include "device.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MIB = 1 << 20 };
static const size_t DEFAULT_LIMIT = (size_t)16 << 30;

void useg_ctx_init(useg_ctx *ctx, const useg_ctx_options *opt) {
    *ctx = (useg_ctx){.grad_enabled = true};
    useg_arena_init(&ctx->params, "params", 16 * MIB, opt && opt->params_limit ? opt->params_limit : DEFAULT_LIMIT);
    useg_arena_init(&ctx->step, "step", 64 * MIB, opt && opt->step_limit ? opt->step_limit : DEFAULT_LIMIT);
    useg_arena_init(&ctx->scratch, "scratch", 16 * MIB, DEFAULT_LIMIT);
    useg_rng_seed(&ctx->rng, opt ? opt->seed : 0, 0);
}

void useg_ctx_free(useg_ctx *ctx) {
    useg_cuda_release(ctx);
    useg_arena_free(&ctx->params);
    useg_arena_free(&ctx->step);
    useg_arena_free(&ctx->scratch);
    free(ctx->tape.nodes);
    ctx->tape = (useg_tape){0};
}

void useg_step_end(useg_ctx *ctx) {
    ctx->tape.len = 0;
    useg_arena_reset(&ctx->step);
    useg_arena_reset(&ctx->scratch);
    if (ctx->cuda) {
        useg_device_arena_reset(&ctx->cuda->step);
        useg_device_arena_reset(&ctx->cuda->scratch);
    }
}

useg_status useg_fail(useg_ctx *ctx, useg_status status, const char *fmt, ...) {
    USEG_ASSERT(status != USEG_OK, "useg_fail called with USEG_OK");
    if (ctx->status == USEG_OK) {
        ctx->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void useg_clear_error(useg_ctx *ctx) {
    ctx->status = USEG_OK;
    ctx->message[0] = '\0';
}

void useg_first_error_keep(useg_first_error *first, int64_t index, useg_ctx *local) {
    USEG_ASSERT(local->status != USEG_OK, "useg_first_error_keep called without an error");
#pragma omp critical(useg_first_error)
    if (first->index < 0 || index < first->index) {
        first->index = index;
        first->status = local->status;
        memcpy(first->message, local->message, sizeof first->message);
    }
    useg_clear_error(local);
}

useg_status useg_first_error_report(useg_ctx *ctx, const useg_first_error *first) {
    if (first->index < 0) return USEG_OK;
    return useg_fail(ctx, first->status, "%s", first->message);
}

useg_status useg_alloc(useg_ctx *ctx, useg_arena *a, size_t bytes, void **out) {
    *out = useg_arena_alloc(a, bytes);
    if (!*out)
        return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY,
                         "out of memory: %zu bytes requested from the %s arena (%zu in use, limit %zu)",
                         bytes, a->name, a->used, a->limit);
    return USEG_OK;
}
