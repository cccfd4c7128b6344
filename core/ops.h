// The differentiable ops: public entry points and the op table.
//
// Every op: checks its arguments (a bad shape or dtype is a status, not a
// crash), makes inputs contiguous where its kernel needs it, allocates its
// output in ctx->step, runs the kernel for the tensors' device, and records a
// tape node when a gradient is needed. CPU kernels compute in f32 and f64;
// a device without a kernel for the op answers USEG_ERR_UNSUPPORTED.
//
// Shape letters: B batch, H heads (or height), W width, C channels,
// N tokens, D head dim, M/K/N GEMM sizes.
#pragma once

#include "autograd.h"
#include "tensor.h"

typedef enum useg_op {
    // views and copies (core/tensor.c)
    USEG_OP_RESHAPE,
    USEG_OP_PERMUTE,
    USEG_OP_SLICE,
    USEG_OP_EXPAND,
    USEG_OP_COPY,
    USEG_OP_CAST,
    // elementwise with broadcasting (core/ops_elementwise.c)
    USEG_OP_ADD,
    USEG_OP_SUB,
    USEG_OP_MUL,
    USEG_OP_DIV,
    USEG_OP_SCALE,     // a * x + b, scalars a, b
    USEG_OP_EXP,
    USEG_OP_LOG,
    USEG_OP_SQRT,
    USEG_OP_RSQRT,
    USEG_OP_TANH,
    USEG_OP_SIGMOID,
    USEG_OP_RELU,
    USEG_OP_GELU,
    // reductions (core/ops_reduce.c)
    USEG_OP_SUM,
    USEG_OP_MEAN,
    USEG_OP_MAX,
    USEG_OP_COUNT
} useg_op;

typedef useg_status (*useg_backward_fn)(useg_ctx *ctx, const useg_node *node);

typedef struct useg_op_info {
    const char *name;
    useg_backward_fn backward;
} useg_op_info;

extern const useg_op_info useg_op_table[USEG_OP_COUNT]; // op_table.c

// --- Elementwise (NumPy broadcasting; out has the broadcast shape). ------------
useg_status useg_add(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out);
useg_status useg_sub(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out);
useg_status useg_mul(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out);
useg_status useg_div(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out);
// out = alpha * x + beta.
useg_status useg_scale(useg_ctx *ctx, useg_tensor *x, double alpha, double beta, useg_tensor **out);
useg_status useg_exp(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_log(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_sqrt(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_rsqrt(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_tanh(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_sigmoid(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
useg_status useg_relu(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);
// The exact (erf) GELU, PyTorch's default.
useg_status useg_gelu(useg_ctx *ctx, useg_tensor *x, useg_tensor **out);

// --- Reductions. ------------------------------------------------------------
// Sum / mean over the axes whose bit is set in `axes_mask` (bit i = axis i;
// all axes when the mask is 0). keepdim keeps reduced axes as size 1.
useg_status useg_sum(useg_ctx *ctx, useg_tensor *x, unsigned axes_mask, bool keepdim, useg_tensor **out);
useg_status useg_mean(useg_ctx *ctx, useg_tensor *x, unsigned axes_mask, bool keepdim, useg_tensor **out);
// Max over one axis. `values` is differentiable (the gradient goes to the first
// maximal element, as PyTorch's max(dim) does); `indices` (i64, may be NULL) is not.
useg_status useg_max(useg_ctx *ctx, useg_tensor *x, int axis, bool keepdim, useg_tensor **values,
                     useg_tensor **indices);
// Index of the first maximal element along `axis` (i64); not differentiable.
useg_status useg_argmax(useg_ctx *ctx, useg_tensor *x, int axis, bool keepdim, useg_tensor **out);
// Sum a gradient of broadcast shape back down to `shape` (the adjoint of
// broadcasting); differentiable.
useg_status useg_sum_to(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out);
