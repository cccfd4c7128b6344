// The index math of interp.cu, on host and device so that a host test
// (tests/cuda/test_cuda_host.cu) can check it exhaustively without a GPU:
// the taps an output pixel reads along one axis (PyTorch's source-index
// formula, align_corners=False), the weight one input index gets from them,
// and the range of outputs whose taps can reach an input index (what the
// gathering backward visits).
#pragma once

#include <math.h>
#include <stdint.h>

#ifndef USEG_HD
#define USEG_HD __host__ __device__ __forceinline__
#endif

constexpr float CUBIC_A = -0.75f;
constexpr int RANGE_MARGIN = 2; // outputs added on each side of the estimated range

USEG_HD float cubic_convolution1(float x) { return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1; }
USEG_HD float cubic_convolution2(float x) { return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A; }

// The taps of output index o along one axis: input indices
// clamp(first + k, 0, in - 1) with weights w[k], k < n.
struct axis_taps {
    int64_t first;
    float w[4];
    int n;
};

USEG_HD axis_taps taps_of(int64_t o, float scale, bool cubic) {
    axis_taps t;
    if (!cubic) {
        float src = fmaxf(scale * ((float)o + 0.5f) - 0.5f, 0.0f);
        int64_t f = (int64_t)src; // src >= 0, so this is the floor
        float lambda = src - (float)f;
        t.first = f;
        t.w[0] = 1.0f - lambda;
        t.w[1] = lambda;
        t.w[2] = t.w[3] = 0.0f;
        t.n = 2;
    } else {
        float src = scale * ((float)o + 0.5f) - 0.5f;
        float f = floorf(src);
        float x1 = src - f, x2 = 1.0f - x1;
        t.first = (int64_t)f - 1;
        t.w[0] = cubic_convolution2(x1 + 1.0f);
        t.w[1] = cubic_convolution1(x1);
        t.w[2] = cubic_convolution1(x2);
        t.w[3] = cubic_convolution2(x2 + 1.0f);
        t.n = 4;
    }
    return t;
}

USEG_HD int64_t clamp_index(int64_t i, int64_t n) { return i < 0 ? 0 : i >= n ? n - 1 : i; }

// Total weight input index i gets from output taps t; false when no tap lands on i.
USEG_HD bool weight_at(const axis_taps &t, int64_t i, int64_t in, float *w) {
    bool hit = false;
    float sum = 0.0f;
    for (int k = 0; k < t.n; k++)
        if (clamp_index(t.first + k, in) == i) sum += t.w[k], hit = true;
    *w = sum;
    return hit;
}

// Outputs [*lo, *hi] whose taps can land on input index i: those whose floor
// source f lies in [i - 1, i] (bilinear) or [i - 2, i + 1] (bicubic), open
// at a border where clamping gathers every tap beyond it: bicubic's first and
// last index, and bilinear's 0 and 1, which every output with a source below
// 0 (clamped to 0, f = 0) reads (index 1 with weight 0, but it is a tap).
USEG_HD void output_range(int64_t i, int64_t in, int64_t out, float scale, bool cubic, int64_t *lo, int64_t *hi) {
    double s = scale;
    bool open_lo = cubic ? i == 0 : i <= 1, open_hi = cubic && i == in - 1;
    double f_lo = cubic ? (double)i - 2 : (double)i - 1, f_hi = cubic ? (double)i + 1 : (double)i;
    // f(o) >= f_lo needs (o + 0.5) s - 0.5 >= f_lo; f(o) <= f_hi needs (o + 0.5) s - 0.5 < f_hi + 1.
    int64_t l = (int64_t)floor((f_lo + 0.5) / s - 0.5) - RANGE_MARGIN;
    int64_t h = (int64_t)ceil((f_hi + 1.5) / s - 0.5) + RANGE_MARGIN;
    *lo = open_lo || l < 0 ? 0 : l;
    *hi = open_hi || h > out - 1 ? out - 1 : h;
}
