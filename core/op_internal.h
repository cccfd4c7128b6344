// What op implementations share: argument checks, broadcasting, and the list
// of backward functions for the op table (op_table.c). Each backward sits next
// to its forward in the op's source file; this header only declares them.
#pragma once

#include "autograd.h"
#include "context.h"
#include "ops.h"

// USEG_OK when x is a float tensor on the CPU; otherwise the failure, naming `op`.
// (CUDA tensors are routed to the CUDA backend before this check.)
useg_status useg_check_float_cpu(useg_ctx *ctx, const char *op, const useg_tensor *x);
// The broadcast shape of a and b (NumPy rules) into ndim/shape, or a shape error naming `op`.
useg_status useg_broadcast_shape(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b,
                                 int *ndim, int64_t *shape);
// Strides that read x as if expanded to (ndim, shape): 0 on broadcast axes. x must broadcast.
void useg_broadcast_strides(const useg_tensor *x, int ndim, const int64_t *shape, int64_t *strides);
// Row-major strides for t's shape (after changing the shape of a fresh tensor).
void useg_set_contiguous_strides(useg_tensor *t);
// Axis in [0, ndim) from a possibly negative axis, or a shape error naming `op`.
useg_status useg_normalize_axis(useg_ctx *ctx, const char *op, int axis, int ndim, int *out);

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
// core/ops_linalg.c
USEG_BACKWARD(matmul);
USEG_BACKWARD(linear);
USEG_BACKWARD(conv2d);
