// Softmax, log-softmax and layer norm against PyTorch (torch_nn.py).
#include "ops.h"
#include "torch_parity.h"

static useg_status case_softmax_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_softmax(ctx, in[0], -1, out);
}
static useg_status case_softmax_axis1(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_softmax(ctx, in[0], 1, out);
}
static useg_status case_softmax_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_softmax(ctx, t, 0, out);
}
static useg_status case_softmax_wide(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_scale(ctx, in[0], 4.0, 0.0, &t));
    return useg_softmax(ctx, t, -1, out);
}
static useg_status case_log_softmax_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_log_softmax(ctx, in[0], -1, out);
}
static useg_status case_log_softmax_axis0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_log_softmax(ctx, in[0], 0, out);
}
static useg_status case_log_softmax_nchw(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_log_softmax(ctx, in[0], 1, out);
}
static useg_status case_log_softmax_sliced(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_slice(ctx, in[0], 1, 1, 10, 3, &t));
    return useg_log_softmax(ctx, t, 1, out);
}
static useg_status case_layer_norm_affine(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], in[1], in[2], 1e-6, out);
}
static useg_status case_layer_norm_plain(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], NULL, NULL, 1e-5, out);
}
static useg_status case_layer_norm_weight(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_layer_norm(ctx, in[0], in[1], NULL, 1e-5, out);
}
static useg_status case_layer_norm_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {1, 2, 0};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_layer_norm(ctx, t, NULL, in[1], 1e-5, out);
}
static useg_status case_layer_norm_vit(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_scale(ctx, in[0], 1.0, 3.0, &t));
    return useg_layer_norm(ctx, t, in[1], in[2], 1e-6, out);
}

static const parity_case cases[] = {
#define CASE(name, n) {#name, case_##name, n}
    CASE(softmax_last, 1),      CASE(softmax_axis1, 1),      CASE(softmax_transposed, 1),
    CASE(softmax_wide, 1),      CASE(log_softmax_last, 1),   CASE(log_softmax_axis0, 1),
    CASE(log_softmax_nchw, 1),  CASE(log_softmax_sliced, 1), CASE(layer_norm_affine, 3),
    CASE(layer_norm_plain, 1),  CASE(layer_norm_weight, 2),  CASE(layer_norm_permuted, 2),
    CASE(layer_norm_vit, 3),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]),
                             "softmax, log_softmax, layer_norm vs torch");
}
