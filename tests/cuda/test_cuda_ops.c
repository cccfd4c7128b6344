// Elementwise and reduction kernels (the CUDA table's entries) against plain C
// references over a sweep of shapes, with guarded outputs; then the core ops
// themselves on CUDA tensors, forward and backward, against the same ops on
// the CPU.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "op_internal.h"
#include "rng.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

// A device tensor of random stored values (also returned as doubles).
static useg_tensor *random_device(useg_ctx *ctx, useg_dtype dt, int ndim, const int64_t *shape, double lo, double hi,
                                  double **values) {
    int64_t n = numel_of(ndim, shape);
    *values = host_doubles(ctx, n);
    void *h = host_random(ctx, dt, n, lo, hi, *values);
    return device_tensor(ctx, dt, ndim, shape, to_device(ctx, h, (size_t)n * useg_dtype_size(dt)));
}

// Element offset of flat index i (row-major over shape) with given strides.
static int64_t offset_of(int ndim, const int64_t *shape, const int64_t *strides, int64_t i) {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % shape[d]) * strides[d];
        i /= shape[d];
    }
    return off;
}

// --- Binary ops with broadcasting ------------------------------------------------------

typedef struct {
    int ndim_a, ndim_b;
    int64_t a[4], b[4];
    bool transpose_a; // read a through a transposed view of its last two axes
} binary_case;

static const binary_case BINARY_CASES[] = {
    {1, 1, {1}, {1}, false},
    {1, 1, {7}, {7}, false},
    {1, 1, {1000003}, {1}, false},
    {2, 1, {31, 33}, {33}, false},
    {3, 3, {3, 1, 5}, {1, 4, 5}, false},
    {4, 3, {2, 3, 4, 5}, {3, 1, 5}, false},
    {2, 2, {65, 129}, {65, 1}, true},
    {3, 2, {64, 197, 65}, {197, 1}, false},
};

static double binary_ref(useg_op op, float x, float y) {
    switch (op) {
    case USEG_OP_ADD: return (float)(x + y);
    case USEG_OP_SUB: return (float)(x - y);
    case USEG_OP_MUL: return (float)(x * y);
    default: return (float)(x / y);
    }
}

static void test_binary(useg_ctx *ctx) {
    const useg_op ops[] = {USEG_OP_ADD, USEG_OP_SUB, USEG_OP_MUL, USEG_OP_DIV};
    for (size_t c = 0; c < sizeof BINARY_CASES / sizeof BINARY_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int o = 0; o < 4; o++) {
                const binary_case *bc = &BINARY_CASES[c];
                useg_dtype dt = DTYPES[k];
                if (!cuda_case_fits(numel_of(bc->ndim_a, bc->a) + numel_of(bc->ndim_b, bc->b))) continue;
                double *va, *vb;
                useg_tensor *a = random_device(ctx, dt, bc->ndim_a, bc->a, -2, 2, &va);
                useg_tensor *b = random_device(ctx, dt, bc->ndim_b, bc->b, 0.5, 2, &vb); // away from 0 for div
                if (bc->transpose_a) { // same logical shape, transposed storage
                    int l = a->ndim - 1;
                    int64_t t = a->strides[l];
                    a->strides[l] = a->shape[l - 1], a->strides[l - 1] = t;
                }
                int ndim;
                int64_t shape[USEG_MAX_DIMS];
                CHECK_OK(ctx, useg_broadcast_shape(ctx, "test", a, b, &ndim, shape));
                int64_t n = numel_of(ndim, shape);
                guarded g;
                useg_tensor *out = device_tensor(ctx, dt, ndim, shape, guarded_alloc(ctx, (size_t)n * useg_dtype_size(dt), &g));
                CHECK_LAUNCH(ctx, useg_binary_cuda(ctx, ops[o], a, b, out));
                int64_t sa[USEG_MAX_DIMS], sb[USEG_MAX_DIMS];
                useg_broadcast_strides(a, ndim, shape, sa);
                useg_broadcast_strides(b, ndim, shape, sb);
                double *ref = host_doubles(ctx, n);
                for (int64_t i = 0; i < n; i++)
                    ref[i] = round_to(dt, binary_ref(ops[o], (float)va[offset_of(ndim, shape, sa, i)],
                                                     (float)vb[offset_of(ndim, shape, sb, i)]));
                char what[96];
                snprintf(what, sizeof what, "binary op %d case %zu %s", (int)ops[o], c, useg_dtype_name(dt));
                check_close(ctx, what, dt, out->data, ref, n, 0.0); // f32 arithmetic: bitwise equal
                guarded_check(ctx, &g, what);
                useg_step_end(ctx);
            }
}

// --- Unary ops and their derivatives -----------------------------------------------------

static double unary_ref(useg_op op, double x, double alpha, double beta) {
    switch (op) {
    case USEG_OP_SCALE: return alpha * x + beta;
    case USEG_OP_EXP: return exp(x);
    case USEG_OP_LOG: return log(x);
    case USEG_OP_SQRT: return sqrt(x);
    case USEG_OP_RSQRT: return 1 / sqrt(x);
    case USEG_OP_TANH: return tanh(x);
    case USEG_OP_SIGMOID: return 1 / (1 + exp(-x));
    case USEG_OP_RELU: return x > 0 ? x : 0;
    default: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    }
}

static double derivative_ref(useg_op op, double x, double y, double alpha) {
    switch (op) {
    case USEG_OP_SCALE: return alpha;
    case USEG_OP_EXP: return y;
    case USEG_OP_LOG: return 1 / x;
    case USEG_OP_SQRT: return 0.5 / y;
    case USEG_OP_RSQRT: return -0.5 * y * y * y;
    case USEG_OP_TANH: return 1 - y * y;
    case USEG_OP_SIGMOID: return y * (1 - y);
    case USEG_OP_RELU: return x > 0 ? 1 : 0;
    default: return 0.5 * (1 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2 * M_PI);
    }
}

static void test_unary(useg_ctx *ctx) {
    const useg_op ops[] = {USEG_OP_SCALE, USEG_OP_EXP,     USEG_OP_LOG,  USEG_OP_SQRT, USEG_OP_RSQRT,
                           USEG_OP_TANH,  USEG_OP_SIGMOID, USEG_OP_RELU, USEG_OP_GELU};
    const int64_t sizes[] = {1, 2, 31, 256, 257, 65537, 1 << 21};
    const double alpha = -1.5, beta = 0.25;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int k = 0; k < N_DTYPES; k++)
            for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
                useg_dtype dt = DTYPES[k];
                useg_op op = ops[o];
                int64_t n = sizes[s];
                if (!cuda_case_fits(n)) continue;
                bool positive = op == USEG_OP_LOG || op == USEG_OP_SQRT || op == USEG_OP_RSQRT;
                double *vx, *vg;
                useg_tensor *x = random_device(ctx, dt, 1, &n, positive ? 0.1 : -4, 4, &vx);
                useg_tensor *gt = random_device(ctx, dt, 1, &n, -1, 1, &vg);
                double *ref = host_doubles(ctx, n), *dref = host_doubles(ctx, n);
                // The backward reads y; give it the stored forward values, so the
                // reference and the kernel see the same y.
                double *vy = host_doubles(ctx, n);
                for (int64_t i = 0; i < n; i++) {
                    ref[i] = unary_ref(op, vx[i], alpha, beta);
                    vy[i] = round_to(dt, ref[i]);
                    dref[i] = vg[i] * derivative_ref(op, vx[i], vy[i], alpha);
                }
                useg_tensor *yin = device_values(ctx, dt, 1, &n, vy);
                guarded gy, gdx;
                size_t bytes = (size_t)n * useg_dtype_size(dt);
                useg_tensor *y = device_tensor(ctx, dt, 1, &n, guarded_alloc(ctx, bytes, &gy));
                useg_tensor *dx = device_tensor(ctx, dt, 1, &n, guarded_alloc(ctx, bytes, &gdx));
                CHECK_LAUNCH(ctx, useg_unary_cuda(ctx, op, alpha, beta, x, y));
                CHECK_LAUNCH(ctx, useg_unary_backward_cuda(ctx, op, alpha, x, yin, gt, dx));
                char what[96];
                snprintf(what, sizeof what, "unary op %d n=%lld %s", (int)op, (long long)n, useg_dtype_name(dt));
                check_close(ctx, what, dt, y->data, ref, n, cuda_tol(dt));
                guarded_check(ctx, &gy, what);
                snprintf(what, sizeof what, "unary backward op %d n=%lld %s", (int)op, (long long)n, useg_dtype_name(dt));
                check_close(ctx, what, dt, dx->data, dref, n, cuda_tol(dt));
                guarded_check(ctx, &gdx, what);
                useg_step_end(ctx);
            }
}

static void test_add_into(useg_ctx *ctx) {
    // dst is a transposed view: dst[i][j] += src[i][j].
    const int64_t shape[2] = {37, 129};
    for (int k = 0; k < N_DTYPES; k++) {
        useg_dtype dt = DTYPES[k];
        double *vd, *vs;
        useg_tensor *dst = random_device(ctx, dt, 2, shape, -1, 1, &vd), *src = random_device(ctx, dt, 2, shape, -1, 1, &vs);
        useg_tensor view = *dst;
        view.shape[0] = shape[1], view.shape[1] = shape[0], view.strides[0] = 1, view.strides[1] = shape[1];
        useg_tensor srcv = *src;
        srcv.shape[0] = shape[1], srcv.shape[1] = shape[0], srcv.strides[0] = shape[0], srcv.strides[1] = 1;
        // view[i][j] = dst[j][i] += srcv[i][j] = src[i * 37 + j] (src read as (129, 37) contiguous)
        CHECK_LAUNCH(ctx, useg_add_into_cuda(ctx, &view, &srcv));
        double *ref = host_doubles(ctx, shape[0] * shape[1]);
        for (int64_t i = 0; i < shape[1]; i++)
            for (int64_t j = 0; j < shape[0]; j++)
                ref[j * shape[1] + i] = round_to(dt, (float)vd[j * shape[1] + i] + (float)vs[i * shape[0] + j]);
        check_close(ctx, "add_into through a transposed view", dt, dst->data, ref, shape[0] * shape[1], 0.0);
        useg_step_end(ctx);
    }
}

// --- Sum / mean over axes ------------------------------------------------------------------

typedef struct {
    int ndim;
    int64_t shape[4];
    unsigned mask;
} sum_case;

static const sum_case SUM_CASES[] = {
    {1, {1}, 1},          {1, {7}, 1},           {2, {3, 5}, 1},          {2, {3, 5}, 2},
    {2, {3, 5}, 3},       {3, {4, 33, 65}, 1},   {3, {4, 33, 65}, 2},     {3, {4, 33, 65}, 5},
    {3, {4, 33, 65}, 6},  {3, {4, 33, 65}, 7},   {1, {1 << 22}, 1},       {2, {8, 1 << 20}, 2},
    {2, {100003, 3}, 2},  {2, {5003, 300}, 1},   {2, {3, 0}, 2},          {2, {20000, 257}, 1},
};

static void test_sum(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof SUM_CASES / sizeof SUM_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int transposed = 0; transposed < 2; transposed++) {
                const sum_case *sc = &SUM_CASES[c];
                if ((transposed && sc->ndim < 2) || !cuda_case_fits(numel_of(sc->ndim, sc->shape))) continue;
                useg_dtype dt = DTYPES[k];
                double *vx;
                useg_tensor *x = random_device(ctx, dt, sc->ndim, sc->shape, -1, 1, &vx);
                useg_tensor xv = *x; // the same storage read with the last two axes swapped
                if (transposed) {
                    int l = sc->ndim - 1;
                    xv.shape[l] = x->shape[l - 1], xv.shape[l - 1] = x->shape[l];
                    xv.strides[l] = x->strides[l - 1], xv.strides[l - 1] = x->strides[l];
                }
                int64_t kshape[4], n_in = numel_of(sc->ndim, sc->shape), count = 1;
                for (int d = 0; d < sc->ndim; d++) {
                    kshape[d] = (sc->mask >> d) & 1u ? 1 : xv.shape[d];
                    if ((sc->mask >> d) & 1u) count *= xv.shape[d];
                }
                int64_t n_out = numel_of(sc->ndim, kshape);
                double factor = count ? 1.0 / (double)count : NAN; // the mean
                guarded g;
                useg_tensor *keep = device_tensor(ctx, dt, sc->ndim, kshape,
                                                  guarded_alloc(ctx, (size_t)(n_out ? n_out : 1) * useg_dtype_size(dt), &g));
                CHECK_LAUNCH(ctx, useg_sum_cuda(ctx, &xv, sc->mask, factor, keep));
                double *ref = host_doubles(ctx, n_out ? n_out : 1);
                for (int64_t o = 0; o < n_out; o++) ref[o] = 0;
                int64_t kstrides[4];
                for (int d = 0; d < sc->ndim; d++) kstrides[d] = (sc->mask >> d) & 1u ? 0 : keep->strides[d];
                for (int64_t i = 0; i < n_in; i++)
                    ref[offset_of(sc->ndim, xv.shape, kstrides, i)] += vx[offset_of(sc->ndim, xv.shape, xv.strides, i)];
                for (int64_t o = 0; o < n_out; o++) ref[o] *= factor;
                char what[96];
                snprintf(what, sizeof what, "mean case %zu%s %s", c, transposed ? " transposed" : "", useg_dtype_name(dt));
                // f64 accumulation then one rounding: f32 is exact to its last bit or so.
                check_close(ctx, what, dt, keep->data, ref, n_out, dt == USEG_F32 ? 1e-6 : cuda_tol(dt));
                guarded_check(ctx, &g, what);
                useg_step_end(ctx);
            }
    // The raw f32 full sum of the losses.
    const int64_t sizes[] = {0, 1, 33, 40000, 3000017};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        if (!cuda_case_fits(n)) continue;
        double *v = host_doubles(ctx, n ? n : 1), ref = 0;
        void *h = host_random(ctx, USEG_F32, n, -1, 1, v);
        for (int64_t i = 0; i < n; i++) ref += v[i];
        ref *= 0.5;
        guarded g;
        float *out = guarded_alloc(ctx, sizeof(float), &g);
        CHECK_LAUNCH(ctx, useg_sum_f32_cuda(ctx, out, to_device(ctx, h, (size_t)(n ? n : 1) * 4), n, 0.5));
        char what[64];
        snprintf(what, sizeof what, "sum_f32 n=%lld", (long long)n);
        check_close(ctx, what, USEG_F32, out, &ref, 1, 1e-6);
        guarded_check(ctx, &g, what);
        useg_step_end(ctx);
    }
}

// --- Max / argmax and its backward -----------------------------------------------------------

static void test_max(useg_ctx *ctx) {
    const int64_t cases[][3] = {{1, 1, 1}, {5, 37, 1}, {5, 7, 1}, {3, 129, 17}, {64, 1000, 1}, {2, 4099, 3}, {1, 65537, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            useg_dtype dt = DTYPES[k];
            int64_t outer = cases[c][0], size = cases[c][1], inner = cases[c][2], n = outer * size * inner;
            int64_t xshape[3] = {outer, size, inner}, oshape[2] = {outer, inner};
            if (!cuda_case_fits(n)) continue;
            // Small integers make ties; a NaN in some columns must win.
            double *v = host_doubles(ctx, n);
            for (int64_t i = 0; i < n; i++) {
                v[i] = (double)(useg_rng_below(&ctx->rng, 5));
                if (i % 97 == 13 && (i / inner) % 3 == 0) v[i] = NAN;
            }
            useg_tensor *x = device_values(ctx, dt, 3, xshape, v);
            guarded gv, gi, gdx;
            useg_tensor *vals = device_tensor(ctx, dt, 2, oshape, guarded_alloc(ctx, (size_t)(outer * inner) * useg_dtype_size(dt), &gv));
            useg_tensor *idx = device_tensor(ctx, USEG_I64, 2, oshape, guarded_alloc(ctx, (size_t)(outer * inner) * 8, &gi));
            CHECK_LAUNCH(ctx, useg_max_cuda(ctx, x, 1, vals, idx));
            double *rv = host_doubles(ctx, outer * inner), *ri = host_doubles(ctx, outer * inner);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) {
                    int64_t best = 0;
                    double m = v[o * size * inner + i];
                    for (int64_t s = 1; s < size; s++) {
                        double e = v[(o * size + s) * inner + i];
                        if (!isnan(m) && (e > m || isnan(e))) m = e, best = s;
                    }
                    rv[o * inner + i] = m, ri[o * inner + i] = (double)best;
                }
            char what[96];
            snprintf(what, sizeof what, "max values case %zu %s", c, useg_dtype_name(dt));
            check_close(ctx, what, dt, vals->data, rv, outer * inner, 0.0);
            guarded_check(ctx, &gv, what);
            snprintf(what, sizeof what, "argmax case %zu %s", c, useg_dtype_name(dt));
            check_close(ctx, what, USEG_I64, idx->data, ri, outer * inner, 0.0);
            guarded_check(ctx, &gi, what);
            // Backward: dx zero but for g at the argmax.
            double *vg;
            useg_tensor *gt = random_device(ctx, dt, 2, oshape, -1, 1, &vg);
            useg_tensor *dx = device_tensor(ctx, dt, 3, xshape, guarded_alloc(ctx, (size_t)n * useg_dtype_size(dt), &gdx));
            CHECK_OK(ctx, useg_cuda_memset(ctx, dx->data, 0, (size_t)n * useg_dtype_size(dt)));
            CHECK_LAUNCH(ctx, useg_max_backward_cuda(ctx, gt, idx, 1, dx));
            double *rdx = host_doubles(ctx, n);
            for (int64_t i = 0; i < n; i++) rdx[i] = 0;
            for (int64_t o = 0; o < outer; o++)
                for (int64_t i = 0; i < inner; i++) rdx[(o * size + (int64_t)ri[o * inner + i]) * inner + i] = vg[o * inner + i];
            snprintf(what, sizeof what, "max backward case %zu %s", c, useg_dtype_name(dt));
            check_close(ctx, what, dt, dx->data, rdx, n, 0.0);
            guarded_check(ctx, &gdx, what);
            useg_step_end(ctx);
        }
}

// --- The core ops on CUDA tensors, with autograd, against the CPU ----------------------------

// loss(a (6, 7), b (7), c (6, 1)): every wired op, broadcasting, views and a max.
static useg_status composite(useg_ctx *ctx, useg_tensor *a, useg_tensor *b, useg_tensor *c, useg_tensor **loss) {
    useg_tensor *t1, *t2, *t3, *t4, *t5, *mx, *s, *bp, *q, *r, *u, *acc, *m;
    USEG_TRY(useg_mul(ctx, a, b, &t1));
    USEG_TRY(useg_add(ctx, t1, c, &t2));
    USEG_TRY(useg_gelu(ctx, t2, &t3));
    USEG_TRY(useg_transpose(ctx, t3, 0, 1, &t4));
    USEG_TRY(useg_sigmoid(ctx, t4, &t5));
    USEG_TRY(useg_max(ctx, t5, 0, false, &mx, NULL));
    USEG_TRY(useg_mean(ctx, mx, 0, false, &acc));
    USEG_TRY(useg_sum(ctx, t3, 1u, false, &s));          // (7)
    USEG_TRY(useg_scale(ctx, b, 1.0, 3.0, &bp));          // b + 3 > 0
    USEG_TRY(useg_div(ctx, s, bp, &q));
    USEG_TRY(useg_mul(ctx, q, q, &r));
    USEG_TRY(useg_mean(ctx, r, 0, false, &m));
    USEG_TRY(useg_add(ctx, acc, m, &acc));
    // The remaining unary ops on a strided slice of a, on positive values where needed.
    USEG_TRY(useg_slice(ctx, a, 1, 1, 7, 2, &u)); // (6, 3)
    USEG_TRY(useg_mul(ctx, u, u, &r));
    USEG_TRY(useg_scale(ctx, r, 1.0, 0.5, &r));          // u^2 + 0.5
    const useg_op chain[] = {USEG_OP_SQRT, USEG_OP_LOG, USEG_OP_EXP, USEG_OP_RSQRT, USEG_OP_TANH, USEG_OP_RELU};
    for (size_t k = 0; k < sizeof chain / sizeof chain[0]; k++) {
        switch (chain[k]) {
        case USEG_OP_SQRT: USEG_TRY(useg_sqrt(ctx, r, &r)); break;
        case USEG_OP_LOG: USEG_TRY(useg_log(ctx, r, &r)); break;   // log(sqrt(u^2 + 0.5))
        case USEG_OP_EXP: USEG_TRY(useg_exp(ctx, r, &r)); break;   // back to sqrt(u^2 + 0.5) > 0
        case USEG_OP_RSQRT: USEG_TRY(useg_rsqrt(ctx, r, &r)); break;
        case USEG_OP_TANH: USEG_TRY(useg_tanh(ctx, r, &r)); break;
        default: USEG_TRY(useg_relu(ctx, r, &r)); break;
        }
    }
    USEG_TRY(useg_sub(ctx, r, u, &r));
    USEG_TRY(useg_sum(ctx, r, 0, false, &s));
    return useg_add(ctx, acc, s, loss);
}

static void test_ops_with_autograd(useg_ctx *ctx) {
    const int64_t sa[2] = {6, 7}, sb[1] = {7}, sc[2] = {6, 1};
    const int64_t *shapes[3] = {sa, sb, sc};
    const int ndims[3] = {2, 1, 2};
    useg_tensor *cpu[3], *gpu[3];
    for (int k = 0; k < 3; k++) {
        CHECK_OK(ctx, useg_rand_uniform(ctx, &ctx->params, USEG_F32, ndims[k], shapes[k], -1, 1, &cpu[k]));
        CHECK_OK(ctx, useg_empty_on(ctx, &ctx->params, USEG_DEVICE_CUDA, USEG_F32, ndims[k], shapes[k], &gpu[k]));
        CHECK_OK(ctx, useg_copy_into(ctx, gpu[k], cpu[k]));
        CHECK_OK(ctx, useg_requires_grad(ctx, cpu[k]));
        CHECK_OK(ctx, useg_requires_grad(ctx, gpu[k]));
    }
    for (int step = 0; step < 2; step++) { // twice: gradients are zeroed and reused on the device
        CHECK_OK(ctx, useg_zero_grad(ctx, cpu, 3));
        CHECK_OK(ctx, useg_zero_grad(ctx, gpu, 3));
        useg_tensor *lc = NULL, *lg = NULL, *lgh = NULL;
        CHECK_OK(ctx, composite(ctx, cpu[0], cpu[1], cpu[2], &lc));
        CHECK_OK(ctx, useg_backward(ctx, lc));
        CHECK_OK(ctx, composite(ctx, gpu[0], gpu[1], gpu[2], &lg));
        CHECK(lg && lg->device == USEG_DEVICE_CUDA, "the loss of CUDA inputs lives on the GPU");
        CHECK_OK(ctx, useg_backward(ctx, lg));
        CHECK_OK(ctx, useg_to_device(ctx, lg, USEG_DEVICE_CPU, &lgh));
        if (!lc || !lgh) return;
        double want = useg_get_flat(lc, 0);
        CHECK(fabs(useg_get_flat(lgh, 0) - want) <= 1e-5 * (1 + fabs(want)), "composite loss: cuda %.9g, cpu %.9g",
              useg_get_flat(lgh, 0), want);
        for (int k = 0; k < 3; k++) {
            int64_t n = useg_numel(cpu[k]);
            double *ref = host_doubles(ctx, n);
            for (int64_t i = 0; i < n; i++) ref[i] = useg_get_flat(cpu[k]->grad, i);
            char what[64];
            snprintf(what, sizeof what, "composite gradient of input %d, step %d", k, step);
            check_close(ctx, what, USEG_F32, gpu[k]->grad->data, ref, n, 1e-5);
        }
        useg_step_end(ctx);
    }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_ops");
    if (skip) return skip;
    test_binary(&ctx);
    test_unary(&ctx);
    test_add_into(&ctx);
    test_sum(&ctx);
    test_max(&ctx);
    test_ops_with_autograd(&ctx);
    return cuda_check_finish(&ctx, "cuda_ops");
}
