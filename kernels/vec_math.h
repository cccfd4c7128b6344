// Vectorisable f32 math for the CPU kernels' elementwise loops.
//
// libm's expf and erf are calls the compiler cannot vectorise; these are
// branch-free inline functions it can, inside loops marked `omp simd` and
// compiled in one clone per x86 vector width (VECTOR_CLONES). Used by the
// attention softmax (kernels/attention_cpu.c) and GELU (core/ops_elementwise.c).
#pragma once

#include <stdint.h>
#include <string.h>

// One clone per x86 vector width, chosen by CPU features when the program
// loads: AVX-512 (which implies FMA), AVX2 with FMA (the x86-64-v3 level,
// dispatched by its feature bits, not by CPU model), and the SSE2 baseline.
// fp-contract=fast lets GCC fuse a * b + c into FMAs inside the clones that
// have them (under -std=c11 it does not by default, and an explicit fmaf
// would be a libm call in the baseline clone): the polynomials here are
// chains of multiply-adds, and fusing them made the f32 GELU 1.9x faster
// (0.60 against 1.13 ns per element in the AVX-512 clone, L2-resident).
// A clone must be a leaf called from inside an OpenMP region, not contain
// one: GCC outlines the region's body before it clones, so the body would
// keep the baseline ISA.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_CLONES \
    __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default"), optimize("fp-contract=fast")))
#else
#define VECTOR_CLONES
#endif

// exp(x) for x <= 0: x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite),
// Cephes' degree-6 polynomial for exp(r), and 2^n built in the exponent bits;
// within 1 ulp of exp on [-87, 0]. Inputs below -87, -inf included, are
// raised to -87 (exp(-87) ~ 1.6e-38, nothing next to the 1-sized sums and
// differences its callers form); NaN stays NaN. The clamp works on the bits:
// the pattern of a negative float grows with its magnitude, and NaNs lie
// above -inf's. A float compare there would keep GCC from vectorising the
// loops (it may trap, under the default -ftrapping-math) on every ISA but
// AVX-512.
static inline float useg_exp_f32(float x) {
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    const uint32_t below = 0u - (uint32_t)(xb - 0xC2AE0001u <= 0xFF800000u - 0xC2AE0001u); // -87 > x >= -inf
    xb = (xb & ~below) | (0xC2AE0000u & below);                                                // -87.0f
    memcpy(&x, &xb, sizeof x);
    // Adding 1.5 * 2^23 rounds x log2(e) to the integer n held in t's low mantissa bits.
    float t = x * 1.44269504088896341f + 12582912.0f, n = t - 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &t, sizeof bits);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t e = (bits - 0x4B400000u + 127u) << 23; // 2^n
    float s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

// |x| and the sign bit of x, on the bits (no compare, see useg_exp_f32).
static inline float useg_abs_f32(float x, uint32_t *sign) {
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    *sign = b & 0x80000000u;
    b &= 0x7FFFFFFFu;
    memcpy(&x, &b, sizeof x);
    return x;
}

// The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, the factor of the
// exact GELU x Phi(x). erfc(z) for z = |x| / sqrt 2 >= 0 is Numerical
// Recipes' erfcc, t exp(-z^2 + P(t)) with t = 1 / (1 + z / 2) and a
// degree-9 Chebyshev fit P, relative error below 1.2e-7 for every z >= 0;
// then Phi = 1 - erfc / 2 for x >= 0 and erfc / 2 below, so the left tail
// keeps its relative precision instead of cancelling 1 + erf. Measured
// against erfc in double (tests/kernels/test_vec_math.c): GELU within
// 1.2e-6 of |GELU| on [-3, 3], and within 5e-7 (1 + x^2 / 4) on [-12, 12],
// where f32 rounding of z^2 sets the error of the far left tail (GELU(-12)
// ~ 1e-32); PyTorch's f32 GELU, 1 + erf in f32, returns 0 below x ~ -5.5.
static inline float useg_normal_cdf_f32(float x) {
    uint32_t sign;
    const float z = useg_abs_f32(x, &sign) * 0.70710678118654752f, t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float half_erfc = 0.5f * t * useg_exp_f32(p - z * z), upper = 1.0f - half_erfc;
    // sign ? half_erfc : upper, on the bits: GCC leaves a float select as a
    // branch, which only the AVX-512 clone (with its masks) vectorises.
    uint32_t lo, hi;
    memcpy(&lo, &half_erfc, sizeof lo);
    memcpy(&hi, &upper, sizeof hi);
    const uint32_t negative = 0u - (sign >> 31), r = (lo & negative) | (hi & ~negative);
    float cdf;
    memcpy(&cdf, &r, sizeof cdf);
    return cdf;
}
