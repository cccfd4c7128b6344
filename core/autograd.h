// Tape-based reverse-mode autograd.
//
// Every op whose output requires a gradient appends one node to ctx->tape
// (in execution order). useg_backward walks the tape in reverse, calling each
// op's backward from the op table (ops.h), which accumulates into the inputs'
// `grad`. Gradients of parameters live in ctx->params and persist across
// steps (zero them with useg_zero_grad); gradients of intermediate tensors
// live in ctx->step and go away with useg_step_end.
#pragma once

#include "tensor.h"

enum { USEG_NODE_MAX_INPUTS = 4, USEG_NODE_MAX_SAVED = 3 };

typedef struct useg_node {
    int op;                                     // useg_op
    useg_tensor *out;
    useg_tensor *in[USEG_NODE_MAX_INPUTS];
    int n_in;
    useg_tensor *saved[USEG_NODE_MAX_SAVED];    // extra tensors the backward needs
    int64_t iarg[USEG_MAX_DIMS + 2];            // integer parameters (axes, sizes, ...)
    double farg[4];                             // real parameters (eps, scale, ...)
} useg_node;

typedef struct useg_tape {
    useg_node *nodes;  // grows by doubling; kept across steps
    int len, cap;
} useg_tape;

// Mark a parameter as trainable: allocates its gradient in ctx->params, zeroed.
useg_status useg_requires_grad(useg_ctx *ctx, useg_tensor *param);
// Zero the gradients of `n` parameters (on their device; fails only on a GPU error).
useg_status useg_zero_grad(useg_ctx *ctx, useg_tensor **params, int n);

// Inside a no-grad scope ops record nothing. Scopes nest:
//   bool prev = useg_no_grad_begin(ctx); ... useg_no_grad_end(ctx, prev);
bool useg_no_grad_begin(useg_ctx *ctx);
void useg_no_grad_end(useg_ctx *ctx, bool prev);

// Backpropagate from a scalar (one-element) loss: d loss = 1.
useg_status useg_backward(useg_ctx *ctx, useg_tensor *loss);

// --- For op implementations. ---------------------------------------------------
// Whether an op with these inputs must be recorded.
bool useg_needs_grad(const useg_ctx *ctx, useg_tensor *const *in, int n_in);
// Append a node for `out` = op(in...); sets out->requires_grad. Returns the node
// so the caller can fill iarg/farg/saved, or NULL with ctx's error set.
useg_node *useg_record(useg_ctx *ctx, int op, useg_tensor *out, useg_tensor *const *in, int n_in);
// t->grad += g (any strides; same shape as t). Allocates t->grad, zeroed, in
// ctx->step if t has none. A no-op when t does not require a gradient.
useg_status useg_accumulate_grad(useg_ctx *ctx, useg_tensor *t, const useg_tensor *g);
// dst += src elementwise (same shape, same float dtype, any strides). Not recorded.
useg_status useg_add_into(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
