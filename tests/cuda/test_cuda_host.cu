// The CUDA kernels' index math, checked exhaustively on the host (no GPU
// needed, so this runs everywhere the CUDA backend builds):
//  - interpolation: for every input index, the output range the gathering
//    backward visits holds every output whose taps land on it, and each
//    output's tap weights sum to 1;
//  - strided3_init: merged axes address exactly the elements the unmerged
//    shape and strides do (broadcast, transposed, sliced operands).
#include <stdio.h>

#include "cuda_common.cuh"
#include "interp_taps.cuh"
extern "C" {
#include "../check.h"
#include "rng.h"
}

static void check_interp_axis(int64_t in, int64_t out, bool cubic) {
    float scale = (float)in / (float)out;
    int missed = 0, bad_sum = 0;
    for (int64_t i = 0; i < in; i++) {
        int64_t lo, hi;
        output_range(i, in, out, scale, cubic, &lo, &hi);
        for (int64_t o = 0; o < out; o++) {
            float w;
            if (weight_at(taps_of(o, scale, cubic), i, in, &w) && (o < lo || o > hi)) missed++;
        }
    }
    for (int64_t o = 0; o < out; o++) {
        axis_taps t = taps_of(o, scale, cubic);
        float sum = 0;
        for (int k = 0; k < t.n; k++) sum += t.w[k];
        bad_sum += fabsf(sum - 1.0f) > 1e-5f;
    }
    CHECK(missed == 0 && bad_sum == 0, "%s %lld -> %lld: %d outputs outside the backward's range, %d weight sums != 1",
          cubic ? "bicubic" : "bilinear", (long long)in, (long long)out, missed, bad_sum);
}

static void test_interp_ranges(void) {
    const int64_t extra[] = {97, 224, 480, 901, 960};
    for (int cubic = 0; cubic < 2; cubic++) {
        for (int64_t in = 1; in <= 40; in++)
            for (int64_t out = 1; out <= 40; out++) check_interp_axis(in, out, cubic);
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++) {
                check_interp_axis(extra[a], extra[b], cubic);
                check_interp_axis(extra[a], a + b + 1, cubic);
                check_interp_axis(a + b + 1, extra[b], cubic);
            }
    }
}

static void test_strided3(void) {
    useg_rng rng;
    useg_rng_seed(&rng, 7, 0);
    int bad_cases = 0;
    for (int c = 0; c < 2000; c++) {
        int ndim = 1 + (int)useg_rng_below(&rng, USEG_MAX_DIMS);
        int64_t shape[USEG_MAX_DIMS], st[3][USEG_MAX_DIMS];
        for (int d = 0; d < ndim; d++) shape[d] = 1 + useg_rng_below(&rng, 4);
        for (int k = 0; k < 3; k++) {
            // contiguous, then maybe: a broadcast axis, a swap of two axes, a stride doubled (a slice)
            int64_t s = 1;
            for (int d = ndim - 1; d >= 0; d--) st[k][d] = s, s *= shape[d];
            int kind = (int)useg_rng_below(&rng, 4), a = (int)useg_rng_below(&rng, ndim), b = (int)useg_rng_below(&rng, ndim);
            if (kind == 1) st[k][a] = 0;
            if (kind == 2) {
                int64_t t = st[k][a];
                st[k][a] = st[k][b], st[k][b] = t;
            }
            if (kind == 3) st[k][a] *= 2;
        }
        const int64_t *strides[3] = {st[0], st[1], st[2]};
        strided3 merged, plain;
        strided3_init(&merged, ndim, shape, 3, strides);
        plain.ndim = ndim;
        for (int d = 0; d < ndim; d++) {
            plain.shape[d] = shape[d];
            for (int k = 0; k < 3; k++) plain.strides[k][d] = st[k][d];
        }
        int64_t n = 1;
        for (int d = 0; d < ndim; d++) n *= shape[d];
        bool ok = true;
        for (int64_t i = 0; i < n && ok; i++) {
            int64_t a[3], b[3];
            strided_offsets<3>(merged, i, a);
            strided_offsets<3>(plain, i, b);
            ok = a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
        }
        if (strided3_contiguous(&merged, 3))
            for (int k = 0; k < 3; k++) ok = ok && merged.ndim == 1 && (merged.strides[k][0] == 1 || n == 1);
        bad_cases += !ok;
    }
    CHECK(bad_cases == 0, "strided3_init: %d of 2000 random operand sets address other elements", bad_cases);
}

int main(void) {
    test_interp_ranges();
    test_strided3();
    return check_report("cuda_host");
}
