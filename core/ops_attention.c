// Scaled-dot-product attention as one fused op: softmax(q k^T * scale) v.
//
// The op checks its arguments, makes q, k and v contiguous when a gradient
// is needed (recorded copies, so a permuted view such as a ViT's
// (B, N, H, D) -> (B, H, N, D) q gets its gradient through the copy; the
// backward kernel reads contiguous tensors) and otherwise only when their
// rows are not contiguous (the forward kernel reads strided rows: a ViT's
// inference copies nothing), and runs the blocked kernel of
// kernels/attention_cpu.c with a workspace from ctx->scratch. When a gradient
// is needed it saves the per-row log-sum-exp, so the hand-written backward
// recomputes the probabilities tile by tile instead of keeping the
// H x Nq x Nk matrix the unfused composition would.
//
// CUDA tensors run the twins of the CPU kernels (kernels/cuda/attention.cu,
// same arguments) through the CUDA table (device.h), with the workspace in
// the device's scratch and the saved log-sum-exp in f32 whatever the storage
// dtype; they exist for head dims 32 and 64 (others: USEG_ERR_UNSUPPORTED).
#include <stdbool.h>

#include "attention.h"
#include "device.h"
#include "op_internal.h"

static useg_status check_args(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k, const useg_tensor *v) {
    const useg_tensor *in[3] = {q, k, v};
    for (int i = 0; i < 3; i++) {
        USEG_TRY(useg_check_float(ctx, "attention", in[i]));
        USEG_TRY(useg_check_same_device(ctx, "attention", q, in[i]));
    }
    char a[96], b[96], c[96];
    useg_shape_str(q, a, sizeof a);
    useg_shape_str(k, b, sizeof b);
    useg_shape_str(v, c, sizeof c);
    if (q->dtype != k->dtype || q->dtype != v->dtype)
        return useg_fail(ctx, USEG_ERR_SHAPE, "attention: dtypes of q %s, k %s, v %s differ", a, b, c);
    bool ok = q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && useg_same_shape(k, v);
    for (int d = 0; ok && d < 4; d++)
        if (d != 2 && q->shape[d] != k->shape[d]) ok = false;
    if (!ok)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "attention: expects q (B, H, Nq, D), k and v (B, H, Nk, D); got q %s, k %s, v %s", a, b, c);
    if (k->shape[2] == 0 || q->shape[3] == 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "attention: needs at least one key and a head dim; got q %s, k %s", a, b);
    return USEG_OK;
}

// Bytes of workspace the forward (or the backward) kernel of q's device asks
// for. Without a CUDA kernel the call that follows answers "not supported".
static size_t workspace_size(bool backward, const useg_tensor *q, const useg_tensor *k) {
    if (q->device == USEG_DEVICE_CPU)
        return backward ? useg_attention_backward_cpu_workspace_size(q, k)
                        : useg_attention_forward_cpu_workspace_size(q, k);
    size_t (*size)(const useg_tensor *, const useg_tensor *) =
        backward ? useg_cuda_table.attention_backward_workspace_size : useg_cuda_table.attention_forward_workspace_size;
    return size ? size(q, k) : 0;
}

useg_status useg_attention(useg_ctx *ctx, useg_tensor *q, useg_tensor *k, useg_tensor *v, double scale,
                           useg_tensor **out) {
    USEG_TRY(check_args(ctx, q, k, v));
    useg_tensor *in[3] = {q, k, v};
    const bool grad = useg_needs_grad(ctx, in, 3), cuda = q->device == USEG_DEVICE_CUDA;
    // The CPU forward reads rows of D contiguous elements in place; the CUDA
    // kernels and the backward take contiguous tensors.
    for (int i = 0; i < 3; i++)
        if (grad || cuda || !useg_attention_rows_readable(in[i])) USEG_TRY(useg_contiguous(ctx, in[i], &in[i]));
    useg_tensor *o, *lse = NULL;
    USEG_TRY(useg_empty_on(ctx, NULL, q->device, q->dtype, 4, q->shape, &o));
    if (grad) USEG_TRY(useg_empty_on(ctx, NULL, q->device, cuda ? USEG_F32 : q->dtype, 3, q->shape, &lse)); // (B, H, Nq)
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    void *ws;
    useg_status st = useg_scratch_alloc(ctx, q->device, workspace_size(false, in[0], in[1]), &ws);
    if (st == USEG_OK)
        st = cuda ? USEG_CUDA_CALL(ctx, "attention", attention_forward, in[0], in[1], in[2], scale, o, lse, ws)
                  : useg_attention_forward_cpu(ctx, in[0], in[1], in[2], scale, o, lse, ws);
    useg_scratch_rewind(ctx, mark);
    USEG_TRY(st);
    *out = o;
    if (grad) {
        useg_node *n = useg_record(ctx, USEG_OP_ATTENTION, o, in, 3);
        if (!n) return ctx->status;
        n->saved[0] = lse;
        n->farg[0] = scale;
    }
    return USEG_OK;
}

USEG_BACKWARD(attention) {
    useg_tensor *q = node->in[0], *k = node->in[1], *v = node->in[2], *dq, *dk, *dv;
    USEG_TRY(useg_empty_on(ctx, NULL, q->device, q->dtype, 4, q->shape, &dq));
    USEG_TRY(useg_empty_on(ctx, NULL, k->device, k->dtype, 4, k->shape, &dk));
    USEG_TRY(useg_empty_on(ctx, NULL, v->device, v->dtype, 4, v->shape, &dv));
    const useg_tensor *o = node->out, *lse = node->saved[0], *g = node->out->grad;
    double scale = node->farg[0];
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    void *ws;
    useg_status st = useg_scratch_alloc(ctx, q->device, workspace_size(true, q, k), &ws);
    if (st == USEG_OK)
        st = q->device == USEG_DEVICE_CUDA
                 ? USEG_CUDA_CALL(ctx, "attention", attention_backward, q, k, v, o, lse, g, scale, dq, dk, dv, ws)
                 : useg_attention_backward_cpu(ctx, q, k, v, o, lse, g, scale, dq, dk, dv, ws);
    useg_scratch_rewind(ctx, mark);
    USEG_TRY(st);
    USEG_TRY(useg_accumulate_grad(ctx, q, dq));
    USEG_TRY(useg_accumulate_grad(ctx, k, dk));
    return useg_accumulate_grad(ctx, v, dv);
}
