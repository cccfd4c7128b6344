// Resampling: bilinear and bicubic interpolation of (B, C, H, W), PyTorch
// 1.13's F.interpolate(..., align_corners=False) without antialias, forward
// and backward.
//
// Along each axis, output index o reads source coordinate
//   s = (o + 0.5) * scale - 0.5,   scale = in / out, or 1 / scale_factor
// when the caller gives a scale factor (useg_interpolate_scaled: PyTorch then
// uses the factor, not the sizes, and DINO's position embeddings rely on it).
// Bilinear: s clamped at 0, taps floor(s) and floor(s) + 1 (the second kept
// inside the axis), weights 1 - t and t; when in == out along an axis the taps
// are the identity even with a scale factor (PyTorch's shortcut). Bicubic:
// Keys' cubic convolution with A = -0.75 over taps floor(s) - 1 .. floor(s) + 2
// clamped to [0, in - 1], so the weight of border taps piles up on the edge.
// Taps (indices and weights) are computed once per output row and column with
// PyTorch 1.13's formulas: the scale in the tensor's precision, the source
// coordinate in double (bilinear does so upstream; for bicubic, measured, it
// lands closer to upstream's AVX2 build than float does), weights in T.
//
// The interpolation is separable: out = sum_i wh_i * (sum_j ww_j * x[h_i, w_j]).
// Pass 1 interpolates each input row along W into a (B*C, H, out_w)
// workspace (only rows some output row reads); pass 2 blends workspace rows
// along H, one fused vectorisable pass per output row. These are the sums of
// PyTorch's CPU kernel in its order (it evaluates the nested sum per output
// pixel), at O(taps) instead of O(taps^2) work per output pixel. Both passes
// run over whole rows in parallel.
//
// The backward is the exact transpose of this forward: gradient rows are
// spread back along H into the workspace through the transposed H taps (for
// each input row, the output rows that read it, in ascending order), then
// each workspace row is scattered along W into its own dx row. Every thread
// owns whole rows, so every sum runs in a fixed order: deterministic, no
// atomics. (Upstream's bicubic backward recomputes its coordinates in float,
// so it is not quite the transpose of upstream's forward; we follow ours.)
//
// Measured against PyTorch 1.13 (tests/core/torch_interp.py: normwise
// relative error <= 1.2e-6 forward, <= 3.4e-6 backward in f32, bilinear
// ~1e-7), f64 finite differences (tests/core/test_gradcheck_interp.c), and
// for speed benchmarks/core/bench_interp.py (forward 2-10x faster than
// upstream's on one thread on the pipelines' shapes, except plain
// downsampling, ~1.4x slower).
//
// CUDA tensors run interp_cpu's twin through the CUDA table (device.h;
// kernels/cuda/interp.cu) with the same taps (kernels/cuda/interp_taps.cuh),
// one thread per output pixel forward and per input pixel backward.
#include <math.h>
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"

// The taps of one axis: output index o reads source indices idx[o * taps + j]
// with weights w[o * taps + j] (T, the tensor's float type).
typedef struct axis_taps {
    int taps;      // 2 (bilinear) or 4 (bicubic)
    int64_t *idx;  // (out, taps), inside [0, in)
    void *w;       // (out, taps)
} axis_taps;

// Keys' cubic convolution kernel with parameter A, for |x| <= 1 and 1 < |x| < 2
// (PyTorch's cubic_convolution1/2).
#define CUBIC_NEAR(x, A) ((((A) + 2) * (x) - ((A) + 3)) * (x) * (x) + 1)
#define CUBIC_FAR(x, A) (((((A) * (x)) - 5 * (A)) * (x) + 8 * (A)) * (x) - 4 * (A))

// Taps for an axis of `in` samples resampled to `out`; scale_factor > 0 is the
// caller's factor, 0 means "from the sizes". Arrays come from ctx->scratch.
static useg_status axis_taps_init(useg_ctx *ctx, useg_dtype dt, useg_interp_mode mode, int64_t in, int64_t out,
                                  double scale_factor, axis_taps *a) {
    int k = mode == USEG_INTERP_BICUBIC ? 4 : 2;
    a->taps = k;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(out * k) * sizeof(int64_t), (void **)&a->idx));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(out * k) * useg_dtype_size(dt), &a->w));
    USEG_FLOAT_DISPATCH(dt, T, {
        T scale = scale_factor > 0 ? (T)(1.0 / scale_factor) : (T)in / (T)out;
        T *w = a->w;
        for (int64_t o = 0; o < out; o++) {
            int64_t *ix = a->idx + o * k;
            T *wo = w + o * k;
            // In double whatever T is, as PyTorch (its accscalar_t); only t is rounded to T.
            double s = (double)scale * ((double)o + 0.5) - 0.5;
            if (mode == USEG_INTERP_BILINEAR) {
                if (in == out) {
                    ix[0] = ix[1] = o;
                    wo[0] = 1, wo[1] = 0;
                    continue;
                }
                if (s < 0) s = 0;
                int64_t i0 = (int64_t)s < in - 1 ? (int64_t)s : in - 1;
                T t = (T)(s - (double)i0);
                ix[0] = i0;
                ix[1] = i0 < in - 1 ? i0 + 1 : i0;
                wo[0] = 1 - t, wo[1] = t;
            } else {
                int64_t i0 = (int64_t)floor(s);
                T t = (T)(s - (double)i0), A = (T)-0.75, u = 1 - t;
                wo[0] = CUBIC_FAR(t + 1, A);
                wo[1] = CUBIC_NEAR(t, A);
                wo[2] = CUBIC_NEAR(u, A);
                wo[3] = CUBIC_FAR(u + 1, A);
                for (int j = 0; j < 4; j++) {
                    int64_t i = i0 - 1 + j;
                    ix[j] = i < 0 ? 0 : i > in - 1 ? in - 1 : i;
                }
            }
        }
    });
    return USEG_OK;
}

// out (B, C, OH, OW) from x (B, C, H, W), both contiguous. Takes its
// workspace from ctx->scratch; the caller rewinds.
static useg_status interp_forward_cpu(useg_ctx *ctx, const useg_tensor *x, const axis_taps *th,
                                      const axis_taps *tw, useg_tensor *out) {
    int64_t planes = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t OH = out->shape[2], OW = out->shape[3];
    int kh = th->taps, kw = tw->taps;
    void *tmp;
    bool *used;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(planes * H * OW) * useg_dtype_size(x->dtype), &tmp));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)H * sizeof(bool), (void **)&used));
    memset(used, 0, (size_t)H * sizeof(bool));
    for (int64_t i = 0; i < OH * kh; i++) used[th->idx[i]] = true;
    bool parallel = useg_numel(out) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *WH = th->w, *WW = tw->w;
        T *O = out->data, *TMP = tmp;
        // Pass 1: input rows along W -> TMP (planes, H, OW).
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < planes * H; r++) {
            if (!used[r % H]) continue;
            const T *xr = X + r * W;
            T *tr = TMP + r * OW;
            const int64_t *ix = tw->idx;
            if (kw == 2)
                for (int64_t o = 0; o < OW; o++) tr[o] = xr[ix[2 * o]] * WW[2 * o] + xr[ix[2 * o + 1]] * WW[2 * o + 1];
            else
                for (int64_t o = 0; o < OW; o++) {
                    const int64_t *i4 = ix + 4 * o;
                    const T *w4 = WW + 4 * o;
                    tr[o] = xr[i4[0]] * w4[0] + xr[i4[1]] * w4[1] + xr[i4[2]] * w4[2] + xr[i4[3]] * w4[3];
                }
        }
        // Pass 2: TMP rows along H -> out rows, one fused pass per row.
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < planes * OH; r++) {
            const int64_t *ih = th->idx + (r % OH) * kh;
            const T *w = WH + (r % OH) * kh, *plane = TMP + (r / OH) * H * OW;
            T *restrict orow = O + r * OW;
            const T *restrict t0 = plane + ih[0] * OW, *restrict t1 = plane + ih[1] * OW;
            T w0 = w[0], w1 = w[1];
            if (kh == 2) {
                for (int64_t c = 0; c < OW; c++) orow[c] = t0[c] * w0 + t1[c] * w1;
            } else {
                const T *restrict t2 = plane + ih[2] * OW, *restrict t3 = plane + ih[3] * OW;
                T w2 = w[2], w3 = w[3];
                for (int64_t c = 0; c < OW; c++) orow[c] = t0[c] * w0 + t1[c] * w1 + t2[c] * w2 + t3[c] * w3;
            }
        }
    });
    return USEG_OK;
}

// dx (B, C, H, W) = the transpose of the forward applied to g (B, C, OH, OW),
// both contiguous. Workspace as interp_forward_cpu.
static useg_status interp_backward_cpu(useg_ctx *ctx, const useg_tensor *g, const axis_taps *th,
                                       const axis_taps *tw, useg_tensor *dx) {
    int64_t planes = dx->shape[0] * dx->shape[1], H = dx->shape[2], W = dx->shape[3];
    int64_t OH = g->shape[2], OW = g->shape[3];
    int kh = th->taps, kw = tw->taps;
    size_t esize = useg_dtype_size(dx->dtype);
    // The H taps transposed (CSR): input row h is read by the entries
    // first[h] .. first[h + 1] - 1, output row from_row[e] with weight from_w[e].
    int64_t *first, *from_row;
    void *from_w, *tmp;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(H + 1) * sizeof(int64_t), (void **)&first));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(OH * kh) * sizeof(int64_t), (void **)&from_row));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(OH * kh) * esize, &from_w));
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(planes * H * OW) * esize, &tmp));
    memset(first, 0, (size_t)(H + 1) * sizeof(int64_t));
    for (int64_t e = 0; e < OH * kh; e++) first[th->idx[e] + 1]++;
    for (int64_t h = 0; h < H; h++) first[h + 1] += first[h];
    bool parallel = useg_numel(g) > USEG_PARALLEL_THRESHOLD || useg_numel(dx) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(dx->dtype, T, {
        const T *G = g->data, *WH = th->w, *WW = tw->w;
        T *D = dx->data, *TMP = tmp, *FW = from_w;
        // Fill in ascending (output row, tap) order, the order each sum runs in,
        // with first[h] as row h's cursor; afterwards first[h] holds row h + 1's
        // start, so shifting it by one restores the offsets.
        for (int64_t e = 0; e < OH * kh; e++) {
            int64_t slot = first[th->idx[e]]++;
            from_row[slot] = e / kh;
            FW[slot] = WH[e];
        }
        memmove(first + 1, first, (size_t)H * sizeof(int64_t));
        first[0] = 0;
        // Pass A: gradient rows along H -> TMP (planes, H, OW).
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < planes * H; r++) {
            int64_t h = r % H;
            const T *gp = G + (r / H) * OH * OW;
            T *restrict tr = TMP + r * OW;
            if (first[h] == first[h + 1]) {
                memset(tr, 0, (size_t)OW * sizeof(T));
                continue;
            }
            const T *restrict g0 = gp + from_row[first[h]] * OW;
            T w0 = FW[first[h]];
            for (int64_t c = 0; c < OW; c++) tr[c] = g0[c] * w0;
            for (int64_t e = first[h] + 1; e < first[h + 1]; e++) {
                const T *restrict ge = gp + from_row[e] * OW;
                T we = FW[e];
                for (int64_t c = 0; c < OW; c++) tr[c] += ge[c] * we;
            }
        }
        // Pass B: TMP rows scattered along W -> dx rows.
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < planes * H; r++) {
            const T *tr = TMP + r * OW;
            T *dr = D + r * W;
            memset(dr, 0, (size_t)W * sizeof(T));
            for (int64_t o = 0; o < OW; o++) {
                const int64_t *ix = tw->idx + o * kw;
                const T *w = WW + o * kw;
                for (int j = 0; j < kw; j++) dr[ix[j]] += tr[o] * w[j];
            }
        }
    });
    return USEG_OK;
}

// The interpolation x (B, C, H, W) -> y (B, C, OH, OW), or with `backward`
// its transpose from dy into dx; scales as in axis_taps_init, per axis.
static useg_status interp_cpu(useg_ctx *ctx, bool backward, useg_interp_mode mode, const double *scales,
                              const useg_tensor *src, useg_tensor *dst) {
    const useg_tensor *x = backward ? dst : src, *y = backward ? src : dst;
    if (useg_numel(x) == 0) return USEG_OK;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    axis_taps th, tw;
    useg_status st = axis_taps_init(ctx, x->dtype, mode, x->shape[2], y->shape[2], scales[0], &th);
    if (st == USEG_OK) st = axis_taps_init(ctx, x->dtype, mode, x->shape[3], y->shape[3], scales[1], &tw);
    if (st == USEG_OK)
        st = backward ? interp_backward_cpu(ctx, src, &th, &tw, dst) : interp_forward_cpu(ctx, src, &th, &tw, dst);
    useg_arena_rewind(&ctx->scratch, mark);
    return st;
}

static useg_status check_input(useg_ctx *ctx, const useg_tensor *x, useg_interp_mode mode) {
    USEG_TRY(useg_check_float(ctx, "interpolate", x));
    if (mode != USEG_INTERP_BILINEAR && mode != USEG_INTERP_BICUBIC)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "interpolate: unknown mode %d", (int)mode);
    if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1) {
        char a[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "interpolate: expects (B, C, H, W) with H, W >= 1, got %s",
                         useg_shape_str(x, a, sizeof a));
    }
    return USEG_OK;
}

// The shared body; scales[a] > 0 is the caller's scale factor along H (a = 0) or W.
static useg_status interpolate(useg_ctx *ctx, useg_tensor *x, int64_t out_h, int64_t out_w, const double *scales,
                               useg_interp_mode mode, useg_tensor **out) {
    USEG_TRY(check_input(ctx, x, mode));
    if (out_h < 1 || out_w < 1)
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "interpolate: output size (%lld, %lld) must be positive",
                         (long long)out_h, (long long)out_w);
    useg_tensor *xc;
    bool prev = useg_no_grad_begin(ctx); // the node below records x itself
    useg_status st = useg_contiguous(ctx, x, &xc);
    useg_no_grad_end(ctx, prev);
    USEG_TRY(st);
    const int64_t shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 4, shape, out));
    if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, "interpolate", interpolate, false, mode, scales, xc, *out));
    else USEG_TRY(interp_cpu(ctx, false, mode, scales, xc, *out));
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, USEG_OP_INTERPOLATE, *out, &x, 1);
        if (!n) return ctx->status;
        n->iarg[0] = mode;
        n->farg[0] = scales[0];
        n->farg[1] = scales[1];
    }
    return USEG_OK;
}

useg_status useg_interpolate(useg_ctx *ctx, useg_tensor *x, int64_t out_h, int64_t out_w, useg_interp_mode mode,
                             useg_tensor **out) {
    const double from_sizes[2] = {0.0, 0.0};
    return interpolate(ctx, x, out_h, out_w, from_sizes, mode, out);
}

useg_status useg_interpolate_scaled(useg_ctx *ctx, useg_tensor *x, double scale_h, double scale_w,
                                    useg_interp_mode mode, useg_tensor **out) {
    USEG_TRY(check_input(ctx, x, mode));
    const double scales[2] = {scale_h, scale_w};
    int64_t size[2];
    for (int a = 0; a < 2; a++) {
        double s = (double)x->shape[2 + a] * scales[a];
        // PyTorch truncates H * scale in double; the bound keeps the conversion defined.
        if (!(scales[a] > 0) || !(s >= 1) || !(s < 0x1p53))
            return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                             "interpolate: scale factor %g turns size %lld into %g (needs a size >= 1)", scales[a],
                             (long long)x->shape[2 + a], s);
        size[a] = (int64_t)s;
    }
    return interpolate(ctx, x, size[0], size[1], scales, mode, out);
}

USEG_BACKWARD(interpolate) {
    useg_tensor *x = node->in[0], *g = node->out->grad, *dx;
    useg_interp_mode mode = (useg_interp_mode)node->iarg[0];
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 4, x->shape, &dx));
    if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, "interpolate", interpolate, true, mode, node->farg, g, dx));
    else USEG_TRY(interp_cpu(ctx, true, mode, node->farg, g, dx));
    return useg_accumulate_grad(ctx, x, dx);
}
