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
    // A new op adds its enum entry here, its backward to op_internal.h and
    // its table entry to op_table.c.
    // core/ops_index.c (split is slices)
    USEG_OP_CONCAT, USEG_OP_GATHER, USEG_OP_INDEX_SELECT,
    // core/ops_interp.c
    USEG_OP_INTERPOLATE,
    // normalisation and softmax (core/ops_nn.c)
    USEG_OP_SOFTMAX, USEG_OP_LOG_SOFTMAX, USEG_OP_LAYER_NORM,
    // losses (core/ops_loss.c)
    USEG_OP_CROSS_ENTROPY, USEG_OP_BCE_WITH_LOGITS, USEG_OP_FOCAL_LOSS, USEG_OP_DICE_LOSS,
    // core/ops_attention.c
    USEG_OP_ATTENTION,
    // core/ops_linalg.c
    USEG_OP_MATMUL, USEG_OP_LINEAR, USEG_OP_CONV2D,
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

// --- Linear algebra (core/ops_linalg.c; GEMM in kernels/gemm.h). ---------------
// Batched matrix product with optional transposes: a (..., M, K) or (..., K, M)
// when trans_a; b (..., K, N) or (..., N, K) when trans_b; out (..., M, N).
// Batch dims broadcast (NumPy rules); 1-D operands are not promoted (rank >= 2).
useg_status useg_matmul(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, bool trans_a, bool trans_b,
                        useg_tensor **out);
// x (..., in) @ w^T (out, in) + bias (out) -> (..., out); bias may be NULL.
// PyTorch's nn.Linear layout.
useg_status useg_linear(useg_ctx *ctx, useg_tensor *x, useg_tensor *w, useg_tensor *bias, useg_tensor **out);
// x (B, C, H, W), w (O, C, KH, KW), bias (O) or NULL -> (B, O, H', W') with
// H' = (H + 2 pad_h - KH) / stride_h + 1 (PyTorch conv2d, no dilation/groups).
useg_status useg_conv2d(useg_ctx *ctx, useg_tensor *x, useg_tensor *w, useg_tensor *bias, int stride_h,
                        int stride_w, int pad_h, int pad_w, useg_tensor **out);

// --- Attention (core/ops_attention.c; CPU kernel kernels/attention_cpu.c). -----
// softmax(q k^T * scale) v for q (B, H, Nq, D), k and v (B, H, Nk, D) ->
// (B, H, Nq, D). Blocked with an online softmax: the Nq x Nk score matrix is
// never stored whole. The backward recomputes scores block by block from the
// saved row log-sum-exp. Inputs may be strided views: on the CPU, with rows
// of D contiguous elements they are read in place when no gradient is
// needed, otherwise copied to contiguous. Nk and D must be positive (shape
// error otherwise). On CUDA the kernels take head dims 32 and 64
// (USEG_ERR_UNSUPPORTED for others).
useg_status useg_attention(useg_ctx *ctx, useg_tensor *q, useg_tensor *k, useg_tensor *v, double scale,
                           useg_tensor **out);

// --- Normalisation and softmax (core/ops_nn.c). ---------------------------------
// Softmax / log-softmax along `axis` (negative counts from the end; out of
// range is a shape error), max-subtracted so large logits do not overflow.
// out has x's shape.
useg_status useg_softmax(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor **out);
useg_status useg_log_softmax(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor **out);
// Layer norm over the last axis: (x - mean) / sqrt(var + eps) * weight + bias,
// biased variance as PyTorch; x (..., C), weight and bias (C) of x's dtype,
// either may be NULL. eps must be finite and >= 0 (else USEG_ERR_INVALID_ARG).
useg_status useg_layer_norm(useg_ctx *ctx, useg_tensor *x, useg_tensor *weight, useg_tensor *bias, double eps,
                            useg_tensor **out);

// --- Losses (core/ops_loss.c). All return a 0-d mean over the counted elements.
// Float targets (BCE, focal, dice) are differentiable like the logits (soft
// targets); they must have the logits' dtype and exact shape (no broadcasting).
// logits (N, C) or (N, C, d1, ...), target i64 (N) or (N, d1, ...); targets
// equal to ignore_index count nowhere (PyTorch's mean over non-ignored; NaN
// when all are ignored, as PyTorch). Every other target must lie in [0, C):
// one outside is a USEG_ERR_SHAPE naming the value and its position (on a
// GPU the targets are checked there, and the op waits for that check).
useg_status useg_cross_entropy(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, int64_t ignore_index,
                               useg_tensor **out);
// Mean of the numerically stable BCE with logits; target same shape, in [0, 1].
useg_status useg_bce_with_logits(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, useg_tensor **out);
// Sigmoid focal loss (Lin et al.; torchvision.ops.sigmoid_focal_loss with
// reduction 'mean'): alpha < 0 disables the alpha weighting; alpha <= 1 and
// gamma finite >= 0, else USEG_ERR_INVALID_ARG. alpha < 0, gamma 0 is BCE.
useg_status useg_focal_loss(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, double alpha, double gamma,
                            useg_tensor **out);
// Dice loss on sigmoid probabilities, per row of (N, ...) flattened (rank >= 2):
// 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1), averaged over N. This is
// Mask2Former's / DETR's dice_loss with num_masks = N (they divide the sum
// over masks by a num_masks that may be averaged across GPUs; scale the
// result to match that).
useg_status useg_dice_loss(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, useg_tensor **out);

// --- Indexing (core/ops_index.c). ---------------------------------------------
// These move data: the forwards take any dtype; float inputs get gradients.
// Join n >= 1 tensors (same rank and dtype, all other sizes equal) along `axis`;
// any n (the tape records one node per four inputs).
useg_status useg_concat(useg_ctx *ctx, useg_tensor **xs, int n, int axis, useg_tensor **out);
// Split along `axis` into n pieces of the given sizes (they sum to the axis
// size); the pieces are views (slices), so gradients flow through them.
useg_status useg_split(useg_ctx *ctx, useg_tensor *x, int axis, const int64_t *sizes, int n, useg_tensor **outs);
// torch.gather: out[i][j][k] = x[index[i][j][k]][j][k] for axis 0, etc.;
// index i64 of out's shape, same rank as x, index.shape[d] <= x.shape[d] for
// d != axis. Out-of-range indices are a shape error naming the value. The
// backward scatter-adds (repeated indices accumulate) in a fixed order.
useg_status useg_gather(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor *index, useg_tensor **out);
// torch.index_select: the entries of `index` (1-D i64) along `axis`; range
// checked as gather.
useg_status useg_index_select(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor *index, useg_tensor **out);

// --- Resampling (core/ops_interp.c). -------------------------------------------
typedef enum useg_interp_mode { USEG_INTERP_BILINEAR, USEG_INTERP_BICUBIC } useg_interp_mode;
// x (B, C, H, W) f32/f64 -> (B, C, out_h, out_w), PyTorch 1.13 F.interpolate(
// size=(out_h, out_w), align_corners=False), no antialias: source index
// (dst + 0.5) * in / out - 0.5 (bilinear: clamped at 0; bicubic: a = -0.75,
// border taps clamped to the edge). Sizes must be positive.
useg_status useg_interpolate(useg_ctx *ctx, useg_tensor *x, int64_t out_h, int64_t out_w, useg_interp_mode mode,
                             useg_tensor **out);
// F.interpolate(scale_factor=(scale_h, scale_w), align_corners=False) with
// recompute_scale_factor unset, as DINO's interpolate_pos_encoding calls it:
// out_h = floor(H * scale_h) (computed in double, as PyTorch), and the source
// index uses 1 / scale_h instead of H / out_h. The two differ whenever
// H * scale_h is not an integer: DINO passes (h0 + 0.1) / sqrt(N) so that the
// floor lands on h0. Scales must be finite, positive and give sizes >= 1.
useg_status useg_interpolate_scaled(useg_ctx *ctx, useg_tensor *x, double scale_h, double scale_w,
                                    useg_interp_mode mode, useg_tensor **out);
