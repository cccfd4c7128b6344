// Reductions: sum and mean over any set of axes, max and argmax over one axis,
// and sum_to (the adjoint of broadcasting).
//
// Sums accumulate in double, in a fixed element order, so results do not
// depend on the thread count. Max returns the first maximal element, as
// PyTorch does, and routes the gradient there. CUDA tensors run the kernels of
// the CUDA table (device.h), deterministic too (no float atomics).
#include <math.h>
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"
#include "strided.h"

// Output shape of reducing `x` over `mask`, with reduced axes kept as 1.
static void reduced_shape(const useg_tensor *x, unsigned mask, int64_t *shape) {
    for (int d = 0; d < x->ndim; d++) shape[d] = (mask >> d) & 1u ? 1 : x->shape[d];
}

static useg_status check_mask(useg_ctx *ctx, const char *op, const useg_tensor *x, unsigned *mask) {
    if (*mask == 0) *mask = x->ndim ? (1u << x->ndim) - 1u : 0u;
    if (x->ndim < 32 && (*mask >> x->ndim) != 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: axis mask 0x%x names axes beyond rank %d", op, *mask, x->ndim);
    return USEG_OK;
}

// Drop the reduced axes from a keepdim shape.
static int squeeze_shape(int ndim, const int64_t *shape, unsigned mask, int64_t *out) {
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (!((mask >> d) & 1u)) out[n++] = shape[d];
    return n;
}

// sum over mask of x into keep (keepdim shape, contiguous), times `factor`.
static useg_status sum_cpu(useg_ctx *ctx, const useg_tensor *x, unsigned mask, double factor, useg_tensor *keep) {
    int64_t n_out = useg_numel(keep), n_in = useg_numel(x);
    useg_arena_mark mark = useg_arena_get_mark(&ctx->scratch);
    double *acc;
    USEG_TRY(useg_alloc(ctx, &ctx->scratch, (size_t)(n_out ? n_out : 1) * sizeof(double), (void **)&acc));
    memset(acc, 0, (size_t)n_out * sizeof(double));
    if (n_in > 0) {
        int64_t out_strides[USEG_MAX_DIMS];
        for (int d = 0; d < x->ndim; d++) out_strides[d] = ((mask >> d) & 1u) ? 0 : keep->strides[d];
        const int64_t *strides[2] = {out_strides, x->strides};
        useg_iter it;
        useg_iter_init(&it, x->ndim, x->shape, 2, strides);
        USEG_FLOAT_DISPATCH(x->dtype, T, {
            const T *X = x->data;
            for (int64_t r = 0; r < it.rows; r++, useg_iter_next(&it)) {
                double *a = acc + it.offset[0];
                const T *p = X + it.offset[1];
                int64_t so = it.inner_stride[0], si = it.inner_stride[1];
                if (so == 0) {
                    double s = 0;
                    for (int64_t i = 0; i < it.inner; i++) s += p[i * si];
                    a[0] += s;
                } else {
                    for (int64_t i = 0; i < it.inner; i++) a[i * so] += p[i * si];
                }
            }
        });
    }
    USEG_FLOAT_DISPATCH(keep->dtype, T, {
        T *K = keep->data;
        for (int64_t i = 0; i < n_out; i++) K[i] = (T)(acc[i] * factor);
    });
    useg_arena_rewind(&ctx->scratch, mark);
    return USEG_OK;
}

static useg_status sum_or_mean(useg_ctx *ctx, bool mean, useg_tensor *x, unsigned mask, bool keepdim,
                               useg_tensor **out) {
    const char *name = mean ? "mean" : "sum";
    USEG_TRY(useg_check_float(ctx, name, x));
    USEG_TRY(check_mask(ctx, name, x, &mask));
    int64_t shape[USEG_MAX_DIMS], count = 1;
    reduced_shape(x, mask, shape);
    for (int d = 0; d < x->ndim; d++)
        if ((mask >> d) & 1u) count *= x->shape[d];
    useg_tensor *keep;
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, shape, &keep));
    double factor = mean ? (count ? 1.0 / (double)count : NAN) : 1.0;
    if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, name, sum, x, mask, factor, keep));
    else USEG_TRY(sum_cpu(ctx, x, mask, factor, keep));
    if (!keepdim) {
        keep->ndim = squeeze_shape(x->ndim, shape, mask, keep->shape);
        useg_set_contiguous_strides(keep);
    }
    *out = keep;
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, mean ? USEG_OP_MEAN : USEG_OP_SUM, keep, &x, 1);
        if (!n) return ctx->status;
        n->iarg[0] = mask;
        n->farg[0] = factor;
    }
    return USEG_OK;
}

useg_status useg_sum(useg_ctx *ctx, useg_tensor *x, unsigned axes_mask, bool keepdim, useg_tensor **out) {
    return sum_or_mean(ctx, false, x, axes_mask, keepdim, out);
}

useg_status useg_mean(useg_ctx *ctx, useg_tensor *x, unsigned axes_mask, bool keepdim, useg_tensor **out) {
    return sum_or_mean(ctx, true, x, axes_mask, keepdim, out);
}

// d x = factor * g broadcast back over the reduced axes.
static useg_status sum_backward_common(useg_ctx *ctx, const useg_node *node) {
    useg_tensor *x = node->in[0], *g = node->out->grad, *gk, *scaled;
    int64_t shape[USEG_MAX_DIMS];
    reduced_shape(x, (unsigned)node->iarg[0], shape);
    USEG_TRY(useg_reshape(ctx, g, x->ndim, shape, &gk)); // a view: g is contiguous
    if (node->farg[0] != 1.0) {
        USEG_TRY(useg_scale(ctx, gk, node->farg[0], 0.0, &scaled));
        gk = scaled;
    }
    useg_tensor *ge;
    USEG_TRY(useg_expand(ctx, gk, x->ndim, x->shape, &ge));
    return useg_accumulate_grad(ctx, x, ge);
}

USEG_BACKWARD(sum) { return sum_backward_common(ctx, node); }
USEG_BACKWARD(mean) { return sum_backward_common(ctx, node); }

useg_status useg_sum_to(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out) {
    if (ndim > x->ndim)
        return useg_fail(ctx, USEG_ERR_SHAPE, "sum_to: rank %d is larger than the input's %d", ndim, x->ndim);
    int lead = x->ndim - ndim;
    unsigned mask = 0;
    for (int d = 0; d < x->ndim; d++) {
        int64_t want = d < lead ? 1 : shape[d - lead];
        if (d < lead || (want == 1 && x->shape[d] != 1)) mask |= 1u << d;
        else if (want != x->shape[d]) {
            char a[96];
            return useg_fail(ctx, USEG_ERR_SHAPE, "sum_to: %s does not reduce to size %lld in axis %d",
                             useg_shape_str(x, a, sizeof a), (long long)want, d);
        }
    }
    if (mask == 0 && lead == 0) {
        *out = x;
        return USEG_OK;
    }
    useg_tensor *s;
    USEG_TRY(useg_sum(ctx, x, mask, true, &s));
    return useg_reshape(ctx, s, ndim, shape, out);
}

// --- Max / argmax over one axis -----------------------------------------------------------

void useg_split_around(const useg_tensor *x, int axis, int64_t *outer, int64_t *size, int64_t *inner) {
    *outer = *inner = 1;
    for (int d = 0; d < axis; d++) *outer *= x->shape[d];
    *size = x->shape[axis];
    for (int d = axis + 1; d < x->ndim; d++) *inner *= x->shape[d];
}

// First maximum along `axis` of contiguous x into values (may be NULL) and indices.
static void max_cpu(const useg_tensor *x, int axis, useg_tensor *values, useg_tensor *indices) {
    int64_t outer, size, inner;
    useg_split_around(x, axis, &outer, &size, &inner);
    int64_t *I = indices->data;
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *V = values ? values->data : NULL;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) {
                const T *p = X + o * size * inner + i;
                int64_t best = 0;
                T m = p[0];
                for (int64_t k = 1; k < size; k++) {
                    T v = p[k * inner];
                    // NaN wins, as in PyTorch; otherwise strictly greater keeps the first max.
                    if (!(m != m) && (v > m || v != v)) m = v, best = k;
                }
                I[o * inner + i] = best;
                if (V) V[o * inner + i] = m;
            }
    });
}

static useg_status max_common(useg_ctx *ctx, const char *name, useg_tensor *x, int axis, bool keepdim,
                              useg_tensor **values, useg_tensor **indices) {
    USEG_TRY(useg_check_float(ctx, name, x));
    USEG_TRY(useg_normalize_axis(ctx, name, axis, x->ndim, &axis));
    if (x->ndim == 0 || x->shape[axis] == 0)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: cannot reduce an empty axis", name);
    useg_tensor *xc;
    bool prev = useg_no_grad_begin(ctx);
    useg_status st = useg_contiguous(ctx, x, &xc);
    useg_no_grad_end(ctx, prev);
    USEG_TRY(st);
    int64_t shape[USEG_MAX_DIMS];
    reduced_shape(x, 1u << axis, shape);
    int ndim = x->ndim;
    if (!keepdim) ndim = squeeze_shape(x->ndim, shape, 1u << axis, shape);
    useg_tensor *idx, *val = NULL;
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, USEG_I64, ndim, shape, &idx));
    if (values) USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, ndim, shape, &val));
    if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, name, max, xc, axis, val, idx));
    else max_cpu(xc, axis, val, idx);
    if (indices) *indices = idx;
    if (values) {
        *values = val;
        if (useg_needs_grad(ctx, &x, 1)) {
            useg_node *n = useg_record(ctx, USEG_OP_MAX, val, &x, 1);
            if (!n) return ctx->status;
            n->saved[0] = idx;
            n->iarg[0] = axis;
        }
    }
    return USEG_OK;
}

useg_status useg_max(useg_ctx *ctx, useg_tensor *x, int axis, bool keepdim, useg_tensor **values,
                     useg_tensor **indices) {
    USEG_ASSERT(values, "useg_max needs a values output");
    return max_common(ctx, "max", x, axis, keepdim, values, indices);
}

useg_status useg_argmax(useg_ctx *ctx, useg_tensor *x, int axis, bool keepdim, useg_tensor **out) {
    return max_common(ctx, "argmax", x, axis, keepdim, NULL, out);
}

// dx (zeroed, contiguous) receives g at the saved indices along `axis`.
static void max_backward_cpu(const useg_tensor *g, const useg_tensor *indices, int axis, useg_tensor *dx) {
    int64_t outer, size, inner;
    useg_split_around(dx, axis, &outer, &size, &inner);
    const int64_t *I = indices->data;
    USEG_FLOAT_DISPATCH(dx->dtype, T, {
        T *D = dx->data;
        const T *G = g->data;
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < inner; i++) D[(o * size + I[o * inner + i]) * inner + i] = G[o * inner + i];
    });
}

USEG_BACKWARD(max) {
    useg_tensor *x = node->in[0], *g = node->out->grad, *dx;
    int axis = (int)node->iarg[0];
    USEG_TRY(useg_zeros_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    if (x->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, "max", max_backward, g, node->saved[0], axis, dx));
    else max_backward_cpu(g, node->saved[0], axis, dx);
    return useg_accumulate_grad(ctx, x, dx);
}
