// Case functions for the interpolation tests (gradcheck and PyTorch parity):
// each defines `static useg_status case_NAME(ctx, in, out)` over in[0].
#pragma once

#include "ops.h"

// Resize to (h, w).
#define INTERP_SIZED(name, mode, h, w)                                                           \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_interpolate(ctx, in[0], h, w, mode, out);                                    \
    }
// Resize by scale factors (sh, sw).
#define INTERP_SCALED(name, mode, sh, sw)                                                        \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        return useg_interpolate_scaled(ctx, in[0], sh, sw, mode, out);                           \
    }
// A (B, H, W, C) input viewed as (B, C, H, W) (non-contiguous), resized to (h, w).
#define INTERP_PERMUTED(name, mode, h, w)                                                        \
    static useg_status case_##name(useg_ctx *ctx, useg_tensor **in, useg_tensor **out) {        \
        const int to_nchw[4] = {0, 3, 1, 2};                                                     \
        useg_tensor *t;                                                                          \
        USEG_TRY(useg_permute(ctx, in[0], to_nchw, &t));                                         \
        return useg_interpolate(ctx, t, h, w, mode, out);                                        \
    }
