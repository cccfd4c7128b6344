// Fused attention against PyTorch's explicit softmax(q k^T * scale) v
// (torch_attention.py): forward and the gradients of q, k and v.
#include "ops.h"
#include "torch_parity.h"

#define ATTENTION_CASE(name, scale)                                                                \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {          \
        return useg_attention(ctx, in[0], in[1], in[2], scale, out);                               \
    }
ATTENTION_CASE(small, 0.35355339059327373) // 8^-1/2
ATTENTION_CASE(one_token, 0.5)
ATTENTION_CASE(head_dim_1, 1.0)
ATTENTION_CASE(many_tiles, 0.125)
ATTENTION_CASE(one_query_many_keys, 0.125)
ATTENTION_CASE(sharp, 0.5)
ATTENTION_CASE(huge_scores, 10.0)

// (B, N, H, D) -> (B, H, N, D) views, not copied before the op.
static useg_status case_vit_permuted(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int perm[4] = {0, 2, 1, 3};
    useg_tensor *t[3];
    for (int i = 0; i < 3; i++) USEG_TRY(useg_permute(ctx, in[i], perm, &t[i]));
    return useg_attention(ctx, t[0], t[1], t[2], 0.25, out);
}

static const parity_case cases[] = {
#define CASE(name) {#name, case_##name, 3}
    CASE(small), CASE(one_token), CASE(head_dim_1), CASE(many_tiles), CASE(one_query_many_keys), CASE(sharp),
    CASE(huge_scores), CASE(vit_permuted),
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), "attention vs torch");
}
