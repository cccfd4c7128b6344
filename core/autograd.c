#include "autograd.h"

#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "device.h"
#include "dispatch.h"
#include "ops.h"
#include "strided.h"

useg_status useg_requires_grad(useg_ctx *ctx, useg_tensor *param) {
    if (!useg_dtype_is_float(param->dtype))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "only float tensors can require a gradient (got %s)",
                         useg_dtype_name(param->dtype));
    param->requires_grad = true;
    if (!param->grad)
        USEG_TRY(useg_zeros_on(ctx, &ctx->params, param->device, param->dtype, param->ndim, param->shape,
                               &param->grad));
    return USEG_OK;
}

useg_status useg_zero_grad(useg_ctx *ctx, useg_tensor **params, int n) {
    for (int i = 0; i < n; i++) {
        useg_tensor *g = params[i]->grad;
        if (!g) continue;
        size_t bytes = (size_t)useg_numel(g) * useg_dtype_size(g->dtype);
        if (g->device == USEG_DEVICE_CUDA) USEG_TRY(useg_cuda_memset(ctx, g->data, 0, bytes));
        else memset(g->data, 0, bytes);
    }
    return USEG_OK;
}

bool useg_no_grad_begin(useg_ctx *ctx) {
    bool prev = ctx->grad_enabled;
    ctx->grad_enabled = false;
    return prev;
}

void useg_no_grad_end(useg_ctx *ctx, bool prev) { ctx->grad_enabled = prev; }

bool useg_needs_grad(const useg_ctx *ctx, useg_tensor *const *in, int n_in) {
    if (!ctx->grad_enabled) return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) return true;
    return false;
}

useg_node *useg_record(useg_ctx *ctx, int op, useg_tensor *out, useg_tensor *const *in, int n_in) {
    USEG_ASSERT(n_in <= USEG_NODE_MAX_INPUTS, "op %d has %d inputs", op, n_in);
    useg_tape *tape = &ctx->tape;
    if (tape->len == tape->cap) {
        int cap = tape->cap ? 2 * tape->cap : 256;
        useg_node *nodes = realloc(tape->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) {
            useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "out of memory growing the autograd tape to %d nodes", cap);
            return NULL;
        }
        tape->nodes = nodes;
        tape->cap = cap;
    }
    useg_node *node = &tape->nodes[tape->len++];
    *node = (useg_node){.op = op, .out = out, .n_in = n_in};
    for (int i = 0; i < n_in; i++) node->in[i] = in[i];
    out->requires_grad = true;
    return node;
}

useg_status useg_add_into(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src) {
    USEG_ASSERT(useg_same_shape(dst, src), "add_into: shapes differ");
    // f16 / bf16 gradients exist on CUDA (the intermediates of half-precision ops).
    bool half_on_gpu = dst->device == USEG_DEVICE_CUDA && (dst->dtype == USEG_F16 || dst->dtype == USEG_BF16);
    USEG_ASSERT(dst->dtype == src->dtype && (useg_dtype_is_float(dst->dtype) || half_on_gpu), "add_into: dtypes differ");
    if (useg_numel(dst) == 0) return USEG_OK;
    if (dst->device != src->device)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "add_into: operands on %s and %s", useg_device_name(dst->device),
                         useg_device_name(src->device));
    if (dst->device == USEG_DEVICE_CUDA) return USEG_CUDA_CALL(ctx, "add_into", add_into, dst, src);
    const int64_t *strides[2] = {dst->strides, src->strides};
    useg_iter proto;
    useg_iter_init(&proto, dst->ndim, dst->shape, 2, strides);
    const int64_t rows = proto.rows;
    const bool parallel = useg_numel(dst) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(dst->dtype, T, {
        T *d = dst->data;
        const T *s = src->data;
        _Pragma("omp parallel for schedule(static) if (parallel) firstprivate(proto)")
        for (int64_t r = 0; r < rows; r++) {
            useg_iter it = proto;
            useg_iter_seek(&it, r);
            T *dr = d + it.offset[0];
            const T *sr = s + it.offset[1];
            int64_t ds = it.inner_stride[0], ss = it.inner_stride[1];
            if (ds == 1 && ss == 1)
                for (int64_t i = 0; i < it.inner; i++) dr[i] += sr[i];
            else
                for (int64_t i = 0; i < it.inner; i++) dr[i * ds] += sr[i * ss];
        }
    });
    return USEG_OK;
}

useg_status useg_accumulate_grad(useg_ctx *ctx, useg_tensor *t, const useg_tensor *g) {
    if (!t->requires_grad) return USEG_OK;
    if (!t->grad) USEG_TRY(useg_zeros_on(ctx, NULL, t->device, t->dtype, t->ndim, t->shape, &t->grad));
    return useg_add_into(ctx, t->grad, g);
}

useg_status useg_backward(useg_ctx *ctx, useg_tensor *loss) {
    if (useg_numel(loss) != 1)
        return useg_fail(ctx, USEG_ERR_SHAPE, "backward needs a one-element loss, got %lld elements",
                         (long long)useg_numel(loss));
    if (!loss->requires_grad)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "backward: the loss does not depend on anything that requires a gradient");
    bool prev = useg_no_grad_begin(ctx);
    useg_status st = USEG_OK;
    if (!loss->grad) st = useg_empty_on(ctx, NULL, loss->device, loss->dtype, loss->ndim, loss->shape, &loss->grad);
    if (st == USEG_OK) st = useg_fill(ctx, loss->grad, 1.0);
    if (st == USEG_OK) {
        for (int i = ctx->tape.len - 1; i >= 0 && st == USEG_OK; i--) {
            const useg_node *node = &ctx->tape.nodes[i];
            if (!node->out->grad) continue; // nothing flowed back to this node
            st = useg_op_table[node->op].backward(ctx, node);
        }
    }
    useg_no_grad_end(ctx, prev);
    return st;
}
