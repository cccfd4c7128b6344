// Index math of the normalized-cut kernels (spectral.cu), host and device, so
// tests/cuda/test_cuda_host.cu can check it without a GPU.
#pragma once

#include <stdint.h>

// Flat index in S (n, n) of the lower-triangle entry standing for pair (i, j):
// S[max(i, j), min(i, j)], the entry spectral_cpu.c thresholds for both.
__host__ __device__ __forceinline__ int64_t lower_index(int64_t i, int64_t j, int64_t n) {
    return i >= j ? i * n + j : j * n + i;
}

// The column whose link bit lane `lane` (0..31) tests in word k of a row of
// A, in the half `half` (0: bits 0..31, 1: bits 32..63) of the word: the
// warp-per-row product covers bit b of word k, column 64 k + b, exactly once.
__host__ __device__ __forceinline__ int64_t adj_column(int64_t k, int lane, int half) {
    return 64 * k + lane + 32 * half;
}

// Whether candidate (v, i) beats the current (best, at) in a first-largest
// search: a larger value, or an equal one at a smaller index.
__host__ __device__ __forceinline__ bool argmax_prefers(double v, int64_t i, double best, int64_t at) {
    return v > best || (v == best && i < at);
}
