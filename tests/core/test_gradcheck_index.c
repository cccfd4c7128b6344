// Finite-difference gradient checks (f64) for concat, split, gather and
// index_select, and their argument checks. Index tensors are built inside the
// case functions with repeated entries, so the backward's accumulation is
// exercised; inputs are also viewed through transposes and slices.
#include <string.h>

#include "../check.h"
#include "gradcheck.h"
#include "ops.h"
#include "thread_invariance.h"

// An i64 tensor of `shape` holding `values` (row-major), in ctx->step.
static useg_status make_index(useg_ctx *ctx, int ndim, const int64_t *shape, const int64_t *values,
                              useg_tensor **out) {
    USEG_TRY(useg_empty(ctx, NULL, USEG_I64, ndim, shape, out));
    for (int64_t i = 0; i < useg_numel(*out); i++) useg_set_flat(*out, i, (double)values[i]);
    return USEG_OK;
}

// --- concat / split -----------------------------------------------------------------

static useg_status case_concat3(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_concat(ctx, in, 3, 1, out);
}
// Six inputs (two tape nodes), repeated inputs, a transposed and an empty one.
static useg_status case_concat6(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t, *empty;
    USEG_TRY(useg_transpose(ctx, in[2], 0, 1, &t));
    USEG_TRY(useg_slice(ctx, in[0], 0, 0, 0, 1, &empty));
    useg_tensor *xs[6] = {in[0], in[1], t, empty, in[0], in[1]};
    return useg_concat(ctx, xs, 6, -2, out);
}
static useg_status case_split(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t sizes[4] = {2, 0, 3, 2};
    useg_tensor *p[4], *sq;
    USEG_TRY(useg_split(ctx, in[0], 1, sizes, 4, p));
    USEG_TRY(useg_mul(ctx, p[0], p[3], &sq));
    useg_tensor *xs[3] = {p[2], sq, p[1]};
    return useg_concat(ctx, xs, 3, 1, out);
}

// --- gather / index_select ------------------------------------------------------------

// x (5, 3): index (4, 2) along axis 0 (smaller than x outside the axis).
static useg_status case_gather0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[2] = {4, 2}, v[8] = {4, 0, 4, 4, 1, 0, 4, 2};
    useg_tensor *idx;
    USEG_TRY(make_index(ctx, 2, shape, v, &idx));
    return useg_gather(ctx, in[0], 0, idx, out);
}
// x (2, 3, 5) transposed to (2, 5, 3), gathered along the middle axis.
static useg_status case_gather_mid(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[3] = {2, 7, 3};
    const int64_t v[42] = {0, 4, 4, 1, 1, 1, 3, 2, 0, 4, 4, 4, 0, 0, 2, 3, 1, 2, 2, 2, 2,
                           4, 3, 2, 1, 0, 0, 0, 1, 1, 3, 3, 3, 4, 0, 4, 2, 2, 1, 1, 1, 1};
    useg_tensor *idx, *t;
    USEG_TRY(make_index(ctx, 3, shape, v, &idx));
    USEG_TRY(useg_transpose(ctx, in[0], 1, 2, &t));
    return useg_gather(ctx, t, 1, idx, out);
}
// Along the last axis of (3, 4) sliced to (3, 2), through a transposed index.
static useg_status case_gather_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[2] = {5, 3}, v[15] = {1, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0};
    useg_tensor *idx, *it, *x;
    USEG_TRY(make_index(ctx, 2, shape, v, &idx));
    USEG_TRY(useg_transpose(ctx, idx, 0, 1, &it));
    USEG_TRY(useg_slice(ctx, in[0], 1, 1, 4, 2, &x));
    return useg_gather(ctx, x, -1, it, out);
}
static useg_status case_index_select0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[1] = {6}, v[6] = {2, 0, 2, 3, 2, 0};
    useg_tensor *idx;
    USEG_TRY(make_index(ctx, 1, shape, v, &idx));
    return useg_index_select(ctx, in[0], 0, idx, out);
}
// Along the middle axis of a permuted x, with a strided (non-contiguous) index.
static useg_status case_index_select_mid(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[1] = {10}, v[10] = {4, 9, 0, 9, 4, 9, 1, 9, 4, 9};
    const int perm[3] = {2, 0, 1};
    useg_tensor *idx, *strided, *x;
    USEG_TRY(make_index(ctx, 1, shape, v, &idx));
    USEG_TRY(useg_slice(ctx, idx, 0, 0, 10, 2, &strided)); // {4, 0, 4, 4, 4}
    USEG_TRY(useg_permute(ctx, in[0], perm, &x));           // (5, 2, 3)
    USEG_TRY(useg_transpose(ctx, x, 0, 1, &x));              // (2, 5, 3)
    return useg_index_select(ctx, x, 1, strided, out);
}
static useg_status case_index_select_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t shape[1] = {4}, v[4] = {0, 0, 0, 0};
    useg_tensor *idx;
    USEG_TRY(make_index(ctx, 1, shape, v, &idx));
    return useg_index_select(ctx, in[0], 2, idx, out);
}

static const grad_case cases[] = {
    {"concat 3 along axis 1", case_concat3, 3, {3, 3, 3}, {{2, 3, 5}, {2, 1, 5}, {2, 4, 5}}, GRAD_ANY},
    {"concat 6 (2 nodes, repeats)", case_concat6, 3, {2, 2, 2}, {{2, 3}, {1, 3}, {3, 3}}, GRAD_ANY},
    {"split 2,0,3,2", case_split, 1, {2}, {{3, 7}}, GRAD_ANY},
    {"gather axis 0", case_gather0, 1, {2}, {{5, 3}}, GRAD_ANY},
    {"gather mid (transposed x)", case_gather_mid, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"gather last (sliced x)", case_gather_last, 1, {2}, {{3, 4}}, GRAD_ANY},
    {"index_select axis 0", case_index_select0, 1, {2}, {{4, 3}}, GRAD_ANY},
    {"index_select mid (permuted)", case_index_select_mid, 1, {3}, {{2, 3, 5}}, GRAD_ANY},
    {"index_select last, size 1", case_index_select_last, 1, {3}, {{2, 3, 1}}, GRAD_ANY},
};

// Big gathers for the threaded scatter-add: along axis 0 (threads take column
// blocks) and along the last axis (threads take rows); indices repeat.
static useg_status big_index(useg_ctx *ctx, int64_t rows, int64_t cols, int64_t range, useg_tensor **out) {
    const int64_t shape[2] = {rows, cols};
    USEG_TRY(useg_empty(ctx, NULL, USEG_I64, 2, shape, out));
    int64_t *v = (*out)->data;
    for (int64_t i = 0; i < rows * cols; i++) v[i] = i * 7919 % range;
    return USEG_OK;
}
static useg_status case_big_gather0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *idx;
    USEG_TRY(big_index(ctx, 500, 257, 300, &idx));
    return useg_gather(ctx, in[0], 0, idx, out);
}
static useg_status case_big_gather_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *idx;
    USEG_TRY(big_index(ctx, 64, 1000, 600, &idx));
    return useg_gather(ctx, in[0], 1, idx, out);
}

static void check_threads(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, &(useg_ctx_options){.seed = 2});
    const int64_t s0[2] = {300, 257}, s1[2] = {64, 600};
    useg_tensor *x0, *x1;
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F32, 2, s0, 0.0, 1.0, &x0));
    CHECK_OK(&ctx, useg_rand_normal(&ctx, &ctx.params, USEG_F32, 2, s1, 0.0, 1.0, &x1));
    CHECK_OK(&ctx, useg_requires_grad(&ctx, x0));
    CHECK_OK(&ctx, useg_requires_grad(&ctx, x1));
    check_thread_invariance(&ctx, "gather axis 0", case_big_gather0, x0);
    check_thread_invariance(&ctx, "gather last axis", case_big_gather_last, x1);
    useg_ctx_free(&ctx);
}

// Bad arguments return a status with a message, never touch memory out of range.
static void check_bad_inputs(void) {
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    const int64_t s23[2] = {2, 3}, s24[2] = {2, 4}, s3[1] = {3}, s22[2] = {2, 2}, s33[2] = {3, 3};
    useg_tensor *x, *y, *z, *f, *out, *pieces[3];
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, s23, &x));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 2, s24, &y));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F64, 2, s23, &f));
    // concat: mismatched sizes, dtypes, ranks, axis; no inputs.
    useg_tensor *xy[2] = {x, y}, *xf[2] = {x, f};
    CHECK_FAILS(&ctx, useg_concat(&ctx, xy, 2, 0, &out), USEG_ERR_SHAPE);
    CHECK_OK(&ctx, useg_concat(&ctx, xy, 2, 1, &out));
    CHECK(out->shape[0] == 2 && out->shape[1] == 7, "concat shape");
    CHECK_FAILS(&ctx, useg_concat(&ctx, xf, 2, 1, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_concat(&ctx, xy, 2, 2, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_concat(&ctx, xy, 0, 0, &out), USEG_ERR_INVALID_ARG);
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_F32, 1, s3, &z));
    useg_tensor *xz[2] = {x, z};
    CHECK_FAILS(&ctx, useg_concat(&ctx, xz, 2, 1, &out), USEG_ERR_SHAPE);
    // split: sizes that do not sum to the axis, negative sizes.
    const int64_t bad_sum[2] = {1, 1}, negative[3] = {4, -1, 0}, good[3] = {1, 0, 2};
    CHECK_FAILS(&ctx, useg_split(&ctx, x, 1, bad_sum, 2, pieces), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_split(&ctx, x, 1, negative, 3, pieces), USEG_ERR_SHAPE);
    CHECK_OK(&ctx, useg_split(&ctx, x, -1, good, 3, pieces));
    CHECK(pieces[1]->shape[1] == 0 && pieces[2]->shape[1] == 2, "split shapes");
    // gather / index_select: out-of-range and negative indices, wrong dtype, shapes.
    useg_tensor *idx, *idx32, *idx_big;
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 2, s22, &idx));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I32, 2, s22, &idx32));
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 2, s33, &idx_big));
    CHECK_OK(&ctx, useg_gather(&ctx, x, 1, idx, &out));
    useg_set_flat(idx, 3, 3.0);
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 1, idx, &out), USEG_ERR_SHAPE);
    useg_status st = useg_gather(&ctx, x, 1, idx, &out);
    CHECK(st == USEG_ERR_SHAPE && strstr(ctx.message, "index 3 out of range"), "message: %s", ctx.message);
    useg_clear_error(&ctx);
    useg_set_flat(idx, 3, -1.0);
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 1, idx, &out), USEG_ERR_SHAPE);
    useg_set_flat(idx, 3, 2.0);
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 0, idx, &out), USEG_ERR_SHAPE); // 2 is outside axis 0 of size 2
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 1, idx32, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 1, idx_big, &out), USEG_ERR_SHAPE); // 3 rows > x's 2
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 1, z, &out), USEG_ERR_SHAPE);
    CHECK_FAILS(&ctx, useg_gather(&ctx, x, 2, idx, &out), USEG_ERR_SHAPE);
    useg_tensor *sel;
    const int64_t s4[1] = {4};
    CHECK_OK(&ctx, useg_zeros(&ctx, NULL, USEG_I64, 1, s4, &sel));
    CHECK_OK(&ctx, useg_index_select(&ctx, x, 1, sel, &out));
    CHECK(out->shape[0] == 2 && out->shape[1] == 4, "index_select shape");
    useg_set_flat(sel, 2, 7.0);
    st = useg_index_select(&ctx, x, 1, sel, &out);
    CHECK(st == USEG_ERR_SHAPE && strstr(ctx.message, "index 7 out of range"), "message: %s", ctx.message);
    useg_clear_error(&ctx);
    CHECK_FAILS(&ctx, useg_index_select(&ctx, x, 1, idx, &out), USEG_ERR_SHAPE);  // 2-D index
    CHECK_FAILS(&ctx, useg_index_select(&ctx, x, 1, z, &out), USEG_ERR_SHAPE);    // f32 index
    CHECK_FAILS(&ctx, useg_index_select(&ctx, x, -3, sel, &out), USEG_ERR_SHAPE); // axis
    useg_ctx_free(&ctx);
}

int main(void) {
    check_bad_inputs();
    check_threads();
    return gradcheck_run(cases, (int)(sizeof cases / sizeof cases[0]), "gradcheck: indexing");
}
