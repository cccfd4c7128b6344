// Views, elementwise ops and reductions against PyTorch (torch_elementwise.py).
#include "ops.h"
#include "torch_parity.h"

#define UNARY(op)                                                                                \
    static useg_status case_##op(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {          \
        return useg_##op(ctx, in[0], out);                                                       \
    }
UNARY(exp)
UNARY(sqrt)
UNARY(rsqrt)
UNARY(tanh)
UNARY(sigmoid)
UNARY(gelu)

static useg_status case_add_broadcast(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_add(ctx, in[0], in[1], out);
}
static useg_status case_sub_broadcast(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_sub(ctx, in[0], in[1], out);
}
static useg_status case_mul_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_mul(ctx, t, in[1], out);
}
static useg_status case_div_broadcast(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_div(ctx, in[0], in[1], out);
}
static useg_status case_scale(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_scale(ctx, in[0], -1.75, 0.5, out);
}
static useg_status case_log_sliced(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_slice(ctx, in[0], 1, 1, 6, 2, &t));
    return useg_log(ctx, t, out);
}
static useg_status case_relu_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {2, 0, 1};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_relu(ctx, t, out);
}
static useg_status case_sum_axes02(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_sum(ctx, in[0], 0x5, false, out);
}
static useg_status case_sum_all(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_sum(ctx, in[0], 0, false, out);
}
static useg_status case_mean_last_keepdim(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_mean(ctx, in[0], 1u << 2, true, out);
}
static useg_status case_max_axis1(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_max(ctx, in[0], 1, false, out, NULL);
}
static useg_status case_expand_mul(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[3] = {2, 3, 5};
    useg_tensor *t;
    USEG_TRY(useg_expand(ctx, in[0], 3, shape, &t));
    return useg_scale(ctx, t, 2.0, 0.0, out);
}
static useg_status case_reshape_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[1] = {-1};
    useg_tensor *t, *u;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    USEG_TRY(useg_reshape(ctx, t, 1, shape, &u));
    return useg_scale(ctx, u, 3.0, 0.0, out);
}

static const parity_case cases[] = {
#define CASE(name, n) {#name, case_##name, n}
    CASE(add_broadcast, 2), CASE(sub_broadcast, 2), CASE(mul_transposed, 2), CASE(div_broadcast, 2),
    CASE(scale, 1),         CASE(exp, 1),           CASE(log_sliced, 1),     CASE(sqrt, 1),
    CASE(rsqrt, 1),         CASE(tanh, 1),          CASE(sigmoid, 1),        CASE(relu_permuted, 1),
    CASE(gelu, 1),          CASE(sum_axes02, 1),    CASE(sum_all, 1),        CASE(mean_last_keepdim, 1),
    CASE(max_axis1, 1),     CASE(expand_mul, 1),    CASE(reshape_transposed, 1),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]),
                             "views, elementwise, reductions vs torch");
}
