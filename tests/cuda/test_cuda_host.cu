// The CUDA kernels' index math, checked exhaustively on the host (no GPU
// needed, so this runs everywhere the CUDA backend builds):
//  - interpolation: each output's taps are the CPU op's (ops_interp.c's
//    formulas, restated here: same indices, same f32 weights), by size and
//    by scale factor; for every input index, the output range the gathering
//    backward visits holds every output whose taps land on it;
//  - gather and scatter-add (index_math.cuh): the merged operands and the
//    columns address exactly the elements plain coordinates do, for
//    transposed, sliced and expanded (index_select) indices;
//  - strided3_init: merged axes address exactly the elements the unmerged
//    shape and strides do (broadcast, transposed, sliced operands);
//  - the warp reductions' combining rules (combine.cuh), replayed lane by
//    lane with the butterfly: first maximum with NaN and ties, and the online
//    softmax's (max, sum) with -inf and NaN entries;
//  - the normalized cut (spectral_math.cuh): the threshold reads one
//    lower-triangle entry per pair, the same for (i, j) and (j, i); the
//    warp-per-row product visits every bit of a row once; the block argmax
//    keeps the first largest |y| under the butterfly and the warp tree;
//  - the conquer merge (merge_math.cuh): the eight-lane dot products with
//    their butterfly give merge.c's DOT_BODY bit for bit (f32 and f64
//    operands, C below, at and off multiples of 8); the grid edges are the
//    4-neighbour pairs, each once; the block maximum of edge keys (butterfly,
//    then a fold over warps) is the first edge merge_key.h's order picks,
//    with tied weights;
//  - the lattice keys (lattice_keys.cuh): sorting entries one word at a time
//    from the last, stably (what the CUB passes do), orders keys as
//    key_compare does with equal keys in entry order, and find_key finds
//    every vertex and no absent key.
#include <stdio.h>
#include <string.h>

#include "combine.cuh"
#include "cuda_common.cuh"
#include "index_math.cuh"
#include "interp_taps.cuh"
#include "lattice_keys.cuh"
#include "merge_math.cuh"
#include "spectral_math.cuh"
extern "C" {
#include "../check.h"
#include "rng.h"
}

// The taps of output o as ops_interp.c's axis_taps_init computes them in f32:
// k indices (clamped) and weights.
static int cpu_taps(int64_t o, int64_t in, int64_t out, double scale_factor, bool cubic, int64_t *ix, float *w) {
    const float A = -0.75f;
    float scale = scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
    double s = (double)scale * ((double)o + 0.5) - 0.5;
    if (!cubic) {
        if (in == out) {
            ix[0] = ix[1] = o, w[0] = 1, w[1] = 0;
            return 2;
        }
        if (s < 0) s = 0;
        int64_t i0 = (int64_t)s < in - 1 ? (int64_t)s : in - 1;
        float t = (float)(s - (double)i0);
        ix[0] = i0, ix[1] = i0 < in - 1 ? i0 + 1 : i0, w[0] = 1 - t, w[1] = t;
        return 2;
    }
    int64_t i0 = (int64_t)floor(s);
    float t = (float)(s - (double)i0), u = 1 - t, x;
    x = t + 1, w[0] = (((A * x) - 5 * A) * x + 8 * A) * x - 4 * A;
    x = t, w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = u, w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
    x = u + 1, w[3] = (((A * x) - 5 * A) * x + 8 * A) * x - 4 * A;
    for (int j = 0; j < 4; j++) ix[j] = i0 - 1 + j < 0 ? 0 : i0 - 1 + j > in - 1 ? in - 1 : i0 - 1 + j;
    return 4;
}

// One axis of `in` samples to `out` (scale_factor 0: by size): the taps are
// the CPU's, and the backward's range covers every output reading an input.
static void check_interp_axis(int64_t in, int64_t out, double scale_factor, bool cubic) {
    axis_map m = axis_map_of(cubic, in, out, scale_factor);
    int missed = 0, not_cpu = 0;
    for (int64_t i = 0; i < in; i++) {
        int64_t lo, hi;
        output_range(i, in, out, m, &lo, &hi);
        for (int64_t o = 0; o < out; o++) {
            float w;
            if (weight_at(taps_of(o, m), i, in, &w) && (o < lo || o > hi)) missed++;
        }
    }
    for (int64_t o = 0; o < out; o++) {
        axis_taps t = taps_of(o, m);
        int64_t ix[4];
        float w[4];
        int k = cpu_taps(o, in, out, scale_factor, cubic, ix, w);
        // The same weight on each input index (the identity's second tap has weight 0).
        for (int j = 0; j < k; j++) {
            float got, want = 0;
            for (int l = 0; l < k; l++)
                if (ix[l] == ix[j]) want += w[l];
            weight_at(t, ix[j], in, &got);
            not_cpu += got != want;
        }
        for (int j = 0; j < t.n; j++) {
            bool known = false;
            for (int l = 0; l < k; l++) known |= ix[l] == clamp_index(t.first + j, in);
            not_cpu += !known;
        }
    }
    CHECK(missed == 0 && not_cpu == 0,
          "%s %lld -> %lld (scale factor %g): %d outputs outside the backward's range, %d taps unlike the CPU's",
          cubic ? "bicubic" : "bilinear", (long long)in, (long long)out, scale_factor, missed, not_cpu);
}

static void test_interp_axes(void) {
    const int64_t extra[] = {97, 224, 480, 901, 960};
    const double factors[] = {0.5, 0.34, 1.05, 2.15, 2.5, 14.0 / 480, 30.1 / 14, 3.0, 1.0 / 3};
    for (int cubic = 0; cubic < 2; cubic++) {
        for (int64_t in = 1; in <= 40; in++) {
            for (int64_t out = 1; out <= 40; out++) check_interp_axis(in, out, 0, cubic);
            for (size_t f = 0; f < sizeof factors / sizeof factors[0]; f++) {
                int64_t out = (int64_t)((double)in * factors[f]); // useg_interpolate_scaled's size
                if (out >= 1) check_interp_axis(in, out, factors[f], cubic);
            }
        }
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 5; b++) {
                check_interp_axis(extra[a], extra[b], 0, cubic);
                check_interp_axis(extra[a], a + b + 1, 0, cubic);
                check_interp_axis(a + b + 1, extra[b], 0, cubic);
            }
        for (size_t f = 0; f < sizeof factors / sizeof factors[0]; f++)
            for (int a = 0; a < 5; a++) {
                int64_t out = (int64_t)((double)extra[a] * factors[f]);
                if (out >= 1) check_interp_axis(extra[a], out, factors[f], cubic);
            }
    }
}

// A tensor struct (no data) of `shape` with `strides`.
static useg_tensor view_of(int ndim, const int64_t *shape, const int64_t *strides) {
    useg_tensor t = {};
    t.dtype = USEG_F32, t.ndim = ndim;
    for (int d = 0; d < ndim; d++) t.shape[d] = shape[d], t.strides[d] = strides[d];
    return t;
}

static void contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) strides[d] = s, s *= shape[d];
}

// Offset of the element at coordinates c.
static int64_t offset_at(const useg_tensor *t, const int64_t *c) {
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) off += c[d] * t->strides[d];
    return off;
}

// Coordinates of flat index i (row-major) over shape.
static void coords_of(int ndim, const int64_t *shape, int64_t i, int64_t *c) {
    for (int d = ndim - 1; d >= 0; d--) c[d] = i % shape[d], i /= shape[d];
}

static void test_index_math(void) {
    useg_rng rng;
    useg_rng_seed(&rng, 5, 0);
    int bad_gather = 0, bad_scatter = 0, bad_select = 0;
    for (int c = 0; c < 2000; c++) {
        int ndim = 1 + (int)useg_rng_below(&rng, 4), axis = (int)useg_rng_below(&rng, ndim);
        int kind = (int)useg_rng_below(&rng, 3); // index: 0 contiguous, 1 transposed storage, 2 index_select's
        int64_t xs[USEG_MAX_DIMS], is[USEG_MAX_DIMS], x_str[USEG_MAX_DIMS], i_str[USEG_MAX_DIMS], o_str[USEG_MAX_DIMS];
        for (int d = 0; d < ndim; d++) {
            xs[d] = 1 + useg_rng_below(&rng, 5);
            is[d] = d == axis ? 1 + useg_rng_below(&rng, 6) : kind == 2 ? xs[d] : 1 + useg_rng_below(&rng, (uint32_t)xs[d]);
        }
        contiguous_strides(ndim, xs, x_str);
        if (useg_rng_below(&rng, 2))
            for (int d = 0; d < ndim; d++) x_str[d] *= 2; // x a slice with step 2
        contiguous_strides(ndim, is, i_str);
        contiguous_strides(ndim, is, o_str);
        if (kind == 1 && ndim >= 2) // a transposed view of storage with the last two axes swapped
            i_str[ndim - 1] = is[ndim - 2], i_str[ndim - 2] = 1;
        if (kind == 2)
            for (int d = 0; d < ndim; d++) i_str[d] = d == axis ? 1 : 0;
        useg_tensor x = view_of(ndim, xs, x_str), index = view_of(ndim, is, i_str), out = view_of(ndim, is, o_str);
        int64_t dx_str[USEG_MAX_DIMS];
        contiguous_strides(ndim, xs, dx_str);
        useg_tensor dx = view_of(ndim, xs, dx_str);
        int64_t n = 1;
        for (int d = 0; d < ndim; d++) n *= is[d];
        // Gather: element i of out reads index at its coordinates and x at them with the axis replaced.
        strided3 s;
        gather_operands(&out, &index, &x, axis, &s);
        for (int64_t i = 0; i < n; i++) {
            int64_t off[3], co[USEG_MAX_DIMS] = {0};
            strided_offsets<3>(s, i, off);
            coords_of(ndim, is, i, co);
            int64_t want_x = offset_at(&x, co) - co[axis] * x_str[axis];
            bad_gather += off[0] != offset_at(&out, co) || off[1] != offset_at(&index, co) || off[2] != want_x;
        }
        // Scatter: column c, step j covers g's element with the axis coordinate j, each exactly once.
        strided3 cols;
        scatter_columns(&out, &index, &dx, axis, &cols);
        int64_t n_cols = n / is[axis], seen = 0;
        for (int64_t col = 0; col < n_cols; col++) {
            int64_t off[3];
            strided_offsets<3>(cols, col, off);
            for (int64_t j = 0; j < is[axis]; j++) {
                int64_t g_off = off[0] + j * o_str[axis], co[USEG_MAX_DIMS] = {0};
                coords_of(ndim, is, g_off, co); // g is contiguous: its offset is its flat index
                bool ok = co[axis] == j && off[1] + j * i_str[axis] == offset_at(&index, co) &&
                          off[2] == offset_at(&dx, co) - co[axis] * dx_str[axis];
                bad_scatter += !ok;
                seen++;
            }
        }
        bad_scatter += seen != n;
        // index_select's form must be recognised, and whatever is taken for it
        // must be one contiguous row along the axis over g of dx's shape.
        bool select = is_select_index(&index, axis, &dx), row = true;
        for (int64_t i = 0; i < n && select; i++) {
            int64_t co[USEG_MAX_DIMS] = {0};
            coords_of(ndim, is, i, co);
            row = row && offset_at(&index, co) == co[axis];
        }
        for (int d = 0; d < ndim && select; d++) row = row && (d == axis || is[d] == xs[d]);
        bad_select += (kind == 2 && !select) || (select && !row);
    }
    CHECK(bad_gather == 0, "gather operands: %d elements addressed unlike their coordinates", bad_gather);
    CHECK(bad_scatter == 0, "scatter columns: %d elements addressed unlike their coordinates", bad_scatter);
    CHECK(bad_select == 0, "is_select_index: %d of 2000 indices misjudged", bad_select);
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

// --- Normalized cut ---------------------------------------------------------------------------

static void test_spectral_math(void) {
    int bad = 0;
    for (int64_t n = 1; n <= 70; n += 23) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                const int64_t e = lower_index(i, j, n), r = e / n, c = e % n;
                bad += e != lower_index(j, i, n) || r < c || !((r == i && c == j) || (r == j && c == i));
            }
    }
    CHECK(bad == 0, "lower_index: %d pairs read outside the lower triangle or differently from their mirror", bad);
    // Every bit of a row of `words` words is visited by exactly one (lane, half), at its own column.
    int seen[3 * 64] = {0};
    for (int64_t k = 0; k < 3; k++)
        for (int lane = 0; lane < 32; lane++)
            for (int half = 0; half < 2; half++) {
                const int64_t j = adj_column(k, lane, half), bit = lane + 32 * half;
                if (j != 64 * k + bit) bad++;
                seen[j]++;
            }
    for (int j = 0; j < 3 * 64; j++) bad += seen[j] != 1;
    CHECK(bad == 0, "adj_column: %d bits missed, repeated or misplaced", bad);
    // The block argmax of spectral.cu: each thread scans i = t, t + T, ...,
    // then a butterfly within warps and a fold over the warps, replayed.
    useg_rng rng;
    useg_rng_seed(&rng, 7, 0);
    for (int trial = 0; trial < 200; trial++) {
        enum { T = 128, WARPS = T / 32 };
        const int64_t n = 1 + (int64_t)(useg_rng_uniform(&rng) * 700);
        double v[700];
        for (int64_t i = 0; i < n; i++) v[i] = (double)(int)(useg_rng_uniform(&rng) * 9) - 4; // many ties
        double best[T];
        int64_t at[T];
        for (int t = 0; t < T; t++) {
            best[t] = -1, at[t] = 0;
            for (int64_t i = t; i < n; i += T)
                if (fabs(v[i]) > best[t]) best[t] = fabs(v[i]), at[t] = i;
        }
        for (int w = 0; w < WARPS; w++)
            for (int o = 16; o > 0; o /= 2) {
                double nb[32];
                int64_t ni[32];
                for (int l = 0; l < 32; l++) nb[l] = best[w * 32 + (l ^ o)], ni[l] = at[w * 32 + (l ^ o)];
                for (int l = 0; l < 32; l++)
                    if (argmax_prefers(nb[l], ni[l], best[w * 32 + l], at[w * 32 + l]))
                        best[w * 32 + l] = nb[l], at[w * 32 + l] = ni[l];
            }
        double b0 = best[0];
        int64_t a0 = at[0];
        for (int w = 1; w < WARPS; w++)
            if (argmax_prefers(best[w * 32], at[w * 32], b0, a0)) b0 = best[w * 32], a0 = at[w * 32];
        int64_t want = 0;
        for (int64_t i = 1; i < n; i++)
            if (fabs(v[i]) > fabs(v[want])) want = i;
        if (a0 != want) bad++;
    }
    CHECK(bad == 0, "block argmax: %d of 200 vectors gave another index than the first largest |y|", bad);
}

// --- Conquer merge ---------------------------------------------------------------------------

// merge.c's DOT_BODY, restated: eight partial sums, the tail on the first, a fixed tree.
template <typename T> static double cpu_dot(const T *a, const T *b, int64_t C) {
    double s[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= C; k += 8)
        for (int l = 0; l < 8; l++) s[l] += (double)a[k + l] * b[k + l];
    for (; k < C; k++) s[0] += (double)a[k] * b[k];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// dot_lane on eight lanes, then merge.cu's butterfly (xor 1, 2, 4) replayed;
// returns lane 0's value and counts lanes that end with another.
template <typename T> static double gpu_dot(const T *a, const T *b, int64_t C, int *lanes_differ) {
    double v[DOT_LANES];
    for (int l = 0; l < DOT_LANES; l++) v[l] = dot_lane(as_double<T>{a}, as_double<T>{b}, C, l);
    for (int o = 1; o < DOT_LANES; o *= 2) {
        double nb[DOT_LANES];
        for (int l = 0; l < DOT_LANES; l++) nb[l] = v[l ^ o];
        for (int l = 0; l < DOT_LANES; l++) v[l] = add_rn(v[l], nb[l]);
    }
    for (int l = 1; l < DOT_LANES; l++) *lanes_differ += memcmp(&v[l], &v[0], sizeof v[0]) != 0;
    return v[0];
}

static void test_merge_math(void) {
    useg_rng rng;
    useg_rng_seed(&rng, 11, 0);
    const int64_t channels[] = {1, 3, 7, 8, 9, 16, 61, 64, 100, 768};
    int bad = 0, lanes = 0, cases = 0;
    static float fa[768], fb[768];
    static double da[768], db[768];
    for (int64_t C : channels)
        for (int trial = 0; trial < 40; trial++, cases++) {
            for (int64_t k = 0; k < C; k++) {
                fa[k] = useg_rng_uniform(&rng) - 0.5f, fb[k] = useg_rng_uniform(&rng) * 3 - 1;
                da[k] = (useg_rng_uniform(&rng) - 0.5) * 1e3 / 7, db[k] = da[k]; // a mean's squared norm
            }
            const double f = gpu_dot(fa, fb, C, &lanes), d = gpu_dot(da, db, C, &lanes);
            const double fr = cpu_dot(fa, fb, C), dr = cpu_dot(da, db, C);
            // A merged node's squared norm: merge.c stores m = sum * (1 / count), then dots m with itself.
            const double inv = 1.0 / (double)(2 + trial), cpu_scaled = [&] {
                for (int64_t k = 0; k < C; k++) db[k] = da[k] * inv;
                return cpu_dot(db, db, C);
            }();
            double part[DOT_LANES]; // the butterfly's tree is checked above
            for (int l = 0; l < DOT_LANES; l++) part[l] = dot_lane(scaled{da, inv}, scaled{da, inv}, C, l);
            const double gpu_scaled =
                ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
            bad += memcmp(&f, &fr, sizeof f) != 0 || memcmp(&d, &dr, sizeof d) != 0 ||
                   memcmp(&gpu_scaled, &cpu_scaled, sizeof d) != 0;
        }
    CHECK(bad == 0, "merge dot: %d of %d lane sums differ from merge.c's DOT_BODY", bad, cases);
    CHECK(lanes == 0, "merge dot: %d butterflies leave lanes with another sum", lanes);

    // Grid edges: every 4-neighbour pair once, p < q.
    bad = 0;
    const int64_t dims[][2] = {{1, 1}, {1, 7}, {6, 1}, {2, 2}, {5, 9}, {32, 32}};
    for (const auto &d : dims) {
        const int64_t h = d[0], w = d[1], n = h * w, E = grid_edge_count(h, w);
        static int seen[2 * 32 * 32];
        memset(seen, 0, sizeof seen);
        for (int64_t j = 0; j < E; j++) {
            int64_t p, q;
            grid_edge(j, h, w, &p, &q);
            const bool right = q == p + 1 && p % w + 1 < w, down = q == p + w && p / w + 1 < h;
            if (p < 0 || q >= n || !(right || down)) {
                bad++;
                continue;
            }
            seen[2 * p + (down ? 1 : 0)]++;
        }
        for (int64_t p = 0; p < n; p++)
            bad += seen[2 * p] != (p % w + 1 < w ? 1 : 0) || seen[2 * p + 1] != (p / w + 1 < h ? 1 : 0);
    }
    CHECK(bad == 0, "grid_edge: %d pairs missed, repeated or not neighbours", bad);

    // The block maximum of keys: per-thread scans, a butterfly per warp, a fold over warps.
    bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        enum { T = 512, WARPS = T / 32, N = 1500 };
        const int64_t n = 1 + (int64_t)(useg_rng_uniform(&rng) * (float)N);
        static useg_merge_key e[N];
        for (int64_t i = 0; i < n; i++) { // few weights: ties; distinct pairs, as live edges are
            const int32_t young = 1 + (int32_t)(i / 3) * 2, old = young - 1 - (int32_t)(i % 3);
            e[i] = {(float)(int)(useg_rng_uniform(&rng) * 4) / 4, young, old < 0 ? young + 1000000 : old};
        }
        useg_merge_key best[T];
        for (int t = 0; t < T; t++) {
            best[t] = USEG_MERGE_KEY_NONE;
            for (int64_t i = t; i < n; i += T) best[t] = key_max(best[t], e[i]);
        }
        for (int w = 0; w < WARPS; w++)
            for (int o = 16; o > 0; o /= 2) {
                useg_merge_key nb[32];
                for (int l = 0; l < 32; l++) nb[l] = best[w * 32 + (l ^ o)];
                for (int l = 0; l < 32; l++) best[w * 32 + l] = key_max(best[w * 32 + l], nb[l]);
            }
        useg_merge_key fold[32];
        for (int l = 0; l < 32; l++) fold[l] = l < WARPS ? best[l * 32] : USEG_MERGE_KEY_NONE;
        for (int o = 16; o > 0; o /= 2) {
            useg_merge_key nb[32];
            for (int l = 0; l < 32; l++) nb[l] = fold[l ^ o];
            for (int l = 0; l < 32; l++) fold[l] = key_max(fold[l], nb[l]);
        }
        useg_merge_key want = e[0];
        for (int64_t i = 1; i < n; i++)
            if (useg_merge_key_before(e[i], want)) want = e[i];
        bad += fold[0].w != want.w || fold[0].young != want.young || fold[0].old != want.old;
    }
    CHECK(bad == 0, "block key maximum: %d of 200 edge sets gave another edge than merge_key.h's first", bad);
}

// --- Lattice keys -----------------------------------------------------------------------------

enum { KEY_D = 3, KEY_N = 600 };
static const int32_t *g_keys;

static int cmp_entries(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const int c = key_compare(g_keys + x * KEY_D, g_keys + y * KEY_D, KEY_D);
    return c ? c : (x > y) - (x < y);
}

static void test_lattice_keys(void) {
    useg_rng rng;
    useg_rng_seed(&rng, 11, 0);
    static int32_t keys[KEY_N * KEY_D];
    for (int i = 0; i < KEY_N * KEY_D; i++) keys[i] = (int32_t)(useg_rng_uniform(&rng) * 7) - 3; // negatives, repeats
    g_keys = keys;
    // The CUB passes: stable sorts of the permutation by word w = d-1 .. 0
    // (a counting sort by the word's unsigned value keeps equal words in order).
    static int32_t perm[KEY_N], next[KEY_N], want[KEY_N];
    for (int i = 0; i < KEY_N; i++) perm[i] = want[i] = i;
    for (int w = KEY_D - 1; w >= 0; w--) {
        int filled = 0;
        uint32_t lowest = 0;
        while (filled < KEY_N) { // the smallest unsigned word not placed yet, then all entries holding it
            uint32_t m = UINT32_MAX;
            for (int e = 0; e < KEY_N; e++) {
                const uint32_t x = (uint32_t)keys[perm[e] * KEY_D + w];
                if (x >= lowest && x < m) m = x;
            }
            for (int e = 0; e < KEY_N; e++)
                if ((uint32_t)keys[perm[e] * KEY_D + w] == m) next[filled++] = perm[e];
            lowest = m + 1;
        }
        memcpy(perm, next, sizeof perm);
    }
    qsort(want, KEY_N, sizeof *want, cmp_entries); // key order, entry order on ties
    CHECK(memcmp(perm, want, sizeof perm) == 0, "lattice keys: word-by-word stable sort differs from key_compare order");
    // Distinct keys, then every one is found at its slot and a few absent ones are not.
    static int32_t uniq[KEY_N * KEY_D];
    int64_t m = 0;
    for (int e = 0; e < KEY_N; e++)
        if (m == 0 || key_compare(uniq + (m - 1) * KEY_D, keys + perm[e] * KEY_D, KEY_D) != 0)
            memcpy(uniq + m++ * KEY_D, keys + perm[e] * KEY_D, KEY_D * sizeof(int32_t));
    int bad = 0;
    for (int e = 0; e < KEY_N; e++) {
        const int64_t s = find_key(uniq, m, KEY_D, keys + e * KEY_D);
        bad += s < 1 || key_compare(uniq + (s - 1) * KEY_D, keys + e * KEY_D, KEY_D) != 0;
    }
    const int32_t absent[2][KEY_D] = {{9, 0, 0}, {-9, 1, 1}};
    for (int a = 0; a < 2; a++) bad += find_key(uniq, m, KEY_D, absent[a]) != 0;
    bad += find_key(uniq, 0, KEY_D, keys) != 0;
    CHECK(bad == 0, "find_key: %d lookups wrong among %lld vertices", bad, (long long)m);
}

int main(void) {
    test_interp_axes();
    test_index_math();
    test_strided3();
    test_combining();
    test_spectral_math();
    test_merge_math();
    test_lattice_keys();
    return check_report("cuda_host");
}
