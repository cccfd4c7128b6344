// Fused attention forward and backward, head dims 32 and 64, f32 / f16 /
// bf16, against the unfused computation in double: S = q k^T scale,
// P = softmax(S), o = P v, lse = log sum exp S; dv = P^T do,
// dS = P (do v^T - rowsum(do o)), dq = dS k scale, dk = dS^T q scale.
// Sequence lengths cover 1, primes, the tile sizes and their neighbours,
// ViT-S/B's 197 and a long 901; outputs are guarded.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static const useg_dtype DTYPES[] = {USEG_F32, USEG_F16, USEG_BF16};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

typedef struct {
    int64_t B, H, Nq, Nk;
} attn_case;

static const attn_case CASES[] = {{1, 1, 1, 1},     {1, 2, 7, 7},     {2, 3, 63, 65},  {1, 2, 64, 64},
                                  {1, 1, 65, 129},  {2, 2, 197, 197}, {1, 1, 257, 100}, {1, 1, 100, 257},
                                  {1, 1, 901, 901}};

static void *random_on_device(useg_ctx *ctx, useg_dtype dt, int64_t n, double **values) {
    *values = host_doubles(ctx, n);
    void *h = host_random(ctx, dt, n, -2, 2, *values);
    return to_device(ctx, h, (size_t)n * useg_dtype_size(dt));
}

static void reference(const attn_case *c, int64_t D, double scale, const double *q, const double *k, const double *v,
                      const double *dout, double *o, double *lse, double *dq, double *dk, double *dv, double *P) {
    int64_t Nq = c->Nq, Nk = c->Nk;
    for (int64_t bh = 0; bh < c->B * c->H; bh++) {
        const double *qb = q + bh * Nq * D, *kb = k + bh * Nk * D, *vb = v + bh * Nk * D, *gb = dout + bh * Nq * D;
        double *ob = o + bh * Nq * D, *dqb = dq + bh * Nq * D, *dkb = dk + bh * Nk * D, *dvb = dv + bh * Nk * D;
        for (int64_t i = 0; i < Nq; i++) {
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < Nk; j++) {
                double dot = 0;
                for (int64_t d = 0; d < D; d++) dot += qb[i * D + d] * kb[j * D + d];
                P[i * Nk + j] = dot * scale;
                m = fmax(m, P[i * Nk + j]);
            }
            for (int64_t j = 0; j < Nk; j++) s += exp(P[i * Nk + j] - m);
            lse[bh * Nq + i] = m + log(s);
            for (int64_t j = 0; j < Nk; j++) P[i * Nk + j] = exp(P[i * Nk + j] - m) / s;
            for (int64_t d = 0; d < D; d++) {
                double acc = 0;
                for (int64_t j = 0; j < Nk; j++) acc += P[i * Nk + j] * vb[j * D + d];
                ob[i * D + d] = acc;
            }
        }
        for (int64_t e = 0; e < Nq * D; e++) dqb[e] = 0;
        for (int64_t e = 0; e < Nk * D; e++) dkb[e] = dvb[e] = 0;
        for (int64_t i = 0; i < Nq; i++) {
            double delta = 0;
            for (int64_t d = 0; d < D; d++) delta += gb[i * D + d] * ob[i * D + d];
            for (int64_t j = 0; j < Nk; j++) {
                double p = P[i * Nk + j], dp = 0;
                for (int64_t d = 0; d < D; d++) dp += gb[i * D + d] * vb[j * D + d];
                double ds = p * (dp - delta);
                for (int64_t d = 0; d < D; d++) {
                    dvb[j * D + d] += p * gb[i * D + d];
                    dqb[i * D + d] += ds * kb[j * D + d] * scale;
                    dkb[j * D + d] += ds * qb[i * D + d] * scale;
                }
            }
        }
    }
}

static void test_attention(useg_ctx *ctx) {
    const int64_t dims[] = {32, 64};
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
        for (int di = 0; di < 2; di++)
            for (int k = 0; k < N_DTYPES; k++) {
                const attn_case *ac = &CASES[c];
                useg_dtype dt = DTYPES[k];
                int64_t D = dims[di], BH = ac->B * ac->H, nq = BH * ac->Nq * D, nk = BH * ac->Nk * D;
                if (!cuda_case_fits(BH * ac->Nq * ac->Nk * D / 64)) continue;
                double scale = 1 / sqrt((double)D);
                double *vq, *vk, *vv, *vdo;
                void *q = random_on_device(ctx, dt, nq, &vq), *kk = random_on_device(ctx, dt, nk, &vk);
                void *v = random_on_device(ctx, dt, nk, &vv), *dout = random_on_device(ctx, dt, nq, &vdo);
                double *o = host_doubles(ctx, nq), *lse = host_doubles(ctx, BH * ac->Nq), *dq = host_doubles(ctx, nq);
                double *dk = host_doubles(ctx, nk), *dv = host_doubles(ctx, nk), *P = host_doubles(ctx, ac->Nq * ac->Nk);
                reference(ac, D, scale, vq, vk, vv, vdo, o, lse, dq, dk, dv, P);
                guarded go, gl, gq, gk, gv;
                size_t es = useg_dtype_size(dt);
                void *od = guarded_alloc(ctx, (size_t)nq * es, &go);
                float *lsed = guarded_alloc(ctx, (size_t)(BH * ac->Nq) * sizeof(float), &gl);
                void *dqd = guarded_alloc(ctx, (size_t)nq * es, &gq), *dkd = guarded_alloc(ctx, (size_t)nk * es, &gk);
                void *dvd = guarded_alloc(ctx, (size_t)nk * es, &gv);
                CHECK_LAUNCH(ctx, useg_attention_forward_cuda(ctx, dt, od, lsed, q, kk, v, ac->B, ac->H, ac->Nq, ac->Nk,
                                                              D, (float)scale));
                CHECK_LAUNCH(ctx, useg_attention_backward_cuda(ctx, dt, dqd, dkd, dvd, dout, q, kk, v, od, lsed, ac->B,
                                                               ac->H, ac->Nq, ac->Nk, D, (float)scale));
                char what[128];
                snprintf(what, sizeof what, "attention B=%lld H=%lld Nq=%lld Nk=%lld D=%lld %s", (long long)ac->B,
                         (long long)ac->H, (long long)ac->Nq, (long long)ac->Nk, (long long)D, useg_dtype_name(dt));
                double tol = cuda_tol(dt);
                check_close(ctx, what, dt, od, o, nq, tol);
                check_close(ctx, "attention lse", USEG_F32, lsed, lse, BH * ac->Nq, 1e-5);
                // The backward's delta comes from the stored (rounded) o.
                check_close(ctx, "attention dq", dt, dqd, dq, nq, 2 * tol);
                check_close(ctx, "attention dk", dt, dkd, dk, nk, 2 * tol);
                check_close(ctx, "attention dv", dt, dvd, dv, nk, 2 * tol);
                const guarded *all[] = {&go, &gl, &gq, &gk, &gv};
                for (int i = 0; i < 5; i++) guarded_check(ctx, all[i], what);
                useg_step_end(ctx);
            }
    // Head dims without a kernel are refused, not miscomputed.
    float *lse = useg_device_arena_alloc(&ctx->cuda->step, 256);
    CHECK_FAILS(ctx, useg_attention_forward_cuda(ctx, USEG_F32, lse, lse, lse, lse, lse, 1, 1, 1, 1, 48, 1.0f),
                USEG_ERR_UNSUPPORTED);
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_attention");
    if (skip) return skip;
    test_attention(&ctx);
    return cuda_check_finish(&ctx, "cuda_attention");
}
