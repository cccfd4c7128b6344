// The combining rules of the warp reductions in reduce.cu (first maximum)
// and softmax.cu (online softmax), on host and device so that a host test
// (tests/cuda/test_cuda_host.cu) can replay the lanes' strided scans and the
// butterfly against sequential references without a GPU.
#pragma once

#include <math.h>
#include <stdint.h>

#ifndef USEG_HD
#define USEG_HD __host__ __device__ __forceinline__
#endif

// Whether (v, i) beats the current best (bv, bi): NaN first (the earliest
// NaN), then the larger value, then the smaller index. A total order, so any
// combining tree returns the sequential "first maximum, NaN wins".
USEG_HD bool beats(float v, int64_t i, float bv, int64_t bi) {
    bool vn = isnan(v), bn = isnan(bv);
    if (bn) return vn && i < bi;
    if (vn) return true;
    return v > bv || (v == bv && i < bi);
}

// Running (max m, sum s of exp(x - m)); the empty sum is {-inf, 0}.
struct online_sum {
    float m, s;
};

USEG_HD online_sum online_add(online_sum a, float x) {
    if (x == -INFINITY) return a; // exp(-inf) adds nothing (and -inf - -inf would be NaN)
    if (x > a.m) return {x, a.s * expf(a.m - x) + 1.0f};
    return {a.m, a.s + expf(x - a.m)}; // a NaN x makes the sum NaN, as it should
}

// A side whose max is still -inf holds s = 0, or NaN once it saw a NaN; s * 0
// keeps that NaN (exp(-inf - m) would be 0 and drop it).
USEG_HD online_sum online_merge(online_sum a, online_sum b) {
    float m = fmaxf(a.m, b.m);
    if (m == -INFINITY) return {m, a.s + b.s};
    float sa = a.m == -INFINITY ? a.s * 0.0f : a.s * expf(a.m - m);
    float sb = b.m == -INFINITY ? b.s * 0.0f : b.s * expf(b.m - m);
    return {m, sa + sb};
}
