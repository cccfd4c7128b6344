// Finite-difference gradient checks (f64) of matmul, linear and conv2d, and
// their bad-input errors. Shapes are small with primes and size-1 axes;
// cases cover broadcast batches, both transpose flags, transposed views
// (read through GEMM's flag), views GEMM cannot read (copied), the batch
// folded into one GEMM, conv with stride and padding, and the patch path.
#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

// --- matmul ----------------------------------------------------------------------------
#define MATMUL_CASE(name, ta, tb)                                                                \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_matmul(ctx, in[0], in[1], ta, tb, out);                                      \
    }
MATMUL_CASE(matmul, false, false)
MATMUL_CASE(matmul_ta, true, false)
MATMUL_CASE(matmul_tb, false, true)
MATMUL_CASE(matmul_tab, true, true)

// a^T viewed (strides swapped): GEMM reads it with its transpose flag.
static useg_status case_matmul_view_t(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_matmul(ctx, t, in[1], false, true, out);
}
// Every other column of a (no unit stride: copied) times a broadcast b
// (zero-strided rows: copied), with permuted batch axes.
static useg_status case_matmul_strided(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {1, 0, 2};
    const int64_t wide[2] = {4, 5};
    useg_tensor *a, *b;
    USEG_TRY(useg_slice(ctx, in[0], 2, 0, 7, 2, &a)); // (3, 2, 4), column stride 2
    USEG_TRY(useg_permute(ctx, a, perm, &a));         // (2, 3, 4)
    USEG_TRY(useg_expand(ctx, in[1], 2, wide, &b));   // (4, 1) -> (4, 5), column stride 0
    return useg_matmul(ctx, a, b, false, false, out);
}
// The same tensor on both sides: both gradients land in one buffer.
static useg_status case_matmul_self(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_matmul(ctx, in[0], in[0], false, true, out);
}

// --- linear -----------------------------------------------------------------------------
static useg_status case_linear(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_linear(ctx, in[0], in[1], in[2], out);
}
static useg_status case_linear_nobias_t(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_linear(ctx, t, in[1], NULL, out);
}
static useg_status case_linear_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {1, 0, 2};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_linear(ctx, t, in[1], in[2], out);
}

// --- conv2d -----------------------------------------------------------------------------
#define CONV_CASE(name, sh, sw, ph, pw)                                                          \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_conv2d(ctx, in[0], in[1], in[2], sh, sw, ph, pw, out);                       \
    }
CONV_CASE(conv_s21_p10, 2, 1, 1, 0)
CONV_CASE(conv_full_pad, 1, 1, 1, 1)
CONV_CASE(conv_patch, 3, 2, 0, 0)
static useg_status case_conv_nobias_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[4] = {0, 3, 1, 2};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t)); // (B, H, W, C) -> (B, C, H, W)
    return useg_conv2d(ctx, t, in[1], NULL, 2, 2, 1, 2, out);
}
static useg_status case_conv_patch_nobias(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_conv2d(ctx, in[0], in[1], NULL, 2, 2, 0, 0, out);
}

static const grad_case cases[] = {
    {"matmul 2-D", case_matmul, 2, {2, 2}, {{3, 5}, {5, 4}}, GRAD_ANY},
    {"matmul batch broadcast", case_matmul, 2, {4, 3}, {{2, 1, 3, 4}, {3, 4, 5}}, GRAD_ANY},
    {"matmul folded rows", case_matmul, 2, {3, 2}, {{2, 3, 4}, {4, 5}}, GRAD_ANY},
    {"matmul size-1 M, N", case_matmul, 2, {2, 2}, {{1, 7}, {7, 1}}, GRAD_ANY},
    {"matmul trans_a", case_matmul_ta, 2, {3, 2}, {{2, 5, 3}, {5, 4}}, GRAD_ANY},
    {"matmul trans_b", case_matmul_tb, 2, {2, 3}, {{3, 4}, {2, 7, 4}}, GRAD_ANY},
    {"matmul both, K = 1", case_matmul_tab, 2, {3, 2}, {{2, 1, 3}, {4, 1}}, GRAD_ANY},
    {"matmul transposed view", case_matmul_view_t, 2, {2, 2}, {{5, 3}, {2, 5}}, GRAD_ANY},
    {"matmul strided copies", case_matmul_strided, 2, {3, 2}, {{3, 2, 7}, {4, 1}}, GRAD_ANY},
    {"matmul a a^T", case_matmul_self, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"linear bias 3-D", case_linear, 3, {3, 2, 1}, {{2, 3, 5}, {4, 5}, {4}}, GRAD_ANY},
    {"linear 1-D input", case_linear, 3, {1, 2, 1}, {{7}, {3, 7}, {3}}, GRAD_ANY},
    {"linear transposed view", case_linear_nobias_t, 2, {2, 2}, {{5, 3}, {1, 5}}, GRAD_ANY},
    {"linear permuted (copy)", case_linear_permuted, 3, {3, 2, 1}, {{3, 2, 5}, {2, 5}, {2}}, GRAD_ANY},
    {"conv stride 2x1 pad 1x0", case_conv_s21_p10, 3, {4, 4, 1}, {{2, 3, 7, 6}, {4, 3, 3, 2}, {4}}, GRAD_ANY},
    {"conv kernel = padded input", case_conv_full_pad, 3, {4, 4, 1}, {{1, 1, 3, 3}, {2, 1, 5, 5}, {2}}, GRAD_ANY},
    {"conv permuted x, no bias", case_conv_nobias_permuted, 2, {4, 4}, {{2, 5, 7, 2}, {3, 2, 3, 3}}, GRAD_ANY},
    {"conv patches", case_conv_patch, 3, {4, 4, 1}, {{2, 3, 6, 6}, {5, 3, 3, 2}, {5}}, GRAD_ANY},
    {"conv patches, remainder", case_conv_patch_nobias, 2, {4, 4}, {{1, 2, 5, 7}, {3, 2, 2, 2}}, GRAD_ANY},
};

// Wrong shapes and dtypes give a status and a message, never a crash; empty
// products work.
static void check_edge_inputs(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *a, *b, *c, *bad_batch, *f64, *x, *w, *w_c, *w_big, *bias_bad, *vec, *out;
#define T(name, dt, n, ...) CHECK_OK(&ctx, useg_zeros(&ctx, NULL, dt, n, (const int64_t[]){__VA_ARGS__}, &name))
    T(a, USEG_F32, 3, 2, 3, 4);
    T(b, USEG_F32, 2, 5, 6);
    T(c, USEG_F32, 2, 4, 6);
    T(bad_batch, USEG_F32, 3, 3, 4, 5);
    T(f64, USEG_F64, 2, 4, 6);
    T(vec, USEG_F32, 1, 4);
    T(x, USEG_F32, 4, 1, 3, 4, 4);
    T(w, USEG_F32, 4, 2, 3, 3, 3);
    T(w_c, USEG_F32, 4, 2, 2, 3, 3);
    T(w_big, USEG_F32, 4, 2, 3, 5, 7);
    T(bias_bad, USEG_F32, 1, 3);
#undef T
    CHECK_FAILS(&ctx, useg_matmul(&ctx, a, b, false, false, &out), USEG_ERR_SHAPE);       // K 4 vs 5
    CHECK_FAILS(&ctx, useg_matmul(&ctx, a, c, true, false, &out), USEG_ERR_SHAPE);        // K 3 vs 4
    CHECK_FAILS(&ctx, useg_matmul(&ctx, a, bad_batch, false, false, &out), USEG_ERR_SHAPE); // batch 2 vs 3
    CHECK_FAILS(&ctx, useg_matmul(&ctx, vec, c, false, false, &out), USEG_ERR_SHAPE);     // rank 1
    CHECK_FAILS(&ctx, useg_matmul(&ctx, a, f64, false, false, &out), USEG_ERR_SHAPE);     // dtypes
    CHECK_FAILS(&ctx, useg_linear(&ctx, a, b, NULL, &out), USEG_ERR_SHAPE);               // in 4 vs 6
    CHECK_FAILS(&ctx, useg_linear(&ctx, c, vec, NULL, &out), USEG_ERR_SHAPE);             // rank-1 weight
    CHECK_FAILS(&ctx, useg_linear(&ctx, b, c, bias_bad, &out), USEG_ERR_SHAPE);           // bias 3 vs 4
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w_c, NULL, 1, 1, 0, 0, &out), USEG_ERR_SHAPE); // channels 3 vs 2
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w_big, NULL, 1, 1, 0, 1, &out), USEG_ERR_SHAPE); // 5x7 > 4x6
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w_big, NULL, 1, 1, 1, 0, &out), USEG_ERR_SHAPE); // 5x7 > 6x4
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w, bias_bad, 1, 1, 0, 0, &out), USEG_ERR_SHAPE); // bias 3 vs 2
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w, NULL, 0, 1, 0, 0, &out), USEG_ERR_INVALID_ARG); // stride 0
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, x, w, NULL, 1, 1, -1, 0, &out), USEG_ERR_INVALID_ARG); // padding < 0
    CHECK_FAILS(&ctx, useg_conv2d(&ctx, a, w, NULL, 1, 1, 0, 0, &out), USEG_ERR_SHAPE);   // rank 3 input
    // Empty products are zeros, not errors: K = 0 (either operand transposed) and M = 0.
    useg_tensor *k0, *k0_t, *m0;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 3, (const int64_t[]){2, 3, 0}, &k0));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, (const int64_t[]){0, 4}, &k0_t));
    CHECK_OK(&ctx, useg_full(&ctx, NULL, USEG_F32, 2, (const int64_t[]){0, 5}, 1.0, &m0));
    if (useg_matmul(&ctx, k0, k0_t, false, false, &out) == USEG_OK) {
        CHECK(out->ndim == 3 && out->shape[0] == 2 && out->shape[1] == 3 && out->shape[2] == 4, "K = 0 shape");
        for (int64_t i = 0; i < useg_numel(out); i++)
            CHECK(useg_get_flat(out, i) == 0.0, "K = 0 gives %g", useg_get_flat(out, i));
    }
    CHECK_OK(&ctx, useg_matmul(&ctx, k0_t, k0, true, true, &out)); // (4, 0)^T (2, 3, 0)^T -> (2, 4, 3)
    CHECK_OK(&ctx, useg_matmul(&ctx, m0, b, false, false, &out));  // (0, 5) (5, 6) -> (0, 6)
    useg_ctx_free(&ctx);
}

int main(void) {
    check_edge_inputs();
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: matmul, linear, conv2d");
}
