// The CUDA kernels: C-linkage launchers, one block per kernel file.
//
// Every launcher runs on the context's stream (ctx->cuda->stream, set up by
// useg_cuda_init), checks its launch, and returns a status: USEG_ERR_DEVICE
// for a CUDA error, USEG_ERR_SHAPE for a dtype or size it cannot take. They
// do not synchronise (but useg_find_bad_index_cuda, which reads its answer
// back): results are ready in stream order, and an asynchronous fault
// surfaces at the next checked call. Workspaces come from the device scratch
// arena and are rewound before returning, except where a launcher takes its
// CPU twin's workspace argument. Tensors and pointers are on the device;
// storage dtypes are f32, f16 or bf16, computed in f32. Nothing here uses
// float atomics: every result is the same bit for bit from run to run.
//
// Two kinds of launcher:
//  - tensor-level ones are the entries of the CUDA table (core/device.h):
//    each is the `_cuda` twin of a CPU kernel of core/ops_*.c (or
//    kernels/attention.h), with its arguments, named after it;
//  - raw-pointer ones (GEMM, convolution, the losses' full sum) for the ops
//    whose CPU side lives elsewhere. Each says which CPU reference it must
//    match (PyTorch semantics as in ops.h); the op layer wraps it when the op
//    gains its CUDA route.
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

// --- softmax.cu: softmax and log-softmax along one axis (tensor-level) ------------------------
// y = softmax or log-softmax of x along `axis`; dx from the forward's y and
// its gradient g (softmax dx = y (g - sum(g y)); log-softmax
// dx = g - exp(y) sum(g)). All contiguous, same shape. CPU:
// softmax_forward_cpu / softmax_backward_cpu.
useg_status useg_softmax_forward_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, bool log_out, useg_tensor *y);
useg_status useg_softmax_backward_cuda(useg_ctx *ctx, const useg_tensor *y, const useg_tensor *g, int axis,
                                       bool log_out, useg_tensor *dx);

// --- layernorm.cu: layer norm over the last axis (tensor-level) ----------------------------------
// x, y (R, C); w, b (C) or NULL; stats (R, 2) f32 = (mean, rstd) per row,
// or NULL when no backward follows. y = (x - mean) rstd w + b with the
// biased variance, rstd = 1 / sqrt(var + eps) (PyTorch layer_norm). CPU:
// layer_norm_forward_cpu.
useg_status useg_layer_norm_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                         const useg_tensor *b, double eps, useg_tensor *y, useg_tensor *stats);
// dx (R, C), dw, db (C), each may be NULL, written (not accumulated) from g;
// dw and db summed over rows in a fixed two-pass order. CPU:
// layer_norm_backward_cpu.
useg_status useg_layer_norm_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                          const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx,
                                          useg_tensor *dw, useg_tensor *db);

// --- interp.cu: bilinear / bicubic resampling, align_corners=False (tensor-level) -----------------
// x (src) (B, C, H, W) -> y (dst) (B, C, OH, OW), or with `backward` its
// transpose dy (src) -> dx (dst, written); contiguous. scales[a] > 0 is the
// caller's scale factor along H (a = 0) and W, 0 "from the sizes": PyTorch
// 1.13 F.interpolate(size= or scale_factor=, align_corners=False) with the
// taps of ops_interp.c (interp_taps.cuh). The backward gathers (no atomics):
// its cost per input pixel grows with the upsampling factor squared. CPU:
// interp_cpu.
useg_status useg_interpolate_cuda(useg_ctx *ctx, bool backward, useg_interp_mode mode, const double *scales,
                                  const useg_tensor *src, useg_tensor *dst);

// --- index.cu: index validation, gather and its scatter-add (tensor-level) ---------------------------
// Over i64 `index` (any strides) in row-major order: *first_bad = the
// position of the first entry outside [0, size) that is not *ignore (ignore
// may be NULL), -1 when none, its value in *bad_value, and *counted = the
// entries in range and not ignored. Waits for the GPU (it reads 16 bytes back).
useg_status useg_find_bad_index_cuda(useg_ctx *ctx, const useg_tensor *index, int64_t size, const int64_t *ignore,
                                     int64_t *first_bad, int64_t *bad_value, int64_t *counted);
// out[c] = x[c with c[axis] replaced by index[c]] for every coordinate c of out
// (contiguous, index's shape); x and index any strides, indices valid. Any
// dtype (moves bits). CPU: gather_cpu (torch.gather; index_select passes its
// index expanded).
useg_status useg_gather_cuda(useg_ctx *ctx, const useg_tensor *x, int axis, const useg_tensor *index,
                             useg_tensor *out);
// dx[c with c[axis] replaced by index[c]] += g[c]; dx contiguous and zeroed,
// g contiguous of index's shape. Each dx element adds its contributions in
// ascending order of g's elements (no atomics). CPU: scatter_add_cpu.
useg_status useg_scatter_add_cuda(useg_ctx *ctx, useg_tensor *dx, int axis, const useg_tensor *index,
                                  const useg_tensor *g);

// --- loss.cu: losses, each a mean written to a 0-d `out` of the logits' dtype (tensor-level) --------
// All contiguous; g is the 0-d upstream gradient (on the device); the
// backwards write the gradients asked for (non-NULL). CPU twins in ops_loss.c.
// Cross entropy: x (N, C, ...) logits, target (N, ...) i64 already validated
// (every entry ignore_index or in [0, C)), `count` the non-ignored ones;
// lse (positions) f32, saved for the backward. NaN when count is 0 (PyTorch).
useg_status useg_cross_entropy_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target,
                                            int64_t ignore_index, double count, useg_tensor *lse, useg_tensor *out);
// dx = g / count (softmax - onehot(target)), 0 on ignored positions.
useg_status useg_cross_entropy_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target,
                                             int64_t ignore_index, double count, const useg_tensor *lse,
                                             const useg_tensor *g, useg_tensor *dx);
// torchvision's sigmoid_focal_loss (mean) of x against soft targets t of the
// same shape: bce (1 - p_t)^gamma, times alpha_t when alpha >= 0; BCE with
// logits is alpha < 0, gamma = 0. The backward gives dx and dt.
useg_status useg_focal_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                    double gamma, useg_tensor *out);
useg_status useg_focal_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                     double gamma, const useg_tensor *g, useg_tensor *dx, useg_tensor *dt);
// Dice over rows of x, t (N, ...): mean over rows of 1 - A / B with
// stats (N, 2) f32 = (A, B) = (2 sum(p t) + 1, sum(p) + sum(t) + 1), p = sigmoid(x).
useg_status useg_dice_forward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, useg_tensor *stats,
                                   useg_tensor *out);
useg_status useg_dice_backward_cuda(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t,
                                    const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx, useg_tensor *dt);

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

// --- attention.cu: fused flash attention, head dims 32 and 64 (tensor-level) ---------------------
// kernels/attention.h's contract on the GPU: q (B, H, Nq, D), k, v
// (B, H, Nk, D), out (B, H, Nq, D) contiguous, f32, f16 or bf16 storage with
// f32 math; lse (B, H, Nq) f32 (or NULL when no backward follows), the row
// log-sum-exp of the scaled scores. out = softmax(q k^T scale) v with an
// online softmax over key tiles held in shared memory; the Nq x Nk scores are
// never stored. D must be 32 or 64 (USEG_ERR_UNSUPPORTED otherwise), Nk >= 1.
// The workspace (device memory of the size asked) holds the backward's
// per-row delta; the forward needs none.
size_t useg_attention_forward_cuda_workspace_size(const useg_tensor *q, const useg_tensor *k);
useg_status useg_attention_forward_cuda(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                        const useg_tensor *v, double scale, useg_tensor *out, useg_tensor *lse,
                                        void *workspace);
// dq, dk, dv written from dout and the forward's out and lse,
// FlashAttention-2 style (scores recomputed per tile): one kernel owns key
// tiles and accumulates dk, dv in registers, another owns query tiles for dq,
// so no float atomics are needed.
size_t useg_attention_backward_cuda_workspace_size(const useg_tensor *q, const useg_tensor *k);
useg_status useg_attention_backward_cuda(useg_ctx *ctx, const useg_tensor *q, const useg_tensor *k,
                                         const useg_tensor *v, const useg_tensor *out, const useg_tensor *lse,
                                         const useg_tensor *dout, double scale, useg_tensor *dq, useg_tensor *dk,
                                         useg_tensor *dv, void *workspace);

#ifdef __cplusplus
}
#endif
