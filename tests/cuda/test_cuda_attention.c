// Fused attention on CUDA tensors against the same op on the CPU (op_parity:
// forward, and dq, dk, dv through the public op), head dims 32 and 64, f32 /
// f16 / bf16, sequence lengths 1, primes, the tile sizes and their
// neighbours, ViT-S/B's 197 and a long 901, and q read through a permuted
// (B, N, H, D) view; then the CUDA twins called directly (workspace from the
// device scratch) with guarded outputs. Head dims without a kernel are
// refused with USEG_ERR_UNSUPPORTED, not miscomputed.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

typedef struct {
    int64_t B, H, Nq, Nk;
    bool permute; // q's leaf is (B, Nq, H, D), read permuted
} attn_case;

static const attn_case CASES[] = {{1, 1, 1, 1, false},     {1, 2, 7, 7, false},     {2, 3, 63, 65, false},
                                  {1, 2, 64, 64, false},   {1, 1, 65, 129, false},  {2, 2, 197, 197, false},
                                  {1, 1, 257, 100, false}, {1, 1, 100, 257, false}, {1, 1, 901, 901, false},
                                  {2, 3, 50, 17, true}};

typedef struct {
    bool permute;
    double scale;
} attn_arg;

static useg_status attn_q(useg_ctx *ctx, useg_tensor *q, bool permute, useg_tensor **view) {
    if (!permute) {
        *view = q;
        return USEG_OK;
    }
    return useg_permute(ctx, q, (const int[4]){0, 2, 1, 3}, view);
}

static useg_status attn_fn(useg_ctx *ctx, useg_tensor *const *in, useg_tensor *aux, const void *arg,
                           useg_tensor **out) {
    (void)aux;
    const attn_arg *a = arg;
    useg_tensor *q;
    USEG_TRY(attn_q(ctx, in[0], a->permute, &q));
    return useg_attention(ctx, q, in[1], in[2], a->scale, out);
}

static void test_attention(useg_ctx *ctx) {
    const int64_t dims[] = {32, 64};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
        for (int di = 0; di < 2; di++)
            for (int k = 0; k < N_DTYPES; k++) {
                const attn_case *ac = &CASES[c];
                useg_dtype dt = DTYPES[k];
                int64_t D = dims[di];
                if (!cuda_case_fits(ac->B * ac->H * ac->Nq * ac->Nk * D / 64)) continue;
                parity_input in[3] = {{.ndim = 4, .shape = {ac->B, ac->H, ac->Nq, D}, .lo = -2, .hi = 2},
                                      {.ndim = 4, .shape = {ac->B, ac->H, ac->Nk, D}, .lo = -2, .hi = 2},
                                      {.ndim = 4, .shape = {ac->B, ac->H, ac->Nk, D}, .lo = -2, .hi = 2}};
                if (ac->permute) in[0].shape[1] = ac->Nq, in[0].shape[2] = ac->H;
                attn_arg arg = {ac->permute, 1 / sqrt((double)D)};
                char what[128];
                snprintf(what, sizeof what, "attention B=%lld H=%lld Nq=%lld Nk=%lld D=%lld %s", (long long)ac->B,
                         (long long)ac->H, (long long)ac->Nq, (long long)ac->Nk, (long long)D, useg_dtype_name(dt));
                parity p;
                double tol = cuda_tol(dt);
                if (!op_parity(ctx, what, dt, attn_fn, &arg, 3, in, NULL, tol, 1.0, &p)) {
                    useg_step_end(ctx);
                    continue;
                }
                useg_tensor *qv, *q, *ref_dq;
                CHECK_OK(ctx, attn_q(ctx, p.gpu_in[0], ac->permute, &qv));
                CHECK_OK(ctx, useg_contiguous(ctx, qv, &q));
                CHECK_OK(ctx, attn_q(ctx, p.cpu_in[0]->grad, ac->permute, &ref_dq));
                const useg_tensor *kk = p.gpu_in[1], *v = p.gpu_in[2];
                guarded go, gl, gq, gk, gv;
                useg_tensor *o = guarded_tensor(ctx, dt, 4, q->shape, &go);
                useg_tensor *lse = guarded_tensor(ctx, USEG_F32, 3, q->shape, &gl);
                useg_tensor *dq = guarded_tensor(ctx, dt, 4, q->shape, &gq);
                useg_tensor *dk = guarded_tensor(ctx, dt, 4, kk->shape, &gk);
                useg_tensor *dv = guarded_tensor(ctx, dt, 4, v->shape, &gv);
                void *ws;
                CHECK_OK(ctx, useg_scratch_alloc(ctx, USEG_DEVICE_CUDA,
                                                 useg_attention_backward_cuda_workspace_size(q, kk), &ws));
                CHECK_LAUNCH(ctx, useg_attention_forward_cuda(ctx, q, kk, v, arg.scale, o, lse, ws));
                CHECK_LAUNCH(ctx, useg_attention_backward_cuda(ctx, q, kk, v, o, lse, p.gpu_w, arg.scale, dq,
                                                               dk, dv, ws));
                check_tensor(ctx, what, o, p.cpu_out, tol);
                // The backward's delta comes from the stored (rounded) o.
                check_tensor(ctx, "attention dq", dq, ref_dq, 2 * tol);
                check_tensor(ctx, "attention dk", dk, p.cpu_in[1]->grad, 2 * tol);
                check_tensor(ctx, "attention dv", dv, p.cpu_in[2]->grad, 2 * tol);
                const guarded *all[] = {&go, &gl, &gq, &gk, &gv};
                for (int i = 0; i < 5; i++) guarded_check(ctx, all[i], what);
                useg_step_end(ctx);
            }
}

// Head dims without a kernel: the op answers USEG_ERR_UNSUPPORTED (the CPU computes them).
static void test_unsupported_head_dims(useg_ctx *ctx) {
    const int64_t dims[] = {1, 16, 48, 128};
    for (int i = 0; i < 4; i++) {
        const int64_t shape[4] = {1, 2, 5, dims[i]};
        useg_tensor *q, *out;
        CHECK_OK(ctx, useg_zeros_on(ctx, NULL, USEG_DEVICE_CUDA, USEG_F32, 4, shape, &q));
        CHECK_FAILS(ctx, useg_attention(ctx, q, q, q, 1.0, &out), USEG_ERR_UNSUPPORTED);
        useg_step_end(ctx);
    }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_attention");
    if (skip) return skip;
    test_attention(&ctx);
    test_unsupported_head_dims(&ctx);
    return cuda_check_finish(&ctx, "cuda_attention");
}
