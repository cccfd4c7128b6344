// Indexing ops: concat, split, gather and index_select, with their backward.
//
// These ops move data, so their forwards work on any dtype (label maps and
// lookup tables are integer tensors); only float inputs carry gradients.
//
// concat copies each input into its window of the output (any strides). A
// tape node holds at most USEG_NODE_MAX_INPUTS inputs, so concat of n inputs
// records ceil(n / 4) nodes over the same output, each owning a group of up to
// four inputs and their offsets along the axis (in iarg). Each node's backward
// hands its own inputs their windows of the output's gradient, independently
// of the other nodes, so the tape and the fixed-size node stay as they are
// (no per-op list allocation) and n is unbounded. split is a list of slices:
// its gradient is the slice's.
//
// gather and index_select share one kernel: index_select(x, axis, idx) is
// gather with idx viewed as (1, ..., n, ..., 1) and expanded to the output's
// shape (stride 0, no copy). Every index is checked against the axis size
// before any access (an out-of-range index is a shape error naming it). The
// backward scatter-adds the gradient into a zeroed dx in a fixed order: each
// destination receives its contributions in ascending output order whatever
// the thread count, because threads own disjoint destinations (rows when the
// axis is the last one, column blocks otherwise). No float atomics.
//
// Checked against PyTorch 1.13 (tests/core/torch_index.py: forward and
// backward bit-identical on every case, threaded paths included) and f64
// finite differences (tests/core/test_gradcheck_index.c); the backward is
// checked bit-identical across thread counts.
//
// CUDA tensors: concat and split are copies and views, which run on the GPU
// already; gather, its index check and the scatter-add run the twins of the
// CPU kernels through the CUDA table (device.h; kernels/cuda/index.cu), in
// the same order per destination, so f32 gradients match the CPU's bits.
#include <omp.h>
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"
#include "strided.h"

// The argument checks every op here starts with: a tensor of rank >= 1 and an
// axis inside it.
static useg_status check_input(useg_ctx *ctx, const char *op, const useg_tensor *x, int *axis) {
    if (x->ndim == 0) return useg_fail(ctx, USEG_ERR_SHAPE, "%s: needs a tensor of rank >= 1, got a 0-d one", op);
    return useg_normalize_axis(ctx, op, *axis, x->ndim, axis);
}

// --- concat / split ------------------------------------------------------------------

enum { CONCAT_GROUP = USEG_NODE_MAX_INPUTS };
_Static_assert(1 + CONCAT_GROUP <= USEG_MAX_DIMS + 2, "a concat node keeps the axis and one offset per input");

// The window of `t` (out or its gradient) that input k of a concat covers:
// `size` entries from `offset` along `axis`.
static useg_tensor concat_window(const useg_tensor *t, int axis, int64_t offset, int64_t size) {
    useg_tensor w = *t;
    w.shape[axis] = size;
    w.data = (char *)t->data + offset * t->strides[axis] * (int64_t)useg_dtype_size(t->dtype);
    return w;
}

useg_status useg_concat(useg_ctx *ctx, useg_tensor **xs, int n, int axis, useg_tensor **out) {
    if (n < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "concat: needs at least one input, got %d", n);
    USEG_TRY(check_input(ctx, "concat", xs[0], &axis));
    const useg_tensor *x0 = xs[0];
    int64_t shape[USEG_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof shape);
    shape[axis] = 0;
    for (int k = 0; k < n; k++) {
        const useg_tensor *x = xs[k];
        USEG_TRY(useg_check_same_device(ctx, "concat", x0, x));
        bool fits = x->ndim == x0->ndim && x->dtype == x0->dtype;
        for (int d = 0; d < x0->ndim && fits; d++) fits = d == axis || x->shape[d] == x0->shape[d];
        if (!fits) {
            char a[96], b[96];
            return useg_fail(ctx, USEG_ERR_SHAPE, "concat: input %d %s does not fit input 0 %s along axis %d", k,
                             useg_shape_str(x, a, sizeof a), useg_shape_str(x0, b, sizeof b), axis);
        }
        shape[axis] += x->shape[axis];
    }
    USEG_TRY(useg_empty_on(ctx, NULL, x0->device, x0->dtype, x0->ndim, shape, out));
    int64_t offset = 0;
    for (int k = 0; k < n; k++) {
        useg_tensor window = concat_window(*out, axis, offset, xs[k]->shape[axis]);
        USEG_TRY(useg_copy_into(ctx, &window, xs[k]));
        offset += xs[k]->shape[axis];
    }
    // One node per group of inputs that needs a gradient (see the file comment).
    offset = 0;
    for (int g = 0; g < n; g += CONCAT_GROUP) {
        int m = n - g < CONCAT_GROUP ? n - g : CONCAT_GROUP;
        useg_node *node = NULL;
        if (useg_needs_grad(ctx, xs + g, m) && !(node = useg_record(ctx, USEG_OP_CONCAT, *out, xs + g, m)))
            return ctx->status;
        if (node) node->iarg[0] = axis;
        for (int k = 0; k < m; k++) {
            if (node) node->iarg[1 + k] = offset;
            offset += xs[g + k]->shape[axis];
        }
    }
    return USEG_OK;
}

USEG_BACKWARD(concat) {
    int axis = (int)node->iarg[0];
    for (int k = 0; k < node->n_in; k++) {
        useg_tensor *x = node->in[k];
        useg_tensor window = concat_window(node->out->grad, axis, node->iarg[1 + k], x->shape[axis]);
        USEG_TRY(useg_accumulate_grad(ctx, x, &window));
    }
    return USEG_OK;
}

useg_status useg_split(useg_ctx *ctx, useg_tensor *x, int axis, const int64_t *sizes, int n, useg_tensor **outs) {
    if (n < 1) return useg_fail(ctx, USEG_ERR_INVALID_ARG, "split: needs at least one piece, got %d", n);
    USEG_TRY(check_input(ctx, "split", x, &axis));
    int64_t size = x->shape[axis], total = 0;
    for (int k = 0; k < n; k++) {
        if (sizes[k] < 0 || sizes[k] > size - total) {
            char a[96];
            return useg_fail(ctx, USEG_ERR_SHAPE, "split: piece %d of size %lld does not fit axis %d of %s", k,
                             (long long)sizes[k], axis, useg_shape_str(x, a, sizeof a));
        }
        total += sizes[k];
    }
    if (total != size)
        return useg_fail(ctx, USEG_ERR_SHAPE, "split: the sizes sum to %lld, axis %d has size %lld", (long long)total,
                         axis, (long long)size);
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        USEG_TRY(useg_slice(ctx, x, axis, start, start + sizes[k], 1, &outs[k]));
        start += sizes[k];
    }
    return USEG_OK;
}

// --- gather / index_select --------------------------------------------------------------

// Every entry of `index` (i64, any strides) lies in [0, size); otherwise a shape
// error naming the first offending value. On a GPU the check runs there and
// waits for it.
static useg_status check_index_range(useg_ctx *ctx, const char *op, const useg_tensor *index, int axis,
                                     int64_t size) {
    if (useg_numel(index) == 0) return USEG_OK;
    if (index->device == USEG_DEVICE_CUDA) {
        int64_t first_bad, value, counted;
        USEG_TRY(USEG_CUDA_CALL(ctx, op, find_bad_index, index, size, NULL, &first_bad, &value, &counted));
        if (first_bad >= 0)
            return useg_fail(ctx, USEG_ERR_SHAPE, "%s: index %lld out of range for axis %d of size %lld", op,
                             (long long)value, axis, (long long)size);
        return USEG_OK;
    }
    const int64_t *strides[1] = {index->strides};
    useg_iter it;
    useg_iter_init(&it, index->ndim, index->shape, 1, strides);
    const int64_t *I = index->data;
    for (int64_t r = 0; r < it.rows; r++, useg_iter_next(&it))
        for (int64_t i = 0; i < it.inner; i++) {
            int64_t v = I[it.offset[0] + i * it.inner_stride[0]];
            if (v < 0 || v >= size)
                return useg_fail(ctx, USEG_ERR_SHAPE, "%s: index %lld out of range for axis %d of size %lld", op,
                                 (long long)v, axis, (long long)size);
        }
    return USEG_OK;
}

// An i64 index on x's device.
static useg_status check_index_dtype(useg_ctx *ctx, const char *op, const useg_tensor *x, const useg_tensor *index) {
    USEG_TRY(useg_check_same_device(ctx, op, x, index));
    if (index->dtype != USEG_I64)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: index must be i64, got %s", op, useg_dtype_name(index->dtype));
    return USEG_OK;
}

// A row walk over `dense`'s shape (out, or the gradient) with three operands:
// dense, index and x (or dx) with x's axis stride zeroed, as the kernels add
// index * stride themselves.
static void gather_iter_init(useg_iter *it, const useg_tensor *dense, const useg_tensor *index,
                             const useg_tensor *x, int axis) {
    int64_t xs[USEG_MAX_DIMS];
    memcpy(xs, x->strides, sizeof xs);
    xs[axis] = 0;
    const int64_t *strides[3] = {dense->strides, index->strides, xs};
    useg_iter_init(it, dense->ndim, dense->shape, 3, strides);
}

// Element types by size: gather moves bits, so one loop per width serves every dtype.
#define GATHER_LOOP(E)                                                                            \
    do {                                                                                          \
        const E *X = x->data;                                                                     \
        E *O = out->data;                                                                         \
        _Pragma("omp parallel for schedule(static) if (parallel) firstprivate(proto)")            \
        for (int64_t r = 0; r < proto.rows; r++) {                                                \
            useg_iter it = proto;                                                                 \
            useg_iter_seek(&it, r);                                                               \
            E *po = O + it.offset[0];                                                             \
            const int64_t *pi = I + it.offset[1];                                                 \
            const E *px = X + it.offset[2];                                                       \
            int64_t si = it.inner_stride[1], sx = it.inner_stride[2];                             \
            for (int64_t i = 0; i < it.inner; i++) po[i] = px[i * sx + pi[i * si] * sa];          \
        }                                                                                         \
    } while (0)

// out[c] = x[c with c[axis] replaced by index[c]] for every coordinate c of out
// (contiguous); index has out's shape, x and index any strides.
static void gather_cpu(const useg_tensor *x, int axis, const useg_tensor *index, useg_tensor *out) {
    useg_iter proto;
    gather_iter_init(&proto, out, index, x, axis);
    const int64_t *I = index->data;
    int64_t sa = x->strides[axis];
    bool parallel = useg_numel(out) > USEG_PARALLEL_THRESHOLD;
    switch (useg_dtype_size(x->dtype)) {
    case 1: GATHER_LOOP(uint8_t); break;
    case 2: GATHER_LOOP(uint16_t); break;
    case 4: GATHER_LOOP(uint32_t); break;
    case 8: GATHER_LOOP(uint64_t); break;
    default: USEG_ASSERT(0, "gather: no loop for elements of %zu bytes", useg_dtype_size(x->dtype));
    }
}

// dx[c with c[axis] replaced by index[c]] += g[c] for every coordinate c of g;
// dx contiguous and zeroed, g contiguous. Rows of g whose coordinates differ
// only along `axis` write to the same dx elements, so when the axis is not the
// last one each thread takes a block of columns across all rows (in order);
// when it is, each g row writes to its own dx row and threads take rows.
static void scatter_add_cpu(useg_tensor *dx, int axis, const useg_tensor *index, const useg_tensor *g) {
    useg_iter proto;
    gather_iter_init(&proto, g, index, dx, axis);
    const int64_t *I = index->data;
    int64_t sa = dx->strides[axis], rows = proto.rows, inner = proto.inner;
    bool by_rows = axis == g->ndim - 1;
    bool parallel = useg_numel(g) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(dx->dtype, T, {
        T *D = dx->data;
        const T *G = g->data;
        _Pragma("omp parallel if (parallel) firstprivate(proto)")
        {
            int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
            int64_t r0 = by_rows ? rows * t / nt : 0, r1 = by_rows ? rows * (t + 1) / nt : rows;
            int64_t c0 = by_rows ? 0 : inner * t / nt, c1 = by_rows ? inner : inner * (t + 1) / nt;
            useg_iter it = proto;
            useg_iter_seek(&it, r0);
            for (int64_t r = r0; r < r1; r++, useg_iter_next(&it)) {
                const T *pg = G + it.offset[0];
                const int64_t *pi = I + it.offset[1];
                T *pd = D + it.offset[2];
                int64_t si = it.inner_stride[1], sd = it.inner_stride[2];
                for (int64_t i = c0; i < c1; i++) pd[i * sd + pi[i * si] * sa] += pg[i];
            }
        }
    });
}

// The shared tail of gather and index_select: index (any strides) has the output's shape.
static useg_status gather_common(useg_ctx *ctx, useg_op op, useg_tensor *x, int axis, useg_tensor *index,
                                 useg_tensor **out) {
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, index->ndim, index->shape, out));
    if (useg_numel(*out) > 0) {
        if (x->device == USEG_DEVICE_CUDA)
            USEG_TRY(USEG_CUDA_CALL(ctx, op == USEG_OP_GATHER ? "gather" : "index_select", gather, x, axis, index, *out));
        else
            gather_cpu(x, axis, index, *out);
    }
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, op, *out, &x, 1);
        if (!n) return ctx->status;
        n->saved[0] = index;
        n->iarg[0] = axis;
    }
    return USEG_OK;
}

useg_status useg_gather(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor *index, useg_tensor **out) {
    USEG_TRY(check_input(ctx, "gather", x, &axis));
    USEG_TRY(check_index_dtype(ctx, "gather", x, index));
    bool fits = index->ndim == x->ndim;
    for (int d = 0; d < x->ndim && fits; d++) fits = d == axis || index->shape[d] <= x->shape[d];
    if (!fits) {
        char a[96], b[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "gather: index %s does not fit x %s outside axis %d",
                         useg_shape_str(index, a, sizeof a), useg_shape_str(x, b, sizeof b), axis);
    }
    USEG_TRY(check_index_range(ctx, "gather", index, axis, x->shape[axis]));
    return gather_common(ctx, USEG_OP_GATHER, x, axis, index, out);
}

useg_status useg_index_select(useg_ctx *ctx, useg_tensor *x, int axis, useg_tensor *index, useg_tensor **out) {
    USEG_TRY(check_input(ctx, "index_select", x, &axis));
    USEG_TRY(check_index_dtype(ctx, "index_select", x, index));
    if (index->ndim != 1) {
        char a[96];
        return useg_fail(ctx, USEG_ERR_SHAPE, "index_select: index must be 1-D, got %s",
                         useg_shape_str(index, a, sizeof a));
    }
    USEG_TRY(check_index_range(ctx, "index_select", index, axis, x->shape[axis]));
    // index as (1, ..., n, ..., 1) expanded to the output's shape: gather's index, no copy.
    int64_t col[USEG_MAX_DIMS], shape[USEG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        col[d] = d == axis ? index->shape[0] : 1;
        shape[d] = d == axis ? index->shape[0] : x->shape[d];
    }
    useg_tensor *column, *expanded;
    USEG_TRY(useg_reshape(ctx, index, x->ndim, col, &column));
    USEG_TRY(useg_expand(ctx, column, x->ndim, shape, &expanded));
    return gather_common(ctx, USEG_OP_INDEX_SELECT, x, axis, expanded, out);
}

USEG_BACKWARD(gather) {
    useg_tensor *x = node->in[0], *dx;
    int axis = (int)node->iarg[0];
    USEG_TRY(useg_zeros_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, &dx));
    if (useg_numel(node->out) > 0) {
        if (x->device == USEG_DEVICE_CUDA)
            USEG_TRY(USEG_CUDA_CALL(ctx, "gather", scatter_add, dx, axis, node->saved[0], node->out->grad));
        else
            scatter_add_cpu(dx, axis, node->saved[0], node->out->grad);
    }
    return useg_accumulate_grad(ctx, x, dx);
}

// index_select records the same node as gather (its index already expanded).
USEG_BACKWARD(index_select) { return useg_gather_backward(ctx, node); }
