// The CUDA kernels' index math, checked exhaustively on the host (no GPU
// needed, so this runs everywhere the CUDA backend builds):
//  - interpolation: for every input index, the output range the gathering
//    backward visits holds every output whose taps land on it, and each
//    output's tap weights sum to 1;
//  - strided3_init: merged axes address exactly the elements the unmerged
//    shape and strides do (broadcast, transposed, sliced operands);
//  - the warp reductions' combining rules (combine.cuh), replayed lane by
//    lane with the butterfly: first maximum with NaN and ties, and the online
//    softmax's (max, sum) with -inf and NaN entries.
#include <stdio.h>
#include <string.h>

#include "combine.cuh"
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

enum { LANES = 32 };

// What max_rows_kernel computes for one row: lanes scan strided subsets, then
// a butterfly of beats().
static void warp_argmax(const float *x, int64_t size, float *best, int64_t *index) {
    float bv[LANES];
    int64_t bi[LANES];
    for (int l = 0; l < LANES; l++) {
        bv[l] = -INFINITY, bi[l] = INT64_MAX;
        for (int64_t k = l; k < size; k += LANES)
            if (beats(x[k], k, bv[l], bi[l])) bv[l] = x[k], bi[l] = k;
    }
    for (int o = LANES / 2; o > 0; o /= 2) {
        float nv[LANES];
        int64_t ni[LANES];
        for (int l = 0; l < LANES; l++) {
            nv[l] = bv[l], ni[l] = bi[l];
            if (beats(bv[l ^ o], bi[l ^ o], nv[l], ni[l])) nv[l] = bv[l ^ o], ni[l] = bi[l ^ o];
        }
        memcpy(bv, nv, sizeof bv), memcpy(bi, ni, sizeof bi);
    }
    *best = bv[0], *index = bi[0];
    for (int l = 1; l < LANES; l++)
        if (!(bi[l] == bi[0] && (bv[l] == bv[0] || (isnan(bv[l]) && isnan(bv[0]))))) *index = -2; // lanes disagree
}

// What softmax_warp_kernel computes for one row before writing: (m, s).
static online_sum warp_softmax_sum(const float *x, int64_t size) {
    online_sum r[LANES];
    for (int l = 0; l < LANES; l++) {
        r[l] = {-INFINITY, 0.0f};
        for (int64_t k = l; k < size; k += LANES) r[l] = online_add(r[l], x[k]);
    }
    for (int o = LANES / 2; o > 0; o /= 2) {
        online_sum n[LANES];
        for (int l = 0; l < LANES; l++) n[l] = online_merge(r[l], r[l ^ o]);
        memcpy(r, n, sizeof r);
    }
    return r[0];
}

static void test_combining(void) {
    useg_rng rng;
    useg_rng_seed(&rng, 11, 0);
    static float x[300];
    int bad_max = 0, bad_softmax = 0;
    for (int c = 0; c < 3000; c++) {
        int64_t size = 1 + useg_rng_below(&rng, 300);
        int kind = c % 5; // 0 random, 1 ties, 2 with NaN, 3 with -inf, 4 all -inf
        for (int64_t k = 0; k < size; k++) {
            x[k] = kind == 1 ? (float)useg_rng_below(&rng, 4) : 20 * useg_rng_uniform(&rng) - 10;
            if (kind == 2 && useg_rng_below(&rng, 50) == 0) x[k] = NAN;
            if ((kind == 3 && useg_rng_below(&rng, 3) == 0) || kind == 4) x[k] = -INFINITY;
        }
        // Sequential references.
        int64_t want_i = 0;
        float want = x[0];
        for (int64_t k = 1; k < size; k++)
            if (!isnan(want) && (x[k] > want || isnan(x[k]))) want = x[k], want_i = k;
        float got;
        int64_t got_i;
        warp_argmax(x, size, &got, &got_i);
        bad_max += got_i != want_i;
        double m = -INFINITY, sum = 0;
        bool has_nan = false;
        for (int64_t k = 0; k < size; k++) has_nan |= isnan(x[k]), m = fmax(m, x[k]);
        for (int64_t k = 0; k < size; k++) sum += x[k] == -INFINITY ? 0 : exp(x[k] - m);
        online_sum r = warp_softmax_sum(x, size);
        bool ok;
        if (has_nan) ok = isnan(r.s);
        else if (m == -INFINITY) ok = r.m == -INFINITY && r.s == 0; // all -inf: the kernel then writes NaN, as PyTorch
        else ok = r.m == (float)m && fabs(r.s - sum) <= 1e-5 * sum;
        bad_softmax += !ok;
    }
    CHECK(bad_max == 0, "warp argmax: %d of 3000 rows differ from the sequential first maximum", bad_max);
    CHECK(bad_softmax == 0, "warp online softmax: %d of 3000 rows differ from the two-pass (max, sum)", bad_softmax);
}

int main(void) {
    test_interp_ranges();
    test_strided3();
    test_combining();
    return check_report("cuda_host");
}
