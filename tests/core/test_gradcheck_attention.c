// Finite-difference gradient checks (f64) of the fused attention, its
// bad-input errors, and the independence of its results from the thread
// count. Shapes cover Nq != Nk, N = 1, D = 1, several heads and batches,
// sizes straddling the kernel's tiles of 128 queries x 64 keys (Nq = 131 and
// Nk = 131 walk two and three tiles with ragged ends), and strided inputs,
// with a gradient (copied) and without (read in place when rows are contiguous).
#include <math.h>
#include <omp.h>
#include <string.h>

#include "../check.h"
#include "gradcheck.h"
#include "attention.h"
#include "ops.h"

static useg_status case_attention(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_attention(ctx, in[0], in[1], in[2], 1 / sqrt((double)in[0]->shape[3]), out);
}
// A scale far from D^-1/2 makes the scores large, so the running max moves
// between key tiles and the online rescaling is exercised.
static useg_status case_attention_sharp(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_attention(ctx, in[0], in[1], in[2], 2.5, out);
}
// q, k, v from (B, N, H, D) token-major tensors, permuted as a ViT does; v is
// also a slice of its (B, N, H, 2 D) buffer.
static useg_status case_attention_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[4] = {0, 2, 1, 3};
    useg_tensor *q, *k, *v, *vs;
    USEG_TRY(useg_permute(ctx, in[0], perm, &q));
    USEG_TRY(useg_permute(ctx, in[1], perm, &k));
    USEG_TRY(useg_slice(ctx, in[2], 3, 1, in[2]->shape[3], 2, &vs));
    USEG_TRY(useg_permute(ctx, vs, perm, &v));
    return useg_attention(ctx, q, k, v, 0.6, out);
}
// The same tensor as q, k and v (self-attention of one input): gradients
// from the three roles add up.
static useg_status case_attention_shared(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_attention(ctx, in[0], in[0], in[0], 0.8, out);
}

static const grad_case cases[] = {
    {"Nq != Nk", case_attention, 3, {4, 4, 4}, {{1, 1, 3, 4}, {1, 1, 5, 4}, {1, 1, 5, 4}}, GRAD_ANY},
    {"N = 1", case_attention, 3, {4, 4, 4}, {{2, 1, 1, 3}, {2, 1, 1, 3}, {2, 1, 1, 3}}, GRAD_ANY},
    {"Nq = 1, Nk = 7", case_attention, 3, {4, 4, 4}, {{1, 2, 1, 5}, {1, 2, 7, 5}, {1, 2, 7, 5}}, GRAD_ANY},
    {"D = 1", case_attention, 3, {4, 4, 4}, {{1, 2, 4, 1}, {1, 2, 3, 1}, {1, 2, 3, 1}}, GRAD_ANY},
    {"B = 2, H = 3", case_attention, 3, {4, 4, 4}, {{2, 3, 5, 7}, {2, 3, 2, 7}, {2, 3, 2, 7}}, GRAD_ANY},
    {"tiles 131 x 131", case_attention, 3, {4, 4, 4}, {{1, 1, 131, 3}, {1, 1, 131, 3}, {1, 1, 131, 3}}, GRAD_ANY},
    {"tiles, sharp scores", case_attention_sharp, 3, {4, 4, 4}, {{1, 1, 129, 2}, {1, 1, 130, 2}, {1, 1, 130, 2}},
     GRAD_ANY},
    {"permuted (B, N, H, D)", case_attention_permuted, 3, {4, 4, 4}, {{2, 5, 3, 4}, {2, 6, 3, 4}, {2, 6, 3, 8}},
     GRAD_ANY},
    {"q = k = v", case_attention_shared, 1, {4}, {{1, 2, 6, 3}}, GRAD_ANY},
};

// f32 forward and backward on a multi-tile shape under `threads` threads;
// the output and the three gradients are copied into res (ctx->params) so
// the step can end.
static void run_f32(useg_ctx *ctx, int threads, useg_tensor **in, useg_tensor **res) {
    omp_set_num_threads(threads);
    useg_tensor *out, *p, *loss;
    CHECK_OK(ctx, useg_zero_grad(ctx, in, 3));
    CHECK_OK(ctx, useg_attention(ctx, in[0], in[1], in[2], 0.125, &out));
    CHECK_OK(ctx, useg_mul(ctx, out, in[3], &p));
    CHECK_OK(ctx, useg_sum(ctx, p, 0, false, &loss));
    CHECK_OK(ctx, useg_backward(ctx, loss));
    const useg_tensor *src[4] = {out, in[0]->grad, in[1]->grad, in[2]->grad};
    for (int i = 0; i < 4; i++) {
        CHECK_OK(ctx, useg_empty(ctx, &ctx->params, USEG_F32, 4, src[i]->shape, &res[i]));
        CHECK_OK(ctx, useg_copy_into(ctx, res[i], src[i]));
    }
    useg_step_end(ctx);
}

// The shape is above the kernel's threshold for going parallel (2^24
// multiply-adds) and has ragged query and key tiles.
static void check_thread_count_independence(useg_ctx *ctx) {
    const int64_t qs[4] = {2, 3, 300, 64}, ks[4] = {2, 3, 301, 64};
    useg_tensor *in[4], *one[4], *three[4];
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, USEG_F32, 4, qs, 0, 1, &in[0]));
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, USEG_F32, 4, ks, 0, 1, &in[1]));
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, USEG_F32, 4, ks, 0, 1, &in[2]));
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, USEG_F32, 4, qs, 0, 1, &in[3]));
    for (int i = 0; i < 3; i++) CHECK_OK(ctx, useg_requires_grad(ctx, in[i]));
    if (check_failures) return;
    const int max_threads = omp_get_max_threads();
    run_f32(ctx, 1, in, one);
    run_f32(ctx, 3, in, three);
    omp_set_num_threads(max_threads);
    if (check_failures) return;
    static const char *const what[4] = {"output", "dq", "dk", "dv"};
    for (int i = 0; i < 4; i++) {
        bool same = memcmp(one[i]->data, three[i]->data, (size_t)useg_numel(one[i]) * sizeof(float)) == 0;
        CHECK(same, "attention %s differs between 1 and 3 threads", what[i]);
    }
}

// Without a gradient, q, k and v with contiguous rows are read in place:
// views of a ViT's packed (B, N, 3, H, D) qkv (rows 3 H D apart, ragged
// tiles) give bit for bit the output of their contiguous copies, and so do
// views whose rows are not contiguous (D strided: copied by the op).
static void check_strided_rows(useg_ctx *ctx, useg_dtype dt) {
    const int64_t B = 2, N = 131, H = 3, D = 5;
    const int64_t packed[4] = {B, N, 3 * H, D}, perm_shape[4] = {B, N, H, 2 * D};
    useg_tensor *qkv, *wide, *t, *views[3], *copies[3], *out_views, *out_copies;
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, dt, 4, packed, 0, 1, &qkv));
    CHECK_OK(ctx, useg_rand_normal(ctx, &ctx->params, dt, 4, perm_shape, 0, 1, &wide));
    if (check_failures) return;
    bool prev = useg_no_grad_begin(ctx);
    CHECK_OK(ctx, useg_permute(ctx, qkv, (int[]){0, 2, 1, 3}, &t)); // (B, 3H, N, D)
    for (int i = 0; i < 3; i++) CHECK_OK(ctx, useg_slice(ctx, t, 1, i * H, (i + 1) * H, 1, &views[i]));
    // v with its head dim strided by 2: (B, N, H, 2D)[..., ::2] -> (B, H, N, D)
    CHECK_OK(ctx, useg_slice(ctx, wide, 3, 0, 2 * D, 2, &t));
    CHECK_OK(ctx, useg_permute(ctx, t, (int[]){0, 2, 1, 3}, &views[2]));
    if (check_failures) goto done;
    CHECK(useg_attention_rows_readable(views[0]) && !useg_attention_rows_readable(views[2]),
          "row layout of the test views");
    for (int i = 0; i < 3; i++) CHECK_OK(ctx, useg_contiguous(ctx, views[i], &copies[i]));
    CHECK_OK(ctx, useg_attention(ctx, views[0], views[1], views[2], 0.7, &out_views));
    CHECK_OK(ctx, useg_attention(ctx, copies[0], copies[1], copies[2], 0.7, &out_copies));
    if (check_failures) goto done;
    CHECK(memcmp(out_views->data, out_copies->data, (size_t)useg_numel(out_views) * useg_dtype_size(dt)) == 0,
          "attention %s on strided rows differs from its contiguous copies", useg_dtype_name(dt));
done:
    useg_no_grad_end(ctx, prev);
    useg_step_end(ctx);
}

static void check_bad_inputs(useg_ctx *ctx) {
    const int64_t s4[4] = {1, 2, 5, 4}, s3[3] = {2, 5, 4}, d3[4] = {1, 2, 5, 3}, n6[4] = {1, 2, 6, 4},
                  h3[4] = {1, 3, 5, 4}, n0[4] = {1, 2, 0, 4};
    useg_tensor *q, *k, *r3, *kd, *kn, *kh, *k0, *qi, *q32, *qc, *out;
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, s4, &q));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, s4, &k));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 3, s3, &r3));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, d3, &kd));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, n6, &kn));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, h3, &kh));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F64, 4, n0, &k0));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_I64, 4, s4, &qi));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F32, 4, s4, &q32));
    CHECK_OK(ctx, useg_zeros(ctx, &ctx->params, USEG_F32, 4, s4, &qc));
    if (check_failures) return;
    qc->device = USEG_DEVICE_CUDA; // only the device tag matters to the check
    CHECK_FAILS(ctx, useg_attention(ctx, r3, k, k, 0.5, &out), USEG_ERR_SHAPE);    // q rank 3
    CHECK_FAILS(ctx, useg_attention(ctx, q, r3, r3, 0.5, &out), USEG_ERR_SHAPE);   // k, v rank 3
    CHECK_FAILS(ctx, useg_attention(ctx, q, kd, kd, 0.5, &out), USEG_ERR_SHAPE);   // head dims differ
    CHECK_FAILS(ctx, useg_attention(ctx, q, kh, kh, 0.5, &out), USEG_ERR_SHAPE);   // head counts differ
    CHECK_FAILS(ctx, useg_attention(ctx, q, k, kn, 0.5, &out), USEG_ERR_SHAPE);    // Nk of k and v differ
    CHECK_FAILS(ctx, useg_attention(ctx, q, k0, k0, 0.5, &out), USEG_ERR_SHAPE);   // no keys
    CHECK_FAILS(ctx, useg_attention(ctx, qi, k, k, 0.5, &out), USEG_ERR_SHAPE);    // integer dtype
    CHECK_FAILS(ctx, useg_attention(ctx, q32, k, k, 0.5, &out), USEG_ERR_SHAPE);   // mixed float dtypes
    CHECK_FAILS(ctx, useg_attention(ctx, qc, k, k, 0.5, &out), USEG_ERR_INVALID_ARG); // q on another device
    useg_step_end(ctx);
}

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 7});
    check_bad_inputs(&ctx);
    check_thread_count_independence(&ctx);
    check_strided_rows(&ctx, USEG_F32);
    check_strided_rows(&ctx, USEG_F64);
    useg_ctx_free(&ctx);
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: attention");
}
