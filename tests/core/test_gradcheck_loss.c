// Finite-difference gradient checks (f64) for the losses. Targets are fixed
// patterns built inside each case (class indices with ignored positions,
// binary and soft masks), or a differentiable soft target sigmoid(in[1]).
// main() first checks bad arguments (shapes, target dtype, out-of-range
// targets, loss parameters) and a few values known in closed form.
#include <math.h>
#include <omp.h>

#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

// i64 class targets of `shape`: (7 p + 3) mod C at flat position p, and
// `ignore` at every fourth position.
static useg_status class_targets(useg_ctx *ctx, int ndim, const int64_t *shape, int64_t C, int64_t ignore,
                                 useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, NULL, USEG_I64, ndim, shape, out));
    for (int64_t p = 0; p < useg_numel(*out); p++)
        useg_set_flat(*out, p, p % 4 == 1 ? (double)ignore : (double)((7 * p + 3) % C));
    return USEG_OK;
}

// f64 targets shaped like x: binary (1 where (5 i + 1) mod 3 == 0) or soft in [0, 1].
static useg_status mask_targets(useg_ctx *ctx, const useg_tensor *x, bool soft, useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, NULL, USEG_F64, x->ndim, x->shape, out));
    for (int64_t i = 0; i < useg_numel(x); i++)
        useg_set_flat(*out, i, soft ? (double)((7 * i) % 11) / 10.0 : (5 * i + 1) % 3 == 0 ? 1.0 : 0.0);
    return USEG_OK;
}

static useg_status case_ce_2d(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(class_targets(ctx, 1, in[0]->shape, in[0]->shape[1], -100, &t));
    return useg_cross_entropy(ctx, in[0], t, -100, out);
}
// (N, C, H, W) logits; the ignored value is a valid class index (1).
static useg_status case_ce_nchw(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[3] = {in[0]->shape[0], in[0]->shape[2], in[0]->shape[3]};
    useg_tensor *t;
    USEG_TRY(class_targets(ctx, 3, shape, in[0]->shape[1], 1, &t));
    return useg_cross_entropy(ctx, in[0], t, 1, out);
}
// Transposed logits (C, N) -> (N, C).
static useg_status case_ce_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *x, *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &x));
    USEG_TRY(class_targets(ctx, 1, x->shape, x->shape[1], -100, &t));
    return useg_cross_entropy(ctx, x, t, -100, out);
}

// Binary loss cases: a fixed target (binary or soft) or the differentiable sigmoid(in[1]).
typedef enum { TARGET_BINARY, TARGET_SOFT, TARGET_LEARNED } target_kind;
typedef enum { LOSS_BCE, LOSS_FOCAL, LOSS_FOCAL_PLAIN, LOSS_FOCAL_G15, LOSS_DICE } loss_kind;

static useg_status binary_loss(useg_ctx *ctx, useg_tensor **in, loss_kind loss, target_kind target,
                               useg_tensor **out) {
    useg_tensor *t;
    if (target == TARGET_LEARNED) USEG_TRY(useg_sigmoid(ctx, in[1], &t));
    else USEG_TRY(mask_targets(ctx, in[0], target == TARGET_SOFT, &t));
    switch (loss) {
    case LOSS_BCE: return useg_bce_with_logits(ctx, in[0], t, out);
    case LOSS_FOCAL: return useg_focal_loss(ctx, in[0], t, 0.25, 2.0, out);
    case LOSS_FOCAL_PLAIN: return useg_focal_loss(ctx, in[0], t, -1.0, 0.0, out);
    case LOSS_FOCAL_G15: return useg_focal_loss(ctx, in[0], t, 0.6, 1.5, out);
    case LOSS_DICE: return useg_dice_loss(ctx, in[0], t, out);
    }
    return USEG_OK;
}

#define BINARY_CASE(name, loss, target)                                                         \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {       \
        return binary_loss(ctx, in, loss, target, out);                                        \
    }
BINARY_CASE(bce, LOSS_BCE, TARGET_BINARY)
BINARY_CASE(bce_soft, LOSS_BCE, TARGET_SOFT)
BINARY_CASE(bce_learned, LOSS_BCE, TARGET_LEARNED)
BINARY_CASE(focal, LOSS_FOCAL, TARGET_BINARY)
BINARY_CASE(focal_plain, LOSS_FOCAL_PLAIN, TARGET_SOFT)
BINARY_CASE(focal_g15, LOSS_FOCAL_G15, TARGET_SOFT)
BINARY_CASE(focal_learned, LOSS_FOCAL, TARGET_LEARNED)
BINARY_CASE(dice, LOSS_DICE, TARGET_BINARY)
BINARY_CASE(dice_learned, LOSS_DICE, TARGET_LEARNED)

// Dice on a permuted (non-contiguous) input.
static useg_status case_dice_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {1, 2, 0};
    useg_tensor *x;
    USEG_TRY(useg_permute(ctx, in[0], perm, &x));
    useg_tensor *p[1] = {x};
    return binary_loss(ctx, p, LOSS_DICE, TARGET_SOFT, out);
}

static const grad_case cases[] = {
    {"cross_entropy (N, C)", case_ce_2d, 1, {2}, {{7, 5}}, GRAD_ANY},
    {"cross_entropy (N, C, H, W)", case_ce_nchw, 1, {4}, {{2, 3, 1, 5}}, GRAD_ANY},
    {"cross_entropy transposed", case_ce_transposed, 1, {2}, {{4, 3}}, GRAD_ANY},
    {"bce binary target", case_bce, 1, {2}, {{3, 7}}, GRAD_ANY},
    {"bce soft target", case_bce_soft, 1, {3}, {{2, 1, 5}}, GRAD_ANY},
    {"bce learned target", case_bce_learned, 2, {2, 2}, {{3, 4}, {3, 4}}, GRAD_ANY},
    {"focal a=.25 g=2", case_focal, 1, {2}, {{5, 3}}, GRAD_ANY},
    {"focal no alpha, g=0", case_focal_plain, 1, {1}, {{11}}, GRAD_ANY},
    {"focal a=.6 g=1.5 soft", case_focal_g15, 1, {2}, {{3, 5}}, GRAD_ANY},
    {"focal learned target", case_focal_learned, 2, {2, 2}, {{2, 7}, {2, 7}}, GRAD_ANY},
    {"dice binary target", case_dice, 1, {3}, {{3, 2, 5}}, GRAD_ANY},
    {"dice learned target", case_dice_learned, 2, {2, 2}, {{4, 3}, {4, 3}}, GRAD_ANY},
    {"dice permuted", case_dice_permuted, 1, {3}, {{5, 2, 3}}, GRAD_ANY},
    {"dice one row", case_dice, 1, {2}, {{1, 13}}, GRAD_ANY},
};

// Bad arguments return a status with a message; a few values in closed form.
static void bad_inputs_and_values(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    useg_tensor *x, *x1, *xs, *t, *t_short, *t_f32, *t_big, *t_neg, *t_ign, *m, *m64, *m_short, *out;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, (int64_t[]){3, 4}, &x));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 1, (int64_t[]){3}, &x1));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 4, (int64_t[]){2, 4, 3, 5}, &xs));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 1, (int64_t[]){3}, &t));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 1, (int64_t[]){2}, &t_short));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 1, (int64_t[]){3}, &t_f32));
    CHECK_OK(&ctx, useg_full(&ctx, NULL, USEG_I64, 1, (int64_t[]){3}, 4.0, &t_big));
    CHECK_OK(&ctx, useg_full(&ctx, NULL, USEG_I64, 1, (int64_t[]){3}, -1.0, &t_neg));
    CHECK_OK(&ctx, useg_full(&ctx, NULL, USEG_I64, 1, (int64_t[]){3}, -100.0, &t_ign));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, (int64_t[]){3, 4}, &m));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F64, 2, (int64_t[]){3, 4}, &m64));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, (int64_t[]){3, 3}, &m_short));

    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, x, t_short, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, x, t_f32, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, x, t_big, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, x, t_neg, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, x1, t, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, xs, t, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_cross_entropy(&ctx, t_f32, t, -100, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_bce_with_logits(&ctx, m, m_short, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_bce_with_logits(&ctx, m, m64, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_bce_with_logits(&ctx, x1, t, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_focal_loss(&ctx, m, m_short, 0.25, 2.0, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_focal_loss(&ctx, m, m, 0.25, -1.0, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_focal_loss(&ctx, m, m, 1.5, 2.0, &out), USEG_ERR_INVALID_ARG);
    CHECK_FAILS(&ctx, useg_dice_loss(&ctx, m, m_short, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_dice_loss(&ctx, x1, t_f32, &out), USEG_ERR_SHAPE);

    // Zero logits: cross-entropy is log C; BCE is log 2 for any target; with
    // p = 1/2 and all-zero targets, dice is 1 - 1 / (L/2 + 1) per row.
    CHECK_OK(&ctx, useg_cross_entropy(&ctx, x, t, -100, &out));
    CHECK(fabs(useg_get_flat(out, 0) - log(4.0)) < 1e-6, "cross_entropy of zero logits %g", useg_get_flat(out, 0));
    CHECK_OK(&ctx, useg_bce_with_logits(&ctx, m, m, &out));
    CHECK(fabs(useg_get_flat(out, 0) - log(2.0)) < 1e-6, "bce of zero logits %g", useg_get_flat(out, 0));
    CHECK_OK(&ctx, useg_dice_loss(&ctx, m, m, &out));
    CHECK(fabs(useg_get_flat(out, 0) - (1 - 1 / 3.0)) < 1e-6, "dice of zero logits %g", useg_get_flat(out, 0));
    // Every target ignored: NaN, as PyTorch.
    CHECK_OK(&ctx, useg_cross_entropy(&ctx, x, t_ign, -100, &out));
    CHECK(isnan(useg_get_flat(out, 0)), "all-ignored cross_entropy %g", useg_get_flat(out, 0));
    // Huge logits stay finite (the stable forms).
    useg_tensor *big;
    CHECK_OK(&ctx, useg_full(&ctx, NULL, USEG_F32, 2, (int64_t[]){3, 4}, 1e4, &big));
    CHECK_OK(&ctx, useg_bce_with_logits(&ctx, big, m, &out));
    CHECK(fabs(useg_get_flat(out, 0) - 1e4) < 1e-2, "bce of logit 1e4, target 0: %g", useg_get_flat(out, 0));
    CHECK_OK(&ctx, useg_cross_entropy(&ctx, big, t, -100, &out));
    CHECK(fabs(useg_get_flat(out, 0) - log(4.0)) < 1e-6, "cross_entropy of equal huge logits %g",
          useg_get_flat(out, 0));
    useg_ctx_free(&ctx);
}

// The loss sums (fixed chunks and tiles) give the same bits with 1 and 3
// threads, in f64 where another summation order would show.
static void same_bits_across_threads(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 5});
    const int64_t shape[4] = {3, 7, 41, 43};
    useg_tensor *x, *t, *m, *mt;
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, 4, shape, 0.0, 3.0, &x));
    CHECK_OK(&ctx, class_targets(&ctx, 3, (int64_t[]){3, 41, 43}, 7, -100, &t));
    CHECK_OK(&ctx, useg_reshape(&ctx, x, 2, (int64_t[]){21, 41 * 43}, &m));
    CHECK_OK(&ctx, mask_targets(&ctx, m, true, &mt));
    double v[2][3];
    int prev = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 3 : 1);
        useg_tensor *out[3];
        CHECK_OK(&ctx, useg_cross_entropy(&ctx, x, t, -100, &out[0]));
        CHECK_OK(&ctx, useg_focal_loss(&ctx, m, mt, 0.25, 2.0, &out[1]));
        CHECK_OK(&ctx, useg_dice_loss(&ctx, m, mt, &out[2]));
        for (int i = 0; i < 3; i++) v[k][i] = useg_get_flat(out[i], 0);
    }
    omp_set_num_threads(prev);
    for (int i = 0; i < 3; i++) CHECK(v[0][i] == v[1][i], "loss %d: %.17g with 1 thread, %.17g with 3", i, v[0][i], v[1][i]);
    useg_ctx_free(&ctx);
}

int main(void) {
    bad_inputs_and_values();
    same_bits_across_threads();
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: losses");
}
