// Losses against PyTorch (torch_loss.py): cross-entropy with ignored targets
// and spatial dims, BCE with logits, torchvision's sigmoid focal loss and
// Mask2Former's dice loss, with soft (differentiable) targets and strided views.
#include "ops.h"
#include "torch_parity.h"

// A copy of the i64 targets with every third flat position set to -100 (torch_loss.py's ignore_every_third).
static useg_status ignore_every_third(useg_ctx *ctx, useg_tensor *t, useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, NULL, USEG_I64, t->ndim, t->shape, out));
    for (int64_t i = 0; i < useg_numel(t); i++) useg_set_flat(*out, i, i % 3 == 0 ? -100.0 : useg_get_flat(t, i));
    return USEG_OK;
}

static useg_status case_ce_2d(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_cross_entropy(ctx, in[0], in[1], -100, out);
}
static useg_status case_ce_ignore(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(ignore_every_third(ctx, in[1], &t));
    return useg_cross_entropy(ctx, in[0], t, -100, out);
}
static useg_status case_ce_ignore_class(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_cross_entropy(ctx, in[0], in[1], 2, out);
}
static useg_status case_ce_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *x;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &x));
    return useg_cross_entropy(ctx, x, in[1], -100, out);
}
#define case_ce_3d case_ce_2d
#define case_ce_nchw case_ce_2d
#define case_ce_nchw_ignore case_ce_ignore

static useg_status case_bce(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_bce_with_logits(ctx, in[0], in[1], out);
}
static useg_status case_bce_large_logits(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *x;
    USEG_TRY(useg_scale(ctx, in[0], 30.0, 0.0, &x));
    return useg_bce_with_logits(ctx, x, in[1], out);
}
static useg_status case_bce_soft_target(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_sigmoid(ctx, in[1], &t));
    return useg_bce_with_logits(ctx, in[0], t, out);
}
static useg_status case_bce_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *x;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &x));
    return useg_bce_with_logits(ctx, x, in[1], out);
}

static useg_status case_focal(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_focal_loss(ctx, in[0], in[1], 0.25, 2.0, out);
}
static useg_status case_focal_no_alpha(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_focal_loss(ctx, in[0], in[1], -1.0, 0.0, out);
}
static useg_status case_focal_gamma15(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_focal_loss(ctx, in[0], in[1], 0.5, 1.5, out);
}
static useg_status case_focal_soft_target(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_sigmoid(ctx, in[1], &t));
    return useg_focal_loss(ctx, in[0], t, 0.25, 2.0, out);
}
#define case_focal_big case_focal

static useg_status case_dice(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_dice_loss(ctx, in[0], in[1], out);
}
static useg_status case_dice_soft_target(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_sigmoid(ctx, in[1], &t));
    return useg_dice_loss(ctx, in[0], t, out);
}
static useg_status case_dice_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {2, 0, 1};
    useg_tensor *x;
    USEG_TRY(useg_permute(ctx, in[0], perm, &x));
    return useg_dice_loss(ctx, x, in[1], out);
}
#define case_dice_big case_dice

static const parity_case cases[] = {
#define CASE(name) {#name, case_##name, 2}
    CASE(ce_2d),          CASE(ce_ignore),         CASE(ce_ignore_class),  CASE(ce_transposed),
    CASE(ce_3d),          CASE(ce_nchw),           CASE(ce_nchw_ignore),   CASE(bce),
    CASE(bce_large_logits), CASE(bce_soft_target), CASE(bce_transposed),   CASE(focal),
    CASE(focal_no_alpha), CASE(focal_gamma15),     CASE(focal_soft_target), CASE(focal_big),
    CASE(dice),           CASE(dice_soft_target),  CASE(dice_permuted),    CASE(dice_big),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]),
                             "cross_entropy, bce_with_logits, focal_loss, dice_loss vs torch");
}
