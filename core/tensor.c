// Tensor creation, element access, views and copies, with the views' backward.
#include "tensor.h"

#include <math.h>
#include <string.h>

#include "context.h"
#include "device.h"
#include "half.h"
#include "ops.h"
#include "op_internal.h"
#include "strided.h"

static const struct {
    const char *name;
    size_t size;
} dtype_info[] = {
    [USEG_F32] = {"f32", 4}, [USEG_F64] = {"f64", 8}, [USEG_F16] = {"f16", 2}, [USEG_BF16] = {"bf16", 2},
    [USEG_I32] = {"i32", 4}, [USEG_I64] = {"i64", 8}, [USEG_U8] = {"u8", 1},
};
_Static_assert(sizeof dtype_info / sizeof dtype_info[0] == USEG_DTYPE_COUNT, "describe every dtype");

size_t useg_dtype_size(useg_dtype dt) { return dtype_info[dt].size; }
const char *useg_dtype_name(useg_dtype dt) { return dtype_info[dt].name; }
bool useg_dtype_is_float(useg_dtype dt) { return dt == USEG_F32 || dt == USEG_F64; }

int64_t useg_numel(const useg_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

bool useg_is_contiguous(const useg_tensor *t) {
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->strides[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

bool useg_same_shape(const useg_tensor *a, const useg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

const char *useg_shape_str(const useg_tensor *t, char *buf, size_t len) {
    size_t n = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < t->ndim && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (n < len) snprintf(buf + n, len - n, ") %s", useg_dtype_name(t->dtype));
    return buf;
}

void useg_set_contiguous_strides(useg_tensor *t) {
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        t->strides[d] = s;
        s *= t->shape[d];
    }
}

// A tensor struct in the step arena describing `x`'s storage (a view).
static useg_status view_of(useg_ctx *ctx, useg_tensor *x, useg_tensor **out) {
    void *mem;
    USEG_TRY(useg_alloc(ctx, &ctx->step, sizeof(useg_tensor), &mem));
    useg_tensor *v = mem;
    *v = *x;
    v->base = x->base ? x->base : x;
    v->requires_grad = false;
    v->grad = NULL;
    *out = v;
    return USEG_OK;
}

useg_status useg_check_shape(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, size_t *bytes) {
    if (ndim < 0 || ndim > USEG_MAX_DIMS)
        return useg_fail(ctx, USEG_ERR_SHAPE, "tensor rank %d outside 0..%d", ndim, USEG_MAX_DIMS);
    size_t n = useg_dtype_size(dt);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) return useg_fail(ctx, USEG_ERR_SHAPE, "negative size %lld in axis %d", (long long)shape[d], d);
        if (shape[d] && n > SIZE_MAX / 2 / (size_t)shape[d])
            return useg_fail(ctx, USEG_ERR_OUT_OF_MEMORY, "tensor too large to address");
        n *= (size_t)shape[d];
    }
    *bytes = n;
    return USEG_OK;
}

useg_status useg_empty(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                       useg_tensor **out) {
    size_t bytes;
    USEG_TRY(useg_check_shape(ctx, dt, ndim, shape, &bytes));
    if (!a) a = &ctx->step;
    void *mem, *data;
    USEG_TRY(useg_alloc(ctx, a, sizeof(useg_tensor), &mem));
    USEG_TRY(useg_alloc(ctx, a, bytes, &data));
    useg_tensor *t = mem;
    *t = (useg_tensor){.dtype = dt, .device = USEG_DEVICE_CPU, .ndim = ndim, .data = data};
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    useg_set_contiguous_strides(t);
    *out = t;
    return USEG_OK;
}

useg_status useg_zeros(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                       useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, a, dt, ndim, shape, out));
    memset((*out)->data, 0, (size_t)useg_numel(*out) * useg_dtype_size(dt));
    return USEG_OK;
}

useg_status useg_full(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                      double value, useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, a, dt, ndim, shape, out));
    int64_t n = useg_numel(*out);
    for (int64_t i = 0; i < n; i++) useg_set_flat(*out, i, value);
    return USEG_OK;
}

useg_status useg_rand_uniform(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                              double lo, double hi, useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, a, dt, ndim, shape, out));
    int64_t n = useg_numel(*out);
    for (int64_t i = 0; i < n; i++) useg_set_flat(*out, i, lo + (hi - lo) * useg_rng_uniform(&ctx->rng));
    return USEG_OK;
}

useg_status useg_rand_normal(useg_ctx *ctx, useg_arena *a, useg_dtype dt, int ndim, const int64_t *shape,
                             double mean, double std, useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, a, dt, ndim, shape, out));
    int64_t n = useg_numel(*out);
    for (int64_t i = 0; i < n; i++) useg_set_flat(*out, i, mean + std * useg_rng_normal(&ctx->rng));
    return USEG_OK;
}

useg_status useg_wrap(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, void *data,
                      useg_tensor **out) {
    size_t bytes;
    USEG_TRY(useg_check_shape(ctx, dt, ndim, shape, &bytes));
    void *mem;
    USEG_TRY(useg_alloc(ctx, &ctx->step, sizeof(useg_tensor), &mem));
    useg_tensor *t = mem;
    *t = (useg_tensor){.dtype = dt, .device = USEG_DEVICE_CPU, .ndim = ndim, .data = data};
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    useg_set_contiguous_strides(t);
    *out = t;
    return USEG_OK;
}

// --- Element access ------------------------------------------------------------

static int64_t flat_to_offset(const useg_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (i % t->shape[d]) * t->strides[d];
        i /= t->shape[d];
    }
    return off;
}

static double load(useg_dtype dt, const void *p, int64_t off) {
    switch (dt) {
    case USEG_F32: return ((const float *)p)[off];
    case USEG_F64: return ((const double *)p)[off];
    case USEG_F16: return useg_f16_to_f32(((const uint16_t *)p)[off]);
    case USEG_BF16: return useg_bf16_to_f32(((const uint16_t *)p)[off]);
    case USEG_I32: return ((const int32_t *)p)[off];
    case USEG_I64: return (double)((const int64_t *)p)[off];
    case USEG_U8: return ((const uint8_t *)p)[off];
    case USEG_DTYPE_COUNT: break;
    }
    USEG_ASSERT(0, "bad dtype %d", dt);
    return 0;
}

static void store(useg_dtype dt, void *p, int64_t off, double v) {
    switch (dt) {
    case USEG_F32: ((float *)p)[off] = (float)v; return;
    case USEG_F64: ((double *)p)[off] = v; return;
    case USEG_F16: ((uint16_t *)p)[off] = useg_f32_to_f16((float)v); return;
    case USEG_BF16: ((uint16_t *)p)[off] = useg_f32_to_bf16((float)v); return;
    case USEG_I32: ((int32_t *)p)[off] = (int32_t)v; return;
    case USEG_I64: ((int64_t *)p)[off] = (int64_t)v; return;
    case USEG_U8: ((uint8_t *)p)[off] = (uint8_t)v; return;
    case USEG_DTYPE_COUNT: break;
    }
    USEG_ASSERT(0, "bad dtype %d", dt);
}

double useg_get_flat(const useg_tensor *t, int64_t i) {
    USEG_ASSERT(t->device == USEG_DEVICE_CPU, "element access on a device tensor");
    return load(t->dtype, t->data, flat_to_offset(t, i));
}

void useg_set_flat(useg_tensor *t, int64_t i, double v) {
    USEG_ASSERT(t->device == USEG_DEVICE_CPU, "element access on a device tensor");
    store(t->dtype, t->data, flat_to_offset(t, i), v);
}

// --- Copies ----------------------------------------------------------------------

useg_status useg_copy_into(useg_ctx *ctx, useg_tensor *dst, const useg_tensor *src) {
    if (!useg_same_shape(dst, src)) {
        char a[96], b[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "copy: destination %s and source %s differ in shape",
                         useg_shape_str(dst, a, sizeof a), useg_shape_str(src, b, sizeof b));
    }
    if (dst->device != USEG_DEVICE_CPU || src->device != USEG_DEVICE_CPU) return useg_copy_device(ctx, dst, src);
    if (useg_numel(dst) == 0) return USEG_OK;
    const int64_t *strides[2] = {dst->strides, src->strides};
    useg_iter it;
    useg_iter_init(&it, dst->ndim, dst->shape, 2, strides);
    size_t esize = useg_dtype_size(dst->dtype);
    bool plain = dst->dtype == src->dtype && it.inner_stride[0] == 1 && it.inner_stride[1] == 1;
    for (int64_t r = 0; r < it.rows; r++, useg_iter_next(&it)) {
        if (plain) {
            memcpy((char *)dst->data + it.offset[0] * (int64_t)esize,
                   (const char *)src->data + it.offset[1] * (int64_t)esize, (size_t)it.inner * esize);
        } else if (dst->dtype == USEG_F32 && src->dtype == USEG_F32) {
            float *d = (float *)dst->data + it.offset[0];
            const float *s = (const float *)src->data + it.offset[1];
            for (int64_t i = 0; i < it.inner; i++) d[i * it.inner_stride[0]] = s[i * it.inner_stride[1]];
        } else {
            for (int64_t i = 0; i < it.inner; i++)
                store(dst->dtype, dst->data, it.offset[0] + i * it.inner_stride[0],
                      load(src->dtype, src->data, it.offset[1] + i * it.inner_stride[1]));
        }
    }
    return USEG_OK;
}

useg_status useg_contiguous(useg_ctx *ctx, useg_tensor *x, useg_tensor **out) {
    if (useg_is_contiguous(x)) {
        *out = x;
        return USEG_OK;
    }
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, out));
    USEG_TRY(useg_copy_into(ctx, *out, x));
    if (useg_needs_grad(ctx, &x, 1) && !useg_record(ctx, USEG_OP_COPY, *out, &x, 1)) return ctx->status;
    return USEG_OK;
}

useg_status useg_cast(useg_ctx *ctx, useg_tensor *x, useg_dtype dt, useg_tensor **out) {
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, dt, x->ndim, x->shape, out));
    USEG_TRY(useg_copy_into(ctx, *out, x));
    if (useg_dtype_is_float(x->dtype) && useg_dtype_is_float(dt) && useg_needs_grad(ctx, &x, 1) &&
        !useg_record(ctx, USEG_OP_CAST, *out, &x, 1))
        return ctx->status;
    return USEG_OK;
}

// --- Views -------------------------------------------------------------------------

static int normalize_axis(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

useg_status useg_reshape(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out) {
    if (ndim < 0 || ndim > USEG_MAX_DIMS)
        return useg_fail(ctx, USEG_ERR_SHAPE, "reshape: rank %d outside 0..%d", ndim, USEG_MAX_DIMS);
    int64_t sizes[USEG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        sizes[d] = shape[d];
        if (shape[d] == -1) {
            if (infer >= 0) return useg_fail(ctx, USEG_ERR_SHAPE, "reshape: more than one -1 in the shape");
            infer = d;
        } else if (shape[d] < 0) {
            return useg_fail(ctx, USEG_ERR_SHAPE, "reshape: negative size %lld", (long long)shape[d]);
        } else {
            known *= shape[d];
        }
    }
    int64_t n = useg_numel(x);
    if (infer >= 0) {
        if (known == 0 || n % known)
            return useg_fail(ctx, USEG_ERR_SHAPE, "reshape: cannot infer -1 for %lld elements", (long long)n);
        sizes[infer] = n / known;
        known *= sizes[infer];
    }
    if (known != n) {
        char a[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "reshape: %s has %lld elements, the new shape %lld",
                         useg_shape_str(x, a, sizeof a), (long long)n, (long long)known);
    }
    useg_tensor *src;
    USEG_TRY(useg_contiguous(ctx, x, &src));
    USEG_TRY(view_of(ctx, src, out));
    (*out)->ndim = ndim;
    memcpy((*out)->shape, sizes, (size_t)ndim * sizeof(int64_t));
    useg_set_contiguous_strides(*out);
    if (useg_needs_grad(ctx, &src, 1) && !useg_record(ctx, USEG_OP_RESHAPE, *out, &src, 1)) return ctx->status;
    return USEG_OK;
}

useg_status useg_permute(useg_ctx *ctx, useg_tensor *x, const int *perm, useg_tensor **out) {
    bool seen[USEG_MAX_DIMS] = {0};
    for (int d = 0; d < x->ndim; d++) {
        int p = perm[d];
        if (p < 0 || p >= x->ndim || seen[p])
            return useg_fail(ctx, USEG_ERR_SHAPE, "permute: axis order is not a permutation of 0..%d", x->ndim - 1);
        seen[p] = true;
    }
    USEG_TRY(view_of(ctx, x, out));
    for (int d = 0; d < x->ndim; d++) {
        (*out)->shape[d] = x->shape[perm[d]];
        (*out)->strides[d] = x->strides[perm[d]];
    }
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, USEG_OP_PERMUTE, *out, &x, 1);
        if (!n) return ctx->status;
        for (int d = 0; d < x->ndim; d++) n->iarg[d] = perm[d];
    }
    return USEG_OK;
}

useg_status useg_transpose(useg_ctx *ctx, useg_tensor *x, int axis0, int axis1, useg_tensor **out) {
    axis0 = normalize_axis(axis0, x->ndim);
    axis1 = normalize_axis(axis1, x->ndim);
    if (axis0 < 0 || axis0 >= x->ndim || axis1 < 0 || axis1 >= x->ndim)
        return useg_fail(ctx, USEG_ERR_SHAPE, "transpose: axes out of range for rank %d", x->ndim);
    int perm[USEG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) perm[d] = d;
    perm[axis0] = axis1;
    perm[axis1] = axis0;
    return useg_permute(ctx, x, perm, out);
}

useg_status useg_slice(useg_ctx *ctx, useg_tensor *x, int axis, int64_t start, int64_t stop, int64_t step,
                       useg_tensor **out) {
    axis = normalize_axis(axis, x->ndim);
    if (axis < 0 || axis >= x->ndim)
        return useg_fail(ctx, USEG_ERR_SHAPE, "slice: axis out of range for rank %d", x->ndim);
    int64_t size = x->shape[axis];
    if (step <= 0 || start < 0 || stop < start || stop > size)
        return useg_fail(ctx, USEG_ERR_SHAPE, "slice: [%lld:%lld:%lld] out of range for axis %d of size %lld",
                         (long long)start, (long long)stop, (long long)step, axis, (long long)size);
    USEG_TRY(view_of(ctx, x, out));
    (*out)->shape[axis] = (stop - start + step - 1) / step;
    (*out)->strides[axis] = x->strides[axis] * step;
    if (size > 0) (*out)->data = (char *)x->data + start * x->strides[axis] * (int64_t)useg_dtype_size(x->dtype);
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, USEG_OP_SLICE, *out, &x, 1);
        if (!n) return ctx->status;
        n->iarg[0] = axis;
        n->iarg[1] = start;
        n->iarg[2] = step;
    }
    return USEG_OK;
}

useg_status useg_expand(useg_ctx *ctx, useg_tensor *x, int ndim, const int64_t *shape, useg_tensor **out) {
    if (ndim < x->ndim || ndim > USEG_MAX_DIMS)
        return useg_fail(ctx, USEG_ERR_SHAPE, "expand: rank %d cannot hold a rank-%d tensor", ndim, x->ndim);
    USEG_TRY(view_of(ctx, x, out));
    useg_tensor *v = *out;
    v->ndim = ndim;
    int lead = ndim - x->ndim;
    for (int d = 0; d < ndim; d++) {
        int64_t have = d < lead ? 1 : x->shape[d - lead];
        int64_t stride = d < lead ? 0 : x->strides[d - lead];
        if (have != shape[d] && have != 1) {
            char a[96];
            return useg_fail(ctx, USEG_ERR_SHAPE, "expand: %s cannot broadcast to size %lld in axis %d",
                             useg_shape_str(x, a, sizeof a), (long long)shape[d], d);
        }
        v->shape[d] = shape[d];
        v->strides[d] = have == shape[d] ? stride : 0;
    }
    if (useg_needs_grad(ctx, &x, 1) && !useg_record(ctx, USEG_OP_EXPAND, *out, &x, 1)) return ctx->status;
    return USEG_OK;
}

// --- Backward of the views and copies ------------------------------------------------
// Each receives node->out->grad (contiguous, out's shape) and accumulates into the input.

useg_status useg_reshape_backward(useg_ctx *ctx, const useg_node *n) {
    useg_tensor *in = n->in[0], *g;
    // The gradient is contiguous, so this is a view (and backward records nothing).
    USEG_TRY(useg_reshape(ctx, n->out->grad, in->ndim, in->shape, &g));
    return useg_accumulate_grad(ctx, in, g);
}

useg_status useg_permute_backward(useg_ctx *ctx, const useg_node *n) {
    useg_tensor *in = n->in[0], *g;
    USEG_TRY(view_of(ctx, n->out->grad, &g));
    // g viewed back in the input's axis order: axis perm[d] of the input is axis d of out.
    for (int d = 0; d < in->ndim; d++) {
        g->shape[n->iarg[d]] = n->out->grad->shape[d];
        g->strides[n->iarg[d]] = n->out->grad->strides[d];
    }
    return useg_accumulate_grad(ctx, in, g);
}

useg_status useg_slice_backward(useg_ctx *ctx, const useg_node *n) {
    useg_tensor *in = n->in[0];
    if (!in->requires_grad) return USEG_OK;
    if (!in->grad) USEG_TRY(useg_zeros_on(ctx, NULL, in->device, in->dtype, in->ndim, in->shape, &in->grad));
    // The sliced window of in->grad receives the gradient.
    useg_tensor window = *in->grad;
    int axis = (int)n->iarg[0];
    window.shape[axis] = n->out->shape[axis];
    window.strides[axis] = in->grad->strides[axis] * n->iarg[2];
    if (in->shape[axis] > 0)
        window.data = (char *)in->grad->data +
                      n->iarg[1] * in->grad->strides[axis] * (int64_t)useg_dtype_size(in->dtype);
    return useg_add_into(ctx, &window, n->out->grad);
}

useg_status useg_expand_backward(useg_ctx *ctx, const useg_node *n) {
    useg_tensor *g;
    USEG_TRY(useg_sum_to(ctx, n->out->grad, n->in[0]->ndim, n->in[0]->shape, &g));
    return useg_accumulate_grad(ctx, n->in[0], g);
}

useg_status useg_copy_backward(useg_ctx *ctx, const useg_node *n) {
    return useg_accumulate_grad(ctx, n->in[0], n->out->grad);
}

useg_status useg_cast_backward(useg_ctx *ctx, const useg_node *n) {
    useg_tensor *g;
    USEG_TRY(useg_cast(ctx, n->out->grad, n->in[0]->dtype, &g));
    return useg_accumulate_grad(ctx, n->in[0], g);
}

