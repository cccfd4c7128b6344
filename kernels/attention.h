// Fused scaled-dot-product attention kernels: out = softmax(q k^T * scale) v.
//
// Shapes: q (B, H, Nq, D), k and v (B, H, Nk, D), out (B, H, Nq, D), and the
// per-row log-sum-exp lse (B, H, Nq) = log sum_j exp(q_i . k_j * scale) that
// the forward saves for the backward. All tensors are of one float dtype
// (f32 or f64 on the CPU) and contiguous, except the forward's q, k and v:
// they need only contiguous rows (useg_attention_rows_readable), so a ViT's
// q, k and v can be read in place as views of its (B, N, 3, H, D) qkv. The Nq x Nk score matrix is never
// stored whole: the kernels walk tiles of queries x tiles of keys with an
// online softmax (forward) or recompute the probabilities of one tile from
// lse (backward). The forward's workspace is a few tiles per thread; the
// backward's adds a row vector and transposed copies of q and dout.
//
// Each device has its own twin with this signature (`_cpu` here, `_cuda` in
// the CUDA backend). The workspace is queried first and passed in by the
// caller (from ctx->scratch): the kernels allocate nothing. Results do not
// depend on the thread count.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "context.h"

// Whether x (B, H, N, D) has contiguous rows: unit stride along D and a
// stride of at least D along N (strides over B and H are free, 0 included).
bool useg_attention_rows_readable(const useg_tensor *x);

// Bytes of workspace useg_attention_forward_cpu needs for this q and k.
size_t useg_attention_forward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k);

// out = softmax(q k^T * scale) v, and lse (may be NULL when no backward
// follows). `workspace` holds the bytes asked above, 64-byte aligned. Fails
// only when the BLAS library cannot be loaded (USEG_ERR_UNSUPPORTED).
useg_status useg_attention_forward_cpu(useg_ctx *ctx,
                                       const useg_tensor *q, // (B, H, Nq, D)
                                       const useg_tensor *k, // (B, H, Nk, D)
                                       const useg_tensor *v, // (B, H, Nk, D)
                                       double scale,
                                       useg_tensor *out,     // (B, H, Nq, D), written
                                       useg_tensor *lse,     // (B, H, Nq), written; or NULL
                                       void *workspace);

// Bytes of workspace useg_attention_backward_cpu needs for this q and k.
size_t useg_attention_backward_cpu_workspace_size(const useg_tensor *q, const useg_tensor *k);

// Gradients of sum(out * dout) (flash-attention-2 backward): dq, dk and dv
// are overwritten (not accumulated into). out and lse are what the forward
// returned for the same q, k, v and scale. Same workspace and failure rules
// as the forward.
useg_status useg_attention_backward_cpu(useg_ctx *ctx,
                                        const useg_tensor *q,    // (B, H, Nq, D)
                                        const useg_tensor *k,    // (B, H, Nk, D)
                                        const useg_tensor *v,    // (B, H, Nk, D)
                                        const useg_tensor *out,  // (B, H, Nq, D)
                                        const useg_tensor *lse,  // (B, H, Nq)
                                        const useg_tensor *dout, // (B, H, Nq, D)
                                        double scale,
                                        useg_tensor *dq,         // (B, H, Nq, D), written
                                        useg_tensor *dk,         // (B, H, Nk, D), written
                                        useg_tensor *dv,         // (B, H, Nk, D), written
                                        void *workspace);
