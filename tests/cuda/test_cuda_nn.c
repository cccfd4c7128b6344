// Softmax, log-softmax and layer norm on CUDA tensors against the same ops on
// the CPU (op_parity: forward and backward through the public op API, f32,
// f16 and bf16 storage), then their CUDA twins called directly on the same
// values with guarded outputs, over a sweep of shapes: size 1, primes, rows
// on both sides of the warp / block / column kernels' limits, any axis,
// transposed inputs.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

// --- Softmax ----------------------------------------------------------------------------------

typedef struct {
    int ndim;
    int64_t shape[4];
    int axis;
    bool transpose; // the op reads the input with its first two axes swapped
} softmax_case;

static const softmax_case SOFTMAX_CASES[] = {
    {1, {1}, 0, false},           {1, {7}, -1, false},          {2, {33, 97}, 1, false},
    {2, {5, 1000}, -1, false},    {2, {3, 4097}, 1, false},     {2, {2, 10007}, 1, false},
    {3, {4, 19, 31}, 1, false},   {3, {2, 3, 1025}, 1, false},  {3, {1, 129, 2}, 1, false},
    {2, {129, 3}, 0, false},      {2, {20000, 33}, 1, false},   {2, {40, 70}, 1, true},
    {3, {6, 5, 300}, 0, true},    {4, {2, 3, 4, 5}, 2, false},
};

typedef struct {
    int axis;
    bool log, transpose;
} softmax_arg;

// The input as the op reads it: x, or x with its first two axes swapped.
static useg_status softmax_input(useg_ctx *ctx, useg_tensor *x, bool transpose, useg_tensor **view) {
    if (!transpose) {
        *view = x;
        return USEG_OK;
    }
    return useg_transpose(ctx, x, 0, 1, view);
}

static useg_status softmax_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                              useg_tensor **out) {
    (void)aux;
    const softmax_arg *a = arg;
    useg_tensor *x;
    USEG_TRY(softmax_input(ctx, in[0], a->transpose, &x));
    return a->log ? useg_log_softmax(ctx, x, a->axis, out) : useg_softmax(ctx, x, a->axis, out);
}

static void test_softmax(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof SOFTMAX_CASES / sizeof SOFTMAX_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int is_log = 0; is_log < 2; is_log++) {
                const softmax_case *sc = &SOFTMAX_CASES[c];
                useg_dtype dt = DTYPES[k];
                parity_input in = {.ndim = sc->ndim, .lo = -6, .hi = 6};
                memcpy(in.shape, sc->shape, sizeof sc->shape);
                int64_t n = 1;
                for (int d = 0; d < sc->ndim; d++) n *= sc->shape[d];
                if (!cuda_case_fits(n)) continue;
                softmax_arg arg = {sc->axis, is_log, sc->transpose};
                char what[128];
                snprintf(what, sizeof what, "%s case %zu %s", is_log ? "log_softmax" : "softmax", c, useg_dtype_name(dt));
                parity p;
                double tol = cuda_tol(dt);
                if (!op_parity(ctx, what, dt, softmax_fn, &arg, 1, &in, NULL, tol, 1.0, &p)) {
                    useg_step_end(ctx);
                    continue;
                }
                // The twins on the op's contiguous input, outputs guarded.
                useg_tensor *view, *x, *ref_dx;
                int axis = sc->axis < 0 ? sc->axis + sc->ndim : sc->axis;
                CHECK_OK(ctx, softmax_input(ctx, p.gpu_in[0], sc->transpose, &view));
                CHECK_OK(ctx, useg_contiguous(ctx, view, &x));
                CHECK_OK(ctx, softmax_input(ctx, p.cpu_in[0]->grad, sc->transpose, &ref_dx));
                guarded gy, gdx;
                useg_tensor *y = guarded_tensor(ctx, dt, x->ndim, x->shape, &gy);
                useg_tensor *dx = guarded_tensor(ctx, dt, x->ndim, x->shape, &gdx);
                CHECK_LAUNCH(ctx, useg_softmax_forward_cuda(ctx, x, axis, is_log, y));
                CHECK_LAUNCH(ctx, useg_softmax_backward_cuda(ctx, y, p.gpu_w, axis, is_log, dx));
                check_tensor(ctx, what, y, p.cpu_out, tol);
                check_tensor(ctx, what, dx, ref_dx, 2 * tol);
                guarded_check(ctx, &gy, what);
                guarded_check(ctx, &gdx, what);
                useg_step_end(ctx);
            }
}

// --- Layer norm -------------------------------------------------------------------------------

typedef struct {
    int ndim;
    int64_t shape[3];
} ln_case;

static const ln_case LN_CASES[] = {{2, {1, 1}},     {2, {1, 7}},     {2, {3, 31}},    {2, {197, 384}},
                                   {2, {65, 768}},  {2, {1000, 33}}, {2, {7, 4099}},  {2, {513, 257}},
                                   {3, {2, 5, 64}}, {1, {129}},      {2, {70000, 8}}};

typedef struct {
    bool weight, bias;
} ln_arg;

static useg_status ln_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg, useg_tensor **out) {
    (void)aux;
    const ln_arg *a = arg;
    return useg_layer_norm(ctx, in[0], a->weight ? in[1] : NULL, a->bias ? in[2] : NULL, 1e-5, out);
}

static void test_layer_norm(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof LN_CASES / sizeof LN_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int affine = 0; affine < 4; affine++) {
                const ln_case *lc = &LN_CASES[c];
                useg_dtype dt = DTYPES[k];
                int64_t C = lc->shape[lc->ndim - 1], n = 1;
                for (int d = 0; d < lc->ndim; d++) n *= lc->shape[d];
                if (!cuda_case_fits(n)) continue;
                parity_input in[3] = {{.ndim = lc->ndim, .lo = -3, .hi = 5},
                                      {.ndim = 1, .shape = {C}, .lo = 0.5, .hi = 1.5},
                                      {.ndim = 1, .shape = {C}, .lo = -1, .hi = 1}};
                memcpy(in[0].shape, lc->shape, sizeof lc->shape);
                ln_arg arg = {affine & 1, affine & 2};
                char what[128];
                snprintf(what, sizeof what, "layer_norm case %zu%s%s %s", c, arg.weight ? " weight" : "",
                         arg.bias ? " bias" : "", useg_dtype_name(dt));
                parity p;
                double tol = cuda_tol(dt);
                if (!op_parity(ctx, what, dt, ln_fn, &arg, 3, in, NULL, tol, 1.0, &p)) {
                    useg_step_end(ctx);
                    continue;
                }
                // The twins, outputs guarded; stats against the mean and rstd of the stored x.
                int64_t R = n / C, sshape[2] = {R, 2};
                useg_tensor *w = arg.weight ? p.gpu_in[1] : NULL, *b = arg.bias ? p.gpu_in[2] : NULL;
                guarded gy, gs, gdx, gdw, gdb;
                useg_tensor *y = guarded_tensor(ctx, dt, lc->ndim, lc->shape, &gy);
                useg_tensor *stats = guarded_tensor(ctx, USEG_F32, 2, sshape, &gs);
                useg_tensor *dx = guarded_tensor(ctx, dt, lc->ndim, lc->shape, &gdx);
                useg_tensor *dw = arg.weight ? guarded_tensor(ctx, dt, 1, &C, &gdw) : NULL;
                useg_tensor *db = arg.bias ? guarded_tensor(ctx, dt, 1, &C, &gdb) : NULL;
                CHECK_LAUNCH(ctx, useg_layer_norm_forward_cuda(ctx, p.gpu_in[0], w, b, 1e-5, y, stats));
                CHECK_LAUNCH(ctx, useg_layer_norm_backward_cuda(ctx, p.gpu_in[0], w, stats, p.gpu_w, dx, dw, db));
                double *sref = host_doubles(ctx, 2 * R);
                for (int64_t r = 0; r < R; r++) {
                    double mean = 0, var = 0;
                    for (int64_t j = 0; j < C; j++) mean += useg_get_flat(p.cpu_in[0], r * C + j);
                    mean /= (double)C;
                    for (int64_t j = 0; j < C; j++) {
                        double d = useg_get_flat(p.cpu_in[0], r * C + j) - mean;
                        var += d * d;
                    }
                    sref[2 * r] = mean, sref[2 * r + 1] = 1 / sqrt(var / (double)C + 1e-5);
                }
                check_tensor(ctx, what, y, p.cpu_out, tol);
                check_close(ctx, "layer_norm stats", USEG_F32, stats->data, sref, 2 * R, 1e-5);
                check_tensor(ctx, "layer_norm dx", dx, p.cpu_in[0]->grad, 2 * tol);
                if (dw) check_tensor(ctx, "layer_norm dweight", dw, p.cpu_in[1]->grad, 2 * tol);
                if (db) check_tensor(ctx, "layer_norm dbias", db, p.cpu_in[2]->grad, 2 * tol);
                guarded_check(ctx, &gy, what);
                guarded_check(ctx, &gs, what);
                guarded_check(ctx, &gdx, what);
                if (dw) guarded_check(ctx, &gdw, what);
                if (db) guarded_check(ctx, &gdb, what);
                useg_step_end(ctx);
            }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_nn");
    if (skip) return skip;
    test_softmax(&ctx);
    test_layer_norm(&ctx);
    return cuda_check_finish(&ctx, "cuda_nn");
}
