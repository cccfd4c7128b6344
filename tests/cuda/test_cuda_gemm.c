// GEMM (cuBLAS, f32 / TF32 / f16 / bf16, every transpose, padded leading
// dimensions, strided batches with broadcasting), nn.Linear through cuBLASLt,
// im2col / col2im and the conv2d built on them, against double references.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

typedef struct {
    useg_dtype dt;
    bool tf32;
    double tol;
    const char *name;
} precision;

// TF32 rounds inputs to 10 mantissa bits: ~1e-3 relative.
static const precision PRECISIONS[] = {
    {USEG_F32, false, 1e-5, "f32"}, {USEG_F32, true, 3e-3, "tf32"}, {USEG_F16, false, 2e-3, "f16"},
    {USEG_BF16, false, 1e-2, "bf16"}};
enum { N_PRECISIONS = sizeof PRECISIONS / sizeof PRECISIONS[0] };

static void *random_on_device(useg_ctx *ctx, useg_dtype dt, int64_t n, double **values) {
    *values = host_doubles(ctx, n ? n : 1);
    void *h = host_random(ctx, dt, n, -1, 1, *values);
    return to_device(ctx, h, (size_t)(n ? n : 1) * useg_dtype_size(dt));
}

// --- GEMM ------------------------------------------------------------------------------------

static void test_gemm(useg_ctx *ctx) {
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 5, 3}, {5, 4, 0}, {64, 64, 64}, {127, 129, 65}, {197, 384, 1536}, {1000, 1, 17}};
    const int pad = 3; // leading dimensions wider than the rows
    const float alpha = 1.25f, beta = 0.5f;
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int p = 0; p < N_PRECISIONS; p++)
            for (int tr = 0; tr < 4; tr++) {
                const precision *pr = &PRECISIONS[p];
                bool ta = tr & 1, tb = tr & 2;
                int64_t M = sizes[c][0], N = sizes[c][1], K = sizes[c][2];
                if (!cuda_case_fits(M * N * K / 64)) continue;
                int64_t ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N; // stored shapes
                int64_t lda = ca + pad, ldb = cb + pad, ldc = N + pad;
                double *va, *vb, *vc;
                void *A = random_on_device(ctx, pr->dt, ra * lda, &va), *B = random_on_device(ctx, pr->dt, rb * ldb, &vb);
                void *hc = host_random(ctx, pr->dt, M * ldc, -1, 1, NULL);
                vc = host_doubles(ctx, M * ldc);
                for (int64_t i = 0; i < M * ldc; i++) vc[i] = stored_value(pr->dt, hc, i);
                guarded g;
                size_t cbytes = (size_t)(M * ldc) * useg_dtype_size(pr->dt);
                void *C = guarded_alloc(ctx, cbytes, &g);
                CHECK_OK(ctx, useg_cuda_memcpy(ctx, C, USEG_DEVICE_CUDA, hc, USEG_DEVICE_CPU, cbytes));
                double *ref = host_doubles(ctx, M * ldc);
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < ldc; j++) {
                        if (j >= N) { // the padding stays as it was
                            ref[i * ldc + j] = vc[i * ldc + j];
                            continue;
                        }
                        double acc = 0;
                        for (int64_t k = 0; k < K; k++)
                            acc += va[ta ? k * lda + i : i * lda + k] * vb[tb ? j * ldb + k : k * ldb + j];
                        ref[i * ldc + j] = alpha * acc + beta * vc[i * ldc + j];
                    }
                ctx->cuda->allow_tf32 = pr->tf32;
                CHECK_LAUNCH(ctx, useg_gemm_cuda(ctx, pr->dt, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc));
                ctx->cuda->allow_tf32 = false;
                char what[96];
                snprintf(what, sizeof what, "gemm %lldx%lldx%lld %s%s %s", (long long)M, (long long)N, (long long)K,
                         ta ? "T" : "N", tb ? "T" : "N", pr->name);
                check_close(ctx, what, pr->dt, C, ref, M * ldc, pr->tol);
                guarded_check(ctx, &g, what);
                useg_step_end(ctx);
            }
}

static void test_gemm_batched(useg_ctx *ctx) {
    const int64_t M = 33, N = 17, K = 9, batch = 3;
    for (int p = 0; p < N_PRECISIONS; p++)
        for (int broadcast = 0; broadcast < 2; broadcast++) {
            const precision *pr = &PRECISIONS[p];
            int64_t stride_a = broadcast ? 0 : M * K;
            double *va, *vb;
            void *A = random_on_device(ctx, pr->dt, broadcast ? M * K : batch * M * K, &va);
            void *B = random_on_device(ctx, pr->dt, batch * K * N, &vb);
            guarded g;
            void *C = guarded_alloc(ctx, (size_t)(batch * M * N) * useg_dtype_size(pr->dt), &g);
            ctx->cuda->allow_tf32 = pr->tf32;
            CHECK_LAUNCH(ctx, useg_gemm_batched_cuda(ctx, pr->dt, false, false, M, N, K, 1.0f, A, K, stride_a, B, N,
                                                     K * N, 0.0f, C, N, M * N, batch));
            ctx->cuda->allow_tf32 = false;
            double *ref = host_doubles(ctx, batch * M * N);
            for (int64_t b = 0; b < batch; b++)
                for (int64_t i = 0; i < M; i++)
                    for (int64_t j = 0; j < N; j++) {
                        double acc = 0;
                        for (int64_t k = 0; k < K; k++) acc += va[b * stride_a + i * K + k] * vb[b * K * N + k * N + j];
                        ref[(b * M + i) * N + j] = acc;
                    }
            char what[96];
            snprintf(what, sizeof what, "batched gemm%s %s", broadcast ? " (A broadcast)" : "", pr->name);
            check_close(ctx, what, pr->dt, C, ref, batch * M * N, pr->tol);
            guarded_check(ctx, &g, what);
            useg_step_end(ctx);
        }
}

static void test_linear(useg_ctx *ctx) {
    const int64_t sizes[][3] = {{1, 1, 1}, {7, 33, 65}, {197, 384, 1152}, {61, 768, 2304}};
    for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
        for (int p = 0; p < N_PRECISIONS; p++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                const precision *pr = &PRECISIONS[p];
                int64_t rows = sizes[c][0], in = sizes[c][1], out = sizes[c][2];
                if (!cuda_case_fits(rows * in * out / 64)) continue;
                double *vx, *vw, *vb = NULL;
                void *x = random_on_device(ctx, pr->dt, rows * in, &vx), *w = random_on_device(ctx, pr->dt, out * in, &vw);
                void *bias = with_bias ? random_on_device(ctx, pr->dt, out, &vb) : NULL;
                guarded g;
                void *y = guarded_alloc(ctx, (size_t)(rows * out) * useg_dtype_size(pr->dt), &g);
                ctx->cuda->allow_tf32 = pr->tf32;
                CHECK_LAUNCH(ctx, useg_linear_cuda(ctx, pr->dt, y, x, w, bias, rows, in, out));
                ctx->cuda->allow_tf32 = false;
                double *ref = host_doubles(ctx, rows * out);
                for (int64_t r = 0; r < rows; r++)
                    for (int64_t o = 0; o < out; o++) {
                        double acc = vb ? vb[o] : 0;
                        for (int64_t i = 0; i < in; i++) acc += vx[r * in + i] * vw[o * in + i];
                        ref[r * out + o] = acc;
                    }
                char what[96];
                snprintf(what, sizeof what, "linear %lld x %lld -> %lld%s %s", (long long)rows, (long long)in,
                         (long long)out, with_bias ? " + bias" : "", pr->name);
                check_close(ctx, what, pr->dt, y, ref, rows * out, pr->tol);
                guarded_check(ctx, &g, what);
                useg_step_end(ctx);
            }
}

// --- im2col, col2im, conv2d ----------------------------------------------------------------------

typedef struct {
    int64_t B, C, H, W, O;
    int KH, KW, sh, sw, ph, pw;
} conv_case;

static const conv_case CONV_CASES[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},       {2, 3, 32, 32, 8, 16, 16, 16, 16, 0, 0}, // patch embedding
    {1, 3, 56, 42, 12, 14, 14, 14, 14, 0, 0}, {2, 5, 9, 11, 4, 3, 3, 1, 1, 1, 1},
    {1, 2, 7, 8, 3, 3, 2, 2, 3, 1, 0},        {3, 4, 13, 5, 2, 5, 1, 3, 1, 2, 0},
};

static void test_conv(useg_ctx *ctx) {
    for (size_t c = 0; c < sizeof CONV_CASES / sizeof CONV_CASES[0]; c++)
        for (int p = 0; p < N_PRECISIONS; p++) {
            if (PRECISIONS[p].tf32) continue;
            const conv_case *k = &CONV_CASES[c];
            useg_dtype dt = PRECISIONS[p].dt;
            double tol = PRECISIONS[p].tol;
            int64_t OH = (k->H + 2 * k->ph - k->KH) / k->sh + 1, OW = (k->W + 2 * k->pw - k->KW) / k->sw + 1;
            int64_t L = OH * OW, CK = k->C * k->KH * k->KW;
            int64_t nx = k->B * k->C * k->H * k->W, nw = k->O * CK, ny = k->B * k->O * L, ncol = k->B * CK * L;
            double *vx, *vw, *vb, *vdy;
            void *x = random_on_device(ctx, dt, nx, &vx), *w = random_on_device(ctx, dt, nw, &vw);
            void *bias = random_on_device(ctx, dt, k->O, &vb), *dy = random_on_device(ctx, dt, ny, &vdy);
            // References: the column matrix, the convolution and its adjoints.
            double *col = host_doubles(ctx, ncol), *y = host_doubles(ctx, ny), *dx = host_doubles(ctx, nx);
            double *dw = host_doubles(ctx, nw), *db = host_doubles(ctx, k->O), *dcol_ref = host_doubles(ctx, nx);
            for (int64_t i = 0; i < nx; i++) dx[i] = dcol_ref[i] = 0;
            for (int64_t i = 0; i < nw; i++) dw[i] = 0;
            for (int64_t o = 0; o < k->O; o++) db[o] = 0;
            for (int64_t b = 0; b < k->B; b++)
                for (int64_t ck = 0; ck < CK; ck++)
                    for (int64_t l = 0; l < L; l++) {
                        int64_t ch = ck / (k->KH * k->KW), kh = (ck / k->KW) % k->KH, kw = ck % k->KW;
                        int64_t ih = (l / OW) * k->sh - k->ph + kh, iw = (l % OW) * k->sw - k->pw + kw;
                        bool in = ih >= 0 && ih < k->H && iw >= 0 && iw < k->W;
                        int64_t xi = ((b * k->C + ch) * k->H + ih) * k->W + iw;
                        col[(b * CK + ck) * L + l] = in ? vx[xi] : 0;
                    }
            for (int64_t b = 0; b < k->B; b++)
                for (int64_t o = 0; o < k->O; o++)
                    for (int64_t l = 0; l < L; l++) {
                        double acc = vb[o], g = vdy[(b * k->O + o) * L + l];
                        for (int64_t ck = 0; ck < CK; ck++) {
                            acc += vw[o * CK + ck] * col[(b * CK + ck) * L + l];
                            dw[o * CK + ck] += g * col[(b * CK + ck) * L + l];
                        }
                        y[(b * k->O + o) * L + l] = acc;
                        db[o] += g;
                    }
            // dx = col2im(w^T dy); the plain col2im of the column matrix itself checks useg_col2im_cuda.
            for (int64_t b = 0; b < k->B; b++)
                for (int64_t ck = 0; ck < CK; ck++)
                    for (int64_t l = 0; l < L; l++) {
                        int64_t ch = ck / (k->KH * k->KW), kh = (ck / k->KW) % k->KH, kw = ck % k->KW;
                        int64_t ih = (l / OW) * k->sh - k->ph + kh, iw = (l % OW) * k->sw - k->pw + kw;
                        if (ih < 0 || ih >= k->H || iw < 0 || iw >= k->W) continue;
                        int64_t xi = ((b * k->C + ch) * k->H + ih) * k->W + iw;
                        double g = 0;
                        for (int64_t o = 0; o < k->O; o++) g += vw[o * CK + ck] * vdy[(b * k->O + o) * L + l];
                        dx[xi] += g;
                        dcol_ref[xi] += col[(b * CK + ck) * L + l];
                    }
            guarded gc, gi, gy, gdx, gdw, gdb;
            void *dcol = guarded_alloc(ctx, (size_t)ncol * useg_dtype_size(dt), &gc);
            void *back = guarded_alloc(ctx, (size_t)nx * useg_dtype_size(dt), &gi);
            void *yd = guarded_alloc(ctx, (size_t)ny * useg_dtype_size(dt), &gy);
            void *dxd = guarded_alloc(ctx, (size_t)nx * useg_dtype_size(dt), &gdx);
            void *dwd = guarded_alloc(ctx, (size_t)nw * useg_dtype_size(dt), &gdw);
            void *dbd = guarded_alloc(ctx, (size_t)k->O * useg_dtype_size(dt), &gdb);
            CHECK_LAUNCH(ctx, useg_im2col_cuda(ctx, dt, dcol, x, k->B, k->C, k->H, k->W, k->KH, k->KW, k->sh, k->sw,
                                               k->ph, k->pw));
            CHECK_LAUNCH(ctx, useg_col2im_cuda(ctx, dt, back, dcol, k->B, k->C, k->H, k->W, k->KH, k->KW, k->sh, k->sw,
                                               k->ph, k->pw));
            CHECK_LAUNCH(ctx, useg_conv2d_forward_cuda(ctx, dt, yd, x, w, bias, k->B, k->C, k->H, k->W, k->O, k->KH,
                                                       k->KW, k->sh, k->sw, k->ph, k->pw));
            CHECK_LAUNCH(ctx, useg_conv2d_backward_cuda(ctx, dt, dxd, dwd, dbd, dy, x, w, k->B, k->C, k->H, k->W, k->O,
                                                        k->KH, k->KW, k->sh, k->sw, k->ph, k->pw));
            char what[128];
            snprintf(what, sizeof what, "conv case %zu %s", c, PRECISIONS[p].name);
            check_close(ctx, "im2col", dt, dcol, col, ncol, 0.0);
            check_close(ctx, "col2im", dt, back, dcol_ref, nx, tol);
            check_close(ctx, what, dt, yd, y, ny, tol);
            check_close(ctx, "conv2d dx", dt, dxd, dx, nx, tol);
            check_close(ctx, "conv2d dw", dt, dwd, dw, nw, tol);
            check_close(ctx, "conv2d dbias", dt, dbd, db, k->O, tol);
            const guarded *all[] = {&gc, &gi, &gy, &gdx, &gdw, &gdb};
            for (int i = 0; i < 6; i++) guarded_check(ctx, all[i], what);
            useg_step_end(ctx);
        }
}

int main(void) {
    useg_ctx ctx;
    int skip = cuda_check_init(&ctx, "cuda_gemm");
    if (skip) return skip;
    test_gemm(&ctx);
    test_gemm_batched(&ctx);
    test_linear(&ctx);
    test_conv(&ctx);
    return cuda_check_finish(&ctx, "cuda_gemm");
}
