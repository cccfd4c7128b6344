// matmul, linear and conv2d against PyTorch (torch_linalg.py).
#include "ops.h"
#include "torch_parity.h"

#define MATMUL(name, ta, tb)                                                                     \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_matmul(ctx, in[0], in[1], ta, tb, out);                                      \
    }
MATMUL(matmul_2d, false, false)
MATMUL(matmul_batch_broadcast, false, false)
MATMUL(matmul_folded, false, false)
MATMUL(matmul_trans_a, true, false)
MATMUL(matmul_trans_b, false, true)
MATMUL(matmul_size1, true, true)

static useg_status case_matmul_transposed_view(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], -1, -2, &t));
    return useg_matmul(ctx, t, in[1], false, false, out);
}
static useg_status case_matmul_sliced(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_slice(ctx, in[0], 1, 0, 13, 2, &t));
    return useg_matmul(ctx, t, in[1], false, false, out);
}
static useg_status case_linear_bias(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_linear(ctx, in[0], in[1], in[2], out);
}
static useg_status case_linear_vector(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return case_linear_bias(ctx, in, out);
}
static useg_status case_linear_tokens(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return case_linear_bias(ctx, in, out);
}
static useg_status case_linear_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_linear(ctx, t, in[1], NULL, out);
}
#define CONV(name, bias, sh, sw, ph, pw)                                                         \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_conv2d(ctx, in[0], in[1], bias, sh, sw, ph, pw, out);                        \
    }
CONV(conv_stride_pad, in[2], 2, 1, 1, 2)
CONV(conv_3x3, NULL, 1, 1, 1, 1)
CONV(conv_patch, in[2], 14, 14, 0, 0)
CONV(conv_patch_remainder, NULL, 7, 5, 0, 0)
static useg_status case_conv_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[4] = {0, 3, 1, 2};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_conv2d(ctx, t, in[1], in[2], 3, 2, 0, 1, out);
}

static const parity_case cases[] = {
#define CASE(name, n) {#name, case_##name, n}
    CASE(matmul_2d, 2),          CASE(matmul_batch_broadcast, 2), CASE(matmul_folded, 2),
    CASE(matmul_trans_a, 2),     CASE(matmul_trans_b, 2),         CASE(matmul_size1, 2),
    CASE(matmul_transposed_view, 2), CASE(matmul_sliced, 2),      CASE(linear_bias, 3),
    CASE(linear_vector, 3),      CASE(linear_tokens, 3),          CASE(linear_transposed, 2),
    CASE(conv_stride_pad, 3),    CASE(conv_3x3, 2),               CASE(conv_permuted, 3),
    CASE(conv_patch, 3),         CASE(conv_patch_remainder, 2),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]),
                             "matmul, linear, conv2d vs torch");
}
