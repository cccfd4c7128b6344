// matmul, linear and conv2d on CUDA tensors against the same ops on the CPU
// (op_parity: forward and backward through the public op API, f32 / f16 /
// bf16): transposed operands, strided views, batch axes broadcast either
// way (cuBLAS strided batches, sequential products where a gradient is
// shared), empty reductions, linear on 2-D and 3-D inputs with and without a
// bias, conv2d's patch-embedding path (recorded ops) and its general path
// (padding, strides, 1x1, kernels wider than tall); then the linear and
// conv2d launchers called directly with guarded outputs.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

// --- matmul -------------------------------------------------------------------------------

typedef struct {
    int na, nb;
    int64_t a[4], b[4]; // the leaves' shapes
    bool ta, tb;        // the op's transposes
    int view;           // 0: the leaves; 1: a read through a swap of its last two axes; 2: b's columns sliced
} matmul_case;

static const matmul_case MATMUL_CASES[] = {
    {2, 2, {1, 1}, {1, 1}, false, false, 0},
    {2, 2, {7, 5}, {5, 3}, false, false, 0},
    {2, 2, {5, 7}, {3, 5}, true, true, 0},
    {2, 2, {3, 0}, {0, 4}, false, false, 0},                  // K = 0: zeros
    {3, 3, {4, 33, 17}, {4, 17, 9}, false, false, 0},         // one strided batch
    {4, 2, {2, 3, 6, 5}, {5, 4}, false, false, 0},           // b shared: one tall GEMM
    {4, 3, {2, 1, 6, 5}, {3, 5, 4}, false, false, 0},        // batch axes broadcast both ways
    {4, 4, {2, 3, 65, 32}, {2, 3, 65, 32}, false, true, 0},  // attention's q k^T
    {3, 3, {2, 9, 7}, {2, 9, 5}, true, false, 0},            // a^T b over a batch
    {3, 3, {3, 8, 6}, {3, 8, 5}, false, false, 1},           // a transposed view: (3, 6, 8)
    {2, 2, {4, 6}, {6, 10}, false, false, 2},                // b's columns 1..8 by 2: row stride 10
};

static useg_status matmul_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                             useg_tensor **out) {
    (void)aux;
    const matmul_case *c = arg;
    useg_tensor *a = in[0], *b = in[1];
    if (c->view == 1) USEG_TRY(useg_transpose(ctx, a, -1, -2, &a));
    if (c->view == 2) USEG_TRY(useg_slice(ctx, b, 1, 1, 9, 2, &b));
    return useg_matmul(ctx, a, b, c->ta, c->tb, out);
}

static void test_matmul(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof MATMUL_CASES / sizeof MATMUL_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            const matmul_case *mc = &MATMUL_CASES[c];
            useg_dtype dt = DTYPES[k];
            parity_input in[2] = {{.ndim = mc->na, .lo = -1, .hi = 1}, {.ndim = mc->nb, .lo = -1, .hi = 1}};
            memcpy(in[0].shape, mc->a, sizeof mc->a);
            memcpy(in[1].shape, mc->b, sizeof mc->b);
            char what[96];
            snprintf(what, sizeof what, "matmul case %zu %s", c, useg_dtype_name(dt));
            parity p;
            op_parity(ctx, what, dt, matmul_fn, mc, 2, in, NULL, cuda_tol(dt), 1.0, &p);
            useg_step_end(ctx);
        }
}

// --- linear -------------------------------------------------------------------------------

typedef struct {
    int ndim;
    int64_t x[3];
    int64_t out;
    bool bias, transposed_w; // w read through a transposed (in, out) leaf
} linear_case;

static const linear_case LINEAR_CASES[] = {
    {2, {1, 1}, 1, true, false},       {2, {7, 33}, 65, true, false},   {3, {2, 197, 64}, 192, true, false},
    {2, {61, 96}, 288, false, false},  {2, {5, 0}, 3, true, false},     {3, {3, 4, 9}, 7, true, true},
    {1, {17}, 5, true, false},
};

static useg_status linear_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                             useg_tensor **out) {
    (void)aux;
    const linear_case *c = arg;
    useg_tensor *w = in[1];
    if (c->transposed_w) USEG_TRY(useg_transpose(ctx, w, 0, 1, &w));
    return useg_linear(ctx, in[0], w, c->bias ? in[2] : NULL, out);
}

static void test_linear(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof LINEAR_CASES / sizeof LINEAR_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            const linear_case *lc = &LINEAR_CASES[c];
            useg_dtype dt = DTYPES[k];
            int64_t I = lc->x[lc->ndim - 1], O = lc->out, rows = 1;
            for (int d = 0; d < lc->ndim - 1; d++) rows *= lc->x[d];
            parity_input in[3] = {{.ndim = lc->ndim, .lo = -1, .hi = 1},
                                  {.ndim = 2, .shape = {O, I}, .lo = -1, .hi = 1},
                                  {.ndim = 1, .shape = {O}, .lo = -1, .hi = 1}};
            memcpy(in[0].shape, lc->x, sizeof lc->x);
            if (lc->transposed_w) in[1].shape[0] = I, in[1].shape[1] = O;
            char what[96];
            snprintf(what, sizeof what, "linear case %zu %s", c, useg_dtype_name(dt));
            parity p;
            double tol = cuda_tol(dt);
            if (!op_parity(ctx, what, dt, linear_fn, lc, 3, in, NULL, tol, 1.0, &p) || lc->transposed_w) {
                useg_step_end(ctx);
                continue;
            }
            // The launcher (cuBLASLt with the bias epilogue, or its fallback), output guarded.
            const int64_t yshape[2] = {rows, O};
            guarded gy;
            useg_tensor *y = guarded_tensor(ctx, dt, 2, yshape, &gy), *ref;
            CHECK_LAUNCH(ctx, useg_linear_cuda(ctx, dt, y->data, p.gpu_in[0]->data, p.gpu_in[1]->data,
                                               lc->bias ? p.gpu_in[2]->data : NULL, rows, I, O));
            CHECK_OK(ctx, useg_reshape(ctx, p.cpu_out, 2, yshape, &ref));
            check_tensor(ctx, what, y, ref, tol);
            guarded_check(ctx, &gy, what);
            useg_step_end(ctx);
        }
}

// --- conv2d -------------------------------------------------------------------------------

typedef struct {
    int64_t B, C, H, W, O, KH, KW;
    int sh, sw, ph, pw;
    bool bias;
} conv_case;

static const conv_case CONV_CASES[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, false},   {2, 3, 28, 28, 8, 14, 14, 14, 14, 0, 0, true}, // patches
    {1, 3, 30, 29, 5, 14, 14, 14, 14, 0, 0, true},                                             // patches, ragged edge
    {2, 3, 9, 11, 4, 3, 3, 1, 1, 1, 1, true},   {1, 2, 12, 10, 3, 5, 3, 2, 3, 2, 0, true},
    {3, 4, 7, 7, 6, 1, 1, 1, 1, 0, 0, false},   {1, 5, 16, 16, 2, 4, 4, 2, 2, 1, 1, true},
    {2, 1, 5, 8, 3, 5, 8, 1, 1, 0, 0, true},
};

static useg_status conv_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                           useg_tensor **out) {
    (void)aux;
    const conv_case *c = arg;
    return useg_conv2d(ctx, in[0], in[1], c->bias ? in[2] : NULL, c->sh, c->sw, c->ph, c->pw, out);
}

static void test_conv2d(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof CONV_CASES / sizeof CONV_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            const conv_case *cc = &CONV_CASES[c];
            useg_dtype dt = DTYPES[k];
            parity_input in[3] = {{.ndim = 4, .shape = {cc->B, cc->C, cc->H, cc->W}, .lo = -1, .hi = 1},
                                  {.ndim = 4, .shape = {cc->O, cc->C, cc->KH, cc->KW}, .lo = -1, .hi = 1},
                                  {.ndim = 1, .shape = {cc->O}, .lo = -1, .hi = 1}};
            char what[96];
            snprintf(what, sizeof what, "conv2d case %zu %s", c, useg_dtype_name(dt));
            parity p;
            double tol = cuda_tol(dt);
            if (!op_parity(ctx, what, dt, conv_fn, cc, 3, in, NULL, tol, 1.0, &p)) {
                useg_step_end(ctx);
                continue;
            }
            // The launchers, outputs guarded: y, then dx, dw, dbias from the op's upstream gradient.
            guarded gy, gx, gw, gb;
            useg_tensor *y = guarded_tensor(ctx, dt, 4, p.gpu_out->shape, &gy);
            useg_tensor *dx = guarded_tensor(ctx, dt, 4, in[0].shape, &gx);
            useg_tensor *dw = guarded_tensor(ctx, dt, 4, in[1].shape, &gw);
            useg_tensor *db = guarded_tensor(ctx, dt, 1, in[2].shape, &gb);
            const void *bias = cc->bias ? p.gpu_in[2]->data : NULL;
            CHECK_LAUNCH(ctx, useg_conv2d_forward_cuda(ctx, dt, y->data, p.gpu_in[0]->data, p.gpu_in[1]->data, bias,
                                                       cc->B, cc->C, cc->H, cc->W, cc->O, (int)cc->KH, (int)cc->KW,
                                                       cc->sh, cc->sw, cc->ph, cc->pw));
            CHECK_LAUNCH(ctx, useg_conv2d_backward_cuda(ctx, dt, dx->data, dw->data, db->data, p.gpu_w->data,
                                                        p.gpu_in[0]->data, p.gpu_in[1]->data, cc->B, cc->C, cc->H,
                                                        cc->W, cc->O, (int)cc->KH, (int)cc->KW, cc->sh, cc->sw, cc->ph,
                                                        cc->pw));
            check_tensor(ctx, what, y, p.cpu_out, tol);
            check_tensor(ctx, "conv2d dx", dx, p.cpu_in[0]->grad, 2 * tol);
            check_tensor(ctx, "conv2d dw", dw, p.cpu_in[1]->grad, 2 * tol);
            if (cc->bias) check_tensor(ctx, "conv2d dbias", db, p.cpu_in[2]->grad, 2 * tol);
            const guarded *all[] = {&gy, &gx, &gw, &gb};
            for (int i = 0; i < 4; i++) guarded_check(ctx, all[i], what);
            useg_step_end(ctx);
        }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_linalg");
    if (skip) return skip;
    test_matmul(&ctx);
    test_linear(&ctx);
    test_conv2d(&ctx);
    return cuda_check_finish(&ctx, "cuda_linalg");
}
