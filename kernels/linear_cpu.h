// f32 linear layer on AVX-512 CPUs: Y = X W^T + bias with W in nn.Linear's
// (out, in) layout, read in place: no packed copy of the weights, neither
// per call nor cached (see linear_cpu.c for why and for the measurements).
//
// Where the CPU lacks AVX-512 F/DQ/VL, or USEG_NO_AVX512 is set, the
// caller takes the general GEMM (kernels/gemm.h) instead.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Whether useg_linear_f32_cpu may run here: decided once per process.
bool useg_linear_f32_cpu_available(void);

// The most rows (tokens) for which callers should prefer the kernel to
// OpenBLAS. OpenBLAS's repacking of W costs it ~1 / M of the product, while
// the kernel rereads W once per block of a few hundred tokens: measured, the
// kernel wins at 197 tokens (ViT-S/16 at 224) by 4-20% and loses by 3-15%
// at 785 (ViT-S/8 at 224) and 3601 (ViT-B/8 at 480) where K = 384 or 768.
#define USEG_LINEAR_CPU_MAX_ROWS 512

// Bytes of workspace useg_linear_f32_cpu needs for M rows of K inputs under
// the current OpenMP thread count (omp_get_max_threads(), or 1 when called
// inside a parallel region).
size_t useg_linear_f32_cpu_workspace_size(int64_t M, int64_t K);

// Y = X W^T + bias: X (M, K) with row stride ldx, W (N, K) with row stride
// ldw, bias (N) or NULL, Y (M, N) with row stride ldy, written (not
// accumulated into). `workspace`: the bytes asked above, 64-byte aligned.
// Only when useg_linear_f32_cpu_available(). Threads: OpenMP's, over
// blocks of N, when called outside a parallel region and the product is
// large enough; the order of each output's sum is fixed by M and K (see
// linear_cpu.c), so Y does not depend on the thread count. Cannot fail.
void useg_linear_f32_cpu(int64_t M, int64_t N, int64_t K,
                         const float *X, int64_t ldx,    // (M, K)
                         const float *W, int64_t ldw,    // (N, K)
                         const float *bias,              // (N) or NULL
                         float *Y, int64_t ldy,          // (M, N)
                         void *workspace);
