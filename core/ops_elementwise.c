// Elementwise ops: binary with NumPy broadcasting, affine scale, and unary
// activations, each with its backward.
//
// Binary kernels walk rows of the broadcast output with the inputs' own
// strides (0 on broadcast axes), so broadcasting and non-contiguous inputs
// cost no copy. The backward of a broadcast input sums the gradient back to
// its shape (useg_sum_to). CUDA tensors take the same path with the kernels
// of the CUDA table (device.h) in place of the CPU loops.
#include <math.h>
#include <string.h>

#include "device.h"
#include "dispatch.h"
#include "op_internal.h"
#include "strided.h"
#include "vec_math.h"

// --- Shared checks -----------------------------------------------------------------

useg_status useg_check_float_cpu(useg_ctx *ctx, const char *op, const useg_tensor *x) {
    if (x->device != USEG_DEVICE_CPU)
        return useg_fail(ctx, USEG_ERR_UNSUPPORTED, "%s: not supported on this device", op);
    if (!useg_dtype_is_float(x->dtype))
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: expects f32 or f64, got %s", op, useg_dtype_name(x->dtype));
    return USEG_OK;
}

useg_status useg_check_float(useg_ctx *ctx, const char *op, const useg_tensor *x) {
    if (x->device != USEG_DEVICE_CUDA) return useg_check_float_cpu(ctx, op, x);
    if (x->dtype == USEG_F32 || x->dtype == USEG_F16 || x->dtype == USEG_BF16) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_SHAPE, "%s: expects f32, f16 or bf16 on cuda, got %s", op, useg_dtype_name(x->dtype));
}

useg_status useg_check_same_device(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b) {
    if (a->device == b->device) return USEG_OK;
    return useg_fail(ctx, USEG_ERR_INVALID_ARG, "%s: operands on different devices (%s and %s)", op,
                     useg_device_name(a->device), useg_device_name(b->device));
}

useg_status useg_normalize_axis(useg_ctx *ctx, const char *op, int axis, int ndim, int *out) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= (ndim ? ndim : 1))
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: axis %d out of range for rank %d", op, axis, ndim);
    *out = a;
    return USEG_OK;
}

useg_status useg_broadcast_shape(useg_ctx *ctx, const char *op, const useg_tensor *a, const useg_tensor *b,
                                 int *ndim, int64_t *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[96], y[96];
            return useg_fail(ctx, USEG_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", op,
                             useg_shape_str(a, x, sizeof x), useg_shape_str(b, y, sizeof y));
        }
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return USEG_OK;
}

void useg_broadcast_strides(const useg_tensor *x, int ndim, const int64_t *shape, int64_t *strides) {
    int lead = ndim - x->ndim;
    for (int d = 0; d < ndim; d++) {
        int dx = d - lead;
        strides[d] = (dx < 0 || (x->shape[dx] == 1 && shape[d] != 1)) ? 0 : x->strides[dx];
    }
}

// --- Binary ----------------------------------------------------------------------------

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV } binary_kind;

static const struct {
    const char *name;
    useg_op op;
} binary_info[] = {
    [BIN_ADD] = {"add", USEG_OP_ADD},
    [BIN_SUB] = {"sub", USEG_OP_SUB},
    [BIN_MUL] = {"mul", USEG_OP_MUL},
    [BIN_DIV] = {"div", USEG_OP_DIV},
};

#define BINARY_LOOP(EXPR)                                                                   \
    for (int64_t i = 0; i < it.inner; i++) {                                                \
        T x = pa[i * sa], y = pb[i * sb];                                                   \
        po[i] = (EXPR);                                                                     \
    }

static void binary_cpu(binary_kind kind, const useg_tensor *a, const useg_tensor *b, useg_tensor *out) {
    int64_t sa_[USEG_MAX_DIMS], sb_[USEG_MAX_DIMS];
    useg_broadcast_strides(a, out->ndim, out->shape, sa_);
    useg_broadcast_strides(b, out->ndim, out->shape, sb_);
    const int64_t *strides[3] = {out->strides, sa_, sb_};
    useg_iter proto;
    useg_iter_init(&proto, out->ndim, out->shape, 3, strides);
    int64_t rows = proto.rows;
    bool parallel = useg_numel(out) > USEG_PARALLEL_THRESHOLD;
    USEG_FLOAT_DISPATCH(out->dtype, T, {
        const T *A = a->data, *B = b->data;
        T *O = out->data;
        _Pragma("omp parallel for schedule(static) if (parallel) firstprivate(proto)")
        for (int64_t r = 0; r < rows; r++) {
            useg_iter it = proto;
            useg_iter_seek(&it, r);
            T *po = O + it.offset[0];
            const T *pa = A + it.offset[1], *pb = B + it.offset[2];
            int64_t sa = it.inner_stride[1], sb = it.inner_stride[2];
            switch (kind) {
            case BIN_ADD: BINARY_LOOP(x + y); break;
            case BIN_SUB: BINARY_LOOP(x - y); break;
            case BIN_MUL: BINARY_LOOP(x * y); break;
            case BIN_DIV: BINARY_LOOP(x / y); break;
            }
        }
    });
}

static useg_status binary(useg_ctx *ctx, binary_kind kind, useg_tensor *a, useg_tensor *b, useg_tensor **out) {
    const char *name = binary_info[kind].name;
    USEG_TRY(useg_check_float(ctx, name, a));
    USEG_TRY(useg_check_float(ctx, name, b));
    USEG_TRY(useg_check_same_device(ctx, name, a, b));
    if (a->dtype != b->dtype)
        return useg_fail(ctx, USEG_ERR_SHAPE, "%s: dtypes %s and %s differ", name, useg_dtype_name(a->dtype),
                         useg_dtype_name(b->dtype));
    int ndim;
    int64_t shape[USEG_MAX_DIMS];
    USEG_TRY(useg_broadcast_shape(ctx, name, a, b, &ndim, shape));
    USEG_TRY(useg_empty_on(ctx, NULL, a->device, a->dtype, ndim, shape, out));
    if (useg_numel(*out) > 0) {
        if (a->device == USEG_DEVICE_CUDA) USEG_TRY(USEG_CUDA_CALL(ctx, name, binary, binary_info[kind].op, a, b, *out));
        else binary_cpu(kind, a, b, *out);
    }
    useg_tensor *in[2] = {a, b};
    if (useg_needs_grad(ctx, in, 2) && !useg_record(ctx, binary_info[kind].op, *out, in, 2)) return ctx->status;
    return USEG_OK;
}

useg_status useg_add(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out) {
    return binary(ctx, BIN_ADD, a, b, out);
}
useg_status useg_sub(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out) {
    return binary(ctx, BIN_SUB, a, b, out);
}
useg_status useg_mul(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out) {
    return binary(ctx, BIN_MUL, a, b, out);
}
useg_status useg_div(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor **out) {
    return binary(ctx, BIN_DIV, a, b, out);
}

// Accumulate g (broadcast shape) into t after summing it down to t's shape.
static useg_status accumulate_reduced(useg_ctx *ctx, useg_tensor *t, useg_tensor *g) {
    if (!t->requires_grad) return USEG_OK;
    useg_tensor *r;
    USEG_TRY(useg_sum_to(ctx, g, t->ndim, t->shape, &r));
    return useg_accumulate_grad(ctx, t, r);
}

USEG_BACKWARD(add) {
    USEG_TRY(accumulate_reduced(ctx, node->in[0], node->out->grad));
    return accumulate_reduced(ctx, node->in[1], node->out->grad);
}

USEG_BACKWARD(sub) {
    USEG_TRY(accumulate_reduced(ctx, node->in[0], node->out->grad));
    if (!node->in[1]->requires_grad) return USEG_OK;
    useg_tensor *neg;
    USEG_TRY(useg_scale(ctx, node->out->grad, -1.0, 0.0, &neg));
    return accumulate_reduced(ctx, node->in[1], neg);
}

USEG_BACKWARD(mul) {
    useg_tensor *a = node->in[0], *b = node->in[1], *g = node->out->grad, *t;
    if (a->requires_grad) {
        USEG_TRY(useg_mul(ctx, g, b, &t));
        USEG_TRY(accumulate_reduced(ctx, a, t));
    }
    if (b->requires_grad) {
        USEG_TRY(useg_mul(ctx, g, a, &t));
        USEG_TRY(accumulate_reduced(ctx, b, t));
    }
    return USEG_OK;
}

USEG_BACKWARD(div) {
    // d a = g / b;  d b = -g * out / b.
    useg_tensor *a = node->in[0], *b = node->in[1], *g = node->out->grad, *t, *u;
    if (a->requires_grad) {
        USEG_TRY(useg_div(ctx, g, b, &t));
        USEG_TRY(accumulate_reduced(ctx, a, t));
    }
    if (b->requires_grad) {
        USEG_TRY(useg_mul(ctx, g, node->out, &t));
        USEG_TRY(useg_div(ctx, t, b, &u));
        USEG_TRY(useg_scale(ctx, u, -1.0, 0.0, &t));
        USEG_TRY(accumulate_reduced(ctx, b, t));
    }
    return USEG_OK;
}

// --- Unary -------------------------------------------------------------------------------

typedef enum { UN_SCALE, UN_EXP, UN_LOG, UN_SQRT, UN_RSQRT, UN_TANH, UN_SIGMOID, UN_RELU, UN_GELU } unary_kind;

static const struct {
    const char *name;
    useg_op op;
} unary_info[] = {
    [UN_SCALE] = {"scale", USEG_OP_SCALE}, [UN_EXP] = {"exp", USEG_OP_EXP},
    [UN_LOG] = {"log", USEG_OP_LOG},       [UN_SQRT] = {"sqrt", USEG_OP_SQRT},
    [UN_RSQRT] = {"rsqrt", USEG_OP_RSQRT}, [UN_TANH] = {"tanh", USEG_OP_TANH},
    [UN_SIGMOID] = {"sigmoid", USEG_OP_SIGMOID}, [UN_RELU] = {"relu", USEG_OP_RELU},
    [UN_GELU] = {"gelu", USEG_OP_GELU},
};

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

// GELU in f32 over chunks of this many elements, each one call of the
// vectorised kernels below.
enum { GELU_CHUNK = 4096 };

// f32 GELU and its derivative with vec_math.h's normal CDF and exp: libm's
// erf in double, one scalar call per element, took 13 % of a ViT-S/16
// forward; these run at several elements per cycle.
VECTOR_CLONES static void gelu_forward_f32(int64_t n, const float *x, float *y) {
    _Pragma("omp simd")
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * useg_normal_cdf_f32(x[i]);
}

VECTOR_CLONES static void gelu_backward_f32(int64_t n, const float *x, const float *g, float *dx) {
    _Pragma("omp simd")
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i], pdf = (float)INV_SQRT_2PI * useg_exp_f32(-0.5f * v * v);
        dx[i] = g[i] * (useg_normal_cdf_f32(v) + v * pdf);
    }
}

// y = f(x) over a contiguous x, and dx = g * f'(x) (given y = f(x) too).
static void unary_forward_cpu(unary_kind kind, double alpha, double beta, const useg_tensor *x, useg_tensor *y) {
    int64_t n = useg_numel(x);
    bool parallel = n > USEG_PARALLEL_THRESHOLD;
    if (kind == UN_GELU && x->dtype == USEG_F32) {
        const float *X = x->data;
        float *Y = y->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t i = 0; i < n; i += GELU_CHUNK) gelu_forward_f32(n - i < GELU_CHUNK ? n - i : GELU_CHUNK, X + i, Y + i);
        return;
    }
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data;
        T *Y = y->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t i = 0; i < n; i++) {
            T v = X[i];
            T r = 0;
            switch (kind) {
            case UN_SCALE: r = (T)(alpha * v + beta); break;
            case UN_EXP: r = exp(v); break;
            case UN_LOG: r = log(v); break;
            case UN_SQRT: r = sqrt(v); break;
            case UN_RSQRT: r = 1 / sqrt(v); break;
            case UN_TANH: r = tanh(v); break;
            case UN_SIGMOID: r = v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v)); break;
            case UN_RELU: r = v > 0 ? v : 0; break;
            case UN_GELU: r = (T)(0.5 * v * (1.0 + erf(v * INV_SQRT2))); break;
            }
            Y[i] = r;
        }
    });
}

static void unary_backward_cpu(unary_kind kind, double alpha, const useg_tensor *x, const useg_tensor *y,
                               const useg_tensor *g, useg_tensor *dx) {
    int64_t n = useg_numel(x);
    bool parallel = n > USEG_PARALLEL_THRESHOLD;
    if (kind == UN_GELU && x->dtype == USEG_F32) {
        const float *X = x->data, *G = g->data;
        float *D = dx->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t i = 0; i < n; i += GELU_CHUNK)
            gelu_backward_f32(n - i < GELU_CHUNK ? n - i : GELU_CHUNK, X + i, G + i, D + i);
        return;
    }
    USEG_FLOAT_DISPATCH(x->dtype, T, {
        const T *X = x->data, *Y = y->data, *G = g->data;
        T *D = dx->data;
        _Pragma("omp parallel for schedule(static) if (parallel)")
        for (int64_t i = 0; i < n; i++) {
            T v = X[i], o = Y[i], d = 0;
            switch (kind) {
            case UN_SCALE: d = (T)alpha; break;
            case UN_EXP: d = o; break;
            case UN_LOG: d = 1 / v; break;
            case UN_SQRT: d = (T)0.5 / o; break;
            case UN_RSQRT: d = (T)-0.5 * o * o * o; break;
            case UN_TANH: d = 1 - o * o; break;
            case UN_SIGMOID: d = o * (1 - o); break;
            case UN_RELU: d = v > 0 ? 1 : 0; break;
            case UN_GELU:
                d = (T)(0.5 * (1.0 + erf(v * INV_SQRT2)) + v * INV_SQRT_2PI * exp(-0.5 * (double)v * v));
                break;
            }
            D[i] = G[i] * d;
        }
    });
}

static useg_status unary(useg_ctx *ctx, unary_kind kind, useg_tensor *x, double alpha, double beta,
                         useg_tensor **out) {
    USEG_TRY(useg_check_float(ctx, unary_info[kind].name, x));
    useg_tensor *xc;
    bool prev = useg_no_grad_begin(ctx); // the node below records x itself
    useg_status st = useg_contiguous(ctx, x, &xc);
    useg_no_grad_end(ctx, prev);
    USEG_TRY(st);
    USEG_TRY(useg_empty_on(ctx, NULL, x->device, x->dtype, x->ndim, x->shape, out));
    if (x->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, unary_info[kind].name, unary, unary_info[kind].op, alpha, beta, xc, *out));
    else
        unary_forward_cpu(kind, alpha, beta, xc, *out);
    if (useg_needs_grad(ctx, &x, 1)) {
        useg_node *n = useg_record(ctx, unary_info[kind].op, *out, &x, 1);
        if (!n) return ctx->status;
        n->saved[0] = xc;
        n->farg[0] = alpha;
    }
    return USEG_OK;
}

static useg_status unary_backward(useg_ctx *ctx, unary_kind kind, const useg_node *node) {
    useg_tensor *dx;
    const useg_tensor *o = node->out;
    USEG_TRY(useg_empty_on(ctx, NULL, o->device, o->dtype, o->ndim, o->shape, &dx));
    if (o->device == USEG_DEVICE_CUDA)
        USEG_TRY(USEG_CUDA_CALL(ctx, unary_info[kind].name, unary_backward, unary_info[kind].op, node->farg[0],
                                node->saved[0], o, o->grad, dx));
    else
        unary_backward_cpu(kind, node->farg[0], node->saved[0], o, o->grad, dx);
    return useg_accumulate_grad(ctx, node->in[0], dx);
}

useg_status useg_scale(useg_ctx *ctx, useg_tensor *x, double alpha, double beta, useg_tensor **out) {
    return unary(ctx, UN_SCALE, x, alpha, beta, out);
}

#define UNARY_OP(name, KIND)                                                                   \
    useg_status useg_##name(useg_ctx *ctx, useg_tensor *x, useg_tensor **out) {               \
        return unary(ctx, KIND, x, 0.0, 0.0, out);                                             \
    }                                                                                          \
    USEG_BACKWARD(name) { return unary_backward(ctx, KIND, node); }

USEG_BACKWARD(scale) { return unary_backward(ctx, UN_SCALE, node); }
UNARY_OP(exp, UN_EXP)
UNARY_OP(log, UN_LOG)
UNARY_OP(sqrt, UN_SQRT)
UNARY_OP(rsqrt, UN_RSQRT)
UNARY_OP(tanh, UN_TANH)
UNARY_OP(sigmoid, UN_SIGMOID)
UNARY_OP(relu, UN_RELU)
UNARY_OP(gelu, UN_GELU)
