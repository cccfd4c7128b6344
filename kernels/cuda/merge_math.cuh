// Arithmetic and index math of the CUDA merge (merge.cu), host and device,
// so tests/cuda/test_cuda_host.cu can replay it against the CPU's formulas
// without a GPU.
#pragma once

#include <stdint.h>

extern "C" {
#include "merge_key.h"
}

// Rounded add and multiply: never contracted into a fused multiply-add, on
// the device whatever -fmad says (the CPU build, C11 without -ffp-contract,
// rounds each operation too).
__host__ __device__ __forceinline__ double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ __forceinline__ double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}

// merge.c's dot products (DOT_BODY) keep eight partial sums: lane l adds
// a[k] b[k] for k = l, l + 8, ... below C - C % 8 in increasing k, lane 0
// then adds the tail, and the lanes combine as
// ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). dot_lane is lane
// `lane`'s partial sum, one thread per lane; the combination is a butterfly
// over xor 1, 2, 4 within the eight threads (dot_combine on the device),
// which computes that very tree on every lane (addition commutes exactly).
// get_a(k) and get_b(k) return the k-th elements as doubles (as_double,
// scaled).
enum { DOT_LANES = 8 };

// Element k of p as a double.
template <typename T> struct as_double {
    const T *p;
    __host__ __device__ __forceinline__ double operator()(int64_t k) const { return (double)p[k]; }
};
// Element k of p times s, rounded (merge.c's mean m = sum * (1 / count)).
struct scaled {
    const double *p;
    double s;
    __host__ __device__ __forceinline__ double operator()(int64_t k) const { return mul_rn(p[k], s); }
};

template <typename A, typename B>
__host__ __device__ __forceinline__ double dot_lane(A get_a, B get_b, int64_t C, int lane) {
    const int64_t main = C - C % DOT_LANES;
    double s = 0;
    for (int64_t k = lane; k < main; k += DOT_LANES) s = add_rn(s, mul_rn(get_a(k), get_b(k)));
    if (lane == 0)
        for (int64_t k = main; k < C; k++) s = add_rn(s, mul_rn(get_a(k), get_b(k)));
    return s;
}

// Grid edge j of an (h, w) grid joins patches *p < *q: the h (w - 1)
// horizontal edges first (row-major, *q = *p + 1), then the (h - 1) w
// vertical ones (*q = *p + w).
__host__ __device__ __forceinline__ int64_t grid_edge_count(int64_t h, int64_t w) { return h * (w - 1) + (h - 1) * w; }
__host__ __device__ __forceinline__ void grid_edge(int64_t j, int64_t h, int64_t w, int64_t *p, int64_t *q) {
    const int64_t horizontal = h * (w - 1);
    if (j < horizontal) {
        *p = j / (w - 1) * w + j % (w - 1);
        *q = *p + 1;
    } else {
        *p = j - horizontal;
        *q = *p + w;
    }
}

// The best of a and b under the merge order (merge_key.h).
__host__ __device__ __forceinline__ useg_merge_key key_max(useg_merge_key a, useg_merge_key b) {
    return useg_merge_key_before(b, a) ? b : a;
}
