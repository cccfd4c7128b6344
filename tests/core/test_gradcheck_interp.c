// Finite-difference gradient checks (f64) for bilinear and bicubic
// interpolation: up- and downsampling with non-integer ratios, size-1 inputs
// and outputs, explicit scale factors, a permuted (non-contiguous) input; and
// the argument checks.
#include "../check.h"
#include "gradcheck.h"
#include "interp_cases.h"
#include "thread_invariance.h"

#define MODE_CASES(m, MODE)                                                                      \
    INTERP_SIZED(m##_up, MODE, 11, 13)                                                           \
    INTERP_SIZED(m##_down, MODE, 4, 3)                                                           \
    INTERP_SIZED(m##_size1_in, MODE, 3, 9)                                                       \
    INTERP_SIZED(m##_size1_out, MODE, 1, 1)                                                      \
    INTERP_SIZED(m##_same_h, MODE, 5, 7)                                                         \
    INTERP_SCALED(m##_scaled, MODE, 2.6, 1.7)                                                    \
    INTERP_SCALED(m##_scaled_same_size, MODE, 1.05, 0.5)                                         \
    INTERP_PERMUTED(m##_permuted, MODE, 6, 4)
MODE_CASES(bilinear, USEG_INTERP_BILINEAR)
MODE_CASES(bicubic, USEG_INTERP_BICUBIC)

#define MODE_TABLE(m)                                                                                  \
    {#m " up 5x7 -> 11x13", case_##m##_up, 1, {4}, {{1, 2, 5, 7}}, GRAD_ANY},                          \
    {#m " down 9x8 -> 4x3", case_##m##_down, 1, {4}, {{2, 3, 9, 8}}, GRAD_ANY},                        \
    {#m " 1x5 -> 3x9", case_##m##_size1_in, 1, {4}, {{1, 1, 1, 5}}, GRAD_ANY},                         \
    {#m " 4x6 -> 1x1", case_##m##_size1_out, 1, {4}, {{1, 2, 4, 6}}, GRAD_ANY},                        \
    {#m " 5x4 -> 5x7", case_##m##_same_h, 1, {4}, {{1, 2, 5, 4}}, GRAD_ANY},                           \
    {#m " scale 2.6, 1.7", case_##m##_scaled, 1, {4}, {{1, 2, 4, 5}}, GRAD_ANY},                       \
    {#m " scale 1.05, 0.5", case_##m##_scaled_same_size, 1, {4}, {{1, 1, 10, 6}}, GRAD_ANY},           \
    {#m " permuted -> 6x4", case_##m##_permuted, 1, {4}, {{1, 5, 7, 2}}, GRAD_ANY}

static const grad_case cases[] = {MODE_TABLE(bilinear), MODE_TABLE(bicubic)};

// Sizes past the threading threshold, for the thread-count invariance check.
INTERP_SIZED(big_bicubic_up, USEG_INTERP_BICUBIC, 100, 71)
INTERP_SIZED(big_bilinear_down, USEG_INTERP_BILINEAR, 31, 23)

static void check_threads(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 2});
    const int64_t s_up[4] = {2, 4, 33, 47}, s_down[4] = {2, 3, 97, 89};
    useg_tensor *up, *down;
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, s_up, 0.0, 1.0, &up));
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F32, 4, s_down, 0.0, 1.0, &down));
    CHECK_OK(&ctx, useg_requires_grad(&ctx, up));
    CHECK_OK(&ctx, useg_requires_grad(&ctx, down));
    check_thread_invariance(&ctx, "bicubic up", case_big_bicubic_up, up);
    check_thread_invariance(&ctx, "bilinear down", case_big_bilinear_down, down);
    useg_ctx_free(&ctx);
}

static void check_bad_inputs(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    const int64_t s4[4] = {1, 2, 3, 4}, s3[3] = {2, 3, 4}, s_empty[4] = {1, 2, 0, 4}, s_nobatch[4] = {0, 2, 3, 4};
    useg_tensor *x, *x3, *xi, *xe, *xb, *out;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 4, s4, &x));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 3, s3, &x3));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 4, s4, &xi));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 4, s_empty, &xe));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 4, s_nobatch, &xb));
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, x3, 5, 5, USEG_INTERP_BILINEAR, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, xi, 5, 5, USEG_INTERP_BICUBIC, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, xe, 5, 5, USEG_INTERP_BILINEAR, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, x, 0, 5, USEG_INTERP_BILINEAR, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, x, 5, -2, USEG_INTERP_BICUBIC, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate(&ctx, x, 5, 5, (useg_interp_mode)7, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate_scaled(&ctx, x, 0.0, 2.0, USEG_INTERP_BICUBIC, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate_scaled(&ctx, x, 2.0, -1.0, USEG_INTERP_BICUBIC, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate_scaled(&ctx, x, 0.3, 2.0, USEG_INTERP_BILINEAR, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate_scaled(&ctx, x, 0.0 / 0.0, 2.0, USEG_INTERP_BILINEAR, &out),
                USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_interpolate_scaled(&ctx, x, 1e300, 2.0, USEG_INTERP_BILINEAR, &out),
                USEG_ERR_INVALID_ARG);
    // Output sizes as PyTorch computes them from a scale factor: floor(H * s).
    CHECK_OK(&ctx, useg_interpolate_scaled(&ctx, x, 0.34, 2.6, USEG_INTERP_BICUBIC, &out));
    CHECK(out->shape[2] == 1 && out->shape[3] == 10, "scaled sizes (%lld, %lld)", (long long)out->shape[2],
          (long long)out->shape[3]);
    // An empty batch is fine.
    CHECK_OK(&ctx, useg_interpolate(&ctx, xb, 5, 6, USEG_INTERP_BICUBIC, &out));
    CHECK(out->shape[0] == 0 && out->shape[3] == 6, "empty batch shape");
    useg_ctx_free(&ctx);
}

int main(void) {
    check_bad_inputs();
    check_threads();
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: interpolation");
}
