// The CUDA kernels: C-linkage launchers, one block per kernel file.
//
// Every launcher runs on the context's stream (ctx->cuda->stream, set up by
// useg_cuda_init), checks its launch, and returns a status: USEG_ERR_DEVICE
// for a CUDA error, USEG_ERR_SHAPE for a dtype or size it cannot take. They
// do not synchronise: results are ready in stream order, and an asynchronous
// fault surfaces at the next checked call. Workspaces come from the device
// scratch arena and are rewound before returning. Pointers are device
// pointers; `dt` is the storage dtype (f32, f16 or bf16; f16/bf16 are
// computed in f32). Nothing here uses float atomics: every result is the same
// bit for bit from run to run.
//
// Two kinds of launcher:
//  - tensor-level ones (elementwise.cu, reduce.cu) are the entries of the CUDA
//    table (core/device.h) and take the same tensors as the CPU kernels of the
//    op in core/ops_*.c;
//  - raw-pointer ones for the ops whose CPU kernels live in other files. Each
//    says which CPU reference it must match (PyTorch semantics as in ops.h);
//    the op layer wraps it when the op gains its CUDA route.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "context.h"
#include "ops.h"

// --- elementwise.cu: copies and elementwise ops (tensor-level) --------------------------
// dst <- src: same shape, any strides, any dtypes (converted as useg_copy_into does).
useg_status useg_copy_cuda(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
// dst += src: same shape and float dtype, any strides (dst must not overlap itself).
useg_status useg_add_into_cuda(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src);
useg_status useg_fill_cuda(useg_ctx *ctx, useg_tensor *t, double value);
// out = a OP b for op in USEG_OP_ADD/SUB/MUL/DIV; a and b any strides,
// broadcasting (NumPy) to out's shape; out contiguous. CPU: binary_cpu.
useg_status useg_binary_cuda(useg_ctx *ctx, useg_op op, const useg_tensor *a, const useg_tensor *b,
                             useg_tensor *out);
// y = f(x) for op in USEG_OP_SCALE (alpha x + beta), EXP, LOG, SQRT, RSQRT,
// TANH, SIGMOID, RELU, GELU (erf); contiguous. CPU: unary_forward_cpu.
useg_status useg_unary_cuda(useg_ctx *ctx, useg_op op, double alpha, double beta, const useg_tensor *x,
                            useg_tensor *y);
// dx = g * f'(x), given y = f(x); contiguous. CPU: unary_backward_cpu.
useg_status useg_unary_backward_cuda(useg_ctx *ctx, useg_op op, double alpha, const useg_tensor *x,
                                     const useg_tensor *y, const useg_tensor *g, useg_tensor *dx);

// --- reduce.cu: reductions (tensor-level and raw) ------------------------------------------
// keep = factor * sum of x over the axes in mask (keep: x's shape with those
// axes 1, contiguous; x any strides). Accumulates in f64 like sum_cpu; a fixed
// tree order. CPU: sum_cpu.
useg_status useg_sum_cuda(useg_ctx *ctx, const useg_tensor *x, unsigned mask, double factor, useg_tensor *keep);
// First maximum along `axis` of contiguous x (NaN wins, first index on ties);
// values may be NULL; indices i64. CPU: max_cpu.
useg_status useg_max_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, useg_tensor *values,
                          useg_tensor *indices);
// dx (zeroed) receives g at the indices along `axis`. CPU: max_backward_cpu.
useg_status useg_max_backward_cuda(useg_ctx *ctx, const useg_tensor *g, const useg_tensor *indices, int axis,
                                   useg_tensor *dx);
// *out = factor * sum of x[0..n) (f32, f64 accumulation, fixed tree order).
// The building block of the mean losses.
useg_status useg_sum_f32_cuda(useg_ctx *ctx, float *out, const float *x, int64_t n, double factor);

// --- softmax.cu: softmax and log-softmax along one axis ------------------------------------
// x, y (outer, size, inner) contiguous: softmax over the middle axis (ops.h
// useg_softmax / useg_log_softmax with any axis; inner = 1 for the last axis).
useg_status useg_softmax_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, int64_t outer,
                                      int64_t size, int64_t inner, bool log);
// dx from dy and the forward's y: softmax dx = y (dy - sum(dy y));
// log-softmax dx = dy - exp(y) sum(dy).
useg_status useg_softmax_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy, const void *y,
                                       int64_t outer, int64_t size, int64_t inner, bool log);

// --- layernorm.cu: layer norm over the last axis ---------------------------------------------
// x, y (rows, C); weight, bias (C) or NULL; mean, rstd (rows) f32 for the
// backward (NULL when not needed). y = (x - mean) * rstd * weight + bias with
// the biased variance and rstd = 1 / sqrt(var + eps) (PyTorch layer_norm).
useg_status useg_layer_norm_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, float *mean, float *rstd,
                                         const void *x, const void *weight, const void *bias, int64_t rows,
                                         int64_t C, float eps);
// dx (rows, C); dweight, dbias (C) or NULL, written (not accumulated), summed
// over rows in a fixed two-pass order.
useg_status useg_layer_norm_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, void *dweight, void *dbias,
                                          const void *dy, const void *x, const void *weight, const float *mean,
                                          const float *rstd, int64_t rows, int64_t C);

// --- interp.cu: bilinear / bicubic resampling, align_corners=False ----------------------------
// x (BC, H, W) -> y (BC, OH, OW), PyTorch F.interpolate(size=(OH, OW),
// align_corners=False): source = (dst + 0.5) * in / out - 0.5 in f32,
// bilinear clamps it at 0, bicubic uses a = -0.75 with clamped border taps.
useg_status useg_interpolate_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, int64_t BC,
                                          int64_t H, int64_t W, int64_t OH, int64_t OW, useg_interp_mode mode);
// dx (BC, H, W) from dy (BC, OH, OW), written. Each input pixel gathers the
// output pixels that read it (no atomics): cost per input pixel grows with the
// upsampling factor squared.
useg_status useg_interpolate_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy, int64_t BC,
                                           int64_t H, int64_t W, int64_t OH, int64_t OW, useg_interp_mode mode);

// --- index.cu: gather and index_select --------------------------------------------------------
// Shapes are (outer, size, inner) around the axis: x (outer, size, inner).
// An index outside [0, size) sets *bad_index (device int32, may be NULL) to 1
// and yields 0 in that place; the op layer reads the flag to fail with a shape error.
// index_select: index (n) i64, y (outer, n, inner). CPU: torch.index_select.
useg_status useg_index_select_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x,
                                           const int64_t *index, int64_t outer, int64_t size, int64_t inner,
                                           int64_t n, int32_t *bad_index);
// dx (outer, size, inner), written: dx[o, s, i] = sum over j with index[j] == s
// of dy[o, j, i], in increasing j (a stable sort of the index, no atomics).
useg_status useg_index_select_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy,
                                            const int64_t *index, int64_t outer, int64_t size, int64_t inner,
                                            int64_t n);
// gather: index and y (outer, n, inner), y[o, j, i] = x[o, index[o, j, i], i]. CPU: torch.gather.
useg_status useg_gather_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const int64_t *index,
                                     int64_t outer, int64_t size, int64_t inner, int64_t n, int32_t *bad_index);
// dx[o, s, i] = sum over j with index[o, j, i] == s of dy[o, j, i], in
// increasing j; each dx element scans its column's n indices (O(size n) per column).
useg_status useg_gather_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dy,
                                      const int64_t *index, int64_t outer, int64_t size, int64_t inner, int64_t n);

// --- loss.cu: losses, each a mean, written to a 0-d `loss` of dtype dt -------------------------
// Cross entropy: logits (N, C, inner), target (N, inner) i64. Targets equal to
// ignore_index count nowhere; NaN when all are ignored (PyTorch). Saves lse
// (N * inner, f32) and *count (f32, device) for the backward. A target outside
// [0, C) and not ignore_index sets *bad_index (may be NULL).
useg_status useg_cross_entropy_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, float *lse, float *count,
                                            const void *logits, const int64_t *target, int64_t N, int64_t C,
                                            int64_t inner, int64_t ignore_index, int32_t *bad_index);
// dlogits = dloss / count * (softmax - onehot(target)), 0 on ignored positions.
useg_status useg_cross_entropy_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                             const void *logits, const int64_t *target, const float *lse,
                                             const float *count, int64_t N, int64_t C, int64_t inner,
                                             int64_t ignore_index);
// BCE with logits over n elements: mean of max(x, 0) - x t + log1p(exp(-|x|)).
useg_status useg_bce_with_logits_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, const void *logits,
                                              const void *target, int64_t n);
// dlogits = dloss / n * (sigmoid(x) - t).
useg_status useg_bce_with_logits_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                               const void *logits, const void *target, int64_t n);
// torchvision sigmoid_focal_loss, reduction 'mean': bce * (1 - p_t)^gamma,
// times alpha_t = alpha t + (1 - alpha)(1 - t) when alpha >= 0.
useg_status useg_focal_loss_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, const void *logits,
                                         const void *target, int64_t n, float alpha, float gamma);
useg_status useg_focal_loss_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                          const void *logits, const void *target, int64_t n, float alpha,
                                          float gamma);
// Dice on sigmoid probabilities of logits (N, M): mean over rows of
// 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1). Saves the row sums
// (N, 3: sum p t, sum p, sum t; f32) for the backward.
useg_status useg_dice_loss_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *loss, float *row_sums,
                                        const void *logits, const void *target, int64_t N, int64_t M);
useg_status useg_dice_loss_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dlogits, const void *dloss,
                                         const void *logits, const void *target, const float *row_sums, int64_t N,
                                         int64_t M);

// --- gemm.cu: matrix products through cuBLAS / cuBLASLt -----------------------------------------
// Row-major C = alpha op(A) op(B) + beta C as useg_gemm_f32 (kernels/gemm.h):
// op(A) M x K, op(B) K x N, lda/ldb/ldc row strides in elements. A, B and C
// share dtype dt; f32 accumulation always (TF32 inputs for f32 when the
// context allows it, useg_cuda_options.allow_tf32).
useg_status useg_gemm_cuda(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M, int64_t N,
                           int64_t K, float alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                           float beta, void *C, int64_t ldc);
// `batch` products; matrix i starts at A + i stride_a (elements; 0 broadcasts), likewise B and C.
useg_status useg_gemm_batched_cuda(useg_ctx *ctx, useg_dtype dt, bool trans_a, bool trans_b, int64_t M,
                                   int64_t N, int64_t K, float alpha, const void *A, int64_t lda, int64_t stride_a,
                                   const void *B, int64_t ldb, int64_t stride_b, float beta, void *C, int64_t ldc,
                                   int64_t stride_c, int64_t batch);
// nn.Linear: y (rows, out) = x (rows, in) w^T (out, in) + bias (out, or NULL),
// in one cuBLASLt call with the bias fused in the epilogue (plain cuBLAS and
// a bias kernel when cuBLASLt offers no algorithm for the shape).
useg_status useg_linear_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w,
                             const void *bias, int64_t rows, int64_t in, int64_t out);

// --- conv.cu: im2col and the patch-embedding convolution -------------------------------------------
// x (B, C, H, W) -> col (B, C KH KW, OH OW), Caffe's layout; zero padding.
// OH = (H + 2 pad_h - KH) / stride_h + 1, likewise OW.
useg_status useg_im2col_cuda(useg_ctx *ctx, useg_dtype dt, void *col, const void *x, int64_t B, int64_t C,
                             int64_t H, int64_t W, int KH, int KW, int stride_h, int stride_w, int pad_h,
                             int pad_w);
// The adjoint: dx (B, C, H, W) written from dcol; each input pixel sums the
// columns that read it (no atomics).
useg_status useg_col2im_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, const void *dcol, int64_t B, int64_t C,
                             int64_t H, int64_t W, int KH, int KW, int stride_h, int stride_w, int pad_h,
                             int pad_w);
// useg_conv2d's contract (ops.h): x (B, C, H, W), w (O, C, KH, KW), bias (O)
// or NULL -> y (B, O, OH, OW), by im2col + batched GEMM (+ a bias kernel).
useg_status useg_conv2d_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *y, const void *x, const void *w,
                                     const void *bias, int64_t B, int64_t C, int64_t H, int64_t W, int64_t O,
                                     int KH, int KW, int stride_h, int stride_w, int pad_h, int pad_w);
// dx, dw, dbias (each may be NULL), written. dw sums the batch with GEMMs in
// batch order (beta = 1), dbias with the deterministic reduction.
useg_status useg_conv2d_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dx, void *dw, void *dbias,
                                      const void *dy, const void *x, const void *w, int64_t B, int64_t C, int64_t H,
                                      int64_t W, int64_t O, int KH, int KW, int stride_h, int stride_w, int pad_h,
                                      int pad_w);

// --- attention.cu: fused flash attention, head dims 32 and 64 -----------------------------------
// q (B, H, Nq, D), k, v (B, H, Nk, D), o (B, H, Nq, D) contiguous, dt f32,
// f16 or bf16; lse (B, H, Nq) f32, the row log-sum-exp of the scaled scores,
// saved for the backward. o = softmax(q k^T scale) v with an online softmax
// over key tiles held in shared memory; the Nq x Nk scores are never stored.
// D must be 32 or 64 (USEG_ERR_UNSUPPORTED otherwise), Nk >= 1.
useg_status useg_attention_forward_cuda(useg_ctx *ctx, useg_dtype dt, void *o, float *lse, const void *q,
                                        const void *k, const void *v, int64_t B, int64_t H, int64_t Nq, int64_t Nk,
                                        int64_t D, float scale);
// dq, dk, dv written from do_ and the forward's o and lse, FlashAttention-2
// style (scores recomputed per tile): one kernel owns key tiles and
// accumulates dk, dv in registers, another owns query tiles for dq, so no
// float atomics are needed.
useg_status useg_attention_backward_cuda(useg_ctx *ctx, useg_dtype dt, void *dq, void *dk, void *dv,
                                         const void *do_, const void *q, const void *k, const void *v,
                                         const void *o, const float *lse, int64_t B, int64_t H, int64_t Nq,
                                         int64_t Nk, int64_t D, float scale);

#ifdef __cplusplus
}
#endif
