// Bilinear and bicubic interpolation against PyTorch (torch_interp.py).
#include "interp_cases.h"
#include "torch_parity.h"

#define MODE_CASES(m, MODE)                                                                      \
    INTERP_SIZED(m##_up, MODE, 11, 13)                                                           \
    INTERP_SIZED(m##_down, MODE, 13, 11)                                                         \
    INTERP_SIZED(m##_mixed, MODE, 3, 17)                                                         \
    INTERP_SIZED(m##_big, MODE, 100, 71)                                                         \
    INTERP_SIZED(m##_size1_in, MODE, 3, 9)                                                       \
    INTERP_SIZED(m##_size1_out, MODE, 1, 1)                                                      \
    INTERP_PERMUTED(m##_permuted, MODE, 6, 4)                                                    \
    INTERP_SCALED(m##_scaled_same_size, MODE, 1.05, 0.5)                                         \
    INTERP_SCALED(m##_scaled, MODE, 2.6, 1.7)
MODE_CASES(bilinear, USEG_INTERP_BILINEAR)
MODE_CASES(bicubic, USEG_INTERP_BICUBIC)

// DINO's position-embedding interpolation (see torch_interp.py).
static useg_status case_bicubic_dino_pos_embed(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {
    const int to_nchw[4] = {0, 3, 1, 2};
    useg_tensor *t;
    USEG_TRY(useg_permute(ctx, in[0], to_nchw, &t));
    return useg_interpolate_scaled(ctx, t, 37.1 / 14, 23.1 / 14, USEG_INTERP_BICUBIC, out);
}

static const parity_case cases[] = {
#define CASE(name) {#name, case_##name, 1}
#define MODE_TABLE(m)                                                                            \
    CASE(m##_up), CASE(m##_down), CASE(m##_mixed), CASE(m##_big), CASE(m##_size1_in),            \
        CASE(m##_size1_out), CASE(m##_permuted), CASE(m##_scaled_same_size), CASE(m##_scaled)
    MODE_TABLE(bilinear),
    MODE_TABLE(bicubic),
    CASE(bicubic_dino_pos_embed),
#undef MODE_TABLE
#undef CASE
};

int main(int argc, char **argv) {
    return torch_parity_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), "interpolation vs torch");
}
