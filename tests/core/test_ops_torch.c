// Forward and backward of every op against PyTorch, in f32.
//
// Run through torch_ops.py, which writes the references for each case into a
// folder and passes it here. Error measure: max |ours - torch| over a tensor
// divided by max |torch| over it (normwise relative error), <= 1e-5.
#include <math.h>
#include <stdio.h>

#include "../check.h"
#include "npy.h"
#include "ops.h"

typedef useg_status (*case_fn)(useg_ctx *ctx, useg_tensor **in, useg_tensor **out);

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

static const struct {
    const char *name;
    case_fn fn;
    int n_in;
} cases[] = {
#define CASE(name, n) {#name, case_##name, n}
    CASE(add_broadcast, 2), CASE(sub_broadcast, 2), CASE(mul_transposed, 2), CASE(div_broadcast, 2),
    CASE(scale, 1),         CASE(exp, 1),           CASE(log_sliced, 1),     CASE(sqrt, 1),
    CASE(rsqrt, 1),         CASE(tanh, 1),          CASE(sigmoid, 1),        CASE(relu_permuted, 1),
    CASE(gelu, 1),          CASE(sum_axes02, 1),    CASE(sum_all, 1),        CASE(mean_last_keepdim, 1),
    CASE(max_axis1, 1),     CASE(expand_mul, 1),    CASE(reshape_transposed, 1),
#undef CASE
};

static double rel_error(const useg_tensor *ours, const useg_tensor *ref) {
    double diff = 0, scale = 0;
    for (int64_t i = 0; i < useg_numel(ref); i++) {
        double r = useg_get_flat(ref, i);
        diff = fmax(diff, fabs(useg_get_flat(ours, i) - r));
        scale = fmax(scale, fabs(r));
    }
    return scale > 0 ? diff / scale : diff;
}

static void compare(const char *what, const char *name, const useg_tensor *ours, const useg_tensor *ref) {
    CHECK(ours && useg_same_shape(ours, ref), "%s %s: shape differs from torch", name, what);
    if (!ours || !useg_same_shape(ours, ref)) return;
    double e = rel_error(ours, ref);
    CHECK(e <= 1e-5, "%s %s: relative error %.3g", name, what, e);
    printf("%-22s %-5s rel. error %.2e\n", name, what, e);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s REFERENCE_DIR (run through torch_ops.py)\n", argv[0]);
        return 2;
    }
    useg_ctx ctx;
    useg_ctx_init(&ctx, NULL);
    char path[4096];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *name = cases[c].name;
        useg_tensor *in[4], *ref_out, *dout, *out = NULL;
        bool loaded = true;
        for (int k = 0; k < cases[c].n_in && loaded; k++) {
            snprintf(path, sizeof path, "%s/%s.in%d.npy", argv[1], name, k);
            loaded = useg_npy_read(&ctx, path, &ctx.params, &in[k]) == USEG_OK &&
                     useg_requires_grad(&ctx, in[k]) == USEG_OK;
        }
        snprintf(path, sizeof path, "%s/%s.out.npy", argv[1], name);
        loaded = loaded && useg_npy_read(&ctx, path, NULL, &ref_out) == USEG_OK;
        snprintf(path, sizeof path, "%s/%s.dout.npy", argv[1], name);
        loaded = loaded && useg_npy_read(&ctx, path, NULL, &dout) == USEG_OK;
        CHECK(loaded, "%s: cannot load references: %s", name, ctx.message);
        if (!loaded) {
            useg_clear_error(&ctx);
            continue;
        }
        // Backward of sum(out * dout) gives the vector-Jacobian product torch computed.
        useg_tensor *p, *loss;
        CHECK_OK(&ctx, cases[c].fn(&ctx, in, &out));
        if (!out) continue;
        compare("out", name, out, ref_out);
        CHECK_OK(&ctx, useg_mul(&ctx, out, dout, &p));
        CHECK_OK(&ctx, useg_sum(&ctx, p, 0, false, &loss));
        CHECK_OK(&ctx, useg_backward(&ctx, loss));
        for (int k = 0; k < cases[c].n_in; k++) {
            useg_tensor *ref_din;
            snprintf(path, sizeof path, "%s/%s.din%d.npy", argv[1], name, k);
            CHECK_OK(&ctx, useg_npy_read(&ctx, path, NULL, &ref_din));
            char what[16];
            snprintf(what, sizeof what, "din%d", k);
            compare(what, name, in[k]->grad, ref_din);
        }
        useg_step_end(&ctx);
    }
    useg_ctx_free(&ctx);
    return check_report("ops vs torch");
}
