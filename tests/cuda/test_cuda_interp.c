// Bilinear and bicubic interpolation on CUDA tensors against the same ops on
// the CPU (op_parity, forward and backward), by output size and by scale
// factor (PyTorch's scale semantics: DINO's (h0 + 0.1) / sqrt(N) factors,
// bilinear's identity along an axis whose size does not change), with
// up- and downsampling, size 1, odd sizes and a permuted input; then the CUDA
// twin called directly with guarded outputs.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

typedef struct {
    int64_t B, C, H, W;
    int64_t OH, OW;        // by size when scale_h is 0
    double scale_h, scale_w;
    bool permute;          // the op reads x (B, C, W, H) with its last two axes swapped
} interp_case;

static const interp_case CASES[] = {
    {1, 1, 1, 1, 1, 1, 0, 0, false},         {2, 1, 1, 1, 5, 3, 0, 0, false},
    {1, 3, 7, 5, 7, 5, 0, 0, false},         {1, 2, 7, 5, 28, 20, 0, 0, false},
    {1, 1, 13, 17, 5, 6, 0, 0, false},       {2, 2, 14, 14, 224, 224, 0, 0, false},
    {1, 2, 31, 29, 97, 101, 0, 0, false},    {1, 1, 64, 64, 16, 16, 0, 0, false},
    {1, 1, 37, 3, 1, 2, 0, 0, false},        {1, 3, 9, 11, 20, 4, 0, 0, true},
    {1, 4, 14, 14, 0, 0, 30.1 / 14, 40.1 / 14, false}, // DINO: 14 x 14 patches to 30 x 40
    {1, 2, 10, 7, 0, 0, 1.05, 2.5, false},  // H keeps its size (10.5 -> 10) with a scale factor
    {2, 1, 5, 6, 0, 0, 0.5, 0.34, false},   {1, 1, 480, 480, 0, 0, 14.0 / 480, 14.0 / 480, false},
};

typedef struct {
    const interp_case *c;
    useg_interp_mode mode;
} interp_arg;

static useg_status interp_input(useg_ctx *ctx, useg_tensor *x, bool permute, useg_tensor **view) {
    if (!permute) {
        *view = x;
        return USEG_OK;
    }
    return useg_transpose(ctx, x, 2, 3, view);
}

static useg_status interp_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                             useg_tensor **out) {
    (void)aux;
    const interp_arg *a = arg;
    useg_tensor *x;
    USEG_TRY(interp_input(ctx, in[0], a->c->permute, &x));
    if (a->c->scale_h > 0) return useg_interpolate_scaled(ctx, x, a->c->scale_h, a->c->scale_w, a->mode, out);
    return useg_interpolate(ctx, x, a->c->OH, a->c->OW, a->mode, out);
}

static void test_interpolate(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++)
            for (int mode = 0; mode < 2; mode++) {
                const interp_case *ic = &CASES[c];
                useg_dtype dt = DTYPES[k];
                parity_input in = {.ndim = 4, .shape = {ic->B, ic->C, ic->H, ic->W}, .lo = -1, .hi = 1};
                if (ic->permute) in.shape[2] = ic->W, in.shape[3] = ic->H;
                int64_t n = ic->B * ic->C * ic->H * ic->W;
                if (!cuda_case_fits(4 * n)) continue;
                interp_arg arg = {ic, (useg_interp_mode)mode};
                char what[128];
                snprintf(what, sizeof what, "%s case %zu %s", mode == USEG_INTERP_BICUBIC ? "bicubic" : "bilinear", c,
                         useg_dtype_name(dt));
                parity p;
                double tol = cuda_tol(dt);
                if (!op_parity(ctx, what, dt, interp_fn, &arg, 1, &in, NULL, tol, 1.0, &p)) {
                    useg_step_end(ctx);
                    continue;
                }
                useg_tensor *view, *x, *ref_dx;
                const double scales[2] = {ic->scale_h, ic->scale_w};
                CHECK_OK(ctx, interp_input(ctx, p.gpu_in[0], ic->permute, &view));
                CHECK_OK(ctx, useg_contiguous(ctx, view, &x));
                CHECK_OK(ctx, interp_input(ctx, p.cpu_in[0]->grad, ic->permute, &ref_dx));
                guarded gy, gdx;
                useg_tensor *y = guarded_tensor(ctx, dt, 4, p.gpu_out->shape, &gy);
                useg_tensor *dx = guarded_tensor(ctx, dt, 4, x->shape, &gdx);
                CHECK_LAUNCH(ctx, useg_interpolate_cuda(ctx, false, (useg_interp_mode)mode, scales, x, y));
                CHECK_LAUNCH(ctx, useg_interpolate_cuda(ctx, true, (useg_interp_mode)mode, scales, p.gpu_w, dx));
                check_tensor(ctx, what, y, p.cpu_out, tol);
                check_tensor(ctx, "interpolate backward", dx, ref_dx, 2 * tol);
                guarded_check(ctx, &gy, what);
                guarded_check(ctx, &gdx, what);
                useg_step_end(ctx);
            }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_interp");
    if (skip) return skip;
    test_interpolate(&ctx);
    return cuda_check_finish(&ctx, "cuda_interp");
}
