// Finite-difference gradient checks (f64) for every differentiable op, on
// small shapes with odd sizes, size-1 dims, broadcasting and strided views.
#include <string.h>

#include "../check.h"
#include "gradcheck.h"
#include "ops.h"

// Input value ranges: some ops need positive inputs or inputs away from a kink.
typedef enum { ANY, POSITIVE, AWAY_FROM_ZERO } domain;

typedef struct grad_case {
    const char *name;
    gradcheck_fn fn;
    int n_in;
    int ndim[3];
    int64_t shape[3][4];
    domain dom;
} grad_case;

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
    {"add broadcast", case_add, 2, {3, 2}, {{2, 3, 5}, {3, 1}}, ANY},
    {"sub broadcast", case_sub, 2, {1, 3}, {{5}, {2, 1, 5}}, ANY},
    {"mul broadcast", case_mul, 2, {2, 2}, {{1, 7}, {3, 1}}, ANY},
    {"div broadcast", case_div, 2, {2, 1}, {{3, 4}, {4}}, AWAY_FROM_ZERO},
    {"mul transposed", case_mul_transposed, 2, {2, 1}, {{5, 3}, {5}}, ANY},
    {"scale", case_scale, 1, {2}, {{3, 3}}, ANY},
    {"exp", case_exp, 1, {2}, {{3, 5}}, ANY},
    {"log", case_log, 1, {2}, {{3, 5}}, POSITIVE},
    {"sqrt", case_sqrt, 1, {1}, {{7}}, POSITIVE},
    {"rsqrt", case_rsqrt, 1, {1}, {{7}}, POSITIVE},
    {"tanh", case_tanh, 1, {3}, {{1, 3, 5}}, ANY},
    {"sigmoid", case_sigmoid, 1, {2}, {{4, 5}}, ANY},
    {"relu", case_relu, 1, {2}, {{4, 5}}, AWAY_FROM_ZERO},
    {"gelu", case_gelu, 1, {2}, {{4, 5}}, ANY},
    {"sum axes 0,2", case_sum_axes, 1, {3}, {{2, 3, 5}}, ANY},
    {"sum all keepdim", case_sum_all, 1, {3}, {{2, 1, 5}}, ANY},
    {"mean last axis", case_mean_last, 1, {3}, {{2, 3, 7}}, ANY},
    {"max axis 1", case_max, 1, {3}, {{2, 5, 3}}, ANY},
    {"sum_to", case_sum_to, 1, {3}, {{2, 3, 5}}, ANY},
    {"reshape", case_reshape, 1, {2}, {{3, 10}}, ANY},
    {"permute", case_permute, 1, {3}, {{2, 3, 5}}, ANY},
    {"slice (overlapping)", case_slice, 1, {2}, {{2, 7}}, ANY},
    {"expand", case_expand, 1, {2}, {{3, 1}}, ANY},
    {"reshape of transpose", case_reshape_of_view, 1, {2}, {{3, 4}}, ANY},
};

int main(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 1});
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const grad_case *gc = &cases[c];
        useg_tensor *in[3];
        for (int k = 0; k < gc->n_in; k++) {
            CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F64, gc->ndim[k], gc->shape[k], 0.0, 1.0, &in[k]));
            for (int64_t i = 0; i < useg_numel(in[k]); i++) {
                double v = useg_get_flat(in[k], i);
                if (gc->dom == POSITIVE) v = 0.2 + v * v;
                if (gc->dom == AWAY_FROM_ZERO) v = v < 0 ? v - 0.2 : v + 0.2;
                useg_set_flat(in[k], i, v);
            }
            CHECK_OK(&ctx, useg_requires_grad(&ctx, in[k]));
        }
        CHECK(gradcheck(&ctx, gc->name, gc->fn, in, gc->n_in), "%s", gc->name);
    }
    // The op table names every op and gives it a backward.
    for (int op = 0; op < USEG_OP_COUNT; op++)
        CHECK(useg_op_table[op].name && useg_op_table[op].backward, "op %d has no table entry", op);
    useg_ctx_free(&ctx);
    return check_report("gradcheck");
}
