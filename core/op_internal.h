// What op implementations share: argument checks, broadcasting, and the list
// of backward functions for the op table (op_table.c). Each backward sits next
// to its forward in the op's source file; this header only declares them.
#pragma once

#include "autograd.h"
#include "context.h"
#include "ops.h"

// USEG_OK when x is a float tensor on the CPU; otherwise the failure, naming `op`.
// (Ops with a CUDA kernel check with useg_check_float instead.)
useg_status useg_check_float_cpu(useg_ctx *ctx, const char *op, const useg_tensor *x);
// USEG_OK when x has a dtype ops compute in on its device: f32 or f64 on the
// CPU, f32, f16 or bf16 on CUDA (f16/bf16 are stored, computed in f32).
useg_status useg_check_float(useg_ctx *ctx, const char *op, const useg_tensor *x);
// USEG_OK when a and b live on the same device; else an invalid-argument failure naming `op`.
useg_status useg_check_same_device(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b);
// The broadcast shape of a and b (NumPy rules) into ndim/shape, or a shape error naming `op`.
useg_status useg_broadcast_shape(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b,
                                 int *ndim, int64_t *shape);
// Strides that read x as if expanded to (ndim, shape): 0 on broadcast axes. x must broadcast.
void useg_broadcast_strides(const useg_tensor *x, int ndim, const int64_t *shape, int64_t *strides);
// Checks shared by the tensor creators: sizes >= 0, ndim in range, and a byte
// count (into *bytes) that fits in size_t.
useg_status useg_check_shape(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, size_t *bytes);
// Row-major strides for t's shape (after changing the shape of a fresh tensor).
void useg_set_contiguous_strides(useg_tensor *t);
// Axis in [0, ndim) from a possibly negative axis, or a shape error naming `op`.
useg_status useg_normalize_axis(useg_ctx *ctx, const char *op, int axis, int ndim, int *out);
// Views a contiguous x as (outer, size, inner) around `axis` (ops_reduce.c).
void useg_split_around(const useg_tensor *x, int axis, int64_t *outer, int64_t *size, int64_t *inner);

#define USEG_BACKWARD(name) useg_status useg_##name##_backward(useg_ctx *ctx, const useg_node *node)

// core/tensor.c
USEG_BACKWARD(reshape);
USEG_BACKWARD(permute);
USEG_BACKWARD(slice);
USEG_BACKWARD(expand);
USEG_BACKWARD(copy);
USEG_BACKWARD(cast);
// core/ops_elementwise.c
USEG_BACKWARD(add);
USEG_BACKWARD(sub);
USEG_BACKWARD(mul);
USEG_BACKWARD(div);
USEG_BACKWARD(scale);
USEG_BACKWARD(exp);
USEG_BACKWARD(log);
USEG_BACKWARD(sqrt);
USEG_BACKWARD(rsqrt);
USEG_BACKWARD(tanh);
USEG_BACKWARD(sigmoid);
USEG_BACKWARD(relu);
USEG_BACKWARD(gelu);
// core/ops_reduce.c
USEG_BACKWARD(sum);
USEG_BACKWARD(mean);
USEG_BACKWARD(max);
// core/ops_index.c
USEG_BACKWARD(concat);
USEG_BACKWARD(gather);
USEG_BACKWARD(index_select);
// core/ops_interp.c
USEG_BACKWARD(interpolate);
// core/ops_nn.c
USEG_BACKWARD(softmax);
USEG_BACKWARD(log_softmax);
USEG_BACKWARD(layer_norm);
// core/ops_loss.c
USEG_BACKWARD(cross_entropy);
USEG_BACKWARD(bce_with_logits);
USEG_BACKWARD(focal_loss);
USEG_BACKWARD(dice_loss);
// core/ops_attention.c
USEG_BACKWARD(attention);
// core/ops_linalg.c
USEG_BACKWARD(matmul);
USEG_BACKWARD(linear);
USEG_BACKWARD(conv2d);
