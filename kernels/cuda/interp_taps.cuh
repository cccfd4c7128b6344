// The index math of interp.cu, on host and device so that a host test
// (tests/cuda/test_cuda_host.cu) can check it exhaustively without a GPU:
// how an axis is resampled, the taps an output pixel reads along it, the
// weight one input index gets from them, and the range of outputs whose taps
// can reach an input index (what the gathering backward visits).
//
// The taps are ops_interp.c's (axis_taps_init), so the GPU matches the CPU
// op: the scale in f32 (in / out, or 1 / scale_factor when the caller gave
// one), the source coordinate s = scale (o + 0.5) - 0.5 in double, the
// fraction and the weights in f32; bilinear clamps s at 0 and is the
// identity along an axis whose size does not change, even with a scale
// factor (PyTorch's shortcut: one tap here; the CPU's second, zero-weight
// tap on the same input differs only for an inf input, which it turns into
// NaN); bicubic is Keys' cubic with A = -0.75, taps clamped to the border.
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

enum axis_kind { AXIS_LINEAR, AXIS_CUBIC, AXIS_IDENTITY };

// How one axis of `in` samples becomes `out`.
struct axis_map {
    float scale;
    axis_kind kind;
};

// scale_factor > 0 is the caller's factor along the axis, 0 "from the sizes".
USEG_HD axis_map axis_map_of(bool cubic, int64_t in, int64_t out, double scale_factor) {
    if (!cubic && in == out) return {1.0f, AXIS_IDENTITY};
    float scale = scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
    return {scale, cubic ? AXIS_CUBIC : AXIS_LINEAR};
}

// The taps of output index o along one axis: input indices
// clamp(first + k, 0, in - 1) with weights w[k], k < n.
struct axis_taps {
    int64_t first;
    float w[4];
    int n;
};

USEG_HD axis_taps taps_of(int64_t o, axis_map m) {
    axis_taps t = {o, {1.0f, 0.0f, 0.0f, 0.0f}, 1};
    if (m.kind == AXIS_IDENTITY) return t;
    double s = (double)m.scale * ((double)o + 0.5) - 0.5;
    if (m.kind == AXIS_LINEAR) {
        if (s < 0) s = 0;
        int64_t f = (int64_t)s; // s >= 0, so this is the floor
        float lambda = (float)(s - (double)f);
        t.first = f;
        t.w[0] = 1.0f - lambda;
        t.w[1] = lambda;
        t.n = 2;
    } else {
        double f = floor(s);
        float x1 = (float)(s - f), x2 = 1.0f - x1;
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

// Outputs [*lo, *hi] whose taps can land on input index i: only i itself for
// the identity; else those whose floor source f lies in [i - 1, i]
// (bilinear) or [i - 2, i + 1] (bicubic), open at a border where clamping
// gathers every tap beyond it: bicubic's first and last index, and
// bilinear's 0 and 1, which every output with a source below 0 (clamped to 0,
// f = 0) reads (index 1 with weight 0, but it is a tap).
USEG_HD void output_range(int64_t i, int64_t in, int64_t out, axis_map m, int64_t *lo, int64_t *hi) {
    if (m.kind == AXIS_IDENTITY) {
        *lo = *hi = i;
        return;
    }
    bool cubic = m.kind == AXIS_CUBIC;
    double s = m.scale;
    bool open_lo = cubic ? i == 0 : i <= 1, open_hi = cubic && i == in - 1;
    double f_lo = cubic ? (double)i - 2 : (double)i - 1, f_hi = cubic ? (double)i + 1 : (double)i;
    // f(o) >= f_lo needs (o + 0.5) s - 0.5 >= f_lo; f(o) <= f_hi needs (o + 0.5) s - 0.5 < f_hi + 1.
    int64_t l = (int64_t)floor((f_lo + 0.5) / s - 0.5) - RANGE_MARGIN;
    int64_t h = (int64_t)ceil((f_hi + 1.5) / s - 0.5) + RANGE_MARGIN;
    *lo = open_lo || l < 0 ? 0 : l;
    *hi = open_hi || h > out - 1 ? out - 1 : h;
}
