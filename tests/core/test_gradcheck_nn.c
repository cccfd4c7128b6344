// Finite-difference gradient checks (f64) for softmax, log-softmax and layer
// norm: every axis position (first, middle, last), size-1 axes, odd sizes,
// strided views, and layer norm with and without weight/bias. main() first
// checks that bad arguments fail with a status and a message.
#include <omp.h>
#include <string.h>

#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

static useg_status case_softmax_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_softmax(ctx, in[0], -1, out);
}
static useg_status case_softmax_middle(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_softmax(ctx, in[0], 1, out);
}
static useg_status case_softmax_first(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_softmax(ctx, in[0], -3, out);
}
// A transposed (non-contiguous) input, softmax along its last axis.
static useg_status case_softmax_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_softmax(ctx, t, 1, out);
}
static useg_status case_log_softmax_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_log_softmax(ctx, in[0], 1, out);
}
static useg_status case_log_softmax_middle(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_log_softmax(ctx, in[0], -3, out);
}
// Strided slice of the input (every other column).
static useg_status case_log_softmax_sliced(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_slice(ctx, in[0], 1, 0, 7, 2, &t));
    return useg_log_softmax(ctx, t, 0, out);
}
static useg_status case_layer_norm_affine(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], in[1], in[2], 1e-5, out);
}
static useg_status case_layer_norm_plain(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], NULL, NULL, 1e-5, out);
}
static useg_status case_layer_norm_weight(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], in[1], NULL, 1e-3, out);
}
static useg_status case_layer_norm_bias(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], NULL, in[1], 1e-5, out);
}
// Permuted input and a strided (sliced) weight.
static useg_status case_layer_norm_views(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {1, 2, 0}; // (5, 2, 3) -> (2, 3, 5)
    useg_tensor *x, *w;
    USEG_TRY(useg_permute(ctx, in[0], perm, &x));
    USEG_TRY(useg_slice(ctx, in[1], 0, 1, 10, 2, &w));
    return useg_layer_norm(ctx, x, w, in[2], 1e-5, out);
}

// A fixed weight that does not require a gradient: only x and the bias get one.
static useg_status case_layer_norm_frozen_weight(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *w;
    USEG_TRY(useg_empty(ctx, NULL, USEG_F64, 1, &in[0]->shape[1], &w));
    for (int64_t c = 0; c < in[0]->shape[1]; c++) useg_set_flat(w, c, 0.5 + 0.25 * (double)c);
    return useg_layer_norm(ctx, in[0], w, in[1], 1e-5, out);
}

static const grad_case cases[] = {
    {"softmax last axis", case_softmax_last, 1, {2}, {{3, 7}}, GRAD_ANY},
    {"softmax middle axis", case_softmax_middle, 1, {3}, {{2, 5, 3}}, GRAD_ANY},
    {"softmax first axis", case_softmax_first, 1, {3}, {{3, 2, 4}}, GRAD_ANY},
    {"softmax size-1 axis", case_softmax_middle, 1, {3}, {{2, 1, 3}}, GRAD_ANY},
    {"softmax transposed", case_softmax_transposed, 1, {2}, {{5, 3}}, GRAD_ANY},
    {"log_softmax last axis", case_log_softmax_last, 1, {2}, {{4, 11}}, GRAD_ANY},
    {"log_softmax first of 4", case_log_softmax_middle, 1, {4}, {{2, 3, 2, 5}}, GRAD_ANY},
    {"log_softmax sliced", case_log_softmax_sliced, 1, {2}, {{3, 7}}, GRAD_ANY},
    {"layer_norm weight+bias", case_layer_norm_affine, 3, {2, 1, 1}, {{4, 7}, {7}, {7}}, GRAD_ANY},
    {"layer_norm plain 3-D", case_layer_norm_plain, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"layer_norm weight only", case_layer_norm_weight, 2, {2, 1}, {{3, 13}, {13}}, GRAD_ANY},
    {"layer_norm bias only", case_layer_norm_bias, 2, {1, 1}, {{6}, {6}}, GRAD_ANY},
    {"layer_norm C=1", case_layer_norm_affine, 3, {2, 1, 1}, {{3, 1}, {1}, {1}}, GRAD_ANY},
    {"layer_norm views", case_layer_norm_views, 3, {3, 1, 1}, {{5, 2, 3}, {10}, {5}}, GRAD_ANY},
    {"layer_norm frozen weight", case_layer_norm_frozen_weight, 2, {2, 1}, {{3, 4}, {4}}, GRAD_ANY},
};

// Bad arguments return a status with a message, never crash.
static void bad_inputs(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *x, *w, *i, *s, *out;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, (int64_t[]){3, 4}, &x));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 1, (int64_t[]){5}, &w));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 2, (int64_t[]){3, 4}, &i));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 0, (int64_t[]){0}, &s));
    CHECK_FAILS(&ctx, useg_softmax(&ctx, x, 2, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_log_softmax(&ctx, x, -3, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_softmax(&ctx, i, 0, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_softmax(&ctx, s, 0, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_layer_norm(&ctx, x, w, NULL, 1e-5, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_layer_norm(&ctx, x, NULL, w, 1e-5, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_layer_norm(&ctx, s, NULL, NULL, 1e-5, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_layer_norm(&ctx, x, NULL, NULL, -1.0, &out), USEG_ERR_INVALID_ARG);
    useg_tensor *w64;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F64, 1, (int64_t[]){4}, &w64));
    CHECK_FAILS(&ctx, useg_layer_norm(&ctx, x, w64, NULL, 1e-5, &out), USEG_ERR_SHAPE);
    useg_ctx_free(&ctx);
}

// Layer norm forward and backward (dweight/dbias sum across row chunks) give
// the same bits with 1 and 3 threads, on a size above the parallel threshold.
// In f64, where a different summation order would show in the last bits.
static void same_bits_across_threads(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 3});
    const int64_t shape[2] = {211, 384}, C = 384;
    useg_tensor *x, *w, *b, *g, *res[2][4];
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, 2, shape, 0.5, 2.0, &x));
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, 1, &C, 1.0, 0.5, &w));
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, 1, &C, 0.0, 0.5, &b));
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, 2, shape, 0.0, 1.0, &g));
    useg_tensor *leaves[3] = {x, w, b};
    for (int k = 0; k < 3; k++) CHECK_OK(&ctx, useg_requires_grad(&ctx, leaves[k]));
    int threads[2] = {1, 3}, prev = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(threads[t]);
        CHECK_OK(&ctx, useg_zero_grad(&ctx, leaves, 3));
        useg_tensor *y, *p, *loss;
        CHECK_OK(&ctx, useg_layer_norm(&ctx, x, w, b, 1e-6, &y));
        CHECK_OK(&ctx, useg_mul(&ctx, y, g, &p));
        CHECK_OK(&ctx, useg_sum(&ctx, p, 0, false, &loss));
        CHECK_OK(&ctx, useg_backward(&ctx, loss));
        // Keep copies past the step: the next backward must see a fresh tape.
        useg_tensor *got[4] = {y, x->grad, w->grad, b->grad};
        for (int k = 0; k < 4; k++) {
            CHECK_OK(&ctx, useg_empty(&ctx, &ctx.params, USEG_F64, got[k]->ndim, got[k]->shape, &res[t][k]));
            CHECK_OK(&ctx, useg_copy_into(&ctx, res[t][k], got[k]));
        }
        useg_step_end(&ctx);
    }
    omp_set_num_threads(prev);
    for (int k = 0; k < 4; k++) {
        size_t n = (size_t)useg_numel(res[0][k]) * sizeof(double);
        CHECK(memcmp(res[0][k]->data, res[1][k]->data, n) == 0, "layer_norm result %d differs across thread counts", k);
    }
    useg_ctx_free(&ctx);
}

int main(void) {
    bad_inputs();
    same_bits_across_threads();
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: softmax, log_softmax, layer_norm");
}
