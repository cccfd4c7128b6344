// concat, split, gather and index_select against PyTorch (torch_index.py).
#include "ops.h"
#include "torch_parity.h"

static useg_status case_concat3_axis1(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_concat(ctx, in, 3, 1, out);
}
static useg_status case_concat6_mixed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *ct;
    USEG_TRY(useg_transpose(ctx, in[2], 0, 1, &ct));
    useg_tensor *xs[6] = {in[0], in[1], ct, in[0], in[3], in[1]};
    return useg_concat(ctx, xs, 6, 0, out);
}
static useg_status case_concat_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_concat(ctx, in, 2, -1, out);
}
static useg_status case_split_mix(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int64_t sizes[4] = {4, 0, 5, 2};
    useg_tensor *p[4], *sq;
    USEG_TRY(useg_split(ctx, in[0], 1, sizes, 4, p));
    USEG_TRY(useg_mul(ctx, p[0], p[0], &sq));
    useg_tensor *xs[4] = {p[3], sq, p[2], p[1]};
    return useg_concat(ctx, xs, 4, 1, out);
}
static useg_status case_gather_axis0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_gather(ctx, in[0], 0, in[1], out);
}
static useg_status case_gather_mid_transposed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    useg_tensor *t;
    USEG_TRY(useg_transpose(ctx, in[0], 1, 2, &t));
    return useg_gather(ctx, t, 1, in[1], out);
}
static useg_status case_gather_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_gather(ctx, in[0], -1, in[1], out);
}
static useg_status case_gather_big_last(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_gather(ctx, in[0], 1, in[1], out);
}
static useg_status case_gather_big_axis0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_gather(ctx, in[0], 0, in[1], out);
}
static useg_status case_index_select0(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_index_select(ctx, in[0], 0, in[1], out);
}
static useg_status case_index_select_mid_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[3] = {2, 0, 1};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], perm, &t));
    return useg_index_select(ctx, t, 1, in[1], out);
}
static useg_status case_index_select_last_size1(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_index_select(ctx, in[0], 2, in[1], out);
}
static useg_status case_index_select_big(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    return useg_index_select(ctx, in[0], 1, in[1], out);
}

static const parity_case cases[] = {
#define CASE(name, n) {#name, case_##name, n}
    CASE(concat3_axis1, 3),   CASE(concat6_mixed, 4),       CASE(concat_last, 2),
    CASE(split_mix, 1),       CASE(gather_axis0, 2),        CASE(gather_mid_transposed, 2),
    CASE(gather_last, 2),     CASE(gather_big_last, 2),     CASE(gather_big_axis0, 2),
    CASE(index_select0, 2),   CASE(index_select_mid_permuted, 2), CASE(index_select_last_size1, 2),
    CASE(index_select_big, 2),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), "indexing vs torch");
}
