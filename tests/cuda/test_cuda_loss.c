// The losses on CUDA tensors against the same ops on the CPU (op_parity:
// forward and backward, gradients of float targets included, f32 / f16 /
// bf16), then their CUDA twins called directly with guarded outputs; and
// cross-entropy's target check on the device: an out-of-range target is a
// clean shape error naming it.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"
#include "rng.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

// The upstream gradient's scale for a mean over `count` elements: large
// enough that f16 gradients (about g / count) stay normal, small enough that
// the scaled loss stays inside f16's range.
static double loss_scale(int64_t count) { return count < 1 ? 1.0 : count > 4096 ? 4096.0 : (double)count; }

// --- Cross-entropy ------------------------------------------------------------------------

typedef struct {
    int ndim;           // of the logits
    int64_t shape[4];   // logits (N, C, ...)
    int64_t ignore;     // ignore_index
    int ignored_every;  // every k-th target is ignore_index (0: none; 1: all)
    bool transpose;     // logits (N, C) read through a transposed (C, N) leaf
} ce_case;

static const ce_case CE_CASES[] = {
    {2, {1, 1}, -100, 0, false},     {2, {7, 5}, -100, 5, false},        {2, {64, 1000}, -100, 3, false},
    {3, {2, 27, 97}, -100, 4, false}, {3, {3, 2, 4099}, 1, 0, false},    {4, {2, 5, 7, 9}, 255, 2, false},
    {2, {9, 4}, -100, 1, false},     {2, {13, 6}, -100, 4, true},        {3, {8, 21, 1000}, 0, 7, false},
};

typedef struct {
    int64_t ignore;
    bool transpose;
} ce_arg;

static useg_status ce_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *target, const void *arg,
                         useg_tensor **out) {
    const ce_arg *a = arg;
    useg_tensor *x = in[0];
    if (a->transpose) USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &x));
    return useg_cross_entropy(ctx, x, target, a->ignore, out);
}

static void test_cross_entropy(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof CE_CASES / sizeof CE_CASES[0]; c++)
        for (int k = 0; k < N_DTYPES; k++) {
            const ce_case *cc = &CE_CASES[c];
            useg_dtype dt = DTYPES[k];
            int64_t N = cc->shape[0], C = cc->shape[1], P = N, n = N * C;
            int64_t tshape[3] = {N};
            for (int d = 2; d < cc->ndim; d++) tshape[d - 1] = cc->shape[d], P *= cc->shape[d], n *= cc->shape[d];
            if (!cuda_case_fits(n)) continue;
            parity_input in = {.ndim = cc->ndim, .lo = -4, .hi = 4};
            memcpy(in.shape, cc->shape, sizeof cc->shape);
            if (cc->transpose) in.shape[0] = C, in.shape[1] = N;
            useg_tensor *target;
            CHECK_OK(ctx, useg_empty(ctx, NULL, USEG_I64, cc->ndim - 1, tshape, &target));
            int64_t count = 0;
            for (int64_t q = 0; q < P; q++) {
                bool ignored = cc->ignored_every && q % cc->ignored_every == cc->ignored_every - 1;
                int64_t t = ignored ? cc->ignore : (int64_t)useg_rng_below(&ctx->rng, (uint32_t)C);
                useg_set_flat(target, q, (double)t);
                count += t != cc->ignore;
            }
            ce_arg arg = {cc->ignore, cc->transpose};
            char what[128];
            snprintf(what, sizeof what, "cross_entropy case %zu %s", c, useg_dtype_name(dt));
            parity p;
            double tol = cuda_tol(dt);
            if (!op_parity(ctx, what, dt, ce_fn, &arg, 1, &in, target, tol, loss_scale(count), &p) || cc->transpose) {
                useg_step_end(ctx);
                continue;
            }
            guarded gl, glse, gdx;
            useg_tensor *loss = guarded_tensor(ctx, dt, 0, (int64_t[1]){1}, &gl);
            useg_tensor *lse = guarded_tensor(ctx, USEG_F32, 1, &P, &glse);
            useg_tensor *dx = guarded_tensor(ctx, dt, cc->ndim, cc->shape, &gdx);
            CHECK_LAUNCH(ctx, useg_cross_entropy_forward_cuda(ctx, p.gpu_in[0], p.gpu_aux, cc->ignore, (double)count,
                                                              lse, loss));
            CHECK_LAUNCH(ctx, useg_cross_entropy_backward_cuda(ctx, p.gpu_in[0], p.gpu_aux, cc->ignore, (double)count,
                                                               lse, p.gpu_w, dx));
            check_tensor(ctx, what, loss, p.cpu_out, tol);
            check_tensor(ctx, "cross_entropy backward", dx, p.cpu_in[0]->grad, 2 * tol);
            guarded_check(ctx, &gl, what);
            guarded_check(ctx, &glse, what);
            guarded_check(ctx, &gdx, what);
            useg_step_end(ctx);
        }
}

// Targets outside [0, C) that are not ignore_index fail before any kernel
// reads x[target], naming the first one, and leave the context usable.
static void test_bad_targets(useg_ctx *ctx) {
    const int64_t xshape[3] = {2, 4, 3}, tshape[2] = {2, 3};
    useg_tensor *x, *t, *tg, *out;
    CHECK_OK(ctx, useg_zeros_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 3, xshape, &x));
    CHECK_OK(ctx, useg_zeros(ctx, NULL, USEG_I64, 2, tshape, &t));
    useg_set_flat(t, 1, -100); // ignored
    useg_set_flat(t, 4, 4);    // C: out of range, at position 4
    useg_set_flat(t, 5, -1);   // also out of range, later
    CHECK_OK(ctx, useg_to_device(ctx, t, USEG_DEVICE_CUDA, &tg));
    CHECK_FAILS(ctx, useg_cross_entropy(ctx, x, tg, -100, &out), USEG_ERR_SHAPE);
    CHECK_OK(ctx, useg_to_device(ctx, t, USEG_DEVICE_CUDA, &tg)); // the context still works
    useg_cross_entropy(ctx, x, tg, -100, &out);
    CHECK(strstr(ctx->message, "target 4 at position 4") != NULL, "the message names the first bad target: %s",
          ctx->message);
    useg_clear_error(ctx);
    useg_set_flat(t, 4, 0);
    useg_set_flat(t, 5, 3);
    CHECK_OK(ctx, useg_to_device(ctx, t, USEG_DEVICE_CUDA, &tg));
    CHECK_OK(ctx, useg_cross_entropy(ctx, x, tg, -100, &out));
    useg_step_end(ctx);
}

// --- BCE with logits and focal loss ------------------------------------------------------------

typedef struct {
    bool focal;
    double alpha, gamma;
} sigmoid_arg;

static useg_status sigmoid_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                              useg_tensor **out) {
    (void)aux;
    const sigmoid_arg *a = arg;
    return a->focal ? useg_focal_loss(ctx, in[0], in[1], a->alpha, a->gamma, out)
                    : useg_bce_with_logits(ctx, in[0], in[1], out);
}

static void test_sigmoid_losses(useg_ctx *ctx) {
    const int64_t shapes[][3] = {{1, 1, 1}, {1, 7, 3}, {1, 1, 4099}, {2, 33, 65}, {1, 64, 1 << 14}};
    const sigmoid_arg args[] = {{false, -1, 0}, {true, 0.25, 2}, {true, 0.5, 1}, {true, -1, 0.5}, {true, 1, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int k = 0; k < N_DTYPES; k++)
            for (size_t q = 0; q < sizeof args / sizeof args[0]; q++) {
                useg_dtype dt = DTYPES[k];
                const sigmoid_arg *a = &args[q];
                int64_t n = shapes[s][0] * shapes[s][1] * shapes[s][2];
                if (!cuda_case_fits(n)) continue;
                // Soft targets in [0, 1), differentiable too.
                parity_input in[2] = {{.ndim = 3, .lo = -5, .hi = 5}, {.ndim = 3, .lo = 0, .hi = 1}};
                memcpy(in[0].shape, shapes[s], sizeof shapes[s]);
                memcpy(in[1].shape, shapes[s], sizeof shapes[s]);
                char what[128];
                snprintf(what, sizeof what, "%s n=%lld alpha=%g gamma=%g %s", a->focal ? "focal" : "bce", (long long)n,
                         a->alpha, a->gamma, useg_dtype_name(dt));
                parity p;
                double tol = cuda_tol(dt);
                if (!op_parity(ctx, what, dt, sigmoid_fn, a, 2, in, NULL, tol, loss_scale(n), &p)) {
                    useg_step_end(ctx);
                    continue;
                }
                double alpha = a->focal ? a->alpha : -1, gamma = a->focal ? a->gamma : 0;
                guarded gl, gdx, gdt;
                useg_tensor *loss = guarded_tensor(ctx, dt, 0, (int64_t[1]){1}, &gl);
                useg_tensor *dx = guarded_tensor(ctx, dt, 3, shapes[s], &gdx);
                useg_tensor *dtg = guarded_tensor(ctx, dt, 3, shapes[s], &gdt);
                CHECK_LAUNCH(ctx, useg_focal_forward_cuda(ctx, p.gpu_in[0], p.gpu_in[1], alpha, gamma, loss));
                CHECK_LAUNCH(ctx, useg_focal_backward_cuda(ctx, p.gpu_in[0], p.gpu_in[1], alpha, gamma, p.gpu_w, dx, dtg));
                check_tensor(ctx, what, loss, p.cpu_out, tol);
                check_tensor(ctx, "sigmoid loss dx", dx, p.cpu_in[0]->grad, 2 * tol);
                check_tensor(ctx, "sigmoid loss dtarget", dtg, p.cpu_in[1]->grad, 2 * tol);
                guarded_check(ctx, &gl, what);
                guarded_check(ctx, &gdx, what);
                guarded_check(ctx, &gdt, what);
                useg_step_end(ctx);
            }
}

// --- Dice ----------------------------------------------------------------------------------

static useg_status dice_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                           useg_tensor **out) {
    (void)aux, (void)arg;
    return useg_dice_loss(ctx, in[0], in[1], out);
}

static void test_dice(useg_ctx *ctx) {
    const int64_t shapes[][3] = {{1, 1, 1}, {3, 7, 1}, {8, 64, 64}, {33, 257, 1}, {2, 256, 256}, {4, 17, 19}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int k = 0; k < N_DTYPES; k++) {
            useg_dtype dt = DTYPES[k];
            int64_t N = shapes[s][0], n = N * shapes[s][1] * shapes[s][2], sshape[2] = {N, 2};
            if (!cuda_case_fits(n)) continue;
            parity_input in[2] = {{.ndim = 3, .lo = -4, .hi = 4}, {.ndim = 3, .lo = 0, .hi = 1}};
            memcpy(in[0].shape, shapes[s], sizeof shapes[s]);
            memcpy(in[1].shape, shapes[s], sizeof shapes[s]);
            char what[128];
            snprintf(what, sizeof what, "dice (%lld, %lld, %lld) %s", (long long)N, (long long)shapes[s][1],
                     (long long)shapes[s][2], useg_dtype_name(dt));
            parity p;
            double tol = cuda_tol(dt);
            if (!op_parity(ctx, what, dt, dice_fn, NULL, 2, in, NULL, tol, loss_scale(n), &p)) {
                useg_step_end(ctx);
                continue;
            }
            guarded gl, gs, gdx, gdt;
            useg_tensor *loss = guarded_tensor(ctx, dt, 0, (int64_t[1]){1}, &gl);
            useg_tensor *stats = guarded_tensor(ctx, USEG_F32, 2, sshape, &gs);
            useg_tensor *dx = guarded_tensor(ctx, dt, 3, shapes[s], &gdx);
            useg_tensor *dtg = guarded_tensor(ctx, dt, 3, shapes[s], &gdt);
            CHECK_LAUNCH(ctx, useg_dice_forward_cuda(ctx, p.gpu_in[0], p.gpu_in[1], stats, loss));
            CHECK_LAUNCH(ctx, useg_dice_backward_cuda(ctx, p.gpu_in[0], p.gpu_in[1], stats, p.gpu_w, dx, dtg));
            check_tensor(ctx, what, loss, p.cpu_out, tol);
            check_tensor(ctx, "dice dx", dx, p.cpu_in[0]->grad, 2 * tol);
            check_tensor(ctx, "dice dtarget", dtg, p.cpu_in[1]->grad, 2 * tol);
            guarded_check(ctx, &gl, what);
            guarded_check(ctx, &gs, what);
            guarded_check(ctx, &gdx, what);
            guarded_check(ctx, &gdt, what);
            useg_step_end(ctx);
        }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_loss");
    if (skip) return skip;
    test_cross_entropy(&ctx);
    test_bad_targets(&ctx);
    test_sigmoid_losses(&ctx);
    test_dice(&ctx);
    return cuda_check_finish(&ctx, "cuda_loss");
}
