// Softmax, log-softmax and layer norm, each with a hand-written backward.
//
// Softmax and log-softmax work along any axis: the input is made contiguous
// and viewed as (outer, size, inner) around the axis, and each of the
// outer * inner lines (stride `inner`) is independent, so lines run in
// parallel. Both subtract the line's max before exp (exp never overflows);
// line sums accumulate in double. Backward, from the saved output y and g:
//   softmax      dx = y * (g - sum(g * y))
//   log-softmax  dx = g - exp(y) * sum(g)
//
// Layer norm normalises over the last axis (PyTorch F.layer_norm with
// normalized_shape = (C,)): biased variance in two passes (mean, then the
// squared deviations, so a large mean costs no precision), statistics in
// double. The backward is PyTorch's fused formula, with
// xhat = (x - mean) * rstd and dxhat = g * weight:
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dweight = sum over rows of g * xhat,  dbias = sum over rows of g
// Every ViT block runs it twice, so the f32 path is tuned: rows run in
// parallel; row sums and maxima use LANES interleaved partial results (a
// serial sum is a dependency chain the compiler may not reorder; the lanes
// vectorise and are combined in a fixed order); dweight/dbias are summed in
// the same pass as dx, into per-chunk column sums over a fixed number of row
// chunks that are then added in chunk order, so x and g are read once and the
// result does not depend on the thread count. <tgmath.h> makes exp/log run
// in the tensor's precision (expf for f32: about twice as fast as exp).
// Measured with benchmarks/core/bench_nn_torch.py against PyTorch 1.13 on the
// same machine; checked against PyTorch (tests/core/torch_nn.py) and by f64
// finite differences (tests/core/test_gradcheck_nn.c).
//
// CUDA tensors run the twins of the CPU kernels below through the CUDA table
// (device.h; kernels/cuda/softmax.cu, layernorm.cu), which keep the layer
// norm statistics in f32; tests/cuda/test_cuda_nn.c compares them with these.
#include <tgmath.h>
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"

// Interleaved partial results of the row reductions (see above).
enum { LANES = 8 };

// result = COMBINE over i in [0, n) of E (a function of the index i), with
// accumulators of type ACC starting at INIT.
#define LANE_REDUCE(ACC, n, i, E, INIT, COMBINE, result)                                    \
    do {                                                                                    \
        ACC acc_[LANES];                                                                    \
        for (int k_ = 0; k_ < LANES; k_++) acc_[k_] = (INIT);                               \
        int64_t base_ = 0;                                                                  \
        for (; base_ + LANES <= (n); base_ += LANES)                                        \
            for (int k_ = 0; k_ < LANES; k_++) {                                            \
                int64_t i = base_ + k_;                                                     \
                acc_[k_] = COMBINE(acc_[k_], (E));                                          \
            }                                                                               \
        for (int64_t i = base_; i < (n); i++) acc_[i - base_] = COMBINE(acc_[i - base_], (E)); \
        ACC r_ = acc_[0];                                                                   \
        for (int k_ = 1; k_ < LANES; k_++) r_ = COMBINE(r_, acc_[k_]);                      \
        (result) = r_;                                                                      \
    } while (0)
#define ADD(a, b) ((a) + (b))
#define MAX(a, b) ((b) > (a) ? (b) : (a))
// Sum of E in double.
#define LANE_SUM(n, i, E, result) LANE_REDUCE(double, n, i, E, 0.0, ADD, result)

// --- Softmax / log-softmax ------------------------------------------------------------

// y = softmax(x) or log_softmax(x) along `axis`; x and y contiguous.
static void softmax_forward_cpu(const useg_tensor *x, int axis, bool log_out, useg_tensor *y) {
    int64_t outer, size, inner;
    useg_split_around(x, axis, &outer, &size, &inner);
    int64_t lines = outer * inner;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t l = 0; l < lines; l++) {
            int64_t start = (l / inner) * size * inner + l % inner;
            const T *px = X + start;
            T *py = Y + start;
            // A NaN is passed over here but still turns the sum, and so the line, into NaN.
            T m;
            LANE_REDUCE(T, size, k, px[k * inner], -INFINITY, MAX, m);
            double s = 0;
            if (log_out) {
                for (int64_t k = 0; k < size; k++) s += exp(px[k * inner] - m);
                T lse = (T)((double)m + log(s));
                for (int64_t k = 0; k < size; k++) py[k * inner] = px[k * inner] - lse;
            } else {
                for (int64_t k = 0; k < size; k++) {
                    T e = exp(px[k * inner] - m);
                    py[k * inner] = e;
                    s += e;
                }
                T r = (T)(1.0 / s);
                for (int64_t k = 0; k < size; k++) py[k * inner] *= r;
            }
        }
    });
}

// dx from the output y and its gradient g (all contiguous, same shape).
static void softmax_backward_cpu(const useg_tensor *y, const useg_tensor *g, int axis, bool log_out,
                                 useg_tensor *dx) {
    int64_t outer, size, inner;
    useg_split_around(y, axis, &outer, &size, &inner);
    int64_t lines = outer * inner;
    bool parallel = useg_numel(y) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(y->dtype, T, {
        const T *Y = y->data, *G = g->data;
        T *D = dx->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t l = 0; l < lines; l++) {
            int64_t start = (l / inner) * size * inner + l % inner;
            const T *py = Y + start, *pg = G + start;
            T *pd = D + start;
            double s;
            if (log_out) {
                LANE_SUM(size, k, (double)pg[k * inner], s);
                for (int64_t k = 0; k < size; k++) pd[k * inner] = pg[k * inner] - exp(py[k * inner]) * (T)s;
            } else {
                LANE_SUM(size, k, (double)pg[k * inner] * py[k * inner], s);
                for (int64_t k = 0; k < size; k++) pd[k * inner] = py[k * inner] * (pg[k * inner] - (T)s);
            }
        }
    });
}

static useg_status softmax_common(useg_ctx *ctx, bool log_out, useg_tensor *x, int axis, useg_tensor **out) {
    const char *name = log_out ? "log_softmax" : "softmax";
    USEG_TRY(useg_check_float(ctx, name, x));
    if (x->ndim == 0) return useg_fail(ctx, USEG_ERR_SHAPE, "%s: x must have at least one axis", name);
    USEG_TRY(useg_normalize_axis(ctx, name, axis, x->ndim, &axis));
    useg_tensor *xc;
    bool prev = useg_no_grad_begin(ctx); // the node below records x itself
    useg_status st = useg_contiguous(ctx, x, &xc);
    useg_no_grad_end(ctx, prev);
    USEG_TRY(st);
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, out));
    if (useg_numel(x) > 0) {
        if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, name, softmax_forward, xc, axis, log_out, *out));
        else softmax_forward_cpu(xc, axis, log_out, *out);
    }
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, log_out ? USEG_OP_LOG_SOFTMAX : USEG_OP_SOFTMAX, *out, &x, 1);
        if (!n) return ctx->status;
        n->iarg[0] = axis;
    }
    return USEG_OK;
}

useg_status useg_softmax(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor **out) {
    return softmax_common(ctx, false, x, axis, out);
}

useg_status useg_log_softmax(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor **out) {
    return softmax_common(ctx, true, x, axis, out);
}

static useg_status softmax_backward_common(useg_ctx *ctx, const useg_node *node, bool log_out) {
    useg_tensor *y = node->out, *dx;
    int axis = (int)node->iarg[0];
    USEG_TRY(useg_empty_on(ctx, NULL, y->device, y->dtype, y->ndim, y->shape, &dx));
    if (useg_numel(y) > 0) {
        if (y->device == USEG_DEVICE_CUDA)
            USEG_TRY(USEG_CUDA_CALL(ctx, log_out ? "log_softmax" : "softmax", softmax_backward, y, y->grad, axis,
                                    log_out, dx));
        else
            softmax_backward_cpu(y, y->grad, axis, log_out, dx);
    }
    return useg_accumulate_grad(ctx, node->in[0], dx);
}

USEG_BACKWARD(softmax) { return softmax_backward_common(ctx, node, false); }
USEG_BACKWARD(log_softmax) { return softmax_backward_common(ctx, node, true); }

// --- Layer norm ---------------------------------------------------------------------------

// Row chunks of the backward's dweight/dbias partial sums: enough for 16+
// threads, few enough that the (LN_CHUNKS, 2, C) partials stay in cache.
enum { LN_CHUNKS = 64 };

// Rows of x (R, C) -> y; w, b (C) or NULL; stats (R, 2) f64 = (mean, rstd), or NULL.
// All contiguous.
static void layer_norm_forward_cpu(const useg_tensor *x, const useg_tensor *w, const useg_tensor *b, double eps,
                                   useg_tensor *y, useg_tensor *stats_out) {
    int64_t C = x->shape[x->ndim - 1], R = useg_numel(x) / C;
    double *stats = stats_out ? stats_out->data : NULL;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *W = w ? w->data : NULL, *B = b ? b->data : NULL;
        T *Y = y->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < R; r++) {
            const T *px = X + r * C;
            T *py = Y + r * C;
            double mean, ss;
            LANE_SUM(C, c, (double)px[c], mean);
            mean /= (double)C;
            LANE_SUM(C, c, ((double)px[c] - mean) * ((double)px[c] - mean), ss);
            double rstd = 1.0 / sqrt(ss / (double)C + eps);
            if (stats) stats[2 * r] = mean, stats[2 * r + 1] = rstd;
            T m = (T)mean, rs = (T)rstd;
            if (W && B)
                for (int64_t c = 0; c < C; c++) py[c] = (px[c] - m) * rs * W[c] + B[c];
            else if (W)
                for (int64_t c = 0; c < C; c++) py[c] = (px[c] - m) * rs * W[c];
            else if (B)
                for (int64_t c = 0; c < C; c++) py[c] = (px[c] - m) * rs + B[c];
            else
                for (int64_t c = 0; c < C; c++) py[c] = (px[c] - m) * rs;
        }
    });
}

// One pass over the rows of x (R, C) for the backward: dx (or NULL) from g, the
// weight w (C, or NULL: ones) and the saved stats; and when `part` is given,
// per-chunk column sums of g * xhat and g (part[ch] = (2, C) doubles for the
// rows [ch * rows_per_chunk, ...)) so dweight/dbias need no second read of x
// and g. Chunks depend on the shape only, so the sums do not depend on the
// thread count.
static void layer_norm_backward_rows(const useg_tensor *x, const useg_tensor *w, const double *stats,
                                     const useg_tensor *g, useg_tensor *dx, int64_t rows_per_chunk, double *part) {
    int64_t C = x->shape[x->ndim - 1], R = useg_numel(x) / C;
    int64_t chunks = (R + rows_per_chunk - 1) / rows_per_chunk;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *W = w ? w->data : NULL, *G = g->data;
        T *D = dx ? dx->data : NULL;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t ch = 0; ch < chunks; ch++) {
            double *pw = part ? part + ch * 2 * C : NULL, *pb = pw ? pw + C : NULL;
            if (pw) memset(pw, 0, (size_t)(2 * C) * sizeof(double));
            int64_t end = (ch + 1) * rows_per_chunk < R ? (ch + 1) * rows_per_chunk : R;
            for (int64_t r = ch * rows_per_chunk; r < end; r++) {
                const T *px = X + r * C, *pg = G + r * C;
                double mean = stats[2 * r], rstd = stats[2 * r + 1];
                if (D) {
                    // a = mean(dxhat), b = mean(dxhat * xhat)
                    double a, b;
                    if (W) {
                        LANE_SUM(C, c, (double)pg[c] * W[c], a);
                        LANE_SUM(C, c, (double)pg[c] * W[c] * ((double)px[c] - mean), b);
                    } else {
                        LANE_SUM(C, c, (double)pg[c], a);
                        LANE_SUM(C, c, (double)pg[c] * ((double)px[c] - mean), b);
                    }
                    a /= (double)C;
                    b *= rstd / (double)C;
                    T m = (T)mean, rs = (T)rstd, ta = (T)a, tb = (T)b, *pd = D + r * C;
                    if (W)
                        for (int64_t c = 0; c < C; c++) pd[c] = rs * (pg[c] * W[c] - ta - (px[c] - m) * rs * tb);
                    else
                        for (int64_t c = 0; c < C; c++) pd[c] = rs * (pg[c] - ta - (px[c] - m) * rs * tb);
                }
                if (pw)
                    for (int64_t c = 0; c < C; c++) {
                        pw[c] += (double)pg[c] * (((double)px[c] - mean) * rstd);
                        pb[c] += pg[c];
                    }
            }
        }
    });
}

// dx, dw, db (each may be NULL; contiguous) written from g and the saved
// stats (R, 2) f64: the rows' pass above, then the chunks' partial sums
// added in chunk order.
static useg_status layer_norm_backward_cpu(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *w,
                                           const useg_tensor *stats, const useg_tensor *g, useg_tensor *dx,
                                           useg_tensor *dw, useg_tensor *db) {
    int64_t C = x->shape[x->ndim - 1], R = C ? useg_numel(x) / C : 0;
    int64_t rows_per_chunk = R ? (R + LN_CHUNKS - 1) / LN_CHUNKS : 1, chunks = (R + rows_per_chunk - 1) / rows_per_chunk;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    double *part = NULL;
    if (dw || db) USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(chunks * 2 * C) * sizeof(double), (void **)&part));
    if (R * C > 0) layer_norm_backward_rows(x, w, stats->data, g, dx, rows_per_chunk, part);
    for (int k = 0; k < 2 && part; k++) {
        useg_tensor *dp = k ? db : dw;
        if (!dp) continue;
        for (int64_t c = 0; c < C; c++) {
            double s = 0;
            for (int64_t ch = 0; ch < chunks; ch++) s += part[(ch * 2 + k) * C + c];
            useg_set_flat(dp, c, s);
        }
    }
    useg_arena_rewind(&ctx->scratch, mark);
    return USEG_OK;
}

// weight or bias: NULL, or a 1-D float tensor of x's dtype, device and size C.
static useg_status check_affine(useg_ctx *ctx, const char *what, const useg_tensor *p, const useg_tensor *x) {
    if (!p) return USEG_OK;
    USEG_TRY(useg_check_float(ctx, "layer_norm", p));
    USEG_TRY(useg_check_same_device(ctx, "layer_norm", x, p));
    if (p->dtype != x->dtype || p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
        char a[96], b[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "layer_norm: %s %s does not match the last axis of x %s", what,
                         useg_shape_str(p, a, sizeof a), useg_shape_str(x, b, sizeof b));
    }
    return USEG_OK;
}

useg_status useg_layer_norm(useg_ctx *ctx, useg_tensor *x, useg_tensor *weight, useg_tensor *bias, double eps,
                            useg_tensor **out) {
    USEG_TRY(useg_check_float(ctx, "layer_norm", x));
    if (x->ndim == 0) return useg_fail(ctx, USEG_ERR_SHAPE, "layer_norm: x must have at least one axis");
    if (!(eps >= 0 && isfinite(eps)))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG, "layer_norm: eps %g must be finite and >= 0", eps);
    USEG_TRY(check_affine(ctx, "weight", weight, x));
    USEG_TRY(check_affine(ctx, "bias", bias, x));
    // Contiguous copies are recorded (COPY nodes), so the node below takes them as its inputs.
    useg_tensor *xc, *wc = NULL, *bc = NULL, *stats = NULL;
    USEG_TRY(useg_contiguous(ctx, x, &xc));
    if (weight) USEG_TRY(useg_contiguous(ctx, weight, &wc));
    if (bias) USEG_TRY(useg_contiguous(ctx, bias, &bc));
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, out));
    useg_tensor *in[3] = {xc, wc, bc};
    bool record = useg_needs_grad(ctx, in, 3), cuda = x->device == USEG_DEVICE_CUDA;
    int64_t C = x->shape[x->ndim - 1], R = C ? useg_numel(x) / C : 0;
    if (record) USEG_TRY(useg_empty_on(ctx, NULL, x->device, cuda ? USEG_F32 : USEG_F64, 2, (int64_t[2]){R, 2}, &stats));
    if (useg_numel(x) > 0) {
        if (cuda) USEG_TRY(USEG_CUDA_CALL(ctx, "layer_norm", layer_norm_forward, xc, wc, bc, eps, *out, stats));
        else layer_norm_forward_cpu(xc, wc, bc, eps, *out, stats);
    }
    if (record) {
        useg_node *n = useg_record(ctx, USEG_OP_LAYER_NORM, *out, in, 3);
        if (!n) return ctx->status;
        n->saved[0] = stats;
    }
    return USEG_OK;
}

USEG_BACKWARD(layer_norm) {
    useg_tensor *x = node->in[0], *w = node->in[1], *b = node->in[2], *dx = NULL, *dw = NULL, *db = NULL;
    int64_t C = x->shape[x->ndim - 1];
    if (x->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    if (w && w->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 1, &C, &dw));
    if (b && b->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, 1, &C, &db));
    const useg_tensor *g = node->out->grad, *stats = node->saved[0];
    if (x->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, "layer_norm", layer_norm_backward, x, w, stats, g, dx, dw, db));
    else
        USEG_TRY(layer_norm_backward_cpu(ctx, x, w, stats, g, dx, dw, db));
    if (dx) USEG_TRY(useg_accumulate_grad(ctx, x, dx));
    if (dw) USEG_TRY(useg_accumulate_grad(ctx, w, dw));
    if (db) USEG_TRY(useg_accumulate_grad(ctx, b, db));
    return USEG_OK;
}
