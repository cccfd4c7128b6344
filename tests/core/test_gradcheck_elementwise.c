// Finite-difference gradient checks (f64) for the views, elementwise ops and
// reductions, on small shapes with odd sizes, size-1 dims, broadcasting and
// strided views. Other op families have their own test_gradcheck_*.c.
#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

// --- Case bodies: each builds an output from its inputs (any op chain). --------
#define UNARY_CASE(op)                                                                          \
    static useg_status case_##op(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {         \
        return useg_##op(ctx, in[0], out);                                                      \
    }
UNARY_CASE(exp)
UNARY_CASE(log)
UNARY_CASE(sqrt)
UNARY_CASE(rsqrt)
UNARY_CASE(tanh)
UNARY_CASE(sigmoid)
UNARY_CASE(relu)
UNARY_CASE(gelu)

static useg_status case_add(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) { return useg_add(ctx, in[0], in[1], out); }
static useg_status case_sub(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) { return useg_sub(ctx, in[0], in[1], out); }
static useg_status case_mul(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) { return useg_mul(ctx, in[0], in[1], out); }
static useg_status case_div(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) { return useg_div(ctx, in[0], in[1], out); }
static useg_status case_scale(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_scale(ctx, in[0], -1.75, 0.5, out);
}
// A transposed (non-contiguous) first operand.
static useg_status case_mul_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_mul(ctx, t, in[1], out);
}
static useg_status case_sum_axes(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_sum(ctx, in[0], 0x5, false, out); // axes 0 and 2
}
static useg_status case_sum_all(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_sum(ctx, in[0], 0, true, out);
}
static useg_status case_mean_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_mean(ctx, in[0], 1u << 2, true, out);
}
static useg_status case_max(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_max(ctx, in[0], 1, false, out, NULL);
}
static useg_status case_sum_to(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[2] = {1, 5};
    return useg_sum_to(ctx, in[0], 2, shape, out);
}
static useg_status case_reshape(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[3] = {5, -1, 2};
    useg_tensor *t;
    USEG_TRY(useg_reshape(ctx, in[0], 3, shape, &t));
    return useg_mul(ctx, t, t, out);
}
static useg_status case_permute(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {2, 0, 1};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_contiguous(ctx, t, out);
}
static useg_status case_slice(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t, *u;
    USEG_TRY(useg_slice(ctx, in[0], 1, 1, 6, 2, &t));
    USEG_TRY(useg_slice(ctx, in[0], 1, 0, 3, 1, &u));
    return useg_mul(ctx, t, u, out); // overlapping windows accumulate
}
static useg_status case_expand(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[3] = {2, 3, 5};
    useg_tensor *t;
    USEG_TRY(useg_expand(ctx, in[0], 3, shape, &t));
    return useg_mul(ctx, t, t, out);
}
static useg_status case_reshape_of_view(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[1] = {-1};
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 0, 1, &t));
    return useg_reshape(ctx, t, 1, shape, out);
}

static const grad_case cases[] = {
    {"add broadcast", case_add, 2, {3, 2}, {{2, 3, 5}, {3, 1}}, GRAD_ANY},
    {"sub broadcast", case_sub, 2, {1, 3}, {{5}, {2, 1, 5}}, GRAD_ANY},
    {"mul broadcast", case_mul, 2, {2, 2}, {{1, 7}, {3, 1}}, GRAD_ANY},
    {"div broadcast", case_div, 2, {2, 1}, {{3, 4}, {4}}, GRAD_AWAY_FROM_ZERO},
    {"mul transposed", case_mul_transposed, 2, {2, 1}, {{5, 3}, {5}}, GRAD_ANY},
    {"scale", case_scale, 1, {2}, {{3, 3}}, GRAD_ANY},
    {"exp", case_exp, 1, {2}, {{3, 5}}, GRAD_ANY},
    {"log", case_log, 1, {2}, {{3, 5}}, GRAD_POSITIVE},
    {"sqrt", case_sqrt, 1, {1}, {{7}}, GRAD_POSITIVE},
    {"rsqrt", case_rsqrt, 1, {1}, {{7}}, GRAD_POSITIVE},
    {"tanh", case_tanh, 1, {3}, {{1, 3, 5}}, GRAD_ANY},
    {"sigmoid", case_sigmoid, 1, {2}, {{4, 5}}, GRAD_ANY},
    {"relu", case_relu, 1, {2}, {{4, 5}}, GRAD_AWAY_FROM_ZERO},
    {"gelu", case_gelu, 1, {2}, {{4, 5}}, GRAD_ANY},
    {"sum axes 0,2", case_sum_axes, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"sum all keepdim", case_sum_all, 1, {3}, {{2, 1, 5}}, GRAD_ANY},
    {"mean last axis", case_mean_last, 1, {3}, {{2, 3, 7}}, GRAD_ANY},
    {"max axis 1", case_max, 1, {3}, {{2, 5, 3}}, GRAD_ANY},
    {"sum_to", case_sum_to, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"reshape", case_reshape, 1, {2}, {{3, 10}}, GRAD_ANY},
    {"permute", case_permute, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"slice (overlapping)", case_slice, 1, {2}, {{2, 7}}, GRAD_ANY},
    {"expand", case_expand, 1, {2}, {{3, 1}}, GRAD_ANY},
    {"reshape of transpose", case_reshape_of_view, 1, {2}, {{3, 4}}, GRAD_ANY},
};

int main(void) {
    // The op table names every op and gives it a backward.
    for (int op = 0; op < USEG_OP_COUNT; op++)
        CHECK(useg_op_table[op].name && useg_op_table[op].backward, "op %d has no table entry", op);
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: views, elementwise, reductions");
}
