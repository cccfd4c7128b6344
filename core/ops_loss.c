// Losses: cross-entropy over class logits, and the per-pixel mask losses
// (BCE with logits, sigmoid focal, dice) that MaskCut/CutLER-style mask heads
// and Mask2Former-style decoders train with. Each returns a 0-d mean and has
// a hand-written backward: composed from elementwise ops they would store
// several full-size intermediates and lose the stable forms below.
//
// Precision and determinism: per-element terms are evaluated in double (the
// cross-entropy's exp in the tensor's precision, via <tgmath.h>) and summed
// in double over fixed pieces (LOSS_CHUNK elements, CE_TILE positions, dice
// rows) whose partial sums are added in order, so the result does not depend
// on the thread count (tests/core/test_gradcheck_loss.c checks the bits).
//
// Forms (all checked against PyTorch 1.13 in tests/core/torch_loss.py):
//   cross-entropy  lse(x) - x[t] per position, lse with the max subtracted
//                  (F.cross_entropy, mean over non-ignored positions);
//                  d x = (softmax(x) - onehot(t)) / count
//   BCE            max(x, 0) - x t + log1p(exp(-|x|))  (never exp of a large x)
//   focal          ce * (1 - p_t)^gamma * alpha_t, p = sigmoid(x),
//                  p_t = p t + (1 - p)(1 - t), alpha_t = alpha t + (1 - alpha)(1 - t)
//                  (torchvision.ops.sigmoid_focal_loss; BCE is its gamma = 0,
//                  alpha < 0 case, so both share one kernel)
//   dice           per row of (N, L): 1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1)
//                  averaged over N: p = sigmoid(x) flattened per mask, +1
//                  smoothing on both sides. This is DETR's and Mask2Former's
//                  dice_loss with num_masks = N (they divide the sum over masks
//                  by the number of masks in the batch, averaged across GPUs).
//                  SAM trains its mask decoder with focal + dice but released
//                  no training code; SAM-style reimplementations use this form.
// Float targets are differentiable too (soft targets from a teacher); integer
// class targets are not.
//
// CUDA tensors run the twins of the kernels below (kernels/cuda/loss.cu)
// through the CUDA table (device.h): the same tensors in, the 0-d loss written
// on the device, statistics kept in f32. Cross-entropy's targets are checked
// on the device too (the one wait for the GPU in these ops: an out-of-range
// target must fail before any kernel reads x[target]).
#include <tgmath.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"

// Elements per partial sum: fixed, so the summation order is too.
enum { LOSS_CHUNK = 4096 };
// Positions per cross-entropy tile (see ce_tile).
enum { CE_TILE = 64 };

static double sigmoid_of(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

// The 0-d loss, of x's dtype on x's device; the kernels write it.
static useg_status scalar_like(useg_ctx *ctx, const useg_tensor *x, useg_tensor **out) {
    return useg_empty_on(ctx, NULL, x->device, x->dtype, 0, (int64_t[1]){0}, out);
}

// A float target of the logits' dtype, device and exact shape.
static useg_status check_float_target(useg_ctx *ctx, const char *op, const useg_tensor *x, const useg_tensor *t) {
    USEG_TRY(useg_check_float(ctx, op, x));
    USEG_TRY(useg_check_float(ctx, op, t));
    USEG_TRY(useg_check_same_device(ctx, op, x, t));
    if (t->dtype != x->dtype || !useg_same_shape(x, t)) {
        char a[96], b[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: target %s does not match logits %s", op,
                         useg_shape_str(t, a, sizeof a), useg_shape_str(x, b, sizeof b));
    }
    return USEG_OK;
}

// --- Cross-entropy ---------------------------------------------------------------------

// Logits (N, C, S) are walked in tiles of up to CE_TILE positions of one
// image (fixed n): the class loop then reads contiguous runs of positions,
// which the max vectorises over, instead of one position's classes S apart.
static void ce_tile(int64_t t, int64_t S, int64_t *n, int64_t *s0, int64_t *len) {
    int64_t per_image = (S + CE_TILE - 1) / CE_TILE;
    *n = t / per_image;
    *s0 = (t % per_image) * CE_TILE;
    *len = S - *s0 < CE_TILE ? S - *s0 : CE_TILE;
}

// Logits x (N, C, S...) against validated targets (N, S...), all contiguous:
// lse (P) f64 = logsumexp over C at each position p = n S + s, and out = the
// sum over non-ignored positions of lse - x[target], divided by count
// (partial sums: one double per tile, added in order).
static useg_status cross_entropy_forward_cpu(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *target_t,
                                             int64_t ignore_index, double count, useg_tensor *lse_t,
                                             useg_tensor *out) {
    int64_t N = x->shape[0], C = x->shape[1], S = N ? useg_numel(target_t) / N : 0;
    int64_t tiles = N * ((S + CE_TILE - 1) / CE_TILE);
    const int64_t *target = target_t->data;
    double *lse = lse_t->data, *partial, total = 0;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(tiles + 1) * sizeof(double), (void **)&partial));
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    if (C > 0) USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t t = 0; t < tiles; t++) {
            int64_t n, s0, len;
            ce_tile(t, S, &n, &s0, &len);
            const T *px = X + n * C * S + s0;
            // A NaN is passed over by the max but turns its sum, and so the loss, into NaN.
            T m[CE_TILE];
            double e[CE_TILE] = {0};
            for (int64_t j = 0; j < len; j++) m[j] = -INFINITY;
            for (int64_t c = 0; c < C; c++)
                for (int64_t j = 0; j < len; j++) m[j] = px[c * S + j] > m[j] ? px[c * S + j] : m[j];
            for (int64_t c = 0; c < C; c++)
                for (int64_t j = 0; j < len; j++) e[j] += exp(px[c * S + j] - m[j]);
            double s = 0;
            for (int64_t j = 0, p = n * S + s0; j < len; j++, p++) {
                lse[p] = (double)m[j] + log(e[j]);
                if (target[p] != ignore_index) s += lse[p] - (double)px[target[p] * S + j];
            }
            partial[t] = s;
        }
    });
    if (C > 0)
        for (int64_t t = 0; t < tiles; t++) total += partial[t];
    useg_arena_rewind(&ctx->scratch, mark);
    // count 0 (all ignored): 0 / 0 = NaN, as PyTorch.
    useg_set_flat(out, 0, total / count);
    return USEG_OK;
}

// dx = g / count * (softmax(x) - onehot(target)) at counted positions, 0 at
// ignored ones; g the 0-d upstream gradient, lse the forward's.
static void cross_entropy_backward_cpu(const useg_tensor *x, const useg_tensor *target_t, int64_t ignore_index,
                                       double count, const useg_tensor *lse_t, const useg_tensor *g,
                                       useg_tensor *dx) {
    int64_t N = x->shape[0], C = x->shape[1], S = N ? useg_numel(target_t) / N : 0;
    int64_t tiles = N * ((S + CE_TILE - 1) / CE_TILE);
    const int64_t *target = target_t->data;
    const double *lse = lse_t->data;
    double scale = useg_get_flat(g, 0) / count;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *D = dx->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t t = 0; t < tiles; t++) {
            int64_t n, s0, len;
            ce_tile(t, S, &n, &s0, &len);
            const T *px = X + n * C * S + s0;
            const int64_t *tg = target + n * S + s0;
            const double *pl = lse + n * S + s0;
            T *pd = D + n * C * S + s0;
            for (int64_t c = 0; c < C; c++)
                for (int64_t j = 0; j < len; j++)
                    pd[c * S + j] = tg[j] == ignore_index
                                        ? 0
                                        : (T)(scale * (exp(px[c * S + j] - (T)pl[j]) - (c == tg[j] ? 1 : 0)));
        }
    });
}

// Every target (contiguous) is ignore_index or a class in [0, C); *count = the
// number of the latter. On a GPU the check runs there and waits for it.
static useg_status check_targets(useg_ctx *ctx, const useg_tensor *target, int64_t C, int64_t ignore_index,
                                 int64_t *count) {
    int64_t first_bad = -1, value = 0;
    if (target->device == USEG_DEVICE_CUDA) {
        USEG_TRY(USEG_CUDA_CALL(ctx, "cross_entropy", find_bad_index, target, C, &ignore_index, &first_bad, &value,
                                count));
    } else {
        const int64_t *tg = target->data;
        int64_t P = useg_numel(target);
        *count = 0;
        for (int64_t p = 0; p < P && first_bad < 0; p++) {
            if (tg[p] == ignore_index) continue;
            if (tg[p] < 0 || tg[p] >= C) first_bad = p, value = tg[p];
            else (*count)++;
        }
    }
    if (first_bad >= 0)
        return useg_fail(ctx, USEG_ERR_SHAPE,
                         "cross_entropy: target %lld at position %lld is outside [0, %lld) and is not "
                         "ignore_index %lld",
                         (long long)value, (long long)first_bad, (long long)C, (long long)ignore_index);
    return USEG_OK;
}

useg_status useg_cross_entropy(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, int64_t ignore_index,
                               useg_tensor **out) {
    USEG_TRY(useg_check_float(ctx, "cross_entropy", logits));
    char a[96], b[96];
    if (logits->ndim < 2)
        return useg_fail(ctx, USEG_ERR_SHAPE, "cross_entropy: logits %s must be (N, C) or (N, C, d1, ...)",
                         useg_shape_str(logits, a, sizeof a));
    USEG_TRY(useg_check_same_device(ctx, "cross_entropy", logits, target));
    if (target->dtype != USEG_I64)
        return useg_fail(ctx, USEG_ERR_SHAPE, "cross_entropy: targets must be i64 class indices, got %s",
                         useg_dtype_name(target->dtype));
    bool match = target->ndim == logits->ndim - 1 && target->shape[0] == logits->shape[0];
    for (int d = 1; d < target->ndim && match; d++) match = target->shape[d] == logits->shape[d + 1];
    if (!match)
        return useg_fail(ctx, USEG_ERR_SHAPE, "cross_entropy: target %s does not match logits %s",
                         useg_shape_str(target, a, sizeof a), useg_shape_str(logits, b, sizeof b));
    useg_tensor *xc, *tc, *lse;
    USEG_TRY(useg_contiguous(ctx, logits, &xc));
    USEG_TRY(useg_contiguous(ctx, target, &tc));
    // Validate every target before any kernel reads x[target].
    int64_t C = logits->shape[1], P = useg_numel(target), count;
    USEG_TRY(check_targets(ctx, tc, C, ignore_index, &count));
    bool record = useg_needs_grad(ctx, &xc, 1), cuda = logits->device == USEG_DEVICE_CUDA;
    USEG_TRY(scalar_like(ctx, logits, out));
    // The per-position log-sum-exp is kept for the backward when there is one,
    // else it is a workspace.
    useg_scratch_mark mark = useg_scratch_get_mark(ctx);
    useg_status st = useg_empty_on(ctx, record ? &ctx->step : &ctx->scratch, logits->device,
                                   cuda ? USEG_F32 : USEG_F64, 1, &P, &lse);
    if (st == USEG_OK && cuda)
        st = USEG_CUDA_CALL(ctx, "cross_entropy", cross_entropy_forward, xc, tc, ignore_index, (double)count, lse, *out);
    else if (st == USEG_OK)
        st = cross_entropy_forward_cpu(ctx, xc, tc, ignore_index, (double)count, lse, *out);
    useg_scratch_rewind(ctx, mark);
    USEG_TRY(st);
    if (record) {
        useg_node *n = useg_record(ctx, USEG_OP_CROSS_ENTROPY, *out, &xc, 1);
        if (!n) return ctx->status;
        n->saved[0] = tc;
        n->saved[1] = lse;
        n->iarg[0] = ignore_index;
        n->farg[0] = (double)count;
    }
    return USEG_OK;
}

USEG_BACKWARD(cross_entropy) {
    useg_tensor *x = node->in[0], *dx;
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    const useg_tensor *target = node->saved[0], *lse = node->saved[1], *g = node->out->grad;
    if (useg_numel(x) > 0) {
        if (x->device == USEG_DEVICE_CUDA)
            USEG_TRY(USEG_CUDA_CALL(ctx, "cross_entropy", cross_entropy_backward, x, target, node->iarg[0],
                                    node->farg[0], lse, g, dx));
        else
            cross_entropy_backward_cpu(x, target, node->iarg[0], node->farg[0], lse, g, dx);
    }
    return useg_accumulate_grad(ctx, x, dx);
}

// --- BCE with logits and sigmoid focal loss ------------------------------------------------

// The focal loss of one element (logit x, target t) and, when dx is non-NULL,
// its derivatives in x and t. gamma 0 with alpha < 0 is exactly BCE with logits.
static double focal_term(double x, double t, double alpha, double gamma, double *dx, double *dt) {
    double p = sigmoid_of(x);
    double ce = fmax(x, 0) - x * t + log1p(exp(-fabs(x)));
    double q = 1 - (p * t + (1 - p) * (1 - t)); // 1 - p_t
    double mod = gamma == 0 ? 1 : pow(q, gamma);
    double at = alpha >= 0 ? alpha * t + (1 - alpha) * (1 - t) : 1;
    if (dx) {
        // d mod / d q as PyTorch's pow backward takes it: 0 when gamma is 0.
        double dmod = gamma == 0 ? 0 : gamma * pow(q, gamma - 1);
        *dx = at * ((p - t) * mod + ce * dmod * p * (1 - p) * (1 - 2 * t));
        *dt = at * (-x * mod + ce * dmod * (1 - 2 * p)) + (alpha >= 0 ? (2 * alpha - 1) * ce * mod : 0);
    }
    return at * ce * mod;
}

// out = the mean of focal_term over x, t (contiguous, n elements), summed in fixed chunks.
static useg_status focal_forward_cpu(useg_ctx *ctx, const useg_tensor *x, const useg_tensor *t, double alpha,
                                     double gamma, useg_tensor *out) {
    int64_t n = useg_numel(x), chunks = (n + LOSS_CHUNK - 1) / LOSS_CHUNK;
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    double *partial;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(chunks + 1) * sizeof(double), (void **)&partial));
    bool parallel = n > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Tg = t->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t ch = 0; ch < chunks; ch++) {
            int64_t end = (ch + 1) * LOSS_CHUNK < n ? (ch + 1) * LOSS_CHUNK : n;
            double s = 0;
            for (int64_t i = ch * LOSS_CHUNK; i < end; i++) s += focal_term(X[i], Tg[i], alpha, gamma, NULL, NULL);
            partial[ch] = s;
        }
    });
    double total = 0;
    for (int64_t ch = 0; ch < chunks; ch++) total += partial[ch];
    useg_arena_rewind(&ctx->scratch, mark);
    useg_set_flat(out, 0, total / (double)n); // n 0: NaN, as torch's mean
    return USEG_OK;
}

// dx, dt (either may be NULL) = g / n * the derivatives of focal_term; g the 0-d upstream gradient.
static void focal_backward_cpu(const useg_tensor *x, const useg_tensor *t, double alpha, double gamma,
                               const useg_tensor *g, useg_tensor *dx, useg_tensor *dt) {
    int64_t n = useg_numel(x);
    double scale = useg_get_flat(g, 0) / (double)n;
    bool parallel = n > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Tg = t->data;
        T *DX = dx ? dx->data : NULL, *DT = dt ? dt->data : NULL;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t i = 0; i < n; i++) {
            double gx, gt;
            focal_term(X[i], Tg[i], alpha, gamma, &gx, &gt);
            if (DX) DX[i] = (T)(scale * gx);
            if (DT) DT[i] = (T)(scale * gt);
        }
    });
}

static useg_status focal_common(useg_ctx *ctx, useg_op op, const char *name, useg_tensor *logits,
                                useg_tensor *target, double alpha, double gamma, useg_tensor **out) {
    USEG_TRY(check_float_target(ctx, name, logits, target));
    useg_tensor *in[2];
    USEG_TRY(useg_contiguous(ctx, logits, &in[0]));
    USEG_TRY(useg_contiguous(ctx, target, &in[1]));
    USEG_TRY(scalar_like(ctx, logits, out));
    if (logits->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, name, focal_forward, in[0], in[1], alpha, gamma, *out));
    else
        USEG_TRY(focal_forward_cpu(ctx, in[0], in[1], alpha, gamma, *out));
    if (useg_needs_grad(ctx, in, 2)) {
        useg_node *node = useg_record(ctx, op, *out, in, 2);
        if (!node) return ctx->status;
        node->farg[0] = alpha;
        node->farg[1] = gamma;
    }
    return USEG_OK;
}

static useg_status focal_backward(useg_ctx *ctx, const char *name, const useg_node *node) {
    useg_tensor *x = node->in[0], *t = node->in[1], *dx = NULL, *dt = NULL;
    if (x->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    if (t->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, t->device, t->dtype, t->ndim, t->shape, &dt));
    if (x->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, name, focal_backward, x, t, node->farg[0], node->farg[1], node->out->grad, dx, dt));
    else
        focal_backward_cpu(x, t, node->farg[0], node->farg[1], node->out->grad, dx, dt);
    if (dx) USEG_TRY(useg_accumulate_grad(ctx, x, dx));
    if (dt) USEG_TRY(useg_accumulate_grad(ctx, t, dt));
    return USEG_OK;
}

useg_status useg_bce_with_logits(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, useg_tensor **out) {
    return focal_common(ctx, USEG_OP_BCE_WITH_LOGITS, "bce_with_logits", logits, target, -1.0, 0.0, out);
}

useg_status useg_focal_loss(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, double alpha, double gamma,
                            useg_tensor **out) {
    if (!(alpha <= 1) || !(gamma >= 0 && isfinite(gamma)))
        return useg_fail(ctx, USEG_ERR_INVALID_ARG,
                         "focal_loss: alpha %g must be <= 1 (< 0 disables it) and gamma %g finite and >= 0", alpha,
                         gamma);
    return focal_common(ctx, USEG_OP_FOCAL_LOSS, "focal_loss", logits, target, alpha, gamma, out);
}

USEG_BACKWARD(bce_with_logits) { return focal_backward(ctx, "bce_with_logits", node); }
USEG_BACKWARD(focal_loss) { return focal_backward(ctx, "focal_loss", node); }

// --- Dice ------------------------------------------------------------------------------------

// Rows of x, t (N, L): stats (N, 2) f64, stats[2n] = 2 sum(p t) + 1,
// stats[2n + 1] = sum(p) + sum(t) + 1; out = the mean over rows of 1 - A / B.
static void dice_forward_cpu(const useg_tensor *x, const useg_tensor *t, useg_tensor *stats_t, useg_tensor *out) {
    int64_t N = x->shape[0], L = N ? useg_numel(x) / N : 0;
    double *stats = stats_t->data;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Tg = t->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < N; r++) {
            double inter = 0, sum = 0;
            for (int64_t i = r * L; i < (r + 1) * L; i++) {
                double p = sigmoid_of(X[i]);
                inter += p * Tg[i];
                sum += p + Tg[i];
            }
            stats[2 * r] = 2 * inter + 1;
            stats[2 * r + 1] = sum + 1;
        }
    });
    double total = 0;
    for (int64_t r = 0; r < N; r++) total += 1 - stats[2 * r] / stats[2 * r + 1];
    useg_set_flat(out, 0, total / (double)N); // N 0: NaN
}

// With A, B the row's stats: d loss / d p = -(2 t B - A) / B^2, d loss / d t = -(2 p B - A) / B^2,
// times g / N (g the 0-d upstream gradient).
static void dice_backward_cpu(const useg_tensor *x, const useg_tensor *t, const useg_tensor *stats_t,
                              const useg_tensor *g, useg_tensor *dx, useg_tensor *dt) {
    int64_t N = x->shape[0], L = N ? useg_numel(x) / N : 0;
    const double *stats = stats_t->data;
    double scale = useg_get_flat(g, 0) / (double)N;
    bool parallel = useg_numel(x) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Tg = t->data;
        T *DX = dx ? dx->data : NULL, *DT = dt ? dt->data : NULL;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t r = 0; r < N; r++) {
            double A = stats[2 * r], B = stats[2 * r + 1], k = -scale / (B * B);
            for (int64_t i = r * L; i < (r + 1) * L; i++) {
                double p = sigmoid_of(X[i]);
                if (DX) DX[i] = (T)(k * (2 * Tg[i] * B - A) * p * (1 - p));
                if (DT) DT[i] = (T)(k * (2 * p * B - A));
            }
        }
    });
}

useg_status useg_dice_loss(useg_ctx *ctx, useg_tensor *logits, useg_tensor *target, useg_tensor **out) {
    USEG_TRY(check_float_target(ctx, "dice_loss", logits, target));
    if (logits->ndim < 2) {
        char a[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "dice_loss: logits %s must be (N, ...) with at least two axes",
                         useg_shape_str(logits, a, sizeof a));
    }
    useg_tensor *in[2], *stats;
    USEG_TRY(useg_contiguous(ctx, logits, &in[0]));
    USEG_TRY(useg_contiguous(ctx, target, &in[1]));
    bool cuda = logits->device == USEG_DEVICE_CUDA;
    USEG_TRY(useg_empty_on(ctx, NULL, logits->device, cuda ? USEG_F32 : USEG_F64, 2,
                           (int64_t[2]){logits->shape[0], 2}, &stats));
    USEG_TRY(scalar_like(ctx, logits, out));
    if (cuda) USEG_TRY(USEG_CUDA_CALL(ctx, "dice_loss", dice_forward, in[0], in[1], stats, *out));
    else dice_forward_cpu(in[0], in[1], stats, *out);
    if (useg_needs_grad(ctx, in, 2)) {
        useg_node *node = useg_record(ctx, USEG_OP_DICE_LOSS, *out, in, 2);
        if (!node) return ctx->status;
        node->saved[0] = stats;
    }
    return USEG_OK;
}

USEG_BACKWARD(dice_loss) {
    useg_tensor *x = node->in[0], *t = node->in[1], *dx = NULL, *dt = NULL;
    if (x->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    if (t->requires_grad) USEG_TRY(useg_empty_on(ctx, NULL, t->device, t->dtype, t->ndim, t->shape, &dt));
    if (x->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, "dice_loss", dice_backward, x, t, node->saved[0], node->out->grad, dx, dt));
    else
        dice_backward_cpu(x, t, node->saved[0], node->out->grad, dx, dt);
    if (dx) USEG_TRY(useg_accumulate_grad(ctx, x, dx));
    if (dt) USEG_TRY(useg_accumulate_grad(ctx, t, dt));
    return USEG_OK;
}
